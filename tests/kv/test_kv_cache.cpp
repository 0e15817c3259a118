// KVCache: scores equal q·k̂ on decoded keys, top-K equals brute force, attention over all
// tokens equals dense attention, streaming equals batch appends, bad input is rejected, and
// readers running during appends see consistent prefixes.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <thread>

#include "test_data.h"
#include "vq/error.h"
#include "vq/kv/kv_cache.h"
#include "vq/kv/rope.h"

namespace vq::kv {
namespace {

constexpr size_t kH = 2, kHq = 4, kD = 64;

KVCacheConfig config(const std::string& spec, bool query_aware = true) {
  KVCacheConfig c;
  c.kv_heads = kH;
  c.head_dim = kD;
  c.key_quantizer = spec;
  c.query_aware = query_aware;
  c.page_tokens = 128;  // several pages even in small tests
  c.train_iterations = 6;
  c.threads = 1;  // small trainings: OpenMP teams cost more than they save on a loaded machine
  return c;
}

std::unique_ptr<KVCache> fitted(const KVCacheConfig& c, const testdata::KVSample& prefill,
                                bool cold = true) {
  auto cache = std::make_unique<KVCache>(
      c, cold ? make_memory_cold_store(c.kv_heads * c.head_dim, 256) : nullptr);
  cache->fit(prefill.keys, prefill.queries, prefill.values);
  return cache;
}

// Rows [begin, begin + n) of m.
MatrixView<const float> rows(const Matrix& m, size_t begin, size_t n) {
  return m.view().rows_slice(begin, n);
}

// Query rows of token t: q_heads × d.
Matrix query_of(const testdata::KVSample& s, size_t t) {
  Matrix q(kHq, kD);
  std::copy(s.queries.row_ptr(t), s.queries.row_ptr(t) + kHq * kD, q.data());
  return q;
}

// Dense softmax attention of each query head over keys/values (n × kH·kD), keys optionally
// rotated by RoPE at their positions first.
Matrix dense_attention(const Matrix& q, const Matrix& keys, const Matrix& values, size_t n,
                       bool rope) {
  Matrix out(kHq, kD);
  const size_t group = kHq / kH;
  for (size_t qh = 0; qh < kHq; ++qh) {
    const size_t h = qh / group;
    std::vector<double> logit(n);
    double mx = -1e300;
    for (size_t t = 0; t < n; ++t) {
      std::vector<float> k(keys.row_ptr(t) + h * kD, keys.row_ptr(t) + (h + 1) * kD);
      if (rope) apply_rope(k.data(), kD, double(t));
      double dot = 0;
      for (size_t j = 0; j < kD; ++j) dot += double(q(qh, j)) * k[j];
      logit[t] = dot / std::sqrt(double(kD));
      mx = std::max(mx, logit[t]);
    }
    double den = 0;
    std::vector<double> acc(kD, 0.0);
    for (size_t t = 0; t < n; ++t) {
      const double p = std::exp(logit[t] - mx);
      den += p;
      for (size_t j = 0; j < kD; ++j) acc[j] += p * values(t, h * kD + j);
    }
    for (size_t j = 0; j < kD; ++j) out(qh, j) = float(acc[j] / den);
  }
  return out;
}

void expect_near_matrix(const Matrix& a, const Matrix& b, double tol) {
  ASSERT_EQ(a.rows(), b.rows());
  ASSERT_EQ(a.cols(), b.cols());
  for (size_t i = 0; i < a.rows(); ++i)
    for (size_t j = 0; j < a.cols(); ++j) ASSERT_NEAR(a(i, j), b(i, j), tol) << i << "," << j;
}

// Token order of one score row: descending score, ties by lower id (the cache's order).
std::vector<idx_t> order_of(const float* s, size_t n, size_t k) {
  std::vector<idx_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](idx_t a, idx_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); });
  ids.resize(k);
  return ids;
}

struct Layouts : ::testing::TestWithParam<std::string> {};

// Key quantizers covering both block layouts, additive codes and the scalar baseline.
INSTANTIATE_TEST_SUITE_P(KV, Layouts,
                         ::testing::Values("PQ16x8", "PQ32x4", "PQ8x4", "SQ4", "RVQ2x8", "SQ2"),
                         [](const auto& p) { return p.param; });

