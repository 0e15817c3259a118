// Times Quantizer::train and ::encode from C++ on a matrix read from a file, for comparison with
// the same calls made through another front end (the Python package: bench_python_overhead.py).
//
//   bench_api DATA.npy SPEC [--reps N] [--iters N] [--threads N]
//
// Prints one line per measurement: "train <median s>" and "encode <median s>".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_common.h"
#include "vq/core/factory.h"
#include "vq/core/matrix_io.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DATA.npy SPEC [--reps N] [--iters N] [--threads N]\n", argv[0]);
    return 2;
  }
  int reps = 3, iters = 20, threads = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--iters")) iters = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  try {
    const vq::Matrix x = vq::read_matrix(argv[1]);
    auto q = vq::make_quantizer(argv[2], x.cols());
    vq::TrainOptions opt;
    opt.iterations = iters;
    opt.threads = threads;
    opt.seed = 0;
    const double train = vq::bench::median(vq::bench::time_runs(reps, [&] { q->train(x, opt); }));
    const double encode = vq::bench::median(vq::bench::time_runs(reps, [&] { (void)q->encode(x); }));
    std::printf("train %.6f\nencode %.6f\n", train, encode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_api: %s\n", e.what());
    return 1;
  }
  return 0;
}
