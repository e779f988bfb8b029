"""Calibration observers: state from fp32 batches, an exact range, and qparams from the range.

Feeding order: MinMax and every multiset observer (percentile, entropy, MSE) give the same
result for any batching and order of the same values (their state is a min/max or the exact
multiset).  MovingAverageMinMax depends on the batching by definition (one update per batch).
"""

import math
from fractions import Fraction

import numpy as np

from .. import formats
from ..errors import InvalidValueError, ShapeError, UnknownNameError
from ..qparams import choose_qparams
from . import search
from ._data import Multiset, as_f32, finite_values, frac


def _frac_str(x):
    return f"{x.numerator}/{x.denominator}"


class Observer:
    """Base: ``observe(batch)`` (or call), ``range()``, ``qparams(...)``, ``to_dict()``."""
    name = "observer"

    def __call__(self, x):
        return self.observe(x)

    def config(self):
        return {}

    def to_dict(self):
        """JSON-able dict; ``from_dict`` rebuilds an observer that continues identically."""
        return {"observer": self.name, "version": 1, "config": self.config(), "state": self.state()}

    def qparams(self, dtype="int8", symmetric=False, narrow=False, variant="exact", scale_format="fp32",
                reduce_range=False):
        """QParams (a list per channel/group) through ``refquant.qparams.choose_qparams``."""
        rng = self.range()
        opts = dict(dtype=dtype, symmetric=symmetric, narrow=narrow, variant=variant,
                    scale_format=scale_format, reduce_range=reduce_range)
        if isinstance(rng, list):
            return [_qp(lo, hi, opts) for lo, hi in rng]
        return _qp(*rng, opts)


def _qp(lo, hi, opts):
    # A zero range (an all-zero tensor or a pruned channel) is not an error: each variant gives
    # what its peer gives (refquant.qparams; torch: eps, onnxruntime: 1.0, exact: 1).
    return choose_qparams(lo, hi, **opts)


def _no_data(name):
    return InvalidValueError(f"{name} observer has seen no calibration data (empty or never called)")


# --------------------------------------------------------------------------------------------
# MinMax
# --------------------------------------------------------------------------------------------

def _rows(x, axis, group_size):
    """x as a 2-D (rows, values) float32 array: per channel (axis to front) or per group."""
    a = as_f32(x)
    if group_size is not None:
        if a.ndim == 0 or a.shape[-1] % group_size:
            raise ShapeError(f"last dimension {a.shape[-1:] } is not a multiple of group_size {group_size}")
        return a.reshape(-1, group_size)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ShapeError(f"axis must be an int, got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ShapeError(f"axis {axis} out of range for a {a.ndim}-D batch")
    if a.size == 0:  # an empty batch (any axis of size 0) is skipped, as torch does
        return np.zeros((0, 0), np.float32)
    return np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)


def _row_extrema(rows):
    nan = np.isnan(rows)
    if nan.all(axis=1).any():
        raise InvalidValueError(f"channel/group {int(np.argmax(nan.all(axis=1)))} is all NaN")
    if nan.any():
        return np.fmin.reduce(rows, axis=1), np.fmax.reduce(rows, axis=1)  # fmin/fmax skip NaN
    return rows.min(axis=1), rows.max(axis=1)


