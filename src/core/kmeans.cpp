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

// The training set actually used: this rank's (subsampled) rows, their weights, their whitened
// images, and where they sit in the global training set.
struct TrainSet {
  Matrix x;                  // n × d, original space (copied only when subsampled)
  MatrixView<const float> view;
  std::vector<float> w;      // n weights (all 1 when the caller gave none)
  Matrix xw_storage;         // whitened rows when the metric is not the identity
  MatrixView<const float> xw;
  RowRange range;            // global position of row 0, and the global row count
};

}  // namespace

RowRange detail::check_kmeans_input(MatrixView<const float> x, const KMeansOptions& o, int threads) {
  const Communicator& comm = communicator(o);
  const size_t n = x.rows(), d = x.cols();
  // Messages name global rows: under several ranks, this rank's first row is row `first`.
  const size_t first = comm.size() > 1 ? global_rows(comm, n).offset : 0;
  std::string error;
  double weight = 0.0;
  try {
    // A rank may hold no rows of a distributed set, but it still names the dimension.
    VQ_CHECK((n > 0 || comm.size() > 1) && d > 0, "kmeans: empty training set (", n, "×", d, ")");
    VQ_CHECK(o.k > 0, "kmeans: k must be > 0");
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
    VQ_CHECK(bad_row < 0, "kmeans: training vector ", first + size_t(bad_row), " has a non-finite value");
    check_squared_norms(x, "kmeans", first);
    if (!o.initial_centroids.empty()) {
      const MatrixView<const float> c = o.initial_centroids;
      VQ_CHECK(c.rows() == o.k && c.cols() == d, "kmeans: initial centroids are ", c.rows(), "×", c.cols(),
               ", expected ", o.k, "×", d);
      for (size_t e = 0; e < c.rows(); ++e)
        for (size_t j = 0; j < d; ++j)
          VQ_CHECK(std::isfinite(c(e, j)), "kmeans: initial centroid ", e, " has a non-finite value");
    }
    if (o.weights.empty()) {
      weight = static_cast<double>(n);
    } else {
      VQ_CHECK(o.weights.size() == n, "kmeans: ", o.weights.size(), " weights for ", n, " vectors");
      for (size_t i = 0; i < n; ++i) {
        VQ_CHECK(std::isfinite(o.weights[i]) && o.weights[i] >= 0.f, "kmeans: weight ", first + i, " = ", o.weights[i],
                 " must be finite and >= 0");
        weight += o.weights[i];
      }
    }
  } catch (const Error& e) {
    error = e.what();
  }
  throw_if_any_failed(comm, error);
  // Rows, weight and dimension over all ranks, in one reduction: [n_0 .. n_{R-1}, weight, d, d²].
  const size_t ranks = static_cast<size_t>(comm.size());
  std::vector<double> totals(ranks + 3, 0.0);
  totals[static_cast<size_t>(comm.rank())] = static_cast<double>(n);
  totals[ranks] = weight;
  totals[ranks + 1] = static_cast<double>(d);
  totals[ranks + 2] = static_cast<double>(d) * static_cast<double>(d);
  comm.allreduce_sum(totals);
  RowRange range;
  for (size_t r = 0; r < ranks; ++r) {
    if (r < static_cast<size_t>(comm.rank())) range.offset += static_cast<size_t>(totals[r]);
    range.total += static_cast<size_t>(totals[r]);
  }
  // Σd² · R == (Σd)² only when every rank has the same d.
  VQ_CHECK(totals[ranks + 2] * double(ranks) == totals[ranks + 1] * totals[ranks + 1],
           "kmeans: the ranks' training rows differ in dimension (this rank: ", d, ")");
  VQ_CHECK(range.total > 0, "kmeans: empty training set on every rank");
  VQ_CHECK(o.k <= range.total, "kmeans: k = ", o.k, " > number of training points ", range.total);
  VQ_CHECK(totals[ranks] > 0.0, "kmeans: all weights are zero");
  return range;
}

