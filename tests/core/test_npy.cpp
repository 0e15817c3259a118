// .npy I/O (npy.h), float16 conversion and matrix files (matrix_io.h). Headers are built by hand
// from the numpy format spec, not from our writer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

// Preamble + header exactly as numpy.lib.format writes version 1.0: magic, 1, 0, u16 HLEN, the
// dict, spaces, '\n', with 10 + HLEN a multiple of 64.
std::vector<uint8_t> numpy_v1(const std::string& dict, const std::vector<uint8_t>& data) {
  const size_t hlen = (10 + dict.size() + 1 + 63) / 64 * 64 - 10;
  std::string header = dict + std::string(hlen - dict.size() - 1, ' ') + "\n";
  // Built as a string: GCC 12 mis-reports -Warray-bounds on vector<uint8_t> initializer + insert.
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(hlen & 0xFF);
  bytes += static_cast<char>(hlen >> 8);
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
  return {bytes.begin(), bytes.end()};
}

template <class T>
std::vector<uint8_t> raw(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

void expect_error(const std::vector<uint8_t>& bytes, const char* fragment) {
  try {
    read_npy_from_bytes(bytes, "t.npy");
    ADD_FAILURE() << "no error; expected '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Npy, ReadsAndWritesTheNumpyByteLayout) {
  const std::vector<float> values = {1, 2, 3, 4, 5, -6.5f};
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  const std::vector<uint8_t> file = numpy_v1(dict, raw(values));
  ASSERT_EQ(file.size(), 128u + 24u);  // 10 + 118 header bytes, then 6 floats
  EXPECT_EQ(file[8], 118);
  EXPECT_EQ(file[127], '\n');

  const NpyArray a = read_npy_from_bytes(file);
  EXPECT_EQ(a.dtype, NpyDType::kFloat32);
  EXPECT_EQ(a.shape, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(a.bytes, raw(values));
  EXPECT_EQ(npy_to_bytes(a), file);

  // numpy >= 1.23 adds spaces after the dict for in-place growth; 1-D shapes are "(n,)" and
  // one-byte types use '|'.
  const std::string grown = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }" + std::string(20, ' ');
  const NpyArray b = read_npy_from_bytes(numpy_v1(grown, {7, 8, 9}));
  EXPECT_EQ(b.dtype, NpyDType::kUInt8);
  EXPECT_EQ(b.shape, std::vector<size_t>{3});
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{7, 8, 9}));
  NpyArray c = b;
  EXPECT_EQ(npy_to_bytes(c), numpy_v1("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", {7, 8, 9}));

  // 0-d scalar: shape ().
  const NpyArray s = read_npy_from_bytes(
      numpy_v1("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", raw(std::vector<int64_t>{-5})));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.count(), 1u);
}

TEST(Npy, ReadsVersion2Headers) {
  const std::string dict = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
  const size_t hlen = (12 + dict.size() + 1 + 63) / 64 * 64 - 12;
  std::vector<uint8_t> file = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0,
                               static_cast<uint8_t>(hlen), 0, 0, 0};
  const std::string header = dict + std::string(hlen - dict.size() - 1, ' ') + "\n";
  file.insert(file.end(), header.begin(), header.end());
  const std::vector<uint8_t> data = raw(std::vector<int16_t>{-3, 300});
  file.insert(file.end(), data.begin(), data.end());
  const NpyArray a = read_npy_from_bytes(file);
  EXPECT_EQ(a.dtype, NpyDType::kInt16);
  EXPECT_EQ(a.bytes, data);
}

