"""refquant.model: whole ONNX models (and TFLite full-integer models: model/tflite.py) under a
backend's semantics, compared node by node (``refquant model run|compare|explain``; docs/model.md).

``load`` reads a model, ``run`` executes it (every tensor kept, with the enclosure of what the
backend may hold), ``compare.compare`` judges an implementation's run, ``report`` writes it.
Ops plug in through ``registry.OPS`` (op type -> implementation that reads the backend table).
"""

from .graph import Graph, Node, from_proto, load
from .registry import OPS, UnsupportedOpError, supported
from .runner import Result, run, run_node, seeded_inputs
from .targets import read_dumps, read_inputs, write_dumps
from .value import V

__all__ = [
    "OPS",
    "Graph",
    "Node",
    "Result",
    "UnsupportedOpError",
    "V",
    "explain",
    "from_proto",
    "load",
    "read_dumps",
    "read_inputs",
    "run",
    "run_node",
    "seeded_inputs",
    "supported",
    "write_dumps",
]


def explain(model_path, graph, feeds, node_name, index, against=None, backend="onnxruntime"):
    """The trace of one output element of ``node_name`` (on ``against``'s inputs for it, if given)."""
    from ..errors import UnknownNameError
    from . import targets
    from .diagnose import explain_node
    if against:
        t = targets.build(against, model_path, feeds, backend)
        graph, tensors, backend = t.graph, t.tensors, t.backend
    else:
        tensors = {k: v.v for k, v in run(graph, feeds, backend).values.items()}
    node = next((n for n in graph.nodes if n.name == node_name), None)
    if node is None:
        raise UnknownNameError("node", node_name, [n.name for n in graph.nodes])
    ins = {n: tensors[n] for n in node.inputs if n and n in tensors and n not in graph.initializers}
    missing = [n for n in node.inputs if n and n not in ins and n not in graph.initializers]
    if missing:             # inputs the implementation does not expose: refquant's own values for them
        own = run(graph, feeds, backend).values
        ins.update({n: own[n].v for n in missing})
    actual = tensors.get(node.outputs[0]) if against else None
    return explain_node(graph, node, ins, backend, index, actual)
