// vq encode / decode / eval / info on audio, as a user runs them, with the bundled default model
// and demo recording (models/): real bitrate printed, tokens .npy shape, decode → eval agreeing
// with the encoder's own figures, and one-line errors for inputs that are not audio.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "vq/audio/audio_codec.h"
#include "vq/core/npy.h"

namespace {

namespace fs = std::filesystem;

using vq::testing_cli::CliRun;
using CliAudio = vq::testing_cli::CliTest;

const std::string kSample = VQ_SOURCE_DIR "/models/audio_sample.flac";

TEST_F(CliAudio, EncodeDecodeEvalInfo) {
  const CliRun e = vq("encode " + kSample + " -o " + path("s.vqc") + " --bitrate 6k --tokens " + path("t.npy"));
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("bitrate          6."), std::string::npos) << e.out;
  const vq::NpyArray t = vq::read_npy(path("t.npy"));
  ASSERT_EQ(t.shape.size(), 2u);
  const double seconds = double(fs::file_size(path("s.vqc"))) * 8 / 6000;
  EXPECT_GT(seconds, 3.0);  // real bitrate near 6 kbps for the 3.7 s sample
  EXPECT_EQ(t.shape[0], size_t(3.666 * 24000 / 480) + 2);

  const CliRun d = vq("decode " + path("s.vqc") + " -o " + path("s.wav"));
  ASSERT_EQ(d.code, 0) << d.err;
  const CliRun ev = vq("eval " + kSample + " " + path("s.wav"));
  ASSERT_EQ(ev.code, 0) << ev.err;
  // eval of the decoded file reports what encode measured in memory (to the printed digits,
  // up to the WAV's float rounding).
  const auto figure = [](const std::string& text, const std::string& key) {
    const size_t p = text.find(key);
    return p == std::string::npos ? -1.0 : std::atof(text.c_str() + p + key.size());
  };
  EXPECT_NEAR(figure(ev.out, "log-mel distance "), figure(e.out, "log-mel distance "), 2e-4) << ev.out << e.out;
  EXPECT_LT(figure(ev.out, "log-mel distance "), 0.4);
  const CliRun i = vq("info " + path("s.vqc"));
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_NE(i.out.find("6 kbps nominal"), std::string::npos) << i.out;
}

TEST_F(CliAudio, BadInputsAreOneLineErrors) {
  std::ofstream(path("fake.wav")) << "not audio";
  CliRun r = vq("encode " + path("fake.wav") + " -o " + path("f.vqc"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a readable audio file"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("f.vqc")));
  r = vq("encode " + kSample + " -o " + path("x.vqc") + " --bitrate fast");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--bitrate"), std::string::npos) << r.err;
  std::ofstream(path("empty.wav")).close();
  r = vq("encode " + path("empty.wav") + " -o " + path("e.vqc"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
}

}  // namespace
