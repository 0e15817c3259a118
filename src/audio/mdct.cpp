// MDCT through FFTW's DCT-IV (REDFT11): fold the windowed 2N-sample frame into N samples
// (quarters a, b, c, d → (−c_r − d, a − b_r), r = reversed), transform; the inverse transforms
// back and unfolds to (a − b_r, b − a_r, c + d_r, d + c_r), whose overlap-add with the
// neighbouring frames cancels the aliasing terms.
#include "vq/audio/mdct.h"

#include <fftw3.h>

#include <cmath>
#include <mutex>

namespace vq::audio {

// FFTW's planner is not thread-safe; execution of an existing plan is (on distinct buffers).
static std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct Mdct::Plan {
  float* in = nullptr;
  float* out = nullptr;
  fftwf_plan plan = nullptr;
  ~Plan() {
    std::lock_guard<std::mutex> lock(planner_mutex());
    if (plan) fftwf_destroy_plan(plan);
    fftwf_free(in);
    fftwf_free(out);
  }
};

Mdct::Mdct(size_t n) : n_(n), window_(2 * n), plan_(std::make_unique<Plan>()) {
  VQ_CHECK(n >= 16 && n <= 8192 && n % 2 == 0, "Mdct: size must be even and in 16..8192, got ", n);
  for (size_t i = 0; i < 2 * n; ++i)
    window_[i] = static_cast<float>(std::sin(M_PI * (double(i) + 0.5) / double(2 * n)));
  std::lock_guard<std::mutex> lock(planner_mutex());
  plan_->in = fftwf_alloc_real(n);
  plan_->out = fftwf_alloc_real(n);
  VQ_CHECK(plan_->in && plan_->out, "Mdct: out of memory");
  plan_->plan = fftwf_plan_r2r_1d(int(n), plan_->in, plan_->out, FFTW_REDFT11, FFTW_ESTIMATE);
  VQ_CHECK(plan_->plan, "Mdct: FFTW could not plan a DCT-IV of size ", n);
}

Mdct::~Mdct() = default;

void Mdct::forward(const float* frame, float* coeffs) {
  const size_t n = n_, h = n / 2;
  const float* w = window_.data();
  float* u = plan_->in;
  for (size_t i = 0; i < h; ++i) {
    const size_t c = 3 * h - 1 - i, d = 3 * h + i, a = i, b = n - 1 - i;
    u[i] = -w[c] * frame[c] - w[d] * frame[d];
    u[h + i] = w[a] * frame[a] - w[b] * frame[b];
  }
  fftwf_execute(plan_->plan);
  // REDFT11 computes 2 Σ u cos(...); the orthonormal DCT-IV has sqrt(2/N) instead of 2.
  const float scale = static_cast<float>(1.0 / std::sqrt(2.0 * double(n)));
  for (size_t k = 0; k < n; ++k) coeffs[k] = plan_->out[k] * scale;
}

void Mdct::inverse(const float* coeffs, float* out) {
  const size_t n = n_, h = n / 2;
  const float scale = static_cast<float>(1.0 / std::sqrt(2.0 * double(n)));
  for (size_t k = 0; k < n; ++k) plan_->in[k] = coeffs[k] * scale;
  fftwf_execute(plan_->plan);
  const float* u = plan_->out;
  const float* w = window_.data();
  for (size_t i = 0; i < h; ++i) {
    out[i] = w[i] * u[h + i];
    out[h + i] = -w[h + i] * u[n - 1 - i];
    out[n + i] = -w[n + i] * u[h - 1 - i];
    out[3 * h + i] = -w[3 * h + i] * u[i];
  }
}

Matrix Mdct::analyze(Span<const float> x) {
  const size_t n = n_, len = x.size();
  const size_t frames = (len + n - 1) / n + 1;
  Matrix out(frames, n);
  std::vector<float> frame(2 * n);
  for (size_t t = 0; t < frames; ++t) {
    // Frame t starts at sample (t − 1)·N; samples outside [0, len) are zero.
    for (size_t i = 0; i < 2 * n; ++i) {
      const size_t s = t * n + i;  // sample index + N
      frame[i] = (s >= n && s - n < len) ? x[s - n] : 0.f;
    }
    forward(frame.data(), out.row_ptr(t));
  }
  return out;
}

std::vector<float> Mdct::synthesize(MatrixView<const float> frames, size_t length) {
  const size_t n = n_;
  VQ_CHECK(frames.cols() == n, "Mdct::synthesize: frames have ", frames.cols(), " coefficients, expected ", n);
  VQ_CHECK(frames.rows() == (length + n - 1) / n + 1, "Mdct::synthesize: ", frames.rows(),
           " frames do not describe ", length, " samples");
  std::vector<float> acc((frames.rows() + 1) * n, 0.f);  // acc[i] is sample i − N
  std::vector<float> buf(2 * n);
  for (size_t t = 0; t < frames.rows(); ++t) {
    inverse(frames.row_ptr(t), buf.data());
    for (size_t i = 0; i < 2 * n; ++i) acc[t * n + i] += buf[i];
  }
  return {acc.begin() + long(n), acc.begin() + long(n + length)};
}

}  // namespace vq::audio
