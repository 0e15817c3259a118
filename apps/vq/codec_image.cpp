// Images (.png, .jpg, .bmp, .tga, ...) through the image tokenizer (include/vq/image/): encode to
// a token grid (entropy coded or fixed-length), decode to PNG, PSNR/SSIM, `vq image train`, and
// the demo step on the bundled photograph.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "media_codec.h"
#include "output_files.h"
#include "vq/core/npy.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/image/image_quality.h"
#include "vq/image/image_tokenizer.h"

namespace vq::cli {
namespace {

namespace fs = std::filesystem;
using namespace vq::image;

constexpr const char* kDemoPhoto = "samples/chelsea.png";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Tokens as an (rows, cols, levels·groups) integer array; for adaptive depth int32 with −1 in
// the slots past each patch's depth.
void write_tokens_npy(const std::string& path, const TokenGrid& g) {
  NpyArray a;
  a.shape = {g.rows, g.cols, g.tokens_per_patch()};
  if (g.adaptive()) {
    a.dtype = NpyDType::kInt32;
    a.bytes.resize(g.tokens.size() * 4);
    const size_t tp = g.tokens_per_patch();
    for (size_t i = 0; i < g.tokens.size(); ++i) {
      const int32_t t = i % tp < g.depth[i / tp] * g.groups ? int32_t(g.tokens[i]) : -1;
      for (int b = 0; b < 4; ++b) a.bytes[4 * i + b] = uint8_t(uint32_t(t) >> (8 * b));
    }
  } else if (g.bits <= 8) {
    a.dtype = NpyDType::kUInt8;
    a.bytes.assign(g.tokens.begin(), g.tokens.end());
  } else {
    a.dtype = NpyDType::kUInt16;
    a.bytes.resize(g.tokens.size() * 2);
    for (size_t i = 0; i < g.tokens.size(); ++i) {
      a.bytes[2 * i] = uint8_t(g.tokens[i]);
      a.bytes[2 * i + 1] = uint8_t(g.tokens[i] >> 8);
    }
  }
  write_npy(path, a);
}

struct EncodeSummary {
  size_t fixed_bytes = 0, coded_bytes = 0, refinement_bytes = 0;
  TokenCoding coding = TokenCoding::kFixed;
};

// Writes the file with the requested coding ("auto": the smallest of the three; adaptive depth:
// arithmetic) and reports the token payload sizes of the fixed-length (0 for adaptive depth,
// which has no fixed-length form) and the stored coding.
EncodeSummary write_file(const std::string& path, const EncodedImage& e, const std::string& coding) {
  EncodeSummary s;
  if (e.grid.adaptive()) {
    VQ_CHECK(coding == "auto" || coding == "arithmetic", "--min-gain (adaptive depth) is stored with arithmetic "
             "coding only, not --coding ", coding);
    s.coding = TokenCoding::kArithmetic;
  } else {
    s.fixed_bytes = encode_tokens(e.grid, TokenCoding::kFixed).size();
  }
  if (!e.grid.adaptive() && coding == "auto") {
    size_t best = s.fixed_bytes;
    for (TokenCoding c : {TokenCoding::kZstd, TokenCoding::kArithmetic}) {
      const size_t n = encode_tokens(e.grid, c).size();
      if (n < best) best = n, s.coding = c;
    }
  } else if (!e.grid.adaptive()) {
    s.coding = parse_token_coding(coding);
  }
  ContainerWriter out;
  write_encoded_image(out, e, s.coding);
  out.write(path);
  // The payload sizes as stored, read back rather than coded a second time.
  const ContainerReader written = ContainerReader::from_file(path);
  s.coded_bytes = written.payload("ITOK").size();
  if (written.has("IREF")) s.refinement_bytes = written.payload("IREF").size();
  return s;
}

// Tokens actually used (adaptive depth: the sum of the patch depths).
size_t used_tokens(const TokenGrid& g) {
  size_t n = 0;
  for (size_t i = 0; i < g.rows * g.cols; ++i) n += g.patch_depth(i) * g.groups;
  return n;
}

void print_rates(const TokenGrid& g, const EncodeSummary& s, const std::string& path, float step) {
  const double px = double(g.width) * g.height;
  if (g.adaptive())
    std::printf("tokens           %zu × %zu patches of %zu px, adaptive depth 1..%zu (mean %.2f) = %zu tokens of %d bits\n",
                g.rows, g.cols, g.patch, g.levels, double(used_tokens(g)) / double(g.rows * g.cols * g.groups),
                used_tokens(g), int(g.bits));
  else
    std::printf("tokens           %zu × %zu patches of %zu px × %zu per patch (%zu levels × %zu) = %zu tokens of %d bits\n",
                g.rows, g.cols, g.patch, g.tokens_per_patch(), g.levels, g.groups, g.token_count(), int(g.bits));
  char fixed[64] = "no fixed-length form (adaptive depth)";
  if (!g.adaptive()) std::snprintf(fixed, sizeof fixed, "%.4f bpp fixed-length", 8.0 * s.fixed_bytes / px);
  std::printf("rate             %s, %.4f bpp %s (%zu bytes); file %.4f bpp (%ju bytes)\n", fixed,
              8.0 * s.coded_bytes / px, token_coding_name(s.coding), s.coded_bytes,
              8.0 * double(fs::file_size(path)) / px, static_cast<uintmax_t>(fs::file_size(path)));
  if (s.refinement_bytes > 0)
    std::printf("refinement       scalar, step %g: %.4f bpp (%zu bytes), in the file's rate\n", double(step),
                8.0 * s.refinement_bytes / px, s.refinement_bytes);
}

// The adaptive-depth setting `vq demo` shows (per-pixel gain a level must bring, see encode_adaptive).
constexpr float kDemoMinGain = 4.f;
// Token levels under a scalar refinement unless --levels says otherwise: one level is the best
// prediction per bit (scripts/prototype_image_refinement.py: 2 or 4 levels were 0.1–0.5 dB worse
// above 0.5 bpp).
constexpr size_t kRefinedLevels = 1;
// The refinement steps `vq demo` shows (about 0.3, 0.6 and 1 bpp on the demo photograph).
constexpr float kDemoSteps[] = {40.f, 20.f, 12.f};

// vq eval --plot for images: PSNR (the same measure as above, RGB) of each of up to 32
// horizontal bands of rows. Chosen over one bar per colour channel because the codec works on
// patches in raster order and its failures are local (a textured region, the padded bottom and
// right edge, a sky that bands): a row profile says where to look, while per-channel PSNR is
// still one number per plane and alpha is not coded at all. Bands are whole rows, so each band
// is a contiguous slice of the pixels and psnr() itself measures it.
constexpr size_t kPlotRowBands = 32;

Image rows_of(const Image& image, size_t begin, size_t end) {
  Image band;
  band.width = image.width;
  band.height = end - begin;
  band.channels = image.channels;
  const size_t row = image.width * image.channels;
  band.pixels.assign(image.pixels.begin() + std::ptrdiff_t(begin * row), image.pixels.begin() + std::ptrdiff_t(end * row));
  return band;
}

void plot_row_bands(const Image& a, const Image& b, const std::string& reference, const std::string& decoded,
                    Chart& plot) {
  const size_t bands = std::min(kPlotRowBands, a.height);
  std::vector<double> values(bands);
  for (size_t k = 0; k < bands; ++k) {
    const size_t begin = k * a.height / bands, end = (k + 1) * a.height / bands;
    values[k] = psnr(rows_of(a, begin, end), rows_of(b, begin, end));
    plot.categories.push_back(std::to_string(begin));
  }
  plot.title = "PSNR per band of rows: " + base_name(decoded) + " against " + base_name(reference);
  const size_t fewest = a.height / bands, most = (a.height + bands - 1) / bands;
  plot.x_label = detail::concat("first row of the band (", bands, " bands of ", fewest,
                                most == fewest ? "" : detail::concat("-", most), " rows; identical bands drawn at the top)");
  plot.y_label = "PSNR (dB, RGB)";
  plot.style = Chart::Style::kLine;
  plot.series = {{"", std::move(values)}};
}

class ImageCodec final : public MediaCodec {
 public:
  std::string name() const override { return "image"; }
  std::vector<std::string> extensions() const override {
    return {".png", ".jpg", ".jpeg", ".bmp", ".tga", ".gif", ".ppm", ".pgm", ".pnm"};
  }
  std::string container_kind() const override { return "image"; }
  std::string decoded_extension() const override { return ".png"; }

