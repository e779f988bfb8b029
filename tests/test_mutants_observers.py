"""Tests written against the survivors of a mutmut 3 run on refquant/calibrate/observers.py
(docs/testing.md, engineer q1): each compares with numpy 2.1.3 (np.histogram, min/max, nanmean),
torch 2.13 observers, onnxruntime 1.32 calibrators, or a reference written out here from the
observer's documented definition -- never with refquant's own output alone."""
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import (EntropyObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                OnnxruntimeHistogramObserver, OnnxruntimeMinMaxObserver, PercentileObserver,
                                from_dict, make_observer)
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError

from peers import need

F32 = np.float32


def _fr(x):
    return Fraction(*float(x).as_integer_ratio())


# ---------------------------------------------------------------------------------------------
# _MultisetObserver.histogram against np.histogram (dyadic data and a power-of-two bin count:
# numpy's float64 edges and bin indices are then exact, so its counts are the exact rule's)
# ---------------------------------------------------------------------------------------------

HIST_DATA = [
    [-3.0, 1.0, 0.5, 0.25, -0.75, 2.0, 2.0],   # max |x| from the most negative value
    [-0.5, 1.0, 4.0, 0.125, 3.0, -1.5, 4.0],   # max |x| from the largest value (last of several)
    [0.75, 0.25, 1.5, 0.5],                     # positive only
    [-2.0, -0.25, -1.0],                         # negative only
]


@pytest.mark.parametrize("x", HIST_DATA)
@pytest.mark.parametrize("bins", [4, 8, 16])
def test_histogram_signed_and_abs_equal_np_histogram(x, bins):
    obs = PercentileObserver().observe(np.array(x, F32))
    a = max(abs(v) for v in x)
    counts, edges = obs.histogram(bins=bins, signed=True)
    ref_c, ref_e = np.histogram(np.array(x, np.float64), bins=bins, range=(-a, a))
    assert list(np.asarray(counts)) == ref_c.tolist()
    assert edges == [_fr(e) for e in ref_e]
    counts, edges = obs.histogram(bins=bins)
    ref_c, ref_e = np.histogram(np.abs(np.array(x, np.float64)), bins=bins, range=(0, a))
    assert list(np.asarray(counts)) == ref_c.tolist()
    assert edges == [_fr(e) for e in ref_e]


def test_histogram_default_bins_is_2048():
    counts, edges = PercentileObserver().observe(np.array([-1.0, 0.5], F32)).histogram(signed=True)
    assert len(counts) == 2048 and len(edges) == 2049
    ref_c, _ = np.histogram([-1.0, 0.5], bins=2048, range=(-1, 1))
    assert list(np.asarray(counts)) == ref_c.tolist()
    counts, edges = PercentileObserver().observe(np.array([-1.0, 0.5], F32)).histogram()
    assert len(counts) == 2048 and len(edges) == 2049


# ---------------------------------------------------------------------------------------------
# MinMaxObserver per channel / per group: _rows and _row_extrema against numpy
# ---------------------------------------------------------------------------------------------

def _pairs(lo, hi):
    return [(_fr(a), _fr(b)) for a, b in zip(lo, hi)]


def test_per_channel_with_nan_skips_it_like_nanmin_nanmax():
    """A channel holding NaN among numbers: its extrema are numpy's nanmin / nanmax (refquant's
    rule: NaN skipped), the other channels unaffected; three channels of four values each."""
    x = np.array([[1.0, np.nan, -2.0, 0.5], [3.0, 4.0, -1.0, 2.0], [np.nan, 0.25, 0.75, -0.5]], F32)
    for axis in (0, -2):
        got = MinMaxObserver(axis=axis).observe(x).range()
        assert got == _pairs(np.nanmin(x, axis=1), np.nanmax(x, axis=1))
    got = MinMaxObserver(axis=1).observe(x).range()   # four channels, NaN in two of them
    assert got == _pairs(np.nanmin(x, axis=0), np.nanmax(x, axis=0))


def test_all_nan_channel_is_named_by_index():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [np.nan, np.nan], [5.0, np.nan]], F32)
    with pytest.raises(InvalidValueError) as exc:
        MinMaxObserver(axis=0).observe(x)
    assert str(exc.value) == "channel/group 2 is all NaN"


