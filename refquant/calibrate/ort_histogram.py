"""onnxruntime 1.31 HistogramCalibrater collection, per ``collect_data`` call (docs/reference/calibration.md §4, §5.4).

A *peer model*, batch- and order-dependent by construction (refquant's own percentile/entropy
observers keep the exact multiset instead).  ORT computes with numpy on the float32 batch, so the
model calls the same numpy operations in the same order:

* signed (entropy, percentile ``symmetric=False``): T = max(|nanmin|, |nanmax|) (float32);
  first call ``np.histogram(x, n, range=(-T, T))``; a later call with T' <= T adds
  ``np.histogram(x, n, range=(-T, T))``; otherwise, with s = f32(2T/n) and
  k = int((T' - T)//s + 1): n + 2k bins on ±(k·s + T) (float32) and the old counts added at [k, n+k].
* |x| (percentile ``symmetric=True``): first call ``np.histogram(|x|, n)`` (range [min|x|, max|x|]),
  edges cast to float32; when max|x| grows, edges ``arange(last + w, max + w, w)`` are appended
  (w = edges[1] - edges[0]) and the batch is binned on the explicit edges; values below the first
  edge are dropped (ORT's behaviour).
* min/max: running ``nanmin``/``nanmax`` of the raw data.
"""

import numpy as np

from ..errors import InvalidValueError
from .histogram import NUMPY_REFUSES_EQUAL_EDGES, refused_edges_error

MAX_GROWN_BINS = 2**24  # refquant's bound on a grown ORT histogram (ORT would try to allocate it)


def _signed_hist(x, n, t):
    """np.histogram(x, n, range=(-t, t)), refusing what makes numpy (and so ORT) fail."""
    with np.errstate(over="ignore"):
        span = np.float32(2) * np.float32(t)
    if not np.isfinite(span):
        raise InvalidValueError(
            f"onnxruntime histogram: 2·max|x| = 2·{t} overflows float32, so np.histogram's edges are NaN; "
            "onnxruntime's HistogramCollector fails there too (IndexError), there is no ORT result")
    if n > MAX_GROWN_BINS:
        raise InvalidValueError(f"onnxruntime histogram: growing to {n} bins (range ±{t}) exceeds refquant's "
                                f"bound of {MAX_GROWN_BINS}; ORT would try to allocate it")
    return _equal_bins(x, n, (-t, t), "onnxruntime histogram")


def _equal_bins(x, n, rng, who):
    """np.histogram(x, n, range=rng) (rng None: the data's); numpy's refusals as InvalidValueError:
    coinciding edges (numpy >= 2.2) named as such, any other (a NaN in the data, which makes the
    autodetected range NaN) with numpy's words.  ORT calls the same np.histogram and fails there too."""
    try:
        return np.histogram(x, n, range=rng)
    except ValueError as exc:
        if NUMPY_REFUSES_EQUAL_EDGES and "Too many bins" in str(exc):
            lo, hi = rng if rng is not None else (np.min(x), np.max(x))
            if lo == hi:   # numpy's widening of an empty range
                lo, hi = lo - np.float32(0.5), hi + np.float32(0.5)
            raise refused_edges_error(who, n, lo, hi) from None
        raise InvalidValueError(f"{who}: np.histogram refuses the batch ({exc}); onnxruntime's calibrator calls "
                                "it the same way and fails there too, so there is no ORT result") from None


def collect_signed(state, x, bins):
    """One ORT ``collect_value`` call on float32 x; state = (hist, edges, min, max, T)."""
    x = np.asarray(x, np.float32).ravel()
    if x.size:
        lo, hi = np.nanmin(x), np.nanmax(x)
    else:
        lo = hi = np.array(0, np.float32)
    t = np.array(max(abs(lo), abs(hi)), dtype=x.dtype)
    if state is None:
        h, e = _signed_hist(x, bins, t)
        return h, e, lo, hi, t
    oh, oe, omin, omax, ot = state
    if t <= ot:
        h, _ = _signed_hist(x, len(oh), ot)
        return h + oh, oe, min(omin, lo), max(omax, hi), ot
    if ot == 0:
        h, e = _signed_hist(x, len(oh), t)
        return h + oh, e, min(omin, lo), max(omax, hi), t
    n = len(oh)
    stride = 2 * ot / n
    with np.errstate(all="ignore"):
        kf = (t - ot) // stride + 1
    if not np.isfinite(kf) or n + 2 * kf > MAX_GROWN_BINS:
        raise InvalidValueError(
            f"onnxruntime histogram: growing from ±{ot} ({n} bins of {stride}) to ±{t} needs {kf} more bins "
            f"per side; refquant's bound is {MAX_GROWN_BINS} bins in all (ORT would try to allocate them, or "
            "fail converting an infinite count to int)")
    k = int(kf)
    with np.errstate(over="ignore"):
        t = k * stride + ot
    h, e = _signed_hist(x, n + 2 * k, t)
    h[k:n + k] += oh
    return h, e, min(omin, lo), max(omax, hi), t


