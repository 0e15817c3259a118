// Colour conversion and blockwise DCT. Each patch is gathered into a p×p buffer per channel,
// transformed as D · B · Dᵀ (two p×p×p products) and scattered. For the sizes models use
// (8, 16) the kernel is instantiated with p known at compile time, so the loops unroll and
// vectorise; other sizes run the same code with p at run time. Whole-image forward/inverse run
// over patch rows with OpenMP; the *_patches entry points let the tokenizer stream batches.
#include <algorithm>
#include <cmath>

#include "vq/image/patch_transform.h"

namespace vq::image {
namespace {

// Full-range BT.601 (JPEG/JFIF) RGB -> YCbCr, rows Y, Cb, Cr; and its exact inverse.
constexpr double kRgbToYcc[3][3] = {{0.299, 0.587, 0.114},
                                    {-0.168735892, -0.331264108, 0.5},
                                    {0.5, -0.418687589, -0.081312411}};

struct Inverse3 {
  float m[3][3];
  Inverse3() {
    const auto& a = kRgbToYcc;
    const double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                       a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                       a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        // inverse(i, j) = cofactor(j, i) / det
        const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
        m[i][j] = static_cast<float>((a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det);
      }
  }
};

const Inverse3& ycc_to_rgb() {
  static const Inverse3 inv;
  return inv;
}

constexpr float kYcc[3][3] = {{float(kRgbToYcc[0][0]), float(kRgbToYcc[0][1]), float(kRgbToYcc[0][2])},
                              {float(kRgbToYcc[1][0]), float(kRgbToYcc[1][1]), float(kRgbToYcc[1][2])},
                              {float(kRgbToYcc[2][0]), float(kRgbToYcc[2][1]), float(kRgbToYcc[2][2])}};

uint8_t to_byte(float v) { return static_cast<uint8_t>(std::clamp(v, 0.f, 255.f) + 0.5f); }

// The per-patch work, P = p at compile time (or 0: p at run time).
template <size_t P>
struct Kernel {
  const size_t p;
  const float* dct;      // p × p
  const uint32_t* order;  // p²

  size_t n() const { return P ? P : p; }

  // out = D · b · Dᵀ (forward) or Dᵀ · b · D (inverse), b and out p × p row-major.
  template <bool kInverse>
  void dct2(const float* b, float* tmp, float* out) const {
    const size_t m = n();
    for (size_t i = 0; i < m; ++i)  // tmp = D · b  (Dᵀ · b)
      for (size_t j = 0; j < m; ++j) {
        float s = 0.f;
        for (size_t k = 0; k < m; ++k) s += (kInverse ? dct[k * m + i] : dct[i * m + k]) * b[k * m + j];
        tmp[i * m + j] = s;
      }
    for (size_t i = 0; i < m; ++i)  // out = tmp · Dᵀ  (tmp · D)
      for (size_t j = 0; j < m; ++j) {
        float s = 0.f;
        for (size_t k = 0; k < m; ++k) s += tmp[i * m + k] * (kInverse ? dct[k * m + j] : dct[j * m + k]);
        out[i * m + j] = s;
      }
  }

  // Patches first .. first + out.rows() − 1 of image into out.
  void forward(const Image& image, size_t cols, size_t first, MatrixView<float> out) const {
    const size_t m = n(), pp = m * m, ch = image.channels;
    std::vector<float> block(3 * pp), tmp(pp), coef(pp);
    for (size_t q = 0; q < out.rows(); ++q) {
      const size_t r = (first + q) / cols, c = (first + q) % cols;
      for (size_t y = 0; y < m; ++y) {
        const size_t sy = std::min(r * m + y, image.height - 1);
        const uint8_t* row = &image.pixels[sy * image.width * ch];
        for (size_t x = 0; x < m; ++x) {
          const uint8_t* px = row + std::min(c * m + x, image.width - 1) * ch;
          const float R = px[0], G = ch >= 3 ? px[1] : px[0], B = ch >= 3 ? px[2] : px[0];
          for (size_t k = 0; k < 3; ++k)
            block[k * pp + y * m + x] = kYcc[k][0] * R + kYcc[k][1] * G + kYcc[k][2] * B - (k == 0 ? 128.f : 0.f);
        }
      }
      float* o = out.row_ptr(q);
      for (size_t k = 0; k < 3; ++k) {
        dct2<false>(block.data() + k * pp, tmp.data(), coef.data());
        for (size_t i = 0; i < pp; ++i) o[k * pp + i] = coef[order[i]];
      }
    }
  }

