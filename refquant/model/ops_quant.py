"""The quantized ONNX ops in numpy, each equal to its refquant definition (tests/test_model_ops.py
proves every fast form equal to the oracle: refquant.quantize, refquant.ops, refquant.requant).

QuantizeLinear / DequantizeLinear follow the backend's quantize profile; QLinearConv,
QLinearMatMul and com.microsoft.QGemm accumulate exactly (contract §2) and requantize with the
backend's ``requant.METHODS`` row (``audit.numpy_forms.FORMS``, the oracle where no form exists).
Accumulators are computed as float64 GEMMs only where every partial sum is an integer below 2^53
(then every order and FMA give the exact sum); otherwise in int64.
"""

import functools
import itertools

import numpy as np

from .. import quantize as qz
from .. import requant as rq
from ..audit.numpy_forms import UNPRED, vectorised
from ..errors import InvalidValueError, ShapeError, Unpredictable
from ..integers import get_type
from .registry import op
from .value import V

FAST_PROFILES = ("onnxruntime", "onnx")   # sat(RNE(fl32(x / s)) + zp) for finite binary32 x and s


def _np_type(dtype):
    return {"uint8": np.uint8, "int8": np.int8, "int32": np.int32, "uint16": np.uint16, "int16": np.int16}[dtype]


def _type_name(arr):
    return np.dtype(arr.dtype).name


def _param(ins, i, default=None):
    return ins[i].v if len(ins) > i and ins[i] is not None else default


def _per_axis(scale, x_ndim, axis):
    """(broadcastable scale shape, per_axis flag) for a scale of shape () / (1,) / (C,)."""
    scale = np.asarray(scale)
    if scale.size == 1:
        return scale.reshape(()), False
    axis = axis % x_ndim
    shape = [1] * x_ndim
    shape[axis] = scale.size
    return scale.reshape(shape), True


# ##########################################################################
# QuantizeLinear / DequantizeLinear
# ##########################################################################

def quantize_array(x, scale, zp, dtype, profile, axis=1):
    """QuantizeLinear of a binary32 array under ``profile`` (refquant.quantize.quantize, fast where proven)."""
    x = np.asarray(x, np.float32)
    s, per_axis = _per_axis(np.asarray(scale, np.float32), x.ndim, axis)
    z, _ = _per_axis(np.asarray(zp if zp is not None else 0).astype(np.int64), x.ndim, axis)
    t = get_type(dtype)
    if profile in FAST_PROFILES and np.all(np.isfinite(x)) and np.all(s > 0) and np.all(np.isfinite(s)):
        q = np.rint((x / s).astype(np.float32)).astype(np.int64) + z
        return np.clip(q, t.min, t.max).astype(_np_type(dtype))
    flat_s = s.reshape(-1).tolist()
    flat_z = z.reshape(-1).tolist()
    return qz.quantize(x, flat_s if per_axis else flat_s[0], flat_z if per_axis else flat_z[0], dtype, profile,
                       axis=axis if per_axis else None)


def dequantize_array(q, scale, zp, dtype, dequantize_rule, profile, axis=1):
    """DequantizeLinear to binary32 under the profile's dequantize rule ('f32', 'exact', 'f64')."""
    s, per_axis = _per_axis(np.asarray(scale, np.float32), q.ndim, axis)
    z, _ = _per_axis(np.asarray(zp if zp is not None else 0).astype(np.int64), q.ndim, axis)
    d = q.astype(np.int64) - z
    if dequantize_rule == "f32":
        return (d.astype(np.float32) * s).astype(np.float32)
    if dequantize_rule == "exact" and np.all(np.abs(d) < 2**29):
        return (d.astype(np.float64) * s.astype(np.float64)).astype(np.float32)
    if dequantize_rule == "f64" and np.all(np.abs(d) < 2**53):
        return (s.astype(np.float64) * d.astype(np.float64)).astype(np.float32)
    flat_s, flat_z = s.reshape(-1).tolist(), z.reshape(-1).tolist()
    bits = qz.dequantize(q, flat_s if per_axis else flat_s[0], flat_z if per_axis else flat_z[0], dtype, profile,
                         axis=axis if per_axis else None)
    return np.asarray(bits, np.uint32).view(np.float32)


