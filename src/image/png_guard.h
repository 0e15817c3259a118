// (private) Checks on a PNG's chunk structure that stb_image makes only after allocating.
//
// stb allocates a chunk's declared length before finding that the file does not hold it (a
// 101-byte PNG whose IDAT claims 1 GB makes it allocate 1 GB), and it inflates all IDAT data
// into a buffer it doubles for as long as the zlib stream produces bytes, comparing with the
// size the header implies only at the end (a few kilobytes of zlib can expand to gigabytes).
// This walks the chunks first, requiring each length to fit in the file, and inflates the IDAT
// stream into a small scratch buffer, counting, until the count passes what the header needs.
#pragma once

#include <cstdint>
#include <string>

#include "vq/types.h"

namespace vq::image {

// No-op for anything that is not a PNG. Throws vq::Error naming `name` when a chunk's length
// runs past the end of the file, when the file ends inside a chunk header (before IEND), or when the image data inflates beyond
// height · (1 + ceil(width · bits per pixel / 8)) bytes (summed over the Adam7 passes when
// interlaced): the exact filtered size PNG defines.
void check_png_chunks(Span<const uint8_t> bytes, const std::string& name);

}  // namespace vq::image
