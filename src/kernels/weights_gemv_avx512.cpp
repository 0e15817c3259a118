// AVX-512 weight GEMV kernels (weights_gemv.h): float-table gathers over 16 rows, uint8-table
// lookups over 64 rows with VBMI byte permutes, and a 16-codes-per-shuffle unpack for scalar
// codes. The dispatchers call them only when simd_level() reports
// AVX-512.
#include "kernels/weights_gemv.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX512_BEGIN
namespace vq::kernels::avx512 {

void aq_float_u8(const AqFloatArgs& a) {
  const size_t B = a.batch, K = a.entries, P = a.positions;
  if (B == 1) {
    // Four gathers of 16 rows per position; each lane sums its row's picks in position order.
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t p = 0; p < P; ++p) {
      const __m512i c = _mm512_loadu_si512(a.codes + p * kRowBlock);
      const float* t = a.lut + p * K;
      s0 = _mm512_add_ps(s0, _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(c)), t, 4));
      s1 = _mm512_add_ps(s1, _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(c, 1)), t, 4));
      s2 = _mm512_add_ps(s2, _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(c, 2)), t, 4));
      s3 = _mm512_add_ps(s3, _mm512_i32gather_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(c, 3)), t, 4));
    }
    _mm512_storeu_ps(a.acc, _mm512_add_ps(_mm512_loadu_ps(a.acc), s0));
    _mm512_storeu_ps(a.acc + 16, _mm512_add_ps(_mm512_loadu_ps(a.acc + 16), s1));
    _mm512_storeu_ps(a.acc + 32, _mm512_add_ps(_mm512_loadu_ps(a.acc + 32), s2));
    _mm512_storeu_ps(a.acc + 48, _mm512_add_ps(_mm512_loadu_ps(a.acc + 48), s3));
    return;
  }
  // Batches: each pick is B contiguous floats, one masked 16-lane load.
  const __mmask16 mask = __mmask16((1u << B) - 1);
  for (size_t i = 0; i < kRowBlock; ++i) {
    __m512 s = _mm512_setzero_ps();
    for (size_t p = 0; p < P; ++p)
      s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mask, a.lut + (p * K + a.codes[p * kRowBlock + i]) * B));
    float* dst = a.acc + i * B;
    _mm512_mask_storeu_ps(dst, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), s));
  }
}

namespace {

// 64 uint8 picks from tables of 64·NT entries (NT registers), one per row.
template <int NT>
inline __m512i lookup64(const uint8_t* t, __m512i c) {
  if constexpr (NT == 1) {
    return _mm512_permutexvar_epi8(c, _mm512_loadu_si512(t));
  } else if constexpr (NT == 2) {
    return _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c, _mm512_loadu_si512(t + 64));
  } else {
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c, _mm512_loadu_si512(t + 64));
    const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 128), c, _mm512_loadu_si512(t + 192));
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(c), lo, hi);  // bit 7 of the code
  }
}

