// The vq command-line tool, run as a user runs it: train -> encode -> decode -> info on a small
// .npy written here, checked against the library's own results, plus exit codes and one-line
// error messages for bad input and bad usage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli_runner.h"
#include "test_data.h"
#include "vq/core/index_io.h"
#include "vq/core/io.h"
#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

using testing_cli::CliRun;
using testing_cli::slurp;

class Cli : public testing_cli::CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    x_ = testdata::clustered(2000, 16, 17, 16);
    write_npy(path("x.npy"), x_.view());
  }

  // A failure must be exactly one "vq: error: ..." line on stderr with the given exit code.
  void expect_error(const std::string& args, int code, const std::string& fragment) const {
    const CliRun r = vq(args);
    EXPECT_EQ(r.code, code) << "vq " << args << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("vq: error: ", 0), 0u) << "vq " << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "vq " << args << ": " << r.err;
  }

  Matrix x_;
};

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_F(Cli, TrainEncodeDecodeInfoMatchesTheLibrary) {
  CliRun r = vq("train " + path("x.npy") + " -o " + path("m.vqc") + " -q RVQ2x6 --iters 8 --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "RVQ2x6")) << r.out;
  EXPECT_TRUE(contains(r.out, "bits per vector  12")) << r.out;
  EXPECT_TRUE(contains(r.out, "relative error")) << r.out;
  EXPECT_TRUE(contains(r.out, "perplexity")) << r.out;
  EXPECT_TRUE(contains(r.err, "rvq level 2/2")) << r.err;  // plain progress lines (not a tty)

  r = vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("c.vqc") +
         " --tokens " + path("t.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  r = vq("decode " + path("c.vqc") + " -o " + path("y.npy"));
  ASSERT_EQ(r.code, 0) << r.err;

  // The files agree with what the library computes from the saved model.
  const auto q = load_quantizer(path("m.vqc"));
  const Codes codes = q->encode(x_);
  const Matrix expected = q->decode(codes);
  const Matrix decoded = read_matrix(path("y.npy"));
  ASSERT_EQ(decoded.rows(), x_.rows());
  ASSERT_EQ(decoded.cols(), x_.cols());
  EXPECT_EQ(decoded.storage(), expected.storage());
  EXPECT_EQ(read_codes_npy(path("t.npy"), codes.bits).data, codes.data);
  // 12 bits for 16 clustered dimensions: far better than the all-zero reconstruction.
  const double rel = testdata::mse(x_, decoded) / testdata::mean_sq_norm(x_);
  EXPECT_LT(rel, 0.2);

  r = vq("info " + path("m.vqc"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* part : {"format version   1", "quantizer        RVQ2x6", "dim              16",
                           "bits per vector  12", "metric           identity", "BOOK", "SELF",
                           "self-test        passed", "books 0-1", "64 entries (6 bits) × 16 dims"})
    EXPECT_TRUE(contains(r.out, part)) << part << "\n" << r.out;
  r = vq("info " + path("c.vqc"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "codes            2000 vectors × 2 books, 12 bits per vector")) << r.out;
}

// --max-memory: encoding streams the input in chunks and writes the very file one pass writes;
// training reads a seeded sample of rows that fits, says so, and is deterministic.
TEST_F(Cli, MaxMemoryStreamsEncodingAndSamplesTraining) {
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + path("m.vqc") + " -q PQ4x6 --iters 4 --quiet").code, 0);
  CliRun r = vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("all.vqc") + " --tokens " +
                path("all.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string whole = r.out;
  // 64 KiB: chunks of 256 rows, 8 chunks for the 2,000 rows.
  r = vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("chunked.vqc") + " --tokens " +
         path("chunked.npy") + " --max-memory 64K");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(testing_cli::slurp(dir_ / "chunked.vqc"), testing_cli::slurp(dir_ / "all.vqc"));
  EXPECT_EQ(testing_cli::slurp(dir_ / "chunked.npy"), testing_cli::slurp(dir_ / "all.npy"));
  const auto error_line = [](const std::string& out) {
    const size_t at = out.find("relative error");
    return out.substr(at, out.find('\n', at) - at);
  };
  EXPECT_EQ(error_line(r.out), error_line(whole));

  // 192 KiB for 16 floats per row, held about three times: 1,024 of the 2,000 rows.
  for (const char* name : {"s1.vqc", "s2.vqc"}) {
    r = vq("train " + path("x.npy") + " -o " + path(name) + " -q PQ4x6 --iters 4 --max-memory 192K");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "sampled          1024 of 2000 rows")) << r.out;
  }
  EXPECT_EQ(testing_cli::slurp(dir_ / "s1.vqc"), testing_cli::slurp(dir_ / "s2.vqc"));
  EXPECT_NE(testing_cli::slurp(dir_ / "s1.vqc"), testing_cli::slurp(dir_ / "m.vqc"));
  expect_error("train " + path("x.npy") + " -o " + path("z.vqc") + " -q PQ4x6 --max-memory lots", 2, "--max-memory");
}

