"""Convolution through the C kernel (refquant/kernel/conv.py) against the conv oracle (refquant.ops)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from refquant import golden, kernel, ops, requant
from refquant.errors import InvalidValueError, ShapeError, Unpredictable
from refquant.integers import Accumulator

pytestmark = pytest.mark.skipif(not kernel.available(), reason="refquant._kernel is not built")
conv = pytest.importorskip("refquant.kernel.conv")

INT = {"int8": (-128, 127), "uint8": (0, 255)}


@st.composite
def problems(draw):
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cg, mg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pads[0] - pads[2]), 7))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pads[1] - pads[3]), 7))
    xt, wt = draw(st.sampled_from(["int8", "uint8"])), draw(st.sampled_from(["int8", "uint8"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 2))
    x = rng.integers(*INT[xt], (n, group * cg, h, w), endpoint=True).astype(xt)
    wts = rng.integers(*INT[wt], (group * mg, cg, kh, kw), endpoint=True).astype(wt)
    zx = int(rng.integers(*INT[xt], endpoint=True))
    zw = (rng.integers(*INT[wt], group * mg, endpoint=True).astype(np.int32) if draw(st.booleans())
          else int(rng.integers(*INT[wt], endpoint=True)))
    geo = {"strides": [draw(st.integers(1, 2)), draw(st.integers(1, 2))], "pads": pads, "dilations": [dh, dw],
           "group": group}
    return x, wts, zx, zw, geo


def _oracle_acc(x, w, zx, zw, geo, bias=None, policy="wrap"):
    acc = Accumulator(32, policy)
    zwl = zw.tolist() if isinstance(zw, np.ndarray) else zw
    out = ops.conv_integer(x.tolist(), w.tolist(), zx, zwl, x_type=str(x.dtype), w_type=str(w.dtype),
                           bias=None if bias is None else bias.tolist(), accumulator=acc, **geo)
    counts = np.zeros(np.shape(out), np.int64)
    for idx, c in acc.overflows.items():
        counts[idx] = c
    return np.array(out, np.int64), counts


@settings(max_examples=60, deadline=None)
@given(problems())
def test_conv_integer_equals_the_oracle(p):
    x, w, zx, zw, geo = p
    got = conv.conv_integer(x, w, zx, zw, **geo)
    assert np.array_equal(got, _oracle_acc(x, w, zx, zw, geo)[0])


@settings(max_examples=30, deadline=None)
@given(problems(), st.sampled_from(["wrap", "saturate"]), st.integers(0, 2))
def test_overflow_at_the_bias_step_and_counts(p, policy, where):
    x, w, zx, zw, geo = p
    M = w.shape[0]
    big = [2**31 - 1, -2**31, 2**31 - 200][where]
    bias = np.full(M, big, np.int32)
    got, counts = conv.conv_integer(x, w, zx, zw, bias=bias, policy=policy, return_overflow=True, **geo)
    want, want_counts = _oracle_acc(x, w, zx, zw, geo, bias, policy)
    assert np.array_equal(got, want) and np.array_equal(counts, want_counts)


@pytest.mark.parametrize("method", ["float_fp32", "tflite_double", "tflite_single", "tosa_single", "tosa_double"])
@settings(max_examples=15, deadline=None)
@given(p=problems(), per_channel=st.booleans(), zp=st.integers(-20, 20))
def test_qlinear_conv_equals_the_oracle_requantization(method, p, per_channel, zp):
    x, w, zx, zw, geo = p
    M = w.shape[0]
    rng = np.random.default_rng(M)
    if method == "float_fp32":
        mult = (rng.uniform(1e-4, 2e-2, M) if per_channel else rng.uniform(1e-4, 2e-2, 1)).astype(np.float32)
        chans = [{"M": float(v)} for v in mult]
        kp = mult if per_channel else mult[0]
    else:
        lo, hi = (2, 40) if method.startswith("tosa") else (-12, 0)
        m = rng.integers(2**30, 2**31 - 1, M if per_channel else 1)
        s = rng.integers(lo + 8 if method.startswith("tosa") else lo, hi if not method.startswith("tosa") else 45,
                         M if per_channel else 1)
        key = "s" if method.startswith("tosa") else "shift"
        chans = [{"m": int(a), key: int(b)} for a, b in zip(m, s)]
        kp = (m.astype(np.int32), s.astype(np.int32)) if per_channel else (int(m[0]), int(s[0]))
    params = requant.make_params(method, chans)
    acc = _oracle_acc(x, w, zx, zw, geo)[0]
    try:
        want = requant.requantize(acc.tolist(), method, params, zp, "int8", axis=1)
    except Unpredictable:
        assume(False)      # TOSA REQUIRE violated: no defined result to compare
    got = conv.qlinear_conv(x, w, zx, zw, method, kp, zp, out_dtype=np.int8, **geo)
    assert np.array_equal(got, np.array(want))


def test_every_shipped_conv_golden_vector():
    """The C conv reproduces acc and Y of every conv golden vector whose method the kernel runs."""
    gset = golden.load_set(golden.default_root() / "conv")
    checked = 0
    for case in gset.cases(numpy=True):
        p = case.params
        method = golden_kernel_method(p["method"])
        if method is None or case.result != "valid":
            continue
        t = {**case.inputs, **case.expected}
        x, w = t["x"].astype(p["x_type"]), t["w"].astype(p["w_type"])
        zw = np.array(p["zw"], np.int32) if isinstance(p["zw"], list) else p["zw"]
        geo = {k: p[k] for k in ("strides", "pads", "dilations", "group")}
        bias = t["bias"].astype(np.int32) if "bias" in t else None
        acc = conv.conv_integer(x, w, p["zx"], zw, bias, policy=p["policy"], **geo)
        assert np.array_equal(acc, t["acc"] if "acc" in t else t["Y"]), case.name
        if method != "int32":
            kp = kernel_params(method, case.derived, w.shape[0])
            y = conv.qlinear_conv(x, w, p["zx"], zw, method, kp, p["zy"], out_dtype=np.dtype(p["y_type"]),
                                  bias=bias, policy=p["policy"], **geo)
            assert np.array_equal(y, t["Y"]), case.name
        checked += 1
    assert checked >= 40


def golden_kernel_method(method):
    from refquant import backends
    return backends.kernel_method(method) if method in requant.METHODS else None


def kernel_params(method, derived, M):
    if method == "float_fp32":
        bits = np.array(derived["M_bits"], np.uint32)
        return bits if bits.size > 1 else bits.reshape(())
    m = derived["m"]
    s = derived["shift"] if "shift" in derived else derived["s"]
    if len(m) > 1 or len(s) > 1:
        return (np.broadcast_to(np.array(m, np.int32), (M,)).copy(), np.broadcast_to(np.array(s, np.int32), (M,)).copy())
    return m[0], s[0]


def test_bad_arguments_are_typed_errors():
    x = np.zeros((1, 4, 5, 5), np.int8)
    w = np.zeros((2, 2, 3, 3), np.int8)
    with pytest.raises(ShapeError, match="group = 1"):
        conv.conv_integer(x, w)
    with pytest.raises(InvalidValueError, match="4-D int8 or uint8"):
        conv.conv_integer(x.astype(np.int16), w, group=2)
    with pytest.raises(ShapeError, match="empty"):
        conv.conv_integer(x, np.zeros((2, 2, 7, 7), np.int8), group=2)
    with pytest.raises(ShapeError, match="strides"):
        conv.conv_integer(x, w, group=2, strides=(0, 1))
    with pytest.raises(ShapeError, match="one per output channel"):
        conv.conv_integer(x, w, zw=np.zeros(3, np.int32), group=2)


def test_golden_verify_runs_the_c_conv_and_reports_a_wrong_one(monkeypatch):
    from refquant.golden.verify import verify_set
    gset = golden.load_set(golden.default_root() / "conv")
    mismatches, stats = verify_set(gset)
    assert mismatches == [] and stats["kernel_checked"] >= 40
    real = conv.qlinear_conv
    monkeypatch.setattr(conv, "qlinear_conv", lambda *a, **k: real(*a, **k) ^ 1)
    mismatches, _ = verify_set(gset)
    assert mismatches and all(m["checker"] == "kernel" for m in mismatches)


@settings(max_examples=25, deadline=None)
@given(p=problems(), policy=st.sampled_from(["wrap", "saturate"]), per_channel=st.booleans())
def test_prepared_qlinear_conv_equals_the_one_shot_and_the_oracle(p, policy, per_channel):
    x, w, zx, zw, geo = p
    M = w.shape[0]
    mult = np.random.default_rng(M).uniform(1e-4, 2e-2, M).astype(np.float32)
    kp = mult if per_channel else mult[0]
    bias = np.arange(M, dtype=np.int32) * 7 - 5
    op = kernel.QLinearConv(w, zx, zw, "float_fp32", kp, 3, out_dtype=np.int8, bias=bias, policy=policy,
                            x_dtype=x.dtype, **geo)
    got = op(x)
    assert np.array_equal(got, conv.qlinear_conv(x, w, zx, zw, "float_fp32", kp, 3, out_dtype=np.int8, bias=bias,
                                                 policy=policy, **geo))
    acc = _oracle_acc(x, w, zx, zw, geo, bias, policy)[0]
    chans = [{"M": float(v)} for v in (mult if per_channel else mult[:1])]
    want = requant.requantize(acc.tolist(), "float_fp32", requant.make_params("float_fp32", chans), 3, "int8", axis=1)
    assert np.array_equal(got, np.array(want))
    with pytest.raises(InvalidValueError):
        op(x.view(np.uint8 if x.dtype == np.int8 else np.int8))


@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_rq_transpose_edges_and_strides(dtype):
    from refquant.kernel._lib import ffi, lib
    rng = np.random.default_rng(5)
    for rows, cols, extra in [(1, 1, 0), (16, 16, 0), (17, 33, 3), (40, 64, 1), (5, 100, 7), (0, 4, 0),
                              (33, 150, 2), (64, 129, 0), (16, 64, 5), (20, 112, 3), (48, 40, 0), (100, 33, 1)]:
        src = rng.integers(0, 200, (rows, cols + extra)).astype(dtype)
        dst = np.zeros((cols, rows + 2), dtype)
        conv.nchw_to_rows(src[:, :cols], dst[:, :rows])
        assert np.array_equal(dst[:, :rows], src[:, :cols].T) and not dst[:, rows:].any()
    # tall sources (rows > cols) in 64-row blocks, a last partial block, destination strides that
    # are multiples of 512 bytes (16 x 16 tiles) or not: 2048 x 49 is a 7x7 conv's 2048 channels
    for rows, cols, pad in [(2048, 49, 0), (1040, 36, 0), (1040, 36, 4), (528, 17, 0), (80, 33, 0)]:
        src = rng.integers(0, 200, (rows, cols)).astype(dtype)
        dst = np.zeros((cols, rows + pad), dtype)
        conv.nchw_to_rows(src, dst[:, :rows])
        assert np.array_equal(dst[:, :rows], src.T) and not dst[:, rows:].any()
    assert lib.rq_transpose(ffi.NULL, ffi.NULL, 1, 1, 1, 1, 1) == -1


def test_regression_k1_uint8_per_channel_weight_zero_points():
    """K = 1 with uint8 x pads K to 4 with rows of the weight zero points; numpy laid that B out in F
    order (strides (1, 4)) and the GEMM refused it (found by hypothesis, 2026-12-03)."""
    x = np.array([[[[217]]]], np.uint8)
    w = np.array([[[[35]]], [[[2]]], [[[-59]]]], np.int8)
    zw = np.array([-118, -109, -124], np.int32)
    geo = {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1}
    got = conv.conv_integer(x, w, 78, zw, **geo)
    assert got.ravel().tolist() == [(217 - 78) * (35 + 118), (217 - 78) * (2 + 109), (217 - 78) * (-59 + 124)]
    m, s = np.full(3, 2**30, np.int32), np.full(3, 40, np.int32)
    y = conv.qlinear_conv(x, w, 78, zw, "tosa_double", (m, s), 0, out_dtype=np.int8, **geo)
    assert y.shape == (1, 3, 1, 1)


@st.composite
def depthwise_problems(draw):
    """Depthwise convs (group = C = M, the direct C kernel): up to 40 channels (a partial
    32-channel block), kernels up to 5 wide, strides, dilations, pads, both 8-bit types."""
    c = draw(st.sampled_from([1, 2, 5, 32, 33, 40]))
    kh, kw = draw(st.integers(1, 3)), draw(st.sampled_from([1, 2, 3, 5]))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - pads[0] - pads[2]), 6))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - pads[1] - pads[3]), 10))
    xt, wt = draw(st.sampled_from(["int8", "uint8"])), draw(st.sampled_from(["int8", "uint8"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(*INT[xt], (draw(st.integers(1, 2)), c, h, w), endpoint=True).astype(xt)
    wts = rng.integers(*INT[wt], (c, 1, kh, kw), endpoint=True).astype(wt)
    zx = int(rng.integers(*INT[xt], endpoint=True))
    zw = (rng.integers(*INT[wt], c, endpoint=True).astype(np.int32) if draw(st.booleans())
          else int(rng.integers(*INT[wt], endpoint=True)))
    geo = {"strides": [draw(st.integers(1, 2)), draw(st.integers(1, 2))], "pads": pads, "dilations": [dh, dw],
           "group": c}
    return x, wts, zx, zw, geo


def _paths():
    return [p for p in ("scalar", "vnni", "avx2", "avx_vnni", "amx") if p in kernel.paths()]


# The tests of which route a prepared conv takes (the implicit GEMM, the NCHW 1x1 lanes kernel) ask
# for the VNNI path where there is one: where AMX is present, auto picks AMX (M > 4), which has
# neither form and runs the im2col GEMM (test_amx_auto_path_conv_falls_back_to_the_im2col_gemm).
VNNI = "vnni" if "vnni" in kernel.paths() else None


@settings(max_examples=25, deadline=None)
@given(p=depthwise_problems(), policy=st.sampled_from(["wrap", "saturate"]), big_bias=st.booleans())
def test_depthwise_kernel_accumulators_and_counts_equal_the_oracle(p, policy, big_bias):
    """rq_dwconv_run (scalar definition and AVX-512 form) = the oracle's accumulators and overflow
    counts; a bias near the int32 limits makes the bias step overflow."""
    from refquant.kernel._dwconv import is_depthwise
    x, w, zx, zw, geo = p
    assert is_depthwise(x.shape, w.shape, geo["group"])
    bias = np.full(w.shape[0], 2**31 - 100 if big_bias else -7, np.int32)
    want, want_counts = _oracle_acc(x, w, zx, zw, geo, bias, policy)
    for path in _paths():
        got, counts = conv.conv_integer(x, w, zx, zw, bias=bias, policy=policy, path=path, return_overflow=True,
                                        **geo)
        assert np.array_equal(got, want) and np.array_equal(counts, want_counts), path
        assert np.array_equal(conv.conv_integer(x, w, zx, zw, bias=bias, policy=policy, path=path, **geo), want)
        ran = "vnni" if path == "amx" else path   # no AMX form: AMX's CPUs run the VNNI one (csrc/dwconv.c)
        assert kernel.last_path_used() == (ran if policy == "wrap" or not big_bias else "scalar")


@pytest.mark.parametrize("method", ["float_fp32", "tflite_double", "tflite_single", "tosa_single", "tosa_double"])
@settings(max_examples=10, deadline=None)
@given(p=depthwise_problems(), per_channel=st.booleans(), zp=st.integers(-20, 20),
       policy=st.sampled_from(["wrap", "saturate"]))
def test_depthwise_requantization_equals_the_oracle(method, p, per_channel, zp, policy):
    """Every method on both paths, one-shot and prepared, per-tensor and per-channel."""
    x, w, zx, zw, geo = p
    M = w.shape[0]
    rng = np.random.default_rng(M + zp + 100)
    if method == "float_fp32":
        mult = rng.uniform(1e-4, 2e-2, M if per_channel else 1).astype(np.float32)
        chans, kp = [{"M": float(v)} for v in mult], (mult if per_channel else mult[0])
    else:
        tosa = method.startswith("tosa")
        m = rng.integers(2**30, 2**31 - 1, M if per_channel else 1)
        s = rng.integers(10, 45, M if per_channel else 1) if tosa else rng.integers(-12, 0, M if per_channel else 1)
        chans = [{"m": int(a), ("s" if tosa else "shift"): int(b)} for a, b in zip(m, s)]
        kp = (m.astype(np.int32), s.astype(np.int32)) if per_channel else (int(m[0]), int(s[0]))
    try:
        want = np.array(requant.requantize(_oracle_acc(x, w, zx, zw, geo, None, policy)[0].tolist(), method,
                                           requant.make_params(method, chans), zp, "int8", axis=1))
    except Unpredictable:
        assume(False)
    for path in _paths():
        got = conv.qlinear_conv(x, w, zx, zw, method, kp, zp, out_dtype=np.int8, policy=policy, path=path, **geo)
        assert np.array_equal(got, want), path
        op = kernel.QLinearConv(w, zx, zw, method, kp, zp, out_dtype=np.int8, policy=policy, path=path,
                                x_dtype=x.dtype, **geo)
        assert np.array_equal(op(x), want), path


def test_depthwise_threads_and_policy_error_route():
    """A depthwise conv split over threads (row ranges on the pool) equals one thread; policy
    'error' keeps the GEMM route, which names the overflowing step."""
    from refquant.errors import AccumulatorOverflowError
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (2, 40, 40, 40)).astype(np.uint8)
    w = rng.integers(-128, 128, (40, 1, 3, 3)).astype(np.int8)
    geo = {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 40}
    mult = rng.uniform(1e-4, 1e-2, 40).astype(np.float32)
    one = conv.qlinear_conv(x, w, 128, 0, "float_fp32", mult, 128, out_dtype=np.uint8, threads=1, **geo)
    assert np.array_equal(conv.qlinear_conv(x, w, 128, 0, "float_fp32", mult, 128, out_dtype=np.uint8, threads=3,
                                            **geo), one)
    xs, ws = x[:1, :2, :3, :3], w[:2]
    with pytest.raises(AccumulatorOverflowError):
        conv.conv_integer(xs, ws, 0, 0, bias=np.full(2, 2**31 - 1, np.int32), policy="error",
                          **{**geo, "group": 2})


@settings(max_examples=25, deadline=None)
@given(c=st.sampled_from([4, 8, 12, 36]), m=st.sampled_from([1, 5, 33]), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.sampled_from([(1, 1), (2, 2), (1, 2)]), dil=st.sampled_from([(1, 1), (2, 1)]),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), zw_zero=st.booleans(), n=st.integers(1, 2),
       seed=st.integers(0, 2**32 - 1))
def test_prepared_group1_conv_implicit_gemm_equals_the_oracle(c, m, kh, kw, stride, dil, pads, zw_zero, n, seed):
    """uint8 x with C % 4 == 0 under wrap: the prepared op reads the GEMM's rows in place from a
    padded NHWC copy (rq_conv_gemm_run, no im2col) when the weight zero points need no row sums
    (zw = 0), and falls back to im2col otherwise; both equal the oracle."""
    rng = np.random.default_rng(seed)
    h = max(1, dil[0] * (kh - 1) + 1 - pads[0] - pads[2]) + int(rng.integers(0, 5))
    w_ = max(1, dil[1] * (kw - 1) + 1 - pads[1] - pads[3]) + int(rng.integers(0, 14))
    x = rng.integers(0, 256, (n, c, h, w_)).astype(np.uint8)
    w = rng.integers(-128, 128, (m, c, kh, kw)).astype(np.int8)
    zw = 0 if zw_zero else rng.integers(-128, 128, m).astype(np.int32)
    zx = int(rng.integers(0, 256))
    geo = {"strides": list(stride), "pads": pads, "dilations": list(dil), "group": 1}
    mult = rng.uniform(1e-4, 2e-2, m).astype(np.float32)
    bias = rng.integers(-5000, 5000, m).astype(np.int32)
    acc = _oracle_acc(x, w, zx, zw, geo, bias)[0]
    want = requant.requantize(acc.tolist(), "float_fp32", requant.make_params("float_fp32", [{"M": float(v)} for v in mult]),
                              -3, "int8", axis=1)
    for threads in (1, 2):
        op = kernel.QLinearConv(w, zx, zw, "float_fp32", mult, -3, out_dtype=np.int8, bias=bias, path=VNNI, threads=threads,
                                **geo)
        assert np.array_equal(op(x), np.array(want)) and np.array_equal(op(x), np.array(want))
        if "vnni" in kernel.paths():
            # a drawn per-channel zw can be all 0 (seed 2, m 1): then no row sums are needed either;
            # 1x1 kernels take the implicit form when strided and unpadded, or with > 32 output
            # channels on > 1 thread
            strided_1x1 = stride != (1, 1) and not any(pads)
            assert (op._conv_a is not None) == (not np.any(zw) and ((kh, kw) != (1, 1) or strided_1x1
                                                                    or (m > 32 and threads > 1)))
    i32 = kernel.QLinearConv(w, zx, zw, "int32", None, out_dtype=np.int32, bias=bias, **geo)
    assert np.array_equal(i32(x), acc)


def test_implicit_gemm_split_over_threads_equals_one_thread():
    """A conv large enough to be split into rectangles runs them on the pool (rq_conv_gemm_run_many)."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, (1, 36, 40, 40)).astype(np.uint8)
    w = rng.integers(-128, 128, (64, 36, 3, 3)).astype(np.int8)
    mult = rng.uniform(1e-4, 1e-3, 64).astype(np.float32)
    geo = {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1}
    one = kernel.QLinearConv(w, 128, 0, "float_fp32", mult, 0, out_dtype=np.int8, threads=1, **geo)(x)
    two = kernel.QLinearConv(w, 128, 0, "float_fp32", mult, 0, out_dtype=np.int8, threads=2, **geo)
    assert np.array_equal(two(x), one)
    ref = conv.qlinear_conv(x, w, 128, 0, "float_fp32", mult, 0, out_dtype=np.int8, threads=1, **geo)
    assert np.array_equal(ref, one)