class MinMaxObserver(Observer):
    """Running min of minima and max of maxima (exact: fp32 comparisons are exact).

    Per tensor (default), per channel (``axis``), or per group (``group_size`` g: the batch
    reshaped to (-1, g), i.e. torch's PerGroup block (1, g) on the last dimension).
    # Equals: torch MinMaxObserver / PerChannelMinMaxObserver (2.13), ORT MinMaxCalibrater
    """
    name = "minmax"

    def __init__(self, axis=None, group_size=None):
        if group_size is not None and (not isinstance(group_size, int) or group_size < 1):
            raise InvalidValueError(f"group_size must be a positive int, got {group_size!r}")
        if axis is not None and group_size is not None:
            raise InvalidValueError("give axis (per channel) or group_size (per group), not both")
        self.axis, self.group_size = axis, group_size
        self.lo = self.hi = None

    def config(self):
        return {"axis": self.axis, "group_size": self.group_size}

    def observe(self, x):
        if self.axis is None and self.group_size is None:
            v = finite_values(x)
            if v.size:
                self._merge(np.float32(v.min()), np.float32(v.max()))
            return self
        rows = _rows(x, self.axis, self.group_size)
        if rows.size:
            if self.lo is not None and len(self.lo) != rows.shape[0]:
                raise ShapeError(f"batch has {rows.shape[0]} channels/groups, earlier batches {len(self.lo)}")
            self._merge(*_row_extrema(rows))
        return self

    def _merge(self, lo, hi):
        if self.lo is None:
            self.lo, self.hi = lo, hi
        else:
            self.lo, self.hi = np.minimum(self.lo, lo), np.maximum(self.hi, hi)

    def range(self):
        if self.lo is None:
            raise _no_data(self.name)
        if np.ndim(self.lo) == 0:
            return frac(self.lo), frac(self.hi)
        return [(frac(a), frac(b)) for a, b in zip(self.lo.tolist(), self.hi.tolist())]

    def state(self):
        if self.lo is None:
            return {"lo": None, "hi": None}
        return {"lo": np.atleast_1d(self.lo).astype(float).tolist(), "hi": np.atleast_1d(self.hi).astype(float).tolist(),
                "scalar": bool(np.ndim(self.lo) == 0)}

    def _load(self, s):
        if s.get("lo") is not None:
            lo, hi = np.asarray(s["lo"], np.float32), np.asarray(s["hi"], np.float32)
            self.lo, self.hi = (lo[0], hi[0]) if s["scalar"] else (lo, hi)


# --------------------------------------------------------------------------------------------
# Moving average
# --------------------------------------------------------------------------------------------

EMA_FORMS = ("torch", "textbook")
STATE_FORMATS = ("fp32", "fp64", "exact")


class MovingAverageMinMaxObserver(Observer):
    """Exponential moving average of per-batch minima/maxima; the first batch sets the range.

    ``form``: 'torch'    m <- fl(m + fl(c·fl(b - m)))        (torch 2.13 code; ORT between calls)
              'textbook' m <- fl(fl((1-c)·m) + fl(c·b))    (torch 2.13 docs; worked-examples.md §4), 1-c = fl(1 - c)
    ``state_format``: the running state's float format (fp32 = torch/ORT), every operation
    rounded once to nearest-even in it; 'exact' keeps Fractions.  c itself is fl(c).
    Batching matters by definition: one update per ``observe`` call.
    # Reproduces: torch MovingAverageMinMaxObserver(averaging_constant=c) (2.13)
    """
    name = "moving_average"

    def __init__(self, c=0.01, form="torch", state_format="fp32", axis=None):
        if form not in EMA_FORMS:
            raise UnknownNameError("moving-average form", form, EMA_FORMS)
        if state_format not in STATE_FORMATS:
            raise UnknownNameError("state format", state_format, STATE_FORMATS)
        self.c_given = c
        cf = Fraction(repr(c)) if isinstance(c, float) else Fraction(c)
        if not 0 < cf <= 1:
            raise InvalidValueError(f"averaging constant c must be in (0, 1], got {c!r}")
        self.form, self.state_format, self.axis = form, state_format, axis
        self.c = self._fl(cf)
        self.one_minus_c = self._fl(1 - self.c)
        self.lo = self.hi = None

    def config(self):
        return {"c": self.c_given, "form": self.form, "state_format": self.state_format, "axis": self.axis}

    def _fl(self, x):
        if self.state_format == "exact":
            return x
        r = formats.round_to(self.state_format, x)
        if not r.is_finite:
            raise InvalidValueError(f"moving average: {float(x)} overflows the {self.state_format} state "
                                    "(torch's float32 state would become inf)")
        return r.value

    def _update(self, m, b):
        fl, c = self._fl, self.c
        if self.form == "torch":
            return fl(m + fl(c * fl(b - m)))
        return fl(fl(self.one_minus_c * m) + fl(c * b))

    def observe(self, x):
        if self.axis is None:
            v = finite_values(x)
            if not v.size:
                return self
            lo, hi = [frac(v.min())], [frac(v.max())]
        else:
            rows = _rows(x, self.axis, None)
            if not rows.size:
                return self
            mn, mx = _row_extrema(rows)
            lo, hi = [frac(a) for a in mn.tolist()], [frac(b) for b in mx.tolist()]
        if self.lo is None:
            self.lo, self.hi = [self._fl(a) for a in lo], [self._fl(b) for b in hi]
        else:
            if len(lo) != len(self.lo):
                raise ShapeError(f"batch has {len(lo)} channels, earlier batches {len(self.lo)}")
            self.lo = [self._update(m, b) for m, b in zip(self.lo, lo)]
            self.hi = [self._update(m, b) for m, b in zip(self.hi, hi)]
        return self

    def range(self):
        if self.lo is None:
            raise _no_data(self.name)
        pairs = list(zip(self.lo, self.hi))
        return pairs[0] if self.axis is None else pairs

    def state(self):
        enc = (lambda xs: None if xs is None else [_frac_str(x) for x in xs])
        return {"lo": enc(self.lo), "hi": enc(self.hi)}

    def _load(self, s):
        if s["lo"] is not None:
            self.lo = [Fraction(x) for x in s["lo"]]
            self.hi = [Fraction(x) for x in s["hi"]]


