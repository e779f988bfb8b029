"""onnxruntime's unfused QDQ float paths (refquant/onnx_float.py, variant 'ort_float' of qdq_avg_pool,
qdq_global_avg_pool, qdq_softmax, qdq_gelu) against onnxruntime 1.32.0 itself, and their spec-only facts."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import backends
from refquant import onnx_float as OF
from refquant import onnx_ops as O
from refquant import qops
from refquant.certified import ImplementationDefined, possible
from refquant.errors import ShapeError


# ##########################################################################
# Spec-only (no peer)
# ##########################################################################

def test_variants_are_named_by_the_rows():
    assert backends.variant("onnxruntime", "qdq_avg_pool") is OF.avg_pool_ort_float
    assert backends.variant("onnxruntime", "qdq_global_avg_pool") is OF.global_avg_pool_ort_float
    assert backends.variant("onnxruntime", "qdq_softmax") is OF.softmax_ort_float
    assert backends.variant("onnxruntime", "qdq_gelu") is OF.gelu_ort_float
    assert backends.variant("onnx_ref", "qdq_avg_pool") is O.ref_avg_pool
    assert backends.variant("exact", "qdq_avg_pool") is qops.avg_pool


def test_global_lane_sum_is_not_the_sequential_sum():
    # four lanes then ((l0 + l2) + (l1 + l3)): lanes 1 and 3 hold 1 each, their sum 2 survives next to
    # 2^24, where a left-to-right binary32 sum drops each 1 (2^24 + 1 is a tie, to even)
    big = Fraction(2**24)
    vals = [big, Fraction(0), Fraction(0), Fraction(0), Fraction(0), Fraction(1), Fraction(0), Fraction(1)]
    assert OF.mlas_global_sum(vals) == big + 2
    seq = Fraction(0)
    for v in vals:
        seq = OF.fadd("fp32", seq, v)
    assert seq == big


def test_softmax_candidates_hold_the_first_and_integers_only():
    x = [[0, 3, 200, 201, 255, 7, 9]]
    out = OF.softmax_ort_float(x, float(np.float32(0.05)), 0, float(np.float32(1 / 256)), 0)
    flat = out[0]
    assert len(flat) == 7
    for v in flat:
        cands = possible(v)
        assert all(isinstance(c, int) and 0 <= c <= 255 for c in cands)
        if isinstance(v, ImplementationDefined):
            assert v.first in cands and len(cands) > 1


def test_pool_window_wholly_in_padding_is_a_shape_error():
    with pytest.raises(ShapeError):
        OF.avg_pool_ort_float([[[1, 2]]], 0.5, 0, 0.5, 0, kernel_shape=[2], pads=[3, 0])


# ##########################################################################
# Against onnxruntime 1.32.0 (DQ -> op -> Q at level 'disable': the float path)
# ##########################################################################

GEOMETRIES = [
    dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1),
    dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0], count_include_pad=0, ceil_mode=1),
    dict(kernel_shape=[2, 2], strides=[1, 2], pads=[0, 0, 0, 0], dilations=[2, 2]),
    dict(kernel_shape=[6, 7], strides=[1, 1], pads=[0, 0, 0, 0]),
]
SCALES = [0.1, 0.3, 0.05, 0.02, 0.7, 0.0123]
NP = {"uint8": np.uint8, "int8": np.int8, "uint16": np.uint16, "int16": np.int16}


def _range(dt):
    info = np.iinfo(NP[dt])
    return int(info.min), int(info.max)


def qdq_case(rng, shape=(1, 3, 6, 7), types=("uint8", "int8")):
    """(x, sx, zx, sy, zy, dtype, y_dtype): random data, scales, zero points and in/out types."""
    dt, ydt = types[int(rng.integers(len(types)))], types[int(rng.integers(len(types)))]
    (lo, hi), (ylo, yhi) = _range(dt), _range(ydt)
    x = rng.integers(lo, hi + 1, shape).astype(NP[dt])
    sx, sy = (float(np.float32(rng.choice(SCALES))) for _ in range(2))
    return x, sx, int(rng.integers(lo, hi + 1)), sy, int(rng.integers(ylo, yhi + 1)), dt, ydt


def run_float_path(op, case, attrs, domain=""):
    """onnxruntime's output of DQ -> op -> Q with graph optimizations disabled."""
    from refquant.peers import onnx_fusion as F
    x, sx, zx, sy, zy, _dt, ydt = case
    model = F.qdq_model(op, [(x, sx, zx)], (sy, zy), t_out=NP[ydt], attrs=attrs, domain=domain)
    ops, got = F.optimized(model, "disable", {"x0": x})
    assert op in ops, ops
    return got


