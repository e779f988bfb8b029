"""numpy fast form of ``refquant.gguf_lut``: TQ1_0, TQ2_0, MXFP4 and NVFP4 quantization and the
dequantization of TQ1_0, TQ2_0, MXFP4, NVFP4, IQ4_NL and IQ4_XS over whole tensors, equal to the
definition byte for byte and bit for bit (tests/test_gguf_lut.py).

Each numpy float32 operation is the one binary32 operation of the C source.  MXFP4's
floorf(log2f(amax)) is not taken from a libm: per binade [2^k, 2^(k+1)) the first amax whose
correctly rounded log2 reaches k + 1 is found from the definition (``gguf_lut.log2f``) by bisection
and cached, so the exponent byte is the definition's by construction.
Reproduces: ggml-quants.c quantize_row_{tq1_0,tq2_0,mxfp4}_ref and dequantize_row_{tq1_0,tq2_0,
mxfp4,iq4_nl,iq4_xs} (ggml 2026-08), as refquant/gguf_lut.py models them.
"""

import functools

import numpy as np

from .. import formats
from .. import gguf_lut as lut
from ..errors import ShapeError, UnknownNameError, Unpredictable
from .gguf import as_blocks

F32 = np.float32
FAST_QUANTIZE = ("tq1_0", "tq2_0", "mxfp4", "nvfp4")
FAST_DEQUANTIZE = ("tq1_0", "tq2_0", "mxfp4", "nvfp4", "iq4_nl", "iq4_xs")
_KV_MX = np.array(lut.KVALUES_MXFP4, dtype=F32)
_KV_NL = np.array(lut.KVALUES_IQ4NL, dtype=F32)


def _as_blocks(x, kind):
    return as_blocks(x, kind, FAST_QUANTIZE, lut.BLOCKS, "GGUF table type with a fast quantizer")


def _le16(d):
    """GGML_FP32_TO_FP16 bytes (RNE, overflow to inf) of float32 d, little-endian."""
    with np.errstate(over="ignore"):
        return d.astype("<f2").view(np.uint8).reshape(-1, 2)


