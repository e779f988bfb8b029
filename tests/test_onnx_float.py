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
