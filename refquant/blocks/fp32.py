"""Exact binary32 operations that numpy lacks, vectorized: the fused multiply-add.

numpy's float32 ``*`` and ``+`` are single IEEE operations; a fused multiply-add is not: it is
computed here from the exact binary64 product (24 + 24 significand bits fit 53), a binary64 sum
with its TwoSum error, and a correction where rounding that sum to binary32 would round twice
(the sum exactly halfway between two binary32 values while the error is not zero).
Reproduces: IEEE 754-2019 fusedMultiplyAdd in binary32, RNE (as refquant.formats.fma).
"""

import numpy as np


def fma32(a, b, c):
    """fl32(a*b + c) with one rounding, elementwise, for float32 arrays (finite results)."""
    a64, b64, c64 = (np.asarray(x, dtype=np.float32).astype(np.float64) for x in (a, b, c))
    p = a64 * b64
    s = p + c64
    bb = s - p
    e = (p - (s - bb)) + (c64 - bb)
    r = s.astype(np.float32)
    r64 = r.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        other = np.nextafter(r, np.where(s > r64, np.float32(np.inf), np.float32(-np.inf)))
        mid = (r64 + other.astype(np.float64)) / 2
    fix = (s == mid) & (e != 0)
    toward = np.where(e > 0, np.maximum(r, other), np.minimum(r, other))
    return np.where(fix, toward, r).astype(np.float32)
