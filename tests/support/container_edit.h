// Containers edited behind the readers' backs, for tests of what the readers catch themselves:
// a chunk's payload is changed and the writer recomputes every CRC, so the container framing
// passes and only the checks behind it (self-tests, shape checks) can object.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vq/core/container.h"

namespace vq::testdata {

// `container` with the index-th chunk of `type` passed through edit (metadata and every other
// chunk unchanged, in order).
inline std::vector<uint8_t> edit_chunk(Span<const uint8_t> container, const std::string& type, size_t index,
                                       const std::function<void(std::vector<uint8_t>&)>& edit) {
  const ContainerReader in = ContainerReader::from_bytes(container, "edit");
  ContainerWriter out;
  for (const auto& [key, value] : in.meta()) out.set_meta(key, value);
  std::map<std::string, size_t> seen;
  for (const auto& c : in.chunks()) {
    const size_t i = seen[c.type]++;
    const Span<const uint8_t> p = in.payload(c.type, i);
    std::vector<uint8_t> payload(p.begin(), p.end());
    if (c.type == type && i == index) edit(payload);
    out.add(c.type, std::move(payload));
  }
  return out.to_bytes();
}

// An embedded quantizer (embedded_model.h, stored as is) whose codebooks disagree with its
// self-test: `donor`'s SELF chunk (another quantizer of the same shape) replaces its own.
inline std::vector<uint8_t> with_foreign_self_test(Span<const uint8_t> container, const std::string& type,
                                                   size_t index, Span<const uint8_t> donor) {
  const ContainerReader d = ContainerReader::from_bytes(donor, "donor");
  const Span<const uint8_t> self = d.payload("SELF");
  return edit_chunk(container, type, index, [&](std::vector<uint8_t>& nested) {
    nested = edit_chunk(nested, "SELF", 0, [&](std::vector<uint8_t>& p) { p.assign(self.begin(), self.end()); });
  });
}

// An embedded codebook quantizer (RVQ, PQ, VQ, AQ; stored as is) with its first book negated:
// the CRCs hold, its self-test must not. BOOK payload (codebook_quantizer.cpp): u64 books, then
// per book u64 offset, u64 dim, u8 bits and 2^bits · dim f32 entries.
inline std::vector<uint8_t> with_negated_first_book(Span<const uint8_t> container, const std::string& type,
                                                    size_t index) {
  return edit_chunk(container, type, index, [&](std::vector<uint8_t>& nested) {
    nested = edit_chunk(nested, "BOOK", 0, [&](std::vector<uint8_t>& book) {
      ByteReader r(book, "BOOK");
      (void)r.u64();
      (void)r.u64();
      const uint64_t dim = r.u64();
      const uint8_t bits = r.u8();
      const size_t start = r.position();
      for (size_t f = 0; f < (size_t{1} << bits) * dim; ++f) book[start + 4 * f + 3] ^= 0x80;  // sign bit
    });
  });
}

}  // namespace vq::testdata
