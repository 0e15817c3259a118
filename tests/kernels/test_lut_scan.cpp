// Every LUT-scan kernel against its scalar reference: float scans bit-exact (same summation
// order), the 4-bit AVX2 and 8-bit AVX-512 filters bit-exact against the reference filters,
// and the reference 4-bit / 8-bit sums against a naive sum over unpacked codes.
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

// Random packed blocks and uint8 tables for `books` books of `bits` bits.
struct Packed {
  size_t books, nblocks;
  std::vector<uint8_t> blocks, qtable;
  std::vector<uint8_t> codes;  // unpacked, (nblocks * 32) × books
};

Packed random_packed(size_t books, int bits, size_t nblocks, std::mt19937& rng, bool max_tables) {
  Packed p{books, nblocks, {}, {}, {}};
  const size_t n = nblocks * kBlock4;
  p.blocks.assign(nblocks * packed4_block_bytes(books), 0);
  p.codes.resize(n * books);
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < books; ++m) {
      const auto c = uint8_t(rng() % (1u << bits));
      p.codes[i * books + m] = c;
      packed4_set(p.blocks.data() + (i / kBlock4) * packed4_block_bytes(books), m, i % kBlock4, c);
    }
  p.qtable.assign(packed4_block_bytes(books), 0);
  for (size_t m = 0; m < books; ++m)
    for (size_t e = 0; e < (1u << bits); ++e) p.qtable[m * 16 + e] = max_tables ? 255 : uint8_t(rng());
  return p;
}

TEST(LutScan, Packed4LayoutRoundTripsAndSumsEqualNaive) {
  std::mt19937 rng(9);
  for (size_t books : {1, 2, 5, 16, 32}) {
    const Packed p = random_packed(books, 4, 3, rng, false);
    const size_t bb = packed4_block_bytes(books);
    std::vector<uint16_t> sums(p.nblocks * kBlock4);
    lut4_sums_ref({p.qtable.data(), packed4_books(books)}, p.blocks.data(), p.nblocks, sums.data());
    for (size_t i = 0; i < p.nblocks * kBlock4; ++i) {
      uint32_t s = 0;
      for (size_t m = 0; m < books; ++m) {
        ASSERT_EQ(packed4_code(p.blocks.data() + (i / kBlock4) * bb, m, i % kBlock4), p.codes[i * books + m]);
        s += p.qtable[m * 16 + p.codes[i * books + m]];
      }
      ASSERT_EQ(sums[i], s) << "books " << books << " vector " << i;
    }
  }
}

TEST(LutScan, Packed4Avx2FilterEqualsReference) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2 on this CPU";
  std::mt19937 rng(10);
  for (size_t books : {1, 2, 3, 8, 16, 31, 32, 64}) {
    for (int bits : {2, 4}) {
      const Packed p = random_packed(books, bits, 9, rng, false);
      const Lut4Args a{p.qtable.data(), packed4_books(books)};
      std::vector<uint16_t> sums(p.nblocks * kBlock4);
      lut4_sums_ref(a, p.blocks.data(), p.nblocks, sums.data());
      // Thresholds around the actual sums, including 0 and 65535.
      std::vector<uint16_t> thr(p.nblocks);
      for (size_t b = 0; b < p.nblocks; ++b)
        thr[b] = b == 0 ? 0 : b == 1 ? 65535 : sums[b * kBlock4 + rng() % kBlock4];
      std::vector<uint32_t> fast(p.nblocks), ref(p.nblocks);
      detail::lut4_filter_avx2(a, p.blocks.data(), p.nblocks, thr.data(), fast.data());
      lut4_filter_ref(a, p.blocks.data(), p.nblocks, thr.data(), ref.data());
      for (size_t b = 0; b < p.nblocks; ++b) {
        ASSERT_EQ(fast[b], ref[b]) << "books " << books << " block " << b;
        for (size_t j = 0; j < kBlock4; ++j)
          ASSERT_EQ(bool(ref[b] >> j & 1), sums[b * kBlock4 + j] <= thr[b]);
      }
    }
  }
