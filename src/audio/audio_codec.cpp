// The audio codec's model: training, the bitrate ladder, per-frame encode / decode and the model
// file. Whole-file and streaming paths (audio_stream.cpp) both go through encode_frame /
// decode_frame, which do the same arithmetic for a frame whatever else is being encoded.
#include "vq/audio/audio_codec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "core/residual_beam.h"
#include "core/self_test_samples.h"
#include "util/atomic_file.h"
#include "vq/core/embedded_model.h"
#include "vq/core/factory.h"
#include "vq/core/rng.h"

namespace vq::audio {

struct AudioModel::SearchBooks {
  std::vector<detail::WhitenedBook> envelope;
  std::vector<std::vector<detail::WhitenedBook>> shapes;  // [region][level]
};

namespace {

constexpr size_t kBands = 32;
constexpr size_t kMinBandWidth = 4;        // coefficients (100 Hz)
constexpr double kEnergyFloor = 1e-10;     // added to a band's mean power before log2
// Sub-vector boundaries of the shape regions: low < 2 kHz, mid < 5 kHz, high up to 12 kHz.
constexpr size_t kRegionFirst[] = {0, 10, 25, AudioModel::kHop / AudioModel::kSubvector};
// Frame gain: the H-weighted mean of the log2 band levels, scalar-quantized in kGainStep steps
// from kGainMin (2^-18.5: below any recording's noise floor; digital silence clamps here).
constexpr float kGainMin = -18.5f;
constexpr float kGainStep = 0.375f;
constexpr double kPredictionShrink = 0.8;
// Beam widths of the encoder's residual searches (1 = greedy). Log-mel at 6 / 12 / 24 kbps on
// the signals that chose the ladder (scripts/bench_audio.sh), greedy -> shape beam 4 + envelope
// beam 4 -> 4 + 8 -> 8 + 8: speech 0.1398 / 0.0999 / 0.0572 -> 0.1367 / 0.0967 / 0.0536 ->
// 0.1366 / 0.0961 / 0.0532 -> 0.1366 / 0.0959 / 0.0530; music_t27 0.3673 / 0.2670 / 0.1509 ->
// 0.3634 / – / 0.1439 -> 0.3632 / 0.2616 / 0.1432 -> 0.3632 / 0.2614 / 0.1424. Encoding at
// 6 kbps on one core: ~420x real time greedy, ~190x at 4 + 4, ~140x at 4 + 8, ~115x at 8 + 8.
constexpr size_t kEnvelopeBeam = 8;
constexpr size_t kShapeBeam = 4;
// The shape steps go to the sub-vector with the most training error removed per bit, weighted by
// (mel bands per Hz)^kAllocationPower. Power 1 is the plain mel density; with an oracle (exact
// band energies, noise shapes) the log-mel cost of noise-filling a sub-vector fell ~65× from
// 0–2 kHz to 5–12 kHz, far steeper than the density's ~5×. Measured on the held-out files at
// 12 / 24 kbps: power 1 speech 0.151 / 0.122, music 0.369 / 0.312; power 3: 0.136 / 0.102 and
// 0.353 / 0.285 (power 4: no further gain).
constexpr double kAllocationPower = 3.0;
constexpr double kCoeffHz = double(AudioModel::kSampleRate) / 2 / double(AudioModel::kHop);
// The model's self-test (chunk ATST): frames made by decoding random full-rate tokens, kept only
// when their tokens survive ±kSelfTestNudge relative changes of every coefficient
// (self_test_samples.h): ~100× float rounding, so BLAS/SIMD differences between machines cannot
// flip them. (With a frame's ~240 searches, nudges of 1e-3 left no candidate stable.)
constexpr size_t kSelfTestFrames = 4;
constexpr size_t kSelfTestCandidates = 32;
constexpr size_t kSelfTestBatch = 8;
constexpr uint64_t kSelfTestSeed = 0xA0D10;
constexpr float kSelfTestNudge = 1e-5f;

double slaney_mel(double f) {
  return f < 1000 ? f * 3 / 200 : 15 + std::log(f / 1000) / 0.06875177742094912;
}
double slaney_hz(double m) { return m < 15 ? m * 200 / 3 : 1000 * std::exp(0.06875177742094912 * (m - 15)); }

// kBands mel-spaced bands over [0, kHop) coefficients, each at least kMinBandWidth wide.
std::vector<size_t> default_band_edges() {
  const double top = slaney_mel(AudioModel::kSampleRate / 2.0);
  std::vector<size_t> edges{0};
  for (size_t b = 1; b < kBands; ++b) {
    const size_t want = size_t(std::lround(slaney_hz(top * double(b) / kBands) / kCoeffHz));
    edges.push_back(std::max(want, edges.back() + kMinBandWidth));
  }
  edges.push_back(AudioModel::kHop);
  VQ_CHECK(edges[kBands] >= edges[kBands - 1] + kMinBandWidth, "audio: band layout does not fit");
  return edges;
}

// How many of the 80 log-mel bands (at the model rate) band [lo, hi) spans: the H of the envelope.
std::vector<float> mel_weights(const std::vector<size_t>& edges) {
  const double top = slaney_mel(AudioModel::kSampleRate / 2.0);
  std::vector<float> w(edges.size() - 1);
  for (size_t b = 0; b + 1 < edges.size(); ++b)
    w[b] = static_cast<float>(80.0 * (slaney_mel(double(edges[b + 1]) * kCoeffHz) -
                                      slaney_mel(double(edges[b]) * kCoeffHz)) / top);
  return w;
}

// Splitmix-style hash of (frame, coefficient) to a uniform value in [-√3, √3) (unit variance):
// the noise filling is a pure function of position, so any decoder reproduces it.
float noise_at(uint64_t frame, size_t k) {
  uint64_t z = frame * 0x9E3779B97F4A7C15ull + k * 0xBF58476D1CE4E5B9ull + 0x94D049BB133111EBull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<float>((double(z >> 11) * 0x1.0p-53 * 2 - 1) * 1.7320508075688772);
}

std::string join(const std::vector<size_t>& v) {
  std::string s;
  for (size_t x : v) {
    if (!s.empty()) s.push_back(',');
    s.append(std::to_string(x));
  }
  return s;
}

std::vector<size_t> split_numbers(const std::string& s, const std::string& what) {
  std::vector<size_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    VQ_CHECK(!item.empty() && item.size() < 7 && item.find_first_not_of("0123456789") == std::string::npos,
             what, ": '", s, "' is not a list of numbers");
    out.push_back(std::stoul(item));
  }
  return out;
}

std::shared_ptr<const CodebookQuantizer> as_codebooks(std::unique_ptr<Quantizer> q, size_t dim, int bits,
                                                      const std::string& what) {
  auto* cb = dynamic_cast<CodebookQuantizer*>(q.get());
  VQ_CHECK(cb && cb->dim() == dim && cb->num_books() >= 1, what, ": expected a residual quantizer of dim ",
           dim, ", got ", q->describe());
  for (const Codebook& b : cb->books())
    VQ_CHECK(b.bits == bits && b.offset == 0 && b.dim == dim, what, ": books must be ", bits, "-bit over all ", dim, " dims");
  q.release();
  return std::shared_ptr<const CodebookQuantizer>(cb);
}

// A quantizer chunk of the model (embedded_model.h), after its self-test, as the codebooks the
// codec searches: a residual quantizer, as training makes.
std::shared_ptr<const CodebookQuantizer> read_codebooks(const ContainerReader& in, std::string_view type, size_t index,
                                                        size_t dim, int bits, const std::string& what) {
  std::unique_ptr<Quantizer> q = read_embedded_quantizer(in, type, index);
  VQ_CHECK(q->describe().rfind("RVQ", 0) == 0, what, ": expected a residual quantizer, got ", q->describe());
  return as_codebooks(std::move(q), dim, bits, what);
}

}  // namespace

