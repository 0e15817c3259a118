// vq info: what a .vqc file holds — header, metadata, chunk list, and the quantizer and codes
// inside, loaded through the same validating readers as every other command.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"
#include "media_codec.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/embedded_model.h"
#include "vq/core/io.h"
#include "vq/core/kmeans.h"
#include "vq/core/scalar_quantizer.h"

namespace vq::cli {
namespace {

// What book m of q holds, e.g. "256 entries (8 bits) × 16 dims".
std::string book_shape(const Quantizer& q, size_t m, uint8_t bits) {
  if (const auto* cq = dynamic_cast<const CodebookQuantizer*>(&q))
    return detail::concat(size_t{1} << bits, " entries (", int(bits), " bits) × ", cq->books()[m].dim,
                          " dims");
  if (const auto* sq = dynamic_cast<const ScalarQuantizer*>(&q); sq && m >= sq->dim())
    return detail::concat("fp16 scale of ", sq->group(), " dims (16 bits)");
  return detail::concat(size_t{1} << bits, " levels (", int(bits), " bits) × 1 dim");
}

// One line per run of consecutive books with the same shape: SQ on 1024 dims has 1024 books.
void print_books(const Quantizer& q) {
  const std::vector<uint8_t> bits = q.book_bits();
  std::vector<std::string> shapes;
  for (size_t m = 0; m < bits.size(); ++m) shapes.push_back(book_shape(q, m, bits[m]));
  const auto* cq = dynamic_cast<const CodebookQuantizer*>(&q);
  std::printf("books            %zu\n", bits.size());
  for (size_t m = 0; m < shapes.size();) {
    size_t end = m + 1;
    while (end < shapes.size() && shapes[end] == shapes[m]) ++end;
    const std::string range = end - m == 1 ? detail::concat("book ", m)
                                           : detail::concat("books ", m, "-", end - 1);
    std::printf("  %-14s %s", range.c_str(), shapes[m].c_str());
    if (cq && end - m == 1) std::printf(" at offset %zu", cq->books()[m].offset);
    std::printf("\n");
    m = end;
  }
}

// A quantizer's lines, labels in vq info's 17-column field (indented ones for embedded models).
void print_quantizer(const Quantizer& q, const std::string& indent = "") {
  const int width = 16 - int(indent.size());
  auto line = [&](const char* label, const std::string& value) {
    std::printf("%s%-*s %s\n", indent.c_str(), width, label, value.c_str());
  };
  line("quantizer", q.describe());
  line("dim", std::to_string(q.dim()));
  line("bits per vector", std::to_string(q.bits_per_vector()));
  line("metric", q.metric().describe());
  if (indent.empty()) print_books(q);
  line("self-test", "passed");
}

// One line per book: its entries ranked by how often they were chosen, drawn as bars of eight
// heights (each column the mean count of its ranks, scaled to the most used entry). A flat
// line is a book used evenly; a short ramp and a long empty tail, a book whose entries
// mostly go unused.
void print_usage_histograms(const Codes& codes) {
  constexpr size_t kColumns = 64;
  static const char* const kBars[] = {" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  std::printf("usage            book  entries  perplexity  dead  entries by use, most used first\n");
  for (size_t m = 0; m < codes.num_books(); ++m) {
    const CodebookUsage u = codebook_usage(codes, m);
    std::vector<uint64_t> ranked = u.counts;
    std::sort(ranked.begin(), ranked.end(), std::greater<>());
    const size_t columns = std::min(kColumns, ranked.size());
    const double top = ranked.empty() || ranked[0] == 0 ? 1.0 : double(ranked[0]);
    std::string bars;
    for (size_t c = 0; c < columns; ++c) {
      const size_t begin = c * ranked.size() / columns, end = (c + 1) * ranked.size() / columns;
      double sum = 0;
      for (size_t i = begin; i < end; ++i) sum += double(ranked[i]);
      const double mean = sum / double(std::max<size_t>(end - begin, 1));
      // Any use shows at least the lowest bar, so dead entries stand out as blanks.
      const int level = mean <= 0 ? 0 : std::max(1, int(std::lround(8.0 * mean / top)));
      bars += kBars[std::min(level, 8)];
    }
    std::printf("                 %4zu  %7zu  %10.1f  %4zu  |%s|\n", m, u.counts.size(), u.perplexity, u.dead,
                bars.c_str());
  }
}

void run_info(const std::string& path, bool usage) {
  const ContainerReader in = ContainerReader::from_file(path);
  std::printf("file             %s\n", path.c_str());
  std::printf("format version   %u\n", in.version());
  std::printf("metadata\n");
  for (const auto& [key, value] : in.meta()) std::printf("  %-22s %s\n", key.c_str(), value.c_str());
  std::printf("chunks           type  %12s  %12s\n", "offset", "size");
  for (const ContainerReader::ChunkInfo& c : in.chunks())
    std::printf("                 %-4s  %12llu  %12llu\n", c.type.c_str(),
                static_cast<unsigned long long>(c.offset), static_cast<unsigned long long>(c.length));

  if (in.meta().count("quantizer.spec")) print_quantizer(*read_quantizer(in));  // also runs the self-test
  // Models embedded in this one (embedded_model.h), each loaded as its reader would.
  std::map<std::string, size_t> seen;
  for (const ContainerReader::ChunkInfo& c : in.chunks()) {
    const size_t index = seen[c.type]++;
    if (!is_embedded_container(in.payload(c.type, index))) continue;
    const ContainerReader sub = read_embedded_container(in, c.type, index);
    const std::string kind = sub.meta_or("vq.kind", "");
    std::printf("embedded         chunk %s #%zu: %s, %zu bytes\n", c.type.c_str(), index,
                kind.empty() ? "(no vq.kind)" : kind.c_str(), sub.stored_bytes().size());
    if (kind == "quantizer") print_quantizer(*read_embedded_quantizer(in, c.type, index), "  ");
  }
  if (in.has("CODE")) {
    const Codes codes = read_codes(in);
    std::printf("codes            %zu vectors × %zu books, %zu bits per vector\n", codes.n,
                codes.num_books(), codes.bits_per_vector());
    if (usage) print_usage_histograms(codes);
  }
  if (MediaCodec* codec = codec_for_kind(in.meta_or("vq.kind", ""))) codec->print_info(in);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto usage = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("info", "Show what a .vqc file holds");
  cmd->add_option("file", *path, "A .vqc file (model or codes)")->required();
  cmd->add_flag("--usage", *usage, "For codes: how evenly each book's entries are used, drawn as a histogram");
  cmd->footer(
      "Examples:\n"
      "  vq info model.vqc\n"
      "  vq info codes.vqc --usage");
  cmd->callback([path, usage] { run_info(*path, *usage); });
}

}  // namespace vq::cli
