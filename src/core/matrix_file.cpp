#include "vq/core/matrix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "util/file_extension.h"
#include "vq/error.h"

namespace vq {

namespace {

// Fills `out` from byte `offset` of the file, or throws naming the path.
void read_at(int fd, const std::string& path, size_t offset, Span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    VQ_CHECK(r > 0, "cannot read '", path, "' at byte ", offset + done, ": ",
             r < 0 ? std::strerror(errno) : "unexpected end of file (it shrank while being read)");
    done += static_cast<size_t>(r);
  }
}

// .npy headers (version 1.0) are at most 64 KiB; the first read takes the whole header.
constexpr size_t kHeaderPrefix = 65536 + 16;

}  // namespace

MatrixFile::MatrixFile(const std::string& path) : path_(path) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy")
    kind_ = Kind::kNpy;
  else if (ext == ".fvecs")
    kind_ = Kind::kFvecs;
  else if (ext == ".bvecs")
    kind_ = Kind::kBvecs;
  else
    VQ_THROW(path, ": unknown matrix file extension '", ext, "' (expected .npy, .fvecs or .bvecs)");
  VQ_CHECK(!path.empty(), "cannot read a file with an empty path");
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VQ_CHECK(fd_ >= 0, "cannot open '", path, "': ", std::strerror(errno));
  try {
    struct stat st {};
    VQ_CHECK(::fstat(fd_, &st) == 0, "cannot stat '", path, "': ", std::strerror(errno));
    VQ_CHECK(S_ISREG(st.st_mode), "cannot read '", path, "': ",
             S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
    const size_t size = static_cast<size_t>(st.st_size);
    VQ_CHECK(size > 0, path, ": empty file");
    if (kind_ == Kind::kNpy) {
      std::vector<uint8_t> prefix(std::min(size, kHeaderPrefix));
      read_at(fd_, path, 0, prefix);
      const NpyHeader h = read_npy_header(prefix, path);
      VQ_CHECK(h.shape.size() == 1 || h.shape.size() == 2, path, ": expected a 2-D array (n, d), got ",
               h.shape.size(), "-D");
      std::string shape = "(";
      for (size_t i = 0; i < h.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(h.shape[i]);
      shape += h.shape.size() == 1 ? ",)" : ")";
      VQ_CHECK(size - h.data_offset == h.data_size, path, ": shape ", shape, " of ", npy_descr(h.dtype), " needs ",
               h.data_size, " data bytes, file has ", size - h.data_offset);
      dtype_ = h.dtype;
      rows_ = h.shape[0];
      cols_ = h.shape.size() == 2 ? h.shape[1] : 1;
      data_offset_ = h.data_offset;
      row_bytes_ = cols_ * npy_item_size(dtype_);
    } else {
      VQ_CHECK(size >= 4, path, ": truncated: ", size, " bytes, need at least 4");
      int32_t d = 0;
      read_at(fd_, path, 0, {reinterpret_cast<uint8_t*>(&d), 4});
      VQ_CHECK(d > 0, path, ": invalid dimension ", d, " in the first record");
      cols_ = static_cast<size_t>(d);
      row_bytes_ = 4 + cols_ * (kind_ == Kind::kFvecs ? 4 : 1);
      VQ_CHECK(size % row_bytes_ == 0, path, ": ", size, " bytes is not a whole number of ", row_bytes_,
               "-byte records (dimension ", d, "): the file is truncated or not this format");
      rows_ = size / row_bytes_;
    }
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

MatrixFile::~MatrixFile() {
  if (fd_ >= 0) ::close(fd_);
}

MatrixFile::MatrixFile(MatrixFile&& other) noexcept { *this = std::move(other); }

MatrixFile& MatrixFile::operator=(MatrixFile&& other) noexcept {
  if (this == &other) return *this;
  if (fd_ >= 0) ::close(fd_);
  path_ = std::move(other.path_);
  fd_ = std::exchange(other.fd_, -1);
  kind_ = other.kind_;
  dtype_ = other.dtype_;
  rows_ = other.rows_;
  cols_ = other.cols_;
  data_offset_ = other.data_offset_;
  row_bytes_ = other.row_bytes_;
  return *this;
}

void MatrixFile::read_rows(size_t begin, size_t count, MatrixView<float> out) const {
  VQ_CHECK(begin <= rows_ && count <= rows_ - begin, path_, ": rows [", begin, ", ", begin + count, ") of ", rows_);
  VQ_CHECK(out.rows() == count && out.cols() == cols_, "MatrixFile::read_rows: output is ", out.rows(), "×",
           out.cols(), ", expected ", count, "×", cols_);
  // In pieces of about 16 MiB: the raw bytes of a piece, then converted into its rows.
  const size_t piece = row_bytes_ > 0 ? std::max<size_t>(1, (size_t{16} << 20) / row_bytes_) : std::max<size_t>(1, count);
  std::vector<uint8_t> raw;
  for (size_t at = 0; at < count; at += piece) {
    const size_t m = std::min(piece, count - at);
    raw.resize(m * row_bytes_);
    read_at(fd_, path_, data_offset_ + (begin + at) * row_bytes_, raw);
    for (size_t i = 0; i < m; ++i) {
      const uint8_t* rec = raw.data() + i * row_bytes_;
      float* dst = out.row_ptr(at + i);
      if (kind_ == Kind::kNpy) {
        npy_to_float(dtype_, {rec, row_bytes_}, {dst, cols_});
        continue;
      }
      int32_t d = 0;
      std::memcpy(&d, rec, 4);
      VQ_CHECK(static_cast<size_t>(d) == cols_, path_, ": record ", begin + at + i, " (byte offset ",
               (begin + at + i) * row_bytes_, ") has dimension ", d, ", the first record has ", cols_);
      if (kind_ == Kind::kFvecs)
        std::memcpy(dst, rec + 4, cols_ * sizeof(float));
      else
        for (size_t j = 0; j < cols_; ++j) dst[j] = static_cast<float>(rec[4 + j]);
    }
  }
}

Matrix MatrixFile::read_rows(size_t begin, size_t count) const {
  Matrix m(count, cols_);
  read_rows(begin, count, m.view());
  return m;
}

Matrix MatrixFile::read_rows_at(Span<const size_t> positions) const {
  Matrix m(positions.size(), cols_);
  for (size_t i = 0; i < positions.size();) {
    VQ_CHECK(i == 0 || positions[i] > positions[i - 1], "MatrixFile::read_rows_at: positions must ascend");
    size_t run = 1;
    while (i + run < positions.size() && positions[i + run] == positions[i] + run) ++run;
    read_rows(positions[i], run, MatrixView<float>(m.row_ptr(i), run, cols_, cols_));
    i += run;
  }
  return m;
}

MatrixFiles::MatrixFiles(const std::vector<std::string>& paths) {
  VQ_CHECK(!paths.empty(), "no matrix files given");
  starts_.push_back(0);
  for (const std::string& p : paths) {
    files_.emplace_back(p);
    VQ_CHECK(files_.back().cols() == files_.front().cols(), p, ": vectors of dimension ", files_.back().cols(), ", ",
             paths.front(), " has ", files_.front().cols(), " (every shard must have the same dimension)");
    starts_.push_back(starts_.back() + files_.back().rows());
  }
}

void MatrixFiles::read_rows(size_t begin, size_t count, MatrixView<float> out) const {
  VQ_CHECK(begin <= rows() && count <= rows() - begin, "shards: rows [", begin, ", ", begin + count, ") of ", rows());
  VQ_CHECK(out.rows() == count && out.cols() == cols(), "MatrixFiles::read_rows: output is ", out.rows(), "×",
           out.cols(), ", expected ", count, "×", cols());
  size_t done = 0;
  // The file holding row `begin`, then the next ones until count rows are read.
  size_t f = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), begin) - starts_.begin()) - 1;
  while (done < count) {
    const size_t at = begin + done - starts_[f];
    const size_t take = std::min(count - done, files_[f].rows() - at);
    files_[f].read_rows(at, take, MatrixView<float>(out.row_ptr(done), take, out.cols(), out.stride()));
    done += take;
    ++f;
  }
}

