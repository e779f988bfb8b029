"""GGUF k-quants (256-element super-blocks): layouts, dequantization and the dot products with Q8_K.

Sources (read, not copied): ggml ``ggml-common.h`` (block_q2_K .. block_q8_K), ``ggml-quants.c``
(``dequantize_row_q{2,3,4,5,6,8}_K``, ``get_scale_min_k4``) and ``ggml-cpu/quants.c``
(``ggml_vec_dot_q{2,3,4,5,6}_K_q8_K_generic``), ggml 2025; gguf-py 0.19.0 ``gguf/quants.py``.
The helpers (binary32 operations, fp16 fields) are those of ``refquant.gguf``; the reference
quantizers of Q2_K..Q6_K (the iterative ``make_qkx2_quants`` search) are not modelled yet.
"""

import math
from fractions import Fraction

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


def q8_k_fields(block):
    """{q: the 256 int8 codes, d32: the binary32 bits of d, bsums: the 16 stored int16 sums} of a Q8_K block.

    Reproduces: ggml-common.h block_q8_K (ggml 2025).
    """
    return _q8_k(block)


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


# ---------------------------------------------------------------------------------------------
# Q4_K reference quantizer (make_qkx2_quants: scale and min by a weighted least-squares search)
# ---------------------------------------------------------------------------------------------

def sqrtf(v):
    """C sqrtf: the binary32 square root, correctly rounded (IEEE 754).

    The root of X = v·4^S (S chosen so it has >= 26 bits) is m = isqrt(X) exactly, or lies strictly
    inside (m, m+1), where no binary32 rounding boundary falls: m + 1/2 rounds the same.
    """
    if v.is_zero:
        return v
    n, d = v.value.numerator, v.value.denominator
    S = 27 - (n.bit_length() - d.bit_length()) // 2
    num, den = (n << (2 * S), d) if S >= 0 else (n, d << (-2 * S))
    X, rem = divmod(num, den)
    m = math.isqrt(X)
    root = Fraction(m) if rem == 0 and m * m == X else Fraction(2 * m + 1, 2)
    return _f.decode("fp32", _f.encode("fp32", root / Fraction(2) ** S))


def _qkx2_errors(xs, ws, L, scale, mn, mad=False):
    """Σ w·(scale·L + min - x)² (use_mad: Σ w·|...|) in binary32, in order."""
    err = _f.decode("fp32", 0)
    for x, w, l in zip(xs, ws, L):
        diff = sub(add(mul(scale, c_float(l)), mn), x)
        err = add(err, mul(w, _abs(diff) if mad else mul(diff, diff)))
    return err


def _qkx2_codes(xs, iscale, mn, nmax):
    return [max(0, min(nmax, nearest_int(mul(iscale, sub(x, mn))))) for x in xs]


def _qkx2_trial(xs, ws, L, sums):
    """(scale, min) of one trial's codes by the 2x2 least squares, or None where D <= 0."""
    sum_w, sum_x = sums
    sum_l = sum_l2 = sum_xl = _f.decode("fp32", 0)
    for x, w, l in zip(xs, ws, L):
        wl = mul(w, c_float(l))
        sum_l, sum_l2, sum_xl = add(sum_l, wl), add(sum_l2, mul(wl, c_float(l))), add(sum_xl, mul(wl, x))
    D = sub(mul(sum_w, sum_l2), mul(sum_l, sum_l))
    if not D.value > 0:
        return None
    this_scale = div(sub(mul(sum_w, sum_xl), mul(sum_x, sum_l)), D)
    this_min = div(sub(mul(sum_l2, sum_x), mul(sum_l, sum_xl)), D)
    if this_min.value > 0:
        return div(sum_xl, sum_l2), _f.decode("fp32", 0)
    return this_scale, this_min


