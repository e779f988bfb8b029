"""OpenVINO (CPU plugin) as the implementation under test: ``refquant model compare MODEL --against openvino``.

OpenVINO reads the ONNX QDQ model itself (its ONNX frontend), and the CPU plugin compiles it with one
inference thread in its default configuration: low precision transformations turn DQ -> Conv/MatMul ->
Q groups into int8 Convolution / FullyConnected layers with the requantization in their post-ops,
standalone QuantizeLinear nodes into FakeQuantize (snippets Subgraph) layers, and fuse further
(residual Adds, pooling, whole subgraphs).  ``compiled_model.get_runtime_model()`` lists the layers,
their runtime precision and the original ops each absorbed (``originalLayersNames``).

Observation.  A tensor is observable when making it a model output leaves the compiled graph as it was:
the candidates are the tensors at the boundaries of the runtime layers; all are added at once, else
one by one, and a set is kept only when the runtime graph (layer types, precisions, the ONNX nodes in
each layer) is unchanged and the model's outputs are bit-identical to the plain compiled model's.
Everything else is listed as not observable.

Semantics.  The graph refquant runs is the ONNX graph rewritten into ``model/ops_openvino.py``'s nodes
where the runtime graph says how a node ran: an int8 Convolution / FullyConnected layer holding exactly
one Conv / MatMul / Gemm and its QuantizeLinear (``openvino.Int8Linear``), an int8 Convolution with a
fused residual Add (``openvino.Int8ConvAdd``), a u8/i8 Subgraph adding a dequantized constant to a
dequantized activation before a QuantizeLinear (``openvino.DequantizeAddQuantize``), an f32 or u8/i8 Subgraph
(or FakeQuantize layer) holding one QuantizeLinear (``openvino.QuantizeLinear``; the path from the
layer type), a u8/i8 Subgraph holding one DequantizeLinear (``openvino.DequantizeLinear``), a
Subgraph holding a QuantizeLinear and the DequantizeLinear reading it (both, in that arithmetic), an
f32 Subgraph holding a DequantizeLinear whose QuantizeLinear is in no layer (the pair folded into one
``openvino.FakeQuantize``), a u8/i8 Pooling / Reduce layer holding an AveragePool / GlobalAveragePool /
ReduceMean and its QuantizeLinear (``openvino.MeanQuantize``), or the mean alone with its QuantizeLinear in
the next f32 / bf16 Subgraph (``openvino.MeanThenQuantize``), an f32 Softmax layer (the float Softmax's
enclosure), data movement alone in its layer.
Any other node that ran inside a fused layer (an f32 MatMul of two activations, a bf16 Softmax, a u8
Subgraph holding residual Adds, the MLP's whole-model f32 Subgraph) is judged as an enclosure of every
binary32 evaluation order the layer may use (``openvino.FusedFloat``; a QuantizeLinear / DequantizeLinear
there with ``path`` 'fused'), with bfloat16 rounding where the runtime graph says the layer reads or
writes bfloat16.  Only an op refquant has no float implementation of stays **not modelled**: the report
says so per node (class ``not modelled``, with the layer), and refquant carries on from OpenVINO's tensor
where it is observable.
Reproduces: openvino 2026.4.1 Python API (Core.read_model of an ONNX file, compile_model "CPU"
INFERENCE_NUM_THREADS 1, Model.add_outputs, CompiledModel.get_runtime_model rt_info layerType /
runtimePrecision / originalLayersNames).
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError
from ..peers.versions import need
from . import ops_openvino  # noqa: F401  (registers the openvino.* nodes)
from .graph import Graph, Node, load
from .targets import Target

BACKEND = "openvino_cpu"
CONFIG = {"INFERENCE_NUM_THREADS": 1}
SKIP = ("Input", "Output", "Const", "Reorder")
INT8 = ("u8", "i8")
MOVEMENT = ("Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "MaxPool", "Identity")
LINEAR = ("Conv", "MatMul", "Gemm")
TYPES = {"bf16": "bf16", "f32": "f32", "u8": "u8", "i8": "i8"}


@dataclass
class Layer:
    type: str
    precision: str
    nodes: list                  # ONNX node names it holds, in graph order
    out: str = ""                # its output element types (e.g. "bf16"), comma-separated


@dataclass
class OVTarget(Target):
    not_modelled: dict = field(default_factory=dict)    # node name -> why
    layers: list = field(default_factory=list)


def _ov():
    return need("openvino", "openvino")


def _names(graph):
    """ONNX node name or output tensor name -> node name."""
    out = {}
    for n in graph.nodes:
        out[n.name] = n.name
        for o in n.outputs:
            if o:
                out[o] = n.name
    return out


def _onnx_name(names, ov_name):
    """The ONNX node an OpenVINO op name comes from: the name itself, or its longest '/'-prefix that names
    a node (the frontend names the ops it splits a node into '<node>/WithoutBiases', ...)."""
    x = ov_name
    while x:
        if x in names:
            return names[x]
        x = x.rpartition("/")[0]
    return None


def runtime_layers(compiled, graph):
    """The compiled model's layers (Input / Output / Const / Reorder left out), each with its ONNX nodes."""
    names, order = _names(graph), {n.name: i for i, n in enumerate(graph.nodes)}
    layers = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        kind = rt["layerType"].astype(str)
        if kind in SKIP:
            continue
        held = {_onnx_name(names, x) for x in rt["originalLayersNames"].astype(str).split(",")} - {None}
        outs = ",".join(TYPES.get(o.get_element_type().get_type_name(), o.get_element_type().get_type_name())
                        for o in op.outputs())
        layers.append(Layer(kind, rt["runtimePrecision"].astype(str), sorted(held, key=order.get), outs))
    return layers


