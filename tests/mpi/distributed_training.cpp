// Distributed training under mpirun (tests/mpi/CMakeLists.txt runs this at 1, 2 and 4 ranks):
// every rank generates the same global data, trains on its own rows through MpiCommunicator,
// and compares with a single-process run on all rows. The two differ only in the order of the
// sums reduced across ranks, so the codebooks must agree to float rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/additive_update.h"
#include "error_text.h"
#include "test_data.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/factory.h"
#include "vq/core/kmeans.h"
#include "vq/mpi/mpi_communicator.h"

namespace vq {
namespace {

const mpi::MpiCommunicator& world() {
  static const mpi::MpiCommunicator comm;
  return comm;
}

// This rank's rows of x in the even split the CLI uses.
MatrixView<const float> my_rows(const Matrix& x) {
  const RowBlock b = rank_rows(x.rows(), world().rank(), world().size());
  return x.view().rows_slice(b.begin, b.end - b.begin);
}

// Largest |a − b| over two matrices of equal shape, relative to the largest |a|.
double relative_max_diff(MatrixView<const float> a, MatrixView<const float> b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < a.rows(); ++i)
    for (size_t j = 0; j < a.cols(); ++j) {
      diff = std::max(diff, double(std::abs(a(i, j) - b(i, j))));
      scale = std::max(scale, double(std::abs(a(i, j))));
    }
  return diff / scale;
}

// Reduction order moves sums in their last bits; a centroid of n points then moves by about
// n·2⁻⁵³ of the data's scale, far below this.
constexpr double kTolerance = 1e-5;

TEST(DistributedKMeans, EqualsSingleProcess) {
  const Matrix x = testdata::clustered(6000, 16, 11, 32);
  KMeansOptions o;
  o.k = 64;
  o.iterations = 12;
  const KMeansResult single = kmeans(x.view(), o);
  o.comm = &world();
  const KMeansResult spread = kmeans(my_rows(x), o);
  EXPECT_LT(relative_max_diff(single.centroids.view(), spread.centroids.view()), kTolerance);
  EXPECT_NEAR(spread.objective, single.objective, 1e-9 * single.objective);
  EXPECT_EQ(spread.training_points, single.training_points);
  EXPECT_EQ(spread.usage.counts, single.usage.counts);
  ASSERT_EQ(spread.stats.size(), single.stats.size());
  for (size_t i = 0; i < single.stats.size(); ++i)
    EXPECT_EQ(spread.stats[i].split_clusters, single.stats[i].split_clusters) << "iteration " << i;
}

// Subsampled, randomly seeded, weighted, under a diagonal metric, with small clusters re-seeded:
// every global draw must pick the same rows at every rank count.
TEST(DistributedKMeans, SubsampledWeightedUnderAMetricEqualsSingleProcess) {
  const size_t n = 5000, d = 12;
  const Matrix x = testdata::correlated(n, d, 5);
  std::vector<float> w(n), h(d);
  for (size_t i = 0; i < n; ++i) w[i] = (i % 7 == 0) ? 0.f : 0.5f + float(i % 5);
  for (size_t j = 0; j < d; ++j) h[j] = 1.f + float(j);
  KMeansOptions o;
  o.k = 48;
  o.iterations = 8;
  o.init = KMeansInit::kRandom;
  o.max_points_per_centroid = 40;  // 1,920 of 5,000 rows
  o.metric = Metric::diagonal(h);
  o.min_cluster_fraction = 0.2;
  o.weights = w;
  const KMeansResult single = kmeans(x.view(), o);
  const RowBlock b = rank_rows(n, world().rank(), world().size());
  o.weights = Span<const float>(w).subspan(b.begin, b.end - b.begin);
  o.comm = &world();
  const KMeansResult spread = kmeans(my_rows(x), o);
  EXPECT_EQ(spread.training_points, size_t{1920});
  EXPECT_LT(relative_max_diff(single.centroids.view(), spread.centroids.view()), kTolerance);
  EXPECT_NEAR(spread.objective, single.objective, 1e-9 * single.objective);
}

// One rank holds every row, the others none.
TEST(DistributedKMeans, RanksWithoutRows) {
  const Matrix x = testdata::clustered(3000, 8, 3, 16);
  KMeansOptions o;
  o.k = 32;
  o.iterations = 6;
  const KMeansResult single = kmeans(x.view(), o);
  o.comm = &world();
  const MatrixView<const float> mine =
      world().rank() == world().size() - 1 ? x.view() : MatrixView<const float>(x.data(), 0, 8, 8);
  const KMeansResult spread = kmeans(mine, o);
  EXPECT_LT(relative_max_diff(single.centroids.view(), spread.centroids.view()), kTolerance);
}

TEST(DistributedKMeans, ProgressiveEqualsSingleProcess) {
  const Matrix x = testdata::manifold(4000, 32, 9);
  KMeansOptions o;
  o.k = 40;
  o.iterations = 4;
  const KMeansResult single = kmeans_progressive(x.view(), o, 5);
  o.comm = &world();
  const KMeansResult spread = kmeans_progressive(my_rows(x), o, 5);
  EXPECT_LT(relative_max_diff(single.centroids.view(), spread.centroids.view()), kTolerance);
  EXPECT_NEAR(spread.objective, single.objective, 1e-9 * single.objective);
}

// Every rank throws when one rank's rows are bad, and names the rank that failed.
TEST(DistributedKMeans, ABadRowOnOneRankStopsEveryRank) {
  Matrix x = testdata::gaussian(400, 4, 2);
  const RowBlock b = rank_rows(x.rows(), world().rank(), world().size());
  if (world().rank() == world().size() - 1) x(b.begin, 1) = std::nanf("");
  KMeansOptions o;
  o.k = 8;
  o.comm = &world();
  const std::string error = testdata::error_of([&] { kmeans(my_rows(x), o); });
  if (world().rank() == world().size() - 1) {
    EXPECT_NE(error.find("non-finite"), std::string::npos) << error;
  } else {
    EXPECT_NE(error.find("rank " + std::to_string(world().size() - 1) + " failed"), std::string::npos) << error;
  }
}

TEST(DistributedKMeans, KAboveTheGlobalRowCountIsRefusedEverywhere) {
  const Matrix x = testdata::gaussian(10, 4, 2);
  KMeansOptions o;
  o.k = 11;
  o.comm = &world();
  const std::string error = testdata::error_of([&] { kmeans(my_rows(x), o); });
  EXPECT_NE(error.find("k = 11 > number of training points 10"), std::string::npos) << error;
}

// The quantizers that train across ranks give the single-process codebooks and codes.
class DistributedQuantizer : public ::testing::TestWithParam<const char*> {};

TEST_P(DistributedQuantizer, EqualsSingleProcess) {
  const Matrix x = testdata::manifold(3000, 32, 4);
  TrainOptions o;
  o.iterations = 6;
  const auto single = make_quantizer(GetParam(), 32);
  single->train(x.view(), o);
  o.comm = &world();
  const auto spread = make_quantizer(GetParam(), 32);
  spread->train(my_rows(x), o);
  const auto& a = dynamic_cast<const CodebookQuantizer&>(*single).books();
  const auto& b = dynamic_cast<const CodebookQuantizer&>(*spread).books();
  ASSERT_EQ(a.size(), b.size());
  for (size_t m = 0; m < a.size(); ++m)
    EXPECT_LT(relative_max_diff(a[m].entries.view(), b[m].entries.view()), kTolerance) << "book " << m;
  const Codes ca = single->encode(x.view()), cb = spread->encode(x.view());
  size_t same = 0;
  for (size_t i = 0; i < ca.data.size(); ++i) same += ca.data[i] == cb.data[i];
  EXPECT_GE(double(same), 0.999 * double(ca.data.size()));
}

INSTANTIATE_TEST_SUITE_P(Specs, DistributedQuantizer, ::testing::Values("VQ6", "PQ8x6", "RVQ4x6b4", "GRVQ2x2x6b2",
                                                                   "AQ2x6"));

// AQ's two codebook updates with every rank's rows: the dense normal equations (one reduction)
// and conjugate gradient (a reduction per iteration) give the single-process books.
TEST(DistributedQuantizer, AdditiveUpdatesEqualSingleProcess) {
  const size_t n = 2000, d = 12, M = 3, K = 32;
  const Matrix x = testdata::clustered(n, d, 6, 16);
  std::vector<int32_t> codes(n * M);
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) {
    w[i] = 0.25f + float(i % 4);
    for (size_t m = 0; m < M; ++m) codes[i * M + m] = int32_t((i * 7 + m * 13 + i / 5) % K);
  }
  std::vector<Codebook> start(M);
  for (size_t m = 0; m < M; ++m) start[m] = Codebook{0, d, 5, testdata::gaussian(K, d, 40 + m)};
  const RowBlock b = rank_rows(n, world().rank(), world().size());
  const Span<const float> my_w = Span<const float>(w).subspan(b.begin, b.end - b.begin);
  const Span<const int32_t> my_codes = Span<const int32_t>(codes).subspan(b.begin * M, (b.end - b.begin) * M);
  for (const bool cg : {false, true}) {
    std::vector<Codebook> single = start, spread = start;
    if (cg) {
      detail::update_books_cg(x.view(), w, codes, single, 1);
      detail::update_books_cg(my_rows(x), my_w, my_codes, spread, 1, detail::CgOptions{}, world());
    } else {
      detail::update_books_dense(x.view(), w, codes, single);
      detail::update_books_dense(my_rows(x), my_w, my_codes, spread, world());
    }
    for (size_t m = 0; m < M; ++m)
      EXPECT_LT(relative_max_diff(single[m].entries.view(), spread[m].entries.view()), kTolerance)
          << (cg ? "CG" : "dense") << " book " << m;
  }
}

