#include "vq/core/bitpack.h"

#include <algorithm>

namespace vq {
namespace {

bool all_books(Span<const uint8_t> bits, uint8_t width) {
  return std::all_of(bits.begin(), bits.end(), [&](uint8_t b) { return b == width; });
}

// Generic path: a 64-bit accumulator never holds more than 7 + 16 bits, so no overflow.
void pack_row_generic(const uint16_t* codes, Span<const uint8_t> bits, uint8_t* out) {
  uint64_t acc = 0;
  unsigned filled = 0;
  for (size_t m = 0; m < bits.size(); ++m) {
    acc |= static_cast<uint64_t>(codes[m]) << filled;
    filled += bits[m];
    while (filled >= 8) {
      *out++ = static_cast<uint8_t>(acc);
      acc >>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) *out = static_cast<uint8_t>(acc);
}

// Returns false when the padding bits of the row are not zero.
bool unpack_row_generic(const uint8_t* in, Span<const uint8_t> bits, uint16_t* codes) {
  uint64_t acc = 0;
  unsigned filled = 0;
  for (size_t m = 0; m < bits.size(); ++m) {
    while (filled < bits[m]) {
      acc |= static_cast<uint64_t>(*in++) << filled;
      filled += 8;
    }
    codes[m] = static_cast<uint16_t>(acc & ((uint64_t{1} << bits[m]) - 1));
    acc >>= bits[m];
    filled -= bits[m];
  }
  return acc == 0;
}

}  // namespace

size_t packed_bytes_per_vector(Span<const uint8_t> bits) {
  size_t total = 0;
  for (size_t m = 0; m < bits.size(); ++m) {
    VQ_CHECK(bits[m] >= 1 && bits[m] <= 16, "packed codes: book ", m, " has ", int(bits[m]),
             " bits; expected 1..16");
    total += bits[m];
  }
  return (total + 7) / 8;
}

std::vector<uint8_t> pack_codes(const Codes& codes) {
  codes.validate();
  const size_t books = codes.num_books();
  const size_t row_bytes = packed_bytes_per_vector(codes.bits);
  std::vector<uint8_t> out(codes.n * row_bytes);
  // The 8- and 4-bit layouts are the common ones (PQ/RVQ with 256 or 16 entries) and have a
  // trivial byte or nibble form; the generic bit stream gives identical bytes, only slower.
  if (all_books(codes.bits, 8)) {
    std::transform(codes.data.begin(), codes.data.end(), out.begin(),
                   [](uint16_t c) { return static_cast<uint8_t>(c); });
  } else if (all_books(codes.bits, 4)) {
    for (size_t i = 0; i < codes.n; ++i) {
      const uint16_t* c = codes.row(i);
      uint8_t* o = out.data() + i * row_bytes;
      for (size_t m = 0; m + 1 < books; m += 2) *o++ = static_cast<uint8_t>(c[m] | (c[m + 1] << 4));
      if (books % 2) *o = static_cast<uint8_t>(c[books - 1]);
    }
  } else {
    for (size_t i = 0; i < codes.n; ++i)
      pack_row_generic(codes.row(i), codes.bits, out.data() + i * row_bytes);
  }
  return out;
}

Codes unpack_codes(Span<const uint8_t> packed, size_t n, std::vector<uint8_t> bits) {
  const size_t row_bytes = packed_bytes_per_vector(bits);
  // Division instead of n * row_bytes: n comes from files and the product could wrap.
  VQ_CHECK(row_bytes == 0 ? packed.empty()
                          : packed.size() % row_bytes == 0 && packed.size() / row_bytes == n,
           "packed codes: ", packed.size(), " bytes do not hold ", n, " vectors of ", row_bytes,
           " bytes each");
  Codes codes(n, std::move(bits));
  const size_t books = codes.num_books();
  if (all_books(codes.bits, 8)) {
    std::copy(packed.begin(), packed.end(), codes.data.begin());
  } else if (all_books(codes.bits, 4)) {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* in = packed.data() + i * row_bytes;
      uint16_t* c = codes.row(i);
      for (size_t m = 0; m + 1 < books; m += 2, ++in) {
        c[m] = *in & 15;
        c[m + 1] = *in >> 4;
      }
      if (books % 2) {
        VQ_CHECK((*in >> 4) == 0, "packed codes: vector ", i, " has non-zero padding bits");
        c[books - 1] = *in & 15;
      }
    }
  } else {
    for (size_t i = 0; i < n; ++i)
      VQ_CHECK(unpack_row_generic(packed.data() + i * row_bytes, codes.bits, codes.row(i)),
               "packed codes: vector ", i, " has non-zero padding bits");
  }
  return codes;
}

}  // namespace vq
