#include "core/lut_filter.h"

#include <cfloat>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/distances.h"

namespace vq::detail {

void push_scores(const float* scores, size_t n, idx_t first_id, TopK& heap) {
  float thr = heap.threshold();
  for (size_t i = 0; i < n; ++i)
    if (scores[i] <= thr) {
      heap.push(scores[i], first_id + static_cast<idx_t>(i));
      thr = heap.threshold();
    }
}

LookupTable minimizing(LookupTable lut) {
  if (lut.metric == SearchMetric::kInnerProduct) {
    for (float& v : lut.values) v = -v;
    lut.bias = -lut.bias;
  }
  return lut;
}

kernels::LutScanArgs scan_args(const LookupTable& lut, const float* norms) {
  kernels::LutScanArgs a;
  a.values = lut.values.data();
  a.offsets = lut.offsets.data();
  a.books = lut.num_books();
  a.bias = lut.bias;
  a.norms = lut.add_norms ? norms : nullptr;
  return a;
}

// uint8 tables: per-book minimum removed, one scale for all books (so sums stay comparable),
// rounded to nearest: each entry is off by at most scale / 2.
namespace {

// Rows of 16 entries (packed4, books padded to even) or 256 entries (blocked8).
size_t table_row(BlockLayout layout) { return layout == BlockLayout::kPacked4 ? 16 : 256; }

// Book m's uint8 table from its float table at t.scale: multiply by the inverse scale and round
// half up by truncation (every value is >= lo[m]), branch-free and vectorisable, since tables
// are rebuilt per query (per window with windowed RoPE). Each level is within 0.5 (+ a few
// float ulps of 255) of the exact quotient; the slack's 0.01·scale per bound covers the ulps.
void quantize_book(BlockLayout layout, size_t m, QueryTables& t) {
  const LookupTable& lut = t.lut;
  const float inv = static_cast<float>(1.0 / t.scale);
  const float* v = lut.values.data() + lut.offsets[m];
  uint8_t* q = t.qtable.data() + m * table_row(layout);
  const size_t n = lut.offsets[m + 1] - lut.offsets[m];
  const float low = t.lo[m];
  for (size_t e = 0; e < n; ++e) {
    const int level = static_cast<int>((v[e] - low) * inv + 0.5f);
    q[e] = static_cast<uint8_t>(level < 255 ? level : 255);
  }
}

// t.base and t.slack from t.lo / t.hi / t.scale: rounding of the tables, plus float rounding
// of the exact score (M + 2 additions, each off by at most FLT_EPSILON/2 of a partial sum
// bounded by `magnitude`), generously.
void set_bounds(QueryTables& t) {
  const size_t M = t.lo.size();
  double magnitude = std::abs(double(t.lut.bias)) + t.max_norm;
  t.base = t.lut.bias;
  for (size_t m = 0; m < M; ++m) {
    magnitude += std::max(std::abs(double(t.lo[m])), std::abs(double(t.hi[m])));
    t.base += t.lo[m];
  }
  t.slack = t.scale * (0.5 * double(M) + 0.01) + 2.0 * double(M + 2) * FLT_EPSILON * magnitude;
}

}  // namespace

void quantize_tables(BlockLayout layout, float max_norm, QueryTables& t) {
  const LookupTable& lut = t.lut;
  const size_t M = lut.num_books();
  t.lo.resize(M);
  t.hi.resize(M);
  t.max_norm = max_norm;
  double range = 0;
  for (size_t m = 0; m < M; ++m) {
    kernels::min_max(lut.values.data() + lut.offsets[m], lut.offsets[m + 1] - lut.offsets[m], t.lo[m], t.hi[m]);
    range = std::max(range, double(t.hi[m]) - t.lo[m]);
  }
  t.scale = range > 0 ? range / 255.0 : 1.0;
  set_bounds(t);
  // Padding (entries past a book's size) is zeroed once: tables are rebuilt into the same
  // QueryTables per window, and only entries are rewritten.
  const size_t bytes = layout == BlockLayout::kPacked4 ? kernels::packed4_block_bytes(M) : M * table_row(layout);
  if (t.qtable.size() != bytes) t.qtable.assign(bytes, 0);
  for (size_t m = 0; m < M; ++m) quantize_book(layout, m, t);
}

void requantize_leading_books(BlockLayout layout, size_t changed, QueryTables& t) {
  const LookupTable& lut = t.lut;
  double range = 0;
  for (size_t m = 0; m < changed; ++m) {
    kernels::min_max(lut.values.data() + lut.offsets[m], lut.offsets[m + 1] - lut.offsets[m], t.lo[m], t.hi[m]);
    range = std::max(range, double(t.hi[m]) - t.lo[m]);
  }
  if (range > t.scale * 255.0) return quantize_tables(layout, t.max_norm, t);
  set_bounds(t);
  for (size_t m = 0; m < changed; ++m) quantize_book(layout, m, t);
}

namespace {

// Blocks filtered per step, per layout. The 8-bit filter takes 256 vectors per step:
// refreshing the threshold that often cut the re-scored candidates enough to beat whole-chunk
// steps (PQ16x8, 200k: ~200 -> ~160 CPU µs/query).
template <class L>
constexpr size_t kStep = std::is_same_v<L, kernels::Packed4> ? 16 : 4;

template <class L>
void scan_filtered_layout(const QueryTables& t, const BlockRange& r, TopK& heap) {
  constexpr size_t kS = kStep<L>;
  const size_t bytes = L::block_bytes(r.books);
  const kernels::QuantizedLut qlut{t.qtable.data(), L::table_rows(r.books)};
  for (size_t s0 = 0; s0 < r.nblocks; s0 += kS) {
    const size_t n = std::min(kS, r.nblocks - s0);
    uint16_t thresholds[kS];
    typename L::Mask masks[kS];
    bool none[kS];
    for (size_t b = 0; b < n; ++b) {
      const double floor_norm = r.block_min_norm ? r.block_min_norm[s0 + b] : 0.0;
      const double q = std::floor((heap.threshold() - t.base - floor_norm + t.slack) / t.scale);
      none[b] = q < 0;
      thresholds[b] = static_cast<uint16_t>(std::clamp(q, 0.0, 65535.0));  // inf -> 65535
    }
    const uint8_t* blocks = r.blocks + s0 * bytes;
    kernels::filter<L>(qlut, blocks, n, thresholds, masks);
    for (size_t b = 0; b < n; ++b) {
      if (none[b]) continue;
      const size_t first = (s0 + b) * L::kBlock;
      const kernels::LutScanArgs args = scan_args(t.lut, r.norms ? r.norms + first : nullptr);
      for (typename L::Mask m = masks[b]; m != 0; m &= m - 1) {
        const auto j = static_cast<size_t>(__builtin_ctzll(m));
        if (first + j >= r.valid) break;  // padding of the last block
        const float s = kernels::exact_score<L>(args, blocks + b * bytes, j);
        if (s <= heap.threshold()) heap.push(s, r.first_id + static_cast<idx_t>(first + j));
      }
    }
  }
}

}  // namespace

void scan_filtered(BlockLayout layout, const QueryTables& t, const BlockRange& range, TopK& heap) {
  if (layout == BlockLayout::kPacked4)
    scan_filtered_layout<kernels::Packed4>(t, range, heap);
  else
    scan_filtered_layout<kernels::Blocked8>(t, range, heap);
}

}  // namespace vq::detail