size_t BitrateLayout::bits_per_frame() const {
  size_t s = 0;
  for (uint8_t b : bits) s += b;
  return s;
}

void AudioModel::prepare() {
  VQ_CHECK(band_edges_.size() >= 2 && band_edges_.front() == 0 && band_edges_.back() == kHop,
           "audio model: band edges must run from 0 to ", kHop);
  for (size_t b = 0; b + 1 < band_edges_.size(); ++b)
    VQ_CHECK(band_edges_[b + 1] > band_edges_[b], "audio model: band edges must increase");
  band_of_coeff_.assign(kHop, 0);
  for (size_t b = 0; b + 1 < band_edges_.size(); ++b)
    for (size_t k = band_edges_[b]; k < band_edges_[b + 1]; ++k) band_of_coeff_[k] = uint16_t(b);
  envelope_weights_ = mel_weights(band_edges_);
  VQ_CHECK(envelope_ && envelope_->dim() == bands(), "audio model: envelope quantizer missing");
  if (envelope_mean_.empty()) envelope_mean_.assign(bands(), 0.f);
  if (envelope_alpha_.empty()) envelope_alpha_.assign(bands(), 0.f);
  VQ_CHECK(envelope_mean_.size() == bands() && envelope_alpha_.size() == bands(),
           "audio model: envelope prediction has the wrong band count");

  auto search = std::make_shared<SearchBooks>();
  search->envelope = detail::whiten_books(envelope_->books(), Metric::diagonal(envelope_weights_));
  for (const auto& q : shapes_) search->shapes.push_back(detail::whiten_books(q->books(), Metric::identity()));
  search_ = std::move(search);

  // The shape steps: greedy over (sub-vector, next level) by mel-weighted error removed.
  VQ_CHECK(region_first_.size() == shapes_.size() + 1 && region_first_.front() == 0 &&
               region_first_.back() == subvectors(),
           "audio model: shape regions do not cover the ", subvectors(), " sub-vectors");
  VQ_CHECK(residual_energy_.size() == shapes_.size(), "audio model: residual energies missing");
  std::vector<size_t> region(subvectors());
  std::vector<double> density(subvectors(), 0.0);
  for (size_t r = 0; r < shapes_.size(); ++r) {
    VQ_CHECK(region_first_[r + 1] > region_first_[r], "audio model: empty shape region");
    VQ_CHECK(residual_energy_[r].size() == shapes_[r]->num_books() + 1,
             "audio model: residual energies of region ", r, " do not match its levels");
    for (size_t j = region_first_[r]; j < region_first_[r + 1]; ++j) region[j] = r;
  }
  for (size_t j = 0; j < subvectors(); ++j) {
    for (size_t i = 0; i < kSubvector; ++i) density[j] += 1.0 / (700.0 + (double(j * kSubvector + i) + 0.5) * kCoeffHz);
    density[j] = std::pow(density[j], kAllocationPower);
  }
  std::vector<size_t> level(subvectors(), 0);
  steps_.clear();
  step_level_.clear();
  for (;;) {
    size_t best = subvectors();
    double best_gain = -1;
    for (size_t j = 0; j < subvectors(); ++j) {
      const std::vector<float>& e = residual_energy_[region[j]];
      if (level[j] + 1 >= e.size()) continue;
      const double gain = density[j] * (double(e[level[j]]) - e[level[j] + 1]);
      if (gain > best_gain) {
        best_gain = gain;
        best = j;
      }
    }
    if (best == subvectors()) break;
    steps_.push_back(uint16_t(best));
    step_level_.push_back(uint16_t(level[best]++));
  }
}