# --------------------------------------------------------------------------------------------
# Multiset observers: percentile, entropy, MSE
# --------------------------------------------------------------------------------------------

class _MultisetObserver(Observer):
    """Keeps the exact multiset of observed values: batching- and order-invariant."""

    def __init__(self):
        self.ms = Multiset()

    def observe(self, x):
        v = finite_values(x)
        if v.size:
            self.ms.add(v)
        return self

    def _data(self):
        if self.ms.n == 0:
            raise _no_data(self.name)
        return self.ms

    def histogram(self, bins=2048, signed=False):
        """(counts, edges): exact bins on [0, max|x|] or, signed, on [-max|x|, max|x|]."""
        from .histogram import abs_histogram, signed_histogram
        ms = self._data()
        a = max(-frac(ms.values[0]), frac(ms.values[-1]))
        if signed:
            return signed_histogram(ms, a, bins), [-a + 2 * a * Fraction(k, bins) for k in range(bins + 1)]
        return abs_histogram(ms.absolute(), a, bins), [a * Fraction(k, bins) for k in range(bins + 1)]

    def state(self):
        return self.ms.to_state()

    def _load(self, s):
        self.ms = Multiset.from_state(s)


class PercentileObserver(_MultisetObserver):
    """Percentile clipping with a named estimator (``search.PERCENTILE_METHODS``).

    mode 'abs': a = P_p(|x|), range (-a, a).  mode 'signed': (-P_p(-x), P_p(x)), the same
    estimator on each tail.  # Estimators: numpy.percentile methods (H&F 1996); hist_left = ORT/ModelOpt
    """
    name = "percentile"

    def __init__(self, p=99.99, method="linear", mode="abs", bins=2048):
        super().__init__()
        search.check_percentile(p)
        if method not in search.PERCENTILE_METHODS:
            raise UnknownNameError("percentile method", method, search.PERCENTILE_METHODS)
        if mode not in ("abs", "signed"):
            raise UnknownNameError("percentile mode", mode, ("abs", "signed"))
        if mode == "signed" and method in search.HISTOGRAM:
            raise InvalidValueError("histogram percentiles are defined on |x| (mode='abs')")
        self.p, self.method, self.mode, self.bins = p, method, mode, bins

    def config(self):
        return {"p": self.p, "method": self.method, "mode": self.mode, "bins": self.bins}

    def range(self):
        ms = self._data()
        if self.mode == "abs":
            a = search.percentile(ms.absolute(), self.p, self.method, self.bins)
            return -a, a
        neg = Multiset(-ms.values[::-1], ms.counts[::-1])
        return -search.percentile(neg, self.p, self.method), search.percentile(ms, self.p, self.method)


