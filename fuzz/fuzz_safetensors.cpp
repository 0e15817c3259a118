// safetensors checkpoints: the u64 header length, the JSON header (dtypes, shapes, offsets,
// overlaps, __metadata__) and then every tensor's bytes and float conversion.
#include "fuzz_common.h"
#include "vq/weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] {
    const auto f = vq::weights::SafetensorsFile::from_bytes({data, data + size}, "fuzz.safetensors");
    for (const vq::weights::TensorInfo& t : f.tensors()) {
      (void)f.bytes(t.name);
      (void)f.info(t.name).elements();
      vq::fuzz::expect_clean([&] { (void)f.read_float(t.name); });  // throws for integer dtypes
    }
    (void)f.metadata();
  });
  return 0;
}
