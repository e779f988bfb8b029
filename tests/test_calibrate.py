"""Calibration observers: exact definitions, peer reproductions (docs/reference/calibration.md §9), properties.

Peers: torch 2.13 ao observers and onnxruntime calibrators (1.31.1, 1.32.0) run on the §9 data
(8 batches x 4096 N(0,1) fp32 from numpy default_rng(0), outliers 9.5/-7.25/12/6 in batches 1/3/5/6).
"""
import json
import math
import os
import tempfile
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant.calibrate import (EntropyObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                Multiset, OnnxruntimeHistogramObserver, OnnxruntimeMinMaxObserver, PercentileObserver, abs_histogram, detfloat, from_dict, make_observer,
                                percentile, search)
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError
from refquant.qparams import choose_qparams

from peers import need


def section9():
    d = np.random.default_rng(0).standard_normal((8, 4096)).astype(np.float32)
    d[1, 0], d[3, 0], d[5, 0], d[6, 0] = 9.5, -7.25, 12.0, 6.0
    return d


DATA = section9()


def fed(obs, batches=DATA):
    for b in batches:
        obs.observe(b)
    return obs


def f(x):
    return float(x)


# ---------------------------------------------------------------------------------------------
# torch 2.13
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return need("torch", "torch==2.13.0")


def torch_run(obs, batches=DATA):
    t = need("torch")
    for b in batches:
        obs(t.from_numpy(np.ascontiguousarray(b)))
    return obs


def test_minmax_equals_torch_and_section9(torch):
    tq = torch.ao.quantization
    ref = fed(MinMaxObserver())
    assert ref.range() == (Fraction(-29, 4), Fraction(12))
    o = torch_run(tq.MinMaxObserver(dtype=torch.quint8))
    s, z = o.calculate_qparams()
    qp = ref.qparams("uint8", variant="torch")
    assert (f(qp.scale), qp.zero_point) == (s.item(), z.item()) == (0.07549019902944565, 96)
    o = torch_run(tq.MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric))
    s, z = o.calculate_qparams()
    qp = ref.qparams("int8", symmetric=True, variant="torch")
    assert (f(qp.scale), qp.zero_point) == (s.item(), 0) and abs(s.item() - 12 / 127.5) < 1e-8  # ÷127.5


@pytest.mark.parametrize("c, lo, hi, zp", [(0.01, -3.9114229679107666, 3.4442648887634277, 136),
                                           (0.5, -3.690896511077881, 5.193662643432617, 106)])
def test_moving_average_equals_torch_bit_for_bit(torch, c, lo, hi, zp):
    o = torch_run(torch.ao.quantization.MovingAverageMinMaxObserver(averaging_constant=c, dtype=torch.quint8))
    ref = fed(MovingAverageMinMaxObserver(c=c))
    assert tuple(map(f, ref.range())) == (o.min_val.item(), o.max_val.item()) == (lo, hi)
    s, z = o.calculate_qparams()
    qp = ref.qparams("uint8", variant="torch")
    assert (f(qp.scale), qp.zero_point) == (s.item(), z.item()) and qp.zero_point == zp


def test_moving_average_forms_differ_in_fp32():
    """torch's code form vs the textbook (1-c)m + c·b: same in exact arithmetic, differ in fp32
    on about 27 % of random pairs at c = 0.01 (docs/reference/calibration.md §3: 2682-2699 of 10000)."""
    rng = np.random.default_rng(7)
    m, b = rng.standard_normal(10000).astype(np.float32), rng.standard_normal(10000).astype(np.float32)
    c = np.float32(0.01)
    torch_form = m + c * (b - m)                      # numpy f32 ops: each rounded once (NEP 50)
    text_form = np.float32(1 - c) * m + c * b
    differ = int((torch_form != text_form).sum())
    assert 2500 < differ < 2900
    for i in range(0, 10000, 997):                    # the oracle reproduces both, bit for bit
        for form, want in (("torch", torch_form[i]), ("textbook", text_form[i])):
            o = MovingAverageMinMaxObserver(c=0.01, form=form)
            o.observe([m[i]]).observe([b[i]])
            assert o.range()[0] == Fraction(*float(want).as_integer_ratio())
    ex = MovingAverageMinMaxObserver(c=Fraction(1, 2), form="textbook", state_format="exact")
    ex.observe([1.0]).observe([2.0]).observe([4.0])
    assert ex.range() == (Fraction(11, 4), Fraction(11, 4))


def test_per_channel_and_per_group_equal_torch(torch):
    w = np.random.default_rng(3).standard_normal((5, 6, 8)).astype(np.float32)
    for axis in (0, 1, -1):
        ref = MinMaxObserver(axis=axis).observe(w).observe(w * 2)
        o = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=axis % 3, dtype=torch.qint8,
                                                           qscheme=torch.per_channel_symmetric)
        torch_run(o, [w, w * 2])
        assert [(f(a), f(b)) for a, b in ref.range()] == list(zip(o.min_val.tolist(), o.max_val.tolist()))
        s, _ = o.calculate_qparams()
        assert [f(q.scale) for q in ref.qparams("int8", symmetric=True, variant="torch")] == s.tolist()
    # per group = PerChannelMinMaxObserver on reshape(-1, g) (torch ships no PerGroup observer)
    g = MinMaxObserver(group_size=4).observe(w)
    o = torch_run(torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=0), [w.reshape(-1, 4)])
    assert [f(a) for a, _ in g.range()] == o.min_val.tolist() and len(g.range()) == 5 * 6 * 2


def test_torch_histogram_observer_depends_on_batching_refquant_does_not(torch):
    """torch HistogramObserver re-bins on every range change: 8 batches vs one concatenated batch
    give different histograms (docs/reference/calibration.md §6).  refquant's exact multiset is batch-invariant."""
    a = torch_run(torch.ao.quantization.HistogramObserver(dtype=torch.quint8))
    b = torch_run(torch.ao.quantization.HistogramObserver(dtype=torch.quint8), [DATA.ravel()])
    assert float((a.histogram - b.histogram).abs().sum()) > 100
    assert (a.min_val.item(), a.max_val.item()) == (-7.25, 12.0)
    ra, rb = fed(MSEObserver()), fed(MSEObserver(), [DATA.ravel()[::-1]])
    assert np.array_equal(ra.histogram(2048)[0], rb.histogram(2048)[0]) and ra.range() == rb.range()


