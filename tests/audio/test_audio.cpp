// Audio: MDCT perfect reconstruction, the log-mel distance against a NumPy reference, codec
// properties (stream == whole file, monotone bitrate ladder, model and file round trips) and
// bad input (empty, truncated, flipped, non-audio, absurd rates, silence, clipping).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <numeric>

#include "container_edit.h"
#include "util/atomic_file.h"
#include "vq/audio/audio_codec.h"
#include "vq/audio/audio_io.h"
#include "vq/audio/mdct.h"
#include "vq/audio/metrics.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"
#include "audio_fixture.h"

namespace fs = std::filesystem;
using namespace vq;
using namespace vq::audio;

namespace {

constexpr int kRate = AudioModel::kSampleRate;
using vq::testing_audio::test_signal;

// The tiny model every codec test uses, trained once per library build by make_test_model.cpp
// from the fixture's clips (tests/CMakeLists.txt).
const AudioModel& tiny_model() {
  static const AudioModel model = AudioModel::load(VQ_AUDIO_TEST_MODEL);
  return model;
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("vq_audio_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<uint8_t> wav_bytes(const std::vector<float>& x, int rate, int channels = 1) {
  const std::string path = temp_path("bytes.wav");
  write_audio(path, Audio{rate, channels, x});
  std::vector<uint8_t> b = read_file_bytes(path);
  fs::remove(path);
  return b;
}

}  // namespace

TEST(Mdct, ForwardMatchesDefinition) {
  const size_t n = 16;
  Mdct mdct(n);
  Rng rng(1);
  std::vector<float> frame(2 * n), coeffs(n);
  for (float& v : frame) v = float(rng.normal());
  mdct.forward(frame.data(), coeffs.data());
  for (size_t k = 0; k < n; ++k) {
    double s = 0;
    for (size_t i = 0; i < 2 * n; ++i)
      s += std::sin(M_PI * (i + 0.5) / (2 * n)) * frame[i] *
           std::cos(M_PI / n * (i + 0.5 + n / 2.0) * (k + 0.5));
    EXPECT_NEAR(coeffs[k], std::sqrt(2.0 / n) * s, 1e-5) << "k=" << k;
  }
}

TEST(Mdct, PerfectReconstruction) {
  for (size_t n : {16, 64, 480}) {
    Mdct mdct(n);
    for (size_t len : {size_t{1}, n - 1, n, 5 * n + 7, size_t{12345}}) {
      Rng rng(len);
      std::vector<float> x(len);
      for (float& v : x) v = float(rng.uniform() * 2 - 1);
      const Matrix frames = mdct.analyze(x);
      ASSERT_EQ(frames.rows(), (len + n - 1) / n + 1);
      const std::vector<float> y = mdct.synthesize(frames.view(), len);
      ASSERT_EQ(y.size(), len);
      double worst = 0;
      for (size_t i = 0; i < len; ++i) worst = std::max(worst, std::abs(double(x[i]) - y[i]));
      EXPECT_LT(worst, 2e-6) << "n=" << n << " len=" << len;
    }
  }
  EXPECT_THROW(Mdct(15), Error);
  EXPECT_THROW(Mdct(2), Error);
}

TEST(Metrics, SnrIsAnalytic) {
  std::vector<float> x(1000), y(1000);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = (i % 2) ? 1.f : -1.f;
    y[i] = x[i] * 0.9f;  // error energy 0.01 per sample: 20 dB
  }
  EXPECT_NEAR(snr_db(x, y), 20.0, 1e-4);
  EXPECT_TRUE(std::isinf(snr_db(x, x)));
  EXPECT_EQ(log_mel_distance(x, x, kRate), 0.0);
}

