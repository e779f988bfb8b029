"""The small-M kernel (csrc/gemv_vnni.c: M = 1..4, B streamed once, 64 columns per pass with a
32-column tail) and the per-column plan (csrc/gemm.c: a rectangle's plan holds only its own
columns) against the scalar path and the exact int64 sum, on every path this CPU has.

Every method x policy, int8/uint8 A and B, per-channel and per-tensor zb (with and without the row
sums the epilogue needs), bias, float multipliers near ties, N around the 16/32/64-column edges,
and column rectangles that start inside a 32-column block (what a thread of a split call runs).
"""
import numpy as np
import pytest

from refquant import kernel
from refquant.kernel import _gemm, _threads

from test_kernel import INT_METHODS, float_multipliers, int_params, model_wrap32, rng_matrix

pytestmark = pytest.mark.skipif(not kernel.available(), reason="refquant._kernel not built")

PATHS = kernel.paths()
NS = (1, 16, 17, 31, 32, 33, 63, 64, 65, 96, 97, 130)


def _exact(a, b, za, zb, bias):
    s = (a.astype(np.int64) - za) @ (b.astype(np.int64) - np.asarray(zb, np.int64)) + bias
    return model_wrap32(s)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_small_m_every_method_policy_and_edge(m):
    rng = np.random.default_rng(600 + m)
    for n in NS:
        k = int(rng.choice([0, 1, 5, 64, 67, 130, 257]))
        a_dt, b_dt = [(np.uint8, np.int8), (np.int8, np.uint8), (np.int8, np.int8), (np.uint8, np.uint8)][n % 4]
        a = rng_matrix(rng, (m, k), a_dt, "extreme" if n % 3 == 0 else "uniform")
        b = rng_matrix(rng, (k, n), b_dt, "uniform")
        ai, bi = np.iinfo(a_dt), np.iinfo(b_dt)
        za = int(rng.integers(ai.min, ai.max + 1))
        zb = rng.integers(bi.min, bi.max + 1, n).astype(np.int32) if n % 2 else int(rng.integers(bi.min, 0))
        bias = rng.integers(-2**31, 2**31, n).astype(np.int32)
        exact = _exact(a, b, za, zb, bias)
        pb = kernel.PackedB(b)
        mult = float_multipliers(rng, n)
        for path in PATHS:
            np.testing.assert_array_equal(kernel.matmul_integer(a, pb, za, zb, bias, path=path), exact)
            for method in ("float_fp32",) + INT_METHODS:
                params = mult if method == "float_fp32" else int_params(rng, n, method)
                for out_dt, policy in ((np.uint8, "wrap"), (np.int8, "saturate"), (np.int32, "wrap")):
                    kw = dict(zp=3, bias=bias, out_dtype=out_dt, policy=policy)
                    if out_dt == np.int32:
                        kw.update(qmin=-10**6, qmax=10**6)
                    ref = kernel.qlinear_matmul(a, b, za, zb, method, params, path="scalar", **kw)
                    got = kernel.qlinear_matmul(a, pb, za, zb, method, params, path=path, **kw)
                    np.testing.assert_array_equal(got, ref, err_msg=f"{path} {method} {m}x{k}x{n}")


def test_small_m_overflow_free_policies_take_the_fast_path():
    """Saturate / error without a possible overflow run the SIMD kernel and equal the exact sum."""
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (1, 100), dtype=np.uint8)
    b = rng.integers(-128, 128, (100, 70), dtype=np.int8)
    exact = _exact(a, b, 0, 0, np.zeros(70, np.int64))
    for path in PATHS:
        for policy in ("saturate", "error"):
            got = kernel.matmul_integer(a, b, 0, 0, None, policy=policy, path=path)
            np.testing.assert_array_equal(got, exact)
            assert kernel.last_path_used() == path