Matrix MatrixFiles::read_rows(size_t begin, size_t count) const {
  Matrix m(count, cols());
  read_rows(begin, count, m.view());
  return m;
}

Matrix MatrixFiles::read_rows_at(Span<const size_t> positions) const {
  Matrix m(positions.size(), cols());
  for (size_t i = 0; i < positions.size();) {
    VQ_CHECK(i == 0 || positions[i] > positions[i - 1], "MatrixFiles::read_rows_at: positions must ascend");
    size_t run = 1;
    while (i + run < positions.size() && positions[i + run] == positions[i] + run) ++run;
    read_rows(positions[i], run, MatrixView<float>(m.row_ptr(i), run, cols(), cols()));
    i += run;
  }
  return m;
}

std::vector<std::string> read_shard_list(const std::string& manifest) {
  std::ifstream in(manifest);
  VQ_CHECK(in.good(), "cannot open '", manifest, "': ", std::strerror(errno));
  const std::filesystem::path folder = std::filesystem::path(manifest).parent_path();
  std::vector<std::string> paths;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    line = line.substr(start);
    if (line.empty() || line[0] == '#') continue;
    const std::filesystem::path p(line);
    paths.push_back(p.is_absolute() ? line : (folder / p).string());
  }
  VQ_CHECK(!paths.empty(), manifest, ": lists no matrix files");
  return paths;
}

}  // namespace vq