# ---------------------------------------------------------------------------------------------
# onnxruntime calibrators (measured on 1.31.1 and 1.32.0)
# ---------------------------------------------------------------------------------------------

def _ort(method, batches, per_call, raw=False, **opts):
    onnx = need("onnx")
    cal_mod = need("onnxruntime.quantization.calibrate", "onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    d = tempfile.mkdtemp()
    path = os.path.join(d, "m.onnx")
    g = helper.make_graph([helper.make_node("Mul", ["X", "one"], ["Y"])], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, None])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, None])],
                          [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)

    class Reader(cal_mod.CalibrationDataReader):
        def __init__(self, bs):
            self.it = iter([{"X": b[None, :]} for b in bs])

        def get_next(self):
            return next(self.it, None)

    cal = cal_mod.create_calibrator(path, ["Mul"], augmented_model_path=os.path.join(d, "a.onnx"),
                                    calibrate_method=getattr(cal_mod.CalibrationMethod, method), extra_options=opts)
    for chunk in ([[b] for b in batches] if per_call else [batches]):
        cal.collect_data(Reader(chunk))
    if raw:  # the TensorData itself (Distribution: avg, std, lowest, highest)
        return cal.compute_data()["Y"]
    return tuple(float(v) for v in cal.compute_data()["Y"].range_value)


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_minmax_and_moving_average():
    assert _ort("MinMax", DATA, False) == tuple(map(f, fed(MinMaxObserver()).range())) == (-7.25, 12.0)
    # one collect_data call per batch: ORT's old + c·(new - old) in fp32 == refquant form 'torch'
    ort = _ort("MinMax", DATA, True, moving_average=True, averaging_constant=0.01)
    assert ort == tuple(map(f, fed(MovingAverageMinMaxObserver(c=0.01)).range()))
    # one call for all batches: ORT takes the plain mean of the batch extrema, c ignored (§3)
    ort1 = _ort("MinMax", DATA, False, moving_average=True, averaging_constant=0.01)
    assert ort1 == (float(np.float32(DATA.min(axis=1).mean())), float(np.float32(DATA.max(axis=1).mean())))
    assert ort1 == (-4.057083606719971, 5.67386531829834)


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_bug_max_intermediate_outputs():
    """ORT bug (1.31.1, still in 1.32.0): CalibMaxIntermediateOutputs=k clears outputs every k batches without
    reducing them, so batches are lost: (-3.479, 6.0) instead of the true (-7.25, 12.0)."""
    assert _ort("MinMax", DATA, False, max_intermediate_outputs=3) == (-3.479088306427002, 6.0)
    assert fed(MinMaxObserver()).range() == (Fraction(-29, 4), Fraction(12))


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_entropy_one_call_reproduced():
    """ORT Entropy, 2048 bins, one collect call: [-4.5, 4.51171875] (§9); refquant variant
    'onnxruntime' reproduces it from the exact histogram.  Per-batch ORT collection grows the
    histogram and gives ±3.43 (order-dependent); refquant's state is the multiset, so any batching
    gives the one-call answer."""
    want = (-4.5, 4.51171875)
    assert _ort("Entropy", DATA, False, num_bins=2048) == want
    assert tuple(map(f, fed(EntropyObserver("onnxruntime")).range())) == want
    per_batch = _ort("Entropy", DATA, True, num_bins=2048)
    assert per_batch == (-3.4310340881347656, 3.434842109680176)
    assert tuple(map(f, fed(EntropyObserver("onnxruntime"), DATA[::-1]).range())) == want
    # the named peer variant: ORT's per-call histogram growth (§5.4), one observe per collect call
    assert tuple(map(f, fed(OnnxruntimeHistogramObserver("entropy")).range())) == per_batch
    assert tuple(map(f, fed(OnnxruntimeHistogramObserver("entropy"), [DATA]).range())) == want
    assert tuple(map(f, fed(OnnxruntimeHistogramObserver("entropy"), DATA[::-1]).range())) == (
        -3.285428047180176, 3.2888259887695312)  # §9 reversed order


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_percentile_symmetric_clamp_bug():
    """ORT Percentile symmetric=True (create_calibrator default) clamps ±edge to the raw data
    min/max, so the "symmetric" range is (-7.25, 11.994140625).  refquant hist_left (same 2048-bin
    left-edge estimator, exact edges on [0, max|x|]) gives the symmetric ±11.994140625."""
    assert _ort("Percentile", DATA, False, symmetric=True, percentile=99.999) == (-7.25, 11.994140625)
    lo, hi = fed(PercentileObserver(99.999, method="hist_left")).range()
    assert (lo, hi) == (Fraction(-12 * 2047, 2048), Fraction(12 * 2047, 2048))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("symmetric, p, one_call, per_batch", [
    (True, 99.999, (-7.25, 11.994140625), (-7.25, 9.49841594696045)),
    (False, 99.999, (-7.25, 11.98828125), (-7.25, 11.99909782409668)),
    (False, 99.99, (-4.5, 9.4921875), (-4.497282028198242, 9.497222900390625))])
def test_onnxruntime_percentile_peer_variant(symmetric, p, one_call, per_batch):
    """ORT PercentileCalibrater, one collect call and one call per batch, symmetric (|x| histogram,
    appended edges, values below the first edge dropped) and signed (§5.4 growth, c = (100-p)/200
    cut each side), clamped to the data range: reproduced by OnnxruntimeHistogramObserver."""
    for chunks, want in (([DATA], one_call), (DATA, per_batch)):
        assert _ort("Percentile", DATA, chunks is DATA, symmetric=symmetric, percentile=p, num_bins=2048) == want
        obs = fed(OnnxruntimeHistogramObserver("percentile", p=p, symmetric=symmetric), chunks)
        assert tuple(map(f, obs.range())) == want


# ---------------------------------------------------------------------------------------------
# ModelOpt / pytorch-quantization (not installable here: numbers from docs/reference/calibration.md §9)
# ---------------------------------------------------------------------------------------------

def test_modelopt_entropy_concatenated_reproduced():
    """ModelOpt entropy on the concatenated data = 3.91992188 = edge 669 of 2048 on [0, 12]."""
    assert fed(EntropyObserver("modelopt")).range()[1] == Fraction(12 * 669, 2048)


