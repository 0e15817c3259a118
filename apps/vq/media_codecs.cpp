// The list of codecs the vq CLI knows, and the look-ups over it. A new domain adds its
// accessor's declaration and one entry to media_codecs() below.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "cli.h"
#include "media_codec.h"

namespace vq::cli {

MediaCodec& vectors_codec();  // codec_vectors.cpp
MediaCodec& audio_codec();    // codec_audio.cpp
MediaCodec& image_codec();    // codec_image.cpp
MediaCodec& splats_codec();   // codec_splats.cpp

const std::vector<MediaCodec*>& media_codecs() {
  static const std::vector<MediaCodec*> codecs = {
      &vectors_codec(),
      &audio_codec(),
      &image_codec(),
      &splats_codec(),
  };
  return codecs;
}

std::string extension_of(const std::string& path) {
  const std::string name = base_name(path);
  const size_t dot = name.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : name.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

MediaCodec* codec_for_input(const std::string& path) {
  const std::string ext = extension_of(path);
  for (MediaCodec* c : media_codecs()) {
    const std::vector<std::string> exts = c->extensions();
    if (std::find(exts.begin(), exts.end(), ext) != exts.end()) return c;
  }
  return nullptr;
}

MediaCodec* codec_for_kind(const std::string& kind) {
  for (MediaCodec* c : media_codecs())
    if (c->container_kind() == kind) return c;
  return nullptr;
}

std::string replace_extension(const std::string& path, const std::string& extension) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  return (has_ext ? path.substr(0, dot) : path) + extension;
}

std::optional<std::vector<std::string>> demo_files(const std::string& label, const std::vector<std::string>& names) {
  std::vector<std::string> paths;
  try {
    for (const std::string& name : names) paths.push_back(bundled_file(name));
  } catch (const Error& e) {
    std::printf("%-16s skipped: %s\n", label.c_str(), e.what());
    return std::nullopt;
  }
  return paths;
}

}  // namespace vq::cli
