"""vqcodec: vector quantization — train tokenizers and codecs from numpy.

    import vqcodec as vq
    q = vq.ResidualQuantizer(dim=128, levels=8, bits=8, beam=4)
    q.fit(X)                      # X: (n, 128) float32 / float64
    codes = q.encode(X)           # (n, 8) uint8
    Xh = q.decode(codes)          # (n, 128) float32
    D, I = q.search(queries, codes, k=10)
    q.save("tok.vqc"); q2 = vq.load("tok.vqc")

Every quantizer minimises the weighted error (x − x̂)ᵀH(x − x̂): pass `metric=` to fit() as a
(dim,) diagonal or a (dim, dim) positive semi-definite H. The same .vqc files are read and
written by the C++ API and the `vq` command line; a configuration is named by one grammar
("RVQ8x8b4", "PQ16x8", ...) shown by `q.spec`.

Errors in arguments or files raise ValueError (vq.VQError, a subclass) or TypeError.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import numpy as np

from . import _vqcodec as _ext
from ._vqcodec import CodebookUsage, VQError, max_decoded_bytes, models_dir, set_max_decoded_bytes, simd_level

__version__: str = _ext.__version__

__all__ = [
    "__version__", "models_dir", "simd_level",
    "Quantizer", "VectorQuantizer", "ProductQuantizer", "ResidualQuantizer",
    "GroupResidualQuantizer", "AdditiveQuantizer", "ScalarQuantizer",
    "kmeans", "rank_rows", "load", "from_bytes", "save_codes", "load_codes", "CodebookUsage", "VQError",
    "CodeIndex", "load_index",
    "set_max_decoded_bytes", "max_decoded_bytes",
    "CompressedMatrix", "GemvKernel", "compress_weights",
    "KVCache",
    "ImageModel", "read_image", "write_png",
]


class Quantizer:
    """A quantizer: trained once by fit(), then a pure map between vectors and codes.

    Use a concrete class (ResidualQuantizer, ...) or name a configuration directly:
    ``Quantizer("RVQ8x8b4", dim=128)``.
    """

    def __init__(self, spec: str, dim: int):
        self._q = _ext.make_quantizer(str(spec), int(dim))

    # -- properties ---------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The configuration in the shared name grammar, e.g. "RVQ8x8b4"."""
        return self._q.spec

    @property
    def dim(self) -> int:
        return self._q.dim

    @property
    def bits_per_vector(self) -> int:
        return self._q.bits_per_vector

    @property
    def num_codebooks(self) -> int:
        """M, the number of columns of the code arrays."""
        return len(self._q.book_bits)

    @property
    def is_trained(self) -> bool:
        return self._q.is_trained

    @property
    def codebooks(self) -> List[np.ndarray]:
        """Read-only views of the codebooks: one (2^bits, dim_m) float32 array per book
        (dim_m = dim for RVQ/AQ/VQ, the sub-vector size for PQ and GRVQ groups). For a
        ScalarQuantizer, one array of its 2^bits level values. Empty before fit()."""
        return self._q.codebooks()

    # -- training and coding ------------------------------------------------------------------
    def fit(self, X, metric=None, weights=None, iters: int = 20, seed: int = 0,
            threads: Optional[int] = None, verbose: bool = False, comm=None) -> "Quantizer":
        """Train on X (n, dim) float32/float64. metric: None (plain L2), a (dim,) diagonal or a
        (dim, dim) PSD matrix H. weights: None or (n,) non-negative per-vector weights.
        iters: Lloyd iterations per k-means. Deterministic for a seed and thread count.
        The GIL is released while training; Ctrl-C interrupts. Returns self.

        comm: an mpi4py communicator to train across processes (every family but rotated ones):
        every rank calls fit() with its own rows (X, weights) and the same other arguments, and
        every rank ends with the same codebooks, those of one process on all the rows up to the
        order of sums. rank_rows(n, comm) gives a rank's block of an even split."""
        self._q.fit(X, metric=metric, weights=weights, iters=iters, seed=seed,
                    threads=threads, verbose=verbose, comm=comm)
        return self

    def encode(self, X) -> np.ndarray:
        """Codes of X (n, dim): an (n, num_codebooks) array of uint8 (all books <= 8 bits) or
        uint16."""
        return self._q.encode(X)

    def decode(self, codes) -> np.ndarray:
        """Reconstruction (n, dim) float32 of an (n, num_codebooks) integer code array."""
        return self._q.decode(codes)

    def search(self, queries, codes, k: int = 10, distance: str = "l2",
               threads: Optional[int] = None, *, metric: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray]:
        """k nearest encoded vectors for each query, scored from the codes through lookup
        tables (no decoding). queries: (nq, dim); codes: (n, num_codebooks).
        distance: "l2" (ascending squared distance) or "ip" (descending inner product).
        (``metric=`` is the old name of ``distance=``: in fit(), metric is the H of the error.)
        Returns D (nq, k) float32 and I (nq, k) int64; I is -1 where n < k."""
        if metric is not None:
            warnings.warn("search(metric=...) is now search(distance=...); metric= means H in fit()",
                          DeprecationWarning, stacklevel=2)
            distance = metric
        return self._q.search(queries, codes, k=k, distance=distance, threads=threads)

    def usage(self, codes) -> List[CodebookUsage]:
        """Per-codebook code counts, entropy (bits), perplexity and dead codes of a code array:
        codebook collapse shows as perplexity far below 2^bits."""
        return self._q.usage(codes)

    # -- persistence --------------------------------------------------------------------------
    def save(self, path: str) -> None:
        """Write the trained quantizer to a .vqc container (atomic)."""
        _ext.save(self._q, str(path))

    def to_bytes(self) -> bytes:
        """The .vqc container as bytes (what pickling uses)."""
        return _ext.to_bytes(self._q)

    def __reduce__(self):
        if not self.is_trained:
            return (_make, (self.spec, self.dim))
        return (from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        state = "trained" if self.is_trained else "untrained"
        return f"<{type(self).__name__} {self.spec} dim={self.dim} {self.bits_per_vector} bits/vector, {state}>"


def _spec(family: str, *numbers: int, beam: int = 0, group: Optional[int] = None) -> str:
    """The configuration's name in the one grammar (built in C++, vq/core/factory.h)."""
    return _ext.quantizer_spec(family, [int(n) for n in numbers], beam=int(beam),
                               group=0 if group is None else int(group))


class VectorQuantizer(Quantizer):
    """One flat codebook of 2^bits entries (k-means)."""

    def __init__(self, dim: int, bits: int):
        super().__init__(_spec("VQ", bits), dim)


class ProductQuantizer(Quantizer):
    """`subvectors` sub-vectors of dim/subvectors dimensions, one 2^bits codebook each."""

    def __init__(self, dim: int, subvectors: int, bits: int):
        super().__init__(_spec("PQ", subvectors, bits), dim)


class ResidualQuantizer(Quantizer):
    """`levels` stages on the running residual, 2^bits entries each; beam > 1 encodes with
    beam search (EnCodec / ResGen-style RVQ)."""

    def __init__(self, dim: int, levels: int, bits: int, beam: int = 1):
        super().__init__(_spec("RVQ", levels, bits, beam=beam), dim)


class GroupResidualQuantizer(Quantizer):
    """Dimensions split into `groups` equal groups, an RVQ in each (HiFi-Codec-style)."""

    def __init__(self, dim: int, groups: int, levels: int, bits: int, beam: int = 1):
        super().__init__(_spec("GRVQ", groups, levels, bits, beam=beam), dim)


class AdditiveQuantizer(Quantizer):
    """`codebooks` full-dimension codebooks summed (AQLM-style), encoded by beam search."""

    def __init__(self, dim: int, codebooks: int, bits: int, beam: int = 8):
        super().__init__(_spec("AQ", codebooks, bits, beam=beam), dim)


class ScalarQuantizer(Quantizer):
    """Per-element codes: kind "int" (uniform, 2..8 bits), "nf" (NormalFloat, 4 bits) or
    "fp8" (e4m3, 8 bits); per-channel scales, or one scale per `group` dims of each vector."""

    def __init__(self, dim: int, bits: int, kind: str = "int", group: Optional[int] = None):
        families = {"int": "SQ", "nf": "NF", "fp8": "FP"}
        if kind not in families:
            raise ValueError(f"kind must be 'int', 'nf' or 'fp8', got {kind!r}")
        super().__init__(_spec(families[kind], bits, group=group), dim)


_FAMILIES = [("GRVQ", GroupResidualQuantizer), ("RVQ", ResidualQuantizer), ("VQ", VectorQuantizer),
             ("PQ", ProductQuantizer), ("AQ", AdditiveQuantizer), ("SQ", ScalarQuantizer),
             ("NF", ScalarQuantizer), ("FP", ScalarQuantizer)]


def _wrap(native) -> Quantizer:
    cls = next((c for prefix, c in _FAMILIES if native.spec.startswith(prefix)), Quantizer)
    obj = cls.__new__(cls)
    obj._q = native
    return obj


def _make(spec: str, dim: int) -> Quantizer:
    return _wrap(_ext.make_quantizer(spec, dim))


def load(path: str) -> Quantizer:
    """Read a quantizer from a .vqc file written by any vqcodec API (C++, CLI, Python)."""
    return _wrap(_ext.load(str(path)))


def from_bytes(data: bytes) -> Quantizer:
    """Inverse of Quantizer.to_bytes()."""
    return _wrap(_ext.from_bytes(bytes(data)))


def save_codes(path: str, quantizer: Quantizer, codes, source: str = "") -> None:
    """Write codes with their quantizer, as `vq encode` does for vectors: a .vqc that
    `vq decode` and load_codes() read without anything else (atomic). source: a name for the
    encoded input, kept in the metadata."""
    _ext.save_codes(quantizer._q, codes, str(path), str(source))


def load_codes(path: str) -> Tuple[Quantizer, np.ndarray]:
    """The quantizer and the (n, num_codebooks) codes of a codes file (save_codes, `vq encode`)."""
    native, codes, _source = _ext.load_codes(str(path))
    return _wrap(native), codes


class CodeIndex:
    """A searchable collection of codes, kept between searches and saved to a .vqc file.

        index = vq.CodeIndex(q, distance="l2")   # q: a trained quantizer (a private copy is kept)
        index.add(q.encode(base))                # ids 0, 1, ... in insertion order
        D, I = index.search(queries, k=10)
        index.save("base.vqc"); index = vq.load_index("base.vqc")

    Scores come from lookup tables over the codes (no decoding), exactly as Quantizer.search,
    without rebuilding the index on every call. Any number of threads may search at once (the
    GIL is released while scanning); add() waits for running searches. Pickles through its .vqc
    bytes.
    """

    def __init__(self, quantizer: Quantizer, distance: str = "l2"):
        self._i = _ext.CodeIndex(quantizer._q, str(distance))

    def add(self, codes) -> "CodeIndex":
        """Append an (n, num_codebooks) code array from the index's quantizer. Returns self."""
        self._i.add(codes)
        return self

    def search(self, queries, k: int = 10, threads: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
        """k nearest stored vectors per query (nq, dim): D (nq, k) float32, ascending squared
        distance ("l2") or descending inner product ("ip"), and I (nq, k) int64 ids, -1 where
        fewer than k are stored. Ties go to the lower id, whatever the threads."""
        return self._i.search(queries, k=int(k), threads=threads)

    def __len__(self) -> int:
        return len(self._i)

    @property
    def distance(self) -> str:
        """"l2" or "ip"."""
        return self._i.distance

    @property
    def quantizer(self) -> Quantizer:
        """A copy of the index's quantizer (changing it does not change the index)."""
        return _wrap(self._i.quantizer())

    def codes(self) -> np.ndarray:
        """The stored codes in id order, (len(self), num_codebooks)."""
        return self._i.codes()

    def save(self, path: str) -> None:
        """Write the index (quantizer, distance, codes) to a .vqc container (atomic)."""
        self._i.save(str(path))

    def to_bytes(self) -> bytes:
        """The .vqc container as bytes (what pickling uses)."""
        return self._i.to_bytes()

    def __reduce__(self):
        return (_index_from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"<CodeIndex {len(self)} × {self._i.quantizer().spec} distance={self.distance}>"


def _index_from_native(native) -> CodeIndex:
    obj = CodeIndex.__new__(CodeIndex)
    obj._i = native
    return obj


def _index_from_bytes(data: bytes) -> CodeIndex:
    return _index_from_native(_ext.index_from_bytes(bytes(data)))


def load_index(path: str) -> CodeIndex:
    """Read an index written by CodeIndex.save() (or the C++ save_index)."""
    return _index_from_native(_ext.load_index(str(path)))


def rank_rows(n: int, comm) -> slice:
    """This rank's block of n rows in the even split that distributed training and
    `mpirun vq train` use (the first n % size ranks take one row more): X[rank_rows(n, comm)]."""
    size, rank = comm.Get_size(), comm.Get_rank()
    base, extra = divmod(int(n), size)
    begin = rank * base + min(rank, extra)
    return slice(begin, begin + base + (1 if rank < extra else 0))


def kmeans(X, k: int, iters: int = 20, seed: int = 0, metric=None, weights=None,
           threads: Optional[int] = None, init: str = "k-means++",
           max_points_per_centroid: int = 256, progressive_steps: int = 0, verbose: bool = False,
           comm=None) -> Tuple[np.ndarray, np.ndarray]:
    """k-means on X (n, d). Returns centroids C (k, d) float32 and the assignment (n,) int32 of
    every row of X to its nearest centroid under the metric. Training uses at most
    k * max_points_per_centroid rows (0 = all). Deterministic for a seed and thread count.

    progressive_steps > 0 clusters in growing leading principal dimensions, `iters` iterations
    per step (FAISS's progressive-dimension clustering; identity metric only): it generalises
    better to rows not trained on when there are few rows per centroid, at about 2.6 times the
    work for 10 steps.

    comm: an mpi4py communicator: X (and weights) are this rank's rows, every rank gets the same
    centroids (those of one process on all rows, up to the order of sums) and the labels of its
    own rows."""
    return _ext.kmeans(X, int(k), iters=iters, seed=seed, metric=metric, weights=weights,
                       threads=threads, init=init,
                       max_points_per_centroid=max_points_per_centroid,
                       progressive_steps=int(progressive_steps), verbose=verbose, comm=comm)


# ---- LLM weight compression (vq::weights; docs/weights.md) ----------------------------------

CompressedMatrix = _ext.CompressedMatrix
# GemvKernel(cm, precision="float"|"int8"): cm prepared once for repeated .matvec/.matmul
# (codes repacked so the lookup tables stay in L1; "int8" quantises the tables, ~1 % of ‖y‖).
GemvKernel = _ext.GemvKernel


def compress_weights(W, H=None, X=None, scheme: str = "AQ2x8d8", damp: float = 0.01,
                     seed: int = 1234, act_order: bool = True, aq_rounds: int = 2,
                     aq_beam: int = 8, aq_refine_passes: int = 3,
                     threads: Optional[int] = None) -> CompressedMatrix:
    """Compress a linear layer's weight W (out_features, in_features) under the calibration
    Hessian H (in_features, in_features), or H = XᵀX/n from layer inputs X (n, in_features), or
    the identity when neither is given. scheme: "AQ2x8d8", "AQ2x8d8c4", "RTN4g128",
    "GPTQ3g128", "CDQ3g128", ... act_order: GPTQ's desc_act (columns, or AQ's groups, swept by
    diag(H), largest first; scalar grids fitted up front). aq_rounds / aq_beam: AQ's rounds of
    (encode, refit the books under H) and its search's beam width (more: slower, lower error).
    aq_refine_passes: AQ's passes of coordinate descent on the codes under the full H after
    each sweep (0: none).
    threads: None = OpenMP's default. Returns an object with .decode() -> Ŵ, .matvec(x) -> Ŵx,
    .matmul(X) -> XŴᵀ (computed from the codes), .bits_per_weight, .scheme, .shape."""
    note = _ext.scheme_deprecation_note(str(scheme))
    if note:
        warnings.warn(note, DeprecationWarning, stacklevel=2)
    return _ext.compress_weights(W, H=H, X=X, scheme=str(scheme), damp=float(damp), seed=int(seed),
                                 act_order=bool(act_order), aq_rounds=int(aq_rounds),
                                 aq_beam=int(aq_beam), aq_refine_passes=int(aq_refine_passes),
                                 threads=0 if threads is None else int(threads))
# ---- KV cache -----------------------------------------------------------------------------------
# KVCache is the C++ vq::kv::KVCache itself (no Python layer): one transformer layer's keys as
# codes, scored through lookup tables, with exact attention over the retrieved tokens.
#
#   c = vq.KVCache(kv_heads=8, head_dim=128, key_quantizer="PQ32x8", value_quantizer=None,
#                  query_aware=True)
#   c.fit(keys, queries)              # (T, kv_heads, head_dim), (T, q_heads, head_dim)
#   c.append(keys, values)            # (T, kv_heads, head_dim) each
#   s = c.scores(query)               # (q_heads, head_dim) -> (q_heads, len(c))
#   idx = c.topk(query, k)            # (q_heads, k) int64
#   out = c.attend(query, k, sink=4, window=64)   # (q_heads, head_dim)
#   c.bytes_per_token(); len(c)
KVCache = _ext.KVCache


# ---- Images -------------------------------------------------------------------------------------
# ImageModel is the C++ vq::image::ImageTokenizer itself (no Python layer). Images are uint8
# arrays (H, W) or (H, W, C), C = 1..4; tokens are (rows, cols, levels) uint8 / uint16.
#
#   m = vq.ImageModel("models/default/image.vqc")
#   t = m.tokens(img, levels=4)                      # fixed-length token grid
#   rec = m.from_tokens(t, width, height)            # (H, W, 3) uint8
#   data = m.compress(img, min_gain=4.0)               # bytes of an encoded .vqc (adaptive depth)
#   data = m.compress(img, levels=1, step=12.0)        # 1 token level + scalar refinement (codec mode)
#   data = m.compress(img, levels=1, bpp=0.5)          # the same, step chosen to fit 0.5 bits per pixel
#   rec = m.decompress(data)                             # as `vq decode` would
#   img = vq.read_image("photo.jpg"); vq.write_png("out.png", rec)

ImageModel = _ext.ImageModel
read_image = _ext.read_image
write_png = _ext.write_png
