#include "vq/core/container.h"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "util/atomic_file.h"
#include "vq/version.h"

namespace vq {
namespace {

constexpr size_t kHeaderSize = 16;
constexpr size_t kChunkOverhead = 4 + 8 + 4;  // type + length + CRC
constexpr std::string_view kMetaType = "META";
constexpr std::string_view kEndType = "END ";

static_assert(std::endian::native == std::endian::little,
              "the container code stores integers with memcpy and assumes a little-endian host");

template <class T>
void append_le(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

template <class T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

bool printable_type(std::string_view type) {
  if (type.size() != 4) return false;
  for (char c : type)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

// "\x01AB" style rendering so a corrupt type is shown without dumping control bytes.
std::string show_type(const uint8_t* p) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7F) {
      s += static_cast<char>(p[i]);
    } else {
      static const char* hex = "0123456789abcdef";
      s += "\\x";
      s += hex[p[i] >> 4];
      s += hex[p[i] & 15];
    }
  }
  return s;
}

// zlib's crc32() takes a 32-bit length; crc32_z() takes size_t so multi-GiB payloads work.
uint32_t chunk_crc(std::string_view type, Span<const uint8_t> payload) {
  uLong crc = crc32_z(0L, reinterpret_cast<const Bytef*>(type.data()), type.size());
  // zlib returns 0 for a null buffer, which an empty span may have: skip empty payloads.
  if (!payload.empty()) crc = crc32_z(crc, payload.data(), payload.size());
  return static_cast<uint32_t>(crc);
}

void append_chunk(std::vector<uint8_t>& out, std::string_view type, Span<const uint8_t> payload) {
  out.insert(out.end(), type.begin(), type.end());
  append_le<uint64_t>(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  append_le<uint32_t>(out, chunk_crc(type, payload));
}

// A whole container: header, META, chunk(i) = (type, payload) for i < n, END.
template <class ChunkAt>
std::vector<uint8_t> assemble(uint32_t version, Span<const uint8_t> meta_json, size_t n, const ChunkAt& chunk) {
  size_t total = kHeaderSize + 2 * kChunkOverhead + meta_json.size();
  for (size_t i = 0; i < n; ++i) total += kChunkOverhead + chunk(i).second.size();
  std::vector<uint8_t> out;
  out.reserve(total);
  out.insert(out.end(), std::begin(kContainerMagic), std::end(kContainerMagic));
  append_le<uint32_t>(out, version);
  append_le<uint32_t>(out, 0);  // flags
  append_chunk(out, kMetaType, meta_json);
  for (size_t i = 0; i < n; ++i) append_chunk(out, chunk(i).first, chunk(i).second);
  append_chunk(out, kEndType, {});
  return out;
}

std::string meta_to_json(const Metadata& meta) {
  try {
    return nlohmann::json(meta).dump();
  } catch (const nlohmann::json::exception& e) {
    // dump() refuses invalid UTF-8; say which key is at fault.
    for (const auto& [k, v] : meta) {
      try {
        (void)nlohmann::json(std::map<std::string, std::string>{{k, v}}).dump();
      } catch (const nlohmann::json::exception&) {
        VQ_THROW("container metadata key '", k, "': key or value is not valid UTF-8");
      }
    }
    VQ_THROW("container metadata cannot be encoded as JSON: ", e.what());
  }
}

// Parses the META payload: one JSON object whose values are all strings. Nesting is refused as
// soon as it starts (so a "[[[[..." payload cannot build a deep tree), and a repeated key is an
// error rather than nlohmann's silent last-one-wins.
Metadata json_to_meta(Span<const uint8_t> payload, const std::string& where) {
  using Json = nlohmann::json;
  std::set<std::string> seen;
  Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth > 0)
      VQ_THROW(where, ": metadata values must be strings, found a nested object or array");
    if (event == Json::parse_event_t::key && depth == 1) {
      const std::string key = parsed.get<std::string>();
      VQ_CHECK(seen.insert(key).second, where, ": duplicate metadata key '", key, "'");
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(payload.begin(), payload.end(), check);
  } catch (const Json::exception& e) {
    VQ_THROW(where, ": metadata is not valid JSON: ", e.what());
  }
  VQ_CHECK(doc.is_object(), where, ": metadata must be a JSON object, found ", doc.type_name());
  Metadata meta;
  for (const auto& [key, value] : doc.items()) {
    VQ_CHECK(value.is_string(), where, ": metadata key '", key, "' has a ", value.type_name(),
             " value; expected a string");
    meta.emplace(key, value.get<std::string>());
  }
  return meta;
}

}  // namespace

