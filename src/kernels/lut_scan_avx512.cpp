// AVX-512 filters, the shared loop of lut_filter_simd.inc with two kinds of lookup: Blocked8 by
// byte permutes over a 256-entry table (VBMI), Packed4 by 64-byte shuffles over four books'
// 16-entry tables. lut_scan.cpp calls them only when simd_level() allows AVX-512.
#include "kernels/lut_scan.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/isa.h"

#if VQ_ISA_X86
VQ_ISA_AVX512_BEGIN
namespace vq::kernels::avx512 {

#include "kernels/lut_filter_simd.inc"

namespace {

// One step per book, for all 64 vectors of a block. The layout's slot order makes the even
// words vectors 0..31 and the odd words vectors 32..63. The book's four table registers are
// reloaded for every block: keeping them for several blocks measured slower (Zen 4), the
// permutes rather than the loads bound it.
struct Avx512Blocked8 {
  using Layout = Blocked8;
  using Vec = __m512i;
  static constexpr size_t kLookups = 1;
  static size_t steps(size_t books) { return books; }

  struct Codes {
    __m512i c;
    __mmask64 upper;  // codes >= 128: looked up in the table's upper half
  };
  static Codes codes(const uint8_t* block, size_t /*books*/, size_t m) {
    const __m512i c = _mm512_loadu_si512(block + m * kBlock8);
    return {c, _mm512_movepi8_mask(c)};
  }
  static void lookup(const uint8_t* qtable, size_t /*books*/, size_t m, const Codes& c, Vec* r) {
    const uint8_t* t = qtable + m * 256;
    // vpermi2b indexes 128 bytes with the low 7 bits; bit 7 picks the upper half's result.
    const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c.c, _mm512_loadu_si512(t + 64));
    const __m512i hi =
        _mm512_permutex2var_epi8(_mm512_loadu_si512(t + 128), c.c, _mm512_loadu_si512(t + 192));
    r[0] = _mm512_mask_blend_epi8(c.upper, lo, hi);
  }

  static uint64_t mask(const Vec* even, const Vec* odd, uint16_t threshold) {
    const __m512i thr = _mm512_set1_epi16(static_cast<short>(threshold));
    return uint64_t{_mm512_cmple_epu16_mask(even[0], thr)} |
           uint64_t{_mm512_cmple_epu16_mask(odd[0], thr)} << 32;
  }

  static __m512i add_saturating(__m512i a, __m512i b) { return _mm512_adds_epu8(a, b); }
  // As mask(): even bytes give bits 0..31, odd bytes bits 32..63.
  static uint64_t mask_saturated(const Vec* sums, uint8_t threshold) {
    const uint64_t m = _mm512_cmple_epu8_mask(sums[0], _mm512_set1_epi8(static_cast<char>(threshold)));
    return _pext_u64(m, 0x5555555555555555ULL) | _pext_u64(m, 0xaaaaaaaaaaaaaaaaULL) << 32;
  }
};

// Blocked8 with codes below 128: no code looks into the table's upper half.
struct Avx512BlockedLowHalf : Avx512Blocked8 {
  static Codes codes(const uint8_t* block, size_t /*books*/, size_t m) {
    return {_mm512_loadu_si512(block + m * kBlock8), 0};
  }
};

// Books of 7 bits: the table's lower two registers, one vpermi2b, no blend.
struct Avx512Blocked7 : Avx512BlockedLowHalf {
  static void lookup(const uint8_t* qtable, size_t /*books*/, size_t m, const Codes& c, Vec* r) {
    const uint8_t* t = qtable + m * 256;
    r[0] = _mm512_permutex2var_epi8(_mm512_loadu_si512(t), c.c, _mm512_loadu_si512(t + 64));
  }
};

// Books of up to 6 bits: a book's table is one register, looked up by one vpermb (the low six
// bits of each code index it).
struct Avx512Blocked6 : Avx512BlockedLowHalf {
  static void lookup(const uint8_t* qtable, size_t /*books*/, size_t m, const Codes& c, Vec* r) {
    // (Zero-masked: the plain intrinsic passes an undefined register that GCC 12 warns about.)
    r[0] = _mm512_maskz_permutexvar_epi8(~__mmask64{0}, c.c, _mm512_loadu_si512(qtable + m * 256));
  }
};

// One step looks up books 4p .. 4p + 3, one per 128-bit lane, codes and tables alike (the
// Packed4 block and table rows are 16 bytes per book, so four books are 64 contiguous bytes):
// r[0] for the low nibbles (vectors 0..15), r[1] for the high nibbles (vectors 16..31). Half
// the steps of the AVX2 kernel; where the padded book count is not a multiple of four, the last
// step loads two books and zeros (a zero code into an all-zero table adds nothing).
struct Avx512Packed4 {
  using Layout = Packed4;
  using Vec = __m512i;
  static constexpr size_t kLookups = 2;
  static size_t steps(size_t books) { return (books + 3) / 4; }

