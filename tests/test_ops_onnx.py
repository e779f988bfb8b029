"""refquant.ops against ONNX: the shipped backend node tests and onnxruntime (1.31.1; 1.32.0 re-measured).

Level-1 (oracle vs peer) tests.  Peers: onnx 1.21.0 (backend node-test data, shipped inside
the package), onnxruntime CPU EP, 1.31.1 and 1.32.0 (single-node models built with onnx.helper).
"""

import glob
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peers import need
from refquant import ops

np = need("numpy")
onnx = need("onnx")

NODE_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
WRAPPED = {"test_qlinearmatmul_2D_int8_float16", "test_qlinearmatmul_2D_int8_float32",
           "test_qlinearmatmul_3D_int8_float16", "test_qlinearmatmul_3D_int8_float32"}
QLINEARMATMUL = sorted(os.path.basename(p) for p in glob.glob(os.path.join(NODE_DIR, "test_qlinearmatmul_*")))
NP_TO_TYPE = {"uint8": "uint8", "int8": "int8"}


def load_case(name):
    """(node, inputs, expected output) of one backend node test, as numpy arrays."""
    from onnx import numpy_helper
    model = onnx.load(os.path.join(NODE_DIR, name, "model.onnx"))
    arrays = []
    for kind in ("input", "output"):
        files = sorted(glob.glob(os.path.join(NODE_DIR, name, "test_data_set_0", f"{kind}_*.pb")))
        tensors = []
        for f in files:
            t = onnx.TensorProto()
            with open(f, "rb") as fh:
                t.ParseFromString(fh.read())
            tensors.append(numpy_helper.to_array(t))
        arrays.append(tensors)
    return model.graph.node[0], arrays[0], arrays[1][0]


def scalar(x):
    """A 0-d / 1-element array as a Python number (floats exactly: a value of the array's format)."""
    v = np.asarray(x).reshape(-1)
    assert v.size == 1
    return v[0].item()


def per(x):
    """A scale or zero point: one number, or a list when it has more than one element."""
    v = np.asarray(x).reshape(-1)
    return v[0].item() if v.size == 1 else v.tolist()


def scale_fmt(x):
    return {"float16": "fp16", "float32": "fp32"}[str(np.asarray(x).dtype)]


# --------------------------------------------------------------------------
# Backend node tests (onnx 1.21.0)
# --------------------------------------------------------------------------

def test_node_matmulinteger_bit_exact():
    node, (A, B, za, zb), expected = load_case("test_matmulinteger")
    got = ops.matmul_integer(A.tolist(), B.tolist(), per(za), per(zb), str(A.dtype), str(B.dtype))
    assert np.array_equal(np.array(got, dtype=np.int32), expected)


def _qlmm(inputs, method):
    a, sa, za, b, sb, zb, sy, zy = inputs
    return np.array(ops.qlinear_matmul(
        a.tolist(), per(sa), per(za), b.tolist(), per(sb), per(zb), per(sy), per(zy), method=method,
        a_type=str(a.dtype), b_type=str(b.dtype), y_type=str(zy.dtype), scale_format=scale_fmt(sa)))


@pytest.mark.parametrize("name", QLINEARMATMUL)
def test_node_qlinearmatmul_reproduced_by_onnx_ref(name):
    """All 8 shipped QLinearMatMul outputs come from the reference's formula, wrap included."""
    assert len(QLINEARMATMUL) == 8
    node, inputs, expected = load_case(name)
    assert np.array_equal(_qlmm(inputs, "onnx_ref"), expected)


@pytest.mark.parametrize("name", QLINEARMATMUL)
def test_node_qlinearmatmul_wrapped_cases_identified(name):
    """Exactly the 4 int8 cases hold wrapped values: spec (`exact`) and `ort` saturate and differ."""
    node, inputs, expected = load_case(name)
    exact, ort = _qlmm(inputs, "exact"), _qlmm(inputs, "ort")
    assert np.array_equal(exact, ort)
    if name in WRAPPED:
        differ = exact != expected
        assert differ.any()
        # every difference is a saturated value whose exact integer wraps to the shipped one
        assert set(np.unique(exact[differ])) <= {-128, 127}
    else:
        assert np.array_equal(exact, expected)


