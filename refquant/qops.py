"""Quantized element-wise, pooling and reduction ops: the specification ideal.

Every op here dequantizes exactly, computes the real result exactly (``Fraction``), and
quantizes once: ``y = sat(RNE(real / y_scale) + y_zero_point)``.  That is what the ONNX spec's
"DequantizeLinear -> float op -> QuantizeLinear" means with no intermediate rounding, and what
com.microsoft QLinearAdd / QLinearMul / QLinearAveragePool / QLinearGlobalAveragePool /
QLinearConcat describe (onnxruntime docs/ContribOperators.md).  Backends differ from it in the
last bit; their arithmetic lives in their own variant modules (``onnx_ops`` for onnxruntime and
the onnx ReferenceEvaluator, ...), which import the geometry helpers from here.

    y = add(a, 0.5, 128, b, 0.25, 128, 0.5, 128, dtype="uint8")   # broadcasting, like numpy
    y = avg_pool(x, 0.1, 0, 0.1, 0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)

Tensors are nested lists of ints (numpy arrays are read as such); scales are positive finite
values of ``scale_format`` (fp32 by default: a Python float must be exactly an fp32 value);
float attributes (``alpha``, clamp bounds) are ONNX float32 attributes, i.e. fl32 of the given
number.  Stdlib only (docs/architecture.md).
"""

from fractions import Fraction
from itertools import product
from math import prod

from . import movement as mv
from . import requant as rq
from .errors import InvalidValueError, ShapeError
from .integers import get_type
from .rounding import ceil as _ceil, floor as _floor, half_even


# ##########################################################################
# Checked operands
# ##########################################################################

def qtensor(x, t, name):
    """(flat ints, shape) of a quantized tensor whose elements are values of type t."""
    # Reproduces: ONNX QLinear* inputs: tensors of the zero point's integer type
    flat, shape = mv.tensor(x, name)
    for i, v in enumerate(flat):
        if isinstance(v, bool) or not isinstance(v, int) or not t.min <= v <= t.max:
            raise InvalidValueError(f"{name} element {i} = {v!r} is not a {t.name} value [{t.min}, {t.max}]")
    return flat, shape


def zero_point(zp, t, name):
    """A per-tensor zero point, checked to be a value of type t."""
    # Reproduces: onnxruntime ContribOperators.md QLinear* (per-tensor zero points of type T)
    zp = mv.plain(zp)
    if isinstance(zp, (list, tuple)) and len(zp) == 1:
        zp = zp[0]
    if isinstance(zp, bool) or not isinstance(zp, int) or not t.min <= zp <= t.max:
        raise InvalidValueError(f"{name} = {zp!r} must be one {t.name} value [{t.min}, {t.max}]")
    return zp


def scale(s, name, scale_format="fp32"):
    """A per-tensor scale as an exact positive Fraction (a value of ``scale_format``)."""
    # Reproduces: onnxruntime ContribOperators.md QLinear* (per-tensor float32 scales)
    s = mv.plain(s)
    if isinstance(s, (list, tuple)) and len(s) == 1:
        s = s[0]
    try:
        return rq.scale_value(s, scale_format, name)
    except InvalidValueError as e:
        raise InvalidValueError(f"{name}: {e}") from None


def attr_f32(v, name):
    """An ONNX float attribute: the binary32 value nearest the given number (exact Fraction)."""
    # Reproduces: ONNX IR AttributeProto.f (float attributes are binary32)
    if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)) or v != v or v in (rq.INF, -rq.INF):
        raise InvalidValueError(f"{name} = {v!r} must be a finite number")
    return rq.fl32(Fraction(v))


def types(dtype, y_dtype=None):
    """(input IntType, output IntType): the output type defaults to the input type."""
    # Reproduces: onnxruntime ContribOperators.md QLinearAdd/QLinearMul (one type T in and out)
    return get_type(dtype), get_type(y_dtype or dtype)


