"""GGUF k-quants (256-element super-blocks): layouts, dequantization and the dot products with Q8_K.

Sources (read, not copied): ggml ``ggml-common.h`` (block_q2_K .. block_q8_K), ``ggml-quants.c``
(``dequantize_row_q{2,3,4,5,6,8}_K``, ``get_scale_min_k4``) and ``ggml-cpu/quants.c``
(``ggml_vec_dot_q{2,3,4,5,6}_K_q8_K_generic``), ggml 2025; gguf-py 0.19.0 ``gguf/quants.py``.
The helpers (binary32 operations, fp16 fields) are those of ``refquant.gguf``; the reference
quantizers of Q2_K..Q6_K (the iterative ``make_qkx2_quants`` search) are not modelled yet.
"""

from . import formats as _f
from .gguf import QK_K, add, c_float, div, fp16_bits, fp16_value, mul, nearest_int, sub


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _i8(v):
    return v - 256 if v > 127 else v


def scale_min_k4(j, s):
    """get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes ``s``."""
    # Reproduces: ggml-quants.c get_scale_min_k4 (ggml 2025)
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


def _q2_k(b):
    qs = b[16:80]
    q = [(qs[32 * (e // 128) + e % 32] >> (2 * ((e % 128) // 32))) & 3 for e in range(QK_K)]
    return {"q": q, "group": 16, "sc": [c & 0x0F for c in b[:16]], "mins": [c >> 4 for c in b[:16]],
            "d": _u16(b, 80), "dmin": _u16(b, 82)}


def _q3_scales(s):
    """The 16 6-bit scales of Q3_K (low nibbles in bytes 0..7, high 2-bit pairs in bytes 8..11), minus 32."""
    low = [s[j] & 0x0F if j < 8 else s[j - 8] >> 4 for j in range(16)]
    high = [(s[8 + j % 4] >> (2 * (j // 4))) & 3 for j in range(16)]
    return [(lo | (hi << 4)) - 32 for lo, hi in zip(low, high)]


def _q3_k(b):
    hm, qs = b[0:32], b[32:96]
    q = []
    for e in range(QK_K):
        n, j, l = e // 128, (e % 128) // 32, e % 32
        low = (qs[32 * n + l] >> (2 * j)) & 3
        q.append(low - (0 if hm[l] & (1 << (4 * n + j)) else 4))
    return {"q": q, "group": 16, "sc": _q3_scales(b[96:108]), "mins": None, "d": _u16(b, 108), "dmin": None}


def _q45_k(b, high):
    s, qs = b[4:16], b[48:176] if high else b[16:144]
    q = []
    for e in range(QK_K):
        j, half, l = e // 64, (e % 64) // 32, e % 32
        c = (qs[32 * j + l] >> (4 * half)) & 0x0F
        if high:
            c += 16 * ((b[16 + l] >> (2 * j + half)) & 1)
        q.append(c)
    pairs = [scale_min_k4(j, s) for j in range(8)]
    return {"q": q, "group": 32, "sc": [p[0] for p in pairs], "mins": [p[1] for p in pairs],
            "d": _u16(b, 0), "dmin": _u16(b, 2)}


def _q6_k(b):
    ql, qh = b[0:128], b[128:192]
    q = []
    for e in range(QK_K):
        n, k, l = e // 128, (e % 128) // 32, e % 32
        low = (ql[64 * n + 32 * (k % 2) + l] >> (4 * (k // 2))) & 0x0F
        q.append((low | (((qh[32 * n + l] >> (2 * k)) & 3) << 4)) - 32)
    return {"q": q, "group": 16, "sc": [_i8(c) for c in b[192:208]], "mins": None, "d": _u16(b, 208), "dmin": None}


def _q8_k(b):
    return {"q": [_i8(c) for c in b[4:260]], "d32": int.from_bytes(b[0:4], "little"),
            "bsums": [int.from_bytes(b[260 + 2 * j:262 + 2 * j], "little", signed=True) for j in range(16)]}


# ---------------------------------------------------------------------------------------------
# Q6_K reference quantizer (make_qx_quants with rmse_type 1, then the 8-bit scales)
# ---------------------------------------------------------------------------------------------

GROUP_MAX_EPS = _f.decode("fp32", _f.encode("fp32", _f.real("1e-15")))   # 1e-15f


def _abs(v):
    return _f.Real(v.kind, 0, v.mag)


def _clamp_l(l, nmax):
    return max(-nmax, min(nmax - 1, l))


def _weighted_sums(xs, wx, ww, iscale, nmax):
    """(codes l, sumlx, suml2): l = clamp(nearest_int(iscale*x)); sumlx += w*x*l; suml2 += w*l*l."""
    ls, sumlx, suml2 = [], _f.decode("fp32", 0), _f.decode("fp32", 0)
    for x, a, w in zip(xs, wx, ww):
        l = _clamp_l(nearest_int(mul(iscale, x)), nmax)
        ls.append(l)
        sumlx = add(sumlx, mul(a, c_float(l)))
        suml2 = add(suml2, mul(mul(w, c_float(l)), c_float(l)))
    return ls, sumlx, suml2


def make_qx_quants_rmse1(xs, nmax):
    """(scale, codes L = l + nmax) of ggml's make_qx_quants(n, nmax, x, L, rmse_type=1, NULL): the
    weighted (w = x²) least-squares scale over 19 trial inverse scales -(nmax + 0.1f·is)/max.

    Reproduces: ggml-quants.c make_qx_quants (ggml 2025), binary32 operations in source order.
    """
    amax, mx = _f.decode("fp32", 0), _f.decode("fp32", 0)
    for x in xs:
        if amax.value < _abs(x).value:
            amax, mx = _abs(x), x
    if amax.value < GROUP_MAX_EPS.value:
        return _f.decode("fp32", 0), [0] * len(xs)
    ww = [mul(x, x) for x in xs]
    wx = [mul(w, x) for w, x in zip(ww, xs)]
    iscale = div(-nmax, mx)
    ls, sumlx, suml2 = _weighted_sums(xs, wx, ww, iscale, nmax)
    scale = div(sumlx, suml2) if not suml2.is_zero else _f.decode("fp32", 0)
    best, tenth = mul(scale, sumlx), _f.decode("fp32", _f.encode("fp32", _f.real("0.1")))
    for trial in [i for i in range(-9, 10) if i]:
        iscale = div(_neg(add(c_float(nmax), mul(tenth, c_float(trial)))), mx)
        tl, slx, sl2 = _weighted_sums(xs, wx, ww, iscale, nmax)
        if sl2.value > 0 and mul(slx, slx).value > mul(best, sl2).value:
            ls, scale = tl, div(slx, sl2)
            best = mul(scale, slx)
    return scale, [l + nmax for l in ls]


def _neg(v):
    return _f.Real(v.kind, 1 - v.sign, v.mag)


def _pack_q6(codes):
    """ql (128 bytes) and qh (64 bytes) of 256 six-bit codes, as quantize_row_q6_K_ref packs them."""
    ql, qh = bytearray(128), bytearray(64)
    for n in range(2):
        L = codes[128 * n:128 * (n + 1)]
        for l in range(32):
            ql[64 * n + l] = (L[l] & 0xF) | ((L[l + 64] & 0xF) << 4)
            ql[64 * n + 32 + l] = (L[l + 32] & 0xF) | ((L[l + 96] & 0xF) << 4)
            qh[32 * n + l] = (L[l] >> 4) | ((L[l + 32] >> 4) << 2) | ((L[l + 64] >> 4) << 4) | ((L[l + 96] >> 4) << 6)
    return bytes(ql) + bytes(qh)


def quantize_q6_k(xs):
    """One Q6_K block (210 bytes) of 256 binary32 values.

    Reproduces: ggml-quants.c quantize_row_q6_K_ref (ggml 2025).
    """
    scales, codes = [], []
    for ib in range(16):
        sc, L = make_qx_quants_rmse1(xs[16 * ib:16 * ib + 16], 32)
        scales.append(sc)
        codes += L
    max_abs, max_scale = _f.decode("fp32", 0), _f.decode("fp32", 0)
    for sc in scales:
        if _abs(sc).value > max_abs.value:
            max_abs, max_scale = _abs(sc), sc
    if max_abs.value < GROUP_MAX_EPS.value:
        return bytes(210)
    iscale = div(-128, max_scale)
    dbits = fp16_bits(div(1, iscale))
    q8 = [min(127, nearest_int(mul(iscale, sc))) for sc in scales]
    for j in range(16):
        d = mul(fp16_value(dbits), c_float(q8[j]))
        if d.is_zero:
            continue
        for ii in range(16):
            codes[16 * j + ii] = max(-32, min(31, nearest_int(div(xs[16 * j + ii], d)))) + 32
    return _pack_q6(codes) + bytes(v & 0xFF for v in q8) + dbits.to_bytes(2, "little")


KCODES = {"q2_K": _q2_k, "q3_K": _q3_k, "q4_K": lambda b: _q45_k(b, False), "q5_K": lambda b: _q45_k(b, True),
          "q6_K": _q6_k, "q8_K": _q8_k}


def dequantize_k(kind, b):
    """binary32 bits of a K block: fl(fl(d*sc)*q), minus fl(dmin*m) where the type has mins.

    Reproduces: ggml-quants.c dequantize_row_q{2,3,4,5,6,8}_K (ggml 2025); no FP contraction.
    """
    u = KCODES[kind](b)
    if kind == "q8_K":
        d = _f.decode("fp32", u["d32"])
        return [_f.mul("fp32", d, q) for q in u["q"]]
    d = fp16_value(u["d"])
    dmin = fp16_value(u["dmin"]) if u["mins"] is not None else None
    out = []
    for e, q in enumerate(u["q"]):
        g = e // u["group"]
        v = mul(mul(d, c_float(u["sc"][g])), c_float(q))
        if dmin is not None:
            v = sub(v, mul(dmin, c_float(u["mins"][g])))
        out.append(_f.encode("fp32", v))
    return out


KDEQUANT = {k: (lambda b, k=k: dequantize_k(k, b)) for k in KCODES}


def _lanes(u, y):
    """The eight int32 lane sums aux32[l] = sum over e = l mod 8 of scale(e) * q8[e] * a[e]."""
    aux = [0] * 8
    for e in range(QK_K):
        aux[e % 8] += u["sc"][e // u["group"]] * y["q"][e] * u["q"][e]
    return aux


def _dot_lanes(kind, blocks, acc):
    """Q3_K..Q6_K with Q8_K: per-lane float sums across super-blocks, the mins subtracted from sumf.

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_q{3,4,5,6}_K_q8_K_generic (ggml 2025).
    """
    sums, sumf = [acc.num(0)] * 8, acc.num(0)
    for xb, yb in blocks:
        u, y = KCODES[kind](xb), _q8_k(yb)
        yd = _f.decode("fp32", y["d32"])
        d = acc.mul(fp16_value(u["d"]), yd)
        for lane, a32 in enumerate(_lanes(u, y)):
            sums[lane] = acc.add(sums[lane], acc.mul(d, acc.num(a32)))
        if u["mins"] is not None:
            sumi = sum(y["bsums"][j] * u["mins"][j // 2] for j in range(16))
            dmin = acc.mul(fp16_value(u["dmin"]), yd)
            sumf = acc.sub(sumf, acc.mul(dmin, acc.num(sumi)))
    for s in sums:
        sumf = acc.add(sumf, s)
    return acc.result(sumf)


def _dot_q2_k(blocks, acc):
    """Q2_K with Q8_K: sumf += dall*isum - dmin*summs per super-block.

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_q2_K_q8_K_generic (ggml 2025).
    """
    sumf = acc.num(0)
    for xb, yb in blocks:
        u, y = _q2_k(xb), _q8_k(yb)
        yd = _f.decode("fp32", y["d32"])
        summs = sum(y["bsums"][j] * u["mins"][j] for j in range(16))
        isum = sum(u["sc"][e // 16] * y["q"][e] * u["q"][e] for e in range(QK_K))
        dall, dmin = acc.mul(yd, fp16_value(u["d"])), acc.mul(yd, fp16_value(u["dmin"]))
        sumf = acc.add(sumf, acc.sub(acc.mul(dall, acc.num(isum)), acc.mul(dmin, acc.num(summs))))
    return acc.result(sumf)


KDOTS = {"q2_K": _dot_q2_k, **{k: (lambda blocks, acc, k=k: _dot_lanes(k, blocks, acc))
                                for k in ("q3_K", "q4_K", "q5_K", "q6_K")}}

