"""numpy forms of the quantized element-wise and pooling ops (refquant/qops.py ideal 'exact',
refquant/onnx_ops.py 'ort' and 'onnx_ref'), for large tensors (the model runner).

How each stays equal to its definition:

* 'exact': the real result divided by the output scale is formed in float64 (error below 1e-15
  relative); every element within 1e-9 (relative) of a half-integer is recomputed exactly by the
  definition, the rest round the same either way.
* 'ort' / 'onnx_ref': every binary32 step is a numpy float32 operation (correctly rounded), a
  fused multiply-add is float64 product + TwoSum + round-to-odd, then one rounding to float32
  (exact since 53 >= 24 + 2), and numpy's own float32 pairwise sum is the reference's sum.
* unary ops and concat: a table of the definition over every input value.

tests/test_fast_qops.py proves each form equal to its definition on random and tie cases.
"""

from fractions import Fraction
from math import prod

import numpy as np

from .. import backends, movement, onnx_ops, qops
from .. import requant as rq
from ..errors import InvalidValueError, ShapeError
from ..integers import get_type
from ..rounding import half_even

F32 = np.float32
INT32_MIN = -(2**31)


def _ints(x, t, name):
    a = np.asarray(x)
    if a.dtype.kind not in "iu" or (a.size and (a.min() < t.min or a.max() > t.max)):
        qops.qtensor(np.asarray(x).tolist(), t, name)     # the definition's message
        raise InvalidValueError(f"{name} must hold {t.name} integers")
    return a.astype(np.int64)


def _f(s):
    return float(s)   # an exact binary32 / binary64 value as a Python float


def _params(t, pairs, scale_format):
    """Checked (scale Fraction, zero point) pairs."""
    return [(qops.scale(s, f"{n}_scale", scale_format), qops.zero_point(z, t, f"{n}_zero_point")) for n, s, z in pairs]


# ##########################################################################
# Exact rounding with an exact fallback near ties
# ##########################################################################

def _round_exact(v, exact, zy, t):
    """sat(RNE(v) + zy) where v approximates the exact quotient; ``exact(index)`` gives the exact
    Fraction for the elements too close to a half-integer to decide in float64."""
    v = np.asarray(v, np.float64)
    near = np.abs(v - np.floor(v) - 0.5) <= 1e-9 * np.maximum(1.0, np.abs(v))
    r = np.floor(np.clip(v, t.min - zy - 2, t.max - zy + 2) + 0.5)
    for i in zip(*np.nonzero(near)):
        r[i] = half_even(exact(i))
    return np.clip(r + zy, t.min, t.max).astype(np.int64)


def _binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                 scale_format):
    """The checked arguments of a binary op: types, integer arrays and the three (scale, zero point)."""
    t, ty = qops.types(dtype, y_dtype)
    a, b = _ints(a, t, "a"), _ints(b, t, "b")
    (sa, za), (sb, zb) = _params(t, [("a", a_scale, a_zero_point), ("b", b_scale, b_zero_point)], scale_format)
    sy, zy = qops.scale(y_scale, "y_scale", scale_format), qops.zero_point(y_zero_point, ty, "y_zero_point")
    return t, ty, a, b, (sa, za), (sb, zb), (sy, zy)


def _binary_exact(real):
    def fn(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
           y_dtype=None, scale_format="fp32"):
        t, ty, a, b, (sa, za), (sb, zb), (sy, zy) = _binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                                   y_scale, y_zero_point, dtype, y_dtype, scale_format)
        a, b = np.broadcast_arrays(a - za, b - zb)
        v = real(_f(sa) * a, _f(sb) * b) / _f(sy)
        return _round_exact(v, lambda i: real(sa * int(a[i]), sb * int(b[i])) / sy, zy, ty)
    fn.__doc__ = f"numpy form of the exact qops op ({real.__name__})."
    return fn


def _add(x, y):
    return x + y


def _sub(x, y):
    return x - y


def _mul(x, y):
    return x * y


