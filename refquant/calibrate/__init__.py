"""Calibration: observers that turn fp32 calibration batches into an exact range and qparams.

    obs = MinMaxObserver()            # or make_observer("entropy", variant="modelopt")
    for batch in data: obs.observe(batch)
    lo, hi = obs.range()              # exact Fractions (lists of pairs per channel/group)
    qp = obs.qparams(dtype="int8", symmetric=False, variant="exact")   # refquant.qparams
    r = easyquant_layer(a, w, b)      # EasyQuant scale search for one layer (calibrate/easyquant.py)

See docs/calibration.md for the definitions, the peer variants and the known peer bugs.
"""

from ._data import Multiset
from .histogram import abs_histogram, signed_histogram
from .observers import (OBSERVERS, EntropyObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                        OnnxruntimeHistogramObserver, OnnxruntimeMinMaxObserver, Observer, PercentileObserver, from_dict,
                        make_observer)
from . import ncnn_entropy  # noqa: F401
from .easyquant import EasyQuantResult, easyquant_layer
from .search import ENTROPY_VARIANTS, PERCENTILE_METHODS, entropy, mse_amax, percentile

__all__ = ["Observer", "MinMaxObserver", "MovingAverageMinMaxObserver", "PercentileObserver", "EntropyObserver",
           "MSEObserver", "HistogramObserver", "OnnxruntimeHistogramObserver", "OnnxruntimeMinMaxObserver", "OBSERVERS", "make_observer", "from_dict", "Multiset", "abs_histogram",
           "signed_histogram", "percentile", "entropy", "mse_amax", "ENTROPY_VARIANTS", "PERCENTILE_METHODS",
           "easyquant_layer", "EasyQuantResult"]
