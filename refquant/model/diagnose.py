"""The first divergent node: one element explained, and the modelled semantics that reproduce it.

``explain_node`` traces one output element with refquant's own explainers (refquant.ops.explain_*
for the integer kernels, the quantize profile for QuantizeLinear, the enclosure otherwise).
``diagnose_node`` re-runs the node on the implementation's inputs under every candidate: each row
of the backend table, each ``requant.METHODS`` row (for the requantizing ops) and each quantize
profile (for QuantizeLinear / DequantizeLinear); a candidate that reproduces every element names
the semantics that explain the implementation there.
"""

from fractions import Fraction

import numpy as np

from .. import backends
from .. import ops as spec_ops
from ..errors import RefquantError
from ..profiles import PROFILES
from ..requant import METHODS
from .judge import judge_tensor
from .runner import run_node

REQUANT_OPS = {"QLinearConv": "qlinear_conv", "com.microsoft.QLinearConv": "qlinear_conv",
               "QLinearMatMul": "qlinear_matmul", "com.microsoft.QGemm": "qlinear_matmul",
               "tflite.CONV_2D": "conv_2d", "tflite.DEPTHWISE_CONV_2D": "depthwise_conv_2d",
               "tflite.FULLY_CONNECTED": "fully_connected"}
MAX_ORACLE_ELEMENTS = 20_000       # methods without a numpy form are tried only on outputs this small


def _scalar(a):
    return np.asarray(a).reshape(-1)[0].item()


def _scales(a):
    a = np.asarray(a, np.float32).reshape(-1)
    return [float(v) for v in a] if a.size > 1 else float(a[0])


def _zps(a):
    a = np.asarray(a).reshape(-1)
    return [int(v) for v in a] if a.size > 1 else int(a[0])


def _view(node, vals, index=None):
    """(node, inputs, index) as refquant's explainers and audit read them: a TFLite CONV_2D /
    DEPTHWISE_CONV_2D / FULLY_CONNECTED as its ONNX view (model/ops_tflite.py), (None, None, None)
    for another TFLite operator."""
    if node.domain != "tflite":
        return node, vals, index
    from .ops_tflite import onnx_view
    return onnx_view(node, vals, index) or (None, None, None)


def _inputs(g, node, ins):
    return [None if not n else np.asarray(ins[n] if n in ins else g.initializers[n]) for n in node.inputs]


def _conv_trace(node, vals, method, index):
    """ops.explain_qlinear_conv on the receptive field of output ``index`` (n, m, oh, ow)."""
    x, sx, zx, w, sw, zw, sy, zy = vals[:8]
    bias = vals[8] if len(vals) > 8 else None
    last = node.attr("channels_last", 0)
    if last:
        x = np.moveaxis(x, -1, 1)
        index = (index[0], index[-1]) + tuple(index[1:-1])
    n, m, oh, ow = index
    st, pads, dil = node.attr("strides", [1, 1]), node.attr("pads", [0, 0, 0, 0]), node.attr("dilations", [1, 1])
    kH, kW = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=_scalar(zx))
    h0, w0 = oh * st[0], ow * st[1]
    field_ = xp[n:n + 1, :, h0:h0 + dil[0] * (kH - 1) + 1, w0:w0 + dil[1] * (kW - 1) + 1]
    return spec_ops.explain_qlinear_conv(
        field_, float(np.float32(_scalar(sx))), _scalar(zx), w, _scales(sw), _zps(zw), float(np.float32(_scalar(sy))),
        _scalar(zy), (0, m, 0, 0), method=method, x_type=x.dtype.name, w_type=w.dtype.name, y_type=np.asarray(zy).dtype.name,
        bias=None if bias is None else [int(b) for b in bias], dilations=dil, group=node.attr("group", 1)).text


def _matmul_trace(node, vals, method, index):
    a, sa, za, b, sb, zb = vals[:6]
    bias = None
    if node.key == "com.microsoft.QGemm":
        bias, sy, zy = vals[6], vals[7], vals[8]
        b = b.T if node.attr("transB", 0) else b
    else:
        sy, zy = vals[6], vals[7]
    i, j = index[-2], index[-1]
    row = a.reshape(-1, a.shape[-2], a.shape[-1])[int(np.ravel_multi_index(index[:-2], a.shape[:-2])) if a.ndim > 2 else 0]
    return spec_ops.explain_qlinear_matmul(
        row[i:i + 1], float(np.float32(_scalar(sa))), _scalar(za), b if b.ndim == 2 else b[0], _scales(sb), _zps(zb),
        float(np.float32(_scalar(sy))), _scalar(zy), (0, j), method=method, a_type=a.dtype.name, b_type=b.dtype.name,
        y_type=np.asarray(zy).dtype.name, bias=None if bias is None else [int(v) for v in bias]).text