def _window_index(spatial, geometry, include_pad):
    """(output spatial shape, index matrix W x K into a plane with one trailing slot for 'none',
    counts per window) for the windows' cells in row-major order."""
    out_spatial, cells = qops.pool_cells(spatial, *geometry)
    plane = prod(spatial)
    rows = [[plane if c is None else c for c in w if include_pad or c is not None] for w in cells]
    k = max(len(r) for r in rows)
    idx = np.full((len(rows), k), plane + 1, np.int64)     # plane: a padded 0.0; plane + 1: absent
    for i, r in enumerate(rows):
        idx[i, :len(r)] = r
    return out_spatial, idx, np.array([len(r) for r in rows], np.int64)


def _planes(x, t):
    x = _ints(x, t, "x")
    if x.ndim < 3:
        raise ShapeError(f"pooling input has shape {list(x.shape)}; expected N, C and at least one spatial axis")
    return x, x.reshape(-1, prod(x.shape[2:]))


def avg_pool_exact(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                   dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """numpy form of qops.avg_pool: exact integer window sums, float64 quotient, exact near ties."""
    t = get_type(dtype)
    x, planes = _planes(x, t)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    out_spatial, idx, _ = _window_index(x.shape[2:], (kernel_shape, strides, pads, dilations, ceil_mode), True)
    padded = np.concatenate([planes - zx, np.zeros((len(planes), 2), np.int64)], 1)
    valid = idx < planes.shape[1]
    sums = padded[:, idx].sum(-1)
    counts = ((idx <= planes.shape[1]) if count_include_pad else valid).sum(-1)
    if (valid.sum(-1) == 0).any():
        raise ShapeError("a pooling window lies wholly in the padding")
    v = _f(sx) * sums / (counts * _f(sy))
    q = _round_exact(v, lambda i: sx * Fraction(int(sums[i]), int(counts[i[-1]])) / sy, zy, t)
    return q.reshape(x.shape[:2] + out_spatial)


def global_avg_pool_exact(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """numpy form of qops.global_avg_pool."""
    t = get_type(dtype)
    x, planes = _planes(x, t)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    n = planes.shape[1]
    sums = (planes - zx).sum(-1)
    q = _round_exact(_f(sx) * sums / (n * _f(sy)), lambda i: sx * Fraction(int(sums[i]), n) / sy, zy, t)
    return q.reshape(x.shape[:2] + (1,) * (x.ndim - 2))


def max_pool_exact(x, *, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0, dtype="uint8"):
    """numpy form of qops.max_pool: the largest valid cell of each window."""
    t = get_type(dtype)
    x, planes = _planes(x, t)
    out_spatial, idx, counts = _window_index(x.shape[2:], (kernel_shape, strides, pads, dilations, ceil_mode), False)
    if (counts == 0).any():
        raise ShapeError("a pooling window lies wholly in the padding")
    padded = np.concatenate([planes, np.full((len(planes), 2), np.iinfo(np.int64).min)], 1)
    return padded[:, idx].max(-1).reshape(x.shape[:2] + out_spatial)


def _mean_groups(x, t, axes):
    x = _ints(x, t, "x")
    r = x.ndim
    red = tuple(range(r)) if not axes else tuple(sorted({movement.norm_axis(a, r, "axis") for a in axes}))
    if 0 in x.shape:
        raise ShapeError(f"mean of an empty tensor (shape {list(x.shape)})")
    kept = tuple(i for i in range(r) if i not in red)
    g = np.transpose(x, kept + red).reshape(tuple(x.shape[i] for i in kept) + (-1,))
    return x, red, g


def _keep(v, x, red, keepdims):
    if keepdims:
        return v.reshape(tuple(1 if i in red else d for i, d in enumerate(x.shape)))
    return v.reshape(tuple(d for i, d in enumerate(x.shape) if i not in red))


def mean_exact(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="uint8",
               scale_format="fp32"):
    """numpy form of qops.mean: exact integer sums, float64 quotient, exact near ties."""
    t = get_type(dtype)
    x, red, g = _mean_groups(x, t, axes)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    n = g.shape[-1]
    sums = np.atleast_1d((g - zx).sum(-1))
    q = _round_exact(_f(sx) * sums / (n * _f(sy)), lambda i: sx * Fraction(int(sums[i]), n) / sy, zy, t)
    return _keep(q, x, red, keepdims)


def ref_mean(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="uint8",
             scale_format="fp32"):
    """numpy form of onnx_ops.ref_mean: np.mean in float32 over the axes, as the evaluator runs it."""
    t = get_type(dtype)
    x, red, _ = _mean_groups(x, t, axes)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    xf = np.ascontiguousarray((x.astype(np.int64) - zx).astype(F32) * F32(_f(sx)))
    m = np.atleast_1d(np.mean(xf, axis=red, dtype=F32))
    return _keep(ref_quantize(m, sy, zy, t), x, red, keepdims)


# ##########################################################################
# onnxruntime (binary32 steps, FMA)
# ##########################################################################

def fma32(x, y, z):
    """fl32(x*y + z) for float64 arrays with x*y exact in float64 (one rounding)."""
    p = np.asarray(x, np.float64) * np.asarray(y, np.float64)
    z = np.asarray(z, np.float64)
    s = p + z
    bp = s - z
    err = (z - (s - bp)) + (p - bp)       # TwoSum: s + err = p + z exactly
    odd = (s.view(np.int64) & 1) == 1
    toward = np.nextafter(s, np.where(err > 0, np.inf, -np.inf))
    s = np.where((err != 0) & ~odd, toward, s)   # round to odd, then one RNE to binary32
    return s.astype(F32)


def cvtps2dq(v):
    v = np.asarray(v, np.float64)
    ok = np.isfinite(v) & (np.abs(v) < 2.0**31)
    return np.where(ok, np.rint(np.where(ok, v, 0)), INT32_MIN).astype(np.int64)


def _pack(n, t):
    return np.clip(np.clip(n, -32768, 32767), t.min, t.max)


def ort_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """numpy form of onnx_ops.ort_add (fma32 for each FMA, the same A/B exchange)."""
    t = onnx_ops.ort_type(dtype, y_dtype)
    a, b = _ints(a, t, "a"), _ints(b, t, "b")
    (sa, za), (sb, zb), (sy, zy) = _params(t, [("a", a_scale, a_zero_point), ("b", b_scale, b_zero_point),
                                               ("y", y_scale, y_zero_point)], scale_format)
    ra, rb = rq.fdiv("fp32", sa, sy), rq.fdiv("fp32", sb, sy)
    if onnx_ops.ort_broadcast_swaps(a.shape, b.shape):
        a, b, ra, rb, za, zb = b, a, rb, ra, zb, za
    fixed = rq.fadd("fp32", zy, -rq.ffma("fp32", ra, za, rq.fmul("fp32", rb, zb)))
    a, b = np.broadcast_arrays(a, b)
    v = fma32(a, _f(ra), fma32(b, _f(rb), _f(fixed)))
    return _pack(cvtps2dq(v), t)


def ort_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """numpy form of onnx_ops.ort_mul."""
    t = onnx_ops.ort_type(dtype, y_dtype)
    a, b = _ints(a, t, "a"), _ints(b, t, "b")
    (sa, za), (sb, zb), (sy, zy) = _params(t, [("a", a_scale, a_zero_point), ("b", b_scale, b_zero_point),
                                               ("y", y_scale, y_zero_point)], scale_format)
    m = rq.fdiv("fp32", rq.fmul("fp32", sa, sb), sy)
    if rq.is_special(m):
        return np.asarray(onnx_ops.ort_mul(a, sa, za, b, sb, zb, sy, zy, dtype=dtype))
    p = ((a - za) * (b - zb)).astype(np.float64)
    v = (p * _f(m)).astype(F32) + F32(zy)
    return _pack(cvtps2dq(v), t)


def ort_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """numpy form of onnx_ops.ort_global_avg_pool."""
    t = onnx_ops.ort_type(dtype, None)
    x, planes = _planes(x, t)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    n = planes.shape[1]
    scale = rq.fdiv("fp32", sx, rq.fmul("fp32", sy, n))
    if n >= 2**24 or rq.is_special(scale) or not Fraction(1, 2**32) <= scale < 256:
        return np.asarray(onnx_ops.ort_global_avg_pool(x, sx, zx, sy, zy, dtype=dtype))   # its error
    v = (planes.sum(-1) - zx * n).astype(F32) * F32(_f(scale))
    v = np.clip(v, F32(t.min - zy), F32(t.max - zy))
    return (cvtps2dq(v) + zy).reshape(x.shape[:2] + (1,) * (x.ndim - 2))


def ort_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                 dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """numpy form of onnx_ops.ort_avg_pool (float32 sums in window order)."""
    t = onnx_ops.ort_type(dtype, None)
    x, planes = _planes(x, t)
    if tuple(kernel_shape) == tuple(x.shape[2:]) and not any(pads or ()) and not any(d != 1 for d in dilations or ()):
        return ort_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype=dtype,
                                   scale_format=scale_format)
    if dilations is not None and any(d != 1 for d in dilations) or len(kernel_shape) != x.ndim - 2:
        return np.asarray(onnx_ops.ort_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype=dtype,
                                                kernel_shape=kernel_shape, dilations=dilations))
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    out_spatial, idx, counts = _window_index(x.shape[2:], (kernel_shape, strides, pads, None, ceil_mode), False)
    xf = np.concatenate([(planes - zx).astype(F32) * F32(_f(sx)), np.zeros((len(planes), 2), F32)], 1)
    s = np.zeros((len(planes), len(idx)), F32)
    for k in range(idx.shape[1]):
        s = s + xf[:, idx[:, k]]
    n = F32(prod(kernel_shape)) if count_include_pad else counts.astype(F32)
    v = (s / n) / F32(_f(sy)) + F32(zy)
    return np.clip(cvtps2dq(v), t.min, t.max).reshape(x.shape[:2] + out_spatial)


