#include "vq/core/kmeans.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/kmeans_internal.h"
#include "kernels/distances.h"
#include "vq/core/limits.h"
#include "vq/core/rng.h"

namespace vq {

namespace {

// k-means++ runs on at most this many points per centroid: its k sequential passes would
// otherwise cost as much as several Lloyd iterations (k·n·d with no GEMM), while seeding quality
// is already saturated on a few dozen points per cluster.
constexpr size_t kPlusPlusPointsPerCentroid = 32;
// Relative perturbation of a split centroid (FAISS uses the same 1/1024).
constexpr float kSplitEps = 1.f / 1024.f;
// Rows per partial sum of the objective: fixed blocks make the sum independent of threads.
constexpr size_t kSumBlock = 4096;
// Streams of the seed, so subsampling and seeding draw independent numbers.
constexpr uint64_t kSubsampleStream = 0x5u;
constexpr uint64_t kInitStream = 0x1u;

using Clock = std::chrono::steady_clock;

// The training set actually used: (subsampled) rows, their weights, and their whitened images.
struct TrainSet {
  Matrix x;                  // n × d, original space (copied only when subsampled or strided)
  MatrixView<const float> view;
  std::vector<float> w;      // n weights (all 1 when the caller gave none)
  Matrix xw_storage;         // whitened rows when the metric is not the identity
  MatrixView<const float> xw;
};

}  // namespace

void detail::check_kmeans_input(MatrixView<const float> x, const KMeansOptions& o, int threads) {
  const size_t n = x.rows(), d = x.cols();
  VQ_CHECK(n > 0 && d > 0, "kmeans: empty training set (", n, "×", d, ")");
  VQ_CHECK(o.k > 0, "kmeans: k must be > 0");
  VQ_CHECK(o.k <= n, "kmeans: k = ", o.k, " > number of training points ", n);
  VQ_CHECK(o.k <= size_t{1} << 31, "kmeans: k = ", o.k, " is too large");
  VQ_CHECK(o.iterations >= 0, "kmeans: iterations = ", o.iterations, " must be >= 0");
  VQ_CHECK(o.min_cluster_fraction >= 0.0 && o.min_cluster_fraction < 1.0, "kmeans: min_cluster_fraction = ",
           o.min_cluster_fraction, " must be in [0, 1)");
  o.metric.check_dim(d, "kmeans");
  long bad_row = -1;
#pragma omp parallel for num_threads(threads) reduction(max : bad_row)
  for (long i = 0; i < static_cast<long>(n); ++i)
    for (size_t j = 0; j < d; ++j)
      if (!std::isfinite(x(i, j))) bad_row = std::max(bad_row, i);
  VQ_CHECK(bad_row < 0, "kmeans: training vector ", bad_row, " has a non-finite value");
  check_squared_norms(x, "kmeans");
  if (!o.initial_centroids.empty()) {
    const MatrixView<const float> c = o.initial_centroids;
    VQ_CHECK(c.rows() == o.k && c.cols() == d, "kmeans: initial centroids are ", c.rows(), "×", c.cols(), ", expected ",
             o.k, "×", d);
    for (size_t e = 0; e < c.rows(); ++e)
      for (size_t j = 0; j < d; ++j)
        VQ_CHECK(std::isfinite(c(e, j)), "kmeans: initial centroid ", e, " has a non-finite value");
  }
  if (o.weights.empty()) return;
  VQ_CHECK(o.weights.size() == n, "kmeans: ", o.weights.size(), " weights for ", n, " vectors");
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    VQ_CHECK(std::isfinite(o.weights[i]) && o.weights[i] >= 0.f, "kmeans: weight ", i, " = ", o.weights[i],
             " must be finite and >= 0");
    total += o.weights[i];
  }
  VQ_CHECK(total > 0.0, "kmeans: all weights are zero");
}

std::vector<size_t> detail::kmeans_subsample(size_t n, const KMeansOptions& o) {
  const size_t cap = o.max_points_per_centroid ? o.k * o.max_points_per_centroid : n;
  return n > cap ? sample_without_replacement(n, cap, o.seed ^ kSubsampleStream) : std::vector<size_t>{};
}

