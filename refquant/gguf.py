"""GGUF / ggml block quantization, exactly: block layouts byte for byte, the reference quantizers,
dequantization and the scalar dot products.

Sources (read, not copied): ggml ``ggml-quants.c`` (``quantize_row_*_ref``, ``dequantize_row_*``,
``nearest_int``) and ``ggml-cpu/quants.c`` (``ggml_vec_dot_*_generic``) of llama.cpp/ggml as of
2025 (the block structs of ``ggml-common.h``); gguf-py 0.19.0 ``gguf/quants.py`` (its numpy port).
docs/llm-formats.md says, per type, what each function reproduces and where the peers differ.

Every float operation of the C source is one binary32 operation here, rounded once (RNE) with
``formats`` (no Python float arithmetic): a value is a ``formats.Real`` so that -0 is kept, since
ggml's fp16 scale of an all-zero Q4_0 block is -0 (0x8000).  fp16 fields are IEEE binary16
(``GGML_FP32_TO_FP16``: RNE, overflow to inf).  Where the C source is undefined (a float to
integer cast out of range or of NaN), ``Unpredictable`` is raised; inputs must be finite binary32.

Blocks are ``bytes`` exactly as stored in a GGUF file (little-endian fields).  Dequantized values
are binary32 bit patterns (``formats.value_of('fp32', bits)`` gives the exact value).
"""

from fractions import Fraction

from . import formats as _f
from . import gguf_lut as _lut
from .errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable
from .trace import note

F32, F16 = "fp32", "fp16"
QK, QK_K = 32, 256

# name -> (elements per block, bytes per block): the structs of ggml-common.h.
BLOCKS = {
    "q4_0": (32, 18), "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24), "q8_0": (32, 34), "q8_1": (32, 36),
    "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176), "q6_K": (256, 210),
    "q8_K": (256, 292),
    **_lut.BLOCKS,     # the table types: TQ1_0, TQ2_0, MXFP4, NVFP4, IQ4_NL, IQ4_XS
}
ZERO = _f.Real("finite", 0)


# ---------------------------------------------------------------------------------------------
# binary32 as the C source computes it
# ---------------------------------------------------------------------------------------------

def _dec(bits):
    return _f.decode(F32, bits)


def mul(a, b):
    """fl32(a * b)."""
    return _dec(_f.mul(F32, a, b))


def add(a, b):
    """fl32(a + b)."""
    return _dec(_f.add(F32, a, b))


def sub(a, b):
    """fl32(a - b)."""
    return _dec(_f.sub(F32, a, b))


def div(a, b):
    """fl32(a / b)."""
    return _dec(_f.div(F32, a, b))


def c_float(n):
    """(float) n for a C int n (RNE where |n| >= 2^24)."""
    return _dec(_f.encode(F32, n))


def _abs(v):
    return _f.Real(v.kind, 0, v.mag)


def _lt(a, b):
    """C ``a < b`` on finite floats (-0 == +0)."""
    return a.value < b.value


def _nonzero(v):
    """C truth of a float: nonzero (NaN is true)."""
    return not v.is_zero


def fp16_bits(v):
    """GGML_FP32_TO_FP16: binary16 bits of a binary32 value, RNE, overflow to inf."""
    return _f.encode(F16, v)


def fp16_value(bits):
    """GGML_FP16_TO_FP32: the binary32 value (exact) of binary16 bits."""
    return _f.decode(F16, bits)


def _c_int(v, lo, hi, what):
    """C's float -> integer conversion (truncation toward zero) into [lo, hi]; else undefined."""
    if not v.is_finite:
        raise Unpredictable(f"{what}: converting {v} to an integer is undefined in C")
    t = int(v.mag) * (-1 if v.sign else 1)
    if not lo <= t <= hi:
        raise Unpredictable(f"{what}: {v} does not fit [{lo}, {hi}]; the C conversion is undefined")
    return t


def roundf(v):
    """C roundf: nearest integer, halfway cases away from zero (as an int)."""
    n, d = v.mag.numerator, v.mag.denominator
    q = (2 * n + d) // (2 * d)
    return -q if v.sign else q


