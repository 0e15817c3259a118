// Past failures, one test each: the input that broke us (made here), the command or call, and the
// clean error it must now give. Every test also checks that no existing file was touched. Read
// top to bottom, this is the list of what went wrong:
//
//   HugeFiniteValuesAreRejectedNotCorruptingMemory   squared norms overflowing float crashed k-means
//   NoLabelNeverLeavesNearestCentroidSearch          an all-inf distance row left label −1 to index with
//   EncodeTokensAndOutputMustNotNameInputsOrModel    --tokens / -o replaced the input, the model, the codes
//   OutputsAreComparedByFileIdentityNotSpelling      ./in.npy, a symlink or a hard link replaced the input
//   TrainAndWeightsRefuseToOverwriteTheirInput       vq train / weights compress replaced their input
//   DecompressionBombsAreRejectedQuickly             a 275 KB PNG of 16000² pixels held encode for 10 s
//   EvalChecksImageSizesBeforeDecoding               vq eval decoded both images before comparing sizes
//   FailedTokensWriteLeavesNoCodesFile               --tokens failing still left the .vqc behind
//   WeightsDecompressKeepsTensorNames                "X" came back as "X.weight"
//   AdditiveQuantizerWithManyCodebooks               AQ with 17+ books wrote out of bounds
//   OptionsOfAnotherMediumAreRejected                vq encode photo.png --bitrate 1.5k exited 0
//   EvalOfAudioOfDifferentLengthsIsAnError           unrelated recordings gave SNR −88 dB, exit 0
//   DecompressOfAnUncompressedCheckpointIsAnError    "decompressed 0 layers", exit 0
//   CalibrationMatchingNoLayerIsAnError              --calib with no matching name fell back to H = I
//   SafetensorsWithDuplicateKeysAreRejected          the last of two same-named tensors won silently
//   CodesVectorsMetadataIsCheckedAgainstTheCodes     codes.vectors disagreeing with the codes was ignored
#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <memory>

#include "cli_runner.h"
#include "kernels/distances.h"
#include "test_data.h"
#include "vq/audio/audio_io.h"
#include "vq/core/additive_quantizer.h"
#include "vq/core/container.h"
#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/kmeans.h"
#include "vq/core/limits.h"
#include "vq/core/npy.h"
#include "vq/core/search.h"
#include "vq/image/image.h"
#include "vq/weights/checkpoint.h"
#include "vq/weights/safetensors.h"

namespace vq {
namespace {

namespace fs = std::filesystem;
using testing_cli::CliRun;
using testing_cli::slurp;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

class Regression : public testing_cli::CliTest {
 protected:
  // The command fails with exit code `code` and one "vq: error: ..." line containing fragment.
  void expect_error(const std::string& args, int code, const std::string& fragment) const {
    const CliRun r = vq(args);
    EXPECT_EQ(r.code, code) << "vq " << args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err.rfind("vq: error: ", 0), 0u) << "vq " << args << ": " << r.err;
    EXPECT_TRUE(contains(r.err, fragment)) << "vq " << args << "\nexpected '" << fragment << "' in: " << r.err;
  }

  // A trained RVQ model m.vqc and its training vectors x.npy.
  void make_model() {
    write_npy(path("x.npy"), testdata::clustered(300, 8, 3, 8).view());
    const CliRun r = vq("train " + path("x.npy") + " -o " + path("m.vqc") + " -q RVQ2x4 --iters 2 --quiet");
    ASSERT_EQ(r.code, 0) << r.err;
  }

  // Every file of the scratch directory with a hash of its bytes: compared before and after a
  // refused command, it shows that nothing was created, replaced or removed.
  std::map<std::string, size_t> snapshot() const {
    std::map<std::string, size_t> files;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (name != "stdout.txt" && name != "stderr.txt" && e.is_regular_file())
        files[name] = std::hash<std::string>{}(slurp(e.path()));
    }
    return files;
  }
};