TEST(Npy, EveryDTypeRoundTripsThroughAFile) {
  char tmpl[] = "/tmp/vq_npy_test_XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  Rng rng(3);
  for (NpyDType t : {NpyDType::kFloat16, NpyDType::kFloat32, NpyDType::kFloat64, NpyDType::kInt8,
                     NpyDType::kUInt8, NpyDType::kInt16, NpyDType::kUInt16, NpyDType::kInt32,
                     NpyDType::kInt64}) {
    for (const std::vector<size_t>& shape : std::vector<std::vector<size_t>>{{}, {0}, {5}, {3, 4}, {2, 0, 3}, {2, 3, 4}}) {
      NpyArray a;
      a.dtype = t;
      a.shape = shape;
      a.bytes.resize(a.count() * npy_item_size(t));
      for (auto& b : a.bytes) b = static_cast<uint8_t>(rng.below(256));
      const std::string path = dir / "a.npy";
      write_npy(path, a);
      const NpyArray back = read_npy(path);
      EXPECT_EQ(back.dtype, t) << npy_descr(t);
      EXPECT_EQ(back.shape, shape);
      EXPECT_EQ(back.bytes, a.bytes);
      const std::vector<uint8_t> bytes = npy_to_bytes(a);
      const size_t hlen = bytes[8] | (bytes[9] << 8);
      EXPECT_EQ((10 + hlen) % 64, 0u);
    }
  }
  fs::remove_all(dir);
}

TEST(Npy, RejectsWhatItDoesNotSupport) {
  const auto file = [](const std::string& descr, const std::string& fortran, const std::string& shape,
                       size_t data_bytes) {
    return numpy_v1("{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }",
                    std::vector<uint8_t>(data_bytes, 0));
  };
  EXPECT_NO_THROW(read_npy_from_bytes(file("<f4", "False", "(2, 2)", 16)));
  expect_error(file(">f4", "False", "(2, 2)", 16), "big-endian");
  expect_error(file("<f4", "True", "(2, 2)", 16), "Fortran");
  expect_error(file("|O", "False", "(2,)", 16), "object");
  expect_error(file("<c8", "False", "(2,)", 16), "unsupported dtype");
  expect_error(file("<U3", "False", "(2,)", 24), "unsupported dtype");
  expect_error(file("<f4", "False", "(2, 2)", 15), "needs 16 data bytes");
  expect_error(file("<f4", "False", "(2, 2)", 17), "needs 16 data bytes");
  expect_error(file("<f4", "False", "(4294967296, 4294967296, 4294967296)", 0), "overflows");
  expect_error(file("<f4", "False", "(99999999999999999999999,)", 0), "too large");
  expect_error(numpy_v1("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", {0, 0, 0, 0}),
               "structured");
  expect_error(numpy_v1("{'descr': '<f4', 'fortran_order': False, }", {}), "must have");
  expect_error(numpy_v1("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", {}),
               "twice");
  expect_error(numpy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", {}),
               "unexpected header key");
  expect_error(numpy_v1("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }", {}), "True or False");
  expect_error(numpy_v1("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", {}), "after the header");

  std::vector<uint8_t> good = file("<f4", "False", "(1,)", 4);
  std::vector<uint8_t> magic = good;
  magic[1] = 'n';
  expect_error(magic, "bad magic");
  std::vector<uint8_t> version = good;
  version[6] = 4;
  expect_error(version, "version 4.0");
  std::vector<uint8_t> long_header = good;
  long_header[9] = 0xFF;  // HLEN beyond the file
  expect_error(long_header, "exceeds");
  expect_error({}, "empty");
}

// Nearest half to a float by exhaustive search over all finite halves, ties to even mantissa;
// magnitudes at or beyond 65520 (half-way between 65504 and 2^16) become infinity.
uint16_t reference_half(float f, const std::vector<std::pair<double, uint16_t>>& table) {
  const double v = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (v >= 65520.0) return sign | 0x7c00;
  auto hi = std::lower_bound(table.begin(), table.end(), std::make_pair(v, uint16_t{0}));
  if (hi->first == v) return sign | hi->second;
  const auto lo = hi - 1;
  const double dl = v - lo->first, dh = hi->first - v;
  if (dl < dh) return sign | lo->second;
  if (dh < dl) return sign | hi->second;
  return sign | ((lo->second & 1) ? hi->second : lo->second);
}

