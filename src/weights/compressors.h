// (private) The compressors behind compress(): scalar codes (RTN / GPTQ / CDQ) and additive
// codes (AQ with optional row grouping), and the GPTQ column sweep they share.
#pragma once

#include <functional>

#include "vq/weights/compress.h"
#include "weights/hessian.h"

namespace vq::weights::detail {

// The GPTQ sweep over the columns of w (rows × cols, updated in place) in blocks of `block`
// columns (cols % block == 0). For each block B (left to right) quantize(col0, w_rows) is called
// with the block's columns of every row in w as they stand (earlier errors already fed back) and
// must overwrite them with their quantized values ŵ_B; the sweep then feeds the block's error
// e = (w_B − ŵ_B)·U_BB⁻¹ forward: W_rest −= e·U_B,rest. Rows are independent: the sweep runs
// over chunks of rows in parallel, and quantize is called once per (chunk, block) with the
// chunk's rows (a view into w) — it must be thread-safe.
using BlockQuantizer = std::function<void(size_t col0, MatrixView<float> block_rows, size_t row0)>;
// The deferred-feedback window is a multiple of `align` (itself a multiple of block) of at least
// 128 columns: a quantizer that reads ahead within an aligned span (GPTQ's group parameters)
// then sees those columns with all earlier feedback applied.
void gptq_sweep(MatrixView<float> w, const PreparedHessian& h, size_t block, size_t align, int threads,
                const BlockQuantizer& quantize, const ProgressCallback& progress);

CompressedMatrix compress_scalar(MatrixView<const float> w, const PreparedHessian& h, const Scheme& s,
                                 const CompressOptions& o);
CompressedMatrix compress_aq(MatrixView<const float> w, const PreparedHessian& h, const Scheme& s,
                             const CompressOptions& o);

// fp16 rounding: compressed values are stored as fp16, so they are rounded before use.
float round_fp16(float x);

}  // namespace vq::weights::detail
