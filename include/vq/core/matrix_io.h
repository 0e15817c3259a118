// Reading and writing float matrices (n vectors × d dimensions) in the formats users already
// have, chosen by file extension (case-insensitive):
//
//   .npy    NumPy array, 2-D (n, d) of any numeric dtype, converted to float32 (npy.h);
//           1-D (n,) is read as n×1. Written as float32.
//   .fvecs  TEXMEX format (SIFT1M etc.): per vector an int32 d then d float32, little-endian.
//           Every vector must have the same d > 0 and the file size must be a whole number of
//           records (n * (4 + 4d) bytes). Written the same way.
//   .bvecs  TEXMEX bytes: per vector an int32 d then d uint8 (SIFT1B). Read only; values are
//           converted to float 0..255.
#pragma once

#include <string>

#include "vq/types.h"

namespace vq {

// Throws vq::Error naming the path for an unknown extension, a missing file or malformed data.
Matrix read_matrix(const std::string& path);
// The same from bytes in memory (what read_matrix does once it has the file): the extension of
// name picks the format as above, and name is used in messages.
Matrix read_matrix_from_bytes(Span<const uint8_t> bytes, const std::string& name);

// Atomic write (temporary file + rename) as .npy or .fvecs; other extensions are rejected.
void write_matrix(const std::string& path, MatrixView<const float> x);

}  // namespace vq
