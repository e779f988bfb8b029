"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/ncnn_entropy.py
(docs/testing.md).  The reference is ncnn's documented quantize_KL procedure (Tencent/ncnn
tools/quantize/ncnn2table.cpp, as the module docstring spells it out) in the per-element loop
transcription of tests/test_calibrate_ncnn.py (``loop_model``), a plain histogram loop, and
ncnn's strict-< choice loop; plus the parameter checks' exact bounds and messages."""
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import Multiset
from refquant.calibrate import ncnn_entropy as ne
from refquant.errors import InvalidValueError
from test_calibrate_ncnn import loop_model

F = np.float32


def _msg(fn, *args):
    with pytest.raises(InvalidValueError) as exc:
        fn(*args)
    return str(exc.value)


def _ref_hist(values, counts, B):
    """ncnn's |x| histogram, one value at a time: zeros skipped, bin min(trunc(fl32(fl32(v/amax)·B)), B-1)."""
    amax = F(max(values))
    h = [0] * B
    for v, c in zip(values, counts):
        if v != 0:
            h[min(int(F(F(v) / amax) * F(B)), B - 1)] += int(c)
    return h


def test_check_exact_bounds_and_messages():
    ne.check(16, 1)                     # 1 = 2^0 is a power of two
    ne.check(16, 2)
    ne.check(2 ** 17, 128)              # bins·target_bins == 2^24 is allowed
    for m in (3, 6, 12, 96):
        assert _msg(ne.check, 2048, m) == f"the ncnn entropy variant needs target_bins a power of two, got {m}"
    assert _msg(ne.check, 2 ** 17 + 1, 128) == \
        f"the ncnn entropy variant needs bins·target_bins <= 2^24, got {2 ** 17 + 1}·128"
    assert _msg(ne.check, 2 ** 18, 128) == "the ncnn entropy variant needs bins·target_bins <= 2^24, got 262144·128"


def test_histogram_against_loop_and_zero_range():
    """Zeros skipped and 1.0 counted, amax <= 1 allowed, int64 counts; empty / all-zero data raise."""
    vals = np.array([0.0, 0.0625, 0.25, 0.5, 0.75, 1.0], np.float32)
    counts = np.array([5, 1, 2, 3, 1, 4], np.int64)
    ms = Multiset(vals, counts)
    for B in (4, 7, 16):
        hist, amax = ne.histogram(ms, B)
        assert hist.dtype == np.int64 and hist.tolist() == _ref_hist(vals, counts, B) and amax == 1
    small = Multiset(vals * F(0.5), counts)
    hist, amax = ne.histogram(small, 8)
    assert hist.tolist() == _ref_hist(vals * F(0.5), counts, 8) and amax == Fraction(1, 2)
    for ms0 in (Multiset(np.zeros(0, np.float32), np.zeros(0, np.int64)),
                Multiset(np.array([0.0], np.float32), np.array([3]))):
        assert _msg(ne.histogram, ms0, 8) == "zero range: all calibration data is 0"


@pytest.mark.parametrize("B,M", [(9, 8), (5, 1), (12, 2), (24, 4)])
def test_kl_candidates_against_loop_model(B, M):
    """B = M + 1 (one candidate: a block of one row), M = 1 and 2, and the same with blocks of
    one row (_CHUNK patched small; the results do not depend on the block size)."""
    rng = np.random.default_rng(B * 10 + M)
    h = rng.integers(0, 40, B)
    h[rng.random(B) < 0.3] = 0
    h[-1] += 1
    want = loop_model(h, M).tobytes()
    assert ne.kl_candidates(h, M).tobytes() == want
    assert ne.kl_candidates(h.tolist(), M).tobytes() == want


def test_kl_candidates_in_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    h = rng.integers(1, 40, 24)
    want = loop_model(h, 4).tobytes()
    for chunk in (24, 48, 100):          # blocks of 1, 2 and 4 rows
        monkeypatch.setattr(ne, "_CHUNK", chunk)
        assert ne.kl_candidates(h, 4).tobytes() == want


def test_no_candidates_and_default_target_bins():
    for B, M in ((8, 8), (4, 8)):
        kl = ne.kl_candidates(np.ones(B, np.int64), M)
        assert kl.dtype == np.float32 and kl.shape == (0,)
        assert ne.choose(kl, M) == M
    h = np.ones(130, np.int64)
    assert ne.kl_candidates(h).tobytes() == ne.kl_candidates(h, 128).tobytes() == loop_model(h, 128).tobytes()


def _ref_choose(kl, M):
    """ncnn: min_kl = FLT_MAX; for each t in order: if kl < min_kl: keep t (strict <)."""
    best, t = F(np.finfo(np.float32).max), M
    for i, v in enumerate(kl):
        if v < best:
            best, t = v, M + i
    return t


def test_choose_strict_less_from_flt_max():
    """Not compared: a NaN KL (refquant's min() is NaN so it keeps target_bins, ncnn's loop skips
    it); KL(t) is never NaN (P, E >= eps > 0, finite)."""
    big = np.finfo(np.float32).max
    for kl in ([np.inf, big], [big, big], [np.inf, np.inf], [3.0, 2.0, 2.0], [5.0, np.inf, 1.0, 1.0], []):
        k = np.array(kl, np.float32)
        assert ne.choose(k, 8) == _ref_choose(k, 8)


def test_entropy_ncnn_defaults():
    """bins 2048 and target_bins 128 by default: the threshold is (t + 1/2)·amax/2048."""
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal(3000)).astype(np.float32)
    ms = Multiset(np.unique(x), np.ones(np.unique(x).size, np.int64))
    amax = Fraction(float(x.max()))
    thr = ne.entropy_ncnn(ms)
    assert thr == ne.entropy_ncnn(ms, 2048, 128)
    t = thr * 2048 / amax - Fraction(1, 2)
    assert t.denominator == 1 and 128 <= t < 2048
