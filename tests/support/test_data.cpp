#include "test_data.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "vq/core/factory.h"
#include "vq/core/rng.h"
#include "vq/kv/rope.h"

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

std::unique_ptr<Quantizer> trained_quantizer(const std::string& spec, size_t dim, uint64_t seed, int iterations) {
  auto q = make_quantizer(spec, dim);
  TrainOptions options;
  options.seed = seed;
  options.iterations = iterations;
  q->train(clustered(1500, dim, seed, 16), options);
  return q;
}

Matrix manifold(size_t n, size_t d, uint64_t seed, size_t latent, float noise) {
  constexpr size_t kClusters = 32;
  Rng rng(seed);
  const auto gauss = [&](size_t count, double sigma) {
    std::vector<float> v(count);
    for (auto& e : v) e = static_cast<float>(sigma * rng.normal());
    return v;
  };
  const auto centres = gauss(kClusters * latent, 1.0);
  const auto p = gauss(d * latent, 1.0 / std::sqrt(double(latent)));
  const auto a = gauss(d * latent, 1.0 / std::sqrt(double(latent)));
  const auto b = gauss(d, 0.5);
  const auto mix = gauss(d * d, 1.0 / std::sqrt(double(d)));
  // Latent spreads fall as 1/(1+j): a few directions carry most of the variance, as in SIFT.
  std::vector<float> decay(latent);
  for (size_t j = 0; j < latent; ++j) decay[j] = 1.f / (1.f + float(j));
  Matrix x(n, d);
  std::vector<float> z(latent), h(d);
  for (size_t i = 0; i < n; ++i) {
    const float* c = &centres[rng.below(kClusters) * latent];
    for (size_t j = 0; j < latent; ++j)
      z[j] = (c[j] + 0.5f * static_cast<float>(rng.normal())) * decay[j];
    float* xi = x.row_ptr(i);
    for (size_t r = 0; r < d; ++r) {
      float lin = 0, pre = b[r];
      for (size_t j = 0; j < latent; ++j) {
        lin += p[r * latent + j] * z[j];
        pre += a[r * latent + j] * z[j];
      }
      xi[r] = lin;
      h[r] = std::tanh(pre);
    }
    for (size_t r = 0; r < d; ++r) {
      float s = 0;
      for (size_t j = 0; j < d; ++j) s += mix[r * d + j] * h[j];
      xi[r] += s + noise * static_cast<float>(rng.normal());
    }
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

namespace vq::testdata {

KVSample kv_sample(size_t T, size_t kv_heads, size_t q_heads, size_t d, uint64_t seed,
                   bool post_rope) {
  constexpr size_t kTopics = 64;
  Rng rng(seed);
  KVSample s{Matrix(T, kv_heads * d), Matrix(T, q_heads * d), Matrix(T, kv_heads * d)};
  const size_t group = q_heads / kv_heads, half = d / 2;
  std::vector<float> w(d), mu(kTopics * d), noise(T * d);
  std::vector<size_t> topic(T);
  std::vector<float> qw(d);
  for (size_t j = 0; j < d; ++j) {
    const float f = float(j % half) / float(half);  // 0: highest RoPE frequency, 1: lowest
    w[j] = 0.3f + 1.7f * f;
    qw[j] = 0.1f + 1.9f * f * f;  // queries read mostly the low-frequency pairs
  }
  const size_t outliers[4] = {1, half / 3, half + 5, d - 2};
  for (size_t h = 0; h < kv_heads; ++h) {
    for (size_t i = 0; i < mu.size(); ++i) mu[i] = float(rng.normal()) * w[i % d];
    for (size_t t = 0; t < T; ++t) {
      // Zipf-like topic popularity: a few topics recur often, most rarely.
      topic[t] = std::min<size_t>(kTopics - 1, size_t(std::pow(rng.uniform(), 2.0) * kTopics));
      float* k = s.keys.row_ptr(t) + h * d;
      for (size_t j = 0; j < d; ++j) {
        noise[t * d + j] = 0.6f * float(rng.normal()) * w[j];
        k[j] = mu[topic[t] * d + j] + noise[t * d + j];
      }
      for (size_t o : outliers) k[o] += 10.f + 5.f * float(rng.normal());
      float* v = s.values.row_ptr(t) + h * d;
      for (size_t j = 0; j < d; ++j) v[j] = float(rng.normal());
    }
    for (size_t t = 0; t < T; ++t)
      for (size_t g = 0; g < group; ++g) {
        const size_t target = rng.below(t + 1);
        float* q = s.queries.row_ptr(t) + (h * group + g) * d;
        for (size_t j = 0; j < d; ++j)
          q[j] = qw[j] * (0.5f * mu[topic[target] * d + j] + 0.8f * noise[target * d + j] +
                          0.3f * float(rng.normal()) * w[j]);
      }
  }
  if (post_rope)
    for (size_t t = 0; t < T; ++t) {
      for (size_t h = 0; h < kv_heads; ++h) kv::apply_rope(s.keys.row_ptr(t) + h * d, d, double(t));
      for (size_t h = 0; h < q_heads; ++h) kv::apply_rope(s.queries.row_ptr(t) + h * d, d, double(t));
    }
  return s;
}

}  // namespace vq::testdata

namespace vq::testdata {

weights::CompressedMatrix random_aq(size_t rows, size_t cols) {
  weights::CompressedMatrix cm;
  cm.scheme = weights::Scheme::parse("AQ2x8d8");
  cm.rows = rows;
  cm.cols = cols;
  Rng rng(3);
  cm.codes.resize(rows * cm.row_code_bytes());
  for (uint8_t& c : cm.codes) c = uint8_t(rng.below(256));
  cm.codebooks.resize(cm.codebook_floats());
  for (float& v : cm.codebooks) v = float(rng.normal());
  cm.scales.assign(rows, 0.01f);
  cm.group_begin = {0, uint32_t(rows)};
  cm.validate();
  return cm;
}

}  // namespace vq::testdata