def test_axis_checks_and_messages():
    x = np.arange(6, dtype=F32).reshape(2, 3)
    for bad in (True, 1.0, "0", None.__class__):
        with pytest.raises(ShapeError) as exc:
            MinMaxObserver(axis=bad).observe(x)
        assert str(exc.value) == f"axis must be an int, got {bad!r}"
    for bad in (2, -3):
        with pytest.raises(ShapeError) as exc:
            MinMaxObserver(axis=bad).observe(x)
        assert str(exc.value) == f"axis {bad} out of range for a 2-D batch"
    # the ends of the range are accepted, numpy integer axes too
    assert MinMaxObserver(axis=-2).observe(x).range() == _pairs(x.min(axis=1), x.max(axis=1))
    assert MinMaxObserver(axis=np.int64(1)).observe(x).range() == _pairs(x.min(axis=0), x.max(axis=0))


def test_group_size_message_names_the_last_dimension():
    with pytest.raises(ShapeError) as exc:
        MinMaxObserver(group_size=4).observe(np.zeros((2, 3, 6), F32))
    assert str(exc.value) == "last dimension (6,) is not a multiple of group_size 4"
    with pytest.raises(ShapeError) as exc:
        MinMaxObserver(group_size=2).observe(np.float32(1.0))
    assert str(exc.value) == "last dimension () is not a multiple of group_size 2"


def test_loaded_minmax_state_is_float32():
    """A saved state is read into float32 (torch's min_val / max_val buffers are float32): a
    hand-written 0.1 becomes fp32(0.1), per tensor and per channel."""
    d = {"observer": "minmax", "config": {"axis": None, "group_size": None},
         "state": {"lo": [0.1], "hi": [0.3], "scalar": True}}
    assert from_dict(d).range() == (_fr(F32(0.1)), _fr(F32(0.3)))
    d = {"observer": "minmax", "config": {"axis": 0, "group_size": None},
         "state": {"lo": [0.1, -0.7], "hi": [0.3, 1.1], "scalar": False}}
    assert from_dict(d).range() == [(_fr(F32(0.1)), _fr(F32(0.3))), (_fr(F32(-0.7)), _fr(F32(1.1)))]


# ---------------------------------------------------------------------------------------------
# Save / restore of every observer, fresh and fed; the no-data messages
# ---------------------------------------------------------------------------------------------

SAVE_CONFIGS = [("histogram", {"bins": 64}), ("minmax", {}), ("minmax", {"axis": 1}), ("moving_average", {}), ("moving_average", {"axis": 0}),
                ("percentile", {}), ("entropy", {"bins": 256, "target_bins": 16}), ("mse", {"bins": 256}),
                ("onnxruntime_histogram", {"bins": 256, "target_bins": 16}),
                ("onnxruntime_minmax", {}), ("onnxruntime_minmax", {"moving_average": True, "c": 0.25})]


@pytest.mark.parametrize("name,kw", SAVE_CONFIGS)
def test_fresh_observer_saves_and_restores(name, kw):
    """A never-fed observer saves a state with the same keys as a fed one (minus fed-only keys),
    restores, then gives after feeding what a never-saved observer gives."""
    x = np.array([[0.5, -1.25, 3.0], [2.0, -0.75, 1.0]], F32)
    fresh = make_observer(name, **kw)
    d = fresh.to_dict()
    fed_state = make_observer(name, **kw).observe(x).to_dict()["state"]
    assert set(d["state"]) <= set(fed_state)
    back = from_dict(d)
    assert type(back) is type(fresh)
    assert back.observe(x).range() == make_observer(name, **kw).observe(x).range()