def explain_node(g, node, ins, backend, index, actual=None):
    """A text trace of output ``index`` of ``node`` on the given inputs under ``backend``."""
    vals = _inputs(g, node, ins)
    head = f"node {node.name!r} ({node.key}), output element {list(index) if index else '?'}, backend {backend!r}\n"
    got = "" if actual is None or index is None else f"\nimplementation gave: {np.asarray(actual)[tuple(index)]}\n"
    method = row_method(backends.get_backend(backend), node, vals) if node.key in REQUANT_OPS else None
    if index is not None and method in METHODS:
        tnode, tvals, tindex = _view(node, vals, tuple(index))
        if tnode is not None:
            fn = _conv_trace if REQUANT_OPS[tnode.key] == "qlinear_conv" else _matmul_trace
            return head + fn(tnode, tvals, method, tindex) + got
    out = run_node(g, node, ins, backend)[0]
    if index is None:
        return head
    lo, hi = out.bounds()
    idx = tuple(index)
    lines = [head.rstrip("\n")]
    if node.key == "QuantizeLinear":
        x, s = np.float32(vals[0][idx]), np.asarray(vals[1], np.float32).reshape(-1)
        s = s[idx[node.attr("axis", 1)]] if s.size > 1 else s[0]
        q = Fraction(float(x)) / Fraction(float(s))
        lines += [f"x = {x!r} (exactly {Fraction(float(x))})", f"scale = {s!r}",
                  f"x / scale exactly = {float(q)!r}; in binary32 = {np.float32(x / s)!r}",
                  f"profile {backends.get_backend(backend).profile(np.asarray(vals[1]).size > 1)!r}"]
    elif node.key in ELEMENTWISE:
        lines += _elementwise_lines(node, vals, idx, out.v.shape, backend)
    elif node.domain == "tflite":
        lines += _tflite_lines(node, vals, idx, backend)
    lines.append(f"refquant: {out.v[idx]!r}" + ("" if lo[idx] == hi[idx] else f", any of [{lo[idx]}, {hi[idx]}]"))
    return "\n".join(lines) + got


# element-wise contrib ops: (variant op name, positions of the quantized inputs and their scale / zero point)
ELEMENTWISE = {"com.microsoft.QLinearAdd": ("add", ((0, 1, 2), (3, 4, 5)), (6, 7)),
               "com.microsoft.QLinearMul": ("mul", ((0, 1, 2), (3, 4, 5)), (6, 7))}


# TFLite operator -> the op name of its VARIANTS entry (int16 activations: "<op>_int16" where the row has it)
TFLITE_OPS = {"ADD": "add", "SUB": "sub", "MUL": "mul", "QUANTIZE": "quantize", "DEQUANTIZE": "dequantize",
              "AVERAGE_POOL_2D": "average_pool_2d", "MAX_POOL_2D": "max_pool_2d", "MEAN": "mean",
              "SOFTMAX": "softmax", "LOGISTIC": "sigmoid", "TANH": "tanh", "HARD_SWISH": "hard_swish",
              "LEAKY_RELU": "leaky_relu", "CONCATENATION": "concatenation", "PAD": "tflite_pad", "PADV2": "tflite_pad",
              "RESIZE_NEAREST_NEIGHBOR": "resize_nearest_neighbor", "RESIZE_BILINEAR": "resize_bilinear"}
_TFLITE_ELEMENTWISE = ("ADD", "SUB", "MUL", "QUANTIZE", "DEQUANTIZE", "LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU")


