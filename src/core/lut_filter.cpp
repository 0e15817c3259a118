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
// rounded down and saturated at 255, so that every level times the scale is at most its entry:
// the quantized sum times the scale is a lower bound of the score, whatever the scale. Rounding
// down instead of to nearest makes the bound one-sided: an entry at its book's minimum (which
// the nearest vectors take often) costs nothing, where a rounded table charged every book half
// a level. The scale starts at the widest book's range / 255 (nothing saturates) and the scan
// re-scales them to its threshold (TableZoom, lut_filter.h).
namespace {

// Rows of 16 entries (packed4, books padded to even) or 256 entries (blocked8).
size_t table_row(BlockLayout layout) { return layout == BlockLayout::kPacked4 ? 16 : 256; }

// Book m's uint8 table from its float table at `scale` into qtable: multiply by the inverse
// scale and round down by truncation (every value is >= lo[m]), branch-free and vectorisable,
// since tables are rebuilt per query (per window with windowed RoPE) and re-zoomed during scans.
// Each level is at most the exact quotient plus a few float ulps of 255; the slack's
// 0.01·scale covers those over all books.
void quantize_book(BlockLayout layout, const QueryTables& t, size_t m, double scale, uint8_t* qtable) {
  const LookupTable& lut = t.lut;
  const float inv = static_cast<float>(1.0 / scale);
  const float* v = lut.values.data() + lut.offsets[m];
  uint8_t* q = qtable + m * table_row(layout);
  const size_t n = lut.offsets[m + 1] - lut.offsets[m];
  const float low = t.lo[m];
  for (size_t e = 0; e < n; ++e) q[e] = static_cast<uint8_t>(static_cast<int>(std::min((v[e] - low) * inv, 255.f)));
}

// The float rounding of an exact score: M + 2 additions, each off by at most FLT_EPSILON/2 of a
// partial sum bounded by the largest magnitudes, generously.
double float_rounding(const QueryTables& t) {
  double magnitude = std::abs(double(t.lut.bias)) + t.max_norm;
  for (size_t m = 0; m < t.lo.size(); ++m) magnitude += std::max(std::abs(double(t.lo[m])), std::abs(double(t.hi[m])));
  return 2.0 * double(t.lo.size() + 2) * FLT_EPSILON * magnitude;
}

double slack_at(double scale, const QueryTables& t) { return scale * 0.01 + float_rounding(t); }

// t.base and t.slack from t.lo / t.hi / t.scale.
void set_bounds(QueryTables& t) {
  t.base = t.lut.bias;
  for (float lo : t.lo) t.base += lo;
  t.slack = slack_at(t.scale, t);
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
  for (size_t m = 0; m < M; ++m) quantize_book(layout, t, m, t.scale, t.qtable.data());
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
  for (size_t m = 0; m < changed; ++m) quantize_book(layout, t, m, t.scale, t.qtable.data());
}

void TableZoom::follow(BlockLayout layout, const QueryTables& t, float threshold) {
  const double current = own_.empty() ? t.scale : scale_;
  // 254 levels, not 255: the threshold in levels is then below 255, and the filter kernels sum
  // saturating bytes (lut_filter_simd.inc).
  const double scale = (double(threshold) - t.base) / 254.0;
  if (!std::isfinite(scale) || scale < t.scale / 65536.0) return;  // a heap not yet full; a tiny gap
  if (scale >= 0.5 * current && scale <= current) return;         // within 254 levels, not halved
  if (own_.empty()) own_ = t.qtable;  // the padding of packed books stays zero
  for (size_t m = 0; m < t.lo.size(); ++m) quantize_book(layout, t, m, scale, own_.data());
  scale_ = scale;
  slack_ = slack_at(scale, t);
}

namespace {

// Blocks filtered per step, per layout. The 8-bit filter takes 256 vectors per step:
// refreshing the threshold that often cut the re-scored candidates enough to beat whole-chunk
// steps (PQ16x8, 200k: ~200 -> ~160 CPU µs/query).
template <class L>
constexpr size_t kStep = std::is_same_v<L, kernels::Packed4> ? 16 : 4;

template <class L>
void scan_filtered_layout(Span<const QueryTables> group, const BlockRange& r, TopK* heaps, TableZoom* zooms) {
  constexpr size_t kS = kStep<L>;
  constexpr BlockLayout kLayout = std::is_same_v<L, kernels::Packed4> ? BlockLayout::kPacked4 : BlockLayout::kBlocked8;
  const size_t nq = group.size();
  const size_t bytes = L::block_bytes(r.books);
  kernels::QuantizedLut luts[kernels::kMaxFilterQueries];
  double scale[kernels::kMaxFilterQueries], slack[kernels::kMaxFilterQueries];
  size_t entries = 0;  // the largest book's: the same for every query of the group
  for (size_t m = 0; m < group[0].lut.num_books(); ++m)
    entries = std::max<size_t>(entries, group[0].lut.offsets[m + 1] - group[0].lut.offsets[m]);
  for (size_t q = 0; q < nq; ++q) {
    luts[q] = {group[q].qtable.data(), L::table_rows(r.books), entries};
    scale[q] = group[q].scale;
    slack[q] = group[q].slack;
  }
  uint16_t thresholds[kernels::kMaxFilterQueries * kS];
  typename L::Mask masks[kernels::kMaxFilterQueries * kS];
  for (size_t s0 = 0, n = 0; s0 < r.nblocks; s0 += n) {
    // Steps are short while the thresholds are loose. A heap that is not yet full has an
    // infinite threshold, so every vector of the step is re-scored: one block at a time until
    // all are full. After that the step grows with the blocks already seen (by id: scans come
    // in ranges) up to kS, as the thresholds tighten. At the start of a scan, kS blocks would
    // re-score 512 vectors per query, 2.5 % of 20,000 codes.
    bool filling = false;
    for (size_t q = 0; q < nq; ++q) filling |= heaps[q].threshold() == kInf;
    const size_t seen = static_cast<size_t>(r.first_id) / L::kBlock + s0;
    n = std::min(filling ? size_t{1} : std::clamp(seen, size_t{1}, kS), r.nblocks - s0);
    // Query-major, as filter_queries takes them. A block whose bound is below zero for a query
    // gets threshold 0 and an empty mask below.
    bool none[kernels::kMaxFilterQueries * kS];
    for (size_t q = 0; q < nq; ++q) {
      const QueryTables& t = group[q];
      if (zooms) {
        TableZoom& z = zooms[q];
        z.follow(kLayout, t, heaps[q].threshold());
        luts[q].qtable = z.qtable(t);
        scale[q] = z.scale(t);
        slack[q] = z.slack(t);
      }
      // In levels; the inverse's rounding (relative 1e-16) is far inside the slack's 0.01 level.
      const double inv = 1.0 / scale[q], limit = heaps[q].threshold() - t.base + slack[q];
      for (size_t b = 0; b < n; ++b) {
        const double floor_norm = r.block_min_norm ? r.block_min_norm[s0 + b] : 0.0;
        const double level = std::floor((limit - floor_norm) * inv);
        none[q * n + b] = level < 0;
        thresholds[q * n + b] = static_cast<uint16_t>(std::clamp(level, 0.0, 65535.0));  // inf -> 65535
      }
    }
    const uint8_t* blocks = r.blocks + s0 * bytes;
    kernels::filter_queries<L>(luts, nq, blocks, n, thresholds, masks);
    // Each query's survivors of the whole step, re-scored together; ids count from the step's
    // first vector.
    const size_t first = s0 * L::kBlock;
    for (size_t q = 0; q < nq; ++q) {
      uint32_t ids[kS * L::kBlock];
      size_t count = 0;
      for (size_t b = 0; b < n; ++b) {
        const typename L::Mask mask = none[q * n + b] ? 0 : masks[q * n + b];
        for (typename L::Mask m = mask; m != 0; m &= m - 1) {
          const auto id = static_cast<uint32_t>(b * L::kBlock + __builtin_ctzll(m));
          if (first + id >= r.valid) break;  // padding of the last block
          ids[count++] = id;
        }
      }
      if (count == 0) continue;
      float scores[kS * L::kBlock];
      kernels::exact_scores<L>(scan_args(group[q].lut, r.norms ? r.norms + first : nullptr), blocks, ids, count,
                               scores);
      TopK& heap = heaps[q];
      for (size_t i = 0; i < count; ++i)
        if (scores[i] <= heap.threshold()) heap.push(scores[i], r.first_id + static_cast<idx_t>(first + ids[i]));
    }
  }
}

}  // namespace

void scan_filtered(BlockLayout layout, Span<const QueryTables> group, const BlockRange& range, TopK* heaps,
                   TableZoom* zooms) {
  VQ_CHECK(!group.empty() && group.size() <= kernels::kMaxFilterQueries, "scan_filtered: ", group.size(),
           " queries in one group");
  if (layout == BlockLayout::kPacked4)
    scan_filtered_layout<kernels::Packed4>(group, range, heaps, zooms);
  else
    scan_filtered_layout<kernels::Blocked8>(group, range, heaps, zooms);
}

}  // namespace vq::detail