def make_qkx2_quants(xs, ws, nmax, rmin, rdelta, nstep, mad=False):
    """(scale, the_min = -min, codes) of ggml's make_qkx2_quants(n, nmax, x, weights, ..., use_mad).

    Reproduces: ggml-quants.c make_qkx2_quants (ggml 2025), binary32 operations in source order.
    """
    mn, mx, sum_w, sum_x = xs[0], xs[0], ws[0], mul(ws[0], xs[0])
    for x, w in zip(xs[1:], ws[1:]):
        mn = x if x.value < mn.value else mn
        mx = x if x.value > mx.value else mx
        sum_w, sum_x = add(sum_w, w), add(sum_x, mul(w, x))
    if mn.value > 0:
        mn = _f.decode("fp32", 0)
    if mx.value == mn.value:
        return _f.decode("fp32", 0), _neg(mn), [0] * len(xs)
    iscale = div(c_float(nmax), sub(mx, mn))
    scale = div(1, iscale)
    L = _qkx2_codes(xs, iscale, mn, nmax)
    best = _qkx2_errors(xs, ws, L, scale, mn, mad)
    for step in range(nstep + 1):   # min is the best so far: later trials measure from it, as ggml's do
        iscale = div(add(add(rmin, mul(rdelta, c_float(step))), c_float(nmax)), sub(mx, mn))
        aux = _qkx2_codes(xs, iscale, mn, nmax)
        trial = _qkx2_trial(xs, ws, aux, (sum_w, sum_x))
        if trial is None:
            continue
        cur = _qkx2_errors(xs, ws, aux, *trial, mad)
        if cur.value < best.value:
            L, best, (scale, mn) = aux, cur, trial
    return scale, _neg(mn), L


def _pack_k4_scales(ls, lm):
    """The 12 bytes of eight 6-bit scales and mins, as quantize_row_q4_K_ref writes them."""
    s = [0] * 12
    for j in range(8):
        if j < 4:
            s[j], s[j + 4] = ls[j], lm[j]
        else:
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
            s[j - 4] |= (ls[j] >> 4) << 6
            s[j] |= (lm[j] >> 4) << 6
    return bytes(s)


def _k45_subblocks(xs, nmax, rmin, nstep):
    scales, mins, codes = [], [], []
    tenth = _f.decode("fp32", _f.encode("fp32", _f.real("0.1")))
    for j in range(8):
        sub_x = xs[32 * j:32 * j + 32]
        sum_x2 = _f.decode("fp32", 0)
        for x in sub_x:
            sum_x2 = add(sum_x2, mul(x, x))
        av_x = sqrtf(div(sum_x2, 32))
        ws = [add(av_x, _abs(x)) for x in sub_x]
        sc, mn, L = make_qkx2_quants(sub_x, ws, nmax, rmin, tenth, nstep)
        scales.append(sc)
        mins.append(mn)
        codes += L
    return scales, mins, codes


def _quantize_k45(xs, nmax, rmin, nstep):
    """(d bits, dmin bits, 12 packed scale bytes, codes) shared by the Q4_K and Q5_K reference quantizers."""
    scales, mins, codes = _k45_subblocks(xs, nmax, rmin, nstep)
    zero = _f.decode("fp32", 0)
    max_scale, max_min = zero, zero
    for sc, mn in zip(scales, mins):
        max_scale = sc if sc.value > max_scale.value else max_scale
        max_min = mn if mn.value > max_min.value else max_min
    inv_s = div(63, max_scale) if max_scale.value > 0 else zero
    inv_m = div(63, max_min) if max_min.value > 0 else zero
    ls = [min(63, nearest_int(mul(inv_s, sc)) & 0xFF) for sc in scales]
    lm = [min(63, nearest_int(mul(inv_m, mn)) & 0xFF) for mn in mins]
    packed = _pack_k4_scales(ls, lm)
    dbits, mbits = fp16_bits(div(max_scale, 63)), fp16_bits(div(max_min, 63))
    for j in range(8):
        sc, m = scale_min_k4(j, packed)
        d = mul(fp16_value(dbits), c_float(sc))
        if d.is_zero:
            continue
        dm = mul(fp16_value(mbits), c_float(m))
        for ii in range(32):
            codes[32 * j + ii] = max(0, min(nmax, nearest_int(div(add(xs[32 * j + ii], dm), d))))
    return dbits, mbits, packed, codes


def quantize_q4_k(xs):
    """One Q4_K block (144 bytes) of 256 binary32 values: per 32, make_qkx2_quants(nmax 15, rmin -1,
    20 steps) with weights sqrt(mean x²) + |x|; 6-bit scales and mins; codes re-quantized.

    Reproduces: ggml-quants.c quantize_row_q4_K_ref (ggml 2025).
    """
    dbits, mbits, packed, codes = _quantize_k45(xs, 15, _f.real(-1), 20)
    qs = bytes(codes[64 * g + l] | (codes[64 * g + l + 32] << 4) for g in range(4) for l in range(32))
    return dbits.to_bytes(2, "little") + mbits.to_bytes(2, "little") + packed + qs


