"""numpy fast form of ``refquant.gguf``: the ggml reference quantizers, dequantization and scalar dot
products over whole tensors, equal to the definition byte for byte and bit for bit.

Each numpy float32 operation below is the one binary32 operation of the C source (IEEE, RNE; numpy
never fuses a multiply and an add).  Where the definition raises ``Unpredictable`` (a C float to
integer conversion out of range) this form raises it too, for the whole call.
Reproduces: ggml-quants.c quantize_row_*_ref / dequantize_row_*, ggml-cpu/quants.c
ggml_vec_dot_*_generic (ggml 2025), as refquant/gguf.py models them.
"""

import numpy as np

from ..errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable
from ..gguf import BLOCKS, PAIRS

F32 = np.float32
FAST_QUANTIZE = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q8_1", "q8_K")
FAST_DEQUANTIZE = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")
FAST_DOT = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0")


def as_blocks(x, kind, known=FAST_QUANTIZE, blocks=None, what="GGUF block type with a fast quantizer"):
    """(rows of one block each, the input's shape) of binary32 ``x`` for ``kind``, one of ``known``
    (``blocks``: kind -> (elements per block, ...); this module's BLOCKS by default)."""
    if kind not in known:
        raise UnknownNameError(what, kind, known)
    a = np.asarray(x)
    x32 = a.astype(F32)
    if a.dtype != F32 and not np.array_equal(x32, a):
        raise InvalidValueError(f"GGUF quantizers take binary32 values; {a.dtype} input is not exactly float32")
    if not np.isfinite(x32).all():
        raise InvalidValueError("GGUF quantizers take finite binary32 values; the input holds inf or NaN")
    n = (BLOCKS if blocks is None else blocks)[kind][0]
    if x32.ndim == 0 or x32.shape[-1] % n:
        raise ShapeError(f"the last dimension must be a multiple of the {kind} block ({n}); got shape {x32.shape}")
    return x32.reshape(-1, n), x32.shape


def _c_int(t, lo, hi, what):
    """C's float -> integer conversion (toward zero); Unpredictable where C leaves it undefined."""
    tt = np.trunc(t)
    if not (np.isfinite(t).all() and (tt >= lo).all() and (tt <= hi).all()):
        raise Unpredictable(f"{what}: a value leaves [{lo}, {hi}]; the C conversion is undefined")
    return tt.astype(np.int32)


def _rows(b):
    return np.arange(b.shape[0])


def _signed_absmax(b):
    """The first element of largest |x| (ggml's strict <), +0 when the block is all zeros."""
    ax = np.abs(b)
    i = np.argmax(ax, axis=1)
    return np.where(ax[_rows(b), i] > 0, b[_rows(b), i], F32(0))


def _inverse(d):
    with np.errstate(divide="ignore"):
        return np.where(d != 0, F32(1) / d, F32(0)).astype(F32)


def _symmetric(b, levels):
    half = levels // 2
    d = (_signed_absmax(b) / F32(-half)).astype(F32)
    t = b * _inverse(d)[:, None] + F32(half + 0.5)
    return d, np.minimum(levels - 1, _c_int(t, -128, 127, "(int8_t)(x*id + offset)"))


def _affine(b, levels, clamp):
    lo, hi = b[_rows(b), np.argmin(b, axis=1)], b[_rows(b), np.argmax(b, axis=1)]
    d = ((hi - lo) / F32(levels - 1)).astype(F32)
    t = (b - lo[:, None]) * _inverse(d)[:, None] + F32(0.5)
    q = _c_int(t, -128, 127, "(int8_t)") if clamp else _c_int(t, 0, 255, "(uint8_t)")
    return d, lo, np.minimum(levels - 1, q) if clamp else q


def _roundf(v):
    """C roundf on binary32 (halfway away from zero); a - floor(a) is exact."""
    a = np.abs(v)
    f = np.floor(a)
    r = f + (a - f >= F32(0.5))
    return np.where(v < 0, -r, r)


def _q8(b):
    d = (np.max(np.abs(b), axis=1) / F32(127)).astype(F32)
    r = _roundf(b * _inverse(d)[:, None])
    if not ((r >= -128) & (r <= 127)).all():
        raise Unpredictable("roundf(x*id) leaves int8_t")
    return d, r.astype(np.int32)


def _f16(v):
    with np.errstate(over="ignore"):    # |d| > 65504 is +-inf in binary16, as GGML_FP32_TO_FP16 gives
        return v.astype("<f2").view(np.uint8).reshape(-1, 2)


def _nibbles(q):
    h = q.shape[1] // 2
    return ((q[:, :h] & 0x0F) | ((q[:, h:] & 0x0F) << 4)).astype(np.uint8)