def _signature(layers):
    return [(la.type, la.precision, tuple(la.nodes)) for la in layers]


def _ports(model):
    return {nm: o for op in model.get_ordered_ops() for o in op.outputs() for nm in o.get_names()}


def _infer(compiled, feeds):
    res = compiled({p.get_any_name(): feeds[p.get_any_name()] for p in compiled.inputs})
    out = {}
    for port, arr in res.items():
        for nm in port.get_names():
            out[nm] = np.asarray(arr)
    return out


def _compile_with(core, model_path, extra):
    try:
        m = core.read_model(str(model_path))
        ports = _ports(m)
        if extra:
            m.add_outputs([ports[t] for t in extra])
        return core.compile_model(m, "CPU", CONFIG)
    except RuntimeError as exc:     # the ONNX frontend or the plugin refuses the model: say what it said
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip().startswith(("--", "Check", "Model"))]
        raise InvalidValueError(f"--against openvino: OpenVINO {version()} cannot compile {str(model_path)!r}: "
                                f"{' '.join(lines[:4]) or str(exc)[:300]}") from None


def _boundaries(graph, layers, present):
    """Tensors written by the last ONNX node of a layer (read by no other node of that layer)."""
    prod = graph.producer()
    out = []
    for la in layers:
        held = set(la.nodes)
        for n in graph.nodes:
            if n.name not in held:
                continue
            for o in n.outputs:
                readers = {r.name for r in graph.consumers().get(o, [])}
                if o and o in present and o not in graph.outputs and not readers & held and o in prod:
                    out.append(o)
    return list(dict.fromkeys(out))


def observe(model_path, graph, feeds, progress=None):
    """(layers, {tensor: array} observable without changing the compiled graph, not observable, notes)."""
    ov = _ov()
    core = ov.Core()
    base = _compile_with(core, model_path, [])
    layers = runtime_layers(base, graph)
    sig, final = _signature(layers), _infer(base, feeds)
    present = set(_ports(core.read_model(str(model_path))))
    cands = _boundaries(graph, layers, present)
    keep = _try(core, model_path, graph, cands, sig, final, feeds)
    if keep is None:
        keep = []
        for i, t in enumerate(cands):
            if progress:
                progress(f"openvino: observing {i + 1}/{len(cands)} {t}")
            if _try(core, model_path, graph, keep + [t], sig, final, feeds) is not None:
                keep.append(t)
    got = _infer(_compile_with(core, model_path, keep), feeds) if keep else {}
    tensors = {t: got[t] for t in keep}
    tensors.update({k: v for k, v in final.items() if k in graph.outputs})
    hint = base.get_property("INFERENCE_PRECISION_HINT")
    hint = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    notes = [f"OpenVINO {version()} CPU plugin, INFERENCE_NUM_THREADS 1, inference precision hint {hint}; "
             f"{len(layers)} runtime layers",
             f"observable: {len(tensors)} tensors ({len(keep)} layer boundaries added as outputs without changing "
             f"the compiled graph, and the model outputs); {len(cands) - len(keep)} boundaries rejected"]
    return layers, tensors, notes


