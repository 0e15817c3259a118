// Image codec: patch transform, tokenizer, token codings, encoded files, image I/O, quality.
#include <gtest/gtest.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <omp.h>

#include <cmath>
#include <numeric>

#include "container_edit.h"
#include "image/compression_bound.h"
#include "util/atomic_file.h"
#include "image_fixture.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/container.h"
#include "vq/core/rng.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/image/image_quality.h"
#include "vq/image/image_tokenizer.h"
#include "vq/image/patch_transform.h"

namespace vq::image {
namespace {

using testing_image::synthetic;

// The tiny model every tokenizer/codec test uses, trained once at build time by
// make_test_model.cpp from image_fixture.h's recipe (DeterministicAndSavedModelsAgree retrains it).
const ImageTokenizer& small_model() {
  static const ImageTokenizer model = ImageTokenizer::load(VQ_IMAGE_TEST_MODEL);
  return model;
}

TEST(PatchTransform, RoundTripIsLosslessTo8Bits) {
  for (size_t p : {2, 4, 8, 16})
    for (auto [w, h] : {std::pair<size_t, size_t>{1, 1}, {17, 9}, {33, 31}, {16, 16}, {5, 40}}) {
      const PatchTransform t(p);
      const Image rgb = synthetic(w, h, 3, w * 31 + h);
      const Matrix coefs = t.forward(rgb);
      ASSERT_EQ(coefs.rows(), t.grid_rows(h) * t.grid_cols(w));
      EXPECT_EQ(t.inverse(coefs.view(), w, h).pixels, rgb.pixels) << "patch " << p << ", " << w << "×" << h;
      const Image grey = synthetic(w, h, 1, w + h);
      EXPECT_EQ(t.inverse(t.forward(grey).view(), w, h, 1).pixels, grey.pixels);
    }
}

TEST(PatchTransform, IsOrthonormalAndDiagonalOrdered) {
  // Parseval: a constant-luma patch has all its energy in the Y DC coefficient = p · (v − 128).
  const PatchTransform t(8);
  Image flat(8, 8, 1, 200);
  const Matrix c = t.forward(flat);
  EXPECT_NEAR(c(0, 0), 8.0 * 72.0, 1e-3);
  double rest = 0;
  for (size_t j = 1; j < t.dim(); ++j) rest += std::abs(c(0, j));
  EXPECT_LT(rest, 1e-2);
  // Weights fall from DC to the highest frequency and chroma is scaled.
  const std::vector<float> w = t.weights(0.5f, 0.25f);
  EXPECT_FLOAT_EQ(w[0], 1.f);
  EXPECT_FLOAT_EQ(w[63], 0.25f);
  EXPECT_FLOAT_EQ(w[64], 0.5f);
  EXPECT_THROW(t.weights(0.f, 1.f), Error);
  EXPECT_THROW(PatchTransform(1), Error);
}

TEST(ImageTokenizer, OddSizesGreyAndAlpha) {
  const ImageTokenizer& m = small_model();
  for (size_t channels : {1, 2, 3, 4}) {
    const Image im = synthetic(37, 23, channels, channels);
    const EncodedImage e = encode_image(im, m, {}, "test");
    EXPECT_EQ(e.grid.rows, 6u);
    EXPECT_EQ(e.grid.cols, 10u);
    EXPECT_EQ(e.grid.token_count(), 6u * 10u * 3u);
    const Image d = decode_image(e, m);
    ASSERT_EQ(d.width, 37u);
    ASSERT_EQ(d.height, 23u);
    EXPECT_EQ(d.channels, channels) << "grey stays grey, alpha is kept";
    EXPECT_GT(psnr(im, d), 24.0);
    if (im.has_alpha()) {
      EXPECT_EQ(alpha_plane(d).pixels, alpha_plane(im).pixels) << "alpha is lossless";
    }
  }
  // A fully opaque alpha channel is dropped.
  Image opaque = synthetic(9, 9, 4, 5);
  for (size_t i = 0; i < opaque.pixel_count(); ++i) opaque.pixels[i * 4 + 3] = 255;
  EXPECT_EQ(decode_image(encode_image(opaque, m, {}, "test"), m).channels, 3u);
}

TEST(ImageTokenizer, LevelsTradeTokensForQuality) {
  const ImageTokenizer& m = small_model();
  const Image im = synthetic(48, 40, 3, 77);
  const TokenGrid full = m.encode(im);
  double previous = 0;
  for (size_t l = 1; l <= m.levels(); ++l) {
    const TokenGrid g = full.truncated(l);
    EXPECT_EQ(g.tokens, m.encode(im, l).tokens) << "a prefix of levels is the shallower encoding";
    const double q = psnr(im, m.decode(g));
    EXPECT_GT(q, previous) << "level " << l;
    previous = q;
  }
  EXPECT_THROW(m.encode(im, m.levels() + 1), Error);
}

// The tokenizer's own batched greedy search gives the quantizer's codes, for any thread count.
TEST(ImageTokenizer, GreedySearchEqualsTheQuantizersCodes) {
  const ImageTokenizer& m = small_model();
  ASSERT_TRUE(m.supports_adaptive());
  const Image im = synthetic(101, 97, 3, 5);  // 26 × 25 patches of 4 px: more than one batch
  const Codes codes = m.quantizer().encode(m.transform().forward(im));
  const TokenGrid g = m.encode(im);
  ASSERT_EQ(g.tokens.size(), codes.data.size());
  EXPECT_EQ(g.tokens, codes.data);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const TokenGrid one = m.encode(im);
  const TokenGrid adaptive_one = m.encode_adaptive(im, 2.f);
  const Image decoded_one = m.decode(adaptive_one);
  const Refinement refined_one = m.refine(im, one, 3.f);
  const Image refined_decoded_one = m.decode(one, &refined_one);
  omp_set_num_threads(std::max(2, threads));
  // The refinement too: AC levels come from batches in parallel, the DC walk is sequential.
  const Refinement refined = m.refine(im, one, 3.f);
  EXPECT_EQ(refined.levels, refined_one.levels);
  EXPECT_EQ(m.decode(one, &refined).pixels, refined_decoded_one.pixels);
  EXPECT_EQ(one.tokens, g.tokens);
  const TokenGrid adaptive = m.encode_adaptive(im, 2.f);
  EXPECT_EQ(adaptive.tokens, adaptive_one.tokens);
  EXPECT_EQ(adaptive.depth, adaptive_one.depth);
  EXPECT_EQ(m.decode(adaptive).pixels, decoded_one.pixels);
  omp_set_num_threads(threads);
}

// Adaptive depth against a brute-force reference: each patch's weighted error after every level
// from the codebooks, and the stop rule applied to it.
TEST(ImageTokenizer, AdaptiveDepthFollowsTheStopRule) {
  const ImageTokenizer& m = small_model();
  const Image im = synthetic(61, 45, 3, 12);
  const TokenGrid full = m.encode(im);
  const Matrix x = m.transform().forward(im);
  const std::vector<float> h = m.transform().weights(m.chroma_weight(), m.high_frequency_weight());
  const auto& books = dynamic_cast<const CodebookQuantizer&>(m.quantizer()).books();
  const size_t n = full.rows * full.cols, L = m.levels(), d = x.cols(), pp = m.patch() * m.patch();
  // err[i][l]: weighted squared error of patch i with its first l levels (l = 0..L).
  std::vector<std::vector<double>> err(n, std::vector<double>(L + 1));
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> r(x.row_ptr(i), x.row_ptr(i) + d);
    for (size_t l = 0; l <= L; ++l) {
      if (l > 0)
        for (size_t j = 0; j < d; ++j) r[j] -= books[l - 1].entry(full.tokens[i * L + l - 1])[j];
      double e = 0;
      for (size_t j = 0; j < d; ++j) e += h[j] * r[j] * r[j];
      err[i][l] = e;
    }
  }
  double previous_mean = double(L) + 1;
  for (float gain : {0.f, 0.5f, 2.f, 8.f, 1e9f}) {
    const TokenGrid g = m.encode_adaptive(im, gain);
    g.validate("test");
    ASSERT_EQ(g.depth.size(), n);
    size_t used = 0, checked = 0;
    for (size_t i = 0; i < n; ++i) {
      used += g.depth[i];
      for (size_t s = 0; s < g.depth[i]; ++s) EXPECT_EQ(g.tokens[i * L + s], full.tokens[i * L + s]);
      size_t expect = L;
      bool near_tie = false;
      for (size_t l = 1; l < L; ++l) {
        const double step = err[i][l] - err[i][l + 1], limit = double(gain) * pp;
        near_tie = near_tie || std::abs(step - limit) < 1e-3 * (1 + limit);
        if (step < limit) {
          expect = l;
          break;
        }
      }
      if (near_tie) continue;  // float rounding of the GEMM expansion may decide either way
      ++checked;
      EXPECT_EQ(g.depth[i], expect) << "patch " << i << ", gain " << gain;
    }
    EXPECT_GT(checked, n * 9 / 10);
    const double mean = double(used) / double(n);
    EXPECT_LE(mean, previous_mean) << "a larger gain never deepens the grid";
    previous_mean = mean;
    if (gain > 1e8f) {
      EXPECT_EQ(mean, 1.0);
      EXPECT_EQ(m.decode(g).pixels, m.decode(full.truncated(1)).pixels);
    }
  }
  EXPECT_THROW(m.encode_adaptive(im, -1.f), Error);
  EXPECT_THROW(m.encode_adaptive(im, NAN), Error);
}

TEST(ImageTokenizer, DeterministicAndSavedModelsAgree) {
  const ImageTokenizer& m = small_model();
  const std::string path = ::testing::TempDir() + "/image_model.vqc";
  m.save(path);
  const ImageTokenizer loaded = ImageTokenizer::load(path);
  EXPECT_EQ(loaded.ref().hash, m.ref().hash) << "a re-saved model is the same bytes";
  const Image im = synthetic(30, 20, 3, 9);
  EXPECT_EQ(loaded.encode(im).tokens, m.encode(im).tokens);
  const ImageTokenizer trained =
      ImageTokenizer::train(testing_image::tiny_model_images(), testing_image::tiny_model_options());
  EXPECT_EQ(trained.ref().hash, m.ref().hash) << "same data, seed and threads: same model";
  EXPECT_EQ(trained.encode(im).tokens, m.encode(im).tokens);
}

// The model file embeds its quantizer as chunk IQNT (embedded_model.h): loaded back it is the
// same tokenizer, caller keys stay with the model, and damaged codebooks with valid CRCs are
// refused by the quantizer's self-test, naming the chunk.
TEST(ImageTokenizer, EmbeddedQuantizerRoundTripsAndIsSelfTested) {
  const ImageTokenizer& m = small_model();
  const std::vector<uint8_t> bytes = m.to_bytes();
  const ContainerReader in = ContainerReader::from_bytes(bytes, "model.vqc");
  EXPECT_TRUE(in.has("IQNT"));
  EXPECT_FALSE(in.meta().count("quantizer.spec")) << "the quantizer's keys live in its own container";
  EXPECT_EQ(model_hash(bytes), *m.ref().hash) << "to_bytes() of a loaded model is its file";
  const ImageTokenizer back = ImageTokenizer::read(in);
  EXPECT_EQ(back.ref().name, "model.vqc");
  EXPECT_EQ(back.quantizer().describe(), m.quantizer().describe());
  const Image im = synthetic(24, 16, 3, 4);
  EXPECT_EQ(back.encode(im).tokens, m.encode(im).tokens);
  try {
    (void)ImageTokenizer::read(
        ContainerReader::from_bytes(testdata::with_negated_first_book(bytes, "IQNT", 0), "model.vqc"));
    ADD_FAILURE() << "a model with a negated codebook loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.vqc: chunk 'IQNT' #0: quantizer self-test failed"), std::string::npos)
        << e.what();
  }
  ImageTrainOptions reserved = testing_image::tiny_model_options();
  reserved.metadata = {{"image.patch", "4"}};
  EXPECT_THROW(ImageTokenizer::train(testing_image::tiny_model_images(), reserved), Error);
}

