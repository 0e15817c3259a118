// vq info: what a .vqc file holds — header, metadata, chunk list, and the quantizer and codes
// inside, loaded through the same validating readers as every other command.
#include <cstdio>
#include <memory>

#include "cli.h"
#include "media_codec.h"
#include "vq/core/codebook_quantizer.h"
#include "vq/core/io.h"
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

void run_info(const std::string& path) {
  const ContainerReader in = ContainerReader::from_file(path);
  std::printf("file             %s\n", path.c_str());
  std::printf("format version   %u\n", in.version());
  std::printf("metadata\n");
  for (const auto& [key, value] : in.meta()) std::printf("  %-22s %s\n", key.c_str(), value.c_str());
  std::printf("chunks           type  %12s  %12s\n", "offset", "size");
  for (const ContainerReader::ChunkInfo& c : in.chunks())
    std::printf("                 %-4s  %12llu  %12llu\n", c.type.c_str(),
                static_cast<unsigned long long>(c.offset), static_cast<unsigned long long>(c.length));

  if (in.meta().count("quantizer.spec")) {
    const std::unique_ptr<Quantizer> q = read_quantizer(in);  // also runs the self-test
    std::printf("quantizer        %s\n", q->describe().c_str());
    std::printf("dim              %zu\n", q->dim());
    std::printf("bits per vector  %zu\n", q->bits_per_vector());
    std::printf("metric           %s\n", q->metric().describe().c_str());
    print_books(*q);
    std::printf("self-test        passed\n");
  }
  if (in.has("CODE")) {
    const Codes codes = read_codes(in);
    std::printf("codes            %zu vectors × %zu books, %zu bits per vector\n", codes.n,
                codes.num_books(), codes.bits_per_vector());
  }
  if (MediaCodec* codec = codec_for_kind(in.meta_or("vq.kind", ""))) codec->print_info(in);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Show what a .vqc file holds");
  cmd->add_option("file", *path, "A .vqc file (model or codes)")->required();
  cmd->footer(
      "Examples:\n"
      "  vq info model.vqc\n"
      "  vq info codes.vqc");
  cmd->callback([path] { run_info(*path); });
}

}  // namespace vq::cli
