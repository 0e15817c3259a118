// A small CPU renderer for 3D Gaussian Splatting scenes, and the image metrics vq eval reports.
//
// It follows the reference rasteriser (Kerbl et al. 2023, diff-gaussian-rasterization) step by
// step, for one pixel at a time rather than tiles, so it is simple to check and slow:
//
//   1. Σ = R S Sᵀ Rᵀ from the normalised quaternion (w, x, y, z) and S = diag(exp(scale)).
//   2. View space t = W p + T (OpenCV convention: x right, y down, z forward); Gaussians with
//      t.z < 0.2 are culled. Σ' = J W Σ Wᵀ Jᵀ with the EWA Jacobian J of the perspective
//      projection at t (t.x/t.z, t.y/t.z clamped to 1.3× the field of view as the reference does),
//      plus 0.3 px² on the diagonal (the reference's low-pass filter).
//   3. Colour: SH of degree ≤ 3 evaluated in the direction from the camera centre to the
//      Gaussian with the standard constants, + 0.5, clamped at 0.
//   4. Sort by view depth; per pixel, front to back: α = min(0.99, σ(opacity) exp(-½ dᵀΣ'⁻¹d)),
//      skipped when α < 1/255; C += T α c; T *= 1 - α; stop when T < 1e-4. Footprints reach
//      3 standard deviations of Σ' (the reference's radius). Background colour added with T.
//
// Images are float RGB in [0, 1] after clamping (what PSNR / SSIM are computed on).
#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "vq/splats/ply.h"

namespace vq::splats {

struct Camera {
  std::array<float, 9> rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};  // world -> view, row-major
  std::array<float, 3> translation{0, 0, 0};                 // view = rotation · world + translation
  float fx = 1, fy = 1, cx = 0, cy = 0;                      // pixels
  size_t width = 0, height = 0;

  // A camera at eye looking at target, with up projected to the image's -y axis; fov_y in
  // degrees, principal point at the image centre. Throws if eye == target or up ∥ view axis.
  static Camera look_at(std::array<float, 3> eye, std::array<float, 3> target, std::array<float, 3> up,
                        size_t width, size_t height, float fov_y_degrees);
  std::array<float, 3> centre() const;  // camera position in world space
};

struct Image {
  size_t width = 0, height = 0;
  std::vector<float> rgb;  // height × width × 3, row-major
};

struct RenderOptions {
  int sh_degree = 3;                         // evaluate SH up to min(this, scene's degree)
  std::array<float, 3> background{0, 0, 0};
  int threads = 0;                           // 0: OpenMP default
};

Image render(const SplatScene& scene, const Camera& camera, const RenderOptions& options = {});

// views cameras on a sphere around the scene (Fibonacci spiral, so any count is spread evenly),
// looking at its centre. Centre and radius are robust to floaters: the centre is the per-axis
// median of the positions, the sphere's radius 1.5× the 90th percentile of distances to it.
std::vector<Camera> orbit_cameras(const SplatScene& scene, size_t views, size_t width, size_t height,
                                  float fov_y_degrees = 60.f);

// Peak signal-to-noise ratio for peak 1 (infinity for identical images); images of equal size.
double psnr(const Image& a, const Image& b);
// Structural similarity (Wang et al. 2004): 11×11 Gaussian window, σ = 1.5, K1 = 0.01,
// K2 = 0.03, mean over pixels (valid windows) and channels.
double ssim(const Image& a, const Image& b);

}  // namespace vq::splats
