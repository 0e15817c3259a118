// A trained audio model (vq.kind "audio_model", what -m names for audio): band layout, the
// envelope predictor, the embedded quantizers of every region and the model's self-test.
#include "fuzz_common.h"
#include "vq/audio/audio_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::audio::AudioModel m = vq::audio::AudioModel::from_bytes(bytes, "fuzz.vqc");
    (void)m.describe();
    (void)m.layout(m.max_bitrate());
    (void)m.layout(1500);
  });
  return 0;
}