TEST(TokenCoding, EveryCodingRoundTrips) {
  const ImageTokenizer& m = small_model();
  TokenGrid g = m.encode(synthetic(50, 30, 3, 3));
  // Add a flat region (repeated tokens) and random tokens, the two extremes of the coder.
  Rng rng(4);
  for (size_t i = 0; i < g.tokens.size() / 3; ++i) g.tokens[i] = g.tokens[i % g.tokens_per_patch()];
  for (size_t i = g.tokens.size() / 2; i < g.tokens.size(); ++i) g.tokens[i] = uint16_t(rng.below(64));
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kZstd, TokenCoding::kArithmetic}) {
    const std::vector<uint8_t> bytes = encode_tokens(g, c);
    TokenGrid back = g;
    back.tokens.clear();
    decode_tokens(bytes, c, back);
    EXPECT_EQ(back.tokens, g.tokens) << token_coding_name(c);
  }
  // 16-bit tokens through every coding.
  TokenGrid wide = g;
  wide.bits = 16;
  for (uint16_t& t : wide.tokens) t = uint16_t(rng.below(65536));
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kZstd, TokenCoding::kArithmetic}) {
    TokenGrid back = wide;
    decode_tokens(encode_tokens(wide, c), c, back);
    EXPECT_EQ(back.tokens, wide.tokens) << token_coding_name(c);
  }
  EXPECT_EQ(encode_tokens(g, TokenCoding::kFixed).size(), (g.token_count() * 6 + 7) / 8);
}

