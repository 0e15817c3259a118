// Seeded synthetic data for tests and benchmarks. No real corpora can be downloaded here, so
// these generators imitate the structure that matters to quantizers: clustered, anisotropic,
// correlated vectors (like SIFT or LLM activations), plus a plain Gaussian source whose
// distortion-rate bound is known analytically.
#pragma once

#include <cstdint>

#include "vq/core/metric.h"
#include "vq/core/quantizer.h"
#include "vq/core/types.h"

namespace vq::testdata {

// n × d i.i.d. N(0, sigma²).
Matrix gaussian(size_t n, size_t d, uint64_t seed, float sigma = 1.f);

// n × d vectors from a mixture of `clusters` anisotropic Gaussians: random centres (scale 4),
// per-cluster covariance = random rotation of variances decaying as 1/(1+j)^0.8, then a global
// random rotation so dimensions are correlated. A stand-in for real descriptor / embedding data.
Matrix clustered(size_t n, size_t d, uint64_t seed, size_t clusters = 64);

// n × d Gaussian vectors with covariance Q diag(λ) Qᵀ, λ_j = 1/(1+j) (a "spectrum" source).
Matrix correlated(size_t n, size_t d, uint64_t seed);

// Mean squared error per vector (sum over dims / n) between two matrices of equal shape.
double mse(MatrixView<const float> a, MatrixView<const float> b);
// Mean of squared norms of the rows (the error of quantizing everything to 0).
double mean_sq_norm(MatrixView<const float> a);
// Mean squared error of x through q: x against decode(encode(x)).
double mse(const Quantizer& q, MatrixView<const float> x);
// Mean of (x − y)ᵀ H (x − y) over the rows of two matrices of equal shape.
double metric_error(const Metric& h, MatrixView<const float> x, MatrixView<const float> y);

}  // namespace vq::testdata
