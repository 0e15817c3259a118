#include "vq/core/scalar_quantizer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "vq/core/container.h"
#include "vq/core/npy.h"  // float_to_half, half_to_float

namespace vq {
namespace {

// QLoRA's NF4 levels (bitsandbytes `create_normal_map`): equal-probability quantiles of N(0,1)
// with an exact zero, normalised to [-1, 1]. 8 non-negative and 7 negative levels.
constexpr float kNF4Levels[16] = {
    -1.0f,                 -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f,  0.16093020141124725f, 0.24611230194568634f,  0.33791524171829224f,
    0.44070982933044434f,  0.5626170039176941f,  0.7229568362236023f,   1.0f};

constexpr float kMaxHalf = 65504.f;  // largest finite fp16
constexpr float kFP8Max = 448.f;     // largest finite e4m3fn

// Below this many elements, encode/decode stay on the calling thread: a parallel region costs
// more than rounding a few thousand numbers.
constexpr size_t kParallelMinElements = size_t{1} << 16;

// OCP e4m3fn: exponent bias 7, subnormals at exponent 0, S.1111.111 is NaN (no infinities).
// Decoding must be total over in-range codes (Codes::validate's contract, and io.h's self-test
// decodes random codes), so the two NaN codes decode saturated to ±448; encode never emits them.
float fp8_e4m3_value(uint32_t code) {
  const uint32_t e = (code >> 3) & 15, m = code & 7;
  const float mag = e == 15 && m == 7 ? kFP8Max
                    : e == 0          ? std::ldexp(static_cast<float>(m), -9)
                                      : std::ldexp(static_cast<float>(8 + m), static_cast<int>(e) - 10);
  return (code & 0x80) ? -mag : mag;
}

bool is_fp8_nan(uint32_t code) { return (code & 0x7F) == 0x7F; }

// The scale stored in a per-group scale book. Encode only writes finite scales; an fp16
// infinity or NaN (a code nobody wrote) saturates like FP8's NaN codes, keeping decode total.
float group_scale(uint16_t h) {
  const float s = half_to_float(h);
  return std::isfinite(s) ? s : std::copysign(kMaxHalf, s);
}

const char* format_name(ScalarFormat f) {
  switch (f) {
    case ScalarFormat::kInt: return "SQ";
    case ScalarFormat::kNF4: return "NF";
    case ScalarFormat::kFP8: return "FP";
  }
  return "?";
}

}  // namespace

ScalarQuantizer::ScalarQuantizer(size_t dim, ScalarFormat format, int bits, size_t group)
    : dim_(dim), format_(format), bits_(bits), group_(group) {
  VQ_CHECK(dim >= 1, "ScalarQuantizer: dim must be >= 1");
  switch (format) {
    case ScalarFormat::kInt:
      VQ_CHECK(bits >= 2 && bits <= 8, "ScalarQuantizer: SQ takes 2..8 bits, got ", bits);
      break;
    case ScalarFormat::kNF4:
      VQ_CHECK(bits == 4, "ScalarQuantizer: NF4 has 4 bits, got ", bits);
      break;
    case ScalarFormat::kFP8:
      VQ_CHECK(bits == 8, "ScalarQuantizer: FP8 has 8 bits, got ", bits);
      break;
    default: VQ_THROW("ScalarQuantizer: unknown format ", static_cast<int>(format));
  }
  VQ_CHECK(group == 0 || dim % group == 0, "ScalarQuantizer: group size ", group,
           " does not divide dim ", dim);

  const size_t k = size_t{1} << bits;
  levels_.resize(k);
  // Per-group SQ is symmetric around an exact zero (absmax scaling); per-channel SQ spans
  // [min, max] through its offset, so its levels are just 0 .. 2^b − 1.
  const int zero_code = group_ ? (1 << (bits - 1)) - 1 : 0;
  for (size_t c = 0; c < k; ++c) {
    switch (format) {
      case ScalarFormat::kInt: levels_[c] = static_cast<float>(static_cast<int>(c) - zero_code); break;
      case ScalarFormat::kNF4: levels_[c] = kNF4Levels[c]; break;
      case ScalarFormat::kFP8: levels_[c] = fp8_e4m3_value(static_cast<uint32_t>(c)); break;
    }
  }
  // Levels the encoder may choose: not FP8's NaNs, not its −0 (it equals +0), not the unused
  // top code of symmetric SQ.
  std::vector<uint16_t> usable;
  for (size_t c = 0; c < k; ++c) {
    if (format == ScalarFormat::kFP8 && (is_fp8_nan(static_cast<uint32_t>(c)) || c == 0x80)) continue;
    if (format == ScalarFormat::kInt && group_ && c == k - 1) continue;
    usable.push_back(static_cast<uint16_t>(c));
  }
  std::sort(usable.begin(), usable.end(),
            [&](uint16_t a, uint16_t b) { return levels_[a] < levels_[b]; });
  for (uint16_t c : usable) {
    sorted_codes_.push_back(c);
    sorted_values_.push_back(levels_[c]);
  }
  // Per-group scales come with each vector: there is nothing to learn.
  trained_ = group_ != 0;
}

std::string ScalarQuantizer::describe() const {
  std::string s = format_name(format_);
  s += std::to_string(bits_);
  if (group_) s.append(1, 'g').append(std::to_string(group_));
  return s;
}

std::vector<uint8_t> ScalarQuantizer::book_bits() const {
  std::vector<uint8_t> b(dim_, static_cast<uint8_t>(bits_));
  if (group_) b.resize(dim_ + dim_ / group_, 16);
  return b;
}

float ScalarQuantizer::max_level() const { return sorted_values_.back(); }

uint16_t ScalarQuantizer::nearest_code(float t) const {
  const auto begin = sorted_values_.begin();
  const auto it = std::lower_bound(begin, sorted_values_.end(), t);
  if (it == begin) return sorted_codes_.front();
  if (it == sorted_values_.end()) return sorted_codes_.back();
  const size_t i = static_cast<size_t>(it - begin);
  const float above = sorted_values_[i] - t, below = t - sorted_values_[i - 1];
  if (below < above) return sorted_codes_[i - 1];
  if (above < below) return sorted_codes_[i];
  // Exact tie: the even code, which for FP8 is IEEE round-half-to-even on the mantissa.
  return (sorted_codes_[i] & 1) == 0 ? sorted_codes_[i] : sorted_codes_[i - 1];
}

void ScalarQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  check_train_input(x, options);
  const Communicator& comm = options.comm ? *options.comm : self_communicator();
  if (group_ == 0) {
    // Per-dimension range over the rows that count (weight > 0). The fit ignores the metric's
    // h_j on purpose: h_j scales all of dimension j's error alike, so it cannot move the optimum.
    std::vector<float> lo(dim_, std::numeric_limits<float>::infinity());
    std::vector<float> hi(dim_, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < x.rows(); ++i) {
      if (!options.weights.empty() && options.weights[i] <= 0.f) continue;
      const float* r = x.row_ptr(i);
      for (size_t j = 0; j < dim_; ++j) {
        lo[j] = std::min(lo[j], r[j]);
        hi[j] = std::max(hi[j], r[j]);
      }
    }
    if (comm.size() > 1) {
      // The range over every rank's rows: each rank's [lo, hi], gathered and folded (exact).
      std::vector<float> mine(lo);
      mine.insert(mine.end(), hi.begin(), hi.end());
      const std::vector<uint8_t> all =
          comm.allgather({reinterpret_cast<const uint8_t*>(mine.data()), mine.size() * sizeof(float)});
      std::vector<float> ranges(all.size() / sizeof(float));
      std::memcpy(ranges.data(), all.data(), all.size());
      for (size_t at = 0; at < ranges.size(); at += 2 * dim_)
        for (size_t j = 0; j < dim_; ++j) {
          lo[j] = std::min(lo[j], ranges[at + j]);
          hi[j] = std::max(hi[j], ranges[at + dim_ + j]);
        }
    }
    std::vector<float> scale(dim_), offset(dim_, 0.f);
    for (size_t j = 0; j < dim_; ++j) {
      if (format_ == ScalarFormat::kInt) {
        // Levels at the centres of 2^b equal cells over [min, max]: the MSE-optimal uniform
        // quantizer of a uniform source. Levels on the end points (step range/(2^b − 1), as
        // FAISS's QT_<b>bit codecs effectively use) cost (2^b/(2^b − 1))² more: 14% at 4 bits.
        scale[j] = (hi[j] - lo[j]) / static_cast<float>(1 << bits_);
        offset[j] = lo[j] + 0.5f * scale[j];
      } else {
        scale[j] = std::max(std::fabs(lo[j]), std::fabs(hi[j])) / max_level();
      }
      // A range too wide for float (e.g. ±3e38) overflows; report it rather than emit inf.
      VQ_CHECK(std::isfinite(scale[j]), describe(), "::train: dimension ", j,
               " has a range [", lo[j], ", ", hi[j], "] too wide for a float scale");
    }
    scale_ = std::move(scale);
    offset_ = std::move(offset);
  }
  metric_ = options.metric;
  trained_ = true;
  if (options.progress) options.progress(ProgressEvent{"scalar fit", 1, 1, 0.0, 0.0});
}

