// Progress reporting for long-running work (k-means, quantizer training, encoding files).
#pragma once

#include <functional>
#include <string>

namespace vq {

struct ProgressEvent {
  std::string stage;       // "kmeans", "rvq level 3/8", "aq round 2/10", ...
  size_t step = 0;         // 1-based step within the stage
  size_t total = 0;        // steps in the stage (0 if unknown)
  double objective = 0.0;  // current objective (mean weighted squared error), if meaningful
  double perplexity = 0.0; // codebook perplexity after this step, if meaningful (0 otherwise)
};

// Called from the training thread between steps (never from worker threads). To cancel
// (Ctrl-C in Python, a UI's stop button) throw from the callback: the exception propagates
// out of train() and the quantizer is left untrained.
using ProgressCallback = std::function<void(const ProgressEvent&)>;

}  // namespace vq