  void add_encode_options(CLI::App& encode) override {
    encode.add_option("--levels", levels_, "Images: residual levels kept (0: all the model has); fewer levels, fewer tokens")
        ->check(CLI::NonNegativeNumber);
    encode.add_option("--min-gain", min_gain_,
                      "Images: rate-adaptive depth — a patch stops before a level that lowers its weighted error "
                      "by less than this per pixel (luma MSE units; larger: smaller file). Off when < 0")
        ->capture_default_str();
    encode.add_option("--step", step_,
                      "Images: codec mode — after the tokens (1 level unless --levels), every residual DCT "
                      "coefficient is quantized with this step (8-bit units) and entropy coded; smaller: better "
                      "quality, bigger file (the demo photograph: 40 → 0.33 bpp, 12 → 1.1 bpp; busy scenes cost more). 0: tokens only")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    encode.add_option("--bpp", bpp_,
                      "Images: codec mode at a target rate — the finest --step whose whole file fits in this many "
                      "bits per pixel (bisection, ~12 trial encodings). 0: off")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    encode.add_option("--coding", coding_, "Images: token coding auto | fixed | zstd | arithmetic (auto: smallest)")
        ->check(CLI::IsMember({"auto", "fixed", "zstd", "arithmetic"}))
        ->capture_default_str();
  }

