"""Histograms with exact edges and exact bin assignment.

Edge rule: bin k of B bins on [lo, hi] is [lo + k·w, lo + (k+1)·w) with w = (hi - lo)/B exactly
(a rational, never rounded); the last bin also holds hi.  This is numpy's documented rule, but
numpy computes the bin in floating point and then corrects against *rounded* edges; here the
comparison is against the exact rational edges, so a value on an edge always goes to the right.

Vectorised exactly: for fp32 v and amax and B <= 2^20, v·B and k·amax (k <= B) are exact in
float64 (24 + 21 significant bits), so the float64 estimate floor(v·B / amax) is corrected with
exact float64 comparisons until k·amax <= v·B < (k+1)·amax.
"""

from fractions import Fraction

import numpy as np

from ..errors import InvalidValueError

MAX_BINS = 2**20
# numpy >= 2.2.0 refuses equal bins whose edges do not strictly increase ("Too many bins for data
# range", numpy/numpy#27148; measured: 2.1.3 counts them, 2.2.0, 2.3.5, 2.4.0 raise ValueError).  ORT's
# calibrators call np.histogram, so with the installed numpy they fail there too.
NUMPY_REFUSES_EQUAL_EDGES = np.lib.NumpyVersion(np.__version__) >= "2.2.0"


def refused_edges_error(who, bins, lo, hi):
    """The InvalidValueError for ``bins`` equal bins over [lo, hi] whose float32 edges coincide, which
    np.histogram of this numpy refuses (NUMPY_REFUSES_EQUAL_EDGES)."""
    return InvalidValueError(
        f"{who}: {bins} equal bins over [{lo}, {hi}] have coinciding float32 edges, and np.histogram of numpy "
        f"{np.__version__} (>= 2.2) refuses them ('Too many bins for data range'), so onnxruntime's calibrator "
        "fails there too; there is no ORT result with this numpy")


def check_bins(bins, what="bins"):
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 1 <= bins <= MAX_BINS:
        raise InvalidValueError(f"{what} must be an integer in 1..{MAX_BINS}, got {bins!r}")
    return int(bins)


def floor_ratio(num, den):
    """floor(num / den) for float64 arrays whose products with small ints are exact."""
    k = np.floor(num / den)
    for _ in range(2):
        k = np.where(k * den > num, k - 1, k)
        k = np.where((k + 1) * den <= num, k + 1, k)
    return k.astype(np.int64)


def abs_histogram(ms_abs, amax, bins):
    """Counts of the |x| multiset in B bins on [0, amax] (exact edges k·amax/B)."""
    bins = check_bins(bins)
    a = float(amax)
    if not a > 0:
        raise InvalidValueError(f"histogram range [0, {amax}] is empty (all calibration data is 0)")
    v = ms_abs.values.astype(np.float64)
    k = np.clip(floor_ratio(v * bins, a), 0, bins - 1)
    return np.bincount(k, weights=ms_abs.counts, minlength=bins).astype(np.int64)


def signed_histogram(ms, amax, bins):
    """Counts of the signed multiset in B (even) bins on [-amax, amax]: bin B/2 + floor(x·(B/2)/amax)."""
    bins = check_bins(bins)
    if bins % 2:
        raise InvalidValueError(f"a signed histogram needs an even bin count (0 on an edge), got {bins}")
    a = float(amax)
    if not a > 0:
        raise InvalidValueError(f"histogram range [-{amax}, {amax}] is empty (all calibration data is 0)")
    half = bins // 2
    v = ms.values.astype(np.float64)
    k = np.clip(half + floor_ratio(v * half, a), 0, bins - 1)
    return np.bincount(k, weights=ms.counts, minlength=bins).astype(np.int64)


def edge(lo, hi, bins, k):
    """Exact edge k of B bins on [lo, hi] (Fractions)."""
    return lo + (hi - lo) * Fraction(k, bins)


