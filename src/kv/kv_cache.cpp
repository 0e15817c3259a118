// KVCache: codes in pages, scoring through the core's lookup tables and the fast-scan filters
// (core/lut_filter.h), exact attention over the retrieved tokens. See the header for the
// layout and the one-writer / many-readers contract.
#include "vq/kv/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>

#include "core/code_blocks.h"
#include "core/lut_filter.h"
#include "kernels/lut_scan.h"
#include "kv/pages.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/factory.h"
#include "vq/core/metric.h"
#include "vq/kv/rope.h"

namespace vq::kv {

using vq::detail::BlockFormat;
using vq::detail::BlockLayout;
using vq::detail::QueryTables;
using vq::detail::TopK;

namespace {

// The partial last block's codes, row-major per head: codes[(h · block + j) · M + m]. The writer
// fills rows past the published count; readers read rows below it; a full block moves to its
// page and the next block gets a fresh Tail, so a row a reader can see is never rewritten.
struct Tail {
  std::vector<uint8_t> codes;
};

// What a reader works on: the published size and the tail that goes with it.
struct Snapshot {
  size_t size = 0;
  std::shared_ptr<const Tail> tail;
};

void check_finite(MatrixView<const float> x, const char* who, const char* what) {
  for (size_t i = 0; i < x.rows(); ++i)
    for (size_t j = 0; j < x.cols(); ++j)
      VQ_CHECK(std::isfinite(x(i, j)), "KVCache::", who, ": non-finite ", what, " at row ", i,
               ", column ", j);
}

// A contiguous copy of columns [c0, c0 + d) of x.
Matrix column_block(MatrixView<const float> x, size_t c0, size_t d) {
  Matrix out(x.rows(), d);
  for (size_t i = 0; i < x.rows(); ++i) std::memcpy(out.row_ptr(i), x.row_ptr(i) + c0, d * 4);
  return out;
}

// The RoPE angle a pre-RoPE key at position t = w·W + o gets: its offset in its window, o (how
// keys are coded, see the header), its window's start, w·W (how a windowed code meets the
// post-RoPE frame), or its position t.
enum class Turn { kOffset, kWindowStart, kPosition };

size_t turn_of(size_t t, size_t W, Turn turn) {
  switch (turn) {
    case Turn::kOffset: return t % W;
    case Turn::kWindowStart: return t / W * W;
    case Turn::kPosition: break;
  }
  return t;
}

// Rows of x (one or more heads of head_dim) rotated by sign × their turn; row i of x is at
// position pos(i).
template <class Position>
Matrix rotated_at(MatrixView<const float> x, Position pos, const KVCacheConfig& cfg, Turn turn, double sign) {
  Matrix out(x.rows(), x.cols());
  for (size_t i = 0; i < x.rows(); ++i) {
    std::memcpy(out.row_ptr(i), x.row_ptr(i), x.cols() * 4);
    const double angle = sign * double(turn_of(pos(i), cfg.rope_window, turn));
    for (size_t c = 0; c < x.cols(); c += cfg.head_dim)
      apply_rope(out.row_ptr(i) + c, cfg.head_dim, angle, cfg.rope_base, cfg.rope_style);
  }
  return out;
}

// Rows at consecutive positions first, first + 1, ...
Matrix rotated(MatrixView<const float> x, size_t first, const KVCacheConfig& cfg, Turn turn, double sign) {
  return rotated_at(x, [first](size_t i) { return first + i; }, cfg, turn, sign);
}

// Columns [m0, m0 + count) of codes.
Codes code_columns(const Codes& c, size_t m0, size_t count) {
  Codes out(c.n, std::vector<uint8_t>(c.bits.begin() + m0, c.bits.begin() + m0 + count));
  for (size_t i = 0; i < c.n; ++i) std::copy(c.row(i) + m0, c.row(i) + m0 + count, out.row(i));
  return out;
}

// Row i of a followed by row i of b.
Codes code_concat(const Codes& a, const Codes& b) {
  std::vector<uint8_t> bits = a.bits;
  bits.insert(bits.end(), b.bits.begin(), b.bits.end());
  Codes out(a.n, std::move(bits));
  for (size_t i = 0; i < a.n; ++i) {
    std::copy(a.row(i), a.row(i) + a.num_books(), out.row(i));
    std::copy(b.row(i), b.row(i) + b.num_books(), out.row(i) + a.num_books());
  }
  return out;
}

}  // namespace

namespace {

// The per-head query vectors and the tables that score one KV head's tokens, window by window
// (post-RoPE: one window spanning everything). Pre-RoPE, the query of window w is R(−w·W) q;
// callers walk windows in increasing order, so it is advanced by one fixed rotation R(−W) per
// window (two multiply-adds per pair in double) instead of cos/sin of every angle: table
// building, not the scan, bounds the windowed throughput. For codebook quantizers (PQ, RVQ) the
// tables of kChunk consecutive windows are built together (CodebookQuantizer::
// inner_product_tables: the rotated queries stacked, each tile of entries in registers).
// With a split code the residual quantizer's table (of the query itself) is built once and
// follows the windowed books' in every window's table.
class HeadTables {
 public:
  static constexpr size_t kChunk = 16;  // windows per batched table build

