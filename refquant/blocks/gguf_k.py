"""numpy fast form of ``refquant.gguf_k``: the ggml reference quantizers of the k-quants (Q2_K, Q3_K,
Q4_K, Q5_K, Q6_K; Q8_K from ``refquant.blocks.gguf``) and their dequantization, over whole tensors,
equal to the definition byte for byte and bit for bit (tests/test_gguf_k_fast.py).

Every binary32 operation of the definition is one numpy float32 operation here, in the same order
(numpy rounds each once, RNE, and never contracts a multiply and an add): sums that the C source
runs element by element stay element by element (a loop over the positions of a sub-block, each
step vectorised across all sub-blocks of the tensor; never numpy's pairwise ``sum``).  The searches
(make_qx_quants, make_qkx2_quants, make_q3_quants) run their loops over candidate scales the same
way, each sub-block keeping its own state.  ``sqrtf`` is ``np.sqrt`` on float32 (IEEE, correctly
rounded); ``nearest_int`` is ``np.rint`` (equal for |v| <= 4194303; beyond, the definition's
``Unpredictable`` is raised here too, for the whole call, wherever the definition computes it).
Inputs whose binary32 intermediates in a search overflow raise ``InvalidValueError``, as the
definition does (its values have no inf): make_q3_quants' comparison (slx²)·suml2, of order x^8 (Q3_K: random blocks at 1e4 pass, at 3e4
both refuse), slx² in make_qx_quants (Q6_K, at 1e6), the weighted squared errors of Q2_K / Q4_K /
Q5_K (at 1e12).  A scale whose fp16 overflows to inf (Q2_K from 1e6, Q4_K / Q5_K from 1e8) reaches
nearest_int as inf or NaN: ``Unpredictable`` in both.
Each step is computed only in the lanes where the definition computes it (the others carry zeros),
so a lane the definition skips cannot overflow here.
Arrays are held position-major, (positions, sub-blocks), so each step is a contiguous vector.
Reproduces: ggml-quants.c quantize_row_q{2,3,4,5,6}_K_ref, make_qx_quants, make_qkx2_quants,
make_q3_quants and dequantize_row_q{2,3,4,5,6,8}_K (ggml 2025), as refquant/gguf_k.py models them.
"""

import numpy as np

from .. import formats as _f
from .. import gguf_k as _k
from ..errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable
from ..gguf import BLOCKS
from . import gguf as _fast_legacy
from .gguf import as_blocks

F32 = np.float32
FAST_QUANTIZE = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K")
FAST_DEQUANTIZE = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K")
CHUNK = 4096        # super-blocks per pass (1 Mi elements): bounds the working memory


def _bits32(v):
    return np.array([_f.encode("fp32", v)], np.uint32).view(F32)[0]


EPS = _bits32(_k.GROUP_MAX_EPS)                 # 1e-15f
TENTH = _bits32(_f.real("0.1"))                 # 0.1f


def _nint(v, live):
    """ggml nearest_int of float32 v where ``live`` (the definition computes it there), else 0: an
    integer held as float32 (exact below 2^24; +0 for zero, as the C int converts)."""
    ok = np.abs(v) <= F32(4194303)
    if (live & ~ok).any():
        raise Unpredictable("nearest_int: ggml asserts |v| <= 4194303")
    return np.rint(np.where(ok & live, v, F32(0))) + F32(0)


def _int(v):
    return v.astype(np.int64)


def _zero(v, ok):
    """v where ok, else +0: lanes where the definition computes nothing carry no value (and no overflow)."""
    return np.where(ok, v, F32(0))


def _safe(v, ok):
    """v where ok, else 1 (a harmless divisor for lanes whose result the definition never computes)."""
    return np.where(ok, v, F32(1))


def _fp16(v):
    """GGML_FP32_TO_FP16 (RNE, overflow to inf) of float32 v, and its value back as float32."""
    with np.errstate(over="ignore"):
        h = v.astype("<f2")
    return h, h.astype(F32)


