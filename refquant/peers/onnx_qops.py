"""Running quantized element-wise / pooling ops in the two ONNX peers, for refquant/onnx_ops.py.

* onnxruntime: the com.microsoft contrib ops (QLinearAdd, QLinearMul, QLinearAveragePool,
  QLinearGlobalAveragePool, QLinearConcat) and MaxPool on int8/uint8, one node, one thread,
  graph optimizations off, the data as graph inputs and the quantization parameters as
  initializers (as a quantized model holds them).
* the onnx ReferenceEvaluator: the QDQ form DequantizeLinear -> float op -> QuantizeLinear.

Each ``run_*`` takes numpy arrays and the op's parameters and returns the integer output array.
"""

import numpy as np

NP = {"int8": np.int8, "uint8": np.uint8}


def _onnx():
    import onnx
    return onnx


def _elem(arr):
    T = _onnx().TensorProto
    return {np.dtype(np.uint8): T.UINT8, np.dtype(np.int8): T.INT8, np.dtype(np.float32): T.FLOAT,
            np.dtype(np.int64): T.INT64, np.dtype(np.int32): T.INT32}[np.asarray(arr).dtype]


def build(nodes, feeds, inits, out_dtype, opset=21):
    """A model of ``nodes``: ``feeds`` (name, array) graph inputs, ``inits`` (name, array) initializers."""
    onnx = _onnx()
    h, nh = onnx.helper, onnx.numpy_helper
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, _elem(a), list(np.shape(a))) for n, a in feeds],
                         [h.make_tensor_value_info("y", _elem(np.zeros(1, out_dtype)), None)],
                         [nh.from_array(np.asarray(a), n) for n, a in inits])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset), h.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    return model


def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def run_ort(nodes, feeds, inits, out_dtype):
    return ort_session(build(nodes, feeds, inits, out_dtype)).run(None, dict(feeds))[0]


def run_ref(nodes, feeds, inits, out_dtype):
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(build(nodes, feeds, inits, out_dtype)).run(None, dict(feeds))[0]


def _q(name, scale, zp, dtype):
    return [(f"{name}_s", np.float32(scale)), (f"{name}_z", np.array(zp, NP[dtype]))]


def _node(op, ins, outs, domain="", **attrs):
    return _onnx().helper.make_node(op, ins, outs, domain=domain, **attrs)


# ##########################################################################
# onnxruntime contrib ops
# ##########################################################################

def ort_binary(op, a, sa, za, b, sb, zb, sy, zy, dtype):
    """QLinearAdd / QLinearMul (com.microsoft) in onnxruntime."""
    node = _node(op, ["a", "a_s", "a_z", "b", "b_s", "b_z", "y_s", "y_z"], ["y"], "com.microsoft")
    inits = _q("a", sa, za, dtype) + _q("b", sb, zb, dtype) + _q("y", sy, zy, dtype)
    return run_ort([node], [("a", a), ("b", b)], inits, NP[dtype])


def ort_avg_pool(x, sx, zx, sy, zy, dtype, **attrs):
    node = _node("QLinearAveragePool", ["x", "x_s", "x_z", "y_s", "y_z"], ["y"], "com.microsoft", **attrs)
    return run_ort([node], [("x", x)], _q("x", sx, zx, dtype) + _q("y", sy, zy, dtype), NP[dtype])


def ort_global_avg_pool(x, sx, zx, sy, zy, dtype):
    node = _node("QLinearGlobalAveragePool", ["x", "x_s", "x_z", "y_s", "y_z"], ["y"], "com.microsoft",
                 channels_last=0)
    return run_ort([node], [("x", x)], _q("x", sx, zx, dtype) + _q("y", sy, zy, dtype), NP[dtype])


def ort_concat(inputs, sy, zy, axis, dtype):
    """QLinearConcat: inputs = [(array, scale, zero point), ...]."""
    names = ["y_s", "y_z"]
    inits = _q("y", sy, zy, dtype)
    feeds = []
    for i, (x, s, z) in enumerate(inputs):
        names += [f"x{i}", f"x{i}_s", f"x{i}_z"]
        feeds.append((f"x{i}", x))
        inits += _q(f"x{i}", s, z, dtype)
    return run_ort([_node("QLinearConcat", names, ["y"], "com.microsoft", axis=axis)], feeds, inits, NP[dtype])


