// The quantizer name grammar: every family parses and round-trips through describe(),
// malformed specs are rejected with the offending position, and specs that do not fit the
// dimension are rejected by make_quantizer.
#include "vq/core/factory.h"

#include <gtest/gtest.h>

#include <string>

#include "error_text.h"

namespace vq {
namespace {

struct Canonical {
  std::string spec;
  size_t dim;
  std::string family;
  std::vector<size_t> numbers;
  size_t beam, group;
  size_t books, bits_per_vector;
};

TEST(Factory, EveryFamilyParsesAndRoundTrips) {
  const Canonical cases[] = {
      {"VQ12", 8, "VQ", {12}, 0, 0, 1, 12},
      {"PQ16x8", 64, "PQ", {16, 8}, 0, 0, 16, 128},
      {"PQ1x4", 3, "PQ", {1, 4}, 0, 0, 1, 4},
      {"RVQ8x8", 16, "RVQ", {8, 8}, 0, 0, 8, 64},
      {"RVQ4x10b16", 16, "RVQ", {4, 10}, 16, 0, 4, 40},
      {"GRVQ2x4x8", 16, "GRVQ", {2, 4, 8}, 0, 0, 8, 64},
      {"GRVQ2x4x8b4", 16, "GRVQ", {2, 4, 8}, 4, 0, 8, 64},
      {"AQ2x8", 16, "AQ", {2, 8}, 0, 0, 2, 16},
      {"AQ2x8b16", 16, "AQ", {2, 8}, 16, 0, 2, 16},
      {"SQ8", 16, "SQ", {8}, 0, 0, 16, 128},
      {"SQ2", 5, "SQ", {2}, 0, 0, 5, 10},
      {"SQ4g64", 128, "SQ", {4}, 0, 64, 130, 512 + 32},
      {"NF4", 32, "NF", {4}, 0, 0, 32, 128},
      {"NF4g64", 64, "NF", {4}, 0, 64, 65, 256 + 16},
      {"FP8", 10, "FP", {8}, 0, 0, 10, 80},
      {"FP8g32", 64, "FP", {8}, 0, 32, 66, 512 + 32},
  };
  for (const Canonical& c : cases) {
    SCOPED_TRACE(c.spec);
    const QuantizerSpec s = parse_quantizer_spec(c.spec);
    EXPECT_EQ(s.family, c.family);
    EXPECT_EQ(s.numbers, c.numbers);
    EXPECT_EQ(s.beam, c.beam);
    EXPECT_EQ(s.group, c.group);
    EXPECT_EQ(s.to_string(), c.spec);
    const auto q = make_quantizer(c.spec, c.dim);
    EXPECT_EQ(q->describe(), c.spec);
    EXPECT_EQ(q->dim(), c.dim);
    EXPECT_EQ(q->num_books(), c.books);
    EXPECT_EQ(q->bits_per_vector(), c.bits_per_vector);
    EXPECT_EQ(make_quantizer(q->describe(), c.dim)->describe(), c.spec);
  }
}

TEST(Factory, DefaultsAreOmittedFromCanonicalNames) {
  EXPECT_EQ(parse_quantizer_spec("RVQ8x8b1").to_string(), "RVQ8x8");
  EXPECT_EQ(parse_quantizer_spec("GRVQ2x4x8b1").to_string(), "GRVQ2x4x8");
  EXPECT_EQ(parse_quantizer_spec("AQ2x8b8").to_string(), "AQ2x8");
  EXPECT_EQ(make_quantizer("RVQ8x8b1", 16)->describe(), "RVQ8x8");
  EXPECT_EQ(make_quantizer("AQ2x8b8", 16)->describe(), "AQ2x8");
  EXPECT_EQ(make_quantizer("AQ2x8b1", 16)->describe(), "AQ2x8b1");
}

TEST(Factory, MalformedSpecsNamePosition) {
  const std::pair<std::string, std::string> cases[] = {
      {"PQ16y8", "quantizer spec 'PQ16y8': unexpected 'y' at position 4; expected 'x', 'b', 'g', 'r' or end"},
      {"", "unexpected end at position 0; expected a family name"},
      {"pq16x8", "unexpected 'p' at position 0"},
      {"16x8", "unexpected '1' at position 0"},
      {"XQ8", "unknown family 'XQ' at position 0"},
      {"PQ", "unexpected end at position 2; expected a number"},
      {"PQ16x", "unexpected end at position 5; expected a number"},
      {"PQx8", "unexpected 'x' at position 2; expected a number"},
      {"PQ16x8 ", "unexpected ' ' at position 6"},
      {" PQ16x8", "unexpected ' ' at position 0"},
      {"RVQ8x8b", "unexpected end at position 7; expected a number"},
      {"RVQ8x8b4x2", "unexpected 'x' at position 8; expected 'b', 'g', 'r' or end"},
      {"RVQ8x8b4b4", "option 'b' at position 8 is given twice"},
      {"PQ16x8b4", "option 'b' at position 6 does not apply to PQ"},
      {"SQ8b2", "option 'b' at position 3 does not apply to SQ"},
      {"RVQ8x8g4", "option 'g' at position 6 does not apply to RVQ"},
      {"RVQ8x8b0", "beam at position 7 must be >= 1"},
      {"SQ8g0", "group size at position 4 must be >= 1"},
      {"PQ0x8", "count at position 2 must be >= 1"},
      {"PQ08x8", "leading zero in number at position 2"},
      {"VQ1234567890", "number at position 2 is too large"},
      {"PQ16x17", "bits 17 at position 5 out of range for PQ (1..16)"},
      {"VQ0", "bits 0 at position 2 out of range"},
      {"SQ9", "bits 9 at position 2 out of range for SQ (2..8)"},
      {"SQ1", "bits 1 at position 2 out of range"},
      {"NF8", "bits 8 at position 2 out of range for NF (4)"},
      {"FP4", "bits 4 at position 2 out of range for FP (8)"},
      {"PQ16", "PQ takes 2 numbers"},
      {"VQ8x8", "VQ takes 1 number"},
      {"GRVQ2x8", "GRVQ takes 3 numbers"},
  };
  for (const auto& [spec, expected] : cases) {
    const std::string msg = testdata::error_of([&] { parse_quantizer_spec(spec); });
    EXPECT_NE(msg.find(expected), std::string::npos) << "spec '" << spec << "' gave: " << msg;
    EXPECT_NE(msg.find("quantizer spec '" + spec + "'"), std::string::npos) << msg;
    EXPECT_THROW(make_quantizer(spec, 64), Error) << spec;
  }
}

TEST(Factory, RejectsSpecsThatDoNotFitTheDimension) {
  const std::pair<std::string, size_t> cases[] = {
      {"PQ16x8", 100}, {"PQ3x8", 16}, {"GRVQ3x4x8", 16}, {"SQ4g64", 100}, {"NF4g3", 16},
      {"FP8g7", 8}, {"RVQ8x8", 0}, {"SQ8", 0},
  };
  for (const auto& [spec, dim] : cases) {
    const std::string msg = testdata::error_of([&] { make_quantizer(spec, dim); });
    EXPECT_NE(msg.find("quantizer spec '" + spec + "' does not fit dimension " + std::to_string(dim)),
              std::string::npos)
        << msg;
  }
  // What a constructor rejects beyond the grammar is still reported with the spec.
  const std::string msg = testdata::error_of([] { make_quantizer("AQ2x8b100000", 16); });
  EXPECT_NE(msg.find("quantizer spec 'AQ2x8b100000' on dimension 16"), std::string::npos) << msg;
}

}  // namespace
}  // namespace vq
