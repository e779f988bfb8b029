"""refquant.certified, edge by edge (mutation testing, docs/testing.md): each test pins a
construction step (decimal bounds, enclosure radius, ulp, next float, refinement schedule,
messages) that the value tests in tests/test_certified.py did not notice changing."""

import decimal
from fractions import Fraction as F

import pytest

from refquant import certified as c
from refquant.errors import InvalidValueError, UnknownNameError


@pytest.mark.parametrize("x, text", [(F(3), "3"), (F(5, 2), "2.5"), (F(3, 8), "0.375"), (F(7, 25), "0.28"),
                                     (F(1, 80), "0.0125"), (F(-1, 625), "-0.0016"), (F(3, 1 << 10), "0.0029296875")])
def test_decimal_bounds_of_a_finite_expansion_are_x_itself_in_fewest_digits(x, text):
    a, b = c._decimal_bounds(x, 30)
    assert a == b == x and str(a) == text


def test_decimal_bounds_of_a_large_power_of_five_denominator():
    x = F(1, 5**40)                                        # 2^40 * 10^-40: finite, 40 places
    a, b = c._decimal_bounds(x, 30)
    assert a == b == x and a.as_tuple().exponent == -40


@pytest.mark.parametrize("x", [F(1, 3), F(-2, 7), F(100, 3), F(1, 6)])
def test_decimal_bounds_of_an_infinite_expansion_are_one_unit_apart(x):
    digits = 30
    a, b = c._decimal_bounds(x, digits)
    k = digits + 10 + len(str(abs(x.numerator) // x.denominator))
    assert F(a) < x < F(b) and F(b) - F(a) == F(1, 10**k)
    assert F(a) == F((x.numerator * 10**k) // x.denominator, 10**k)    # truncated exactly (no context rounding)


def _ref_enclosure(x, digits):
    ctx = decimal.Context(prec=digits, Emax=10**9, Emin=-10**9)
    a, b = c._decimal_bounds(x, digits)
    ra, rb = ctx.exp(a), ctx.exp(b)
    return (F(ra) - F(10) ** (ra.adjusted() - digits + 1), F(rb) + F(10) ** (rb.adjusted() - digits + 1))


def test_enclosure_is_the_rounded_ends_widened_by_one_unit():
    x = F(1, 3)
    assert c.enclose("exp", x, 40) == _ref_enclosure(x, 40) == c.enclose("exp", x)   # default 40 digits
    assert c.enclose("exp", x, 60) == _ref_enclosure(x, 60)
    lo, hi = c.enclose("exp", x, 40)
    assert hi - lo < 3 * F(10) ** -39                                  # one unit each side, not ten
    ctx = decimal.Context(prec=130)
    v = F(ctx.exp(ctx.divide(1, 3)))                                  # exp(1/3) to ~130 digits
    for digits in (30, 60, 100):                                       # the precision really is `digits`
        lo, hi = c.enclose("exp", x, digits)
        assert lo < v < hi and hi - lo < F(10) ** (2 - digits)


def test_enclosure_exponent_range_holds_large_and_small_results():
    for x in (300, -300):                                              # 10^130 and 10^-131: beyond Emax / Emin 90
        lo, hi = c.enclose("exp", x, 30)
        assert 0 < lo < hi and (hi - lo) / lo < F(10) ** -28


def test_sigmoid_of_a_positive_argument():
    lo, hi = c.enclose("sigmoid", 2, 40)
    v = 1 / (1 + F(decimal.Context(prec=80).exp(-2)))
    assert lo < v < hi and hi - lo < F(10) ** -38
    assert c.round_nearest("sigmoid", F(2), "fp64") == F(float(v))     # Fraction -> float rounds correctly


@pytest.mark.parametrize("fmt, v, ulp", [("fp32", 0, F(2) ** -149), ("fp16", 0, F(2) ** -24), ("fp32", 1, F(2) ** -23),
                                         ("fp32", F(3, 4), F(2) ** -24), ("fp32", F(-3, 4), F(2) ** -24),
                                         ("fp32", F(5, 7), F(2) ** -24), ("fp32", F(5, 3), F(2) ** -23),
                                         ("fp32", F(2) ** -140, F(2) ** -149), ("fp64", 3, F(2) ** -51)])
def test_ulp(fmt, v, ulp):
    assert c._ulp(fmt, F(v)) == ulp


@pytest.mark.parametrize("y, up", [(F(-3, 2), F(-3, 2) + F(2) ** -23), (F(-1, 2), F(-1, 2) + F(2) ** -25),
                                   (F(-2), F(-2) + F(2) ** -23), (F(-4), F(-4) + F(2) ** -22),
                                   (-F(2) ** -126, -F(2) ** -126 + F(2) ** -149), (F(0), F(2) ** -149),
                                   (F(1), 1 + F(2) ** -23)])
def test_next_up(y, up):
    assert c._next_up("fp32", y) == up


def test_floats_in_and_round_up_include_their_ends():
    assert c._floats_in("fp32", F(1), 1 + F(2) ** -22) == [1, 1 + F(2) ** -23, 1 + F(2) ** -22]
    assert c._round_up("fp32", F(1)) == 1 and c._round_up("fp32", 1 + F(2) ** -30) == 1 + F(2) ** -23


def test_refinement_doubles_from_30_digits():
    seen = []
    assert c.refine_digits(lambda d: seen.append(d) or (d if len(seen) == 4 else None)) == 240
    assert seen == [30, 60, 120, 240]
    with pytest.raises(InvalidValueError, match="no decision within 4000 digits"):
        c.refine_digits(lambda d: None)
    widths = []
    c.refine("exp", F(1, 3), lambda lo, hi: widths.append(hi - lo) or (True if len(widths) == 2 else None))
    assert widths[1] < widths[0] * F(10) ** -25                        # each step really asks more digits


# A fake enclosure that straddles the fp32 tie 1 + 2^-24 at 30 digits and decides above it at 60:
# a decision taken before the enclosure is narrow enough shows.
_M = 1 + F(2) ** -24


def _fake_enclose(fn, x, digits=40):
    return (_M - F(2) ** -30, _M + F(2) ** -30) if digits <= 40 else (_M + F(2) ** -40, _M + F(2) ** -39)


def test_round_nearest_waits_for_a_decision(monkeypatch):
    monkeypatch.setattr(c, "enclose", _fake_enclose)
    assert c.round_nearest("exp", F(1, 3), "fp32") == 1 + F(2) ** -23


def test_candidates_wait_for_a_decision(monkeypatch):
    monkeypatch.setattr(c, "enclose", _fake_enclose)
    assert c.candidates("exp", F(1, 3), "fp32", F(1, 2)) == (1 + F(2) ** -23,)


def test_defaults_and_a_zero_bound():
    x = F(1, 3)
    assert c.round_nearest("exp", x) == c.round_nearest("exp", x, "fp32")
    assert c.candidates("exp", x) == c.candidates("exp", x, "fp32", 1)
    assert c.candidates("exp", x, "fp64", 1)[0] == c.round_nearest("exp", x, "fp64")
    assert c.candidates("exp", x, "fp32", 0) == (c.round_nearest("exp", x, "fp32"),)
    assert c.fp32_candidates("tanh", 0x3F000000) == c.fp32_candidates("tanh", 0x3F000000, 1)
    assert len(c.fp32_candidates("tanh", 0x3F000000)) == 2


def test_messages_name_the_value_and_the_choices():
    with pytest.raises(UnknownNameError, match=r"unknown certified function 'sin'; expected one of: erf, exp, gelu, log"):
        c.enclose("sin", 1)
    with pytest.raises(InvalidValueError, match=r"x must be an exact int or Fraction, got 0\.5"):
        c.enclose("exp", 0.5)
    with pytest.raises(InvalidValueError, match=r"log needs x > 0, got -1/2"):
        c.enclose("log", F(-1, 2))
    for call in (lambda: c.round_nearest("exp", 1, "fp8"), lambda: c.candidates("exp", 1, "fp8")):
        with pytest.raises(UnknownNameError, match=r"unknown binary format 'fp8'; expected one of: fp16, fp32, fp64"):
            call()
    for bad in (True, 0.5, -1, F(-1, 2)):
        with pytest.raises(InvalidValueError, match=r"ulp_bound must be a nonnegative int or Fraction, got"):
            c.candidates("exp", 1, "fp32", bad)
    with pytest.raises(InvalidValueError, match=r"x_bits 0x7f800000 is not a finite binary32"):
        c.fp32_candidates("exp", 0x7F800000)
    assert c.resolve([1, 2], "expf within 1 ulp").why == "expf within 1 ulp"


@pytest.mark.slow
def test_enclosure_exponent_range_beyond_the_decimal_default():
    # e^(+-2.4e6) ~ 10^(+-1042320) lies outside decimal's default Emax/Emin (+-999999): the context's
    # own range (10^9) is what holds it (about 8 s of decimal exp on one core).
    for x in (2_400_000, -2_400_000):
        lo, hi = c.enclose("exp", x, 30)
        assert 0 < lo < hi and (hi - lo) / lo < F(10) ** -28