def nearest_int(v):
    """ggml nearest_int: fl32(v + 12582912) and its low mantissa bits, i.e. RNE for |v| <= 4194303."""
    # Reproduces: ggml-quants.c nearest_int (the 1.5*2^23 magic-number rounding)
    if not v.is_finite or v.mag > 4194303:
        raise Unpredictable(f"nearest_int({v}): ggml asserts |v| <= 4194303")
    bits = _f.add(F32, v, 12582912)
    return (bits & 0x007FFFFF) - 0x00400000


def inputs(values, n=None):
    """The binary32 inputs as Reals; each must be a finite binary32 value (a C float)."""
    out = []
    for x in values:
        v = _f.real(x)
        if not v.is_finite or not _f.representable(F32, v):
            shown = str(x) if isinstance(x, _f.Real) else repr(x)
            raise InvalidValueError(f"GGUF quantizers take finite binary32 values; got {shown}")
        out.append(v)
    if n is not None and len(out) != n:
        raise ShapeError(f"a block holds {n} values; got {len(out)}")
    return out


def _u16(data, i):
    return data[i] | (data[i + 1] << 8)


def _le16(v):
    return bytes((v & 0xFF, v >> 8))


def _check(kind, data):
    if kind not in BLOCKS:
        raise UnknownNameError("GGUF block type", kind, BLOCKS)
    data = bytes(data)
    if len(data) != BLOCKS[kind][1]:
        raise ShapeError(f"a {kind} block is {BLOCKS[kind][1]} bytes; got {len(data)}")
    return data


# ---------------------------------------------------------------------------------------------
# Quantizers of the 32-element types (quantize_row_*_ref)
# ---------------------------------------------------------------------------------------------

def _signed_absmax(xs):
    """ggml's ``if (amax < fabsf(v)) { amax = fabsf(v); max = v; }`` from amax = max = +0."""
    amax, mx = ZERO, ZERO
    for v in xs:
        if _lt(amax, _abs(v)):
            amax, mx = _abs(v), v
    return mx


def _min_max(xs):
    """ggml's min from FLT_MAX and max from -FLT_MAX with strict < and > (first of equals kept)."""
    lo, hi = _f.decode(F32, 0x7F7FFFFF), _f.decode(F32, 0xFF7FFFFF)
    for v in xs:
        if _lt(v, lo):
            lo = v
        if _lt(hi, v):
            hi = v
    return lo, hi


def _inverse(d):
    """``id = d ? 1.0f/d : 0.0f``."""
    return div(1, d) if _nonzero(d) else ZERO


def _symmetric_codes(xs, levels):
    """Q4_0 / Q5_0: d = max / -levels/2; q = MIN(levels-1, (int8_t)(x*id + levels/2 + 0.5))."""
    half = levels // 2
    d = div(_signed_absmax(xs), -half)
    inv, offset = _inverse(d), Fraction(2 * half + 1, 2)
    codes = [min(levels - 1, _c_int(add(mul(x, inv), offset), -128, 127, "(int8_t)(x*id + offset)"))
             for x in xs]
    return d, codes


def _affine_codes(xs, levels, clamp):
    """Q4_1 / Q5_1: d = (max - min) / (levels-1); q = (int)((x - min)*id + 0.5) (MIN for Q4_1)."""
    lo, hi = _min_max(xs)
    d = div(sub(hi, lo), levels - 1)
    inv = _inverse(d)
    codes = []
    for x in xs:
        t = add(mul(sub(x, lo), inv), Fraction(1, 2))
        q = _c_int(t, -128, 127, "(int8_t)") if clamp else _c_int(t, 0, 255, "(uint8_t)")
        codes.append(min(levels - 1, q) if clamp else q)
    return d, lo, codes


def _nibbles(codes):
    """qs[j] = low nibble of element j | low nibble of element j + 16 << 4."""
    h = len(codes) // 2
    return bytes((codes[j] & 0x0F) | ((codes[j + h] & 0x0F) << 4) for j in range(h))


def _high_bits(codes):
    """qh: bit j is bit 4 of element j (32 elements, little-endian uint32)."""
    qh = sum(((c & 0x10) >> 4) << j for j, c in enumerate(codes))
    return qh.to_bytes(4, "little")


