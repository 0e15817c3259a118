// compress(): scheme grammar, bits accounting, H-awareness and H validation.
#include <gtest/gtest.h>

#include <cmath>

#include "test_data.h"
#include "vq/core/npy.h"
#include "vq/weights/compress.h"

namespace vq::weights {
namespace {

// A layer-like weight: Gaussian rows with a spread of row norms (as output channels have).
Matrix layer_weight(size_t rows, size_t cols, uint64_t seed) {
  Matrix w = testdata::gaussian(rows, cols, seed);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) w(r, c) *= 0.02f * (1.f + float(r % 7));
  return w;
}

// Calibration H from correlated inputs with a few large-magnitude channels (LLM-like outliers).
std::vector<float> layer_hessian(size_t cols, uint64_t seed) {
  Matrix x = testdata::correlated(4 * cols, cols, seed);
  for (size_t i = 0; i < x.rows(); ++i)
    for (size_t c = 0; c < cols; c += 17) x(i, c) *= 6.f;
  return hessian_from_inputs(x.view());
}

TEST(WeightScheme, ParsesAndPrintsEveryKind) {
  for (const char* s : {"AQ2x8d8", "AQ1x16d8", "AQ4x8d8", "AQ2x8d8c4", "RTN2g128", "GPTQ3g128", "CDQ4g64"})
    EXPECT_EQ(Scheme::parse(s).str(), s);
  const Scheme a = Scheme::parse("AQ2x8d8c4");
  EXPECT_EQ(a.books, 2u);
  EXPECT_EQ(a.bits, 8u);
  EXPECT_EQ(a.group, 8u);
  EXPECT_EQ(a.row_groups, 4u);
  for (const char* bad : {"", "AQ", "AQ2x8", "AQ2x8g", "AQ0x8d8", "AQ2x17d8", "RTN1g128", "GPTQ3", "XQ3g8",
                          "AQ2x8d8r", "AQ2x8d8r4", "AQ2x8g8c4", "AQ2x8d8c", "RTN4g128x", "RTN4d128", "CDQ9g8"})
    EXPECT_THROW(Scheme::parse(bad), Error) << bad;
  for (const char* s : {"AQ2x8d8", "RTN2g128", "GPTQ3g128", "CDQ4g64"}) EXPECT_EQ(Scheme::deprecation_note(s), "") << s;
}

// The old AQ letters (g for the code dimension, r for row clusters, which in quantizer specs
// mean scale group and rotation) still parse to the same scheme, with a note naming the new one.
TEST(WeightScheme, OldAqSpellingParsesWithADeprecationNote) {
  for (auto [old_name, name] : {std::pair{"AQ2x8g8", "AQ2x8d8"}, {"AQ2x8g8r4", "AQ2x8d8c4"}, {"AQ1x16g8", "AQ1x16d8"}}) {
    EXPECT_EQ(Scheme::parse(old_name), Scheme::parse(name));
    EXPECT_EQ(Scheme::parse(old_name).str(), name);
    const std::string note = Scheme::deprecation_note(old_name);
    EXPECT_NE(note.find(name), std::string::npos) << note;
  }
  EXPECT_EQ(Scheme::deprecation_note("AQ2x8g"), "");  // not a scheme: parse() reports it
}

TEST(WeightScheme, RejectsShapesThatDoNotFit) {
  EXPECT_THROW(Scheme::parse("AQ2x8d8").check_shape(16, 60), Error);
  EXPECT_THROW(Scheme::parse("RTN4g128").check_shape(16, 64), Error);
  EXPECT_THROW(Scheme::parse("AQ2x8d8c8").check_shape(4, 64), Error);
}

TEST(WeightCompress, BitsPerWeightCountsEverything) {
  const Matrix w = layer_weight(64, 128, 1);
  const CompressedMatrix aq = compress(w.view(), {}, "AQ2x8d8");
  // codes 64·16·2·8, codebooks 2·256·8·16, scales 64·16.
  EXPECT_DOUBLE_EQ(aq.bits_per_weight(), (64.0 * 16 * 16 + 2.0 * 256 * 8 * 16 + 64.0 * 16) / (64.0 * 128));
  const CompressedMatrix aqr = compress(w.view(), {}, "AQ2x4d4c2");
  // + a second codebook set and a 6-bit row index per row.
  EXPECT_DOUBLE_EQ(aqr.bits_per_weight(),
                   (64.0 * 32 * 8 + 2 * 2.0 * 16 * 4 * 16 + 64.0 * 16 + 64.0 * 6) / (64.0 * 128));
  const CompressedMatrix rtn = compress(w.view(), {}, "RTN3g32");
  EXPECT_DOUBLE_EQ(rtn.bits_per_weight(), 3.0 + (16.0 + 3.0) / 32.0);
  EXPECT_EQ(rtn.codes.size(), 64u * 48u);  // 128 · 3 bits = 48 bytes per row
}

struct SchemeCase {
  const char* scheme;
  double max_identity_error;  // relative squared error bound without calibration (sanity)
};

class EveryScheme : public ::testing::TestWithParam<SchemeCase> {};

// Decoding gives back a close matrix; with calibration, the H-error is lower than what the same
// scheme reaches without it (judged by H); the stored values are fp16-exact.
TEST_P(EveryScheme, CalibrationLowersTheErrorUnderH) {
  const SchemeCase c = GetParam();
  const Matrix w = layer_weight(64, 256, 2);
  const std::vector<float> h = layer_hessian(256, 3);
  const CompressedMatrix plain = compress(w.view(), {}, c.scheme);
  const CompressedMatrix calib = compress(w.view(), h, c.scheme);
  const Matrix dp = plain.decode(), dc = calib.decode();
  const double e_id = relative_error(w.view(), dp.view(), {});
  EXPECT_LT(e_id, c.max_identity_error) << c.scheme;
  const double plain_h = relative_error(w.view(), dp.view(), h), calib_h = relative_error(w.view(), dc.view(), h);
  const Scheme s = Scheme::parse(c.scheme);
  if (s.kind == SchemeKind::kRTN) {
    EXPECT_EQ(plain_h, calib_h) << "RTN never looks at H";
  } else {
    EXPECT_LT(calib_h, 0.9 * plain_h) << c.scheme;
  }
  for (float v : calib.scales) EXPECT_EQ(v, half_to_float(float_to_half(v)));
  for (float v : calib.codebooks) EXPECT_EQ(v, half_to_float(float_to_half(v)));
}

INSTANTIATE_TEST_SUITE_P(Weights, EveryScheme,
                         ::testing::Values(SchemeCase{"AQ2x8d8", 0.2}, SchemeCase{"AQ3x5d4", 0.08},
                                           SchemeCase{"AQ2x4d4c2", 0.2}, SchemeCase{"AQ1x8d4", 0.3},
                                           SchemeCase{"RTN2g32", 0.4}, SchemeCase{"RTN4g32", 0.02},
                                           SchemeCase{"GPTQ3g32", 0.1}, SchemeCase{"CDQ3g32", 0.1}),
                         [](const auto& p) { return std::string(p.param.scheme); });

TEST(WeightCompress, CoordinateDescentNeverLosesToGptq) {
  const Matrix w = layer_weight(48, 128, 4);
  const std::vector<float> h = layer_hessian(128, 5);
  for (int bits : {2, 3, 4}) {
    const std::string b = std::to_string(bits);
    const double gptq = relative_error(w.view(), compress(w.view(), h, "GPTQ" + b + "g32").decode().view(), h);
    const double cdq = relative_error(w.view(), compress(w.view(), h, "CDQ" + b + "g32").decode().view(), h);
    const double rtn = relative_error(w.view(), compress(w.view(), h, "RTN" + b + "g32").decode().view(), h);
    EXPECT_LE(cdq, gptq) << bits;
    EXPECT_LT(gptq, rtn) << bits;
  }
}

// AQLM's alternation: the least-squares update of books and row scales keeps the codes and lowers
// the error under H (with and without calibration, and with row groups); a second round of encoding and
// updating lowers it further.
TEST(WeightCompress, CodebookUpdateLowersTheErrorUnderH) {
  const Matrix w = layer_weight(64, 256, 8);
  const std::vector<float> h = layer_hessian(256, 9);
  for (const char* scheme : {"AQ2x8d8", "AQ2x4d4c2"})
    for (const bool calibrated : {false, true}) {
      const Span<const float> hs = calibrated ? Span<const float>(h) : Span<const float>();
      CompressOptions codes_only, one_round, two_rounds;
      // (the code refinement off: this is about the books; it has its own test below)
      codes_only.aq_refine_passes = one_round.aq_refine_passes = two_rounds.aq_refine_passes = 0;
      codes_only.aq_rounds = one_round.aq_rounds = 1;
      codes_only.aq_codebook_iterations = 0;
      two_rounds.aq_rounds = 2;
      const CompressedMatrix a = compress(w.view(), hs, scheme, codes_only);
      const CompressedMatrix b = compress(w.view(), hs, scheme, one_round);
      const CompressedMatrix c = compress(w.view(), hs, scheme, two_rounds);
      EXPECT_EQ(a.codes, b.codes) << scheme << " the update changes books and scales, not codes";
      EXPECT_NE(a.codebooks, b.codebooks) << scheme;
      const double ea = relative_error(w.view(), a.decode().view(), hs);
      const double eb = relative_error(w.view(), b.decode().view(), hs);
      const double ec = relative_error(w.view(), c.decode().view(), hs);
      // Without calibration the books were trained on this very objective, so the update only
      // polishes them; under H (which their training saw only as column weights) it gains more.
      EXPECT_LT(eb, (calibrated ? 0.97 : 1.0) * ea) << scheme << (calibrated ? " under H" : " identity");
      EXPECT_LT(ec, eb) << scheme << (calibrated ? " under H" : " identity");
      for (float v : c.codebooks) EXPECT_EQ(v, half_to_float(float_to_half(v)));
      for (float v : c.scales) EXPECT_EQ(v, half_to_float(float_to_half(v)));
    }
}

// The code refinement (coordinate descent on the codes under the full H after the sweep) only
// takes moves that lower the objective, so with the books fixed it must lower the error; more
// passes lower it further or leave it. Without calibration it does nothing (the sweep's
// per-group search is then already exact).
TEST(WeightCompress, CodeRefinementLowersTheErrorUnderH) {
  const Matrix w = layer_weight(64, 256, 10);
  const std::vector<float> h = layer_hessian(256, 11);
  for (const char* scheme : {"AQ2x8d8", "AQ2x4d4c2", "AQ1x6d4"}) {
    double last = 1e30;
    CompressedMatrix first;
    for (const int passes : {0, 1, 3}) {
      CompressOptions o;
      o.aq_rounds = 1;
      o.aq_codebook_iterations = 0;  // books fixed: only the codes change
      o.aq_refine_passes = passes;
      const CompressedMatrix cm = compress(w.view(), h, scheme, o);
      const double e = relative_error(w.view(), cm.decode().view(), h);
      if (passes == 0)
        first = cm;
      else
        EXPECT_EQ(cm.codebooks, first.codebooks) << scheme;
      EXPECT_LT(e, passes == 1 ? 0.99 * last : last * (1 + 1e-6)) << scheme << " passes " << passes;
      last = e;
    }
    CompressOptions none, three;
    none.aq_refine_passes = 0;
    three.aq_refine_passes = 3;
    EXPECT_EQ(compress(w.view(), {}, scheme, none).codes, compress(w.view(), {}, scheme, three).codes) << scheme;
  }
}

TEST(WeightCompress, RowGroupsStoreAPermutation) {
  const Matrix w = layer_weight(64, 128, 6);
  const CompressedMatrix cm = compress(w.view(), {}, "AQ2x4d4c4");
  ASSERT_EQ(cm.row_order.size(), 64u);
  ASSERT_EQ(cm.group_begin.size(), 5u);
  EXPECT_NO_THROW(cm.validate());
  // Rows of one scale class (r % 7) land in few groups: the grouping follows the statistics.
  const Matrix d = cm.decode();
  EXPECT_LT(relative_error(w.view(), d.view(), {}), 0.25);
}

// Act order only changes the order of the sweep. With a diagonal H no column's error is fed onto
// another, so the order cannot matter: every scheme must give the same codes, scales and books
// as the sweep in input order (diagonal values all distinct and shuffled, so the act order is a
// real permutation). Codes stored at the wrong positions, or grids of the wrong group, would
// differ.
TEST(WeightCompress, ActOrderIsOnlyTheSweepOrder) {
  const size_t rows = 24, cols = 64;
  const Matrix w = layer_weight(rows, cols, 8);
  std::vector<float> h(cols * cols, 0.f);
  for (size_t i = 0; i < cols; ++i) h[i * cols + i] = 1.f + float((i * 37) % cols);
  CompressOptions in_order;
  in_order.act_order = false;
  for (const char* s : {"GPTQ3g16", "CDQ2g32", "AQ2x4d4", "AQ1x6d8c2"}) {
    const CompressedMatrix a = compress(w.view(), h, s), b = compress(w.view(), h, s, in_order);
    EXPECT_EQ(a.codes, b.codes) << s;
    EXPECT_EQ(a.scales, b.scales) << s;
    EXPECT_EQ(a.zeros, b.zeros) << s;
    EXPECT_EQ(a.codebooks, b.codebooks) << s;
  }
}

TEST(WeightCompress, RejectsBadHessians) {
  const Matrix w = layer_weight(16, 32, 7);
  std::vector<float> h(32 * 32, 0.f);
  for (size_t i = 0; i < 32; ++i) h[i * 32 + i] = 1.f;
  h[1] = 0.5f;  // not symmetric
  EXPECT_THROW(compress(w.view(), h, "GPTQ4g32"), Error);
  h[1] = 0.f;
  h[0] = -1.f;  // negative variance
  EXPECT_THROW(compress(w.view(), h, "GPTQ4g32"), Error);
  // Indefinite: [[1, 2], [2, 1]] block.
  h[0] = 1.f;
  h[1] = h[32] = 2.f;
  EXPECT_THROW(compress(w.view(), h, "GPTQ4g32"), Error);
  // Singular (rank 1) is rejected without dampening and accepted with it.
  std::vector<float> rank1(32 * 32);
  for (size_t i = 0; i < 32; ++i)
    for (size_t j = 0; j < 32; ++j) rank1[i * 32 + j] = float(i + 1) * float(j + 1);
  CompressOptions none;
  none.damp = 0.f;
  EXPECT_THROW(compress(w.view(), rank1, "GPTQ4g32", none), Error);
  EXPECT_NO_THROW(compress(w.view(), rank1, "GPTQ4g32"));
  EXPECT_THROW(compress(w.view(), std::vector<float>(10, 1.f), "GPTQ4g32"), Error);
}

}  // namespace
}  // namespace vq::weights