def test_node_qlinearmatmul_2d_int8_wrapped_values():
    """onnx.md §6: the shipped 20 is the exact -236 wrapped; the spec gives -128."""
    node, inputs, expected = load_case("test_qlinearmatmul_2D_int8_float32")
    exact = _qlmm(inputs, "exact")
    assert expected[1, 2] == 20 and exact[1, 2] == -128
    assert ((-236 + 128) % 256) - 128 == 20


def _qlconv(node, inputs, method):
    x, sx, zx, w, sw, zw, sy, zy = inputs[:8]
    bias = inputs[8].tolist() if len(inputs) > 8 else None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    return np.array(ops.qlinear_conv(
        x.tolist(), per(sx), per(zx), w.tolist(), per(sw), per(zw), per(sy), per(zy), method=method,
        x_type=str(x.dtype), w_type=str(w.dtype), y_type=str(zy.dtype), bias=bias,
        strides=attrs.get("strides"), pads=attrs.get("pads"), dilations=attrs.get("dilations"),
        group=attrs.get("group", 1), scale_format=scale_fmt(sx)))


@pytest.mark.parametrize("method", ["onnx_ref_conv", "ort", "exact"])
def test_node_qlinearconv_bit_exact(method):
    node, inputs, expected = load_case("test_qlinearconv")
    assert np.array_equal(_qlconv(node, inputs, method), expected)


# --------------------------------------------------------------------------
# onnxruntime (1.31.1, 1.32.0), single-node models
# --------------------------------------------------------------------------

ONNX_T = {"uint8": 2, "int8": 3, "int32": 6, "float32": 1}


def _ort_run(op, inputs, names, out_type, attrs=None):
    ort = need("onnxruntime")
    from onnx import helper
    inputs = [np.asarray(v) for v in inputs]
    node = helper.make_node(op, names, ["y"], **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(n, ONNX_T[str(v.dtype)], v.shape)
                    for n, v in zip(names, inputs) if n]
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_tensor_value_info("y", ONNX_T[out_type], None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {n: v for n, v in zip(names, inputs) if n})[0]


TYPES = {"uint8": (0, 255), "int8": (-128, 127)}


def f32(x):
    return np.float32(x)


def random_scale(rng, lo=-9, hi=-4):
    return np.float32(np.exp2(rng.uniform(lo, hi)))


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8"), ("int8", "uint8")]),
       st.integers(1, 3), st.integers(1, 40), st.integers(1, 6), st.integers(0, 2**32 - 1), st.booleans())
def test_ort_matmulinteger(types, M, K, N, seed, per_col):
    rng = np.random.default_rng(seed)
    ta, tb = types
    A = rng.integers(*TYPES[ta], (2, M, K), endpoint=True).astype(ta)
    B = rng.integers(*TYPES[tb], (K, N), endpoint=True).astype(tb)
    za = np.array(rng.integers(*TYPES[ta], endpoint=True), dtype=ta)
    zb = np.array(rng.integers(*TYPES[tb], (N,) if per_col else (), endpoint=True), dtype=tb)
    expected = _ort_run("MatMulInteger", [A, B, za, zb], ["A", "B", "za", "zb"], "int32")
    got = ops.matmul_integer(A.tolist(), B.tolist(), za.item(), zb.tolist(), ta, tb)
    assert np.array_equal(np.array(got), expected)


def test_ort_matmulinteger_wraps_like_oracle():
    """K*255*255 beyond 2^31: ORT wraps mod 2^32, as the default accumulator does."""
    K = 33100
    A = np.full((1, K), 255, np.uint8)
    B = np.full((K, 1), 255, np.uint8)
    expected = _ort_run("MatMulInteger", [A, B], ["A", "B"], "int32")
    from refquant.integers import Accumulator
    acc = Accumulator(32, "wrap")
    got = ops.matmul_integer(A.tolist(), B.tolist(), accumulator=acc)
    assert got[0][0] == int(expected[0, 0]) == ((K * 255 * 255 + 2**31) % 2**32) - 2**31
    assert acc.overflows == {(0, 0): 1}


QLMM_TYPES = [("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")]


def _ort_qlinearmatmul(a, sa, za, b, sb, zb, sy, zy):
    names = ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"]
    return _ort_run("QLinearMatMul", [a, sa, za, b, sb, zb, sy, zy], names, str(zy.dtype))


