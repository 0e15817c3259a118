// The uint8 tables of the fast-scan filters: for every code row, the exact float score is at
// least base + scale · (sum of uint8 entries) − slack, and when no entry of the row saturates
// the bound is within one level per book — after a full quantization and after re-quantizing
// only the leading books (one table per RoPE window, the rest shared), both while the old
// scale still covers the new books and when it must grow.
#include "core/lut_filter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "vq/core/rng.h"

namespace vq::detail {
namespace {

constexpr size_t kBooks = 6, kEntries = 256;

LookupTable random_tables(Rng& rng, float spread) {
  LookupTable lut;
  lut.metric = SearchMetric::kInnerProduct;
  lut.bias = 0.25f;
  for (size_t m = 0; m <= kBooks; ++m) lut.offsets.push_back(static_cast<uint32_t>(m * kEntries));
  lut.values.resize(kBooks * kEntries);
  for (float& v : lut.values) v = spread * static_cast<float>(rng.normal());
  return lut;
}

// Every code row of a sample: exact >= base + scale · qsum − slack, and below that plus one
// level per book when no entry saturated. Returns how many rows had a saturated entry.
int expect_bounds_hold(const QueryTables& t, Rng& rng) {
  int saturated_rows = 0;
  for (int row = 0; row < 2000; ++row) {
    double exact = t.lut.bias, qsum = 0;
    bool saturated = false;
    for (size_t m = 0; m < kBooks; ++m) {
      const size_t c = rng.below(kEntries);
      exact += t.lut.values[t.lut.offsets[m] + c];
      qsum += t.qtable[m * kEntries + c];
      saturated |= t.qtable[m * kEntries + c] == 255;
    }
    const double bound = t.base + t.scale * qsum;
    EXPECT_GE(exact, bound - t.slack) << "row " << row;
    if (!saturated) {
      EXPECT_LE(exact, bound + t.scale * double(kBooks) + t.slack) << "row " << row;
    }
    saturated_rows += saturated;
  }
  return saturated_rows;
}

TEST(LutFilter, RequantizingLeadingBooksKeepsTheBounds) {
  Rng rng(5);
  QueryTables t;
  t.lut = random_tables(rng, 1.f);
  quantize_tables(BlockLayout::kBlocked8, 0.f, t);
  // Both kinds of rows occur: the bound must hold with saturated entries too.
  const int saturated = expect_bounds_hold(t, rng);
  EXPECT_GT(saturated, 0);
  EXPECT_LT(saturated, 2000);

  // New leading books within the old range: the scale is kept, only they are re-quantized.
  const double scale = t.scale;
  for (size_t i = 0; i < 2 * kEntries; ++i) t.lut.values[i] = 0.5f * static_cast<float>(rng.normal());
  requantize_leading_books(BlockLayout::kBlocked8, 2, t);
  EXPECT_EQ(t.scale, scale);
  expect_bounds_hold(t, rng);

  // Leading books wider than the old scale covers: everything is re-quantized at a new scale.
  for (size_t i = 0; i < 2 * kEntries; ++i) t.lut.values[i] = 4.f * static_cast<float>(rng.normal());
  requantize_leading_books(BlockLayout::kBlocked8, 2, t);
  EXPECT_GT(t.scale, scale);
  expect_bounds_hold(t, rng);
}

// Following a threshold, the private tables still bound every row from below; a row whose
// score is within the threshold has no saturated entry, and a row with a saturated entry has
// a bound at the threshold or above. The scale narrows by half or more, or widens when the
// threshold passes 254 levels.
TEST(LutFilter, ZoomFollowsTheThresholdAndKeepsTheBounds) {
  Rng rng(7);
  QueryTables t;
  t.lut = random_tables(rng, 1.f);
  quantize_tables(BlockLayout::kBlocked8, 0.f, t);
  TableZoom zoom;
  zoom.follow(BlockLayout::kBlocked8, t, std::numeric_limits<float>::infinity());  // a heap not yet full
  EXPECT_EQ(zoom.qtable(t), t.qtable.data());
  const float threshold = static_cast<float>(t.base + 0.3 * 255.0 * t.scale);
  zoom.follow(BlockLayout::kBlocked8, t, threshold);
  ASSERT_NE(zoom.qtable(t), t.qtable.data());
  EXPECT_NEAR(zoom.scale(t), (threshold - t.base) / 254.0, 1e-9 * t.scale);
  const double scale = zoom.scale(t);
  zoom.follow(BlockLayout::kBlocked8, t, static_cast<float>(t.base + 0.7 * 254.0 * scale));  // not half
  EXPECT_EQ(zoom.scale(t), scale);
  // Past 254 levels: a coarser scale, so the threshold is below 255 levels again.
  const float wide = static_cast<float>(t.base + 600.0 * scale);
  zoom.follow(BlockLayout::kBlocked8, t, wide);
  EXPECT_NEAR(zoom.scale(t), (wide - t.base) / 254.0, 1e-9 * t.scale);
  zoom.follow(BlockLayout::kBlocked8, t, threshold);
  EXPECT_NEAR(zoom.scale(t), scale, 1e-9 * t.scale);

  int within = 0, saturated_rows = 0;
  for (int row = 0; row < 20000; ++row) {
    double exact = t.lut.bias, qsum = 0;
    bool saturated = false;
    for (size_t m = 0; m < kBooks; ++m) {
      // Mostly small entries, so that some rows fall within the threshold.
      size_t c = rng.below(kEntries);
      for (int tries = 0; tries < 24; ++tries) {
        const size_t o = rng.below(kEntries);
        if (t.lut.values[t.lut.offsets[m] + o] < t.lut.values[t.lut.offsets[m] + c]) c = o;
      }
      exact += t.lut.values[t.lut.offsets[m] + c];
      const uint8_t level = zoom.qtable(t)[m * kEntries + c];
      qsum += level;
      saturated |= level == 255;
    }
    const double bound = t.base + zoom.scale(t) * qsum;
    ASSERT_GE(exact, bound - zoom.slack(t)) << "row " << row;
    if (exact <= threshold) {
      ++within;
      EXPECT_FALSE(saturated) << "row " << row;
    }
    if (saturated) {
      ++saturated_rows;
      EXPECT_GE(bound + zoom.slack(t), threshold) << "row " << row;
    }
  }
  EXPECT_GT(within, 0);
  EXPECT_GT(saturated_rows, 0);
}

}  // namespace
}  // namespace vq::detail
