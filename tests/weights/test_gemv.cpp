// Products from codes equal products with the decoded matrix, at every SIMD level.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

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
                         ::testing::Values("AQ2x8d8", "AQ2x4d4c3", "AQ1x10d4", "RTN3g32", "RTN2g8", "GPTQ4g16"));

TEST(ProductFromCodes, RejectsWrongShapes) {
  const Matrix w = testdata::gaussian(8, 32, 1);
  const CompressedMatrix cm = compress(w.view(), {}, "RTN4g32");
  std::vector<float> x(31), y(8);
  EXPECT_THROW(matvec(cm, x, y), Error);
}

// An AQ matrix with random codes, codebooks and scales (the kernels do not care how they were
// found, and random ones cost no compression time).
CompressedMatrix random_aq(const char* scheme, size_t rows, size_t cols, uint64_t seed) {
  CompressedMatrix cm;
  cm.scheme = Scheme::parse(scheme);
  cm.rows = rows;
  cm.cols = cols;
  Rng rng(seed);
  cm.codes.resize(rows * cm.row_code_bytes());
  for (uint8_t& c : cm.codes) c = uint8_t(rng.below(size_t{1} << cm.scheme.bits));
  cm.codebooks.resize(cm.codebook_floats());
  for (float& v : cm.codebooks) v = float(rng.normal());
  cm.scales.resize(rows);
  for (float& s : cm.scales) s = float(0.5 + rng.uniform());
  cm.group_begin = {0, uint32_t(rows)};
  cm.validate();
  return cm;
}

// int8 tables: every output within the provable bound of the float product,
// scale_r · Σ_tiles (tables in tile) · s_tile / 2, with s_tile = the widest table range / 255.
TEST(ProductFromCodes, Int8TablesStayWithinTheirErrorBound) {
  const size_t rows = 70, cols = 256;
  for (const char* scheme : {"AQ2x8d8", "AQ1x7d4", "AQ2x6d8"}) {
    const CompressedMatrix cm = random_aq(scheme, rows, cols, 21);
    const size_t M = cm.scheme.books, K = size_t{1} << cm.scheme.bits, g = cm.scheme.group;
    const size_t P = cols / g * M;
    const Matrix x = testdata::gaussian(3, cols, 22);
    Matrix y(3, rows), y8(3, rows);
    GemvKernel(cm).matmul(x.view(), y.view());
    const GemvKernel k8(cm, LutPrecision::kInt8);
    EXPECT_EQ(k8.precision(), LutPrecision::kInt8);
    k8.matmul(x.view(), y8.view());
    double err = 0, norm = 0;
    for (size_t b = 0; b < 3; ++b) {
      double bound = 0;  // Σ_tiles np · s / 2, before the row scale
      for (size_t p0 = 0; p0 < P; p0 += kInt8TilePositions) {
        double range = 0;
        const size_t np = std::min(kInt8TilePositions, P - p0);
        for (size_t p = p0; p < p0 + np; ++p) {
          double lo = 1e30, hi = -1e30;
          for (size_t k = 0; k < K; ++k) {
            double v = 0;
            for (size_t t = 0; t < g; ++t)
              v += double(cm.codebooks[((p % M) * K + k) * g + t]) * x(b, (p / M) * g + t);
            lo = std::min(lo, v);
            hi = std::max(hi, v);
          }
          range = std::max(range, hi - lo);
        }
        bound += double(np) * range / 255.0 / 2.0;
      }
      for (size_t r = 0; r < rows; ++r) {
        const double gap = std::fabs(double(y8(b, r)) - double(y(b, r)));
        EXPECT_LE(gap, cm.scales[r] * bound * 1.001 + 1e-5 * std::fabs(y(b, r))) << scheme << " row " << r;
        err += gap * gap;
        norm += double(y(b, r)) * y(b, r);
      }
    }
    EXPECT_LT(std::sqrt(err / norm), 0.02) << scheme;  // and far below the bound in practice
  }
}

