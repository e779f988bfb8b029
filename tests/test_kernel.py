"""The C twin (refquant.kernel) against an independent test model, on every dispatch path.

TEST MODEL: the functions prefixed ``model_`` below are a tiny re-reading of
docs/gemm-contract.md written for this file only (plain Python ints, numpy
int64 for the k loop, numpy float32 for the binary32 steps).  They share no
code with csrc/ or refquant/ops.py.
"""
import ctypes
import os
import ctypes.util
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import kernel
from refquant.errors import AccumulatorOverflowError, InvalidValueError, RefquantError, ShapeError, UnknownNameError

pytestmark = pytest.mark.skipif(not kernel.available(), reason="refquant._kernel not built")

PATHS = kernel.paths()
I32_MIN, I32_MAX = -2**31, 2**31 - 1
INT_METHODS = ("tflite_double", "tflite_single", "tosa_single", "tosa_double")
METHODS = ("int32", "float_fp32") + INT_METHODS


# ---- TEST MODEL (docs/gemm-contract.md, independent of the kernel) ----------------------------

def model_wrap32(v):
    return (v + 2**31) % 2**32 - 2**31


def model_accumulate(a, b, za, zb, bias, policy):
    """Section 2: k ascending, step() per term, bias as one more step; returns (acc, counts)."""
    m, k = a.shape
    n = b.shape[1]
    at = a.astype(np.int64) - za
    bt = b.astype(np.int64) - np.broadcast_to(np.asarray(zb, np.int64), (n,))
    s = np.zeros((m, n), np.int64)
    cnt = np.zeros((m, n), np.int64)
    terms = [at[:, kk:kk + 1] * bt[kk:kk + 1, :] for kk in range(k)]
    if bias is not None:
        terms.append(np.broadcast_to(bias.astype(np.int64), (m, n)))
    for t in terms:
        v = s + t
        out = (v < I32_MIN) | (v > I32_MAX)
        cnt += out
        if policy == "saturate":
            s = np.clip(v, I32_MIN, I32_MAX)
        else:  # wrap (and the value kept under error)
            s = (v + 2**31) % 2**32 - 2**31
    return s, cnt


def model_srdhm(a, b):
    if a == b == I32_MIN:
        return I32_MAX
    ab = a * b
    v = ab + (2**30 if ab >= 0 else 1 - 2**30)
    q = abs(v) // 2**31
    return q if v >= 0 else -q          # truncation toward zero


def model_rdbpot(x, e):
    mask = 2**e - 1
    rem = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > threshold else 0)


def model_requant(acc, method, p, zp, qmin, qmax):
    """Section 3 for one accumulator; p = M_j (np.float32) or (m_j, shift_j)."""
    if method == "int32":
        return acc
    if method == "float_fp32":
        v = np.float32(np.float32(acc) * p)
        v = min(max(float(v), float(qmin - zp)), float(qmax - zp))
        return round(v) + zp            # Python round: ties to even
    m, sh = p
    if method == "tflite_double":
        x = model_wrap32(acc * 2**max(sh, 0))
        r = model_rdbpot(model_srdhm(x, m), max(-sh, 0))
    elif method == "tflite_single":
        t = 31 - sh
        r = (acc * m + 2**(t - 1)) >> t
    else:
        d = 0
        if method == "tosa_double" and sh > 31:
            d = 2**30 if acc >= 0 else -2**30
        r = (acc * m + 2**(sh - 1) + d) >> sh
    return min(max(r + zp, qmin), qmax)


def model_qlinear(acc, method, params, per_channel, zp, qmin, qmax):
    m, n = acc.shape
    out = np.zeros((m, n), np.int64)
    for j in range(n):
        if method == "float_fp32":
            p = params[j] if per_channel else params[0]
        elif method != "int32":
            p = (int(params[0][j if per_channel else 0]), int(params[1][j if per_channel else 0]))
        else:
            p = None
        for i in range(m):
            out[i, j] = model_requant(int(acc[i, j]), method, p, zp, qmin, qmax)
    return out


# ---- helpers -------------------------------------------------------------------------------------

def rng_matrix(rng, shape, dtype, mode):
    info = np.iinfo(dtype)
    if mode == "extreme":
        return rng.choice(np.array([info.min, info.max, info.min + 1, info.max - 1], dtype), shape)
    if mode == "small":
        lo = max(info.min, -3)
        return rng.integers(lo, lo + 7, shape, dtype=np.int64).astype(dtype)
    return rng.integers(info.min, info.max + 1, shape, dtype=np.int64).astype(dtype)


def run_kernel(a, b, za, zb, bias, policy, method, params, zp, qmin, qmax, out_dtype, path, **kw):
    if method == "int32":
        return kernel.matmul_integer(a, b, za, zb, bias, policy=policy, path=path, **kw)
    return kernel.qlinear_matmul(a, b, za, zb, method, params, zp=zp, qmin=qmin, qmax=qmax,
                                 out_dtype=out_dtype, bias=bias, policy=policy, path=path, **kw)


def float_multipliers(rng, n):
    mant = rng.integers(2**23, 2**24, n).astype(np.float64)
    exp = rng.integers(-45, -10, n)
    vals = np.ldexp(mant, exp).astype(np.float32)   # M_j >= 0: the domain (negatives are refused)
    special = np.array([0.5, 0.25, 2.0**-24, 1.0, 0.0, -0.0, 3.0e-5, 2.0**-40], np.float32)
    pick = rng.random(n) < 0.2
    vals[pick] = rng.choice(special, int(pick.sum()))
    return vals


def int_params(rng, n, method):
    m = rng.choice(np.array([0, 1, 2**30, 2**31 - 1, 2**31 - 2, 1518500250], np.int64), n)
    rnd = rng.random(n) < 0.6
    m[rnd] = rng.integers(2**29, 2**31, int(rnd.sum()))
    if method.startswith("tosa"):
        s = rng.choice(np.array([2, 3, 31, 32, 33, 61, 62], np.int64), n)
        r = rng.random(n) < 0.6
        s[r] = rng.integers(28, 48, int(r.sum()))
    else:
        s = rng.choice(np.array([-31, -30, -1, 0, 1, 29, 30], np.int64), n)
        r = rng.random(n) < 0.6
        s[r] = rng.integers(-20, 3, int(r.sum()))
    return m.astype(np.int32), s.astype(np.int32)


# ---- the main differential test ------------------------------------------------------------------

