#include "cli_ranks.h"

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