@settings(max_examples=12, deadline=None)
@given(c=st.integers(1, 3), m=st.sampled_from([3, 33]), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.sampled_from([(1, 1), (2, 2), (1, 2)]), dil=st.sampled_from([(1, 1), (2, 1)]),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), n=st.integers(1, 2), threads=st.integers(1, 2),
       seed=st.integers(0, 2**32 - 1))
def test_prepared_conv_with_fewer_than_4_channels_equals_the_oracle(c, m, kh, kw, stride, dil, pads, n, threads,
                                                                     seed):
    """uint8 x with C < 4 (an RGB input layer) and zw = 0: the prepared op adds a fourth channel of zx
    bytes (rq_conv_nhwc_pad, cp = 4; zero weights for it) and runs the implicit GEMM, writing NCHW
    from each rectangle; equal to the oracle, int32 and requantized, on 1 and 2 threads."""
    rng = np.random.default_rng(seed)
    h = max(1, dil[0] * (kh - 1) + 1 - pads[0] - pads[2]) + int(rng.integers(0, 5))
    w_ = max(1, dil[1] * (kw - 1) + 1 - pads[1] - pads[3]) + int(rng.integers(0, 24))
    x = rng.integers(0, 256, (n, c, h, w_)).astype(np.uint8)
    w = rng.integers(-128, 128, (m, c, kh, kw)).astype(np.int8)
    zx = int(rng.integers(0, 256))
    geo = {"strides": list(stride), "pads": pads, "dilations": list(dil), "group": 1}
    mult = rng.uniform(1e-4, 2e-2, m).astype(np.float32)
    bias = rng.integers(-5000, 5000, m).astype(np.int32)
    acc = _oracle_acc(x, w, zx, 0, geo, bias)[0]
    want = requant.requantize(acc.tolist(), "float_fp32", requant.make_params("float_fp32", [{"M": float(v)} for v in mult]),
                              -3, "int8", axis=1)
    op = kernel.QLinearConv(w, zx, 0, "float_fp32", mult, -3, out_dtype=np.int8, bias=bias, path=VNNI, threads=threads, **geo)
    i32 = kernel.QLinearConv(w, zx, 0, "int32", None, out_dtype=np.int32, bias=bias, path=VNNI, threads=threads, **geo)
    assert np.array_equal(op(x), np.array(want)) and np.array_equal(op(x), np.array(want))
    assert np.array_equal(i32(x), acc)
    if "vnni" in kernel.paths():
        route = ((kh, kw) != (1, 1) or (stride != (1, 1) and not any(pads))   # 1x1: as for C % 4 == 0
                 or (m > 32 and threads > 1))
        assert (op._conv_a is not None) == route and (i32._conv_a is not None) == route
        zw = np.full(m, 3, np.int32)   # a weight zero point: not this form (row sums), the im2col one
        assert kernel.QLinearConv(w, zx, zw, "int32", None, out_dtype=np.int32, path=VNNI, threads=threads, **geo)._conv_a is None