# --------------------------------------------------------------------------------------------
# numpy's float32 edges (the histograms onnxruntime builds with np.histogram)
# --------------------------------------------------------------------------------------------

F32 = np.float32


def numpy_edges(lo, hi, bins):
    """The float32 edges ``np.histogram(x_f32, bins, range=(lo, hi))`` builds (numpy 2.x).

    Every step is one IEEE binary32 operation, rounded to nearest even (fl):
      if lo == hi: lo, hi = fl(lo - 1/2), fl(hi + 1/2)      (the empty-range expansion)
      delta = fl(hi - lo); step = fl(delta / B)
      e_k = fl(fl(k · step) + lo)            for k < B, when step != 0
      e_k = fl(fl(fl(k / B) · delta) + lo)   for k < B, when step underflows to 0
      e_B = hi
    (numpy's ``linspace(lo, hi, B + 1, dtype=float32)``: y = arange(B + 1); y *= step; y += lo;
    y[-1] = hi.)  A span 2·max|x| beyond float32 makes delta inf: numpy then yields NaN edges and
    onnxruntime fails with IndexError, so this raises InvalidValueError; so do edges that do not
    strictly increase where the installed numpy (>= 2.2) refuses them (NUMPY_REFUSES_EQUAL_EDGES).
    # Reproduces: numpy.histogram / numpy.linspace (numpy 2.1.3 lib/_histograms_impl.py, _core/function_base.py)
    """
    bins = check_bins(bins)
    lo, hi = F32(lo), F32(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise InvalidValueError(f"histogram range [{lo}, {hi}] must be finite and ordered")
    if lo == hi:
        lo, hi = F32(lo - F32(0.5)), F32(hi + F32(0.5))
    with np.errstate(over="ignore"):
        delta = F32(hi - lo)
    if not np.isfinite(delta):
        raise InvalidValueError(
            f"histogram span {hi} - ({lo}) overflows float32: np.histogram's edges become NaN/inf, and "
            "onnxruntime's HistogramCollector fails there too (IndexError); no ORT result exists")
    k = np.arange(bins + 1, dtype=F32)
    step = F32(delta / F32(bins))
    with np.errstate(under="ignore"):
        y = k * step if step != 0 else (k / F32(bins)) * delta
    e = (y + lo).astype(F32)
    e[-1] = hi
    if NUMPY_REFUSES_EQUAL_EDGES and np.any(e[:-1] >= e[1:]):
        raise refused_edges_error("np.histogram", bins, lo, hi)
    return e


def numpy_histogram(ms, edges):
    """Counts of the multiset in the bins of float32 ``edges`` (from ``numpy_edges``), assigned
    the way np.histogram assigns them (numpy 2.x, equal bins), each step one fl32 operation:
      values outside [e_0, e_B] are dropped;
      i = trunc(fl(fl(fl(v - e_0) / fl(e_B - e_0)) · B)); i = B -> B - 1;
      then once: i -= 1 if v < e_i; then once: i += 1 if v >= e_(i+1) and i != B - 1.
    Nearly always this is the bin whose float32 edges bracket v (e_i <= v < e_(i+1), the last bin
    closed); on subnormal spans, where the estimate can be off by more than one bin, it is
    numpy's answer, not the bracket.
    # Reproduces: numpy.histogram (numpy 2.1.3 lib/_histograms_impl.py, uniform-bins path)
    """
    v, c = ms.values, ms.counts
    first, last = edges[0], edges[-1]
    n = edges.size - 1
    keep = (v >= first) & (v <= last)
    v, c = v[keep], c[keep]
    with np.errstate(all="ignore"):
        est = ((v - first) / F32(last - first)) * F32(n)
    i = est.astype(np.int64)
    i[i == n] -= 1
    i[v < edges[i]] -= 1
    i[(v >= edges[i + 1]) & (i != n - 1)] += 1
    return np.bincount(i, weights=c, minlength=n).astype(np.int64)
