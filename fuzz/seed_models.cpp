// Writes the smallest valid audio model the trainer makes (one envelope level, one shape level
// per region: ~160 KB instead of the default model's 2 MB) for scripts/fuzz_seeds.py, because
// vq audio train has no option for level counts and a fuzzer mutates a small seed far faster.
//   vq_fuzz_seed_models OUT_DIR      writes OUT_DIR/audio_model.vqc
#include <cstdio>
#include <exception>
#include <string>

#include "audio_fixture.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vq_fuzz_seed_models OUT_DIR\n");
    return 2;
  }
  try {
    using namespace vq;
    audio::AudioTrainOptions o = testing_audio::tiny_model_options();
    o.envelope_levels = 1;
    o.region_levels = {1, 1, 1};
    o.iterations = 2;
    audio::AudioModel::train(testing_audio::tiny_model_clips(), o).save(std::string(argv[1]) + "/audio_model.vqc");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vq_fuzz_seed_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
