#include "vq/core/search.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

#include "kernels/lut_scan.h"
#include "vq/core/codebook_quantizer.h"

namespace vq {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// Vectors scanned per kernel call: 512 rows of 16 uint8 codes (8 KiB) stay in L1 next to one
// query's 16 KiB of tables while the queries of a group take turns on them.
constexpr size_t kChunk = 512;
// Queries that share one pass over a chunk of codes.
constexpr size_t kGroup = 4;

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
  void write(bool negate, float* distances, idx_t* labels) {
    std::sort_heap(heap_.begin(), heap_.end());
    for (size_t j = 0; j < k_; ++j) {
      const bool have = j < heap_.size();
      const float d = have ? heap_[j].first : kInf;
      distances[j] = negate ? -d : d;
      labels[j] = have ? heap_[j].second : -1;
    }
  }

 private:
  using Entry = std::pair<float, idx_t>;
  size_t k_;
  std::vector<Entry> heap_;
};

// Pushes the scores of rows [0, n) (ids first_id + i) that can enter the heap.
void push_scores(const float* scores, size_t n, idx_t first_id, TopK& heap) {
  float thr = heap.threshold();
  for (size_t i = 0; i < n; ++i)
    if (scores[i] <= thr) {
      heap.push(scores[i], first_id + static_cast<idx_t>(i));
      thr = heap.threshold();
    }
}

// A query's tables in "smaller is better" form: inner-product tables are negated (exactly:
// IEEE rounding is symmetric, so the sum of negated terms is the negated sum).
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

SearchResult empty_result(size_t nq, size_t k) {
  SearchResult r;
  r.nq = nq;
  r.k = k;
  r.distances.resize(nq * k);
  r.labels.resize(nq * k);
  return r;
}

}  // namespace

// One query's tables, in the forms the index layout needs.
struct QueryTables {
  LookupTable lut;  // float tables, minimizing form
  // kPacked4 / kBlocked8 only: uint8 tables and the affine map back to scores. For a vector with quantized
  // sum s, its exact score lies within base + scale · s ± slack (+ its norm, if stored).
  std::vector<uint8_t> qtable;
  double base = 0, scale = 1, slack = 0;
};

struct CodeIndexScan {
  static QueryTables prepare(const CodeIndex& index, Span<const float> query) {
    QueryTables t;
    t.lut = minimizing(index.quantizer_->lookup_tables(query, index.metric_));
    if (index.layout_ == CodeIndex::Layout::kPacked4 || index.layout_ == CodeIndex::Layout::kBlocked8)
      quantize_tables(index, t);
    return t;
  }

  // uint8 tables: per-book minimum removed, one scale for all books (so sums stay comparable),
  // rounded to nearest: each entry is off by at most scale / 2.
  static void quantize_tables(const CodeIndex& index, QueryTables& t) {
    const LookupTable& lut = t.lut;
    const size_t M = lut.num_books();
    std::vector<float> lo(M), hi(M);
    double range = 0, magnitude = std::abs(double(lut.bias));
    for (size_t m = 0; m < M; ++m) {
      const auto first = lut.values.begin() + lut.offsets[m];
      const auto last = lut.values.begin() + lut.offsets[m + 1];
      lo[m] = *std::min_element(first, last);
      hi[m] = *std::max_element(first, last);
      range = std::max(range, double(hi[m]) - lo[m]);
      magnitude += std::max(std::abs(double(lo[m])), std::abs(double(hi[m])));
      t.base += lo[m];
    }
    t.base += lut.bias;
    t.scale = range > 0 ? range / 255.0 : 1.0;
    if (index.with_norms_) magnitude += index.max_norm_;
    // Rounding of the tables, plus float rounding of the exact score (M + 2 additions, each
    // off by at most FLT_EPSILON/2 of a partial sum bounded by `magnitude`), generously.
    t.slack = t.scale * (0.5 * double(M) + 0.01) + 2.0 * double(M + 2) * FLT_EPSILON * magnitude;
    // Rows of 16 entries (packed4, books padded to even) or 256 entries (blocked8).
    const bool packed = index.layout_ == CodeIndex::Layout::kPacked4;
    const size_t row = packed ? 16 : 256;
    t.qtable.assign(packed ? kernels::packed4_block_bytes(M) : M * row, 0);
    for (size_t m = 0; m < M; ++m)
      for (uint32_t e = lut.offsets[m]; e < lut.offsets[m + 1]; ++e) {
        const double level = std::nearbyint((lut.values[e] - lo[m]) / t.scale);
        t.qtable[m * row + (e - lut.offsets[m])] = static_cast<uint8_t>(std::clamp(level, 0.0, 255.0));
      }
  }

