"""Distributed training from Python (mpi4py), run under mpirun by tests/mpi/CMakeLists.txt:
every rank trains on its block of rows and compares the result with a single-process run on
all rows (equal up to the order of sums: 1e-5 of the scale). Exits non-zero on every rank if
any rank found a difference.
Usage: mpirun -np N python3 check_python.py"""
import sys

import numpy as np
from mpi4py import MPI

import vqcodec as vq

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
failures = []


def check(name, ok, detail=""):
    if not ok:
        failures.append(f"rank {rank}: {name} {detail}")


def relative_diff(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


rng = np.random.default_rng(7)
centres = rng.normal(size=(40, 24)) * 3
x = (centres[rng.integers(0, 40, 6000)] + rng.normal(size=(6000, 24))).astype(np.float32)
mine = vq.rank_rows(len(x), comm)

# Quantizer.fit with a communicator, for each family that trains across ranks.
for spec in ("VQ6", "PQ6x6", "RVQ3x6b4"):
    spread = vq.Quantizer(spec, 24).fit(x[mine], iters=5, comm=comm)
    single = vq.Quantizer(spec, 24).fit(x, iters=5)
    for m, (a, b) in enumerate(zip(single.codebooks, spread.codebooks)):
        check(f"{spec} book {m}", relative_diff(a, b) < 1e-5, relative_diff(a, b))

# kmeans with a communicator: the same centroids; labels for this rank's rows.
c1, labels1 = vq.kmeans(x, 32, iters=8)
c2, labels2 = vq.kmeans(x[mine], 32, iters=8, comm=comm)
check("kmeans centroids", relative_diff(c1, c2) < 1e-5, relative_diff(c1, c2))
check("kmeans labels", np.array_equal(labels1[mine], labels2))

all_failures = comm.gather(failures, root=0)
if rank == 0:
    flat = [f for part in all_failures for f in part]
    for f in flat:
        print("FAIL", f)
    print(f"{size} ranks: {'ok' if not flat else f'{len(flat)} failures'}")
    code = 1 if flat else 0
else:
    code = 0
code = comm.bcast(code, root=0)
sys.exit(code)