class EntropyObserver(_MultisetObserver):
    """KL-divergence threshold; ``variant`` in 'tensorrt', 'modelopt', 'onnxruntime', 'ncnn'
    (see ``search.entropy_*``, ``ncnn_entropy``).  # Reproduces: docs/reference/calibration.md §5 (GTC 2017, ModelOpt 0.47, ORT 1.31, ncnn)"""
    name = "entropy"

    def __init__(self, variant="tensorrt", bins=2048, target_bins=128):
        super().__init__()
        if variant not in search.ENTROPY_VARIANTS:
            raise UnknownNameError("entropy variant", variant, search.ENTROPY_VARIANTS)
        search.check_entropy_bins(bins, target_bins)
        if variant == "ncnn":
            from .ncnn_entropy import check
            check(bins, target_bins)
        self.variant, self.bins, self.target_bins = variant, bins, target_bins

    def config(self):
        return {"variant": self.variant, "bins": self.bins, "target_bins": self.target_bins}

    def range(self):
        ms = self._data()
        if not (ms.values != 0).any() and self.variant != "onnxruntime":  # ORT itself returns (0, 0)
            raise InvalidValueError(f"zero range: all calibration data is 0 (no {self.variant} threshold; "
                                    "the onnxruntime variant returns ORT's (0, 0))")
        return search.entropy(ms, self.variant, self.bins, self.target_bins)


class MSEObserver(_MultisetObserver):
    """Histogram MSE search of a symmetric amax (``search.mse_amax``, exact integers)."""
    name = "mse"

    def __init__(self, bins=2048, qmax=127, start_bin=128):
        super().__init__()
        self.bins, self.qmax, self.start_bin = bins, qmax, start_bin
        if not 0 <= start_bin <= bins - 2:
            raise InvalidValueError(f"start_bin must be in 0..bins-2, got {start_bin}")

    def config(self):
        return {"bins": self.bins, "qmax": self.qmax, "start_bin": self.start_bin}

    def range(self):
        ms = self._data()
        if not (ms.values != 0).any():
            raise InvalidValueError("zero range: all calibration data is 0")
        a = search.mse_amax(ms.absolute(), self.bins, self.qmax, self.start_bin)
        return -a, a


# --------------------------------------------------------------------------------------------
# torch HistogramObserver (batch-dependent peer model)
# --------------------------------------------------------------------------------------------

TORCH_CPUS = ("avx2", "avx512", "default")


