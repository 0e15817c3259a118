// Where the bundled default models and sample files are found at run time.
//
// The folder is the first of these that exists:
//   1. $VQ_MODELS_DIR, when set (then the only place looked at);
//   2. "models" beside the binary that holds the library's code (the Python package carries
//      its models there, next to its extension module);
//   3. "share/vqcodec/models" of the prefix that binary is installed in (bin/vq,
//      lib/libvqcodec.so, lib/<multiarch>/libvqcodec.so) — also how build/apps/vq and the
//      tests find the source tree's models/, which the build links into build/share;
//   4. share/vqcodec/models of the prefix the library was configured to install into
//      (CMAKE_INSTALL_PREFIX): where a program that links libvqcodec.a finds them.
// So an installed package runs from wherever it is installed or copied to, and no source-tree
// path is compiled in.
#pragma once

#include <string>
#include <vector>

namespace vq {

// The models folder; throws vq::Error listing every place tried when none exists.
std::string models_dir();
// Every place models_dir() looks, in order (for messages and `vq --version`).
std::vector<std::string> models_dir_candidates();
// models_dir() / relative, checked to exist: throws vq::Error naming the folder and what to do.
std::string bundled_file(const std::string& relative);

}  // namespace vq
