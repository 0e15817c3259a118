// PLY reader / writer: exact round trips in every encoding, layouts with extra properties, and
// malformed input (wrong counts, truncation, NaNs, unknown types, mutations) rejected with
// vq::Error — never a crash or an allocation the file cannot back.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "vq/error.h"
#include "vq/core/rng.h"
#include "vq/splats/ply.h"
#include "vq/splats/synthetic_scene.h"

namespace vq::splats {
namespace {

SplatScene small_scene(size_t n, int degree, bool extras) {
  SplatScene s = synthetic_scene({n, degree, 7, 0.1f});
  if (extras) {
    ExtraProperty red{{"red", PlyType::kUInt8}, {}}, label{{"label", PlyType::kInt32}, {}},
        conf{{"confidence", PlyType::kFloat64}, {}};
    for (size_t i = 0; i < n; ++i) {
      red.values.push_back(static_cast<double>((i * 37) % 256));
      label.values.push_back(-1000000.0 + 12345.0 * i);
      conf.values.push_back(1.0 / (i + 3.0));
    }
    s.extras = {red, label, conf};
  }
  return s;
}

std::vector<uint8_t> as_bytes(const std::string& s) { return {s.begin(), s.end()}; }

void expect_same(const SplatScene& a, const SplatScene& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.sh_degree, b.sh_degree);
  EXPECT_EQ(a.positions, b.positions);
  EXPECT_EQ(a.normals, b.normals);
  EXPECT_EQ(a.sh_dc, b.sh_dc);
  EXPECT_EQ(a.sh_rest, b.sh_rest);
  EXPECT_EQ(a.opacity, b.opacity);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.rotations, b.rotations);
  ASSERT_EQ(a.extras.size(), b.extras.size());
  for (size_t j = 0; j < a.extras.size(); ++j) {
    EXPECT_EQ(a.extras[j].property, b.extras[j].property);
    EXPECT_EQ(a.extras[j].values, b.extras[j].values);
  }
  EXPECT_EQ(a.comments, b.comments);
}

template <class F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no vq::Error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

class PlyRoundTrip : public ::testing::TestWithParam<PlyFormat> {};

