// AVX2 4-bit LUT filter. Only this translation unit uses AVX2 intrinsics; the functions carry
// a target attribute so the rest of the library keeps the baseline flags, and lut_scan.cpp
// calls them only after checking the CPU (scan_level()).
#include "kernels/lut_scan.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace vq::kernels::detail {

namespace {

// Sum of the two 128-bit lanes as uint16 (lane 0 holds even books, lane 1 odd books).
__attribute__((target("avx2"))) inline __m128i lane_sum(__m256i v) {
  return _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

// 16 vectors' uint16 sums (split into even and odd vectors) -> 16-bit mask of sum <= thr.
__attribute__((target("avx2"))) inline uint32_t le_mask(__m128i even, __m128i odd, __m128i thr) {
  const __m128i v0 = _mm_unpacklo_epi16(even, odd);  // vectors 0..7 in order
  const __m128i v1 = _mm_unpackhi_epi16(even, odd);  // vectors 8..15
  const __m128i le0 = _mm_cmpeq_epi16(_mm_min_epu16(v0, thr), v0);
  const __m128i le1 = _mm_cmpeq_epi16(_mm_min_epu16(v1, thr), v1);
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(le0, le1)));
}

}  // namespace

__attribute__((target("avx2"))) void lut4_filter_avx2(const Lut4Args& a, const uint8_t* blocks,
                                                      size_t nblocks, const uint16_t* thresholds,
                                                      uint32_t* masks) {
  const size_t pairs = a.books_padded / 2;
  const size_t block_bytes = a.books_padded * 16;
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * block_bytes;
    // Byte results are accumulated as uint16 without unpacking (the FAISS fast-scan trick):
    // acc_even += r as 16-bit words (= even byte + 256 · odd byte, mod 2^16) and
    // acc_odd += r >> 8; the even bytes' sum is recovered as acc_even − 256 · acc_odd.
    __m256i lo_even = _mm256_setzero_si256(), lo_odd = _mm256_setzero_si256();
    __m256i hi_even = _mm256_setzero_si256(), hi_odd = _mm256_setzero_si256();
    for (size_t p = 0; p < pairs; ++p) {
      // Lane 0: book 2p, lane 1: book 2p + 1 (codes and tables alike).
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + p * 32));
      const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qtable + p * 32));
      const __m256i r_lo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, low4));
      const __m256i r_hi = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), low4));
      lo_even = _mm256_add_epi16(lo_even, r_lo);
      lo_odd = _mm256_add_epi16(lo_odd, _mm256_srli_epi16(r_lo, 8));
      hi_even = _mm256_add_epi16(hi_even, r_hi);
      hi_odd = _mm256_add_epi16(hi_odd, _mm256_srli_epi16(r_hi, 8));
    }
    lo_even = _mm256_sub_epi16(lo_even, _mm256_slli_epi16(lo_odd, 8));
    hi_even = _mm256_sub_epi16(hi_even, _mm256_slli_epi16(hi_odd, 8));
    const __m128i thr = _mm_set1_epi16(static_cast<short>(thresholds[b]));
    masks[b] = le_mask(lane_sum(lo_even), lane_sum(lo_odd), thr) |
               le_mask(lane_sum(hi_even), lane_sum(hi_odd), thr) << 16;
  }
}

}  // namespace vq::kernels::detail

#else

namespace vq::kernels::detail {
void lut4_filter_avx2(const Lut4Args& a, const uint8_t* blocks, size_t nblocks,
                      const uint16_t* thresholds, uint32_t* masks) {
  lut4_filter_ref(a, blocks, nblocks, thresholds, masks);
}
}  // namespace vq::kernels::detail

#endif