BitrateLayout AudioModel::layout(int bitrate) const {
  VQ_CHECK(bitrate >= 1000, "audio: bitrate ", bitrate, " bits/s is below the lowest supported (1000)");
  const size_t budget = size_t(double(bitrate) / frame_rate());
  const size_t env_max = envelope_->num_books();
  BitrateLayout out;
  out.bitrate = bitrate;
  // Envelope levels per rung (log-mel on speech_en / music_t25 / t27 / t29 of scripts/bench_audio.sh,
  // 16-level model with envelope prediction): at 12 kbps 6 / 7 / 8 / 10 / 12 levels gave speech
  // 0.105 / 0.102 / 0.100 / 0.102 / 0.105 and music_t27 0.265 / 0.262 / 0.267 / 0.280 / 0.294; at
  // 24 kbps 10 / 11 / 12 / 14 / 16 levels gave speech 0.060 / 0.058 / 0.057 / 0.057 / 0.059 and
  // music_t25 0.099 / 0.097 / 0.096 / 0.099 / 0.103. Predicted from the previous frame, the
  // envelope leaves a small innovation, so past a few levels shape steps are worth more. Rates
  // above 36 kbps (and the model's self-test, at its full rate) use every level the model has.
  const size_t want = budget < 60    ? 2
                      : budget < 120 ? 3
                      : budget < 240 ? 5
                      : budget < 480 ? 8
                      : budget < 720 ? 12
                                     : env_max;
  out.envelope_levels = std::min(env_max, want);
  size_t left = budget - std::min(budget, kGainBits + out.envelope_levels * kEnvelopeBits);
  out.shape_steps = std::min(steps_.size(), left / kShapeBits);
  out.levels.assign(subvectors(), 0);
  for (size_t s = 0; s < out.shape_steps; ++s) ++out.levels[steps_[s]];
  out.bits.assign(1, uint8_t(kGainBits));
  out.bits.resize(1 + out.envelope_levels, uint8_t(kEnvelopeBits));
  out.bits.resize(1 + out.envelope_levels + out.shape_steps, uint8_t(kShapeBits));
  return out;
}

int AudioModel::max_bitrate() const {
  return int(std::ceil(double(kGainBits + envelope_->num_books() * kEnvelopeBits + steps_.size() * kShapeBits) *
                       frame_rate()));
}

void AudioModel::encode_frame(const float* coeffs, const BitrateLayout& layout, float* state,
                              uint16_t* tokens) const {
  float env[kHop];
  encode_envelope(coeffs, layout, state, tokens, env);
  encode_shapes(coeffs, layout, env, tokens);
}

