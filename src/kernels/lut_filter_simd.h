// (private) The loop both SIMD quantized-table filters share (lut_scan_avx2.cpp: Packed4,
// lut_scan_avx512.cpp: Blocked8). Per block: look up every book's uint8 entries for all the
// block's vectors at once, accumulate them as uint16 without unpacking bytes, compare the sums
// with the block's threshold.
//
// Accumulation (the FAISS fast-scan trick): a looked-up register r holds one byte per vector;
// even += r as 16-bit words (= even byte + 256 · odd byte, mod 2^16) and odd += r >> 8. After
// the last book, even − 256 · odd is the even bytes' sum, and odd the odd bytes' sum; both are
// exact while they fit uint16 (<= 256 books of entries <= 255).
//
// The word arithmetic is written with GCC vector extensions on 16-bit lanes, so each ISA
// compiles it to its own add/sub/shift instructions and only lookup and compare differ.
// Kernel, one per ISA and layout (defined in the ISA's translation unit), supplies:
//   Layout                       Packed4 or Blocked8 (lut_scan.h)
//   Vec, kLookups                the register type (an intrinsics vector); registers per step
//   steps(books)                 lookup steps per block
//   lookup(qtable, block, s, r)  step s's entries for every vector of the block -> r[0, kLookups)
//   mask(even, odd, threshold)   Layout::Mask, bit j set iff vector j's sum <= threshold
// The ISA translation unit includes this header under its `#pragma GCC target`, so that the
// loop is compiled for that ISA (and only there) with the kernel's intrinsics inlined.
#pragma once

#include "kernels/lut_scan.h"

namespace vq::kernels::detail {

// kBytes / 2 uint16 lanes (a GCC vector type, as wide as the kernel's register).
template <size_t kBytes>
struct WordsOf {
  typedef uint16_t type __attribute__((vector_size(kBytes)));
};

template <class Kernel>
void filter_blocks(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks,
                   const uint16_t* thresholds, typename Kernel::Layout::Mask* masks) {
  using Vec = typename Kernel::Vec;
  using Words = typename WordsOf<sizeof(Vec)>::type;
  constexpr size_t kN = Kernel::kLookups;
  const size_t block_bytes = Kernel::Layout::block_bytes(a.books);
  const size_t steps = Kernel::steps(a.books);
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * block_bytes;
    Words even[kN] = {}, odd[kN] = {};
    for (size_t s = 0; s < steps; ++s) {
      Vec r[kN];
      Kernel::lookup(a.qtable, block, s, r);
      for (size_t k = 0; k < kN; ++k) {
        const Words w = (Words)r[k];
        even[k] += w;
        odd[k] += w >> 8;
      }
    }
    Vec sums_even[kN], sums_odd[kN];
    for (size_t k = 0; k < kN; ++k) {
      sums_even[k] = (Vec)(even[k] - (odd[k] << 8));
      sums_odd[k] = (Vec)odd[k];
    }
    masks[b] = Kernel::mask(sums_even, sums_odd, thresholds[b]);
  }
}

}  // namespace vq::kernels::detail
