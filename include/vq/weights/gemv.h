// Products with a compressed matrix straight from its codes, never materialising Ŵ.
//
//   matvec:  y = Ŵ x                 x: cols floats, y: rows floats
//   matmul:  Y = X Ŵᵀ                X: batch × cols (one input per row, PyTorch's
//                                    F.linear(X, Ŵ) layout), Y: batch × rows
//
// AQ: per input group and codebook a lookup table of every entry's dot product with the input
// slice (AQLM's CPU kernel); each row then sums M table entries per group, picked by its codes,
// and applies its scale. Batches share the tables (B floats per entry), up to 16 inputs per pass;
// larger batches run in passes of 16. Scalar codes: fused unpack-and-dot per group of G.
// Threads (OpenMP) split the rows. The SIMD level follows VQ_SIMD_LEVEL like the search kernels;
// results differ from the scalar reference by float re-association only.
#pragma once

#include "vq/weights/compressed_matrix.h"

namespace vq::weights {

void matvec(const CompressedMatrix& m, Span<const float> x, Span<float> y);
void matmul(const CompressedMatrix& m, MatrixView<const float> x, MatrixView<float> y);

}  // namespace vq::weights