def quantize_q5_k(xs):
    """One Q5_K block (176 bytes): as Q4_K with nmax 31, rmin -0.5, 15 steps; bit 4 of each code in qh.

    Reproduces: ggml-quants.c quantize_row_q5_K_ref (ggml 2025).
    """
    dbits, mbits, packed, codes = _quantize_k45(xs, 31, _f.real("-0.5"), 15)
    qh, ql = bytearray(32), bytearray(128)
    for g in range(4):
        for j in range(32):
            l1, l2 = codes[64 * g + j], codes[64 * g + j + 32]
            qh[j] |= ((l1 >> 4) << (2 * g)) | ((l2 >> 4) << (2 * g + 1))
            ql[32 * g + j] = (l1 & 0xF) | ((l2 & 0xF) << 4)
    return dbits.to_bytes(2, "little") + mbits.to_bytes(2, "little") + packed + bytes(qh) + bytes(ql)


def quantize_q2_k(xs):
    """One Q2_K block (84 bytes) of 256 binary32 values: per 16, make_qkx2_quants(nmax 3, weights |x|,
    rmin -0.5, rdelta 0.1f, 15 steps, use_mad); 4-bit scales and mins nearest_int(15/max · v);
    codes re-quantized to [0, 3].

    Reproduces: ggml-quants.c quantize_row_q2_K_ref (ggml 2025).
    """
    zero, tenth = _f.decode("fp32", 0), _f.decode("fp32", _f.encode("fp32", _f.real("0.1")))
    scales, mins, codes = [], [], []
    for j in range(16):
        sub_x = xs[16 * j:16 * j + 16]
        sc, mn, L = make_qkx2_quants(sub_x, [_abs(x) for x in sub_x], 3, _f.real("-0.5"), tenth, 15, mad=True)
        scales.append(sc)
        mins.append(mn)
        codes += L
    max_scale, max_min = zero, zero
    for sc, mn in zip(scales, mins):
        max_scale = sc if sc.value > max_scale.value else max_scale
        max_min = mn if mn.value > max_min.value else max_min
    packed = [0] * 16
    dbits = mbits = fp16_bits(zero)
    if max_scale.value > 0:
        inv = div(15, max_scale)
        packed = [nearest_int(mul(inv, sc)) & 0xFF for sc in scales]
        dbits = fp16_bits(div(max_scale, 15))
    if max_min.value > 0:
        inv = div(15, max_min)
        packed = [(p | (nearest_int(mul(inv, mn)) << 4)) & 0xFF for p, mn in zip(packed, mins)]
        mbits = fp16_bits(div(max_min, 15))
    _requantize_q2(xs, codes, packed, dbits, mbits)
    qs = bytes(codes[128 * h + l] | (codes[128 * h + l + 32] << 2) | (codes[128 * h + l + 64] << 4)
               | (codes[128 * h + l + 96] << 6) for h in range(2) for l in range(32))
    return bytes(packed) + qs + dbits.to_bytes(2, "little") + mbits.to_bytes(2, "little")


def _requantize_q2(xs, codes, packed, dbits, mbits):
    for j in range(16):
        d = mul(fp16_value(dbits), c_float(packed[j] & 0xF))
        if d.is_zero:
            continue
        dm = mul(fp16_value(mbits), c_float(packed[j] >> 4))
        for ii in range(16):
            codes[16 * j + ii] = max(0, min(3, nearest_int(div(add(xs[16 * j + ii], dm), d))))


def _q3_try(xs, ws, wx, L, sums, nmax):
    """One pass of make_q3_quants' coordinate search; returns (changed, sumlx, suml2)."""
    sumlx, suml2 = sums
    changed = 0
    for i, x in enumerate(xs):
        slx = sub(sumlx, mul(wx[i], c_float(L[i])))
        if not slx.value > 0:
            continue
        sl2 = sub(suml2, mul(mul(ws[i], c_float(L[i])), c_float(L[i])))
        new_l = max(-nmax, min(nmax - 1, nearest_int(div(mul(x, sl2), slx))))
        if new_l == L[i]:
            continue
        slx = add(slx, mul(wx[i], c_float(new_l)))
        sl2 = add(sl2, mul(mul(ws[i], c_float(new_l)), c_float(new_l)))
        if sl2.value > 0 and mul(mul(slx, slx), suml2).value > mul(mul(sumlx, sumlx), sl2).value:
            L[i], sumlx, suml2, changed = new_l, slx, sl2, changed + 1
    return changed, sumlx, suml2


