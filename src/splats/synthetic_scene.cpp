// Procedural splat scenes (see synthetic_scene.h for what is imitated and why).
#include "vq/splats/synthetic_scene.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "vq/core/rng.h"

namespace vq::splats {
namespace {

using Vec3 = std::array<float, 3>;
constexpr float kPi = 3.14159265358979f;
constexpr float kSH0 = 0.28209479177387814f;

Vec3 cross(Vec3 a, Vec3 b) { return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]}; }
Vec3 normalized(Vec3 a) {
  const float n = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  return {a[0] / n, a[1] / n, a[2] / n};
}

// A point on a surface: position, unit normal, a unit tangent, and the texture colour there.
struct SurfacePoint {
  Vec3 p, n, t;
  Vec3 rgb;
};

float fract(float x) { return x - std::floor(x); }
// Smooth pseudo-noise in [-1, 1] from a few incommensurate sines: enough texture for VQ to see.
float wave(float u, float v, float seed) {
  return (std::sin(3.1f * u + 1.7f * v + seed) + std::sin(-2.3f * u + 4.1f * v + 2 * seed) +
          std::sin(7.7f * u - 5.3f * v + 3 * seed)) / 3.f;
}
Vec3 mix(Vec3 a, Vec3 b, float t) { return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t}; }

struct Object {
  int kind;       // 0 plane, 1 sphere, 2 torus
  Vec3 c;         // centre
  float r1, r2;   // radius (sphere), major / minor radius (torus), half-size (plane)
  Vec3 col_a, col_b;
  float area() const {
    switch (kind) {
      case 0: return 4 * r1 * r1;
      case 1: return 4 * kPi * r1 * r1;
      default: return 4 * kPi * kPi * r1 * r2;
    }
  }
  SurfacePoint sample(Rng& rng) const {
    SurfacePoint s;
    const float u = static_cast<float>(rng.uniform()), v = static_cast<float>(rng.uniform());
    float texture = 0;
    if (kind == 0) {
      const float x = (2 * u - 1) * r1, z = (2 * v - 1) * r1;
      s.p = {c[0] + x, c[1], c[2] + z};
      s.n = {0, 1, 0};
      s.t = {1, 0, 0};
      const bool checker = (static_cast<int>(std::floor(x * 1.5f)) + static_cast<int>(std::floor(z * 1.5f))) & 1;
      texture = 0.7f * checker + 0.3f * (0.5f + 0.5f * wave(x * 2, z * 2, 0.3f));
    } else if (kind == 1) {
      const float theta = 2 * kPi * u, cz = 2 * v - 1, sz = std::sqrt(std::max(0.f, 1 - cz * cz));
      s.n = {sz * std::cos(theta), cz, sz * std::sin(theta)};
      s.p = {c[0] + r1 * s.n[0], c[1] + r1 * s.n[1], c[2] + r1 * s.n[2]};
      s.t = normalized(std::fabs(s.n[1]) < 0.99f ? cross({0, 1, 0}, s.n) : Vec3{1, 0, 0});
      texture = 0.5f + 0.5f * std::sin(12 * cz + 2 * std::sin(3 * theta)) * (0.6f + 0.4f * wave(theta, cz * 3, 1.1f));
    } else {
      const float a = 2 * kPi * u, b = 2 * kPi * v;
      const Vec3 ring = {std::cos(a), 0, std::sin(a)};
      s.n = {std::cos(b) * ring[0], std::sin(b), std::cos(b) * ring[2]};
      s.p = {c[0] + r1 * ring[0] + r2 * s.n[0], c[1] + r2 * s.n[1], c[2] + r1 * ring[2] + r2 * s.n[2]};
      s.t = {-ring[2], 0, ring[0]};
      texture = fract(4 * a / (2 * kPi) + 0.1f * wave(a, b, 2.f)) < 0.5f ? 0.15f : 0.9f;
    }
    s.rgb = mix(col_a, col_b, std::clamp(texture, 0.f, 1.f));
    return s;
  }
};

