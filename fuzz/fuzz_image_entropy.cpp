// The image codec's entropy decoders on their own, without a container around them: the token
// payload in each coding (fixed, zstd, arithmetic, adaptive depth) and the scalar refinement's
// range-coded levels. A 6-byte prefix picks the grid so that every shape reaches the decoders;
// the rest is the payload.
#include "fuzz_common.h"
#include "vq/image/image_codec.h"
#include "vq/image/refinement.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  const auto payload = vq::fuzz::bytes_of(data + 6, size - 6);
  vq::image::TokenGrid g;
  g.patch = 8;
  g.rows = 1 + data[1] % 32;
  g.cols = 1 + data[2] % 32;
  g.height = g.rows * g.patch;
  g.width = g.cols * g.patch;
  g.levels = 1 + data[3] % 8;
  g.groups = 1 + (data[5] >> 4) % 2;
  g.bits = static_cast<uint8_t>(1 + data[4] % 12);
  const auto coding = static_cast<vq::image::TokenCoding>(data[0] % 3);
  if (data[5] & 1) g.depth.assign(g.rows * g.cols, static_cast<uint16_t>(g.levels));
  vq::fuzz::expect_clean([&] {
    vq::image::decode_tokens(payload, coding, g);
    g.validate("fuzz");
  });
  vq::fuzz::expect_clean([&] {
    vq::image::Refinement r;
    r.step = 1.f + data[4];
    const size_t patch = 2 + 2 * (data[5] >> 5);  // 2..16, even: every patch size in use
    vq::image::decode_refinement(payload, g.rows, g.cols, patch, r);
  });
  return 0;
}
