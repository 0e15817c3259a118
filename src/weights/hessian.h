// (private) The calibration H as the compressors use it: validated, dampened, and factored as
// H⁻¹ = UᵀU (U upper triangular), the factor GPTQ-style error feedback needs (compress.h).
#pragma once

#include <vector>

#include "vq/core/types.h"

namespace vq::weights::detail {

struct PreparedHessian {
  size_t dim = 0;
  bool identity = true;   // no calibration: H = I, U = I, no error feedback
  std::vector<float> h;   // dampened H, dim × dim row-major (empty when identity)
  std::vector<float> u;   // U with H⁻¹ = UᵀU, upper triangular, dim × dim (empty when identity)

  float h_at(size_t i, size_t j) const { return identity ? (i == j ? 1.f : 0.f) : h[i * dim + j]; }
  float u_at(size_t i, size_t j) const { return identity ? (i == j ? 1.f : 0.f) : u[i * dim + j]; }
};

// h: empty (identity) or dim × dim. Throws vq::Error for a wrong size, non-finite or
// non-symmetric entries, a negative diagonal, or an H that is not positive definite after
// dampening (the message names damp).
PreparedHessian prepare_hessian(Span<const float> h, size_t dim, float damp);

}  // namespace vq::weights::detail
