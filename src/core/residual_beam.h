// (internal API for domains) Beam-search encoding of residual / additive codes: the hot, subtle part of
// ResidualQuantizer, shared with GroupResidualQuantizer (per group) and usable by any quantizer
// whose books all span the same dimensions and are summed (AQ).
//
// Everything here works in the Metric's whitened space, where d_H(x, x̂) is plain squared L2:
// the input rows and the books are whitened once, and a beam's "residual" is the whitened
// x − Σ chosen entries, whose squared norm is the beam's total error under H.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vq/core/codebook_quantizer.h"
#include "vq/core/metric.h"
#include "vq/types.h"

namespace vq::detail {

// One codebook as the encoder sees it: entries whitened (K × r) and their squared norms (K).
struct WhitenedBook {
  Matrix entries;
  std::vector<float> norms;
  size_t size() const { return entries.rows(); }
};

// Whitens books (all of dimension metric's d, or any for identity) into the r-dimensional space
// of metric (r = metric.whitened_dim(d)). Identity: entries are copied unchanged.
std::vector<WhitenedBook> whiten_books(std::span<const Codebook> books, const Metric& metric);

// The beams of a batch of nb vectors after `depth` levels: `width` partial encodings per vector,
// sorted by error ascending (beam 0 is the best). All vectors of a batch share the width
// (it is min(B, K_0·K_1·…), the same for every vector).
struct BeamBatch {
  size_t nb = 0;                 // vectors in the batch
  size_t width = 0;              // beams per vector
  size_t levels = 0;             // code slots per beam (the total number of levels L)
  size_t r = 0;                  // whitened dimension
  std::vector<uint16_t> codes;   // nb × width × levels; slots >= depth are unspecified
  std::vector<float> residuals;  // nb × width × r, whitened residual of each beam
  std::vector<float> errors;     // nb × width, squared norm of each residual

  void resize(size_t n_vectors, size_t beams, size_t n_levels, size_t dim);
  uint16_t* code(size_t i, size_t b) { return codes.data() + (i * width + b) * levels; }
  float* residual(size_t i, size_t b) { return residuals.data() + (i * width + b) * r; }
};

// Extends every beam of `in` (depth = level) by one entry of `book` and keeps, per vector, the
// `beam` best of the candidates by total error; writes them to `out` (resized here) with code
// slot `level` set. Candidates per beam: its min(beam, K) nearest entries (kernels::nearest_k;
// kernels::nearest when beam == 1), which is exact for the global top-`beam`. Ties are broken by
// (parent beam, entry index), so the result is deterministic. Single-threaded: callers
// parallelise over batches.
void beam_step(const BeamBatch& in, const WhitenedBook& book, size_t level, size_t beam,
               BeamBatch& out);

// Starts a batch of whitened rows xw (nb × r) as one beam each, with `levels` code slots.
void beam_start(MatrixView<const float> xw, size_t levels, BeamBatch& out);

// Vectors per batch for a beam width: bounds the batch's residual memory (~ width × r floats per
// vector) while keeping the distance GEMMs large.
size_t beam_batch_size(size_t beam);

// Encodes x (n × d, original space, any row stride) with the L books (all of dimension d, used in
// order) under metric (identity, or of dimension d) with beam width `beam` (1 = greedy), and
// writes the best beam's indices to codes (n × L view, any stride: a column block of a wider
// Codes array). threads: 0 = OpenMP default. Parallel over batches of vectors, deterministic for
// any thread count.
void residual_encode(MatrixView<const float> x, std::span<const WhitenedBook> books,
                     const Metric& metric, size_t beam, MatrixView<uint16_t> codes, int threads);

// The metric to use for dimensions [offset, offset + len) of a d-dimensional quantizer: identity
// stays identity, otherwise the diagonal block of H.
Metric metric_block(const Metric& metric, size_t offset, size_t len, size_t d);

// Rows [begin, begin + count) of x copied to a contiguous matrix and whitened under metric.
Matrix whiten_rows(MatrixView<const float> x, size_t begin, size_t count, const Metric& metric);

}  // namespace vq::detail