def test_tensorrt_entropy_threshold_is_bin_centre():
    lo, hi = fed(EntropyObserver("tensorrt")).range()
    k = hi * 2048 / 12 - Fraction(1, 2)
    assert lo == -hi and k.denominator == 1 and 128 <= k <= 2047 and f(hi) == 3.9228515625


def test_modelopt_mse_intended_result():
    """ModelOpt 0.47.0 bug: _compute_amax_mse passes (num_bits, unsigned) into (bias, num_bits),
    fake-quantizing centres - 8 with 0 bits: amax 0.2447 (§6).  The intended search on the exact
    histogram gives 10.087 (ModelOpt's own grown histogram, intended: 10.0903254)."""
    a = fed(MSEObserver()).range()[1]
    assert a == Fraction(2 * 1721 + 1, 2) * 12 / 2048 and abs(f(a) - 10.0903254) < 0.01


def test_mse_matches_float_brute_force():
    rng = np.random.default_rng(5)
    x = np.abs(rng.standard_normal(3000)).astype(np.float32)
    x[0] = 9.0
    bins, qmax = 256, 127
    a = MSEObserver(bins=bins, start_bin=16).observe(x).range()[1]
    ms = Multiset()
    ms.add(x)
    hist = abs_histogram(ms, Fraction(9), bins)
    centres = [(k + Fraction(1, 2)) * 9 / bins for k in range(bins)]
    def mse(amax):
        return sum(int(c) * (v - min(round(v * qmax / amax), qmax) * amax / qmax) ** 2 for v, c in zip(centres, hist) if c)
    errs = [mse(centres[m]) for m in range(16, bins - 1)]
    assert a == centres[16 + errs.index(min(errs))]


# ---------------------------------------------------------------------------------------------
# Percentile
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", search.CONTINUOUS.keys() | set(search.DISCRETE))
def test_percentile_equals_numpy_on_float64(method):
    """Exact estimator == numpy.percentile(float64 data) to 1e-12.  Trap: on float32 data numpy
    before 2.4 rounds the virtual index to float32: 99.99 % 'linear' of |x| §9 gives 5.58235264
    (docs/reference/calibration.md §4 table, = torch.quantile) while the exact value is 5.5833222458;
    numpy >= 2.4.0 (numpy/numpy#29105; measured: 2.1.3 and 2.3.5 round, 2.4.0 and 2.4.6 do not) returns
    the float32 of the exact value."""
    x = np.abs(DATA)
    for p in (50, 99.9, 99.99, 99.999, 100):
        got = f(PercentileObserver(p, method=method).observe(x).range()[1])
        assert math.isclose(got, np.percentile(x.astype(np.float64), p, method=method), rel_tol=1e-12)
    if method == "linear":
        exact = f(PercentileObserver(99.99).observe(x).range()[1])
        trap = np.lib.NumpyVersion(np.__version__) < "2.4.0"
        assert np.percentile(x, 99.99) == np.float32(5.58235264 if trap else 5.5833222458)
        assert abs(exact - 5.5833222458) < 1e-9


def test_percentile_table_of_calibration_md():
    o = fed(PercentileObserver(99.999))
    ms = o.ms.absolute()
    assert [f(percentile(ms, 99.99, m)) for m in ("lower", "higher", "nearest", "inverted_cdf")] == [
        float(np.float32(4.49411726)), 6.0, 6.0, 6.0]
    assert f(percentile(ms, 99.999, "midpoint")) == 10.75 and f(percentile(ms, 99.999, "hist_right")) == 12.0


@settings(max_examples=60)
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=60),
       st.floats(0.01, 100), st.floats(0.01, 100), st.sampled_from(search.PERCENTILE_METHODS))
def test_percentile_monotone_in_p(xs, p1, p2, method):
    ms = Multiset()
    ms.add(np.abs(np.array(xs, np.float32)))
    if ms.values[-1] == 0 and method in search.HISTOGRAM:
        return
    lo, hi = sorted((p1, p2))
    a, b = percentile(ms, lo, method), percentile(ms, hi, method)
    assert a <= b <= Fraction(*float(ms.values[-1]).as_integer_ratio())


# ---------------------------------------------------------------------------------------------
# Exact histogram, deterministic float kernel
# ---------------------------------------------------------------------------------------------

def test_histogram_edges_are_exact():
    """A value on an exact edge k·amax/B goes to bin k; numpy's float binning may not."""
    amax, B = np.float32(3.0), 7
    edges = [Fraction(3 * k, B) for k in range(B + 1)]
    xs = [np.float32(float(e)) for e in edges]  # nearest fp32 to each edge (below, on or above)
    ms = Multiset()
    ms.add(np.array(xs + [amax], np.float32))
    h = abs_histogram(ms, Fraction(3), B)
    want = np.zeros(B, np.int64)
    for x in xs + [amax]:
        v = Fraction(*float(x).as_integer_ratio())
        want[min(int(v * B / 3), B - 1)] += 1
    assert np.array_equal(h, want) and h.sum() == B + 2


@settings(max_examples=50)
@given(st.lists(st.floats(0, 1.0000000150474662e+30, width=32), min_size=2, max_size=80), st.integers(1, 4096))
def test_histogram_matches_exact_rational_rule(xs, bins):
    x = np.array(xs, np.float32)
    if x.max() == 0:
        return
    ms = Multiset()
    ms.add(x)
    amax = Fraction(*float(x.max()).as_integer_ratio())
    h = abs_histogram(ms, amax, bins)
    want = np.zeros(bins, np.int64)
    for v in xs:
        k = math.floor(Fraction(*float(np.float32(v)).as_integer_ratio()) * bins / amax)
        want[min(k, bins - 1)] += 1
    assert np.array_equal(h, want)


def test_deterministic_ln_is_accurate_and_same_in_pure_python():
    x = np.exp(np.random.default_rng(2).uniform(-700, 700, 20000))
    a = detfloat.ln(x)
    assert np.max(np.abs(a - np.log(x)) / np.maximum(np.abs(np.log(x)), 1e-300)) < 1e-15
    assert [detfloat.ln_scalar(v) for v in x[:500].tolist()] == a[:500].tolist()


# ---------------------------------------------------------------------------------------------
# Properties: invariance, qparams, threshold bounds, save/restore
# ---------------------------------------------------------------------------------------------

