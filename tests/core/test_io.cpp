// Saving and loading quantizers and codes (io.h): a loaded quantizer is the same function as the
// saved one, the self-test catches state that does not reproduce its codes, and malformed
// files are rejected with vq::Error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test_data.h"
#include "util/atomic_file.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

void expect_same_function(const Quantizer& a, const Quantizer& b) {
  EXPECT_EQ(a.describe(), b.describe());
  EXPECT_EQ(a.dim(), b.dim());
  EXPECT_EQ(a.book_bits(), b.book_bits());
  const Matrix x = testdata::clustered(300, a.dim(), 77, 16);
  const Codes ca = a.encode(x), cb = b.encode(x);
  EXPECT_EQ(ca.bits, cb.bits);
  EXPECT_EQ(ca.data, cb.data);
  EXPECT_EQ(a.decode(ca).storage(), b.decode(ca).storage());  // bit-identical reconstruction
}

class QuantizerIo : public ::testing::TestWithParam<const char*> {};

TEST_P(QuantizerIo, BytesAndFileRoundTripGiveTheSameQuantizer) {
  const auto q = testdata::trained_quantizer(GetParam(), 16, 5);
  const std::vector<uint8_t> bytes = quantizer_to_bytes(*q);
  const auto from_bytes = quantizer_from_bytes(bytes);
  expect_same_function(*q, *from_bytes);

  char tmpl[] = "/tmp/vq_io_test_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/q.vqc";
  save_quantizer(path, *q, {{"app.note", "hello"}});
  const auto loaded = load_quantizer(path);
  expect_same_function(*q, *loaded);
  const ContainerReader r = ContainerReader::from_file(path);
  EXPECT_EQ(r.meta_at("vq.kind"), "quantizer");
  EXPECT_EQ(r.meta_at("quantizer.spec"), q->describe());
  EXPECT_EQ(r.meta_at("quantizer.dim"), "16");
  EXPECT_EQ(r.meta_at("app.note"), "hello");
  EXPECT_FALSE(r.meta_at("vq.tool_version").empty());
  // The self-test carries samples (a decoded point of a trained quantizer is rarely on a
  // decision boundary) and the same bytes come out of a second save: saving is deterministic.
  ByteReader self = r.chunk("SELF");
  EXPECT_GT(self.u32(), 0u);
  EXPECT_EQ(quantizer_to_bytes(*loaded), bytes);
  fs::remove_all(tmpl);
}

INSTANTIATE_TEST_SUITE_P(Specs, QuantizerIo,
                         ::testing::Values("PQ4x4", "PQ2x8", "RVQ2x4", "RVQ2x4b4", "VQ6", "SQ8",
                                           "SQ4g8", "NF4", "AQ2x4", "GRVQ2x2x4"));

// Rebuilds a container, replacing one chunk type's payloads by another file's.
std::vector<uint8_t> with_chunk_from(const std::vector<uint8_t>& target,
                                     const std::vector<uint8_t>& donor, const std::string& type) {
  const ContainerReader t = ContainerReader::from_bytes(target);
  const ContainerReader d = ContainerReader::from_bytes(donor);
  ContainerWriter w;
  for (const auto& [k, v] : t.meta()) w.set_meta(k, v);
  std::map<std::string, size_t> seen;
  for (const auto& c : t.chunks()) {
    const ContainerReader& src = c.type == type ? d : t;
    const Span<const uint8_t> p = src.payload(c.type, seen[c.type]++);
    w.add(c.type, {p.begin(), p.end()});
  }
  return w.to_bytes();
}

TEST(QuantizerIoErrors, SelfTestCatchesStateThatDoesNotReproduceItsCodes) {
  // Codebooks of one training run with the self-test samples of another: every chunk is
  // intact (CRCs pass), only the state and samples disagree.
  const auto a = testdata::trained_quantizer("PQ4x4", 16, 1);
  const auto b = testdata::trained_quantizer("PQ4x4", 16, 2);
  const std::vector<uint8_t> mixed = with_chunk_from(quantizer_to_bytes(*a), quantizer_to_bytes(*b), "SELF");
  try {
    quantizer_from_bytes(mixed);
    ADD_FAILURE() << "mismatched self-test accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("self-test failed"), std::string::npos) << e.what();
  }
}

