"""Percentile estimators against numpy.percentile itself on small n, at every tie and jump point.

The estimators of ``refquant.calibrate.search`` are exact (Fraction index, exact order
statistics).  numpy computes the virtual index in float64; on the grid below that index is exact
in float64 too (p is a decimal whose p/100·(n-1) and p/100·n numpy computes without error), so
every discrete method must agree bit for bit, including at the tie points where only the tie rule
decides: x = [1, 2], p = 50, ``nearest`` is 1.0 in numpy (np.around: half to even), 2.0 with
ties rounded up.  Measured on numpy 2.1.3.
"""
from fractions import Fraction
import math

import numpy as np
import pytest

from refquant.calibrate import Multiset, percentile, search
from refquant.rounding import half_even

N_MAX = 12


def _terminating(q):
    """True if 100·q (a Fraction) is a finite decimal, i.e. p can be written exactly."""
    d = (100 * q).denominator
    for f in (2, 5):
        while d % f == 0:
            d //= f
    return d == 1


def _special_points(n):
    """Every p in (0, 100] (as exact Fractions) where some discrete estimator jumps or ties for
    this n: h = (n-1)q on integers and half-integers, n·q on integers; only those p that are
    finite decimals (others cannot be passed to numpy exactly)."""
    qs = set()
    if n > 1:
        qs |= {Fraction(k, 2 * (n - 1)) for k in range(1, 2 * (n - 1) + 1)}
    qs |= {Fraction(k, n) for k in range(1, n + 1)}
    return sorted(100 * q for q in qs if _terminating(q))


def _grid(n):
    """Special points, 1/1000 either side of each, and a regular 1/4 grid."""
    pts = set(_special_points(n))
    pts |= {p + d for p in list(pts) for d in (Fraction(-1, 1000), Fraction(1, 1000))}
    pts |= {Fraction(j, 4) for j in range(1, 401)}
    return sorted(p for p in pts if 0 < p <= 100)


def _p_float(p):
    """The float whose repr is the decimal p (refquant reads a float as the decimal it shows)."""
    x = float(p)
    assert Fraction(repr(x)) == p, p
    return x


def _features(h, k):
    """What the discrete estimators read from the virtual indices h = (n-1)q and k = nq - 1:
    floor, ceil and half-even rounding of h; floor and ceil of k (k integral iff they agree)."""
    return (math.floor(h), math.ceil(h), half_even(h), math.floor(k), math.ceil(k))


def _numpy_index_agrees(n, p):
    """numpy's float64 indices (n-1)·(p/100) and n·(p/100) - 1 fall in the same integer /
    half-integer class as the exact ones, so numpy's float rounding cannot change the answer."""
    q = np.float64(float(p)) / np.float64(100)
    h_np, k_np = Fraction(float((n - 1) * q)), Fraction(float(n * q - 1))
    return _features(h_np, k_np) == _features((n - 1) * p / 100, n * p / 100 - 1)


def _datasets(n):
    """Distinct ascending values, a shuffled random set, and one with duplicates."""
    rng = np.random.default_rng(1000 + n)
    yield np.arange(1, n + 1, dtype=np.float32)
    yield rng.permutation(rng.choice(np.arange(-50, 50), size=n, replace=False)).astype(np.float32) * 4
    yield rng.integers(0, max(2, n // 2), size=n).astype(np.float32)


@pytest.mark.parametrize("method", search.DISCRETE)
@pytest.mark.parametrize("n", range(1, N_MAX + 1))
def test_discrete_percentile_equals_numpy_at_ties(method, n):
    compared = ties = 0
    for x in _datasets(n):
        ms = Multiset()
        ms.add(x)
        xs = x.astype(np.float64)
        for p in _grid(n):
            if not _numpy_index_agrees(n, p):
                continue  # numpy's own float64 rounding of the index, documented in search.percentile
            pf = _p_float(p)
            want = np.percentile(xs, pf, method=method)
            got = percentile(ms, pf, method)
            assert got == Fraction(float(want)), (method, n, x.tolist(), p, float(got), float(want))
            compared += 1
            ties += ((n - 1) * p / 100).denominator == 2
    assert compared >= 3 * 400
    # every tie h = k + 1/2 that a decimal p can reach is compared, on each of the 3 data sets
    assert ties == 3 * sum(((n - 1) * p / 100).denominator == 2 for p in _special_points(n))


@pytest.mark.parametrize("method", search.DISCRETE)
def test_every_special_point_is_compared(method):
    """The grid's exclusions (numpy index not exact) never drop a tie point with n a power of 2 + 1
    or n - 1 in {1, 2, 4, 5, 8, 10}: all half-integer indices k + 1/2 are reached there."""
    for n in (2, 3, 5, 6, 9, 11):
        for k in range(n - 1):
            p = 100 * Fraction(2 * k + 1, 2 * (n - 1))
            assert p in _grid(n) and _numpy_index_agrees(n, p), (n, k)


def test_nearest_tie_rule_named_cases():
    """The issue's reproducer and its neighbours: numpy 'nearest' rounds h half to even."""
    cases = [([1, 2], 50, 1.0), ([1, 2, 3], 25, 1.0), ([1, 2, 3], 75, 3.0),
             ([1, 2, 3, 4, 5], 12.5, 1.0), ([1, 2, 3, 4, 5], 37.5, 3.0), ([1, 2, 3, 4, 5], 62.5, 3.0),
             ([1, 2, 3, 4, 5], 87.5, 5.0)]
    for xs, p, want in cases:
        assert np.percentile(np.array(xs, np.float64), p, method="nearest") == want
        ms = Multiset()
        ms.add(np.array(xs, np.float32))
        assert percentile(ms, p, "nearest") == want, (xs, p)


def test_continuous_percentile_close_to_numpy_small_n():
    """Continuous methods on the same grid: equal up to numpy's float64 interpolation (1 ulp-ish)."""
    for n in range(1, N_MAX + 1):
        for x in _datasets(n):
            ms = Multiset()
            ms.add(x)
            for p in _grid(n)[::29]:
                for method in search.CONTINUOUS:
                    want = np.percentile(x.astype(np.float64), float(p), method=method)
                    got = float(percentile(ms, float(p), method))
                    assert abs(got - want) <= 1e-12 * max(1.0, abs(want)), (method, n, p, got, want)