def ort_max_pool(x, dtype, **attrs):
    return run_ort([_node("MaxPool", ["x"], ["y"], **attrs)], [("x", x)], [], NP[dtype])


# ##########################################################################
# QDQ graphs (DequantizeLinear -> op -> QuantizeLinear)
# ##########################################################################

def qdq_nodes(op, inputs, attrs=None, extra_inputs=()):
    """Nodes dequantizing each named input, one float ``op`` and a QuantizeLinear to 'y'."""
    nodes = [_node("DequantizeLinear", [n, f"{n}_s", f"{n}_z"], [f"{n}_f"]) for n in inputs]
    nodes.append(_node(op, [f"{n}_f" for n in inputs] + list(extra_inputs), ["yf"], **(attrs or {})))
    nodes.append(_node("QuantizeLinear", ["yf", "y_s", "y_z"], ["y"]))
    return nodes


def qdq(run, op, tensors, sy, zy, dtype, attrs=None, extra=()):
    """``op`` on dequantized ``tensors`` = [(name, array, scale, zero point)], quantized to (sy, zy);
    ``extra`` = [(name, array)] more initializers passed to the op (e.g. ReduceMean axes)."""
    feeds = [(n, x) for n, x, _, _ in tensors]
    inits = [i for n, _, s, z in tensors for i in _q(n, s, z, dtype)] + _q("y", sy, zy, dtype) + list(extra)
    nodes = qdq_nodes(op, [n for n, _, _, _ in tensors], attrs, [n for n, _ in extra])
    return run(nodes, feeds, inits, NP[dtype])


# ##########################################################################
# `refquant verify onnxruntime` rows: each op judged against the exact ideal (refquant/qops.py)
# ##########################################################################

TYPE_RANGE = {"uint8": (0, 255), "int8": (-128, 127)}


def _tie_scales(rng, n):
    return [float(np.float32(2.0 ** int(rng.integers(-5, 2)) * rng.choice([1, 1.5, 0.75, 3]))) for _ in range(n)]


def _random_scales(rng, n):
    return [float(np.float32(rng.uniform(0.002, 0.2))) for _ in range(n)]


def _data(rng, dtype, shape, ends=True):
    lo, hi = TYPE_RANGE[dtype]
    x = rng.integers(lo, hi + 1, shape)
    if ends and x.size >= 2:
        x.reshape(-1)[:2] = [lo, hi]
    return x.astype(NP[dtype])


def _flavours(seed):
    """(flag, dtype, scales(rng, n), zero points(rng, n)) for the three case families."""
    rng = np.random.default_rng(seed)
    return rng, [
        ("uint8, power-of-two scales (exact ties)", "uint8", _tie_scales,
         lambda r, n: [int(v) for v in r.integers(0, 256, n)]),
        ("int8, random scales", "int8", _random_scales, lambda r, n: [int(v) for v in r.integers(-128, 128, n)]),
        ("uint8, zero points at both ends (saturation)", "uint8", _tie_scales,
         lambda r, n: [int(r.choice([0, 255])) for _ in range(n)]),
    ]


def _row(op, flag, got, spec, model, deviation, qop):
    from .conformance import judge
    from .versions import known
    models = [known("onnxruntime", deviation, model, qop)] if model is not None else []
    return judge("onnxruntime", op, "refquant qops (exact)", flag, got, spec, models)


