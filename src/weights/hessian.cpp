#include "weights/hessian.h"

// GCC 12 reports a false -Wmaybe-uninitialized inside Eigen's AVX-512 kernels when they are
// inlined here (see src/CMakeLists.txt for the same case in the core).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Cholesky>
#include <Eigen/Dense>
#include <cmath>

namespace vq::weights::detail {

PreparedHessian prepare_hessian(Span<const float> h, size_t dim, float damp) {
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
  return out;
}

}  // namespace vq::weights::detail
