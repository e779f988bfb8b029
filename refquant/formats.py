"""IEEE-754-style float formats: one description type, one decode, one encode.

Sources: IEEE 754-2019; OCP 8-bit Floating Point (OFP8) rev 1.0 (e4m3fn, e5m2); OCP Microscaling
Formats (MX) v1.0 (fp6, fp4, e8m0); the FNUZ formats as fixed by ml_dtypes and ONNX Cast.

A value is a ``Real``: a finite exact rational with a sign (so -0 is distinct from +0), an
infinity, or a NaN (with sign, quiet bit and payload).  ``decode`` turns bits into a ``Real``
exactly; ``encode`` turns any exact value into bits, rounded once, correctly, with one of five
IEEE modes and an explicit overflow policy.  The arithmetic (``add``, ``sub``, ``mul``, ``div``,
``fma``, ``convert``) computes the exact result and rounds it once.  No Python float
arithmetic is used anywhere in this module: a Python float only enters through
``float.as_integer_ratio``, which is exact.
"""

from dataclasses import dataclass
from fractions import Fraction
import functools
import math

from . import rounding as _rnd
from .errors import InvalidValueError, UnknownNameError


# ---------------------------------------------------------------------------------------------
# The table: a new format is a new row.
# specials:  'ieee'  E all ones: inf (M = 0) or NaN (M != 0)
#            'fn'    no inf; only S.1..1.1..1 is NaN (OFP8 E4M3)
#            'fnuz'  no inf, no -0; 0x80 (sign set, rest 0) is the only NaN
#            'none'  no inf, no NaN (MX fp6/fp4)
#            'e8m0'  unsigned powers of two 2^(E-127); no zero; all ones is NaN (MX scale)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FloatFormat:
    name: str
    exp_bits: int
    man_bits: int
    bias: int
    specials: str = "ieee"
    signed: bool = True
    source: str = "IEEE 754-2019"

    @property
    def width(self):
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def has_inf(self):
        return self.specials == "ieee"

    @property
    def has_nan(self):
        return self.specials != "none"

    @property
    def has_neg_zero(self):
        return self.signed and self.specials in ("ieee", "fn", "none")

    @property
    def emin(self):
        """Exponent of the smallest normal binade."""
        return -self.bias if self.specials == "e8m0" else 1 - self.bias

    @property
    def emax(self):
        """Exponent of the largest finite binade."""
        top = 2**self.exp_bits - 1
        if self.specials == "ieee" or self.specials == "e8m0":
            top -= 1
        return top - self.bias

    @property
    def max_finite(self):
        """Largest finite value (exact)."""
        mant = 2**self.man_bits - 1
        if self.specials == "fn":
            mant -= 1  # S.1111.111 is NaN, so the top mantissa code is not a number
        return Fraction(2**self.man_bits + mant, 2**self.man_bits) * _pow2(self.emax)

    @property
    def min_normal(self):
        return _pow2(self.emin)

    @property
    def min_subnormal(self):
        """Smallest positive value (e8m0 has no subnormals: its minimum is 2^-127)."""
        if self.specials == "e8m0":
            return _pow2(self.emin)
        return _pow2(self.emin - self.man_bits)


