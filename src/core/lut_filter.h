// (internal API for domains) The pieces of a top-k scan over codes that CodeIndex (search.cpp) and the KV cache
// (src/kv/) share: the deterministic top-k heap, tables in "smaller is better" form, uint8
// tables for the 4-bit / 8-bit block filters, and the filter-then-rescore loop over a range of
// blocks. Results are exact for the float tables: the quantized sums only bound a score, and
// every vector that can still enter the top-k is re-scored with the float tables.
#pragma once

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "core/code_blocks.h"
#include "kernels/lut_scan.h"
#include "vq/core/lookup_table.h"
#include "vq/types.h"

namespace vq::detail {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

// The k smallest (score, id) pairs seen so far, as a max-heap. Pairs compare by score, then by
// id: a strict total order, so the final top-k is the same whatever order vectors arrive in
// (threads, blocks, batches). Scores are "smaller is better"; inner products are negated.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }

  // Scores above this cannot enter (a score equal to it can, with a lower id).
  float threshold() const { return heap_.size() < k_ ? kInf : heap_.front().first; }

  void push(float score, idx_t id) {
    const Entry e{score, id};
    if (heap_.size() < k_) {
      heap_.push_back(e);
      std::push_heap(heap_.begin(), heap_.end());
    } else if (e < heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end());
      heap_.back() = e;
      std::push_heap(heap_.begin(), heap_.end());
    }
  }

  void merge(const TopK& other) {
    for (const Entry& e : other.heap_) push(e.first, e.second);
  }

  // Writes k entries best first; negate turns internal scores back into inner products.
  // Missing entries (fewer than k pushed): label -1, score +inf (or -inf when negated).
  void write(bool negate, float* distances, idx_t* labels) {
    std::sort_heap(heap_.begin(), heap_.end());
    for (size_t j = 0; j < k_; ++j) {
      const bool have = j < heap_.size();
      const float d = have ? heap_[j].first : kInf;
      if (distances) distances[j] = negate ? -d : d;
      labels[j] = have ? heap_[j].second : -1;
    }
  }

 private:
  using Entry = std::pair<float, idx_t>;
  size_t k_;
  std::vector<Entry> heap_;
};

// Pushes the scores of rows [0, n) (ids first_id + i) that can enter the heap.
void push_scores(const float* scores, size_t n, idx_t first_id, TopK& heap);

// A query's tables in "smaller is better" form: inner-product tables are negated (exactly:
// IEEE rounding is symmetric, so the sum of negated terms is the negated sum).
LookupTable minimizing(LookupTable lut);

kernels::LutScanArgs scan_args(const LookupTable& lut, const float* norms);

// One query's tables in the forms a blocked scan needs.
struct QueryTables {
  LookupTable lut;  // float tables, minimizing form
  // uint8 tables and the affine map back to scores: for a vector with quantized sum s, its
  // exact score is at least base + scale · s − slack (+ its norm, if stored).
  std::vector<uint8_t> qtable;
  double base = 0, scale = 1, slack = 0;
  std::vector<float> lo, hi;  // each book's smallest and largest float entry
  float max_norm = 0;
};

// Fills t.qtable / base / scale / slack from t.lut (already in minimizing form) for layout.
// max_norm: the largest stored norm when scores add norms, else 0 (bounds float rounding).
void quantize_tables(BlockLayout layout, float max_norm, QueryTables& t);

// After the float tables of books [0, changed) of t.lut were rewritten (the other books as
// quantize_tables last saw them): re-quantizes only those books while the scale still covers
// their range, else everything. For tables that change a few books at a time (one table per
// RoPE window, the rest shared), the scale is then the running maximum over the windows.
void requantize_leading_books(BlockLayout layout, size_t changed, QueryTables& t);

// A run of contiguous blocks of one layout.
struct BlockRange {
  const uint8_t* blocks = nullptr;        // nblocks × block_bytes(layout, books)
  size_t nblocks = 0;
  size_t books = 0;
  idx_t first_id = 0;                     // id of vector 0 of blocks[0]
  size_t valid = 0;                       // vectors that exist; the rest is padding
  const float* norms = nullptr;           // null, or one per vector of the range
  const float* block_min_norm = nullptr;  // with norms: the minimum norm of each block
};

// One query's uint8 tables as a scan over many ranges uses them: the query's own
// (QueryTables::qtable) until its heap is full, then a private copy whose scale follows the
// heap's threshold: scale = gap / 254, gap = threshold − base. A vector that can still enter the
// heap has no book entry more than gap above that book's minimum (every other book adds at
// least its own minimum, stored norms are >= 0), so none of its entries saturates, while a
// saturated entry lifts a bound past the threshold by itself: the finest scale that costs
// nothing. And the threshold is then below 255 levels, so the filter kernels sum saturating
// bytes instead of words (lut_filter_simd.inc). The scale is re-set when the gap has halved
// (a few times per scan) or when the threshold has passed 254 levels (the first time, when the
// query's own scale, the widest book's range / 255, is finer than the gap needs).
// One per query and thread, for the queries' whole scan (not shared between threads).
// Re-scored vectors per query over 200,000 codes (k = 10), tables rounded down at the query's
// own scale / following the threshold: manifold PQ32x4 243 / 153, PQ64x4 386 / 198; Gaussian
// with decaying spectrum 621 / 259, 1,537 / 657; clustered 159 / 216, 185 / 399 (the first
// scale after the heap fills is coarser there; the saturating sums still make it faster).
class TableZoom {
 public:
  // Re-scales to the threshold when that halves the scale or the threshold is past 254 levels
  // (down to 1/65536 of t.scale; nothing while the threshold is infinite).
  void follow(BlockLayout layout, const QueryTables& t, float threshold);
  const uint8_t* qtable(const QueryTables& t) const { return own_.empty() ? t.qtable.data() : own_.data(); }
  double scale(const QueryTables& t) const { return own_.empty() ? t.scale : scale_; }
  double slack(const QueryTables& t) const { return own_.empty() ? t.slack : slack_; }

 private:
  std::vector<uint8_t> own_;
  double scale_ = 1, slack_ = 0;
};

// For each query q of the group (1 .. kernels::kMaxFilterQueries tables of one quantizer),
// pushes every vector of the range that can enter heaps[q], with its exact float score: blocks
// are filtered a few at a time against the heaps' current thresholds, all queries in one pass
// over the codes, and the survivors re-scored before the next step, so the thresholds tighten
// within the range.
// zooms: null (the tables as given), or one TableZoom per query of the group, kept by the caller
// across the ranges of one scan.
void scan_filtered(BlockLayout layout, Span<const QueryTables> group, const BlockRange& range, TopK* heaps,
                   TableZoom* zooms = nullptr);

}  // namespace vq::detail
