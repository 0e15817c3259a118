// Files of the committed 0.1.0 corpus (tests/compat/0.1.0, written before model references and
// embedded models) through today's readers: their older model identities become references
// that open_model() resolves to the bundled models and that match them, another model is
// refused naming both, models of that era (quantizer in the model's own container, legacy id)
// load with their self-test and keep their identity when saved again, and a splat scene whose
// quantizers are blobs inside its attribute chunks decodes. (corpus.py checks the decoded
// values; this checks how the models are found and matched.)
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "error_text.h"
#include "vq/audio/audio_codec.h"
#include "vq/core/models.h"
#include "vq/image/image.h"
#include "vq/image/image_codec.h"
#include "vq/splats/splat_codec.h"

namespace vq {
namespace {

const std::string kCorpus = std::string(VQ_SOURCE_DIR) + "/tests/compat/0.1.0/";

// The source tree's bundled models, whatever the environment says.
class CorpusModels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("VQ_MODELS_DIR")) old_ = old;
    ::setenv("VQ_MODELS_DIR", (std::string(VQ_SOURCE_DIR) + "/models").c_str(), 1);
  }
  void TearDown() override {
    if (old_) ::setenv("VQ_MODELS_DIR", old_->c_str(), 1);
    else ::unsetenv("VQ_MODELS_DIR");
  }

 private:
  std::optional<std::string> old_;
};

TEST_F(CorpusModels, OldAudioFilesFindAndMatchTheirModelByItsCrc) {
  const std::vector<uint8_t> default_bytes = ContainerReader::from_file(bundled_file(audio::kDefaultModelName)).stored_bytes();
  const uint64_t default_hash = model_hash(default_bytes);
  for (const char* file : {"audio_6k.vqc", "audio_24k.vqc"}) {
    const ContainerReader in = ContainerReader::from_file(kCorpus + file);
    ASSERT_FALSE(in.meta().count("model.name")) << "an old file: audio.model only";
    const audio::EncodedAudio e = audio::read_encoded(in);
    EXPECT_EQ(e.model.name, audio::kDefaultModelName);
    EXPECT_FALSE(e.model.hash.has_value());
    EXPECT_EQ(e.model.legacy_key, kLegacyFileCrc32);
    EXPECT_EQ(e.model.legacy_id, in.meta_at("audio.model").substr(in.meta_at("audio.model").rfind(',') + 1));
    const audio::AudioModel model = audio::AudioModel::read(open_model(e.model, in.name()));
    EXPECT_TRUE(e.model.matches(model.ref()));
    EXPECT_EQ(model.ref().hash, default_hash);
    EXPECT_EQ(audio::decode(model, e).size(), e.source_samples);
    // The same tokens claimed by another model are refused, naming both.
    audio::EncodedAudio other = e;
    other.model.legacy_id = "12345";
    const std::string what = testdata::error_of([&] { (void)audio::decode(model, other); });
    EXPECT_NE(what.find("made with model audio_default.vqc (file.crc32 12345), not with model " +
                        model.ref().describe()),
              std::string::npos)
        << what;
    EXPECT_NE(testdata::error_of([&] { (void)open_model(other.model, file); }).find("is another model (hash " +
                                                                           format_model_hash(default_hash) + ")"),
              std::string::npos);
  }
  // New files made with the same model refer to it by hash.
  const audio::AudioModel model = audio::AudioModel::load(bundled_file(audio::kDefaultModelName));
  audio::EncodedAudio e = audio::read_encoded(ContainerReader::from_file(kCorpus + "audio_6k.vqc"));
  e.model = model.ref();
  e.model.name = audio::kDefaultModelName;
  ContainerWriter w;
  audio::write_encoded(w, e);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const audio::EncodedAudio back = audio::read_encoded(ContainerReader::from_bytes(bytes, "new.vqc"));
  EXPECT_EQ(back.model.hash, default_hash);
  EXPECT_TRUE(back.model.legacy_id.empty());
  EXPECT_TRUE(back.model.matches(audio::AudioModel::read(open_model(back.model, "new.vqc")).ref()));
}

