// CPU 3DGS renderer (see render.h for the steps and their source). Preprocessing is parallel
// over Gaussians; blending is parallel over bands of rows, each band walking the depth-sorted
// list on its own, so the per-pixel order is the same for any thread count.
#include "vq/splats/render.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <omp.h>

namespace vq::splats {
namespace {

constexpr float kSH0 = 0.28209479177387814f;
constexpr float kSH1 = 0.4886025119029199f;
constexpr float kSH2[5] = {1.0925484305920792f, -1.0925484305920792f, 0.31539156525252005f,
                           -1.0925484305920792f, 0.5462742152960396f};
constexpr float kSH3[7] = {-0.5900435899266435f, 2.890611442640554f, -0.4570457994644658f,
                           0.3731763325901154f, -0.4570457994644658f, 1.445305721320277f,
                           -0.5900435899266435f};

using Vec3 = std::array<float, 3>;
Vec3 sub(Vec3 a, Vec3 b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec3 cross(Vec3 a, Vec3 b) { return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]}; }
float dot(Vec3 a, Vec3 b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 normalized(Vec3 a) {
  const float n = std::sqrt(dot(a, a));
  return {a[0] / n, a[1] / n, a[2] / n};
}

// Colour of Gaussian i seen along unit direction d (camera -> Gaussian), one channel at a time.
Vec3 sh_colour(const SplatScene& s, size_t i, int degree, Vec3 d) {
  const size_t k = sh_rest_per_channel(s.sh_degree);
  const float x = d[0], y = d[1], z = d[2];
  const float xx = x * x, yy = y * y, zz = z * z;
  float basis[15];
  basis[0] = -kSH1 * y;
  basis[1] = kSH1 * z;
  basis[2] = -kSH1 * x;
  basis[3] = kSH2[0] * x * y;
  basis[4] = kSH2[1] * y * z;
  basis[5] = kSH2[2] * (2 * zz - xx - yy);
  basis[6] = kSH2[3] * x * z;
  basis[7] = kSH2[4] * (xx - yy);
  basis[8] = kSH3[0] * y * (3 * xx - yy);
  basis[9] = kSH3[1] * x * y * z;
  basis[10] = kSH3[2] * y * (4 * zz - xx - yy);
  basis[11] = kSH3[3] * z * (2 * zz - 3 * xx - 3 * yy);
  basis[12] = kSH3[4] * x * (4 * zz - xx - yy);
  basis[13] = kSH3[5] * z * (xx - yy);
  basis[14] = kSH3[6] * x * (xx - 3 * yy);
  const size_t used = sh_rest_per_channel(std::min(degree, s.sh_degree));
  Vec3 c;
  for (size_t ch = 0; ch < 3; ++ch) {
    float v = kSH0 * s.sh_dc[i * 3 + ch];
    const float* rest = s.sh_rest.data() + i * 3 * k + ch * k;
    for (size_t j = 0; j < used; ++j) v += basis[j] * rest[j];
    c[ch] = std::max(v + 0.5f, 0.f);
  }
  return c;
}

struct Splat {
  float depth;
  float u, v;              // centre in pixels
  float a, b, c;           // inverse 2D covariance (conic): [[a, b], [b, c]]
  float opacity;           // sigmoid(logit)
  Vec3 colour;
  int x0, x1, y0, y1;      // pixel bounding box, inclusive
};

// Projects Gaussian i; false when culled.
bool project(const SplatScene& s, size_t i, const Camera& cam, const Vec3& eye, int degree, Splat& out) {
  const float* p = &s.positions[i * 3];
  const auto& W = cam.rotation;
  const Vec3 t = {W[0] * p[0] + W[1] * p[1] + W[2] * p[2] + cam.translation[0],
                  W[3] * p[0] + W[4] * p[1] + W[5] * p[2] + cam.translation[1],
                  W[6] * p[0] + W[7] * p[1] + W[8] * p[2] + cam.translation[2]};
  if (t[2] < 0.2f) return false;
  // Σ = R S² Rᵀ, M = R S.
  const float* q = &s.rotations[i * 4];
  const float qn = std::sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  if (!(qn > 0)) return false;
  const float r = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
  const float R[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - r * z), 2 * (x * z + r * y),
                      2 * (x * y + r * z), 1 - 2 * (x * x + z * z), 2 * (y * z - r * x),
                      2 * (x * z - r * y), 2 * (y * z + r * x), 1 - 2 * (x * x + y * y)};
  const float sc[3] = {std::exp(s.scales[i * 3]), std::exp(s.scales[i * 3 + 1]), std::exp(s.scales[i * 3 + 2])};
  float S3[9];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      float acc = 0;
      for (int k = 0; k < 3; ++k) acc += R[a * 3 + k] * sc[k] * sc[k] * R[b * 3 + k];
      S3[a * 3 + b] = acc;
    }
  // EWA: T = J W (2×3), Σ' = T Σ Tᵀ.
  const float tan_x = 0.5f * cam.width / cam.fx, tan_y = 0.5f * cam.height / cam.fy;
  const float lx = 1.3f * tan_x, ly = 1.3f * tan_y;
  const float tx = std::clamp(t[0] / t[2], -lx, lx) * t[2], ty = std::clamp(t[1] / t[2], -ly, ly) * t[2];
  const float J[6] = {cam.fx / t[2], 0, -cam.fx * tx / (t[2] * t[2]), 0, cam.fy / t[2], -cam.fy * ty / (t[2] * t[2])};
  float T[6];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b) T[a * 3 + b] = J[a * 3] * W[b] + J[a * 3 + 1] * W[3 + b] + J[a * 3 + 2] * W[6 + b];
  float C[4];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      float acc = 0;
      for (int k = 0; k < 3; ++k)
        for (int l = 0; l < 3; ++l) acc += T[a * 3 + k] * S3[k * 3 + l] * T[b * 3 + l];
      C[a * 2 + b] = acc;
    }
  C[0] += 0.3f;
  C[3] += 0.3f;
  const float det = C[0] * C[3] - C[1] * C[2];
  if (!(det > 0)) return false;
  out.a = C[3] / det;
  out.b = -C[1] / det;
  out.c = C[0] / det;
  const float mid = 0.5f * (C[0] + C[3]);
  const float lambda = mid + std::sqrt(std::max(0.1f, mid * mid - det));
  const float radius = std::ceil(3.f * std::sqrt(lambda));
  out.u = cam.fx * t[0] / t[2] + cam.cx;
  out.v = cam.fy * t[1] / t[2] + cam.cy;
  out.x0 = std::max(0, static_cast<int>(std::floor(out.u - radius)));
  out.x1 = std::min(static_cast<int>(cam.width) - 1, static_cast<int>(std::ceil(out.u + radius)));
  out.y0 = std::max(0, static_cast<int>(std::floor(out.v - radius)));
  out.y1 = std::min(static_cast<int>(cam.height) - 1, static_cast<int>(std::ceil(out.v + radius)));
  if (out.x0 > out.x1 || out.y0 > out.y1) return false;
  out.depth = t[2];
  out.opacity = 1.f / (1.f + std::exp(-s.opacity[i]));
  out.colour = sh_colour(s, i, degree, normalized(sub({p[0], p[1], p[2]}, eye)));
  return true;
}

