"""The model runner over 1-D and 3-D convolution and pooling (docs/model.md §1): the numpy forms equal
refquant.ops.conv_integer (1-D, 2-D and 3-D; 1-D also as 2-D with H = 1) and a direct N-D sum; the spec's
N-D ConvInteger / QLinearConv equal onnxruntime's; small seeded models agree with
onnxruntime 1.32.0 (QLinearConv, ConvInteger, float Conv, AveragePool, MaxPool, GlobalAveragePool, and a
QDQ model compared at levels disable and all)."""

import itertools

import numpy as np
import pytest

from refquant import ops as spec_ops
from refquant.model import graph as G
from refquant.model import ops_quant as oq
from refquant.model.judge import AGREE, IMPL
from refquant.model.registry import Context
from refquant.model.runner import run
from refquant.model.value import V

RNG = np.random.default_rng(1403)


def _direct(x, w, strides, pads, dil, group):
    """The N-D convolution sum written out, one output element at a time (padding contributes 0)."""
    N, C, *sp = x.shape
    M, Cg, *k = w.shape
    d = len(sp)
    out = [(sp[a] + pads[a] + pads[a + d] - dil[a] * (k[a] - 1) - 1) // strides[a] + 1 for a in range(d)]
    y = np.zeros([N, M] + out, np.int64)
    for n, m, *o in itertools.product(range(N), range(M), *[range(v) for v in out]):
        g = m // (M // group)
        s = 0
        for c, *kk in itertools.product(range(Cg), *[range(v) for v in k]):
            pos = [o[a] * strides[a] + kk[a] * dil[a] - pads[a] for a in range(d)]
            if all(0 <= pos[a] < sp[a] for a in range(d)):
                s += int(x[(n, g * Cg + c) + tuple(pos)]) * int(w[(m, c) + tuple(kk)])
        y[(n, m) + tuple(o)] = s
    return y


@pytest.mark.parametrize("group,stride,pads,dil", [(1, 1, (1, 1), 1), (1, 2, (0, 2), 1), (2, 1, (1, 0), 2),
                                                    (4, 3, (2, 1), 1)])
def test_conv1d_acc_equals_conv_integer(group, stride, pads, dil):
    """1-D: the runner's forms (numpy N-D, and the C kernel as 2-D with H = 1) equal ops.conv_integer on
    the same convolution written as 2-D with H = 1 (kernel height 1, stride 1, no pad: the same terms)."""
    x = RNG.integers(0, 256, (2, 4, 11))
    w = RNG.integers(-128, 128, (4, 4 // group, 3))
    want = np.array(spec_ops.conv_integer(x[:, :, None, :].tolist(), w[:, :, None, :].tolist(), 7, -2, x_type="uint8",
                                          w_type="int8", strides=[1, stride], pads=[0, pads[0], 0, pads[1]],
                                          dilations=[1, dil], group=group))[:, :, 0, :]
    got = oq.conv_acc(x - 7, w + 2, [stride], list(pads), [dil], group)
    assert np.array_equal(got, want)
    assert np.array_equal(got, _direct(x - 7, w + 2, [stride], list(pads), [dil], group))
    raw = oq.conv_acc_raw(x.astype(np.uint8), 7, w.astype(np.int8), np.array([-2]), [stride], list(pads), [dil], group)
    assert np.array_equal(raw, want)


@pytest.mark.parametrize("group,strides,pads,dil", [(1, (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1)),
                                                     (2, (2, 1, 2), (0, 1, 2, 1, 0, 1), (1, 2, 1))])
def test_conv3d_acc_equals_direct_sum(group, strides, pads, dil):
    x = RNG.integers(-128, 128, (1, 4, 5, 6, 4))
    w = RNG.integers(-128, 128, (2, 4 // group, 2, 3, 2))
    got = oq.conv_acc(x, w, list(strides), list(pads), list(dil), group)
    assert np.array_equal(got, _direct(x, w, strides, pads, dil, group))


@pytest.mark.parametrize("group,strides,pads,dil", [(1, (1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1)),
                                                     (2, (2, 1, 2), (0, 1, 2, 1, 0, 1), (1, 2, 1))])
def test_spec_conv3d_equals_direct_sum_and_runner(group, strides, pads, dil):
    """refquant.ops.conv_integer in 3-D (zero points, per-channel w zero points) equals the direct sum."""
    x = RNG.integers(0, 256, (1, 4, 4, 5, 3))
    w = RNG.integers(-128, 128, (2, 4 // group, 2, 3, 2))
    zw = [3, -4]
    want = _direct(x - 9, w - np.array(zw)[:, None, None, None, None], strides, pads, dil, group)
    got = np.array(spec_ops.conv_integer(x.tolist(), w.tolist(), 9, zw, x_type="uint8", w_type="int8",
                                         strides=list(strides), pads=list(pads), dilations=list(dil), group=group))
    assert np.array_equal(got, want)
    assert np.array_equal(got, oq.conv_acc(x - 9, w - np.array(zw)[:, None, None, None, None], list(strides),
                                           list(pads), list(dil), group))


def test_spec_conv1d_is_2d_with_unit_height():
    """1-D directly = the same convolution written as 2-D with H = 1, under a saturating int16 accumulator
    too (the same terms in the same order, so the same clamps and overflow counts)."""
    from refquant.integers import Accumulator
    x = RNG.integers(0, 256, (1, 4, 12))
    w = RNG.integers(-128, 128, (4, 2, 3))
    kw = dict(x_type="uint8", w_type="int8", group=2)
    a1, a2 = Accumulator(16, "saturate"), Accumulator(16, "saturate")
    one = spec_ops.conv_integer(x.tolist(), w.tolist(), 0, 0, strides=[2], pads=[1, 2], dilations=[2],
                                accumulator=a1, **kw)
    two = spec_ops.conv_integer(x[:, :, None, :].tolist(), w[:, :, None, :].tolist(), 0, 0, strides=[1, 2],
                                pads=[0, 1, 0, 2], dilations=[1, 2], accumulator=a2, **kw)
    assert np.array_equal(np.array(one), np.array(two)[:, :, 0, :])
    assert sum(a1.overflows.values()) == sum(a2.overflows.values()) > 0


def test_spec_conv_nd_bad_geometry_named():
    from refquant.errors import ShapeError
    x, w = np.zeros((1, 2, 5), np.int64).tolist(), np.zeros((1, 2, 3), np.int64).tolist()
    with pytest.raises(ShapeError, match="1-D conv needs 1 strides, 2 pads"):
        spec_ops.conv_integer(x, w, strides=[1, 1], x_type="int8", w_type="int8")
    with pytest.raises(ShapeError, match="equal rank 3, 4 or 5"):
        spec_ops.conv_integer(x, np.zeros((1, 2, 3, 3), np.int64).tolist(), x_type="int8", w_type="int8")


# ##########################################################################
# against onnxruntime: one-node and QDQ models
# ##########################################################################

def _session(model):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _one_node(op, inputs, inits, out_type, attrs, opset=13):
    """A one-node model: ``inputs`` [(name, array)] graph inputs, ``inits`` [(name, array)] initializers."""
    pytest.importorskip("onnx")
    from onnx import helper, numpy_helper
    tin = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
           for n, a in inputs]
    names = [n for n, _ in inputs] + [n for n, _ in inits]
    node = helper.make_node(op, names, ["y"], name=op.lower(), **attrs)
    g = helper.make_graph([node], "g", tin, [helper.make_tensor_value_info("y", out_type, None)],
                          [numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _run_both(model, feeds, backend="onnxruntime"):
    got = run(G.from_proto(model, "test"), feeds, backend).values["y"]
    want = _session(model).run(["y"], feeds)[0]
    return got, want


def _inside(v, want):
    lo, hi = v.bounds()
    return bool(np.all((want >= lo) & (want <= hi)))


CONV_CASES = {   # rank: (x shape, w shape, attrs)
    1: ((1, 4, 13), (6, 2, 3), {"strides": [2], "pads": [1, 2], "dilations": [2], "group": 2}),
    3: ((1, 3, 5, 6, 4), (4, 3, 3, 2, 2), {"strides": [1, 2, 1], "pads": [1, 0, 1, 1, 1, 0], "dilations": [1, 1, 2]}),
}


@pytest.mark.parametrize("rank", [1, 3])
def test_qlinear_conv_nd_agrees_with_onnxruntime(rank):
    pytest.importorskip("onnx")
    from onnx import TensorProto
    xs, ws, attrs = CONV_CASES[rank]
    x = RNG.integers(0, 256, xs).astype(np.uint8)
    w = RNG.integers(-127, 128, ws).astype(np.int8)
    sw = (RNG.uniform(0.002, 0.02, ws[0])).astype(np.float32)
    bias = RNG.integers(-3000, 3000, ws[0]).astype(np.int32)
    inits = [("sx", np.float32(0.05)), ("zx", np.uint8(121)), ("w", w), ("sw", sw), ("zw", np.zeros(ws[0], np.int8)),
             ("sy", np.float32(0.09)), ("zy", np.uint8(117)), ("b", bias)]
    m = _one_node("QLinearConv", [("x", x)], inits, TensorProto.UINT8, attrs)
    got, want = _run_both(m, {"x": x})
    assert got.exact and np.array_equal(got.v, want)
    spec = spec_ops.qlinear_conv(x, np.float32(0.05), 121, w, sw, 0, np.float32(0.09), 117, method="ort", x_type="uint8",
                                 w_type="int8", bias=bias.tolist(), **{k: v for k, v in attrs.items()})
    assert np.array_equal(np.array(spec), want)


@pytest.mark.parametrize("rank", [1, 3])
def test_conv_integer_nd_agrees_with_onnxruntime(rank):
    pytest.importorskip("onnx")
    from onnx import TensorProto
    xs, ws, attrs = CONV_CASES[rank]
    x = RNG.integers(0, 256, xs).astype(np.uint8)
    w = RNG.integers(0, 256, ws).astype(np.uint8)
    m = _one_node("ConvInteger", [("x", x)], [("w", w), ("zx", np.uint8(119)), ("zw", np.uint8(131))],
                  TensorProto.INT32, attrs)
    got, want = _run_both(m, {"x": x})
    assert np.array_equal(got.v, want)
    spec = spec_ops.conv_integer(x, w, 119, 131, x_type="uint8", w_type="uint8", **attrs)
    assert np.array_equal(np.array(spec), want)


@pytest.mark.parametrize("rank", [1, 3])
def test_float_conv_nd_encloses_onnxruntime(rank):
    pytest.importorskip("onnx")
    from onnx import TensorProto
    xs, ws, attrs = CONV_CASES[rank]
    x = RNG.standard_normal(xs).astype(np.float32)
    w = RNG.standard_normal(ws).astype(np.float32)
    b = RNG.standard_normal(ws[0]).astype(np.float32)
    m = _one_node("Conv", [("x", x)], [("w", w), ("b", b)], TensorProto.FLOAT, attrs)
    got, want = _run_both(m, {"x": x})
    assert got.shape == want.shape and _inside(got, want)
    assert np.max(np.abs(got.v - want)) < 1e-4


POOL_CASES = {
    1: ((2, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
    3: ((1, 2, 5, 4, 6), {"kernel_shape": [2, 3, 2], "strides": [1, 2, 2], "pads": [1, 1, 0, 0, 1, 1]}),
}


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("include", [0, 1])
def test_average_pool_nd_encloses_onnxruntime(rank, include):
    pytest.importorskip("onnx")
    from onnx import TensorProto
    xs, attrs = POOL_CASES[rank]
    x = RNG.standard_normal(xs).astype(np.float32)
    m = _one_node("AveragePool", [("x", x)], [], TensorProto.FLOAT, dict(attrs, count_include_pad=include), opset=11)
    got, want = _run_both(m, {"x": x})
    assert got.shape == want.shape and _inside(got, want)


@pytest.mark.parametrize("rank", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_max_pool_nd_equals_onnxruntime(rank, dtype):
    pytest.importorskip("onnx")
    from onnx import helper
    xs, attrs = POOL_CASES[rank]
    x = (RNG.standard_normal(xs).astype(np.float32) if dtype == np.float32 else RNG.integers(0, 256, xs).astype(dtype))
    attrs = dict(attrs, dilations=[2] + [1] * (rank - 1))
    m = _one_node("MaxPool", [("x", x)], [], helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), attrs)
    got, want = _run_both(m, {"x": x})
    assert got.exact and np.array_equal(got.v, want)


@pytest.mark.parametrize("rank", [1, 3])
def test_global_average_pool_nd_encloses_onnxruntime(rank):
    pytest.importorskip("onnx")
    from onnx import TensorProto
    x = RNG.standard_normal(POOL_CASES[rank][0]).astype(np.float32)
    m = _one_node("GlobalAveragePool", [("x", x)], [], TensorProto.FLOAT, {})
    got, want = _run_both(m, {"x": x})
    assert got.shape == want.shape and _inside(got, want)


def test_rank_outside_1_to_3_is_a_shape_error():
    from refquant.errors import ShapeError
    node = G.Node("c", "ConvInteger", "", ["x", "w"], ["y"], {})
    with pytest.raises(ShapeError, match="1-D, 2-D and 3-D"):
        oq.conv_integer(Context("onnxruntime"), node, [V(np.zeros((1, 1, 2, 2, 2, 2), np.uint8)),
                                                       V(np.zeros((1, 1, 1, 1, 1, 1), np.uint8))])


def _qdq_model(rank):
    """x -> Q -> DQ -> Conv(DQ(w int8 per-channel), DQ(b int32)) -> Q -> DQ -> AveragePool -> Q -> DQ
    -> MaxPool -> Q -> DQ -> GlobalAveragePool -> Q -> DQ -> y, over ``rank`` spatial axes (as
    quantize_static writes QDQ groups; scales chosen, not calibrated)."""
    from onnx import TensorProto, helper, numpy_helper
    xs, ws, attrs = CONV_CASES[rank]
    w = RNG.integers(-127, 128, ws).astype(np.int8)
    sw = RNG.uniform(0.002, 0.02, ws[0]).astype(np.float32)
    sx = np.float32(0.02)
    inits = {"w": w, "sw": sw, "zw": np.zeros(ws[0], np.int8), "b": RNG.integers(-900, 900, ws[0]).astype(np.int32),
             "sb": (sx * sw).astype(np.float32), "zb": np.zeros(ws[0], np.int32)}
    for i, (s, z) in enumerate([(sx, 128), (0.05, 120), (0.04, 118), (0.04, 118), (0.03, 115)]):
        inits[f"s{i}"], inits[f"z{i}"] = np.float32(s), np.uint8(z)
    n = []

    def qdq(src, i, out):
        n.append(helper.make_node("QuantizeLinear", [src, f"s{i}", f"z{i}"], [f"{out}_q"], name=f"{out}_Q"))
        n.append(helper.make_node("DequantizeLinear", [f"{out}_q", f"s{i}", f"z{i}"], [out], name=f"{out}_DQ"))
    qdq("x", 0, "xd")
    n.append(helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], name="w_DQ", axis=0))
    n.append(helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bd"], name="b_DQ", axis=0))
    n.append(helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv", **attrs))
    qdq("c", 1, "cd")
    k = [2] * rank
    n.append(helper.make_node("AveragePool", ["cd"], ["a"], name="avg", kernel_shape=k, pads=[1] * (2 * rank)))
    qdq("a", 2, "ad")
    n.append(helper.make_node("MaxPool", ["ad"], ["mp"], name="maxpool", kernel_shape=k, strides=[1] * rank))
    qdq("mp", 3, "md")
    n.append(helper.make_node("GlobalAveragePool", ["md"], ["g"], name="gap"))
    qdq("g", 4, "y")
    g = helper.make_graph(n, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(xs))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.asarray(a), k_) for k_, a in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


@pytest.mark.parametrize("rank", [1, 3])
def test_qdq_nd_model_compares_with_onnxruntime(tmp_path, rank):
    """A QDQ model over 1-D / 3-D: at level all onnxruntime runs QLinearConv, QLinearAveragePool,
    MaxPool on the integers and QLinearGlobalAveragePool; at disable the float path; every node agrees
    or is implementation-defined, at both levels."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")

    from refquant.model.compare import compare
    p = tmp_path / f"qdq{rank}d.onnx"
    onnx.save(_qdq_model(rank), p)
    x = RNG.standard_normal(CONV_CASES[rank][0]).astype(np.float32)
    reports, _ = compare(p, ["onnxruntime:disable", "onnxruntime:all"], {"x": x})
    fused = {n.key.replace("com.microsoft.", "") for n in reports[1][1].graph.nodes}
    assert {"QLinearConv", "QLinearAveragePool", "QLinearGlobalAveragePool"} <= fused, fused
    for rep, _t in reports:
        assert not rep.diverges, [(n.node, n.klass) for n in rep.nodes]
        assert all(n.klass in (AGREE, IMPL) for n in rep.nodes)
