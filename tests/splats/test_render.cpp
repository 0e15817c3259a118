// CPU renderer on analytic cases: a single Gaussian's footprint (peak and falloff, isotropic
// and anisotropic), front-to-back ordering and opacity of overlapping Gaussians, SH colour of
// degree 0 and 1 in a known direction; and the image metrics.
#include <gtest/gtest.h>

#include <cmath>

#include "vq/splats/render.h"
#include "vq/splats/synthetic_scene.h"

namespace vq::splats {
namespace {

constexpr float kC0 = 0.28209479177387814f;
constexpr float kC1 = 0.4886025119029199f;

// A scene of Gaussians with identity rotation, given positions, log scales, opacity logits
// and RGB colours (through SH degree 0: dc = (rgb - 0.5) / C0).
struct Builder {
  SplatScene s;
  explicit Builder(int degree = 0) { s.sh_degree = degree; }
  Builder& add(std::array<float, 3> p, std::array<float, 3> sigma, float alpha, std::array<float, 3> rgb) {
    ++s.count;
    s.positions.insert(s.positions.end(), p.begin(), p.end());
    for (float v : sigma) s.scales.push_back(std::log(v));
    s.opacity.push_back(std::log(alpha / (1 - alpha)));
    for (float c : rgb) s.sh_dc.push_back((c - 0.5f) / kC0);
    s.sh_rest.resize(s.count * s.sh_rest_dim(), 0.f);
    s.rotations.insert(s.rotations.end(), {2.f, 0, 0, 0});  // unnormalised on purpose
    return *this;
  }
};

// Camera at the origin looking down +z, 64×64: the principal point (32, 32) is a pixel centre,
// where the reference rasteriser samples.
Camera front_camera() { return Camera::look_at({0, 0, 0}, {0, 0, 1}, {0, -1, 0}, 64, 64, 60.f); }

float pixel(const Image& img, int x, int y, int ch) { return img.rgb[(static_cast<size_t>(y) * img.width + x) * 3 + ch]; }

TEST(Render, IsotropicGaussianFootprintIsTheProjectedGaussianPlusTheLowPassFilter) {
  const Camera cam = front_camera();
  const float depth = 4.f, sigma = 0.05f, alpha = 0.8f;
  const SplatScene s = Builder().add({0, 0, depth}, {sigma, sigma, sigma}, alpha, {1, 1, 1}).s;
  const Image img = render(s, cam);
  const float var = std::pow(cam.fx * sigma / depth, 2.f) + 0.3f;  // projected σ² + 0.3 px²
  for (int dx = -6; dx <= 6; ++dx)
    for (int dy : {0, 2, -3}) {
      const float expect = alpha * std::exp(-0.5f * (dx * dx + dy * dy) / var);
      const float got = pixel(img, 32 + dx, 32 + dy, 1);
      if (expect < 1.f / 255.f) EXPECT_EQ(got, 0.f) << dx << "," << dy;
      else EXPECT_NEAR(got, expect, 2e-5f) << dx << "," << dy;
    }
  EXPECT_NEAR(pixel(img, 32, 32, 0), alpha, 1e-6f);  // the peak
  EXPECT_EQ(pixel(img, 2, 2, 0), 0.f);               // far away: background
}

TEST(Render, AnisotropicGaussianIsStretchedAlongItsLongAxis) {
  const Camera cam = front_camera();
  const float depth = 3.f;
  // σx = 0.1 along world x; the camera's image x axis is world -x (up = -y, looking at +z), so
  // the stretch is horizontal either way.
  const SplatScene s = Builder().add({0, 0, depth}, {0.1f, 0.02f, 0.02f}, 0.9f, {1, 1, 1}).s;
  const Image img = render(s, cam);
  const float vx = std::pow(cam.fx * 0.1f / depth, 2.f) + 0.3f, vy = std::pow(cam.fy * 0.02f / depth, 2.f) + 0.3f;
  for (int d = 1; d <= 4; ++d) {
    EXPECT_NEAR(pixel(img, 32 + d, 32, 0), 0.9f * std::exp(-0.5f * d * d / vx), 2e-5f);
    EXPECT_NEAR(pixel(img, 32 - d, 32, 0), 0.9f * std::exp(-0.5f * d * d / vx), 2e-5f);
    const float ey = 0.9f * std::exp(-0.5f * d * d / vy);
    EXPECT_NEAR(pixel(img, 32, 32 + d, 0), ey < 1.f / 255.f ? 0.f : ey, 2e-5f);
  }
}

TEST(Render, OverlappingGaussiansBlendFrontToBackWhateverTheirFileOrder) {
  const Camera cam = front_camera();
  const float a1 = 0.6f, a2 = 0.7f;
  const std::array<float, 3> red{1, 0, 0}, blue{0, 0, 1}, sig{0.2f, 0.2f, 0.2f};
  const SplatScene red_front = Builder().add({0, 0, 3}, sig, a1, red).add({0, 0, 5}, sig, a2, blue).s;
  const SplatScene red_front_swapped = Builder().add({0, 0, 5}, sig, a2, blue).add({0, 0, 3}, sig, a1, red).s;
  const SplatScene blue_front = Builder().add({0, 0, 5}, sig, a1, red).add({0, 0, 3}, sig, a2, blue).s;
  RenderOptions opt;
  opt.background = {0, 1, 0};
  const Image i1 = render(red_front, cam, opt), i2 = render(red_front_swapped, cam, opt),
              i3 = render(blue_front, cam, opt);
  EXPECT_EQ(i1.rgb, i2.rgb);
  // Centre pixel: C = α1 c1 + (1 - α1) α2 c2 + (1 - α1)(1 - α2) background.
  EXPECT_NEAR(pixel(i1, 32, 32, 0), a1, 1e-6f);
  EXPECT_NEAR(pixel(i1, 32, 32, 2), (1 - a1) * a2, 1e-6f);
  EXPECT_NEAR(pixel(i1, 32, 32, 1), (1 - a1) * (1 - a2), 1e-6f);
  EXPECT_NEAR(pixel(i3, 32, 32, 2), a2, 1e-6f);
  EXPECT_NEAR(pixel(i3, 32, 32, 0), (1 - a2) * a1, 1e-6f);
}

TEST(Render, OpacityIsClampedAt099) {
  const SplatScene s = Builder().add({0, 0, 3}, {0.2f, 0.2f, 0.2f}, 0.99999f, {1, 1, 1}).s;
  RenderOptions opt;
  opt.background = {1, 1, 1};
  const Image img = render(s, front_camera(), opt);
  EXPECT_NEAR(pixel(img, 32, 32, 0), 1.f, 1e-6f);  // 0.99 · 1 + 0.01 · 1
  opt.background = {0, 0, 0};
  EXPECT_NEAR(pixel(render(s, front_camera(), opt), 32, 32, 0), 0.99f, 1e-6f);
}

TEST(Render, ShDegreeZeroAndOneColoursInAKnownDirection) {
  Builder b(1);
  b.add({0, 0, 3}, {0.2f, 0.2f, 0.2f}, 0.5f, {0.5f, 0.5f, 0.5f});
  // Channel-major f_rest: channel c's coefficients k = 0, 1, 2 multiply -C1 y, C1 z, -C1 x.
  b.s.sh_dc = {0.4f, -0.3f, 0.f};
  b.s.sh_rest = {0.f, 0.2f, 0.f, /*G*/ 0.5f, 0.f, 0.f, /*B*/ 0.f, 0.f, 0.5f};
  const Camera cam = front_camera();  // direction camera -> Gaussian = +z: x = y = 0, z = 1
  RenderOptions opt;
  opt.sh_degree = 0;
  const Image d0 = render(b.s, cam, opt);
  EXPECT_NEAR(pixel(d0, 32, 32, 0), 0.5f * (kC0 * 0.4f + 0.5f), 1e-6f);
  EXPECT_NEAR(pixel(d0, 32, 32, 1), 0.5f * (kC0 * -0.3f + 0.5f), 1e-6f);
  const Image d1 = render(b.s, cam);
  EXPECT_NEAR(pixel(d1, 32, 32, 0), 0.5f * (kC0 * 0.4f + kC1 * 0.2f + 0.5f), 1e-6f);
  EXPECT_NEAR(pixel(d1, 32, 32, 1), 0.5f * (kC0 * -0.3f + 0.5f), 1e-6f);  // y = 0
  EXPECT_NEAR(pixel(d1, 32, 32, 2), 0.5f * 0.5f, 1e-6f);                  // x = 0
  // Seen from +x (direction -x): B gains -C1·x·0.5 = +C1·0.5.
  const Camera side = Camera::look_at({3, 0, 3}, {0, 0, 3}, {0, -1, 0}, 64, 64, 60.f);
  EXPECT_NEAR(pixel(render(b.s, side), 32, 32, 2), 0.5f * (0.5f + kC1 * 0.5f), 1e-6f);
  // Negative colours are clamped at zero before blending.
  b.s.sh_dc[1] = -5.f;
  EXPECT_EQ(pixel(render(b.s, cam), 32, 32, 1), 0.f);
}

TEST(Render, BehindTheCameraIsCulledAndThreadsDoNotChangeTheImage) {
  const SplatScene behind = Builder().add({0, 0, -3}, {0.2f, 0.2f, 0.2f}, 0.9f, {1, 1, 1}).s;
  const Image img = render(behind, front_camera());
  for (float v : img.rgb) EXPECT_EQ(v, 0.f);
  const SplatScene scene = synthetic_scene({3000, 3, 5, 0.05f});
  const auto cams = orbit_cameras(scene, 2, 80, 60);
  RenderOptions one, two;
  one.threads = 1;
  two.threads = 2;
  for (const Camera& c : cams) {
    const Image a = render(scene, c, one), b = render(scene, c, two);
    EXPECT_EQ(a.rgb, b.rgb);
    double mean = 0;
    for (float v : a.rgb) mean += v;
    EXPECT_GT(mean / a.rgb.size(), 0.05);  // the orbit cameras see the scene
  }
}

TEST(ImageMetrics, PsnrAndSsimOnKnownCases) {
  Image a{32, 32, std::vector<float>(32 * 32 * 3)}, b = a;
  for (size_t i = 0; i < a.rgb.size(); ++i) a.rgb[i] = b.rgb[i] = 0.5f + 0.4f * std::sin(0.37f * i);
  EXPECT_TRUE(std::isinf(psnr(a, b)));
  EXPECT_NEAR(ssim(a, b), 1.0, 1e-6);  // float moments
  for (float& v : b.rgb) v += 0.01f;  // MSE = 1e-4 -> 40 dB; SSIM barely moves for a shift
  EXPECT_NEAR(psnr(a, b), 40.0, 1e-3);
  EXPECT_GT(ssim(a, b), 0.99);
  Image c = a;
  for (size_t i = 0; i < c.rgb.size(); ++i) c.rgb[i] = 0.5f;  // structure removed
  EXPECT_LT(ssim(a, c), 0.2);
}

}  // namespace
}  // namespace vq::splats
