// Index files (vq/core/index_io.h) and CodeIndex::codes(): the stored codes come back in id order
// from every scan layout, a saved index searches exactly like the one that was saved, bad files
// are refused with errors that say why, and concurrent searches of one index agree with
// sequential ones.
#include "vq/core/index_io.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "error_text.h"
#include "test_data.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"

namespace vq {
namespace {

namespace fs = std::filesystem;
constexpr size_t kDim = 32;

// Trained once per spec and process: the tests need codebooks, not good ones.
std::shared_ptr<const Quantizer> trained(const std::string& spec) {
  static std::map<std::string, std::shared_ptr<const Quantizer>> cache;
  auto& q = cache[spec];
  if (!q) {
    std::shared_ptr<Quantizer> fresh = make_quantizer(spec, kDim);
    TrainOptions opt;
    opt.iterations = 2;
    opt.threads = 2;
    fresh->train(testdata::clustered(2000, kDim, 1), opt);
    q = fresh;
  }
  return q;
}

// Specs that land in each layout (search.h): packed 4-bit, 8-bit (blocked on AVX-512 VBMI,
// row-major uint8 elsewhere), additive 8-bit with stored norms, and uint16 (10-bit books).
const char* const kSpecs[] = {"PQ8x4", "PQ8x8", "RVQ4x8", "PQ4x10"};

void expect_same_results(const SearchResult& a, const SearchResult& b) {
  ASSERT_EQ(a.nq, b.nq);
  ASSERT_EQ(a.k, b.k);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.distances, b.distances);
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/vq_index_test_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST(IndexIo, CodesComeBackInIdOrderFromEveryLayout) {
  for (const char* spec : kSpecs) {
    SCOPED_TRACE(spec);
    const auto q = trained(spec);
    // 70 + 131 vectors: neither add() fills a 32- or 64-vector block.
    const Codes first = q->encode(testdata::gaussian(70, kDim, 2));
    const Codes second = q->encode(testdata::gaussian(131, kDim, 3));
    CodeIndex index(q, SearchMetric::kL2);
    index.add(first);
    index.add(second);
    const Codes all = index.codes();
    ASSERT_EQ(all.n, 201u);
    EXPECT_EQ(all.bits, q->book_bits());
    for (size_t i = 0; i < all.n; ++i)
      for (size_t m = 0; m < all.num_books(); ++m)
        ASSERT_EQ(all(i, m), i < 70 ? first(i, m) : second(i - 70, m)) << "vector " << i << " book " << m;
  }
}

TEST(IndexIo, SavedIndexSearchesExactlyLikeTheOriginal) {
  TempDir dir;
  const Matrix queries = testdata::gaussian(9, kDim, 4);
  for (const char* spec : kSpecs) {
    for (SearchMetric metric : {SearchMetric::kL2, SearchMetric::kInnerProduct}) {
      SCOPED_TRACE(std::string(spec) + " " + search_metric_name(metric));
      const auto q = trained(spec);
      CodeIndex index(q, metric);
      index.add(q->encode(testdata::clustered(500, kDim, 5)));
      const std::string path = dir.path + "/index.vqc";
      save_index(path, index);
      const CodeIndex loaded = load_index(path);
      EXPECT_EQ(loaded.size(), index.size());
      EXPECT_EQ(loaded.metric(), metric);
      EXPECT_EQ(loaded.quantizer().describe(), q->describe());
      expect_same_results(loaded.search(queries, 7, 1), index.search(queries, 7, 1));
      const CodeIndex from_bytes = index_from_bytes(index_to_bytes(index));
      expect_same_results(from_bytes.search(queries, 7, 2), index.search(queries, 7, 2));
    }
  }
}

TEST(IndexIo, EmptyIndexRoundTrips) {
  const auto q = trained("PQ8x4");
  const CodeIndex empty(q, SearchMetric::kL2);
  const CodeIndex loaded = index_from_bytes(index_to_bytes(empty));
  EXPECT_EQ(loaded.size(), 0u);
  const SearchResult r = loaded.search(testdata::gaussian(2, kDim, 6), 3);
  for (idx_t id : r.labels) EXPECT_EQ(id, -1);
}

TEST(IndexIo, FilesThatAreNotIndexesAreRefused) {
  const auto q = trained("PQ8x8");
  CodeIndex index(q, SearchMetric::kL2);
  const Codes codes = q->encode(testdata::gaussian(50, kDim, 7));
  index.add(codes);
  const std::vector<uint8_t> good = index_to_bytes(index);
  // A file written with one metadata value replaced.
  auto with_meta = [&](const std::string& key, const std::string& value) {
    const ContainerReader in = ContainerReader::from_bytes(good, "good");
    ContainerWriter out;
    for (const auto& [k, v] : in.meta()) out.set_meta(k, k == key ? value : v);
    for (const auto& c : in.chunks())
      if (c.type != "META" && c.type != "END ") {
        const Span<const uint8_t> p = in.payload(c.type);
        out.add(c.type, std::vector<uint8_t>(p.begin(), p.end()));
      }
    return out.to_bytes();
  };
  EXPECT_NE(testdata::error_of([&] { (void)index_from_bytes(with_meta("index.vectors", "49")); })
                .find("index.vectors says 49 vectors, but the codes hold 50"), std::string::npos);
  EXPECT_NE(testdata::error_of([&] { (void)index_from_bytes(with_meta("index.distance", "cosine")); })
                .find("'index.distance': search distance must be 'l2' or 'ip', got 'cosine'"), std::string::npos);
  EXPECT_NE(testdata::error_of([&] { (void)index_from_bytes(with_meta("vq.kind", "codes")); })
                .find("holds 'codes', not a search index"), std::string::npos);
  // A codes file of the same quantizer and codes is not an index either.
  TempDir dir;
  save_codes(dir.path + "/codes.vqc", *q, codes);
  EXPECT_NE(testdata::error_of([&] { (void)load_index(dir.path + "/codes.vqc"); }).find("not a search index"),
            std::string::npos);
}

TEST(IndexIo, ConcurrentSearchesAgreeWithSequentialOnes) {
  const auto q = trained("RVQ4x8");
  CodeIndex index(q, SearchMetric::kL2);
  index.add(q->encode(testdata::clustered(2000, kDim, 8)));
  const Matrix queries = testdata::gaussian(16, kDim, 9);
  const SearchResult want = index.search(queries, 5, 1);
  std::vector<SearchResult> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t)
    threads.emplace_back([&, t] { got[t] = index.search(queries, 5, 1); });
  for (std::thread& t : threads) t.join();
  for (const SearchResult& r : got) expect_same_results(r, want);
}

}  // namespace
}  // namespace vq
