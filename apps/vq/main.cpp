// vq: train quantizers, encode and decode vectors, inspect .vqc files.
//
// Exit codes: 0 success, 1 a vq::Error (bad data, missing or corrupt file), 2 a usage error
// (unknown option, missing argument, malformed value). Errors are one line on stderr:
// "vq: error: <message>".
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli.h"
#include "cli_ranks.h"
#include "media_codec.h"
#include "vq/core/limits.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int fail(const std::string& message, int code) {
  vq::cli::finish_progress();
  std::string line = message;
  for (char& c : line)  // one line, whatever the message carries
    if (c == '\n' || c == '\r') c = ' ';
  if (vq::cli::running_on_several_ranks()) {
    std::fprintf(stderr, "vq: error: rank %d: %s\n", vq::cli::ranks().rank(), line.c_str());
    std::fflush(stderr);
    vq::cli::abort_all_ranks(code);
  }
  std::fprintf(stderr, "vq: error: %s\n", line.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vq: vector quantization — train quantizers, turn vectors into codes and back."};
  app.set_version_flag("-V,--version", "vq " + vq::cli::version_string());
  app.require_subcommand(1);
  // Global, and accepted after the command too (fallthrough): vq encode big.png --max-decoded-bytes 4G.
  // Applied as soon as it is parsed, so it holds before any command reads a file.
  app.fallthrough();
  app.add_option_function<std::string>(
         "--max-decoded-bytes",
         [](const std::string& v) {
           try {
             vq::set_max_decoded_bytes(vq::parse_byte_size(v, "--max-decoded-bytes"));
           } catch (const vq::Error& e) {
             throw CLI::ValidationError(e.what());  // a usage error: exit code 2
           }
         },
         "Largest decoded size of one input (an image, a recording, a splat scene, a tensor), e.g. 4G; "
         "default 1G or $VQ_MAX_DECODED_BYTES (docs/reliability.md)")
      ->type_name("BYTES");
  app.add_option_function<std::string>(
         "--max-memory",
         [](const std::string& v) {
           try {
             vq::cli::set_memory_bound(vq::parse_byte_size(v, "--max-memory"));
           } catch (const vq::Error& e) {
             throw CLI::ValidationError(e.what());
           }
         },
         "Memory for the vectors a command holds, e.g. 400M: vq train reads a sample of rows that fits "
         "it, vq encode of vectors streams its input in chunks that fit it (default: a quarter of the "
         "physical memory; per rank under mpirun)")
      ->type_name("BYTES");
  app.footer(
      "Examples:\n"
      "  vq demo                                   train, encode, decode and reload a sample\n"
      "  vq train x.npy -o model.vqc --quantizer RVQ8x8\n"
      "  vq encode x.npy -m model.vqc -o codes.vqc --tokens codes.npy\n"
      "  vq decode codes.vqc -o x_hat.npy\n"
      "  vq search codes.vqc queries.npy -k 10 -o nn.npy   nearest encoded vectors per query\n"
      "  vq eval x.npy x_hat.npy --plot mse.svg   and the MSE per dimension as a chart\n"
      "  vq info model.vqc\n"
      "Run 'vq help COMMAND' (or 'vq COMMAND --help') for a command's options.");
  vq::cli::add_train_command(app);
  vq::cli::add_encode_command(app);
  vq::cli::add_decode_command(app);
  vq::cli::add_search_command(app);
  vq::cli::add_eval_command(app);
  vq::cli::add_info_command(app);
  vq::cli::add_demo_command(app);
  for (vq::cli::MediaCodec* c : vq::cli::media_codecs()) c->add_commands(app);
  vq::cli::add_weights_command(app);

  // Bare `vq` shows the help; `vq help [COMMAND [SUBCOMMAND]]` is `vq [COMMAND [SUBCOMMAND]] --help`.
  std::vector<char*> args(argv, argv + argc);
  std::string help_flag = "--help";
  if (argc == 1 || std::string(argv[1]) == "help") {
    if (argc > 1) args.erase(args.begin() + 1);
    args.push_back(help_flag.data());
  }
  argc = static_cast<int>(args.size());
  argv = args.data();

  // CLI11 would call an unknown command a stray positional argument; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    const std::string name = argv[1];
    const auto known = app.get_subcommands([&](const CLI::App* s) { return s->get_name() == name; });
    if (known.empty()) {
      std::string names;
      for (const CLI::App* s : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + s->get_name();
      return fail("unknown command '" + name + "'; commands: " + names + " (run 'vq --help')", kExitUsage);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (run 'vq --help')", kExitUsage);
  } catch (const vq::cli::UsageError& e) {
    return fail(e.what(), kExitUsage);
  } catch (const vq::Error& e) {
    return fail(e.what(), kExitError);
  } catch (const std::exception& e) {  // std::bad_alloc and the like
    return fail(e.what(), kExitError);
  }
  return 0;
}
