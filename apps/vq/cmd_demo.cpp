// vq demo: the whole loop in one command — sample vectors, train a tokenizer, encode, decode,
// save, reload, and check the reloaded model reproduces the codes bit for bit; then each
// domain codec encodes and decodes its bundled sample with its default model (media_codec.h).
//
// The sample is generated here (the library cannot depend on tests/support): a mixture of
// clustered Gaussians with decaying per-direction spread, rotated so dimensions are correlated —
// the structure of descriptor / embedding data that makes residual codebooks pay off.
#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli.h"
#include "media_codec.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"

namespace vq::cli {
namespace {

constexpr size_t kClusters = 32;
constexpr double kCentreSpread = 2.0;  // std of cluster centres, against unit in-cluster spread

// A random d×d orthogonal matrix: Gram–Schmidt on Gaussian rows (d is small here).
Matrix random_rotation(size_t d, Rng& rng) {
  Matrix q(d, d);
  for (size_t i = 0; i < d; ++i) {
    for (;;) {
      for (size_t j = 0; j < d; ++j) q(i, j) = static_cast<float>(rng.normal());
      for (size_t k = 0; k < i; ++k) {
        double dot = 0;
        for (size_t j = 0; j < d; ++j) dot += double(q(i, j)) * q(k, j);
        for (size_t j = 0; j < d; ++j) q(i, j) -= static_cast<float>(dot * q(k, j));
      }
      double norm = 0;
      for (size_t j = 0; j < d; ++j) norm += double(q(i, j)) * q(i, j);
      if (norm < 1e-6) continue;  // (vanishingly unlikely) dependent draw: redraw the row
      for (size_t j = 0; j < d; ++j) q(i, j) = static_cast<float>(q(i, j) / std::sqrt(norm));
      break;
    }
  }
  return q;
}

Matrix demo_vectors(size_t n, size_t d, uint64_t seed) {
  Rng rng(seed);
  Matrix centres(kClusters, d);
  for (float& v : centres.storage()) v = static_cast<float>(kCentreSpread * rng.normal());
  const Matrix rot = random_rotation(d, rng);
  std::vector<double> z(d);
  Matrix x(n, d);
  for (size_t i = 0; i < n; ++i) {
    const float* c = centres.row_ptr(rng.below(kClusters));
    for (size_t j = 0; j < d; ++j) z[j] = rng.normal() / std::sqrt(1.0 + j);  // spectrum 1/(1+j)
    for (size_t j = 0; j < d; ++j) {
      double v = c[j];
      for (size_t k = 0; k < d; ++k) v += rot(k, j) * z[k];
      x(i, j) = static_cast<float>(v);
    }
  }
  return x;
}

size_t count_differences(const Codes& a, const Codes& b) {
  if (a.n != b.n || a.bits != b.bits) return a.data.size() + b.data.size();
  size_t diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i) diff += a.data[i] != b.data[i];
  return diff;
}

struct DemoArgs {
  size_t n = 20000, dim = 64;
  std::string spec = "RVQ4x8", out_dir;
  uint64_t seed = 1234;
  int threads = 0;
  bool quiet = false;
};

void run_demo(const DemoArgs& a) {
  if (a.threads > 0) omp_set_num_threads(a.threads);
  namespace fs = std::filesystem;
  const fs::path dir = a.out_dir.empty() ? fs::temp_directory_path() / "vq-demo" : fs::path(a.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  VQ_CHECK(!ec, dir.string(), ": cannot create the output directory: ", ec.message());
  const std::string vectors_path = (dir / "demo_vectors.npy").string();
  const std::string model_path = (dir / "demo_model.vqc").string();
  const std::string codes_path = (dir / "demo_codes.vqc").string();
  const std::string tokens_path = (dir / "demo_tokens.npy").string();

  std::printf("sample           %zu×%zu clustered, correlated vectors (seed %llu) -> %s\n", a.n,
              a.dim, static_cast<unsigned long long>(a.seed), vectors_path.c_str());
  const Matrix x = demo_vectors(a.n, a.dim, a.seed);
  write_npy(vectors_path, x.view());

  const std::unique_ptr<Quantizer> q = make_quantizer(a.spec, a.dim);
  TrainOptions opt;
  opt.seed = a.seed;
  opt.threads = a.threads;
  opt.progress = make_progress(a.quiet);
  const auto start = std::chrono::steady_clock::now();
  q->train(x, opt);
  finish_progress();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const Codes codes = q->encode(x);
  const Matrix decoded = q->decode(codes);
  std::printf("trained          %s in %.2f s\n", q->describe().c_str(), seconds);
  print_quality(*q, x, codes, decoded.view());

  save_quantizer(model_path, *q, {{"train.source", "vq demo"}, {"train.seed", std::to_string(a.seed)}});
  save_codes(codes_path, *q, codes, "vq demo");
  write_codes_npy(tokens_path, codes);

  // The round trip a user relies on: a model loaded from disk gives the same tokens, and a
  // codes file decodes to the same vectors.
  const size_t reencoded = count_differences(load_quantizer(model_path)->encode(x), codes);
  const ContainerReader codes_file = ContainerReader::from_file(codes_path);
  const size_t reread = count_differences(read_codes(codes_file), codes);
  const bool same_decode = read_quantizer(codes_file)->decode(codes).storage() == decoded.storage();
  VQ_CHECK(reencoded == 0 && reread == 0 && same_decode, "demo: reload check failed: ", reencoded,
           " codes differ after reloading the model, ", reread,
           " differ after reading the codes file, decoded vectors ", same_decode ? "equal" : "differ");
  std::printf("reload check     %s re-encodes all %zu×%zu codes identically; %s decodes identically\n",
              model_path.c_str(), codes.n, codes.num_books(), codes_path.c_str());
  std::printf("files            %s\n                 %s\n                 %s\n                 %s\n",
              vectors_path.c_str(), model_path.c_str(), codes_path.c_str(), tokens_path.c_str());
  std::printf("next             vq info %s\n                 vq decode %s -o decoded.npy\n",
              model_path.c_str(), codes_path.c_str());

  // Then each domain codec's own step on its bundled sample (audio, images, ...).
  const DemoContext context{dir.string(), a.threads, a.quiet};
  for (MediaCodec* codec : media_codecs()) codec->demo(context);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Train a tokenizer on generated vectors, encode, decode, save, reload and verify");
  cmd->add_option("--n", args->n, "Number of sample vectors")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--dim", args->dim, "Dimension of the sample vectors")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("-q,--quantizer", args->spec, "Quantizer spec (see vq train --help)")->capture_default_str();
  cmd->add_option("--out", args->out_dir, "Directory for the files it writes (default: $TMPDIR/vq-demo)");
  cmd->add_option("--seed", args->seed, "Seed of the sample and of training")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0: all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--quiet", args->quiet, "No progress display");
  cmd->footer(
      "Examples:\n"
      "  vq demo\n"
      "  vq demo --quantizer PQ8x8 --out demo-files\n"
      "  vq demo --n 5000 --dim 32 -q SQ4");
  cmd->callback([args] { run_demo(*args); });
}

}  // namespace vq::cli
