#include "vq/weights/gemv.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/weights_gemv.h"

namespace vq::weights {

namespace {

using kernels::kRowBlock;

// Float tables are built for as many positions as fit kChunkBytes (a 4096-column AQ2x8d8 layer
// at batch 1: all 1 MiB at once), and walked in tiles of kTileBytes that stay in L1 while every
// row block of a thread streams through them.
constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr size_t kTileBytes = size_t{16} << 10;
// The packed codes are tile-major: positions in tiles of kLayoutTile, and within a tile every row
// block's codes in turn (position-major inside the block), so one tile's codes of all the rows a
// thread owns are one contiguous stream. (The int8 scale tiles are the layout tiles.)
constexpr size_t kLayoutTile = kInt8TilePositions;

// Splits n items evenly over the threads of the enclosing parallel region: [begin, end).
std::pair<size_t, size_t> thread_share(size_t n) {
  const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
  return {n * t / nt, n * (t + 1) / nt};
}

// Float tables of positions [p0, p0 + np) for a batch of B inputs (x: B × cols), layout
// dst[((p − p0)·K + k)·B + b]. trans: the row group's codebooks transposed (M × g × K), so the
// batch-1 build vectorises over k. Serial: callers split the positions over their threads.
void build_float_tables(const CompressedMatrix& cm, const float* books, const float* trans, const float* x,
                        size_t B, size_t p0, size_t np, float* dst) {
  const size_t M = cm.scheme.books, K = size_t{1} << cm.scheme.bits, g = cm.scheme.group;
  for (size_t q = 0; q < np; ++q) {
    const size_t p = p0 + q, j = p / M, m = p % M, col0 = j * g;
    float* d = dst + q * K * B;
    if (B == 1) {
      for (size_t k = 0; k < K; ++k) d[k] = 0.f;
      for (size_t t = 0; t < g; ++t) {
        const float xt = x[col0 + t];
        const float* ct = trans + (m * g + t) * K;
        for (size_t k = 0; k < K; ++k) d[k] += ct[k] * xt;
      }
    } else {
      // Inputs' slice transposed (g × B) so the inner loop runs over the batch.
      float xt[64 * kernels::kMaxGemvBatch];
      for (size_t t = 0; t < g; ++t)
        for (size_t b = 0; b < B; ++b) xt[t * B + b] = x[b * cm.cols + col0 + t];
      for (size_t k = 0; k < K; ++k) {
        const float* e = books + (m * K + k) * g;
        float* dk = d + k * B;
        for (size_t b = 0; b < B; ++b) dk[b] = 0.f;
        for (size_t t = 0; t < g; ++t)
          for (size_t b = 0; b < B; ++b) dk[b] += e[t] * xt[t * B + b];
      }
    }
  }
}

}  // namespace

GemvKernel::GemvKernel(const CompressedMatrix& m, LutPrecision precision) : precision_(precision) {
  m.validate();
  m_.scheme = m.scheme;
  m_.rows = m.rows;
  m_.cols = m.cols;
  m_.codebooks = m.codebooks;
  m_.scales = m.scales;
  m_.zeros = m.zeros;
  m_.group_begin = m.group_begin;
  m_.row_order = m.row_order;
  if (!m.scheme.is_aq()) {
    m_.codes.resize(m.codes.size() + kernels::kScalarCodePadding, 0);
    std::copy(m.codes.begin(), m.codes.end(), m_.codes.begin());
    return;
  }
  const size_t cb = m.code_bytes(), P = m.cols / m.scheme.group * m.scheme.books;
  if (cb != 1) precision_ = LutPrecision::kFloat;  // 16-bit codes: tables of 2^16 entries
  const size_t M = m.scheme.books, K = size_t{1} << m.scheme.bits, g = m.scheme.group, nf = m.codebook_floats();
  trans_.resize(m.codebooks.size());
  for (size_t rg = 0; rg < m.codebooks.size() / nf; ++rg)
    for (size_t b = 0; b < M; ++b)
      for (size_t k = 0; k < K; ++k)
        for (size_t t = 0; t < g; ++t) trans_[rg * nf + (b * g + t) * K + k] = m.codebooks[rg * nf + (b * K + k) * g + t];
  for (size_t rg = 0; rg + 1 < m.group_begin.size(); ++rg)
    for (size_t r0 = m.group_begin[rg]; r0 < m.group_begin[rg + 1]; r0 += kRowBlock)
      blocks_.push_back({uint32_t(r0), uint32_t(std::min<size_t>(kRowBlock, m.group_begin[rg + 1] - r0)), uint32_t(rg)});
  m_.codes.assign(blocks_.size() * P * kRowBlock * cb, 0);
  for (size_t blk = 0; blk < blocks_.size(); ++blk)
    for (size_t i = 0; i < blocks_[blk].rows; ++i) {
      const uint8_t* src = m.codes.data() + (blocks_[blk].first_row + i) * P * cb;
      for (size_t p = 0; p < P; ++p)
        std::memcpy(m_.codes.data() + code_offset(blk, p) + i * cb, src + p * cb, cb);
    }
}

size_t GemvKernel::code_offset(size_t blk, size_t p) const {
  const size_t P = m_.cols / m_.scheme.group * m_.scheme.books, t0 = p / kLayoutTile * kLayoutTile;
  const size_t np = std::min(kLayoutTile, P - t0);
  return (t0 * blocks_.size() + blk * np + (p - t0)) * kRowBlock * m_.code_bytes();
}

// acc (rows × B, stored row order) = the products of a batch of B <= 16 inputs.
void GemvKernel::aq_product(const float* x, size_t B, std::vector<float>& acc) const {
  const CompressedMatrix& cm = m_;
  const size_t M = cm.scheme.books, K = size_t{1} << cm.scheme.bits, g = cm.scheme.group;
  const size_t P = cm.cols / g * M, cb = cm.code_bytes(), nblocks = blocks_.size();
  thread_local std::vector<float> block_acc, lut_storage, c_storage;
  thread_local std::vector<uint8_t> lut8_storage;
  thread_local std::vector<kernels::Int8Tile> tile_storage;
  block_acc.assign(nblocks * kRowBlock * B, 0.f);
  // (thread_local storage is named through plain pointers below: inside the OpenMP regions the
  // name would denote each worker's own, empty, instance.)
  float* const bacc = block_acc.data();
  c_storage.assign(cm.group_begin.size() * B, 0.f);  // int8: Σ of table minima per row group and input
  float* const c_sum = c_storage.data();
  size_t blk_begin = 0;
  for (size_t rg = 0; rg + 1 < cm.group_begin.size(); ++rg) {
    size_t blk_end = blk_begin;
    while (blk_end < nblocks && blocks_[blk_end].row_group == rg) ++blk_end;
    const size_t nb = blk_end - blk_begin;
    const float* books = cm.codebooks.data() + rg * cm.codebook_floats();
    const float* trans = trans_.data() + rg * cm.codebook_floats();

    if (precision_ == LutPrecision::kFloat) {
      const size_t table = K * B;  // floats per position
      const size_t chunk = std::clamp<size_t>(kChunkBytes / (table * sizeof(float)), 1, P);
      const size_t tile = std::clamp<size_t>(kTileBytes / (table * sizeof(float)), 1, chunk);
      lut_storage.resize(chunk * table);
      float* const lut = lut_storage.data();
      for (size_t p0 = 0; p0 < P; p0 += chunk) {
        const size_t np = std::min(chunk, P - p0);
#pragma omp parallel if (nb > 1)
        {
          const auto [q0, q1] = thread_share(np);
          build_float_tables(cm, books, trans, x, B, p0 + q0, q1 - q0, lut + q0 * table);
#pragma omp barrier
          const auto [b0, b1] = thread_share(nb);
          for (size_t t0 = 0; t0 < np;) {
            kernels::AqFloatArgs a;
            a.lut = lut + t0 * table;
            // (a kernel call stays inside one layout tile)
            a.positions = std::min({tile, np - t0, kLayoutTile - (p0 + t0) % kLayoutTile});
            a.entries = K;
            a.batch = B;
            // (a tile's row blocks follow each other at a fixed step)
            const size_t first = code_offset(blk_begin + b0, p0 + t0), step = code_offset(blk_begin + b0 + 1, p0 + t0) - first;
            for (size_t blk = blk_begin + b0; blk < blk_begin + b1; ++blk) {
              a.codes = cm.codes.data() + first + (blk - blk_begin - b0) * step;
              a.acc = bacc + blk * kRowBlock * B;
              if (cb == 1)
                kernels::aq_float_u8(a);
              else
                kernels::aq_float_u16_ref(a);
            }
            t0 += a.positions;
          }
        }
      }
    } else {
      // uint8 tables of every position and input: [b][p][stride], one quantised tile per (b, tile).
      constexpr size_t T = kInt8TilePositions;
      static_assert(T <= kernels::kMaxI8TilePositions && T == kLayoutTile);
      const size_t stride = K <= 64 ? 64 : K <= 128 ? 128 : 256, ntiles = (P + T - 1) / T;
      lut8_storage.resize(B * P * stride);  // entries k >= K of a table are never picked
      tile_storage.resize(B * ntiles);
      uint8_t* const lut8 = lut8_storage.data();
      kernels::Int8Tile* const tiles = tile_storage.data();
#pragma omp parallel
      {
        std::vector<float> tab(T * K);
        kernels::Int8TileBuild tb;
        tb.trans = trans;
        tb.books = M;
        tb.group = g;
        tb.entries = K;
        tb.tab = tab.data();
        tb.stride = stride;
#pragma omp for schedule(static)
        for (int64_t bt = 0; bt < int64_t(B * ntiles); ++bt) {
          const size_t b = size_t(bt) / ntiles;
          tb.x = x + b * cm.cols;
          tb.p0 = size_t(bt) % ntiles * T;
          tb.positions = std::min(T, P - tb.p0);
          tb.dst = lut8 + (b * P + tb.p0) * stride;
          tiles[bt] = kernels::build_int8_tile(tb);
        }
        const auto [b0, b1] = thread_share(nb);
        for (size_t t = 0; t < ntiles; ++t) {
          kernels::AqInt8Args a;
          a.stride = stride;
          a.positions = std::min(T, P - t * T);
          const size_t first = code_offset(blk_begin + b0, t * T), step = code_offset(blk_begin + b0 + 1, t * T) - first;
          for (size_t blk = blk_begin + b0; blk < blk_begin + b1; ++blk) {
            a.codes = cm.codes.data() + first + (blk - blk_begin - b0) * step;
            for (size_t b = 0; b < B; ++b) {
              a.lut = lut8 + (b * P + t * T) * stride;
              const kernels::Int8Tile& q = tiles[b * ntiles + t];
              a.scale = q.scale;
              a.wide_scale = q.wide_scale;
              a.wide = q.wide;
              a.acc = bacc + (b * nblocks + blk) * kRowBlock;  // int8: input-major accumulators
              kernels::aq_int8(a);
            }
          }
        }
      }
      for (size_t b = 0; b < B; ++b)  // in tile order: the same sum for any thread count
        for (size_t t = 0; t < ntiles; ++t) c_sum[rg * B + b] += tiles[b * ntiles + t].min_sum;
    }
    blk_begin = blk_end;
  }
  acc.resize(cm.rows * B);
  const bool int8 = precision_ == LutPrecision::kInt8;
  for (size_t blk = 0; blk < nblocks; ++blk) {
    const Block& bl = blocks_[blk];
    for (size_t i = 0; i < bl.rows; ++i) {
      const size_t r = bl.first_row + i;
      for (size_t b = 0; b < B; ++b)
        acc[r * B + b] = cm.scales[r] * (bacc[int8 ? (b * nblocks + blk) * kRowBlock + i : (blk * kRowBlock + i) * B + b] +
                                         c_sum[bl.row_group * B + b]);
    }
  }
}

void GemvKernel::scalar_product(const float* x, size_t batch, std::vector<float>& acc) const {
  const CompressedMatrix& cm = m_;
  const size_t G = cm.scheme.group, ng = cm.cols / G;
  std::vector<float> sums(batch * ng, 0.f);
  for (size_t b = 0; b < batch; ++b)
    for (size_t c = 0; c < cm.cols; ++c) sums[b * ng + c / G] += x[b * cm.cols + c];
  acc.assign(cm.rows * batch, 0.f);
  const auto chunks = int64_t((cm.rows + kRowBlock - 1) / kRowBlock);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t r0 = size_t(c) * kRowBlock;
    kernels::ScalarGemvArgs a;
    a.x = x;
    a.group_sums = sums.data();
    a.cols = cm.cols;
    a.group = G;
    a.bits = cm.scheme.bits;
    a.batch = batch;
    a.row_bytes = cm.row_code_bytes();
    a.codes = cm.codes.data() + r0 * a.row_bytes;
    a.scales = cm.scales.data() + r0 * ng;
    a.zeros = cm.zeros.data() + r0 * ng;
    a.rows = std::min(kRowBlock, cm.rows - r0);
    a.out = acc.data() + r0 * batch;
    kernels::scalar_gemv(a);
  }
}

