// One name grammar for quantizer configurations, used alike by the CLI, container metadata,
// tests and the Python package. Every quantizer's describe() parses back to an equal one.
//
//   spec    := family number ('x' number)* option*
//   option  := 'b' number      beam width (RVQ, GRVQ, AQ encoding)
//            | 'g' number      group size of scalar scales (dims per scale; default per-channel)
//            | 'r' number      learned rotation first, number = OPQ alternations (any family;
//                              rotated_quantizer.h)                        PQ16x8r8
//
//   VQ<bits>                    one flat codebook of 2^bits entries              VQ12
//   PQ<M>x<bits>                M sub-vectors, one codebook each                 PQ16x8
//   RVQ<L>x<bits>[b<B>]         L residual levels, beam B (default 1 = greedy)   RVQ8x8, RVQ8x8b16
//   GRVQ<G>x<L>x<bits>[b<B>]    G groups of dimensions, an RVQ in each           GRVQ2x4x8
//   AQ<M>x<bits>[b<B>]          M additive books over the whole vector, beam B (default 8)   AQ2x8
//   SQ<bits>[g<G>]              uniform integer, 2..8 bits                       SQ8, SQ4g64
//   NF4[g<G>]                   NormalFloat-4 levels                             NF4g64
//   FP8[g<G>]                   FP8 e4m3                                         FP8
//
// bits is 1..16 for codebook families, and a quantizer has at most kMaxCodebooks codebooks
// (M, L or G·L). Whitespace and case are not accepted: names are exact.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vq/core/quantizer.h"

namespace vq {

inline constexpr size_t kMaxCodebooks = 4096;

struct QuantizerSpec {
  std::string family;            // "VQ", "PQ", "RVQ", "GRVQ", "AQ", "SQ", "NF", "FP"
  std::vector<size_t> numbers;   // the 'x'-separated numbers, in order
  size_t beam = 0;               // 0: family default
  size_t group = 0;              // 0: per-channel scales
  size_t rotation = 0;           // 0: no rotation; else OPQ alternations of a learned rotation
  std::string to_string() const; // canonical form (defaults omitted)
};

// Throws vq::Error naming the offending character position on malformed input.
QuantizerSpec parse_quantizer_spec(std::string_view text);

// A fresh, untrained quantizer for vectors of dimension dim. Throws vq::Error when the spec is
// malformed or does not fit dim (e.g. PQ16 on dim 100).
std::unique_ptr<Quantizer> make_quantizer(std::string_view spec, size_t dim);

}  // namespace vq
