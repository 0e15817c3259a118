#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli.h"
#include "vq/core/container.h"
#include "vq/core/io.h"
#include "vq/core/kmeans.h"
#include "vq/core/matrix_io.h"
#include "vq/simd.h"
#include "vq/version.h"

namespace vq::cli {
namespace {

constexpr int kBarWidth = 24;
// Beyond this many books (SQ on wide vectors) the usage table becomes a one-line summary.
constexpr size_t kMaxBooksListed = 16;

struct ProgressState {
  bool tty = false;
  bool line_open = false;   // a bar is drawn on the current terminal line
  std::string outer;        // the latest enclosing stage ("rvq level 3/8") around inner k-means
};

ProgressState& progress_state() {
  static ProgressState state;
  return state;
}

std::string describe_event(const ProgressEvent& e) {
  std::string s = e.stage;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%zu/%zu", e.step, e.total);
  // "rvq level 3/8" already says where it is.
  if (e.total && !s.ends_with(buf)) s.append(" ").append(buf);
  if (e.objective > 0) {
    std::snprintf(buf, sizeof buf, "  objective %.5g", e.objective);
    s += buf;
  }
  if (e.perplexity > 0) {
    std::snprintf(buf, sizeof buf, "  perplexity %.1f", e.perplexity);
    s += buf;
  }
  return s;
}

}  // namespace

std::string version_string() {
  return detail::concat(version(), " (container format ", kContainerVersion, ", SIMD ",
                        simd_level_name(simd_level()), ")");
}

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

ProgressCallback make_progress(bool quiet) {
  if (quiet) return {};
  ProgressState& st = progress_state();
  st.tty = isatty(fileno(stderr)) != 0;
  return [&st](const ProgressEvent& e) {
    // k-means reports inside a larger stage; keep the enclosing stage visible beside it.
    const bool inner = e.stage == "kmeans";
    if (!inner) st.outer = e.stage;
    if (!st.tty) {
      // Every enclosing stage, but of k-means runs only their last iteration.
      if (!inner || e.step == e.total) std::fprintf(stderr, "%s\n", describe_event(e).c_str());
      return;
    }
    std::string line = inner && !st.outer.empty() ? st.outer + " | " : "";
    line += e.stage;
    if (e.total) {
      const int filled = static_cast<int>(kBarWidth * std::min(e.step, e.total) / e.total);
      line += " [" + std::string(filled, '#') + std::string(kBarWidth - filled, '.') + "]";
    }
    line += describe_event(e).substr(e.stage.size());
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    st.line_open = true;
  };
}

void finish_progress() {
  ProgressState& st = progress_state();
  if (st.line_open) std::fputc('\n', stderr);
  st.line_open = false;
  st.outer.clear();
}

Metric load_metric(const std::string& spec, size_t d) {
  if (spec == "identity") return Metric::identity();
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon == std::string::npos ? spec.size() : colon);
  if (colon == std::string::npos || colon + 1 == spec.size() || (kind != "diag" && kind != "full"))
    throw UsageError("--metric: expected identity, diag:FILE.npy or full:FILE.npy, got '" + spec + "'");
  const std::string path = spec.substr(colon + 1);
  const Matrix h = read_matrix(path);
  if (kind == "diag") {
    VQ_CHECK(h.rows() * h.cols() == d && (h.rows() == 1 || h.cols() == 1), path,
             ": a diagonal metric needs ", d, " values (shape (", d, ",)), got ", h.rows(), "×",
             h.cols());
    return Metric::diagonal(h.storage());
  }
  VQ_CHECK(h.rows() == d && h.cols() == d, path, ": a full metric needs a ", d, "×", d,
           " matrix, got ", h.rows(), "×", h.cols());
  return Metric::full(h.storage(), d);
}

std::vector<float> load_weights(const std::string& path, size_t n) {
  const Matrix w = read_matrix(path);
  VQ_CHECK(w.rows() * w.cols() == n && (w.rows() == 1 || w.cols() == 1), path, ": expected ", n,
           " weights (shape (", n, ",)), one per training vector; got ", w.rows(), "×", w.cols());
  return w.storage();
}

QualitySums::QualitySums(const std::vector<uint8_t>& book_bits) {
  for (uint8_t b : book_bits) counts.emplace_back(size_t{1} << b, 0.0);
}

