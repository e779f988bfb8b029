"""The numpy edge of calibration: fp32 input checks and the exact multiset of observed values.

Everything that leaves this module is exact: fp32 values (each one a dyadic rational), their
minima/maxima (comparisons are exact) and integer counts.  No float arithmetic happens here.
"""

from fractions import Fraction

import numpy as np

from ..errors import InvalidValueError


def as_f32(data, what="calibration data"):
    """``data`` as a float32 ndarray.  Other dtypes are rounded to fp32 once (RNE, numpy cast).

    NaNs are kept (callers drop them); ±inf raises: no finite range contains it.
    """
    try:
        a = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"{what}: expected an array of numbers ({exc})") from None
    if a.dtype.kind not in "fiub":
        raise InvalidValueError(f"{what}: expected numbers, got dtype {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if np.isinf(a).any():
        raise InvalidValueError(f"{what}: contains ±inf; a calibration range must be finite")
    return a


def finite_values(data, what="calibration data"):
    """Flat float32 values without NaN.  Empty input gives an empty array; all-NaN raises."""
    a = as_f32(data, what).ravel()
    nan = np.isnan(a)
    if a.size and nan.all():
        raise InvalidValueError(f"{what}: all {a.size} values are NaN")
    return a[~nan] if nan.any() else a


def frac(x):
    """Exact Fraction of an fp32/fp64 scalar (``float.as_integer_ratio`` is exact)."""
    return Fraction(*float(x).as_integer_ratio())


def f32_bits(values):
    """int list of the fp32 bit patterns (JSON-able state)."""
    return np.asarray(values, np.float32).view(np.uint32).astype(np.int64).tolist()


def from_f32_bits(bits):
    return np.asarray(bits, np.int64).astype(np.uint32).view(np.float32)


class Multiset:
    """The exact multiset of observed fp32 values: sorted distinct values and int64 counts.

    It is the sufficient statistic of every order-free method (percentile, histogram, entropy,
    MSE): merging batches is a multiset union, so any batching or order gives the same state.
    -0.0 is stored as +0.0 (same value).
    """

    def __init__(self, values=None, counts=None):
        self._values = np.zeros(0, np.float32) if values is None else values
        self._counts = np.zeros(0, np.int64) if counts is None else counts
        self._pending = []  # raw batches, merged on first read (one sort instead of one per batch)

    @property
    def values(self):
        self._consolidate()
        return self._values

    @property
    def counts(self):
        self._consolidate()
        return self._counts

    @property
    def n(self):
        return int(self.counts.sum())

    def add(self, flat):
        self._pending.append(flat + np.float32(0))  # +0: -0.0 -> +0.0
        self.__dict__.pop("_abs", None)
        if sum(p.size for p in self._pending) > 2**22:  # bound the raw backlog (16 MiB)
            self._consolidate()

    def _consolidate(self):
        if self._pending:
            raw = np.concatenate(self._pending)
            self._pending = []
            u, c = np.unique(raw, return_counts=True)
            self.merge(Multiset(u, c.astype(np.int64)))

    def merge(self, other):
        """Multiset union (``other`` may hold repeated or unsorted values)."""
        v = np.concatenate([self.values, other.values])
        c = np.concatenate([self.counts, other.counts])
        u, inv = np.unique(v, return_inverse=True)
        cnt = np.zeros(u.size, np.int64)
        np.add.at(cnt, inv, c)
        self._values, self._counts = u, cnt
        self.__dict__.pop("_abs", None)

    def absolute(self):
        """The multiset of |x|."""
        if "_abs" not in self.__dict__:
            out = Multiset()
            out.merge(Multiset(np.abs(self.values), self.counts))
            self._abs = out
        return self._abs

    def order_stat(self, k):
        """The k-th smallest value (0-based), exact."""
        cum = np.cumsum(self.counts)
        return frac(self.values[int(np.searchsorted(cum, k, side="right"))])

    def to_state(self):
        return {"values_f32_bits": f32_bits(self.values), "counts": self.counts.tolist()}

    @classmethod
    def from_state(cls, d):
        return cls(from_f32_bits(d["values_f32_bits"]), np.asarray(d["counts"], np.int64))
