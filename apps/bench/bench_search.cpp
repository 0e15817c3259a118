// Search over PQ codes, ours (vq::CodeIndex) vs FAISS, on the same data:
//   base  200000 × VQ_BENCH_SCALE vectors of vq::testdata::manifold (a 16-dim latent embedded
//         nonlinearly in d = 128, SIFT-like; VQ_BENCH_DATA=clustered picks the full-rank mixture
//         instead, where PQ16x8 recall@10 is ~0.08 on both sides)
//   train 50000 × VQ_BENCH_SCALE vectors, queries 1000 × VQ_BENCH_SCALE (min 100), all drawn
//         from one generated matrix (same distribution), disjoint rows
//   truth exact 10-NN of each query over the raw base vectors (faiss::IndexFlatL2)
//
//   PQ16x8  ours: ProductQuantizer(128, 16, 8) + CodeIndex (with AVX-512 VBMI: blocked 8-bit
//           layout, uint8 tables permuted in registers, exact re-scoring of survivors; else
//           uint8 rows and float tables, e.g. VQ_SIMD=avx2) vs faiss::IndexPQ(128, 16, 8)
//   PQ32x4  ours: ProductQuantizer(128, 32, 4) + CodeIndex (packed 4-bit layout, uint8 tables
//           in registers, exact re-scoring of survivors) vs faiss::IndexPQFastScan(128, 32, 4)
//           and faiss::IndexPQ(128, 32, 4)
//
// Each side trains its own quantizer on the same training rows (20 k-means iterations).
// recall@10: fraction of the true 10 nearest neighbours found in the returned top 10.
// QPS: queries / median wall time of 3 runs of the whole batch, at 1 and 2 threads; CPU µs /
// query: process CPU time of those runs per query (steadier than wall time on a busy machine;
// it includes OpenMP spin-waiting).
// Debian's FAISS 1.7.3 is built without AVX2 ("generic"), which mostly hurts IndexPQFastScan.
#include <faiss/IndexFlat.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPQFastScan.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/product_quantizer.h"
#include "vq/core/search.h"