template <int NT>
void aq_int8_tile(const AqInt8Args& a) {
  // 16-bit sums per class c (0 narrow, 1 wide): even[c] word w holds row 2w, odd[c] row 2w + 1.
  const __m512i low_byte = _mm512_set1_epi16(0x00FF);
  __m512i even[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()}, odd[2] = {even[0], even[0]};
  for (size_t p = 0; p < a.positions; ++p) {
    const __m512i v = lookup64<NT>(a.lut + p * a.stride, _mm512_loadu_si512(a.codes + p * kRowBlock));
    const __m512i lo = _mm512_and_si512(v, low_byte), hi = _mm512_srli_epi16(v, 8);
    // (a branch, not an index, keeps the sums in registers; its pattern repeats for every row
    // block of the tile)
    if (a.wide >> p & 1) {
      even[1] = _mm512_add_epi16(even[1], lo);
      odd[1] = _mm512_add_epi16(odd[1], hi);
    } else {
      even[0] = _mm512_add_epi16(even[0], lo);
      odd[0] = _mm512_add_epi16(odd[0], hi);
    }
  }
  // Back to row order: row n is even[n/2] (n even) or odd[n/2] (n odd).
  alignas(64) uint16_t idx[2][32];
  for (int n = 0; n < 32; ++n) {
    idx[0][n] = uint16_t((n % 2 ? 32 : 0) + n / 2);
    idx[1][n] = uint16_t((n % 2 ? 32 : 0) + 16 + n / 2);
  }
  alignas(64) float sums[2][kRowBlock];
  for (int c = 0; c < 2; ++c)
    for (int h = 0; h < 2; ++h) {
      const __m512i r = _mm512_permutex2var_epi16(even[c], _mm512_load_si512(idx[h]), odd[c]);
      // (maskz forms: GCC 12's plain forms pass an undefined source that -Wuninitialized flags)
      const __mmask16 all = 0xFFFF;
      const __m512 lo = _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepu16_epi32(all, _mm512_maskz_extracti64x4_epi64(0xF, r, 0)));
      const __m512 hi = _mm512_maskz_cvtepi32_ps(all, _mm512_maskz_cvtepu16_epi32(all, _mm512_maskz_extracti64x4_epi64(0xF, r, 1)));
      _mm512_store_ps(sums[c] + 32 * h, lo);
      _mm512_store_ps(sums[c] + 32 * h + 16, hi);
    }
  const __m512 scale = _mm512_set1_ps(a.scale), wide_scale = _mm512_set1_ps(a.wide_scale);
  for (size_t q = 0; q < kRowBlock; q += 16) {
    const __m512 acc = _mm512_fmadd_ps(scale, _mm512_load_ps(sums[0] + q), _mm512_loadu_ps(a.acc + q));
    _mm512_storeu_ps(a.acc + q, _mm512_fmadd_ps(wide_scale, _mm512_load_ps(sums[1] + q), acc));
  }
}

}  // namespace

void aq_int8(const AqInt8Args& a) {
  if (a.stride == 64) return aq_int8_tile<1>(a);
  if (a.stride == 128) return aq_int8_tile<2>(a);
  aq_int8_tile<4>(a);
}

namespace {

// One tile of NR·16-entry tables: each table accumulated in NR registers over the group's g
// inputs (fused multiply-adds in t order, as the reference), its minimum and maximum taken in
// registers, stored to the L1 scratch; then one quantising pass over the scratch.
template <int NR>
Int8Tile build_tile(const Int8TileBuild& a) {
  constexpr size_t K = 16 * NR;
  const size_t M = a.books, g = a.group;
  float lows[kMaxI8TilePositions], ranges[kMaxI8TilePositions] = {}, min_sum = 0.f;  // ({}: GCC 12 cannot see np <= 64)
  for (size_t q = 0; q < a.positions; ++q) {
    const size_t p = a.p0 + q;
    const float* ct = a.trans + p % M * g * K;
    const float* xs = a.x + p / M * g;
    __m512 acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t t = 0; t < g; ++t) {
      const __m512 xt = _mm512_set1_ps(xs[t]);
      for (int r = 0; r < NR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(ct + t * K + 16 * r), xt, acc[r]);
    }
    __m512 lo = acc[0], hi = acc[0];
    for (int r = 1; r < NR; ++r) {
      lo = _mm512_min_ps(lo, acc[r]);
      hi = _mm512_max_ps(hi, acc[r]);
    }
    for (int r = 0; r < NR; ++r) _mm512_storeu_ps(a.tab + q * K + 16 * r, acc[r]);
    const float low = _mm512_reduce_min_ps(lo), high = _mm512_reduce_max_ps(hi);
    lows[q] = low;
    ranges[q] = high - low;
    min_sum += low;
  }
  Int8Tile out = choose_tile_scales(ranges, a.positions);
  out.min_sum = min_sum;
  const __m512 invs[2] = {_mm512_set1_ps(1.f / out.scale), _mm512_set1_ps(1.f / out.wide_scale)};
  const __m512 half = _mm512_set1_ps(0.5f), top = _mm512_set1_ps(255.f);
  for (size_t q = 0; q < a.positions; ++q) {
    const __m512 low = _mm512_set1_ps(lows[q]), inv = invs[out.wide >> q & 1];
    for (size_t k = 0; k < K; k += 16) {
      const __m512 v = _mm512_min_ps(_mm512_fmadd_ps(_mm512_sub_ps(_mm512_loadu_ps(a.tab + q * K + k), low), inv, half), top);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(a.dst + q * a.stride + k), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
  }
  return out;
}

}  // namespace

