#include "vq/mpi/mpi_communicator.h"

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "vq/error.h"

namespace vq::mpi {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  VQ_THROW(what, " failed: ", std::string(text, static_cast<size_t>(length)));
}

// MPI counts are int: large buffers go in pieces.
constexpr size_t kMaxCount = size_t{1} << 30;

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm) : comm_(comm) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  VQ_CHECK(initialised, "MpiCommunicator: MPI is not initialised (vq::mpi::Session, or MPI_Init)");
  check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

// Reduce to rank 0, then broadcast: MPI_Allreduce may sum in a different order on different
// ranks, and ranks that then computed from slightly different sums would drift apart.
void MpiCommunicator::allreduce_sum(Span<double> values) const {
  for (size_t at = 0; at < values.size(); at += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, values.size() - at));
    double* p = values.data() + at;
    check(MPI_Reduce(rank_ == 0 ? MPI_IN_PLACE : p, rank_ == 0 ? p : nullptr, count, MPI_DOUBLE, MPI_SUM, 0, comm_),
          "MPI_Reduce");
    check(MPI_Bcast(p, count, MPI_DOUBLE, 0, comm_), "MPI_Bcast");
  }
}

std::vector<uint8_t> MpiCommunicator::allgather(Span<const uint8_t> local, std::vector<size_t>* sizes) const {
  VQ_CHECK(local.size() < size_t{INT_MAX}, "MpiCommunicator::allgather: ", local.size(), " bytes from one rank");
  const int mine = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
  check(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
  size_t total = 0;
  for (int i = 0; i < size_; ++i) {
    VQ_CHECK(total < size_t{INT_MAX}, "MpiCommunicator::allgather: more than 2 GiB in all");
    displs[static_cast<size_t>(i)] = static_cast<int>(total);
    total += static_cast<size_t>(counts[static_cast<size_t>(i)]);
  }
  VQ_CHECK(total < size_t{INT_MAX}, "MpiCommunicator::allgather: more than 2 GiB in all");
  std::vector<uint8_t> all(total);
  check(MPI_Allgatherv(local.data(), mine, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, comm_),
        "MPI_Allgatherv");
  if (sizes) sizes->assign(counts.begin(), counts.end());
  return all;
}

// Large parts go in rounds, one MPI_Gatherv each, of at most 1 GiB in all per round: MPI's counts
// and displacements are int.
std::vector<uint8_t> MpiCommunicator::gather(Span<const uint8_t> local, int root, std::vector<size_t>* sizes) const {
  const auto ranks = static_cast<size_t>(size_);
  std::vector<unsigned long long> counts(ranks);
  const unsigned long long mine = local.size();
  check(MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, counts.data(), 1, MPI_UNSIGNED_LONG_LONG, root, comm_),
        "MPI_Gather");
  unsigned long long longest = mine;
  check(MPI_Allreduce(MPI_IN_PLACE, &longest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm_), "MPI_Allreduce");
  std::vector<uint8_t> all;
  std::vector<size_t> starts(ranks, 0);
  if (rank_ == root) {
    size_t total = 0;
    for (size_t r = 0; r < ranks; ++r) starts[r] = total, total += counts[r];
    all.resize(total);
    if (sizes) sizes->assign(counts.begin(), counts.end());
  } else if (sizes) {
    sizes->clear();
  }
  const size_t round = std::max<size_t>(1, (size_t{1} << 30) / ranks);
  std::vector<int> piece(ranks), displs(ranks);
  std::vector<uint8_t> staging;
  for (size_t at = 0; at < longest; at += round) {
    const int send = static_cast<int>(at < mine ? std::min<size_t>(round, mine - at) : 0);
    if (rank_ == root) {
      size_t offset = 0;
      for (size_t r = 0; r < ranks; ++r) {
        piece[r] = static_cast<int>(at < counts[r] ? std::min<size_t>(round, counts[r] - at) : 0);
        displs[r] = static_cast<int>(offset);
        offset += static_cast<size_t>(piece[r]);
      }
      staging.resize(offset);
    }
    check(MPI_Gatherv(local.data() + std::min<size_t>(at, mine), send, MPI_BYTE, staging.data(), piece.data(),
                      displs.data(), MPI_BYTE, root, comm_),
          "MPI_Gatherv");
    if (rank_ == root)
      for (size_t r = 0; r < ranks; ++r)
        std::copy_n(staging.data() + displs[r], piece[r], all.data() + starts[r] + at);
  }
  return all;
}

namespace {

class WindowCounter final : public Communicator::Counter {
 public:
  explicit WindowCounter(MPI_Comm comm) : comm_(comm) {
    int rank = 0;
    MPI_Comm_rank(comm_, &rank);
    const MPI_Aint bytes = rank == 0 ? MPI_Aint(sizeof(uint64_t)) : 0;
    check(MPI_Win_allocate(bytes, sizeof(uint64_t), MPI_INFO_NULL, comm_, &base_, &window_), "MPI_Win_allocate");
    if (rank == 0) *static_cast<uint64_t*>(base_) = 0;
    check(MPI_Barrier(comm_), "MPI_Barrier");  // the zero is in place before anyone draws
    check(MPI_Win_lock_all(0, window_), "MPI_Win_lock_all");
  }
  ~WindowCounter() override {
    MPI_Win_unlock_all(window_);
    MPI_Win_free(&window_);
  }
  uint64_t next() override {
    const uint64_t one = 1;
    uint64_t value = 0;
    check(MPI_Fetch_and_op(&one, &value, MPI_UINT64_T, 0, 0, MPI_SUM, window_), "MPI_Fetch_and_op");
    check(MPI_Win_flush(0, window_), "MPI_Win_flush");
    return value;
  }

 private:
  MPI_Comm comm_;
  void* base_ = nullptr;
  MPI_Win window_ = MPI_WIN_NULL;
};

}  // namespace

std::unique_ptr<Communicator::Counter> MpiCommunicator::make_counter() const {
  return std::make_unique<WindowCounter>(comm_);
}

Session::Session(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int provided = 0;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  owns_ = true;
}

Session::~Session() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (owns_ && !finalised) MPI_Finalize();
}

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(name)) return true;
  return false;
}

void abort_all(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

}  // namespace vq::mpi
