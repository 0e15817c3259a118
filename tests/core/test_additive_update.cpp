// The least-squares codebook update of AdditiveQuantizer (src/core/additive_update.h): the
// conjugate-gradient solver that serves large books against the dense Cholesky solution and
// the closed form of one book, and its never-worse guarantee when stopped early.
#include "core/additive_update.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "test_data.h"
#include "vq/core/rng.h"

namespace vq {
namespace {

struct Problem {
  Matrix x;
  std::vector<float> weights;
  std::vector<int32_t> codes;  // n × M
  std::vector<Codebook> books;
};

// Random codes (every code used, some rarely), weights in [0.5, 2), books of noise: a system
// whose solution is nowhere near the starting books.
Problem make_problem(size_t n, size_t d, size_t M, uint8_t bits, uint64_t seed) {
  const size_t K = size_t{1} << bits;
  Problem p{testdata::correlated(n, d, seed), std::vector<float>(n), std::vector<int32_t>(n * M),
            {}};
  Rng rng(seed + 1);
  for (size_t i = 0; i < n; ++i) {
    p.weights[i] = 0.5f + 1.5f * static_cast<float>(rng.uniform());
    for (size_t m = 0; m < M; ++m) p.codes[i * M + m] = static_cast<int32_t>(rng.below(K));
  }
  for (size_t m = 0; m < M; ++m)
    p.books.push_back(Codebook{0, d, bits, testdata::gaussian(K, d, seed + 2 + m)});
  return p;
}

double max_abs_diff(const std::vector<Codebook>& a, const std::vector<Codebook>& b) {
  double diff = 0;
  for (size_t m = 0; m < a.size(); ++m)
    for (size_t t = 0; t < a[m].entries.storage().size(); ++t)
      diff = std::max(diff, std::abs(double(a[m].entries.storage()[t]) - b[m].entries.storage()[t]));
  return diff;
}

// Run to convergence, CG reaches the dense Cholesky solution of the same normal equations
// (weights, proximal term and all), for one book and for several.
TEST(AdditiveUpdate, ConjugateGradientMatchesDenseSolution) {
  for (size_t M : {1, 3}) {
    Problem p = make_problem(3000, 6, M, 5, 10 + M);
    std::vector<Codebook> dense = p.books, cg = p.books;
    detail::update_books_dense(p.x, p.weights, p.codes, dense);
    detail::CgOptions exact;
    exact.max_iterations = 500;
    exact.tolerance = 1e-12;
    const int iterations = detail::update_books_cg(p.x, p.weights, p.codes, cg, 2, exact);
    std::printf("M = %zu: CG converged in %d iterations, max |CG − dense| = %.2e\n", M,
                iterations, max_abs_diff(cg, dense));
    EXPECT_LT(iterations, exact.max_iterations);
    EXPECT_LT(max_abs_diff(cg, dense), 1e-4) << "M = " << M;
    EXPECT_NE(max_abs_diff(p.books, dense), 0.0);
  }
}

// One book: the system is diagonal, the Jacobi-preconditioned first step is exact, and every
// entry is the weighted mean of its rows pulled towards its old value by λ.
TEST(AdditiveUpdate, OneBookIsWeightedMeanInOneIteration) {
  const size_t n = 2000, d = 4, K = 64;
  Problem p = make_problem(n, d, 1, 6, 20);
  const double lambda = detail::additive_ridge(p.weights, n, K);
  std::vector<double> sum(K * d, 0.0), wsum(K, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(p.codes[i]);
    wsum[k] += p.weights[i];
    for (size_t j = 0; j < d; ++j) sum[k * d + j] += double(p.weights[i]) * p.x(i, j);
  }
  std::vector<Codebook> books = p.books;
  detail::CgOptions one;
  one.max_iterations = 1;
  detail::update_books_cg(p.x, p.weights, p.codes, books, 1, one);
  for (size_t k = 0; k < K; ++k)
    for (size_t j = 0; j < d; ++j) {
      const double expected = (sum[k * d + j] + lambda * p.books[0].entries(k, j)) / (wsum[k] + lambda);
      ASSERT_NEAR(books[0].entries(k, j), expected, 1e-5 * (1 + std::abs(expected)))
          << "entry " << k << " dim " << j;
    }
}

// Stopped after any number of iterations, the update never raises the objective above its value
// at the old books, ends within 1e-6 of the exact optimum, and does not depend on the thread count.
TEST(AdditiveUpdate, ConjugateGradientNeverWorseAndDeterministic) {
  Problem p = make_problem(4000, 8, 4, 6, 30);
  const double before = detail::additive_objective(p.x, p.weights, p.codes, p.books);
  std::vector<Codebook> dense = p.books;
  detail::update_books_dense(p.x, p.weights, p.codes, dense);
  const double optimum = detail::additive_objective(p.x, p.weights, p.codes, dense);
  double last = before;
  for (int iterations : {1, 2, 3, 5, 10, 50}) {
    detail::CgOptions opt;
    opt.max_iterations = iterations;
    std::vector<Codebook> one_thread = p.books, two_threads = p.books;
    detail::update_books_cg(p.x, p.weights, p.codes, one_thread, 1, opt);
    detail::update_books_cg(p.x, p.weights, p.codes, two_threads, 2, opt);
    EXPECT_EQ(max_abs_diff(one_thread, two_threads), 0.0) << iterations << " iterations";
    last = detail::additive_objective(p.x, p.weights, p.codes, one_thread);
    EXPECT_LE(last, before) << iterations << " iterations";
    EXPECT_GE(last, optimum * (1 - 1e-9)) << iterations << " iterations";
  }
  std::printf("objective: old books %.2f, CG (50 iterations) %.6f, dense %.6f\n", before, last,
              optimum);
  EXPECT_LT(last, before * 0.5);
  EXPECT_NEAR(last, optimum, 1e-6 * optimum);
}

}  // namespace
}  // namespace vq
