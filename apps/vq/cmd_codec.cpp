// vq encode / vq decode.
//
// The kind of input decides the codec, in one place (input_kind): vectors today; audio
// (.wav/.flac), images (.png/.jpg) and splat scenes (.ply) are recognised and reported as not
// yet supported, so each domain codec joins by filling its case in encode_file() and
// decode_file() without touching argument handling. A codes file carries its quantizer, so
// decode needs no model argument; "vq.kind" in its metadata picks the decoder.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

#include "cli.h"
#include "vq/core/io.h"
#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"

namespace vq::cli {
namespace {

enum class InputKind { kVectors, kAudio, kImage, kSplat, kUnknown };

std::string extension_of(const std::string& path) {
  const std::string name = base_name(path);
  const size_t dot = name.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : name.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

InputKind input_kind(const std::string& path) {
  const std::string ext = extension_of(path);
  if (ext == ".npy" || ext == ".fvecs" || ext == ".bvecs") return InputKind::kVectors;
  if (ext == ".wav" || ext == ".flac") return InputKind::kAudio;
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") return InputKind::kImage;
  if (ext == ".ply") return InputKind::kSplat;
  return InputKind::kUnknown;
}

struct EncodeArgs {
  std::string input, model, output, tokens;
  bool quiet = false;
};

void encode_vectors(const EncodeArgs& a) {
  const Matrix x = read_matrix(a.input);
  const std::unique_ptr<Quantizer> q = load_quantizer(a.model);
  const Codes codes = q->encode(x);

  write_codes_file(a.output, *q, codes, base_name(a.input));
  if (!a.tokens.empty()) write_codes_npy(a.tokens, codes);

  if (a.quiet) return;
  const Matrix decoded = q->decode(codes);
  std::printf("encoded          %zu vectors from %s\n", codes.n, a.input.c_str());
  print_quality(*q, x, codes, decoded.view());
  std::printf("saved            %s%s%s\n", a.output.c_str(), a.tokens.empty() ? "" : " and ",
              a.tokens.c_str());
}

void encode_file(const EncodeArgs& a) {
  std::string pending;  // a recognised input whose codec has not landed yet
  switch (input_kind(a.input)) {
    case InputKind::kVectors: return encode_vectors(a);
    case InputKind::kAudio: pending = "; audio encoding is not available yet"; break;
    case InputKind::kImage: pending = "; image encoding is not available yet"; break;
    case InputKind::kSplat: pending = "; 3D Gaussian splat encoding is not available yet"; break;
    case InputKind::kUnknown: break;
  }
  VQ_THROW("unsupported input type '", extension_of(a.input), "' (", a.input,
           "): vq encode reads vectors from .npy, .fvecs or .bvecs", pending);
}

struct DecodeArgs {
  std::string input, output;
};

void decode_file(const DecodeArgs& a) {
  const ContainerReader in = ContainerReader::from_file(a.input);
  const std::string kind = in.meta_or("vq.kind", "");
  VQ_CHECK(kind == "codes", a.input, ": holds '", kind, "', not codes",
           kind == "quantizer" ? " (it is a trained model: encode vectors with it first, vq encode X.npy -m MODEL -o CODES.vqc)" : "");
  const std::unique_ptr<Quantizer> q = read_quantizer(in);
  const Codes codes = read_codes(in);
  const Matrix decoded = q->decode(codes);
  write_matrix(a.output, decoded.view());
  std::printf("decoded          %zu vectors of dim %zu (%s) to %s\n", codes.n, q->dim(),
              q->describe().c_str(), a.output.c_str());
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto args = std::make_shared<EncodeArgs>();
  CLI::App* cmd = app.add_subcommand("encode", "Encode vectors into codes with a trained quantizer");
  cmd->add_option("input", args->input, "Vectors to encode: .npy, .fvecs or .bvecs")->required();
  cmd->add_option("-m,--model", args->model, "Trained quantizer (.vqc from vq train)")->required();
  cmd->add_option("-o,--output", args->output,
                  "Codes file (.vqc; carries the quantizer, so vq decode needs nothing else)")
      ->required();
  cmd->add_option("--tokens", args->tokens, "Also write the codes as an (n, M) integer .npy");
  cmd->add_flag("--quiet", args->quiet, "No summary");
  cmd->footer(
      "Examples:\n"
      "  vq encode x.npy -m rvq.vqc -o codes.vqc\n"
      "  vq encode base.fvecs -m pq.vqc -o codes.vqc --tokens tokens.npy");
  cmd->callback([args] { encode_file(*args); });
}

void add_decode_command(CLI::App& app) {
  auto args = std::make_shared<DecodeArgs>();
  CLI::App* cmd = app.add_subcommand("decode", "Decode a codes file back to vectors");
  cmd->add_option("input", args->input, "Codes file written by vq encode (.vqc)")->required();
  cmd->add_option("-o,--output", args->output, "Decoded vectors: .npy or .fvecs")->required();
  cmd->footer(
      "Examples:\n"
      "  vq decode codes.vqc -o x_hat.npy\n"
      "  vq decode codes.vqc -o x_hat.fvecs");
  cmd->callback([args] { decode_file(*args); });
}

}  // namespace vq::cli
