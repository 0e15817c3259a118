// Quality of a decoded image against its reference.
//
// PSNR: 10 log10(255² / MSE) over every pixel of the three RGB channels (grey images count as
// R = G = B; alpha is ignored); +inf for identical images.
// SSIM (Wang et al. 2004): on BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B (as floats, not
// rounded), an 11×11 Gaussian window with σ = 1.5 (weights normalised to sum 1), C1 = (0.01·255)²,
// C2 = (0.03·255)², population (biased) local variances, averaged over every window position that
// lies fully inside the image (MATLAB's 'valid'). Images smaller than 11 pixels on a side use one
// window of the whole image with uniform weights.
#pragma once

#include "vq/image/image.h"

namespace vq::image {

// a and b: same width and height (channel counts may differ: grey vs RGB); throws otherwise.
double psnr(const Image& a, const Image& b);
double ssim(const Image& a, const Image& b);
// The luma plane used by ssim(): width × height values.
std::vector<double> luma(const Image& image);

}  // namespace vq::image
