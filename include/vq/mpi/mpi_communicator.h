// vq::Communicator over MPI (the optional vqcodec_mpi library, built when CMake finds MPI).
//
//   vq::mpi::Session mpi(argc, argv);              // MPI_Init_thread / MPI_Finalize
//   vq::mpi::MpiCommunicator comm;                 // MPI_COMM_WORLD
//   vq::TrainOptions options;
//   options.comm = &comm;
//   quantizer.train(my_rows, options);            // every rank, its own rows
//
// Threads: the trainers call MPI only from the calling thread, so MPI_THREAD_FUNNELED is enough
// (what Session asks for); OpenMP threads inside a rank never call MPI.
#pragma once

#include <mpi.h>

#include "vq/core/communicator.h"

namespace vq::mpi {

class MpiCommunicator final : public Communicator {
 public:
  // The communicator is used, not owned: the caller keeps it alive and frees it.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(Span<double> values) const override;
  std::vector<uint8_t> allgather(Span<const uint8_t> local, std::vector<size_t>* sizes = nullptr) const override;
  std::vector<uint8_t> gather(Span<const uint8_t> local, int root, std::vector<size_t>* sizes = nullptr) const override;
  // One 64-bit integer in an MPI window on rank 0, advanced by MPI_Fetch_and_op under a
  // passive-target lock: no rank has to stop and serve it.
  std::unique_ptr<Counter> make_counter() const override;

  MPI_Comm handle() const { return comm_; }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

// MPI_Init_thread (FUNNELED) on construction unless MPI is already initialised, MPI_Finalize on
// destruction if this object initialised it.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

 private:
  bool owns_ = false;
};

// Whether this process was started by an MPI launcher (mpirun / mpiexec / srun): the CLI
// initialises MPI only then, so that a plain `vq train` never touches it.
bool launched_by_mpi();

// Ends every rank of MPI_COMM_WORLD with this exit code: what a rank that failed alone calls,
// so that the others are not left waiting in a collective.
[[noreturn]] void abort_all(int code);

}  // namespace vq::mpi