  // Pixels of patches first .. first + coefs.rows() − 1 into out.
  void inverse(MatrixView<const float> coefs, size_t first, Image& out) const {
    const size_t m = n(), pp = m * m, channels = out.channels, cols = (out.width + m - 1) / m;
    const Inverse3& inv = ycc_to_rgb();
    std::vector<float> block(3 * pp), tmp(pp), coef(pp);
    for (size_t q = 0; q < coefs.rows(); ++q) {
      const size_t r = (first + q) / cols, c = (first + q) % cols;
      const float* in = coefs.row_ptr(q);
      for (size_t k = 0; k < (channels == 1 ? 1u : 3u); ++k) {
        for (size_t i = 0; i < pp; ++i) coef[order[i]] = in[k * pp + i];
        dct2<true>(coef.data(), tmp.data(), block.data() + k * pp);
      }
      const size_t y_end = std::min(m, out.height - r * m), x_end = std::min(m, out.width - c * m);
      for (size_t y = 0; y < y_end; ++y) {
        uint8_t* px = &out.pixels[((r * m + y) * out.width + c * m) * channels];
        const float* Y = &block[y * m];
        if (channels == 1) {
          for (size_t x = 0; x < x_end; ++x) px[x] = to_byte(Y[x] + 128.f);
          continue;
        }
        const float *Cb = Y + pp, *Cr = Y + 2 * pp;
        for (size_t x = 0; x < x_end; ++x)
          for (size_t k = 0; k < 3; ++k)
            px[x * 3 + k] = to_byte(inv.m[k][0] * (Y[x] + 128.f) + inv.m[k][1] * Cb[x] + inv.m[k][2] * Cr[x]);
      }
    }
  }
};

// Calls fn(kernel) with the kernel instantiated for p (compile-time sizes for 8 and 16).
template <class Fn>
void with_kernel(size_t p, const std::vector<float>& dct, const std::vector<uint32_t>& order, Fn&& fn) {
  if (p == 8) return fn(Kernel<8>{p, dct.data(), order.data()});
  if (p == 16) return fn(Kernel<16>{p, dct.data(), order.data()});
  fn(Kernel<0>{p, dct.data(), order.data()});
}

}  // namespace

PatchTransform::PatchTransform(size_t patch) : p_(patch), dct_(patch * patch), order_(patch * patch) {
  VQ_CHECK(patch >= 2 && patch <= 64, "PatchTransform: patch size must be 2..64, got ", patch);
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = uint32_t(i);
  // Diagonal (zigzag-like) order: by u + v, then by u — frequency bands are contiguous.
  std::stable_sort(order_.begin(), order_.end(), [p = p_](size_t a, size_t b) {
    const size_t da = a / p + a % p, db = b / p + b % p;
    return da != db ? da < db : a / p < b / p;
  });
  const double pi = std::acos(-1.0);
  for (size_t k = 0; k < p_; ++k)
    for (size_t n = 0; n < p_; ++n) {
      const double scale = std::sqrt((k == 0 ? 1.0 : 2.0) / double(p_));
      dct_[k * p_ + n] = static_cast<float>(scale * std::cos(pi * (2.0 * n + 1.0) * k / (2.0 * p_)));
    }
}

void PatchTransform::forward_patches(const Image& image, size_t first, MatrixView<float> out) const {
  const size_t cols = grid_cols(image.width), total = grid_rows(image.height) * cols;
  VQ_CHECK(out.cols() == dim() && first <= total && out.rows() <= total - first,
           "PatchTransform::forward_patches: ", out.rows(), "×", out.cols(), " from patch ", first, " of ", total);
  with_kernel(p_, dct_, order_, [&](const auto& k) { k.forward(image, cols, first, out); });
}

void PatchTransform::inverse_patches(MatrixView<const float> coefs, size_t first, Image& out) const {
  VQ_CHECK(out.channels == 1 || out.channels == 3, "PatchTransform::inverse: channels must be 1 or 3, got ",
           out.channels);
  const size_t total = grid_rows(out.height) * grid_cols(out.width);
  VQ_CHECK(coefs.cols() == dim() && first <= total && coefs.rows() <= total - first,
           "PatchTransform::inverse_patches: ", coefs.rows(), "×", coefs.cols(), " from patch ", first, " of ", total);
  with_kernel(p_, dct_, order_, [&](const auto& k) { k.inverse(coefs, first, out); });
}

Matrix PatchTransform::forward(const Image& image) const {
  image.validate("PatchTransform::forward");
  const size_t rows = grid_rows(image.height), cols = grid_cols(image.width);
  Matrix out(rows * cols, dim());
  const auto nrows = static_cast<int64_t>(rows);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; ++r)
    forward_patches(image, size_t(r) * cols, {out.row_ptr(size_t(r) * cols), cols, dim()});
  return out;
}

