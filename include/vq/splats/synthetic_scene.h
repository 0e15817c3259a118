// Synthetic 3DGS scenes for tests, the demo and benchmarks.
//
// No trained scenes can be downloaded here (model hubs are unreachable and the npm packages of
// SPZ / SOG ship none), so this builds scenes whose attributes have the statistics of trained
// ones: Gaussians lie on textured procedural surfaces (a ground plane, spheres, a torus) as
// flat discs — two tangent scales near the local spacing with log-normal spread, a much smaller
// normal scale, rotation = the surface frame turned by a random angle about the normal, stored
// unnormalised with a random sign as trainers leave them; opacity bimodal (most near 1, a
// quarter near 0); colour = the surface texture; SH rest small and decaying with degree (a
// per-object view-dependent lobe times a per-Gaussian strength, plus noise); and a few percent
// of large, faint "sky" Gaussians on a far shell. Normals are present and zero, as the
// reference trainer writes them. Deterministic for a seed.
#pragma once

#include <cstdint>

#include "vq/splats/ply.h"

namespace vq::splats {

struct SyntheticSceneOptions {
  size_t count = 100000;
  int sh_degree = 3;
  uint64_t seed = 1;
  float sky_fraction = 0.03f;  // share of large far-away background Gaussians
};

SplatScene synthetic_scene(const SyntheticSceneOptions& options);

}  // namespace vq::splats
