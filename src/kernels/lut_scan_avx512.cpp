// AVX-512 VBMI Blocked8 filter: the shared loop of lut_filter_simd.h with byte permutes over a
// 256-entry table as lookups. lut_scan.cpp calls it only when simd_level() allows AVX-512.
#include "kernels/lut_scan.h"

#include <immintrin.h>

#include <algorithm>

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

// blocked8_slot(j) for j = 0..63, as the byte index vector of a permute.
alignas(64) constexpr uint8_t kSlots[64] = {
    0,  2,  4,  6,  8,  10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42,
    44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23,
    25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};

}  // namespace

// Survivor k of the block sits in lane k % 16 of group k / 16. Per book, one byte permute
// picks every survivor's code out of the book's 64 code bytes, and one gather per group fetches
// the table entries; each lane adds in the reference order (bias, books, norm), so the sums
// are the scalar ones bit for bit.
size_t lut8_rescore(const LutScanArgs& a, const uint8_t* block, uint64_t mask, float* scores,
                    uint8_t* slots) {
  size_t count = 0;
  for (uint64_t m = mask; m != 0; m &= m - 1) slots[count++] = static_cast<uint8_t>(__builtin_ctzll(m));
  if (count == 0) return 0;
  alignas(64) uint8_t js[64] = {};  // padding lanes score vector 0: in bounds, then dropped
  for (size_t k = 0; k < count; ++k) js[k] = slots[k];
  const __m512i j_bytes = _mm512_load_si512(js);
  const __m512i slot_bytes = _mm512_permutexvar_epi8(j_bytes, _mm512_load_si512(kSlots));
  const size_t groups = (count + 15) / 16;
  __m512 acc[4];
  for (size_t g = 0; g < groups; ++g) acc[g] = _mm512_set1_ps(a.bias);
  for (size_t m = 0; m < a.books; ++m) {
    const __m512i codes = _mm512_permutexvar_epi8(slot_bytes, _mm512_loadu_si512(block + m * kBlock8));
    const __m512i offset = _mm512_set1_epi32(static_cast<int>(a.offsets[m]));
    alignas(64) uint8_t c[64];
    _mm512_store_si512(c, codes);
    for (size_t g = 0; g < groups; ++g) {
      const __m512i idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(c + 16 * g))), offset);
      acc[g] = _mm512_add_ps(acc[g], _mm512_i32gather_ps(idx, a.values, 4));
    }
  }
  for (size_t g = 0; g < groups; ++g) {
    if (a.norms) {
      const __m512i j = _mm512_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(js + 16 * g)));
      acc[g] = _mm512_add_ps(acc[g], _mm512_i32gather_ps(j, a.norms, 4));
    }
    const size_t lanes = std::min<size_t>(16, count - 16 * g);
    _mm512_mask_storeu_ps(scores + 16 * g, static_cast<__mmask16>((1u << lanes) - 1), acc[g]);
  }
  return count;
}

void lut8_filter(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint64_t* masks) {
  filter_blocks<Avx512Blocked8>(a, blocks, nblocks, thresholds, masks);
}

}  // namespace vq::kernels::avx512
VQ_ISA_END
#endif
