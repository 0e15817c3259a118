// (private) JPEG decoding through libjpeg-turbo instead of stb_image.
//
// stb_image's progressive JPEG decoder (Debian 12's libstb, 2022) reads out of bounds on
// crafted scans: a 400-byte progressive JPEG found by the image_reader fuzz target crashed it
// inside stbi_load_from_memory. libjpeg-turbo is the decoder the JPEG ecosystem relies on and is
// fuzzed continuously upstream; its errors arrive through longjmp from the error manager and
// become vq::Error here. Corrupt-data warnings (a truncated scan, say) do not stop it: like
// stb, it decodes what the file holds, so the compression bound in compression_bound.h is what
// refuses files far too small for their header.
#pragma once

#include <string>

#include "vq/image/image.h"
#include "vq/types.h"

namespace vq::image {

// Width, height and channels (1 for grey, 3 otherwise: colour and CMYK decode to RGB) from the
// headers, without decoding. Throws vq::Error naming `name` when libjpeg refuses them.
ImageHeader read_jpeg_header(Span<const uint8_t> bytes, const std::string& name);

// The decoded image (grey or RGB, 8 bits). Throws vq::Error naming `name`.
Image decode_jpeg(Span<const uint8_t> bytes, const std::string& name);

}  // namespace vq::image
