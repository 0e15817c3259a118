#include "vq/core/product_quantizer.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <mutex>

#include "core/residual_beam.h"
#include "kernels/distances.h"
#include "util/parallel.h"
#include "vq/core/kmeans.h"

namespace vq {

namespace {
size_t checked_m(size_t dim, size_t m) {
  VQ_CHECK(m >= 1, "PQ: number of sub-quantizers M must be >= 1");
  VQ_CHECK(dim % m == 0, "PQ", m, ": dimension ", dim, " is not divisible by M = ", m,
           " (sub-vectors must have equal length)");
  return m;
}

// Rows per parallel batch of the transposed-book encoder.
constexpr size_t kEncodeBatch = 256;

}  // namespace

ProductQuantizer::ProductQuantizer(size_t dim, size_t M, uint8_t bits)
    : CodebookQuantizer(dim, std::vector<uint8_t>(checked_m(dim, M), bits)), m_(M), bits_(bits) {}

std::string ProductQuantizer::describe() const {
  return detail::concat("PQ", m_, "x", int(bits_));
}

void ProductQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  const size_t n = check_train_input(x, options);
  const size_t k = size_t{1} << bits_;
  VQ_CHECK(n >= k, describe(), "::train: a codebook of ", k, " entries needs at least ",
           k, " training vectors, got ", n);
  const size_t ds = sub_dim();
  std::vector<Codebook> books(m_);
  // Sub-spaces are independent k-means runs: with at least as many as threads, each thread
  // trains whole sub-spaces (no synchronisation per iteration; k-means gives the same books at
  // any thread count), else every run uses all threads. Progress events are serialised. Across
  // processes the sub-spaces run one after another: only the calling thread talks to the others.
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  const bool distributed = options.comm && options.comm->size() > 1;
  const bool per_space = m_ >= static_cast<size_t>(threads) && threads > 1 && !distributed;
  std::mutex progress_mutex;
  ProgressCallback progress;
  if (options.progress)
    progress = [&](const ProgressEvent& e) {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      options.progress(e);
    };
  detail::for_each_batch(m_, 1, per_space ? threads : 1, [&](size_t m, size_t) {
    // A contiguous copy of the sub-vectors keeps k-means on its fast, unit-stride path.
    Matrix sub(x.rows(), ds);
    for (size_t i = 0; i < x.rows(); ++i) {
      const float* src = x.row_ptr(i) + m * ds;
      std::copy(src, src + ds, sub.row_ptr(i));
    }
    KMeansOptions km;
    km.k = k;
    km.init = default_init(k);
    km.iterations = options.iterations;
    km.seed = options.seed + m;
    km.threads = per_space ? 1 : threads;
    km.max_points_per_centroid = options.max_points_per_centroid;
    km.metric = detail::metric_block(options.metric, m * ds, ds, dim());
    km.weights = options.weights;
    km.progress = progress;
    km.comm = options.comm;
    KMeansResult result = kmeans(sub.view(), km);
    books[m] = Codebook{m * ds, ds, bits_, std::move(result.centroids)};
  });
  set_books(std::move(books), options.metric);
}

Codes ProductQuantizer::encode(MatrixView<const float> x) const {
  check_input(x, "encode");
  Codes codes(x.rows(), book_bits());
  const MatrixView<uint16_t> all(codes.data.data(), codes.n, m_);
  const size_t ds = sub_dim();
  if (ds <= kernels::kTransposedMaxDim && metric().kind() != Metric::Kind::kFull) {
    // Identity or diagonal H: whitening keeps every dimension in place, so each book is
    // searched over its own columns of the (whitened) rows.
    std::vector<std::vector<float>> tables(m_);
    size_t padded = 0;
    for (size_t m = 0; m < m_; ++m) {
      const Metric block = detail::metric_block(metric(), m * ds, ds, dim());
      const auto wbook = detail::whiten_books({&books()[m], 1}, block);
      // +inf padding: never nearest.
      tables[m] = kernels::transposed_entries(wbook[0].entries.view(), std::numeric_limits<float>::infinity(), padded);
    }
    detail::for_each_batch(x.rows(), kEncodeBatch, 0, [&](size_t begin, size_t count) {
      const MatrixView<const float> rows = x.rows_slice(begin, count);
      Matrix whitened;
      if (!metric().is_identity()) whitened = metric().whiten(rows);
      const MatrixView<const float> w = metric().is_identity() ? rows : whitened.view();
      int32_t labels[kEncodeBatch];
      float distances[kEncodeBatch];
      for (size_t m = 0; m < m_; ++m) {
        kernels::nearest_transposed(w.row_ptr(0) + m * ds, count, w.stride(), tables[m].data(), ds, padded,
                                    labels, distances);
        for (size_t i = 0; i < count; ++i) {
          VQ_CHECK(labels[i] >= 0, describe(), "::encode: row ", begin + i,
                   " has no finite distance to any entry of book ", m);
          all(begin + i, m) = static_cast<uint16_t>(labels[i]);
        }
      }
    });
    return codes;
  }
  for (size_t m = 0; m < m_; ++m) {
    const Metric block = detail::metric_block(metric(), m * ds, ds, dim());
    const auto wbook = detail::whiten_books({&books()[m], 1}, block);
    detail::residual_encode(x.cols_slice(m * ds, ds), wbook, block, 1, all.cols_slice(m, 1), 0);
  }
  return codes;
}

}  // namespace vq
