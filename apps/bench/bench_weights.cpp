// Weight compression: output error per scheme on calibrated layers, bits/weight, compression
// time; GEMV/GEMM from codes against dense fp32 cblas_sgemv/sgemm and the memory-bandwidth
// bound, one run. Usage: bench_weights [quality|speed|time|gaussian|all|gemv-float|gemv-int8] [DIR [SCHEMES [FILTER]]]
//   [--no-act-order]  (anywhere: sweep in input order, CompressOptions::act_order = false)
//   quality   per scheme ‖(W − Ŵ)Xᵀ‖/‖WXᵀ‖ on held-out inputs. With DIR (a model written by
//             scripts/train_tiny_transformer.py: model.safetensors + calib/, or its layers/ folder)
//             the layers are real; without it, synthetic LLM-like layers (stated in the output).
//             `quality DIR SCHEME,SCHEME,... [FILTER]` picks the schemes and the layers whose
//             name contains FILTER.
//   speed     matvec / matmul(B = 16) on 4096×4096 and 11008×4096, 1 and 2 threads (random AQ
//             codes: timing only; the int8 tables' deviation from float tables is printed).
//   time      AQ2x8d8 compression of a 4096×4096 layer under H.
//   gaussian  i.i.d. N(0, 1) weights, H = I: each scheme's relative MSE against Shannon's
//             bound for a Gaussian source, 2^(−2R) at R = its bits/weight (no code of R bits
//             per weight can go below it). `gaussian - SCHEMES` picks the schemes.
//   gemv-float / gemv-int8   300 batch-1 AQ2x8d8 products on 4096×4096 (for perf record).
#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>

#include "bench_common.h"
#include "test_data.h"
#include "vq/core/npy.h"
#include "vq/core/rng.h"
#include "vq/weights/compress.h"
#include "vq/weights/gemv.h"
#include "vq/weights/safetensors.h"

using namespace vq;
using namespace vq::weights;

namespace {

// Options for every compression of the run (--no-act-order clears act_order).
CompressOptions g_options;

const char* kSchemes[] = {"RTN2g128", "RTN3g128", "RTN4g128", "GPTQ2g128", "GPTQ3g128", "GPTQ4g128",
                          "CDQ2g128", "CDQ3g128", "CDQ4g128", "AQ2x8d8", "AQ2x8d8c4", "AQ3x8d8", "AQ4x8d8"};

// ‖(W − Ŵ)Xᵀ‖ / ‖WXᵀ‖ on inputs x (n × cols).
double output_error(const Matrix& w, const Matrix& w_hat, const Matrix& x) {
  const size_t n = x.rows(), rows = w.rows(), cols = w.cols();
  Matrix y(n, rows), e(n, rows);
  Matrix diff(rows, cols);
  for (size_t i = 0; i < rows * cols; ++i) diff.data()[i] = w.data()[i] - w_hat.data()[i];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(rows), int(cols), 1.f, x.data(), int(cols), w.data(),
              int(cols), 0.f, y.data(), int(rows));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(rows), int(cols), 1.f, x.data(), int(cols),
              diff.data(), int(cols), 0.f, e.data(), int(rows));
  double num = 0, den = 0;
  for (size_t i = 0; i < n * rows; ++i) {
    num += double(e.data()[i]) * e.data()[i];
    den += double(y.data()[i]) * y.data()[i];
  }
  return std::sqrt(num / den);
}

struct Layer {
  std::string name;
  Matrix w, x_cal, x_test;
};

// Synthetic LLM-like layer: heavy-tailed weights with per-row scales; inputs correlated with a
// few outlier channels (the structure that makes H matter).
Layer synthetic_layer(size_t rows, size_t cols, uint64_t seed) {
  Layer l;
  l.name = "synthetic " + std::to_string(rows) + "x" + std::to_string(cols);
  Rng rng(seed);
  l.w = Matrix(rows, cols);
  for (size_t r = 0; r < rows; ++r) {
    const double s = 0.02 * std::exp(0.3 * rng.normal());
    for (size_t c = 0; c < cols; ++c) {
      const double z = rng.normal(), u = rng.normal();
      l.w(r, c) = float(s * z * (std::fabs(u) > 2.0 ? 3.0 : 1.0));
    }
  }
  Matrix x = testdata::correlated(3 * cols, cols, seed + 1);
  for (size_t i = 0; i < x.rows(); ++i)
    for (size_t c = 0; c < cols; c += 61) x(i, c) *= 8.f;
  const size_t ncal = 2 * cols;
  l.x_cal = Matrix(ncal, cols);
  l.x_test = Matrix(x.rows() - ncal, cols);
  std::memcpy(l.x_cal.data(), x.data(), ncal * cols * sizeof(float));
  std::memcpy(l.x_test.data(), x.row_ptr(ncal), (x.rows() - ncal) * cols * sizeof(float));
  return l;
}

