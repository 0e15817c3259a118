#include "util/parallel.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>

namespace vq::detail {

void for_each_batch(size_t n, size_t batch, int threads,
                    const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  batch = std::max<size_t>(batch, 1);
  const auto batches = static_cast<int64_t>((n + batch - 1) / batch);
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  std::exception_ptr error;
  std::mutex error_mutex;
#pragma omp parallel for schedule(dynamic) num_threads(nt) if (batches > 1)
  for (int64_t b = 0; b < batches; ++b) {
    try {
      const size_t begin = static_cast<size_t>(b) * batch;
      fn(begin, std::min(batch, n - begin));
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace vq::detail
