"""Running one quantized activation on a peer, and judging it against refquant/activations.py.

* ``ort_qlinear``: an onnxruntime com.microsoft QLinearSigmoid / QLinearLeakyRelu / QLinearSoftmax
  model built with onnx.helper (scales and zero points as initializers, so the table is built
  once at session creation, as in deployment), one thread.
* ``litert_unary``: a one-op LiteRT model (LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH, SOFTMAX) built
  with refquant/peers/litert.py and run under one kernel family.
* ``compare``: the peer's outputs against a variant's outputs, where a variant element may be an
  ``ImplementationDefined``: counts of elements, values outside every candidate (unexplained),
  implementation-defined elements, and elements that differ from the first (correctly rounded)
  candidate.
"""

import numpy as np

from ..certified import ImplementationDefined, possible
from .versions import need

_ORT_OPS = {"sigmoid": "QLinearSigmoid", "leaky_relu": "QLinearLeakyRelu", "softmax": "QLinearSoftmax"}
_LITERT_OPS = {"sigmoid": "LOGISTIC", "tanh": "TANH", "leaky_relu": "LEAKY_RELU", "hard_swish": "HARD_SWISH",
               "softmax": "SOFTMAX", "softmax_int16": "SOFTMAX", "sigmoid_int16": "LOGISTIC", "tanh_int16": "TANH"}