ORDER_FREE = [("minmax", {}), ("percentile", {"p": 99.0}), ("percentile", {"p": 99.5, "method": "hist_left", "bins": 64}),
              ("entropy", {"variant": "tensorrt", "bins": 256, "target_bins": 32}),
              ("entropy", {"variant": "modelopt", "bins": 256, "target_bins": 32}),
              ("entropy", {"variant": "onnxruntime", "bins": 256, "target_bins": 32}),
              ("entropy", {"variant": "ncnn", "bins": 256, "target_bins": 32}),
              ("mse", {"bins": 128, "start_bin": 8})]


@settings(max_examples=25)
@given(st.lists(st.floats(-50, 50, width=32), min_size=20, max_size=300), st.randoms(use_true_random=False))
def test_batching_and_order_invariance(xs, rnd):
    x = np.array(xs, np.float32)
    if not (x != 0).any():
        return
    cuts = sorted(rnd.sample(range(1, len(xs)), k=min(3, len(xs) - 1)))
    perm = x[np.array(rnd.sample(range(len(xs)), len(xs)))]
    for name, kw in ORDER_FREE:
        one = make_observer(name, **kw).observe(x).range()
        assert fed(make_observer(name, **kw), np.split(perm, cuts)).range() == one


@settings(max_examples=25)
@given(st.lists(st.floats(-50, 50, width=32), min_size=20, max_size=300))
def test_thresholds_never_beyond_max(xs):
    x = np.array(xs, np.float32)
    amax = Fraction(*float(np.abs(x).max()).as_integer_ratio())
    if amax == 0:
        return
    for name, kw in ORDER_FREE[1:]:
        lo, hi = make_observer(name, **kw).observe(x).range()
        assert -amax <= lo <= hi <= amax
        assert Fraction(*float(x.min()).as_integer_ratio()) <= lo or name != "entropy" or kw["variant"] != "onnxruntime"


@settings(max_examples=100)
@given(st.floats(-1e4, 1e4, width=32), st.floats(-1e4, 1e4, width=32), st.booleans(),
       st.sampled_from(["int8", "uint8"]), st.booleans(), st.sampled_from(["exact", "torch", "onnxruntime"]))
def test_qparams_from_observer_represent_zero(a, b, symmetric, dtype, narrow, variant):
    obs = MinMaxObserver().observe([a, b])
    lo, hi = obs.range()
    if 0 < max(abs(a), abs(b)) < 1e-30:  # scale would underflow fp32: choose_qparams raises
        return
    qp = obs.qparams(dtype, symmetric=symmetric, narrow=narrow, variant=variant)  # zero range: as the peer
    qmin, qmax = -128 if dtype == "int8" else 0, 127 if dtype == "int8" else 255
    assert qp.scale > 0 and qmin <= qp.zero_point <= qmax   # 0.0 -> exactly q = zero_point
    if variant == "exact" and not symmetric and not narrow:  # the range is covered
        assert (qmin - qp.zero_point) * qp.scale <= min(lo, 0) + qp.scale
        assert (qmax - qp.zero_point) * qp.scale >= max(hi, 0) - qp.scale


def test_save_restore_continues_identically():
    for name, kw in ORDER_FREE + [("moving_average", {"c": 0.1}), ("minmax", {"axis": 0}),
                                  ("onnxruntime_histogram", {"bins": 256, "target_bins": 32}),
                                  ("onnxruntime_histogram", {"method": "percentile", "symmetric": True}),
                                  ("onnxruntime_histogram", {"method": "distribution", "scenario": "p3"}),
                                  ("onnxruntime_minmax", {"moving_average": True, "c": 0.3, "symmetric": True}),
                                  ("moving_average", {"c": 0.5, "form": "textbook", "state_format": "exact", "axis": 1})]:
        a = make_observer(name, **kw)
        a.observe(DATA[:2].reshape(2, -1)[:, :2000])
        b = from_dict(json.loads(json.dumps(a.to_dict())))
        for o in (a, b):
            o.observe(DATA[2:4].reshape(2, -1)[:, :2000])
        assert a.range() == b.range() and a.to_dict() == b.to_dict()


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_bad_input_named_errors():
    for name, kw in ORDER_FREE + [("moving_average", {})]:
        with pytest.raises(InvalidValueError, match="no calibration data"):
            make_observer(name, **kw).observe(np.zeros(0, np.float32)).range()
        with pytest.raises(InvalidValueError, match="all 3 values are NaN"):
            make_observer(name, **kw).observe([math.nan] * 3)
        with pytest.raises(InvalidValueError, match="inf"):
            make_observer(name, **kw).observe([1.0, math.inf])
    for name, kw in ORDER_FREE[3:]:
        if kw.get("variant") == "onnxruntime":
            continue  # ORT returns (0, 0) on all-zero data: test_onnxruntime_all_zero_data
        with pytest.raises(InvalidValueError, match="zero range|empty"):
            make_observer(name, **kw).observe([0.0, 0.0]).range()
    for p in (0, -1, 100.5, math.nan):
        with pytest.raises(InvalidValueError, match="percentile"):
            PercentileObserver(p)
    with pytest.raises(InvalidValueError, match="at least target_bins"):
        EntropyObserver(bins=64, target_bins=128)
    with pytest.raises(UnknownNameError):
        EntropyObserver("tensorflow")
    with pytest.raises(UnknownNameError):
        make_observer("kmeans")
    with pytest.raises(ShapeError):
        MinMaxObserver(group_size=5).observe(np.zeros((2, 8), np.float32))
    with pytest.raises(ShapeError):
        MinMaxObserver(axis=0).observe(np.ones((3, 2))).observe(np.ones((4, 2)))
    with pytest.raises(InvalidValueError, match="all NaN"):
        MinMaxObserver(axis=0).observe(np.array([[1.0, 2.0], [math.nan, math.nan]]))
    nan_ok = MinMaxObserver().observe([math.nan, 2.0, -1.0])  # NaNs are skipped (ORT nanmin)
    assert nan_ok.range() == (-1, 2)


# ---------------------------------------------------------------------------------------------
# Zero ranges: each qparams variant does what its peer does (issue 20 item 1)
# ---------------------------------------------------------------------------------------------