TEST(Metrics, LogMelMatchesNumpyReference) {
  for (int rate : {16000, 24000, 44100}) {
    const std::vector<float> ref = test_signal(1.3, 7, rate);
    std::vector<float> dec = ref;
    Rng rng(9);
    for (float& v : dec) v = v * 0.7f + float(0.01 * rng.normal());
    dec.resize(dec.size() - 300);  // also exercises the zero-padding of the shorter signal
    const std::string a = temp_path("ref.npy"), b = temp_path("dec.npy");
    write_npy(a, MatrixView<const float>(ref.data(), ref.size(), 1));
    write_npy(b, MatrixView<const float>(dec.data(), dec.size(), 1));
    const std::string cmd = "/usr/bin/python3 " VQ_SOURCE_DIR "/tests/audio/logmel_reference.py " + a + " " + b +
                            " " + std::to_string(rate);
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buf[128] = {0};
    ASSERT_NE(std::fgets(buf, sizeof buf, pipe), nullptr) << cmd;
    ASSERT_EQ(pclose(pipe), 0) << cmd;
    fs::remove(a);
    fs::remove(b);
    const double expected = std::atof(buf);
    EXPECT_GT(expected, 0.05);
    EXPECT_NEAR(log_mel_distance(ref, dec, rate), expected, 1e-4 * expected) << "rate " << rate;
  }
}

// The per-band figures are the distance split by band: their mean is the distance, and a
// difference confined to high frequencies shows in the high bands only.
TEST(Metrics, LogMelPerBandAveragesToTheDistance) {
  const std::vector<float> ref = test_signal(1.1, 5, kRate);
  std::vector<float> dec = ref;
  for (size_t i = 0; i < dec.size(); ++i) dec[i] += 0.05f * float(std::sin(2 * M_PI * 9000.0 * double(i) / kRate));
  const std::vector<double> bands = log_mel_distance_per_band(ref, dec, kRate);
  ASSERT_EQ(bands.size(), kLogMelBands);
  double mean = 0;
  for (double b : bands) mean += b;
  mean /= double(bands.size());
  const double whole = log_mel_distance(ref, dec, kRate);
  EXPECT_GT(whole, 0.0);
  EXPECT_NEAR(mean, whole, 1e-12 * whole);
  // 9 kHz at 24 kHz lies in band ~73 of 80 (Slaney mel); bands below 20 end under 1.6 kHz.
  double low = 0, high = 0;
  for (size_t m = 0; m < 20; ++m) low = std::max(low, bands[m]);
  for (size_t m = 60; m < kLogMelBands; ++m) high = std::max(high, bands[m]);
  EXPECT_GT(high, 10 * low) << "low " << low << " high " << high;
  for (double b : log_mel_distance_per_band(ref, ref, kRate)) EXPECT_EQ(b, 0.0);
}

TEST(AudioIo, WavAndFlacRoundTrip) {
  const std::vector<float> x = test_signal(0.5, 3, 22050);
  for (const char* ext : {".wav", ".flac"}) {
    const std::string path = temp_path(std::string("rt") + ext);
    write_audio(path, Audio{22050, 1, x});
    const Audio a = read_audio(path);
    fs::remove(path);
    EXPECT_EQ(a.sample_rate, 22050);
    ASSERT_EQ(a.frames(), x.size());
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(a.samples[i], x[i], 1e-6) << ext;
  }
  EXPECT_THROW(write_audio(temp_path("x.mp3"), Audio{22050, 1, x}), Error);
}

TEST(AudioIo, DownmixAndResample) {
  Audio stereo{48000, 2, {}};
  std::vector<float> sine(48000);
  for (size_t i = 0; i < sine.size(); ++i) sine[i] = float(0.5 * std::sin(2 * M_PI * 1000 * double(i) / 48000));
  for (float v : sine) {
    stereo.samples.push_back(v + 0.25f);
    stereo.samples.push_back(v - 0.25f);
  }
  const std::vector<float> mono = to_mono(stereo);
  for (size_t i = 0; i < sine.size(); ++i) ASSERT_NEAR(mono[i], sine[i], 1e-6);
  const std::vector<float> y = resample(mono, 48000, 24000);
  ASSERT_EQ(y.size(), 24000u);
  double err = 0, energy = 0;
  for (size_t i = 1000; i < 23000; ++i) {  // away from the edges
    const double want = 0.5 * std::sin(2 * M_PI * 1000 * double(i) / 24000);
    err += (y[i] - want) * (y[i] - want);
    energy += want * want;
  }
  EXPECT_LT(err / energy, 1e-4) << "resampled sine is not aligned or distorted";
  EXPECT_THROW(resample(mono, 48000, 10), Error);
}

