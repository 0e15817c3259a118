// MatrixFile (the reader of a rank's rows and of streamed chunks) against read_matrix on the same
// bytes: the first input byte picks the format (.npy, .fvecs, .bvecs), the rest is the file.
// Both must reject the same files (a crash, not an exception, when they disagree), and where they
// accept, every row MatrixFile reads must equal read_matrix's bit for bit.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "vq/core/matrix_file.h"
#include "vq/core/matrix_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kExtensions[] = {".npy", ".fvecs", ".bvecs"};
  const std::string path =
      "/tmp/vq_fuzz_matrix_file_" + std::to_string(::getpid()) + kExtensions[data[0] % 3];
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    if (size > 1) std::fwrite(data + 1, 1, size - 1, f);
    std::fclose(f);
  } else {
    return 0;
  }
  bool whole_ok = true;
  vq::Matrix whole;
  try {
    whole = vq::read_matrix_from_bytes(vq::fuzz::bytes_of(data + 1, size - 1), path);
  } catch (const vq::Error&) {
    whole_ok = false;
  }
  // MatrixFile checks a *vecs record's dimension when it reads the record, so "accepts" means:
  // opens, and reads every row (in two ranges, then every other row by position).
  bool file_ok = true;
  size_t rows = 0, cols = 0, half = 0;
  vq::Matrix a, b, c;
  std::vector<size_t> odd;
  try {
    const vq::MatrixFile file(path);
    rows = file.rows(), cols = file.cols(), half = rows / 2;
    a = file.read_rows(0, half);
    b = file.read_rows(half, rows - half);
    for (size_t i = 1; i < rows; i += 2) odd.push_back(i);
    c = file.read_rows_at(odd);
  } catch (const vq::Error&) {
    file_ok = false;
  }
  if (file_ok != whole_ok) std::abort();
  if (file_ok) {
    if (rows != whole.rows() || cols != whole.cols()) std::abort();
    for (size_t i = 0; i < rows; ++i) {
      const float* got = i < half ? a.row_ptr(i) : b.row_ptr(i - half);
      if (cols && std::memcmp(got, whole.row_ptr(i), cols * sizeof(float)) != 0) std::abort();
    }
    for (size_t p = 0; p < odd.size(); ++p)
      if (cols && std::memcmp(c.row_ptr(p), whole.row_ptr(odd[p]), cols * sizeof(float)) != 0) std::abort();
  }
  std::remove(path.c_str());
  return 0;
}