TEST(QuantizerIoErrors, RejectsBadFilesAndArguments) {
  EXPECT_THROW(quantizer_to_bytes(*make_quantizer("PQ4x4", 16)), Error);  // untrained
  const auto q = testdata::trained_quantizer("RVQ2x4", 16, 3);
  EXPECT_THROW(save_quantizer("/tmp/unused.vqc", *q, {{"quantizer.dim", "8"}}), Error);

  const ContainerReader good = ContainerReader::from_bytes(quantizer_to_bytes(*q));
  const auto rebuilt = [&](const std::string& key, const std::string& value, bool drop_self = false) {
    ContainerWriter w;
    for (const auto& [k, v] : good.meta()) w.set_meta(k, v);
    if (!key.empty()) w.set_meta(key, value);
    for (const auto& c : good.chunks()) {
      if (drop_self && c.type == "SELF") continue;
      const Span<const uint8_t> p = good.payload(c.type);
      w.add(c.type, {p.begin(), p.end()});
    }
    return w.to_bytes();
  };
  EXPECT_NO_THROW(quantizer_from_bytes(rebuilt("", "")));
  EXPECT_THROW(quantizer_from_bytes(rebuilt("vq.kind", "codes")), Error);
  EXPECT_THROW(quantizer_from_bytes(rebuilt("quantizer.dim", "sixteen")), Error);
  EXPECT_THROW(quantizer_from_bytes(rebuilt("quantizer.dim", "0")), Error);
  EXPECT_THROW(quantizer_from_bytes(rebuilt("quantizer.dim", "99999999999999999999")), Error);
  EXPECT_THROW(quantizer_from_bytes(rebuilt("quantizer.dim", "8")), Error);  // state for d = 16
  EXPECT_THROW(quantizer_from_bytes(rebuilt("quantizer.spec", "XYZ3")), Error);
  EXPECT_THROW(quantizer_from_bytes(rebuilt("", "", true)), Error);  // no SELF chunk
}

TEST(CodesIo, RoundTripWithMixedWidthsAndRejections) {
  Codes codes(7, {1, 4, 8, 11, 16});
  for (size_t i = 0; i < codes.data.size(); ++i)
    codes.data[i] = static_cast<uint16_t>((i * 2654435761u) % (size_t{1} << codes.bits[i % 5]));
  ContainerWriter w;
  w.set_meta("vq.kind", "codes");
  write_codes(w, codes);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const Codes back = read_codes(ContainerReader::from_bytes(bytes));
  EXPECT_EQ(back.n, codes.n);
  EXPECT_EQ(back.bits, codes.bits);
  EXPECT_EQ(back.data, codes.data);

  const auto payload_variant = [](std::vector<uint8_t> p) {
    ContainerWriter v;
    v.add("CODE", std::move(p));
    return read_codes(ContainerReader::from_bytes(v.to_bytes()));
  };
  const ContainerReader reader = ContainerReader::from_bytes(bytes);
  const Span<const uint8_t> good = reader.payload("CODE");
  std::vector<uint8_t> p(good.begin(), good.end());
  EXPECT_NO_THROW(payload_variant(p));
  std::vector<uint8_t> more_n = p;
  more_n[0] = 8;  // claims 8 vectors, holds 7
  EXPECT_THROW(payload_variant(more_n), Error);
  std::vector<uint8_t> trailing = p;
  trailing.push_back(0);
  EXPECT_THROW(payload_variant(trailing), Error);
  std::vector<uint8_t> bad_width = p;
  bad_width[12] = 17;
  EXPECT_THROW(payload_variant(bad_width), Error);
  std::vector<uint8_t> no_books = p;
  std::fill(no_books.begin() + 8, no_books.begin() + 12, 0);
  EXPECT_THROW(payload_variant(no_books), Error);
  EXPECT_THROW(read_codes(ContainerReader::from_bytes(ContainerWriter().to_bytes())), Error);
}

// CodesFileWriter, fed in chunks of every size, writes save_codes' file byte for byte; a writer
// that stops early, or is given too much, leaves no file.
TEST(CodesIo, StreamedFileEqualsSaveCodes) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vq_codes_stream_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const Matrix x = testdata::clustered(300, 16, 4, 8);
  for (const char* spec : {"PQ4x8", "PQ8x4", "RVQ3x5"}) {
    const auto q = testdata::trained_quantizer(spec, 16, 2, 3);
    const Codes codes = q->encode(x);
    const std::string whole = (dir / "whole.vqc").string();
    save_codes(whole, *q, codes, "x.npy");
    const std::vector<uint8_t> expected = read_file_bytes(whole);
    for (const size_t chunk : {size_t{1}, size_t{7}, size_t{300}}) {
      const std::string streamed = (dir / "streamed.vqc").string();
      CodesFileWriter w(streamed, *q, codes.n, "x.npy");
      for (size_t at = 0; at < codes.n; at += chunk) {
        const size_t m = std::min(chunk, codes.n - at);
        Codes part(m, codes.bits);
        std::copy_n(codes.data.begin() + at * codes.num_books(), m * codes.num_books(), part.data.begin());
        w.append(part);
      }
      w.finish();
      EXPECT_EQ(read_file_bytes(streamed), expected) << spec << " in chunks of " << chunk;
    }
    const std::string partial = (dir / "partial.vqc").string();
    {
      CodesFileWriter w(partial, *q, codes.n, "x.npy");
      w.append(codes);
      Codes extra(1, codes.bits);
      EXPECT_THROW(w.append(extra), Error);
    }
    {
      CodesFileWriter w(partial, *q, codes.n + 1, "x.npy");
      w.append(codes);
      EXPECT_THROW(w.finish(), Error);
    }
    EXPECT_FALSE(std::filesystem::exists(partial)) << spec;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace vq