def _guard(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a missing kernel is an 'unsupported' row
        return exc


VARIANT = "refquant variant 'ort'"


def ort_binary_rows():
    from .. import onnx_ops, qops
    rows = []
    for op, ort_op in (("add", "QLinearAdd"), ("mul", "QLinearMul")):
        rng, flavours = _flavours(21 if op == "add" else 22)
        for flag, dtype, sc, zp in flavours:
            a, b = _data(rng, dtype, (16, 64)), _data(rng, dtype, (16, 64))
            p = (a, *sc(rng, 1), *zp(rng, 1), b, *sc(rng, 1), *zp(rng, 1), *sc(rng, 1), *zp(rng, 1))
            got = _guard(lambda: ort_binary(ort_op, *p, dtype).astype(np.int64))
            rows.append(_row(ort_op, flag, got, np.array(getattr(qops, op)(*p, dtype=dtype)),
                             np.array(onnx_ops.VARIANTS[op]["ort"](*p, dtype=dtype)), VARIANT, op))
    p = (np.array([47], np.int8), 0.16148096323013306, 113, np.array([113, 113], np.int8), 0.06805239617824554, 25,
         0.05873122438788414, 100)
    got = _guard(lambda: ort_binary("QLinearAdd", *p, "int8").astype(np.int64))
    rows.append(_row("QLinearAdd", "int8, A = [47] broadcast over B (A and B exchanged)", got,
                     np.array(qops.add(*p, dtype="int8")), np.array(onnx_ops.ort_add(*p, dtype="int8")),
                     "ORT QLinearAdd: result depends on the broadcast input", "add"))
    return rows


def ort_pool_rows():
    from .. import onnx_ops, qops
    rows = []
    rng, flavours = _flavours(23)
    geometries = [dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
                  dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0], count_include_pad=1),
                  dict(kernel_shape=[3], strides=[2], pads=[1, 0], ceil_mode=1, count_include_pad=0)]
    for (flag, dtype, sc, zp), g in zip(flavours, geometries):
        x = _data(rng, dtype, (2, 8, 9, 10) if len(g["kernel_shape"]) == 2 else (2, 8, 31))
        p = (x, *sc(rng, 1), *zp(rng, 1), *sc(rng, 1), *zp(rng, 1))
        got = _guard(lambda: ort_avg_pool(*p, dtype, **g).astype(np.int64))
        rows.append(_row("QLinearAveragePool", f"{flag}, {g}", got, np.array(qops.avg_pool(*p, dtype=dtype, **g)),
                         np.array(onnx_ops.ort_avg_pool(*p, dtype=dtype, **g)), VARIANT, "avg_pool"))
        mg = {k: v for k, v in g.items() if k != "count_include_pad"}
        got = _guard(lambda: ort_max_pool(x, dtype, **mg).astype(np.int64))
        rows.append(_row("MaxPool", f"{dtype}, {mg}", got, np.array(qops.max_pool(x, dtype=dtype, **mg)), None, "", ""))
        got = _guard(lambda: ort_global_avg_pool(*p, dtype).astype(np.int64))
        rows.append(_row("QLinearGlobalAveragePool", flag, got, np.array(qops.global_avg_pool(*p, dtype=dtype)),
                         np.array(onnx_ops.ort_global_avg_pool(*p, dtype=dtype)), VARIANT, "global_avg_pool"))
    x = np.array([[[10, 10, 10, 10, 9]]], np.uint8)
    g = dict(kernel_shape=[2], strides=[2], ceil_mode=1, count_include_pad=1)
    got = _guard(lambda: ort_avg_pool(x, 1.0, 0, 1.0, 0, "uint8", **g).astype(np.int64))
    rows.append(_row("QLinearAveragePool", "uint8, ceil_mode overhang with count_include_pad", got,
                     np.array(qops.avg_pool(x, 1.0, 0, 1.0, 0, **g)), np.array(onnx_ops.ort_avg_pool(x, 1.0, 0, 1.0, 0, **g)),
                     "ORT QLinearAveragePool: count_include_pad counts the ceil_mode overhang", "avg_pool"))
    return rows


def ort_concat_rows():
    from .. import onnx_ops, qops
    rows = []
    rng, flavours = _flavours(24)
    for flag, dtype, sc, zp in flavours:
        sy, zy = sc(rng, 1)[0], zp(rng, 1)[0]
        ins = [(_data(rng, dtype, (4, int(rng.integers(8, 40)), 16)), sc(rng, 1)[0], zp(rng, 1)[0]) for _ in range(3)]
        ins[2] = (ins[2][0], sy, zy)
        got = _guard(lambda: ort_concat(ins, sy, zy, 1, dtype).astype(np.int64))
        rows.append(_row("QLinearConcat", flag, got, np.array(qops.concat(ins, sy, zy, axis=1, dtype=dtype)),
                         np.array(onnx_ops.ort_concat(ins, sy, zy, axis=1, dtype=dtype)), VARIANT, "concat"))
    return rows


