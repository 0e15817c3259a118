// AVX-512 VBMI Blocked8 filter: the shared loop of lut_filter_simd.h with byte permutes over a
// 256-entry table as lookups. lut_scan.cpp calls it only when simd_level() allows AVX-512.
#include "kernels/lut_scan.h"

#include <immintrin.h>

#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX512_BEGIN
namespace vq::kernels::avx512 {

#include "kernels/lut_filter_simd.inc"

namespace {

// One step per book, for all 64 vectors of a block. The layout's slot order makes the even
// words vectors 0..31 and the odd words vectors 32..63. The book's four table registers are
// reloaded for every block: keeping them for several blocks measured slower (Zen 4), the
// permutes rather than the loads bound it.
struct Avx512Blocked8 {
  using Layout = Blocked8;
  using Vec = __m512i;
  static constexpr size_t kLookups = 1;
  static size_t steps(size_t books) { return books; }

  static void lookup(const uint8_t* qtable, const uint8_t* block, size_t m, Vec* r) {
    const __m512i c = _mm512_loadu_si512(block + m * kBlock8);
    const uint8_t* t = qtable + m * 256;
    // vpermi2b indexes 128 bytes with the low 7 bits; bit 7 picks the upper half's result.
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c, _mm512_loadu_si512(t + 64));
    const __m512i hi =
        _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 128), c, _mm512_loadu_si512(t + 192));
    r[0] = _mm512_mask_blend_epi8(_mm512_movepi8_mask(c), lo, hi);
  }

  static uint64_t mask(const Vec* even, const Vec* odd, uint16_t threshold) {
    const __m512i thr = _mm512_set1_epi16(static_cast<short>(threshold));
    return uint64_t{_mm512_cmple_epu16_mask(even[0], thr)} |
           uint64_t{_mm512_cmple_epu16_mask(odd[0], thr)} << 32;
  }
};

}  // namespace

void lut8_filter(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint64_t* masks) {
  filter_blocks<Avx512Blocked8>(a, blocks, nblocks, thresholds, masks);
}

}  // namespace vq::kernels::avx512
VQ_ISA_END
#endif
