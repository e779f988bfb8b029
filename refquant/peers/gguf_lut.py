"""``refquant verify gguf`` rows of the table types (TQ1_0, TQ2_0, MXFP4, NVFP4, IQ4_NL, IQ4_XS): gguf-py
0.19.0 (``gguf.quants``) against ``refquant.blocks.gguf_lut`` (proven equal to the definition
``refquant.gguf_lut``), quantize byte for byte where gguf-py has a quantizer, dequantize bit for bit.
The inputs (random, constructed ties, decisive MXFP4 amax values, random blocks with finite scales)
are built here and used by tests/test_gguf_lut.py too.  docs/llm-formats.md §1.
"""

import numpy as np

from ..blocks import gguf_lut as fast
from ..gguf_lut import BLOCKS
from .conformance import judge
from .versions import need

BACKEND = "gguf_py"
QUANTIZED = ("tq1_0", "tq2_0", "mxfp4")
DEQUANTIZED = ("tq1_0", "tq2_0", "mxfp4", "nvfp4", "iq4_nl", "iq4_xs")
# gguf-py 0.19.0 has no NVFP4 quantizer: refquant's is checked against ggml's C (docs/llm-formats.md §1)
# the byte offsets of each type's fp16 scale (kept finite in random blocks: NaN payloads are not modelled)
FP16_OFFSETS = {"tq1_0": 52, "tq2_0": 64, "iq4_nl": 0, "iq4_xs": 0}


def qtype(kind):
    from gguf import GGMLQuantizationType
    return GGMLQuantizationType[kind.upper()]


def _near(rng, b):
    """Each value itself or one ulp either side."""
    k = rng.integers(0, 3, b.shape)
    up, down = np.nextafter(b, np.float32(np.inf)), np.nextafter(b, np.float32(-np.inf))
    return np.where(k == 1, up, np.where(k == 2, down, b)).astype(np.float32)


def tie_blocks(kind, rng, n_blocks):
    """TQ: amax exactly 1 (the first element), the rest at +-0.5 (lroundf's ties) +- 1 ulp, and 0 / +-1.
    MXFP4: amax 6·2^s (scale 2^(s-1)), the rest at the midpoints of the doubled E2M1 values +- 1 ulp.
    NVFP4: per 16 an amax whose amax/6 lies on a UE4M3 rounding point, +- 1 ulp."""
    n = BLOCKS[kind][0]
    if kind == "nvfp4":        # amax/6 on a UE4M3 rounding point (ties go up) +- 1 ulp, per 16
        m = rng.integers(0, 8, (n_blocks, 4))
        e = rng.integers(-6, 8, (n_blocks, 4))
        amax = _near(rng, (6 * (1 + (2 * m + 1) / 16) * np.exp2(e)).astype(np.float32))
        b = (rng.random((n_blocks, 4, 16)) * 2 - 1).astype(np.float32) * amax[:, :, None]
        b[:, :, 0] = amax
        return b.ravel()
    if kind == "mxfp4":
        mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 0.0, 1.0, 6.0], np.float32)
        b = rng.choice(mids, (n_blocks, n)) * rng.choice([-1, 1], (n_blocks, n)).astype(np.float32)
        b = _near(rng, b)
        b[:, 0] = 6
        return (b * np.exp2(rng.integers(-20, 20, (n_blocks, 1))).astype(np.float32)).ravel()
    b = _near(rng, rng.choice(np.array([0.5, -0.5, 0.0, 1.0, -1.0], np.float32), (n_blocks, n)))
    b[:, 0] = 1
    return (b * np.exp2(rng.integers(-20, 20, (n_blocks, 1))).astype(np.float32)).ravel()


def decisive_mxfp4(rng, n_blocks):
    """MXFP4 blocks whose amax lies just below a power of two (2^k (1 - j 2^-24), j < 64), where the
    rounding of log2f decides the exponent byte, with random smaller elements."""
    k = rng.integers(-120, 120, n_blocks)
    amax = (np.exp2(k.astype(np.float64)) * (1 - rng.integers(1, 64, n_blocks) * 2.0 ** -24)).astype(np.float32)
    b = (rng.random((n_blocks, 32)) * 2 - 1).astype(np.float32) * amax[:, None]
    b[np.arange(n_blocks), rng.integers(0, 32, n_blocks)] = amax * rng.choice([-1, 1], n_blocks)
    return b.ravel()


def zero_blocks(kind):
    n = BLOCKS[kind][0]
    return np.concatenate([np.full(n, -0.0, np.float32), np.zeros(n, np.float32)])


def inputs(kind, rng, n):
    """{flag: float32 values} for a quantize row: ``n`` random values at three magnitudes, ties, zeros."""
    x = (rng.standard_normal(n) * rng.choice([1e-4, 1.0, 1e4], n)).astype(np.float32)
    out = {"random (1e-4, 1, 1e4)": x, "constructed ties +- 1 ulp": tie_blocks(kind, rng, max(1, n // BLOCKS[kind][0] // 4)),
           "zero blocks (-0, +0)": zero_blocks(kind)}
    if kind == "mxfp4":
        out["amax just below 2^k (log2f decides)"] = decisive_mxfp4(rng, max(1, n // 32 // 4))
    return out


def random_blocks(kind, rng, n_blocks):
    """Random bytes with a finite fp16 scale (MXFP4: every E8M0 byte)."""
    b = rng.integers(0, 256, (n_blocks, BLOCKS[kind][1]), dtype=np.uint8)
    if kind in FP16_OFFSETS:
        o = FP16_OFFSETS[kind]
        b[:, o:o + 2] = (rng.standard_normal(n_blocks) * 0.01).astype("<f2").view(np.uint8).reshape(n_blocks, 2)
    return b


def lut_rows(seed=20261203, n=1 << 17):
    """Conformance rows: quantize (TQ1_0, TQ2_0, MXFP4) and dequantize (all five) against gguf-py."""
    quants = need("gguf.quants", "gguf")
    rng = np.random.default_rng(seed)
    rows = []
    for kind in QUANTIZED:
        for flag, x in inputs(kind, rng, n).items():
            rows.append(judge(BACKEND, f"quantize {kind}", "ggml_ref", flag, quants.quantize(x, qtype(kind)),
                              fast.quantize(kind, x), x=x))
    for kind in DEQUANTIZED:
        b = random_blocks(kind, rng, max(2, n // BLOCKS[kind][0]))
        rows.append(judge(BACKEND, f"dequantize {kind}", "ggml_ref", f"{len(b)} random blocks, finite scales",
                          quants.dequantize(b, qtype(kind)).view(np.uint32).ravel(),
                          fast.dequantize(kind, b).view(np.uint32)))
    return rows
