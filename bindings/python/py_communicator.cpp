#include "py_communicator.h"

#include <pybind11/numpy.h>

#include <string>

namespace vq::py {

namespace pyb = pybind11;

namespace {

// Called by the trainers from the thread that called fit() (with the GIL released there), so
// every method takes the GIL back for its mpi4py calls.
class PyCommunicator final : public Communicator {
 public:
  explicit PyCommunicator(pyb::object comm) : comm_(std::move(comm)) {
    for (const char* name : {"Get_rank", "Get_size", "Reduce", "Bcast", "allgather"})
      if (!pyb::hasattr(comm_, name))
        throw pyb::type_error(std::string("comm: expected an mpi4py communicator (it has no ") + name + ")");
    rank_ = comm_.attr("Get_rank")().cast<int>();
    size_ = comm_.attr("Get_size")().cast<int>();
    mpi_ = pyb::module_::import("mpi4py.MPI");
  }
  ~PyCommunicator() override {
    pyb::gil_scoped_acquire gil;
    comm_ = pyb::object();
    mpi_ = pyb::object();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  // Reduce to rank 0, then broadcast: every rank gets bitwise the same sums (see
  // Communicator::allreduce_sum).
  void allreduce_sum(Span<double> values) const override {
    pyb::gil_scoped_acquire gil;
    // A view of `values`, not a copy: the capsule is a base that frees nothing.
    const pyb::array_t<double> a({values.size()}, {sizeof(double)}, values.data(), pyb::capsule(values.data(), [](void*) {}));
    const pyb::object sum = mpi_.attr("SUM");
    if (rank_ == 0)
      comm_.attr("Reduce")(mpi_.attr("IN_PLACE"), a, sum, 0);
    else
      comm_.attr("Reduce")(a, pyb::none(), sum, 0);
    comm_.attr("Bcast")(a, 0);
  }

  std::vector<uint8_t> allgather(Span<const uint8_t> local, std::vector<size_t>* sizes) const override {
    pyb::gil_scoped_acquire gil;
    const pyb::list parts = comm_.attr("allgather")(
        pyb::bytes(reinterpret_cast<const char*>(local.data()), local.size()));
    std::vector<uint8_t> all;
    if (sizes) sizes->clear();
    for (const pyb::handle part : parts) {
      const std::string bytes = part.cast<std::string>();
      all.insert(all.end(), bytes.begin(), bytes.end());
      if (sizes) sizes->push_back(bytes.size());
    }
    return all;
  }

 private:
  pyb::object comm_, mpi_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> communicator_from(const pyb::object& comm) {
  if (comm.is_none()) return nullptr;
  return std::make_unique<PyCommunicator>(comm);
}

}  // namespace vq::py
