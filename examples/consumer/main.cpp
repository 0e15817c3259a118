// A program that uses an installed vqcodec: trains a product quantizer on random vectors,
// encodes them, saves and reloads the quantizer, and searches the codes for a few queries.
// It exits non-zero unless every query finds itself first, so it doubles as an install check.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "vq/core/factory.h"
#include "vq/core/io.h"
#include "vq/core/models.h"
#include "vq/core/search.h"
#include "vq/simd.h"
#include "vq/version.h"

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "consumer_pq.vqc";
#ifdef VQCODEC_MODELS_DIR
  setenv("VQ_MODELS_DIR", VQCODEC_MODELS_DIR, /*overwrite=*/0);
#endif
  const size_t n = 4000, dim = 32;
  vq::Matrix x(n, dim);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < dim; ++j) x(i, j) = normal(rng);

  try {
    std::shared_ptr<vq::Quantizer> pq = vq::make_quantizer("PQ8x8", dim);
    vq::TrainOptions options;
    options.iterations = 8;
    pq->train(x.view(), options);
    vq::save_quantizer(path, *pq);
    std::shared_ptr<const vq::Quantizer> loaded = vq::load_quantizer(path);

    const vq::Codes codes = loaded->encode(x.view());
    vq::CodeIndex index(loaded, vq::SearchMetric::kL2);
    index.add(codes);
    const size_t queries = 8;
    const vq::SearchResult r = index.search(x.view().rows_slice(0, queries), 5);
    size_t found = 0;
    for (size_t q = 0; q < queries; ++q) found += r.labels_row(q)[0] == vq::idx_t(q);

    std::printf("vqcodec %s (headers %s), SIMD %s, models in %s\n", vq::version(), VQ_VERSION_STRING,
                vq::simd_level_name(vq::simd_level()), vq::models_dir().c_str());
    std::printf("%s: %zu vectors -> %zu bits each; %zu of %zu queries find themselves first\n",
                loaded->describe().c_str(), n, loaded->bits_per_vector(), found, queries);
    return found == queries ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
}