@pytest.mark.parametrize("c,cp", [(1, 4), (3, 4), (4, 4), (40, 40)])
def test_rq_conv_nhwc_pad_layout_and_errors(c, cp):
    """rq_conv_nhwc_pad: NCHW -> padded NHWC (border and channels past c = zx), split over 1-3 parts."""
    from refquant.kernel._gemm import ptr
    from refquant.kernel._lib import ffi, lib
    rng = np.random.default_rng(c)
    h, w, pt, pl, pb, pr, zx = 5, 37, 2, 1, 0, 3, 77
    x = rng.integers(0, 256, (c, h, w)).astype(np.uint8)
    want = np.full((h + pt + pb, w + pl + pr, cp), zx, np.uint8)
    want[pt:pt + h, pl:pl + w, :c] = x.transpose(1, 2, 0)
    for parts in (1, 2, 3):
        xs, xp = np.empty(h * w * c, np.uint8), np.zeros(want.size, np.uint8)
        assert lib.rq_conv_nhwc_pad(ptr(x), ptr(xs, True), ptr(xp, True), c, h, w, pt, pl, h + pt + pb,
                                    w + pl + pr, cp, zx, parts) == 0
        assert np.array_equal(xp.reshape(want.shape), want)
        xp[:] = 0   # with padding xs is not used: NULL will do
        assert lib.rq_conv_nhwc_pad(ptr(x), ffi.NULL, ptr(xp, True), c, h, w, pt, pl, h + pt + pb,
                                    w + pl + pr, cp, zx, parts) == 0
        assert np.array_equal(xp.reshape(want.shape), want)
    if cp == c:   # no padding: xs may be xp itself
        xp = np.empty(h * w * c, np.uint8)
        assert lib.rq_conv_nhwc_pad(ptr(x), ptr(xp, True), ptr(xp, True), c, h, w, 0, 0, h, w, c, zx, 2) == 0
        assert np.array_equal(xp.reshape(h, w, c), x.transpose(1, 2, 0))
    bad = np.empty(want.size, np.uint8)
    assert lib.rq_conv_nhwc_pad(ptr(x), ptr(bad, True), ptr(bad, True), c, h, w, 0, 1, h, w, cp, zx, 1) < 0
    assert lib.rq_conv_nhwc_pad(ptr(x), ptr(bad, True), ptr(bad, True), c, h, w, 0, 0, h, w, 5, zx, 1) < 0
    if cp == c:   # xs == xp with padding
        assert lib.rq_conv_nhwc_pad(ptr(x), ptr(bad, True), ptr(bad, True), c, h, w, 0, 0, h, w + 1, cp, zx, 1) < 0