def test_onnxruntime_minmax_saves_ended_calls_and_the_open_call():
    """ORT MinMaxCalibrater state: ended calls (merged range) and the open call's runs both
    survive a save; the continued observer equals an unsaved one (onnxruntime 1.32 semantics:
    the moving average of calls, the mean of runs within a call)."""
    b = [np.array(v, F32) for v in ([1.0, -2.0], [0.5, 3.0], [-4.0, 0.25], [2.5, 1.5])]
    for kw in ({}, {"moving_average": True, "c": 0.25}):
        ref = OnnxruntimeMinMaxObserver(**kw).collect(b[:2]).observe(b[2])
        back = from_dict(ref.to_dict())
        assert back.range() == ref.range()
        assert back.observe(b[3]).end_call().range() == ref.observe(b[3]).end_call().range()
        # the same continuation written out: calls [b0, b1] and [b2, b3]
        if kw:
            m1 = (np.float32(np.mean([F32(-2.0), F32(0.5)])), np.float32(np.mean([F32(3.0), F32(1.0)])))
            m2 = (np.float32(np.mean([F32(-4.0), F32(1.5)])), np.float32(np.mean([F32(0.25), F32(2.5)])))
            c = F32(0.25)
            want = tuple(F32(o + c * (n - o)) for o, n in zip(m1, m2))
        else:
            want = (F32(-4.0), F32(3.0))
        assert back.range() == (_fr(want[0]), _fr(want[1]))
    # a state with no open call (no "runs" key) loads too
    d = OnnxruntimeMinMaxObserver().collect(b[:1]).to_dict()
    del d["state"]["runs"]
    assert from_dict(d).range() == (Fraction(-2), Fraction(1))


@pytest.mark.parametrize("name", ["minmax", "moving_average", "percentile", "entropy", "mse", "histogram",
                                  "onnxruntime_histogram", "onnxruntime_minmax"])
def test_no_data_message_names_the_observer(name):
    with pytest.raises(InvalidValueError) as exc:
        make_observer(name).range()
    assert str(exc.value) == f"{name} observer has seen no calibration data (empty or never called)"


def test_distribution_avg_std_no_data_message():
    with pytest.raises(InvalidValueError) as exc:
        OnnxruntimeHistogramObserver("distribution").avg_std()
    assert str(exc.value) == "onnxruntime_histogram observer has seen no calibration data (empty or never called)"


# ---------------------------------------------------------------------------------------------
# MovingAverageMinMaxObserver per channel against torch 2.13
# ---------------------------------------------------------------------------------------------

def test_moving_average_per_channel_equals_torch():
    torch = need("torch", "torch==2.13.0")
    rng = np.random.default_rng(11)
    batches = [rng.standard_normal((3, 5)).astype(F32) * s for s in (1, 4, 0.5)]
    o = torch.ao.quantization.MovingAveragePerChannelMinMaxObserver(averaging_constant=0.25, ch_axis=0)
    for b in batches:
        o(torch.from_numpy(b))
    ref = MovingAverageMinMaxObserver(c=0.25, axis=0)
    for b in batches:
        ref.observe(b)
    assert ref.range() == _pairs(o.min_val.numpy(), o.max_val.numpy())


def test_moving_average_unknown_form_message():
    with pytest.raises(UnknownNameError) as exc:
        MovingAverageMinMaxObserver(form="ema")
    assert str(exc.value) == "unknown moving-average form 'ema'; expected one of: textbook, torch"


# ---------------------------------------------------------------------------------------------
# OnnxruntimeMinMaxObserver: options, default c, messages
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c", [True, float("inf"), float("nan"), "0.5", None])
def test_onnxruntime_minmax_rejects_c(c):
    with pytest.raises(InvalidValueError) as exc:
        OnnxruntimeMinMaxObserver(c=c)
    assert str(exc.value) == f"averaging constant c must be a finite number, got {c!r}"


@pytest.mark.parametrize("k", [0, -1, True, 2.0])
def test_onnxruntime_minmax_rejects_max_intermediate_outputs(k):
    with pytest.raises(InvalidValueError) as exc:
        OnnxruntimeMinMaxObserver(max_intermediate_outputs=k)
    assert str(exc.value) == f"max_intermediate_outputs must be a positive int or None, got {k!r}"


def test_onnxruntime_minmax_end_call_without_data_message():
    with pytest.raises(InvalidValueError) as exc:
        OnnxruntimeMinMaxObserver().end_call()
    assert str(exc.value) == ("onnxruntime MinMaxCalibrater: no data is collected in this call "
                              "(ORT raises ValueError 'No data is collected.')")


