#include "vq/core/rotated_quantizer.h"

#include <cblas.h>

// GCC 12's false -Wmaybe-uninitialized inside Eigen's AVX-512 code (see metric.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#include <cmath>

#include "vq/core/container.h"

namespace vq {
namespace {

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr float kOrthogonalityTolerance = 1e-3f;

std::vector<float> identity(size_t d) {
  std::vector<float> r(d * d, 0.f);
  for (size_t i = 0; i < d; ++i) r[i * d + i] = 1.f;
  return r;
}

// R H Rᵀ: the metric seen by the inner quantizer in the rotated coordinates.
Metric rotated_metric(const Metric& m, const std::vector<float>& rot, size_t d) {
  if (m.is_identity()) return m;
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> R(
      rot.data(), Eigen::Index(d), Eigen::Index(d));
  RowMatrixD H = RowMatrixD::Zero(Eigen::Index(d), Eigen::Index(d));
  const std::vector<float>& h = m.values();
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      H(Eigen::Index(i), Eigen::Index(j)) =
          m.kind() == Metric::Kind::kDiagonal ? (i == j ? h[i] : 0.0) : double(h[i * d + j]);
  const RowMatrixD Rd = R.cast<double>();
  RowMatrixD G = Rd * H * Rd.transpose();
  G = (G + G.transpose()) * 0.5;  // exactly symmetric for Metric::full's check
  std::vector<float> g(d * d);
  for (size_t i = 0; i < d * d; ++i) g[i] = static_cast<float>(G.data()[i]);
  return Metric::full(std::move(g), d);
}

// max |R Rᵀ − I|.
float orthogonality_error(const std::vector<float>& rot, size_t d) {
  float worst = 0.f;
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      double dot = 0;
      for (size_t k = 0; k < d; ++k) dot += double(rot[i * d + k]) * rot[j * d + k];
      worst = std::max(worst, float(std::abs(dot - (i == j ? 1.0 : 0.0))));
    }
  return worst;
}

}  // namespace

RotatedQuantizer::RotatedQuantizer(std::unique_ptr<Quantizer> inner, size_t iterations)
    : inner_(std::move(inner)), iterations_(iterations) {
  VQ_CHECK(inner_ != nullptr, "RotatedQuantizer: no inner quantizer");
  VQ_CHECK(iterations_ >= 1, "RotatedQuantizer: iterations must be >= 1");
  rotation_ = identity(inner_->dim());
}

std::string RotatedQuantizer::describe() const {
  return inner_->describe() + "r" + std::to_string(iterations_);
}

Matrix RotatedQuantizer::rotate(MatrixView<const float> x) const {
  const size_t d = dim();
  Matrix out(x.rows(), d);
  if (x.rows() == 0) return out;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(x.rows()), int(d), int(d), 1.f, x.data(),
              int(x.stride()), rotation_.data(), int(d), 0.f, out.data(), int(d));
  return out;
}

void RotatedQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  check_train_input(x, options);
  const size_t d = dim(), n = x.rows();
  rotation_ = identity(d);
  for (size_t it = 0; it < iterations_; ++it) {
    TrainOptions o = options;
    o.metric = rotated_metric(options.metric, rotation_, d);
    o.seed = options.seed + it;
    o.progress = nullptr;
    const Matrix y = rotate(x);
    inner_->train(y.view(), o);
    const Matrix yhat = inner_->decode(inner_->encode(y.view()));
    // Procrustes: C = Σ w_i ŷ_i x_iᵀ = U S Vᵀ  →  R = U Vᵀ.
    RowMatrixD C = RowMatrixD::Zero(Eigen::Index(d), Eigen::Index(d));
    for (size_t i = 0; i < n; ++i) {
      const double w = options.weights.empty() ? 1.0 : double(options.weights[i]);
      const Eigen::Map<const Eigen::VectorXf> yi(yhat.row_ptr(i), Eigen::Index(d));
      const Eigen::Map<const Eigen::VectorXf> xi(x.row_ptr(i), Eigen::Index(d));
      C.noalias() += w * yi.cast<double>() * xi.cast<double>().transpose();
    }
    const Eigen::JacobiSVD<RowMatrixD> svd(C, Eigen::ComputeFullU | Eigen::ComputeFullV);
    const RowMatrixD R = svd.matrixU() * svd.matrixV().transpose();
    for (size_t i = 0; i < d * d; ++i) rotation_[i] = static_cast<float>(R.data()[i]);
  }
  TrainOptions o = options;
  o.metric = rotated_metric(options.metric, rotation_, d);
  inner_->train(rotate(x).view(), o);
  metric_ = options.metric;
}

Codes RotatedQuantizer::encode(MatrixView<const float> x) const {
  check_input(x, "encode");
  return inner_->encode(rotate(x).view());
}

void RotatedQuantizer::decode(const Codes& codes, MatrixView<float> out) const {
  check_output(codes, out, "decode");
  const size_t d = dim();
  const Matrix y = inner_->decode(codes);
  if (codes.n == 0) return;
  // x̂ = ŷ R (rows): out = y · R.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(codes.n), int(d), int(d), 1.f, y.data(), int(d),
              rotation_.data(), int(d), 0.f, out.data(), int(out.stride()));
}

LookupTable RotatedQuantizer::lookup_tables(Span<const float> query, SearchMetric metric) const {
  check_trained("lookup_tables");
  const size_t d = dim();
  VQ_CHECK(query.size() == d, describe(), "::lookup_tables: query has ", query.size(),
           " values, quantizer dimension is ", d);
  check_input(MatrixView<const float>(query.data(), 1, d), "lookup_tables");  // finite, norm in range
  std::vector<float> rq(d);
  cblas_sgemv(CblasRowMajor, CblasNoTrans, int(d), int(d), 1.f, rotation_.data(), int(d), query.data(), 1, 0.f,
              rq.data(), 1);
  return inner_->lookup_tables(rq, metric);
}

void RotatedQuantizer::save_state(ContainerWriter& out) const {
  check_trained("save_state");
  ByteWriter w;
  w.u64(dim());
  w.f32s(rotation_);
  const std::vector<uint8_t> m = metric_.serialize();
  w.u64(m.size());
  w.raw(m);
  out.add("ROTN", w.take());
  inner_->save_state(out);
}

void RotatedQuantizer::load_state(const ContainerReader& in) {
  const size_t d = dim();
  ByteReader r = in.chunk("ROTN");
  const uint64_t rd = r.u64();
  VQ_CHECK(rd == d, r.context(), ": rotation of dimension ", rd, ", quantizer dimension is ", d);
  std::vector<float> rot = r.f32s(d * d);
  for (size_t i = 0; i < rot.size(); ++i)
    VQ_CHECK(std::isfinite(rot[i]), r.context(), ": non-finite rotation entry ", i);
  const float err = orthogonality_error(rot, d);
  VQ_CHECK(err <= kOrthogonalityTolerance, r.context(), ": rotation is not orthogonal (max |R Rᵀ − I| = ", err,
           ")");
  const uint64_t mlen = r.count(r.remaining(), "metric bytes");
  Metric metric = Metric::deserialize(r.raw(mlen));
  r.expect_end();
  metric.check_dim(d, "load_state");
  inner_->load_state(in);
  rotation_ = std::move(rot);
  metric_ = std::move(metric);
}

}  // namespace vq
