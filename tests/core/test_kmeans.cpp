// k-means: Lloyd descent, agreement with faiss::Clustering (and ProgressiveDimClustering),
// given starting centroids, determinism, empty-cluster splitting, weights, the Metric, input
// validation and codebook usage statistics.
#include "vq/core/kmeans.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "test_data.h"

namespace vq {
namespace {

// Mean over rows of min_j d_H(x_i, c_j), brute force in double: an oracle independent of the
// GEMM kernels under test.
double objective(MatrixView<const float> x, const float* centroids, size_t k, const Metric& m = Metric()) {
  const size_t d = x.cols();
  double total = 0.0;
#pragma omp parallel for reduction(+ : total)
  for (size_t i = 0; i < x.rows(); ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < k; ++j) {
      double s;
      if (m.is_identity()) {
        s = 0.0;
        for (size_t t = 0; t < d; ++t) {
          const double v = double(x(i, t)) - centroids[j * d + t];
          s += v * v;
        }
      } else {
        s = m.distance(x.row_ptr(i), centroids + j * d, d);
      }
      best = std::min(best, s);
    }
    total += best;
  }
  return total / x.rows();
}

KMeansOptions options(size_t k, int iterations, uint64_t seed = 7) {
  KMeansOptions o;
  o.k = k;
  o.iterations = iterations;
  o.seed = seed;
  o.threads = 2;
  return o;
}

TEST(KMeans, ObjectiveNonIncreasing) {
  const Matrix x = testdata::clustered(5000, 16, 1, 32);
  const KMeansResult r = kmeans(x.view(), options(40, 15));
  ASSERT_EQ(r.stats.size(), 15u);
  for (size_t i = 1; i < r.stats.size(); ++i)
    EXPECT_LE(r.stats[i].objective, r.stats[i - 1].objective * (1 + 1e-6)) << "iteration " << i;
  EXPECT_LE(r.objective, r.stats.back().objective * (1 + 1e-6));
  // The reported objective is the mean distance of the training set to the returned centroids.
  EXPECT_NEAR(r.objective, objective(x.view(), r.centroids.data(), 40), 1e-4 * r.objective);
  EXPECT_EQ(r.training_points, 5000u);
  EXPECT_EQ(r.usage.counts.size(), 40u);
}

// Runs faiss::Clustering with FAISS's own defaults except the iteration count and sampling.
std::vector<float> faiss_kmeans(const Matrix& x, size_t k, int iterations, const float* init = nullptr) {
  faiss::ClusteringParameters cp;
  cp.niter = iterations;
  cp.max_points_per_centroid = 1 << 20;  // no subsampling, like ours below
  cp.seed = 3;
  faiss::Clustering clus(static_cast<int>(x.cols()), static_cast<int>(k), cp);
  if (init) clus.centroids.assign(init, init + k * x.cols());
  faiss::IndexFlatL2 index(static_cast<int>(x.cols()));
  clus.train(static_cast<faiss::Index::idx_t>(x.rows()), x.data(), index);
  return clus.centroids;
}

TEST(KMeans, MatchesFaissFromSameStart) {
  // Same initial centroids on both sides: Lloyd iterations must follow the same path.
  const Matrix x = testdata::clustered(20000, 32, 2, 64);
  const size_t k = 64;
  KMeansOptions o = options(k, 0);
  o.max_points_per_centroid = 0;
  const Matrix init = kmeans(x.view(), o).centroids;
  o.iterations = 20;
  const KMeansResult ours = kmeans(x.view(), o);
  const std::vector<float> theirs = faiss_kmeans(x, k, 20, init.data());
  const double obj_ours = objective(x.view(), ours.centroids.data(), k);
  const double obj_faiss = objective(x.view(), theirs.data(), k);
  EXPECT_NEAR(obj_ours, obj_faiss, 0.01 * obj_faiss);
  EXPECT_NEAR(ours.objective, obj_ours, 1e-4 * obj_ours);
}

TEST(KMeans, StartsFromGivenCentroids) {
  const Matrix x = testdata::clustered(5000, 16, 21, 32);
  const size_t k = 32;
  KMeansOptions o = options(k, 0);
  const Matrix start = kmeans(x.view(), o).centroids;  // the k-means++ seeds
  o.initial_centroids = start.view();
  EXPECT_EQ(kmeans(x.view(), o).centroids.storage(), start.storage());
  // Started from its own seeds, k-means follows its own path exactly.
  o.iterations = 10;
  const KMeansResult given = kmeans(x.view(), o);
  o.initial_centroids = {};
  EXPECT_EQ(given.centroids.storage(), kmeans(x.view(), o).centroids.storage());
  const Matrix wrong = testdata::gaussian(k - 1, 16, 23);
  o.initial_centroids = wrong.view();
  EXPECT_THROW(kmeans(x.view(), o), Error);
  Matrix nan = start;
  nan(3, 2) = NAN;
  o.initial_centroids = nan.view();
  EXPECT_THROW(kmeans(x.view(), o), Error);
}

// A training set of few points per centroid, with variance decaying over the coordinates (a
// rotated copy, so the principal axes are not the coordinate axes), and held-out rows.
struct FewPointsPerCentroid {
  Matrix train, held;
};
FewPointsPerCentroid few_points_per_centroid(size_t n, size_t d, uint64_t seed) {
  FewPointsPerCentroid s{testdata::gaussian(n, d, seed), testdata::gaussian(4000, d, seed + 1)};
  const Matrix mix = testdata::gaussian(d, d, seed + 2);
  for (Matrix* m : {&s.train, &s.held}) {
    Matrix out(m->rows(), d);
    for (size_t i = 0; i < m->rows(); ++i)
      for (size_t j = 0; j < d; ++j) {
        double v = 0;
        for (size_t t = 0; t < d; ++t) v += (*m)(i, t) / (1.0 + t) * mix(t, j);
        out(i, j) = static_cast<float>(v + 0.5);
      }
    *m = std::move(out);
  }
  return s;
}

TEST(KMeansProgressive, HeldOutWithinOnePercentOfFaissAndBelowPlain) {
  const FewPointsPerCentroid s = few_points_per_centroid(1280, 32, 31);
  const size_t k = 128;
  KMeansOptions o = options(k, 10);
  o.init = KMeansInit::kRandom;  // as FAISS, and as RVQ's residual levels
  const KMeansResult prog = kmeans_progressive(s.train.view(), o);
  ASSERT_EQ(prog.centroids.rows(), k);
  EXPECT_NEAR(prog.objective, objective(s.train.view(), prog.centroids.data(), k), 1e-3 * prog.objective);

  faiss::ProgressiveDimClusteringParameters cp;
  cp.niter = 10;
  cp.seed = 3;
  faiss::ProgressiveDimClustering clus(32, static_cast<int>(k), cp);
  faiss::ProgressiveDimIndexFactory factory;
  clus.train(static_cast<faiss::Index::idx_t>(s.train.rows()), s.train.data(), factory);
  const double held_prog = objective(s.held.view(), prog.centroids.data(), k);
  EXPECT_LE(held_prog, 1.01 * objective(s.held.view(), clus.centroids.data(), k));

  // Plain k-means does worse on the held-out rows.
  const KMeansResult plain = kmeans(s.train.view(), o);
  const double held_plain = objective(s.held.view(), plain.centroids.data(), k);
  RecordProperty("held_out_progressive", std::to_string(held_prog));
  RecordProperty("held_out_faiss_progressive", std::to_string(objective(s.held.view(), clus.centroids.data(), k)));
  RecordProperty("held_out_plain", std::to_string(held_plain));
  EXPECT_LT(held_prog, 0.98 * held_plain);
}

TEST(KMeansProgressive, DeterministicStepsAndProgress) {
  const FewPointsPerCentroid s = few_points_per_centroid(3000, 16, 41);
  KMeansOptions o = options(64, 4);
  o.max_points_per_centroid = 40;  // subsamples 2560 of the 3000 rows
  o.threads = 1;
  std::vector<ProgressEvent> events;
  o.progress = [&](const ProgressEvent& e) { events.push_back(e); };
  const KMeansResult a = kmeans_progressive(s.train.view(), o, 5);
  // d = 16 over 5 steps: 1, 3, 5, 9, 16 leading coordinates, 4 iterations each.
  EXPECT_EQ(a.stats.size(), 20u);
  EXPECT_EQ(a.training_points, 2560u);
  ASSERT_EQ(events.size(), 20u);
  EXPECT_EQ(events.back().step, 20u);
  EXPECT_EQ(events.back().total, 20u);
  o.progress = nullptr;
  for (int threads : {1, 2, 3}) {
    o.threads = threads;
    EXPECT_EQ(kmeans_progressive(s.train.view(), o, 5).centroids.storage(), a.centroids.storage()) << threads;
  }
  // d = 8 over 10 steps: 1, 1, 1, 2, 2, 3, 4, 5, 6, 8 leading coordinates; repeats are skipped,
  // and the progress total counts only the steps that run.
  const FewPointsPerCentroid s8 = few_points_per_centroid(1000, 8, 43);
  KMeansOptions o8 = options(16, 2);
  events.clear();
  o8.progress = [&](const ProgressEvent& e) { events.push_back(e); };
  EXPECT_EQ(kmeans_progressive(s8.train.view(), o8, 10).stats.size(), 14u);
  ASSERT_EQ(events.size(), 14u);
  EXPECT_EQ(events.back().step, 14u);
  EXPECT_EQ(events.back().total, 14u);
  EXPECT_THROW(kmeans_progressive(s.train.view(), o, 0), Error);
  o.metric = Metric::diagonal(std::vector<float>(16, 2.f));
  EXPECT_THROW(kmeans_progressive(s.train.view(), o), Error);
  o.metric = Metric();
  Matrix bad = s.train;
  bad(7, 3) = NAN;
  EXPECT_THROW(kmeans_progressive(bad.view(), o), Error);
}

TEST(KMeans, WithinOnePercentOfFaiss) {
  // Independent initialisations (ours: k-means++; FAISS: random rows): ours must be no worse
  // than FAISS by more than 1%, for both of our init methods.
  const Matrix x = testdata::clustered(20000, 32, 3, 64);
  const size_t k = 64;
  const double obj_faiss = objective(x.view(), faiss_kmeans(x, k, 20).data(), k);
  for (KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    KMeansOptions o = options(k, 20);
    o.init = init;
    o.max_points_per_centroid = 0;
    const KMeansResult ours = kmeans(x.view(), o);
    EXPECT_LE(objective(x.view(), ours.centroids.data(), k), 1.01 * obj_faiss) << int(init);
  }
}

TEST(KMeans, DeterministicAcrossRunsAndThreads) {
  const Matrix x = testdata::clustered(6000, 24, 4, 16);
  KMeansOptions o = options(50, 8);
  o.max_points_per_centroid = 100;  // exercises subsampling too
  o.threads = 1;
  const KMeansResult a = kmeans(x.view(), o);
  const KMeansResult b = kmeans(x.view(), o);
  EXPECT_EQ(a.centroids.storage(), b.centroids.storage());
  EXPECT_EQ(a.training_points, 5000u);
  for (int threads : {2, 3}) {
    o.threads = threads;
    const KMeansResult c = kmeans(x.view(), o);
    EXPECT_EQ(a.centroids.storage(), c.centroids.storage()) << threads << " threads";
    EXPECT_EQ(a.objective, c.objective);
  }
  o.seed = 8;
  EXPECT_NE(kmeans(x.view(), o).centroids.storage(), a.centroids.storage());
}

TEST(KMeans, SplitsEmptyClusters) {
  // 2000 points on only 12 distinct locations (+ a few unique ones), k = 20 with random init:
  // many initial centroids coincide, so clusters go empty and must be split.
  Matrix x = testdata::gaussian(2000, 8, 5);
  const Matrix sites = testdata::gaussian(12, 8, 6, 10.f);
  for (size_t i = 0; i < 1970; ++i)
    for (size_t t = 0; t < 8; ++t) x(i, t) = sites(i % 12, t);
  KMeansOptions o = options(20, 10);
  o.init = KMeansInit::kRandom;
  const KMeansResult r = kmeans(x.view(), o);
  size_t splits = 0;
  for (const auto& s : r.stats) splits += s.split_clusters;
  EXPECT_GT(splits, 0u);
  // After splitting, every site has its own centroid: the error is the unique points' only.
  EXPECT_LT(r.objective, 0.05 * testdata::mean_sq_norm(x.view()));
  EXPECT_LE(r.usage.dead, 20u - 12u);
}

TEST(KMeans, ZeroWeightRowsAreIgnored) {
  const Matrix base = testdata::clustered(3000, 12, 7, 16);
  const Matrix noise = testdata::gaussian(3000, 12, 8, 50.f);
  Matrix mixed(6000, 12);
  std::vector<float> w(6000);
  for (size_t i = 0; i < 3000; ++i) {  // interleave: real row, junk row with weight 0
    std::copy(base.row_ptr(i), base.row_ptr(i) + 12, mixed.row_ptr(2 * i));
    std::copy(noise.row_ptr(i), noise.row_ptr(i) + 12, mixed.row_ptr(2 * i + 1));
    w[2 * i] = 1.f;
    w[2 * i + 1] = 0.f;
  }
  KMeansOptions o = options(24, 10);
  o.max_points_per_centroid = 0;
  const KMeansResult plain = kmeans(base.view(), o);
  o.weights = w;
  const KMeansResult weighted = kmeans(mixed.view(), o);
  ASSERT_EQ(plain.centroids.storage().size(), weighted.centroids.storage().size());
  for (size_t e = 0; e < plain.centroids.storage().size(); ++e)
    EXPECT_NEAR(plain.centroids.storage()[e], weighted.centroids.storage()[e], 1e-4f);
  EXPECT_NEAR(plain.objective, weighted.objective, 1e-5 * plain.objective);
}

TEST(KMeans, HeavyWeightPullsCentroid) {
  // One cluster, two points: the centroid is the weighted mean.
  Matrix x(2, 2);
  x(0, 0) = 0.f, x(1, 0) = 4.f;
  const std::vector<float> w = {3.f, 1.f};
  KMeansOptions o = options(1, 2);
  o.weights = w;
  const KMeansResult r = kmeans(x.view(), o);
  EXPECT_FLOAT_EQ(r.centroids(0, 0), 1.f);
  EXPECT_NEAR(r.objective, (3 * 1.0 + 1 * 9.0) / 4, 1e-5);
}

// k-means trained under H must beat plain k-means when both are judged by H.
void expect_metric_helps(const Metric& h, const Matrix& x, size_t k) {
  KMeansOptions o = options(k, 15);
  o.max_points_per_centroid = 0;
  const KMeansResult plain = kmeans(x.view(), o);
  o.metric = h;
  const KMeansResult aware = kmeans(x.view(), o);
  const double judged_plain = objective(x.view(), plain.centroids.data(), k, h);
  const double judged_aware = objective(x.view(), aware.centroids.data(), k, h);
  EXPECT_LT(judged_aware, 0.9 * judged_plain);
  EXPECT_NEAR(aware.objective, judged_aware, 1e-3 * judged_aware);
}

TEST(KMeans, DiagonalMetric) {
  const size_t d = 16;
  const Matrix x = testdata::gaussian(4000, d, 9);
  std::vector<float> h(d, 0.01f);
  h[0] = h[1] = 10.f;  // two dimensions matter, the rest barely
  expect_metric_helps(Metric::diagonal(h), x, 16);
}

TEST(KMeans, FullMetric) {
  const size_t d = 12;
  const Matrix x = testdata::gaussian(4000, d, 10);
  // H = u uᵀ + v vᵀ + 0.01 I: error along two random directions dominates.
  const Matrix uv = testdata::gaussian(2, d, 11);
  std::vector<float> h(d * d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      h[i * d + j] = uv(0, i) * uv(0, j) + uv(1, i) * uv(1, j) + (i == j ? 0.01f : 0.f);
  expect_metric_helps(Metric::full(h, d), x, 16);
}

TEST(KMeans, ProgressCallback) {
  const Matrix x = testdata::clustered(2000, 8, 12, 8);
  KMeansOptions o = options(8, 5);
  std::vector<ProgressEvent> events;
  o.progress = [&](const ProgressEvent& e) { events.push_back(e); };
  const KMeansResult r = kmeans(x.view(), o);
  ASSERT_EQ(events.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(events[i].stage, "kmeans");
    EXPECT_EQ(events[i].step, i + 1);
    EXPECT_EQ(events[i].total, 5u);
    EXPECT_EQ(events[i].objective, r.stats[i].objective);
    EXPECT_GT(events[i].perplexity, 1.0);
    EXPECT_LE(events[i].perplexity, 8.0 + 1e-9);
  }
  o.progress = [](const ProgressEvent&) { throw std::runtime_error("cancelled"); };
  EXPECT_THROW(kmeans(x.view(), o), std::runtime_error);
}

TEST(KMeans, BadInputsThrow) {
  const Matrix x = testdata::gaussian(10, 3, 13);
  EXPECT_THROW(kmeans(MatrixView<const float>(), options(2, 1)), Error);
  EXPECT_THROW(kmeans(x.view(), options(0, 1)), Error);
  EXPECT_THROW(kmeans(x.view(), options(11, 1)), Error);
  EXPECT_THROW(kmeans(x.view(), options(2, -1)), Error);
  Matrix bad = x;
  bad(4, 1) = NAN;
  EXPECT_THROW(kmeans(bad.view(), options(2, 1)), Error);
  bad(4, 1) = INFINITY;
  EXPECT_THROW(kmeans(bad.view(), options(2, 1)), Error);
  KMeansOptions o = options(2, 1);
  const std::vector<float> short_w(9, 1.f), neg_w = {1, 1, 1, -1, 1, 1, 1, 1, 1, 1}, zero_w(10, 0.f);
  o.weights = short_w;
  EXPECT_THROW(kmeans(x.view(), o), Error);
  o.weights = neg_w;
  EXPECT_THROW(kmeans(x.view(), o), Error);
  o.weights = zero_w;
  EXPECT_THROW(kmeans(x.view(), o), Error);
  o.weights = {};
  o.metric = Metric::diagonal({1.f, 1.f});
  EXPECT_THROW(kmeans(x.view(), o), Error);
}

TEST(CodebookUsage, KnownCounts) {
  const std::vector<uint64_t> uniform = {5, 5, 5, 5};
  CodebookUsage u = codebook_usage(uniform);
  EXPECT_DOUBLE_EQ(u.entropy_bits, 2.0);
  EXPECT_DOUBLE_EQ(u.perplexity, 4.0);
  EXPECT_EQ(u.dead, 0u);
  const std::vector<uint64_t> skewed = {6, 2, 0, 0};  // p = 3/4, 1/4
  u = codebook_usage(skewed);
  const double h = -(0.75 * std::log2(0.75) + 0.25 * std::log2(0.25));
  EXPECT_NEAR(u.entropy_bits, h, 1e-12);
  EXPECT_NEAR(u.perplexity, std::exp2(h), 1e-12);
  EXPECT_EQ(u.dead, 2u);
  EXPECT_EQ(codebook_usage(std::vector<uint64_t>{0, 0}).dead, 2u);

  Codes codes(6, {2, 1});
  const uint16_t data[] = {0, 1, 1, 1, 1, 0, 3, 1, 3, 1, 3, 1};
  codes.data.assign(std::begin(data), std::end(data));
  u = codebook_usage(codes, 0);
  EXPECT_EQ(u.counts, (std::vector<uint64_t>{1, 2, 0, 3}));
  EXPECT_EQ(u.dead, 1u);
  EXPECT_EQ(codebook_usage(codes, 1).counts, (std::vector<uint64_t>{1, 5}));
  EXPECT_THROW(codebook_usage(codes, 2), Error);
}

}  // namespace
}  // namespace vq
