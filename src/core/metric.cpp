#include "vq/core/metric.h"

#include <cblas.h>

// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 reductions
// (_mm512_extractf64x4_pd on an intentionally undefined register) under -march=native; the
// warning is attributed to the intrinsics header, so it is silenced before Eigen is included.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "vq/core/container.h"

namespace vq {

namespace {

// Relative tolerances of the header's contract.
constexpr double kSymmetryTol = 1e-4;     // |H_ij − H_ji| <= tol · max|H|
constexpr double kEigenFloor = 1e-6;      // eigenvalues below floor · λmax count as zero
// A full H of this dimension is 256 MiB of floats: beyond any real layer or head, and a cap
// that keeps deserialize() from allocating what a corrupt length asks for.
constexpr uint64_t kMaxFullDim = 4096 * 2;
// Rows of samples accumulated per rank-k update in from_samples (bounded scratch, double sums).
constexpr size_t kSampleBlock = 256;

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float f) { return std::isfinite(f); });
}

void check_whitened_range(MatrixView<const float> w, const char* who) {
  // Encoders compare whitened squared norms in float: a row beyond float range there would leave
  // every distance inf or NaN and no nearest entry, so it is refused here, where all metrics meet.
  for (size_t i = 0; i < w.rows(); ++i) {
    double norm2 = 0;
    const float* row = w.row_ptr(i);
    for (size_t j = 0; j < w.cols(); ++j) norm2 += double(row[j]) * row[j];
    VQ_CHECK(norm2 < double(std::numeric_limits<float>::max()), who, ": row ", i,
             " has a squared norm beyond float range once the metric is applied (",
             norm2, "); scale the input or the metric down");
  }
}

}  // namespace

Metric Metric::diagonal(std::vector<float> h) {
  VQ_CHECK(!h.empty(), "Metric::diagonal: h is empty");
  VQ_CHECK(all_finite(h), "Metric::diagonal: h has non-finite entries");
  for (size_t j = 0; j < h.size(); ++j)
    VQ_CHECK(h[j] >= 0.f, "Metric::diagonal: h[", j, "] = ", h[j], " is negative");
  VQ_CHECK(std::any_of(h.begin(), h.end(), [](float f) { return f > 0.f; }),
           "Metric::diagonal: h is all zero");
  Metric m;
  m.kind_ = Kind::kDiagonal;
  m.dim_ = m.rank_ = h.size();
  m.factor_.resize(h.size());
  for (size_t j = 0; j < h.size(); ++j) m.factor_[j] = std::sqrt(h[j]);
  m.h_ = std::move(h);
  return m;
}

Metric Metric::full(std::vector<float> h, size_t d) {
  VQ_CHECK(d > 0, "Metric::full: d must be > 0");
  VQ_CHECK(d <= kMaxFullDim, "Metric::full: d = ", d, " exceeds the limit ", kMaxFullDim);
  VQ_CHECK(h.size() == d * d, "Metric::full: H has ", h.size(), " entries, expected d*d = ", d * d);
  VQ_CHECK(all_finite(h), "Metric::full: H has non-finite entries");

  float max_abs = 0.f;
  for (float v : h) max_abs = std::max(max_abs, std::abs(v));
  VQ_CHECK(max_abs > 0.f, "Metric::full: H is all zero");
  Eigen::MatrixXd hd(d, d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      const double a = h[i * d + j], b = h[j * d + i];
      VQ_CHECK(std::abs(a - b) <= kSymmetryTol * max_abs, "Metric::full: H is not symmetric: H[",
               i, ",", j, "] = ", a, " vs H[", j, ",", i, "] = ", b);
      hd(i, j) = 0.5 * (a + b);  // exact symmetry for the eigensolver
    }

  // Eigen-decomposition rather than Cholesky: it handles singular H (rank r < d) and gives
  // the rank directly. H = V Λ Vᵀ = L Lᵀ with L = V_r Λ_r^{1/2}.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(hd);
  VQ_CHECK(eig.info() == Eigen::Success, "Metric::full: eigendecomposition failed");
  const Eigen::VectorXd& lambda = eig.eigenvalues();  // ascending
  const double lmax = lambda(d - 1);
  VQ_CHECK(lmax > 0.0, "Metric::full: H has no positive eigenvalue");
  VQ_CHECK(lambda(0) >= -kEigenFloor * lmax, "Metric::full: H is not positive semi-definite (eigenvalue ",
           lambda(0), ", largest ", lmax, ")");

  Metric m;
  m.kind_ = Kind::kFull;
  m.dim_ = d;
  // Largest eigenvalues first, so the leading whitened coordinates carry the most weight.
  for (size_t e = d; e-- > 0;) {
    if (lambda(e) <= kEigenFloor * lmax) break;
    const double s = std::sqrt(lambda(e));
    for (size_t j = 0; j < d; ++j) m.factor_.push_back(static_cast<float>(s * eig.eigenvectors()(j, e)));
    ++m.rank_;
  }
  m.h_ = std::move(h);
  return m;
}

