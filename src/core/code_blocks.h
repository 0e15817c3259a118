// (internal API for domains) Where the codes of a blocked scan live: the layout chosen from the
// book widths, and the addressing of one vector's codes inside a block. CodeIndex (search.cpp)
// keeps its blocks in one array, the KV cache (src/kv/) in pages per head; both choose the
// layout and read and write codes through this one type, so the two stores cannot drift apart.
//
// The byte layouts themselves are the kernels' (kernels/lut_scan.h): 4-bit codes packed two per
// byte in blocks of 32 vectors, 8-bit codes book-major in blocks of 64.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "kernels/lut_scan.h"

namespace vq::detail {

// The two blocked code layouts of kernels/lut_scan.h.
enum class BlockLayout : uint8_t { kPacked4, kBlocked8 };

class BlockFormat {
 public:
  BlockFormat(BlockLayout layout, size_t books)
      : layout_(layout),
        books_(books),
        vectors_(layout == BlockLayout::kPacked4 ? kernels::kBlock4 : kernels::kBlock8),
        bytes_(layout == BlockLayout::kPacked4 ? kernels::packed4_block_bytes(books)
                                               : kernels::blocked8_block_bytes(books)) {}

  // The layout for codes with these book widths: packed 4-bit when every book has at most 4
  // bits (and the padded book count keeps uint8 sums within uint16), else 8-bit blocks when
  // every book has at most 8 bits and there are at most kernels::kMaxBooks8 books; nullopt when
  // neither holds (wider books, or too many).
  static std::optional<BlockFormat> for_books(std::span<const uint8_t> bits) {
    uint8_t widest = 0;
    for (uint8_t b : bits) widest = b > widest ? b : widest;
    if (bits.empty() || widest > 8) return std::nullopt;
    if (widest <= 4 && kernels::packed4_books(bits.size()) <= 256)
      return BlockFormat(BlockLayout::kPacked4, bits.size());
    if (bits.size() <= kernels::kMaxBooks8) return BlockFormat(BlockLayout::kBlocked8, bits.size());
    return std::nullopt;
  }

  BlockLayout layout() const { return layout_; }
  size_t books() const { return books_; }
  size_t vectors() const { return vectors_; }  // vectors per block: 32 or 64
  size_t bytes() const { return bytes_; }      // bytes per block

  // Code of vector j (< vectors()) in book m of a block.
  uint8_t get(const uint8_t* block, size_t m, size_t j) const {
    return layout_ == BlockLayout::kPacked4 ? kernels::packed4_code(block, m, j)
                                            : kernels::blocked8_code(block, m, j);
  }
  void set(uint8_t* block, size_t m, size_t j, uint8_t code) const {
    if (layout_ == BlockLayout::kPacked4)
      kernels::packed4_set(block, m, j, code);
    else
      kernels::blocked8_set(block, m, j, code);
  }

  // All books() codes of vector j, from / to a row-major code row (codes fit the layout).
  template <typename Code>
  void set_row(uint8_t* block, size_t j, const Code* row) const {
    for (size_t m = 0; m < books_; ++m) set(block, m, j, static_cast<uint8_t>(row[m]));
  }
  template <typename Code>
  void get_row(const uint8_t* block, size_t j, Code* row) const {
    for (size_t m = 0; m < books_; ++m) row[m] = get(block, m, j);
  }

 private:
  BlockLayout layout_;
  size_t books_, vectors_, bytes_;
};

}  // namespace vq::detail
