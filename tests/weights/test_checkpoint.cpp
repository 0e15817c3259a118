// Compressed layers in safetensors: round trip, and inconsistent tensors rejected.
#include <gtest/gtest.h>

#include "test_data.h"
#include "vq/core/rng.h"
#include "vq/weights/checkpoint.h"
#include "vq/weights/compress.h"

namespace vq::weights {
namespace {

TEST(Checkpoint, RoundTripsEverySchemeKind) {
  const Matrix w = testdata::gaussian(32, 64, 3);
  for (const char* s : {"AQ2x6d8", "AQ2x4d4c2", "AQ1x9d4", "GPTQ3g32", "RTN2g16"}) {
    const CompressedMatrix cm = compress(w.view(), {}, s);
    SafetensorsWriter out;
    write_compressed(out, "model.layers.0.mlp", cm);
    const SafetensorsFile f = SafetensorsFile::from_bytes(out.to_bytes());
    ASSERT_EQ(compressed_layers(f), std::vector<std::string>{"model.layers.0.mlp"});
    const CompressedMatrix back = read_compressed(f, "model.layers.0.mlp");
    EXPECT_EQ(back.decode().storage(), cm.decode().storage()) << s;
    EXPECT_EQ(back.bits_per_weight(), cm.bits_per_weight());
    // The layout planned from the scheme and shape alone (what the streaming CLI declares before
    // compressing) is exactly what was written.
    const CompressedLayout l = compressed_layout("model.layers.0.mlp", cm.scheme, 32, 64);
    ASSERT_EQ(l.tensors.size(), f.tensors().size()) << s;
    for (const TensorSpec& t : l.tensors) {
      ASSERT_TRUE(f.contains(t.name)) << s << " " << t.name;
      EXPECT_EQ(f.info(t.name).dtype, t.dtype) << s << " " << t.name;
      EXPECT_EQ(f.info(t.name).shape, t.shape) << s << " " << t.name;
    }
    EXPECT_EQ(l.metadata, f.metadata()) << s;
  }
}

// AQLM stores b-bit codes as signed integers: codes >= 2^(b-1) minus 2^b (aqlm.utils.pack_int_data),
// read back mod 2^b. A 4-bit and a 12-bit book: the file's integers are AQLM's, and they read back.
TEST(Checkpoint, StoresCodesAsAqlmSignedIntegers) {
  Rng rng(4);
  for (const char* scheme : {"AQ2x4d4", "AQ1x12d8", "AQ2x8d8"}) {
    CompressedMatrix cm;  // random codes: only their storage matters here
    cm.scheme = Scheme::parse(scheme);
    cm.rows = 16;
    cm.cols = 32;
    cm.codes.resize(cm.rows * cm.row_code_bytes());
    for (size_t i = 0; i < cm.codes.size() / cm.code_bytes(); ++i) {
      const uint64_t code = rng.below(uint64_t{1} << cm.scheme.bits);
      for (size_t b = 0; b < cm.code_bytes(); ++b) cm.codes[i * cm.code_bytes() + b] = uint8_t(code >> (8 * b));
    }
    cm.codebooks.assign(cm.codebook_floats(), 0.5f);
    cm.scales.assign(cm.rows, 1.f);
    cm.group_begin = {0, 16};
    SafetensorsWriter out;
    write_compressed(out, "l", cm);
    const SafetensorsFile f = SafetensorsFile::from_bytes(out.to_bytes());
    const Span<const uint8_t> stored = f.bytes("l.codes");
    const int64_t K = int64_t{1} << cm.scheme.bits;
    const size_t cb = cm.code_bytes(), n = cm.codes.size() / cb;
    size_t negative = 0;
    for (size_t i = 0; i < n; ++i) {
      int64_t code = cm.codes[cb * i], value = int8_t(stored[cb * i]);
      if (cb == 2) {
        code |= int64_t(cm.codes[2 * i + 1]) << 8;
        value = int16_t(uint16_t(stored[2 * i] | stored[2 * i + 1] << 8));
      }
      ASSERT_EQ(value, code >= K / 2 ? code - K : code) << scheme << " code " << i;
      negative += value < 0;
    }
    EXPECT_GT(negative, 0u) << scheme;  // the upper half of the book is exercised
    EXPECT_EQ(read_compressed(f, "l").codes, cm.codes) << scheme;
  }
}

TEST(Checkpoint, RejectsInconsistentLayers) {
  const Matrix w = testdata::gaussian(16, 32, 4);
  const CompressedMatrix cm = compress(w.view(), {}, "RTN4g32");
  {
    SafetensorsWriter out;
    write_compressed(out, "l", cm);
    out.set_metadata("vqcodec.scheme.l", "RTN4g16");  // scales no longer match
    EXPECT_THROW(read_compressed(SafetensorsFile::from_bytes(out.to_bytes()), "l"), Error);
  }
  {
    CompressedMatrix bad = cm;
    SafetensorsWriter out;
    write_compressed(out, "l", bad);
    std::vector<uint8_t> bytes = out.to_bytes();
    // Zero points are the last tensor: make one out of range for 4 bits.
    bytes[bytes.size() - 1] = 200;
    EXPECT_THROW(read_compressed(SafetensorsFile::from_bytes(bytes), "l"), Error);
  }
  EXPECT_THROW(read_compressed(SafetensorsFile::from_bytes(SafetensorsWriter().to_bytes()), "l"), Error);
  {
    CompressedMatrix permuted = cm;  // a row order the file layout of RTN4g32 has no place for
    for (uint32_t r = 0; r < cm.rows; ++r) permuted.row_order.push_back(cm.rows - 1 - r);
    SafetensorsWriter out;
    EXPECT_THROW(write_compressed(out, "l", permuted), Error);
  }
}

}  // namespace
}  // namespace vq::weights
