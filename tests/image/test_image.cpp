// Image codec: patch transform, tokenizer, token codings, encoded files, image I/O, quality.
#include <gtest/gtest.h>

#include <cmath>

#include "vq/core/container.h"
#include "vq/core/rng.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/image/image_quality.h"
#include "vq/image/image_tokenizer.h"
#include "vq/image/patch_transform.h"

namespace vq::image {
namespace {

// A photograph-like test image: smooth gradients and blobs plus mild noise, seeded.
Image synthetic(size_t w, size_t h, size_t channels, uint64_t seed) {
  Rng rng(seed);
  Image im(w, h, channels);
  const double fx = 0.05 + 0.1 * rng.uniform(), fy = 0.05 + 0.1 * rng.uniform(), ph = 6.3 * rng.uniform();
  for (size_t y = 0; y < h; ++y)
    for (size_t x = 0; x < w; ++x)
      for (size_t c = 0; c < channels; ++c) {
        double v = 128 + 70 * std::sin(fx * x + ph + c) * std::cos(fy * y + 0.5 * c) + 8 * rng.normal();
        if (c == 3 || (channels == 2 && c == 1)) v = 255.0 * x / std::max<size_t>(1, w - 1);  // alpha ramp
        im.at(y, x, c) = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  return im;
}

const ImageTokenizer& small_model() {
  static const ImageTokenizer model = [] {
    std::vector<Image> train;
    for (uint64_t s = 0; s < 6; ++s) train.push_back(synthetic(64, 48, 3, 100 + s));
    ImageTrainOptions o;
    o.patch = 4;
    o.quantizer = "RVQ3x6";
    o.iterations = 8;
    o.threads = 2;
    return ImageTokenizer::train(train, o);
  }();
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
    const EncodedImage e = encode_image(im, m, 0, "test");
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
  EXPECT_EQ(decode_image(encode_image(opaque, m, 0, "test"), m).channels, 3u);
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

TEST(ImageTokenizer, DeterministicAndSavedModelsAgree) {
  const ImageTokenizer& m = small_model();
  const std::string path = ::testing::TempDir() + "/image_model.vqc";
  m.save(path);
  const ImageTokenizer loaded = ImageTokenizer::load(path);
  EXPECT_EQ(loaded.id(), m.id());
  const Image im = synthetic(30, 20, 3, 9);
  EXPECT_EQ(loaded.encode(im).tokens, m.encode(im).tokens);
  std::vector<Image> train;
  for (uint64_t s = 0; s < 6; ++s) train.push_back(synthetic(64, 48, 3, 100 + s));
  ImageTrainOptions o;
  o.patch = 4;
  o.quantizer = "RVQ3x6";
  o.iterations = 8;
  o.threads = 2;
  EXPECT_EQ(ImageTokenizer::train(train, o).id(), m.id()) << "same data, seed and threads: same model";
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

std::vector<uint8_t> encoded_file(const Image& im, TokenCoding c) {
  ContainerWriter w;
  write_encoded_image(w, encode_image(im, small_model(), 0, "test"), c);
  return w.to_bytes();
}

TEST(EncodedImage, FileRoundTripInEveryCoding) {
  const Image im = synthetic(21, 13, 4, 8);
  const Image direct = decode_image(encode_image(im, small_model(), 0, "test"), small_model());
  for (TokenCoding c : {TokenCoding::kFixed, TokenCoding::kZstd, TokenCoding::kArithmetic}) {
    const std::vector<uint8_t> bytes = encoded_file(im, c);
    const EncodedImage e = read_encoded_image(ContainerReader::from_bytes(bytes));
    EXPECT_EQ(decode_image(e, small_model()).pixels, direct.pixels) << token_coding_name(c);
    EXPECT_EQ(encoded_file(im, c), bytes) << "deterministic bytes";
  }
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
  EncodedImage e = encode_image(synthetic(8, 8, 3, 1), small_model(), 0, "test");
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
  // A different model's tokens are refused.
  ContainerWriter other;
  e.model_id = "0123456789abcdef";
  write_encoded_image(other, e, TokenCoding::kFixed);
  EXPECT_THROW(decode_image(read_encoded_image(ContainerReader::from_bytes(other.to_bytes())), small_model()), Error);
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