FORMATS = {f.name: f for f in [
    FloatFormat("fp64", 11, 52, 1023),
    FloatFormat("fp32", 8, 23, 127),
    FloatFormat("fp16", 5, 10, 15),
    FloatFormat("bf16", 8, 7, 127, source="bfloat16 (Google Brain); IEEE-style specials"),
    FloatFormat("fp8_e4m3fn", 4, 3, 7, "fn", source="OCP OFP8 rev 1.0 E4M3"),
    FloatFormat("fp8_e5m2", 5, 2, 15, source="OCP OFP8 rev 1.0 E5M2"),
    FloatFormat("fp8_e4m3fnuz", 4, 3, 8, "fnuz", source="ml_dtypes float8_e4m3fnuz / ONNX FLOAT8E4M3FNUZ"),
    FloatFormat("fp8_e5m2fnuz", 5, 2, 16, "fnuz", source="ml_dtypes float8_e5m2fnuz / ONNX FLOAT8E5M2FNUZ"),
    FloatFormat("fp6_e2m3", 2, 3, 1, "none", source="OCP MX v1.0 FP6 E2M3"),
    FloatFormat("fp6_e3m2", 3, 2, 3, "none", source="OCP MX v1.0 FP6 E3M2"),
    FloatFormat("fp4_e2m1", 2, 1, 1, "none", source="OCP MX v1.0 FP4 E2M1"),
    FloatFormat("e8m0", 8, 0, 127, "e8m0", signed=False, source="OCP MX v1.0 E8M0 scale"),
]}

ALIASES = {"float64": "fp64", "double": "fp64", "float32": "fp32", "float": "fp32",
           "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
           "float8_e4m3fn": "fp8_e4m3fn", "e4m3fn": "fp8_e4m3fn", "e4m3": "fp8_e4m3fn",
           "float8_e5m2": "fp8_e5m2", "e5m2": "fp8_e5m2",
           "float8_e4m3fnuz": "fp8_e4m3fnuz", "e4m3fnuz": "fp8_e4m3fnuz",
           "float8_e5m2fnuz": "fp8_e5m2fnuz", "e5m2fnuz": "fp8_e5m2fnuz",
           "float6_e2m3fn": "fp6_e2m3", "e2m3": "fp6_e2m3", "float6_e3m2fn": "fp6_e3m2", "e3m2": "fp6_e3m2",
           "float4_e2m1fn": "fp4_e2m1", "e2m1": "fp4_e2m1", "fp4": "fp4_e2m1",
           "float8_e8m0fnu": "e8m0", "fp8_e8m0": "e8m0"}

ROUNDINGS = {  # float rounding mode -> integer rounding of the signed scaled value
    "rne": "half_even",    # roundTiesToEven
    "rna": "half_away",    # roundTiesToAway
    "rtz": "toward_zero",  # roundTowardZero
    "rup": "ceil",         # roundTowardPositive
    "rdn": "floor",        # roundTowardNegative
}

OVERFLOWS = {
    "ieee": "IEEE 754 §7.4: ±inf, or ±max where the mode rounds toward zero; formats without inf "
            "give NaN (e4m3fn, fnuz, e8m0) or saturate (fp6, fp4, as OCP MX requires)",
    "saturate": "finite overflow and ±inf become ±max (ONNX saturate=1); NaN stays NaN; "
                "e8m0 (no zero) takes ±0 to its smallest code 0x00",
}


def get_format(fmt):
    """The ``FloatFormat`` named ``fmt`` (a name, an alias, or a FloatFormat)."""
    if isinstance(fmt, FloatFormat):
        return fmt
    try:
        return FORMATS[ALIASES.get(fmt, fmt)]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise UnknownNameError("float format", fmt, FORMATS) from None


def _pow2(e):
    return Fraction(2**e) if e >= 0 else Fraction(1, 2**-e)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Real:
    """An extended real: finite (exact magnitude, signed zero), infinite, or NaN."""
    kind: str                 # 'finite' | 'inf' | 'nan'
    sign: int = 0             # 1 = negative
    mag: Fraction = Fraction(0)
    quiet: bool = True        # NaN only
    payload: int = 0          # NaN only: trailing significand bits below the quiet bit

    @property
    def is_finite(self):
        return self.kind == "finite"

    @property
    def is_nan(self):
        return self.kind == "nan"

    @property
    def is_inf(self):
        return self.kind == "inf"

    @property
    def is_zero(self):
        return self.kind == "finite" and self.mag == 0

    @property
    def value(self):
        """The exact signed value as a Fraction (finite values only; -0 gives 0)."""
        if self.kind != "finite":
            raise InvalidValueError(f"{self} has no rational value; expected a finite number")
        return -self.mag if self.sign else self.mag

    def __str__(self):
        if self.kind == "nan":
            return ("-" if self.sign else "") + ("nan" if self.quiet else "snan")
        if self.kind == "inf":
            return "-inf" if self.sign else "inf"
        return ("-" if self.sign else "") + str(self.mag)


