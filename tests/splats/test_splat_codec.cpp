// Splat codec: round trip within per-attribute and rendered budgets, exact position grid,
// determinism, SH degree reduction, presets ordered by size and quality, and malformed .vqc
// files rejected with vq::Error.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "container_edit.h"
#include "core/zstd_frame.h"
#include "vq/error.h"
#include "vq/core/rng.h"
#include "vq/splats/evaluate.h"
#include "vq/splats/splat_codec.h"
#include "vq/splats/synthetic_scene.h"

namespace vq::splats {
namespace {

// The scenes here are tiny (hundreds to thousands of Gaussians): threads gain nothing, and on a
// loaded 2-core machine the many short parallel regions of training made this suite 60× slower
// with 2 OpenMP threads than with 1. Threaded determinism is the core's to test (k-means).
class SingleThread : public ::testing::Environment {
 public:
  void SetUp() override { omp_set_num_threads(1); }
};
const auto* const kSingleThread = ::testing::AddGlobalTestEnvironment(new SingleThread);

const SplatScene& scene() {
  static const SplatScene s = synthetic_scene({3000, 3, 11, 0.03f});
  return s;
}

std::vector<uint8_t> encode_bytes(const SplatScene& s, const SplatCodecOptions& o) {
  ContainerWriter w;
  encode_splats(s, o, w);
  return w.to_bytes();
}

SplatScene decode_bytes(const std::vector<uint8_t>& b) { return decode_splats(ContainerReader::from_bytes(b)); }

SplatEvalOptions quick_eval() {
  SplatEvalOptions e;
  e.views = 3;
  e.width = e.height = 96;
  return e;
}

double attr(const SplatEvaluation& e, const std::string& name) {
  for (const AttributeError& a : e.attributes)
    if (a.name == name) return a.value;
  ADD_FAILURE() << "no attribute " << name;
  return 0;
}

TEST(SplatCodec, MediumRoundTripStaysWithinPerAttributeAndRenderedBudgets) {
  const SplatCodecOptions o = SplatCodecOptions::preset("medium");
  const std::vector<uint8_t> bytes = encode_bytes(scene(), o);
  const SplatScene d = decode_bytes(bytes);
  ASSERT_EQ(d.count, scene().count);
  EXPECT_EQ(d.sh_degree, 3);
  EXPECT_EQ(d.normals.size(), d.count * 3);
  // > 5× smaller even at n = 3000, where the codebooks weigh as much as the codes.
  EXPECT_LT(bytes.size() * 5, ply_to_bytes(scene()).size());
  const SplatEvaluation e = evaluate_splats(scene(), d, quick_eval());
  EXPECT_EQ(e.matched, scene().count);
  EXPECT_GT(e.mean_psnr, 35.0);
  EXPECT_GT(e.mean_ssim, 0.97);
  EXPECT_LT(attr(e, "log-scale"), 0.1);
  EXPECT_LT(attr(e, "rotation"), 8.0);
  EXPECT_LT(attr(e, "opacity"), 0.02);
  EXPECT_LT(attr(e, "colour"), 0.015);
  for (const char* sh : {"sh1", "sh2", "sh3"}) EXPECT_LT(attr(e, sh), 0.06) << sh;
  // Decoded quaternions are unit with w >= 0; the PLY round trip of the decoded scene is exact.
  for (size_t i = 0; i < d.count; ++i) {
    const float* q = &d.rotations[i * 4];
    EXPECT_NEAR(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3], 1.f, 1e-5f);
    EXPECT_GE(q[0], 0.f);
  }
  EXPECT_EQ(parse_ply(ply_to_bytes(d)).positions, d.positions);
}

TEST(SplatCodec, PositionsLieOnTheGridWithinHalfAStep) {
  const SplatScene s = synthetic_scene({400, 0, 3, 0.05f});
  for (int bits : {8, 12, 21}) {
    SplatCodecOptions o = SplatCodecOptions::preset("low");
    o.position_bits = bits;
    const SplatScene d = decode_bytes(encode_bytes(s, o));
    float step[3];
    for (int a = 0; a < 3; ++a) {
      float lo = INFINITY, hi = -INFINITY;
      for (size_t i = 0; i < s.count; ++i) {
        lo = std::min(lo, s.positions[i * 3 + a]);
        hi = std::max(hi, s.positions[i * 3 + a]);
      }
      step[a] = (hi - lo) / ((1 << bits) - 1);
    }
    // Brute force: every original has a decoded Gaussian within half a step (+ float slack)
    // on every axis, and the decoded set is sorted by Morton code (no Gaussian lost).
    for (size_t i = 0; i < s.count; ++i) {
      bool found = false;
      for (size_t j = 0; j < d.count && !found; ++j) {
        bool close = true;
        for (int a = 0; a < 3; ++a)
          close &= std::fabs(d.positions[j * 3 + a] - s.positions[i * 3 + a]) <= 0.5f * step[a] + 1e-5f * (1 + std::fabs(s.positions[i * 3 + a]));
        found = close;
      }
      EXPECT_TRUE(found) << "bits " << bits << ", Gaussian " << i;
    }
  }
}

TEST(SplatCodec, EncodingIsDeterministic) {
  SplatCodecOptions o = SplatCodecOptions::preset("low");
  EXPECT_EQ(encode_bytes(scene(), o), encode_bytes(scene(), o));
}

TEST(SplatCodec, ShDegreeReductionDropsTheHigherBands) {
  SplatCodecOptions o = SplatCodecOptions::preset("low");
  const auto full = encode_bytes(scene(), o);
  o.sh_degree = 1;
  const auto reduced = encode_bytes(scene(), o);
  EXPECT_LT(reduced.size(), full.size());
  const ContainerReader r = ContainerReader::from_bytes(reduced);
  EXPECT_EQ(r.count("SATT"), 5u);
  EXPECT_EQ(r.meta_at("splats.sh_degree"), "1");
  EXPECT_EQ(r.meta_at("splats.source_sh_degree"), "3");
  const SplatScene d = decode_splats(r);
  EXPECT_EQ(d.sh_degree, 1);
  EXPECT_EQ(d.sh_rest.size(), d.count * 9);
}

TEST(SplatCodec, PresetsAreOrderedBySizeAndRenderedQuality) {
  size_t last_size = 0;
  double last_psnr = 0;
  for (const char* q : {"low", "medium", "high"}) {
    const auto b = encode_bytes(scene(), SplatCodecOptions::preset(q));
    const double p = evaluate_splats(scene(), decode_bytes(b), quick_eval()).mean_psnr;
    EXPECT_GT(b.size(), last_size) << q;
    EXPECT_GT(p, last_psnr) << q;
    last_size = b.size();
    last_psnr = p;
  }
  EXPECT_THROW(SplatCodecOptions::preset("ultra"), Error);
}

TEST(SplatCodec, ImportanceGrowsWithOpacityAndSizeAndIsClamped) {
  SplatScene s = synthetic_scene({4, 0, 1, 0.f});
  for (size_t i = 0; i < 4; ++i)
    for (int a = 0; a < 3; ++a) s.scales[i * 3 + a] = -3;
  s.opacity = {4, -4, 4, 4};
  s.scales[2 * 3] = s.scales[2 * 3 + 1] = -2;   // larger
  s.scales[3 * 3] = s.scales[3 * 3 + 1] = 20;   // absurdly large: clamped
  const std::vector<float> w = importance_weights(s);
  EXPECT_GT(w[0], w[1]);
  EXPECT_GT(w[2], w[0]);
  // Areas (log) -6, -6, -4, 40: the median is -4 (Gaussian 2), so Gaussian 3 is clamped to
  // 64× its area, weight sqrt(64) = 8× Gaussian 2's; Gaussian 2 has e² Gaussian 0's area.
  EXPECT_NEAR(w[3] / w[2], 8.f, 1e-3f);
  EXPECT_NEAR(w[2] / w[0], std::exp(1.f), 1e-3f);
}

TEST(SplatCodec, BadOptionsAndScenesAreRejected) {
  SplatCodecOptions o = SplatCodecOptions::preset("low");
  o.position_bits = 22;
  EXPECT_THROW(encode_bytes(scene(), o), Error);
  o = SplatCodecOptions::preset("low");
  o.specs[0] = "RVQ2x";
  EXPECT_THROW(encode_bytes(scene(), o), Error);
  SplatScene bad = scene();
  bad.opacity[5] = NAN;
  EXPECT_THROW(encode_bytes(bad, SplatCodecOptions::preset("low")), Error);
}

// Copies a container with one metadata key changed, or one chunk dropped.
std::vector<uint8_t> rewrite(const std::vector<uint8_t>& bytes, const std::string& key, const std::string& value,
                             const std::string& drop_type = "", size_t drop_index = 0) {
  const ContainerReader r = ContainerReader::from_bytes(bytes);
  ContainerWriter w;
  for (const auto& [k, v] : r.meta()) w.set_meta(k, k == key ? value : v);
  std::map<std::string, size_t> seen;
  for (const auto& c : r.chunks()) {
    if (c.type == "META" || c.type == "END ") continue;
    const size_t idx = seen[c.type]++;
    if (c.type == drop_type && idx == drop_index) continue;
    const auto p = r.payload(c.type, idx);
    w.add(c.type, std::vector<uint8_t>(p.begin(), p.end()));
  }
  return w.to_bytes();
}

TEST(SplatCodecMalformed, TruncationsFlipsAndForgedFieldsAreErrors) {
  const SplatScene s = synthetic_scene({600, 1, 5, 0.05f});
  const auto good = encode_bytes(s, SplatCodecOptions::preset("low"));
  EXPECT_NO_THROW(decode_bytes(good));
  for (size_t len = 0; len < good.size(); len += 1 + len / 8)
    EXPECT_THROW(decode_bytes(std::vector<uint8_t>(good.begin(), good.begin() + len)), Error) << len;
  Rng rng(3);
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> b = good;
    b[rng.below(b.size())] ^= static_cast<uint8_t>(1 + rng.below(255));
    try {
      decode_bytes(b).validate();
    } catch (const Error&) {
    }
  }
  // CRCs are valid in these: the codec's own checks must catch them.
  EXPECT_THROW(decode_bytes(rewrite(good, "splats.count", "601")), Error);
  EXPECT_THROW(decode_bytes(rewrite(good, "splats.count", "99999999999999")), Error);
  EXPECT_THROW(decode_bytes(rewrite(good, "splats.count", "12x")), Error);
  EXPECT_THROW(decode_bytes(rewrite(good, "splats.sh_degree", "2")), Error);
  EXPECT_THROW(decode_bytes(rewrite(good, "vq.kind", "codes")), Error);
  EXPECT_THROW(decode_bytes(rewrite(good, "", "", "SATT", 3)), Error);  // codes without their quantizer
  EXPECT_THROW(decode_bytes(rewrite(good, "", "", "SQNT", 3)), Error);  // a quantizer without its codes
  EXPECT_THROW(decode_bytes(rewrite(good, "", "", "SPOS", 0)), Error);
  try {
    decode_bytes(rewrite(rewrite(good, "", "", "SATT", 0), "", "", "SQNT", 0));
    ADD_FAILURE() << "missing scale accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attribute scale missing"), std::string::npos) << e.what();
  }
}

