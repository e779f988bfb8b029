"""Tests written against the surviving mutants of refquant/calibrate/torch_histogram.py (issue 20 item 10).

Peers: torch 2.13 (histc, linspace, sum, HistogramObserver with its buffers set directly, so that
``_non_linear_param_search`` runs on chosen histograms), and exact references written here:
the single rounding of x·y + z to float32 from Fractions (what an FMA returns), the non-fused
linspace of RangeFactoriesKernel.cpp as scalar float32 operations, and the integer ceil(log2).
"""
import math
from fractions import Fraction

import numpy as np
import pytest

from refquant.calibrate import HistogramObserver
from refquant.calibrate import torch_histogram as th
from refquant.errors import InvalidValueError

from peers import need

F32 = np.float32


@pytest.fixture(scope="module")
def torch():
    return need("torch", "torch==2.13.0")


def _round_f32(q):
    """The float32 nearest the rational q (ties to even), exactly; normal range only."""
    if q == 0:
        return 0.0
    a = abs(q)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    ulp = Fraction(2) ** (max(e, -126) - 23)
    n, rem = divmod(a, ulp)
    n = int(n) + (rem > ulp / 2 or (rem == ulp / 2 and int(n) % 2 == 1))
    return math.copysign(float(n * ulp), q)


def _q(v):
    return Fraction(float(v))


# ---------------------------------------------------------------------------------------------
# fma_f32 and linspace against exact references
# ---------------------------------------------------------------------------------------------

def _fma_ties():
    """x·y exactly halfway between two float32 values (48-bit products), z = ±2^-100 below the
    float64 sum's resolution: s = fl64(x·y + z) is the halfway point and the TwoSum error z
    decides; the odd neighbour below (x = y = 1 + 2^-12) and above (y = 1 + 3·2^-12), z = 0
    (a true tie: to even), and the negations."""
    cases = []
    for x, y in ((1 + 2.0 ** -12, 1 + 2.0 ** -12), (1 + 2.0 ** -12, 1 + 3 * 2.0 ** -12)):
        for z in (2.0 ** -100, -2.0 ** -100, 0.0):
            cases += [(x, y, z), (-x, y, -z)]
    # the product carries the error and z the halfway bit: x·y = 2^-24 - 2^-70, z = 1 + 2^-23
    x, y, z = 2.0 ** -24 * (1 + 2.0 ** -23), 1 - 2.0 ** -23, 1 + 2.0 ** -23
    cases += [(x, y, z), (-x, y, -z)]
    return [tuple(F32(v) for v in c) for c in cases]


def test_fma_f32_is_one_rounding_of_the_exact_value():
    cases = _fma_ties()
    rng = np.random.default_rng(8)
    for _ in range(400):
        x, y, z = (rng.standard_normal(3) * 10.0 ** rng.integers(-3, 4, 3)).astype(F32)
        cases.append((x, y, z))
    x, y, z = (np.array(c, F32) for c in zip(*cases))
    got = th.fma_f32(x, y, z)
    assert got.dtype == F32
    want = [_round_f32(_q(a) * _q(b) + _q(c)) for a, b, c in zip(x, y, z)]
    assert got.tolist() == want
    # the double-rounded float32(x·y + z in float64) is wrong on 4 of the 12 tie cases
    naive = (x.astype(np.float64) * y + z).astype(F32)
    assert (naive[:14] != np.array(want[:14], F32)).sum() == 6


@pytest.mark.parametrize("a,b,n", [(-1.7, 2.3, 2), (-1.7, 2.3, 7), (0.1, 0.3, 33), (-7.25, 11.9, 2049),
                                   (1.0, 1.0000005, 1001), (-3e-3, -1e-3, 100)])
def test_linspace_fused_and_unfused_equal_their_definitions(a, b, n):
    """fma=True: f32(a + step·i) with one rounding (exact reference); fma=False: the DEFAULT
    build's f32(a + f32(step·i)) / f32(b - f32(step·(n-1-i))), scalar float32 operations."""
    a, b = F32(a), F32(b)
    step = F32(F32(b - a) / F32(n - 1))
    fused = [_round_f32(_q(a) + _q(step) * i) if i < n // 2 else _round_f32(_q(b) - _q(step) * (n - 1 - i))
             for i in range(n)]
    plain = [float(F32(a + F32(step * F32(i)))) if i < n // 2 else float(F32(b - F32(step * F32(n - 1 - i))))
             for i in range(n)]
    for fma, want in ((True, fused), (False, plain)):
        got = th.linspace(a, b, n, fma)
        assert got.dtype == F32 and got.tolist() == want, fma


