// Scalar refinement: quantization (AC in parallel batches, DC in a raster-order walk against a
// prediction) and the context model of its arithmetic coding.
//
// The coded stream visits patches in raster order and, per patch, the Y, Cb and Cr blocks of p²
// levels in PatchTransform's diagonal order (low frequencies first). Per block:
//   1. the DC level: "nonzero" (context: channel × how many of the left and upper neighbours'
//      DC levels are nonzero × for chroma, whether this patch's Y DC is), then its magnitude and
//      sign as in 4.
//   2. "coded": does the block hold a nonzero AC level? Context: channel × how many of the two
//      neighbours' blocks are coded × for chroma, whether this patch's Y block is.
//   3. if coded, `last`, the position of its last nonzero AC level, through a bit tree of
//      ceil(log2(p² − 1)) bits per (channel, how far the neighbours' last levels reach: 5
//      buckets) — what JPEG's end-of-block does.
//   4. for k = 1 .. last: "nonzero" (implied at k = last), context channel × k × how many of
//      the two neighbours are nonzero at k (0..2) × how many of this block's levels one step
//      lower in each frequency, (u − 1, v) and (u, v − 1), are nonzero (0..2). Then for a
//      nonzero level its magnitude m: flags "m > 1", "m > 2", ... up to "m > 15" (context
//      channel × frequency band × the neighbours' magnitude at k (0, 1–2, ≥3) × the flag's
//      index, capped at 3), then m − 16 as an order-0 Exp-Golomb code in equiprobable bits,
//      then the sign, equiprobable.
// Images are smooth across patches and a residual's energy falls with frequency, so the
// neighbour and frequency contexts are where the bits are saved; all contexts adapt as the
// image is coded (no trained statistics needed).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include "image/range_coder.h"
#include "vq/image/patch_transform.h"
#include "vq/image/refinement.h"

namespace vq::image {
namespace {

constexpr unsigned kUnaryFlags = 15;  // magnitudes up to 15 in unary flags, the rest escaped
constexpr size_t kBands = 6;          // frequency bands: diagonals 0, 1, .., 4, >= 5
constexpr size_t kFlagContexts = 4;   // unary flag index, capped
constexpr unsigned kMaxEscapeBits = 16;

// A probability that adapts fast while its context is young and slower once it has seen enough
// bits to be trusted (as AV1's counters do): the first 4 bits move it by 1/8 of the error, the
// next 20 by 1/16, the rest by 1/32 (the token coder's constant rate). Measured on the held-out
// photos against the constant 1/32: 0.5–2 % smaller refinements, most at the coarsest steps.
struct Context {
  uint16_t prob = detail::kProbInit;
  uint16_t seen = 0;
  int move() {
    const int m = seen < 4 ? 3 : seen < 24 ? 4 : 5;
    seen = uint16_t(seen + (seen < 64));
    return m;
  }
};

size_t bits_for(size_t values) {
  size_t b = 0;
  while ((size_t{1} << b) < values) ++b;
  return b;
}

class Model {
 public:
  explicit Model(size_t patch)
      : pp_(patch * patch), last_bits_(bits_for(pp_ - 1)), band_(pp_), lower_(pp_),
        coded_(3 * 3 * 2), dc_nonzero_(3 * 3 * 2), last_(3 * 5 * (size_t{1} << last_bits_)), nonzero_(3 * pp_ * 9),
        magnitude_(3 * kBands * 3 * kFlagContexts) {
    const PatchTransform t(patch);
    std::vector<size_t> position(pp_);  // frequency u·p + v -> its index in the block
    for (size_t k = 0; k < pp_; ++k) position[t.frequency(k)] = k;
    for (size_t k = 0; k < pp_; ++k) {
      const size_t u = t.frequency(k) / patch, v = t.frequency(k) % patch;
      band_[k] = std::min(u + v, kBands - 1);
      // The neighbours one step lower in each frequency come earlier in the diagonal order.
      lower_[k] = {u > 0 ? int(position[(u - 1) * patch + v]) : -1, v > 0 ? int(position[u * patch + v - 1]) : -1};
    }
  }

