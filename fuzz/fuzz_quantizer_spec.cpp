// The quantizer name grammar ("RVQ8x8b4", "PQ16x8r2", "SQ4g32"): read from every container's
// metadata and from the command line, then turned into a quantizer by the factory. The first
// byte picks the dimension so that divisibility checks (PQ, GRVQ, group sizes) are reached.
#include <string_view>

#include "fuzz_common.h"
#include "vq/core/factory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t dim = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  vq::fuzz::expect_clean([&] {
    const vq::QuantizerSpec spec = vq::parse_quantizer_spec(text);
    (void)spec.to_string();
  });
  vq::fuzz::expect_clean([&] { (void)vq::make_quantizer(text, dim)->describe(); });
  return 0;
}