@st.composite
def problems(draw):
    m = draw(st.integers(1, 40))
    k = draw(st.one_of(st.integers(0, 150), st.sampled_from([1, 3, 4, 63, 64, 65, 127, 128, 129])))
    n = draw(st.integers(1, 40))
    a_dt = draw(st.sampled_from([np.int8, np.uint8]))
    b_dt = draw(st.sampled_from([np.int8, np.uint8]))
    return dict(m=m, k=k, n=n, a_dt=a_dt, b_dt=b_dt,
                lda_pad=draw(st.sampled_from([0, 0, 1, 3, 17])),
                ldb_pad=draw(st.sampled_from([0, 0, 1, 5])),
                mode=draw(st.sampled_from(["uniform", "extreme", "small"])),
                zb_per_channel=draw(st.booleans()), has_bias=draw(st.booleans()),
                method=draw(st.sampled_from(METHODS)), per_channel=draw(st.booleans()),
                policy=draw(st.sampled_from(["wrap", "saturate", "error"])),
                out_dtype=draw(st.sampled_from([np.int8, np.uint8])),
                narrow=draw(st.booleans()), packed=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


def build(pr):
    rng = np.random.default_rng(pr["seed"])
    m, k, n = pr["m"], pr["k"], pr["n"]
    big_a = rng_matrix(rng, (m, k + pr["lda_pad"]), pr["a_dt"], pr["mode"])
    big_b = rng_matrix(rng, (k, n + pr["ldb_pad"]), pr["b_dt"], pr["mode"])
    a, b = big_a[:, :k], big_b[:, :n]          # odd leading dimensions
    ai, bi = np.iinfo(pr["a_dt"]), np.iinfo(pr["b_dt"])
    za = int(rng.integers(ai.min, ai.max + 1))
    zb = (rng.integers(bi.min, bi.max + 1, n).astype(np.int32) if pr["zb_per_channel"]
          else int(rng.integers(bi.min, bi.max + 1)))
    bias = rng.integers(-2**31, 2**31, n).astype(np.int32) if pr["has_bias"] else None
    if bias is not None and rng.random() < 0.5:
        bias = (bias // 2**16).astype(np.int32)
    method, nparam = pr["method"], (n if pr["per_channel"] else 1)
    if method == "float_fp32":
        params = float_multipliers(rng, nparam)
    elif method == "int32":
        params = None
    else:
        params = int_params(rng, nparam, method)
    out_dtype = np.int32 if method == "int32" else pr["out_dtype"]
    oi = np.iinfo(out_dtype)
    qmin, qmax = int(oi.min), int(oi.max)
    if pr["narrow"] and method != "int32":
        qmin, qmax = qmin + 1, qmax - 3
    zp = int(rng.integers(qmin, qmax + 1)) if method != "int32" else 0
    return a, b, za, zb, bias, params, zp, qmin, qmax, out_dtype


@settings(max_examples=300)
@given(pr=problems())
def test_kernel_matches_model_on_every_path(pr):
    a, b, za, zb, bias, params, zp, qmin, qmax, out_dtype = build(pr)
    method, policy = pr["method"], pr["policy"]
    acc, cnt = model_accumulate(a, b, za, zb, bias, policy)
    expect = acc if method == "int32" else model_qlinear(acc, method, params, pr["per_channel"], zp, qmin, qmax)
    if method in ("int32", "float_fp32"):
        kp = params if pr["per_channel"] or params is None else params[0]
    else:
        kp = params if pr["per_channel"] else (int(params[0][0]), int(params[1][0]))
    bb = kernel.PackedB(b) if pr["packed"] and b.shape[1] > 0 else b
    for path in PATHS:
        if policy == "error" and cnt.any():
            with pytest.raises(AccumulatorOverflowError):
                run_kernel(a, bb, za, zb, bias, policy, method, kp, zp, qmin, qmax, out_dtype, path)
            continue
        got, gcnt = run_kernel(a, bb, za, zb, bias, policy, method, kp, zp, qmin, qmax, out_dtype,
                               path, return_overflow=True)
        assert got.dtype == np.dtype(out_dtype)
        np.testing.assert_array_equal(got.astype(np.int64), expect, err_msg=f"path {path}")
        np.testing.assert_array_equal(gcnt, cnt, err_msg=f"counts, path {path}")


# ---- requantization edge cases through the bias (K = 1, A = 0 makes acc = bias) ----------------

def accs_via_bias(values):
    n = len(values)
    a = np.zeros((1, 1), np.int8)
    b = np.zeros((1, n), np.int8)
    return a, b, np.array(values, np.int64).astype(np.int32)


EDGE_ACCS = [0, 1, -1, 2, -2, 3, -3, 5, -5, 10, -10, 12, -12, 127, -128, 255, 2**15, -2**15,
             2**30, -2**30, 2**30 - 1, I32_MAX, I32_MIN, I32_MIN + 1, I32_MAX - 1, 16614, -53199, 52719,
             7984, 2**24 + 1, -(2**24 + 1), 2**23 + 3, 1234567, -7654321]


@pytest.mark.parametrize("method", INT_METHODS)
@pytest.mark.parametrize("path", PATHS)
def test_integer_methods_at_parameter_ends(method, path):
    accs = EDGE_ACCS * 3
    rng = np.random.default_rng(7)
    if method.startswith("tosa"):
        shifts = [2, 3, 30, 31, 32, 33, 38, 45, 61, 62]
    else:
        shifts = [-31, -30, -9, -1, 0, 1, 2, 29, 30]
    mults = [0, 1, 2**30, 2**31 - 1, 2**31 - 2, 1610612736, 1518500250, 2080375504, 1583594044,
             1674482909, 1844647463, int(rng.integers(0, 2**31))]
    a, b, bias = accs_via_bias(accs)
    n = len(accs)
    for mu in mults:
        for sh in shifts:
            for out_dtype, zp in ((np.int32, 0), (np.int8, -3), (np.uint8, 128)):
                oi = np.iinfo(out_dtype)
                got = kernel.qlinear_matmul(a, b, 0, 0, method, (mu, sh), zp=zp, out_dtype=out_dtype,
                                            bias=bias, path=path)
                exp = [model_requant(int(v), method, (mu, sh), zp, int(oi.min), int(oi.max)) for v in bias]
                assert got.shape == (1, n)
                assert got[0].astype(np.int64).tolist() == exp, (mu, sh, out_dtype)


@pytest.mark.parametrize("path", PATHS)
def test_integer_methods_per_channel_random(path):
    rng = np.random.default_rng(11)
    n = 301
    accs = np.concatenate([rng.integers(-2**31, 2**31, 200), rng.integers(-70000, 70000, 101)])
    a, b, bias = accs_via_bias(accs.tolist())
    for method in INT_METHODS:
        m, s = int_params(rng, n, method)
        got = kernel.qlinear_matmul(a, b, 0, 0, method, (m, s), zp=5, out_dtype=np.int8, bias=bias, path=path)
        exp = [model_requant(int(bias[j]), method, (int(m[j]), int(s[j])), 5, -128, 127) for j in range(n)]
        assert got[0].tolist() == exp, method


@pytest.mark.parametrize("path", PATHS)
def test_float_fp32_round_to_nearest_even_ties(path):
    # acc * 0.5 lands exactly on .5 for odd acc: RNE goes to the even neighbour.
    accs = [1, 3, 5, -1, -3, -5, 7, 255, -255, 2**24 + 1, 2**25 + 2, -(2**25 + 6)]
    a, b, bias = accs_via_bias(accs)
    got = kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", np.float32(0.5), zp=0, out_dtype=np.int32,
                                qmin=-2**24, qmax=2**24, bias=bias, path=path)
    exp = [model_requant(v, "float_fp32", np.float32(0.5), 0, -2**24, 2**24) for v in accs]
    assert got[0].tolist() == exp
    assert got[0, :7].tolist() == [0, 2, 2, 0, -2, -2, 4]
    # fl(acc): 2^24 + 1 rounds to 2^24 (tie to even) before the multiply by 1.0
    got = kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", np.float32(1.0), zp=0, out_dtype=np.int32,
                                qmin=-2**24, qmax=2**24, bias=bias, path=path)
    assert got[0, 9] == 2**24


@pytest.mark.parametrize("path", PATHS)
def test_float_fp32_edge_values_and_bit_patterns(path):
    rng = np.random.default_rng(3)
    accs = EDGE_ACCS + rng.integers(-2**31, 2**31, 100).tolist()
    a, b, bias = accs_via_bias(accs)
    mults = float_multipliers(rng, len(accs))
    mults[:6] = np.array([3.4028235e38, -0.0, 1e-45, 2.0**-31, 127.5, 0.0], np.float32)
    for zp, qmin, qmax, dt in ((0, -128, 127, np.int8), (200, 0, 255, np.uint8), (-7, -100, 100, np.int8)):
        got = kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", mults.view(np.uint32), zp=zp, qmin=qmin,
                                    qmax=qmax, out_dtype=dt, bias=bias, path=path)
        exp = [model_requant(v, "float_fp32", mults[j], zp, qmin, qmax) for j, v in enumerate(accs)]
        assert got[0].tolist() == exp


