// vq eval --plot, as a user runs it: the SVG is a well-formed document with one marked element
// per data point, and the values it carries are the measure itself: the MSE of each dimension
// (computed here from the files), the log-mel distance of each mel band (the library's, whose
// mean is the printed distance), PSNR per band of rows, PSNR per rendered view. --plot is an
// output like any other (never an input), and it writes SVG only.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "cli_runner.h"
#include "vq/audio/audio_io.h"
#include "vq/audio/metrics.h"
#include "vq/core/npy.h"
#include "vq/image/image.h"
#include "vq/splats/ply.h"

namespace {

namespace fs = std::filesystem;

using vq::testing_cli::CliRun;
using vq::testing_cli::slurp;

// One OpenMP thread: on a loaded 2-core machine more threads only slow the renders down.
class CliPlot : public vq::testing_cli::CliTest {
 protected:
  CliRun vq(const std::string& args) const { return CliTest::vq(args, "OMP_NUM_THREADS=1"); }
};

const std::string kAudioSample = VQ_SOURCE_DIR "/models/audio_sample.flac";

struct Point {
  size_t series = 0, index = 0;
  double value = 0;
};

std::string attribute(const std::string& svg, size_t from, const std::string& name) {
  const std::string key = " " + name + "=\"";
  const size_t p = svg.find(key, from);
  if (p == std::string::npos) return "";
  const size_t b = p + key.size();
  return svg.substr(b, svg.find('"', b) - b);
}

// Every element with class="point", in document order, with the numbers it carries. Also checks
// the document's frame: <svg ...> first, </svg> last, and (when python3 is there) that an XML
// parser accepts the whole file.
std::vector<Point> read_points(const std::string& file) {
  const std::string svg = slurp(file);
  EXPECT_EQ(svg.rfind("<svg ", 0), 0u) << svg.substr(0, 100);
  EXPECT_NE(svg.find("</svg>\n", svg.size() - 7), std::string::npos);
  if (std::system("command -v python3 >/dev/null 2>&1") == 0) {
    const std::string check = "python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' " + file;
    EXPECT_EQ(std::system(check.c_str()), 0) << "not well-formed XML: " << file;
  }
  std::vector<Point> points;
  for (size_t p = svg.find(" class=\"point\""); p != std::string::npos; p = svg.find(" class=\"point\"", p + 1)) {
    Point pt;
    pt.series = std::stoul(attribute(svg, p, "data-series"));
    pt.index = std::stoul(attribute(svg, p, "data-index"));
    pt.value = std::strtod(attribute(svg, p, "data-value").c_str(), nullptr);
    points.push_back(pt);
  }
  return points;
}

double figure(const std::string& text, const std::string& key) {
  const size_t p = text.find(key);
  return p == std::string::npos ? NAN : std::atof(text.c_str() + p + key.size());
}

void write_matrix_npy(const std::string& path, const std::vector<float>& x, size_t rows, size_t cols) {
  vq::write_npy(path, vq::MatrixView<const float>(x.data(), rows, cols));
}

TEST_F(CliPlot, VectorsPlotTheMsePerDimension) {
  constexpr size_t n = 57, d = 12;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> x(n * d), y(n * d);
  for (size_t i = 0; i < n * d; ++i) {
    x[i] = normal(rng);
    y[i] = x[i] + 0.02f * float(i % d + 1) * normal(rng);  // error grows with the dimension
  }
  write_matrix_npy(path("x.npy"), x, n, d);
  // A file name with XML's special characters: the title carries it, escaped (read_points
  // parses the document).
  const std::string decoded = path("y & <1>.npy");
  write_matrix_npy(decoded, y, n, d);
  const CliRun r = vq("eval " + path("x.npy") + " '" + decoded + "' --plot " + path("mse.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(slurp(path("mse.svg")).find("y &amp; &lt;1&gt;.npy against x.npy"), std::string::npos);
  EXPECT_NE(r.out.find("plot             " + path("mse.svg")), std::string::npos) << r.out;
  const std::vector<Point> points = read_points(path("mse.svg"));
  ASSERT_EQ(points.size(), d);
  double total = 0;
  for (size_t j = 0; j < d; ++j) {
    double se = 0;
    for (size_t i = 0; i < n; ++i) {
      const double e = double(x[i * d + j]) - y[i * d + j];
      se += e * e;
    }
    EXPECT_EQ(points[j].series, 0u);
    EXPECT_EQ(points[j].index, j);
    EXPECT_NEAR(points[j].value, se / n, 1e-12 * se / n) << "dimension " << j;
    total += points[j].value;
  }
  EXPECT_GT(points[d - 1].value, 10 * points[0].value);
  // The per-vector MSE vq prints is the sum over dimensions.
  EXPECT_NEAR(figure(r.out, "MSE              "), total, 1e-5 * total) << r.out;
}

TEST_F(CliPlot, AudioPlotsTheLogMelDistancePerBandAveragingToThePrintedOne) {
  // A "decoded" file: the sample, quieter, with high-frequency noise and a missing tail.
  vq::audio::Audio a = vq::audio::read_audio(kAudioSample);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  float last = 0;
  for (float& s : a.samples) {
    const float w = 0.01f * normal(rng);
    s = 0.8f * s + (w - last);  // differenced noise: mostly high frequencies
    last = w;
  }
  a.samples.resize(a.samples.size() - size_t(a.channels) * 100);
  vq::audio::write_audio(path("dec.wav"), a);

  const CliRun r = vq("eval " + kAudioSample + " " + path("dec.wav") + " --plot " + path("bands.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Point> points = read_points(path("bands.svg"));
  ASSERT_EQ(points.size(), vq::audio::kLogMelBands);
  double mean = 0;
  for (size_t m = 0; m < points.size(); ++m) {
    EXPECT_EQ(points[m].index, m);
    EXPECT_GE(points[m].value, 0.0);
    mean += points[m].value;
  }
  mean /= double(points.size());
  const double printed = figure(r.out, "log-mel distance ");
  EXPECT_GT(printed, 0.0) << r.out;
  EXPECT_NEAR(mean, printed, 5.1e-5) << r.out;  // printed with 4 decimals

  // And they are the library's per-band figures for the same mono signals.
  const vq::audio::Audio ref = vq::audio::read_audio(kAudioSample), dec = vq::audio::read_audio(path("dec.wav"));
  const std::vector<double> bands =
      vq::audio::log_mel_distance_per_band(vq::audio::to_mono(ref), vq::audio::to_mono(dec), ref.sample_rate);
  for (size_t m = 0; m < bands.size(); ++m) EXPECT_NEAR(points[m].value, bands[m], 1e-12 * bands[m] + 1e-15) << m;
}

TEST_F(CliPlot, ImagesPlotPsnrPerBandOfRows) {
  vq::image::Image a, b;
  a.width = b.width = 24;
  a.height = b.height = 64;
  a.channels = b.channels = 3;
  a.pixels.resize(a.width * a.height * 3);
  for (size_t i = 0; i < a.pixels.size(); ++i) a.pixels[i] = uint8_t((i * 37) % 251);
  b.pixels = a.pixels;
  for (size_t i = b.pixels.size() / 2; i < b.pixels.size(); i += 5) b.pixels[i] = uint8_t(b.pixels[i] ^ 8);
  vq::image::write_png(path("a.png"), a);
  vq::image::write_png(path("b.png"), b);
  const CliRun r = vq("eval " + path("a.png") + " " + path("b.png") + " --plot " + path("rows.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Point> points = read_points(path("rows.svg"));
  ASSERT_EQ(points.size(), 32u);
  // The top half is untouched (+inf), the bottom half's error is spread evenly.
  for (size_t k = 0; k < 16; ++k) EXPECT_TRUE(std::isinf(points[k].value)) << k;
  for (size_t k = 16; k < 32; ++k) EXPECT_NEAR(points[k].value, points[20].value, 0.5) << k;
  EXPECT_GT(points[20].value, 20.0);
}

TEST_F(CliPlot, SplatsPlotPsnrPerView) {
  ASSERT_EQ(vq("splats synth " + path("s.ply") + " -n 400").code, 0);
  vq::splats::SplatScene s = vq::splats::read_ply(path("s.ply"));
  for (size_t i = 0; i < s.positions.size(); i += 7) s.positions[i] += 0.05f;
  vq::splats::write_ply(path("d.ply"), s);
  const CliRun r =
      vq("eval " + path("s.ply") + " " + path("d.ply") + " --views 3 --resolution 32 --plot " + path("views.svg"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<Point> points = read_points(path("views.svg"));
  ASSERT_EQ(points.size(), 3u);
  double mean = 0;
  for (const Point& p : points) mean += p.value / 3;
  EXPECT_NEAR(mean, figure(r.out, "rendered PSNR    "), 0.006) << r.out;
}

TEST_F(CliPlot, PlotIsAnOutputAndOnlySvg) {
  const std::vector<float> x = {1, 2, 3, 4, 5, 6}, y = {1, 2, 3, 4, 5, 7};
  write_matrix_npy(path("x.npy"), x, 2, 3);
  write_matrix_npy(path("y.npy"), y, 2, 3);
  const std::string before = slurp(path("y.npy"));
  // The decoded input, the reference spelled another way, and a hard link to it with the .svg
  // name a plot has: refused, untouched, exit 1.
  fs::create_hard_link(path("y.npy"), path("link.svg"));
  for (const std::string& target : {path("y.npy"), (dir_ / "." / "x.npy").string(), path("link.svg")}) {
    const std::string kept = slurp(target);
    const CliRun r = vq("eval " + path("x.npy") + " " + path("y.npy") + " --plot " + target);
    EXPECT_EQ(r.code, 1) << r.out;
    EXPECT_NE(r.err.find("--plot"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("overwrite its own input"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(target), kept);
  }
  EXPECT_EQ(slurp(path("y.npy")), before);
  // A PNG name is bad usage (exit 2) that says what is written, and nothing is.
  const CliRun png = vq("eval " + path("x.npy") + " " + path("y.npy") + " --plot " + path("mse.png"));
  EXPECT_EQ(png.code, 2) << png.err;
  EXPECT_NE(png.err.find("SVG"), std::string::npos) << png.err;
  EXPECT_NE(png.err.find("mse.svg"), std::string::npos) << png.err;
  EXPECT_FALSE(fs::exists(path("mse.png")));
  // No staged temporaries are left beside the plot.
  ASSERT_EQ(vq("eval " + path("x.npy") + " " + path("y.npy") + " --plot " + path("ok.svg")).code, 0);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".vq-staged"), std::string::npos) << entry.path();
}

}  // namespace
