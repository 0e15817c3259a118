// compress(): a linear layer's weight matrix to a CompressedMatrix under calibration H.
//
// Objective (every scheme, row by row): minimise (w − ŵ)ᵀ H (w − ŵ), w a row of W (one output
// channel, cols input weights), H = XᵀX/n for calibration inputs X (n tokens × cols), so that
// Σ_rows of it is ‖(W − Ŵ)Xᵀ‖²/n, the change in the layer's output. Without calibration H = I.
//
// Dampening: H + damp·mean(diag H)·I (GPTQ's rule, default 1 %). Inputs that are never active
// (H_ii = 0) get H_ii = 1 so their weights, which cannot matter, do not make H singular. A
// non-symmetric, non-finite or (after dampening) not positive definite H is rejected with a
// vq::Error that says so and names the dampening used; raising damp is the remedy for a
// numerically singular H.
//
// How H enters (all schemes share one mechanism, GPTQ's): with H⁻¹ = UᵀU (U upper triangular),
// input columns are quantized one block (1 column for scalar codes, g columns for AQ) at a time;
// the block's error e = (w_B − ŵ_B)·U_BB⁻¹ is moved onto the columns not yet quantized,
// W_rest −= e·U_B,rest. The cost a block's choice adds is then exactly ‖e‖², so AQ encodes each
// g-column block in the whitened space x ↦ x·U_BB⁻¹ (beam search then coordinate descent over
// the M books), and GPTQ rounds to the nearest grid point. The blocks go in act order (GPTQ's
// desc_act, the default): largest diag(H) first, on H permuted to match, so the inputs that
// matter most are quantized while the rest can still absorb their error; scalar grids are then
// fitted on the weights up front (static groups). act_order = false sweeps left to right and
// fits each grid when its group starts. CDQ then improves GPTQ's integers by greedy coordinate
// descent on the full (w − ŵ)ᵀH(w − ŵ).
//
// AQ codebooks start as the core AdditiveQuantizer's, learned per row group on the scaled row
// groups (weights: the row's scale² times the group's mean H diagonal); then, as in AQLM, codes
// and books alternate for aq_rounds rounds: the sweep encodes every row with the books fixed,
// coordinate descent refines those codes under the full H (aq_refine_passes), then books and
// row scales are re-fitted to the codes under the full H (fp16-rounded).
#pragma once

#include <optional>

#include "vq/core/progress.h"
#include "vq/types.h"
#include "vq/weights/compressed_matrix.h"

namespace vq::weights {

struct CompressOptions {
  float damp = 0.01f;             // relative dampening of H (see above); >= 0
  uint64_t seed = 1234;
  int threads = 0;                // 0: OpenMP default
  size_t aq_beam = 8;             // beam width of the AQ encoder's first (residual) search
  int aq_passes = 3;              // coordinate-descent passes after it (stops early when stable)
  size_t aq_train_vectors = 65536;// groups sampled to train each row group's codebooks
  int aq_rounds = 2;              // AQ: rounds of (encode the rows, then update the codebooks under H)
  int aq_codebook_iterations = 16;// AQ: conjugate-gradient steps per codebook update (0: no update)
  int aq_refine_passes = 3;       // AQ: passes of coordinate descent on the codes under the full H
                                  // after each sweep (CDQuant for additive codes; 0: none)
  int cdq_sweeps = 1;             // CDQ: updates per row = sweeps · cols (stops when none helps)
  bool act_order = true;          // GPTQ's "desc_act": sweep the columns (AQ: groups) by diag(H), largest
                                  // first; scalar grids are then fitted up front (static groups)
  ProgressCallback progress;      // stage "encode" per block of columns
};

// H for a layer: XᵀX / n from inputs x (n × cols, rows = tokens); n >= 1, finite values.
std::vector<float> hessian_from_inputs(MatrixView<const float> x);

// w: rows × cols (PyTorch layout: out_features × in_features), finite.
// h: empty (identity) or cols × cols symmetric PSD (see dampening above).
CompressedMatrix compress(MatrixView<const float> w, Span<const float> h, const Scheme& scheme,
                          const CompressOptions& options = {});
inline CompressedMatrix compress(MatrixView<const float> w, Span<const float> h,
                                 const std::string& scheme, const CompressOptions& options = {}) {
  return compress(w, h, Scheme::parse(scheme), options);
}

// Σ_rows (w − ŵ)ᵀ H (w − ŵ) / Σ_rows wᵀ H w for two rows × cols matrices (h empty: identity):
// with H = XᵀX/n this is ‖(W − Ŵ)Xᵀ‖² / ‖WXᵀ‖², the squared relative output error.
double relative_error(MatrixView<const float> w, MatrixView<const float> w_hat, Span<const float> h);

}  // namespace vq::weights
