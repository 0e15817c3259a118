// vq weights compress / decompress: a safetensors checkpoint's linear layers to codes
// (docs/weights.md) and back to dense F32, layer by layer with progress and per-layer error.
#include <fnmatch.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "cli.h"
#include "cli_ranks.h"
#include "output_files.h"
#include "part_files.h"
#include "vq/core/npy.h"
#include "vq/weights/checkpoint.h"
#include "vq/weights/compress.h"

namespace vq::cli {
namespace {

struct CompressArgs {
  std::string input, output, scheme = "AQ2x8d8", calib;
  std::vector<std::string> include, exclude;
  float damp = 0.01f;
  weights::CompressOptions defaults;
  int aq_rounds = defaults.aq_rounds;
  size_t aq_beam = defaults.aq_beam;
  int aq_refine_passes = defaults.aq_refine_passes;
  bool no_act_order = false;
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

// Layer inputs for --calib: a directory of <tensor name>.npy, or one .safetensors file holding a
// tensor per layer under the weight's name. Empty when the layer has none (H = I).
class Calibration {
 public:
  explicit Calibration(const std::string& where) : where_(where) {
    if (!where.empty() && std::filesystem::is_regular_file(where))
      file_ = std::make_unique<weights::SafetensorsFile>(weights::SafetensorsFile::open(where));
    else if (!where.empty())
      VQ_CHECK(std::filesystem::is_directory(where), "--calib '", where, "' is neither a directory of .npy files nor a ",
               ".safetensors file");
  }
  bool given() const { return !where_.empty(); }
  // The file that holds layer's inputs: the .safetensors itself, or <dir>/<layer>.npy; empty
  // when the layer has none.
  std::string source(const std::string& layer) const {
    if (file_) return file_->contains(layer) ? where_ : std::string();
    if (where_.empty()) return {};
    const std::string npy = where_ + "/" + layer + ".npy";
    return std::filesystem::exists(npy) ? npy : std::string();
  }
  Matrix inputs(const std::string& layer, size_t cols) const {
    Matrix x;
    std::string source;
    if (file_) {
      if (!file_->contains(layer)) return x;
      const weights::TensorInfo& t = file_->info(layer);
      source = where_ + ":" + layer;
      VQ_CHECK(t.shape.size() == 2, "calibration '", source, "' must be 2-D (tokens x in_features)");
      const std::vector<float> v = file_->read_float(layer);
      x = Matrix(t.shape[0], t.shape[1]);
      std::copy(v.begin(), v.end(), x.data());
    } else {
      source = where_ + "/" + layer + ".npy";
      if (where_.empty() || !std::filesystem::exists(source)) return x;
      x = read_matrix_npy(source);
    }
    VQ_CHECK(x.cols() == cols, "calibration '", source, "' has ", x.cols(), " columns, layer '", layer, "' has ", cols,
             " inputs");
    return x;
  }

