// Products with a compressed matrix straight from its codes, never materialising Ŵ.
//
//   matvec:  y = Ŵ x                 x: cols floats, y: rows floats
//   matmul:  Y = X Ŵᵀ                X: batch × cols (one input per row, PyTorch's
//                                    F.linear(X, Ŵ) layout), Y: batch × rows
//
// AQ: per input group and codebook a lookup table of every entry's dot product with the input
// slice (AQLM's CPU kernel); each row then sums M table entries per group, picked by its codes,
// and applies its scale. To keep the picks in L1, a GemvKernel repacks the codes once into a
// private layout (64-row blocks, one position's codes for the 64 rows together, tiles of 32
// positions of all blocks contiguous) and streams all
// rows through a few tables at a time. Batches share the codes, up to 16 inputs per pass.
// Scalar codes: fused unpack-and-dot per group of G.
// Threads (OpenMP) split the rows. The SIMD level is simd_level() (vq/simd.h), like the search kernels'.
//
// Table precision (AQ with b <= 8; 16-bit codes always use float tables):
//   kFloat  exact: every row's picks summed in order, as the scalar reference kernel does (the
//           SIMD kernels return its bits).
//   kInt8   tables quantised to uint8 (each table shifted by its minimum first) and summed in
//           integers: several times faster on AVX-512 VBMI. A tile of 32 tables has two scales:
//           its widest tables (input groups with outlier channels) share one, the rest another,
//           split where the summed rounding variance is least, so outlier inputs no longer
//           coarsen every table beside them. The error of an output is at most
//           row_scale · Σ_tables s_table / 2 (s = the class's widest range / 255); ≈ 1 % of ‖y‖ on
//           random tables, ≤ 0.0011 added to the output error of the tiny LMs' real layers,
//           MLP down-projections with outlier inputs included (BENCHMARKS.md).
//           Results are identical at every SIMD level.
#pragma once

#include <cstdint>
#include <vector>

#include "vq/weights/compressed_matrix.h"

namespace vq::weights {

enum class LutPrecision : uint8_t { kFloat, kInt8 };

// Tables per int8 tile (two scales each; the error bound above).
inline constexpr size_t kInt8TilePositions = 32;

// A compressed matrix prepared for repeated products (its own copy of what the kernels read).
class GemvKernel {
 public:
  explicit GemvKernel(const CompressedMatrix& m, LutPrecision precision = LutPrecision::kFloat);

  void matvec(Span<const float> x, Span<float> y) const;
  void matmul(MatrixView<const float> x, MatrixView<float> y) const;

  size_t rows() const { return m_.rows; }
  size_t cols() const { return m_.cols; }
  LutPrecision precision() const { return precision_; }

 private:
  struct Block {
    uint32_t first_row;  // stored row of the block's row 0
    uint32_t rows;       // <= 64 valid rows
    uint32_t row_group;
  };
  void aq_product(const float* x, size_t batch, std::vector<float>& acc) const;
  void scalar_product(const float* x, size_t batch, std::vector<float>& acc) const;
  // AQ: offset in m_.codes of block blk's codes at position p (layout: src/weights/gemv.cpp).
  size_t code_offset(size_t blk, size_t p) const;

  CompressedMatrix m_;  // AQ: codes in the packed layout (src/kernels/weights_gemv.h); scalar: padded
  LutPrecision precision_;
  std::vector<Block> blocks_;
  std::vector<float> trans_;  // AQ: each row group's codebooks transposed (M × g × K), for the table builds
};

// One-shot products: prepare a GemvKernel (float tables) and run it. For repeated products
// keep a GemvKernel: preparing repacks every code.
void matvec(const CompressedMatrix& m, Span<const float> x, Span<float> y);
void matmul(const CompressedMatrix& m, MatrixView<const float> x, MatrixView<float> y);

}  // namespace vq::weights
