"""Ops whose arithmetic differs per backend and lives in a spec module's ``VARIANTS`` table
(``backends.VARIANT_MODULES``): the runner asks ``backends.variant(backend, op)`` for the function and
adapts the node's inputs to it.  ``ADAPTERS`` maps an ONNX op key to (variant op name, adapter).
An op whose spec module has not landed, or whose backend row names no variant, is unsupported
(a clear error naming the node).
"""

from .registry import OPS

ADAPTERS = {}


def _register():
    for key, (op_name, adapter) in ADAPTERS.items():
        OPS.setdefault(key, _bind(op_name, adapter))


def _bind(op_name, adapter):
    def run(ctx, node, ins):
        return adapter(ctx.variant(op_name), node, ins)
    run.__doc__ = f"the backend's variant of {op_name!r} (backends.variant)"
    return run


_register()
