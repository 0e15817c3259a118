#!/usr/bin/python3
"""Trains a small llama-like transformer and extracts what the weight and KV-cache benchmarks need.

No package reachable here ships trained transformer weights, so we train one: a byte-level,
decoder-only model (RMSNorm, RoPE, grouped-query attention, SwiGLU) on real text, the Python 3.11
standard library sources that Debian ships (package libpython3.11-stdlib, Python Software
Foundation License). Files are split by name: every 20th file (sorted) is held out, and all
calibration inputs and attention keys/queries come from held-out files.

Needs Debian's python3-torch and python3-numpy (apt; not installed by setup.sh since only the
benchmarks use it). Deterministic for a seed up to torch's CPU kernels' thread scheduling.

Writes to OUT (default ~/.cache/vqcodec/tinylm):
  model.safetensors         F32, PyTorch layout [out_features, in_features]
  calib/<tensor>.npy        (tokens, in_features) inputs of each linear layer, held-out text
  layers/<layer>.{weight,inputs}.npy  the same weights and inputs as `bench_weights quality DIR` reads
  qk/layer{i}_{q,k,v}.npy   post-RoPE queries (T, q_heads, d), keys and values (T, kv_heads, d)
  qk/layer{i}_{q,k}_pre.npy the same before RoPE
  README.txt                configuration, data, loss curve

Usage: /usr/bin/python3 scripts/train_tiny_transformer.py [--out DIR] [--steps N]
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

STDLIB = "/usr/lib/python3.11"


class Config:
    vocab = 256
    layers = 4
    d_model = 256
    q_heads = 4
    kv_heads = 2
    head_dim = 64
    hidden = 688  # SwiGLU width: d_model · 8/3, rounded to a multiple of 16, as llama does
    context = 256  # training sequence length (--context)
    rope_base = 10000.0


def rope_tables(cfg, positions):
    inv = 1.0 / (cfg.rope_base ** (torch.arange(0, cfg.head_dim, 2, dtype=torch.float32) / cfg.head_dim))
    angles = positions.float()[:, None] * inv[None, :]
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x, cos, sin):
    """x (..., T, heads, d): rotates pairs (x[2i], x[2i+1]) by position · θ_i."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wq = nn.Linear(cfg.d_model, cfg.q_heads * cfg.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wv = nn.Linear(cfg.d_model, cfg.kv_heads * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.q_heads * cfg.head_dim, cfg.d_model, bias=False)
        self.capture = None  # dict to fill with q/k/v during extraction

    def forward(self, x, cos, sin):
        cfg = self.cfg
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, cfg.q_heads, cfg.head_dim)
        k = self.wk(x).view(b, t, cfg.kv_heads, cfg.head_dim)
        v = self.wv(x).view(b, t, cfg.kv_heads, cfg.head_dim)
        qr, kr = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.capture is not None:
            self.capture.update(q_pre=q[0], k_pre=k[0], q=qr[0], k=kr[0], v=v[0])
        group = cfg.q_heads // cfg.kv_heads
        kr = kr.repeat_interleave(group, dim=2)
        vv = v.repeat_interleave(group, dim=2)
        scores = torch.einsum("bthd,bshd->bhts", qr, kr) / math.sqrt(cfg.head_dim)
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        att = scores.masked_fill(mask, float("-inf")).softmax(-1)
        out = torch.einsum("bhts,bshd->bthd", att, vv).reshape(b, t, -1)
        return self.wo(out)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg.d_model, cfg.hidden, bias=False)
        self.w3 = nn.Linear(cfg.d_model, cfg.hidden, bias=False)
        self.w2 = nn.Linear(cfg.hidden, cfg.d_model, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attn_norm, self.attn = RMSNorm(cfg.d_model), Attention(cfg)
        self.mlp_norm, self.mlp = RMSNorm(cfg.d_model), MLP(cfg)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class TinyLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)

    def forward(self, tokens):
        cos, sin = rope_tables(self.cfg, torch.arange(tokens.shape[1]))
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.head(self.norm(x))


def corpus():
    """(train bytes, held-out bytes) from the stdlib sources, split by file."""
    files = []
    for root, dirs, names in os.walk(STDLIB):
        dirs.sort()
        files += [os.path.join(root, n) for n in sorted(names) if n.endswith(".py")]
    train, held = bytearray(), bytearray()
    for i, path in enumerate(files):
        with open(path, "rb") as f:
            (held if i % 20 == 0 else train).extend(f.read())
    return np.frombuffer(bytes(train), np.uint8), np.frombuffer(bytes(held), np.uint8), len(files)


