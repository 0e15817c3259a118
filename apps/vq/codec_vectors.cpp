// Vectors (.npy, .fvecs, .bvecs) through a quantizer trained with vq train: the codec every
// other domain builds on. Encoding needs -m; a codes file carries its quantizer, so decoding
// needs nothing else.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "cli.h"
#include "cli_ranks.h"
#include "media_codec.h"
#include "part_files.h"
#include "vq/core/bitpack.h"
#include "vq/core/io.h"
#include "vq/core/matrix_file.h"
#include "vq/core/matrix_io.h"
#include "vq/core/npy.h"

namespace vq::cli {
namespace {

class VectorsCodec final : public MediaCodec {
 public:
  std::string name() const override { return "vectors"; }
  std::vector<std::string> extensions() const override { return {".npy", ".fvecs", ".bvecs"}; }
  std::string container_kind() const override { return "codes"; }
  std::string decoded_extension() const override { return ".npy"; }

  // The input is read in chunks that fit memory_bound() and the codes are written as they come,
  // so a file larger than memory encodes in bounded memory. Under mpirun each rank encodes its
  // block of rows and rank 0 copies the ranks' codes into the one output, the file a single
  // process writes.
  void encode(const EncodeRequest& r) override {
    if (r.model.empty())
      throw UsageError("vq encode " + r.input + ": vectors need a trained quantizer: -m MODEL.vqc "
                       "(train one with vq train)");
    const Communicator& comm = ranks();
    const MatrixFile file(r.input);
    const std::unique_ptr<Quantizer> q = load_quantizer(r.model);
    VQ_CHECK(file.cols() == q->dim(), r.input, ": vectors of dimension ", file.cols(), ", the quantizer ",
             q->describe(), " takes ", q->dim());
    const RowBlock mine = rank_rows(file.rows(), comm.rank(), comm.size());
    // A chunk's floats, its reconstruction and its codes, within the bound.
    const size_t row_bytes = 2 * q->dim() * sizeof(float) + q->num_books() * sizeof(uint16_t);
    const size_t chunk = std::max<size_t>(256, memory_bound() / 2 / row_bytes);
    const auto start = std::chrono::steady_clock::now();
    QualitySums sums(q->book_bits());
    const std::string source = base_name(r.input);
    // Alone, the codes go into the file as they come. Under mpirun every rank writes its packed
    // codes to a part file beside the output as they come, and rank 0 then copies the parts
    // into the file in rank order (the output's folder must be shared by the ranks). --tokens
    // holds the codes for the .npy.
    const bool alone = comm.size() == 1;
    std::optional<CodesFileWriter> writer;
    if (alone) writer.emplace(r.output_file, *q, file.rows(), source);
    const std::string part = part_path(r.output, "codes", size_t(comm.rank()));
    PartFiles mine_part;
    if (!alone) mine_part.paths.push_back(part);
    std::ofstream part_out;
    if (!alone) part_out.open(part, std::ios::binary | std::ios::trunc);
    const bool hold = !r.tokens.empty();
    Codes held(hold ? mine.end - mine.begin : 0, q->book_bits());
    for (size_t at = mine.begin; at < mine.end; at += chunk) {
      const size_t count = std::min(chunk, mine.end - at);
      const Matrix x = file.read_rows(at, count);
      const Codes codes = q->encode(x);
      if (writer) {
        writer->append(codes);
      } else {
        const std::vector<uint8_t> packed = pack_codes(codes);
        part_out.write(reinterpret_cast<const char*>(packed.data()), std::streamsize(packed.size()));
      }
      if (hold) std::copy(codes.data.begin(), codes.data.end(), held.data.begin() + (at - mine.begin) * q->num_books());
      if (!r.quiet) sums.add(*q, x, codes, q->decode(codes).view());
    }
    if (alone) {
      writer->finish();
    } else {
      part_out.close();
      VQ_CHECK(!part_out.fail(), "cannot write '", part, "' (a part of ", r.output, ")");
      mine_part.keep = true;
      sums.reduce(comm);  // also the barrier: every part is on disk past it
      std::vector<uint8_t> tokens;
      if (hold)
        tokens = comm.gather({reinterpret_cast<const uint8_t*>(held.data.data()), held.data.size() * sizeof(uint16_t)}, 0);
      if (comm.rank() != 0) return;
      CodesFileWriter out(r.output_file, *q, file.rows(), source);
      std::vector<uint8_t> piece(std::max<size_t>(1, chunk) * packed_bytes_per_vector(q->book_bits()));
      for (int rank = 0; rank < comm.size(); ++rank) {
        const std::string path = part_path(r.output, "codes", size_t(rank));
        PartFiles remove_after;
        remove_after.paths.push_back(path);
        std::ifstream in(path, std::ios::binary);
        VQ_CHECK(in.good(), "cannot read '", path, "', written by rank ", rank, ": is the output's folder shared by every rank?");
        while (in.read(reinterpret_cast<char*>(piece.data()), std::streamsize(piece.size())) || in.gcount() > 0)
          out.append_packed(Span<const uint8_t>(piece.data(), static_cast<size_t>(in.gcount())));
      }
      out.finish();
      if (hold) {
        held = Codes(file.rows(), q->book_bits());
        std::memcpy(held.data.data(), tokens.data(), tokens.size());
      }
    }
    if (!r.tokens.empty()) write_codes_npy(r.tokens_file, held);
    // Reading, encoding and writing, and under mpirun the gathering of the codes on rank 0.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    if (r.quiet) return;
    std::printf("encoded          %zu vectors from %s%s in %.2f s\n", file.rows(), r.input.c_str(),
                comm.size() > 1 ? (" over " + std::to_string(comm.size()) + " ranks").c_str() : "", seconds);
    print_quality(*q, sums);
    std::printf("saved            %s%s%s\n", r.output.c_str(), r.tokens.empty() ? "" : " and ",
                r.tokens.c_str());
  }

