"""Which DequantizeLinear -> op -> QuantizeLinear groups onnxruntime fuses, per graph optimization
level, and what the fused and unfused graphs compute (docs/ops.md records the findings).

``qdq_model`` builds the QDQ group of one op (uint8 / int8 / 16-bit data as a graph input, the
quantization parameters as initializers, opset 21); ``optimized`` runs it in onnxruntime at a level
and returns the op types of the graph onnxruntime runs (``SessionOptions.optimized_model_filepath``)
and its output.  ``MODELS[op]`` gives, for a case, the refquant variants the output is compared
with: the com.microsoft QLinear kernel (variant 'ort' / 'ort_qlinear') and the float path
(onnxruntime's own, variant 'ort_float' of refquant/onnx_float.py, where modelled; else 'onnx_ref').
"""

import os
import tempfile

import numpy as np

from .. import activations as A
from .. import onnx_float as OF
from .. import onnx_ops as O
from .. import qops
from ..certified import possible

LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
          "all": "ORT_ENABLE_ALL"}
NP = {"uint8": np.uint8, "int8": np.int8, "uint16": np.uint16, "int16": np.int16}
ATTRS = {"AveragePool": {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 0},
         "GlobalAveragePool": {}, "MaxPool": {"kernel_shape": [2, 2], "strides": [2, 2]}, "Sigmoid": {},
         "LeakyRelu": {"alpha": 0.1}, "Softmax": {"axis": -1}, "Concat": {"axis": 1}}
FUSED = {"AveragePool": "QLinearAveragePool", "GlobalAveragePool": "QLinearGlobalAveragePool",
         "Sigmoid": "QLinearSigmoid", "LeakyRelu": "QLinearLeakyRelu", "Softmax": "QLinearSoftmax",
         "Concat": "QLinearConcat", "MaxPool": "MaxPool"}


def qdq_model(op, inputs, y, t_out=None, attrs=None, domain="", opset=21):
    """DQ(each input) -> op -> Q(y): ``inputs`` = [(array, scale, zero point)], ``y`` = (scale, zero point);
    the op's attributes are ``attrs`` (default ATTRS[op]), its domain ``domain`` (com.microsoft for contrib ops),
    the model's default-domain opset ``opset``."""
    import onnx
    h, nh = onnx.helper, onnx.numpy_helper
    names = [f"x{i}" for i in range(len(inputs))]
    t_out = np.dtype(t_out or inputs[0][0].dtype)
    nodes = [h.make_node("DequantizeLinear", [n, f"{n}_s", f"{n}_z"], [f"{n}_f"]) for n in names]
    nodes.append(h.make_node(op, [f"{n}_f" for n in names], ["y_f"], domain=domain or None,
                             **(ATTRS[op] if attrs is None else attrs)))
    nodes.append(h.make_node("QuantizeLinear", ["y_f", "y_s", "y_z"], ["y"]))
    inits = [a for n, (x, s, z) in zip(names, inputs)
             for a in (nh.from_array(np.array(s, np.float32), f"{n}_s"), nh.from_array(np.array(z, x.dtype), f"{n}_z"))]
    inits += [nh.from_array(np.array(y[0], np.float32), "y_s"), nh.from_array(np.array(y[1], t_out), "y_z")]
    graph = h.make_graph(nodes, "qdq", [h.make_tensor_value_info(n, h.np_dtype_to_tensor_dtype(x.dtype), list(x.shape))
                                        for n, (x, _, _) in zip(names, inputs)],
                         [h.make_tensor_value_info("y", h.np_dtype_to_tensor_dtype(t_out), None)], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)] + ([h.make_opsetid(domain, 1)] if domain else []))
    model.ir_version = 10
    return model


def optimized(model, level, feeds):
    """(op types of the graph onnxruntime runs at ``level``, its output 'y')."""
    import onnx
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level, so.intra_op_num_threads = 3, 1
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[level])
    with tempfile.TemporaryDirectory() as d:
        so.optimized_model_filepath = os.path.join(d, "optimized.onnx")
        s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        out = s.run(None, feeds)[0]
        ops = [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]
    return ops, out


def differences(got, model):
    """Elements of ``got`` outside what ``model`` allows (an ImplementationDefined element allows each
    of its candidates)."""
    flat = np.asarray(model, dtype=object).ravel()
    return sum(int(g) not in possible(m) for g, m in zip(np.asarray(got).ravel().tolist(), flat))


