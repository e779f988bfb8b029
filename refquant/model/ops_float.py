"""Float ops between DequantizeLinear and QuantizeLinear, and data movement, as enclosures.

A float op whose binary32 result depends on evaluation order (Conv, MatMul, Gemm, pooling sums) or
on a library's exp (Softmax, Sigmoid, LayerNormalization) returns its float64 result with a radius
that covers every order: for an n-term sum, |fl(sum) - sum| <= gamma_n * sum|t_k| (Higham 2002,
Thm 4.4; FMA contraction only removes roundings).  Exactly rounded element-wise ops (Add, Sub, Mul,
Relu, Clip, Max pooling) are computed in binary32 on both ends of the enclosure (rounding is
monotone).  Library functions are assumed within ``LIB_ULPS`` ulps (documented in docs/model.md).
Data movement (Reshape, Transpose, ...) is exact and equals refquant.movement (tests prove it).
"""

import numpy as np

from ..errors import InvalidValueError
from .ops_quant import window_slices, conv_geometry, conv_out_shape
from .registry import op
from .value import U32, V, down32, enclose, gamma, up32

LIB_ULPS = 8          # assumed bound of MLAS exp / tanh / sqrt error, in binary32 ulps


def _f32(v):
    return V(v.v.astype(np.float32), *(None, None) if v.exact else (v.lo, v.hi))


def _mid_rad(x):
    lo, hi = x.bounds()
    v = x.v.astype(np.float64)
    return v, np.maximum(v - lo, hi - v)


def _im2col(x, k, strides, pads, dil, fill=0.0):
    """(cols (N, C, k..., P), output spatial shape) of an N-D window op (pads [x1_begin, ..., x1_end, ...])."""
    N, C, *spatial = x.shape
    d = len(spatial)
    out = conv_out_shape(spatial, k, strides, pads, dil)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pads[a], pads[a + d]) for a in range(d)), constant_values=fill)
    P = int(np.prod(out))
    cols = np.empty((N, C) + tuple(k) + (P,), x.dtype)
    for off, sl in window_slices(k, strides, pads, dil, out):
        cols[(slice(None),) * 2 + off] = xp[(slice(None), slice(None)) + sl].reshape(N, C, P)
    return cols, out


def conv_f64(x, w, strides, pads, dil, group):
    """float64 N-D convolution (N, C, spatial...) by im2col and one GEMM per group."""
    N = x.shape[0]
    M, Cg, *k = w.shape
    cols, out = _im2col(x, k, strides, pads, dil)
    K, Mg, P = Cg * int(np.prod(k)), M // group, int(np.prod(out))
    cols = cols.reshape(N, group, K, P)
    wg = w.reshape(group, Mg, K)
    res = np.einsum("gmk,ngkp->ngmp", wg, cols, optimize=True)
    return res.reshape((N, M) + out)


def _linear_enclosure(f, x, w, b, K):
    """f bilinear (conv/matmul) in float64: value, and an order-independent binary32 enclosure."""
    mid, rad = _mid_rad(x)
    wa = np.abs(w)
    y = f(mid, w) + (0 if b is None else b)
    mag = f(np.abs(mid) + rad, wa) + (0 if b is None else np.abs(b))
    r = f(rad, wa) + (gamma(K + 1) + (K + 2) * 2.0**-53) * mag
    return enclose(y, r)


@op("Conv")
def conv(ctx, node, ins):
    """ONNX Conv-11 (1-D, 2-D, 3-D) in binary32 (any summation order): the enclosure of every order's result."""
    x, w = ins[0], ins[1]
    if not w.exact:
        raise InvalidValueError(f"node {node.name!r}: Conv with implementation-defined weights")
    strides, pads, dil, group = conv_geometry(node, x.v.ndim)
    wv = w.v.astype(np.float64)
    b = None if len(ins) < 3 or ins[2] is None else ins[2].v.astype(np.float64).reshape((1, -1) + (1,) * (wv.ndim - 2))
    K = int(np.prod(wv.shape[1:]))
    return [_linear_enclosure(lambda a, ww: conv_f64(a, ww, strides, pads, dil, group), x, wv, b, K)]