  // tokens: the cache size scored (bounds the batched builds to its windows); residual: the
  // post-RoPE residual quantizer of a split code, or null.
  HeadTables(const KVCacheConfig& cfg, const Quantizer& q, const Quantizer* residual, const float* query,
             size_t tokens)
      : cfg_(cfg), q_(q), cq_(dynamic_cast<const CodebookQuantizer*>(&q)), query_(query, query + cfg.head_dim) {
    if (cfg_.rope == RopeMode::kPostRope) return;
    if (residual) fixed_ = residual->lookup_tables(query_, SearchMetric::kInnerProduct);
    windows_ = tokens / cfg_.rope_window + 1;
    const size_t half = cfg_.head_dim / 2;
    step_.resize(half);
    for (size_t j = 0; j < half; ++j) {
      const double theta = -double(cfg_.rope_window) * std::pow(cfg_.rope_base, -2.0 * double(j) / double(cfg_.head_dim));
      step_[j] = {std::cos(theta), std::sin(theta)};
    }
    rotated_.assign(query_.begin(), query_.end());
  }

  // Tokens per window (everything when post-RoPE).
  size_t window() const {
    return cfg_.rope == RopeMode::kPreRope ? cfg_.rope_window : std::numeric_limits<size_t>::max();
  }
  // The inner-product tables for tokens of window w: the query rotated back to the window's
  // start, R(−w·W) q, meets keys stored as R(t − w·W) k_pre, so the score is exactly q·R(t)k̂.
  LookupTable tables(size_t w) {
    if (cfg_.rope == RopeMode::kPostRope) return q_.lookup_tables(query_, SearchMetric::kInnerProduct);
    LookupTable lut;
    if (!cq_) {
      rotate_to(w);
      const std::vector<float> r(rotated_.begin(), rotated_.end());
      lut = q_.lookup_tables(r, SearchMetric::kInnerProduct);
    } else {
      const float* row = chunk_row(w);
      lut.metric = SearchMetric::kInnerProduct;
      lut.offsets = offsets_;
      lut.values.assign(row, row + offsets_.back());
    }
    append_fixed(lut);
    return lut;
  }

  // tables(w) in minimizing form (negated) into lut, for the filtered scan; lut is what the
  // previous call filled (or empty). With batched windowed tables it keeps the residual's books
  // and only the windowed books are rewritten: per window that is all that changes. Returns
  // how many leading books were rewritten (all of them when the whole table was).
  size_t minimizing_tables(size_t w, LookupTable& lut) {
    const bool primed = !offsets_.empty() && lut.num_books() == offsets_.size() - 1 + fixed_.num_books() &&
                        lut.values.size() == offsets_.back() + fixed_.values.size();
    if (!cq_ || cfg_.rope == RopeMode::kPostRope || !primed) {
      lut = vq::detail::minimizing(tables(w));
      return lut.num_books();
    }
    const float* row = chunk_row(w);
    for (size_t i = 0; i < offsets_.back(); ++i) lut.values[i] = -row[i];
    return offsets_.size() - 1;
  }

 private:
  // The windowed books' tables of window w (offsets_.back() floats), building its chunk if needed.
  const float* chunk_row(size_t w) {
    if (w < first_ || w >= first_ + count_) build_chunk(w, std::min(kChunk, std::max(windows_, w + 1) - w));
    return chunk_.data() + (w - first_) * offsets_.back();
  }

  // The residual's books after the windowed ones (nothing without a split code).
  void append_fixed(LookupTable& lut) const {
    if (fixed_.offsets.empty()) return;
    const uint32_t base = lut.offsets.back();
    for (size_t m = 1; m < fixed_.offsets.size(); ++m) lut.offsets.push_back(base + fixed_.offsets[m]);
    lut.values.insert(lut.values.end(), fixed_.values.begin(), fixed_.values.end());
    lut.bias += fixed_.bias;
  }

  // rotated_ = R(−w·W) q.
  void rotate_to(size_t w) {
    if (w < at_) {  // walking back: restart from the query itself
      rotated_.assign(query_.begin(), query_.end());
      at_ = 0;
    }
    const size_t half = cfg_.head_dim / 2;
    for (; at_ < w; ++at_)
      for (size_t j = 0; j < half; ++j) {
        const size_t i0 = cfg_.rope_style == RopeStyle::kHalf ? j : 2 * j;
        const size_t i1 = cfg_.rope_style == RopeStyle::kHalf ? j + half : 2 * j + 1;
        const double a = rotated_[i0], b = rotated_[i1];
        rotated_[i0] = a * step_[j].first - b * step_[j].second;
        rotated_[i1] = a * step_[j].second + b * step_[j].first;
      }
  }
  // Tables of windows [w, w + count): per book m, chunk[i, offsets[m] + k] = (R(−(w+i)W) q)_m · c_mk.
  void build_chunk(size_t w, size_t count) {
    const size_t d = cfg_.head_dim;
    const auto& books = cq_->books();
    if (offsets_.empty()) {
      offsets_.push_back(0);
      for (const Codebook& b : books) offsets_.push_back(offsets_.back() + static_cast<uint32_t>(b.size()));
    }
    std::vector<float> qs(count * d);
    for (size_t i = 0; i < count; ++i) {
      rotate_to(w + i);
      std::copy(rotated_.begin(), rotated_.end(), qs.begin() + i * d);
    }
    const size_t total = offsets_.back();
    chunk_.resize(count * total);
    cq_->inner_product_tables(qs.data(), count, d, chunk_.data(), total);
    first_ = w;
    count_ = count;
  }