def write_safetensors(path, tensors):
    """The safetensors layout: u64 header length, JSON header, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    meta = json.dumps(header, separators=(",", ":")).encode()
    meta += b" " * (-len(meta) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(meta)))
        f.write(meta)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/vqcodec/tinylm"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calib-tokens", type=int, default=4096)
    ap.add_argument("--qk-tokens", type=int, default=8192)
    ap.add_argument("--d-model", type=int, default=Config.d_model,
                    help="model width (a multiple of 128): heads of 64, half as many KV heads, SwiGLU width 8/3 of it")
    args = ap.parse_args()
    if args.d_model % 128:
        sys.exit("--d-model must be a multiple of 128")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cfg = Config()
    cfg.context = args.context
    cfg.d_model = args.d_model
    cfg.q_heads = args.d_model // cfg.head_dim
    cfg.kv_heads = cfg.q_heads // 2
    cfg.hidden = (args.d_model * 8 // 3 + 15) // 16 * 16
    os.makedirs(os.path.join(args.out, "calib"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "qk"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "layers"), exist_ok=True)

    train, held, nfiles = corpus()
    print(f"corpus: {nfiles} files, {len(train)} training bytes, {len(held)} held-out bytes", flush=True)
    model = TinyLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    rng = np.random.default_rng(args.seed)
    log, start = [], time.time()
    for step in range(args.steps):
        warmup = max(1, args.steps // 10)
        lr = 3e-3 * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        at = rng.integers(0, len(train) - cfg.context - 1, args.batch)
        chunk = torch.from_numpy(np.stack([train[a:a + cfg.context + 1] for a in at]).astype(np.int64))
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), chunk[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == args.steps - 1:
            log.append((step, loss.item()))
            print(f"step {step:4d}  loss {loss.item():.3f} nats/byte  {time.time() - start:.0f} s", flush=True)

    model.eval()
    with torch.no_grad():
        # Held-out loss over the calibration text.
        seq = torch.from_numpy(held[: args.calib_tokens + 1].astype(np.int64))
        chunks = seq[: (len(seq) - 1) // cfg.context * cfg.context + 1]
        xs = chunks[:-1].view(-1, cfg.context)
        ys = chunks[1:].view(-1, cfg.context)
        held_loss = F.cross_entropy(model(xs).reshape(-1, cfg.vocab), ys.reshape(-1)).item()
        print(f"held-out loss {held_loss:.3f} nats/byte", flush=True)

        weights = {name: p.detach().numpy() for name, p in model.state_dict().items()}
        write_safetensors(os.path.join(args.out, "model.safetensors"), weights)

        # Inputs of every linear layer on held-out text, at the training context.
        captured = {}
        hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: captured.setdefault(name, []).append(
            inp[0].reshape(-1, inp[0].shape[-1]).numpy().copy()))
                 for name, m in model.named_modules() if isinstance(m, nn.Linear)]
        model(xs)
        for h in hooks:
            h.remove()
        for name, parts in captured.items():
            inputs = np.concatenate(parts).astype(np.float32)
            np.save(os.path.join(args.out, "calib", name + ".weight.npy"), inputs)
            # The same pair in bench_weights' layout: <layer>.weight.npy beside <layer>.inputs.npy.
            np.save(os.path.join(args.out, "layers", name + ".weight.npy"), weights[name + ".weight"])
            np.save(os.path.join(args.out, "layers", name + ".inputs.npy"), inputs)

        # Queries, keys and values of one long held-out sequence, causal attention at positions 0..T-1.
        seq = torch.from_numpy(held[-args.qk_tokens:].astype(np.int64))[None, :]
        caps = []
        for layer in model.layers:
            layer.attn.capture = {}
            caps.append(layer.attn.capture)
        model(seq)
        for i, cap in enumerate(caps):
            for key in ("q", "k", "v", "q_pre", "k_pre"):
                np.save(os.path.join(args.out, "qk", f"layer{i}_{key}.npy"), cap[key].numpy().astype(np.float32))

    with open(os.path.join(args.out, "README.txt"), "w") as f:
        f.write(f"Tiny llama-like byte LM trained by scripts/train_tiny_transformer.py (seed {args.seed}).\n")
        f.write(f"Data: Python 3.11 stdlib sources ({STDLIB}, Debian libpython3.11-stdlib, PSF License),\n"
                f"{nfiles} files, every 20th held out; {len(train)} training bytes.\n")
        f.write(f"Config: layers {cfg.layers}, d_model {cfg.d_model}, q_heads {cfg.q_heads}, kv_heads {cfg.kv_heads}, "
                f"head_dim {cfg.head_dim}, hidden {cfg.hidden}, context {cfg.context}, RoPE base {cfg.rope_base}.\n")
        f.write(f"Training: {args.steps} steps × {args.batch} × {cfg.context} bytes, AdamW, cosine schedule.\n")
        f.write("Loss (nats/byte): " + ", ".join(f"{s}:{l:.3f}" for s, l in log) + "\n")
        f.write(f"Held-out loss: {held_loss:.3f} nats/byte (uniform would be {math.log(256):.3f}).\n")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
