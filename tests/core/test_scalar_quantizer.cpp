// ScalarQuantizer: analytic error of the uniform quantizer, FAISS's ScalarQuantizer as an
// external reference, NF4 vs int4 on Gaussian data, FP8 exactness, per-group scales, the code
// layout, stability, errors, lookup tables and state round trips.
#include "vq/core/scalar_quantizer.h"

#include <faiss/impl/ScalarQuantizer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "test_data.h"
#include "vq/core/container.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

// Decoding and re-encoding round to the same level unless float rounding moves a value by
// half a step; this bounds how far a decoded LUT score may drift from the exact one.
constexpr double kLutRelTolerance = 1e-4;

Matrix uniform_data(size_t n, size_t d, uint64_t seed) {
  Rng rng(seed);
  Matrix x(n, d);
  for (size_t j = 0; j < d; ++j) {
    const double lo = -5.0 + 10.0 * rng.uniform(), width = 0.1 + 4.0 * rng.uniform();
    for (size_t i = 0; i < n; ++i) x(i, j) = static_cast<float>(lo + width * rng.uniform());
  }
  return x;
}

double mse(const Quantizer& q, const Matrix& x) {
  const Matrix y = q.decode(q.encode(x));
  return testdata::mse(x, y);
}

std::unique_ptr<ScalarQuantizer> trained(const Matrix& x, ScalarFormat f, int bits,
                                         size_t group = 0, TrainOptions opt = {}) {
  auto q = std::make_unique<ScalarQuantizer>(x.cols(), f, bits, group);
  q->train(x, opt);
  return q;
}

double faiss_mse(const Matrix& x, faiss::ScalarQuantizer::QuantizerType type) {
  faiss::ScalarQuantizer sq(x.cols(), type);
  sq.train(x.rows(), x.data());
  std::vector<uint8_t> codes(sq.code_size * x.rows());
  sq.compute_codes(x.data(), codes.data(), x.rows());
  Matrix y(x.rows(), x.cols());
  sq.decode(codes.data(), y.data(), x.rows());
  return testdata::mse(x, y);
}

TEST(ScalarQuantizer, Int8PerChannelMeetsUniformQuantizerBound) {
  const Matrix x = uniform_data(20000, 16, 7);
  const auto q = trained(x, ScalarFormat::kInt, 8);
  const Matrix y = q->decode(q->encode(x));
  // Uniform data in a cell of width step has error uniform on ±step/2: E[e²] = step²/12.
  for (size_t j = 0; j < x.cols(); ++j) {
    double err = 0;
    for (size_t i = 0; i < x.rows(); ++i) err += std::pow(double(x(i, j)) - y(i, j), 2);
    err /= static_cast<double>(x.rows());
    const double bound = std::pow(double(q->scales()[j]), 2) / 12.0;
    EXPECT_NEAR(err / bound, 1.0, 0.05) << "dimension " << j;
  }
}

TEST(ScalarQuantizer, PerChannelIntBeatsFaissScalarQuantizer) {
  // FAISS QT_<b>bit spends one of its 2^b codes on the exact maximum; ours uses 2^b equal cells.
  const Matrix u = uniform_data(8000, 16, 3), g = testdata::gaussian(8000, 16, 4);
  for (const Matrix* x : {&u, &g}) {
    const double ours8 = mse(*trained(*x, ScalarFormat::kInt, 8), *x);
    const double ours4 = mse(*trained(*x, ScalarFormat::kInt, 4), *x);
    const double ref8 = faiss_mse(*x, faiss::ScalarQuantizer::QT_8bit);
    const double ref4 = faiss_mse(*x, faiss::ScalarQuantizer::QT_4bit);
    EXPECT_LE(ours8, ref8 * 1.001);
    EXPECT_LE(ours4, ref4 * 1.001);
    EXPECT_GT(ours4, ref4 * 0.5);  // same family of quantizer: not wildly different
  }
}

TEST(ScalarQuantizer, NF4BeatsInt4OnGaussianData) {
  const Matrix x = testdata::gaussian(8192, 64, 11);
  EXPECT_LT(mse(*trained(x, ScalarFormat::kNF4, 4), x), mse(*trained(x, ScalarFormat::kInt, 4), x));
  // The QLoRA setting: absmax blocks of 64.
  EXPECT_LT(mse(*trained(x, ScalarFormat::kNF4, 4, 64), x),
            mse(*trained(x, ScalarFormat::kInt, 4, 64), x));
}