def compare(got, model):
    """(elements, outside the model's candidates, implementation-defined, differing from the first)."""
    flat = np.asarray(model, dtype=object).ravel()
    g = np.asarray(got).ravel().tolist()
    first = [m.first if isinstance(m, ImplementationDefined) else m for m in flat]
    return (len(g), sum(v not in possible(m) for v, m in zip(g, flat)),
            sum(isinstance(m, ImplementationDefined) for m in flat), sum(v != f for v, f in zip(g, first)))


def pool_sweep(seed, cases_per_geometry, types=("uint8", "int8"), shape=(1, 3, 6, 7)):
    """AveragePool over GEOMETRIES and GlobalAveragePool on random planes: [elements, differences
    from 'ort_float', differences from 'onnx_ref']."""
    rng = np.random.default_rng(seed)
    tally = [0, 0, 0]
    for g in GEOMETRIES:
        for _ in range(cases_per_geometry):
            case = qdq_case(rng, shape, types)
            x, sx, zx, sy, zy, dt, ydt = case
            got = run_float_path("AveragePool", case, g)
            mine = np.array(OF.avg_pool_ort_float(x, sx, zx, sy, zy, dtype=dt, y_dtype=ydt, **g))
            ref = np.array(O.ref_avg_pool(x, sx, zx, sy, zy, dtype=dt, **g)) if dt == ydt and "8" in dt else mine
            tally = [tally[0] + got.size, tally[1] + int((got != mine).sum()), tally[2] + int((got != ref).sum())]
    for _ in range(cases_per_geometry * 2):
        case = qdq_case(rng, shape[:2] + (int(rng.integers(1, 13)), int(rng.integers(1, 13))), types)
        x, sx, zx, sy, zy, dt, ydt = case
        got = run_float_path("GlobalAveragePool", case, {})
        mine = np.array(OF.global_avg_pool_ort_float(x, sx, zx, sy, zy, dtype=dt, y_dtype=ydt))
        ref = np.array(O.ref_global_avg_pool(x, sx, zx, sy, zy, dtype=dt)) if dt == ydt and "8" in dt else mine
        tally = [tally[0] + got.size, tally[1] + int((got != mine).sum()), tally[2] + int((got != ref).sum())]
    return tally


def unary_sweep(op, seed, cases, types=("uint8", "int8"), shape=(1, 3, 6, 7)):
    """Softmax (axis -1) / Gelu / com.microsoft Gelu: summed ``compare`` over random cases."""
    rng = np.random.default_rng(seed)
    tally = [0, 0, 0, 0]
    for _ in range(cases):
        case = qdq_case(rng, shape, types)
        x, sx, zx, sy, zy, dt, ydt = case
        if op == "Softmax":
            got = run_float_path(op, case, {"axis": -1})
            model = OF.softmax_ort_float(x, sx, zx, sy, zy, dtype=dt, y_dtype=ydt, axis=-1)
        else:
            got = run_float_path("Gelu", case, {}, domain="com.microsoft" if op == "contrib Gelu" else "")
            model = OF.gelu_ort_float(x, sx, zx, sy, zy, dtype=dt, y_dtype=ydt)
        tally = [a + b for a, b in zip(tally, compare(got, model))]
    return tally


def test_float_pools_equal_onnxruntime_on_a_seeded_sample():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    elements, ort_diff, _ = pool_sweep(0, 2)
    assert elements > 400 and ort_diff == 0


def test_float_pools_16bit_and_mixed_types():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    elements, ort_diff, _ = pool_sweep(3, 1, types=("uint16", "int16", "int8"))
    assert elements > 200 and ort_diff == 0


