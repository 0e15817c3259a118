// Audio codec against Opus (opus-tools' opusenc --hard-cbr / opusdec) on the same held-out recordings, at
// the same bitrates, in the same run: log-mel distance and SNR of both, real bitrates (file
// bytes × 8 / duration), our encode / decode speed on one core and the model's load time.
// Opus's files come out above the rate asked (Ogg framing), so each rate also gets an Opus row
// asked for less, at our file's real rate ("equal bytes").
//
//   bench_audio MODEL.vqc WORK_DIR NAME=PATH [NAME=PATH ...]
//
// PATH is an audio file (its first kMaxSeconds are used) or a folder, whose audio files are
// concatenated in name order with kGapSeconds of silence between them (short word recordings
// become one speech signal). Every signal is downmixed and resampled to the model rate (24 kHz):
// that is the reference both codecs get and are measured against. Output: a markdown table.
#include <omp.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_common.h"
#include "vq/audio/audio_codec.h"
#include "vq/audio/audio_io.h"
#include "vq/audio/metrics.h"

namespace fs = std::filesystem;
using namespace vq;
using namespace vq::audio;

namespace {

constexpr double kMaxSeconds = 60.0;
constexpr double kGapSeconds = 0.25;
constexpr int kRate = AudioModel::kSampleRate;

std::vector<float> load_signal(const std::string& path) {
  std::vector<std::string> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<float> x;
  for (const std::string& f : files) {
    const Audio a = read_audio(f);
    const std::vector<float> y = resample(to_mono(a), a.sample_rate, kRate);
    if (!x.empty()) x.resize(x.size() + size_t(kGapSeconds * kRate), 0.f);
    x.insert(x.end(), y.begin(), y.end());
    if (x.size() >= size_t(kMaxSeconds * kRate)) break;
  }
  x.resize(std::min(x.size(), size_t(kMaxSeconds * kRate)));
  return x;
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  VQ_CHECK(rc == 0, "command failed (", rc, "): ", cmd);
  return rc;
}

struct Row {
  std::string codec;
  double real_kbps = 0, log_mel = 0, snr = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_audio MODEL.vqc WORK_DIR NAME=PATH [NAME=PATH ...]\n");
    return 2;
  }
  try {
    bench::pin_openblas_single_thread();
    omp_set_num_threads(1);  // speeds are per core
    const std::string model_path = argv[1], work = argv[2];
    fs::create_directories(work);
    // Load time: wall clock and this process's CPU time (the machine may be shared: wall time then
    // includes waiting for a core, CPU time does not).
    std::vector<double> load_cpu;
    const std::vector<double> loads = bench::time_runs(7, [&] {
      const std::clock_t c0 = std::clock();
      (void)AudioModel::load(model_path);
      load_cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
    });
    const AudioModel model = AudioModel::load(model_path);
    std::printf("model %s: %s, %ju bytes, load %.1f ms wall, %.1f ms CPU (medians of 7)\n\n", model_path.c_str(),
                model.describe().c_str(), uintmax_t(fs::file_size(model_path)), 1e3 * bench::median(loads),
                1e3 * bench::median(load_cpu));
    std::printf("| signal | seconds | kbps asked | codec | real kbps | log-mel ↓ | SNR dB | encode × RT | decode × RT |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 3; i < argc; ++i) {
      const std::string item = argv[i];
      const size_t eq = item.find('=');
      VQ_CHECK(eq != std::string::npos, "argument '", item, "' is not NAME=PATH");
      const std::string name = item.substr(0, eq);
      const std::vector<float> x = load_signal(item.substr(eq + 1));
      const double seconds = double(x.size()) / kRate;
      const std::string ref_wav = work + "/" + name + ".wav";
      write_audio(ref_wav, Audio{kRate, 1, x});
      for (int bitrate : kLadder) {
        EncodedAudio enc;
        const std::vector<double> te = bench::time_runs(3, [&] { enc = encode(model, x, kRate, bitrate); });
        enc.model.name = "model";
        enc.source_channels = 1;
        ContainerWriter w;
        write_encoded(w, enc);
        const double bytes = double(w.to_bytes().size());
        std::vector<float> y;
        const std::vector<double> td = bench::time_runs(3, [&] { y = decode(model, enc); });
        std::printf("| %s | %.1f | %.1f | vq | %.2f | %.4f | %.2f | %.0f | %.0f |\n", name.c_str(), seconds,
                    bitrate / 1000.0, bytes * 8 / seconds / 1000, log_mel_distance(x, y, kRate), snr_db(x, y),
                    seconds / bench::median(te), seconds / bench::median(td));
        if (bitrate < 6000) continue;  // below Opus's range
        // Opus at the asked rate, then (its file lands above it) once more asked for less, at
        // our file's real rate: the equal-bytes comparison.
        const double ours_kbps = bytes * 8 / seconds / 1000;
        const std::string stem = work + "/" + name + "_" + std::to_string(bitrate);
        const auto opus_row = [&](double asked_kbps, const char* label) {
          const std::string opus = stem + label + ".opus", dec = stem + label + "_opus.wav";
          run("opusenc --quiet --hard-cbr --bitrate " + std::to_string(asked_kbps) + " '" + ref_wav + "' '" + opus + "'");
          run("opusdec --quiet --rate " + std::to_string(kRate) + " '" + opus + "' '" + dec + "'");
          const std::vector<float> oy = to_mono(read_audio(dec));
          const double kbps = double(fs::file_size(opus)) * 8 / seconds / 1000;
          std::printf("| %s | %.1f | %.1f | opus%s | %.2f | %.4f | %.2f | | |\n", name.c_str(), seconds,
                      bitrate / 1000.0, label, kbps, log_mel_distance(x, oy, kRate), snr_db(x, oy));
          std::fflush(stdout);
          return kbps;
        };
        const double opus_kbps = opus_row(bitrate / 1000.0, "");
        if (opus_kbps > ours_kbps) opus_row(bitrate / 1000.0 * ours_kbps / opus_kbps, " (equal bytes)");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_audio: %s\n", e.what());
    return 1;
  }
  return 0;
}
