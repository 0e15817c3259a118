// (private to the vq CLI) One codec per kind of input: vectors, audio, images, splat scenes.
//
// `vq encode IN` picks the codec by IN's extension, `vq decode F.vqc` and `vq info F.vqc` by the
// "vq.kind" its metadata carries, `vq eval REF DEC` by REF's extension, and `vq demo` runs each
// codec's demo step in list order. A domain joins the CLI by implementing this interface in
// apps/vq/codec_<domain>.cpp and adding one line to media_codecs() in media_codecs.cpp; argument
// handling, default file names and error reporting stay in one place (cmd_codec.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "svg_chart.h"
#include "vq/core/container.h"
#include "vq/core/models.h"

namespace vq::cli {

struct EncodeRequest {
  std::string input;   // the file to encode; its extension chose the codec
  std::string model;   // -m: a trained model; empty: the codec's default model (models/)
  std::string output;  // -o, or IN with its extension replaced by ".vqc"
  std::string tokens;  // --tokens: also write the tokens as an integer .npy (empty: don't)
  bool quiet = false;  // no summary and no progress
  // Where encode() writes output and tokens: temporaries beside them (output_files.h) that vq
  // encode renames over output and tokens together once encode() returns, so a failure in either
  // write leaves neither file. Messages name output and tokens.
  std::string output_file, tokens_file;
};

struct DecodeRequest {
  std::string input;   // the .vqc file
  std::string output;  // -o, or the input with its extension replaced by decoded_extension()
  bool quiet = false;
};

struct DemoContext {
  std::string out_dir;  // where the demo writes its files
  int threads = 0;      // 0: all cores
  bool quiet = false;   // no progress display; the demo's results still print
};

class MediaCodec {
 public:
  virtual ~MediaCodec() = default;

  // One word for messages and --help: "vectors", "audio", "image", "splats".
  virtual std::string name() const = 0;
  // The inputs vq encode hands to this codec, lower case with the dot: {".wav", ".flac"}.
  virtual std::vector<std::string> extensions() const = 0;
  // The "vq.kind" metadata of the .vqc files encode() writes; decode() gets exactly those.
  virtual std::string container_kind() const = 0;
  // The extension decode() writes when no -o is given: ".wav".
  virtual std::string decoded_extension() const = 0;

  // Options of this codec on the shared `vq encode` command (--bitrate, --levels, ...). The codec
  // keeps the values; they are parsed before encode() runs. Names must not clash across codecs.
  virtual void add_encode_options(CLI::App& encode) { (void)encode; }
  virtual void encode(const EncodeRequest& request) = 0;
  virtual void decode(const ContainerReader& in, const DecodeRequest& request) = 0;

  // Lines vq info prints after the generic header and chunk list for this codec's files.
  virtual void print_info(const ContainerReader& in) { (void)in; }
  // `vq eval REF DEC` for REF with one of extensions(): prints the domain's quality figures
  // (log-mel and SNR, PSNR and SSIM, rendered PSNR). Codecs without an evaluation leave it out
  // (vq eval says so). plot: null, or (vq eval --plot) a chart the codec fills with the error
  // spread over where it lies (per dimension, per mel band, per row band, per view); vq eval
  // writes it once eval() returns.
  virtual bool has_eval() const { return false; }
  // Options of this codec on the shared `vq eval` command (--views, ...), kept like encode's.
  virtual void add_eval_options(CLI::App& eval) { (void)eval; }
  virtual void eval(const std::string& reference, const std::string& decoded, Chart* plot) {
    (void)reference;
    (void)decoded;
    (void)plot;
  }
  // Commands of the domain beyond the shared ones: `vq audio train`, `vq image train`, ...
  virtual void add_commands(CLI::App& app) { (void)app; }
  // vq demo's step for this domain: encode and decode a bundled sample with the default model
  // and print its size and quality. Codecs without a bundled sample do nothing.
  virtual void demo(const DemoContext& context) { (void)context; }
};

// Every codec, vectors first; the list vq encode/decode/info/eval/demo consult.
const std::vector<MediaCodec*>& media_codecs();

// Lower-case extension with the dot ("" when there is none).
std::string extension_of(const std::string& path);
// The codec whose extensions() include path's extension; nullptr when none does.
MediaCodec* codec_for_input(const std::string& path);
// The codec whose container_kind() is kind; nullptr when none is.
MediaCodec* codec_for_kind(const std::string& kind);
// path with its extension replaced: ("a/song.wav", ".vqc") -> "a/song.vqc".
std::string replace_extension(const std::string& path, const std::string& extension);
// The bundled files a demo step needs (vq/core/models.h bundled_file), in order; when one is
// missing, prints "<label> skipped: <why>" and returns nothing (a demo is never an error).
std::optional<std::vector<std::string>> demo_files(const std::string& label, const std::vector<std::string>& names);

}  // namespace vq::cli
