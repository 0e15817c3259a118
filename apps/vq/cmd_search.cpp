// vq search: the k nearest stored vectors of each query, scored from the codes (no decoding).
// BASE is an index file (CodeIndex saved by the C++ or Python API: it names its distance) or a
// codes file from `vq encode` (the distance comes from --distance).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "cli.h"
#include "output_files.h"
#include "vq/core/index_io.h"
#include "vq/core/io.h"
#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"

namespace vq::cli {
namespace {

struct SearchArgs {
  std::string base, queries, output, distances, distance;
  size_t k = 10;
  int threads = 0;
};

CodeIndex open_base(const SearchArgs& a) {
  const ContainerReader in = ContainerReader::from_file(a.base);
  const std::string kind = in.meta_or("vq.kind", "");
  if (kind == "index") {
    CodeIndex index = read_index(in);
    if (!a.distance.empty() && parse_search_metric(a.distance) != index.metric())
      throw UsageError("--distance " + a.distance + ": " + a.base + " is an index for '" +
                       search_metric_name(index.metric()) + "' distances");
    return index;
  }
  VQ_CHECK(kind == "codes", a.base, ": holds '", kind.empty() ? "(no vq.kind)" : kind,
           "'; vq search reads an index or a codes file from vq encode");
  CodesFile f = read_codes_file(in);
  CodeIndex index(std::shared_ptr<const Quantizer>(std::move(f.quantizer)),
                  parse_search_metric(a.distance.empty() ? "l2" : a.distance));
  index.add(f.codes);
  return index;
}

// (nq, k) array of dtype `type` from values.
template <class T>
NpyArray array_of(NpyDType type, const std::vector<T>& values, size_t nq, size_t k) {
  NpyArray out;
  out.dtype = type;
  out.shape = {nq, k};
  out.bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.bytes.data(), values.data(), out.bytes.size());
  return out;
}

void run_search(const SearchArgs& a) {
  check_distinct_files({{"base", a.base}, {"queries", a.queries}},
                       {{"output -o", a.output}, {"--distances", a.distances}});
  if (!a.distance.empty()) (void)parse_search_metric(a.distance);  // a typo fails before any reading
  if (a.threads > 0) omp_set_num_threads(a.threads);
  const CodeIndex index = open_base(a);
  const Matrix queries = read_matrix(a.queries);
  VQ_CHECK(queries.cols() == index.quantizer().dim(), a.queries, ": queries have ", queries.cols(),
           " columns, ", a.base, " holds vectors of dimension ", index.quantizer().dim());

  const auto start = std::chrono::steady_clock::now();
  const SearchResult r = index.search(queries, a.k, a.threads);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  StagedOutputs out;
  write_npy(out.stage(a.output), array_of(NpyDType::kInt64, r.labels, r.nq, r.k));
  if (!a.distances.empty()) write_npy(out.stage(a.distances), array_of(NpyDType::kFloat32, r.distances, r.nq, r.k));
  out.commit();

  std::printf("searched         %zu queries × %zu vectors (%s, %s), top %zu, in %.3f s (%.0f queries/s)\n",
              r.nq, index.size(), index.quantizer().describe().c_str(), search_metric_name(index.metric()),
              r.k, seconds, seconds > 0 ? double(r.nq) / seconds : 0.0);
  std::printf("saved            %s (ids, int64; -1 where fewer than k vectors)\n", a.output.c_str());
  if (!a.distances.empty())
    std::printf("saved            %s (%s, float32)\n", a.distances.c_str(),
                index.metric() == SearchMetric::kL2 ? "squared distances" : "inner products");
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Find the nearest encoded vectors of each query, from the codes");
  cmd->add_option("base", args->base, "An index (.vqc, saved by CodeIndex) or a codes file from vq encode")
      ->required();
  cmd->add_option("queries", args->queries, "Query vectors: .npy (nq×d), .fvecs or .bvecs")->required();
  cmd->add_option("-o,--output", args->output, "Where to write the ids of the neighbours (.npy, nq×k int64)")
      ->required();
  cmd->add_option("-k", args->k, "Neighbours per query")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--distances", args->distances,
                  "Also write their scores (.npy, nq×k float32: squared L2, or inner products)");
  cmd->add_option("--distance", args->distance,
                  "l2 (smallest squared distance first) or ip (largest inner product first); "
                  "an index file names its own, a codes file defaults to l2");
  cmd->add_option("--threads", args->threads, "Worker threads (0: all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  vq encode base.npy -m pq.vqc -o base_codes.vqc\n"
      "  vq search base_codes.vqc queries.npy -k 10 -o nn.npy\n"
      "  vq search base_codes.vqc queries.npy -k 100 --distance ip -o nn.npy --distances scores.npy\n"
      "  vq search index.vqc queries.fvecs -o nn.npy        an index saved by vq.CodeIndex.save()");
  cmd->callback([args] { run_search(*args); });
}

}  // namespace vq::cli