# ---- overflow policies -------------------------------------------------------------------------

def overflow_problem():
    k = 33100          # 33025 * 255^2 fits, 33026 does not
    a = np.full((2, k), 255, np.uint8)
    a[1, ::7] = 0
    b = np.full((k, 3), -128, np.int8)
    b[::5, 1] = 127
    return a, b, 0, np.array([127, 127, -128], np.int32), np.array([0, -5, 2**31 - 1], np.int32)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("policy", ["wrap", "saturate"])
def test_overflow_wrap_and_saturate_count(path, policy):
    a, b, za, zb, bias = overflow_problem()
    acc, cnt = model_accumulate(a, b, za, zb, bias, policy)
    assert cnt.any()
    got, gcnt = kernel.matmul_integer(a, b, za, zb, bias, policy=policy, path=path, return_overflow=True)
    np.testing.assert_array_equal(got, acc)
    np.testing.assert_array_equal(gcnt, cnt)
    assert kernel.last_path_used() == "scalar"   # counting with overflow possible: exact fallback
    got = kernel.matmul_integer(a, b, za, zb, bias, policy=policy, path=path)
    np.testing.assert_array_equal(got, acc)
    if policy == "wrap":
        assert kernel.last_path_used() == path   # wrap without counts: the fast path is exact


@pytest.mark.parametrize("path", PATHS)
def test_overflow_error_names_first_output_and_k(path):
    a, b, za, zb, bias = overflow_problem()
    _, cnt = model_accumulate(a, b, za, zb, bias, "error")
    with pytest.raises(AccumulatorOverflowError) as ei:
        kernel.matmul_integer(a, b, za, zb, bias, policy="error", path=path)
    i, j = divmod(int(np.argmax(cnt.reshape(-1) > 0)), 3)
    s, k_first = 0, None
    for kk in range(a.shape[1]):
        s += (int(a[i, kk]) - za) * (int(b[kk, j]) - int(zb[j]))
        if not I32_MIN <= s <= I32_MAX:
            k_first = kk
            break
    assert (ei.value.i, ei.value.j, ei.value.k) == (i, j, k_first)
    assert f"({i}, {j}, {k_first})" in str(ei.value)


@pytest.mark.parametrize("path", PATHS)
def test_saturate_fast_path_when_overflow_impossible(path):
    rng = np.random.default_rng(5)
    a = rng_matrix(rng, (37, 1000), np.int8, "extreme")
    b = rng_matrix(rng, (1000, 45), np.uint8, "uniform")
    acc, cnt = model_accumulate(a, b, -128, 255, None, "saturate")
    got, gcnt = kernel.matmul_integer(a, b, -128, 255, policy="saturate", path=path, return_overflow=True)
    np.testing.assert_array_equal(got, acc)
    assert not gcnt.any()
    assert kernel.last_path_used() == path


# ---- threads, packing, larger shapes (paths cross-checked against the exact int64 sum) ----------

@pytest.mark.parametrize("shape", [(1, 300, 513), (70, 257, 130), (200, 64, 33), (3, 1000, 2000),
                                   (96, 700, 1100), (8, 4100, 2100)])