  void encode(const EncodeRequest& r) override {
    const auto t0 = std::chrono::steady_clock::now();
    const Image image = read_image(r.input);
    const ModelFile file = model_for_encoding(r.model, kDefaultModelName);
    const ImageTokenizer model = ImageTokenizer::load(file.path);
    VQ_CHECK(step_ == 0.f || bpp_ == 0.0, "give --step or --bpp, not both");
    const bool refined = step_ > 0.f || bpp_ > 0.0;
    ImageEncodeOptions o;
    o.levels = refined && levels_ == 0 ? kRefinedLevels : levels_;
    o.min_gain = min_gain_;
    o.step = step_;
    o.bpp = bpp_;
    const EncodedImage e = encode_image(image, model, o, file.name);
    const EncodeSummary s = write_file(r.output_file, e, coding_);
    if (!r.tokens.empty()) write_tokens_npy(r.tokens_file, e.grid);
    const double took = seconds_since(t0);
    if (r.quiet) return;
    const Image decoded = decode_image(e, model);
    std::printf("encoded          %s: %zu×%zu, %zu channel%s%s\n", r.input.c_str(), image.width, image.height,
                image.channels, image.channels == 1 ? "" : "s",
                e.alpha.empty() ? (image.has_alpha() ? " (alpha fully opaque: dropped)" : "")
                                : " (alpha kept losslessly)");
    std::printf("model            %s (%s, %zu-px patches, hash %s)\n", file.path.c_str(),
                model.quantizer().describe().c_str(), model.patch(), format_model_hash(*model.ref().hash).c_str());
    print_rates(e.grid, s, r.output_file, e.refinement.step);
    if (bpp_ > 0.0 && 8.0 * double(fs::file_size(r.output_file)) > bpp_ * double(image.pixel_count()))
      std::printf("note             --bpp %g is below what the tokens alone cost: this is the smallest file\n", bpp_);
    std::printf("quality          PSNR %.2f dB, SSIM %.4f\n", psnr(image, decoded), ssim(image, decoded));
    std::printf("saved            %s%s%s (%.3f s)\n", r.output.c_str(), r.tokens.empty() ? "" : " and ",
                r.tokens.c_str(), took);
  }

  void decode(const ContainerReader& in, const DecodeRequest& r) override {
    const EncodedImage e = read_encoded_image(in);
    const ImageTokenizer model = ImageTokenizer::read(open_model(e.model, in.name()));
    check_distinct_files({{"image model", model.ref().name}}, {{"output -o", r.output}});
    const Image out = decode_image(e, model);
    write_png(r.output, out);
    if (!r.quiet)
      std::printf("decoded          %zu×%zu, %zu channels from %zu tokens to %s\n", out.width, out.height,
                  out.channels, used_tokens(e.grid), r.output.c_str());
  }