TEST(Float16, EveryHalfSurvivesARoundTripThroughFloat) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = half_to_float(static_cast<uint16_t>(h));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0;
    if (nan) {
      EXPECT_TRUE(std::isnan(f)) << h;
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f)))) << h;
    } else {
      ASSERT_EQ(float_to_half(f), h) << "half 0x" << std::hex << h;
    }
  }
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0xfc00), -INFINITY);
}

TEST(Float16, FloatToHalfRoundsToNearestEven) {
  std::vector<std::pair<double, uint16_t>> table;
  for (uint16_t h = 0; h < 0x7c00; ++h) table.emplace_back(half_to_float(h), h);
  table.emplace_back(65536.0, 0x7c00);  // sentinel above the largest finite half
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);       // tie, even stays
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);   // tie, rounds up to even
  EXPECT_EQ(float_to_half(65519.99f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);               // tie to even (0)
  EXPECT_EQ(float_to_half(3 * std::ldexp(1.0f, -26)), 0x0001);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1e-30f), 0x0000);
  EXPECT_EQ(float_to_half(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_half(-1e10f), 0xfc00);
  Rng rng(5);
  for (int i = 0; i < 200000; ++i) {
    // Random bit patterns over the exponents that matter (2^-26 .. 2^17), plus random signs.
    const uint32_t exponent = 101 + static_cast<uint32_t>(rng.below(43));
    const uint32_t bits = (static_cast<uint32_t>(rng.below(2)) << 31) | (exponent << 23) |
                          static_cast<uint32_t>(rng.below(1u << 23));
    const float f = std::bit_cast<float>(bits);
    ASSERT_EQ(float_to_half(f), reference_half(f, table)) << f;
  }
}

class MatrixFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vq_matrix_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return dir_ / name; }
  void write_bytes(const std::string& p, const std::vector<uint8_t>& b) const {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  fs::path dir_;
};

Matrix sample_matrix() {
  Matrix m(5, 3);
  for (size_t i = 0; i < 5; ++i)
    for (size_t j = 0; j < 3; ++j) m(i, j) = static_cast<float>(i) * 10.f - static_cast<float>(j) / 4.f;
  return m;
}

TEST_F(MatrixFiles, NpyAndFvecsRoundTrip) {
  const Matrix m = sample_matrix();
  for (const char* name : {"m.npy", "m.fvecs", "M.FVECS"}) {
    write_matrix(path(name), m);
    const Matrix back = read_matrix(path(name));
    ASSERT_EQ(back.rows(), 5u);
    ASSERT_EQ(back.cols(), 3u);
    EXPECT_EQ(back.storage(), m.storage()) << name;
  }
  EXPECT_EQ(fs::file_size(path("m.fvecs")), 5u * (4 + 12));
  EXPECT_THROW(write_matrix(path("m.txt"), m), Error);
  EXPECT_THROW(read_matrix(path("m.txt")), Error);
}

TEST_F(MatrixFiles, NpyMatrixConvertsDTypesAndRanks) {
  NpyArray a;
  a.dtype = NpyDType::kInt16;
  a.shape = {2, 2};
  a.bytes = raw(std::vector<int16_t>{-1, 2, 300, -32768});
  write_npy(path("i.npy"), a);
  EXPECT_EQ(read_matrix(path("i.npy")).storage(), (std::vector<float>{-1, 2, 300, -32768}));
  a.dtype = NpyDType::kFloat16;
  a.bytes = raw(std::vector<uint16_t>{0x3c00, 0xc000, 0x7bff, 0x0001});
  write_npy(path("h.npy"), a);
  EXPECT_EQ(read_matrix(path("h.npy")).storage(),
            (std::vector<float>{1.f, -2.f, 65504.f, std::ldexp(1.f, -24)}));
  a.shape = {4};  // 1-D: n scalar samples, n×1
  write_npy(path("v.npy"), a);
  const Matrix v = read_matrix(path("v.npy"));
  EXPECT_EQ(v.rows(), 4u);
  EXPECT_EQ(v.cols(), 1u);
  a.shape = {1, 2, 2};
  write_npy(path("t.npy"), a);
  EXPECT_THROW(read_matrix(path("t.npy")), Error);
}

