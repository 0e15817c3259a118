// (internal API for domains) Matrix-vector kernels for compressed weights (include/vq/weights/gemv.h), straight
// from codes.
//
// Additive codes (AQLM's CPU approach): for a batch of B inputs, one lookup table per position
// p = j·M + m (input group j, book m) holds every codebook entry's dot product with the group's
// slice of each input,  lut[p][k][b] = C_m[k] · x_b[j·g : j·g + g],  and a row's output is a sum
// of table entries picked by its codes, Σ_p lut[p][code(r, p)] (the row scale is applied by the
// caller).
//
// Kernel-private code layout (prepared once by GemvKernel, src/weights/gemv.cpp): stored rows are
// cut into blocks of kRowBlock = 64 (a block never straddles a row group; the last block of a
// group is padded with code 0), and within a block the codes of one position for all 64 rows
// are consecutive: position p of the kernel's tile at codes + p·64 (two bytes, little-endian,
// per code when b > 8). The caller walks tiles of a few positions whose tables fit L1 and
// streams every row block of its share through each tile, so a pick is an L1 hit; one kernel
// call is one (block, tile) pair and adds to the block's 64 accumulators.
//
// Two table precisions:
//   float  exact tables; the SIMD kernels gather 16 (8) rows' picks at once and sum over
//          positions in the reference's order per row: bit-identical to the scalar reference.
//   int8   per tile, every table is shifted by its minimum and quantised to uint8 with one of
//          two scales:  q[p][k] = round((lut[p][k] − min_p) / s_p).  Tables wider than a
//          threshold τ (the "wide" ones: input groups with outlier channels) share
//          s_w = max_p range_p / 255, the others s = τ / 255; τ is the table range that
//          minimises Σ_p s_p² (the picks' summed rounding variance), so one outlier table no
//          longer coarsens the other tables of its tile. The kernel sums each class's uint8
//          picks exactly in 16-bit integers (a tile has at most 64 positions) and adds
//          s · Σ_narrow + s_w · Σ_wide to the float accumulator; Σ_p min_p is the same for every
//          row and is added by the caller. Integer sums are exact, so every SIMD level returns
//          the reference's bits; the error against float tables is at most s_p/2 per pick.
//          AVX-512 VBMI: a 256-entry uint8 table is four registers, two vpermi2b + a blend
//          look up 64 rows at once.
//
// Scalar codes: fused unpack-and-dot, row-major bit streams as stored (compressed_matrix.h):
//   y_r = Σ_groups scale · (Σ_c q_c x_c − zero · Σ_c x_c).  The SIMD kernels unpack 16 (8)
//   codes per shuffle + variable shift and accumulate per group, so they differ from the scalar
//   reference by float re-association only (tests bound the gap).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/lut_scan.h"

