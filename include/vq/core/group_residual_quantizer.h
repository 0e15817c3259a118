// GroupResidualQuantizer (GRVQ, HiFi-Codec style): dim() split into G equal groups of
// dimensions, an independent ResidualQuantizer in each ("GRVQ<G>x<L>x<bits>[b<B>]").
//
//   books()      G × L Codebooks, group-major: books()[g * L + l] is level l of group g, with
//                offset g * group_dim(), dim group_dim(), entries (1 << bits) × group_dim()
//   encode(x)    x: n × dim() floats -> Codes n × (G·L); columns [g·L, (g+1)·L) are group g's
//                RVQ codes
//
// Composition, no new math: training and encoding are ResidualQuantizer's, run on the column
// slice of each group. Metric: as in ProductQuantizer, each group uses the diagonal block of H
// (Metric::block); under a full H the cross-group terms are ignored.
#pragma once

#include "vq/core/codebook_quantizer.h"

namespace vq {

class GroupResidualQuantizer : public CodebookQuantizer {
 public:
  // dim >= 1, groups >= 1, dim % groups == 0, levels >= 1, 1 <= bits <= 16, beam >= 1.
  GroupResidualQuantizer(size_t dim, size_t groups, size_t levels, uint8_t bits, size_t beam = 1);

  std::string describe() const override;  // "GRVQ2x4x8", "GRVQ2x4x8b4"
  size_t groups() const { return groups_; }
  size_t group_dim() const { return dim() / groups_; }
  size_t levels() const { return levels_; }
  uint8_t bits() const { return bits_; }
  size_t beam() const { return beam_; }

  // x: n × dim() with n >= 2^bits. Group g trains with seed options.seed + 1000 * g.
  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  Codes encode(MatrixView<const float> x) const override;

 private:
  size_t groups_;
  size_t levels_;
  uint8_t bits_;
  size_t beam_;
};

}  // namespace vq
