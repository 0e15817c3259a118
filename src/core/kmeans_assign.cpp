#include <cmath>

#include "kernels/distances.h"
#include "vq/core/kmeans.h"
#include "vq/core/limits.h"

namespace vq {

std::vector<int32_t> assign_to_centroids(MatrixView<const float> x,
                                         MatrixView<const float> centroids,
                                         const Metric& metric, int threads) {
  VQ_CHECK(centroids.rows() > 0, "assign_to_centroids: no centroids");
  VQ_CHECK(x.cols() == centroids.cols(), "assign_to_centroids: vectors have ", x.cols(),
           " dimensions, centroids ", centroids.cols());
  metric.check_dim(x.cols(), "assign_to_centroids");
  for (size_t i = 0; i < x.rows(); ++i)
    for (float v : x.row(i))
      VQ_CHECK(std::isfinite(v), "assign_to_centroids: non-finite value in row ", i);
  check_squared_norms(x, "assign_to_centroids");
  check_squared_norms(centroids, "assign_to_centroids (centroids)");
  std::vector<int32_t> labels(x.rows());
  if (x.rows() == 0) return labels;
  std::vector<float> dist(x.rows());
  // Under H the nearest centroid is the nearest in the whitened space.
  const bool plain = metric.is_identity();
  const Matrix wx = plain ? Matrix() : metric.whiten(x);
  const Matrix wc = plain ? Matrix() : metric.whiten(centroids);
  const MatrixView<const float> xs = plain ? x : wx.view();
  const MatrixView<const float> cs = plain ? centroids : wc.view();
  std::vector<float> c_norms(cs.rows());
  kernels::row_norms(cs, c_norms);
  kernels::nearest(xs, cs, c_norms, labels, dist, threads);
  return labels;
}

}  // namespace vq
