"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/histogram.py
(docs/testing.md): numpy_edges' range checks and messages (with numpy warnings as errors),
numpy_histogram against np.histogram (numpy 2.1.3) where float32 edges coincide (subnormal spans,
more bins than representable values) and with values outside the range, and signed_histogram /
edge against the exact rational rule of the module docstring."""
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import Multiset
from refquant.calibrate.histogram import (NUMPY_REFUSES_EQUAL_EDGES, edge, numpy_edges, numpy_histogram,
                                          signed_histogram)
from refquant.errors import InvalidValueError

F32 = np.float32


def _ms(x):
    ms = Multiset()
    ms.add(np.asarray(x, F32))
    return ms


@pytest.mark.parametrize("lo,hi", [(2.0, 1.0), (-np.inf, 1.0), (-1.0, np.inf), (np.nan, 1.0), (0.0, np.nan)])
def test_numpy_edges_rejects_unordered_or_non_finite(lo, hi):
    with pytest.raises(InvalidValueError) as exc:
        numpy_edges(lo, hi, 4)
    assert str(exc.value) == f"histogram range [{F32(lo)}, {F32(hi)}] must be finite and ordered"


def test_numpy_edges_overflow_is_named_without_a_numpy_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidValueError) as exc:
            numpy_edges(-3e38, 3e38, 8)
    assert str(exc.value) == (
        f"histogram span {F32(3e38)} - ({F32(-3e38)}) overflows float32: np.histogram's edges become NaN/inf, "
        "and onnxruntime's HistogramCollector fails there too (IndexError); no ORT result exists")


@pytest.mark.parametrize("ulps,bins", [(2, 16), (3, 64), (5, 7), (1, 9), (40, 1000)])
def test_numpy_histogram_with_coinciding_edges_equals_np_histogram(ulps, bins):
    """Spans of a few subnormal ulps with many bins: the float32 edges repeat, values sit on them."""
    t = F32(ulps * 2.0 ** -149)
    x = (np.arange(-ulps, ulps + 1) * 2.0 ** -149).astype(F32)
    x = np.concatenate([x, x[::2]])
    try:
        counts, edges = np.histogram(x, bins, range=(-t, t))
    except ValueError as exc:   # numpy >= 2.2 refuses coinciding edges; refquant says so, naming it
        assert NUMPY_REFUSES_EQUAL_EDGES and "Too many bins" in str(exc), (np.__version__, exc)
        with pytest.raises(InvalidValueError, match="coinciding float32 edges"):
            numpy_edges(-t, t, bins)
        return
    mine = numpy_edges(-t, t, bins)
    assert np.array_equal(mine.view(np.uint32), edges.view(np.uint32))
    h = numpy_histogram(_ms(x), mine)
    assert h.dtype == np.int64 and np.array_equal(h, counts)


def test_coinciding_edges_refused_where_numpy_refuses_them(monkeypatch):
    """numpy >= 2.2 (numpy/numpy#27148) raises where equal bins' float32 edges do not strictly
    increase: numpy_edges then raises InvalidValueError naming it, and only then (whatever numpy
    this run has: the flag is set both ways here); ORT's |x| collector turns numpy's refusal into
    the same error, and any other np.histogram refusal (NaN data) into one that quotes numpy."""
    from unittest import mock

    import refquant.calibrate.histogram as H
    import refquant.calibrate.ort_histogram as oh
    t = F32(2 * 2.0 ** -149)
    for refuses in (False, True):
        monkeypatch.setattr(H, "NUMPY_REFUSES_EQUAL_EDGES", refuses)
        assert numpy_edges(-1.0, 1.0, 64).size == 65   # distinct edges: never refused
        if refuses:
            with pytest.raises(InvalidValueError) as exc:
                numpy_edges(-t, t, 16)
            assert str(exc.value).startswith(f"np.histogram: 16 equal bins over [{-t}, {t}] have coinciding float32 "
                                             f"edges, and np.histogram of numpy {np.__version__} (>= 2.2) refuses")
        else:
            assert np.count_nonzero(np.diff(numpy_edges(-t, t, 16)) == 0) > 0   # numpy < 2.2's edges
    refusal = ValueError("Too many bins for data range. Cannot create 64 finite-sized bins.")
    monkeypatch.setattr(oh, "NUMPY_REFUSES_EQUAL_EDGES", True)
    with mock.patch.object(oh.np, "histogram", side_effect=refusal), pytest.raises(InvalidValueError) as exc:
        oh.collect_abs(None, np.array([1.0, 2.0], F32), 64)
    assert str(exc.value).startswith("onnxruntime |x| histogram: 64 equal bins over [1.0, 2.0] have coinciding")
    with mock.patch.object(oh.np, "histogram", side_effect=refusal), pytest.raises(InvalidValueError) as exc:
        oh.collect_signed(None, np.array([1.0, -2.0], F32), 64)
    assert str(exc.value).startswith("onnxruntime histogram: 64 equal bins over [-2.0, 2.0] have coinciding")
    with pytest.raises(InvalidValueError) as exc:
        oh.collect_abs(None, np.array([1.0, np.nan, 2.0], F32), 8)
    assert str(exc.value) == ("onnxruntime |x| histogram: np.histogram refuses the batch (autodetected range of "
                              "[nan, nan] is not finite); onnxruntime's calibrator calls it the same way and fails "
                              "there too, so there is no ORT result")


def test_numpy_histogram_drops_values_outside_the_edges_like_np_histogram():
    x = np.array([-5.0, -1.0, -0.5, 0.0, 0.25, 1.0, 3.0, 7.0, -7.0], F32)
    for lo, hi, bins in ((-1.0, 1.0, 8), (-0.5, 0.5, 3), (0.0, 3.0, 5)):
        counts, edges = np.histogram(x, bins, range=(F32(lo), F32(hi)))
        h = numpy_histogram(_ms(x), numpy_edges(lo, hi, bins))
        assert h.dtype == np.int64 and np.array_equal(h, counts), (lo, hi, bins)


@pytest.mark.parametrize("bins", [2, 4, 10, 64])
def test_signed_histogram_and_edge_follow_the_exact_rule(bins):
    rng = np.random.default_rng(bins)
    x = np.concatenate([(rng.standard_normal(300) * 1.2).clip(-2.5, 2.5),
                        [float(edge(-2.5, 2.5, bins, k)) for k in range(bins + 1)], [0.0, -0.0]]).astype(F32)
    amax = Fraction(5, 2)
    h = signed_histogram(_ms(x), amax, bins)
    want = np.zeros(bins, np.int64)
    edges = [edge(-amax, amax, bins, k) for k in range(bins + 1)]
    assert edges[0] == -amax and edges[-1] == amax and edges[bins // 2] == 0
    assert all(edges[k + 1] - edges[k] == 2 * amax / bins for k in range(bins))
    for v in x.tolist():
        f = Fraction(v)
        k = math.floor((f + amax) * bins / (2 * amax))  # bin k is [e_k, e_(k+1)); hi in the last
        want[min(max(k, 0), bins - 1)] += 1
    assert h.dtype == np.int64 and np.array_equal(h, want) and h.sum() == x.size


def test_signed_histogram_messages():
    with pytest.raises(InvalidValueError) as exc:
        signed_histogram(_ms([1.0]), 1.0, 3)
    assert str(exc.value) == "a signed histogram needs an even bin count (0 on an edge), got 3"
    with pytest.raises(InvalidValueError) as exc:
        signed_histogram(_ms([0.0]), 0.0, 4)
    assert str(exc.value) == "histogram range [-0.0, 0.0] is empty (all calibration data is 0)"
    with pytest.raises(InvalidValueError) as exc:
        signed_histogram(_ms([0.0]), 1.0, 0)
    assert str(exc.value) == "bins must be an integer in 1..1048576, got 0"
    assert edge(Fraction(1), Fraction(3), 4, 1) == Fraction(3, 2) and edge(0, 1, 3, 3) == 1


def test_abs_histogram_empty_range_message():
    from refquant.calibrate import abs_histogram
    for amax in (0, 0.0, -1.0, float("nan")):
        with pytest.raises(InvalidValueError) as exc:
            abs_histogram(_ms([0.0]).absolute(), amax, 4)
        assert str(exc.value) == f"histogram range [0, {amax}] is empty (all calibration data is 0)"


@pytest.mark.parametrize("bins", [0, -1, 2**20 + 1, 2.0, True, "8", None])
def test_check_bins_domain_and_message(bins):
    from refquant.calibrate.histogram import check_bins
    with pytest.raises(InvalidValueError) as exc:
        check_bins(bins)
    assert str(exc.value) == f"bins must be an integer in 1..1048576, got {bins!r}"
    with pytest.raises(InvalidValueError) as exc:
        check_bins(bins, "target bins")
    assert str(exc.value) == f"target bins must be an integer in 1..1048576, got {bins!r}"


def test_check_bins_accepts_both_ends_and_numpy_ints():
    from refquant.calibrate.histogram import check_bins
    assert check_bins(1) == 1 and check_bins(2**20) == 2**20 and check_bins(np.int64(7)) == 7
    assert type(check_bins(np.int32(5))) is int


def test_histograms_have_every_bin_and_int64_counts():
    from refquant.calibrate import abs_histogram
    ms = _ms([0.01, -0.01, 0.02])
    h = abs_histogram(ms.absolute(), 1.0, 16)
    assert h.dtype == np.int64 and h.tolist() == [3] + [0] * 15  # empty top bins kept
    h = signed_histogram(_ms([-0.99, -0.98]), 1.0, 8)
    assert h.dtype == np.int64 and h.tolist() == [2] + [0] * 7
    h = signed_histogram(_ms([0.1, 0.2, 0.3]), Fraction(1, 2), 4)  # amax below 1
    assert h.tolist() == [0, 0, 2, 1]  # bins of 1/4: 0.1 and 0.2 in [0, 1/4), 0.3 in [1/4, 1/2]


def test_signed_histogram_puts_values_beyond_amax_in_the_end_bins():
    # the bin index is clipped to [0, B - 1] at both ends, as abs_histogram clips the top
    assert signed_histogram(_ms([-3.0, 3.0, 0.5, -1.0, 1.0]), 1.0, 4).tolist() == [2, 0, 0, 3]
