#include "vq/core/embedded_model.h"

#include <algorithm>

#include "core/zstd_frame.h"
#include "vq/core/io.h"
#include "vq/core/limits.h"

namespace vq {

size_t embed_container(ContainerWriter& out, std::string_view type, Span<const uint8_t> container_bytes,
                       int zstd_level) {
  VQ_CHECK(zstd_level >= 0, "embed_container: zstd level ", zstd_level, " is negative");
  std::vector<uint8_t> payload = zstd_level == 0 ? std::vector<uint8_t>(container_bytes.begin(), container_bytes.end())
                                                 : detail::zstd_compress(container_bytes, zstd_level);
  const size_t size = payload.size();
  out.add(type, std::move(payload));
  return size;
}

bool is_embedded_container(Span<const uint8_t> payload) {
  const Span<const uint8_t> magic(kContainerMagic, sizeof kContainerMagic);
  if (detail::is_zstd_frame(payload)) return detail::zstd_content_starts_with(payload, magic);
  return payload.size() >= magic.size() && std::equal(magic.begin(), magic.end(), payload.begin());
}

ContainerReader read_embedded_container(const ContainerReader& in, std::string_view type, size_t index) {
  const Span<const uint8_t> payload = in.payload(type, index);
  const std::string name = detail::concat(in.name(), ": chunk '", type, "' #", index);
  if (!detail::is_zstd_frame(payload)) return ContainerReader::from_bytes(payload, name);
  const std::vector<uint8_t> bytes = detail::zstd_decompress(payload, max_decoded_bytes(), name);
  return ContainerReader::from_bytes(bytes, name);
}

size_t embed_quantizer(ContainerWriter& out, std::string_view type, const Quantizer& q, int zstd_level) {
  return embed_container(out, type, quantizer_to_bytes(q), zstd_level);
}

std::unique_ptr<Quantizer> read_embedded_quantizer(const ContainerReader& in, std::string_view type, size_t index) {
  return quantizer_from_container(read_embedded_container(in, type, index));  // runs the self-test
}

}  // namespace vq