Metric Metric::from_samples(MatrixView<const float> samples, float damp) {
  const size_t n = samples.rows(), d = samples.cols();
  VQ_CHECK(n > 0 && d > 0, "Metric::from_samples: samples are empty (", n, "×", d, ")");
  VQ_CHECK(std::isfinite(damp) && damp >= 0.f, "Metric::from_samples: damp = ", damp, " must be >= 0");
  VQ_CHECK(d <= kMaxFullDim, "Metric::from_samples: d = ", d, " exceeds the limit ", kMaxFullDim);
  // Blocks of rows are widened to double and accumulated with dsyrk: a float sum over 10⁵+
  // calibration rows would lose the small eigenvalues that decide the rank.
  std::vector<double> acc(d * d, 0.0), block(kSampleBlock * d);
  for (size_t b = 0; b < n; b += kSampleBlock) {
    const size_t rows = std::min(kSampleBlock, n - b);
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < d; ++j) {
        const float v = samples(b + i, j);
        VQ_CHECK(std::isfinite(v), "Metric::from_samples: sample ", b + i, " has a non-finite value");
        block[i * d + j] = v;
      }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(d), static_cast<int>(rows),
                1.0, block.data(), static_cast<int>(d), 1.0, acc.data(), static_cast<int>(d));
  }
  double mean_diag = 0.0;
  for (size_t j = 0; j < d; ++j) mean_diag += acc[j * d + j] / static_cast<double>(n);
  mean_diag /= static_cast<double>(d);
  std::vector<float> h(d * d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = i; j < d; ++j) {
      double v = acc[i * d + j] / static_cast<double>(n);
      if (i == j) v += damp * mean_diag;
      h[i * d + j] = h[j * d + i] = static_cast<float>(v);
    }
  return full(std::move(h), d);
}

void Metric::check_dim(size_t d, const char* who) const {
  VQ_CHECK(kind_ == Kind::kIdentity || d == dim_, who, ": metric ", describe(),
           " does not apply to vectors of dimension ", d);
}

float Metric::norm2(const float* v, size_t d) const {
  check_dim(d, "Metric::norm2");
  double s = 0.0;
  switch (kind_) {
    case Kind::kIdentity:
      for (size_t j = 0; j < d; ++j) s += double(v[j]) * v[j];
      break;
    case Kind::kDiagonal:
      for (size_t j = 0; j < d; ++j) s += double(h_[j]) * v[j] * v[j];
      break;
    case Kind::kFull:
      // Through the factor: ||Lᵀv||² costs r·d, never more than vᵀHv's d², and is >= 0 by
      // construction even when H has clamped negative eigenvalues.
      for (size_t r = 0; r < rank_; ++r) {
        const float* f = factor_.data() + r * d;
        double t = 0.0;
        for (size_t j = 0; j < d; ++j) t += double(f[j]) * v[j];
        s += t * t;
      }
      break;
  }
  return static_cast<float>(s);
}

