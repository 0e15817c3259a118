#include "vq/kv/rope.h"

#include <cmath>

#include "vq/error.h"

namespace vq::kv {

void apply_rope(float* x, size_t d, double pos, double base, RopeStyle style) {
  VQ_CHECK(d % 2 == 0, "apply_rope: dimension ", d, " is odd");
  const size_t half = d / 2;
  for (size_t j = 0; j < half; ++j) {
    // Angles in double: positions reach 10^5..10^6 and θ·pos must keep its fractional part.
    const double theta = pos * std::pow(base, -2.0 * double(j) / double(d));
    const double c = std::cos(theta), s = std::sin(theta);
    const size_t i0 = style == RopeStyle::kHalf ? j : 2 * j;
    const size_t i1 = style == RopeStyle::kHalf ? j + half : 2 * j + 1;
    const double a = x[i0], b = x[i1];
    x[i0] = static_cast<float>(a * c - b * s);
    x[i1] = static_cast<float>(a * s + b * c);
  }
}

}  // namespace vq::kv
