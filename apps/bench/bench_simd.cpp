// The library's hot paths, timed alone, so that two builds (portable vs -march=native) or two
// SIMD levels (VQ_SIMD=scalar|avx2|avx512) can be compared workload by workload:
//
//   bench_simd [--reps N] [--only NAME]
//
// One line per workload: "<name> <median seconds> <checksum>". The checksum (codes, labels,
// objective) shows that the builds compared computed the same thing. scripts/bench_portable.sh
// runs two builds alternately and prints their ratios (BENCHMARKS.md, "Portable build").
//
// Workloads (vq::testdata, fixed seeds; sizes chosen so each takes 0.05–2 s on one core):
//   kmeans        k-means, 50000 × 128 clustered, k = 256, 10 iterations, k-means++ init
//   pq_encode     PQ16x8 encode of 100000 × 128 (the book trained once, outside the timing)
//   rvq_encode    RVQ8x8 beam 4 encode of 20000 × 128
//   aq_encode     AQ2x8 (beam 8) encode of 5000 × 128
//   search_pq8    PQ16x8 CodeIndex search, 200 queries × 100000 codes, top 10
//   search_pq4    PQ32x4 CodeIndex search, 200 queries × 100000 codes, top 10
//   search_pq4x64 PQ64x4 CodeIndex search, the same queries and codes
//   gemv_float    AQ2x8d8 4096 × 4096 matvec, float tables (random codes)
//   gemv_int8     the same with int8 tables
//   gemv_rtn4     RTN4g128 4096 × 4096 matvec
// Threads: OMP_NUM_THREADS (OpenBLAS pinned to one thread).
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/factory.h"
#include "vq/core/kmeans.h"
#include "vq/core/search.h"
#include "vq/simd.h"
#include "vq/weights/compress.h"
#include "vq/weights/gemv.h"

namespace vq {
namespace {

struct Workload {
  const char* name;
  std::function<void()> prepare;  // untimed set-up
  std::function<double()> run;    // the timed call; returns a checksum
};

double code_sum(const Codes& c) {
  double s = 0;
  for (size_t i = 0; i < c.data.size(); ++i) s += double(c.data[i]) * double(i % 7 + 1);
  return s;
}

std::shared_ptr<Quantizer> trained(const char* spec, const Matrix& x) {
  std::shared_ptr<Quantizer> q = make_quantizer(spec, x.cols());
  TrainOptions opt;
  opt.iterations = 10;
  opt.seed = 1;
  q->train(x.view(), opt);
  return q;
}

std::vector<Workload> workloads() {
  // Shared state, built lazily by each workload's prepare step.
  static Matrix x128, queries;
  static std::shared_ptr<Quantizer> pq8, pq4, pq4x64, rvq, aq;
  static std::unique_ptr<CodeIndex> index8, index4, index4x64;
  static std::unique_ptr<weights::GemvKernel> gemv_float, gemv_int8, gemv_rtn;
  static std::vector<float> in(4096, 0.5f), out(4096);
  auto data = [] {
    if (x128.rows() == 0) x128 = testdata::manifold(100000, 128, 7);
  };
  // A CodeIndex search of the shared queries over x128 encoded with spec, top 10; the checksum
  // sums the labels. q: the quantizer's slot (trained on first use, shared with other workloads).
  auto search_workload = [=](const char* name, const char* spec, std::shared_ptr<Quantizer>& q,
                             std::unique_ptr<CodeIndex>& index) {
    return Workload{name,
                    [=, &q, &index] {
                      data();
                      if (!q) q = trained(spec, x128);
                      if (queries.rows() == 0) queries = testdata::manifold(200, 128, 8);
                      index = std::make_unique<CodeIndex>(q, SearchMetric::kL2);
                      index->add(q->encode(x128.view()));
                    },
                    [&index] {
                      const SearchResult r = index->search(queries.view(), 10);
                      double s = 0;
                      for (idx_t l : r.labels) s += double(l);
                      return s;
                    }};
  };
  auto gemv_sum = [](const weights::GemvKernel& k) {
    k.matvec(in, out);
    double s = 0;
    for (float v : out) s += v;
    return s;
  };
  return {
      {"kmeans", [] {},
       [] {
         static const Matrix x = testdata::clustered(50000, 128, 5);
         KMeansOptions o;
         o.k = 256;
         o.iterations = 10;
         o.seed = 2;
         return kmeans(x.view(), o).objective;
       }},
      {"pq_encode", [=] { data(); if (!pq8) pq8 = trained("PQ16x8", x128); },
       [] { return code_sum(pq8->encode(x128.view())); }},
      {"rvq_encode", [=] { data(); if (!rvq) rvq = trained("RVQ8x8b4", x128); },
       [] { return code_sum(rvq->encode(x128.view().rows_slice(0, 20000))); }},
      {"aq_encode", [=] { data(); if (!aq) aq = trained("AQ2x8", x128); },
       [] { return code_sum(aq->encode(x128.view().rows_slice(0, 5000))); }},
      search_workload("search_pq8", "PQ16x8", pq8, index8),
      search_workload("search_pq4", "PQ32x4", pq4, index4),
      search_workload("search_pq4x64", "PQ64x4", pq4x64, index4x64),
      {"gemv_float", [] { gemv_float = std::make_unique<weights::GemvKernel>(testdata::random_aq(4096, 4096)); },
       [=] { return gemv_sum(*gemv_float); }},
      {"gemv_int8",
       [] { gemv_int8 = std::make_unique<weights::GemvKernel>(testdata::random_aq(4096, 4096), weights::LutPrecision::kInt8); },
       [=] { return gemv_sum(*gemv_int8); }},
      {"gemv_rtn4",
       [] {
         const Matrix w = testdata::gaussian(4096, 4096, 4);
         gemv_rtn = std::make_unique<weights::GemvKernel>(weights::compress(w.view(), {}, "RTN4g128"));
       },
       [=] { return gemv_sum(*gemv_rtn); }},
  };
}

}  // namespace
}  // namespace vq

int main(int argc, char** argv) {
  int reps = 5;
  const char* only = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  vq::bench::pin_openblas_single_thread();
  std::printf("# simd_level %s, %d OpenMP threads, median of %d\n", vq::simd_level_name(vq::simd_level()),
              omp_get_max_threads(), reps);
  try {
    for (const vq::Workload& w : vq::workloads()) {
      if (only && !std::strstr(only, w.name)) continue;
      w.prepare();
      double check = w.run();  // warm-up, and the checksum
      const double t = vq::bench::median(vq::bench::time_runs(reps, [&] { check = w.run(); }));
      std::printf("%s %.6f %.10g\n", w.name, t, check);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_simd: %s\n", e.what());
    return 1;
  }
  return 0;
}
