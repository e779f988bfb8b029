"""The blocks suite: GGUF block types, quantized and dequantized, one block per .tv line."""

import struct

from ... import gguf
from ..blocks_tv import dequantize_line, quantize_line

QUANTIZE = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q8_K", "q6_K", "q4_K", "q5_K", "q2_K", "q3_K")
DEQUANTIZE = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K")
# the table types (refquant/gguf_lut.py), built after the others so that their lines stay as they were
LUT_QUANTIZE = ("tq1_0", "tq2_0", "mxfp4")
LUT_DEQUANTIZE = ("tq1_0", "tq2_0", "mxfp4", "iq4_nl", "iq4_xs")
# the fp16 (q8_K: fp32) scale fields of each block layout, kept finite in the random blocks
SCALE_FIELDS = {"q4_0": (0,), "q4_1": (0, 2), "q5_0": (0,), "q5_1": (0, 2), "q8_0": (0,), "q2_K": (80, 82),
                "q3_K": (108,), "q4_K": (0, 2), "q5_K": (0, 2), "q6_K": (208,),
                "tq1_0": (52,), "tq2_0": (64,), "iq4_nl": (0,), "iq4_xs": (0,)}


def _f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f16(x):
    return struct.pack("<e", x)


def _random_block(rng, n):
    scale = rng.choice([1e-4, 1.0, 1e4])
    return [_f32(rng.gauss(0, 1) * scale) for _ in range(n)]


def _tie_block(rng, kind, n):
    """A block whose scale is exactly 1: x·(1/d) + offset (or roundf's argument) is an exact .5 tie."""
    if kind in ("q4_0", "q5_0"):
        half = 8 if kind == "q4_0" else 16
        xs = [-half] + [rng.randrange(-half, half - 1) + 0.5 for _ in range(n - 1)]
    elif kind in ("q4_1", "q5_1"):
        top = 15 if kind == "q4_1" else 31
        xs = [0, top] + [rng.randrange(0, top) + 0.5 for _ in range(n - 2)]
    elif kind == "q8_K":
        xs = [-127] + [rng.randrange(-126, 126) + 0.5 for _ in range(n - 1)]   # iscale = 1: RNE ties
    elif kind in ("tq1_0", "tq2_0"):     # amax 1: lroundf's ties at +-0.5
        xs = [1] + [rng.choice([-1, -0.5, 0, 0.5, 1]) for _ in range(n - 1)]
    elif kind in ("mxfp4", "nvfp4"):     # amax 6 (per 32; NVFP4 per 16): scale 2^-1, the E2M1 midpoints
        xs = [6 if i % (32 if kind == "mxfp4" else 16) == 0 else
              rng.choice([-1, 1]) * rng.choice([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5]) for i in range(n)]
    else:
        xs = [127] + [rng.randrange(-127, 126) + 0.5 for _ in range(n - 1)]
    return [_f32(x) for x in xs]


def _zero_blocks(n):
    return [[0] * n, [0x80000000] * n, [0x80000000] + [0] * (n - 1)]


def _quantize_group(rng, kind):
    n = gguf.BLOCKS[kind][0]
    if kind.endswith("_K") and kind != "q8_K":   # the iterative scale searches are slow in the exact model
        sets = {"random": [_random_block(rng, n)], "zeros": _zero_blocks(n)[:1]}
    else:
        sets = {"random": [_random_block(rng, n) for _ in range(6)],
                "ties": [_tie_block(rng, kind, n) for _ in range(3)], "zeros": _zero_blocks(n)}
    flags = {"random": ["random"], "ties": ["tie"], "zeros": ["underflow_boundary"]}
    cases = [{"name": f"{kind.lower()}/quantize/{name}", "comment": f"{len(blocks)} blocks of {n} binary32 values",
              "flags": flags[name], "params": {"format": kind},
              "tv": (f"{kind.lower()}_quantize_{name}.tv", ["in:f32x" + str(n), "out:block"],
                     lambda kind=kind, blocks=blocks: [quantize_line(kind, b) for b in blocks])}
             for name, blocks in sets.items()]
    return {"op": "gguf_quantize", "profile": "ggml_ref", "params": {"format": kind},
            "comment": f"ggml quantize_row_{kind}_ref, block by block", "cases": cases}


def _random_bytes(rng, kind):
    size = gguf.BLOCKS[kind][1]
    data = bytearray(rng.randrange(256) for _ in range(size))
    if kind == "q8_K":
        data[0:4] = struct.pack("<f", rng.uniform(1e-3, 1.0))
    for off in SCALE_FIELDS.get(kind, ()):
        data[off:off + 2] = _f16(rng.uniform(-0.05, 0.05))
    return bytes(data)


def _dequantize_group(rng, kind):
    blocks = [_random_bytes(rng, kind) for _ in range(4)]
    case = {"name": f"{kind.lower()}/dequantize/random", "comment": f"{len(blocks)} random blocks, finite scales",
            "flags": ["random"], "params": {"format": kind},
            "tv": (f"{kind.lower()}_dequantize_random.tv", ["in:block", "out:f32x" + str(gguf.BLOCKS[kind][0])],
                   lambda kind=kind, blocks=blocks: [dequantize_line(kind, b) for b in blocks])}
    return {"op": "gguf_dequantize", "profile": "ggml_ref", "params": {"format": kind},
            "comment": f"ggml dequantize_row_{kind}, block by block", "cases": [case]}


def build_blocks(rng):
    """Groups whose tests are .tv files (built lazily: 'lines' is a callable)."""
    return ([_quantize_group(rng, k) for k in QUANTIZE] + [_dequantize_group(rng, k) for k in DEQUANTIZE]
            + [_quantize_group(rng, k) for k in LUT_QUANTIZE] + [_dequantize_group(rng, k) for k in LUT_DEQUANTIZE]
            + [_quantize_group(rng, "nvfp4"), _dequantize_group(rng, "nvfp4")])
