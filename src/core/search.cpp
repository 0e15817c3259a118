#include "vq/core/search.h"

#include "vq/core/limits.h"

#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <optional>

#include "core/code_blocks.h"
#include "core/lut_filter.h"
#include "kernels/lut_scan.h"
#include "vq/core/codebook_quantizer.h"

namespace vq {

using detail::BlockFormat;
using detail::BlockLayout;
using detail::BlockRange;
using detail::kInf;
using detail::minimizing;
using detail::push_scores;
using detail::QueryTables;
using detail::scan_args;
using detail::scan_filtered;
using detail::TopK;

namespace {

// Vectors scanned per kernel call: 512 rows of 16 uint8 codes (8 KiB) stay in L1 next to one
// query's 16 KiB of tables while the queries of a group take turns on them.
constexpr size_t kChunk = 512;
// Queries that share one pass over a chunk of codes.
constexpr size_t kGroup = 4;
// Code rows × queries a thread must have to be worth starting when few queries split the codes:
// ~100 µs of scanning at PQ16x8 rates (one query over 20,000 codes takes ~30 µs on one thread).
constexpr size_t kMinScanPerThread = size_t{1} << 16;

SearchResult empty_result(size_t nq, size_t k) {
  SearchResult r;
  r.nq = nq;
  r.k = k;
  r.distances.resize(nq * k);
  r.labels.resize(nq * k);
  return r;
}

}  // namespace

struct CodeIndexScan {
  static bool blocked(const CodeIndex& index) {
    return index.layout_ == CodeIndex::Layout::kPacked4 ||
           index.layout_ == CodeIndex::Layout::kBlocked8;
  }
  static BlockLayout block_layout(const CodeIndex& index) {
    return index.layout_ == CodeIndex::Layout::kPacked4 ? BlockLayout::kPacked4
                                                        : BlockLayout::kBlocked8;
  }
  // The blocked layouts' format (only when blocked(index)).
  static BlockFormat format(const CodeIndex& index) {
    return BlockFormat(block_layout(index), index.books_);
  }

  static QueryTables prepare(const CodeIndex& index, Span<const float> query) {
    QueryTables t;
    t.lut = minimizing(index.quantizer_->lookup_tables(query, index.metric_));
    if (blocked(index))
      quantize_tables(block_layout(index), index.with_norms_ ? index.max_norm_ : 0.f, t);
    return t;
  }

  // Vectors [begin, end) for every query of the group; begin is a multiple of kChunk.
  static void scan_range(const CodeIndex& index, Span<const QueryTables> group, size_t begin,
                         size_t end, TopK* heaps) {
    static_assert(kGroup <= kernels::kMaxQueriesPerScan && kGroup <= kernels::kMaxFilterQueries);
    const size_t M = index.books_;
    float scores[kGroup][kChunk];
    float* outs[kGroup];
    for (size_t g = 0; g < kGroup; ++g) outs[g] = scores[g];
    kernels::LutScanArgs args[kGroup];
    detail::TableZoom zooms[kGroup];  // the blocked layouts' tables, following the threshold along the range
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
      if (blocked(index)) {  // the whole group in one pass over the chunk's blocks
        scan_filtered(block_layout(index), group, chunk_range(index, c0, len), heaps, zooms);
        continue;
      }
      for (size_t g = 0; g < group.size(); ++g) {
        kernels::lut_scan_u16(scan_args(group[g].lut, norms), index.codes16_.data() + c0 * M, len, scores[0]);
        push_scores(scores[0], len, static_cast<idx_t>(c0), heaps[g]);
      }
    }
  }

  // Vectors [c0, c0 + len) of a blocked layout; c0 is a multiple of the block size.
  static BlockRange chunk_range(const CodeIndex& index, size_t c0, size_t len) {
    const BlockFormat f = format(index);
    const size_t bv = f.vectors(), b0 = c0 / bv;
    BlockRange r;
    r.blocks = index.codes8_.data() + b0 * f.bytes();
    r.nblocks = (len + bv - 1) / bv;
    r.books = index.books_;
    r.first_id = static_cast<idx_t>(c0);
    r.valid = index.size_ - c0;
    if (index.with_norms_) {
      r.norms = index.norms_.data() + c0;
      r.block_min_norm = index.block_min_norm_.data() + b0;
    }
    return r;
  }
};
static_assert(kChunk % kernels::kBlock4 == 0 && kChunk % kernels::kBlock8 == 0);

