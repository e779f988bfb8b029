"""GGUF block types whose codes index a fixed table of values, exactly: TQ1_0 and TQ2_0 (ternary
-1/0/+1 times an fp16 scale), MXFP4 (E2M1 values with an E8M0 scale per 32), NVFP4 (E2M1 values with
an unsigned E4M3 scale per 16, 64 per block) and IQ4_NL / IQ4_XS (the non-linear 4-bit table
``kvalues_iq4nl``): block layouts byte for byte, ggml's reference quantizers (TQ1_0, TQ2_0, MXFP4,
NVFP4) and dequantization.

Sources (read, not copied): ggml ``ggml-common.h`` (block_tq1_0, block_tq2_0, block_mxfp4,
block_iq4_nl, block_iq4_xs; the tables ``kvalues_mxfp4`` and ``kvalues_iq4nl``), ``ggml-impl.h``
(``ggml_e8m0_to_fp32_half``, ``ggml_ue4m3_to_fp32``, ``ggml_fp32_to_ue4m3``) and ``ggml-quants.c``
(``quantize_row_{tq1_0,tq2_0,mxfp4,nvfp4}_ref``, ``best_index_mxfp4``,
``dequantize_row_{tq1_0,tq2_0,mxfp4,nvfp4,iq4_nl,iq4_xs}``), ggml as of 2026-08
(ggml-org/ggml d99724f); gguf-py 0.19.0 ``gguf/quants.py`` (TQ1_0, TQ2_0, MXFP4, IQ4_NL, IQ4_XS).
docs/llm-formats.md §1 lists what was checked against gguf-py.

As in ``refquant.gguf``: every binary32 operation of the C source is one correctly rounded operation
(``formats``), values are ``formats.Real`` (the sign of zero survives), inputs must be finite binary32
values, and where C is undefined (a float to integer conversion out of range or of NaN)
``Unpredictable`` is raised.  The quantizers of IQ4_NL / IQ4_XS (an iterative scale search) are not
modelled; gguf-py 0.19.0 has none either.
"""

import decimal
from fractions import Fraction

from . import formats as _f
from .errors import SpecError, UnknownNameError, Unpredictable

F32, F16 = "fp32", "fp16"
QK_K = 256

# name -> (elements per block, bytes per block): the structs of ggml-common.h.
BLOCKS = {"tq1_0": (256, 54), "tq2_0": (256, 66), "mxfp4": (32, 17), "nvfp4": (64, 36), "iq4_nl": (32, 18),
          "iq4_xs": (256, 136)}
