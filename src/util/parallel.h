// (internal API for domains) The one parallel loop of the library: batches of rows over OpenMP
// threads, with exceptions carried out of the parallel region (an exception escaping an OpenMP
// region terminates the program, so every threaded loop that can throw goes through here).
#pragma once

#include <cstddef>
#include <functional>

namespace vq::detail {

// Calls fn(begin, count) for consecutive batches of `batch` rows covering [0, n), in parallel
// over batches (dynamic schedule; threads: 0 = OpenMP default; one batch runs on the calling
// thread). The first exception thrown by fn is rethrown here after every batch has finished;
// a batch that throws does not stop the others. Results are deterministic when fn writes only
// the rows of its batch.
void for_each_batch(size_t n, size_t batch, int threads,
                    const std::function<void(size_t begin, size_t count)>& fn);

}  // namespace vq::detail