def _tflite_lines(node, vals, idx, backend):
    """A TFLite operator's element: its input elements (element-wise operators, with broadcasting)
    and their quantization, the output's, and the variant the row names for the operator."""
    q, lines = node.attr("quant", {}), []
    for label, name, v in zip("abcd", node.inputs, vals):
        if node.op_type not in _TFLITE_ELEMENTWISE or v is None or np.ndim(v) != len(idx):
            continue
        src = tuple(i if d > 1 else 0 for i, d in zip(idx, np.shape(v)))
        if name in q and len(q[name][0]) == 1:
            (s,), (z,), _ = q[name]
            lines.append(f"{label} = {v[src]} (index {list(src)}), scale {s!r}, zero point {z}: real "
                         f"{float(Fraction(s) * (int(v[src]) - z))!r}")
        else:
            lines.append(f"{label} = {v[src]!r} (index {list(src)})")
    out = node.outputs[0]
    if out in q and len(q[out][0]) == 1:
        lines.append(f"y scale {q[out][0][0]!r}, zero point {q[out][1][0]}")
    row, op = backends.get_backend(backend), TFLITE_OPS.get(node.op_type)
    if op and node.attr("types", {}).get(out) == "int16" and f"{op}_int16" in row.ops:
        op = f"{op}_int16"
    if op in row.ops:
        doc = " ".join((backends.variant(row, op).__doc__ or "").split())
        lines.append(f"variant '{row.ops[op]}' of {op!r}: {doc[:400]}")
    act = node.attr("fused_activation_function", "NONE")
    if act not in ("NONE", None):
        lines.append(f"fused activation {act}: the output clamped to its range on the output grid")
    return lines


def _elementwise_lines(node, vals, idx, out_shape, backend):
    """The inputs of one element of a broadcast element-wise op, and the arithmetic the row names."""
    name, operands, (sy, zy) = ELEMENTWISE[node.key]
    lines = []
    for label, (t, sc, zp) in zip("ab", operands):
        a = np.asarray(vals[t])
        src = tuple(i if d > 1 else 0 for i, d in zip(idx[len(idx) - a.ndim:], a.shape))
        s, z = float(np.float32(_scalar(vals[sc]))), _scalar(vals[zp]) if vals[zp] is not None else 0
        lines.append(f"{label} = {a[src]} (index {list(src)}), scale {s!r}, zero point {z}: real "
                     f"{float(Fraction(s) * (int(a[src]) - z))!r}")
    lines.append(f"y scale {float(np.float32(_scalar(vals[sy])))!r}, zero point {_scalar(vals[zy])}")
    row = backends.get_backend(backend)
    if name in row.ops:
        fn = backends.variant(row, name)
        doc = " ".join((fn.__doc__ or "").split())
        lines.append(f"variant '{row.ops[name]}' of {name!r}: {doc[:400]}")
    return lines


def row_method(row, node, vals=None):
    """The requantization method ``row`` uses for a requantizing ``node`` (None if it has none):
    'qlinear_conv' / 'qlinear_matmul', or the TFLite-style 'depthwise_conv_2d' / 'conv_2d' /
    'fully_connected'."""
    op = REQUANT_OPS[node.key]
    if op in row.ops:
        return row.ops[op]
    if op == "qlinear_matmul":
        return row.ops.get("fully_connected")
    group = node.attr("group", 1)
    if group > 1 and vals is not None and vals[3] is not None and group == vals[3].shape[0] \
            and "depthwise_conv_2d" in row.ops:
        return row.ops["depthwise_conv_2d"]
    return row.ops.get("conv_2d")


def _candidate_rows(node):
    """Backend rows to try for ``node``: the table's rows, one per method, one per quantize profile."""
    rows = [b for b in backends.BACKENDS.values() if not b.user]
    op = REQUANT_OPS.get(node.key)
    if op:
        rows += [backends.Backend(f"method {m}", METHODS[m].reproduces, "onnxruntime", {op: m}) for m in METHODS]
    if node.key in ("QuantizeLinear", "DequantizeLinear"):
        rows += [backends.Backend(f"profile {p}", PROFILES[p].source, p) for p in PROFILES]
    return rows


def diagnose_node(g, node, ins, actual):
    """[{semantics, source, mismatches, elements}] for every candidate that runs, best first."""
    out, seen = [], set()
    n = sum(np.asarray(a).size for a in actual.values())
    vals = _inputs(g, node, ins)
    for row in _candidate_rows(node):
        op = REQUANT_OPS.get(node.key)
        meth = row_method(row, node, vals) if op else None
        if op and (meth is None or (meth not in _FAST and n > MAX_ORACLE_ELEMENTS)):
            continue
        try:
            res = dict(zip(node.outputs, run_node(g, node, ins, row)))
        except (RefquantError, ArithmeticError, TypeError, ValueError):
            continue        # the row cannot compute this node (e.g. its variant takes other arguments)
        mism = sum(judge_tensor(o, a, res[o]).mismatches for o, a in actual.items())
        key = (meth if op else row.quantize, mism)
        entry = {"semantics": row.name, "source": row.source, "mismatches": int(mism), "elements": int(n)}
        if op:
            entry["method"] = meth
        if key not in seen or row.name.startswith(("method", "profile")):
            out.append(entry)
            seen.add(key)
    out.sort(key=lambda e: (e["mismatches"], e["semantics"].startswith(("method", "profile")), e["semantics"]))
    return out


