// (internal API for domains) Whole-file I/O shared by every on-disk format: atomic writes and checked reads.
//
// write_file_atomic() is the only way the library writes a file: the bytes go to a uniquely
// named temporary file in the target's directory (same file system, so rename is atomic), are
// flushed to disk with fsync, and the temporary is renamed over the final name. A crash, a full
// disk or a permission error therefore never leaves a partial file under the final name, and an
// existing file there survives any failure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq {

// Writes bytes to path atomically (see above). Throws vq::Error naming the path and the system
// error (strerror) on any failure, after removing the temporary file.
void write_file_atomic(const std::string& path, Span<const uint8_t> bytes);

// The same, for files written piece by piece (a checkpoint streamed layer by layer): write()
// appends to the temporary, commit() flushes and renames it over path. A writer destroyed
// without commit() (an exception on the way) removes the temporary, so path is untouched.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(Span<const uint8_t> bytes);  // throws vq::Error (e.g. a full disk) after removing the temporary
  void commit();
  uint64_t written() const { return written_; }

 private:
  [[noreturn]] void fail(const char* step, int err);
  std::string path_, temp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
};

// Reads a whole regular file. Throws vq::Error naming the path when it is missing, unreadable,
// not a regular file (a directory, a FIFO, a device) or changes size while being read. An empty
// file is returned as an empty vector: the format reader decides whether that is an error.
std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace vq
