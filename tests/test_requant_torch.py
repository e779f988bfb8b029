"""refquant torch_* methods against torch 2.13 ``torch.ops.quantized.linear`` per engine.

Inputs are built from integers directly (``_make_per_tensor_quantized_tensor``), so the only
arithmetic torch does is the int accumulation and the requantization under test.  Input
codes stay in [0, 127] so that the u8 x s8 int16 pair products of AVX2 ``vpmaddubsw`` cannot
saturate (requant.md §4 and §7 row 20) on hosts without VNNI.
"""

import zlib

import pytest

from peers import need
from refquant import ops

np = need("numpy")
torch = need("torch", "torch==2.13.0")

ENGINES = [e for e in ("x86", "fbgemm", "qnnpack", "onednn") if e in torch.backends.quantized.supported_engines]


def f32(x):
    return float(np.float32(x))


def torch_linear(engine, x, in_s, in_zp, w, w_s, out_s, out_zp, bias):
    """y = quantized::linear(x (M,K) quint8, w (N,K) qint8, bias float) as int codes."""
    torch.backends.quantized.engine = engine
    xq = torch._make_per_tensor_quantized_tensor(torch.tensor(x, dtype=torch.uint8), in_s, in_zp)
    wt = torch.tensor(w, dtype=torch.int8)
    if isinstance(w_s, list):
        wq = torch._make_per_channel_quantized_tensor(wt, torch.tensor(w_s, dtype=torch.double),
                                                      torch.zeros(len(w_s), dtype=torch.long), 0)
    else:
        wq = torch._make_per_tensor_quantized_tensor(wt, w_s, 0)
    b = None if bias is None else torch.tensor(bias, dtype=torch.float)
    packed = torch.ops.quantized.linear_prepack(wq, b)
    return torch.ops.quantized.linear(xq, packed, out_s, out_zp).int_repr().tolist()


def oracle(engine, x, in_s, in_zp, w, w_s, out_s, out_zp, bias):
    wT = [list(col) for col in zip(*w)]
    return ops.qlinear_matmul(x, in_s, in_zp, wT, w_s, 0, out_s, out_zp, method="torch_" + engine,
                              a_type="uint8", b_type="int8", y_type="uint8", float_bias=bias)


def random_case(rng, per_channel, with_bias, N=4, K=24, M=6):
    x = rng.integers(0, 128, (M, K)).tolist()
    w = rng.integers(-128, 128, (N, K)).tolist()
    in_s, out_s = f32(2.0 ** rng.uniform(-7, -4)), f32(2.0 ** rng.uniform(-5, -1))
    w_s = [f32(2.0 ** rng.uniform(-8, -5)) for _ in range(N)] if per_channel else f32(2.0 ** rng.uniform(-8, -5))
    bias = [f32(v) for v in rng.uniform(-3, 3, N)] if with_bias else None
    return x, in_s, int(rng.integers(0, 256)), w, w_s, out_s, int(rng.integers(0, 256)), bias


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_quantized_linear_matches_oracle(engine, per_channel, with_bias):
    rng = np.random.default_rng(zlib.crc32(repr((engine, per_channel, with_bias)).encode()))
    outputs = mismatches = 0
    for _ in range(30):
        case = random_case(rng, per_channel, with_bias)
        expected, got = torch_linear(engine, *case), oracle(engine, *case)
        outputs += sum(len(r) for r in got)
        mismatches += sum(e != g for er, gr in zip(expected, got) for e, g in zip(er, gr))
    assert mismatches == 0, f"{engine}: {mismatches}/{outputs} outputs differ"


def test_engines_really_differ():
    """The same inputs give different codes on different engines (requant.md §7 row 12), and each
    engine's codes are its own method's."""
    if not {"fbgemm", "onednn", "qnnpack"} <= set(ENGINES):
        pytest.skip("needs fbgemm, onednn and qnnpack")
    rng = np.random.default_rng(11)
    differ = {"onednn": 0, "qnnpack": 0}
    for _ in range(40):
        case = random_case(rng, False, True, N=8, K=64, M=8)
        base = torch_linear("fbgemm", *case)
        for e in differ:
            other = torch_linear(e, *case)
            assert other == oracle(e, *case)
            differ[e] += sum(a != b for ra, rb in zip(base, other) for a, b in zip(ra, rb))
    assert differ["onednn"] + differ["qnnpack"] > 0, differ