class HistogramObserver(Observer):
    """torch 2.13 ``HistogramObserver``, bit for bit (``calibrate.torch_histogram``).

    State: float32 min/max and a float32 histogram of ``bins`` bins, re-binned (``upsample_rate``
    sub-bins per bin) whenever a batch widens the range, so **batching and order matter** (as in
    torch).  ``range()`` runs torch's ``_non_linear_param_search`` (L2 error onto ``dst_bins``
    levels; torch uses 2^bits of the dtype, 256 for (q)int8 whatever the qrange).  ``torch_cpu``:
    the ATen build whose float steps are modelled ('avx2' = 'avx512': fused linspace; 'default').
    ±inf are dropped (as torch does), NaNs skipped (refquant's rule; torch would give a NaN range).
    # Reproduces: torch.ao.quantization.HistogramObserver (2.13), docs/reference/calibration.md §6
    """
    name = "histogram"

    def __init__(self, variant="torch", bins=2048, upsample_rate=16, dst_bins=256, torch_cpu="avx2"):
        if variant != "torch":
            raise UnknownNameError("histogram observer variant", variant, ("torch",))
        if torch_cpu not in TORCH_CPUS:
            raise UnknownNameError("torch cpu capability", torch_cpu, TORCH_CPUS)
        for what, v in (("bins", bins), ("upsample_rate", upsample_rate), ("dst_bins", dst_bins)):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2**20:
                raise InvalidValueError(f"{what} must be an integer in 1..2^20, got {v!r}")
        self.variant, self.bins, self.upsample_rate, self.dst_bins = variant, bins, upsample_rate, dst_bins
        self.torch_cpu = torch_cpu
        self._state = None

    def config(self):
        return {"variant": self.variant, "bins": self.bins, "upsample_rate": self.upsample_rate,
                "dst_bins": self.dst_bins, "torch_cpu": self.torch_cpu}

    def observe(self, x):
        from . import torch_histogram as th
        try:
            a = np.asarray(x)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"calibration data: expected an array of numbers ({exc})") from None
        if a.dtype.kind not in "fiub":
            raise InvalidValueError(f"calibration data: expected numbers, got dtype {a.dtype}")
        v = a.astype(np.float32, copy=False).ravel()
        nan = np.isnan(v)
        if v.size and nan.all():
            raise InvalidValueError(f"calibration data: all {v.size} values are NaN")
        self._state = th.observe(self._state, v[~nan], self.bins, self.upsample_rate,
                                 fma=self.torch_cpu != "default")
        return self

    @property
    def histogram(self):
        """(min, max, counts) as float32 (torch's buffers min_val, max_val, histogram)."""
        if self._state is None:
            raise _no_data(self.name)
        return self._state

    def range(self):
        from . import torch_histogram as th
        lo, hi, hist = self.histogram
        a, b = th.search(hist, lo, hi, self.dst_bins)
        return frac(a), frac(b)

    def state(self):
        from ._data import f32_bits
        if self._state is None:
            return {"min": None}
        lo, hi, hist = self._state
        return {"min": f32_bits([lo])[0], "max": f32_bits([hi])[0], "histogram_f32_bits": f32_bits(hist)}

    def _load(self, s):
        from ._data import from_f32_bits
        if s.get("min") is not None:
            self._state = (from_f32_bits([s["min"]])[0], from_f32_bits([s["max"]])[0],
                           from_f32_bits(s["histogram_f32_bits"]).copy())


