// Image codec against JPEG (libjpeg-turbo's cjpeg) and WebP (cwebp) at matched bits per pixel on
// held-out photographs, in one run; fixed-length token budgets; 1-megapixel encode/decode time
// on one core.
//
//   bench_image MODEL.vqc EVAL_DIR [--model16 M16.vqc] [--min-gains 128,64,..] [--steps 64,48,..]
//               [--timing-only]
//
// For every photograph: our codec at every depth (bpp fixed-length and entropy coded, PSNR,
// SSIM), with rate-adaptive depth, and in codec mode (1 token level + scalar refinement);
// cjpeg -quality {2..95} -optimize and cwebp -q {0..95} decoded by djpeg / dwebp. The
// comparison at matched rate interpolates each reference's PSNR linearly in bpp at our rate.
// Output: markdown tables on stdout (copied into BENCHMARKS.md).
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench_common.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/image/image_quality.h"
#include "vq/image/image_tokenizer.h"

namespace fs = std::filesystem;
using namespace vq;
using namespace vq::image;

namespace {

struct Point {
  double bpp, psnr, ssim;
};

void run(const std::string& cmd) {
  VQ_CHECK(std::system((cmd + " > /dev/null 2>&1").c_str()) == 0, "bench_image: command failed: ", cmd);
}

void write_ppm(const std::string& path, const Image& rgb) {
  std::string header = "P6\n" + std::to_string(rgb.width) + " " + std::to_string(rgb.height) + "\n255\n";
  std::ofstream f(path, std::ios::binary);
  f.write(header.data(), std::streamsize(header.size()));
  f.write(reinterpret_cast<const char*>(rgb.pixels.data()), std::streamsize(rgb.pixels.size()));
  VQ_CHECK(f.good(), "bench_image: cannot write ", path);
}

// PSNR / SSIM of a reference codec at each quality setting; enc/dec are shell templates with
// {q}, {in}, {out}, {dec}.
std::vector<Point> reference_curve(const Image& rgb, const std::string& tmp, const std::vector<int>& qualities,
                                   const std::string& encode, const std::string& decode) {
  std::vector<Point> pts;
  const std::string in = tmp + "/ref.ppm", png = tmp + "/ref.png", out = tmp + "/ref.out",
                    dec = tmp + "/ref_dec.ppm";
  write_ppm(in, rgb);
  write_png(png, rgb);
  auto fill = [&](std::string s, int q) {
    auto rep = [&](const std::string& key, const std::string& v) {
      for (size_t p; (p = s.find(key)) != std::string::npos;) s.replace(p, key.size(), v);
    };
    rep("{q}", std::to_string(q)), rep("{ppm}", in), rep("{png}", png), rep("{out}", out), rep("{dec}", dec);
    return s;
  };
  for (int q : qualities) {
    run(fill(encode, q));
    run(fill(decode, q));
    const Image d = read_image(dec);
    const double bpp = 8.0 * double(fs::file_size(out)) / double(rgb.pixel_count());
    pts.push_back({bpp, psnr(rgb, d), ssim(rgb, d)});
  }
  std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.bpp < b.bpp; });
  return pts;
}

// Linear interpolation of a curve at bpp; NaN outside its range.
Point at_rate(const std::vector<Point>& c, double bpp) {
  for (size_t i = 0; i + 1 < c.size(); ++i)
    if (bpp >= c[i].bpp && bpp <= c[i + 1].bpp) {
      const double t = (bpp - c[i].bpp) / std::max(1e-12, c[i + 1].bpp - c[i].bpp);
      return {bpp, c[i].psnr + t * (c[i + 1].psnr - c[i].psnr), c[i].ssim + t * (c[i + 1].ssim - c[i].ssim)};
    }
  return {bpp, NAN, NAN};
}

// A w×h image tiled from src with mirrored copies (seamless), for timing at a fixed size.
Image tiled(const Image& src, size_t w, size_t h) {
  Image out(w, h, 3);
  const Image rgb = to_rgb(src);
  for (size_t y = 0; y < h; ++y)
    for (size_t x = 0; x < w; ++x) {
      size_t sx = x % (2 * rgb.width), sy = y % (2 * rgb.height);
      if (sx >= rgb.width) sx = 2 * rgb.width - 1 - sx;
      if (sy >= rgb.height) sy = 2 * rgb.height - 1 - sy;
      for (size_t c = 0; c < 3; ++c) out.at(y, x, c) = rgb.at(sy, sx, c);
    }
  return out;
}