@op("MatMul")
def matmul(ctx, node, ins):
    """ONNX MatMul-13 in binary32 (any summation order); either operand may carry an enclosure."""
    a, b = ins[0], ins[1]
    if b.exact:
        return [_linear_enclosure(np.matmul, a, b.v.astype(np.float64), None, a.v.shape[-1])]
    if a.exact:
        t = _linear_enclosure(lambda x, w: np.matmul(w, x), b, a.v.astype(np.float64), None, a.v.shape[-1])
        return [t]
    am, ar = _mid_rad(a)
    bm, br = _mid_rad(b)
    y = am @ bm
    mag = (np.abs(am) + ar) @ (np.abs(bm) + br)
    K = a.v.shape[-1]
    r = ar @ (np.abs(bm) + br) + np.abs(am) @ br + (gamma(K + 1) + (K + 2) * 2.0**-53) * mag
    return [enclose(y, r)]


@op("Gemm")
def gemm(ctx, node, ins):
    """ONNX Gemm-13 (alpha = beta = 1) in binary32, any summation order."""
    a, b = ins[0], ins[1]
    if node.attr("alpha", 1.0) != 1.0 or node.attr("beta", 1.0) != 1.0 or not b.exact:
        raise InvalidValueError(f"node {node.name!r}: Gemm with alpha/beta != 1 or a computed B is not supported")
    if node.attr("transA", 0):
        a = a.map(lambda t: np.swapaxes(t, -1, -2))
    bv = b.v.astype(np.float64)
    bv = bv.T if node.attr("transB", 0) else bv
    c = None if len(ins) < 3 or ins[2] is None else ins[2].v.astype(np.float64)
    return [_linear_enclosure(np.matmul, a, bv, c, bv.shape[0])]


def _elementwise32(fn, *xs):
    """An exactly rounded monotone (non-decreasing in each argument) binary32 op on enclosures."""
    v = fn(*[x.v.astype(np.float32) for x in xs])
    if all(x.exact for x in xs):
        return V(v)
    lo = fn(*[x.bounds()[0].astype(np.float32) for x in xs])
    hi = fn(*[x.bounds()[1].astype(np.float32) for x in xs])
    return V(v, lo.astype(np.float64), hi.astype(np.float64))


@op("Add")
def add(ctx, node, ins):
    """ONNX Add-14 (binary32, one rounding per element)."""
    if ins[0].dtype.kind != "f":
        raise InvalidValueError(f"node {node.name!r}: Add of {ins[0].dtype} tensors is not supported")
    return [_elementwise32(np.add, ins[0], ins[1])]


@op("Sub")
def sub(ctx, node, ins):
    """ONNX Sub-14 (binary32): a - b, non-decreasing in a and in -b."""
    a, b = ins
    nb = V(-b.v) if b.exact else V(-b.v, -b.hi, -b.lo)
    return [_elementwise32(np.add, a, nb)]


@op("Mul")
def mul(ctx, node, ins):
    """ONNX Mul-14 (binary32, one rounding): the enclosure from the four end products."""
    a, b = ins
    v = (a.v.astype(np.float32) * b.v.astype(np.float32))
    if a.exact and b.exact:
        return [V(v)]
    (al, ah), (bl, bh) = a.bounds(), b.bounds()
    prods = [(x.astype(np.float32) * y.astype(np.float32)).astype(np.float64) for x in (al, ah) for y in (bl, bh)]
    return [V(v, np.minimum.reduce(prods), np.maximum.reduce(prods))]


@op("Div")
def div(ctx, node, ins):
    """ONNX Div-14 (binary32, one rounding): the enclosure from the four end quotients (0 not in b)."""
    a, b = ins
    v = a.v.astype(np.float32) / b.v.astype(np.float32)
    if a.exact and b.exact:
        return [V(v)]
    (al, ah), (bl, bh) = a.bounds(), b.bounds()
    if np.any((bl <= 0) & (bh >= 0)):
        raise InvalidValueError(f"node {node.name!r}: Div by an enclosure that contains 0")
    qs = [(x.astype(np.float32) / y.astype(np.float32)).astype(np.float64) for x in (al, ah) for y in (bl, bh)]
    return [V(v, np.minimum.reduce(qs), np.maximum.reduce(qs))]


