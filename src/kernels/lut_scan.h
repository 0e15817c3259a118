// (internal API for domains) Lookup-table scan kernels: asymmetric distances from codes, without decoding.
//
// Float-table scans compute, for every code row i,
//
//     out[i] = bias + values[offsets[0] + c_i,0] + … + values[offsets[M-1] + c_i,M-1] (+ norms[i])
//
// always summed in this order (bias first, books in code order, norm last) so that every kernel
// and every layout produces bit-identical floats: search results then do not depend on the SIMD
// level, the layout or the thread count.
//
// The 4-bit scan works on a blocked, nibble-packed layout (the FAISS fast-scan / ScaNN LUT16
// idea) with tables quantized to uint8: sixteen entries of one book fit one 128-bit register
// lane, so a byte shuffle looks up 32 codes at once. Its sums are approximate; it only filters
// (a bit per vector: "can this vector still be in the top-k?") and the caller re-scores the
// survivors with the float tables.
//
// The 8-bit filter does the same for 8-bit codes on a blocked, book-major layout: a 256-entry
// uint8 table is four 64-byte registers, and two AVX-512 VBMI byte permutes (vpermi2b over the
// low 7 bits) plus a blend on bit 7 look up 64 codes at once.
//
// SIMD level: simd_level() (vq/simd.h), chosen once per process; tests run the levels in
// separate processes (VQ_SIMD); the _ref functions are the scalar references.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vq/simd.h"

