// Additive codes (AQLM-style) for a weight matrix: per row group, codebooks learned by the core
// AdditiveQuantizer on scaled groups of g input weights; then, alternating, a GPTQ-style sweep
// that encodes every row's g-column block in the whitened space of H (compress.h) and a
// least-squares refit of the books and row scales to those codes under H.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vq/core/additive_quantizer.h"
#include "vq/core/kmeans.h"
#include "vq/core/rng.h"
#include "weights/compressors.h"

namespace vq::weights::detail {

namespace {

// Books of one row group whitened for one column block: C'_m[k] = C_m[k]·T (T = U_BB⁻¹), kept
// transposed (g × K per book, entry index innermost, so a score pass vectorises over entries)
// with squared norms.
struct WhitenedBooks {
  size_t books = 0, k = 0, g = 0;
  std::vector<float> rows;   // M × K × g
  std::vector<float> trans;  // M × g × K
  std::vector<float> norms;  // M × K

  void build(const float* books_src, size_t m_books, size_t k_entries, size_t group, const float* t_mat) {
    books = m_books, k = k_entries, g = group;
    rows.assign(books * k * g, 0.f);
    trans.assign(books * g * k, 0.f);
    norms.assign(books * k, 0.f);
    for (size_t m = 0; m < books; ++m)
      for (size_t e = 0; e < k; ++e) {
        const float* c = books_src + (m * k + e) * g;
        float* dst = rows.data() + (m * k + e) * g;
        float n2 = 0.f;
        for (size_t j = 0; j < g; ++j) {
          float v = 0.f;
          for (size_t s = 0; s <= j; ++s) v += c[s] * t_mat[s * g + j];  // T is upper triangular
          dst[j] = v;
          trans[(m * g + j) * k + e] = v;
          n2 += v * v;
        }
        norms[m * k + e] = n2;
      }
  }

