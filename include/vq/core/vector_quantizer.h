// VectorQuantizer: one flat codebook of 2^bits entries over the whole vector ("VQ<bits>").
//
// The building block of the family: training is one k-means run under the Metric and sample
// weights, encoding is a nearest-entry search in the metric's whitened space (where d_H is plain
// squared L2). Decode, lookup tables and save/load come from CodebookQuantizer.
//
//   books()      exactly one Codebook: offset 0, dim() dimensions, (1 << bits) × dim() entries
//   encode(x)    x: n × dim() floats -> Codes n × 1
#pragma once

#include "vq/core/codebook_quantizer.h"

namespace vq {

class VectorQuantizer : public CodebookQuantizer {
 public:
  // dim >= 1, 1 <= bits <= 16. Throws vq::Error otherwise.
  VectorQuantizer(size_t dim, uint8_t bits);

  std::string describe() const override;  // "VQ<bits>", e.g. "VQ12"
  uint8_t bits() const { return bits_; }

  // x: n × dim() with n >= 2^bits (k-means needs one point per entry; vq::Error otherwise).
  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  Codes encode(MatrixView<const float> x) const override;

 private:
  uint8_t bits_;
};

}  // namespace vq