  const KVCacheConfig& cfg_;
  const Quantizer& q_;
  const CodebookQuantizer* cq_;  // null: tables window by window through q_
  std::vector<float> query_;
  LookupTable fixed_;                            // the residual quantizer's table, if any
  std::vector<std::pair<double, double>> step_;  // cos, sin of −θ_j·W per pair
  std::vector<double> rotated_;                  // R(−at_·W) q
  size_t at_ = 0;
  std::vector<uint32_t> offsets_;  // the tables' book offsets
  std::vector<float> chunk_;       // count_ × offsets_.back(): tables of windows first_ ..
  size_t first_ = 0, count_ = 0;
  size_t windows_ = 0;             // windows of the scored cache
};

}  // namespace

struct KVCache::Impl {
  size_t H = 0, d = 0, M = 0;  // KV heads, head dim, key books (with the residual's)
  size_t M1 = 0;               // books of the key quantizer (the first M1 of each code row)
  std::vector<uint8_t> key_bits;  // bits of all M key books
  BlockFormat format{BlockLayout::kBlocked8, 0};  // how a head's block of key codes is laid out
  size_t page_blocks = 0;      // blocks per head per page
  std::vector<std::unique_ptr<Quantizer>> keyq, keyr, valq;  // keyr: split code residuals, or empty
  size_t Mv = 0, vwidth = 0;   // value books, bytes per value code (1 or 2)
  std::unique_ptr<detail::PageList> key_pages, value_pages;

  // Published state (guarded by mu); the writer's own copies need no lock.
  mutable std::mutex mu;
  size_t published = 0;
  std::shared_ptr<Tail> tail;

  Snapshot snapshot() const {
    std::lock_guard<std::mutex> lock(mu);
    return {published, tail};
  }

  const uint8_t* block(size_t h, size_t b) const {
    const uint8_t* page = key_pages->page(b / page_blocks);
    return page + (h * page_blocks + b % page_blocks) * format.bytes();
  }
  uint8_t* writable_block(size_t h, size_t b) {
    uint8_t* page = key_pages->writable(b / page_blocks);
    return page + (h * page_blocks + b % page_blocks) * format.bytes();
  }
  // Key codes of head h for tokens ids (all < snap.size).
  Codes key_codes(const Snapshot& snap, size_t h, const std::vector<idx_t>& ids) const {
    Codes c(ids.size(), key_bits);
    const size_t bv = format.vectors(), full = snap.size / bv * bv;
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto t = static_cast<size_t>(ids[i]);
      if (t < full) {
        const uint8_t* blk = block(h, t / bv);
        format.get_row(blk, t % bv, c.row(i));
      } else {
        const uint8_t* row = snap.tail->codes.data() + (h * bv + (t - full)) * M;
        for (size_t m = 0; m < M; ++m) c(i, m) = row[m];
      }
    }
    return c;
  }
  std::vector<idx_t> head_topk(const KVCacheConfig& cfg, const Snapshot& snap, size_t h,
                               const float* query, size_t k) const;
  const Quantizer* residual(size_t h) const { return keyr.empty() ? nullptr : keyr[h].get(); }
  HeadTables tables(const KVCacheConfig& cfg, size_t h, const float* query, size_t tokens) const {
    return HeadTables(cfg, *keyq[h], residual(h), query, tokens);
  }
  // Codes of head h's keys (rows of head_dim at positions first, first + 1, ..., as appended:
  // pre-RoPE keys are coded window-relative, and with a split code the residual follows).
  Codes encode_keys(const KVCacheConfig& cfg, size_t h, MatrixView<const float> keys, size_t first) const;
  // The post-RoPE residual a split code's second quantizer sees: R(t)k − R(w·W)â.
  Matrix split_residual(const KVCacheConfig& cfg, size_t h, MatrixView<const float> keys, const Codes& coarse,
                        size_t first) const;
  // Keys decoded from codes c of tokens ids, in the frame queries meet (post-RoPE).
  Matrix decode_positioned(const KVCacheConfig& cfg, size_t h, const Codes& c, const std::vector<idx_t>& ids) const;
  // ids.size() × d keys of head h at their positions (what a post-RoPE query meets): from the
  // cold store when there is one, else decoded from the codes.
  Matrix positioned_keys(const KVCacheConfig& cfg, const ColdStore* cold, const Snapshot& snap, size_t h,
                         const std::vector<idx_t>& ids) const;
};