def test_small_implicit_conv_splits_over_threads_equals_one_thread():
    """A small 3x3 conv (49 pixels, 64 output channels, 4.7 M operations: above the GEMM's split
    threshold) runs its implicit form as column pieces on the pool, each writing its NCHW block;
    equal to the one-shot conv on one thread."""
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (1, 64, 7, 7)).astype(np.uint8)
    w = rng.integers(-128, 128, (64, 64, 3, 3)).astype(np.int8)
    mult = rng.uniform(1e-4, 1e-3, 64).astype(np.float32)
    geo = dict(pads=[1, 1, 1, 1])
    ref = conv.qlinear_conv(x, w, 128, 0, "float_fp32", mult, 0, out_dtype=np.int8, threads=1, **geo)
    op = kernel.QLinearConv(w, 128, 0, "float_fp32", mult, 0, out_dtype=np.int8, path=VNNI, threads=2, **geo)
    assert np.array_equal(op(x), ref) and np.array_equal(op(x), ref)
    if "vnni" in kernel.paths():
        assert [r[1] for r in op._imp.values()][0].count == 2


def test_prepared_ops_called_from_two_threads_at_once():
    """The prepared depthwise and implicit-GEMM ops keep per-shape C structs; a call that finds them
    in use by another thread builds its own (depthwise) or takes the im2col route (implicit)."""
    import threading
    rng = np.random.default_rng(5)
    geo = {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1]}
    x = rng.integers(0, 256, (1, 32, 20, 20)).astype(np.uint8)
    dw = kernel.QLinearConv(rng.integers(-128, 128, (32, 1, 3, 3)).astype(np.int8), 128, 0, "float_fp32",
                            np.float32(0.01), 0, out_dtype=np.int8, group=32, threads=1, **geo)
    gm = kernel.QLinearConv(rng.integers(-128, 128, (16, 32, 3, 3)).astype(np.int8), 128, 0, "float_fp32",
                            np.float32(0.001), 0, out_dtype=np.int8, threads=1, **geo)
    want = [dw(x), gm(x)]
    bad = []

    def hammer():
        for _ in range(200):
            if not (np.array_equal(dw(x), want[0]) and np.array_equal(gm(x), want[1])):
                bad.append(1)
    ts = [threading.Thread(target=hammer) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


@pytest.mark.parametrize("m", [1, 16, 20, 48])
def test_prepared_pointwise_conv_equals_the_exact_sum(m):
    """The prepared op's 1x1 path (kernel.QLinearConv._pointwise: per-shape C structs over the op's own
    NHWC rows, the GEMM's 16-column panel for m % 32 <= 16; and rq_conv1x1_nchw_run, pixels in the
    vector lanes, where P is within 10 % of a multiple of 16, at 1 thread) against int64 numpy and the
    one-shot op: batches of 1 and 2, shapes alternating on one op, 64-pixel blocks with 1-3 vectors
    and partial ones, channel blocks of 6 with tails, C = 10 (K padded to 12) and 12, uint8 and
    int32 outputs, 1 and 2 threads."""
    rng = np.random.default_rng(m)
    c = 12 if m == 1 else 10
    w = rng.integers(-128, 128, (m, c, 1, 1)).astype(np.int8)
    bias = rng.integers(-5000, 5000, m).astype(np.int32)
    mult = rng.uniform(1e-4, 1e-2, m).astype(np.float32)
    for threads in (1, 2):
        ops_ = {"u8": kernel.QLinearConv(w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8, bias=bias,
                                         path=VNNI, threads=threads),
                "i32": kernel.QLinearConv(w, 7, 0, "int32", None, out_dtype=np.int32, bias=bias, path=VNNI, threads=threads)}
        for n, h, wd in [(1, 5, 7), (2, 3, 9), (1, 4, 8), (1, 5, 7), (2, 8, 10), (2, 13, 3), (1, 14, 14),
                         (1, 16, 16)]:
            x = rng.integers(0, 256, (n, c, h, wd)).astype(np.uint8)
            acc = np.einsum("nchw,mc->nmhw", x.astype(np.int64) - 7, w[:, :, 0, 0].astype(np.int64))
            acc += bias[None, :, None, None]
            got = ops_["i32"](x)
            assert got.dtype == np.int32 and np.array_equal(got, acc)
            q = ops_["u8"](x)
            assert np.array_equal(q, conv.qlinear_conv(x, w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8,
                                                       bias=bias, path="scalar"))
            assert kernel.last_path_used() in kernel.paths()
            rec = ops_["u8"]._pw.get(x.shape)   # (..., plan, N, C, P, M, the NCHW kernel's struct or None)
            lanes = h * wd in (32, 80, 196, 256) and "vnni" in kernel.paths()   # P within 10 % of 16k
            assert rec is None if c % 4 and not lanes else rec is not None
            assert rec is None or (rec[-1] is not None) == lanes


@pytest.mark.parametrize("m", [16, 24])
def test_pointwise_nchw_kernel_split_over_threads_equals_the_exact_sum(m):
    """rq_conv1x1_nchw_run_many: a 1x1 conv with pixels in the vector lanes above CONV_SPLIT_MIN runs
    as runs of whole 64-pixel blocks on 2 threads; int32 equal to int64 numpy, uint8 to one thread."""
    rng = np.random.default_rng(m)
    x = rng.integers(0, 256, (1, 32, 64, 66)).astype(np.uint8)
    w = rng.integers(-128, 128, (m, 32, 1, 1)).astype(np.int8)
    mult = rng.uniform(1e-4, 1e-2, m).astype(np.float32)
    acc = np.einsum("nchw,mc->nmhw", x.astype(np.int64) - 7, w[:, :, 0, 0].astype(np.int64))
    two = kernel.QLinearConv(w, 7, 0, "int32", None, out_dtype=np.int32, path=VNNI, threads=2)
    assert np.array_equal(two(x), acc)
    q1 = kernel.QLinearConv(w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8, threads=1)(x)
    q2 = kernel.QLinearConv(w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8, path=VNNI, threads=2)
    assert np.array_equal(q2(x), q1)
    if "vnni" in kernel.paths():
        assert two._pw[x.shape][-1][2] == 2 and q2._pw[x.shape][-1][2] == 2


@pytest.mark.parametrize("c,m,hw,threads", [(1026, 7, (14, 14), 1), (512, 33, (8, 10), 1), (1024, 96, (14, 14), 2)])
def test_pointwise_nchw_kernel_k_blocks_equal_the_exact_sum(c, m, hw, threads):
    """K >= 512 (r50_1x1_14's 1024): the NCHW 1x1 kernel in K blocks of 64 groups, partial int32 sums
    kept between blocks (C = 1026: K 1028, a last block of one group; M tails of the 5-channel
    blocks); on 2 threads with 4 pixel blocks, split by output channels (rq_conv1x1_nchw_run_many);
    int32 equal to int64 numpy, uint8 to the one-shot op."""
    rng = np.random.default_rng(c)
    x = rng.integers(0, 256, (1, c) + hw).astype(np.uint8)
    w = rng.integers(-128, 128, (m, c, 1, 1)).astype(np.int8)
    bias = rng.integers(-5000, 5000, m).astype(np.int32)
    mult = rng.uniform(1e-5, 1e-4, m).astype(np.float32)
    acc = np.einsum("nchw,mc->nmhw", x.astype(np.int64) - 9, w[:, :, 0, 0].astype(np.int64)) + bias[None, :, None, None]
    i32 = kernel.QLinearConv(w, 9, 0, "int32", None, out_dtype=np.int32, bias=bias, path=VNNI, threads=threads)
    assert np.array_equal(i32(x), acc)
    q = kernel.QLinearConv(w, 9, 0, "float_fp32", mult, 100, out_dtype=np.uint8, bias=bias, path=VNNI, threads=threads)
    assert np.array_equal(q(x), conv.qlinear_conv(x, w, 9, 0, "float_fp32", mult, 100, out_dtype=np.uint8,
                                                  bias=bias, threads=1))
    if "vnni" in kernel.paths():
        assert i32._pw[x.shape][-1] is not None and q._pw[x.shape][-1] is not None
        assert q._pw[x.shape][-1][2] == threads


def test_pointwise_nchw_kernel_declines_weight_zero_points_and_bad_arguments():
    """rq_conv1x1_nchw_run answers RQ_E_PATH where the sums would need pixel sums (a nonzero weight
    zero point); the prepared op then runs the GEMM on NHWC rows and still equals the scalar op."""
    from refquant.kernel._lib import ffi, lib
    rng = np.random.default_rng(5)
    w = rng.integers(-128, 128, (16, 8, 1, 1)).astype(np.int8)
    x = rng.integers(0, 256, (1, 8, 4, 8)).astype(np.uint8)
    for zw in (3, np.arange(16, dtype=np.int32) - 8):
        op = kernel.QLinearConv(w, 9, zw, "float_fp32", np.float32(0.003), 5, out_dtype=np.uint8, threads=1)
        got = op(x)
        assert np.array_equal(got, conv.qlinear_conv(x, w, 9, zw, "float_fp32", np.float32(0.003), 5,
                                                     out_dtype=np.uint8, path="scalar"))
        assert op._wt is None and op(x).tobytes() == got.tobytes()
    g = ffi.new("rq_gemm *")
    buf = ffi.new("uint8_t[]", 64)
    assert lib.rq_conv1x1_nchw_run(ffi.NULL, buf, 1, 1, ffi.cast("int8_t *", buf), buf) == -1
    assert lib.rq_conv1x1_nchw_run(g, buf, 1, 1, ffi.cast("int8_t *", buf), buf) == -1   # no packed B


@pytest.mark.skipif("vnni" not in kernel.paths(), reason="the NCHW 1x1 kernel is on the AVX-512 VNNI path")
def test_pointwise_nchw_kernel_tail_pixels_equal_the_exact_sum():
    """rq_conv1x1_nchw_run's tail: the last P mod 16 <= 8 pixels with the channels split across the
    lanes (T = 1, 2, 4, 8 pixels x 16 / T channel groups, the lanes of a pixel added at the end),
    called directly for every P from 1 to 25 and a few larger ones, K a multiple of each span or
    not (4 ... 1028), 1 and 2 parts; int32 equal to int64 numpy, uint8 to the scalar op."""
    from refquant.kernel._gemm import gemm_struct
    from refquant.kernel._lib import ffi, lib
    rng = np.random.default_rng(196)

    def direct(op, xc, m, c, p, dtype, parts):
        sts = ffi.new("rq_gemm[]", parts)
        for i in range(parts):
            sts[i] = gemm_struct(op._one._gemm)[0]
        y = np.zeros((m, p), dtype)
        px, py = ffi.cast("uint8_t *", ffi.from_buffer(xc)), ffi.from_buffer(y, require_writable=True)
        pwt = ffi.cast("int8_t *", ffi.from_buffer(op._wt))
        code = (lib.rq_conv1x1_nchw_run(sts, px, c, p, pwt, py) if parts == 1 else
                lib.rq_conv1x1_nchw_run_many(ffi.new("rq_gemm *[]", [sts + i for i in range(parts)]), px, c, p,
                                             pwt, py, parts))
        assert code == 0
        return y

    for c in (4, 12, 36, 68, 1028):
        for p in list(range(1, 26)) + [33, 40, 196]:
            m = int(rng.choice([1, 7, 9, 17]))
            x = rng.integers(0, 256, (1, c, 1, p)).astype(np.uint8)
            w = rng.integers(-128, 128, (m, c, 1, 1)).astype(np.int8)
            bias = rng.integers(-5000, 5000, m).astype(np.int32)
            mult = rng.uniform(1e-4, 1e-2, m).astype(np.float32)
            acc = np.einsum("nchw,mc->nmhw", x.astype(np.int64) - 7, w[:, :, 0, 0].astype(np.int64))
            acc = acc.reshape(m, p) + bias[:, None]
            ref = conv.qlinear_conv(x, w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8, bias=bias,
                                    path="scalar").reshape(m, p)
            i32 = kernel.QLinearConv(w, 7, 0, "int32", None, out_dtype=np.int32, bias=bias, path=VNNI, threads=1)
            q = kernel.QLinearConv(w, 7, 0, "float_fp32", mult, 100, out_dtype=np.uint8, bias=bias, path=VNNI, threads=1)
            xc = np.ascontiguousarray(x[0, :, 0, :])
            for parts in (1, 2):
                assert np.array_equal(direct(i32, xc, m, c, p, np.int32, parts), acc), (c, p, m, parts)
                assert np.array_equal(direct(q, xc, m, c, p, np.uint8, parts), ref), (c, p, m, parts)


def test_depthwise_prepared_weights_equal_the_per_call_layout_and_check_their_arguments():
    """rq_dwconv_prepare: the prepared op lays out its weights and channel corrections once; a run
    with the template's prep cleared (the per-call layout) gives the same bytes, on every path,
    uint8 and int32 outputs, per-channel weight zero points, a bias, 960 channels (30 blocks) and
    a channel count that is not a multiple of 32; bad arguments are error codes, nothing written."""
    from refquant.kernel._lib import ffi, lib
    rng = np.random.default_rng(960)
    for c, h in [(960, 7), (37, 9)]:
        x = rng.integers(0, 256, (1, c, h, h)).astype(np.uint8)
        w = rng.integers(-128, 128, (c, 1, 3, 3)).astype(np.int8)
        zw = rng.integers(-5, 5, c).astype(np.int32)
        bias = rng.integers(-50000, 50000, c).astype(np.int32)
        mult = rng.uniform(1e-4, 1e-2, c).astype(np.float32)
        for path in kernel.paths():
            ops_ = [kernel.QLinearConv(w, 9, zw, "float_fp32", mult, 100, out_dtype=np.uint8, bias=bias, group=c,
                                       pads=[1, 1, 1, 1], threads=1, path=path),
                    kernel.QLinearConv(w, 9, zw, "int32", None, out_dtype=np.int32, bias=bias, group=c,
                                       strides=[2, 2], threads=1, path=path)]
            for op in ops_:
                dw = op._dw
                assert dw._prep is not None and dw._t.prep != ffi.NULL
                got = op(x)
                dw._t.prep, dw._cache = ffi.NULL, {}
                assert np.array_equal(op(x), got), (c, path)
    t = ffi.new("rq_dwconv *", dict(c=4, kh=3, kw=3, x_type=2, w_type=1))   # uint8 x, int8 w
    assert lib.rq_dwconv_prep_bytes(ffi.NULL) == 0 and lib.rq_dwconv_prep_bytes(ffi.new("rq_dwconv *")) == 0
    buf = np.zeros(max(lib.rq_dwconv_prep_bytes(t), 64) + 64, np.uint8)
    pb = ffi.from_buffer(buf, require_writable=True)
    assert lib.rq_dwconv_prepare(t, pb) == -1                      # no weights
    w8 = np.zeros(36, np.int8)
    t.wt = ffi.from_buffer(w8)
    zw = np.array([300], np.int32)
    t.zw = ffi.from_buffer("int32_t[]", zw)
    assert lib.rq_dwconv_prepare(t, pb) == -7 and not buf.any()   # zero point outside int8
    assert lib.rq_dwconv_prepare(t, ffi.NULL) == -1


@pytest.mark.parametrize("threads", [1, 2])
def test_pointwise_lanes_kernel_declines_other_methods_and_the_op_falls_back(threads):
    """The NCHW 1x1 kernel computes float_fp32 and int32 only; for a fixed-point method it answers
    RQ_E_PATH and the prepared op falls back (the GEMM on NHWC rows, or on 2 threads the implicit
    form): equal to the scalar op, on every later call too.  196 pixels, 96 output channels."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 256, (1, 64, 14, 14)).astype(np.uint8)
    w = rng.integers(-128, 128, (96, 64, 1, 1)).astype(np.int8)
    m, s = rng.integers(2**29, 2**30, 96).astype(np.int32), rng.integers(-12, -4, 96).astype(np.int32)
    ref = conv.qlinear_conv(x, w, 7, 0, "tflite_double", (m, s), 3, out_dtype=np.int8, path="scalar")
    op = kernel.QLinearConv(w, 7, 0, "tflite_double", (m, s), 3, out_dtype=np.int8, path=VNNI, threads=threads)
    assert np.array_equal(op(x), ref) and np.array_equal(op(x), ref)
    if "vnni" in kernel.paths():
        assert op._wt is None   # declined once, not asked again
    f = kernel.QLinearConv(w, 7, 0, "float_fp32", np.full(96, np.float32(1e-3)), 3, out_dtype=np.int8,
                           path=VNNI, threads=threads)
    want = conv.qlinear_conv(x, w, 7, 0, "float_fp32", np.full(96, np.float32(1e-3)), 3, out_dtype=np.int8,
                             path="scalar")
    assert np.array_equal(f(x), want)
    if "vnni" in kernel.paths():
        assert f._pw[x.shape][-1] is not None   # the lanes kernel ran this one


@pytest.mark.parametrize("c,h,w,sh,sw", [(4, 7, 9, 2, 2), (40, 56, 56, 2, 2), (3, 5, 130, 1, 2), (17, 9, 70, 3, 2),
                                          (8, 10, 11, 2, 3), (1, 1, 1, 1, 1), (5, 64, 65, 2, 2)])
def test_rq_conv_nhwc_sub_and_rq_subsample_nchw_layout_and_errors(c, h, w, sh, sw):
    """The pixels (i*sh, j*sw) of an NCHW image, kept NCHW (rq_subsample_nchw) and as NHWC rows
    (rq_conv_nhwc_sub: through the first), split over 1-3 parts; sw = 2 takes the even bytes 32 at
    a time (AVX-512), other strides a byte loop; every output pixel inside the image or an error."""
    from refquant.kernel._gemm import ptr
    from refquant.kernel._lib import lib
    rng = np.random.default_rng(c * 1000 + w)
    x = rng.integers(0, 256, (c, h, w)).astype(np.uint8)
    oh, ow = (h - 1) // sh + 1, (w - 1) // sw + 1
    want = x[:, ::sh, ::sw]
    for parts in (1, 2, 3):
        y = np.zeros((c, oh, ow), np.uint8)
        assert lib.rq_subsample_nchw(ptr(x), ptr(y, True), c, h, w, sh, sw, oh, ow, parts) == 0
        assert np.array_equal(y, want)
        tmp, xs = np.zeros(c * oh * ow, np.uint8), np.zeros(c * oh * ow, np.uint8)
        assert lib.rq_conv_nhwc_sub(ptr(x), ptr(tmp, True), ptr(xs, True), c, h, w, sh, sw, oh, ow, parts) == 0
        assert np.array_equal(xs.reshape(oh, ow, c), want.transpose(1, 2, 0))
    y = np.zeros(c * (oh + 1) * (ow + 1), np.uint8)
    for bad in ((c, h, w, sh, sw, oh + 1, ow), (c, h, w, sh, sw, oh, ow + 1), (0, h, w, sh, sw, oh, ow),
                (c, h, w, 0, sw, oh, ow), (c, h, w, sh, sw, 0, ow)):
        assert lib.rq_subsample_nchw(ptr(x), ptr(y, True), *bad, 1) == -2          # RQ_E_DIM
        assert lib.rq_conv_nhwc_sub(ptr(x), ptr(y, True), ptr(y, True), *bad, 1) == -2
    assert not y.any()
    assert lib.rq_subsample_nchw(ptr(x), conv.ffi.NULL, c, h, w, sh, sw, oh, ow, 1) == -1   # RQ_E_NULL


@pytest.mark.parametrize("c,hw,m,stride,lanes", [(16, 56, 48, 2, (1, 2)), (32, 28, 40, 2, (1,)), (64, 14, 64, 2, ()),
                                                 (8, 31, 33, 3, (1,)), (12, 20, 16, 1, ())])
def test_strided_pointwise_conv_routes_equal_the_exact_sum(c, hw, m, stride, lanes):
    """A strided unpadded 1x1 conv: the lanes kernel on the subsampled image (at the thread counts
    in ``lanes``: 784 output pixels on 1 and 2 threads, 196 or 121 on 1) or else the implicit GEMM
    on the NHWC copy of the pixels read, int32 and requantized, equal to the exact sum and to the
    scalar path; 1x1 stride 1 for contrast.  With weight zero points: neither, the im2col route."""
    rng = np.random.default_rng(c + hw + m)
    x = rng.integers(0, 256, (2, c, hw, hw)).astype(np.uint8)
    w = rng.integers(-128, 128, (m, c, 1, 1)).astype(np.int8)
    bias = rng.integers(-5000, 5000, m).astype(np.int32)
    mult = rng.uniform(1e-4, 2e-2, m).astype(np.float32)
    geo = {"strides": [stride, stride], "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1}
    xs = x[:, :, ::stride, ::stride].astype(np.int64) - 9
    oh = xs.shape[2]
    for zw in (0, np.arange(m, dtype=np.int32) % 5 - 2):
        acc = np.einsum("nchw,mc->nmhw", xs, w[:, :, 0, 0].astype(np.int64) - np.reshape(zw, (-1, 1))) \
            + bias[None, :, None, None]
        for threads in (1, 2):
            i32 = kernel.QLinearConv(w, 9, zw, "int32", None, out_dtype=np.int32, bias=bias, path=VNNI, threads=threads, **geo)
            for _ in range(2):   # the second call: the kept records
                assert np.array_equal(i32(x), acc)
            q = kernel.QLinearConv(w, 9, zw, "float_fp32", mult, 5, out_dtype=np.uint8, bias=bias, path=VNNI, threads=threads,
                                   **geo)
            one = kernel.qlinear_conv(x, w, 9, zw, "float_fp32", mult, 5, out_dtype=np.uint8, bias=bias,
                                      threads=threads, path="scalar", **geo)
            assert np.array_equal(q(x), one) and np.array_equal(q(x), one)
            if "vnni" in kernel.paths() and stride > 1:
                assert (i32._conv_a is not None) == (not np.any(zw))
                rec = i32._pw.get(("sub", 2, c, oh, oh))
                took_lanes = bool(rec) and rec[-1] is not None   # its NCHW lanes kernel record
                assert took_lanes == (threads in lanes and not np.any(zw))
                assert bool(i32._imp) == (not took_lanes and not np.any(zw))