// Splits a layer's inputs: alternate tokens, even ones calibrate, odd ones test (no token in both).
void split_inputs(const Matrix& x, Layer& l) {
  const size_t half = x.rows() / 2;
  l.x_cal = Matrix(half, x.cols());
  l.x_test = Matrix(x.rows() - half, x.cols());
  for (size_t i = 0; i < x.rows(); ++i)
    std::memcpy(i % 2 ? l.x_test.row_ptr(i / 2) : l.x_cal.row_ptr(i / 2), x.row_ptr(i), x.cols() * sizeof(float));
}

// Real layers from DIR, either as scripts/train_tiny_transformer.py writes a model
// (DIR/model.safetensors + DIR/calib/<tensor>.npy, the layout `vq weights compress --calib` reads)
// or as its layers/ folder (<layer>.weight.npy + <layer>.inputs.npy). Only layers whose name
// contains `filter`.
std::vector<Layer> load_layers(const std::string& dir, const std::string& filter) {
  std::vector<Layer> layers;
  if (std::filesystem::exists(dir + "/model.safetensors")) {
    const SafetensorsFile f = SafetensorsFile::open(dir + "/model.safetensors");
    for (const TensorInfo& t : f.tensors()) {
      const std::string calib = dir + "/calib/" + t.name + ".npy";
      if (t.shape.size() != 2 || t.name.find(filter) == std::string::npos || !std::filesystem::exists(calib)) continue;
      Layer l;
      l.name = t.name;
      l.w = Matrix(t.shape[0], t.shape[1]);
      const std::vector<float> v = f.read_float(t.name);
      std::copy(v.begin(), v.end(), l.w.data());
      split_inputs(read_matrix_npy(calib), l);
      layers.push_back(std::move(l));
    }
    std::sort(layers.begin(), layers.end(), [](const Layer& a, const Layer& b) { return a.name < b.name; });
    return layers;
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    const std::string suffix = ".weight.npy";
    if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(f.substr(0, f.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) {
    if (n.find(filter) == std::string::npos) continue;
    Layer l;
    l.name = n;
    l.w = read_matrix_npy(dir + "/" + n + ".weight.npy");
    split_inputs(read_matrix_npy(dir + "/" + n + ".inputs.npy"), l);
    layers.push_back(std::move(l));
  }
  return layers;
}

void quality(const std::string& dir, const std::vector<std::string>& schemes, const std::string& filter) {
  std::vector<Layer> layers;
  if (dir.empty()) {
    layers.push_back(synthetic_layer(512, 512, 1));
    layers.push_back(synthetic_layer(1024, 512, 2));
  } else {
    layers = load_layers(dir, filter);
  }
  std::printf("## quality (%s), threads=%d\n\n", dir.empty() ? "SYNTHETIC layers" : dir.c_str(), omp_get_max_threads());
  std::printf("| layer | scheme | bits/weight | output error (held-out X) | same, int8-table GEMV | compress s |\n"
              "|---|---|---|---|---|---|\n");
  for (const Layer& l : layers) {
    const std::vector<float> h = hessian_from_inputs(l.x_cal.view());
    for (const std::string& s : schemes) {
      const Scheme sc = Scheme::parse(s);
      if (l.w.cols() % sc.group != 0) continue;
      CompressedMatrix cm;
      const double t = bench::median(bench::time_runs(1, [&] { cm = compress(l.w.view(), h, sc, g_options); }));
      const Matrix d = cm.decode();
      // AQ: the same error when the product runs on int8 tables (GemvKernel, LutPrecision::kInt8).
      std::string int8_error = "";
      if (sc.is_aq() && sc.bits <= 8) {
        Matrix y(l.x_test.rows(), l.w.rows()), y8(l.x_test.rows(), l.w.rows());
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(y.rows()), int(y.cols()), int(l.w.cols()), 1.f,
                    l.x_test.data(), int(l.w.cols()), l.w.data(), int(l.w.cols()), 0.f, y.data(), int(y.cols()));
        GemvKernel(cm, LutPrecision::kInt8).matmul(l.x_test.view(), y8.view());
        double num = 0, den = 0;
        for (size_t i = 0; i < y.storage().size(); ++i) {
          num += double(y.data()[i] - y8.data()[i]) * (y.data()[i] - y8.data()[i]);
          den += double(y.data()[i]) * y.data()[i];
        }
        int8_error = std::to_string(std::sqrt(num / den)).substr(0, 6);
      }
      std::printf("| %s | %s | %.3f | %.4f | %s | %.2f |\n", l.name.c_str(), s.c_str(), cm.bits_per_weight(),
                  output_error(l.w, d, l.x_test), int8_error.c_str(), t);
      std::fflush(stdout);
    }
  }
}

// One shape and batch: dense fp32 (OpenBLAS) against products from codes, `threads` threads for
// both, median and fastest of `reps` (the machine is shared: the fastest run is the least
// disturbed). The bandwidth bound of a kernel is its bytes (codes, scales, inputs) over the best
// bandwidth a dense product with as many threads reached so far in the run (its 4·rows·cols bytes
// / its fastest time):
// the dense product streams the weights once, so that is what this machine delivers.
void speed_case(size_t rows, size_t cols, size_t batch, int threads, int reps, double& best_bw) {
  omp_set_num_threads(threads);
  bench::set_openblas_threads(threads);
  Matrix w = testdata::gaussian(rows, cols, 4);
  Matrix x = testdata::gaussian(batch, cols, 5);
  Matrix y(batch, rows), y_ref(batch, rows);
  const std::vector<double> dense_runs = bench::time_runs(reps, [&] {
    if (batch == 1)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(rows), int(cols), 1.f, w.data(), int(cols), x.data(), 1, 0.f,
                  y.data(), 1);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(batch), int(rows), int(cols), 1.f, x.data(), int(cols),
                  w.data(), int(cols), 0.f, y.data(), int(rows));
  });
  const double dense = bench::median(dense_runs);
  // Bandwidth: the fastest dense run (the machine is shared; the median is ratios' reference).
  const double dense_bytes = double(rows) * cols * 4;
  const double dense_min = *std::min_element(dense_runs.begin(), dense_runs.end());
  best_bw = std::max(best_bw, dense_bytes / dense_min);
  const double bw = best_bw;
  std::printf("| %zux%zu | %d | %zu | dense fp32 (OpenBLAS) | %.3f | 1.00 | %.3f | 1.00 | %.1f MB | %.1f GB/s (this: %.1f) | |\n",
              rows, cols, threads, batch, dense * 1e3, dense_min * 1e3, dense_bytes / 1e6, bw / 1e9,
              dense_bytes / dense_min / 1e9);
  struct Case {
    std::string name;
    CompressedMatrix cm;
    LutPrecision precision;
  };
  std::vector<Case> cases;
  const CompressedMatrix aq = testdata::random_aq(rows, cols);
  cases.push_back({"AQ2x8d8 float tables", aq, LutPrecision::kFloat});
  cases.push_back({"AQ2x8d8 int8 tables", aq, LutPrecision::kInt8});
  for (const char* s : {"RTN2g128", "RTN4g128"}) cases.push_back({s, compress(w.view(), {}, s), LutPrecision::kFloat});
  for (const Case& c : cases) {
    const GemvKernel k(c.cm, c.precision);
    k.matmul(x.view(), y.view());  // warm-up (tables, pages)
    const std::vector<double> runs = bench::time_runs(reps, [&] { k.matmul(x.view(), y.view()); });
    const double t = bench::median(runs), t_min = *std::min_element(runs.begin(), runs.end());
    const double bytes = c.cm.bits_per_weight() * double(rows) * cols / 8.0 + double(batch) * cols * 4;
    double err = 0, norm = 0;  // the int8 tables' deviation from the exact (float-table) product
    if (c.precision == LutPrecision::kInt8) {
      GemvKernel(c.cm).matmul(x.view(), y_ref.view());
      for (size_t i = 0; i < batch * rows; ++i) {
        err += double(y.data()[i] - y_ref.data()[i]) * (y.data()[i] - y_ref.data()[i]);
        norm += double(y_ref.data()[i]) * y_ref.data()[i];
      }
    }
    std::printf("| %zux%zu | %d | %zu | %s | %.3f | %.2fx | %.3f | %.2fx | %.1f MB | %.3f ms | %.2f%s |\n", rows, cols,
                threads, batch, c.name.c_str(), t * 1e3, dense / t, t_min * 1e3, dense_min / t_min, bytes / 1e6,
                bytes / bw * 1e3, t_min / (bytes / bw),
                norm > 0 ? (" (rel. dev. " + std::to_string(std::sqrt(err / norm)) + ")").c_str() : "");
    std::fflush(stdout);
  }
}

