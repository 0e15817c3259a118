// AVX2 lookup-table GEMV over 8-bit additive codes (weights_gemv.h). The function carries a
// target attribute; weights_gemv.cpp calls it only when scan_level() allows AVX2.
#include "kernels/weights_gemv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

namespace vq::kernels::detail {

namespace {
__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
}  // namespace

__attribute__((target("avx2,fma"))) void aq_gemv_u8_avx2(const AqGemvArgs& a) {
  const size_t B = a.batch, K = a.entries, P = a.positions;
  if (B == 1) {
    // Eight tables per gather: lane i reads lut[(p + i)·K + code].
    const __m256i lane_base = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(K)));
    const __m256i step8 = _mm256_set1_epi32(int(8 * K));
    for (size_t r = 0; r < a.rows; ++r) {
      const uint8_t* c = a.codes + r * a.code_stride;
      __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
      __m256i base = lane_base;
      size_t p = 0;
      for (; p + 16 <= P; p += 16) {
        const __m256i i0 = _mm256_add_epi32(base, _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + p))));
        base = _mm256_add_epi32(base, step8);
        const __m256i i1 = _mm256_add_epi32(base, _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + p + 8))));
        base = _mm256_add_epi32(base, step8);
        acc0 = _mm256_add_ps(acc0, _mm256_i32gather_ps(a.lut, i0, 4));
        acc1 = _mm256_add_ps(acc1, _mm256_i32gather_ps(a.lut, i1, 4));
      }
      for (; p + 8 <= P; p += 8) {
        const __m256i i0 = _mm256_add_epi32(base, _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + p))));
        base = _mm256_add_epi32(base, step8);
        acc0 = _mm256_add_ps(acc0, _mm256_i32gather_ps(a.lut, i0, 4));
      }
      float s = hsum(_mm256_add_ps(acc0, acc1));
      for (; p < P; ++p) s += a.lut[p * K + c[p]];
      a.acc[r] += s;
    }
    return;
  }
  // B > 1: each pick is B contiguous floats, added as two masked 8-lane vectors.
  alignas(32) int32_t lanes[16];
  for (size_t i = 0; i < 16; ++i) lanes[i] = i < B ? -1 : 0;
  const __m256i m_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  const __m256i m_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes + 8));
  const bool two = B > 8;
  alignas(32) float out[16];
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* c = a.codes + r * a.code_stride;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (size_t p = 0; p < P; ++p) {
      const float* e = a.lut + (p * K + c[p]) * B;
      lo = _mm256_add_ps(lo, _mm256_maskload_ps(e, m_lo));
      if (two) hi = _mm256_add_ps(hi, _mm256_maskload_ps(e + 8, m_hi));
    }
    _mm256_store_ps(out, lo);
    _mm256_store_ps(out + 8, hi);
    for (size_t b = 0; b < B; ++b) a.acc[r * B + b] += out[b];
  }
}

}  // namespace vq::kernels::detail

#else
namespace vq::kernels::detail {
void aq_gemv_u8_avx2(const AqGemvArgs& a) { aq_gemv_u8_ref(a); }
}  // namespace vq::kernels::detail
#endif
