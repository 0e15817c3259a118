// The GPTQ column sweep shared by every scheme (compressors.h): quantize a block of columns,
// feed its error forward through U (H⁻¹ = UᵀU), lazily: within a window of >= 128 columns the
// feedback is applied block by block, beyond it once per window as one GEMM (Frantar et al.'s
// "lazy batch" update, the same arithmetic in a cache-friendly order).
#include <cblas.h>

#include "util/parallel.h"
#include "weights/compressors.h"

namespace vq::weights::detail {

namespace {
constexpr size_t kRowChunk = 64;      // rows swept together by one thread
constexpr size_t kLazyColumns = 128;  // window of columns whose feedback is deferred
}  // namespace

void gptq_sweep(MatrixView<float> w, const PreparedHessian& h, size_t block, size_t align, int threads,
                const BlockQuantizer& quantize, const ProgressCallback& progress) {
  const size_t rows = w.rows(), cols = w.cols();
  VQ_CHECK(block >= 1 && cols % block == 0 && align % block == 0 && cols % align == 0,
           "gptq_sweep: block ", block, " / align ", align, " do not divide ", cols);
  const size_t window = align * std::max<size_t>(1, kLazyColumns / align);
  vq::detail::for_each_batch(rows, kRowChunk, threads, [&](size_t r0, size_t nr) {
    MatrixView<float> part = w.rows_slice(r0, nr);
    std::vector<float> orig(nr * block), err(nr * window);
    for (size_t w0 = 0; w0 < cols; w0 += window) {
      const size_t w1 = std::min(cols, w0 + window);
      for (size_t b0 = w0; b0 < w1; b0 += block) {
        if (h.identity) {
          quantize(b0, part, r0);
          continue;
        }
        for (size_t i = 0; i < nr; ++i)
          for (size_t t = 0; t < block; ++t) orig[i * block + t] = part(i, b0 + t);
        quantize(b0, part, r0);
        // e·U_BB = w_B − ŵ_B by forward substitution (U_BB upper triangular), per row.
        for (size_t i = 0; i < nr; ++i) {
          float* e = err.data() + i * window + (b0 - w0);
          for (size_t t = 0; t < block; ++t) {
            double v = double(orig[i * block + t]) - double(part(i, b0 + t));
            for (size_t s = 0; s < t; ++s) v -= double(e[s]) * h.u_at(b0 + s, b0 + t);
            e[t] = float(v / h.u_at(b0 + t, b0 + t));
          }
          // Feedback inside the window, right away (these columns are quantized next).
          float* row = part.row_ptr(i);
          for (size_t t = 0; t < block; ++t) {
            const float et = e[t];
            const float* u = h.u.data() + (b0 + t) * cols;
            for (size_t j = b0 + block; j < w1; ++j) row[j] -= et * u[j];
          }
        }
      }
      // Deferred feedback beyond the window: W[:, w1:] −= Err · U[w0:w1, w1:].
      if (!h.identity && w1 < cols)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nr), int(cols - w1), int(w1 - w0), -1.f,
                    err.data(), int(window), h.u.data() + w0 * cols + w1, int(cols), 1.f, part.row_ptr(0) + w1,
                    int(part.stride()));
    }
  });
  if (progress) {
    ProgressEvent ev;
    ev.stage = "encode";
    ev.step = ev.total = 1;
    progress(ev);
  }
}

}  // namespace vq::weights::detail
