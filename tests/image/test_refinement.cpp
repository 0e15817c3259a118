// Scalar refinement: the quantizer's error bound, and exact round trips of its entropy coding
// (every context path: empty and full blocks, escapes, signs, odd patch sizes), plus corrupt
// payloads. The end-to-end codec mode (tokens + refinement in a file) is in test_image.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "vq/core/error.h"
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
  // All-zero levels cost almost nothing: one adaptive "coded" flag per block.
  const Refinement zero(1.f, 64 * 64, 192);
  EXPECT_LT(encode_refinement(zero, 64, 64, 8).size(), 64u);
  EXPECT_THROW(encode_refinement(zero, 64, 63, 8), Error);
}

TEST(Refinement, QuantizerErrorIsBoundedByTheStep) {
  const size_t pp = 64, n = 50;
  Refinement r(2.5f, n, 3 * pp);
  Matrix x(n, r.dim);
  Rng rng(5);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < r.dim; ++j) x(i, j) = float(30.0 * rng.normal());
  r.quantize(x.view(), 0);
  Matrix back(n, r.dim);
  r.add_to(back.view(), 0);
  // floor(|x|/Δ + 0.4): a nonzero reconstruction is within (−0.4Δ, 0.6Δ] of |x|; a zero one
  // means |x| < 0.6Δ, or < 1.6Δ where the tail trimming dropped an AC ±1. The chroma steps are
  // scaled for equal RGB error per unit rate.
  const std::array<float, 3> w = PatchTransform::rgb_error_weights();
  for (size_t ch = 0; ch < 3; ++ch) {
    const float step = r.channel_step(ch);
    EXPECT_NEAR(step * step * w[ch], 2.5f * 2.5f * w[0], 1e-3f) << "channel " << ch;
    for (size_t i = 0; i < n; ++i)
      for (size_t j = ch * pp; j < (ch + 1) * pp; ++j) {
        const float a = std::abs(x(i, j)), err = a - std::abs(back(i, j));
        if (back(i, j) == 0.f) {
          EXPECT_LT(a, (j == ch * pp ? 0.6f : 1.6f) * step + 1e-4f) << "DC is never trimmed";
          continue;
        }
        EXPECT_GT(err, -0.4f * step - 1e-4f);
        EXPECT_LE(err, 0.6f * step + 1e-4f);
        EXPECT_EQ(back(i, j) > 0, x(i, j) > 0) << "sign kept";
      }
  }
  // A lone small AC level at the end of a block is not worth its bits; the same value as the
  // block's DC, or as a large level, is kept.
  Refinement t(1.f, 1, 3 * pp);
  Matrix y(1, t.dim);
  y(0, 0) = 10.f, y(0, 40) = 0.65f;  // luma: DC and a lone high-frequency ±1
  y(0, pp) = 0.65f;                  // Cb: only a DC ±1
  y(0, 2 * pp + 40) = 5.f;            // Cr: a large AC level
  t.quantize(y.view(), 0);
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
