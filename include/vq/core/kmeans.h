// k-means: the trainer under every codebook in the library.
//
// Lloyd iterations with GEMM-based distances (||x||² − 2 x·c + ||c||² through BLAS sgemm,
// blocked so that a tile of distances stays in cache while its argmin is taken), k-means++ or
// random initialisation, empty-cluster splitting, per-vector weights, and the Metric: under a
// diagonal or full H, assignments are made in the whitened space while centroids stay in the
// original space (the H-weighted mean is the plain weighted mean).
//
// Deterministic: for a given seed the result is bitwise reproducible for any OpenMP thread
// count (the work split is fixed by row blocks, sums are per-centroid in double), provided the
// BLAS thread count is fixed too: a multi-threaded OpenBLAS may change sgemm's summation order
// and so the last digits of the objective. Tests pin OPENBLAS_NUM_THREADS=1.
#pragma once

#include <cstdint>
#include <vector>

#include "vq/core/communicator.h"
#include "vq/core/metric.h"
#include "vq/core/progress.h"
#include "vq/types.h"

namespace vq {

enum class KMeansInit : uint8_t { kPlusPlus, kRandom };

// k-means++ seeding makes k sequential passes over a subsample of 32·k points: O(32·k²·d),
// negligible up to a few thousand centroids but ~35 s for k = 2^16 at d = 8. The quantizers
// seed larger books at random (Lloyd and the cluster re-seeding then do the rest).
constexpr size_t kMaxPlusPlusK = 4096;
// The seeding the quantizers use for a book of k entries: k-means++ up to kMaxPlusPlusK.
inline KMeansInit default_init(size_t k) {
  return k <= kMaxPlusPlusK ? KMeansInit::kPlusPlus : KMeansInit::kRandom;
}

struct KMeansOptions {
  size_t k = 256;                   // number of centroids; must be <= number of training points
  int iterations = 20;              // Lloyd iterations
  KMeansInit init = KMeansInit::kPlusPlus;
  uint64_t seed = 1234;
  int threads = 0;                  // 0: OpenMP default
  // Subsample the training set to k * max_points_per_centroid points (FAISS's default is 256);
  // 0 disables subsampling.
  size_t max_points_per_centroid = 256;
  Metric metric;                    // identity by default
  Span<const float> weights;        // empty, or one weight >= 0 per training vector
  // Clusters whose weight is at most this fraction of the mean cluster weight (total / k) are
  // re-seeded like empty ones (split off the heaviest cluster) after every update; in [0, 1).
  // 0 (default): only empty clusters, FAISS's rule. On noise-like data in high dimension a seed
  // far from the bulk keeps only itself, and Lloyd never moves such a singleton: RVQ's residual
  // levels (d = 128) lost about half their entries that way.
  double min_cluster_fraction = 0.0;
  // Starting centroids (k × d), used instead of `init` when given (progressive-dimension
  // k-means starts each step from the last one's centroids).
  MatrixView<const float> initial_centroids;
  ProgressCallback progress;        // one event per iteration (stage "kmeans")
  // Distributed training (communicator.h): x and weights are this rank's rows of the global
  // training set, k <= the global row count, and every rank gets the same centroids. Null: this
  // process alone. The subsample, the seeding and the splits are drawn from global positions,
  // so any rank count gives the single-process centroids up to the order of sums.
  const Communicator* comm = nullptr;
};

// Code usage: the classic failure of codebook training is collapse onto a few codes.
struct CodebookUsage {
  std::vector<uint64_t> counts;  // size K: how many vectors chose each code
  double entropy_bits = 0.0;     // entropy of the empirical code distribution
  double perplexity = 0.0;       // 2^entropy: the effective number of codes in use (<= K)
  size_t dead = 0;               // codes never chosen
};
CodebookUsage codebook_usage(Span<const uint64_t> counts);
// Usage of book m in a set of codes.
CodebookUsage codebook_usage(const Codes& codes, size_t book);

struct KMeansIterationStats {
  int iteration = 0;        // 0-based
  double objective = 0.0;   // weighted mean squared (H-)distance to the assigned centroid
  double seconds = 0.0;     // wall time of this iteration
  size_t split_clusters = 0;// empty (or small: min_cluster_fraction) clusters re-seeded by splitting
};

struct KMeansResult {
  Matrix centroids;                          // k × d
  std::vector<KMeansIterationStats> stats;   // one per iteration
  double objective = 0.0;                    // objective of the final centroids on the training set used
  CodebookUsage usage;                       // usage of the final assignment
  size_t training_points = 0;                // points used after subsampling
};

// x: n × d training vectors (n >= k; under options.comm, this rank's rows). Throws vq::Error on empty input, k == 0, k > n,
// non-finite values, negative/mis-sized weights, or a metric of another dimension.
KMeansResult kmeans(MatrixView<const float> x, const KMeansOptions& options);

// k-means in growing leading dimensions of the data's principal components (FAISS's
// progressive-dimension clustering): the data is rotated onto its principal axes (weighted mean
// and covariance), then `steps` k-means runs on the first d^((s+1)/steps) coordinates, each
// started from the previous run's centroids padded with zeros, the last on all d; centroids are
// rotated back. Centroids then spread along the directions of most variance first, which
// generalises better when there are few points per centroid: RVQ's residual levels trained on
// 10 points per entry (BENCHMARKS.md, "Held-out error against training-set size"). Costs about
// 2.6 times a plain run at steps = 10. Identity metric only; options.iterations per step; the
// result's stats hold every step's iterations.
KMeansResult kmeans_progressive(MatrixView<const float> x, const KMeansOptions& options, int steps = 10);

// Index of the nearest centroid (k × d) under the metric for every row of x (n × d): the
// assignment step of k-means on its own, for callers that need labels of the full data set
// (kmeans() may have trained on a subsample). Returns n labels.
std::vector<int32_t> assign_to_centroids(MatrixView<const float> x,
                                         MatrixView<const float> centroids,
                                         const Metric& metric = Metric(), int threads = 0);

}  // namespace vq