// Inputs with outlier channels (one group in 16 a thousand times larger, as in an MLP
// down-projection): the outlier groups' tables (2 of each tile's 32) take the wide scale, so the
// other tables keep their resolution and the error is the wide tables' own rounding, ≈ 0.6 % of
// ‖y‖ (a 256-entry table spans ≈ 5.5 of its standard deviations: 5.5 / 255 / √12). On one
// scale per tile the 30 normal tables would round on the outliers' step too: ≈ √16 × that.
TEST(ProductFromCodes, Int8TablesKeepTheirResolutionBesideOutlierInputs) {
  const size_t rows = 128, cols = 1024;
  const CompressedMatrix cm = random_aq("AQ2x8d8", rows, cols, 31);
  Matrix x = testdata::gaussian(4, cols, 32);
  for (size_t b = 0; b < 4; ++b)
    for (size_t c = 0; c < cols; ++c)
      if (c / 8 % 16 == 5) x(b, c) *= 1000.f;
  Matrix y(4, rows), y8(4, rows);
  GemvKernel(cm).matmul(x.view(), y.view());
  GemvKernel(cm, LutPrecision::kInt8).matmul(x.view(), y8.view());
  double err = 0, norm = 0;
  for (size_t i = 0; i < y.storage().size(); ++i) {
    const double gap = double(y8.storage()[i]) - y.storage()[i];
    err += gap * gap;
    norm += double(y.storage()[i]) * y.storage()[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.01);
}

TEST(ProductFromCodes, PreparedKernelRejectsWrongShapes) {
  const GemvKernel k(random_aq("AQ1x4d4", 8, 32, 1));
  std::vector<float> x(32), y(7);
  EXPECT_THROW(k.matvec(x, y), Error);
}

std::vector<std::pair<const char*, bool>> simd_levels() {
  return {{"avx2", simd_cpu_level() >= SimdLevel::kAvx2}, {"avx512", simd_cpu_level() >= SimdLevel::kAvx512}};
}

// Float tables: every SIMD level sums each row's picks in the reference's order, so its bits
// equal the reference's, for every batch width and tile length.
TEST(AqGemvKernel, FloatTablesMatchTheReferenceBitForBit) {
  Rng rng(5);
  const size_t K = 256;
  for (size_t positions : {1, 7, 16, 37}) {
    for (size_t batch : {1, 2, 8, 9, 16}) {
      std::vector<float> lut(positions * K * batch);
      for (float& v : lut) v = float(rng.normal());
      std::vector<uint8_t> codes(positions * kernels::kRowBlock);
      for (uint8_t& c : codes) c = uint8_t(rng.below(K));
      kernels::AqFloatArgs a;
      a.lut = lut.data();
      a.positions = positions;
      a.entries = K;
      a.batch = batch;
      a.codes = codes.data();
      std::vector<float> ref(kernels::kRowBlock * batch, 1.f);
      a.acc = ref.data();
      kernels::aq_float_u8_ref(a);
      using Fn = void (*)(const kernels::AqFloatArgs&);
      const Fn fns[] = {kernels::avx2::aq_float_u8, kernels::avx512::aq_float_u8};
      for (size_t l = 0; l < 2; ++l) {
        if (!simd_levels()[l].second) continue;
        std::vector<float> got(ref.size(), 1.f);
        a.acc = got.data();
        fns[l](a);
        EXPECT_EQ(got, ref) << simd_levels()[l].first << " P=" << positions << " B=" << batch;
      }
    }
  }
}

// uint8 tables: integer sums are exact, so the VBMI kernel returns the reference's bits, for
// tables of 64, 128 and 256 entries (through the dispatcher: on a CPU
// without VBMI it is the reference itself).
TEST(AqGemvKernel, Int8TablesMatchTheReferenceBitForBit) {
  Rng rng(6);
  for (size_t stride : {64, 128, 256}) {
    for (size_t positions : {1, 7, 32, 64}) {
        std::vector<uint8_t> lut(positions * stride), codes(positions * kernels::kRowBlock);
        for (uint8_t& v : lut) v = uint8_t(rng.below(256));
        for (uint8_t& c : codes) c = uint8_t(rng.below(stride));
        kernels::AqInt8Args a;
        a.lut = lut.data();
        a.stride = stride;
        a.positions = positions;
        a.codes = codes.data();
        a.scale = 0.37f;
        a.wide_scale = 41.3f;
        a.wide = rng.next() & (positions == 64 ? ~uint64_t{0} : (uint64_t{1} << positions) - 1);
        std::vector<float> ref(kernels::kRowBlock, 0.5f), got = ref;
        a.acc = ref.data();
        kernels::aq_int8_ref(a);
        a.acc = got.data();
        kernels::aq_int8(a);
        EXPECT_EQ(got, ref) << "stride " << stride << " P=" << positions;
    }
  }
}

// Building and quantising a tile: the dispatched (AVX-512) kernel returns the reference's float
// tables, bytes, scale and Σ minima; the reference's tables are the codebook entries' dot products
// (within float rounding) and every byte is within s/2 of its table value minus the table minimum.
TEST(AqGemvKernel, Int8TileBuildMatchesTheReference) {
  Rng rng(8);
  for (size_t K : {8, 16, 64, 256}) {
    for (size_t M : {1, 2}) {
      for (size_t g : {4, 8}) {
        for (size_t np : {1, 5, 32}) {
          const size_t p0 = 3, cols = (p0 + np + M - 1) / M * g;
          std::vector<float> trans(M * g * K), x(cols);
          for (float& v : trans) v = float(rng.normal());
          for (size_t c = 0; c < cols; ++c) x[c] = float((c % 5 + 1) * rng.normal() + 0.5 * c);  // uneven ranges
          const size_t stride = std::max<size_t>(64, K);
          std::vector<float> ref_tab(np * K, -1.f), got_tab = ref_tab;
          std::vector<uint8_t> ref(np * stride, 7), got = ref;
          kernels::Int8TileBuild a;
          a.trans = trans.data();
          a.x = x.data();
          a.books = M;
          a.group = g;
          a.entries = K;
          a.p0 = p0;
          a.positions = np;
          a.stride = stride;
          a.tab = ref_tab.data();
          a.dst = ref.data();
          const kernels::Int8Tile r = kernels::build_int8_tile_ref(a);
          a.tab = got_tab.data();
          a.dst = got.data();
          const kernels::Int8Tile t = kernels::build_int8_tile(a);
          const std::string what = "K " + std::to_string(K) + " M " + std::to_string(M) + " g " + std::to_string(g) +
                                   " np " + std::to_string(np);
          EXPECT_EQ(got_tab, ref_tab) << what;
          EXPECT_EQ(got, ref) << what;
          EXPECT_EQ(t.scale, r.scale) << what;
          EXPECT_EQ(t.wide_scale, r.wide_scale) << what;
          EXPECT_EQ(t.wide, r.wide) << what;
          EXPECT_EQ(t.min_sum, r.min_sum) << what;
          for (size_t q = 0; q < np; ++q) {
            const size_t p = p0 + q;
            for (size_t k = 0; k < K; ++k) {
              double dot = 0, mag = 0;
              for (size_t u = 0; u < g; ++u) {
                dot += double(trans[(p % M * g + u) * K + k]) * x[p / M * g + u];
                mag += std::fabs(double(trans[(p % M * g + u) * K + k]) * x[p / M * g + u]);
              }
              EXPECT_NEAR(ref_tab[q * K + k], dot, 1e-6 * mag) << what;
            }
            const float low = *std::min_element(ref_tab.begin() + q * K, ref_tab.begin() + (q + 1) * K);
            const float s = r.wide >> q & 1 ? r.wide_scale : r.scale;
            for (size_t k = 0; k < K; ++k)
              EXPECT_LE(std::fabs(ref[q * stride + k] * s - (ref_tab[q * K + k] - low)), 0.5f * s * 1.0001f);
          }
        }
      }
    }
  }
}

// The two-scale split: the threshold minimises (#wide) · widest² + (#narrow) · τ² (checked
// against every cut of the sorted ranges), ties keep the larger threshold, equal ranges never
// split, and a lone outlier is split off.
TEST(AqGemvKernel, TileScaleSplitMinimisesTheRoundingVariance) {
  auto cost = [](const std::vector<float>& r, const kernels::Int8Tile& t) {
    double c = 0;
    for (size_t q = 0; q < r.size(); ++q) {
      const double s = t.wide >> q & 1 ? t.wide_scale : t.scale;
      EXPECT_LE(r[q], s * 255.0 * 1.0001) << "table " << q << " does not fit its scale";
      c += s * s;
    }
    return c;
  };
  const std::vector<float> equal(32, 2.f);
  const kernels::Int8Tile e = kernels::choose_tile_scales(equal.data(), equal.size());
  EXPECT_EQ(e.wide, 0u);
  EXPECT_FLOAT_EQ(e.scale, 2.f / 255.f);
  std::vector<float> outlier(32, 1.f);
  outlier[9] = 100.f;
  const kernels::Int8Tile o = kernels::choose_tile_scales(outlier.data(), outlier.size());
  EXPECT_EQ(o.wide, uint64_t{1} << 9);
  EXPECT_FLOAT_EQ(o.scale, 1.f / 255.f);
  EXPECT_FLOAT_EQ(o.wide_scale, 100.f / 255.f);
  const std::vector<float> zeros(5, 0.f);
  const kernels::Int8Tile z = kernels::choose_tile_scales(zeros.data(), zeros.size());
  EXPECT_EQ(z.wide, 0u);
  EXPECT_EQ(z.scale, 1.f);
  Rng rng(9);
  for (size_t np : {1, 2, 17, 64}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> r(np);
      for (float& v : r) v = float(std::exp(3.0 * rng.normal()));
      const kernels::Int8Tile t = kernels::choose_tile_scales(r.data(), np);
      double best = 1e300;  // every threshold in the set of ranges
      for (float tau : r) {
        kernels::Int8Tile c;
        c.scale = tau / 255.f;
        c.wide_scale = *std::max_element(r.begin(), r.end()) / 255.f;
        for (size_t q = 0; q < np; ++q) c.wide |= uint64_t(r[q] > tau) << q;
        best = std::min(best, cost(r, c));
      }
      EXPECT_LE(cost(r, t), best * (1 + 1e-6)) << "np " << np;
    }
  }
}