@op("QuantizeLinear")
def quantize_linear(ctx, node, ins):
    """ONNX QuantizeLinear-10/13/19/21 under the backend's profile (per tensor or per axis)."""
    x, scale, zp = ins[0], _param(ins, 1), _param(ins, 2)
    dtype = _type_name(zp) if zp is not None else "uint8"
    if x.dtype != np.float32:
        raise InvalidValueError(f"node {node.name!r}: QuantizeLinear of {x.dtype} input; the model runner "
                                f"takes float32")
    axis = node.attr("axis", 1)
    if ctx.has("quantize") and np.asarray(scale).size == 1:
        return [_row_variant(ctx, "quantize", x, scale, zp, dtype, _np_type(dtype))]
    profile = ctx.profile(np.asarray(scale).size > 1)
    q = quantize_array(x.v, scale, zp, dtype, profile, axis)
    if x.exact:
        return [V(q)]
    lo = quantize_array(x.lo.astype(np.float32), scale, zp, dtype, profile, axis)
    hi = quantize_array(x.hi.astype(np.float32), scale, zp, dtype, profile, axis)
    return [V(q, lo.astype(np.int64), hi.astype(np.int64))]


@op("DequantizeLinear")
def dequantize_linear(ctx, node, ins):
    """ONNX DequantizeLinear-10/13/19/21 to binary32 under the backend's profile."""
    x, scale, zp = ins[0], _param(ins, 1), _param(ins, 2)
    axis = node.attr("axis", 1)
    per_axis = np.asarray(scale).size > 1
    if ctx.has("dequantize") and not per_axis:
        return [_row_variant(ctx, "dequantize", x, scale, zp, _type_name(x.v), np.float32)]
    from ..profiles import get_profile
    profile = ctx.profile(per_axis)
    rule = get_profile(profile).dequantize
    dtype = _type_name(x.v)

    def dq(a):
        return dequantize_array(np.asarray(a).astype(x.v.dtype), scale, zp, dtype, rule, profile, axis)
    y = dq(x.v)
    if x.exact:
        return [V(y)]
    return [V(y, dq(x.lo).astype(np.float64), dq(x.hi).astype(np.float64))]


def _row_variant(ctx, op_name, x, scale, zp, dtype, out_dtype):
    """A row that names a variant for quantize / dequantize (the LiteRT rows: refquant/tflite_ops.py):
    that function, per tensor, on the value and on the ends of an enclosure (both are monotone)."""
    fn = ctx.variant(op_name)
    s, z = float(np.float32(np.asarray(scale).reshape(-1)[0])), int(np.asarray(zp if zp is not None else 0).reshape(-1)[0])

    def one(a):
        return np.asarray(fn(np.asarray(a), s, z, dtype=dtype), dtype=out_dtype)
    y = one(x.v)
    if x.exact:
        return V(y)
    kind = np.float64 if np.dtype(out_dtype).kind == "f" else np.int64
    return V(y, one(x.lo.astype(x.v.dtype)).astype(kind), one(x.hi.astype(x.v.dtype)).astype(kind))


