// KVCache: one transformer layer's key/value cache kept as codes, scored through lookup tables
// and attended exactly over the tokens that matter (A²ATS-style retrieval attention).
//
//   KVCacheConfig cfg;                       // kv_heads, head_dim, "PQ32x8", query-aware, ...
//   KVCache cache(cfg, make_memory_cold_store(cfg.kv_heads * cfg.head_dim));
//   cache.fit(prefill_keys, prefill_queries);  // per-KV-head codebooks
//   cache.append(keys, values);              // one or many tokens
//   Matrix s = cache.scores(q);              // q_heads × size(): q·k̂ for every cached token
//   std::vector<idx_t> ids = cache.topk(q, 64);
//   Matrix out = cache.attend(q, 64, /*sink=*/4, /*window=*/64);
//
// Shapes. A token row of keys or values is kv_heads × head_dim floats (head-major); a query is
// q_heads × head_dim, q_heads a multiple of kv_heads (grouped-query attention: query head h
// reads KV head h / (q_heads / kv_heads)). q_heads is learned by fit() from the queries' width.
//
// Codebooks. One key quantizer per KV head (any make_quantizer() name whose books are <= 8
// bits and that has lookup tables: PQ, VQ, RVQ, AQ, per-channel SQ2..SQ8), trained by fit() on
// a prefill sample under
//   query-aware:  H = E[q qᵀ] over the sample queries of the query heads sharing the KV head,
//                 so the error minimised is E[(qᵀk − qᵀk̂)²], the attention-score error;
//   keys only:    H = I (plain k-means on the keys).
// Values: optionally quantized too (their own per-head quantizer, H = I), for attention
// without a full-precision copy.
//
// RoPE.
//   kPostRope  keys are given after RoPE and scored as given: score = qᵀk̂.
//   kPreRope   keys are given before RoPE (token t at position t). Windowed RoPE: with
//              W = rope_window and t = w·W + o, the key is coded as R(o) k (rotated to its
//              offset in its window) and scored with the table of R(−w·W) q, one table per
//              window. Since R(−w·W)ᵀ R(o) = R(t), the score is exactly qᵀR(t)k̂ (k̂ the
//              decoded pre-RoPE key): nothing is approximated beyond the key's code. The
//              codebooks see keys rotated by at most W positions: the pre-RoPE structure of
//              the slow pairs is kept, and every position beyond the prefill sample looks like
//              one inside it (post-RoPE keys drift out of the trained distribution as positions
//              grow). Smaller W keeps more structure but builds more tables per query.
//              Exact attention rotates the cold pre-RoPE key to its position t.
//              Split code (key_residual_quantizer): table building is what windows cost, so
//              the key quantizer may code only the window-relative key's coarse part, a =
//              Q(R(o)k), and a second quantizer the rest in the frame queries meet, r =
//              R(t)k − R(w·W)â (post-RoPE). Decoded, R(t)k̂ = R(w·W)â + r̂, and the score is
//              (R(−w·W)q)·â + q·r̂: per window only the first quantizer's tables are built;
//              the residual's table is built once per query. On the tiny LM a 2-level
//              windowed RVQ keeps most of the all-windowed recall (BENCHMARKS.md, "KV cache").
//
// Storage. Key codes live in pages of page_tokens tokens that are allocated as the cache
// grows and never move or get copied. Within a page, each KV head's codes are in the blocked
// layouts of the fast scan kernels: 4-bit books nibble-packed in blocks of 32 tokens, 8-bit
// books one byte per code in blocks of 64 (see src/kernels/lut_scan.h). A block is written to
// its page once it is complete; the last, partial block lives in a small row-major tail
// buffer. topk() filters whole blocks with uint8-quantized tables (the AVX2 4-bit shuffle or
// AVX-512 VBMI 8-bit permute kernels) and re-scores the survivors with the float tables, so
// its result is exactly the top-K of the float-table scores — the same as scores() sorted.
//
// Threads. One writer, many readers: fit() and append() must not run concurrently with each
// other (the caller serialises writers), but scores(), topk(), attend(), size(),
// decoded_keys() and bytes_per_token() may run from any number of threads at the same time
// as one append(). A reader sees a consistent prefix of the cache: every token of some
// size() taken at the start of the call (appends of whole batches become visible at once).
// Readers never block each other or the writer beyond a short lock that copies the published
// size and tail pointer. Blocks are only scanned once complete, and bytes a reader can see
// are never written again, so no reader touches memory being written.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vq/core/quantizer.h"
#include "vq/types.h"
#include "vq/kv/cold_store.h"
#include "vq/kv/rope.h"