// The stop-symbol stream: adaptive-depth grids (real and random depths) round trip exactly
// through the arithmetic coder, deterministically; the other codings refuse them.
TEST(TokenCoding, AdaptiveDepthRoundTripsExactly) {
  const ImageTokenizer& m = small_model();
  std::vector<TokenGrid> grids = {m.encode_adaptive(synthetic(50, 30, 3, 3), 2.f)};
  TokenGrid random = grids[0];
  Rng rng(21);
  const size_t tp = random.tokens_per_patch();
  for (size_t i = 0; i < random.depth.size(); ++i) {
    random.depth[i] = uint16_t(1 + rng.below(random.levels));
    for (size_t s = 0; s < tp; ++s) random.tokens[i * tp + s] = s < random.depth[i] ? uint16_t(rng.below(64)) : 0;
  }
  grids.push_back(random);
  for (const TokenGrid& g : grids) {
    const std::vector<uint8_t> bytes = encode_tokens(g, TokenCoding::kArithmetic);
    EXPECT_EQ(encode_tokens(g, TokenCoding::kArithmetic), bytes);
    TokenGrid back = g;
    back.tokens.clear();
    std::fill(back.depth.begin(), back.depth.end(), uint16_t(1));
    decode_tokens(bytes, TokenCoding::kArithmetic, back);
    EXPECT_EQ(back.tokens, g.tokens);
    EXPECT_EQ(back.depth, g.depth);
    EXPECT_THROW(encode_tokens(g, TokenCoding::kFixed), Error);
    EXPECT_THROW(encode_tokens(g, TokenCoding::kZstd), Error);
    // Cutting levels keeps it valid and decodable.
    const TokenGrid cut = g.truncated(2);
    TokenGrid cut_back = cut;
    decode_tokens(encode_tokens(cut, TokenCoding::kArithmetic), TokenCoding::kArithmetic, cut_back);
    EXPECT_EQ(cut_back.tokens, cut.tokens);
    EXPECT_EQ(cut_back.depth, cut.depth);
  }
  // When most patches stop early, the stop symbols cost less than the tokens they save.
  const Image im = synthetic(50, 30, 3, 3);
  const TokenGrid shallow = m.encode_adaptive(im, 30.f);
  size_t used = 0;
  for (uint16_t d : shallow.depth) used += d;
  ASSERT_LT(used * 2, shallow.depth.size() * (shallow.levels + 1)) << "test premise: mean depth under (L+1)/2";
  EXPECT_LT(encode_tokens(shallow, TokenCoding::kArithmetic).size(), encode_tokens(m.encode(im), TokenCoding::kArithmetic).size());
  // validate() catches a depth out of range and a token past a patch's depth.
  TokenGrid bad = grids[1];
  bad.depth[0] = 0;
  EXPECT_THROW(bad.validate("test"), Error);
  bad = grids[1];
  bad.depth[0] = 1;
  bad.tokens[1] = 1;
  EXPECT_THROW(bad.validate("test"), Error);
}

