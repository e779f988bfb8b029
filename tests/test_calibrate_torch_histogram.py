"""torch 2.13 HistogramObserver, reproduced bit for bit (docs/reference/calibration.md §6).

Differential: every ATen primitive the observer uses (histc, linspace, sum, cumsum, bincount,
floor division, scalar promotion), the L2 error of every candidate, the histogram buffers after
every batch, and the searched range, against torch on the §9 data and on hypothesis data.
"""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from refquant.calibrate import HistogramObserver, from_dict, make_observer
from refquant.calibrate import torch_histogram as th
from refquant.errors import InvalidValueError, UnknownNameError

from peers import need

F32 = np.float32


def section9():
    d = np.random.default_rng(0).standard_normal((8, 4096)).astype(np.float32)
    d[1, 0], d[3, 0], d[5, 0], d[6, 0] = 9.5, -7.25, 12.0, 6.0
    return d


@pytest.fixture(scope="module")
def torch():
    t = need("torch", "torch==2.13.0")
    return t


def _cpu(torch):
    return "default" if torch.backends.cpu.get_cpu_capability() == "DEFAULT" else "avx2"


def _torch_obs(torch, batches, bins=2048):
    o = torch.ao.quantization.HistogramObserver(bins=bins, dtype=torch.quint8)
    for b in batches:
        o(torch.from_numpy(np.ascontiguousarray(b, np.float32)))
    return o


# ---------------------------------------------------------------------------------------------
# primitives
# ---------------------------------------------------------------------------------------------

def test_primitives_equal_aten(torch):
    rng = np.random.default_rng(11)
    fma = _cpu(torch) != "default"
    for _ in range(60):
        n = int(rng.integers(1, 5000))
        v = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(F32)
        assert torch.from_numpy(v).sum().item() == float(th.cascade_sum(v))
        assert np.array_equal(torch.cumsum(torch.from_numpy(v), 0).numpy(), th.cumsum_f32(v))
        a, b = sorted((rng.standard_normal(2) * 10.0 ** rng.integers(-3, 4)).astype(F32))
        steps = int(rng.choice([2, 3, 33, 2049, 32769]))
        assert np.array_equal(torch.linspace(torch.tensor(a), torch.tensor(b), steps).numpy(),
                              th.linspace(a, b, steps, fma))
        bins = int(rng.choice([1, 7, 100, 2048]))
        assert np.array_equal(torch.histc(torch.from_numpy(v), bins, min=torch.tensor(v.min()),
                                          max=torch.tensor(v.max())).numpy(), th.histc(v, bins, v.min(), v.max()))
        d = F32(abs(rng.standard_normal()) * 10.0 ** rng.integers(-3, 3) + 1e-6)
        assert np.array_equal(torch.div(torch.from_numpy(v), float(d), rounding_mode="floor").numpy(),
                              np.floor_divide(v, d))
        idx = rng.integers(0, 50, n)
        assert np.array_equal(torch.bincount(torch.from_numpy(idx), weights=torch.from_numpy(v), minlength=50).numpy(),
                              th.bincount_f32(idx, v, 50))
    for v in (0.0, 1.0, -3.3, 1e7, 16777217.0, 1e30):    # min == max: widened by max(1, 1 ulp)
        x = np.full(3, v, F32)
        assert np.array_equal(torch.histc(torch.from_numpy(x), 2048, min=torch.tensor(x[0]), max=torch.tensor(x[0])).numpy(),
                              th.histc(x, 2048, x[0], x[0]))
    # a Python float compared with a float32 tensor is rounded to float32 first
    assert not bool(torch.tensor(1.0) < 1.00000001) and float(F32(1.00000001)) == 1.0


def test_sum_lanes_and_fma_per_capability(torch):
    """sum uses 8 lanes on every x86 capability (AVX512 falls back to the AVX2 kernel);
    linspace is fused (FMA) on AVX2/AVX512 and not on DEFAULT: checked in child processes."""
    code = ("import numpy as np, torch; from refquant.calibrate import torch_histogram as th\n"
            "r = np.random.default_rng(5); ok = True\n"
            "fma = torch.backends.cpu.get_cpu_capability() != 'DEFAULT'\n"
            "for t in range(30):\n"
            "  v = (r.standard_normal(2048) * 10.0 ** r.integers(-3, 4, 2048)).astype(np.float32)\n"
            "  ok &= torch.from_numpy(v).sum().item() == float(th.cascade_sum(v, 8))\n"
            "  a, b = sorted(r.standard_normal(2).astype(np.float32))\n"
            "  ok &= np.array_equal(torch.linspace(torch.tensor(a), torch.tensor(b), 32769).numpy(), th.linspace(a, b, 32769, fma))\n"
            "  ok &= not np.array_equal(th.linspace(a, b, 32769, True), th.linspace(a, b, 32769, False))\n"
            "print(torch.backends.cpu.get_cpu_capability(), ok)\n")
    root = os.path.join(os.path.dirname(__file__), "..")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", PYTHONPATH=os.path.abspath(root))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["DEFAULT", "True"], out.stderr[-2000:]
    r = np.random.default_rng(1)
    vs = [(r.standard_normal(2048) * 10.0 ** r.integers(-3, 4, 2048)).astype(F32) for _ in range(5)]
    assert any(th.cascade_sum(v, 8) != th.cascade_sum(v, 16) for v in vs)  # the lane count matters