D1, D2, D6, D7 = (float(np.float32(v)) for v in (0.1, 0.2, 0.6, 0.7))
# Near ties with decimal scales, found by a search over the models: ORT's binary32 steps round
# them the other way from the exact result (every one reproduced on onnxruntime 1.32.0).
NEAR_TIES = {
    "mul": ((np.array([3], np.uint8), D1, 128, np.array([123], np.uint8), D1, 128, D1, 128), {}),
    "concat": (([(np.array([19], np.uint8), D1, 128)], D2, 128), {"axis": 0}),
    "global_avg_pool": ((np.array([[[[177, 10], [208, 187]]]], np.uint8), D1, 128, D7, 128), {}),
    "avg_pool": ((np.array([[[[61, 32, 187], [52, 134, 248], [118, 75, 56]]]], np.uint8), D1, 128, D6, 128),
                 {"kernel_shape": [3, 3], "pads": [0, 0, 1, 0]}),
}
RUN_ORT = {"mul": lambda a, k: ort_binary("QLinearMul", *a, "uint8"),
           "concat": lambda a, k: ort_concat(*a, k["axis"], "uint8"),
           "global_avg_pool": lambda a, k: ort_global_avg_pool(*a, "uint8"),
           "avg_pool": lambda a, k: ort_avg_pool(*a, "uint8", **k)}
ORT_OP = {"mul": "QLinearMul", "concat": "QLinearConcat", "global_avg_pool": "QLinearGlobalAveragePool",
          "avg_pool": "QLinearAveragePool"}


def ort_near_tie_rows():
    from .. import onnx_ops, qops
    rows = []
    for op, (args, kw) in NEAR_TIES.items():
        got = _guard(lambda: RUN_ORT[op](args, kw).astype(np.int64))
        rows.append(_row(ORT_OP[op], "uint8, decimal scales: a near tie", got, np.array(qops.VARIANTS[op]["exact"](*args, **kw)),
                         np.array(onnx_ops.VARIANTS[op]["ort"](*args, **kw)), VARIANT, op))
    return rows


def _gemm_case(rng, at, bt, m, k, n, per_column):
    lo, hi = TYPE_RANGE[at]
    blo, bhi = TYPE_RANGE[bt]
    a = _data(rng, at, (m, k))
    b = rng.integers(blo, bhi + 1, (n, k)).astype(NP[bt])           # transB = 1
    sb = (rng.uniform(0.001, 0.05, n) if per_column else rng.uniform(0.001, 0.05, 1)).astype(np.float32)
    zb = rng.integers(blo, bhi + 1, sb.size).astype(NP[bt])
    return a, float(np.float32(rng.uniform(0.001, 0.05))), int(rng.integers(lo, hi + 1)), b, sb, zb


def _floats(m):
    return np.array([[float(v) for v in r] for r in m], np.float64)


def ort_gemm_rows():
    from .. import onnx_gemm as G
    rows = []
    rng = np.random.default_rng(25)
    for at, bt, per_col, alpha in (("uint8", "int8", True, 0.5), ("int8", "int8", False, 1.0),
                                   ("uint8", "uint8", True, 1.0)):
        m, k, n = 16, 64, 24
        a, sa, za, b, sb, zb = _gemm_case(rng, at, bt, m, k, n, per_col)
        c = rng.integers(-20000, 20000, (m, n)).astype(np.int32)
        sy, zy = float(np.float32(rng.uniform(0.05, 0.5))), int(rng.integers(*TYPE_RANGE[at]))
        kw = dict(alpha=alpha, trans_b=1, a_type=at, b_type=bt)
        p = (a, sa, za, b, sb.tolist(), zb.tolist(), c)
        flag = f"{at} x {bt}, {'per-column' if per_col else 'per-tensor'} b, C (M, N), alpha {alpha}, transB"
        got = _guard(lambda: ort_qgemm(a, sa, za, b, sb, zb, c, sy, zy, alpha, 0, 1).astype(np.int64))
        rows.append(_row("QGemm", flag + ", quantized y", got, np.array(G.qgemm_exact(*p, sy, zy, **kw)),
                         np.array(G.ort_qgemm(*p, sy, zy, **kw)), VARIANT, "qgemm"))
        got = _guard(lambda: ort_qgemm(a, sa, za, b, sb, zb, c, None, None, alpha, 0, 1).astype(np.float64))
        rows.append(_row("QGemm", flag + ", float y", got, _floats(G.qgemm_exact(*p, **kw)),
                         _floats(G.ort_qgemm(*p, **kw)), VARIANT, "qgemm"))
        x = (rng.standard_normal((m, k)) * 3).astype(np.float32)
        bb = np.ascontiguousarray(b.T)
        bias = rng.standard_normal(n).astype(np.float32)
        got = _guard(lambda: ort_dynamic_quantize_matmul(x, bb, sb, zb, bias).astype(np.float64))
        dq = (x, bb, sb.tolist(), zb.tolist(), bias.tolist())
        rows.append(_row("DynamicQuantizeMatMul", f"float32 x {bt}, {'per-column' if per_col else 'per-tensor'} b, bias",
                         got, _floats(G.dynamic_quantize_matmul_exact(*dq, b_type=bt)),
                         _floats(G.ort_dynamic_quantize_matmul(*dq, b_type=bt)), VARIANT, "dynamic_quantize_matmul"))
    return rows


