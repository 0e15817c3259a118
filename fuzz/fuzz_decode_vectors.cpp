// Decoding an untrusted codes file the way vq decode does for vectors: the quantizer stored in
// the file, then its codes through that quantizer. The codes' count and widths come from the
// file independently of the quantizer, so the decoder must check that they agree.
#include <memory>

#include "fuzz_common.h"
#include "vq/core/container.h"
#include "vq/core/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::ContainerReader r = vq::ContainerReader::from_bytes(bytes, "fuzz.vqc");
    const std::unique_ptr<vq::Quantizer> q = vq::read_quantizer(r);
    const vq::Codes codes = vq::read_codes(r);
    (void)q->decode(codes);
  });
  return 0;
}