  // scores[e] = ||r − C'_m[e]||² − ||r||² for all entries of book m.
  void scores(size_t m, const float* r, float* out) const {
    const float* n = norms.data() + m * k;
    for (size_t e = 0; e < k; ++e) out[e] = n[e];
    for (size_t j = 0; j < g; ++j) {
      const float rj = -2.f * r[j];
      const float* col = trans.data() + (m * g + j) * k;
      for (size_t e = 0; e < k; ++e) out[e] += rj * col[e];
    }
  }
  const float* entry(size_t m, size_t e) const { return rows.data() + (m * k + e) * g; }
};

struct EncodeScratch {
  std::vector<float> scores, residuals, next_residuals;
  std::vector<uint32_t> codes, next_codes;
  std::vector<std::pair<float, uint32_t>> cand;
};

// Codes (M) for whitened target t (g floats): beam search over the books in order (B states),
// then coordinate-descent passes (each book re-chosen given the others) until stable.
void encode_group(const WhitenedBooks& wb, const float* t, size_t beam, int passes, EncodeScratch& s,
                  uint32_t* codes_out) {
  const size_t M = wb.books, K = wb.k, g = wb.g;
  s.scores.resize(K);
  s.residuals.assign(t, t + g);
  s.codes.assign(M, 0);
  size_t states = 1;
  for (size_t m = 0; m < M; ++m) {
    s.cand.clear();
    for (size_t st = 0; st < states; ++st) {
      const float* r = s.residuals.data() + st * g;
      wb.scores(m, r, s.scores.data());
      float rn = 0.f;
      for (size_t j = 0; j < g; ++j) rn += r[j] * r[j];
      for (size_t e = 0; e < K; ++e) s.cand.emplace_back(rn + s.scores[e], uint32_t(st * K + e));
    }
    const size_t keep = std::min(beam, s.cand.size());
    std::partial_sort(s.cand.begin(), s.cand.begin() + long(keep), s.cand.end());
    s.next_residuals.resize(keep * g);
    s.next_codes.resize(keep * M);
    for (size_t i = 0; i < keep; ++i) {
      const size_t st = s.cand[i].second / K, e = s.cand[i].second % K;
      const float* c = wb.entry(m, e);
      for (size_t j = 0; j < g; ++j) s.next_residuals[i * g + j] = s.residuals[st * g + j] - c[j];
      std::copy(s.codes.begin() + long(st * M), s.codes.begin() + long(st * M + M), s.next_codes.begin() + long(i * M));
      s.next_codes[i * M + m] = uint32_t(e);
    }
    std::swap(s.residuals, s.next_residuals);
    std::swap(s.codes, s.next_codes);
    states = keep;
  }
  // State 0 is the best of the beam; refine it one book at a time.
  float* r = s.residuals.data();
  uint32_t* c = s.codes.data();
  for (int p = 0; p < passes && M > 1; ++p) {
    bool changed = false;
    for (size_t m = 0; m < M; ++m) {
      const float* old = wb.entry(m, c[m]);
      for (size_t j = 0; j < g; ++j) r[j] += old[j];
      wb.scores(m, r, s.scores.data());
      const auto best = uint32_t(std::min_element(s.scores.begin(), s.scores.end()) - s.scores.begin());
      if (best != c[m] && s.scores[best] < s.scores[c[m]]) {
        c[m] = best;
        changed = true;
      }
      const float* e = wb.entry(m, c[m]);
      for (size_t j = 0; j < g; ++j) r[j] -= e[j];
    }
    if (!changed) break;
  }
  std::copy(c, c + M, codes_out);
}

// JLCM-style row grouping: rows described by their scale and the shape of their magnitude
// distribution (quantiles of |w|/scale), clustered by k-means into R groups. Returns the stored
// row order (rows of group 0 first, original order within a group) and the group offsets.
void group_rows(MatrixView<const float> w, const std::vector<float>& scales, size_t groups, uint64_t seed,
                int threads, std::vector<uint32_t>& order, std::vector<uint32_t>& begin) {
  const size_t rows = w.rows(), cols = w.cols();
  static constexpr double kQuantiles[] = {0.25, 0.5, 0.75, 0.9, 0.99};
  constexpr size_t kFeatures = 1 + std::size(kQuantiles);
  Matrix feat(rows, kFeatures);
  std::vector<float> mag(cols);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < cols; ++c) mag[c] = std::fabs(w(r, c)) / scales[r];
    std::sort(mag.begin(), mag.end());
    feat(r, 0) = std::log(scales[r]);
    for (size_t q = 0; q < std::size(kQuantiles); ++q)
      feat(r, 1 + q) = mag[std::min(cols - 1, size_t(kQuantiles[q] * double(cols)))];
  }
  KMeansOptions ko;
  ko.k = groups;
  ko.seed = seed;
  ko.threads = threads;
  ko.max_points_per_centroid = 0;
  const KMeansResult km = kmeans(feat.view(), ko);
  const std::vector<int32_t> label = assign_to_centroids(feat.view(), km.centroids.view(), Metric(), threads);
  order.resize(rows);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return label[a] < label[b]; });
  begin.assign(groups + 1, 0);
  for (size_t r = 0; r < rows; ++r) ++begin[size_t(label[r]) + 1];
  for (size_t gi = 0; gi < groups; ++gi) {
    VQ_CHECK(begin[gi + 1] > 0, "compress: row group ", gi, " of ", groups,
             " came out empty (rows too alike for this many groups); use fewer row groups");
    begin[gi + 1] += begin[gi];
  }
}

// Codebooks (M × K × g, fp16-rounded) for the scaled groups of rows [r0, r1) of w.
std::vector<float> train_codebooks(MatrixView<const float> w, const std::vector<float>& scales,
                                   const std::vector<float>& col_weight, size_t r0, size_t r1, const Scheme& s,
                                   const CompressOptions& o) {
  const size_t g = s.group, per_row = w.cols() / g, total = (r1 - r0) * per_row, K = size_t{1} << s.bits;
  const size_t n = std::min(total, std::max(o.aq_train_vectors, K));
  VQ_CHECK(total >= K, "compress: scheme ", s.str(), " needs at least ", K, " groups of ", g,
           " weights per row group to learn its codebooks, rows ", r0, "..", r1, " have ", total);
  const std::vector<size_t> pick = sample_without_replacement(total, n, o.seed);
  Matrix x(n, g);
  std::vector<float> weight(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = r0 + pick[i] / per_row, j = pick[i] % per_row;
    for (size_t t = 0; t < g; ++t) x(i, t) = w(r, j * g + t) / scales[r];
    weight[i] = scales[r] * scales[r] * col_weight[j];
  }
  std::vector<float> books;
  if (s.books == 1) {
    // One book: additive codes are plain k-means (the core AQ would solve the same problem).
    KMeansOptions ko;
    ko.k = K;
    ko.seed = o.seed;
    ko.threads = o.threads;
    ko.weights = weight;
    const KMeansResult km = kmeans(x.view(), ko);
    books = km.centroids.storage();
  } else {
    AdditiveQuantizer aq(g, s.books, uint8_t(s.bits), o.aq_beam);
    TrainOptions to;
    to.weights = weight;
    to.seed = o.seed;
    to.threads = o.threads;
    aq.train(x.view(), to);
    for (const Codebook& b : aq.books()) books.insert(books.end(), b.entries.storage().begin(), b.entries.storage().end());
  }
  for (float& v : books) v = round_fp16(v);
  return books;
}