def test_linspace_of_one_point_and_histc_dtype_equal_torch(torch):
    for a, b in ((1.5, 2.5), (-3.0, 7.0)):
        got = th.linspace(a, b, 1)
        assert got.dtype == F32 and np.array_equal(got, torch.linspace(a, b, 1).numpy())
    x = np.array([0.5, 1.0, 1.0, 3.0], F32)
    ref = torch.histc(torch.from_numpy(x), 4, min=0.0, max=4.0).numpy()
    got = th.histc(x, 4, 0.0, 4.0)
    assert got.dtype == ref.dtype == F32 and np.array_equal(got, ref)


def test_histc_skips_values_outside_the_range_like_torch(torch):
    x = np.array([-5.0, -1.0, 0.0, 0.5, 1.0, 2.0, 9.0], F32)
    for lo, hi, bins in ((0.0, 1.0, 4), (-1.0, 2.0, 3), (0.25, 0.75, 2)):
        ref = torch.histc(torch.from_numpy(x), bins, min=lo, max=hi).numpy()
        assert np.array_equal(th.histc(x, bins, lo, hi), ref), (lo, hi, bins)


def test_histc_position_overflow_is_a_named_error():
    """(x - lo)·B beyond FLT_MAX with a finite span: a named error, not a garbage bin index."""
    with pytest.raises(InvalidValueError, match=r"^histc position overflows float32 \(range·bins > FLT_MAX\)$"):
        th.histc(np.array([3e38], F32), 2048, 0.0, 3e38)


# ---------------------------------------------------------------------------------------------
# cascade_sum against torch.sum
# ---------------------------------------------------------------------------------------------

def _wide(rng, n):
    return (rng.standard_normal(n) * 10.0 ** rng.integers(-4, 5, n)).astype(F32)


def test_ceil_log2_is_the_integer_ceiling():
    for x in list(range(0, 4100)) + [2 ** k + d for k in range(12, 41) for d in (-1, 0, 1)]:
        want = 0 if x <= 1 else next(k for k in range(64) if 2 ** k >= x)
        assert th._ceil_log2(x) == want, x


