// A matrix file (.npy, .fvecs, .bvecs; matrix_io.h) opened for reading rows on demand: what a
// rank of a distributed run uses to read only its own rows, and what streaming over a file
// larger than memory reads chunk by chunk. The header and the file size are checked on open;
// rows are read with pread and converted to float32 as read_matrix() converts them.
//
//   vq::MatrixFile f("big.npy");
//   const vq::RowBlock mine = vq::rank_rows(f.rows(), comm.rank(), comm.size());
//   vq::Matrix x = f.read_rows(mine.begin, mine.end - mine.begin);
#pragma once

#include <string>
#include <vector>

#include "vq/core/npy.h"
#include "vq/types.h"

namespace vq {

class MatrixFile {
 public:
  // Throws vq::Error naming the path for an unknown extension, a missing or unreadable file, a
  // malformed header, or a size that does not match the header (truncated files).
  explicit MatrixFile(const std::string& path);
  ~MatrixFile();
  MatrixFile(MatrixFile&& other) noexcept;
  MatrixFile& operator=(MatrixFile&& other) noexcept;
  MatrixFile(const MatrixFile&) = delete;
  MatrixFile& operator=(const MatrixFile&) = delete;

  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  const std::string& path() const { return path_; }

  // Rows [begin, begin + count) as float32; out must be count × cols(). Safe to call from
  // several threads at once (pread, no shared position).
  void read_rows(size_t begin, size_t count, MatrixView<float> out) const;
  Matrix read_rows(size_t begin, size_t count) const;
  // The rows at `positions` (ascending, distinct), in that order: runs of consecutive rows are
  // read at once. What reading a sample of a file too large for memory uses.
  Matrix read_rows_at(Span<const size_t> positions) const;

 private:
  enum class Kind { kNpy, kFvecs, kBvecs };
  std::string path_;
  int fd_ = -1;
  Kind kind_ = Kind::kNpy;
  NpyDType dtype_ = NpyDType::kFloat32;
  size_t rows_ = 0, cols_ = 0;
  size_t data_offset_ = 0;  // first row's first byte
  size_t row_bytes_ = 0;    // bytes per row (a *vecs record includes its 4-byte dimension)
};

// Several matrix files of one column count read as one matrix, in the order given: the shards of
// a data set too large for one file. Rows are numbered across the files.
class MatrixFiles {
 public:
  // Throws vq::Error for an empty list, any file MatrixFile refuses, or files whose column
  // counts differ (naming the first that differs).
  explicit MatrixFiles(const std::vector<std::string>& paths);

  size_t rows() const { return starts_.back(); }
  size_t cols() const { return files_.front().cols(); }
  size_t count() const { return files_.size(); }

  void read_rows(size_t begin, size_t count, MatrixView<float> out) const;
  Matrix read_rows(size_t begin, size_t count) const;
  Matrix read_rows_at(Span<const size_t> positions) const;  // ascending, distinct

 private:
  std::vector<MatrixFile> files_;
  std::vector<size_t> starts_;  // first global row of each file, then the total
};

// The shard list of a `.txt` manifest: one matrix file per line, relative paths taken from the
// manifest's folder; blank lines and lines starting with '#' are skipped.
std::vector<std::string> read_shard_list(const std::string& manifest);

}  // namespace vq