TEST(AudioIo, BadInputFailsCleanly) {
  EXPECT_THROW(read_audio_from_bytes({}, "empty"), Error);
  const std::string text = "this is not audio at all, just some text in a file named .wav";
  EXPECT_THROW(read_audio_from_bytes({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, "text"), Error);
  EXPECT_THROW(read_audio("/nonexistent/file.wav"), Error);

  // Absurd sample rates in an otherwise valid header (WAV: u32 at byte 24).
  std::vector<uint8_t> wav = wav_bytes(test_signal(0.1, 1), kRate);
  for (uint32_t rate : {1u, 999u, 10000000u, 0xffffffffu}) {
    std::vector<uint8_t> b = wav;
    for (int i = 0; i < 4; ++i) b[24 + i] = uint8_t(rate >> (8 * i));
    EXPECT_THROW(read_audio_from_bytes(b, "rate"), Error) << rate;
  }
}

TEST(AudioIo, FuzzTruncationsAndFlips) {
  const std::vector<uint8_t> wav = wav_bytes(test_signal(0.05, 2), 16000, 1);
  size_t ok = 0, rejected = 0;
  auto attempt = [&](const std::vector<uint8_t>& b) {
    try {
      const Audio a = read_audio_from_bytes(b, "fuzz");
      for (float v : a.samples) ASSERT_TRUE(std::isfinite(v));
      ++ok;
    } catch (const Error&) {
      ++rejected;
    }
  };
  for (size_t len = 0; len < wav.size(); len += (len < 200 ? 1 : 37))
    attempt(std::vector<uint8_t>(wav.begin(), wav.begin() + long(len)));
  Rng rng(5);
  for (int i = 0; i < 400; ++i) {
    std::vector<uint8_t> b = wav;
    for (int f = 0; f < 3; ++f) b[rng.below(std::min<size_t>(b.size(), 128))] ^= uint8_t(1 + rng.below(255));
    attempt(b);
  }
  EXPECT_GT(rejected, 40u);
  EXPECT_GT(ok, 0u);
}

// Training (the fixture itself is trained at build time by make_test_model.cpp): a minimal model
// trains to the layout asked for, twice to the same bytes, and codes better than its own
// lowest rung at a higher one.
TEST(AudioCodec, TrainingIsDeterministic) {
  AudioTrainOptions o = testing_audio::tiny_model_options();
  o.envelope_levels = 2;
  o.region_levels = {1, 1, 1};
  o.iterations = 2;
  const std::vector<std::vector<float>> clips = {test_signal(11.0, 200), test_signal(11.0, 201)};
  const AudioModel a = AudioModel::train(clips, o), b = AudioModel::train(clips, o);
  EXPECT_EQ(a.describe(), "audio 24 kHz, 32 bands, envelope RVQ2x10, shapes RVQ1x8/RVQ1x8/RVQ1x8");
  EXPECT_EQ(a.to_bytes(), b.to_bytes());
  EXPECT_EQ(a.ref().hash, b.ref().hash);
  const std::vector<float> x = test_signal(2.0, 91);
  EXPECT_LT(log_mel_distance(x, decode(a, encode(a, x, kRate, 6000)), kRate),
            log_mel_distance(x, decode(a, encode(a, x, kRate, 1500)), kRate));
}

TEST(AudioCodec, StreamEqualsWholeFile) {
  const AudioModel& model = tiny_model();
  const std::vector<float> x = test_signal(2.1, 42);
  for (int bitrate : {1500, 6000, 24000}) {
    const EncodedAudio whole = encode(model, x, kRate, bitrate);
    StreamEncoder enc(model, bitrate);
    Codes streamed;
    streamed.bits = enc.layout().bits;
    const size_t chunks[] = {1, 333, 1000, 4801, 17};
    size_t pos = 0, c = 0;
    while (pos < x.size()) {
      const size_t take = std::min(chunks[c++ % 5], x.size() - pos);
      enc.push({x.data() + pos, take});
      pos += take;
      const Codes part = enc.pull();
      streamed.data.insert(streamed.data.end(), part.data.begin(), part.data.end());
      streamed.n += part.n;
      // Bounded latency: every frame whose samples have all arrived is out.
      EXPECT_GE(streamed.n + 1, pos / AudioModel::kHop);
    }
    enc.finish();
    const Codes rest = enc.pull();
    streamed.data.insert(streamed.data.end(), rest.data.begin(), rest.data.end());
    streamed.n += rest.n;
    ASSERT_EQ(streamed.n, whole.tokens.n);
    EXPECT_EQ(streamed.data, whole.tokens.data) << "bitrate " << bitrate;

    const std::vector<float> y = decode_model_rate(model, whole);
    StreamDecoder dec(model, bitrate);
    std::vector<float> out;
    for (size_t t = 0; t < whole.tokens.n; t += 7) {
      Codes part(std::min<size_t>(7, whole.tokens.n - t), whole.tokens.bits);
      std::copy(whole.tokens.row(t), whole.tokens.row(t) + part.data.size(), part.data.begin());
      dec.push(part);
      const std::vector<float> s = dec.pull();
      out.insert(out.end(), s.begin(), s.end());
    }
    ASSERT_GE(out.size(), y.size());
    for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(out[i], y[i]) << "sample " << i;
  }
}

// The envelope is predicted from the previous frame's decoded envelope: the encoder's own
// reconstruction must equal the decoder's frame by frame (bit for bit, or the two drift apart),
// and the state must matter (a frame coded from the reset state gets other tokens somewhere).
TEST(AudioCodec, EnvelopePredictionKeepsEncoderAndDecoderInStep) {
  const AudioModel& model = tiny_model();
  const Matrix frames = Mdct(AudioModel::kHop).analyze(test_signal(2.0, 61));
  for (int bitrate : {1500, 6000, 24000}) {
    const BitrateLayout layout = model.layout(bitrate);
    const size_t m = layout.bits.size(), nb = model.bands();
    std::vector<float> enc_state = model.envelope_state(), dec_state = model.envelope_state();
    std::vector<float> enc_env(nb), dec_env(nb), fresh_env(nb);
    std::vector<uint16_t> tokens(m), fresh(m);
    size_t differ = 0;
    for (size_t t = 0; t < frames.rows(); ++t) {
      model.encode_envelope(frames.row_ptr(t), layout, enc_state.data(), tokens.data(), enc_env.data());
      model.decode_envelope(tokens.data(), layout, dec_state.data(), dec_env.data());
      ASSERT_EQ(enc_env, dec_env) << "bitrate " << bitrate << " frame " << t;
      ASSERT_EQ(enc_state, dec_state) << "bitrate " << bitrate << " frame " << t;
      std::vector<float> reset = model.envelope_state();
      model.encode_envelope(frames.row_ptr(t), layout, reset.data(), fresh.data(), fresh_env.data());
      differ += !std::equal(tokens.begin() + 1, tokens.begin() + 1 + long(layout.envelope_levels), fresh.begin() + 1);
    }
    EXPECT_GT(differ, frames.rows() / 4) << "bitrate " << bitrate << ": the prediction state is not used";
  }
}

TEST(AudioCodec, LadderIsMonotoneInQuality) {
  const AudioModel& model = tiny_model();
  const std::vector<float> x = test_signal(3.0, 77);  // not in the training clips
  double last_mel = 1e9, last_snr = -1e9;
  size_t last_bits = 0;
  for (int bitrate : kLadder) {
    const BitrateLayout layout = model.layout(bitrate);
    EXPECT_LE(layout.bits_per_frame(), size_t(bitrate / AudioModel::frame_rate()));
    EXPECT_GE(layout.bits_per_frame(), last_bits);
    last_bits = layout.bits_per_frame();
    const std::vector<float> y = decode(model, encode(model, x, kRate, bitrate));
    ASSERT_EQ(y.size(), x.size());
    const double mel = log_mel_distance(x, y, kRate), snr = snr_db(x, y);
    EXPECT_LT(mel, last_mel + 1e-3) << bitrate;
    EXPECT_GT(snr, last_snr - 0.05) << bitrate;
    last_mel = mel;
    last_snr = snr;
  }
  EXPECT_LT(last_mel, 0.5);
}

TEST(AudioCodec, ModelAndFileRoundTrip) {
  const AudioModel& model = tiny_model();
  const std::string path = temp_path("model.vqc");
  model.save(path);
  const AudioModel loaded = AudioModel::load(path);
  fs::remove(path);
  EXPECT_EQ(loaded.ref().hash, model.ref().hash);
  EXPECT_EQ(loaded.describe(), model.describe());
  const std::vector<float> x = test_signal(1.0, 5, 44100);
  EncodedAudio e = encode(model, x, 44100, 6000);
  e.model.name = "tiny";
  EXPECT_EQ(encode(loaded, x, 44100, 6000).tokens.data, e.tokens.data);
  ContainerWriter w;
  write_encoded(w, e);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const EncodedAudio r = read_encoded(ContainerReader::from_bytes(bytes, "enc"));
  EXPECT_EQ(r.tokens.data, e.tokens.data);
  EXPECT_EQ(r.source_rate, 44100);
  EXPECT_EQ(r.source_samples, x.size());
  EXPECT_EQ(r.model.name, "tiny");
  EXPECT_EQ(r.model.hash, model.ref().hash);
  const std::vector<float> y = decode(loaded, r);
  EXPECT_EQ(y.size(), x.size());
  // Tokens that name another model are refused, naming both.
  EncodedAudio other = r;
  other.model.hash = *r.model.hash ^ 1u;
  try {
    (void)decode(loaded, other);
    ADD_FAILURE() << "tokens of another model decoded";
  } catch (const Error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("made with model tiny (hash " + format_model_hash(*other.model.hash) + "), not with model " +
                        path + " (hash " + format_model_hash(*model.ref().hash) + ")"),
              std::string::npos)
        << what;
  }
  // Every truncation of the encoded file is rejected, never crashes.
  for (size_t len = 0; len < bytes.size(); ++len)
    EXPECT_THROW(read_encoded(ContainerReader::from_bytes({bytes.data(), len}, "cut")), Error) << len;
  // A model file with a flipped byte fails to load (CRC, or the model's self-test).
  std::vector<uint8_t> mb = model.to_bytes();
  mb[mb.size() / 2] ^= 0x40;
  EXPECT_THROW(AudioModel::from_bytes(mb, "flipped"), Error);
}

