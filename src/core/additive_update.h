// (private) The least-squares codebook update of AdditiveQuantizer, with its codes fixed:
//
//     min_C  Σ_i w_i ||x_i − Σ_m C_m[c_im]||² + λ ||C − C_old||²_F
//
// i.e. the normal equations (BᵀWB + λI) C = BᵀWX + λ C_old, B the n × M·K one-hot code matrix
// (row i has a 1 in column m·K + c_im for every book m). Every book spans all dimensions, so this
// plain-L2 solution is also the optimum under any PSD H (the problem separates over H's
// eigen-directions; see additive_quantizer.h). The proximal term λ pins codes no vector uses and
// the constant shift between books that leaves every sum unchanged.
//
// Two solvers of the same system:
//   - update_books_dense: Cholesky of the dense (M·K)² Gram matrix in double. Exact; memory and
//     time grow as (M·K)² and (M·K)³, so it serves M·K <= AdditiveQuantizer::kMaxJointCodes.
//   - update_books_cg: conjugate gradient with the Jacobi (code count) preconditioner, applying
//     BᵀWB through the codes (one gather and one scatter of n·M rows per iteration), so memory
//     is O((M·K + n)·d) whatever K is. With one book the system is diagonal and the first
//     iteration is the exact answer (every entry becomes the weighted mean of its vectors,
//     pulled towards its old value by λ). Started from C_old, every iterate lowers the
//     proximal objective, hence the least-squares objective never rises above its value at
//     C_old, however early the iteration stops.
// Both are deterministic for any OpenMP thread count. Across ranks (comm: x, weights and codes
// are this rank's rows) they reduce their sums over rows, the Gram matrix and right-hand side
// once (dense) or BᵀW·(rows) once per iteration (CG), and every rank solves the same system.
#pragma once

#include <cstdint>
#include <vector>

#include "vq/core/codebook_quantizer.h"
#include "vq/core/communicator.h"
#include "vq/types.h"

namespace vq::detail {

// λ for a training set: kRelativeRidge (1e-4) × Σw / K. weights: empty (all 1) or n entries.
double additive_ridge(Span<const float> weights, size_t n, size_t K,
                      const Communicator& comm = self_communicator());

// x: n × d; weights: empty or n; codes: n × M (book m of row i at codes[i·M + m], each in
// [0, K)); books: M books of K × d entries, all of the same K, updated in place.
void update_books_dense(MatrixView<const float> x, Span<const float> weights,
                        Span<const int32_t> codes, std::vector<Codebook>& books,
                        const Communicator& comm = self_communicator());

struct CgOptions {
  int max_iterations = 50;
  // Stop once every column's preconditioned residual norm has fallen by this factor.
  double tolerance = 1e-6;
};
// Same arguments as update_books_dense; returns the number of iterations run.
// threads: 0 = OpenMP default.
int update_books_cg(MatrixView<const float> x, Span<const float> weights,
                    Span<const int32_t> codes, std::vector<Codebook>& books, int threads,
                    const CgOptions& options = CgOptions{}, const Communicator& comm = self_communicator());

// Σ_i w_i ||x_i − Σ_m C_m[c_im]||² in double: the objective both updates lower.
double additive_objective(MatrixView<const float> x, Span<const float> weights,
                          Span<const int32_t> codes, const std::vector<Codebook>& books);

}  // namespace vq::detail