TEST_P(Layouts, ScoresAndTopKMatchDecodedKeys) {
  const auto s = testdata::kv_sample(1100, kH, kHq, kD, 11, true);
  // Fit on the first 600 tokens, cache the next 500 (pages + tail).
  testdata::KVSample pre{Matrix(600, kH * kD), Matrix(600, kHq * kD), Matrix(600, kH * kD)};
  std::copy(s.keys.data(), s.keys.data() + 600 * kH * kD, pre.keys.data());
  std::copy(s.queries.data(), s.queries.data() + 600 * kHq * kD, pre.queries.data());
  std::copy(s.values.data(), s.values.data() + 600 * kH * kD, pre.values.data());
  auto cache = fitted(config(GetParam()), pre);
  const size_t n = 500;  // 7 full blocks of 64 (15 of 32) + a tail, over 4 pages
  cache->append(rows(s.keys, 600, n), rows(s.values, 600, n));
  ASSERT_EQ(cache->size(), n);
  std::vector<Matrix> dec;
  for (size_t h = 0; h < kH; ++h) dec.push_back(cache->decoded_keys(h));

  for (size_t t : {700u, 1099u}) {
    const Matrix q = query_of(s, t);
    const Matrix sc = cache->scores(q);
    ASSERT_EQ(sc.rows(), kHq);
    ASSERT_EQ(sc.cols(), n);
    const size_t k = 37;
    const std::vector<idx_t> top = cache->topk(q, k);
    ASSERT_EQ(top.size(), kHq * k);
    for (size_t qh = 0; qh < kHq; ++qh) {
      const Matrix& kh = dec[qh / (kHq / kH)];
      std::vector<float> exact(n);
      for (size_t i = 0; i < n; ++i) {
        double dot = 0;
        for (size_t j = 0; j < kD; ++j) dot += double(q(qh, j)) * kh(i, j);
        exact[i] = float(dot);
        ASSERT_NEAR(sc(qh, i), dot, 1e-4 * (1 + std::abs(dot))) << "token " << i;
      }
      // Top-K: exactly the order of the scores; and brute force over decoded keys agrees up
      // to float rounding (each returned token is within rounding of the true k-th best).
      EXPECT_EQ(order_of(sc.row_ptr(qh), n, k),
                std::vector<idx_t>(top.begin() + qh * k, top.begin() + (qh + 1) * k));
      const std::vector<idx_t> brute = order_of(exact.data(), n, k);
      const float kth = exact[brute[k - 1]];
      for (size_t j = 0; j < k; ++j)
        EXPECT_GE(exact[top[qh * k + j]], kth - 1e-4 * (1 + std::abs(kth)));
    }
  }
}

// Encoders that treat every row on its own, so appending in any batching gives the same codes.
// (RVQ's encoder scores candidates with BLAS GEMM over the batch, whose rounding depends on
// the batch shape, so a near-tie can pick a different code.)
struct RowwiseLayouts : ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(KV, RowwiseLayouts,
                         ::testing::Values("PQ16x8", "PQ32x4", "PQ8x4", "SQ4", "SQ2"),
                         [](const auto& p) { return p.param; });

TEST_P(RowwiseLayouts, AppendOneByOneEqualsBatch) {
  const auto s = testdata::kv_sample(900, kH, kHq, kD, 12, true);
  auto a = fitted(config(GetParam()), s);
  auto b = fitted(config(GetParam()), s);
  const size_t n = 300;
  a->append(rows(s.keys, 0, n), rows(s.values, 0, n));
  for (size_t t = 0; t < n;) {  // ragged batches: 1, 2, 3, ... tokens, crossing blocks and pages
    const size_t m = std::min(n - t, 1 + t % 7);
    b->append(rows(s.keys, t, m), rows(s.values, t, m));
    t += m;
  }
  ASSERT_EQ(b->size(), n);
  for (size_t h = 0; h < kH; ++h) {
    const Matrix da = a->decoded_keys(h), db = b->decoded_keys(h);
    EXPECT_EQ(da.storage(), db.storage());
  }
  const Matrix q = query_of(s, 899);
  EXPECT_EQ(a->scores(q).storage(), b->scores(q).storage());
  EXPECT_EQ(a->topk(q, 20), b->topk(q, 20));
  EXPECT_EQ(a->attend(q, 16, 4, 32).storage(), b->attend(q, 16, 4, 32).storage());
}

