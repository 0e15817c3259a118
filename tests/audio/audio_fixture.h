// Test data shared by tests/audio/test_audio.cpp and the build-time fixture generator
// tests/audio/make_test_model.cpp: a synthetic signal and the tiny model's training recipe.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "vq/audio/audio_codec.h"
#include "vq/core/rng.h"

namespace vq::testing_audio {

// A music/speech-like test signal: a few harmonic notes with vibrato and decaying envelopes,
// plus short noise bursts (consonant-like), at about −12 dBFS.
inline std::vector<float> test_signal(double seconds, uint64_t seed, int rate = audio::AudioModel::kSampleRate) {
  Rng rng(seed);
  std::vector<float> x(size_t(seconds * rate), 0.f);
  const double note = 0.25;
  for (size_t start = 0; start < x.size(); start += size_t(note * rate)) {
    const double f0 = 110.0 * std::pow(2.0, double(rng.below(24)) / 12.0);
    const double phase = rng.uniform() * 6.28;
    const bool burst = rng.below(4) == 0;
    for (size_t i = start; i < std::min(x.size(), start + size_t(note * rate)); ++i) {
      const double t = double(i - start) / rate;
      const double env = std::exp(-6 * t);
      double v = 0;
      for (int h = 1; h <= 8; ++h)
        v += std::sin(2 * M_PI * f0 * h * (t + 0.002 * std::sin(2 * M_PI * 5 * t)) + phase * h) / h;
      if (burst && t < 0.05) v += 0.8 * rng.normal();
      x[i] += static_cast<float>(0.12 * env * v);
    }
  }
  return x;
}

// The tiny model: few levels and iterations (trains in seconds), one thread (deterministic).
inline audio::AudioTrainOptions tiny_model_options() {
  audio::AudioTrainOptions o;
  o.envelope_levels = 8;
  o.region_levels = {3, 2, 2};
  o.iterations = 4;
  o.threads = 1;
  return o;
}

inline std::vector<std::vector<float>> tiny_model_clips() {
  std::vector<std::vector<float>> clips;
  for (uint64_t s = 0; s < 4; ++s) clips.push_back(test_signal(8.0, 100 + s));
  return clips;
}

}  // namespace vq::testing_audio
