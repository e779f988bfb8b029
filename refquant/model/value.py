"""A tensor as the model runner carries it: a value, and the enclosure of what a backend may hold.

``V(v)`` is exact: every conforming implementation of the modelled backend computes ``v``.
``V(v, lo, hi)`` says the backend holds some value in [lo, hi] element-wise (``v`` is one of them):
integers where a quantization depended on float evaluation order or libm (each integer in the
range is a candidate), floats where an op's result depends on summation order, FMA contraction
or a library's exp (the enclosure is rigorous for sums: |fl(sum) - sum| <= gamma_n * sum|t|,
Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., Thm 4.4).

Float endpoints are float64 arrays holding binary32 values (rounded outward), so that a monotone
op on the endpoints gives the endpoints of its result.
"""

from dataclasses import dataclass

import numpy as np

U32 = 2.0 ** -24          # unit roundoff of binary32


@dataclass
class V:
    v: np.ndarray
    lo: np.ndarray = None
    hi: np.ndarray = None

    @property
    def exact(self):
        return self.lo is None

    @property
    def dtype(self):
        return self.v.dtype

    @property
    def shape(self):
        return self.v.shape

    def bounds(self):
        """(lo, hi) arrays (the value twice when exact); float64 for floats, int64 for integers."""
        if self.lo is None:
            b = self.v.astype(np.float64 if self.v.dtype.kind == "f" else np.int64)
            return b, b
        return self.lo, self.hi

    def ambiguous(self):
        """Boolean mask of the elements whose value is not determined."""
        if self.lo is None:
            return np.zeros(self.v.shape, bool)
        return self.lo != self.hi

    def map(self, fn):
        """A movement op (reshape, transpose, slice, ...) applied to the value and both bounds."""
        if self.lo is None:
            return V(fn(self.v))
        return V(fn(self.v), fn(self.lo), fn(self.hi))


def down32(x):
    """The largest binary32 value <= x (float64 array in, float64 array out)."""
    f = np.asarray(x, np.float64).astype(np.float32)
    f = np.where(f.astype(np.float64) > x, np.nextafter(f, np.float32(-np.inf)), f)
    return f.astype(np.float64)


def up32(x):
    """The smallest binary32 value >= x."""
    f = np.asarray(x, np.float64).astype(np.float32)
    f = np.where(f.astype(np.float64) < x, np.nextafter(f, np.float32(np.inf)), f)
    return f.astype(np.float64)


def enclose(mid, rad, value=None):
    """A float32 tensor from an exact-enough float64 midpoint and a radius (exact when rad is 0)."""
    v = (mid if value is None else value).astype(np.float32)
    if not np.any(rad):
        return V(v)
    return V(v, down32(mid - rad), up32(mid + rad))


def gamma(n):
    """gamma_n = n u / (1 - n u) for binary32 (a bound of the relative error of an n-term sum)."""
    nu = n * U32
    return nu / (1 - nu) * 1.0000001
