"""refquant/certified.py: certified exp / log / tanh / sigmoid, libm candidate sets, ImplementationDefined."""

import decimal
import math
from fractions import Fraction as F

import pytest

from refquant import certified as c
from refquant.errors import InvalidValueError, UnknownNameError


def _dec(x, digits=60):
    return F(decimal.Context(prec=digits).exp(decimal.Decimal(x)))


@pytest.mark.parametrize("x", [F(1), F(-1), F(1, 3), F(-5, 2), F(88), F(-100), F(1, 1 << 30)])
def test_enclose_contains_and_narrows(x):
    lo, hi = c.enclose("exp", x, 30)
    lo2, hi2 = c.enclose("exp", x, 60)
    assert lo < hi and lo2 < hi2 and hi2 - lo2 < hi - lo
    assert lo <= lo2 or hi2 <= hi  # both contain exp(x): they intersect
    assert max(lo, lo2) <= min(hi, hi2)


def test_known_correctly_rounded_values():
    assert float(c.round_nearest("exp", F(1), "fp64")) == 2.718281828459045
    assert float(c.round_nearest("log", F(2), "fp64")) == 0.6931471805599453
    assert float(c.round_nearest("tanh", F(1, 2), "fp64")) == 0.46211715726000974
    assert float(c.round_nearest("sigmoid", F(-3), "fp64")) == 0.04742587317756678
    assert c.round_nearest("exp", F(1), "fp32") == F(2850325, 1 << 20)      # 0x402df854 = 2.7182817459...


def test_exact_points():
    assert c.enclose("exp", 0) == (1, 1) and c.enclose("log", 1) == (0, 0)
    assert c.enclose("tanh", 0) == (0, 0) and c.enclose("sigmoid", 0) == (F(1, 2),) * 2
    assert c.candidates("exp", 0, "fp32", 4) == (F(1),)


def test_candidates_are_the_floats_within_the_bound():
    x = F(1, 3)
    v = F(decimal.Context(prec=60).exp(decimal.Decimal(1) / 3))   # ~exp(1/3), 60 digits
    cr = c.round_nearest("exp", x, "fp32")
    ulp = F(2) ** -23                                              # exp(1/3) in [1, 2)
    assert c.candidates("exp", x, "fp32", F(1, 2)) == (cr,)
    one = c.candidates("exp", x, "fp32", 1)
    assert one[0] == cr and len(one) == 2 and all(abs(y - v) <= ulp for y in one)
    two = c.candidates("exp", x, "fp32", 2)
    assert set(one) < set(two) and len(two) == 4 and all(abs(y - v) <= 2 * ulp for y in two)


def test_candidates_at_a_binade_edge_negative():
    # tanh(-10) = -0.99999999587...: just above -1; the floats in (-1, 0) are twice as fine
    got = c.candidates("tanh", F(-10), "fp32", 1)
    assert got[0] == -1 and F(-16777215, 16777216) in got and F(-8388609, 8388608) not in got


def test_fp32_candidates_bits():
    assert c.fp32_candidates("exp", 0x3F800000, F(1, 2)) == (0x402DF854,)
    assert c.fp32_candidates("exp", 0x00000000, 1) == (0x3F800000,)
    with pytest.raises(InvalidValueError):
        c.fp32_candidates("exp", 0x7F800000)


def test_numpy_libm_results_lie_in_the_candidates():
    np = pytest.importorskip("numpy")
    xs = np.random.default_rng(0).uniform(-10, 10, 40).astype(np.float32)
    for x in xs:
        assert F(float(np.float32(math.tanh(float(x))))) in c.candidates("tanh", F(float(x)), "fp32", 1)


def test_implementation_defined_value_type():
    assert c.resolve([3, 3], "why") == 3
    r = c.resolve([3, 4, 3, 5], "expf within 1 ulp")
    assert isinstance(r, c.ImplementationDefined) and r.candidates == (3, 4, 5) and r.first == 3
    assert 4 in r and 6 not in r and c.possible(r) == {3, 4, 5} and c.possible(7) == {7}


def test_errors():
    with pytest.raises(UnknownNameError):
        c.enclose("sin", 1)
    with pytest.raises(InvalidValueError):
        c.enclose("log", 0)
    with pytest.raises(InvalidValueError):
        c.enclose("exp", 0.5)           # floats are not exact inputs here: pass a Fraction
    with pytest.raises(InvalidValueError):
        c.candidates("exp", 1, "fp32", -1)
    with pytest.raises(UnknownNameError):
        c.candidates("exp", 1, "fp8", 1)
