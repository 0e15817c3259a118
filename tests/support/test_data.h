// Seeded synthetic data for tests and benchmarks. No real corpora can be downloaded here, so
// these generators imitate the structure that matters to quantizers: clustered, anisotropic,
// correlated vectors (like SIFT or LLM activations), plus a plain Gaussian source whose
// distortion-rate bound is known analytically.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vq/core/metric.h"
#include "vq/core/quantizer.h"
#include "vq/weights/compressed_matrix.h"
#include "vq/types.h"

namespace vq::testdata {

// n × d i.i.d. N(0, sigma²).
Matrix gaussian(size_t n, size_t d, uint64_t seed, float sigma = 1.f);

// n × d vectors from a mixture of `clusters` anisotropic Gaussians: random centres (scale 4),
// per-cluster covariance = random rotation of variances decaying as 1/(1+j)^0.8, then a global
// random rotation so dimensions are correlated. A stand-in for real descriptor / embedding data.
Matrix clustered(size_t n, size_t d, uint64_t seed, size_t clusters = 64);

// n × d points near a `latent`-dimensional curved manifold (SIFT-like: high ambient, low
// intrinsic dimension). Latent z: a mixture of 32 Gaussians in R^latent (centres N(0, 1),
// spread 0.5), dimension j scaled by 1/(1+j); embedding x = P z + B tanh(A z + b) with random
// Gaussian P (d × latent), A (d × latent), B (d × d), b, so no linear map (PCA, OPQ) flattens
// it; plus i.i.d. N(0, noise²) per dimension. Nearest neighbours are meaningful here (PQ16x8
// recall@10 ≈ 0.38 at d = 128 over 200k base vectors), unlike `clustered`, whose full-rank
// clusters defeat PQ (recall 0.08).
Matrix manifold(size_t n, size_t d, uint64_t seed, size_t latent = 16, float noise = 0.02f);

// n × d Gaussian vectors with covariance Q diag(λ) Qᵀ, λ_j = 1/(1+j) (a "spectrum" source).
Matrix correlated(size_t n, size_t d, uint64_t seed);

// A `spec` quantizer (factory.h grammar) of dimension dim, trained on clustered(1500, dim, seed, 16).
std::unique_ptr<Quantizer> trained_quantizer(const std::string& spec, size_t dim, uint64_t seed, int iterations = 8);

// Mean squared error per vector (sum over dims / n) between two matrices of equal shape.
double mse(MatrixView<const float> a, MatrixView<const float> b);
// Mean of squared norms of the rows (the error of quantizing everything to 0).
double mean_sq_norm(MatrixView<const float> a);
// Mean squared error of x through q: x against decode(encode(x)).
double mse(const Quantizer& q, MatrixView<const float> x);
// Mean of (x − y)ᵀ H (x − y) over the rows of two matrices of equal shape.
double metric_error(const Metric& h, MatrixView<const float> x, MatrixView<const float> y);

}  // namespace vq::testdata

namespace vq::testdata {

// Synthetic attention data for one layer, shaped like the KV cache sees it (T tokens,
// kv_heads × d keys/values, q_heads × d queries, q_heads a multiple of kv_heads).
// Per KV head: keys are topic centres (64 per head, weights rising toward the low-frequency
// RoPE pairs, where real models keep positional-robust content) plus token noise, plus four
// outlier channels with a large offset (the channel outliers KVQuant reports in LLM keys).
// Query t of head h points at the key of a random earlier token (its topic and part of its own
// noise), so attention is peaky with a tail; queries have no outlier offset and weight the
// low-frequency pairs far more than the high-frequency ones (queries are anisotropic: what
// query-aware codebooks exploit). post_rope: keys
// and queries are rotated at their positions (apply_rope, token t at position t); otherwise
// both are returned pre-RoPE.
struct KVSample {
  Matrix keys, queries, values;  // T × kv_heads·d, T × q_heads·d, T × kv_heads·d
};
KVSample kv_sample(size_t T, size_t kv_heads, size_t q_heads, size_t d, uint64_t seed,
                   bool post_rope);

}  // namespace vq::testdata

namespace vq::testdata {

// An AQ2x8d8 CompressedMatrix with random codes and codebooks (seeded): for timing the GEMV
// kernels, whose cost does not depend on the values.
weights::CompressedMatrix random_aq(size_t rows, size_t cols);

}  // namespace vq::testdata