  // Vectors [begin, end) for every query of the group; begin is a multiple of kChunk.
  static void scan_range(const CodeIndex& index, Span<const QueryTables> group, size_t begin,
                         size_t end, TopK* heaps) {
    static_assert(kGroup <= kernels::kMaxQueriesPerScan);
    const size_t M = index.books_;
    float scores[kGroup][kChunk];
    float* outs[kGroup];
    for (size_t g = 0; g < kGroup; ++g) outs[g] = scores[g];
    kernels::LutScanArgs args[kGroup];
    for (size_t c0 = begin; c0 < end; c0 += kChunk) {
      const size_t len = std::min(kChunk, end - c0);
      const float* norms = index.with_norms_ ? index.norms_.data() + c0 : nullptr;
      if (index.layout_ == CodeIndex::Layout::kU8) {
        // All queries of the group in one pass: each code row is loaded once.
        for (size_t g = 0; g < group.size(); ++g) args[g] = scan_args(group[g].lut, norms);
        kernels::lut_scan_u8_multi(args, group.size(), index.codes8_.data() + c0 * M, len, outs);
        for (size_t g = 0; g < group.size(); ++g)
          push_scores(scores[g], len, static_cast<idx_t>(c0), heaps[g]);
        continue;
      }
      for (size_t g = 0; g < group.size(); ++g) {
        if (index.layout_ == CodeIndex::Layout::kPacked4) {
          scan_filtered<Packed4>(index, group[g], c0, len, heaps[g]);
        } else if (index.layout_ == CodeIndex::Layout::kBlocked8) {
          scan_filtered<Blocked8>(index, group[g], c0, len, heaps[g]);
        } else {
          kernels::lut_scan_u16(scan_args(group[g].lut, norms), index.codes16_.data() + c0 * M,
                                len, scores[0]);
          push_scores(scores[0], len, static_cast<idx_t>(c0), heaps[g]);
        }
      }
    }
  }

  // The two blocked layouts scanned through quantized tables: block size, blocks filtered per
  // step, bytes per block, the filter and the exact score of one vector of a block. The 8-bit
  // filter takes 256 vectors per step: refreshing the threshold that often cut the re-scored
  // candidates enough to beat whole-chunk steps (PQ16x8, 200k: ~200 -> ~160 CPU µs/query).
  struct Packed4 {
    static constexpr size_t kBlock = kernels::kBlock4, kStep = kChunk / kernels::kBlock4;
    using Mask = uint32_t;
    static size_t block_bytes(size_t M) { return kernels::packed4_block_bytes(M); }
    static void filter(const QueryTables& t, size_t M, const uint8_t* blocks, size_t nblocks,
                       const uint16_t* thresholds, Mask* masks) {
      kernels::lut4_filter({t.qtable.data(), kernels::packed4_books(M)}, blocks, nblocks,
                           thresholds, masks);
    }
    static float exact(const kernels::LutScanArgs& a, const uint8_t* block, size_t j) {
      return kernels::lut4_exact_score(a, block, j);
    }
  };
  struct Blocked8 {
    static constexpr size_t kBlock = kernels::kBlock8, kStep = 4;
    using Mask = uint64_t;
    static size_t block_bytes(size_t M) { return kernels::blocked8_block_bytes(M); }
    static void filter(const QueryTables& t, size_t M, const uint8_t* blocks, size_t nblocks,
                       const uint16_t* thresholds, Mask* masks) {
      kernels::lut8_filter({t.qtable.data(), M}, blocks, nblocks, thresholds, masks);
    }
    static float exact(const kernels::LutScanArgs& a, const uint8_t* block, size_t j) {
      return kernels::lut8_exact_score(a, block, j);
    }
  };
  static_assert(kChunk % Packed4::kBlock == 0 && kChunk % Blocked8::kBlock == 0);

