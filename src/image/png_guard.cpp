#include "image/png_guard.h"

#include <zlib.h>

#include <array>
#include <cstring>
#include <vector>

#include "vq/error.h"

namespace vq::image {
namespace {

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

// Filtered bytes of a w × h pass: one filter byte per row plus the packed pixels.
uint64_t pass_bytes(uint64_t w, uint64_t h, uint64_t bits_per_pixel) {
  return w == 0 || h == 0 ? 0 : h * (1 + (w * bits_per_pixel + 7) / 8);
}

uint64_t filtered_size(uint64_t w, uint64_t h, uint64_t bpp, bool interlaced) {
  if (!interlaced) return pass_bytes(w, h, bpp);
  // Adam7: (x0, y0, dx, dy) of the seven passes.
  constexpr std::array<std::array<uint64_t, 4>, 7> kPasses = {{
      {0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}};
  uint64_t total = 0;
  for (const auto& [x0, y0, dx, dy] : kPasses)
    total += pass_bytes(w > x0 ? (w - x0 + dx - 1) / dx : 0, h > y0 ? (h - y0 + dy - 1) / dy : 0, bpp);
  return total;
}

// Owns the zlib stream so that every exit, a throw included, frees it.
struct Inflater {
  z_stream z{};
  bool started = false;
  ~Inflater() {
    if (started) inflateEnd(&z);
  }
};

}  // namespace

void check_png_chunks(Span<const uint8_t> bytes, const std::string& name) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (bytes.size() < 8 + 25 || std::memcmp(bytes.data(), kSignature, 8) != 0) return;
  uint64_t limit = 0, width = 0, height = 0;
  bool raw_deflate = false;  // Apple's "CgBI" PNGs store raw deflate without the zlib header
  Inflater inflater;
  z_stream& z = inflater.z;
  std::vector<uint8_t> scratch(1 << 16);
  uint64_t produced = 0;
  bool inflated = false;
  size_t pos = 8;
  while (pos < bytes.size()) {
    // stb reads a cut chunk header with zeros for the missing bytes, so "41 00 00" at the end
    // of a file is a chunk of 0x41000000 bytes to it, allocated before anything is read.
    VQ_CHECK(bytes.size() - pos >= 12, name, ": PNG truncated inside the chunk header at byte ", pos);
    const uint32_t length = be32(bytes.data() + pos);
    VQ_CHECK(length <= bytes.size() - pos - 12, name, ": PNG chunk at byte ", pos, " claims ", length,
             " bytes of data, the file has ", bytes.size() - pos - 12, " left");
    const uint8_t* type = bytes.data() + pos + 4;
    const uint8_t* data = type + 4;
    if (std::memcmp(type, "CgBI", 4) == 0) raw_deflate = true;
    if (std::memcmp(type, "IHDR", 4) == 0 && length >= 13) {
      static constexpr uint8_t kChannels[7] = {1, 0, 3, 1, 2, 0, 4};  // by colour type
      const uint8_t depth = data[8], colour = data[9];
      if (colour > 6 || kChannels[colour] == 0) return;
      width = be32(data);
      height = be32(data + 4);
      limit = filtered_size(width, height, uint64_t(kChannels[colour]) * depth, data[12] != 0);
    }
    if (std::memcmp(type, "IDAT", 4) == 0 && limit > 0 && !inflated) {
      if (!inflater.started) {
        if (inflateInit2(&z, raw_deflate ? -15 : 15) != Z_OK) return;
        inflater.started = true;
      }
      z.next_in = const_cast<Bytef*>(data);
      z.avail_in = length;
      int rc = Z_OK;
      // Until this chunk's input is used up and zlib has nothing left to write.
      do {
        z.next_out = scratch.data();
        z.avail_out = static_cast<uInt>(scratch.size());
        rc = inflate(&z, Z_NO_FLUSH);
        produced += scratch.size() - z.avail_out;
        if (produced > limit) {
          VQ_THROW(name, ": PNG image data inflates to more than the ", limit, " bytes its ", width, "×", height,
                   " header needs (a decompression bomb)");
        }
      } while (rc == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
      // Stream end, or damage stb reports: nothing more to count, but the later chunks' lengths
      // are still checked (stb reads them all, allocating as it goes).
      inflated = rc != Z_OK && rc != Z_BUF_ERROR;
    }
    if (std::memcmp(type, "IEND", 4) == 0) break;
    pos += 12 + size_t(length);
  }
}

}  // namespace vq::image