POS_INF = Real("inf", 0)
NEG_INF = Real("inf", 1)
NAN = Real("nan", 0)


def real(x):
    """An exact ``Real`` from int, Fraction, Python float (exact fp64 value), str or Real.

    Strings: decimal or fraction text ('0.1', '-3/8', '1e-3'), 'inf', '-inf', 'nan', '-0',
    or a C99 hex float ('0x1.8p-3'), all read exactly.
    """
    if isinstance(x, Real):
        return x
    if isinstance(x, bool):
        raise InvalidValueError(f"expected a number, got the boolean {x!r}")
    if isinstance(x, int):
        return Real("finite", int(x < 0), Fraction(abs(x)))
    if isinstance(x, Fraction):
        return Real("finite", int(x < 0), abs(x))
    if isinstance(x, float):
        if math.isnan(x):
            return Real("nan", int(math.copysign(1, x) < 0))
        if math.isinf(x):
            return NEG_INF if x < 0 else POS_INF
        n, d = x.as_integer_ratio()
        return Real("finite", int(math.copysign(1, x) < 0), Fraction(abs(n), d))
    if isinstance(x, str):
        return _parse(x)
    if getattr(getattr(x, "dtype", None), "kind", None) == "f" and getattr(x, "shape", None) == ():
        return real(float(x))  # a numpy / ml_dtypes float scalar: widening to fp64 is exact
    if getattr(getattr(x, "dtype", None), "kind", None) in ("i", "u") and getattr(x, "shape", None) == ():
        return real(int(x))
    raise InvalidValueError(f"expected a number (int, Fraction, float, str), got {x!r} of type {type(x).__name__}")


def _parse(text):
    s = text.strip().lower()
    sign = 1 if s.startswith("-") else 0
    body = s.lstrip("+-")
    if body in ("inf", "infinity"):
        return Real("inf", sign)
    if body == "nan":
        return Real("nan", sign)
    if body == "snan":
        return Real("nan", sign, quiet=False, payload=1)
    try:
        if body.startswith("0x"):
            mag = _parse_hex(body)
        else:
            mag = _parse_decimal(body)
    except (ValueError, ZeroDivisionError):
        raise InvalidValueError(f"cannot read {text!r} as a number; expected e.g. 0.1, -3/8, 1e-3, 0x1.8p-3, inf, nan") from None
    return Real("finite", sign, abs(mag))


# Text beyond 10^+-READ_EXP_LIMIT is read as exactly 10^+-READ_EXP_LIMIT: every format (fp64:
# 4.9e-324 .. 1.8e308) overflows or underflows such a value by thousands of orders of magnitude,
# so it encodes to the same code in every rounding mode and overflow policy, and '1e999999999'
# is answered at once instead of building a gigantic integer.
READ_EXP_LIMIT = 4000
READ_HUGE, READ_TINY = Fraction(10) ** READ_EXP_LIMIT, Fraction(1, 10 ** READ_EXP_LIMIT)


def _bounded(log2_estimate, build):
    """build() unless the value (log2 within +-1 of log2_estimate) lies beyond 10^+-READ_EXP_LIMIT."""
    if log2_estimate * 0.30103 > READ_EXP_LIMIT + 1:
        return READ_HUGE
    if log2_estimate * 0.30103 < -READ_EXP_LIMIT - 1:
        return READ_TINY
    return build()


def _parse_decimal(body):
    """Exact value of decimal or fraction text ('0.1', '3/8', '1e-3'; no sign), bounded as above."""
    mant, e, exp = body.partition("e")
    if not e or "/" in body:
        return Fraction(body)
    m, x = Fraction(mant), int(exp)
    if m == 0:
        return m
    return _bounded(x * 3.3219280948873626 + m.numerator.bit_length() - m.denominator.bit_length(),
                    lambda: m * Fraction(10) ** x)


