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
  in.expect_kind("index", "a search index");
  SearchMetric metric;
  try {
    metric = parse_search_metric(in.meta_at("index.distance"));
  } catch (const Error& e) {
    VQ_THROW(in.name(), ": metadata 'index.distance': ", e.what());
  }
  in.meta_at("index.vectors");  // required here; read_quantizer_and_codes checks its value
  CodesFile f = read_quantizer_and_codes(in, "index.vectors");
  CodeIndex index(std::shared_ptr<const Quantizer>(std::move(f.quantizer)), metric);
  index.add(f.codes);
  return index;
}

CodeIndex load_index(const std::string& path) { return read_index(ContainerReader::from_file(path)); }

std::vector<uint8_t> index_to_bytes(const CodeIndex& index) { return index_container(index).to_bytes(); }

CodeIndex index_from_bytes(Span<const uint8_t> bytes) {
  return read_index(ContainerReader::from_bytes(bytes, "index bytes"));
}

}  // namespace vq