void AudioModel::encode_envelope(const float* coeffs, const BitrateLayout& layout, float* state, uint16_t* tokens,
                                 float* decoded_env) const {
  const size_t nb = bands();
  float env[kHop];  // nb <= kHop
  double g = 0, hsum = 0;
  for (size_t b = 0; b < nb; ++b) {
    double p = 0;
    for (size_t k = band_edges_[b]; k < band_edges_[b + 1]; ++k) p += double(coeffs[k]) * coeffs[k];
    p /= double(band_edges_[b + 1] - band_edges_[b]);
    env[b] = static_cast<float>(0.5 * std::log2(p + kEnergyFloor));
    g += envelope_weights_[b] * env[b];
    hsum += envelope_weights_[b];
  }
  tokens[0] = gain_index(float(g / hsum));
  const float g_hat = gain_value(tokens[0]);
  for (size_t b = 0; b < nb; ++b)
    env[b] = (env[b] - g_hat - predicted(state, b)) * std::sqrt(envelope_weights_[b]);
  const size_t le = layout.envelope_levels;
  if (le > 0)
    detail::residual_encode(MatrixView<const float>(env, 1, nb), std::span(search_->envelope).first(le),
                            Metric::identity(), kEnvelopeBeam, MatrixView<uint16_t>(tokens + 1, 1, le), 1);
  decode_envelope(tokens, layout, state, decoded_env);
}

void AudioModel::encode_shapes(const float* coeffs, const BitrateLayout& layout, const float* decoded_env,
                               uint16_t* tokens) const {
  const size_t nb = bands();
  // Shapes are normalised by the envelope the decoder will see.
  float gain[kHop];
  for (size_t b = 0; b < nb; ++b) gain[b] = std::exp2(-decoded_env[b]);

  float normalised[kHop];
  for (size_t k = 0; k < kHop; ++k) normalised[k] = coeffs[k] * gain[band_of_coeff_[k]];
  // Real audio normalises to about unit scale. A damaged or forged model can decode an envelope
  // whose gains (2^-env) blow finite coefficients up until no shape entry has a finite distance;
  // 2^60 per value keeps a sub-vector's squared norm (8 values) below FLT_MAX / 16, within the
  // range the loaded books' magnitude check guarantees.
  constexpr float kMaxNormalised = 0x1p60f;
  static_assert(double(kSubvector) * kMaxNormalised * kMaxNormalised < std::numeric_limits<float>::max() / 16.0);
  for (size_t k = 0; k < kHop; ++k)
    VQ_CHECK(std::abs(normalised[k]) < kMaxNormalised, "audio: coefficient ", k,
             " normalised by the model's envelope is ", normalised[k],
             ", beyond what the shape search can compare (a damaged model, or input far out of range)");
  // Each sub-vector's codes, then scattered to the step order. A run of neighbouring sub-vectors
  // with the same level count (the allocation makes these long) is one search.
  constexpr size_t kMaxLevels = 16;
  uint16_t codes[kHop / kSubvector][kMaxLevels];
  for (size_t r = 0; r < shapes_.size(); ++r) {
    const std::span<const detail::WhitenedBook> books = search_->shapes[r];
    for (size_t j = region_first_[r], end; j < region_first_[r + 1]; j = end) {
      const size_t levels = layout.levels[j];
      for (end = j + 1; end < region_first_[r + 1] && layout.levels[end] == levels;) ++end;
      if (levels == 0) continue;
      detail::residual_encode(MatrixView<const float>(normalised + j * kSubvector, end - j, kSubvector),
                              books.first(levels), Metric::identity(), kShapeBeam,
                              MatrixView<uint16_t>(codes[j], end - j, levels, kMaxLevels), 1);
    }
  }
  for (size_t s = 0; s < layout.shape_steps; ++s)
    tokens[1 + layout.envelope_levels + s] = codes[steps_[s]][step_level_[s]];
}

uint16_t AudioModel::gain_index(float g) {
  const float q = std::round((g - kGainMin) / kGainStep);
  return uint16_t(std::clamp(q, 0.f, float((1 << kGainBits) - 1)));
}

float AudioModel::gain_value(uint16_t index) { return kGainMin + kGainStep * float(index); }

void AudioModel::decode_envelope(const uint16_t* tokens, const BitrateLayout& layout, float* state,
                                 float* env) const {
  const size_t nb = bands();
  for (size_t b = 0; b < nb; ++b) env[b] = predicted(state, b);
  for (size_t l = 0; l < layout.envelope_levels; ++l) {
    const float* e = envelope_->books()[l].entry(tokens[1 + l]);
    for (size_t b = 0; b < nb; ++b) env[b] += e[b];
  }
  const float g = gain_value(tokens[0]);
  for (size_t b = 0; b < nb; ++b) {
    state[b] = env[b];
    env[b] += g;
  }
}

