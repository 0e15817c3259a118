// (private to the vq CLI) What the subcommands share: registration, usage errors, progress
// display, loading of training-time inputs and the summary lines every command prints.
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

#include "vq/core/metric.h"
#include "vq/core/progress.h"
#include "vq/core/communicator.h"
#include "vq/core/quantizer.h"

namespace vq::cli {

// A command line that parsed but makes no sense (e.g. --beam for PQ): exit code 2, like a
// CLI11 parse error. Errors about the data and files are vq::Error: exit code 1.
class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

// Each adds its subcommand to the app; the subcommand's callback runs the command.
void add_train_command(CLI::App& app);
void add_encode_command(CLI::App& app);
void add_decode_command(CLI::App& app);
void add_search_command(CLI::App& app);  // cmd_search.cpp
void add_eval_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_weights_command(CLI::App& app);  // cmd_weights.cpp

// "0.1.0 (container format 1)".
std::string version_string();

// Progress on stderr: a redrawn bar when stderr is a terminal, otherwise one plain line per
// finished stage (logs stay short). Quiet: nothing.
ProgressCallback make_progress(bool quiet);
// Ends a bar left on the current terminal line (no-op otherwise).
void finish_progress();

// "--metric identity | diag:FILE.npy | full:FILE.npy" for vectors of dimension d.
Metric load_metric(const std::string& spec, size_t d);
// One weight per training vector from an (n,) or (n, 1) array.
std::vector<float> load_weights(const std::string& path, size_t n);

// Squared errors and norms of vectors against their reconstructions, and how often each code is
// used, summed chunk by chunk (and over ranks) for files that are never in memory at once.
struct QualitySums {
  explicit QualitySums(const std::vector<uint8_t>& book_bits);  // the quantizer's book widths
  double err = 0, energy = 0, err_h = 0, energy_h = 0, rows = 0;  // *_h: under the metric
  std::vector<std::vector<double>> counts;                         // per book, per entry
  void add(const Quantizer& q, MatrixView<const float> x, const Codes& codes, MatrixView<const float> decoded);
  void reduce(const Communicator& comm);
};

// Prints, to stdout: spec, dim, bits/vector, relative error of x against its reconstruction
// (MSE / mean squared norm, and under the metric when it is not the identity), and per-book
// perplexity and dead codes.
void print_quality(const Quantizer& q, const QualitySums& sums);
void print_quality(const Quantizer& q, MatrixView<const float> x, const Codes& codes,
                   MatrixView<const float> decoded);

// The memory a command may use for the rows it holds (--max-memory, global): training reads a
// sample of rows that fits it, encoding streams the input in chunks that fit it. 0 (default):
// a quarter of the machine's physical memory.
void set_memory_bound(uint64_t bytes);
uint64_t memory_bound();

// File name without directories, for metadata.
std::string base_name(const std::string& path);

}  // namespace vq::cli
