// Packed code layout (bitpack.h): round trips for every width, fast paths against an
// independent bit-by-bit reference of the documented layout, and rejection of bad input.
#include <gtest/gtest.h>

#include "vq/core/bitpack.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

Codes random_codes(size_t n, std::vector<uint8_t> bits, Rng& rng) {
  Codes c(n, std::move(bits));
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < c.num_books(); ++m)
      c(i, m) = static_cast<uint16_t>(rng.below(uint64_t{1} << c.bits[m]));
  return c;
}

// The layout exactly as the header states it, one bit at a time: code m's bit j is stream bit
// o_m + j, stream bit k is bit k%8 of byte k/8, rows padded to whole bytes.
std::vector<uint8_t> reference_pack(const Codes& c) {
  size_t total = 0;
  for (uint8_t b : c.bits) total += b;
  const size_t row_bytes = (total + 7) / 8;
  std::vector<uint8_t> out(c.n * row_bytes, 0);
  for (size_t i = 0; i < c.n; ++i) {
    size_t k = 0;
    for (size_t m = 0; m < c.num_books(); ++m)
      for (unsigned j = 0; j < c.bits[m]; ++j, ++k)
        if ((c(i, m) >> j) & 1) out[i * row_bytes + k / 8] |= static_cast<uint8_t>(1u << (k % 8));
  }
  return out;
}

void expect_round_trip(const Codes& c) {
  const std::vector<uint8_t> packed = pack_codes(c);
  ASSERT_EQ(packed, reference_pack(c)) << "M=" << c.num_books();
  ASSERT_EQ(packed.size(), c.n * packed_bytes_per_vector(c.bits));
  const Codes back = unpack_codes(packed, c.n, c.bits);
  EXPECT_EQ(back.n, c.n);
  EXPECT_EQ(back.bits, c.bits);
  EXPECT_EQ(back.data, c.data);
}

TEST(Bitpack, RandomWidthsRoundTripAndMatchReference) {
  Rng rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const size_t books = 1 + rng.below(24);
    std::vector<uint8_t> bits(books);
    for (auto& b : bits) b = static_cast<uint8_t>(1 + rng.below(16));
    expect_round_trip(random_codes(rng.below(40), bits, rng));
  }
}

TEST(Bitpack, UniformWidthsIncludingFastPaths) {
  Rng rng(11);
  for (uint8_t width = 1; width <= 16; ++width)
    for (size_t books : {1, 2, 3, 7, 8, 16, 33})
      expect_round_trip(random_codes(17, std::vector<uint8_t>(books, width), rng));
}

TEST(Bitpack, DocumentedExamples) {
  Codes nibbles(1, {4, 4, 4});
  nibbles(0, 0) = 1, nibbles(0, 1) = 2, nibbles(0, 2) = 3;
  EXPECT_EQ(pack_codes(nibbles), (std::vector<uint8_t>{0x21, 0x03}));

  Codes mixed(1, {3, 5});
  mixed(0, 0) = 5, mixed(0, 1) = 17;
  EXPECT_EQ(pack_codes(mixed), (std::vector<uint8_t>{static_cast<uint8_t>(5 | (17 << 3))}));

  Codes wide(2, {16});
  wide(0, 0) = 0xBEEF, wide(1, 0) = 0x0102;
  EXPECT_EQ(pack_codes(wide), (std::vector<uint8_t>{0xEF, 0xBE, 0x02, 0x01}));

  Codes bytes(1, {8, 8});
  bytes(0, 0) = 200, bytes(0, 1) = 7;
  EXPECT_EQ(pack_codes(bytes), (std::vector<uint8_t>{200, 7}));
}

TEST(Bitpack, BytesPerVector) {
  EXPECT_EQ(packed_bytes_per_vector(std::vector<uint8_t>{}), 0u);
  EXPECT_EQ(packed_bytes_per_vector(std::vector<uint8_t>{1}), 1u);
  EXPECT_EQ(packed_bytes_per_vector(std::vector<uint8_t>{4, 4}), 1u);
  EXPECT_EQ(packed_bytes_per_vector(std::vector<uint8_t>{4, 4, 1}), 2u);
  EXPECT_EQ(packed_bytes_per_vector(std::vector<uint8_t>(10, 10)), 13u);
  EXPECT_THROW(packed_bytes_per_vector(std::vector<uint8_t>{0}), Error);
  EXPECT_THROW(packed_bytes_per_vector(std::vector<uint8_t>{17}), Error);
}

TEST(Bitpack, RejectsBadInput) {
  Codes c(3, {4, 4, 4});
  const std::vector<uint8_t> packed = pack_codes(c);
  EXPECT_THROW(unpack_codes(packed, 4, c.bits), Error);                       // too few bytes
  EXPECT_THROW(unpack_codes(packed, 2, c.bits), Error);                       // too many bytes
  EXPECT_THROW(unpack_codes(Span<const uint8_t>(packed).first(5), 3, c.bits), Error);
  EXPECT_THROW(unpack_codes(packed, 3, {4, 4, 0}), Error);                    // invalid width
  EXPECT_THROW(unpack_codes(packed, SIZE_MAX, c.bits), Error);                // n from a bad file

  std::vector<uint8_t> dirty = packed;
  dirty[1] |= 0x10;  // padding nibble of vector 0 (4-bit fast path)
  EXPECT_THROW(unpack_codes(dirty, 3, c.bits), Error);
  Codes odd(2, {3, 3});
  std::vector<uint8_t> dirty_generic = pack_codes(odd);
  dirty_generic[0] |= 0x80;  // bits 6..7 are padding (generic path)
  EXPECT_THROW(unpack_codes(dirty_generic, 2, odd.bits), Error);

  Codes out_of_range(1, {3});
  out_of_range(0, 0) = 8;
  EXPECT_THROW(pack_codes(out_of_range), Error);
}

}  // namespace
}  // namespace vq
