// PLY scenes as vq encode reads them; this target's seeds are binary PLY files (the parser picks
// the encoding from the header, so both targets reach every path, but each campaign starts deep
// in its own encoding). Any scene read must survive being written back.
#include "fuzz_common.h"
#include "vq/splats/ply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] {
    const vq::splats::SplatScene s = vq::splats::parse_ply(vq::fuzz::bytes_of(data, size), "fuzz.ply");
    (void)vq::splats::ply_to_bytes(s, vq::splats::PlyFormat::kBinaryLittleEndian);
  });
  return 0;
}