def test_onnxruntime_minmax_overflow_is_named_without_a_numpy_warning():
    import warnings
    o = OnnxruntimeMinMaxObserver(moving_average=True, c=0.5).collect([np.array([-3e38], F32)])
    o.observe(np.array([3e38], F32))   # open call; -3e38 + 0.5 * (3e38 - -3e38): the difference overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InvalidValueError) as exc:
            o.range()
    assert str(exc.value).startswith("onnxruntime moving average overflows float32: (")


def _ort(*args, **kw):
    from test_calibrate import _ort as run   # a Mul model through create_calibrator (onnxruntime 1.32.0)
    return run(*args, **kw)


ORT_BATCHES = [np.array(v, F32) for v in ([1.0, -2.0], [0.5, 3.0], [-4.0, 0.25])]


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_minmax_default_c_is_orts():
    """ORT's default averaging_constant is 0.01: one collect_data call per batch, moving average."""
    want = _ort("MinMax", ORT_BATCHES, True, moving_average=True)
    o = OnnxruntimeMinMaxObserver(moving_average=True)
    for b in ORT_BATCHES:
        o.collect([b])
    assert tuple(float(v) for v in o.range()) == want == (-1.9952499866485596, 1.0123000144958496)


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_minmax_max_intermediate_outputs_one_and_two_equal_ort():
    """k = 1 is accepted (ORT accepts it): every run is cleared, so ORT raises 'No data is
    collected.'; k = 2 keeps only the third run (onnxruntime 1.32.0's bug)."""
    with pytest.raises(ValueError, match="No data is collected"):
        _ort("MinMax", ORT_BATCHES, False, max_intermediate_outputs=1)
    with pytest.raises(InvalidValueError, match="No data is collected"):
        OnnxruntimeMinMaxObserver(max_intermediate_outputs=1).collect(ORT_BATCHES)
    want = _ort("MinMax", ORT_BATCHES, False, max_intermediate_outputs=2)
    got = OnnxruntimeMinMaxObserver(max_intermediate_outputs=2).collect(ORT_BATCHES).range()
    assert tuple(float(v) for v in got) == want == (-4.0, 0.25)


@pytest.mark.filterwarnings("ignore")
def test_distribution_avg_std_are_exact_fractions_of_orts_float32():
    """avg_std() returns exact Fractions (of ORT's float32 avg and std), equal to ORT's values."""
    x = (np.random.default_rng(5).standard_normal(600) * 0.3).astype(F32)
    td = _ort("Distribution", [x], False, raw=True, num_bins=512)
    got = OnnxruntimeHistogramObserver("distribution", bins=512).observe(x).avg_std()
    assert all(type(v) is Fraction for v in got)
    assert got == (_fr(F32(td.avg)), _fr(F32(td.std)))


# ---------------------------------------------------------------------------------------------
# Defaults and option checks against the peers; every message
# ---------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_histogram_defaults_are_percentile_calibraters():
    """The defaults of ORT's PercentileCalibrater class (symmetric False, 2048 bins, percentile
    99.999; onnxruntime 1.32.0) on one call.  create_calibrator(Percentile) passes symmetric=True
    unless told otherwise: that call is OnnxruntimeHistogramObserver('percentile', symmetric=True)."""
    import inspect
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    sig = inspect.signature(cal.PercentileCalibrater).parameters
    assert (sig["symmetric"].default, sig["num_bins"].default, sig["percentile"].default) == (False, 2048, 99.999)
    x = (np.random.default_rng(9).standard_normal(3000) * 2 + 0.5).astype(F32)
    got = OnnxruntimeHistogramObserver("percentile").observe(x).range()
    assert tuple(float(v) for v in got) == _ort("Percentile", [x], False, symmetric=False)
    got = OnnxruntimeHistogramObserver("percentile", symmetric=True).observe(x).range()
    assert tuple(float(v) for v in got) == _ort("Percentile", [x], False)


def test_qparams_passes_narrow_and_scale_format():
    """qparams(narrow=True, scale_format='fp16') on the range (-1, 2): the textbook scale
    (hi - lo) / (qmax - qmin) with int8's narrow range [-127, 127], rounded once to fp16
    (numpy's float16 cast of the float64 quotient: no double-rounding tie here)."""
    qp = MinMaxObserver().observe(np.array([-1.0, 2.0], F32)).qparams("int8", narrow=True, scale_format="fp16")
    s = np.float16(3.0 / 254)
    assert qp.scale == _fr(s) and s != np.float16(3.0 / 255)
    assert qp.zero_point == -127 - round(Fraction(-1) / _fr(s))


