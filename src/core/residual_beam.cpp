#include "core/residual_beam.h"

#include <algorithm>
#include <numeric>

#include "kernels/distances.h"
#include "util/parallel.h"

namespace vq::detail {

void BeamBatch::resize(size_t n_vectors, size_t beams, size_t n_levels, size_t dim) {
  nb = n_vectors;
  width = beams;
  levels = n_levels;
  r = dim;
  codes.resize(nb * width * levels);
  residuals.resize(nb * width * r);
  errors.resize(nb * width);
}

std::vector<WhitenedBook> whiten_books(std::span<const Codebook> books, const Metric& metric) {
  std::vector<WhitenedBook> out(books.size());
  for (size_t m = 0; m < books.size(); ++m) {
    const Codebook& b = books[m];
    out[m].entries = metric.is_identity() ? b.entries : metric.whiten(b.entries.view());
    out[m].norms.resize(out[m].entries.rows());
    kernels::row_norms(out[m].entries.view(), out[m].norms);
  }
  return out;
}

Metric metric_block(const Metric& metric, size_t offset, size_t len, size_t d) {
  if (metric.is_identity() || (offset == 0 && len == d)) return metric;
  return metric.block(offset, len);
}

Matrix whiten_rows(MatrixView<const float> x, size_t begin, size_t count, const Metric& metric) {
  Matrix rows(count, x.cols());
  for (size_t i = 0; i < count; ++i) {
    const float* src = x.row_ptr(begin + i);
    std::copy(src, src + x.cols(), rows.row_ptr(i));
  }
  return metric.is_identity() ? rows : metric.whiten(rows.view());
}

size_t beam_batch_size(size_t beam) {
  // ~1024 residual rows per distance GEMM: large enough for sgemm to run near peak, small
  // enough that a batch's residuals (1024 × r floats) stay in L2 between levels.
  constexpr size_t kRowsPerBatch = 1024;
  return std::max<size_t>(1, kRowsPerBatch / beam);
}

void beam_start(MatrixView<const float> xw, size_t levels, BeamBatch& out) {
  out.resize(xw.rows(), 1, levels, xw.cols());
  for (size_t i = 0; i < xw.rows(); ++i) {
    const float* src = xw.row_ptr(i);
    std::copy(src, src + xw.cols(), out.residual(i, 0));
    out.errors[i] = kernels::dot(src, src, xw.cols());
  }
}

void beam_step(const BeamBatch& in, const WhitenedBook& book, size_t level, size_t beam,
               BeamBatch& out) {
  const size_t k = book.size();
  const size_t r = in.r;
  const size_t rows = in.nb * in.width;
  // A beam's children that are not among its own `beam` nearest entries are beaten by at least
  // `beam` siblings, so they cannot reach the global top-`beam`: m = min(beam, K) is exact.
  const size_t m = std::min(beam, k);
  std::vector<int32_t> labels(rows * m);
  std::vector<float> dist(rows * m);
  const MatrixView<const float> res(in.residuals.data(), rows, r);
  if (m == 1)
    kernels::nearest(res, book.entries.view(), book.norms, labels, dist, 1);
  else
    kernels::nearest_k(res, book.entries.view(), book.norms, m, labels, dist, 1);

  // Candidates of vector i are c = parent * m + rank, at dist[i * cand + c]: ordering by
  // (distance, c) breaks ties by parent beam, then by entry (nearest_k ranks ties by index).
  const size_t cand = in.width * m;
  const size_t width = std::min(beam, cand);
  out.resize(in.nb, width, in.levels, r);
  std::vector<uint32_t> order(cand);
  for (size_t i = 0; i < in.nb; ++i) {
    const float* d = dist.data() + i * cand;
    const int32_t* lab = labels.data() + i * cand;
    std::iota(order.begin(), order.end(), 0u);
    if (cand > 1) {
      auto less = [d](uint32_t a, uint32_t b) { return d[a] < d[b] || (d[a] == d[b] && a < b); };
      std::partial_sort(order.begin(), order.begin() + width, order.end(), less);
    }
    for (size_t t = 0; t < width; ++t) {
      const size_t c = order[t];
      const size_t parent = c / m;
      const auto entry = static_cast<size_t>(lab[c]);
      const size_t src = i * in.width + parent;
      const uint16_t* pc = in.codes.data() + src * in.levels;
      uint16_t* oc = out.code(i, t);
      std::copy(pc, pc + in.levels, oc);
      oc[level] = static_cast<uint16_t>(entry);
      const float* pr = in.residuals.data() + src * r;
      const float* e = book.entries.row_ptr(entry);
      float* o = out.residual(i, t);
      for (size_t j = 0; j < r; ++j) o[j] = pr[j] - e[j];
      out.errors[i * width + t] = d[c];
    }
  }
}

void residual_encode(MatrixView<const float> x, std::span<const WhitenedBook> books,
                     const Metric& metric, size_t beam, MatrixView<uint16_t> codes, int threads) {
  VQ_CHECK(codes.rows() == x.rows() && codes.cols() == books.size(),
           "residual_encode: codes view is ", codes.rows(), "×", codes.cols(), ", expected ",
           x.rows(), "×", books.size());
  VQ_CHECK(beam >= 1, "residual_encode: beam width must be >= 1");
  const size_t levels = books.size();
  for_each_batch(x.rows(), beam_batch_size(beam), threads, [&](size_t begin, size_t count) {
    const Matrix xw = whiten_rows(x, begin, count, metric);
    BeamBatch cur, next;
    beam_start(xw.view(), levels, cur);
    for (size_t l = 0; l < levels; ++l) {
      beam_step(cur, books[l], l, beam, next);
      std::swap(cur, next);
    }
    for (size_t i = 0; i < count; ++i) {
      const uint16_t* best = cur.code(i, 0);
      std::copy(best, best + levels, codes.row_ptr(begin + i));
    }
  });
}

}  // namespace vq::detail
