// AVX2 weight GEMV kernels (weights_gemv.h): float-table gathers over 8 rows and an
// 8-codes-per-shuffle unpack for scalar codes. The dispatchers
// call them only when simd_level() allows AVX2.
#include "kernels/weights_gemv.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX2_BEGIN
namespace vq::kernels::avx2 {

namespace {
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
}  // namespace

void aq_float_u8(const AqFloatArgs& a) {
  const size_t B = a.batch, K = a.entries, P = a.positions;
  if (B == 1) {
    // Rows in two halves of 32 (8 accumulators each half would not fit 16 registers twice).
    for (size_t h = 0; h < kRowBlock; h += 32) {
      __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (size_t p = 0; p < P; ++p) {
        const uint8_t* c = a.codes + p * kRowBlock + h;
        const float* t = a.lut + p * K;
        for (size_t q = 0; q < 4; ++q) {
          const __m256i i = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + 8 * q)));
          s[q] = _mm256_add_ps(s[q], _mm256_i32gather_ps(t, i, 4));
        }
      }
      for (size_t q = 0; q < 4; ++q)
        _mm256_storeu_ps(a.acc + h + 8 * q, _mm256_add_ps(_mm256_loadu_ps(a.acc + h + 8 * q), s[q]));
    }
    return;
  }
  // Batches: each pick is B contiguous floats, added as two masked 8-lane vectors.
  alignas(32) int32_t lanes[16];
  for (size_t i = 0; i < 16; ++i) lanes[i] = i < B ? -1 : 0;
  const __m256i m_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  const __m256i m_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes + 8));
  const bool two = B > 8;
  alignas(32) float out[16];
  for (size_t i = 0; i < kRowBlock; ++i) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (size_t p = 0; p < P; ++p) {
      const float* e = a.lut + (p * K + a.codes[p * kRowBlock + i]) * B;
      lo = _mm256_add_ps(lo, _mm256_maskload_ps(e, m_lo));
      if (two) hi = _mm256_add_ps(hi, _mm256_maskload_ps(e + 8, m_hi));
    }
    _mm256_store_ps(out, lo);
    _mm256_store_ps(out + 8, hi);
    for (size_t b = 0; b < B; ++b) a.acc[i * B + b] += out[b];
  }
}

namespace {

// Scalar codes, NB inputs at once: 8 codes per block of `bits` bytes (see the AVX-512 kernel).
template <size_t NB>
void scalar_rows(const ScalarGemvArgs& a, size_t b0) {
  const size_t G = a.group, ng = a.cols / G, bits = a.bits, B = a.batch;
  alignas(32) uint8_t shuf[32];
  alignas(32) int32_t shift[8];
  for (size_t i = 0; i < 8; ++i) {
    const size_t bit = i * bits, off = bit / 8;  // off + 1 <= 8: inside the 8 loaded bytes or zero
    shuf[4 * i] = uint8_t(off);
    shuf[4 * i + 1] = uint8_t(off + 1);
    shuf[4 * i + 2] = shuf[4 * i + 3] = 0x80;
    shift[i] = int32_t(bit % 8);
  }
  const __m256i vshuf = _mm256_load_si256(reinterpret_cast<const __m256i*>(shuf));
  const __m256i vshift = _mm256_load_si256(reinterpret_cast<const __m256i*>(shift));
  const __m256i vmask = _mm256_set1_epi32((1 << bits) - 1);
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* row = a.codes + r * a.row_bytes;
    __m256 y[NB];
    float zero_terms[NB] = {};
    for (size_t k = 0; k < NB; ++k) y[k] = _mm256_setzero_ps();
    for (size_t gi = 0; gi < ng; ++gi) {
      __m256 d[NB];
      for (size_t k = 0; k < NB; ++k) d[k] = _mm256_setzero_ps();
      for (size_t c0 = gi * G; c0 < gi * G + G; c0 += 8) {
        const __m256i raw =
            _mm256_broadcastsi128_si256(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + c0 * bits / 8)));
        const __m256 q = _mm256_cvtepi32_ps(
            _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(raw, vshuf), vshift), vmask));
        for (size_t k = 0; k < NB; ++k) d[k] = _mm256_fmadd_ps(q, _mm256_loadu_ps(a.x + (b0 + k) * a.cols + c0), d[k]);
      }
      const size_t si = r * ng + gi;
      const __m256 s = _mm256_set1_ps(a.scales[si]);
      for (size_t k = 0; k < NB; ++k) {
        y[k] = _mm256_fmadd_ps(s, d[k], y[k]);
        zero_terms[k] += a.scales[si] * float(a.zeros[si]) * a.group_sums[(b0 + k) * ng + gi];
      }
    }
    for (size_t k = 0; k < NB; ++k) a.out[r * B + b0 + k] = hsum(y[k]) - zero_terms[k];
  }
}

}  // namespace

void scalar_gemv(const ScalarGemvArgs& a) {
  using Fn = void (*)(const ScalarGemvArgs&, size_t);
  static constexpr Fn by_width[] = {scalar_rows<1>, scalar_rows<2>, scalar_rows<3>, scalar_rows<4>};
  for (size_t b0 = 0; b0 < a.batch; b0 += 4) by_width[std::min<size_t>(4, a.batch - b0) - 1](a, b0);
}

}  // namespace vq::kernels::avx2
VQ_ISA_END
#endif
