// vq train: learn a quantizer from vectors in .npy / .fvecs and save it as a .vqc file.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli.h"
#include "output_files.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/matrix_io.h"

namespace vq::cli {
namespace {

struct TrainArgs {
  std::string input, output, spec, metric = "identity", weights;
  size_t beam = 0;
  uint64_t seed = 1234;
  int threads = 0, iterations = 20;
  bool quiet = false;
};

// The spec with --beam applied; --beam on a family without a beam is a usage error.
std::string effective_spec(const TrainArgs& a) {
  if (a.beam == 0) return a.spec;
  QuantizerSpec s = parse_quantizer_spec(a.spec);
  if (s.family != "RVQ" && s.family != "GRVQ" && s.family != "AQ")
    throw UsageError("--beam applies to RVQ, GRVQ and AQ, not to " + a.spec);
  s.beam = a.beam;
  return s.to_string();
}

// The file of "--metric diag:FILE.npy" / "full:FILE.npy" (empty for identity).
std::string metric_file(const std::string& spec) {
  const size_t colon = spec.find(':');
  return colon == std::string::npos ? std::string() : spec.substr(colon + 1);
}

void run_train(const TrainArgs& a) {
  check_distinct_files({{"input", a.input}, {"--metric", metric_file(a.metric)}, {"--weights", a.weights}},
                       {{"output -o", a.output}});
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const Matrix x = read_matrix(a.input);
  VQ_CHECK(x.rows() > 0 && x.cols() > 0, a.input, ": no vectors to train on");
  const std::unique_ptr<Quantizer> q = make_quantizer(effective_spec(a), x.cols());

  TrainOptions opt;
  opt.metric = load_metric(a.metric, x.cols());
  std::vector<float> weights;
  if (!a.weights.empty()) weights = load_weights(a.weights, x.rows());
  opt.weights = weights;
  opt.seed = a.seed;
  opt.threads = a.threads;
  opt.iterations = a.iterations;
  opt.progress = make_progress(a.quiet);

  const auto start = std::chrono::steady_clock::now();
  q->train(x, opt);
  finish_progress();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  save_quantizer(a.output, *q,
                 {{"train.source", base_name(a.input)},
                  {"train.vectors", std::to_string(x.rows())},
                  {"train.seed", std::to_string(a.seed)},
                  {"train.iterations", std::to_string(a.iterations)},
                  {"train.metric", opt.metric.describe()},
                  {"train.weighted", a.weights.empty() ? "no" : "yes"}});

  const Codes codes = q->encode(x);
  const Matrix decoded = q->decode(codes);
  std::printf("trained          %s on %zu×%zu vectors from %s in %.2f s\n", q->describe().c_str(),
              x.rows(), x.cols(), a.input.c_str(), seconds);
  print_quality(*q, x, codes, decoded.view());
  std::printf("saved            %s\n", a.output.c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a quantizer on vectors and save it (.vqc)");
  cmd->add_option("input", args->input, "Training vectors: .npy (n×d, any numeric dtype), .fvecs or .bvecs")
      ->required();
  cmd->add_option("-o,--output", args->output, "Where to write the trained quantizer (.vqc)")->required();
  cmd->add_option("-q,--quantizer", args->spec,
                  "Quantizer spec: VQ<b>, PQ<M>x<b>, RVQ<L>x<b>[b<B>], GRVQ<G>x<L>x<b>[b<B>], "
                  "AQ<M>x<b>[b<B>], SQ<b>[g<G>], NF4[g<G>], FP8[g<G>]")
      ->required();
  cmd->add_option("--beam", args->beam, "Beam width for RVQ / GRVQ / AQ (overrides the spec's b<B>)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--metric", args->metric,
                  "Error metric H: identity, diag:FILE.npy (d weights) or full:FILE.npy (d×d PSD)")
      ->capture_default_str();
  cmd->add_option("--weights", args->weights, "Per-vector weights (.npy, shape (n,), >= 0)");
  cmd->add_option("--seed", args->seed, "Random seed (training is deterministic per seed and threads)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0: all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--iters", args->iterations, "k-means iterations per codebook")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--quiet", args->quiet, "No progress display (the summary still goes to stdout)");
  cmd->footer(
      "Examples:\n"
      "  vq train x.npy -o rvq.vqc --quantizer RVQ8x8\n"
      "  vq train x.fvecs -o pq.vqc -q PQ16x8 --threads 4 --seed 7\n"
      "  vq train w.npy -o aq.vqc -q AQ2x8 --beam 16 --metric full:hessian.npy\n"
      "  vq train x.npy -o sq.vqc -q NF4g64 --quiet");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace vq::cli
