// RotatedQuantizer (OPQ): the learned R is orthogonal, encode/decode/tables equal the inner
// quantizer on rotated vectors, training is deterministic, the state round-trips through the
// container, a damaged rotation is rejected, and the rotation pays off where sub-vectors are
// correlated.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "test_data.h"
#include "vq/core/container.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/product_quantizer.h"
#include "vq/core/rotated_quantizer.h"

namespace vq {
namespace {

constexpr size_t kD = 16;

TrainOptions options(int iterations = 8) {
  TrainOptions o;
  o.iterations = iterations;
  o.threads = 1;
  return o;
}

std::unique_ptr<RotatedQuantizer> trained(const Matrix& x, const char* spec = "PQ4x4r4",
                                          const TrainOptions& o = options()) {
  std::unique_ptr<Quantizer> q = make_quantizer(spec, kD);
  auto* r = dynamic_cast<RotatedQuantizer*>(q.get());
  EXPECT_NE(r, nullptr) << spec;
  q.release();
  std::unique_ptr<RotatedQuantizer> out(r);
  out->train(x, o);
  return out;
}

// rows of x times Rᵀ, in double.
Matrix rotate(const Matrix& x, const std::vector<float>& R) {
  Matrix y(x.rows(), kD);
  for (size_t i = 0; i < x.rows(); ++i)
    for (size_t a = 0; a < kD; ++a) {
      double s = 0;
      for (size_t b = 0; b < kD; ++b) s += double(R[a * kD + b]) * x(i, b);
      y(i, a) = float(s);
    }
  return y;
}

TEST(RotatedQuantizer, RotationIsOrthogonalAndNotIdentity) {
  const Matrix x = testdata::correlated(1500, kD, 3);
  const auto q = trained(x);
  const std::vector<float>& R = q->rotation();
  double off_identity = 0;
  for (size_t i = 0; i < kD; ++i)
    for (size_t j = 0; j < kD; ++j) {
      double dot = 0;
      for (size_t k = 0; k < kD; ++k) dot += double(R[i * kD + k]) * R[j * kD + k];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << i << "," << j;
      off_identity += std::abs(R[i * kD + j] - (i == j ? 1.f : 0.f));
    }
  EXPECT_GT(off_identity, 0.5);  // training moved it
}

TEST(RotatedQuantizer, EqualsRotateThenQuantize) {
  const Matrix x = testdata::correlated(1500, kD, 4);
  const auto q = trained(x);
  const Matrix test = testdata::correlated(300, kD, 4);  // same covariance, other rows
  const Matrix y = rotate(test, q->rotation());
  const Codes c = q->encode(test);
  EXPECT_EQ(c.data, q->inner().encode(y).data);
  // decode = Rᵀ · inner decode.
  const Matrix xhat = q->decode(c), yhat = q->inner().decode(c);
  for (size_t i = 0; i < test.rows(); ++i)
    for (size_t b = 0; b < kD; ++b) {
      double s = 0;
      for (size_t a = 0; a < kD; ++a) s += double(q->rotation()[a * kD + b]) * yhat(i, a);
      ASSERT_NEAR(xhat(i, b), s, 1e-5);
    }
  // Tables: inner product and L2 scores from tables equal those on decoded vectors.
  const float* query = test.row_ptr(0);
  for (SearchMetric m : {SearchMetric::kInnerProduct, SearchMetric::kL2}) {
    const LookupTable lut = q->lookup_tables({query, kD}, m);
    for (size_t i = 0; i < 50; ++i) {
      ASSERT_FALSE(lut.add_norms);  // PQ books are disjoint
      const double from_tables = lut.score(c.row(i));
      double exact = 0;
      for (size_t j = 0; j < kD; ++j)
        exact += m == SearchMetric::kL2 ? (query[j] - xhat(i, j)) * (query[j] - xhat(i, j))
                                        : double(query[j]) * xhat(i, j);
      ASSERT_NEAR(from_tables, exact, 1e-4 * (1 + std::abs(exact))) << i;
    }
  }
}

TEST(RotatedQuantizer, DeterministicAndRoundTripsThroughContainer) {
  const Matrix x = testdata::correlated(1200, kD, 6);
  const auto a = trained(x, "RVQ2x4r3"), b = trained(x, "RVQ2x4r3");
  EXPECT_EQ(a->rotation(), b->rotation());
  EXPECT_EQ(a->encode(x).data, b->encode(x).data);
  const std::unique_ptr<Quantizer> loaded = quantizer_from_bytes(quantizer_to_bytes(*a));
  EXPECT_EQ(loaded->describe(), "RVQ2x4r3");
  const auto& r = dynamic_cast<const RotatedQuantizer&>(*loaded);
  EXPECT_EQ(r.rotation(), a->rotation());
  EXPECT_EQ(loaded->encode(x).data, a->encode(x).data);
}

TEST(RotatedQuantizer, MetricIsKeptAndRotatedForTheInnerQuantizer) {
  const Matrix x = testdata::correlated(1200, kD, 7);
  std::vector<float> h(kD);
  for (size_t j = 0; j < kD; ++j) h[j] = 1.f + float(j);
  TrainOptions o = options();
  o.metric = Metric::diagonal(h);
  const auto q = trained(x, "PQ4x4r2", o);
  EXPECT_EQ(q->metric().kind(), Metric::Kind::kDiagonal);
  EXPECT_EQ(q->metric().values(), h);
  // The inner metric is R diag(h) Rᵀ.
  const Metric& inner = q->inner().metric();
  ASSERT_EQ(inner.kind(), Metric::Kind::kFull);
  const std::vector<float>& R = q->rotation();
  for (size_t i = 0; i < kD; ++i)
    for (size_t j = 0; j < kD; ++j) {
      double g = 0;
      for (size_t k = 0; k < kD; ++k) g += double(R[i * kD + k]) * h[k] * R[j * kD + k];
      ASSERT_NEAR(inner.values()[i * kD + j], g, 1e-4 * kD);
    }
  const auto loaded = quantizer_from_bytes(quantizer_to_bytes(*q));
  EXPECT_EQ(loaded->metric().values(), h);
}

TEST(RotatedQuantizer, LowersErrorOnCorrelatedSubvectors) {
  // Correlated data (a random rotation of a decaying spectrum): plain PQ cannot use the
  // correlation across sub-vectors, OPQ can.
  // (One draw split in two: each seed draws its own covariance.)
  const Matrix all = testdata::correlated(4000, kD, 8);
  Matrix x(3000, kD), test(1000, kD);
  std::copy(all.data(), all.data() + 3000 * kD, x.data());
  std::copy(all.data() + 3000 * kD, all.data() + 4000 * kD, test.data());
  ProductQuantizer plain(kD, 4, 4);
  plain.train(x, options());
  const auto opq = trained(x, "PQ4x4r6");
  const double e_plain = testdata::mse(plain, test), e_opq = testdata::mse(*opq, test);
  EXPECT_LT(e_opq, 0.9 * e_plain) << "PQ " << e_plain << " OPQ " << e_opq;
}

TEST(RotatedQuantizer, RejectsNonOrthogonalRotationAndBadSpecs) {
  const Matrix x = testdata::correlated(600, kD, 10);
  const auto q = trained(x, "PQ4x4r1");
  ContainerWriter w;
  ByteWriter b;
  b.u64(kD);
  std::vector<float> bad = q->rotation();
  for (float& v : bad) v *= 1.01f;  // scaled: no longer orthogonal
  b.f32s(bad);
  const std::vector<uint8_t> m = q->metric().serialize();
  b.u64(m.size());
  b.raw(m);
  w.add("ROTN", b.take());
  q->inner().save_state(w);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const ContainerReader in = ContainerReader::from_bytes(bytes);
  const auto fresh = make_quantizer("PQ4x4r1", kD);
  try {
    fresh->load_state(in);
    FAIL() << "accepted a non-orthogonal rotation";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not orthogonal"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_quantizer("PQ4x4r0", kD), Error);
  EXPECT_THROW(make_quantizer("PQ4x4r1r2", kD), Error);
  EXPECT_EQ(make_quantizer("SQ4r2", kD)->describe(), "SQ4r2");
  EXPECT_EQ(make_quantizer("RVQ2x8b4r3", kD)->describe(), "RVQ2x8b4r3");
  EXPECT_FALSE(make_quantizer("PQ4x4r2", kD)->is_trained());
  EXPECT_THROW(fresh->encode(x), Error);  // untrained after the failed load
}

}  // namespace
}  // namespace vq