def _two_terms(acc, zx):
    """x (1 x 2, codes in [0, 127]) and w (1 x 2) with (x0 - zx) w0 + (x1 - zx) w1 == acc."""
    for x0 in range(128):
        for w0 in range(-128, 128):
            rest = acc - (x0 - zx) * w0
            for x1 in range(128):
                if x1 != zx and rest % (x1 - zx) == 0 and -128 <= rest // (x1 - zx) <= 127:
                    return [[x0, x1]], [[w0, rest // (x1 - zx)]]
    raise AssertionError("no decomposition")


@pytest.mark.parametrize("acc, scales, zp, bias, expected", [
    (-15401, (0.01971375197, 0.01975825988, 0.10923903435), 135, -1.15629077,
     {"qnnpack": 69, "x86": 70, "fbgemm": 70, "onednn": 70}),
    (-7774, (0.02861332707, 0.01169772632, 0.15769948065), 140, None,
     {"qnnpack": 123, "x86": 123, "fbgemm": 123, "onednn": 124}),
])
def test_row12_measured_on_torch(acc, scales, zp, bias, expected):
    """requant.md §7 row 12, re-measured: the accumulator is built from integer inputs."""
    zx = 200
    x, w = _two_terms(acc, zx)
    in_s, w_s, out_s = (f32(v) for v in scales)
    b = None if bias is None else [f32(bias)]
    for engine in ENGINES:
        got = torch_linear(engine, x, in_s, zx, w, w_s, out_s, zp, b)
        assert got == [[expected[engine]]] == oracle(engine, x, in_s, zx, w, w_s, out_s, zp, b), engine


# Constructed on torch 2.13.0+cpu (qnnpack engine, per-channel weights).  Each case is one where
# the channel scale fl(fl(w*in)*fl(1/out)) and the division fl(fl(w*in)/out) give different codes.
@pytest.mark.parametrize("in_s, w_s, out_s, acc, by_reciprocal, by_division", [
    (0.01682784967124462, 0.015527836047112942, 0.0937734842300415, -9869, 100, 101),
    (0.01583852246403694, 0.012641403824090958, 0.07585743069648743, -24437, 64, 63),
    (0.012622336857020855, 0.01454077661037445, 0.06918799132108688, -17152, 83, 82),
])
def test_qnnpack_per_channel_scale_is_reciprocal_product(in_s, w_s, out_s, acc, by_reciprocal, by_division):
    if "qnnpack" not in ENGINES:
        pytest.skip("qnnpack engine not available")
    zx = 200
    x, w = _two_terms(acc, zx)
    # two channels: the probed one and a neighbour with another scale, so the weights are per channel
    x2, w2 = [x[0] + [zx, zx]], [w[0] + [0, 0], [0, 0, 1, 1]]
    got = torch_linear("qnnpack", x2, in_s, zx, w2, [w_s, 0.0078125], out_s, 128, None)
    assert got[0][0] == by_reciprocal != by_division
    assert got == oracle("qnnpack", x2, in_s, zx, w2, [w_s, 0.0078125], out_s, 128, None)


# Near-tie float biases (bias/fl(w*in) within 2^-22 of k + 1/2): the per-channel qint32 bias is
# RNE(fl(bias*fl(1/fl(w*in)))), as per tensor; f64 division or f32 division give another integer.
@pytest.mark.parametrize("in_s, w_s, bias, q_bias", [
    (0.013166336342692375, 0.020877856761217117, 0.32175278663635254, 1170),
    (0.028752584010362625, 0.020508624613285065, -6.438966274261475, -10920),
    (0.03571184724569321, 0.004659121390432119, 2.20070219039917, 13227),
])
def test_qnnpack_per_channel_bias_quantization(in_s, w_s, bias, q_bias):
    if "qnnpack" not in ENGINES:
        pytest.skip("qnnpack engine not available")
    from fractions import Fraction
    from refquant import requant as rq
    atw = rq.fl32(Fraction(in_s) * Fraction(w_s))
    assert rq.derive_params("torch_qnnpack", in_s, [w_s], float(atw), bias=[bias]).int_bias() == [q_bias]
    # out_s = fl(w*in): the output is acc + q_bias + zp, so the integer bias shows through
    zx, acc = 200, -q_bias + 3
    x, w = _two_terms(acc, zx)
    for w_scale in (w_s, [w_s]):
        got = torch_linear("qnnpack", x, in_s, zx, w, w_scale, float(atw), 128, [bias])
        assert got == [[131]] == oracle("qnnpack", x, in_s, zx, w, w_scale, float(atw), 128, [bias])


# --------------------------------------------------------------------------------------------
# Issue 11 item 1: qnnpack converts fl(fl(acc)*scale) with cvtps2dq, out of range -> INT32_MIN
# --------------------------------------------------------------------------------------------

def _qnnpack_scales_around_2_31(acc):
    """fp32 out scales, ascending, whose qnnpack product fl(fl(acc)*fl(1*fl(1/out))) steps over 2^31."""
    out = np.float32(acc / 2.0**31)
    for _ in range(64):
        out = np.nextafter(out, np.float32(1))
    found = []
    for _ in range(128):
        v = np.float32(acc) * (np.float32(1) * (np.float32(1) / out))
        found.append((float(out), float(v)))
        out = np.nextafter(out, np.float32(0))
    return found


def test_qnnpack_requantization_beyond_int32_is_integer_indefinite():
    """issue 11 item 1, measured on torch 2.13.0+cpu (x86 qnnpack): v >= 2^31 gives 0, not 255."""
    if "qnnpack" not in ENGINES:
        pytest.skip("qnnpack engine not available")
    x, w = [[200, 10, 100, 250]], [[127, 1, 120, 127]]          # acc = 69160
    assert torch_linear("qnnpack", x, 1.0, 0, w, 1.0, f32(1e-5), 7, None) == [[0]]
    assert oracle("qnnpack", x, 1.0, 0, w, 1.0, f32(1e-5), 7, None) == [[0]]
    below = above = 0
    for out_s, v in _qnnpack_scales_around_2_31(69160):
        for sign, zp in ((1, 7), (1, 0), (-1, 7)):
            ws = [[sign * c for c in w[0]]]
            want = 0 if sign < 0 or v >= 2.0**31 else 255
            assert torch_linear("qnnpack", x, 1.0, 0, ws, 1.0, out_s, zp, None) == [[want]], (out_s, v)
            assert oracle("qnnpack", x, 1.0, 0, ws, 1.0, out_s, zp, None) == [[want]], (out_s, v)
        below, above = below + (v < 2.0**31), above + (v >= 2.0**31)
    assert below >= 10 and above >= 10


# --------------------------------------------------------------------------------------------
# Issue 11 item 5: extreme scales, where the engines' float chains overflow or underflow
# --------------------------------------------------------------------------------------------

H = float.fromhex
EXTREME_SCALES = [  # (in_s, w_s, out_s), every one a binary32 value
    (H("0x1p-80"), H("0x1p-80"), 1.0),          # fl(in*w) underflows to 0
    (1.0, 1.0, H("0x1p-149")),                  # fl(1/out) (and fl(in*w/out)) overflow to inf
    (0.5, 0.5, H("0x1.ecdp-136")),              # the torch_onednn case
    (H("0x1p100"), H("0x1p100"), 1.0),          # fl(in*w) overflows
    (H("0x1p-140"), 1.0, 1.0),                  # subnormal fl(in*w): fl(1/atw) overflows
    (1.0, 1.0, H("0x1.fffffep127")),            # out = FLT_MAX: subnormal reciprocal
    (H("0x1p-70"), H("0x1p-70"), H("0x1p-116")),  # qnnpack: scale 2^-24 is normal, 1/atw overflows
    (1.0, [1.0, 1.0, 0.5], H("0x1p-149")),      # per channel
    (H("0x1p-140"), [1.0, 1.0, 0.5], 1.0),
]
X_ROWS = [[200, 10, 100, 250], [0, 0, 0, 0], [1, 0, 0, 0]]
W_COLS = [[127, 1, 120, 127], [-127, -1, -120, -127], [0, 0, 0, 0]]   # accs +69160, -69160, 0 on row 0


def _outcome(fn, *args):
    from refquant.errors import SpecError, Unpredictable
    try:
        return fn(*args)
    except (SpecError, RuntimeError):      # torch: "failed to create op ... scale"
        return "rejected"
    except Unpredictable:
        return "unpredictable"


@pytest.mark.parametrize("engine", ENGINES)
def test_extreme_scales_match_torch(engine):
    """Every outcome of the oracle equals torch 2.13.0's, row by row, except NaN under onednn.

    onednn turns NaN (0 * inf) into 255 under AVX-512 and 0 under AVX2/SSE4.1 (measured with
    ONEDNN_MAX_CPU_ISA on torch 2.13.0+cpu): the oracle says Unpredictable there."""
    compared = unpredictable = 0
    for in_s, w_s, out_s in EXTREME_SCALES:
        for bias in (None, [0.0, 1.5, -2.0]):
            for row in X_ROWS:
                case = ([row], in_s, 0, W_COLS, w_s, out_s, 7, bias)
                got = _outcome(oracle, engine, *case)
                if got == "unpredictable":
                    assert engine == "onednn", (in_s, w_s, out_s, bias, row)
                    unpredictable += 1
                    continue
                assert got == _outcome(torch_linear, engine, *case), (in_s, w_s, out_s, bias, row)
                compared += 1
    assert compared >= 30
    assert unpredictable > 0 if engine == "onednn" else unpredictable == 0