// The row group of every stored row (out.group_begin as a lookup).
std::vector<uint32_t> row_groups_of(const CompressedMatrix& out) {
  std::vector<uint32_t> row_group(out.rows);
  for (size_t rg = 0; rg + 1 < out.group_begin.size(); ++rg)
    for (size_t r = out.group_begin[rg]; r < out.group_begin[rg + 1]; ++r) row_group[r] = uint32_t(rg);
  return row_group;
}

// dst (rows × cols, stored row order) = each row's decoding, s_r · Σ_m books[entry], from the
// codes of out and a codebook-space vector laid out as out.codebooks (the books themselves, or a
// direction in their space).
void decode_stored_rows(const CompressedMatrix& out, const std::vector<uint32_t>& row_group, const float* books,
                        Matrix& dst, int threads) {
  const size_t cols = out.cols, g = out.scheme.group, M = out.scheme.books, per_row = cols / g;
  const size_t K = size_t{1} << out.scheme.bits, book_floats = out.codebook_floats();
#pragma omp parallel for num_threads(threads)
  for (size_t r = 0; r < out.rows; ++r) {
    float* d = dst.row_ptr(r);
    std::fill(d, d + cols, 0.f);
    for (size_t j = 0; j < per_row; ++j)
      for (size_t m = 0; m < M; ++m) {
        const float* e = books + row_group[r] * book_floats + (m * K + out.aq_code(r, j, m)) * g;
        for (size_t a = 0; a < g; ++a) d[j * g + a] += e[a];
      }
    for (size_t c = 0; c < cols; ++c) d[c] *= out.scales[r];
  }
}

