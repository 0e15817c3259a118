// vq train: learn a quantizer from vectors in .npy / .fvecs and save it as a .vqc file.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <memory>

#include "cli.h"
#include "cli_ranks.h"
#include "output_files.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/matrix_file.h"
#include "vq/core/matrix_io.h"
#include "vq/core/rng.h"

namespace vq::cli {
namespace {

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string output, spec, metric = "identity", weights;
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

bool is_manifest(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".txt" || ext == ".TXT";
}

// Training holds about this many copies of its rows (the rows, the residuals or sub-vectors the
// trainers copy, k-means' subsample): what --max-memory is divided by.
constexpr size_t kTrainingCopies = 3;
// The seed stream of the row sample, apart from the trainers' own streams.
constexpr uint64_t kSampleStream = 0x5a3b1eULL;

void run_train(const TrainArgs& a) {
  // The training files: the inputs in order, or the shards a .txt manifest lists.
  const std::vector<std::string> shards =
      a.inputs.size() == 1 && is_manifest(a.inputs[0]) ? read_shard_list(a.inputs[0]) : a.inputs;
  std::vector<NamedFile> inputs{{"--metric", metric_file(a.metric)}, {"--weights", a.weights}};
  for (const std::string& s : shards) inputs.push_back({"input", s});
  if (shards != a.inputs) inputs.push_back({"input", a.inputs[0]});
  check_distinct_files(inputs, {{"output -o", a.output}});
  // "x.npy", or "part-0.npy and 7 more" for shards: in messages (path) and metadata (name).
  const std::string more = shards.size() == 1 ? "" : " and " + std::to_string(shards.size() - 1) + " more";
  const std::string source = shards[0] + more;
  if (a.threads > 0) omp_set_num_threads(a.threads);
  // The training rows: the whole file, or a uniform sample of it when the file does not fit the
  // memory bound (kmeans keeps at most 256 rows per centroid anyway). Under mpirun every rank
  // reads only its block of them.
  const Communicator& comm = ranks();
  const bool distributed = comm.size() > 1;
  const MatrixFiles file(shards);
  VQ_CHECK(file.rows() > 0 && file.cols() > 0, source, ": no vectors to train on");
  const size_t total = file.rows();
  const size_t fitting = std::max<uint64_t>(1, memory_bound() / (kTrainingCopies * file.cols() * sizeof(float)));
  std::vector<size_t> rows;  // global rows trained on, ascending; empty: all
  if (total > fitting) rows = sample_without_replacement(total, fitting, a.seed ^ kSampleStream);
  const size_t used = rows.empty() ? total : rows.size();
  const RowBlock mine = rank_rows(used, comm.rank(), comm.size());
  const std::unique_ptr<Quantizer> q = make_quantizer(effective_spec(a), file.cols());
  VQ_CHECK(!distributed || q->supports_distributed_training(), q->describe(),
           " does not train across processes yet (a learned rotation does not): run it without mpirun");
  const Matrix x = rows.empty() ? file.read_rows(mine.begin, mine.end - mine.begin)
                                : file.read_rows_at(Span<const size_t>(rows).subspan(mine.begin, mine.end - mine.begin));

  TrainOptions opt;
  opt.metric = load_metric(a.metric, x.cols());
  std::vector<float> weights;
  if (!a.weights.empty()) {
    const std::vector<float> all = load_weights(a.weights, total);
    for (size_t i = mine.begin; i < mine.end; ++i) weights.push_back(all[rows.empty() ? i : rows[i]]);
  }
  opt.weights = weights;
  opt.seed = a.seed;
  opt.threads = a.threads;
  opt.iterations = a.iterations;
  opt.progress = make_progress(a.quiet || !is_root());
  if (distributed) opt.comm = &comm;

  const auto start = std::chrono::steady_clock::now();
  q->train(x, opt);
  finish_progress();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (is_root())
    save_quantizer(a.output, *q,
                   {{"train.source", base_name(shards[0]) + more},
                    {"train.vectors", std::to_string(used)},
                    {"train.seed", std::to_string(a.seed)},
                    {"train.iterations", std::to_string(a.iterations)},
                    {"train.metric", opt.metric.describe()},
                    {"train.weighted", a.weights.empty() ? "no" : "yes"}});

  if (is_root() && used < total)
    std::printf("sampled          %zu of %zu rows, to fit --max-memory %.0f MiB\n", used, total,
                double(memory_bound()) / double(1 << 20));
  // The model's error and code usage on the training rows, over every rank's.
  QualitySums sums(q->book_bits());
  const Codes codes = q->encode(x);
  sums.add(*q, x, codes, q->decode(codes).view());
  sums.reduce(comm);
  if (!is_root()) return;
  const std::string over = distributed ? " over " + std::to_string(comm.size()) + " ranks" : "";
  std::printf("trained          %s on %zu×%zu vectors from %s%s in %.2f s\n", q->describe().c_str(), used,
              file.cols(), source.c_str(), over.c_str(), seconds);
  print_quality(*q, sums);
  std::printf("saved            %s\n", a.output.c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a quantizer on vectors and save it (.vqc)");
  cmd->add_option("input", args->inputs,
                  "Training vectors: .npy (n×d, any numeric dtype), .fvecs or .bvecs; several files (shards of one "
                  "set, the same dimension) are read as one, in order, and so are the files a .txt lists (one per line)")
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
      "  vq train x.npy -o sq.vqc -q NF4g64 --quiet\n"
      "  vq train part-*.npy -o pq.vqc -q PQ16x8           (shards, read as one set)\n"
      "  mpirun -np 4 vq train big.npy -o pq.vqc -q PQ16x8 --threads 1\n"
      "Under mpirun (every family but the rotated r<N> ones), each rank reads only its block of rows and the ranks train\n"
      "one model together, equal to a single-process run up to the order of sums; rank 0 writes it.");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace vq::cli