Codes ScalarQuantizer::encode(MatrixView<const float> x) const {
  check_input(x, "encode");
  Codes codes(x.rows(), book_bits());
  const size_t n = x.rows(), books = codes.num_books();
  const uint16_t zero = nearest_code(0.f);
#pragma omp parallel for schedule(static) if (n * dim_ >= kParallelMinElements)
  for (size_t i = 0; i < n; ++i) {
    const float* r = x.row_ptr(i);
    uint16_t* c = codes.data.data() + i * books;
    if (group_ == 0) {
      for (size_t j = 0; j < dim_; ++j)
        c[j] = scale_[j] > 0.f ? nearest_code((r[j] - offset_[j]) / scale_[j]) : zero;
      continue;
    }
    for (size_t g = 0; g < dim_ / group_; ++g) {
      const float* xs = r + g * group_;
      float absmax = 0.f;
      for (size_t j = 0; j < group_; ++j) absmax = std::max(absmax, std::fabs(xs[j]));
      // Saturate rather than overflow to an infinite scale, and round with the scale the decoder
      // will see (after fp16 rounding), not the exact one.
      const uint16_t h = float_to_half(std::min(absmax / max_level(), kMaxHalf));
      const float s = half_to_float(h);
      c[dim_ + g] = h;
      for (size_t j = 0; j < group_; ++j)
        c[g * group_ + j] = s > 0.f ? nearest_code(xs[j] / s) : zero;
    }
  }
  return codes;
}

