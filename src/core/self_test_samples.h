// (internal API for domains) Choosing self-test samples: which of a model's own outputs it stores
// so that loading can encode them again and demand the stored codes (io.h "SELF", the audio
// model's "ATST").
//
// Candidates are points the model produced itself (decodes of random codes), so they lie in the
// range and scale of its data whatever the model. A point on a decision boundary could flip its
// codes under another SIMD level or BLAS (last-bit differences in distances), which would fail
// an honest file; so a candidate is kept only when its codes survive nudges: ±δ along two random
// directions, δ_j = step · u_j with u_j uniform in [−1, 1) (times |x_j| for a relative step),
// four encodes of every candidate. Kept points are then far from any boundary compared with
// rounding error.
#pragma once

#include <functional>
#include <vector>

#include "vq/core/rng.h"
#include "vq/types.h"

namespace vq::detail {

// Codes of every row of its argument (n × M, any M).
using EncodeRows = std::function<Codes(MatrixView<const float>)>;

// Indices of the candidate rows whose codes are unchanged by the nudges, ascending, at most
// `want`. Draws 2 · rows · cols uniforms from rng (so a caller's later draws stay reproducible);
// encode is called twice (the candidates, then all nudged copies at once).
std::vector<size_t> stable_rows(MatrixView<const float> candidates, size_t want, float step, bool relative, Rng& rng,
                                const EncodeRows& encode);

}  // namespace vq::detail
