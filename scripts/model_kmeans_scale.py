"""A cost model of distributed k-means, fitted on this machine and checked against the rank
counts it can run, then used to predict k-means on 1B × 128 vectors, k = 65,536, over 64 nodes.

Run under mpirun with 2 ranks (one thread each):
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 mpirun -np 2 /usr/bin/python3 scripts/model_kmeans_scale.py
(as root add --allow-run-as-root). PYTHONPATH must reach the vqcodec package (build/python).

Model of one Lloyd iteration over P ranks, n rows of dimension d, k centroids:
  compute  = 2·(n/P)·k·d / F              F: assignment FLOP/s of one rank (GEMM distances)
  reduce   = 2·ceil(log2 P)·(a + S/B)      S = 8·(k·d + 2k + 2) bytes, reduced to rank 0 then
                                           broadcast, each a binomial tree (a: latency, B: bandwidth)
Every other step is per rank and scales with n/P, or is done once (seeding: random beyond 4,096
centroids, one all-gather of the k chosen rows)."""
import math
import sys
import time

import numpy as np
from mpi4py import MPI

import vqcodec as vq

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
if size != 2:
    sys.exit("run with mpirun -np 2")


def median_time(fn, reps=5):
    times = []
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        comm.Barrier()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


# 1. The reduction: rank 0 reduces and broadcasts buffers of several sizes.
sizes = [8 << 10, 1 << 20, 8 << 20, 64 << 20]
reduce_times = []
for s in sizes:
    buf = np.ones(s // 8)
    def reduce_bcast():
        if rank == 0:
            comm.Reduce(MPI.IN_PLACE, buf, op=MPI.SUM, root=0)
        else:
            comm.Reduce(buf, None, op=MPI.SUM, root=0)
        comm.Bcast(buf, root=0)
    reduce_times.append(median_time(reduce_bcast, 7))
# Fit t = 2·(a + S/B) (one tree level at P = 2) by least squares.
A = np.array([[2.0, 2.0 * s] for s in sizes])
a, inv_b = np.linalg.lstsq(A, np.array(reduce_times), rcond=None)[0]
a = max(a, 1e-7)
bandwidth = 1.0 / inv_b

# 2. Lloyd iterations, one rank: the assignment throughput F. Iterations beyond the first cost
# the same, so the difference of two runs isolates them.
n, d, k = 40000, 128, 1024
x = np.random.default_rng(5).standard_normal((n, d)).astype(np.float32)
def run(iters, data, c=None):
    return lambda: vq.kmeans(data, k, iters=iters, init="random", max_points_per_centroid=0, threads=1, comm=c)
def wall(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
one_rank = None
if rank == 0:  # rank 1 waits in the broadcast below, one core idle
    t0 = np.median([wall(run(0, x)) for _ in range(3)])
    t6 = np.median([wall(run(6, x)) for _ in range(3)])
    one_rank = (t6 - t0) / 6
one_rank = comm.bcast(one_rank, root=0)
flops = 2.0 * n * k * d / one_rank

# 3. The same on 2 ranks, each with half the rows: measured against the model.
mine = x[vq.rank_rows(n, comm)]
t0 = median_time(run(0, mine, comm), 3)
t6 = median_time(run(6, mine, comm), 3)
two_ranks = (t6 - t0) / 6
S = 8 * (k * d + 2 * k + 2)
predicted = 2.0 * (n / 2) * k * d / flops + 2 * (a + S / bandwidth)

if rank == 0:
    print("measured on this machine (2 ranks, one thread each, shared memory):")
    print(f"  reduce + broadcast: latency {a * 1e6:.1f} us, bandwidth {bandwidth / 1e9:.2f} GB/s "
          f"({', '.join(f'{s >> 10} KiB {t * 1e3:.2f} ms' for s, t in zip(sizes, reduce_times))})")
    print(f"  assignment throughput F = {flops / 1e9:.1f} GFLOP/s per rank "
          f"(k-means iteration, {n} x {d}, k = {k}: {one_rank:.3f} s on 1 rank)")
    print(f"  2 ranks: measured {two_ranks:.3f} s per iteration, model {predicted:.3f} s "
          f"({predicted / two_ranks:.2f}x of measured); speed-up {one_rank / two_ranks:.2f}x")
    print()
    N, D, K, P = 1_000_000_000, 128, 65536, 64
    S = 8 * (K * D + 2 * K + 2)
    print(f"prediction: k-means on {N:,} x {D}, k = {K:,}, over {P} nodes, all rows every iteration")
    print(f"  reduced per iteration: {S / 2**20:.1f} MiB per rank (x2: reduce, then broadcast)")
    for cores, net_gbs, net_lat in ((2, 12.5, 2e-6), (64, 12.5, 2e-6), (64, 1.25, 20e-6)):
        node_flops = cores * flops
        compute = 2.0 * (N / P) * K * D / node_flops
        levels = math.ceil(math.log2(P))
        comm_s = 2 * levels * (net_lat + S / (net_gbs * 1e9))
        # Nodes at which the reduction costs as much as the compute.
        p_star = next((p for p in (2 ** i for i in range(1, 40))
                       if 2.0 * (N / p) * K * D / node_flops <= 2 * math.ceil(math.log2(p)) * (net_lat + S / (net_gbs * 1e9))), None)
        print(f"  nodes of {cores:2d} cores like these, network {net_gbs:5.2f} GB/s: compute {compute:9.1f} s, "
              f"reduction {comm_s * 1e3:7.1f} ms per iteration ({100 * comm_s / (compute + comm_s):.3f} %); "
              f"communication would equal compute from about {p_star:,} nodes")