def _parse_hex(body):
    """Exact value of a C99 hex float '0xH.HHHpE' (no sign), bounded as above."""
    mant, _, exp = body[2:].partition("p")
    whole, _, frac = mant.partition(".")
    digits = int(whole + frac, 16)      # '0x' or '0x.p1' without a digit is not a number
    x = int(exp or "0")
    if digits == 0:
        return Fraction(0)
    return _bounded(x + digits.bit_length() - 4 * len(frac),
                    lambda: Fraction(digits) / 16**len(frac) * _pow2(x))


# ---------------------------------------------------------------------------------------------
# Decode
# ---------------------------------------------------------------------------------------------

def _fields(fmt, bits):
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise InvalidValueError(f"bits must be an int, got {bits!r}")
    if not 0 <= bits < 2**fmt.width:
        raise InvalidValueError(f"bits 0x{bits:x} out of range for {fmt.name} ({fmt.width} bits: 0..0x{2**fmt.width - 1:x})"
                                if bits >= 0 else f"bits {bits} is negative; expected an unsigned {fmt.width}-bit pattern")
    m, e = fmt.man_bits, fmt.exp_bits
    sign = (bits >> (m + e)) & 1 if fmt.signed else 0
    return sign, (bits >> m) & (2**e - 1), bits & (2**m - 1)


def decode(fmt, bits):
    """The exact value of the bit pattern ``bits`` of format ``fmt``, as a ``Real``."""
    fmt = get_format(fmt)
    if fmt.width <= 16 and type(bits) is int and 0 <= bits < 2**fmt.width:  # not bool: True == 1 in the cache
        return _decode_small(fmt, bits)  # the same computation, remembered (Real is immutable)
    return _decode(fmt, bits)


@functools.lru_cache(maxsize=None)
def _decode_small(fmt, bits):
    return _decode(fmt, bits)


def _decode(fmt, bits):
    sign, E, M = _fields(fmt, bits)
    m, top = fmt.man_bits, 2**fmt.exp_bits - 1
    special = fmt.specials
    if special == "ieee" and E == top:
        if M == 0:
            return Real("inf", sign)
        quiet_bit = 2**(m - 1)
        return Real("nan", sign, quiet=bool(M & quiet_bit), payload=M & (quiet_bit - 1))
    if special == "fn" and E == top and M == 2**m - 1:
        return Real("nan", sign)
    if special == "fnuz" and sign == 1 and E == 0 and M == 0:
        return Real("nan", 1)
    if special == "e8m0":
        return Real("nan") if E == top else Real("finite", 0, _pow2(E - fmt.bias))
    if E == 0:  # zero or subnormal
        return Real("finite", sign, Fraction(M) * _pow2(fmt.emin - m))
    return Real("finite", sign, Fraction(2**m + M) * _pow2(E - fmt.bias - m))


def value_of(fmt, bits):
    """The exact signed value of a finite bit pattern, as a Fraction."""
    return decode(fmt, bits).value


def classify(fmt, bits):
    """One of 'zero', 'subnormal', 'normal', 'inf', 'nan' (with 'negative ' prefix when signed)."""
    fmt = get_format(fmt)
    v = decode(fmt, bits)
    if v.kind == "finite":
        if v.mag == 0:
            name = "zero"
        elif v.mag < fmt.min_normal:
            name = "subnormal"
        else:
            name = "normal"
    elif v.kind == "inf":
        name = "inf"
    else:
        name = ("quiet " if v.quiet else "signaling ") + "nan" if fmt.specials == "ieee" else "nan"
    return ("negative " if v.sign else "") + name


# ---------------------------------------------------------------------------------------------
# Encode
# ---------------------------------------------------------------------------------------------

