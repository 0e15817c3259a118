// ResidualQuantizer (RVQ): L codebooks over the whole vector, each quantizing what the previous
// ones left ("RVQ<L>x<bits>", "RVQ<L>x<bits>b<B>" for beam width B != 1).
//
//   books()      L Codebooks, book l = level l: offset 0, dim dim(), entries (1 << bits) × dim()
//   encode(x)    x: n × dim() floats -> Codes n × L; x̂ = Σ_l books()[l].entry(codes(i, l))
//
// Encoding. Greedy (B = 1) picks at each level the entry nearest to the running residual. Beam
// search (B > 1) keeps the B best partial encodings of each vector; at each level it extends
// every one of them by its B nearest entries and keeps the B best of those B × B candidates by
// total error (this is exact: a beam's children outside its own top-B can never enter the
// global top-B). The result is the best of the final beams. Errors are measured under the
// Metric: candidates are scored in its whitened space, so ||·||² there equals d_H.
//
// Training, level by level: k-means (under the Metric and the sample weights) on the running
// residuals, then the training set is re-encoded with the beam width the quantizer will use, so
// later levels learn the residuals the encoder actually produces (as FAISS's ResidualQuantizer
// does with max_beam_size). Two choices make the levels generalise to vectors they did not see,
// at a slightly higher error on the training set itself:
//  - with B > 1, level l > 0 learns from the residuals of every beam entry whose error is within
//    1.5× of the vector's best (3× below 64 training rows per book entry), not only the best's:
//    more rows from the same training set;
//  - levels l > 0 (identity metric) use progressive-dimension k-means (kmeans_progressive),
//    which keeps entries along the residuals' leading directions instead of fitting their noise.
// RVQ8x8 beam 4 trained on 10 rows per entry: held-out MSE 0.997× FAISS's instead of 1.16×
// (BENCHMARKS.md). set_train_for_held_out(false) turns both off and fits the training set alone
// (what the additive quantizer's initialisation wants). Level l's k-means uses seed
// options.seed + l.
//
// Metric. k-means under H assigns in the whitened space and keeps centroids in the original
// space (the H-weighted mean is the plain mean), so training never has to invert the whitening:
// this is correct for identity, diagonal, full-rank and singular (rank r < d) H alike. For a
// singular H the component of each entry in H's null space is the plain mean of its cluster:
// it costs nothing under d_H, and it keeps decoded vectors close to the data in plain L2 too.
//
// For additive-quantizer initialisation: construct, train() and read books().
#pragma once

#include "vq/core/codebook_quantizer.h"

namespace vq {

class ResidualQuantizer : public CodebookQuantizer {
 public:
  // dim >= 1, levels >= 1, 1 <= bits <= 16, beam >= 1. Throws vq::Error otherwise.
  ResidualQuantizer(size_t dim, size_t levels, uint8_t bits, size_t beam = 1);

  std::string describe() const override;  // "RVQ8x8", "RVQ8x8b16"
  size_t levels() const { return levels_; }
  uint8_t bits() const { return bits_; }
  size_t beam() const { return beam_; }

  // x: n × dim() with n >= 2^bits.
  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  // Encodes with beam() (the width used in training).
  Codes encode(MatrixView<const float> x) const override;
  // Encodes with another beam width (>= 1), e.g. to trade speed for error after training.
  Codes encode(MatrixView<const float> x, size_t beam) const;

  // Whether train() trains for held-out vectors (near beam entries, progressive k-means: above).
  // On by default; off fits the training set alone.
  void set_train_for_held_out(bool on) { train_for_held_out_ = on; }

 private:
  size_t levels_;
  uint8_t bits_;
  size_t beam_;
  bool train_for_held_out_ = true;
};

}  // namespace vq
