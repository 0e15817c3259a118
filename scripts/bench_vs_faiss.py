#!/usr/bin/python3
"""vqcodec against FAISS in one process: k-means, PQ training and encoding, RVQ encoding and its
held-out error (also against training-set size: row heldout), and search over codes (batch, one query at a time, 4-bit fast-scan, and our 8-bit
fast-scan against FAISS's 4-bit one), with recall@10 against exact search.

    PYTHONPATH=build/python /usr/bin/python3 scripts/bench_vs_faiss.py            # full size
    PYTHONPATH=build/python /usr/bin/python3 scripts/bench_vs_faiss.py --quick    # a smoke run

FAISS: the AVX-512 build of ../shared/tools/faiss-avx512 when it imports (FAISS 1.15), else
Debian's python3-faiss; the table's header names the one used. Both sides run the same number of
threads (--threads; OpenBLAS held at one) on the same data: SIFT-like descriptors from a seeded
generator (a low-dimensional clustered latent, a linear and a tanh read-out, a dense mix and noise;
the same construction as tests/support/test_data.cpp `manifold`), with separate draws for
training, base and queries, so every error below is held out. Times are medians of --reps runs;
each row's last column is ours / FAISS in time (lower is better for us) or in QPS (higher is).
"""
import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_FAISS = ROOT.parent / "shared" / "tools" / "faiss-avx512"


def import_faiss():
    """The AVX-512 FAISS 1.15 when it imports here, else Debian's; and a line saying which."""
    if SHARED_FAISS.is_dir():
        sys.path.insert(0, str(SHARED_FAISS))
        try:
            import faiss
            return faiss, f"FAISS {faiss.__version__} ({faiss.get_compile_options().strip()}, {SHARED_FAISS})"
        except ImportError as e:
            sys.path.pop(0)
            sys.modules.pop("faiss", None)
            print(f"bench_vs_faiss: the AVX-512 FAISS does not import ({e}); using Debian's", file=sys.stderr)
    import faiss
    return faiss, f"FAISS {faiss.__version__} (Debian python3-faiss, {faiss.get_compile_options().strip() or 'generic'})"


def manifold(n, d, rng_seed, latent=16, noise=0.1, clusters=32):
    """SIFT-like vectors: a few latent directions carry most of the variance (spreads 1/(1+j))."""
    rng = np.random.default_rng(12345)  # the generator's own parameters: shared by every draw
    centres = rng.standard_normal((clusters, latent))
    p = rng.standard_normal((d, latent)) / np.sqrt(latent)
    a = rng.standard_normal((d, latent)) / np.sqrt(latent)
    b = 0.5 * rng.standard_normal(d)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    decay = 1.0 / (1.0 + np.arange(latent))
    draw = np.random.default_rng(rng_seed)
    out = np.empty((n, d), np.float32)
    for s in range(0, n, 20000):
        m = min(20000, n - s)
        z = (centres[draw.integers(0, clusters, m)] + 0.5 * draw.standard_normal((m, latent))) * decay
        x = z @ p.T + np.tanh(b + z @ a.T) @ mix.T + noise * draw.standard_normal((m, d))
        out[s:s + m] = x
    return out


def median_time(fn, reps):
    times, result = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def recall_at(ids, truth, k=10):
    return float(np.mean([len(set(ids[i, :k]) & set(truth[i, :k])) / k for i in range(len(truth))]))