// Median of 5 runs of fn: process CPU seconds (one thread: the time on the core, whatever else
// the machine runs) and wall seconds.
struct Times {
  double cpu, wall;
};
Times timed(const std::function<void()>& fn) {
  std::vector<double> cpu;
  const std::vector<double> wall = bench::time_runs(5, [&] {
    const std::clock_t c0 = std::clock();
    fn();
    cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
  });
  return {bench::median(cpu), bench::median(wall)};
}

// 1 MP on one core (OpenMP and OpenBLAS at one thread), median of 5, for each setting: encode =
// transform + residual search + arithmetic coding of the tokens; decode = arithmetic decoding
// + reconstruction. PNG reading/writing is not included.
// The codec mode's whole pipeline in memory: the .vqc file of 1 token level + a refinement at
// `step`, and the image decoded from those bytes.
std::vector<uint8_t> codec_file(const Image& img, const ImageTokenizer& model, float step) {
  ContainerWriter w;
  write_encoded_image(w, encode_image(img, model, {1, -1.f, step}, "bench"), TokenCoding::kArithmetic);
  return w.to_bytes();
}
Image codec_decoded(const std::vector<uint8_t>& bytes, const ImageTokenizer& model) {
  return decode_image(read_encoded_image(ContainerReader::from_bytes(bytes)), model);
}

void timing_refined(const ImageTokenizer& model, const Image& mp, const std::vector<float>& steps) {
  std::printf("\n| codec mode (1 token level + refinement) | bpp (file) | encode | decode |\n|---|---:|---:|---:|\n");
  for (float step : steps) {
    std::vector<uint8_t> bytes;
    const Times enc = timed([&] { bytes = codec_file(mp, model, step); });
    const Times dec = timed([&] { (void)codec_decoded(bytes, model); });
    std::printf("| step %g | %.3f | **%.0f** (%.0f) | **%.0f** (%.0f) |\n", double(step),
                8.0 * double(bytes.size()) / double(mp.pixel_count()), enc.cpu * 1e3, enc.wall * 1e3, dec.cpu * 1e3,
                dec.wall * 1e3);
  }
}

