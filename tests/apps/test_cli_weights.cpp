// vq weights compress / decompress as a user runs them: a small checkpoint with one linear weight
// and one vector, compressed with a scalar scheme and decompressed again — the weight comes back
// under its name within the scheme's error, the vector passes through untouched — plus a
// one-line error for a missing input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cli_runner.h"
#include "test_data.h"
#include "vq/core/npy.h"
#include "vq/weights/safetensors.h"

namespace vq {
namespace {

using testing_cli::CliRun;
using WeightsCli = testing_cli::CliTest;

TEST_F(WeightsCli, CompressDecompressRoundTrip) {
  const Matrix w = testdata::gaussian(48, 64, 5);
  const std::vector<float> bias = {1.f, -2.f, 3.5f};
  weights::SafetensorsWriter in;
  in.add_float("layer.weight", {48, 64}, {w.data(), w.rows() * w.cols()});
  in.add_float("layer.bias", {3}, {bias.data(), bias.size()});
  in.finish(path("in.safetensors"));

  CliRun r = vq("weights compress " + path("in.safetensors") + " -o " + path("c.safetensors") +
                " --scheme RTN4g32");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("compressed 1 layers"), std::string::npos) << r.out;
  r = vq("weights decompress " + path("c.safetensors") + " -o " + path("d.safetensors"));
  ASSERT_EQ(r.code, 0) << r.err;

  const weights::SafetensorsFile d = weights::SafetensorsFile::open(path("d.safetensors"));
  EXPECT_EQ(d.read_float("layer.bias"), bias);
  ASSERT_EQ(d.info("layer.weight").shape, (std::vector<uint64_t>{48, 64}));
  const std::vector<float> wd = d.read_float("layer.weight");
  double err = 0, energy = 0;
  for (size_t i = 0; i < wd.size(); ++i) {
    err += (double(wd[i]) - w.data()[i]) * (double(wd[i]) - w.data()[i]);
    energy += double(w.data()[i]) * w.data()[i];
  }
  // 4-bit round-to-nearest with group scales on Gaussian weights: a few percent of the energy,
  // and not zero (it was really quantized).
  EXPECT_LT(err / energy, 0.03);
  EXPECT_GT(err / energy, 1e-5);

