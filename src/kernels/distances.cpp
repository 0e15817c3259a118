#include "kernels/distances.h"

#include "kernels/isa.h"
#include "vq/simd.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace vq::kernels {

namespace {

// Rows of x per block: one sgemm and one selection pass per (block, column tile). 256 rows keep
// OpenBLAS's packing of the centroid panel amortised while the tile still fits in L2.
constexpr size_t kRowBlock = 256;
// Distance tile budget in floats (256 KiB): the whole tile is re-read by the selection pass, so
// it must stay cache-resident after sgemm wrote it. Wide k is cut into column tiles.
constexpr size_t kTileFloats = 65536;

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

void check_args(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms,
                size_t m, size_t out_size, const char* who) {
  VQ_CHECK(x.cols() == c.cols(), who, ": x has ", x.cols(), " columns, c has ", c.cols());
  VQ_CHECK(c.rows() > 0, who, ": no centroids");
  VQ_CHECK(c_norms.size() == c.rows(), who, ": c_norms has ", c_norms.size(), " entries for ", c.rows(),
           " centroids");
  VQ_CHECK(m >= 1 && m <= c.rows(), who, ": m = ", m, " must be in [1, ", c.rows(), "]");
  VQ_CHECK(out_size == x.rows() * m, who, ": output has ", out_size, " entries, expected ", x.rows() * m);
}

// The m smallest values seen so far for one row, kept sorted (ascending, ties by lower index
// because candidates arrive in index order and insertion is strict). Beam search asks for
// m <= 32, where a linear insertion beats a heap: most candidates fail the first comparison.
struct TopM {
  float* val;
  int32_t* idx;
  size_t m;
  void reset() {
    std::fill(val, val + m, std::numeric_limits<float>::infinity());
    std::fill(idx, idx + m, -1);
  }
  void push(float v, int32_t j) {
    if (!(v < val[m - 1])) return;
    size_t p = m - 1;
    while (p > 0 && v < val[p - 1]) {
      val[p] = val[p - 1];
      idx[p] = idx[p - 1];
      --p;
    }
    val[p] = v;
    idx[p] = j;
  }
};

// Runs `select` over distance tiles. For rows [r0, r0+rows) and centroids [c0, c0+cols) the tile
// holds ||c_j||² − 2 x_i·c_j (the row's ||x_i||² is added by the caller: it does not change the
// ranking). Each block is handled by one thread with arithmetic independent of the thread count
// (blocks are fixed by row index, sgemm computes each entry with the same K-order whatever M is),
// so results are identical for any `threads`.
//
// OpenBLAS threading: each OpenMP thread calls sgemm on its own block. Debian's default OpenBLAS
// is the pthread build, which does not know it is inside an OpenMP region; left at its default
// thread count it would start its own workers on top of ours. Measured with bench_kmeans
// (n=200k, d=128, k=256, 2 OpenMP threads, 2-core machine): unpinned OpenBLAS (2 threads) ran
// as fast as OpenBLAS pinned to 1 thread (8.8 s vs 10.2 s, within the noise of a shared
// machine), so we do not touch OpenBLAS's setting. But OpenBLAS splits a threaded sgemm
// differently, and the objective moved in the 5th digit: bitwise reproducibility holds for a
// fixed OpenBLAS thread count (the tests run with OPENBLAS_NUM_THREADS=1).
template <class Block>
void scan_tiles(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms,
                int threads, size_t state_per_row, Block&& block) {
  const size_t n = x.rows(), k = c.rows(), d = x.cols();
  if (n == 0) return;
  const size_t row_block = std::min(kRowBlock, n);
  const size_t col_tile = std::min(k, std::max<size_t>(64, kTileFloats / row_block));
  const size_t blocks = (n + row_block - 1) / row_block;
  const int nt = static_cast<int>(std::min<size_t>(resolve_threads(threads), blocks));

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<float> tile(row_block * col_tile), x_norms(row_block), state_val(row_block * state_per_row);
    std::vector<int32_t> state_idx(row_block * state_per_row);
#pragma omp for schedule(dynamic, 1)
    for (size_t b = 0; b < blocks; ++b) {
      const size_t r0 = b * row_block, rows = std::min(row_block, n - r0);
      for (size_t i = 0; i < rows; ++i) x_norms[i] = dot(x.row_ptr(r0 + i), x.row_ptr(r0 + i), d);
      for (size_t i = 0; i < rows; ++i)
        TopM{state_val.data() + i * state_per_row, state_idx.data() + i * state_per_row, state_per_row}.reset();
      for (size_t c0 = 0; c0 < k; c0 += col_tile) {
        const size_t cols = std::min(col_tile, k - c0);
        // tile = ||c||² broadcast, then sgemm with beta = 1 adds −2 x·c: OpenBLAS skips its
        // beta pass when beta == 1, whereas beta = 0 costs a memset of the tile plus our own
        // add pass (callgrind: ~12% of the instructions of the sgemm kernel at d = 128, k = 256).
        for (size_t i = 0; i < rows; ++i)
          std::copy(c_norms.data() + c0, c_norms.data() + c0 + cols, tile.data() + i * cols);
        if (d > 0)
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(cols),
                      static_cast<int>(d), -2.f, x.row_ptr(r0), static_cast<int>(x.stride()), c.row_ptr(c0),
                      static_cast<int>(c.stride()), 1.f, tile.data(), static_cast<int>(cols));
        for (size_t i = 0; i < rows; ++i) {
          const float* t = tile.data() + i * cols;
          block.consume(TopM{state_val.data() + i * state_per_row, state_idx.data() + i * state_per_row,
                             state_per_row},
                        t, cols, static_cast<int32_t>(c0));
        }
      }
      for (size_t i = 0; i < rows; ++i)
        block.finish(r0 + i, x_norms[i], state_val.data() + i * state_per_row, state_idx.data() + i * state_per_row);
    }
  }
}

