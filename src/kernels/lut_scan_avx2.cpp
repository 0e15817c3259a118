// AVX2 Packed4 filter: the shared loop of lut_filter_simd.inc with 32-byte shuffles as lookups.
// lut_scan.cpp calls it only when simd_level() allows AVX2.
#include "kernels/lut_scan.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX2_BEGIN
namespace vq::kernels::avx2 {

#include "kernels/lut_filter_simd.inc"

namespace {

// One step looks up books 2p (lane 0) and 2p + 1 (lane 1), codes and tables alike: r[0] for the
// low nibbles (vectors 0..15), r[1] for the high nibbles (vectors 16..31).
struct Avx2Packed4 {
  using Layout = Packed4;
  using Vec = __m256i;
  static constexpr size_t kLookups = 2;
  static size_t steps(size_t books) { return books / 2; }

  struct Codes {
    __m256i low, high;  // low / high nibbles of the step's 32 bytes
  };
  static Codes codes(const uint8_t* block, size_t /*books*/, size_t p) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * 32));
    return {_mm256_and_si256(c, low4), _mm256_and_si256(_mm256_srli_epi16(c, 4), low4)};
  }
  static void lookup(const uint8_t* qtable, size_t /*books*/, size_t p, const Codes& c, Vec* r) {
    const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qtable + p * 32));
    r[0] = _mm256_shuffle_epi8(t, c.low);
    r[1] = _mm256_shuffle_epi8(t, c.high);
  }

  static uint32_t mask(const Vec* even, const Vec* odd, uint16_t threshold) {
    const __m128i thr = _mm_set1_epi16(static_cast<short>(threshold));
    return le_mask(lane_sum(even[0]), lane_sum(odd[0]), thr) |
           le_mask(lane_sum(even[1]), lane_sum(odd[1]), thr) << 16;
  }

  static __m256i add_saturating(__m256i a, __m256i b) { return _mm256_adds_epu8(a, b); }
  // As mask(), on saturated byte sums: byte j of lane i of sums[0] is vector j's share of the
  // books of lane i, of sums[1] vector 16 + j's.
  static uint32_t mask_saturated(const Vec* sums, uint8_t threshold) {
    const __m128i thr = _mm_set1_epi8(static_cast<char>(threshold));
    return le_mask8(saturated_lane_sum(sums[0]), thr) | le_mask8(saturated_lane_sum(sums[1]), thr) << 16;
  }
  static __m128i saturated_lane_sum(Vec v) {
    return _mm_adds_epu8(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  }
  // 16 vectors' byte sums -> 16-bit mask of sum <= thr.
  static uint32_t le_mask8(__m128i sums, __m128i thr) {
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(sums, thr), sums)));
  }

  // Sum of the two 128-bit lanes (even books + odd books).
  static __m128i lane_sum(Vec v) {
    return _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  }
  // 16 vectors' sums, split into even and odd vectors -> 16-bit mask of sum <= thr.
  static uint32_t le_mask(__m128i even, __m128i odd, __m128i thr) {
    const __m128i v0 = _mm_unpacklo_epi16(even, odd);  // vectors 0..7 in order
    const __m128i v1 = _mm_unpackhi_epi16(even, odd);  // vectors 8..15
    const __m128i le0 = _mm_cmpeq_epi16(_mm_min_epu16(v0, thr), v0);
    const __m128i le1 = _mm_cmpeq_epi16(_mm_min_epu16(v1, thr), v1);
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(le0, le1)));
  }
};

}  // namespace

void lut4_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint32_t* masks) {
  filter_blocks<Avx2Packed4>(luts, nq, blocks, nblocks, thresholds, masks);
}

}  // namespace vq::kernels::avx2
VQ_ISA_END
#endif