// A grey 8-bit PNG of w×h black pixels, deflated row by row: 16000² pixels take ~250 KB.
std::vector<uint8_t> black_png(uint32_t w, uint32_t h) {
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  const auto put32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
  };
  const auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    put32(png, uint32_t(data.size()));
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data.begin(), data.end());
    put32(png, uint32_t(crc32(0, png.data() + start, uInt(png.size() - start))));
  };
  std::vector<uint8_t> ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});  // 8-bit grey, deflate, no filter method, no interlace
  chunk("IHDR", ihdr);
  std::vector<uint8_t> idat, row(w + 1, 0), buf(1 << 16);
  z_stream z{};
  deflateInit(&z, Z_DEFAULT_COMPRESSION);
  for (uint32_t y = 0; y < h; ++y) {
    z.next_in = row.data();
    z.avail_in = uInt(row.size());
    do {
      z.next_out = buf.data();
      z.avail_out = uInt(buf.size());
      deflate(&z, y + 1 == h ? Z_FINISH : Z_NO_FLUSH);
      idat.insert(idat.end(), buf.data(), buf.data() + (buf.size() - z.avail_out));
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  chunk("IDAT", idat);
  chunk("IEND", {});
  return png;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

void write_tone(const std::string& path, double seconds, double hz) {
  audio::Audio a;
  a.sample_rate = 24000;
  a.channels = 1;
  for (size_t i = 0; i < size_t(seconds * a.sample_rate); ++i)
    a.samples.push_back(0.3f * float(std::sin(2 * M_PI * hz * double(i) / a.sample_rate)));
  audio::write_audio(path, a);
}

// ---- 1. Huge finite values ----------------------------------------------------------------------

TEST_F(Regression, HugeFiniteValuesAreRejectedNotCorruptingMemory) {
  // int64 rows of 2^62: finite, but ||x||² overflows float. vq train aborted in free().
  NpyArray big;
  big.dtype = NpyDType::kInt64;
  big.shape = {50, 16};
  big.bytes.resize(50 * 16 * 8);
  for (size_t i = 0; i < 50 * 16; ++i) {
    const int64_t v = int64_t{1} << 62;
    std::memcpy(big.bytes.data() + 8 * i, &v, 8);
  }
  write_npy(path("big.npy"), big);
  const auto before = snapshot();
  expect_error("train " + path("big.npy") + " -q RVQ1x4 --iters 2 --threads 1 -o " + path("o.vqc"), 1,
               "squared norm");
  EXPECT_EQ(snapshot(), before);

  // float32 rows around 1e20: fit, k-means, encode and search all refuse them.
  Matrix huge = testdata::gaussian(300, 8, 1);
  for (size_t j = 0; j < 8; ++j) huge(7, j) *= 1e20f;
  const auto q = make_quantizer("RVQ2x4", 8);
  EXPECT_THROW(q->train(huge, {}), Error);
  KMeansOptions ko;
  ko.k = 4;
  EXPECT_THROW(kmeans(huge, ko), Error);
  std::shared_ptr<Quantizer> trained = make_quantizer("PQ2x4", 8);
  trained->train(testdata::gaussian(300, 8, 2), {});
  EXPECT_THROW(trained->encode(huge), Error);
  CodeIndex index(trained, SearchMetric::kL2);
  index.add(trained->encode(testdata::gaussian(20, 8, 3)));
  EXPECT_THROW(index.search(huge.view().rows_slice(7, 1), 3), Error);
  EXPECT_THROW(trained->lookup_tables(Span<const float>(huge.row_ptr(7), 8), SearchMetric::kL2), Error);
}

TEST_F(Regression, NoLabelNeverLeavesNearestCentroidSearch) {
  // Rows without a finite distance to any centroid (2^62-sized values made ||c||² = inf and
  // x·c = inf, so every distance was inf − inf = NaN): the kernels returned label −1, which
  // k-means then used as an index. NaN centroid norms reproduce it at any scale. A debug build
  // asserts inside the kernel; a release build throws.
#ifdef NDEBUG
  const Matrix x = testdata::gaussian(2, 4, 2);
  const Matrix c = testdata::gaussian(3, 4, 1);
  std::vector<float> norms(3, std::numeric_limits<float>::quiet_NaN());
  std::vector<int32_t> labels(2);
  std::vector<float> dist(2);
  EXPECT_THROW(kernels::nearest(x.view(), c.view(), norms, labels, dist, 1), Error);
  std::vector<int32_t> labels2(4);
  std::vector<float> dist2(4);
  EXPECT_THROW(kernels::nearest_k(x.view(), c.view(), norms, 2, labels2, dist2, 1), Error);
#else
  GTEST_SKIP() << "debug builds stop at the kernel's assert instead";
#endif
}

// ---- 2-4. Outputs that are inputs ----------------------------------------------------------------

TEST_F(Regression, EncodeTokensAndOutputMustNotNameInputsOrModel) {
  make_model();
  const std::string enc = "encode " + path("x.npy") + " -m " + path("m.vqc");
  auto before = snapshot();
  expect_error(enc + " -o " + path("c.vqc") + " --tokens " + path("x.npy"), 1, "would overwrite its own input");
  expect_error(enc + " -o " + path("c.vqc") + " --tokens " + path("m.vqc"), 1, "would overwrite its own input");
  expect_error(enc + " -o " + path("m.vqc"), 1, "would overwrite its own input");
  expect_error(enc + " -o " + path("c.vqc") + " --tokens " + path("c.vqc"), 1, "are the same file");
  EXPECT_EQ(snapshot(), before);  // nothing written, nothing replaced
}

TEST_F(Regression, OutputsAreComparedByFileIdentityNotSpelling) {
  make_model();
  fs::create_symlink(path("x.npy"), path("link.npy"));
  fs::create_hard_link(path("x.npy"), path("hard.npy"));
  const auto before = snapshot();
  const std::string enc = "encode " + path("x.npy") + " -m " + path("m.vqc") + " -o ";
  expect_error(enc + dir_.string() + "/./x.npy", 1, "would overwrite its own input");
  expect_error(enc + dir_.string() + "/../" + dir_.filename().string() + "/x.npy", 1, "would overwrite its own input");
  expect_error(enc + path("link.npy"), 1, "would overwrite its own input");
  expect_error(enc + path("hard.npy"), 1, "would overwrite its own input");
  // Two outputs that do not exist yet, spelled differently.
  expect_error(enc + path("new.vqc") + " --tokens " + dir_.string() + "/./new.vqc", 1, "are the same file");
  EXPECT_EQ(snapshot(), before);
  EXPECT_TRUE(fs::is_symlink(path("link.npy")));
}

TEST_F(Regression, TrainAndWeightsRefuseToOverwriteTheirInput) {
  make_model();
  const Matrix w = testdata::gaussian(16, 64, 5);
  weights::SafetensorsWriter st;
  st.add_float("layer.weight", {16, 64}, {w.data(), w.rows() * w.cols()});
  st.finish(path("w.safetensors"));
  const Matrix diag = testdata::gaussian(1, 8, 1);
  write_npy(path("diag.npy"), diag.view());
  const auto before = snapshot();
  expect_error("train " + path("x.npy") + " -q VQ4 -o " + path("x.npy"), 1, "would overwrite its own input");
  expect_error("train " + path("x.npy") + " -q VQ4 --metric diag:" + path("diag.npy") + " -o " + path("diag.npy"), 1,
               "would overwrite its own input");
  expect_error("weights compress " + path("w.safetensors") + " --scheme RTN4g32 -o " + path("w.safetensors"), 1,
               "would overwrite its own input");
  expect_error("weights decompress " + path("w.safetensors") + " -o ./" + fs::relative(path("w.safetensors")).string(),
               1, "would overwrite its own input");
  expect_error("decode " + path("m.vqc") + " -o " + path("m.vqc"), 1, "m.vqc");
  EXPECT_EQ(snapshot(), before);
}

// ---- 5. Decompression bombs -----------------------------------------------------------------------

TEST_F(Regression, DecompressionBombsAreRejectedQuickly) {
  write_bytes(path("bomb.png"), black_png(16000, 16000));
  EXPECT_LT(fs::file_size(path("bomb.png")), 1u << 20);
  const auto before = snapshot();
  const auto t0 = std::chrono::steady_clock::now();
  expect_error("encode " + path("bomb.png") + " -o " + path("bomb.vqc"), 1, "decoded-size limit");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 1.0) << "the header alone must decide";
  EXPECT_EQ(snapshot(), before);

  // The budget is the caller's to set: flag and environment variable, down to a tiny image.
  image::write_png(path("small.png"), image::Image(64, 64, 3, 90));
  expect_error("--max-decoded-bytes 1K encode " + path("small.png") + " -o " + path("s.vqc"), 1, "decoded-size limit");
  const CliRun env = vq("encode " + path("small.png") + " -o " + path("s.vqc"), "VQ_MAX_DECODED_BYTES=1K");
  EXPECT_EQ(env.code, 1) << env.err;
  EXPECT_TRUE(contains(env.err, "decoded-size limit")) << env.err;
  expect_error("--max-decoded-bytes lots encode " + path("small.png"), 2, "not a size in bytes");
  // Other media state their size the same way.
  set_max_decoded_bytes(1024);
  EXPECT_THROW(image::read_image(path("small.png")), Error);
  write_tone(path("tone.wav"), 0.5, 440);
  EXPECT_THROW(audio::read_audio(path("tone.wav")), Error);
  set_max_decoded_bytes(0);
  EXPECT_NO_THROW(audio::read_audio(path("tone.wav")));
}

TEST_F(Regression, EvalChecksImageSizesBeforeDecoding) {
  write_bytes(path("bomb.png"), black_png(16000, 16000));
  image::write_png(path("small.png"), image::Image(64, 64, 1, 0));
  const auto t0 = std::chrono::steady_clock::now();
  expect_error("eval " + path("small.png") + " " + path("bomb.png") + " --max-decoded-bytes 64G", 1,
               "images of the same size");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

// ---- 6. Multi-file outputs -------------------------------------------------------------------------

TEST_F(Regression, FailedTokensWriteLeavesNoCodesFile) {
  make_model();
  std::ofstream(path("c.vqc")) << "an older codes file";
  const auto before = snapshot();
  expect_error("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("c.vqc") + " --tokens " +
                   path("no_such_dir/t.npy"),
               1, "t.npy");
  EXPECT_EQ(snapshot(), before);  // the older c.vqc is intact, and no temporary is left
  // Both written: both appear.
  const CliRun r = vq("encode " + path("x.npy") + " -m " + path("m.vqc") + " -o " + path("c.vqc") + " --tokens " +
                      path("t.npy") + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(path("t.npy")));
  EXPECT_NE(slurp(path("c.vqc")), "an older codes file");
}

// ---- 7. Tensor names ------------------------------------------------------------------------------

TEST_F(Regression, WeightsDecompressKeepsTensorNames) {
  const Matrix a = testdata::gaussian(16, 64, 1), b = testdata::gaussian(16, 64, 2);
  weights::SafetensorsWriter st;
  st.add_float("X", {16, 64}, {a.data(), a.rows() * a.cols()});
  st.add_float("proj.weight", {16, 64}, {b.data(), b.rows() * b.cols()});
  st.finish(path("w.safetensors"));
  ASSERT_EQ(vq("weights compress " + path("w.safetensors") + " -o " + path("c.safetensors") + " --scheme RTN4g32 --quiet").code, 0);
  ASSERT_EQ(vq("weights decompress " + path("c.safetensors") + " -o " + path("d.safetensors") + " --quiet").code, 0);
  std::vector<std::string> names;
  const weights::SafetensorsFile d = weights::SafetensorsFile::open(path("d.safetensors"));
  for (const weights::TensorInfo& t : d.tensors())
    names.push_back(t.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"X", "proj.weight"}));
}

