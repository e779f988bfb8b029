"""``refquant verify gguf``: gguf-py's numpy quantizers (gguf.quants) against refquant's GGUF model.

Each row compares gguf-py 0.19.0 with ``refquant.blocks.gguf`` / ``refquant.blocks.gguf_k`` (proven
equal to the definition ``refquant.gguf``): the reference quantizers byte for byte, dequantization bit for bit.  A
difference is 'known' when gguf-py equals the model of one of its named deviations (backend row
``gguf_py``; docs/llm-formats.md §1): only the sign of a zero scale field differs.
"""

import numpy as np

from ..blocks import gguf as fast
from ..blocks import gguf_k as fast_k
from ..gguf import BLOCKS
from .conformance import judge
from .versions import known, need

BACKEND = "gguf_py"
LEGACY = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
KTYPES = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K")
SCALE_OFFSETS = {"q2_K": (80, 82), "q3_K": (108,), "q4_K": (0, 2), "q5_K": (0, 2), "q6_K": (208,)}


def tie_blocks(kind, rng, n_blocks):
    """Blocks whose scale is exactly 1, so that x*id + offset (or roundf's argument) lands on .5
    ties, each element the tie or one ulp either side."""
    n = BLOCKS[kind][0]
    out = []
    for _ in range(n_blocks):
        if kind in ("q4_0", "q5_0"):
            half = 8 if kind == "q4_0" else 16
            b, anchors = rng.integers(-half, half - 1, n).astype(np.float32) + np.float32(0.5), {0: -half}
        elif kind in ("q4_1", "q5_1"):
            top = 15 if kind == "q4_1" else 31
            b, anchors = rng.integers(0, top, n).astype(np.float32) + np.float32(0.5), {0: 0, 1: top}
        else:
            b, anchors = rng.integers(-127, 126, n).astype(np.float32) + np.float32(0.5), {0: 127}
        k = rng.integers(0, 3, n)
        up, down = np.nextafter(b, np.float32(np.inf)), np.nextafter(b, np.float32(-np.inf))
        b = np.where(k == 1, up, np.where(k == 2, down, b)).astype(np.float32)
        for i, v in anchors.items():
            b[i] = v
        out.append(b)
    return np.concatenate(out)


def gguf_py_model(kind, x):
    """refquant's bytes with gguf-py's two zero-sign deviations applied (docs/llm-formats.md §1)."""
    ours = fast.quantize(kind, x).reshape(-1, BLOCKS[kind][1]).copy()
    b = np.asarray(x, np.float32).reshape(-1, BLOCKS[kind][0])
    if kind in ("q4_0", "q5_0"):       # d = x[argmax |x|] / -half: x[0] when all are zero
        zero = (b == 0).all(axis=1)
        d = np.where(np.signbit(b[:, 0]), np.float16(0), np.float16(-0.0)).astype("<f2").view(np.uint8)
        ours[zero, 0:2] = d.reshape(-1, 2)[zero]
    if kind in ("q4_1", "q5_1"):       # m = numpy's min of the block
        ours[:, 2:4] = b.min(axis=1).astype("<f2").view(np.uint8).reshape(-1, 2)
    return ours.reshape(fast.quantize(kind, x).shape)


def _qtype(kind):
    from gguf import GGMLQuantizationType
    return GGMLQuantizationType[kind.upper()]


def _inputs(kind, rng, n):
    x = (rng.standard_normal(n) * rng.choice([1e-4, 1.0, 1e4], n)).astype(np.float32)
    return {"random (1e-4, 1, 1e4)": x, "constructed .5 ties +- 1 ulp": tie_blocks(kind, rng, n // 32 // 4),
            "zero blocks (+0, -0 first)": _zero_blocks(kind)}


def _zero_blocks(kind):
    n = BLOCKS[kind][0]
    return np.concatenate([np.full(n, -0.0, np.float32), np.zeros(n, np.float32),
                           np.array([-0.0] + [0.0] * (n - 1), np.float32), np.array([-0.0, 0.0] + [1.0] * (n - 2),
                                                                                      np.float32)])


def _deviation(kind):
    return "gguf-py zero-block scale sign" if kind in ("q4_0", "q5_0") else "gguf-py zero minimum sign"


def _k_blocks(kind, rng, n):
    b = rng.integers(0, 256, (n, BLOCKS[kind][1]), dtype=np.uint8)
    for o in SCALE_OFFSETS[kind]:
        b[:, o:o + 2] = (rng.standard_normal(n) * 0.01).astype("<f2").view(np.uint8).reshape(n, 2)
    return b


def backend_gguf(seed=20261203, n=1 << 17):
    """Conformance rows: quantize (random, ties, zero blocks) and dequantize per type; K dequantize."""
    quants = need("gguf.quants", "gguf")
    rng = np.random.default_rng(seed)
    rows = []
    for kind in LEGACY:
        for flag, x in _inputs(kind, rng, n).items():
            got = quants.quantize(x, _qtype(kind))
            models = [known("gguf", _deviation(kind), gguf_py_model(kind, x), "gguf_quantize")]
            rows.append(judge(BACKEND, f"quantize {kind}", "ggml_ref", flag, got, fast.quantize(kind, x), models, x=x))
        data = fast.quantize(kind, _inputs(kind, rng, n)["random (1e-4, 1, 1e4)"])
        rows.append(judge(BACKEND, f"dequantize {kind}", "ggml_ref", "random blocks",
                          quants.dequantize(data, _qtype(kind)).view(np.uint32),
                          fast.dequantize(kind, data).view(np.uint32)))
    for kind in KTYPES:     # the fast form, proven equal to spec.dequantize_row (tests/test_gguf_k_fast.py)
        b = _k_blocks(kind, rng, max(2, n // 256))
        want = fast_k.dequantize(kind, b).view(np.uint32)
        rows.append(judge(BACKEND, f"dequantize {kind}", "ggml_ref", f"{len(b)} random super-blocks, finite fp16 scales",
                          quants.dequantize(b, _qtype(kind)).view(np.uint32).ravel(), want))
    from .gguf_lut import lut_rows     # TQ1_0, TQ2_0, MXFP4, IQ4_NL, IQ4_XS
    return rows + lut_rows(seed, n)
