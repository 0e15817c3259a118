// What `vq eval ORIG.ply DEC.ply` reports: rendered quality over orbit views (render.h) and
// per-attribute errors between matched Gaussians.
//
// The codec reorders Gaussians (Morton order), so attribute errors need a correspondence: each
// decoded Gaussian is matched to the nearest reference Gaussian by position (uniform grid over
// the reference's bounding box, 1024 cells on the longest axis, the 27 surrounding cells
// searched). With position error far below a cell this recovers the pairs; Gaussians with no
// reference in reach are counted as unmatched and left out of the attribute errors.
#pragma once

#include <string>
#include <vector>

#include "vq/splats/render.h"

namespace vq::splats {

struct SplatEvalOptions {
  size_t views = 8;
  size_t width = 256, height = 256;
  float fov_y_degrees = 60.f;
  int threads = 0;
};

struct AttributeError {
  std::string name;   // "position", "log-scale", "rotation", "opacity", "colour", "sh1".."sh3"
  double value = 0;   // RMSE, except rotation: mean angle in degrees
  std::string unit;   // "scene units RMSE", ...
};

struct SplatEvaluation {
  std::vector<double> psnr, ssim;  // per view; PSNR of identical renders is +inf
  double mean_psnr = 0, min_psnr = 0, mean_ssim = 0;
  size_t matched = 0, unmatched = 0;
  std::vector<AttributeError> attributes;
};

// Cameras come from the reference scene (orbit_cameras), so both scenes are seen identically.
SplatEvaluation evaluate_splats(const SplatScene& reference, const SplatScene& decoded,
                                const SplatEvalOptions& options = {});

}  // namespace vq::splats