std::vector<uint8_t> encoded_file(const Image& im, TokenCoding c, float min_gain = -1.f) {
  ContainerWriter w;
  write_encoded_image(w, encode_image(im, small_model(), {0, min_gain}, "test"), c);
  return w.to_bytes();
}

TEST(EncodedImage, AdaptiveDepthFileRoundTrip) {
  const Image im = synthetic(37, 29, 4, 6);
  const EncodedImage e = encode_image(im, small_model(), {0, 2.f}, "test");
  const std::vector<uint8_t> bytes = encoded_file(im, TokenCoding::kArithmetic, 2.f);
  EXPECT_EQ(encoded_file(im, TokenCoding::kArithmetic, 2.f), bytes) << "deterministic bytes";
  const EncodedImage back = read_encoded_image(ContainerReader::from_bytes(bytes));
  EXPECT_EQ(back.grid.depth, e.grid.depth);
  EXPECT_EQ(back.grid.tokens, e.grid.tokens);
  EXPECT_EQ(decode_image(back, small_model()).pixels, decode_image(e, small_model()).pixels);
  EXPECT_THROW(encoded_file(im, TokenCoding::kFixed, 2.f), Error);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(n));
    EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(cut)), Error) << "truncated at " << n;
  }
  // A file claiming adaptive depth for a fixed-coded payload, or an unknown depth mode, is refused.
  ContainerWriter w;
  write_encoded_image(w, encode_image(im, small_model(), {}, "test"), TokenCoding::kFixed);
  w.set_meta("image.depth", "adaptive");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error);
  w.set_meta("image.depth", "sometimes");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error);
}