def quantize_real(v, y_scale, y_zp, t):
    """The one rounding of the ideal: sat(RNE(v / y_scale) + y_zp) for an exact real v."""
    # Reproduces: ONNX Operators.md QuantizeLinear (opset 21): saturate(round(x / y_scale) + y_zero_point)
    return min(max(half_even(Fraction(v) / y_scale) + y_zp, t.min), t.max)


# ##########################################################################
# Broadcasting (ONNX multidirectional = numpy)
# ##########################################################################

def broadcast_shape(sa, sb):
    """The numpy broadcast of two shapes (ShapeError when they do not broadcast)."""
    # Reproduces: ONNX docs/Broadcasting.md (multidirectional broadcasting)
    r = max(len(sa), len(sb))
    a, b = (1,) * (r - len(sa)) + tuple(sa), (1,) * (r - len(sb)) + tuple(sb)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"shapes {list(sa)} and {list(sb)} do not broadcast")
        out.append(y if x == 1 else x)
    return tuple(out)


def broadcast_index(shape, out_shape):
    """For each output index (row-major), the flat index of the broadcast source in ``shape``."""
    # Reproduces: ONNX docs/Broadcasting.md (multidirectional broadcasting)
    r = len(out_shape)
    padded = (1,) * (r - len(shape)) + tuple(shape)
    st = mv.strides(padded)
    return [sum(i * s for i, s, d in zip(o, st, padded) if d != 1) for o in mv.indices(out_shape)]


def broadcast_pairs(a, b):
    """((a value, b value) per output element, output shape) of two flat tensors with shapes."""
    # Reproduces: ONNX docs/Broadcasting.md (multidirectional broadcasting)
    (fa, sa), (fb, sb) = a, b
    out = broadcast_shape(sa, sb)
    if sa == sb:
        return list(zip(fa, fb)), out
    return [(fa[i], fb[j]) for i, j in zip(broadcast_index(sa, out), broadcast_index(sb, out))], out


def _binary(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, dtype, y_dtype, scale_format, real):
    """Element-wise ideal: y = Q(real(sa*(a-za), sb*(b-zb)) / sy)."""
    t, ty = types(dtype, y_dtype)
    fa, fb = qtensor(a, t, "a"), qtensor(b, t, "b")
    sa, sb, sy = (scale(s, n, scale_format) for s, n in ((a_scale, "a_scale"), (b_scale, "b_scale"),
                                                           (y_scale, "y_scale")))
    za, zb, zy = zero_point(a_zp, t, "a_zero_point"), zero_point(b_zp, t, "b_zero_point"), \
        zero_point(y_zp, ty, "y_zero_point")
    pairs, shape = broadcast_pairs(fa, fb)
    return mv.nest([quantize_real(real(sa * (x - za), sb * (y - zb)), sy, zy, ty) for x, y in pairs], shape)


def add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
        y_dtype=None, scale_format="fp32"):
    """y = Q((sa(a-za) + sb(b-zb)) / sy), exact, one RNE rounding, saturated; numpy broadcasting."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QLinearAdd (the formula, exactly)
    return _binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                   scale_format, lambda x, y: x + y)


def sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
        y_dtype=None, scale_format="fp32"):
    """y = Q((sa(a-za) - sb(b-zb)) / sy), exact (the QDQ form of Sub with one rounding)."""
    # Reproduces: ONNX Operators.md Sub between DequantizeLinear and QuantizeLinear, exactly
    return _binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                   scale_format, lambda x, y: x - y)


def mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
        y_dtype=None, scale_format="fp32"):
    """y = Q(sa(a-za) * sb(b-zb) / sy), exact, one RNE rounding, saturated; numpy broadcasting."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QLinearMul (the formula, exactly)
    return _binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                   scale_format, lambda x, y: x * y)


# ##########################################################################
# Unary requantizing ops
# ##########################################################################

