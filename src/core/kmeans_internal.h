// (internal) What kmeans() and kmeans_progressive() share: input checks and the subsample.
#pragma once

#include <cstdint>

#include "vq/core/kmeans.h"

namespace vq::detail {

// The stream of the seed that draws the training subsample (max_points_per_centroid), so the
// progressive variant computes its principal axes on the rows kmeans() would cluster.
constexpr uint64_t kKMeansSubsampleStream = 0x5u;

// Throws vq::Error on an empty set, k == 0 or k > n, non-finite values or squares that
// overflow, a metric of another dimension, mis-sized initial centroids, or bad weights.
void check_kmeans_input(MatrixView<const float> x, const KMeansOptions& o, int threads);

}  // namespace vq::detail
