"""ncnn ``quantize_KL`` (docs/reference/calibration.md §5.2) with every float step defined.

Read from Tencent/ncnn tools/quantize/ncnn2table.cpp (``QuantNet::quantize_KL``,
``compute_kl_divergence``); no ncnn binary was run.  Below, fl32 is one IEEE binary32
round-to-nearest-even operation (numpy float32 arithmetic), B = ``bins`` (ncnn: 2048),
M = ``target_bins`` (ncnn: 128, must be a power of two here), eps = fl32(1e-4).

Histogram (|x| data, amax = max|x| in fp32):
    zeros (±0) are skipped; every other v goes to bin min(trunc(fl32(fl32(v / amax) * B)), B - 1)
    (the division is rounded to fp32 first, exactly as ncnn; it is *not* the exact-edge rule of
    ``histogram.abs_histogram``).  norm[k] = fl32(fl64(hist[k] / sum(hist))).
Candidates t = M .. B - 1 (B itself is never tried), w = t / M (exact):
    P[k]   = fl32(eps + norm[k])  for k < t;  then P[t-1] += norm[j] for j = t .. B-1, one fl32
             addition at a time in increasing j (not renormalised).
    level j (0 <= j < M) covers [j·w, (j+1)·w); lu = ceil(j·w), ls = lu - j·w,
             rl = floor((j+1)·w), rs = (j+1)·w - rl (all exact).
    Q[j]   = 0; if ls > 0: += fl32(ls·norm[lu-1]); if rs > 0: += fl32(rs·norm[rl]); then
             += norm[k] for k = lu .. rl-1 in order; finally Q[j] = fl32(Q[j] / w).
             (Q uses norm, not P: the tail is not in Q, and no eps.)
    E[k]   = eps; for j = 0 .. M-1 in order: if ls > 0: E[lu-1] += fl32(ls·Q[j]);
             if rs > 0: E[rl] += fl32(rs·Q[j]); E[k] += Q[j] for lu <= k < rl.
             So a bin inside one level is fl32(eps + Q[j]) and a bin split between levels j and
             j+1 is fl32(fl32(eps + fl32(rs_j·Q[j])) + fl32(ls_{j+1}·Q[j+1])).
    KL(t)  = 0; for k = 0 .. t-1 in order: KL = fl32(KL + fl32(P[k] · ln32(fl32(P[k] / E[k])))).
             ln32(x) = fl32(detfloat.ln(x)) (refquant's deterministic binary64 log, rounded once
             to fp32).  ncnn calls the C library's float ``log`` overload (logf), whose last bit
             depends on the libm (glibc's logf is not correctly rounded); ln32 is correctly
             rounded except when ln(x) lies within a few binary64 ulp of an fp32 midpoint.
             refquant never contracts a multiply-add into an FMA (an ncnn build with FMA
             contraction enabled would round ``+= a·b`` once).
Choice: strict ``<`` from FLT_MAX over t = M, M+1, ...: the first minimum wins.
Threshold: (t* + 1/2)·amax/B, returned exactly (ncnn stores fl32(fl32((t* + 0.5f)·amax) / 2048)).
"""

from fractions import Fraction

import numpy as np

from ..errors import InvalidValueError
from . import detfloat
from ._data import frac

EPS = np.float32(1e-4)
FLT_MAX = np.float32(np.finfo(np.float32).max)
_CHUNK = 1 << 22  # elements per candidate block (memory bound; results do not depend on it)


def check(bins, target_bins):
    if target_bins & (target_bins - 1):
        raise InvalidValueError(f"the ncnn entropy variant needs target_bins a power of two, got {target_bins}")
    if bins * target_bins > 2**24:
        raise InvalidValueError(f"the ncnn entropy variant needs bins·target_bins <= 2^24, got {bins}·{target_bins}")


def histogram(ms_abs, bins):
    """ncnn's |x| histogram: (counts int64, amax as a Fraction); zeros skipped, fp32 bin index."""
    v = ms_abs.values.astype(np.float32)
    a = np.float32(v[-1]) if v.size else np.float32(0)
    if not a > 0:
        raise InvalidValueError("zero range: all calibration data is 0")
    nz = v != 0
    idx = np.minimum(((v[nz] / a) * np.float32(bins)).astype(np.int64), bins - 1)
    counts = np.asarray(ms_abs.counts)[nz].astype(np.int64)
    hist = np.bincount(idx, weights=counts, minlength=bins)   # float64 sums of counts < 2^53: exact
    return hist.astype(np.int64), frac(a)


