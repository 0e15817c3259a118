// libsndfile and libsamplerate behind audio_io.h. Both directions go through libsndfile's
// virtual I/O on a memory buffer, so reading shares read_file_bytes() (regular-file checks) and
// writing shares write_file_atomic() (no half file under the final name) with the container.
#include "vq/audio/audio_io.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/atomic_file.h"
#include "vq/core/limits.h"

namespace vq::audio {
namespace {

// A growable byte buffer as libsndfile's virtual file.
struct MemoryFile {
  std::vector<uint8_t> bytes;
  Span<const uint8_t> view;  // reading: the input; writing: unused
  sf_count_t pos = 0;
  bool writable = false;

  sf_count_t size() const { return writable ? sf_count_t(bytes.size()) : sf_count_t(view.size()); }
};

sf_count_t vio_len(void* user) { return static_cast<MemoryFile*>(user)->size(); }
sf_count_t vio_seek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  sf_count_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->size() : 0;
  const sf_count_t target = base + offset;
  if (target < 0) return -1;
  f->pos = target;
  return f->pos;
}
sf_count_t vio_read(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const sf_count_t size = f->size();
  if (f->pos >= size || count <= 0) return 0;
  const sf_count_t n = std::min(count, size - f->pos);
  const uint8_t* src = f->writable ? f->bytes.data() : f->view.data();
  std::memcpy(ptr, src + f->pos, size_t(n));
  f->pos += n;
  return n;
}
sf_count_t vio_write(const void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  if (!f->writable || count < 0) return 0;
  const size_t end = size_t(f->pos + count);
  if (f->bytes.size() < end) f->bytes.resize(end);
  std::memcpy(f->bytes.data() + f->pos, ptr, size_t(count));
  f->pos += count;
  return count;
}
sf_count_t vio_tell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

SF_VIRTUAL_IO virtual_io() { return {vio_len, vio_seek, vio_read, vio_write, vio_tell}; }

// Closes the handle on every path out of a reader or writer.
struct SndFile {
  SNDFILE* handle = nullptr;
  ~SndFile() {
    if (handle) sf_close(handle);
  }
};

void check_rate(int rate, const std::string& name) {
  VQ_CHECK(rate >= kMinSampleRate && rate <= kMaxSampleRate, name, ": sample rate ", rate,
           " Hz is outside the supported ", kMinSampleRate, "..", kMaxSampleRate, " Hz");
}

}  // namespace

Audio read_audio_from_bytes(Span<const uint8_t> bytes, const std::string& name) {
  VQ_CHECK(!bytes.empty(), name, ": empty file, not audio");
  MemoryFile file;
  file.view = bytes;
  SF_VIRTUAL_IO io = virtual_io();
  SF_INFO info{};
  SndFile sf;
  sf.handle = sf_open_virtual(&io, SFM_READ, &info, &file);
  VQ_CHECK(sf.handle, name, ": not a readable audio file (libsndfile: ", sf_strerror(nullptr), ")");
  VQ_CHECK(info.channels >= 1 && info.channels <= kMaxChannels, name, ": ", info.channels,
           " channels; 1..", kMaxChannels, " are supported");
  check_rate(info.samplerate, name);

  Audio audio;
  audio.sample_rate = info.samplerate;
  audio.channels = info.channels;
  // The header states the decoded size: a FLAC or OGG of hours of silence is a few KB. Checked
  // before decoding anything, and again while reading (a header may understate the length).
  const std::string what = detail::concat(name, ": ", info.channels, " channel(s) of audio");
  const uint64_t limit = max_decoded_bytes();
  if (info.frames > 0 && info.frames != SF_COUNT_MAX)
    check_decoded_size(saturating_product({uint64_t(info.frames), uint64_t(info.channels), sizeof(float)}), what);
  // Read in blocks until libsndfile stops: the header's frame count is not trusted (a damaged
  // header may claim more than the file holds), so nothing is allocated from it.
  constexpr sf_count_t kBlock = 16384;
  std::vector<float> block(size_t(kBlock) * size_t(info.channels));
  for (;;) {
    const sf_count_t got = sf_readf_float(sf.handle, block.data(), kBlock);
    if (got <= 0) break;
    if ((audio.samples.size() + size_t(got) * size_t(info.channels)) * sizeof(float) > limit)
      check_decoded_size((audio.samples.size() + size_t(got) * size_t(info.channels)) * sizeof(float), what);
    audio.samples.insert(audio.samples.end(), block.begin(), block.begin() + got * info.channels);
  }
  VQ_CHECK(sf_error(sf.handle) == SF_ERR_NO_ERROR, name, ": damaged audio data after ",
           audio.frames(), " frames (libsndfile: ", sf_strerror(sf.handle), ")");
  for (size_t i = 0; i < audio.samples.size(); ++i)
    VQ_CHECK(std::isfinite(audio.samples[i]), name, ": sample ", i / size_t(info.channels),
             " is not finite");
  return audio;
}