// Rebuilds a container with the same metadata and chunks, except that edit(type, payload) may
// change payloads: the writer recomputes every CRC, so only the model's own checks can object.
std::vector<uint8_t> rewrite(Span<const uint8_t> bytes,
                             const std::function<void(const std::string&, std::vector<uint8_t>&)>& edit) {
  const ContainerReader in = ContainerReader::from_bytes(bytes, "rewrite");
  ContainerWriter out;
  for (const auto& [key, value] : in.meta()) out.set_meta(key, value);
  std::map<std::string, size_t> seen;
  for (const auto& info : in.chunks()) {
    if (info.type == "META" || info.type == "END ") continue;
    const Span<const uint8_t> p = in.payload(info.type, seen[info.type]++);
    std::vector<uint8_t> payload(p.begin(), p.end());
    edit(info.type, payload);
    out.add(info.type, std::move(payload));
  }
  return out.to_bytes();
}

TEST(AudioCodec, SelfTestCatchesCodebooksTheCrcCannot) {
  const AudioModel& model = tiny_model();
  const std::vector<uint8_t> bytes = model.to_bytes();
  // Unchanged rewrite loads (the helper itself is faithful).
  EXPECT_EQ(AudioModel::from_bytes(rewrite(bytes, [](const std::string&, std::vector<uint8_t>&) {})).describe(),
            model.describe());
  // Negate the first book of the first shape region inside its (valid, re-CRC'd) quantizer chunk.
  bool first = true;
  const std::vector<uint8_t> bad = rewrite(bytes, [&](const std::string& type, std::vector<uint8_t>& p) {
    if (type != "ASHP" || !first) return;
    first = false;
    p = rewrite(p, [](const std::string& t, std::vector<uint8_t>& book) {
      if (t != "BOOK") return;
      const size_t start = 8 + 8 + 8 + 1;  // u64 books, u64 offset, u64 dim, u8 bits
      for (size_t f = 0; f < 256 * AudioModel::kSubvector; ++f) book[start + 4 * f + 3] ^= 0x80;
    });
  });
  try {
    (void)AudioModel::from_bytes(bad, "negated");
    ADD_FAILURE() << "a model with a negated codebook loaded";
  } catch (const Error& e) {
    // The embedded quantizer's own self-test catches it first.
    EXPECT_NE(std::string(e.what()).find("negated: chunk 'ASHP' #0: quantizer self-test failed"), std::string::npos)
        << e.what();
  }
  try {
    (void)AudioModel::from_bytes(testdata::with_negated_first_book(bytes, "AENV", 0), "negated");
    ADD_FAILURE() << "a model with a negated envelope codebook loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("negated: chunk 'AENV' #0: quantizer self-test failed"), std::string::npos)
        << e.what();
  }
  // Envelope prediction switched off (AEPR zeroed, still well-formed): another codec, caught too.
  const std::vector<uint8_t> unpredicted = rewrite(bytes, [](const std::string& type, std::vector<uint8_t>& p) {
    if (type == "AEPR") std::fill(p.begin(), p.end(), uint8_t(0));
  });
  try {
    (void)AudioModel::from_bytes(unpredicted, "unpredicted");
    ADD_FAILURE() << "a model with its envelope prediction zeroed loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("self-test failed"), std::string::npos) << e.what();
  }
}