  // Filter the chunk's blocks a few at a time (L::kStep) with the quantized tables against the
  // heap's current threshold, re-scoring the survivors exactly before the next step: the
  // threshold tightens within the chunk, so fewer vectors need the float tables.
  template <class L>
  static void scan_filtered(const CodeIndex& index, const QueryTables& t, size_t c0, size_t len,
                            TopK& heap) {
    const size_t block_bytes = L::block_bytes(index.books_);
    const size_t b0 = c0 / L::kBlock;
    const size_t b_end = b0 + (len + L::kBlock - 1) / L::kBlock;
    for (size_t s0 = b0; s0 < b_end; s0 += L::kStep) {
      const size_t n = std::min(L::kStep, b_end - s0);
      uint16_t thresholds[L::kStep];
      typename L::Mask masks[L::kStep];
      bool none[L::kStep];
      for (size_t b = 0; b < n; ++b) {
        const double floor_norm = index.with_norms_ ? index.block_min_norm_[s0 + b] : 0.0;
        const double q = std::floor((heap.threshold() - t.base - floor_norm + t.slack) / t.scale);
        none[b] = q < 0;
        thresholds[b] = static_cast<uint16_t>(std::clamp(q, 0.0, 65535.0));  // inf -> 65535
      }
      const uint8_t* blocks = index.codes8_.data() + s0 * block_bytes;
      L::filter(t, index.books_, blocks, n, thresholds, masks);
      for (size_t b = 0; b < n; ++b) {
        if (none[b]) continue;
        const size_t first = (s0 + b) * L::kBlock;
        const float* norms = index.with_norms_ ? index.norms_.data() + first : nullptr;
        const kernels::LutScanArgs args = scan_args(t.lut, norms);
        for (typename L::Mask m = masks[b]; m != 0; m &= m - 1) {
          const auto j = static_cast<size_t>(__builtin_ctzll(m));
          if (first + j >= index.size_) break;  // padding of the last block
          const float s = L::exact(args, blocks + b * block_bytes, j);
          if (s <= heap.threshold()) heap.push(s, static_cast<idx_t>(first + j));
        }
      }
    }
  }
};

size_t CodeIndex::block_size() const {
  return layout_ == Layout::kPacked4 ? kernels::kBlock4 : kernels::kBlock8;
}

CodeIndex::CodeIndex(std::shared_ptr<const Quantizer> quantizer, SearchMetric metric)
    : quantizer_(std::move(quantizer)), metric_(metric) {
  VQ_CHECK(quantizer_ != nullptr, "CodeIndex: null quantizer");
  VQ_CHECK(quantizer_->is_trained(), "CodeIndex: ", quantizer_->describe(), " is not trained");
  VQ_CHECK(quantizer_->has_lookup_tables(), "CodeIndex: ", quantizer_->describe(),
           " has no lookup tables; search its decoded vectors instead");
  const std::vector<uint8_t> bits = quantizer_->book_bits();
  books_ = bits.size();
  const uint8_t widest = *std::max_element(bits.begin(), bits.end());
  // Packed sums of M uint8 entries must fit uint16: M_padded * 255 <= 65535.
  // 8-bit codes: the blocked layout only where the AVX-512 VBMI filter runs; without it the
  // float scan over row-major codes beats a scalar filter.
  if (widest <= 4 && kernels::packed4_books(books_) <= 256)
    layout_ = Layout::kPacked4;
  else if (widest <= 8 && books_ <= kernels::kMaxBooks8 &&
           kernels::scan_level() == kernels::ScanLevel::kAvx512)
    layout_ = Layout::kBlocked8;
  else if (widest <= 8)
    layout_ = Layout::kU8;
  else
    layout_ = Layout::kU16;
  // Whether scores need ||x̂||² is a property of the quantizer and metric, not of the query.
  const std::vector<float> zero(quantizer_->dim(), 0.f);
  with_norms_ = quantizer_->lookup_tables(zero, metric_).add_norms;
}