// ---- 8. Additive quantization with many codebooks -------------------------------------------------

TEST_F(Regression, AdditiveQuantizerWithManyCodebooks) {
  // The reported crashes first (32 books of 8 bits on 5000 rows at d = 128 is too slow for a
  // unit test; 17 books on 600 rows crashed the same way), then a sample of the grid: books
  // 1..64, bits 1..12, n from 1× to 100× the book size. Each must train, encode and decode.
  struct Case {
    size_t books;
    int bits;
    size_t n_per_entry;  // n = this × 2^bits
    size_t dim;          // small: the grid, not the dimension, is what is being covered
  };
  // Books of K entries in total (M·K) above AdditiveQuantizer::kMaxJointCodes take the
  // conjugate-gradient update, where the out-of-bounds read was (M·K > n); the rest take the
  // dense one. Wide books cost seconds each, so the grid is sampled: every book count from 1 to
  // 64 in steps that double, every bit width from 1 to 12, n from 1× to 100× the book size.
  const Case cases[] = {{17, 8, 1, 4},  {64, 7, 1, 4},  {1, 10, 1, 4},   {2, 12, 1, 4},  {1, 1, 1, 8},
                        {1, 11, 1, 4},  {64, 1, 100, 8}, {64, 2, 10, 8}, {48, 2, 50, 8}, {33, 3, 5, 8},
                        {20, 4, 1, 8},  {64, 4, 1, 8},  {17, 5, 2, 8},   {8, 6, 20, 8},  {9, 9, 1, 4}};
  // One thread: the cases are small, and on a loaded machine OpenMP teams cost more than they
  // save (seconds instead of tenths).
  const int threads_before = omp_get_max_threads();
  omp_set_num_threads(1);
  for (const Case& c : cases) {
    const size_t K = size_t{1} << c.bits, n = K * c.n_per_entry, d = c.dim;
    SCOPED_TRACE(detail::concat("AQ", c.books, "x", c.bits, " on ", n, " rows"));
    AdditiveQuantizer q(d, c.books, uint8_t(c.bits), 1);
    const Matrix x = testdata::gaussian(n, d, c.books * 100 + c.bits);
    TrainOptions o;
    o.iterations = 2;
    o.threads = 1;
    ASSERT_NO_THROW(q.train(x, o));
    const Codes codes = q.encode(x);
    ASSERT_EQ(codes.n, n);
    const Matrix y = q.decode(codes);
    EXPECT_LE(testdata::mse(x, y), testdata::mean_sq_norm(x) * 1.0001);
  }
  omp_set_num_threads(threads_before);
}