def _pack(fmt, sign, E, M):
    return (sign << (fmt.exp_bits + fmt.man_bits) if fmt.signed else 0) | (E << fmt.man_bits) | M


def _nan_bits(fmt, sign):
    """Canonical NaN: quiet, payload 0, sign kept where the format allows."""
    if fmt.specials == "ieee":
        return _pack(fmt, sign, 2**fmt.exp_bits - 1, 2**(fmt.man_bits - 1))
    if fmt.specials == "fn":
        return _pack(fmt, sign, 2**fmt.exp_bits - 1, 2**fmt.man_bits - 1)
    if fmt.specials == "fnuz":
        return 1 << (fmt.width - 1)
    if fmt.specials == "e8m0":
        return 0xFF
    raise InvalidValueError(f"{fmt.name} has no NaN encoding; a NaN input cannot be encoded")


def _max_bits(fmt, sign):
    if fmt.specials == "e8m0":
        return 0xFE
    mant = 2**fmt.man_bits - 1 - (1 if fmt.specials == "fn" else 0)
    return _pack(fmt, sign, fmt.emax + fmt.bias, mant)


def _inf_bits(fmt, sign, overflow):
    """What 'infinity' becomes under the overflow policy."""
    if overflow == "saturate" or fmt.specials == "none":
        return _max_bits(fmt, sign)
    if fmt.specials == "ieee":
        return _pack(fmt, sign, 2**fmt.exp_bits - 1, 0)
    return _nan_bits(fmt, sign)  # fn, fnuz, e8m0: no inf, overflow is NaN


def _rounds_toward_zero(rnd, sign):
    return rnd == "rtz" or (rnd == "rup" and sign) or (rnd == "rdn" and not sign)


def floor_log2(a):
    """floor(log2(a)) for a positive Fraction, exactly (the binade of a: 2^e <= a < 2^(e+1))."""
    return _floor_log2_ratio(a.numerator, a.denominator)


def _floor_log2_ratio(n, d):
    e = n.bit_length() - d.bit_length()
    below = (n << -e) < d if e < 0 else n < (d << e)
    return e - 1 if below else e


def encode(fmt, x, rounding="rne", overflow="ieee"):
    """Bits of ``x`` in format ``fmt``, rounded once with ``rounding``, overflow per ``overflow``.

    Algorithm (float-formats.md §2): exponent e = floor(log2|x|) clamped below at emin, quantum
    q = 2^(e - m); N = round(x / q) with the mode (sign-aware for directed modes); a carry to
    2^(m+1) moves up a binade; N < 2^m is subnormal; a result beyond max finite overflows.
    """
    fmt = get_format(fmt)
    if rounding not in ROUNDINGS:
        raise UnknownNameError("rounding mode", rounding, ROUNDINGS)
    if overflow not in OVERFLOWS:
        raise UnknownNameError("overflow policy", overflow, OVERFLOWS)
    v = real(x)
    if v.kind == "nan":
        return _nan_bits(fmt, v.sign)
    if v.kind == "inf":
        if fmt.specials == "e8m0" and v.sign:
            return _nan_bits(fmt, 1)
        return _inf_bits(fmt, v.sign, overflow)
    if fmt.specials == "e8m0":
        return _encode_e8m0(fmt, v, rounding, overflow)
    n, d = v.mag.numerator, v.mag.denominator
    if n == 0:
        return _pack(fmt, v.sign if fmt.has_neg_zero else 0, 0, 0)
    m = fmt.man_bits
    e = max(_floor_log2_ratio(n, d), fmt.emin)
    shift = m - e  # |x| / 2^(e-m) = n * 2^shift / d, in [2^m, 2^(m+1)) for normals
    num, den = (n << shift, d) if shift >= 0 else (n, d << -shift)
    N = abs(_rnd.round_ratio(-num if v.sign else num, den, ROUNDINGS[rounding]))
    if N == 2**(m + 1):
        e, N = e + 1, 2**m
    if N == 0:
        return _pack(fmt, v.sign if fmt.has_neg_zero else 0, 0, 0)
    if e > fmt.emax or (e == fmt.emax and N > _max_significand(fmt)):
        if overflow == "saturate" or _rounds_toward_zero(rounding, v.sign):
            return _max_bits(fmt, v.sign)
        return _inf_bits(fmt, v.sign, overflow)
    if N < 2**m:
        return _pack(fmt, v.sign, 0, N)
    return _pack(fmt, v.sign, e + fmt.bias, N - 2**m)


