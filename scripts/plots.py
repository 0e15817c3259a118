#!/usr/bin/python3
"""Draws the figures of BENCHMARKS.md and docs/ from the benchmark results in docs/plots/data.

    /usr/bin/python3 scripts/plots.py [--data docs/plots/data] [--out docs/plots] [NAME ...]

Each data file is a CSV whose leading '#' lines name the command that produced its figures, the
data and the machine; the benchmark programs print markdown tables, and a rerun's table replaces
the matching rows of the CSV. NAME picks figures (default: all). Needs Debian's
python3-matplotlib; the Agg backend, so no display is needed.
"""
import argparse
import csv
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100
OURS, REF, REF2, REF3 = "#1f5fa8", "#c0392b", "#e67e22", "#7f8c8d"
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8,
                     "axes.grid": True, "grid.alpha": 0.3, "savefig.bbox": "tight"})


def load(data, name):
    """Rows of data/name.csv as dicts, numbers converted where they parse."""
    with open(os.path.join(data, name + ".csv"), newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v)
            except (TypeError, ValueError):
                pass
    return rows


def num(v):
    return v if isinstance(v, float) and not math.isnan(v) else None


def label_points(ax, points, fontsize=7):
    """Names beside (x, y, name) points; names of coinciding points are joined, neighbours staggered."""
    groups = {}
    for x, y, name in points:
        groups.setdefault((round(x, 2), float(f"{y:.2g}")), []).append((x, y, name))
    placed = []
    for key in sorted(groups, key=lambda k: (k[0], k[1])):
        x, y, _ = groups[key][0]
        near = sum(1 for px, py in placed if abs(px - x) < 0.15 and abs(math.log(py / y)) < 0.12)
        placed.append((x, y))
        ax.annotate(" / ".join(n for _, _, n in groups[key]), (x, y), fontsize=fontsize,
                    xytext=(5, -9 * near), textcoords="offset points", va="center")


def save(fig, out, name):
    path = os.path.join(out, name + ".png")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    print(f"{path}: {os.path.getsize(path) // 1024} KB")