  // Codes the levels of a rows × cols grid through `c` (encoder: c.bit(prob, b) codes b and
  // returns it; decoder: decodes and returns a bit, ignoring b; bypass likewise). Decoding
  // fills r.levels in the order the contexts need them.
  template <class Coder, class Levels>
  void code(Coder& c, Levels& levels, size_t rows, size_t cols) {
    constexpr bool decoding = !std::is_const_v<std::remove_reference_t<decltype(levels[0])>>;
    const size_t dim = 3 * pp_;
    std::vector<int16_t> last_of(rows * cols * 3, -1);  // last nonzero of each block, −1: none
    for (size_t r = 0; r < rows; ++r)
      for (size_t col = 0; col < cols; ++col) {
        const size_t i = r * cols + col;
        for (size_t ch = 0; ch < 3; ++ch) {
          auto* q = &levels[i * dim + ch * pp_];
          const int16_t* left = col > 0 ? &levels[(i - 1) * dim + ch * pp_] : nullptr;
          const int16_t* above = r > 0 ? &levels[(i - cols) * dim + ch * pp_] : nullptr;
          // DC first, on its own: it is coded against a prediction (walk_dc), so a small DC level
          // is common in blocks whose AC is empty, and folding it into `coded` / `last` would
          // make every such block look busy.
          const size_t near_dc = size_t(left && left[0] != 0) + size_t(above && above[0] != 0);
          const size_t luma_dc = size_t(ch > 0 && levels[i * dim] != 0);
          if (c.bit(dc_nonzero_[(ch * 3 + near_dc) * 2 + luma_dc], unsigned(q[0] != 0)))
            magnitude(c, q[0], ((ch * kBands) * 3 + around_context(left, above, 0)) * kFlagContexts);
          // Then the AC levels 1 .. last.
          int last = -1;
          if constexpr (!decoding)
            for (size_t k = pp_; k-- > 1;)
              if (q[k] != 0) {
                last = int(k);
                break;
              }
          // Chroma follows luma: Y is coded first, so Cb and Cr see whether the same patch's Y
          // block has AC levels.
          const size_t neighbours = size_t(left && last_of[(i - 1) * 3 + ch] >= 0) +
                                    size_t(above && last_of[(i - cols) * 3 + ch] >= 0);
          const size_t luma_coded = size_t(ch > 0 && last_of[i * 3] >= 0);
          if (!c.bit(coded_[(ch * 3 + neighbours) * 2 + luma_coded], unsigned(last >= 0))) continue;
          const int reach = std::max(left ? last_of[(i - 1) * 3 + ch] : -1, above ? last_of[(i - cols) * 3 + ch] : -1);
          const size_t reach_bucket = reach < 0 ? 0 : reach <= 2 ? 1 : reach <= 5 ? 2 : reach <= 14 ? 3 : 4;
          Context* tree = &last_[(ch * 5 + reach_bucket) << last_bits_];
          size_t node = 1;
          for (size_t b = last_bits_; b-- > 0;) node = 2 * node + c.bit(tree[node], (unsigned(last - 1) >> b) & 1u);
          last = int(node - (size_t{1} << last_bits_)) + 1;
          VQ_CHECK(size_t(last) < pp_, "refinement: corrupt data (last level ", last, " of ", pp_, ")");
          last_of[i * 3 + ch] = int16_t(last);
          for (size_t k = 1; k <= size_t(last); ++k) {
            const size_t near = size_t(left && left[k] != 0) + size_t(above && above[k] != 0);
            const size_t prev = size_t(lower_[k][0] >= 0 && q[lower_[k][0]] != 0) +
                                size_t(lower_[k][1] >= 0 && q[lower_[k][1]] != 0);
            if (k < size_t(last) && !c.bit(nonzero_[((ch * pp_ + k) * 3 + near) * 3 + prev], unsigned(q[k] != 0)))
              continue;
            magnitude(c, q[k], ((ch * kBands + band_[k]) * 3 + around_context(left, above, k)) * kFlagContexts);
          }
        }
      }
  }

 private:
  // 0, 1 or 2 for the neighbours' summed magnitude at k: 0, 1–2, more.
  static size_t around_context(const int16_t* left, const int16_t* above, size_t k) {
    const int around = (left ? std::abs(left[k]) : 0) + (above ? std::abs(above[k]) : 0);
    return around == 0 ? 0 : around <= 2 ? 1 : 2;
  }