void QualitySums::add(const Quantizer& q, MatrixView<const float> x, const Codes& codes,
                      MatrixView<const float> decoded) {
  const Metric& metric = q.metric();
  std::vector<float> diff(x.cols());
  for (size_t i = 0; i < x.rows(); ++i) {
    for (size_t j = 0; j < x.cols(); ++j) {
      diff[j] = x(i, j) - decoded(i, j);
      err += double(diff[j]) * diff[j];
      energy += double(x(i, j)) * x(i, j);
    }
    if (!metric.is_identity()) {
      err_h += metric.norm2(diff.data(), x.cols());
      energy_h += metric.norm2(x.row_ptr(i), x.cols());
    }
  }
  rows += static_cast<double>(x.rows());
  for (size_t i = 0; i < codes.n; ++i)
    for (size_t m = 0; m < counts.size(); ++m) counts[m][codes(i, m)] += 1.0;
}

void QualitySums::reduce(const Communicator& comm) {
  std::vector<double> v{err, energy, err_h, energy_h, rows};
  for (const std::vector<double>& c : counts) v.insert(v.end(), c.begin(), c.end());
  comm.allreduce_sum(v);
  err = v[0], energy = v[1], err_h = v[2], energy_h = v[3], rows = v[4];
  size_t at = 5;
  for (std::vector<double>& c : counts)
    for (double& e : c) e = v[at++];
}

void print_quality(const Quantizer& q, MatrixView<const float> x, const Codes& codes,
                   MatrixView<const float> decoded) {
  QualitySums sums(codes.bits);
  sums.add(q, x, codes, decoded);
  print_quality(q, sums);
}

void print_quality(const Quantizer& q, const QualitySums& s) {
  const Metric& metric = q.metric();
  const size_t bits = q.bits_per_vector();
  const double n = std::max(s.rows, 1.0);
  std::printf("quantizer        %s (dim %zu, metric %s)\n", q.describe().c_str(), q.dim(),
              metric.describe().c_str());
  std::printf("bits per vector  %zu (%.3f per dimension, %.1fx smaller than float32)\n", bits,
              double(bits) / q.dim(), 32.0 * q.dim() / bits);
  std::printf("vectors          %.0f\n", s.rows);
  std::printf("relative error   %.6g (MSE %.6g / mean squared norm %.6g)\n",
              s.energy > 0 ? s.err / s.energy : 0.0, s.err / n, s.energy / n);
  if (!metric.is_identity())
    std::printf("relative error under H  %.6g\n", s.energy_h > 0 ? s.err_h / s.energy_h : 0.0);

  const size_t books = s.counts.size();
  std::vector<CodebookUsage> usage;
  for (const std::vector<double>& c : s.counts) {
    std::vector<uint64_t> whole(c.size());
    for (size_t e = 0; e < c.size(); ++e) whole[e] = static_cast<uint64_t>(c[e]);
    usage.push_back(codebook_usage(whole));
  }
  if (books == 0) return;
  if (books <= kMaxBooksListed) {
    std::printf("codebook usage   book  entries  perplexity  dead\n");
    for (size_t m = 0; m < books; ++m)
      std::printf("                 %4zu  %7zu  %10.1f  %4zu\n", m, s.counts[m].size(), usage[m].perplexity,
                  usage[m].dead);
    return;
  }
  double lo = 1e300, hi = 0, sum = 0;
  size_t dead = 0, entries = 0;
  for (size_t m = 0; m < books; ++m) {
    lo = std::min(lo, usage[m].perplexity);
    hi = std::max(hi, usage[m].perplexity);
    sum += usage[m].perplexity;
    dead += usage[m].dead;
    entries += s.counts[m].size();
  }
  std::printf("codebook usage   %zu books, perplexity min %.1f mean %.1f max %.1f, %zu of %zu "
              "entries dead\n", books, lo, sum / books, hi, dead, entries);
}

namespace {
uint64_t g_memory_bound = 0;
}  // namespace

void set_memory_bound(uint64_t bytes) { g_memory_bound = bytes; }

uint64_t memory_bound() {
  if (g_memory_bound > 0) return g_memory_bound;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4 : uint64_t{1} << 30;
}

}  // namespace vq::cli