  void decode(const ContainerReader& in, const DecodeRequest& r) override {
    const auto [q, codes, source] = read_codes_file(in);
    const Matrix decoded = q->decode(codes);
    write_matrix(r.output, decoded.view());
    if (!r.quiet)
      std::printf("decoded          %zu vectors of dim %zu (%s) to %s\n", codes.n, q->dim(),
                  q->describe().c_str(), r.output.c_str());
  }

  bool has_eval() const override { return true; }
  // Relative error and SNR of decoded vectors against the originals, row by row. The plot is
  // the MSE of each dimension (mean over vectors of the squared error in that coordinate): the
  // per-vector MSE is their sum, and a quantizer that starves some subspaces shows there.
  void eval(const std::string& reference, const std::string& decoded, Chart* plot) override {
    const Matrix x = read_matrix(reference);
    const Matrix y = read_matrix(decoded);
    VQ_CHECK(x.rows() == y.rows() && x.cols() == y.cols(), decoded, ": shape ", y.rows(), "×",
             y.cols(), " differs from ", reference, "'s ", x.rows(), "×", x.cols());
    double err = 0, energy = 0, worst = 0;
    std::vector<double> dim_err(x.cols(), 0.0);
    for (size_t i = 0; i < x.rows(); ++i)
      for (size_t j = 0; j < x.cols(); ++j) {
        const double d = double(x(i, j)) - y(i, j);
        err += d * d;
        dim_err[j] += d * d;
        energy += double(x(i, j)) * x(i, j);
        worst = std::max(worst, std::abs(d));
      }
    const double n = static_cast<double>(std::max<size_t>(x.rows(), 1));
    std::printf("vectors          %zu × %zu\n", x.rows(), x.cols());
    std::printf("MSE              %.6g per vector\n", err / n);
    std::printf("relative error   %.6g\n", energy > 0 ? err / energy : 0.0);
    std::printf("SNR              %.2f dB\n", err > 0 ? 10 * std::log10(energy / err) : INFINITY);
    std::printf("max abs error    %.6g\n", worst);
    if (!plot) return;
    for (double& e : dim_err) e /= n;
    plot->title = "MSE per dimension: " + base_name(decoded) + " against " + base_name(reference);
    plot->x_label = "dimension";
    plot->y_label = "mean squared error";
    // Bars while each is wide enough to see; a line for wide vectors (960-d GIST, 4096-d).
    plot->style = x.cols() <= 64 ? Chart::Style::kBars : Chart::Style::kLine;
    plot->series = {{"", std::move(dim_err)}};
  }
};

}  // namespace

MediaCodec& vectors_codec() {
  static VectorsCodec codec;
  return codec;
}

}  // namespace vq::cli