void CodeIndex::add(const Codes& codes) {
  VQ_CHECK(codes.bits == quantizer_->book_bits(), "CodeIndex::add: codes have ", codes.num_books(),
           " books whose widths differ from ", quantizer_->describe(), "'s");
  codes.validate();
  const size_t n = codes.n, M = books_;
  switch (layout_) {
    case Layout::kU8:
      codes8_.resize((size_ + n) * M);
      std::copy(codes.data.begin(), codes.data.end(), codes8_.begin() + size_ * M);
      break;
    case Layout::kU16:
      codes16_.insert(codes16_.end(), codes.data.begin(), codes.data.end());
      break;
    case Layout::kPacked4:
    case Layout::kBlocked8: {
      const bool packed = layout_ == Layout::kPacked4;
      const size_t block_bytes =
          packed ? kernels::packed4_block_bytes(M) : kernels::blocked8_block_bytes(M);
      const size_t blocks = (size_ + n + block_size() - 1) / block_size();
      codes8_.resize(blocks * block_bytes, 0);
      for (size_t i = 0; i < n; ++i) {
        const size_t id = size_ + i;
        uint8_t* block = codes8_.data() + (id / block_size()) * block_bytes;
        for (size_t m = 0; m < M; ++m) {
          const auto c = static_cast<uint8_t>(codes(i, m));
          if (packed)
            kernels::packed4_set(block, m, id % block_size(), c);
          else
            kernels::blocked8_set(block, m, id % block_size(), c);
        }
      }
      break;
    }
  }
  if (with_norms_) {
    std::vector<float> norms;
    if (const auto* cq = dynamic_cast<const CodebookQuantizer*>(quantizer_.get())) {
      norms = cq->decoded_norms(codes);
    } else {
      const Matrix x = quantizer_->decode(codes);
      norms.resize(n);
      for (size_t i = 0; i < n; ++i) {
        float s = 0.f;
        for (size_t j = 0; j < x.cols(); ++j) s += x(i, j) * x(i, j);
        norms[i] = s;
      }
    }
    norms_.insert(norms_.end(), norms.begin(), norms.end());
    for (float v : norms) max_norm_ = std::max(max_norm_, v);
    if (layout_ == Layout::kPacked4 || layout_ == Layout::kBlocked8) {
      block_min_norm_.assign((size_ + n + block_size() - 1) / block_size(), kInf);
      for (size_t i = 0; i < size_ + n; ++i) {
        float& lo = block_min_norm_[i / block_size()];
        lo = std::min(lo, norms_[i]);
      }
    }
  }
  size_ += n;
}

