"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/easyquant.py
(docs/testing.md): every message (each names its argument), the defaults (grid 1/2 .. 2 with 100
points, one round), the history's step labels, the returned activation dtype."""
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import easyquant as eq
from refquant.calibrate.easyquant import easyquant_layer
from refquant.errors import InvalidValueError, ShapeError
from refquant.qparams import QParams


def _ab(seed=0, M=6, K=3, N=2):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, K)).astype(np.float32), rng.standard_normal((K, N)).astype(np.float32)


def _msg(exc_type, fn, *args, **kw):
    with pytest.raises(exc_type) as exc:
        fn(*args, **kw)
    return str(exc.value)


def test_grid_defaults_domain_and_messages():
    assert eq.grid() == eq.grid(Fraction(1, 2), 2, 100) and len(eq.grid()) == 100
    assert eq.grid(1, 1, 2) == eq.grid(Fraction(1), Fraction(1), 2)  # alpha == beta allowed
    for n in (1, 0, True, 2.0, "3"):
        assert _msg(InvalidValueError, eq.grid, 0.5, 2, n) == f"the grid needs an integer n >= 2 points, got {n!r}"
    assert len(eq.grid(0.5, 2, 2)) == 2
    for a, b in ((0, 1), (-1, 1), (2, 1)):
        assert _msg(InvalidValueError, eq.grid, a, b, 5) == \
            f"the grid needs 0 < alpha <= beta, got alpha={a!r}, beta={b!r}"
    assert _msg(InvalidValueError, eq.grid, float("nan"), 2, 5) == "alpha must be a finite number, got nan"
    assert _msg(InvalidValueError, eq.grid, 0.5, "x", 5) == "beta must be a finite number, got 'x'"
    assert eq.grid(0.1, 0.1, 2)[0] == Fraction(1, 10)  # a float is read as the decimal its repr shows


def test_layer_argument_messages():
    a, w = _ab()
    assert _msg(InvalidValueError, easyquant_layer, a, w, rounds=-1) == "rounds must be an integer >= 0, got -1"
    assert _msg(InvalidValueError, easyquant_layer, a, w, rounds=1.0) == "rounds must be an integer >= 0, got 1.0"
    assert _msg(InvalidValueError, easyquant_layer, a, w, rows_per_sample=0) == \
        "rows_per_sample must be a positive integer, got 0"
    assert _msg(InvalidValueError, easyquant_layer, a, w, rows_per_sample=2.0) == \
        "rows_per_sample must be a positive integer, got 2.0"
    assert _msg(ShapeError, easyquant_layer, a[0], w) == "a must be 2-D, got shape (3,)"
    assert _msg(ShapeError, easyquant_layer, a, w[0]) == "w must be 2-D, got shape (2,)"
    assert _msg(ShapeError, easyquant_layer, a, w, a_in=a[0]) == "a_in must be 2-D, got shape (3,)"
    bad = a.copy()
    bad[0, 0] = np.nan
    assert _msg(InvalidValueError, easyquant_layer, bad, w) == "a contains NaN"
    assert _msg(ShapeError, easyquant_layer, a, w, rows_per_sample=4) == \
        "need M > 0 rows in whole samples of 4 and N > 0 channels; got a (6, 3), w (3, 2)"
    assert _msg(ShapeError, easyquant_layer, a[:0], w).startswith("need M > 0 rows")
    assert easyquant_layer(a[:1], w, rounds=0).history[0][0] == "start"  # one row is enough
    assert _msg(ShapeError, easyquant_layer, a, w, b=[1.0]) == "bias needs 2 non-NaN values, got 1"
    assert _msg(ShapeError, easyquant_layer, a, w, w_scales=[0.5]) == "w_scales has 1 values for 2 output channels"
    assert _msg(InvalidValueError, easyquant_layer, a, w, w_scales=[0.5, -1.0]).startswith("w_scales: ")
    assert _msg(InvalidValueError, easyquant_layer, a, w, a_qparams=QParams(Fraction(-1), 0, "int8")).startswith(
        "activation scale: ")


def test_history_labels_rounds_and_result_dtype():
    a, w = _ab(3)
    r = easyquant_layer(a, w, rounds=2, n=5)
    assert [h[0] for h in r.history] == ["start", "round 1 weights", "round 1 activation", "round 2 weights",
                                         "round 2 activation"]
    d = easyquant_layer(a, w, n=5)  # one round by default
    assert [h[0] for h in d.history] == ["start", "round 1 weights", "round 1 activation"]
    assert d.a_qparams.dtype == "int8" and d.start_cosine == d.history[0][1]
    r8 = easyquant_layer(a, w, rounds=1, n=5, a_dtype="uint8")
    assert r8.a_qparams.dtype == "uint8"
