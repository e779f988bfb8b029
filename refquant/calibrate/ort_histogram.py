"""onnxruntime 1.31 HistogramCalibrater collection, per ``collect_data`` call (calibration.md §4, §5.4).

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


def collect_signed(state, x, bins):
    """One ORT ``collect_value`` call on float32 x; state = (hist, edges, min, max, T)."""
    x = np.asarray(x, np.float32).ravel()
    if x.size:
        lo, hi = np.nanmin(x), np.nanmax(x)
    else:
        lo = hi = np.array(0, np.float32)
    t = np.array(max(abs(lo), abs(hi)), dtype=x.dtype)
    if state is None:
        h, e = np.histogram(x, bins, range=(-t, t))
        return h, e, lo, hi, t
    oh, oe, omin, omax, ot = state
    if t <= ot:
        h, _ = np.histogram(x, len(oh), range=(-ot, ot))
        return h + oh, oe, min(omin, lo), max(omax, hi), ot
    if ot == 0:
        h, e = np.histogram(x, len(oh), range=(-t, t))
        return h + oh, e, min(omin, lo), max(omax, hi), t
    n = len(oh)
    stride = 2 * ot / n
    k = int((t - ot) // stride + 1)
    t = k * stride + ot
    h, e = np.histogram(x, n + 2 * k, range=(-t, t))
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
        h, e = np.histogram(a, bins=bins)
        return h, e.astype(a.dtype), lo, hi
    oh, oe, omin, omax = state
    if np.nanmax(a) > oe[-1]:
        w = oe[1] - oe[0]
        oe = np.hstack((oe, np.arange(oe[-1] + w, np.nanmax(a) + w, w)))
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