def _signed_absmax(X):
    """(amax, max): the first position of largest |x| per column (ggml's strict < from 0)."""
    ax = np.abs(X)
    i = np.argmax(ax, axis=0)
    cols = np.arange(X.shape[1])
    return ax[i, cols], X[i, cols]


# ---------------------------------------------------------------------------------------------
# make_qx_quants (rmse_type 1) and make_q3_quants: x²-weighted symmetric searches
# ---------------------------------------------------------------------------------------------

def _wsums(X, WX, W, iscale, nmax, live):
    """codes l = clamp(nearest_int(iscale*x)); sumlx = Σ wx*l, suml2 = Σ (w*l)*l, in position order."""
    L = np.clip(_nint(iscale[None, :] * X, live[None, :]), -nmax, nmax - 1)
    a, b = WX * L, (W * L) * L
    slx = sl2 = F32(0)
    for r in range(X.shape[0]):
        slx, sl2 = slx + a[r], sl2 + b[r]
    return L, slx, sl2


def _qx_rmse1(X, nmax):
    """(scale, codes l + nmax) of make_qx_quants(n, nmax, x, L, rmse_type 1, NULL) per column."""
    amax, mx = _signed_absmax(X)
    live = ~(amax < EPS)
    mxs = _safe(mx, live)
    W = X * X
    WX = W * X
    L, slx, sl2 = _wsums(X, WX, W, F32(-nmax) / mxs, nmax, live)
    scale = np.where(sl2 != 0, slx / _safe(sl2, sl2 != 0), F32(0))
    best = scale * slx
    for trial in [i for i in range(-9, 10) if i]:
        iscale = -(F32(nmax) + TENTH * F32(trial)) / mxs
        tl, tx, t2 = _wsums(X, WX, W, iscale, nmax, live)
        take = (t2 > 0) & (tx * tx > best * t2)
        L = np.where(take[None, :], tl, L)
        scale = np.where(take, tx / _safe(t2, take), scale)
        best = np.where(take, scale * tx, best)
    return np.where(live, scale, F32(0)), np.where(live[None, :], L + nmax, 0)


def _q3_pass(X, W, WX, state, live):
    """One pass of make_q3_quants' coordinate search over positions 0..n-1: (any code moved, state)."""
    L, slx, sl2 = state
    moved = False
    for i in range(X.shape[0]):
        li = L[i]
        s1 = slx - WX[i] * li
        ok = live & (s1 > 0)              # lanes where the definition goes on: the others see zeros
        s1, s2 = _zero(s1, ok), _zero(sl2 - (W[i] * li) * li, ok)
        new = np.clip(_nint((_zero(X[i], ok) * s2) / _safe(s1, ok), ok), -4, 3)
        ok &= new != L[i]
        nf = _zero(new, ok)
        s1 = _zero(s1 + WX[i] * nf, ok)
        s2 = _zero(s2 + (W[i] * nf) * nf, ok)
        ok &= s2 > 0
        take = ok & ((s1 * s1) * _zero(sl2, ok) > (_zero(slx, ok) * _zero(slx, ok)) * s2)
        L[i] = np.where(take, new, L[i])
        slx, sl2 = np.where(take, s1, slx), np.where(take, s2, sl2)
        moved = moved or bool(take.any())
    return moved, (L, slx, sl2)


def _q3_quants(X):
    """(scale, codes l + 4) of make_q3_quants(n, 4, x, L, do_rmse=true) per column.

    A pass that moves no code leaves the state as it was, so a further pass moves none either: a
    column whose pass moved nothing is unchanged by the passes the others still run (the definition's
    early ``break`` in effect); the passes stop when no column moved."""
    amax, mx = _signed_absmax(X)
    live = ~(amax < EPS)
    W = X * X
    WX = W * X
    state = _wsums(X, WX, W, F32(-4) / _safe(mx, live), 4, live)
    for _ in range(5):
        moved, state = _q3_pass(X, W, WX, state, live)
        if not moved:
            break
    L, slx, sl2 = state
    scale = np.where(sl2 > 0, slx / _safe(sl2, sl2 > 0), F32(0))
    return np.where(live, scale, F32(0)), np.where(live[None, :], L + 4, 0)


