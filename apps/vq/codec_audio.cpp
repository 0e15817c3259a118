// Audio (.wav, .flac, .ogg, ...) through the MDCT + residual-codebook codec of vq/audio. Thin:
// argument handling and summaries here, everything else in the library.
//
// An encoded file does not carry the model (its codebooks would outweigh the tokens): it records
// a model reference (vq/core/model_ref.h), and decode opens the model it names (vq/core/models.h).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "media_codec.h"
#include "output_files.h"
#include "vq/audio/audio_codec.h"
#include "vq/audio/audio_io.h"
#include "vq/audio/metrics.h"
#include "vq/core/npy.h"

namespace vq::cli {
namespace {

namespace fs = std::filesystem;
using namespace vq::audio;

constexpr const char* kDemoSample = "audio_sample.flac";
// vq eval: lengths (in seconds) a decoded file may differ from its reference by.
constexpr double kLengthTolerance = 0.01;

// "6k", "1.5k", "6000", "24kbps" -> bits per second.
int parse_bitrate(std::string text) {
  std::string lower;
  for (char c : text) lower.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (lower.size() > 3 && lower.substr(lower.size() - 3) == "bps") lower.resize(lower.size() - 3);
  double scale = 1;
  if (!lower.empty() && lower.back() == 'k') {
    scale = 1000;
    lower.pop_back();
  }
  char* end = nullptr;
  const double v = std::strtod(lower.c_str(), &end);
  if (lower.empty() || end != lower.c_str() + lower.size() || !(v * scale >= 1000) || v * scale > 1e6)
    throw UsageError("--bitrate '" + text + "': give bits per second from 1k to 1000k, e.g. 6k or 1.5k");
  return int(std::lround(v * scale));
}

std::string kbps(double bps) { return detail::concat(std::round(bps / 10) / 100, " kbps"); }

struct Quality {
  double log_mel = 0, snr = 0;
};

Quality measure(const std::vector<float>& ref, const std::vector<float>& dec, int rate) {
  return {log_mel_distance(ref, dec, rate), snr_db(ref, dec)};
}

class AudioCodec final : public MediaCodec {
 public:
  std::string name() const override { return "audio"; }
  std::vector<std::string> extensions() const override { return {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"}; }
  std::string container_kind() const override { return "audio"; }
  std::string decoded_extension() const override { return ".wav"; }

  void add_encode_options(CLI::App& encode) override {
    encode.add_option("--bitrate", bitrate_text_,
                      "Audio: bits per second, e.g. 1.5k 3k 6k 12k 24k (the ladder of one model)")
        ->default_val("6k");
  }

  void encode(const EncodeRequest& r) override {
    const int bitrate = parse_bitrate(bitrate_text_);
    const ModelFile file = model_for_encoding(r.model, kDefaultModelName);
    const AudioModel model = AudioModel::load(file.path);
    const Audio audio = read_audio(r.input);
    VQ_CHECK(audio.frames() > 0, r.input, ": no samples");
    const std::vector<float> mono = to_mono(audio);
    EncodedAudio enc = vq::audio::encode(model, mono, audio.sample_rate, bitrate);
    enc.source_channels = audio.channels;
    enc.model.name = file.name;
    ContainerWriter out;
    write_encoded(out, enc);
    out.write(r.output_file);
    if (!r.tokens.empty()) write_codes_npy(r.tokens_file, enc.tokens);
    if (r.quiet) return;
    const double bytes = double(fs::file_size(r.output_file));
    const BitrateLayout layout = model.layout(bitrate);
    std::printf("encoded          %s: %.2f s, %d Hz, %d channel%s%s\n", r.input.c_str(), audio.seconds(),
                audio.sample_rate, audio.channels, audio.channels == 1 ? "" : "s",
                audio.channels > 1 ? " (downmixed to mono)" : "");
    std::printf("tokens           %zu frames × %zu codebooks (%zu bits/frame, %.0f frames/s)\n", enc.tokens.n,
                layout.bits.size(), layout.bits_per_frame(), AudioModel::frame_rate());
    std::printf("bitrate          %s (file bytes × 8 / duration; asked %s, tokens alone %s)\n",
                kbps(bytes * 8 / audio.seconds()).c_str(), kbps(bitrate).c_str(),
                kbps(layout.payload_bitrate(AudioModel::frame_rate())).c_str());
    const Quality q = measure(mono, vq::audio::decode(model, enc), audio.sample_rate);
    std::printf("quality          log-mel distance %.4f, SNR %.2f dB (against the mono input)\n", q.log_mel, q.snr);
    std::printf("saved            %s%s%s\n", r.output.c_str(), r.tokens.empty() ? "" : " and ", r.tokens.c_str());
  }

  void decode(const ContainerReader& in, const DecodeRequest& r) override {
    const EncodedAudio enc = read_encoded(in);
    const AudioModel model = AudioModel::read(open_model(enc.model, r.input));
    check_distinct_files({{"audio model", model.ref().name}}, {{"output -o", r.output}});
    Audio out;
    out.sample_rate = enc.source_rate;
    out.channels = 1;
    out.samples = vq::audio::decode(model, enc);
    write_audio(r.output, out);
    if (!r.quiet)
      std::printf("decoded          %zu frames at %s to %s (%.2f s, %d Hz, mono)\n", enc.tokens.n,
                  kbps(enc.bitrate).c_str(), r.output.c_str(), out.seconds(), out.sample_rate);
  }

  void print_info(const ContainerReader& in) override {
    const EncodedAudio e = read_encoded(in);
    const double seconds = double(e.source_samples) / e.source_rate;
    std::printf("audio            %.2f s, source %d Hz × %d channel(s), decoded mono\n", seconds, e.source_rate,
                e.source_channels);
    std::printf("bitrate          %s nominal, %s real (file bytes × 8 / duration)\n", kbps(e.bitrate).c_str(),
                kbps(double(fs::file_size(in.name())) * 8 / std::max(seconds, 1e-9)).c_str());
    std::printf("tokens           %zu frames × %zu codebooks\n", e.tokens.n, e.tokens.num_books());
    std::printf("model            %s\n", e.model.describe().c_str());
  }

  bool has_eval() const override { return true; }
  void eval(const std::string& reference, const std::string& decoded, Chart* plot) override {
    const Audio ref = read_audio(reference), dec = read_audio(decoded);
    const std::vector<float> r = to_mono(ref);
    std::vector<float> d = resample(to_mono(dec), dec.sample_rate, ref.sample_rate);
    // A decoded file is as long as its source (up to resampling's rounding). Anything else is two
    // unrelated recordings, whose SNR would be a meaningless number.
    const double tolerance = std::max(kLengthTolerance * ref.sample_rate, 1e-3 * double(r.size()));
    VQ_CHECK(std::abs(double(d.size()) - double(r.size())) <= tolerance, decoded, " lasts ", dec.seconds(), " s, ",
             reference, " ", ref.seconds(), " s: vq eval compares a decoded file with its own source");
    const Quality q = measure(r, d, ref.sample_rate);
    std::printf("reference        %s: %.2f s, %d Hz, %d channel(s)\n", reference.c_str(), ref.seconds(),
                ref.sample_rate, ref.channels);
    if (dec.sample_rate != ref.sample_rate || dec.channels != ref.channels)
      std::printf("decoded          %s: %d Hz, %d channel(s): compared as mono at %d Hz\n", decoded.c_str(),
                  dec.sample_rate, dec.channels, ref.sample_rate);
    std::printf("log-mel distance %.4f (80 mel bands, 1024-point Hann STFT, hop 256)\n", q.log_mel);
    std::printf("SNR              %.2f dB\n", q.snr);
    if (!plot) return;
    // The distance split by mel band (vq/audio/metrics.h): their mean is the figure above, and a
    // codec that drops the highs or smears the lows shows which.
    plot->title = "Log-mel distance per mel band: " + base_name(decoded) + " against " + base_name(reference);
    plot->x_label = detail::concat("mel band (", kLogMelBands, " bands, 0 Hz to ", ref.sample_rate / 2, " Hz)");
    plot->y_label = "mean |log10 mel difference|";
    plot->style = Chart::Style::kLine;
    plot->series = {{"", log_mel_distance_per_band(r, d, ref.sample_rate)}};
  }

  void add_commands(CLI::App& app) override {
    CLI::App* audio = app.add_subcommand("audio", "Audio codec: train a model on your own recordings");
    audio->require_subcommand(1);
    audio->footer("Encode and decode recordings with vq encode / vq decode (the default model is bundled).\n"
                  "Run 'vq help audio train' for training options.");
    CLI::App* train = audio->add_subcommand("train", "Learn the audio codec's codebooks from a folder of recordings");
    train->add_option("corpus", corpus_, "Folder searched recursively for .wav .flac .ogg files")->required();
    train->add_option("-o,--output", train_output_, "Model file (.vqc)")->required();
    train->add_option("--seed", train_options_.seed, "Random seed")->default_val(1234);
    train->add_option("--iterations", train_options_.iterations, "Lloyd iterations per level")->default_val(12);
    train->add_option("--max-frames", train_options_.max_frames, "Frames used at most (evenly subsampled)")
        ->default_val(200000);
    train->add_option("--threads", train_options_.threads, "Threads (0: all cores)")->default_val(0);
    train->add_flag("--quiet", train_quiet_, "No progress");
    train->callback([this] { run_train(); });
  }

  void demo(const DemoContext& context) override {
    const std::optional<std::vector<std::string>> files = demo_files("audio", {kDemoSample, kDefaultModelName});
    if (!files) return;
    const std::string& sample = (*files)[0];
    const std::string& model_path = (*files)[1];
    const auto t0 = std::chrono::steady_clock::now();
    const AudioModel model = AudioModel::load(model_path);
    const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const Audio audio = read_audio(sample);
    const std::vector<float> mono = to_mono(audio);
    std::printf("audio            %s (%.2f s, %d Hz), model %s loaded in %.1f ms\n", kDemoSample, audio.seconds(),
                audio.sample_rate, kDefaultModelName, load_ms);
    for (int bitrate : kLadder) {
      EncodedAudio enc = vq::audio::encode(model, mono, audio.sample_rate, bitrate);
      enc.source_channels = audio.channels;
      enc.model.name = kDefaultModelName;
      ContainerWriter out;
      write_encoded(out, enc);
      const std::string path = (fs::path(context.out_dir) / detail::concat("audio_", bitrate, ".vqc")).string();
      out.write(path);
      const std::vector<float> dec = vq::audio::decode(model, read_encoded(ContainerReader::from_file(path)));
      Audio wav{audio.sample_rate, 1, dec};
      write_audio(replace_extension(path, ".wav"), wav);
      const Quality q = measure(mono, dec, audio.sample_rate);
      std::printf("  %-10s     real %-10s log-mel %.3f  SNR %5.2f dB  -> %s\n", kbps(bitrate).c_str(),
                  kbps(double(fs::file_size(path)) * 8 / audio.seconds()).c_str(), q.log_mel, q.snr,
                  replace_extension(path, ".wav").c_str());
    }
  }

 private:
  void run_train() {
    std::vector<std::string> files;
    VQ_CHECK(fs::is_directory(corpus_), corpus_, ": not a folder");
    for (const auto& entry : fs::recursive_directory_iterator(corpus_, fs::directory_options::follow_directory_symlink)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = extension_of(entry.path().string());
      const auto exts = extensions();
      if (std::find(exts.begin(), exts.end(), ext) != exts.end()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    VQ_CHECK(!files.empty(), corpus_, ": no audio files (.wav .flac .ogg ...) found");
    std::vector<NamedFile> inputs;
    for (const std::string& f : files) inputs.push_back({"training file", f});
    check_distinct_files(inputs, {{"output -o", train_output_}});
    std::vector<std::vector<float>> clips;
    double seconds = 0;
    for (size_t i = 0; i < files.size(); ++i) {
      const Audio a = read_audio(files[i]);
      clips.push_back(resample(to_mono(a), a.sample_rate, AudioModel::kSampleRate));
      seconds += a.seconds();
      if (!train_quiet_ && (i + 1 == files.size() || (i + 1) % 100 == 0))
        std::fprintf(stderr, "read %zu/%zu files, %.1f s of audio\n", i + 1, files.size(), seconds);
    }
    train_options_.progress = make_progress(train_quiet_);
    const AudioModel model = AudioModel::train(clips, train_options_);
    finish_progress();
    model.save(train_output_);
    if (train_quiet_) return;
    std::printf("trained          %s on %zu files (%.1f s)\n", model.describe().c_str(), files.size(), seconds);
    std::printf("saved            %s (%ju bytes); bitrates up to %s\n", train_output_.c_str(),
                uintmax_t(fs::file_size(train_output_)), kbps(model.max_bitrate()).c_str());
  }

  std::string bitrate_text_ = "6k";
  std::string corpus_, train_output_;
  AudioTrainOptions train_options_;
  bool train_quiet_ = false;
};

}  // namespace

MediaCodec& audio_codec() {
  static AudioCodec codec;
  return codec;
}

}  // namespace vq::cli
