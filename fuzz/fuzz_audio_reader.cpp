// Audio files through libsndfile as vq encode reads them (WAV, FLAC, OGG/Vorbis and whatever
// else libsndfile detects from the bytes), then the downmix and resampling to the model rate.
#include "fuzz_common.h"
#include "vq/audio/audio_codec.h"
#include "vq/audio/audio_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] {
    const vq::audio::Audio a = vq::audio::read_audio_from_bytes(vq::fuzz::bytes_of(data, size), "fuzz.audio");
    const std::vector<float> mono = vq::audio::to_mono(a);
    (void)vq::audio::resample(mono, a.sample_rate, vq::audio::AudioModel::kSampleRate);
  });
  return 0;
}
