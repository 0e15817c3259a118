#!/usr/bin/python3
"""Python-side overhead of vqcodec: fit/encode through the package vs the same calls in C++.

    PYTHONPATH=build/python /usr/bin/python3 apps/bench/bench_python_overhead.py build/apps/bench_api

Same data (200k x 128 float32, seeded), same spec, seed, iterations and threads on both sides;
medians of --reps runs, measured in one run of this script. Prints a markdown table.
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np

import vqcodec as vq


def median_time(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_api", help="path of the bench_api program")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--spec", default="RVQ8x8")
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    mix = rng.standard_normal((args.dim, args.dim)).astype(np.float32) / np.sqrt(args.dim)
    x = (rng.standard_normal((args.n, args.dim)).astype(np.float32) @ mix)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, x)
        out = subprocess.run([args.bench_api, path, args.spec, "--reps", str(args.reps),
                              "--iters", str(args.iters), "--threads", str(args.threads)],
                             check=True, capture_output=True, text=True).stdout
    cpp = dict((k, float(v)) for k, v in (line.split() for line in out.strip().splitlines()))

    q = vq.Quantizer(args.spec, args.dim)
    py_train = median_time(lambda: q.fit(x, iters=args.iters, seed=0, threads=args.threads), args.reps)
    py_encode = median_time(lambda: q.encode(x), args.reps)

    print(f"{args.spec} on {args.n}x{args.dim} float32, {args.iters} k-means iterations, "
          f"{args.threads} threads, median of {args.reps}")
    print("| call | C++ s | Python s | Python / C++ |")
    print("|---|---|---|---|")
    for name, py in (("fit / train", py_train), ("encode", py_encode)):
        key = "train" if name.startswith("fit") else "encode"
        print(f"| {name} | {cpp[key]:.3f} | {py:.3f} | {py / cpp[key]:.3f} |")


if __name__ == "__main__":
    main()
