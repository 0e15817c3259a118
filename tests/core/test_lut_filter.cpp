// The uint8 tables of the fast-scan filters: for every code row, the exact float score lies
// within base + scale · (sum of uint8 entries) ± slack — after a full quantization and after
// re-quantizing only the leading books (one table per RoPE window, the rest shared), both
// while the old scale still covers the new books and when it must grow.
#include "core/lut_filter.h"

#include <gtest/gtest.h>

#include <cmath>

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

// Every code row of a sample: |exact − (base + scale · qsum)| <= slack.
void expect_bounds_hold(const QueryTables& t, Rng& rng) {
  for (int row = 0; row < 2000; ++row) {
    double exact = t.lut.bias, qsum = 0;
    for (size_t m = 0; m < kBooks; ++m) {
      const size_t c = rng.below(kEntries);
      exact += t.lut.values[t.lut.offsets[m] + c];
      qsum += t.qtable[m * kEntries + c];
    }
    ASSERT_LE(std::abs(exact - (t.base + t.scale * qsum)), t.slack) << "row " << row;
  }
}

TEST(LutFilter, RequantizingLeadingBooksKeepsTheBounds) {
  Rng rng(5);
  QueryTables t;
  t.lut = random_tables(rng, 1.f);
  quantize_tables(BlockLayout::kBlocked8, 0.f, t);
  expect_bounds_hold(t, rng);

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

}  // namespace
}  // namespace vq::detail