TEST_F(CorpusModels, OldImageFilesMatchTheLegacyIdTheirModelRecords) {
  for (const char* file : {"image_tokens.vqc", "image_step20.vqc"}) {
    const ContainerReader in = ContainerReader::from_file(kCorpus + file);
    const image::EncodedImage e = image::read_encoded_image(in);
    EXPECT_EQ(e.model.name, image::kDefaultModelName) << "image.model 'default' is the bundled model";
    EXPECT_FALSE(e.model.hash.has_value());
    EXPECT_EQ(e.model.legacy_key, "image.model_id");
    EXPECT_EQ(e.model.legacy_id, in.meta_at("image.model_id"));
    // The bundled model is of the same era: quantizer in its own container, self-tested at load.
    const ContainerReader model_file = open_model(e.model, in.name());
    EXPECT_FALSE(model_file.has("IQNT"));
    const image::ImageTokenizer model = image::ImageTokenizer::read(model_file);
    EXPECT_EQ(model.ref().legacy_id, e.model.legacy_id);
    EXPECT_EQ(image::decode_image(e, model).width, e.grid.width);
  }
}

TEST_F(CorpusModels, OldImageModelsKeepTheirIdentityWhenSavedAgain) {
  const image::ImageTokenizer old_model = image::ImageTokenizer::load(bundled_file(image::kDefaultModelName));
  const image::EncodedImage old_file = image::read_encoded_image(ContainerReader::from_file(kCorpus + "image_tokens.vqc"));
  // Saved again: the quantizer embedded as a chunk, the legacy id carried over, a new hash.
  const std::vector<uint8_t> bytes = old_model.to_bytes();
  const ContainerReader resaved_file = ContainerReader::from_bytes(bytes, "resaved.vqc");
  EXPECT_TRUE(resaved_file.has("IQNT"));
  const image::ImageTokenizer resaved = image::ImageTokenizer::read(resaved_file);
  EXPECT_NE(resaved.ref().hash, old_model.ref().hash);
  EXPECT_EQ(resaved.metadata(), old_model.metadata()) << "train.* provenance kept";
  EXPECT_EQ(image::decode_image(old_file, resaved).pixels, image::decode_image(old_file, old_model).pixels);
  // New files made with the old model refer to it by hash, and find it again by it.
  const image::Image photo = image::read_image(kCorpus + "image.png");
  const image::EncodedImage fresh = image::encode_image(photo, old_model, {2}, image::kDefaultModelName);
  ContainerWriter w;
  image::write_encoded_image(w, fresh, image::TokenCoding::kArithmetic);
  const std::vector<uint8_t> encoded = w.to_bytes();
  const image::EncodedImage back = image::read_encoded_image(ContainerReader::from_bytes(encoded, "new.vqc"));
  EXPECT_EQ(back.model.hash, old_model.ref().hash);
  EXPECT_TRUE(back.model.legacy_id.empty());
  const image::ImageTokenizer found = image::ImageTokenizer::read(open_model(back.model, "new.vqc"));
  EXPECT_EQ(image::decode_image(back, found).pixels, image::decode_image(fresh, old_model).pixels);
  // ...and not the re-saved copy: its bytes differ.
  const std::string what = testdata::error_of([&] { (void)image::decode_image(back, resaved); });
  EXPECT_NE(what.find("decode_image: the tokens: made with model default/image.vqc (hash "), std::string::npos) << what;
}

TEST_F(CorpusModels, OldSplatScenesWithQuantizerBlobsDecode) {
  const ContainerReader in = ContainerReader::from_file(kCorpus + "scene.vqc");
  ASSERT_FALSE(in.has("SQNT")) << "an old scene: each quantizer inside its SATT chunk";
  const splats::SplatScene old_scene = splats::decode_splats(in);
  EXPECT_EQ(old_scene.count, 300u);
  // Written again, the quantizers are embedded chunks and the scene decodes the same way.
  ContainerWriter w;
  splats::encode_splats(old_scene, splats::SplatCodecOptions::preset("low"), w);
  const std::vector<uint8_t> bytes = w.to_bytes();
  const ContainerReader again = ContainerReader::from_bytes(bytes, "again.vqc");
  EXPECT_EQ(again.count("SQNT"), again.count("SATT"));
  EXPECT_EQ(splats::decode_splats(again).count, old_scene.count);
}

}  // namespace
}  // namespace vq