// Each attribute's quantizer is an embedded chunk (SQNT, embedded_model.h), zstd-compressed; the
// same chunks stored as is decode to the same scene, and a damaged codebook with valid CRCs is
// refused by that quantizer's self-test, naming the chunk.
TEST(SplatCodecMalformed, EmbeddedQuantizersAreSelfTested) {
  const SplatScene s = synthetic_scene({600, 1, 5, 0.05f});
  const auto good = encode_bytes(s, SplatCodecOptions::preset("low"));
  const ContainerReader in = ContainerReader::from_bytes(good);
  ASSERT_EQ(in.count("SQNT"), in.count("SATT"));
  std::vector<uint8_t> plain = good;
  for (size_t i = 0; i < in.count("SQNT"); ++i)
    plain = testdata::edit_chunk(plain, "SQNT", i, [](std::vector<uint8_t>& p) {
      ASSERT_TRUE(vq::detail::is_zstd_frame(p));
      p = vq::detail::zstd_decompress(p, uint64_t{1} << 26, "SQNT");
    });
  const SplatScene a = decode_bytes(good), b = decode_bytes(plain);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.sh_rest, b.sh_rest);
  try {
    decode_splats(ContainerReader::from_bytes(testdata::with_negated_first_book(plain, "SQNT", 0), "scene.vqc"));
    ADD_FAILURE() << "a scene with a negated codebook decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scene.vqc: chunk 'SQNT' #0: quantizer self-test failed"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vq::splats