# ---------------------------------------------------------------------------------------------
# make_qkx2_quants: weighted least-squares scale and min
# ---------------------------------------------------------------------------------------------

def _qkx2_codes(X, iscale, mn, nmax, live):
    return np.clip(_nint(iscale[None, :] * (X - mn[None, :]), live[None, :]), 0, nmax)


def _qkx2_errors(X, W, L, scale, mn, mad, live):
    """Σ w·(scale·l + min − x)² (use_mad: Σ w·|...|) in position order, from +0 (0 off ``live``)."""
    diff = _zero((scale[None, :] * L + mn[None, :]) - X, live[None, :])
    t = W * (np.abs(diff) if mad else diff * diff)
    err = F32(0)
    for r in range(X.shape[0]):
        err = err + t[r]
    return err


def _qkx2_trial(X, W, L, sum_w, sum_x):
    """(ok, scale, min) of one trial's codes: the 2x2 least squares where D > 0."""
    sl = sl2 = sxl = F32(0)
    for r in range(X.shape[0]):
        wl = W[r] * L[r]
        sl, sl2, sxl = sl + wl, sl2 + wl * L[r], sxl + wl * X[r]
    D = sum_w * sl2 - sl * sl
    ok = D > 0
    sum_w, sum_x, sl, sl2, sxl = (_zero(v, ok) for v in (sum_w, sum_x, sl, sl2, sxl))
    Ds = _safe(D, ok)
    scale = (sum_w * sxl - sum_x * sl) / Ds
    mn = (sl2 * sum_x - sl * sxl) / Ds
    pos = ok & (mn > 0)
    scale = np.where(pos, sxl / _safe(sl2, pos), scale)
    return ok, scale, np.where(pos, F32(0), mn)


def _qkx2(X, W, nmax, rmin, nstep, mad):
    """(scale, the_min = −min, codes) of make_qkx2_quants(n, nmax, x, weights, rmin, 0.1f, nstep, use_mad)."""
    cols = np.arange(X.shape[1])
    mn, mx = X[np.argmin(X, axis=0), cols], X[np.argmax(X, axis=0), cols]
    sum_w, sum_x = W[0], W[0] * X[0]
    for r in range(1, X.shape[0]):
        sum_w, sum_x = sum_w + W[r], sum_x + W[r] * X[r]
    mn = np.where(mn > 0, F32(0), mn)
    live = ~(mx == mn)
    iscale = F32(nmax) / _safe(mx - mn, live)
    scale = F32(1) / iscale
    L = _qkx2_codes(X, iscale, mn, nmax, live)
    best = _qkx2_errors(X, W, L, scale, mn, mad, live)
    for step in range(nstep + 1):       # the min is the best so far, as in ggml
        iscale = ((rmin + TENTH * F32(step)) + F32(nmax)) / _safe(mx - mn, live)
        aux = _qkx2_codes(X, iscale, mn, nmax, live)
        ok, t_scale, t_min = _qkx2_trial(X, W, aux, sum_w, sum_x)
        ok &= live
        cur = _qkx2_errors(X, W, aux, t_scale, t_min, mad, ok)
        take = ok & (cur < best)
        L = np.where(take[None, :], aux, L)
        best, scale, mn = np.where(take, cur, best), np.where(take, t_scale, scale), np.where(take, t_min, mn)
    return np.where(live, scale, F32(0)), -mn, np.where(live[None, :], L, 0)


# ---------------------------------------------------------------------------------------------
# The quantizers: one chunk of super-blocks B (S, 256) float32 -> uint8 blocks (S, size)
# ---------------------------------------------------------------------------------------------