def ort_rows():
    """The quantized element-wise / pooling / QGemm rows of ``refquant verify onnxruntime``."""
    return ort_binary_rows() + ort_pool_rows() + ort_concat_rows() + ort_near_tie_rows() + ort_gemm_rows()


# ##########################################################################
# `refquant verify onnx` rows: the QDQ forms in the ReferenceEvaluator vs the exact ideal
# ##########################################################################

REF_VARIANT = "refquant variant 'onnx_ref'"


def _ref_row(op, flag, got, spec, model, qop):
    from .conformance import judge
    from .versions import known
    models = [known("onnx", REF_VARIANT, model, qop)] if model is not None else []
    return judge("onnx", f"QDQ {op}", "refquant qops (exact)", flag, got, spec, models)


def _decimal_scales(rng, n):
    return [float(np.float32(rng.choice([0.1, 0.2, 0.3, 0.7, 0.05]))) for _ in range(n)]


def _ref_flavours(seed):
    rng = np.random.default_rng(seed)
    return rng, [("uint8, power-of-two scales (exact ties)", "uint8", _tie_scales),
                 ("int8, decimal scales (near ties)", "int8", _decimal_scales),
                 ("uint8, random scales", "uint8", _random_scales)]


def _zp(rng, dtype):
    lo, hi = TYPE_RANGE[dtype]
    return int(rng.choice([lo, hi, int(rng.integers(lo, hi + 1))]))


def ref_elementwise_rows():
    from .. import onnx_ops, qops
    rows = []
    rng, flavours = _ref_flavours(31)
    for flag, dtype, sc in flavours:
        a, b = _data(rng, dtype, (16, 64)), _data(rng, dtype, (64,))
        sa, sb, sy = sc(rng, 3)
        za, zb, zy = (_zp(rng, dtype) for _ in range(3))
        for op, onnx_op in (("add", "Add"), ("sub", "Sub"), ("mul", "Mul")):
            p = (a, sa, za, b, sb, zb, sy, zy)
            got = _guard(lambda: qdq(run_ref, onnx_op, [("a", a, sa, za), ("b", b, sb, zb)], sy, zy, dtype)
                         .astype(np.int64))
            rows.append(_ref_row(onnx_op, flag, got, np.array(qops.VARIANTS[op]["exact"](*p, dtype=dtype)),
                                 np.array(onnx_ops.VARIANTS[op]["onnx_ref"](*p, dtype=dtype)), op))
        unary = [("requantize", "Identity", {}, {}, ()), ("relu", "Relu", {}, {}, ()),
                 ("leaky_relu", "LeakyRelu", {"alpha": 0.1}, {"alpha": 0.1}, ()),
                 ("clamp", "Clip", {}, {"min": -1.5, "max": 2.25},
                  (("mn", np.float32(-1.5)), ("mx", np.float32(2.25))))]
        for op, onnx_op, attrs, kw, extra in unary:
            got = _guard(lambda: qdq(run_ref, onnx_op, [("a", a, sa, za)], sy, zy, dtype, attrs, extra)
                         .astype(np.int64))
            p = (a, sa, za, sy, zy)
            rows.append(_ref_row(onnx_op, flag, got, np.array(qops.VARIANTS[op]["exact"](*p, dtype=dtype, **kw)),
                                 np.array(onnx_ops.VARIANTS[op]["onnx_ref"](*p, dtype=dtype, **kw)), op))
    return rows