float median(std::vector<float> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

}  // namespace

Camera Camera::look_at(std::array<float, 3> eye, std::array<float, 3> target, std::array<float, 3> up,
                       size_t width, size_t height, float fov_y_degrees) {
  const Vec3 fwd = sub(target, eye);
  VQ_CHECK(dot(fwd, fwd) > 0, "Camera::look_at: eye equals target");
  const Vec3 z = normalized(fwd);
  const Vec3 right = cross(z, up);
  VQ_CHECK(dot(right, right) > 1e-12f, "Camera::look_at: up is parallel to the viewing direction");
  // x = z × up and y = z × x = -up projected: image y points down and world up appears at the
  // top, as with OpenCV / COLMAP cameras; (x, y, z) is right-handed.
  const Vec3 x = normalized(right);
  const Vec3 y = cross(z, x);
  VQ_CHECK(width > 0 && height > 0 && fov_y_degrees > 0 && fov_y_degrees < 180, "Camera::look_at: bad image size or fov");
  Camera c;
  c.rotation = {x[0], x[1], x[2], y[0], y[1], y[2], z[0], z[1], z[2]};
  c.translation = {-dot(x, eye), -dot(y, eye), -dot(z, eye)};
  c.fy = 0.5f * height / std::tan(0.5f * fov_y_degrees * 3.14159265358979f / 180.f);
  c.fx = c.fy;
  c.cx = 0.5f * width;
  c.cy = 0.5f * height;
  c.width = width;
  c.height = height;
  return c;
}