def test_torch_per_channel_all_zero_channel_issue_example(torch):
    """torch gives scale eps = 2^-23, zero point 0 on an all-zero channel and the other channels
    normally; refquant raised InvalidValueError('zero range') for the whole call."""
    x = np.array([[0., 1.], [0., -2.]], np.float32)
    qp = MinMaxObserver(axis=1).observe(x).qparams("int8", symmetric=True, variant="torch")
    o = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=1, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    o(torch.from_numpy(x))
    s, z = o.calculate_qparams()
    assert [f(q.scale) for q in qp] == s.tolist() == [float(np.float32(2.0**-23)), float(np.float32(2 / 127.5))]
    assert [q.zero_point for q in qp] == z.tolist() == [0, 0]


def test_torch_zero_ranges_every_config(torch):
    """Per tensor and per channel, affine and symmetric, quint8 / qint8, reduce_range: an all-zero
    tensor and all-zero channels beside normal ones equal torch 2.13; the one configuration torch
    refuses (symmetric quint8 with reduce_range) raises in refquant too."""
    tq = torch.ao.quantization
    w = np.random.default_rng(11).standard_normal((3, 4, 5)).astype(np.float32)
    w[:, 1] = 0
    w[:, 3] = np.abs(w[:, 3])  # one channel >= 0, one all zero
    for tdt, dt in ((torch.quint8, "uint8"), (torch.qint8, "int8")):
        for sym in (False, True):
            for rr in (False, True):
                refused = sym and rr and dt == "uint8"
                for per_channel, data in ((False, np.zeros((2, 3), np.float32)), (True, w)):
                    obs = MinMaxObserver(axis=1 if per_channel else None).observe(data)
                    opts = dict(symmetric=sym, reduce_range=rr, variant="torch")
                    if refused:
                        with pytest.raises(InvalidValueError, match="torch"):
                            obs.qparams(dt, **opts)
                        continue
                    if per_channel:
                        qs = torch.per_channel_symmetric if sym else torch.per_channel_affine
                        o = tq.PerChannelMinMaxObserver(ch_axis=1, dtype=tdt, qscheme=qs, reduce_range=rr)
                    else:
                        qs = torch.per_tensor_symmetric if sym else torch.per_tensor_affine
                        o = tq.MinMaxObserver(dtype=tdt, qscheme=qs, reduce_range=rr)
                    o(torch.from_numpy(data))
                    s, z = o.calculate_qparams()
                    got = obs.qparams(dt, **opts)
                    got = got if per_channel else [got]
                    assert [f(q.scale) for q in got] == s.tolist(), (dt, sym, rr, per_channel)
                    assert [q.zero_point for q in got] == z.tolist(), (dt, sym, rr, per_channel)


ORT_TYPES = ("uint8", "int8", "uint16", "int16", "uint4", "int4")


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_zero_range_and_reduce_range_equal_compute_scale_zp():
    """Variant 'onnxruntime' == compute_scale_zp with get_qmin_qmax_for_qType's range for every
    type ORT lists, symmetric x reduce_range, on zero ranges (ORT: (1.0, 0), never an error) and
    ordinary ones.  Before: reduce_range int8/int16 used [-64, 63] (ORT: [-64, 64]) and symmetric
    int4 [-7, 7] (ORT: [-8, 7]); 864 comparisons, onnxruntime 1.32.0."""
    need("onnxruntime")
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType
    rng = np.random.default_rng(1)
    ranges = [(0.0, 0.0), (-1.0, 0.0), (0.0, 3.0), (-2.5, 7.25), (-1e-39, 1e-39), (-3.0, 1.0)] + [
        tuple(sorted(rng.standard_normal(2).astype(np.float32).tolist())) for _ in range(30)]
    for dt in ORT_TYPES:
        qt = getattr(TensorProto, dt.upper())
        for sym in (False, True):
            for rr in (False, True):
                qmin, qmax = get_qmin_qmax_for_qType(qt, reduce_range=rr, symmetric=sym)
                for lo, hi in ranges:
                    z, s = compute_scale_zp(np.array(lo, np.float32), np.array(hi, np.float32), qmin, qmax, symmetric=sym)
                    got = choose_qparams(lo, hi, dt, symmetric=sym, reduce_range=rr, variant="onnxruntime")
                    assert (got.scale, got.zero_point) == (Fraction(float(s)), int(z)), (dt, sym, rr, lo, hi)
    qp = MinMaxObserver(axis=0).observe(np.array([[0.0, 0.0], [1.0, -2.0]], np.float32)).qparams(
        "int8", symmetric=True, variant="onnxruntime")
    assert [(q.scale, q.zero_point) for q in qp] == [(1, 0), (Fraction(float(np.float32(2 / 127))), 0)]


def test_exact_zero_range_is_scale_one():
    """'exact' has no peer: the formulas leave 0/0, refquant's spec layer gives scale 1 and the
    zero point of lo = 0 (affine: qmin; symmetric: the symmetric zero point), as choose_qparams."""
    obs = MinMaxObserver().observe([0.0, -0.0])
    assert (obs.qparams().scale, obs.qparams().zero_point) == (1, -128)
    assert obs.qparams("uint8", symmetric=True).zero_point == 128
    assert [q.scale for q in MinMaxObserver(axis=0).observe(np.array([[0.0], [2.0]])).qparams()] == [
        1, Fraction(float(np.float32(2 / 255)))]


# ---------------------------------------------------------------------------------------------
# Empty batches (issue 20 item 3)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: MinMaxObserver(axis=0), lambda: MinMaxObserver(axis=-1),
                                  lambda: MovingAverageMinMaxObserver(axis=0), lambda: MinMaxObserver(group_size=3)])
def test_per_channel_empty_batch_is_skipped(make, torch):
    """An empty batch (a zero-size axis), alone or before real data, is skipped, as torch's
    PerChannelMinMaxObserver does (numel() == 0 returns early); refquant raised numpy's
    ValueError 'cannot reshape array of size 0'."""
    empty = np.zeros((0, 3), np.float32)
    with pytest.raises(InvalidValueError, match="no calibration data"):
        make().observe(empty).range()
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    assert make().observe(empty).observe(x).observe(empty).range() == make().observe(x).range()
    o = torch.ao.quantization.PerChannelMinMaxObserver(ch_axis=0)
    torch_run(o, [empty, x, empty])
    assert [(f(a), f(b)) for a, b in MinMaxObserver(axis=0).observe(empty).observe(x).range()] == list(
        zip(o.min_val.tolist(), o.max_val.tolist()))


