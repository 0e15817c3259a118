// Compressed weights as vq weights decompress reads them: the layer list from the safetensors
// metadata, each layer's codes / codebooks / scales / permutation validated, then decoded to
// the dense matrix.
#include "fuzz_common.h"
#include "vq/weights/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] {
    const auto f = vq::weights::SafetensorsFile::from_bytes({data, data + size}, "fuzz.safetensors");
    for (const std::string& base : vq::weights::compressed_layers(f)) {
      vq::fuzz::expect_clean([&] { (void)vq::weights::read_compressed(f, base).decode(); });
    }
  });
  return 0;
}
