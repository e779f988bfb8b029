"""TFLite builtin operators (a .tflite model read by model/tflite.py) under a LiteRT backend row.

Each operator asks the row how it computes, never the row's name: ``ctx.method`` for the ops that
requantize one accumulator (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: int8 ``conv_2d``,
``depthwise_conv_2d``, ``fully_connected``; int16x8 ``fully_connected_16x8``), ``ctx.variant`` for
every other op (refquant/tflite_ops.py, tflite_conv.py, activations.py, activations_int16.py: the
``VARIANTS`` tables).  The accumulators are the model runner's exact numpy forms (model/ops_quant.py:
the C kernel's ConvInteger where built, a float64 GEMM otherwise; int32 wrap for int8, int64 for
int16x8, as TFLite accumulates), the requantization its numpy forms (the oracle where none exists).
Element-wise lookups (LOGISTIC, TANH, LEAKY_RELU, HARD_SWISH) call the spec function once per
distinct input value; position-dependent variants (the optimized QUANTIZE / DEQUANTIZE / ADD / MUL
vector blocks) get the whole tensor in order.  A fused activation clamps the output to
``tflite_ops.activation_range`` (TFLite: CalculateActivationRangeQuantized), inside the type's range.

``litert_xnnpack``: XNNPACK declines int16 operators, which then run LiteRT's optimized kernels
(docs/ops.md); such a node is computed under the ``litert_optimized`` row, and a note says so.
Reproduces: tensorflow/lite/kernels (ai-edge-litert 2.3.0) operator semantics as modelled by the
spec modules named above.
"""

import numpy as np

from .. import requant as rq
from .. import tflite_ops as T
from ..errors import InvalidValueError, ShapeError
from .ops_quant import conv_acc, conv_acc_raw, derive, matmul_acc, requantize, wrap32
from .registry import Context, op
from .value import V

MAX_ELEMENTS = 1 << 26        # an output larger than this (a garbled PAD or RESIZE size) is refused
XNN_DECLINES = ("int16",)     # activation types whose operators XNNPACK leaves to the optimized kernels
# Variants whose output element depends only on the input element(s) at its position (the reference
# kernels' element loops, XNNPACK's): computed once per distinct input value or pair.  The optimized
# kernels' QUANTIZE / DEQUANTIZE / MUL (and int16 ADD) vector blocks depend on the position: whole tensor.
ELEMENTWISE = {("quantize", "tflite_ref"), ("quantize", "xnnpack"), ("dequantize", "tflite_ref"),
               ("add", "tflite_ref"), ("add", "xnnpack"), ("sub", "tflite_ref"), ("sub", "xnnpack"),
               ("mul", "tflite_ref"), ("mul", "xnnpack"), ("add", "tflite_optimized", "int8")}
# Variants that run whole blocks of n leading elements one way and the len mod n tail another
# (tflite_ops.py: the optimized QUANTIZE / DEQUANTIZE), element-wise within each part.
BLOCKED = {("quantize", "tflite_optimized"): 8, ("dequantize", "tflite_optimized"): 8}


def _q(node, name, what="tensor"):
    """(scales, zero points, axis) of a quantized tensor (InvalidValueError when it has none)."""
    q = node.attr("quant", {}).get(name)
    if q is None:
        raise InvalidValueError(f"node {node.name!r}: {what} {name!r} has no quantization parameters; a "
                                f"full-integer model quantizes it")
    return q


def _st(node, name, what="tensor"):
    """(scale, zero point) of a per-tensor quantized tensor."""
    sc, zp, _ = _q(node, name, what)
    if len(sc) != 1:
        raise InvalidValueError(f"node {node.name!r}: {what} {name!r} has {len(sc)} scales; expected per-tensor")
    return sc[0], zp[0]


def _type(node, name):
    return node.attr("types", {}).get(name, "")


def _vals(node, ins):
    """The input arrays (every input of a full-integer model is exact under its row)."""
    for v in ins:
        if v is not None and not v.exact:
            raise InvalidValueError(f"node {node.name!r}: an input is implementation-defined; TFLite operators "
                                    f"are run on exact inputs only")
    return [None if v is None else v.v for v in ins]


