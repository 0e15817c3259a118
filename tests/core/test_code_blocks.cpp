// The block format that CodeIndex and the KV cache share: which layout a set of book widths
// gets, and that every code written to a block reads back unchanged at every position.
#include "core/code_blocks.h"

#include <gtest/gtest.h>

#include <vector>

#include "vq/core/rng.h"

namespace vq::detail {
namespace {

TEST(BlockFormat, LayoutFollowsTheWidestBookAndTheBookCount) {
  EXPECT_EQ(BlockFormat::for_books(std::vector<uint8_t>{4, 4, 3})->layout(), BlockLayout::kPacked4);
  EXPECT_EQ(BlockFormat::for_books(std::vector<uint8_t>{4, 8})->layout(), BlockLayout::kBlocked8);
  EXPECT_EQ(BlockFormat::for_books(std::vector<uint8_t>(255, 4))->layout(), BlockLayout::kPacked4);
  EXPECT_FALSE(BlockFormat::for_books(std::vector<uint8_t>(257, 4)).has_value());
  EXPECT_EQ(BlockFormat::for_books(std::vector<uint8_t>(256, 8))->layout(), BlockLayout::kBlocked8);
  EXPECT_FALSE(BlockFormat::for_books(std::vector<uint8_t>(257, 8)).has_value());
  EXPECT_FALSE(BlockFormat::for_books(std::vector<uint8_t>{8, 9}).has_value());
  EXPECT_FALSE(BlockFormat::for_books(std::vector<uint8_t>{}).has_value());

  const BlockFormat packed = *BlockFormat::for_books(std::vector<uint8_t>{4, 4, 4});
  EXPECT_EQ(packed.vectors(), 32u);
  EXPECT_EQ(packed.bytes(), 4u * 16);  // three books padded to four, 16 bytes each
  const BlockFormat blocked = *BlockFormat::for_books(std::vector<uint8_t>{8, 8, 8});
  EXPECT_EQ(blocked.vectors(), 64u);
  EXPECT_EQ(blocked.bytes(), 3u * 64);
}

TEST(BlockFormat, EveryCodeReadsBackAtEveryPosition) {
  Rng rng(7);
  for (const BlockLayout layout : {BlockLayout::kPacked4, BlockLayout::kBlocked8}) {
    for (const size_t books : {size_t{1}, size_t{5}, size_t{16}}) {
      const BlockFormat f(layout, books);
      const uint32_t codes = layout == BlockLayout::kPacked4 ? 16 : 256;
      std::vector<uint16_t> rows(f.vectors() * books);
      for (auto& c : rows) c = static_cast<uint16_t>(rng.below(codes));
      std::vector<uint8_t> block(f.bytes(), 0);
      // Written out of order, so a write that spills into a neighbour's slot would show.
      for (size_t j = f.vectors(); j-- > 0;) f.set_row(block.data(), j, rows.data() + j * books);
      std::vector<uint16_t> back(books);
      for (size_t j = 0; j < f.vectors(); ++j) {
        f.get_row(block.data(), j, back.data());
        for (size_t m = 0; m < books; ++m)
          ASSERT_EQ(back[m], rows[j * books + m]) << "layout " << int(layout) << " books " << books
                                                  << " vector " << j << " book " << m;
      }
    }
  }
}

}  // namespace
}  // namespace vq::detail