def _q8_codes(xs):
    """Q8_0 / Q8_1: d = amax / 127; q = roundf(x * id)."""
    amax = ZERO
    for v in xs:
        amax = _abs(v) if _lt(amax, _abs(v)) else amax     # MAX(amax, fabsf(v))
    d = div(amax, 127)
    inv = _inverse(d)
    codes = []
    for x in xs:
        q = roundf(mul(x, inv))
        if not -128 <= q <= 127:
            raise Unpredictable(f"roundf(x*id) = {q} does not fit int8_t")
        codes.append(q)
    return d, codes


def quantize_block(kind, values):
    """The bytes of one block of ``kind`` holding ``values`` (a C float array), as ggml writes it.

    Reproduces: ggml-quants.c quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q8_1,q2_K..q6_K,q8_K}_ref (ggml 2025).
    """
    if kind not in BLOCKS:
        raise UnknownNameError("GGUF block type", kind, BLOCKS)
    if kind in KQUANTIZERS:
        return KQUANTIZERS[kind](inputs(values, BLOCKS[kind][0]))
    if kind in _lut.QUANTIZERS:
        return _lut.QUANTIZERS[kind](inputs(values, BLOCKS[kind][0]))
    if kind not in QUANTIZERS:
        raise UnknownNameError("GGUF block type with a reference quantizer", kind,
                               list(QUANTIZERS) + list(KQUANTIZERS) + list(_lut.QUANTIZERS))
    return QUANTIZERS[kind](inputs(values, QK))


def _quantize_q4_0(xs):
    d, codes = _symmetric_codes(xs, 16)
    return _le16(fp16_bits(d)) + _nibbles(codes)


def _quantize_q5_0(xs):
    d, codes = _symmetric_codes(xs, 32)
    return _le16(fp16_bits(d)) + _high_bits(codes) + _nibbles(codes)


def _quantize_q4_1(xs):
    d, lo, codes = _affine_codes(xs, 16, clamp=True)
    return _le16(fp16_bits(d)) + _le16(fp16_bits(lo)) + _nibbles(codes)


def _quantize_q5_1(xs):
    d, lo, codes = _affine_codes(xs, 32, clamp=False)
    return _le16(fp16_bits(d)) + _le16(fp16_bits(lo)) + _high_bits(codes) + _nibbles(codes)


def _quantize_q8_0(xs):
    d, codes = _q8_codes(xs)
    return _le16(fp16_bits(d)) + bytes(c & 0xFF for c in codes)


def _quantize_q8_1(xs):
    d, codes = _q8_codes(xs)
    s = mul(c_float(sum(codes)), d)                  # GGML_FP32_TO_FP16(sum*d)
    return _le16(fp16_bits(d)) + _le16(fp16_bits(s)) + bytes(c & 0xFF for c in codes)


def _quantize_q8_k(xs):
    """Q8_K: iscale = -127/max; q = MIN(127, nearest_int(iscale*x)); d = 1/iscale (binary32)."""
    mx = _signed_absmax(xs)
    if mx.is_zero:   # ggml leaves bsums unwritten here; refquant writes zeros
        return bytes(4 + QK_K + 32)
    iscale = div(-127, mx)
    codes = [min(127, nearest_int(mul(iscale, x))) for x in xs]
    sums = [sum(codes[16 * j:16 * j + 16]) for j in range(16)]
    d = _f.div(F32, 1, iscale)
    return (d.to_bytes(4, "little") + bytes(c & 0xFF for c in codes)
            + b"".join((s & 0xFFFF).to_bytes(2, "little") for s in sums))


QUANTIZERS = {"q4_0": _quantize_q4_0, "q4_1": _quantize_q4_1, "q5_0": _quantize_q5_0, "q5_1": _quantize_q5_1,
              "q8_0": _quantize_q8_0, "q8_1": _quantize_q8_1}
KQUANTIZERS = {"q8_K": _quantize_q8_k, "q6_K": lambda xs: _k.quantize_q6_k(xs),
               "q4_K": lambda xs: _k.quantize_q4_k(xs), "q5_K": lambda xs: _k.quantize_q5_k(xs),
               "q2_K": lambda xs: _k.quantize_q2_k(xs), "q3_K": lambda xs: _k.quantize_q3_k(xs)}


