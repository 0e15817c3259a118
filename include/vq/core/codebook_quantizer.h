// CodebookQuantizer: the shared mechanism of every codebook-based quantizer.
//
// VQ, PQ, RVQ, GRVQ and AQ all decode the same way: a vector is the sum of one entry from each
// of M codebooks, where book m spans dimensions [offset_m, offset_m + dim_m):
//
//     VQ    M = 1, offset 0, dim d
//     PQ    book m spans sub-vector m (disjoint)
//     RVQ   every book spans all d dimensions (stages on the running residual)
//     GRVQ  RVQ books within each group of dimensions
//     AQ    every book spans all d dimensions (jointly trained, jointly encoded)
//
// so decode, lookup tables, decoded norms and the on-disk form live here once; subclasses differ
// only in how they train and encode. Composition (a PQ of RVQs = GRVQ) is a layout of books.
#pragma once

#include <vector>

#include "vq/core/quantizer.h"

namespace vq {

struct Codebook {
  size_t offset = 0;  // first dimension this book writes to
  size_t dim = 0;     // number of dimensions it spans
  uint8_t bits = 0;   // 2^bits entries, 1 <= bits <= 16
  Matrix entries;     // (1 << bits) × dim

  size_t size() const { return size_t{1} << bits; }
  const float* entry(size_t k) const { return entries.row_ptr(k); }
};

class CodebookQuantizer : public Quantizer {
 public:
  size_t dim() const override { return dim_; }
  std::vector<uint8_t> book_bits() const override { return bits_; }
  bool is_trained() const override { return trained_; }
  const Metric& metric() const override { return metric_; }

  void decode(const Codes& codes, MatrixView<float> out) const override;
  using Quantizer::decode;

  bool has_lookup_tables() const override { return true; }
  LookupTable lookup_tables(Span<const float> query, SearchMetric metric) const override;

  // Inner-product tables of n queries at once (rows query_stride floats apart): out row i (out_stride
  // floats apart) holds what lookup_tables(q_i, kInnerProduct).values holds, bit for bit. For
  // many tables of one quantizer, e.g. one per RoPE window: each tile of entries stays in
  // registers over a book's dimensions instead of going through memory per dimension.
  void inner_product_tables(const float* queries, size_t n, size_t query_stride, float* out,
                            size_t out_stride) const;

  // Chunks "MTRC" (metric) and "BOOK" (all books: count, then offset, dim, bits, entries each).
  void save_state(ContainerWriter& out) const override;
  void load_state(const ContainerReader& in) override;

  // Books in code order: Codes column m indexes books()[m].
  const std::vector<Codebook>& books() const { return books_; }
  // True when no two books share a dimension: L2 lookup tables are then exact on their own.
  bool books_disjoint() const;
  // ||x̂_i||² for every decoded vector (size codes.n): what L2 search over additive codes adds.
  std::vector<float> decoded_norms(const Codes& codes) const;

 protected:
  // bits: the codebook sizes this configuration will have once trained (known from describe()).
  CodebookQuantizer(size_t dim, std::vector<uint8_t> bits);
  // Installs trained books; checks they cover [0, dim) and match bits().
  void set_books(std::vector<Codebook> books, Metric metric);
  // out_row += Σ_m books[m].entry(codes[m]) placed at its offset; out_row has dim() floats.
  void accumulate(const uint16_t* codes, float* out_row) const;

 private:
  size_t dim_;
  std::vector<uint8_t> bits_;
  std::vector<Codebook> books_;
  // Per book, derived at set_books(): entries transposed (dim × 2^bits, row-major) and their
  // squared norms (2^bits), so a lookup table is built with the entry index innermost — one
  // contiguous, vectorised pass per query dimension instead of a short dot product per entry.
  std::vector<std::vector<float>> transposed_;
  std::vector<std::vector<float>> entry_norms_;
  Metric metric_;
  bool trained_ = false;
};

}  // namespace vq
