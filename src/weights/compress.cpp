#include "vq/weights/compress.h"

#include <cblas.h>

#include <cmath>

#include "weights/compressors.h"

namespace vq::weights {

std::vector<float> hessian_from_inputs(MatrixView<const float> x) {
  VQ_CHECK(x.rows() >= 1 && x.cols() >= 1, "hessian_from_inputs: empty calibration inputs");
  for (size_t i = 0; i < x.rows(); ++i)
    for (size_t j = 0; j < x.cols(); ++j)
      VQ_CHECK(std::isfinite(x(i, j)), "hessian_from_inputs: non-finite input at row ", i, ", column ", j);
  const size_t d = x.cols();
  std::vector<float> h(d * d, 0.f);
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, int(d), int(x.rows()), 1.f / float(x.rows()), x.data(),
              int(x.stride()), 0.f, h.data(), int(d));
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < i; ++j) h[i * d + j] = h[j * d + i];
  return h;
}

CompressedMatrix compress(MatrixView<const float> w, Span<const float> h, const Scheme& scheme,
                          const CompressOptions& options) {
  scheme.check_shape(w.rows(), w.cols());
  for (size_t i = 0; i < w.rows(); ++i)
    for (size_t j = 0; j < w.cols(); ++j)
      VQ_CHECK(std::isfinite(w(i, j)), "compress: non-finite weight at row ", i, ", column ", j);
  // With act order the sweeps factor H permuted (sweep_order, hessian.h), so the input order's factor
  // would go unused: for a 4096-wide layer it costs seconds. (RTN sweeps nothing under H; its
  // factor only keeps the promise that a bad H is rejected whatever the scheme.)
  const bool factor = !options.act_order || scheme.kind == SchemeKind::kRTN;
  const detail::PreparedHessian ph = detail::prepare_hessian(h, w.cols(), options.damp, factor);
  CompressedMatrix out = scheme.is_aq() ? detail::compress_aq(w, ph, scheme, options)
                                        : detail::compress_scalar(w, ph, scheme, options);
  out.validate();
  return out;
}

double relative_error(MatrixView<const float> w, MatrixView<const float> w_hat, Span<const float> h) {
  VQ_CHECK(w.rows() == w_hat.rows() && w.cols() == w_hat.cols(), "relative_error: shapes differ");
  const size_t d = w.cols();
  VQ_CHECK(h.empty() || h.size() == d * d, "relative_error: H must be empty or cols × cols");
  double num = 0.0, den = 0.0;
  std::vector<double> e(d), hv(d);
  for (size_t r = 0; r < w.rows(); ++r) {
    for (size_t c = 0; c < d; ++c) e[c] = double(w(r, c)) - double(w_hat(r, c));
    if (h.empty()) {
      for (size_t c = 0; c < d; ++c) {
        num += e[c] * e[c];
        den += double(w(r, c)) * double(w(r, c));
      }
      continue;
    }
    for (size_t i = 0; i < d; ++i) {
      double a = 0.0, b = 0.0;
      const float* hi = h.data() + i * d;
      for (size_t j = 0; j < d; ++j) {
        a += double(hi[j]) * e[j];
        b += double(hi[j]) * double(w(r, j));
      }
      num += e[i] * a;
      den += double(w(r, i)) * b;
    }
  }
  VQ_CHECK(den > 0.0, "relative_error: the reference has zero energy under H");
  return num / den;
}

}  // namespace vq::weights