def make_q3_quants(xs, nmax):
    """(scale, codes L + nmax) of ggml's make_q3_quants(n, nmax, x, L, do_rmse=true): RNE codes of
    -nmax/max · x, then up to five passes moving single codes while the weighted (x²) fit improves.

    Reproduces: ggml-quants.c make_q3_quants (ggml 2025), binary32 operations in source order.
    """
    amax, mx = _f.decode("fp32", 0), _f.decode("fp32", 0)
    for x in xs:
        if amax.value < _abs(x).value:
            amax, mx = _abs(x), x
    if amax.value < GROUP_MAX_EPS.value:
        return _f.decode("fp32", 0), [0] * len(xs)
    iscale = div(-nmax, mx)
    ws = [mul(x, x) for x in xs]
    wx = [mul(w, x) for w, x in zip(ws, xs)]
    L, sumlx, suml2 = _weighted_sums(xs, wx, ws, iscale, nmax)
    for _ in range(5):
        changed, sumlx, suml2 = _q3_try(xs, ws, wx, L, (sumlx, suml2), nmax)
        if not changed:
            break
    scale = div(sumlx, suml2) if suml2.value > 0 else _f.decode("fp32", 0)
    return scale, [l + nmax for l in L]


def _q3_scale_bytes(scales, max_scale):
    """12 bytes of sixteen 6-bit scales l + 32 (low nibbles in bytes 0..7, high pairs in 8..11) and d."""
    sb = [0] * 12
    if max_scale.is_zero:
        return sb, fp16_bits(_f.decode("fp32", 0))
    iscale = div(-32, max_scale)
    for j, sc in enumerate(scales):
        l = max(-32, min(31, _i8(nearest_int(mul(iscale, sc)) & 0xFF))) + 32
        if j < 8:
            sb[j] = l & 0xF
        else:
            sb[j - 8] |= (l & 0xF) << 4
        sb[j % 4 + 8] |= (l >> 4) << (2 * (j // 4))
    return sb, fp16_bits(div(1, iscale))


def quantize_q3_k(xs):
    """One Q3_K block (110 bytes) of 256 binary32 values: per 16, make_q3_quants(nmax 4); 6-bit
    scales nearest_int(-32/max · s) + 32; codes nearest_int(x / fl(d·s)) in [-4, 3]; bit 2 in hmask.

    Reproduces: ggml-quants.c quantize_row_q3_K_ref (ggml 2025).
    """
    scales, codes = [], []
    for j in range(16):
        sc, L = make_q3_quants(xs[16 * j:16 * j + 16], 4)
        scales.append(sc)
        codes += L
    amax, max_scale = _f.decode("fp32", 0), _f.decode("fp32", 0)
    for sc in scales:
        if _abs(sc).value > amax.value:
            amax, max_scale = _abs(sc), sc
    sb, dbits = _q3_scale_bytes(scales, max_scale)
    for j, s6 in enumerate(_q3_scales(bytes(sb))):
        d = mul(fp16_value(dbits), c_float(s6))
        if d.is_zero:
            continue
        for ii in range(16):
            codes[16 * j + ii] = max(-4, min(3, nearest_int(div(xs[16 * j + ii], d)))) + 4
    hmask = bytearray(32)
    for j in range(256):
        if codes[j] > 3:
            hmask[j % 32] |= 1 << (j // 32)
            codes[j] -= 4
    qs = bytes(codes[128 * h + l] | (codes[128 * h + l + 32] << 2) | (codes[128 * h + l + 64] << 4)
               | (codes[128 * h + l + 96] << 6) for h in range(2) for l in range(32))
    return bytes(hmask) + qs + bytes(sb) + dbits.to_bytes(2, "little")


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
        fuse = acc.fused and kind in ("q4_K", "q5_K")     # contracted in these two kernels only (measured)
        for lane, a32 in enumerate(_lanes(u, y)):
            n = acc.num(a32)
            sums[lane] = acc.muladd(d, n, sums[lane]) if fuse else acc.add(sums[lane], acc.mul(d, n))
        if u["mins"] is not None:
            sumi = sum(y["bsums"][j] * u["mins"][j // 2] for j in range(16))
            dmin = acc.mul(fp16_value(u["dmin"]), yd)
            sumf = acc.submul(sumf, dmin, acc.num(sumi))      # sumf -= dmin * sumi
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
        if acc.fused:       # contracted: fma(dall, isum, -(dmin*summs))
            sumf = acc.add(sumf, acc.mulsub(dall, acc.num(isum), acc.mul(dmin, acc.num(summs))))
        else:
            sumf = acc.add(sumf, acc.sub(acc.mul(dall, acc.num(isum)), acc.mul(dmin, acc.num(summs))))
    return acc.result(sumf)


KDOTS = {"q2_K": _dot_q2_k, **{k: (lambda blocks, acc, k=k: _dot_lanes(k, blocks, acc))
                                for k in ("q3_K", "q4_K", "q5_K", "q6_K")}}

