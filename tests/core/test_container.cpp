// .vqc container (container.h): byte layout against the spec, round trips, and every rejection
// the reader promises; atomic writes (util/atomic_file.h) under real I/O failures.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/atomic_file.h"
#include "vq/core/container.h"
#include "vq/version.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) bit by bit, independent of zlib.
uint32_t reference_crc(const std::vector<uint8_t>& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A container assembled by hand from the spec: header + (type, payload) chunks with correct
// CRCs. Lets tests build files our writer would never produce.
std::vector<uint8_t> hand_built(const std::vector<std::pair<std::string, std::string>>& chunks,
                                uint32_t version = 1, uint32_t flags = 0) {
  std::vector<uint8_t> out = {0x89, 'V', 'Q', 'C', 0x0D, 0x0A, 0x1A, 0x0A};
  put_u32(out, version);
  put_u32(out, flags);
  for (const auto& [type, payload] : chunks) {
    out.insert(out.end(), type.begin(), type.end());
    put_u64(out, payload.size());
    out.insert(out.end(), payload.begin(), payload.end());
    put_u32(out, reference_crc(bytes_of(type + payload)));
  }
  return out;
}

// Expects a vq::Error whose message contains every fragment.
void expect_error(const std::vector<uint8_t>& bytes, std::initializer_list<const char*> fragments) {
  try {
    ContainerReader::from_bytes(bytes, "test.vqc");
    ADD_FAILURE() << "no error; expected one mentioning " << *fragments.begin();
  } catch (const Error& e) {
    for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
        << "message '" << e.what() << "' lacks '" << f << "'";
  }
}

ContainerWriter sample_writer() {
  ContainerWriter w;
  w.set_meta("vq.kind", "test");
  w.set_meta("audio.sample_rate", "24000");
  w.set_meta("unicode", "h\xC3\xA9llo");
  ByteWriter a;
  a.u8(7), a.u16(0xBEEF), a.u32(0xDEADBEEF), a.u64(0x0123456789ABCDEFull), a.f32(-1.5f);
  a.str("hello");
  a.f32s(std::vector<float>{1.f, 2.f});
  a.u16s(std::vector<uint16_t>{3, 4});
  w.add("DATA", a.take());
  w.add("EMPT", {});
  w.add("DATA", {1, 2, 3});
  return w;
}

TEST(Container, ByteLayoutFollowsTheSpec) {
  ContainerWriter w;
  w.set_meta("k", "v");
  w.add("ABCD", {0xAA});
  const std::vector<uint8_t> got = w.to_bytes();
  // The META payload is a JSON object, keys sorted; nlohmann writes it compactly. Every writer
  // records the library version.
  const std::string meta = R"({"k":"v","vq.tool_version":")" + std::string(VQ_VERSION_STRING) + R"("})";
  EXPECT_EQ(got, hand_built({{"META", meta}, {"ABCD", "\xAA"}, {"END ", ""}}));
  EXPECT_EQ(got.size(), 16u + (16 + meta.size()) + (16 + 1) + 16);
}

TEST(Container, RoundTripKeepsMetaChunksOrderAndOffsets) {
  const std::vector<uint8_t> bytes = sample_writer().to_bytes();
  const ContainerReader r = ContainerReader::from_bytes(bytes, "mem");
  EXPECT_EQ(r.version(), kContainerVersion);
  EXPECT_EQ(r.meta(), sample_writer().meta());
  EXPECT_EQ(r.meta_at("unicode"), "h\xC3\xA9llo");
  EXPECT_EQ(r.meta_or("absent", "x"), "x");
  ASSERT_EQ(r.chunks().size(), 3u);
  EXPECT_EQ(r.count("DATA"), 2u);
  EXPECT_TRUE(r.has("EMPT"));
  EXPECT_FALSE(r.has("NONE"));
  EXPECT_EQ(r.payload("EMPT").size(), 0u);
  const Span<const uint8_t> second = r.payload("DATA", 1);
  EXPECT_EQ(std::vector<uint8_t>(second.begin(), second.end()), (std::vector<uint8_t>{1, 2, 3}));
  for (const auto& c : r.chunks()) {
    EXPECT_EQ(std::string(bytes.begin() + c.offset, bytes.begin() + c.offset + 4), c.type);
    uint64_t len = 0;
    std::memcpy(&len, bytes.data() + c.offset + 4, 8);
    EXPECT_EQ(len, c.length);
  }

  ByteReader a = r.chunk("DATA");
  EXPECT_EQ(a.u8(), 7);
  EXPECT_EQ(a.u16(), 0xBEEF);
  EXPECT_EQ(a.u32(), 0xDEADBEEFu);
  EXPECT_EQ(a.u64(), 0x0123456789ABCDEFull);
  EXPECT_EQ(a.f32(), -1.5f);
  EXPECT_EQ(a.str(), "hello");
  EXPECT_EQ(a.f32s(2), (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(a.u16s(2), (std::vector<uint16_t>{3, 4}));
  a.expect_end();
  EXPECT_THROW(a.u8(), Error);

  EXPECT_THROW(r.chunk("DATA", 2), Error);
  EXPECT_THROW(r.meta_at("absent"), Error);
}

TEST(Container, ByteReaderChecksEveryLength) {
  std::vector<uint8_t> payload;
  put_u64(payload, 1000);  // a string length far beyond the payload
  payload.push_back('x');
  ByteReader r(payload, "ctx");
  try {
    r.str();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ctx: truncated"), std::string::npos) << e.what();
  }
  ByteReader big(payload, "ctx");
  EXPECT_THROW(big.f32s(SIZE_MAX / 2), Error);  // n*4 would overflow: must be caught first
  EXPECT_THROW(big.u16s(SIZE_MAX), Error);
  EXPECT_THROW(big.raw(10), Error);
  EXPECT_THROW(big.count(999, "items"), Error);
  ByteReader ok(payload, "ctx");
  EXPECT_EQ(ok.count(1000, "items"), 1000u);
  EXPECT_THROW(ok.expect_end(), Error);
}

TEST(Container, WriterRejectsReservedAndMalformedTypes) {
  ContainerWriter w;
  EXPECT_THROW(w.add("META", {}), Error);
  EXPECT_THROW(w.add("END ", {}), Error);
  EXPECT_THROW(w.add("ABC", {}), Error);
  EXPECT_THROW(w.add("ABCDE", {}), Error);
  EXPECT_THROW(w.add(std::string("AB\nC"), {}), Error);
  EXPECT_THROW(w.set_meta("", "x"), Error);
  w.set_meta("bad", "\xFF\xFE");  // not UTF-8: refused when encoded, naming the key
  try {
    w.to_bytes();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'bad'"), std::string::npos) << e.what();
  }
}

TEST(Container, RejectsMalformedHeaders) {
  const std::vector<uint8_t> good = hand_built({{"META", "{}"}, {"END ", ""}});
  EXPECT_NO_THROW(ContainerReader::from_bytes(good));
  expect_error({}, {"empty"});
  expect_error(std::vector<uint8_t>(good.begin(), good.begin() + 10), {"too short"});
  std::vector<uint8_t> magic = good;
  magic[1] = 'X';
  expect_error(magic, {"bad magic"});
  expect_error(hand_built({{"META", "{}"}, {"END ", ""}}, 2), {"version 2", "version 1"});
  expect_error(hand_built({{"META", "{}"}, {"END ", ""}}, 0), {"version 0"});
  expect_error(hand_built({{"META", "{}"}, {"END ", ""}}, 1, 4), {"flags"});
}

TEST(Container, RejectsMalformedChunks) {
  // CRC mismatch names the file, chunk index, type and offset.
  std::vector<uint8_t> crc = hand_built({{"META", "{}"}, {"DATA", "abc"}, {"END ", ""}});
  crc[16 + 18 + 12] ^= 1;  // first payload byte of chunk #1 (META chunk is 16 + 2 bytes)
  expect_error(crc, {"test.vqc", "chunk #1", "'DATA'", "byte offset 34", "CRC"});

  std::vector<uint8_t> truncated = hand_built({{"META", "{}"}, {"END ", ""}});
  truncated.resize(truncated.size() - 16);
  expect_error(truncated, {"no END"});
  std::vector<uint8_t> partial = hand_built({{"META", "{}"}, {"END ", ""}});
  partial.resize(partial.size() - 3);
  expect_error(partial, {"chunk #1"});

  std::vector<uint8_t> trailing = hand_built({{"META", "{}"}, {"END ", ""}});
  trailing.push_back(0);
  expect_error(trailing, {"trailing"});
  expect_error(hand_built({{"META", "{}"}, {"END ", ""}, {"DATA", ""}}), {"trailing"});

  expect_error(hand_built({{"DATA", ""}, {"META", "{}"}, {"END ", ""}}), {"first chunk must be META"});
  expect_error(hand_built({{"META", "{}"}, {"META", "{}"}, {"END ", ""}}), {"second META"});
  expect_error(hand_built({{"META", "{}"}, {"END ", "x"}}), {"END", "empty payload"});
  expect_error(hand_built({{"META", "{}"}, {"D\x01TA", ""}, {"END ", ""}}), {"\\x01", "printable"});

  // A length field of 2^64-1 or just past the end must be rejected before any allocation.
  for (uint64_t len : {~uint64_t{0}, uint64_t{1} << 62, uint64_t{5}}) {
    std::vector<uint8_t> huge = hand_built({{"META", "{}"}, {"DATA", "abcd"}, {"END ", ""}});
    std::memcpy(huge.data() + 34 + 4, &len, 8);
    huge.resize(34 + 12 + 4 + 4);  // cut after DATA so 5 exceeds what is left too
    expect_error(huge, {"chunk #1", "exceeds"});
  }
}

TEST(Container, RejectsMalformedMetadata) {
  expect_error(hand_built({{"META", R"({"a":"1","a":"2"})"}, {"END ", ""}}), {"duplicate", "'a'"});
  expect_error(hand_built({{"META", R"({"a":1})"}, {"END ", ""}}), {"'a'", "string"});
  expect_error(hand_built({{"META", R"({"a":{"b":"c"}})"}, {"END ", ""}}), {"nested"});
  expect_error(hand_built({{"META", R"(["a"])"}, {"END ", ""}}), {"JSON object"});
  expect_error(hand_built({{"META", R"({"a":"1")"}, {"END ", ""}}), {"not valid JSON"});
  expect_error(hand_built({{"META", std::string(100000, '[')}, {"END ", ""}}), {"META"});
  expect_error(hand_built({{"META", ""}, {"END ", ""}}), {"not valid JSON"});
}

// ---- files and atomic writes ----------------------------------------------------------------

class ContainerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vq_container_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Every entry in the directory: a failed write must not leave a temporary behind.
  std::vector<std::string> entries(const fs::path& d) const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

TEST_F(ContainerFiles, FileRoundTripAndOpenErrors) {
  const std::string path = dir_ / "a.vqc";
  sample_writer().write(path);
  const ContainerReader r = ContainerReader::from_file(path);
  EXPECT_EQ(r.name(), path);
  EXPECT_EQ(r.meta(), sample_writer().meta());
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"a.vqc"});

  const auto message = [](const std::string& p) {
    try {
      ContainerReader::from_file(p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(dir_ / "missing.vqc").find("No such file"), std::string::npos);
  EXPECT_NE(message(dir_).find("directory"), std::string::npos);
  std::ofstream(dir_ / "empty.vqc").close();
  EXPECT_NE(message(dir_ / "empty.vqc").find("empty file"), std::string::npos);
}

TEST_F(ContainerFiles, WriteIntoMissingDirectoryFailsCleanly) {
  const std::string path = dir_ / "no" / "such" / "dir.vqc";
  try {
    sample_writer().write(path);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(entries(dir_).empty());
}

TEST_F(ContainerFiles, FailedWriteLeavesExistingFileAndNoTemporary) {
  const std::string path = dir_ / "keep.vqc";
  const std::vector<uint8_t> original = sample_writer().to_bytes();
  write_file_atomic(path, original);

  // A real short write: RLIMIT_FSIZE makes write() fail with EFBIG part-way through, as a full
  // disk would (SIGXFSZ ignored so the process survives). Works even when tests run as root.
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_file_atomic(path, std::vector<uint8_t>(1 << 20, 0x5A));
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("write failed"), std::string::npos) << message;
  EXPECT_EQ(read_file_bytes(path), original);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"keep.vqc"});
}

TEST_F(ContainerFiles, FailedRenameLeavesNoTemporary) {
  // rename() of a file over a non-empty directory fails (EISDIR / ENOTEMPTY) after the data was
  // written: the temporary must still be removed.
  fs::create_directories(dir_ / "target.vqc" / "inside");
  EXPECT_THROW(sample_writer().write(dir_ / "target.vqc"), Error);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"target.vqc"});
  EXPECT_EQ(entries(dir_ / "target.vqc"), std::vector<std::string>{"inside"});
}

TEST_F(ContainerFiles, UnwritableDestinationFailsCleanly) {
  // A destination whose "directory" is a regular file: no temporary file can be made there, for
  // root as for anyone (directory permissions would not stop root).
  std::ofstream(dir_ / "plain") << "not a directory";
  EXPECT_THROW(sample_writer().write(dir_ / "plain" / "x.vqc"), Error);
  EXPECT_EQ(entries(dir_), std::vector<std::string>{"plain"});
}

}  // namespace
}  // namespace vq
