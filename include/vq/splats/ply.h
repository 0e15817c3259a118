// PLY reader / writer for 3D Gaussian Splatting scenes.
//
// A 3DGS scene is one PLY "vertex" element with one row per Gaussian. The standard layout (the
// one the reference implementation, SuperSplat, SPZ and SOG tools read and write) is
//
//   x y z                      position
//   [nx ny nz]                 normals (optional; written as zeros by the reference trainer)
//   f_dc_0 f_dc_1 f_dc_2       SH degree-0 coefficients (R, G, B)
//   f_rest_0 .. f_rest_{R-1}   higher SH coefficients, R = 3 * ((deg + 1)^2 - 1) ∈ {0, 9, 24, 45},
//                              channel-major: f_rest_{c*K + k} is channel c's k-th coefficient,
//                              K = (deg + 1)^2 - 1
//   opacity                    logit of the opacity (alpha = sigmoid(opacity))
//   scale_0 scale_1 scale_2    log of the per-axis standard deviations
//   rot_0 rot_1 rot_2 rot_3    rotation quaternion (w, x, y, z), not necessarily normalised
//
// all float32. Readers accept the three PLY encodings (ascii, binary_little_endian,
// binary_big_endian), the standard attributes as float or double, any other scalar property of
// any PLY type (passed through: kept with its type and written back bit-exactly), and comments.
// They reject with vq::Error naming the file, the header line or the vertex and property:
// a missing or duplicated standard attribute, an f_rest count that is not a valid SH degree,
// list properties, elements other than "vertex", unknown types or formats, a vertex count the
// file cannot hold (checked before anything is allocated), truncated or trailing data, ASCII
// rows with too few / too many / unparsable values or integers out of their type's range, and
// non-finite (NaN, Inf) values.
//
// Round trip: write_ply(read_ply(f)) with the scene's layout gives back the same values, and
// the same bytes for files written by this writer (see tests/splats/test_ply.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::splats {

enum class PlyFormat : uint8_t { kAscii, kBinaryLittleEndian, kBinaryBigEndian };

// The PLY scalar types; names as the PLY spec writes them ("float", "uchar", ...).
enum class PlyType : uint8_t { kInt8, kUInt8, kInt16, kUInt16, kInt32, kUInt32, kFloat32, kFloat64 };
size_t ply_type_size(PlyType t);
const char* ply_type_name(PlyType t);

struct PlyProperty {
  std::string name;
  PlyType type = PlyType::kFloat32;
  bool operator==(const PlyProperty&) const = default;
};

// A property that is not one of the standard 3DGS attributes, carried through unchanged.
// double holds every PLY scalar type exactly.
struct ExtraProperty {
  PlyProperty property;
  std::vector<double> values;  // size count
};

// Number of f_rest coefficients per colour channel for an SH degree: (deg + 1)^2 - 1.
inline constexpr size_t sh_rest_per_channel(int degree) {
  return static_cast<size_t>((degree + 1) * (degree + 1) - 1);
}

struct SplatScene {
  size_t count = 0;               // number of Gaussians n
  int sh_degree = 0;              // 0..3
  std::vector<float> positions;   // n × 3 (x, y, z)
  std::vector<float> normals;     // n × 3, or empty when the file has none
  std::vector<float> sh_dc;       // n × 3 (f_dc_0..2)
  std::vector<float> sh_rest;     // n × 3K, row i = f_rest_0..f_rest_{3K-1} of Gaussian i
  std::vector<float> opacity;     // n logits
  std::vector<float> scales;      // n × 3 log standard deviations
  std::vector<float> rotations;   // n × 4 (w, x, y, z) as stored
  std::vector<ExtraProperty> extras;
  std::vector<std::string> comments;  // "comment ..." header lines, without the keyword
  // The property order and types to write. Empty: standard_layout(). read_ply() sets the
  // file's own order (with float64 standard attributes turned into float32).
  std::vector<PlyProperty> layout;

  size_t sh_rest_dim() const { return 3 * sh_rest_per_channel(sh_degree); }
  // Throws vq::Error unless every array has the size count and sh_degree imply, sh_degree is in
  // 0..3, every value is finite and layout (if set) names each attribute exactly once.
  void validate() const;
};

// x y z [nx ny nz] f_dc_0..2 f_rest_* opacity scale_0..2 rot_0..3, then the extras: the order
// standard 3DGS viewers expect.
std::vector<PlyProperty> standard_layout(const SplatScene& scene);

// Parsing from memory; name is used in error messages.
SplatScene parse_ply(Span<const uint8_t> bytes, const std::string& name = "<memory>");
SplatScene read_ply(const std::string& path);

// Serialises scene (validated first) in its layout (or standard_layout() when empty).
std::vector<uint8_t> ply_to_bytes(const SplatScene& scene, PlyFormat format = PlyFormat::kBinaryLittleEndian);
// Atomic write (temporary file + rename).
void write_ply(const std::string& path, const SplatScene& scene,
               PlyFormat format = PlyFormat::kBinaryLittleEndian);

}  // namespace vq::splats