  // The old AQ spelling still works, with one warning line naming the new one.
  r = vq("weights compress " + path("in.safetensors") + " -o " + path("old.safetensors") + " --scheme AQ1x4g8 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.rfind("vq: warning: scheme 'AQ1x4g8' is the old spelling of 'AQ1x4d8'", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;

  r = vq("weights compress " + path("missing.safetensors") + " -o " + path("x.safetensors"));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("vq: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos) << r.err;
}

// --calib as a directory of .npy files and as one .safetensors file give the same layer, and it
// differs from the uncalibrated one (H was used) and from --no-act-order's; --aq-refine-passes
// reaches the compressor; tensors keep their input order around the compressed layer's.
TEST_F(WeightsCli, CalibrationFromNpyOrSafetensors) {
  const Matrix w = testdata::gaussian(32, 64, 6);
  const Matrix x = testdata::correlated(256, 64, 7);
  const std::vector<float> before = {1.f}, after = {2.f, 3.f};
  weights::SafetensorsWriter in;
  in.add_float("a.first", {1}, before);
  in.add_float("layer.weight", {32, 64}, {w.data(), w.rows() * w.cols()});
  in.add_float("z.last", {2}, after);
  in.finish(path("in.safetensors"));
  std::filesystem::create_directories(path("calib"));
  write_npy(path("calib/layer.weight.npy"), x.view());
  weights::SafetensorsWriter calib;
  calib.add_float("layer.weight", {256, 64}, {x.data(), x.rows() * x.cols()});
  calib.finish(path("calib.safetensors"));

  auto compress = [&](const std::string& out, const std::string& extra) {
    const CliRun r = vq("weights compress " + path("in.safetensors") + " -o " + path(out) + " --scheme GPTQ3g32" + extra);
    EXPECT_EQ(r.code, 0) << r.err;
    return weights::SafetensorsFile::open(path(out));
  };
  const weights::SafetensorsFile from_npy = compress("n.safetensors", " --calib " + path("calib"));
  const weights::SafetensorsFile from_st = compress("s.safetensors", " --calib " + path("calib.safetensors"));
  const weights::SafetensorsFile plain = compress("p.safetensors", "");
  const auto q = [](const weights::SafetensorsFile& f) {
    const Span<const uint8_t> b = f.bytes("layer.qweight");
    return std::vector<uint8_t>(b.begin(), b.end());
  };
  const weights::SafetensorsFile in_order = compress("o.safetensors", " --calib " + path("calib") + " --no-act-order");
  EXPECT_EQ(q(from_npy), q(from_st));
  EXPECT_NE(q(from_npy), q(plain));
  EXPECT_NE(q(from_npy), q(in_order)) << "--no-act-order reaches the compressor";
  const auto aq_codes = [&](const std::string& out, const std::string& extra) {
    const CliRun r = vq("weights compress " + path("in.safetensors") + " -o " + path(out) + " --scheme AQ1x6d4 --quiet" +
                        " --calib " + path("calib") + extra);
    EXPECT_EQ(r.code, 0) << r.err;
    const weights::SafetensorsFile f = weights::SafetensorsFile::open(path(out));  // (the bytes live in its mapping)
    const Span<const uint8_t> b = f.bytes("layer.codes");
    return std::vector<uint8_t>(b.begin(), b.end());
  };
  EXPECT_NE(aq_codes("a.safetensors", ""), aq_codes("b.safetensors", " --aq-refine-passes 0"))
      << "--aq-refine-passes reaches the compressor";
  std::vector<std::string> order;
  for (const weights::TensorInfo& t : from_st.tensors()) order.push_back(t.name);
  EXPECT_EQ(order, (std::vector<std::string>{"a.first", "layer.qweight", "layer.scales", "layer.zeros", "z.last"}));

  const CliRun bad = vq("weights compress " + path("in.safetensors") + " -o " + path("x.safetensors") + " --calib " +
                        path("nowhere"));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("nowhere"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(path("x.safetensors")));
}

// --aq-rounds reaches the compressor: more rounds of AQLM's alternation give a lower error than
// one (codes for fixed books only), and the option's range is checked.
TEST_F(WeightsCli, AqRoundsLowerTheError) {
  const Matrix w = testdata::gaussian(64, 64, 9);
  weights::SafetensorsWriter in;
  in.add_float("layer.weight", {64, 64}, {w.data(), w.rows() * w.cols()});
  in.finish(path("in.safetensors"));
  auto error_with = [&](int rounds) {
    const std::string out = path(std::to_string(rounds) + "rounds.safetensors");  // (not "r" + …: GCC 12 -Wrestrict)
    CliRun r = vq("weights compress " + path("in.safetensors") + " -o " + out + " --scheme AQ1x6d4 --aq-rounds " +
                  std::to_string(rounds) + " --aq-beam 4 --quiet");
    EXPECT_EQ(r.code, 0) << r.err;
    r = vq("weights decompress " + out + " -o " + path("d.safetensors"));
    EXPECT_EQ(r.code, 0) << r.err;
    const std::vector<float> wd = weights::SafetensorsFile::open(path("d.safetensors")).read_float("layer.weight");
    double err = 0;
    for (size_t i = 0; i < wd.size(); ++i) err += (double(wd[i]) - w.data()[i]) * (double(wd[i]) - w.data()[i]);
    return err;
  };
  EXPECT_LT(error_with(3), error_with(1));
  EXPECT_EQ(vq("weights compress " + path("in.safetensors") + " -o " + path("x.safetensors") + " --aq-rounds 0").code,
            2) << "a usage error";
}

}  // namespace
}  // namespace vq