# ---------------------------------------------------------------------------------------------
# EntropyObserver('onnxruntime'): ORT's float32 edges, bit for bit (issue 20 item 2)
# ---------------------------------------------------------------------------------------------

def _ort_collector(method, batches, bins=2048, target_bins=128, **kw):
    """ORT's HistogramCollector, one ``collect`` call per batch; returns compute_collection_result()."""
    cal = need("onnxruntime.quantization.calibrate", "onnxruntime")
    opts = dict(symmetric=False, num_bins=bins, num_quantized_bins=target_bins, percentile=99.999, scenario="same")
    opts.update(kw)
    c = cal.HistogramCollector(method=method, **opts)
    for b in batches:
        c.collect({"t": np.asarray(b, np.float32)})
    return c.compute_collection_result()["t"]


def _non_dyadic(seed):
    rng = np.random.default_rng(seed)
    kind = seed % 4
    if kind == 0:
        x = rng.standard_t(2, size=(4, 512))
    elif kind == 1:
        x = np.concatenate([rng.normal(-3.3, 0.7, 900), rng.normal(5.1, 1.9, 1100)])
    elif kind == 2:
        x = rng.standard_normal(2000) * 3.7 + 0.3
    else:
        x = rng.laplace(0, 0.013, 3000)
    return x.astype(np.float32)


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_entropy_non_dyadic_threshold_issue_reproducer():
    """ORT returns the float32 edges np.histogram made: (-13.383392, 13.420986) on Student-t(2)
    data; refquant returned the exact edges -T + 2T·k/B, 1-2 ulp away (-13.383393, 13.420987)."""
    x = np.random.default_rng(7).standard_t(2, size=(8, 512)).astype(np.float32)
    want = (-13.383392333984375, 13.42098617553711)
    assert _ort("Entropy", [x.ravel()], False, num_bins=2048, num_quantized_bins=128) == want
    assert tuple(map(f, EntropyObserver("onnxruntime").observe(x).range())) == want
    assert tuple(map(f, fed(EntropyObserver("onnxruntime"), x[::-1]).range())) == want  # any batching


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("seed", range(8))
def test_onnxruntime_entropy_equals_ort_on_non_dyadic_data(seed):
    """Student-t, bimodal, shifted normal and narrow Laplace data (thresholds not dyadic), 2048/128
    and 1000/100 bins (B not a power of two: every edge rounded): == ORT's one-call collector."""
    x = _non_dyadic(seed)
    for bins, t in ((2048, 128), (1000, 100)):
        r = _ort_collector("entropy", [x], bins, t)
        got = EntropyObserver("onnxruntime", bins=bins, target_bins=t).observe(x).range()
        assert tuple(map(f, got)) == (float(r[0]), float(r[1])), (bins, t)


F32_BIG, F32_TINY = float(np.float32(1.7e38)), float(np.float32(1e-37))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.floats(-F32_BIG, F32_BIG, width=32) | st.floats(-F32_TINY, F32_TINY, width=32), min_size=1, max_size=60),
       st.integers(1, 3000), st.floats(float(np.float32(1e-40)), float(np.float32(1e30)), width=32))
def test_numpy_edges_and_binning_equal_np_histogram(xs, bins, scale):
    """histogram.numpy_edges / numpy_histogram == np.histogram(x_f32, B, range=(-T, T)), edges and
    counts, from subnormal to 1.7e38 spans (numpy 2.1.3)."""
    from refquant.calibrate.histogram import numpy_edges, numpy_histogram
    x = np.array(xs, np.float32)
    with np.errstate(over="ignore"):
        x = np.clip(x * np.float32(scale), -F32_BIG, F32_BIG).astype(np.float32)
    t = np.array(np.abs(x).max(), np.float32)
    counts, edges = np.histogram(x, bins, range=(-t, t))
    ms = Multiset()
    ms.add(x)
    mine = numpy_edges(-t, t, bins)
    assert mine.dtype == edges.dtype == np.float32 and np.array_equal(mine.view(np.uint32), edges.view(np.uint32))
    assert np.array_equal(numpy_histogram(ms, mine), counts)


def test_numpy_edges_overflow_is_a_named_error():
    from refquant.calibrate.histogram import numpy_edges
    with pytest.raises(InvalidValueError, match="overflows float32.*onnxruntime"):
        numpy_edges(-2e38, 2e38, 2048)
    with pytest.raises(InvalidValueError, match="overflows float32"):
        EntropyObserver("onnxruntime").observe([2e38, 1.0]).range()
    assert EntropyObserver("tensorrt").observe([2e38, 1.0]).range()[1] > 0  # exact variants: no numpy edges


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_all_zero_data_gives_orts_range():
    """All-zero data: ORT's collectors return (0, 0) for entropy (np.histogram widens the empty
    range to [-1/2, 1/2], the clamp to the data range gives 0) and percentile; refquant's
    ORT-named observers give the same instead of 'zero range' (onnxruntime 1.32.0)."""
    z = np.zeros(10, np.float32)
    r = _ort_collector("entropy", [z])
    assert (float(r[0]), float(r[1])) == (0.0, 0.0)
    assert EntropyObserver("onnxruntime").observe(z).range() == (0, 0)
    assert OnnxruntimeHistogramObserver("entropy").observe(z).range() == (0, 0)
    for sym in (False, True):
        r = _ort_collector("percentile", [z], symmetric=sym)
        assert OnnxruntimeHistogramObserver("percentile", symmetric=sym).observe(z).range() == (0, 0) == (
            float(r[0]), float(r[1]))
    r = _ort_collector("entropy", [z, np.ones(3, np.float32)])  # a zero first call, then data
    assert fed(OnnxruntimeHistogramObserver("entropy"), [z, np.ones(3)]).range() == (float(r[0]), float(r[1])) == (0, 0.125)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_onnxruntime_histogram_overflow_is_a_named_error(method):
    """2·max|x| beyond float32: np.histogram's edges are NaN and ORT's HistogramCollector raises
    IndexError (checked: onnxruntime 1.32.0); refquant raised the same IndexError, now an
    InvalidValueError naming the overflow and ORT's failure."""
    x = np.array([2e38, 1.0], np.float32)
    with pytest.raises(IndexError):
        _ort_collector(method, [x])
    with pytest.raises(InvalidValueError, match="overflows float32.*onnxruntime.*fails there too"):
        OnnxruntimeHistogramObserver(method, symmetric=False).observe(x).range()
    with pytest.raises(IndexError):  # reached by ORT's growth of the first call's histogram
        _ort_collector(method, [[1e38], [3e38]])
    with pytest.raises(InvalidValueError, match="overflows float32"):
        OnnxruntimeHistogramObserver(method, symmetric=False).observe([1e38]).observe([3e38])
    with pytest.raises(OverflowError):  # a growth by 2^140 bins: ORT's int(inf)
        _ort_collector(method, [[1.0], [2e38]])
    with pytest.raises(InvalidValueError, match="more bins per side"):
        OnnxruntimeHistogramObserver(method, symmetric=False).observe([1.0]).observe(x)
    r = _ort_collector("percentile", [x], symmetric=True)  # the |x| histogram spans [1, 2e38]: no overflow
    assert OnnxruntimeHistogramObserver("percentile", symmetric=True).observe(x).range() == (float(r[0]), float(r[1]))


