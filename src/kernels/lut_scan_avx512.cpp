// AVX-512 VBMI 8-bit LUT filter. Only this translation unit uses AVX-512 intrinsics; the
// function carries a target attribute so the rest of the library keeps the baseline flags,
// and lut_scan.cpp calls it only after checking the CPU (scan_level()).
#include "kernels/lut_scan.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace vq::kernels::detail {

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void lut8_filter_avx512(
    const Lut8Args& a, const uint8_t* blocks, size_t nblocks, const uint16_t* thresholds,
    uint64_t* masks) {
  // One block at a time, the book's four table registers reloaded for every block: keeping
  // them for several blocks measured slower (Zen 4), the permutes rather than loads bound it.
  const size_t block_bytes = blocked8_block_bytes(a.books);
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * block_bytes;
    // Same uint16 accumulation as the 4-bit AVX2 filter: even += r as words (= even byte +
    // 256 · odd byte, mod 2^16), odd += r >> 8, and even − 256 · odd recovers the even bytes'
    // sum. The slot order of the layout makes even words vectors 0..31 and odd words 32..63.
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (size_t m = 0; m < a.books; ++m) {
      const __m512i c = _mm512_loadu_si512(block + m * kBlock8);
      const uint8_t* t = a.qtable + m * 256;
      // vpermi2b indexes 128 bytes with the low 7 bits; bit 7 picks the upper half's result.
      const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c,
                                                  _mm512_loadu_si512(t + 64));
      const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 128), c,
                                                  _mm512_loadu_si512(t + 192));
      const __m512i r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(c), lo, hi);
      even = _mm512_add_epi16(even, r);
      odd = _mm512_add_epi16(odd, _mm512_srli_epi16(r, 8));
    }
    even = _mm512_sub_epi16(even, _mm512_slli_epi16(odd, 8));
    const __m512i thr = _mm512_set1_epi16(static_cast<short>(thresholds[b]));
    masks[b] = uint64_t{_mm512_cmple_epu16_mask(even, thr)} |
               uint64_t{_mm512_cmple_epu16_mask(odd, thr)} << 32;
  }
}

}  // namespace vq::kernels::detail

#else

namespace vq::kernels::detail {
void lut8_filter_avx512(const Lut8Args& a, const uint8_t* blocks, size_t nblocks,
                        const uint16_t* thresholds, uint64_t* masks) {
  lut8_filter_ref(a, blocks, nblocks, thresholds, masks);
}
}  // namespace vq::kernels::detail

#endif
