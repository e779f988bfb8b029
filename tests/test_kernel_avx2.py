"""The 256-bit paths of the C twin (path 'avx2': exact vpmaddwd; 'avx_vnni': VEX vpdpbusd).

Each forced path must equal the scalar path and the Python oracle (refquant.ops.matmul_integer +
refquant.requant.requantize) bit for bit on every shape class the kernels block by (2- and 6-row
blocks, 8-lane epilogue chunks, 16-column panels, 32-column panel pairs, K not a multiple of 4),
with per-channel parameters, zero points at the ends of their types and bias; inputs that would
saturate vpmaddubsw's int16 pair sums (255 * 127 * 2 > 32767) must come out exact; where a
policy could overflow the kernel must fall back to the exact scalar path.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import kernel, ops, requant
from refquant.integers import Accumulator

pytestmark = pytest.mark.skipif(not kernel.available(), reason="refquant._kernel not built")

WIDE = ("avx2", "avx_vnni")
I32 = (-2**31, 2**31 - 1)


def need(path):
    if path not in kernel.paths():
        pytest.skip(f"path {path!r} is not usable on this CPU (usable: {kernel.paths()})")


def wrap32(v):
    return (v + 2**31) % 2**32 - 2**31


def exact(a, b, za, zb, bias=None):
    acc = (a.astype(np.int64) - za) @ (b.astype(np.int64) - np.asarray(zb, np.int64))
    return wrap32(acc + (0 if bias is None else bias.astype(np.int64)))


def rand(rng, shape, dt):
    i = np.iinfo(dt)
    return rng.integers(i.min, i.max + 1, shape, dtype=np.int64).astype(dt)


@pytest.mark.parametrize("path", WIDE)
def test_pair_sums_that_saturate_int16_are_exact(path):
    """A' = 255 against B' = 127 or -128: vpmaddubsw would clamp each pair sum at +-32767."""
    need(path)
    for a_dt, a_val, b_dt, b_vals in [(np.uint8, 255, np.int8, (127, -128)), (np.int8, 127, np.uint8, (255, 0)),
                                      (np.int8, 127, np.int8, (127, -128))]:
        for m, k, n in [(1, 4, 8), (3, 8, 17), (7, 67, 40), (13, 1024, 33)]:
            a = np.full((m, k), a_val, a_dt)
            for bv in b_vals:
                b = np.full((k, n), bv, b_dt)
                got = kernel.matmul_integer(a, b, path=path)
                np.testing.assert_array_equal(got, exact(a, b, 0, 0), err_msg=f"{a_dt} {b_dt} {bv} {m}x{k}x{n}")
                assert kernel.last_path_used() == path


SHAPES = [(1, 1, 1), (1, 5, 7), (2, 3, 8), (3, 4, 9), (5, 67, 16), (6, 64, 17), (7, 0, 31), (8, 13, 32),
          (12, 65, 33), (13, 1, 47), (2, 129, 64), (11, 30, 70)]


def oracle(a, b, za, zb, bias, method, params, zp, qmin, qmax, out_type):
    if a.shape[1] == 0:   # the empty sum, then the bias step (a K = 0 list carries no N)
        acc = [bias.tolist() for _ in range(a.shape[0])]
    else:
        acc = ops.matmul_integer(a.tolist(), b.tolist(), za, [int(v) for v in zb], a_type=str(a.dtype),
                                 b_type=str(b.dtype), accumulator=Accumulator(32, "wrap"), bias=bias.tolist())
    if method == "int32":
        return np.array(acc, np.int64)
    return np.array(requant.requantize(acc, method, params, zp, out_type, qmin=qmin, qmax=qmax), np.int64)


def method_args(rng, method, n, per_channel):
    """(kernel params, oracle Params) for `method`, one value or n."""
    c = n if per_channel else 1
    if method == "float_fp32":
        mf = np.ldexp(rng.integers(2**23, 2**24, c).astype(np.float64), rng.integers(-40, -14, c)).astype(np.float32)
        mf[0] = np.float32(0.5)
        bits = mf.view(np.uint32)
        return (mf if per_channel else mf[0]), requant.params_from_kernel(method, M_bits=[int(v) for v in bits])
    m = rng.integers(2**29, 2**31, c).astype(np.int32)
    m[0] = 2**31 - 1
    # shifts whose result fits int32 for every int32 accumulator (the oracle calls the others
    # Unpredictable; test_kernel.py checks them against the scalar path)
    if method.startswith("tosa"):
        s = rng.choice(np.array([32, 33, 45, 61, 62]), c).astype(np.int32)
        pk = requant.params_from_kernel(method, m=m.tolist(), s=s.tolist())
    else:
        s = rng.choice(np.array([-31, -20, -7, -1] + ([0, 1, 30] if method == "tflite_double" else [])),
                       c).astype(np.int32)
        pk = requant.params_from_kernel(method, m=m.tolist(), shift=s.tolist())
    return ((m, s) if per_channel else (int(m[0]), int(s[0]))), pk


@pytest.mark.parametrize("method", ["int32", "float_fp32", "tflite_double", "tflite_single", "tosa_single",
                                    "tosa_double"])
def test_every_shape_class_equals_scalar_and_the_oracle(method):
    """Every forced 256-bit path == scalar on each shape; == the Python oracle on every shape too."""
    rng = np.random.default_rng(sum(map(ord, method)))
    paths = [p for p in WIDE if p in kernel.paths()]
    if not paths:
        pytest.skip(f"no 256-bit path on this CPU (usable: {kernel.paths()})")
    combos = [(np.uint8, np.int8), (np.int8, np.uint8), (np.int8, np.int8), (np.uint8, np.uint8)]
    for idx, (m, k, n) in enumerate(SHAPES):
        a_dt, b_dt = combos[idx % 4]
        ai, bi = np.iinfo(a_dt), np.iinfo(b_dt)
        a, b = rand(rng, (m, k), a_dt), rand(rng, (k, n), b_dt)
        za = (ai.min, ai.max, int(rng.integers(ai.min, ai.max + 1)))[idx % 3]       # zero points at the ends
        zb = rng.choice(np.array([bi.min, bi.max, 0, 1]), n).astype(np.int32)
        bias = rng.integers(-2**31, 2**31, n).astype(np.int32)
        bias[: n // 2] = rng.integers(-1000, 1000, n // 2)
        per_channel = idx % 2 == 0
        kp, pk = method_args(rng, method, n, per_channel)
        out_dt = np.int32 if method == "int32" else (np.int8, np.uint8, np.int32)[idx % 3]
        zp, lims = 0, {}
        if method != "int32":
            zp = {np.int8: -3, np.uint8: 100, np.int32: 17}[out_dt]
            if out_dt == np.int32:
                lims = dict(qmin=-10**6, qmax=10**6)
        want = oracle(a, b, za, zb, bias, method, pk, zp, lims.get("qmin"), lims.get("qmax"),
                      np.dtype(out_dt).name)

        def run(path):
            if method == "int32":
                return kernel.matmul_integer(a, b, za, zb, bias, path=path)
            return kernel.qlinear_matmul(a, b, za, zb, method, kp, zp=zp, out_dtype=out_dt, bias=bias,
                                         path=path, **lims)
        ref = run("scalar")
        np.testing.assert_array_equal(ref.astype(np.int64), want, err_msg=f"scalar {m}x{k}x{n}")
        for path in paths:
            got = run(path)
            assert kernel.last_path_used() == path
            np.testing.assert_array_equal(got, ref, err_msg=f"{path} {method} {m}x{k}x{n} {a_dt} {b_dt}")


@pytest.mark.parametrize("path", WIDE)
def test_policies_fall_back_to_scalar_only_where_overflow_is_possible(path):
    need(path)
    rng = np.random.default_rng(5)
    a, b = rand(rng, (9, 70000), np.uint8), rand(rng, (70000, 3), np.int8)   # K*255*128 > 2^31
    want, cnt = kernel.matmul_integer(a, b, 0, 0, None, policy="saturate", path="scalar", return_overflow=True)
    got, gcnt = kernel.matmul_integer(a, b, 0, 0, None, policy="saturate", path=path, return_overflow=True)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(gcnt, cnt)
    assert kernel.last_path_used() == "scalar"                                  # overflow possible
    small_a, small_b = a[:, :100], b[:100]                                      # no step can overflow
    got, gcnt = kernel.matmul_integer(small_a, small_b, 3, -2, None, policy="saturate", path=path,
                                      return_overflow=True)
    assert kernel.last_path_used() == path and not gcnt.any()
    np.testing.assert_array_equal(got, exact(small_a, small_b, 3, -2))
    got = kernel.matmul_integer(a, b, 0, 0, None, policy="wrap", path=path)      # wrap: fast and exact
    assert kernel.last_path_used() == path
    np.testing.assert_array_equal(got, exact(a, b, 0, 0))


@st.composite
def problems(draw):
    m = draw(st.integers(1, 20))
    k = draw(st.one_of(st.integers(0, 80), st.sampled_from([3, 4, 63, 64, 65, 129])))
    n = draw(st.one_of(st.integers(1, 40), st.sampled_from([7, 8, 9, 15, 16, 17, 31, 32, 33, 65])))
    a_dt = draw(st.sampled_from([np.int8, np.uint8]))
    b_dt = draw(st.sampled_from([np.int8, np.uint8]))
    seed = draw(st.integers(0, 2**32 - 1))
    method = draw(st.sampled_from(["int32", "float_fp32", "tflite_double", "tflite_single", "tosa_single",
                                   "tosa_double"]))
    return m, k, n, a_dt, b_dt, seed, method, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(pr=problems())
def test_hypothesis_wide_paths_equal_scalar(pr):
    m, k, n, a_dt, b_dt, seed, method, per_channel, offset = pr
    rng = np.random.default_rng(seed)
    ai, bi = np.iinfo(a_dt), np.iinfo(b_dt)
    big = rand(rng, (m, k + 3), a_dt)
    a = big[:, 1:k + 1] if offset else np.ascontiguousarray(big[:, :k])       # lda > K, odd offset
    b = rand(rng, (k, n), b_dt)
    za = int(rng.choice([ai.min, ai.max, int(rng.integers(ai.min, ai.max + 1))]))
    zb = rng.integers(bi.min, bi.max + 1, n).astype(np.int32)
    bias = rng.integers(-2**31, 2**31, n).astype(np.int32) if rng.random() < 0.7 else None
    kp, _ = method_args(rng, method, n, per_channel)
    out_dt = np.int32 if method == "int32" else [np.int8, np.uint8][seed % 2]
    for path in [p for p in WIDE if p in kernel.paths()]:
        if method == "int32":
            ref = kernel.matmul_integer(a, b, za, zb, bias, path="scalar")
            got = kernel.matmul_integer(a, b, za, zb, bias, path=path, threads=1 + seed % 2)
        else:
            kw = dict(zp=5, out_dtype=out_dt, bias=bias)
            ref = kernel.qlinear_matmul(a, b, za, zb, method, kp, path="scalar", **kw)
            got = kernel.qlinear_matmul(a, b, za, zb, method, kp, path=path, threads=1 + seed % 2, **kw)
        np.testing.assert_array_equal(got, ref, err_msg=f"{path} {method} {m}x{k}x{n}")


@pytest.mark.parametrize("path", WIDE)
def test_probe_of_the_wide_paths(path):
    from refquant.kernel import probe
    from refquant.kernel._lib import lib
    kind = WIDE.index(path)
    usable = path in kernel.paths()
    assert lib.rq_probe_avx2(kind, 1000) == ((1000 * 10 * (16, 32)[kind]) if usable else 0)
    assert lib.rq_probe_avx2(kind, -1) == 0 and lib.rq_probe_avx2(7, 1000) == 0
    g = probe.peak_gops(path, threads=1, seconds=0.02)
    assert (g > 1.0) if usable else g is None


@pytest.mark.parametrize("path", WIDE)
def test_convolution_on_the_wide_paths(path):
    """QLinearConv / ConvInteger through the GEMM on the 256-bit paths, and depthwise through its
    AVX2 form (rq_dwconv_run)."""
    need(path)
    rng = np.random.default_rng(11)
    x, w = rand(rng, (1, 8, 9, 7), np.uint8), rand(rng, (12, 8, 3, 3), np.int8)
    zw = rng.integers(-128, 128, 12).astype(np.int32)
    mf = np.full(12, 0.001, np.float32)
    kw = dict(strides=[2, 1], pads=[1, 0, 1, 2], dilations=[1, 2])
    ref = kernel.qlinear_conv(x, w, 7, zw, "float_fp32", mf, zp=3, path="scalar", **kw)
    got = kernel.qlinear_conv(x, w, 7, zw, "float_fp32", mf, zp=3, path=path, **kw)
    np.testing.assert_array_equal(got, ref)
    assert kernel.last_path_used() == path
    op = kernel.QLinearConv(w, 7, zw, "float_fp32", mf, zp=3, path=path, **kw)
    np.testing.assert_array_equal(op(x), ref)
    for c, xt, wt in [(8, np.uint8, np.int8), (40, np.int8, np.uint8)]:   # 40: a 32-channel block + 8
        xd, wd = rand(rng, (2, c, 9, 11), xt), rand(rng, (c, 1, 3, 3), wt)
        zwd = rng.integers(np.iinfo(wt).min, np.iinfo(wt).max + 1, c).astype(np.int32)
        bias = rng.integers(-2**31, 2**31, c).astype(np.int32)
        zx = int(np.iinfo(xt).max)
        for kw in [{}, dict(strides=[2, 2], pads=[1, 2, 0, 1], dilations=[2, 1])]:
            ref = kernel.conv_integer(xd, wd, zx, zwd, bias, group=c, path="scalar", **kw)
            np.testing.assert_array_equal(kernel.conv_integer(xd, wd, zx, zwd, bias, group=c, path=path, **kw), ref)
            assert kernel.last_path_used() == path
            for method, params in [("float_fp32", np.full(c, 1e-4, np.float32)), ("tflite_double", (2**30, -9))]:
                ref = kernel.qlinear_conv(xd, wd, zx, zwd, method, params, zp=-2, bias=bias, group=c, path="scalar",
                                          **kw)
                got = kernel.qlinear_conv(xd, wd, zx, zwd, method, params, zp=-2, bias=bias, group=c, path=path, **kw)
                np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("path", WIDE)
def test_thread_splits_by_rows_and_columns(path):
    """Problems over the split threshold (2^21 operations) split into rectangles on two threads: columns
    when N > M."""
    need(path)
    rng = np.random.default_rng(3)
    for m, k, n in [(8, 516, 2100), (700, 1030, 13)]:
        a, b = rand(rng, (m, k), np.int8), rand(rng, (k, n), np.uint8)
        zb = rng.integers(0, 256, n).astype(np.int32)
        bias = rng.integers(-2**31, 2**31, n).astype(np.int32)
        mf = np.full(n, 2.0**-14, np.float32)
        want = exact(a, b, -5, zb, bias)
        for threads in (1, 2):
            np.testing.assert_array_equal(kernel.matmul_integer(a, b, -5, zb, bias, path=path, threads=threads), want)
            q = kernel.qlinear_matmul(a, b, -5, zb, "float_fp32", mf, zp=-1, bias=bias, path=path, threads=threads)
            ref = kernel.qlinear_matmul(a, b, -5, zb, "float_fp32", mf, zp=-1, bias=bias, path="scalar", threads=threads)
            np.testing.assert_array_equal(q, ref)
