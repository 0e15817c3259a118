// Input limits every reader and quantizer shares: the decoded-size budget and the largest
// vector norm the float arithmetic can carry.
//
// Decoded-size budget. A small file can claim a huge decoded size (a 275 KB PNG of 16000×16000
// pixels, a FLAC of hours of silence, a PLY or .vqc header with a billion entries). Every reader
// states the size its decoded data will take in memory *before* allocating it and calls
// check_decoded_size(), which throws vq::Error when it exceeds the budget. The budget is, in
// order of precedence:
//   1. set_max_decoded_bytes(n) (the vq CLI's --max-decoded-bytes, vqcodec.set_max_decoded_bytes),
//   2. the environment variable VQ_MAX_DECODED_BYTES (bytes, or with a K/M/G/T suffix: powers of 1024),
//   3. kDefaultMaxDecodedBytes (1 GiB).
// The budget applies to one decoded item held at once (an image, a recording, a splat scene, one
// tensor of a checkpoint), counted as the float32 samples the library works on: streamed
// outputs (a checkpoint written layer by layer) are not charged as a whole.
//
// Squared norms. Distances are computed as ||x||² − 2x·c + ||c||² in float. Finite values
// around 1e19 and above have squared norms that overflow float to inf, every distance becomes
// inf or NaN and no nearest centroid exists. check_squared_norms() rejects such rows up front
// with a message that says what to do (rescale the data).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "vq/types.h"

namespace vq {

inline constexpr uint64_t kDefaultMaxDecodedBytes = uint64_t{1} << 30;

// The budget in force (see above). Throws vq::Error when VQ_MAX_DECODED_BYTES is set but is not
// a positive size.
uint64_t max_decoded_bytes();
// Overrides the environment and the default for this process; 0 restores them.
void set_max_decoded_bytes(uint64_t bytes);
// Parses "1073741824", "512M", "4G", "2T" (suffixes are powers of 1024, case-insensitive).
// Throws vq::Error naming `source` unless the result is a positive size.
uint64_t parse_byte_size(const std::string& text, const std::string& source);

// Throws vq::Error "<what>: decodes to N bytes, above the decoded-size limit of M bytes; ..."
// when bytes > max_decoded_bytes(). what names the file and the item ("photo.png: a
// 16000×16000 image").
void check_decoded_size(uint64_t bytes, const std::string& what);
// a·b·c... as a decoded size, saturating at UINT64_MAX instead of wrapping (so an absurd header
// is reported as too large, never as small).
uint64_t saturating_product(std::initializer_list<uint64_t> factors);

// Largest squared norm accepted by fit, encode, search and k-means: 2^100 (≈ 1.3e30, a norm of
// about 1.1e15). It leaves a factor 2^27 of headroom below float's maximum (≈ 2^128) for the
// expansion above, residuals, sums of additive codewords and whitening by a metric.
inline constexpr double kMaxSquaredNorm = 0x1p100;

// Throws vq::Error naming who and the first row whose squared norm (computed in double) exceeds
// kMaxSquaredNorm; rows are numbered from first_row (a rank's rows within a distributed set).
// Values must already be finite.
void check_squared_norms(MatrixView<const float> x, const std::string& who, size_t first_row = 0);

}  // namespace vq