# ##########################################################################
# The onnx reference on the QDQ form (numpy float32, as the evaluator itself computes)
# ##########################################################################

def ref_quantize(v, sy, zy, t):
    """onnx reference QuantizeLinear on a float32 array: v / sy, rint, int32 (x86: INT32_MIN when
    invalid), + zy wrapping in int32, clip."""
    q = np.rint(np.asarray(v, F32) / F32(_f(sy))).astype(np.float64)
    n = np.where(np.isfinite(q) & (np.abs(q) < 2.0**31), q, INT32_MIN).astype(np.int64) + zy
    n = (n + 2**31) % 2**32 - 2**31
    return np.clip(n, t.min, t.max)


def _binary_ref(op):
    def fn(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
           y_dtype=None, scale_format="fp32"):
        t, ty, a, b, (sa, za), (sb, zb), (sy, zy) = _binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                                   y_scale, y_zero_point, dtype, y_dtype, scale_format)
        da, db = (a - za).astype(F32) * F32(_f(sa)), (b - zb).astype(F32) * F32(_f(sb))
        return ref_quantize(op(da, db), sy, zy, ty)
    fn.__doc__ = f"numpy form of the onnx_ref QDQ op ({op.__name__}), float32 numpy as the evaluator."
    return fn


def ref_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                 dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """numpy form of onnx_ops.ref_avg_pool: windows grouped by length, np.sum (pairwise) per row."""
    t = get_type(dtype)
    x, planes = _planes(x, t)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    out_spatial, idx, counts = _window_index(x.shape[2:], (kernel_shape, strides, pads, dilations, ceil_mode),
                                             bool(count_include_pad))
    xf = np.concatenate([(planes - zx).astype(F32) * F32(_f(sx)), np.zeros((len(planes), 2), F32)], 1)
    mean = np.zeros((len(planes), len(idx)), F32)
    for n in np.unique(counts):
        sel = np.nonzero(counts == n)[0]
        vals = np.ascontiguousarray(xf[:, idx[sel][:, :n]])          # planes x windows x n
        mean[:, sel] = np.sum(vals, axis=-1, dtype=F32) / F32(n)
    return ref_quantize(mean, sy, zy, t).reshape(x.shape[:2] + out_spatial)