def _high_bits(q):
    qh = (((q >> 4) & 1).astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(axis=1)
    return qh.astype("<u4").view(np.uint8).reshape(-1, 4)


def _q8_k(b):
    mx = _signed_absmax(b)
    zero = mx == 0
    with np.errstate(divide="ignore"):
        iscale = np.where(zero, F32(1), F32(-127) / np.where(zero, F32(1), mx)).astype(F32)
    v = iscale[:, None] * b
    if not (np.abs(v) <= 4194303).all():
        raise Unpredictable("nearest_int: ggml asserts |v| <= 4194303")
    q = np.minimum(127, np.rint(v).astype(np.int32))
    q[zero] = 0
    d = np.where(zero, F32(0), F32(1) / iscale).astype("<f4").view(np.uint8).reshape(-1, 4)
    sums = q.reshape(-1, 16, 16).sum(axis=2).astype("<i2").view(np.uint8).reshape(-1, 32)
    return np.concatenate([d, q.astype(np.int8).view(np.uint8), sums], axis=1)


def _quantize_blocks(kind, b):
    if kind in ("q4_0", "q5_0"):
        d, q = _symmetric(b, 16 if kind == "q4_0" else 32)
        parts = [_f16(d)] + ([_high_bits(q)] if kind == "q5_0" else []) + [_nibbles(q)]
    elif kind in ("q4_1", "q5_1"):
        d, lo, q = _affine(b, 16 if kind == "q4_1" else 32, clamp=kind == "q4_1")
        parts = [_f16(d), _f16(lo)] + ([_high_bits(q)] if kind == "q5_1" else []) + [_nibbles(q)]
    elif kind == "q8_K":
        return _q8_k(b)
    else:
        d, q = _q8(b)
        s = [_f16((q.sum(axis=1).astype(F32) * d).astype(F32))] if kind == "q8_1" else []
        parts = [_f16(d)] + s + [q.astype(np.int8).view(np.uint8)]
    return np.concatenate(parts, axis=1)


def quantize(kind, x):
    """uint8 blocks of ``kind`` for float32 ``x`` (last dimension a multiple of the block size).

    Reproduces: ggml-quants.c quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q8_1,q8_K}_ref (ggml 2025).
    """
    b, shape = as_blocks(x, kind)
    n, size = BLOCKS[kind]
    return _quantize_blocks(kind, b).reshape(*shape[:-1], shape[-1] // n * size)


def _split(kind, data):
    size = BLOCKS[kind][1]
    a = np.ascontiguousarray(np.asarray(data, dtype=np.uint8))
    if a.ndim == 0 or a.shape[-1] % size:
        raise ShapeError(f"the last dimension must be a multiple of the {kind} block ({size} bytes); got {a.shape}")
    return a.reshape(-1, size), a.shape


def _fp16(a, off):
    return a[:, off:off + 2].copy().view("<f2").astype(F32)[:, 0]


def codes(kind, data):
    """(int32 codes (N, 32), {field: float32 (N,)}) of every block; the signed codes the dots multiply."""
    a, _ = _split(kind, data)
    if kind == "q8_0":
        return a[:, 2:].view(np.int8).astype(np.int32), {"d": _fp16(a, 0)}
    if kind == "q8_1":
        return a[:, 4:].view(np.int8).astype(np.int32), {"d": _fp16(a, 0), "s": _fp16(a, 2)}
    start = {"q4_0": 2, "q4_1": 4, "q5_0": 6, "q5_1": 8}[kind]
    qs = a[:, start:].astype(np.int32)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    if kind in ("q5_0", "q5_1"):
        qh = a[:, start - 4:start].copy().view("<u4").astype(np.int64)
        q = q | (((qh >> np.arange(32)) & 1) << 4).astype(np.int32)
    fields = {"d": _fp16(a, 0)} | ({"m": _fp16(a, 2)} if kind in ("q4_1", "q5_1") else {})
    return q - {"q4_0": 8, "q5_0": 16}.get(kind, 0), fields


def dequantize(kind, data):
    """float32 values of every element: fl(q*d), or fl(fl(q*d) + m) for Q4_1/Q5_1.

    Reproduces: ggml-quants.c dequantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0} (ggml 2025).
    """
    if kind not in FAST_DEQUANTIZE:
        raise UnknownNameError("GGUF block type with a fast dequantizer", kind, FAST_DEQUANTIZE)
    q, f = codes(kind, data)
    _, shape = _split(kind, data)
    v = q.astype(F32) * f["d"][:, None]
    if "m" in f:
        v = v + f["m"][:, None]
    n, size = BLOCKS[kind]
    return v.astype(F32).reshape(*shape[:-1], shape[-1] // size * n)


def vec_dot(kind_x, x, kind_y, y):
    """float32 ggml_vec_dot_<kind_x>_<kind_y>_generic of every row of ``x`` with the row ``y``.

    Blocks are added to sumf one at a time in block order, each term as the C expression writes it.
    Reproduces: ggml-cpu/quants.c ggml_vec_dot_{q4_0_q8_0,q4_1_q8_1,q5_0_q8_0,q5_1_q8_1,q8_0_q8_0}_generic.
    """
    if kind_x not in FAST_DOT or PAIRS[kind_x] != kind_y:
        raise UnknownNameError("ggml vec_dot pair with a fast form", f"{kind_x}.{kind_y}",
                               [f"{k}.{PAIRS[k]}" for k in FAST_DOT])
    x = np.atleast_2d(np.asarray(x, dtype=np.uint8))
    qx, fx = codes(kind_x, x)
    qy, fy = codes(kind_y, y)
    nb = qy.shape[0]
    if qx.shape[0] != x.shape[0] * nb:
        raise ShapeError(f"each {kind_x} row must hold {nb} blocks, as the {kind_y} row does")
    sumi = np.einsum("rbk,bk->rb", qx.reshape(-1, nb, 32), qy, dtype=np.int64).astype(F32)
    dx, dy = fx["d"].reshape(-1, nb), fy["d"][None, :]
    if kind_x == "q4_0":
        term = (sumi * dx) * dy
    elif kind_x == "q5_0":
        term = (dx * dy) * sumi
    elif kind_x == "q8_0":
        term = sumi * (dx * dy)
    else:
        term = (dx * dy) * sumi + fx["m"].reshape(-1, nb) * fy["s"][None, :]
    sumf = np.zeros(term.shape[0], dtype=F32)
    for b in range(nb):
        sumf = sumf + term[:, b]
    return sumf
