"""Tests written against the surviving mutants of refquant/calibrate/ort_histogram.py (issue 20 item 10).

Peer: onnxruntime 1.32.0's HistogramCollector, whose per-call state ``histogram_dict[name]`` =
(hist, edges, min, max[, threshold]) is compared with the model's state after every call; and
the module's named errors at refquant's growth bound (``MAX_GROWN_BINS`` patched small) and at
float32 overflow, with numpy warnings turned into errors (none may escape).
"""
import re
import warnings
from unittest import mock

import numpy as np
import pytest

from refquant.calibrate import ort_histogram as oh
from refquant.calibrate.histogram import NUMPY_REFUSES_EQUAL_EDGES
from refquant.errors import InvalidValueError

from peers import need

F32 = np.float32


def _collector(method, symmetric, bins, p=99.0):
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    return cal.HistogramCollector(method=method, symmetric=symmetric, num_bins=bins, num_quantized_bins=16,
                                  percentile=p, scenario="same")


def _same_state(mine, ort):
    assert np.array_equal(mine[0], ort[0])
    assert mine[1].dtype == ort[1].dtype and np.array_equal(mine[1].view(np.uint32), ort[1].view(np.uint32))
    for a, b in zip(mine[2:], ort[2:]):
        assert float(a) == float(b) and np.asarray(a).dtype == np.asarray(b).dtype