namespace vq::kernels {

inline constexpr size_t kMaxGemvBatch = 16;
inline constexpr size_t kRowBlock = 64;
// Positions per int8 tile at most: the bits of the wide-table mask (16-bit sums of 64 uint8
// picks cannot overflow).
inline constexpr size_t kMaxI8TilePositions = 64;

// One (row block, tile) pair with float tables.
struct AqFloatArgs {
  const float* lut = nullptr;      // positions × K × batch floats (lut[(p·K + k)·B + b])
  size_t positions = 0;            // in this tile
  size_t entries = 0;              // K = 2^b
  size_t batch = 1;                // B, 1..kMaxGemvBatch
  const uint8_t* codes = nullptr;  // the tile's codes in the packed layout: position p at codes + p·64·code_bytes
  float* acc = nullptr;            // 64 × batch: acc[i·B + b] += Σ_p lut[p][code(i, p)][b]
};
void aq_float_u8(const AqFloatArgs& a);
void aq_float_u8_ref(const AqFloatArgs& a);
void aq_float_u16_ref(const AqFloatArgs& a);  // two-byte codes (b > 8): scalar only

// One (row block, tile) pair with uint8 tables, for one input of the batch.
struct AqInt8Args {
  const uint8_t* lut = nullptr;    // positions × stride bytes: table p at lut + p·stride
  size_t stride = 256;             // 64, 128 or 256: the table width, >= K
  size_t positions = 0;            // <= kMaxI8TilePositions
  const uint8_t* codes = nullptr;  // as in AqFloatArgs (one byte per code)
  float scale = 0.f;               // s of the tile's narrow tables
  float wide_scale = 0.f;          // s_w of its wide tables
  uint64_t wide = 0;               // bit p set: table p is wide
  float* acc = nullptr;            // 64 floats: acc[i] += s · Σ_narrow p lut[p][code(i, p)], then
                                   //            acc[i] += s_w · Σ_wide p (two fused multiply-adds)
};
void aq_int8(const AqInt8Args& a);
void aq_int8_ref(const AqInt8Args& a);

// A quantised tile: the two scales (1 where a class's tables are constant), the wide tables' mask
// and Σ_q min_q (summed in table order).
struct Int8Tile {
  float scale = 1.f, wide_scale = 1.f, min_sum = 0.f;
  uint64_t wide = 0;
};
// The split of a tile whose np tables have these ranges (max − min): the threshold τ minimising
// (#tables wider than τ) · max_range² + (#the others) · τ², over τ ∈ the ranges (ties: the larger τ).
// Fills scale, wide_scale and wide.
Int8Tile choose_tile_scales(const float* ranges, size_t np);
// Quantises one tile's np float tables of K entries (tab: np × K) to uint8 tables dst[q·stride + k]
// (the scheme above; rounding half up).
Int8Tile quantize_tile_ref(const float* tab, size_t np, size_t K, uint8_t* dst, size_t stride);

// Builds one int8 tile for one input and quantises it: the float tables of positions
// p0 .. p0 + np − 1 (p = j·M + m),  tab[q][k] = Σ_t trans[(m·g + t)·K + k] · x[j·g + t]  summed by
// fused multiply-adds in t order from 0, then quantize_tile_ref's bytes, scale and Σ minima.
// The AVX-512 kernel keeps a table (K/16 registers) in registers over the g inputs, takes its
// minimum and maximum there and stores it once into tab (np × K scratch, L1-sized), which the
// quantising pass re-reads; every level returns the reference's bits.
struct Int8TileBuild {
  const float* trans = nullptr;  // the row group's codebooks transposed: M × g × K
  const float* x = nullptr;      // one input (cols floats)
  size_t books = 1, group = 1, entries = 0;  // M, g, K
  size_t p0 = 0, positions = 0;  // np <= kMaxI8TilePositions
  float* tab = nullptr;          // scratch, positions × K floats
  uint8_t* dst = nullptr;        // positions × stride bytes
  size_t stride = 256;
};
Int8Tile build_int8_tile(const Int8TileBuild& a);
Int8Tile build_int8_tile_ref(const Int8TileBuild& a);

struct ScalarGemvArgs {
  const float* x = nullptr;        // batch × cols inputs, row-major
  const float* group_sums = nullptr;  // batch × (cols/G): Σ of each input over each group
  size_t cols = 0, group = 0, bits = 0, batch = 1;
  const uint8_t* codes = nullptr;  // rows × row_bytes bit streams (compressed_matrix.h), readable
                                   // for 16 bytes past the last row (the SIMD kernels over-read)
  size_t row_bytes = 0;
  const float* scales = nullptr;   // rows × (cols/G)
  const uint8_t* zeros = nullptr;  // rows × (cols/G)
  size_t rows = 0;
  float* out = nullptr;            // rows × batch: out[r·B + b] = (Ŵ x_b)[r]
};
inline constexpr size_t kScalarCodePadding = 16;
void scalar_gemv(const ScalarGemvArgs& a);
void scalar_gemv_ref(const ScalarGemvArgs& a);

// The SIMD kernels (weights_gemv_avx2.cpp, weights_gemv_avx512.cpp), called by the functions
// above when simd_level() allows.
namespace avx2 {
void aq_float_u8(const AqFloatArgs& a);
void scalar_gemv(const ScalarGemvArgs& a);  // group % 8 == 0
}  // namespace avx2
namespace avx512 {
void aq_float_u8(const AqFloatArgs& a);
void aq_int8(const AqInt8Args& a);
Int8Tile build_int8_tile(const Int8TileBuild& a);  // K % 16 == 0, K <= 256
void scalar_gemv(const ScalarGemvArgs& a);         // group % 16 == 0
}  // namespace avx512

}  // namespace vq::kernels