TEST(KVCache, AttendOverAllTokensIsDenseAttention) {
  const auto s = testdata::kv_sample(700, kH, kHq, kD, 13, true);
  auto cache = fitted(config("PQ16x8"), s);
  const size_t n = 333;
  cache->append(rows(s.keys, 0, n), rows(s.values, 0, n));
  const Matrix q = query_of(s, 600);
  expect_near_matrix(cache->attend(q, n, 0, 0), dense_attention(q, s.keys, s.values, n, false), 1e-5);
  // k beyond the size, and sinks / window covering everything, change nothing.
  expect_near_matrix(cache->attend(q, 10 * n, 4, 64), dense_attention(q, s.keys, s.values, n, false),
                     1e-5);
  expect_near_matrix(cache->attend(q, 1, n, 0), dense_attention(q, s.keys, s.values, n, false), 1e-5);
}

TEST(KVCache, AttendSelectsTopKSinksAndWindow) {
  const auto s = testdata::kv_sample(700, kH, kHq, kD, 14, true);
  auto cache = fitted(config("PQ16x8"), s);
  const size_t n = 400, k = 10, sink = 3, window = 20;
  cache->append(rows(s.keys, 0, n), rows(s.values, 0, n));
  const Matrix q = query_of(s, 650);
  const Matrix got = cache->attend(q, k, sink, window);
  const std::vector<idx_t> top = cache->topk(q, k);
  // Reference: dense attention restricted to the union, per head.
  for (size_t qh = 0; qh < kHq; ++qh) {
    std::vector<idx_t> ids(top.begin() + qh * k, top.begin() + (qh + 1) * k);
    for (size_t t = 0; t < sink; ++t) ids.push_back(idx_t(t));
    for (size_t t = n - window; t < n; ++t) ids.push_back(idx_t(t));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    Matrix ks(ids.size(), kH * kD), vs(ids.size(), kH * kD);
    for (size_t i = 0; i < ids.size(); ++i) {
      std::copy(s.keys.row_ptr(ids[i]), s.keys.row_ptr(ids[i]) + kH * kD, ks.row_ptr(i));
      std::copy(s.values.row_ptr(ids[i]), s.values.row_ptr(ids[i]) + kH * kD, vs.row_ptr(i));
    }
    const Matrix ref = dense_attention(q, ks, vs, ids.size(), false);
    for (size_t j = 0; j < kD; ++j) EXPECT_NEAR(got(qh, j), ref(qh, j), 1e-5);
  }
}

TEST(KVCache, ColdStoresAgree) {
  const auto s = testdata::kv_sample(600, kH, kHq, kD, 15, true);
  const KVCacheConfig c = config("PQ16x8");
  const std::string path = ::testing::TempDir() + "kv_cold_store.bin";
  KVCache mem(c, make_memory_cold_store(kH * kD, 100));
  KVCache map(c, make_mmap_cold_store(path, kH * kD, 100));
  mem.fit(s.keys, s.queries);
  map.fit(s.keys, s.queries);
  for (size_t t = 0; t < 450; t += 90) {
    mem.append(rows(s.keys, t, 90), rows(s.values, t, 90));
    map.append(rows(s.keys, t, 90), rows(s.values, t, 90));
  }
  for (size_t t = 0; t < 450; ++t) {
    ASSERT_TRUE(std::equal(s.keys.row_ptr(t), s.keys.row_ptr(t) + kH * kD, map.cold_store()->key(t)));
    ASSERT_TRUE(std::equal(s.values.row_ptr(t), s.values.row_ptr(t) + kH * kD, map.cold_store()->value(t)));
  }
  const Matrix q = query_of(s, 500);
  EXPECT_EQ(mem.attend(q, 32, 4, 16).storage(), map.attend(q, 32, 4, 16).storage());
  EXPECT_EQ(map.cold_store()->describe(), "mmap:" + path);
  std::remove(path.c_str());
  EXPECT_THROW(make_mmap_cold_store("/nonexistent-dir/x.bin", 4), Error);
}