float Metric::distance(const float* a, const float* b, size_t d) const {
  std::vector<float> diff(d);
  for (size_t j = 0; j < d; ++j) diff[j] = a[j] - b[j];
  return norm2(diff.data(), d);
}

Matrix Metric::whiten(MatrixView<const float> x) const {
  const size_t n = x.rows(), d = x.cols();
  check_dim(d, "Metric::whiten");
  Matrix out(n, whitened_dim(d));
  if (n == 0) return out;
  switch (kind_) {
    case Kind::kIdentity:
      for (size_t i = 0; i < n; ++i) std::memcpy(out.row_ptr(i), x.row_ptr(i), d * sizeof(float));
      break;
    case Kind::kDiagonal:
      for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < d; ++j) out(i, j) = x(i, j) * factor_[j];
      break;
    case Kind::kFull:
      // out (n×r) = X (n×d) · L (d×r), L = (Lᵀ)ᵀ with Lᵀ stored r×d row-major.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(rank_),
                  static_cast<int>(d), 1.f, x.data(), static_cast<int>(x.stride()), factor_.data(),
                  static_cast<int>(d), 0.f, out.data(), static_cast<int>(rank_));
      break;
  }
  if (kind_ != Kind::kIdentity) check_whitened_range(out.view(), "Metric::whiten");
  return out;
}


Metric Metric::block(size_t offset, size_t len) const {
  VQ_CHECK(len > 0, "Metric::block: len must be > 0");
  if (kind_ == Kind::kIdentity) return Metric();
  VQ_CHECK(offset <= dim_ && len <= dim_ - offset, "Metric::block: [", offset, ", ", offset + len,
           ") is outside dimension ", dim_);
  if (kind_ == Kind::kDiagonal)
    return diagonal(std::vector<float>(h_.begin() + offset, h_.begin() + offset + len));
  std::vector<float> sub(len * len);
  for (size_t i = 0; i < len; ++i)
    for (size_t j = 0; j < len; ++j) sub[i * len + j] = h_[(offset + i) * dim_ + offset + j];
  return full(std::move(sub), len);
}

std::string Metric::describe() const {
  switch (kind_) {
    case Kind::kIdentity:
      return "identity";
    case Kind::kDiagonal:
      return "diagonal(d=" + std::to_string(dim_) + ")";
    case Kind::kFull:
      return "full(d=" + std::to_string(dim_) + ",rank=" + std::to_string(rank_) + ")";
  }
  return "unknown";
}

std::vector<uint8_t> Metric::serialize() const {
  ByteWriter w;
  w.u8(static_cast<uint8_t>(kind_));
  w.u64(dim_);
  w.f32s(h_);
  return w.take();
}

Metric Metric::deserialize(Span<const uint8_t> bytes) {
  ByteReader r(bytes, "metric");
  const uint8_t kind = r.u8();
  // d is bounded before it is squared, and the float count is checked against the bytes left
  // (by f32s) before anything is allocated.
  const uint64_t d = r.count(kMaxFullDim * kMaxFullDim, "metric dimension");
  Metric m;
  switch (kind) {
    case uint8_t(Kind::kIdentity):
      VQ_CHECK(d == 0, "Metric::deserialize: identity metric with d = ", d);
      break;
    case uint8_t(Kind::kDiagonal):
      m = diagonal(r.f32s(d));
      break;
    case uint8_t(Kind::kFull):
      VQ_CHECK(d <= kMaxFullDim, "Metric::deserialize: full metric d = ", d, " exceeds the limit ", kMaxFullDim);
      m = full(r.f32s(d * d), d);
      break;
    default:
      VQ_THROW("Metric::deserialize: unknown kind ", int(kind));
  }
  r.expect_end();
  return m;
}

}  // namespace vq
