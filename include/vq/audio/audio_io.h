// Audio files in and out (libsndfile) and the sample-rate / channel conversions the codec needs
// (libsamplerate). Samples are float in [-1, 1] (libsndfile's normalised float view of any
// integer or float encoding).
//
//   read_audio(path)            WAV, FLAC, OGG/Vorbis, AIFF, ... anything libsndfile detects from the
//                               bytes (not from the extension)
//   write_audio(path, audio)    WAV (float 32-bit) or FLAC (24-bit), chosen by the extension;
//                               atomic (temporary file + rename)
//   to_mono(audio)              mean of the channels
//   resample(x, from, to)       band-limited sinc resampling (SRC_SINC_MEDIUM_QUALITY)
//
// Errors: a file libsndfile cannot parse, an empty file, a sample rate outside
// [kMinSampleRate, kMaxSampleRate], more than kMaxChannels channels or non-finite samples throw
// vq::Error naming the file and the reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq::audio {

inline constexpr int kMinSampleRate = 1000;
inline constexpr int kMaxSampleRate = 768000;
inline constexpr int kMaxChannels = 256;

struct Audio {
  int sample_rate = 0;
  int channels = 0;
  std::vector<float> samples;  // frames × channels, interleaved

  size_t frames() const { return channels > 0 ? samples.size() / size_t(channels) : 0; }
  double seconds() const { return sample_rate > 0 ? double(frames()) / sample_rate : 0.0; }
};

Audio read_audio(const std::string& path);
// The same from bytes in memory (name is used in messages); what read_audio does after reading
// the file, and what the fuzz tests drive.
Audio read_audio_from_bytes(Span<const uint8_t> bytes, const std::string& name = "<memory>");
// ".wav" -> 32-bit float WAV, ".flac" -> 24-bit FLAC (samples clipped to [-1, 1]).
void write_audio(const std::string& path, const Audio& audio);

// One channel: the mean of audio's channels (frames() samples).
std::vector<float> to_mono(const Audio& audio);
// x at rate `from` resampled to rate `to` (both in [kMinSampleRate, kMaxSampleRate]); returns x
// unchanged when the rates are equal. Output length round(x.size() * to / from).
std::vector<float> resample(Span<const float> x, int from, int to);

}  // namespace vq::audio