@pytest.mark.parametrize("op", ["Softmax", "Gelu", "contrib Gelu"])
def test_softmax_and_gelu_within_the_candidates_on_a_seeded_sample(op):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    # Gelu's certified erf costs ~0.15 s per distinct value: a small tensor here, the sweep is slow
    shape = (1, 3, 6, 7) if op == "Softmax" else (1, 1, 2, 7)
    elements, outside, _impl, _differ = unary_sweep(op, 0, 3 if op == "Softmax" else 1, shape=shape)
    assert elements == (378 if op == "Softmax" else 14) and outside == 0


@pytest.mark.slow
def test_slow_sweep_float_paths():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    elements, ort_diff, _ = pool_sweep(1, 40, shape=(2, 4, 12, 13))
    assert elements >= 10**5 and ort_diff == 0, (elements, ort_diff)
    for op in ("Softmax", "Gelu"):
        elements, outside, _impl, _differ = unary_sweep(op, 2, 200, shape=(2, 4, 12, 13))
        assert elements >= 10**5 and outside == 0, (op, elements, outside)


@pytest.mark.slow
def test_verify_rows_of_the_float_paths_and_the_new_resize_modes_are_explained():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers import onnx_fusion as F
    from refquant.peers import onnx_resize as PR
    rows = F.float_path_rows(cases=2) + PR.extra_rows("ort", 53, 3) + PR.extra_rows("ref", 54, 2)
    assert rows and all(r.status in ("pass", "known") for r in rows), [r for r in rows if r.status not in
                                                                         ("pass", "known")]


def test_model_runner_computes_the_float_pools_exactly_under_the_onnxruntime_row():
    # refquant model run at level disable: DQ -> AveragePool / GlobalAveragePool -> Q gives one exact
    # result under the onnxruntime row (its 'ort_float' variants), equal to onnxruntime and to onnx_float
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant import model
    from refquant.peers import onnx_fusion as F
    rng = np.random.default_rng(5)
    for op, attrs in (("AveragePool", F.ATTRS["AveragePool"]), ("GlobalAveragePool", {})):
        for dt in ("uint8", "int8"):
            case = qdq_case(rng, (1, 3, 6, 7), (dt,))
            x, sx, zx, sy, zy, _, _ = case
            proto = F.qdq_model(op, [(x, sx, zx)], (sy, zy), attrs=attrs)
            res = model.run(model.from_proto(proto), {"x0": x}, "onnxruntime")
            y = res.values["y"]
            want = (OF.avg_pool_ort_float(x, sx, zx, sy, zy, dtype=dt, **attrs) if op == "AveragePool"
                    else OF.global_avg_pool_ort_float(x, sx, zx, sy, zy, dtype=dt))
            assert y.exact and (y.v == np.array(want)).all(), (op, dt)
            assert (y.v == run_float_path(op, case, attrs)).all(), (op, dt)


# ##########################################################################
# AveragePool-11..18: MlasPool (variant 'ort_float' of qdq_avg_pool_opset11_18)
# ##########################################################################

def test_mlas_pool_kernel_choice():
    kind = OF.mlas_pool_kernel
    assert kind([6, 7], [6, 7], None, None, 0, 0) == "global"
    assert kind([6, 7], [3, 3], [1, 1], [1, 1, 1, 1], 0, 1) == "vector"
    assert kind([6, 7], [3, 3], [2, 2], [1, 1, 1, 1], 1, 1) == "ort_loops"      # ceil_mode + count_include_pad
    assert kind([6, 7], [3, 3], [1, 3], None, 0, 0) == "generic"                # last stride > 2
    assert kind([6, 40], [3, 33], None, None, 0, 0) == "generic"                # a kernel > 32
    assert kind([2, 2046], [1, 2], None, None, 0, 0) == "generic"               # width over the reduction buffer
    assert kind([2, 2045], [1, 2], None, None, 0, 0) == "vector"
    assert kind([9], [3], None, None, 0, 0) == "generic"                        # 1-D never vector
    assert kind([4, 5, 6], [2, 2, 2], [1, 1, 2], None, 0, 0) == "vector"


