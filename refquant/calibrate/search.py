"""Range searches over the exact multiset: percentile estimators, KL (entropy) variants, MSE.

Each function takes the exact multiset and returns exact Fractions.  KL uses the deterministic
float64 kernel of ``detfloat``; percentile and MSE are exact rational/integer computations.
"""

from fractions import Fraction
import math

import numpy as np

from ..errors import InvalidValueError, UnknownNameError
from ..rounding import half_even
from . import detfloat, ncnn_entropy
from ._data import frac
from .histogram import abs_histogram, check_bins, numpy_edges, numpy_histogram

# --------------------------------------------------------------------------------------------
# Percentile
# --------------------------------------------------------------------------------------------

# numpy.percentile's continuous methods (Hyndman & Fan 1996): virtual 0-based index
# h = n·p + alpha + p·(1 - alpha - beta) - 1, clipped to [0, n-1], then linear interpolation.
CONTINUOUS = {"linear": (1, 1), "weibull": (0, 0), "hazen": (Fraction(1, 2), Fraction(1, 2)),
              "median_unbiased": (Fraction(1, 3), Fraction(1, 3)),
              "normal_unbiased": (Fraction(3, 8), Fraction(3, 8)),
              "interpolated_inverted_cdf": (0, 1)}
DISCRETE = ("lower", "higher", "nearest", "midpoint", "inverted_cdf", "averaged_inverted_cdf")
HISTOGRAM = ("hist_left", "hist_right")
PERCENTILE_METHODS = tuple(CONTINUOUS) + DISCRETE + HISTOGRAM


def check_percentile(p):
    """p in (0, 100] as an exact Fraction; a float is read as the decimal its repr shows."""
    if isinstance(p, bool) or not isinstance(p, (int, float, Fraction, str)):
        raise InvalidValueError(f"percentile must be a number, got {p!r}")
    try:
        q = Fraction(repr(p)) if isinstance(p, float) else Fraction(p)
    except (ValueError, ZeroDivisionError):
        raise InvalidValueError(f"percentile must be a finite number, got {p!r}") from None
    if not 0 < q <= 100:
        raise InvalidValueError(f"percentile must be in (0, 100], got {p!r}")
    return q


def _interp(ms, h):
    n = ms.n
    h = min(max(h, Fraction(0)), Fraction(n - 1))
    j = math.floor(h)
    g = h - j
    lo = ms.order_stat(j)
    return lo if g == 0 else lo + g * (ms.order_stat(j + 1) - lo)


def percentile(ms, p, method="linear", bins=2048):
    """The p-th percentile (p in (0, 100]) of the multiset ``ms`` by the named estimator, exact.

    Equals numpy.percentile(x, p, method=method) up to numpy's own float64 rounding of h and of
    the interpolation.  ``hist_left``/``hist_right``: on ``bins`` exact bins of [0, max] (|x| data,
    ms >= 0), the left/right edge of the first bin whose cumulative count reaches p% (ORT and
    ModelOpt use the left edge, on their own histograms).
    """
    q = check_percentile(p) / 100
    n = ms.n
    if n == 0:
        raise InvalidValueError("percentile of empty calibration data")
    if method in CONTINUOUS:
        a, b = CONTINUOUS[method]
        return _interp(ms, n * q + a + q * (1 - a - b) - 1)
    h = (n - 1) * q
    if method == "lower":
        return ms.order_stat(math.floor(h))
    if method == "higher":
        return ms.order_stat(math.ceil(h))
    if method == "nearest":
        return ms.order_stat(half_even(h))
    if method == "midpoint":
        return (ms.order_stat(math.floor(h)) + ms.order_stat(math.ceil(h))) / 2
    if method == "inverted_cdf":
        return ms.order_stat(max(math.ceil(n * q) - 1, 0))
    if method == "averaged_inverted_cdf":
        k = n * q
        if k.denominator == 1 and 0 < k < n:
            return (ms.order_stat(int(k) - 1) + ms.order_stat(int(k))) / 2
        return ms.order_stat(max(math.ceil(k) - 1, 0))
    if method in HISTOGRAM:
        return _hist_percentile(ms, q, method, bins)
    raise UnknownNameError("percentile method", method, PERCENTILE_METHODS)


