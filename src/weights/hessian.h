// (private) The calibration H as the compressors use it: validated, dampened, and factored as
// H⁻¹ = UᵀU (U upper triangular), the factor GPTQ-style error feedback needs (compress.h).
#pragma once

#include <cstdint>
#include <vector>

#include "vq/types.h"

namespace vq::weights::detail {

struct PreparedHessian {
  size_t dim = 0;
  bool identity = true;   // no calibration: H = I, U = I, no error feedback
  std::vector<float> h;   // dampened H, dim × dim row-major (empty when identity)
  std::vector<float> u;   // U with H⁻¹ = UᵀU, upper triangular, dim × dim (empty when identity)
  float damp = 0.f;       // the dampening applied (relative, and absolute: lambda), for messages
  double lambda = 0.0;

  float h_at(size_t i, size_t j) const { return identity ? (i == j ? 1.f : 0.f) : h[i * dim + j]; }
  float u_at(size_t i, size_t j) const { return identity ? (i == j ? 1.f : 0.f) : u[i * dim + j]; }
};

// h: empty (identity) or dim × dim. Throws vq::Error for a wrong size, non-finite or
// non-symmetric entries, a negative diagonal, or (when factored) an H that is not positive
// definite after dampening (the message names damp). factor = false leaves u empty, for callers
// that only sweep a permuted copy (sweep_order factors that).
PreparedHessian prepare_hessian(Span<const float> h, size_t dim, float damp, bool factor = true);
// Computes u from the (dampened) h of out.
void factor_hessian(PreparedHessian& out);

// The order a GPTQ-style sweep visits the column blocks of `block` columns (dim % block == 0)
// in, and the H it sweeps with. With act_order (GPTQ's "desc_act") and a calibration H: blocks by
// their share of diag(H), largest first (ties keep their order), on H permuted to match and
// factored, so the inputs that matter most are quantized while every other column can still
// absorb their error. Otherwise the input order on h itself.
struct SweepOrder {
  std::vector<uint32_t> order;  // sweep block i is input block order[i]
  bool reordered = false;
  PreparedHessian permuted;     // H in the sweep's order (only when reordered)
  const PreparedHessian& hessian(const PreparedHessian& h) const { return reordered ? permuted : h; }
};
SweepOrder sweep_order(const PreparedHessian& h, size_t block, bool act_order);

}  // namespace vq::weights::detail