void AudioModel::decode_frame(const uint16_t* tokens, const BitrateLayout& layout, const float* decoded_env,
                              uint64_t frame_index, float* coeffs) const {
  std::fill(coeffs, coeffs + kHop, 0.f);
  for (size_t s = 0; s < layout.shape_steps; ++s) {
    const size_t j = steps_[s];
    size_t r = 0;
    while (j >= region_first_[r + 1]) ++r;
    const float* e = shapes_[r]->books()[step_level_[s]].entry(tokens[1 + layout.envelope_levels + s]);
    for (size_t i = 0; i < kSubvector; ++i) coeffs[j * kSubvector + i] += e[i];
  }
  // Sub-vectors without levels (or coded as exactly zero) get unit-RMS noise; coded ones stay as
  // decoded. The band rescale below brings both to the envelope's level.
  for (size_t j = 0; j < subvectors(); ++j) {
    float* c = coeffs + j * kSubvector;
    double energy = 0;
    for (size_t i = 0; i < kSubvector; ++i) energy += double(c[i]) * c[i];
    if (layout.levels[j] > 0 && energy > 0) continue;
    for (size_t i = 0; i < kSubvector; ++i) c[i] = noise_at(frame_index, j * kSubvector + i);
  }
  // Each band rescaled to the unit RMS the envelope promises, so the decoded shapes keep their
  // relative energies inside the band (a harmonic stays above its neighbours) while the band's
  // energy is the envelope's. Measured against rescaling every coded sub-vector to unit RMS on
  // its own (default model, held-out files, log-mel at 6 / 12 / 24 kbps): speech 0.160 / 0.116 /
  // 0.076 -> 0.165 / 0.119 / 0.072, music_t25 0.251 / 0.190 / 0.137 -> 0.245 / 0.178 / 0.102,
  // music_t27 0.399 / 0.303 / 0.226 -> 0.402 / 0.294 / 0.173. Correcting the coded energies
  // for RVQ shrinkage (×e0/(e0−e_a)) before the band rescale changed the third decimal only.
  for (size_t b = 0; b < bands(); ++b) {
    double e = 0;
    for (size_t k = band_edges_[b]; k < band_edges_[b + 1]; ++k) e += double(coeffs[k]) * coeffs[k];
    if (e <= 0) continue;
    const float g = static_cast<float>(std::sqrt(double(band_edges_[b + 1] - band_edges_[b]) / e));
    for (size_t k = band_edges_[b]; k < band_edges_[b + 1]; ++k) coeffs[k] *= g;
  }
  for (size_t k = 0; k < kHop; ++k) coeffs[k] *= std::exp2(decoded_env[band_of_coeff_[k]]);
}

std::string AudioModel::describe() const {
  std::string s = detail::concat("audio ", kSampleRate / 1000, " kHz, ", bands(), " bands, envelope ",
                                 envelope_->describe(), ", shapes ");
  for (size_t r = 0; r < shapes_.size(); ++r) {
    if (r) s.push_back('/');
    s.append(shapes_[r]->describe());
  }
  return s;
}