def random_operands(rng, ta, tb, M, K, N, per_col):
    """A (M x K) and B (K x N) of their types over the full range, zero points per tensor (B: or per column)."""
    a = rng.integers(*TYPES[ta], (M, K), endpoint=True).astype(ta)
    b = rng.integers(*TYPES[tb], (K, N), endpoint=True).astype(tb)
    za = np.array(rng.integers(*TYPES[ta], endpoint=True), ta)
    zb = np.array(rng.integers(*TYPES[tb], (N,) if per_col else (), endpoint=True), tb)
    return a, b, za, zb


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(QLMM_TYPES), st.integers(1, 4), st.integers(1, 64), st.integers(1, 5),
       st.integers(0, 2**32 - 1), st.booleans())
def test_ort_qlinearmatmul(types, M, K, N, seed, per_col):
    rng = np.random.default_rng(seed)
    ta, tb = types
    a, b, za, zb = random_operands(rng, ta, tb, M, K, N, per_col)
    sa, sy = random_scale(rng), random_scale(rng, -6, -1)
    sb = np.array([random_scale(rng) for _ in range(N)], np.float32) if per_col else random_scale(rng)
    zy = np.array(rng.integers(*TYPES[ta], endpoint=True), ta)
    expected = _ort_qlinearmatmul(a, sa, za, b, sb, zb, sy, zy)
    got = ops.qlinear_matmul(a.tolist(), sa.item(), za.item(), b.tolist(), per(sb), per(zb), sy.item(),
                             zy.item(), method="ort", a_type=ta, b_type=tb, y_type=ta)
    assert np.array_equal(np.array(got), expected)
    # float_fp32 with M from derive_params('ort') is the same computation
    assert got == ops.qlinear_matmul(a.tolist(), sa.item(), za.item(), b.tolist(), per(sb), per(zb),
                                     sy.item(), zy.item(), method="float_fp32", a_type=ta, b_type=tb)