namespace vq::kernels {

// Float tables of one query. values: offsets[M] floats; offsets: M + 1 entries.
struct LutScanArgs {
  const float* values = nullptr;
  const uint32_t* offsets = nullptr;
  size_t books = 0;              // M
  float bias = 0.f;
  const float* norms = nullptr;  // null, or one per scanned row (indexed like out)
};

// ---- float tables over unpacked codes -------------------------------------------------------

// codes: n × M uint8 row-major (every book has <= 8 bits). out: n floats.
void lut_scan_u8(const LutScanArgs& args, const uint8_t* codes, size_t n, float* out);
void lut_scan_u8_ref(const LutScanArgs& args, const uint8_t* codes, size_t n, float* out);

// Several queries over the same codes (each code row is read once for all of them): for
// q < nargs, out[q][i] = the lut_scan_u8 result of args[q]. Every args[q] has the same books
// and offsets (tables of one quantizer); nargs <= kMaxQueriesPerScan.
inline constexpr size_t kMaxQueriesPerScan = 4;
void lut_scan_u8_multi(const LutScanArgs* args, size_t nargs, const uint8_t* codes, size_t n,
                       float* const* out);

// codes: n × M uint16 row-major (any widths up to 16 bits). out: n floats.
void lut_scan_u16(const LutScanArgs& args, const uint16_t* codes, size_t n, float* out);

// ---- 4-bit packed layout ---------------------------------------------------------------------
//
// Vectors are grouped in blocks of kBlock4 = 32. A block stores books_padded × 16 bytes (books
// padded to an even count with an all-zero book); byte j (0..15) of book m holds vector j's
// code in its low nibble and vector j + 16's code in its high nibble:
//
//     block[m * 16 + j] = code(j, m) | code(j + 16, m) << 4
//
// i.e. 4 bits per code and per vector, plus padding for the last partial block.
inline constexpr size_t kBlock4 = 32;
inline size_t packed4_books(size_t books) { return (books + 1) & ~size_t{1}; }
inline size_t packed4_block_bytes(size_t books) { return packed4_books(books) * 16; }

// Code of vector j (0..31) in book m of one block.
inline uint8_t packed4_code(const uint8_t* block, size_t m, size_t j) {
  const uint8_t b = block[m * 16 + (j & 15)];
  return j < 16 ? (b & 0x0f) : (b >> 4);
}
inline void packed4_set(uint8_t* block, size_t m, size_t j, uint8_t code) {
  uint8_t& b = block[m * 16 + (j & 15)];
  b = j < 16 ? uint8_t((b & 0xf0) | code) : uint8_t((b & 0x0f) | (code << 4));
}

// ---- 8-bit blocked layout --------------------------------------------------------------------
//
// Vectors are grouped in blocks of kBlock8 = 64. A block stores M × 64 bytes, book after book;
// within book m, vector j < 32 sits at byte 2j and vector j + 32 at byte 2j + 1:
//
//     block[m * 64 + blocked8_slot(j)] = code(j, m)
//
// so that the even (odd) bytes of the looked-up entries, summed as uint16 words, are vectors
// 0..31 (32..63) in order. The last partial block is padded with code 0.
inline constexpr size_t kBlock8 = 64;
inline size_t blocked8_block_bytes(size_t books) { return books * kBlock8; }
inline size_t blocked8_slot(size_t j) { return j < 32 ? 2 * j : 2 * (j - 32) + 1; }
inline uint8_t blocked8_code(const uint8_t* block, size_t m, size_t j) {
  return block[m * kBlock8 + blocked8_slot(j)];
}
inline void blocked8_set(uint8_t* block, size_t m, size_t j, uint8_t code) {
  block[m * kBlock8 + blocked8_slot(j)] = code;
}

// Most books a Blocked8 filter takes: 256 entries of at most 255 still sum within uint16.
inline constexpr size_t kMaxBooks8 = 256;

// ---- Filters over the blocked layouts ----------------------------------------------------------
//
// The two layouts as types, so that each mechanism (filter, its reference, the exact score) is
// one template over them.
struct Packed4 {
  static constexpr size_t kBlock = kBlock4, kEntries = 16;
  using Mask = uint32_t;  // bit j: vector j of a block
  static size_t table_rows(size_t books) { return packed4_books(books); }  // padded to even
  static size_t block_bytes(size_t books) { return packed4_block_bytes(books); }
  static uint8_t code(const uint8_t* block, size_t m, size_t j) { return packed4_code(block, m, j); }
};
struct Blocked8 {
  static constexpr size_t kBlock = kBlock8, kEntries = 256;
  using Mask = uint64_t;
  static size_t table_rows(size_t books) { return books; }
  static size_t block_bytes(size_t books) { return blocked8_block_bytes(books); }
  static uint8_t code(const uint8_t* block, size_t m, size_t j) { return blocked8_code(block, m, j); }
};

// Quantized tables of one query: books × L::kEntries uint8 entries (row m: book m's entries,
// then zeros). books: the rows the blocks hold, L::table_rows(M) for M books (Packed4's padding
// book is all zero). Sums of the entries fit uint16 when books <= 256.
struct QuantizedLut {
  const uint8_t* qtable = nullptr;
  size_t books = 0;
  // Entries per book the codes can reach (every code is below it). Blocked8 tables of at most
  // 64 entries (books of up to 6 bits) are looked up with one AVX-512 VBMI `vpermb` per book,
  // of at most 128 (7 bits) with one `vpermi2b`, instead of two `vpermi2b` and a blend; the
  // same sums.
  size_t entries = 256;
};

// For each of nblocks blocks b (blocks: nblocks × L::block_bytes(books) contiguous): bit j of
// masks[b] is set iff the uint16 sum of vector j's quantized entries is <= thresholds[b].
// Packed4 runs the AVX2 kernel at level kAvx2 and the AVX-512 one at kAvx512, Blocked8 the
// AVX-512 VBMI kernel at kAvx512 (CodeIndex uses that layout only there: below it the float
// scan over row-major codes is faster); the reference otherwise.
template <class L>
void filter(const QuantizedLut& args, const uint8_t* blocks, size_t nblocks,
            const uint16_t* thresholds, typename L::Mask* masks);
// The same for nq <= kMaxFilterQueries queries' tables (the same books) over the same blocks in
// one pass, each block's codes read once for all of them: thresholds and masks are nq × nblocks,
// query-major (masks[q · nblocks + b] is query q's mask of block b).
inline constexpr size_t kMaxFilterQueries = 4;
template <class L>
void filter_queries(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                    const uint16_t* thresholds, typename L::Mask* masks);
template <class L>
void filter_ref(const QuantizedLut& args, const uint8_t* blocks, size_t nblocks,
                const uint16_t* thresholds, typename L::Mask* masks);
// The uint16 sums themselves (nblocks × L::kBlock, vector order), reference only: tests and
// error analysis.
template <class L>
void sums_ref(const QuantizedLut& args, const uint8_t* blocks, size_t nblocks, uint16_t* sums);

// Exact float scores of vectors ids[0, n) of a run of blocks (vector id sits in block
// id / L::kBlock at position id % L::kBlock), in the summation order above: out[i] is vector
// ids[i]'s score. args.norms, if set, is indexed by id (the caller offsets it to the run).
// Eight vectors are summed at once, so that their independent add chains hide the load latency
// one chain is bound by.
template <class L>
void exact_scores(const LutScanArgs& args, const uint8_t* blocks, const uint32_t* ids, size_t n, float* out);

// The SIMD filters, called by filter<L> when simd_level() allows: Packed4 in AVX2
// (lut_scan_avx2.cpp) and AVX-512 (lut_scan_avx512.cpp), Blocked8 in AVX-512 VBMI.
namespace avx2 {
void lut4_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint32_t* masks);
}  // namespace avx2
namespace avx512 {
void lut4_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint32_t* masks);
void lut8_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint64_t* masks);
}  // namespace avx512

}  // namespace vq::kernels
