// vq::Communicator over an mpi4py communicator (or any object with its methods: Get_rank,
// Get_size, Reduce, Bcast, allgather). The extension does not link MPI: every collective goes
// through mpi4py, which owns the MPI library of the Python process.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "vq/core/communicator.h"

namespace vq::py {

// Null for None (this process alone), else a communicator over `comm`.
std::unique_ptr<Communicator> communicator_from(const pybind11::object& comm);

}  // namespace vq::py