def test_quantization_error_equals_torch_per_candidate(torch):
    """_compute_quantization_error for random (start, end) on re-binned (fractional) histograms."""
    rng = np.random.default_rng(3)
    d = section9()
    o = _torch_obs(torch, d[:4])
    hist = o.histogram.numpy()
    lo, hi = F32(o.min_val.item()), F32(o.max_val.item())
    assert (hist != np.round(hist)).any()  # fractional counts after re-binning
    for _ in range(150):
        s = int(rng.integers(0, 2047))
        e = int(rng.integers(s, 2048))
        assert o._compute_quantization_error(s, e) == th.quantization_error(hist, lo, hi, s, e, 256, 8)


# ---------------------------------------------------------------------------------------------
# whole observer
# ---------------------------------------------------------------------------------------------

def test_section9_bit_for_bit(torch):
    """§9: the buffers after every batch and the range [-7.25, 11.9906006] (scale 0.0754533336, zp 96)."""
    o = torch.ao.quantization.HistogramObserver(dtype=torch.quint8)
    ref = HistogramObserver(torch_cpu=_cpu(torch))
    for b in section9():
        o(torch.from_numpy(b))
        ref.observe(b)
        lo, hi, hist = ref.histogram
        assert (lo, hi) == (o.min_val.item(), o.max_val.item()) and np.array_equal(hist, o.histogram.numpy())
    lo, hi = o._non_linear_param_search()
    assert tuple(map(float, ref.range())) == (lo.item(), hi.item()) == (-7.25, 11.9906005859375)
    s, z = o.calculate_qparams()
    qp = ref.qparams("uint8", variant="torch")
    assert (float(qp.scale), qp.zero_point) == (s.item(), z.item()) and abs(s.item() - 0.0754533336) < 1e-9
    # one concatenated batch: a different histogram (no re-binning), same range on this data (§6)
    one = HistogramObserver().observe(section9().ravel())
    l1 = np.abs(one.histogram[2].astype(np.float64) - hist).sum()
    assert abs(l1 - 1443.5) < 0.1 and one.range() == ref.range()


_vals = st.one_of(st.floats(-100, 100, width=32), st.sampled_from([0.0, 1.0, -1.0, 0.5, 3.0, 1e-3]))
_batch = st.one_of(st.lists(_vals, min_size=1, max_size=40),
                   st.builds(lambda v, n: [v] * n, _vals, st.integers(1, 5)))      # constant batches


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_batch, min_size=1, max_size=3), st.sampled_from([16, 64, 256]))
def test_hypothesis_equals_torch(torch, batches, bins):
    """1-3 small batches (constant ones included: the min == max paths), bins 16/64/256."""
    bs = [np.array(b, F32) for b in batches]
    if all(b.min() == b.max() == bs[0][0] for b in bs):
        bs.append(np.array([bs[0][0] + 1], F32))  # all-constant: torch's search runs 10^5 steps; skip
    o = _torch_obs(torch, bs, bins)
    ref = HistogramObserver(bins=bins, torch_cpu=_cpu(torch))
    for b in bs:
        ref.observe(b)
    lo, hi, hist = ref.histogram
    assert (lo, hi) == (o.min_val.item(), o.max_val.item())
    assert np.array_equal(hist, o.histogram.numpy())
    a, b = o._non_linear_param_search()
    assert tuple(map(float, ref.range())) == (a.item(), b.item())


def test_inf_dropped_save_restore_and_errors(torch):
    x = np.array([1.0, -np.inf, 2.0, np.inf, -3.0], F32)
    o = _torch_obs(torch, [np.array([0.5, 0.25], F32)])
    with pytest.warns(UserWarning):
        o(torch.from_numpy(x))
    ref = HistogramObserver(torch_cpu=_cpu(torch)).observe([0.5, 0.25]).observe(x)
    assert np.array_equal(ref.histogram[2], o.histogram.numpy())
    a = make_observer("histogram").observe(section9()[0])
    b = from_dict(a.to_dict())
    for obs in (a, b):
        obs.observe(section9()[1])
    assert a.to_dict() == b.to_dict() and a.range() == b.range()
    with pytest.raises(InvalidValueError, match="no calibration data"):
        HistogramObserver().range()
    with pytest.raises(UnknownNameError):
        HistogramObserver(variant="caffe2")
    with pytest.raises(InvalidValueError, match="bins"):
        HistogramObserver(bins=0)


def test_residual_nan_is_skipped_torch_propagates(torch):
    """Named residual: NaN input.  refquant skips NaNs (its rule for every observer); torch's
    aminmax returns NaN: histc raises on the first batch, so there is nothing to match."""
    x = np.array([1.0, math.nan, -2.0], F32)
    with pytest.raises(RuntimeError, match="not finite"):
        _torch_obs(torch, [x])
    ref = HistogramObserver().observe(x)
    assert ref.histogram[:2] == (-2.0, 1.0)