namespace vq::kv {

enum class RopeMode : uint8_t { kPostRope = 0, kPreRope = 1 };

struct KVCacheConfig {
  size_t kv_heads = 8;
  size_t head_dim = 128;
  std::string key_quantizer = "PQ32x8";
  std::string value_quantizer;   // empty: values are not quantized (kept in the cold store only)
  bool query_aware = true;       // H = E[qqᵀ] per KV head; false: H = I
  RopeMode rope = RopeMode::kPostRope;
  size_t rope_window = 256;      // kPreRope: positions per shared table, a multiple of 64
  // kPreRope only, optional: codes what key_quantizer leaves, post-RoPE (the split code
  // above); its books follow the key quantizer's in every code row.
  std::string key_residual_quantizer;
  double rope_base = 10000.0;
  RopeStyle rope_style = RopeStyle::kHalf;  // which dimensions RoPE pairs (rope.h)
  size_t page_tokens = 4096;     // tokens per code page, a multiple of 64
  uint64_t seed = 1234;          // training
  int train_iterations = 20;
  int threads = 0;               // training only; 0: OpenMP default
};

// Bytes held per token, all KV heads of the layer together.
struct KVBytes {
  double key_codes = 0;    // stored key codes (blocked layout: 4-bit books packed two per byte)
  double value_codes = 0;  // stored value codes (0 without a value quantizer)
  double cold = 0;         // full-precision keys + values in the cold store (0 without one)
  double hot() const { return key_codes + value_codes; }
};

class KVCache {
 public:
  // cold: where full-precision keys and values go (row_floats() == kv_heads · head_dim), or
  // null to keep none: attend() then uses decoded keys and needs a value quantizer.
  // Throws vq::Error on an invalid configuration (quantizer name, widths > 8 bits, window).
  explicit KVCache(KVCacheConfig config, std::unique_ptr<ColdStore> cold = nullptr);
  ~KVCache();
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;

  const KVCacheConfig& config() const { return config_; }
  size_t q_heads() const { return q_heads_; }  // 0 until fit()
  bool is_fitted() const { return q_heads_ != 0; }
  const Quantizer& key_quantizer(size_t kv_head) const;
  const Quantizer* key_residual_quantizer(size_t kv_head) const;  // null without one
  const Quantizer* value_quantizer(size_t kv_head) const;  // null without one
  const ColdStore* cold_store() const { return cold_.get(); }

  // Writer. keys: T × (kv_heads·head_dim) prefill keys (pre- or post-RoPE as configured) at
  // positions 0..T−1; queries: T × (q_heads·head_dim), post-RoPE; values: T × (kv_heads ·
  // head_dim), needed only with a value quantizer (empty view otherwise). Only on an empty cache.
  void fit(MatrixView<const float> keys, MatrixView<const float> queries,
           MatrixView<const float> values = {});

  // Writer. keys, values: n × (kv_heads·head_dim) finite floats, n >= 1; the tokens get
  // positions size() .. size()+n−1.
  void append(MatrixView<const float> keys, MatrixView<const float> values);

  // Tokens cached (published to readers).
  size_t size() const;

  // q_heads × size(): score of every cached token for each query head (query: q_heads ×
  // head_dim, post-RoPE). Equal to q·k̂ on decoded keys up to float rounding (pre-RoPE:
  // q·R(t)k̂).
  Matrix scores(MatrixView<const float> query) const;

  // q_heads × min(k, size()) token ids, row-major, best score first (ties: lower id): the
  // top-k of scores(query) per query head. k >= 1.
  std::vector<idx_t> topk(MatrixView<const float> query, size_t k) const;

  // Optional re-ranking, NOT retrieval from codes alone: per query head, the top `candidates`
  // tokens of topk() are re-scored with their exact keys from the cold store (pre-RoPE keys
  // rotated to their positions) and the best k returned, q_heads × min(k, size()) ids, best
  // first (ties: lower id). Costs `candidates` cold-store reads per head and query. Needs a
  // cold store; 1 <= k <= candidates.
  std::vector<idx_t> topk_reranked(MatrixView<const float> query, size_t k, size_t candidates) const;

  // q_heads × head_dim: softmax(q·k/√head_dim) attention over, per query head, the union of
  // its top-k tokens, the first `sink` tokens and the last `window` tokens, with exact keys
  // and values from the cold store (or decoded ones without it). k >= 1; empty cache: error.
  Matrix attend(MatrixView<const float> query, size_t k, size_t sink, size_t window) const;

  // size() × head_dim: the keys of one KV head as the codes decode them (pre-RoPE: rotated
  // back from their window offset, so row t is k̂ before RoPE). For tests and analysis.
  Matrix decoded_keys(size_t kv_head) const;

  KVBytes bytes() const;
  // Hot bytes per token (key codes + value codes, all heads): the figure that bounds how much
  // context fits in fast memory.
  double bytes_per_token() const { return bytes().hot(); }

 private:
  struct Impl;
  KVCacheConfig config_;
  size_t q_heads_ = 0;
  std::unique_ptr<ColdStore> cold_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vq::kv