def ref_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """numpy form of onnx_ops.ref_global_avg_pool."""
    t = get_type(dtype)
    x, planes = _planes(x, t)
    (sx, zx), (sy, zy) = _params(t, [("x", x_scale, x_zero_point), ("y", y_scale, y_zero_point)], scale_format)
    xf = np.ascontiguousarray((planes - zx).astype(F32) * F32(_f(sx)))
    mean = np.sum(xf, axis=-1, dtype=F32) / F32(planes.shape[1])
    return ref_quantize(mean, sy, zy, t).reshape(x.shape[:2] + (1,) * (x.ndim - 2))


# ##########################################################################
# Tables: unary ops and concat, from the definition over every input value
# ##########################################################################

def _unary_table(definition):
    def fn(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None, scale_format="fp32",
           **attrs):
        t = get_type(dtype)
        x = _ints(x, t, "x")
        values = list(range(t.min, t.max + 1))
        table = np.array(definition(values, x_scale, x_zero_point, y_scale, y_zero_point, dtype=dtype,
                                    y_dtype=y_dtype, scale_format=scale_format, **attrs), np.int64)
        return table[x - t.min]
    fn.__doc__ = f"numpy table of {definition.__module__}.{definition.__name__} over every input value."
    return fn


def _concat_table(definition):
    def fn(inputs, y_scale, y_zero_point, *, axis, dtype="uint8", scale_format="fp32"):
        t = get_type(dtype)
        values = list(range(t.min, t.max + 1))
        parts = []
        for i, (x, s, z) in enumerate(inputs):
            table = np.array(definition([(values, s, z)], y_scale, y_zero_point, axis=0, dtype=dtype,
                                        scale_format=scale_format), np.int64)
            parts.append(table[_ints(x, t, f"inputs[{i}]") - t.min])
        return np.concatenate(parts, axis)
    fn.__doc__ = f"numpy table form of {definition.__module__}.{definition.__name__}."
    return fn


