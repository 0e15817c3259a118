#include "kernels/weights_gemv.h"

#include <algorithm>
#include <cstring>

namespace vq::kernels {

namespace {

// The reference sum over lookup-table entries, for codes of CodeBytes little-endian bytes each.
template <size_t CodeBytes>
void aq_gemv_ref(const AqGemvArgs& a) {
  const size_t B = a.batch, K = a.entries;
  for (size_t r = 0; r < a.rows; ++r) {
    const uint8_t* c = a.codes + r * a.code_stride;
    float* acc = a.acc + r * B;
    for (size_t b = 0; b < B; ++b) {
      float s = 0.f;
      for (size_t p = 0; p < a.positions; ++p) {
        size_t code = c[CodeBytes * p];
        if constexpr (CodeBytes == 2) code |= size_t(c[2 * p + 1]) << 8;
        s += a.lut[(p * K + code) * B + b];
      }
      acc[b] += s;
    }
  }
}

}  // namespace

void aq_gemv_u8_ref(const AqGemvArgs& a) { aq_gemv_ref<1>(a); }
void aq_gemv_u16_ref(const AqGemvArgs& a) { aq_gemv_ref<2>(a); }

void aq_gemv_u8(const AqGemvArgs& a) {
  const ScanLevel level = scan_level();
  if (level == ScanLevel::kAvx512) return detail::aq_gemv_u8_avx512(a);
  if (level == ScanLevel::kAvx2) return detail::aq_gemv_u8_avx2(a);
  aq_gemv_u8_ref(a);
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
          if (bit / 8 + 4 <= a.row_bytes)
            std::memcpy(&word, row + bit / 8, 4);  // fixed size: compiled to one load
          else
            std::memcpy(&word, row + bit / 8, a.row_bytes - bit / 8);
          dot += float((word >> (bit % 8)) & mask) * x[c];
        }
        const size_t si = r * ng + gi;
        y += a.scales[si] * (dot - float(a.zeros[si]) * a.group_sums[b * ng + gi]);
      }
      a.out[r * B + b] = y;
    }
  }
}

}  // namespace vq::kernels