@op("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx, node, ins):
    """ONNX DynamicQuantizeLinear-11 (uint8) with the backend's all-zero rule (refquant.quantize.dynamic_quantize)."""
    profile = ctx.profile()
    profile = profile if profile in qz.DYNAMIC_ALL_ZERO else "onnx"
    x = ins[0].v.astype(np.float32)
    y, scale, zp = dynamic_quantize_array(x, profile)
    return [V(y), V(np.array(scale, np.float32)), V(np.array(zp, np.uint8))]


def dynamic_quantize_array(x, profile):
    """(y, scale, zp) of DynamicQuantizeLinear: numpy for finite non-constant x, else the definition."""
    if x.size and np.all(np.isfinite(x)):
        hi, lo = max(np.float32(0), x.max()), min(np.float32(0), x.min())
        if hi != lo:
            scale = np.float32(np.float32(hi - lo) / np.float32(255))
            if scale > 0:
                zq = np.float32(-lo / scale)
                zp = int(np.rint(np.clip(zq, np.float32(0), np.float32(255))))
                return quantize_array(x, scale, zp, "uint8", "onnxruntime" if profile == "onnxruntime" else "onnx",
                                      1), float(scale), zp
    y, scale, zp = qz.dynamic_quantize(x, profile)
    return np.asarray(y, np.uint8), float(scale), int(zp)


# ##########################################################################
# Exact accumulators
# ##########################################################################

def _exact_product(a, b, k):
    """a @ b for int64 operands whose K-term sums stay below 2^53 in magnitude (float64 BLAS), else int64."""
    bound = k * max(int(np.abs(a).max(initial=0)), 1) * max(int(np.abs(b).max(initial=0)), 1)
    if bound < 2**53:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


def matmul_acc(a, b):
    """Exact int64 ONNX MatMul (numpy broadcasting) of zero-point-subtracted int64 operands."""
    return _exact_product(a, b, a.shape[-1])


def window_slices(k, strides, pads_begin, dil, out):
    """For each kernel offset (row-major over the spatial axes): the strided slices of the padded input."""
    for off in itertools.product(*[range(n) for n in k]):
        yield off, tuple(slice(o * d, o * d + s * (n - 1) + 1, s) for o, d, s, n in zip(off, dil, strides, out))


def conv_out_shape(spatial, k, strides, pads, dil):
    """Output spatial shape of an N-D window op (ONNX pads [x1_begin, ..., x1_end, ...]); ShapeError if empty."""
    d = len(spatial)
    out = tuple((spatial[a] + pads[a] + pads[a + d] - dil[a] * (k[a] - 1) - 1) // strides[a] + 1 for a in range(d))
    if any(o < 1 for o in out):
        raise ShapeError(f"conv / pool output would be empty ({' x '.join(map(str, out))})")
    return out


def conv_acc(x, w, strides, pads, dilations, group):
    """Exact int64 N-D convolution (N, C, spatial...; w (M, C/group, k...)) of zero-point-subtracted
    operands; padding contributes 0 (the input zero point minus itself).  Terms are exact integers,
    so the sum is the same in any order (float64 only where every partial sum is below 2^53)."""
    N, C, *spatial = x.shape
    M, Cg, *k = w.shape
    d = len(spatial)
    if C != Cg * group or M % group or len(k) != d:
        raise ShapeError(f"conv: x has shape {list(x.shape)}, w {list(w.shape)} with group {group}")
    out = conv_out_shape(spatial, k, strides, pads, dilations)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pads[a], pads[a + d]) for a in range(d)))
    P = int(np.prod(out))
    cols = np.empty((N, group, Cg) + tuple(k) + (P,), np.int64)
    for off, sl in window_slices(k, strides, pads, dilations, out):
        cols[(slice(None),) * 3 + off] = xp[(slice(None), slice(None)) + sl].reshape(N, group, Cg, P)
    Mg, K = M // group, Cg * int(np.prod(k))
    cols = cols.reshape(N, group, K, P)
    wg = w.reshape(group, Mg, K)
    bound = K * max(int(np.abs(wg).max(initial=0)), 1) * max(int(np.abs(cols).max(initial=0)), 1)
    if bound < 2**53:     # every partial sum an integer below 2^53: float64 is exact in any order
        res = np.rint(np.einsum("gmk,ngkp->ngmp", wg.astype(np.float64), cols.astype(np.float64),
                                optimize=True)).astype(np.int64)
    else:
        res = np.einsum("gmk,ngkp->ngmp", wg, cols)
    return res.reshape((N, M) + out)


def wrap32(acc):
    """int64 accumulators reduced to int32 with wrap (the contract's default accumulator: the final
    wrap of the exact sum equals the step-by-step wrap, docs/gemm-contract.md §2)."""
    return (acc + 2**31) % 2**32 - 2**31