#else
  GTEST_SKIP() << "not x86";
#endif
}

// 256 books of all-255 entries: the largest sum the index allows (65280) must not wrap.
TEST(LutScan, Packed4SumsDoNotOverflowAtTheBookLimit) {
  std::mt19937 rng(11);
  const Packed p = random_packed(256, 4, 2, rng, true);
  const Lut4Args a{p.qtable.data(), 256};
  std::vector<uint16_t> sums(2 * kBlock4);
  lut4_sums_ref(a, p.blocks.data(), 2, sums.data());
  for (uint16_t s : sums) ASSERT_EQ(s, 256 * 255);
  for (uint16_t t : {uint16_t(65279), uint16_t(65280)}) {
    std::vector<uint16_t> thr(2, t);
    std::vector<uint32_t> masks(2);
    lut4_filter(a, p.blocks.data(), 2, thr.data(), masks.data());
    for (uint32_t m : masks) EXPECT_EQ(m, t == 65280 ? 0xffffffffu : 0u);
  }
}

TEST(LutScan, Packed4ExactScoreEqualsU8Reference) {
  std::mt19937 rng(12);
  for (size_t books : {3, 16}) {
    const Packed p = random_packed(books, 4, 2, rng, false);
    const Tables t = random_tables(std::vector<int>(books, 4), rng);
    std::vector<float> norms(p.nblocks * kBlock4);
    for (float& v : norms) v = float(rng() % 100);
    std::vector<float> ref(norms.size());
    lut_scan_u8_ref(args_of(t, books, norms.data()), p.codes.data(), norms.size(), ref.data());
    for (size_t i = 0; i < norms.size(); ++i) {
      const size_t b = i / kBlock4;
      const float s = lut4_exact_score(args_of(t, books, norms.data() + b * kBlock4),
                                       p.blocks.data() + b * packed4_block_bytes(books), i % kBlock4);
      ASSERT_EQ(s, ref[i]);
    }
  }
}

// Random blocked-8 blocks and 256-entry uint8 tables for `books` books of `bits` bits.
struct Blocked {
  size_t books, nblocks;
  std::vector<uint8_t> blocks, qtable;
  std::vector<uint8_t> codes;  // unpacked, (nblocks * 64) × books
};

Blocked random_blocked(size_t books, int bits, size_t nblocks, std::mt19937& rng, bool max_tables) {
  Blocked p{books, nblocks, {}, {}, {}};
  const size_t n = nblocks * kBlock8;
  p.blocks.assign(nblocks * blocked8_block_bytes(books), 0);
  p.codes.resize(n * books);
  for (size_t i = 0; i < n; ++i)
    for (size_t m = 0; m < books; ++m) {
      const auto c = uint8_t(rng() % (1u << bits));
      p.codes[i * books + m] = c;
      blocked8_set(p.blocks.data() + (i / kBlock8) * blocked8_block_bytes(books), m, i % kBlock8, c);
    }
  p.qtable.assign(books * 256, 0);
  for (size_t m = 0; m < books; ++m)
    for (size_t e = 0; e < (1u << bits); ++e) p.qtable[m * 256 + e] = max_tables ? 255 : uint8_t(rng());
  return p;
}

TEST(LutScan, Blocked8LayoutRoundTripsAndSumsEqualNaive) {
  std::mt19937 rng(14);
  for (size_t books : {1, 3, 16, 33}) {
    const Blocked p = random_blocked(books, 8, 3, rng, false);
    const size_t bb = blocked8_block_bytes(books);
    std::vector<uint16_t> sums(p.nblocks * kBlock8);
    lut8_sums_ref({p.qtable.data(), books}, p.blocks.data(), p.nblocks, sums.data());
    for (size_t i = 0; i < p.nblocks * kBlock8; ++i) {
      uint32_t s = 0;
      for (size_t m = 0; m < books; ++m) {
        ASSERT_EQ(blocked8_code(p.blocks.data() + (i / kBlock8) * bb, m, i % kBlock8), p.codes[i * books + m]);
        s += p.qtable[m * 256 + p.codes[i * books + m]];
      }
      ASSERT_EQ(sums[i], s) << "books " << books << " vector " << i;
    }
  }
}