void speed() {
  const int reps = 7;
  double best_bw[3] = {};  // per thread count: the best bandwidth a dense product reached so far
  std::printf("## speed: median of %d; ours and OpenBLAS with the same thread count\n\n", reps);
  std::printf("| shape | threads | batch | kernel | median ms | vs dense (medians) | fastest ms | vs dense (fastest) "
              "| bytes | bandwidth bound | fastest / bound |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (auto [rows, cols] : {std::pair<size_t, size_t>{4096, 4096}, {11008, 4096}})
    for (int threads : {1, 2})
      for (size_t batch : {1, 16}) speed_case(rows, cols, batch, threads, reps, best_bw[threads]);
}

// Only AQ2x8d8 batch-1 products on 4096x4096, many times: a target for `perf record`.
void gemv_loop(LutPrecision precision) {
  const CompressedMatrix cm = testdata::random_aq(4096, 4096);
  const GemvKernel k(cm, precision);
  std::vector<float> x(4096, 1.f), y(4096);
  const double t = bench::median(bench::time_runs(300, [&] { k.matvec(x, y); }));
  std::printf("AQ2x8d8 %s tables, 4096x4096 batch 1: %.3f ms (median of 300)\n",
              precision == LutPrecision::kInt8 ? "int8" : "float", t * 1e3);
}

void compress_time() {
  const size_t n = 4096;
  Matrix w = testdata::gaussian(n, n, 6);
  Matrix x = testdata::correlated(2 * n, n, 7);
  const std::vector<float> h = hessian_from_inputs(x.view());
  std::printf("## compression time, 4096x4096 under H, threads=%d\n\n", omp_get_max_threads());
  for (const char* s : {"AQ2x8d8", "GPTQ3g128", "RTN2g128"}) {
    CompressedMatrix cm;
    const double t = bench::median(bench::time_runs(1, [&] { cm = compress(w.view(), h, s, g_options); }));
    std::printf("| %s | %.1f s | %.3f bits/weight | rel. H-error %.4f |\n", s, t, cm.bits_per_weight(),
                relative_error(w.view(), cm.decode().view(), h));
    std::fflush(stdout);
  }
}

// Where the 2-bit-against-3-bit comparison stands on weights without structure: on a Gaussian
// source no code, vector or scalar, beats the rate-distortion function D(R) = σ²·2^(−2R).
void gaussian(const std::vector<std::string>& schemes) {
  const size_t n = 1024;
  const Matrix w = testdata::gaussian(n, n, 41);
  const std::vector<float> identity;  // H = I
  std::printf("## i.i.d. Gaussian weights %zux%zu, H = I, threads=%d\n\n", n, n, omp_get_max_threads());
  std::printf("| scheme | bits/weight | relative MSE | Shannon bound 2^(-2R) at R = bits/weight | MSE / bound | compress s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const std::string& s : schemes) {
    CompressedMatrix cm;
    const double t = bench::median(bench::time_runs(1, [&] { cm = compress(w.view(), identity, s); }));
    const double mse = relative_error(w.view(), cm.decode().view(), identity);
    const double bound = std::exp2(-2.0 * cm.bits_per_weight());
    std::printf("| %s | %.3f | %.4f | %.4f | %.2f | %.1f |\n", s.c_str(), cm.bits_per_weight(), mse, bound, mse / bound, t);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bench::pin_openblas_single_thread();
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--no-act-order") == 0) {
      g_options.act_order = false;
      std::copy(argv + i + 1, argv + argc, argv + i);
      --argc;
      break;
    }
  const std::string what = argc > 1 ? argv[1] : "all";
  const std::string dir = argc > 2 ? argv[2] : "";
  std::vector<std::string> schemes(std::begin(kSchemes), std::end(kSchemes));
  if (argc > 3) {
    schemes.clear();
    std::stringstream list(argv[3]);
    for (std::string item; std::getline(list, item, ',');) schemes.push_back(item);
  }
  if (what == "quality" || what == "all") quality(dir, schemes, argc > 4 ? argv[4] : "");
  if (what == "time" || what == "all") compress_time();
  if (what == "gaussian") gaussian(argc > 3 ? schemes : std::vector<std::string>{"RTN3g128", "GPTQ3g128", "CDQ3g128", "AQ2x8d8", "AQ1x8d4", "AQ2x4d4", "AQ4x4d8", "AQ3x8d8"});
  if (what == "speed" || what == "all") speed();
  if (what == "gemv-float") gemv_loop(LutPrecision::kFloat);
  if (what == "gemv-int8") gemv_loop(LutPrecision::kInt8);
  return 0;
}
