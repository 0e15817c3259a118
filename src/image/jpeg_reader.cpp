#include "image/jpeg_reader.h"

// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
#include <csetjmp>
#include <cstring>

#include <jpeglib.h>

#include "vq/error.h"

namespace vq::image {
namespace {

// libjpeg reports errors by calling error_exit, which must not return: it jumps back to the
// setjmp in Decoder::run. C++ objects must not live between setjmp and longjmp, so the code
// between them only touches the plain libjpeg structs and a raw output pointer.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr info) {
  auto* err = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr) {}  // warnings (corrupt data it can decode past) stay silent

struct Decoder {
  jpeg_decompress_struct info{};
  ErrorManager err{};

  Decoder() {
    info.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.output_message = on_message;
  }
  ~Decoder() { jpeg_destroy_decompress(&info); }

  // Reads the header and, when `pixels` is set, decodes into it (width · height · channels
  // bytes, sized by `size_for` from the header). Returns false with err.message on failure.
  template <class SizeFor>
  bool run(Span<const uint8_t> bytes, SizeFor size_for, uint8_t** pixels) {
    if (setjmp(err.jump)) return false;
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&info, TRUE);
    const bool cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    if (!pixels) return true;
    jpeg_start_decompress(&info);
    uint8_t* out = size_for(info.output_width, info.output_height, info.out_color_space == JCS_GRAYSCALE ? 1 : 3);
    *pixels = out;
    const size_t in_row = size_t(info.output_width) * size_t(info.output_components);
    const size_t out_row = size_t(info.output_width) * (info.out_color_space == JCS_GRAYSCALE ? 1 : 3);
    JSAMPARRAY row = (*info.mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(&info), JPOOL_IMAGE,
                                               static_cast<JDIMENSION>(in_row), 1);
    while (info.output_scanline < info.output_height) {
      uint8_t* dst = out + size_t(info.output_scanline) * out_row;
      jpeg_read_scanlines(&info, row, 1);
      if (info.out_color_space != JCS_CMYK) {
        std::memcpy(dst, row[0], out_row);
        continue;
      }
      // Adobe writes CMYK inverted (255 = no ink): RGB = inverted ink × inverted black.
      for (size_t x = 0; x < info.output_width; ++x) {
        const uint8_t* p = row[0] + 4 * x;
        for (int c = 0; c < 3; ++c) dst[3 * x + c] = static_cast<uint8_t>((p[c] * p[3] + 127) / 255);
      }
    }
    jpeg_finish_decompress(&info);
    return true;
  }
};

}  // namespace

ImageHeader read_jpeg_header(Span<const uint8_t> bytes, const std::string& name) {
  Decoder d;
  VQ_CHECK(d.run(bytes, [](size_t, size_t, size_t) -> uint8_t* { return nullptr; }, nullptr), name,
           ": not a readable JPEG: ", d.err.message);
  return {size_t(d.info.image_width), size_t(d.info.image_height), d.info.num_components == 1 ? 1u : 3u};
}

Image decode_jpeg(Span<const uint8_t> bytes, const std::string& name) {
  Image img;
  Decoder d;
  uint8_t* pixels = nullptr;
  // Allocated from inside run(), between setjmp and a possible longjmp: a raw buffer the
  // Image takes over afterwards, never a C++ object whose destructor a jump would skip.
  uint8_t* buffer = nullptr;
  size_t w = 0, h = 0, c = 0;
  auto size_for = [&](size_t width, size_t height, size_t channels) {
    w = width, h = height, c = channels;
    buffer = static_cast<uint8_t*>(std::malloc(width * height * channels));
    if (!buffer) std::longjmp(d.err.jump, 1);
    return buffer;
  };
  const bool ok = d.run(bytes, size_for, &pixels);
  if (!ok) {
    std::free(buffer);
    VQ_THROW(name, ": corrupt or truncated JPEG: ", d.err.message[0] ? d.err.message : "out of memory");
  }
  img.width = w;
  img.height = h;
  img.channels = c;
  img.pixels.assign(buffer, buffer + w * h * c);
  std::free(buffer);
  img.validate(name.c_str());
  return img;
}

}  // namespace vq::image