  // A nonzero level's magnitude (unary flags in contexts mctx.., then the escape) and sign;
  // decoding stores it in q.
  template <class Coder, class Level>
  void magnitude(Coder& c, Level& q, size_t mctx) {
    const unsigned m = unsigned(std::abs(int(q)));
    unsigned got = 1;
    while (got <= kUnaryFlags && c.bit(magnitude_[mctx + std::min<size_t>(got - 1, kFlagContexts - 1)], unsigned(m > got)))
      ++got;
    if (got > kUnaryFlags) got += escape(c, m - kUnaryFlags - 1);
    const unsigned negative = c.bypass(unsigned(q < 0));
    if constexpr (!std::is_const_v<Level>) {
      VQ_CHECK(got <= 32767, "refinement: corrupt data (level ", got, ")");
      q = int16_t(negative ? -int(got) : int(got));
    }
  }

  // Order-0 Exp-Golomb code of v in equiprobable bits: n = floor(log2(v + 1)) ones, a zero,
  // then the n low bits of v + 1.
  template <class Coder>
  unsigned escape(Coder& c, unsigned v) {
    const unsigned x = v + 1;
    unsigned n = 0;
    while (c.bypass(unsigned((x >> (n + 1)) != 0))) {
      VQ_CHECK(++n <= kMaxEscapeBits, "refinement: corrupt data (escape longer than ", kMaxEscapeBits, " bits)");
    }
    unsigned out = 1;
    for (unsigned b = n; b-- > 0;) out = (out << 1) | c.bypass((x >> b) & 1u);
    return out - 1;
  }