namespace {

TrainSet make_train_set(MatrixView<const float> x, const KMeansOptions& o) {
  TrainSet t;
  const size_t n = x.rows(), d = x.cols();
  const std::vector<size_t> rows = detail::kmeans_subsample(n, o);
  if (!rows.empty()) {
    const size_t cap = rows.size();
    t.x = Matrix(cap, d);
    t.w.resize(cap);
    for (size_t i = 0; i < cap; ++i) {
      std::memcpy(t.x.row_ptr(i), x.row_ptr(rows[i]), d * sizeof(float));
      t.w[i] = o.weights.empty() ? 1.f : o.weights[rows[i]];
    }
    t.view = t.x.view();
  } else {
    t.view = x;
    t.w = o.weights.empty() ? std::vector<float>(n, 1.f) : std::vector<float>(o.weights.begin(), o.weights.end());
  }
  if (o.metric.is_identity()) {
    t.xw = t.view;
  } else {
    t.xw_storage = o.metric.whiten(t.view);
    t.xw = t.xw_storage.view();
    // Whitening by H scales norms by up to its largest eigenvalue.
    check_squared_norms(t.xw, "kmeans (under the metric)");
  }
  return t;
}

std::vector<size_t> positive_rows(const TrainSet& t) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < t.w.size(); ++i)
    if (t.w[i] > 0.f) rows.push_back(i);
  return rows;
}

// Index i with cum[i-1] <= u < cum[i], skipping zero-weight entries (u in [0, cum.back())).
size_t pick(const std::vector<double>& cum, double u) {
  const size_t i = std::upper_bound(cum.begin(), cum.end(), u) - cum.begin();
  return std::min(i, cum.size() - 1);
}

// Weighted k-means++ (P(x) ∝ w·D²(x)) in the whitened space, on a subsample when the set is
// large. Returns k row indices into the training set.
std::vector<size_t> init_plus_plus(const TrainSet& t, size_t k, uint64_t seed) {
  const size_t d = t.xw.cols();
  // Only rows of positive weight can be drawn, so the pool is drawn from them alone: rows of
  // weight 0 then change nothing, not even which rows the subsample keeps.
  std::vector<size_t> pool = positive_rows(t);
  if (pool.size() > k * kPlusPlusPointsPerCentroid) {
    std::vector<size_t> keep = sample_without_replacement(pool.size(), k * kPlusPlusPointsPerCentroid,
                                                          seed ^ kSubsampleStream);
    for (size_t& r : keep) r = pool[r];
    pool = std::move(keep);
  }
  const size_t m = pool.size();
  Rng rng(seed ^ kInitStream);
  std::vector<double> cum(m);
  std::vector<float> d2(m, std::numeric_limits<float>::infinity());
  std::vector<size_t> chosen;
  chosen.reserve(k);
  double acc = 0.0;
  for (size_t i = 0; i < m; ++i) cum[i] = acc += t.w[pool[i]];
  chosen.push_back(pool[pick(cum, rng.uniform() * acc)]);
  while (chosen.size() < k) {
    const float* c = t.xw.row_ptr(chosen.back());
    // Serial on purpose: one step is only m·d ≈ 10⁶ FMAs, and k parallel regions of that size
    // spent more in barriers than in work (seconds in total on a loaded 2-core machine).
    for (size_t i = 0; i < m; ++i) d2[i] = std::min(d2[i], kernels::l2sqr(t.xw.row_ptr(pool[i]), c, d));
    acc = 0.0;
    for (size_t i = 0; i < m; ++i) cum[i] = acc += double(t.w[pool[i]]) * d2[i];
    if (acc > 0.0) {
      chosen.push_back(pool[pick(cum, rng.uniform() * acc)]);
    } else {
      // Fewer distinct weighted points than k: duplicates; empty-cluster splitting handles them.
      chosen.push_back(pool[rng.below(m)]);
    }
  }
  return chosen;
}

// k distinct training rows, preferring rows of positive weight.
std::vector<size_t> init_random(const TrainSet& t, size_t k, uint64_t seed) {
  const std::vector<size_t> positive = positive_rows(t);
  if (positive.size() < k) return sample_without_replacement(t.w.size(), k, seed ^ kInitStream);
  std::vector<size_t> rows = sample_without_replacement(positive.size(), k, seed ^ kInitStream);
  for (size_t& r : rows) r = positive[r];
  return rows;
}

struct Assignment {
  std::vector<int32_t> labels;
  std::vector<float> dist;
  double objective = 0.0;  // Σ w·dist / Σ w
};