TEST(AudioCodec, SilenceClippingAndBadArguments) {
  const AudioModel& model = tiny_model();
  const std::vector<float> silence(24000, 0.f);
  const std::vector<float> ys = decode(model, encode(model, silence, kRate, 6000));
  double peak = 0;
  for (float v : ys) peak = std::max(peak, double(std::abs(v)));
  EXPECT_LT(peak, 1e-3) << "silence should decode to (near) silence";

  // Hard clipping: the test signal driven 8× into ±1.
  std::vector<float> clipped = test_signal(1.0, 78);
  for (float& v : clipped) v = std::clamp(8 * v, -1.f, 1.f);
  const std::vector<float> yc = decode(model, encode(model, clipped, kRate, 24000));
  for (float v : yc) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LT(log_mel_distance(clipped, yc, kRate), 1.0);

  EXPECT_THROW(encode(model, std::vector<float>{}, kRate, 6000), Error);
  EXPECT_THROW(encode(model, silence, kRate, 500), Error);
  EXPECT_THROW(encode(model, silence, 5, 6000), Error);
  std::vector<float> nan = silence;
  nan[100] = NAN;
  EXPECT_THROW(encode(model, nan, kRate, 6000), Error);
  AudioTrainOptions o;
  EXPECT_THROW(AudioModel::train({test_signal(1.0, 1)}, o), Error);  // too few frames
}