void timing(const ImageTokenizer& model, const std::string& photo, const std::vector<float>& min_gains,
            const std::vector<float>& steps) {
  omp_set_num_threads(1);
  const Image mp = tiled(read_image(photo), 1024, 1024);
  const Times tr = timed([&] { (void)model.transform().forward(mp); });
  std::printf("\n1024×1024 RGB (tiled from %s), one thread, median of 5, milliseconds of CPU time (wall time in "
              "brackets); PNG I/O excluded\n\n", fs::path(photo).filename().c_str());
  std::printf("| setting | mean depth | bpp | encode | of which transform | search | arithmetic coding | decode | "
              "of which arithmetic decoding | reconstruction |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  struct Setting {
    std::string name;
    size_t levels;
    float min_gain;  // < 0: fixed depth
  };
  std::vector<Setting> settings;
  for (size_t l = 1; l <= model.levels(); l *= 2) settings.push_back({"fixed " + std::to_string(l) + " levels", l, -1.f});
  if (settings.back().levels != model.levels())
    settings.push_back({"fixed " + std::to_string(model.levels()) + " levels", model.levels(), -1.f});
  for (float e : min_gains) {
    char name[64];
    std::snprintf(name, sizeof name, "adaptive, min gain %g", double(e));
    settings.push_back({name, 0, e});
  }
  for (const Setting& st : settings) {
    TokenGrid g;
    std::vector<uint8_t> coded;
    auto tokens = [&] { g = st.min_gain < 0 ? model.encode(mp, st.levels) : model.encode_adaptive(mp, st.min_gain); };
    const Times enc = timed([&] {
      tokens();
      coded = encode_tokens(g, TokenCoding::kArithmetic);
    });
    const Times search = timed(tokens);
    const Times ent = timed([&] { coded = encode_tokens(g, TokenCoding::kArithmetic); });
    auto token_decode = [&] {
      TokenGrid h = g;
      h.tokens.clear();
      decode_tokens(coded, TokenCoding::kArithmetic, h);
      return h;
    };
    const Times dec = timed([&] { (void)model.decode(token_decode()); });
    const Times entd = timed([&] { (void)token_decode(); });
    const Times rec = timed([&] { (void)model.decode(g); });
    size_t used = 0;
    for (size_t i = 0; i < g.rows * g.cols; ++i) used += g.patch_depth(i);
    std::printf("| %s | %.2f | %.3f | **%.0f** (%.0f) | %.0f | %.0f | %.0f | **%.0f** (%.0f) | %.0f | %.0f |\n",
                st.name.c_str(), double(used) / double(g.rows * g.cols),
                8.0 * double(coded.size()) / double(mp.pixel_count()), enc.cpu * 1e3, enc.wall * 1e3, tr.cpu * 1e3,
                (search.cpu - tr.cpu) * 1e3, ent.cpu * 1e3, dec.cpu * 1e3, dec.wall * 1e3, entd.cpu * 1e3,
                rec.cpu * 1e3);
  }
  timing_refined(model, mp, steps);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    VQ_CHECK(argc >= 3, "usage: bench_image MODEL.vqc EVAL_DIR [--timing-only] [--min-gains a,b,...] [--model16 MODEL16.vqc]");
    bench::pin_openblas_single_thread();
    const ImageTokenizer model = ImageTokenizer::load(argv[1]);
    std::vector<std::string> photos;
    for (const auto& e : fs::directory_iterator(argv[2])) photos.push_back(e.path().string());
    std::sort(photos.begin(), photos.end());
    VQ_CHECK(!photos.empty(), "bench_image: no photographs in ", argv[2]);
    bool timing_only = false;
    std::string model16_path;
    std::vector<float> min_gains = {128, 64, 32, 16, 8, 4, 2, 1};
    std::vector<float> steps = {256, 192, 128, 96, 64, 48, 40, 32, 24, 20, 16, 12, 8, 6, 4};
    for (int i = 3; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--timing-only") {
        timing_only = true;
      } else if (a == "--model16" && i + 1 < argc) {
        model16_path = argv[++i];
      } else if ((a == "--min-gains" || a == "--steps") && i + 1 < argc) {
        std::vector<float>& values = a == "--steps" ? steps : min_gains;
        values.clear();
        std::istringstream list(argv[++i]);
        for (std::string t; std::getline(list, t, ',');) values.push_back(std::stof(t));
      } else {
        VQ_THROW("bench_image: unknown argument ", a);
      }
    }
    if (timing_only) {
      timing(model, photos.front(), {4}, {40, 20, 12});
      return 0;
    }
    const std::string tmp = (fs::temp_directory_path() / ("bench_image_" + std::to_string(getpid()))).string();
    fs::create_directories(tmp);

    std::printf("model %s: %s, %zu-px patches, chroma weight %g, high-frequency weight %g\n\n", argv[1],
                model.quantizer().describe().c_str(), model.patch(), model.chroma_weight(),
                model.high_frequency_weight());
    const std::vector<int> jpeg_q = {2, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95};
    const std::vector<int> webp_q = {0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95};
    std::printf("| photo | levels | tokens | bpp fixed | bpp coded | coding | PSNR | SSIM | JPEG PSNR @bpp coded | JPEG SSIM | WebP PSNR @bpp coded | WebP SSIM |\n");
    std::printf("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
    std::vector<std::vector<Point>> curves_jpeg, curves_webp;
    for (const std::string& path : photos) {
      const Image img = to_rgb(read_image(path));
      const auto jpeg = reference_curve(img, tmp, jpeg_q, "cjpeg -quality {q} -optimize -outfile {out} {ppm}",
                                        "djpeg -outfile {dec} {out}");
      const auto webp = reference_curve(img, tmp, webp_q, "cwebp -quiet -q {q} {png} -o {out}",
                                        "dwebp -quiet {out} -ppm -o {dec}");
      const TokenGrid full = model.encode(img);
      for (size_t levels = 1; levels <= model.levels(); ++levels) {
        const TokenGrid g = full.truncated(levels);
        const Image dec = model.decode(g);
        const double px = double(img.pixel_count());
        const double fixed = 8.0 * double(encode_tokens(g, TokenCoding::kFixed).size()) / px;
        double coded = fixed;
        TokenCoding best = TokenCoding::kFixed;
        for (TokenCoding c : {TokenCoding::kZstd, TokenCoding::kArithmetic}) {
          const double b = 8.0 * double(encode_tokens(g, c).size()) / px;
          if (b < coded) coded = b, best = c;
        }
        const Point j = at_rate(jpeg, coded), w = at_rate(webp, coded);
        std::printf("| %s | %zu | %zu | %.3f | %.3f | %s | %.2f | %.4f | %.2f | %.4f | %.2f | %.4f |\n",
                    fs::path(path).filename().c_str(), levels, g.token_count(), fixed, coded,
                    token_coding_name(best), psnr(img, dec), ssim(img, dec), j.psnr, j.ssim, w.psnr, w.ssim);
      }
      // Rate-adaptive depth: each patch stops before the first level that gains less than min_gain.
      for (float e : min_gains) {
        const TokenGrid g = model.encode_adaptive(img, e);
        const Image dec = model.decode(g);
        const double coded = 8.0 * double(encode_tokens(g, TokenCoding::kArithmetic).size()) / double(img.pixel_count());
        size_t used = 0;
        for (uint16_t d : g.depth) used += d;
        const Point j = at_rate(jpeg, coded), w = at_rate(webp, coded);
        std::printf("| %s | adaptive %g (mean %.2f) | %zu | – | %.3f | arithmetic | %.2f | %.4f | %.2f | %.4f | %.2f | %.4f |\n",
                    fs::path(path).filename().c_str(), double(e), double(used) / double(g.depth.size()), used,
                    coded, psnr(img, dec), ssim(img, dec), j.psnr, j.ssim, w.psnr, w.ssim);
      }
      // Codec mode: 1 token level + scalar refinement at each step. bpp: the whole .vqc file.
      for (float step : steps) {
        const std::vector<uint8_t> bytes = codec_file(img, model, step);
        const Image dec = codec_decoded(bytes, model);
        const double file = 8.0 * double(bytes.size()) / double(img.pixel_count());
        const Point j = at_rate(jpeg, file), wp = at_rate(webp, file);
        std::printf("| %s | 1 + refinement step %g | %zu | – | %.3f (file) | arithmetic+scalar | %.2f | %.4f | %.2f | %.4f | %.2f | %.4f |\n",
                    fs::path(path).filename().c_str(), double(step), full.truncated(1).token_count(), file,
                    psnr(img, dec), ssim(img, dec), j.psnr, j.ssim, wp.psnr, wp.ssim);
      }
      std::printf("| %s | JPEG q→(bpp, PSNR, SSIM) |", fs::path(path).filename().c_str());
      for (const Point& p : jpeg) std::printf(" (%.3f, %.2f, %.3f)", p.bpp, p.psnr, p.ssim);
      std::printf(" |\n| %s | WebP q→(bpp, PSNR, SSIM) |", fs::path(path).filename().c_str());
      for (const Point& p : webp) std::printf(" (%.3f, %.2f, %.3f)", p.bpp, p.psnr, p.ssim);
      std::printf(" |\n");
      std::fflush(stdout);
    }

    // Fixed-length token budgets on 256×256 crops (centre) of each photograph, with the main
    // model and (--model16) a 16×16-patch model: 256 tokens per level.
    std::printf("\n| photo (256×256 centre crop) | model | tokens | levels | PSNR | SSIM |\n|---|---|---:|---:|---:|---:|\n");
    std::vector<const ImageTokenizer*> crop_models = {&model};
    std::unique_ptr<ImageTokenizer> model16;
    if (!model16_path.empty()) {
      model16 = std::make_unique<ImageTokenizer>(ImageTokenizer::load(model16_path));
      crop_models.push_back(model16.get());
    }
    for (const std::string& path : photos) {
      const Image img = to_rgb(read_image(path));
      if (img.width < 256 || img.height < 256) continue;
      Image crop(256, 256, 3);
      const size_t x0 = (img.width - 256) / 2, y0 = (img.height - 256) / 2;
      for (size_t y = 0; y < 256; ++y)
        for (size_t x = 0; x < 256; ++x)
          for (size_t c = 0; c < 3; ++c) crop.at(y, x, c) = img.at(y0 + y, x0 + x, c);
      for (const ImageTokenizer* m : crop_models) {
        const TokenGrid full = m->encode(crop);
        for (size_t levels = 1; levels <= m->levels(); ++levels) {
          const TokenGrid g = full.truncated(levels);
          const Image dec = m->decode(g);
          std::printf("| %s | %s, %zu px | %zu | %zu | %.2f | %.4f |\n", fs::path(path).filename().c_str(),
                      m->quantizer().describe().c_str(), m->patch(), g.token_count(), levels, psnr(crop, dec),
                      ssim(crop, dec));
        }
      }
    }

    timing(model, photos.front(), {4}, {40, 20, 12});
    fs::remove_all(tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_image: %s\n", e.what());
    return 1;
  }
  return 0;
}
