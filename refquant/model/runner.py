"""Run an ONNX model under one backend's semantics, node by node, keeping every tensor."""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError, RefquantError
from .graph import check_inputs
from .registry import Context, implementation
from .value import V

MAX_SEEDED = 1 << 26          # elements of one seeded input


@dataclass
class Result:
    backend: str
    values: dict                         # tensor name -> V
    order: list                          # node names in execution order
    notes: list = field(default_factory=list)


def seeded_inputs(graph, seed=1):
    """Deterministic inputs for every graph input: float32 N(0, 1), integers uniform over the type."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, dtype, shape in graph.inputs:
        if any(d is None for d in shape):
            raise InvalidValueError(f"model input {name!r} has a symbolic dimension {shape}; give --inputs")
        dtype = dtype or np.dtype(np.float32)
        if any(d < 0 for d in shape) or int(np.prod(shape, dtype=object)) > MAX_SEEDED:
            raise InvalidValueError(f"model input {name!r} has shape {shape}: more than {MAX_SEEDED} elements "
                                    f"(give --inputs)")
        if dtype.kind == "f":
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            info = np.iinfo(dtype)
            feeds[name] = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        elif dtype.kind == "b":
            feeds[name] = rng.integers(0, 1, size=shape, endpoint=True).astype(bool)
        else:
            raise InvalidValueError(f"model input {name!r} has element type {dtype}; seeded inputs are numbers "
                                    f"(give --inputs)")
    return feeds


def run(graph, feeds, backend="onnxruntime", progress=None, override=None):
    """Every tensor of ``graph`` under ``backend``.  ``override``: {tensor: array} replaces a
    computed tensor (used to run one node on another implementation's inputs)."""
    check_inputs(graph, feeds)
    ctx = Context(backend)
    values = {n: V(np.asarray(a)) for n, a in graph.initializers.items()}
    values.update({n: V(np.asarray(a)) for n, a in feeds.items()})
    order = []
    for i, node in enumerate(graph.nodes):
        fn = implementation(node)
        ins = [values[n] if n else None for n in node.inputs]
        try:
            outs = fn(ctx, node, ins)
        except RefquantError as exc:
            if node.name not in str(exc):
                exc.args = (f"node {node.name!r} ({node.key}): {exc}",) + exc.args[1:]
            raise
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError, MemoryError) as exc:
            # a malformed model (attributes of the wrong type, shapes that do not fit): a bad input
            raise InvalidValueError(f"node {node.name!r} ({node.key}): cannot be computed on these inputs and "
                                    f"attributes ({type(exc).__name__}: {str(exc)[:300]})") from None
        for name, v in zip(node.outputs, outs):
            if name:
                values[name] = V(np.asarray(override[name])) if override and name in override else v
        order.append(node.name)
        if progress:
            progress(i + 1, len(graph.nodes), node)
    return Result(backend, values, order, ctx.notes)


def run_node(graph, node, inputs, backend="onnxruntime"):
    """One node on given input arrays (exact) or ``V`` enclosures: its outputs as ``V``."""
    ctx = Context(backend)
    wrap = lambda a: a if isinstance(a, V) else V(np.asarray(a))        # a V: an enclosure, kept
    ins = [None if n == "" else (wrap(inputs[n]) if n in inputs else V(np.asarray(graph.initializers[n])))
           for n in node.inputs]
    return implementation(node)(ctx, node, ins)