void ScalarQuantizer::decode(const Codes& codes, MatrixView<float> out) const {
  check_output(codes, out, "decode");
  const size_t n = codes.n;
#pragma omp parallel for schedule(static) if (n * dim_ >= kParallelMinElements)
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* c = codes.row(i);
    float* o = out.row_ptr(i);
    if (group_ == 0) {
      for (size_t j = 0; j < dim_; ++j) o[j] = offset_[j] + scale_[j] * levels_[c[j]];
      continue;
    }
    for (size_t j = 0; j < dim_; ++j) o[j] = group_scale(c[dim_ + j / group_]) * levels_[c[j]];
  }
}

LookupTable ScalarQuantizer::lookup_tables(Span<const float> query, SearchMetric metric) const {
  VQ_CHECK(group_ == 0, describe(), ": per-group codes have no lookup tables (a code is scale × "
           "level, not a sum over books); search decoded vectors instead");
  check_trained("lookup_tables");
  VQ_CHECK(query.size() == dim_, describe(), "::lookup_tables: query has ", query.size(),
           " values, quantizer dimension is ", dim_);
  const size_t k = levels_.size();
  check_input(MatrixView<const float>(query.data(), 1, query.size()), "lookup_tables");  // finite, norm in range
  LookupTable lut;
  lut.metric = metric;
  lut.offsets.resize(dim_ + 1);
  lut.values.resize(dim_ * k);
  for (size_t j = 0; j <= dim_; ++j) lut.offsets[j] = static_cast<uint32_t>(j * k);
  for (size_t j = 0; j < dim_; ++j) {
    VQ_CHECK(std::isfinite(query[j]), describe(), "::lookup_tables: query value ", j, " is ",
             query[j]);
    for (size_t c = 0; c < k; ++c) {
      const float v = offset_[j] + scale_[j] * levels_[c];
      lut.values[j * k + c] = metric == SearchMetric::kInnerProduct ? v * query[j]
                                                                    : (query[j] - v) * (query[j] - v);
    }
  }
  return lut;
}

void ScalarQuantizer::save_state(ContainerWriter& out) const {
  check_trained("save_state");
  ByteWriter w;
  w.u8(static_cast<uint8_t>(format_));
  w.u8(static_cast<uint8_t>(bits_));
  w.u64(dim_);
  w.u64(group_);
  if (group_ == 0) {
    w.f32s(scale_);
    w.f32s(offset_);
  }
  out.add("MTRC", metric_.serialize());
  out.add("SCAL", w.take());
}

void ScalarQuantizer::load_state(const ContainerReader& in) {
  ByteReader r = in.chunk("SCAL");
  const uint8_t format = r.u8(), bits = r.u8();
  const uint64_t dim = r.u64(), group = r.u64();
  VQ_CHECK(format == static_cast<uint8_t>(format_) && bits == bits_ && dim == dim_ &&
               group == group_,
           in.name(), ": chunk SCAL holds format ", int(format), ", ", int(bits), " bits, dim ",
           dim, ", group ", group, "; expected those of ", describe(), " on dim ", dim_);
  std::vector<float> scale, offset;
  if (group_ == 0) {
    scale = r.f32s(dim_);
    offset = r.f32s(dim_);
    for (size_t j = 0; j < dim_; ++j)
      VQ_CHECK(std::isfinite(scale[j]) && scale[j] >= 0.f && std::isfinite(offset[j]),
               in.name(), ": chunk SCAL: dimension ", j, " has scale ", scale[j], " and offset ",
               offset[j], "; expected finite values and scale >= 0");
  }
  r.expect_end();
  Metric metric = Metric::deserialize(in.payload("MTRC"));
  metric.check_dim(dim_, "load_state");
  scale_ = std::move(scale);
  offset_ = std::move(offset);
  metric_ = std::move(metric);
  trained_ = true;
}

}  // namespace vq
