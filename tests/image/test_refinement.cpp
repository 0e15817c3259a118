// Scalar refinement: the quantizer's error bound, and exact round trips of its entropy coding
// (every context path: empty and full blocks, escapes, signs, odd patch sizes), plus corrupt
// payloads. The end-to-end codec mode (tokens + refinement in a file) is in test_image.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "vq/error.h"
#include "vq/core/rng.h"
#include "vq/image/patch_transform.h"
#include "vq/image/refinement.h"

namespace vq::image {
namespace {

// Levels shaped like a residual's: most blocks empty, magnitudes falling with frequency, some
// far beyond the unary range (escapes), both signs.
Refinement random_levels(size_t rows, size_t cols, size_t patch, uint64_t seed) {
  const size_t pp = patch * patch;
  Refinement r(3.f, rows * cols, 3 * pp);
  Rng rng(seed);
  for (size_t i = 0; i < r.patches; ++i)
    for (size_t ch = 0; ch < 3; ++ch) {
      if (rng.uniform() < 0.4) continue;  // an empty block
      for (size_t k = 0; k < pp; ++k) {
        const double scale = 40.0 / double(1 + k);
        int v = int(std::lround(scale * rng.normal()));
        if (rng.uniform() < 0.01) v = int(rng.below(30000)) - 15000;
        r.levels[i * r.dim + ch * pp + k] = int16_t(v);
      }
    }
  r.levels[0] = 32767;  // the extremes of int16 that the quantizer can produce
  r.levels[1] = -32767;
  return r;
}

TEST(Refinement, CodingRoundTripsExactly) {
  for (size_t patch : {2, 5, 8, 16})
    for (auto [rows, cols] : {std::pair<size_t, size_t>{1, 1}, {3, 7}, {9, 4}}) {
      const Refinement r = random_levels(rows, cols, patch, patch * 100 + rows);
      const std::vector<uint8_t> bytes = encode_refinement(r, rows, cols, patch);
      Refinement back;
      back.step = r.step;
      decode_refinement(bytes, rows, cols, patch, back);
      EXPECT_EQ(back.levels, r.levels) << "patch " << patch << ", " << rows << "×" << cols;
    }
  // All-zero levels cost almost nothing: two adaptive flags (DC, AC) per block.
  const Refinement zero(1.f, 64 * 64, 192);
  EXPECT_LT(encode_refinement(zero, 64, 64, 8).size(), 128u);
  EXPECT_THROW(encode_refinement(zero, 64, 63, 8), Error);
}

// The residual x of 50 patches (a 10 × 5 grid) with zero tokens: AC levels from quantize, DC
// levels from quantize_dc against its prediction, decoded through reconstruct_dc and add_to.
TEST(Refinement, QuantizerErrorIsBoundedByTheStep) {
  const size_t pp = 64, n = 50, cols = 10;
  Refinement r(2.5f, n, 3 * pp);
  Matrix x(n, r.dim);
  Rng rng(5);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < r.dim; ++j) x(i, j) = float(30.0 * rng.normal());
  std::vector<float> source_dc(n * 3), coarse_dc(n * 3, 0.f);
  for (size_t i = 0; i < n; ++i)
    for (size_t ch = 0; ch < 3; ++ch) source_dc[i * 3 + ch] = x(i, ch * pp);
  r.quantize(x.view(), 0);
  r.quantize_dc(source_dc, coarse_dc, cols, false);
  Matrix back(n, r.dim);
  r.add_to(back.view(), 0, r.reconstruct_dc(coarse_dc, cols));
  // floor(|d|/Δ + 0.4): an AC reconstruction that is nonzero is within (−0.4Δ, 0.6Δ] of |x|; a
  // zero one means |x| < 0.6Δ, or < 1.6Δ where the tail trimming dropped an AC ±1. A DC is
  // within 0.6Δ of x whatever its prediction (the decoder repeats the encoder's closed loop).
  // The chroma steps are scaled for equal RGB error per unit rate.
  const std::array<float, 3> w = PatchTransform::rgb_error_weights();
  for (size_t ch = 0; ch < 3; ++ch) {
    const float step = r.channel_step(ch);
    EXPECT_NEAR(step * step * w[ch], 2.5f * 2.5f * w[0], 1e-3f) << "channel " << ch;
    for (size_t i = 0; i < n; ++i) {
      EXPECT_LE(std::abs(back(i, ch * pp) - x(i, ch * pp)), 0.6f * step + 1e-3f) << "DC of patch " << i;
      for (size_t j = ch * pp + 1; j < (ch + 1) * pp; ++j) {
        const float a = std::abs(x(i, j)), err = a - std::abs(back(i, j));
        if (back(i, j) == 0.f) {
          EXPECT_LT(a, 1.6f * step + 1e-4f);
          continue;
        }
        EXPECT_GT(err, -0.4f * step - 1e-4f);
        EXPECT_LE(err, 0.6f * step + 1e-4f);
        EXPECT_EQ(back(i, j) > 0, x(i, j) > 0) << "sign kept";
      }
    }
  }
  // A lone small AC level at the end of a block is not worth its bits; a large one is kept, and
  // a DC ±1 is never trimmed.
  Refinement t(1.f, 1, 3 * pp);
  Matrix y(1, t.dim);
  y(0, 40) = 0.65f;         // luma: a lone high-frequency ±1
  y(0, 2 * pp + 40) = 5.f;  // Cr: a large AC level
  t.quantize(y.view(), 0);
  t.quantize_dc(std::vector<float>{10.f, 0.65f, 0.f}, std::vector<float>{0.f, 0.f, 0.f}, 1, false);
  EXPECT_EQ(t.levels[0], 10);
  EXPECT_EQ(t.levels[40], 0);
  EXPECT_EQ(t.levels[pp], 1);
  EXPECT_NE(t.levels[2 * pp + 40], 0);
  EXPECT_NEAR(w[0], 3.f, 1e-5f);
  EXPECT_NEAR(w[1], 3.258f, 1e-3f);
  EXPECT_NEAR(w[2], 2.476f, 1e-3f);
  EXPECT_THROW(Refinement(0.1f, 1, 192), Error);
  EXPECT_THROW(Refinement(NAN, 1, 192), Error);
  EXPECT_THROW(r.quantize(x.view(), 1), Error);
  EXPECT_THROW(r.quantize_dc(source_dc, coarse_dc, 7, false), Error) << "50 patches are not rows of 7";
}

// A smooth ramp of DC values whose tokens are off by ±20: predicted from the reconstructed
// neighbours, most DC levels are small; against the tokens alone they would not be.
TEST(Refinement, DcPredictionFollowsSmoothNeighbours) {
  const size_t rows = 12, cols = 16, n = rows * cols;
  Refinement r(4.f, n, 3 * 16);
  std::vector<float> source(n * 3), coarse(n * 3);
  Rng rng(8);
  for (size_t i = 0; i < n; ++i)
    for (size_t ch = 0; ch < 3; ++ch) {
      source[i * 3 + ch] = 100.f + 3.f * float(i % cols) + 2.f * float(i / cols) - 30.f * float(ch);
      coarse[i * 3 + ch] = source[i * 3 + ch] + float(rng.uniform() * 40.0 - 20.0);
    }
  r.quantize_dc(source, coarse, cols, false);
  size_t predicted = 0, against_tokens = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t ch = 0; ch < 3; ++ch) {
      predicted += size_t(std::abs(r.levels[i * r.dim + ch * 16]));
      against_tokens += size_t(std::abs(std::floor(std::abs(source[i * 3 + ch] - coarse[i * 3 + ch]) /
                                                   r.channel_step(ch) + kRoundingOffset)));
    }
  EXPECT_LT(predicted * 3, against_tokens);
  const std::vector<float> back = r.reconstruct_dc(coarse, cols);
  for (size_t i = 0; i < n * 3; ++i) EXPECT_LE(std::abs(back[i] - source[i]), 0.6f * r.channel_step(i % 3) + 1e-3f);
  // Grey sources: no chroma DC levels.
  r.quantize_dc(source, coarse, cols, true);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(r.levels[i * r.dim + 16], 0);
}

// Truncations decode to in-range levels or a clear error; random bytes likewise; a payload too
// small for the grid is refused before allocating for it.
TEST(Refinement, CorruptPayloadsFailCleanly) {
  const Refinement r = random_levels(6, 5, 8, 9);
  const std::vector<uint8_t> bytes = encode_refinement(r, 6, 5, 8);
  Rng rng(3);
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 8) {
    std::vector<uint8_t> bad(bytes.begin(), bytes.begin() + long(n));
    for (int flip = 0; flip < 3 && !bad.empty(); ++flip) bad[rng.below(bad.size())] ^= uint8_t(1u << rng.below(8));
    Refinement back;
    back.step = 1.f;
    try {
      decode_refinement(bad, 6, 5, 8, back);
      EXPECT_EQ(back.levels.size(), r.levels.size());
    } catch (const Error&) {
    }
  }
  Refinement back;
  back.step = 1.f;
  EXPECT_THROW(decode_refinement(std::vector<uint8_t>(4, 0), 4000, 4000, 8, back), Error);
  EXPECT_THROW(decode_refinement(bytes, 6, 5, 1, back), Error);
}

}  // namespace
}  // namespace vq::image