def _fast_methods():
    from ..audit.numpy_forms import FORMS
    return set(FORMS) | {"int32"}


_FAST = _fast_methods()


def describe(target, node):
    """One line: the arithmetic ``node`` performs under the target's backend row (and, for a
    QuantizeLinear, the op that produced its float input)."""
    row = backends.get_backend(target.backend)
    if node.key in REQUANT_OPS:
        m = row_method(row, node, _inputs(target.graph, node, target.tensors))
        if m not in METHODS:
            fn = backends.variant(row, "depthwise_conv_2d")
            return f"{node.key}: variant '{m}' ({(fn.__doc__ or '').strip().splitlines()[0]})"
        return f"{node.key}: exact integer accumulation, then requantization method '{m}': {METHODS[m].reproduces}"
    if node.key == "QuantizeLinear":
        prod = target.graph.producer().get(node.inputs[0])
        src = f"{prod.key} in binary32 (any summation order)" if prod is not None else "a graph input"
        p = row.profile(np.asarray(target.graph.initializers.get(node.inputs[1], 0)).size > 1)
        return f"float path: {src}, then QuantizeLinear profile '{p}': {PROFILES[p].source}"
    return f"{node.key} under backend row '{row.name}'"


def audit_node(g, node, ins, actual):
    """``refquant audit``'s diagnosis of a QLinearConv / QLinearMatMul / QGemm node on the
    implementation's inputs (the audit's candidates: every METHODS row and its rounding variants,
    accumulator variants; docs/audit.md): {verdict, ranking (best first)}, or None for other ops."""
    from ..audit import audit, make_case
    if node.key not in REQUANT_OPS:
        return None
    vals = _inputs(g, node, ins)
    y = np.asarray(actual)
    if node.domain == "tflite":
        conv = node.op_type != "FULLY_CONNECTED"
        node, vals, _ = _view(node, vals)
        if node is None:
            return None
        y = np.moveaxis(y, -1, 1) if conv else y.reshape(vals[0].shape[0], -1)
    if node.key == "com.microsoft.QLinearConv" and node.attr("channels_last", 0):
        vals[0], y = np.moveaxis(vals[0], -1, 1), np.moveaxis(y, -1, 1)
    spec = _audit_spec(node, vals)
    if spec is None:
        return None
    res = audit(make_case(spec), y, first=0, diagnose_=True)
    d = res.get("diagnosis") or {}
    return {"verdict": d.get("verdict"), "mismatches_as_modelled": res["mismatches"],
            "ranking": [{k: r.get(k) for k in ("name", "description", "matched", "of")} for r in d.get("ranking", [])[:8]]}


def _audit_spec(node, vals):
    def sc(a):
        a = np.asarray(a, np.float32).reshape(-1)
        return [float(v) for v in a] if a.size > 1 else float(a[0])

    def zp(a):
        return int(np.asarray(a).reshape(-1)[0])
    if REQUANT_OPS[node.key] == "qlinear_conv":
        x, sx, zx, w, sw, zw, sy, zy = vals[:8]
        spec = {"op": "qlinear_conv", "x": x.tolist(), "w": w.tolist(), "x_scale": sc(sx), "w_scale": sc(sw),
                "x_zero_point": zp(zx), "w_zero_point": zp(zw), "x_type": x.dtype.name, "w_type": w.dtype.name,
                "pads": node.attr("pads", [0, 0, 0, 0]), "strides": node.attr("strides", [1, 1]),
                "dilations": node.attr("dilations", [1, 1]), "group": node.attr("group", 1)}
        bias = vals[8] if len(vals) > 8 else None
    else:
        a, sa, za, b, sb, zb = vals[:6]
        if node.key == "com.microsoft.QGemm":
            bias, sy, zy = vals[6], vals[7], vals[8]
            b = b.T if node.attr("transB", 0) else b
        else:
            bias, sy, zy = None, vals[6], vals[7]
        if a.ndim != 2:
            return None
        spec = {"op": "qlinear_matmul", "a": a.tolist(), "b": b.tolist(), "a_scale": sc(sa), "b_scale": sc(sb),
                "a_zero_point": zp(za), "b_zero_point": zp(zb), "a_type": a.dtype.name, "b_type": b.dtype.name}
    spec.update({"y_scale": sc(sy), "y_zero_point": zp(zy), "y_type": np.asarray(zy).dtype.name, "method": "exact"})
    if bias is not None:
        spec["bias"] = np.asarray(bias).astype(np.int64).tolist()
    return spec
