// RotatedQuantizer: a learned orthogonal rotation applied before any quantizer (OPQ, Ge et al.
// 2013, non-parametric form). Name grammar: the inner spec with option 'r<N>' (factory.h), e.g.
// "PQ16x8r8" = PQ16x8 on R·x with R learned in 8 alternations.
//
//   encode(x)  = inner.encode(R x)
//   decode(c)  = Rᵀ inner.decode(c)
//   tables(q)  = inner.lookup_tables(R q)   (qᵀx̂ = (Rq)ᵀŷ and ‖q − x̂‖ = ‖Rq − ŷ‖: exact)
//
// Why: a product quantizer splits dimensions into fixed sub-vectors and cannot see correlation
// across them; a rotation that balances and decorrelates the sub-vectors recovers most of it.
// Residual/additive quantizers are rotation-invariant in principle but their greedy encoders
// are not, so the stage applies to every family.
//
// Training alternates (N times): train the inner quantizer on R x; then, with ŷ its
// reconstructions, the orthogonal Procrustes update R = U Vᵀ from the SVD U S Vᵀ = Σ w_i ŷ_i x_iᵀ,
// which minimises Σ w_i ‖R x_i − ŷ_i‖² over orthogonal R; a final training on the last R gives
// the codebooks. R starts at the identity.
// Metric: the inner quantizer is trained under R H Rᵀ, so codes minimise (x − x̂)ᵀH(x − x̂)
// exactly as the inner family does; the Procrustes step itself minimises the plain L2 error
// (an orthogonal update under a general H has no closed form). For query-aware use, whitening
// first (H^{1/2}) is an alternative this class does not do.
#pragma once

#include <memory>

#include "vq/core/quantizer.h"

namespace vq {

class RotatedQuantizer : public Quantizer {
 public:
  // inner: untrained quantizer; iterations >= 1 OPQ alternations. Throws vq::Error otherwise.
  RotatedQuantizer(std::unique_ptr<Quantizer> inner, size_t iterations);

  std::string describe() const override;  // inner.describe() + "r<N>"
  size_t dim() const override { return inner_->dim(); }
  std::vector<uint8_t> book_bits() const override { return inner_->book_bits(); }
  bool is_trained() const override { return inner_->is_trained(); }
  const Metric& metric() const override { return metric_; }

  void train(MatrixView<const float> x, const TrainOptions& options) override;
  Codes encode(MatrixView<const float> x) const override;
  void decode(const Codes& codes, MatrixView<float> out) const override;
  using Quantizer::decode;

  bool has_lookup_tables() const override { return inner_->has_lookup_tables(); }
  LookupTable lookup_tables(Span<const float> query, SearchMetric metric) const override;

  // Chunk "ROTN" (u64 d, d·d f32 rotation row-major, the metric as Metric::serialize), then
  // the inner quantizer's chunks. Loading rejects a rotation that is not orthogonal (1e-3).
  void save_state(ContainerWriter& out) const override;
  void load_state(const ContainerReader& in) override;

  const Quantizer& inner() const { return *inner_; }
  size_t iterations() const { return iterations_; }
  // R, dim() × dim() row-major (identity before training).
  const std::vector<float>& rotation() const { return rotation_; }

 private:
  // out = x Rᵀ (rows rotated).
  Matrix rotate(MatrixView<const float> x) const;

  std::unique_ptr<Quantizer> inner_;
  size_t iterations_;
  std::vector<float> rotation_;
  Metric metric_;
};

}  // namespace vq