TEST(ScalarQuantizer, FP8ValueSetIsE4M3FN) {
  const ScalarQuantizer q(4, ScalarFormat::kFP8, 8);
  const auto& lv = q.levels();
  ASSERT_EQ(lv.size(), 256u);
  std::set<float> finite;
  for (size_t c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) {  // NaN in e4m3fn: decoded saturated
      EXPECT_EQ(lv[c], c & 0x80 ? -448.f : 448.f) << c;
      continue;
    }
    finite.insert(lv[c]);
  }
  EXPECT_EQ(finite.size(), 253u);  // 254 finite codes, +0 and −0 equal
  EXPECT_EQ(*finite.rbegin(), 448.f);
  EXPECT_EQ(*finite.begin(), -448.f);
  EXPECT_EQ(lv[0x01], std::ldexp(1.f, -9));  // smallest subnormal
  EXPECT_EQ(lv[0x08], std::ldexp(1.f, -6));  // smallest normal
  EXPECT_EQ(lv[0x38], 1.f);
}

TEST(ScalarQuantizer, FP8IsExactOnRepresentableValues) {
  const size_t n = 512, d = 16;
  const ScalarQuantizer probe(d, ScalarFormat::kFP8, 8);
  Rng rng(5);
  Matrix x(n, d);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) {
      x(i, j) = probe.levels()[rng.below(256)];
    }
  for (size_t j = 0; j < d; ++j) x(0, j) = (j % 2) ? 448.f : -448.f;  // absmax 448: scale 1
  for (size_t group : {size_t{0}, size_t{8}}) {
    // Per-group: every group of row 0 has absmax 448; give the other rows one too.
    Matrix xg = x;
    if (group)
      for (size_t i = 0; i < n; ++i)
        for (size_t g = 0; g < d / group; ++g) xg(i, g * group) = 448.f;
    const auto q = trained(xg, ScalarFormat::kFP8, 8, group);
    const Matrix y = q->decode(q->encode(xg));
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < d; ++j) ASSERT_EQ(y(i, j), xg(i, j)) << i << "," << j << " g" << group;
  }
}

TEST(ScalarQuantizer, PerGroupRoundTripWithinHalfStep) {
  const Matrix x = testdata::clustered(2000, 64, 9, 16);
  for (size_t group : {size_t{8}, size_t{32}}) {
    const auto q = trained(x, ScalarFormat::kInt, 8, group);
    const Codes codes = q->encode(x);
    const Matrix y = q->decode(codes);
    for (size_t i = 0; i < x.rows(); ++i)
      for (size_t g = 0; g < 64 / group; ++g) {
        float absmax = 0;
        for (size_t j = g * group; j < (g + 1) * group; ++j) absmax = std::max(absmax, std::fabs(x(i, j)));
        const uint16_t h = codes(i, 64 + g);
        // The stored scale is absmax/127 rounded to fp16.
        ASSERT_EQ(h, float_to_half(absmax / 127.f));
        const float s = half_to_float(h);
        for (size_t j = g * group; j < (g + 1) * group; ++j)
          ASSERT_LE(std::fabs(x(i, j) - y(i, j)), 0.5f * s * 1.0001f + 1e-7f) << i << "," << j;
      }
  }
  // An all-zero group decodes to zeros.
  Matrix z(3, 16, 0.f);
  const ScalarQuantizer q(16, ScalarFormat::kNF4, 4, 8);
  const Matrix zy = q.decode(q.encode(z));
  for (float v : zy.storage()) EXPECT_EQ(v, 0.f);
}