def _ln32(x):
    return detfloat.ln(x.astype(np.float64)).astype(np.float32)


def kl_candidates(hist, target_bins=128):
    """float32 KL(t) of ncnn's search for t = target_bins .. len(hist)-1 (module docstring)."""
    hist = np.asarray(hist, np.int64)
    B, M = hist.size, int(target_bins)
    check(B, M)
    if B <= M:
        return np.zeros(0, np.float32)
    total = int(hist.sum())
    norm = (hist.astype(np.float64) / float(total)).astype(np.float32)
    ts = np.arange(M, B)
    # the tail chain of P[t-1], vectorised over t (each t is its own sequential fl32 chain)
    last = EPS + norm[ts - 1]
    for j in range(M, B):
        last[:j - M + 1] += norm[j]
    rows = max(1, _CHUNK // B)
    return np.concatenate([_kl_block(norm, ts[i:i + rows], last[i:i + rows], M)
                           for i in range(0, ts.size, rows)])


def _kl_block(norm, ts, last, M):
    n, B = ts.size, norm.size
    t = ts[:, None]
    j = np.arange(M)[None, :]
    w = (ts / M).astype(np.float32)[:, None]                  # exact: M is a power of two
    # Q: level j covers [j·t/M, (j+1)·t/M); integer positions scaled by M are exact
    lu = -((-j * t) // M)
    rl = ((j + 1) * t) // M
    ls = ((lu * M - j * t) / M).astype(np.float32)
    rs = (((j + 1) * t - rl * M) / M).astype(np.float32)
    q = np.where(ls > 0, ls * norm[np.maximum(lu - 1, 0)], np.float32(0))
    q = np.where(rs > 0, q + rs * norm[np.minimum(rl, B - 1)], q)
    for o in range(int((rl - lu).max()) if n else 0):
        k = lu + o
        q = np.where(k < rl, q + norm[np.minimum(k, B - 1)], q)
    q = (q / w).astype(np.float32)
    # E and P on the padded block [n, B-1], valid where k < t
    k = np.arange(B - 1)[None, :]
    valid = k < t
    ja = np.minimum((k * M) // t, M - 1)                        # the level holding point k
    whole = (k + 1) * M <= (ja + 1) * t
    jb = np.minimum(ja + 1, M - 1)
    rs_a = (((ja + 1) * t - k * M) / M).astype(np.float32)
    ls_b = (((k + 1) * M - (ja + 1) * t) / M).astype(np.float32)
    qa = np.take_along_axis(q, ja, axis=1)
    qb = np.take_along_axis(q, jb, axis=1)
    e = np.where(whole, EPS + qa, (EPS + rs_a * qa) + ls_b * qb)
    p = np.broadcast_to(EPS + norm[:B - 1], (n, B - 1)).copy()
    p[np.arange(n), ts - 1] = last
    term = np.zeros((n, B - 1), np.float32)                     # 0 on the padding
    pv = p[valid]
    term[valid] = pv * _ln32(pv / e[valid])
    kl = np.zeros(n, np.float32)
    t0 = int(ts[0])
    for i in range(B - 1):                                      # sequential fl32 sum per row
        r = max(0, i - t0 + 1)
        if r >= n:
            break
        kl[r:] += term[r:, i]
    return kl


def choose(kl, target_bins):
    """ncnn's choice: strict < from FLT_MAX, so the first minimum wins (target_bins if none)."""
    best, t = FLT_MAX, int(target_bins)
    if kl.size and kl.min() < best:
        t = int(target_bins) + int(np.argmin(kl))               # argmin returns the first minimum
    return t


def entropy_ncnn(ms_abs, bins=2048, target_bins=128):
    """ncnn ``quantize_KL`` threshold (docs/reference/calibration.md §5.2) as a Fraction; see the module docstring."""
    check(bins, target_bins)
    hist, amax = histogram(ms_abs, bins)
    t = choose(kl_candidates(hist, target_bins), target_bins)
    return (t + Fraction(1, 2)) * amax / bins
