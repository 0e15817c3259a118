// (internal) What kmeans() and kmeans_progressive() share: input checks and the subsample.
#pragma once

#include <cstddef>
#include <vector>

#include "vq/core/kmeans.h"

namespace vq::detail {

// Throws vq::Error on an empty set, k == 0 or k > n, non-finite values or squares that
// overflow, a metric of another dimension, mis-sized initial centroids, or bad weights.
void check_kmeans_input(MatrixView<const float> x, const KMeansOptions& o, int threads);

// The rows of an n-row training set that k-means keeps (o.max_points_per_centroid · o.k of
// them, drawn by o.seed), or an empty vector when it keeps all n. The progressive variant
// computes its principal axes on the same rows.
std::vector<size_t> kmeans_subsample(size_t n, const KMeansOptions& o);

}  // namespace vq::detail
