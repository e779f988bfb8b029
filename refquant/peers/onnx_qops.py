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
            np.dtype(np.int64): T.INT64}[np.asarray(arr).dtype]


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