class OnnxruntimeHistogramObserver(Observer):
    """onnxruntime 1.31 HistogramCalibrater, one ``collect_data`` call per ``observe`` (peer model).

    ``method`` 'entropy' (signed histogram, §5.4 growth; search = ``search.ort_entropy_search``),
    'percentile' (``symmetric`` True: |x| histogram with appended edges; False: the signed
    histogram; left edges, clamped to the data range) or 'distribution' (ORT's
    CalibrationMethod.Distribution, the float8 calibrator: the signed histogram; ``range()`` is
    ORT's (lowest, highest) = the histogram's outer edges, ``avg_std()`` its (avg, std) for
    ``scenario`` 'same' or 'p3'; ORT requires bins >= 512).  Batching and order matter, as in ORT:
    entropy per batch gives ±3.43 on the §9 data, one call ±4.5 (= EntropyObserver('onnxruntime')).
    # Reproduces: onnxruntime.quantization.calibrate HistogramCollector (1.31.1, 1.32.0), docs/reference/calibration.md §4, §5.4
    """
    name = "onnxruntime_histogram"
    METHODS = ("entropy", "percentile", "distribution")
    SCENARIOS = ("same", "p3")

    def __init__(self, method="entropy", p=99.999, symmetric=False, bins=2048, target_bins=128, scenario="same"):
        if method not in self.METHODS:
            raise UnknownNameError("onnxruntime histogram method", method, self.METHODS)
        if scenario not in self.SCENARIOS:
            raise UnknownNameError("onnxruntime distribution scenario", scenario, self.SCENARIOS)
        search.check_entropy_bins(bins, target_bins)
        search.check_percentile(p)
        if method == "distribution" and bins < 512:
            raise InvalidValueError(f"onnxruntime's distribution method needs bins >= 512 (its ValueError), got {bins}")
        self.method, self.p, self.symmetric, self.bins, self.target_bins = method, p, symmetric, bins, target_bins
        self.scenario = scenario
        self._state = None

    @property
    def _abs(self):
        return self.method == "percentile" and self.symmetric

    def config(self):
        return {"method": self.method, "p": self.p, "symmetric": self.symmetric, "bins": self.bins,
                "target_bins": self.target_bins, "scenario": self.scenario}

    def observe(self, x):
        from . import ort_histogram as oh
        v = finite_values(x)
        if v.size:
            self._state = (oh.collect_abs if self._abs else oh.collect_signed)(self._state, v, self.bins)
        return self

    def range(self):
        from . import ort_histogram as oh
        if self._state is None:
            raise _no_data(self.name)
        if self.method == "percentile":
            lo, hi = oh.percentile(self._state, self.p, self.symmetric)
            return frac(lo), frac(hi)
        if self.method == "distribution":  # TensorData lowest/highest = hist_edges.min()/.max()
            edges = self._state[1]
            return frac(edges.min()), frac(edges.max())
        hist, edges, lo, hi = self._state[:4]  # all-zero data: ORT's (0, 0), from its [-1/2, 1/2] histogram
        return search.ort_entropy_search(hist, lambda k: frac(edges[k]), frac(lo), frac(hi), self.target_bins)

    def avg_std(self):
        """ORT Distribution's (avg, std): exact values of ORT's float32 results (std may be NaN, as
        in ORT, when the float64 variance rounds below 0; then math.nan)."""
        from . import ort_histogram as oh
        if self.method != "distribution":
            raise InvalidValueError(f"avg_std() is the 'distribution' method's result, not {self.method!r}'s")
        if self._state is None:
            raise _no_data(self.name)
        return tuple(frac(v) if np.isfinite(v) else float(v) for v in oh.avg_std(self._state, self.scenario))

    def state(self):
        if self._state is None:
            return {"hist": None}
        hist, edges, *rest = self._state
        return {"hist": hist.tolist(), "edges": edges.tolist(), "edges_dtype": str(edges.dtype),
                "rest": [float(v) for v in rest]}

    def _load(self, s):
        if s.get("hist") is not None:
            rest = [np.float32(v) for v in s["rest"]]
            self._state = (np.asarray(s["hist"], np.int64), np.asarray(s["edges"], s["edges_dtype"]), *rest)