// Shards, named one by one or listed in a .txt, train the model the whole file trains.
TEST_F(Cli, TrainsOnShardsAsOneSet) {
  write_npy(path("p1.npy"), x_.view().rows_slice(0, 700));
  write_npy(path("p2.npy"), x_.view().rows_slice(700, 1300));
  std::ofstream(path("shards.txt")) << "p1.npy\np2.npy\n";
  const std::string opts = " -q PQ4x6 --iters 4 --quiet";
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + path("whole.vqc") + opts).code, 0);
  CliRun r = vq("train " + path("p1.npy") + " " + path("p2.npy") + " -o " + path("named.vqc") + opts);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "p1.npy and 1 more")) << r.out;
  ASSERT_EQ(vq("train " + path("shards.txt") + " -o " + path("listed.vqc") + opts).code, 0);
  const Codes whole = load_quantizer(path("whole.vqc"))->encode(x_);
  EXPECT_EQ(load_quantizer(path("named.vqc"))->encode(x_).data, whole.data);
  EXPECT_EQ(load_quantizer(path("listed.vqc"))->encode(x_).data, whole.data);
  expect_error("train " + path("p1.npy") + " " + path("x.npy") + " -o " + path("x.npy") + opts, 1, "output -o");
}

// vq search over a codes file and over an index file gives the library's CodeIndex results,
// and refuses what is not a base, a distance it does not know and an index of another distance.
TEST_F(Cli, SearchMatchesTheLibrary) {
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + path("pq.vqc") + " -q PQ4x6 --iters 4 --quiet").code, 0);
  ASSERT_EQ(vq("encode " + path("x.npy") + " -m " + path("pq.vqc") + " -o " + path("c.vqc") + " --quiet").code, 0);
  const Matrix queries = testdata::gaussian(12, 16, 18);
  write_npy(path("q.npy"), queries.view());
  CliRun r = vq("search " + path("c.vqc") + " " + path("q.npy") + " -k 4 --distance ip -o " + path("nn.npy") +
                " --distances " + path("d.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "searched         12 queries × 2000 vectors (PQ4x6, ip), top 4")) << r.out;

  CodesFile f = load_codes(path("c.vqc"));
  CodeIndex index(std::shared_ptr<const Quantizer>(std::move(f.quantizer)), SearchMetric::kInnerProduct);
  index.add(f.codes);
  const SearchResult want = index.search(queries, 4);
  const NpyArray ids = read_npy(path("nn.npy")), scores = read_npy(path("d.npy"));
  ASSERT_EQ(ids.dtype, NpyDType::kInt64);
  ASSERT_EQ(ids.shape, (std::vector<size_t>{12, 4}));
  ASSERT_EQ(scores.dtype, NpyDType::kFloat32);
  EXPECT_EQ(std::memcmp(ids.bytes.data(), want.labels.data(), ids.bytes.size()), 0);
  EXPECT_EQ(std::memcmp(scores.bytes.data(), want.distances.data(), scores.bytes.size()), 0);

  // An index file names its distance; the same search through it writes the same ids.
  save_index(path("index.vqc"), index);
  ASSERT_EQ(vq("search " + path("index.vqc") + " " + path("q.npy") + " -k 4 -o " + path("nn2.npy")).code, 0);
  EXPECT_EQ(slurp(path("nn2.npy")), slurp(path("nn.npy")));

  expect_error("search " + path("index.vqc") + " " + path("q.npy") + " --distance l2 -o " + path("n3.npy"), 2,
               "is an index for 'ip' distances");
  expect_error("search " + path("c.vqc") + " " + path("q.npy") + " --distance cosine -o " + path("n3.npy"), 1,
               "must be 'l2' or 'ip', got 'cosine'");
  expect_error("search " + path("pq.vqc") + " " + path("q.npy") + " -o " + path("n3.npy"), 1,
               "holds 'quantizer'; vq search reads an index or a codes file");
  expect_error("search " + path("c.vqc") + " " + path("x.npy") + " -o " + path("x.npy"), 1,
               "would overwrite its own input");
  EXPECT_FALSE(fs::exists(path("n3.npy")));
}

TEST_F(Cli, ScalarBeamAndMetricOptions) {
  // Per-group int8 with fp16 scales: near-lossless on these vectors.
  CliRun r = vq("train " + path("x.npy") + " -o " + path("s.vqc") + " -q SQ8g8 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_TRUE(contains(r.out, "bits per vector  160")) << r.out;  // 16·8 + 2 fp16 scales
  r = vq("info " + path("s.vqc"));
  EXPECT_TRUE(contains(r.out, "books 0-15     256 levels (8 bits) × 1 dim")) << r.out;
  EXPECT_TRUE(contains(r.out, "books 16-17    fp16 scale of 8 dims (16 bits)")) << r.out;
  ASSERT_EQ(vq("encode " + path("x.npy") + " -m " + path("s.vqc") + " -o " + path("c.vqc")).code, 0);
  ASSERT_EQ(vq("decode " + path("c.vqc") + " -o " + path("y.fvecs")).code, 0);
  const Matrix y = read_matrix(path("y.fvecs"));
  EXPECT_LT(testdata::mse(x_, y) / testdata::mean_sq_norm(x_), 1e-3);

  r = vq("train " + path("x.npy") + " -o " + path("b.vqc") + " -q RVQ2x4 --beam 4 --iters 4 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(vq("info " + path("b.vqc")).out, "quantizer        RVQ2x4b4"));

  Matrix h(16, 1, 1.f);
  h(0, 0) = 10.f;
  write_npy(path("h.npy"), h.view());
  r = vq("train " + path("x.npy") + " -o " + path("d.vqc") + " -q PQ4x4 --iters 4 --quiet --metric diag:" +
         path("h.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "relative error under H")) << r.out;
  EXPECT_TRUE(contains(vq("info " + path("d.vqc")).out, "diagonal")) << r.out;
}

TEST_F(Cli, DemoRoundTrips) {
  const CliRun r = vq("demo --n 3000 --dim 16 -q RVQ2x6 --quiet --threads 2 --out " + path("demo"));
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_TRUE(contains(r.out, "re-encodes all 3000×2 codes identically")) << r.out;
  EXPECT_TRUE(fs::exists(path("demo/demo_model.vqc")));
  // Then every domain codec's step on its bundled sample, --quiet or not.
  for (const char* step : {"audio            audio_sample.flac", "image demo", "splats "})
    EXPECT_TRUE(contains(r.out, step)) << step << "\n" << r.out;
  EXPECT_EQ(vq("decode " + path("demo/demo_codes.vqc") + " -o " + path("d.npy")).code, 0);
}

TEST_F(Cli, BadInputIsExitOneWithOneLine) {
  const std::string model = path("m.vqc");
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + model + " -q VQ4 --iters 3 --quiet").code, 0);
  expect_error("train " + path("missing.npy") + " -o " + path("o.vqc") + " -q VQ4", 1, "missing.npy");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q PQ16y8", 1, "position 4");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q PQ5x8", 1,
               "does not fit dimension 16");
  expect_error("encode " + path("scene.xyz") + " -m " + model + " -o " + path("o.vqc"), 1,
               "unsupported input type '.xyz'");
  expect_error("encode " + path("x.txt") + " -m " + model + " -o " + path("o.vqc"), 1,
               "unsupported input type '.txt'");
  expect_error("decode " + model + " -o " + path("o.npy"), 1, "not codes");
  expect_error("eval " + path("x.npy") + " " + path("missing.npy"), 1, "missing.npy");
  expect_error("info " + path("missing.vqc"), 1, "missing.vqc");

  Matrix w(7, 1, 1.f);
  write_npy(path("w.npy"), w.view());
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q VQ4 --weights " + path("w.npy"), 1,
               "weights");

  // A flipped byte inside a chunk and a truncated file.
  std::string bytes = slurp(model);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  std::ofstream(path("flip.vqc"), std::ios::binary) << flipped;
  std::ofstream(path("cut.vqc"), std::ios::binary) << bytes.substr(0, bytes.size() - 9);
  expect_error("info " + path("flip.vqc"), 1, "flip.vqc");
  expect_error("encode " + path("x.npy") + " -m " + path("flip.vqc") + " -o " + path("o.vqc"), 1, "flip.vqc");
  expect_error("info " + path("cut.vqc"), 1, "cut.vqc");
  EXPECT_FALSE(fs::exists(path("o.vqc")));  // nothing written on failure
}

TEST_F(Cli, DefaultNamesAndEval) {
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + path("m.vqc") + " -q RVQ2x6 --iters 4 --quiet").code, 0);
  // Without -o, encode writes x.vqc beside x.npy; decoding it back to the default x.npy is
  // refused, since that would overwrite the original; under another name it decodes in place.
  ASSERT_EQ(vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " --quiet").code, 0);
  ASSERT_TRUE(fs::exists(path("x.vqc")));
  expect_error("decode " + path("x.vqc"), 1, "x.npy already exists");
  expect_error("encode " + path("x.npy") + " -m " + path("m.vqc"), 1, "x.vqc already exists");
  fs::rename(path("x.vqc"), path("codes.vqc"));
  ASSERT_EQ(vq("decode " + path("codes.vqc") + " --quiet").code, 0);
  const Matrix y = read_matrix(path("codes.npy"));
  const auto q = load_quantizer(path("m.vqc"));
  EXPECT_EQ(y.storage(), q->decode(q->encode(x_)).storage());

  // vq eval reports the same relative error as the library computes.
  const CliRun r = vq("eval " + path("x.npy") + " " + path("codes.npy"));
  ASSERT_EQ(r.code, 0) << r.err;
  char expected[64];
  std::snprintf(expected, sizeof expected, "relative error   %.6g",
                testdata::mse(x_, y) / testdata::mean_sq_norm(x_));
  EXPECT_TRUE(contains(r.out, expected)) << expected << "\n" << r.out;
  EXPECT_TRUE(contains(r.out, "SNR")) << r.out;
}