def _try(core, model_path, graph, extra, sig, final, feeds):
    """``extra`` when adding them as outputs leaves the runtime graph and the outputs unchanged, else None."""
    if not extra:
        return []
    c = _compile_with(core, model_path, extra)
    if _signature(runtime_layers(c, graph)) != sig:
        return None
    got = _infer(c, feeds)
    if any(k in got and not np.array_equal(got[k], v, equal_nan=True) for k, v in final.items()):
        return None
    return extra


# ##########################################################################
# The graph refquant runs: the ONNX nodes as OpenVINO ran them
# ##########################################################################

def _where(layers):
    return {n: la for la in layers for n in la.nodes}


def _dq(graph, prod, name):
    n = prod.get(name)
    return n if n is not None and n.key == "DequantizeLinear" else None


def _int8_group(graph, layer, by, prod, cons):
    """(Int8Linear node, absorbed node names, the activation DQ) for an int8 layer holding one Conv / MatMul /
    Gemm and its QuantizeLinear, or None."""
    lin = [by[n] for n in layer.nodes if by[n].key in LINEAR]
    qs = [by[n] for n in layer.nodes if by[n].key == "QuantizeLinear"]
    if layer.type not in ("Convolution", "FullyConnected") or layer.precision not in INT8 or len(lin) != 1 \
            or len(qs) != 1 or len(layer.nodes) != 2:
        return None
    node, q = lin[0], qs[0]
    if q.inputs[0] != node.outputs[0] or len(cons.get(node.outputs[0], [])) != 1:
        return None
    a, w = _dq(graph, prod, node.inputs[0]), _dq(graph, prod, node.inputs[1])
    bias = _dq(graph, prod, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if a is None or w is None or w.inputs[0] not in graph.initializers or (len(node.inputs) > 2 and node.inputs[2]
                                                                          and bias is None):
        return None
    if node.key == "Gemm" and (node.attr("transA", 0) or node.attr("alpha", 1.0) != 1 or node.attr("beta", 1.0) != 1):
        return None
    tri = lambda d: [d.inputs[0], d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else ""]
    ins = tri(a) + tri(w) + (tri(bias)[:2] if bias else ["", ""]) + [q.inputs[1], q.inputs[2]]
    attrs = {k: v for k, v in node.attrs.items() if k in ("strides", "pads", "dilations", "group", "auto_pad",
                                                              "transB")}
    attrs["kind"] = node.key
    absorbed = [node.name, q.name, a.name, w.name] + ([bias.name] if bias else [])
    return Node(node.name, "Int8Linear", "openvino", ins, list(q.outputs), attrs), absorbed, a.name


def _conv_add_group(graph, layer, by, prod, cons):
    """(Int8ConvAdd node, absorbed node names) for an int8 Convolution layer holding exactly a Conv, its
    QuantizeLinear, an Add reading that (through its DequantizeLinear) and a residual DequantizeLinear,
    and the Add's QuantizeLinear; or None."""
    held = [by[n] for n in layer.nodes]
    if layer.type != "Convolution" or layer.precision not in INT8 or sorted(n.key for n in held) != \
            ["Add", "Conv", "QuantizeLinear", "QuantizeLinear"]:
        return None
    conv = next(n for n in held if n.key == "Conv")
    add = next(n for n in held if n.key == "Add")
    one = lambda t: cons.get(t, [None])[0] if len(cons.get(t, [])) == 1 else None
    qc = one(conv.outputs[0])
    dqc = one(qc.outputs[0]) if qc is not None else None
    qa = one(add.outputs[0])
    if qc is None or qc.name not in layer.nodes or dqc is None or dqc.key != "DequantizeLinear" or \
            dqc.outputs[0] not in add.inputs or qa is None or qa.name not in layer.nodes or len(conv.inputs) < 3:
        return None
    dqr = _dq(graph, prod, next(i for i in add.inputs if i != dqc.outputs[0]))
    a, w, bias = (_dq(graph, prod, conv.inputs[k]) for k in range(3))
    if None in (dqr, a, w, bias) or w.inputs[0] not in graph.initializers:
        return None
    tri = lambda d: [d.inputs[0], d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else ""]
    ins = tri(a) + tri(w) + tri(bias)[:2] + tri(dqr) + [qa.inputs[1], qa.inputs[2]]
    attrs = {k: v for k, v in conv.attrs.items() if k in ("strides", "pads", "dilations", "group", "auto_pad")}
    absorbed = [conv.name, qc.name, dqc.name, add.name, qa.name, w.name, bias.name]
    absorbed += [d.name for d in (a, dqr) if len(cons.get(d.outputs[0], [])) == 1]
    return Node(add.name, "Int8ConvAdd", "openvino", ins, list(qa.outputs), attrs), absorbed, ""


def _dq_add_q_group(graph, layer, by, prod, cons):
    """(DequantizeAddQuantize node, absorbed names) for a u8 / i8 Subgraph whose first Add adds a
    dequantized activation and a dequantized constant and whose QuantizeLinear of that Add is in the layer
    too (the layer may hold more: a residual Add after it stays not modelled); or None."""
    held = [by[n] for n in layer.nodes]
    adds = [n for n in held if n.key == "Add"]
    if layer.type != "Subgraph" or layer.precision not in INT8 or not adds:
        return None
    add = adds[0]
    q = next((n for n in held if n.key == "QuantizeLinear" and n.inputs[0] == add.outputs[0]), None)
    dqs = [_dq(graph, prod, i) for i in add.inputs]
    if q is None or len(cons.get(add.outputs[0], [])) != 1 or None in dqs:
        return None
    const = [d for d in dqs if d.inputs[0] in graph.initializers]
    act = [d for d in dqs if d.inputs[0] not in graph.initializers]
    if len(const) != 1 or len(act) != 1:
        return None
    tri = lambda d: [d.inputs[0], d.inputs[1], d.inputs[2] if len(d.inputs) > 2 else ""]
    ins = tri(act[0]) + tri(const[0]) + [q.inputs[1], q.inputs[2] if len(q.inputs) > 2 else ""]
    absorbed = [add.name, q.name, const[0].name] + ([act[0].name] if len(cons.get(act[0].outputs[0], [])) == 1 else [])
    # a Subgraph holding more than the Add and its QuantizeLinear (the transformer's residual Add after them):
    # LPT may fold the scales there differently; the node is an enclosure ("fused"), measured apart below
    attrs = {"path": "fused"} if len(held) > 2 else {}
    return Node(add.name, "DequantizeAddQuantize", "openvino", ins, list(q.outputs), attrs), absorbed, ""


MEANS = {"Pooling": ("AveragePool",), "Reduce": ("GlobalAveragePool", "ReduceMean")}


def _mean_q_group(graph, layer, by, prod, cons, where=None):
    """(MeanQuantize node, absorbed names) for a u8 / i8 Pooling / Reduce layer holding exactly an
    AveragePool (Pooling) or a GlobalAveragePool / ReduceMean (Reduce) of a per-tensor DequantizeLinear
    and the mean's QuantizeLinear (per tensor); with ``where``, a layer holding the mean alone whose
    QuantizeLinear is alone in an f32 / bf16 Subgraph (op MeanThenQuantize); or None."""
    held = [by[n] for n in layer.nodes]
    if where is not None and layer.type in MEANS and layer.precision in INT8 and len(held) == 1:
        readers = cons.get(held[0].outputs[0], [])
        ql = where.get(readers[0].name) if len(readers) == 1 else None
        pair = [readers[0].name] + [r.name for r in cons.get(readers[0].outputs[0], []) if r.key == "DequantizeLinear"][:1]
        if ql is None or ql.type != "Subgraph" or ql.precision not in ("f32", "bf16") or \
                ql.nodes not in ([readers[0].name], pair):
            return None
        hit = _mean_q_group(graph, Layer(layer.type, layer.precision, [held[0].name, readers[0].name]), by, prod, cons)
        if hit:
            hit[0].op_type, hit[0].attrs["precision"] = "MeanThenQuantize", ql.precision
        return hit
    if layer.type not in MEANS or layer.precision not in INT8 or len(held) != 2:
        return None
    mean = next((n for n in held if n.key in MEANS[layer.type]), None)
    q = next((n for n in held if n.key == "QuantizeLinear"), None)
    if mean is None or q is None or q.inputs[0] != mean.outputs[0] or len(cons.get(mean.outputs[0], [])) != 1:
        return None
    dq = _dq(graph, prod, mean.inputs[0])
    if dq is None or len(dq.inputs) < 3 or len(q.inputs) < 3 or not all(
            t in graph.initializers and np.asarray(graph.initializers[t]).size == 1
            for t in (dq.inputs[1], dq.inputs[2], q.inputs[1], q.inputs[2])):
        return None
    attrs = {"kind": mean.key, "layer": layer.type}
    if mean.key == "AveragePool":
        if mean.attr("ceil_mode", 0) or mean.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or \
                any(d != 1 for d in (mean.attr("dilations") or [])):
            return None
        attrs.update({k: v for k, v in mean.attrs.items() if k in ("kernel_shape", "strides", "pads", "auto_pad",
                                                                     "count_include_pad")})
    elif mean.key == "ReduceMean":
        axes = mean.attr("axes")
        if axes is None and len(mean.inputs) > 1 and mean.inputs[1] in graph.initializers:
            axes = [int(a) for a in np.asarray(graph.initializers[mean.inputs[1]]).reshape(-1)]
        if not axes:
            return None
        attrs.update(axes=list(axes), keepdims=mean.attr("keepdims", 1))
    ins = [dq.inputs[0], dq.inputs[1], dq.inputs[2], q.inputs[1], q.inputs[2]]
    absorbed = [mean.name, q.name] + ([dq.name] if len(cons.get(dq.outputs[0], [])) == 1 else [])
    return Node(mean.name, "MeanQuantize", "openvino", ins, list(q.outputs), attrs), absorbed, ""


BF16_WHY = ("; bf16 (the inference precision hint on an AVX-512 bf16 machine): a Reorder rounds the layer's "
            "binary32 input to bfloat16 first, and which of its constants and steps run in bfloat16 was not "
            "measured (no such layer's output is observable in the test models)")


def _why(layer):
    return f"runs inside OpenVINO layer {layer.type} ({layer.precision}) with {', '.join(layer.nodes)}" + (
        BF16_WHY if layer.precision == "bf16" else "")


def ov_graph(graph, layers):
    """(the graph refquant runs for OpenVINO, {node: why not modelled})."""
    where, prod, cons = _where(layers), graph.producer(), graph.consumers()
    by = {n.name: n for n in graph.nodes}
    fused, absorbed, not_modelled = {}, set(), {}
    for la in layers:
        hit = _int8_group(graph, la, by, prod, cons) or _conv_add_group(graph, la, by, prod, cons) \
            or _dq_add_q_group(graph, la, by, prod, cons) or _mean_q_group(graph, la, by, prod, cons, where)
        if hit:
            fused[hit[0].name] = hit[0]
            absorbed.update(n for n in hit[1] if n != hit[2] or len(cons.get(by[n].outputs[0], [])) == 1)
    out = []
    for n in graph.nodes:
        if n.name in fused:
            out.append(fused[n.name])
            continue
        if n.name in absorbed:
            continue
        new, why = _rewrite(graph, n, where, prod, cons)
        out.append(new)
        if why:
            not_modelled[new.name] = why
    g = Graph(_drop_dead(out, graph), graph.initializers, graph.inputs, graph.outputs, graph.opset,
              f"{graph.source} (as OpenVINO compiled it)")
    return g, {k: v for k, v in not_modelled.items() if any(n.name == k for n in g.nodes)}


def _drop_dead(nodes, graph):
    """Nodes whose outputs nobody reads any more (a QuantizeLinear folded into a FakeQuantize)."""
    need = set(graph.outputs)
    keep = []
    for n in reversed(nodes):
        if any(o in need for o in n.outputs):
            keep.append(n)
            need.update(i for i in n.inputs if i)
    return keep[::-1]


def _rewrite(graph, n, where, prod, cons):
    """(node, '' or why it is not modelled) for a node outside the int8 groups."""
    la = where.get(n.name)
    if n.key == "QuantizeLinear":
        path = "fq_node" if la is not None and la.type == "FakeQuantize" else "snippets"
        node = Node(n.name, "QuantizeLinear", "openvino", n.inputs, n.outputs, dict(n.attrs, path=path))
        pair = [n.name] + [r.name for r in cons.get(n.outputs[0], []) if r.key == "DequantizeLinear"][:1]
        ok = la is not None and la.type in ("Subgraph", "FakeQuantize") and (
            (la.nodes == [n.name] and la.precision in ("f32",) + INT8) or la.nodes == pair)
        return (node, "") if ok or la is None else _fused(n, la, cons)
    if n.key == "DequantizeLinear":
        q = prod.get(n.inputs[0])
        if la is not None and la.type == "Subgraph" and q is not None and q.key == "QuantizeLinear" \
                and q.inputs[1:3] == n.inputs[1:3] and la.nodes == [n.name] and la.precision == "f32" \
                and q.name not in where:
            return Node(n.name, "FakeQuantize", "openvino", [q.inputs[0]] + n.inputs[1:3], n.outputs,
                        dict(n.attrs)), ""
        node = Node(n.name, "DequantizeLinear", "openvino", n.inputs, n.outputs, dict(n.attrs))
        src = where.get(q.name) if q is not None else None
        if la is None and src is not None and "bf16" in src.out.split(","):
            return _fused(n, Layer(src.type, "", src.nodes, src.out), cons)     # LPT folded it into a bf16 writer
        ok = la is None or (la.type == "Subgraph" and (
            (la.nodes == [n.name] and la.precision in INT8) or (q is not None and la.nodes == [q.name, n.name])))
        return (node, "") if ok else _fused(n, la, cons)
    if la is None or (n.key in MOVEMENT and la.nodes == [n.name]):
        return n, ""
    if n.key == "Softmax" and la.type == "Softmax" and la.precision == "f32" and la.nodes == [n.name]:
        return n, ""        # binary32 Softmax: the float op's enclosure (its exp is not pinned down)
    return _fused(n, la, cons)


def _fused(n, la, cons):
    """(node, '' or why not modelled) for a node inside a fused layer whose per-element arithmetic the
    runtime graph does not pin down: its enclosure of every binary32 evaluation order (with every
    bfloat16 rounding where the layer reads or writes bfloat16); model/ops_openvino.py ``FusedFloat``,
    ``_fq_fused``."""
    flags = {"ov_bf16_in": la.precision == "bf16", "ov_bf16_out": "bf16" in la.out.split(","),
             "ov_layer": f"{la.type} {la.precision}",
             # a product read by a later op of the same layer may be contracted into it (FMA) or moved (LPT)
             "ov_contract": any(r.name in la.nodes for o in n.outputs for r in cons.get(o, []))}
    if n.key in ("QuantizeLinear", "DequantizeLinear"):
        return Node(n.name, n.key, "openvino", n.inputs, n.outputs, dict(n.attrs, path="fused", **flags)), ""
    from .registry import OPS, _load
    _load()
    if n.key not in OPS or n.domain not in ("", "ai.onnx"):
        return n, _why(la)
    return Node(n.name, "FusedFloat", "openvino", n.inputs, n.outputs, dict(n.attrs, ov_op=n.op_type, **flags)), ""


def build(spec, model_path, feeds, progress=None):
    """The ``Target`` for ``--against openvino``."""
    graph = load(model_path)
    if getattr(graph, "format", "onnx") != "onnx":
        raise InvalidValueError(f"--against {spec!r}: OpenVINO reads ONNX models here; {str(model_path)!r} is not one")
    layers, tensors, notes = observe(model_path, graph, feeds, progress)
    g, not_modelled = ov_graph(graph, layers)
    held = [f"{la.type} {la.precision} [{', '.join(la.nodes)}]" for la in layers if la.nodes]
    notes.append(f"runtime layers holding ONNX nodes ({len(held)} of {len(layers)}): " + "; ".join(held[:60])
                 + (" ..." if len(held) > 60 else ""))
    notes.append(f"graph: the ONNX model as OpenVINO compiled it ({len(g.nodes)} nodes; "
                 f"{sum(n.domain == 'openvino' and n.op_type.startswith('Int8') for n in g.nodes)} int8 "
                 f"Convolution / FullyConnected layers modelled; "
                 f"{sum(n.op_type == 'FusedFloat' or n.attr('path') == 'fused' for n in g.nodes)} nodes inside fused "
                 f"layers as enclosures of every binary32 order); {len(not_modelled)} nodes not modelled")
    return OVTarget(spec, BACKEND, g, tensors, version(), notes, not_modelled, layers)


def version():
    """The installed openvino distribution's version (e.g. 2026.4.1)."""
    from importlib.metadata import version as dist_version
    return dist_version("openvino")
