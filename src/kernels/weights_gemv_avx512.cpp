// AVX-512 lookup-table GEMV over 8-bit additive codes (weights_gemv.h): 16 tables per gather,
// and for batches one masked 16-lane load per pick.
#include "kernels/weights_gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace vq::kernels::detail {

__attribute__((target("avx512f"))) void aq_gemv_u8_avx512(const AqGemvArgs& a) {
  const size_t B = a.batch, K = a.entries, P = a.positions;
  if (B == 1) {
    const __m512i lane_base = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(int(K)));
    const __m512i step16 = _mm512_set1_epi32(int(16 * K));
    for (size_t r = 0; r < a.rows; ++r) {
      const uint8_t* c = a.codes + r * a.code_stride;
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
      __m512i base = lane_base;
      size_t p = 0;
      for (; p + 32 <= P; p += 32) {
        const __m512i i0 = _mm512_add_epi32(base, _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + p))));
        base = _mm512_add_epi32(base, step16);
        const __m512i i1 = _mm512_add_epi32(base, _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + p + 16))));
        base = _mm512_add_epi32(base, step16);
        acc0 = _mm512_add_ps(acc0, _mm512_i32gather_ps(i0, a.lut, 4));
        acc1 = _mm512_add_ps(acc1, _mm512_i32gather_ps(i1, a.lut, 4));
      }
      for (; p + 16 <= P; p += 16) {
        const __m512i i0 = _mm512_add_epi32(base, _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + p))));
        base = _mm512_add_epi32(base, step16);
        acc0 = _mm512_add_ps(acc0, _mm512_i32gather_ps(i0, a.lut, 4));
      }
      float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
      for (; p < P; ++p) s += a.lut[p * K + c[p]];
      a.acc[r] += s;
    }
    return;
  }
  const __mmask16 mask = __mmask16((1u << B) - 1);
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* c = a.codes + r * a.code_stride;
    __m512 acc = _mm512_setzero_ps();
    for (size_t p = 0; p < P; ++p) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(mask, a.lut + (p * K + c[p]) * B));
    float* dst = a.acc + r * B;
    _mm512_mask_storeu_ps(dst, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), acc));
  }
}

}  // namespace vq::kernels::detail

#else
namespace vq::kernels::detail {
void aq_gemv_u8_avx512(const AqGemvArgs& a) { aq_gemv_u8_ref(a); }
}  // namespace vq::kernels::detail
#endif