Matrix KVCache::Impl::positioned_keys(const KVCacheConfig& cfg, const ColdStore* cold, const Snapshot& snap,
                                      size_t h, const std::vector<idx_t>& ids) const {
  if (!cold) return decode_positioned(cfg, h, key_codes(snap, h, ids), ids);
  Matrix keys(ids.size(), d);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto t = static_cast<size_t>(ids[i]);
    std::memcpy(keys.row_ptr(i), cold->key(t) + h * d, d * 4);
    // Pre-RoPE: the cold key is at position 0.
    if (cfg.rope == RopeMode::kPreRope) apply_rope(keys.row_ptr(i), d, double(t), cfg.rope_base, cfg.rope_style);
  }
  return keys;
}

Matrix KVCache::Impl::decode_positioned(const KVCacheConfig& cfg, size_t h, const Codes& c,
                                        const std::vector<idx_t>& ids) const {
  if (cfg.rope == RopeMode::kPostRope) return keyq[h]->decode(c);
  // A windowed code decodes at its window offset: R(w·W) turns it to the position.
  const auto pos = [&ids](size_t i) { return static_cast<size_t>(ids[i]); };
  Matrix keys = rotated_at(keyq[h]->decode(code_columns(c, 0, M1)).view(), pos, cfg, Turn::kWindowStart, 1.0);
  if (const Quantizer* r = residual(h)) {
    const Matrix rhat = r->decode(code_columns(c, M1, M - M1));
    for (size_t i = 0; i < keys.rows() * keys.cols(); ++i) keys.data()[i] += rhat.data()[i];
  }
  return keys;
}

Matrix KVCache::Impl::split_residual(const KVCacheConfig& cfg, size_t h, MatrixView<const float> keys,
                                     const Codes& coarse, size_t first) const {
  Matrix r = rotated(keys, first, cfg, Turn::kPosition, 1.0);
  const Matrix a = rotated(keyq[h]->decode(coarse).view(), first, cfg, Turn::kWindowStart, 1.0);
  for (size_t i = 0; i < r.rows() * r.cols(); ++i) r.data()[i] -= a.data()[i];
  return r;
}

Codes KVCache::Impl::encode_keys(const KVCacheConfig& cfg, size_t h, MatrixView<const float> keys, size_t first) const {
  if (cfg.rope == RopeMode::kPostRope) return keyq[h]->encode(keys);
  const Codes coarse = keyq[h]->encode(rotated(keys, first, cfg, Turn::kOffset, 1.0).view());
  const Quantizer* r = residual(h);
  return r ? code_concat(coarse, r->encode(split_residual(cfg, h, keys, coarse, first).view())) : coarse;
}

KVCache::KVCache(KVCacheConfig config, std::unique_ptr<ColdStore> cold)
    : config_(std::move(config)), cold_(std::move(cold)), impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.H = config_.kv_heads;
  s.d = config_.head_dim;
  VQ_CHECK(s.H >= 1 && s.d >= 1, "KVCache: kv_heads and head_dim must be >= 1");
  VQ_CHECK(config_.page_tokens >= 64 && config_.page_tokens % 64 == 0,
           "KVCache: page_tokens = ", config_.page_tokens, " must be a positive multiple of 64");
  if (config_.rope == RopeMode::kPreRope) {
    VQ_CHECK(s.d % 2 == 0, "KVCache: pre-RoPE keys need an even head_dim, got ", s.d);
    VQ_CHECK(config_.rope_window >= 64 && config_.rope_window % 64 == 0, "KVCache: rope_window = ",
             config_.rope_window, " must be a positive multiple of 64 (whole blocks per window)");
  }
  if (cold_)
    VQ_CHECK(cold_->row_floats() == s.H * s.d, "KVCache: cold store rows have ",
             cold_->row_floats(), " floats, kv_heads × head_dim = ", s.H * s.d);
  const bool split = !config_.key_residual_quantizer.empty();
  VQ_CHECK(!split || config_.rope == RopeMode::kPreRope, "KVCache: key_residual_quantizer ",
           config_.key_residual_quantizer, " splits windowed pre-RoPE codes; it needs rope = pre-RoPE");
  for (size_t h = 0; h < s.H; ++h) {
    s.keyq.push_back(make_quantizer(config_.key_quantizer, s.d));
    if (split) s.keyr.push_back(make_quantizer(config_.key_residual_quantizer, s.d));
    if (!config_.value_quantizer.empty())
      s.valq.push_back(make_quantizer(config_.value_quantizer, s.d));
  }
  for (const Quantizer* kq : {static_cast<const Quantizer*>(s.keyq[0].get()), s.residual(0)}) {
    if (!kq) continue;
    VQ_CHECK(kq->has_lookup_tables(), "KVCache: key quantizer ", kq->describe(),
             " has no lookup tables (per-group scalar scales?); use PQ, RVQ or per-channel SQ");
    const std::vector<uint8_t> b = kq->book_bits();
    const uint8_t widest = *std::max_element(b.begin(), b.end());
    VQ_CHECK(widest <= 8, "KVCache: key quantizer ", kq->describe(), " has ", int(widest),
             "-bit books; the cache scans codes of at most 8 bits");
    s.key_bits.insert(s.key_bits.end(), b.begin(), b.end());
  }
  s.M1 = s.keyq[0]->book_bits().size();
  s.M = s.key_bits.size();
  // Key widths were checked above (<= 8 bits), so only the book count can rule blocks out.
  const std::optional<BlockFormat> format = BlockFormat::for_books(s.key_bits);
  VQ_CHECK(format.has_value(), "KVCache: key quantizer ", config_.key_quantizer,
           split ? " + " + config_.key_residual_quantizer : std::string(), " has ", s.M,
           " books of 8 bits; at most ", kernels::kMaxBooks8, " are supported");
  s.format = *format;
  s.page_blocks = config_.page_tokens / s.format.vectors();
  s.key_pages = std::make_unique<detail::PageList>(s.H * s.page_blocks * s.format.bytes());
  if (!s.valq.empty()) {
    const std::vector<uint8_t> vbits = s.valq[0]->book_bits();
    s.Mv = vbits.size();
    s.vwidth = *std::max_element(vbits.begin(), vbits.end()) <= 8 ? 1 : 2;
    s.value_pages =
        std::make_unique<detail::PageList>(config_.page_tokens * s.H * s.Mv * s.vwidth);
  }
}