def _unary(x, x_scale, x_zp, y_scale, y_zp, dtype, y_dtype, scale_format, real):
    t, ty = types(dtype, y_dtype)
    flat, shape = qtensor(x, t, "x")
    sx, sy = scale(x_scale, "x_scale", scale_format), scale(y_scale, "y_scale", scale_format)
    zx, zy = zero_point(x_zp, t, "x_zero_point"), zero_point(y_zp, ty, "y_zero_point")
    return mv.nest([quantize_real(real(sx * (v - zx)), sy, zy, ty) for v in flat], shape)


def requantize(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None,
               scale_format="fp32"):
    """y = Q(sx(x-zx) / sy): DequantizeLinear then QuantizeLinear, exact."""
    # Reproduces: ONNX Operators.md DequantizeLinear -> QuantizeLinear (opset 21), exactly
    return _unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format, lambda v: v)


def leaky_relu(x, x_scale, x_zero_point, y_scale, y_zero_point, *, alpha=0.01, dtype="uint8", y_dtype=None,
               scale_format="fp32"):
    """y = Q(v if v >= 0 else alpha*v), v = sx(x-zx), alpha the fp32 attribute value, exact."""
    # Reproduces: ONNX Operators.md LeakyRelu (opset 16) between DequantizeLinear and QuantizeLinear, exactly
    a = attr_f32(alpha, "alpha")
    return _unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format,
                  lambda v: v if v >= 0 else a * v)


def relu(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None, scale_format="fp32"):
    """y = Q(max(v, 0)), v = sx(x-zx), exact."""
    # Reproduces: ONNX Operators.md Relu (opset 14) between DequantizeLinear and QuantizeLinear, exactly
    return _unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format,
                  lambda v: max(v, 0))


def clamp(x, x_scale, x_zero_point, y_scale, y_zero_point, *, min=None, max=None, dtype="uint8",  # noqa: A002
          y_dtype=None, scale_format="fp32"):
    """y = Q(clip(v, min, max)), v = sx(x-zx); min/max fp32 values (None: unbounded), exact."""
    # Reproduces: ONNX Operators.md Clip (opset 13) between DequantizeLinear and QuantizeLinear, exactly
    lo = None if min is None else attr_f32(min, "min")
    hi = None if max is None else attr_f32(max, "max")

    def clip(v):
        v = v if lo is None or v >= lo else lo
        return v if hi is None or v <= hi else hi
    return _unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format, clip)


# ##########################################################################
# Pooling geometry (shared by every backend's pooling variant)
# ##########################################################################

def pool_output_size(n, k, s, pad_begin, pad_end, d, ceil_mode):
    """Output length of one pooled axis: floor (or ceil) of (n + pads - ((k-1)d+1)) / s, plus one;
    with ceil_mode the last window must start inside the input or the begin padding."""
    # Reproduces: ONNX Operators.md AveragePool / MaxPool (opset 19-22), output shape with ceil_mode
    span = n + pad_begin + pad_end - ((k - 1) * d + 1)
    if span < 0:
        raise ShapeError(f"pool window {(k - 1) * d + 1} is larger than the padded axis {n + pad_begin + pad_end}")
    out = (_ceil(Fraction(span, s)) if ceil_mode else _floor(Fraction(span, s))) + 1
    if ceil_mode and (out - 1) * s >= n + pad_begin:
        out -= 1
    return out


def _pool_attrs(rank, kernel_shape, strides, pads, dilations):
    k = list(kernel_shape)
    s = [1] * rank if strides is None else list(strides)
    p = [0] * (2 * rank) if pads is None else list(pads)
    d = [1] * rank if dilations is None else list(dilations)
    if not len(k) == len(s) == len(d) == rank or len(p) != 2 * rank:
        raise ShapeError(f"pool attributes for {rank} spatial axes: kernel_shape {k}, strides {s}, pads {p}, "
                         f"dilations {d}")
    if any(v <= 0 for v in k + s + d) or any(v < 0 for v in p):
        raise InvalidValueError(f"pool kernel/strides/dilations must be positive and pads >= 0: {k} {s} {d} {p}")
    return k, s, p, d