// AQLM's update for the codes found: the codebooks that minimise Σ_r (w_r − ŵ_r)ᵀ H (w_r − ŵ_r),
// then the row scales that minimise it for those books. ŵ is linear in the books, so the first
// is a least-squares problem, solved by Jacobi-preconditioned conjugate gradients (each step one
// decode, one rows × cols × cols sgemm with H and one scatter back to the entries); each scale
// has a closed form. w: the original rows in working order. Entries no code uses keep their
// values. Books and scales are rounded to fp16, as stored.
void refit_books_and_scales(MatrixView<const float> w, const PreparedHessian& h, int iterations, int threads,
                            CompressedMatrix& out) {
  const size_t rows = out.rows, cols = out.cols, g = out.scheme.group, M = out.scheme.books;
  const size_t K = size_t{1} << out.scheme.bits, per_row = cols / g, cb = out.code_bytes();
  const size_t book_floats = out.codebook_floats(), n = out.codebooks.size();
  const std::vector<uint32_t> row_group = row_groups_of(out);
  // Offset in out.codebooks of the entry row r uses for column group j, book m.
  auto entry_at = [&](size_t r, size_t j, size_t m) {
    const uint8_t* c = out.codes.data() + (r * per_row * M + j * M + m) * cb;
    const size_t code = cb == 2 ? size_t(c[0]) | size_t(c[1]) << 8 : size_t(c[0]);
    return row_group[r] * book_floats + (m * K + code) * g;
  };
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  Matrix decoded(rows, cols), product(rows, cols);
  auto decode = [&](const std::vector<float>& v) { decode_stored_rows(out, row_group, v.data(), decoded, nt); };
  // m · H (m itself without calibration), in `product`.
  auto times_h = [&](const Matrix& m) -> const Matrix& {
    if (h.identity) return m;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols), int(cols), 1.f, m.data(), int(cols),
                h.h.data(), int(cols), 0.f, product.data(), int(cols));
    return product;
  };
  // out_v = Σ_r s_r · scatter of (m · H) row r (m: rows × cols); per-thread sums, then reduced.
  auto partial = std::vector<std::vector<float>>(size_t(nt), std::vector<float>(n, 0.f));
  auto scatter = [&](const Matrix& m, std::vector<float>& out_v) {
    const Matrix* src = &times_h(m);
#pragma omp parallel num_threads(nt)
    {
      std::vector<float>& acc = partial[size_t(omp_get_thread_num())];
      std::fill(acc.begin(), acc.end(), 0.f);
#pragma omp for
      for (size_t r = 0; r < rows; ++r) {
        const float* p = src->row_ptr(r);
        const float s = out.scales[r];
        for (size_t j = 0; j < per_row; ++j)
          for (size_t m2 = 0; m2 < M; ++m2) {
            float* e = acc.data() + entry_at(r, j, m2);
            for (size_t a = 0; a < g; ++a) e[a] += s * p[j * g + a];
          }
      }
    }
    out_v.assign(n, 0.f);
    for (const auto& acc : partial)
      for (size_t i = 0; i < n; ++i) out_v[i] += acc[i];
  };
  // Jacobi preconditioner: the operator's diagonal, Σ over uses of s_r² H_cc.
  std::vector<float> diag(n, 0.f);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < per_row; ++j)
      for (size_t m = 0; m < M; ++m) {
        float* e = diag.data() + entry_at(r, j, m);
        for (size_t a = 0; a < g; ++a) e[a] += out.scales[r] * out.scales[r] * h.h_at(j * g + a, j * g + a);
      }
  std::vector<float> x = out.codebooks, res, z(n), p, q;
  auto precondition = [&]() {
    for (size_t i = 0; i < n; ++i) z[i] = diag[i] > 0.f ? res[i] / diag[i] : 0.f;
  };
  decode(x);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) decoded(r, c) = w(r, c) - decoded(r, c);
  scatter(decoded, res);  // the normal equations' residual: −½ gradient
  precondition();
  p = z;
  double rz = 0.0;
  for (size_t i = 0; i < n; ++i) rz += double(res[i]) * z[i];
  const double rz0 = rz;
  // Converged (or at float rounding, where further steps only add noise) once r·z, the squared
  // preconditioned residual, has fallen 10^12-fold: about 12 steps on a 4096 × 4096 layer.
  for (int it = 0; it < iterations && rz > 1e-12 * rz0; ++it) {
    decode(p);
    scatter(decoded, q);
    double pq = 0.0;
    for (size_t i = 0; i < n; ++i) pq += double(p[i]) * q[i];
    if (!(pq > 0.0)) break;
    const float alpha = float(rz / pq);
    for (size_t i = 0; i < n; ++i) {
      x[i] += alpha * p[i];
      res[i] -= alpha * q[i];
    }
    precondition();
    double rz_next = 0.0;
    for (size_t i = 0; i < n; ++i) rz_next += double(res[i]) * z[i];
    const float beta = float(rz_next / rz);
    rz = rz_next;
    for (size_t i = 0; i < n; ++i) p[i] = z[i] + beta * p[i];
  }
  for (size_t i = 0; i < n; ++i) out.codebooks[i] = round_fp16(x[i]);
  // Then the per-row scales for these books (AQLM tunes them too): s_r ← s_r · ⟨w_r, ŵ_r⟩_H /
  // ⟨ŵ_r, ŵ_r⟩_H, the least-squares multiplier of each row's decoding under H. On the 512-wide
  // tiny LM this lowered AQ4x4d8's held-out error by 4–28 % and AQ2x8d8's by up to 3 %.
  decode(out.codebooks);
  const Matrix& hd = times_h(decoded);
  for (size_t r = 0; r < rows; ++r) {
    double wp = 0, dp = 0;
    for (size_t c = 0; c < cols; ++c) {
      wp += double(w(r, c)) * hd(r, c);
      dp += double(decoded(r, c)) * hd(r, c);
    }
    if (dp > 0 && wp > 0) out.scales[r] = round_fp16(float(out.scales[r] * wp / dp));
  }
}