detail::Subsample detail::kmeans_subsample(const RowRange& input, size_t local_rows, const KMeansOptions& o) {
  Subsample s;
  const size_t cap = o.max_points_per_centroid ? o.k * o.max_points_per_centroid : input.total;
  if (input.total <= cap) {
    s.kept = input;
    return s;
  }
  // Drawn from global positions, sorted: every rank draws the same list and keeps its part.
  const std::vector<size_t> global = sample_without_replacement(input.total, cap, o.seed ^ kSubsampleStream);
  s.all = false;
  s.local = local_positions(global, input.offset, local_rows);
  s.kept = {static_cast<size_t>(std::lower_bound(global.begin(), global.end(), input.offset) - global.begin()), cap};
  return s;
}

std::vector<size_t> detail::local_positions(Span<const size_t> picked, size_t offset, size_t local_rows) {
  const auto first = std::lower_bound(picked.begin(), picked.end(), offset);
  const auto last = std::lower_bound(first, picked.end(), offset + local_rows);
  std::vector<size_t> local;
  local.reserve(static_cast<size_t>(last - first));
  for (auto it = first; it != last; ++it) local.push_back(*it - offset);
  return local;
}

detail::GatheredRows detail::allgather_rows(const Communicator& comm, MatrixView<const float> x,
                                            Span<const float> weights, Span<const size_t> rows) {
  // One record per row: its weight, then its d floats.
  const size_t d = x.cols(), record = (d + 1) * sizeof(float);
  std::vector<uint8_t> mine(rows.size() * record);
  for (size_t p = 0; p < rows.size(); ++p) {
    const float w = weights.empty() ? 1.f : weights[rows[p]];
    std::memcpy(mine.data() + p * record, &w, sizeof(float));
    std::memcpy(mine.data() + p * record + sizeof(float), x.row_ptr(rows[p]), d * sizeof(float));
  }
  const std::vector<uint8_t> all = comm.allgather(mine);
  GatheredRows g;
  const size_t m = all.size() / record;
  g.x = Matrix(m, d);
  g.w.resize(m);
  for (size_t i = 0; i < m; ++i) {
    std::memcpy(&g.w[i], all.data() + i * record, sizeof(float));
    std::memcpy(g.x.row_ptr(i), all.data() + i * record + sizeof(float), d * sizeof(float));
  }
  return g;
}

