// ResidualQuantizer (greedy and beam), VectorQuantizer and GroupResidualQuantizer: FAISS's
// ResidualQuantizer as the external reference, the Gaussian distortion-rate bound and the
// Lloyd–Max quantizer as analytic ones, the Metric and sample weights, encode∘decode∘encode
// stability, determinism, lookup tables and bad input.
#include "vq/core/residual_quantizer.h"

#include <faiss/impl/ResidualQuantizer.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "test_data.h"
#include "vq/core/container.h"
#include "vq/core/group_residual_quantizer.h"
#include "vq/core/kmeans.h"
#include "vq/core/rng.h"
#include "vq/core/vector_quantizer.h"

namespace vq {
namespace {

// k-means from different initialisations lands in different local optima; 1% of MSE is the
// spread we see between seeds on these data sets, so "≤ FAISS" is asserted with that slack.
constexpr double kKMeansTolerance = 1.01;

using testdata::metric_error;
using testdata::mse;

// Mean of (x − x̂)ᵀ H (x − x̂) over the rows.
double faiss_rq_mse(const Matrix& x, size_t levels, size_t bits, int beam, int iterations) {
  faiss::ResidualQuantizer rq(x.cols(), levels, bits);
  rq.max_beam_size = beam;
  rq.train_type = faiss::ResidualQuantizer::Train_default;
  rq.cp.niter = iterations;
  rq.train(x.rows(), x.data());
  std::vector<uint8_t> codes(rq.code_size * x.rows());
  rq.compute_codes(x.data(), codes.data(), x.rows());
  Matrix y(x.rows(), x.cols());
  rq.decode(codes.data(), y.data(), x.rows());
  return testdata::mse(x, y);
}

TrainOptions iters(int n) {
  TrainOptions o;
  o.iterations = n;
  return o;
}

TEST(ResidualQuantizer, DescribeAndLayout) {
  EXPECT_EQ(ResidualQuantizer(16, 8, 8).describe(), "RVQ8x8");
  EXPECT_EQ(ResidualQuantizer(16, 8, 8, 16).describe(), "RVQ8x8b16");
  EXPECT_EQ(ResidualQuantizer(16, 4, 6).bits_per_vector(), 24u);
  const Matrix x = testdata::clustered(2000, 8, 1);
  ResidualQuantizer rq(8, 3, 4);
  rq.train(x, {});
  ASSERT_EQ(rq.books().size(), 3u);
  for (const Codebook& b : rq.books()) {
    EXPECT_EQ(b.offset, 0u);
    EXPECT_EQ(b.dim, 8u);
    EXPECT_EQ(b.entries.rows(), 16u);
  }
}

// FAISS's k-means runs many short OpenMP regions whose spin-waiting collapses when the
// machine is oversubscribed (tests run in parallel); only MSE is compared, so run single-threaded.
struct SingleThreaded {
  int saved = omp_get_max_threads();
  SingleThreaded() { omp_set_num_threads(1); }
  ~SingleThreaded() { omp_set_num_threads(saved); }
};

// FAISS's ResidualQuantizer with the same levels, bits, k-means iterations and beam width.
TEST(ResidualQuantizer, MatchesOrBeatsFaissGreedyAndBeam) {
  const SingleThreaded single_threaded;
  const Matrix x = testdata::clustered(20000, 32, 11);
  constexpr size_t kLevels = 4, kBits = 6;
  ResidualQuantizer greedy(32, kLevels, kBits, 1), beam(32, kLevels, kBits, 4);
  greedy.train(x, iters(25));
  beam.train(x, iters(25));
  const double ours1 = mse(greedy, x), ours4 = mse(beam, x);
  const double faiss1 = faiss_rq_mse(x, kLevels, kBits, 1, 25);
  const double faiss4 = faiss_rq_mse(x, kLevels, kBits, 4, 25);
  RecordProperty("ours_greedy", std::to_string(ours1));
  RecordProperty("faiss_greedy", std::to_string(faiss1));
  RecordProperty("ours_beam4", std::to_string(ours4));
  RecordProperty("faiss_beam4", std::to_string(faiss4));
  EXPECT_LE(ours1, faiss1 * kKMeansTolerance) << "greedy: ours " << ours1 << " faiss " << faiss1;
  EXPECT_LE(ours4, faiss4 * kKMeansTolerance) << "beam 4: ours " << ours4 << " faiss " << faiss4;
  EXPECT_LT(ours4, ours1);
  // The same books encoded with a wider beam can only find better or equal codes per vector.
  EXPECT_LE(testdata::mse(x, greedy.decode(greedy.encode(x, 4))), ours1);
}

// Trained on few rows, later levels that also learn from the other beam entries and cluster
// progressively in their leading dimensions generalise better: lower held-out error than
// plain k-means on the best entries alone, on smooth (manifold) and clustered data. Off,
// train() fits its training set alone, which it then fits at least as well.
TEST(ResidualQuantizer, TrainingForHeldOutLowersHeldOutError) {
  const SingleThreaded single_threaded;
  for (const bool clustered : {false, true}) {
    SCOPED_TRACE(clustered ? "clustered" : "manifold");
    const Matrix all = clustered ? testdata::clustered(5000, 32, 21) : testdata::manifold(5000, 32, 21);
    const MatrixView<const float> train = all.view().rows_slice(0, 2000), test = all.view().rows_slice(2000, 3000);
    ResidualQuantizer near(32, 4, 7, 4), best_only(32, 4, 7, 4);
    best_only.set_train_for_held_out(false);
    near.train(train, iters(15));
    best_only.train(train, iters(15));
    const double held_near = testdata::mse(test, near.decode(near.encode(test)));
    const double held_best = testdata::mse(test, best_only.decode(best_only.encode(test)));
    RecordProperty(clustered ? "clustered_held_out_near" : "manifold_held_out_near", std::to_string(held_near));
    RecordProperty(clustered ? "clustered_held_out_best" : "manifold_held_out_best", std::to_string(held_best));
    EXPECT_LT(held_near, held_best);
    EXPECT_LE(testdata::mse(train, best_only.decode(best_only.encode(train))),
              testdata::mse(train, near.decode(near.encode(train))) * 1.01);
  }
}

// Deep RVQ in high dimension. Residual levels are noise-like: a k-means seed far from the bulk
// is nearer to itself than any other point is and stays a singleton that Lloyd never moves.
// Before small clusters were re-seeded, about half of every residual book was such singletons
// here, and the MSE was 7% above FAISS's (2.69 vs 2.53). Every book must be nearly all in use,
// and the MSE at most FAISS's.
TEST(ResidualQuantizer, DeepLevelsKeepBooksInUseAndMatchFaiss) {
  const SingleThreaded single_threaded;
  const Matrix x = testdata::clustered(10000, 64, 1);
  constexpr size_t kLevels = 6, kBits = 8, kEntries = size_t{1} << kBits;
  ResidualQuantizer rq(64, kLevels, kBits);
  rq.train(x, iters(20));
  const Codes codes = rq.encode(x);
  for (size_t l = 0; l < kLevels; ++l) {
    const CodebookUsage usage = codebook_usage(codes, l);
    size_t singletons = 0;
    for (uint64_t c : usage.counts) singletons += c <= 1;
    EXPECT_LT(singletons, kEntries / 16) << "level " << l;
    EXPECT_GT(usage.perplexity, kEntries / 2.0) << "level " << l;
  }
  const double ours = testdata::mse(x, rq.decode(codes));
  const double faiss = faiss_rq_mse(x, kLevels, kBits, 1, 20);
  RecordProperty("ours", std::to_string(ours));
  RecordProperty("faiss", std::to_string(faiss));
  EXPECT_LE(ours, faiss) << "ours " << ours << " faiss " << faiss;
}

// A beam as wide as all code combinations is an exhaustive search: compare with brute force.
TEST(ResidualQuantizer, FullBeamEqualsExhaustiveSearch) {
  const Matrix x = testdata::clustered(3000, 6, 5);
  ResidualQuantizer rq(6, 3, 3);  // 8^3 = 512 combinations
  rq.train(x, {});
  const Codes codes = rq.encode(x, 512);
  const Matrix y = rq.decode(codes);
  const auto& books = rq.books();
  for (size_t i = 0; i < 200; ++i) {
    double best = INFINITY;
    for (size_t a = 0; a < 8; ++a)
      for (size_t b = 0; b < 8; ++b)
        for (size_t c = 0; c < 8; ++c) {
          double e = 0;
          for (size_t j = 0; j < 6; ++j) {
            const double v = x(i, j) - books[0].entries(a, j) - books[1].entries(b, j) -
                             books[2].entries(c, j);
            e += v * v;
          }
          best = std::min(best, e);
        }
    double got = 0;
    for (size_t j = 0; j < 6; ++j) got += (x(i, j) - y(i, j)) * (x(i, j) - y(i, j));
    EXPECT_NEAR(got, best, 1e-4 * (1 + best)) << "row " << i;
  }
}

TEST(ResidualQuantizer, ErrorDecreasesWithLevels) {
  const Matrix x = testdata::clustered(8000, 16, 3);
  double prev = testdata::mean_sq_norm(x);
  for (size_t levels : {1, 2, 4}) {
    ResidualQuantizer rq(16, levels, 5);
    rq.train(x, {});
    const double e = mse(rq, x);
    EXPECT_LT(e, prev) << levels << " levels";
    prev = e;
  }
}

// i.i.d. Gaussian, d = 2, 8 bits: R = 4 bits/dim, D(R) = σ² 2^(−2R) per dimension. No
// quantizer beats D(R). A fixed-rate 2-D quantizer at high rate loses Zador's factor
// 2π G₂ ((k+2)/k)^((k+2)/2) = 2π · 5/(36√3) · 4 = 2.02 (hexagonal cells, G₂ = 0.0802, and the
// point density ∝ p^(k/(k+2)) a fixed rate imposes); 256 cells and k-means local optima add a
// few percent, so 2.2 × D(R) is the bound. Measured on held-out data.
TEST(VectorQuantizer, GaussianNearDistortionRateBound) {
  const Matrix train = testdata::gaussian(256 * 200, 2, 21);
  const Matrix test = testdata::gaussian(20000, 2, 22);
  VectorQuantizer vq(2, 8);
  TrainOptions o = iters(60);
  o.max_points_per_centroid = 0;
  vq.train(train, o);
  const double per_dim = mse(vq, test) / 2.0;
  const double bound = std::pow(2.0, -8.0);
  RecordProperty("ratio_to_DR", std::to_string(per_dim / bound));
  EXPECT_GT(per_dim, bound);
  EXPECT_LE(per_dim, 2.2 * bound);
}

// d = 1, 16 levels: k-means converges to the Lloyd–Max quantizer (unique for a log-concave
// density), whose MSE for N(0,1) is 0.009497 (Max, 1960, table I). 3% covers sampling of
// 50k training and 50k test points.
TEST(VectorQuantizer, ScalarGaussianReachesLloydMax) {
  const Matrix train = testdata::gaussian(50000, 1, 31);
  const Matrix test = testdata::gaussian(50000, 1, 32);
  VectorQuantizer vq(1, 4);
  TrainOptions o = iters(150);
  o.max_points_per_centroid = 0;
  vq.train(train, o);
  EXPECT_NEAR(mse(vq, test), 0.009497, 0.03 * 0.009497);
}

// Anisotropic weights: dimension 0 counts 100×. The quantizer trained with H spends its codes
// there and must have lower H-weighted error than the one trained for plain L2.
TEST(ResidualQuantizer, DiagonalMetricLowersWeightedError) {
  const Matrix x = testdata::correlated(10000, 8, 41);
  std::vector<float> h(8, 1.f);
  h[7] = 100.f;  // the lowest-variance dimension of the "spectrum" source
  const Metric metric = Metric::diagonal(h);
  for (size_t beam : {1, 4}) {
    ResidualQuantizer plain(8, 2, 5, beam), weighted(8, 2, 5, beam);
    plain.train(x, {});
    TrainOptions o;
    o.metric = metric;
    weighted.train(x, o);
    const double e_plain = metric_error(metric, x, plain.decode(plain.encode(x)));
    const double e_weighted = metric_error(metric, x, weighted.decode(weighted.encode(x)));
    EXPECT_LT(e_weighted, 0.8 * e_plain) << "beam " << beam;
  }
  VectorQuantizer plain(8, 6), weighted(8, 6);
  plain.train(x, {});
  TrainOptions o;
  o.metric = metric;
  weighted.train(x, o);
  EXPECT_LT(metric_error(metric, x, weighted.decode(weighted.encode(x))),
            0.8 * metric_error(metric, x, plain.decode(plain.encode(x))));
}

// H = E[q qᵀ] from anisotropic "queries": full rank, then rank 4 of 8 (singular H).
TEST(ResidualQuantizer, FullMetricLowersWeightedErrorIncludingSingular) {
  const Matrix x = testdata::clustered(10000, 8, 51, 16);
  for (size_t rank : {8, 4}) {
    Rng rng(52);
    Matrix q(2000, 8);
    for (size_t i = 0; i < q.rows(); ++i) {
      for (size_t j = 0; j < rank; ++j) q(i, j) = static_cast<float>(rng.normal() * (j == 0 ? 5 : 1));
      for (size_t j = rank; j < 8; ++j) q(i, j) = 0.5f * q(i, j - rank);  // rank-deficient span
    }
    const Metric metric = Metric::from_samples(q);
    ResidualQuantizer plain(8, 2, 5, 2), weighted(8, 2, 5, 2);
    plain.train(x, {});
    TrainOptions o;
    o.metric = metric;
    weighted.train(x, o);
    const double e_plain = metric_error(metric, x, plain.decode(plain.encode(x)));
    const double e_weighted = metric_error(metric, x, weighted.decode(weighted.encode(x)));
    EXPECT_LT(e_weighted, 0.8 * e_plain) << "rank " << rank;
  }
}

// Zero-weight rows far from the data must not pull any entry towards them.
TEST(ResidualQuantizer, ZeroWeightRowsDoNotInfluence) {
  const Matrix a = testdata::clustered(6000, 8, 61);
  Matrix mixed(7000, 8);
  std::copy(a.data(), a.data() + a.rows() * 8, mixed.data());
  for (size_t i = 6000; i < 7000; ++i)
    for (size_t j = 0; j < 8; ++j) mixed(i, j) = 1000.f;
  std::vector<float> w(7000, 1.f);
  std::fill(w.begin() + 6000, w.end(), 0.f);
  for (size_t beam : {1, 4}) {
    ResidualQuantizer alone(8, 2, 5, beam), with_zero(8, 2, 5, beam);
    alone.train(a, {});
    TrainOptions o;
    o.weights = w;
    with_zero.train(mixed, o);
    for (const Codebook& b : with_zero.books())
      for (float v : b.entries.storage()) ASSERT_LT(std::fabs(v), 100.f);
    EXPECT_LE(mse(with_zero, a), 1.05 * mse(alone, a));
  }
}

// Decoded vectors are code points: re-encoding them must give back their codes. For VQ this
// holds row by row (the decoded vector is an entry, at distance 0). For RVQ it holds exactly
// only for an exhaustive search: x̂ = c₀[a] + c₁[b] has error 0 under (a, b) and, for generic
// books, under no other pair. Greedy and narrow beams are not idempotent in general, because
// level 0 picks the entry nearest to x̂ rather than to x, which can differ near cell borders;
// we assert they are stable for the vast majority of rows (measured: 97.5% greedy, >99% beam 8
// on this data) and that the re-encoding error is a small fraction of the quantization error.
TEST(ResidualQuantizer, EncodeDecodeEncodeIsStable) {
  const Matrix x = testdata::clustered(5000, 16, 71);
  VectorQuantizer vq(16, 7);
  vq.train(x, {});
  const Codes c1 = vq.encode(x);
  EXPECT_EQ(vq.encode(vq.decode(c1)).data, c1.data);

  ResidualQuantizer exhaustive(16, 2, 4, 256);  // beam 256 = all 16 × 16 combinations
  exhaustive.train(x, {});
  const Codes ce = exhaustive.encode(x);
  EXPECT_EQ(exhaustive.encode(exhaustive.decode(ce)).data, ce.data);

  for (size_t beam : {1, 8}) {
    ResidualQuantizer rq(16, 3, 6, beam);
    rq.train(x, {});
    const Codes codes = rq.encode(x);
    const Matrix y = rq.decode(codes);
    const Codes again = rq.encode(y);
    size_t same = 0;
    for (size_t i = 0; i < codes.n; ++i)
      same += std::equal(codes.row(i), codes.row(i) + 3, again.row(i));
    EXPECT_GE(same, codes.n * 95 / 100) << "beam " << beam;
    EXPECT_LT(testdata::mse(y, rq.decode(again)), 0.05 * testdata::mse(x, y)) << "beam " << beam;
  }
}

TEST(ResidualQuantizer, DeterministicForASeed) {
  const Matrix x = testdata::clustered(5000, 16, 81);
  TrainOptions o;
  o.seed = 99;
  o.threads = 2;
  ResidualQuantizer a(16, 3, 6, 4), b(16, 3, 6, 4);
  a.train(x, o);
  b.train(x, o);
  for (size_t l = 0; l < 3; ++l)
    EXPECT_EQ(a.books()[l].entries.storage(), b.books()[l].entries.storage());
  EXPECT_EQ(a.encode(x).data, b.encode(x).data);
  o.seed = 100;
  ResidualQuantizer c(16, 3, 6, 4);
  c.train(x, o);
  EXPECT_NE(a.books()[0].entries.storage(), c.books()[0].entries.storage());
}

TEST(ResidualQuantizer, LookupTablesMatchDecodedVectors) {
  const Matrix x = testdata::clustered(4000, 16, 91);
  ResidualQuantizer rq(16, 3, 6, 2);
  rq.train(x, {});
  const Codes codes = rq.encode(x);
  const Matrix y = rq.decode(codes);
  const std::vector<float> norms = rq.decoded_norms(codes);
  const Matrix queries = testdata::clustered(5, 16, 92);
  for (size_t qi = 0; qi < queries.rows(); ++qi) {
    const Span<const float> q(queries.row_ptr(qi), 16);
    const LookupTable ip = rq.lookup_tables(q, SearchMetric::kInnerProduct);
    const LookupTable l2 = rq.lookup_tables(q, SearchMetric::kL2);
    EXPECT_TRUE(l2.add_norms);
    for (size_t i = 0; i < 500; ++i) {
      double dot = 0, dist = 0;
      for (size_t j = 0; j < 16; ++j) {
        dot += double(q[j]) * y(i, j);
        dist += (double(q[j]) - y(i, j)) * (double(q[j]) - y(i, j));
      }
      EXPECT_NEAR(ip.score(codes.row(i)), dot, 1e-4 * (1 + std::fabs(dot)));
      EXPECT_NEAR(l2.score(codes.row(i), norms[i]), dist, 1e-4 * (1 + dist));
    }
  }
}

TEST(ResidualQuantizer, BadInputThrows) {
  EXPECT_THROW(ResidualQuantizer(16, 0, 8), Error);
  EXPECT_THROW(ResidualQuantizer(16, 2, 0), Error);
  EXPECT_THROW(ResidualQuantizer(16, 2, 17), Error);
  EXPECT_THROW(ResidualQuantizer(16, 2, 8, 0), Error);
  EXPECT_THROW(VectorQuantizer(0, 8), Error);
  const Matrix x = testdata::clustered(1000, 8, 101);
  ResidualQuantizer rq(8, 2, 4);
  EXPECT_THROW(rq.encode(x), Error);  // not trained
  EXPECT_THROW(rq.train(Matrix(0, 8), {}), Error);
  EXPECT_THROW(rq.train(testdata::clustered(1000, 7, 1), {}), Error);
  Matrix nan = x;
  nan(3, 2) = NAN;
  EXPECT_THROW(rq.train(nan, {}), Error);
  ResidualQuantizer big(8, 2, 11);  // 2048 entries > 1000 vectors
  try {
    big.train(x, {});
    ADD_FAILURE() << "expected vq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 2048 training vectors"), std::string::npos)
        << e.what();
  }
  rq.train(x, {});
  EXPECT_THROW(rq.encode(testdata::clustered(10, 9, 1)), Error);
  EXPECT_THROW(rq.encode(nan), Error);
  EXPECT_EQ(rq.encode(Matrix(0, 8)).n, 0u);
  TrainOptions o;
  o.metric = Metric::diagonal(std::vector<float>(5, 1.f));
  EXPECT_THROW(rq.train(x, o), Error);
}

