// PSNR and SSIM. SSIM filters the five local moments (x, y, x², y², xy) with the separable
// Gaussian window, 'valid' positions only, in double: sums over 121 weights of values up to
// 255² lose nothing in double.
#include <cmath>
#include <limits>

#include "vq/image/image_quality.h"

namespace vq::image {
namespace {

void check_same_size(const Image& a, const Image& b, const char* who) {
  a.validate(who);
  b.validate(who);
  VQ_CHECK(a.width == b.width && a.height == b.height, who, ": image sizes differ: ", a.width, "×",
           a.height, " vs ", b.width, "×", b.height);
}

// Channel k (0..2) of pixel i as RGB: grey replicates, alpha ignored.
inline float rgb(const Image& im, size_t i, size_t k) {
  return im.pixels[i * im.channels + (im.channels >= 3 ? k : 0)];
}

// 'valid' separable filtering of a w×h plane with a 1-D kernel of size K: (w−K+1)×(h−K+1).
std::vector<double> filter_valid(const std::vector<double>& in, size_t w, size_t h, const std::vector<double>& k) {
  const size_t K = k.size(), ow = w - K + 1, oh = h - K + 1;
  std::vector<double> tmp(ow * h), out(ow * oh);
  for (size_t y = 0; y < h; ++y)
    for (size_t x = 0; x < ow; ++x) {
      double s = 0;
      for (size_t t = 0; t < K; ++t) s += k[t] * in[y * w + x + t];
      tmp[y * ow + x] = s;
    }
  for (size_t y = 0; y < oh; ++y)
    for (size_t x = 0; x < ow; ++x) {
      double s = 0;
      for (size_t t = 0; t < K; ++t) s += k[t] * tmp[(y + t) * ow + x];
      out[y * ow + x] = s;
    }
  return out;
}

}  // namespace

std::vector<double> luma(const Image& im) {
  im.validate("luma");
  std::vector<double> y(im.pixel_count());
  for (size_t i = 0; i < y.size(); ++i)
    y[i] = im.channels >= 3 ? 0.299 * rgb(im, i, 0) + 0.587 * rgb(im, i, 1) + 0.114 * rgb(im, i, 2)
                            : rgb(im, i, 0);
  return y;
}

double psnr(const Image& a, const Image& b) {
  check_same_size(a, b, "psnr");
  double se = 0;
  for (size_t i = 0; i < a.pixel_count(); ++i)
    for (size_t k = 0; k < 3; ++k) {
      const double d = double(rgb(a, i, k)) - rgb(b, i, k);
      se += d * d;
    }
  if (se == 0) return std::numeric_limits<double>::infinity();
  const double mse = se / (3.0 * double(a.pixel_count()));
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const Image& a, const Image& b) {
  check_same_size(a, b, "ssim");
  const size_t w = a.width, h = a.height;
  const std::vector<double> x = luma(a), y = luma(b);
  std::vector<double> kernel;
  size_t K = 11;
  if (w < K || h < K) {  // one window over the whole image, uniform weights
    K = 0;
  } else {
    double sum = 0;
    for (size_t i = 0; i < K; ++i) {
      const double t = double(i) - 5.0;
      kernel.push_back(std::exp(-t * t / (2 * 1.5 * 1.5)));
      sum += kernel.back();
    }
    for (double& v : kernel) v /= sum;
  }
  std::vector<double> xx(w * h), yy(w * h), xy(w * h);
  for (size_t i = 0; i < w * h; ++i) xx[i] = x[i] * x[i], yy[i] = y[i] * y[i], xy[i] = x[i] * y[i];
  std::vector<double> mx, my, mxx, myy, mxy;
  if (K == 0) {
    auto mean = [&](const std::vector<double>& v) {
      double s = 0;
      for (double e : v) s += e;
      return std::vector<double>{s / double(v.size())};
    };
    mx = mean(x), my = mean(y), mxx = mean(xx), myy = mean(yy), mxy = mean(xy);
  } else {
    mx = filter_valid(x, w, h, kernel), my = filter_valid(y, w, h, kernel);
    mxx = filter_valid(xx, w, h, kernel), myy = filter_valid(yy, w, h, kernel);
    mxy = filter_valid(xy, w, h, kernel);
  }
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  double total = 0;
  for (size_t i = 0; i < mx.size(); ++i) {
    const double vx = mxx[i] - mx[i] * mx[i], vy = myy[i] - my[i] * my[i], cxy = mxy[i] - mx[i] * my[i];
    total += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) /
             ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
  }
  return total / double(mx.size());
}

}  // namespace vq::image
