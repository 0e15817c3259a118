#include "kv/pages.h"

#include <cstdlib>
#include <cstring>

#include "vq/error.h"

namespace vq::kv::detail {

PageList::PageList(size_t page_bytes, Alloc alloc, Release release)
    : page_bytes_(page_bytes), alloc_(std::move(alloc)), release_(std::move(release)),
      top_(new std::atomic<std::atomic<uint8_t*>*>[kTop]) {
  VQ_CHECK(page_bytes_ > 0, "PageList: page size must be > 0");
  for (size_t t = 0; t < kTop; ++t) top_[t].store(nullptr, std::memory_order_relaxed);
}

PageList::PageList(size_t page_bytes)
    : PageList(
          page_bytes,
          [page_bytes](size_t) {
            const size_t bytes = (page_bytes + 63) / 64 * 64;
            auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
            VQ_CHECK(p != nullptr, "KV cache: out of memory allocating a page of ", bytes, " bytes");
            std::memset(p, 0, bytes);
            return p;
          },
          [](uint8_t* p, size_t) { std::free(p); }) {}

PageList::~PageList() {
  for (size_t i = 0; i < count_; ++i) release_(const_cast<uint8_t*>(page(i)), i);
  for (size_t t = 0; t < kTop; ++t) delete[] top_[t].load(std::memory_order_relaxed);
}

uint8_t* PageList::writable(size_t i) {
  VQ_CHECK(i <= count_, "PageList: page ", i, " requested out of order (", count_, " exist)");
  if (i < count_) return const_cast<uint8_t*>(page(i));
  VQ_CHECK(i < kLeaf * kTop, "KV cache: more than ", kLeaf * kTop, " pages");
  std::atomic<uint8_t*>* leaf = top_[i / kLeaf].load(std::memory_order_relaxed);
  if (leaf == nullptr) {
    leaf = new std::atomic<uint8_t*>[kLeaf];
    for (size_t j = 0; j < kLeaf; ++j) leaf[j].store(nullptr, std::memory_order_relaxed);
    top_[i / kLeaf].store(leaf, std::memory_order_release);
  }
  uint8_t* p = alloc_(i);
  leaf[i % kLeaf].store(p, std::memory_order_release);
  ++count_;
  return p;
}

}  // namespace vq::kv::detail
