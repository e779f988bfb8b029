"""Tests written against the survivors of a mutmut 3 run on the percentile part of
refquant/calibrate/search.py (docs/testing.md): how ``check_percentile`` reads each accepted type
(a float as the decimal its repr shows, a Fraction or numeric string exactly), its domain (0, 100]
at both ends, and every message."""
from fractions import Fraction

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
    from refquant.rounding import half_even
    v = [Fraction(float(abs(t))) for t in x]
    amax = max(v)
    w = amax / bins
    counts = [0] * bins
    for t in v:
        counts[min(int(t / w), bins - 1)] += 1
    best = None
    for m in range(start_bin, bins - 1):
        a = (m + Fraction(1, 2)) * w
        err = sum(c * ((k + Fraction(1, 2)) * w - min(half_even((k + Fraction(1, 2)) * w * qmax / a), qmax) * a / qmax) ** 2
                  for k, c in enumerate(counts) if c)
        if best is None or err < best[0]:
            best = (err, a)
    return best[1]


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
