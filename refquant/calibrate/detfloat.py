"""Deterministic float64 kernels for the inherently-float steps of calibration (KL divergence).

libm ``log`` is not correctly rounded and differs between platforms, and numpy's pairwise sum
depends on blocking.  Here every step is a named IEEE-754 binary64 operation (+, -, *, / round to
nearest even; frexp/ldexp exact), so any IEEE machine, numpy or pure Python, gives the same bits:

    ln(x), x > 0:  m, e = frexp(x)             (exact; m in [1/2, 1))
                   if m < SQRT_HALF: m = 2m, e = e - 1   (exact)
                   s = (m - 1) / (m + 1)        (|s| <= 0.1716)
                   t = s * s
                   h = C[11]; for k = 10..0: h = h * t + C[k]   (C[k] = fl(1 / (2k + 1)))
                   ln = e * LN2 + 2 * s * h     (evaluated as fl(fl(e * LN2) + fl(fl(2 * s) * h)))
    sum:           math.fsum, the correctly rounded sum (order-free).

Accuracy: within a few ulp of the true ln; what matters is that it is the same everywhere.
"""

import math

import numpy as np

SQRT_HALF = 0.7071067811865476
LN2 = 0.6931471805599453
COEFFS = [1.0 / (2 * k + 1) for k in range(12)]  # each a correctly rounded division


def ln(x):
    """Deterministic natural log of a positive float64 ndarray (or scalar)."""
    x = np.asarray(x, np.float64)
    m, e = np.frexp(x)
    low = m < SQRT_HALF
    m[low] *= 2.0
    e = (e - low).astype(np.float64)
    s = m - 1.0
    m += 1.0
    s /= m                                   # s = (m - 1) / (m + 1)
    t = s * s
    h = t * COEFFS[11]
    h += COEFFS[10]
    for c in reversed(COEFFS[:10]):          # h = h * t + c, each step rounded twice (no FMA)
        h *= t
        h += c
    s *= 2.0
    s *= h
    e *= LN2
    e += s
    return e


def ln_scalar(x):
    """The same operation sequence on one Python float (pure Python, no numpy)."""
    m, e = math.frexp(x)
    if m < SQRT_HALF:
        m, e = m * 2.0, e - 1
    s = (m - 1.0) / (m + 1.0)
    t = s * s
    h = COEFFS[11]
    for c in reversed(COEFFS[:11]):
        h = h * t + c
    return float(e) * LN2 + (2.0 * s) * h


def fsum(a):
    """Correctly rounded float64 sum of an array (independent of order and blocking)."""
    return math.fsum(np.asarray(a, np.float64).tolist())


def kl_divergence(p, q):
    """KL(P || Q) of two non-negative weight vectors, each normalised by its own sum.

    P_j = fl(p_j / fsum(p)), Q_j = fl(q_j / fsum(q)); the sum over P_j > 0 of
    fl(P_j * ln(fl(P_j / Q_j))) by fsum.  inf if some Q_j = 0 < P_j (as scipy.stats.entropy).
    """
    p = np.asarray(p, np.float64)
    q = np.asarray(q, np.float64)
    sp, sq = fsum(p), fsum(q)
    if sp <= 0 or sq <= 0:
        return math.inf
    pn, qn = p / sp, q / sq
    nz = pn > 0
    if (qn[nz] <= 0).any():
        return math.inf
    return fsum(pn[nz] * ln(pn[nz] / qn[nz]))