def _one_thread_sum(torch, v):
    """torch.sum with one intra-op thread: above 32768 values (its grain size) torch splits the
    sum across threads and the result depends on torch.get_num_threads(); the model is the
    one-thread kernel (e.g. n = 131072: 384579.8125 with 1 thread, 384580.0 with 2)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.from_numpy(v).sum().item()
    finally:
        torch.set_num_threads(n)


def test_cascade_sum_equals_torch_sum_every_small_size_and_cascade_level(torch):
    """n = 1..40 (the scalar path below 8 lanes and the first vectors), row counts on and
    around multiples of 16, 256 and 4096 rows of 4·8 (each cascade level), lists read as float32."""
    rng = np.random.default_rng(21)
    sizes = list(range(1, 41)) + [32 * r + t for r in (15, 16, 17, 255, 256, 272, 4096, 4112, 8208) for t in (0, 5)]
    for n in sizes:
        v = _wide(rng, n)
        assert float(th.cascade_sum(v)) == _one_thread_sum(torch, v), n
    v = np.zeros(24, F32)   # a list is read as float32: lane 0 is fl32(fl32(1 + 2^-24) + 2^-24) = 1
    v[[0, 8, 16]] = [1.0, 2.0 ** -24, 2.0 ** -24]
    assert float(th.cascade_sum(v.tolist())) == torch.from_numpy(v).sum().item() == 1.0
    v = np.array([3778302.25, 0.16438797, 2997924.25, -158376.734375, -18.244129, 5.0085064e-06,
                  -84434.0546875, 2.9438887e-09], F32)   # n = 8: one vector, lanes added in order
    assert float(th.cascade_sum(v)) == torch.from_numpy(v).sum().item() == 6533398.5


def test_cascade_sum_beyond_2_16_rows_equals_torch_sum(torch):
    """2^17 + 48 rows of 4·8 (4.2 M values): the level step is still 16 (power 4) and the
    fourth level accumulates across two 65536-row blocks."""
    rng = np.random.default_rng(5)
    v = _wide(rng, 32 * (2 ** 17 + 48) + 3)
    assert float(th.cascade_sum(v)) == _one_thread_sum(torch, v)


# ---------------------------------------------------------------------------------------------
# the search, on histograms set into torch's observer
# ---------------------------------------------------------------------------------------------

def _torch_search(torch, hist, lo, hi):
    o = torch.ao.quantization.HistogramObserver(bins=hist.size, dtype=torch.quint8)
    o.histogram.resize_(hist.size).copy_(torch.from_numpy(hist))
    o.min_val.resize_(()).fill_(float(lo))
    o.max_val.resize_(()).fill_(float(hi))
    a, b = o._non_linear_param_search()
    return a.item(), b.item()


def _hists():
    rng = np.random.default_rng(2)
    out = []
    for k in range(12):
        bins = [4, 7, 9, 16, 256, 512, 2048][k % 7]
        c = np.arange(bins) - bins * rng.uniform(0.3, 0.7)
        h = (np.exp(-(c / (bins * rng.uniform(0.05, 0.2))) ** 2) * 1000).astype(F32)
        h[:: int(rng.integers(2, 9))] += F32(rng.uniform(0, 1e-3))   # thin tails on both sides
        out.append(h)
    for total in (100000, 200000):   # integer counts: the cuts alpha·total land exactly on counts
        h = np.zeros(64, F32)
        h[[0, 1, 2, 61, 62, 63]] = [1, 2, 1, 1, 2, 1]
        h[30:34] = (total - 8) / 4
        out.append(h)
    out.append(np.full(8, 0.25, F32))
    h = np.zeros(256, F32)   # with (vmin, vmax) = (-256, 256): bin width 2, a 128-bin window has dst width 1.0
    h[100:156] = np.exp(-np.linspace(-2, 2, 56) ** 2).astype(F32) * 50
    h[::17] += F32(0.01)
    out.append(h)
    return out


def test_search_equals_torch_on_given_histograms(torch):
    """Fractional Gaussian histograms with thin tails (both ends move), 4-2048 bins, integer
    histograms whose cuts equal cumulative counts, a flat one; ranges with vmin != 0."""
    rng = np.random.default_rng(3)
    for h in _hists():
        lo, hi = F32(-rng.uniform(1, 10)), F32(rng.uniform(1, 10))
        if h.size == 256 and h[0] == F32(0.01):
            lo, hi = F32(-256), F32(256)
        assert tuple(map(float, th.search(h, lo, hi))) == _torch_search(torch, h, lo, hi), h.size


def test_search_left_end_moves_and_equals_torch(torch):
    """A histogram whose left tail is thinner than 1e-5 of the mass: start moves (the clipped
    minimum is above vmin), as torch's."""
    h = np.zeros(256, F32)
    h[:40] = F32(1e-4)
    h[40:200] = 1000
    h[200:] = F32(1e-4)
    got = tuple(map(float, th.search(h, F32(-3.5), F32(2.25))))
    assert got == _torch_search(torch, h, F32(-3.5), F32(2.25)) and got[0] > -3.5 and got[1] < 2.25


# ---------------------------------------------------------------------------------------------
# the observer: constant batches, empty / one-value batches, collapsed re-binning
# ---------------------------------------------------------------------------------------------

def _same_as_torch(torch, batches, bins=64, rate=16):
    o = torch.ao.quantization.HistogramObserver(bins=bins, dtype=torch.quint8)
    assert o.upsample_rate == 16
    o.upsample_rate = rate   # a plain attribute in torch 2.13 (not a constructor argument)
    ref = HistogramObserver(bins=bins, upsample_rate=rate)
    for b in batches:
        b = np.asarray(b, F32)
        o(torch.from_numpy(b))
        ref.observe(b)
        lo, hi, hist = ref.histogram
        assert (lo, hi) == (o.min_val.item(), o.max_val.item()), b
        assert hist.dtype == F32 and np.array_equal(hist, o.histogram.numpy()), b
    return ref


