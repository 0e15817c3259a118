// CompressedMatrix: a linear layer's weight W (rows = out_features, cols = in_features, as
// PyTorch stores it) held as codes, and the scheme grammar that names how it was compressed.
//
// Scheme grammar (one string, used by the CLI, the safetensors metadata, Python and tests):
//
//   scheme  := aq | scalar
//   aq      := "AQ" M "x" b "d" d [ "c" C ]      e.g. AQ2x8d8, AQ1x16d8, AQ4x8d8, AQ2x8d8c4
//   scalar  := kind b "g" G                      e.g. RTN2g128, GPTQ3g128, CDQ4g64
//   kind    := "RTN" | "GPTQ" | "CDQ"
//
//   The letters agree with the quantizer specs of factory.h: "g" is a scale group there and
//   here. The old AQ spelling "AQ2x8g8r4" (g for d, r for c) still parses, and
//   deprecation_note() says so, because there g and r meant scale group and rotation.
//
//   AQ:  every row is cut into cols/d groups of d consecutive input weights; a group is the sum
//        of one entry from each of M codebooks of 2^b entries (each entry d floats), times the
//        row's scale:  Ŵ[r, j·d + t] = s_r · Σ_m C_{ρ(r),m}[code(r, j, m)][t].
//        "cC" (JLCM-style row clustering): the rows are clustered into C groups of similarly
//        distributed rows and each group ρ gets its own codebooks; rows are stored group by
//        group and the permutation is kept (row_order).  Without "c", C = 1.
//   RTN / GPTQ / CDQ: b-bit integers with one scale and zero point per row and group of G
//        consecutive input weights:  Ŵ[r, c] = scale[r, c/G] · (q[r, c] − zero[r, c/G]).
//        RTN rounds to nearest (min/max grid); GPTQ quantizes columns in order and moves each
//        column's error onto the columns not yet quantized (through H⁻¹, Frantar et al. 2022);
//        CDQ starts from GPTQ and runs greedy coordinate descent on the same grid (CDQuant,
//        Nair & Suggala 2024).
//
// Every scheme minimises, row by row, (w − ŵ)ᵀ H (w − ŵ) with H = XᵀX/n from calibration
// inputs X (identity without calibration): see compress.h.
//
// Bits per weight count everything that must be stored: codes, codebooks (fp16), scales (fp16),
// zero points (b bits) and the row permutation (ceil(log2 rows) bits per row).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::weights {

enum class SchemeKind : uint8_t { kAQ, kRTN, kGPTQ, kCDQ };

struct Scheme {
  SchemeKind kind = SchemeKind::kAQ;
  uint32_t books = 0;       // AQ: M (1..8); scalar: 0
  uint32_t bits = 0;        // AQ: bits per code (1..16); scalar: bits per weight (2..8)
  uint32_t group = 0;       // AQ: d, input weights per code; scalar: G, weights per scale
  uint32_t row_groups = 1;  // AQ: C row clusters (1 = none); scalar: 1

  // Throws vq::Error naming the string and what is wrong ("AQ2x8" lacks "d<dim>", ...).
  static Scheme parse(const std::string& text);
  std::string str() const;  // the canonical string; parse(str()) == *this
  // Non-empty for a valid scheme in the old AQ spelling: the message a tool shows its user
  // (the CLI on stderr, Python as a DeprecationWarning). Files keep reading silently.
  static std::string deprecation_note(const std::string& text);
  bool is_aq() const { return kind == SchemeKind::kAQ; }
  // Throws unless a rows × cols matrix can be compressed with this scheme (cols divisible by
  // the group size, enough rows per row group, ...).
  void check_shape(size_t rows, size_t cols) const;
  bool operator==(const Scheme&) const = default;
};

// A compressed rows × cols matrix. Buffers (all row-major, rows in STORED order, see row_order):
//
// AQ (scheme.is_aq()):
//   codes       rows × (cols/g) × M codes, one byte each when b <= 8, else two bytes (little-
//               endian uint16): code_bytes() bytes per code, cols/g·M codes per row.
//   codebooks   R × M × 2^b × g floats (each exactly representable in fp16).
//   scales      rows floats (fp16-representable): one per output channel.
//   group_begin R + 1 stored-row offsets: row group ρ is stored rows [group_begin[ρ], group_begin[ρ+1]).
// scalar:
//   codes       rows × ceil(cols·b/8) bytes: each row a little-endian bit stream of cols b-bit
//               integers, value c at stream bits [c·b, c·b + b) (the core's bitpack layout).
//   scales      rows × (cols/G) floats (fp16-representable).
//   zeros       rows × (cols/G) integers in [0, 2^b).
//   codebooks   empty; group_begin = {0, rows}.
// Both:
//   row_order   empty (stored row i is output row i) or a permutation of 0..rows-1: stored row
//               i is output row row_order[i].
struct CompressedMatrix {
  Scheme scheme;
  size_t rows = 0, cols = 0;
  std::vector<uint8_t> codes;
  std::vector<float> codebooks;
  std::vector<float> scales;
  std::vector<uint8_t> zeros;
  std::vector<uint32_t> group_begin;
  std::vector<uint32_t> row_order;

  size_t code_bytes() const { return scheme.is_aq() && scheme.bits > 8 ? 2 : 1; }
  // Bytes of codes per stored row.
  size_t row_code_bytes() const;
  size_t codebook_floats() const;  // M × 2^b × g (one row group's codebooks)
  // Code of stored row r, group j, book m (AQ only).
  uint32_t aq_code(size_t r, size_t j, size_t m) const;

  // Σ stored bits / (rows·cols), counting codes, codebooks, scales, zeros and row_order.
  double bits_per_weight() const;
  // Ŵ, rows × cols in OUTPUT row order (the dense matrix the codes stand for).
  Matrix decode() const;
  // Throws vq::Error when buffer sizes, code ranges, row_order or group_begin are inconsistent:
  // what readers call before handing a matrix to the kernels.
  void validate() const;
};

}  // namespace vq::weights
