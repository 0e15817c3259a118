// (internal API for domains) Distance kernels: nearest-centroid search through BLAS sgemm.
//
// Squared L2 is expanded as ||x||² − 2 x·c + ||c||²; x·c for a block of rows against all
// centroids comes from one sgemm, and the argmin / top-m selection runs on that block while it
// is in cache. Results are identical for any thread count (each row is handled by one thread
// with the same arithmetic). Distances are clamped at 0 (the expansion can go slightly negative).
#pragma once

#include <cstdint>
#include <vector>

#include "vq/types.h"

namespace vq::kernels {

// Squared L2 distance and dot product of two length-d vectors: vectorised, summed in one fixed
// order, so every SIMD level gives the same bits.
float l2sqr(const float* a, const float* b, size_t d);
float dot(const float* a, const float* b, size_t d);

// Products of n queries (query_stride floats apart, dim values each) with the K columns of t
// (dim × K row-major, e.g. a codebook transposed): out[i·out_stride + k] = Σ_j q_i[j]·t[j·K + k],
// summed in ascending j like a plain loop `o[k] += q[j] * t[j·K + k]` over j (a multiply and
// an add, not fused), so both give the same bits at every SIMD level. K a multiple of 32. Each tile of 64 (or 32) columns is accumulated in
// registers over all of dim: many short tables (one per RoPE window) without a pass through
// memory per j.
void transposed_products(const float* queries, size_t n, size_t query_stride, const float* t, size_t dim,
                         size_t K, float* out, size_t out_stride);

// For each of n rows x_i (dim floats, x_stride apart): the nearest of K entries given
// transposed, t (dim × K row-major, K a multiple of 32; pad with +inf columns), by
// Σ_j (x_ij − t_jk)² summed in ascending j, and that distance. Ties: the lowest index; a row with
// no finite distance gets label −1. For short sub-vectors (PQ's, dim <= 32) this beats the GEMM
// path of nearest(): no product tile goes through memory and no ||c||² − 2x·c cancellation,
// and every SIMD level gives the same bits.
//
// With half_norms (K floats, ||t_k||² / 2): the nearest by ||t_k||² / 2 − x·t_k instead, half
// the arithmetic per entry (a multiply and an add, not a subtract, multiply and add), with that
// form's cancellation for rows far from the origin; the distance is ||x||² + 2·(that score),
// clamped at 0. Pad t with 0 columns and half_norms with +inf. What k-means' assignment uses,
// where a near-tie resolved either way costs nothing; every SIMD level still gives the same
// bits.
void nearest_transposed(const float* x, size_t n, size_t x_stride, const float* t, size_t dim, size_t K,
                        int32_t* labels, float* distances, const float* half_norms = nullptr);

// Up to this dimension nearest_transposed beats the GEMM path of nearest(); above it (few, wide
// entries) the product tile amortises. PQ encoding and k-means assignment both switch here.
inline constexpr size_t kTransposedMaxDim = 32;

// The rows of entries (k × dim) as nearest_transposed takes them: dim × K, K = k rounded up to a
// multiple of 32 (returned in padded), the padding columns set to pad (+inf for the direct form,
// 0 for the half-norm form).
std::vector<float> transposed_entries(MatrixView<const float> entries, float pad, size_t& padded);

// The smallest and largest of v[0..n), n >= 1 (a NaN is skipped unless v[0] is one): a lookup
// table's range, rebuilt per query, so it runs at the process's SIMD width.
void min_max(const float* v, size_t n, float& lo, float& hi);

// The indices j < n (ascending) with t[j] − slack·w[j] <= limit, written to out (n slots);
// returns their count. A pruned search's candidate list: t the estimates, slack·w the bound
// widths. AVX-512 compares 16 at a time and compresses the passing indices; _ref is the plain
// loop; every level gives the same list.
size_t within_bound(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out);
size_t within_bound_ref(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out);

// norms[i] = ||x_i||², norms.size() == x.rows().
void row_norms(MatrixView<const float> x, Span<float> norms);

// For every row of x (n × d): its nearest row of c (k × d) by squared L2.
// c_norms: ||c_j||² (size k). labels, distances: size n. threads: 0 = OpenMP default.
void nearest(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms,
             Span<int32_t> labels, Span<float> distances, int threads = 0);

// For every row of x: its m nearest rows of c, ascending by distance (ties: lower index first).
// labels, distances: n × m row-major. m <= k.
void nearest_k(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms,
               size_t m, Span<int32_t> labels, Span<float> distances, int threads = 0);

// ---- per-level entry points -------------------------------------------------------------------
// The functions above dispatch on simd_level() (vq/simd.h) to these, compiled from
// distances_loops.inc once per level; tests call them directly to compare the levels.
#define VQ_DISTANCE_LOOPS(level)                                                                    \
  namespace level {                                                                                 \
  float dot(const float* a, const float* b, size_t d);                                              \
  float l2sqr(const float* a, const float* b, size_t d);                                            \
  size_t min_index(const float* t, size_t n, float& min_out);                                       \
  void min_max(const float* v, size_t n, float& lo, float& hi);                                     \
  size_t first_below(const float* t, size_t n, float bound);                                        \
  void transposed_products(const float* queries, size_t n, size_t query_stride, const float* t,     \
                           size_t dim, size_t K, float* out, size_t out_stride);                    \
  void nearest_transposed(const float* x, size_t n, size_t x_stride, const float* t,                \
                          const float* half_norms, size_t dim, size_t K, int32_t* labels,           \
                          float* distances);                                                        \
  size_t within_bound_loop(const float* t, const float* w, float slack, float limit, size_t n,      \
                           int32_t* out);                                                           \
  }
VQ_DISTANCE_LOOPS(scalar)
VQ_DISTANCE_LOOPS(avx2)
VQ_DISTANCE_LOOPS(avx512)
#undef VQ_DISTANCE_LOOPS
namespace avx512 {
size_t within_bound(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out);
}

}  // namespace vq::kernels