TEST(KVCache, DecodedValuesWithoutColdStore) {
  const auto s = testdata::kv_sample(700, kH, kHq, kD, 16, true);
  KVCacheConfig c = config("PQ16x8");
  c.value_quantizer = "PQ16x8";
  auto cache = fitted(c, s, /*cold=*/false);
  const size_t n = 300;
  cache->append(rows(s.keys, 0, n), rows(s.values, 0, n));
  // Reference: dense attention over decoded keys and decoded values.
  Matrix kd(n, kH * kD), vd(n, kH * kD);
  for (size_t h = 0; h < kH; ++h) {
    const Matrix kh = cache->decoded_keys(h);
    const Matrix vh = cache->value_quantizer(h)->decode(
        cache->value_quantizer(h)->encode(s.values.view().rows_slice(0, n).cols_slice(h * kD, kD)));
    for (size_t t = 0; t < n; ++t)
      for (size_t j = 0; j < kD; ++j) {
        kd(t, h * kD + j) = kh(t, j);
        vd(t, h * kD + j) = vh(t, j);
      }
  }
  const Matrix q = query_of(s, 650);
  expect_near_matrix(cache->attend(q, n, 0, 0), dense_attention(q, kd, vd, n, false), 1e-5);
  const KVBytes b = cache->bytes();
  EXPECT_EQ(b.key_codes, kH * 16.0);
  EXPECT_EQ(b.value_codes, kH * 16.0);
  EXPECT_EQ(b.cold, 0.0);
  // Without values anywhere, attention is refused.
  KVCache none(config("PQ16x8"), nullptr);
  none.fit(s.keys, s.queries);
  none.append(rows(s.keys, 0, 10), rows(s.values, 0, 10));
  EXPECT_THROW(none.attend(q, 4, 0, 0), Error);
}

TEST(KVCache, PreRopeWindowedScores) {
  // Pre-RoPE keys and post-RoPE queries; tables shared within windows of 64 positions, keys
  // stored at their window offset, so scores are the exact RoPE scores of the decoded keys.
  // 1100 tokens = 18 windows: codebook quantizers build the tables of 16 windows in one batch,
  // so this crosses a batch boundary; RVQ's books span the whole head, PQ's are disjoint.
  // Split codes: a windowed coarse code and a post-RoPE residual (8-bit after 4-bit books too).
  const size_t T = 1200, n = 1100;
  const auto pre = testdata::kv_sample(T, kH, kHq, kD, 17, false);
  Matrix q_post = pre.queries;
  for (size_t t = 0; t < T; ++t)
    for (size_t h = 0; h < kHq; ++h) apply_rope(q_post.row_ptr(t) + h * kD, kD, double(t));
  const std::pair<const char*, const char*> specs[] = {
      {"PQ16x8", ""}, {"RVQ4x8", ""}, {"RVQ1x8", "RVQ3x8"}, {"RVQ2x4", "PQ16x8"}};
  for (const auto& [spec, residual] : specs) {
    SCOPED_TRACE(std::string(spec) + " + " + residual);
    KVCacheConfig c = config(spec);
    c.key_residual_quantizer = residual;
    c.rope = RopeMode::kPreRope;
    c.rope_window = 64;
    KVCache cache(c, make_memory_cold_store(kH * kD));
    cache.fit(pre.keys, q_post);
    cache.append(rows(pre.keys, 0, n), rows(pre.values, 0, n));
    Matrix q(kHq, kD);
    std::copy(q_post.row_ptr(T - 1), q_post.row_ptr(T - 1) + kHq * kD, q.data());
    const Matrix sc = cache.scores(q);
    const std::vector<idx_t> top = cache.topk(q, 25);
    for (size_t qh = 0; qh < kHq; ++qh) {
      const Matrix kh = cache.decoded_keys(qh / (kHq / kH));
      for (size_t t = 0; t < n; ++t) {
        // Exact RoPE score on the decoded pre-RoPE key: q · R(t) k̂.
        std::vector<float> r(kh.row_ptr(t), kh.row_ptr(t) + kD);
        apply_rope(r.data(), kD, double(t));
        double dot = 0;
        for (size_t j = 0; j < kD; ++j) dot += double(q(qh, j)) * r[j];
        ASSERT_NEAR(sc(qh, t), dot, 1e-4 * (1 + std::abs(dot)));
      }
      EXPECT_EQ(order_of(sc.row_ptr(qh), n, 25),
                std::vector<idx_t>(top.begin() + qh * 25, top.begin() + (qh + 1) * 25));
    }
    // Exact attention rotates the stored pre-RoPE keys to their positions.
    expect_near_matrix(cache.attend(q, n, 0, 0), dense_attention(q, pre.keys, pre.values, n, true), 1e-5);
  }
}