TEST(ScalarQuantizer, BitsPerVectorCountsScales) {
  struct Case { ScalarFormat f; int bits; size_t group; size_t dim; size_t expect; std::string name; };
  const Case cases[] = {
      {ScalarFormat::kInt, 8, 0, 64, 512, "SQ8"},     {ScalarFormat::kInt, 4, 32, 64, 256 + 32, "SQ4g32"},
      {ScalarFormat::kNF4, 4, 64, 128, 512 + 32, "NF4g64"}, {ScalarFormat::kFP8, 8, 0, 10, 80, "FP8"},
      {ScalarFormat::kInt, 2, 0, 7, 14, "SQ2"},
  };
  for (const Case& c : cases) {
    ScalarQuantizer q(c.dim, c.f, c.bits, c.group);
    EXPECT_EQ(q.bits_per_vector(), c.expect) << c.name;
    EXPECT_EQ(q.describe(), c.name);
    EXPECT_EQ(q.num_books(), c.dim + (c.group ? c.dim / c.group : 0)) << c.name;
    const Matrix x = testdata::gaussian(5, c.dim, 1);
    q.train(x, {});
    const Codes codes = q.encode(x);
    EXPECT_EQ(codes.bits_per_vector(), c.expect) << c.name;
    EXPECT_EQ(codes.bits, q.book_bits()) << c.name;
  }
}

TEST(ScalarQuantizer, EncodeDecodeEncodeIsStable) {
  const Matrix x = testdata::clustered(1500, 32, 21, 8);
  struct Cfg { ScalarFormat f; int bits; size_t group; };
  for (const Cfg c : {Cfg{ScalarFormat::kInt, 2, 0}, Cfg{ScalarFormat::kInt, 4, 0}, Cfg{ScalarFormat::kInt, 8, 0},
                      Cfg{ScalarFormat::kNF4, 4, 0}, Cfg{ScalarFormat::kFP8, 8, 0}, Cfg{ScalarFormat::kInt, 4, 16},
                      Cfg{ScalarFormat::kNF4, 4, 16}, Cfg{ScalarFormat::kFP8, 8, 8}}) {
    const auto q = trained(x, c.f, c.bits, c.group);
    const Codes a = q->encode(x);
    const Codes b = q->encode(q->decode(a));
    EXPECT_EQ(a.data, b.data) << q->describe();
  }
}

TEST(ScalarQuantizer, WeightsAndDiagonalMetric) {
  Matrix x = testdata::gaussian(1000, 8, 2);
  const auto base = trained(x, ScalarFormat::kInt, 8);
  // A zero-weight outlier must not stretch the range; h_j cannot move a per-dimension optimum.
  Matrix xo(1001, 8);
  std::copy(x.storage().begin(), x.storage().end(), xo.storage().begin());
  for (size_t j = 0; j < 8; ++j) xo(1000, j) = 1e4f;
  std::vector<float> w(1001, 1.f);
  w[1000] = 0.f;
  TrainOptions opt;
  opt.weights = w;
  opt.metric = Metric::diagonal({1, 2, 3, 4, 0.5f, 0.1f, 9, 1});
  const auto q = trained(xo, ScalarFormat::kInt, 8, 0, opt);
  EXPECT_EQ(q->scales(), base->scales());
  EXPECT_EQ(q->offsets(), base->offsets());
  EXPECT_EQ(q->metric().kind(), Metric::Kind::kDiagonal);
}

TEST(ScalarQuantizer, RejectsBadInput) {
  EXPECT_THROW(ScalarQuantizer(8, ScalarFormat::kInt, 1), Error);
  EXPECT_THROW(ScalarQuantizer(8, ScalarFormat::kInt, 9), Error);
  EXPECT_THROW(ScalarQuantizer(8, ScalarFormat::kNF4, 8), Error);
  EXPECT_THROW(ScalarQuantizer(8, ScalarFormat::kFP8, 4), Error);
  EXPECT_THROW(ScalarQuantizer(10, ScalarFormat::kInt, 8, 4), Error);  // 4 does not divide 10
  EXPECT_THROW(ScalarQuantizer(0, ScalarFormat::kInt, 8), Error);

  ScalarQuantizer q(4, ScalarFormat::kInt, 8);
  Matrix x = testdata::gaussian(10, 4, 3);
  EXPECT_THROW(q.encode(x), Error);  // per-channel: not trained yet
  x(3, 2) = std::nanf("");
  EXPECT_THROW(q.train(x, {}), Error);
  x(3, 2) = 0.f;
  q.train(x, {});
  x(1, 1) = INFINITY;
  EXPECT_THROW(q.encode(x), Error);
  EXPECT_THROW(q.encode(testdata::gaussian(3, 5, 1)), Error);  // wrong width
  Codes wrong(2, std::vector<uint8_t>(4, 4));
  EXPECT_THROW(q.decode(wrong), Error);
  Matrix small(1, 4);
  EXPECT_THROW(q.decode(q.encode(testdata::gaussian(2, 4, 1)), small.view()), Error);

}