AudioModel AudioModel::train(const std::vector<std::vector<float>>& clips, const AudioTrainOptions& options) {
  VQ_CHECK(options.envelope_levels >= 1 && options.envelope_levels <= 16, "audio train: envelope levels must be 1..16");
  VQ_CHECK(options.region_levels.size() == std::size(kRegionFirst) - 1, "audio train: give levels for ",
           std::size(kRegionFirst) - 1, " shape regions");
  for (size_t l : options.region_levels) VQ_CHECK(l >= 1 && l <= 16, "audio train: region levels must be 1..16");
  AudioModel m;
  m.band_edges_ = default_band_edges();
  m.region_first_.assign(std::begin(kRegionFirst), std::end(kRegionFirst));
  const size_t nb = m.bands();

  // MDCT frames of every clip, then an even subsample of at most max_frames.
  Mdct mdct(kHop);
  std::vector<Matrix> per_clip;
  size_t total = 0;
  for (const auto& clip : clips) {
    if (clip.empty()) continue;
    per_clip.push_back(mdct.analyze(clip));
    total += per_clip.back().rows();
  }
  const size_t keep = std::min(total, options.max_frames);
  VQ_CHECK(keep >= (size_t{1} << kEnvelopeBits), "audio train: ", total, " frames (",
           double(total) / frame_rate(), " s) are too few; need at least ", size_t{1} << kEnvelopeBits);
  // Log2 band levels relative to the quantized frame gain (the H-weighted mean level), as the
  // envelope quantizer sees them (loudness-free); returns the gain.
  const std::vector<float> hw = mel_weights(m.band_edges_);
  const double hsum = std::accumulate(hw.begin(), hw.end(), 0.0);
  auto relative_levels = [&](const float* c, float* out) {
    double g = 0;
    for (size_t b = 0; b < nb; ++b) {
      double p = 0;
      for (size_t k = m.band_edges_[b]; k < m.band_edges_[b + 1]; ++k) p += double(c[k]) * c[k];
      out[b] = static_cast<float>(0.5 * std::log2(p / double(m.band_edges_[b + 1] - m.band_edges_[b]) + kEnergyFloor));
      g += hw[b] * out[b];
    }
    const float gain = gain_value(gain_index(float(g / hsum)));
    for (size_t b = 0; b < nb; ++b) out[b] -= gain;
    return gain;
  };
  // Each picked frame with its relative levels and its predecessor's (prediction, open loop).
  Matrix frames(keep, kHop), env(keep, nb), prev(keep, nb);
  std::vector<float> gains(keep);
  std::vector<uint8_t> has_prev(keep, 0);
  {
    size_t i = 0, seen = 0;
    for (const Matrix& f : per_clip)
      for (size_t t = 0; t < f.rows(); ++t, ++seen)
        if (i < keep && seen * keep / total == i) {  // evenly spaced picks
          std::copy(f.row_ptr(t), f.row_ptr(t) + kHop, frames.row_ptr(i));
          gains[i] = relative_levels(f.row_ptr(t), env.row_ptr(i));
          if (t > 0) {
            relative_levels(f.row_ptr(t - 1), prev.row_ptr(i));
            has_prev[i] = 1;
          }
          ++i;
        }
    VQ_CHECK(i == keep, "audio train: internal frame subsampling error");
  }
  per_clip.clear();

  auto stage = [&](const std::string& prefix) -> ProgressCallback {
    if (!options.progress) return nullptr;
    return [&, prefix](const ProgressEvent& e) {
      ProgressEvent ev = e;
      ev.stage = prefix + e.stage;
      options.progress(ev);
    };
  };

  // Envelope prediction: per band the mean and the least-squares first-order coefficient over
  // consecutive frames, shrunk by kPredictionShrink because the decoder predicts from its own
  // quantized levels (closed loop), which are noisier than the true ones the fit sees. The
  // quantizer then learns the innovation: levels minus prediction.
  m.envelope_mean_.assign(nb, 0.f);
  m.envelope_alpha_.assign(nb, 0.f);
  for (size_t b = 0; b < nb; ++b) {
    double mean = 0;
    for (size_t i = 0; i < keep; ++i) mean += env(i, b);
    mean /= double(keep);
    double xy = 0, yy = 0;
    for (size_t i = 0; i < keep; ++i)
      if (has_prev[i]) {
        xy += (env(i, b) - mean) * (prev(i, b) - mean);
        yy += (prev(i, b) - mean) * (prev(i, b) - mean);
      }
    m.envelope_mean_[b] = float(mean);
    m.envelope_alpha_[b] = float(std::clamp(yy > 0 ? kPredictionShrink * xy / yy : 0.0, 0.0, 0.95));
  }
  Matrix predicted_env(keep, nb);
  for (size_t i = 0; i < keep; ++i)
    for (size_t b = 0; b < nb; ++b) {
      predicted_env(i, b) = has_prev[i] ? m.predicted(prev.row_ptr(i), b) : m.envelope_mean_[b];
      env(i, b) -= predicted_env(i, b);
    }
  TrainOptions to;
  to.seed = options.seed;
  to.threads = options.threads;
  to.iterations = options.iterations;
  to.metric = Metric::diagonal(mel_weights(m.band_edges_));
  to.progress = stage("envelope ");
  auto envq = make_quantizer(detail::concat("RVQ", options.envelope_levels, "x", kEnvelopeBits), nb);
  envq->train(env.view(), to);
  m.envelope_ = as_codebooks(std::move(envq), nb, kEnvelopeBits, "audio train");

  // Shapes normalised by the full-rate decoded envelope. A provisional model (no shape levels
  // yet) gives encode_frame's envelope path.
  m.shapes_.clear();
  m.residual_energy_.clear();
  const Codes env_codes = m.envelope_->encode(env.view());
  Matrix env_hat = m.envelope_->decode(env_codes);
  for (size_t i = 0; i < keep; ++i)
    for (size_t b = 0; b < nb; ++b) env_hat(i, b) += predicted_env(i, b);
  std::vector<uint16_t> band_of(kHop);
  for (size_t b = 0; b < nb; ++b)
    for (size_t k = m.band_edges_[b]; k < m.band_edges_[b + 1]; ++k) band_of[k] = uint16_t(b);
  for (size_t r = 0; r + 1 < m.region_first_.size(); ++r) {
    const size_t first = m.region_first_[r], count = m.region_first_[r + 1] - first;
    Matrix sub(keep * count, kSubvector);
    for (size_t i = 0; i < keep; ++i)
      for (size_t j = 0; j < count; ++j)
        for (size_t q = 0; q < kSubvector; ++q) {
          const size_t k = (first + j) * kSubvector + q;
          sub(i * count + j, q) = frames(i, k) * std::exp2(-(gains[i] + env_hat(i, band_of[k])));
        }
    TrainOptions so;
    so.seed = options.seed + 100 * (r + 1);
    so.threads = options.threads;
    so.iterations = options.iterations;
    so.progress = stage(detail::concat("shape region ", r + 1, "/", m.region_first_.size() - 1, " "));
    auto q = make_quantizer(detail::concat("RVQ", options.region_levels[r], "x", kShapeBits), kSubvector);
    q->train(sub.view(), so);
    auto cb = as_codebooks(std::move(q), kSubvector, kShapeBits, "audio train");
    // Mean squared error per coefficient after a = 0..L levels, greedy: the allocation's estimate
    // of what each level is worth (the encoder's beam search does a little better).
    const size_t levels = cb->num_books();
    std::vector<double> err(levels + 1, 0.0);
    const size_t stride = std::max<size_t>(1, sub.rows() / 50000), used = (sub.rows() + stride - 1) / stride;
    const MatrixView<const float> picked(sub.data(), used, kSubvector, stride * kSubvector);
    const std::vector<detail::WhitenedBook> books = detail::whiten_books(cb->books(), Metric::identity());
    detail::BeamBatch cur, next;
    detail::beam_start(picked, levels, cur);
    auto summed_error = [](const detail::BeamBatch& b) {
      return std::accumulate(b.errors.begin(), b.errors.end(), 0.0);
    };
    err[0] = summed_error(cur);
    for (size_t l = 0; l < levels; ++l) {
      detail::beam_step(cur, books[l], l, 1, next);
      std::swap(cur, next);
      err[l + 1] = summed_error(cur);
    }
    std::vector<float> curve(levels + 1);
    for (size_t a = 0; a <= levels; ++a) curve[a] = static_cast<float>(err[a] / double(used * kSubvector));
    m.residual_energy_.push_back(std::move(curve));
    m.shapes_.push_back(std::move(cb));
  }
  m.prepare();
  m.ref_.hash = model_hash(m.to_bytes());
  return m;
}