# ---------------------------------------------------------------------------------------------
# Unpacking: the integer codes and the scales of one block
# ---------------------------------------------------------------------------------------------

def _low_high(qs):
    """Elements 0..15 are the low nibbles of qs, 16..31 the high nibbles."""
    return [b & 0x0F for b in qs] + [b >> 4 for b in qs]


def _with_bit4(codes, qh):
    return [c | (((qh >> j) & 1) << 4) for j, c in enumerate(codes)]


def codes(kind, data):
    """(the integer code of every element, the scale fields) of one block.

    Codes are the signed integers the dot products multiply (Q4_0: nibble - 8, Q5_0: 5 bits - 16,
    Q4_1/Q5_1: unsigned); fields are the fp16 bits of d (and m or s), or d for Q8_K (binary32 bits).
    Reproduces: ggml-common.h block_q4_0 .. block_q8_K layouts; ggml-quants.c dequantize_row_*.
    """
    data = _check(kind, data)
    if kind in _lut.CODES:
        return _lut.codes(kind, data)
    if kind in _k.KCODES:
        u = dict(_k.KCODES[kind](data))
        return u.pop("q"), u
    d = _u16(data, 0)
    if kind == "q4_0":
        return [c - 8 for c in _low_high(data[2:])], {"d": d}
    if kind == "q4_1":
        return _low_high(data[4:]), {"d": d, "m": _u16(data, 2)}
    if kind == "q5_0":
        qh = int.from_bytes(data[2:6], "little")
        return [c - 16 for c in _with_bit4(_low_high(data[6:]), qh)], {"d": d}
    if kind == "q5_1":
        qh = int.from_bytes(data[4:8], "little")
        return _with_bit4(_low_high(data[8:]), qh), {"d": d, "m": _u16(data, 2)}
    if kind == "q8_0":
        return [b - 256 if b > 127 else b for b in data[2:]], {"d": d}
    return [b - 256 if b > 127 else b for b in data[4:]], {"d": d, "s": _u16(data, 2)}   # q8_1


def dequantize_block(kind, data):
    """binary32 bits of every element of one block, as ggml's dequantize_row_<kind> computes them.

    Q4_0/Q5_0/Q8_0: fl(q * d); Q4_1/Q5_1: fl(fl(q * d) + m) (two roundings, no contraction).
    Reproduces: ggml-quants.c dequantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0} and the K types (ggml 2025).
    """
    if kind in _k.KDEQUANT:
        return _k.KDEQUANT[kind](_check(kind, data))
    if kind in _lut.CODES:
        return _lut.dequantize(kind, _check(kind, data))
    if kind == "q8_1":
        raise UnknownNameError("GGUF block type with a dequantize_row", kind, ["q4_0", "q4_1", "q5_0", "q5_1",
                                                                               "q8_0"] + list(_k.KDEQUANT))
    qs, fields = codes(kind, data)
    d = fp16_value(fields["d"])
    if "m" in fields:
        m = fp16_value(fields["m"])
        return [_f.encode(F32, add(mul(c_float(q), d), m)) for q in qs]
    return [_f.mul(F32, c_float(q), d) for q in qs]


def quantize_row(kind, values):
    """ggml quantize_row_<kind>_ref over a whole row (a multiple of the block size).

    Reproduces: ggml-quants.c quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q8_1,q8_K}_ref (ggml 2025).
    """
    n = BLOCKS[kind][0] if kind in BLOCKS else None
    values = list(values)
    if n is None or len(values) % n:
        raise ShapeError(f"a {kind} row holds a multiple of {n} values; got {len(values)}")
    return b"".join(quantize_block(kind, values[i:i + n]) for i in range(0, len(values), n))


def dequantize_row(kind, data):
    """dequantize_row_<kind>: the binary32 bits of every element of a row of blocks.

    Reproduces: ggml-quants.c dequantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0,q2_K..q6_K,q8_K} (ggml 2025).
    """
    size = BLOCKS[kind][1] if kind in BLOCKS else 0
    data = bytes(data)
    if not size or len(data) % size:
        raise ShapeError(f"a {kind} row is a multiple of {size} bytes; got {len(data)}")
    return [b for i in range(0, len(data), size) for b in dequantize_block(kind, data[i:i + size])]


