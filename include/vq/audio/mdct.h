// The MDCT (modified discrete cosine transform) with a sine window: the transform the audio
// codec quantizes in. N coefficients per frame, frames of 2N samples, hop N (50 % overlap).
//
// Definition (orthonormal): for a frame z[0..2N) of input samples,
//     X[k] = sqrt(2/N) Σ_n w[n] z[n] cos(π/N (n + 1/2 + N/2)(k + 1/2)),   k = 0..N-1,
//     w[n] = sin(π (n + 1/2) / (2N))   (Princen–Bradley: w[n]² + w[n+N]² = 1).
// The inverse gives 2N windowed, time-aliased samples; adding the second half of frame t to the
// first half of frame t+1 cancels the aliasing (TDAC) and returns the input exactly (up to
// float rounding). Computed as a DCT-IV of size N (FFTW's REDFT11) on the folded frame.
//
// Framing of a whole signal x[0..T) (analyze / synthesize): frame t covers samples
// [(t−1)N, (t+1)N), zeros outside [0, T); F = ceil(T/N) + 1 frames, so every sample is covered
// by two frames and synthesize(analyze(x)) == x.
#pragma once

#include <memory>
#include <vector>

#include "vq/types.h"

namespace vq::audio {

class Mdct {
 public:
  // n: coefficients per frame, even, 16..8192.
  explicit Mdct(size_t n);
  ~Mdct();
  Mdct(const Mdct&) = delete;
  Mdct& operator=(const Mdct&) = delete;

  size_t size() const { return n_; }
  const std::vector<float>& window() const { return window_; }  // 2N

  // frame: 2N samples (unwindowed); coeffs: N. Not thread-safe (scratch buffers): one Mdct per
  // thread.
  void forward(const float* frame, float* coeffs);
  // coeffs: N; out: 2N windowed, aliased samples to overlap-add.
  void inverse(const float* coeffs, float* out);

  // Frames of a whole signal (see the header comment): F × N coefficients.
  Matrix analyze(Span<const float> x);
  // Inverse of analyze for a signal of `length` samples (frames.rows() must be ceil(length/N)+1).
  std::vector<float> synthesize(MatrixView<const float> frames, size_t length);

 private:
  size_t n_;
  std::vector<float> window_;
  struct Plan;
  std::unique_ptr<Plan> plan_;
};

}  // namespace vq::audio