// ---- 9. Silent acceptance -------------------------------------------------------------------------

TEST_F(Regression, OptionsOfAnotherMediumAreRejected) {
  image::write_png(path("photo.png"), image::Image(32, 32, 3, 100));
  write_tone(path("a.wav"), 0.5, 440);
  const auto before = snapshot();
  expect_error("encode " + path("photo.png") + " -o " + path("p.vqc") + " --bitrate 1.5k", 2,
               "--bitrate is an option for audio");
  expect_error("encode " + path("a.wav") + " -o " + path("p.vqc") + " --levels 2", 2, "--levels is an option for image");
  expect_error("eval " + path("photo.png") + " " + path("photo.png") + " --views 4", 2, "--views is an option for splats");
  EXPECT_EQ(snapshot(), before);
}

TEST_F(Regression, EvalOfAudioOfDifferentLengthsIsAnError) {
  write_tone(path("long.wav"), 2.0, 440);
  write_tone(path("short.wav"), 0.5, 1000);
  expect_error("eval " + path("long.wav") + " " + path("short.wav"), 1, "compares a decoded file with its own source");
  const CliRun same = vq("eval " + path("long.wav") + " " + path("long.wav"));
  EXPECT_EQ(same.code, 0) << same.err;
}

TEST_F(Regression, DecompressOfAnUncompressedCheckpointIsAnError) {
  const Matrix w = testdata::gaussian(16, 64, 5);
  weights::SafetensorsWriter st;
  st.add_float("layer.weight", {16, 64}, {w.data(), w.rows() * w.cols()});
  st.finish(path("w.safetensors"));
  const auto before = snapshot();
  expect_error("weights decompress " + path("w.safetensors") + " -o " + path("d.safetensors"), 1,
               "no compressed layers");
  EXPECT_EQ(snapshot(), before);
}