@op("Relu")
def relu(ctx, node, ins):
    """ONNX Relu-14: max(x, 0), exact."""
    x = ins[0]
    return [x.map(lambda t: np.maximum(t, np.zeros((), t.dtype)))]


@op("Clip")
def clip(ctx, node, ins):
    """ONNX Clip-13: min(max(x, lo), hi), exact."""
    x = ins[0]
    lo = ins[1].v if len(ins) > 1 and ins[1] is not None else None
    hi = ins[2].v if len(ins) > 2 and ins[2] is not None else None
    return [x.map(lambda t: np.clip(t, lo, hi).astype(t.dtype))]


@op("MaxPool")
def max_pool(ctx, node, ins):
    """ONNX MaxPool-12 (1-D, 2-D, 3-D, one output): exact for any element type."""
    x = ins[0]
    if len(node.outputs) > 1 and node.outputs[1]:
        raise InvalidValueError(f"node {node.name!r}: MaxPool indices output is not supported")
    k = list(node.attr("kernel_shape"))
    strides, pads, dil, _ = conv_geometry(node, x.v.ndim)
    win = tuple(range(2, 2 + len(k)))

    def pool(t):
        fill = -np.inf if t.dtype.kind == "f" else np.iinfo(t.dtype).min
        cols, out = _im2col(t, k, strides, pads, dil, fill)
        return cols.max(axis=win).reshape(t.shape[:2] + out)
    if node.attr("ceil_mode", 0):
        raise InvalidValueError(f"node {node.name!r}: MaxPool ceil_mode=1 is not supported")
    return [x.map(pool)]


def _mean_enclosure(x, fn, n):
    """Enclosure of a mean over n terms (sum in any order, then one scaling)."""
    mid, rad = _mid_rad(x)
    y = fn(mid)
    mag = fn(np.abs(mid) + rad)
    r = fn(rad) + (gamma(n + 2) + (n + 2) * 2.0**-53) * mag
    return enclose(y, r)


@op("AveragePool")
def average_pool(ctx, node, ins):
    """ONNX AveragePool-11 (1-D, 2-D, 3-D, float): window sum in any order, divided by the count."""
    x = ins[0]
    if x.dtype.kind != "f" or node.attr("ceil_mode", 0):
        raise InvalidValueError(f"node {node.name!r}: AveragePool on {x.dtype} or with ceil_mode is not supported")
    k = list(node.attr("kernel_shape"))
    strides, pads, dil, _ = conv_geometry(node, x.v.ndim)
    if any(v != 1 for v in dil):
        raise InvalidValueError(f"node {node.name!r}: AveragePool with dilations {dil} is not supported")
    include = node.attr("count_include_pad", 0)
    win, n = tuple(range(2, 2 + len(k))), int(np.prod(k))

    def pool(t):
        cols, out = _im2col(t, k, strides, pads, dil)
        ones, _ = _im2col(np.ones_like(t[:1, :1]), k, strides, pads, dil)
        count = n if include else ones.sum(axis=win)
        return (cols.sum(axis=win) / count).reshape(t.shape[:2] + out)
    if x.exact and _ort_float(ctx, "qdq_avg_pool") and ctx_opset(node) >= 19:
        return [V(_sequential_pool32(x.v.astype(np.float32), k, strides, pads, dil, include))]
    if x.exact and _ort_float(ctx, "qdq_avg_pool_opset11_18") and ctx_opset(node) < 19:   # MlasPool
        return [V(_mlas_pool32(x.v.astype(np.float32), k, strides, pads, include))]
    return [_mean_enclosure(x, pool, n)]


def _ort_float(ctx, op_name):
    """True when the backend row computes ``op_name`` as onnxruntime's float path (variant
    'ort_float' of refquant/onnx_float.py): the pool then has one exact binary32 result."""
    return ctx.row.ops.get(op_name) == "ort_float"