// ---- ByteWriter -----------------------------------------------------------------------------

void ByteWriter::u16(uint16_t v) { append_le(bytes_, v); }
void ByteWriter::u32(uint32_t v) { append_le(bytes_, v); }
void ByteWriter::u64(uint64_t v) { append_le(bytes_, v); }
void ByteWriter::f32(float v) { append_le(bytes_, v); }

void ByteWriter::str(std::string_view s) {
  u64(s.size());
  bytes_.insert(bytes_.end(), s.begin(), s.end());
}

void ByteWriter::f32s(Span<const float> v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  bytes_.insert(bytes_.end(), p, p + v.size_bytes());
}

void ByteWriter::u16s(Span<const uint16_t> v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  bytes_.insert(bytes_.end(), p, p + v.size_bytes());
}

void ByteWriter::raw(Span<const uint8_t> v) { bytes_.insert(bytes_.end(), v.begin(), v.end()); }

// ---- ByteReader -----------------------------------------------------------------------------

ByteReader::ByteReader(Span<const uint8_t> bytes, std::string context)
    : bytes_(bytes), context_(std::move(context)) {}

void ByteReader::need(size_t n) const {
  VQ_CHECK(n <= remaining(), context_, ": truncated: need ", n, " bytes at payload offset ", pos_,
           ", ", remaining(), " remain");
}

uint8_t ByteReader::u8() {
  need(1);
  return bytes_[pos_++];
}

// raw() does the bounds check and advances; memcpy because payload offsets are unaligned.
uint16_t ByteReader::u16() { return load_le<uint16_t>(raw(sizeof(uint16_t)).data()); }
uint32_t ByteReader::u32() { return load_le<uint32_t>(raw(sizeof(uint32_t)).data()); }
uint64_t ByteReader::u64() { return load_le<uint64_t>(raw(sizeof(uint64_t)).data()); }
float ByteReader::f32() { return load_le<float>(raw(sizeof(float)).data()); }

std::string ByteReader::str() {
  const uint64_t n = u64();
  need(n);
  std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
  pos_ += n;
  return s;
}

std::vector<float> ByteReader::f32s(size_t n) {
  // n * 4 cannot overflow once n <= remaining(): check that first.
  VQ_CHECK(n <= remaining() / sizeof(float), context_, ": truncated: need ", n,
           " floats at payload offset ", pos_, ", ", remaining(), " bytes remain");
  std::vector<float> v(n);
  if (n > 0) std::memcpy(v.data(), bytes_.data() + pos_, n * sizeof(float));  // empty: data() may be null
  pos_ += n * sizeof(float);
  return v;
}

std::vector<uint16_t> ByteReader::u16s(size_t n) {
  VQ_CHECK(n <= remaining() / sizeof(uint16_t), context_, ": truncated: need ", n,
           " uint16 values at payload offset ", pos_, ", ", remaining(), " bytes remain");
  std::vector<uint16_t> v(n);
  if (n > 0) std::memcpy(v.data(), bytes_.data() + pos_, n * sizeof(uint16_t));  // empty: data() may be null
  pos_ += n * sizeof(uint16_t);
  return v;
}

Span<const uint8_t> ByteReader::raw(size_t n) {
  need(n);
  const Span<const uint8_t> s = bytes_.subspan(pos_, n);
  pos_ += n;
  return s;
}

uint64_t ByteReader::count(uint64_t limit, const char* what) {
  const size_t at = pos_;
  const uint64_t n = u64();
  VQ_CHECK(n <= limit, context_, ": ", what, " ", n, " at payload offset ", at,
           " is too large (limit ", limit, ")");
  return n;
}

void ByteReader::expect_end() const {
  VQ_CHECK(remaining() == 0, context_, ": ", remaining(), " unexpected bytes after the payload's ",
           "content at payload offset ", pos_);
}

// ---- ContainerWriter ------------------------------------------------------------------------

// Every file names the library version that wrote it (a caller may set another value).
ContainerWriter::ContainerWriter() : meta_{{"vq.tool_version", VQ_VERSION_STRING}} {}

void ContainerWriter::set_meta(std::string key, std::string value) {
  VQ_CHECK(!key.empty(), "container metadata: empty key");
  meta_[std::move(key)] = std::move(value);
}