Int8Tile build_int8_tile(const Int8TileBuild& a) {
  switch (a.entries) {
    case 16: return build_tile<1>(a);
    case 32: return build_tile<2>(a);
    case 64: return build_tile<4>(a);
    case 128: return build_tile<8>(a);
    case 256: return build_tile<16>(a);
    default: return build_int8_tile_ref(a);  // (K is a power of two: not reached)
  }
}

namespace {

// Scalar codes, NB inputs of the batch at once: 16 codes per block of 2·bits bytes, unpacked by
// one in-lane byte shuffle (each dword gets the two bytes holding its code), a per-lane shift
// and a mask.
template <size_t NB>
void scalar_rows(const ScalarGemvArgs& a, size_t b0) {
  const size_t G = a.group, ng = a.cols / G, bits = a.bits, B = a.batch;
  alignas(64) uint8_t shuf[64];
  alignas(64) int32_t shift[16];
  for (size_t i = 0; i < 16; ++i) {
    const size_t bit = i * bits, off = bit / 8;
    shuf[4 * i] = uint8_t(off);
    shuf[4 * i + 1] = off + 1 < 16 ? uint8_t(off + 1) : 0x80;  // beyond the window: not needed
    shuf[4 * i + 2] = shuf[4 * i + 3] = 0x80;
    shift[i] = int32_t(bit % 8);
  }
  const __m512i vshuf = _mm512_load_si512(shuf), vshift = _mm512_load_si512(shift);
  const __m512i vmask = _mm512_set1_epi32((1 << bits) - 1);
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* row = a.codes + r * a.row_bytes;
    __m512 y[NB];
    float zero_terms[NB] = {};
    for (size_t k = 0; k < NB; ++k) y[k] = _mm512_setzero_ps();
    for (size_t gi = 0; gi < ng; ++gi) {
      __m512 d[NB];
      for (size_t k = 0; k < NB; ++k) d[k] = _mm512_setzero_ps();
      for (size_t c0 = gi * G; c0 < gi * G + G; c0 += 16) {
        const __m512i raw = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c0 * bits / 8)));
        const __m512 q = _mm512_cvtepi32_ps(
            _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_epi8(raw, vshuf), vshift), vmask));
        for (size_t k = 0; k < NB; ++k) d[k] = _mm512_fmadd_ps(q, _mm512_loadu_ps(a.x + (b0 + k) * a.cols + c0), d[k]);
      }
      const size_t si = r * ng + gi;
      const __m512 s = _mm512_set1_ps(a.scales[si]);
      for (size_t k = 0; k < NB; ++k) {
        y[k] = _mm512_fmadd_ps(s, d[k], y[k]);
        zero_terms[k] += a.scales[si] * float(a.zeros[si]) * a.group_sums[(b0 + k) * ng + gi];
      }
    }
    for (size_t k = 0; k < NB; ++k) a.out[r * B + b0 + k] = _mm512_reduce_add_ps(y[k]) - zero_terms[k];
  }
}

}  // namespace

void scalar_gemv(const ScalarGemvArgs& a) {
  using Fn = void (*)(const ScalarGemvArgs&, size_t);
  static constexpr Fn by_width[] = {scalar_rows<1>, scalar_rows<2>, scalar_rows<3>, scalar_rows<4>,
                                    scalar_rows<5>, scalar_rows<6>, scalar_rows<7>, scalar_rows<8>};
  for (size_t b0 = 0; b0 < a.batch; b0 += 8) by_width[std::min<size_t>(8, a.batch - b0) - 1](a, b0);
}

}  // namespace vq::kernels::avx512
VQ_ISA_END
#endif
