// Every rank makes its own rows, the ranks train one PQ quantizer together, and each rank
// checks that it holds the same codebooks as rank 0 (the sum of every entry, reduced).
#include <cstdio>
#include <vector>

#include "vq/core/codebook_quantizer.h"
#include "vq/core/factory.h"
#include "vq/core/rng.h"
#include "vq/mpi/mpi_communicator.h"

int main(int argc, char** argv) {
  vq::mpi::Session session(&argc, &argv);
  const vq::mpi::MpiCommunicator comm;
  // 4,000 rows in all, this rank's block of them, each row seeded by its global index.
  const vq::RowBlock mine = vq::rank_rows(4000, comm.rank(), comm.size());
  const size_t d = 16;
  vq::Matrix x(mine.end - mine.begin, d);
  for (size_t i = mine.begin; i < mine.end; ++i) {
    vq::Rng rng(1000 + i);
    for (size_t j = 0; j < d; ++j) x(i - mine.begin, j) = static_cast<float>(rng.uniform()) * float(j % 4 + 1);
  }
  const auto q = vq::make_quantizer("PQ4x6", d);
  vq::TrainOptions options;
  options.comm = &comm;
  options.iterations = 5;
  q->train(x.view(), options);
  double mine_sum = 0.0;
  for (const vq::Codebook& book : dynamic_cast<const vq::CodebookQuantizer&>(*q).books())
    for (float v : book.entries.storage()) mine_sum += v;
  std::vector<double> sums(static_cast<size_t>(comm.size()), 0.0);
  sums[static_cast<size_t>(comm.rank())] = mine_sum;
  comm.allreduce_sum(sums);
  for (double s : sums)
    if (s != sums[0]) {
      std::fprintf(stderr, "rank %d: codebooks differ between ranks\n", comm.rank());
      return 1;
    }
  if (comm.rank() == 0)
    std::printf("%s trained over %d ranks on %zu rows each or so; every rank holds the same codebooks\n",
                q->describe().c_str(), comm.size(), x.rows());
  return 0;
}
