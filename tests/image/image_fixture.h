// Test data shared by tests/image/test_image.cpp and the build-time fixture generator
// tests/image/make_test_model.cpp: a synthetic photograph-like image and the tiny model's recipe.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "vq/core/rng.h"
#include "vq/image/image.h"
#include "vq/image/image_tokenizer.h"

namespace vq::testing_image {

// A photograph-like test image: smooth gradients and blobs plus mild noise, seeded.
inline image::Image synthetic(size_t w, size_t h, size_t channels, uint64_t seed) {
  Rng rng(seed);
  image::Image im(w, h, channels);
  const double fx = 0.05 + 0.1 * rng.uniform(), fy = 0.05 + 0.1 * rng.uniform(), ph = 6.3 * rng.uniform();
  for (size_t y = 0; y < h; ++y)
    for (size_t x = 0; x < w; ++x)
      for (size_t c = 0; c < channels; ++c) {
        double v = 128 + 70 * std::sin(fx * x + ph + c) * std::cos(fy * y + 0.5 * c) + 8 * rng.normal();
        if (c == 3 || (channels == 2 && c == 1)) v = 255.0 * x / std::max<size_t>(1, w - 1);  // alpha ramp
        im.at(y, x, c) = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  return im;
}

// The tiny model: 4×4 patches, 3 levels of 64 entries, few iterations (trains in seconds), one
// thread (deterministic), on six 64×48 synthetic images.
inline image::ImageTrainOptions tiny_model_options() {
  image::ImageTrainOptions o;
  o.patch = 4;
  o.quantizer = "RVQ3x6";
  o.iterations = 8;
  o.threads = 1;
  return o;
}

inline std::vector<image::Image> tiny_model_images() {
  std::vector<image::Image> train;
  for (uint64_t s = 0; s < 6; ++s) train.push_back(synthetic(64, 48, 3, 100 + s));
  return train;
}

}  // namespace vq::testing_image