def _sequential_pool32(t, k, strides, pads, dil, include):
    """onnxruntime's float AveragePool (cpu/nn/pool_functors.h): each window's values added one by
    one in binary32 in row-major order (a padded position adds +0.0, which changes no sum), one
    binary32 division; onnx_float.avg_pool_ort_float before its QuantizeLinear (tests/test_onnx_float.py)."""
    cols, out = _im2col(t, k, strides, pads, dil)
    ones, _ = _im2col(np.ones_like(t[:1, :1]), k, strides, pads, dil)
    count = np.float32(np.prod(k)) if include else ones.sum(axis=tuple(range(2, 2 + len(k)))).astype(np.float32)
    acc = np.zeros(cols.shape[:2] + cols.shape[-1:], np.float32)
    for idx in np.ndindex(*k):
        acc = acc + cols[(slice(None), slice(None)) + idx]
    return (acc / count).astype(np.float32).reshape(t.shape[:2] + out)


def _mlas_pool32(t, k, strides, pads, include):
    """onnxruntime's float AveragePool-11..18 (MlasPool, ceil_mode 0): the loop that
    onnx_float.mlas_pool_kernel names; its vector kernel sums each column down the valid rows (2-D:
    from the first row; 3-D: from +0.0), then the column sums left to right from the first (a padded
    column is +0.0), one binary32 division; onnx_float.avg_pool_mlas_float before its QuantizeLinear."""
    from ..onnx_float import mlas_pool_kernel
    kind = mlas_pool_kernel(t.shape[2:], k, strides, pads, 0, include)
    dil = [1] * len(k)
    if kind == "global":
        return _mlas_global_mean32(t)
    if kind != "vector":
        return _sequential_pool32(t, k, strides, pads, dil, include)
    cols, out = _im2col(t, k, strides, pads, dil)
    valid, _ = _im2col(np.ones_like(t[:1, :1]), k, strides, pads, dil)
    acc = None
    for kw in range(k[-1]):
        col = np.zeros(cols.shape[:2] + cols.shape[-1:], np.float32)
        seen = np.zeros(cols.shape[-1], bool)
        for idx in np.ndindex(*k[:-1]):
            at = idx + (kw,)
            v, ok = cols[(slice(None), slice(None)) + at], valid[(0, 0) + at] > 0
            first = ok & ~seen if len(k) == 2 else np.zeros_like(ok)
            col = np.where(first, v, np.where(ok, col + v, col))
            seen |= ok
        acc = col if acc is None else acc + col
    count = np.float32(np.prod(k)) if include else valid[0, 0].sum(axis=tuple(range(len(k)))).astype(np.float32)
    return (acc / count).astype(np.float32).reshape(t.shape[:2] + out)


@op("GlobalAveragePool")
def global_average_pool(ctx, node, ins):
    """ONNX GlobalAveragePool-1 (float): the mean over H, W in any order; under a row whose
    qdq_global_avg_pool is 'ort_float' (onnxruntime), MlasPool's lane sum, exactly."""
    x = ins[0]
    n = int(np.prod(x.v.shape[2:]))
    if x.exact and _ort_float(ctx, "qdq_global_avg_pool"):
        return [V(_mlas_global_mean32(x.v.astype(np.float32)))]
    return [_mean_enclosure(x, lambda t: t.mean(axis=tuple(range(2, t.ndim)), keepdims=True), n)]


def _mlas_global_mean32(t):
    """MlasPoolGlobalKernel in binary32: lane j adds elements j, j+4, ...; ((l0 + l2) + (l1 + l3));
    the tail one by one; one division (onnx_float.mlas_global_sum, tests/test_onnx_float.py)."""
    flat = t.reshape(t.shape[0], t.shape[1], -1)
    n = flat.shape[-1]
    n4 = n - n % 4
    lanes = np.zeros(flat.shape[:2] + (4,), np.float32)
    for i in range(0, n4, 4):
        lanes = lanes + flat[..., i:i + 4]
    s = (lanes[..., 0] + lanes[..., 2]) + (lanes[..., 1] + lanes[..., 3])
    for i in range(n4, n):
        s = s + flat[..., i]
    return (s / np.float32(n)).astype(np.float32).reshape(t.shape[:2] + (1,) * (t.ndim - 2))


