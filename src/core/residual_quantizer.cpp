#include "vq/core/residual_quantizer.h"

#include <algorithm>

#include "core/residual_beam.h"
#include "kernels/distances.h"
#include "vq/core/kmeans.h"
#include "vq/core/rng.h"
#include "util/parallel.h"

namespace vq {

namespace {
// Clusters of weight <= this fraction of the mean are re-seeded inside k-means (see train()).
// Measured on clustered d = 128, n = 20000, RVQ8x8 greedy: 1/32 and 1/16 gave the same MSE
// (3.79), 1/8 slightly more; 1/32 is the milder choice.
constexpr double kMinClusterFraction = 1.0 / 32;
// Level l > 0 trains on the residual of each vector's best encoding so far and of every other
// beam entry whose error is within a factor of the best: kBeamErrorRatio, or
// kBeamErrorRatioFewRows below kFewRowsPerEntry training rows per book entry. All entries
// (FAISS's choice) give the most rows, but on clustered data the far entries (a wrong cluster's
// centroid) pull centroids out of the bulk: with progressive k-means, RVQ4x7 beam 4 on 2,000
// clustered rows, d = 32, held-out MSE 3.22 at 1.5, 3.27 at 3, 3.42 with all entries, 3.35
// with the best alone. Held out against FAISS's (RVQ8x8 beam 4, manifold d = 128, trained on
// 10 / 40 / 100 / 200 / 1,000 rows per entry), MSE / FAISS's was 1.016 / 1.003 / 0.9995 /
// 0.998 / 0.998 at 1.5 and 0.997 / 1.0004 / 1.001 / 1.002 / 1.001 at 3: scarce rows gain more
// from extra residuals than they lose to far ones. The training set's own error rises a little
// (AQ2x8d8 weights, whose codes fit the set they came from: 7 % before the codebook update), so
// the additive quantizer turns this off.
constexpr float kBeamErrorRatio = 1.5f;
constexpr float kBeamErrorRatioFewRows = 3.f;
constexpr size_t kFewRowsPerEntry = 64;

size_t checked_positive(size_t v, const char* what) {
  VQ_CHECK(v >= 1, "RVQ: ", what, " must be >= 1, got ", v);
  return v;
}
}  // namespace

ResidualQuantizer::ResidualQuantizer(size_t dim, size_t levels, uint8_t bits, size_t beam)
    : CodebookQuantizer(dim, std::vector<uint8_t>(checked_positive(levels, "levels"), bits)),
      levels_(levels),
      bits_(bits),
      beam_(checked_positive(beam, "beam width")) {}

std::string ResidualQuantizer::describe() const {
  const std::string base = detail::concat("RVQ", levels_, "x", int(bits_));
  return beam_ == 1 ? base : detail::concat(base, "b", beam_);
}

void ResidualQuantizer::train(MatrixView<const float> x, const TrainOptions& options) {
  const size_t global_n = check_train_input(x, options);
  const Communicator& comm = options.comm ? *options.comm : self_communicator();
  const size_t n = x.rows();
  const size_t d = dim();
  const size_t k = size_t{1} << bits_;
  VQ_CHECK(global_n >= k, describe(), "::train: a codebook of ", k, " entries needs at least ", k,
           " training vectors, got ", global_n);
  const Metric& metric = options.metric;
  const size_t r = metric.whitened_dim(d);

  // Original-space residual of each vector's best encoding so far: what level l's k-means sees.
  // k-means under the metric assigns in the whitened space but averages in this one, so nothing
  // has to be mapped back through the (possibly singular) whitening.
  Matrix residual(n, d);
  for (size_t i = 0; i < n; ++i) std::copy(x.row_ptr(i), x.row_ptr(i) + d, residual.row_ptr(i));

  // The beam state of the whole training set is kept as codes only (n × beam × L): storing the
  // residuals too would take n·beam·r floats (800 MB for 100k × 128 at beam 16), while
  // rebuilding them per batch costs l·r per beam, small next to the K·r of the search.
  std::vector<uint16_t> state(n * beam_ * levels_, 0);
  std::vector<float> state_error(n * beam_, 0.f);  // each beam entry's (whitened) squared error
  size_t width = 1;  // beams per vector so far: min(beam, K^l)
  std::vector<Codebook> books;
  std::vector<detail::WhitenedBook> wbooks;
  const size_t batch = detail::beam_batch_size(beam_);
  std::vector<double> batch_error((n + batch - 1) / batch);

  for (size_t l = 0; l < levels_; ++l) {
    KMeansOptions km;
    km.k = k;
    km.iterations = options.iterations;
    km.seed = options.seed + l;
    km.threads = options.threads;
    km.max_points_per_centroid = options.max_points_per_centroid;
    km.metric = metric;
    // Residuals after level 0 are noise-like: a seed drawn far from the bulk (k-means++ favours
    // such points, random seeding hits them too) is nearer to itself than any other point is,
    // so Lloyd leaves it a singleton. With empty-cluster repair alone about half of every
    // residual level's 256 entries ended as singletons (clustered d = 128: RVQ8x8 MSE 4.36 vs
    // FAISS's 3.97; FAISS escapes it by accident from level 2 on: its fixed seed picks the same
    // rows at every level, last level's singletons are now exact zeros, duplicate seeds, empty
    // clusters, split). Re-seeding small clusters too fixes it at the source (MSE 3.79).
    km.min_cluster_fraction = kMinClusterFraction;
    // k-means++ still helps level 0 (the data's own clusters: 1.5% lower MSE at 8 levels); on
    // the residual levels both seedings give the same MSE once singletons are re-seeded.
    km.init = l == 0 ? default_init(k) : KMeansInit::kRandom;
    km.progress = options.progress;
    km.comm = options.comm;
    // Level l > 0 learns from the residuals of the beam entries near each vector's best
    // (kBeamErrorRatio), which the beam search will meet when encoding: more rows, so it
    // generalises better from small training sets. Sampled down to what k-means would keep.
    Matrix beam_residuals;
    std::vector<float> beam_weights;
    const bool near_beams = train_for_held_out_ && width > 1;
    if (near_beams) {
      const float ratio = global_n < kFewRowsPerEntry * k ? kBeamErrorRatioFewRows : kBeamErrorRatio;
      // (row, beam entry) pairs whose error is within `ratio` of the row's best.
      std::vector<size_t> pairs;
      for (size_t i = 0; i < n; ++i) {
        const float best = state_error[i * beam_];
        for (size_t b = 0; b < width; ++b)
          if (b == 0 || state_error[i * beam_ + b] <= ratio * best) pairs.push_back(i * width + b);
      }
      // Drawn from the pairs' global positions (all ranks' pairs in rank order), so that every
      // rank count keeps the same ones; this rank keeps its part.
      const RowRange all = global_rows(comm, pairs.size());
      const size_t cap = options.max_points_per_centroid > 0 ? std::min(all.total, options.max_points_per_centroid * k)
                                                             : all.total;
      const std::vector<size_t> sample = sample_without_replacement(all.total, cap, options.seed ^ (0x5eedULL + l));
      const auto first = std::lower_bound(sample.begin(), sample.end(), all.offset);
      const auto last = std::lower_bound(first, sample.end(), all.offset + pairs.size());
      std::vector<size_t> picked;
      for (auto it = first; it != last; ++it) picked.push_back(*it - all.offset);
      beam_residuals = Matrix(picked.size(), d);
      if (!options.weights.empty()) beam_weights.resize(picked.size());
      for (size_t p = 0; p < picked.size(); ++p) {
        const size_t i = pairs[picked[p]] / width, b = pairs[picked[p]] % width;
        const uint16_t* sc = state.data() + (i * beam_ + b) * levels_;
        float* res = beam_residuals.row_ptr(p);
        std::copy(x.row_ptr(i), x.row_ptr(i) + d, res);
        for (size_t j = 0; j < l; ++j) {
          const float* e = books[j].entry(sc[j]);
          for (size_t c = 0; c < d; ++c) res[c] -= e[c];
        }
        if (!options.weights.empty()) beam_weights[p] = options.weights[i];
      }
    }
    km.weights = near_beams ? Span<const float>(beam_weights) : options.weights;
    const MatrixView<const float> level_x = near_beams ? beam_residuals.view() : residual.view();
    // The residual levels cluster progressively in their leading principal dimensions (see
    // kmeans_progressive): on noise-like residuals with few rows per entry, plain k-means fits
    // the noise (RVQ8x8 beam 4 trained on 10 rows per entry: held-out MSE 1.16× FAISS's with
    // plain k-means, 0.997× with this; on 100–200 rows 0.9995–0.998× against 1.002–1.004×).
    // Each of its steps takes half the iterations: the same error as full ones, in half the time.
    const bool progressive = train_for_held_out_ && l > 0 && metric.is_identity();
    if (progressive) km.iterations = std::max(1, options.iterations / 2);
    KMeansResult result = progressive ? kmeans_progressive(level_x, km) : kmeans(level_x, km);
    books.push_back(Codebook{0, d, bits_, std::move(result.centroids)});
    wbooks.push_back(std::move(detail::whiten_books({&books.back(), 1}, metric)[0]));

    detail::for_each_batch(n, batch, options.threads, [&](size_t begin, size_t count) {
      const Matrix xw = detail::whiten_rows(x, begin, count, metric);
      detail::BeamBatch cur, next;
      cur.resize(count, width, levels_, r);
      for (size_t i = 0; i < count; ++i)
        for (size_t b = 0; b < width; ++b) {
          const uint16_t* sc = state.data() + ((begin + i) * beam_ + b) * levels_;
          std::copy(sc, sc + levels_, cur.code(i, b));
          float* res = cur.residual(i, b);
          std::copy(xw.row_ptr(i), xw.row_ptr(i) + r, res);
          for (size_t j = 0; j < l; ++j) {
            const float* e = wbooks[j].entries.row_ptr(sc[j]);
            for (size_t c = 0; c < r; ++c) res[c] -= e[c];
          }
        }
      detail::beam_step(cur, wbooks[l], l, beam_, next);
      double err = 0;
      for (size_t i = 0; i < count; ++i) {
        for (size_t b = 0; b < next.width; ++b) {
          const uint16_t* nc = next.code(i, b);
          std::copy(nc, nc + levels_, state.data() + ((begin + i) * beam_ + b) * levels_);
          state_error[(begin + i) * beam_ + b] = next.errors[i * next.width + b];
        }
        const uint16_t* best = next.code(i, 0);
        float* res = residual.row_ptr(begin + i);
        std::copy(x.row_ptr(begin + i), x.row_ptr(begin + i) + d, res);
        for (size_t j = 0; j <= l; ++j) {
          const float* e = books[j].entry(best[j]);
          for (size_t c = 0; c < d; ++c) res[c] -= e[c];
        }
        const double w = options.weights.empty() ? 1.0 : options.weights[begin + i];
        err += w * next.errors[i * next.width];
      }
      batch_error[begin / batch] = err;
    });
    width = std::min(beam_, width * k);

    // The level's error over all ranks (reduced whether or not this rank reports progress: a
    // collective must not depend on a rank's own options).
    std::vector<double> sums(2, 0.0);  // error, weight
    for (double e : batch_error) sums[0] += e;
    if (options.weights.empty())
      sums[1] = static_cast<double>(n);
    else
      for (float w : options.weights) sums[1] += w;
    comm.allreduce_sum(sums);
    if (options.progress)
      options.progress({detail::concat("rvq level ", l + 1, "/", levels_), l + 1, levels_, sums[0] / sums[1],
                        result.usage.perplexity});
  }
  set_books(std::move(books), metric);
}

Codes ResidualQuantizer::encode(MatrixView<const float> x) const { return encode(x, beam_); }

Codes ResidualQuantizer::encode(MatrixView<const float> x, size_t beam) const {
  check_input(x, "encode");
  VQ_CHECK(beam >= 1, describe(), "::encode: beam width must be >= 1");
  Codes codes(x.rows(), book_bits());
  const auto wbooks = detail::whiten_books(books(), metric());
  detail::residual_encode(x, wbooks, metric(), beam, {codes.data.data(), codes.n, levels_}, 0);
  return codes;
}

}  // namespace vq