// vq info --usage draws one histogram line per book of a codes file: as many columns as the
// book has entries (up to 64), and a dead entry shows as a blank column at the end.
TEST_F(Cli, InfoUsageDrawsOneHistogramPerBook) {
  ASSERT_EQ(vq("train " + path("x.npy") + " -o " + path("m.vqc") + " -q RVQ2x4 --iters 4 --quiet").code, 0);
  ASSERT_EQ(vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("c.vqc") + " --quiet").code, 0);
  const CliRun r = vq("info " + path("c.vqc") + " --usage");
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  size_t books = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t open = line.find('|'), close = line.rfind('|');
    if (open == std::string::npos || close == open) continue;
    ++books;
    const std::string bars = line.substr(open + 1, close - open - 1);
    // 16 entries -> 16 columns; each bar is one 3-byte UTF-8 block character or a space.
    size_t columns = 0;
    for (size_t i = 0; i < bars.size(); i += bars[i] == ' ' ? 1 : 3) ++columns;
    EXPECT_EQ(columns, 16u) << line;
    EXPECT_EQ(bars.substr(0, 3), "█") << line;  // the most used entry is the full bar
  }
  EXPECT_EQ(books, 2u) << r.out;
  EXPECT_EQ(vq("info " + path("m.vqc") + " --usage").code, 0);  // no codes: nothing to draw
}