void ContainerWriter::add(std::string_view type, std::vector<uint8_t> payload) {
  VQ_CHECK(printable_type(type), "container chunk type '", type,
           "' must be exactly four printable ASCII characters");
  VQ_CHECK(type != kMetaType && type != kEndType, "container chunk type '", type,
           "' is reserved: use set_meta() for metadata; END is written automatically");
  chunks_.emplace_back(std::string(type), std::move(payload));
}

std::vector<uint8_t> ContainerWriter::to_bytes() const {
  const std::string json = meta_to_json(meta_);
  return assemble(kContainerVersion, {reinterpret_cast<const uint8_t*>(json.data()), json.size()}, chunks_.size(),
                  [&](size_t i) { return std::pair<std::string_view, Span<const uint8_t>>(chunks_[i].first, chunks_[i].second); });
}

void ContainerWriter::write(const std::string& path) const { write_file_atomic(path, to_bytes()); }

// ---- ContainerStreamWriter --------------------------------------------------------------------

struct ContainerStreamWriter::Impl {
  AtomicFileWriter file;
  std::vector<uint8_t> end;  // the END chunk, as ContainerWriter writes it
  uLong crc = 0;
  uint64_t left = 0;
  explicit Impl(const std::string& path) : file(path) {}
};

ContainerStreamWriter::ContainerStreamWriter(const std::string& path, const ContainerWriter& head,
                                             std::string_view type, uint64_t length)
    : impl_(std::make_unique<Impl>(path)) {
  VQ_CHECK(type.size() == 4, "ContainerStreamWriter: chunk type '", type, "' is not four characters");
  // The head's bytes are everything up to its END chunk, the last 16 bytes (type, u64 0, CRC).
  std::vector<uint8_t> bytes = head.to_bytes();
  constexpr size_t kEndChunk = 4 + 8 + 4;
  impl_->end.assign(bytes.end() - kEndChunk, bytes.end());
  bytes.resize(bytes.size() - kEndChunk);
  bytes.insert(bytes.end(), type.begin(), type.end());
  append_le<uint64_t>(bytes, length);
  impl_->file.write(bytes);
  impl_->crc = crc32_z(0L, reinterpret_cast<const Bytef*>(type.data()), type.size());
  impl_->left = length;
}

ContainerStreamWriter::~ContainerStreamWriter() = default;

void ContainerStreamWriter::append(Span<const uint8_t> bytes) {
  VQ_CHECK(bytes.size() <= impl_->left, "ContainerStreamWriter: ", bytes.size(), " bytes past the announced length (",
           impl_->left, " left)");
  if (bytes.empty()) return;
  impl_->file.write(bytes);
  impl_->crc = crc32_z(impl_->crc, bytes.data(), bytes.size());
  impl_->left -= bytes.size();
}

void ContainerStreamWriter::finish() {
  VQ_CHECK(impl_->left == 0, "ContainerStreamWriter: ", impl_->left, " bytes of the chunk were never written");
  std::vector<uint8_t> tail;
  append_le<uint32_t>(tail, static_cast<uint32_t>(impl_->crc));
  tail.insert(tail.end(), impl_->end.begin(), impl_->end.end());
  impl_->file.write(tail);
  impl_->file.commit();
}

// ---- ContainerReader ------------------------------------------------------------------------

ContainerReader ContainerReader::from_file(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  VQ_CHECK(!bytes.empty(), path, ": empty file (not a .vqc container)");
  return from_bytes(bytes, path);
}