def test_minmax_group_size_checks():
    x = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -6.0]], F32)
    assert MinMaxObserver(group_size=1).observe(x).range() == [(_fr(v), _fr(v)) for v in x.ravel()]
    for bad in (0, -2, 2.0, None.__class__):
        with pytest.raises(InvalidValueError) as exc:
            MinMaxObserver(group_size=bad)
        assert str(exc.value) == f"group_size must be a positive int, got {bad!r}"
    with pytest.raises(InvalidValueError) as exc:
        MinMaxObserver(axis=0, group_size=2)
    assert str(exc.value) == "give axis (per channel) or group_size (per group), not both"


def test_channel_count_change_messages():
    with pytest.raises(ShapeError) as exc:
        MinMaxObserver(axis=0).observe(np.zeros((2, 3), F32)).observe(np.zeros((4, 3), F32))
    assert str(exc.value) == "batch has 4 channels/groups, earlier batches 2"
    with pytest.raises(ShapeError) as exc:
        MovingAverageMinMaxObserver(axis=0).observe(np.zeros((2, 5), F32)).observe(np.zeros((3, 5), F32))
    assert str(exc.value) == "batch has 3 channels, earlier batches 2"


def test_moving_average_option_messages():
    with pytest.raises(UnknownNameError) as exc:
        MovingAverageMinMaxObserver(state_format="bf16")
    assert str(exc.value) == "unknown state format 'bf16'; expected one of: exact, fp32, fp64"
    for bad in (0, -0.5, 1.5, 2):
        with pytest.raises(InvalidValueError) as exc:
            MovingAverageMinMaxObserver(c=bad)
        assert str(exc.value) == f"averaging constant c must be in (0, 1], got {bad!r}"


def test_moving_average_c_one_follows_torch_form():
    """c = 1 is allowed (torch accepts averaging_constant=1): m <- fl(m + fl(1·fl(b - m))), written
    out in numpy float32 (each operation rounded once)."""
    bs = [np.array(v, F32) for v in ([0.1, 0.7], [-0.3, 2.9], [1.3, 1.7])]
    o = MovingAverageMinMaxObserver(c=1)
    lo, hi = bs[0].min(), bs[0].max()
    o.observe(bs[0])
    for b in bs[1:]:
        o.observe(b)
        lo, hi = F32(lo + F32(1) * F32(b.min() - lo)), F32(hi + F32(1) * F32(b.max() - hi))
    assert o.range() == (_fr(lo), _fr(hi))


def test_moving_average_float_c_is_read_as_its_decimal_in_exact_state():
    """state_format='exact': c = 0.1 is the decimal 1/10 (c's repr), so m = 0 + (1/10)(1 - 0)."""
    o = MovingAverageMinMaxObserver(c=0.1, state_format="exact").observe([0.0]).observe([1.0])
    assert o.range() == (Fraction(1, 10), Fraction(1, 10))


def test_moving_average_overflow_message():
    o = MovingAverageMinMaxObserver(c=0.5).observe(np.array([-3e38], F32))
    with pytest.raises(InvalidValueError) as exc:
        o.observe(np.array([3e38], F32))
    x = _fr(F32(3e38)) - _fr(F32(-3e38))    # fl(b - m) of the lower extremum overflows first
    assert str(exc.value) == (f"moving average: {float(x)} overflows the fp32 state "
                              "(torch's float32 state would become inf)")


def _np_ms_percentile(x, p, method):
    return _fr(np.percentile(np.asarray(x, np.float64), p, method=method))


@pytest.mark.parametrize("method", ["lower", "higher", "nearest", "inverted_cdf"])
def test_percentile_signed_mode_equals_numpy_on_each_tail(method):
    """mode='signed': (-P_p(-x), P_p(x)) with numpy.percentile (2.1.3) as the estimator, on skewed
    data with repeated values (the counts matter); discrete methods, so the values are exact."""
    x = [-8.0, -8.0, -8.0, -1.0, 0.5, 0.5, 2.0, 3.0, 3.0, 3.0, 3.0, 6.0]
    for p in (50, 75, 90):
        got = PercentileObserver(p=p, method=method, mode="signed").observe(np.array(x, F32)).range()
        assert got == (-_np_ms_percentile([-v for v in x], p, method), _np_ms_percentile(x, p, method))