std::vector<uint8_t> AudioModel::to_bytes() const {
  ContainerWriter out;
  out.set_meta("vq.kind", "audio_model");
  out.set_meta("audio.sample_rate", std::to_string(kSampleRate));
  out.set_meta("audio.hop", std::to_string(kHop));
  out.set_meta("audio.subvector", std::to_string(kSubvector));
  out.set_meta("audio.band_edges", join(band_edges_));
  out.set_meta("audio.regions", join(region_first_));
  out.set_meta("audio.describe", describe());
  embed_quantizer(out, "AENV", *envelope_);
  for (const auto& s : shapes_) embed_quantizer(out, "ASHP", *s);
  ByteWriter w;
  w.u32(uint32_t(residual_energy_.size()));
  for (const auto& c : residual_energy_) {
    w.u32(uint32_t(c.size()));
    w.f32s(c);
  }
  out.add("ARES", w.take());
  ByteWriter p;
  p.f32s(envelope_mean_);
  p.f32s(envelope_alpha_);
  out.add("AEPR", p.take());
  out.add("ATST", self_test_payload());
  return out.to_bytes();
}

std::vector<uint8_t> AudioModel::self_test_payload() const {
  const BitrateLayout full = layout(max_bitrate());
  const size_t m = full.bits.size();
  // Every frame from the reset envelope state, as check_self_test encodes it.
  const detail::EncodeRows encode = [&](MatrixView<const float> x) {
    Codes out(x.rows(), full.bits);
    for (size_t t = 0; t < x.rows(); ++t) {
      std::vector<float> state = envelope_state();
      encode_frame(x.row_ptr(t), full, state.data(), out.row(t));
    }
    return out;
  };
  Rng rng(kSelfTestSeed);
  Matrix kept(0, kHop);
  std::vector<uint16_t> probe(m);
  // Candidates in batches until kSelfTestFrames are stable: most are, so one batch usually does.
  for (size_t first = 0; first < kSelfTestCandidates && kept.rows() < kSelfTestFrames; first += kSelfTestBatch) {
    Matrix batch(kSelfTestBatch, kHop);
    for (size_t c = 0; c < kSelfTestBatch; ++c) {
      for (size_t i = 0; i < m; ++i) probe[i] = uint16_t(rng.below(uint64_t{1} << full.bits[i]));
      probe[0] = uint16_t((1 << kGainBits) / 2 + rng.below(1 << (kGainBits - 2)));  // an ordinary loudness
      std::vector<float> state = envelope_state(), env(bands());
      decode_envelope(probe.data(), full, state.data(), env.data());
      decode_frame(probe.data(), full, env.data(), first + c, batch.row_ptr(c));
    }
    const std::vector<size_t> keep = detail::stable_rows(batch, kSelfTestFrames - kept.rows(), kSelfTestNudge,
                                                         /*relative=*/true, rng, encode);
    Matrix grown(kept.rows() + keep.size(), kHop);
    std::copy(kept.storage().begin(), kept.storage().end(), grown.storage().begin());
    for (size_t r = 0; r < keep.size(); ++r)
      std::copy_n(batch.row_ptr(keep[r]), kHop, grown.row_ptr(kept.rows() + r));
    kept = std::move(grown);
  }
  VQ_CHECK(kept.rows() > 0, "audio model: no self-test frame is stable under nudges (degenerate codebooks?)");
  ByteWriter w;
  w.u32(uint32_t(kept.rows()));
  w.u32(uint32_t(m));
  w.f32s(kept.storage());
  w.u16s(encode(kept).data);
  return w.take();
}