TEST(ResidualQuantizer, OneBitAndSixteenBitBooks) {
  const Matrix x = testdata::clustered(3000, 4, 111);
  ResidualQuantizer one(4, 6, 1, 2);
  one.train(x, {});
  EXPECT_EQ(one.describe(), "RVQ6x1b2");
  EXPECT_LT(mse(one, x), testdata::mean_sq_norm(x));
  // 16-bit books: training needs >= 65536 vectors (clear error below that). A successful
  // 2^16-entry k-means takes ~35 s here (k-means++ seeding is O(n·K)), too slow for a unit test,
  // so the 16-bit encode path is checked on books installed through load_state, against brute
  // force.
  VectorQuantizer vq16(2, 16);
  EXPECT_THROW(vq16.train(testdata::gaussian(1000, 2, 1), {}), Error);
  const Matrix entries = testdata::gaussian(65536, 2, 112);
  ByteWriter w;
  w.u64(1);
  w.u64(0);
  w.u64(2);
  w.u8(16);
  w.f32s(entries.storage());
  ContainerWriter cw;
  cw.add("MTRC", Metric().serialize());
  cw.add("BOOK", w.take());
  const std::vector<uint8_t> bytes = cw.to_bytes();
  vq16.load_state(ContainerReader::from_bytes(bytes));
  const Matrix pts = testdata::gaussian(300, 2, 113);
  const Codes codes = vq16.encode(pts);
  EXPECT_EQ(codes.bits[0], 16);
  for (size_t i = 0; i < pts.rows(); ++i) {
    double best = INFINITY, got = 0;
    for (size_t k = 0; k < 65536; ++k) {
      const double e = std::pow(pts(i, 0) - entries(k, 0), 2) + std::pow(pts(i, 1) - entries(k, 1), 2);
      best = std::min(best, e);
      if (k == codes(i, 0)) got = e;
    }
    EXPECT_NEAR(got, best, 1e-5);
  }
}