@pytest.mark.parametrize("method", ["hist_left", "hist_right"])
def test_percentile_histogram_methods_use_the_given_bins(method):
    """hist_left / hist_right on |x|: np.histogram(|x|, bins, (0, max|x|)) (exact for dyadic data and
    power-of-two bins), the first bin whose cumulative count reaches p % of n, its left / right edge."""
    x = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, -3.75, -0.125], F32)
    for bins, p in ((8, 50), (16, 75), (4, 90)):
        counts, edges = np.histogram(np.abs(x.astype(np.float64)), bins=bins, range=(0, 4.0))
        i = int(np.argmax(np.cumsum(counts) >= p / 100 * x.size))
        e = edges[i + (method == "hist_right")]
        assert PercentileObserver(p=p, method=method, bins=bins).observe(x).range() == (-_fr(e), _fr(e))


def test_onnxruntime_histogram_option_messages():
    with pytest.raises(UnknownNameError) as exc:
        OnnxruntimeHistogramObserver("minmax")
    assert str(exc.value) == ("unknown onnxruntime histogram method 'minmax'; expected one of: "
                              "distribution, entropy, percentile")
    with pytest.raises(UnknownNameError) as exc:
        OnnxruntimeHistogramObserver("distribution", scenario="p2")
    assert str(exc.value) == "unknown onnxruntime distribution scenario 'p2'; expected one of: p3, same"


def test_from_dict_checks_and_optional_config():
    for bad in ({}, {"config": {}}, [1], "observer"):
        with pytest.raises(InvalidValueError) as exc:
            from_dict(bad)
        assert str(exc.value) == f"not a saved observer: {bad!r:.80}"
    long = {"state": list(range(100))}
    with pytest.raises(InvalidValueError) as exc:
        from_dict(long)
    assert str(exc.value) == "not a saved observer: " + repr(long)[:80]
    # "config" may be left out: the observer's defaults
    o = from_dict({"observer": "minmax", "state": {"lo": [0.5], "hi": [2.0], "scalar": True}})
    assert o.config() == {"axis": None, "group_size": None} and o.range() == (Fraction(1, 2), Fraction(2))


def test_percentile_option_messages():
    with pytest.raises(UnknownNameError) as exc:
        PercentileObserver(method="median")
    assert str(exc.value).startswith("unknown percentile method 'median'; expected one of: ")
    assert "hist_left" in str(exc.value) and "linear" in str(exc.value)
    with pytest.raises(UnknownNameError) as exc:
        PercentileObserver(mode="both")
    assert str(exc.value) == "unknown percentile mode 'both'; expected one of: abs, signed"
    for method in ("hist_left", "hist_right"):
        with pytest.raises(InvalidValueError) as exc:
            PercentileObserver(method=method, mode="signed")
        assert str(exc.value) == "histogram percentiles are defined on |x| (mode='abs')"


def test_percentile_default_is_linear_99_99_on_abs():
    """Defaults p = 99.99, numpy's 'linear' method, on |x|: 10001 values 0..10000 (one negated)
    put the 99.99th percentile exactly on 9999 (h = 10000·0.9999), as numpy.percentile says."""
    x = np.arange(10001, dtype=F32)
    x[5] = -5.0
    h = (x.size - 1) * Fraction("99.99") / 100            # numpy's 'linear': x[h] interpolated, exact here
    assert h == 9999 and abs(np.percentile(np.abs(x.astype(np.float64)), 99.99) - 9999) < 1e-9
    assert PercentileObserver().observe(x).range() == (Fraction(-9999), Fraction(9999))


