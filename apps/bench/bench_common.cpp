#include "bench_common.h"

#include <algorithm>
#include <cstdlib>

extern "C" void openblas_set_num_threads(int);

namespace vq::bench {

std::vector<double> time_runs(int reps, const std::function<void()>& fn) {
  std::vector<double> out;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    out.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

void pin_openblas_single_thread() { openblas_set_num_threads(1); }
void set_openblas_threads(int threads) { openblas_set_num_threads(threads); }

double scale_from_env() {
  const char* s = std::getenv("VQ_BENCH_SCALE");
  return s ? std::max(0.001, std::atof(s)) : 1.0;
}

}  // namespace vq::bench