def conv_acc_raw(x, zx, w, zw, strides, pads, dilations, group):
    """int32-wrapped conv accumulators of raw 8-bit x and w with their zero points: the C kernel's
    ConvInteger (refquant.kernel.conv_integer, 2-D: grouped ones per group, depthwise ones through its
    direct depthwise kernel) where it is built, and 1-D ones as 2-D with H = 1 (kernel height 1,
    stride 1, no pad: the same terms, exact); 3-D ones as one einsum (``conv_acc``); both equal
    refquant.ops.conv_integer (tests/test_model.py, tests/test_model_nd.py)."""
    from .. import kernel
    if x.ndim in (3, 4) and kernel.available() and x.dtype in (np.int8, np.uint8) \
            and w.dtype in (np.int8, np.uint8):
        zwv = int(zw[0]) if zw.size == 1 else zw.astype(np.int64)
        if x.ndim == 3:    # 1-D as 2-D with H = 1
            acc = kernel.conv_integer(np.ascontiguousarray(x[:, :, None, :]), np.ascontiguousarray(w[:, :, None, :]),
                                      zx, zwv, strides=[1, strides[0]], pads=[0, pads[0], 0, pads[1]],
                                      dilations=[1, dilations[0]], group=group)
            return np.asarray(acc)[:, :, 0, :].astype(np.int64)
        return kernel.conv_integer(np.ascontiguousarray(x), np.ascontiguousarray(w), zx, zwv, strides=list(strides),
                                   pads=list(pads), dilations=list(dilations), group=group).astype(np.int64)
    wz = w.astype(np.int64) - (zw.reshape((-1,) + (1,) * (w.ndim - 1)) if zw.size > 1 else zw[0])
    return wrap32(conv_acc(x.astype(np.int64) - zx, wz, strides, pads, dilations, group))


def _ints_attr(node, name, d, default):
    v = node.attr(name, None)
    v = [default] * d if v is None else [int(t) for t in v]
    return v


def conv_geometry(node, ndim):
    """(strides, pads [x1_begin, ..., x1_end, ...], dilations, group) of a Conv-family or pooling node
    over 1, 2 or 3 spatial axes (N, C, spatial...; auto_pad NOTSET / VALID)."""
    d = ndim - 2
    if d not in (1, 2, 3):
        raise ShapeError(f"node {node.name!r}: {node.op_type} with a rank-{ndim} input; the runner does 1-D, 2-D "
                         f"and 3-D (N, C, spatial...)")
    auto = node.attr("auto_pad", "NOTSET")
    if auto not in ("NOTSET", "VALID"):
        raise InvalidValueError(f"node {node.name!r}: auto_pad {auto!r} is not supported; expected NOTSET or VALID")
    strides, pads, dil = _ints_attr(node, "strides", d, 1), _ints_attr(node, "pads", 2 * d, 0), \
        _ints_attr(node, "dilations", d, 1)
    if auto == "VALID":
        pads = [0] * (2 * d)
    if len(strides) != d or len(pads) != 2 * d or len(dil) != d:
        raise ShapeError(f"node {node.name!r}: {d} spatial axes need {d} strides, {2 * d} pads, {d} dilations; got "
                         f"{strides}, {pads}, {dil}")
    return strides, pads, dil, node.attr("group", 1)


def bilinear_bounds(f, lo, hi, w):
    """Bounds of f(x, w) for x in [lo, hi] element-wise, f bilinear: split w into its signs."""
    wp, wn = np.maximum(w, 0), np.minimum(w, 0)
    return f(lo, wp) + f(hi, wn), f(hi, wp) + f(lo, wn)


# ##########################################################################
# Requantization
# ##########################################################################

def requantize(acc, method, params, zp, out_dtype, chan, where):
    """y = requant.METHODS[method] of int64 accumulators (numpy form, the oracle where none exists)."""
    t = get_type(out_dtype)
    zp = int(zp)
    y = vectorised(method, params, acc.reshape(-1), chan.reshape(-1), zp, t.min, t.max)
    if y is None:
        flat = acc.reshape(-1).tolist()
        ch = chan.reshape(-1).tolist()
        y = np.array([rq.requantize([a], method, params, zp, out_dtype, axis=-1)[0] if not params.per_channel
                      else _one_channel(a, c, method, params, zp, out_dtype) for a, c in zip(flat, ch)], np.int64)
    if np.any(y == UNPRED):
        raise Unpredictable(f"node {where!r}: requantization method {method!r} leaves "
                            f"{int(np.sum(y == UNPRED))} element(s) undefined")
    return y.reshape(acc.shape).astype(_np_type(out_dtype))


def _one_channel(a, c, method, params, zp, out_dtype):
    one = rq.Params(params.method, (params.channels[c],), False)
    return rq.requantize([a], method, one, zp, out_dtype, axis=-1)[0]