def test_entropy_option_messages_and_ncnn_check_only_for_ncnn():
    with pytest.raises(UnknownNameError) as exc:
        EntropyObserver("kl")
    assert str(exc.value) == "unknown entropy variant 'kl'; expected one of: modelopt, ncnn, onnxruntime, tensorrt"
    # ncnn's own limits (target_bins a power of two, bins·target_bins <= 2^24) apply to 'ncnn' only
    with pytest.raises(InvalidValueError, match="ncnn entropy variant needs bins"):
        EntropyObserver("ncnn", bins=2**17, target_bins=2**8)
    with pytest.raises(InvalidValueError, match="ncnn entropy variant needs target_bins a power of two"):
        EntropyObserver("ncnn", bins=256, target_bins=24)
    for variant in ("tensorrt", "modelopt", "onnxruntime"):
        EntropyObserver(variant, bins=2**17, target_bins=2**8)
        EntropyObserver(variant, bins=256, target_bins=24)


def test_entropy_zero_range_message_and_all_ones_data():
    with pytest.raises(InvalidValueError) as exc:
        EntropyObserver("tensorrt").observe(np.zeros(5, F32)).range()
    assert str(exc.value) == ("zero range: all calibration data is 0 (no tensorrt threshold; "
                              "the onnxruntime variant returns ORT's (0, 0))")
    lo, hi = EntropyObserver("tensorrt", bins=64, target_bins=8).observe(np.ones(5, F32)).range()
    assert lo == -hi and 0 < hi <= 1


@pytest.mark.filterwarnings("ignore")
def test_entropy_onnxruntime_target_bins_equal_orts():
    """EntropyObserver('onnxruntime', bins=512, target_bins=32) == ORT's HistogramCollector with
    num_bins=512, num_quantized_bins=32 on one batch (onnxruntime 1.32.0); 128 quantized bins
    give another range on these data."""
    from test_calibrate import _ort_collector
    x = (np.random.default_rng(3).standard_t(3, 4000) * 0.7).astype(F32)
    r = _ort_collector("entropy", [x], bins=512, target_bins=32)
    want = (float(r[0]), float(r[1]))
    got = EntropyObserver("onnxruntime", bins=512, target_bins=32).observe(x).range()
    assert tuple(float(v) for v in got) == want
    assert EntropyObserver("onnxruntime", bins=512, target_bins=128).observe(x).range() != got


def test_mse_options_messages_and_signs():
    assert MSEObserver().config() == {"bins": 2048, "qmax": 127, "start_bin": 128}   # docs/calibration.md, ModelOpt's
    MSEObserver(bins=64, start_bin=0)
    MSEObserver(bins=64, start_bin=62)
    for bad in (-1, 63, 64, 66):
        with pytest.raises(InvalidValueError) as exc:
            MSEObserver(bins=64, start_bin=bad)
        assert str(exc.value) == f"start_bin must be in 0..bins-2, got {bad}"
    with pytest.raises(InvalidValueError) as exc:
        MSEObserver().observe(np.zeros(3, F32)).range()
    assert str(exc.value) == "zero range: all calibration data is 0"
    lo, hi = MSEObserver(bins=64, start_bin=8).observe(np.ones(4, F32)).range()
    assert lo == -hi and 0 < hi <= 1
    lo, hi = MSEObserver(bins=64, start_bin=8).observe(np.array([0.5, -3.0, 1.25, 2.0], F32)).range()
    assert lo == -hi and 0 < hi <= 3


def test_make_observer_unknown_name_message():
    with pytest.raises(UnknownNameError) as exc:
        make_observer("kld")
    assert str(exc.value) == ("unknown observer 'kld'; expected one of: entropy, histogram, minmax, moving_average, "
                              "mse, onnxruntime_histogram, onnxruntime_minmax, percentile")


# ---------------------------------------------------------------------------------------------
# HistogramObserver (torch 2.13 model): option checks, input messages; Observer.__call__
# ---------------------------------------------------------------------------------------------

def test_histogram_observer_option_checks_and_messages():
    from refquant.calibrate import HistogramObserver
    with pytest.raises(UnknownNameError) as exc:
        HistogramObserver(variant="caffe2")
    assert str(exc.value) == "unknown histogram observer variant 'caffe2'; expected one of: torch"
    with pytest.raises(UnknownNameError) as exc:
        HistogramObserver(torch_cpu="neon")
    assert str(exc.value) == "unknown torch cpu capability 'neon'; expected one of: avx2, avx512, default"
    for what in ("bins", "upsample_rate", "dst_bins"):
        for ok in (1, 2**20):
            HistogramObserver(**{what: ok})
        for bad in (0, 2**20 + 1, True, 8.0):
            with pytest.raises(InvalidValueError) as exc:
                HistogramObserver(**{what: bad})
            assert str(exc.value) == f"{what} must be an integer in 1..2^20, got {bad!r}"


