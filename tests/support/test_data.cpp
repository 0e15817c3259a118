#include "test_data.h"

#include <cmath>
#include <vector>

#include "vq/core/rng.h"

namespace vq::testdata {
namespace {

// A random orthogonal d×d matrix (Gram–Schmidt on Gaussian columns), row-major.
std::vector<float> random_rotation(size_t d, Rng& rng) {
  std::vector<double> q(d * d);
  for (auto& v : q) v = rng.normal();
  for (size_t i = 0; i < d; ++i) {
    double* qi = &q[i * d];
    for (size_t j = 0; j < i; ++j) {
      const double* qj = &q[j * d];
      double p = 0;
      for (size_t t = 0; t < d; ++t) p += qi[t] * qj[t];
      for (size_t t = 0; t < d; ++t) qi[t] -= p * qj[t];
    }
    double nrm = 0;
    for (size_t t = 0; t < d; ++t) nrm += qi[t] * qi[t];
    nrm = std::sqrt(nrm);
    for (size_t t = 0; t < d; ++t) qi[t] /= nrm;
  }
  return {q.begin(), q.end()};
}

// out = R v for a row-major d×d R.
void rotate(const std::vector<float>& r, const float* v, float* out, size_t d) {
  for (size_t i = 0; i < d; ++i) {
    float s = 0;
    for (size_t j = 0; j < d; ++j) s += r[i * d + j] * v[j];
    out[i] = s;
  }
}

}  // namespace

Matrix gaussian(size_t n, size_t d, uint64_t seed, float sigma) {
  Rng rng(seed);
  Matrix x(n, d);
  for (auto& v : x.storage()) v = sigma * static_cast<float>(rng.normal());
  return x;
}

Matrix clustered(size_t n, size_t d, uint64_t seed, size_t clusters) {
  Rng rng(seed);
  const auto global = random_rotation(d, rng);
  Matrix centres(clusters, d);
  for (auto& v : centres.storage()) v = 4.f * static_cast<float>(rng.normal());
  std::vector<std::vector<float>> rotations;
  std::vector<float> scale(clusters);
  for (size_t c = 0; c < clusters; ++c) {
    rotations.push_back(random_rotation(d, rng));
    scale[c] = 0.5f + static_cast<float>(rng.uniform());
  }
  Matrix x(n, d);
  std::vector<float> z(d), y(d);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rng.below(clusters);
    for (size_t j = 0; j < d; ++j)
      z[j] = scale[c] * static_cast<float>(rng.normal()) / std::pow(1.f + j, 0.4f);
    rotate(rotations[c], z.data(), y.data(), d);
    for (size_t j = 0; j < d; ++j) y[j] += centres(c, j);
    rotate(global, y.data(), x.row_ptr(i), d);
  }
  return x;
}

Matrix correlated(size_t n, size_t d, uint64_t seed) {
  Rng rng(seed);
  const auto q = random_rotation(d, rng);
  Matrix x(n, d);
  std::vector<float> z(d);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) z[j] = static_cast<float>(rng.normal()) / std::sqrt(1.f + j);
    rotate(q, z.data(), x.row_ptr(i), d);
  }
  return x;
}

double mse(MatrixView<const float> a, MatrixView<const float> b) {
  VQ_CHECK(a.rows() == b.rows() && a.cols() == b.cols(), "mse: shape mismatch");
  double s = 0;
  for (size_t i = 0; i < a.rows(); ++i)
    for (size_t j = 0; j < a.cols(); ++j) {
      const double e = double(a(i, j)) - b(i, j);
      s += e * e;
    }
  return a.rows() ? s / a.rows() : 0.0;
}

double mean_sq_norm(MatrixView<const float> a) {
  double s = 0;
  for (size_t i = 0; i < a.rows(); ++i)
    for (size_t j = 0; j < a.cols(); ++j) s += double(a(i, j)) * a(i, j);
  return a.rows() ? s / a.rows() : 0.0;
}

double mse(const Quantizer& q, MatrixView<const float> x) {
  const Matrix xh = q.decode(q.encode(x));
  return mse(x, xh.view());
}

double metric_error(const Metric& h, MatrixView<const float> x, MatrixView<const float> y) {
  VQ_CHECK(x.rows() == y.rows() && x.cols() == y.cols(), "metric_error: shape mismatch");
  double s = 0;
  for (size_t i = 0; i < x.rows(); ++i) s += h.distance(x.row_ptr(i), y.row_ptr(i), x.cols());
  return x.rows() ? s / static_cast<double>(x.rows()) : 0.0;
}

}  // namespace vq::testdata
