// 3DGS scenes (.ply) through the splat codec (include/vq/splats/): vq encode / decode / info /
// eval, `vq splats synth` (a synthetic scene, see synthetic_scene.h) and the demo step.
// Thin: every decision lives in the library.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli.h"
#include "media_codec.h"
#include "vq/splats/evaluate.h"
#include "vq/splats/splat_codec.h"
#include "vq/splats/synthetic_scene.h"

namespace vq::cli {
namespace {

using namespace vq::splats;

double file_size(const std::string& path) { return static_cast<double>(std::filesystem::file_size(path)); }

void print_eval(const SplatEvaluation& e, size_t views) {
  std::printf("views            %zu orbit cameras (rendered on the CPU)\n", views);
  std::printf("rendered PSNR    %.2f dB mean, %.2f dB worst view\n", e.mean_psnr, e.min_psnr);
  std::printf("rendered SSIM    %.4f mean\n", e.mean_ssim);
  std::printf("matched          %zu Gaussians (%zu unmatched)\n", e.matched, e.unmatched);
  for (const AttributeError& a : e.attributes)
    std::printf("%-16s %.4g (%s)\n", a.name.c_str(), a.value, a.unit.c_str());
}

class SplatsCodec final : public MediaCodec {
 public:
  std::string name() const override { return "splats"; }
  std::vector<std::string> extensions() const override { return {".ply"}; }
  std::string container_kind() const override { return "splats"; }
  std::string decoded_extension() const override { return ".ply"; }

  void add_encode_options(CLI::App& encode) override {
    encode.add_option("--quality", quality_, "splats: preset low | medium | high (default medium)")
        ->check(CLI::IsMember({"low", "medium", "high"}));
    encode.add_option("--position-bits", position_bits_, "splats: fixed-point bits per position axis (1..21)")
        ->check(CLI::Range(1, 21));
    encode.add_option("--sh-degree", sh_degree_, "splats: reduce spherical harmonics to this degree (0..3)")
        ->check(CLI::Range(0, 3));
    for (size_t a = 0; a < kSplatAttributes.size(); ++a)
      encode.add_option(std::string("--") + kSplatAttributes[a], specs_[a],
                        std::string("splats: quantizer for ") + kSplatAttributes[a] + " (e.g. RVQ2x8, VQ8)");
    encode.add_option("--kmeans-iterations", iterations_, "splats: k-means iterations per codebook")->check(CLI::Range(1, 1000));
  }

  void encode(const EncodeRequest& r) override {
    if (!r.model.empty()) throw UsageError("vq encode " + r.input + ": splat scenes train their codebooks per scene; -m is not used");
    if (!r.tokens.empty()) throw UsageError("vq encode " + r.input + ": --tokens is not available for splat scenes");
    SplatCodecOptions o = SplatCodecOptions::preset(quality_);
    if (position_bits_ > 0) o.position_bits = position_bits_;
    if (sh_degree_ >= 0) o.sh_degree = sh_degree_;
    if (iterations_ > 0) o.iterations = iterations_;
    for (size_t a = 0; a < specs_.size(); ++a)
      if (!specs_[a].empty()) o.specs[a] = specs_[a];
    o.progress = make_progress(r.quiet);
    const SplatEncodeStats st = encode_splats_file(r.input, r.output_file, o);
    finish_progress();
    if (r.quiet) return;
    const double in = file_size(r.input), out = file_size(r.output_file);
    std::printf("encoded          %zu Gaussians from %s (quality %s) in %.2f s\n", st.count, r.input.c_str(),
                quality_.c_str(), st.total_seconds);
    std::printf("size             %.0f -> %.0f bytes (%.1fx smaller, %.2f bytes/Gaussian)\n", in, out, in / out,
                out / st.count);
    for (const auto& [part, bytes] : st.bytes)
      std::printf("  %-14s %.2f bytes/Gaussian\n", part.c_str(), double(bytes) / st.count);
    std::printf("saved            %s\n", r.output.c_str());
  }

  void decode(const ContainerReader& in, const DecodeRequest& r) override {
    const auto t0 = std::chrono::steady_clock::now();
    const SplatScene s = decode_splats(in);
    write_ply(r.output, s);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.quiet)
      std::printf("decoded          %zu Gaussians (SH degree %d) to %s in %.2f s\n", s.count, s.sh_degree,
                  r.output.c_str(), sec);
  }

  void print_info(const ContainerReader& in) override {
    std::printf("splats           %s Gaussians, SH degree %s (source %s), %s position bits per axis\n",
                in.meta_or("splats.count", "?").c_str(), in.meta_or("splats.sh_degree", "?").c_str(),
                in.meta_or("splats.source_sh_degree", "?").c_str(), in.meta_or("splats.position_bits", "?").c_str());
    for (const char* a : kSplatAttributes) {
      const std::string spec = in.meta_or(std::string("splats.spec.") + a, "");
      if (!spec.empty()) std::printf("  %-14s %s\n", a, spec.c_str());
    }
  }