  size_t pp_, last_bits_;
  std::vector<size_t> band_;
  std::vector<std::array<int, 2>> lower_;  // indices of (u − 1, v) and (u, v − 1), −1: none
  std::vector<Context> coded_, dc_nonzero_, last_, nonzero_, magnitude_;
};

struct EncodingCoder {
  detail::RangeEncoder rc;
  unsigned bit(Context& c, unsigned b) { return rc.bit(c.prob, b, c.move()), b; }
  unsigned bypass(unsigned b) { return rc.bypass(b), b; }
};

struct DecodingCoder {
  detail::RangeDecoder rc;
  unsigned bit(Context& c, unsigned) { return rc.bit(c.prob, c.move()); }
  unsigned bypass(unsigned) { return rc.bypass(); }
};

// Rate–distortion trimming of a block's tail: while its last nonzero level is an AC ±1 and what
// that level buys, Δ·(2|x| − Δ) of squared error, is less than what its bits would buy elsewhere
// — the slope λ = kTrimSlope·Δ² per bit of the uniform quantizer at this step — it is dropped.
// Its bits are estimated, not counted: a level costs its flag, sign and "> 1" flag (≈ 2.5 bits)
// plus ≈ 0.3 bit per zero between it and the previous nonzero; the block's only level costs its
// coded flag and `last` as well (≈ 7 bits). DC levels are kept: in smooth areas a DC ±1 is
// cheap to code and dropping it shifts a whole patch (trimming DC too cost retina 0.8 dB at
// 0.07 bpp). Chosen on the training photographs, at equal rate against no trimming: slope
// 0.2 +0.26 dB (0.14: +0.25, 0.3: +0.19; 0.14 with DC trimmed: +0.20); on the held-out ones
// slope 0.14 without DC gave +0.16 to +0.36 dB at every measured rate.
constexpr float kTrimSlope = 0.2f;
constexpr float kLevelBits = 2.5f, kZeroRunBits = 0.3f, kOnlyLevelBits = 7.f;

void trim_tail(int16_t* q, const float* x, size_t pp, float step) {
  const float lambda = kTrimSlope * step * step;
  for (;;) {
    int last = -1, prev = -1;
    for (int k = int(pp) - 1; k >= 0 && prev < 0; --k)
      if (q[k] != 0) (last < 0 ? last : prev) = k;
    if (last <= 0 || std::abs(q[last]) != 1) return;
    const float gain = step * (2.f * std::abs(x[last]) - step);
    const float bits = prev < 0 ? kOnlyLevelBits : kLevelBits + kZeroRunBits * float(last - prev - 1);
    if (gain >= lambda * bits) return;
    q[last] = 0;
  }
}

}  // namespace

Refinement::Refinement(float s, size_t n, size_t d) : step(s), patches(n), dim(d), levels(n * d, 0) {
  validate("Refinement");
}

float Refinement::channel_step(size_t c) const {
  static const std::array<float, 3> w = PatchTransform::rgb_error_weights();
  return step * std::sqrt(w[0] / w[c]);
}

void Refinement::validate(const char* who) const {
  VQ_CHECK(std::isfinite(step) && step >= kMinRefinementStep, who, ": refinement step must be >= ",
           kMinRefinementStep, ", got ", step);
  VQ_CHECK(dim % 3 == 0 && dim > 0, who, ": refinement of ", dim, " coefficients per patch (not 3p²)");
  VQ_CHECK(levels.size() == patches * dim, who, ": ", levels.size(), " refinement levels for ", patches,
           " patches × ", dim);
}

namespace {

// floor(|x| / step + offset) with x's sign, clamped to int16: the clamp is reached only by
// patches of p > 16 far from their tokens at the smallest steps, where the error it leaves is
// still below one step per pixel.
int16_t quantize_value(float x, float inverse_step) {
  const float m = std::min(std::floor(std::abs(x) * inverse_step + kRoundingOffset), 32767.f);
  return int16_t(x < 0 ? -m : m);
}

float median3(float a, float b, float c) { return std::max(std::min(a, b), std::min(std::max(a, b), c)); }

// Smooths the blend's weights where both predictors were exact (flat areas): in DC units, 1/p
// of an 8-bit grey level's mean for p = 8.
constexpr float kPredictorErrorFloor = 1.f;

// The DC walk shared by encoder and decoder, patches in raster order, channels independent.
// A patch's DC is predicted from two sources:
//   - MED, the median of left, above and left + above − above-left of the neighbours'
//     reconstructed DC (LOCO-I's predictor: follows gradients, snaps to edges), and
//   - the tokens' own DC (the coarse VQ level's reconstruction),
// blended with weights inversely proportional to how far each missed on the left and upper
// neighbours. Smooth areas follow MED, textured ones the tokens. Measured on the held-out
// photos at step 24–48 (open loop): chroma DC costs 0.4–1.7 bits/patch instead of 1.6–4.1 with
// the tokens' DC alone; luma 1.0–2.3 instead of 1.8–2.9 (chelsea: level).
// level(i, ch, prediction, step) returns patch i's DC level in channel ch (the encoder
// quantizes and stores it, the decoder reads it); the result is every reconstructed DC.
template <class Level>
std::vector<float> walk_dc(const Refinement& r, Span<const float> coarse, size_t cols, Level&& level) {
  const size_t n = r.patches;
  VQ_CHECK(coarse.size() == n * 3 && cols > 0 && n % cols == 0, "refinement: ", coarse.size(),
           " coarse DC values for ", n, " patches × 3 in rows of ", cols);
  std::vector<float> recon(n * 3), med_miss(n * 3), coarse_miss(n * 3);
  for (size_t i = 0; i < n; ++i) {
    const bool has_left = i % cols > 0, has_above = i >= cols;
    for (size_t ch = 0; ch < 3; ++ch) {
      const size_t at = i * 3 + ch;
      const float c0 = coarse[at];
      float med = c0, prediction = c0;
      if (has_left || has_above) {
        const float left = recon[(has_left ? i - 1 : i - cols) * 3 + ch];
        const float above = has_above ? recon[(i - cols) * 3 + ch] : left;
        const float corner = has_left && has_above ? recon[(i - cols - 1) * 3 + ch] : has_left ? left : above;
        med = median3(left, above, left + above - corner);
        float sm = kPredictorErrorFloor, sc = kPredictorErrorFloor;
        if (has_left) sm += med_miss[at - 3], sc += coarse_miss[at - 3];
        if (has_above) sm += med_miss[at - cols * 3], sc += coarse_miss[at - cols * 3];
        prediction = (med / sm + c0 / sc) / (1.f / sm + 1.f / sc);
      }
      const float step = r.channel_step(ch);
      const float x = prediction + float(level(i, ch, prediction, step)) * step;
      recon[at] = x;
      med_miss[at] = std::abs(x - med);
      coarse_miss[at] = std::abs(x - c0);
    }
  }
  return recon;
}

}  // namespace

void Refinement::quantize(MatrixView<const float> residual, size_t first) {
  VQ_CHECK(residual.cols() == dim && first + residual.rows() <= patches, "Refinement::quantize: rows ", first,
           "..", first + residual.rows(), " × ", residual.cols(), " outside ", patches, " × ", dim);
  const size_t pp = dim / 3;
  for (size_t i = 0; i < residual.rows(); ++i) {
    const float* x = residual.row_ptr(i);
    int16_t* q = &levels[(first + i) * dim];
    for (size_t ch = 0; ch < 3; ++ch) {
      const float inv = 1.f / channel_step(ch);
      q[ch * pp] = 0;
      for (size_t j = ch * pp + 1; j < (ch + 1) * pp; ++j) q[j] = quantize_value(x[j], inv);
      trim_tail(q + ch * pp, x + ch * pp, pp, channel_step(ch));
    }
  }
}

void Refinement::quantize_dc(Span<const float> source_dc, Span<const float> coarse_dc, size_t cols, bool luma_only) {
  VQ_CHECK(source_dc.size() == patches * 3, "Refinement::quantize_dc: ", source_dc.size(), " DC values for ",
           patches, " patches × 3");
  const size_t pp = dim / 3;
  walk_dc(*this, coarse_dc, cols, [&](size_t i, size_t ch, float prediction, float delta) {
    int16_t& q = levels[i * dim + ch * pp];
    q = luma_only && ch > 0 ? 0 : quantize_value(source_dc[i * 3 + ch] - prediction, 1.f / delta);
    return q;
  });
}

std::vector<float> Refinement::reconstruct_dc(Span<const float> coarse_dc, size_t cols) const {
  const size_t pp = dim / 3;
  return walk_dc(*this, coarse_dc, cols, [&](size_t i, size_t ch, float, float) { return levels[i * dim + ch * pp]; });
}

void Refinement::add_to(MatrixView<float> coefs, size_t first, Span<const float> dc) const {
  VQ_CHECK(coefs.cols() == dim && first + coefs.rows() <= patches && dc.size() == patches * 3,
           "Refinement::add_to: rows outside the grid or DC values missing");
  const size_t pp = dim / 3;
  for (size_t i = 0; i < coefs.rows(); ++i) {
    float* x = coefs.row_ptr(i);
    const int16_t* q = &levels[(first + i) * dim];
    for (size_t ch = 0; ch < 3; ++ch) {
      const float s = channel_step(ch);
      x[ch * pp] = dc[(first + i) * 3 + ch];
      for (size_t j = ch * pp + 1; j < (ch + 1) * pp; ++j) x[j] += float(q[j]) * s;
    }
  }
}

std::vector<uint8_t> encode_refinement(const Refinement& r, size_t rows, size_t cols, size_t patch) {
  r.validate("encode_refinement");
  VQ_CHECK(r.patches == rows * cols && r.dim == 3 * patch * patch, "encode_refinement: ", r.patches, " × ",
           r.dim, " levels for a ", rows, " × ", cols, " grid of ", patch, "-pixel patches");
  EncodingCoder c;
  Model(patch).code(c, r.levels, rows, cols);
  return c.rc.finish();
}

void decode_refinement(Span<const uint8_t> payload, size_t rows, size_t cols, size_t patch, Refinement& r) {
  VQ_CHECK(patch >= 2 && patch <= 64, "decode_refinement: patch ", patch);
  r.patches = rows * cols;
  r.dim = 3 * patch * patch;
  // Every block costs at least one "coded" decision (≥ 1/45 bit), so B bytes hold at most
  // ~360·B blocks: a larger grid is corrupt metadata, caught before allocating for it.
  VQ_CHECK(uint64_t(r.patches) * 3 <= (uint64_t(payload.size()) + 8) * 8 * 46, "refinement payload: ",
           payload.size(), " bytes cannot hold ", r.patches, " patches");
  r.levels.assign(r.patches * r.dim, 0);
  r.validate("decode_refinement");
  DecodingCoder c{detail::RangeDecoder(payload)};
  Model(patch).code(c, r.levels, rows, cols);
}

}  // namespace vq::image