def _ctx(ctx, node, dtype):
    """The row this node runs under: ``litert_xnnpack`` int16 operators run the optimized kernels."""
    if ctx.backend == "litert_xnnpack" and dtype in XNN_DECLINES:
        ctx.notes.append((node.name, "XNNPACK declines int16 operators: the optimized kernel (litert_optimized)"))
        return Context("litert_optimized")
    return ctx


def _act(node, y, y_name):
    """Clamp to the fused activation's range on the output grid."""
    act = node.attr("fused_activation_function", "NONE")
    if act == "NONE":
        return y
    if act not in ("RELU", "RELU6", "RELU_N1_TO_1"):
        raise InvalidValueError(f"node {node.name!r}: fused activation {act!r}; supported: NONE, RELU, RELU6, "
                                f"RELU_N1_TO_1")
    sy, zy = _st(node, y_name, "output")
    lo, hi = T.activation_range(act, sy, zy, _type(node, y_name))
    return np.clip(y, lo, hi).astype(y.dtype)


def _limit(node, shape):
    """ShapeError unless ``shape`` is a valid output shape of at most MAX_ELEMENTS elements."""
    if shape is None or any(d < 0 for d in shape) or int(np.prod(shape, dtype=object)) > MAX_ELEMENTS:
        raise ShapeError(f"node {node.name!r}: output shape {shape}; expected non-negative dimensions and at most "
                         f"{MAX_ELEMENTS} elements")


def _per_value(fn, x, op_name, ctx, dtype, out_dtype):
    """``fn`` (a variant on a flat list) over ``x``: once per distinct value where the row's variant
    is element-wise (ELEMENTWISE), once per distinct value of the blocks and once on the tail where
    it is BLOCKED, else on the whole tensor in order."""
    name = ctx.row.ops.get(op_name)
    flat = x.reshape(-1)
    if {(op_name, name), (op_name, name, dtype)} & ELEMENTWISE:
        return lookup_bits(fn, flat, out_dtype).reshape(x.shape)
    block = BLOCKED.get((op_name, name))
    if block:
        head = flat.size - flat.size % block
        parts = [blocked_lookup(fn, flat[:head], block, out_dtype)]
        if head < flat.size:
            parts.append(np.asarray(fn(flat[head:].tolist()), out_dtype))
        return np.concatenate(parts).reshape(x.shape)
    return np.asarray(fn(flat.tolist()), out_dtype).reshape(x.shape)


def lookup_bits(fn, flat, out_dtype):
    """``fn`` applied once per distinct bit pattern of a flat array (floats: -0 and +0 apart)."""
    bits = flat.view(np.uint32) if flat.dtype == np.float32 else flat
    u, inv = np.unique(bits, return_inverse=True)
    vals = u.view(np.float32) if flat.dtype == np.float32 else u
    return np.asarray(fn(vals.tolist()), out_dtype)[inv]


def blocked_lookup(fn, head, block, out_dtype):
    """``fn`` on the whole-block part of a tensor, once per distinct value: the distinct values are
    padded (with the first) to whole blocks, so every one runs the block path."""
    if head.size == 0:
        return np.zeros(0, out_dtype)
    bits = head.view(np.uint32) if head.dtype == np.float32 else head
    u, inv = np.unique(bits, return_inverse=True)
    vals = (u.view(np.float32) if head.dtype == np.float32 else u).tolist()
    vals += vals[:1] * (-len(vals) % block)
    return np.asarray(fn(vals), out_dtype)[: len(u)][inv]


def _np(dtype):
    return np.dtype(dtype)


# ##########################################################################
# QUANTIZE / DEQUANTIZE
# ##########################################################################

@op("tflite.QUANTIZE")
def quantize(ctx, node, ins):
    """TFLite QUANTIZE float32 -> int8/int16: the row's 'quantize' variant (tflite_ops.py)."""
    (x,) = _vals(node, ins[:1])
    y = node.outputs[0]
    dt = _type(node, y)
    if x.dtype != np.float32:
        raise InvalidValueError(f"node {node.name!r}: QUANTIZE of a {x.dtype} tensor (requantization) is not "
                                f"supported; expected float32 -> int8/int16")
    s, z = _st(node, y, "output")
    c = _ctx(ctx, node, dt)
    fn = c.variant("quantize")
    return [V(_per_value(lambda v: fn(v, s, z, dtype=dt), x, "quantize", c, dt, _np(dt)))]