TEST(KVCache, SplitCodeResidualCutsKeyError) {
  // The post-RoPE residual quantizer codes what the windowed code leaves: the decoded keys of
  // RVQ1x8 + RVQ3x8 are closer to the true keys than RVQ1x8's alone, and about as close as an
  // all-windowed RVQ4x8 (same bytes).
  const size_t n = 600;
  const auto pre = testdata::kv_sample(n, kH, kHq, kD, 29, false);
  auto key_error = [&](const char* spec, const char* residual) {
    KVCacheConfig c = config(spec, false);
    c.key_residual_quantizer = residual;
    c.rope = RopeMode::kPreRope;
    c.rope_window = 128;
    KVCache cache(c);
    cache.fit(pre.keys, pre.queries);
    cache.append(rows(pre.keys, 0, n), rows(pre.values, 0, n));
    EXPECT_EQ(cache.key_residual_quantizer(0) != nullptr, *residual != 0);
    double e = 0;
    for (size_t h = 0; h < kH; ++h) {
      const Matrix kh = cache.decoded_keys(h);
      for (size_t t = 0; t < n; ++t)
        for (size_t j = 0; j < kD; ++j) e += std::pow(double(kh(t, j)) - pre.keys(t, h * kD + j), 2);
    }
    return e;
  };
  const double coarse = key_error("RVQ1x8", ""), split = key_error("RVQ1x8", "RVQ3x8"),
               windowed = key_error("RVQ4x8", "");
  EXPECT_LT(split, 0.5 * coarse) << split << " vs " << coarse;
  EXPECT_LT(split, 1.25 * windowed) << split << " vs " << windowed;
}

TEST(KVCache, PreRopeAttendFromDecodedKeysAndValues) {
  // Without a cold store, exact attention uses the decoded keys at their true positions.
  const auto pre = testdata::kv_sample(600, kH, kHq, kD, 21, false);
  for (const char* residual : {"", "PQ8x8"}) {
  SCOPED_TRACE(residual);
  KVCacheConfig c = config("PQ16x8");
  c.key_residual_quantizer = residual;
  c.rope = RopeMode::kPreRope;
  c.rope_window = 128;
  c.value_quantizer = "PQ16x8";
  KVCache cache(c);
  cache.fit(pre.keys, pre.queries, pre.values);
  const size_t n = 300;
  cache.append(rows(pre.keys, 0, n), rows(pre.values, 0, n));
  Matrix keys(n, kH * kD);
  for (size_t h = 0; h < kH; ++h) {
    const Matrix kh = cache.decoded_keys(h);
    for (size_t t = 0; t < n; ++t) std::copy(kh.row_ptr(t), kh.row_ptr(t) + kD, keys.row_ptr(t) + h * kD);
  }
  Matrix values(n, kH * kD);
  for (size_t h = 0; h < kH; ++h) {
    const Matrix vh = cache.value_quantizer(h)->decode(cache.value_quantizer(h)->encode(
        rows(pre.values, 0, n).cols_slice(h * kD, kD)));
    for (size_t t = 0; t < n; ++t) std::copy(vh.row_ptr(t), vh.row_ptr(t) + kD, values.row_ptr(t) + h * kD);
  }
  const Matrix q = query_of(pre, 500);
  expect_near_matrix(cache.attend(q, n, 0, 0), dense_attention(q, keys, values, n, true), 1e-5);
  }
}

