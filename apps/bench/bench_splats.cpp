// Splat codec on a synthetic scene: size, encode / decode time and rendered quality of each
// preset, in one run. Quality is PSNR / SSIM of renders of the decoded scene against renders of
// the original over orbit views (what `vq eval` reports). SPZ and SOG are compared on the same
// PLY files by scripts/bench_splats.sh, which runs this program's scenes through their npm tools.
//
//   bench_splats [count=200000] [views=8] [size=256] [presets=low,medium,high] [ply_out]
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "bench_common.h"
#include "vq/splats/render.h"
#include "vq/splats/splat_codec.h"
#include "vq/splats/synthetic_scene.h"

using namespace vq;
using namespace vq::splats;

int main(int argc, char** argv) {
  bench::pin_openblas_single_thread();
  const size_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const size_t views = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 8;
  const size_t size = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 256;
  const std::string presets = argc > 4 ? argv[4] : "low,medium,high";
  const SplatScene scene = synthetic_scene({count, 3, 1, 0.03f});
  const size_t ply_bytes = ply_to_bytes(scene).size();
  if (argc > 5) write_ply(argv[5], scene);
  const auto cams = orbit_cameras(scene, views, size, size);
  std::vector<Image> ref;
  for (const Camera& c : cams) ref.push_back(render(scene, c));
  std::printf("scene: %zu Gaussians (synthetic, SH degree 3), PLY %zu bytes; %zu views at %zux%zu\n", count,
              ply_bytes, views, size, size);
  std::printf("| preset | bytes | ratio | bytes/Gaussian | encode s | decode s | PSNR dB | SSIM | parts (bytes/Gaussian) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  std::stringstream list(presets);
  std::string name;
  while (std::getline(list, name, ',')) {
    const SplatCodecOptions opt = SplatCodecOptions::preset(name);
    ContainerWriter out;
    SplatEncodeStats stats;
    const double enc = bench::median(bench::time_runs(1, [&] {
      out = ContainerWriter();
      stats = encode_splats(scene, opt, out);
    }));
    const std::vector<uint8_t> bytes = out.to_bytes();
    SplatScene dec;
    const double dsec = bench::median(bench::time_runs(3, [&] { dec = decode_splats(ContainerReader::from_bytes(bytes)); }));
    double p = 0, q = 0;
    for (size_t v = 0; v < cams.size(); ++v) {
      const Image img = render(dec, cams[v]);
      p += psnr(ref[v], img);
      q += ssim(ref[v], img);
    }
    std::string parts;
    for (const auto& [part, b] : stats.bytes) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s %.2f ", part.c_str(), double(b) / count);
      parts += buf;
    }
    if (std::getenv("VQ_BENCH_VERBOSE"))
      for (size_t k = 0; k < stats.seconds.size(); ++k)
        std::fprintf(stderr, "  %-10s %.2f s, %.2f bits/Gaussian stored%s\n", stats.seconds[k].first.c_str(),
                     stats.seconds[k].second, 8.0 * stats.bytes[k].second / count,
                     k ? (", order-0 code entropy " + std::to_string(stats.code_entropy_bits[k - 1].second)).c_str() : "");
    std::printf("| %s | %zu | %.1f× | %.2f | %.2f | %.3f | %.2f | %.4f | %s|\n", name.c_str(), bytes.size(),
                double(ply_bytes) / bytes.size(), double(bytes.size()) / count, enc, dsec, p / cams.size(),
                q / cams.size(), parts.c_str());
    std::fflush(stdout);
  }
  return 0;
}
