// Model references and lookup (model_ref.h, models.h): the model hash is the FNV-1a 64 of the
// container bytes, however they were obtained; references round-trip through metadata and
// match by hash or legacy id; open_model finds a model by name in $VQ_MODELS_DIR, by absolute
// path, by file name when the path is gone, and in the installed share/vqcodec/models layout,
// and names both models when the file it finds is another one.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "error_text.h"
#include "vq/core/model_ref.h"
#include "vq/core/models.h"

namespace vq {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> model_bytes(const std::string& note, const Metadata& extra = {}) {
  ContainerWriter w;
  w.set_meta("vq.kind", "test_model");
  w.set_meta("test.note", note);
  for (const auto& [k, v] : extra) w.set_meta(k, v);
  w.add("DATA", std::vector<uint8_t>(note.begin(), note.end()));
  return w.to_bytes();
}

void write_bytes(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// A temporary folder, and VQ_MODELS_DIR set to `models` inside it (or unset) for the test's
// duration; the previous value is restored.
class ModelsFolder {
 public:
  explicit ModelsFolder(bool set_env = true) {
    char tmpl[] = "/tmp/vq_models_test_XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(models());
    if (const char* old = std::getenv("VQ_MODELS_DIR")) old_ = old;
    if (set_env) ::setenv("VQ_MODELS_DIR", models().c_str(), 1);
    else ::unsetenv("VQ_MODELS_DIR");
  }
  ~ModelsFolder() {
    if (old_) ::setenv("VQ_MODELS_DIR", old_->c_str(), 1);
    else ::unsetenv("VQ_MODELS_DIR");
    fs::remove_all(root_);
  }
  fs::path root() const { return root_; }
  fs::path models() const { return root_ / "models"; }

 private:
  fs::path root_;
  std::optional<std::string> old_;
};

uint32_t crc_of(const std::vector<uint8_t>& bytes) { return uint32_t(crc32_z(0L, bytes.data(), bytes.size())); }

TEST(ModelHash, IsTheFnv1aOfTheContainerBytesAsStored) {
  EXPECT_EQ(model_hash({}), 0xcbf29ce484222325ULL);
  const uint8_t a = 'a';
  EXPECT_EQ(model_hash({&a, 1}), 0xaf63dc4c8601ec8cULL);  // the published FNV-1a 64 of "a"
  const std::vector<uint8_t> bytes = model_bytes("a");
  const ContainerReader in = ContainerReader::from_bytes(bytes, "a.vqc");
  EXPECT_EQ(in.stored_bytes(), bytes) << "the reader reassembles exactly what it read";
  const ModelRef id = identify_model(in, kLegacyFileCrc32);
  EXPECT_EQ(id.name, "a.vqc");
  EXPECT_EQ(id.hash, model_hash(bytes));
  EXPECT_EQ(id.legacy_id, std::to_string(crc_of(bytes)));
  EXPECT_NE(model_hash(model_bytes("b")), model_hash(bytes));
  // Why not the CRC-32 of the file: every chunk ends with its own CRC-32, and CRC-32 is linear,
  // so the whole file's CRC-32 does not see the payloads (files of 0.1.0 used it for audio).
  EXPECT_EQ(crc_of(model_bytes("b")), crc_of(bytes));

  EXPECT_EQ(format_model_hash(0x0a0b0c0d01020304ULL), "0a0b0c0d01020304");
  EXPECT_EQ(parse_model_hash("0a0b0c0d01020304", "x"), 0x0a0b0c0d01020304ULL);
  for (const char* bad : {"", "0a0b0c0d0102030", "0a0b0c0d010203040", "0A0B0C0D01020304", "0x0b0c0d01020304",
                          "zzzzzzzzzzzzzzzz"})
    EXPECT_THROW(parse_model_hash(bad, "x"), Error) << bad;
}

TEST(ModelRef, RoundTripsThroughMetadataAndMatchesByHashOrLegacyId) {
  const ModelRef ref{"audio_default.vqc", 0x1234abcd5678ef90ULL, {}, {}};
  ContainerWriter w;
  write_model_ref(w, ref);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const ContainerReader in = ContainerReader::from_bytes(bytes);
  EXPECT_EQ(in.meta_at("model.name"), "audio_default.vqc");
  EXPECT_EQ(in.meta_at("model.hash"), "1234abcd5678ef90");
  const std::optional<ModelRef> back = read_model_ref(in);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, ref.name);
  EXPECT_EQ(back->hash, ref.hash);
  EXPECT_FALSE(read_model_ref(ContainerReader::from_bytes(ContainerWriter().to_bytes())).has_value());
  EXPECT_THROW(write_model_ref(w, ModelRef{"no hash", std::nullopt, {}, {}}), Error);

  // A model matches by hash whatever its name; a legacy reference by its legacy id only.
  const ModelRef same{"/elsewhere/copy.vqc", 0x1234abcd5678ef90ULL, {}, {}};
  const ModelRef other{"audio_default.vqc", 0x1234abcd5678ef91ULL, {}, {}};
  EXPECT_TRUE(ref.matches(same));
  EXPECT_FALSE(ref.matches(other));
  const ModelRef legacy{"default/image.vqc", std::nullopt, "image.model_id", "104fc0b84b974c7d"};
  EXPECT_TRUE(legacy.matches({"m.vqc", 7u, "image.model_id", "104fc0b84b974c7d"}));
  EXPECT_FALSE(legacy.matches({"m.vqc", 7u, "image.model_id", "0000000000000000"}));
  EXPECT_FALSE(legacy.matches({"m.vqc", 7u, "", ""}));
  EXPECT_FALSE(ModelRef{}.matches(ModelRef{}));

  const std::string what = testdata::error_of([&] { check_model(ref, other, "song.vqc"); });
  EXPECT_NE(what.find("song.vqc: made with model audio_default.vqc (hash 1234abcd5678ef90), not with model "
                      "audio_default.vqc (hash 1234abcd5678ef91)"),
            std::string::npos)
      << what;
}

TEST(ModelLookup, FindsModelsByNameInTheModelsFolder) {
  ModelsFolder folder;
  const std::vector<uint8_t> bundled = model_bytes("bundled"), mine = model_bytes("mine");
  write_bytes(folder.models() / "default" / "m.vqc", bundled);
  write_bytes(folder.root() / "work" / "mine.vqc", mine);
  EXPECT_EQ(models_dir(), folder.models().string());

  // A bundled model by its name relative to the folder ($VQ_MODELS_DIR here).
  ContainerReader found = open_model({"default/m.vqc", model_hash(bundled), {}, {}}, "a.vqc");
  EXPECT_EQ(found.name(), (folder.models() / "default" / "m.vqc").string());
  EXPECT_EQ(found.meta_at("test.note"), "bundled");
  // A user's model by absolute path; when that path is gone, by its file name in the folder.
  const std::string mine_path = (folder.root() / "work" / "mine.vqc").string();
  EXPECT_EQ(open_model({mine_path, model_hash(mine), {}, {}}, "b.vqc").meta_at("test.note"), "mine");
  fs::rename(mine_path, folder.models() / "mine.vqc");
  EXPECT_EQ(open_model({mine_path, model_hash(mine), {}, {}}, "b.vqc").name(), (folder.models() / "mine.vqc").string());
  EXPECT_EQ(model_candidates(mine_path),
            (std::vector<std::string>{mine_path, (folder.models() / "mine.vqc").string()}));

  // For encoding: the bundled default by its relative name, a given file by its absolute path.
  const ModelFile def = model_for_encoding("", "default/m.vqc");
  EXPECT_EQ(def.path, (folder.models() / "default" / "m.vqc").string());
  EXPECT_EQ(def.name, "default/m.vqc");
  EXPECT_THROW(model_for_encoding("", "default/absent.vqc"), Error);
  EXPECT_TRUE(fs::path(model_for_encoding("rel/x.vqc", "default/m.vqc").name).is_absolute());
}

TEST(ModelLookup, AnotherModelUnderTheNameIsAnErrorNamingBoth) {
  ModelsFolder folder;
  const std::vector<uint8_t> wanted = model_bytes("wanted"), present = model_bytes("present");
  write_bytes(folder.models() / "m.vqc", present);
  write_bytes(folder.models() / "broken.vqc", {1, 2, 3});
  const std::string what = testdata::error_of([&] { (void)open_model({"m.vqc", model_hash(wanted), {}, {}}, "song.vqc"); });
  EXPECT_NE(what.find("song.vqc: its model m.vqc (hash " + format_model_hash(model_hash(wanted)) + ") was not found"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find((folder.models() / "m.vqc").string() + " is another model (hash " +
                      format_model_hash(model_hash(present)) + ")"),
            std::string::npos)
      << what;
  EXPECT_NE(testdata::error_of([&] { (void)open_model({"broken.vqc", 1u, {}, {}}, "x"); }).find("cannot be read"),
            std::string::npos);
  EXPECT_NE(testdata::error_of([&] { (void)open_model({"absent.vqc", 1u, {}, {}}, "x"); }).find("does not exist"),
            std::string::npos);
}

TEST(ModelLookup, LegacyReferencesMatchTheIdTheModelFileRecords) {
  ModelsFolder folder;
  const std::vector<uint8_t> old_model = model_bytes("old", {{"image.model_id", "104fc0b84b974c7d"}});
  write_bytes(folder.models() / "default" / "image.vqc", old_model);
  const ModelRef legacy{"default/image.vqc", std::nullopt, "image.model_id", "104fc0b84b974c7d"};
  const ContainerReader in = open_model(legacy, "old.vqc");
  const ModelRef found = identify_model(in, "image.model_id");
  EXPECT_EQ(found.legacy_id, "104fc0b84b974c7d");
  EXPECT_EQ(found.hash, model_hash(old_model));
  EXPECT_THROW(open_model({"default/image.vqc", std::nullopt, "image.model_id", "0123456789abcdef"}, "x"), Error);
  // An older audio reference: the CRC-32 of the whole model file.
  const ModelRef by_crc{"default/image.vqc", std::nullopt, kLegacyFileCrc32, std::to_string(crc_of(old_model))};
  EXPECT_EQ(open_model(by_crc, "old.vqc").meta_at("test.note"), "old");
  EXPECT_THROW(open_model({"default/image.vqc", std::nullopt, kLegacyFileCrc32, "12345"}, "x"), Error);
}

// Without $VQ_MODELS_DIR the folder is found relative to the binary, as in an installed tree:
// <prefix>/share/vqcodec/models beside <prefix>/bin (the build tree links the source models/
// there, build/share/vqcodec/models, next to build/tests/).
TEST(ModelLookup, FindsTheInstalledModelsFolderBesideTheBinary) {
  ModelsFolder folder(/*set_env=*/false);
  const fs::path dir = models_dir();
  EXPECT_EQ(dir.filename(), "models");
  EXPECT_EQ(dir.parent_path().filename(), "vqcodec");
  EXPECT_EQ(dir.parent_path().parent_path().filename(), "share");
  const std::string bundled = bundled_file("audio_default.vqc");
  const ContainerReader in = ContainerReader::from_file(bundled);
  EXPECT_EQ(open_model({"audio_default.vqc", model_hash(in.stored_bytes()), {}, {}}, "x").name(),
            (dir / "audio_default.vqc").lexically_normal().string());
}

}  // namespace
}  // namespace vq
