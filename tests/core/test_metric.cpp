// Metric: whitening must turn d_H into plain squared L2 (diagonal, full, singular full);
// invalid H is rejected; serialisation round-trips and rejects malformed bytes.
#include "vq/core/metric.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/distances.h"
#include "test_data.h"

namespace vq {
namespace {

// Random PSD H = A Aᵀ / r of rank r (r <= d), d×d row-major.
std::vector<float> random_psd(size_t d, size_t r, uint64_t seed) {
  const Matrix a = testdata::gaussian(d, r, seed);
  std::vector<float> h(d * d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) {
      double s = 0.0;
      for (size_t t = 0; t < r; ++t) s += double(a(i, t)) * a(j, t);
      h[i * d + j] = static_cast<float>(s / r);
    }
  return h;
}

// (a − b)ᵀ H (a − b) in double, straight from H.
double reference_distance(const std::vector<float>& h, const float* a, const float* b, size_t d) {
  double s = 0.0;
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j) s += (double(a[i]) - b[i]) * h[i * d + j] * (double(a[j]) - b[j]);
  return s;
}

void expect_whitening_matches(const Metric& m, const std::vector<float>& h_full, size_t d) {
  const Matrix x = testdata::gaussian(20, d, 77);
  const Matrix w = m.whiten(x.view());
  ASSERT_EQ(w.rows(), 20u);
  ASSERT_EQ(w.cols(), m.whitened_dim(d));
  for (size_t i = 0; i + 1 < 20; ++i) {
    const double ref = reference_distance(h_full, x.row_ptr(i), x.row_ptr(i + 1), d);
    const double whitened = kernels::l2sqr(w.row_ptr(i), w.row_ptr(i + 1), w.cols());
    EXPECT_NEAR(whitened, ref, 1e-4 * ref + 1e-5) << "pair " << i;
    EXPECT_NEAR(m.distance(x.row_ptr(i), x.row_ptr(i + 1), d), ref, 1e-4 * ref + 1e-5);
  }
}

TEST(Metric, IdentityWhitenIsCopy) {
  const Metric m;
  EXPECT_TRUE(m.is_identity());
  const Matrix x = testdata::gaussian(5, 6, 1);
  const Matrix w = m.whiten(x.view());
  EXPECT_EQ(w.storage(), x.storage());
  EXPECT_NO_THROW(m.check_dim(123, "test"));
  EXPECT_EQ(m.describe(), "identity");
}

TEST(Metric, DiagonalWhitening) {
  std::vector<float> h = {1.f, 0.f, 4.f, 0.25f, 2.f, 1.f, 3.f};
  const Metric m = Metric::diagonal(h);
  std::vector<float> full(49, 0.f);
  for (size_t j = 0; j < 7; ++j) full[j * 7 + j] = h[j];
  expect_whitening_matches(m, full, 7);
  EXPECT_EQ(m.describe(), "diagonal(d=7)");
  EXPECT_THROW(m.check_dim(6, "test"), Error);
}

TEST(Metric, FullWhitening) {
  const size_t d = 12;
  const std::vector<float> h = random_psd(d, 40, 5);
  const Metric m = Metric::full(h, d);
  EXPECT_EQ(m.whitened_dim(d), d);
  expect_whitening_matches(m, h, d);
  EXPECT_EQ(m.describe(), "full(d=12,rank=12)");
}

TEST(Metric, SingularFullWhitening) {
  const size_t d = 10;
  const std::vector<float> h = random_psd(d, 4, 6);
  const Metric m = Metric::full(h, d);
  EXPECT_EQ(m.whitened_dim(d), 4u);
  expect_whitening_matches(m, h, d);
}

TEST(Metric, FromSamplesIsSecondMoment) {
  const Matrix s = testdata::correlated(3000, 6, 9);
  const Metric m = Metric::from_samples(s.view(), 0.1f);
  ASSERT_EQ(m.kind(), Metric::Kind::kFull);
  double mean_diag = 0.0;
  std::vector<double> ref(36, 0.0);
  for (size_t i = 0; i < 6; ++i)
    for (size_t j = 0; j < 6; ++j) {
      for (size_t r = 0; r < 3000; ++r) ref[i * 6 + j] += double(s(r, i)) * s(r, j);
      ref[i * 6 + j] /= 3000.0;
    }
  for (size_t j = 0; j < 6; ++j) mean_diag += ref[j * 6 + j] / 6.0;
  for (size_t j = 0; j < 6; ++j) ref[j * 6 + j] += 0.1 * mean_diag;
  for (size_t e = 0; e < 36; ++e) EXPECT_NEAR(m.values()[e], ref[e], 1e-5 * (1.0 + std::abs(ref[e])));
}

TEST(Metric, RejectsInvalid) {
  EXPECT_THROW(Metric::diagonal({}), Error);
  EXPECT_THROW(Metric::diagonal({1.f, -1.f}), Error);
  EXPECT_THROW(Metric::diagonal({0.f, 0.f}), Error);
  EXPECT_THROW(Metric::diagonal({1.f, NAN}), Error);
  EXPECT_THROW(Metric::full({1.f, 0.5f, 0.4f, 1.f}, 2), Error);          // asymmetric
  EXPECT_THROW(Metric::full({1.f, 2.f, 2.f, 1.f}, 2), Error);            // eigenvalues 3, −1
  EXPECT_THROW(Metric::full({1.f, NAN, NAN, 1.f}, 2), Error);
  EXPECT_THROW(Metric::full({1.f, 0.f, 0.f}, 2), Error);                 // wrong size
  EXPECT_THROW(Metric::full({0.f, 0.f, 0.f, 0.f}, 2), Error);
  EXPECT_NO_THROW(Metric::full({1.f, 1.f, 1.f, 1.f}, 2));                // PSD, rank 1
  const Matrix bad(3, 2, INFINITY);
  EXPECT_THROW(Metric::from_samples(bad.view()), Error);
}

TEST(Metric, SerializeRoundTrip) {
  const std::vector<Metric> metrics = {Metric(), Metric::diagonal({1.f, 2.f, 0.f}),
                                       Metric::full(random_psd(5, 3, 2), 5)};
  for (const Metric& m : metrics) {
    const std::vector<uint8_t> bytes = m.serialize();
    const Metric back = Metric::deserialize(bytes);
    EXPECT_EQ(back.kind(), m.kind());
    EXPECT_EQ(back.dim(), m.dim());
    EXPECT_EQ(back.values(), m.values());
    EXPECT_EQ(back.describe(), m.describe());
    // Every truncation and a trailing byte are rejected.
    for (size_t len = 0; len < bytes.size(); ++len)
      EXPECT_THROW(Metric::deserialize(Span<const uint8_t>(bytes.data(), len)), Error) << m.describe() << " " << len;
    std::vector<uint8_t> longer = bytes;
    longer.push_back(0);
    EXPECT_THROW(Metric::deserialize(longer), Error);
  }
  std::vector<uint8_t> bytes = Metric::diagonal({1.f, 2.f}).serialize();
  bytes[0] = 7;  // unknown kind
  EXPECT_THROW(Metric::deserialize(bytes), Error);
  bytes = Metric::full(random_psd(3, 3, 1), 3).serialize();
  for (int i = 1; i <= 8; ++i) bytes[i] = 0xff;  // absurd d: no huge allocation, clear error
  EXPECT_THROW(Metric::deserialize(bytes), Error);
}

TEST(Metric, Block) {
  const size_t d = 8;
  const std::vector<float> h = random_psd(d, 8, 4);
  const Metric m = Metric::full(h, d);
  const Metric b = m.block(2, 3);
  ASSERT_EQ(b.dim(), 3u);
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = 0; j < 3; ++j) EXPECT_EQ(b.values()[i * 3 + j], h[(2 + i) * d + 2 + j]);
  const Metric db = Metric::diagonal({1.f, 2.f, 3.f, 4.f}).block(1, 2);
  EXPECT_EQ(db.values(), (std::vector<float>{2.f, 3.f}));
  EXPECT_TRUE(Metric().block(5, 3).is_identity());
  EXPECT_THROW(m.block(6, 3), Error);
  EXPECT_THROW(m.block(0, 0), Error);
}

}  // namespace
}  // namespace vq
