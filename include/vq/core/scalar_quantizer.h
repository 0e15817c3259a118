// ScalarQuantizer: every dimension rounded on its own to a small set of levels — the baseline
// every vector-quantization result is compared against (int8 / int4 / NF4 / FP8, as in LLM.int8,
// QLoRA and the OCP FP8 formats).
//
// Formats (the level set of one code):
//   SQ<b>   uniform integer, 2 <= b <= 8 bits
//   NF4     the 16 NormalFloat levels of QLoRA (quantiles of N(0,1) scaled to [-1, 1])
//   FP8     OCP FP8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits; max 448, no inf;
//           codes 0x7F and 0xFF (NaN in e4m3fn) are never produced; decode, which accepts
//           every in-range code, saturates them to ±448 (and a non-finite fp16 group scale to
//           ±65504)
//
// Scales:
//   per-channel (default)  train() learns one (scale, offset) per dimension from the data:
//                          SQ:      scale = (max_j − min_j) / 2^b, offset = min_j + scale/2,
//                                   x̂_j = offset_j + scale_j · code          (code 0 .. 2^b−1):
//                                   the centres of 2^b equal cells spanning [min_j, max_j]
//                          NF4/FP8: offset = 0, scale = absmax_j (NF4) or absmax_j / 448 (FP8),
//                                   x̂_j = scale_j · level(code)
//                          Rows with zero sample weight do not widen the range.
//   per-group ("g<G>")     each vector's dims are split into dim/G groups of G consecutive dims;
//                          each group of each vector gets its own absmax scale, stored as an
//                          IEEE fp16 bit pattern in an extra 16-bit "book" of the codes, so
//                          bits_per_vector() = dim·b + 16·dim/G counts it honestly. SQ is
//                          symmetric here: levels −(2^(b−1)−1) .. 2^(b−1)−1 (code = level +
//                          2^(b−1)−1; the top code is unused), scale = absmax / (2^(b−1)−1).
//                          Nothing is learned from data: a per-group quantizer is trained on
//                          construction and train() only records the metric. Scales beyond
//                          the fp16 range saturate at 65504; scales below 2^-25 round to 0.
//
// Code layout: M = dim (+ dim/G) books. Book j < dim holds dimension j's level code (b bits;
// 4 for NF4, 8 for FP8); book dim + g (per-group only) holds group g's fp16 scale (16 bits).
//
// The metric H and scalar quantizers. Rounding every coordinate to its nearest level minimises
// Σ_j h_j (x_j − x̂_j)² for any diagonal H (the terms are independent), so under identity or
// diagonal metrics (and any sample weights) encode() is optimal for the learned levels, and the
// per-channel fit does not depend on h_j (a constant factor of dimension j's error). Under a full
// H the error terms couple and per-dimension rounding is no longer optimal: rounding dimension j
// should see the errors already committed on the others (GPTQ / OBQ error feedback). That belongs
// to the weight codec, which owns H = XᵀX/n; here a full metric is accepted, stored and reported
// by metric(), but encoding stays per-dimension nearest rounding.
//
// Lookup tables: per-channel codes are sums over disjoint one-dimensional books, so tables are
// exact — book j holds level_j(k)·q_j (inner product) or (q_j − level_j(k))² (L2), 2^b entries.
// Per-group codes are products (scale × level) of two codes, which no sum of per-book tables
// represents: has_lookup_tables() is false, search decoded vectors instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/core/quantizer.h"

namespace vq {

enum class ScalarFormat : uint8_t { kInt = 0, kNF4 = 1, kFP8 = 2 };

class ScalarQuantizer : public Quantizer {
 public:
  // bits: 2..8 for kInt; must be 4 for kNF4 and 8 for kFP8. group: 0 for per-channel scales,
  // otherwise a divisor of dim (dims per scale). Throws vq::Error otherwise.
  ScalarQuantizer(size_t dim, ScalarFormat format, int bits, size_t group = 0);

  std::string describe() const override;  // "SQ8", "SQ4g64", "NF4", "NF4g64", "FP8"
  size_t dim() const override { return dim_; }
  std::vector<uint8_t> book_bits() const override;
  bool is_trained() const override { return trained_; }
  const Metric& metric() const override { return metric_; }

  ScalarFormat format() const { return format_; }
  int bits() const { return bits_; }      // bits of one element code
  size_t group() const { return group_; } // 0: per-channel
  // Per-channel parameters (size dim() each, empty for per-group): x̂_j = offset_j + scale_j·level.
  const std::vector<float>& scales() const { return scale_; }
  const std::vector<float>& offsets() const { return offset_; }
  // The level value of each element code (size 2^bits(); ±448 for FP8's two NaN codes).
  const std::vector<float>& levels() const { return levels_; }

  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  Codes encode(MatrixView<const float> x) const override;
  void decode(const Codes& codes, MatrixView<float> out) const override;
  using Quantizer::decode;

  bool has_lookup_tables() const override { return group_ == 0; }
  LookupTable lookup_tables(Span<const float> query, SearchMetric metric) const override;

  // Chunks "MTRC" (Metric::serialize) and "SCAL": u8 format, u8 bits, u64 dim, u64 group, then
  // for per-channel dim f32 scales and dim f32 offsets.
  void save_state(ContainerWriter& out) const override;
  void load_state(const ContainerReader& in) override;

 private:
  // Code of the level nearest to t (ties: the even code), from the sorted level table.
  uint16_t nearest_code(float t) const;
  // The largest |level| (used to turn a group's absmax into a scale).
  float max_level() const;

  size_t dim_;
  ScalarFormat format_;
  int bits_;
  size_t group_;
  std::vector<float> levels_;          // size 2^bits_: value of each code
  std::vector<float> sorted_values_;   // valid levels ascending (for nearest_code)
  std::vector<uint16_t> sorted_codes_; // their codes
  std::vector<float> scale_, offset_;  // per-channel: size dim_
  Metric metric_;
  bool trained_ = false;
};

}  // namespace vq