@op("tflite.DEQUANTIZE")
def dequantize(ctx, node, ins):
    """TFLite DEQUANTIZE int8/int16 -> float32: the row's 'dequantize' variant (tflite_ops.py)."""
    (x,) = _vals(node, ins[:1])
    s, z = _st(node, node.inputs[0], "input")
    dt = x.dtype.name
    c = _ctx(ctx, node, dt)
    fn = c.variant("dequantize")
    return [V(_per_value(lambda v: fn(v, s, z, dtype=dt), x, "dequantize", c, dt, np.float32))]


# ##########################################################################
# CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
# ##########################################################################

def _pads(node, H, W, kh, kw):
    """(strides, pads [t, l, b, r], dilations) from TFLite's SAME / VALID padding."""
    st = (int(node.attr("stride_h", 1)), int(node.attr("stride_w", 1)))
    dil = (int(node.attr("dilation_h_factor", 1)), int(node.attr("dilation_w_factor", 1)))
    if min(st + dil) < 1:
        raise InvalidValueError(f"node {node.name!r}: strides {st} and dilations {dil} must be >= 1")
    pads = []
    for size, k, s, d in ((H, kh, st[0], dil[0]), (W, kw, st[1], dil[1])):
        keff = (k - 1) * d + 1
        out, before = T.pool_geometry(size, keff, s, node.attr("padding", "SAME"))
        pads.append((before, max(0, (out - 1) * s + keff - size - before)))
    return st, [pads[0][0], pads[1][0], pads[0][1], pads[1][1]], dil


def _filter(node, w_name):
    sw, zw, axis = _q(node, w_name, "filter")
    if any(zw):
        raise InvalidValueError(f"node {node.name!r}: filter zero points {list(zw)[:4]}; TFLite int8 filters have "
                                f"zero point 0")
    return list(sw), axis


def _conv(ctx, node, ins, depthwise):
    x, w, b = (_vals(node, ins) + [None])[:3]
    xn, yn = node.inputs[0], node.outputs[0]
    sx, zx = _st(node, xn, "input")
    sy, zy = _st(node, yn, "output")
    dt, ydt = x.dtype.name, _type(node, yn)
    sw, _axis = _filter(node, node.inputs[1])
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"node {node.name!r}: input {x.shape} and filter {w.shape}; expected NHWC and 4-D filter")
    N, H, W, C = x.shape
    if depthwise:                                   # filter 1HWM -> OIHW (M, 1, kh, kw), groups C
        w_oihw, group = np.transpose(w, (3, 0, 1, 2)), C
    else:                                           # filter OHWI -> OIHW
        w_oihw, group = np.transpose(w, (0, 3, 1, 2)), 1
    M, kh, kw = w_oihw.shape[0], w_oihw.shape[2], w_oihw.shape[3]
    swp = sw if len(sw) > 1 else sw[0]             # per-channel list, or the one per-tensor scale
    sw = sw * M if len(sw) == 1 else sw
    if len(sw) != M or (not depthwise and w.shape[3] != C) or (depthwise and M % C):
        raise ShapeError(f"node {node.name!r}: input {x.shape}, filter {w.shape}, {len(sw)} filter scales")
    st, pads, dil = _pads(node, H, W, kh, kw)
    c = _ctx(ctx, node, dt)
    x_nchw = np.transpose(x, (0, 3, 1, 2))
    if dt == "int16":
        acc = conv_acc(x_nchw.astype(np.int64) - zx, w_oihw.astype(np.int64), st, pads, dil, group)
        if b is not None:
            acc = acc + b.astype(np.int64).reshape(1, -1, 1, 1)
        fn = c.variant("depthwise_conv_2d_16x8" if depthwise else "conv_2d_16x8")
        y = np.array([fn(int(a), sx, sw[i[1]], sy, zy) for i, a in np.ndenumerate(acc)], np.int64).reshape(acc.shape)
        y = y.astype(_np(ydt))
    else:
        method = c.method("depthwise_conv_2d" if depthwise else "conv_2d")
        if method not in rq.METHODS:
            return _conv_variant(c, node, x, w, b, (sx, zx, sw, sy, zy), st, pads, dil, ydt)
        acc = conv_acc_raw(x_nchw, zx, w_oihw, np.zeros(1, np.int64), st, pads, dil, group)
        if b is not None:
            acc = wrap32(acc + b.astype(np.int64).reshape(1, -1, 1, 1))
        params = derive(method, sx, swp, sy, "conv")
        chan = np.broadcast_to(np.arange(M).reshape(1, M, 1, 1), acc.shape)
        y = requantize(acc, method, params, zy, ydt, chan, node.name)
    return [V(_act(node, np.transpose(y, (0, 2, 3, 1)), yn))]