  bool has_eval() const override { return true; }
  void add_eval_options(CLI::App& eval) override {
    eval.add_option("--views", eval_.views, "splats: number of orbit views to render (default 8)")->check(CLI::Range(1, 1000));
    eval.add_option("--resolution", eval_.width, "splats: render width = height in pixels (default 256)")
        ->check(CLI::Range(16, 4096));
  }
  void eval(const std::string& reference, const std::string& decoded, Chart* plot) override {
    const SplatScene a = read_ply(reference), b = read_ply(decoded);
    SplatEvalOptions o = eval_;
    o.height = o.width;
    std::printf("scenes           %zu vs %zu Gaussians, SH degree %d vs %d\n", a.count, b.count, a.sh_degree, b.sh_degree);
    std::printf("size             %.0f vs %.0f bytes\n", file_size(reference), file_size(decoded));
    SplatEvaluation e = evaluate_splats(a, b, o);
    print_eval(e, o.views);
    if (!plot) return;
    // One bar per orbit view: the mean hides a side of the scene the codec renders badly.
    plot->title = "Rendered PSNR per view: " + base_name(decoded) + " against " + base_name(reference);
    plot->x_label = detail::concat("orbit view (", o.views, " cameras around the reference scene, ", o.width, "×",
                                   o.height, " px; identical renders drawn at the top)");
    plot->y_label = "PSNR (dB)";
    plot->style = Chart::Style::kBars;
    plot->series = {{"", std::move(e.psnr)}};
  }

  void add_commands(CLI::App& app) override {
    CLI::App* splats = app.add_subcommand("splats", "3D Gaussian Splatting scenes");
    splats->require_subcommand(1);
    splats->footer("Encode and decode .ply scenes with vq encode / vq decode.\n"
                   "Run 'vq help splats synth' for the generator's options.");
    CLI::App* synth = splats->add_subcommand("synth", "Write a synthetic 3DGS scene (procedural surfaces) as PLY");
    synth->add_option("output", synth_out_, "The .ply to write")->required();
    synth->add_option("-n,--count", synth_.count, "Number of Gaussians (default 100000)")->check(CLI::Range(1, 100000000));
    synth->add_option("--sh-degree", synth_.sh_degree, "SH degree 0..3 (default 3)")->check(CLI::Range(0, 3));
    synth->add_option("--seed", synth_.seed, "Random seed (default 1)");
    synth->callback([this] {
      write_ply(synth_out_, synthetic_scene(synth_));
      std::printf("wrote            %s: %zu synthetic Gaussians, SH degree %d\n", synth_out_.c_str(), synth_.count,
                  synth_.sh_degree);
    });
  }

  // A synthetic scene (nothing is bundled: it is generated), encoded at the default quality,
  // decoded and compared by rendering.
  void demo(const DemoContext& c) override {
    const std::string ply = c.out_dir + "/splats.ply", vqc = c.out_dir + "/splats.vqc",
                      dec = c.out_dir + "/splats_decoded.ply";
    const SplatScene scene = synthetic_scene({20000, 3, 1, 0.03f});
    write_ply(ply, scene);
    SplatCodecOptions o = SplatCodecOptions::preset("medium");
    o.threads = c.threads;
    const SplatEncodeStats st = encode_splats_file(ply, vqc, o);
    const SplatScene back = decode_splats_file(vqc);
    write_ply(dec, back);
    SplatEvalOptions eo;
    eo.views = 4;
    eo.threads = c.threads;
    const SplatEvaluation e = evaluate_splats(scene, back, eo);
    std::printf("splats           %zu synthetic Gaussians: PLY %.0f bytes -> %.0f bytes (%.1fx) in %.2f s; "
                "rendered PSNR %.2f dB, SSIM %.4f over %zu views\n",
                st.count, file_size(ply), file_size(vqc), file_size(ply) / file_size(vqc), st.total_seconds,
                e.mean_psnr, e.mean_ssim, eo.views);
  }

 private:
  std::string quality_ = "medium";
  int position_bits_ = 0, sh_degree_ = -1, iterations_ = 0;
  std::array<std::string, kSplatAttributes.size()> specs_;
  SplatEvalOptions eval_;
  SyntheticSceneOptions synth_;
  std::string synth_out_;
};

}  // namespace

MediaCodec& splats_codec() {
  static SplatsCodec codec;
  return codec;
}

}  // namespace vq::cli