def test_mlas_column_sum_is_not_the_sequential_sum():
    # window [[2^24, 1], [0, 1]]: row-major, each 1 meets 2^24 alone and is lost (a tie, to even);
    # the column sums 2^24 and 1 + 1 = 2 keep it
    big = Fraction(2**24)
    vals = [(0, big), (1, Fraction(1)), (2, Fraction(0)), (3, Fraction(1))]
    assert OF.mlas_column_sum(vals, 2) == big + 2
    seq = Fraction(0)
    for _, v in vals:
        seq = OF.fadd("fp32", seq, v)
    assert seq == big


def test_mlas_pool_rejects_dilations():
    with pytest.raises(ShapeError):
        OF.avg_pool_mlas_float([[[[1, 2], [3, 4]]]], 0.5, 0, 0.5, 0, kernel_shape=[1, 1], dilations=[2, 1])


def mlas_geometry(rng):
    """(input spatial shape, AveragePool attributes) drawn so that every MlasPool loop occurs."""
    d = int(rng.integers(1, 4))
    sp = [int(rng.integers(1, 8)) for _ in range(d)]
    r = rng.random()
    if d >= 2 and r < 0.1:
        sp[-1] = int(rng.integers(33, 41))          # a kernel > 32 possible
    if d == 2 and 0.1 <= r < 0.13:
        sp = [1, 2046]                              # over the reduction buffer
    k = [int(rng.integers(1, min(v, 2 if v > 100 else v) + 1)) for v in sp]     # short windows on the wide row
    if r > 0.8:
        k = list(sp)                                # global kernel (with strides 1, no pads)
    s = [int(rng.integers(1, 4)) for _ in range(d)]
    pads = [int(rng.integers(0, kk)) if kk > 1 and r <= 0.8 else 0 for kk in k * 2]
    if r > 0.8:
        s = [1] * d if r > 0.88 else s
    return sp, dict(kernel_shape=k, strides=s, pads=pads, ceil_mode=int(rng.integers(2)),
                    count_include_pad=int(rng.integers(2)))


def mlas_sweep(seed, cases, channels=2):
    """QDQ AveragePool at opsets 11-18 on random geometries (1 to ``channels`` planes): {loop: [outputs,
    differences]}."""
    from refquant.peers import onnx_fusion as F
    rng = np.random.default_rng(seed)
    tally = {}
    for _ in range(cases):
        sp, attrs = mlas_geometry(rng)
        case = qdq_case(rng, (1, 1 if sp[-1] > 100 else int(rng.integers(1, channels + 1)), *sp))
        x, sx, zx, sy, zy, dt, ydt = case
        model = F.qdq_model("AveragePool", [(x, sx, zx)], (sy, zy), t_out=NP[ydt], attrs=attrs,
                            opset=int(rng.choice([11, 12, 13, 17, 18])))
        ops, got = F.optimized(model, "disable", {"x0": x})
        mine = np.array(OF.avg_pool_mlas_float(x, sx, zx, sy, zy, dtype=dt, y_dtype=ydt, **attrs))
        kind = OF.mlas_pool_kernel(sp, attrs["kernel_shape"], attrs["strides"], attrs["pads"], attrs["ceil_mode"],
                                   attrs["count_include_pad"])
        cell = tally.setdefault(kind, [0, 0])
        cell[0] += got.size
        cell[1] += int((got != mine).sum()) if got.shape == mine.shape else got.size
    return tally


def test_float_pool_opset11_18_equals_onnxruntime_on_a_seeded_sample():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    tally = mlas_sweep(7, 40)
    assert set(tally) == {"global", "vector", "generic", "ort_loops"}, tally
    assert all(bad == 0 for _, bad in tally.values()), tally


@pytest.mark.slow
def test_slow_sweep_float_pool_opset11_18():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    tally = mlas_sweep(8, 1000, channels=16)
    assert sum(n for n, _ in tally.values()) >= 10**5 and all(bad == 0 for _, bad in tally.values()), tally


