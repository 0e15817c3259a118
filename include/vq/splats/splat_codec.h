// 3DGS scene codec: a SplatScene <-> one .vqc container ("vq.kind" = "splats").
//
// Every attribute is coded in the space where squared error tracks its effect on the image,
// with a quantizer from the core (make_quantizer grammar) trained on this scene at encode time
// (as OMG and c3dgs do) and stored in the file:
//
//   positions   fixed point on the scene's bounding box, position_bits per axis (error
//               <= half a step), Gaussians sorted by the Morton code of the quantized position;
//               the sorted codes are delta-coded (low bits raw, high bits as varints + zstd).
//               The decoded scene is in this Morton order, not the input's.
//   scales      log standard deviations (3-D), as stored in the PLY
//   rotations   quaternions normalised, sign fixed so w >= 0 (q and -q are one rotation) (4-D)
//   opacity     alpha = sigmoid(logit) (1-D): the renderer blends alpha, not the logit
//   colour      SH degree 0 coefficients f_dc (3-D)
//   sh1/2/3     the SH rest coefficients of degree l = 1, 2, 3, each one vector of 3(2l+1)
//               values (all channels together, so cross-channel correlation is shared)
//
// Codebooks are fitted under importance weights (see importance_weights()) passed to the core's
// k-means as sample weights. Code streams go through zstd per codebook (byte planes for books
// wider than 8 bits); each quantizer is embedded zstd-compressed (embedded_model.h) and passes
// its self-test when the scene is read. Normals (zeros in trained
// scenes) are written back as zeros when the input had them; extra properties are not stored.
//
// Container chunks (all little-endian, see container.h for the framing):
//   META  vq.kind=splats, splats.count, splats.sh_degree (decoded degree),
//         splats.source_sh_degree, splats.normals ("0"/"1"), splats.position_bits,
//         splats.spec.<attribute> for each coded attribute
//   SPOS  u8 bits; f32 min[3]; f32 step[3]; u8 k; blob low bits (k per Gaussian, LSB first);
//         blob high parts (LEB128 varints of delta >> k)
//   SQNT  one per attribute: its quantizer, embedded (embedded_model.h) as a zstd frame at the
//         options' zstd level; the k-th SQNT chunk belongs to the k-th SATT chunk
//   SATT  one per attribute: str name; u32 M; M × u8 bits; M × blob code stream (1 byte per
//         code, or low bytes then high bytes)
//   blob  := u64 raw size; u64 stored size; stored bytes (zstd frame)
// Scenes written before embedded models have no SQNT chunks: each SATT holds, after its name, a
// blob of the quantizer's container (io.h quantizer_to_bytes); decode_splats reads both.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/progress.h"
#include "vq/splats/ply.h"

namespace vq::splats {

// The attributes coded with a quantizer, in file order.
inline constexpr std::array<const char*, 7> kSplatAttributes = {"scale", "rotation", "opacity", "colour",
                                                                "sh1", "sh2", "sh3"};

struct SplatCodecOptions {
  int position_bits = 16;  // per axis, 1..21
  // Quantizer per attribute, in kSplatAttributes order (make_quantizer grammar). A spec asking
  // for more codebook entries than the scene has Gaussians is reduced to fit (small scenes).
  std::array<std::string, 7> specs = {"RVQ2x8", "RVQ2x8", "VQ6", "RVQ2x8", "RVQ2x8", "RVQ2x8", "RVQ2x8"};
  int sh_degree = -1;         // -1: keep the scene's; else reduce to min(this, scene's)
  int iterations = 10;        // k-means iterations per codebook
  size_t max_points_per_centroid = 64;  // k-means subsampling (core TrainOptions)
  int zstd_level = 9;
  uint64_t seed = 1;
  int threads = 0;            // 0: OpenMP default
  ProgressCallback progress;  // one event per attribute ("splats scale", ...)

  // "low", "medium", "high" (documented in the .cpp next to their values). Throws otherwise.
  static SplatCodecOptions preset(std::string_view quality);
};

// Per-Gaussian importance for codebook fitting: sigmoid(opacity) × sqrt of the area of the two
// largest axes relative to the median (clamped to 1/64..64), floored at 1e-3 so transparent
// Gaussians still count a little. Size count.
std::vector<float> importance_weights(const SplatScene& scene);

struct SplatEncodeStats {
  size_t count = 0;
  std::vector<std::pair<std::string, size_t>> bytes;    // bytes per part ("positions", "scale", ...)
  std::vector<std::pair<std::string, double>> seconds;  // wall seconds per part, same order
  // Order-0 entropy of each attribute's codes (Σ over its books, bits per Gaussian): what an
  // ideal memoryless entropy coder would spend, against the zstd streams' actual size.
  std::vector<std::pair<std::string, double>> code_entropy_bits;
  double total_seconds = 0;
};

// Validates the scene (SplatScene::validate) and the options, then adds the chunks and META
// keys above to out. Deterministic for a seed and thread count.
SplatEncodeStats encode_splats(const SplatScene& scene, const SplatCodecOptions& options, ContainerWriter& out);
// Inverse of encode_splats: every length, count and code is checked; throws vq::Error naming
// the chunk and attribute on malformed input.
SplatScene decode_splats(const ContainerReader& in);

// File conveniences: PLY in, .vqc out (atomic) and back.
SplatEncodeStats encode_splats_file(const std::string& ply_path, const std::string& vqc_path,
                                    const SplatCodecOptions& options);
SplatScene decode_splats_file(const std::string& vqc_path);

}  // namespace vq::splats
