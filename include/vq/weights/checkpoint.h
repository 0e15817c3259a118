// Compressed layers inside a safetensors file (what `vq weights compress` writes).
//
// For a weight tensor "<base>.weight" (or any 2-D tensor "<base>") compressed with scheme S:
//   __metadata__  "vqcodec.scheme.<base>" = S (e.g. "AQ2x8d8"), "vqcodec.shape.<base>" = "rows,cols"
//   AQ (the tensor names and layouts of AQLM checkpoints, out_group_size 1):
//     <base>.codes      I8 [rows, cols/g, M] (codebook_size 256: the uint8 code's bit pattern)
//                       or I16 [rows, cols/g, M] (b > 8: the uint16 code's bit pattern)
//     <base>.codebooks  F16 [R·M, 2^b, 1, g]   (row group ρ's book m at index ρ·M + m)
//     <base>.scales     F16 [rows, 1, 1, 1]
//   scalar (RTN / GPTQ / CDQ):
//     <base>.qweight    U8 [rows, ceil(cols·b/8)] (bit streams, compressed_matrix.h)
//     <base>.scales     F16 [rows, cols/G]
//     <base>.zeros      U8 [rows, cols/G]
//   with row grouping (AQ "r" suffix) also
//     <base>.row_order  I32 [rows]   stored row i is output row row_order[i]
//     <base>.row_groups I32 [R + 1]  stored-row offsets of the row groups
// Codes are stored in stored-row order. Readers validate the whole matrix (validate()).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vq/weights/compressed_matrix.h"
#include "vq/weights/safetensors.h"

namespace vq::weights {

// What a layer compressed with `scheme` adds to a file, known before it is compressed (so a
// SafetensorsStreamWriter can lay out the header first): its tensors in the order above and its
// two metadata entries.
struct CompressedLayout {
  std::vector<TensorSpec> tensors;
  std::map<std::string, std::string> metadata;
};
CompressedLayout compressed_layout(const std::string& base, const Scheme& scheme, size_t rows, size_t cols);
// The bytes of each of compressed_layout(base, m.scheme, m.rows, m.cols).tensors, in order.
std::vector<std::vector<uint8_t>> compressed_tensor_bytes(const CompressedMatrix& m);

void write_compressed(SafetensorsWriter& out, const std::string& base, const CompressedMatrix& m);
// Names <base> of every compressed layer recorded in the metadata.
std::vector<std::string> compressed_layers(const SafetensorsFile& f);
// The metadata entry ("vqcodec.name.<base>" -> name) that records the input tensor's name of a
// compressed layer, so that decompression gives back exactly that name ("X" stays "X", not
// "X.weight"); dense_name() reads it, and falls back to "<base>.weight" for files written before
// the name was recorded.
std::pair<std::string, std::string> dense_name_entry(const std::string& base, const std::string& name);
std::string dense_name(const SafetensorsFile& f, const std::string& base);
// Throws vq::Error when a tensor is missing, has the wrong dtype or shape, or the result is
// inconsistent (code out of range, bad permutation, ...).
CompressedMatrix read_compressed(const SafetensorsFile& f, const std::string& base);

}  // namespace vq::weights
