// Images in memory and on disk: 8-bit pixels, 1 to 4 interleaved channels.
//
//   Image::pixels   height × width × channels bytes, row-major, channels interleaved:
//                   pixel (y, x) channel c is pixels[(y * width + x) * channels + c].
//   channels        1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (stb_image's convention).
//
// Reading goes through stb_image (Debian's libstb): PNG, JPEG, BMP, TGA, and whatever else stb
// decodes (GIF first frame, PSD, PNM). 16-bit PNGs are reduced to 8 bits by stb. Writing is PNG
// only (stb_image_write), through the atomic-file helper so no half file is left under the name.
// Bad input (missing file, truncated or corrupt data, zero or absurd dimensions) throws vq::Error
// naming the file and stb's reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::image {

// Largest width × height accepted by the readers: 2^28 pixels (16384² ≈ 268 MP) — bigger is a
// corrupt header far more often than a real photograph, and would allocate gigabytes.
inline constexpr uint64_t kMaxPixels = uint64_t{1} << 28;

struct Image {
  size_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height * width * channels bytes (layout above)

  Image() = default;
  Image(size_t w, size_t h, size_t c, uint8_t fill = 0);
  size_t pixel_count() const { return width * height; }
  uint8_t& at(size_t y, size_t x, size_t c) { return pixels[(y * width + x) * channels + c]; }
  uint8_t at(size_t y, size_t x, size_t c) const { return pixels[(y * width + x) * channels + c]; }
  bool has_alpha() const { return channels == 2 || channels == 4; }
  // Throws unless 1 <= channels <= 4, width and height >= 1, and pixels has the right size.
  void validate(const char* who) const;
};

// What an image file's header says, read without decoding the pixels.
struct ImageHeader {
  size_t width = 0, height = 0, channels = 0;
  // The size the decoded image is charged against the decoded-size budget (vq/core/limits.h):
  // width × height × max(channels, 3) float32 samples, the colour planes the tokenizer and the
  // quality measures work on (grey is expanded to three).
  uint64_t decoded_bytes() const;
};
ImageHeader decode_image_header(Span<const uint8_t> bytes, const std::string& name = "<memory>");
ImageHeader read_image_header(const std::string& path);

// Decodes an image file's bytes; name is used in errors. The header is read first: an image
// whose decoded size exceeds the budget (vq/core/limits.h) is rejected before any pixel is
// decoded, in microseconds rather than the seconds a 16000×16000 PNG takes.
Image decode_image(Span<const uint8_t> bytes, const std::string& name = "<memory>");
Image read_image(const std::string& path);

// PNG bytes of the image (lossless, every channel count).
std::vector<uint8_t> encode_png(const Image& image);
// Atomic PNG write.
void write_png(const std::string& path, const Image& image);

// The colour part as RGB (grey is replicated, alpha dropped): width × height × 3.
Image to_rgb(const Image& image);
// The alpha plane (width × height × 1); throws unless has_alpha().
Image alpha_plane(const Image& image);

}  // namespace vq::image
