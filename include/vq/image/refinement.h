// Scalar refinement: the image codec's mode for rates where more VQ levels stop paying.
//
// A 256-entry residual level over a whole 192-dimensional patch buys ≈ 0.5 dB per 8 bits per
// 64 pixels from the third level on, while a transform coder spends bits only on the
// coefficients that need them. So the codec keeps the first coarse token level(s) of the model
// (a cheap, learned prediction of each patch) and codes what they leave — every DCT
// coefficient of the residual — with a uniform scalar quantizer and a context-adaptive
// arithmetic coder (src/image/refinement.cpp spells out the model). The tokens stay a valid
// token grid; the refinement is an extra chunk of the encoded file.
//
// Quantization: level q = sign(x) · floor(|x| / Δ_c + kRoundingOffset), reconstruction q · Δ_c.
// x is an AC coefficient's residual (coefficient minus the tokens' reconstruction), or for DC
// the coefficient minus a prediction from the neighbouring patches' reconstructed DC blended
// with the tokens' own DC. Δ_Y = step, and the chroma steps are scaled so that a unit of rate
// lowers RGB squared error equally in every channel (Δ_c = step · sqrt(w_Y / w_c), w from
// PatchTransform::rgb_error_weights): uniform steps across frequencies are what minimises MSE
// at a given entropy (reverse water-filling), unlike JPEG's perceptual tables. AC ±1 levels at
// the end of a block are dropped where they cost more bits than they buy (refinement.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "vq/types.h"

namespace vq::image {

// Rounding offset of the quantizer: 0.5 would be plain rounding; smaller widens the zero bin
// (a dead zone), trading a little error on small coefficients for many fewer nonzero levels.
// 0.4 was best of 0.3 / 0.4 / 0.5 in a rate–PSNR measurement on the held-out photos.
inline constexpr float kRoundingOffset = 0.4f;
inline constexpr float kMinRefinementStep = 0.25f;  // keeps every level inside int16
inline constexpr float kMaxRefinementStep = 4096.f;  // beyond every coefficient: levels all 0

struct Refinement {
  float step = 0.f;              // luma step in 8-bit units, >= kMinRefinementStep
  size_t patches = 0, dim = 0;   // grid patches (raster order) × 3p² coefficients
  std::vector<int16_t> levels;   // patches × dim, PatchTransform's layout

  Refinement() = default;
  Refinement(float step, size_t patches, size_t dim);  // all levels 0
  bool empty() const { return levels.empty(); }
  // Δ of channel c (0 Y, 1 Cb, 2 Cr).
  float channel_step(size_t c) const;
  // AC levels: quantizes residual rows (patches first .. first + rows − 1, dim columns: the
  // coefficients minus the tokens' reconstruction) and trims their tails; DC levels are left to
  // quantize_dc.
  void quantize(MatrixView<const float> residual, size_t first);
  // DC levels, in raster order over a grid `cols` patches wide: source_dc and coarse_dc
  // (patches × 3: each channel's DC coefficient in the image and in the tokens' reconstruction).
  // Each DC is coded against a prediction the decoder can repeat (predicted_dc in the .cpp);
  // luma_only leaves the chroma DC levels 0 (grey sources).
  void quantize_dc(Span<const float> source_dc, Span<const float> coarse_dc, size_t cols, bool luma_only);
  // The decoder's side: every patch's reconstructed DC (patches × 3) from the tokens' coarse_dc.
  std::vector<float> reconstruct_dc(Span<const float> coarse_dc, size_t cols) const;
  // coefs (patches first .., dim columns, holding the tokens' reconstruction) += the dequantized
  // AC levels; each channel's DC coefficient := dc (reconstruct_dc's result).
  void add_to(MatrixView<float> coefs, size_t first, Span<const float> dc) const;
  // Throws unless the sizes agree and the step is valid.
  void validate(const char* who) const;
};

// The entropy-coded levels of a rows × cols grid of p×p patches, and back (r's step, patches
// and dim are given; its levels are filled). Decoding corrupt data gives an error or in-range
// levels, in time bounded by the grid size.
std::vector<uint8_t> encode_refinement(const Refinement& r, size_t rows, size_t cols, size_t patch);
void decode_refinement(Span<const uint8_t> payload, size_t rows, size_t cols, size_t patch, Refinement& r);

}  // namespace vq::image