// A row whose distances were all inf or NaN finds no candidate and keeps the "no label" −1 that
// TopM starts from. Callers index codebooks with labels, so −1 must never leave the kernels:
// a debug build stops at the row (assert), a release build throws here, after the parallel
// region (an exception must not escape it). Inputs whose squared norms overflow float are
// rejected before they get here (vq/core/limits.h); this is the last line of defence.
void check_labels(Span<const int32_t> labels, size_t per_row, const char* who) {
  for (size_t i = 0; i < labels.size(); ++i)
    VQ_CHECK(labels[i] >= 0, who, ": row ", i / per_row, " has no finite distance to any centroid (values too large ",
             "for float arithmetic, or a non-finite centroid)");
}

}  // namespace

// The loops' 8-float vector type is passed between inline helpers of this file only, so GCC's
// note that its ABI differs without AVX concerns no call that crosses a compiled boundary.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
namespace scalar {
inline constexpr size_t kFloatLanes = 4;  // SSE2, part of baseline x86-64
#include "kernels/distances_loops.inc"
}  // namespace scalar
#pragma GCC diagnostic pop

namespace {

// The entry points of one SIMD level, chosen once per process.
struct Loops {
  float (*dot)(const float*, const float*, size_t);
  float (*l2sqr)(const float*, const float*, size_t);
  size_t (*min_index)(const float*, size_t, float&);
  void (*min_max)(const float*, size_t, float&, float&);
  size_t (*first_below)(const float*, size_t, float);
  void (*transposed_products)(const float*, size_t, size_t, const float*, size_t, size_t, float*, size_t);
  void (*nearest_transposed)(const float*, size_t, size_t, const float*, const float*, size_t, size_t, int32_t*,
                             float*);
  size_t (*within_bound)(const float*, const float*, float, float, size_t, int32_t*);
};

#define VQ_LOOPS_OF(level)                                                                \
  Loops {                                                                                 \
    level::dot, level::l2sqr, level::min_index, level::min_max, level::first_below,       \
        level::transposed_products, level::nearest_transposed, level::within_bound_loop   \
  }

const Loops& loops() {
  static const Loops chosen = [] {
#if VQ_ISA_X86
    switch (simd_level()) {
      case SimdLevel::kAvx512: {
        Loops l = VQ_LOOPS_OF(avx512);
        l.within_bound = avx512::within_bound;
        return l;
      }
      case SimdLevel::kAvx2: return VQ_LOOPS_OF(avx2);
      case SimdLevel::kScalar: break;
    }
#endif
    return VQ_LOOPS_OF(scalar);
  }();
  return chosen;
}
#undef VQ_LOOPS_OF

}  // namespace

size_t within_bound_ref(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out) {
  return scalar::within_bound_loop(t, w, slack, limit, n, out);
}

size_t within_bound(const float* t, const float* w, float slack, float limit, size_t n, int32_t* out) {
  return loops().within_bound(t, w, slack, limit, n, out);
}

float l2sqr(const float* a, const float* b, size_t d) { return loops().l2sqr(a, b, d); }

void min_max(const float* v, size_t n, float& lo, float& hi) { loops().min_max(v, n, lo, hi); }

