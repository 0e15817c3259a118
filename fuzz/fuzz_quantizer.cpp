// A saved quantizer (vq.kind "quantizer", the -m model of vq encode): metadata, the quantizer's
// own state chunks (codebooks, scales, rotation, metric) and the self-test run at load. A loaded
// quantizer must then work: it encodes and decodes a few vectors without crashing.
#include <memory>

#include "fuzz_common.h"
#include "vq/core/io.h"
#include "vq/core/lookup_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const std::unique_ptr<vq::Quantizer> q = vq::quantizer_from_bytes(bytes);
    (void)q->describe();
    (void)q->bits_per_vector();
    // Dimensions come from the file, whose data bounds them: a few rows cost little.
    vq::Matrix x(3, q->dim());
    for (size_t i = 0; i < x.rows(); ++i)
      for (size_t j = 0; j < x.cols(); ++j) x(i, j) = float(int(i * 7 + j * 3) % 11) - 5.f;
    const vq::Codes codes = q->encode(x.view());
    (void)q->decode(codes);
    if (q->has_lookup_tables())
      (void)q->lookup_tables({x.row_ptr(0), x.cols()}, vq::SearchMetric::kL2);
  });
  return 0;
}
