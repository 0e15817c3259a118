// Compressed layers in safetensors: round trip, and inconsistent tensors rejected.
#include <gtest/gtest.h>

#include "test_data.h"
#include "vq/weights/checkpoint.h"
#include "vq/weights/compress.h"

namespace vq::weights {
namespace {

TEST(Checkpoint, RoundTripsEverySchemeKind) {
  const Matrix w = testdata::gaussian(32, 64, 3);
  for (const char* s : {"AQ2x6g8", "AQ2x4g4r2", "AQ1x9g4", "GPTQ3g32", "RTN2g16"}) {
    const CompressedMatrix cm = compress(w.view(), {}, s);
    SafetensorsWriter out;
    write_compressed(out, "model.layers.0.mlp", cm);
    const SafetensorsFile f = SafetensorsFile::from_bytes(out.to_bytes());
    ASSERT_EQ(compressed_layers(f), std::vector<std::string>{"model.layers.0.mlp"});
    const CompressedMatrix back = read_compressed(f, "model.layers.0.mlp");
    EXPECT_EQ(back.decode().storage(), cm.decode().storage()) << s;
    EXPECT_EQ(back.bits_per_weight(), cm.bits_per_weight());
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
}

}  // namespace
}  // namespace vq::weights