def test_threads_packed_and_paths_agree(shape):
    m, k, n = shape
    rng = np.random.default_rng(m * n + k)
    a = rng_matrix(rng, (m, k), np.uint8, "uniform")
    b = rng_matrix(rng, (k, n), np.int8, "uniform")
    zb = rng.integers(-128, 128, n).astype(np.int32)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
    exact = model_wrap32((a.astype(np.int64) - 7) @ (b.astype(np.int64) - zb) + bias)
    mult = float_multipliers(rng, n)
    ref_q = kernel.qlinear_matmul(a, b, 7, zb, "float_fp32", mult, zp=-4, bias=bias, path="scalar", threads=1)
    pb = kernel.PackedB(b)
    if 2 * m * n * k >= 2**27:   # large enough that the wrapper really splits rows or columns
        assert len(kernel._rectangles(m, n, k, 2)) == 2
    for path in PATHS:
        for threads in (1, 2, 3):
            got = kernel.matmul_integer(a, pb, 7, zb, bias, path=path, threads=threads)
            np.testing.assert_array_equal(got, exact)
            q = kernel.qlinear_matmul(a, pb, 7, zb, "float_fp32", mult, zp=-4, bias=bias, path=path,
                                      threads=threads)
            np.testing.assert_array_equal(q, ref_q)
    for i in (0, m - 1):
        for j in (0, n // 2, n - 1):
            assert ref_q[i, j] == model_requant(int(exact[i, j]), "float_fp32", mult[j], -4, -128, 127)


# ---- blocking edges of the SIMD paths ------------------------------------------------------------
# AMX: 32-row blocks with a 16-row tail, 32-column blocks, whole-K accumulation up to K = 1024 and
# 1024-blocks beyond, epilogue overlapped with the next block when a k-block has >= 12 chunks,
# A re-packed per M block (768 KiB); VNNI: the small-M (M <= 4) B-streaming kernel, 64 columns
# per pass with a 32-column tail.  Every combination against the exact int64 sum (int32 output)
# and against the scalar path (requantized output).

BLOCK_SHAPES = [(1, 1024, 100), (3, 1000, 65), (4, 2100, 33), (5, 1024, 64), (16, 1100, 31),
                (17, 1024, 96), (33, 2100, 65), (48, 1030, 40), (65, 960, 70), (800, 1024, 40),
                (40, 4, 70), (37, 3, 33), (20, 64, 64), (1, 0, 40), (70, 1088, 1),
                (800, 1024, 48), (40, 1024, 1700), (3, 4100, 3000)]   # the last three: thread splits


@pytest.mark.parametrize("shape", BLOCK_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_blocking_edges_on_every_path(shape):
    m, k, n = shape
    rng = np.random.default_rng(m * 7919 + k * 31 + n)
    cases = [(np.uint8, np.int8, "uniform"), (np.int8, np.uint8, "uniform"), (np.int8, np.int8, "extreme")]
    for a_dt, b_dt, mode in cases:
        big_a = rng_matrix(rng, (m, k + 3), a_dt, mode)
        a = big_a[:, 1:k + 1]                       # lda > K, odd byte offset
        b = rng_matrix(rng, (k, n), b_dt, mode)
        ai, bi = np.iinfo(a_dt), np.iinfo(b_dt)
        za = int(rng.integers(ai.min, ai.max + 1))
        zb = rng.integers(bi.min, bi.max + 1, n).astype(np.int32)
        bias = rng.integers(-2**31, 2**31, n).astype(np.int32)
        exact = model_wrap32((a.astype(np.int64) - za) @ (b.astype(np.int64) - zb.astype(np.int64)) + bias)
        mult = float_multipliers(rng, n)
        iparams = int_params(rng, n, "tflite_double")
        refs = {}
        lims = {np.uint8: {}, np.int8: {}, np.int32: dict(qmin=-10**6, qmax=10**6)}
        for out_dt in (np.uint8, np.int8, np.int32):
            refs["f", out_dt] = kernel.qlinear_matmul(a, b, za, zb, "float_fp32", mult, zp=3, bias=bias,
                                                      out_dtype=out_dt, path="scalar", **lims[out_dt])
        refs["t"] = kernel.qlinear_matmul(a, b, za, zb, "tflite_double", iparams, zp=-5, bias=bias,
                                          path="scalar")
        pb = kernel.PackedB(b)
        # the 256-bit paths skip the two column-split giants (their blocks: test_kernel_avx2.py)
        for path in [p for p in PATHS if k * n <= 10**6 or p not in ("avx2", "avx_vnni")]:
            for threads in (1, 2):
                for bb in (b, pb):
                    got = kernel.matmul_integer(a, bb, za, zb, bias, path=path, threads=threads)
                    np.testing.assert_array_equal(got, exact)
                for out_dt in (np.uint8, np.int8, np.int32):
                    q = kernel.qlinear_matmul(a, pb, za, zb, "float_fp32", mult, zp=3, bias=bias,
                                              out_dtype=out_dt, path=path, threads=threads, **lims[out_dt])
                    np.testing.assert_array_equal(q, refs["f", out_dt])
                q = kernel.qlinear_matmul(a, pb, za, zb, "tflite_double", iparams, zp=-5, bias=bias,
                                          path=path, threads=threads)
                np.testing.assert_array_equal(q, refs["t"])
        # per-tensor zb = 0 with int8 B: no row sums needed (the other epilogue branch)
        got = kernel.matmul_integer(a, pb if b_dt == np.int8 else b, za, 0, None)
        np.testing.assert_array_equal(got, model_wrap32((a.astype(np.int64) - za) @ (b.astype(np.int64))))


@pytest.mark.parametrize("m", [1, 2, 3, 12, 13, 25, 40])
def test_eight_bit_epilogue_without_row_sums_on_every_path(m):
    # zb = 0 with int8 B (or 128 with uint8 B) needs no row sums; float_fp32 with 8-bit output then
    # packs two whole 32-byte rows per step (csrc/requant_avx512.c): odd M leaves one row to the
    # row-at-a-time code, N = 48 a 16-column block.  Against the independent model.
    rng = np.random.default_rng(m)
    for n in (32, 64, 48, 96):
        for a_dt, b_dt, zb in ((np.uint8, np.int8, 0), (np.int8, np.int8, 0), (np.uint8, np.uint8, 128)):
            a = rng_matrix(rng, (m, 200), a_dt, "uniform")
            b = rng_matrix(rng, (200, n), b_dt, "uniform")
            za = int(rng.integers(np.iinfo(a_dt).min, np.iinfo(a_dt).max + 1))
            bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
            acc, _ = model_accumulate(a, b, za, zb, bias, "wrap")
            mult = float_multipliers(rng, n)
            mult[mult == 0] = 2.0**-12
            for out_dt, qmin, qmax in ((np.uint8, 0, 255), (np.int8, -128, 127), (np.uint8, 3, 250),
                                       (np.int8, -100, 90)):
                zp = int(rng.integers(qmin, qmax + 1))
                expect = model_qlinear(acc, "float_fp32", mult, True, zp, qmin, qmax)
                for path in PATHS:
                    got = kernel.qlinear_matmul(a, kernel.PackedB(b), za, zb, "float_fp32", mult, zp=zp,
                                                qmin=qmin, qmax=qmax, bias=bias, out_dtype=out_dt, path=path)
                    np.testing.assert_array_equal(got.astype(np.int64), expect, err_msg=f"{path} {out_dt} N={n}")


def test_blocks_finished_by_the_micro_kernel_equal_the_model():
    """uint8 A read in place with no row sums (zb = 0, int8 B): the VNNI micro-kernel starts from
    the column correction and writes each whole 32-column block of C itself (int32 as is, 8-bit by
    the two-row saturating packs; csrc/gemm_vnni.c, rq_fuse).  Every block height 5..12 (M = 5..28
    splits into near-equal blocks), an odd last row, a 32-column block cut by a thread's rectangle
    (N = 40, 2 threads), narrowed output ranges and zp at +-256 (fused) and +-257 (not)."""
    rng = np.random.default_rng(23)
    for m in range(5, 29):
        k = 4 * int(rng.integers(1, 40))
        for n in (32, 40, 64):
            a = rng_matrix(rng, (m, k), np.uint8, "uniform")
            b = rng_matrix(rng, (k, n), np.int8, "uniform")
            za = int(rng.integers(0, 256))
            bias = rng.integers(-2**24, 2**24, n).astype(np.int32)
            acc, _ = model_accumulate(a, b, za, 0, bias, "wrap")
            mult = float_multipliers(rng, n)
            pb = kernel.PackedB(b)
            for threads in (1, 2):
                np.testing.assert_array_equal(kernel.matmul_integer(a, pb, za, 0, bias, threads=threads), acc)
                for out_dt, qmin, qmax, zp in ((np.uint8, 0, 255, 256), (np.int8, -128, 127, -256),
                                               (np.uint8, 3, 250, int(rng.integers(0, 256))),
                                               (np.int8, -100, 90, 257), (np.uint8, 0, 255, -257)):
                    expect = model_qlinear(acc, "float_fp32", mult, True, zp, qmin, qmax)
                    op = kernel.QLinearMatMul(pb, za, 0, "float_fp32", mult, zp=zp, qmin=qmin, qmax=qmax, bias=bias,
                                              out_dtype=out_dt, threads=threads)
                    np.testing.assert_array_equal(op(a).astype(np.int64), expect,
                                                  err_msg=f"M={m} K={k} N={n} {out_dt} zp={zp} thr={threads}")


def test_eight_bit_epilogue_zero_points_beyond_the_output_type():
    # The two-row 8-bit float_fp32 epilogue (csrc/requant_avx512.c) clamps only above in float and
    # adds zp with 16-bit saturation after the first pack, then clamps below on the bytes, for
    # |zp| <= 256; other zp take the float clamps.  Multipliers up to 2^12 push v past int16 and
    # past int32 both ways (the conversion's INT32_MIN below); zp at, inside and past +-256.
    rng = np.random.default_rng(11)
    m, k, n = 6, 64, 64
    a = rng_matrix(rng, (m, k), np.uint8, "uniform")
    b = rng_matrix(rng, (k, n), np.int8, "uniform")
    bias = rng.integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    acc, _ = model_accumulate(a, b, 0, 0, bias, "wrap")
    mult = (2.0 ** rng.integers(-40, 13, n)).astype(np.float32)
    for out_dt in (np.uint8, np.int8):
        lo, hi = int(np.iinfo(out_dt).min), int(np.iinfo(out_dt).max)
        for zp in (-70000, -40000, -257, -256, -255, -128, -1, 0, 1, 127, 255, 256, 257, 1000, 40000, 70000):
            for qmin, qmax in ((lo, hi), (lo + 7, hi), (lo, hi - 9), (lo + 50, lo + 60)):
                expect = model_qlinear(acc, "float_fp32", mult, True, zp, qmin, qmax)
                for path in PATHS:
                    got = kernel.qlinear_matmul(a, kernel.PackedB(b), 0, 0, "float_fp32", mult, zp=zp,
                                                qmin=qmin, qmax=qmax, bias=bias, out_dtype=out_dt, path=path)
                    np.testing.assert_array_equal(got.astype(np.int64), expect,
                                                  err_msg=f"{path} {out_dt} zp={zp} [{qmin}, {qmax}]")


def test_packed_buffer_alignment_and_zeros():
    # csrc's packed layout wants 64-byte lines and zero padding; from 2 MiB up the buffer starts
    # on a 2 MiB boundary (advised for huge pages where the OS has them: values never depend on it)
    from refquant.kernel._gemm import HUGE_PAGE, packed_buffer
    for nbytes, align in ((1, 64), (4096, 64), (HUGE_PAGE - 1, 64), (HUGE_PAGE, HUGE_PAGE), (5 * HUGE_PAGE + 3, HUGE_PAGE)):
        buf = packed_buffer(nbytes)
        assert buf.dtype == np.int8 and buf.size == nbytes and buf.flags.writeable
        if nbytes >= HUGE_PAGE and hasattr(__import__("mmap"), "MADV_HUGEPAGE"):
            assert buf.ctypes.data % align == 0
        assert buf.ctypes.data % 64 == 0 and not buf.any()
        buf[-1] = 7   # writable to its last byte
    b = rng_matrix(np.random.default_rng(5), (2100, 1100), np.int8, "uniform")   # 2.3 MB packed
    a = rng_matrix(np.random.default_rng(6), (9, 2100), np.uint8, "uniform")
    want = model_wrap32(a.astype(np.int64) @ b.astype(np.int64))
    np.testing.assert_array_equal(kernel.matmul_integer(a, kernel.PackedB(b), 0, 0), want)


def test_split_rectangles_cover_the_output():
    for m, n, k, t in [(1024, 1024, 1024, 2), (128, 11008, 4096, 2), (32, 4096, 4096, 2),
                       (1, 4096, 4096, 2), (2048, 64, 2048, 2), (100, 100, 10000, 3)]:
        rects = kernel._rectangles(m, n, k, t)
        cover = np.zeros((m, n), np.int32)
        for r0, r1, c0, c1 in rects:
            cover[r0:r1, c0:c1] += 1
        assert (cover == 1).all()
    assert kernel._rectangles(128, 11008, 4096, 2)[0][:2] == (0, 128)     # N split: each reads half of B
    assert kernel._rectangles(2048, 64, 2048, 2)[0][2:] == (0, 64)        # M split


def test_env_var_forces_path(monkeypatch):
    a = np.ones((64, 64), np.int8)
    for path in PATHS:
        monkeypatch.setenv("REFQUANT_KERNEL_PATH", path)
        kernel.matmul_integer(a, a)
        assert kernel.last_path_used() == path
    monkeypatch.setenv("REFQUANT_KERNEL_PATH", "bogus")
    with pytest.raises(UnknownNameError):
        kernel.matmul_integer(a, a)
    monkeypatch.setenv("REFQUANT_KERNEL_PATH", "auto")
    kernel.matmul_integer(a, a)
    assert kernel.last_path_used() == PATHS[-1]
    # the one-shot call on a PackedB reads the variable on every call (its kept ops are per path)
    pb = kernel.PackedB(a)
    for path in PATHS + ["auto"]:
        monkeypatch.setenv("REFQUANT_KERNEL_PATH", path)
        kernel.matmul_integer(a, pb)
        assert kernel.last_path_used() == (PATHS[-1] if path == "auto" else path)
    monkeypatch.setenv("REFQUANT_KERNEL_PATH", "")
    with pytest.raises(UnknownNameError):
        kernel.matmul_integer(a, pb)


def test_environment_reader_equals_os_environ_get(monkeypatch):
    from refquant.kernel import _lib
    read = _lib._env_reader("REFQUANT_TEST_ENV_READER")
    monkeypatch.delenv("REFQUANT_TEST_ENV_READER", raising=False)
    assert read() is None
    for value in ("vnni", "", "é ü", "a=b"):
        monkeypatch.setenv("REFQUANT_TEST_ENV_READER", value)
        assert read() == os.environ.get("REFQUANT_TEST_ENV_READER") == value
    monkeypatch.delenv("REFQUANT_TEST_ENV_READER")
    assert read() is None


# ---- bad input -----------------------------------------------------------------------------------

def good():
    a = np.zeros((4, 8), np.int8)
    b = np.zeros((8, 5), np.int8)
    return a, b


def test_bad_dtypes_and_shapes():
    a, b = good()
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a.astype(np.int16), b)
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a, b.astype(np.float32))
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a.tolist(), b)
    with pytest.raises(ShapeError):
        kernel.matmul_integer(a, b[:7])
    with pytest.raises(ShapeError):
        kernel.matmul_integer(a[0], b)
    with pytest.raises(ShapeError):
        kernel.matmul_integer(a, b, zb=np.zeros(4, np.int32))
    with pytest.raises(ShapeError):
        kernel.matmul_integer(a, b, bias=np.zeros(6, np.int32))
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a, b, bias=np.zeros(5, np.float32))
    with pytest.raises(UnknownNameError):
        kernel.matmul_integer(a, b, policy="clamp")
    with pytest.raises(UnknownNameError):
        kernel.qlinear_matmul(a, b, 0, 0, "tflite", (1, 0))
    with pytest.raises(UnknownNameError):
        kernel.matmul_integer(a, b, path="neon")
    with pytest.raises(InvalidValueError):
        kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", 0.1, out_dtype=np.int16)