TEST(EncodedImage, FileRoundTripInEveryCoding) {
  const Image im = synthetic(21, 13, 4, 8);
  const Image direct = decode_image(encode_image(im, small_model(), {}, "test"), small_model());
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kZstd, TokenCoding::kArithmetic}) {
    const std::vector<uint8_t> bytes = encoded_file(im, c);
    const EncodedImage e = read_encoded_image(ContainerReader::from_bytes(bytes));
    EXPECT_EQ(decode_image(e, small_model()).pixels, direct.pixels) << token_coding_name(c);
    EXPECT_EQ(encoded_file(im, c), bytes) << "deterministic bytes";
  }
}

// Codec mode: a scalar refinement on the first token level(s). Finer steps raise the quality
// (to near lossless at step 1) for more bytes; the file round trip is exact; grey sources get no
// chroma levels; it combines with adaptive depth; a lying or corrupt file is refused.
TEST(EncodedImage, RefinementRaisesQualityAndRoundTrips) {
  const ImageTokenizer& m = small_model();
  const Image im = synthetic(37, 29, 4, 12);
  double previous_psnr = psnr(im, decode_image(encode_image(im, m, {1}, "test"), m));
  size_t previous_bytes = 0;
  for (float step : {32.f, 8.f, 1.f}) {
    const EncodedImage e = encode_image(im, m, {1, -1.f, step}, "test");
    ASSERT_FALSE(e.refinement.empty());
    ContainerWriter w;
    write_encoded_image(w, e, TokenCoding::kArithmetic);
    const std::vector<uint8_t> bytes = w.to_bytes();
    const EncodedImage back = read_encoded_image(ContainerReader::from_bytes(bytes));
    EXPECT_EQ(back.refinement.step, step);
    EXPECT_EQ(back.refinement.levels, e.refinement.levels);
    const Image d = decode_image(back, m);
    EXPECT_EQ(d.pixels, decode_image(e, m).pixels);
    EXPECT_EQ(alpha_plane(d).pixels, alpha_plane(im).pixels);
    const double q = psnr(im, d);
    EXPECT_GT(q, previous_psnr) << "step " << step;
    EXPECT_GT(bytes.size(), previous_bytes) << "step " << step;
    previous_psnr = q, previous_bytes = bytes.size();
    for (size_t n = 0; n < bytes.size(); n += 7) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(n));
      EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(cut)), Error) << "truncated at " << n;
    }
  }
  // |error| <= 0.6 step per coefficient plus the final rounding to 8 bits.
  EXPECT_GT(previous_psnr, 48.0);

  const Image grey = synthetic(20, 19, 1, 3);
  const EncodedImage g = encode_image(grey, m, {1, -1.f, 2.f}, "test");
  const size_t pp = m.patch() * m.patch();
  for (size_t i = 0; i < g.refinement.patches; ++i)
    for (size_t j = pp; j < g.refinement.dim; ++j) ASSERT_EQ(g.refinement.levels[i * g.refinement.dim + j], 0);
  const Image gd = decode_image(g, m);
  EXPECT_EQ(gd.channels, 1u);
  EXPECT_GT(psnr(grey, gd), 44.0);

  const EncodedImage a = encode_image(im, m, {0, 2.f, 4.f}, "test");
  EXPECT_TRUE(a.grid.adaptive());
  EXPECT_GT(psnr(im, decode_image(a, m)), psnr(im, decode_image(encode_image(im, m, {0, 2.f}, "test"), m)));

  // A target rate picks the finest step whose file fits it (to within the bisection's 1 %).
  const Image big = synthetic(128, 96, 3, 21);
  auto file_bytes = [&](const EncodedImage& e) {
    ContainerWriter w;
    write_encoded_image(w, e, TokenCoding::kArithmetic);
    return double(w.to_bytes().size());
  };
  for (double bpp : {1.5, 3.0}) {
    const EncodedImage e = encode_image(big, m, {1, -1.f, 0.f, bpp}, "test");
    const double budget = bpp * double(big.pixel_count()) / 8.0;
    EXPECT_LE(file_bytes(e), budget) << bpp;
    EXPECT_GT(file_bytes(encode_image(big, m, {1, -1.f, 0.98f * e.refinement.step}, "test")), budget) << bpp;
  }
  // Below what the tokens alone cost: the coarsest step, the smallest file there is.
  EXPECT_EQ(encode_image(big, m, {1, -1.f, 0.f, 0.01}, "test").refinement.step, kMaxRefinementStep);
  EXPECT_THROW(encode_image(big, m, {1, -1.f, 0.f, -1.0}, "test"), Error);

  EXPECT_THROW(encode_image(im, m, {1, -1.f, 0.1f}, "test"), Error);
  EXPECT_THROW(encode_image(im, m, {1, -1.f, -2.f}, "test"), Error);
  ContainerWriter w;
  write_encoded_image(w, encode_image(im, m, {1, -1.f, 8.f}, "test"), TokenCoding::kArithmetic);
  for (const char* bad_step : {"abc", "0.1", "", "8x", "nan"}) {
    w.set_meta("image.refinement_step", bad_step);
    EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error) << bad_step;
  }
  w.set_meta("image.refinement_step", "8");
  w.set_meta("image.refinement", "none");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error) << "IREF without the key";
  w.set_meta("image.refinement", "vector");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error) << "unknown refinement";
  ContainerWriter plain;
  write_encoded_image(plain, encode_image(im, m, {1}, "test"), TokenCoding::kArithmetic);
  plain.set_meta("image.refinement", "scalar");
  plain.set_meta("image.refinement_step", "8");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(plain.to_bytes())), Error) << "key without IREF";
}