@functools.lru_cache(maxsize=4096)
def _derive(method, sa, sbs, sy, op_kind):
    return rq.derive_params(method, sa, list(sbs) if isinstance(sbs, tuple) else sbs, sy, op=op_kind)


def derive(method, sa, sb, sy, op_kind):
    """requant.derive_params, memoized (a node's parameters are derived once per run, not per call)."""
    return _derive(method, sa, tuple(sb) if isinstance(sb, list) else sb, sy, op_kind)


def _scales(v):
    v = np.asarray(v, np.float32).reshape(-1)
    return [float(s) for s in v] if v.size > 1 else float(v[0])


def _zp(v):
    v = np.asarray(v).reshape(-1)
    return int(v[0]) if v.size == 1 else v.astype(np.int64)


@op("QLinearConv", "com.microsoft.QLinearConv")
def qlinear_conv(ctx, node, ins):
    """ONNX QLinearConv-10 (1-D, 2-D, 3-D; and com.microsoft.QLinearConv, channels_last) with the backend's
    method."""
    x, sx, zx, w, sw, zw, sy, zy = ins[:8]
    bias = _param(ins, 8)
    last = node.attr("channels_last", 0)
    xv = V(np.moveaxis(x.v, -1, 1)) if last else x
    if last and not x.exact:
        xv = V(xv.v, np.moveaxis(x.lo, -1, 1), np.moveaxis(x.hi, -1, 1))
    strides, pads, dil, group = conv_geometry(node, xv.v.ndim)
    ones = (1,) * (xv.v.ndim - 2)
    wz = w.v.astype(np.int64) - np.asarray(zw.v, np.int64).reshape((-1, 1) + ones)
    method = _conv_method(ctx, group, xv.v.shape[1], w.v.shape[0])
    if method not in rq.METHODS:
        if xv.v.ndim != 4:
            raise ShapeError(f"node {node.name!r}: the {method!r} depthwise variant is 2-D; input rank {xv.v.ndim}")
        out = _depthwise_variant(ctx, node, xv, ins, method, strides, pads, group)
        return [out.map(lambda a: np.moveaxis(a, 1, -1)) if last else out]
    sws = _scales(sw.v)
    params = derive(method, float(np.float32(sx.v)), sws, float(np.float32(sy.v)), "conv")
    b = None if bias is None else bias.astype(np.int64).reshape((1, -1) + ones)

    M = w.v.shape[0]
    acc = conv_acc_raw(xv.v, int(zx.v), w.v, np.asarray(zw.v).reshape(-1), strides, pads, dil, group)
    if b is not None:
        acc = wrap32(acc + b)
    chan = np.broadcast_to(np.arange(M).reshape((1, M) + ones), acc.shape)
    ydt = _type_name(zy.v)
    y = requantize(acc, method, params, zy.v, ydt, chan, node.name)
    out = V(y)
    if not xv.exact:
        lo, hi = bilinear_bounds(lambda xd, wd: conv_acc(xd, wd, strides, pads, dil, group),
                                 xv.lo - int(zx.v), xv.hi - int(zx.v), wz)
        if b is not None:
            lo, hi = lo + b, hi + b
        out = V(y, requantize(lo, method, params, zy.v, ydt, chan, node.name).astype(np.int64),
                requantize(hi, method, params, zy.v, ydt, chan, node.name).astype(np.int64))
    return [out.map(lambda a: np.moveaxis(a, 1, -1)) if last else out]


