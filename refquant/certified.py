"""Certified transcendentals: exp, log, tanh, the logistic function, erf and GELU with a proven error bound.

An activation's *ideal* value is a transcendental function of an exact rational; its last bits
on a backend depend on how that backend evaluates it.  This module gives the spec layer what it
needs to be exact about both:

* ``enclose(fn, x)`` -- an interval [lo, hi] of Fractions that provably contains fn(x), as tight
  as asked.  It is built on the stdlib ``decimal`` module, whose ``exp`` and ``ln`` are
  correctly rounded ("The result is correctly rounded using the ROUND_HALF_EVEN rounding mode",
  Python 3 docs, decimal.Decimal.exp / ln).  A result r at precision P digits is therefore
  within half a unit in its last digit: |r - f(x)| <= 10^(adjusted(r) - P + 1) / 2, and we use
  the whole unit, 10^(adjusted(r) - P + 1), as the radius.  The operand is exact: a Fraction with
  a power-of-two (or power-of-ten) denominator has a finite decimal expansion, and decimal
  rounds only results, never operands.  tanh and the logistic are monotone in e = exp(-2x) and
  exp(-x): their enclosures are the images of the exp enclosure's ends (exact rationals).  erf and
  GELU(x) = x/2 (1 + erf(x/sqrt 2)) come from the positive series erf(y) = 2/sqrt(pi) exp(-y^2)
  sum 2^n y^(2n+1) / (2n+1)!!, its tail bounded by a geometric series, with pi enclosed by
  Machin's formula (alternating arctan series) and the square root by decimal's correctly
  rounded sqrt.
* ``round_nearest(fn, x, fmt)`` -- fn(x) correctly rounded (RNE) to a binary format: precision is
  raised until the enclosure lies strictly inside one rounding interval (fn(x) is irrational
  for every rational x other than the exact points handled first, so this terminates).
* ``candidates(fn, x, fmt, ulp_bound)`` -- every value of ``fmt`` that a libm whose documented
  error bound is ``ulp_bound`` ulps may return: all y with |y - fn(x)| <= ulp_bound * ulp(fn(x)),
  the correctly rounded one first.  ``fp32_candidates`` takes binary32 bit patterns.
* ``ImplementationDefined`` -- the value type an op returns when its output depends on which of
  those candidates a backend's libm returns: the candidates, the one the correctly rounded
  evaluation gives first, and the reason.  Never a tolerance, never a silent pick.

Stdlib only (docs/architecture.md).
"""

import decimal
from dataclasses import dataclass
from fractions import Fraction

from .errors import InvalidValueError, UnknownNameError
from .ieee import BINARY, fl

FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "erf", "gelu")
_MAX_DIGITS = 4000   # a guard: no enclosure in this package needs more than ~100 digits


@dataclass(frozen=True)
class ImplementationDefined:
    """An output that depends on an implementation choice the modelled source leaves open.

    ``candidates`` are the possible outputs (ints or Fractions), the value a correctly rounded
    evaluation gives first; ``why`` names the choice (e.g. "expf within 1 ulp").
    """
    candidates: tuple
    why: str

    @property
    def first(self):
        """The value under correctly rounded evaluation (the first candidate)."""
        return self.candidates[0]

    def __contains__(self, value):
        return value in self.candidates


def resolve(values, why):
    """One value if ``values`` (correctly rounded one first) holds one distinct value, else
    an ``ImplementationDefined`` listing them in order of first appearance."""
    seen = tuple(dict.fromkeys(values))
    return seen[0] if len(seen) == 1 else ImplementationDefined(seen, why)


def possible(result):
    """The set of values ``result`` (a plain value or an ``ImplementationDefined``) allows."""
    return set(result.candidates) if isinstance(result, ImplementationDefined) else {result}


def _check_fn(fn):
    if fn not in FUNCTIONS:
        raise UnknownNameError("certified function", fn, FUNCTIONS)


def _as_fraction(x):
    if isinstance(x, bool) or not isinstance(x, (int, Fraction)):
        raise InvalidValueError(f"x must be an exact int or Fraction, got {x!r}")
    return Fraction(x)