# ---------------------------------------------------------------------------------------------
# ORT calibration methods: Distribution, MinMax moving average within one call (issue 20 item 4)
# ---------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("nb", [1, 9, 130])
def test_onnxruntime_minmax_calibrater_reproduced(nb):
    """OnnxruntimeMinMaxObserver == ORT's MinMaxCalibrater (through create_calibrator and a Mul
    model), plain and moving_average (c = 0.3), symmetric or not, all batches in one
    collect_data call (moving average = plain float32 nanmean of the batch extrema, c unused) or
    one call per batch (the EMA); 130 batches exercise numpy's pairwise float32 sum."""
    rng = np.random.default_rng(nb)
    batches = [(rng.standard_normal(int(rng.integers(1, 50))) * rng.uniform(0.1, 30) + rng.uniform(-3, 3)).astype(
        np.float32) for _ in range(nb)]
    for sym in (False, True):
        for ma in (False, True):
            for per_call in (False, True):
                want = _ort("MinMax", batches, per_call, moving_average=ma, averaging_constant=0.3, symmetric=sym)
                o = OnnxruntimeMinMaxObserver(moving_average=ma, c=0.3, symmetric=sym)
                for chunk in ([[b] for b in batches] if per_call else [batches]):
                    o.collect(chunk)
                assert tuple(map(f, o.range())) == want, (sym, ma, per_call)


@pytest.mark.filterwarnings("ignore")
def test_onnxruntime_minmax_one_call_moving_average_section9():
    """§9 data: one call gives the plain mean of the batch extrema (-4.05708361, 5.67386532),
    averaging_constant ignored; one call per batch the torch-form EMA; CalibMaxIntermediateOutputs=3
    loses batches (ORT's bug), all reproduced; range() includes an open call without ending it."""
    one = OnnxruntimeMinMaxObserver(moving_average=True, c=0.01).collect(DATA)
    assert tuple(map(f, one.range())) == _ort("MinMax", DATA, False, moving_average=True) == (
        -4.057083606719971, 5.67386531829834)
    ema = OnnxruntimeMinMaxObserver(moving_average=True, c=0.01)
    for b in DATA:
        ema.collect([b])
    assert ema.range() == fed(MovingAverageMinMaxObserver(c=0.01)).range()
    bug = OnnxruntimeMinMaxObserver(max_intermediate_outputs=3).collect(DATA)
    assert tuple(map(f, bug.range())) == _ort("MinMax", DATA, False, max_intermediate_outputs=3) == (-3.479088306427002, 6.0)
    open_call = fed(OnnxruntimeMinMaxObserver(moving_average=True))
    assert open_call.range() == one.range() and open_call.range() == open_call.end_call().range()
    assert make_observer("onnxruntime_minmax", moving_average=True).collect(DATA).range() == one.range()
    with pytest.raises(InvalidValueError, match="No data is collected"):
        OnnxruntimeMinMaxObserver().collect([])


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("seed", range(4))
def test_onnxruntime_distribution_calibrater_reproduced(seed):
    """CalibrationMethod.Distribution (DistributionCalibrater, the float8 calibrator): lowest/highest
    (the histogram's outer edges) and avg/std of the bin centres, scenarios 'same' and 'p3', 2048
    and 600 bins, one call and one call per batch: == ORT bit for bit (onnxruntime 1.32.0)."""
    x = _non_dyadic(seed).ravel()
    batches = list(x[:x.size - x.size % 5].reshape(5, -1))  # ORT needs equal batch shapes within a call
    for scenario in ("same", "p3"):
        for per_call in (False, True):
            for bins in (2048, 600):
                td = _ort("Distribution", batches, per_call, raw=True, num_bins=bins, scenario=scenario)
                o = OnnxruntimeHistogramObserver("distribution", scenario=scenario, bins=bins)
                fed(o, batches if per_call else [np.concatenate(batches)])
                got = tuple(map(f, o.range() + o.avg_std()))
                assert got == (f(td.lowest), f(td.highest), f(td.avg), f(td.std)), (scenario, per_call, bins)
    with pytest.raises(InvalidValueError, match="512"):
        OnnxruntimeHistogramObserver("distribution", bins=256, target_bins=128)
    with pytest.raises(InvalidValueError, match="distribution"):
        OnnxruntimeHistogramObserver("entropy").observe(x).avg_std()


# ---------------------------------------------------------------------------------------------
# Fuzz: only RefquantError subclasses may escape any observer (issue 20 item 3)
# ---------------------------------------------------------------------------------------------

FUZZ_CONFIGS = [
    ("minmax", {}), ("minmax", {"axis": 0}), ("minmax", {"axis": -1}), ("minmax", {"group_size": 2}),
    ("moving_average", {}), ("moving_average", {"c": 0.5, "axis": 1, "form": "textbook", "state_format": "exact"}),
    ("moving_average", {"state_format": "fp64"}),
    ("percentile", {"p": 99.0}), ("percentile", {"p": 50, "method": "hist_left", "bins": 64}),
    ("percentile", {"p": 90, "mode": "signed", "method": "nearest"}),
    ("entropy", {"variant": "tensorrt", "bins": 64, "target_bins": 16}),
    ("entropy", {"variant": "modelopt", "bins": 64, "target_bins": 16}),
    ("entropy", {"variant": "onnxruntime", "bins": 64, "target_bins": 16}),
    ("entropy", {"variant": "ncnn", "bins": 64, "target_bins": 16}),
    ("mse", {"bins": 64, "start_bin": 8}),
    ("onnxruntime_histogram", {"bins": 64, "target_bins": 16}),
    ("onnxruntime_histogram", {"method": "percentile", "symmetric": True, "bins": 64, "target_bins": 16}),
    ("onnxruntime_histogram", {"method": "percentile", "p": 99.0, "bins": 64, "target_bins": 16}),
    ("onnxruntime_histogram", {"method": "distribution", "bins": 512, "scenario": "p3"}),
    ("onnxruntime_minmax", {}), ("onnxruntime_minmax", {"moving_average": True, "symmetric": True, "max_intermediate_outputs": 2}),
]

