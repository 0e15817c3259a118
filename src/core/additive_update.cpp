#include "core/additive_update.h"

#include <omp.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cassert>

namespace vq::detail {
namespace {

// Proximal weight of the codebook update, relative to the mean code count Σw / K. Large enough
// to make the normal equations positive definite (unused codes, the constant shift between
// books), small enough not to slow the update down measurably.
constexpr double kRelativeRidge = 1e-4;

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double weight_of(Span<const float> weights, size_t i) { return weights.empty() ? 1.0 : weights[i]; }

int resolve_threads(int threads) { return threads > 0 ? threads : omp_get_max_threads(); }

// The codes as a sparse matrix, column by column: the rows i that use code u = m·K + c (in
// increasing i), so Bᵀ is applied by a gather per code that one thread owns alone.
struct CodeColumns {
  std::vector<size_t> start;  // M·K + 1 offsets into rows
  std::vector<uint32_t> rows; // n·M row indices
  std::vector<double> weight; // M·K: Σ w_i over the rows of each code

  CodeColumns(Span<const float> weights, Span<const int32_t> codes, size_t n, size_t M, size_t K)
      : start(M * K + 1, 0), rows(n * M), weight(M * K, 0.0) {
    for (size_t i = 0; i < n; ++i)
      for (size_t m = 0; m < M; ++m) ++start[m * K + static_cast<size_t>(codes[i * M + m]) + 1];
    for (size_t u = 0; u < M * K; ++u) start[u + 1] += start[u];
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t i = 0; i < n; ++i)
      for (size_t m = 0; m < M; ++m) {
        const size_t u = m * K + static_cast<size_t>(codes[i * M + m]);
        rows[fill[u]++] = static_cast<uint32_t>(i);
        weight[u] += weight_of(weights, i);
      }
  }
};

}  // namespace

double additive_ridge(Span<const float> weights, size_t n, size_t K, const Communicator& comm) {
  std::vector<double> total(1, 0.0);
  for (size_t i = 0; i < n; ++i) total[0] += weight_of(weights, i);
  if (comm.size() > 1) comm.allreduce_sum(total);
  return kRelativeRidge * total[0] / static_cast<double>(K);
}

// Accumulated and solved in double: code counts reach 10⁵ and the system is rank-deficient up
// to λ, so float would lose the small directions that decide the shift between books.
void update_books_dense(MatrixView<const float> x, Span<const float> weights,
                        Span<const int32_t> codes, std::vector<Codebook>& books, const Communicator& comm) {
  const size_t n = x.rows(), d = books.front().entries.cols(), M = books.size(), K = books.front().size();
  const size_t N = M * K;
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(N, N);
  RowMatrixD rhs = RowMatrixD::Zero(N, d);
  for (size_t i = 0; i < n; ++i) {
    const double w = weight_of(weights, i);
    if (w == 0) continue;
    const int32_t* c = codes.data() + i * M;
    const float* xi = x.row_ptr(i);
    for (size_t a = 0; a < M; ++a) {
      const size_t ia = a * K + static_cast<size_t>(c[a]);
      for (size_t b = 0; b < M; ++b) gram(ia, b * K + static_cast<size_t>(c[b])) += w;
      double* row = rhs.row(ia).data();
      for (size_t j = 0; j < d; ++j) row[j] += w * xi[j];
    }
  }
  if (comm.size() > 1) {
    // Both sums over every rank's rows, in one reduction.
    std::vector<double> sums(N * N + N * d);
    std::copy(gram.data(), gram.data() + N * N, sums.begin());
    std::copy(rhs.data(), rhs.data() + N * d, sums.begin() + N * N);
    comm.allreduce_sum(sums);
    std::copy(sums.begin(), sums.begin() + N * N, gram.data());
    std::copy(sums.begin() + N * N, sums.end(), rhs.data());
  }
  const double lambda = additive_ridge(weights, n, K, comm);
  gram.diagonal().array() += lambda;
  for (size_t m = 0; m < M; ++m)
    for (size_t k = 0; k < K; ++k)
      for (size_t j = 0; j < d; ++j) rhs(m * K + k, j) += lambda * books[m].entries(k, j);
  const Eigen::LLT<Eigen::MatrixXd> llt(gram);
  VQ_CHECK(llt.info() == Eigen::Success, "AdditiveQuantizer: codebook normal equations are not "
           "positive definite (non-finite training data?)");
  const RowMatrixD solution = llt.solve(rhs);
  for (size_t m = 0; m < M; ++m)
    for (size_t k = 0; k < K; ++k)
      for (size_t j = 0; j < d; ++j)
        books[m].entries(k, j) = static_cast<float>(solution(m * K + k, j));
}

