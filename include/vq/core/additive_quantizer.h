// AdditiveQuantizer (AQ, as in AQLM / LSQ): M codebooks of 2^bits entries, each spanning the
// whole vector; a vector is encoded by M indices and decoded as the sum of the chosen entries,
//
//     x̂ = C_0[c_0] + C_1[c_1] + … + C_{M-1}[c_{M-1}]      (every C_m is 2^bits × dim)
//
// Unlike RVQ, the books are trained and searched jointly, so no book is "the coarse one":
// at equal bits AQ reaches a lower error than RVQ, at a higher encoding cost.
//
// Objective: everything minimises Σ_i w_i (x_i − x̂_i)ᵀ H (x_i − x̂_i) with H from
// TrainOptions::metric (identity, diagonal or full PSD) and w from TrainOptions::weights.
//
// Encoding (beam coordinate descent, AQLM-style). Work happens in the whitened space
// x' = Lᵀx (H = L Lᵀ), where the H-error is plain squared L2. A search state is a code tuple
// and its residual r = x' − Σ_m C'_m[c_m] (every book assigned).
// One step for book m takes each of the B states of a vector, tries all K = 2^bits entries
// for book m, and keeps the B best distinct tuples of the B·K candidates (states that differ
// only in book m would propose the same tuples: only the best of them is expanded). The error
// of a candidate is ||t − C'_m[k]||² with t = r + C'_m[c_m] (the residual without book m), so a
// step is one GEMM (states × r)·(r × K) per batch of vectors. A pass is one step per book
// in order 0 … M−1; states carry over between passes and the best state is returned.
//   - encode() first runs beam-search RVQ over the AQ books (the shared residual beam
//     encoder), taking the books in decreasing energy and keeping max(B, 32) partial codes,
//     then kEncodePasses coordinate-descent passes starting from its result. (After the joint
//     updates the books are no longer a coarse-to-fine stack; a narrow first search can leave
//     descent in a basin it never leaves.)
//   - When that first search keeps >= K^(M−1) partial codes it enumerates every tuple, so
//     encoding is exact (e.g. M = 2, K <= 32); in general the result is never worse than the
//     first search's, because a vector keeps its codes unless a pass finds a strictly lower
//     error.
//   Cost per vector and pass: M·B·K·r multiply-adds (r = rank of H), done as batched sgemm,
//   tiled over K so 2^16-entry books stream through the cache. With M = 1, encode() is the
//   exact nearest entry (one GEMM-based search, no beam).
//
// Training (documented algorithm; deterministic for a seed and thread count):
//   1. Initialise: train ResidualQuantizer(dim, M, bits, B) with the same options (metric,
//      weights, seed, threads, k-means iterations), copy its books and its codes of the
//      training set.
//   2. kTrainRounds rounds r = 1 … R of
//      (a) codebook update by weighted least squares over all books jointly:
//              min_C Σ_i w_i ||x_i − Σ_m C_m[c_im]||²_H + λ ||C − C_old||²_F.
//          Because every book spans all dimensions, the plain least-squares solution is
//          optimal for every PSD H (the problem separates over the eigen-directions of H), so
//          it is solved in the original space through the normal equations
//              (BᵀWB + λI) C = BᵀWX + λ C_old        (B: n × M·K one-hot codes).
//          The small proximal term λ (1e-4 of the mean code count) pins codes no vector uses
//          and the constant shift between books that leaves every sum unchanged.
//          M·K <= kMaxJointCodes: Cholesky of the dense (M·K)² system in double (exact).
//          Larger (AQLM's 1×16, 2×12, …): Jacobi-preconditioned conjugate gradient applying
//          BᵀWB through the codes, at most 50 iterations from C_old: memory
//          O((M·K + n)·d), and the objective never rises above its value at C_old. With one
//          book the system is diagonal and the update is exact: each entry becomes the weighted
//          mean of its vectors (a Lloyd step); the rounds then stop early once one lowers
//          the objective by less than 0.1% (each costs a full pass over the 2^bits entries).
//      (b) re-encoding of the training set: one beam pass (above) starting from the current
//          codes, against the books plus Gaussian noise (LSQ++'s stochastic relaxation, SR-D):
//          entry noise in dimension j has standard deviation 0.5·σ_j·sqrt(1 − r/R)/M, σ_j the
//          weighted standard deviation of the data in dimension j. A vector keeps its codes
//          unless they score worse than the pass's result under the perturbed books.
//      The noise decays to zero, so the last round encodes against the final books. With
//      M·2^bits·dim parameters fitted to the training set, the noise-free alternation
//      memorises it (on clustered d = 128, n = 5000, AQ8x8: training MSE 2.8, held-out 7.1);
//      the noise trades training error for held-out error (3.5 and 6.4 at the default scale,
//      4.6 and 6.0 at four times it) and makes the training objective non-monotone. Its strength scales with M·K/n (full from 0.4) and it
//      is off below M·K/n = 0.1, where the fit is well determined and noise only hurts, and
//      for M = 1 (encoding one book is exact: there is no joint basin to escape).
//   Books of more than kMaxPlusPlusK (kmeans.h) entries are seeded at random in step 1.
//   Progress: one event per round, stage "aq round r/R", objective = weighted mean H-error of
//   the round's codes under the books they were encoded against (perturbed before round R).
#pragma once

#include <string>
#include <vector>

#include "vq/core/codebook_quantizer.h"

namespace vq {

class AdditiveQuantizer : public CodebookQuantizer {
 public:
  static constexpr size_t kDefaultBeam = 8;
  // Alternations of least-squares update and re-encoding during train().
  static constexpr int kTrainRounds = 10;
  // Coordinate-descent passes encode() runs after its first (beam residual) pass.
  static constexpr int kEncodePasses = 2;
  // Largest M·K whose codebook update factors the dense (M·K)² system of doubles (128 MiB at
  // the limit; AQ8x8 is 2048); larger configurations use conjugate gradient.
  static constexpr size_t kMaxJointCodes = 4096;
  // Widest beam accepted (the search holds B·K candidate errors per vector in flight).
  static constexpr size_t kMaxBeam = 256;

  // dim: vector dimension; books: M >= 1; bits: 1..16 per book; beam: 1 <= B <= kMaxBeam.
  // Throws vq::Error on any other value.
  AdditiveQuantizer(size_t dim, size_t books, uint8_t bits, size_t beam = kDefaultBeam);

  // "AQ<M>x<bits>", plus "b<B>" when the beam is not kDefaultBeam: "AQ8x8", "AQ2x8b16".
  std::string describe() const override;

  // x: n × dim() rows, n >= 2^bits (the RVQ initialisation runs k-means on each level).
  // AQLM's "1×16, groups of 8": make_quantizer("AQ1x16", 8), train on the n × 8 groups.
  void train(MatrixView<const float> x, const TrainOptions& options) override;
  bool supports_distributed_training() const override { return true; }
  // x: n × dim() rows. Returns n × M codes (every book has bits() bits).
  Codes encode(MatrixView<const float> x) const override;

  size_t beam() const { return beam_; }
  // Weighted mean H-error of the training set after initialisation (index 0) and after each
  // round (indices 1 … kTrainRounds, as reported by progress; fewer when one book stopped
  // early) of the last train() call on this object; the last one is under the final books.
  // Empty for a loaded quantizer.
  const std::vector<double>& round_objectives() const { return round_objectives_; }

 private:
  size_t beam_;
  std::vector<double> round_objectives_;
};

}  // namespace vq
