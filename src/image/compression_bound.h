// (private) The most pixels an image file of a given size can hold, per format.
//
// Every format stb_image reads needs some minimum number of bits per pixel however uniform the
// picture: a baseline or progressive JPEG spends at least one Huffman bit on the DC term of each
// 8×8 luma block, a TGA or PSD run covers at most 128 pixels of one channel, a PNG inflates at
// most 1032:1 into 1-bit pixels. stb pads a truncated file with zeros instead of failing, so a
// 23-byte JPEG whose header says 61182×510 decodes to 31 million grey pixels, seconds and
// hundreds of megabytes of work for nothing. Comparing the header's pixel count with this bound
// rejects such files as truncated before any pixel is decoded, and never rejects a valid file.
#pragma once

#include <cstdint>
#include <string>

#include "vq/types.h"

namespace vq::image {

// The image format stb will pick for these bytes, by the magic numbers it tests in the order it
// tests them; TGA has none and is what remains.
enum class ImageFormat { kJpeg, kPng, kGif, kBmp, kPsd, kPic, kPnm, kHdr, kTga };
ImageFormat sniff_image_format(Span<const uint8_t> bytes);
const char* format_name(ImageFormat format);

// Upper bound on width × height for a valid file of that format, per byte of file.
uint64_t max_pixels_per_byte(ImageFormat format);

// Throws vq::Error naming `name` when a width × height header is more than the file's size can
// hold: the file is truncated or forged.
void check_compression_bound(Span<const uint8_t> bytes, uint64_t width, uint64_t height,
                             const std::string& name);

}  // namespace vq::image