def pool_windows(spatial, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0):
    """(output spatial shape, per output position (row-major): (flat offsets of the valid input
    positions, the count of window positions inside the padded extent))."""
    # Reproduces: ONNX Operators.md AveragePool (opset 19): windows, pads, count_include_pad extent
    rank = len(spatial)
    k, s, p, d = _pool_attrs(rank, kernel_shape, strides, pads, dilations)
    axes = []
    for a in range(rank):
        n, pb, pe = spatial[a], p[a], p[a + rank]
        out = pool_output_size(n, k[a], s[a], pb, pe, d[a], ceil_mode)
        rows = []
        for o in range(out):
            pos = [o * s[a] - pb + j * d[a] for j in range(k[a])]
            rows.append(([q for q in pos if 0 <= q < n], sum(-pb <= q < n + pe for q in pos)))
        axes.append(rows)
    st = mv.strides(spatial)
    windows = []
    for combo in product(*axes):
        offsets = [sum(i * t for i, t in zip(idx, st)) for idx in product(*(c[0] for c in combo))]
        windows.append((offsets, prod(c[1] for c in combo)))
    return tuple(len(r) for r in axes), windows


def pool_cells(spatial, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0):
    """(output spatial shape, per output position: its window positions inside the padded input in
    row-major order, each a flat input offset or None for a padded position)."""
    # Reproduces: ONNX Operators.md AveragePool (opset 19): the window over the padded input
    rank = len(spatial)
    k, s, p, d = _pool_attrs(rank, kernel_shape, strides, pads, dilations)
    axes = []
    for a in range(rank):
        n, pb, pe = spatial[a], p[a], p[a + rank]
        out = pool_output_size(n, k[a], s[a], pb, pe, d[a], ceil_mode)
        pos = [[o * s[a] - pb + j * d[a] for j in range(k[a])] for o in range(out)]
        axes.append([[q if 0 <= q < n else None for q in row if -pb <= q < n + pe] for row in pos])
    st = mv.strides(spatial)
    cells = [[None if None in idx else sum(i * t for i, t in zip(idx, st)) for idx in product(*combo)]
             for combo in product(*axes)]
    return tuple(len(r) for r in axes), cells


def _pool_planes(x, t, spatial_from=2):
    flat, shape = qtensor(x, t, "x")
    if len(shape) < spatial_from + 1:
        raise ShapeError(f"pooling input has shape {list(shape)}; expected N, C and at least one spatial axis")
    return flat, shape[:spatial_from], shape[spatial_from:]


def _pool(x, geometry, dtype, reduce):
    """Apply ``reduce(values, padded count)`` to every window of every (N, C) plane."""
    t = get_type(dtype)
    flat, lead, spatial = _pool_planes(x, t)
    out_spatial, windows = pool_windows(spatial, *geometry)
    if any(not offs for offs, _ in windows):
        raise ShapeError(f"a pooling window lies wholly in the padding (pads {geometry[2]}, kernel {geometry[0]})")
    plane, out = prod(spatial), []
    for base in range(0, prod(lead) * plane, plane):
        out += [reduce([flat[base + i] for i in offs], n) for offs, n in windows]
    return mv.nest(out, tuple(lead) + out_spatial)


def avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
             dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """y = Q(sx * sum(x - zx) / (count * sy)) per window; count = the valid positions, or with
    ``count_include_pad`` the positions inside the padded extent (never the ceil_mode overhang)."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QLinearAveragePool, exactly
    t = get_type(dtype)
    sx, sy = scale(x_scale, "x_scale", scale_format), scale(y_scale, "y_scale", scale_format)
    zx, zy = zero_point(x_zero_point, t, "x_zero_point"), zero_point(y_zero_point, t, "y_zero_point")

    def mean(vals, padded):
        n = padded if count_include_pad else len(vals)
        return quantize_real(sx * Fraction(sum(vals) - zx * len(vals), n), sy, zy, t)
    return _pool(x, (kernel_shape, strides, pads, dilations, ceil_mode), dtype, mean)


def max_pool(x, *, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0, dtype="uint8"):
    """The largest integer of each window (pads never win); same scale and zero point in and out."""
    # Reproduces: ONNX Operators.md MaxPool (opset 12+, int8/uint8 inputs)
    return _pool(x, (kernel_shape, strides, pads, dilations, ceil_mode), dtype, lambda vals, _: max(vals))


def _reduce_mean(flat, shape, axes, keepdims, real_of_sum):
    """Group flat values by the kept axes; real_of_sum(sum, count) per group."""
    r = len(shape)
    axes = set(range(r)) if axes is None or len(axes) == 0 else {mv.norm_axis(a, r, "axis") for a in axes}
    kept = [i for i in range(r) if i not in axes]
    groups = {}
    for idx, v in zip(mv.indices(shape), flat):
        key = tuple(idx[i] for i in kept)
        s, n = groups.get(key, (0, 0))
        groups[key] = (s + v, n + 1)
    out_shape = tuple(1 if i in axes else shape[i] for i in range(r)) if keepdims else tuple(shape[i] for i in kept)
    return mv.nest([real_of_sum(*groups[k]) for k in mv.indices(tuple(shape[i] for i in kept))], out_shape)


def mean(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="uint8",
         scale_format="fp32"):
    """ReduceMean: y = Q(sx * sum(x - zx) / (n * sy)) over ``axes`` (all axes when None or empty)."""
    # Reproduces: ONNX Operators.md ReduceMean (opset 18) between DequantizeLinear and QuantizeLinear, exactly
    t = get_type(dtype)
    flat, shape = qtensor(x, t, "x")
    sx, sy = scale(x_scale, "x_scale", scale_format), scale(y_scale, "y_scale", scale_format)
    zx, zy = zero_point(x_zero_point, t, "x_zero_point"), zero_point(y_zero_point, t, "y_zero_point")
    if 0 in shape:
        raise ShapeError(f"mean of an empty tensor (shape {list(shape)})")
    return _reduce_mean(flat, shape, axes, keepdims,
                        lambda s, n: quantize_real(sx * Fraction(s - zx * n, n), sy, zy, t))


def global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """y = Q(sx * sum(x - zx) / (n * sy)) over every spatial axis (N, C, spatial... -> N, C, 1...)."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QLinearGlobalAveragePool, exactly
    flat, lead, spatial = _pool_planes(x, get_type(dtype))
    return mean(x, x_scale, x_zero_point, y_scale, y_zero_point, axes=list(range(2, 2 + len(spatial))),
                keepdims=1, dtype=dtype, scale_format=scale_format)


def concat(inputs, y_scale, y_zero_point, *, axis, dtype="uint8", scale_format="fp32"):
    """Each input (x, scale, zero point) requantized to the output's: Q(s_i(x-z_i)/sy), then joined
    on ``axis``.  Inputs that already have the output's scale and zero point pass through unchanged."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QLinearConcat, exactly
    parts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise InvalidValueError(f"concat inputs[{i}] must be (tensor, scale, zero point)")
        parts.append(requantize(item[0], item[1], item[2], y_scale, y_zero_point, dtype=dtype,
                                scale_format=scale_format))
    return mv.concat_same(parts, axis)


VARIANTS = {op: {"exact": fn} for op, fn in [
    ("add", add), ("sub", sub), ("mul", mul), ("requantize", requantize), ("leaky_relu", leaky_relu),
    ("relu", relu), ("clamp", clamp), ("avg_pool", avg_pool), ("max_pool", max_pool), ("mean", mean),
    ("global_avg_pool", global_avg_pool), ("concat", concat)]}
