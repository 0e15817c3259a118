#!/usr/bin/python3
"""Tutorial: train residual tokenizers on real vectors and plot error against bits.

Data: the 8x8 handwritten digits bundled with Debian's python3-sklearn (1.2.1, BSD-3-Clause;
the images are the UCI "Optical Recognition of Handwritten Digits" set, 1,797 vectors of 64
grey levels 0..16). Install with `apt-get install python3-sklearn python3-matplotlib`, build
vqcodec (README command 1 or 2), then:

    PYTHONPATH=build/python /usr/bin/python3 docs/tutorial_rvq.py [--plot docs/tutorial_rvq.png]
"""
import argparse

import numpy as np
from sklearn.datasets import load_digits

import vqcodec as vq


def relative_error(q, x):
    xh = q.decode(q.encode(x))
    return float(((x - xh) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plot", help="write the error-vs-bits figure here (needs matplotlib)")
    args = ap.parse_args()

    x = load_digits().data.astype(np.float32)            # (1797, 64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = x[order[:1400]], x[order[1400:]]       # fit on 1400, measure on 397 unseen

    rows = []
    for levels in (1, 2, 4, 6, 8):
        for name, q in (("RVQ greedy", vq.ResidualQuantizer(64, levels, bits=6)),
                        ("RVQ beam 8", vq.ResidualQuantizer(64, levels, bits=6, beam=8))):
            q.fit(train, iters=20, seed=0)
            rows.append((name, q.spec, q.bits_per_vector, relative_error(q, test)))
    for m in (4, 8, 16):
        q = vq.ProductQuantizer(64, m, bits=6).fit(train, iters=20, seed=0)
        rows.append(("PQ", q.spec, q.bits_per_vector, relative_error(q, test)))
    for bits in (2, 4):
        q = vq.ScalarQuantizer(64, bits).fit(train)
        rows.append(("scalar", q.spec, q.bits_per_vector, relative_error(q, test)))

    print("| family | spec | bits / vector | held-out error / variance |")
    print("|---|---|---|---|")
    for family, spec, bits, err in rows:
        print(f"| {family} | {spec} | {bits} | {err:.4f} |")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for family in dict.fromkeys(r[0] for r in rows):
            pts = [(b, e) for f, _, b, e in rows if f == family]
            ax.plot(*zip(*pts), marker="o", label=family)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("bits per vector (64 pixels)")
        ax.set_ylabel("held-out squared error / variance")
        ax.set_title("sklearn digits: tokenizer error vs rate")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
