"""Fast numpy forms of spec ops, each proven equal to its definition by tests (tooling, not spec).

``refquant.fast.qops.FAST[(op, variant)]`` has the signature of the spec function
``backends.op_variants(op)[variant]`` (refquant/qops.py, refquant/onnx_ops.py) and returns a numpy
array with the same values.  tests/test_fast_qops.py checks each against its definition on random
and tie cases.  ``fast_variant(backend, op)`` is the fast form of what ``backends.variant`` names,
or None where there is none (then call the definition).
"""

from .qops import FAST, fast_variant

__all__ = ["FAST", "fast_variant"]
