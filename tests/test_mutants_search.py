"""Tests written against the survivors of a mutmut 3 run on the percentile part of
refquant/calibrate/search.py (docs/testing.md): how ``check_percentile`` reads each accepted type
(a float as the decimal its repr shows, a Fraction or numeric string exactly), its domain (0, 100]
at both ends, and every message."""
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import Multiset, percentile, search
from refquant.errors import InvalidValueError


def test_each_type_is_read_exactly():
    assert search.check_percentile(99.9) == Fraction(999, 10)       # the decimal, not the binary64 value
    assert search.check_percentile(50) == 50
    assert search.check_percentile(Fraction(1, 3)) == Fraction(1, 3)
    assert search.check_percentile("99.99") == Fraction(9999, 100)
    assert search.check_percentile(100) == 100 and search.check_percentile(1e-300) == Fraction("1e-300")


@pytest.mark.parametrize("p", [True, False, [50], None, b"50", 1j])
def test_non_numbers_are_rejected_by_name(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be a number, got {p!r}"


@pytest.mark.parametrize("p", ["abc", float("nan"), float("inf"), "1/0"])
def test_non_finite_are_rejected_by_name(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be a finite number, got {p!r}"


@pytest.mark.parametrize("p", [0, 0.0, -1, 100.5, 101, "100.0001", Fraction(-1, 10**9)])
def test_domain_is_zero_exclusive_to_hundred_inclusive(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be in (0, 100], got {p!r}"


def test_empty_data_message():
    with pytest.raises(InvalidValueError) as exc:
        percentile(Multiset(), 50)
    assert str(exc.value) == "percentile of empty calibration data"
    ms = Multiset()
    ms.add(np.array([3.0], np.float32))
    assert percentile(ms, 100, "averaged_inverted_cdf") == 3


def test_defaults_are_linear_and_2048_bins():
    ms = Multiset()
    ms.add(np.array([1.0, 2.0, 4.0, 8.0], np.float32))
    assert percentile(ms, 50) == 3 == percentile(ms, 50, "linear")  # lower 2, higher 4, nearest 4
    a = Multiset()
    a.add(np.abs(np.random.default_rng(3).standard_normal(5000)).astype(np.float32))
    assert percentile(a, 99, "hist_left") == percentile(a, 99, "hist_left", bins=2048)
    assert percentile(a, 99, "hist_left", bins=2048) != percentile(a, 99, "hist_left", bins=2049)


def test_hist_percentiles_by_hand():
    """|x| = 1..10, 10 bins on [0, 10]: bin counts [0, 1, 1, 1, 1, 1, 1, 1, 1, 2] (10 is in the
    last bin); the first bin whose cumulative count reaches p% of 10, left or right edge."""
    ms = Multiset()
    ms.add(np.arange(1, 11, dtype=np.float32))
    for p, left in ((1, 1), (10, 1), (15, 2), (50, 5), (95, 9), (100, 9)):
        assert percentile(ms, p, "hist_left", bins=10) == left, p
        assert percentile(ms, p, "hist_right", bins=10) == left + 1, p
    z = Multiset()
    z.add(np.array([0, 0, 0, 4], np.float32))  # a zero first value is fine
    assert percentile(z, 75, "hist_left", bins=4) == 0 and percentile(z, 76, "hist_left", bins=4) == 3
    neg = Multiset()
    neg.add(np.array([-1, 5, 6], np.float32))
    with pytest.raises(InvalidValueError) as exc:
        percentile(neg, 50, "hist_left")
    assert str(exc.value) == "histogram percentiles are defined on |x| data (mode='abs')"
