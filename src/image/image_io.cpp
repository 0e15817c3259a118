// stb_image decoding (libjpeg-turbo for JPEG: jpeg_reader.h) and stb_image_write PNG encoding
// behind vq::Error.
//
// Debian's libstb ships the implementations compiled (libstb.so), so only the declarations are
// included here: no STB_*_IMPLEMENTATION in our code. stb reports errors through a global
// string (stbi_failure_reason); it is read right after the failing call.
#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "image/compression_bound.h"
#include "image/jpeg_reader.h"
#include "image/png_guard.h"
#include "util/atomic_file.h"
#include "vq/core/limits.h"
#include "vq/image/image.h"

namespace vq::image {

Image::Image(size_t w, size_t h, size_t c, uint8_t fill) : width(w), height(h), channels(c) {
  VQ_CHECK(c >= 1 && c <= 4, "Image: channels must be 1..4, got ", c);
  VQ_CHECK(w >= 1 && h >= 1, "Image: empty image ", w, "×", h);
  VQ_CHECK(uint64_t(w) * h <= kMaxPixels, "Image: ", w, "×", h, " exceeds ", kMaxPixels, " pixels");
  pixels.assign(w * h * c, fill);
}

void Image::validate(const char* who) const {
  VQ_CHECK(channels >= 1 && channels <= 4, who, ": channels must be 1..4, got ", channels);
  VQ_CHECK(width >= 1 && height >= 1, who, ": empty image ", width, "×", height);
  VQ_CHECK(uint64_t(width) * height <= kMaxPixels, who, ": ", width, "×", height, " exceeds ",
           kMaxPixels, " pixels");
  VQ_CHECK(pixels.size() == width * height * channels, who, ": ", pixels.size(),
           " bytes of pixels for ", width, "×", height, "×", channels);
}

uint64_t ImageHeader::decoded_bytes() const {
  return saturating_product({width, height, std::max<uint64_t>(channels, 3), sizeof(float)});
}

ImageHeader decode_image_header(Span<const uint8_t> bytes, const std::string& name) {
  VQ_CHECK(!bytes.empty(), name, ": empty file, not an image");
  VQ_CHECK(bytes.size() <= size_t(INT_MAX), name, ": ", bytes.size(), " bytes is too large for stb_image");
  const ImageFormat format = sniff_image_format(bytes);
  // stb also reads Softimage PIC, Photoshop PSD and Radiance HDR. Nothing here needs them, and
  // its PIC reader dereferences null on a 111-byte file (image_reader fuzz target), so only the
  // formats the tools name reach it.
  VQ_CHECK(format != ImageFormat::kPic && format != ImageFormat::kPsd && format != ImageFormat::kHdr, name,
           ": ", format_name(format), " images are not read (PNG, JPEG, BMP, TGA, GIF, PNM are)");
  ImageHeader header;
  if (format == ImageFormat::kJpeg) {
    header = read_jpeg_header(bytes, name);
  } else {
    int w = 0, h = 0, c = 0;
    VQ_CHECK(stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()),
                                   &w, &h, &c),
             name, ": not a readable image (PNG, JPEG, BMP, TGA, ...): ", stbi_failure_reason());
    header = {size_t(std::max(w, 0)), size_t(std::max(h, 0)), size_t(std::max(c, 0))};
  }
  VQ_CHECK(header.width >= 1 && header.height >= 1 && uint64_t(header.width) * header.height <= kMaxPixels, name,
           ": image header says ", header.width, "×", header.height, " pixels (limit ", kMaxPixels, ")");
  check_compression_bound(bytes, header.width, header.height, name);
  return header;
}

ImageHeader read_image_header(const std::string& path) { return decode_image_header(read_file_bytes(path), path); }

Image decode_image(Span<const uint8_t> bytes, const std::string& name) {
  // Header first: reject absurd sizes before stb allocates for them.
  const ImageHeader header = decode_image_header(bytes, name);
  check_decoded_size(header.decoded_bytes(),
                     vq::detail::concat(name, ": a ", header.width, "×", header.height, " image"));
  if (sniff_image_format(bytes) == ImageFormat::kJpeg) return decode_jpeg(bytes, name);
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  // PNG chunk lengths and the inflated size, before stb allocates what a chunk claims.
  check_png_chunks(bytes, name);
  stbi_uc* px = stbi_load_from_memory(data, len, &w, &h, &c, 0);
  VQ_CHECK(px, name, ": corrupt or truncated image: ", stbi_failure_reason());
  Image img;
  img.width = size_t(w);
  img.height = size_t(h);
  img.channels = size_t(c);
  img.pixels.assign(px, px + img.width * img.height * img.channels);
  stbi_image_free(px);
  img.validate(name.c_str());
  return img;
}

Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image(bytes, path);
}

namespace {
void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}
}  // namespace

std::vector<uint8_t> encode_png(const Image& image) {
  image.validate("encode_png");
  VQ_CHECK(image.width <= size_t(INT_MAX / 4) && image.height <= size_t(INT_MAX), "encode_png: ",
           image.width, "×", image.height, " is too large for PNG output");
  std::vector<uint8_t> out;
  const int w = int(image.width), h = int(image.height), c = int(image.channels);
  VQ_CHECK(stbi_write_png_to_func(append_bytes, &out, w, h, c, image.pixels.data(), w * c),
           "encode_png: stb_image_write failed for a ", w, "×", h, "×", c, " image");
  return out;
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

Image to_rgb(const Image& image) {
  image.validate("to_rgb");
  Image out(image.width, image.height, 3);
  const size_t c = image.channels, n = image.pixel_count();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = &image.pixels[i * c];
    uint8_t* d = &out.pixels[i * 3];
    if (c <= 2) {
      d[0] = d[1] = d[2] = s[0];
    } else {
      d[0] = s[0], d[1] = s[1], d[2] = s[2];
    }
  }
  return out;
}

Image alpha_plane(const Image& image) {
  image.validate("alpha_plane");
  VQ_CHECK(image.has_alpha(), "alpha_plane: the image has ", image.channels, " channels, no alpha");
  Image out(image.width, image.height, 1);
  const size_t c = image.channels, n = image.pixel_count();
  for (size_t i = 0; i < n; ++i) out.pixels[i] = image.pixels[i * c + c - 1];
  return out;
}

}  // namespace vq::image
