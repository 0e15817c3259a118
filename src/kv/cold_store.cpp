// Memory and memory-mapped cold stores, both on PageList: pages never move, so a reader's
// pointer into a published row stays valid while the writer appends.
#include "vq/kv/cold_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "kv/pages.h"
#include "vq/error.h"

namespace vq::kv {

namespace {

// Page layout shared by both stores: page_tokens key rows, then page_tokens value rows.
class PagedColdStore : public ColdStore {
 public:
  PagedColdStore(size_t row_floats, size_t page_tokens, std::unique_ptr<detail::PageList> pages)
      : row_floats_(row_floats), page_tokens_(page_tokens), pages_(std::move(pages)) {}

  size_t row_floats() const override { return row_floats_; }

  void append(const float* keys, const float* values, size_t n) override {
    for (size_t i = 0; i < n;) {
      const size_t t = count_ + i, slot = t % page_tokens_;
      const size_t run = std::min(n - i, page_tokens_ - slot);
      auto* page = reinterpret_cast<float*>(pages_->writable(t / page_tokens_));
      std::memcpy(page + slot * row_floats_, keys + i * row_floats_, run * row_floats_ * 4);
      std::memcpy(page + (page_tokens_ + slot) * row_floats_, values + i * row_floats_,
                  run * row_floats_ * 4);
      i += run;
    }
    count_ += n;
  }

  const float* key(size_t t) const override { return row(t, 0); }
  const float* value(size_t t) const override { return row(t, page_tokens_); }

 protected:
  const float* row(size_t t, size_t first) const {
    const auto* page = reinterpret_cast<const float*>(pages_->page(t / page_tokens_));
    return page + (first + t % page_tokens_) * row_floats_;
  }

  size_t row_floats_, page_tokens_;
  size_t count_ = 0;  // writer only
  std::unique_ptr<detail::PageList> pages_;
};

class MemoryColdStore final : public PagedColdStore {
 public:
  MemoryColdStore(size_t row_floats, size_t page_tokens)
      : PagedColdStore(row_floats, page_tokens,
                       std::make_unique<detail::PageList>(2 * page_tokens * row_floats * 4)) {}
  std::string describe() const override { return "memory"; }
};

class MmapColdStore final : public PagedColdStore {
 public:
  MmapColdStore(const std::string& path, size_t row_floats, size_t page_tokens, int fd,
                size_t page_bytes)
      : PagedColdStore(
            row_floats, page_tokens,
            std::make_unique<detail::PageList>(
                page_bytes,
                [fd, page_bytes, path](size_t i) {
                  const auto end = static_cast<off_t>((i + 1) * page_bytes);
                  VQ_CHECK(::ftruncate(fd, end) == 0, "mmap cold store ", path,
                           ": cannot grow the file to ", end, " bytes: ", std::strerror(errno));
                  void* p = ::mmap(nullptr, page_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                                   static_cast<off_t>(i * page_bytes));
                  VQ_CHECK(p != MAP_FAILED, "mmap cold store ", path, ": cannot map page ", i,
                           " at offset ", i * page_bytes, ": ", std::strerror(errno));
                  return static_cast<uint8_t*>(p);  // a grown file reads as zeros
                },
                [page_bytes](uint8_t* p, size_t) { ::munmap(p, page_bytes); })),
        path_(path), fd_(fd) {}
  ~MmapColdStore() override {
    pages_.reset();  // unmap before closing
    ::close(fd_);
  }
  std::string describe() const override { return "mmap:" + path_; }

 private:
  std::string path_;
  int fd_;
};

void check_shape(size_t row_floats, size_t page_tokens) {
  VQ_CHECK(row_floats > 0, "cold store: row_floats must be > 0");
  VQ_CHECK(page_tokens > 0, "cold store: page_tokens must be > 0");
}

}  // namespace

std::unique_ptr<ColdStore> make_memory_cold_store(size_t row_floats, size_t page_tokens) {
  check_shape(row_floats, page_tokens);
  return std::make_unique<MemoryColdStore>(row_floats, page_tokens);
}

std::unique_ptr<ColdStore> make_mmap_cold_store(const std::string& path, size_t row_floats,
                                                size_t page_tokens) {
  check_shape(row_floats, page_tokens);
  const auto sys_page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t page_bytes = (2 * page_tokens * row_floats * 4 + sys_page - 1) / sys_page * sys_page;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  VQ_CHECK(fd >= 0, "mmap cold store: cannot create ", path, ": ", std::strerror(errno));
  return std::make_unique<MmapColdStore>(path, row_floats, page_tokens, fd, page_bytes);
}

}  // namespace vq::kv