FAST = {
    ("add", "exact"): _binary_exact(_add), ("sub", "exact"): _binary_exact(_sub),
    ("mul", "exact"): _binary_exact(_mul),
    ("add", "ort"): ort_add, ("mul", "ort"): ort_mul,
    ("add", "onnx_ref"): _binary_ref(np.add), ("sub", "onnx_ref"): _binary_ref(np.subtract),
    ("mul", "onnx_ref"): _binary_ref(np.multiply),
    ("avg_pool", "exact"): avg_pool_exact, ("avg_pool", "ort"): ort_avg_pool, ("avg_pool", "onnx_ref"): ref_avg_pool,
    ("global_avg_pool", "exact"): global_avg_pool_exact, ("global_avg_pool", "ort"): ort_global_avg_pool,
    ("global_avg_pool", "onnx_ref"): ref_global_avg_pool,
    ("max_pool", "exact"): max_pool_exact, ("mean", "exact"): mean_exact, ("mean", "onnx_ref"): ref_mean,
}
for _op in ("requantize", "relu", "clamp", "leaky_relu"):
    for _name, _fn in backends.op_variants(_op).items():
        if _fn.__module__ in ("refquant.qops", "refquant.onnx_ops"):
            FAST[(_op, _name)] = _unary_table(_fn)
for _name, _fn in backends.op_variants("concat").items():
    if _fn.__module__ in ("refquant.qops", "refquant.onnx_ops"):
        FAST[("concat", _name)] = _concat_table(_fn)


def fast_variant(backend, op):
    """The numpy form of ``backends.variant(backend, op)``, or None where there is none."""
    return FAST.get((op, backends.get_backend(backend).method(op)))
