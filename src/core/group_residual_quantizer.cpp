#include "vq/core/group_residual_quantizer.h"

#include "core/residual_beam.h"
#include "vq/core/residual_quantizer.h"

namespace vq {

namespace {
size_t checked_groups(size_t dim, size_t groups, size_t levels) {
  VQ_CHECK(groups >= 1, "GRVQ: number of groups must be >= 1");
  VQ_CHECK(levels >= 1, "GRVQ: levels must be >= 1");
  VQ_CHECK(dim % groups == 0, "GRVQ", groups, ": dimension ", dim,
           " is not divisible by the number of groups ", groups);
  return groups * levels;
}
}  // namespace

GroupResidualQuantizer::GroupResidualQuantizer(size_t dim, size_t groups, size_t levels,
                                               uint8_t bits, size_t beam)
    : CodebookQuantizer(dim, std::vector<uint8_t>(checked_groups(dim, groups, levels), bits)),
      groups_(groups),
      levels_(levels),
      bits_(bits),
      beam_(beam) {
  VQ_CHECK(beam >= 1, "GRVQ: beam width must be >= 1");
}

std::string GroupResidualQuantizer::describe() const {
  const std::string base = detail::concat("GRVQ", groups_, "x", levels_, "x", int(bits_));
  return beam_ == 1 ? base : detail::concat(base, "b", beam_);
}

void GroupResidualQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  check_train_input(x, options);
  const size_t gd = group_dim();
  std::vector<Codebook> books;
  books.reserve(groups_ * levels_);
  for (size_t g = 0; g < groups_; ++g) {
    ResidualQuantizer rq(gd, levels_, bits_, beam_);
    TrainOptions group_options = options;
    group_options.metric = detail::metric_block(options.metric, g * gd, gd, dim());
    group_options.seed = options.seed + 1000 * g;
    rq.train(x.cols_slice(g * gd, gd), group_options);
    for (Codebook book : rq.books()) {
      book.offset = g * gd;
      books.push_back(std::move(book));
    }
  }
  set_books(std::move(books), options.metric);
}

Codes GroupResidualQuantizer::encode(MatrixView<const float> x) const {
  check_input(x, "encode");
  Codes codes(x.rows(), book_bits());
  const MatrixView<uint16_t> all(codes.data.data(), codes.n, groups_ * levels_);
  const size_t gd = group_dim();
  for (size_t g = 0; g < groups_; ++g) {
    const Metric block = detail::metric_block(metric(), g * gd, gd, dim());
    const auto wbooks = detail::whiten_books(
        std::span<const Codebook>(books()).subspan(g * levels_, levels_), block);
    detail::residual_encode(x.cols_slice(g * gd, gd), wbooks, block, beam_,
                            all.cols_slice(g * levels_, levels_), 0);
  }
  return codes;
}

}  // namespace vq