class OnnxruntimeMinMaxObserver(Observer):
    """onnxruntime 1.32 MinMaxCalibrater (peer model): ``observe(batch)`` is one session run (one
    ``get_next()`` batch) of the current ``collect_data`` call, ``end_call()`` ends the call.

    Each run gives the batch's float32 min and max (NaNs skipped, empty batches skipped).  When a
    call ends its runs are reduced -- ``moving_average=False``: min of the minima, max of the
    maxima; ``moving_average=True``: the **plain mean** of the run minima and of the run maxima
    (numpy's float32 ``nanmean``: pairwise float32 sum, divided by the count in float64, rounded
    to float32), ``c`` unused -- then ``symmetric`` makes it ±max(|lo|, |hi|).  Calls are merged:
    min/max, or with ``moving_average`` m <- fl(m + fl(c·fl(new - m))) with c = fl32(c), the torch
    form.  So ORT's moving average is the EMA only with one run per call; one call over all
    batches is their mean.  ``max_intermediate_outputs=k`` models ORT's option including its bug:
    every k-th run clears the call's runs unreduced, so they are lost.  ``range()`` includes the
    open call (as ORT's ``compute_data`` at the end of ``collect_data``) without ending it.
    Per tensor only (ORT's per_channel is not modelled).
    # Reproduces: onnxruntime.quantization.calibrate MinMaxCalibrater collect_data/compute_data/merge_range (1.32.0)
    """
    name = "onnxruntime_minmax"

    def __init__(self, moving_average=False, c=0.01, symmetric=False, max_intermediate_outputs=None):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise InvalidValueError(f"averaging constant c must be a finite number, got {c!r}")
        k = max_intermediate_outputs
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise InvalidValueError(f"max_intermediate_outputs must be a positive int or None, got {k!r}")
        self.moving_average, self.c, self.symmetric, self.max_intermediate_outputs = bool(moving_average), c, \
            bool(symmetric), k
        self._range = None   # float32 (lo, hi) of the ended calls
        self._runs = []      # float32 (lo, hi) of the open call's runs

    def config(self):
        return {"moving_average": self.moving_average, "c": self.c, "symmetric": self.symmetric,
                "max_intermediate_outputs": self.max_intermediate_outputs}

    def observe(self, x):
        v = finite_values(x)
        if v.size:
            self._runs.append((v.min(), v.max()))
            if self.max_intermediate_outputs is not None and len(self._runs) == self.max_intermediate_outputs:
                self._runs = []  # ORT clears the outputs without reducing them (1.31.1 / 1.32.0 bug)
        return self

    def _call_range(self):
        lo = np.array([r[0] for r in self._runs], np.float32)
        hi = np.array([r[1] for r in self._runs], np.float32)
        if self.moving_average:
            lo, hi = np.nanmean(lo, axis=0), np.nanmean(hi, axis=0)
        else:
            lo, hi = np.nanmin(lo, axis=0), np.nanmax(hi, axis=0)
        if self.symmetric:
            m = np.float32(max(abs(lo), abs(hi)))
            lo, hi = -m, m
        return np.float32(lo), np.float32(hi)

    def _merged(self):
        if not self._runs:
            return self._range
        new = self._call_range()
        if self._range is None:
            return new
        (olo, ohi), (nlo, nhi) = self._range, new
        if self.moving_average:
            c = np.float32(self.c)
            with np.errstate(over="ignore"):
                out = (np.float32(olo + c * (nlo - olo)), np.float32(ohi + c * (nhi - ohi)))
            if not all(np.isfinite(out)):
                raise InvalidValueError(f"onnxruntime moving average overflows float32: {out}")
            return out
        return min(olo, nlo), max(ohi, nhi)

    def end_call(self):
        """End the current ``collect_data`` call (reduce its runs, merge with the earlier calls).
        ORT raises 'No data is collected.' when a call ends with no runs and no earlier range."""
        if not self._runs and self._range is None:
            raise InvalidValueError("onnxruntime MinMaxCalibrater: no data is collected in this call "
                                    "(ORT raises ValueError 'No data is collected.')")
        self._range, self._runs = self._merged(), []
        return self

    def collect(self, batches):
        """One ``collect_data`` call over ``batches`` (one run each)."""
        for b in batches:
            self.observe(b)
        return self.end_call()

    def range(self):
        r = self._merged()
        if r is None:
            raise _no_data(self.name)
        return frac(r[0]), frac(r[1])

    def state(self):
        from ._data import f32_bits
        return {"range": None if self._range is None else f32_bits(self._range),
                "runs": [f32_bits(r) for r in self._runs]}

    def _load(self, s):
        from ._data import from_f32_bits
        self._range = None if s.get("range") is None else tuple(from_f32_bits(s["range"]))
        self._runs = [tuple(from_f32_bits(r)) for r in s.get("runs", [])]


OBSERVERS = {cls.name: cls for cls in (MinMaxObserver, MovingAverageMinMaxObserver, PercentileObserver,
                                       EntropyObserver, MSEObserver, HistogramObserver,
                                       OnnxruntimeHistogramObserver, OnnxruntimeMinMaxObserver)}


def make_observer(name, **options):
    """An observer by name: minmax, moving_average, percentile, entropy, mse, histogram,
    onnxruntime_histogram, onnxruntime_minmax."""
    if name not in OBSERVERS:
        raise UnknownNameError("observer", name, OBSERVERS)
    return OBSERVERS[name](**options)


def from_dict(d):
    """Rebuild an observer saved with ``to_dict``."""
    if not isinstance(d, dict) or "observer" not in d:
        raise InvalidValueError(f"not a saved observer: {d!r:.80}")
    obs = make_observer(d["observer"], **d.get("config", {}))
    obs._load(d["state"])
    return obs