# ggml-common.h kvalues_mxfp4: the E2M1 values doubled (the scale is halved to match).
KVALUES_MXFP4 = (0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12)
# ggml-common.h kvalues_iq4nl (ggml 2026-08).
KVALUES_IQ4NL = (-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
ZERO = _f.Real("finite", 0)


def _dec(bits):
    return _f.decode(F32, bits)


def _mul(a, b):
    return _dec(_f.mul(F32, a, b))


def _le16(v):
    return bytes((v & 0xFF, v >> 8))


def _u16(data, i):
    return data[i] | (data[i + 1] << 8)


def _fp16(data, i):
    return _f.decode(F16, _u16(data, i))


def _abs(v):
    return _f.Real(v.kind, 0, v.mag)


def _absmax(xs):
    """``amax = MAX(amax, fabsf(v))`` / ``if (amax < fabsf(v)) amax = fabsf(v)`` from +0 (the same value)."""
    amax = ZERO
    for v in xs:
        if amax.value < v.mag:
            amax = _abs(v)
    return amax


def lroundf(v, what):
    """C lroundf: nearest integer, halfway cases away from zero; undefined for inf / NaN."""
    if not v.is_finite:
        raise Unpredictable(f"{what}: lroundf({v}) is undefined in C")
    n, d = v.mag.numerator, v.mag.denominator
    q = (2 * n + d) // (2 * d)
    return -q if v.sign else q


# ---------------------------------------------------------------------------------------------
# TQ1_0 and TQ2_0 (ternary)
# ---------------------------------------------------------------------------------------------

def tq1_0_groups():
    """[(byte index, the elements of its trits, most significant first)]: qs[0..31] hold elements
    m + 32n (n = 0..4), qs[32..47] elements 160 + m + 16n, qh[0..3] elements 240 + j + 4m (m = 0..3)
    and a fifth, zero trit (``q *= 3`` after the four)."""
    # Reproduces: ggml-quants.c quantize_row_tq1_0_ref / dequantize_row_tq1_0 element order (ggml 2026-08)
    groups = [(m, [m + 32 * n for n in range(5)]) for m in range(32)]
    groups += [(32 + m, [160 + m + 16 * n for n in range(5)]) for m in range(16)]
    return groups + [(48 + j, [240 + j + 4 * m for m in range(4)]) for j in range(4)]


def tq2_0_position(k):
    """(byte, shift) of element k of a TQ2_0 block: byte 32·(k // 128) + k % 32, bits 2·((k // 32) % 4)."""
    return 32 * (k // 128) + k % 32, 2 * ((k // 32) % 4)


def _ternary(xs):
    """d = amax, id = d ? 1/d : 0, and lroundf(x·id) + 1 in {0, 1, 2} per element."""
    d = _absmax(xs)
    inv = _dec(_f.div(F32, 1, d)) if not d.is_zero else ZERO
    return d, [lroundf(_mul(x, inv), "TQ quantizer x*id") + 1 for x in xs]


def quantize_tq1_0(xs):
    """One TQ1_0 block: base-3 digits packed 5 per byte as ceil(q·256/243), d = fp16(amax).

    Reproduces: ggml-quants.c quantize_row_tq1_0_ref (ggml 2026-08).
    """
    d, t = _ternary(xs)
    out = bytearray(54)
    for byte, els in tq1_0_groups():
        q = 0
        for e in els:
            q = 3 * q + t[e]
        if len(els) == 4:
            q *= 3
        out[byte] = (q * 256 + 242) // 243
    out[52:54] = _le16(_f.encode(F16, d))
    return bytes(out)


def quantize_tq2_0(xs):
    """One TQ2_0 block: the codes lroundf(x/amax) + 1 two bits each, d = fp16(amax).

    Reproduces: ggml-quants.c quantize_row_tq2_0_ref (ggml 2026-08).
    """
    d, t = _ternary(xs)
    out = bytearray(66)
    for k, q in enumerate(t):
        byte, shift = tq2_0_position(k)
        out[byte] |= (q & 3) << shift
    out[64:66] = _le16(_f.encode(F16, d))
    return bytes(out)


def _tq1_0_codes(data):
    codes = [0] * QK_K
    for byte, els in tq1_0_groups():
        for n, e in enumerate(els):
            q = (data[byte] * 3 ** n) & 0xFF              # uint8_t q = qs[j] * pow3[n]
            codes[e] = ((q * 3) >> 8) - 1
    return codes, {"d": _u16(data, 52)}


def _tq2_0_codes(data):
    codes = []
    for k in range(QK_K):
        byte, shift = tq2_0_position(k)
        codes.append(((data[byte] >> shift) & 3) - 1)
    return codes, {"d": _u16(data, 64)}


# ---------------------------------------------------------------------------------------------
# MXFP4
# ---------------------------------------------------------------------------------------------

def log2f(v):
    """log2 of a positive finite binary32 value rounded once to binary32 (RNE), as a Real.

    ln(v)/ln(2) is computed with 60 significant decimal digits (``decimal``), far more than the
    hardest binary32 case of log2 needs; log2 of a binary32 value that is not a power of two is
    irrational, so it is never a midpoint.  Reproduces: C99 log2f, correctly rounded (glibc's
    log2f on the quantizer's decisive inputs, docs/llm-formats.md §1).
    """
    x = v.value
    if x <= 0:
        raise SpecError(f"log2f of {v}: the MXFP4 quantizer takes it of a positive amax only")
    n, d = x.numerator, x.denominator
    if n & (n - 1) == 0 and d & (d - 1) == 0:
        return _dec(_f.encode(F32, n.bit_length() - d.bit_length()))
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        r = (decimal.Decimal(n).ln() - decimal.Decimal(d).ln()) / decimal.Decimal(2).ln()
    return _dec(_f.encode(F32, Fraction(r)))


def e8m0_half(e):
    """GGML_E8M0_TO_FP32_HALF: 2^(e - 128), the E8M0 scale halved (0x00200000 << e for e < 2)."""
    # Reproduces: ggml-impl.h ggml_e8m0_to_fp32_half (ggml 2026-08)
    return _f.Real("finite", 0, Fraction(2) ** (e - 128))


def mxfp4_exponent(amax):
    """e = amax > 0 ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0."""
    if amax.is_zero:
        return 0
    e = int(log2f(amax).value // 1) - 2 + 127
    if not 0 <= e <= 255:
        raise Unpredictable(f"MXFP4 scale of amax {amax}: (uint8_t){e} is undefined in C")
    return e


def best_index_mxfp4(x, d):
    """The first i of the smallest fl(|fl(kvalues_mxfp4[i]·d - x)|) (strict <, so +0 wins over -0)."""
    best, best_err = 0, None
    for i, k in enumerate(KVALUES_MXFP4):
        err = _abs(_dec(_f.sub(F32, _mul(k, d), x)))
        if best_err is None or err.value < best_err.value:
            best, best_err = i, err
    return best


def quantize_mxfp4(xs):
    """One MXFP4 block: the E8M0 byte e, then element j in the low nibble of qs[j] and element
    j + 16 in the high nibble, each the nearest table value of x / 2^(e - 128).

    Reproduces: ggml-quants.c quantize_row_mxfp4_ref and best_index_mxfp4 (ggml 2026-08).
    """
    e = mxfp4_exponent(_absmax(xs))
    d = e8m0_half(e)
    idx = [best_index_mxfp4(x, d) for x in xs]
    return bytes([e]) + bytes(idx[j] | (idx[j + 16] << 4) for j in range(16))


def ue4m3_half(x):
    """ggml_ue4m3_to_fp32: the unsigned E4M3 byte (bits 3-6 exponent, bias 7; bits 0-2 mantissa; bit 7
    ignored) halved; 0x00 and 0x7F give 0."""
    # Reproduces: ggml-impl.h ggml_ue4m3_to_fp32 (ggml 2026-08)
    if x in (0, 0x7F):
        return ZERO
    e, m = (x >> 3) & 0xF, x & 7
    raw = Fraction(m, 512) if e == 0 else Fraction(8 + m, 8) * Fraction(2) ** (e - 7)
    return _f.Real("finite", 0, raw / 2)


def fp32_to_ue4m3(x):
    """ggml_fp32_to_ue4m3: 0 unless x > 0; min(x, 448); below 2^-6 (int)(x*512 + 0.5) clamped to 7
    (0 under 1); else the binary32 exponent + 7 and the top three mantissa bits plus the fourth as a
    round bit (ties up), carrying into the exponent; 0x7E from exponent 15."""
    # Reproduces: ggml-impl.h ggml_fp32_to_ue4m3 (ggml 2026-08)
    if not x.value > 0:
        return 0
    if x.value > 448:
        x = _dec(_f.encode(F32, 448))
    bits = _f.encode(F32, x)
    e = ((bits >> 23) & 0xFF) - 127 + 7
    if e <= 0:
        t = _dec(_f.add(F32, _mul(x, 512), _f.real(0.5)))
        m = min(int(t.value), 7)
        return m if m >= 1 else 0
    if e >= 15:
        return 0x7E
    m = ((bits >> 20) & 7) + ((bits >> 19) & 1)
    if m > 7:
        m, e = 0, e + 1
        if e >= 15:
            return 0x7E
    return (e << 3) | m


def quantize_nvfp4(xs):
    """One NVFP4 block of 64: per 16-element sub-block s the UE4M3 byte fp32_to_ue4m3(fl(amax/6)) in
    d[s], then element 16s + j in the low nibble of qs[8s + j] and 16s + j + 8 in the high one, each
    the nearest doubled E2M1 value of x / ue4m3_half(d[s]) (``best_index_mxfp4``).

    Reproduces: ggml-quants.c quantize_row_nvfp4_ref (ggml 2026-08).
    """
    ds, qs = [], []
    for s in range(4):
        xb = xs[16 * s:16 * s + 16]
        ue = fp32_to_ue4m3(_dec(_f.div(F32, _absmax(xb), 6)))
        d = ue4m3_half(ue)
        idx = [best_index_mxfp4(x, d) for x in xb]
        ds.append(ue)
        qs += [idx[j] | (idx[j + 8] << 4) for j in range(8)]
    return bytes(ds) + bytes(qs)


def _nvfp4_codes(data):
    codes = []
    for s in range(4):
        q = data[4 + 8 * s:12 + 8 * s]
        codes += [KVALUES_MXFP4[b & 0x0F] for b in q] + [KVALUES_MXFP4[b >> 4] for b in q]
    return codes, {"d": list(data[:4])}


def _mxfp4_codes(data):
    return [KVALUES_MXFP4[b & 0x0F] for b in data[1:]] + [KVALUES_MXFP4[b >> 4] for b in data[1:]], {"e": data[0]}


# ---------------------------------------------------------------------------------------------
# IQ4_NL, IQ4_XS (dequantization)
# ---------------------------------------------------------------------------------------------

def _nl_codes(qs):
    """32 elements per 16 bytes: the low nibbles first, then the high ones, through kvalues_iq4nl."""
    return [KVALUES_IQ4NL[b & 0x0F] for b in qs] + [KVALUES_IQ4NL[b >> 4] for b in qs]


def iq4_xs_scale(data, ib):
    """The 6-bit scale of sub-block ib: low 4 bits from scales_l, high 2 from scales_h, minus 32."""
    lo = (data[4 + ib // 2] >> (4 * (ib % 2))) & 0x0F
    hi = (_u16(data, 2) >> (2 * ib)) & 3
    return (lo | (hi << 4)) - 32


def _iq4_nl_codes(data):
    return _nl_codes(data[2:]), {"d": _u16(data, 0)}


def _iq4_xs_codes(data):
    codes = []
    for ib in range(8):
        codes += _nl_codes(data[8 + 16 * ib:24 + 16 * ib])
    return codes, {"d": _u16(data, 0), "scales": [iq4_xs_scale(data, ib) for ib in range(8)]}


CODES = {"tq1_0": _tq1_0_codes, "tq2_0": _tq2_0_codes, "mxfp4": _mxfp4_codes, "nvfp4": _nvfp4_codes,
         "iq4_nl": _iq4_nl_codes, "iq4_xs": _iq4_xs_codes}
QUANTIZERS = {"tq1_0": quantize_tq1_0, "tq2_0": quantize_tq2_0, "mxfp4": quantize_mxfp4, "nvfp4": quantize_nvfp4}


def codes(kind, data):
    """(the signed table value of every element, the scale fields) of one block (TQ: -1/0/+1;
    MXFP4, NVFP4: kvalues_mxfp4; IQ4: kvalues_iq4nl), read as ``dequantize_row_<kind>`` reads them."""
    if kind not in CODES:
        raise UnknownNameError("GGUF table block type", kind, list(CODES))
    return CODES[kind](bytes(data))


def dequantize(kind, data):
    """binary32 bits of every element of one block, as ggml's dequantize_row_<kind> computes them:
    TQ1_0/TQ2_0 fl((float)(q - 1)·d); MXFP4 fl(k·2^(e-128)); NVFP4 fl(k·ue4m3_half(d[s])); IQ4_NL fl(d·k);
    IQ4_XS fl(fl(d·(ls - 32))·k) with d the fp16 field.

    Reproduces: ggml-quants.c dequantize_row_{tq1_0,tq2_0,mxfp4,iq4_nl,iq4_xs} (ggml 2026-08).
    """
    q, fields = codes(kind, data)
    if kind == "nvfp4":
        return [_f.mul(F32, k, ue4m3_half(fields["d"][i // 16])) for i, k in enumerate(q)]
    if kind == "mxfp4":
        d = e8m0_half(fields["e"])
        return [_f.mul(F32, k, d) for k in q]
    d = _f.decode(F16, fields["d"])
    if kind == "iq4_xs":
        dls = [_mul(d, s) for s in fields["scales"]]
        return [_f.mul(F32, dls[i // 32], k) for i, k in enumerate(q)]
    if kind == "iq4_nl":
        return [_f.mul(F32, d, k) for k in q]
    return [_f.mul(F32, k, d) for k in q]
