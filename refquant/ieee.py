"""IEEE 754 binary floating-point arithmetic as exact values: each operation is the exact result
rounded once to the named format with round-to-nearest-even (IEEE 754-2019 §4.3.1, §5.4.1, §5.4.2).

Values are Fractions (and ints); the non-finite values are the Python floats INF, -INF and NAN,
which are only compared or passed through the operations below, never computed with.  Subnormals
are kept (no flush to zero).  The rounding itself is formats.round_binary, the fast form of
formats.round_to (one correctly rounded rounding in the package).

    fl("fp32", Fraction(1, 3))        # the binary32 value nearest 1/3
    fmul("fp32", a, b), fadd("fp16", a, b), fdiv("fp64", a, b), ffma("fp32", a, b, c)
"""

from fractions import Fraction

from . import formats

INF = float("inf")  # the value of an overflowed fl(); only compared, or passed through f* below
NAN = float("nan")  # the value of an invalid operation (0*inf, inf-inf, 0/0); never computed with


# name -> (precision p including the hidden bit, emin, emax): the formats' own table
BINARY = formats.BINARY


def fl(fmt, x):
    """x (an exact rational, or INF/-INF/NAN) rounded to the IEEE binary format ``fmt`` with RNE.

    Returns a Fraction, or +-INF when the rounded magnitude exceeds the largest finite value
    (IEEE overflow under round-to-nearest).  Subnormals are kept (no flush).  The rounding is
    formats.round_binary, the fast form of formats.round_to (one correctly rounded rounding).
    """
    if is_special(x):
        return x                                  # NaN and +-inf are values of every binary format
    return formats.round_binary(fmt, x)


def fl32(x):
    """fl(x) in binary32."""
    return fl("fp32", x)


def fl64(x):
    """fl(x) in binary64."""
    return fl("fp64", x)


def is_special(x):
    """True for the non-finite values of the float model: INF, -INF and NAN."""
    return isinstance(x, float) and (x != x or x in (INF, -INF))


def _signed_inf(positive):
    return INF if positive else -INF


def _xmul(a, b):
    """a*b exactly, IEEE 754 specials included: inf*0 is NaN, inf*x has the product's sign."""
    if a != a or b != b:
        return NAN
    if a in (INF, -INF) or b in (INF, -INF):
        return NAN if a == 0 or b == 0 else _signed_inf((a > 0) == (b > 0))
    return a * b


def _xadd(a, b):
    """a+b exactly, IEEE 754 specials included: inf + -inf is NaN."""
    if a != a or b != b or (a in (INF, -INF) and b == -a):
        return NAN
    if a in (INF, -INF) or b in (INF, -INF):
        return a if a in (INF, -INF) else b
    return a + b


def _xdiv(a, b):
    """a/b exactly, IEEE 754 specials included.  Every divisor here is a scale or a quantity
    derived from positive scales, so a zero divisor is +0 (an underflow): x/0 = inf of x's sign."""
    if a != a or b != b or (a == 0 and b == 0) or (a in (INF, -INF) and b in (INF, -INF)):
        return NAN
    if b == 0 or a in (INF, -INF):
        return _signed_inf((a > 0) == (b >= 0))
    if b in (INF, -INF):
        return Fraction(0)
    return Fraction(a) / b


def fmul(fmt, a, b):
    """fl(a*b) in ``fmt`` with IEEE specials (a, b: Fractions, ints, INF, -INF or NAN)."""
    return fl(fmt, _xmul(a, b))


def fadd(fmt, a, b):
    """fl(a+b) in ``fmt`` with IEEE specials."""
    return fl(fmt, _xadd(a, b))


def fdiv(fmt, a, b):
    """fl(a/b) in ``fmt`` with IEEE specials (b >= 0: see _xdiv)."""
    return fl(fmt, _xdiv(a, b))


def ffma(fmt, a, b, c):
    """fl(a*b + c), one rounding (fused multiply-add), with IEEE specials."""
    return fl(fmt, _xadd(_xmul(a, b), c))


def f32_bits(x):
    """The binary32 bit pattern of an exactly representable value x."""
    return formats.encode("fp32", formats.exact("fp32", x))
