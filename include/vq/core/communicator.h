// Communicator: the few collective operations that training across processes needs.
//
// A distributed training run splits one training set by rows over the ranks: rank r holds a
// contiguous block, and the global set is the ranks' blocks concatenated in rank order. Every
// rank calls the same training function with its own rows and the same options; the trainers
// reduce sums across ranks where a single process would sum over rows, and draw every random
// choice (subsamples, seeds) from global row positions, so the codebooks equal the
// single-process ones up to the order of floating-point sums, at any rank count.
//
// The core does not depend on MPI: it sees only this interface. vq/mpi/mpi_communicator.h
// implements it over an MPI communicator (built when MPI is found), and the Python bindings over
// an mpi4py one. self_communicator() is the single-process case, and what options default to.
//
// Every operation is collective: all ranks call it in the same order with the same sizes. Calls
// come from the thread that called the trainer, never from worker threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vq/types.h"

namespace vq {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Element-wise sum over ranks, in place. Every rank receives bitwise the same result (the
  // sums are made in one place, in one order), so ranks that compute from it stay in step.
  virtual void allreduce_sum(Span<double> values) const = 0;
  // Every rank's bytes, concatenated in rank order, on every rank; `sizes` (when given)
  // receives each rank's byte count.
  virtual std::vector<uint8_t> allgather(Span<const uint8_t> local, std::vector<size_t>* sizes = nullptr) const = 0;
  // As allgather, but only rank `root` receives (the others get an empty vector): what writing
  // one output from every rank's part needs. The default goes through allgather.
  virtual std::vector<uint8_t> gather(Span<const uint8_t> local, int root, std::vector<size_t>* sizes = nullptr) const;

  // A counter every rank draws from: next() returns 0, 1, 2, ... over all ranks together, each
  // value to one caller. What a dynamic work queue needs (the next item to whoever is free).
  // Collective to create and to destroy; next() is not. The default serves one rank only.
  class Counter {
   public:
    virtual ~Counter() = default;
    virtual uint64_t next() = 0;
  };
  virtual std::unique_ptr<Counter> make_counter() const;
};

// The single-process communicator: rank 0 of 1, every operation a copy.
const Communicator& self_communicator();

// Where this rank's rows sit in the global training set.
struct RowRange {
  size_t offset = 0;  // global position of this rank's first row
  size_t total = 0;   // rows over all ranks
};
RowRange global_rows(const Communicator& comm, size_t local_rows);

// Rows [begin, end) of n global rows that rank `rank` of `size` takes in an even split (the
// first n % size ranks one more). What the CLI and the Python helpers use to read a rank's part.
struct RowBlock {
  size_t begin = 0, end = 0;
};
RowBlock rank_rows(size_t n, int rank, int size);

// Collective error agreement. A rank whose local check failed passes its message; a non-empty
// message on any rank makes every rank throw vq::Error (its own message, or one naming the
// first failing rank and its message), so no rank is left waiting in a collective call.
void throw_if_any_failed(const Communicator& comm, const std::string& local_error);

}  // namespace vq