def _ternary(b):
    """(amax, lroundf(x·(1/amax)) + 1) per block; Unpredictable where x·id is inf or NaN."""
    d = np.abs(b).max(axis=1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        inv = np.where(d != 0, F32(1) / np.where(d != 0, d, F32(1)), F32(0)).astype(F32)
        t = b * inv[:, None]
    if not np.isfinite(t).all():
        raise Unpredictable("TQ quantizer: x*id is inf or NaN (1/amax overflows); lroundf is undefined in C")
    a = np.abs(t)
    r = np.floor(a) + (a - np.floor(a) >= F32(0.5))
    return d, (np.copysign(r, t).astype(np.int64) + 1)


@functools.cache
def _tq1_tables():
    """(52, 5) element indices per byte (the qh bytes' fifth trit points at a zero column 256)."""
    idx = [els + [256] * (5 - len(els)) for _, els in lut.tq1_0_groups()]
    return np.array(idx), 3 ** np.arange(4, -1, -1)


def _quantize_tq1_0(b):
    d, t = _ternary(b)
    idx, pw = _tq1_tables()
    t = np.concatenate([t, np.zeros((t.shape[0], 1), np.int64)], axis=1)
    q = (t[:, idx] * pw).sum(axis=2)
    return np.concatenate([((q * 256 + 242) // 243).astype(np.uint8), _le16(d)], axis=1)


def _quantize_tq2_0(b):
    d, t = _ternary(b)
    t = (t & 3).reshape(-1, 2, 4, 32) << (2 * np.arange(4))[None, None, :, None]
    qs = (t[:, :, 0] | t[:, :, 1] | t[:, :, 2] | t[:, :, 3]).reshape(-1, 64).astype(np.uint8)
    return np.concatenate([qs, _le16(d)], axis=1)


@functools.cache
def _log2_threshold(k):
    """The float32 bits of the first x in [2^k, 2^(k+1)) with floor(RN32(log2 x)) = k + 1
    (2^(k+1) when none), by bisection on the definition's log2f (monotone in x)."""
    lo, hi = (k + 127) << 23, (k + 128) << 23
    while lo < hi:
        mid = (lo + hi) // 2
        if lut.log2f(formats.decode("fp32", mid)).value >= k + 1:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _mxfp4_exponents(amax):
    bits = amax.view(np.uint32)
    k = (bits >> 23).astype(np.int64) - 127
    e = np.zeros(amax.shape, np.int64)
    pos = amax > 0
    if (pos & (k < -125)).any():
        raise Unpredictable("MXFP4 scale: amax < 2^-125 gives (uint8_t) of a negative float, undefined in C")
    for kk in np.unique(k[pos]):
        sel = pos & (k == kk)
        e[sel] = kk + (bits[sel] >= _log2_threshold(int(kk))) - 2 + 127
    return e


def _e8m0_half(e):
    return np.ldexp(F32(1), (e.astype(np.int64) - 128)).astype(F32)


def _quantize_mxfp4(b):
    e = _mxfp4_exponents(np.abs(b).max(axis=1))
    d = _e8m0_half(e)
    err = np.abs((_KV_MX[None, None, :] * d[:, None, None]).astype(F32) - b[:, :, None])
    idx = np.argmin(err, axis=2).astype(np.uint8)
    return np.concatenate([e.astype(np.uint8)[:, None], idx[:, :16] | (idx[:, 16:] << 4)], axis=1)


@functools.cache
def _ue4m3_table():
    """float32 ggml_ue4m3_to_fp32 of every byte, from the definition (each value is a binary32 value)."""
    return np.array([float(lut.ue4m3_half(i).value) for i in range(256)], dtype=F32)


def _fp32_to_ue4m3(x):
    """ggml_fp32_to_ue4m3 of float32 x >= 0 (lut.fp32_to_ue4m3, elementwise)."""
    x = np.minimum(x, F32(448))
    bits = x.view(np.uint32)
    e = ((bits >> 23) & 0xFF).astype(np.int64) - 120
    sub = np.minimum(np.trunc((x * F32(512)).astype(F32) + F32(0.5)).astype(np.int64), 7)
    m = ((bits >> 20) & 7).astype(np.int64) + ((bits >> 19) & 1)
    e2, m = np.where(m > 7, e + 1, e), np.where(m > 7, 0, m)
    normal = np.where(e2 >= 15, 0x7E, (e2 << 3) | m)
    out = np.where(e <= 0, np.where(sub >= 1, sub, 0), np.where(e >= 15, 0x7E, normal))
    return np.where(x > 0, out, 0).astype(np.uint8)


def _quantize_nvfp4(b):
    sub = b.reshape(-1, 4, 16)
    ue = _fp32_to_ue4m3((np.abs(sub).max(axis=2) / F32(6)).astype(F32))
    d = _ue4m3_table()[ue]
    err = np.abs((_KV_MX[None, None, None, :] * d[:, :, None, None]).astype(F32) - sub[:, :, :, None])
    idx = np.argmin(err, axis=3).astype(np.uint8)
    qs = (idx[:, :, :8] | (idx[:, :, 8:] << 4)).reshape(-1, 32)
    return np.concatenate([ue, qs], axis=1)


_QUANT = {"tq1_0": _quantize_tq1_0, "tq2_0": _quantize_tq2_0, "mxfp4": _quantize_mxfp4, "nvfp4": _quantize_nvfp4}


def quantize(kind, x):
    """uint8 blocks of ``kind`` for float32 ``x`` (last dimension a multiple of the block size; the
    result's last dimension holds the row's blocks), as ggml's quantize_row_<kind>_ref."""
    b, shape = _as_blocks(x, kind)
    n, size = lut.BLOCKS[kind]
    return _QUANT[kind](b).reshape(*shape[:-1], shape[-1] // n * size)


def _split(kind, data):
    if kind not in FAST_DEQUANTIZE:
        raise UnknownNameError("GGUF table type with a fast dequantize", kind, FAST_DEQUANTIZE)
    raw = np.ascontiguousarray(np.asarray(data, dtype=np.uint8)).ravel()
    size = lut.BLOCKS[kind][1]
    if raw.size % size:
        raise ShapeError(f"a {kind} row is a multiple of {size} bytes; got {raw.size}")
    return raw.reshape(-1, size)


def _fp16(blk, off):
    return blk[:, off:off + 2].copy().view("<f2").astype(F32).ravel()


def _tq1_codes(blk):
    idx, _ = _tq1_tables()
    q = np.zeros((blk.shape[0], 257), np.int64)
    for n in range(5):
        t = (((blk[:, :52].astype(np.int64) * 3 ** n) & 0xFF) * 3) >> 8
        q[:, idx[:, n]] = t
    return q[:, :256] - 1


def _codes(kind, blk):
    """(values, scale per element) before the final multiply, float32."""
    if kind == "tq1_0":
        return _tq1_codes(blk).astype(F32), np.repeat(_fp16(blk, 52), 256).reshape(-1, 256)
    if kind == "tq2_0":
        q = (blk[:, :64].reshape(-1, 2, 1, 32) >> (2 * np.arange(4)).astype(np.uint8)[None, None, :, None]) & 3
        return (q.reshape(-1, 256).astype(np.int64) - 1).astype(F32), np.repeat(_fp16(blk, 64), 256).reshape(-1, 256)
    if kind == "nvfp4":
        qs = blk[:, 4:].reshape(-1, 4, 8)
        v = _KV_MX[np.concatenate([qs & 0x0F, qs >> 4], axis=2)].reshape(-1, 64)
        return v, np.repeat(_ue4m3_table()[blk[:, :4]], 16, axis=1)
    if kind == "mxfp4":
        qs = blk[:, 1:]
        v = _KV_MX[np.concatenate([qs & 0x0F, qs >> 4], axis=1)]
        return v, np.repeat(_e8m0_half(blk[:, 0]), 32).reshape(-1, 32)
    if kind == "iq4_nl":
        qs = blk[:, 2:]
        return _KV_NL[np.concatenate([qs & 0x0F, qs >> 4], axis=1)], np.repeat(_fp16(blk, 0), 32).reshape(-1, 32)
    qs = blk[:, 8:].reshape(-1, 8, 16)                                      # iq4_xs
    v = _KV_NL[np.concatenate([qs & 0x0F, qs >> 4], axis=2)].reshape(-1, 256)
    ib = np.arange(8)
    lo = (blk[:, 4 + ib // 2] >> (4 * (ib % 2)).astype(np.uint8)) & 0x0F
    hi = (blk[:, 2:4].copy().view("<u2") >> (2 * ib).astype(np.uint16)) & 3
    ls = (lo.astype(np.int64) | (hi.astype(np.int64) << 4)) - 32
    dl = (_fp16(blk, 0)[:, None] * ls.astype(F32)).astype(F32)
    return v, np.repeat(dl, 32, axis=1)


def dequantize(kind, data):
    """float32 elements of a row of ``kind`` blocks, as ggml's dequantize_row_<kind>."""
    blk = _split(kind, data)
    v, s = _codes(kind, blk)
    with np.errstate(over="ignore", invalid="ignore"):
        return (v * s).astype(F32).ravel()