def _max_significand(fmt):
    """Integer significand (with the implicit bit) of the largest finite value."""
    return 2**(fmt.man_bits + 1) - 1 - (1 if fmt.specials == "fn" else 0)


def _encode_e8m0(fmt, v, rnd, overflow):
    """E8M0: unsigned powers of two 2^-127..2^127, no zero (OCP MX v1.0 §5.4).

    Zero and negative inputs have no code and give NaN (0xff), as ml_dtypes does; under
    ``saturate`` (ONNX Cast saturate=1) ±0 gives the smallest code 0x00, as the Cast-25 table says
    and as onnx 1.21.0 and torch 2.13.0 do.  Positive values below 2^-127 give 2^-127 (0x00).
    Rounding is in the linear domain between neighbouring powers of two; under RNE a tie (1.5·2^k)
    goes up, because 2^(k+1) has the even (zero) mantissa.
    """
    # Reproduces: OCP MX v1.0 E8M0; ONNX Cast-25 FLOAT8E8M0 table (saturate: 0 -> E8M0_MIN)
    if v.mag == 0 and overflow == "saturate":
        return 0x00
    if v.sign or v.mag == 0:
        return _nan_bits(fmt, 0)
    e = floor_log2(v.mag)
    if e < fmt.emin:
        return 0
    N = _rnd.round_to_int(v.mag / _pow2(e), ROUNDINGS[rnd])  # 1 or 2 (mag/2^e is in [1, 2))
    e += N - 1
    if e > fmt.emax:
        return 0xFE if overflow == "saturate" or rnd in ("rtz", "rdn") else 0xFF
    return e + fmt.bias


def round_to(fmt, x, rounding="rne", overflow="ieee"):
    """``x`` rounded into ``fmt``, as a ``Real`` (decode of encode)."""
    return decode(fmt, encode(fmt, x, rounding, overflow))


def representable(fmt, x):
    """True if ``x`` (any number or Real) is exactly a value of ``fmt`` (NaN: if fmt has NaN)."""
    v = real(x)
    fmt = get_format(fmt)
    if v.kind == "nan":
        return fmt.has_nan
    if v.kind == "inf":
        return fmt.has_inf
    try:
        back = round_to(fmt, v, "rtz")
    except InvalidValueError:
        return False
    return back.kind == "finite" and back.value == v.value and (back.sign == v.sign or not fmt.has_neg_zero)


def exact(fmt, x):
    """``x`` as a ``Real``, checked to be exactly representable in ``fmt`` (raises otherwise)."""
    v = real(x)
    if not representable(fmt, v):
        raise InvalidValueError(f"{x!r} is not exactly representable in {get_format(fmt).name}; "
                                f"the nearest value is {round_to(fmt, v)}")
    return v


# ---------------------------------------------------------------------------------------------
# Correctly rounded arithmetic: exact result, one rounding (IEEE 754-2019 §5.4, §6)
# ---------------------------------------------------------------------------------------------

def _zero_sum_sign(sa, sb, rnd):
    """Sign of an exact zero sum (§6.3): the common sign, else +0 (-0 under rdn)."""
    if sa == sb:
        return sa
    return 1 if rnd == "rdn" else 0