def test_non_contiguous_and_misaligned_views():
    rng = np.random.default_rng(1)
    a = rng_matrix(rng, (6, 20), np.int8, "uniform")
    b = rng_matrix(rng, (10, 7), np.int8, "uniform")
    with pytest.raises(InvalidValueError, match="unit stride"):
        kernel.matmul_integer(a[:, ::2], b)
    with pytest.raises(InvalidValueError, match="unit stride"):
        kernel.matmul_integer(a[:, :10], np.asfortranarray(b))
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a[::-1, :10], b)
    # odd byte offsets: int8 views need no alignment and work
    raw = np.zeros(6 * 21 + 1, np.int8)
    view = raw[1:].reshape(6, 21)[:, 1:11]
    view[...] = a[:, :10]
    exact = a[:, :10].astype(np.int64) @ b.astype(np.int64)
    for path in PATHS:
        np.testing.assert_array_equal(kernel.matmul_integer(view, b, path=path), exact)
    # a misaligned int32 bias view is copied to aligned memory, never read unaligned
    buf = np.zeros(4 * 7 + 1, np.uint8)
    bias = buf[1:].view(np.int32)
    assert not bias.flags.aligned
    bias[:] = np.arange(7) * 1000 - 3000
    for path in PATHS:
        np.testing.assert_array_equal(kernel.matmul_integer(a[:, :10], b, bias=bias, path=path),
                                      exact + bias.astype(np.int64))


def test_zero_size_dims():
    for m, k, n in ((0, 5, 3), (4, 5, 0), (0, 0, 0)):
        out, cnt = kernel.matmul_integer(np.zeros((m, k), np.int8), np.zeros((k, n), np.int8),
                                         return_overflow=True)
        assert out.shape == cnt.shape == (m, n)
    # K = 0: the empty sum, then the bias step and requantization
    bias = np.array([5, -7, 2**31 - 1], np.int32)
    for path in PATHS:
        got = kernel.matmul_integer(np.zeros((2, 0), np.int8), np.zeros((0, 3), np.uint8), 3, 9,
                                    bias=bias, path=path)
        np.testing.assert_array_equal(got, np.broadcast_to(bias, (2, 3)))
        q = kernel.qlinear_matmul(np.zeros((2, 0), np.int8), np.zeros((0, 3), np.uint8), 3, 9,
                                  "tosa_single", (2**30, 31), zp=1, bias=bias, path=path)
        assert q.tolist() == [[4, -2, 127]] * 2


def test_parameter_domains():
    a, b = good()
    bad = [
        dict(za=128), dict(za=-129), dict(zb=256), dict(zb=np.array([0, 0, 0, 0, 300], np.int32)),
    ]
    for kw in bad:
        with pytest.raises(InvalidValueError):
            kernel.matmul_integer(a, b, **kw)
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a.view(np.uint8), b, za=-1)
    with pytest.raises(InvalidValueError):
        kernel.matmul_integer(a, b, za=1.5)
    cases = [
        ("tflite_double", (2**31, 0)), ("tflite_double", (-1, 0)), ("tflite_single", (5, 31)),
        ("tflite_single", (5, -32)), ("tosa_single", (5, 1)), ("tosa_double", (5, 63)),
        ("tosa_single", (np.array([1, 2, 3], np.int32), 10)), ("tosa_single", 5),
        ("tosa_single", (np.array([1.0] * 5), 10)),
        ("float_fp32", np.float32(np.inf)), ("float_fp32", np.float32(np.nan)), ("float_fp32", 0.1),
        ("float_fp32", np.int32(3)), ("float_fp32", np.zeros(4, np.float32)),
    ]
    for method, params in cases:
        with pytest.raises((InvalidValueError, ShapeError)):
            kernel.qlinear_matmul(a, b, 0, 0, method, params)
    with pytest.raises(InvalidValueError):
        kernel.qlinear_matmul(a, b, 0, 0, "tosa_single", (5, 10), qmin=10, qmax=9)
    with pytest.raises(InvalidValueError):
        kernel.qlinear_matmul(a, b, 0, 0, "tosa_single", (5, 10), qmin=-200)
    with pytest.raises(InvalidValueError):
        kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", np.float32(1), zp=2**25, out_dtype=np.int32,
                              qmin=0, qmax=10)
    with pytest.raises(InvalidValueError):
        kernel.qlinear_matmul(a, b, 0, 0, "int32", None, out_dtype=np.int8)
    assert issubclass(AccumulatorOverflowError, RefquantError)