def audio_rd(data, out):
    rows = load(data, "audio")
    signals = list(dict.fromkeys(r["signal"] for r in rows))
    fig, axes = plt.subplots(2, (len(signals) + 1) // 2, figsize=(10.4, 4.6), sharex=True)
    for ax, sig in zip(axes.flat, signals):
        for codec, style, colour, label in (("vq", "o-", OURS, "vqcodec"),
                                            ("opus", "s--", REF, "Opus (rate asked)"),
                                            ("opus (equal bytes)", "^:", REF2, "Opus (equal bytes)")):
            pts = sorted((r["real_kbps"], r["logmel"]) for r in rows
                         if r["signal"] == sig and r["codec"] == codec)
            if pts:
                ax.plot(*zip(*pts), style, color=colour, ms=4, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks([1.5, 3, 6, 12, 24], ["1.5", "3", "6", "12", "24"])
        ax.set_title(sig)
    for ax in axes[:, 0]:
        ax.set_ylabel("log-mel distance (lower is better)")
    for ax in axes[-1]:
        ax.set_xlabel("real kbps (file size)")
    axes.flat[0].legend()
    fig.suptitle("Audio: vqcodec vs Opus on held-out recordings")
    save(fig, out, "audio_rd")


def image_rd(data, out):
    curves = load(data, "image_reference_curves")
    codec = load(data, "image_codec_mode")
    tokens = load(data, "image_tokens")
    photos = list(dict.fromkeys(r["photo"] for r in codec))
    fig, axes = plt.subplots(1, len(photos), figsize=(13, 3.8))
    for ax, photo in zip(axes, photos):
        for ref, colour, style in (("JPEG", REF, "s--"), ("WebP", REF2, "^--")):
            pts = sorted((r["bpp"], r["psnr_db"]) for r in curves if r["photo"] == photo and r["codec"] == ref)
            ax.plot(*zip(*pts), style, color=colour, ms=3, label=ref)
        pts = sorted((r["bpp_file"], r["psnr_db"]) for r in codec if r["photo"] == photo)
        ax.plot(*zip(*pts), "o-", color=OURS, ms=3, label="vqcodec codec mode (--step)")
        pts = sorted((r["bpp_coded"], r["psnr_db"]) for r in tokens
                     if r["photo"] == photo and str(r["setting"]).startswith("adaptive"))
        ax.plot(*zip(*pts), "d:", color=REF3, ms=3, label="vqcodec tokens, adaptive depth")
        ax.set_xlim(0, 1.6)
        ax.set_title(photo)
        ax.set_xlabel("bits per pixel (whole file)")
    axes[0].set_ylabel("PSNR dB (RGB)")
    axes[0].legend(loc="lower right")
    fig.suptitle("Images: vqcodec vs JPEG and WebP on held-out photographs")
    save(fig, out, "image_rd")


def splats_rd(data, out):
    rows = load(data, "splats")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    markers = {100000: "o", 20000: "s", 1000000: "^"}
    for n, m in markers.items():
        ours = sorted((r["bytes_per_gaussian"], r["psnr_db"]) for r in rows
                      if r["gaussians"] == n and r["codec"].startswith("vqcodec") and num(r["psnr_db"]))
        ax.plot(*zip(*ours), m + "-", color=OURS, ms=5, label=f"vqcodec presets, {int(n):,} Gaussians")
        for r in rows:
            if r["gaussians"] != n or r["codec"].startswith("vqcodec") or not num(r["psnr_db"]):
                continue
            colour = REF if r["codec"].startswith("SPZ") else REF2
            name = "SPZ v4" if r["codec"].startswith("SPZ") else "SOG"
            ax.plot(r["bytes_per_gaussian"], r["psnr_db"], m, color=colour, ms=7,
                    label=f"{name}, {int(n):,} Gaussians")
    for r in rows:
        if r["gaussians"] == 100000 and r["codec"].startswith("vqcodec"):
            ax.annotate(r["codec"][8:], (r["bytes_per_gaussian"], r["psnr_db"]), fontsize=7,
                        xytext=(5, -3), textcoords="offset points")
    ax.set_xlabel("bytes per Gaussian (PLY: 248)")
    ax.set_ylabel("rendered PSNR dB vs original renders")
    ax.set_title("3D Gaussian splats: vqcodec vs SPZ and SOG (synthetic scenes)")
    ax.legend(fontsize=7)
    save(fig, out, "splats_rd")


def quantizers_vs_faiss(data, out):
    km = load(data, "kmeans")
    pq = load(data, "pq_rvq")
    aq = load(data, "aq_lsq")
    se = load(data, "search")
    err, speed = [], []
    for r in km:
        if r["implementation"].startswith("vqcodec, k-means++") and "unpinned" not in r["implementation"]:
            err.append((f"k-means objective ({r['sampling']} points)", r["objective_vs_faiss"]))
            speed.append((f"k-means train time ({r['sampling']} points)", r["time_vs_faiss"]))
    for r in pq:
        err.append((f"{r['quantizer']} MSE", r["mse_ours"] / r["mse_faiss"]))
        speed.append((f"{r['quantizer']} encode time", 1 / r["encode_ours_over_faiss"]))
    ours = next(r for r in aq if r["implementation"].startswith("vqcodec"))
    ref = next(r for r in aq if r["implementation"].startswith("faiss"))
    err.append(("AQ8x8 held-out MSE vs LSQ++", ours["heldout_mse"] / ref["heldout_mse"]))
    speed.append(("AQ8x8 train time vs LSQ++", ours["train_s"] / ref["train_s"]))
    for r in se:
        if r["threads"] == 1 and r["index"].startswith("vqcodec"):
            spec = r["index"].split()[2]
            base = next(x for x in se if x["threads"] == 1 and x["index"] == f"faiss::IndexPQ {spec}")
            speed.append((f"{spec} search CPU/query vs IndexPQ", r["cpu_us_per_query"] / base["cpu_us_per_query"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, items, title in ((axes[0], err, "error, vqcodec / FAISS"),
                             (axes[1], speed, "time, vqcodec / FAISS (log)")):
        labels, values = zip(*items)
        y = range(len(values))
        ax.barh(y, values, color=[OURS if v <= 1 else REF for v in values])
        ax.axvline(1, color="k", lw=0.8)
        ax.set_yticks(list(y), labels)
        ax.invert_yaxis()
        ax.set_title(title + ": below 1 = vqcodec better")
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.3g}", va="center", fontsize=7)
    axes[0].set_xlim(0.8, 1.05)
    axes[1].set_xscale("log")
    fig.suptitle("Core quantizers vs FAISS 1.7.3 (Debian), same data, same run per program")
    fig.tight_layout()
    save(fig, out, "quantizers_vs_faiss")


def kv_key(name):
    """A configuration's name as both KV tables can spell it."""
    name = re.sub(r"^ours topk, ", "", name)
    name = name.replace(" (split)", "").replace(", post-RoPE keys", "")
    return name


def kv_recall(data, out):
    real = [r for r in load(data, "kv_recall_real") if r["mode"] == "codes"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    ax = axes[0]
    families = (("oracle", lambda k: k.startswith("exact"), "*", "k"),
                ("scalar SQ2 / SQ4", lambda k: k.startswith("scalar"), "s", REF),
                ("post-RoPE PQ / RVQ", lambda k: "pre-RoPE" not in k and not k.startswith(("exact", "scalar")), "o", REF3),
                ("pre-RoPE, windowed tables", lambda k: "pre-RoPE" in k and "+" not in k, "D", OURS),
                ("pre-RoPE, split codes", lambda k: "+" in k, "^", REF2))
    for i, (label, pick, marker, colour) in enumerate(families):
        pts = [(2 * r["bytes_per_key_head"] * (1 + 0.04 * (i - 2)), r["recall_at_64"]) for r in real if pick(r["keys"])]
        ax.plot(*zip(*pts), marker, color=colour, ms=5, alpha=0.8, ls="none", label=label)
    ax.axhline(0.9, color="k", lw=0.6, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks([32, 64, 256, 512], ["32\n(1/8 fp16)", "64", "256\n(fp16)", "512\n(fp32)"])
    ax.set_xlabel("key bytes per token and layer (2 KV heads)")
    ax.set_ylabel("recall@64 (real tiny-LM keys)")
    ax.set_title("Recall from codes vs bytes")
    ax.legend(loc="lower right")
    ax = axes[1]
    recall = {kv_key(r["keys"]): r["recall_at_64"] for r in real}
    pts = []
    for r in load(data, "kv_throughput_hd64"):
        k = kv_key(r["method"])
        if k in recall:
            colour = REF2 if "+" in k else OURS if "pre-RoPE" in k else REF3
            ax.plot(r["speedup_vs_fp32"], recall[k], "o", color=colour, ms=5)
            short = k.replace("query-aware ", "QA ").replace("keys-only ", "KO ").replace(", pre-RoPE keys, window ", " W")
            pts.append((r["speedup_vs_fp32"], recall[k], short))
    pts.sort(key=lambda p: -p[1])
    for i, (x, y, short) in enumerate(pts):
        crowded = any(abs(math.log(x / px)) < 0.5 and abs(y - py) < 0.008 for px, py, _ in pts[:i])
        ax.annotate(short, (x, y), fontsize=6, xytext=(-4 if crowded else 4, -7 if crowded else 2),
                    textcoords="offset points", ha="right" if crowded else "left")
    ax.axhline(0.9, color="k", lw=0.6, ls=":")
    ax.axvline(4, color="k", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("top-64 scan speed vs exact fp32 scan (131k tokens, one core, 16 bytes/key)")
    ax.set_ylabel("recall@64 (real tiny-LM keys)")
    ax.set_title("Recall vs scan speed")
    fig.suptitle("KV cache: retrieval from codes")
    fig.tight_layout()
    save(fig, out, "kv_recall")


def weights_error_bits(data, out):
    ga = load(data, "weights_gaussian")
    lm = load(data, "weights_tinylm")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    ax = axes[0]
    r = [x / 100 for x in range(180, 330)]
    ax.plot(r, [2 ** (-2 * x) for x in r], "k-", lw=0.8, label="Shannon bound 2^(-2R)")
    for row in ga:
        aq = row["scheme"].startswith("AQ")
        ax.plot(row["bits_per_weight"], row["relative_mse"], "o" if aq else "s", color=OURS if aq else REF, ms=5)
    label_points(ax, [(r["bits_per_weight"], r["relative_mse"], r["scheme"]) for r in ga], fontsize=6)
    ax.set_yscale("log")
    ax.set_xlim(1.75, 3.45)
    ax.set_xlabel("bits per weight (all overhead counted)")
    ax.set_ylabel("relative MSE")
    ax.set_title("i.i.d. Gaussian 1024x1024, H = I")
    ax.legend()
    for ax, layer, title in ((axes[1], "wq", "tiny LM attn.wq (near-Gaussian)"),
                             (axes[2], "w2", "tiny LM mlp.w2 (outlier inputs)")):
        rows = [r for r in lm if r["layer"] == layer]
        for row in rows:
            aq = row["scheme"].startswith("AQ")
            ax.plot(row["bits_per_weight"], row["error"], "o" if aq else "s", color=OURS if aq else REF, ms=5)
        label_points(ax, [(r["bits_per_weight"], r["error"], r["scheme"]) for r in rows])
        ax.set_xlim(1.95, 3.45)
        ax.set_yscale("log")
        ax.set_xlabel("bits per weight")
        ax.set_ylabel("held-out output error |(W-Ŵ)X|/|WX|")
        ax.set_title(title)
    fig.suptitle("Weights: error vs bits per weight (blue: additive codes, red: scalar codes)")
    fig.tight_layout()
    save(fig, out, "weights_error_bits")


def gemv_bound(data, out):
    rows = [r for r in load(data, "weights_gemv") if r["batch"] == 1]
    kernels = list(dict.fromkeys(r["kernel"] for r in rows))
    cases = list(dict.fromkeys((r["shape"], int(r["threads"])) for r in rows))
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(kernels)
    colours = [REF3, "#5d8fd0", OURS, REF2, REF]
    for k, kernel in enumerate(kernels):
        xs, ys = [], []
        for c, (shape, threads) in enumerate(cases):
            r = next(x for x in rows if x["shape"] == shape and x["threads"] == threads and x["kernel"] == kernel)
            xs.append(c + (k - len(kernels) / 2 + 0.5) * width)
            ys.append(r["median_ms"])
            if num(r["bound_ms"]):
                ax.plot([xs[-1] - width / 2, xs[-1] + width / 2], [r["bound_ms"]] * 2, "k-", lw=1.5)
        ax.bar(xs, ys, width, color=colours[k % len(colours)], label=kernel)
    ax.plot([], [], "k-", lw=1.5, label="memory-bandwidth bound of the codes")
    ax.set_xticks(range(len(cases)), [f"{s}, {t} thread{'s' if t > 1 else ''}" for s, t in cases])
    ax.set_yscale("log")
    ax.set_ylabel("ms per product (median), batch 1")
    ax.set_title("GEMV from codes vs dense fp32 sgemv and the memory-bandwidth bound")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    save(fig, out, "gemv_bound")


def scaling(data, out):
    rows = load(data, "scaling")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    colours = {"VQ10": OURS, "PQ16x8": REF, "RVQ4x8b4": REF2}
    for ax, task in zip(axes, ("train", "encode")):
        for q, colour in colours.items():
            pts = [(r["ranks"], r["speedup"]) for r in rows if r["quantizer"] == q and r["task"] == task]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour, label=q)
        ax.plot([1, 2], [1, 2], "k:", lw=1, label="linear (2 cores)")
        ax.axvspan(2.5, 4.5, color="0.92", zorder=0)
        ax.text(3.5, 1.05, "oversubscribed:\n4 ranks, 2 cores", ha="center", fontsize=7)
        ax.set_xticks([1, 2, 4])
        ax.set_xlabel("MPI ranks (one thread each)")
        ax.set_title(f"vq {task}, 100k x 128")
    axes[0].set_ylabel("speed-up over 1 rank")
    axes[0].legend(fontsize=7, loc="center right")
    save(fig, out, "scaling")


FIGURES = {"audio_rd": audio_rd, "image_rd": image_rd, "splats_rd": splats_rd,
           "quantizers_vs_faiss": quantizers_vs_faiss, "kv_recall": kv_recall,
           "weights_error_bits": weights_error_bits, "gemv_bound": gemv_bound, "scaling": scaling}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(root, "docs", "plots", "data"))
    ap.add_argument("--out", default=os.path.join(root, "docs", "plots"))
    ap.add_argument("names", nargs="*", metavar="NAME", help="one of: " + ", ".join(FIGURES))
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        ap.error(f"unknown figure {unknown[0]}; one of: {', '.join(FIGURES)}")
    os.makedirs(args.out, exist_ok=True)
    for name in args.names or FIGURES:
        FIGURES[name](args.data, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
