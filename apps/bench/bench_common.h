// Shared helpers of the benchmark programs: timing with medians, and a markdown table row.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace vq::bench {

// Wall seconds of each of `reps` runs of fn (after no warm-up; callers warm up if needed).
std::vector<double> time_runs(int reps, const std::function<void()>& fn);
double median(std::vector<double> v);

// Limits OpenBLAS to one thread so it does not fight OpenMP (FAISS's or ours) for 2 cores.
void pin_openblas_single_thread();
// OpenBLAS's thread count, for benchmarks that compare it with ours at equal thread counts.
void set_openblas_threads(int threads);

// Reads VQ_BENCH_SCALE (default 1.0) so CI or a quick look can run smaller sizes.
double scale_from_env();

}  // namespace vq::bench