void GemvKernel::matmul(MatrixView<const float> x, MatrixView<float> y) const {
  const CompressedMatrix& m = m_;
  VQ_CHECK(x.cols() == m.cols, "matmul: input has ", x.cols(), " columns, the matrix has ", m.cols, " inputs");
  VQ_CHECK(y.rows() == x.rows() && y.cols() == m.rows, "matmul: output must be ", x.rows(), " x ", m.rows,
           ", got ", y.rows(), " x ", y.cols());
  thread_local std::vector<float> xb, acc;
  for (size_t b0 = 0; b0 < x.rows(); b0 += kernels::kMaxGemvBatch) {
    const size_t nb = std::min(kernels::kMaxGemvBatch, x.rows() - b0);
    xb.resize(nb * m.cols);
    for (size_t b = 0; b < nb; ++b) std::copy(x.row_ptr(b0 + b), x.row_ptr(b0 + b) + m.cols, xb.data() + b * m.cols);
    if (m.scheme.is_aq())
      aq_product(xb.data(), nb, acc);
    else
      scalar_product(xb.data(), nb, acc);
    for (size_t r = 0; r < m.rows; ++r) {
      const size_t out = m.row_order.empty() ? r : m.row_order[r];
      for (size_t b = 0; b < nb; ++b) y(b0 + b, out) = acc[r * nb + b];
    }
  }
}

void GemvKernel::matvec(Span<const float> x, Span<float> y) const {
  VQ_CHECK(x.size() == m_.cols && y.size() == m_.rows, "matvec: x must have ", m_.cols, " and y ", m_.rows,
           " entries, got ", x.size(), " and ", y.size());
  matmul(MatrixView<const float>(x.data(), 1, m_.cols), MatrixView<float>(y.data(), 1, m_.rows));
}

void matmul(const CompressedMatrix& m, MatrixView<const float> x, MatrixView<float> y) {
  GemvKernel(m).matmul(x, y);
}

void matvec(const CompressedMatrix& m, Span<const float> x, Span<float> y) { GemvKernel(m).matvec(x, y); }

}  // namespace vq::weights
