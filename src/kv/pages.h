// (private) PageList: an append-only list of fixed-size pages that readers may index while one
// writer adds pages. Pages are never moved, copied or freed before the list is destroyed, so
// growth costs one allocation per page and no copy of earlier data.
//
// The directory is two-level (kTop leaves of kLeaf page pointers, leaves allocated on demand)
// with atomic pointers: a reader that was told a page exists (through the cache's published
// size) finds it without a lock, and the directory itself never reallocates under a reader.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace vq::kv::detail {

class PageList {
 public:
  static constexpr size_t kLeaf = 1024, kTop = 4096;  // up to 4M pages
  // alloc(i) returns page i (zero-filled, page_bytes long); release(page, i) frees it.
  using Alloc = std::function<uint8_t*(size_t index)>;
  using Release = std::function<void(uint8_t* page, size_t index)>;

  PageList(size_t page_bytes, Alloc alloc, Release release);
  // Heap pages (aligned to 64 bytes).
  explicit PageList(size_t page_bytes);
  ~PageList();
  PageList(const PageList&) = delete;
  PageList& operator=(const PageList&) = delete;

  size_t page_bytes() const { return page_bytes_; }
  // Writer: page i, allocated if needed (pages are allocated in order: i <= pages()).
  uint8_t* writable(size_t i);
  // Reader: page i, which must exist.
  const uint8_t* page(size_t i) const {
    const auto* leaf = top_[i / kLeaf].load(std::memory_order_acquire);
    return leaf[i % kLeaf].load(std::memory_order_acquire);
  }
  size_t pages() const { return count_; }  // writer only

 private:
  size_t page_bytes_;
  Alloc alloc_;
  Release release_;
  size_t count_ = 0;
  std::unique_ptr<std::atomic<std::atomic<uint8_t*>*>[]> top_;
};

}  // namespace vq::kv::detail
