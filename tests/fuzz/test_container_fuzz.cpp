// Deterministic mutation fuzzing of the .vqc and .npy readers: whatever the bytes, a reader must
// either succeed or throw vq::Error: no crash, no other exception type, no hang, no allocation
// beyond the input's size (run under -DVQ_SANITIZE=ON to have ASan check the last point).
// Payloads are also mutated *with* recomputed CRCs, so the JSON metadata parser and the CODE
// payload reader see the corruption instead of being shielded by the checksum.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "vq/core/container.h"
#include "vq/core/io.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

struct Chunk {
  std::string type;
  std::vector<uint8_t> payload;
};

std::vector<uint8_t> frame(const std::vector<Chunk>& chunks) {
  std::vector<uint8_t> out = {0x89, 'V', 'Q', 'C', 0x0D, 0x0A, 0x1A, 0x0A, 1, 0, 0, 0, 0, 0, 0, 0};
  for (const Chunk& c : chunks) {
    out.insert(out.end(), c.type.begin(), c.type.end());
    const uint64_t len = c.payload.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
    out.insert(out.end(), c.payload.begin(), c.payload.end());
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(c.type.data()), 4);
    if (!c.payload.empty()) crc = crc32(crc, c.payload.data(), static_cast<uInt>(c.payload.size()));
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  }
  return out;
}

std::vector<Chunk> valid_chunks() {
  ContainerWriter w;
  w.set_meta("vq.kind", "codes");
  w.set_meta("quantizer.spec", "RVQ2x4");
  w.set_meta("note", "h\xC3\xA9");
  Codes codes(5, {3, 9, 4, 16});
  for (size_t i = 0; i < codes.data.size(); ++i)
    codes.data[i] = static_cast<uint16_t>(i % (size_t{1} << codes.bits[i % 4]));
  write_codes(w, codes);
  ByteWriter b;
  b.str("payload");
  b.f32s(std::vector<float>{1, 2, 3});
  w.add("DATA", b.take());
  const ContainerReader r = ContainerReader::from_bytes(w.to_bytes());
  std::vector<Chunk> chunks;
  const std::string json = R"({"note":"h\u00e9","quantizer.spec":"RVQ2x4","vq.kind":"codes"})";
  chunks.push_back({"META", {json.begin(), json.end()}});
  for (const auto& info : r.chunks()) {
    const Span<const uint8_t> p = r.payload(info.type);
    chunks.push_back({info.type, {p.begin(), p.end()}});
  }
  chunks.push_back({"END ", {}});
  return chunks;
}

// Parses like a real consumer: container, metadata look-ups, the CODE payload, a DATA payload.
// Returns true on success; any vq::Error is a clean rejection; anything else fails the test.
bool consume(const std::vector<uint8_t>& bytes) {
  try {
    const ContainerReader r = ContainerReader::from_bytes(bytes, "fuzz");
    (void)r.meta_or("vq.kind", "");
    if (r.has("CODE")) (void)read_codes(r);
    if (r.has("DATA")) {
      ByteReader d = r.chunk("DATA");
      (void)d.str();
      (void)d.f32s(3);
      d.expect_end();
    }
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool consume_npy(const std::vector<uint8_t>& bytes) {
  try {
    const NpyArray a = read_npy_from_bytes(bytes, "fuzz.npy");
    EXPECT_EQ(a.bytes.size(), a.count() * npy_item_size(a.dtype));
    return true;
  } catch (const Error&) {
    return false;
  }
}

TEST(ContainerFuzz, ValidInputIsAccepted) {
  ASSERT_TRUE(consume(frame(valid_chunks())));
}

TEST(ContainerFuzz, EveryTruncationIsRejected) {
  const std::vector<uint8_t> good = frame(valid_chunks());
  for (size_t len = 0; len < good.size(); ++len)
    ASSERT_FALSE(consume(std::vector<uint8_t>(good.begin(), good.begin() + len))) << len;
}

TEST(ContainerFuzz, EverySingleByteCorruptionIsRejected) {
  // CRC-32 detects every error burst up to 32 bits, and header fields are all checked exactly,
  // so no single changed byte can pass.
  const std::vector<uint8_t> good = frame(valid_chunks());
  for (size_t pos = 0; pos < good.size(); ++pos) {
    for (uint8_t mask : {0x01, 0x80, 0xFF, 0x5A}) {
      std::vector<uint8_t> bad = good;
      bad[pos] ^= mask;
      ASSERT_FALSE(consume(bad)) << "byte " << pos << " ^ " << int(mask);
    }
  }
}

TEST(ContainerFuzz, RandomMutationsNeverCrash) {
  const std::vector<uint8_t> good = frame(valid_chunks());
  Rng rng(2024);
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> bad = good;
    const int kind = static_cast<int>(rng.below(4));
    if (kind == 0) {  // scattered byte flips
      for (uint64_t k = 1 + rng.below(8); k > 0; --k) bad[rng.below(bad.size())] = static_cast<uint8_t>(rng.next());
    } else if (kind == 1) {  // an 8-byte little-endian field somewhere set to an extreme value
      const uint64_t values[] = {0, 1, ~uint64_t{0}, uint64_t{1} << 63, bad.size(), bad.size() - 16,
                                 rng.next(), rng.below(4096)};
      const uint64_t v = values[rng.below(8)];
      std::memcpy(bad.data() + rng.below(bad.size() - 8), &v, 8);
    } else if (kind == 2) {  // insert or delete a random run
      const size_t at = rng.below(bad.size());
      if (rng.below(2)) {
        bad.erase(bad.begin() + static_cast<ptrdiff_t>(at),
                  bad.begin() + static_cast<ptrdiff_t>(std::min(bad.size(), at + 1 + rng.below(32))));
      } else {
        std::vector<uint8_t> junk(1 + rng.below(32));
        for (auto& j : junk) j = static_cast<uint8_t>(rng.next());
        bad.insert(bad.begin() + static_cast<ptrdiff_t>(at), junk.begin(), junk.end());
      }
    } else {  // append random bytes after END
      for (uint64_t k = 1 + rng.below(16); k > 0; --k) bad.push_back(static_cast<uint8_t>(rng.next()));
    }
    (void)consume(bad);  // success or vq::Error are both fine; anything else aborts the test
  }
}

TEST(ContainerFuzz, ReframedChunkSequencesBehave) {
  const std::vector<Chunk> good = valid_chunks();
  Rng rng(7);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<Chunk> chunks = good;
    const size_t i = rng.below(chunks.size());
    switch (rng.below(3)) {
      case 0:  // duplicate a chunk in place
        chunks.insert(chunks.begin() + static_cast<ptrdiff_t>(i), chunks[i]);
        break;
      case 1:  // drop a chunk
        chunks.erase(chunks.begin() + static_cast<ptrdiff_t>(i));
        break;
      default:  // swap two chunks
        std::swap(chunks[i], chunks[rng.below(chunks.size())]);
    }
    const bool ok = consume(frame(chunks));
    // The properties the spec demands, whatever else happened.
    const bool meta_first_once = !chunks.empty() && chunks[0].type == "META" &&
        std::count_if(chunks.begin(), chunks.end(), [](const Chunk& c) { return c.type == "META"; }) == 1;
    const bool end_last_once = !chunks.empty() && chunks.back().type == "END " &&
        std::count_if(chunks.begin(), chunks.end(), [](const Chunk& c) { return c.type == "END "; }) == 1;
    if (!meta_first_once || !end_last_once) {
      ASSERT_FALSE(ok) << iter;
    }
  }
}

