"""torch 2.13 ``HistogramObserver``, modelled operation by operation (docs/reference/calibration.md §6).

Everything torch computes in float32 tensors is computed here in numpy float32 with the same
operation sequence (numpy >= 2: every float32 op rounds once to nearest even, like the scalar and
vector kernels of ATen); what torch computes in Python floats is computed in Python floats.
The primitives below are each one ATen kernel; ``tests/test_calibrate_torch_histogram.py``
checks every primitive and the whole observer against torch bit for bit.

Float steps, in torch's order (f = round to float32, every op one rounding):

* ``histc(x, B, lo, hi)`` (HistogramKernel.cpp, linear interpolation, no edge correction):
  if lo == hi: lo, hi = f(min(next_below_f32(lo), lo - 1)), f(max(next_above_f32(hi), hi + 1))
  (in double); x outside [lo, hi] skipped;
  bin = trunc(f(f(f(x - lo)·B) / f(hi - lo))), bin B -> B-1; counts are float32.
* ``linspace(a, b, n)`` (RangeFactoriesKernel.cpp, serial): step = f(f(b - a)/(n - 1));
  i < n//2: f(a + f(step·i)); else f(b - f(step·(n-1-i))).  (No FMA: checked against torch.)
* ``sum`` of a contiguous float32 vector (SumKernel.cpp ``vectorized_inner_sum``): a cascade
  over W-lane vectors; W = 8 on x86 for every capability (DEFAULT, AVX2, and AVX512, which
  falls back to the AVX2 sum kernel): checked with ATEN_CPU_CAPABILITY.
* the one capability-dependent step is ``linspace`` (re-binning edges): the AVX2/AVX512 build
  fuses ``a + step·i`` into an FMA, the DEFAULT build does not (``fma=False``).
* ``cumsum`` (cpu_cum_base_kernel): sequential in float64, each prefix rounded to float32.
* ``bincount(idx, weights=float32)``: sequential float32 accumulation in index order.
* ``div(a, b, rounding_mode='floor')``: Python's floor division algorithm (fmod based), the same
  as numpy's ``floor_divide``.
* a Python float met by a float32 tensor is rounded to float32 first (type promotion), also in
  comparisons.

Input convention (a documented difference): torch drops ±inf (with a warning) — so does this
model; NaNs are skipped as everywhere in refquant (torch's ``aminmax`` would make the range NaN).
"""

import math

import numpy as np

from ..errors import InvalidValueError

F32 = np.float32


def f32(x):
    """One RNE rounding of a Python float / float64 to float32."""
    return F32(x)


# ---------------------------------------------------------------------------------------------
# ATen primitives (each: the kernel's operation order, written here from its description)
# ---------------------------------------------------------------------------------------------

def linspace(a, b, n, fma=True):
    """torch.linspace(a, b, n) in float32 (RangeFactoriesKernel.cpp linspace_kernel, serial form).

    ``fma``: the AVX2/AVX512 builds of the kernel contract ``a + step·i`` into one fused
    multiply-add (one rounding); the DEFAULT build rounds the product first.  Both checked
    against torch with ATEN_CPU_CAPABILITY=avx2/avx512/default.
    """
    a, b = F32(a), F32(b)
    if n == 1:
        return np.array([a], F32)
    step = F32(F32(b - a) / F32(n - 1))
    idx = np.arange(n)
    half = n // 2
    i_lo, i_hi = idx[:half].astype(F32), (n - 1 - idx[half:]).astype(F32)
    if fma:
        return np.concatenate([fma_f32(step, i_lo, a), fma_f32(-step, i_hi, b)])
    return np.concatenate([a + step * i_lo, b - step * i_hi]).astype(F32)


def fma_f32(x, y, z):
    """f32(x·y + z) with one rounding, for float32 x, y, z (vectorised, exact).

    x·y is exact in float64 (48 bits); s = x·y + z in float64 with its TwoSum error e; rounding
    s to float32 is then the correctly rounded result unless s lies exactly halfway between two
    float32 neighbours with e != 0, where the sign of e decides.
    """
    p = np.asarray(x, np.float64) * np.asarray(y, np.float64)
    z = np.broadcast_to(np.asarray(z, np.float64), p.shape)
    s = p + z
    bp = s - z
    e = (p - bp) + (z - (s - bp))                      # TwoSum: s + e == p + z exactly
    r = s.astype(F32)
    rd = r.astype(np.float64)
    other = np.where(rd > s, np.nextafter(r, F32(-np.inf)), np.nextafter(r, F32(np.inf))).astype(np.float64)
    tie = (s == (rd + other) / 2) & (e != 0)
    if tie.any():
        lo, hi = np.minimum(rd, other), np.maximum(rd, other)
        r = np.where(tie, np.where(e > 0, hi, lo), rd).astype(F32)
    return r