# ---------------------------------------------------------------------------------------------
# Dot products: the exact integer part of each block, and the float combination
# ---------------------------------------------------------------------------------------------

class _Fusable:
    """``a*b + c`` and ``c - a*b`` as two operations (a compiler that does not contract)."""
    fused = False

    def muladd(self, a, b, c):
        return self.add(self.mul(a, b), c)

    def submul(self, c, a, b):
        return self.sub(c, self.mul(a, b))

    def mulsub(self, a, b, c):
        return self.sub(self.mul(a, b), c)


class Binary32(_Fusable):
    """'ggml_generic': every * + - of the C expression rounded to binary32, in source order."""
    name = "ggml_generic"

    def num(self, n):
        return c_float(n)

    def value(self, v):
        return v

    mul, add, sub = staticmethod(mul), staticmethod(add), staticmethod(sub)

    def result(self, v):
        return _f.encode(F32, v)


class Binary32Fma(Binary32):
    """'ggml_generic_fma': the scalar kernels as GCC contracts them into fused multiply-adds
    (-ffp-contract=fast, GCC's default outside ISO C mode, with -mfma): Q4_1/Q5_1
    ``(dx*dy)*sumi + mx*sy`` = fma(fl(dx*dy), sumi, fl(mx*sy)); Q2_K ``dall*isum - dmin*summs`` =
    fma(dall, isum, -fl(dmin*summs)); Q4_K/Q5_K ``sums[l] += d*aux32[l]`` = fma(d, aux32[l], sums[l])
    and ``sumf -= dmin*sumi`` = fma(-dmin, sumi, sumf); the rest (Q4_0, Q5_0, Q8_0, Q3_K, Q6_K) as
    'ggml_generic'.  Measured on ggml 0.13.1 of pywhispercpp 1.5.1 (docs/llm-formats.md §1)."""
    name = "ggml_generic_fma"
    fused = True

    def muladd(self, a, b, c):
        return _dec(_f.fma(F32, a, b, c))

    def submul(self, c, a, b):
        return _dec(_f.fma(F32, _neg(a), b, c))

    def mulsub(self, a, b, c):
        return _dec(_f.fma(F32, a, b, _neg(c)))


def _neg(v):
    return _f.Real(v.kind, 1 - v.sign, v.mag)


class Exact(_Fusable):
    """'exact': the same expression in exact rationals, rounded to binary32 once at the end."""
    name = "exact"

    def num(self, n):
        return Fraction(n)

    def value(self, v):
        return v.value if isinstance(v, _f.Real) else Fraction(v)

    def mul(self, a, b):
        return self.value(a) * self.value(b)

    def add(self, a, b):
        return self.value(a) + self.value(b)

    def sub(self, a, b):
        return self.value(a) - self.value(b)

    def result(self, v):
        return _f.encode(F32, v)


ACCUMULATIONS = {"ggml_generic": Binary32(), "ggml_generic_fma": Binary32Fma(), "exact": Exact()}


def _shown(v):
    """A float operand for a trace line: its value and (binary32 or binary16 Reals) its bits."""
    if isinstance(v, _f.Real):
        return f"{_f.to_decimal(v.value, 9)} [0x{_f.encode(F32, v):08x}]"
    return _f.to_decimal(Fraction(v), 9)