Audio read_audio(const std::string& path) { return read_audio_from_bytes(read_file_bytes(path), path); }

void write_audio(const std::string& path, const Audio& audio) {
  check_rate(audio.sample_rate, path);
  VQ_CHECK(audio.channels >= 1 && audio.channels <= kMaxChannels, path, ": ", audio.channels,
           " channels; 1..", kMaxChannels, " are supported");
  VQ_CHECK(audio.samples.size() % size_t(audio.channels) == 0, path,
           ": sample count is not a multiple of the channel count");
  std::string ext = path.size() >= 5 ? path.substr(path.size() - 5) : path;
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  SF_INFO info{};
  info.samplerate = audio.sample_rate;
  info.channels = audio.channels;
  std::vector<float> samples = audio.samples;
  if (ext == ".flac") {
    info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_24;
    VQ_CHECK(audio.sample_rate <= 655350, path, ": FLAC cannot store ", audio.sample_rate, " Hz");
    for (float& s : samples) s = std::clamp(s, -1.f, 1.f);
  } else {
    VQ_CHECK(ext.size() >= 4 && ext.substr(ext.size() - 4) == ".wav", path,
             ": audio is written as .wav or .flac");
    info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  }
  MemoryFile file;
  file.writable = true;
  SF_VIRTUAL_IO io = virtual_io();
  {
    SndFile sf;
    sf.handle = sf_open_virtual(&io, SFM_WRITE, &info, &file);
    VQ_CHECK(sf.handle, path, ": libsndfile cannot write this format: ", sf_strerror(nullptr));
    const sf_count_t frames = sf_count_t(audio.frames());
    VQ_CHECK(sf_writef_float(sf.handle, samples.data(), frames) == frames, path,
             ": libsndfile write failed: ", sf_strerror(sf.handle));
  }  // sf_close finalises the header into file.bytes
  write_file_atomic(path, file.bytes);
}

std::vector<float> to_mono(const Audio& audio) {
  const size_t n = audio.frames(), c = size_t(audio.channels);
  if (c == 1) return audio.samples;
  std::vector<float> mono(n);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < c; ++j) s += audio.samples[i * c + j];
    mono[i] = static_cast<float>(s / double(c));
  }
  return mono;
}

std::vector<float> resample(Span<const float> x, int from, int to) {
  check_rate(from, "resample");
  check_rate(to, "resample");
  if (from == to || x.empty()) return {x.begin(), x.end()};
  const double ratio = double(to) / from;
  const size_t expected = size_t(std::llround(double(x.size()) * ratio));
  // One src_process call with end_of_input: libsamplerate flushes its filter and returns output
  // aligned with the input; the length is then fixed to `expected` (trim or zero-pad by a few).
  std::vector<float> out(expected + 16);
  int err = 0;
  SRC_STATE* state = src_new(SRC_SINC_MEDIUM_QUALITY, 1, &err);
  VQ_CHECK(state, "resample: libsamplerate: ", src_strerror(err));
  SRC_DATA data{};
  data.data_in = x.data();
  data.input_frames = long(x.size());
  data.data_out = out.data();
  data.output_frames = long(out.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  err = src_process(state, &data);
  src_delete(state);
  VQ_CHECK(err == 0, "resample ", from, " -> ", to, " Hz: libsamplerate: ", src_strerror(err));
  out.resize(std::min(expected, size_t(data.output_frames_gen)));
  out.resize(expected, 0.f);
  return out;
}

}  // namespace vq::audio