  void print_info(const ContainerReader& in) override {
    const std::string kind = in.meta_or("vq.kind", "");
    if (kind == "image_model") {
      const ImageTokenizer m = ImageTokenizer::read(in);
      std::printf("image model      %s on %zu-px DCT patches of YCbCr, %zu levels × %zu tokens of %d bits\n",
                  m.quantizer().describe().c_str(), m.patch(), m.levels(), m.groups(), int(m.bits()));
      std::printf("metric           chroma weight %g, highest-frequency weight %g\n", m.chroma_weight(),
                  m.high_frequency_weight());
      std::printf("model hash       %s%s%s\n", format_model_hash(*m.ref().hash).c_str(),
                  m.ref().legacy_id.empty() ? "" : ", legacy id ", m.ref().legacy_id.c_str());
      return;
    }
    const EncodedImage e = read_encoded_image(in);
    const TokenGrid& g = e.grid;
    const double px = double(g.width) * g.height;
    std::printf("image            %zu×%zu, %zu channels%s\n", g.width, g.height, e.source_channels,
                e.alpha.empty() ? "" : " (alpha kept losslessly)");
    std::printf("tokens           %zu × %zu × %zu (rows × cols × levels·groups), %zu-px patches, %d bits each\n",
                g.rows, g.cols, g.tokens_per_patch(), g.patch, int(g.bits));
    if (g.adaptive())
      std::printf("depth            adaptive: %zu tokens used (mean %.2f levels per patch)\n", used_tokens(g),
                  double(used_tokens(g)) / double(g.rows * g.cols * g.groups));
    std::printf("token coding     %s: %.4f bpp", in.meta_at("image.token_coding").c_str(), 8.0 * in.payload("ITOK").size() / px);
    if (!g.adaptive()) std::printf(" (fixed-length: %.4f bpp)", 8.0 * encode_tokens(g, TokenCoding::kFixed).size() / px);
    std::printf("\n");
    if (!e.refinement.empty())
      std::printf("refinement       scalar, step %g: %.4f bpp\n", double(e.refinement.step),
                  8.0 * in.payload("IREF").size() / px);
    std::printf("model            %s\n", e.model.describe().c_str());
  }

  bool has_eval() const override { return true; }
  void eval(const std::string& reference, const std::string& decoded, Chart* plot) override {
    // Headers first: images of different sizes cannot be compared, and finding that out must
    // not cost decoding two large images.
    const ImageHeader ha = read_image_header(reference), hb = read_image_header(decoded);
    VQ_CHECK(ha.width == hb.width && ha.height == hb.height, decoded, " is ", hb.width, "×", hb.height, ", ",
             reference, " is ", ha.width, "×", ha.height, ": vq eval compares images of the same size");
    const Image a = read_image(reference), b = read_image(decoded);
    std::printf("image            %zu×%zu\n", a.width, a.height);
    std::printf("PSNR             %.4f dB (RGB, 8-bit)\n", psnr(a, b));
    std::printf("SSIM             %.6f (luma, 11×11 Gaussian σ=1.5)\n", ssim(a, b));
    if (plot) plot_row_bands(a, b, reference, decoded, *plot);
  }

  void add_commands(CLI::App& app) override {
    CLI::App* image = app.add_subcommand("image", "Image tokenizer: train a model on a folder of photographs");
    image->require_subcommand(1);
    image->footer("Encode and decode images with vq encode / vq decode (the default model is bundled).\n"
                  "Run 'vq help image train' for training options.");
    CLI::App* train = image->add_subcommand("train", "Train an image tokenizer on every image in DIR");
    train->add_option("dir", train_dir_, "Folder of training images (PNG, JPEG, BMP, TGA)")->required();
    train->add_option("-o,--output", train_out_, "Model file (.vqc)")->required();
    train->add_option("--patch", train_.patch, "Patch side in pixels")->capture_default_str();
    train->add_option("-q,--quantizer", train_.quantizer, "RVQ<L>x<bits> or GRVQ<G>x<L>x<bits> over 3·patch² dims")
        ->capture_default_str();
    train->add_option("--chroma-weight", train_.chroma_weight, "Metric weight of Cb, Cr against Y")->capture_default_str();
    train->add_option("--high-frequency-weight", train_.high_frequency_weight,
                      "Metric weight of the highest DCT frequency against DC (1: flat)")
        ->capture_default_str();
    train->add_option("--max-patches", train_.max_patches, "Training patches drawn from all images (0: all)")
        ->capture_default_str();
    train->add_option("--iterations", train_.iterations, "k-means iterations per level")->capture_default_str();
    train->add_option("--seed", train_.seed, "Seed")->capture_default_str();
    train->add_option("--threads", train_.threads, "Worker threads (0: all cores)")->capture_default_str();
    train->add_flag("--quiet", train_quiet_, "No progress");
    train->footer("Example:\n  vq image train photos/ -o image.vqc --quantizer RVQ8x10 --patch 8");
    train->callback([this] { run_train(); });
  }

