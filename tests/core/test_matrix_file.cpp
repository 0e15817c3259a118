// MatrixFile (matrix_file.h): rows read on demand equal the same rows of read_matrix(), for every
// format and element type, and malformed files are refused on open, naming the path.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "error_text.h"
#include "test_data.h"
#include "vq/core/matrix_file.h"
#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

class MatrixFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("vq_matrix_file_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static std::vector<uint8_t> read_file(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void write_bytes(const std::string& p, const std::vector<uint8_t>& bytes) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }

  // Every row range of f equals the same rows of read_matrix().
  static void expect_rows_match(const std::string& p) {
    const Matrix all = read_matrix(p);
    const MatrixFile f(p);
    ASSERT_EQ(f.rows(), all.rows());
    ASSERT_EQ(f.cols(), all.cols());
    for (const auto& [begin, count] : std::vector<std::pair<size_t, size_t>>{{0, all.rows()}, {3, 5}, {all.rows() - 1, 1}, {7, 0}}) {
      const Matrix part = f.read_rows(begin, count);
      ASSERT_EQ(part.rows(), count);
      for (size_t i = 0; i < count; ++i)
        for (size_t j = 0; j < all.cols(); ++j) ASSERT_EQ(part(i, j), all(begin + i, j)) << p << " row " << begin + i;
    }
  }

  fs::path dir_;
};

TEST_F(MatrixFileTest, RowsEqualReadMatrixForEveryFormatAndDType) {
  const Matrix x = testdata::gaussian(40, 6, 3, 20.f);
  write_matrix(path("x.npy"), x.view());
  write_matrix(path("x.fvecs"), x.view());
  expect_rows_match(path("x.npy"));
  expect_rows_match(path("x.fvecs"));
  // Other element types, as numpy would save them.
  for (const NpyDType dtype : {NpyDType::kFloat16, NpyDType::kFloat64, NpyDType::kInt8, NpyDType::kUInt8,
                               NpyDType::kInt16, NpyDType::kUInt16, NpyDType::kInt32, NpyDType::kInt64}) {
    NpyArray a;
    a.dtype = dtype;
    a.shape = {40, 6};
    const size_t item = npy_item_size(dtype);
    a.bytes.resize(240 * item);
    for (size_t i = 0; i < 240; ++i) {
      const auto v = static_cast<int64_t>(x.data()[i]) & 0x7f;  // representable in every type
      if (dtype == NpyDType::kFloat16) {
        const uint16_t h = float_to_half(static_cast<float>(v));
        std::memcpy(a.bytes.data() + i * item, &h, item);
      } else if (dtype == NpyDType::kFloat64) {
        const double dv = static_cast<double>(v);
        std::memcpy(a.bytes.data() + i * item, &dv, item);
      } else {
        std::memcpy(a.bytes.data() + i * item, &v, item);  // little-endian: the low bytes
      }
    }
    const std::string p = path(std::string("t_") + npy_descr(dtype)[1] + std::to_string(item) + ".npy");
    write_npy(p, a);
    expect_rows_match(p);
  }
  // A 1-D array is n × 1, as read_matrix reads it.
  NpyArray v;
  v.shape = {12};
  v.bytes.resize(48);
  write_npy(path("v.npy"), v);
  expect_rows_match(path("v.npy"));
  // .bvecs: bytes per dimension.
  std::vector<uint8_t> b;
  for (int i = 0; i < 20; ++i) {
    const int32_t d = 3;
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(&d), reinterpret_cast<const uint8_t*>(&d) + 4);
    for (int j = 0; j < 3; ++j) b.push_back(static_cast<uint8_t>(i * 7 + j));
  }
  write_bytes(path("x.bvecs"), b);
  expect_rows_match(path("x.bvecs"));
}

