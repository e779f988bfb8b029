"""Golden ops of the 'ops' suite: one backend variant of a quantized element-wise op or activation.

A test names its op and variant in params (``op``, ``variant``: a name of ``backends.op_variants``,
e.g. add / tflite_ref), the quantization (scales as binary32 bit patterns in hex, zero points,
``dtype``) and any attributes (``attrs``, passed as keywords: alpha, ...).  The expected output is
that variant's function applied to the input tensors:

* ``qbinary``: inputs ``a`` and ``b`` (same shape), fn(a, sa, za, b, sb, zb, sy, zy, dtype=..., **attrs);
* ``qunary``: input ``x``, fn(x, sx, zx, sy, zy, dtype=..., **attrs) (activations; the ONNX pools, whose
  attrs carry kernel_shape, strides, pads, ...);
* ``qtensor``: input ``x``, fn(x, **attrs): ops whose quantization is all in their attributes (max_pool,
  TFLite AVERAGE_POOL_2D / MAX_POOL_2D, TOSA AVG_POOL2D / MAX_POOL2D); the output type is ``dtype``.

An element that depends on a libm choice (``certified.ImplementationDefined``) has no single expected
value: such a test is not generated (InvalidValueError, listed in the manifest header).
"""

from .. import backends, nested
from ..certified import ImplementationDefined
from ..errors import InvalidValueError, SpecError, UnknownNameError
from .tensors import short_dtype

OPS = ("qbinary", "qunary", "qtensor")
# The golden op of each spec op the suite covers (the argument convention it is called with).
FAMILY = {"add": "qbinary", "sub": "qbinary", "mul": "qbinary",
          "sigmoid": "qunary", "tanh": "qunary", "sigmoid_int16": "qunary", "tanh_int16": "qunary",
          "leaky_relu": "qunary", "hard_swish": "qunary", "relu": "qunary",
          "avg_pool": "qunary", "global_avg_pool": "qunary",
          "max_pool": "qtensor", "average_pool_2d": "qtensor", "max_pool_2d": "qtensor",
          "tosa_avg_pool2d": "qtensor", "tosa_max_pool2d": "qtensor"}


def variant_function(op, variant):
    """The function of ``variant`` of spec op ``op`` (UnknownNameError naming the choices)."""
    found = backends.op_variants(op)
    if variant not in found:
        raise UnknownNameError(f"variant of op {op!r}", variant, sorted(found))
    return found[variant]


def variant_source(op, variant):
    """The first line of the variant function's docstring and its '# Reproduces:' line (the profile source)."""
    import inspect
    fn = variant_function(op, variant)
    doc = (inspect.getdoc(fn) or fn.__name__).splitlines()[0]
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        src = ""
    cite = [ln.strip()[2:].strip() for ln in src.splitlines() if ln.strip().startswith("# Reproduces:")]
    return f"{op} {variant}: {doc}" + (f" ({cite[0]})" if cite else "")


def _q(params, inputs, names):
    from .compute import _scale_param    # compute imports this module
    p = params
    if FAMILY.get(p.get("op")) is None:
        raise UnknownNameError("golden ops-suite op", p.get("op"), sorted(FAMILY))
    fn = variant_function(p["op"], p["variant"])
    scales = {k: _scale_param(p[k]) for k in names if k.startswith("s")}
    zps = {k: p[k] for k in names if k.startswith("z")}
    return fn, [scales.get(k, zps.get(k)) for k in names], dict(p.get("attrs", {}))


def _result(y, dtype):
    flat, shape = nested.flatten(y), list(nested.shape(y))
    odd = [i for i, v in enumerate(flat) if isinstance(v, ImplementationDefined)]
    if odd:
        raise InvalidValueError(f"element {odd[0]} is implementation-defined ({flat[odd[0]].why}): "
                                f"candidates {list(flat[odd[0]].candidates)}; not a golden vector")
    from .compute import Tensor
    return {"y": Tensor(short_dtype(dtype), shape, flat)}, None, set()


def compute_qbinary(params, inputs):
    """(outputs, derived, flags) of one qbinary test: the variant on inputs a and b."""
    fn, (sa, za, sb, zb, sy, zy), attrs = _q(params, inputs, ("sa", "za", "sb", "zb", "sy", "zy"))
    a, b = inputs["a"], inputs["b"]
    if a.shape != b.shape:
        raise InvalidValueError(f"qbinary inputs a {a.shape} and b {b.shape} must have one shape")
    an, bn = (nested.unflatten(list(t.values), tuple(t.shape)) for t in (a, b))
    y = fn(an, sa, za, bn, sb, zb, sy, zy, dtype=params["dtype"], **attrs)
    return _result(y, params["dtype"])


def compute_qunary(params, inputs):
    """(outputs, derived, flags) of one qunary test: the variant on input x."""
    fn, (sx, zx, sy, zy), attrs = _q(params, inputs, ("sx", "zx", "sy", "zy"))
    x = inputs["x"]
    y = fn(nested.unflatten(list(x.values), tuple(x.shape)), sx, zx, sy, zy, dtype=params["dtype"], **attrs)
    return _result(y, params["dtype"])


def compute_qtensor(params, inputs):
    """(outputs, derived, flags) of one qtensor test: the variant on input x, every argument in attrs."""
    fn, _, attrs = _q(params, inputs, ())
    x = inputs["x"]
    return _result(fn(nested.unflatten(list(x.values), tuple(x.shape)), **attrs), params["dtype"])


COMPUTE = {"qbinary": compute_qbinary, "qunary": compute_qunary, "qtensor": compute_qtensor}
ERROR_OUTCOMES = {"qbinary": (SpecError,), "qunary": (SpecError,), "qtensor": (SpecError,)}