 private:
  std::string where_;
  std::unique_ptr<weights::SafetensorsFile> file_;
};

// Under mpirun: the layers are a work queue, largest first, that every rank draws from (a shared
// counter) until it is empty; each rank writes each of its layers' tensors to a part file beside
// the output, and rank 0 then writes the output in file order from the input and the parts: the
// file one process writes, byte for byte. The output's directory must be shared by the ranks.
using LayerCompressor = std::function<std::vector<std::vector<uint8_t>>(size_t, const std::string&)>;

// Input tensor ti's part (part_files.h): its compressed tensors, each as a u64 size and its
// bytes. Written whole, then renamed.
void write_part(const std::string& path, const std::vector<std::vector<uint8_t>>& tensors) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    for (const std::vector<uint8_t>& t : tensors) {
      const uint64_t size = t.size();
      f.write(reinterpret_cast<const char*>(&size), sizeof size);
      f.write(reinterpret_cast<const char*>(t.data()), std::streamsize(t.size()));
    }
    VQ_CHECK(f.good(), "cannot write '", temp, "' (a part of the output): ", std::strerror(errno));
  }
  std::filesystem::rename(temp, path);
}

std::vector<std::vector<uint8_t>> read_part(const std::string& path, size_t count) {
  std::ifstream f(path, std::ios::binary);
  VQ_CHECK(f.good(), "cannot read '", path, "' (a part of the output written by another rank): is the output's ",
           "directory shared by every rank?");
  std::vector<std::vector<uint8_t>> tensors(count);
  for (std::vector<uint8_t>& t : tensors) {
    uint64_t size = 0;
    f.read(reinterpret_cast<char*>(&size), sizeof size);
    VQ_CHECK(f.good() && size < (uint64_t{1} << 40), "'", path, "' is truncated");
    t.resize(size);
    f.read(reinterpret_cast<char*>(t.data()), std::streamsize(size));
    VQ_CHECK(f.good(), "'", path, "' is truncated");
  }
  return tensors;
}

void compress_on_ranks(const Communicator& comm, const CompressArgs& a, const weights::SafetensorsFile& in,
                       const std::vector<weights::TensorSpec>& specs, const std::map<std::string, std::string>& metadata,
                       const std::vector<std::optional<weights::CompressedLayout>>& plan,
                       const LayerCompressor& compress_layer) {
  std::vector<size_t> queue;  // input tensors to compress, largest first (ties: file order)
  for (size_t ti = 0; ti < plan.size(); ++ti)
    if (plan[ti]) queue.push_back(ti);
  const auto weights_of = [&](size_t ti) { return in.tensors()[ti].shape[0] * in.tensors()[ti].shape[1]; };
  std::stable_sort(queue.begin(), queue.end(), [&](size_t x, size_t y) { return weights_of(x) > weights_of(y); });
  std::vector<double> before(queue.size() + 1, 0.0);  // weights of the queue's first i layers
  for (size_t i = 0; i < queue.size(); ++i) before[i + 1] = before[i] + double(weights_of(queue[i]));
  PartFiles mine;  // the parts this rank wrote
  const auto start = std::chrono::steady_clock::now();
  {
    const std::unique_ptr<Communicator::Counter> counter = comm.make_counter();
    for (uint64_t claim = counter->next(); claim < queue.size(); claim = counter->next()) {
      // Progress: the layers handed out so far, and the time left: the other ranks are busy with
      // about one layer each, so the queue's first claim − (ranks − 1) layers are done, and the
      // rest take time in proportion to their weights.
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string position = std::to_string(claim + 1) + "/" + std::to_string(queue.size()) + " rank " +
                             std::to_string(comm.rank());
      const size_t busy = static_cast<size_t>(comm.size()) - 1;
      if (claim > busy) {
        const double done = before[claim - busy], left = before.back() - done;
        position += ", ETA " + std::to_string(static_cast<long>(elapsed * left / done + 0.5)) + " s";
      }
      const size_t ti = queue[claim];
      mine.paths.push_back(part_path(a.output, "layer", ti));
      write_part(mine.paths.back(), compress_layer(ti, position));
    }
  }  // the counter's window is freed here, by every rank together
  // Every rank's parts are on disk before rank 0 reads them.
  std::vector<double> barrier(1, 0.0);
  comm.allreduce_sum(barrier);
  mine.keep = true;
  if (comm.rank() != 0) return;
  PartFiles all;  // every rank's, removed once the output is written (or on an error)
  for (size_t ti : queue) all.paths.push_back(part_path(a.output, "layer", ti));
  weights::SafetensorsStreamWriter out(a.output, specs, metadata);
  for (size_t ti = 0; ti < in.tensors().size(); ++ti) {
    const weights::TensorInfo& t = in.tensors()[ti];
    if (!plan[ti]) {
      out.write(t.name, in.bytes(t.name));
      continue;
    }
    const std::vector<std::vector<uint8_t>> bytes = read_part(part_path(a.output, "layer", ti), plan[ti]->tensors.size());
    for (size_t k = 0; k < bytes.size(); ++k) out.write(plan[ti]->tensors[k].name, bytes[k]);
  }
  out.finish();
}

// The output is laid out before anything is compressed (each layer's tensors follow from its
// scheme and shape), then written tensor by tensor: memory holds one layer at a time.
void run_compress(const CompressArgs& a) {
  check_distinct_files({{"input", a.input}, {"--calib", a.calib}}, {{"output -o", a.output}});
  const weights::Scheme scheme = weights::Scheme::parse(a.scheme);
  if (const std::string note = weights::Scheme::deprecation_note(a.scheme); !note.empty())
    std::fprintf(stderr, "vq: warning: %s\n", note.c_str());
  const weights::SafetensorsFile in = weights::SafetensorsFile::open(a.input);
  const Calibration calib(a.calib);
  std::vector<NamedFile> calib_files;  // the calibration files actually used, also inputs
  std::string first_layer;
  std::vector<weights::TensorSpec> specs;
  std::map<std::string, std::string> metadata = in.metadata();
  std::vector<std::optional<weights::CompressedLayout>> plan;  // per input tensor: compressed into this
  size_t layers = 0;
  for (const weights::TensorInfo& t : in.tensors()) {
    std::optional<weights::CompressedLayout>& l = plan.emplace_back();
    if (!(t.shape.size() == 2 && is_float(t.dtype) && (a.include.empty() || matches(t.name, a.include)) &&
          !matches(t.name, a.exclude) && t.shape[1] % scheme.group == 0)) {
      specs.push_back({t.name, t.dtype, t.shape});
      continue;
    }
    l = weights::compressed_layout(base_of(t.name), scheme, t.shape[0], t.shape[1]);
    specs.insert(specs.end(), l->tensors.begin(), l->tensors.end());
    metadata.insert(l->metadata.begin(), l->metadata.end());
    metadata.insert(weights::dense_name_entry(base_of(t.name), t.name));
    if (const std::string src = calib.source(t.name); !src.empty()) calib_files.push_back({"--calib file", src});
    if (layers++ == 0) first_layer = t.name;
  }
  VQ_CHECK(layers > 0, "vq weights compress: no 2-D float tensor of '", a.input, "' matches (in_features must be ",
           "a multiple of the group size ", scheme.group, ")");
  // Calibration that names no layer would silently compress every layer with H = I.
  VQ_CHECK(!calib.given() || !calib_files.empty(), "--calib '", a.calib, "' has inputs for none of the ", layers,
           " layers to compress (expected ", std::filesystem::is_directory(a.calib) ? "<tensor name>.npy files" : "tensors",
           " named like '", first_layer, "')");
  check_distinct_files(calib_files, {{"output -o", a.output}});
  weights::CompressOptions opt;
  opt.damp = a.damp;
  opt.aq_rounds = a.aq_rounds;
  opt.aq_beam = a.aq_beam;
  opt.aq_refine_passes = a.aq_refine_passes;
  opt.act_order = !a.no_act_order;

  // One layer: read, compress, report; returns its tensors' bytes and adds to the totals.
  double total_bits = 0.0, total_weights = 0.0;
  const auto compress_layer = [&](size_t ti, const std::string& position) {
    const weights::TensorInfo& t = in.tensors()[ti];
    const size_t rows = t.shape[0], cols = t.shape[1];
    const std::vector<float> w = in.read_float(t.name);
    const MatrixView<const float> wv(w.data(), rows, cols);
    std::vector<float> h;
    std::string calib_note = "no calibration (H = I)";
    if (const Matrix x = calib.inputs(t.name, cols); x.rows() > 0) {
      h = weights::hessian_from_inputs(x.view());
      calib_note = std::to_string(x.rows()) + " calibration tokens";
    }
    const auto t0 = std::chrono::steady_clock::now();
    const weights::CompressedMatrix cm = weights::compress(wv, h, scheme, opt);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double err = std::sqrt(weights::relative_error(wv, cm.decode().view(), h));
    if (!a.quiet)
      std::fprintf(stderr, "[%s] %s %zux%zu %s: %.3f bits/weight, relative %s error %.4f, %.1f s (%s)\n",
                   position.c_str(), t.name.c_str(), rows, cols, scheme.str().c_str(), cm.bits_per_weight(),
                   h.empty() ? "weight" : "output", err, secs, calib_note.c_str());
    total_bits += cm.bits_per_weight() * double(rows * cols);
    total_weights += double(rows * cols);
    return weights::compressed_tensor_bytes(cm);
  };

  const Communicator& comm = ranks();
  if (comm.size() == 1) {
    // One process: layer by layer in file order, straight into the output.
    weights::SafetensorsStreamWriter out(a.output, specs, metadata);
    size_t done = 0;
    for (size_t ti = 0; ti < in.tensors().size(); ++ti) {
      const weights::TensorInfo& t = in.tensors()[ti];
      if (!plan[ti]) {
        out.write(t.name, in.bytes(t.name));  // straight from the mapped input
        continue;
      }
      const std::vector<std::vector<uint8_t>> bytes =
          compress_layer(ti, std::to_string(++done) + "/" + std::to_string(layers));
      for (size_t k = 0; k < bytes.size(); ++k) out.write(plan[ti]->tensors[k].name, bytes[k]);
    }
    out.finish();
  } else {
    compress_on_ranks(comm, a, in, specs, metadata, plan, compress_layer);
    std::vector<double> totals{total_bits, total_weights};
    comm.allreduce_sum(totals);
    total_bits = totals[0], total_weights = totals[1];
    if (!is_root()) return;
  }
  std::printf("compressed %zu layers, %.3f bits/weight overall -> %s%s\n", layers, total_bits / total_weights,
              a.output.c_str(), comm.size() > 1 ? (" (" + std::to_string(comm.size()) + " ranks)").c_str() : "");
}

// Each compressed layer becomes its input tensor's name (F32) where its first tensor was; the rest is
// copied. Planned first (every layer read and validated before the output is created), then
// written one decoded layer at a time.
void run_decompress(const std::string& input, const std::string& output, bool quiet) {
  check_distinct_files({{"input", input}}, {{"output -o", output}});
  const weights::SafetensorsFile in = weights::SafetensorsFile::open(input);
  const std::vector<std::string> layers = weights::compressed_layers(in);
  VQ_CHECK(!layers.empty(), input, ": no compressed layers (no vqcodec.scheme.* metadata): it is not a checkpoint ",
           "written by vq weights compress");
  std::map<std::string, size_t> layer_of;  // compressed tensor name -> index in layers
  std::vector<weights::TensorSpec> dense;  // per layer: the input tensor's name
  for (size_t i = 0; i < layers.size(); ++i) {
    const weights::CompressedMatrix cm = weights::read_compressed(in, layers[i]);
    for (const weights::TensorSpec& t : weights::compressed_layout(layers[i], cm.scheme, cm.rows, cm.cols).tensors)
      layer_of[t.name] = i;
    dense.push_back({weights::dense_name(in, layers[i]), weights::DType::kF32, {cm.rows, cm.cols}});
  }
  std::vector<weights::TensorSpec> specs;
  std::vector<bool> placed(layers.size(), false);
  for (const weights::TensorInfo& t : in.tensors()) {
    const auto it = layer_of.find(t.name);
    if (it == layer_of.end())
      specs.push_back({t.name, t.dtype, t.shape});
    else if (!placed[it->second])
      specs.push_back(dense[it->second]), placed[it->second] = true;
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [k, v] : in.metadata())
    if (k.rfind("vqcodec.", 0) != 0) metadata[k] = v;
  weights::SafetensorsStreamWriter out(output, specs, metadata);
  std::fill(placed.begin(), placed.end(), false);
  size_t done = 0;
  for (const weights::TensorInfo& t : in.tensors()) {
    const auto it = layer_of.find(t.name);
    if (it == layer_of.end()) {
      out.write(t.name, in.bytes(t.name));
      continue;
    }
    if (placed[it->second]) continue;
    placed[it->second] = true;
    const weights::CompressedMatrix cm = weights::read_compressed(in, layers[it->second]);
    out.write_float(dense[it->second].name, cm.decode().storage());
    if (!quiet)
      std::fprintf(stderr, "[%zu/%zu] %s %zux%zu %s\n", ++done, layers.size(), layers[it->second].c_str(), cm.rows,
                   cm.cols, cm.scheme.str().c_str());
  }
  out.finish();
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
  c->add_option("--scheme", ca->scheme, "AQ<M>x<b>d<d>[c<C>], RTN<b>g<G>, GPTQ<b>g<G>, CDQ<b>g<G>")->capture_default_str();
  c->add_option("--calib", ca->calib, "Layer inputs (rows = tokens, columns = in_features): a directory of <tensor name>.npy, or a .safetensors file with one tensor per layer under the weight's name");
  c->add_option("--include", ca->include, "Only tensors matching this glob (repeatable)");
  c->add_option("--exclude", ca->exclude, "Skip tensors matching this glob (repeatable)");
  c->add_option("--damp", ca->damp, "Relative dampening of H")->capture_default_str();
  c->add_option("--aq-rounds", ca->aq_rounds,
                "AQ: rounds of (encode the rows, re-fit codebooks and scales under H); more is slower and better "
                "(4 instead of 2: 5-16 % lower output error, 30 % more time on a 512-wide model, BENCHMARKS.md)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  c->add_option("--aq-beam", ca->aq_beam, "AQ: beam width of the code search")->check(CLI::Range(1, 256))->capture_default_str();
  c->add_option("--aq-refine-passes", ca->aq_refine_passes,
                "AQ: passes of coordinate descent on the codes under the full H after each sweep (0: none)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  c->add_flag("--no-act-order", ca->no_act_order,
              "Sweep the input columns in their own order instead of by importance (GPTQ's desc_act, the default: "
              "13-54 % lower GPTQ3 output error on the tiny LMs, BENCHMARKS.md)");
  c->add_flag("--quiet", ca->quiet, "No per-layer lines");
  c->callback([ca] { run_compress(*ca); });
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  CLI::App* d = cmd->add_subcommand("decompress", "Write the decoded F32 weights under their original names");
  d->add_option("input", *in, "Compressed .safetensors")->required();
  d->add_option("-o,--output", *out, "Dense .safetensors")->required();
  d->add_flag("--quiet", *quiet, "No per-layer lines");
  d->callback([in, out, quiet] { run_decompress(*in, *out, *quiet); });
  const std::string examples =
      "Examples:\n"
      "  vq weights compress model.safetensors -o model.aq.safetensors --scheme AQ2x8d8 --calib calib/\n"
      "  vq weights compress model.safetensors -o model.cdq.safetensors --scheme CDQ2g128 --calib calib.safetensors \\\n"
      "      --include 'model.layers.*' --exclude '*lm_head*'\n"
      "  vq weights decompress model.aq.safetensors -o model.dense.safetensors\n"
      "Which scheme suits which layer, and what each costs: docs/weights.md, BENCHMARKS.md.";
  for (CLI::App* sub : {cmd, c, d}) sub->footer(examples);
}

}  // namespace vq::cli