def _search(fn, *args):
    """A sub-block search, refused (InvalidValueError) where a binary32 intermediate overflows or is NaN."""
    try:
        with np.errstate(divide="ignore", over="raise", invalid="raise", under="ignore"):
            return fn(*args)
    except FloatingPointError as exc:
        raise InvalidValueError(f"GGUF K-quant search: a binary32 intermediate overflows or is NaN ({exc}); the "
                                "model covers finite intermediates only (the definition refuses these inputs too)") from None


def _groups(B, n):
    """(n, S*256/n) position-major sub-blocks of n elements (column s*256/n + j: sub-block j of s)."""
    return np.ascontiguousarray(B.reshape(-1, n).T)


def _ungroup(C, S):
    """Codes (n, S*256/n) back to (S, 256)."""
    return C.T.reshape(S, 256)


def _le(h):
    return h.view(np.uint8).reshape(-1, 2)


def _pack2(c):
    """Q2_K / Q3_K qs: byte 32h + l holds elements 128h + l + 32k at bits 2k."""
    c = c.reshape(-1, 2, 4, 32)
    return (c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)).reshape(-1, 64).astype(np.uint8)


def _quantize_q6_k(B):
    S = B.shape[0]
    sc, L = _search(_qx_rmse1, _groups(B, 16), 32)
    sc, codes = sc.reshape(S, 16), _ungroup(L, S)
    max_abs, max_scale = _signed_absmax(sc.T)
    live = ~(max_abs < EPS)
    iscale = F32(-128) / _safe(max_scale, live)
    dh, dv = _fp16(F32(1) / iscale)
    q8 = np.minimum(127, _nint(iscale[:, None] * sc, live[:, None]))
    d = dv[:, None] * q8
    ok = live[:, None] & (d != 0)
    new = np.clip(_nint(B.reshape(S, 16, 16) / _safe(d, ok)[:, :, None], ok[:, :, None]), -32, 31) + 32
    codes = _int(np.where(ok[:, :, None], new, codes.reshape(S, 16, 16))).reshape(S, 2, 4, 32)
    ql = np.stack([(codes[:, :, 0] & 15) | ((codes[:, :, 2] & 15) << 4),
                   (codes[:, :, 1] & 15) | ((codes[:, :, 3] & 15) << 4)], axis=2).reshape(S, 128)
    qh = ((codes >> 4) << (2 * np.arange(4))[None, None, :, None]).sum(axis=2).reshape(S, 64)
    out = np.concatenate([ql.astype(np.uint8), qh.astype(np.uint8), _int(q8).astype(np.int8).view(np.uint8), _le(dh)], axis=1)
    out[~live] = 0
    return out


def _positive_max(v):
    """ggml's ``if (v > max) max = v`` from max = 0: the largest value if positive, else +0."""
    m = v.max(axis=1)
    return np.where(m > 0, m, F32(0))


def _k45_search(B, nmax, rmin, nstep):
    X = _groups(B, 32)
    sum_x2 = F32(0)
    for r in range(32):
        sum_x2 = sum_x2 + X[r] * X[r]
    av_x = np.sqrt(sum_x2 / F32(32))
    return _qkx2(X, av_x[None, :] + np.abs(X), nmax, rmin, nstep, False)


def _pack_k4_scales(ls, lm):
    s0 = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    s1 = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    s2 = (ls[:, 4:] & 15) | ((lm[:, 4:] & 15) << 4)
    return np.concatenate([s0, s1, s2], axis=1).astype(np.uint8)