def _decimal_bounds(x, digits):
    """Decimals (a, b) with a <= x <= b: x itself twice where its expansion is finite (a
    denominator 2^i * 5^j, every binary float), else x truncated to enough digits and one unit up."""
    d = x.denominator
    twos = (d & -d).bit_length() - 1
    rest, fives = d >> twos, 0
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    k = max(twos, fives) if rest == 1 else digits + 10 + max(0, len(str(abs(x.numerator) // d)))
    low = (x.numerator * 10**k) // d
    ctx = decimal.Context(prec=len(str(abs(low))) + 5)
    a = decimal.Decimal(low).scaleb(-k, ctx)
    return (a, a) if rest == 1 else (a, decimal.Decimal(low + 1).scaleb(-k, ctx))


def _decimal_enclosure(op, x, digits):
    """[lo, hi] containing op(x) for the increasing op in {'exp', 'ln'}: correctly rounded
    results at the ends of x's decimal bounds, each widened by one unit in the last digit."""
    ctx = decimal.Context(prec=digits, rounding=decimal.ROUND_HALF_EVEN, Emax=10**9, Emin=-10**9)
    ends = []
    for xd in _decimal_bounds(x, digits):
        r = getattr(ctx, op)(xd)
        ends.append((Fraction(r), Fraction(10) ** (r.adjusted() - digits + 1)))
    return ends[0][0] - ends[0][1], ends[1][0] + ends[1][1]


def _arctan_inv(k, terms):
    """[lo, hi] containing arctan(1/k) (k >= 2): an alternating series of decreasing terms."""
    s, t = Fraction(0), Fraction(1, k)
    for n in range(terms):
        s += (-1) ** n * t / (2 * n + 1)
        t /= k * k
    nxt = t / (2 * terms + 1)
    return (s - nxt, s) if terms % 2 == 0 else (s, s + nxt)


def _sqrt_enclosure(lo, hi, digits):
    """[a, b] with a <= sqrt(lo) and sqrt(hi) <= b (0 < lo <= hi), from correctly rounded decimal sqrt."""
    ctx = decimal.Context(prec=digits, rounding=decimal.ROUND_HALF_EVEN)
    out = []
    for v, sign in ((lo, -1), (hi, 1)):
        vd = _decimal_bounds(v, digits)[0 if sign < 0 else 1]
        r = ctx.sqrt(vd)
        out.append(Fraction(r) + sign * Fraction(10) ** (r.adjusted() - digits + 1))
    return out[0], out[1]


def _sqrt_2_over_pi(digits):
    """[lo, hi] containing sqrt(2/pi); pi = 16 arctan(1/5) - 4 arctan(1/239) (Machin)."""
    terms = digits // 2 + 5
    a_lo, a_hi = _arctan_inv(5, terms)
    b_lo, b_hi = _arctan_inv(239, terms)
    pi_lo, pi_hi = 16 * a_lo - 4 * b_hi, 16 * a_hi - 4 * b_lo
    return _sqrt_enclosure(2 / pi_hi, 2 / pi_lo, digits + 5)


def _erf_series(x, digits):
    """[lo, hi] containing sum_n x^(2n+1) / (2n+1)!! for x > 0: partial sums, then the tail
    bounded by a geometric series once the term ratio x^2 / (2n+3) is at most 1/2."""
    s, t, n, x2 = Fraction(0), x, 0, x * x
    eps = Fraction(1, 10 ** (digits + 5))
    while True:
        s += t
        ratio = x2 / (2 * n + 3)
        t = t * ratio
        n += 1
        if ratio <= Fraction(1, 2) and 2 * t <= eps * s:
            return s, s + 2 * t


def _erf_scaled(x, digits):
    """[lo, hi] containing erf(x / sqrt 2) for a rational x > 0: sqrt(2/pi) exp(-x^2/2) times the
    series; where exp(-x^2/2) is below 10^-(digits+10), the bound 0 < erfc(y) < exp(-y^2) / (y sqrt pi)
    (y = x / sqrt 2, i.e. sqrt(2/pi) exp(-x^2/2) / x) instead of the long series."""
    c_lo, c_hi = _sqrt_2_over_pi(digits)
    e_lo, e_hi = _decimal_enclosure("exp", -x * x / 2, digits)
    if x * x / 2 > Fraction(23, 10) * (digits + 10):
        return 1 - c_hi * e_hi / x, Fraction(1)
    s_lo, s_hi = _erf_series(x, digits)
    return max(c_lo * max(e_lo, Fraction(0)) * s_lo, Fraction(0)), min(c_hi * e_hi * s_hi, Fraction(1))


def _enclose_erf_gelu(fn, x, digits):
    """GELU(x) = x/2 (1 + erf(x / sqrt 2)); erf(x) = erf_scaled(x sqrt 2) with sqrt 2 enclosed
    (erf_scaled increases with its argument); both through erf's odd symmetry."""
    if fn == "gelu":
        lo, hi = _erf_scaled(abs(x), digits)
        lo, hi = (lo, hi) if x > 0 else (-hi, -lo)
        ends = (x / 2 * (1 + lo), x / 2 * (1 + hi))
        return min(ends), max(ends)
    r_lo, r_hi = _sqrt_enclosure(Fraction(2), Fraction(2), digits + 5)
    lo, hi = _erf_scaled(abs(x) * r_lo, digits)[0], _erf_scaled(abs(x) * r_hi, digits)[1]
    return (lo, hi) if x > 0 else (-hi, -lo)


def enclose(fn, x, digits=40):
    """An interval (lo, hi) of Fractions with lo <= fn(x) <= hi, from ``digits``-digit decimal.

    Exact points return lo == hi: exp(0) = 1, log(1) = 0, tanh(0) = 0, sigmoid(0) = 1/2, erf(0) =
    gelu(0) = 0.
    """
    # Reproduces: the mathematical functions; decimal exp/ln correctly rounded (Python decimal docs)
    _check_fn(fn)
    x = _as_fraction(x)
    if fn == "log":
        if x <= 0:
            raise InvalidValueError(f"log needs x > 0, got {x}")
        return (Fraction(0),) * 2 if x == 1 else _decimal_enclosure("ln", x, digits)
    if x == 0:
        return {"exp": (Fraction(1),) * 2, "tanh": (Fraction(0),) * 2, "sigmoid": (Fraction(1, 2),) * 2,
                "erf": (Fraction(0),) * 2, "gelu": (Fraction(0),) * 2}[fn]
    if fn in ("erf", "gelu"):
        return _enclose_erf_gelu(fn, x, digits)
    if fn == "exp":
        return _decimal_enclosure("exp", x, digits)
    if fn == "sigmoid":          # 1 / (1 + e), e = exp(-x): decreasing in e
        elo, ehi = _decimal_enclosure("exp", -x, digits)
        return 1 / (1 + ehi), 1 / (1 + max(elo, Fraction(0)))
    elo, ehi = _decimal_enclosure("exp", -2 * x, digits)    # tanh = (1 - e) / (1 + e)
    elo = max(elo, Fraction(0))
    return (1 - ehi) / (1 + ehi), (1 - elo) / (1 + elo)


def _ulp(fmt, v):
    """The spacing of ``fmt`` at the real v: 2^(max(e, emin) - p + 1), 2^e <= |v| < 2^(e+1)."""
    p, emin, _ = BINARY[fmt]
    a = abs(v)
    if a == 0:
        return Fraction(2) ** (emin - p + 1)
    n, d = a.numerator, a.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(0, -e)) < (d << max(0, e)):
        e -= 1
    return Fraction(2) ** (max(e, emin) - p + 1)


def _next_up(fmt, y):
    """The next value of ``fmt`` above the value y (finite range only)."""
    if y >= 0:
        return y + _ulp(fmt, y)
    a, step = -y, _ulp(fmt, -y)
    _, emin, _ = BINARY[fmt]
    n, d = a.numerator, a.denominator
    if d & (d - 1) == 0 and n & (n - 1) == 0 and a > Fraction(2) ** emin:
        step /= 2                 # |y| a power of two: the binade below is twice as fine
    return y + step


def _floats_in(fmt, lo, hi):
    """Every finite value of ``fmt`` in [lo, hi] (a short range: a few ulps)."""
    out = []
    y = _round_up(fmt, lo)
    while y <= hi:
        out.append(y)
        y = _next_up(fmt, y)
    return out


def _round_up(fmt, v):
    """The smallest value of ``fmt`` >= v (finite range only)."""
    r = fl(fmt, v)
    return r if r >= v else _next_up(fmt, r)


def refine_digits(decide):
    """decide(digits) with digits = 30, 60, 120, ... until it returns a result (not None)."""
    digits = 30
    while digits <= _MAX_DIGITS:
        got = decide(digits)
        if got is not None:
            return got
        digits *= 2
    raise InvalidValueError(f"no decision within {_MAX_DIGITS} digits")


def refine(fn, x, decide):
    """decide(lo, hi) on ever tighter enclosures of fn(x) until it returns a result (not None).

    fn(x) is irrational except at the exact points (where lo == hi), so a decision that only
    fails when a rounding boundary lies inside [lo, hi] is reached at some precision.
    """
    return refine_digits(lambda digits: decide(*enclose(fn, x, digits)))


def round_nearest(fn, x, fmt="fp32"):
    """fn(x) correctly rounded (RNE) to the binary format ``fmt`` ('fp16', 'fp32', 'fp64')."""
    # Reproduces: IEEE 754-2019 §9.2 recommended correctly rounded operations (exp, log, tanh)
    if fmt not in BINARY:
        raise UnknownNameError("binary format", fmt, BINARY)
    return refine(fn, x, lambda lo, hi: fl(fmt, lo) if fl(fmt, lo) == fl(fmt, hi) else None)


def candidates(fn, x, fmt="fp32", ulp_bound=1):
    """Every ``fmt`` value within ``ulp_bound`` ulps of fn(x), the correctly rounded one first.

    ulp(v) is the spacing of ``fmt`` in v's binade (``_ulp``).  A libm documented to err by at
    most ``ulp_bound`` ulps may return any of these and nothing else.
    """
    # Reproduces: the ulp error bounds libms document (glibc manual "Errors in Math Functions")
    if fmt not in BINARY:
        raise UnknownNameError("binary format", fmt, BINARY)
    if isinstance(ulp_bound, bool) or not isinstance(ulp_bound, (int, Fraction)) or ulp_bound < 0:
        raise InvalidValueError(f"ulp_bound must be a nonnegative int or Fraction, got {ulp_bound!r}")
    b = Fraction(ulp_bound)
    nearest = round_nearest(fn, x, fmt)
    lo, hi = enclose(fn, x)
    if lo == hi:                  # an exact point (exp(0) = 1, ...): every libm returns it exactly
        return (nearest,)

    def decide(lo, hi):
        u_lo, u_hi = _ulp(fmt, lo), _ulp(fmt, hi)
        wide = _floats_in(fmt, lo - b * max(u_lo, u_hi), hi + b * max(u_lo, u_hi))
        narrow = _floats_in(fmt, hi - b * min(u_lo, u_hi), lo + b * min(u_lo, u_hi))
        return wide if wide == narrow else None
    found = refine(fn, x, decide)
    return (nearest,) + tuple(y for y in found if y != nearest)


def fp32_candidates(fn, x_bits, ulp_bound=1):
    """``candidates`` for a binary32 argument and result, as bit patterns (correctly rounded first)."""
    # Reproduces: a binary32 libm call (expf, logf, tanhf) within its documented ulp bound
    from .formats import decode, encode
    x = decode("fp32", x_bits)
    if not x.is_finite:
        raise InvalidValueError(f"x_bits 0x{x_bits:08x} is not a finite binary32")
    return tuple(encode("fp32", y) for y in candidates(fn, x.value, "fp32", ulp_bound))
