// safetensors: round trip, float conversions, and malformed files rejected with vq::Error.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "vq/core/npy.h"
#include "vq/core/rng.h"
#include "vq/weights/safetensors.h"

namespace vq::weights {
namespace {

std::vector<uint8_t> sample_file() {
  SafetensorsWriter w;
  const std::vector<float> a = {1.f, -2.5f, 3.25f, 0.f, 1e-3f, 7.f};
  w.add_float("layer.weight", {2, 3}, a);
  std::vector<uint8_t> h(4 * 2);
  for (size_t i = 0; i < 4; ++i) {
    const uint16_t v = float_to_half(float(i) - 1.5f);
    h[2 * i] = uint8_t(v);
    h[2 * i + 1] = uint8_t(v >> 8);
  }
  w.add("half", DType::kF16, {4}, h);
  w.add("bf", DType::kBF16, {1, 2}, {0x80, 0x3f, 0x00, 0xc0});  // 1.0, -2.0
  w.add("codes", DType::kU8, {3}, {1, 2, 3});
  w.set_metadata("format", "pt");
  return w.to_bytes();
}

std::vector<uint8_t> read_file_bytes_for_test(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file with the given header text and data bytes.
std::vector<uint8_t> raw(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

TEST(Safetensors, RoundTripsEveryDtype) {
  const SafetensorsFile f = SafetensorsFile::from_bytes(sample_file());
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.info("layer.weight").shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(f.read_float("layer.weight"), (std::vector<float>{1.f, -2.5f, 3.25f, 0.f, 1e-3f, 7.f}));
  EXPECT_EQ(f.read_float("half"), (std::vector<float>{-1.5f, -0.5f, 0.5f, 1.5f}));
  EXPECT_EQ(f.read_float("bf"), (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(f.bytes("codes")[2], 3);
  EXPECT_THROW(f.read_float("codes"), Error);
  EXPECT_THROW(f.info("missing"), Error);
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

// The streaming writer: tensors written in the declared order land where the header says; any
// departure from the declaration is an error that leaves neither the file nor a temporary.
TEST(Safetensors, StreamWriterWritesDeclaredTensorsInOrder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vq_stream_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "s.safetensors").string();
  const std::vector<TensorSpec> specs = {{"a", DType::kF32, {2, 2}}, {"b", DType::kU8, {3}}, {"empty", DType::kF16, {0}}};
  const std::vector<float> a = {1.f, 2.f, 3.f, 4.f};
  const std::vector<uint8_t> b = {7, 8, 9};
  {
    SafetensorsStreamWriter w(path, specs, {{"format", "pt"}});
    w.write_float("a", a);
    w.write("b", b);
    w.write("empty", {});
    w.finish();
  }
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.read_float("a"), a);
  EXPECT_EQ(f.bytes("b")[2], 9);
  EXPECT_EQ(f.info("empty").shape, (std::vector<uint64_t>{0}));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // The same tensors through the in-memory writer give the same bytes.
  SafetensorsWriter m;
  m.add_float("a", {2, 2}, a);
  m.add("b", DType::kU8, {3}, b);
  m.add("empty", DType::kF16, {0}, {});
  m.set_metadata("format", "pt");
  const std::vector<uint8_t> streamed = read_file_bytes_for_test(path);
  EXPECT_EQ(streamed, m.to_bytes());

  fs::remove(path);
  auto expect_nothing_left = [&] { EXPECT_TRUE(fs::is_empty(dir)) << "a file or temporary was left behind"; };
  {
    SafetensorsStreamWriter w(path, specs, {});
    EXPECT_THROW(w.write("b", b), Error);  // out of order
  }
  expect_nothing_left();
  {
    SafetensorsStreamWriter w(path, specs, {});
    EXPECT_THROW(w.write("a", b), Error);  // wrong size
  }
  expect_nothing_left();
  {
    SafetensorsStreamWriter w(path, specs, {});
    w.write_float("a", a);
    EXPECT_THROW(w.write_float("b", a), Error);  // not F32
    EXPECT_THROW(w.finish(), Error);             // b and empty missing
  }
  expect_nothing_left();
  EXPECT_THROW(SafetensorsStreamWriter(path, {{"x", DType::kU8, {1}}, {"x", DType::kU8, {1}}}, {}), Error);
  EXPECT_THROW(SafetensorsStreamWriter(path, {{"__metadata__", DType::kU8, {1}}}, {}), Error);
  expect_nothing_left();
  fs::remove_all(dir);
}

TEST(Safetensors, MapsFilesWrittenAtomically) {
  const std::string path = (std::filesystem::temp_directory_path() / "vq_test_st.safetensors").string();
  SafetensorsWriter w;
  const std::vector<float> v(100, 0.5f);
  w.add_float("x", {10, 10}, v);
  w.finish(path);
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.read_float("x"), v);
  std::filesystem::remove(path);
  EXPECT_THROW(SafetensorsFile::open(path), Error);
}

TEST(Safetensors, EveryTruncationIsRejected) {
  const std::vector<uint8_t> good = sample_file();
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + long(n));
    EXPECT_THROW(SafetensorsFile::from_bytes(cut), Error) << "length " << n;
  }
}

TEST(Safetensors, RandomByteFlipsNeverCrash) {
  const std::vector<uint8_t> good = sample_file();
  Rng rng(9);
  size_t rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bad = good;
    const int flips = 1 + int(rng.below(3));
    for (int i = 0; i < flips; ++i) bad[rng.below(bad.size())] ^= uint8_t(1 + rng.below(255));
    try {
      const SafetensorsFile f = SafetensorsFile::from_bytes(bad);
      // Whatever parsed must be readable within bounds.
      for (const TensorInfo& t : f.tensors()) EXPECT_EQ(f.bytes(t.name).size(), t.end - t.begin);
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0u);
}

TEST(Safetensors, MalformedHeadersNameTheProblem) {
  auto message = [](const std::vector<uint8_t>& bytes) {
    try {
      SafetensorsFile::from_bytes(bytes);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::vector<uint8_t> absurd(16, 0);
  absurd[7] = 0x7f;  // header length ~ 2^63
  EXPECT_NE(message(absurd).find("header length"), std::string::npos);
  EXPECT_NE(message(raw("{not json", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_NE(message(raw("[]", 0)).find("not a JSON object"), std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 8)).find("outside"),
            std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)).find("need"), std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8)).find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)).find("non-negative"),
            std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8))
                .find("more bytes"),
            std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        12))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(message(raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)).find("outside"),
            std::string::npos);
  EXPECT_EQ(message(raw(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8)), "accepted");
}

}  // namespace
}  // namespace vq::weights