def _quantize_k45(B, nmax, rmin, nstep):
    """(d fp16, dmin fp16, 12 scale bytes, codes (S, 256)) of quantize_row_q{4,5}_K_ref."""
    S = B.shape[0]
    sc, mn, L = _search(_k45_search, B, nmax, rmin, nstep)
    sc, mn, codes = sc.reshape(S, 8), mn.reshape(S, 8), _ungroup(L, S)
    max_scale, max_min = _positive_max(sc), _positive_max(mn)
    inv_s = np.where(max_scale > 0, F32(63) / _safe(max_scale, max_scale > 0), F32(0))
    inv_m = np.where(max_min > 0, F32(63) / _safe(max_min, max_min > 0), F32(0))
    every = np.ones(sc.shape, bool)
    ls = np.minimum(63, _int(_nint(inv_s[:, None] * sc, every)) & 0xFF)
    lm = np.minimum(63, _int(_nint(inv_m[:, None] * mn, every)) & 0xFF)
    dh, dv = _fp16(max_scale / F32(63))
    mh, mv = _fp16(max_min / F32(63))
    d = dv[:, None] * ls.astype(F32)
    dm = mv[:, None] * lm.astype(F32)
    ok = d != 0
    t = (B.reshape(S, 8, 32) + dm[:, :, None]) / _safe(d, ok)[:, :, None]
    new = np.clip(_nint(t, ok[:, :, None]), 0, nmax)
    codes = _int(np.where(ok[:, :, None], new, codes.reshape(S, 8, 32))).reshape(S, 256)
    return dh, mh, _pack_k4_scales(ls, lm), codes


def _quantize_q4_k(B):
    dh, mh, packed, codes = _quantize_k45(B, 15, F32(-1), 20)
    c = codes.reshape(-1, 4, 2, 32)
    qs = (c[:, :, 0] | (c[:, :, 1] << 4)).reshape(-1, 128).astype(np.uint8)
    return np.concatenate([_le(dh), _le(mh), packed, qs], axis=1)


def _quantize_q5_k(B):
    dh, mh, packed, codes = _quantize_k45(B, 31, F32(-0.5), 15)
    c = codes.reshape(-1, 4, 2, 32)
    ql = ((c[:, :, 0] & 15) | ((c[:, :, 1] & 15) << 4)).reshape(-1, 128).astype(np.uint8)
    shift = 2 * np.arange(4)[None, :, None]
    qh = (((c[:, :, 0] >> 4) << shift) | ((c[:, :, 1] >> 4) << (shift + 1))).sum(axis=1).astype(np.uint8)
    return np.concatenate([_le(dh), _le(mh), packed, qh, ql], axis=1)


def _quantize_q2_k(B):
    S = B.shape[0]
    X = _groups(B, 16)
    sc, mn, L = _search(_qkx2, X, np.abs(X), 3, F32(-0.5), 15, True)
    sc, mn, codes = sc.reshape(S, 16), mn.reshape(S, 16), _ungroup(L, S)
    max_scale, max_min = _positive_max(sc), _positive_max(mn)
    has_s, has_m = max_scale > 0, max_min > 0
    inv_s = F32(15) / _safe(max_scale, has_s)
    inv_m = F32(15) / _safe(max_min, has_m)
    packed = np.where(has_s[:, None], _int(_nint(inv_s[:, None] * sc, has_s[:, None])) & 0xFF, 0)
    with_m = (packed | (_int(_nint(inv_m[:, None] * mn, has_m[:, None])) << 4)) & 0xFF
    packed = np.where(has_m[:, None], with_m, packed)
    dh, dv = _fp16(np.where(has_s, max_scale / F32(15), F32(0)))
    mh, mv = _fp16(np.where(has_m, max_min / F32(15), F32(0)))
    d = dv[:, None] * (packed & 15).astype(F32)
    dm = mv[:, None] * (packed >> 4).astype(F32)
    ok = d != 0
    t = (B.reshape(S, 16, 16) + dm[:, :, None]) / _safe(d, ok)[:, :, None]
    new = np.clip(_nint(t, ok[:, :, None]), 0, 3)
    codes = _int(np.where(ok[:, :, None], new, codes.reshape(S, 16, 16))).reshape(S, 256)
    return np.concatenate([packed.astype(np.uint8), _pack2(codes), _le(dh), _le(mh)], axis=1)