def _add_exact(a, b, rnd):
    """Exact a + b for two Reals (specials per IEEE), unrounded."""
    if a.is_nan or b.is_nan:
        return NAN
    if a.is_inf or b.is_inf:
        if a.is_inf and b.is_inf and a.sign != b.sign:
            return NAN  # inf - inf: invalid
        return a if a.is_inf else b
    total = a.value + b.value
    if total == 0:
        return Real("finite", _zero_sum_sign(a.sign, b.sign, rnd) if a.is_zero and b.is_zero
                    else (1 if rnd == "rdn" else 0))
    return real(total)


def _mul_exact(a, b):
    sign = a.sign ^ b.sign
    if a.is_nan or b.is_nan:
        return NAN
    if a.is_inf or b.is_inf:
        if a.is_zero or b.is_zero:
            return NAN  # 0 * inf: invalid
        return Real("inf", sign)
    return Real("finite", sign, a.mag * b.mag)


def _finish(fmt, v, rnd, overflow):
    if v.is_nan:
        return _nan_bits(get_format(fmt), 0)
    return encode(fmt, v, rnd, overflow)


def add(fmt, a, b, rounding="rne", overflow="ieee"):
    """Bits of fl(a + b) in ``fmt``.  a, b: Reals or exact numbers (of any format)."""
    return _finish(fmt, _add_exact(real(a), real(b), rounding), rounding, overflow)


def sub(fmt, a, b, rounding="rne", overflow="ieee"):
    """Bits of fl(a - b)."""
    b = real(b)
    return add(fmt, a, Real(b.kind, 1 - b.sign, b.mag, b.quiet, b.payload), rounding, overflow)


def mul(fmt, a, b, rounding="rne", overflow="ieee"):
    """Bits of fl(a * b)."""
    return _finish(fmt, _mul_exact(real(a), real(b)), rounding, overflow)


def div(fmt, a, b, rounding="rne", overflow="ieee"):
    """Bits of fl(a / b); x/0 is ±inf (divide by zero), 0/0 and inf/inf are NaN."""
    a, b = real(a), real(b)
    sign = a.sign ^ b.sign
    if a.is_nan or b.is_nan or (a.is_inf and b.is_inf) or (a.is_zero and b.is_zero):
        q = NAN
    elif a.is_inf or b.is_zero:
        q = Real("inf", sign)
    elif b.is_inf:
        q = Real("finite", sign)
    else:
        q = Real("finite", sign, a.mag / b.mag)
    return _finish(fmt, q, rounding, overflow)


def fma(fmt, a, b, c, rounding="rne", overflow="ieee"):
    """Bits of fl(a * b + c), rounded once (IEEE fusedMultiplyAdd)."""
    return _finish(fmt, _add_exact(_mul_exact(real(a), real(b)), real(c), rounding), rounding, overflow)


def convert(fmt, x, rounding="rne", overflow="ieee"):
    """Bits of ``x`` (a Real decoded from any format, or an exact number) in ``fmt``."""
    return encode(fmt, x, rounding, overflow)


def fl(fmt, x, rounding="rne"):
    """Shorthand used by backend profiles: ``x`` rounded into ``fmt`` as a Real."""
    return round_to(fmt, x, rounding)


BINARY = {"fp16": (11, -14, 15), "fp32": (24, -126, 127), "fp64": (53, -1022, 1023)}   # (p, emin, emax)


def round_binary(fmt, x):
    """``x`` (exact) rounded to fp16 / fp32 / fp64 with RNE: a Fraction, or float +-inf on overflow.
    The fast form of ``round_to(fmt, x).value`` (no bit pattern built) that every backend model's
    binary32 / binary64 step uses (``requant.fl``); tests/test_formats.py proves them equal."""
    # Reproduces: IEEE 754-2019 §4.3.1 roundTiesToEven, §7.4 overflow to infinity
    p, emin, emax = BINARY[fmt]
    x = Fraction(x)
    if x == 0:
        return Fraction(0)
    n, d = abs(x.numerator), x.denominator
    e = _floor_log2_ratio(n, d)                   # 2^e <= |x| < 2^(e+1)
    q = max(e, emin) - (p - 1)                    # the quantum is 2^q
    num, den = (n, d << q) if q >= 0 else (n << -q, d)
    N, rem = divmod(num, den)
    if 2 * rem > den or (2 * rem == den and N % 2 == 1):
        N += 1
    mag = Fraction(N) * Fraction(2) ** q
    if mag > Fraction(2**p - 1) * Fraction(2) ** (emax - p + 1):
        return float("inf") if x > 0 else float("-inf")
    return mag if x > 0 else -mag