void nearest_transposed(const float* x, size_t n, size_t x_stride, const float* t, size_t dim, size_t K,
                        int32_t* labels, float* distances, const float* half_norms) {
  VQ_CHECK(K % 32 == 0 && K > 0, "nearest_transposed: K = ", K, " is not a positive multiple of 32");
  VQ_CHECK(dim > 0 && x_stride >= dim, "nearest_transposed: dim ", dim, ", stride ", x_stride);
  loops().nearest_transposed(x, n, x_stride, t, half_norms, dim, K, labels, distances);
}

std::vector<float> transposed_entries(MatrixView<const float> entries, float pad, size_t& padded) {
  const size_t k = entries.rows(), d = entries.cols();
  padded = (k + 31) / 32 * 32;
  std::vector<float> t(d * padded, pad);
  for (size_t e = 0; e < k; ++e)
    for (size_t j = 0; j < d; ++j) t[j * padded + e] = entries(e, j);
  return t;
}

float dot(const float* a, const float* b, size_t d) { return loops().dot(a, b, d); }

void transposed_products(const float* queries, size_t n, size_t query_stride, const float* t, size_t dim,
                         size_t K, float* out, size_t out_stride) {
  VQ_CHECK(K % 32 == 0, "transposed_products: K = ", K, " is not a multiple of 32");
  loops().transposed_products(queries, n, query_stride, t, dim, K, out, out_stride);
}

void row_norms(MatrixView<const float> x, Span<float> norms) {
  VQ_CHECK(norms.size() == x.rows(), "row_norms: ", norms.size(), " outputs for ", x.rows(), " rows");
  for (size_t i = 0; i < x.rows(); ++i) norms[i] = dot(x.row_ptr(i), x.row_ptr(i), x.cols());
}

void nearest(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms,
             Span<int32_t> labels, Span<float> distances, int threads) {
  check_args(x, c, c_norms, 1, labels.size(), "nearest");
  VQ_CHECK(distances.size() == x.rows(), "nearest: distances has ", distances.size(), " entries for ",
           x.rows(), " rows");
  struct Argmin {
    Span<int32_t> labels;
    Span<float> distances;
    // The tile row's minimum and its first index (ties: lowest index), vectorised at the
    // process's SIMD level while the row is still in L1.
    void consume(TopM best, const float* t, size_t cols, int32_t c0) const {
      float mn;
      const size_t j = loops().min_index(t, cols, mn);
      if (!(mn < best.val[0])) return;
      best.val[0] = mn;
      best.idx[0] = c0 + static_cast<int32_t>(j);
    }
    void finish(size_t row, float x_norm, const float* val, const int32_t* idx) const {
      assert(idx[0] >= 0 && "nearest: a row without a finite distance");
      labels[row] = idx[0];
      distances[row] = std::max(0.f, x_norm + val[0]);
    }
  };
  scan_tiles(x, c, c_norms, threads, 1, Argmin{labels, distances});
  check_labels(labels, 1, "nearest");
}

void nearest_k(MatrixView<const float> x, MatrixView<const float> c, Span<const float> c_norms, size_t m,
               Span<int32_t> labels, Span<float> distances, int threads) {
  check_args(x, c, c_norms, m, labels.size(), "nearest_k");
  VQ_CHECK(distances.size() == x.rows() * m, "nearest_k: distances has ", distances.size(),
           " entries, expected ", x.rows() * m);
  struct Select {
    Span<int32_t> labels;
    Span<float> distances;
    size_t m;
    void consume(TopM top, const float* t, size_t cols, int32_t c0) const {
      // Only entries below the list's current last can enter: skip to them (same pushes, in
      // the same order, as pushing every entry).
      const auto first_below = loops().first_below;
      for (size_t j = first_below(t, cols, top.val[m - 1]); j < cols;
           j += 1 + first_below(t + j + 1, cols - j - 1, top.val[m - 1]))
        top.push(t[j], c0 + static_cast<int32_t>(j));
    }
    void finish(size_t row, float x_norm, const float* val, const int32_t* idx) const {
      for (size_t s = 0; s < m; ++s) {
        assert(idx[s] >= 0 && "nearest_k: a row without m finite distances");
        labels[row * m + s] = idx[s];
        distances[row * m + s] = std::max(0.f, x_norm + val[s]);
      }
    }
  };
  scan_tiles(x, c, c_norms, threads, m, Select{labels, distances, m});
  check_labels(labels, m, "nearest_k");
}

}  // namespace vq::kernels