namespace {

constexpr size_t kDim = 128, kK = 10;
constexpr int kReps = 3;

struct Data {
  vq::Matrix train, base, queries;
  std::vector<faiss::Index::idx_t> truth;  // nq × kK
};

vq::Matrix rows_of(const vq::Matrix& all, size_t begin, size_t count) {
  vq::Matrix out(count, all.cols());
  std::copy(all.row_ptr(begin), all.row_ptr(begin) + count * all.cols(), out.data());
  return out;
}

bool use_clustered() {
  const char* data = std::getenv("VQ_BENCH_DATA");
  return data && std::strcmp(data, "clustered") == 0;
}

Data make_data(double scale) {
  const auto nb = static_cast<size_t>(200000 * scale);
  const auto nt = static_cast<size_t>(50000 * scale);
  const size_t nq = std::max<size_t>(100, static_cast<size_t>(1000 * scale));
  const vq::Matrix all = use_clustered() ? vq::testdata::clustered(nt + nb + nq, kDim, 2024)
                                         : vq::testdata::manifold(nt + nb + nq, kDim, 2024);
  Data d{rows_of(all, 0, nt), rows_of(all, nt, nb), rows_of(all, nt + nb, nq), {}};
  faiss::IndexFlatL2 flat(kDim);
  flat.add(nb, d.base.data());
  std::vector<float> dist(nq * kK);
  d.truth.resize(nq * kK);
  flat.search(nq, d.queries.data(), kK, dist.data(), d.truth.data());
  return d;
}

template <class Label>
double recall_at_10(const Data& d, const Label* labels) {
  size_t hits = 0;
  const size_t nq = d.queries.rows();
  for (size_t q = 0; q < nq; ++q)
    for (size_t j = 0; j < kK; ++j) {
      const auto* row = labels + q * kK;
      if (std::find(row, row + kK, static_cast<Label>(d.truth[q * kK + j])) != row + kK) ++hits;
    }
  return double(hits) / double(nq * kK);
}

struct Row {
  std::string name;
  int threads;
  double recall, qps, cpu_us;  // cpu_us: process CPU time per query (all threads)
};

// search(threads) runs the whole query batch and returns the recall of its answer.
void measure(const std::string& name, size_t nq, const std::function<double(int)>& search,
             std::vector<Row>& rows) {
  for (int threads : {1, 2}) {
    double recall = search(threads);  // warm-up run, also the recall
    const std::clock_t c0 = std::clock();
    const double t = vq::bench::median(vq::bench::time_runs(kReps, [&] { recall = search(threads); }));
    const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC / kReps;
    rows.push_back({name, threads, recall, double(nq) / t, cpu / double(nq) * 1e6});
  }
}

void run_ours(const Data& d, size_t M, uint8_t bits, std::vector<Row>& rows) {
  auto pq = std::make_shared<vq::ProductQuantizer>(kDim, M, bits);
  vq::TrainOptions opt;
  opt.iterations = 20;
  opt.threads = 2;
  pq->train(d.train, opt);
  vq::CodeIndex index(pq, vq::SearchMetric::kL2);
  index.add(pq->encode(d.base));
  measure("ours CodeIndex " + pq->describe(), d.queries.rows(),
          [&](int threads) {
            const vq::SearchResult r = index.search(d.queries, kK, threads);
            return recall_at_10(d, r.labels.data());
          },
          rows);
}

void run_faiss(const Data& d, const std::string& name, faiss::Index& index, std::vector<Row>& rows) {
  omp_set_num_threads(2);
  index.train(d.train.rows(), d.train.data());
  index.add(d.base.rows(), d.base.data());
  const size_t nq = d.queries.rows();
  std::vector<float> dist(nq * kK);
  std::vector<faiss::Index::idx_t> labels(nq * kK);
  measure(name, nq,
          [&](int threads) {
            omp_set_num_threads(threads);
            index.search(nq, d.queries.data(), kK, dist.data(), labels.data());
            return recall_at_10(d, labels.data());
          },
          rows);
  omp_set_num_threads(2);
}

void print_table(const char* title, const std::vector<Row>& rows) {
  std::printf("\n### %s\n\n| implementation | threads | recall@10 | QPS (median of %d) | CPU µs / query |\n|---|---|---|---|---|\n",
              title, kReps);
  for (const Row& r : rows)
    std::printf("| %s | %d | %.4f | %.0f | %.0f |\n", r.name.c_str(), r.threads, r.recall, r.qps, r.cpu_us);
}

}  // namespace

int main() {
  vq::bench::pin_openblas_single_thread();
  const Data d = make_data(vq::bench::scale_from_env());
  std::printf("## Search over PQ codes (%s): %zu base, %zu queries, %zu training vectors, d = %zu\n",
              use_clustered() ? "clustered" : "manifold", d.base.rows(), d.queries.rows(),
              d.train.rows(), kDim);

  std::vector<Row> pq8;
  run_ours(d, 16, 8, pq8);
  {
    faiss::IndexPQ index(kDim, 16, 8);
    run_faiss(d, "faiss::IndexPQ PQ16x8", index, pq8);
  }
  print_table("PQ16x8 (8-bit codes)", pq8);

  std::vector<Row> pq4;
  run_ours(d, 32, 4, pq4);
  {
    faiss::IndexPQFastScan index(kDim, 32, 4);
    run_faiss(d, "faiss::IndexPQFastScan PQ32x4", index, pq4);
  }
  {
    faiss::IndexPQ index(kDim, 32, 4);
    run_faiss(d, "faiss::IndexPQ PQ32x4", index, pq4);
  }
  print_table("PQ32x4 (4-bit codes, in-register tables)", pq4);
  return 0;
}
