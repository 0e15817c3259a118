// The .vqc framing and its JSON metadata: every artefact's first parser. Each input is read
// twice: as it is (so the CRC check itself is exercised) and with its CRCs made valid (so the
// metadata parser and the chunk table behind the checksum see the mutations).
#include "fuzz_common.h"
#include "vq/core/container.h"

namespace {

void consume(vq::Span<const uint8_t> bytes) {
  const vq::ContainerReader r = vq::ContainerReader::from_bytes(bytes, "fuzz.vqc");
  (void)r.meta_or("vq.kind", "");
  for (const auto& info : r.chunks()) {
    vq::ByteReader b = r.chunk(info.type);
    // The typed reads every payload reader is built from, each bounds-checked.
    (void)b.remaining();
    if (b.remaining() >= 1) (void)b.u8();
    (void)b.str();
    (void)b.f32s(b.u32());  // counts taken from the payload, as the readers do
    (void)b.u16s(b.u32());
    (void)b.count(1u << 20, "fuzz count");
    b.expect_end();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vq::fuzz::expect_clean([&] { consume(vq::fuzz::bytes_of(data, size)); });
  const std::vector<uint8_t> fixed = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] { consume(fixed); });
  return 0;
}
