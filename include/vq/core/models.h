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
//
// Model lookup. Every domain and the CLI find models the same way: an encoder takes the model a
// user names, or the domain's bundled default (model_for_encoding), and records a ModelRef
// (model_ref.h) in what it writes; a decoder opens the model that reference names
// (open_model), trying in order
//   1. the name itself when it is an absolute path (where the encoder read the model);
//   2. models_dir() / name when the name is relative (a bundled model: "default/image.vqc");
//   3. models_dir() / the name's file name (a model moved to another machine: put it in the
//      models folder, or point $VQ_MODELS_DIR at the folder that holds it);
// and takes the first file whose model hash (or legacy id) matches the reference. A file there
// that is another model is passed over and named in the error if nothing matches.
#pragma once

#include <string>
#include <vector>

#include "vq/core/container.h"
#include "vq/core/model_ref.h"

namespace vq {

// The models folder; throws vq::Error listing every place tried when none exists.
std::string models_dir();
// Every place models_dir() looks, in order (for messages and `vq --version`).
std::vector<std::string> models_dir_candidates();
// models_dir() / relative, checked to exist: throws vq::Error naming the folder and what to do.
std::string bundled_file(const std::string& relative);

// The model file an encoder reads and the name its output records.
struct ModelFile {
  std::string path;  // the file to read
  std::string name;  // ModelRef::name: default_name for the bundled default, else path made absolute
};
// given: the model a user named (a path), or "" for the bundled default_name (relative to the
// models folder; checked to exist like bundled_file()).
ModelFile model_for_encoding(const std::string& given, const std::string& default_name);

// The files open_model tries for `name`, in order (1-3 above, without repeats; a models folder
// that does not exist contributes nothing).
std::vector<std::string> model_candidates(const std::string& name);
// The container of the model `ref` names (its name() is the path it was found at). Throws
// vq::Error "<referrer>: its model <ref> was not found: ..." listing every place tried and every
// file there that is another model, with that model's hash.
ContainerReader open_model(const ModelRef& ref, const std::string& referrer);

}  // namespace vq