def _hist_percentile(ms, q, method, bins):
    if ms.values[0] < 0:
        raise InvalidValueError("histogram percentiles are defined on |x| data (mode='abs')")
    amax = frac(ms.values[-1])
    hist = abs_histogram(ms, amax, bins)
    cum = np.cumsum(hist)
    # first i with cum[i] / n >= q, exactly: cum[i] * q.den >= q.num * n
    need = -(-(q.numerator * int(cum[-1])) // q.denominator)
    i = int(np.searchsorted(cum, need, side="left"))
    return amax * Fraction(i + (method == "hist_right"), bins)


# --------------------------------------------------------------------------------------------
# Entropy (KL divergence)
# --------------------------------------------------------------------------------------------

ENTROPY_VARIANTS = ("tensorrt", "modelopt", "onnxruntime", "ncnn")


def check_entropy_bins(bins, target_bins):
    bins, target_bins = check_bins(bins), check_bins(target_bins, "target_bins")
    if bins < target_bins:
        raise InvalidValueError(f"bins ({bins}) must be at least target_bins ({target_bins})")
    return bins, target_bins


def _merged_q(b, i, t):
    """Q over bins[:i]: level(j) = floor(j·t/i); each nonzero bin gets the mean of the nonzero
    bins of its level (one float64 division); zero bins get 0."""
    level = (np.arange(i) * t) // i
    nz = b > 0
    total = np.bincount(level, weights=b, minlength=t)
    count = np.bincount(level, weights=nz, minlength=t)
    mean = np.divide(total, count, out=np.zeros(t), where=count > 0)
    return np.where(nz, mean[level], 0.0)


def _kl_candidates(hist, i_lo, i_hi, t):
    """KL(P_i || Q_i) for i in i_lo..i_hi: P = bins[:i] with the tail mass in P[i-1]."""
    b = hist.astype(np.float64)
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0]])  # tail[i] = sum(hist[i:])
    out = []
    for i in range(i_lo, i_hi + 1):
        p = b[:i].copy()
        p[-1] += float(tail[i])
        out.append(detfloat.kl_divergence(p, _merged_q(b[:i], i, t)))
    return out


def _argmin(values, last=False):
    """First (or last) index of the minimum; None if every candidate is infinite."""
    best = min(values)
    if best == math.inf:
        return None
    idx = [k for k, v in enumerate(values) if v == best]
    return idx[-1] if last else idx[0]


def entropy_tensorrt(ms_abs, bins=2048, target_bins=128):
    """TensorRT entropy calibration (GTC 2017 as quoted; refquant fixes what it leaves open).

    |x| histogram, ``bins`` exact bins on [0, amax]; candidates i = target_bins..bins-1;
    Q merges bins[:i] into levels floor(j·target/i) (uneven merging by exact proportion), mean over
    the level's nonzero bins, zero bins stay 0 (a P>0=Q bin makes the candidate infinite);
    first minimum; threshold (i* + 1/2)·amax/bins (amax if every candidate is infinite).  Returns amax_clip (Fraction).
    """
    bins, t = check_entropy_bins(bins, target_bins)
    amax = frac(ms_abs.values[-1])
    hist = abs_histogram(ms_abs, amax, bins)
    kl = _kl_candidates(hist, t, bins - 1, t)
    best = _argmin(kl)
    if best is None:  # every candidate puts tail mass on an empty bin: no clipping
        return amax
    return (t + best + Fraction(1, 2)) * amax / bins


def entropy_modelopt(ms_abs, bins=2048, target_bins=128):
    """ModelOpt / pytorch-quantization ``_compute_amax_entropy`` (docs/reference/calibration.md §5.3) on the
    exact histogram: bins[0] := bins[1] (on a copy), i = target..bins inclusive, last minimum,
    amax = edge[i*] = i*·amax/bins."""
    bins, t = check_entropy_bins(bins, target_bins)
    amax = frac(ms_abs.values[-1])
    hist = abs_histogram(ms_abs, amax, bins)
    if bins > 1:
        hist[0] = hist[1]
    kl = _kl_candidates(hist, t, bins, t)
    best = _argmin(kl, last=True)
    i = bins if best is None else t + best  # all infinite: numpy's last argmin is the last
    return i * amax / bins


def _smooth(p, eps=1e-4):
    """ORT smooth_distribution in float64: zeros -> eps, nonzeros -= eps·n0/n1."""
    zero = p == 0
    n0 = int(zero.sum())
    n1 = p.size - n0
    if n1 == 0:
        return None
    eps1 = eps * float(n0) / float(n1)
    return np.where(zero, eps, p - eps1)


def entropy_onnxruntime(ms, bins=2048, target_bins=128):
    """onnxruntime ``get_entropy_threshold`` (docs/reference/calibration.md §5.4) on ORT's one-call histogram.

    Histogram: ``bins`` bins on [-T, T] (T = max|x| in float32) with the float32 edges numpy
    builds (``histogram.numpy_edges``: fl(fl(k·step) - T), not the exact -T + 2T·k/B) and each
    value in the bin numpy assigns it (``histogram.numpy_histogram``); T = 0 becomes
    [-1/2, 1/2] as in numpy, and ORT's clamp then returns (0, 0).
    Search: windows [z-i, min(z+i+1, n)) for i = t/2..n/2 (z = n/2) with outside mass added to
    both ends of P; Q: t chunks of m = len//t bins, the leftover bins' mass added to the last
    chunk, each chunk's sum divided by its count of nonzero P bins and truncated to an integer on
    every bin of the chunk, leftover bins 0; ``_smooth`` on P and Q; first minimum; the float32
    (edge[s], edge[e]) clamped to the data range -- ORT's returned values, bit for bit.
    """
    bins, t = check_entropy_bins(bins, target_bins)
    lo_data, hi_data = frac(ms.values[0]), frac(ms.values[-1])
    T = max(-ms.values[0], ms.values[-1])  # float32, as ORT's threshold
    edges = numpy_edges(-T, T, bins)
    hist = numpy_histogram(ms, edges)
    return ort_entropy_search(hist, lambda k: frac(edges[k]), lo_data, hi_data, t)