// Up to kernels::kTransposedMaxDim (PQ's sub-vectors) assignment runs
// kernels::nearest_transposed, the register-tiled kernel of PQ encoding, in its ||c||²/2 − x·c
// form, instead of the GEMM path: a GEMM with an inner dimension of 4–16 spends its time writing
// the n × k product tile, not multiplying (PQ16x8 training on 50,000 × 128: BENCHMARKS.md
// "Against FAISS 1.15"). Labels and squared distances of every row of x, in batches over threads.
void nearest_short(MatrixView<const float> x, MatrixView<const float> c, int threads, Assignment& a) {
  const size_t k = c.rows(), d = c.cols();
  size_t padded = 0;
  const std::vector<float> table = kernels::transposed_entries(c, 0.f, padded);
  std::vector<float> c_norms(k), half_norms(padded, std::numeric_limits<float>::infinity());
  kernels::row_norms(c, c_norms);
  for (size_t e = 0; e < k; ++e) half_norms[e] = 0.5f * c_norms[e];
  constexpr size_t kBatch = 1024;
  const auto batches = static_cast<int64_t>((x.rows() + kBatch - 1) / kBatch);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < batches; ++b) {
    const size_t begin = static_cast<size_t>(b) * kBatch, count = std::min(kBatch, x.rows() - begin);
    kernels::nearest_transposed(x.row_ptr(begin), count, x.stride(), table.data(), d, padded,
                                a.labels.data() + begin, a.dist.data() + begin, half_norms.data());
  }
  // A row with no finite score (magnitudes near the float limit) has no label here; the GEMM
  // path always gives one, so those rows take it.
  for (size_t i = 0; i < x.rows(); ++i) {
    if (a.labels[i] >= 0) continue;
    kernels::nearest(x.rows_slice(i, 1), c, c_norms, {&a.labels[i], 1}, {&a.dist[i], 1}, 1);
  }
}

void assign(const TrainSet& t, const Metric& metric, const Matrix& centroids, int threads, Assignment& a) {
  const size_t n = t.xw.rows();
  Matrix cw_storage;
  MatrixView<const float> cw = centroids.view();
  if (!metric.is_identity()) {
    cw_storage = metric.whiten(centroids.view());
    cw = cw_storage.view();
  }
  a.labels.resize(n);
  a.dist.resize(n);
  if (cw.cols() <= kernels::kTransposedMaxDim) {
    nearest_short(t.xw, cw, threads, a);
  } else {
    std::vector<float> c_norms(cw.rows());
    kernels::row_norms(cw, c_norms);
    kernels::nearest(t.xw, cw, c_norms, a.labels, a.dist, threads);
  }
  const size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> part(blocks, 0.0), wpart(blocks, 0.0);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t b = 0; b < blocks; ++b)
    for (size_t i = b * kSumBlock; i < std::min(n, (b + 1) * kSumBlock); ++i) {
      part[b] += double(t.w[i]) * a.dist[i];
      wpart[b] += t.w[i];
    }
  double s = 0.0, ws = 0.0;
  for (size_t b = 0; b < blocks; ++b) s += part[b], ws += wpart[b];
  a.objective = s / ws;
}

std::vector<uint64_t> label_counts(const std::vector<int32_t>& labels, size_t k) {
  std::vector<uint64_t> counts(k, 0);
  for (int32_t l : labels) ++counts[static_cast<size_t>(l)];  // kernels::nearest never returns "no label"
  return counts;
}

// New centroids: weighted means in the original space (the H-weighted mean is the plain mean).
// Each thread owns a range of centroids and scans all rows in order, so every sum is accumulated
// in row order whatever the thread count (bitwise reproducible). Returns per-centroid weight.
std::vector<double> update_centroids(const TrainSet& t, const std::vector<int32_t>& labels, Matrix& centroids,
                                     int threads) {
  const size_t n = t.view.rows(), d = t.view.cols(), k = centroids.rows();
  std::vector<double> sums(k * d, 0.0), mass(k, 0.0);
#pragma omp parallel num_threads(threads)
  {
    const size_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const size_t c_begin = k * id / nt, c_end = k * (id + 1) / nt;
    for (size_t i = 0; i < n; ++i) {
      const size_t c = labels[i];
      if (c < c_begin || c >= c_end || t.w[i] == 0.f) continue;
      const double w = t.w[i];
      double* s = sums.data() + c * d;
      const float* xi = t.view.row_ptr(i);
      for (size_t j = 0; j < d; ++j) s[j] += w * xi[j];
      mass[c] += w;
    }
  }
  for (size_t c = 0; c < k; ++c) {
    if (mass[c] == 0.0) continue;
    for (size_t j = 0; j < d; ++j) centroids(c, j) = static_cast<float>(sums[c * d + j] / mass[c]);
  }
  return mass;
}

