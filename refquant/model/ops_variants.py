"""Ops whose arithmetic differs per backend and lives in a spec module's ``VARIANTS`` table
(``backends.VARIANT_MODULES``: refquant/onnx_ops.py, qops.py, activations.py, ...): the runner asks
``backends.variant(backend, op)`` for the function and adapts the node's inputs to it (the
functions take the ``qops`` signature: x, x_scale, x_zero_point, ..., y_scale, y_zero_point).
A backend row that names no variant for the op makes the node unsupported under that backend
(an UnknownNameError naming the op and the row).

Enclosures: add, mul (for positive scales), average pools and concat are non-decreasing in each
input, so an implementation-defined input gives the ends of the output from the ends of the input;
softmax and sigmoid-like lookups are not assumed monotone: an implementation-defined input makes
every value of the output type a candidate.
"""

import numpy as np

from .registry import op
from .value import V


def _variant(ctx, name):
    """The numpy form of the row's variant (refquant/fast/qops.py, proven equal to it in
    tests/test_fast_qops.py) where one exists, else the spec module's function itself."""
    try:
        from ..fast.qops import fast_variant
    except ImportError:
        return ctx.variant(name)
    return fast_variant(ctx.backend, name) or ctx.variant(name)


def _s(v):
    return float(np.asarray(v.v, np.float32).reshape(-1)[0])


def _z(v):
    return int(np.asarray(v.v).reshape(-1)[0]) if v is not None else 0


def _dtype(zp):
    return np.asarray(zp.v).dtype.name if zp is not None else "uint8"


def _result(fn, ins, dtype, monotone=True):
    """fn(list of input arrays) on the values, and on the ends of the enclosures where inexact."""
    y = np.asarray(fn([x.v for x in ins]), dtype=dtype)
    if all(x.exact for x in ins):
        return V(y)
    if monotone:
        lo = np.asarray(fn([x.bounds()[0].astype(dtype) for x in ins]), np.int64)
        hi = np.asarray(fn([x.bounds()[1].astype(dtype) for x in ins]), np.int64)
        return V(y, lo, hi)
    info = np.iinfo(dtype)
    return V(y, np.full(y.shape, info.min, np.int64), np.full(y.shape, info.max, np.int64))


def _binary(name):
    def run(ctx, node, ins):
        a, sa, za, b, sb, zb, sy, zy = (ins + [None] * 8)[:8]
        fn = _variant(ctx, name)
        dt = _dtype(zy)
        return [_result(lambda t: fn(t[0], _s(sa), _z(za), t[1], _s(sb), _z(zb), _s(sy), _z(zy), dtype=dt),
                        [a, b], dt)]
    run.__doc__ = f"com.microsoft QLinear{name.capitalize()}: the backend's {name!r} variant (backends.variant)"
    return run


op("com.microsoft.QLinearAdd")(_binary("add"))
op("com.microsoft.QLinearMul")(_binary("mul"))


def _nchw(node, x):
    """(x as NCHW, back-conversion) for the contrib ops' channels_last attribute."""
    if not node.attr("channels_last", 0):
        return x, lambda v: v
    return x.map(lambda t: np.moveaxis(t, -1, 1)), lambda v: v.map(lambda t: np.moveaxis(t, 1, -1))


@op("com.microsoft.QLinearAveragePool")
def qlinear_average_pool(ctx, node, ins):
    """com.microsoft QLinearAveragePool: the backend's 'avg_pool' variant."""
    x, sx, zx, sy, zy = (ins + [None] * 5)[:5]
    x, back = _nchw(node, x)
    fn, dt = _variant(ctx, "avg_pool"), _dtype(zy)
    k = node.attr("kernel_shape")
    kw = {"kernel_shape": k, "strides": node.attr("strides"), "pads": node.attr("pads"),
              "ceil_mode": node.attr("ceil_mode", 0), "count_include_pad": node.attr("count_include_pad", 0), "dtype": dt}
    return [back(_result(lambda t: fn(t[0], _s(sx), _z(zx), _s(sy), _z(zy), **kw), [x], dt))]


@op("com.microsoft.QLinearGlobalAveragePool")
def qlinear_global_average_pool(ctx, node, ins):
    """com.microsoft QLinearGlobalAveragePool: the backend's 'global_avg_pool' variant."""
    x, sx, zx, sy, zy = (ins + [None] * 5)[:5]
    x, back = _nchw(node, x)
    fn, dt = _variant(ctx, "global_avg_pool"), _dtype(zy)
    return [back(_result(lambda t: fn(t[0], _s(sx), _z(zx), _s(sy), _z(zy), dtype=dt), [x], dt))]


@op("com.microsoft.QLinearConcat")
def qlinear_concat(ctx, node, ins):
    """com.microsoft QLinearConcat (Y_scale, Y_zero_point, then (X, scale, zero point) triples)."""
    sy, zy, rest = ins[0], ins[1], ins[2:]
    fn, dt = _variant(ctx, "concat"), _dtype(zy)
    triples = [rest[i:i + 3] for i in range(0, len(rest), 3)]
    xs = [t[0] for t in triples]
    return [_result(lambda arrs: fn([(a, _s(t[1]), _z(t[2])) for a, t in zip(arrs, triples)], _s(sy), _z(zy),
                                    axis=node.attr("axis"), dtype=dt), xs, dt)]


def _unary(name, monotone, **fixed):
    def run(ctx, node, ins):
        x, sx, zx, sy, zy = (ins + [None] * 5)[:5]
        fn, dt = _variant(ctx, name), _dtype(zy)
        kw = {k: node.attr(a, d) for k, (a, d) in fixed.items()}
        return [_result(lambda t: fn(t[0], _s(sx), _z(zx), _s(sy), _z(zy), dtype=dt, **kw), [x], dt, monotone)]
    run.__doc__ = f"com.microsoft QLinear op: the backend's {name!r} variant (backends.variant)"
    return run


op("com.microsoft.QLinearSigmoid")(_unary("sigmoid", True))
op("com.microsoft.QLinearLeakyRelu")(_unary("leaky_relu", True, alpha=("alpha", 0.01)))
op("com.microsoft.QLinearSoftmax")(_unary("softmax", False, axis=("axis", -1)))