def _unary(fused, unfused):
    return lambda ins, sy, zy, dt: (fused(*ins[0], sy, zy, dt), unfused(*ins[0], sy, zy, dt) if unfused else None)


_POOL = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])
_MAX = dict(kernel_shape=[2, 2], strides=[2, 2])
# op -> f(inputs, sy, zy, dtype) = (the fused kernel's variant, the float path's variant or None)
MODELS = {
    "AveragePool": _unary(lambda x, sx, zx, sy, zy, dt: O.ort_avg_pool(x, sx, zx, sy, zy, dtype=dt, **_POOL),
                          lambda x, sx, zx, sy, zy, dt: OF.avg_pool_ort_float(x, sx, zx, sy, zy, dtype=dt, **_POOL)),
    "GlobalAveragePool": _unary(lambda x, sx, zx, sy, zy, dt: O.ort_global_avg_pool(x, sx, zx, sy, zy, dtype=dt),
                                lambda x, sx, zx, sy, zy, dt: OF.global_avg_pool_ort_float(x, sx, zx, sy, zy,
                                                                                           dtype=dt)),
    "MaxPool": _unary(lambda x, sx, zx, sy, zy, dt: qops.max_pool(x, dtype=dt, **_MAX),
                      lambda x, sx, zx, sy, zy, dt: O.ref_requantize(qops.max_pool(x, dtype=dt, **_MAX), sx, zx, sy,
                                                                     zy, dtype=dt)),
    "Sigmoid": _unary(lambda x, sx, zx, sy, zy, dt: A.sigmoid_ort(x, sx, zx, sy, zy, dtype=dt), None),
    "LeakyRelu": _unary(lambda x, sx, zx, sy, zy, dt: A.leaky_relu_ort(x, sx, zx, sy, zy, dtype=dt, alpha=0.1),
                        lambda x, sx, zx, sy, zy, dt: O.ref_leaky_relu(x, sx, zx, sy, zy, dtype=dt, alpha=0.1)),
    "Softmax": _unary(lambda x, sx, zx, sy, zy, dt: A.softmax_ort(x, sx, zx, sy, zy, dtype=dt, axis=-1),
                      lambda x, sx, zx, sy, zy, dt: OF.softmax_ort_float(x, sx, zx, sy, zy, dtype=dt, axis=-1)),
    "Concat": lambda ins, sy, zy, dt: (O.ort_concat(ins, sy, zy, axis=1, dtype=dt),
                                       O.ref_concat(ins, sy, zy, axis=1, dtype=dt)),
}


def random_case(rng, op, dtype, same_params=False):
    """(inputs [(array, scale, zero point)], y scale, y zero point) for ``op`` on a (1, 3, 6, 7) tensor."""
    lo, hi = (0, 255) if dtype == "uint8" else (-128, 127)

    def one():
        x = rng.integers(lo, hi + 1, (1, 3, 6, 7)).astype(NP[dtype])
        return x, float(np.float32(rng.choice([0.1, 0.3, 0.05, 0.02, 0.7]))), int(rng.integers(lo, hi + 1))
    ins = [one() for _ in range(2 if op == "Concat" else 1)]
    if same_params:
        return ins, ins[0][1], ins[0][2]
    return ins, float(np.float32(rng.choice([0.1, 0.3, 0.05, 0.02, 0.7]))), int(rng.integers(lo, hi + 1))


def fusion_table(seed=0, cases=2):
    """{(op, level): [fused groups, cases, differences from the kernel variant where fused, differences
    from the float-path variant where not fused (None: no float-path variant), elements, differences
    of the unfused output from the kernel variant]} (an implementation-defined model element counts
    as equal when the output is one of its candidates) over ``cases`` random uint8 and int8 cases per op
    (the first uint8 case, and MaxPool's first ``cases``, with the output parameters equal to the input's)."""
    rng = np.random.default_rng(seed)
    out = {}
    for op in MODELS:
        for k in range(2 * cases):
            dtype = ("uint8", "int8")[k % 2]
            ins, sy, zy = random_case(rng, op, dtype, same_params=(op == "MaxPool" and k < cases) or k == 0)
            model = qdq_model(op, ins, (sy, zy))
            fused_v, float_v = MODELS[op](ins, sy, zy, dtype)
            for level in LEVELS:
                ops, got = optimized(model, level, {f"x{i}": x for i, (x, _, _) in enumerate(ins)})
                cell = out.setdefault((op, level), [0, 0, 0, 0 if float_v is not None else None, 0, 0])
                fused = "QuantizeLinear" not in ops
                cell[0] += fused
                cell[1] += 1
                cell[4] += got.size
                if fused:
                    cell[2] += differences(got, fused_v)
                else:
                    cell[5] += differences(got, fused_v)
                    if float_v is not None:
                        cell[3] += differences(got, float_v)
    return out



