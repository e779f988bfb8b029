"""ONNX op type -> the function that computes it under a backend's semantics.

An implementation is ``fn(ctx, node, ins) -> [V, ...]``: ``ins`` are the node's inputs as
``value.V`` (None for an absent optional input), the result one ``V`` per output.  Where a backend
differs, the implementation asks the backend table, never the backend's name:
``ctx.method(op)`` (a ``requant.METHODS`` row), ``ctx.profile(per_axis)`` (a ``profiles`` row) or
``ctx.variant(op)`` (a spec module's VARIANTS function, ``backends.variant``).
Keys are the op type for the ONNX domain, ``"com.microsoft.<op>"`` for the contrib domain and
``"tflite.<OP>"`` for the builtin operators of a .tflite model (model/ops_tflite.py).
"""

from dataclasses import dataclass, field

from .. import backends
from ..errors import InvalidValueError

OPS = {}


def op(*keys):
    """Register the decorated function for each op key."""
    def deco(fn):
        for k in keys:
            OPS[k] = fn
        return fn
    return deco


class UnsupportedOpError(InvalidValueError):
    """A node whose op refquant does not implement (the CLI: exit 2, naming node and op)."""


@dataclass
class Context:
    backend: str
    notes: list = field(default_factory=list)    # (node name, text): semantics chosen per node

    @property
    def row(self):
        return backends.get_backend(self.backend)

    def method(self, op_name):
        return self.row.method(op_name)

    def has(self, op_name):
        return op_name in self.row.ops

    def profile(self, per_axis=False):
        return self.row.profile(per_axis)

    def variant(self, op_name):
        return backends.variant(self.backend, op_name)


def implementation(node):
    """The registered function for ``node`` (UnsupportedOpError naming the node and its op)."""
    _load()
    fn = OPS.get(node.key)
    if fn is None:
        raise UnsupportedOpError(f"node {node.name!r}: op {node.key!r} is not supported by the model runner; "
                                 f"supported: {', '.join(sorted(OPS))}")
    return fn


def supported():
    _load()
    return sorted(OPS)


def _load():
    from . import ops_float, ops_quant, ops_tflite, ops_variants  # noqa: F401  (registration by import)
