// Rendered and per-attribute comparison of two splat scenes (see evaluate.h).
#include "vq/splats/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vq::splats {
namespace {

constexpr float kSH0 = 0.28209479177387814f;

// Nearest reference Gaussian for every decoded one (-1 when none within the 27 cells).
std::vector<int64_t> match(const SplatScene& ref, const SplatScene& dec) {
  float lo[3], hi[3];
  for (int a = 0; a < 3; ++a) {
    lo[a] = INFINITY;
    hi[a] = -INFINITY;
    for (size_t i = 0; i < ref.count; ++i) {
      lo[a] = std::min(lo[a], ref.positions[i * 3 + a]);
      hi[a] = std::max(hi[a], ref.positions[i * 3 + a]);
    }
  }
  const float cell = std::max({hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2], 1e-6f}) / 1024.f;
  auto coord = [&](float v, int a) { return static_cast<int64_t>(std::floor((v - lo[a]) / cell)); };
  auto key = [](int64_t x, int64_t y, int64_t z) {
    return (static_cast<uint64_t>(x + 2) << 42) | (static_cast<uint64_t>(y + 2) << 21) | static_cast<uint64_t>(z + 2);
  };
  std::vector<std::pair<uint64_t, uint32_t>> cells(ref.count);
  for (size_t i = 0; i < ref.count; ++i) {
    const float* p = &ref.positions[i * 3];
    cells[i] = {key(coord(p[0], 0), coord(p[1], 1), coord(p[2], 2)), static_cast<uint32_t>(i)};
  }
  std::sort(cells.begin(), cells.end());
  std::vector<int64_t> out(dec.count, -1);
#pragma omp parallel for schedule(dynamic, 4096)
  for (size_t i = 0; i < dec.count; ++i) {
    const float* p = &dec.positions[i * 3];
    const int64_t c[3] = {coord(p[0], 0), coord(p[1], 1), coord(p[2], 2)};
    float best = std::numeric_limits<float>::max();
    for (int dx = -1; dx <= 1; ++dx)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dz = -1; dz <= 1; ++dz) {
          const int64_t x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
          if (x < -1 || y < -1 || z < -1 || x > 1025 || y > 1025 || z > 1025) continue;
          const uint64_t k = key(x, y, z);
          auto it = std::lower_bound(cells.begin(), cells.end(), std::make_pair(k, uint32_t{0}));
          for (; it != cells.end() && it->first == k; ++it) {
            const float* q = &ref.positions[it->second * 3];
            const float d = (p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]);
            if (d < best) {
              best = d;
              out[i] = it->second;
            }
          }
        }
  }
  return out;
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

}  // namespace

SplatEvaluation evaluate_splats(const SplatScene& ref, const SplatScene& dec, const SplatEvalOptions& o) {
  VQ_CHECK(ref.count > 0 && dec.count > 0, "evaluate_splats: empty scene");
  SplatEvaluation e;
  RenderOptions ro;
  ro.threads = o.threads;
  const auto cams = orbit_cameras(ref, o.views, o.width, o.height, o.fov_y_degrees);
  double psum = 0, ssum = 0;
  e.min_psnr = INFINITY;
  for (const Camera& c : cams) {
    const Image a = render(ref, c, ro), b = render(dec, c, ro);
    e.psnr.push_back(psnr(a, b));
    e.ssim.push_back(ssim(a, b));
    psum += e.psnr.back();
    ssum += e.ssim.back();
    e.min_psnr = std::min(e.min_psnr, e.psnr.back());
  }
  e.mean_psnr = psum / cams.size();
  e.mean_ssim = ssum / cams.size();

  const std::vector<int64_t> m = match(ref, dec);
  double se_pos = 0, se_scale = 0, angle = 0, se_alpha = 0, se_col = 0, se_sh[4] = {0, 0, 0, 0};
  const size_t kr = sh_rest_per_channel(ref.sh_degree), kd = sh_rest_per_channel(dec.sh_degree);
  for (size_t i = 0; i < dec.count; ++i) {
    if (m[i] < 0) {
      ++e.unmatched;
      continue;
    }
    ++e.matched;
    const size_t j = static_cast<size_t>(m[i]);
    for (int a = 0; a < 3; ++a) {
      se_pos += std::pow(double(dec.positions[i * 3 + a]) - ref.positions[j * 3 + a], 2);
      se_scale += std::pow(double(dec.scales[i * 3 + a]) - ref.scales[j * 3 + a], 2);
      se_col += std::pow(kSH0 * (double(dec.sh_dc[i * 3 + a]) - ref.sh_dc[j * 3 + a]), 2);
    }
    const float* q1 = &dec.rotations[i * 4];
    const float* q2 = &ref.rotations[j * 4];
    double dot = 0, n1 = 0, n2 = 0;
    for (int a = 0; a < 4; ++a) {
      dot += double(q1[a]) * q2[a];
      n1 += double(q1[a]) * q1[a];
      n2 += double(q2[a]) * q2[a];
    }
    angle += 2 * std::acos(std::min(1.0, std::fabs(dot) / std::sqrt(std::max(n1 * n2, 1e-30)))) * 180 / 3.14159265358979;
    se_alpha += std::pow(double(sigmoid(dec.opacity[i])) - sigmoid(ref.opacity[j]), 2);
    for (int l = 1; l <= ref.sh_degree; ++l)
      for (size_t ch = 0; ch < 3; ++ch)
        for (size_t k = l * l - 1; k < static_cast<size_t>((l + 1) * (l + 1) - 1); ++k) {
          const double r = ref.sh_rest[j * 3 * kr + ch * kr + k];
          const double d = l <= dec.sh_degree ? dec.sh_rest[i * 3 * kd + ch * kd + k] : 0.0;  // dropped degree: 0
          se_sh[l] += (r - d) * (r - d);
        }
  }
  const double n = std::max<size_t>(e.matched, 1);
  e.attributes = {{"position", std::sqrt(se_pos / (3 * n)), "RMSE per axis, scene units"},
                  {"log-scale", std::sqrt(se_scale / (3 * n)), "RMSE"},
                  {"rotation", angle / n, "mean angle, degrees"},
                  {"opacity", std::sqrt(se_alpha / n), "RMSE of alpha"},
                  {"colour", std::sqrt(se_col / (3 * n)), "RMSE of SH0 colour (0..1 scale)"}};
  for (int l = 1; l <= ref.sh_degree; ++l)
    e.attributes.push_back({"sh" + std::to_string(l), std::sqrt(se_sh[l] / (3.0 * (2 * l + 1) * n)), "RMSE of coefficients"});
  return e;
}

}  // namespace vq::splats