std::array<float, 3> Camera::centre() const {
  // eye = -Wᵀ t
  const auto& W = rotation;
  const auto& t = translation;
  return {-(W[0] * t[0] + W[3] * t[1] + W[6] * t[2]), -(W[1] * t[0] + W[4] * t[1] + W[7] * t[2]),
          -(W[2] * t[0] + W[5] * t[1] + W[8] * t[2])};
}

Image render(const SplatScene& s, const Camera& cam, const RenderOptions& options) {
  VQ_CHECK(cam.width > 0 && cam.height > 0, "render: empty image");
  VQ_CHECK(options.sh_degree >= 0, "render: negative SH degree");
  const Vec3 eye = cam.centre();
  const size_t n = s.count;
  std::vector<Splat> splats(n);
  std::vector<uint8_t> keep(n, 0);
#pragma omp parallel for schedule(static) num_threads(options.threads > 0 ? options.threads : omp_get_max_threads())
  for (size_t i = 0; i < n; ++i) keep[i] = project(s, i, cam, eye, options.sh_degree, splats[i]);
  std::vector<uint32_t> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (keep[i]) order.push_back(static_cast<uint32_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return splats[a].depth < splats[b].depth; });

  Image img;
  img.width = cam.width;
  img.height = cam.height;
  img.rgb.assign(cam.width * cam.height * 3, 0.f);
  constexpr int kBand = 16;
  const int bands = static_cast<int>((cam.height + kBand - 1) / kBand);
#pragma omp parallel for schedule(dynamic) num_threads(options.threads > 0 ? options.threads : omp_get_max_threads())
  for (int band = 0; band < bands; ++band) {
    const int y0 = band * kBand, y1 = std::min<int>(static_cast<int>(cam.height), y0 + kBand) - 1;
    const size_t w = cam.width;
    std::vector<float> T(static_cast<size_t>(y1 - y0 + 1) * w, 1.f);
    for (uint32_t i : order) {
      const Splat& g = splats[i];
      if (g.y1 < y0 || g.y0 > y1) continue;
      for (int y = std::max(y0, g.y0); y <= std::min(y1, g.y1); ++y)
        for (int x = g.x0; x <= g.x1; ++x) {
          float& t = T[static_cast<size_t>(y - y0) * w + x];
          if (t < 1e-4f) continue;
          // Pixel centres at integer coordinates, as in the reference.
          const float dx = g.u - x, dy = g.v - y;
          const float power = -0.5f * (g.a * dx * dx + g.c * dy * dy) - g.b * dx * dy;
          if (power > 0) continue;
          const float alpha = std::min(0.99f, g.opacity * std::exp(power));
          if (alpha < 1.f / 255.f) continue;
          float* px = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
          for (int ch = 0; ch < 3; ++ch) px[ch] += g.colour[ch] * alpha * t;
          t *= 1 - alpha;
        }
    }
    for (int y = y0; y <= y1; ++y)
      for (size_t x = 0; x < w; ++x) {
        float* px = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
        const float t = T[static_cast<size_t>(y - y0) * w + x];
        for (int ch = 0; ch < 3; ++ch) px[ch] = std::clamp(px[ch] + t * options.background[ch], 0.f, 1.f);
      }
  }
  return img;
}