TEST_P(PlyRoundTrip, ValuesAndBytesAreExactForEveryDegree) {
  for (int degree = 0; degree <= 3; ++degree) {
    const SplatScene s = small_scene(40, degree, degree % 2 == 1);
    const std::vector<uint8_t> bytes = ply_to_bytes(s, GetParam());
    const SplatScene back = parse_ply(bytes, "rt.ply");
    expect_same(s, back);
    EXPECT_EQ(back.layout, standard_layout(s));
    EXPECT_EQ(ply_to_bytes(back, GetParam()), bytes) << "degree " << degree;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, PlyRoundTrip,
                         ::testing::Values(PlyFormat::kAscii, PlyFormat::kBinaryLittleEndian,
                                           PlyFormat::kBinaryBigEndian));

TEST(Ply, EncodingsAgreeAndBigEndianIsByteSwapped) {
  const SplatScene s = small_scene(5, 1, false);
  const auto le = ply_to_bytes(s, PlyFormat::kBinaryLittleEndian);
  const auto be = ply_to_bytes(s, PlyFormat::kBinaryBigEndian);
  ASSERT_EQ(le.size(), be.size() + 3);  // "little" vs "big" in the format line
  // The first float of the data (x of vertex 0) in both files.
  const std::string end = "end_header\n";
  auto data = [&](const std::vector<uint8_t>& b) {
    const std::string text(b.begin(), b.end());
    return text.find(end) + end.size();
  };
  float x_le, x_be;
  std::memcpy(&x_le, le.data() + data(le), 4);
  uint8_t swapped[4] = {be[data(be) + 3], be[data(be) + 2], be[data(be) + 1], be[data(be)]};
  std::memcpy(&x_be, swapped, 4);
  EXPECT_EQ(x_le, s.positions[0]);
  EXPECT_EQ(x_be, s.positions[0]);
}

TEST(Ply, FileOrderWithInterleavedExtrasIsKeptAndDoublesAreRead) {
  const std::string text =
      "ply\nformat ascii 1.0\ncomment hello\nobj_info ignored\nelement vertex 2\n"
      "property float32 scale_0\nproperty uchar id\nproperty double x\nproperty float y\nproperty float z\n"
      "property float f_dc_0\nproperty float f_dc_1\nproperty float f_dc_2\nproperty float opacity\n"
      "property float scale_1\nproperty float scale_2\nproperty float rot_0\nproperty float rot_1\n"
      "property float rot_2\nproperty float rot_3\nend_header\n"
      "-4.5 7 0.25 1 2 0.1 0.2 0.3 3 -4 -5 1 0 0 0\n"
      "-3.5 255 -0.125 1e-3 2 0.1 0.2 0.3 -3 -4 -5 0 1 0 0\r\n";
  const SplatScene s = parse_ply(as_bytes(text), "t.ply");
  ASSERT_EQ(s.count, 2u);
  EXPECT_EQ(s.sh_degree, 0);
  EXPECT_TRUE(s.normals.empty());
  EXPECT_EQ(s.positions, (std::vector<float>{0.25f, 1, 2, -0.125f, 1e-3f, 2}));
  EXPECT_EQ(s.scales[0], -4.5f);
  EXPECT_EQ(s.opacity[1], -3.f);
  ASSERT_EQ(s.extras.size(), 1u);
  EXPECT_EQ(s.extras[0].values, (std::vector<double>{7, 255}));
  EXPECT_EQ(s.comments, std::vector<std::string>{"hello"});
  ASSERT_EQ(s.layout.size(), 15u);
  EXPECT_EQ(s.layout[1], (PlyProperty{"id", PlyType::kUInt8}));
  EXPECT_EQ(s.layout[2], (PlyProperty{"x", PlyType::kFloat32}));  // doubles become float
  // Written back in the file's order, then read again: same scene.
  expect_same(s, parse_ply(ply_to_bytes(s, PlyFormat::kBinaryBigEndian)));
}

// A valid binary header for n vertices of SH degree 0, to mutate.
std::string header(size_t n, const std::string& extra_props = "", const std::string& format = "binary_little_endian") {
  std::string h = "ply\nformat " + format + " 1.0\nelement vertex " + std::to_string(n) + "\n";
  for (const char* p : {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                        "rot_0", "rot_1", "rot_2", "rot_3"})
    h += std::string("property float ") + p + "\n";
  return h + extra_props + "end_header\n";
}

std::vector<uint8_t> binary_file(size_t n, const std::string& extra_props = "", size_t extra_bytes = 0) {
  std::vector<uint8_t> b = as_bytes(header(n, extra_props));
  for (size_t i = 0; i < n * (14 * 4 + extra_bytes); ++i) b.push_back(i % 4 == 3 ? 0x3f : 0);  // 0.5f-ish floats
  return b;
}

TEST(PlyMalformed, HeadersAreRejectedWithTheReason) {
  EXPECT_NO_THROW(parse_ply(binary_file(3)));
  expect_error([] { parse_ply(as_bytes("plx\n")); }, "not a PLY file");
  expect_error([] { parse_ply(as_bytes("ply\nformat binary_little_endian 1.0\n")); }, "no end_header");
  expect_error([] { parse_ply(as_bytes(header(1, "", "binary_middle_endian"))); }, "unknown PLY format");
  expect_error([] { parse_ply(binary_file(1, "property quad w\n")); }, "unknown property type 'quad'");
  expect_error([] { parse_ply(binary_file(1, "property list uchar int idx\n")); }, "list properties");
  expect_error([] { parse_ply(binary_file(1, "property float x\n")); }, "appears twice");
  expect_error([] { parse_ply(binary_file(1, "element face 0\n")); }, "one element");
  expect_error([] { parse_ply(binary_file(1, "property float f_rest_0\n", 4)); }, "0, 9, 24 or 45");
  expect_error([] { parse_ply(binary_file(1, "property float nx\n", 4)); }, "missing 3DGS property (nx ny nz");
  expect_error([] { parse_ply(binary_file(1, "property uchar f_rest_x\n", 1)); }, "malformed SH property");
  expect_error([] { parse_ply(binary_file(1, "blah\n")); }, "unknown header keyword 'blah'");
  std::string h = header(2);
  h.replace(h.find("property float opacity\n"), 23, "property int opacity\n");
  expect_error([&] { parse_ply(as_bytes(h)); }, "must be float or double");
  h = header(2);
  h.replace(h.find("property float rot_3\n"), 21, "");
  expect_error([&] { parse_ply(as_bytes(h)); }, "missing 3DGS property (rot_0..3, #3)");
}

TEST(PlyMalformed, CountsThatTheFileCannotHoldAreRejectedBeforeAllocating) {
  std::vector<uint8_t> b = binary_file(2);
  std::string h = header(2);
  const std::string absurd = header(size_t{1} << 60);
  std::vector<uint8_t> big = as_bytes(absurd);
  big.insert(big.end(), b.begin() + h.size(), b.end());
  expect_error([&] { parse_ply(big); }, "truncated");
  expect_error([&] { parse_ply(as_bytes(header(SIZE_MAX, "", "ascii") + "0 0 0 0 0 0 1 0 0 0 1 0 0 0\n")); },
               "ASCII data");
  expect_error([&] { parse_ply(as_bytes("ply\nformat ascii 1.0\nelement vertex 18446744073709551616\nend_header\n")); },
               "bad vertex count");
  b.push_back(0);
  expect_error([&] { parse_ply(b); }, "trailing data");
}

TEST(PlyMalformed, NonFiniteValuesAreRejected) {
  std::vector<uint8_t> b = binary_file(3);
  const float nan = std::nanf("");
  std::memcpy(b.data() + header(3).size() + (14 + 7) * 4, &nan, 4);  // vertex 1, scale_0
  expect_error([&] { parse_ply(b, "n.ply"); }, "n.ply: vertex 1, property 'scale_0': non-finite");
  const std::string t = header(1, "", "ascii") + "0 0 0 0 0 0 inf 0 0 0 1 0 0 0\n";
  expect_error([&] { parse_ply(as_bytes(t)); }, "property 'opacity': non-finite");
  std::string d = header(1, "", "ascii");
  d.replace(d.find("property float z\n"), 17, "property double z\n");
  expect_error([&] { parse_ply(as_bytes(d + "0 0 1e300 0 0 0 0 0 0 0 1 0 0 0\n")); }, "overflows float");
}

TEST(PlyMalformed, AsciiRowsAreCheckedValueByValue) {
  const std::string h = header(2, "property short s\n", "ascii");
  const std::string row = "0 0 0 0.5 0.5 0.5 1 -3 -3 -3 1 0 0 0 ";
  EXPECT_NO_THROW(parse_ply(as_bytes(h + row + "5\n" + row + "-7\n\n")));
  expect_error([&] { parse_ply(as_bytes(h + row + "5\n" + row + "\n")); }, "vertex 1: line ends before property 's'");
  expect_error([&] { parse_ply(as_bytes(h + row + "5 6\n" + row + "1\n")); }, "vertex 0: more than 15 values");
  expect_error([&] { parse_ply(as_bytes(h + row + "40000\n" + row + "1\n")); }, "out of range for short");
  expect_error([&] { parse_ply(as_bytes(h + row + "1.5\n" + row + "1\n")); }, "bad integer '1.5'");
  expect_error([&] { parse_ply(as_bytes(h + row + "5\n0 0 0 0.5 x 0.5 1 -3 -3 -3 1 0 0 0 1\n")); }, "bad number 'x'");
  expect_error([&] { parse_ply(as_bytes(h + row + "5\n" + std::string(40, ' '))); }, "file ends before property 'x'");
  expect_error([&] { parse_ply(as_bytes(h + row + "5\n" + row + "5\n" + row + "5\n")); }, "data after the last of 2");
}

TEST(PlyMalformed, WriterRejectsInconsistentScenes) {
  SplatScene s = small_scene(4, 1, true);
  s.opacity.pop_back();
  expect_error([&] { ply_to_bytes(s); }, "opacity has 3 values, expected 4");
  s = small_scene(4, 1, true);
  s.scales[5] = INFINITY;
  expect_error([&] { ply_to_bytes(s); }, "scales of Gaussian 1 is not finite");
  s = small_scene(4, 1, true);
  s.extras[0].values[2] = 256;
  expect_error([&] { ply_to_bytes(s); }, "256 is not a uchar");
  s = small_scene(4, 1, true);
  s.layout = standard_layout(s);
  s.layout.pop_back();
  expect_error([&] { ply_to_bytes(s); }, "layout lacks extra property 'confidence'");
  s.layout = standard_layout(s);
  s.layout.push_back(s.layout[0]);
  expect_error([&] { ply_to_bytes(s); }, "'x' appears twice");
}

// Fuzz-style: every strict prefix of a binary file is an error; prefixes of an ASCII file and
// random byte flips and header token mutations of both are an error or a valid scene.
TEST(PlyFuzz, EveryTruncationIsRejected) {
  const SplatScene s = small_scene(3, 1, true);
  const auto bin = ply_to_bytes(s, PlyFormat::kBinaryBigEndian);
  for (size_t len = 0; len < bin.size(); ++len)
    EXPECT_THROW(parse_ply(Span<const uint8_t>(bin.data(), len)), Error) << "prefix " << len;
  const auto txt = ply_to_bytes(s, PlyFormat::kAscii);
  size_t accepted = 0;
  for (size_t len = 0; len < txt.size(); ++len) {
    try {
      const SplatScene t = parse_ply(Span<const uint8_t>(txt.data(), len));
      EXPECT_EQ(t.count, 3u);  // only a cut inside the last number can still parse
      ++accepted;
    } catch (const Error&) {
    }
  }
  EXPECT_LT(accepted, 30u);
}

TEST(PlyFuzz, RandomByteFlipsAndHeaderMutationsNeverEscapeAsAnythingButError) {
  const SplatScene s = small_scene(4, 2, true);
  Rng rng(99);
  const char* words[] = {"property", "element", "vertex", "float", "list", "uchar", "end_header", "-1",
                         "4294967296", "99999999999", "ascii", "comment", "f_rest_3", "nan", "\n", " "};
  for (PlyFormat f : {PlyFormat::kAscii, PlyFormat::kBinaryLittleEndian}) {
    const auto good = ply_to_bytes(s, f);
    const std::string text(good.begin(), good.end());
    const size_t header_end = text.find("end_header\n") + 11;
    for (int iter = 0; iter < 1500; ++iter) {
      std::vector<uint8_t> b = good;
      if (iter % 2 == 0) {
        for (int k = 0; k < 1 + iter % 4; ++k) b[rng.below(b.size())] ^= static_cast<uint8_t>(1 + rng.below(255));
      } else {
        // Replace a random header token by a random word.
        std::string t(b.begin(), b.end());
        size_t p = rng.below(header_end);
        while (p < header_end && t[p] != ' ' && t[p] != '\n') ++p;
        size_t q = p + 1;
        while (q < header_end && t[q] != ' ' && t[q] != '\n') ++q;
        if (q <= header_end) t.replace(p + 1, q - p - 1, words[rng.below(std::size(words))]);
        b.assign(t.begin(), t.end());
      }
      try {
        const SplatScene r = parse_ply(b, "fuzz.ply");
        r.validate();
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace vq::splats
