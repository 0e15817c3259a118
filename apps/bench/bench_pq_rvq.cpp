// PQ16x8 and RVQ8x8 (beam 1, 4, 16): train time, encode throughput and MSE, ours vs FAISS's
// ProductQuantizer / ResidualQuantizer (max_beam_size = beam) on the same data, same k-means
// iterations (20; FAISS's RQ with train_type = Train_default, i.e. plain k-means rather than its
// default progressive-dimension k-means), 2 threads. Training runs once per configuration (a
// FAISS RQ beam-16 train takes minutes); encode times are the median of 3 runs. n = 100000 vectors
// (train and encode on the same set) times VQ_BENCH_SCALE.
//
//   VQ_BENCH_SCALE=0.2 ./bench_pq_rvq      (sizes scale with VQ_BENCH_SCALE, default 1)
#include <faiss/impl/ProductQuantizer.h>
#include <faiss/impl/ResidualQuantizer.h>
#include <omp.h>

#include <cstdio>
#include <memory>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/product_quantizer.h"
#include "vq/core/residual_quantizer.h"

namespace {

constexpr int kThreads = 2;
constexpr int kIterations = 20;
constexpr int kEncodeRuns = 3;

struct Result {
  double train_s = 0, encode_vps = 0, mse = 0;
};

Result run_ours(vq::Quantizer& q, const vq::Matrix& train, const vq::Matrix& base) {
  vq::TrainOptions o;
  o.iterations = kIterations;
  o.threads = kThreads;
  Result r;
  r.train_s = vq::bench::time_runs(1, [&] { q.train(train, o); })[0];
  vq::Codes codes;
  const double enc = vq::bench::median(vq::bench::time_runs(kEncodeRuns, [&] { codes = q.encode(base); }));
  r.encode_vps = static_cast<double>(base.rows()) / enc;
  r.mse = vq::testdata::mse(base, q.decode(codes));
  return r;
}

Result run_faiss(faiss::Quantizer& q, const vq::Matrix& train, const vq::Matrix& base) {
  Result r;
  r.train_s = vq::bench::time_runs(1, [&] { q.train(train.rows(), train.data()); })[0];
  std::vector<uint8_t> codes(q.code_size * base.rows());
  const double enc = vq::bench::median(vq::bench::time_runs(
      kEncodeRuns, [&] { q.compute_codes(base.data(), codes.data(), base.rows()); }));
  r.encode_vps = static_cast<double>(base.rows()) / enc;
  vq::Matrix y(base.rows(), base.cols());
  q.decode(codes.data(), y.data(), base.rows());
  r.mse = vq::testdata::mse(base, y);
  return r;
}

void row(const char* name, const Result& ours, const Result& theirs) {
  std::printf("| %s | %.2f | %.2f | %.3g | %.3g | %.4f | %.4f | %.2f | %.2f |\n", name, ours.train_s,
              theirs.train_s, ours.encode_vps, theirs.encode_vps, ours.mse, theirs.mse,
              theirs.mse / ours.mse, ours.encode_vps / theirs.encode_vps);
  std::fflush(stdout);
}

}  // namespace

int main() {
  vq::bench::pin_openblas_single_thread();
  omp_set_num_threads(kThreads);
  const double scale = vq::bench::scale_from_env();
  const size_t d = 128;
  // Train and encode on the same vectors: clustered() draws new cluster centres per seed, so a
  // second seed would be another distribution, not a held-out sample of this one.
  const auto n = static_cast<size_t>(100000 * scale);
  const vq::Matrix train = vq::testdata::clustered(n, d, 1);
  const vq::Matrix& base = train;
  std::printf("d = %zu, n = %zu (train = encode set), %d threads, %d k-means iterations\n\n", d,
              n, kThreads, kIterations);
  std::printf("| quantizer | train s (ours) | train s (FAISS) | encode vec/s (ours) | encode vec/s "
              "(FAISS) | MSE (ours) | MSE (FAISS) | MSE FAISS/ours | encode ours/FAISS |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");

  {
    vq::ProductQuantizer ours(d, 16, 8);
    faiss::ProductQuantizer theirs(d, 16, 8);
    theirs.cp.niter = kIterations;
    row("PQ16x8", run_ours(ours, train, base), run_faiss(theirs, train, base));
  }
  for (size_t beam : {1, 4, 16}) {
    vq::ResidualQuantizer ours(d, 8, 8, beam);
    faiss::ResidualQuantizer theirs(d, 8, 8);
    theirs.max_beam_size = static_cast<int>(beam);
    theirs.train_type = faiss::ResidualQuantizer::Train_default;
    theirs.cp.niter = kIterations;
    row(ours.describe().c_str(), run_ours(ours, train, base), run_faiss(theirs, train, base));
  }
  return 0;
}
