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
