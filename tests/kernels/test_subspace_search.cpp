// The subspace search (kernels/subspace_search.h) against brute force.
#include "kernels/subspace_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "vq/core/rng.h"

namespace vq::kernels {
namespace {

// The pruned search against brute force in double precision, on books whose energy falls off
// over the dimensions (as k-means centroids of DCT patches do) so that the head is short and
// the bounds decide: the chosen entry's distance is the minimum (to float rounding), and it is
// the brute-force entry wherever the runner-up is not a near-tie.
TEST(SubspaceSearch, MatchesBruteForce) {
  const size_t r = 48, K = 64, levels = 3, n = 700;
  Rng rng(17);
  std::vector<Matrix> books(levels);
  for (auto& b : books) {
    b = Matrix(K, r);
    for (size_t k = 0; k < K; ++k)
      for (size_t j = 0; j < r; ++j) b(k, j) = float(rng.normal() * 10.0 * std::exp(-0.15 * double((j * 7) % r)));
  }
  // Two equal entries (an exact tie: either may win, the distance is what counts).
  std::copy_n(books[1].row_ptr(5), r, books[1].row_ptr(9));
  const SubspaceBooks sb(books);
  Matrix x(n, r);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < r; ++j) x(i, sb.order()[j]) = float(rng.normal() * (1.0 + 8.0 * std::exp(-0.1 * double(j))));
  // Rows in search order, as the tokenizer stores them.
  Matrix xs(n, r);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < r; ++j) xs(i, j) = x(i, sb.order()[j]);
  std::vector<int32_t> labels(n);
  std::vector<float> dist(n);
  SubspaceScratch scratch;
  size_t checked = 0;
  for (size_t l = 0; l < levels; ++l) {
    EXPECT_LT(sb.head(l), r) << "the test must exercise the bounds";
    sb.nearest(l, xs.view(), labels, dist, scratch);
    for (size_t i = 0; i < n; ++i) {
      std::vector<double> d(K);
      for (size_t k = 0; k < K; ++k) {
        double s2 = 0;
        for (size_t j = 0; j < r; ++j) s2 += std::pow(double(x(i, j)) - books[l](k, j), 2);
        d[k] = s2;
      }
      std::vector<double> sorted = d;
      std::sort(sorted.begin(), sorted.end());
      const double tol = 1e-5 * (1 + sorted[0]);
      EXPECT_LE(d[size_t(labels[i])], sorted[0] + tol) << "level " << l << " row " << i;
      EXPECT_NEAR(dist[i], sorted[0], 1e-4 * (1 + sorted[0]));
      if (sorted[1] - sorted[0] > 1e-3 * (1 + sorted[0])) {
        EXPECT_EQ(size_t(labels[i]), size_t(std::min_element(d.begin(), d.end()) - d.begin()));
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, levels * n * 8 / 10);
}

}  // namespace
}  // namespace vq::kernels