def ort_entropy_search(hist, edge, lo_data, hi_data, t=128):
    """The search of ORT ``get_entropy_threshold`` on a given signed histogram (any even or odd
    length n, z = n//2), ``edge(k)`` the exact edge k; result clamped to [lo_data, hi_data]."""
    n = hist.size
    z = n // 2
    cum = np.concatenate([[0], np.cumsum(hist)])
    kls, windows = [], []
    for i in range(t // 2, z + 1):
        s, e = z - i, min(z + i + 1, n)
        kls.append(_ort_kl(hist[s:e].copy(), int(cum[s]), int(cum[-1] - cum[e]), t))
        windows.append((s, e))
    best = _argmin(kls)
    s, e = windows[0 if best is None else best]  # all infinite: numpy argmin's first
    return max(edge(s), lo_data), min(edge(e), hi_data)


def _ort_kl(window, left, right, t):
    p = window.copy()
    p[0] += left
    p[-1] += right
    m = window.size // t
    q = np.zeros(window.size, np.int64)
    if m > 0:
        sums = window[:t * m].reshape(t, m).sum(axis=1)
        sums[-1] += window[t * m:].sum()
        nz = (p[:t * m] > 0).reshape(t, m).sum(axis=1)
        per = np.where(nz > 0, sums // np.maximum(nz, 1), 0)  # counts >= 0: // is truncation
        q[:t * m] = np.repeat(per, m)
    ps, qs = _smooth(p.astype(np.float64)), _smooth(q.astype(np.float64))
    if ps is None or qs is None:
        return math.inf
    return detfloat.kl_divergence(ps, qs)


def entropy(ms, variant="tensorrt", bins=2048, target_bins=128):
    """(lo, hi) chosen by the named KL variant (symmetric variants return (-a, a))."""
    if variant == "onnxruntime":
        return entropy_onnxruntime(ms, bins, target_bins)
    fn = {"tensorrt": entropy_tensorrt, "modelopt": entropy_modelopt, "ncnn": ncnn_entropy.entropy_ncnn}.get(variant)
    if fn is None:
        raise UnknownNameError("entropy variant", variant, ENTROPY_VARIANTS)
    a = fn(ms.absolute(), bins, target_bins)
    return -a, a


# --------------------------------------------------------------------------------------------
# MSE
# --------------------------------------------------------------------------------------------

def mse_amax(ms_abs, bins=2048, qmax=127, start_bin=128):
    """amax minimising the histogram MSE of symmetric fake-quant (ModelOpt ``_compute_amax_mse``,
    as intended: docs/reference/calibration.md §6), computed exactly in integers.

    Representatives c_k = (k + 1/2)·w (w = amax/bins), weights = counts; candidates a = c_m for
    m = start_bin..bins-2; q_k = min(RNE(c_k·qmax/a), qmax) = min(RNE(qmax(2k+1)/(2m+1)), qmax);
    error c_k - q_k·a/qmax = w/(2·qmax) · (qmax(2k+1) - q_k(2m+1)), so the argmin of
    sum_k count_k·(qmax(2k+1) - q_k(2m+1))^2 is exact.  First minimum.
    """
    bins = check_bins(bins)
    if not 0 <= start_bin <= bins - 2:
        raise InvalidValueError(f"start_bin must be in 0..bins-2 = 0..{bins - 2}, got {start_bin}")
    amax = frac(ms_abs.values[-1])
    hist = abs_histogram(ms_abs, amax, bins)
    k = np.arange(bins, dtype=object if bins * qmax > 2**20 else np.int64)
    num = qmax * (2 * k + 1)
    best, best_m = None, None
    obj = (qmax * 2 * bins) ** 2 * ms_abs.n >= 2**62
    counts = hist.astype(object) if obj else hist
    for m in range(start_bin, bins - 1):
        den = 2 * m + 1
        qk, r = num // den, num % den
        qk = np.minimum(qk + (2 * r > den), qmax)  # den odd: no ties
        err = num - qk * den
        total = int((counts * err * err).sum())
        if best is None or total < best:
            best, best_m = total, m
    return (best_m + Fraction(1, 2)) * amax / bins