TEST(GroupResidualQuantizer, IsAnRvqPerGroup) {
  EXPECT_EQ(GroupResidualQuantizer(16, 2, 4, 8).describe(), "GRVQ2x4x8");
  EXPECT_EQ(GroupResidualQuantizer(16, 2, 4, 8, 4).describe(), "GRVQ2x4x8b4");
  EXPECT_THROW(GroupResidualQuantizer(15, 2, 4, 8), Error);
  const Matrix x = testdata::clustered(6000, 16, 121);
  GroupResidualQuantizer g(16, 2, 3, 5, 2);
  TrainOptions o;
  o.seed = 7;
  g.train(x, o);
  ASSERT_EQ(g.books().size(), 6u);
  Matrix half(6000, 8);
  for (size_t grp = 0; grp < 2; ++grp) {
    for (size_t i = 0; i < 6000; ++i)
      for (size_t j = 0; j < 8; ++j) half(i, j) = x(i, grp * 8 + j);
    ResidualQuantizer rq(8, 3, 5, 2);
    TrainOptions og;
    og.seed = 7 + 1000 * grp;
    rq.train(half, og);
    const Codes rc = rq.encode(half);
    const Codes gc = g.encode(x);
    for (size_t l = 0; l < 3; ++l) {
      const Codebook& b = g.books()[grp * 3 + l];
      EXPECT_EQ(b.offset, grp * 8);
      EXPECT_EQ(b.dim, 8u);
      EXPECT_EQ(b.entries.storage(), rq.books()[l].entries.storage());
      for (size_t i = 0; i < 6000; ++i) ASSERT_EQ(gc(i, grp * 3 + l), rc(i, l));
    }
  }
  const Codes codes = g.encode(x);
  const Matrix y = g.decode(codes);
  const Span<const float> q(x.row_ptr(0), 16);
  const LookupTable ip = g.lookup_tables(q, SearchMetric::kInnerProduct);
  double dot = 0;
  for (size_t j = 0; j < 16; ++j) dot += double(q[j]) * y(5, j);
  EXPECT_NEAR(ip.score(codes.row(5)), dot, 1e-4 * (1 + std::fabs(dot)));
  GroupResidualQuantizer one_level(16, 2, 1, 5);
  one_level.train(x, o);
  EXPECT_LT(mse(g, x), mse(one_level, x));
}

}  // namespace
}  // namespace vq
