#include "kernels/subspace_search.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/distances.h"

namespace vq::kernels {
namespace {

// Head sizes are multiples of this (sgemm panels), and hold at least kHeadEnergy of a level's
// codebook energy: the rest only widens the bounds, which costs exact rescoring, not accuracy.
constexpr size_t kHeadStep = 16;
constexpr double kHeadEnergy = 0.98;
// Rows per sgemm: the 128 × K distance tile (128 KiB at K = 256) stays in L2 for the scan.
constexpr size_t kRows = 128;

}  // namespace

SubspaceBooks::SubspaceBooks(std::span<const Matrix> books) {
  VQ_CHECK(!books.empty(), "SubspaceBooks: no books");
  const size_t r = books[0].cols();
  // Energy per dimension, each level normalised to 1 so that every level counts.
  std::vector<std::vector<double>> energy(books.size(), std::vector<double>(r, 0.0));
  std::vector<double> total(r, 0.0);
  for (size_t l = 0; l < books.size(); ++l) {
    VQ_CHECK(books[l].cols() == r, "SubspaceBooks: books of different dimensions");
    double sum = 0;
    for (size_t k = 0; k < books[l].rows(); ++k)
      for (size_t j = 0; j < r; ++j) {
        const double v = books[l](k, j);
        energy[l][j] += v * v;
        sum += v * v;
      }
    for (size_t j = 0; j < r; ++j) total[j] += energy[l][j] / std::max(sum, 1e-30);
  }
  order_.resize(r);
  std::iota(order_.begin(), order_.end(), 0u);
  std::stable_sort(order_.begin(), order_.end(), [&](uint32_t a, uint32_t b) { return total[a] > total[b]; });

  levels_.resize(books.size());
  for (size_t l = 0; l < books.size(); ++l) {
    Level& lv = levels_[l];
    const size_t K = books[l].rows();
    lv.entries = Matrix(K, r);
    for (size_t k = 0; k < K; ++k)
      for (size_t j = 0; j < r; ++j) lv.entries(k, j) = books[l](k, order_[j]);
    const double sum = std::accumulate(energy[l].begin(), energy[l].end(), 0.0);
    double acc = 0;
    lv.head = r;
    for (size_t j = 0; j < r; ++j) {
      acc += energy[l][order_[j]];
      if (acc >= kHeadEnergy * sum) {
        lv.head = std::min(r, (j + kHeadStep) / kHeadStep * kHeadStep);
        break;
      }
    }
    // Norms of the entries as given (not in search order), as the residual encoder computes
    // them, so both searches see the same float distances.
    lv.norms.resize(K);
    kernels::row_norms(books[l].view(), lv.norms);
    lv.tail_norms.resize(K);
    for (size_t k = 0; k < K; ++k) {
      const float* t = lv.entries.row_ptr(k) + lv.head;
      lv.tail_norms[k] = std::sqrt(kernels::dot(t, t, r - lv.head));
    }
  }
}

void SubspaceBooks::nearest(size_t level, MatrixView<const float> x, Span<int32_t> labels,
                            Span<float> distances, SubspaceScratch& scratch) const {
  const Level& lv = levels_[level];
  const size_t K = lv.entries.rows(), r = dim(), h = lv.head, m = x.rows();
  VQ_CHECK(x.cols() == r && labels.size() == m && distances.size() == m, "SubspaceBooks::nearest: bad sizes");
  std::vector<float>& tile = scratch.tile;
  std::vector<int32_t>& candidates = scratch.candidates;
  tile.resize(kRows * K);
  candidates.resize(K);
  for (size_t r0 = 0; r0 < m; r0 += kRows) {
    const size_t rows = std::min(kRows, m - r0);
    // tile = ||c||² − 2 x_h·c_h (sgemm with beta = 1 over the norms, as kernels::nearest does).
    for (size_t i = 0; i < rows; ++i) std::copy(lv.norms.begin(), lv.norms.end(), tile.begin() + long(i * K));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows), int(K), int(h), -2.f, x.row_ptr(r0),
                int(x.stride()), lv.entries.data(), int(r), 1.f, tile.data(), int(K));
    for (size_t i = 0; i < rows; ++i) {
      const float* xi = x.row_ptr(r0 + i);
      const float* t = tile.data() + i * K;
      const float x_norm = kernels::dot(xi, xi, r);
      const float x_tail = std::sqrt(kernels::dot(xi + h, xi + h, r - h));
      // Smallest upper bound; the margin covers the float rounding of the head estimates.
      const float slack = 2.f * x_tail;
      const float* tn = lv.tail_norms.data();
      float upper = std::numeric_limits<float>::infinity();
#pragma omp simd reduction(min : upper)
      for (size_t j = 0; j < K; ++j) upper = std::min(upper, t[j] + slack * tn[j]);
      const float limit = upper + 1e-4f * (x_norm + std::abs(upper));
      // Exact scores for the entries whose lower bound t − slack·tn is within the limit.
      const size_t n_candidates = kernels::within_bound(t, tn, slack, limit, K, candidates.data());
      float best = std::numeric_limits<float>::infinity();
      int32_t best_j = 0;
      for (size_t c = 0; c < n_candidates; ++c) {
        const size_t j = size_t(candidates[c]);
        const float exact = h == r ? t[j] : t[j] - 2.f * kernels::dot(xi + h, lv.entries.row_ptr(j) + h, r - h);
        if (exact < best) {
          best = exact;
          best_j = int32_t(j);
        }
      }
      labels[r0 + i] = best_j;
      distances[r0 + i] = std::max(0.f, x_norm + best);
    }
  }
}

}  // namespace vq::kernels
