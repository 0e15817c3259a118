// ProductQuantizer: dim() split into M equal sub-vectors, one codebook each ("PQ<M>x<bits>").
//
//   books()      M Codebooks; book m has offset m * sub_dim(), dim sub_dim(),
//                entries (1 << bits) × sub_dim()
//   encode(x)    x: n × dim() floats -> Codes n × M; column m is the index of sub-vector m
//
// Metric. Identity and diagonal H separate over sub-vectors, so PQ is exact under them. Under a
// full H each sub-vector is trained and encoded with its diagonal block H_mm (Metric::block):
// the cross-block terms 2 (x_a − x̂_a)ᵀ H_ab (x_b − x̂_b) are ignored, because PQ chooses each
// sub-code independently and cannot account for them. For a strongly coupled H use
// ResidualQuantizer or AdditiveQuantizer, whose books span the whole vector.
#pragma once

#include "vq/core/codebook_quantizer.h"

namespace vq {

class ProductQuantizer : public CodebookQuantizer {
 public:
  // dim >= 1, M >= 1, dim % M == 0, 1 <= bits <= 16. Throws vq::Error otherwise.
  ProductQuantizer(size_t dim, size_t M, uint8_t bits);

  std::string describe() const override;  // "PQ<M>x<bits>", e.g. "PQ16x8"
  size_t num_subquantizers() const { return m_; }
  size_t sub_dim() const { return dim() / m_; }
  uint8_t bits() const { return bits_; }

  // x: n × dim() with n >= 2^bits. Each sub-space runs its own k-means (seed options.seed + m).
  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  Codes encode(MatrixView<const float> x) const override;

 private:
  size_t m_;
  uint8_t bits_;
};

}  // namespace vq
