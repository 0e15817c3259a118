// Untrusted encoded images through the whole decoder with the bundled default model: tokens to
// DCT patches, the refinement on top, the inverse transform and alpha. The model reference is
// taken as matching (vq decode looks the model up by it first), so mutated files reach the
// decoder.
#include "fuzz_common.h"
#include "vq/image/image_codec.h"

namespace {
const vq::image::ImageTokenizer& model() {
  static const vq::image::ImageTokenizer m =
      vq::image::ImageTokenizer::load(vq::fuzz::models_dir() + "/default/image.vqc");
  return m;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)model();  // loaded once, outside the timed inputs
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    vq::image::EncodedImage e = vq::image::read_encoded_image(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
    e.model = model().ref();
    (void)vq::image::decode_image(e, model());
  });
  return 0;
}
