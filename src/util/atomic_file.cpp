#include "util/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

namespace vq {
namespace {

std::string system_error(int err) { return std::strerror(err); }

// Directory part of path ("." when there is none), so the temporary file lands on the same file
// system as the target and rename() stays atomic.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// Opens a fresh temporary file next to path. O_EXCL makes the name ours even when several
// processes or threads write the same target at once; mode 0666 lets the umask decide the final
// permissions exactly as for a plainly created file (mkstemp would force 0600).
int open_temporary(const std::string& path, std::string& temp_path) {
  static std::atomic<uint64_t> counter{0};
  const auto [dir, base] = split_path(path);
  int last_error = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const uint64_t stamp =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    temp_path = dir + "/." + base + ".tmp-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter.fetch_add(1)) + "-" + std::to_string(stamp % 1000003);
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return fd;
    last_error = errno;
    if (last_error != EEXIST) break;
  }
  VQ_THROW("cannot write '", path, "': cannot create a temporary file in '", dir,
           "': ", system_error(last_error));
}

// Fails with the errno of the first failing call; a write() that makes no progress is treated as
// a full disk rather than retried forever.
int write_all(int fd, Span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return ENOSPC;
    done += static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path) : path_(std::move(path)) {
  VQ_CHECK(!path_.empty(), "cannot write a file with an empty path");
  fd_ = open_temporary(path_, temp_path_);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(temp_path_.c_str());
  }
}

void AtomicFileWriter::fail(const char* step, int err) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(temp_path_.c_str());
  VQ_THROW("cannot write '", path_, "' (", step, " failed after ", written_, " bytes): ", system_error(err));
}

void AtomicFileWriter::write(Span<const uint8_t> bytes) {
  VQ_CHECK(fd_ >= 0, "cannot write '", path_, "': the file was already committed or failed");
  if (const int err = write_all(fd_, bytes)) fail("write", err);
  written_ += bytes.size();
}

void AtomicFileWriter::commit() {
  VQ_CHECK(fd_ >= 0, "cannot write '", path_, "': the file was already committed or failed");
  // fsync before rename: otherwise a crash shortly after can leave the new name pointing at an
  // empty or partial file on file systems that reorder metadata and data writes.
  if (::fsync(fd_) != 0) fail("fsync", errno);
  const int fd = std::exchange(fd_, -1);
  const char* step = "close";
  int err = ::close(fd) != 0 ? errno : 0;
  if (!err && ::rename(temp_path_.c_str(), path_.c_str()) != 0) err = errno, step = "rename";
  if (err) {
    ::unlink(temp_path_.c_str());
    VQ_THROW("cannot write '", path_, "' (", step, " failed after ", written_, " bytes): ", system_error(err));
  }
  // Persist the directory entry too. Best effort: some file systems refuse fsync on directories,
  // and the data itself is already safe under the final name.
  const int dir_fd = ::open(split_path(path_).first.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_file_atomic(const std::string& path, Span<const uint8_t> bytes) {
  AtomicFileWriter out(path);
  out.write(bytes);
  out.commit();
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  VQ_CHECK(!path.empty(), "cannot read a file with an empty path");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VQ_CHECK(fd >= 0, "cannot open '", path, "': ", system_error(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    VQ_THROW("cannot stat '", path, "': ", system_error(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    VQ_THROW("cannot read '", path, "': ", S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = r < 0 ? errno : 0;
      ::close(fd);
      VQ_THROW("cannot read '", path, "': ",
               err ? system_error(err) : "file shrank while being read", " (", done, " of ",
               bytes.size(), " bytes read)");
    }
    done += static_cast<size_t>(r);
  }
  ::close(fd);
  return bytes;
}

}  // namespace vq
