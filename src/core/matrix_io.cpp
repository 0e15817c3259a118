#include "vq/core/matrix_io.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <type_traits>

#include "util/atomic_file.h"
#include "util/file_extension.h"
#include "vq/core/npy.h"

namespace vq {
namespace {

// TEXMEX *vecs: records of (int32 d, d elements of Elem). d is taken from the first record and
// every later record must repeat it; the file size must be an exact number of records, so a
// truncated download is reported instead of silently dropping its last vector.
template <class Elem>
Matrix read_vecs(Span<const uint8_t> bytes, const std::string& path) {
  VQ_CHECK(!bytes.empty(), path, ": empty file");
  VQ_CHECK(bytes.size() >= 4, path, ": truncated: ", bytes.size(), " bytes, need at least 4");
  int32_t d = 0;
  std::memcpy(&d, bytes.data(), 4);
  VQ_CHECK(d > 0, path, ": invalid dimension ", d, " in the first record");
  const size_t record = 4 + static_cast<size_t>(d) * sizeof(Elem);
  VQ_CHECK(bytes.size() % record == 0, path, ": ", bytes.size(), " bytes is not a whole number of ",
           record, "-byte records (dimension ", d, "): the file is truncated or not this format");
  const size_t n = bytes.size() / record;
  Matrix m(n, static_cast<size_t>(d));
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* rec = bytes.data() + i * record;
    int32_t di = 0;
    std::memcpy(&di, rec, 4);
    VQ_CHECK(di == d, path, ": record ", i, " (byte offset ", i * record, ") has dimension ", di,
             ", the first record has ", d);
    float* out = m.row_ptr(i);
    if constexpr (std::is_same_v<Elem, float>) {
      std::memcpy(out, rec + 4, static_cast<size_t>(d) * sizeof(float));
    } else {
      for (int32_t j = 0; j < d; ++j) out[j] = static_cast<float>(rec[4 + j]);
    }
  }
  return m;
}

void write_fvecs(const std::string& path, MatrixView<const float> x) {
  VQ_CHECK(x.cols() > 0 && x.cols() <= static_cast<size_t>(INT32_MAX), path,
           ": .fvecs needs 1..2^31-1 columns, got ", x.cols());
  const size_t record = 4 + x.cols() * sizeof(float);
  std::vector<uint8_t> bytes(x.rows() * record);
  const int32_t d = static_cast<int32_t>(x.cols());
  for (size_t i = 0; i < x.rows(); ++i) {
    std::memcpy(bytes.data() + i * record, &d, 4);
    std::memcpy(bytes.data() + i * record + 4, x.row_ptr(i), x.cols() * sizeof(float));
  }
  write_file_atomic(path, bytes);
}

}  // namespace

Matrix read_matrix(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") return read_matrix_npy(path);
  if (ext == ".fvecs" || ext == ".bvecs") return read_matrix_from_bytes(read_file_bytes(path), path);
  VQ_THROW(path, ": unknown matrix file extension '", ext, "' (expected .npy, .fvecs or .bvecs)");
}

Matrix read_matrix_from_bytes(Span<const uint8_t> bytes, const std::string& name) {
  const std::string ext = lower_extension(name);
  if (ext == ".npy") {
    VQ_CHECK(!bytes.empty(), name, ": empty file (not a .npy file)");
    return read_matrix_npy_from_bytes(bytes, name);
  }
  if (ext == ".fvecs") return read_vecs<float>(bytes, name);
  if (ext == ".bvecs") return read_vecs<uint8_t>(bytes, name);
  VQ_THROW(name, ": unknown matrix file extension '", ext, "' (expected .npy, .fvecs or .bvecs)");
}

void write_matrix(const std::string& path, MatrixView<const float> x) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") return write_npy(path, x);
  if (ext == ".fvecs") return write_fvecs(path, x);
  VQ_THROW(path, ": cannot write matrix files with extension '", ext, "' (expected .npy or .fvecs)");
}

}  // namespace vq