// Rotation matrix (columns e0, e1, e2) to quaternion (w, x, y, z).
std::array<float, 4> to_quaternion(Vec3 e0, Vec3 e1, Vec3 e2) {
  const float m00 = e0[0], m11 = e1[1], m22 = e2[2];
  const float m21 = e1[2], m12 = e2[1], m02 = e2[0], m20 = e0[2], m10 = e0[1], m01 = e1[0];
  std::array<float, 4> q;
  const float tr = m00 + m11 + m22;
  if (tr > 0) {
    const float s = 2 * std::sqrt(tr + 1);
    q = {0.25f * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s};
  } else if (m00 > m11 && m00 > m22) {
    const float s = 2 * std::sqrt(1 + m00 - m11 - m22);
    q = {(m21 - m12) / s, 0.25f * s, (m01 + m10) / s, (m02 + m20) / s};
  } else if (m11 > m22) {
    const float s = 2 * std::sqrt(1 + m11 - m00 - m22);
    q = {(m02 - m20) / s, (m01 + m10) / s, 0.25f * s, (m12 + m21) / s};
  } else {
    const float s = 2 * std::sqrt(1 + m22 - m00 - m11);
    q = {(m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25f * s};
  }
  return q;
}

}  // namespace

SplatScene synthetic_scene(const SyntheticSceneOptions& o) {
  VQ_CHECK(o.count > 0, "synthetic_scene: count must be > 0");
  VQ_CHECK(o.sh_degree >= 0 && o.sh_degree <= 3, "synthetic_scene: SH degree must be 0..3");
  VQ_CHECK(o.sky_fraction >= 0 && o.sky_fraction < 1, "synthetic_scene: sky_fraction must be in [0, 1)");
  Rng rng(o.seed);
  const std::vector<Object> objects = {
      {0, {0, -1, 0}, 2.5f, 0, {0.25f, 0.22f, 0.2f}, {0.75f, 0.7f, 0.6f}},
      {1, {0, -0.2f, 0}, 0.8f, 0, {0.8f, 0.15f, 0.1f}, {0.95f, 0.85f, 0.3f}},
      {1, {1.4f, -0.5f, 0.9f}, 0.5f, 0, {0.1f, 0.3f, 0.7f}, {0.6f, 0.8f, 0.95f}},
      {1, {-1.3f, -0.6f, -0.8f}, 0.4f, 0, {0.1f, 0.5f, 0.15f}, {0.7f, 0.9f, 0.4f}},
      {2, {-1.2f, -0.65f, 1.1f}, 0.5f, 0.15f, {0.2f, 0.2f, 0.25f}, {0.9f, 0.6f, 0.2f}},
  };
  float total_area = 0;
  std::vector<float> cdf;
  for (const Object& ob : objects) cdf.push_back(total_area += ob.area());

  const size_t n = o.count;
  const size_t n_sky = static_cast<size_t>(o.sky_fraction * n);
  const float spacing = std::sqrt(total_area / std::max<size_t>(n - n_sky, 1));
  // Per-object view-dependent lobe: SH rest coefficient k of degree l ~ N(0, (0.12 / l)²),
  // shared by the channels up to a small tint.
  const size_t k_rest = sh_rest_per_channel(o.sh_degree);
  std::vector<std::vector<float>> lobes(objects.size(), std::vector<float>(3 * k_rest));
  for (auto& lobe : lobes)
    for (size_t k = 0; k < k_rest; ++k) {
      const int l = k < 3 ? 1 : k < 8 ? 2 : 3;
      const float base = static_cast<float>(rng.normal()) * 0.12f / l;
      for (int ch = 0; ch < 3; ++ch) lobe[ch * k_rest + k] = base * (1 + 0.15f * static_cast<float>(rng.normal()));
    }

  SplatScene s;
  s.count = n;
  s.sh_degree = o.sh_degree;
  s.positions.resize(n * 3);
  s.normals.assign(n * 3, 0.f);
  s.sh_dc.resize(n * 3);
  s.sh_rest.resize(n * 3 * k_rest);
  s.opacity.resize(n);
  s.scales.resize(n * 3);
  s.rotations.resize(n * 4);
  s.comments = {"vqcodec synthetic scene (procedural surfaces, not a trained capture)"};
  auto gauss = [&](float sigma) { return sigma * static_cast<float>(rng.normal()); };
  for (size_t i = 0; i < n; ++i) {
    SurfacePoint sp;
    float log_t1, log_t2, log_n, logit;
    size_t obj = 0;
    if (i < n_sky) {
      // Sky: a far shell above the horizon, big soft blobs with a vertical colour gradient.
      const float theta = 2 * kPi * static_cast<float>(rng.uniform()), y = static_cast<float>(rng.uniform());
      const float r = std::sqrt(1 - y * y);
      sp.n = {-r * std::cos(theta), -y, -r * std::sin(theta)};
      sp.p = {-8 * sp.n[0], -8 * sp.n[1] - 1, -8 * sp.n[2]};
      sp.t = normalized(std::fabs(sp.n[1]) < 0.99f ? cross({0, 1, 0}, sp.n) : Vec3{1, 0, 0});
      sp.rgb = mix({0.75f, 0.85f, 0.95f}, {0.25f, 0.45f, 0.85f}, y);
      const float base = std::log(8 * std::sqrt(4 * kPi / std::max<size_t>(n_sky, 1)));
      log_t1 = base + gauss(0.3f);
      log_t2 = base + gauss(0.3f);
      log_n = base - 1.5f + gauss(0.5f);
      logit = 1.0f + gauss(1.5f);
    } else {
      const float pick = static_cast<float>(rng.uniform()) * total_area;
      while (obj + 1 < objects.size() && pick > cdf[obj]) ++obj;
      sp = objects[obj].sample(rng);
      // A little depth jitter along the normal, as trained surfaces are a few splats thick.
      const float jitter = gauss(0.15f * spacing);
      for (int a = 0; a < 3; ++a) sp.p[a] += jitter * sp.n[a];
      log_t1 = std::log(0.8f * spacing) + gauss(0.35f);
      log_t2 = std::log(0.8f * spacing) + gauss(0.35f);
      log_n = std::log(0.08f * spacing) + gauss(0.5f);
      logit = rng.uniform() < 0.75 ? 4.f + gauss(1.5f) : -3.f + gauss(1.5f);
    }
    // Frame: tangent turned by a random angle about the normal.
    const float phi = 2 * kPi * static_cast<float>(rng.uniform());
    const Vec3 b = cross(sp.n, sp.t);
    const Vec3 e0 = {std::cos(phi) * sp.t[0] + std::sin(phi) * b[0], std::cos(phi) * sp.t[1] + std::sin(phi) * b[1],
                     std::cos(phi) * sp.t[2] + std::sin(phi) * b[2]};
    const Vec3 e1 = cross(sp.n, e0);
    std::array<float, 4> q = to_quaternion(e0, e1, sp.n);
    const float qs = (rng.uniform() < 0.5 ? -1.f : 1.f) * (0.5f + 1.5f * static_cast<float>(rng.uniform()));
    for (int a = 0; a < 4; ++a) s.rotations[i * 4 + a] = q[a] * qs;
    for (int a = 0; a < 3; ++a) s.positions[i * 3 + a] = sp.p[a];
    s.scales[i * 3] = log_t1;
    s.scales[i * 3 + 1] = log_t2;
    s.scales[i * 3 + 2] = log_n;
    s.opacity[i] = std::clamp(logit, -9.f, 9.f);
    for (int ch = 0; ch < 3; ++ch) s.sh_dc[i * 3 + ch] = (sp.rgb[ch] + gauss(0.03f) - 0.5f) / kSH0;
    const float strength = i < n_sky ? 0.f : 0.3f + 0.9f * static_cast<float>(rng.uniform());
    for (size_t ch = 0; ch < 3; ++ch)
      for (size_t k = 0; k < k_rest; ++k) {
        const int l = k < 3 ? 1 : k < 8 ? 2 : 3;
        const float lobe = i < n_sky ? 0.f : lobes[obj][ch * k_rest + k];
        s.sh_rest[i * 3 * k_rest + ch * k_rest + k] = strength * lobe + gauss(0.03f / l);
      }
  }
  return s;
}

}  // namespace vq::splats
