// The processes a command runs on: this process alone, or, when `mpirun -np N vq ...` started
// it (and vq was built with MPI), the N ranks of MPI_COMM_WORLD. MPI is initialised on first
// use and finalised at exit; a plain `vq ...` never touches it.
#pragma once

#include "vq/core/communicator.h"

namespace vq::cli {

const Communicator& ranks();
// Rank 0 (or the only process): the one that writes outputs and prints.
inline bool is_root() { return ranks().rank() == 0; }
// Whether this run has more than one rank (without initialising MPI).
bool running_on_several_ranks();
// Ends every rank with this exit code: after an error on one rank, the others may be waiting in
// a collective call and would never return.
[[noreturn]] void abort_all_ranks(int code);

}  // namespace vq::cli