size_t CodeIndex::block_size() const { return CodeIndexScan::format(*this).vectors(); }

CodeIndex::CodeIndex(std::shared_ptr<const Quantizer> quantizer, SearchMetric metric)
    : quantizer_(std::move(quantizer)), metric_(metric) {
  VQ_CHECK(quantizer_ != nullptr, "CodeIndex: null quantizer");
  VQ_CHECK(quantizer_->is_trained(), "CodeIndex: ", quantizer_->describe(), " is not trained");
  VQ_CHECK(quantizer_->has_lookup_tables(), "CodeIndex: ", quantizer_->describe(),
           " has no lookup tables; search its decoded vectors instead");
  const std::vector<uint8_t> bits = quantizer_->book_bits();
  books_ = bits.size();
  const uint8_t widest = *std::max_element(bits.begin(), bits.end());
  // The blocked layouts as the KV cache chooses them (BlockFormat), except that 8-bit codes
  // are blocked only where the AVX-512 VBMI filter runs: without it the float scan over
  // row-major codes beats a scalar filter.
  const std::optional<BlockFormat> format = BlockFormat::for_books(bits);
  if (format && format->layout() == BlockLayout::kPacked4)
    layout_ = Layout::kPacked4;
  else if (format && simd_level() == SimdLevel::kAvx512)
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
      const BlockFormat f = CodeIndexScan::format(*this);
      const size_t blocks = (size_ + n + f.vectors() - 1) / f.vectors();
      codes8_.resize(blocks * f.bytes(), 0);
      for (size_t i = 0; i < n; ++i) {
        const size_t id = size_ + i;
        f.set_row(codes8_.data() + (id / f.vectors()) * f.bytes(), id % f.vectors(), codes.row(i));
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

Codes CodeIndex::codes() const {
  Codes out(size_, quantizer_->book_bits());
  const size_t M = books_;
  switch (layout_) {
    case Layout::kU8:
      std::copy(codes8_.begin(), codes8_.begin() + size_ * M, out.data.begin());
      break;
    case Layout::kU16:
      std::copy(codes16_.begin(), codes16_.end(), out.data.begin());
      break;
    case Layout::kPacked4:
    case Layout::kBlocked8: {
      const BlockFormat f = CodeIndexScan::format(*this);
      for (size_t id = 0; id < size_; ++id) {
        const uint8_t* block = codes8_.data() + (id / f.vectors()) * f.bytes();
        for (size_t m = 0; m < M; ++m) out(id, m) = f.get(block, m, id % f.vectors());
      }
      break;
    }
  }
  return out;
}

SearchResult CodeIndex::search(MatrixView<const float> queries, size_t k, int threads) const {
  VQ_CHECK(k >= 1, "CodeIndex::search: k must be >= 1");
  VQ_CHECK(queries.cols() == quantizer_->dim(), "CodeIndex::search: queries have ",
           queries.cols(), " columns, index dimension is ", quantizer_->dim());
  for (size_t q = 0; q < queries.rows(); ++q)
    for (float v : queries.row(q))
      VQ_CHECK(std::isfinite(v), "CodeIndex::search: non-finite value in query ", q);
  check_squared_norms(queries, "CodeIndex::search");
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
  // Only as many threads as there is work for: a thread that must first be scheduled costs
  // microseconds on an idle machine and a whole time slice (milliseconds) on a busy one, more
  // than a short scan takes alone.
  const int workers = static_cast<int>(std::clamp<size_t>(size_ * nq / kMinScanPerThread, 1, size_t(T)));
  std::vector<std::vector<TopK>> heaps(workers, std::vector<TopK>(nq, TopK(k)));
#pragma omp parallel num_threads(workers) if (workers > 1)
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
    for (int t = 1; t < workers; ++t) heaps[0][q].merge(heaps[t][q]);
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
