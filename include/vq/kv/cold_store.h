// ColdStore: where the KV cache keeps the full-precision keys and values it does not score
// from, so that attention over the retrieved tokens is exact. Pluggable: in host memory, in a
// memory-mapped file, or any user implementation of this interface.
//
// A row is one token of one layer: kv_heads × head_dim floats (row_floats()), keys and values
// stored apart. Rows are appended in token order and never change afterwards.
//
// Threading contract (the KV cache relies on it): append() is called by one writer at a time;
// key() / value() may be called concurrently with append() from any number of threads, for
// tokens the writer appended before it published them (the cache publishes a token count
// under a mutex after append() returns, which orders the writes before the reads). The
// pointers returned stay valid for the lifetime of the store (pages never move).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace vq::kv {

class ColdStore {
 public:
  virtual ~ColdStore() = default;
  // Floats per token row (kv_heads × head_dim).
  virtual size_t row_floats() const = 0;
  // Writer: n rows of keys and n rows of values (n × row_floats() floats each, row-major).
  virtual void append(const float* keys, const float* values, size_t n) = 0;
  // Readers: row_floats() floats of token t's keys / values (t < tokens appended).
  virtual const float* key(size_t t) const = 0;
  virtual const float* value(size_t t) const = 0;
  // "memory" or "mmap:<path>".
  virtual std::string describe() const = 0;
};

// Pages of page_tokens rows on the heap.
std::unique_ptr<ColdStore> make_memory_cold_store(size_t row_floats, size_t page_tokens = 4096);

// Pages of page_tokens rows in a file created (or truncated) at path: the file grows page by
// page and each page is mapped on its own (MAP_SHARED), so earlier pages never move. Layout:
// page p at offset p · page_bytes, where page_bytes = page_tokens · 2 · row_floats · 4 rounded
// up to the system page size; within a page, page_tokens key rows then page_tokens value rows,
// float32 little-endian. The file is a scratch area for this process (no header): the cache
// that wrote it knows its shape. Throws vq::Error naming the path when the file cannot be
// created, grown or mapped.
std::unique_ptr<ColdStore> make_mmap_cold_store(const std::string& path, size_t row_floats,
                                                size_t page_tokens = 4096);

}  // namespace vq::kv
