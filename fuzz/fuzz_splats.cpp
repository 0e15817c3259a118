// An encoded splat scene (vq.kind "splats") through the whole decoder: the count against the
// payload, delta-coded Morton positions, each attribute's embedded quantizer (zstd blob holding
// a .vqc) and its zstd code streams, then the scene's validation.
#include "fuzz_common.h"
#include "vq/splats/splat_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    (void)vq::splats::decode_splats(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
  });
  return 0;
}