# The oracle's float methods take M_j finite and >= 0 (refquant.requant: "M must be a nonnegative
# finite binary32 value"); -0.0 is the value 0 there.  Bit patterns the oracle refuses:
REFUSED_M_BITS = (0xbf800000, 0x80000001, 0xff7fffff, 0xff800000, 0x7f800000, 0x7fc00000, 0xffc00000)


@pytest.mark.parametrize("bits", REFUSED_M_BITS, ids=hex)
def test_float_multiplier_refused_where_the_oracle_refuses_it(bits):
    from refquant import requant
    from refquant._kernel import ffi, lib
    with pytest.raises(InvalidValueError):
        requant.params_from_kernel("float_fp32", M_bits=[bits])
    a, b = good()
    mf = np.array([bits], np.uint32).view(np.float32)
    label = f"0x{bits:08x}"
    for params in (mf[0], np.uint32(bits)):   # per tensor: float32, or its bit pattern
        with pytest.raises(InvalidValueError, match=rf"^multiplier = .*\(bits {label}\) must be a finite binary32 value >= 0"):
            kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", params)
    per_channel = np.full(5, 0.5, np.float32)
    per_channel[3] = mf[0]
    for params in (per_channel, per_channel.view(np.uint32), per_channel.astype(np.float64)):
        with pytest.raises(InvalidValueError, match=rf"^multiplier\[3\] = .*\(bits {label}\)"):
            kernel.qlinear_matmul(a, b, 0, 0, "float_fp32", params)
    with pytest.raises(InvalidValueError, match=rf"multiplier\[3\] = .*\(bits {label}\)"):
        kernel.QLinearMatMul(b, 0, 0, "float_fp32", per_channel, a_dtype=np.int8)
    # the C check itself (a C caller has no Python check in front of it)
    out = ffi.new("int32_t *")
    assert lib.rq_requant_one(100, lib.RQ_FLOAT_FP32, float(mf[0]), 0, 0, 0, -128, 127, out) == lib.RQ_E_PARAM
    c = np.zeros((4, 5), np.int8)
    g = ffi.new("rq_gemm *")
    g.m, g.n, g.k = 4, 5, 8
    g.a, g.a_type, g.lda = ffi.from_buffer(a), lib.RQ_I8, 8
    g.b, g.b_type, g.ldb = ffi.from_buffer(b), lib.RQ_I8, 5
    g.method, g.per_channel, g.qmin, g.qmax = lib.RQ_FLOAT_FP32, 1, -128, 127
    g.c, g.c_type, g.ldc = ffi.from_buffer(c), lib.RQ_I8, 5
    keep = np.full(5, 0.5, np.float32)
    g.multiplier_f32 = ffi.cast("float *", ffi.from_buffer(keep))
    assert lib.rq_gemm_run(g) == lib.RQ_OK
    keep[3] = mf[0]
    assert lib.rq_gemm_run(g) == lib.RQ_E_PARAM


@pytest.mark.parametrize("path", PATHS)
def test_float_multiplier_zero_and_negative_zero_accepted_like_the_oracle(path):
    from refquant import ops, requant
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (5, 70), dtype=np.uint8)
    b = rng.integers(-128, 128, (70, 33), dtype=np.int8)
    bits = np.where(np.arange(33) % 2 == 0, 0x80000000, 0).astype(np.uint32)   # -0.0 and +0.0
    bits[5] = 0x3a800000   # 2^-10, so not every column is zp
    params = requant.params_from_kernel("float_fp32", M_bits=bits.tolist())
    acc = ops.matmul_integer(a.tolist(), b.tolist(), 3, 0, a_type="uint8", b_type="int8")
    want = requant.requantize(acc, "float_fp32", params, 7, "int8")
    got = kernel.qlinear_matmul(a, b, 3, 0, "float_fp32", bits, zp=7, path=path)
    assert got.tolist() == want
    assert set(got[:, 0].tolist()) == {7} and set(got[:, 1].tolist()) == {7}


def test_c_functions_check_arguments_directly():
    from refquant._kernel import ffi, lib
    g = ffi.new("rq_gemm *")
    assert lib.rq_gemm_run(ffi.NULL) == lib.RQ_E_NULL
    assert lib.rq_gemm_run(g) == lib.RQ_E_DIM
    a = np.zeros((2, 3), np.int8)
    c = np.zeros((2, 2), np.int32)
    g.m, g.n, g.k = 2, 2, 3
    g.a, g.a_type, g.lda = ffi.from_buffer(a), lib.RQ_I8, 3
    g.c, g.c_type, g.ldc = ffi.from_buffer(c), lib.RQ_I32, 2
    assert lib.rq_gemm_run(g) == lib.RQ_E_NULL        # no B
    g.b, g.b_type, g.ldb = ffi.from_buffer(a), lib.RQ_I8, 1
    assert lib.rq_gemm_run(g) == lib.RQ_E_LD
    g.ldb = 2
    g.lda = 2
    assert lib.rq_gemm_run(g) == lib.RQ_E_LD
    g.lda = 3
    g.b_type = 7
    assert lib.rq_gemm_run(g) == lib.RQ_E_TYPE
    g.b_type = lib.RQ_I8
    g.za = 200
    assert lib.rq_gemm_run(g) == lib.RQ_E_PARAM
    g.za = 0
    g.policy = 9
    assert lib.rq_gemm_run(g) == lib.RQ_E_POLICY
    g.policy = lib.RQ_WRAP
    g.method = lib.RQ_TOSA_SINGLE
    assert lib.rq_gemm_run(g) == lib.RQ_E_NULL         # multiplier/shift arrays missing
    g.c_type = lib.RQ_I32
    g.row_begin, g.row_end = 1, 5
    g.method = lib.RQ_INT32
    assert lib.rq_gemm_run(g) == lib.RQ_E_RANGE
    g.row_begin, g.row_end = 0, 0
    assert lib.rq_gemm_run(g) == lib.RQ_OK
    out = ffi.new("int32_t *")
    assert lib.rq_requant_one(5, lib.RQ_TOSA_SINGLE, 0.0, -1, 10, 0, -128, 127, out) == lib.RQ_E_PARAM
    assert lib.rq_requant_one(5, lib.RQ_TOSA_SINGLE, 0.0, 2**30, 31, 0, -128, 127, out) == lib.RQ_OK
    assert out[0] == 3
    assert lib.rq_requant_one(-5, lib.RQ_TOSA_SINGLE, 0.0, 2**30, 31, 0, -128, 127, out) == lib.RQ_OK
    assert out[0] == -2


def _libm():
    name = ctypes.util.find_library("m")
    return ctypes.CDLL(name) if name else None