// Every truncation and a few hundred byte flips: a clear vq::Error or (for flips the CRC cannot
// see, none expected) a valid result — never a crash, hang or huge allocation.
TEST(EncodedImage, TruncatedAndCorruptFilesAreRejected) {
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kArithmetic}) {
    const std::vector<uint8_t> bytes = encoded_file(synthetic(13, 11, 4, 2), c);
    for (size_t n = 0; n < bytes.size(); ++n) {
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(n));
      EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(cut)), Error) << "truncated at " << n;
    }
    Rng rng(11);
    for (int trial = 0; trial < 300; ++trial) {
      std::vector<uint8_t> bad = bytes;
      bad[rng.below(bad.size())] ^= uint8_t(1u << rng.below(8));
      try {
        const EncodedImage e = read_encoded_image(ContainerReader::from_bytes(bad));
        e.grid.validate("test");
      } catch (const Error&) {
      }
    }
  }
  // Metadata that lies about the shape is caught before decoding.
  ContainerWriter w;
  EncodedImage e = encode_image(synthetic(8, 8, 3, 1), small_model(), {}, "test");
  write_encoded_image(w, e, TokenCoding::kFixed);
  w.set_meta("image.width", "9");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(w.to_bytes())), Error);
  ContainerWriter huge;
  write_encoded_image(huge, e, TokenCoding::kArithmetic);
  huge.set_meta("image.width", "16000");
  huge.set_meta("image.height", "16000");
  huge.set_meta("image.cols", "4000");
  huge.set_meta("image.rows", "4000");
  EXPECT_THROW(read_encoded_image(ContainerReader::from_bytes(huge.to_bytes())), Error);
  // A different model's tokens are refused, naming both models.
  ContainerWriter other;
  e.model.hash = *e.model.hash ^ 1u;
  write_encoded_image(other, e, TokenCoding::kFixed);
  try {
    (void)decode_image(read_encoded_image(ContainerReader::from_bytes(other.to_bytes())), small_model());
    ADD_FAILURE() << "tokens of another model decoded";
  } catch (const Error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("test (hash " + format_model_hash(*e.model.hash) + ")"), std::string::npos) << what;
    EXPECT_NE(what.find(small_model().ref().describe()), std::string::npos) << what;
  }
}