def mse(x, xh):
    return float(((x.astype(np.float64) - xh) ** 2).sum(1).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="base vectors (encoded, searched)")
    ap.add_argument("--ntrain", type=int, default=50_000, help="training vectors")
    ap.add_argument("--nq", type=int, default=1000, help="queries")
    ap.add_argument("--single", type=int, default=200, help="queries searched one at a time")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated rows: kmeans,pq,rvq,search,fastscan,heldout")
    ap.add_argument("--heldout-sizes", default="10,40,100,1000",
                    help="the heldout row's training-set sizes, in multiples of the book size (256)")
    ap.add_argument("--quick", action="store_true", help="small sizes, one repetition: checks the script runs")
    args = ap.parse_args()
    if args.quick:
        args.n, args.ntrain, args.nq, args.single, args.reps = 20_000, 10_000, 100, 20, 1
        args.heldout_sizes = "2"
    only = set(filter(None, args.only.split(",")))
    want = lambda row: not only or row in only  # noqa: E731

    faiss, which = import_faiss()
    import vqcodec as vq
    faiss.omp_set_num_threads(args.threads)
    d, T, reps = args.dim, args.threads, args.reps

    xt = manifold(args.ntrain, d, 1)
    xb = manifold(args.n, d, 2)
    xq = manifold(args.nq, d, 3)
    flat = faiss.IndexFlatL2(d)
    flat.add(xb)
    _, truth = flat.search(xq, 10)

    rows = []  # (task, ours, faiss, ratio text)
    print(f"# {which}; vqcodec {vq.__version__} (SIMD {vq.simd_level()}); {T} threads; "
          f"train {args.ntrain}, base {args.n}, queries {args.nq}, d = {d}; medians of {reps}", flush=True)

    if want("kmeans"):
        k, iters = 256, 20
        t_ours, (c_ours, a_ours) = median_time(
            lambda: vq.kmeans(xb, k, iters=iters, seed=1, threads=T, max_points_per_centroid=0), reps)
        obj_ours = float(((xb - c_ours[a_ours]) ** 2).sum())

        def faiss_kmeans():
            km = faiss.Kmeans(d, k, niter=iters, seed=1, max_points_per_centroid=10**9)
            km.train(xb)
            return km
        t_f, km = median_time(faiss_kmeans, reps)
        _, a_f = km.index.search(xb, 1)
        obj_f = float(((xb - km.centroids[a_f[:, 0]]) ** 2).sum())
        rows.append((f"k-means {args.n}×{d}, k = {k}, {iters} it., all points",
                     f"{t_ours:.2f} s, objective {obj_ours / obj_f:.4f}× FAISS's", f"{t_f:.2f} s",
                     f"{t_ours / t_f:.2f}× the time"))

    pq8 = pq8_f = None
    if want("pq") or want("search") or want("fastscan"):
        # PQ16x8: FAISS's defaults (25 iterations, at most 256 training points per centroid)
        # on both sides.
        t_tr, pq8 = median_time(lambda: vq.ProductQuantizer(d, 16, 8).fit(xt, iters=25, seed=1, threads=T), reps)

        def faiss_pq_train():
            pq = faiss.ProductQuantizer(d, 16, 8)
            pq.train(xt)
            return pq
        t_tr_f, pq8_f = median_time(faiss_pq_train, reps)
        t_enc, codes8 = median_time(lambda: pq8.encode(xb), reps)
        t_enc_f, codes8_f = median_time(lambda: pq8_f.compute_codes(xb), reps)
        e_ours = mse(xb, pq8.decode(codes8))
        e_f = mse(xb, pq8_f.decode(codes8_f))
        if want("pq"):
            rows.append((f"PQ16x8 train on {args.ntrain}", f"{t_tr:.2f} s", f"{t_tr_f:.2f} s",
                         f"{t_tr / t_tr_f:.2f}× the time"))
            rows.append((f"PQ16x8 encode {args.n} (held-out MSE ours / FAISS {e_ours / e_f:.4f})",
                         f"{args.n / t_enc / 1e3:.0f}k vectors/s", f"{args.n / t_enc_f / 1e3:.0f}k vectors/s",
                         f"{t_enc / t_enc_f:.2f}× the time"))

    if want("rvq"):
        t_tr, rvq = median_time(lambda: vq.ResidualQuantizer(d, 8, 8, beam=4).fit(xt, iters=25, seed=1, threads=T), 1)

        def faiss_rq_train():
            rq = faiss.ResidualQuantizer(d, 8, 8)
            rq.max_beam_size = 4
            rq.train(xt)
            return rq
        t_tr_f, rq = median_time(faiss_rq_train, 1)
        t_enc, c = median_time(lambda: rvq.encode(xb), reps)
        t_enc_f, c_f = median_time(lambda: rq.compute_codes(xb), reps)
        e_ours, e_f = mse(xb, rvq.decode(c)), mse(xb, rq.decode(c_f))
        rows.append((f"RVQ8x8 beam 4: train on {args.ntrain}", f"{t_tr:.1f} s", f"{t_tr_f:.1f} s",
                     f"{t_tr / t_tr_f:.2f}× the time"))
        rows.append((f"RVQ8x8 beam 4: encode {args.n}", f"{args.n / t_enc / 1e3:.1f}k vectors/s",
                     f"{args.n / t_enc_f / 1e3:.1f}k vectors/s", f"{t_enc / t_enc_f:.2f}× the time"))
        rows.append(("RVQ8x8 beam 4: held-out MSE", f"{e_ours:.4f}", f"{e_f:.4f}", f"{e_ours / e_f:.4f}×"))

    if want("heldout"):
        # Held-out error against training-set size: both sides train on the same first rows of
        # one draw and encode the base set. PQ: 25 iterations on both sides (FAISS's default;
        # ours is 20, which costs 0.1-0.2 % of error from 40,000 rows per sub-space on). RQ:
        # FAISS's defaults (progressive-dimension k-means, 10 iterations per step); ours with its
        # defaults (the same k-means on residual levels, 10 iterations per step).
        sizes = [int(float(f) * 256) for f in args.heldout_sizes.split(",")]
        pool = manifold(max(sizes), d, 4)
        held = xb[:20000]
        for nt in sizes:
            xs = pool[:nt]
            pq = vq.ProductQuantizer(d, 16, 8).fit(xs, iters=25, seed=1, threads=T)
            pq_f = faiss.ProductQuantizer(d, 16, 8)
            pq_f.train(xs)
            e, e_f = mse(held, pq.decode(pq.encode(held))), mse(held, pq_f.decode(pq_f.compute_codes(held)))
            rows.append((f"PQ16x8 held-out MSE, trained on {nt} ({nt // 256}× the book)", f"{e:.4f}", f"{e_f:.4f}",
                         f"{e / e_f:.4f}×"))
            rq = vq.ResidualQuantizer(d, 8, 8, beam=4).fit(xs, seed=1, threads=T)
            rq_f = faiss.ResidualQuantizer(d, 8, 8)
            rq_f.max_beam_size = 4
            rq_f.train(xs)
            e, e_f = mse(held, rq.decode(rq.encode(held))), mse(held, rq_f.decode(rq_f.compute_codes(held)))
            rows.append((f"RVQ8x8 beam 4 held-out MSE, trained on {nt} ({nt // 256}× the book)", f"{e:.4f}",
                         f"{e_f:.4f}", f"{e / e_f:.4f}×"))

    def qps_row(name, index_ours, index_f):
        t, (_, i_ours) = median_time(lambda: index_ours.search(xq, k=10), reps)
        t_f, (_, i_f) = median_time(lambda: index_f.search(xq, 10), reps)
        r, r_f = recall_at(i_ours, truth), recall_at(i_f, truth)
        rows.append((name, f"{args.nq / t:,.0f} QPS, recall {r:.3f}", f"{args.nq / t_f:,.0f} QPS, recall {r_f:.3f}",
                     f"{t_f / t:.2f}× the QPS"))
        return args.nq / t, args.nq / t_f

    if want("search"):
        idx8 = vq.CodeIndex(pq8).add(pq8.encode(xb))
        ipq = faiss.IndexPQ(d, 16, 8)
        ipq.pq = pq8_f
        ipq.is_trained = True
        ipq.add(xb)
        qps_row(f"PQ16x8 batch search, {args.nq} queries (CodeIndex vs IndexPQ)", idx8, ipq)
        one = xq[:args.single]

        def singles(search):
            for i in range(len(one)):
                search(one[i:i + 1])
        t1, _ = median_time(lambda: singles(lambda q: idx8.search(q, k=10)), reps)
        t1_f, _ = median_time(lambda: singles(lambda q: ipq.search(q, 10)), reps)
        rows.append((f"PQ16x8 one query at a time over {args.n} codes", f"{t1 / len(one) * 1e3:.2f} ms",
                     f"{t1_f / len(one) * 1e3:.2f} ms", f"{t1 / t1_f:.2f}× the latency"))

    if want("fastscan"):
        fs_f_qps = None
        for m in (32, 64):
            q4 = vq.ProductQuantizer(d, m, 4).fit(xt, iters=25, seed=1, threads=T)
            i4 = vq.CodeIndex(q4).add(q4.encode(xb))
            f4 = faiss.IndexPQFastScan(d, m, 4)
            f4.train(xt)
            f4.add(xb)
            _, qps_f = qps_row(f"PQ{m}x4 fast-scan, {args.nq} queries (CodeIndex vs IndexPQFastScan)", i4, f4)
            if m == 32:
                fs_f_qps = qps_f
        idx8 = vq.CodeIndex(pq8).add(pq8.encode(xb))
        t, (_, i8) = median_time(lambda: idx8.search(xq, k=10), reps)
        rows.append(("8-bit fast-scan PQ16x8 (16 bytes) vs FAISS PQ32x4 fast-scan (16 bytes)",
                     f"{args.nq / t:,.0f} QPS, recall {recall_at(i8, truth):.3f}", f"{fs_f_qps:,.0f} QPS (row above)",
                     f"{args.nq / t / fs_f_qps:.2f}× the QPS"))
        # 6- and 7-bit books: one byte permute per book (FAISS has no fast-scan above 4 bits).
        for bits in (6, 7):
            qb = vq.ProductQuantizer(d, 16, bits).fit(xt, iters=25, seed=1, threads=T)
            idxb = vq.CodeIndex(qb).add(qb.encode(xb))
            t, (_, ib) = median_time(lambda: idxb.search(xq, k=10), reps)
            rows.append((f"{bits}-bit fast-scan PQ16x{bits} ({2 * bits} bytes) vs FAISS PQ32x4 fast-scan (16 bytes)",
                         f"{args.nq / t:,.0f} QPS, recall {recall_at(ib, truth):.3f}",
                         f"{fs_f_qps:,.0f} QPS (row above)", f"{args.nq / t / fs_f_qps:.2f}× the QPS"))

    print("| task | vqcodec | FAISS | ours / FAISS |")
    print("|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