void AudioModel::check_self_test(ByteReader r, const std::string& name) const {
  const BitrateLayout full = layout(max_bitrate());
  const size_t n = r.u32(), m = r.u32();
  VQ_CHECK(n >= 1 && n <= kSelfTestFrames && m == full.bits.size(), name, ": chunk ATST: ", n, " frames of ", m,
           " tokens, expected 1..", kSelfTestFrames, " of ", full.bits.size());
  const std::vector<float> frames = r.f32s(n * kHop);
  const std::vector<uint16_t> tokens = r.u16s(n * m);
  r.expect_end();
  std::vector<uint16_t> got(m);
  for (size_t t = 0; t < n; ++t) {
    for (size_t i = 0; i < kHop; ++i)
      VQ_CHECK(std::isfinite(frames[t * kHop + i]), name, ": chunk ATST: non-finite coefficient");
    std::vector<float> state = envelope_state();
    encode_frame(frames.data() + t * kHop, full, state.data(), got.data());
    for (size_t i = 0; i < m; ++i)
      VQ_CHECK(got[i] == tokens[t * m + i], name, ": audio model self-test failed: frame ", t, " token ", i,
               " encodes to ", got[i], " but the file says ", tokens[t * m + i],
               " (the stored codebooks do not reproduce the tokens they were saved with)");
  }
}

void AudioModel::save(const std::string& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  write_file_atomic(path, bytes);
}

AudioModel AudioModel::from_bytes(Span<const uint8_t> bytes, const std::string& name) {
  return read(ContainerReader::from_bytes(bytes, name));
}

AudioModel AudioModel::read(const ContainerReader& in) {
  const std::string& name = in.name();
  VQ_CHECK(in.meta_or("vq.kind", "") == "audio_model", name, ": not an audio model (vq.kind '",
           in.meta_or("vq.kind", ""), "')");
  VQ_CHECK(in.meta_at("audio.sample_rate") == std::to_string(kSampleRate) &&
               in.meta_at("audio.hop") == std::to_string(kHop) &&
               in.meta_at("audio.subvector") == std::to_string(kSubvector),
           name, ": audio model for another frame layout (rate ", in.meta_at("audio.sample_rate"), ", hop ",
           in.meta_at("audio.hop"), ") than this build's ", kSampleRate, "/", kHop);
  AudioModel m;
  m.band_edges_ = split_numbers(in.meta_at("audio.band_edges"), name + ": audio.band_edges");
  m.region_first_ = split_numbers(in.meta_at("audio.regions"), name + ": audio.regions");
  VQ_CHECK(m.band_edges_.size() >= 2 && m.band_edges_.size() <= kHop + 1, name, ": bad band count");
  m.envelope_ = read_codebooks(in, "AENV", 0, m.band_edges_.size() - 1, kEnvelopeBits, name + ": envelope");
  for (size_t i = 0; i < in.count("ASHP"); ++i)
    m.shapes_.push_back(read_codebooks(in, "ASHP", i, kSubvector, kShapeBits, name + ": shape region"));
  ByteReader r = in.chunk("ARES");
  const size_t regions = r.u32();
  VQ_CHECK(regions <= 64, name, ": chunk ARES: ", regions, " shape regions (at most 64)");
  for (size_t i = 0; i < regions; ++i) {
    const size_t n = r.u32();
    VQ_CHECK(n <= 17, name, ": chunk ARES: ", n, " residual energy levels (at most 17)");
    m.residual_energy_.push_back(r.f32s(n));
    for (float v : m.residual_energy_.back())
      VQ_CHECK(std::isfinite(v) && v >= 0, name, ": bad residual energy in chunk ARES");
  }
  r.expect_end();
  if (in.count("AEPR") > 0) {
    ByteReader p = in.chunk("AEPR");
    m.envelope_mean_ = p.f32s(m.band_edges_.size() - 1);
    m.envelope_alpha_ = p.f32s(m.band_edges_.size() - 1);
    p.expect_end();
    for (size_t b = 0; b < m.envelope_mean_.size(); ++b)
      VQ_CHECK(std::isfinite(m.envelope_mean_[b]) && std::abs(m.envelope_alpha_[b]) <= 1, name,
               ": chunk AEPR: bad envelope prediction for band ", b);
  }
  for (size_t f : m.region_first_) VQ_CHECK(f <= m.subvectors(), name, ": bad audio.regions");
  for (size_t e : m.band_edges_) VQ_CHECK(e <= kHop, name, ": bad audio.band_edges");
  m.prepare();
  m.check_self_test(in.chunk("ATST"), name);
  m.ref_ = identify_model(in, kLegacyFileCrc32);  // encoded files of 0.1.0 name it by that
  return m;
}

AudioModel AudioModel::load(const std::string& path) { return from_bytes(read_file_bytes(path), path); }

}  // namespace vq::audio
