// Search over codes: top-k by lookup tables (asymmetric distance computation), no decoding.
//
//   CodeIndex index(quantizer, SearchMetric::kL2);
//   index.add(quantizer->encode(base));              // ids 0, 1, … in insertion order
//   SearchResult r = index.search(queries, 10);      // r.labels[q * 10 + j]: j-th neighbour
//   save_index("base.vqc", index);                   // index_io.h
//
// search() is const and keeps its scratch per call: any number of threads may search one index
// at once (add() must not run concurrently with them).
//
// Results are exact for the tables: the top-k by the lookup-table score, which equals the
// score against the decoded vectors up to float rounding (||q − x̂||² for L2, q·x̂ for inner
// product). Ties are broken by the lower id, so results do not depend on the thread count,
// the SIMD level or how queries are batched.
//
// Storage layout, chosen once from the quantizer's book widths:
//   every book <= 4 bits (and M <= 256): nibble-packed blocks of 32 vectors, scanned with
//       uint8-quantized tables in registers (16-entry shuffles); the quantized sums only
//       bound the score, and candidates that can still enter the top-k are re-scored with
//       the float tables, so the results stay exact;
//   every book <= 8 bits (and M <= 256) on a CPU with AVX-512 VBMI: blocks of 64 vectors,
//       book-major, scanned the same way with 256-entry uint8 tables (byte permutes over four
//       registers per book), exact re-scoring of the candidates;
//   every book <= 8 bits otherwise: n × M uint8, row-major;
//   otherwise: n × M uint16, row-major.
// For L2 over additive quantizers (lookup_tables(...).add_norms, e.g. RVQ, AQ), ||x̂||² of each
// vector is computed once in add() and stored beside the codes (one float per vector).
#pragma once

#include <memory>
#include <vector>

#include "vq/core/lookup_table.h"
#include "vq/core/quantizer.h"
#include "vq/types.h"

namespace vq {

// Top-k of nq queries. distances and labels are nq × k row-major, best first: ascending
// distance for L2, descending inner product for kInnerProduct. When fewer than k vectors
// exist, the missing entries have label -1 and distance +inf (L2) or -inf (inner product).
struct SearchResult {
  size_t nq = 0, k = 0;
  std::vector<float> distances;
  std::vector<idx_t> labels;

  const float* distances_row(size_t q) const { return distances.data() + q * k; }
  const idx_t* labels_row(size_t q) const { return labels.data() + q * k; }
};

class CodeIndex {
 public:
  // quantizer: trained, has_lookup_tables(). Throws vq::Error otherwise.
  CodeIndex(std::shared_ptr<const Quantizer> quantizer, SearchMetric metric);

  // Appends codes produced by the quantizer (same book widths); ids continue from size().
  void add(const Codes& codes);
  size_t size() const { return size_; }
  SearchMetric metric() const { return metric_; }
  const Quantizer& quantizer() const { return *quantizer_; }
  std::shared_ptr<const Quantizer> shared_quantizer() const { return quantizer_; }
  // The stored codes in id order (everything add() was given, concatenated); index files
  // (index_io.h) store these, since the scan layout depends on the CPU that loads them.
  Codes codes() const;

  // queries: nq × dim() finite floats; k >= 1. threads: 0 = OpenMP default. Large batches are
  // split over queries, small ones over ranges of codes (per-thread heaps, merged); a thread
  // scans each block of codes once for a group of queries while the block is in cache.
  SearchResult search(MatrixView<const float> queries, size_t k, int threads = 0) const;

 private:
  enum class Layout : uint8_t { kPacked4, kBlocked8, kU8, kU16 };
  friend struct CodeIndexScan;  // search.cpp: the scan loops over this storage

  std::shared_ptr<const Quantizer> quantizer_;
  SearchMetric metric_;
  Layout layout_;
  size_t books_;
  bool with_norms_ = false;
  size_t size_ = 0;
  // Vectors per block of the blocked layouts (kPacked4, kBlocked8).
  size_t block_size() const;

  std::vector<uint8_t> codes8_;  // kU8: size × M; kPacked4 / kBlocked8: blocks × block bytes
  std::vector<uint16_t> codes16_;  // kU16: size × M
  std::vector<float> norms_;       // ||x̂||² per vector when with_norms_
  std::vector<float> block_min_norm_;  // blocked layouts with norms: min of norms_ per block
  float max_norm_ = 0.f;               // with norms: max of norms_ (bounds float rounding)
};

// Top-k of one query over unpacked codes with its tables (lut from Quantizer::lookup_tables).
// norms: ||x̂||² per vector (size codes.n) when lut.add_norms, else empty. k >= 1.
SearchResult search(const LookupTable& lut, const Codes& codes, Span<const float> norms, size_t k);

}  // namespace vq