SearchResult CodeIndex::search(MatrixView<const float> queries, size_t k, int threads) const {
  VQ_CHECK(k >= 1, "CodeIndex::search: k must be >= 1");
  VQ_CHECK(queries.cols() == quantizer_->dim(), "CodeIndex::search: queries have ",
           queries.cols(), " columns, index dimension is ", quantizer_->dim());
  for (size_t q = 0; q < queries.rows(); ++q)
    for (float v : queries.row(q))
      VQ_CHECK(std::isfinite(v), "CodeIndex::search: non-finite value in query ", q);
  const size_t nq = queries.rows();
  SearchResult result = empty_result(nq, k);
  if (nq == 0) return result;
  const int T = threads > 0 ? threads : omp_get_max_threads();
  const bool negate = metric_ == SearchMetric::kInnerProduct;
  const size_t groups = (nq + kGroup - 1) / kGroup;

  if (groups >= static_cast<size_t>(T) || size_ < 2 * kChunk) {
    // Enough queries for every thread: each takes whole groups and scans all codes for them.
    const auto ngroups = static_cast<int64_t>(groups);
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
    for (int64_t g = 0; g < ngroups; ++g) {
      const size_t q0 = static_cast<size_t>(g) * kGroup, qn = std::min(kGroup, nq - q0);
      std::vector<QueryTables> tables;
      std::vector<TopK> heaps(qn, TopK(k));
      for (size_t q = 0; q < qn; ++q)
        tables.push_back(CodeIndexScan::prepare(*this, queries.row(q0 + q)));
      CodeIndexScan::scan_range(*this, tables, 0, size_, heaps.data());
      for (size_t q = 0; q < qn; ++q)
        heaps[q].write(negate, result.distances.data() + (q0 + q) * k,
                       result.labels.data() + (q0 + q) * k);
    }
    return result;
  }

  // Few queries: every thread scans its own range of codes for all of them into private heaps,
  // which are merged afterwards (the total order makes the merge independent of T).
  std::vector<QueryTables> tables(nq);
  for (size_t q = 0; q < nq; ++q) tables[q] = CodeIndexScan::prepare(*this, queries.row(q));
  const size_t chunks = (size_ + kChunk - 1) / kChunk;
  std::vector<std::vector<TopK>> heaps(T, std::vector<TopK>(nq, TopK(k)));
#pragma omp parallel num_threads(T)
  {
    const size_t t = static_cast<size_t>(omp_get_thread_num());
    const size_t nt = static_cast<size_t>(omp_get_num_threads());
    const size_t begin = std::min(size_, chunks * t / nt * kChunk);
    const size_t end = std::min(size_, chunks * (t + 1) / nt * kChunk);
    for (size_t q0 = 0; q0 < nq; q0 += kGroup) {
      const size_t qn = std::min(kGroup, nq - q0);
      CodeIndexScan::scan_range(*this, Span<const QueryTables>(tables).subspan(q0, qn), begin, end,
                                heaps[t].data() + q0);
    }
  }
  for (size_t q = 0; q < nq; ++q) {
    for (int t = 1; t < T; ++t) heaps[0][q].merge(heaps[t][q]);
    heaps[0][q].write(negate, result.distances.data() + q * k, result.labels.data() + q * k);
  }
  return result;
}

SearchResult search(const LookupTable& lut, const Codes& codes, Span<const float> norms, size_t k) {
  VQ_CHECK(k >= 1, "search: k must be >= 1");
  VQ_CHECK(lut.num_books() == codes.num_books(), "search: table has ", lut.num_books(),
           " books, codes have ", codes.num_books());
  codes.validate();
  for (size_t m = 0; m < codes.num_books(); ++m)
    VQ_CHECK(lut.offsets[m + 1] - lut.offsets[m] >= (size_t{1} << codes.bits[m]) &&
                 lut.offsets[m + 1] <= lut.values.size(),
             "search: table of book ", m, " is smaller than its 2^", int(codes.bits[m]), " codes");
  VQ_CHECK(!lut.add_norms || norms.size() == codes.n, "search: the table needs one norm per ",
           "vector (", codes.n, "), got ", norms.size());
  const LookupTable table = minimizing(lut);
  TopK heap(k);
  float scores[kChunk];
  const size_t M = codes.num_books();
  for (size_t c0 = 0; c0 < codes.n; c0 += kChunk) {
    const size_t len = std::min(kChunk, codes.n - c0);
    const float* nrm = lut.add_norms ? norms.data() + c0 : nullptr;
    kernels::lut_scan_u16(scan_args(table, nrm), codes.data.data() + c0 * M, len, scores);
    push_scores(scores, len, static_cast<idx_t>(c0), heap);
  }
  SearchResult result = empty_result(1, k);
  heap.write(lut.metric == SearchMetric::kInnerProduct, result.distances.data(),
             result.labels.data());
  return result;
}

}  // namespace vq