def histc(x, bins, lo, hi):
    """torch.histc(x, bins, min=lo, max=hi) on float32 data (HistogramKernel.cpp, linear
    interpolation without edge correction).  Returns float32 counts."""
    lo, hi = F32(lo), F32(hi)
    if lo == hi:  # bins_edges_correction (Histogram.cpp): widen in double by max(1, one fp32 step)
        d = float(lo)
        lo = F32(min(float(np.nextafter(lo, F32(-np.inf))), d - 1.0))
        hi = F32(max(float(np.nextafter(hi, F32(np.inf))), d + 1.0))
    if not lo < hi:
        raise InvalidValueError(f"histc range [{lo}, {hi}] is empty in float32 (|value| too large)")
    x = x[(x >= lo) & (x <= hi)]
    with np.errstate(over="raise", invalid="raise"):
        try:
            pos = ((x - lo) * F32(bins)) / (hi - lo)
        except FloatingPointError:
            raise InvalidValueError("histc position overflows float32 (range·bins > FLT_MAX)") from None
    k = np.minimum(pos.astype(np.int64), bins - 1)
    return np.bincount(k, minlength=bins).astype(F32)


def bincount_f32(idx, weights, n):
    """torch.bincount(idx, weights=float32 w, minlength=n): sequential float32 accumulation."""
    out = np.zeros(n, F32)
    # np.add.at is unbuffered and applies the additions in index order, one float32 rounding each
    np.add.at(out, idx, weights.astype(F32))
    return out


def cascade_sum(v, lanes=8):
    """torch.sum of a contiguous float32 vector (SumKernel.cpp vectorized_inner_sum), float32.

    The vector is read as n//W lane-vectors; ``row_sum`` splits them 4 ways (ilp) and sums each
    with the 4-level cascade of ``multi_row_sum`` (level step 2^max(4, ceil_log2(size)//4));
    leftover vectors go into ilp row 0, the 4 rows are folded left, the scalar tail is summed
    into a float starting at 0, and then the W lanes are added to it one by one.
    """
    v = np.asarray(v, F32)
    n = v.size
    if n < lanes:  # scalar_inner_sum: row_sum on scalars (ilp 4, same cascade)
        return F32(_row_sum(v.reshape(n, 1), 1)[0])
    nvec = n // lanes
    vecs = v[:nvec * lanes].reshape(nvec, lanes)
    acc = _row_sum(vecs, lanes)
    total = F32(0)
    for t in v[nvec * lanes:]:
        total = F32(total + t)
    for lane in acc:
        total = F32(total + lane)
    return total


def _row_sum(vecs, width):
    ilp = 4
    size = vecs.shape[0] // ilp
    part = _multi_row_sum(vecs[:size * ilp].reshape(size, ilp, width), size)
    for t in vecs[size * ilp:]:
        part[0] = part[0] + t
    out = part[0]
    for k in range(1, ilp):
        out = out + part[k]
    return out


def _multi_row_sum(rows, size):
    levels = 4
    power = max(4, _ceil_log2(size) // levels)
    step = 1 << power
    mask = step - 1
    acc = np.zeros((levels,) + rows.shape[1:], F32)
    i = 0
    while i + step <= size:
        for _ in range(step):
            acc[0] = acc[0] + rows[i]
            i += 1
        for j in range(1, levels):
            acc[j] = acc[j] + acc[j - 1]
            acc[j - 1] = 0
            if i & (mask << (j * power)):
                break
    while i < size:
        acc[0] = acc[0] + rows[i]
        i += 1
    for j in range(1, levels):
        acc[0] = acc[0] + acc[j]
    return acc[0]


def _ceil_log2(x):
    return 0 if x <= 1 else (x - 1).bit_length()


def cumsum_f32(v):
    """torch.cumsum of float32 on CPU: float64 running sum, each prefix rounded to float32."""
    return np.cumsum(np.asarray(v, np.float64)).astype(F32)


# ---------------------------------------------------------------------------------------------
# Collection (HistogramObserver.forward / _combine_histograms / _upscale_histogram)
# ---------------------------------------------------------------------------------------------

def upscale(hist, orig_min, orig_max, new_min, new_max, bins, rate, fma=True):
    """Old histogram re-binned onto [new_min, new_max]: each bin split into ``rate`` equal
    sub-bins, each sub-bin centre placed with bucketize(right=True) - 1 (clamped)."""
    sub = np.repeat(hist, rate) / F32(rate)
    width = F32(F32(orig_max - orig_min) / F32(bins * rate))
    mids = linspace(orig_min, orig_max, bins * rate + 1, fma)[:-1] + F32(F32(0.5) * width)
    edges = linspace(new_min, new_max, bins + 1, fma)
    k = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, bins - 1)
    return bincount_f32(k, sub, bins)