TEST_F(Cli, UsageErrorsAreExitTwo) {
  expect_error("encode " + path("x.npy"), 2, "-m MODEL.vqc");
  expect_error("frobnicate", 2, "frobnicate");
  expect_error("train " + path("x.npy") + " -q VQ4", 2, "--output");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q VQ4 --bogus", 2, "--bogus");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q PQ4x4 --beam 4", 2, "--beam");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q VQ4 --metric cosine", 2, "--metric");
  expect_error("train " + path("x.npy") + " -o " + path("o.vqc") + " -q VQ4 --iters 0", 2, "iters");
}

TEST_F(Cli, HelpAndVersion) {
  CliRun r = vq("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "vq 0.1.0")) << r.out;
  for (const char* cmd : {"", "train ", "encode ", "decode ", "eval ", "info ", "demo "}) {
    r = vq(std::string(cmd) + "--help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_TRUE(contains(r.out, "Examples:")) << cmd << r.out;
  }
  EXPECT_EQ(vq("-V").out, vq("--version").out);
  // Bare `vq` and `vq help` show the top-level help; `vq help CMD [SUB]` a command's.
  const std::string top = vq("--help").out;
  for (const char* bare : {"", "help"}) {
    r = vq(bare);
    EXPECT_EQ(r.code, 0) << bare;
    EXPECT_EQ(r.out, top) << bare;
  }
  for (const char* cmd : {"train", "encode", "image", "image train", "weights compress"}) {
    r = vq(std::string("help ") + cmd);
    EXPECT_EQ(r.code, 0) << cmd << r.err;
    EXPECT_EQ(r.out, vq(std::string(cmd) + " --help").out) << cmd;
    EXPECT_NE(r.out, top) << cmd;
  }
  expect_error("help nosuchcommand", 2, "unknown command 'nosuchcommand'");
}

// A short flag means one thing in every command: -q is --quantizer, -o --output, -m --model.
TEST_F(Cli, ShortFlagsMeanOneThingEverywhere) {
  std::map<std::string, std::string> meaning;
  for (const char* cmd : {"train", "encode", "decode", "eval", "info", "demo", "audio train", "image train",
                          "splats synth", "weights compress", "weights decompress"}) {
    const std::string help = vq(std::string(cmd) + " --help").out;
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
      // CLI11 lists options as "  -x,--long TYPE ...".
      const size_t at = line.find_first_not_of(' ');
      if (at == std::string::npos || line.compare(at, 1, "-") != 0 || line.size() < at + 4 ||
          line[at + 1] == '-' || line[at + 2] != ',')
        continue;
      const std::string flag = line.substr(at, 2);
      const size_t end = line.find_first_of(" ,", at + 3);
      const std::string name = line.substr(at + 3, end - at - 3);
      if (flag == "-h") continue;
      auto [it, inserted] = meaning.emplace(flag, name);
      EXPECT_EQ(it->second, name) << flag << " in '" << cmd << "'";
    }
  }
  EXPECT_EQ(meaning["-q"], "--quantizer");
}

}  // namespace
}  // namespace vq