TEST_F(MatrixFiles, VecsFormatsAreValidated) {
  // bvecs by hand: two records of d = 2.
  write_bytes(path("b.bvecs"), {2, 0, 0, 0, 1, 255, 2, 0, 0, 0, 3, 4});
  EXPECT_EQ(read_matrix(path("b.bvecs")).storage(), (std::vector<float>{1, 255, 3, 4}));
  write_bytes(path("bad.bvecs"), {2, 0, 0, 0, 1, 255, 3, 0, 0, 0, 3, 4});
  EXPECT_THROW(read_matrix(path("bad.bvecs")), Error);  // second record claims d = 3
  write_bytes(path("short.fvecs"), {1, 0, 0, 0, 0, 0, 128, 63, 1, 0, 0});
  EXPECT_THROW(read_matrix(path("short.fvecs")), Error);  // truncated second record
  write_bytes(path("neg.fvecs"), {0xff, 0xff, 0xff, 0xff});
  EXPECT_THROW(read_matrix(path("neg.fvecs")), Error);
  write_bytes(path("empty.fvecs"), {});
  EXPECT_THROW(read_matrix(path("empty.fvecs")), Error);
  EXPECT_THROW(read_matrix(path("missing.fvecs")), Error);
}

TEST_F(MatrixFiles, CodesUseTheSmallestUnsignedDType) {
  Codes narrow(3, {8, 4});
  narrow(0, 0) = 255, narrow(1, 1) = 15, narrow(2, 0) = 7;
  write_codes_npy(path("c8.npy"), narrow);
  const NpyArray a = read_npy(path("c8.npy"));
  EXPECT_EQ(a.dtype, NpyDType::kUInt8);
  EXPECT_EQ(a.shape, (std::vector<size_t>{3, 2}));
  EXPECT_EQ(read_codes_npy(path("c8.npy"), narrow.bits).data, narrow.data);

  Codes wide(2, {12, 4});
  wide(0, 0) = 4095, wide(1, 1) = 9;
  write_codes_npy(path("c16.npy"), wide);
  EXPECT_EQ(read_npy(path("c16.npy")).dtype, NpyDType::kUInt16);
  EXPECT_EQ(read_codes_npy(path("c16.npy"), wide.bits).data, wide.data);
  EXPECT_THROW(read_codes_npy(path("c16.npy"), {12, 3}), Error);     // 9 does not fit 3 bits
  EXPECT_THROW(read_codes_npy(path("c16.npy"), {12, 4, 4}), Error);  // wrong M

  NpyArray tokens;  // int64 tokens, as torch / numpy hand them over
  tokens.dtype = NpyDType::kInt64;
  tokens.shape = {1, 2};
  tokens.bytes = raw(std::vector<int64_t>{3, 1});
  write_npy(path("i64.npy"), tokens);
  EXPECT_EQ(read_codes_npy(path("i64.npy"), {2, 2}).data, (std::vector<uint16_t>{3, 1}));
  tokens.bytes = raw(std::vector<int64_t>{3, -1});
  write_npy(path("neg.npy"), tokens);
  EXPECT_THROW(read_codes_npy(path("neg.npy"), {2, 2}), Error);
  tokens.dtype = NpyDType::kFloat64;
  tokens.bytes = raw(std::vector<double>{3, 1});
  write_npy(path("f.npy"), tokens);
  EXPECT_THROW(read_codes_npy(path("f.npy"), {2, 2}), Error);
}

}  // namespace
}  // namespace vq
