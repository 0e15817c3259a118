// Audio quality measures: the one definition vq eval, the tests and the benchmarks share.
//
// Log-mel distance, for a reference r and a decoded signal y at sample rate sr:
//   STFT   1024-point periodic Hann window, hop 256, no centring/padding at the start: frame t
//          covers samples [256 t, 256 t + 1024), zeros past the end; frames t = 0 .. F−1 with
//          F = 1 + ceil(max(T − 1024, 0) / 256) (at least one frame); power |X|² of the
//          unnormalised DFT of the float samples (full scale ±1), bins 0..512.
//   mel    80 triangular filters from 0 Hz to sr/2 on the Slaney mel scale with Slaney area
//          normalisation (librosa.filters.mel(sr=sr, n_fft=1024, n_mels=80) defaults).
//   dist   mean over frames and bands of |log10(mel_r + 1e-5) − log10(mel_y + 1e-5)|.
//   per band: the same mean over frames only, one value per band (low to high frequency); the
//          mean of the 80 per-band values is the distance (up to floating-point rounding: the
//          distance itself sums the F × 80 terms in frame order, which it keeps bit for bit).
// Both signals must have the same rate; the shorter one is zero-padded to the longer one's
// length (a decoder that drops the tail pays for it).
//
// SNR: 10·log10(Σ r² / Σ (r − y)²) over the common length, in dB (+inf when equal).
#pragma once

#include <vector>

#include "vq/types.h"

namespace vq::audio {

inline constexpr size_t kLogMelFft = 1024;
inline constexpr size_t kLogMelHop = 256;
inline constexpr size_t kLogMelBands = 80;

// 80 × 513 row-major mel filterbank for sample rate sr (see above).
std::vector<float> mel_filterbank(int sample_rate);
// F × 80 mel power spectrogram (row-major), F as defined above.
std::vector<float> mel_spectrogram(Span<const float> x, int sample_rate);
double log_mel_distance(Span<const float> reference, Span<const float> decoded, int sample_rate);
// 80 values: band m's mean over frames of the log-mel difference (see above), band 0 lowest.
std::vector<double> log_mel_distance_per_band(Span<const float> reference, Span<const float> decoded,
                                              int sample_rate);
double snr_db(Span<const float> reference, Span<const float> decoded);

}  // namespace vq::audio
