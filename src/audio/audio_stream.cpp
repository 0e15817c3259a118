// Whole-file and streaming encode / decode, and the encoded file's container layout. Both paths
// call AudioModel::encode_frame / decode_frame per frame in the same order of operations, so a
// stream gives the whole-file tokens and samples exactly.
#include <algorithm>
#include <cmath>
#include <optional>

#include "vq/audio/audio_codec.h"
#include "vq/audio/audio_io.h"
#include "vq/core/io.h"
#include "vq/core/limits.h"

namespace vq::audio {

EncodedAudio encode(const AudioModel& model, Span<const float> mono, int source_rate, int bitrate) {
  VQ_CHECK(!mono.empty(), "audio encode: no samples");
  for (size_t i = 0; i < mono.size(); ++i)
    VQ_CHECK(std::isfinite(mono[i]), "audio encode: sample ", i, " is not finite");
  const std::vector<float> x = resample(mono, source_rate, AudioModel::kSampleRate);
  EncodedAudio out;
  out.model = model.ref();
  out.bitrate = bitrate;
  out.source_rate = source_rate;
  out.source_channels = 1;
  out.source_samples = mono.size();
  out.samples = x.size();
  const BitrateLayout layout = model.layout(bitrate);
  Mdct mdct(AudioModel::kHop);
  const Matrix frames = mdct.analyze(x);
  out.tokens = Codes(frames.rows(), layout.bits);
  // The envelopes in order (each predicts from the previous one), then the shapes in parallel.
  Matrix env(frames.rows(), model.bands());
  std::vector<float> state = model.envelope_state();
  for (size_t t = 0; t < frames.rows(); ++t)
    model.encode_envelope(frames.row_ptr(t), layout, state.data(), out.tokens.row(t), env.row_ptr(t));
  const long n = long(frames.rows());
#pragma omp parallel for schedule(static)
  for (long t = 0; t < n; ++t)
    model.encode_shapes(frames.row_ptr(size_t(t)), layout, env.row_ptr(size_t(t)), out.tokens.row(size_t(t)));
  return out;
}

std::vector<float> decode_model_rate(const AudioModel& model, const EncodedAudio& encoded) {
  check_model(encoded.model, model.ref(), "audio decode: the tokens");
  const BitrateLayout layout = model.layout(encoded.bitrate);
  VQ_CHECK(encoded.tokens.bits == layout.bits, "audio decode: tokens have ", encoded.tokens.num_books(),
           " codebooks, the model's ", encoded.bitrate, " bits/s layout has ", layout.bits.size());
  VQ_CHECK(encoded.tokens.n == (encoded.samples + AudioModel::kHop - 1) / AudioModel::kHop + 1,
           "audio decode: ", encoded.tokens.n, " frames do not describe ", encoded.samples, " samples");
  encoded.tokens.validate();
  Matrix frames(encoded.tokens.n, AudioModel::kHop), env(encoded.tokens.n, model.bands());
  std::vector<float> state = model.envelope_state();
  for (size_t t = 0; t < frames.rows(); ++t)
    model.decode_envelope(encoded.tokens.row(t), layout, state.data(), env.row_ptr(t));
  const long n = long(frames.rows());
#pragma omp parallel for schedule(static)
  for (long t = 0; t < n; ++t)
    model.decode_frame(encoded.tokens.row(size_t(t)), layout, env.row_ptr(size_t(t)), uint64_t(t),
                       frames.row_ptr(size_t(t)));
  Mdct mdct(AudioModel::kHop);
  return mdct.synthesize(frames.view(), encoded.samples);
}

std::vector<float> decode(const AudioModel& model, const EncodedAudio& encoded) {
  std::vector<float> y = resample(decode_model_rate(model, encoded), AudioModel::kSampleRate, encoded.source_rate);
  y.resize(encoded.source_samples, 0.f);
  return y;
}

void write_encoded(ContainerWriter& out, const EncodedAudio& e) {
  out.set_meta("vq.kind", "audio");
  out.set_meta("audio.bitrate", std::to_string(e.bitrate));
  out.set_meta("audio.source", detail::concat(e.source_rate, ",", e.source_channels, ",", e.source_samples));
  out.set_meta("audio.samples", std::to_string(e.samples));
  write_model_ref(out, e.model);
  write_codes(out, e.tokens);
}

namespace {
uint64_t parse_u64(const std::string& s, const std::string& what) {
  VQ_CHECK(!s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos, what,
           ": '", s, "' is not a non-negative integer");
  return std::stoull(s);
}
}  // namespace

EncodedAudio read_encoded(const ContainerReader& in) {
  const std::string& name = in.name();
  VQ_CHECK(in.meta_or("vq.kind", "") == "audio", name, ": not encoded audio");
  EncodedAudio e;
  e.bitrate = int(std::min<uint64_t>(parse_u64(in.meta_at("audio.bitrate"), name + ": audio.bitrate"), 1u << 30));
  const std::string src = in.meta_at("audio.source");
  const size_t c1 = src.find(','), c2 = src.find(',', c1 == std::string::npos ? 0 : c1 + 1);
  VQ_CHECK(c1 != std::string::npos && c2 != std::string::npos, name, ": audio.source '", src,
           "' is not rate,channels,samples");
  e.source_rate = int(std::min<uint64_t>(parse_u64(src.substr(0, c1), name + ": source rate"), 1u << 30));
  e.source_channels = int(std::min<uint64_t>(parse_u64(src.substr(c1 + 1, c2 - c1 - 1), name + ": channels"), 1u << 30));
  e.source_samples = parse_u64(src.substr(c2 + 1), name + ": source samples");
  VQ_CHECK(e.source_rate >= kMinSampleRate && e.source_rate <= kMaxSampleRate, name, ": source rate ",
           e.source_rate, " Hz out of range");
  e.samples = parse_u64(in.meta_at("audio.samples"), name + ": audio.samples");
  if (std::optional<ModelRef> ref = read_model_ref(in)) {
    e.model = std::move(*ref);
  } else {
    // Written before model references: "name,CRC-32 of the model file" in decimal, an older
    // identity (model_ref.h) matched against the CRC-32 of the model file found.
    const std::string model = in.meta_at("audio.model");
    const size_t comma = model.rfind(',');
    VQ_CHECK(comma != std::string::npos, name, ": audio.model '", model, "' is not name,CRC-32");
    const uint64_t crc = parse_u64(model.substr(comma + 1), name + ": audio.model CRC-32");
    VQ_CHECK(crc <= 0xffffffffu, name, ": audio.model CRC-32 ", crc, " exceeds 32 bits");
    e.model.name = model.substr(0, comma);
    e.model.legacy_key = kLegacyFileCrc32;
    e.model.legacy_id = std::to_string(crc);
  }
  e.tokens = read_codes(in);
  // The frame count follows from the length; a mismatch means a damaged or forged file, and the
  // source length must be what resampling the model-rate length gives back (no huge allocation).
  VQ_CHECK(e.tokens.n == (e.samples + AudioModel::kHop - 1) / AudioModel::kHop + 1, name, ": ", e.tokens.n,
           " frames do not describe ", e.samples, " samples");
  const double expect = double(e.samples) * e.source_rate / AudioModel::kSampleRate;
  VQ_CHECK(std::abs(double(e.source_samples) - expect) <= 2 + expect * 1e-3, name, ": source length ",
           e.source_samples, " does not match ", e.samples, " samples at the model rate");
  // Decoding holds the model-rate and the source-rate signal as float32.
  check_decoded_size(saturating_product({e.samples + e.source_samples, sizeof(float)}),
                     detail::concat(name, ": ", e.source_samples, " samples of audio"));
  return e;
}

StreamEncoder::StreamEncoder(const AudioModel& model, int bitrate)
    : model_(model), layout_(model.layout(bitrate)), window_(2 * AudioModel::kHop, 0.f),
      filled_(AudioModel::kHop), state_(model.envelope_state()), mdct_(std::make_unique<Mdct>(AudioModel::kHop)) {}

void StreamEncoder::encode_ready() {
  const size_t n = AudioModel::kHop;
  const size_t m = layout_.bits.size();
  std::vector<float> coeffs(n);
  mdct_->forward(window_.data(), coeffs.data());
  ready_.resize(ready_.size() + m);
  model_.encode_frame(coeffs.data(), layout_, state_.data(), ready_.data() + ready_.size() - m);
  std::copy(window_.begin() + long(n), window_.end(), window_.begin());
  filled_ = n;
  ++frames_done_;
}

void StreamEncoder::push(Span<const float> samples) {
  VQ_CHECK(!finished_, "StreamEncoder::push after finish()");
  const size_t n2 = 2 * AudioModel::kHop;
  for (size_t i = 0; i < samples.size();) {
    const size_t take = std::min(n2 - filled_, samples.size() - i);
    for (size_t j = 0; j < take; ++j) {
      VQ_CHECK(std::isfinite(samples[i + j]), "StreamEncoder::push: sample ", total_ + i + j, " is not finite");
      window_[filled_ + j] = samples[i + j];
    }
    filled_ += take;
    i += take;
    if (filled_ == n2) encode_ready();
  }
  total_ += samples.size();
}

void StreamEncoder::finish() {
  if (finished_) return;
  finished_ = true;
  const size_t n = AudioModel::kHop;
  const size_t frames = (total_ + n - 1) / n + 1;
  while (frames_done_ < frames) {
    std::fill(window_.begin() + long(filled_), window_.end(), 0.f);
    encode_ready();
  }
}

Codes StreamEncoder::pull() {
  Codes out;
  out.bits = layout_.bits;
  out.n = ready_.size() / std::max<size_t>(1, layout_.bits.size());
  out.data = std::move(ready_);
  ready_.clear();
  return out;
}

StreamDecoder::StreamDecoder(const AudioModel& model, int bitrate)
    : model_(model), layout_(model.layout(bitrate)), overlap_(AudioModel::kHop, 0.f), state_(model.envelope_state()),
      mdct_(std::make_unique<Mdct>(AudioModel::kHop)) {}

StreamDecoder::~StreamDecoder() = default;

void StreamDecoder::push(const Codes& frames) {
  VQ_CHECK(frames.bits == layout_.bits, "StreamDecoder::push: tokens have ", frames.num_books(),
           " codebooks, this bitrate's layout has ", layout_.bits.size());
  frames.validate();
  const size_t n = AudioModel::kHop;
  std::vector<float> coeffs(n), buf(2 * n), env(model_.bands());
  for (size_t t = 0; t < frames.n; ++t, ++frames_) {
    model_.decode_envelope(frames.row(t), layout_, state_.data(), env.data());
    model_.decode_frame(frames.row(t), layout_, env.data(), frames_, coeffs.data());
    mdct_->inverse(coeffs.data(), buf.data());
    if (frames_ > 0)
      for (size_t i = 0; i < n; ++i) ready_.push_back(overlap_[i] + buf[i]);
    std::copy(buf.begin() + long(n), buf.end(), overlap_.begin());
  }
}

std::vector<float> StreamDecoder::pull() {
  std::vector<float> out = std::move(ready_);
  ready_.clear();
  return out;
}

}  // namespace vq::audio
