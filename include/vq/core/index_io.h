// Index files: a CodeIndex (search.h) saved and loaded, so a searchable collection of codes is
// built once and reopened by any process, the CLI and Python included.
//
// An index file is a codes file (io.h) that also names its search distance:
//   metadata "vq.kind" = "index", "index.distance" = "l2" | "ip", "index.vectors" = n (decimal),
//   then the quantizer (write_quantizer, with its self-test) and the codes (write_codes).
// The codes are stored row-major in id order, not in the scan layout: the layout depends on the
// CPU (8-bit blocks only with AVX-512 VBMI), so the loading process re-adds the codes and gets
// the layout its own CPU scans fastest. Loading n codes costs what add() of them costs (for RVQ
// and AQ under L2 that includes ||x̂||² per vector), far less than encoding them again.
#pragma once

#include <string>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/search.h"

namespace vq {

// "l2" / "ip", and back (throws vq::Error on any other name).
const char* search_metric_name(SearchMetric metric);
SearchMetric parse_search_metric(const std::string& name);

// The write is atomic (container.h).
void save_index(const std::string& path, const CodeIndex& index);
// Throws vq::Error when the container is not an index, when "index.vectors" disagrees with the
// codes, or when the codes do not fit the quantizer's books.
CodeIndex read_index(const ContainerReader& in);
CodeIndex load_index(const std::string& path);

// The same bytes as save_index writes, in memory (pickling).
std::vector<uint8_t> index_to_bytes(const CodeIndex& index);
CodeIndex index_from_bytes(Span<const uint8_t> bytes);

}  // namespace vq
