// Models inside other files: how a domain stores a quantizer (or any other sub-model) in its own
// container, so an audio model's codebooks, an image model's quantizer and a splat scene's
// per-attribute quantizers are all written, validated and self-tested the same way.
//
// An embedded model is one chunk of the outer container (its type chosen by the domain: "AENV",
// "IQNT", "SQNT", ...) whose payload is the sub-model's own complete .vqc container, either
//   - as is: the payload starts with the container magic 0x89 'V' 'Q' 'C', or
//   - as one zstd frame of it: the payload starts with the zstd magic 28 B5 2F FD;
// readers tell the two apart by those first bytes. Compression pays where codebooks are a large
// part of a small file (a splat scene's seven quantizers); a domain whose sub-models are large
// float tables that barely compress stores them as is and keeps loading a plain copy.
//
// The nested container keeps its own header, CRCs and END chunk, so an embedded model is checked
// as strictly as a file of its own, and errors name the path to it ("scene.vqc: chunk 'SQNT' #2:
// ..."). An embedded quantizer is the container save_quantizer() writes (io.h: "vq.kind" =
// "quantizer", spec, state chunks, SELF) and read_embedded_quantizer() always runs its self-test:
// no domain loads codebooks whose stored codes it has not reproduced.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/quantizer.h"

namespace vq {

// zstd_level: 0 stores the container as is, 1..22 as a zstd frame at that level. Returns the
// payload size (what the sub-model costs in the file, less the 16 bytes of chunk framing).
size_t embed_container(ContainerWriter& out, std::string_view type, Span<const uint8_t> container_bytes,
                       int zstd_level = 0);
// Whether a chunk payload is an embedded container (by its first bytes; for a zstd payload, the
// first bytes of its content). Tools that list what a file holds use it; readers know their
// chunk types.
bool is_embedded_container(Span<const uint8_t> payload);
// The index-th chunk of `type` as a container named "<in.name()>: chunk '<type>' #<index>".
// A zstd payload may expand to at most the decoded-size budget (limits.h).
ContainerReader read_embedded_container(const ContainerReader& in, std::string_view type, size_t index = 0);

// embed_container of the bytes quantizer_to_bytes(q) gives (q must be trained).
size_t embed_quantizer(ContainerWriter& out, std::string_view type, const Quantizer& q, int zstd_level = 0);
// The quantizer of that chunk after its self-test; throws vq::Error naming the chunk when the
// payload is not a quantizer, is malformed, or fails the self-test.
std::unique_ptr<Quantizer> read_embedded_quantizer(const ContainerReader& in, std::string_view type,
                                                   size_t index = 0);

}  // namespace vq