MLAS_RUNNER_GEOMETRIES = [   # (input shape, attributes): vector 2-D and 3-D, global, generic (stride 3), 1-D
    ((1, 3, 6, 7), dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0)),
    ((1, 2, 5, 9), dict(kernel_shape=[2, 4], strides=[2, 2], pads=[1, 0, 0, 3], count_include_pad=1)),
    ((1, 2, 3, 4, 6), dict(kernel_shape=[2, 2, 3], strides=[1, 2, 1], pads=[1, 0, 1, 0, 1, 2], count_include_pad=0)),
    ((1, 3, 6, 7), dict(kernel_shape=[6, 7])),
    ((1, 3, 6, 11), dict(kernel_shape=[2, 4], strides=[1, 3], pads=[0, 1, 1, 2], count_include_pad=0)),
    ((1, 3, 13), dict(kernel_shape=[4], strides=[2], pads=[1, 2], count_include_pad=1)),
]


def test_model_runner_computes_the_opset11_18_float_pool_as_mlaspool():
    # refquant model run of an AveragePool-17 model under the onnxruntime row: float inputs give the
    # binary32 output bits of onnxruntime (opset 17), and a QDQ group the 'ort_float' variant of
    # qdq_avg_pool_opset11_18
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import onnx
    import onnxruntime as ort
    from refquant import model
    from refquant.peers import onnx_fusion as F
    h = onnx.helper
    rng = np.random.default_rng(11)
    for shape, attrs in MLAS_RUNNER_GEOMETRIES:
        x = (rng.standard_normal(shape) * 300).astype(np.float32)
        node = h.make_node("AveragePool", ["x"], ["y"], **attrs)
        g = h.make_graph([node], "g", [h.make_tensor_value_info("x", 1, list(shape))],
                         [h.make_tensor_value_info("y", 1, None)])
        proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
        proto.ir_version = 8
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        want = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        y = model.run(model.from_proto(proto), {"x": x}, "onnxruntime").values["y"]
        assert y.exact and (np.asarray(y.v, np.float32).view(np.uint32) == want.view(np.uint32)).all(), attrs
        case = qdq_case(rng, shape, ("uint8",))
        xq, sx, zx, sy, zy, _, _ = case
        qproto = F.qdq_model("AveragePool", [(xq, sx, zx)], (sy, zy), attrs=attrs, opset=17)
        yq = model.run(model.from_proto(qproto), {"x0": xq}, "onnxruntime").values["y"]
        mine = OF.avg_pool_mlas_float(xq, sx, zx, sy, zy, **attrs)
        assert yq.exact and (yq.v == np.array(mine)).all() and (yq.v == F.optimized(qproto, "disable", {"x0": xq})[1]).all()


def test_level_all_nchwc_pool_sums_sequentially_not_as_mlaspool():
    # measured fact, not modelled by the model runner: at level 'all' a float AveragePool-17 whose channel
    # count is a multiple of the NCHWc block (16 with AVX-512) becomes com.microsoft.nchwc AveragePool
    # (MlasNchwcPool), which sums each window row-major like AveragePool-19, not MlasPool's column sums
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    import os
    import tempfile
    from refquant.model import ops_float as M
    h = onnx.helper
    x = (np.random.default_rng(12).standard_normal((1, 16, 12, 13)) * 300).astype(np.float32)
    attrs = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
    g = h.make_graph([h.make_node("AveragePool", ["x"], ["y"], **attrs)], "g",
                     [h.make_tensor_value_info("x", 1, list(x.shape))], [h.make_tensor_value_info("y", 1, None)])
    proto = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    proto.ir_version = 8
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    with tempfile.TemporaryDirectory() as d:
        so.optimized_model_filepath = os.path.join(d, "opt.onnx")
        got = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        domains = {n.domain for n in onnx.load(so.optimized_model_filepath).graph.node}
    if "com.microsoft.nchwc" not in domains:
        pytest.skip("this CPU's onnxruntime build did not rewrite the pool to NCHWc")
    seq = M._sequential_pool32(x, [3, 3], [1, 1], [1, 1, 1, 1], [1, 1], 0)
    assert (got.view(np.uint32) == seq.view(np.uint32)).all()
    assert (got != M._mlas_pool32(x, [3, 3], [1, 1], [1, 1, 1, 1], 0)).sum() > 100