  struct Codes {
    __m512i low, high;  // low / high nibbles of the step's 64 bytes
  };
  static Codes codes(const uint8_t* block, size_t books, size_t p) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    // Two books left: the bytes past them belong to the next block, or to nothing.
    const __m512i c = 4 * p + 4 <= books ? _mm512_loadu_si512(block + p * 64)
                                         : _mm512_maskz_loadu_epi8(0xffffffffULL, block + p * 64);
    return {_mm512_and_si512(c, low4), _mm512_and_si512(_mm512_srli_epi16(c, 4), low4)};
  }
  static void lookup(const uint8_t* qtable, size_t books, size_t p, const Codes& c, Vec* r) {
    const __m512i t = 4 * p + 4 <= books ? _mm512_loadu_si512(qtable + p * 64)
                                         : _mm512_maskz_loadu_epi8(0xffffffffULL, qtable + p * 64);
    r[0] = _mm512_shuffle_epi8(t, c.low);
    r[1] = _mm512_shuffle_epi8(t, c.high);
  }

  // The four accumulators' lane sums by a transpose-and-add tree (6 lane shuffles for all
  // four), one compare, and the mask's bits put back in vector order.
  static uint32_t mask(const Vec* even, const Vec* odd, uint16_t threshold) {
    // Lane i of the result: the sum of the four lanes of accumulator i (even[0], odd[0] for
    // vectors 0..15, even[1], odd[1] for vectors 16..31).
    const __m512i s01 = pair_sums(even[0], odd[0]);  // [e0 lanes 0+1, 2+3, o0 lanes 0+1, 2+3]
    const __m512i s23 = pair_sums(even[1], odd[1]);
    const __m512i sums = _mm512_add_epi16(_mm512_maskz_shuffle_i64x2(0xff, s01, s23, 0x88),
                                          _mm512_maskz_shuffle_i64x2(0xff, s01, s23, 0xdd));
    // Word w of lane i: vector 2w (even lanes 0, 2) or 2w + 1 (odd lanes 1, 3), plus 16 in
    // lanes 2 and 3.
    const uint32_t m = _mm512_cmple_epu16_mask(sums, _mm512_set1_epi16(static_cast<short>(threshold)));
    const uint32_t evens = (m & 0xffu) | (m >> 8 & 0xff00u);
    const uint32_t odds = (m >> 8 & 0xffu) | (m >> 16 & 0xff00u);
    return _pdep_u32(evens, 0x55555555u) | _pdep_u32(odds, 0xaaaaaaaau);
  }

  static __m512i add_saturating(__m512i a, __m512i b) { return _mm512_adds_epu8(a, b); }
  // As mask(), on saturated byte sums: byte j of lane i of sums[0] is vector j's share of
  // books 4p + i, of sums[1] vector 16 + j's. The lanes are summed (saturating), then compared.
  static uint32_t mask_saturated(const Vec* sums, uint8_t threshold) {
    const __m512i pairs = _mm512_adds_epu8(_mm512_maskz_shuffle_i64x2(0xff, sums[0], sums[1], 0x88),  // s0: 0 2, s1: 0 2
                                           _mm512_maskz_shuffle_i64x2(0xff, sums[0], sums[1], 0xdd)); // s0: 1 3, s1: 1 3
    // Lanes [s0 0+1, s0 2+3, s1 0+1, s1 2+3] -> lane 0: vectors 0..15, lane 2: vectors 16..31.
    const __m512i total = _mm512_adds_epu8(pairs, _mm512_maskz_shuffle_i64x2(0xff, pairs, pairs, 0xb1));
    const uint64_t m = _mm512_cmple_epu8_mask(total, _mm512_set1_epi8(static_cast<char>(threshold)));
    return static_cast<uint32_t>((m & 0xffffu) | (m >> 16 & 0xffff0000u));
  }

  // [a0 + a1, a2 + a3, b0 + b1, b2 + b3] for the lanes of a and b. (The zero-masked shuffles:
  // the plain ones pass an undefined register that GCC 12 warns about.)
  static __m512i pair_sums(__m512i a, __m512i b) {
    return _mm512_add_epi16(_mm512_maskz_shuffle_i64x2(0xff, a, b, 0x88),   // a0 a2 b0 b2
                            _mm512_maskz_shuffle_i64x2(0xff, a, b, 0xdd));  // a1 a3 b1 b3
  }
};

}  // namespace

void lut4_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint32_t* masks) {
  filter_blocks<Avx512Packed4>(luts, nq, blocks, nblocks, thresholds, masks);
}

void lut8_filter(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                 const uint16_t* thresholds, uint64_t* masks) {
  // All queries of a call share one quantizer, so one table size.
  if (luts[0].entries <= 64) return filter_blocks<Avx512Blocked6>(luts, nq, blocks, nblocks, thresholds, masks);
  if (luts[0].entries <= 128) return filter_blocks<Avx512Blocked7>(luts, nq, blocks, nblocks, thresholds, masks);
  filter_blocks<Avx512Blocked8>(luts, nq, blocks, nblocks, thresholds, masks);
}

}  // namespace vq::kernels::avx512
VQ_ISA_END
#endif