KVCache::~KVCache() = default;

const Quantizer& KVCache::key_quantizer(size_t kv_head) const {
  VQ_CHECK(kv_head < impl_->H, "KVCache: KV head ", kv_head, " out of range (", impl_->H, ")");
  return *impl_->keyq[kv_head];
}

const Quantizer* KVCache::key_residual_quantizer(size_t kv_head) const {
  VQ_CHECK(kv_head < impl_->H, "KVCache: KV head ", kv_head, " out of range (", impl_->H, ")");
  return impl_->residual(kv_head);
}

const Quantizer* KVCache::value_quantizer(size_t kv_head) const {
  VQ_CHECK(kv_head < impl_->H, "KVCache: KV head ", kv_head, " out of range (", impl_->H, ")");
  return impl_->valq.empty() ? nullptr : impl_->valq[kv_head].get();
}

size_t KVCache::size() const { return impl_->snapshot().size; }

void KVCache::fit(MatrixView<const float> keys, MatrixView<const float> queries,
                  MatrixView<const float> values) {
  Impl& s = *impl_;
  VQ_CHECK(size() == 0, "KVCache::fit: the cache already holds ", size(),
           " tokens; fit codebooks before appending");
  const size_t T = keys.rows(), row = s.H * s.d;
  VQ_CHECK(T >= 1, "KVCache::fit: no prefill keys");
  VQ_CHECK(keys.cols() == row, "KVCache::fit: keys have ", keys.cols(),
           " columns, kv_heads × head_dim = ", row);
  VQ_CHECK(queries.rows() == T, "KVCache::fit: ", queries.rows(), " query rows for ", T,
           " key rows (one query row per prefill token)");
  VQ_CHECK(queries.cols() >= s.d && queries.cols() % (s.H * s.d) == 0, "KVCache::fit: queries have ",
           queries.cols(), " columns, expected q_heads × head_dim with q_heads a multiple of ",
           "kv_heads = ", s.H);
  check_finite(keys, "fit", "key");
  check_finite(queries, "fit", "query");
  if (!s.valq.empty()) {
    VQ_CHECK(values.rows() == T && values.cols() == row, "KVCache::fit: value quantizer ",
             config_.value_quantizer, " needs T × kv_heads·head_dim = ", T, " × ", row,
             " prefill values, got ", values.rows(), " × ", values.cols());
    check_finite(values, "fit", "value");
  }
  const size_t Hq = queries.cols() / s.d, group = Hq / s.H;
  const bool pre = config_.rope == RopeMode::kPreRope;
  const size_t W = config_.rope_window;
  for (size_t h = 0; h < s.H; ++h) {
    // H = E[q qᵀ] over the group's query heads. A windowed code meets R(−W·⌊s/W⌋) q for a key
    // at position s (its window's table); each query t is paired with a deterministic
    // pseudo-random earlier key position s <= t. A post-RoPE code meets q itself.
    const auto query_metric = [&](bool windowed) {
      Matrix samples(T * group, s.d);
      for (size_t t = 0; t < T; ++t)
        for (size_t g = 0; g < group; ++g) {
          float* dst = samples.row_ptr(t * group + g);
          std::memcpy(dst, queries.row_ptr(t) + (h * group + g) * s.d, s.d * 4);
          if (windowed) {
            const size_t pos = (t * 2654435761u + g) % (t + 1);
            apply_rope(dst, s.d, -double(pos / W * W), config_.rope_base, config_.rope_style);
          }
        }
      // A small damping keeps H positive definite when queries span few directions.
      return Metric::from_samples(samples.view(), 1e-3f);
    };
    TrainOptions opt;
    opt.seed = config_.seed + 7919 * h;
    opt.iterations = config_.train_iterations;
    opt.threads = config_.threads;
    if (config_.query_aware) opt.metric = query_metric(pre);
    const Matrix head_keys = column_block(keys, h * s.d, s.d);
    if (!pre) {
      s.keyq[h]->train(head_keys.view(), opt);
    } else {  // pre-RoPE keys are coded as they are stored, R(t mod W) k
      const Matrix rel = rotated(head_keys.view(), 0, config_, Turn::kOffset, 1.0);
      s.keyq[h]->train(rel.view(), opt);
      if (!s.keyr.empty()) {
        TrainOptions ropt;
        ropt.seed = opt.seed + 2;
        ropt.iterations = opt.iterations;
        ropt.threads = opt.threads;
        if (config_.query_aware) ropt.metric = query_metric(false);
        const Codes coarse = s.keyq[h]->encode(rel.view());
        s.keyr[h]->train(s.split_residual(config_, h, head_keys.view(), coarse, 0).view(), ropt);
      }
    }
    if (!s.valq.empty()) {
      TrainOptions vopt;
      vopt.seed = opt.seed + 1;
      vopt.iterations = opt.iterations;
      vopt.threads = opt.threads;
      s.valq[h]->train(column_block(values, h * s.d, s.d).view(), vopt);
    }
  }
  q_heads_ = Hq;
}

