// nearest / nearest_k against a brute-force double-precision reference, across thread counts
// and awkward sizes (n = 1, k = 1, d = 1, d not a multiple of the SIMD width, k wider than one
// column tile).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kernels/distances.h"
#include "test_data.h"
#include "vq/core/rng.h"
#include "vq/simd.h"

namespace vq {
namespace {

// Exact squared distances of row i of x to every row of c.
std::vector<double> exact_row(const Matrix& x, size_t i, const Matrix& c) {
  std::vector<double> out(c.rows());
  for (size_t j = 0; j < c.rows(); ++j) {
    double s = 0.0;
    for (size_t t = 0; t < x.cols(); ++t) {
      const double v = double(x(i, t)) - c(j, t);
      s += v * v;
    }
    out[j] = s;
  }
  return out;
}

std::vector<float> norms_of(const Matrix& c) {
  std::vector<float> n(c.rows());
  kernels::row_norms(c.view(), n);
  return n;
}

// The GEMM expansion loses ~1e-6 relative to ||x||² + ||c||²: a label is accepted when its
// exact distance is within that slack of the exact minimum (ties aside).
double slack(const Matrix& x, size_t i, const Matrix& c) {
  double mx = 0.0;
  for (size_t j = 0; j < c.rows(); ++j) mx = std::max(mx, double(kernels::dot(c.row_ptr(j), c.row_ptr(j), c.cols())));
  return 1e-5 * (kernels::dot(x.row_ptr(i), x.row_ptr(i), x.cols()) + mx) + 1e-6;
}

struct Case {
  size_t n, k, d;
};

class DistancesTest : public ::testing::TestWithParam<Case> {};

TEST_P(DistancesTest, NearestMatchesBruteForce) {
  const auto [n, k, d] = GetParam();
  const Matrix x = testdata::gaussian(n, d, 11);
  const Matrix c = testdata::gaussian(k, d, 12);
  const std::vector<float> cn = norms_of(c);
  std::vector<int32_t> ref_labels;
  std::vector<float> ref_dist;
  for (int threads : {1, 2, 3}) {
    std::vector<int32_t> labels(n);
    std::vector<float> dist(n);
    kernels::nearest(x.view(), c.view(), cn, labels, dist, threads);
    for (size_t i = 0; i < n; ++i) {
      const std::vector<double> ex = exact_row(x, i, c);
      const double best = *std::min_element(ex.begin(), ex.end());
      ASSERT_GE(labels[i], 0);
      ASSERT_LT(size_t(labels[i]), k);
      EXPECT_LE(ex[labels[i]], best + slack(x, i, c)) << "row " << i;
      EXPECT_NEAR(dist[i], ex[labels[i]], slack(x, i, c)) << "row " << i;
    }
    if (threads == 1) {
      ref_labels = labels;
      ref_dist = dist;
    } else {  // bitwise identical for any thread count
      EXPECT_EQ(labels, ref_labels);
      EXPECT_EQ(dist, ref_dist);
    }
  }
}

TEST_P(DistancesTest, NearestKMatchesBruteForce) {
  const auto [n, k, d] = GetParam();
  const Matrix x = testdata::gaussian(n, d, 21);
  const Matrix c = testdata::gaussian(k, d, 22);
  const std::vector<float> cn = norms_of(c);
  for (size_t m : {size_t{1}, std::min<size_t>(k, 4), std::min<size_t>(k, 32), k}) {
    std::vector<int32_t> ref_labels;
    for (int threads : {1, 2}) {
      std::vector<int32_t> labels(n * m);
      std::vector<float> dist(n * m);
      kernels::nearest_k(x.view(), c.view(), cn, m, labels, dist, threads);
      for (size_t i = 0; i < n; ++i) {
        std::vector<double> ex = exact_row(x, i, c);
        std::vector<double> sorted = ex;
        std::sort(sorted.begin(), sorted.end());
        const double tol = slack(x, i, c);
        for (size_t s = 0; s < m; ++s) {
          const int32_t l = labels[i * m + s];
          ASSERT_GE(l, 0);
          ASSERT_LT(size_t(l), k);
          // The s-th returned code is the s-th smallest exact distance (up to rounding ties).
          EXPECT_NEAR(ex[l], sorted[s], tol) << "row " << i << " rank " << s;
          EXPECT_NEAR(dist[i * m + s], ex[l], tol);
          if (s > 0) {
            EXPECT_LE(dist[i * m + s - 1], dist[i * m + s]);
          }
        }
        std::vector<int32_t> row(labels.begin() + i * m, labels.begin() + (i + 1) * m);
        std::sort(row.begin(), row.end());
        EXPECT_EQ(std::adjacent_find(row.begin(), row.end()), row.end()) << "duplicate label, row " << i;
      }
      if (threads == 1) ref_labels = labels;
      else EXPECT_EQ(labels, ref_labels);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sizes, DistancesTest,
                         ::testing::Values(Case{1, 1, 1}, Case{1, 7, 3}, Case{37, 1, 5}, Case{300, 17, 1},
                                           Case{513, 64, 13}, Case{700, 300, 33}, Case{260, 1100, 9},
                                           Case{1030, 256, 128}));

TEST(Distances, NearestKTiesPreferLowerIndex) {
  // Four identical centroids: every row sees four exactly equal distances.
  Matrix c(4, 3, 0.5f);
  const Matrix x = testdata::gaussian(5, 3, 3);
  const std::vector<float> cn = norms_of(c);
  std::vector<int32_t> labels(5 * 4);
  std::vector<float> dist(5 * 4);
  kernels::nearest_k(x.view(), c.view(), cn, 4, labels, dist, 1);
  for (size_t i = 0; i < 5; ++i)
    for (int32_t s = 0; s < 4; ++s) EXPECT_EQ(labels[i * 4 + s], s);
  std::vector<int32_t> l1(5);
  std::vector<float> d1(5);
  kernels::nearest(x.view(), c.view(), cn, l1, d1, 1);
  for (int32_t l : l1) EXPECT_EQ(l, 0);
}

TEST(Distances, StridedViews) {
  // A column block of a wider matrix gives the same answer as a compact copy.
  const Matrix wide = testdata::gaussian(50, 20, 5);
  const Matrix c = testdata::gaussian(9, 7, 6);
  Matrix compact(50, 7);
  for (size_t i = 0; i < 50; ++i)
    for (size_t t = 0; t < 7; ++t) compact(i, t) = wide(i, 4 + t);
  const std::vector<float> cn = norms_of(c);
  std::vector<int32_t> la(50), lb(50);
  std::vector<float> da(50), db(50);
  kernels::nearest(wide.view().cols_slice(4, 7), c.view(), cn, la, da, 2);
  kernels::nearest(compact.view(), c.view(), cn, lb, db, 2);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(da, db);
}

TEST(Distances, ScalarHelpers) {
  const Matrix a = testdata::gaussian(2, 19, 8);
  double l2 = 0.0, ip = 0.0;
  for (size_t t = 0; t < 19; ++t) {
    l2 += (double(a(0, t)) - a(1, t)) * (double(a(0, t)) - a(1, t));
    ip += double(a(0, t)) * a(1, t);
  }
  EXPECT_NEAR(kernels::l2sqr(a.row_ptr(0), a.row_ptr(1), 19), l2, 1e-4 * l2);
  EXPECT_NEAR(kernels::dot(a.row_ptr(0), a.row_ptr(1), 19), ip, 1e-4 * (std::abs(ip) + 1));
}

TEST(Distances, BadArgumentsThrow) {
  const Matrix x(4, 3), c(2, 3), c4(2, 4);
  std::vector<float> cn(2), dist(4);
  std::vector<int32_t> labels(4);
  EXPECT_THROW(kernels::nearest(x.view(), c4.view(), cn, labels, dist), Error);
  EXPECT_THROW(kernels::nearest(x.view(), c.view(), Span<const float>(cn.data(), 1), labels, dist), Error);
  EXPECT_THROW(kernels::nearest_k(x.view(), c.view(), cn, 3, labels, dist), Error);
  EXPECT_THROW(kernels::nearest_k(x.view(), c.view(), cn, 2, labels, dist), Error);  // outputs too small
}

// The dispatched candidate list (AVX-512 where the CPU has it) equals the plain loop's, for
// lengths around the 16-lane step, limits that pass none, some and all, and equal bounds.
TEST(Distances, WithinBoundMatchesReference) {
  Rng rng(4);
  for (size_t n : {1, 15, 16, 17, 100, 256}) {
    std::vector<float> t(n), w(n);
    for (size_t j = 0; j < n; ++j) t[j] = float(rng.normal()), w[j] = float(std::abs(rng.normal()));
    t[n / 2] = 0.25f, w[n / 2] = 0.f;  // a bound exactly at the limit passes
    for (float limit : {-100.f, 0.25f, 0.f, 100.f}) {
      std::vector<int32_t> a(n, -1), b(n, -1);
      const size_t na = kernels::within_bound(t.data(), w.data(), 0.7f, limit, n, a.data());
      const size_t nb = kernels::within_bound_ref(t.data(), w.data(), 0.7f, limit, n, b.data());
      ASSERT_EQ(na, nb) << "n " << n << ", limit " << limit;
      EXPECT_EQ(std::vector<int32_t>(a.begin(), a.begin() + long(na)), std::vector<int32_t>(b.begin(), b.begin() + long(nb)));
      EXPECT_EQ(nb, limit == -100.f ? 0u : limit == 100.f ? n : nb);
    }
  }
}

// nearest_transposed of every SIMD level this CPU has, by name.
using NearestTransposedFn = void (*)(const float*, size_t, size_t, const float*, const float*, size_t, size_t,
                                     int32_t*, float*);
std::vector<std::pair<const char*, NearestTransposedFn>> nearest_transposed_levels() {
  std::vector<std::pair<const char*, NearestTransposedFn>> levels = {{"scalar", kernels::scalar::nearest_transposed}};
  if (simd_cpu_level() >= SimdLevel::kAvx2) levels.push_back({"avx2", kernels::avx2::nearest_transposed});
  if (simd_cpu_level() >= SimdLevel::kAvx512) levels.push_back({"avx512", kernels::avx512::nearest_transposed});
  return levels;
}

// nearest_transposed: the first nearest entry by Σ_j (x_j − t_jk)² in ascending j, the same bits
// at every level, against a plain loop in the same order; ties (duplicate entries) go to the
// lower index, +inf padding is never chosen, and a row too large for float gets −1.
TEST(Distances, NearestTransposedIsTheFirstNearestAtEveryLevel) {
  const auto levels = nearest_transposed_levels();
  for (size_t dim : {1, 3, 8, 16, 32}) {
    for (size_t k : {2, 16, 40, 256}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + " k " + std::to_string(k));
      const Matrix entries = testdata::gaussian(k, dim, 31 + dim);
      const size_t padded = (k + 31) / 32 * 32;
      std::vector<float> t(dim * padded, std::numeric_limits<float>::infinity());
      for (size_t e = 0; e < k; ++e)
        for (size_t j = 0; j < dim; ++j) t[j * padded + e] = entries(e, j);
      if (k >= 16) {  // entry 9 duplicates entry 3: rows nearest to it must get 3
        for (size_t j = 0; j < dim; ++j) t[j * padded + 9] = t[j * padded + 3];
      }
      Matrix x = testdata::gaussian(37, dim, 41 + k);
      for (size_t j = 0; j < dim; ++j) x(0, j) = t[j * padded + 3];  // exactly on the duplicate
      x(1, 0) = 3e19f;                                               // (x − t)² overflows everywhere
      std::vector<int32_t> want(x.rows());
      std::vector<float> want_d(x.rows());
      for (size_t i = 0; i < x.rows(); ++i) {
        want[i] = -1;
        want_d[i] = std::numeric_limits<float>::infinity();
        for (size_t e = 0; e < k; ++e) {
          float s = 0;
          for (size_t j = 0; j < dim; ++j) {
            const float diff = x(i, j) - t[j * padded + e];
            s += diff * diff;
          }
          if (s < want_d[i]) {
            want_d[i] = s;
            want[i] = int32_t(e);
          }
        }
      }
      EXPECT_EQ(want[1], -1);
      if (k >= 16) {
        EXPECT_EQ(want[0], 3);
      }
      for (const auto& [name, fn] : levels) {
        std::vector<int32_t> labels(x.rows());
        std::vector<float> d(x.rows());
        fn(x.data(), x.rows(), dim, t.data(), nullptr, dim, padded, labels.data(), d.data());
        EXPECT_EQ(labels, want) << name;
        EXPECT_EQ(d, want_d) << name;
      }
    }
  }
}

// The ||t||²/2 − x·t form: the first minimum of that score, summed like a plain loop, the
// same bits at every level, and distances ||x||² + 2·score clamped at 0.
TEST(Distances, NearestTransposedExpandedIsTheFirstMinimumOfItsScore) {
  const auto levels = nearest_transposed_levels();
  for (size_t dim : {1, 4, 8, 16, 32}) {
    for (size_t k : {2, 40, 256}) {
      SCOPED_TRACE("dim " + std::to_string(dim) + " k " + std::to_string(k));
      const Matrix entries = testdata::gaussian(k, dim, 51 + dim);
      const size_t padded = (k + 31) / 32 * 32;
      std::vector<float> t(dim * padded, 0.f), half(padded, std::numeric_limits<float>::infinity());
      for (size_t e = 0; e < k; ++e) {
        float norm = 0.f;
        for (size_t j = 0; j < dim; ++j) {
          t[j * padded + e] = entries(e, j);
          norm += entries(e, j) * entries(e, j);
        }
        half[e] = 0.5f * norm;
      }
      if (k >= 16) {  // entry 9 duplicates entry 3: rows nearest to it must get 3
        for (size_t j = 0; j < dim; ++j) t[j * padded + 9] = t[j * padded + 3];
        half[9] = half[3];
      }
      Matrix x = testdata::gaussian(37, dim, 61 + k);
      for (size_t j = 0; j < dim; ++j) x(0, j) = t[j * padded + 3];  // exactly on the duplicate
      std::vector<int32_t> want(x.rows());
      std::vector<float> want_d(x.rows());
      for (size_t i = 0; i < x.rows(); ++i) {
        float best = std::numeric_limits<float>::infinity();
        want[i] = -1;
        for (size_t e = 0; e < k; ++e) {
          float p = 0;
          for (size_t j = 0; j < dim; ++j) p += x(i, j) * t[j * padded + e];
          const float score = half[e] - p;
          if (score < best) {
            best = score;
            want[i] = int32_t(e);
          }
        }
        float norm = 0;
        for (size_t j = 0; j < dim; ++j) norm += x(i, j) * x(i, j);
        want_d[i] = std::max(0.f, norm + 2.f * best);
        // The true nearest entry by direct distance is at most a rounding error better.
        float direct = std::numeric_limits<float>::infinity();
        for (size_t e = 0; e < k; ++e) {
          float s = 0;
          for (size_t j = 0; j < dim; ++j) s += (x(i, j) - t[j * padded + e]) * (x(i, j) - t[j * padded + e]);
          direct = std::min(direct, s);
        }
        EXPECT_NEAR(want_d[i], direct, 1e-4f * (1.f + norm));
      }
      if (k >= 16) {
        EXPECT_EQ(want[0], 3);
      }
      for (const auto& [name, fn] : levels) {
        std::vector<int32_t> labels(x.rows());
        std::vector<float> d(x.rows());
        fn(x.data(), x.rows(), dim, t.data(), half.data(), dim, padded, labels.data(), d.data());
        EXPECT_EQ(labels, want) << name;
        EXPECT_EQ(d, want_d) << name;
      }
    }
  }
}

// The per-level loops (distances_loops.inc) sum in one fixed order, so every SIMD level this CPU
// has gives the scalar build's bits: dot and l2sqr at lengths around the 8- and 16-float steps,
// the argmin of a tile (first index of the minimum, NaNs skipped), a table's range, and the
// transposed products.
TEST(Distances, EverySimdLevelGivesTheScalarBits) {
  struct Level {
    const char* name;
    bool supported;
    float (*dot)(const float*, const float*, size_t);
    float (*l2sqr)(const float*, const float*, size_t);
    size_t (*min_index)(const float*, size_t, float&);
    void (*products)(const float*, size_t, size_t, const float*, size_t, size_t, float*, size_t);
  };
  const Level levels[] = {
      {"avx2", simd_cpu_level() >= SimdLevel::kAvx2, kernels::avx2::dot, kernels::avx2::l2sqr,
       kernels::avx2::min_index, kernels::avx2::transposed_products},
      {"avx512", simd_cpu_level() >= SimdLevel::kAvx512, kernels::avx512::dot, kernels::avx512::l2sqr,
       kernels::avx512::min_index, kernels::avx512::transposed_products}};
  const Matrix a = testdata::gaussian(2, 300, 21);
  for (size_t d : {0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 100, 128, 300}) {
    const float dot_ref = kernels::scalar::dot(a.row_ptr(0), a.row_ptr(1), d);
    const float l2_ref = kernels::scalar::l2sqr(a.row_ptr(0), a.row_ptr(1), d);
    for (const Level& l : levels) {
      if (!l.supported) continue;
      EXPECT_EQ(l.dot(a.row_ptr(0), a.row_ptr(1), d), dot_ref) << l.name << " d " << d;
      EXPECT_EQ(l.l2sqr(a.row_ptr(0), a.row_ptr(1), d), l2_ref) << l.name << " d " << d;
    }
  }
  Rng rng(3);
  for (size_t n : {1, 3, 4, 15, 16, 17, 64, 255, 256}) {
    std::vector<float> t(n);
    for (float& v : t) v = float(rng.below(5));  // many ties: the first index must win
    t[n / 2] = std::numeric_limits<float>::quiet_NaN();
    float ref_min;
    const size_t ref = kernels::scalar::min_index(t.data(), n, ref_min);
    for (const Level& l : levels) {
      if (!l.supported) continue;
      float got_min;
      EXPECT_EQ(l.min_index(t.data(), n, got_min), ref) << l.name << " n " << n;
      EXPECT_EQ(got_min, ref_min) << l.name << " n " << n;
    }
  }
  // min_max: a lookup table's range, against a plain loop (NaNs skipped after the first entry).
  using MinMax = void (*)(const float*, size_t, float&, float&);
  const std::pair<const Level*, MinMax> min_max[] = {{&levels[0], kernels::avx2::min_max},
                                                     {&levels[1], kernels::avx512::min_max}};
  for (size_t n : {1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 256, 257}) {
    std::vector<float> t(n);
    for (float& v : t) v = float(rng.normal());
    if (n > 2) t[n / 3] = std::numeric_limits<float>::quiet_NaN();
    float want_lo = t[0], want_hi = t[0];
    for (float v : t) {
      if (v < want_lo) want_lo = v;
      if (v > want_hi) want_hi = v;
    }
    float lo, hi;
    kernels::scalar::min_max(t.data(), n, lo, hi);
    EXPECT_EQ(lo, want_lo) << "scalar n " << n;
    EXPECT_EQ(hi, want_hi) << "scalar n " << n;
    for (const auto& [l, fn] : min_max) {
      if (!l->supported) continue;
      fn(t.data(), n, lo, hi);
      EXPECT_EQ(lo, want_lo) << l->name << " n " << n;
      EXPECT_EQ(hi, want_hi) << l->name << " n " << n;
    }
  }
  // first_below: the first index below each bound, against a plain loop, at every level.
  using FirstBelow = size_t (*)(const float*, size_t, float);
  const std::pair<const Level*, FirstBelow> first_below[] = {{&levels[0], kernels::avx2::first_below},
                                                             {&levels[1], kernels::avx512::first_below}};
  for (size_t n : {0, 1, 3, 7, 8, 9, 16, 17, 31, 32, 33, 100, 257}) {
    std::vector<float> t(n);
    for (float& v : t) v = float(rng.below(1000));
    if (n > 2) t[n / 3] = std::numeric_limits<float>::quiet_NaN();
    for (const float bound : {-1.f, 0.f, 1.f, 5.f, 500.f, 999.f, 1000.f,
                              std::numeric_limits<float>::infinity()}) {
      size_t want = n;
      for (size_t j = 0; j < n; ++j)
        if (t[j] < bound) { want = j; break; }
      EXPECT_EQ(kernels::scalar::first_below(t.data(), n, bound), want) << "scalar n " << n << " bound " << bound;
      for (const auto& [l, fn] : first_below) {
        if (!l->supported) continue;
        EXPECT_EQ(fn(t.data(), n, bound), want) << l->name << " n " << n << " bound " << bound;
      }
    }
  }
  const Matrix q = testdata::gaussian(3, 40, 22), t = testdata::gaussian(40, 96, 23);
  std::vector<float> ref(3 * 96), got(3 * 96);
  kernels::scalar::transposed_products(q.data(), 3, 40, t.data(), 40, 96, ref.data(), 96);
  for (size_t i = 0; i < 3; ++i)  // the plain loop's bits
    for (size_t k = 0; k < 96; ++k) {
      float s = 0.f;
      for (size_t j = 0; j < 40; ++j) s += q(i, j) * t(j, k);
      ASSERT_EQ(ref[i * 96 + k], s) << i << ", " << k;
    }
  for (const Level& l : levels) {
    if (!l.supported) continue;
    l.products(q.data(), 3, 40, t.data(), 40, 96, got.data(), 96);
    EXPECT_EQ(got, ref) << l.name;
  }
}

}  // namespace
}  // namespace vq