@op("ReduceMean")
def reduce_mean(ctx, node, ins):
    """ONNX ReduceMean-13/18 (float): the mean over the axes in any order."""
    x = ins[0]
    axes = node.attr("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = [int(a) for a in ins[1].v.reshape(-1)]
    axes = tuple(range(x.v.ndim)) if axes is None else tuple(a % x.v.ndim for a in axes)
    keep = bool(node.attr("keepdims", 1))
    n = int(np.prod([x.v.shape[a] for a in axes]))
    return [_mean_enclosure(x, lambda t: t.mean(axis=axes, keepdims=keep), n)]


@op("Softmax")
def softmax(ctx, node, ins):
    """ONNX Softmax-13 (float): increasing in x_i, decreasing in x_j, so the ends of the enclosure
    come from the ends of the inputs; plus the implementation's error (n-term sum, exp, division)."""
    x = ins[0]
    axis = node.attr("axis", -1 if ctx_opset(node) >= 13 else 1)
    if ctx_opset(node) < 13 and axis % x.v.ndim != x.v.ndim - 1:
        raise InvalidValueError(f"node {node.name!r}: opset < 13 Softmax on a non-last axis is not supported")
    lo, hi = x.bounds()
    y = _softmax64(x.v.astype(np.float64), axis)
    n = x.v.shape[axis]
    rel = gamma(n + 2) + LIB_ULPS * U32 * 2
    if x.exact:
        return [enclose(y, rel * y)]
    m = np.maximum(hi.max(axis=axis, keepdims=True), 0)
    el, eh = np.exp(lo - m), np.exp(hi - m)
    sl, sh = el.sum(axis=axis, keepdims=True), eh.sum(axis=axis, keepdims=True)
    ylo = el / (el + (sh - eh))
    yhi = eh / (eh + (sl - el))
    return [V(y.astype(np.float32), down32(ylo * (1 - rel)), up32(yhi * (1 + rel)))]


def ctx_opset(node):
    return node.attrs.get("__opset__", 13)


def _softmax64(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@op("Sigmoid")
def sigmoid(ctx, node, ins):
    """ONNX Sigmoid-13 (float): increasing; the library's error within LIB_ULPS ulps."""
    x = ins[0]
    lo, hi = x.bounds()
    rel = LIB_ULPS * U32 * 2
    y = 1 / (1 + np.exp(-x.v.astype(np.float64)))
    return [V(y.astype(np.float32), down32(1 / (1 + np.exp(-lo)) * (1 - rel)), up32(1 / (1 + np.exp(-hi)) * (1 + rel)))]


@op("LayerNormalization")
def layer_norm(ctx, node, ins):
    """ONNX LayerNormalization-17 (float): float64 value; the radius bounds the implementation's
    n-term mean and variance, its sqrt/division (LIB_ULPS) and the inputs' own radius (to first order)."""
    x, scale = ins[0], ins[1]
    bias = ins[2].v.astype(np.float64) if len(ins) > 2 and ins[2] is not None else 0.0
    axis = node.attr("axis", -1) % x.v.ndim
    eps = float(np.float32(node.attr("epsilon", 1e-5)))
    axes = tuple(range(axis, x.v.ndim))
    mid, rad = _mid_rad(x)
    mu = mid.mean(axis=axes, keepdims=True)
    var = ((mid - mu) ** 2).mean(axis=axes, keepdims=True)
    sd = np.sqrt(var + eps)
    xhat = (mid - mu) / sd
    g = scale.v.astype(np.float64)
    y = xhat * g + bias
    n = int(np.prod([x.v.shape[a] for a in axes]))
    err = (gamma(2 * n + 8) + LIB_ULPS * U32) * (np.abs(xhat) + 1) * np.abs(g) * 4 + np.abs(y) * 2 * U32
    r = err + np.abs(g) * 2 * rad.max(axis=axes, keepdims=True) / sd * (1 + np.abs(xhat))
    return [enclose(y, r)]


# ##########################################################################
# Data movement: exact for every element type
# ##########################################################################

def _ints(v):
    return [int(a) for a in np.asarray(v).reshape(-1)]


@op("Reshape")
def reshape(ctx, node, ins):
    """ONNX Reshape-14 (0 copies the input dimension unless allowzero)."""
    x, shape = ins[0], _ints(ins[1].v)
    if not node.attr("allowzero", 0):
        shape = [x.v.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x.map(lambda t: t.reshape(shape))]


@op("Flatten")
def flatten(ctx, node, ins):
    """ONNX Flatten-13."""
    x = ins[0]
    axis = node.attr("axis", 1) % (x.v.ndim + 1) if x.v.ndim else 0
    return [x.map(lambda t: t.reshape(int(np.prod(t.shape[:axis])), -1))]


@op("Transpose")
def transpose(ctx, node, ins):
    """ONNX Transpose-13 (default: reverse the axes)."""
    perm = node.attr("perm")
    return [ins[0].map(lambda t: np.transpose(t, perm))]


@op("Squeeze", "Unsqueeze")
def squeeze_unsqueeze(ctx, node, ins):
    """ONNX Squeeze-13 / Unsqueeze-13 (axes as an attribute before opset 13, an input after)."""
    x = ins[0]
    axes = node.attr("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = _ints(ins[1].v)
    if node.op_type == "Squeeze":
        ax = tuple(a % x.v.ndim for a in axes) if axes is not None else None
        return [x.map(lambda t: np.squeeze(t, axis=ax))]
    rank = x.v.ndim + len(axes)
    ax = sorted(a % rank for a in axes)

    def unsq(t):
        for a in ax:
            t = np.expand_dims(t, a)
        return t
    return [x.map(unsq)]


@op("Concat")
def concat(ctx, node, ins):
    """ONNX Concat-13 (same element type; enclosures concatenated with the values)."""
    axis = node.attr("axis")
    v = np.concatenate([x.v for x in ins], axis=axis)
    if all(x.exact for x in ins):
        return [V(v)]
    return [V(v, np.concatenate([x.bounds()[0] for x in ins], axis=axis),
              np.concatenate([x.bounds()[1] for x in ins], axis=axis))]


@op("Identity")
def identity(ctx, node, ins):
    """ONNX Identity-16."""
    return [ins[0]]


@op("Constant")
def constant(ctx, node, ins):
    """ONNX Constant-13 (value tensor, or value_float(s) / value_int(s))."""
    for key, dt in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                    ("value_int", np.int64), ("value_ints", np.int64)):
        if key in node.attrs:
            return [V(np.asarray(node.attrs[key], dtype=dt))]
    raise InvalidValueError(f"node {node.name!r}: Constant without a supported value attribute")


@op("Shape")
def shape(ctx, node, ins):
    """ONNX Shape-15 (start/end)."""
    s = np.array(ins[0].v.shape, np.int64)
    return [V(s[node.attr("start", 0): node.attr("end", len(s))])]


@op("Gather")
def gather(ctx, node, ins):
    """ONNX Gather-13 with a computed or constant index tensor (negative indices count from the end)."""
    idx = ins[1].v.astype(np.int64)
    axis = node.attr("axis", 0)
    return [ins[0].map(lambda t: np.take(t, np.where(idx < 0, idx + t.shape[axis], idx), axis=axis))]


@op("Cast")
def cast(ctx, node, ins):
    """ONNX Cast-13 between integer types or to float32 from small integers (exact cases only)."""
    import onnx
    to = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(node.attr("to")))
    x = ins[0]
    if to.kind == "f" and x.dtype.kind == "f" and to != x.dtype:
        raise InvalidValueError(f"node {node.name!r}: Cast {x.dtype} -> {to} is not supported")
    return [V(x.v.astype(to)) if x.exact else V(x.v.astype(to), x.lo, x.hi)]
