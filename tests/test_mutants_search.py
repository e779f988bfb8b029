"""Tests written against the survivors of a mutmut 3 run on the percentile part of
refquant/calibrate/search.py (docs/testing.md): how ``check_percentile`` reads each accepted type
(a float as the decimal its repr shows, a Fraction or numeric string exactly), its domain (0, 100]
at both ends, and every message."""
from fractions import Fraction
import math

import numpy as np
import pytest

from refquant.calibrate import Multiset, percentile, search
from refquant.errors import InvalidValueError


def test_each_type_is_read_exactly():
    assert search.check_percentile(99.9) == Fraction(999, 10)       # the decimal, not the binary64 value
    assert search.check_percentile(50) == 50
    assert search.check_percentile(Fraction(1, 3)) == Fraction(1, 3)
    assert search.check_percentile("99.99") == Fraction(9999, 100)
    assert search.check_percentile(100) == 100 and search.check_percentile(1e-300) == Fraction("1e-300")


@pytest.mark.parametrize("p", [True, False, [50], None, b"50", 1j])
def test_non_numbers_are_rejected_by_name(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be a number, got {p!r}"


@pytest.mark.parametrize("p", ["abc", float("nan"), float("inf"), "1/0"])
def test_non_finite_are_rejected_by_name(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be a finite number, got {p!r}"


@pytest.mark.parametrize("p", [0, 0.0, -1, 100.5, 101, "100.0001", Fraction(-1, 10**9)])
def test_domain_is_zero_exclusive_to_hundred_inclusive(p):
    with pytest.raises(InvalidValueError) as exc:
        search.check_percentile(p)
    assert str(exc.value) == f"percentile must be in (0, 100], got {p!r}"


def test_empty_data_message():
    with pytest.raises(InvalidValueError) as exc:
        percentile(Multiset(), 50)
    assert str(exc.value) == "percentile of empty calibration data"
    ms = Multiset()
    ms.add(np.array([3.0], np.float32))
    assert percentile(ms, 100, "averaged_inverted_cdf") == 3


def test_defaults_are_linear_and_2048_bins():
    ms = Multiset()
    ms.add(np.array([1.0, 2.0, 4.0, 8.0], np.float32))
    assert percentile(ms, 50) == 3 == percentile(ms, 50, "linear")  # lower 2, higher 4, nearest 4
    a = Multiset()
    a.add(np.abs(np.random.default_rng(3).standard_normal(5000)).astype(np.float32))
    assert percentile(a, 99, "hist_left") == percentile(a, 99, "hist_left", bins=2048)
    assert percentile(a, 99, "hist_left", bins=2048) != percentile(a, 99, "hist_left", bins=2049)


def test_hist_percentiles_by_hand():
    """|x| = 1..10, 10 bins on [0, 10]: bin counts [0, 1, 1, 1, 1, 1, 1, 1, 1, 2] (10 is in the
    last bin); the first bin whose cumulative count reaches p% of 10, left or right edge."""
    ms = Multiset()
    ms.add(np.arange(1, 11, dtype=np.float32))
    for p, left in ((1, 1), (10, 1), (15, 2), (50, 5), (95, 9), (100, 9)):
        assert percentile(ms, p, "hist_left", bins=10) == left, p
        assert percentile(ms, p, "hist_right", bins=10) == left + 1, p
    z = Multiset()
    z.add(np.array([0, 0, 0, 4], np.float32))  # a zero first value is fine
    assert percentile(z, 75, "hist_left", bins=4) == 0 and percentile(z, 76, "hist_left", bins=4) == 3
    neg = Multiset()
    neg.add(np.array([-1, 5, 6], np.float32))
    with pytest.raises(InvalidValueError) as exc:
        percentile(neg, 50, "hist_left")
    assert str(exc.value) == "histogram percentiles are defined on |x| data (mode='abs')"


# ---------------------------------------------------------------------------------------------
# entropy / MSE survivors (engineer q2, run with -k 'not onnxruntime_entropy')
# ---------------------------------------------------------------------------------------------

def _ms(x):
    ms = Multiset()
    ms.add(np.asarray(x, np.float32))
    return ms


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("seed", range(4))
def test_entropy_onnxruntime_small_histograms_equal_ort(seed):
    """EntropyObserver('onnxruntime')'s search on 256 / 130 bins with 128 / 64 target bins (fast
    in ORT), skewed data with |min| > max and max > |min|: == onnxruntime 1.32.0's collector."""
    from peers import need
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(3, 600) * 2.3 + (1.1 if seed % 2 else -1.3)).astype(np.float32)
    x[0] = -9.0 if seed % 2 else 9.5
    for bins, t in ((256, 128), (130, 64)):
        c = cal.HistogramCollector(method="entropy", symmetric=False, num_bins=bins, num_quantized_bins=t,
                                   percentile=99.999, scenario="same")
        c.collect({"t": x})
        r = c.compute_collection_result()["t"]
        got = search.entropy_onnxruntime(_ms(x), bins, t)
        assert tuple(map(float, got)) == (float(r[0]), float(r[1])), (bins, t)
    assert search.entropy_onnxruntime(_ms(x)) == search.entropy_onnxruntime(_ms(x), 2048, 128)


def _mse_reference(x, bins, qmax, start_bin):
    """ModelOpt's histogram MSE as the docstring of ``mse_amax`` states it, in Fractions: bins of
    width w = amax/bins on [0, amax] (|x| in bin floor(|x|/w), amax in the last), representatives
    c_k = (k + 1/2)·w, candidates a = c_m (m = start_bin..bins-2), q_k = min(RNE(c_k·qmax/a), qmax),
    error sum count_k·(c_k - q_k·a/qmax)^2, first minimum."""
    return _mse_reference_counts([abs(float(t)) for t in x], [1] * len(x), bins, qmax, start_bin)


@pytest.mark.parametrize("bins,qmax,start_bin,seed", [(32, 7, 4, 0), (40, 15, 2, 1), (24, 127, 8, 2), (16, 3, 0, 3)])
def test_mse_amax_equals_the_fraction_definition(bins, qmax, start_bin, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(3, 300) * 1.7).astype(np.float32)
    ms = _ms(x).absolute()
    assert search.mse_amax(ms, bins, qmax, start_bin) == _mse_reference(x, bins, qmax, start_bin)


def test_mse_amax_defaults_domain_and_big_products():
    x = (np.random.default_rng(5).standard_normal(4000) * 3).astype(np.float32)
    ms = _ms(x).absolute()
    assert search.mse_amax(ms) == search.mse_amax(ms, 2048, 127, 128)
    for sb in (-1, 31):
        with pytest.raises(InvalidValueError, match=rf"^start_bin must be in 0..bins-2 = 0..30, got {sb}$"):
            search.mse_amax(ms, 32, 127, sb)
    # bins·qmax > 2^20 (Python-int arithmetic in mse_amax): same as the definition
    y = np.abs((np.random.default_rng(6).standard_normal(200) * 2).astype(np.float32))
    assert search.mse_amax(_ms(y).absolute(), 40, 2 ** 15 - 1, 4) == _mse_reference(y, 40, 2 ** 15 - 1, 4)


def test_entropy_dispatch_defaults_and_names():
    """entropy() passes bins and target_bins to every variant and defaults to TensorRT's 2048 /
    128; unknown names list the accepted ones; bins == target_bins is accepted."""
    from refquant.errors import UnknownNameError
    x = (np.random.default_rng(9).standard_t(3, 3000) * 1.5).astype(np.float32)
    ms = _ms(x)
    a = search.entropy_tensorrt(ms.absolute(), 2048, 128)
    assert search.entropy(ms) == (-a, a) and search.entropy_tensorrt(ms.absolute()) == a
    assert search.entropy_modelopt(ms.absolute()) == search.entropy_modelopt(ms.absolute(), 2048, 128)
    for variant in ("tensorrt", "modelopt"):
        a = getattr(search, f"entropy_{variant}")(ms.absolute(), 256, 16)
        assert search.entropy(ms, variant, 256, 16) == (-a, a)
    assert search.entropy(ms, "onnxruntime", 256, 16) == search.entropy_onnxruntime(ms, 256, 16)
    assert search.entropy_onnxruntime(ms, 256, 16) != search.entropy_onnxruntime(ms, 256, 128)
    assert search.check_entropy_bins(16, 16) == (16, 16)
    with pytest.raises(InvalidValueError, match=r"^target_bins must be an integer in 1\.\.1048576, got 0$"):
        search.check_entropy_bins(16, 0)
    with pytest.raises(UnknownNameError) as exc:
        search.entropy(ms, "bogus")
    assert str(exc.value) == "unknown entropy variant 'bogus'; expected one of: modelopt, ncnn, onnxruntime, tensorrt"
    with pytest.raises(UnknownNameError) as exc:
        search.percentile(ms, 50, "bogus")
    assert str(exc.value) == ("unknown percentile method 'bogus'; expected one of: " + ", ".join(sorted(search.PERCENTILE_METHODS)))


# ---------------------------------------------------------------------------------------------
# the last entropy / MSE survivors (engineer q8): references written here from
# docs/reference/calibration.md §5.1 / §5.3 / §5.4 and §6, or onnxruntime 1.32.0 itself
# ---------------------------------------------------------------------------------------------

def _counted(values, counts):
    """A |x| multiset given by its sorted distinct float32 values and their counts."""
    return Multiset(np.asarray(values, np.float32), np.asarray(counts, np.int64))


def _mse_reference_counts(values, counts, bins, qmax, start_bin):
    """``_mse_reference`` over (value, count) pairs, every product a Python int / Fraction."""
    from refquant.rounding import half_even
    v = [Fraction(float(t)) for t in values]
    w = max(v) / bins
    hist = [0] * bins
    for t, c in zip(v, counts):
        hist[min(int(t / w), bins - 1)] += int(c)
    best = None
    for m in range(start_bin, bins - 1):
        a = (m + Fraction(1, 2)) * w
        err = sum(c * ((k + Fraction(1, 2)) * w - min(half_even((k + Fraction(1, 2)) * w * qmax / a), qmax) * a / qmax) ** 2
                  for k, c in enumerate(hist) if c)
        if best is None or err < best[0]:
            best = (err, a)
    return best[1]


def test_mse_amax_start_bin_range_and_first_minimum():
    """start_bin = bins - 2 (one candidate) is accepted and used even when a smaller amax is
    better; an exact tie (bins 4, qmax 1, counts [0, 3, 0, 1]: errors 48, 16, 16) keeps the first."""
    x = np.append(np.abs(np.random.default_rng(13).standard_normal(300)), 8.0).astype(np.float32)
    ms = _ms(x).absolute()
    assert search.mse_amax(ms, 32, 7, 30) == Fraction(61, 2) * 8 / 32 == _mse_reference(x, 32, 7, 30)
    assert search.mse_amax(ms, 32, 7, 0) == _mse_reference(x, 32, 7, 0) < Fraction(61, 8)
    # the default start_bin is ModelOpt's 128: 10^5 values in each of bins 0..127, one at amax,
    # where the lowest candidate wins (so start_bin 129 would give another amax)
    w = Fraction(1, 256)
    ms = _counted([float((k + Fraction(1, 2)) * w) for k in range(128)] + [8.0], [10 ** 5] * 128 + [1])
    assert search.mse_amax(ms) == Fraction(257, 2) * w == search.mse_amax(ms, 2048, 127, 128) < search.mse_amax(ms, 2048, 127, 129)
    tie = _counted([1.5, 4.0], [3, 1])  # bins of width 1: counts [0, 3, 0, 1]
    assert search.mse_amax(tie, 4, 1, 0) == Fraction(3, 2) == _mse_reference_counts([1.5, 4.0], [3, 1], 4, 1, 0)


def test_mse_amax_exact_beyond_int64():
    """Products past 2^63 are exact: qmax = 2^61 - 1 (qmax·(2k + 1) overflows int64), counts of
    2^42 at amax with bins 32, qmax 31 (sum count·err^2 up to 2^63.8 while bins·qmax < 2^20), and
    counts near 2^51 whose float64 sums would round a 4-ulp difference away (exact argmin m = 5,
    float64 m = 4)."""
    x = np.abs((np.random.default_rng(11).standard_normal(60) * 2).astype(np.float32))
    assert search.mse_amax(_ms(x).absolute(), 8, 2 ** 61 - 1, 0) == _mse_reference(x, 8, 2 ** 61 - 1, 0)
    vals = np.unique(np.abs(np.random.default_rng(12).standard_normal(40) * 2).astype(np.float32))
    vals = np.append(vals, np.float32(9.0))
    counts = [1 + 3 * j for j in range(vals.size - 1)] + [2 ** 42]
    ms = _counted(vals, counts)
    assert search.mse_amax(ms, 32, 31, 0) == _mse_reference_counts(vals, counts, 32, 31, 0)
    hist = [1125899906842624, 3377699720527871, 1125899906842624, 0, 2251799813685248, 0, 0, 1125899906842624]
    vals = [k + 0.5 for k, c in enumerate(hist) if c and k < 7] + [8.0]
    counts = [c for c in hist if c]
    ref = _mse_reference_counts(vals, counts, 8, 2, 0)
    assert ref == Fraction(11, 2) and search.mse_amax(_counted(vals, counts), 8, 2, 0) == ref


def _entropy_reference(x_abs, bins, t, variant):
    """TensorRT (first minimum, (i* + 1/2)·w) / ModelOpt (b[0] := b[1], i up to bins inclusive,
    last minimum, i*·w) entropy as docs/reference/calibration.md §5.1 / §5.3 describe them, in
    Fractions: exact bins on [0, amax]; P = b[:i] with the tail in P[i-1]; Q = the mean of the
    nonzero b in each level floor(j·t/i), 0 on zero bins; KL of the normalised P, Q (inf if
    Q = 0 < P), each term's log in float64 of the exact ratio."""
    v = [Fraction(float(a)) for a in x_abs]
    amax = max(v)
    b = [0] * bins
    for a in v:
        b[min(int(a * bins / amax), bins - 1)] += 1
    if variant == "modelopt" and bins > 1:
        b[0] = b[1]
    kls = []
    for i in range(t, (bins + 1) if variant == "modelopt" else bins):
        p = b[:i]
        p[-1] += sum(b[i:])
        q = [Fraction(0)] * i
        for lev in range(t):
            js = [j for j in range(i) if j * t // i == lev]
            nz = [j for j in js if b[j] > 0]
            for j in nz:
                q[j] = Fraction(sum(b[j] for j in js), len(nz))
        sp, sq = sum(p), sum(q)
        if sq == 0 or any(pj > 0 and qj == 0 for pj, qj in zip(p, q)):
            kls.append(math.inf)
            continue
        kls.append(math.fsum(float(Fraction(pj, sp)) * math.log(Fraction(pj, sp) / (qj / sq))
                             for pj, qj in zip(p, q) if pj > 0))
    best = min(kls)
    idx = [k for k, kl in enumerate(kls) if kl == best]
    if variant == "modelopt":
        return (t + idx[-1]) * amax / bins
    return amax if best == math.inf else (t + idx[0] + Fraction(1, 2)) * amax / bins


@pytest.mark.parametrize("seed", range(4))
def test_entropy_tensorrt_and_modelopt_equal_the_documented_procedure(seed):
    """Sparse data (few distinct values, so levels mix zero and nonzero bins, b[0] != b[1] != b[2])
    and data crowded at the top (the last candidates win): refquant == the reference above."""
    rng = np.random.default_rng(seed)
    if seed % 2:
        x = np.abs(rng.choice(rng.standard_normal(9) * 3, 300)).astype(np.float32)
    else:
        x = np.abs(np.concatenate([rng.standard_normal(40), 6 - rng.random(200) * (seed + 1)])).astype(np.float32)
    x[:3] = [0.01, 0.3, 0.31]
    for bins, t in ((64, 8), (40, 5)):
        for variant in ("tensorrt", "modelopt"):
            got = getattr(search, f"entropy_{variant}")(_ms(x).absolute(), bins, t)
            assert got == _entropy_reference(x, bins, t, variant), (bins, t, variant)


def test_entropy_ties_small_bin_counts_and_no_warnings():
    """Counts [2, 0, 0, 0, 1, 0, 0, 1] on 8 bins of width 1, one level: TensorRT's candidates
    i = 1 (P = [4], Q = [2]) and i = 5 (P = [2, 0, 0, 0, 2], Q = 1.5 on both nonzero bins) both
    have KL 0 and the first wins; ModelOpt's b[0] := b[1] gives [0, 0, 0, 0, 1, 0, 0, 1], where
    i = 5 and i = 8 have KL 0 and the last wins.  ModelOpt with 1 bin (no b[1] to copy) and 2 bins
    (b[0] := b[1] makes i = 2 a KL-0 tie that the last-minimum rule takes).  Levels with only
    zero bins divide nothing (numpy floating-point errors raise)."""
    x = np.array([0.5, 0.5, 4.5, 8.0], np.float32)
    ms = _ms(x)
    with np.errstate(all="raise"):
        assert search.entropy_tensorrt(ms, 8, 1) == Fraction(3, 2) == _entropy_reference(x, 8, 1, "tensorrt")
        assert search.entropy_modelopt(ms, 8, 1) == 8 == _entropy_reference(x, 8, 1, "modelopt")
        assert search.entropy_modelopt(ms, 16, 4) == _entropy_reference(x, 16, 4, "modelopt")
        y = np.array([1.0, 1.0, 1.0, 3.0], np.float32)
        assert search.entropy_modelopt(_ms(y), 1, 1) == 3
        assert search.entropy_modelopt(_ms(y), 2, 1) == 3 == _entropy_reference(y, 2, 1, "modelopt")
        assert search.entropy_tensorrt(_ms(y), 2, 1) == Fraction(9, 4) == _entropy_reference(y, 2, 1, "tensorrt")


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("seed", [1, 2])
def test_entropy_onnxruntime_sparse_histograms_equal_ort(seed):
    """Sparse histograms (rounded Student-t; a few outliers) on 256 / 130 / 200 bins with 128 /
    64 / 16 target bins, where the outside mass added at both window ends, the leftover bins'
    mass in the last chunk and the chunks with no nonzero bin decide the window: == onnxruntime
    1.32.0's collector."""
    from peers import need
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    rng = np.random.default_rng(seed)
    if seed == 1:
        x = np.round(rng.standard_t(2, 500) * 2).astype(np.float32)
    else:
        x = (rng.standard_t(3, 300) * 1.5).astype(np.float32)
        x[:5] = [20, -3, 7.5, 7.6, 19]
    for bins, t in ((256, 128), (130, 64), (200, 16)):
        c = cal.HistogramCollector(method="entropy", symmetric=False, num_bins=bins, num_quantized_bins=t,
                                   percentile=99.999, scenario="same")
        c.collect({"t": x})
        r = c.compute_collection_result()["t"]
        assert tuple(map(float, search.entropy_onnxruntime(_ms(x), bins, t))) == (float(r[0]), float(r[1])), (bins, t)


def test_smooth_equals_ort_smooth_distribution():
    """``_smooth`` == onnxruntime 1.32.0's ``smooth_distribution`` (zeros -> 1e-4, nonzeros less
    1e-4·n0/n1) on vectors with zeros, and None where ORT gives up (all zero)."""
    from peers import need
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    for p in ([0, 3.0, 0, 1], [5.0, 0, 0, 0, 0, 0, 2], [1.0, 2.0], [0, 0, 0, 7.0]):
        p = np.array(p, np.float64)
        np.testing.assert_array_equal(search._smooth(p).astype(np.float32), cal.smooth_distribution(p))
    assert search._smooth(np.zeros(4)) is None and cal.smooth_distribution(np.zeros(4)) is None