TEST(KVCache, RerankedTopKIsExactOverTheCandidates) {
  for (RopeMode mode : {RopeMode::kPostRope, RopeMode::kPreRope}) {
    SCOPED_TRACE(int(mode));
    const bool pre = mode == RopeMode::kPreRope;
    const auto s = testdata::kv_sample(900, kH, kHq, kD, 23, !pre);
    KVCacheConfig c = config("PQ8x4");  // coarse codes: code order and exact order differ
    c.rope = mode;
    c.rope_window = 64;
    auto cache = fitted(c, s);
    const size_t n = 400, k = 20;
    cache->append(rows(s.keys, 0, n), rows(s.values, 0, n));
    const Matrix q = query_of(s, 800);
    // Exact scores q·k at the keys' positions.
    Matrix exact(kHq, n);
    for (size_t qh = 0; qh < kHq; ++qh)
      for (size_t t = 0; t < n; ++t) {
        std::vector<float> key(s.keys.row_ptr(t) + (qh / 2) * kD, s.keys.row_ptr(t) + (qh / 2 + 1) * kD);
        if (pre) apply_rope(key.data(), kD, double(t));
        double dot = 0;
        for (size_t j = 0; j < kD; ++j) dot += double(q(qh, j)) * key[j];
        exact(qh, t) = float(dot);
      }
    // All tokens as candidates: the exact top-k.
    const std::vector<idx_t> all = cache->topk_reranked(q, k, n);
    // k candidates: topk()'s set, in exact order.
    const std::vector<idx_t> same = cache->topk_reranked(q, k, k), codes = cache->topk(q, k);
    size_t differ = 0;
    for (size_t qh = 0; qh < kHq; ++qh) {
      const std::vector<idx_t> want = order_of(exact.row_ptr(qh), n, k);
      EXPECT_EQ(std::vector<idx_t>(all.begin() + qh * k, all.begin() + (qh + 1) * k), want);
      std::vector<idx_t> a(same.begin() + qh * k, same.begin() + (qh + 1) * k),
          b(codes.begin() + qh * k, codes.begin() + (qh + 1) * k);
      for (size_t i = 0; i + 1 < k; ++i) EXPECT_GE(exact(qh, a[i]), exact(qh, a[i + 1]));
      differ += a != b;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      EXPECT_EQ(a, b);
      differ += std::vector<idx_t>(codes.begin() + qh * k, codes.begin() + (qh + 1) * k) != want;
    }
    EXPECT_GT(differ, 0u);  // the codes alone do not already give the exact order
  }
  KVCache none(config("PQ8x4"));
  const auto s = testdata::kv_sample(300, kH, kHq, kD, 24, true);
  none.fit(s.keys, s.queries);
  none.append(rows(s.keys, 0, 100), rows(s.values, 0, 100));
  EXPECT_THROW(none.topk_reranked(query_of(s, 200), 5, 10), Error);  // no cold store
  auto cache = fitted(config("PQ8x4"), s);
  cache->append(rows(s.keys, 0, 100), rows(s.values, 0, 100));
  EXPECT_THROW(cache->topk_reranked(query_of(s, 200), 10, 5), Error);  // candidates < k
  EXPECT_THROW(cache->topk_reranked(query_of(s, 200), 0, 5), Error);
}

TEST(KVCache, QueryAwareCodebooksCutScoreError) {
  // E[(qᵀk − qᵀk̂)²] on held-out queries: H = E[qqᵀ] beats H = I at the same bytes. RVQ's
  // encoder scores candidates under the full H; PQ sees only H's diagonal blocks (one per
  // sub-vector, bits fixed per sub-vector), so its gain is smaller.
  const auto s = testdata::kv_sample(3000, kH, kHq, kD, 18, true);
  for (const auto& [spec, bound] : {std::pair<const char*, double>{"RVQ2x8", 0.8}, {"PQ8x8", 0.95}}) {
    double err[2] = {0, 0};
    for (int aware = 0; aware < 2; ++aware) {
      auto cache = fitted(config(spec, aware == 1), s);
      cache->append(rows(s.keys, 2000, 1000), rows(s.values, 2000, 1000));
      for (size_t t = 2000; t < 3000; t += 50) {
        const Matrix q = query_of(s, t);
        const Matrix sc = cache->scores(q);
        for (size_t qh = 0; qh < kHq; ++qh)
          for (size_t i = 0; i < 1000; ++i) {
            double dot = 0;
            for (size_t j = 0; j < kD; ++j)
              dot += double(q(qh, j)) * s.keys(2000 + i, (qh / 2) * kD + j);
            err[aware] += (dot - sc(qh, i)) * (dot - sc(qh, i));
          }
      }
    }
    EXPECT_LT(err[1], bound * err[0]) << spec << ": keys-only " << err[0] << " query-aware " << err[1];
  }
}

