"""ncnn ``quantize_KL`` entropy variant (docs/reference/calibration.md §5.2; refquant/calibrate/ncnn_entropy.py).

ncnn is not installable here and no ncnn binary was run: the variant is checked against a literal
per-element loop transcription of the documented float32 steps, a hand-computed case, a
constructed tie, its threshold bounds and refquant's batching invariance.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant.calibrate import Multiset, detfloat, make_observer, ncnn_entropy
from refquant.errors import InvalidValueError

F = np.float32


def loop_model(hist, M):
    """The module docstring's steps, one float32 scalar operation at a time, in ncnn's order
    (first/middle/last level written uniformly: the positions are exact, so they coincide)."""
    B, total = len(hist), sum(int(h) for h in hist)
    norm = [F(int(h) / total) for h in hist]
    eps, out = F(1e-4), []
    for t in range(M, B):
        P = [eps + norm[j] for j in range(t)]
        for j in range(t, B):
            P[t - 1] = P[t - 1] + norm[j]
        w = F(t) / F(M)
        levels = []
        for j in range(M):
            start, end = F(j) * w, F(j + 1) * w
            lu, rl = math.ceil(start), math.floor(end)
            levels.append((lu, rl, F(lu) - start, end - F(rl)))
        Q = []
        for lu, rl, ls, rs in levels:
            q = F(0)
            if ls > 0:
                q = q + ls * norm[lu - 1]
            if rs > 0:
                q = q + rs * norm[rl]
            for k in range(lu, rl):
                q = q + norm[k]
            Q.append(q / ((F(rl - lu) + ls) + rs))
        E = [eps] * t
        for (lu, rl, ls, rs), q in zip(levels, Q):
            if ls > 0:
                E[lu - 1] = E[lu - 1] + ls * q
            if rs > 0:
                E[rl] = E[rl] + rs * q
            for k in range(lu, rl):
                E[k] = E[k] + q
        kl = F(0)
        for k in range(t):
            kl = kl + P[k] * F(detfloat.ln_scalar(float(P[k] / E[k])))
        out.append(kl)
    return np.array(out, np.float32)


@pytest.mark.parametrize("B,M", [(8, 4), (16, 4), (97, 16), (256, 32), (300, 32)])
def test_vectorised_search_equals_loop_model(B, M):
    rng = np.random.default_rng(B)
    for _ in range(2):
        h = rng.integers(0, 60, B)
        h[rng.random(B) < 0.3] = 0
        h[-1] += 1
        assert ncnn_entropy.kl_candidates(h, M).tobytes() == loop_model(h, M).tobytes()


def test_hand_computed_tiny_case():
    """|x| = 0.5, 1.5, 2.5, 4 on 4 bins of width 1, M = 2: norm = 1/4 each; candidates t = 2, 3.
    t=2: P = (e+1/4, e+3/4), E = (e+1/4, e+1/4)  -> KL = (e+3/4)·ln((e+3/4)/(e+1/4)) ~ 0.75 ln 3
    t=3: w = 3/2, Q = ((1/8+1/4)/(3/2), ...) = 1/4, E = e+1/4 everywhere, P = (e+1/4, e+1/4, e+1/2)
         -> KL ~ 0.5 ln 2, the minimum: T = (3 + 1/2)·4/4 = 3.5."""
    ms = Multiset(np.array([0.5, 1.5, 2.5, 4.0], np.float32), np.ones(4, np.int64))
    hist, amax = ncnn_entropy.histogram(ms.absolute(), 4)
    assert hist.tolist() == [1, 1, 1, 1] and amax == 4
    kl = ncnn_entropy.kl_candidates(hist, 2)
    e = 1e-4
    assert abs(kl[0] - (e + .75) * math.log((e + .75) / (e + .25))) < 1e-6
    assert abs(kl[1] - (e + .5) * math.log((e + .5) / (e + .25))) < 1e-6
    assert ncnn_entropy.entropy_ncnn(ms.absolute(), 4, 2) == Fraction(7, 2)
    obs = make_observer("entropy", variant="ncnn", bins=4, target_bins=2).observe([-0.5, 1.5, 0.0, -2.5, 4.0])
    assert obs.range() == (Fraction(-7, 2), Fraction(7, 2))   # the zero is skipped


def test_tie_first_minimum_wins():
    """2^40 values in each of bins 0..3 and one at amax (bin 15), B = 16, M = 4: the tail's
    norm (2^-42) is absorbed by every fp32 addition, so t = 4 (Q = norm) and t = 8 (Q averages
    pairs of equal bins) both reproduce P exactly: KL = 0 at both.  ncnn's strict < keeps t = 4."""
    ms = Multiset(np.array([0.5, 1.5, 2.5, 3.5, 16.0], np.float32), np.array([2**40] * 4 + [1]))
    hist, amax = ncnn_entropy.histogram(ms, 16)
    kl = ncnn_entropy.kl_candidates(hist, 4)
    assert kl[0] == kl[4] == kl.min() == 0 and (np.delete(kl, [0, 4]) > 0).all()
    assert kl.tobytes() == loop_model(hist, 4).tobytes()
    assert ncnn_entropy.entropy_ncnn(ms, 16, 4) == Fraction(9, 2)          # (4 + 1/2)·16/16; last min: 8.5


def test_histogram_rounds_the_quotient_to_fp32_first():
    """ncnn bins trunc(fl32(v/amax)·B): 0.17623283 / 2.7978671 rounds up onto edge 129/2048,
    where the exact rule (``abs_histogram``) gives bin 128."""
    amax, v = F(2.7978670597076416), F(0.17623282968997955)
    assert math.floor(Fraction(float(v)) * 2048 / Fraction(float(amax))) == 128
    hist, _ = ncnn_entropy.histogram(Multiset(np.array([v, amax], np.float32), np.ones(2, np.int64)), 2048)
    assert hist[129] == 1 and hist[2047] == 1 and hist.sum() == 2


def test_section9_value():
    from test_calibrate import fed
    lo, hi = fed(make_observer("entropy", variant="ncnn")).range()
    assert hi == -lo == Fraction(1359, 2) * 12 / 2048            # t* = 679: 3.9814453125


@settings(max_examples=4, deadline=None)
@given(st.lists(st.floats(-50, 50, width=32), min_size=20, max_size=400))
def test_threshold_within_candidate_bounds(xs):
    x = np.array(xs, np.float32)
    amax = Fraction(float(np.abs(x).max()))
    if amax == 0:
        return
    lo, hi = make_observer("entropy", variant="ncnn").observe(x).range()
    assert lo == -hi and Fraction(257, 2) * amax / 2048 <= hi <= Fraction(4095, 2) * amax / 2048


def test_bad_parameters():
    with pytest.raises(InvalidValueError):
        make_observer("entropy", variant="ncnn", bins=2048, target_bins=96)
    with pytest.raises(InvalidValueError):
        make_observer("entropy", variant="ncnn", bins=2**20, target_bins=128)
    with pytest.raises(InvalidValueError):
        make_observer("entropy", variant="ncnn").observe([0.0, -0.0]).range()
