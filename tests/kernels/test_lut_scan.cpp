// Every LUT-scan kernel against its scalar reference: float scans bit-exact (same summation
// order), the SIMD filters of both blocked layouts (4-bit AVX2, 8-bit AVX-512) bit-exact against
// the reference filter, and the reference sums against a naive sum over unpacked codes.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernels/lut_scan.h"

namespace vq::kernels {
namespace {

struct Tables {
  std::vector<float> values;
  std::vector<uint32_t> offsets;
};

// Books of 2^bits[m] random entries (mixed widths exercise the offsets).
Tables random_tables(const std::vector<int>& bits, std::mt19937& rng) {
  std::normal_distribution<float> g(0.f, 10.f);
  Tables t;
  t.offsets.push_back(0);
  for (int b : bits) t.offsets.push_back(t.offsets.back() + (1u << b));
  t.values.resize(t.offsets.back());
  for (float& v : t.values) v = g(rng);
  return t;
}

template <class Code>
std::vector<Code> random_codes(const std::vector<int>& bits, size_t n, std::mt19937& rng) {
  std::vector<Code> codes(n * bits.size());
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < bits.size(); ++m) codes[i * bits.size() + m] = Code(rng() % (1u << bits[m]));
  return codes;
}

LutScanArgs args_of(const Tables& t, size_t books, const float* norms) {
  LutScanArgs a;
  a.values = t.values.data();
  a.offsets = t.offsets.data();
  a.books = books;
  a.bias = 3.25f;
  a.norms = norms;
  return a;
}

TEST(LutScan, U8EqualsReferenceBitForBit) {
  std::mt19937 rng(7);
  for (size_t books : {1, 3, 8, 16, 17, 32, 40}) {
    std::vector<int> bits(books, 8);
    bits[0] = 5;  // a narrower book: offsets are not m * 256
    const Tables t = random_tables(bits, rng);
    for (size_t n : {0, 1, 5, 131}) {
      const auto codes = random_codes<uint8_t>(bits, n, rng);
      std::vector<float> norms(n);
      for (float& v : norms) v = float(rng() % 1000) / 7.f;
      for (const float* nrm : {static_cast<const float*>(nullptr), static_cast<const float*>(norms.data())}) {
        const LutScanArgs a = args_of(t, books, nrm);
        std::vector<float> fast(n, -1.f), ref(n, -2.f);
        lut_scan_u8(a, codes.data(), n, fast.data());
        lut_scan_u8_ref(a, codes.data(), n, ref.data());
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(fast[i], ref[i]) << "books " << books << " row " << i;
      }
    }
  }
}

TEST(LutScan, MultiQueryU8EqualsOneQueryAtATime) {
  std::mt19937 rng(13);
  for (size_t books : {8, 16, 32, 12}) {
    for (int narrow : {0, 1}) {  // all-8-bit books take the four-query path, others fall back
      std::vector<int> bits(books, 8);
      if (narrow) bits.back() = 7;
      const size_t n = 203;
      const auto codes = random_codes<uint8_t>(bits, n, rng);
      std::vector<float> norms(n);
      for (float& v : norms) v = float(rng() % 1000) / 3.f;
      for (size_t nq = 1; nq <= kMaxQueriesPerScan; ++nq) {
        std::vector<Tables> tables;
        std::vector<LutScanArgs> args;
        for (size_t q = 0; q < nq; ++q) tables.push_back(random_tables(bits, rng));
        for (size_t q = 0; q < nq; ++q) args.push_back(args_of(tables[q], books, norms.data()));
        std::vector<std::vector<float>> out(nq, std::vector<float>(n));
        std::vector<float*> outs;
        for (auto& o : out) outs.push_back(o.data());
        lut_scan_u8_multi(args.data(), nq, codes.data(), n, outs.data());
        for (size_t q = 0; q < nq; ++q) {
          std::vector<float> ref(n);
          lut_scan_u8_ref(args[q], codes.data(), n, ref.data());
          ASSERT_EQ(out[q], ref) << "books " << books << " queries " << nq << " query " << q;
        }
      }
    }
  }
}

TEST(LutScan, U16EqualsU8OnNarrowCodesAndWideCodesEqualNaiveSum) {
  std::mt19937 rng(8);
  const std::vector<int> bits = {8, 8, 6, 8};
  const Tables t = random_tables(bits, rng);
  const size_t n = 77;
  const auto c8 = random_codes<uint8_t>(bits, n, rng);
  const std::vector<uint16_t> c16(c8.begin(), c8.end());
  std::vector<float> a8(n), a16(n);
  lut_scan_u8_ref(args_of(t, 4, nullptr), c8.data(), n, a8.data());
  lut_scan_u16(args_of(t, 4, nullptr), c16.data(), n, a16.data());
  EXPECT_EQ(a8, a16);

  const std::vector<int> wide = {12, 3, 16};
  const Tables tw = random_tables(wide, rng);
  const auto cw = random_codes<uint16_t>(wide, n, rng);
  std::vector<float> out(n);
  lut_scan_u16(args_of(tw, 3, nullptr), cw.data(), n, out.data());
  for (size_t i = 0; i < n; ++i) {
    float s = 3.25f;
    for (size_t m = 0; m < 3; ++m) s += tw.values[tw.offsets[m] + cw[i * 3 + m]];
    ASSERT_EQ(out[i], s);
  }
}

// What differs between the two blocked layouts, for the typed tests below: how a code is
// written, the SIMD filter and the CPUs that run it, and the sizes worth testing.
template <class L>
struct LayoutCase;
template <>
struct LayoutCase<Packed4> {
  static void set(uint8_t* block, size_t m, size_t j, uint8_t c) { packed4_set(block, m, j, c); }
  using Filter = void (*)(const QuantizedLut*, size_t, const uint8_t*, size_t, const uint16_t*, uint32_t*);
  // Each SIMD filter of the layout with the level it needs.
  static std::vector<std::pair<SimdLevel, Filter>> simd_filters() {
    return {{SimdLevel::kAvx2, avx2::lut4_filter}, {SimdLevel::kAvx512, avx512::lut4_filter}};
  }
  static constexpr int kBits = 4;
  static std::vector<size_t> layout_books() { return {1, 2, 5, 16, 32}; }
  static std::vector<size_t> filter_books() { return {1, 2, 3, 5, 8, 9, 16, 31, 32, 64}; }
  static std::vector<int> filter_bits() { return {2, 4}; }
};
template <>
struct LayoutCase<Blocked8> {
  static void set(uint8_t* block, size_t m, size_t j, uint8_t c) { blocked8_set(block, m, j, c); }
  using Filter = void (*)(const QuantizedLut*, size_t, const uint8_t*, size_t, const uint16_t*, uint64_t*);
  static std::vector<std::pair<SimdLevel, Filter>> simd_filters() {
    return {{SimdLevel::kAvx512, avx512::lut8_filter}};
  }
  static constexpr int kBits = 8;
  static std::vector<size_t> layout_books() { return {1, 3, 16, 33}; }
  static std::vector<size_t> filter_books() { return {1, 2, 7, 8, 16, 32, 64, 256}; }
  static std::vector<int> filter_bits() { return {3, 6, 7, 8}; }  // <= 6: vpermb; 7: one vpermi2b; 8: two
};

// Random blocks of layout L and uint8 tables for `books` books of `bits` bits.
template <class L>
struct Blocks {
  size_t books, nblocks;
  std::vector<uint8_t> blocks, qtable;
  std::vector<uint8_t> codes;  // unpacked, (nblocks · L::kBlock) × books
  QuantizedLut lut() const { return {qtable.data(), L::table_rows(books)}; }
  const uint8_t* block(size_t b) const { return blocks.data() + b * L::block_bytes(books); }
};

template <class L>
Blocks<L> random_blocks(size_t books, int bits, size_t nblocks, std::mt19937& rng, bool max_tables) {
  Blocks<L> p{books, nblocks, {}, {}, {}};
  const size_t n = nblocks * L::kBlock;
  p.blocks.assign(nblocks * L::block_bytes(books), 0);
  p.codes.resize(n * books);
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < books; ++m) {
      const auto c = uint8_t(rng() % (1u << bits));
      p.codes[i * books + m] = c;
      LayoutCase<L>::set(p.blocks.data() + (i / L::kBlock) * L::block_bytes(books), m, i % L::kBlock, c);
    }
  p.qtable.assign(L::table_rows(books) * L::kEntries, 0);
  for (size_t m = 0; m < books; ++m)
    for (size_t e = 0; e < (1u << bits); ++e)
      p.qtable[m * L::kEntries + e] = max_tables ? 255 : uint8_t(rng());
  return p;
}