TEST(ImageIo, PngRoundTripAndCorruptFiles) {
  for (size_t channels : {1, 2, 3, 4}) {
    const Image im = synthetic(19, 7, channels, 20 + channels);
    const Image back = decode_image(encode_png(im));
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, im.pixels);
  }
  const std::vector<uint8_t> png = encode_png(synthetic(12, 10, 3, 1));
  // Every truncation: an error naming the input, or (stb tolerates a missing IEND) the full image.
  for (size_t n = 0; n < png.size(); ++n) {
    const std::vector<uint8_t> cut(png.begin(), png.begin() + long(n));
    try {
      const Image im = decode_image(cut, "cut.png");
      EXPECT_EQ(im.width, 12u);
      EXPECT_EQ(im.height, 10u);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.png"), std::string::npos) << e.what();
    }
  }
  Rng rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<uint8_t> bad = png;
    for (int k = 0; k < 3; ++k) bad[rng.below(bad.size())] = uint8_t(rng.below(256));
    try {
      decode_image(bad, "flipped.png").validate("test");
    } catch (const Error&) {
    }
  }
  EXPECT_THROW(read_image("/nonexistent/x.png"), Error);
  EXPECT_THROW(decode_image(std::vector<uint8_t>{'B', 'M', 1, 2, 3}), Error);
}

namespace {
void append_to(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}
}  // namespace

// The most compressible valid files (one flat colour, 2048×2048) stay under the per-format
// bound and decode; the same files cut to their first 1 % keep their header but cannot hold
// its pixels and are rejected as truncated before stb decodes (and zero-pads) them.
TEST(ImageIo, CompressionBoundAcceptsFlatImagesAndRejectsTruncatedOnes) {
  const size_t side = 2048;
  for (size_t channels : {1, 3}) {
    const Image flat(side, side, channels, 128);
    const int w = int(side), h = int(side), c = int(channels);
    std::vector<uint8_t> jpeg, tga, bmp;
    ASSERT_TRUE(stbi_write_jpg_to_func(append_to, &jpeg, w, h, c, flat.pixels.data(), 10));
    ASSERT_TRUE(stbi_write_tga_to_func(append_to, &tga, w, h, c, flat.pixels.data()));  // RLE
    ASSERT_TRUE(stbi_write_bmp_to_func(append_to, &bmp, w, h, c, flat.pixels.data()));
    const std::vector<std::pair<std::vector<uint8_t>, ImageFormat>> files = {
        {jpeg, ImageFormat::kJpeg}, {tga, ImageFormat::kTga}, {bmp, ImageFormat::kBmp},
        {encode_png(flat), ImageFormat::kPng}};
    for (const auto& [bytes, format] : files) {
      SCOPED_TRACE(format_name(format));
      EXPECT_EQ(sniff_image_format(bytes), format);
      const double pixels_per_byte = double(side * side) / double(bytes.size());
      EXPECT_LT(pixels_per_byte, double(max_pixels_per_byte(format)));
      const Image back = decode_image(bytes, "flat");
      EXPECT_EQ(back.width, side);
      EXPECT_EQ(back.pixel_count(), side * side);

      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(bytes.size() / 100));
      if (format == ImageFormat::kPng) continue;  // 1 % of a flat PNG still holds 2048² pixels
      try {
        decode_image(cut, "cut.img");
        ADD_FAILURE() << "a truncated file decoded";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
      }
    }
  }
}

