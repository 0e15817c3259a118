#include "vq/weights/gemv.h"

#include <omp.h>

#include <algorithm>

#include "kernels/weights_gemv.h"

namespace vq::weights {

namespace {

constexpr size_t kRowChunk = 64;
// Lookup tables are built for as many input groups as fit this budget (the tables of a
// 4096-column AQ2x8g8 layer at batch 1 are exactly 1 MiB, one pass over the rows).
constexpr size_t kLutBytes = size_t{1} << 20;

template <class Fn>
void for_row_chunks(size_t begin, size_t end, const Fn& fn) {
  const auto chunks = int64_t((end - begin + kRowChunk - 1) / kRowChunk);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const size_t r0 = begin + size_t(c) * kRowChunk;
    fn(r0, std::min(kRowChunk, end - r0));
  }
}

// acc (rows × B, stored row order) = unscaled products of a batch of B <= 16 inputs.
void aq_product(const CompressedMatrix& cm, const float* x, size_t batch, std::vector<float>& acc) {
  const size_t M = cm.scheme.books, K = size_t{1} << cm.scheme.bits, g = cm.scheme.group;
  const size_t per_row = cm.cols / g, cb = cm.code_bytes(), B = batch;
  const size_t tile = std::clamp<size_t>(kLutBytes / (M * K * B * sizeof(float)), 1, per_row);
  // Reused across calls: a fresh MiB per product would cost page faults comparable to the work.
  // (thread_local storage is named through plain pointers below: inside the OpenMP regions the
  // name would denote each worker's own, empty, instance.)
  thread_local std::vector<float> lut_storage, trans_storage;
  lut_storage.resize(tile * M * K * B);
  trans_storage.resize(M * g * K);
  float* const lut = lut_storage.data();
  float* const trans = trans_storage.data();
  acc.assign(cm.rows * B, 0.f);
  for (size_t rg = 0; rg + 1 < cm.group_begin.size(); ++rg) {
    const float* books = cm.codebooks.data() + rg * cm.codebook_floats();
    for (size_t m = 0; m < M; ++m)  // entries transposed: the table build vectorises over k
      for (size_t k = 0; k < K; ++k)
        for (size_t t = 0; t < g; ++t) trans[(m * g + t) * K + k] = books[(m * K + k) * g + t];
    for (size_t j0 = 0; j0 < per_row; j0 += tile) {
      const size_t nt = std::min(tile, per_row - j0);
#pragma omp parallel for schedule(static) if (nt * M * K * B > 65536)
      for (int64_t jj = 0; jj < int64_t(nt); ++jj) {
        const size_t col0 = (j0 + size_t(jj)) * g;
        for (size_t m = 0; m < M; ++m) {
          float* dst = lut + (size_t(jj) * M + m) * K * B;
          if (B == 1) {
            for (size_t k = 0; k < K; ++k) dst[k] = 0.f;
            for (size_t t = 0; t < g; ++t) {
              const float xt = x[col0 + t];
              const float* ct = trans + (m * g + t) * K;
              for (size_t k = 0; k < K; ++k) dst[k] += ct[k] * xt;
            }
          } else {
            // Inputs' slice transposed (g × B) so the inner loop runs over the batch.
            float xt[64 * kernels::kMaxGemvBatch];
            for (size_t t = 0; t < g; ++t)
              for (size_t b = 0; b < B; ++b) xt[t * B + b] = x[b * cm.cols + col0 + t];
            for (size_t k = 0; k < K; ++k) {
              const float* e = books + (m * K + k) * g;
              float* d = dst + k * B;
              for (size_t b = 0; b < B; ++b) d[b] = 0.f;
              for (size_t t = 0; t < g; ++t)
                for (size_t b = 0; b < B; ++b) d[b] += e[t] * xt[t * B + b];
            }
          }
        }
      }
      float* const acc_data = acc.data();
      for_row_chunks(cm.group_begin[rg], cm.group_begin[rg + 1], [&](size_t r0, size_t nr) {
        kernels::AqGemvArgs a;
        a.lut = lut;
        a.positions = nt * M;
        a.entries = K;
        a.batch = B;
        a.codes = cm.codes.data() + (r0 * per_row * M + j0 * M) * cb;
        a.code_stride = per_row * M * cb;
        a.rows = nr;
        a.acc = acc_data + r0 * B;
        if (cb == 1)
          kernels::aq_gemv_u8(a);
        else
          kernels::aq_gemv_u16_ref(a);
      });
    }
  }
  for (size_t r = 0; r < cm.rows; ++r)
    for (size_t b = 0; b < B; ++b) acc[r * B + b] *= cm.scales[r];
}

void scalar_product(const CompressedMatrix& cm, const float* x, size_t batch, std::vector<float>& acc) {
  const size_t G = cm.scheme.group, ng = cm.cols / G;
  std::vector<float> sums(batch * ng, 0.f);
  for (size_t b = 0; b < batch; ++b)
    for (size_t c = 0; c < cm.cols; ++c) sums[b * ng + c / G] += x[b * cm.cols + c];
  acc.assign(cm.rows * batch, 0.f);
  for_row_chunks(0, cm.rows, [&](size_t r0, size_t nr) {
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
    a.rows = nr;
    a.out = acc.data() + r0 * batch;
    kernels::scalar_gemv_ref(a);
  });
}

}  // namespace

void matmul(const CompressedMatrix& m, MatrixView<const float> x, MatrixView<float> y) {
  VQ_CHECK(x.cols() == m.cols, "matmul: input has ", x.cols(), " columns, the matrix has ", m.cols, " inputs");
  VQ_CHECK(y.rows() == x.rows() && y.cols() == m.rows, "matmul: output must be ", x.rows(), " x ", m.rows,
           ", got ", y.rows(), " x ", y.cols());
  thread_local std::vector<float> xb, acc;
  for (size_t b0 = 0; b0 < x.rows(); b0 += kernels::kMaxGemvBatch) {
    const size_t nb = std::min(kernels::kMaxGemvBatch, x.rows() - b0);
    xb.resize(nb * m.cols);
    for (size_t b = 0; b < nb; ++b) std::copy(x.row_ptr(b0 + b), x.row_ptr(b0 + b) + m.cols, xb.data() + b * m.cols);
    if (m.scheme.is_aq())
      aq_product(m, xb.data(), nb, acc);
    else
      scalar_product(m, xb.data(), nb, acc);
    for (size_t r = 0; r < m.rows; ++r) {
      const size_t out = m.row_order.empty() ? r : m.row_order[r];
      for (size_t b = 0; b < nb; ++b) y(b0 + b, out) = acc[r * nb + b];
    }
  }
}

void matvec(const CompressedMatrix& m, Span<const float> x, Span<float> y) {
  VQ_CHECK(x.size() == m.cols && y.size() == m.rows, "matvec: x must have ", m.cols, " and y ", m.rows,
           " entries, got ", x.size(), " and ", y.size());
  matmul(m, MatrixView<const float>(x.data(), 1, m.cols), MatrixView<float>(y.data(), 1, m.rows));
}

}  // namespace vq::weights