def _run_rectangles(a, pb, za, zb, bias, requant, rects, path):
    g = _gemm.check_problem(pb, a.dtype, za, zb, bias, "wrap", requant, path, a_shape=a.shape)
    out = np.zeros((a.shape[0], pb.shape[1]), requant.out_dtype)
    plan = _threads.make_plan(_gemm.gemm_struct(g), a.shape[0], rects)
    _threads.run_plan(plan, _gemm.ptr(a), a.shape[1], _gemm.ffi.from_buffer(out, require_writable=True),
                      _gemm.ffi.NULL)
    return out


@pytest.mark.parametrize("m", [1, 3, 6])
def test_column_rectangles_compute_only_their_columns(m):
    """Rectangles cut inside 32-column blocks, as disjoint halves and one by one: each fills only
    its own columns (the plan holds only those) and together they equal the whole product."""
    from refquant.kernel._checks import NO_REQUANT
    rng = np.random.default_rng(m)
    k, n = 77, 150
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(0, 256, (k, n), dtype=np.uint8)
    zb = rng.integers(0, 256, n).astype(np.int32)
    bias = rng.integers(-2**20, 2**20, n).astype(np.int32)
    pb = kernel.PackedB(b)
    exact = _exact(a, b, -5, zb, bias)
    cuts = [(0, 5), (5, 40), (40, 100), (100, 150)]
    for path in PATHS:
        whole = _run_rectangles(a, pb, -5, zb, bias, NO_REQUANT, [(0, m, c0, c1) for c0, c1 in cuts], path)
        np.testing.assert_array_equal(whole, exact)
        for c0, c1 in cuts:
            part = _run_rectangles(a, pb, -5, zb, bias, NO_REQUANT, [(0, m, c0, c1)], path)
            np.testing.assert_array_equal(part[:, c0:c1], exact[:, c0:c1])
            assert not part[:, :c0].any() and not part[:, c1:].any()


def test_more_rectangles_than_threads_are_all_run_and_codes_merge():
    """rq_gemm_run_many with more problems than pool threads: every rectangle is computed once
    (threads claim them one at a time), and a bad problem's code comes back whichever thread ran it."""
    from refquant.kernel._checks import NO_REQUANT
    rng = np.random.default_rng(11)
    m, k, n = 5, 64, 300
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    pb = kernel.PackedB(b)
    exact = _exact(a, b, 3, 0, np.zeros(n, np.int64))
    rects = [(0, m, 32 * i, min(n, 32 * i + 32)) for i in range(10)]
    for _ in range(20):
        np.testing.assert_array_equal(_run_rectangles(a, pb, 3, 0, None, NO_REQUANT, rects, "auto"), exact)
    g = _gemm.check_problem(pb, a.dtype, 3, 0, None, "wrap", NO_REQUANT, "auto", a_shape=a.shape)
    out = np.zeros((m, n), np.int32)
    plan = _threads.make_plan(_gemm.gemm_struct(g), m, rects)
    for i in range(plan.count):
        plan.structs[i].a, plan.structs[i].lda = _gemm.ptr(a), k
        plan.structs[i].c = _gemm.ffi.from_buffer(out, require_writable=True)
    plan.structs[7].za = 300   # outside uint8: RQ_E_PARAM from task 7 only
    assert _gemm.lib.rq_gemm_run_many(plan.pointers, plan.count) == _gemm.lib.RQ_E_PARAM
    np.testing.assert_array_equal(out[:, :224], exact[:, :224])


def test_read_probe_sums_every_byte():
    """csrc/probe.c rq_probe_read: the byte sum of the whole buffer (four streams + the tail), so
    its time is the time to read every byte; probe.read_gbs returns a positive rate."""
    from refquant.kernel import probe
    rng = np.random.default_rng(5)
    for size in (0, 1, 255, 256, 257, 1000, 4096 + 13, 70001):
        buf = rng.integers(0, 256, size + 1, dtype=np.uint8)
        p = _gemm.ffi.from_buffer("uint8_t[]", buf)
        assert _gemm.lib.rq_probe_read(p, size) == int(buf[:size].sum(dtype=np.uint64))
    assert _gemm.lib.rq_probe_read(_gemm.ffi.NULL, 10) == 0
    assert probe.read_gbs(1 << 16, threads=2, seconds=0.01) > 0
    assert probe.read_gbs(100) is None
