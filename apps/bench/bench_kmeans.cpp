// k-means, ours vs faiss::Clustering: n = 200000 × VQ_BENCH_SCALE vectors of
// vq::testdata::clustered, d = 128, k = 256, 20 iterations, 2 threads each, median of 3 runs.
//
// Two sampling settings, identical on both sides:
//   all points   max_points_per_centroid = 1000 (k·1000 >= n: nobody subsamples)
//   default      max_points_per_centroid = 256 (FAISS's default: 65536 points)
// The final objective is the mean squared distance of ALL n vectors to their nearest centroid,
// computed by the same exact search (faiss::IndexFlatL2) for both centroid sets.
// Init differs by design: ours is k-means++ (the library default; its cost is in the time),
// FAISS picks random rows; a row with our random init is given for a like-for-like comparison.
//
// OpenBLAS is pinned to one thread (pin_openblas_single_thread) for the FAISS runs and ours: FAISS
// parallelises with OpenMP around a single-threaded sgemm, ours calls sgemm from each OpenMP
// thread. One extra row runs ours before pinning, with Debian's pthread OpenBLAS at its default
// thread count, to show what nested BLAS threads cost.
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/kmeans.h"

extern "C" int openblas_get_num_threads(void);

namespace {

constexpr size_t kDim = 128, kK = 256;
constexpr int kIterations = 20, kThreads = 2, kReps = 3;

double full_objective(const vq::Matrix& x, const float* centroids) {
  faiss::IndexFlatL2 index(kDim);
  index.add(kK, centroids);
  std::vector<float> dist(x.rows());
  std::vector<faiss::Index::idx_t> labels(x.rows());
  index.search(x.rows(), x.data(), 1, dist.data(), labels.data());
  double s = 0.0;
  for (float v : dist) s += v;
  return s / x.rows();
}

struct Row {
  std::string name;
  double seconds, objective;
};

Row run_ours(const char* name, const vq::Matrix& x, size_t mppc, vq::KMeansInit init) {
  vq::KMeansOptions o;
  o.k = kK;
  o.iterations = kIterations;
  o.threads = kThreads;
  o.max_points_per_centroid = mppc;
  o.init = init;
  vq::Matrix centroids;
  const double t = vq::bench::median(vq::bench::time_runs(kReps, [&] { centroids = vq::kmeans(x.view(), o).centroids; }));
  return {name, t, full_objective(x, centroids.data())};
}

Row run_faiss(const vq::Matrix& x, size_t mppc) {
  faiss::ClusteringParameters cp;
  cp.niter = kIterations;
  cp.max_points_per_centroid = static_cast<int>(mppc);
  std::vector<float> centroids;
  const double t = vq::bench::median(vq::bench::time_runs(kReps, [&] {
    faiss::Clustering clus(kDim, kK, cp);
    faiss::IndexFlatL2 index(kDim);
    clus.train(x.rows(), x.data(), index);
    centroids = clus.centroids;
  }));
  return {"faiss::Clustering (random init)", t, full_objective(x, centroids.data())};
}

void print_table(const char* title, const std::vector<Row>& rows, size_t faiss_row) {
  std::printf("\n### %s\n\n| implementation | wall time (s, median of %d) | final objective (all points) | time / FAISS | objective / FAISS |\n|---|---|---|---|---|\n",
              title, kReps);
  for (const Row& r : rows)
    std::printf("| %s | %.3f | %.4f | %.2f | %.4f |\n", r.name.c_str(), r.seconds, r.objective,
                r.seconds / rows[faiss_row].seconds, r.objective / rows[faiss_row].objective);
}

}  // namespace

int main() {
  const size_t n = static_cast<size_t>(200000 * vq::bench::scale_from_env());
  const vq::Matrix x = vq::testdata::clustered(n, kDim, 42);
  omp_set_num_threads(kThreads);
  std::printf("k-means: n=%zu d=%zu k=%zu iterations=%d threads=%d\n", n, kDim, kK, kIterations, kThreads);

  const int blas_default = openblas_get_num_threads();
  const Row unpinned = run_ours("ours, k-means++, OpenBLAS not pinned", x, 1000, vq::KMeansInit::kPlusPlus);
  vq::bench::pin_openblas_single_thread();

  for (size_t mppc : {size_t{1000}, size_t{256}}) {
    std::vector<Row> rows = {run_faiss(x, mppc), run_ours("ours, k-means++", x, mppc, vq::KMeansInit::kPlusPlus),
                             run_ours("ours, random init", x, mppc, vq::KMeansInit::kRandom)};
    if (mppc == 1000) {
      rows.push_back(unpinned);
      rows.back().name += " (" + std::to_string(blas_default) + " BLAS threads)";
    }
    const std::string title = mppc == 1000 ? "all points (max_points_per_centroid = 1000)"
                                           : "default sampling (max_points_per_centroid = 256)";
    print_table(title.c_str(), rows, 0);
  }
  return 0;
}
