// (private) Matrix-vector kernels for compressed weights (include/vq/weights/gemv.h), straight
// from codes.
//
// Additive codes (AQLM's CPU approach): for a batch of B inputs, one lookup table per input
// group j and book m holds every codebook entry's dot product with the group's slice of each
// input,
//
//     lut[(p · K + k) · B + b] = C_m[k] · x_b[j·g : j·g + g]        p = (j − j0)·M + m,
//
// so a row's output is a sum of table entries picked by its codes, Σ_p lut[p, code_p] (the row
// scale is applied by the caller). Codes of a row are consecutive, in (group, book) order, so
// position p of the row's code bytes indexes table p: the kernel is a gather-and-add over
// contiguous codes, B floats per pick. Per row and weight it moves M·b/g bits of codes.
//
// Sums run in a fixed order per kernel; the SIMD kernels sum 8 or 16 lanes then reduce, so they
// differ from the scalar reference by float re-association only (tests bound the gap).
//
// Scalar codes: fused unpack-and-dot, Σ_groups scale · (Σ_c q_c x_c − zero · Σ_c x_c).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/lut_scan.h"

namespace vq::kernels {

inline constexpr size_t kMaxGemvBatch = 16;

struct AqGemvArgs {
  const float* lut = nullptr;     // positions × K × batch floats (layout above)
  size_t positions = 0;           // table count P = groups in the tile · M
  size_t entries = 0;             // K = 2^b
  size_t batch = 1;               // B, 1..kMaxGemvBatch
  const uint8_t* codes = nullptr; // row r's codes for this tile start at codes + r · code_stride
  size_t code_stride = 0;         // bytes between rows
  size_t rows = 0;
  float* acc = nullptr;           // rows × batch: acc[r·B + b] += Σ_p lut[p, code(r, p)][b]
};

// One byte per code (b <= 8).
void aq_gemv_u8(const AqGemvArgs& a);
void aq_gemv_u8_ref(const AqGemvArgs& a);
// Two bytes per code (little-endian uint16, b <= 16): scalar only.
void aq_gemv_u16_ref(const AqGemvArgs& a);

namespace detail {
void aq_gemv_u8_avx2(const AqGemvArgs& a);
void aq_gemv_u8_avx512(const AqGemvArgs& a);
}  // namespace detail

struct ScalarGemvArgs {
  const float* x = nullptr;        // batch × cols inputs, row-major
  const float* group_sums = nullptr;  // batch × (cols/G): Σ of each input over each group
  size_t cols = 0, group = 0, bits = 0, batch = 1;
  const uint8_t* codes = nullptr;  // rows × row_bytes bit streams (compressed_matrix.h)
  size_t row_bytes = 0;
  const float* scales = nullptr;   // rows × (cols/G)
  const uint8_t* zeros = nullptr;  // rows × (cols/G)
  size_t rows = 0;
  float* out = nullptr;            // rows × batch: out[r·B + b] = (Ŵ x_b)[r]
};
void scalar_gemv_ref(const ScalarGemvArgs& a);

}  // namespace vq::kernels