TEST(ContainerFuzz, PayloadMutationsWithValidCrc) {
  const std::vector<Chunk> good = valid_chunks();
  Rng rng(99);
  const std::string alphabet = "{}[]\":,\\u0123456789abcdefnulltruefalse \x01\xC3\xA9\xFF";
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<Chunk> chunks = good;
    Chunk& c = chunks[rng.below(chunks.size() - 1)];  // META, CODE or DATA
    for (uint64_t k = 1 + rng.below(4); k > 0; --k) {
      const uint64_t op = rng.below(3);
      if (op == 0 && !c.payload.empty()) {
        c.payload[rng.below(c.payload.size())] = c.type == "META"
            ? static_cast<uint8_t>(alphabet[rng.below(alphabet.size())])
            : static_cast<uint8_t>(rng.next());
      } else if (op == 1 && !c.payload.empty()) {
        c.payload.resize(rng.below(c.payload.size()));
      } else {
        c.payload.insert(c.payload.begin() + static_cast<ptrdiff_t>(rng.below(c.payload.size() + 1)),
                         static_cast<uint8_t>(alphabet[rng.below(alphabet.size())]));
      }
    }
    (void)consume(frame(chunks));
  }
  // Deep nesting and huge counts inside correctly framed payloads.
  std::vector<Chunk> deep = good;
  deep[0].payload.assign(1 << 20, '[');
  EXPECT_FALSE(consume(frame(deep)));
  std::vector<Chunk> huge = good;
  for (Chunk& c : huge)
    if (c.type == "CODE") std::memset(c.payload.data(), 0xFF, 8);  // n = 2^64 - 1 vectors
  EXPECT_FALSE(consume(frame(huge)));
}

std::vector<uint8_t> valid_npy() {
  NpyArray a;
  a.dtype = NpyDType::kFloat32;
  a.shape = {3, 2};
  a.bytes.assign(24, 0x3f);
  return npy_to_bytes(a);
}

TEST(NpyFuzz, TruncationsAndMutationsNeverCrash) {
  const std::vector<uint8_t> good = valid_npy();
  ASSERT_TRUE(consume_npy(good));
  for (size_t len = 0; len < good.size(); ++len)
    ASSERT_FALSE(consume_npy(std::vector<uint8_t>(good.begin(), good.begin() + len))) << len;

  Rng rng(31);
  const size_t header_end = 64;
  const std::string alphabet = "{}()'\":, 0123456789<>|=fiuOTrueFalsdescrshapefortran_order\n\x80L";
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> bad = good;
    for (uint64_t k = 1 + rng.below(6); k > 0; --k) {
      const uint64_t op = rng.below(4);
      if (op == 0) {
        bad[rng.below(header_end)] = static_cast<uint8_t>(alphabet[rng.below(alphabet.size())]);
      } else if (op == 1) {
        bad[rng.below(bad.size())] = static_cast<uint8_t>(rng.next());
      } else if (op == 2) {
        bad.insert(bad.begin() + 10 + static_cast<ptrdiff_t>(rng.below(header_end - 10)),
                   static_cast<uint8_t>(alphabet[rng.below(alphabet.size())]));
      } else if (bad.size() > 11) {
        bad.erase(bad.begin() + 10 + static_cast<ptrdiff_t>(rng.below(bad.size() - 11)));
      }
    }
    (void)consume_npy(bad);
  }
}

}  // namespace
}  // namespace vq
