// vq weights compress / decompress: a safetensors checkpoint's linear layers to codes
// (docs/weights.md) and back to dense F32, layer by layer with progress and per-layer error.
#include <fnmatch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli.h"
#include "vq/core/npy.h"
#include "vq/weights/checkpoint.h"
#include "vq/weights/compress.h"

namespace vq::cli {
namespace {

struct CompressArgs {
  std::string input, output, scheme = "AQ2x8g8", calib;
  std::vector<std::string> include, exclude;
  float damp = 0.01f;
  weights::CompressOptions defaults;
  int aq_rounds = defaults.aq_rounds;
  size_t aq_beam = defaults.aq_beam;
  bool quiet = false;
};

bool matches(const std::string& name, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns)
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  return false;
}

bool is_float(weights::DType d) {
  using weights::DType;
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kF64;
}

// "<base>.weight" -> "<base>" (PyTorch's Linear naming); other names are kept whole.
std::string base_of(const std::string& name) {
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size());
  return name;
}

void run_compress(const CompressArgs& a) {
  using weights::DType;
  const weights::Scheme scheme = weights::Scheme::parse(a.scheme);
  const weights::SafetensorsFile in = weights::SafetensorsFile::open(a.input);
  weights::SafetensorsWriter out;
  for (const auto& [k, v] : in.metadata()) out.set_metadata(k, v);
  std::vector<const weights::TensorInfo*> to_compress;
  for (const weights::TensorInfo& t : in.tensors()) {
    const bool selected = t.shape.size() == 2 && is_float(t.dtype) && (a.include.empty() || matches(t.name, a.include)) &&
                          !matches(t.name, a.exclude) && t.shape[1] % scheme.group == 0;
    if (selected)
      to_compress.push_back(&t);
    else
      out.add(t.name, t.dtype, t.shape, std::vector<uint8_t>(in.bytes(t.name).begin(), in.bytes(t.name).end()));
  }
  VQ_CHECK(!to_compress.empty(), "vq weights compress: no 2-D float tensor of '", a.input, "' matches (in_features must be ",
           "a multiple of the group size ", scheme.group, ")");
  weights::CompressOptions opt;
  opt.damp = a.damp;
  opt.aq_rounds = a.aq_rounds;
  opt.aq_beam = a.aq_beam;
  double total_bits = 0.0, total_weights = 0.0;
  for (size_t i = 0; i < to_compress.size(); ++i) {
    const weights::TensorInfo& t = *to_compress[i];
    const size_t rows = t.shape[0], cols = t.shape[1];
    const std::vector<float> w = in.read_float(t.name);
    const MatrixView<const float> wv(w.data(), rows, cols);
    std::vector<float> h;
    std::string calib_note = "no calibration (H = I)";
    if (!a.calib.empty()) {
      const std::string path = a.calib + "/" + t.name + ".npy";
      if (std::filesystem::exists(path)) {
        const Matrix x = read_matrix_npy(path);
        VQ_CHECK(x.cols() == cols, "calibration '", path, "' has ", x.cols(), " columns, layer '", t.name, "' has ",
                 cols, " inputs");
        h = weights::hessian_from_inputs(x.view());
        calib_note = std::to_string(x.rows()) + " calibration tokens";
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    const weights::CompressedMatrix cm = weights::compress(wv, h, scheme, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Matrix dec = cm.decode();
    const double err = std::sqrt(weights::relative_error(wv, dec.view(), h));
    if (!a.quiet)
      std::fprintf(stderr, "[%zu/%zu] %s %zux%zu %s: %.3f bits/weight, relative %s error %.4f, %.1f s (%s)\n", i + 1,
                   to_compress.size(), t.name.c_str(), rows, cols, scheme.str().c_str(), cm.bits_per_weight(),
                   h.empty() ? "weight" : "output", err, secs, calib_note.c_str());
    weights::write_compressed(out, base_of(t.name), cm);
    total_bits += cm.bits_per_weight() * double(rows * cols);
    total_weights += double(rows * cols);
  }
  out.finish(a.output);
  std::printf("compressed %zu layers, %.3f bits/weight overall -> %s\n", to_compress.size(), total_bits / total_weights,
              a.output.c_str());
}

void run_decompress(const std::string& input, const std::string& output, bool quiet) {
  const weights::SafetensorsFile in = weights::SafetensorsFile::open(input);
  weights::SafetensorsWriter out;
  std::vector<std::string> owned;  // tensors that belong to a compressed layer
  const std::vector<std::string> layers = weights::compressed_layers(in);
  for (size_t i = 0; i < layers.size(); ++i) {
    const weights::CompressedMatrix cm = weights::read_compressed(in, layers[i]);
    for (const std::string& n : weights::compressed_tensor_names(layers[i], cm)) owned.push_back(n);
    const Matrix w = cm.decode();
    out.add_float(layers[i] + ".weight", {cm.rows, cm.cols}, w.storage());
    if (!quiet)
      std::fprintf(stderr, "[%zu/%zu] %s %zux%zu %s\n", i + 1, layers.size(), layers[i].c_str(), cm.rows, cm.cols,
                   cm.scheme.str().c_str());
  }
  for (const weights::TensorInfo& t : in.tensors())
    if (std::find(owned.begin(), owned.end(), t.name) == owned.end())
      out.add(t.name, t.dtype, t.shape, std::vector<uint8_t>(in.bytes(t.name).begin(), in.bytes(t.name).end()));
  for (const auto& [k, v] : in.metadata())
    if (k.rfind("vqcodec.", 0) != 0) out.set_metadata(k, v);
  out.finish(output);
  std::printf("decompressed %zu layers -> %s\n", layers.size(), output.c_str());
}

}  // namespace

void add_weights_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("weights", "Compress a safetensors checkpoint's linear layers to codes");
  cmd->require_subcommand(1);
  auto ca = std::make_shared<CompressArgs>();
  CLI::App* c = cmd->add_subcommand("compress", "Compress every matching 2-D weight (docs/weights.md)");
  c->add_option("input", ca->input, "Input .safetensors")->required();
  c->add_option("-o,--output", ca->output, "Output .safetensors")->required();
  c->add_option("--scheme", ca->scheme, "AQ<M>x<b>g<g>[r<R>], RTN<b>g<G>, GPTQ<b>g<G>, CDQ<b>g<G>")->capture_default_str();
  c->add_option("--calib", ca->calib, "Directory of <tensor name>.npy layer inputs (rows = tokens)");
  c->add_option("--include", ca->include, "Only tensors matching this glob (repeatable)");
  c->add_option("--exclude", ca->exclude, "Skip tensors matching this glob (repeatable)");
  c->add_option("--damp", ca->damp, "Relative dampening of H")->capture_default_str();
  c->add_option("--aq-rounds", ca->aq_rounds,
                "AQ: rounds of (encode the rows, re-fit codebooks and scales under H); more is slower and better "
                "(4 instead of 2: 5-16 % lower output error, 30 % more time on a 512-wide model, BENCHMARKS.md)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  c->add_option("--aq-beam", ca->aq_beam, "AQ: beam width of the code search")->check(CLI::Range(1, 256))->capture_default_str();
  c->add_flag("-q,--quiet", ca->quiet, "No per-layer lines");
  c->callback([ca] { run_compress(*ca); });
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  CLI::App* d = cmd->add_subcommand("decompress", "Write the decoded F32 weights under their original names");
  d->add_option("input", *in, "Compressed .safetensors")->required();
  d->add_option("-o,--output", *out, "Dense .safetensors")->required();
  d->add_flag("-q,--quiet", *quiet, "No per-layer lines");
  d->callback([in, out, quiet] { run_decompress(*in, *out, *quiet); });
  cmd->footer(
      "Examples:\n"
      "  vq weights compress model.safetensors -o model.aq.safetensors --scheme AQ2x8g8 --calib calib/\n"
      "  vq weights decompress model.aq.safetensors -o model.dense.safetensors");
}

}  // namespace vq::cli
