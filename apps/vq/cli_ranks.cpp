#include "cli_ranks.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#ifdef VQ_HAVE_MPI
#include "vq/mpi/mpi_communicator.h"
#endif

namespace vq::cli {

namespace {
bool several = false;
}  // namespace

const Communicator& ranks() {
#ifdef VQ_HAVE_MPI
  if (mpi::launched_by_mpi()) {
    // Function-local statics: initialised once, finalised at exit in reverse order.
    static mpi::Session session(nullptr, nullptr);
    static const mpi::MpiCommunicator world;
    several = world.size() > 1;
    return world;
  }
#else
  // Started by mpirun, but built without MPI: every rank would do the whole job alone.
  static const bool warned = [] {
    const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
    if (size && std::atoi(size) > 1)
      std::fprintf(stderr, "vq: warning: this vq was built without MPI; each of the %s ranks runs the whole "
                   "command alone (rebuild with libopenmpi-dev installed)\n", size);
    return true;
  }();
  (void)warned;
#endif
  return self_communicator();
}

bool running_on_several_ranks() { return several; }

void abort_all_ranks(int code) {
#ifdef VQ_HAVE_MPI
  mpi::abort_all(code);
#else
  std::exit(code);
#endif
}

}  // namespace vq::cli
