#include "vq/core/index_io.h"

#include <memory>

#include "vq/core/io.h"

namespace vq {

namespace {

ContainerWriter index_container(const CodeIndex& index) {
  ContainerWriter out;
  out.set_meta("vq.kind", "index");
  out.set_meta("index.distance", search_metric_name(index.metric()));
  out.set_meta("index.vectors", std::to_string(index.size()));
  write_quantizer(out, index.quantizer());
  write_codes(out, index.codes());
  return out;
}

}  // namespace

const char* search_metric_name(SearchMetric metric) {
  return metric == SearchMetric::kInnerProduct ? "ip" : "l2";
}

SearchMetric parse_search_metric(const std::string& name) {
  if (name == "l2") return SearchMetric::kL2;
  if (name == "ip") return SearchMetric::kInnerProduct;
  VQ_THROW("search distance must be 'l2' or 'ip', got '", name, "'");
}

void save_index(const std::string& path, const CodeIndex& index) { index_container(index).write(path); }

CodeIndex read_index(const ContainerReader& in) {
  const std::string kind = in.meta_or("vq.kind", "");
  VQ_CHECK(kind == "index", in.name(), ": holds '", kind.empty() ? "(no vq.kind)" : kind,
           "', not a search index");
  SearchMetric metric;
  try {
    metric = parse_search_metric(in.meta_at("index.distance"));
  } catch (const Error& e) {
    VQ_THROW(in.name(), ": metadata 'index.distance': ", e.what());
  }
  std::shared_ptr<const Quantizer> q = read_quantizer(in);
  const Codes codes = read_codes(in);
  const std::string claimed = in.meta_at("index.vectors");
  VQ_CHECK(claimed == std::to_string(codes.n), in.name(), ": metadata index.vectors says ", claimed,
           " vectors, but the codes hold ", codes.n);
  VQ_CHECK(codes.bits == q->book_bits(), in.name(), ": the codes' book widths do not match its ",
           q->describe(), " quantizer");
  CodeIndex index(std::move(q), metric);
  index.add(codes);
  return index;
}

CodeIndex load_index(const std::string& path) { return read_index(ContainerReader::from_file(path)); }

std::vector<uint8_t> index_to_bytes(const CodeIndex& index) { return index_container(index).to_bytes(); }

CodeIndex index_from_bytes(Span<const uint8_t> bytes) {
  return read_index(ContainerReader::from_bytes(bytes, "index bytes"));
}

}  // namespace vq