// JPEG goes through libjpeg-turbo: the same size and channels as stb_image gives, pixels within
// the few levels two IDCT implementations differ by, for grey and colour, baseline and
// progressive; and the progressive JPEG that crashed stb (a read out of bounds inside
// stbi_load_from_memory, image_reader fuzz target) is a clean error.
TEST(ImageIo, JpegDecodesLikeStbAndRefusesWhatCrashedIt) {
  for (size_t channels : {1, 3}) {
    const Image im = synthetic(67, 45, channels, 7);
    std::vector<uint8_t> jpeg;
    ASSERT_TRUE(stbi_write_jpg_to_func(append_to, &jpeg, 67, 45, int(channels), im.pixels.data(), 90));
    const Image ours = decode_image(jpeg, "x.jpg");
    int w = 0, h = 0, c = 0;
    stbi_uc* theirs = stbi_load_from_memory(jpeg.data(), int(jpeg.size()), &w, &h, &c, 0);
    ASSERT_TRUE(theirs);
    ASSERT_EQ(ours.width, size_t(w));
    ASSERT_EQ(ours.height, size_t(h));
    ASSERT_EQ(ours.channels, size_t(c));
    int worst = 0;
    for (size_t i = 0; i < ours.pixels.size(); ++i) worst = std::max(worst, std::abs(int(ours.pixels[i]) - int(theirs[i])));
    stbi_image_free(theirs);
    EXPECT_LE(worst, 8) << channels << " channels";
    const ImageHeader header = decode_image_header(jpeg, "x.jpg");
    EXPECT_EQ(header.width, 67u);
    EXPECT_EQ(header.channels, size_t(c));  // stb_image_write stores grey as three components
  }
  const std::vector<uint8_t> crash = read_file_bytes(std::string(VQ_SOURCE_DIR) +
                                                     "/fuzz/regressions/image_reader/jpeg_progressive_scan_crashes_stb.jpg");
  try {
    (void)decode_image(crash, "crash.jpg");
    FAIL() << "decoded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("crash.jpg: corrupt or truncated JPEG"), std::string::npos) << e.what();
  }
}

TEST(ImageQuality, PsnrAndSsimHandComputed) {
  Image a(16, 16, 3, 100), b(16, 16, 3, 110);
  EXPECT_NEAR(psnr(a, b), 10 * std::log10(255.0 * 255.0 / 100.0), 1e-9);
  EXPECT_TRUE(std::isinf(psnr(a, a)));
  EXPECT_DOUBLE_EQ(ssim(a, a), 1.0);
  // Constant images: variances are zero, so SSIM = (2 μa μb + C1) / (μa² + μb² + C1).
  const double c1 = 2.55 * 2.55 * 1.0;
  EXPECT_NEAR(ssim(a, b), (2 * 100.0 * 110 + c1) / (100.0 * 100 + 110.0 * 110 + c1), 1e-12);
  EXPECT_THROW(psnr(a, Image(15, 16, 3)), Error);
}

// SSIM against a direct (non-separable) evaluation of the definition on one window position.
TEST(ImageQuality, SsimMatchesDirectWindowSum) {
  const Image a = synthetic(11, 11, 3, 1), b = synthetic(11, 11, 3, 2);
  const std::vector<double> x = luma(a), y = luma(b);
  double wsum = 0, mx = 0, my = 0;
  std::vector<double> w(121);
  for (int i = 0; i < 11; ++i)
    for (int j = 0; j < 11; ++j) wsum += w[i * 11 + j] = std::exp(-((i - 5) * (i - 5) + (j - 5) * (j - 5)) / 4.5);
  for (int k = 0; k < 121; ++k) w[k] /= wsum, mx += w[k] * x[k], my += w[k] * y[k];
  double vx = 0, vy = 0, cxy = 0;
  for (int k = 0; k < 121; ++k)
    vx += w[k] * (x[k] - mx) * (x[k] - mx), vy += w[k] * (y[k] - my) * (y[k] - my), cxy += w[k] * (x[k] - mx) * (y[k] - my);
  const double c1 = 6.5025, c2 = 58.5225;
  const double expect = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
  EXPECT_NEAR(ssim(a, b), expect, 1e-9);
}

}  // namespace
}  // namespace vq::image
