// CodeIndex and search(): top-k over codes equals brute force over the decoded vectors, for
// every storage layout (packed 4-bit, blocked 8-bit on AVX-512 VBMI CPUs, uint8, uint16), disjoint books (PQ) and additive books
// with stored norms (RVQ), L2 and inner product; plus the edge cases of the API.
#include "vq/core/search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <string>

#include "test_data.h"
#include "vq/core/factory.h"
#include "vq/core/product_quantizer.h"
#include "vq/core/residual_quantizer.h"

namespace vq {
namespace {

constexpr size_t kDim = 32;
constexpr double kRelTol = 1e-4;

std::shared_ptr<const CodebookQuantizer> trained(std::shared_ptr<CodebookQuantizer> q) {
  const Matrix train = testdata::clustered(3000, q->dim(), 1);
  TrainOptions opt;
  opt.iterations = 8;
  q->train(train, opt);
  return q;
}

// Exact top-k by direct distances to the decoded vectors (double accumulation), best first,
// ties by lower id; scores as "smaller is better" (negated inner products).
std::vector<std::pair<double, idx_t>> brute_force(const Matrix& decoded, Span<const float> q,
                                                  SearchMetric metric) {
  std::vector<std::pair<double, idx_t>> all(decoded.rows());
  for (size_t i = 0; i < decoded.rows(); ++i) {
    double s = 0;
    for (size_t j = 0; j < q.size(); ++j) {
      const double x = decoded(i, j);
      s += metric == SearchMetric::kL2 ? (q[j] - x) * (q[j] - x) : -q[j] * x;
    }
    all[i] = {s, idx_t(i)};
  }
  std::sort(all.begin(), all.end());
  return all;
}

// Same ids as brute force except where brute force itself cannot separate two candidates
// (their exact scores within the tolerance), and distances within kRelTol.
void expect_matches_brute_force(const SearchResult& r, const Matrix& decoded,
                                const Matrix& queries, SearchMetric metric) {
  for (size_t q = 0; q < r.nq; ++q) {
    const auto bf = brute_force(decoded, queries.view().row(q), metric);
    std::vector<double> exact(decoded.rows());
    for (const auto& [s, id] : bf) exact[id] = s;
    for (size_t j = 0; j < std::min(r.k, bf.size()); ++j) {
      const idx_t got = r.labels_row(q)[j];
      ASSERT_GE(got, 0);
      const double tol = kRelTol * std::max(1.0, std::abs(bf[j].first));
      const double got_score = metric == SearchMetric::kL2 ? r.distances_row(q)[j] : -r.distances_row(q)[j];
      EXPECT_NEAR(got_score, exact[got], tol) << "query " << q << " rank " << j;
      if (got != bf[j].second) {
        EXPECT_NEAR(exact[got], bf[j].first, tol) << "query " << q << " rank " << j << ": id "
                                                  << got << " instead of " << bf[j].second;
      }
    }
  }
}

struct Case {
  const char* name;
  std::function<std::shared_ptr<CodebookQuantizer>()> make;
  SearchMetric metric;
};

class SearchEqualsBruteForce : public ::testing::TestWithParam<Case> {};

TEST_P(SearchEqualsBruteForce, AllLayouts) {
  const Case& c = GetParam();
  const auto quantizer = trained(c.make());
  // 2001 vectors: not a multiple of the 32-vector blocks, and added in two batches.
  const Matrix base = testdata::clustered(2001, kDim, 2);
  const Matrix queries = testdata::clustered(24, kDim, 3);
  const Codes codes = quantizer->encode(base);
  const Matrix decoded = quantizer->decode(codes);
  Codes first(1000, codes.bits), second(1001, codes.bits);
  std::copy(codes.data.begin(), codes.data.begin() + first.data.size(), first.data.begin());
  std::copy(codes.data.begin() + first.data.size(), codes.data.end(), second.data.begin());

  CodeIndex index(quantizer, c.metric);
  index.add(first);
  index.add(second);
  ASSERT_EQ(index.size(), 2001u);
  const SearchResult r = index.search(queries, 10, 2);
  ASSERT_EQ(r.nq, 24u);
  ASSERT_EQ(r.k, 10u);
  expect_matches_brute_force(r, decoded, queries, c.metric);

  // The free function over unpacked codes gives the same answer, bit for bit.
  for (size_t q = 0; q < queries.rows(); ++q) {
    const LookupTable lut = quantizer->lookup_tables(queries.view().row(q), c.metric);
    const std::vector<float> norms = lut.add_norms ? quantizer->decoded_norms(codes) : std::vector<float>{};
    const SearchResult one = search(lut, codes, norms, 10);
    EXPECT_TRUE(std::equal(one.labels.begin(), one.labels.end(), r.labels_row(q)));
    EXPECT_TRUE(std::equal(one.distances.begin(), one.distances.end(), r.distances_row(q)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, SearchEqualsBruteForce,
    ::testing::Values(
        Case{"PQ8x8_L2", [] { return std::make_shared<ProductQuantizer>(kDim, 8, 8); }, SearchMetric::kL2},
        Case{"PQ8x8_IP", [] { return std::make_shared<ProductQuantizer>(kDim, 8, 8); }, SearchMetric::kInnerProduct},
        Case{"PQ16x4_L2", [] { return std::make_shared<ProductQuantizer>(kDim, 16, 4); }, SearchMetric::kL2},
        Case{"PQ16x4_IP", [] { return std::make_shared<ProductQuantizer>(kDim, 16, 4); }, SearchMetric::kInnerProduct},
        Case{"PQ1x4_L2_odd_books", [] { return std::make_shared<ProductQuantizer>(kDim, 1, 4); }, SearchMetric::kL2},
        Case{"PQ4x9_L2_uint16", [] { return std::make_shared<ProductQuantizer>(kDim, 4, 9); }, SearchMetric::kL2},
        Case{"RVQ4x8_L2_norms", [] { return std::make_shared<ResidualQuantizer>(kDim, 4, 8); }, SearchMetric::kL2},
        Case{"RVQ5x4_L2_norms_packed", [] { return std::make_shared<ResidualQuantizer>(kDim, 5, 4); }, SearchMetric::kL2},
        Case{"RVQ4x4_IP", [] { return std::make_shared<ResidualQuantizer>(kDim, 4, 4); }, SearchMetric::kInnerProduct}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

class SearchApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pq8_ = trained(std::make_shared<ProductQuantizer>(kDim, 8, 8));
    pq4_ = trained(std::make_shared<ProductQuantizer>(kDim, 8, 4));
  }
  static void TearDownTestSuite() { pq8_.reset(); pq4_.reset(); }
  static std::shared_ptr<const CodebookQuantizer> pq8_, pq4_;
};
std::shared_ptr<const CodebookQuantizer> SearchApi::pq8_, SearchApi::pq4_;

TEST_F(SearchApi, FewerVectorsThanKFillsWithMinusOne) {
  for (SearchMetric metric : {SearchMetric::kL2, SearchMetric::kInnerProduct}) {
    CodeIndex index(pq8_, metric);
    index.add(pq8_->encode(testdata::clustered(5, kDim, 4)));
    const SearchResult r = index.search(testdata::clustered(2, kDim, 5), 8);
    for (size_t q = 0; q < 2; ++q) {
      std::vector<idx_t> ids(r.labels_row(q), r.labels_row(q) + 5);
      std::sort(ids.begin(), ids.end());
      EXPECT_EQ(ids, (std::vector<idx_t>{0, 1, 2, 3, 4}));
      for (size_t j = 5; j < 8; ++j) {
        EXPECT_EQ(r.labels_row(q)[j], -1);
        EXPECT_EQ(r.distances_row(q)[j], metric == SearchMetric::kL2 ? INFINITY : -INFINITY);
      }
    }
  }
  CodeIndex empty(pq4_, SearchMetric::kL2);
  const SearchResult r = empty.search(testdata::clustered(1, kDim, 5), 3);
  EXPECT_EQ(r.labels, (std::vector<idx_t>{-1, -1, -1}));
}

TEST_F(SearchApi, RejectsBadArguments) {
  CodeIndex index(pq8_, SearchMetric::kL2);
  index.add(pq8_->encode(testdata::clustered(10, kDim, 4)));
  const Matrix queries = testdata::clustered(3, kDim, 5);
  EXPECT_THROW(index.search(queries, 0), Error);
  const Matrix wrong = testdata::clustered(3, kDim + 1, 5);
  EXPECT_THROW(index.search(wrong, 5), Error);
  Matrix nan_query = testdata::clustered(1, kDim, 5);
  nan_query(0, 3) = NAN;
  EXPECT_THROW(index.search(nan_query, 5), Error);
  EXPECT_THROW(index.add(pq4_->encode(queries)), Error);  // other book widths
  const LookupTable lut = pq8_->lookup_tables(queries.view().row(0), SearchMetric::kL2);
  EXPECT_THROW(search(lut, pq8_->encode(queries), {}, 0), Error);
  EXPECT_THROW(search(lut, Codes(3, {8, 8, 8}), {}, 1), Error);  // 3 books, table has 8
  // An untrained quantizer cannot back an index.
  EXPECT_THROW(CodeIndex(std::make_shared<ProductQuantizer>(kDim, 8, 8), SearchMetric::kL2), Error);

  const SearchResult none = index.search(MatrixView<const float>(queries.data(), 0, kDim), 4);
  EXPECT_EQ(none.nq, 0u);
  EXPECT_TRUE(none.labels.empty() && none.distances.empty());
}

// Results are identical (bit for bit) for any thread count and batching: few queries split the
// codes between threads, many queries split the queries.
TEST_F(SearchApi, ThreadCountAndBatchingDoNotChangeResults) {
  for (const auto& q : {pq8_, pq4_}) {
    CodeIndex index(q, SearchMetric::kL2);
    index.add(q->encode(testdata::clustered(5000, kDim, 6)));
    // Duplicate vectors create exact ties, which must break by id in every configuration.
    index.add(q->encode(testdata::clustered(500, kDim, 6)));
    const Matrix queries = testdata::clustered(40, kDim, 7);
    const SearchResult ref = index.search(queries, 7, 1);
    for (int threads : {2, 3, 5}) {
      const SearchResult r = index.search(queries, 7, threads);
      EXPECT_EQ(r.labels, ref.labels) << threads << " threads";
      EXPECT_EQ(r.distances, ref.distances);
    }
    for (size_t row = 0; row < queries.rows(); ++row) {
      for (int threads : {1, 2, 3}) {
        const SearchResult one =
            index.search(MatrixView<const float>(queries.row_ptr(row), 1, kDim), 7, threads);
        EXPECT_TRUE(std::equal(one.labels.begin(), one.labels.end(), ref.labels_row(row)));
        EXPECT_TRUE(std::equal(one.distances.begin(), one.distances.end(), ref.distances_row(row)));
      }
    }
  }
}

// The filtered paths (blocked layouts, quantized tables narrowed to the threshold as the scan
// goes, exact re-scoring) return exactly what the float scan of the free function returns:
// same ids, bit-identical distances, for small and large k, both metrics, additive books with
// norms, and both threading strategies. Enough vectors that the heap threshold tightens, the
// tables are narrowed and most blocks are filtered out; duplicates create exact ties. (Without
// AVX-512 VBMI, or under VQ_SIMD=avx2, the 6- to 8-bit books check the uint8 path.)
TEST(SearchFiltered, EqualsFloatScanExactly) {
  const std::vector<std::shared_ptr<const CodebookQuantizer>> quantizers = {
      trained(std::make_shared<ProductQuantizer>(kDim, 16, 8)),
      trained(std::make_shared<ResidualQuantizer>(kDim, 3, 8)),
      trained(std::make_shared<ProductQuantizer>(kDim, 16, 6)),  // one vpermb per book
      trained(std::make_shared<ProductQuantizer>(kDim, 16, 7)),  // one vpermi2b per book
      trained(std::make_shared<ProductQuantizer>(kDim, 16, 4)),
      trained(std::make_shared<ResidualQuantizer>(kDim, 5, 4))};
  for (const auto& quantizer : quantizers) {
    const Codes a = quantizer->encode(testdata::clustered(12000, kDim, 8));
    const Codes b = quantizer->encode(testdata::clustered(1000, kDim, 8));  // duplicates of a
    Codes codes(a.n + b.n, a.bits);
    std::copy(a.data.begin(), a.data.end(), codes.data.begin());
    std::copy(b.data.begin(), b.data.end(), codes.data.begin() + a.data.size());
    const Matrix queries = testdata::clustered(9, kDim, 9);
    for (SearchMetric metric : {SearchMetric::kL2, SearchMetric::kInnerProduct}) {
      CodeIndex index(quantizer, metric);
      index.add(a);
      index.add(b);
      for (size_t k : {1, 10, 100}) {
        std::vector<SearchResult> refs;
        for (size_t q = 0; q < queries.rows(); ++q) {
          const LookupTable lut = quantizer->lookup_tables(queries.view().row(q), metric);
          const std::vector<float> norms =
              lut.add_norms ? quantizer->decoded_norms(codes) : std::vector<float>{};
          refs.push_back(search(lut, codes, norms, k));
        }
        for (int threads : {1, 2, 3}) {
          const SearchResult many = index.search(queries, k, threads);  // 3 groups: split queries
          for (size_t q = 0; q < queries.rows(); ++q) {
            const SearchResult& ref = refs[q];
            const SearchResult one =  // one query: split codes
                index.search(MatrixView<const float>(queries.row_ptr(q), 1, kDim), k, threads);
            const std::string where = quantizer->describe() + " k " + std::to_string(k) +
                                      " threads " + std::to_string(threads) + " query " +
                                      std::to_string(q);
            ASSERT_TRUE(std::equal(ref.labels.begin(), ref.labels.end(), many.labels_row(q))) << where;
            ASSERT_TRUE(std::equal(ref.distances.begin(), ref.distances.end(), many.distances_row(q))) << where;
            ASSERT_EQ(one.labels, ref.labels) << where;
            ASSERT_EQ(one.distances, ref.distances) << where;
          }
        }
      }
    }
  }
}

TEST(LookupTables, BatchedInnerProductTablesEqualOneQueryAtATime) {
  // Books of 256, 32, 16 and 4 entries (register tiles of 64 and 32, the per-query path below),
  // over disjoint and shared dimensions: every batched table is the single-query table's bits.
  for (const char* spec : {"PQ8x8", "RVQ3x5", "GRVQ2x2x4", "PQ4x2"}) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Quantizer> q = make_quantizer(spec, kDim);
    TrainOptions opt;
    opt.iterations = 4;
    q->train(testdata::clustered(2000, kDim, 3), opt);
    const auto& cq = dynamic_cast<const CodebookQuantizer&>(*q);
    const Matrix queries = testdata::clustered(5, kDim, 4);
    const size_t total = cq.lookup_tables(queries.view().row(0), SearchMetric::kInnerProduct).values.size();
    std::vector<float> batched(queries.rows() * total);
    cq.inner_product_tables(queries.data(), queries.rows(), kDim, batched.data(), total);
    for (size_t i = 0; i < queries.rows(); ++i) {
      const LookupTable one = cq.lookup_tables(queries.view().row(i), SearchMetric::kInnerProduct);
      EXPECT_EQ(std::vector<float>(batched.begin() + i * total, batched.begin() + (i + 1) * total), one.values);
    }
  }
}

}  // namespace
}  // namespace vq