class Traced:
    """An accumulation that notes each operation of ``inner`` in ``trace`` (refquant.trace steps):
    the integer sums as they become floats, then every product, sum and difference in source order,
    each as ``inner`` rounds it (binary32 for 'ggml_generic', exact for 'exact')."""

    def __init__(self, inner, trace):
        self.inner, self.trace, self.name, self.k, self.fused = inner, trace, inner.name, 0, inner.fused

    def muladd(self, a, b, c):
        if not self.fused:
            return self.add(self.mul(a, b), c)
        return self._fma(a, b, c, self.inner.muladd(a, b, c), "+")

    def submul(self, c, a, b):
        if not self.fused:
            return self.sub(c, self.mul(a, b))
        return self._fma(a, b, c, self.inner.submul(c, a, b), "-")

    def mulsub(self, a, b, c):
        if not self.fused:
            return self.sub(self.mul(a, b), c)
        self.k += 1
        v = self.inner.mulsub(a, b, c)
        note(self.trace, f"step {self.k} fma", f"fma({_shown(a)} * {_shown(b)} - {_shown(c)}) = "
             f"0x{_f.encode(F32, v):08x}", v.value)
        return v

    def _fma(self, a, b, c, v, sign):
        self.k += 1
        product = f"{_shown(a)} * {_shown(b)}"
        shown = f"{product} + {_shown(c)}" if sign == "+" else f"{_shown(c)} - {product}"
        formula = f"fma({shown}) = 0x{_f.encode(F32, v):08x}"
        note(self.trace, f"step {self.k} fma", formula, v.value)
        return v

    def _note(self, what, a, op, b, v):
        self.k += 1
        how = "fl32" if self.name == "ggml_generic" else "exact"
        formula = f"(float) {a}" if op is None else f"{how}({_shown(a)} {op} {_shown(b)})"
        if isinstance(v, _f.Real):
            formula += f" = 0x{_f.encode(F32, v):08x}"
        note(self.trace, f"step {self.k} {what}", formula, v.value if isinstance(v, _f.Real) else Fraction(v))
        return v

    def num(self, n):
        return self._note("int", n, None, None, self.inner.num(n))

    def value(self, v):
        return self.inner.value(v)

    def mul(self, a, b):
        return self._note("mul", a, "*", b, self.inner.mul(a, b))

    def add(self, a, b):
        return self._note("add", a, "+", b, self.inner.add(a, b))

    def sub(self, a, b):
        return self._note("sub", a, "-", b, self.inner.sub(a, b))

    def result(self, v):
        r = self.inner.result(v)
        note(self.trace, "result", f"binary32 bits 0x{r:08x} ({self.name})", _f.value_of(F32, r))
        return r


def _note_blocks(trace, kind_x, kind_y, blocks):
    """Trace lines of each block pair: bytes, scale fields (hex and value), the integer dot of the codes."""
    for i, (xb, yb) in enumerate(blocks):
        qx, fx = codes(kind_x, xb)
        qy, fy = codes(kind_y, yb)
        for side, kind, data, fields in (("x", kind_x, xb, fx), ("y", kind_y, yb, fy)):
            shown = ", ".join(_field_text(k, v) for k, v in fields.items()
                              if k in ("d", "m", "s", "dmin", "d32") and isinstance(v, int))
            note(trace, f"block {i} {side}", f"{kind} {data.hex()} ({shown})", len(data))
        if kind_x not in _k.KDOTS:
            note(trace, f"block {i} isum", f"sum of {kind_x} codes x {kind_y} codes ({len(qx)} products)",
                 _isum(qx, qy))


def _field_text(name, bits):
    if name == "d32":
        return f"{name}=0x{bits:08x} ({_f.to_decimal(_f.value_of(F32, bits), 9)})"
    v = _f.decode(F16, bits)
    return f"{name}=0x{bits:04x} ({_f.to_decimal(v.value, 9) if v.is_finite else v})"


def _isum(a, b):
    return sum(x * y for x, y in zip(a, b))


def _dot_legacy(kx, xb, yb, acc, total):
    """One 32-element block pair added to ``total`` as ggml_vec_dot_<kx>_q8_x_generic writes it."""
    qx, fx = codes(kx, xb)
    qy, fy = codes("q8_1" if kx in ("q4_1", "q5_1") else "q8_0", yb)
    sumi = acc.num(_isum(qx, qy))
    dx, dy = fp16_value(fx["d"]), fp16_value(fy["d"])
    if kx == "q4_0":        # sumf += sumi*dx*dy
        term = acc.mul(acc.mul(sumi, dx), dy)
    elif kx == "q5_0":      # sumf += (dx*dy)*sumi
        term = acc.mul(acc.mul(dx, dy), sumi)
    elif kx == "q8_0":      # sumf += sumi*(dx*dy)
        term = acc.mul(sumi, acc.mul(dx, dy))
    elif acc.fused:         # q4_1, q5_1 contracted: fma(dx*dy, sumi, mx*sy)
        term = acc.muladd(acc.mul(dx, dy), sumi, acc.mul(fp16_value(fx["m"]), fp16_value(fy["s"])))
    else:                   # q4_1, q5_1: sumf += (dx*dy)*sumi + mx*sy
        term = acc.add(acc.mul(acc.mul(dx, dy), sumi), acc.mul(fp16_value(fx["m"]), fp16_value(fy["s"])))
    return acc.add(total, term)