# ---------------------------------------------------------------------------------------------
# Neighbours and the format table (CLI helpers)
# ---------------------------------------------------------------------------------------------

def next_up(fmt, bits):
    """Bits of the next larger value (None at +inf/NaN or the largest finite without inf)."""
    fmt = get_format(fmt)
    v = decode(fmt, bits)
    if v.is_nan or (v.is_inf and not v.sign):
        return None
    if v.is_inf:
        return _max_bits(fmt, 1)
    if v.value >= fmt.max_finite:
        return _pack(fmt, 0, 2**fmt.exp_bits - 1, 0) if fmt.has_inf else None
    return encode(fmt, v.value + _step(fmt, v), "rup")


def next_down(fmt, bits):
    """Bits of the next smaller value (None at -inf/NaN or the most negative finite)."""
    fmt = get_format(fmt)
    v = decode(fmt, bits)
    if v.is_nan or (v.is_inf and v.sign):
        return None
    if v.is_inf:
        return _max_bits(fmt, 0)
    low = -fmt.max_finite if fmt.signed else fmt.min_subnormal
    if v.value <= low:
        return (_pack(fmt, 1, 2**fmt.exp_bits - 1, 0) if fmt.has_inf else None)
    return encode(fmt, v.value - _step(fmt, v), "rdn")


def _step(fmt, v):
    """A positive step below half an ulp at v, so that directed rounding of v ± step gives a neighbour."""
    return fmt.min_subnormal / 2 if v.value == 0 else min(abs(v.value), fmt.min_normal) * _pow2(-fmt.man_bits - 2)


def format_table():
    """Rows describing every format (for ``refquant formats``)."""
    rows = []
    for f in FORMATS.values():
        specials = {"ieee": "±inf, NaN (E all ones)", "fn": "NaN = S.1111.111 only; no inf",
                    "fnuz": "NaN = 0x80 only; no inf, no -0", "none": "none (saturating)",
                    "e8m0": "NaN = 0xff; no zero, no sign"}[f.specials]
        rows.append({"name": f.name, "bits": f.width, "layout": f"{int(f.signed)}/{f.exp_bits}/{f.man_bits}",
                     "bias": f.bias, "max": f.max_finite, "min_normal": f.min_normal,
                     "min_subnormal": f.min_subnormal, "specials": specials, "source": f.source})
    return rows


def to_decimal(x, digits=17):
    """A decimal rendering with at most ``digits`` significant digits, for humans only."""
    x = Fraction(x)
    if x == 0:
        return "0"
    sign, x = ("-" if x < 0 else ""), abs(x)
    e = _floor_log10(x)
    n = _rnd.half_even(x * Fraction(10) ** (digits - 1 - e))
    if n >= 10**digits:  # rounding carried into a new digit
        n, e = n // 10, e + 1
    s = str(n).rstrip("0")
    if not -7 <= e < 21:
        return f"{sign}{s[0]}{'.' + s[1:] if len(s) > 1 else ''}e{e:+d}"
    if e >= len(s) - 1:
        return sign + s + "0" * (e - len(s) + 1)
    if e >= 0:
        return sign + s[:e + 1] + "." + s[e + 1:]
    return sign + "0." + "0" * (-e - 1) + s


def _floor_log10(x):
    e = len(str(x.numerator)) - len(str(x.denominator))
    while Fraction(10) ** e > x:
        e -= 1
    while Fraction(10) ** (e + 1) <= x:
        e += 1
    return e