# ##########################################################################
# `refquant verify onnxruntime`: the unfused float paths (refquant/onnx_float.py, variant 'ort_float')
# ##########################################################################

FLOAT_PATH_DEVIATIONS = {"qdq_avg_pool": "ORT float AveragePool: sequential binary32 window sum",
                         "qdq_avg_pool_opset11_18": "ORT float AveragePool-11..18: MlasPool column sums",
                         "qdq_global_avg_pool": "ORT float GlobalAveragePool: MlasPool lane sum",
                         "qdq_softmax": "ORT float Softmax: MLAS expf, binary32 sum",
                         "qdq_gelu": "ORT float Gelu: MLAS erf, binary32 steps"}
_FLOAT_OPS = {  # onnx op[-opset] -> (refquant op, attributes, input shape)
    "AveragePool": ("qdq_avg_pool", ATTRS["AveragePool"], (1, 3, 6, 7)),
    "AveragePool-17": ("qdq_avg_pool_opset11_18", ATTRS["AveragePool"], (1, 3, 6, 7)),   # MlasPool
    "GlobalAveragePool": ("qdq_global_avg_pool", {}, (1, 3, 6, 7)),
    "Softmax": ("qdq_softmax", {"axis": -1}, (1, 3, 6, 7)),
    "Gelu": ("qdq_gelu", {}, (1, 1, 2, 7)),       # the certified erf of each value is slow
}


def resolved(got, model):
    """The model with each implementation-defined element replaced by the peer's value where that is
    one of its candidates (else by the first candidate): an array ``judge`` can compare."""
    flat = np.asarray(model, dtype=object).ravel()
    out = [g if g in possible(m) else (m.first if hasattr(m, "first") else m)
           for g, m in zip(np.asarray(got).ravel().tolist(), flat)]
    return np.array(out, dtype=np.int64).reshape(np.asarray(got).shape)


def float_path_rows(cases=4, seed=61):
    """One row per op: DQ -> op -> Q at level 'disable' (onnxruntime runs the float op) on ``cases``
    random uint8 / int8 cases, judged against the exact ideal and explained by the 'ort_float' variant
    (implementation-defined elements count as explained when the peer's value is a candidate)."""
    from .. import backends
    from .conformance import judge
    from .versions import known
    rng, rows = np.random.default_rng(seed), []
    for op, (name, attrs, shape) in _FLOAT_OPS.items():
        op_type, _, opset = op.partition("-")
        got_all, exact_all, model_all = [], [], []
        for k in range(cases):
            dtype = ("uint8", "int8")[k % 2]
            ins, sy, zy = random_case(rng, "AveragePool", dtype)
            x, sx, zx = ins[0]
            x = x[tuple(slice(0, d) for d in shape)]
            kw = {k2: v for k2, v in attrs.items() if k2 == "axis" or op_type == "AveragePool"}
            _, got = optimized(qdq_model(op_type, [(x, sx, zx)], (sy, zy), attrs=attrs, opset=int(opset or 21)),
                               "disable", {"x0": x})
            model = backends.variant("onnxruntime", name)(x, sx, zx, sy, zy, dtype=dtype, **kw)
            exact = backends.variant("exact", name)(x, sx, zx, sy, zy, dtype=dtype, **kw)
            got_all.append(got.ravel())
            exact_all.append(resolved(got, exact).ravel())
            model_all.append(resolved(got, model).ravel())
        got, exact, model = (np.concatenate(a) for a in (got_all, exact_all, model_all))
        dev = FLOAT_PATH_DEVIATIONS[name]
        rows.append(judge("onnxruntime", f"QDQ {op} (float path, level disable)", "refquant qops / activations "
                          "(exact)", f"{cases} random uint8/int8 cases", got, exact,
                          [known("onnxruntime", dev, model, name)]))
    return rows
