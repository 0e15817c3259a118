// Products from codes equal products with the decoded matrix, at every SIMD level.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/weights_gemv.h"
#include "test_data.h"
#include "vq/core/rng.h"
#include "vq/weights/compress.h"
#include "vq/weights/gemv.h"

namespace vq::weights {
namespace {

// max |a − b| / max |b| over two equal-size arrays.
double rel_gap(const std::vector<double>& ref, const float* got, size_t n) {
  double gap = 0.0, scale = 1e-30;
  for (size_t i = 0; i < n; ++i) {
    gap = std::max(gap, std::fabs(ref[i] - double(got[i])));
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return gap / scale;
}

class ProductFromCodes : public ::testing::TestWithParam<const char*> {};

TEST_P(ProductFromCodes, EqualsTheDecodedMatrixProduct) {
  const size_t rows = 48, cols = 128;
  const Matrix w = testdata::gaussian(rows, cols, 11);
  const CompressedMatrix cm = compress(w.view(), {}, GetParam());
  const Matrix dense = cm.decode();
  for (size_t batch : {1, 3, 16, 21}) {
    const Matrix x = testdata::gaussian(batch, cols, 12 + batch);
    Matrix y(batch, rows);
    matmul(cm, x.view(), y.view());
    std::vector<double> ref(batch * rows, 0.0);
    for (size_t b = 0; b < batch; ++b)
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) ref[b * rows + r] += double(dense(r, c)) * double(x(b, c));
    EXPECT_LT(rel_gap(ref, y.data(), ref.size()), 2e-6) << GetParam() << " batch " << batch;
    if (batch == 1) {
      std::vector<float> y1(rows);
      matvec(cm, x.storage(), y1);
      EXPECT_LT(rel_gap(ref, y1.data(), rows), 2e-6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, ProductFromCodes,
                         ::testing::Values("AQ2x8g8", "AQ2x4g4r3", "AQ1x10g4", "RTN3g32", "RTN2g8", "GPTQ4g16"));

TEST(ProductFromCodes, RejectsWrongShapes) {
  const Matrix w = testdata::gaussian(8, 32, 1);
  const CompressedMatrix cm = compress(w.view(), {}, "RTN4g32");
  std::vector<float> x(31), y(8);
  EXPECT_THROW(matvec(cm, x, y), Error);
}

// The SIMD kernels against the scalar reference on random tables and codes, including tails
// (position counts not a multiple of the vector width) and every batch width.
TEST(AqGemvKernel, SimdLevelsMatchTheReference) {
  Rng rng(5);
  const size_t K = 256, rows = 9;
  for (size_t positions : {1, 7, 16, 37, 128}) {
    for (size_t batch : {1, 2, 8, 9, 16}) {
      std::vector<float> lut(positions * K * batch);
      for (float& v : lut) v = float(rng.normal());
      const size_t stride = positions + 3;
      std::vector<uint8_t> codes(rows * stride);
      for (uint8_t& c : codes) c = uint8_t(rng.below(K));
      kernels::AqGemvArgs a;
      a.lut = lut.data();
      a.positions = positions;
      a.entries = K;
      a.batch = batch;
      a.codes = codes.data();
      a.code_stride = stride;
      a.rows = rows;
      std::vector<float> ref(rows * batch, 1.f);
      a.acc = ref.data();
      kernels::aq_gemv_u8_ref(a);
      std::vector<double> refd(ref.begin(), ref.end());
      using Fn = void (*)(const kernels::AqGemvArgs&);
      std::vector<std::pair<const char*, Fn>> levels;
      if (__builtin_cpu_supports("avx2")) levels.emplace_back("avx2", kernels::detail::aq_gemv_u8_avx2);
      if (__builtin_cpu_supports("avx512f")) levels.emplace_back("avx512", kernels::detail::aq_gemv_u8_avx512);
      levels.emplace_back("dispatch", kernels::aq_gemv_u8);
      for (const auto& [name, fn] : levels) {
        std::vector<float> got(rows * batch, 1.f);
        a.acc = got.data();
        fn(a);
        if (batch > 1) {
          // Batched kernels add each pick in the reference's order: bit-identical.
          EXPECT_EQ(got, ref) << name << " P=" << positions << " B=" << batch;
        } else {
          // Batch 1 sums 8 or 16 lanes, then reduces: re-association only.
          EXPECT_LT(rel_gap(refd, got.data(), got.size()), 1e-5) << name << " P=" << positions;
        }
      }
    }
  }
}

}  // namespace
}  // namespace vq::weights
