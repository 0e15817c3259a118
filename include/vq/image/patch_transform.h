// The decorrelating transform in front of the quantizer: RGB -> YCbCr -> a 2-D DCT per p×p patch.
//
// Colour: full-range BT.601 YCbCr as in JPEG/JFIF, centred (Y − 128, Cb, Cr around 0). Its
// inverse is the exact inverse matrix (computed in double), so without quantization the round
// trip reproduces every 8-bit pixel after rounding.
// Frequency: the orthonormal DCT-II per channel per patch, so squared error in coefficients is
// squared error in (centred) YCbCr pixels: the quantizer's L2 is a pixel-domain error.
//
// Patch grid: rows = ceil(height / p), cols = ceil(width / p). Pixels beyond the image (the last
// row / column of patches when a side is not a multiple of p) are filled by repeating the last
// row / column — smoother than zeros, so padding costs few high-frequency bits — and inverse()
// crops them away again.
//
// Patch vector layout (dim() = 3 p² floats): [Y block | Cb block | Cr block], each block the p×p
// DCT coefficients of (vertical frequency u, horizontal frequency v) in diagonal order: by u + v,
// then by u (as JPEG's zigzag, without alternating direction). Contiguous dimensions are thus
// frequency bands, and a group quantizer (GRVQ) splitting the vector gives each band its own
// codebooks — DC and low frequencies first, the mostly-near-zero high bands last.
// Patches are ordered row-major over the grid: patch (r, c) is row r * cols + c.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "vq/types.h"
#include "vq/image/image.h"

namespace vq::image {

class PatchTransform {
 public:
  // 2 <= patch <= 64.
  explicit PatchTransform(size_t patch);

  size_t patch() const { return p_; }
  size_t dim() const { return 3 * p_ * p_; }
  size_t grid_rows(size_t height) const { return (height + p_ - 1) / p_; }
  size_t grid_cols(size_t width) const { return (width + p_ - 1) / p_; }

  // image: any channel count (grey is replicated to RGB, alpha is ignored here). Returns
  // (grid_rows × grid_cols) × dim() coefficients.
  Matrix forward(const Image& image) const;
  // coefs: (grid_rows(height) × grid_cols(width)) × dim(). Returns a width × height RGB image
  // (rounded to nearest, clamped to 0..255); channels = 1 returns the luma plane only (for grey
  // sources, whose chroma is zero anyway).
  Image inverse(MatrixView<const float> coefs, size_t width, size_t height, size_t channels = 3) const;

  // The same, for the patches first .. first + rows − 1 (raster order) only, so encoders and
  // decoders can stream the grid in cache-sized batches instead of materialising every patch.
  // forward_patches: out is rows × dim() (any stride). inverse_patches: coefs is rows × dim(),
  // out is the whole width × height image (1 or 3 channels) whose pixels of those patches are
  // written. Patches must lie inside the grid.
  void forward_patches(const Image& image, size_t first, MatrixView<float> out) const;
  void inverse_patches(MatrixView<const float> coefs, size_t first, Image& out) const;

  // The diagonal of H for patch vectors (size dim()): channel weight (1 for Y, chroma_weight for
  // Cb and Cr) times a frequency weight falling geometrically from 1 at DC to
  // high_frequency_weight at the highest frequency (u + v = 2(p − 1)).
  // chroma_weight > 0, 0 < high_frequency_weight <= 1 (1: flat, the pixel-MSE metric).
  std::vector<float> weights(float chroma_weight, float high_frequency_weight) const;

  // Frequency u·p + v (vertical u, horizontal v) of the i-th coefficient of a block.
  size_t frequency(size_t i) const { return order_[i]; }
  // Squared RGB error of a unit error in Y, Cb, Cr (the squared column norms of the inverse
  // colour matrix: 3, 3.26, 2.48): what each channel's error costs in RGB PSNR.
  static std::array<float, 3> rgb_error_weights();

 private:
  size_t p_;
  std::vector<float> dct_;     // p × p orthonormal DCT-II matrix, row k = basis function k
  std::vector<uint32_t> order_;  // p²: order_[i] = u·p + v of the i-th coefficient in a block
};

}  // namespace vq::image
