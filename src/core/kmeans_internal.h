// (internal) What kmeans() and kmeans_progressive() share: input checks, the subsample, and the
// communicator in use.
#pragma once

#include <cstddef>
#include <vector>

#include "vq/core/communicator.h"
#include "vq/core/kmeans.h"

namespace vq::detail {

inline const Communicator& communicator(const KMeansOptions& o) {
  return o.comm ? *o.comm : self_communicator();
}

// Throws vq::Error on every rank when any rank's input is bad: an empty set, k == 0 or k > n
// (the global n), non-finite values or squares that overflow, a metric of another dimension,
// mis-sized initial centroids, bad weights, or ranks that disagree on the dimension. Returns
// where this rank's rows sit in the global set.
RowRange check_kmeans_input(MatrixView<const float> x, const KMeansOptions& o, int threads);

// The rows of the training set that k-means keeps: o.max_points_per_centroid · o.k of the
// global rows, drawn by o.seed from global positions (so every rank count keeps the same
// ones), or all of them. The progressive variant computes its principal axes on the same rows.
struct Subsample {
  bool all = true;                 // every row is kept (then `local` is empty)
  std::vector<size_t> local;       // else this rank's kept rows, ascending local indices
  RowRange kept;                   // this rank's first kept row in the kept set, and its size
};
Subsample kmeans_subsample(const RowRange& input, size_t local_rows, const KMeansOptions& o);

// Every rank's rows `rows` of its x (with their weights; all 1 when `weights` is empty),
// concatenated in rank order, on every rank. What makes the seeding and the principal axes of a
// distributed run bitwise those of one process: every rank computes them from the same rows.
struct GatheredRows {
  Matrix x;
  std::vector<float> w;
};
GatheredRows allgather_rows(const Communicator& comm, MatrixView<const float> x, Span<const float> weights,
                            Span<const size_t> rows);

// The positions of `picked` (sorted global positions) that fall in this rank's `range` of
// `local_rows` rows, as local indices.
std::vector<size_t> local_positions(Span<const size_t> picked, size_t offset, size_t local_rows);

}  // namespace vq::detail
