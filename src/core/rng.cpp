#include "vq/core/rng.h"

#include <algorithm>
#include <unordered_set>

#include "vq/error.h"

namespace vq {

// Floyd's algorithm: m draws, each O(1), with no O(n) shuffle array. Membership is a bitmap
// when n is not much larger than m (cheap and cache friendly), a hash set otherwise (so a
// small sample of a huge range costs O(m) memory). The draws do not depend on which container
// is used, so the result is the same either way.
std::vector<size_t> sample_without_replacement(size_t n, size_t m, uint64_t seed) {
  VQ_CHECK(m <= n, "sample_without_replacement: m = ", m, " > n = ", n);
  Rng rng(seed);
  std::vector<size_t> out;
  out.reserve(m);
  if (n <= 64 * m || n <= (size_t{1} << 20)) {
    std::vector<bool> taken(n, false);
    for (size_t j = n - m; j < n; ++j) {
      const size_t t = rng.below(j + 1);
      taken[taken[t] ? j : t] = true;
    }
    for (size_t i = 0; i < n; ++i)
      if (taken[i]) out.push_back(i);
    return out;
  }
  std::unordered_set<size_t> taken;
  taken.reserve(2 * m);
  for (size_t j = n - m; j < n; ++j) {
    const size_t t = rng.below(j + 1);
    const size_t pick = taken.count(t) ? j : t;
    taken.insert(pick);
    out.push_back(pick);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace vq