def _q3_scale_bytes(sc):
    """(12 scale bytes, the sixteen 6-bit scales l − 32, d fp16 and its value) of quantize_row_q3_K_ref."""
    _, max_scale = _signed_absmax(sc.T)
    live = max_scale != 0
    iscale = F32(-32) / _safe(max_scale, live)
    q = _int(_nint(iscale[:, None] * sc, live[:, None])) & 0xFF
    l = np.where(live[:, None], np.clip((q ^ 0x80) - 0x80, -32, 31) + 32, 0)
    hi = (l >> 4).reshape(-1, 4, 4) << (2 * np.arange(4))[None, :, None]
    sb = np.concatenate([(l[:, :8] & 15) | ((l[:, 8:] & 15) << 4), hi.sum(axis=1)], axis=1).astype(np.uint8)
    dh, dv = _fp16(np.where(live, F32(1) / iscale, F32(0)))
    return sb, l - 32, dh, dv


def _quantize_q3_k(B):
    S = B.shape[0]
    sc, L = _search(_q3_quants, _groups(B, 16))
    sc, codes = sc.reshape(S, 16), _ungroup(L, S)
    sb, s6, dh, dv = _q3_scale_bytes(sc)
    d = dv[:, None] * s6.astype(F32)
    ok = d != 0
    new = np.clip(_nint(B.reshape(S, 16, 16) / _safe(d, ok)[:, :, None], ok[:, :, None]), -4, 3) + 4
    codes = _int(np.where(ok[:, :, None], new, codes.reshape(S, 16, 16))).reshape(S, 256)
    high = codes > 3
    hmask = (high.reshape(S, 8, 32).astype(np.int64) << np.arange(8)[None, :, None]).sum(axis=1).astype(np.uint8)
    return np.concatenate([hmask, _pack2(np.where(high, codes - 4, codes)), sb, _le(dh)], axis=1)


_QUANT = {"q2_K": _quantize_q2_k, "q3_K": _quantize_q3_k, "q4_K": _quantize_q4_k, "q5_K": _quantize_q5_k,
          "q6_K": _quantize_q6_k}