def _depthwise_variant(ctx, node, x, ins, name, strides, pads, group):
    """A row whose depthwise convolution is a spec-module variant, not one requantization method
    (LiteRT's optimized DEPTHWISE_CONV_2D: refquant/tflite_ops.py): NHWC in and out, explicit padding
    with the input zero point, then padding VALID."""
    _x, sx, zx, w, sw, zw, sy, zy = ins[:8]
    bias = _param(ins, 8)
    if np.any(np.asarray(zw.v)) or not x.exact:
        raise InvalidValueError(f"node {node.name!r}: variant {name!r} takes zero weight zero points and an exact input")
    fn = ctx.variant("depthwise_conv_2d")
    zxv = int(np.asarray(zx.v).reshape(-1)[0])
    xp = np.pad(x.v, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=zxv)
    W = w.v
    y = fn(np.transpose(xp, (0, 2, 3, 1)), float(np.float32(sx.v)), zxv, np.transpose(W, (1, 2, 3, 0)),
           _scales(sw.v) if np.asarray(sw.v).size > 1 else [float(np.float32(sw.v))] * W.shape[0],
           float(np.float32(sy.v)), int(np.asarray(zy.v).reshape(-1)[0]),
           bias=None if bias is None else [int(b) for b in bias], padding="VALID", strides=tuple(strides),
           depth_multiplier=W.shape[0] // group)
    return V(np.transpose(np.asarray(y, dtype=np.asarray(zy.v).dtype), (0, 3, 1, 2)))


def _conv_method(ctx, group, channels, out_channels):
    """The row's method for this convolution: 'qlinear_conv', or the TFLite-style rows'
    'depthwise_conv_2d' (group == channels == output channels / multiplier) / 'conv_2d'."""
    if ctx.has("qlinear_conv"):
        return ctx.method("qlinear_conv")
    if group > 1 and group == channels and ctx.has("depthwise_conv_2d"):
        return ctx.method("depthwise_conv_2d")
    return ctx.method("conv_2d")


def _matmul_requant(ctx, node, a, sa, za, b, sb, zb, sy, zy, bias=None, op_name="qlinear_matmul"):
    bz = b.astype(np.int64) - (_zp(zb) if np.ndim(_zp(zb)) == 0 else _zp(zb).reshape(1, -1))
    method = ctx.method(op_name if ctx.has(op_name) or not ctx.has("fully_connected") else "fully_connected")
    params = derive(method, float(np.float32(sa.v)), _scales(sb), float(np.float32(sy.v)), "fc")
    za_ = int(np.asarray(za.v).reshape(-1)[0]) if za is not None else 0
    acc = matmul_acc(a.v.astype(np.int64) - za_, bz)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    acc = wrap32(acc)
    N = acc.shape[-1]
    chan = np.broadcast_to(np.arange(N), acc.shape)
    ydt = _type_name(zy.v) if zy is not None else "uint8"
    zyv = int(np.asarray(zy.v).reshape(-1)[0]) if zy is not None else 0
    y = requantize(acc, method, params, zyv, ydt, chan, node.name)
    if a.exact:
        return V(y)
    lo, hi = bilinear_bounds(matmul_acc, a.lo - za_, a.hi - za_, bz)
    if bias is not None:
        lo, hi = lo + bias.astype(np.int64), hi + bias.astype(np.int64)
    return V(y, requantize(lo, method, params, zyv, ydt, chan, node.name).astype(np.int64),
             requantize(hi, method, params, zyv, ydt, chan, node.name).astype(np.int64))


@op("QLinearMatMul")
def qlinear_matmul(ctx, node, ins):
    """ONNX QLinearMatMul-10/21 with the backend's requantization method."""
    a, sa, za, b, sb, zb, sy, zy = ins[:8]
    if np.asarray(sa.v).size != 1:
        raise InvalidValueError(f"node {node.name!r}: a per-row a scale is not supported by the runner")
    return [_matmul_requant(ctx, node, a, sa, za, b.v, sb.v, zb.v, sy, zy)]


@op("com.microsoft.QGemm")
def qgemm(ctx, node, ins):
    """com.microsoft QGemm (onnxruntime contrib, 1.32.0): int accumulate A'B' + C (int32 bias), then the
    backend's QLinearMatMul requantization (ORT derives fl(fl(sa*sb)/sy), as for QLinearMatMul)."""
    a, sa, za, b, sb, zb = ins[:6]
    c, sy, zy = (ins + [None] * 9)[6:9]
    if node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0:
        raise InvalidValueError(f"node {node.name!r}: QGemm with transA or alpha != 1 is not supported")
    if sy is None:
        raise InvalidValueError(f"node {node.name!r}: QGemm with a float output is not supported")
    bv = b.v.T if node.attr("transB", 0) else b.v
    return [_matmul_requant(ctx, node, a, sa, za, bv, sb.v, zb.v, sy, zy, None if c is None else c.v)]


@op("MatMulInteger")
def matmul_integer(ctx, node, ins):
    """ONNX MatMulInteger-10: exact int32 accumulators (no requantization)."""
    a, b = ins[0], ins[1]
    za, zb = _param(ins, 2, 0), _param(ins, 3, 0)
    za = np.asarray(za, np.int64).reshape(-1)
    za = za.reshape(-1, 1) if za.size > 1 else za[0]
    zb = np.asarray(zb, np.int64).reshape(-1)
    zb = zb if zb.size > 1 else zb[0]
    if not a.exact:
        raise InvalidValueError(f"node {node.name!r}: MatMulInteger of an implementation-defined input")
    return [V(_wrap32(matmul_acc(a.v.astype(np.int64) - za, b.v.astype(np.int64) - zb)))]


def _wrap32(acc):
    return ((acc + 2**31) % 2**32 - 2**31).astype(np.int32)


@op("ConvInteger")
def conv_integer(ctx, node, ins):
    """ONNX ConvInteger-10 (1-D, 2-D, 3-D): exact int32 accumulators, padding with the input zero point."""
    x, w = ins[0], ins[1]
    zx, zw = int(np.asarray(_param(ins, 2, 0)).reshape(-1)[0]), np.asarray(_param(ins, 3, 0), np.int64).reshape(-1)
    strides, pads, dil, group = conv_geometry(node, x.v.ndim)
    wz = w.v.astype(np.int64) - (zw.reshape((-1,) + (1,) * (w.v.ndim - 1)) if zw.size > 1 else zw[0])
    if not x.exact:
        raise InvalidValueError(f"node {node.name!r}: ConvInteger of an implementation-defined input")
    return [V(_wrap32(conv_acc(x.v.astype(np.int64) - zx, wz, strides, pads, dil, group)))]


# ##########################################################################
# Dynamic quantization (onnxruntime.quantization.quantize_dynamic graphs)
# ##########################################################################

@op("com.microsoft.DynamicQuantizeMatMul", "com.microsoft.MatMulIntegerToFloat")
def dynamic_quantize_matmul(ctx, node, ins):
    """com.microsoft DynamicQuantizeMatMul (A float: DynamicQuantizeLinear uint8 under the row's profile)
    and MatMulIntegerToFloat (A quantized): acc exact, then y = fl32(fl32(fl32(acc) * fl32(sa*sb_j)) + bias_j):
    MLAS's scale-bias output processor multiplies, then adds, without contraction (measured on onnxruntime
    1.32.0 x86-64: on every element where a fused multiply-add would round differently, 1038 of 1038,
    onnxruntime gave the unfused result)."""
    if node.op_type == "DynamicQuantizeMatMul":
        a, b, sb, zb, bias = (ins + [None] * 5)[:5]
        profile = ctx.profile()
        q, sa, za = dynamic_quantize_array(a.v.astype(np.float32), profile if profile in qz.DYNAMIC_ALL_ZERO
                                           else "onnx")
    else:
        a, b, sa_v, sb, za_v, zb, bias = (ins + [None] * 7)[:7]
        q, sa = a.v, float(np.float32(sa_v.v))
        za = 0 if za_v is None else int(np.asarray(za_v.v).reshape(-1)[0])
    zbv = 0 if zb is None else np.asarray(zb.v, np.int64).reshape(-1)
    acc = matmul_acc(q.astype(np.int64) - za, b.v.astype(np.int64) - (zbv if np.ndim(zbv) == 0 or zbv.size == 1
                                                                        else zbv.reshape(1, -1)))
    scale = (np.float32(sa) * np.asarray(sb.v, np.float32).reshape(-1)).astype(np.float32)
    y = (acc.astype(np.float32) * scale).astype(np.float32)
    if bias is not None:
        y = (y + bias.v.astype(np.float32)).astype(np.float32)
    return [V(y)]


@op("com.microsoft.NhwcMaxPool")
def nhwc_max_pool(ctx, node, ins):
    """com.microsoft NhwcMaxPool (onnxruntime 1.32.0 contrib op; level 'all' rewrites a uint8 / int8 MaxPool
    of a QDQ graph to it): ONNX MaxPool on a channels-last tensor, same attributes; exact."""
    from .ops_float import max_pool
    x = ins[0].map(lambda t: np.moveaxis(t, -1, 1))
    return [y.map(lambda t: np.moveaxis(t, 1, -1)) for y in max_pool(ctx, node, [x])]
