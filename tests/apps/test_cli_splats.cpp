// vq encode / decode / info / eval / splats synth on a small splat scene, as a user runs them:
// the decoded PLY matches the library's decode of the same file, flags reach the codec, and
// bad input gives a one-line error and exit code 1 (bad usage: 2).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "vq/core/container.h"
#include "vq/splats/ply.h"
#include "vq/splats/splat_codec.h"

namespace vq::splats {
namespace {

namespace fs = std::filesystem;

using testing_cli::CliRun;

// One OpenMP thread: on a loaded 2-core machine the codec's threads only slow the test down.
class SplatsCli : public testing_cli::CliTest {
 protected:
  CliRun vq(const std::string& args) const { return CliTest::vq(args, "OMP_NUM_THREADS=1"); }
};

TEST_F(SplatsCli, SynthEncodeInfoDecodeEval) {
  ASSERT_EQ(vq("splats synth " + path("s.ply") + " -n 1500 --sh-degree 2").code, 0);
  const SplatScene s = read_ply(path("s.ply"));
  EXPECT_EQ(s.count, 1500u);
  EXPECT_EQ(s.sh_degree, 2);

  CliRun r = vq("encode " + path("s.ply") + " --quality low --position-bits 12 --sh-degree 1 --colour RVQ2x5");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("encoded          1500 Gaussians"), std::string::npos) << r.out;
  const ContainerReader in = ContainerReader::from_file(path("s.vqc"));  // default name: INPUT.vqc
  EXPECT_EQ(in.meta_at("splats.position_bits"), "12");
  EXPECT_EQ(in.meta_at("splats.sh_degree"), "1");
  EXPECT_EQ(in.meta_at("splats.spec.colour"), "RVQ2x5");

  r = vq("info " + path("s.vqc"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1500 Gaussians, SH degree 1 (source 2), 12 position bits"), std::string::npos) << r.out;

  r = vq("decode " + path("s.vqc") + " -o " + path("d.ply"));
  ASSERT_EQ(r.code, 0) << r.err;
  const SplatScene d = read_ply(path("d.ply"));
  const SplatScene lib = decode_splats(in);
  EXPECT_EQ(d.positions, lib.positions);
  EXPECT_EQ(d.sh_rest, lib.sh_rest);
  EXPECT_EQ(d.layout, standard_layout(d));  // the property order viewers expect

  r = vq("eval " + path("s.ply") + " " + path("d.ply") + " --views 2 --resolution 48");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* line : {"rendered PSNR", "rendered SSIM", "matched          1500 Gaussians", "rotation", "sh2"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
}

TEST_F(SplatsCli, BadInputAndUsage) {
  std::ofstream(path("bad.ply")) << "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n";
  CliRun r = vq("encode " + path("bad.ply"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing 3DGS property"), std::string::npos) << r.err;
  ASSERT_EQ(vq("splats synth " + path("s.ply") + " -n 300").code, 0);
  EXPECT_EQ(vq("encode " + path("s.ply") + " --quality ultra").code, 2);
  r = vq("encode " + path("s.ply") + " --scale RVQ2x");
  EXPECT_EQ(r.code, 1) << r.err;
}

}  // namespace
}  // namespace vq::splats