def ref_pool_rows():
    from .. import onnx_ops, qops
    rows = []
    rng, flavours = _ref_flavours(32)
    geometries = [dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=1),
                  dict(kernel_shape=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0], count_include_pad=0),
                  dict(kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1, count_include_pad=1)]
    for (flag, dtype, sc), g in zip(flavours, geometries):
        x = _data(rng, dtype, (1, 8, 9, 10) if len(g["kernel_shape"]) == 2 else (2, 8, 31))
        sx, sy = sc(rng, 2)
        p = (x, sx, _zp(rng, dtype), sy, _zp(rng, dtype))
        got = _guard(lambda: qdq(run_ref, "AveragePool", [("x", x, p[1], p[2])], sy, p[4], dtype, g).astype(np.int64))
        rows.append(_ref_row("AveragePool", f"{flag}, {g}", got, np.array(qops.avg_pool(*p, dtype=dtype, **g)),
                             np.array(onnx_ops.ref_avg_pool(*p, dtype=dtype, **g)), "avg_pool"))
        got = _guard(lambda: qdq(run_ref, "GlobalAveragePool", [("x", x, p[1], p[2])], sy, p[4], dtype)
                     .astype(np.int64))
        rows.append(_ref_row("GlobalAveragePool", flag, got, np.array(qops.global_avg_pool(*p, dtype=dtype)),
                             np.array(onnx_ops.ref_global_avg_pool(*p, dtype=dtype)), "global_avg_pool"))
        ins = [(x, p[1], p[2]), (x[:, :3], sc(rng, 1)[0], _zp(rng, dtype))]
        got = _guard(lambda: qdq(run_ref, "Concat", [("a", *ins[0]), ("b", *ins[1])], sy, p[4], dtype, {"axis": 1})
                     .astype(np.int64))
        rows.append(_ref_row("Concat", flag, got, np.array(qops.concat(ins, sy, p[4], axis=1, dtype=dtype)),
                             np.array(onnx_ops.ref_concat(ins, sy, p[4], axis=1, dtype=dtype)), "concat"))
        axes = ([0, 2] if dtype == "uint8" else [1]) if x.ndim == 4 else [0, 2]   # not only trailing axes
        got = _guard(lambda: qdq(run_ref, "ReduceMean", [("x", x, p[1], p[2])], sy, p[4], dtype, {"keepdims": 0},
                                 [("axes", np.array(axes, np.int64))]).astype(np.int64))
        rows.append(_ref_row("ReduceMean", f"{flag}, axes {axes}", got,
                             np.array(qops.mean(*p, axes=axes, keepdims=0, dtype=dtype)),
                             np.array(onnx_ops.ref_mean(*p, axes=axes, keepdims=0, dtype=dtype)), "mean"))
    return rows


def ref_rows():
    """The quantized element-wise / pooling rows of ``refquant verify onnx`` (QDQ graphs)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ref_elementwise_rows() + ref_pool_rows()


# ##########################################################################
# QGemm and DynamicQuantizeMatMul (com.microsoft) in onnxruntime
# ##########################################################################

def ort_qgemm(a, sa, za, b, sb, zb, c=None, sy=None, zy=None, alpha=1.0, trans_a=0, trans_b=0):
    """QGemm with A, B as graph inputs; scales, zero points and C as initializers."""
    names = ["a", "a_s", "a_z", "b", "b_s", "b_z", "c" if c is not None else "", "y_s" if sy is not None else "",
             "y_z" if sy is not None else ""]
    while names and names[-1] == "":
        names.pop()
    inits = [("a_s", np.float32(sa)), ("a_z", np.array(za, a.dtype)), ("b_s", np.asarray(sb, np.float32)),
             ("b_z", np.asarray(zb, b.dtype))]
    if c is not None:
        inits.append(("c", np.asarray(c, np.int32)))
    if sy is not None:
        inits += [("y_s", np.float32(sy)), ("y_z", np.array(zy, a.dtype))]
    node = _node("QGemm", names, ["y"], "com.microsoft", alpha=float(alpha), transA=trans_a, transB=trans_b)
    out = a.dtype if sy is not None else np.float32
    return run_ort([node], [("a", a), ("b", b)], inits, out)


def ort_dynamic_quantize_matmul(a, b, sb, zb, bias=None):
    names = ["a", "b", "b_s", "b_z"] + (["bias"] if bias is not None else [])
    inits = [("b_s", np.asarray(sb, np.float32)), ("b_z", np.asarray(zb, b.dtype))]
    if bias is not None:
        inits.append(("bias", np.asarray(bias, np.float32)))
    node = _node("DynamicQuantizeMatMul", names, ["y"], "com.microsoft")
    return run_ort([node], [("a", a), ("b", b)], inits, np.float32)
