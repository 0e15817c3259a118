// The .vqc container: every artefact vqcodec writes (a trained quantizer, encoded vectors,
// compressed weights, an audio file's tokens, a splat scene) is one of these files.
//
// Format, version 1. All integers little-endian.
//
//   1. Header, 16 bytes:
//        bytes 0..7   magic 0x89 'V' 'Q' 'C' 0x0D 0x0A 0x1A 0x0A (PNG-style: the high byte and
//                     the CR LF / ^Z catch 7-bit and text-mode transfers)
//        bytes 8..11  u32 format version (kContainerVersion); readers reject newer versions
//        bytes 12..15 u32 flags, 0 (reserved; readers reject non-zero)
//   2. Chunks, back to back, each:
//        4 bytes      type: four printable ASCII characters ("META", "BOOK", "CODE", ...)
//        u64          payload length L
//        L bytes      payload
//        u32          CRC-32 (IEEE 802.3, as zlib/PNG) of the type bytes followed by the payload
//   3. The last chunk is "END " with L = 0. A file without it is truncated.
//
// Chunk "META" (exactly one, first): a JSON object of string → string (UTF-8), dotted keys:
//   "vq.kind" (what the file holds: "quantizer", "codes", ...), "vq.tool_version" (the writing
//   library's version, vq/version.h; set by the writer),
//   "quantizer.spec" ("RVQ8x8b4"), "quantizer.dim", domain keys ("audio.sample_rate", ...).
// Other chunks are defined by whoever writes them; their payloads are read through ByteReader,
// which checks every length against the bytes remaining. Repeated types are allowed and keep
// their order. Unknown chunk types are skipped by readers (forward compatibility).
//
// Readers validate the magic, version, every length (against the bytes left in the file, so no
// allocation exceeds the input size), every CRC and the END chunk before returning, and throw
// vq::Error naming the chunk, its index and its byte offset. Writers write to a temporary file
// in the target directory, flush, and rename over the final name: an interrupted write never
// leaves a partial file under the final name.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vq/types.h"

namespace vq {

inline constexpr uint32_t kContainerVersion = 1;
inline constexpr uint8_t kContainerMagic[8] = {0x89, 'V', 'Q', 'C', 0x0D, 0x0A, 0x1A, 0x0A};
using Metadata = std::map<std::string, std::string>;

// Appends little-endian values to a payload.
class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u16(uint16_t v);
  void u32(uint32_t v);
  void u64(uint64_t v);
  void f32(float v);
  void str(std::string_view s);  // u64 length + bytes
  void f32s(Span<const float> v);
  void u16s(Span<const uint16_t> v);
  void raw(Span<const uint8_t> v);
  std::vector<uint8_t> take() { return std::move(bytes_); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

// Reads little-endian values from a payload; every read is bounds-checked and a short payload
// throws vq::Error("<context>: truncated: need N bytes at payload offset P, R remain").
class ByteReader {
 public:
  ByteReader(Span<const uint8_t> bytes, std::string context);
  uint8_t u8();
  uint16_t u16();
  uint32_t u32();
  uint64_t u64();
  float f32();
  std::string str();
  // Reads n values; n is checked against the bytes left before anything is allocated.
  std::vector<float> f32s(size_t n);
  std::vector<uint16_t> u16s(size_t n);
  Span<const uint8_t> raw(size_t n);
  // A count read from the file, checked to be <= limit ("too large" error names `what`).
  uint64_t count(uint64_t limit, const char* what);
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }
  const std::string& context() const { return context_; }
  // Throws unless every byte was consumed (catches payloads longer than their content).
  void expect_end() const;

 private:
  void need(size_t n) const;
  Span<const uint8_t> bytes_;
  size_t pos_ = 0;
  std::string context_;
};

class ContainerWriter {
 public:
  ContainerWriter();  // metadata starts as {"vq.tool_version": VQ_VERSION_STRING}
  void set_meta(std::string key, std::string value);
  const Metadata& meta() const { return meta_; }
  // type: exactly four printable ASCII characters, not "META" or "END ".
  void add(std::string_view type, std::vector<uint8_t> payload);
  std::vector<uint8_t> to_bytes() const;
  // Atomic write (temporary file + rename). Throws vq::Error on any I/O failure (full disk, no
  // permission) after removing the temporary file; an existing file at path is left intact.
  void write(const std::string& path) const;

 private:
  Metadata meta_;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> chunks_;
};

// A container whose last chunk before END is written as it is produced, for payloads too large
// to hold (the codes of a file larger than memory): `head` holds META and the chunks before it,
// `length` is the streamed payload's size, given up front (it precedes the payload in the file).
// The result is byte for byte what ContainerWriter writes for the same chunks, and as atomic:
// the file appears under its name at finish(); an exception before leaves nothing there.
class ContainerStreamWriter {
 public:
  ContainerStreamWriter(const std::string& path, const ContainerWriter& head, std::string_view type, uint64_t length);
  ~ContainerStreamWriter();
  ContainerStreamWriter(const ContainerStreamWriter&) = delete;
  ContainerStreamWriter& operator=(const ContainerStreamWriter&) = delete;

  void append(Span<const uint8_t> bytes);  // throws past the announced length
  void finish();                           // throws unless exactly `length` bytes came

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ContainerReader {
 public:
  struct ChunkInfo {
    std::string type;
    uint64_t offset = 0;  // byte offset of the chunk's type field in the file
    uint64_t length = 0;  // payload length
  };

  static ContainerReader from_file(const std::string& path);
  static ContainerReader from_bytes(Span<const uint8_t> bytes, std::string name = "<memory>");

  uint32_t version() const { return version_; }
  const Metadata& meta() const { return meta_; }
  // Throws vq::Error("<file>: metadata key '<key>' missing") when absent.
  const std::string& meta_at(const std::string& key) const;
  std::string meta_or(const std::string& key, const std::string& fallback) const;
  // Throws vq::Error("<file>: holds '<vq.kind>', not <what>") unless metadata "vq.kind" is kind.
  void expect_kind(std::string_view kind, std::string_view what) const;

  const std::vector<ChunkInfo>& chunks() const { return infos_; }
  size_t count(std::string_view type) const;
  bool has(std::string_view type) const { return count(type) > 0; }
  // Reader over the index-th chunk of this type; throws vq::Error naming the type if absent.
  ByteReader chunk(std::string_view type, size_t index = 0) const;
  Span<const uint8_t> payload(std::string_view type, size_t index = 0) const;
  const std::string& name() const { return name_; }
  // The bytes it was read from, reassembled (header, every chunk with its CRC, END): what a
  // hash of the file needs (model_ref.h) without the reader keeping a second copy of the input.
  std::vector<uint8_t> stored_bytes() const;

 private:
  std::string name_;
  uint32_t version_ = 0;
  std::vector<uint8_t> meta_json_;  // the META payload as stored (meta_ is its parse)
  Metadata meta_;
  std::vector<ChunkInfo> infos_;
  std::vector<std::vector<uint8_t>> payloads_;  // parallel to infos_
};

}  // namespace vq