std::vector<Camera> orbit_cameras(const SplatScene& s, size_t views, size_t width, size_t height, float fov_y) {
  VQ_CHECK(s.count > 0, "orbit_cameras: empty scene");
  VQ_CHECK(views > 0, "orbit_cameras: need at least one view");
  Vec3 centre;
  std::vector<float> coord(s.count);
  for (int a = 0; a < 3; ++a) {
    for (size_t i = 0; i < s.count; ++i) coord[i] = s.positions[i * 3 + a];
    centre[a] = median(coord);
  }
  std::vector<float> dist(s.count);
  for (size_t i = 0; i < s.count; ++i) {
    const Vec3 d = sub({s.positions[i * 3], s.positions[i * 3 + 1], s.positions[i * 3 + 2]}, centre);
    dist[i] = std::sqrt(dot(d, d));
  }
  std::nth_element(dist.begin(), dist.begin() + dist.size() * 9 / 10, dist.end());
  const float radius = std::max(1.5f * dist[dist.size() * 9 / 10], 1e-3f);
  std::vector<Camera> cams;
  const float golden = 3.14159265358979f * (3.f - std::sqrt(5.f));
  for (size_t k = 0; k < views; ++k) {
    // Fibonacci sphere, poles excluded (the up vector is world y).
    const float yv = 0.9f * (1.f - 2.f * (k + 0.5f) / views);
    const float rr = std::sqrt(1.f - yv * yv), phi = golden * k;
    const Vec3 dir = {rr * std::cos(phi), yv, rr * std::sin(phi)};
    const Vec3 eye = {centre[0] + radius * dir[0], centre[1] + radius * dir[1], centre[2] + radius * dir[2]};
    cams.push_back(Camera::look_at(eye, centre, {0, 1, 0}, width, height, fov_y));
  }
  return cams;
}

double psnr(const Image& a, const Image& b) {
  VQ_CHECK(a.width == b.width && a.height == b.height && a.rgb.size() == b.rgb.size(), "psnr: images differ in size");
  double se = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    const double d = double(a.rgb[i]) - b.rgb[i];
    se += d * d;
  }
  const double mse = se / std::max<size_t>(a.rgb.size(), 1);
  return mse > 0 ? 10 * std::log10(1.0 / mse) : INFINITY;
}

double ssim(const Image& a, const Image& b) {
  VQ_CHECK(a.width == b.width && a.height == b.height && a.rgb.size() == b.rgb.size(), "ssim: images differ in size");
  constexpr int kR = 5;  // 11×11 window
  VQ_CHECK(a.width > 2 * kR && a.height > 2 * kR, "ssim: images must be at least 11×11");
  float g[2 * kR + 1];
  float gs = 0;
  for (int k = -kR; k <= kR; ++k) gs += g[k + kR] = std::exp(-0.5f * k * k / (1.5f * 1.5f));
  for (float& v : g) v /= gs;
  const size_t w = a.width, h = a.height, ow = w - 2 * kR, oh = h - 2 * kR;
  // Separable blur of the five moment images, valid region only.
  auto blur = [&](const std::vector<float>& in) {
    std::vector<float> tmp(ow * h), out(ow * oh);
    for (size_t y = 0; y < h; ++y)
      for (size_t x = 0; x < ow; ++x) {
        float acc = 0;
        for (int k = 0; k <= 2 * kR; ++k) acc += g[k] * in[y * w + x + k];
        tmp[y * ow + x] = acc;
      }
    for (size_t y = 0; y < oh; ++y)
      for (size_t x = 0; x < ow; ++x) {
        float acc = 0;
        for (int k = 0; k <= 2 * kR; ++k) acc += g[k] * tmp[(y + k) * ow + x];
        out[y * ow + x] = acc;
      }
    return out;
  };
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  double total = 0;
  for (int ch = 0; ch < 3; ++ch) {
    std::vector<float> x(w * h), y(w * h), xx(w * h), yy(w * h), xy(w * h);
    for (size_t i = 0; i < w * h; ++i) {
      x[i] = a.rgb[i * 3 + ch];
      y[i] = b.rgb[i * 3 + ch];
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
    const auto mx = blur(x), my = blur(y), sxx = blur(xx), syy = blur(yy), sxy = blur(xy);
    double sum = 0;
    for (size_t i = 0; i < mx.size(); ++i) {
      const double vx = sxx[i] - double(mx[i]) * mx[i], vy = syy[i] - double(my[i]) * my[i];
      const double cxy = sxy[i] - double(mx[i]) * my[i];
      sum += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) /
             ((double(mx[i]) * mx[i] + double(my[i]) * my[i] + c1) * (vx + vy + c2));
    }
    total += sum / mx.size();
  }
  return total / 3;
}

}  // namespace vq::splats