def collect_abs(state, x, bins):
    """One ORT ``collect_absolute_value`` call; state = (hist, edges, min, max)."""
    x = np.asarray(x, np.float32).ravel()
    if x.size:
        lo, hi = np.nanmin(x), np.nanmax(x)
    else:
        lo = hi = np.array(0, np.float32)
    a = np.absolute(x)
    if state is None:
        if a.size and a.min() == a.max() and np.float32(a.max() - np.float32(0.5)) == np.float32(a.max() + np.float32(0.5)):
            raise InvalidValueError(
                f"onnxruntime |x| histogram: every |x| is {a.max()} (>= 2^24), so np.histogram's ±1/2 widening of the "
                "empty range changes nothing and its bin index is 0/0; onnxruntime's HistogramCollector fails there "
                "too (IndexError), there is no ORT result")
        h, e = _equal_bins(a, bins, None, "onnxruntime |x| histogram")
        return h, e.astype(a.dtype), lo, hi
    oh, oe, omin, omax = state
    if np.nanmax(a) > oe[-1]:
        w = oe[1] - oe[0]
        with np.errstate(all="ignore"):
            more = (np.nanmax(a) - oe[-1]) / w
        if not np.isfinite(more) or oe.size + more > MAX_GROWN_BINS:
            raise InvalidValueError(
                f"onnxruntime |x| histogram: appending edges of width {w} from {oe[-1]} to {np.nanmax(a)} needs "
                f"{more} more bins; refquant's bound is {MAX_GROWN_BINS} (ORT would try to allocate them, or fail "
                "in np.arange when the width is 0 or the end overflows)")
        with np.errstate(over="ignore"):
            stop = np.nanmax(a) + w
        if not np.isfinite(stop):
            raise InvalidValueError(f"onnxruntime |x| histogram: the appended edges' end {np.nanmax(a)} + {w} "
                                    "overflows float32; ORT's np.arange fails there too")
        oe = np.hstack((oe, np.arange(oe[-1] + w, stop, w)))
    h, e = np.histogram(a, bins=oe)
    h[:len(oh)] += oh
    return h, e.astype(a.dtype), min(omin, lo), max(omax, hi)


def percentile(state, p, symmetric):
    """ORT ``compute_percentile``: float64 cdf of hist/total, left edges by searchsorted, then
    the clamp to the raw data min/max (which makes the symmetric result asymmetric)."""
    if not 0 <= p <= 100:
        raise InvalidValueError(f"percentile must be in [0, 100], got {p!r}")
    hist, edges, lo_data, hi_data = state[:4]
    cdf = np.cumsum(hist / hist.sum())
    if symmetric:
        i = np.searchsorted(cdf, p / 100.0)
        lo, hi = -edges[i], edges[i]
    else:
        c = (100.0 - p) / 200.0
        lo, hi = edges[np.searchsorted(cdf, c)], edges[np.searchsorted(cdf, 1.0 - c)]
    lo = lo_data if lo < lo_data else lo
    hi = hi_data if hi > hi_data else hi
    return np.float32(lo), np.float32(hi)


def avg_std(state, scenario):
    """ORT ``compute_distribution``'s (avg, std) of the bin centres (float32 results).

    centres c = fl32(fl32(e_k + e_(k+1)) · 0.5) of the float32 edges; ``scenario`` 'same' uses
    v = c, 'p3' uses v = sign(c)·fl32(|c|^(1/3)) (sign 1 where c = 0); then in float64
    (int64 counts times float32 values promote to float64; sums are numpy's pairwise float64 sums,
    as ORT calls them): avg = sum(h·v)/sum(h), std = sqrt(sum(h·fl32(v²))/sum(h) - avg²), each
    rounded to float32 at the end.  std is NaN where the float64 variance rounds below 0 (one
    occupied bin, for instance), as in ORT.  The range ORT reports with them is the whole
    histogram, (edges.min(), edges.max()).
    # Reproduces: onnxruntime.quantization.calibrate HistogramCollector.compute_distribution / _avg_std (1.32.0)
    """
    hist, edges = state[0], state[1]
    with np.errstate(all="ignore"):
        values = (edges[:-1] + edges[1:]) * np.float32(0.5)
        if scenario == "p3":
            fact = np.abs(values) / values
            fact[np.isnan(fact) | np.isinf(fact)] = 1
            values = np.abs(values) ** (1.0 / 3.0) * fact
        avg = (hist * values).sum() / hist.sum()
        std = ((hist * values**2).sum() / hist.sum() - avg**2) ** 0.5
    return np.float32(avg), np.float32(std)