@pytest.mark.parametrize("batches", [
    [[2.5] * 3, [2.5, 2.5], [-1.0, 4.0]],          # a constant histogram placed by value, weighted by its total
    [[2.5] * 3, [0.75], [1.0, 2.0, 3.0]],
    [[-3.0], [-3.0] * 5, [7.0]],
    [[0.5, 1.5], [], [0.75], [9.0]],               # an empty batch is skipped, a one-value batch is not
    [[1.0, 1.0000002], [0.5]],                     # 2-ulp range re-binned: sub-bin centres on the top edge
    [[1.0, 1.0000002], [0.5], [1.0, 1.0000001, 0.25]],
])
def test_observer_buffers_equal_torch(torch, batches):
    _same_as_torch(torch, batches)


def test_rebinning_sub_bin_centre_on_a_new_edge_equals_torch(torch):
    """[1, 1 + 8·2^-23] then 1 - 32·2^-23, 64 bins, upsample rate 4: sub-bin centres fall exactly
    on new edges, where bucketize(right=True) decides (found by a search over small cases)."""
    _same_as_torch(torch, [[1.0, 1.0000009536743164], [0.9999961853027344]], bins=64, rate=4)


# ---------------------------------------------------------------------------------------------
# re-binning with and without FMA (engineer q8): the sub-bin centres' and the new edges' linspace
# ---------------------------------------------------------------------------------------------

# 8 bins of [-0.45215327, 0.9921002] at upsample rate 4 re-binned onto [-0.47471973, 1.6916604]
# (new edges at every fifth sub-bin centre, found by a search over small cases): the fused and
# unfused centres fall on different sides of two new edges
_UPSCALE = ([float(v) for v in range(1, 9)], -0.45215327, 0.9921002, -0.47471973, 1.6916604)
_UPSCALE_FUSED = [1.5, 3.75, 6.0, 8.25, 10.5, 6.0, 0.0, 0.0]
_UPSCALE_UNFUSED = [1.5, 4.5, 5.25, 8.25, 10.5, 6.0, 0.0, 0.0]


def _upscale(fma):
    h, a, b, lo, hi = _UPSCALE
    return th.upscale(np.array(h, F32), F32(a), F32(b), F32(lo), F32(hi), 8, 4, fma)


def test_upscale_fused_centres_equal_torch(torch):
    """The FMA model (torch_cpu 'avx2' / 'avx512') on the case above == torch 2.13's
    ``_upscale_histogram`` in this process (AVX2 / AVX512 kernels), and differs unfused."""
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("torch runs its DEFAULT kernels here (no FMA)")
    o = torch.ao.quantization.HistogramObserver(bins=8, dtype=torch.quint8)
    o.upsample_rate = 4
    h, a, b, lo, hi = (torch.tensor(v, dtype=torch.float32) for v in _UPSCALE)
    assert o._upscale_histogram(h, a, b, lo, hi).tolist() == _UPSCALE_FUSED == _upscale(True).tolist()
    assert _upscale(False).tolist() == _UPSCALE_UNFUSED


def test_upscale_and_observe_unfused_equal_torch_default_kernels(torch):
    """torch_cpu='default' (fma=False) against torch 2.13 run in a child process with
    ATEN_CPU_CAPABILITY=default: the re-binning case above, and ``observe`` over three widening
    batches (seed 9, 2048 bins, rate 16) whose new edges differ fused / unfused."""
    import json
    import os
    import subprocess
    import sys
    r = np.random.default_rng(9)
    bs = [r.standard_normal(256).astype(F32) * k for k in (1, 3, 7)]
    code = ("import json, sys, numpy as np, torch\n"
            "up, bs = json.loads(sys.stdin.read())\n"
            "o = torch.ao.quantization.HistogramObserver(bins=8, dtype=torch.quint8)\n"
            "o.upsample_rate = 4\n"
            "u = o._upscale_histogram(*(torch.tensor(v, dtype=torch.float32) for v in up)).tolist()\n"
            "o = torch.ao.quantization.HistogramObserver(dtype=torch.quint8)\n"
            "for b in bs: o(torch.from_numpy(np.asarray(b, np.float32)))\n"
            "print(json.dumps([torch.backends.cpu.get_cpu_capability(), u, o.histogram.numpy().tolist()]))\n")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps([_UPSCALE, [b.tolist() for b in bs]]),
                         env=env, capture_output=True, text=True, timeout=120)
    cap, up, hist = json.loads(out.stdout)
    assert cap == "DEFAULT", out.stderr[-2000:]
    assert up == _UPSCALE_UNFUSED == _upscale(False).tolist()
    state = None
    for b in bs:
        state = th.observe(state, b, 2048, 16, 8, False)
    assert np.array_equal(state[2], np.array(hist, F32))
    fused = None
    for b in bs:
        fused = th.observe(fused, b, 2048, 16, 8, True)
    assert not np.array_equal(fused[2], state[2])


