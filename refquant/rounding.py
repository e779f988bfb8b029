"""Rounding an exact rational to an integer: one tiny function per mode, chosen by name.

Every function takes a ``Fraction`` (or ``int``) and returns an ``int``.  A tie is decided
exactly, as ``Fraction.__round__`` does: ``2 * remainder == denominator``.

    half_even    ties to even (IEEE roundTiesToEven; numpy rint, C nearbyint)
    half_away    ties away from zero (C round, std::round, TFLite reference quantize)
    half_up      ties toward +inf (floor(x + 1/2); TOSA SINGLE_ROUND, ruy, XNNPACK rndnu)
    half_down    ties toward -inf (ceil(x - 1/2))
    toward_zero  truncation (C cast, int())
    floor        toward -inf
    ceil         toward +inf
    stochastic   up with probability frac(x), reproducible from (seed, index); see below
"""

from fractions import Fraction

from .errors import InvalidValueError, UnknownNameError


def _as_fraction(x):
    if isinstance(x, Fraction):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        return Fraction(x)
    raise InvalidValueError(f"expected an exact rational (int or Fraction), got {x!r} of type {type(x).__name__}")


# Each mode on the exact quotient num/den (den > 0), written on q = floor(num/den), the remainder
# r = num - q*den in [0, den), and cmp = sign(2r - den) (-1 below the half, 0 a tie, +1 above).
_ON_QUOTIENT = {
    "half_even": lambda q, r, cmp: q + (cmp > 0 or (cmp == 0 and q % 2 == 1)),
    "half_away": lambda q, r, cmp: q + (cmp > 0 or (cmp == 0 and q >= 0)),
    "half_up": lambda q, r, cmp: q + (cmp >= 0),
    "half_down": lambda q, r, cmp: q + (cmp > 0),
    "toward_zero": lambda q, r, cmp: q + (r != 0 and q < 0),
    "floor": lambda q, r, cmp: q,
    "ceil": lambda q, r, cmp: q + (r != 0),
}


def round_ratio(num, den, mode="half_even"):
    """Round the exact quotient num/den (ints, den > 0) with a deterministic mode."""
    q, r = divmod(num, den)
    twice = 2 * r
    try:
        rule = _ON_QUOTIENT[mode]
    except KeyError:
        raise UnknownNameError("rounding mode", mode, _ON_QUOTIENT) from None
    return int(rule(q, r, (twice > den) - (twice < den)))


def _ratio(x):
    x = _as_fraction(x)
    return x.numerator, x.denominator


def floor(x):
    """Largest integer <= x."""
    return round_ratio(*_ratio(x), "floor")


def ceil(x):
    """Smallest integer >= x."""
    return round_ratio(*_ratio(x), "ceil")


def toward_zero(x):
    """Drop the fraction (C truncation)."""
    return round_ratio(*_ratio(x), "toward_zero")


def half_even(x):
    """Nearest integer, ties to even.  # IEEE 754-2019 roundTiesToEven"""
    return round_ratio(*_ratio(x), "half_even")


def half_away(x):
    """Nearest integer, ties away from zero.  # IEEE 754-2019 roundTiesToAway; C round()"""
    return round_ratio(*_ratio(x), "half_away")


def half_up(x):
    """Nearest integer, ties toward +inf: floor(x + 1/2).  # TOSA SINGLE_ROUND, ruy"""
    return round_ratio(*_ratio(x), "half_up")


def half_down(x):
    """Nearest integer, ties toward -inf: ceil(x - 1/2)."""
    return round_ratio(*_ratio(x), "half_down")


# ---------------------------------------------------------------------------------------------
# Reproducible stochastic rounding
#
# u = stochastic_uniform32(seed, index) is a 32-bit integer from the SplitMix64 finaliser
# (Steele, Lea, Flood 2014) applied to the 64-bit word  (seed * 2^32 + index) mod 2^64,
# keeping the high 32 bits of the result.  x rounds up  iff  u < frac(x) * 2^32,
# i.e. iff  u * den < frac_num * 2^32  exactly.  So P(up) = ceil(frac * 2^32) / 2^32, which is
# frac exactly whenever frac has at most 32 fractional bits.  Integers never change.
# In C:  z = ((uint64_t)seed << 32) + index;  z += 0x9E3779B97F4A7C15;
#        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
#        z ^= z >> 31;  u = (uint32_t)(z >> 32);
# ---------------------------------------------------------------------------------------------

_MASK64 = (1 << 64) - 1


def stochastic_uniform32(seed, index):
    """The documented counter-based 32-bit draw for element ``index`` under ``seed``."""
    if not (0 <= seed < 2**32 and 0 <= index < 2**32):
        raise InvalidValueError(f"stochastic rounding needs 0 <= seed, index < 2**32, got seed={seed!r}, index={index!r}")
    z = ((seed << 32) + index) & _MASK64
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return z >> 32


def stochastic(x, seed=0, index=0):
    """Round down or up, up with probability frac(x), reproducibly from (seed, index)."""
    x = _as_fraction(x)
    q, r = divmod(x.numerator, x.denominator)
    if r == 0:
        return q
    u = stochastic_uniform32(seed, index)
    return q + 1 if u * x.denominator < r * 2**32 else q


MODES = {
    "half_even": half_even,
    "half_away": half_away,
    "half_up": half_up,
    "half_down": half_down,
    "toward_zero": toward_zero,
    "floor": floor,
    "ceil": ceil,
    "stochastic": stochastic,
}


def get_mode(name):
    """The rounding function called ``name`` (see ``MODES``)."""
    try:
        return MODES[name]
    except (KeyError, TypeError):
        raise UnknownNameError("rounding mode", name, MODES) from None


def round_to_int(x, mode="half_even", seed=0, index=0):
    """Round the exact rational ``x`` to an integer with the named mode."""
    if mode == "stochastic":
        return stochastic(x, seed, index)
    return get_mode(mode)(x)
