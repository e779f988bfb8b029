"""An ONNX model as refquant runs it: nodes in execution order, initializers, attributes.

Reads the ONNX protobuf with the ``onnx`` package (tooling: the spec layer never imports it).
Reproduces: ONNX IR (onnx.proto3, onnx 1.21.0): a graph is a topologically sorted list of nodes;
initializers are constant inputs; attributes are typed (INT, INTS, FLOAT, FLOATS, STRING, TENSOR).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatFileError, InvalidValueError, RefquantError, ShapeError

MS = "com.microsoft"


@dataclass
class Node:
    name: str
    op_type: str
    domain: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)

    @property
    def key(self):
        """The registry key: op type, prefixed by the domain for non-ONNX domains."""
        return self.op_type if self.domain in ("", "ai.onnx") else f"{self.domain}.{self.op_type}"

    def attr(self, name, default=None):
        return self.attrs.get(name, default)


@dataclass
class Graph:
    nodes: list
    initializers: dict          # name -> numpy array
    inputs: list                # [(name, dtype, shape)] of the graph inputs that are not initializers
    outputs: list               # graph output names
    opset: int = 0
    source: str = ""
    format: str = "onnx"        # "tflite": read by model/tflite.py (NHWC tensors, nodes of domain "tflite")
    tensor_index: dict = None   # tflite: tensor name -> index in subgraph 0 (how LiteRT names it)

    def producer(self):
        """tensor name -> the node that writes it."""
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self):
        """tensor name -> the nodes that read it."""
        out = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    out.setdefault(i, []).append(n)
        return out


def _attr_value(onnx, a):
    from onnx import numpy_helper
    t = a.type
    A = onnx.AttributeProto
    if t == A.INT:
        return int(a.i)
    if t == A.FLOAT:
        return float(a.f)
    if t == A.INTS:
        return [int(v) for v in a.ints]
    if t == A.FLOATS:
        return [float(v) for v in a.floats]
    if t == A.STRING:
        return a.s.decode("utf-8", "replace")
    if t == A.STRINGS:
        return [s.decode("utf-8", "replace") for s in a.strings]
    if t == A.TENSOR:
        return numpy_helper.to_array(a.t)
    return None


def _elem_dtype(onnx, elem_type):
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        return None


def from_proto(model, source="<model>"):
    """A ``Graph`` from an onnx ModelProto (nodes sorted so that every input is written first)."""
    import onnx
    from onnx import numpy_helper
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = []
    for vi in g.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
        inputs.append((vi.name, _elem_dtype(onnx, tt.elem_type), shape))
    nodes = []
    for i, n in enumerate(g.node):
        attrs = {a.name: _attr_value(onnx, a) for a in n.attribute}
        nodes.append(Node(n.name or f"{n.op_type}_{i}", n.op_type, n.domain, list(n.input), list(n.output), attrs))
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    for n in nodes:
        if n.op_type in ("Softmax", "AveragePool") and n.domain in ("", "ai.onnx"):
            n.attrs.setdefault("__opset__", opset)     # Softmax's axis changed at 13; ORT's AveragePool kernel at 19
    graph = Graph(_toposort(nodes, set(inits) | {n for n, _, _ in inputs}), inits, inputs,
                  [o.name for o in g.output], opset, source)
    _unique_names(graph)
    written = set(inits) | {n for n, _, _ in inputs} | {o for n in nodes for o in n.outputs}
    missing = [o for o in graph.outputs if o not in written]
    if missing:
        raise FormatFileError(f"model {source!r}: graph outputs {missing[:5]} are written by no node, input or initializer")
    return graph


def _unique_names(graph):
    seen = {}
    for n in graph.nodes:
        if n.name in seen:
            seen[n.name] += 1
            n.name = f"{n.name}_{seen[n.name]}"
        else:
            seen[n.name] = 0


def _toposort(nodes, available):
    have, order, pending = set(available) | {""}, [], list(nodes)
    while pending:
        ready = [n for n in pending if all(i in have for i in n.inputs)]
        if not ready:
            n = pending[0]
            missing = [i for i in n.inputs if i not in have]
            raise ShapeError(f"node {n.name!r} ({n.op_type}) reads {missing}, which no node, input or initializer "
                             f"writes (a cycle or a missing tensor)")
        for n in ready:
            order.append(n)
            have.update(n.outputs)
        pending = [n for n in pending if n not in ready]
    return order


def load(path):
    """Read an ONNX model file (or a TFLite one: model/tflite.py) into a ``Graph`` (FormatFileError
    when it is neither)."""
    import onnx
    p = Path(path)
    if not p.is_file():
        raise FormatFileError(f"model {str(p)!r}: not a regular file")
    from . import tflite
    if p.suffix.lower() == ".tflite" or tflite.is_tflite(p):
        return tflite.load(p)
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends: an unreadable file is a bad input
        raise FormatFileError(f"model {str(p)!r}: not an ONNX model ({type(exc).__name__}: {exc})") from None
    if not model.graph.node:
        raise FormatFileError(f"model {str(p)!r}: the graph has no nodes")
    try:
        return from_proto(model, str(p))
    except RefquantError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise FormatFileError(f"model {str(p)!r}: malformed ({type(exc).__name__}: {str(exc)[:300]})") from None


def check_inputs(graph, feeds):
    """Every graph input present with its dtype and known dimensions (InvalidValueError / ShapeError)."""
    for name, dtype, shape in graph.inputs:
        if name not in feeds:
            raise InvalidValueError(f"model input {name!r} is missing; the model needs {[n for n, _, _ in graph.inputs]}")
        a = feeds[name]
        if dtype is not None and a.dtype != dtype:
            raise InvalidValueError(f"model input {name!r} has dtype {a.dtype}; expected {dtype}")
        if len(a.shape) != len(shape) or any(d is not None and d != s for d, s in zip(shape, a.shape)):
            raise ShapeError(f"model input {name!r} has shape {a.shape}; expected {shape}")
