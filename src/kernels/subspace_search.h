// (internal API for domains) Exact nearest-entry search for residual-VQ books whose entries
// live mostly in a few dimensions. The image tokenizer's greedy encoder uses it.
//
// k-means centroids of image patches average the high frequencies away: in the default model
// the top 64 of 192 (whitened) dimensions hold ≥ 97 % of every level's codebook energy, 99.6 %
// within 96. So each level's search runs its GEMM over a "head" of dimensions only, and bounds
// the rest: with x = [x_h, x_t] and c = [c_h, c_t],
//   ||x − c||² = ||x||² + ||c||² − 2 x_h·c_h − 2 x_t·c_t,   |x_t·c_t| <= ||x_t|| ||c_t||,
// so entry j's distance lies within ±2 ||x_t|| ||c_t,j|| of its head estimate. Every entry whose
// lower bound is below the smallest upper bound is then scored exactly (a dot product over the
// tail), and the smallest exact distance wins (ties: the lowest index). The result is the exact
// nearest entry — the same as the full GEMM's (kernels::nearest) up to float rounding of
// near-ties — at a fraction of the multiply-adds.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vq/types.h"

namespace vq::kernels {

// Buffers nearest() reuses between calls (one per thread): the distance tile and the list of
// entries to rescore.
struct SubspaceScratch {
  std::vector<float> tile;
  std::vector<int32_t> candidates;
};

class SubspaceBooks {
 public:
  // books: the entries (K_l × r, all of dimension r) of every level of an RVQ, in the space
  // where distances are plain squared L2 (whitened under the quantizer's metric).
  explicit SubspaceBooks(std::span<const Matrix> books);

  size_t dim() const { return order_.size(); }
  // Search order of the whitened dimensions (size dim()): dimension order()[i] is stored at i.
  const std::vector<uint32_t>& order() const { return order_; }
  // Entry `label` of level l in search order (dim() floats).
  const float* entry(size_t level, size_t label) const { return levels_[level].entries.row_ptr(label); }
  size_t head(size_t level) const { return levels_[level].head; }

  // For every row of x (m × dim(), search order, any stride): the nearest entry of level l and
  // its squared distance.
  void nearest(size_t level, MatrixView<const float> x, Span<int32_t> labels, Span<float> distances,
               SubspaceScratch& scratch) const;

 private:
  struct Level {
    Matrix entries;                  // K × dim(), search order
    std::vector<float> norms;        // ||c_j||²
    std::vector<float> tail_norms;   // ||c_j,t|| over dimensions [head, dim())
    size_t head = 0;                 // dimensions searched by GEMM
  };
  std::vector<uint32_t> order_;
  std::vector<Level> levels_;
};

}  // namespace vq::kernels