// CDQuant's coordinate descent, for additive codes. The sweep chose each group's codes while the
// groups after it were still free; this revisits every code under the full H with all the others
// fixed. Row r keeps grad = H(ŵ_r − w_r). Moving group j's book-m code from c to c' changes ŵ on
// the group's columns J by δ = s_r(C_m[c'] − C_m[c]) and the objective by 2δᵀgrad_J + δᵀH_JJδ,
// which over c' is C_m[c']ᵀv + s_r²·a[c'] plus a constant, with v = 2s_r(grad_J − s_r·H_JJ C_m[c])
// and a[k] = C_m[k]ᵀH_JJ C_m[k]. A move adds H_{:,J}δ to grad. Up to `passes` passes over every
// position of every row (blocks of rows in parallel); a block stops when a pass moves nothing.
// w: the original rows in working order.
void refine_codes(MatrixView<const float> w, const PreparedHessian& h, int passes, int threads, CompressedMatrix& out) {
  const size_t rows = out.rows, cols = out.cols, g = out.scheme.group, M = out.scheme.books;
  const size_t K = size_t{1} << out.scheme.bits, per_row = cols / g, cb = out.code_bytes();
  const size_t book_floats = out.codebook_floats(), groups = out.group_begin.size() - 1;
  // Per row group: the books transposed (M × g × K, so a candidate scan runs over k) and a.
  std::vector<float> trans(groups * book_floats), quad(groups * per_row * M * K);
  for (size_t rg = 0; rg < groups; ++rg) {
    const float* books = out.codebooks.data() + rg * book_floats;
    for (size_t m = 0; m < M; ++m)
      for (size_t k = 0; k < K; ++k)
        for (size_t t = 0; t < g; ++t) trans[rg * book_floats + (m * g + t) * K + k] = books[(m * K + k) * g + t];
    for (size_t j = 0; j < per_row; ++j)
      for (size_t m = 0; m < M; ++m)
        for (size_t k = 0; k < K; ++k) {
          const float* e = books + (m * K + k) * g;
          double q = 0.0;
          for (size_t t = 0; t < g; ++t)
            for (size_t u = 0; u < g; ++u) q += double(e[t]) * h.h[(j * g + t) * cols + j * g + u] * e[u];
          quad[((rg * per_row + j) * M + m) * K + k] = float(q);
        }
  }
  // grad = (Ŵ − W)·H for every row at once (rows in working order, as the codes).
  const int nt = threads > 0 ? threads : omp_get_max_threads();
  const std::vector<uint32_t> row_group = row_groups_of(out);
  Matrix err(rows, cols);
  decode_stored_rows(out, row_group, out.codebooks.data(), err, nt);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) err(r, c) -= w(r, c);
  Matrix grad(rows, cols);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols), int(cols), 1.f, err.data(), int(cols),
              h.h.data(), int(cols), 0.f, grad.data(), int(cols));
  // Rows go in blocks that take each position in turn, so a column block of H (g rows of it,
  // what a move's gradient update reads: 128 KiB for 4096 inputs, far from cache) is loaded once
  // for every row of the block that moved there.
  constexpr size_t kBlockRows = 32;
  const auto nblocks = int64_t((rows + kBlockRows - 1) / kBlockRows);