PAIRS = {"q4_0": "q8_0", "q4_1": "q8_1", "q5_0": "q8_0", "q5_1": "q8_1", "q8_0": "q8_0",
         "q2_K": "q8_K", "q3_K": "q8_K", "q4_K": "q8_K", "q5_K": "q8_K", "q6_K": "q8_K"}


def vec_dot(kind_x, x, kind_y, y, accumulation="ggml_generic", trace=None):
    """binary32 bits of ggml_vec_dot_<kind_x>_<kind_y>(x, y): rows of blocks as bytes.

    ``accumulation``: 'ggml_generic' (the scalar C source, each operation rounded to binary32 in
    its order), 'ggml_generic_fma' (the same as GCC contracts it into fused multiply-adds) or 'exact'
    (the same terms exactly, one rounding).  The integer part is exact in both.
    ``trace`` (a list): each block pair's bytes, scale fields and integer sum, then every float
    step as the accumulation rounds it (``refquant explain``, docs/llm-formats.md §4).
    Reproduces: ggml-cpu/quants.c ggml_vec_dot_{q4_0_q8_0,q4_1_q8_1,q5_0_q8_0,q5_1_q8_1,q8_0_q8_0,
    q2_K..q6_K_q8_K}_generic (ggml 2025).
    """
    if PAIRS.get(kind_x) != kind_y:
        raise UnknownNameError("ggml vec_dot pair", f"{kind_x}.{kind_y}", [f"{a}.{b}" for a, b in PAIRS.items()])
    if accumulation not in ACCUMULATIONS:
        raise UnknownNameError("accumulation", accumulation, ACCUMULATIONS)
    acc = ACCUMULATIONS[accumulation]
    sx, sy = BLOCKS[kind_x][1], BLOCKS[kind_y][1]
    x, y = bytes(x), bytes(y)
    if len(x) % sx or len(y) % sy or len(x) // sx != len(y) // sy:
        raise ShapeError(f"{kind_x} row of {len(x)} bytes and {kind_y} row of {len(y)} bytes do not pair")
    blocks = [(x[i * sx:(i + 1) * sx], y[i * sy:(i + 1) * sy]) for i in range(len(x) // sx)]
    if trace is not None:
        _note_blocks(trace, kind_x, kind_y, blocks)
        acc = Traced(acc, trace)
    if kind_x in _k.KDOTS:
        return _k.KDOTS[kind_x](blocks, acc)
    total = acc.num(0)
    for xb, yb in blocks:
        total = _dot_legacy(kind_x, xb, yb, acc, total)
    return acc.result(total)


def dot_generic(kind_x, x, kind_y, y):
    """ggml's scalar vec_dot: each binary32 operation rounded in source order.

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_*_generic (ggml 2025), built without FP contraction.
    """
    return vec_dot(kind_x, x, kind_y, y, "ggml_generic")


def dot_exact(kind_x, x, kind_y, y):
    """The exact value of ggml's dot expression (decoded scales, exact integer sums), rounded once.

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_*_generic's expression evaluated exactly (ggml 2025).
    """
    return vec_dot(kind_x, x, kind_y, y, "exact")


def dot_generic_fma(kind_x, x, kind_y, y):
    """ggml's scalar vec_dot as GCC contracts it (fused multiply-adds; ``Binary32Fma``).

    Reproduces: ggml-cpu/quants.c ggml_vec_dot_*_generic (ggml 0.13.1) built with -ffp-contract=fast -mfma.
    """
    return vec_dot(kind_x, x, kind_y, y, "ggml_generic_fma")


VARIANTS = {"gguf_vec_dot": {"ggml_generic": dot_generic, "ggml_generic_fma": dot_generic_fma, "exact": dot_exact},
            "gguf_quantize": {"ggml_ref": quantize_row},
            "gguf_dequantize": {"ggml_ref": dequantize_row}}

from . import gguf_k as _k  # noqa: E402  (the K types use the helpers above; read at call time)
