// An encoded image file (vq.kind "image"): shape keys checked against each other, the token
// payload in each coding (fixed, zstd, arithmetic with adaptive depth), the scalar refinement's
// entropy-coded levels and the zstd alpha plane.
#include "fuzz_common.h"
#include "vq/image/image_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::image::EncodedImage e = vq::image::read_encoded_image(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
    e.grid.validate("fuzz");
  });
  return 0;
}
