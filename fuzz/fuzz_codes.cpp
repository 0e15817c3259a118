// The CODE payload (bit-packed codes of vq.kind "codes" files and every codec built on them):
// count, widths and the packed stream, read behind a container whose CRCs are kept valid.
#include "fuzz_common.h"
#include "vq/core/container.h"
#include "vq/core/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::ContainerReader r = vq::ContainerReader::from_bytes(bytes, "fuzz.vqc");
    const vq::Codes codes = vq::read_codes(r);
    codes.validate();
  });
  return 0;
}