ContainerReader ContainerReader::from_bytes(Span<const uint8_t> bytes, std::string name) {
  ContainerReader r;
  r.name_ = std::move(name);
  const std::string& file = r.name_;
  VQ_CHECK(!bytes.empty(), file, ": empty input (not a .vqc container)");
  VQ_CHECK(bytes.size() >= kHeaderSize, file, ": ", bytes.size(),
           " bytes is too short for the 16-byte .vqc header");
  VQ_CHECK(std::memcmp(bytes.data(), kContainerMagic, sizeof(kContainerMagic)) == 0, file,
           ": not a .vqc container (bad magic at byte offset 0)");
  r.version_ = load_le<uint32_t>(bytes.data() + 8);
  VQ_CHECK(r.version_ >= 1, file, ": invalid format version 0 at byte offset 8");
  VQ_CHECK(r.version_ <= kContainerVersion, file, ": format version ", r.version_,
           " is newer than this reader supports (version ", kContainerVersion,
           "); upgrade vqcodec to read it");
  const uint32_t flags = load_le<uint32_t>(bytes.data() + 12);
  VQ_CHECK(flags == 0, file, ": unsupported header flags 0x", std::hex, flags, std::dec,
           " at byte offset 12 (must be 0)");

  size_t pos = kHeaderSize;
  bool ended = false;
  for (size_t index = 0; !ended; ++index) {
    const size_t left = bytes.size() - pos;
    VQ_CHECK(left > 0, file, ": truncated: no END chunk after ", index, " chunks (byte offset ",
             pos, ")");
    const std::string at = file + ": chunk #" + std::to_string(index) + " at byte offset " +
                           std::to_string(pos);
    VQ_CHECK(left >= 12, at, ": truncated chunk header (", left, " bytes left, need 12)");
    const uint8_t* head = bytes.data() + pos;
    VQ_CHECK(printable_type({reinterpret_cast<const char*>(head), 4}), at, ": chunk type '",
             show_type(head), "' is not four printable ASCII characters");
    const std::string type(reinterpret_cast<const char*>(head), 4);
    const std::string where = file + ": chunk #" + std::to_string(index) + " '" + type +
                              "' at byte offset " + std::to_string(pos);
    const uint64_t length = load_le<uint64_t>(head + 4);
    // Checked against the bytes left before anything is allocated: a corrupt length can never
    // make us allocate more than the input holds.
    VQ_CHECK(length <= left - 12 && left - 12 - length >= 4, where, ": payload length ", length,
             " exceeds the ", left - 12, " bytes left after the chunk header (payload + CRC)");
    const Span<const uint8_t> payload = bytes.subspan(pos + 12, static_cast<size_t>(length));
    const uint32_t stored = load_le<uint32_t>(head + 12 + length);
    const uint32_t actual = chunk_crc(type, payload);
    VQ_CHECK(stored == actual, where, ": CRC mismatch (stored 0x", std::hex, stored,
             ", computed 0x", actual, std::dec, "): the file is corrupt");

    if (index == 0) {
      VQ_CHECK(type == kMetaType, where, ": the first chunk must be META");
      r.meta_ = json_to_meta(payload, where);
      r.meta_json_.assign(payload.begin(), payload.end());
    } else {
      VQ_CHECK(type != kMetaType, where, ": a second META chunk (only one is allowed)");
    }
    if (type == kEndType) {
      VQ_CHECK(length == 0, where, ": END chunk must have an empty payload, has ", length, " bytes");
      ended = true;
    } else if (index > 0) {
      r.infos_.push_back({type, pos, length});
      r.payloads_.emplace_back(payload.begin(), payload.end());
    }
    pos += 12 + static_cast<size_t>(length) + 4;
  }
  VQ_CHECK(pos == bytes.size(), file, ": ", bytes.size() - pos,
           " trailing bytes after the END chunk (byte offset ", pos, ")");
  return r;
}

// The CRCs are recomputed: the reader verified each equals the stored one.
std::vector<uint8_t> ContainerReader::stored_bytes() const {
  return assemble(version_, meta_json_, infos_.size(), [&](size_t i) {
    return std::pair<std::string_view, Span<const uint8_t>>(infos_[i].type, payloads_[i]);
  });
}

const std::string& ContainerReader::meta_at(const std::string& key) const {
  const auto it = meta_.find(key);
  VQ_CHECK(it != meta_.end(), name_, ": metadata key '", key, "' missing");
  return it->second;
}

std::string ContainerReader::meta_or(const std::string& key, const std::string& fallback) const {
  const auto it = meta_.find(key);
  return it == meta_.end() ? fallback : it->second;
}

void ContainerReader::expect_kind(std::string_view kind, std::string_view what) const {
  const std::string held = meta_or("vq.kind", "");
  VQ_CHECK(held == kind, name_, ": holds '", held.empty() ? "(no vq.kind)" : held, "', not ", what);
}

size_t ContainerReader::count(std::string_view type) const {
  size_t n = 0;
  for (const ChunkInfo& c : infos_) n += c.type == type;
  return n;
}

Span<const uint8_t> ContainerReader::payload(std::string_view type, size_t index) const {
  size_t seen = 0;
  for (size_t i = 0; i < infos_.size(); ++i) {
    if (infos_[i].type != type) continue;
    if (seen++ == index) return payloads_[i];
  }
  VQ_THROW(name_, ": no chunk '", type, "' #", index, " (the file has ", seen, " of that type)");
}

ByteReader ContainerReader::chunk(std::string_view type, size_t index) const {
  return ByteReader(payload(type, index),
                    name_ + ": chunk '" + std::string(type) + "' #" + std::to_string(index));
}

}  // namespace vq