// FAISS-style repair of empty clusters (and of those of weight <= min_fraction × the mean): each
// such centroid becomes a copy of the heaviest one, and the pair is pushed apart by a tiny
// symmetric perturbation so the next assignment splits that cluster between them; the points of
// a re-seeded small cluster go to their next nearest centroids. Deterministic: the heaviest
// cluster (ties: lowest index) is split.
size_t split_empty(std::vector<double>& mass, Matrix& centroids, double min_fraction) {
  const size_t k = centroids.rows(), d = centroids.cols();
  double total = 0.0;
  for (double m : mass) total += m;
  const double threshold = min_fraction * total / static_cast<double>(k);
  size_t splits = 0;
  for (size_t e = 0; e < k; ++e) {
    if (mass[e] > threshold) continue;
    const size_t big = std::max_element(mass.begin(), mass.end()) - mass.begin();
    if (mass[big] <= threshold) break;
    float* ce = centroids.row_ptr(e);
    float* cb = centroids.row_ptr(big);
    for (size_t j = 0; j < d; ++j) {
      // Additive term keeps zero coordinates from staying identical.
      const float delta = kSplitEps * (std::abs(cb[j]) + 1e-3f);
      const float sign = (j % 2 == 0) ? 1.f : -1.f;
      ce[j] = cb[j] + sign * delta;
      cb[j] = cb[j] - sign * delta;
    }
    mass[e] = mass[big] / 2;
    mass[big] -= mass[e];
    ++splits;
  }
  return splits;
}

}  // namespace

CodebookUsage codebook_usage(Span<const uint64_t> counts) {
  CodebookUsage u;
  u.counts.assign(counts.begin(), counts.end());
  uint64_t total = 0;
  for (uint64_t c : counts) {
    total += c;
    u.dead += c == 0;
  }
  if (total == 0) return u;
  for (uint64_t c : counts) {
    if (c == 0) continue;
    const double p = double(c) / double(total);
    u.entropy_bits -= p * std::log2(p);
  }
  u.perplexity = std::exp2(u.entropy_bits);
  return u;
}

CodebookUsage codebook_usage(const Codes& codes, size_t book) {
  VQ_CHECK(book < codes.num_books(), "codebook_usage: book ", book, " of ", codes.num_books());
  VQ_CHECK(codes.data.size() == codes.n * codes.num_books(), "codebook_usage: codes has ", codes.data.size(),
           " indices for ", codes.n, " vectors");
  const uint8_t bits = codes.bits[book];
  VQ_CHECK(bits >= 1 && bits <= 16, "codebook_usage: book ", book, " has ", int(bits), " bits");
  std::vector<uint64_t> counts(size_t{1} << bits, 0);
  for (size_t i = 0; i < codes.n; ++i) ++counts[codes(i, book)];
  return codebook_usage(counts);
}

KMeansResult kmeans(MatrixView<const float> x, const KMeansOptions& options) {
  const int threads = options.threads > 0 ? options.threads : omp_get_max_threads();
  detail::check_kmeans_input(x, options, threads);
  const size_t k = options.k, d = x.cols();
  const TrainSet t = make_train_set(x, options);

  KMeansResult r;
  r.training_points = t.view.rows();
  r.centroids = Matrix(k, d);
  if (!options.initial_centroids.empty()) {
    for (size_t c = 0; c < k; ++c)
      std::memcpy(r.centroids.row_ptr(c), options.initial_centroids.row_ptr(c), d * sizeof(float));
  } else {
    const std::vector<size_t> seeds = options.init == KMeansInit::kPlusPlus ? init_plus_plus(t, k, options.seed)
                                                                            : init_random(t, k, options.seed);
    for (size_t c = 0; c < k; ++c) std::memcpy(r.centroids.row_ptr(c), t.view.row_ptr(seeds[c]), d * sizeof(float));
  }

  Assignment a;
  for (int it = 0; it < options.iterations; ++it) {
    const auto t0 = Clock::now();
    assign(t, options.metric, r.centroids, threads, a);
    std::vector<double> mass = update_centroids(t, a.labels, r.centroids, threads);
    KMeansIterationStats s;
    s.iteration = it;
    s.objective = a.objective;
    s.split_clusters = split_empty(mass, r.centroids, options.min_cluster_fraction);
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.stats.push_back(s);
    if (options.progress) {
      const CodebookUsage u = codebook_usage(label_counts(a.labels, k));
      options.progress(ProgressEvent{"kmeans", size_t(it) + 1, size_t(options.iterations), s.objective, u.perplexity});
    }
  }
  // The loop's objectives describe the centroids before each update; one more assignment scores
  // the centroids actually returned.
  assign(t, options.metric, r.centroids, threads, a);
  r.objective = a.objective;
  r.usage = codebook_usage(label_counts(a.labels, k));
  return r;
}

}  // namespace vq