template <class L>
class BlockedLayout : public ::testing::Test {};
using Layouts = ::testing::Types<Packed4, Blocked8>;
TYPED_TEST_SUITE(BlockedLayout, Layouts);

TYPED_TEST(BlockedLayout, RoundTripsAndSumsEqualNaive) {
  using L = TypeParam;
  std::mt19937 rng(9);
  for (size_t books : LayoutCase<L>::layout_books()) {
    const auto p = random_blocks<L>(books, LayoutCase<L>::kBits, 3, rng, false);
    std::vector<uint16_t> sums(p.nblocks * L::kBlock);
    sums_ref<L>(p.lut(), p.blocks.data(), p.nblocks, sums.data());
    for (size_t i = 0; i < p.nblocks * L::kBlock; ++i) {
      uint32_t s = 0;
      for (size_t m = 0; m < books; ++m) {
        ASSERT_EQ(L::code(p.block(i / L::kBlock), m, i % L::kBlock), p.codes[i * books + m]);
        s += p.qtable[m * L::kEntries + p.codes[i * books + m]];
      }
      ASSERT_EQ(sums[i], s) << "books " << books << " vector " << i;
    }
  }
}

// Every SIMD filter the CPU runs, for 1 to kMaxFilterQueries queries at once, against the
// reference run query by query: with thresholds anywhere, and all below 255 (saturating sums).
TYPED_TEST(BlockedLayout, SimdFiltersEqualReference) {
  using L = TypeParam;
#if defined(__x86_64__)
  size_t tested = 0;
  for (const auto& [level, simd_filter] : LayoutCase<L>::simd_filters()) {
    if (simd_cpu_level() < level) continue;  // the CPU lacks this filter's SIMD level
    ++tested;
    std::mt19937 rng(10);
    size_t round = 0;  // cycles the query count through 1 .. kMaxFilterQueries
    for (size_t books : LayoutCase<L>::filter_books()) {
      for (int bits : LayoutCase<L>::filter_bits()) {
        // 9 blocks, and 1: a last block at the end of its allocation, where reading past the
        // books (a 64-byte load for a 32-byte tail) would show under AddressSanitizer.
        for (size_t nblocks : {size_t{9}, size_t{1}}) {
          const size_t nq = 1 + round++ % kMaxFilterQueries;
          auto p = random_blocks<L>(books, bits, nblocks, rng, false);
          // Each query its own table (random, then the blocks' own for query 0).
          std::vector<std::vector<uint8_t>> tables(nq, p.qtable);
          for (size_t q = 1; q < nq; ++q)
            for (size_t m = 0; m < books; ++m)
              for (size_t e = 0; e < (1u << bits); ++e) tables[q][m * L::kEntries + e] = uint8_t(rng());
          std::vector<QuantizedLut> luts;
          for (const auto& t : tables) luts.push_back({t.data(), L::table_rows(books), size_t{1} << bits});
          std::vector<uint16_t> thr(nq * nblocks);
          std::vector<typename L::Mask> fast(nq * nblocks), ref(nblocks);
          std::vector<uint16_t> sums(nblocks * L::kBlock);
          for (size_t q = 0; q < nq; ++q) {
            sums_ref<L>(luts[q], p.blocks.data(), nblocks, sums.data());
            // Thresholds around the actual sums, including 0 and 65535.
            for (size_t b = 0; b < nblocks; ++b)
              thr[q * nblocks + b] = b == 0 && nblocks > 1 ? 0 : b == 1 ? 65535 : sums[b * L::kBlock + rng() % L::kBlock];
          }
          simd_filter(luts.data(), nq, p.blocks.data(), nblocks, thr.data(), fast.data());
          for (size_t q = 0; q < nq; ++q) {
            sums_ref<L>(luts[q], p.blocks.data(), nblocks, sums.data());
            filter_ref<L>(luts[q], p.blocks.data(), nblocks, thr.data() + q * nblocks, ref.data());
            for (size_t b = 0; b < nblocks; ++b) {
              ASSERT_EQ(fast[q * nblocks + b], ref[b]) << "level " << int(level) << " books " << books
                                                       << " bits " << bits << " query " << q << "/" << nq
                                                       << " block " << b;
              for (size_t j = 0; j < L::kBlock; ++j)
                ASSERT_EQ(bool(ref[b] >> j & 1), sums[b * L::kBlock + j] <= thr[q * nblocks + b]);
            }
          }
          // Tables narrowed to the threshold (TableZoom): entries mostly small, some 255, and
          // every threshold below 255, so the kernels that sum saturating bytes run.
          for (auto& t : tables)
            for (size_t m = 0; m < books; ++m)
              for (size_t e = 0; e < (1u << bits); ++e)
                t[m * L::kEntries + e] = rng() % 50 == 0 ? 255 : uint8_t(rng() % (2 * 254 / books + 1));
          for (size_t q = 0; q < nq; ++q) {
            sums_ref<L>(luts[q], p.blocks.data(), nblocks, sums.data());
            for (size_t b = 0; b < nblocks; ++b)
              thr[q * nblocks + b] = b == 0 ? 254 : std::min<uint16_t>(254, sums[b * L::kBlock + rng() % L::kBlock]);
          }
          simd_filter(luts.data(), nq, p.blocks.data(), nblocks, thr.data(), fast.data());
          for (size_t q = 0; q < nq; ++q) {
            filter_ref<L>(luts[q], p.blocks.data(), nblocks, thr.data() + q * nblocks, ref.data());
            for (size_t b = 0; b < nblocks; ++b)
              ASSERT_EQ(fast[q * nblocks + b], ref[b]) << "narrowed tables: level " << int(level) << " books " << books
                                                       << " bits " << bits << " query " << q << "/" << nq
                                                       << " block " << b;
          }
        }
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "the CPU has none of this layout's SIMD levels";
#else
  GTEST_SKIP() << "not x86";
#endif
}

// 256 books of all-255 entries: the largest sum the index allows (65280) must not wrap, in the
// dispatched filter (whatever VQ_SIMD selects) as in the reference.
TYPED_TEST(BlockedLayout, SumsDoNotOverflowAtTheBookLimit) {
  using L = TypeParam;
  std::mt19937 rng(11);
  const auto p = random_blocks<L>(kMaxBooks8, LayoutCase<L>::kBits, 2, rng, true);
  std::vector<uint16_t> sums(2 * L::kBlock);
  sums_ref<L>(p.lut(), p.blocks.data(), 2, sums.data());
  for (uint16_t s : sums) ASSERT_EQ(s, 256 * 255);
  for (uint16_t t : {uint16_t(65279), uint16_t(65280)}) {
    std::vector<uint16_t> thr(2, t);
    std::vector<typename L::Mask> masks(2);
    filter<L>(p.lut(), p.blocks.data(), 2, thr.data(), masks.data());
    for (auto m : masks) EXPECT_EQ(m, t == 65280 ? ~typename L::Mask{0} : 0u);
  }
}

TYPED_TEST(BlockedLayout, ExactScoresEqualU8Reference) {
  using L = TypeParam;
  std::mt19937 rng(12);
  for (size_t books : {3, 16}) {
    const auto p = random_blocks<L>(books, LayoutCase<L>::kBits, 2, rng, false);
    const Tables t = random_tables(std::vector<int>(books, LayoutCase<L>::kBits), rng);
    std::vector<float> norms(p.nblocks * L::kBlock);
    for (float& v : norms) v = float(rng() % 100);
    std::vector<float> ref(norms.size());
    lut_scan_u8_ref(args_of(t, books, norms.data()), p.codes.data(), norms.size(), ref.data());
    // Every vector of both blocks, in a scrambled order across the blocks, and every count of
    // vectors at once (the 8-wide chains and a last group of fewer).
    const size_t total = p.nblocks * L::kBlock;
    std::vector<uint32_t> ids(total);
    for (size_t i = 0; i < total; ++i) ids[i] = uint32_t((i * 7 + 3) % total);
    for (size_t n = 0; n <= total; n += 1 + n / 4) {
      std::vector<float> out(n + 1, -1.f);
      exact_scores<L>(args_of(t, books, norms.data()), p.blocks.data(), ids.data(), n, out.data());
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(out[i], ref[ids[i]]) << "books " << books << " n " << n;
      ASSERT_EQ(out[n], -1.f) << "wrote past n";
    }
  }
}

}  // namespace
}  // namespace vq::kernels