def _state_equals_ort_after_every_call(method, symmetric, collect, batches):
    """Feed ORT's HistogramCollector and refquant's ``collect`` the same batches; compare after each."""
    c = _collector(method, symmetric, 64)
    state = None
    for b in batches:
        b = np.array(b, F32)
        c.collect({"t": b})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            state = collect(state, b, 64)
        _same_state(state, c.histogram_dict["t"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("batches", [
    [[-3.0, -2.0], [], [-1.0]],                     # an empty call: ORT's max becomes 0
    [[0.5, 2.0], [], [1.0, 1.5]],                   # ... and its min 0
    [[-1.0, 1.0], [0.25, -1.0]],                    # the same max|x|: no growth
    [[-1.0, 1.0], [0.25, 1.3], [-2.6]],             # growth by whole strides
    [[1.5e38, -1.0]],                               # 2·T finite (3·T would not be)
])
def test_signed_state_equals_ort_after_every_call(batches):
    _state_equals_ort_after_every_call("entropy", False, oh.collect_signed, batches)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("batches", [
    [[], [0.5, -2.0], [1.0]],                       # an empty first call: min/max 0
    [[0.0, 1.0], [0.5, -1.15625], [0.25, 0.75]],    # growth, old bins get the new batch's counts too
])
def test_abs_state_equals_ort_after_every_call(batches):
    _state_equals_ort_after_every_call("percentile", True, oh.collect_abs, batches)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("symmetric,p", [(False, 90.0), (False, 50.0), (True, 50.0), (True, 100.0), (False, 0.5),
                                         (True, 0.0)])
def test_percentile_equals_ort(symmetric, p):
    """p in [0, 100] (ORT's own domain), c = (100 - p)/200 away from 99.999, and the clamp of
    the upper edge to the data maximum (mostly negative data)."""
    x = [np.array([-10.0, -7.5, -3.0, -2.5, -1.0, 0.5, 1.0], F32), np.array([-4.0, -0.25, 0.75], F32)]
    c = _collector("percentile", symmetric, 64, p)
    state = None
    for b in x:
        c.collect({"t": b})
        state = (oh.collect_abs if symmetric else oh.collect_signed)(state, b, 64)
    want = c.compute_collection_result()["t"]
    assert tuple(map(float, oh.percentile(state, p, symmetric))) == (float(want[0]), float(want[1]))


def test_percentile_domain_and_message():
    state = oh.collect_signed(None, np.array([-1.0, 2.0], F32), 8)
    for p in (-0.5, 100.5, 101):
        with pytest.raises(InvalidValueError, match=re.escape(f"percentile must be in [0, 100], got {p!r}")):
            oh.percentile(state, p, False)


def test_signed_growth_bound_is_inclusive_and_named():
    """64 bins of 1/32 on ±1, then max|x| = 1 + 10/32 + 2^-10: 11 more bins per side, 86 in all."""
    x1, x2 = np.array([-1.0, 1.0], F32), np.array([1 + 10 / 32 + 2 ** -10], F32)
    with mock.patch.object(oh, "MAX_GROWN_BINS", 86):
        h = oh.collect_signed(oh.collect_signed(None, x1, 64), x2, 64)[0]
        assert h.size == 86
    with mock.patch.object(oh, "MAX_GROWN_BINS", 85), pytest.raises(InvalidValueError) as exc:
        oh.collect_signed(oh.collect_signed(None, x1, 64), x2, 64)
    assert str(exc.value).startswith("onnxruntime histogram: growing from ±1.0 (64 bins of 0.03125) to ±1.3134765625 "
                                     "needs 11.0 more bins per side; refquant's bound is 85 bins in all")
    with mock.patch.object(oh, "MAX_GROWN_BINS", 64):
        oh.collect_signed(None, x1, 64)
        with pytest.raises(InvalidValueError, match=r"^onnxruntime histogram: growing to 65 bins \(range ±1.0\) "
                                                    r"exceeds refquant's bound of 64; ORT would try to allocate it$"):
            oh.collect_signed(None, x1, 65)
    with warnings.catch_warnings(), pytest.raises(InvalidValueError) as exc:
        warnings.simplefilter("error")
        oh.collect_signed(oh.collect_signed(None, np.array([1e-30], F32), 64), np.array([3e38], F32), 64)
    assert str(exc.value).endswith("(ORT would try to allocate them, or fail converting an infinite count to int)")
    with warnings.catch_warnings(), pytest.raises(InvalidValueError) as exc:
        warnings.simplefilter("error")
        oh.collect_signed(None, np.array([2e38], F32), 64)
    assert str(exc.value).endswith("onnxruntime's HistogramCollector fails there too (IndexError), there is no ORT result")


def test_abs_growth_bound_overflow_and_constant_messages():
    """|x| edges of width 1/64 on [0, 1], then max 1.15625: 10 more edges, 75 in all."""
    x1, x2 = np.array([0.0, 1.0], F32), np.array([1.15625], F32)
    with mock.patch.object(oh, "MAX_GROWN_BINS", 75):
        assert oh.collect_abs(oh.collect_abs(None, x1, 64), x2, 64)[1].size == 75
    with mock.patch.object(oh, "MAX_GROWN_BINS", 74), pytest.raises(InvalidValueError) as exc:
        oh.collect_abs(oh.collect_abs(None, x1, 64), x2, 64)
    assert str(exc.value) == ("onnxruntime |x| histogram: appending edges of width 0.015625 from 1.0 to 1.15625 needs "
                              "10.0 more bins; refquant's bound is 74 (ORT would try to allocate them, or fail in "
                              "np.arange when the width is 0 or the end overflows)")
    with warnings.catch_warnings(), pytest.raises(InvalidValueError) as exc:
        warnings.simplefilter("error")
        oh.collect_abs(oh.collect_abs(None, np.array([0.0, 3e38], F32), 64), np.array([3.4e38], F32), 64)
    assert str(exc.value) == (f"onnxruntime |x| histogram: the appended edges' end {F32(3.4e38)} + {F32(3e38) / F32(64)} "
                              "overflows float32; ORT's np.arange fails there too")
    with warnings.catch_warnings(), pytest.raises(InvalidValueError) as exc:
        warnings.simplefilter("error")   # width 0: np.histogram's float32 edges of a 1-ulp range at 1e30
        oh.collect_abs(oh.collect_abs(None, np.array([1e30, np.nextafter(F32(1e30), F32(2e30))], F32), 64),
                       np.array([2e30], F32), 64)
    # numpy >= 2.2 already refuses the first call's coinciding edges (numpy/numpy#27148)
    assert ("coinciding float32 edges" if NUMPY_REFUSES_EQUAL_EDGES else "more bins") in str(exc.value)
    for v in (2.0 ** 24, 2.0 ** 25):   # constant |x| >= 2^24: numpy's ±1/2 widening is lost
        with pytest.raises(InvalidValueError) as exc:
            oh.collect_abs(None, np.array([v, -v], F32), 64)
        assert str(exc.value).endswith("onnxruntime's HistogramCollector fails there too (IndexError), there is no ORT result")
    if NUMPY_REFUSES_EQUAL_EDGES:   # 64 bins of [2^23 - 1/2, fl32(2^23 + 1/2) = 2^23]: the float32 edges coincide
        with pytest.raises(InvalidValueError, match=r"64 equal bins over \[8388607.5, 8388608.0\] have coinciding"):
            oh.collect_abs(None, np.array([2.0 ** 23, -2.0 ** 23], F32), 64)
    else:
        assert oh.collect_abs(None, np.array([2.0 ** 23, -2.0 ** 23], F32), 64)[1][0] == 2.0 ** 23 - 0.5


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_p3_avg_std_with_a_zero_centre_equals_ort():
    """An odd bin count puts a bin centre at 0 (sign factor 1 there, ORT's rule); no numpy
    warning escapes."""
    x = np.array([-2.0, -1.0, -0.01, 0.0, 0.02, 0.5, 1.5, 2.0], F32)
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    c = cal.HistogramCollector(method="distribution", symmetric=False, num_bins=513, num_quantized_bins=128,
                               percentile=99.0, scenario="p3")
    c.collect({"t": x})
    want = c.compute_collection_result()["t"]
    state = oh.collect_signed(None, x, 513)
    assert ((state[1][:-1] + state[1][1:]) * F32(0.5) == 0).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        avg, std = oh.avg_std(state, "p3")
    assert (float(avg), float(std)) == (float(want.avg), float(want.std))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_signed_percentile_tail_fraction_equals_ort():
    """p = 90 on 8000 normal values, 2048 bins: the lower edge is where the cdf reaches
    (100 - p)/200 = 0.05 exactly (a cut at 0.04975 would pick the edge below)."""
    x = np.random.default_rng(1).standard_normal(8000).astype(F32)
    c = _collector("percentile", False, 2048, 90.0)
    c.collect({"t": x})
    want = c.compute_collection_result()["t"]
    got = oh.percentile(oh.collect_signed(None, x, 2048), 90.0, False)
    assert tuple(map(float, got)) == (float(want[0]), float(want[1]))


def test_signed_growth_past_float32_max_is_a_named_error_without_warnings():
    """±1e38 grown to 3.4e38: 78 more strides of 3.125e36 give an edge beyond FLT_MAX."""
    with warnings.catch_warnings(), pytest.raises(InvalidValueError, match="overflows float32"):
        warnings.simplefilter("error")
        oh.collect_signed(oh.collect_signed(None, np.array([1e38], F32), 64), np.array([3.4e38], F32), 64)