// Scalar codes: the SIMD unpack-and-dot kernels against the reference, every code width.
TEST(ScalarGemvKernel, SimdLevelsMatchTheReference) {
  Rng rng(7);
  const size_t rows = 5, cols = 96;
  for (size_t bits = 2; bits <= 8; ++bits) {
    for (size_t group : {16, 32, 48}) {
      for (size_t batch : {1, 3, 9, 16}) {
        const size_t row_bytes = (cols * bits + 7) / 8, ng = cols / group;
        std::vector<uint8_t> codes(rows * row_bytes + kernels::kScalarCodePadding, 0);
        for (size_t i = 0; i < rows * row_bytes; ++i) codes[i] = uint8_t(rng.below(256));
        std::vector<float> x(batch * cols), sums(batch * ng, 0.f), scales(rows * ng);
        std::vector<uint8_t> zeros(rows * ng);
        for (size_t i = 0; i < x.size(); ++i) {
          x[i] = float(rng.normal());
          sums[(i / cols) * ng + (i % cols) / group] += x[i];
        }
        for (float& s : scales) s = float(0.1 + rng.uniform());
        for (uint8_t& z : zeros) z = uint8_t(rng.below(size_t{1} << bits));
        kernels::ScalarGemvArgs a;
        a.x = x.data();
        a.group_sums = sums.data();
        a.cols = cols;
        a.group = group;
        a.bits = bits;
        a.batch = batch;
        a.codes = codes.data();
        a.row_bytes = row_bytes;
        a.scales = scales.data();
        a.zeros = zeros.data();
        a.rows = rows;
        std::vector<float> ref(rows * batch);
        a.out = ref.data();
        kernels::scalar_gemv_ref(a);
        const std::vector<double> refd(ref.begin(), ref.end());
        using Fn = void (*)(const kernels::ScalarGemvArgs&);
        const Fn fns[] = {kernels::avx2::scalar_gemv, kernels::avx512::scalar_gemv};
        for (size_t l = 0; l < 2; ++l) {
          if (!simd_levels()[l].second || group % (l == 0 ? 8 : 16) != 0) continue;
          std::vector<float> got(rows * batch, -1.f);
          a.out = got.data();
          fns[l](a);
          EXPECT_LT(rel_gap(refd, got.data(), got.size()), 1e-5)
              << simd_levels()[l].first << " bits " << bits << " G " << group << " B " << batch;
        }
      }
    }
  }
}

}  // namespace
}  // namespace vq::weights