// Preconditioned CG on the d columns at once: the system matrix is shared, but each column
// (dimension) is an independent problem with its own step sizes α_j, β_j. All state is
// N × d row-major double (N = M·K), so the per-dimension scalars are vectors of d.
int update_books_cg(MatrixView<const float> x, Span<const float> weights,
                    Span<const int32_t> codes, std::vector<Codebook>& books, int threads,
                    const CgOptions& options, const Communicator& comm) {
  const size_t n = x.rows(), d = books.front().entries.cols(), M = books.size(), K = books.front().size();
  const size_t N = M * K;
  const int nt = resolve_threads(threads);
  const double lambda = additive_ridge(weights, n, K, comm);
  VQ_CHECK(n <= UINT32_MAX, "AdditiveQuantizer: ", n, " training vectors; at most 2^32 - 1");
  CodeColumns columns(weights, codes, n, M, K);
  if (comm.size() > 1) comm.allreduce_sum(columns.weight);  // the preconditioner: every rank's code weights

  std::vector<double> c(N * d), r(N * d), z(N * d), p(N * d), q(N * d), s(n * d);
  for (size_t m = 0; m < M; ++m)
    for (size_t k = 0; k < K; ++k)
      std::copy(books[m].entries.row_ptr(k), books[m].entries.row_ptr(k) + d,
                c.data() + (m * K + k) * d);

  // s_i = Σ_m v[c_im] (the decoded rows of v), then out[u] = Σ_{i uses u} w_i s_i + shift·v[u]:
  // out = (BᵀWB + shift·I) v. Each output row is summed by one thread in a fixed order. Without
  // a shift term (v null) out = BᵀW s for rows s that are not decoded from an N × d v: the
  // residual X − B·C_old, which has n rows, fewer than N = M·K whenever the books have more
  // entries in total than there are training vectors (AQ17x8 on 600 rows read far past it).
  const auto decode_rows = [&](const std::vector<double>& v) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; ++i) {
      double* si = s.data() + i * d;
      std::fill(si, si + d, 0.0);
      for (size_t m = 0; m < M; ++m) {
        const double* e = v.data() + (m * K + static_cast<size_t>(codes[i * M + m])) * d;
        for (size_t j = 0; j < d; ++j) si[j] += e[j];
      }
    }
  };
  // Across ranks the rows' part is reduced first and the shift added after, once.
  const auto gather = [&](const std::vector<double>* v, double shift, std::vector<double>& out) {
    assert(!v || v->size() == N * d);
    const bool distributed = comm.size() > 1;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t u = 0; u < N; ++u) {
      double* o = out.data() + u * d;
      if (v && !distributed) {
        const double* vu = v->data() + u * d;
        for (size_t j = 0; j < d; ++j) o[j] = shift * vu[j];
      } else {
        std::fill(o, o + d, 0.0);
      }
      for (size_t t = columns.start[u]; t < columns.start[u + 1]; ++t) {
        const size_t i = columns.rows[t];
        const double w = weight_of(weights, i);
        const double* si = s.data() + i * d;
        for (size_t j = 0; j < d; ++j) o[j] += w * si[j];
      }
    }
    if (!distributed) return;
    comm.allreduce_sum(out);
    if (v)
      for (size_t k = 0; k < N * d; ++k) out[k] += shift * (*v)[k];
  };
  // Per-column dot products Σ_u a[u][j]·b[u][j].
  const auto column_dots = [&](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> out(d, 0.0);
    for (size_t u = 0; u < N; ++u)
      for (size_t j = 0; j < d; ++j) out[j] += a[u * d + j] * b[u * d + j];
    return out;
  };
  const auto precondition = [&] {
    for (size_t u = 0; u < N; ++u) {
      const double inv = 1.0 / (columns.weight[u] + lambda);
      for (size_t j = 0; j < d; ++j) z[u * d + j] = r[u * d + j] * inv;
    }
  };

  // Starting at C_old the proximal term vanishes: r = BᵀW(X − B·C_old).
  decode_rows(c);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) s[i * d + j] = x(i, j) - s[i * d + j];
  gather(nullptr, 0.0, r);
  precondition();
  p = z;
  std::vector<double> rz = column_dots(r, z);
  const std::vector<double> rz0 = rz;
  const double tol2 = options.tolerance * options.tolerance;
  int it = 0;
  for (; it < options.max_iterations; ++it) {
    bool converged = true;
    for (size_t j = 0; j < d; ++j) converged &= rz[j] <= tol2 * rz0[j];
    if (converged) break;
    decode_rows(p);
    gather(&p, lambda, q);
    const std::vector<double> pq = column_dots(p, q);
    std::vector<double> alpha(d);
    for (size_t j = 0; j < d; ++j) alpha[j] = pq[j] > 0 ? rz[j] / pq[j] : 0.0;
    for (size_t u = 0; u < N; ++u)
      for (size_t j = 0; j < d; ++j) {
        c[u * d + j] += alpha[j] * p[u * d + j];
        r[u * d + j] -= alpha[j] * q[u * d + j];
      }
    precondition();
    const std::vector<double> rz_next = column_dots(r, z);
    for (size_t j = 0; j < d; ++j) {
      const double beta = rz[j] > 0 ? rz_next[j] / rz[j] : 0.0;
      for (size_t u = 0; u < N; ++u) p[u * d + j] = z[u * d + j] + beta * p[u * d + j];
    }
    rz = rz_next;
  }
  for (size_t m = 0; m < M; ++m)
    for (size_t k = 0; k < K; ++k)
      for (size_t j = 0; j < d; ++j)
        books[m].entries(k, j) = static_cast<float>(c[(m * K + k) * d + j]);
  return it;
}

double additive_objective(MatrixView<const float> x, Span<const float> weights,
                          Span<const int32_t> codes, const std::vector<Codebook>& books) {
  const size_t n = x.rows(), d = x.cols(), M = books.size();
  double total = 0;
  std::vector<double> e(d);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) e[j] = x(i, j);
    for (size_t m = 0; m < M; ++m) {
      const float* entry = books[m].entries.row_ptr(static_cast<size_t>(codes[i * M + m]));
      for (size_t j = 0; j < d; ++j) e[j] -= entry[j];
    }
    double sq = 0;
    for (size_t j = 0; j < d; ++j) sq += e[j] * e[j];
    total += weight_of(weights, i) * sq;
  }
  return total;
}

}  // namespace vq::detail