TEST(LutScan, Blocked8Avx512FilterEqualsReference) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("avx512vbmi") || !__builtin_cpu_supports("avx512bw"))
    GTEST_SKIP() << "no AVX-512 VBMI on this CPU";
  std::mt19937 rng(15);
  for (size_t books : {1, 2, 7, 8, 16, 32, 64, 256}) {
    for (int bits : {3, 7, 8}) {  // 7 and 8 bits: both permute halves and the bit-7 select
      const Blocked p = random_blocked(books, bits, 9, rng, false);
      const Lut8Args a{p.qtable.data(), books};
      std::vector<uint16_t> sums(p.nblocks * kBlock8);
      lut8_sums_ref(a, p.blocks.data(), p.nblocks, sums.data());
      // Thresholds around the actual sums, including 0 and 65535.
      std::vector<uint16_t> thr(p.nblocks);
      for (size_t b = 0; b < p.nblocks; ++b)
        thr[b] = b == 0 ? 0 : b == 1 ? 65535 : sums[b * kBlock8 + rng() % kBlock8];
      std::vector<uint64_t> fast(p.nblocks), ref(p.nblocks);
      detail::lut8_filter_avx512(a, p.blocks.data(), p.nblocks, thr.data(), fast.data());
      lut8_filter_ref(a, p.blocks.data(), p.nblocks, thr.data(), ref.data());
      for (size_t b = 0; b < p.nblocks; ++b) {
        ASSERT_EQ(fast[b], ref[b]) << "books " << books << " bits " << bits << " block " << b;
        for (size_t j = 0; j < kBlock8; ++j)
          ASSERT_EQ(bool(ref[b] >> j & 1), sums[b * kBlock8 + j] <= thr[b]);
      }
    }
  }
#else
  GTEST_SKIP() << "not x86";
#endif
}

// 256 books of all-255 entries: the largest sum the index allows (65280) must not wrap.
TEST(LutScan, Blocked8SumsDoNotOverflowAtTheBookLimit) {
  std::mt19937 rng(16);
  const Blocked p = random_blocked(kMaxBooks8, 8, 2, rng, true);
  const Lut8Args a{p.qtable.data(), kMaxBooks8};
  std::vector<uint16_t> sums(2 * kBlock8);
  lut8_sums_ref(a, p.blocks.data(), 2, sums.data());
  for (uint16_t s : sums) ASSERT_EQ(s, 256 * 255);
  for (uint16_t t : {uint16_t(65279), uint16_t(65280)}) {
    std::vector<uint16_t> thr(2, t);
    std::vector<uint64_t> masks(2);
    lut8_filter(a, p.blocks.data(), 2, thr.data(), masks.data());
    for (uint64_t m : masks) EXPECT_EQ(m, t == 65280 ? ~uint64_t{0} : 0u);
  }
}

TEST(LutScan, Blocked8ExactScoreEqualsU8Reference) {
  std::mt19937 rng(17);
  for (size_t books : {3, 16}) {
    const Blocked p = random_blocked(books, 8, 2, rng, false);
    const Tables t = random_tables(std::vector<int>(books, 8), rng);
    std::vector<float> norms(p.nblocks * kBlock8);
    for (float& v : norms) v = float(rng() % 100);
    std::vector<float> ref(norms.size());
    lut_scan_u8_ref(args_of(t, books, norms.data()), p.codes.data(), norms.size(), ref.data());
    for (size_t i = 0; i < norms.size(); ++i) {
      const size_t b = i / kBlock8;
      const float s = lut8_exact_score(args_of(t, books, norms.data() + b * kBlock8),
                                       p.blocks.data() + b * blocked8_block_bytes(books), i % kBlock8);
      ASSERT_EQ(s, ref[i]);
    }
  }
}

}  // namespace
}  // namespace vq::kernels