def test_search_first_window_of_dst_width_one_equals_torch(torch):
    """10 bins on [0, 10] (width 1.0), dst_bins 8 (torch's ``dst_nbins`` set to 8), tails of
    1e-6: the first move drops two end bins, so the first window has 8 bins and a dst width of
    exactly 1.0 (an error computed like any other, not 0); then start moves: == torch 2.13."""
    for h in ([1e-6, 1, 2, 3, 4, 3, 2, 1, 1, 1e-6], [1e-6, 5, 1, 1, 1, 1, 1, 1, 5, 1e-6]):
        h = np.array(h, F32)
        o = torch.ao.quantization.HistogramObserver(bins=10, dtype=torch.quint8)
        o.histogram.resize_(10).copy_(torch.from_numpy(h))
        o.min_val.resize_(()).fill_(0.0)
        o.max_val.resize_(()).fill_(10.0)
        o.dst_nbins = 8
        a, b = o._non_linear_param_search()
        assert tuple(map(float, th.search(h, F32(0), F32(10), 8))) == (a.item(), b.item()) == (1.0, 8.0)


_LANES_CASE = [1e-06, 0.8162553906440735, 0.0007075713947415352, 0.0213346965610981, 4.360868115327321e-05,
               803.9580078125, 3.2065050618257374e-05, 0.01861696131527424, 0.0008466099970974028,
               0.0004585899878293276, 0.505325973033905, 0.0007460266933776438, 411.0078430175781,
               0.0001813723356463015, 0.4996405243873596, 0.0008940341067500412, 2.1166997612453997e-06,
               245.4112091064453, 2.3296788640436716e-06, 0.0009879498975351453, 0.00011909952445421368,
               0.0008666664361953735, 1.7187460343848215e-06, 3.7177094782236964e-05, 0.32074034214019775, 1e-06]


def test_search_default_lanes_equal_torch(torch):
    """26 bins of mixed magnitudes on [-3.9802485, 3.9979146], dst_nbins 4 (found by a random
    search): the 9-lane sum of the histogram moves a cut and so the upper end, the default (8
    lanes) == torch 2.13's ``_non_linear_param_search``."""
    h = np.array(_LANES_CASE, F32)
    lo, hi = F32(-3.9802485), F32(3.9979146)
    o = torch.ao.quantization.HistogramObserver(bins=h.size, dtype=torch.quint8)
    o.histogram.resize_(h.size).copy_(torch.from_numpy(h))
    o.min_val.resize_(()).fill_(float(lo))
    o.max_val.resize_(()).fill_(float(hi))
    o.dst_nbins = 4
    a, b = o._non_linear_param_search()
    assert tuple(map(float, th.search(h, lo, hi, 4))) == (a.item(), b.item())
    assert th.search(h, lo, hi, 4, 9) != th.search(h, lo, hi, 4)


def test_search_continues_through_equal_errors_like_torch(torch):
    """16 bins of masses ~1e-38 on [-1e-3, 1e-3]: every candidate's L2 error underflows to 0 in
    float32, so consecutive errors are equal and the search goes on (only a strict increase
    stops it): == torch 2.13's ``_non_linear_param_search`` (stopping at the first equal error
    would keep 0.000875 as the upper end)."""
    h = (np.array([1, 2, 3, 5, 8, 5, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1], np.float64) * 1e-38).astype(F32)
    lo, hi = F32(-1e-3), F32(1e-3)
    o = torch.ao.quantization.HistogramObserver(bins=h.size, dtype=torch.quint8)
    o.histogram.resize_(h.size).copy_(torch.from_numpy(h))
    o.min_val.resize_(()).fill_(float(lo))
    o.max_val.resize_(()).fill_(float(hi))
    a, b = o._non_linear_param_search()
    assert tuple(map(float, th.search(h, lo, hi))) == (a.item(), b.item()) == (float(lo), float(F32(0.00075)))