TEST_F(Regression, CalibrationMatchingNoLayerIsAnError) {
  const Matrix w = testdata::gaussian(16, 64, 5);
  weights::SafetensorsWriter st;
  st.add_float("layer.weight", {16, 64}, {w.data(), w.rows() * w.cols()});
  st.finish(path("w.safetensors"));
  fs::create_directories(path("calib"));
  write_npy(path("calib/other.weight.npy"), testdata::gaussian(32, 64, 1).view());
  const auto before = snapshot();
  expect_error("weights compress " + path("w.safetensors") + " --scheme RTN4g32 --calib " + path("calib") + " -o " +
                   path("c.safetensors"),
               1, "has inputs for none of the 1 layers");
  EXPECT_EQ(snapshot(), before);
  // Named after the layer, it is used.
  write_npy(path("calib/layer.weight.npy"), testdata::gaussian(32, 64, 1).view());
  const CliRun r = vq("weights compress " + path("w.safetensors") + " --scheme RTN4g32 --calib " + path("calib") +
                      " -o " + path("c.safetensors"));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "32 calibration tokens")) << r.err;
}

TEST_F(Regression, SafetensorsWithDuplicateKeysAreRejected) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  std::vector<uint8_t> bytes(8);
  for (int i = 0; i < 8; ++i) bytes[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + 8, 0);
  try {
    weights::SafetensorsFile::from_bytes(bytes, "dup.safetensors");
    FAIL() << "a header naming 'a' twice was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "names 'a' twice")) << e.what();
  }
  write_bytes(path("dup.safetensors"), bytes);
  expect_error("weights compress " + path("dup.safetensors") + " -o " + path("c.safetensors"), 1, "twice");
  EXPECT_FALSE(fs::exists(path("c.safetensors")));
}

TEST_F(Regression, CodesVectorsMetadataIsCheckedAgainstTheCodes) {
  const auto q = make_quantizer("VQ4", 8);
  const Matrix x = testdata::gaussian(64, 8, 1);
  q->train(x, {});
  ContainerWriter out;
  out.set_meta("vq.kind", "codes");
  out.set_meta("codes.vectors", "999");
  write_quantizer(out, *q);
  write_codes(out, q->encode(x));
  out.write(path("c.vqc"));
  expect_error("decode " + path("c.vqc") + " -o " + path("y.npy"), 1, "codes.vectors says 999");
  EXPECT_FALSE(fs::exists(path("y.npy")));
}

}  // namespace
}  // namespace vq