def observe(state, x, bins, rate, lanes=8, fma=True):
    """One forward() on float32 data x (NaN already dropped); returns the new state
    (min, max, hist) or the old one for an empty batch."""
    x = x[np.abs(x) != np.inf]
    if x.size == 0:
        return state
    xmin, xmax = F32(x.min()), F32(x.max())
    if state is None:
        return xmin, xmax, histc(x, bins, xmin, xmax)
    cmin, cmax, hist = state
    nmin, nmax = min(cmin, xmin), max(cmax, xmax)
    update = histc(x, bins, nmin, nmax)
    if nmin == cmin and nmax == cmax:
        return cmin, cmax, hist + update
    if cmin == cmax:  # old histogram is one value: place it, weighted by the old total
        old = histc(np.array([cmin], F32), bins, nmin, nmax) * cascade_sum(hist, lanes)
    else:
        old = upscale(hist, cmin, cmax, nmin, nmax, bins, rate, fma)
    return nmin, nmax, update + old


# ---------------------------------------------------------------------------------------------
# Search (HistogramObserver._non_linear_param_search / _compute_quantization_error)
# ---------------------------------------------------------------------------------------------

def _cube_norm(delta_begin, delta_end, density):
    """density · (end³ - begin³)/3, float32, torch's left-to-right order."""
    return density * ((delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin) / F32(3))


def quantization_error(hist, vmin, vmax, start, end, dst_bins, lanes):
    """L2 error of quantizing the histogram onto ``dst_bins`` levels spanning bins start..end."""
    bins = hist.size
    bw = (float(vmax) - float(vmin)) / bins                        # Python floats
    dbw = bw * (end - start + 1) / dst_bins
    if dbw == 0.0:
        return 0.0
    bw32, dbw32, half = F32(bw), F32(dbw), F32(dbw / 2)
    nhalf = F32(-dbw / 2)
    src_begin = (np.arange(bins) - start).astype(F32) * bw32
    src_end = src_begin + bw32
    top = F32(dst_bins - 1)
    begin_bin = np.clip(np.floor_divide(src_begin, dbw32), F32(0), top)
    begin_centre = (begin_bin + F32(0.5)) * dbw32
    end_bin = np.clip(np.floor_divide(src_end, dbw32), F32(0), top)
    density = hist / bw32
    norm = np.zeros(bins, F32)
    norm = norm + _cube_norm(src_begin - begin_centre, np.full(bins, half, F32), density)
    norm = norm + ((end_bin - begin_bin) - F32(1)) * _cube_norm(nhalf, half, density)
    end_centre = end_bin * dbw32 + half
    norm = norm + _cube_norm(nhalf, src_end - end_centre, density)
    return float(cascade_sum(norm, lanes))


def search(hist, vmin, vmax, dst_bins=256, lanes=8):
    """(new_min, new_max) float32: alpha/beta step 1e-5 along the CDF, move the side that
    advances more bins (ties move the end), stop at the first strict error increase."""
    bins = hist.size
    total = float(cascade_sum(hist, lanes))
    csum = cumsum_f32(hist).tolist()
    alpha, beta = 0.0, 1.0
    start, end = 0, bins - 1
    norm_min = math.inf
    while alpha < beta:
        next_alpha, next_beta = alpha + 1e-5, beta - 1e-5
        lo_cut, hi_cut = float(F32(next_alpha * total)), float(F32(next_beta * total))
        l, r = start, end
        while l < end and csum[l] < lo_cut:
            l += 1
        while r > start and csum[r] > hi_cut:
            r -= 1
        nstart, nend = start, end
        if l - start > end - r:
            nstart, alpha = l, next_alpha
        else:
            nend, beta = r, next_beta
        if nstart == start and nend == end:
            continue
        norm = quantization_error(hist, vmin, vmax, nstart, nend, dst_bins, lanes)
        if norm > norm_min:
            break
        norm_min, start, end = norm, nstart, nend
    width = F32(F32(vmax - vmin) / F32(bins))
    return F32(vmin + width * F32(start)), F32(vmin + width * F32(end + 1))
