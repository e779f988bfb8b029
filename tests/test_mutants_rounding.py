"""Tests written against the survivors of a mutmut 3 run on refquant/rounding.py (docs/testing.md):
the defaults, the domain edges of the stochastic draw, its exact values, the tie of the
stochastic comparison, and the error messages (kind, name and the valid names)."""
from fractions import Fraction

import pytest

from refquant import rounding as R
from refquant.errors import InvalidValueError, UnknownNameError

M64 = 2**64 - 1


def splitmix_high32(seed, index):
    """SplitMix64's finaliser (Steele, Lea and Flood 2014) on seed·2^32 + index, high 32 bits,
    written here from the published constants (an independent model of stochastic_uniform32)."""
    z = (seed * 2**32 + index) % 2**64
    z = (z + 0x9E3779B97F4A7C15) % 2**64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
    return (z ^ (z >> 31)) >> 32


@pytest.mark.parametrize("seed,index", [(0, 0), (0, 1), (1, 0), (1, 1), (7, 2**31), (2**32 - 1, 2**32 - 1),
                                        (2**31, 12345), (0xDEADBEEF, 0xFFFF)])
def test_uniform32_values(seed, index):
    assert R.stochastic_uniform32(seed, index) == splitmix_high32(seed, index)


@pytest.mark.parametrize("seed,index", [(2**32, 0), (0, 2**32), (-1, 0), (0, -1), (2**33, 0), (0, 2**33), (3**21, 0)])
def test_uniform32_domain_edges(seed, index):
    with pytest.raises(InvalidValueError, match=rf"0 <= seed, index < 2\*\*32, got seed={seed}, index={index}"):
        R.stochastic_uniform32(seed, index)


def test_uniform32_accepts_the_top_of_the_domain():
    assert R.stochastic_uniform32(2**32 - 1, 0) == splitmix_high32(2**32 - 1, 0)
    assert R.stochastic_uniform32(0, 2**32 - 1) == splitmix_high32(0, 2**32 - 1)


def test_stochastic_threshold_is_strict_and_defaults_are_seed0_index0():
    """x rounds up iff u < frac·2^32: frac = u/2^32 stays down, (u + 1)/2^32 goes up."""
    u = splitmix_high32(0, 0)
    assert R.stochastic(Fraction(u, 2**32)) == 0
    assert R.stochastic(Fraction(u + 1, 2**32)) == 1
    assert R.stochastic(Fraction(u + 1, 2**32) + 5) == 6 and R.stochastic(Fraction(u, 2**32) - 3) == -3
    # the defaults are (seed, index) = (0, 0): another draw puts the same x on the other side
    for seed, index in ((1, 0), (0, 1)):
        v = splitmix_high32(seed, index)
        x = Fraction(min(u, v) + 1, 2**32)  # up for the smaller draw only
        assert R.stochastic(x) == (1 if u < v else 0)
        assert R.stochastic(x, seed, index) == (1 if v < u else 0)
        assert R.round_to_int(x, "stochastic") == R.stochastic(x)  # round_to_int's defaults too


def test_round_ratio_and_round_to_int_default_to_half_even():
    assert [R.round_ratio(n, 2) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert [R.round_to_int(Fraction(n, 2)) for n in (1, 3, 5, -1, -3)] == [0, 2, 2, 0, -2]
    assert R.round_to_int(Fraction(7, 2), "floor") == 3 and R.round_to_int(Fraction(-7, 2), "ceil") == -3
    assert R.round_to_int(3, "half_away") == 3


def test_as_fraction_accepts_int_rejects_bool_and_floats_by_type_name():
    assert R.floor(5) == 5 and R.half_even(-7) == -7 and isinstance(R.ceil(5), int)
    with pytest.raises(InvalidValueError, match="got True of type bool"):
        R.floor(True)
    with pytest.raises(InvalidValueError, match=r"got 0\.5 of type float"):
        R.half_even(0.5)


@pytest.mark.parametrize("call", [lambda: R.round_ratio(1, 2, "nearest"), lambda: R.get_mode("nearest"),
                                  lambda: R.round_to_int(Fraction(1, 2), "nearest")])
def test_unknown_mode_error_names_kind_name_and_valid_modes(call):
    with pytest.raises(UnknownNameError) as exc:
        call()
    e = exc.value
    assert e.kind == "rounding mode" and e.name == "nearest"
    assert str(e).startswith("unknown rounding mode 'nearest'; expected one of: ")
    assert {"half_even", "half_away", "half_up", "half_down", "toward_zero", "floor", "ceil"} <= set(e.valid)
