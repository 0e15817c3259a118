// Untrusted encoded audio through the whole decoder with the bundled default model: layout
// against the tokens, envelope and shape decoding, inverse MDCT and resampling to the source
// rate. The model reference is taken as matching (vq decode looks the model up by it first), so
// mutated headers reach the decoder.
#include "fuzz_common.h"
#include "vq/audio/audio_codec.h"

namespace {
const vq::audio::AudioModel& model() {
  static const vq::audio::AudioModel m = vq::audio::AudioModel::load(vq::fuzz::models_dir() + "/audio_default.vqc");
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
    vq::audio::EncodedAudio e = vq::audio::read_encoded(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
    e.model = model().ref();
    (void)vq::audio::decode(model(), e);
  });
  return 0;
}