def test_float_steps_need_round_to_nearest():
    """The default rounding mode is RNE; under any other mode float_fp32 is refused, not approximated."""
    from refquant._kernel import ffi, lib
    libm = _libm()
    if libm is None:
        pytest.skip("libm not found")
    FE_UPWARD = 0x800   # x86 / glibc
    out = ffi.new("int32_t *")
    assert lib.rq_requant_one(3, lib.RQ_FLOAT_FP32, 0.5, 0, 0, 0, -128, 127, out) == lib.RQ_OK
    assert out[0] == 2
    old = libm.fegetround()
    try:
        assert libm.fesetround(FE_UPWARD) == 0
        rc = lib.rq_requant_one(3, lib.RQ_FLOAT_FP32, 0.5, 0, 0, 0, -128, 127, out)
    finally:
        libm.fesetround(old)
    assert rc == lib.RQ_E_FPENV


def test_import_without_extension():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'refquant._kernel': raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import refquant.kernel as k\n"
            "assert k.available() is False and k.paths() == []\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"

# The comparison against the oracle (refquant.ops / requant) lives in tests/test_twin.py.


# ---- the prepared op -------------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_prepared_op_equals_qlinear_matmul(method):
    rng = np.random.default_rng(len(method))
    for m, k, n, a_dt, b_dt in [(37, 150, 70, np.uint8, np.int8), (3, 1030, 33, np.int8, np.uint8),
                                (64, 1024, 96, np.uint8, np.uint8), (130, 64, 2100, np.int8, np.int8)]:
        a = rng_matrix(rng, (m, k), a_dt, "uniform")
        b = rng_matrix(rng, (k, n), b_dt, "uniform")
        bi = np.iinfo(b_dt)
        zb = rng.integers(bi.min, bi.max + 1, n).astype(np.int32)
        bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
        za = 5 if a_dt == np.uint8 else -3
        out_dt = np.int32 if method == "int32" else np.int8
        if method == "float_fp32":
            params = float_multipliers(rng, n)
        elif method == "int32":
            params = None
        else:
            params = int_params(rng, n, method)
        for policy in ("wrap", "saturate", "error"):
            for threads in (1, 2):
                kw = dict(zp=2, bias=bias, policy=policy, threads=threads) if method != "int32" else \
                    dict(bias=bias, policy=policy, threads=threads)
                if method == "int32":
                    want = kernel.matmul_integer(a, b, za, zb, bias, policy, threads=threads)
                else:
                    want = kernel.qlinear_matmul(a, b, za, zb, method, params, out_dtype=out_dt, **kw)
                op = kernel.QLinearMatMul(b, za, zb, method, params, out_dtype=out_dt, a_dtype=a_dt, **kw)
                np.testing.assert_array_equal(op(a), want)
                np.testing.assert_array_equal(op(a[1:]), want[1:])          # another M, offset view
                first = kernel.last_path_used()
                wide = np.zeros((m, k + 5), a_dt)
                wide[:, 2:k + 2] = a
                np.testing.assert_array_equal(op(wide[:, 2:k + 2]), want)   # lda > K, unaligned
                assert kernel.last_path_used() == first                     # a plan's recorded path
                assert op.shape == (k, n)


@pytest.mark.parametrize("m,k,n", [(5, 64, 40), (12, 4096, 33), (13, 1000, 16), (30, 4096, 70), (128, 256, 96)])
def test_a_rows_on_a_4096_byte_stride_are_restrided_exactly(m, k, n):
    """uint8 A whose row stride is a multiple of 4096 bytes (its rows share an L1 set): the VNNI
    driver copies each M block to a stride of K + 64 (csrc/gemm_vnni.c, rq_restride_u8); the
    result equals the scalar path, with and without row sums (zb = 0 and zb != 0)."""
    rng = np.random.default_rng(m * 131 + k + n)
    for width in (4096, 8192):
        wide = rng_matrix(rng, (m, width), np.uint8, "uniform")
        a = wide[:, :k]
        b = rng_matrix(rng, (k, n), np.int8, "uniform")
        mult = float_multipliers(rng, n)
        bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
        for za, zb in ((0, 0), (7, rng.integers(-128, 128, n).astype(np.int32))):
            want_i = kernel.matmul_integer(a, b, za, zb, bias, path="scalar")
            want_q = kernel.qlinear_matmul(a, b, za, zb, "float_fp32", mult, zp=3, bias=bias, out_dtype=np.uint8,
                                           path="scalar")
            for path in PATHS:
                for threads in (1, 2):
                    np.testing.assert_array_equal(kernel.matmul_integer(a, b, za, zb, bias, path=path,
                                                                        threads=threads), want_i)
                    op = kernel.QLinearMatMul(b, za, zb, "float_fp32", mult, zp=3, bias=bias, out_dtype=np.uint8,
                                              path=path, threads=threads)
                    np.testing.assert_array_equal(op(a), want_q)