def ort_qlinear(op, x, x_scale, x_zp, y_scale, y_zp, dtype, **attrs):
    """Run com.microsoft ``op`` ('sigmoid', 'leaky_relu', 'softmax') on onnxruntime; x an int array."""
    onnx = need("onnx", "onnxruntime")
    ort = need("onnxruntime", "onnxruntime")
    h, tp = onnx.helper, onnx.TensorProto
    elem = {"int8": tp.INT8, "uint8": tp.UINT8}[dtype]
    x = np.asarray(x, dtype={"int8": np.int8, "uint8": np.uint8}[dtype])
    inits = [h.make_tensor("xs", tp.FLOAT, [], [x_scale]), h.make_tensor("xz", elem, [], [x_zp]),
             h.make_tensor("ys", tp.FLOAT, [], [y_scale]), h.make_tensor("yz", elem, [], [y_zp])]
    if op == "softmax":
        attrs = {"opset": 13, "axis": -1, **attrs}
    node = h.make_node(_ORT_OPS[op], ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", **attrs)
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", elem, list(x.shape))],
                         [h.make_tensor_value_info("y", elem, list(x.shape))], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads, so.log_severity_level = 1, 1, 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def litert_unary(op, x, x_scale, x_zp, y_scale, y_zp, dtype, family, **options):
    """Run the LiteRT builtin for ``op`` on x (shape (rows, n)) under ``family``; (outputs, delegated)."""
    from . import litert
    x = np.asarray(x)
    m = litert.Model()
    tx = m.tensor("x", x.shape, dtype, scale=x_scale, zero_point=x_zp)
    ty = m.tensor("y", x.shape, dtype, scale=y_scale, zero_point=y_zp)
    if op.startswith("softmax"):
        options = {"beta": 1.0, **options}     # the schema's default beta is 0, which TFLite's Prepare aborts on
    m.op(_LITERT_OPS[op], [tx], [ty], **options)
    res = litert.run(m.build(inputs=[tx], outputs=[ty]), {"x": x.astype(litert.DTYPES[dtype][1])}, family)
    return res.outputs["y"], res.delegated


def _flat(v):
    return [e for row in v for e in _flat(row)] if isinstance(v, list) else [v]


def compare(got, modelled):
    """Counts for peer outputs ``got`` (array) against a variant's (nested) outputs."""
    got = [int(v) for v in np.asarray(got).ravel()]
    mod = _flat(modelled)
    out = {"elements": len(got), "unexplained": 0, "implementation_defined": 0, "not_first": 0, "examples": []}
    for i, (g, m) in enumerate(zip(got, mod)):
        first = m.first if isinstance(m, ImplementationDefined) else m
        out["implementation_defined"] += isinstance(m, ImplementationDefined)
        out["not_first"] += g != first
        if g not in possible(m):
            out["unexplained"] += 1
            if len(out["examples"]) < 5:
                out["examples"].append({"index": i, "peer": g, "model": str(m)})
    return out


def _f32(v):
    return float(np.float32(v))


def _tally(table, key, got, modelled, ideal):
    c = compare(got, modelled)
    t = table.setdefault(key, {"elements": 0, "unexplained": 0, "implementation_defined": 0, "not_first": 0,
                               "differ_from_exact": 0, "examples": []})
    for k in ("elements", "unexplained", "implementation_defined", "not_first"):
        t[k] += c[k]
    t["examples"] += c["examples"][:max(0, 5 - len(t["examples"]))]
    t["differ_from_exact"] += sum(int(g) != e for g, e in zip(np.asarray(got).ravel(), _flat(ideal)))


def sweep_ort(seed=1, n=40, progress=None):
    """Seeded random (scale, zero point, alpha) sets, every int8 / uint8 input, against onnxruntime:
    {op: counts}.  Sigmoid and LeakyRelu over all 256 inputs; softmax over 4 random rows of 8."""
    from .. import activations as A
    from .. import qops
    rng = np.random.default_rng(seed)
    table = {}
    for k in range(n):
        dtype = ("int8", "uint8")[k % 2]
        lo = -128 if dtype == "int8" else 0
        xs = list(range(lo, lo + 256))
        sx, sy = _f32(2.0 ** rng.uniform(-7, 0)), _f32(2.0 ** rng.uniform(-9, -1))
        zx, zy = int(rng.integers(lo, lo + 256)), int(rng.integers(lo, lo + 256))
        alpha = _f32(rng.choice([0.01, 0.1, 0.2, 0.3, 0.5]))
        if k % 3 == 0:
            sy = _f32(sx * alpha * 2)          # ties of alpha * v on the output grid
        got = ort_qlinear("sigmoid", xs, sx, zx, sy, zy, dtype)
        _tally(table, "sigmoid", got, A.sigmoid_ort(xs, sx, zx, sy, zy, dtype=dtype),
               A.sigmoid_exact(xs, sx, zx, sy, zy, dtype=dtype))
        got = ort_qlinear("leaky_relu", xs, sx, zx, sy, zy, dtype, alpha=alpha)
        _tally(table, "leaky_relu", got, A.leaky_relu_ort(xs, sx, zx, sy, zy, dtype=dtype, alpha=alpha),
               qops.leaky_relu(xs, sx, zx, sy, zy, dtype=dtype, alpha=alpha))
        rows = rng.integers(lo, lo + 256, size=(4, 8)).tolist()
        sy = _f32(rng.choice([1 / 256, rng.uniform(0.002, 0.01)]))
        got = ort_qlinear("softmax", rows, sx, zx, sy, lo, dtype)
        _tally(table, "softmax", got, A.softmax_ort(rows, sx, zx, sy, lo, dtype=dtype),
               A.softmax_exact(rows, sx, zx, sy, lo, dtype=dtype))
        if progress:
            progress(k + 1, n)
    return table


def sweep_litert(seed=7, n=30, progress=None):
    """Seeded random parameter sets, every int8 input, LOGISTIC / TANH / LEAKY_RELU / HARD_SWISH under
    the three kernel families against the backend rows' variants: {"op/family": counts}."""
    from .. import activations as A
    from .. import backends, qops
    rng = np.random.default_rng(seed)
    xs = list(range(-128, 128))
    ideal = {"sigmoid": A.sigmoid_exact, "tanh": A.tanh_exact, "leaky_relu": qops.leaky_relu,
             "hard_swish": A.hard_swish_exact}
    table = {}
    for k in range(n):
        sx, zx = _f32(2.0 ** rng.uniform(-7, 0)), int(rng.integers(-128, 128))
        sy, zy = _f32(2.0 ** rng.uniform(-7, 0)), int(rng.integers(-128, 128))
        alpha = _f32(rng.choice([0.01, 0.1, 0.2, 0.5, -0.3, 1.5]))
        for op, q in (("sigmoid", (1 / 256, -128)), ("tanh", (1 / 128, 0)), ("leaky_relu", (sy, zy)),
                      ("hard_swish", (sy, zy))):
            extra = {"alpha": alpha} if op == "leaky_relu" else {}
            ref = ideal[op](xs, sx, zx, *q, dtype="int8", **extra)
            for family in ("ref", "optimized", "xnnpack"):
                got, _ = litert_unary(op, [xs], sx, zx, *q, "int8", family, **extra)
                fn = backends.variant(f"litert_{family}", op)
                _tally(table, f"{op}/{family}", got, fn(xs, sx, zx, *q, dtype="int8", **extra), ref)
        rows = rng.integers(-128, 128, size=(3, int(rng.choice([2, 5, 16, 64])))).tolist()
        ref = A.softmax_exact(rows, sx, 0, 1 / 256, -128, dtype="int8")
        for family in ("ref", "optimized", "xnnpack"):
            got, _ = litert_unary("softmax", rows, sx, 0, 1 / 256, -128, "int8", family)
            fn = backends.variant(f"litert_{family}", "softmax")
            _tally(table, f"softmax/{family}", got, fn(rows, sx, 0, 1 / 256, -128, dtype="int8"), ref)
        if progress:
            progress(k + 1, n)
    return table


# ##########################################################################
# refquant verify rows
# ##########################################################################

# (op, dtype, x_scale, x_zp, y_scale, y_zp, attributes): exhaustive inputs, ties and near-ties
# (tests/test_activations.py has the same sets with the values they pin).
ORT_CASES = (
    ("sigmoid", "int8", 0.02134474366903305, -128, 0.006106826476752758, -53, {}),
    ("sigmoid", "uint8", 0.05000000074505806, 128, 0.00390625, 0, {}),
    ("leaky_relu", "int8", 0.7585902810096741, 112, 0.4551541805267334, -63, {"alpha": 0.30000001192092896}),
    ("leaky_relu", "uint8", 0.0625, 131, 0.03125, 121, {"alpha": 0.5}),
    ("softmax", "int8", 0.0716676339507103, -64, 0.006784955505281687, -128, {}),
    ("softmax", "uint8", 0.25, 0, 0.00390625, 0, {}),
)
_ORT_DEV = {"sigmoid": "ORT QLinearSigmoid: MLAS logistic table", "leaky_relu": "ORT QLinearLeakyRelu: binary32 table",
            "softmax": "ORT QLinearSoftmax: floor(1/y_scale), binary32"}


def _inputs(op, dtype, seed):
    lo = {"int8": -128, "uint8": 0, "int16": -32768}[dtype]
    if dtype == "int16" and not op.startswith("softmax"):
        return list(range(-32768, 32768, 7)) + [32767]      # every input: the slow test
    if op != "softmax":
        return list(range(lo, lo + 256))
    rng = np.random.default_rng(seed)
    return rng.integers(lo, lo + 256, size=(8, 6)).tolist() + [[lo + 255, lo, lo + 3, lo + 3, lo + 3, lo + 200]]


def resolved(got, modelled):
    """The model as an array: each ImplementationDefined element is the peer's value where that is
    one of its candidates, else its first candidate (so a peer outside the candidates differs)."""
    flat = [int(v) for v in np.asarray(got).ravel()]
    out = [g if g in possible(m) else (m.first if isinstance(m, ImplementationDefined) else m)
           for g, m in zip(flat, _flat(modelled))]
    return np.asarray(out).reshape(np.asarray(got).shape)


def activation_rows(peer, run, cases, variant_of, ideal_of, inputs_of=None):
    """One conformance Row per case: the peer's outputs against the exact ideal, explained (KNOWN)
    by the backend row's variant (ImplementationDefined elements resolved within their candidates)."""
    from .conformance import judge
    from .versions import known
    rows = []
    for i, (op, dtype, sx, zx, sy, zy, attrs) in enumerate(cases):
        x = inputs_of[op]() if inputs_of and op in inputs_of else _inputs(op, dtype, i)
        try:
            got = np.asarray(run(op, x, sx, zx, sy, zy, dtype, attrs))
        except Exception as exc:   # noqa: BLE001 - the peer's own error is the row
            got = exc
        backend, dev = variant_of(op, dtype, sx)
        flag = f"{dtype} sx={sx:.9g} zx={zx} sy={sy:.9g} zy={zy}" + "".join(f" {k}={v:.9g}" for k, v in attrs.items())
        spec = np.asarray(ideal_of(op)(x, sx, zx, sy, zy, dtype=dtype, **attrs))
        models = []
        if not isinstance(got, BaseException):
            model = resolved(got, backends_variant(backend, op)(x, sx, zx, sy, zy, dtype=dtype, **attrs))
            models = [known(peer, dev, model, op)] if dev else []
        rows.append(judge(peer, op, "exact (refquant activations)", flag, got, spec, models))
    return rows


def backends_variant(backend, op):
    from .. import backends
    return backends.variant(backend, op)


def _ideal(op):
    from .. import activations as A
    from .. import qops
    return {"sigmoid": A.sigmoid_exact, "tanh": A.tanh_exact, "softmax": A.softmax_exact,
            "softmax_int16": A.softmax_exact, "sigmoid_int16": A.sigmoid_exact, "tanh_int16": A.tanh_exact,
            "hard_swish": A.hard_swish_exact, "leaky_relu": qops.leaky_relu}[op]


def ort_activation_rows():
    """``refquant verify onnxruntime`` rows for QLinearSigmoid / QLinearLeakyRelu / QLinearSoftmax."""
    def run(op, x, sx, zx, sy, zy, dtype, attrs):
        return ort_qlinear(op, x, sx, zx, sy, zy, dtype, **attrs)
    return activation_rows("onnxruntime", run, ORT_CASES, lambda op, dtype, sx: ("onnxruntime", _ORT_DEV[op]), _ideal)


LITERT_CASES = (
    ("sigmoid", "int8", 0.010885007679462433, -128, 0.00390625, -128, {}),
    ("sigmoid", "int8", 0.015153616666793823, -128, 0.00390625, -128, {}),
    ("tanh", "int8", 0.008645349182188511, -128, 0.0078125, 0, {}),
    ("tanh", "int8", 0.011895225383341312, 127, 0.0078125, 0, {}),
    ("leaky_relu", "int8", 0.014578553847968578, 23, 0.007289276923984289, 25, {"alpha": -0.30000001192092896}),
    ("leaky_relu", "int8", 0.016014056280255318, 0, 0.7058713436126709, 3, {"alpha": 0.009999999776482582}),
    ("hard_swish", "int8", 0.05000000074505806, 0, 0.029999999329447746, -20, {}),
    ("softmax", "int8", 0.05000000074505806, 0, 0.00390625, -128, {}),
    ("softmax_int16", "int16", 0.0009765625, 0, 3.0517578125e-05, 0, {}),
    ("sigmoid_int16", "int16", 0.0003000000142492354, 0, 3.0517578125e-05, 0, {}),
    ("tanh_int16", "int16", 0.0003000000142492354, 0, 3.0517578125e-05, 0, {}),
    ("sigmoid_int16", "int16", 2.0 ** -12, 0, 3.0517578125e-05, 0, {}),      # optimized: gemmlowp int16
    ("tanh_int16", "int16", 2.0 ** -11, 0, 3.0517578125e-05, 0, {}),         # optimized: gemmlowp int16
)
_LITERT_DEV = {
    "ref": {"sigmoid": "LiteRT int8 LOGISTIC/TANH: binary32 table, half away",
            "tanh": "LiteRT int8 LOGISTIC/TANH: binary32 table, half away",
            "leaky_relu": "LiteRT LEAKY_RELU: two QuantizeMultiplier multipliers",
            "hard_swish": "LiteRT HARD_SWISH: int16 fixed point", "softmax": "LiteRT int8 SOFTMAX reference: gemmlowp",
            "softmax_int16": "LiteRT int16 SOFTMAX: interpolated LUTs",
            "sigmoid_int16": "LiteRT int16 LOGISTIC/TANH: sigmoid_table_uint16 interpolation",
            "tanh_int16": "LiteRT int16 LOGISTIC/TANH: sigmoid_table_uint16 interpolation"},
}
_LITERT_DEV["optimized"] = {**_LITERT_DEV["ref"], "softmax": "LiteRT int8 SOFTMAX optimized: expf table"}
_LITERT_DEV["xnnpack"] = {**_LITERT_DEV["optimized"], "sigmoid": "XNNPACK int8 sigmoid/tanh: binary32 table, lrintf",
                          "tanh": "XNNPACK int8 sigmoid/tanh: binary32 table, lrintf",
                          "leaky_relu": "XNNPACK int8 leaky ReLU: 8-bit multipliers"}


def _litert_dev(family, op, sx):
    """The named deviation a LiteRT family's row shows for op at input scale sx: the optimized
    families run gemmlowp's int16 LOGISTIC at 2^-12 and TANH at 2^-12 and 2^-11 (activations_int16)."""
    pot = {"sigmoid_int16": (2.0 ** -12,), "tanh_int16": (2.0 ** -12, 2.0 ** -11)}.get(op, ())
    if family != "ref" and sx in pot:
        return "LiteRT int16 LOGISTIC/TANH power-of-two scales: gemmlowp int16"
    return _LITERT_DEV[family][op]


def litert_activation_rows(version=""):
    """``refquant verify litert`` rows: LOGISTIC / TANH / LEAKY_RELU / HARD_SWISH / SOFTMAX per kernel
    family on constructed near-tie cases (every int8 input), against the ideal, explained by the
    family's variant and its named deviation."""
    rows = []
    for family in ("ref", "optimized", "xnnpack"):
        def run(op, x, sx, zx, sy, zy, dtype, attrs, family=family):
            rows = op.startswith("softmax")
            got, _ = litert_unary(op, x if rows else [x], sx, zx, sy, zy, dtype, family, **attrs)
            return got if rows else got[0]
        inputs_of = {"softmax": lambda: [[1, 5, -3, 127, 100, 7], [0, 0, 0, 0, 0, 0], list(range(-128, 128, 43))],
                     "softmax_int16": lambda: [list(range(-32768, 32768, 4096)),
                                               [0, 7, -9000, 20000, 32767, -32768, 5, 5, 100, -100, 1000, -1000,
                                                30000, 29999, 0, 1]]}
        part = activation_rows("litert", run, LITERT_CASES,
                               lambda op, dtype, sx, family=family: (f"litert_{family}", _litert_dev(family, op, sx)),
                               _ideal, inputs_of)
        for r in part:
            r.backend = f"litert_{family} {version}".strip()
        rows += part
    return rows