def test_histogram_observer_input_messages():
    from refquant.calibrate import HistogramObserver
    with pytest.raises(InvalidValueError) as exc:
        HistogramObserver().observe(np.array(["a", "b"]))
    assert str(exc.value) == "calibration data: expected numbers, got dtype <U1"
    with pytest.raises(InvalidValueError) as exc:
        HistogramObserver().observe([[1.0], [2.0, 3.0]])
    assert str(exc.value).startswith("calibration data: expected an array of numbers (")
    with pytest.raises(InvalidValueError) as exc:
        HistogramObserver().observe(np.full(3, np.nan, F32))
    assert str(exc.value) == "calibration data: all 3 values are NaN"


def test_observer_call_is_observe():
    x = np.array([[0.5, -2.0], [3.0, 1.0]], F32)
    o = MinMaxObserver()
    assert o(x) is o and o.range() == (_fr(x.min()), _fr(x.max()))


def test_histogram_observer_default_cpu_equals_torch_without_fma():
    """torch_cpu='default' models ATen's DEFAULT kernels (linspace without FMA): the histogram
    after three widening batches equals torch 2.13's HistogramObserver run in a child process
    with ATEN_CPU_CAPABILITY=default; the FMA model ('avx2') gives another histogram here."""
    import json
    import os
    import subprocess
    import sys
    from refquant.calibrate import HistogramObserver
    need("torch", "torch==2.13.0")
    r = np.random.default_rng(9)   # seeds 9 and 11 of 4..11 give FMA-dependent histograms
    bs = [r.standard_normal(256).astype(F32) * k for k in (1, 3, 7)]
    code = ("import json, sys, numpy as np, torch\n"
            "bs = [np.asarray(b, np.float32) for b in json.loads(sys.stdin.read())]\n"
            "o = torch.ao.quantization.HistogramObserver(dtype=torch.quint8)\n"
            "for b in bs: o(torch.from_numpy(b))\n"
            "print(torch.backends.cpu.get_cpu_capability(), json.dumps(o.histogram.numpy().tolist()))\n")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps([b.tolist() for b in bs]), env=env,
                         capture_output=True, text=True, timeout=120)
    cap, hist = out.stdout.split(" ", 1)
    assert cap == "DEFAULT", out.stderr[-2000:]
    want = np.array(json.loads(hist), F32)
    ref, fma = HistogramObserver(torch_cpu="default"), HistogramObserver(torch_cpu="avx2")
    for b in bs:
        ref.observe(b), fma.observe(b)
    assert np.array_equal(ref.histogram[2], want)
    assert not np.array_equal(fma.histogram[2], want)


def test_histogram_observer_dst_bins_equal_torchs_search():
    """The default 256 destination bins (torch: 2^8 for quint8) and dst_bins=16 (torch's
    ``dst_nbins`` attribute set to 16) on Student-t data where 256, 257 and 16 bins choose
    different ranges: == torch 2.13's ``_non_linear_param_search``."""
    torch = need("torch", "torch==2.13.0")
    from refquant.calibrate import HistogramObserver
    r = np.random.default_rng(5)
    x = (r.standard_t(2, int(r.integers(50, 2000))) * r.uniform(0.1, 3)).astype(F32)
    cpu = "default" if torch.backends.cpu.get_cpu_capability() == "DEFAULT" else "avx2"
    o = torch.ao.quantization.HistogramObserver(dtype=torch.quint8)
    o(torch.from_numpy(x))
    for dst in (256, 16):
        o.dst_nbins = dst
        lo, hi = o._non_linear_param_search()
        ref = HistogramObserver(torch_cpu=cpu) if dst == 256 else HistogramObserver(dst_bins=dst, torch_cpu=cpu)
        assert tuple(float(v) for v in ref.observe(x).range()) == (lo.item(), hi.item()), dst
    assert HistogramObserver(dst_bins=257).observe(x).range() != HistogramObserver().observe(x).range()
