"""refquant.onnx_ops against the ONNX peers themselves: onnxruntime 1.32.0 (com.microsoft contrib
ops, one thread, graph optimizations off) and the onnx 1.21.0 ReferenceEvaluator (QDQ graphs).

Cases: tie-heavy (scales that are powers of two times 1, 3/2 or 3/4, so exact halves occur),
saturation edges and zero points at both ends of the type, random scales; unmarked tests are
small, the ``slow`` sweeps run >= 10^5 output elements per op."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import backends, movement as mv, onnx_ops, qops
from refquant.errors import InvalidValueError

ort = pytest.importorskip("onnxruntime")
P = pytest.importorskip("refquant.peers.onnx_qops")

TYPES = {"uint8": (0, 255), "int8": (-128, 127)}


def _scales(rng, n, tie):
    if tie:
        return [float(np.float32(2.0 ** int(rng.integers(-5, 2)) * rng.choice([1, 1.5, 0.75, 3]))) for _ in range(n)]
    return [float(np.float32(rng.uniform(0.002, 0.2))) for _ in range(n)]


def _zps(rng, dtype, n):
    lo, hi = TYPES[dtype]
    return [int(rng.choice([lo, hi, (lo + hi) // 2, int(rng.integers(lo, hi + 1))])) for _ in range(n)]


def _tensor(rng, dtype, shape):
    lo, hi = TYPES[dtype]
    x = rng.integers(lo, hi + 1, shape)
    if x.size >= 2:
        x.reshape(-1)[:2] = [lo, hi]      # both ends of the type in every case
    return x.astype(P.NP[dtype])


BINARY_SHAPES = [((4, 33), (4, 33)), ((1,), (3, 20)), ((3, 20), (1,)), ((3, 1), (3, 20)), ((3, 20), (3, 1)),
                 ((2, 1, 5), (1, 3, 5)), ((5, 1), (1, 7))]


def binary_cases(seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        dtype = ("uint8", "int8")[i % 2]
        sa, sb = BINARY_SHAPES[i % len(BINARY_SHAPES)]
        yield (_tensor(rng, dtype, sa), *_scales(rng, 1, i % 3 == 0), _zps(rng, dtype, 1)[0],
               _tensor(rng, dtype, sb), *_scales(rng, 1, i % 3 == 0), _zps(rng, dtype, 1)[0],
               *_scales(rng, 1, i % 3 == 0), _zps(rng, dtype, 1)[0], dtype)


@pytest.mark.parametrize("op, ort_op", [("add", "QLinearAdd"), ("mul", "QLinearMul")])
def test_ort_binary_ops_match_onnxruntime(op, ort_op):
    model = onnx_ops.VARIANTS[op]["ort"]
    for a, sa, za, b, sb, zb, sy, zy, dtype in binary_cases(11, 21):
        got = P.ort_binary(ort_op, a, sa, za, b, sb, zb, sy, zy, dtype).astype(np.int64)
        assert (got == np.array(model(a, sa, za, b, sb, zb, sy, zy, dtype=dtype))).all(), (a.shape, b.shape, dtype)


def test_ort_add_result_depends_on_which_input_is_broadcast():
    # Found by a search over the models (seed 0): A broadcast as the span scalar makes onnxruntime
    # exchange A and B in the MLAS kernel, and the FMA chain rounds 20.5000003 the other way.
    sa, za, sb, zb, sy, zy = 0.16148096323013306, 113, 0.06805239617824554, 25, 0.05873122438788414, 100
    b = np.array([113, 113], np.int8)
    for a, want in ((np.array([47], np.int8), 21), (np.array([47, 47], np.int8), 20)):
        got = P.ort_binary("QLinearAdd", a, sa, za, b, sb, zb, sy, zy, "int8").astype(np.int64)
        assert got.tolist() == [want, want] == onnx_ops.ort_add(a, sa, za, b, sb, zb, sy, zy, dtype="int8")
    assert qops.add([47], sa, za, b, sb, zb, sy, zy, dtype="int8") == [20, 20]


def pool_cases(seed, count):
    rng = np.random.default_rng(seed)
    for i in range(count):
        dtype = ("uint8", "int8")[i % 2]
        nd = 1 + i % 3
        spatial = tuple(int(v) for v in rng.integers(3, 8 if nd < 3 else 5, nd))
        k = [int(min(rng.integers(1, 4), s)) for s in spatial]
        attrs = dict(kernel_shape=k, strides=[int(rng.integers(1, 3)) for _ in spatial],
                     pads=[int(rng.integers(0, kk)) for kk in k] * 2, ceil_mode=int(i % 4 == 1))
        sx, sy = _scales(rng, 2, i % 3 == 0)
        zx, zy = _zps(rng, dtype, 2)
        yield _tensor(rng, dtype, (2, 3) + spatial), sx, zx, sy, zy, dtype, attrs


def test_ort_avg_pool_and_max_pool_match_onnxruntime():
    for i, (x, sx, zx, sy, zy, dtype, attrs) in enumerate(pool_cases(12, 12)):
        got = P.ort_max_pool(x, dtype, **attrs).astype(np.int64)
        assert (got == np.array(qops.max_pool(x, dtype=dtype, **attrs))).all(), attrs
        attrs["count_include_pad"] = i % 2
        got = P.ort_avg_pool(x, sx, zx, sy, zy, dtype, **attrs).astype(np.int64)
        assert (got == np.array(onnx_ops.ort_avg_pool(x, sx, zx, sy, zy, dtype=dtype, **attrs))).all(), attrs


def test_ort_avg_pool_count_include_pad_counts_the_ceil_mode_overhang():
    # 1-D, 5 elements, kernel 2, stride 2, ceil_mode: the last window holds x[4] alone (no pad).
    x = np.array([[[10, 10, 10, 10, 9]]], np.uint8)
    attrs = dict(kernel_shape=[2], strides=[2], ceil_mode=1, count_include_pad=1)
    got = P.ort_avg_pool(x, 1.0, 0, 1.0, 0, "uint8", **attrs).astype(np.int64)
    assert got.tolist() == [[[10, 10, 4]]] == onnx_ops.ort_avg_pool(x, 1.0, 0, 1.0, 0, **attrs)   # 9/2 -> 4
    assert qops.avg_pool(x, 1.0, 0, 1.0, 0, **attrs) == [[[10, 10, 9]]]                       # 9/1


def test_ort_global_avg_pool_and_the_kernel_equal_to_the_image_fallback():
    for x, sx, zx, sy, zy, dtype, _attrs in pool_cases(13, 8):
        got = P.ort_global_avg_pool(x, sx, zx, sy, zy, dtype).astype(np.int64)
        assert (got == np.array(onnx_ops.ort_global_avg_pool(x, sx, zx, sy, zy, dtype=dtype))).all()
        whole = dict(kernel_shape=list(x.shape[2:]))
        got = P.ort_avg_pool(x, sx, zx, sy, zy, dtype, **whole).astype(np.int64)
        assert (got == np.array(onnx_ops.ort_avg_pool(x, sx, zx, sy, zy, dtype=dtype, **whole))).all()
    with pytest.raises(InvalidValueError, match="2\\^-32"):
        onnx_ops.ort_global_avg_pool(np.zeros((1, 1, 2, 2), np.uint8), 2.0**-40, 0, 1.0, 0)


def test_ort_concat_matches_onnxruntime():
    rng = np.random.default_rng(14)
    for i in range(10):
        dtype = ("uint8", "int8")[i % 2]
        sy, zy = _scales(rng, 1, i % 3 == 0)[0], _zps(rng, dtype, 1)[0]
        ins = [(_tensor(rng, dtype, (2, int(rng.integers(1, 5)), 3)), _scales(rng, 1, i % 3 == 0)[0],
                _zps(rng, dtype, 1)[0]) for _ in range(3)]
        ins[1] = (ins[1][0], sy, zy)       # one input already at the output's parameters: copied
        got = P.ort_concat(ins, sy, zy, 1, dtype).astype(np.int64)
        assert (got == np.array(onnx_ops.ort_concat(ins, sy, zy, axis=1, dtype=dtype))).all()


def test_ort_variants_reject_what_onnxruntime_has_no_kernel_for():
    with pytest.raises(InvalidValueError, match="int8 or uint8"):
        onnx_ops.ort_add([1], 1.0, 0, [1], 1.0, 0, 1.0, 0, dtype="int16")
    with pytest.raises(InvalidValueError, match="dilations"):
        onnx_ops.ort_avg_pool([[[1, 2, 3]]], 1.0, 0, 1.0, 0, kernel_shape=[2], dilations=[2])


def test_the_onnxruntime_row_names_the_ort_variants():
    for op in ("add", "mul", "avg_pool", "global_avg_pool", "concat"):
        assert backends.variant("onnxruntime", op) is onnx_ops.VARIANTS[op]["ort"]
    assert backends.variant("onnxruntime", "max_pool") is qops.max_pool


# ##########################################################################
# Slow sweeps: >= 10^5 output elements per op against onnxruntime
# ##########################################################################

def _sweep(cases, run, model, minimum):
    n = bad = 0
    for args in cases:
        got, want = run(*args), model(*args)
        n += got.size
        bad += int((got != want).sum())
        if n >= minimum:
            break
    return n, bad


@pytest.mark.slow
@pytest.mark.parametrize("op, ort_op", [("add", "QLinearAdd"), ("mul", "QLinearMul")])
def test_slow_sweep_binary(op, ort_op):
    model = onnx_ops.VARIANTS[op]["ort"]

    def big(seed):
        rng = np.random.default_rng(seed)
        for i in range(10**6):
            dtype = ("uint8", "int8")[i % 2]
            yield (_tensor(rng, dtype, (64, 65)), *_scales(rng, 1, i % 3 == 0), _zps(rng, dtype, 1)[0],
                   _tensor(rng, dtype, [(64, 65), (64, 1), (1,)][i % 3]), *_scales(rng, 1, i % 3 == 0),
                   _zps(rng, dtype, 1)[0], *_scales(rng, 1, i % 3 == 0), _zps(rng, dtype, 1)[0], dtype)
    n, bad = _sweep(big(100), lambda *c: P.ort_binary(ort_op, *c).astype(np.int64),
                    lambda *c: np.array(model(*c[:-1], dtype=c[-1])), 10**5)
    print(f"onnxruntime {op}: {n} elements, {bad} differences")
    assert n >= 10**5 and bad == 0


def _pool_sweep(run, model, seed, count_include_pad=True):
    n = bad = 0
    rng = np.random.default_rng(seed)
    for i, (x, sx, zx, sy, zy, dtype, attrs) in enumerate(pool_cases(seed, 10**6)):
        if count_include_pad:
            attrs["count_include_pad"] = i % 2
        if i % 3 == 1:
            sx, sy = (float(np.float32(rng.choice([0.1, 0.2, 0.3, 0.7]))) for _ in range(2))
        x = np.repeat(x, 40, axis=1)
        got = run(x, sx, zx, sy, zy, dtype, attrs).astype(np.int64)
        bad += int((got != np.array(model(x, sx, zx, sy, zy, dtype, attrs))).sum())
        n += got.size
        if n >= 10**5:
            return n, bad


@pytest.mark.slow
@pytest.mark.parametrize("op", ["avg_pool", "global_avg_pool", "max_pool"])
def test_slow_sweep_ort_pools(op):
    runs = {"avg_pool": (lambda x, sx, zx, sy, zy, dt, a: P.ort_avg_pool(x, sx, zx, sy, zy, dt, **a),
                         lambda x, sx, zx, sy, zy, dt, a: onnx_ops.ort_avg_pool(x, sx, zx, sy, zy, dtype=dt, **a)),
            "global_avg_pool": (lambda x, sx, zx, sy, zy, dt, a: P.ort_global_avg_pool(np.repeat(x, 30, 1), sx, zx,
                                                                                        sy, zy, dt),
                                lambda x, sx, zx, sy, zy, dt, a: onnx_ops.ort_global_avg_pool(
                                    np.repeat(x, 30, 1), sx, zx, sy, zy, dtype=dt)),
            "max_pool": (lambda x, sx, zx, sy, zy, dt, a: P.ort_max_pool(x, dt, **a),
                         lambda x, sx, zx, sy, zy, dt, a: qops.max_pool(x, dtype=dt, **a))}
    n, bad = _pool_sweep(*runs[op], 200, count_include_pad=op == "avg_pool")
    print(f"onnxruntime {op}: {n} elements, {bad} differences")
    assert n >= 10**5 and bad == 0


@pytest.mark.slow
def test_slow_sweep_ort_concat():
    rng = np.random.default_rng(300)
    n = bad = 0
    while n < 10**5:
        dtype = ("uint8", "int8")[n % 2]
        sy, zy = _ref_scales(rng, 1, n)[0], _zps(rng, dtype, 1)[0]
        ins = [(_tensor(rng, dtype, (4, int(rng.integers(50, 200)), 16)), _ref_scales(rng, 1, n + 1)[0],
                _zps(rng, dtype, 1)[0]) for _ in range(3)]
        got = P.ort_concat(ins, sy, zy, 1, dtype).astype(np.int64)
        bad += int((got != np.array(onnx_ops.ort_concat(ins, sy, zy, axis=1, dtype=dtype))).sum())
        n += got.size
    print(f"onnxruntime concat: {n} elements, {bad} differences")
    assert bad == 0


@pytest.mark.slow
@pytest.mark.parametrize("op, onnx_op", [("add", "Add"), ("sub", "Sub"), ("mul", "Mul")])
def test_slow_sweep_ref_binary(op, onnx_op):
    rng = np.random.default_rng(400)
    n = bad = 0
    model = onnx_ops.VARIANTS[op]["onnx_ref"]
    i = 0
    while n < 10**5:
        dtype = ("uint8", "int8")[i % 2]
        a, b = _tensor(rng, dtype, (64, 65)), _tensor(rng, dtype, [(64, 65), (65,), (64, 1)][i % 3])
        (sa, sb, sy), (za, zb, zy) = _ref_scales(rng, 3, i), _zps(rng, dtype, 3)
        got = P.qdq(P.run_ref, onnx_op, [("a", a, sa, za), ("b", b, sb, zb)], sy, zy, dtype).astype(np.int64)
        bad += int((got != np.array(model(a, sa, za, b, sb, zb, sy, zy, dtype=dtype))).sum())
        n += got.size
        i += 1
    print(f"onnx reference QDQ {op}: {n} elements, {bad} differences")
    assert bad == 0


@pytest.mark.slow
@pytest.mark.parametrize("op", ["avg_pool", "global_avg_pool"])
def test_slow_sweep_ref_pools(op):
    onnx_op = {"avg_pool": "AveragePool", "global_avg_pool": "GlobalAveragePool"}[op]
    model = onnx_ops.VARIANTS[op]["onnx_ref"]

    def run(x, sx, zx, sy, zy, dt, a):
        if op == "global_avg_pool":
            return P.qdq(P.run_ref, onnx_op, [("x", np.repeat(x, 30, 1), sx, zx)], sy, zy, dt)
        return P.qdq(P.run_ref, onnx_op, [("x", x, sx, zx)], sy, zy, dt, a)

    def want(x, sx, zx, sy, zy, dt, a):
        if op == "global_avg_pool":
            return model(np.repeat(x, 30, 1), sx, zx, sy, zy, dtype=dt)
        return model(x, sx, zx, sy, zy, dtype=dt, **a)
    n, bad = _pool_sweep(run, want, 500, count_include_pad=op == "avg_pool")
    print(f"onnx reference QDQ {op}: {n} elements, {bad} differences")
    assert n >= 10**5 and bad == 0


def test_verify_onnxruntime_rows_for_these_ops_have_no_unexplained_difference():
    from refquant.peers import conformance
    rows = P.ort_rows()
    _, counts = conformance.summary(rows)
    assert counts[conformance.DIFFER] == 0 and counts[conformance.UNSUPPORTED] == 0, conformance.table(rows)
    assert {r.deviation for r in rows if r.status == conformance.KNOWN} == {
        "refquant variant 'ort'", "ORT QLinearAdd: result depends on the broadcast input",
        "ORT QLinearAveragePool: count_include_pad counts the ceil_mode overhang"}


# ##########################################################################
# The QDQ forms in the onnx 1.21.0 ReferenceEvaluator (variant 'onnx_ref')
# ##########################################################################

def _ref_scales(rng, n, i):
    if i % 3 == 0:
        return _scales(rng, n, True)
    return [float(np.float32(rng.choice([0.1, 0.2, 0.3, 0.7]) if i % 3 == 1 else rng.uniform(0.002, 0.2)))
            for _ in range(n)]


def test_numpy_sum32_is_numpys_float32_pairwise_sum():
    from fractions import Fraction
    rng = np.random.default_rng(0)
    for n in [1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 200, 1000]:
        v = (rng.standard_normal(n) * 1000).astype(np.float32)
        assert float(np.sum(v)) == float(onnx_ops.numpy_sum32([Fraction(float(x)) for x in v])), n


@pytest.mark.parametrize("op, onnx_op", [("add", "Add"), ("sub", "Sub"), ("mul", "Mul")])
def test_ref_binary_qdq_matches_the_reference_evaluator(op, onnx_op):
    rng = np.random.default_rng(40)
    for i in range(6):
        dtype = ("uint8", "int8")[i % 2]
        a, b = _tensor(rng, dtype, (3, 24)), _tensor(rng, dtype, (24,))
        (sa, sb, sy), (za, zb, zy) = _ref_scales(rng, 3, i), _zps(rng, dtype, 3)
        got = P.qdq(P.run_ref, onnx_op, [("a", a, sa, za), ("b", b, sb, zb)], sy, zy, dtype).astype(np.int64)
        want = onnx_ops.VARIANTS[op]["onnx_ref"](a, sa, za, b, sb, zb, sy, zy, dtype=dtype)
        assert (got == np.array(want)).all()


@pytest.mark.parametrize("op, onnx_op, attrs, kw, extra", [
    ("requantize", "Identity", {}, {}, ()), ("relu", "Relu", {}, {}, ()),
    ("leaky_relu", "LeakyRelu", {"alpha": 0.1}, {"alpha": 0.1}, ()),
    ("clamp", "Clip", {}, {"min": -1.5, "max": 2.25}, (("mn", np.float32(-1.5)), ("mx", np.float32(2.25))))])
def test_ref_unary_qdq_matches_the_reference_evaluator(op, onnx_op, attrs, kw, extra):
    rng = np.random.default_rng(41)
    for i in range(6):
        dtype = ("uint8", "int8")[i % 2]
        x = np.arange(*TYPES[dtype], dtype=np.int64).astype(P.NP[dtype])      # every input value
        (sx, sy), (zx, zy) = _ref_scales(rng, 2, i), _zps(rng, dtype, 2)
        got = P.qdq(P.run_ref, onnx_op, [("a", x, sx, zx)], sy, zy, dtype, attrs, extra).astype(np.int64)
        assert (got == np.array(onnx_ops.VARIANTS[op]["onnx_ref"](x, sx, zx, sy, zy, dtype=dtype, **kw))).all()


def test_ref_pools_and_concat_match_the_reference_evaluator():
    rng = np.random.default_rng(42)
    for i, (x, _, zx, _, zy, dtype, attrs) in enumerate(pool_cases(43, 9)):
        sx, sy = _ref_scales(rng, 2, i)
        attrs["count_include_pad"] = i % 2
        got = P.qdq(P.run_ref, "AveragePool", [("x", x, sx, zx)], sy, zy, dtype, attrs).astype(np.int64)
        assert (got == np.array(onnx_ops.ref_avg_pool(x, sx, zx, sy, zy, dtype=dtype, **attrs))).all(), attrs
        got = P.qdq(P.run_ref, "GlobalAveragePool", [("x", x, sx, zx)], sy, zy, dtype).astype(np.int64)
        assert (got == np.array(onnx_ops.ref_global_avg_pool(x, sx, zx, sy, zy, dtype=dtype))).all()
        ins = [(x, sx, zx), (x[:, :1], sy, zy)]
        got = P.qdq(P.run_ref, "Concat", [("a", *ins[0]), ("b", *ins[1])], sy, zy, dtype, {"axis": 1})
        assert (got.astype(np.int64) == np.array(onnx_ops.ref_concat(ins, sy, zy, axis=1, dtype=dtype))).all()


def test_ref_add_differs_from_the_exact_sum_on_a_near_tie():
    # (0.1f*(-126) + 0.3f*125) / 0.2f = 124.5000047 exactly (-> 125); DequantizeLinear, the float32
    # sum and the division round it to 124.5 (-> 124, ties to even).
    s1, s3, s2 = (float(np.float32(v)) for v in (0.1, 0.3, 0.2))
    a, b = np.array([-126], np.int8), np.array([125], np.int8)
    got = P.qdq(P.run_ref, "Add", [("a", a, s1, 0), ("b", b, s3, 0)], s2, 0, "int8").astype(np.int64)
    assert got.tolist() == [124] == onnx_ops.ref_add(a, s1, 0, b, s3, 0, s2, 0, dtype="int8")
    assert qops.add(a, s1, 0, b, s3, 0, s2, 0, dtype="int8") == [125]


@pytest.mark.slow
def test_verify_onnx_rows_for_these_ops_have_no_unexplained_difference():
    from refquant.peers import conformance
    rows = P.ref_rows()
    _, counts = conformance.summary(rows)
    assert counts[conformance.DIFFER] == 0 and counts[conformance.UNSUPPORTED] == 0, conformance.table(rows)


# ##########################################################################
# QGemm and DynamicQuantizeMatMul (refquant/onnx_gemm.py)
# ##########################################################################

def test_ort_qgemm_and_dynamic_quantize_matmul_match_onnxruntime():
    from refquant import onnx_gemm as G
    rng = np.random.default_rng(50)
    for i in range(6):
        at = ("uint8", "int8")[i % 2]
        bt = "int8" if at == "int8" else ("uint8", "int8")[(i // 2) % 2]
        (alo, ahi), (blo, bhi) = TYPES[at], TYPES[bt]
        m, k, n, ta, tb = 4, int(rng.integers(1, 30)), 5, i % 3 == 1, i % 4 == 2
        a = rng.integers(alo, ahi + 1, (k, m) if ta else (m, k)).astype(P.NP[at])
        b = rng.integers(blo, bhi + 1, (n, k) if tb else (k, n)).astype(P.NP[bt])
        sa, za = _scales(rng, 1, False)[0], int(rng.integers(alo, ahi + 1))
        sb = np.array(_scales(rng, n if i % 2 == 0 else 1, i % 3 == 0), np.float32)
        zb = rng.integers(blo, bhi + 1, sb.size).astype(P.NP[bt])
        c = [None, rng.integers(-5000, 5000, (n,)), rng.integers(-5000, 5000, (m, n)),
             rng.integers(-5000, 5000, (m, 1))][i % 4]
        alpha, (sy, zy) = (1.0, 0.5, 1.7)[i % 3], (_scales(rng, 1, False)[0], _zps(rng, at, 1)[0])
        kw = dict(alpha=alpha, trans_a=int(ta), trans_b=int(tb), a_type=at, b_type=bt)
        args = (a, sa, za, b, sb.tolist(), zb.tolist(), c)
        got = P.ort_qgemm(a, sa, za, b, sb, zb, c, sy, zy, alpha, int(ta), int(tb)).astype(np.int64)
        assert (got == np.array(G.ort_qgemm(*args, sy, zy, **kw))).all()
        got = P.ort_qgemm(a, sa, za, b, sb, zb, c, None, None, alpha, int(ta), int(tb)).astype(np.float64)
        assert (got == P._floats(G.ort_qgemm(*args, **kw))).all()
        x = (rng.standard_normal((m, k)) * 4).astype(np.float32)
        b2 = rng.integers(blo, bhi + 1, (k, n)).astype(P.NP[bt])
        bias = None if i % 2 else rng.standard_normal(n).astype(np.float32)
        got = P.ort_dynamic_quantize_matmul(x, b2, sb, zb, bias).astype(np.float64)
        want = G.ort_dynamic_quantize_matmul(x, b2, sb.tolist(), zb.tolist(), bias if bias is None else bias.tolist(),
                                             b_type=bt)
        assert (got == P._floats(want)).all()


def test_qgemm_exact_is_one_rounding_of_the_exact_product():
    from refquant import onnx_gemm as G
    # acc = 1*1 + 2*2 = 5, C = 1 -> 6; 6 * 0.5 * 0.25 / 0.125 = 6; alpha 0.75 -> 4.5 -> 4 (ties to even)
    a, b = [[1, 2]], [[1], [2]]
    assert G.qgemm_exact(a, 0.5, 0, b, 0.25, 0, [1], 0.125, 0, alpha=0.75, a_type="uint8", b_type="int8") == [[4]]
    assert G.qgemm_exact(a, 0.5, 0, b, 0.25, 0, [1], alpha=0.75, a_type="uint8", b_type="int8") == [[0.5625]]


# ##########################################################################
# Data movement (refquant/movement.py) against both peers
# ##########################################################################

def _i64(name, v):
    return name, np.array(v, np.int64)


MOVEMENT = [
    ("Reshape", ["x", "s"], [_i64("s", [0, -1, 5])], {}, lambda x: mv.reshape(x, [0, -1, 5])),
    ("Transpose", ["x"], [], {"perm": [0, 2, 3, 1]}, lambda x: mv.transpose(x, [0, 2, 3, 1])),
    ("Flatten", ["x"], [], {"axis": 2}, lambda x: mv.flatten(x, 2)),
    ("Unsqueeze", ["x", "a"], [_i64("a", [1, -1])], {}, lambda x: mv.unsqueeze(x, [1, -1])),
    ("Slice", ["x", "b", "e", "a", "p"], [_i64("b", [3, -1]), _i64("e", [0, -100]), _i64("a", [3, 2]),
                                         _i64("p", [-1, -2])], {}, lambda x: mv.slice(x, [3, -1], [0, -100], [3, 2], [-1, -2])),
    ("Gather", ["x", "i"], [_i64("i", [[0, -1], [2, 2]])], {"axis": 2}, lambda x: mv.gather(x, [[0, -1], [2, 2]], 2)),
    ("Pad", ["x", "p", "c"], [_i64("p", [0, 0, 1, 2, 0, 0, 2, 1]), ("c", np.array(-7, np.int8))], {"mode": "constant"},
     lambda x: mv.pad(x, [0, 0, 1, 2, 0, 0, 2, 1], constant_value=-7)),
    ("Pad", ["x", "p"], [_i64("p", [0, 0, 1, 2, 0, 0, 2, 1])], {"mode": "reflect"},
     lambda x: mv.pad(x, [0, 0, 1, 2, 0, 0, 2, 1], "reflect")),
    ("Pad", ["x", "p"], [_i64("p", [0, 0, 1, 2, 0, 0, 2, 1])], {"mode": "edge"},
     lambda x: mv.pad(x, [0, 0, 1, 2, 0, 0, 2, 1], "edge")),
    ("Pad", ["x", "p"], [_i64("p", [0, 0, 3, 2, 0, 0, 2, 4])], {"mode": "wrap"},
     lambda x: mv.pad(x, [0, 0, 3, 2, 0, 0, 2, 4], "wrap")),
]


@pytest.mark.parametrize("case", range(len(MOVEMENT)))
def test_movement_ops_equal_both_peers(case):
    op, ins, inits, attrs, ref = MOVEMENT[case]
    x = np.random.default_rng(case).integers(-128, 128, (2, 3, 4, 5)).astype(np.int8)
    node = _onnx_helper().make_node(op, ins, ["y"], **attrs)
    want = np.array(ref(x))
    for run in (P.run_ort, P.run_ref):
        got = run([node], [("x", x)], inits, np.int8)
        assert got.shape == want.shape and (got == want).all(), (op, attrs, run.__name__)


def _onnx_helper():
    import onnx
    return onnx.helper


def test_resize_nearest_asymmetric_equals_both_peers_and_the_named_coordinate_deviations():
    x = np.arange(7, dtype=np.uint8).reshape(1, 1, 1, 7)

    def run(runner, ct, nm, sizes=None, scales=None):
        ins, init = (["x", "", "", "s"], [_i64("s", sizes)]) if sizes else (["x", "", "s"], [("s", np.array(scales, np.float32))])
        node = _onnx_helper().make_node("Resize", ins, ["y"], mode="nearest", coordinate_transformation_mode=ct,
                                        nearest_mode=nm)
        return runner([node], [("x", x)], init, np.uint8).ravel().tolist()
    exact = mv.resize_nearest(x, sizes=[1, 1, 1, 19], coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    assert run(P.run_ort, "asymmetric", "floor", sizes=[1, 1, 1, 19]) == np.ravel(exact).tolist()
    assert run(P.run_ref, "asymmetric", "floor", sizes=[1, 1, 1, 19]) == np.ravel(exact).tolist()
    # "ORT Resize nearest: binary32 coordinates": output 9 of 7 -> 19 maps to exactly 3.0
    hp = np.ravel(mv.resize_nearest(x, sizes=[1, 1, 1, 19], coordinate_transformation_mode="half_pixel",
                                    nearest_mode="ceil")).tolist()
    assert hp[9] == 3 and run(P.run_ort, "half_pixel", "ceil", sizes=[1, 1, 1, 19])[9] == 4
    # "onnx reference Resize nearest: float64 coordinates, fractional output length"
    ac = np.ravel(mv.resize_nearest(x, scales=[1, 1, 1, float(np.float32(0.6))],
                                    coordinate_transformation_mode="align_corners", nearest_mode="floor")).tolist()
    assert ac == [0, 2, 4, 6]
    assert run(P.run_ref, "align_corners", "floor", scales=[1, 1, 1, 0.6]) == [0, 1, 3, 5]
    assert backends.get_backend("onnxruntime").deviation("ORT Resize nearest: binary32 coordinates", "resize_nearest").measured_on


@pytest.mark.slow
def test_slow_sweep_qgemm_and_dynamic_quantize_matmul():
    from refquant import onnx_gemm as G
    rng = np.random.default_rng(600)
    counts = {"qgemm": [0, 0], "dqmm": [0, 0]}
    i = 0
    while min(n for n, _ in counts.values()) < 10**5:
        at = ("uint8", "int8")[i % 2]
        bt = "int8" if at == "int8" else ("uint8", "int8")[(i // 2) % 2]
        a, sa, za, b, sb, zb = P._gemm_case(rng, at, bt, 64, int(rng.integers(8, 48)), 64, i % 2 == 0)
        c = rng.integers(-30000, 30000, (64, 64)).astype(np.int32)
        sy, zy = float(np.float32(_scales(rng, 1, False)[0] * 20)), _zps(rng, at, 1)[0]
        kw = dict(alpha=(1.0, 0.5)[i % 2], trans_b=1, a_type=at, b_type=bt)
        got = P.ort_qgemm(a, sa, za, b, sb, zb, c, sy, zy, kw["alpha"], 0, 1).astype(np.int64)
        want = np.array(G.ort_qgemm(a, sa, za, b, sb.tolist(), zb.tolist(), c, sy, zy, **kw))
        counts["qgemm"][0] += got.size
        counts["qgemm"][1] += int((got != want).sum())
        x = (rng.standard_normal((64, b.shape[1])) * 3).astype(np.float32)
        bb = np.ascontiguousarray(b.T)
        bias = rng.standard_normal(64).astype(np.float32)
        got = P.ort_dynamic_quantize_matmul(x, bb, sb, zb, bias).astype(np.float64)
        want = P._floats(G.ort_dynamic_quantize_matmul(x, bb, sb.tolist(), zb.tolist(), bias.tolist(), b_type=bt))
        counts["dqmm"][0] += got.size
        counts["dqmm"][1] += int((got != want).sum())
        i += 1
    print(f"onnxruntime QGemm / DynamicQuantizeMatMul: {counts}")
    assert counts["qgemm"][1] == counts["dqmm"][1] == 0


@pytest.mark.slow
@pytest.mark.parametrize("op, onnx_op, attrs, kw, extra", [
    ("requantize", "Identity", {}, {}, ()), ("relu", "Relu", {}, {}, ()),
    ("leaky_relu", "LeakyRelu", {"alpha": 0.1}, {"alpha": 0.1}, ()),
    ("clamp", "Clip", {}, {"min": -1.5, "max": 2.25}, (("mn", np.float32(-1.5)), ("mx", np.float32(2.25))))])
def test_slow_sweep_ref_unary(op, onnx_op, attrs, kw, extra):
    from refquant.fast import FAST
    rng = np.random.default_rng(700)
    n = bad = i = 0
    while n < 10**5:
        dtype = ("uint8", "int8")[i % 2]
        x = _tensor(rng, dtype, (40, 256))
        (sx, sy), (zx, zy) = _ref_scales(rng, 2, i), _zps(rng, dtype, 2)
        got = P.qdq(P.run_ref, onnx_op, [("a", x, sx, zx)], sy, zy, dtype, attrs, extra).astype(np.int64)
        bad += int((got != FAST[(op, "onnx_ref")](x, sx, zx, sy, zy, dtype=dtype, **kw)).sum())  # = the definition
        n += got.size
        i += 1
    print(f"onnx reference QDQ {op}: {n} elements, {bad} differences")
    assert bad == 0


def test_ort_runs_a_qdq_graph_as_the_contrib_op_when_optimizing_and_as_floats_when_not():
    # onnxruntime fuses DequantizeLinear -> Add/Mul -> QuantizeLinear into QLinearAdd / QLinearMul
    # (variant 'ort'); with optimizations off it runs the float ops, which equal the onnx reference
    # (variant 'onnx_ref') on these finite inputs.
    rng = np.random.default_rng(60)
    for i in range(4):
        dtype = ("uint8", "int8")[i % 2]
        a, b = _tensor(rng, dtype, (4, 64)), _tensor(rng, dtype, (4, 64))
        (sa, sb, sy), (za, zb, zy) = _ref_scales(rng, 3, 1 + i % 2), _zps(rng, dtype, 3)
        for op, onnx_op in (("add", "Add"), ("mul", "Mul")):
            model = P.build(P.qdq_nodes(onnx_op, ["a", "b"]), [("a", a), ("b", b)],
                            P._q("a", sa, za, dtype) + P._q("b", sb, zb, dtype) + P._q("y", sy, zy, dtype), P.NP[dtype])
            for level, variant in ((ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "ort"),
                                   (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "onnx_ref")):
                so = ort.SessionOptions()
                so.intra_op_num_threads, so.graph_optimization_level, so.log_severity_level = 1, level, 3
                sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
                got = sess.run(None, {"a": a, "b": b})[0].astype(np.int64)
                want = onnx_ops.VARIANTS[op][variant](a, sa, za, b, sb, zb, sy, zy, dtype=dtype)
                assert (got == np.array(want)).all(), (op, variant)


def test_ref_avg_pool_and_max_pool_with_dilations_match_the_reference_evaluator():
    rng = np.random.default_rng(61)
    for i in range(6):
        x = rng.integers(0, 256, (1, 2, 9, 8)).astype(np.uint8)
        attrs = dict(kernel_shape=[2, 3], dilations=[1 + i % 2, 2 - i % 2], strides=[1 + i % 2] * 2, pads=[i % 2] * 4,
                     ceil_mode=i % 2, count_include_pad=(i // 2) % 2)
        sx, sy = (float(np.float32(v)) for v in rng.choice([0.1, 0.25, 0.3], 2))
        got = P.qdq(P.run_ref, "AveragePool", [("x", x, sx, 3)], sy, 7, "uint8", attrs).astype(np.int64)
        assert (got == np.array(onnx_ops.ref_avg_pool(x, sx, 3, sy, 7, **attrs))).all(), attrs
        mattrs = {k: v for k, v in attrs.items() if k != "count_include_pad"}
        got = P.run_ref([P._node("MaxPool", ["x"], ["y"], **mattrs)], [("x", x)], [], np.uint8)
        assert (got == np.array(qops.max_pool(x, **mattrs))).all(), mattrs


def test_ref_mean_over_any_axes_matches_the_reference_evaluator():
    rng = np.random.default_rng(62)
    cases = [[3], [2, 3], [1, 2, 3], [-1], [0], [1], [0, 2], [1, 3], [0, 1, 3], [0, 3], None, [2]]
    for i, axes in enumerate(cases):
        dtype = ("uint8", "int8")[i % 2]
        x = _tensor(rng, dtype, (2, 3, int(rng.integers(1, 20)), int(rng.integers(1, 20))))
        keep = i % 2
        sx, sy = (float(np.float32(v)) for v in rng.choice([0.1, 0.3, 0.7], 2))
        extra = [] if axes is None else [("axes", np.array(axes, np.int64))]
        got = P.qdq(P.run_ref, "ReduceMean", [("x", x, sx, 3)], sy, 5, dtype, {"keepdims": keep},
                    extra).astype(np.int64)
        assert (got == np.array(onnx_ops.ref_mean(x, sx, 3, sy, 5, axes=axes, keepdims=keep, dtype=dtype))).all(), axes
    assert backends.variant("onnx_ref", "mean") is onnx_ops.ref_mean


@pytest.mark.slow
def test_slow_sweep_ref_mean_any_axes():
    rng = np.random.default_rng(65)
    outputs = inputs = 0
    while outputs < 20000:
        dtype = ("uint8", "int8")[outputs % 2]
        shape = tuple(int(v) for v in rng.integers(1, 13, int(rng.integers(1, 5))))
        axes = sorted(rng.choice(len(shape), int(rng.integers(1, len(shape) + 1)), replace=False).tolist())
        x = _tensor(rng, dtype, shape)
        sx, sy = (float(np.float32(v)) for v in rng.choice([0.1, 0.3, 0.7, 0.05, 0.2], 2))
        zx, zy = (int(v) for v in rng.integers(-20, 20, 2) + (128 if dtype == "uint8" else 0))
        got = P.qdq(P.run_ref, "ReduceMean", [("x", x, sx, zx)], sy, zy, dtype, {"keepdims": 1},
                    [("axes", np.array(axes, np.int64))]).astype(np.int64)
        want = np.array(onnx_ops.ref_mean(x, sx, zx, sy, zy, axes=axes, keepdims=1, dtype=dtype))
        assert got.shape == want.shape and (got == want).all(), (shape, axes)
        outputs, inputs = outputs + got.size, inputs + x.size
    assert inputs >= 10**5


def test_numpy_reduce_sum32_is_numpys_float32_reduction_order():
    # the inner axis kept: each output accumulates its elements one by one; the inner axis reduced:
    # pairwise runs (in blocks of 8192) added to the output; both checked against np.add.reduce itself
    rng = np.random.default_rng(64)
    for shape, axes in [((5, 9, 4), (0,)), ((5, 9, 4), (0, 2)), ((3, 1, 20), (0, 2)), ((2, 9000), (1,)),
                        ((4, 1, 6, 1), (1, 2)), ((7, 3), (0, 1))]:
        x = (rng.standard_normal(shape) * 1000).astype(np.float32)
        want = np.add.reduce(x, axis=axes, dtype=np.float32).ravel()
        got = onnx_ops.numpy_reduce_sum32([Fraction(float(v)) for v in x.ravel()], shape, set(axes))
        assert (np.array([float(v) for v in got], np.float32) == want).all(), (shape, axes)


def test_ort_channels_last_pools_compute_as_the_nchw_models():
    # QLinearAveragePool / QLinearGlobalAveragePool with channels_last = 1 (NHWC) sum each window in
    # the same order: the NCHW models on the transposed input give onnxruntime's results.
    rng = np.random.default_rng(63)
    for i in range(4):
        dtype = ("uint8", "int8")[i % 2]
        x = _tensor(rng, dtype, (2, 5, 7, 6))
        (sx, sy), (zx, zy) = _ref_scales(rng, 2, 1), _zps(rng, dtype, 2)
        attrs = dict(kernel_shape=[3, 2], strides=[1 + i % 2, 2], pads=[i % 2, 1, 1, 0], ceil_mode=i // 2,
                     count_include_pad=i % 2)
        xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        got = P.ort_avg_pool(xh, sx, zx, sy, zy, dtype, channels_last=1, **attrs).astype(np.int64)
        assert (got.transpose(0, 3, 1, 2) == np.array(onnx_ops.ort_avg_pool(x, sx, zx, sy, zy, dtype=dtype,
                                                                            **attrs))).all()
        node = P._node("QLinearGlobalAveragePool", ["x", "x_s", "x_z", "y_s", "y_z"], ["y"], "com.microsoft",
                       channels_last=1)
        got = P.run_ort([node], [("x", xh)], P._q("x", sx, zx, dtype) + P._q("y", sy, zy, dtype), P.NP[dtype])
        want = np.array(onnx_ops.ort_global_avg_pool(x, sx, zx, sy, zy, dtype=dtype))
        assert (got.astype(np.int64).transpose(0, 3, 1, 2) == want).all()