// Scalar quantizers: per-dimension ranges over every rank's rows (SQ), nothing to fit (groups).
TEST(DistributedQuantizer, ScalarEqualsSingleProcess) {
  Matrix x = testdata::correlated(1000, 16, 2);
  x(999, 3) = 40.f;  // the range's end on the last rank
  for (const char* spec : {"SQ6", "NF4g8"}) {
    TrainOptions o;
    const auto single = make_quantizer(spec, 16);
    single->train(x.view(), o);
    o.comm = &world();
    const auto spread = make_quantizer(spec, 16);
    spread->train(my_rows(x), o);
    EXPECT_EQ(single->encode(x.view()).data, spread->encode(x.view()).data) << spec;
    EXPECT_EQ(single->decode(single->encode(x.view())).storage(), spread->decode(spread->encode(x.view())).storage()) << spec;
  }
}

// One rank is the single-process case for every quantizer; more are refused, on every rank, by
// those that cannot train across ranks (the learned rotation of OPQ).
TEST(DistributedQuantizer, OthersRefuseSeveralRanks) {
  const Matrix x = testdata::gaussian(600, 8, 1);
  TrainOptions o;
  o.iterations = 2;
  o.comm = &world();
  const auto q = make_quantizer("PQ2x6r2", 8);
  const std::string error = testdata::error_of([&] { q->train(my_rows(x), o); });
  if (world().size() == 1)
    EXPECT_EQ(error, "<no error>");
  else
    EXPECT_NE(error.find("does not train across processes"), std::string::npos) << error;
}

}  // namespace
}  // namespace vq

int main(int argc, char** argv) {
  vq::mpi::Session session(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  // Every rank prints its results; a failure on any rank fails the run (mpirun's exit code).
  return RUN_ALL_TESTS();
}
