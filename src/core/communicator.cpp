#include "vq/core/communicator.h"

#include <algorithm>

#include "vq/error.h"

namespace vq {

namespace {

class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(Span<double>) const override {}
  std::vector<uint8_t> allgather(Span<const uint8_t> local, std::vector<size_t>* sizes) const override {
    if (sizes) *sizes = {local.size()};
    return {local.begin(), local.end()};
  }
};

}  // namespace

std::vector<uint8_t> Communicator::gather(Span<const uint8_t> local, int root, std::vector<size_t>* sizes) const {
  std::vector<uint8_t> all = allgather(local, sizes);
  if (rank() != root) {
    all.clear();
    if (sizes) sizes->clear();
  }
  return all;
}

std::unique_ptr<Communicator::Counter> Communicator::make_counter() const {
  VQ_CHECK(size() == 1, "this communicator has no shared counter for ", size(), " ranks");
  struct Local final : Counter {
    uint64_t value = 0;
    uint64_t next() override { return value++; }
  };
  return std::make_unique<Local>();
}

const Communicator& self_communicator() {
  static const SelfCommunicator self;
  return self;
}

RowRange global_rows(const Communicator& comm, size_t local_rows) {
  std::vector<double> counts(static_cast<size_t>(comm.size()), 0.0);
  counts[static_cast<size_t>(comm.rank())] = static_cast<double>(local_rows);  // exact below 2^53
  comm.allreduce_sum(counts);
  RowRange r;
  for (int i = 0; i < comm.size(); ++i) {
    const auto c = static_cast<size_t>(counts[static_cast<size_t>(i)]);
    if (i < comm.rank()) r.offset += c;
    r.total += c;
  }
  return r;
}

RowBlock rank_rows(size_t n, int rank, int size) {
  VQ_CHECK(size >= 1 && rank >= 0 && rank < size, "rank_rows: rank ", rank, " of ", size);
  const size_t s = static_cast<size_t>(size), r = static_cast<size_t>(rank);
  const size_t base = n / s, extra = n % s;
  const size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

void throw_if_any_failed(const Communicator& comm, const std::string& local_error) {
  if (comm.size() == 1) {
    if (!local_error.empty()) throw Error(local_error);
    return;
  }
  std::vector<size_t> sizes;
  const std::vector<uint8_t> all =
      comm.allgather({reinterpret_cast<const uint8_t*>(local_error.data()), local_error.size()}, &sizes);
  if (!local_error.empty()) throw Error(local_error);
  size_t at = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] > 0)
      throw Error(detail::concat("rank ", i, " failed: ",
                                 std::string(reinterpret_cast<const char*>(all.data()) + at, sizes[i])));
    at += sizes[i];
  }
}

}  // namespace vq