TEST(KVCache, BytesPerToken) {
  KVCacheConfig c;  // 8 heads × 128
  c.key_quantizer = "PQ32x8";
  EXPECT_EQ(KVCache(c).bytes_per_token(), 8 * 32.0);
  c.key_quantizer = "PQ64x4";
  EXPECT_EQ(KVCache(c).bytes_per_token(), 8 * 32.0);
  c.key_quantizer = "PQ31x4";  // odd book count: nibble blocks pad one book
  c.head_dim = 124;
  EXPECT_EQ(KVCache(c).bytes_per_token(), 8 * 16.0);
  c.head_dim = 128;
  c.key_quantizer = "SQ2";  // 2-bit codes are stored as nibbles: 64 bytes, not 32
  EXPECT_EQ(KVCache(c).bytes_per_token(), 8 * 64.0);
  c.key_quantizer = "SQ4";
  c.value_quantizer = "RVQ2x10";  // 16-bit storage per value code
  KVCache v(c, make_memory_cold_store(8 * 128));
  EXPECT_EQ(v.bytes().key_codes, 8 * 64.0);
  EXPECT_EQ(v.bytes().value_codes, 8 * 4.0);
  EXPECT_EQ(v.bytes().cold, 8 * 128 * 8.0);
  c.rope = RopeMode::kPreRope;  // a split code stores both quantizers' codes
  c.key_quantizer = "RVQ2x8";
  c.key_residual_quantizer = "RVQ14x8";
  EXPECT_EQ(KVCache(c).bytes().key_codes, 8 * 16.0);
}

TEST(KVCache, RejectsBadInput) {
  const auto s = testdata::kv_sample(600, kH, kHq, kD, 19, true);
  EXPECT_THROW(KVCache(config("PQ7x8")), Error);      // 64 not divisible by 7
  EXPECT_THROW(KVCache(config("RVQ2x10")), Error);    // 10-bit key books
  EXPECT_THROW(KVCache(config("SQ4g32")), Error);     // no lookup tables
  EXPECT_THROW(KVCache(config("XYZ")), Error);
  KVCacheConfig bad = config("PQ16x8");
  bad.page_tokens = 100;
  EXPECT_THROW(KVCache{bad}, Error);
  bad = config("PQ16x8");
  bad.rope = RopeMode::kPreRope;
  bad.rope_window = 100;
  EXPECT_THROW(KVCache{bad}, Error);
  EXPECT_THROW(KVCache(config("PQ16x8"), make_memory_cold_store(7)), Error);
  bad = config("RVQ2x8");
  bad.key_residual_quantizer = "RVQ14x8";
  EXPECT_THROW(KVCache{bad}, Error);  // a split code needs pre-RoPE keys
  bad.rope = RopeMode::kPreRope;
  bad.key_residual_quantizer = "RVQ2x10";
  EXPECT_THROW(KVCache{bad}, Error);  // 10-bit residual books
  bad.key_residual_quantizer = "SQ4g32";
  EXPECT_THROW(KVCache{bad}, Error);  // no lookup tables

  KVCache cache(config("PQ16x8"), make_memory_cold_store(kH * kD));
  EXPECT_THROW(cache.append(rows(s.keys, 0, 4), rows(s.values, 0, 4)), Error);  // not fitted
  EXPECT_THROW(cache.scores(query_of(s, 0)), Error);
  Matrix q3(600, 3 * kD);  // 3 query heads for 2 KV heads
  EXPECT_THROW(cache.fit(s.keys, q3), Error);
  EXPECT_THROW(cache.fit(s.keys.view().rows_slice(0, 500), s.queries), Error);
  cache.fit(s.keys, s.queries);
  EXPECT_EQ(cache.q_heads(), kHq);
  EXPECT_THROW(cache.append(s.keys.view().rows_slice(0, 4).cols_slice(0, kD), rows(s.values, 0, 4)),
               Error);
  EXPECT_THROW(cache.append(rows(s.keys, 0, 4), rows(s.values, 0, 3)), Error);
  Matrix nan = s.keys;
  nan(2, 5) = std::nanf("");
  EXPECT_THROW(cache.append(rows(nan, 0, 4), rows(s.values, 0, 4)), Error);
  EXPECT_EQ(cache.size(), 0u);  // nothing stored by a rejected append
  cache.append(rows(s.keys, 0, 4), rows(s.values, 0, 4));
  EXPECT_THROW(cache.fit(s.keys, s.queries), Error);  // refit after appending
  Matrix q_wrong(kH, kD);
  EXPECT_THROW(cache.scores(q_wrong), Error);
  EXPECT_THROW(cache.topk(query_of(s, 1), 0), Error);
  EXPECT_THROW(cache.attend(query_of(s, 1), 0, 0, 0), Error);
  EXPECT_THROW(cache.decoded_keys(kH), Error);
  EXPECT_EQ(cache.topk(query_of(s, 1), 10).size(), kHq * 4);  // k clipped to size()
}

