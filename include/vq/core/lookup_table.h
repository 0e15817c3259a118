// LookupTable: per-codebook tables for asymmetric distance computation (ADC).
//
// For a query q and a vector encoded with codes (c_0 … c_{M-1}), the score is
//
//     score = bias + Σ_m values[offsets[m] + c_m]  (+ norm of the decoded vector, if add_norms)
//
// For inner product, values hold q·C_m[k] and score = q·x̂. For L2 on quantizers whose
// codebooks act on disjoint dimensions (PQ, VQ, GRVQ's groups taken alone), values hold
// ||q_m − C_m[k]||² and score = ||q − x̂||² exactly. For additive quantizers (RVQ, AQ) the
// cross terms between books do not decompose: values hold −2 q·C_m[k], bias = ||q||², and
// add_norms tells the scan to add the stored ||x̂||² of each vector.
#pragma once

#include <cstdint>
#include <vector>

namespace vq {

enum class SearchMetric : uint8_t { kL2 = 0, kInnerProduct = 1 };

struct LookupTable {
  SearchMetric metric = SearchMetric::kL2;
  std::vector<uint32_t> offsets;  // size M + 1: book m's entries are values[offsets[m] .. offsets[m+1])
  std::vector<float> values;      // size offsets[M]
  float bias = 0.f;
  bool add_norms = false;         // L2 on additive codes: add ||x̂||² stored per vector

  size_t num_books() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  // Score of one code row (size num_books()); norm is ignored unless add_norms.
  float score(const uint16_t* codes, float norm = 0.f) const {
    float s = bias;
    for (size_t m = 0; m + 1 < offsets.size(); ++m) s += values[offsets[m] + codes[m]];
    return add_norms ? s + norm : s;
  }
};

}  // namespace vq
