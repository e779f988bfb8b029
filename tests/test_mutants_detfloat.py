"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/detfloat.py
(docs/testing.md): ln and ln_scalar bit for bit against the operation sequence of detfloat's
docstring, written out here, where the polynomial's high terms decide the last bit (|s| near its
maximum, m on the sqrt(1/2) boundary); float32 inputs read as float64; fsum of integers beyond
2^53; kl_divergence against scipy.stats.entropy on unnormalised and fractional weights."""
import math

import numpy as np
import pytest

from refquant.calibrate import detfloat


def _ln_docstring(x):
    """detfloat's documented sequence, each step one binary64 operation (Python floats)."""
    m, e = math.frexp(x)
    if m < 0.7071067811865476:
        m, e = m * 2.0, e - 1
    s = (m - 1.0) / (m + 1.0)
    t = s * s
    c = [1.0 / (2 * k + 1) for k in range(12)]
    h = c[11]
    for k in range(10, -1, -1):
        h = h * t + c[k]
    return float(e) * 0.6931471805599453 + (2.0 * s) * h


def _hard_inputs():
    """x where |s| is near 0.1716 (m near sqrt(1/2) from both sides), at several exponents, and m
    exactly on the boundary."""
    rng = np.random.default_rng(5)
    m = np.concatenate([rng.uniform(0.7071067811865476 - 0.004, 0.7071067811865476, 6000),
                        rng.uniform(0.7071067811865476, 0.7071067811865476 + 0.004, 6000)])
    x = np.ldexp(m, rng.integers(-3, 4, m.size))
    edge = np.ldexp(np.full(9, 0.7071067811865476), np.arange(-4, 5))
    return np.concatenate([x, edge, np.nextafter(edge, 0), np.nextafter(edge, 2)])


def test_ln_bit_for_bit_against_the_documented_sequence():
    x = _hard_inputs()
    want = [_ln_docstring(v) for v in x.tolist()]
    assert detfloat.ln(x).tolist() == want
    assert [detfloat.ln_scalar(v) for v in x.tolist()] == want


def test_ln_on_the_sqrt_half_boundary_keeps_m():
    # m = SQRT_HALF exactly is not below it: s = (m - 1)/(m + 1) < 0 and e unchanged
    for k in (-2, 0, 1, 3):
        x = math.ldexp(0.7071067811865476, k)
        assert detfloat.ln_scalar(x) == _ln_docstring(x) == float(detfloat.ln(np.array([x]))[0])


def test_ln_reads_float32_as_float64():
    x = np.random.default_rng(1).uniform(0.01, 100, 300).astype(np.float32)
    got = detfloat.ln(x)
    assert got.dtype == np.float64
    assert got.tolist() == detfloat.ln(x.astype(np.float64)).tolist() == [_ln_docstring(float(v)) for v in x]


def test_fsum_reads_the_array_as_float64():
    # the documented sum is of the float64 values: 2^53 + 1 is 2^53 in float64
    assert detfloat.fsum(np.array([2**53 + 1, -(2**53)], np.int64)) == 0.0
    assert detfloat.fsum(np.array([0.1, 0.2, 0.3], np.float32)) == math.fsum([float(np.float32(v)) for v in (0.1, 0.2, 0.3)])


def test_kl_divergence_equals_scipy_entropy():
    scipy_stats = pytest.importorskip("scipy.stats")  # scipy 1.17.1
    rng = np.random.default_rng(9)
    for _ in range(20):
        p = rng.integers(0, 50, 40).astype(np.float64)
        q = p + rng.integers(1, 5, 40)
        assert detfloat.kl_divergence(p, q) == pytest.approx(scipy_stats.entropy(p, q), rel=1e-12, abs=1e-15)
        pf, qf = p / p.sum(), q / q.sum() * 0.5  # weights summing to 1 and to 1/2
        assert detfloat.kl_divergence(pf, qf) == pytest.approx(scipy_stats.entropy(pf, qf), rel=1e-12, abs=1e-15)
        assert detfloat.kl_divergence(pf * 0.25, qf) == pytest.approx(scipy_stats.entropy(pf, qf), rel=1e-12,
                                                                         abs=1e-15)


def test_kl_divergence_reads_float32_weights_as_float64():
    rng = np.random.default_rng(4)
    p = rng.uniform(0, 3, 64).astype(np.float32)
    q = rng.uniform(0.5, 3, 64).astype(np.float32)
    want = detfloat.kl_divergence(p.astype(np.float64), q.astype(np.float64))
    assert detfloat.kl_divergence(p, q) == want
    assert detfloat.kl_divergence(p, q.astype(np.float64)) == want
    assert detfloat.kl_divergence(p.astype(np.float64), q) == want


def test_kl_divergence_empty_weights_and_missing_support_are_inf():
    assert detfloat.kl_divergence([0.0, 0.0], [1.0, 1.0]) == math.inf  # P has no mass
    assert detfloat.kl_divergence([1.0, 1.0], [0.0, 0.0]) == math.inf  # Q has no mass
    assert detfloat.kl_divergence([1.0, 1.0], [1.0, 0.0]) == math.inf  # Q_j = 0 < P_j (scipy: inf)
