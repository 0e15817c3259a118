// An index file (vq/core/index_io.h: vq.kind "index", distance, quantizer, codes) loaded the
// way load_index does, then searched once: the codes are re-added into the scan layout, so the
// stored count, widths and values must be checked before that layout is filled.
#include <vector>

#include "fuzz_common.h"
#include "vq/core/index_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes = vq::fuzz::with_valid_crcs(data, size);
  vq::fuzz::expect_clean([&] {
    const vq::CodeIndex index = vq::index_from_bytes(bytes);
    const std::vector<float> query(index.quantizer().dim(), 0.5f);
    (void)index.search(vq::MatrixView<const float>(query.data(), 1, query.size()), 3, 1);
  });
  return 0;
}
