// (internal API for domains) One zstd frame in, one out: the lossless coding that embedded models,
// splat code streams and image token planes share.
//
// Decompression never trusts the size a frame declares: output grows as it is produced and is
// refused past max_bytes, so a forged header costs nothing and a frame that really expands (zstd
// can expand a few bytes into 128 KiB blocks) stops at the caller's bound.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::detail {

// A single zstd frame of `raw` at `level` (1..ZSTD_maxCLevel()), its content size recorded.
std::vector<uint8_t> zstd_compress(Span<const uint8_t> raw, int level);
// Whether `bytes` starts with the zstd frame magic (28 B5 2F FD).
bool is_zstd_frame(Span<const uint8_t> bytes);
// The content of exactly one complete frame filling `frame`; throws vq::Error naming `what` when
// it is damaged, truncated, followed by other bytes, or holds more than max_bytes.
std::vector<uint8_t> zstd_decompress(Span<const uint8_t> frame, uint64_t max_bytes, const std::string& what);
// Whether the frame's content begins with `prefix` (only that much is decompressed; a damaged
// frame gives false).
bool zstd_content_starts_with(Span<const uint8_t> frame, Span<const uint8_t> prefix);
// The same for a frame whose content size the caller knows: anything else is an error.
std::vector<uint8_t> zstd_decompress_exact(Span<const uint8_t> frame, uint64_t size, const std::string& what);

}  // namespace vq::detail
