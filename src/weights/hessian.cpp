#include "weights/hessian.h"

// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 kernels when they are
// inlined here (see src/CMakeLists.txt for the same case in the core).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace vq::weights::detail {

PreparedHessian prepare_hessian(Span<const float> h, size_t dim, float damp, bool factor) {
  PreparedHessian out;
  out.dim = dim;
  if (h.empty()) return out;
  VQ_CHECK(h.size() == dim * dim, "compress: H has ", h.size(), " entries, expected cols² = ", dim * dim);
  VQ_CHECK(std::isfinite(damp) && damp >= 0.f, "compress: damp must be finite and >= 0, got ", damp);
  double max_diag = 0.0, sum_diag = 0.0;
  for (size_t i = 0; i < dim; ++i) {
    const float hii = h[i * dim + i];
    VQ_CHECK(std::isfinite(hii) && hii >= 0.f, "compress: H[", i, ",", i, "] = ", hii,
             " (a covariance has a finite, non-negative diagonal): H is not positive semi-definite");
    max_diag = std::max(max_diag, double(hii));
    sum_diag += hii;
  }
  VQ_CHECK(max_diag > 0.0, "compress: H is all zero (no calibration signal)");
  for (size_t i = 0; i < dim; ++i)
    for (size_t j = i + 1; j < dim; ++j) {
      const float a = h[i * dim + j], b = h[j * dim + i];
      VQ_CHECK(std::isfinite(a) && std::isfinite(b), "compress: H[", i, ",", j, "] is not finite");
      VQ_CHECK(std::fabs(a - b) <= 1e-4 * (std::fabs(a) + std::fabs(b)) + 1e-7 * max_diag,
               "compress: H is not symmetric: H[", i, ",", j, "] = ", a, " but H[", j, ",", i, "] = ", b);
    }
  // Dampening (GPTQ): a multiple of the mean diagonal, so it is scale-free. Dead inputs get a
  // unit diagonal: their weights never reach the output, and a zero row would make H singular.
  const double lambda = double(damp) * sum_diag / double(dim);
  out.identity = false;
  out.h.assign(h.begin(), h.end());
  for (size_t i = 0; i < dim; ++i) {
    float& hii = out.h[i * dim + i];
    hii = hii == 0.f ? 1.f : float(hii + lambda);
  }
  out.damp = damp;
  out.lambda = lambda;
  if (factor) factor_hessian(out);
  return out;
}

void factor_hessian(PreparedHessian& out) {
  const size_t dim = out.dim;
  const float damp = out.damp;
  const double lambda = out.lambda;
  // H = V Vᵀ with V upper triangular is the Cholesky factor of H with the index order reversed;
  // then H⁻¹ = V⁻ᵀV⁻¹ = UᵀU with U = V⁻¹. Done in double: U's small entries steer the feedback.
  Eigen::MatrixXd flipped(dim, dim);
  for (size_t i = 0; i < dim; ++i)
    for (size_t j = 0; j < dim; ++j)
      flipped(Eigen::Index(i), Eigen::Index(j)) = 0.5 * (double(out.h[(dim - 1 - i) * dim + (dim - 1 - j)]) +
                                                         double(out.h[(dim - 1 - j) * dim + (dim - 1 - i)]));
  Eigen::LLT<Eigen::MatrixXd> llt(flipped);
  VQ_CHECK(llt.info() == Eigen::Success, "compress: H is not positive definite after dampening ",
           "(damp = ", damp, ", i.e. ", lambda, " added to the diagonal): H is singular or indefinite; ",
           "raise the dampening or check the calibration inputs");
  const Eigen::MatrixXd l = llt.matrixL();
  const Eigen::MatrixXd l_inv = l.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(l.rows(), l.cols()));
  out.u.assign(dim * dim, 0.f);
  for (size_t i = 0; i < dim; ++i)
    for (size_t j = i; j < dim; ++j) {
      const double v = l_inv(Eigen::Index(dim - 1 - i), Eigen::Index(dim - 1 - j));
      VQ_CHECK(std::isfinite(v), "compress: H is numerically singular (damp = ", damp, "); raise the dampening");
      out.u[i * dim + j] = float(v);
    }
}

SweepOrder sweep_order(const PreparedHessian& h, size_t block, bool act_order) {
  const size_t dim = h.dim, blocks = dim / block;
  SweepOrder out;
  out.order.resize(blocks);
  std::iota(out.order.begin(), out.order.end(), 0u);
  if (!act_order || h.identity) return out;
  std::vector<double> weight(blocks, 0.0);
  for (size_t b = 0; b < blocks; ++b)
    for (size_t t = 0; t < block; ++t) weight[b] += h.h[(b * block + t) * (dim + 1)];
  std::stable_sort(out.order.begin(), out.order.end(), [&](uint32_t a, uint32_t b) { return weight[a] > weight[b]; });
  out.reordered = true;
  PreparedHessian& p = out.permuted;
  p.dim = dim;
  p.identity = false;
  p.damp = h.damp;
  p.lambda = h.lambda;
  p.h.resize(dim * dim);
  for (size_t i = 0; i < dim; ++i) {
    const size_t oi = out.order[i / block] * block + i % block;
    for (size_t j = 0; j < dim; ++j) p.h[i * dim + j] = h.h[oi * dim + out.order[j / block] * block + j % block];
  }
  factor_hessian(p);
  return out;
}

}  // namespace vq::weights::detail
