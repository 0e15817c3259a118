#include "kernels/lut_scan.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "kernels/isa.h"

namespace vq::kernels {

namespace {

// bias + Σ_m values[offsets[m] + code(m)] (+ norms[norm_index]): the one summation order every
// float scan keeps (lut_scan.h).
template <class CodeOf>
float table_sum(const LutScanArgs& a, CodeOf code, size_t norm_index) {
  float s = a.bias;
  for (size_t m = 0; m < a.books; ++m) s += a.values[a.offsets[m] + code(m)];
  return a.norms ? s + a.norms[norm_index] : s;
}

// Rows [begin, end) of row-major codes of any width (M = a.books per row), one at a time.
template <class Code>
void scan_rows(const LutScanArgs& a, const Code* codes, size_t begin, size_t end, float* out) {
  const size_t M = a.books;
  for (size_t i = begin; i < end; ++i)
    out[i] = table_sum(a, [&](size_t m) { return codes[i * M + m]; }, i);
}

// Rows [0, n) of n × M uint8 codes, 4 rows per step. Each row is still summed in book order,
// so the result equals the reference bit for bit; the four independent chains hide the
// load → add latency that bounds the one-row loop.
template <size_t kBooks>
void scan_u8_unrolled(const LutScanArgs& a, const uint8_t* codes, size_t books, size_t n,
                      float* out) {
  const size_t M = kBooks ? kBooks : books;
  const float* tab[256];
  for (size_t m = 0; m < M; ++m) tab[m] = a.values + a.offsets[m];
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint8_t* c = codes + i * M;
    float s0 = a.bias, s1 = a.bias, s2 = a.bias, s3 = a.bias;
    for (size_t m = 0; m < M; ++m) {
      const float* t = tab[m];
      s0 += t[c[m]];
      s1 += t[c[M + m]];
      s2 += t[c[2 * M + m]];
      s3 += t[c[3 * M + m]];
    }
    if (a.norms) {
      s0 += a.norms[i];
      s1 += a.norms[i + 1];
      s2 += a.norms[i + 2];
      s3 += a.norms[i + 3];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  scan_rows(a, codes, i, n, out);
}

// Four queries at once over tables laid out book after book, 256 entries each (every book
// 8 bits): one load of a code serves four table lookups, and the constant book stride folds
// into the addressing of each load. Each query's sum keeps the book order of the reference.
template <size_t kBooks>
void scan_u8_four_queries(const LutScanArgs* a, const uint8_t* codes, size_t books, size_t n,
                          float* const* out) {
  const size_t M = kBooks ? kBooks : books;
  const float *t0 = a[0].values, *t1 = a[1].values, *t2 = a[2].values, *t3 = a[3].values;
  const float* norms = a[0].norms;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = codes + i * M;
    float s0 = a[0].bias, s1 = a[1].bias, s2 = a[2].bias, s3 = a[3].bias;
    for (size_t m = 0; m < M; ++m) {
      const size_t e = m * 256 + c[m];
      s0 += t0[e];
      s1 += t1[e];
      s2 += t2[e];
      s3 += t3[e];
    }
    if (norms) {
      s0 += norms[i];
      s1 += norms[i];
      s2 += norms[i];
      s3 += norms[i];
    }
    out[0][i] = s0;
    out[1][i] = s1;
    out[2][i] = s2;
    out[3][i] = s3;
  }
}

bool uniform_256(const LutScanArgs& a) {
  for (size_t m = 0; m <= a.books; ++m)
    if (a.offsets[m] != 256 * m) return false;
  return true;
}

}  // namespace

void lut_scan_u8_ref(const LutScanArgs& a, const uint8_t* codes, size_t n, float* out) {
  scan_rows(a, codes, 0, n, out);
}

void lut_scan_u8(const LutScanArgs& a, const uint8_t* codes, size_t n, float* out) {
  if (simd_level() == SimdLevel::kScalar || a.books > 256) return lut_scan_u8_ref(a, codes, n, out);
  // Fixed book counts let the compiler unroll the book loop completely (16 and 32 books are
  // the common PQ configurations for 64..256-dimensional data).
  switch (a.books) {
    case 8: return scan_u8_unrolled<8>(a, codes, 8, n, out);
    case 16: return scan_u8_unrolled<16>(a, codes, 16, n, out);
    case 32: return scan_u8_unrolled<32>(a, codes, 32, n, out);
    default: return scan_u8_unrolled<0>(a, codes, a.books, n, out);
  }
}

void lut_scan_u8_multi(const LutScanArgs* args, size_t nargs, const uint8_t* codes, size_t n,
                       float* const* out) {
  if (nargs == kMaxQueriesPerScan && simd_level() != SimdLevel::kScalar && uniform_256(args[0])) {
    switch (args[0].books) {
      case 8: return scan_u8_four_queries<8>(args, codes, 8, n, out);
      case 16: return scan_u8_four_queries<16>(args, codes, 16, n, out);
      case 32: return scan_u8_four_queries<32>(args, codes, 32, n, out);
      default: return scan_u8_four_queries<0>(args, codes, args[0].books, n, out);
    }
  }
  for (size_t q = 0; q < nargs; ++q) lut_scan_u8(args[q], codes, n, out[q]);
}

void lut_scan_u16(const LutScanArgs& a, const uint16_t* codes, size_t n, float* out) {
  scan_rows(a, codes, 0, n, out);
}

template <class L>
void sums_ref(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks, uint16_t* sums) {
  for (size_t b = 0; b < nblocks; ++b) {
    const uint8_t* block = blocks + b * L::block_bytes(a.books);
    for (size_t j = 0; j < L::kBlock; ++j) {
      uint32_t s = 0;
      for (size_t m = 0; m < a.books; ++m) s += a.qtable[m * L::kEntries + L::code(block, m, j)];
      sums[b * L::kBlock + j] = static_cast<uint16_t>(s);
    }
  }
}

template <class L>
void filter_ref(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks,
                const uint16_t* thresholds, typename L::Mask* masks) {
  uint16_t sums[L::kBlock];
  for (size_t b = 0; b < nblocks; ++b) {
    sums_ref<L>(a, blocks + b * L::block_bytes(a.books), 1, sums);
    typename L::Mask mask = 0;
    for (size_t j = 0; j < L::kBlock; ++j)
      if (sums[j] <= thresholds[b]) mask |= typename L::Mask{1} << j;
    masks[b] = mask;
  }
}

template <>
void filter_queries<Packed4>(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                             const uint16_t* thresholds, uint32_t* masks) {
#if VQ_ISA_X86
  if (simd_level() == SimdLevel::kAvx512) return avx512::lut4_filter(luts, nq, blocks, nblocks, thresholds, masks);
  if (simd_level() == SimdLevel::kAvx2) return avx2::lut4_filter(luts, nq, blocks, nblocks, thresholds, masks);
#endif
  for (size_t q = 0; q < nq; ++q)
    filter_ref<Packed4>(luts[q], blocks, nblocks, thresholds + q * nblocks, masks + q * nblocks);
}

template <>
void filter_queries<Blocked8>(const QuantizedLut* luts, size_t nq, const uint8_t* blocks, size_t nblocks,
                              const uint16_t* thresholds, uint64_t* masks) {
#if VQ_ISA_X86
  if (simd_level() == SimdLevel::kAvx512) return avx512::lut8_filter(luts, nq, blocks, nblocks, thresholds, masks);
#endif
  for (size_t q = 0; q < nq; ++q)
    filter_ref<Blocked8>(luts[q], blocks, nblocks, thresholds + q * nblocks, masks + q * nblocks);
}

template <class L>
void filter(const QuantizedLut& a, const uint8_t* blocks, size_t nblocks, const uint16_t* thresholds,
            typename L::Mask* masks) {
  filter_queries<L>(&a, 1, blocks, nblocks, thresholds, masks);
}

// Where vector j's codes sit in a block: book m's code is (block[first + m·stride] >> shift)
// & mask. Hoisted out of the book loop of exact_scores.
struct CodeSlot {
  size_t first;
  unsigned shift;
};
inline CodeSlot slot_of(Packed4, size_t j) { return {j & 15, j < 16 ? 0u : 4u}; }
inline CodeSlot slot_of(Blocked8, size_t j) { return {blocked8_slot(j), 0u}; }
constexpr size_t stride_of(Packed4) { return 16; }
constexpr size_t stride_of(Blocked8) { return kBlock8; }
constexpr unsigned mask_of(Packed4) { return 0x0f; }
constexpr unsigned mask_of(Blocked8) { return 0xff; }

// Vectors ids[0, live) summed kChains at a time in independent chains; spare chains (live <
// kChains) repeat the last vector and are not written.
template <class L, size_t kChains>
void exact_group(const LutScanArgs& a, const uint8_t* blocks, size_t block_bytes, const uint32_t* ids,
                 size_t live, float* out) {
  constexpr size_t kStride = stride_of(L{});
  constexpr unsigned kMask = mask_of(L{});
  float s[kChains];
  const uint8_t* at[kChains];
  unsigned shift[kChains];
  for (size_t c = 0; c < kChains; ++c) {
    const uint32_t id = ids[std::min(c, live - 1)];
    const CodeSlot slot = slot_of(L{}, id % L::kBlock);
    s[c] = a.bias;
    at[c] = blocks + (id / L::kBlock) * block_bytes + slot.first;
    shift[c] = slot.shift;
  }
  for (size_t m = 0; m < a.books; ++m) {
    const float* tab = a.values + a.offsets[m];
    for (size_t c = 0; c < kChains; ++c) s[c] += tab[(at[c][m * kStride] >> shift[c]) & kMask];
  }
  for (size_t c = 0; c < live; ++c) out[c] = a.norms ? s[c] + a.norms[ids[c]] : s[c];
}

template <class L>
void exact_scores(const LutScanArgs& a, const uint8_t* blocks, const uint32_t* ids, size_t n, float* out) {
  const size_t block_bytes = L::block_bytes(a.books);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) exact_group<L, 8>(a, blocks, block_bytes, ids + i, 8, out + i);
  // The rest four chains at a time: enough overlap, and little work wasted on repeats.
  for (; i < n; i += 4) exact_group<L, 4>(a, blocks, block_bytes, ids + i, std::min<size_t>(4, n - i), out + i);
}

template void sums_ref<Packed4>(const QuantizedLut&, const uint8_t*, size_t, uint16_t*);
template void sums_ref<Blocked8>(const QuantizedLut&, const uint8_t*, size_t, uint16_t*);
template void filter_ref<Packed4>(const QuantizedLut&, const uint8_t*, size_t, const uint16_t*,
                                  uint32_t*);
template void filter_ref<Blocked8>(const QuantizedLut&, const uint8_t*, size_t, const uint16_t*,
                                   uint64_t*);
template void filter<Packed4>(const QuantizedLut&, const uint8_t*, size_t, const uint16_t*, uint32_t*);
template void filter<Blocked8>(const QuantizedLut&, const uint8_t*, size_t, const uint16_t*, uint64_t*);
template void exact_scores<Packed4>(const LutScanArgs&, const uint8_t*, const uint32_t*, size_t, float*);
template void exact_scores<Blocked8>(const LutScanArgs&, const uint8_t*, const uint32_t*, size_t, float*);

}  // namespace vq::kernels