#pragma omp parallel num_threads(nt)
  {
    std::vector<float> score(K), v(g), delta(kBlockRows * g);
    std::vector<size_t> moved_rows(kBlockRows);
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const size_t r0 = size_t(blk) * kBlockRows, r1 = std::min(rows, r0 + kBlockRows);
      for (int pass = 0; pass < passes; ++pass) {
        bool any = false;
        for (size_t j = 0; j < per_row; ++j)
          for (size_t m = 0; m < M; ++m) {
            size_t moved = 0;
            for (size_t r = r0; r < r1; ++r) {
              const size_t rg = row_group[r];
              const float* books = out.codebooks.data() + rg * book_floats;
              const float sr = out.scales[r];
              const float* gr = grad.row_ptr(r);
              uint8_t* cp = out.codes.data() + (r * per_row * M + j * M + m) * cb;
              const size_t c = cb == 2 ? size_t(cp[0]) | size_t(cp[1]) << 8 : size_t(cp[0]);
              const float* cur = books + (m * K + c) * g;
              for (size_t t = 0; t < g; ++t) {
                float acc = 0.f;
                for (size_t u = 0; u < g; ++u) acc += h.h[(j * g + t) * cols + j * g + u] * cur[u];
                v[t] = 2.f * sr * (gr[j * g + t] - sr * acc);
              }
              const float* a = quad.data() + ((rg * per_row + j) * M + m) * K;
              for (size_t k = 0; k < K; ++k) score[k] = sr * sr * a[k];
              for (size_t t = 0; t < g; ++t) {
                const float* ct = trans.data() + rg * book_floats + (m * g + t) * K;
                for (size_t k = 0; k < K; ++k) score[k] += ct[k] * v[t];
              }
              const size_t best = size_t(std::min_element(score.begin(), score.end()) - score.begin());
              // (a margin keeps float noise from trading equal codes back and forth)
              if (best == c || !(score[best] < score[c] - 1e-6f * std::fabs(score[c]))) continue;
              const float* next = books + (m * K + best) * g;
              for (size_t t = 0; t < g; ++t) delta[moved * g + t] = sr * (next[t] - cur[t]);
              moved_rows[moved++] = r;
              cp[0] = uint8_t(best);
              if (cb == 2) cp[1] = uint8_t(best >> 8);
            }
            // grad_r += H_{:,J} δ_r for the rows that moved, by rows of the symmetric H.
            for (size_t t = 0; t < g && moved > 0; ++t) {
              const float* hrow = h.h.data() + (j * g + t) * cols;
              for (size_t i = 0; i < moved; ++i) {
                float* gr = grad.row_ptr(moved_rows[i]);
                const float d = delta[i * g + t];
                for (size_t col = 0; col < cols; ++col) gr[col] += d * hrow[col];
              }
            }
            any = any || moved > 0;
          }
        if (!any) break;
      }
    }
  }
}

}  // namespace