def quantize(kind, x):
    """uint8 blocks of ``kind`` (a K type) for float32 ``x`` (last dimension a multiple of 256).

    Reproduces: ggml-quants.c quantize_row_q{2,3,4,5,6,8}_K_ref (ggml 2025), as refquant.gguf_k models them.
    """
    if kind == "q8_K":
        return _fast_legacy.quantize(kind, x)
    b, shape = as_blocks(x, kind, FAST_QUANTIZE, what="GGUF K type with a fast quantizer")
    size = BLOCKS[kind][1]
    out = np.empty((b.shape[0], size), np.uint8)
    with np.errstate(all="ignore"):     # an inf / NaN scale reaches nearest_int: Unpredictable there
        for i in range(0, b.shape[0], CHUNK):
            out[i:i + CHUNK] = _QUANT[kind](b[i:i + CHUNK])
    return out.reshape(*shape[:-1], shape[-1] // 256 * size)


# ---------------------------------------------------------------------------------------------
# Dequantization: dequantize_row_q{2,3,4,5,6,8}_K
# ---------------------------------------------------------------------------------------------

def _f16_at(a, off):
    return a[:, off:off + 2].copy().view("<f2").astype(F32)[:, 0]


def _spread(qs, shifts, mask):
    """(S, m, len(shifts), k) bit fields: byte qs[:, i, l] shifted right by each shift."""
    return (qs[:, :, None, :] >> np.asarray(shifts, np.uint8)[None, None, :, None]) & mask


def _k4_scales(s):
    """get_scale_min_k4 of the 12 bytes s (S, 12): (scales, mins) (S, 8)."""
    lo_s, lo_m = s[:, 0:4] & 63, s[:, 4:8] & 63
    hi_s = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    hi_m = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return np.concatenate([lo_s, hi_s], axis=1), np.concatenate([lo_m, hi_m], axis=1)


def kcodes(kind, a):
    """(codes (S, 256) int64, scales (S, groups), mins or None, d (S,) float32, dmin or None) of blocks a."""
    S = a.shape[0]
    if kind == "q2_K":
        q = _spread(a[:, 16:80].reshape(S, 2, 32), (0, 2, 4, 6), 3)
        return q.reshape(S, 256), a[:, :16] & 15, a[:, :16] >> 4, _f16_at(a, 80), _f16_at(a, 82)
    if kind == "q3_K":
        low = _spread(a[:, 32:96].reshape(S, 2, 32), (0, 2, 4, 6), 3).astype(np.int64)
        hbit = _spread(a[:, None, 0:32], tuple(range(8)), 1).reshape(S, 2, 4, 32)
        s = a[:, 96:108].astype(np.int64)
        lo = np.concatenate([s[:, :8] & 15, s[:, :8] >> 4], axis=1)
        hi = (s[:, 8:12, None] >> (2 * np.arange(4))[None, None, :]) & 3
        scales = (lo | (hi.transpose(0, 2, 1).reshape(S, 16) << 4)) - 32
        return (low - 4 * (1 - hbit)).reshape(S, 256), scales, None, _f16_at(a, 108), None
    if kind in ("q4_K", "q5_K"):
        qs = a[:, 48:176] if kind == "q5_K" else a[:, 16:144]
        q = _spread(qs.reshape(S, 4, 32), (0, 4), 15).astype(np.int64)
        if kind == "q5_K":
            q = q + 16 * _spread(a[:, None, 16:48], tuple(range(8)), 1).reshape(S, 4, 2, 32)
        sc, mn = _k4_scales(a[:, 4:16].astype(np.int64))
        return q.reshape(S, 256), sc, mn, _f16_at(a, 0), _f16_at(a, 2)
    if kind == "q6_K":
        ql = _spread(a[:, 0:128].reshape(S, 2, 2, 32).reshape(S, 4, 32), (0, 4), 15).reshape(S, 2, 2, 2, 32)
        low = ql.transpose(0, 1, 3, 2, 4).reshape(S, 2, 4, 32).astype(np.int64)
        high = _spread(a[:, 128:192].reshape(S, 2, 32), (0, 2, 4, 6), 3).astype(np.int64)
        q = (low | (high << 4)) - 32
        return q.reshape(S, 256), a[:, 192:208].view(np.int8), None, _f16_at(a, 208), None
    return a[:, 4:260].view(np.int8), None, None, a[:, 0:4].copy().view("<f4")[:, 0], None


def dequantize(kind, data):
    """float32 elements of a row of ``kind`` blocks: fl(fl(d·sc)·q) − fl(dmin·m), Q8_K fl(d·q).

    Reproduces: ggml-quants.c dequantize_row_q{2,3,4,5,6,8}_K (ggml 2025), as refquant.gguf_k models them.
    """
    if kind not in FAST_DEQUANTIZE:
        raise UnknownNameError("GGUF K type with a fast dequantizer", kind, FAST_DEQUANTIZE)
    size = BLOCKS[kind][1]
    raw = np.ascontiguousarray(np.asarray(data, dtype=np.uint8)).ravel()
    if raw.size % size:
        raise ShapeError(f"a {kind} row is a multiple of {size} bytes; got {raw.size}")
    a = raw.reshape(-1, size)
    q, sc, mn, d, dmin = kcodes(kind, a)
    with np.errstate(over="ignore", invalid="ignore"):
        if sc is None:
            return (d[:, None] * q.astype(F32)).astype(F32).ravel()
        g = 256 // sc.shape[1]
        ds = np.repeat(d[:, None] * sc.astype(F32), g, axis=1)
        v = ds * q.astype(F32)
        if mn is not None:
            v = v - np.repeat(dmin[:, None] * mn.astype(F32), g, axis=1)
    return v.astype(F32).ravel()