TEST(KVCache, ConcurrentReadersDuringAppend) {
  // One writer appends ragged batches while readers score, rank and attend. Every reader
  // result must be the exact prefix of the final cache's result for the size it saw.
  const auto s = testdata::kv_sample(1500, kH, kHq, kD, 20, true);
  const KVCacheConfig c = config("PQ16x4");
  auto ref = fitted(c, s);
  const size_t n = 1200;
  ref->append(rows(s.keys, 0, n), rows(s.values, 0, n));
  const Matrix q = query_of(s, 1400);
  const Matrix full = ref->scores(q);

  auto cache = fitted(c, s);
  std::atomic<bool> done{false};
  std::atomic<size_t> checks{0}, failures{0};
  auto reader = [&] {
    while (!done.load()) {
      const Matrix sc = cache->scores(q);
      const size_t m = sc.cols();
      for (size_t qh = 0; qh < kHq; ++qh)
        if (!std::equal(sc.row_ptr(qh), sc.row_ptr(qh) + m, full.row_ptr(qh))) ++failures;
      const std::vector<idx_t> top = cache->topk(q, 8);
      for (idx_t id : top)
        if (id < 0 || size_t(id) >= cache->size()) ++failures;
      if (cache->size() > 0) {
        const Matrix out = cache->attend(q, 8, 2, 8);
        for (float v : out.storage())
          if (!std::isfinite(v)) ++failures;
      }
      ++checks;
    }
  };
  std::thread r1(reader), r2(reader);
  for (size_t t = 0; t < n;) {
    const size_t m = std::min(n - t, 1 + (t * 7) % 45);
    cache->append(rows(s.keys, t, m), rows(s.values, t, m));
    t += m;
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(checks.load(), 0u);
  EXPECT_EQ(cache->scores(q).storage(), full.storage());
}

}  // namespace
}  // namespace vq::kv

namespace vq::kv {
namespace {

TEST(Rope, StylesAreThePairingsTheyName) {
  // Interleaved pairs (2j, 2j+1) equal rotate-half pairs (j, j + d/2) after a permutation;
  // rotations compose and invert.
  const size_t d = 8;
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8}, half(d), inter(d);
  for (size_t j = 0; j < d / 2; ++j) {
    half[j] = x[2 * j];
    half[j + d / 2] = x[2 * j + 1];
  }
  inter = x;
  apply_rope(half.data(), d, 37.0, 10000.0, RopeStyle::kHalf);
  apply_rope(inter.data(), d, 37.0, 10000.0, RopeStyle::kInterleaved);
  for (size_t j = 0; j < d / 2; ++j) {
    EXPECT_FLOAT_EQ(inter[2 * j], half[j]);
    EXPECT_FLOAT_EQ(inter[2 * j + 1], half[j + d / 2]);
  }
  apply_rope(inter.data(), d, -17.0, 10000.0, RopeStyle::kInterleaved);
  apply_rope(inter.data(), d, -20.0, 10000.0, RopeStyle::kInterleaved);
  for (size_t j = 0; j < d; ++j) EXPECT_NEAR(inter[j], x[j], 1e-5);
  // Pair 0 turns by exactly pos radians.
  std::vector<float> e = {1, 0, 0, 0, 0, 0, 0, 0};
  apply_rope(e.data(), d, 0.5, 10000.0, RopeStyle::kInterleaved);
  EXPECT_NEAR(e[0], std::cos(0.5), 1e-6);
  EXPECT_NEAR(e[1], std::sin(0.5), 1e-6);
  EXPECT_THROW(apply_rope(e.data(), 7, 1.0), Error);
}

}  // namespace
}  // namespace vq::kv