namespace {

TrainSet make_train_set(MatrixView<const float> x, const KMeansOptions& o, const RowRange& input) {
  TrainSet t;
  const size_t n = x.rows(), d = x.cols();
  const detail::Subsample kept = detail::kmeans_subsample(input, n, o);
  t.range = kept.kept;
  if (!kept.all) {
    const size_t m = kept.local.size();
    t.x = Matrix(m, d);
    t.w.resize(m);
    for (size_t i = 0; i < m; ++i) {
      std::memcpy(t.x.row_ptr(i), x.row_ptr(kept.local[i]), d * sizeof(float));
      t.w[i] = o.weights.empty() ? 1.f : o.weights[kept.local[i]];
    }
    t.view = MatrixView<const float>(t.x.data(), m, d, d);
  } else {
    t.view = x;
    t.w = o.weights.empty() ? std::vector<float>(n, 1.f) : std::vector<float>(o.weights.begin(), o.weights.end());
  }
  if (o.metric.is_identity() || t.view.rows() == 0) {
    t.xw = t.view;
  } else {
    t.xw_storage = o.metric.whiten(t.view);
    t.xw = t.xw_storage.view();
    // Whitening by H scales norms by up to its largest eigenvalue.
    check_squared_norms(t.xw, "kmeans (under the metric)");
  }
  return t;
}

// The rows of the global training set picked by `choose` from the pool of rows that
// `eligible` admits: every rank lists its eligible rows, the pool is their concatenation in
// rank order, `choose(pool size)` returns sorted pool positions (the same on every rank), and
// every rank receives the chosen rows and their weights, in pool order.
template <class Eligible, class Choose>
detail::GatheredRows gather_pool(const Communicator& comm, const TrainSet& t, Eligible eligible, Choose choose) {
  std::vector<size_t> local;
  for (size_t i = 0; i < t.w.size(); ++i)
    if (eligible(i)) local.push_back(i);
  const RowRange pool = global_rows(comm, local.size());
  std::vector<size_t> mine = detail::local_positions(choose(pool.total), pool.offset, local.size());
  for (size_t& i : mine) i = local[i];
  return detail::allgather_rows(comm, t.view, t.w, mine);
}

// Index i with cum[i-1] <= u < cum[i], skipping zero-weight entries (u in [0, cum.back())).
size_t pick(const std::vector<double>& cum, double u) {
  const size_t i = std::upper_bound(cum.begin(), cum.end(), u) - cum.begin();
  return std::min(i, cum.size() - 1);
}

// Weighted k-means++ (P(x) ∝ w·D²(x)) in the whitened space, on a subsample of the rows of
// positive weight when the set is large. The pool stays split over the ranks: each step every
// rank updates the distances of its own pool rows, the ranks' sums are reduced, the shared
// random number picks a rank and a row in it, and that rank broadcasts the row. One process is
// the case of one rank. Returns k centroids, the same on every rank.
Matrix init_plus_plus(const Communicator& comm, const TrainSet& t, const Metric& metric, size_t k, uint64_t seed) {
  const size_t d = t.view.cols();
  const size_t ranks = static_cast<size_t>(comm.size()), me = static_cast<size_t>(comm.rank());
  // This rank's pool rows: only rows of positive weight can be drawn, so the pool is drawn from
  // them alone (rows of weight 0 then change nothing, not even which rows the subsample keeps).
  std::vector<size_t> eligible;
  for (size_t i = 0; i < t.w.size(); ++i)
    if (t.w[i] > 0.f) eligible.push_back(i);
  const RowRange range = global_rows(comm, eligible.size());
  const size_t cap = k * kPlusPlusPointsPerCentroid;
  std::vector<size_t> rows;  // local training rows in this rank's part of the pool
  if (range.total <= cap) {
    rows = eligible;
  } else {
    rows = detail::local_positions(sample_without_replacement(range.total, cap, seed ^ kSubsampleStream), range.offset,
                                   eligible.size());
    for (size_t& r : rows) r = eligible[r];
  }
  const size_t m = rows.size();
  Matrix pool(m, d);
  std::vector<float> w(m);
  for (size_t i = 0; i < m; ++i) {
    std::memcpy(pool.row_ptr(i), t.view.row_ptr(rows[i]), d * sizeof(float));
    w[i] = t.w[rows[i]];
  }
  Matrix whitened;
  if (!metric.is_identity() && m > 0) whitened = metric.whiten(pool.view());
  const MatrixView<const float> xw = metric.is_identity() || m == 0 ? pool.view() : whitened.view();
  const size_t r = metric.is_identity() ? d : metric.whitened_dim(d);
  // Every rank's pool size, for the draws that index the whole pool.
  std::vector<double> sizes(ranks, 0.0);
  sizes[me] = static_cast<double>(m);
  comm.allreduce_sum(sizes);

  Rng rng(seed ^ kInitStream);
  std::vector<double> cum(m), shares(ranks);
  std::vector<float> d2(m, std::numeric_limits<float>::infinity());
  std::vector<double> chosen(d + r);  // the chosen row, original then whitened
  Matrix centroids(k, d);
  // The rank whose part of the cumulated `per_rank` totals holds u, and u within that part.
  // Parts of size 0 are never chosen; rounding past the end lands in the last non-empty part.
  const auto locate = [&](const std::vector<double>& per_rank, double u) {
    size_t last = ranks;
    for (size_t q = 0; q < ranks; ++q) {
      if (per_rank[q] <= 0.0) continue;
      if (u < per_rank[q]) return std::pair<size_t, double>{q, u};
      u -= per_rank[q];
      last = q;
    }
    return std::pair<size_t, double>{last, per_rank[last]};
  };
  // Rank `owner` publishes its pool row `i` as centroid c.
  const auto publish = [&](size_t owner, size_t i, size_t c) {
    std::fill(chosen.begin(), chosen.end(), 0.0);
    if (owner == me) {
      for (size_t j = 0; j < d; ++j) chosen[j] = pool(i, j);
      for (size_t j = 0; j < r; ++j) chosen[d + j] = xw(i, j);
    }
    if (ranks > 1) comm.allreduce_sum(chosen);  // x + 0 + ... + 0: exact
    for (size_t j = 0; j < d; ++j) centroids(c, j) = static_cast<float>(chosen[j]);
  };
  // The first seed: weight alone; later seeds: weight · D², from the ranks' sums.
  double acc = 0.0;
  for (size_t i = 0; i < m; ++i) cum[i] = acc += w[i];
  std::vector<float> c(r);
  for (size_t s = 0; s < k; ++s) {
    std::fill(shares.begin(), shares.end(), 0.0);
    shares[me] = acc;
    if (ranks > 1) comm.allreduce_sum(shares);  // one non-zero term per slot: exact
    double total = 0.0;
    for (double v : shares) total += v;
    if (total > 0.0) {
      const auto [owner, u] = locate(shares, rng.uniform() * total);
      publish(owner, owner == me ? pick(cum, u) : 0, s);
    } else {
      // Fewer distinct weighted points than k: duplicates; empty-cluster splitting handles them.
      const auto [owner, u] = locate(sizes, static_cast<double>(rng.below(range.total <= cap ? range.total : cap)));
      publish(owner, static_cast<size_t>(u), s);
    }
    if (s + 1 == k) break;
    for (size_t j = 0; j < r; ++j) c[j] = static_cast<float>(chosen[d + j]);
    // Serial on purpose: one step is only m·d ≈ 10⁶ FMAs, and k parallel regions of that size
    // spent more in barriers than in work (seconds in total on a loaded 2-core machine).
    for (size_t i = 0; i < m; ++i) d2[i] = std::min(d2[i], kernels::l2sqr(xw.row_ptr(i), c.data(), r));
    acc = 0.0;
    for (size_t i = 0; i < m; ++i) cum[i] = acc += double(w[i]) * d2[i];
  }
  return centroids;
}

// k distinct training rows, preferring rows of positive weight.
Matrix init_random(const Communicator& comm, const TrainSet& t, size_t k, uint64_t seed) {
  const auto choose = [&](size_t total) { return sample_without_replacement(total, k, seed ^ kInitStream); };
  detail::GatheredRows pool = gather_pool(comm, t, [&](size_t i) { return t.w[i] > 0.f; }, [&](size_t total) {
    return total < k ? std::vector<size_t>{} : choose(total);
  });
  if (pool.x.rows() < k) pool = gather_pool(comm, t, [](size_t) { return true; }, choose);
  return std::move(pool.x);
}

struct Assignment {
  std::vector<int32_t> labels;
  std::vector<float> dist;
  double error = 0.0;   // Σ w·dist over this rank's rows
  double weight = 0.0;  // Σ w over this rank's rows
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
  a.error = a.weight = 0.0;
  for (size_t b = 0; b < blocks; ++b) a.error += part[b], a.weight += wpart[b];
}

// What one Lloyd iteration reduces over ranks, in one buffer: per-centroid weighted sums (k × d)
// and weights (k), label counts (k), and the error and weight of the assignment.
struct Totals {
  size_t k, d;
  std::vector<double> values;
  Totals(size_t k_, size_t d_) : k(k_), d(d_), values(k_ * d_ + 2 * k_ + 2, 0.0) {}
  double* sums() { return values.data(); }
  double* mass() { return values.data() + k * d; }
  double* counts() { return values.data() + k * d + k; }
  double& error() { return values[k * d + 2 * k]; }
  double& weight() { return values[k * d + 2 * k + 1]; }
  std::vector<uint64_t> label_counts() {
    std::vector<uint64_t> c(k);
    for (size_t e = 0; e < k; ++e) c[e] = static_cast<uint64_t>(counts()[e]);
    return c;
  }
};

// This rank's share of the next centroids: weighted sums in the original space (the H-weighted
// mean is the plain mean). Each thread owns a range of centroids and scans all rows in order,
// so every sum is accumulated in row order whatever the thread count (bitwise reproducible).
// With totals.d == 0 only the counts and the error are taken (the final scoring pass).
void accumulate(const TrainSet& t, const Assignment& a, int threads, Totals& totals) {
  const size_t n = t.view.rows(), d = totals.d, k = totals.k;
  double* sums = totals.sums();
  double* mass = totals.mass();
#pragma omp parallel num_threads(threads) if (d > 0)
  if (d > 0) {
    const size_t nt = omp_get_num_threads(), id = omp_get_thread_num();
    const size_t c_begin = k * id / nt, c_end = k * (id + 1) / nt;
    for (size_t i = 0; i < n; ++i) {
      const size_t c = a.labels[i];
      if (c < c_begin || c >= c_end || t.w[i] == 0.f) continue;
      const double w = t.w[i];
      double* s = sums + c * d;
      const float* xi = t.view.row_ptr(i);
      for (size_t j = 0; j < d; ++j) s[j] += w * xi[j];
      mass[c] += w;
    }
  }
  for (int32_t l : a.labels) totals.counts()[static_cast<size_t>(l)] += 1.0;  // nearest() always labels
  totals.error() = a.error;
  totals.weight() = a.weight;
}

// New centroids from the reduced sums; centroids of no weight stay (split_empty re-seeds them).
// Returns per-centroid weight.
std::vector<double> update_centroids(Totals& totals, Matrix& centroids) {
  const size_t k = totals.k, d = totals.d;
  const double* sums = totals.sums();
  std::vector<double> mass(totals.mass(), totals.mass() + k);
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
  const Communicator& comm = detail::communicator(options);
  const RowRange input = detail::check_kmeans_input(x, options, threads);
  const size_t k = options.k, d = x.cols();
  const TrainSet t = make_train_set(x, options, input);

  KMeansResult r;
  r.training_points = t.range.total;
  if (!options.initial_centroids.empty()) {
    r.centroids = Matrix(k, d);
    for (size_t c = 0; c < k; ++c)
      std::memcpy(r.centroids.row_ptr(c), options.initial_centroids.row_ptr(c), d * sizeof(float));
  } else {
    r.centroids = options.init == KMeansInit::kPlusPlus ? init_plus_plus(comm, t, options.metric, k, options.seed)
                                                        : init_random(comm, t, k, options.seed);
  }

  Assignment a;
  for (int it = 0; it < options.iterations; ++it) {
    const auto t0 = Clock::now();
    assign(t, options.metric, r.centroids, threads, a);
    Totals totals(k, d);
    accumulate(t, a, threads, totals);
    comm.allreduce_sum(totals.values);
    std::vector<double> mass = update_centroids(totals, r.centroids);
    KMeansIterationStats s;
    s.iteration = it;
    s.objective = totals.error() / totals.weight();
    s.split_clusters = split_empty(mass, r.centroids, options.min_cluster_fraction);
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.stats.push_back(s);
    if (options.progress) {
      const CodebookUsage u = codebook_usage(totals.label_counts());
      options.progress(ProgressEvent{"kmeans", size_t(it) + 1, size_t(options.iterations), s.objective, u.perplexity});
    }
  }
  // The loop's objectives describe the centroids before each update; one more assignment scores
  // the centroids actually returned.
  assign(t, options.metric, r.centroids, threads, a);
  Totals totals(k, 0);
  accumulate(t, a, threads, totals);
  comm.allreduce_sum(totals.values);
  r.objective = totals.error() / totals.weight();
  r.usage = codebook_usage(totals.label_counts());
  return r;
}

}  // namespace vq
