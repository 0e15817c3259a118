// Trains the tiny audio model the audio tests share (audio_fixture.h) into the build tree, once
// per build of the library, instead of once per test process.
//   make_audio_test_model OUT.vqc
#include <cstdio>
#include <exception>

#include "audio_fixture.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_audio_test_model OUT.vqc\n");
    return 2;
  }
  try {
    using namespace vq;
    audio::AudioModel::train(testing_audio::tiny_model_clips(), testing_audio::tiny_model_options()).save(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_audio_test_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