TEST_F(MatrixFileTest, RefusesMalformedFilesOnOpen) {
  const Matrix x = testdata::gaussian(10, 4, 1);
  write_matrix(path("x.npy"), x.view());
  write_matrix(path("x.fvecs"), x.view());
  std::vector<uint8_t> npy = read_file(path("x.npy")), fvecs = read_file(path("x.fvecs"));
  npy.pop_back();
  write_bytes(path("short.npy"), npy);
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("short.npy")); }).find("needs 160 data bytes, file has 159"),
            std::string::npos);
  fvecs.pop_back();
  write_bytes(path("short.fvecs"), fvecs);
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("short.fvecs")); }).find("not a whole number of 20-byte records"),
            std::string::npos);
  write_bytes(path("empty.npy"), {});
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("empty.npy")); }).find("empty file"), std::string::npos);
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("missing.npy")); }).find("cannot open"), std::string::npos);
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(dir_.string() + "/x.txt"); }).find("unknown matrix file extension"),
            std::string::npos);
  fs::create_directories(path("dir.npy"));
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("dir.npy")); }).find("directory"), std::string::npos);
  NpyArray cube;
  cube.shape = {2, 2, 2};
  cube.bytes.resize(32);
  write_npy(path("cube.npy"), cube);
  EXPECT_NE(testdata::error_of([&] { MatrixFile f(path("cube.npy")); }).find("expected a 2-D array"), std::string::npos);
}

TEST_F(MatrixFileTest, RefusesRowsOutOfRangeAndRecordsOfAnotherDimension) {
  const Matrix x = testdata::gaussian(10, 4, 1);
  write_matrix(path("x.fvecs"), x.view());
  const MatrixFile f(path("x.fvecs"));
  EXPECT_NE(testdata::error_of([&] { f.read_rows(8, 3); }).find("rows [8, 11) of 10"), std::string::npos);
  // Record 5 claims dimension 3: found when that record is read.
  std::vector<uint8_t> bytes = read_file(path("x.fvecs"));
  const int32_t three = 3;
  std::memcpy(bytes.data() + 5 * 20, &three, 4);
  write_bytes(path("bad.fvecs"), bytes);
  const MatrixFile bad(path("bad.fvecs"));
  EXPECT_EQ(bad.read_rows(0, 5).rows(), size_t{5});
  EXPECT_NE(testdata::error_of([&] { bad.read_rows(4, 2); }).find("record 5 (byte offset 100) has dimension 3"),
            std::string::npos);
}

// Shards read as one matrix: every range, across file boundaries too, is the concatenation's.
TEST_F(MatrixFileTest, ShardsReadAsOneMatrix) {
  const Matrix x = testdata::gaussian(23, 5, 8);
  write_matrix(path("a.npy"), x.view().rows_slice(0, 7));
  write_matrix(path("b.fvecs"), x.view().rows_slice(7, 1));
  write_matrix(path("c.npy"), x.view().rows_slice(8, 15));
  const MatrixFiles shards({path("a.npy"), path("b.fvecs"), path("c.npy")});
  ASSERT_EQ(shards.rows(), size_t{23});
  ASSERT_EQ(shards.cols(), size_t{5});
  for (size_t begin = 0; begin < 23; ++begin)
    for (size_t count = 0; begin + count <= 23; count += 3) {
      const Matrix part = shards.read_rows(begin, count);
      for (size_t i = 0; i < count; ++i)
        for (size_t j = 0; j < 5; ++j) ASSERT_EQ(part(i, j), x(begin + i, j)) << begin << "+" << i;
    }
  const std::vector<size_t> at{0, 6, 7, 8, 9, 22};
  const Matrix picked = shards.read_rows_at(at);
  for (size_t p = 0; p < at.size(); ++p)
    for (size_t j = 0; j < 5; ++j) EXPECT_EQ(picked(p, j), x(at[p], j));
  write_matrix(path("d.npy"), testdata::gaussian(4, 6, 1).view());
  EXPECT_NE(testdata::error_of([&] { MatrixFiles({path("a.npy"), path("d.npy")}); }).find("every shard must have the same dimension"),
            std::string::npos);
  EXPECT_NE(testdata::error_of([&] { MatrixFiles({}); }).find("no matrix files"), std::string::npos);
}

TEST_F(MatrixFileTest, ShardListsResolveRelativeToTheManifest) {
  std::ofstream(path("list.txt")) << "# shards\na.npy\n\n  sub/b.npy  \n/abs/c.npy\n";
  EXPECT_EQ(read_shard_list(path("list.txt")),
            (std::vector<std::string>{path("a.npy"), path("sub/b.npy"), "/abs/c.npy"}));
  std::ofstream(path("empty.txt")) << "# nothing\n";
  EXPECT_NE(testdata::error_of([&] { read_shard_list(path("empty.txt")); }).find("lists no matrix files"),
            std::string::npos);
  EXPECT_NE(testdata::error_of([&] { read_shard_list(path("none.txt")); }).find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace vq
