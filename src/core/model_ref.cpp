#include "vq/core/model_ref.h"

#include <zlib.h>

#include <cstdio>

#include "vq/error.h"

namespace vq {

bool ModelRef::matches(const ModelRef& model) const {
  if (hash && model.hash && *hash == *model.hash) return true;
  return !legacy_id.empty() && legacy_key == model.legacy_key && legacy_id == model.legacy_id;
}

std::string ModelRef::describe() const {
  std::string s = name.empty() ? "(unnamed)" : name;
  if (hash) return s + " (hash " + format_model_hash(*hash) + ")";
  if (!legacy_id.empty()) return s + " (" + legacy_key + " " + legacy_id + ")";
  return s + " (no hash)";
}

uint64_t model_hash(Span<const uint8_t> container_bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint8_t b : container_bytes) h = (h ^ b) * 0x100000001b3ULL;
  return h;
}

std::string format_model_hash(uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

uint64_t parse_model_hash(const std::string& text, const std::string& where) {
  VQ_CHECK(text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos, where,
           ": model hash '", text, "' is not 16 lowercase hex digits");
  return std::stoull(text, nullptr, 16);
}

ModelRef identify_model(const ContainerReader& in, const std::string& legacy_key) {
  const std::vector<uint8_t> bytes = in.stored_bytes();
  ModelRef ref{in.name(), model_hash(bytes), legacy_key, {}};
  if (legacy_key == kLegacyFileCrc32)
    ref.legacy_id = std::to_string(crc32_z(0L, bytes.data(), bytes.size()));  // never empty: a header
  else if (!legacy_key.empty())
    ref.legacy_id = in.meta_or(legacy_key, "");
  return ref;
}

void write_model_ref(ContainerWriter& out, const ModelRef& ref) {
  VQ_CHECK(ref.hash.has_value(), "write_model_ref: the reference to model '", ref.name, "' has no hash");
  VQ_CHECK(!ref.name.empty(), "write_model_ref: the model reference has no name");
  out.set_meta("model.name", ref.name);
  out.set_meta("model.hash", format_model_hash(*ref.hash));
}

std::optional<ModelRef> read_model_ref(const ContainerReader& in) {
  const std::string name = in.meta_or("model.name", "");
  if (name.empty()) {
    VQ_CHECK(!in.meta().count("model.hash"), in.name(), ": metadata has model.hash but no model.name");
    return std::nullopt;
  }
  return ModelRef{name, parse_model_hash(in.meta_at("model.hash"), in.name() + ": model.hash"), {}, {}};
}

void check_model(const ModelRef& want, const ModelRef& have, const std::string& what) {
  VQ_CHECK(want.matches(have), what, ": made with model ", want.describe(), ", not with model ", have.describe());
}

}  // namespace vq