def test_ort_qlinearmatmul_near_ties():
    """Scales constructed so that acc*M is within a few f32 ulps of k + 1/2: ORT follows f32 `ort`.

    The exact-rational method (`exact`) and onnx_ref's f64 product differ from ORT on some of
    these; ORT must match `ort` on all of them.
    """
    rng = np.random.default_rng(7)
    differ_exact = differ_ref = 0
    n = 300
    for _ in range(n):
        acc = int(rng.integers(1000, 15000))
        k = int(rng.integers(5, 120))
        sa, sb = random_scale(rng), random_scale(rng)
        target = np.float64(k + 0.5) / acc
        sy = np.float32(np.float32(sa * sb) / np.float32(target))
        K = acc // 250 + 1
        a = np.array([[250] * (acc // 250) + [acc % 250]], np.uint8)
        b = np.ones((K, 1), np.uint8)
        u0 = np.array(0, np.uint8)
        expected = int(_ort_qlinearmatmul(a, sa, u0, b, sb, u0, sy, u0)[0, 0])
        args = (a.tolist(), sa.item(), 0, b.tolist(), sb.item(), 0, sy.item(), 0)
        assert ops.qlinear_matmul(*args, method="ort")[0][0] == expected, (sa, sb, sy, acc)
        differ_exact += ops.qlinear_matmul(*args, method="exact")[0][0] != expected
        differ_ref += ops.qlinear_matmul(*args, method="onnx_ref")[0][0] != expected
    assert differ_exact > 0 and differ_ref > 0  # the cases really are near ties


def test_ort_qlinearmatmul_saturation_edges():
    a = np.array([[255, 0], [0, 255]], np.uint8)
    b = np.array([[127, -128], [-128, 127]], np.int8)
    sa, sb, sy = np.float32(0.5), np.float32(0.25), np.float32(0.0078125)
    zy = np.array(128, np.uint8)
    expected = _ort_qlinearmatmul(a, sa, np.array(0, np.uint8), b, sb, np.array(0, np.int8), sy, zy)
    got = ops.qlinear_matmul(a.tolist(), 0.5, 0, b.tolist(), 0.25, 0, 0.0078125, 128, b_type="int8")
    assert np.array_equal(np.array(got), expected) and set(expected.ravel()) == {0, 255}


def _ort_qlinearconv(x, sx, zx, w, sw, zw, sy, zy, bias, attrs):
    names = ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"] + (["B"] if bias is not None else [])
    inputs = [x, sx, zx, w, sw, zw, sy, zy] + ([bias] if bias is not None else [])
    return _ort_run("QLinearConv", inputs, names, str(zy.dtype), attrs)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")]), st.integers(0, 2**32 - 1),
       st.sampled_from([1, 2]), st.booleans(), st.booleans())
def test_ort_qlinearconv(types, seed, group, per_channel, with_bias):
    rng = np.random.default_rng(seed)
    tx, tw = types
    C, M = 2 * group, 2 * group
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x = rng.integers(*TYPES[tx], (1, C, 6, 5), endpoint=True).astype(tx)
    w = rng.integers(*TYPES[tw], (M, C // group, kh, kw), endpoint=True).astype(tw)
    zx = np.array(rng.integers(*TYPES[tx], endpoint=True), tx)
    zw = np.array(0 if tw == "int8" else rng.integers(0, 255), tw)  # ORT: symmetric int8 weights
    sx, sy = random_scale(rng), random_scale(rng, -6, -2)
    sw = np.array([random_scale(rng) for _ in range(M)], np.float32) if per_channel else random_scale(rng)
    zy = np.array(rng.integers(*TYPES[tx], endpoint=True), tx)
    bias = rng.integers(-5000, 5000, M).astype(np.int32) if with_bias else None
    attrs = {"strides": [int(rng.integers(1, 3))] * 2, "pads": [int(p) for p in rng.integers(0, 2, 4)],
             "dilations": [int(rng.integers(1, 3))] * 2, "group": group}
    expected = _ort_qlinearconv(x, sx, zx, w, sw, zw, sy, zy, bias, attrs)
    got = ops.qlinear_conv(x.tolist(), sx.item(), zx.item(), w.tolist(), per(sw), zw.item(), sy.item(), zy.item(),
                           method="ort", x_type=tx, w_type=tw, y_type=tx,
                           bias=None if bias is None else bias.tolist(), **attrs)
    assert np.array_equal(np.array(got), expected)


# --------------------------------------------------------------------------
# com.microsoft MatMulIntegerToFloat (onnxruntime contrib op) vs dequantize_matmul
# --------------------------------------------------------------------------

def _ort_matmul_integer_to_float(inputs, names):
    """One com.microsoft MatMulIntegerToFloat node (inputs A, B, a_scale, b_scale, a_zp, b_zp, bias)."""
    ort = need("onnxruntime")
    from onnx import helper
    inputs = [np.asarray(v) for v in inputs]
    node = helper.make_node("MatMulIntegerToFloat", names, ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, ONNX_T[str(v.dtype)], v.shape)
                                            for n, v in zip(names, inputs)],
                              [helper.make_tensor_value_info("y", ONNX_T["float32"], None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, dict(zip(names, inputs)))[0]


# ORT 1.31.1 has kernels for u8 x u8, u8 x s8 and s8 x s8 only (s8 x u8: NOT_IMPLEMENTED).
MITF_TYPES = [("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(MITF_TYPES), st.integers(1, 4), st.integers(1, 300), st.integers(1, 6),
       st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_ort_matmul_integer_to_float(types, M, K, N, seed, per_col, with_bias):
    """y = fl(fl(acc)*fl(sa*sb_j)), then fl(y + bias_j): bit-exact against ORT's contrib op."""
    rng = np.random.default_rng(seed)
    ta, tb = types
    a, b, za, zb = random_operands(rng, ta, tb, M, K, N, per_col)
    sa = random_scale(rng, -9, -2)
    sb = np.array([random_scale(rng, -9, -2) for _ in range(N)], np.float32) if per_col else random_scale(rng, -9, -2)
    bias = rng.uniform(-50, 50, N).astype(np.float32)
    names = ["A", "B", "sa", "sb", "za", "zb"] + (["bias"] if with_bias else [])
    expected = _ort_matmul_integer_to_float([a, b, sa, sb, za, zb] + ([bias] if with_bias else []), names)
    got = ops.dequantize_matmul(a.tolist(), sa.item(), za.item(), b.tolist(), per(sb), per(zb), a_type=ta,
                                b_type=tb, float_bias=bias.tolist() if with_bias else None)
    assert np.array_equal(np.array(got, np.float32), expected)


def test_ort_matmul_integer_to_float_discriminates():
    """Large accumulators (fl(acc) rounds) and biases: the model is the only one of its neighbours
    that fits every output: not fl(acc*sa*sb) exact, not fl(fl(acc*sa)*sb), not an FMA bias."""
    from fractions import Fraction
    from refquant import requant as rq
    rng = np.random.default_rng(2)
    a = rng.integers(200, 256, (4, 2000)).astype(np.uint8)
    b = rng.integers(200, 256, (2000, 6)).astype(np.uint8)
    sa, sb = random_scale(rng, -9, -2), np.array([random_scale(rng, -9, -2) for _ in range(6)], np.float32)
    bias = rng.uniform(-50, 50, 6).astype(np.float32)
    u0 = np.array(0, np.uint8)
    expected = _ort_matmul_integer_to_float([a, b, sa, sb, u0, u0, bias], ["A", "B", "sa", "sb", "za", "zb", "bias"])
    got = ops.dequantize_matmul(a.tolist(), sa.item(), 0, b.tolist(), sb.tolist(), 0, float_bias=bias.tolist())
    assert np.array_equal(np.array(got, np.float32), expected)
    accs = ops.matmul_integer(a.tolist(), b.tolist())
    F, fl = Fraction, rq.fl32
    others = {
        "exact multiplier": lambda v, j: fl(fl(fl(v) * F(sa.item()) * F(sb[j].item())) + F(bias[j].item())),
        "two products": lambda v, j: fl(fl(fl(fl(v) * F(sa.item())) * F(sb[j].item())) + F(bias[j].item())),
        "fma bias": lambda v, j: fl(fl(v) * fl(F(sa.item()) * F(sb[j].item())) + F(bias[j].item())),
    }
    for name, model in others.items():
        differ = sum(float(model(v, j)) != expected[i, j] for i, row in enumerate(accs) for j, v in enumerate(row))
        assert differ > 0, name


def _ort_fail():
    """onnxruntime's error for a kernel that fails at run time (status FAIL)."""
    need("onnxruntime")
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail
    return Fail


def test_ort_matmul_integer_to_float_a_scale_deviation():
    """Named deviation: ORT multiplies a_scale and b_scale elementwise (numpy broadcasting), so a
    1-D a_scale of length N is applied per *column*; other lengths fail to broadcast.  The
    contrib-op schema says a_scale is per tensor; dequantize_matmul takes one a scale only."""
    a = np.array([[1, 2, 3], [4, 5, 6]], np.uint8)
    b = np.ones((3, 2), np.uint8)
    sa = np.array([0.5, 2.0], np.float32)
    y = _ort_matmul_integer_to_float([a, b, sa, np.float32(0.25)], ["A", "B", "sa", "sb"])
    # acc rows are 6 and 15: per column, not per row (per row would give [[0.75, 0.75], [7.5, 7.5]])
    assert y.tolist() == [[6 * 0.5 * 0.25, 6 * 2.0 * 0.25], [15 * 0.5 * 0.25, 15 * 2.0 * 0.25]]
    with pytest.raises(_ort_fail(), match="broadcast"):
        _ort_matmul_integer_to_float([a, np.ones((3, 2), np.uint8)[:, :1].repeat(3, 1), sa, np.float32(0.25)],
                                     ["A", "B", "sa", "sb"])
    from refquant.errors import InvalidValueError
    with pytest.raises(InvalidValueError):
        ops.dequantize_matmul(a.tolist(), [0.5, 2.0], 0, b.tolist(), 0.25, 0)


# --------------------------------------------------------------------------
# Per-row a scales (allowed by the QLinearMatMul spec)
# --------------------------------------------------------------------------

def _ref_qlinearmatmul(inputs):
    from onnx import helper
    from onnx.reference import ReferenceEvaluator
    names = ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"]
    node = helper.make_node("QLinearMatMul", names, ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, ONNX_T[str(v.dtype)], v.shape)
                                            for n, v in zip(names, inputs)],
                              [helper.make_tensor_value_info("y", ONNX_T[str(inputs[7].dtype)], None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))[0]


@pytest.mark.parametrize("seed", range(6))
def test_per_row_a_scale_onnx_ref_matches_reference_evaluator(seed):
    """The reference evaluator computes a per-row a scale when given shape (M, 1) (numpy broadcasts
    it over the rows of C); onnx_ref with a per-row list reproduces it, wrap included."""
    rng = np.random.default_rng(seed)
    M, K, N = 4, 24, 3
    a = rng.integers(0, 256, (M, K)).astype(np.uint8)
    b = rng.integers(-128, 128, (K, N)).astype(np.int8)
    sa = np.array([random_scale(rng) for _ in range(M)], np.float32)
    za = rng.integers(0, 256, M).astype(np.uint8)
    sb = np.array([random_scale(rng) for _ in range(N)], np.float32)
    sy, zy = random_scale(rng, -6, -2), np.array(rng.integers(0, 256), np.uint8)
    expected = _ref_qlinearmatmul([a, sa.reshape(M, 1), za.reshape(M, 1), b, sb, np.int8(0), sy, zy])
    args = (a.tolist(), sa.tolist(), za.tolist(), b.tolist(), sb.tolist(), 0, sy.item(), zy.item())
    got = ops.qlinear_matmul(*args, method="onnx_ref", b_type="int8")
    assert np.array_equal(np.array(got), expected)
    # exact = the spec: RNE(acc*sa[i]*sb[j]/sy) + zy, saturated
    from fractions import Fraction
    accs = ops.matmul_integer(a.tolist(), b.tolist(), za.tolist(), 0, "uint8", "int8")
    from refquant.rounding import half_even
    spec = [[min(max(half_even(v * Fraction(sa[i].item()) * Fraction(sb[j].item()) / Fraction(sy.item()))
                     + zy.item(), 0), 255) for j, v in enumerate(row)] for i, row in enumerate(accs)]
    assert ops.qlinear_matmul(*args, method="exact", b_type="int8") == spec


def test_per_row_a_scale_rejected_by_ort_and_by_ort_methods():
    from refquant.errors import InvalidValueError, ShapeError
    a = np.array([[10, 20, 30], [40, 50, 60]], np.uint8)
    b = np.array([[1, 2], [3, 4], [5, 6]], np.uint8)
    u0 = np.array(0, np.uint8)
    with pytest.raises(_ort_fail(), match=r"IsScalarOr1ElementVector\(a_scale\)"):
        _ort_qlinearmatmul(a, np.array([0.5, 0.25], np.float32), u0, b, np.float32(0.125), u0, np.float32(0.5), u0)
    with pytest.raises(_ort_fail(), match=r"IsScalarOr1ElementVector\(a_offset\)"):
        _ort_qlinearmatmul(a, np.array([0.5, 0.25], np.float32), np.array([1, 2], np.uint8), b,
                           np.float32(0.125), u0, np.float32(0.5), u0)
    args = (a.tolist(), [0.5, 0.25], 0, b.tolist(), 0.125, 0, 0.5, 0)
    assert ops.qlinear_matmul(*args, method="exact") == [[ops.qlinear_matmul(
        [r], s, 0, b.tolist(), 0.125, 0, 0.5, 0, method="exact")[0] for r, s in zip(a.tolist(), [0.5, 0.25])][i]
        for i in range(2)]
    for method in ("ort", "float_fp32", "tflite_double", "torch_fbgemm"):
        with pytest.raises(InvalidValueError, match="per-row a scale is defined only for exact, onnx_ref"):
            ops.qlinear_matmul(*args, method=method)
    with pytest.raises(ShapeError, match="one per row of A"):
        ops.qlinear_matmul(a.tolist(), [0.5, 0.25, 1.0], 0, b.tolist(), 0.125, 0, 0.5, 0, method="exact")
    # the reference evaluator cannot take the spec's 1-D (M,) a_zero_point when K != M
    with pytest.raises(ValueError, match="broadcast"):
        _ref_qlinearmatmul([a, np.array([0.5, 0.25], np.float32), np.array([1, 2], np.uint8), b,
                            np.float32(0.125), u0, np.float32(0.5), u0])
