// vq encode / vq decode / vq eval: the commands shared by every codec (media_codec.h).
//
// The input picks the codec: its extension for encode and eval, the "vq.kind" of the .vqc for
// decode. This file owns the arguments, the default output names and the errors for inputs no
// codec takes; the codecs own everything about their data.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli.h"
#include "media_codec.h"
#include "cli_ranks.h"
#include "output_files.h"

namespace vq::cli {
namespace {

// "'.npy', '.fvecs', ..." over every codec, for errors that list what is accepted.
std::string accepted_inputs() {
  std::string list;
  for (const MediaCodec* c : media_codecs()) {
    list += list.empty() ? "" : "; ";
    list += c->name() + ":";
    for (const std::string& ext : c->extensions()) list += " " + ext;
  }
  return list;
}

MediaCodec& codec_for_input_or_throw(const std::string& path, const char* command) {
  MediaCodec* codec = codec_for_input(path);
  VQ_CHECK(codec, "unsupported input type '", extension_of(path), "' (", path, "): vq ", command,
           " reads ", accepted_inputs());
  return *codec;
}

// The options each codec added to a shared command (--bitrate: audio, --levels: image, ...).
using OwnedOptions = std::vector<std::pair<const CLI::Option*, const MediaCodec*>>;

// Adds every codec's options to cmd through add(codec, cmd), remembering which codec owns which.
template <class Add>
std::shared_ptr<OwnedOptions> add_codec_options(CLI::App& cmd, Add add) {
  auto owned = std::make_shared<OwnedOptions>();
  for (MediaCodec* c : media_codecs()) {
    const size_t before = cmd.get_options().size();
    add(*c, cmd);
    const auto all = cmd.get_options();
    for (size_t i = before; i < all.size(); ++i) owned->emplace_back(all[i], c);
  }
  return owned;
}

// An option of another medium given on the command line would otherwise be ignored with exit 0
// (vq encode photo.png --bitrate 1.5k): the user meant something the command does not do.
void reject_foreign_options(const OwnedOptions& owned, const MediaCodec& codec, const std::string& input,
                            const char* command) {
  for (const auto& [option, owner] : owned)
    if (owner != &codec && option->count() > 0)
      throw UsageError(detail::concat("vq ", command, " ", input, ": ", option->get_name(), " is an option for ",
                                      owner->name(), ", and ", input, " is ", codec.name(), " (options for ",
                                      codec.name(), " are listed by vq ", command, " --help)"));
}

// An output name the user did not give never replaces an existing file: decoding x.vqc must not
// silently overwrite the x.npy it came from.
std::string default_output(const std::string& input, const std::string& extension) {
  const std::string output = replace_extension(input, extension);
  VQ_CHECK(!std::filesystem::exists(output), output,
           " already exists; name the output with -o to replace it (input ", input, ")");
  return output;
}

void encode_file(EncodeRequest r, const OwnedOptions& owned) {
  MediaCodec& codec = codec_for_input_or_throw(r.input, "encode");
  reject_foreign_options(owned, codec, r.input, "encode");
  if (r.output.empty()) r.output = default_output(r.input, ".vqc");
  check_distinct_files({{"input", r.input}, {"model -m", r.model}}, {{"output -o", r.output}, {"--tokens", r.tokens}});
  StagedOutputs staged;
  r.output_file = staged.stage(r.output);
  r.tokens_file = staged.stage(r.tokens);
  codec.encode(r);
  // Under mpirun rank 0 writes the outputs (the vectors codec gathers the ranks' codes there);
  // the other ranks, and the media codecs' duplicate runs, leave nothing behind.
  if (is_root()) staged.commit();
}

void decode_file(DecodeRequest r) {
  const ContainerReader in = ContainerReader::from_file(r.input);
  const std::string kind = in.meta_or("vq.kind", "");
  MediaCodec* codec = codec_for_kind(kind);
  VQ_CHECK(codec, r.input, ": holds '", kind, "', not codes",
           kind == "quantizer" ? " (it is a trained model: encode with it first, vq encode IN -m MODEL -o CODES.vqc)" : "");
  if (r.output.empty()) r.output = default_output(r.input, codec->decoded_extension());
  check_distinct_files({{"input", r.input}}, {{"output -o", r.output}});
  codec->decode(in, r);
}

struct EvalRequest {
  std::string reference, decoded;
  std::string plot;  // --plot FILE.svg; empty: no chart
};

// --plot writes SVG only (svg_chart.h: no image library); a .png or .pdf name would get SVG
// bytes under the wrong extension, so it is refused before anything is read.
void check_plot_name(const std::string& plot) {
  if (plot.empty()) return;
  const std::string ext = extension_of(plot);
  if (ext != ".svg")
    throw UsageError("--plot " + plot + ": vq eval writes the chart as SVG (opens in any browser); name the file " +
                     replace_extension(plot, ".svg"));
}

void eval_files(const EvalRequest& r, const OwnedOptions& owned) {
  MediaCodec& codec = codec_for_input_or_throw(r.reference, "eval");
  reject_foreign_options(owned, codec, r.reference, "eval");
  VQ_CHECK(codec.has_eval(), r.reference, ": vq eval has no quality measure for ", codec.name(), " yet");
  // Identity first: --plot naming an input is refused as every command refuses it, whatever
  // its extension.
  check_distinct_files({{"reference", r.reference}, {"decoded", r.decoded}}, {{"--plot", r.plot}});
  check_plot_name(r.plot);
  if (r.plot.empty()) {
    codec.eval(r.reference, r.decoded, nullptr);
    return;
  }
  Chart chart;
  codec.eval(r.reference, r.decoded, &chart);
  StagedOutputs staged;
  write_svg(staged.stage(r.plot), chart, r.plot);
  staged.commit();
  std::printf("plot             %s\n", r.plot.c_str());
}

}  // namespace

void add_encode_command(CLI::App& app) {
  auto r = std::make_shared<EncodeRequest>();
  CLI::App* cmd = app.add_subcommand(
      "encode", "Encode a file into tokens: vectors with a trained quantizer, or a medium with its codec");
  cmd->add_option("input", r->input, "The file to encode; its type picks the codec (" + accepted_inputs() + ")")
      ->required();
  cmd->add_option("-m,--model", r->model,
                  "Trained model (.vqc); required for vectors, otherwise the codec's default model");
  cmd->add_option("-o,--output", r->output,
                  "Codes file (.vqc; carries what vq decode needs). Default: INPUT with .vqc, if no such file exists");
  cmd->add_option("--tokens", r->tokens, "Also write the tokens as an integer .npy");
  cmd->add_flag("--quiet", r->quiet, "No summary");
  const auto owned = add_codec_options(*cmd, [](MediaCodec& c, CLI::App& a) { c.add_encode_options(a); });
  cmd->footer(
      "Examples:\n"
      "  vq encode x.npy -m rvq.vqc -o codes.vqc\n"
      "  vq encode base.fvecs -m pq.vqc -o codes.vqc --tokens tokens.npy");
  cmd->callback([r, owned] { encode_file(*r, *owned); });
}

void add_decode_command(CLI::App& app) {
  auto r = std::make_shared<DecodeRequest>();
  CLI::App* cmd = app.add_subcommand("decode", "Decode a codes file written by vq encode");
  cmd->add_option("input", r->input, "Codes file written by vq encode (.vqc)")->required();
  cmd->add_option("-o,--output", r->output,
                  "Decoded file. Default: INPUT with the codec's extension (.npy for vectors), if no such file exists");
  cmd->add_flag("--quiet", r->quiet, "No summary");
  cmd->footer(
      "Examples:\n"
      "  vq decode codes.vqc -o x_hat.npy\n"
      "  vq decode codes.vqc -o x_hat.fvecs");
  cmd->callback([r] { decode_file(*r); });
}

void add_eval_command(CLI::App& app) {
  auto r = std::make_shared<EvalRequest>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure a decoded file against its original");
  cmd->add_option("reference", r->reference, "The original file; its type picks the measure")->required();
  cmd->add_option("decoded", r->decoded, "The decoded file")->required();
  cmd->add_option("--plot", r->plot,
                  "Also write an SVG chart of where the error lies: MSE per dimension (vectors), log-mel "
                  "distance per mel band (audio), PSNR per band of rows (images), PSNR per view (splats)");
  const auto owned = add_codec_options(*cmd, [](MediaCodec& c, CLI::App& a) { c.add_eval_options(a); });
  cmd->footer(
      "Examples:\n"
      "  vq eval x.npy x_hat.npy        MSE, relative error, SNR\n"
      "  vq eval x.npy x_hat.npy --plot mse.svg   and the MSE of each dimension as a chart\n"
      "  vq eval song.wav song_hat.wav --plot bands.svg   log-mel distance of each of the 80 mel bands\n"
      "  vq eval scene.ply dec.ply --views 16   rendered PSNR / SSIM, per-attribute errors");
  cmd->callback([r, owned] { eval_files(*r, *owned); });
}

}  // namespace vq::cli