def test_prepared_op_keeps_its_own_parameters_and_checks_a():
    rng = np.random.default_rng(3)
    a = rng_matrix(rng, (40, 300), np.uint8, "uniform")
    b = rng_matrix(rng, (300, 50), np.int8, "uniform")
    mult = float_multipliers(rng, 50)
    zb = rng.integers(-128, 128, 50).astype(np.int32)
    bias = rng.integers(-2**20, 2**20, 50).astype(np.int32)
    want = kernel.qlinear_matmul(a, b, 7, zb, "float_fp32", mult, zp=1, bias=bias)
    a8 = (a // 2).astype(np.int8)
    want8 = kernel.qlinear_matmul(a8, b, 7, zb, "float_fp32", mult, zp=1, bias=bias)
    op = kernel.QLinearMatMul(b, 7, zb, "float_fp32", mult, zp=1, bias=bias)
    for arr in (mult, zb, bias, b):                                   # the op copied / packed them
        arr[:] = 0
    np.testing.assert_array_equal(op(a), want)
    wide = np.zeros((40, 301), np.uint8)
    wide[:, :300] = a
    np.testing.assert_array_equal(op(wide[:, :300]), want)            # lda > K
    np.testing.assert_array_equal(op(np.asfortranarray(a)[:0]), want[:0])
    np.testing.assert_array_equal(op(a8), want8)                      # not a_dtype: the general path
    with pytest.raises(ShapeError):
        op(a[:, :299])
    with pytest.raises(InvalidValueError):
        op(np.asfortranarray(a))
    with pytest.raises(InvalidValueError):
        kernel.QLinearMatMul(b, 300, 0, "float_fp32", np.float32(1.0))        # za outside uint8
    with pytest.raises(InvalidValueError):
        kernel.QLinearMatMul(b, 0, 0, "float_fp32", np.float32(1.0), a_dtype=np.int32)
    with pytest.raises(UnknownNameError):
        kernel.QLinearMatMul(b, 0, 0, "nope", None)
    with pytest.raises(ShapeError):
        kernel.QLinearMatMul(b, 0, 0, "float_fp32", np.ones(3, np.float32))
    big = np.full((2, 33100), 255, np.uint8)
    bb = np.full((33100, 3), -128, np.int8)
    op = kernel.QLinearMatMul(bb, 0, 127, "int32", policy="error")
    with pytest.raises(AccumulatorOverflowError):
        op(big)


@pytest.mark.parametrize("method", ["int32", "float_fp32"])
def test_prepared_op_with_policy_error_builds_whatever_a_zero_row_would_do(method):
    """Building the op checks its arguments; it runs no GEMM.  (It used to run one on a row of
    zeros, so an op whose zero row overflows under 'error' could not be built at all.)"""
    b = np.ones((4, 1), np.int8)
    bias = np.array([I32_MAX], np.int32)     # a row of zeros: (0 - za) * 1 * 4 + bias overflows
    params = np.float32(0.5) if method == "float_fp32" else None
    out_dt = np.int32 if method == "int32" else np.int8
    op = kernel.QLinearMatMul(b, -1, 0, method, params, bias=bias, policy="error", out_dtype=out_dt,
                              a_dtype=np.int8)
    a = np.full((2, 4), -1, np.int8)          # a - za = 0: the accumulator is the bias
    want = kernel.qlinear_matmul(a, b, -1, 0, method, params, bias=bias, policy="error", out_dtype=out_dt)
    np.testing.assert_array_equal(op(a), want)
    with pytest.raises(AccumulatorOverflowError, match=r"\(0, 0, 4\) \(the bias step\)"):
        op(np.zeros((1, 4), np.int8))



# ---- one-shot calls on a PackedB reuse a prepared op (refquant/kernel/_gemm.py: oneshot) -----------

def test_one_shot_on_a_packed_b_reuses_an_op_only_for_the_same_arguments():
    """A PackedB keeps the prepared ops of its recent argument sets; an argument changed in place
    (bytes, dtype or shape), a new value or a new array gives the exact result of the new
    arguments, and every error is the one-shot call's own."""
    import weakref
    rng = np.random.default_rng(15)
    a = rng_matrix(rng, (20, 72), np.uint8, "uniform")
    b = rng_matrix(rng, (72, 40), np.int8, "uniform")
    pb = kernel.PackedB(b)
    mult = float_multipliers(rng, 40)
    zb = rng.integers(-128, 128, 40).astype(np.int32)
    bias = rng.integers(-2**20, 2**20, 40).astype(np.int32)

    def fresh():   # the same call on a raw B: never reuses anything
        return kernel.qlinear_matmul(a, b, 3, zb, "float_fp32", mult, zp=1, bias=bias, out_dtype=np.uint8)

    def cached():
        return kernel.qlinear_matmul(a, pb, 3, zb, "float_fp32", mult, zp=1, bias=bias, out_dtype=np.uint8)

    np.testing.assert_array_equal(cached(), fresh())
    np.testing.assert_array_equal(cached(), fresh())                 # the kept op
    assert len(pb._oneshot) == 1
    for arr, i, v in ((mult, 5, np.float32(0.75)), (zb, 7, 11), (bias, 0, -5)):
        arr[i] = v                                                  # changed in place: checked again
        np.testing.assert_array_equal(cached(), fresh())
    mult[3] = np.float32(-1.0)                                      # now out of the domain
    with pytest.raises(InvalidValueError, match=r"multiplier\[3\]"):
        cached()
    mult[3] = np.float32(0.5)
    zb[1] = 200                                                     # outside int8
    with pytest.raises(InvalidValueError, match="zb"):
        cached()
    zb[1] = 0
    np.testing.assert_array_equal(kernel.qlinear_matmul(a, pb, 3, zb, "float_fp32", mult.copy(), zp=1, bias=bias,
                                                        out_dtype=np.uint8), fresh())
    for za in (np.int64(3), 4, np.uint8(4)):
        np.testing.assert_array_equal(kernel.matmul_integer(a, pb, za, zb, bias),
                                      kernel.matmul_integer(a, b, za, zb, bias))
    assert len(pb._oneshot) <= 4                                     # ONESHOT_KEPT
    with pytest.raises(ShapeError):                                  # A's own errors, from the kept op
        kernel.matmul_integer(a[:, :71], pb, 4, zb, bias)
    with pytest.raises(InvalidValueError, match="300"):
        kernel.matmul_integer(a, pb, 300, zb, bias)
    with pytest.raises(InvalidValueError, match="int32 output"):
        kernel.qlinear_matmul(a, pb, 4, zb, "int32", None, bias=bias)
    np.testing.assert_array_equal(kernel.matmul_integer(a.view(np.int8), pb, 4, zb, bias),
                                  kernel.matmul_integer(a.view(np.int8), b, 4, zb, bias))
    m0 = np.float32(0.5)
    q_pos = kernel.qlinear_matmul(a, pb, 3, 0, "float_fp32", m0, out_dtype=np.int32, qmin=-9, qmax=9)
    q_neg = kernel.qlinear_matmul(a, pb, 3, 0, "float_fp32", -np.float32(0.0), out_dtype=np.int32, qmin=-9,
                                  qmax=9)
    np.testing.assert_array_equal(q_pos, kernel.qlinear_matmul(a, b, 3, 0, "float_fp32", m0, out_dtype=np.int32,
                                                               qmin=-9, qmax=9))
    np.testing.assert_array_equal(q_neg, np.zeros_like(q_neg))
    pb2 = kernel.PackedB(b)
    np.testing.assert_array_equal(kernel.matmul_integer(a, pb2, 3, zb, bias), kernel.matmul_integer(a, b, 3, zb, bias))
    assert len(pb2._oneshot) == 1
    ref = weakref.ref(pb2)
    del pb2
    assert ref() is None                              # freed by its reference count: no cycle keeps B



@pytest.mark.parametrize("a_dt", [np.uint8, np.int8])
def test_large_int32_output_written_with_streaming_stores_is_exact(a_dt):
    """An int32 C of >= 4 MiB with N % 16 == 0 is allocated on a 64-byte boundary and written
    with non-temporal stores (csrc/requant_avx512.c); N % 32 == 16 leaves a 16-column last
    block (plain masked stores), M % 12 a short last row block.  Exact against numpy, 1 and 2
    threads, one-shot and prepared, uint8 A read in place and int8 A packed."""
    from refquant.kernel._gemm import STREAM_BYTES
    rng = np.random.default_rng(16)
    m, k, n = 1030, 68, 1040
    assert m * n * 4 >= STREAM_BYTES
    a = rng_matrix(rng, (m, k), a_dt, "uniform")
    b = rng_matrix(rng, (k, n), np.int8, "uniform")
    zb = rng.integers(-128, 128, n).astype(np.int32)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
    want = ((a.astype(np.int64) - 3) @ (b.astype(np.int64) - zb) + bias).astype(np.int32)
    for path in [p for p in ("vnni", "amx") if p in kernel.paths()] or [None]:   # the paths that stream
        op = kernel.QLinearMatMul(b, 3, zb, "int32", bias=bias, a_dtype=a_dt, threads=2, path=path)
        for got in (kernel.matmul_integer(a, b, 3, zb, bias, threads=1, path=path),
                    kernel.matmul_integer(a, b, 3, zb, bias, path=path), op(a), op(a[:-1])):
            assert got.ctypes.data % 64 == 0
            assert kernel.last_path_used() == (path or kernel.last_path_used())
            np.testing.assert_array_equal(got, want[:got.shape[0]])

# ---- the C thread pool (rq_gemm_run_many) ------------------------------------------------------------

def test_concurrent_callers_and_fork():
    """Calls from several Python threads at once (the pool is busy: a caller then runs its
    rectangles itself) and from a forked child (which starts with an empty pool) stay exact."""
    import threading
    rng = np.random.default_rng(11)
    a = rng_matrix(rng, (300, 700), np.uint8, "uniform")
    b = rng_matrix(rng, (700, 400), np.int8, "uniform")
    want = kernel.matmul_integer(a, b, 9, 0, threads=1)
    assert len(kernel._rectangles(300, 400, 700, 2)) == 2
    got, errors = [], []
    op = kernel.QLinearMatMul(b, 9, 0, "int32", threads=2)   # one op shared by the threads

    def worker():
        try:
            for _ in range(5):
                got.append(kernel.matmul_integer(a, b, 9, 0, threads=2))
                got.append(op(a))
                got.append(op(a[:299])[:299])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    ts = [threading.Thread(target=worker) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors and len(got) == 45
    for g in got:
        np.testing.assert_array_equal(g, want[:len(g)])
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            ok = bool((kernel.matmul_integer(a, b, 9, 0, threads=2) == want).all())
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.read(r, 1) == b"1" and status == 0
    os.close(r)