FUZZ_CONFIGS_SLOW = [  # torch's L2 search steps by 1e-5 (up to 1e5 Python iterations per range())
    ("histogram", {"bins": 64, "upsample_rate": 4, "dst_bins": 16}),
    ("histogram", {"bins": 16, "upsample_rate": 2, "dst_bins": 8, "torch_cpu": "default"})]

_SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e-45, -1e-40, 1.17e-38, 3.0e38, -3.4e38, 1e39, 65504.0, 7e4,
            1.0, -1.0, 2.5]
_fuzz_values = st.one_of(st.sampled_from(_SPECIAL), st.floats(allow_nan=True, allow_infinity=True),
                         st.floats(-10, 10), st.integers(-300, 300).map(float))


@st.composite
def _fuzz_batch(draw):
    shape = tuple(draw(st.lists(st.integers(0, 3), min_size=0, max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    vals = draw(st.lists(_fuzz_values, min_size=n, max_size=n))
    dtype = draw(st.sampled_from(["float32", "float16", "float64", "int32", "int8", "uint8", "bool", "list"]))
    a = np.array(vals, np.float64).reshape(shape)
    if dtype == "list":
        return a.tolist()
    with np.errstate(all="ignore"):
        if dtype in ("int32", "int8", "uint8", "bool"):
            a = np.nan_to_num(a, nan=0, posinf=1e6, neginf=-1e6)
            return np.clip(a, *(0, 1) if dtype == "bool" else (-1e6, 1e6)).astype(dtype)
        return a.astype(dtype)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, kw", FUZZ_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(FUZZ_CONFIGS)])
@settings(max_examples=int(os.environ.get("RQ_FUZZ_EXAMPLES", 30)), deadline=None)
@given(st.lists(_fuzz_batch(), min_size=1, max_size=3), st.sampled_from(["exact", "torch", "onnxruntime"]),
       st.booleans(), st.sampled_from(["int8", "uint8", "int4"]), st.booleans())
def test_observers_raise_only_refquant_errors(name, kw, batches, variant, symmetric, dtype, reduce_range):
    """Zero-size axes, NaN/inf/subnormal/huge values, float16/float64/int/bool/list inputs, axes
    that do not fit: observe, range, qparams, avg_std, save/restore either succeed or raise a
    RefquantError subclass -- never numpy's ValueError, IndexError, OverflowError, ZeroDivisionError.
    ORT's grown histograms are bounded at 2^12 bins here (refquant's bound is 2^24) so that the
    O(bins^2) entropy search stays fast; beyond the bound a named error is the expected outcome.
    ``RQ_FUZZ_EXAMPLES=300`` for a longer run (1.5 min on 2 cores; it passed on 2026-12-03)."""
    from unittest import mock

    from refquant.calibrate import ort_histogram
    from refquant.errors import RefquantError
    obs = make_observer(name, **kw)
    with mock.patch.object(ort_histogram, "MAX_GROWN_BINS", 2**12):
        _fuzz_run(obs, name, kw, batches, variant, symmetric, dtype, reduce_range, RefquantError)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name, kw", FUZZ_CONFIGS_SLOW, ids=["histogram-avx2", "histogram-default"])
@settings(max_examples=int(os.environ.get("RQ_FUZZ_EXAMPLES", 8)), deadline=None)
@given(st.lists(_fuzz_batch(), min_size=1, max_size=3), st.sampled_from(["exact", "torch", "onnxruntime"]),
       st.booleans(), st.sampled_from(["int8", "uint8", "int4"]), st.booleans())
def test_torch_histogram_observer_raises_only_refquant_errors(name, kw, batches, variant, symmetric, dtype, reduce_range):
    """The same fuzz for the torch HistogramObserver model, fewer examples (its search is slow)."""
    from refquant.errors import RefquantError
    _fuzz_run(make_observer(name, **kw), name, kw, batches, variant, symmetric, dtype, reduce_range, RefquantError)


def _fuzz_run(obs, name, kw, batches, variant, symmetric, dtype, reduce_range, RefquantError):
    try:
        for b in batches:
            obs.observe(b)
            if name == "onnxruntime_minmax":
                obs.end_call()
        obs.range()
        obs.qparams(dtype, symmetric=symmetric, variant=variant, reduce_range=reduce_range)
        if kw.get("method") == "distribution":
            obs.avg_std()
        from_dict(json.loads(json.dumps(obs.to_dict()))).range()
    except RefquantError:
        pass


@pytest.mark.filterwarnings("ignore")
def test_fuzz_findings_are_named_errors():
    """What the fuzz found (each escaped untyped before): ORT's |x| histogram of one value >= 2^24
    (numpy's ±1/2 widening changes nothing, its bin index is 0/0: ORT raises IndexError too);
    the torch qparams of a range wider than float32 (torch's scale would be inf); a moving
    average whose float32 state overflows."""
    big = np.array([3e38], np.float32)
    with pytest.raises(IndexError):
        _ort_collector("percentile", [big], symmetric=True)
    with pytest.raises(InvalidValueError, match="2\\^24.*fails there too"):
        OnnxruntimeHistogramObserver("percentile", symmetric=True).observe(big)
    mx = float(np.finfo(np.float32).max)
    with pytest.raises(InvalidValueError, match="overflows float32"):
        MinMaxObserver().observe([mx, -mx]).qparams("int8", variant="torch")
    assert MinMaxObserver().observe([mx, -mx]).qparams("int8", variant="onnxruntime").scale > 0  # float64 width
    with pytest.raises(InvalidValueError, match="overflows the fp32 state"):
        MovingAverageMinMaxObserver(c=0.5).observe([mx]).observe([-mx])
