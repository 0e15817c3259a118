#include "kernels/weights_gemv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "kernels/isa.h"
#include "vq/simd.h"

namespace vq::kernels {

namespace {

// The reference sum over float tables, for codes of CodeBytes little-endian bytes each.
template <size_t CodeBytes>
void aq_float_ref(const AqFloatArgs& a) {
  const size_t B = a.batch, K = a.entries;
  for (size_t i = 0; i < kRowBlock; ++i) {
    for (size_t b = 0; b < B; ++b) {
      float s = 0.f;
      for (size_t p = 0; p < a.positions; ++p) {
        const uint8_t* c = a.codes + (p * kRowBlock + i) * CodeBytes;
        size_t code = c[0];
        if constexpr (CodeBytes == 2) code |= size_t(c[1]) << 8;
        s += a.lut[(p * K + code) * B + b];
      }
      a.acc[i * B + b] += s;
    }
  }
}

}  // namespace

void aq_float_u8_ref(const AqFloatArgs& a) { aq_float_ref<1>(a); }
void aq_float_u16_ref(const AqFloatArgs& a) { aq_float_ref<2>(a); }

void aq_float_u8(const AqFloatArgs& a) {
#if VQ_ISA_X86
  const SimdLevel level = simd_level();
  if (level == SimdLevel::kAvx512) return avx512::aq_float_u8(a);
  if (level == SimdLevel::kAvx2) return avx2::aq_float_u8(a);
#endif
  aq_float_u8_ref(a);
}

void aq_int8_ref(const AqInt8Args& a) {
  for (size_t i = 0; i < kRowBlock; ++i) {
    uint32_t narrow = 0, wide = 0;
    for (size_t p = 0; p < a.positions; ++p) {
      const uint32_t v = a.lut[p * a.stride + a.codes[p * kRowBlock + i]];
      (a.wide >> p & 1 ? wide : narrow) += v;
    }
    float& dst = a.acc[i];
    dst = std::fma(a.scale, float(narrow), dst);  // the SIMD kernels' fused multiply-adds: same bits
    dst = std::fma(a.wide_scale, float(wide), dst);
  }
}

void aq_int8(const AqInt8Args& a) {
#if VQ_ISA_X86
  if (simd_level() == SimdLevel::kAvx512) return avx512::aq_int8(a);
#endif
  aq_int8_ref(a);
}

Int8Tile choose_tile_scales(const float* ranges, size_t np) {
  float sorted[kMaxI8TilePositions];
  std::copy(ranges, ranges + np, sorted);
  std::sort(sorted, sorted + np, std::greater<float>());
  const float widest = np ? sorted[0] : 0.f;
  // Threshold sorted[j]: the j tables above it are wide. Cost in units of 1/(12·255²).
  float tau = widest;
  double best = double(np) * widest * widest;
  for (size_t j = 1; j < np; ++j) {
    if (sorted[j] == sorted[j - 1]) continue;  // the same split as j − 1's threshold
    const double c = double(j) * widest * widest + double(np - j) * sorted[j] * sorted[j];
    if (c < best) {
      best = c;
      tau = sorted[j];
    }
  }
  Int8Tile out;
  out.scale = tau > 0.f ? tau / 255.f : 1.f;
  out.wide_scale = widest > 0.f ? widest / 255.f : 1.f;
  for (size_t q = 0; q < np; ++q) out.wide |= uint64_t(ranges[q] > tau) << q;
  return out;
}

Int8Tile quantize_tile_ref(const float* tab, size_t np, size_t K, uint8_t* dst, size_t stride) {
  float lows[kMaxI8TilePositions], ranges[kMaxI8TilePositions] = {}, min_sum = 0.f;  // ({}: GCC 12 cannot see np <= 64)
  for (size_t q = 0; q < np; ++q) {
    float low = tab[q * K], high = low;
    for (size_t k = 1; k < K; ++k) {
      low = std::min(low, tab[q * K + k]);
      high = std::max(high, tab[q * K + k]);
    }
    lows[q] = low;
    ranges[q] = high - low;
    min_sum += low;
  }
  Int8Tile out = choose_tile_scales(ranges, np);
  out.min_sum = min_sum;
  const float inv[2] = {1.f / out.scale, 1.f / out.wide_scale};
  for (size_t q = 0; q < np; ++q) {
    const float iq = inv[out.wide >> q & 1];
    for (size_t k = 0; k < K; ++k)  // fused multiply-add as in the SIMD kernel; min() keeps the top at 255
      dst[q * stride + k] = uint8_t(std::min(std::fma(tab[q * K + k] - lows[q], iq, 0.5f), 255.f));
  }
  return out;
}

Int8Tile build_int8_tile_ref(const Int8TileBuild& a) {
  const size_t M = a.books, g = a.group, K = a.entries;
  for (size_t q = 0; q < a.positions; ++q) {
    const size_t p = a.p0 + q;
    const float* ct = a.trans + p % M * g * K;
    const float* xs = a.x + p / M * g;
    float* d = a.tab + q * K;
    for (size_t k = 0; k < K; ++k) d[k] = 0.f;
    for (size_t t = 0; t < g; ++t)
      for (size_t k = 0; k < K; ++k) d[k] = std::fma(ct[t * K + k], xs[t], d[k]);
  }
  return quantize_tile_ref(a.tab, a.positions, K, a.dst, a.stride);
}

Int8Tile build_int8_tile(const Int8TileBuild& a) {
#if VQ_ISA_X86
  if (simd_level() == SimdLevel::kAvx512 && a.entries % 16 == 0 && a.entries <= 256) return avx512::build_int8_tile(a);
#endif
  return build_int8_tile_ref(a);
}

void scalar_gemv_ref(const ScalarGemvArgs& a) {
  const size_t B = a.batch, G = a.group, ng = a.cols / G, bits = a.bits;
  const uint32_t mask = (1u << bits) - 1;
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* row = a.codes + r * a.row_bytes;
    for (size_t b = 0; b < B; ++b) {
      const float* x = a.x + b * a.cols;
      float y = 0.f;
      for (size_t gi = 0; gi < ng; ++gi) {
        float dot = 0.f;
        for (size_t c = gi * G; c < gi * G + G; ++c) {
          const size_t bit = c * bits;
          uint32_t word = 0;
          std::memcpy(&word, row + bit / 8, 2);  // b <= 8: two bytes hold any code
          dot += float((word >> (bit % 8)) & mask) * x[c];
        }
        const size_t si = r * ng + gi;
        y += a.scales[si] * (dot - float(a.zeros[si]) * a.group_sums[b * ng + gi]);
      }
      a.out[r * B + b] = y;
    }
  }
}

void scalar_gemv(const ScalarGemvArgs& a) {
#if VQ_ISA_X86
  const SimdLevel level = simd_level();
  if (level == SimdLevel::kAvx512 && a.group % 16 == 0) return avx512::scalar_gemv(a);
  if (level >= SimdLevel::kAvx2 && a.group % 8 == 0) return avx2::scalar_gemv(a);
#endif
  scalar_gemv_ref(a);
}

}  // namespace vq::kernels
