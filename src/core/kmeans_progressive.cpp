// Progressive-dimension k-means (declared in vq/core/kmeans.h): k-means on the leading principal
// coordinates, the number of coordinates growing geometrically from step to step.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

// GCC 12's false -Wmaybe-uninitialized inside Eigen's AVX-512 code (see metric.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include "core/kmeans_internal.h"
#include "vq/core/kmeans.h"
#include "vq/core/rng.h"

namespace vq {

namespace {

// The principal axes come from at most this many of the kept rows (all of them for books of up
// to 256 entries at FAISS's 256 rows per entry), gathered on every rank.
constexpr size_t kAxesRows = 65536;
constexpr uint64_t kAxesStream = 0xa7e5u;

struct Rows {
  Matrix x;
  std::vector<float> w;  // empty: unweighted
  RowRange kept;         // where this rank's rows sit among all ranks' kept rows
};

// This rank's rows that kmeans() would keep, copied.
Rows subsample(MatrixView<const float> x, const KMeansOptions& o, const RowRange& input) {
  const size_t n = x.rows(), d = x.cols();
  const detail::Subsample kept = detail::kmeans_subsample(input, n, o);
  std::vector<size_t> rows = kept.local;
  if (kept.all) {
    rows.resize(n);
    for (size_t i = 0; i < n; ++i) rows[i] = i;
  }
  Rows r;
  r.kept = kept.kept;
  r.x = Matrix(rows.size(), d);
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(r.x.row_ptr(i), x.row_ptr(rows[i]), d * sizeof(float));
  if (!o.weights.empty())
    for (size_t i : rows) r.w.push_back(o.weights[i]);
  return r;
}

// The weighted mean (returned) and the principal axes, largest variance first, of the kept rows
// of all ranks (up to kAxesRows of them): `axes` receives the d × d rotation whose column e is
// axis e. Every rank computes them from the same gathered rows, so every rank count gets
// bitwise the axes of one process.
std::vector<float> principal_axes(const Communicator& comm, const Rows& rows, uint64_t seed, Matrix& axes) {
  std::vector<size_t> picked;
  if (rows.kept.total > kAxesRows) {
    picked = sample_without_replacement(rows.kept.total, kAxesRows, seed ^ kAxesStream);
  } else {
    picked.resize(rows.kept.total);
    for (size_t i = 0; i < picked.size(); ++i) picked[i] = i;
  }
  const detail::GatheredRows g = detail::allgather_rows(
      comm, rows.x.view(), rows.w, detail::local_positions(picked, rows.kept.offset, rows.x.rows()));
  const size_t n = g.x.rows(), d = g.x.cols();
  std::vector<double> mean(d, 0.0);
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    total += g.w[i];
    for (size_t j = 0; j < d; ++j) mean[j] += double(g.w[i]) * g.x(i, j);
  }
  std::vector<float> mu(d);
  for (size_t j = 0; j < d; ++j) mu[j] = static_cast<float>(mean[j] / total);
  // √w-scaled centred rows: their Gram matrix is the weighted covariance (up to 1/total, which
  // changes no axis).
  Matrix scaled(n, d);
  for (size_t i = 0; i < n; ++i) {
    const float s = std::sqrt(g.w[i]);
    for (size_t j = 0; j < d; ++j) scaled(i, j) = s * (g.x(i, j) - mu[j]);
  }
  std::vector<float> cov(d * d, 0.f);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(d), int(n), 1.f, scaled.data(), int(d), 0.f, cov.data(),
              int(d));
  Eigen::MatrixXd c(d, d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = i; j < d; ++j) c(i, j) = c(j, i) = cov[i * d + j];
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(c);
  VQ_CHECK(eig.info() == Eigen::Success, "kmeans_progressive: eigendecomposition of the covariance failed");
  axes = Matrix(d, d);
  for (size_t j = 0; j < d; ++j)
    for (size_t e = 0; e < d; ++e) axes(j, e) = static_cast<float>(eig.eigenvectors()(j, d - 1 - e));  // ascending → descending
  return mu;
}

// x ← (x − μ) · axes: this rank's rows in principal coordinates.
void rotate(Matrix& x, const std::vector<float>& mu, const Matrix& axes) {
  const size_t n = x.rows(), d = x.cols();
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) x(i, j) -= mu[j];
  Matrix rotated(n, d);
  if (n > 0)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n), int(d), int(d), 1.f, x.data(), int(d),
                axes.data(), int(d), 0.f, rotated.data(), int(d));
  x = std::move(rotated);
}

}  // namespace

KMeansResult kmeans_progressive(MatrixView<const float> x, const KMeansOptions& options, int steps) {
  VQ_CHECK(steps >= 1, "kmeans_progressive: steps = ", steps, " must be >= 1");
  VQ_CHECK(options.metric.is_identity(), "kmeans_progressive: only the identity metric is supported");
  VQ_CHECK(options.initial_centroids.empty(), "kmeans_progressive: initial centroids are not supported");
  const RowRange input =
      detail::check_kmeans_input(x, options, options.threads > 0 ? options.threads : omp_get_max_threads());
  const size_t d = x.cols(), k = options.k;
  Rows rows = subsample(x, options, input);
  Matrix axes;
  const std::vector<float> mu = principal_axes(detail::communicator(options), rows, options.seed, axes);
  rotate(rows.x, mu, axes);

  // The leading coordinates of each step: d^((s+1)/steps), the last d, repeats dropped.
  std::vector<size_t> dims;
  for (int s = 0; s < steps; ++s) {
    const size_t di =
        s + 1 == steps ? d : std::clamp<size_t>(size_t(std::pow(double(d), double(s + 1) / steps)), 1, d);
    if (dims.empty() || di > dims.back()) dims.push_back(di);
  }

  KMeansOptions step = options;
  step.max_points_per_centroid = 0;  // subsampled above
  step.weights = rows.w;
  KMeansResult result;
  Matrix start;
  std::vector<KMeansIterationStats> stats;
  size_t previous = 0;
  for (const size_t di : dims) {
    if (previous > 0) {
      start = Matrix(k, di);  // the previous centroids, zero in the new coordinates
      for (size_t c = 0; c < k; ++c) std::memcpy(start.row_ptr(c), result.centroids.row_ptr(c), previous * sizeof(float));
      step.initial_centroids = start.view();
    }
    if (options.progress) {
      const size_t done = stats.size(), total = size_t(options.iterations) * dims.size();
      step.progress = [&, done, total](const ProgressEvent& e) {
        options.progress(ProgressEvent{e.stage, done + e.step, total, e.objective, e.perplexity});
      };
    }
    result = kmeans(MatrixView<const float>(rows.x.data(), rows.x.rows(), di, d), step);
    for (KMeansIterationStats st : result.stats) {
      st.iteration = int(stats.size());
      stats.push_back(st);
    }
    previous = di;
  }
  // Back to the original coordinates: c = c_rot · axesᵀ + μ.
  Matrix centroids(k, d);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(k), int(d), int(d), 1.f, result.centroids.data(), int(d),
              axes.data(), int(d), 0.f, centroids.data(), int(d));
  for (size_t c = 0; c < k; ++c)
    for (size_t j = 0; j < d; ++j) centroids(c, j) += mu[j];
  result.centroids = std::move(centroids);
  result.stats = std::move(stats);
  return result;
}

}  // namespace vq
