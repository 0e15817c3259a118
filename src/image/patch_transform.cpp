// Colour conversion and blockwise DCT. Each patch is gathered into a small p×p buffer per
// channel, transformed as D · B · Dᵀ (two p×p×p products: a 1 MP image at p = 8 is ~0.1 GFLOP,
// a few ms), and scattered; the loops are over patch rows so OpenMP splits the grid evenly.
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

// out = a · b for p×p row-major matrices; bt: b is given transposed (out = a · btᵀ).
void matmul(const float* a, const float* b, float* out, size_t p, bool bt) {
  for (size_t i = 0; i < p; ++i)
    for (size_t j = 0; j < p; ++j) {
      float s = 0.f;
      for (size_t k = 0; k < p; ++k) s += a[i * p + k] * (bt ? b[j * p + k] : b[k * p + j]);
      out[i * p + j] = s;
    }
}

}  // namespace

PatchTransform::PatchTransform(size_t patch) : p_(patch), dct_(patch * patch), order_(patch * patch) {
  VQ_CHECK(patch >= 2 && patch <= 64, "PatchTransform: patch size must be 2..64, got ", patch);
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
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

Matrix PatchTransform::forward(const Image& image) const {
  image.validate("PatchTransform::forward");
  const size_t p = p_, pp = p * p, rows = grid_rows(image.height), cols = grid_cols(image.width);
  const size_t ch = image.channels;
  Matrix out(rows * cols, dim());
  const auto nrows = static_cast<int64_t>(rows);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; ++r) {
    std::vector<float> block(3 * pp), tmp(pp), coef(pp);
    for (size_t c = 0; c < cols; ++c) {
      for (size_t y = 0; y < p; ++y) {
        const size_t sy = std::min(size_t(r) * p + y, image.height - 1);
        for (size_t x = 0; x < p; ++x) {
          const size_t sx = std::min(c * p + x, image.width - 1);
          const uint8_t* px = &image.pixels[(sy * image.width + sx) * ch];
          const float R = px[0], G = ch >= 3 ? px[1] : px[0], B = ch >= 3 ? px[2] : px[0];
          for (size_t k = 0; k < 3; ++k)
            block[k * pp + y * p + x] =
                static_cast<float>(kRgbToYcc[k][0] * R + kRgbToYcc[k][1] * G + kRgbToYcc[k][2] * B) -
                (k == 0 ? 128.f : 0.f);
        }
      }
      float* o = out.row_ptr(size_t(r) * cols + c);
      for (size_t k = 0; k < 3; ++k) {
        matmul(dct_.data(), block.data() + k * pp, tmp.data(), p, false);  // D · B
        matmul(tmp.data(), dct_.data(), coef.data(), p, true);             // (D · B) · Dᵀ
        for (size_t i = 0; i < pp; ++i) o[k * pp + i] = coef[order_[i]];
      }
    }
  }
  return out;
}

Image PatchTransform::inverse(MatrixView<const float> coefs, size_t width, size_t height,
                              size_t channels) const {
  VQ_CHECK(channels == 1 || channels == 3, "PatchTransform::inverse: channels must be 1 or 3, got ", channels);
  const size_t p = p_, pp = p * p, rows = grid_rows(height), cols = grid_cols(width);
  VQ_CHECK(coefs.rows() == rows * cols && coefs.cols() == dim(), "PatchTransform::inverse: ",
           coefs.rows(), "×", coefs.cols(), " coefficients for a ", width, "×", height,
           " image with ", p, "-pixel patches (need ", rows * cols, "×", dim(), ")");
  Image out(width, height, channels);
  const Inverse3& inv = ycc_to_rgb();
  const auto nrows = static_cast<int64_t>(rows);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; ++r) {
    std::vector<float> block(3 * pp), tmp(pp), coef(pp);
    for (size_t c = 0; c < cols; ++c) {
      const float* in = coefs.row_ptr(size_t(r) * cols + c);
      // Inverse DCT: B = Dᵀ · C · D.
      for (size_t k = 0; k < (channels == 1 ? 1u : 3u); ++k) {
        for (size_t i = 0; i < pp; ++i) coef[order_[i]] = in[k * pp + i];
        const float* C = coef.data();
        for (size_t i = 0; i < p; ++i)  // tmp = Dᵀ · C
          for (size_t j = 0; j < p; ++j) {
            float s = 0.f;
            for (size_t u = 0; u < p; ++u) s += dct_[u * p + i] * C[u * p + j];
            tmp[i * p + j] = s;
          }
        matmul(tmp.data(), dct_.data(), block.data() + k * pp, p, false);  // (Dᵀ · C) · D
      }
      const size_t y_end = std::min(p, height - size_t(r) * p), x_end = std::min(p, width - c * p);
      for (size_t y = 0; y < y_end; ++y)
        for (size_t x = 0; x < x_end; ++x) {
          uint8_t* px = &out.pixels[((size_t(r) * p + y) * width + c * p + x) * channels];
          const float Y = block[y * p + x] + 128.f;
          if (channels == 1) {
            px[0] = static_cast<uint8_t>(std::clamp(std::lround(Y), 0L, 255L));
            continue;
          }
          const float Cb = block[pp + y * p + x], Cr = block[2 * pp + y * p + x];
          for (size_t k = 0; k < 3; ++k) {
            const float v = inv.m[k][0] * Y + inv.m[k][1] * Cb + inv.m[k][2] * Cr;
            px[k] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
          }
        }
    }
  }
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

}  // namespace vq::image
