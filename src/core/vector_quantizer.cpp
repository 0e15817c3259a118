#include "vq/core/vector_quantizer.h"

#include "core/residual_beam.h"
#include "vq/core/kmeans.h"

namespace vq {

VectorQuantizer::VectorQuantizer(size_t dim, uint8_t bits)
    : CodebookQuantizer(dim, {bits}), bits_(bits) {}

std::string VectorQuantizer::describe() const { return detail::concat("VQ", int(bits_)); }

void VectorQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  const size_t n = check_train_input(x, options);
  const size_t k = size_t{1} << bits_;
  VQ_CHECK(n >= k, describe(), "::train: a codebook of ", k, " entries needs at least ",
           k, " training vectors, got ", n);
  KMeansOptions km;
  km.k = k;
  km.init = default_init(k);
  km.iterations = options.iterations;
  km.seed = options.seed;
  km.threads = options.threads;
  km.max_points_per_centroid = options.max_points_per_centroid;
  km.metric = options.metric;
  km.weights = options.weights;
  km.progress = options.progress;
  km.comm = options.comm;
  KMeansResult result = kmeans(x, km);
  std::vector<Codebook> books(1);
  books[0] = Codebook{0, dim(), bits_, std::move(result.centroids)};
  set_books(std::move(books), options.metric);
}

Codes VectorQuantizer::encode(MatrixView<const float> x) const {
  check_input(x, "encode");
  Codes codes(x.rows(), book_bits());
  const auto wbooks = detail::whiten_books(books(), metric());
  detail::residual_encode(x, wbooks, metric(), 1, {codes.data.data(), codes.n, 1}, 0);
  return codes;
}

}  // namespace vq