CompressedMatrix compress_aq(MatrixView<const float> w, const PreparedHessian& h, const Scheme& s,
                             const CompressOptions& o) {
  const size_t rows = w.rows(), cols = w.cols(), g = s.group, M = s.books, K = size_t{1} << s.bits;
  const size_t per_row = cols / g;
  CompressedMatrix out;
  out.scheme = s;
  out.rows = rows;
  out.cols = cols;

  // Per-output-channel scale: the row's RMS (fp16), so every row's groups share one codebook.
  std::vector<float> scale_of(rows);
  for (size_t r = 0; r < rows; ++r) {
    double ss = 0.0;
    for (size_t c = 0; c < cols; ++c) ss += double(w(r, c)) * double(w(r, c));
    const float rms = round_fp16(float(std::sqrt(ss / double(cols))));
    scale_of[r] = rms > 0.f ? rms : 1.f;
  }
  std::vector<uint32_t> order;
  if (s.row_groups > 1) {
    group_rows(w, scale_of, s.row_groups, o.seed, o.threads, order, out.group_begin);
    out.row_order = order;
  } else {
    order.resize(rows);
    std::iota(order.begin(), order.end(), 0u);
    out.group_begin = {0, uint32_t(rows)};
  }
  Matrix work(rows, cols);
  out.scales.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    std::copy(w.row_ptr(order[i]), w.row_ptr(order[i]) + cols, work.row_ptr(i));
    out.scales[i] = scale_of[order[i]];
  }
  // How much each column group matters to the output (mean of H's diagonal over the group).
  std::vector<float> col_weight(per_row, 1.f);
  if (!h.identity)
    for (size_t j = 0; j < per_row; ++j) {
      double d = 0.0;
      for (size_t t = 0; t < g; ++t) d += h.h_at(j * g + t, j * g + t);
      col_weight[j] = float(d / double(g));
    }
  out.codebooks.reserve(s.row_groups * out.codebook_floats());
  for (size_t rg = 0; rg < s.row_groups; ++rg) {
    const std::vector<float> books =
        train_codebooks(work.view(), out.scales, col_weight, out.group_begin[rg], out.group_begin[rg + 1], s, o);
    out.codebooks.insert(out.codebooks.end(), books.begin(), books.end());
  }

  // The sweep visits the column groups in act order (by their H diagonal, largest first) on H
  // permuted to match; codes are stored at the groups' own positions.
  const SweepOrder plan = sweep_order(h, g, o.act_order);
  const std::vector<uint32_t>& group_order = plan.order;
  const PreparedHessian& sweep_h = plan.hessian(h);

  // T_B = U_BB⁻¹ for every block of the sweep (g × g upper triangular; identity without calibration).
  std::vector<float> t_mats(per_row * g * g, 0.f);
  for (size_t j = 0; j < per_row; ++j) {
    float* t = t_mats.data() + j * g * g;
    for (size_t c = 0; c < g; ++c) {  // column c of the inverse by back substitution
      for (size_t i = g; i-- > 0;) {
        double v = i == c ? 1.0 : 0.0;
        for (size_t k = i + 1; k < g; ++k) v -= double(sweep_h.u_at(j * g + i, j * g + k)) * t[k * g + c];
        t[i * g + c] = float(v / sweep_h.u_at(j * g + i, j * g + i));
      }
    }
  }

  // AQLM's alternation: codes for the books (a GPTQ-style sweep over a column-permuted copy of the
  // rows, which it overwrites), then the books and scales for the codes (least squares under H,
  // refit_books_and_scales, in the input's column order).
  Matrix swept(rows, cols);
  out.codes.assign(rows * out.row_code_bytes(), 0);
  const size_t cb = out.code_bytes();
  const size_t beam = std::max<size_t>(1, o.aq_beam);
  for (int round = 0; round < std::max(1, o.aq_rounds); ++round) {
    for (size_t i = 0; i < rows; ++i)
      for (size_t jj = 0; jj < per_row; ++jj)
        std::copy(work.row_ptr(i) + group_order[jj] * g, work.row_ptr(i) + group_order[jj] * g + g,
                  swept.row_ptr(i) + jj * g);
    gptq_sweep(swept.view(), sweep_h, g, g, o.threads,
               [&](size_t col0, MatrixView<float> part, size_t r0) {
                 const size_t j = group_order[col0 / g];  // the group's own position
                 const float* t_mat = t_mats.data() + col0 / g * g * g;
                 WhitenedBooks wb;
                 EncodeScratch scratch;
                 std::vector<float> x(g), t(g);
                 std::vector<uint32_t> code(M);
                 size_t built_for = SIZE_MAX;
                 for (size_t i = 0; i < part.rows(); ++i) {
                   const size_t r = r0 + i;
                   const auto it = std::upper_bound(out.group_begin.begin(), out.group_begin.end(), uint32_t(r));
                   const size_t rg = size_t(it - out.group_begin.begin()) - 1;
                   const float* books = out.codebooks.data() + rg * out.codebook_floats();
                   if (built_for != rg) {
                     wb.build(books, M, K, g, t_mat);
                     built_for = rg;
                   }
                   const float sr = out.scales[r];
                   for (size_t a = 0; a < g; ++a) x[a] = part(i, col0 + a) / sr;
                   for (size_t a = 0; a < g; ++a) {
                     float v = 0.f;
                     for (size_t b = 0; b <= a; ++b) v += x[b] * t_mat[b * g + a];
                     t[a] = v;
                   }
                   encode_group(wb, t.data(), beam, o.aq_passes, scratch, code.data());
                   uint8_t* dst = out.codes.data() + (r * per_row * M + j * M) * cb;
                   for (size_t a = 0; a < g; ++a) part(i, col0 + a) = 0.f;
                   for (size_t m = 0; m < M; ++m) {
                     dst[m * cb] = uint8_t(code[m]);
                     if (cb == 2) dst[m * cb + 1] = uint8_t(code[m] >> 8);
                     const float* e = books + (m * K + code[m]) * g;
                     for (size_t a = 0; a < g; ++a) part(i, col0 + a) += e[a];
                   }
                   for (size_t a = 0; a < g; ++a) part(i, col0 + a) *= sr;
                 }
               },
               o.progress);
    if (o.aq_refine_passes > 0 && !h.identity) refine_codes(work.view(), h, o.aq_refine_passes, o.threads, out);
    if (o.aq_codebook_iterations > 0)
      refit_books_and_scales(work.view(), h, o.aq_codebook_iterations, o.threads, out);
  }
  return out;
}

}  // namespace vq::weights::detail
