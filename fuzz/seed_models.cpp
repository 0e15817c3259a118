// Writes seed files the vq CLI cannot make, for scripts/fuzz_seeds.py:
//   - the smallest valid audio model the trainer makes (one envelope level, one shape level per
//     region: ~160 KB instead of the default model's 2 MB), because vq audio train has no option
//     for level counts and a fuzzer mutates a small seed far faster;
//   - small index files (index_io.h) of each scan layout, which only the APIs write.
//   vq_fuzz_seed_models OUT_DIR      writes OUT_DIR/audio_model.vqc and OUT_DIR/index_*.vqc
#include <cstdio>
#include <exception>
#include <string>

#include "audio_fixture.h"
#include "vq/core/factory.h"
#include "vq/core/index_io.h"
#include "vq/core/rng.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vq_fuzz_seed_models OUT_DIR\n");
    return 2;
  }
  try {
    using namespace vq;
    audio::AudioTrainOptions o = testing_audio::tiny_model_options();
    o.envelope_levels = 1;
    o.region_levels = {1, 1, 1};
    o.iterations = 2;
    audio::AudioModel::train(testing_audio::tiny_model_clips(), o).save(std::string(argv[1]) + "/audio_model.vqc");

    // Indexes of 40 vectors of dimension 4 (not a whole 32- or 64-vector block): packed 4-bit,
    // 8-bit, additive with stored norms, and 10-bit (uint16) codes. Trained on more rows than
    // the largest book has entries.
    Rng rng(3);
    Matrix x(1100, 4);
    for (float& v : x.storage()) v = static_cast<float>(rng.normal());
    for (const char* spec : {"PQ2x4", "PQ2x8", "RVQ2x4", "VQ10"}) {
      std::shared_ptr<Quantizer> q = make_quantizer(spec, 4);
      TrainOptions t;
      t.iterations = 2;
      t.threads = 1;
      q->train(x.view(), t);
      for (SearchMetric m : {SearchMetric::kL2, SearchMetric::kInnerProduct}) {
        CodeIndex index(q, m);
        index.add(q->encode(x.view().rows_slice(0, 40)));
        save_index(std::string(argv[1]) + "/index_" + spec + "_" + search_metric_name(m) + ".vqc", index);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vq_fuzz_seed_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
