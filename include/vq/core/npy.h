// NumPy .npy files: the exchange format for vectors and token arrays with Python pipelines.
//
// Format (numpy.lib.format, versions 1.0, 2.0 and 3.0 are read; 1.0 is written unless the header
// needs more than 65535 bytes, then 2.0):
//   bytes 0..5  magic "\x93NUMPY"
//   byte  6, 7  major, minor version
//   then        u16 (v1) or u32 (v2, v3) little-endian header length HLEN
//   HLEN bytes  an ASCII (v3: UTF-8) Python dict literal, e.g.
//               {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//               padded with spaces and ended by '\n' so the data starts at a multiple of 64
//   then        the array data, C order, prod(shape) * itemsize bytes, nothing after.
// Supported element types (descr): float16 '<f2', float32 '<f4', float64 '<f8', int8 '|i1',
// uint8 '|u1', int16 '<i2', uint16 '<u2', int32 '<i4', int64 '<i8'. Big-endian data, Fortran
// order, object / structured / string dtypes are rejected with a vq::Error that says so.
// The header is parsed strictly (exactly the three keys, each once; every index bounds-checked)
// and the data size must match the shape exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq {

enum class NpyDType { kFloat16, kFloat32, kFloat64, kInt8, kUInt8, kInt16, kUInt16, kInt32, kInt64 };

size_t npy_item_size(NpyDType dtype);
// NumPy's descr string: "<f4", "|u1", ...
const char* npy_descr(NpyDType dtype);

// An n-dimensional array as stored in a .npy file.
struct NpyArray {
  NpyDType dtype = NpyDType::kFloat32;
  std::vector<size_t> shape;   // empty for a 0-d (scalar) array
  std::vector<uint8_t> bytes;  // C-order little-endian data, count() * npy_item_size(dtype) bytes

  size_t count() const;        // product of shape (1 for a 0-d array)
};

// The header of a .npy file: what reading part of its data needs. `bytes` must hold at least the
// whole header (the data may be cut off); the data are the data_size bytes from data_offset.
struct NpyHeader {
  NpyDType dtype = NpyDType::kFloat32;
  std::vector<size_t> shape;
  size_t data_offset = 0;
  size_t data_size = 0;
};
NpyHeader read_npy_header(Span<const uint8_t> bytes, const std::string& name = "<memory>");
// Little-endian elements of `dtype` converted to float32 (as read_matrix_npy converts them).
void npy_to_float(NpyDType dtype, Span<const uint8_t> bytes, Span<float> out);

NpyArray read_npy(const std::string& path);
// name is used in error messages.
NpyArray read_npy_from_bytes(Span<const uint8_t> bytes, const std::string& name = "<memory>");
std::vector<uint8_t> npy_to_bytes(const NpyArray& array);
// Atomic write (temporary file + rename); throws vq::Error on I/O failure.
void write_npy(const std::string& path, const NpyArray& array);

// 2-D arrays of any supported dtype, converted to float32 (int64 values above 2^24 lose
// precision, as in numpy's astype(float32)). A 1-D array of length n is read as an n×1 matrix:
// n scalar samples, the shape numpy gives x[:, None]. Other ranks are rejected.
Matrix read_matrix_npy(const std::string& path);
Matrix read_matrix_npy_from_bytes(Span<const uint8_t> bytes, const std::string& name = "<memory>");
// Writes a float32 array of shape (rows, cols).
void write_npy(const std::string& path, MatrixView<const float> x);

// Token arrays: shape (n, M), uint8 when every book has <= 8 bits, else uint16.
void write_codes_npy(const std::string& path, const Codes& codes);
// Reads an (n, M) integer array (any integer dtype; Python often hands int64) as Codes with the
// given book widths; M must equal bits.size() and every value must fit its book.
Codes read_codes_npy(const std::string& path, std::vector<uint8_t> bits);

// IEEE 754 binary16 <-> binary32. float_to_half rounds to nearest, ties to even; overflow gives
// ±inf, values below the smallest subnormal round to ±0, NaN stays NaN (quiet, sign kept).
// half_to_float is exact (every half is a float).
uint16_t float_to_half(float value);
float half_to_float(uint16_t half);

}  // namespace vq
