"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/observers.py
(docs/testing.md, engineer q1): each compares with numpy 2.1.3 (np.histogram, min/max, nanmean),
torch 2.13 observers, onnxruntime 1.32 calibrators, or a reference written out here from the
observer's documented definition -- never with refquant's own output alone."""
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import (EntropyObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                OnnxruntimeHistogramObserver, OnnxruntimeMinMaxObserver, PercentileObserver,
                                from_dict, make_observer)
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError

F32 = np.float32


def _fr(x):
    return Fraction(*float(x).as_integer_ratio())


# ---------------------------------------------------------------------------------------------
# _MultisetObserver.histogram against np.histogram (dyadic data and a power-of-two bin count:
# numpy's float64 edges and bin indices are then exact, so its counts are the exact rule's)
# ---------------------------------------------------------------------------------------------

HIST_DATA = [
    [-3.0, 1.0, 0.5, 0.25, -0.75, 2.0, 2.0],   # max |x| from the most negative value
    [-0.5, 1.0, 4.0, 0.125, 3.0, -1.5, 4.0],   # max |x| from the largest value (last of several)
    [0.75, 0.25, 1.5, 0.5],                     # positive only
    [-2.0, -0.25, -1.0],                         # negative only
]


@pytest.mark.parametrize("x", HIST_DATA)
@pytest.mark.parametrize("bins", [4, 8, 16])
def test_histogram_signed_and_abs_equal_np_histogram(x, bins):
    obs = PercentileObserver().observe(np.array(x, F32))
    a = max(abs(v) for v in x)
    counts, edges = obs.histogram(bins=bins, signed=True)
    ref_c, ref_e = np.histogram(np.array(x, np.float64), bins=bins, range=(-a, a))
    assert list(np.asarray(counts)) == ref_c.tolist()
    assert edges == [_fr(e) for e in ref_e]
    counts, edges = obs.histogram(bins=bins)
    ref_c, ref_e = np.histogram(np.abs(np.array(x, np.float64)), bins=bins, range=(0, a))
    assert list(np.asarray(counts)) == ref_c.tolist()
    assert edges == [_fr(e) for e in ref_e]


def test_histogram_default_bins_is_2048():
    counts, edges = PercentileObserver().observe(np.array([-1.0, 0.5], F32)).histogram(signed=True)
    assert len(counts) == 2048 and len(edges) == 2049
    ref_c, _ = np.histogram([-1.0, 0.5], bins=2048, range=(-1, 1))
    assert list(np.asarray(counts)) == ref_c.tolist()
    counts, edges = PercentileObserver().observe(np.array([-1.0, 0.5], F32)).histogram()
    assert len(counts) == 2048 and len(edges) == 2049
