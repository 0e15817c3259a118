// A trained image tokenizer (what -m names for images): patch size, colour weights and the
// residual quantizer it wraps, with that quantizer's self-test.
#include "fuzz_common.h"
#include "vq/image/image_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::image::ImageTokenizer m = vq::image::ImageTokenizer::read(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
    (void)m.ref().describe();
  });
  return 0;
}
