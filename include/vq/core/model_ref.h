// Model references: how a file that does not carry its model (encoded audio, an encoded image)
// names the model that decodes it, and how a loaded model is matched against that name. One
// definition for every domain, so a reference means the same thing whoever wrote it.
//
// Model hash. A model is identified by the 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325,
// prime 0x100000001b3, one byte at a time) of its container bytes exactly as stored: the file it
// was read from, or, for a model built in memory, the bytes its to_bytes() / save() produce. The
// hash names a file, not a meaning: a copy of a model file keeps its hash, a re-saved model (other
// metadata, another library version) gets a new one. It catches decoding with the wrong model by
// accident; it is not a defence against forgery. (Not the container's CRC-32: a chunk ends with
// the CRC-32 of its own bytes, and CRC-32 is linear, so the CRC-32 of a whole container does not
// depend on its payloads at all — only on chunk types and lengths.)
//
// A referring file stores, in its metadata:
//   "model.name"  the model's name: for a bundled model its path relative to the models folder
//                 ("audio_default.vqc", "default/image.vqc"), else the absolute path the encoder
//                 read it from; models.h open_model() looks it up (the name, then the models folder)
//   "model.hash"  the model hash, 16 lowercase hex digits
//
// Older identities. Files written before these keys name their model another way, which the
// domain reads into a ModelRef with legacy_key / legacy_id; a loaded model carries the same kind
// of identity (identify_model), and the two match when equal:
//   encoded audio  "audio.model" = "<name>,<decimal CRC-32 of the whole model file>": legacy_key
//                  kLegacyFileCrc32. For the reason above, that CRC told apart only models of
//                  different layouts; such files keep matching exactly as they always did.
//   encoded image  "image.model" (the location, "default" for the bundled model) and
//                  "image.model_id" (16 hex digits: FNV-1a 64 over a serialization of the model's
//                  quantizer, redone at load, and its patch size). That serialization contains
//                  the writing library's version and self-test samples, so a later library cannot
//                  recompute it; but the model files of that era record their id under the same
//                  key (their reader checked it at every load): legacy_key "image.model_id", a
//                  metadata key of the model file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vq/core/container.h"
#include "vq/types.h"

namespace vq {

// legacy_key of the CRC-32 of the whole model file (decimal).
inline constexpr const char* kLegacyFileCrc32 = "file.crc32";

struct ModelRef {
  std::string name;              // see above; for a loaded model, where it was read from
  std::optional<uint64_t> hash;  // model hash; absent only in references from older files
  // An older identity (see above): kLegacyFileCrc32, or a metadata key of the model file, and
  // its value. Empty when there is none.
  std::string legacy_key, legacy_id;

  // Whether `model` (a loaded model's own ModelRef) is the model this reference names: the same
  // hash, or the same legacy id under the same key. Names are not compared: a model may be
  // found under another path than it was encoded from.
  bool matches(const ModelRef& model) const;
  // "audio_default.vqc (hash 0123456789abcdef)", "default/image.vqc (image.model_id 104fc0b84b974c7d)".
  std::string describe() const;
};

// The model hash of container bytes (FNV-1a 64 of all of them).
uint64_t model_hash(Span<const uint8_t> container_bytes);
// 16 lowercase hex digits, and back (throws vq::Error naming `where` unless exactly that).
std::string format_model_hash(uint64_t hash);
uint64_t parse_model_hash(const std::string& text, const std::string& where);

// The identity of the model held in `in`: name = in.name(), hash = model_hash of its stored
// bytes, and, when legacy_key is given, its legacy id of that kind (the file's CRC-32 for
// kLegacyFileCrc32, else the value of that metadata key; empty when absent).
ModelRef identify_model(const ContainerReader& in, const std::string& legacy_key = "");

// Sets "model.name" and "model.hash"; the reference must have a hash.
void write_model_ref(ContainerWriter& out, const ModelRef& ref);
// The reference of a file written with write_model_ref; nullopt when it has no "model.name"
// (an older file: its domain reads the older keys). Throws on a malformed "model.hash".
std::optional<ModelRef> read_model_ref(const ContainerReader& in);

// Throws vq::Error "<what>: made with model <want>, not with model <have>" (both described)
// unless want.matches(have).
void check_model(const ModelRef& want, const ModelRef& have, const std::string& what);

}  // namespace vq