TEST(ScalarQuantizer, DecodeIsTotalOverInRangeCodes) {
  // Codes encode() never writes (FP8 NaN, an infinite fp16 scale) decode saturated, not to NaN.
  const ScalarQuantizer f(2, ScalarFormat::kFP8, 8, 2);
  Codes c(1, f.book_bits());
  c(0, 0) = 0x7F;
  c(0, 1) = 0xFF;
  c(0, 2) = 0x7C00;  // fp16 +inf
  const Matrix y = f.decode(c);
  EXPECT_EQ(y(0, 0), 448.f * 65504.f);
  EXPECT_EQ(y(0, 1), -448.f * 65504.f);
  // Every random code row decodes to finite values.
  Rng rng(3);
  for (size_t i = 0; i < 1000; ++i) {
    for (size_t m = 0; m < c.num_books(); ++m) c(0, m) = static_cast<uint16_t>(rng.below(1u << c.bits[m]));
    const Matrix r = f.decode(c);
    ASSERT_TRUE(std::isfinite(r(0, 0)) && std::isfinite(r(0, 1)));
  }
}

TEST(ScalarQuantizer, LookupTablesEqualDecodedScores) {
  const Matrix x = testdata::clustered(300, 24, 4, 8);
  const Matrix queries = testdata::gaussian(3, 24, 8);
  for (ScalarFormat f : {ScalarFormat::kInt, ScalarFormat::kNF4, ScalarFormat::kFP8}) {
    const auto q = trained(x, f, f == ScalarFormat::kNF4 ? 4 : 8);
    ASSERT_TRUE(q->has_lookup_tables());
    const Codes codes = q->encode(x);
    const Matrix y = q->decode(codes);
    for (size_t t = 0; t < queries.rows(); ++t) {
      const Span<const float> query{queries.row_ptr(t), 24};
      const LookupTable ip = q->lookup_tables(query, SearchMetric::kInnerProduct);
      const LookupTable l2 = q->lookup_tables(query, SearchMetric::kL2);
      ASSERT_EQ(ip.num_books(), 24u);
      for (size_t i = 0; i < x.rows(); ++i) {
        double dot = 0, dist = 0;
        for (size_t j = 0; j < 24; ++j) {
          dot += double(query[j]) * y(i, j);
          dist += std::pow(double(query[j]) - y(i, j), 2);
        }
        EXPECT_NEAR(ip.score(codes.row(i)), dot, kLutRelTolerance * (1 + std::fabs(dot)));
        EXPECT_NEAR(l2.score(codes.row(i)), dist, kLutRelTolerance * (1 + dist));
      }
    }
  }
  const ScalarQuantizer g(24, ScalarFormat::kInt, 4, 8);
  EXPECT_FALSE(g.has_lookup_tables());
  EXPECT_THROW(g.lookup_tables(Span<const float>{queries.row_ptr(0), 24}, SearchMetric::kL2), Error);
}

TEST(ScalarQuantizer, StateRoundTripsThroughContainer) {
  const Matrix x = testdata::clustered(500, 16, 6, 8);
  for (const auto& [f, bits, group] : {std::tuple{ScalarFormat::kInt, 6, size_t{0}},
                                      std::tuple{ScalarFormat::kNF4, 4, size_t{4}}}) {
    TrainOptions opt;
    opt.metric = Metric::diagonal(std::vector<float>(16, 2.f));
    const auto q = trained(x, f, bits, group, opt);
    ContainerWriter w;
    w.set_meta("vq.kind", "quantizer");
    q->save_state(w);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const ContainerReader r = ContainerReader::from_bytes(bytes);
    ScalarQuantizer loaded(16, f, bits, group);
    loaded.load_state(r);
    EXPECT_TRUE(loaded.is_trained());
    EXPECT_EQ(loaded.metric().kind(), Metric::Kind::kDiagonal);
    const Codes codes = q->encode(x);
    EXPECT_EQ(loaded.encode(x).data, codes.data);
    EXPECT_EQ(loaded.decode(codes).storage(), q->decode(codes).storage());
    // A state saved for another configuration is refused.
    ScalarQuantizer other(16, ScalarFormat::kInt, 5, group);
    EXPECT_THROW(other.load_state(r), Error);
  }
}

}  // namespace
}  // namespace vq
