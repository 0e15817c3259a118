#include "image/compression_bound.h"

#include <cstring>

#include "vq/core/limits.h"
#include "vq/error.h"

namespace vq::image {
namespace {

bool starts_with(Span<const uint8_t> bytes, const char* magic, size_t offset = 0) {
  const size_t n = std::strlen(magic);
  return bytes.size() >= offset + n && std::memcmp(bytes.data() + offset, magic, n) == 0;
}

}  // namespace

ImageFormat sniff_image_format(Span<const uint8_t> bytes) {
  if (bytes.size() >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) return ImageFormat::kJpeg;
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (starts_with(bytes, "GIF8")) return ImageFormat::kGif;
  if (starts_with(bytes, "BM")) return ImageFormat::kBmp;
  if (starts_with(bytes, "8BPS")) return ImageFormat::kPsd;
  if (starts_with(bytes, "\x53\x80\xF6\x34") && starts_with(bytes, "PICT", 88)) return ImageFormat::kPic;
  if (starts_with(bytes, "P5") || starts_with(bytes, "P6")) return ImageFormat::kPnm;
  if (starts_with(bytes, "#?RADIANCE\n") || starts_with(bytes, "#?RGBE\n")) return ImageFormat::kHdr;
  return ImageFormat::kTga;
}

const char* format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kPsd: return "PSD";
    case ImageFormat::kPic: return "PIC";
    case ImageFormat::kPnm: return "PNM";
    case ImageFormat::kHdr: return "HDR";
    case ImageFormat::kTga: return "TGA";
  }
  return "image";
}

uint64_t max_pixels_per_byte(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return 64 * 8;     // ≥ 1 bit per 8×8 luma block (its DC code)
    case ImageFormat::kPng: return 8 * 1032;    // 1-bit pixels, deflate's largest ratio
    case ImageFormat::kGif: return 4096;        // ≤ 4096 pixels per 12-bit LZW code, generously
    case ImageFormat::kBmp: return 8;           // uncompressed (stb reads no RLE BMP), ≥ 1 bit
    case ImageFormat::kPsd: return 64;          // PackBits: ≤ 128 samples per 2 bytes
    case ImageFormat::kPic: return 16384;       // mixed runs: ≤ 65535 pixels per ≥ 4 bytes
    case ImageFormat::kPnm: return 1;           // binary P5/P6, ≥ 1 byte per pixel
    case ImageFormat::kHdr: return 64;          // per-component runs of ≤ 127 in 2 bytes
    case ImageFormat::kTga: return 64;          // RLE: ≤ 128 pixels per header + 1-byte value
  }
  return 8 * 1032;
}

void check_compression_bound(Span<const uint8_t> bytes, uint64_t width, uint64_t height,
                             const std::string& name) {
  const ImageFormat format = sniff_image_format(bytes);
  const uint64_t pixels = saturating_product({width, height});
  const uint64_t most = saturating_product({bytes.size(), max_pixels_per_byte(format)});
  VQ_CHECK(pixels <= most, name, ": truncated or forged ", format_name(format), ": the header says ",
           width, "×", height, " pixels, more than ", bytes.size(), " bytes can hold (at most ",
           max_pixels_per_byte(format), " pixels per byte)");
}

}  // namespace vq::image
