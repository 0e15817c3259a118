// Additive quantization at 8 books × 8 bits (64 bits per vector), ours (AQ8x8: RVQ init, then
// least-squares codebook updates and beam-8 coordinate-descent encoding) vs
// faiss::LocalSearchQuantizer(d, 8, 8) (LSQ++) with its default settings.
//
// Data: vq::testdata, d = 128; n = 20000 × VQ_BENCH_SCALE training vectors plus 5000 held-out
// vectors (the table states n). Two data sets: clustered (64 off-centre clusters; LSQ does not
// centre its input) and correlated (zero-mean Gaussian with a 1/(1+j) spectrum).
// Both run with OMP_NUM_THREADS OpenMP threads (default: all cores, 2 here) and OpenBLAS pinned
// to one thread. Training is timed once (it is
// minutes for LSQ at this size); encoding of the held-out set is the median of 3 runs. MSE is the
// mean squared L2 error per vector on the held-out set (train MSE: the training set encoded by the
// trained quantizer, to show over-fitting).
// Environment: VQ_BENCH_SCALE (see bench_common.h); VQ_BENCH_DATA=clustered|correlated runs one
// data set only; VQ_BENCH_SKIP_FAISS=1 leaves out LSQ (minutes) when iterating on ours.
#include <faiss/impl/LocalSearchQuantizer.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/additive_quantizer.h"

namespace {

constexpr size_t kDim = 128, kBooks = 8, kBits = 8, kTest = 5000;
constexpr int kEncodeReps = 3;
int threads = 2;  // set in main: OMP_NUM_THREADS or the core count

struct Row {
  std::string name;
  double train_s, encode_vps, train_mse, mse;
};

Row run_ours(vq::MatrixView<const float> train, vq::MatrixView<const float> test) {
  vq::AdditiveQuantizer aq(kDim, kBooks, kBits);
  vq::TrainOptions opt;
  opt.threads = threads;
  const double t = vq::bench::time_runs(1, [&] { aq.train(train, opt); })[0];
  vq::Codes codes;
  const double e = vq::bench::median(vq::bench::time_runs(kEncodeReps, [&] { codes = aq.encode(test); }));
  return {"vqcodec " + aq.describe(), t, test.rows() / e,
          vq::testdata::mse(train, aq.decode(aq.encode(train))),
          vq::testdata::mse(test, aq.decode(codes))};
}

Row run_faiss(vq::MatrixView<const float> train, vq::MatrixView<const float> test) {
  faiss::LocalSearchQuantizer lsq(kDim, kBooks, kBits);
  const double t = vq::bench::time_runs(1, [&] { lsq.train(train.rows(), train.data()); })[0];
  std::vector<uint8_t> packed(test.rows() * lsq.code_size);
  const double e = vq::bench::median(vq::bench::time_runs(
      kEncodeReps, [&] { lsq.compute_codes(test.data(), packed.data(), test.rows()); }));
  const auto reconstruct = [&](vq::MatrixView<const float> x) {
    std::vector<uint8_t> c(x.rows() * lsq.code_size);
    lsq.compute_codes(x.data(), c.data(), x.rows());
    vq::Matrix decoded(x.rows(), kDim);
    lsq.decode(c.data(), decoded.data(), x.rows());
    return decoded;
  };
  return {"faiss::LocalSearchQuantizer(d, 8, 8)", t, test.rows() / e,
          vq::testdata::mse(train, reconstruct(train)), vq::testdata::mse(test, reconstruct(test))};
}

void print_row(const Row& r, double faiss_mse) {
  std::printf("| %s | %.1f | %.0f | %.4f | %.4f | %s |\n", r.name.c_str(), r.train_s,
              r.encode_vps, r.train_mse, r.mse,
              faiss_mse > 0 ? std::to_string(r.mse / faiss_mse).substr(0, 5).c_str() : "");
  std::fflush(stdout);  // LSQ takes minutes: show our row as soon as it exists
}

void run(const char* name, const vq::Matrix& all, size_t n) {
  const vq::MatrixView<const float> train = all.view().rows_slice(0, n);
  const vq::MatrixView<const float> test = all.view().rows_slice(n, kTest);
  std::printf("\n### %s, d = %zu, n = %zu training + %zu held-out vectors, %zu bits per vector\n\n",
              name, kDim, n, kTest, kBooks * kBits);
  std::printf("signal (mean squared norm of held-out vectors): %.4f\n\n", vq::testdata::mean_sq_norm(test));
  std::printf("| implementation | train (s) | encode (vectors/s, median of %d) | train MSE | held-out MSE | MSE / FAISS |\n|---|---|---|---|---|---|\n",
              kEncodeReps);
  const Row ours = run_ours(train, test);
  print_row(ours, 0);
  if (std::getenv("VQ_BENCH_SKIP_FAISS")) return;
  const Row faiss = run_faiss(train, test);
  print_row(faiss, faiss.mse);
  std::printf("\nvqcodec / FAISS MSE: %.3f\n", ours.mse / faiss.mse);
}

}  // namespace

int main() {
  const auto n = static_cast<size_t>(20000 * vq::bench::scale_from_env());
  threads = omp_get_max_threads();
  vq::bench::pin_openblas_single_thread();
  std::printf("## AQ 8x8 vs FAISS LSQ++ (%d threads)\n", threads);
  const char* only = std::getenv("VQ_BENCH_DATA");
  const auto wanted = [&](const std::string& name) { return !only || name == only; };
  if (wanted("clustered")) run("clustered", vq::testdata::clustered(n + kTest, kDim, 42), n);
  if (wanted("correlated")) run("correlated", vq::testdata::correlated(n + kTest, kDim, 43), n);
  return 0;
}
