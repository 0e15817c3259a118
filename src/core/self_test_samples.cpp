#include "core/self_test_samples.h"

#include <algorithm>
#include <cmath>

namespace vq::detail {

std::vector<size_t> stable_rows(MatrixView<const float> candidates, size_t want, float step, bool relative, Rng& rng,
                                const EncodeRows& encode) {
  const size_t n = candidates.rows(), d = candidates.cols();
  if (n == 0 || want == 0) return {};
  constexpr size_t kNudged = 4;  // +u, -u, +v, -v
  Matrix nudged(n * kNudged, d);
  for (size_t k = 0; k < kNudged / 2; ++k) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < d; ++j) {
        float delta = step * static_cast<float>(2 * rng.uniform() - 1);
        if (relative) delta *= std::abs(candidates(i, j));
        nudged((2 * k) * n + i, j) = candidates(i, j) + delta;
        nudged((2 * k + 1) * n + i, j) = candidates(i, j) - delta;
      }
    }
  }
  const Codes at_base = encode(candidates);
  const Codes at_nudged = encode(nudged);
  const size_t books = at_base.num_books();
  VQ_CHECK(at_base.n == n && at_nudged.n == n * kNudged && at_nudged.num_books() == books,
           "self-test samples: the encoder returned ", at_base.n, " and ", at_nudged.n, " rows for ", n, " and ",
           n * kNudged);
  std::vector<size_t> keep;
  for (size_t i = 0; i < n && keep.size() < want; ++i) {
    bool stable = true;
    for (size_t k = 0; k < kNudged && stable; ++k)
      stable = std::equal(at_base.row(i), at_base.row(i) + books, at_nudged.row(k * n + i));
    if (stable) keep.push_back(i);
  }
  return keep;
}

}  // namespace vq::detail
