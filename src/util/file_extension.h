// (internal API for domains) A path's extension in lower case, the dot included (".npy"), or ""
// when its last component has none: what the matrix readers pick their format by.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>

namespace vq {

inline std::string lower_extension(const std::string& path) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

}  // namespace vq
