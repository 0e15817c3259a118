// Scalar codes: RTN, GPTQ and CDQ on one b-bit min/max grid per row and group of G columns.
#include <cblas.h>
#include <omp.h>

#include <cmath>

#include "vq/core/npy.h"
#include "weights/compressors.h"

namespace vq::weights::detail {

float round_fp16(float x) { return half_to_float(float_to_half(x)); }

namespace {

// The asymmetric min/max grid of GPTQ's quantizer (the range always contains 0): scale and
// integer zero point for n values; scale is rounded to fp16 first, as it is stored.
void fit_grid(const float* v, size_t n, uint32_t maxq, float& scale, uint8_t& zero) {
  float lo = 0.f, hi = 0.f;
  for (size_t i = 0; i < n; ++i) {
    lo = std::min(lo, v[i]);
    hi = std::max(hi, v[i]);
  }
  if (lo == hi) {
    lo = -1.f;
    hi = 1.f;
  }
  scale = round_fp16((hi - lo) / float(maxq));
  if (!(scale > 0.f)) scale = 6.103515625e-05f;  // smallest normal fp16: the range underflowed
  zero = uint8_t(std::clamp(std::nearbyint(-lo / scale), 0.f, float(maxq)));
}

uint32_t quantize_value(float v, float scale, uint8_t zero, uint32_t maxq) {
  return uint32_t(std::clamp(std::nearbyint(v / scale) + float(zero), 0.f, float(maxq)));
}

float dequantize(uint32_t q, float scale, uint8_t zero) { return scale * (float(q) - float(zero)); }

// CDQuant's greedy coordinate descent for one row: repeatedly move the one integer whose best
// grid step lowers (w − ŵ)ᵀH(w − ŵ) the most. grad = H(ŵ − w) is kept up to date (one column
// of H per move), so a move costs O(cols).
void coordinate_descent_row(const PreparedHessian& h, const float* scales, const uint8_t* zeros,
                            size_t group, uint32_t maxq, size_t max_moves, uint8_t* q, double* grad) {
  const size_t cols = h.dim;
  for (size_t move = 0; move < max_moves; ++move) {
    double best = 0.0;
    size_t best_i = cols;
    uint32_t best_q = 0;
    for (size_t i = 0; i < cols; ++i) {
      const float s = scales[i / group];
      const uint8_t z = zeros[i / group];
      const double hii = h.h[i * cols + i];
      const double cur = dequantize(q[i], s, z);
      const uint32_t qn = quantize_value(float(cur - grad[i] / hii), s, z, maxq);
      if (qn == q[i]) continue;
      const double delta = double(dequantize(qn, s, z)) - cur;
      const double gain = 2.0 * delta * grad[i] + delta * delta * hii;
      if (gain < best) {
        best = gain;
        best_i = i;
        best_q = qn;
      }
    }
    if (best_i == cols) break;
    const size_t gi = best_i / group;
    const double delta = double(dequantize(best_q, scales[gi], zeros[gi])) - double(dequantize(q[best_i], scales[gi], zeros[gi]));
    q[best_i] = uint8_t(best_q);
    const float* hrow = h.h.data() + best_i * cols;  // H is symmetric: row = column
    for (size_t j = 0; j < cols; ++j) grad[j] += delta * hrow[j];
  }
}

}  // namespace

CompressedMatrix compress_scalar(MatrixView<const float> w, const PreparedHessian& h, const Scheme& s,
                                 const CompressOptions& o) {
  const size_t rows = w.rows(), cols = w.cols(), G = s.group, ng = cols / G;
  const uint32_t maxq = (1u << s.bits) - 1;
  CompressedMatrix out;
  out.scheme = s;
  out.rows = rows;
  out.cols = cols;
  out.group_begin = {0, uint32_t(rows)};
  out.scales.assign(rows * ng, 0.f);
  out.zeros.assign(rows * ng, 0);
  std::vector<uint8_t> q(rows * cols, 0);

  // RTN is the sweep without feedback: it never looks at H.
  const PreparedHessian identity{cols, true, {}, {}};
  const bool rtn = s.kind == SchemeKind::kRTN;
  // Act order visits the columns by importance, so a group's columns are scattered over the
  // sweep: its grid is fixed up front from the weights ("static groups"). In input order each
  // grid is fitted when its group starts, on the weights with every earlier feedback applied.
  const SweepOrder plan = sweep_order(h, 1, o.act_order && !rtn);
  const std::vector<uint32_t>& order = plan.order;
  const bool reorder = plan.reordered;
  const PreparedHessian& sweep_h = rtn ? identity : plan.hessian(h);
  Matrix work(rows, cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) work(r, c) = w(r, order[c]);
  if (reorder)
    for (size_t r = 0; r < rows; ++r)
      for (size_t gi = 0; gi < ng; ++gi) fit_grid(w.row_ptr(r) + gi * G, G, maxq, out.scales[r * ng + gi], out.zeros[r * ng + gi]);
  gptq_sweep(work.view(), sweep_h, 1, reorder ? 1 : G, o.threads,
             [&](size_t col, MatrixView<float> part, size_t r0) {
               const size_t oc = order[col];
               for (size_t i = 0; i < part.rows(); ++i) {
                 const size_t gi = (r0 + i) * ng + oc / G;
                 // (the sweep's window is aligned to G in input order)
                 if (!reorder && col % G == 0) fit_grid(part.row_ptr(i) + col, G, maxq, out.scales[gi], out.zeros[gi]);
                 const uint32_t qv = quantize_value(part(i, col), out.scales[gi], out.zeros[gi], maxq);
                 q[(r0 + i) * cols + oc] = uint8_t(qv);
                 part(i, col) = dequantize(qv, out.scales[gi], out.zeros[gi]);
               }
             },
             o.progress);

  if (s.kind == SchemeKind::kCDQ && !h.identity) {
    // grad = (Ŵ − W)·H for every row at once (double: the greedy choice compares small gains).
    std::vector<double> hd(h.h.begin(), h.h.end()), err(rows * cols), grad(rows * cols);
    for (size_t r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) {
        const size_t gi = r * ng + c / G;
        err[r * cols + c] = double(dequantize(q[r * cols + c], out.scales[gi], out.zeros[gi])) - double(w(r, c));
      }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols), int(cols), 1.0, err.data(), int(cols),
                hd.data(), int(cols), 0.0, grad.data(), int(cols));
    const size_t moves = size_t(std::max(0, o.cdq_sweeps)) * cols;
    const int nt = o.threads > 0 ? o.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
    for (int64_t r = 0; r < int64_t(rows); ++r)
      coordinate_descent_row(h, out.scales.data() + size_t(r) * ng, out.zeros.data() + size_t(r) * ng,
                             G, maxq, moves, q.data() + size_t(r) * cols, grad.data() + size_t(r) * cols);
  }

  // Pack each row's integers into its b-bit stream (compressed_matrix.h).
  const size_t row_bytes = out.row_code_bytes();
  out.codes.assign(rows * row_bytes, 0);
  for (size_t r = 0; r < rows; ++r) {
    uint8_t* dst = out.codes.data() + r * row_bytes;
    for (size_t c = 0; c < cols; ++c) {
      const size_t bit = c * s.bits;
      const uint32_t v = uint32_t(q[r * cols + c]) << (bit % 8);
      dst[bit / 8] |= uint8_t(v);
      if ((bit % 8) + s.bits > 8) dst[bit / 8 + 1] |= uint8_t(v >> 8);
    }
  }
  return out;
}

}  // namespace vq::weights::detail