Image PatchTransform::inverse(MatrixView<const float> coefs, size_t width, size_t height,
                              size_t channels) const {
  VQ_CHECK(channels == 1 || channels == 3, "PatchTransform::inverse: channels must be 1 or 3, got ", channels);
  const size_t rows = grid_rows(height), cols = grid_cols(width);
  VQ_CHECK(coefs.rows() == rows * cols && coefs.cols() == dim(), "PatchTransform::inverse: ",
           coefs.rows(), "×", coefs.cols(), " coefficients for a ", width, "×", height,
           " image with ", p_, "-pixel patches (need ", rows * cols, "×", dim(), ")");
  Image out(width, height, channels);
  const auto nrows = static_cast<int64_t>(rows);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; ++r)
    inverse_patches({coefs.row_ptr(size_t(r) * cols), cols, dim(), coefs.stride()}, size_t(r) * cols, out);
  return out;
}

std::vector<float> PatchTransform::weights(float chroma_weight, float high_frequency_weight) const {
  VQ_CHECK(chroma_weight > 0.f && std::isfinite(chroma_weight),
           "PatchTransform::weights: chroma_weight must be > 0, got ", chroma_weight);
  VQ_CHECK(high_frequency_weight > 0.f && high_frequency_weight <= 1.f,
           "PatchTransform::weights: high_frequency_weight must be in (0, 1], got ", high_frequency_weight);
  const size_t p = p_, pp = p * p;
  std::vector<float> h(dim());
  for (size_t k = 0; k < 3; ++k)
    for (size_t i = 0; i < pp; ++i) {
      const size_t u = order_[i] / p, v = order_[i] % p;
      const double t = double(u + v) / double(2 * (p - 1));
      h[k * pp + i] =
          static_cast<float>((k == 0 ? 1.0 : chroma_weight) * std::pow(double(high_frequency_weight), t));
    }
  return h;
}

std::array<float, 3> PatchTransform::rgb_error_weights() {
  const auto& m = ycc_to_rgb().m;
  std::array<float, 3> w{};
  for (int c = 0; c < 3; ++c) w[c] = m[0][c] * m[0][c] + m[1][c] * m[1][c] + m[2][c] * m[2][c];
  return w;
}

}  // namespace vq::image