void KVCache::append(MatrixView<const float> keys, MatrixView<const float> values) {
  Impl& s = *impl_;
  VQ_CHECK(is_fitted(), "KVCache::append: call fit() on a prefill sample first");
  const size_t n = keys.rows(), row = s.H * s.d;
  VQ_CHECK(n >= 1, "KVCache::append: no tokens");
  VQ_CHECK(keys.cols() == row, "KVCache::append: keys have ", keys.cols(),
           " columns, kv_heads × head_dim = ", row);
  VQ_CHECK(values.rows() == n && values.cols() == row, "KVCache::append: values are ",
           values.rows(), " × ", values.cols(), ", expected ", n, " × ", row, " like the keys");
  check_finite(keys, "append", "key");
  check_finite(values, "append", "value");

  // Encode everything first: a bad input throws before anything is stored.
  const size_t size0 = s.published;
  std::vector<Codes> kc(s.H), vc(s.valq.size());
  for (size_t h = 0; h < s.H; ++h) kc[h] = s.encode_keys(config_, h, keys.cols_slice(h * s.d, s.d), size0);
  for (size_t h = 0; h < s.valq.size(); ++h) vc[h] = s.valq[h]->encode(values.cols_slice(h * s.d, s.d));

  const size_t total = size0 + n, bv = s.format.vectors();
  if (cold_) {
    if (keys.contiguous() && values.contiguous())
      cold_->append(keys.data(), values.data(), n);
    else
      for (size_t i = 0; i < n; ++i) cold_->append(keys.row_ptr(i), values.row_ptr(i), 1);
  }
  if (!s.valq.empty()) {
    const size_t pt = config_.page_tokens, rowv = s.H * s.Mv;
    for (size_t i = 0; i < n; ++i) {
      const size_t t = size0 + i;
      uint8_t* dst = s.value_pages->writable(t / pt) + (t % pt) * rowv * s.vwidth;
      for (size_t h = 0; h < s.H; ++h)
        for (size_t m = 0; m < s.Mv; ++m) {
          const uint16_t c = vc[h](i, m);
          if (s.vwidth == 1)
            dst[h * s.Mv + m] = static_cast<uint8_t>(c);
          else
            std::memcpy(dst + (h * s.Mv + m) * 2, &c, 2);
        }
    }
  }

  // Key codes: tokens whose block is complete after this call go to their page (with the
  // rows the old tail held for that block); the rest go to the tail of the last block.
  const size_t full_end = total / bv * bv;
  std::shared_ptr<Tail> tail = s.tail;
  if (size0 % bv != 0 && full_end > size0) {
    const size_t b = size0 / bv;
    for (size_t h = 0; h < s.H; ++h) {
      uint8_t* blk = s.writable_block(h, b);
      for (size_t j = 0; j < size0 % bv; ++j)
        s.format.set_row(blk, j, tail->codes.data() + (h * bv + j) * s.M);
    }
  }
  if (total % bv != 0 && (size0 / bv != total / bv || !tail)) {
    tail = std::make_shared<Tail>();
    tail->codes.assign(s.H * bv * s.M, 0);
  }
  for (size_t i = 0; i < n; ++i) {
    const size_t t = size0 + i, j = t % bv;
    for (size_t h = 0; h < s.H; ++h) {
      const uint16_t* c = kc[h].row(i);
      if (t < full_end) {
        uint8_t* blk = s.writable_block(h, t / bv);
        s.format.set_row(blk, j, c);
      } else {
        uint8_t* dst = tail->codes.data() + (h * bv + j) * s.M;
        for (size_t m = 0; m < s.M; ++m) dst[m] = static_cast<uint8_t>(c[m]);
      }
    }
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.published = total;
  s.tail = total % bv != 0 ? std::move(tail) : nullptr;
}

namespace {
double dot(const float* a, const float* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += double(a[j]) * b[j];
  return s;
}

void check_query(MatrixView<const float> query, size_t q_heads, size_t d, const char* who) {
  VQ_CHECK(q_heads != 0, "KVCache::", who, ": call fit() first");
  VQ_CHECK(query.rows() == q_heads && query.cols() == d, "KVCache::", who, ": query is ",
           query.rows(), " × ", query.cols(), ", expected q_heads × head_dim = ", q_heads, " × ", d);
  check_finite(query, who, "query value");
}
}  // namespace

Matrix KVCache::scores(MatrixView<const float> query) const {
  const Impl& s = *impl_;
  check_query(query, q_heads_, s.d, "scores");
  const Snapshot snap = s.snapshot();
  const size_t n = snap.size, bv = s.format.vectors(), nfull = n / bv, group = q_heads_ / s.H;
  Matrix out(q_heads_, n);
  std::vector<uint8_t> rows(bv * s.M);
  for (size_t qh = 0; qh < q_heads_; ++qh) {
    const size_t h = qh / group;
    HeadTables ht = s.tables(config_, h, query.row_ptr(qh), n);
    float* o = out.row_ptr(qh);
    const size_t W = ht.window();
    LookupTable lut;
    size_t lut_window = std::numeric_limits<size_t>::max();
    auto args_for = [&](size_t token) {
      if (token / W != lut_window) {
        lut_window = token / W;
        lut = ht.tables(lut_window);
      }
      return vq::detail::scan_args(lut, nullptr);
    };
    // Whole blocks: unpacked to row-major rows, then the float-table scan (same summation
    // order as every other scan, so the scores equal topk()'s bit for bit).
    for (size_t b = 0; b < nfull; ++b) {
      const uint8_t* blk = s.block(h, b);
      for (size_t j = 0; j < bv; ++j)
        s.format.get_row(blk, j, rows.data() + j * s.M);
      kernels::lut_scan_u8(args_for(b * bv), rows.data(), bv, o + b * bv);
    }
    if (n > nfull * bv)
      kernels::lut_scan_u8(args_for(nfull * bv), snap.tail->codes.data() + h * bv * s.M,
                           n - nfull * bv, o + nfull * bv);
  }
  return out;
}

std::vector<idx_t> KVCache::topk(MatrixView<const float> query, size_t k) const {
  check_query(query, q_heads_, impl_->d, "topk");
  VQ_CHECK(k >= 1, "KVCache::topk: k must be >= 1");
  const Snapshot snap = impl_->snapshot();
  const size_t kk = std::min(k, snap.size), group = q_heads_ / impl_->H;
  std::vector<idx_t> out(q_heads_ * kk);
  for (size_t qh = 0; qh < q_heads_ && kk > 0; ++qh) {
    const std::vector<idx_t> ids = impl_->head_topk(config_, snap, qh / group, query.row_ptr(qh), kk);
    std::copy(ids.begin(), ids.end(), out.begin() + qh * kk);
  }
  return out;
}

std::vector<idx_t> KVCache::topk_reranked(MatrixView<const float> query, size_t k, size_t candidates) const {
  const Impl& s = *impl_;
  check_query(query, q_heads_, s.d, "topk_reranked");
  VQ_CHECK(k >= 1 && candidates >= k, "KVCache::topk_reranked: need 1 <= k <= candidates, got k = ", k,
           ", candidates = ", candidates);
  VQ_CHECK(cold_, "KVCache::topk_reranked: re-ranking reads exact keys from the cold store; this cache has none");
  const Snapshot snap = s.snapshot();
  const size_t kk = std::min(k, snap.size), group = q_heads_ / s.H;
  std::vector<idx_t> out(q_heads_ * kk);
  for (size_t qh = 0; qh < q_heads_ && kk > 0; ++qh) {
    const float* q = query.row_ptr(qh);
    const std::vector<idx_t> ids = s.head_topk(config_, snap, qh / group, q, std::min(candidates, snap.size));
    const Matrix keys = s.positioned_keys(config_, cold_.get(), snap, qh / group, ids);
    TopK heap(kk);
    for (size_t i = 0; i < ids.size(); ++i) {
      heap.push(static_cast<float>(-dot(q, keys.row_ptr(i), s.d)), ids[i]);  // TopK keeps the smallest
    }
    heap.write(true, nullptr, out.data() + qh * kk);
  }
  return out;
}

// Top-k of one query head over a snapshot: filtered scan of whole blocks, page by page and
// window by window, then the tail with the float tables.
std::vector<idx_t> KVCache::Impl::head_topk(const KVCacheConfig& cfg, const Snapshot& snap,
                                            size_t h, const float* query, size_t k) const {
  const Impl& s = *this;
  const size_t n = snap.size, bv = s.format.vectors(), nfull = n / bv;
  HeadTables ht = s.tables(cfg, h, query, n);
  const size_t W = ht.window();
  TopK heap(k);
  QueryTables t;
  for (size_t b = 0; b < nfull;) {
    // The run of blocks from b that shares a page and a window.
    const size_t token = b * bv, w = token / W;
    size_t end = std::min(nfull, (b / s.page_blocks + 1) * s.page_blocks);
    if (W != std::numeric_limits<size_t>::max()) end = std::min(end, (w + 1) * W / bv);
    if (b == 0 || token % W == 0) {
      const size_t changed = ht.minimizing_tables(w, t.lut);
      VQ_CHECK(!t.lut.add_norms, "KVCache: inner-product tables must not need norms");
      if (changed == t.lut.num_books())
        vq::detail::quantize_tables(s.format.layout(), 0.f, t);
      else
        vq::detail::requantize_leading_books(s.format.layout(), changed, t);
    }
    vq::detail::BlockRange r;
    r.blocks = s.block(h, b);
    r.nblocks = end - b;
    r.books = s.M;
    r.first_id = static_cast<idx_t>(token);
    r.valid = r.nblocks * bv;
    vq::detail::scan_filtered(s.format.layout(), {&t, 1}, r, &heap);
    b = end;
  }
  if (n > nfull * bv) {
    const size_t first = nfull * bv, len = n - first;
    const LookupTable lut = vq::detail::minimizing(ht.tables(first / W));
    std::vector<float> sc(len);
    kernels::lut_scan_u8(vq::detail::scan_args(lut, nullptr), snap.tail->codes.data() + h * bv * s.M,
                         len, sc.data());
    vq::detail::push_scores(sc.data(), len, static_cast<idx_t>(first), heap);
  }
  std::vector<idx_t> ids(k);
  heap.write(true, nullptr, ids.data());
  return ids;
}

Matrix KVCache::attend(MatrixView<const float> query, size_t k, size_t sink, size_t window) const {
  const Impl& s = *impl_;
  check_query(query, q_heads_, s.d, "attend");
  VQ_CHECK(k >= 1, "KVCache::attend: k must be >= 1");
  VQ_CHECK(cold_ || !s.valq.empty(), "KVCache::attend: the cache keeps no values (no cold store ",
           "and no value quantizer)");
  const Snapshot snap = s.snapshot();
  const size_t n = snap.size, d = s.d, group = q_heads_ / s.H;
  VQ_CHECK(n > 0, "KVCache::attend: the cache is empty");
  const double scale = 1.0 / std::sqrt(double(d));
  Matrix out(q_heads_, d);
  for (size_t qh = 0; qh < q_heads_; ++qh) {
    const size_t h = qh / group;
    const float* q = query.row_ptr(qh);
    // The attended set: top-k ∪ sinks ∪ recent window, ascending and unique.
    std::vector<idx_t> ids = s.head_topk(config_, snap, h, q, std::min(k, n));
    for (size_t t = 0; t < std::min(sink, n); ++t) ids.push_back(static_cast<idx_t>(t));
    for (size_t t = n - std::min(window, n); t < n; ++t) ids.push_back(static_cast<idx_t>(t));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

    const Matrix keys = s.positioned_keys(config_, cold_.get(), snap, h, ids);
    Matrix vdec;
    if (!cold_) {
      // Values from their codes: gather the rows of the selected tokens, decode once.
      Codes vc(ids.size(), s.valq[h]->book_bits());
      const size_t pt = config_.page_tokens, rowv = s.H * s.Mv;
      for (size_t i = 0; i < ids.size(); ++i) {
        const auto t = static_cast<size_t>(ids[i]);
        const uint8_t* src = s.value_pages->page(t / pt) + (t % pt) * rowv * s.vwidth;
        for (size_t m = 0; m < s.Mv; ++m) {
          uint16_t c = 0;
          if (s.vwidth == 1)
            c = src[h * s.Mv + m];
          else
            std::memcpy(&c, src + (h * s.Mv + m) * 2, 2);
          vc(i, m) = c;
        }
      }
      vdec = s.valq[h]->decode(vc);
    }
    std::vector<double> logit(ids.size());
    double mx = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < ids.size(); ++i) {
      logit[i] = dot(q, keys.row_ptr(i), d) * scale;
      mx = std::max(mx, logit[i]);
    }
    std::vector<double> acc(d, 0.0);
    double denom = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const double p = std::exp(logit[i] - mx);
      denom += p;
      const float* v = cold_ ? cold_->value(static_cast<size_t>(ids[i])) + h * d : vdec.row_ptr(i);
      for (size_t j = 0; j < d; ++j) acc[j] += p * v[j];
    }
    for (size_t j = 0; j < d; ++j) out(qh, j) = static_cast<float>(acc[j] / denom);
  }
  return out;
}

Matrix KVCache::decoded_keys(size_t kv_head) const {
  VQ_CHECK(kv_head < impl_->H, "KVCache::decoded_keys: KV head ", kv_head, " out of range (",
           impl_->H, ")");
  const Snapshot snap = impl_->snapshot();
  std::vector<idx_t> ids(snap.size);
  for (size_t t = 0; t < snap.size; ++t) ids[t] = static_cast<idx_t>(t);
  if (snap.size == 0) return Matrix(0, impl_->d);
  const Matrix dec = impl_->decode_positioned(config_, kv_head, impl_->key_codes(snap, kv_head, ids), ids);
  if (config_.rope == RopeMode::kPostRope) return dec;
  return rotated(dec.view(), 0, config_, Turn::kPosition, -1.0);
}

KVBytes KVCache::bytes() const {
  const Impl& s = *impl_;
  KVBytes b;
  b.key_codes = double(s.H * s.format.bytes()) / double(s.format.vectors());
  b.value_codes = double(s.H * s.Mv * s.vwidth);
  b.cold = cold_ ? double(2 * s.H * s.d * sizeof(float)) : 0.0;
  return b;
}

}  // namespace vq::kv