def _conv_variant(ctx, node, x, w, b, qp, st, pads, dil, ydt):
    """A depthwise convolution whose row names a spec variant (LiteRT optimized: tflite_conv.py):
    explicit padding with the input zero point, then VALID."""
    sx, zx, sw, sy, zy = qp
    if dil != (1, 1):
        raise InvalidValueError(f"node {node.name!r}: dilated DEPTHWISE_CONV_2D under variant "
                                f"{ctx.row.ops['depthwise_conv_2d']!r} is not modelled")
    fast = FAST_DEPTHWISE.get(ctx.row.ops.get("depthwise_conv_2d"))
    if fast is not None:
        return [V(_act(node, fast(x, w, b, qp, st, pads, ydt, node.name), node.outputs[0]))]
    xp = np.pad(x, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3]), (0, 0)), constant_values=zx)
    fn = ctx.variant("depthwise_conv_2d")
    y = fn(xp, sx, zx, w, list(sw), sy, zy, bias=None if b is None else [int(v) for v in b], padding="VALID",
           strides=tuple(st), depth_multiplier=w.shape[3] // x.shape[3])
    return [V(_act(node, np.asarray(y, _np(ydt)), node.outputs[0]))]


def depthwise_blocks(x, w, b, qp, st, pads, ydt, where=""):
    """Numpy form of tflite_conv.tflite_depthwise_conv_optimized (proven equal to it in
    tests/test_model_tflite.py): the exact accumulators once (NHWC x, 1HWM filter, explicit pads
    contributing 0), output channels in whole blocks of 8 requantized by method 'ruy_x86', the
    n mod 8 tail by 'tflite_double'."""
    sx, zx, sw, sy, zy = qp
    w_oihw = np.transpose(w, (3, 0, 1, 2))
    M = w_oihw.shape[0]
    acc = conv_acc_raw(np.transpose(x, (0, 3, 1, 2)), zx, w_oihw, np.zeros(1, np.int64), st, pads, (1, 1), x.shape[3])
    if b is not None:
        acc = wrap32(acc + np.asarray(b, np.int64).reshape(1, -1, 1, 1))
    chan = np.broadcast_to(np.arange(M).reshape(1, M, 1, 1), acc.shape)
    scales = list(sw) if len(sw) > 1 else sw[0]
    y = {m: requantize(acc, m, derive(m, sx, scales, sy, "conv"), zy, ydt, chan, where)
         for m in ("ruy_x86", "tflite_double")}
    return np.transpose(np.where(chan < M - M % 8, y["ruy_x86"], y["tflite_double"]), (0, 2, 3, 1))


FAST_DEPTHWISE = {"tflite_optimized": depthwise_blocks}     # depthwise variant name -> its numpy form


@op("tflite.CONV_2D")
def conv_2d(ctx, node, ins):
    """TFLite CONV_2D (int8, int16x8): exact accumulators, the row's 'conv_2d' method (int16x8: the
    'conv_2d_16x8' variant), fused activation."""
    return _conv(ctx, node, ins, False)


@op("tflite.DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx, node, ins):
    """TFLite DEPTHWISE_CONV_2D (int8, int16x8): the row's 'depthwise_conv_2d' method or variant."""
    return _conv(ctx, node, ins, True)


@op("tflite.FULLY_CONNECTED")
def fully_connected(ctx, node, ins):
    """TFLite FULLY_CONNECTED (int8; int16x8): exact accumulators, the row's 'fully_connected'
    ('fully_connected_16x8') method, fused activation; keep_num_dims keeps the leading dimensions."""
    x, w, b = (_vals(node, ins) + [None])[:3]
    xn, yn = node.inputs[0], node.outputs[0]
    sx, zx = _st(node, xn, "input")
    sy, zy = _st(node, yn, "output")
    sw, _ = _filter(node, node.inputs[1])
    dt, ydt = x.dtype.name, _type(node, yn)
    if w.ndim != 2 or x.size % w.shape[1]:
        raise ShapeError(f"node {node.name!r}: input {x.shape} does not split into rows of {w.shape[1]} (weights "
                         f"{w.shape})")
    N, K = w.shape
    a = x.reshape(-1, K).astype(np.int64) - zx
    acc = matmul_acc(a, w.astype(np.int64).T)
    if b is not None:
        acc = acc + b.astype(np.int64)
    c = _ctx(ctx, node, dt)
    if dt == "int16":
        method = c.method("fully_connected_16x8")
    else:
        method, acc = c.method("fully_connected"), wrap32(acc)
    params = derive(method, sx, sw if len(sw) > 1 else sw[0], sy, "fc")
    chan = np.broadcast_to(np.arange(N), acc.shape)
    y = _act(node, requantize(acc, method, params, zy, ydt, chan, node.name), yn)
    shape = node.attr("shapes", {}).get(yn)
    if node.attr("keep_num_dims", False):
        y = y.reshape(x.shape[:-1] + (N,))
    elif shape and int(np.prod(shape)) == y.size:
        y = y.reshape(shape)
    return [V(y)]


# ##########################################################################
# Element-wise binary, pools, MEAN
# ##########################################################################

def _binary(name):
    def run(ctx, node, ins):
        a, b = _vals(node, ins[:2])
        (sa, za), (sb, zb) = _st(node, node.inputs[0], "input"), _st(node, node.inputs[1], "input")
        yn = node.outputs[0]
        sy, zy = _st(node, yn, "output")
        dt = _type(node, yn)
        c = _ctx(ctx, node, dt)
        fn = c.variant(name)
        kw = {"dtype": dt, "activation": node.attr("fused_activation_function", "NONE")}
        if name != "mul" and "pot_scale_int16" in fn.__code__.co_varnames:
            kw["pot_scale_int16"] = bool(node.attr("pot_scale_int16", False)) and dt == "int16"
        if {(name, c.row.ops.get(name)), (name, c.row.ops.get(name), dt)} & ELEMENTWISE:
            return [V(pairwise(lambda p, q: fn(p, sa, za, q, sb, zb, sy, zy, **kw), a, b, _np(dt)))]
        y = fn(a.tolist(), sa, za, b.tolist(), sb, zb, sy, zy, **kw)
        return [V(np.asarray(y, _np(dt)).reshape(np.broadcast_shapes(a.shape, b.shape)))]
    run.__doc__ = f"TFLite {name.upper()}: the row's {name!r} variant (tflite_ops.py), fused activation"
    return run


op("tflite.ADD")(_binary("add"))
op("tflite.SUB")(_binary("sub"))
op("tflite.MUL")(_binary("mul"))


def _pool(name):
    def run(ctx, node, ins):
        (x,) = _vals(node, ins[:1])
        s, z = _st(node, node.inputs[0], "input")
        if _st(node, node.outputs[0], "output") != (s, z):
            raise InvalidValueError(f"node {node.name!r}: input and output quantization differ; TFLite int8 "
                                    f"pools keep them equal")
        dt = x.dtype.name
        fn = _ctx(ctx, node, dt).variant(name)
        y = fn(x.tolist(), filter_hw=(int(node.attr("filter_height")), int(node.attr("filter_width"))),
               strides=(int(node.attr("stride_h", 1)), int(node.attr("stride_w", 1))),
               padding=node.attr("padding", "SAME"), dtype=dt,
               activation=node.attr("fused_activation_function", "NONE"), scale=s, zero_point=z)
        return [V(np.asarray(y, x.dtype))]
    run.__doc__ = f"TFLite {name.upper()}: the row's {name!r} variant (tflite_ops.py)"
    return run


op("tflite.AVERAGE_POOL_2D")(_pool("average_pool_2d"))
op("tflite.MAX_POOL_2D")(_pool("max_pool_2d"))


def _const(node, ins, i, what):
    if len(ins) <= i or ins[i] is None:
        raise InvalidValueError(f"node {node.name!r}: {what} (input {i}) is missing")
    return np.asarray(ins[i].v)


@op("tflite.MEAN")
def mean(ctx, node, ins):
    """TFLite MEAN: the row's 'mean' variant (tflite_ops.py) over the constant axes."""
    x = _vals(node, ins[:1])[0]
    axes = [int(a) % x.ndim for a in _const(node, ins, 1, "axes").reshape(-1)]
    sx, zx = _st(node, node.inputs[0], "input")
    sy, zy = _st(node, node.outputs[0], "output")
    dt = x.dtype.name
    fn = _ctx(ctx, node, dt).variant("mean")
    y = fn(x.tolist(), sx, zx, sy, zy, axes=axes, keepdims=bool(node.attr("keep_dims", False)), dtype=dt)
    return [V(np.asarray(y, x.dtype))]


# ##########################################################################
# Activations
# ##########################################################################

def _lookup(fn, x, dtype):
    """An element-wise function applied once per distinct value of ``x`` (exact: the value alone
    decides the output)."""
    u, inv = np.unique(x.reshape(-1), return_inverse=True)
    table = np.asarray(fn(u.tolist()), np.float32 if np.dtype(dtype).kind == "f" else np.int64)
    return table[inv].reshape(x.shape).astype(dtype)


def pairwise(fn, a, b, dtype):
    """An element-wise binary function of two int8/int16 tensors (numpy broadcasting), applied
    once per distinct (a, b) pair: ``fn(list_a, list_b)`` on equal-length lists."""
    A, B = np.broadcast_arrays(a, b)
    key = (A.astype(np.int64) + 32768) * 65536 + (B.astype(np.int64) + 32768)
    u, inv = np.unique(key.reshape(-1), return_inverse=True)
    table = np.asarray(fn((u // 65536 - 32768).tolist(), (u % 65536 - 32768).tolist()), np.int64)
    return table[inv].reshape(A.shape).astype(dtype)


def _unary(name, **options):
    def run(ctx, node, ins):
        (x,) = _vals(node, ins[:1])
        sx, zx = _st(node, node.inputs[0], "input")
        sy, zy = _st(node, node.outputs[0], "output")
        dt = x.dtype.name
        key = f"{name}_int16" if dt == "int16" and name in ("sigmoid", "tanh") else name
        fn = _ctx(ctx, node, dt).variant(key)
        kw = {k: node.attr(a, d) for k, (a, d) in options.items()}
        return [V(_lookup(lambda v: fn(v, sx, zx, sy, zy, dtype=dt, **kw), x, x.dtype))]
    run.__doc__ = f"TFLite activation: the row's {name!r} variant (activations.py, activations_int16.py)"
    return run


op("tflite.LOGISTIC")(_unary("sigmoid"))
op("tflite.TANH")(_unary("tanh"))
op("tflite.HARD_SWISH")(_unary("hard_swish"))
op("tflite.LEAKY_RELU")(_unary("leaky_relu", alpha=("alpha", 0.0)))


@op("tflite.SOFTMAX")
def softmax(ctx, node, ins):
    """TFLite SOFTMAX over the last axis: the row's 'softmax' ('softmax_int16') variant, beta."""
    (x,) = _vals(node, ins[:1])
    sx, zx = _st(node, node.inputs[0], "input")
    sy, zy = _st(node, node.outputs[0], "output")
    dt = x.dtype.name
    fn = _ctx(ctx, node, dt).variant("softmax_int16" if dt == "int16" else "softmax")
    y = fn(x.tolist(), sx, zx, sy, zy, dtype=dt, axis=-1, beta=float(node.attr("beta", 1.0)))
    return [V(np.asarray(y, x.dtype))]


# ##########################################################################
# Data movement
# ##########################################################################

@op("tflite.CONCATENATION")
def concatenation(ctx, node, ins):
    """TFLite CONCATENATION (equal quantization): the row's 'concatenation' variant."""
    xs = _vals(node, ins)
    sy, zy = _st(node, node.outputs[0], "output")
    dt = xs[0].dtype.name
    if node.attr("fused_activation_function", "NONE") != "NONE":
        raise InvalidValueError(f"node {node.name!r}: CONCATENATION with a fused activation is not modelled")
    fn = _ctx(ctx, node, dt).variant("concatenation")
    triples = [(x.tolist(), *_st(node, n, "input")) for x, n in zip(xs, node.inputs)]
    axis = int(node.attr("axis", 0)) % xs[0].ndim
    return [V(np.asarray(fn(triples, sy, zy, axis=axis, dtype=dt), xs[0].dtype))]


def _pad(ctx, node, ins):
    x = _vals(node, ins[:1])[0]
    pads = _const(node, ins, 1, "paddings").reshape(-1, 2).astype(int).tolist()
    _limit(node, [d + a + b for d, (a, b) in zip(x.shape, pads)] if len(pads) == x.ndim else None)
    s, z = _st(node, node.inputs[0], "input")
    constant = None
    if node.op_type == "PADV2" and len(ins) > 2 and ins[2] is not None:
        constant = int(np.asarray(ins[2].v).reshape(-1)[0])
    fn = _ctx(ctx, node, x.dtype.name).variant("tflite_pad")
    return [V(np.asarray(fn(x.tolist(), pads, zero_point=z, constant=constant, dtype=x.dtype.name), x.dtype))]


op("tflite.PAD", "tflite.PADV2")(_pad)


@op("tflite.RESHAPE")
def reshape(ctx, node, ins):
    """TFLite RESHAPE: the constant shape input (or new_shape option, or the output's declared shape)."""
    x = ins[0]
    shape = None
    if len(ins) > 1 and ins[1] is not None:
        shape = [int(d) for d in np.asarray(ins[1].v).reshape(-1)]
    elif node.attr("new_shape"):
        shape = [int(d) for d in node.attr("new_shape")]
    else:
        shape = list(node.attr("shapes", {}).get(node.outputs[0], ()))
    return [x.map(lambda a: a.reshape(shape))]


@op("tflite.TRANSPOSE")
def transpose(ctx, node, ins):
    """TFLite TRANSPOSE by the constant permutation."""
    perm = [int(p) for p in _const(node, ins, 1, "perm").reshape(-1)]
    return [ins[0].map(lambda a: np.transpose(a, perm))]


@op("tflite.SQUEEZE")
def squeeze(ctx, node, ins):
    """TFLite SQUEEZE: drop the squeeze_dims axes (every size-1 axis when none are given)."""
    x = ins[0]
    dims = [int(d) % x.v.ndim for d in (node.attr("squeeze_dims") or [])]
    axes = tuple(dims) if dims else tuple(i for i, d in enumerate(x.shape) if d == 1)
    return [x.map(lambda a: np.squeeze(a, axis=axes))]


@op("tflite.EXPAND_DIMS")
def expand_dims(ctx, node, ins):
    """TFLite EXPAND_DIMS by the constant axis."""
    axis = int(_const(node, ins, 1, "axis").reshape(-1)[0])
    return [ins[0].map(lambda a: np.expand_dims(a, axis if axis >= 0 else axis + a.ndim + 1))]


@op("tflite.SLICE")
def slice_(ctx, node, ins):
    """TFLite SLICE: the constant begin and size (-1: to the end)."""
    begin = [int(v) for v in _const(node, ins, 1, "begin").reshape(-1)]
    size = [int(v) for v in _const(node, ins, 2, "size").reshape(-1)]
    if len(begin) != ins[0].v.ndim or len(size) != len(begin):
        raise ShapeError(f"node {node.name!r}: begin {begin} / size {size} for a rank-{ins[0].v.ndim} input")
    sl = tuple(slice(b, None if n == -1 else b + n) for b, n in zip(begin, size))
    return [ins[0].map(lambda a: a[sl])]


@op("tflite.STRIDED_SLICE")
def strided_slice(ctx, node, ins):
    """TFLite STRIDED_SLICE with begin / end / shrink-axis masks (no ellipsis, new-axis or offset)."""
    if node.attr("ellipsis_mask", 0) or node.attr("new_axis_mask", 0) or node.attr("offset", False):
        raise InvalidValueError(f"node {node.name!r}: STRIDED_SLICE with ellipsis_mask, new_axis_mask or offset "
                                f"is not modelled")
    begin, end, step = ([int(v) for v in _const(node, ins, i, n).reshape(-1)]
                        for i, n in ((1, "begin"), (2, "end"), (3, "strides")))
    bm, em, sm = (int(node.attr(k, 0)) for k in ("begin_mask", "end_mask", "shrink_axis_mask"))
    if not len(begin) == len(end) == len(step) <= ins[0].v.ndim or 0 in step:
        raise ShapeError(f"node {node.name!r}: begin {begin}, end {end}, strides {step} for a rank-"
                         f"{ins[0].v.ndim} input (strides non-zero)")
    idx = tuple(begin[i] if sm >> i & 1 else slice(None if bm >> i & 1 else begin[i], None if em >> i & 1 else end[i],
                                                   step[i]) for i in range(len(begin)))
    return [ins[0].map(lambda a: a[idx])]


def _resize(name):
    def run(ctx, node, ins):
        (x,) = _vals(node, ins[:1])
        size = [int(v) for v in _const(node, ins, 1, "size").reshape(-1)]
        _limit(node, [x.shape[0], *size, x.shape[-1]] if len(size) == 2 and x.ndim == 4 else None)
        fn = _ctx(ctx, node, x.dtype.name).variant(name)
        y = fn(x.tolist(), tuple(size), align_corners=bool(node.attr("align_corners", False)),
               half_pixel_centers=bool(node.attr("half_pixel_centers", False)), dtype=x.dtype.name)
        return [V(np.asarray(y, x.dtype))]
    run.__doc__ = f"TFLite {name.upper()}: the row's {name!r} variant (tflite_ops.py)"
    return run


op("tflite.RESIZE_NEAREST_NEIGHBOR")(_resize("resize_nearest_neighbor"))
op("tflite.RESIZE_BILINEAR")(_resize("resize_bilinear"))



# ##########################################################################
# The ONNX view of a requantizing node (for explain traces and refquant audit)
# ##########################################################################

def onnx_view(node, vals, index=None):
    """(node, input arrays, output index) of CONV_2D / DEPTHWISE_CONV_2D (int8) as an ONNX
    QLinearConv (NCHW, OIHW filter, explicit pads) and FULLY_CONNECTED as com.microsoft.QGemm
    (transB = 1), so that refquant's explainers and audit read them; None for other nodes."""
    from .graph import Node
    x, w = vals[0], vals[1]
    b = vals[2] if len(vals) > 2 else None
    if x is None or w is None or np.asarray(x).dtype != np.int8:
        return None
    sx, zx = _st(node, node.inputs[0], "input")
    sy, zy = _st(node, node.outputs[0], "output")
    sw = np.asarray(_q(node, node.inputs[1], "filter")[0], np.float32)
    zy_arr = np.asarray(zy, np.dtype(_type(node, node.outputs[0])))
    common = (np.float32(sx), np.int8(zx))
    if node.op_type == "FULLY_CONNECTED":
        a = np.asarray(x).reshape(-1, w.shape[1])
        view = Node(node.name, "QGemm", "com.microsoft", [], [], {"transB": 1})
        ins = [a, *common, w, sw, np.zeros(sw.shape, np.int8), b, np.float32(sy), zy_arr]
        idx = None if index is None else (int(np.ravel_multi_index(index[:-1], np.asarray(x).shape[:-1])) if
                                          len(index) > 1 else 0, index[-1])
        return view, ins, idx
    if node.op_type not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return None
    depthwise = node.op_type == "DEPTHWISE_CONV_2D"
    w_oihw = np.transpose(w, (3, 0, 1, 2)) if depthwise else np.transpose(w, (0, 3, 1, 2))
    st, pads, dil = _pads(node, x.shape[1], x.shape[2], w_oihw.shape[2], w_oihw.shape[3])
    view = Node(node.name, "QLinearConv", "", [], [], {"strides": list(st), "pads": pads, "dilations": list(dil),
                                                       "group": x.shape[3] if depthwise else 1})
    ins = [np.transpose(x, (0, 3, 1, 2)), *common, w_oihw, sw, np.zeros(sw.shape, np.int8), np.float32(sy), zy_arr, b]
    idx = None if index is None else (index[0], index[3], index[1], index[2])
    return view, ins, idx
