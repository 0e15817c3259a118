// An encoded audio file's header (vq.kind "audio"): bitrate, source rate / channels / length,
// the model reference and the token frames, checked against each other.
#include "fuzz_common.h"
#include "vq/audio/audio_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    (void)vq::audio::read_encoded(vq::ContainerReader::from_bytes(bytes, "fuzz.vqc"));
  });
  return 0;
}