  void demo(const DemoContext& c) override {
    const std::optional<std::vector<std::string>> files = demo_files("image demo", {kDemoPhoto, kDefaultModelName});
    if (!files) return;
    const std::string& photo = (*files)[0];
    const std::string& model_path = (*files)[1];
    if (c.threads > 0) omp_set_num_threads(c.threads);
    const Image image = read_image(photo);
    const ImageTokenizer model = ImageTokenizer::load(model_path);
    const std::string out = (fs::path(c.out_dir) / "image_demo.vqc").string();
    const std::string png = (fs::path(c.out_dir) / "image_demo_decoded.png").string();
    std::printf("\nimage demo       %s (%zu×%zu) with %s (%s)\n", photo.c_str(), image.width, image.height,
                model_path.c_str(), model.quantizer().describe().c_str());
    struct Setting {
      std::string label;
      ImageEncodeOptions options;
    };
    std::vector<Setting> settings;
    // Depths 1, 2, 4, ... and the full stack: one model, levels dropped (fixed-length tokens).
    for (size_t l = 1;; l = std::min(2 * l, model.levels())) {
      settings.push_back({"levels " + std::to_string(l), {l, -1.f, 0.f}});
      if (l == model.levels()) break;
    }
    // Rate-adaptive depth (if the model supports it), then the codec mode: tokens + refinement.
    if (model.supports_adaptive())
      settings.push_back({"min gain " + std::to_string(int(kDemoMinGain)), {model.levels(), kDemoMinGain, 0.f}});
    for (float step : kDemoSteps)
      settings.push_back({"step " + std::to_string(int(step)), {kRefinedLevels, -1.f, step}});
    const double px = double(image.width) * image.height;
    for (const Setting& st : settings) {
      const EncodedImage e = encode_image(image, model, st.options, kDefaultModelName);
      const EncodeSummary s = write_file(out, e, "auto");
      // Decode from the file, as vq decode would.
      const Image decoded = decode_image(read_encoded_image(ContainerReader::from_file(out)), model);
      char fixed[32] = "   –           ";
      if (!e.grid.adaptive() && e.refinement.empty())
        std::snprintf(fixed, sizeof fixed, "%.3f bpp fixed", 8.0 * s.fixed_bytes / px);
      const std::string coding = std::string(token_coding_name(s.coding)) + (e.refinement.empty() ? "" : "+scalar");
      std::printf("  %-14s %6zu tokens  %s  %.3f bpp %-17s  PSNR %.2f dB  SSIM %.4f\n", st.label.c_str(),
                  used_tokens(e.grid), fixed, 8.0 * double(s.coded_bytes + s.refinement_bytes) / px, coding.c_str(),
                  psnr(image, decoded), ssim(image, decoded));
      if (st.options.levels == model.levels() && st.options.min_gain < 0.f) write_png(png, decoded);
    }
    std::printf("files            %s\n                 %s\n", out.c_str(), png.c_str());
  }

 private:
  void run_train() {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(train_dir_))
      if (entry.is_regular_file() && codec_for_input(entry.path().string()) == this) files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    VQ_CHECK(!files.empty(), train_dir_, ": no images (", ".png .jpg .bmp .tga ...) to train on");
    std::vector<NamedFile> inputs;
    for (const std::string& f : files) inputs.push_back({"training image", f});
    check_distinct_files(inputs, {{"output -o", train_out_}});
    std::vector<Image> images;
    size_t pixels = 0;
    for (const std::string& f : files) {
      images.push_back(read_image(f));
      pixels += images.back().pixel_count();
      if (!train_quiet_) std::fprintf(stderr, "read %s (%zu×%zu×%zu)\n", f.c_str(), images.back().width,
                                      images.back().height, images.back().channels);
    }
    train_.progress = make_progress(train_quiet_);
    std::string names;
    for (const std::string& f : files) names += (names.empty() ? "" : ",") + base_name(f);
    train_.metadata = {{"train.images", names},
                       {"train.seed", std::to_string(train_.seed)},
                       {"train.max_patches", std::to_string(train_.max_patches)},
                       {"train.iterations", std::to_string(train_.iterations)}};
    const auto t0 = std::chrono::steady_clock::now();
    const ImageTokenizer model = ImageTokenizer::train(images, train_);
    finish_progress();
    model.save(train_out_);
    std::printf("trained          %s on %zu-px patches of %zu images (%.2f MP) in %.1f s\n",
                model.quantizer().describe().c_str(), model.patch(), images.size(), pixels / 1e6, seconds_since(t0));
    std::printf("saved            %s (hash %s)\n", train_out_.c_str(), format_model_hash(*model.ref().hash).c_str());
  }

  size_t levels_ = 0;
  float min_gain_ = -1.f;
  float step_ = 0.f;
  double bpp_ = 0.0;
  std::string coding_ = "auto";
  std::string train_dir_, train_out_;
  ImageTrainOptions train_;
  bool train_quiet_ = false;
};

}  // namespace

MediaCodec& image_codec() {
  static ImageCodec codec;
  return codec;
}

}  // namespace vq::cli
