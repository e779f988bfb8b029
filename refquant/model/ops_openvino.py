"""The OpenVINO CPU plugin's arithmetic for the nodes of an ONNX QDQ model (``--against openvino``).

``refquant/model/openvino.py`` rewrites the ONNX graph into these nodes (domain ``openvino``) from
what the plugin compiled; each asks the backend table (rows ``openvino_cpu`` / ``openvino_cpu_fq_node``)
for its arithmetic:

    openvino.QuantizeLinear    the ONNX frontend's FakeQuantize(x, fl((qmin-zp)*s), fl((qmax-zp)*s), qmin,
                               qmax, levels) + Convert: the row's ``fake_quantize`` variant (snippets
                               Subgraph: ov_cpu_snippets; a FakeQuantize layer: ov_cpu), the level exact
    openvino.DequantizeLinear  Convert, Subtract(zp), Multiply(s) in binary32: fl((q - zp) * s)
    openvino.FakeQuantize      QuantizeLinear -> DequantizeLinear folded into one FakeQuantize with the
                               float output range [fl((qmin-zp)*s), fl((qmax-zp)*s)] (the row's variant)
    openvino.Int8Linear        DQ(x), DQ(w int8, zero point 0) [, DQ(b int32)] -> Conv | MatMul | Gemm -> Q
                               as one int8 Convolution / FullyConnected with the output FakeQuantize in
                               its post-ops: the row's ``fq_conv`` / ``fq_matmul`` variant
                               (refquant/openvino.py int8_post_ops, apply_int8_plan), d = fl(sx*sw_j)
    openvino.Int8ConvAdd       ... -> Conv -> Q -> DQ -> Add(., DQ(r)) -> Q fused into one int8 Convolution:
                               the convolution's Q -> DQ is not applied (row openvino_cpu's deviation)
    openvino.DequantizeAddQuantize   DQ(q) + DQ(b constant) -> Q in one u8 / i8 Subgraph
    openvino.MeanQuantize      DQ(q) -> AveragePool | GlobalAveragePool | ReduceMean -> Q in one u8 / i8
                               Pooling / Reduce layer: the mean of the levels, then the FakeQuantize with
                               the DequantizeLinear folded into its input range (refquant/openvino_layers.py)
    openvino.MeanThenQuantize  the same group as a Pooling / Reduce layer writing the binary32 mean and an
                               f32 / bf16 Subgraph holding the QuantizeLinear (candidates where not measured)
    openvino.FusedFloat        a float node inside a fused layer whose per-element order the runtime graph
                               does not pin down: the float op's enclosure of every binary32 order (inputs
                               one ulp wider: a product may stay unrounded), bfloat16 RNE where the layer
                               reads / writes bf16; QuantizeLinear / DequantizeLinear there (path 'fused'):
                               both rows' FakeQuantize on an input widened for a folded range (_fq_fused)

Reproduces: openvino 2026.4.1 ONNX frontend (QuantizeLinear -> FakeQuantize + Convert,
DequantizeLinear -> Convert, Subtract, Multiply), low precision transformations and CPU plugin
(docs/model.md §7).  The bias of an Int8Linear (DQ(b) with scale sx*sw_j) is not pinned down by a
measurement: the node holds both candidates (b added to the integer accumulator; fl(fl(b*sb)/d) added to
fl(acc) in binary32) and an element where they differ is implementation-defined.
"""

import functools
from fractions import Fraction

import numpy as np

from .. import backends
from .. import openvino as spec
from .. import openvino_layers as layers
from ..certified import ImplementationDefined
from ..errors import InvalidValueError
from ..requant import ffma, fl32
from .ops_float import _im2col
from .ops_quant import conv_acc, conv_geometry, matmul_acc
from .registry import op
from .value import V, down32, up32

DOMAIN = "openvino"
ROWS = {"snippets": "openvino_cpu", "fq_node": "openvino_cpu_fq_node"}


def _f(v):
    return Fraction(float(np.float32(v)))


def _grid(s, zp, dtype):
    """(qmin, qmax, il, ih): the integer range and the FakeQuantize input range fl((q - zp) * s)."""
    info = np.iinfo(dtype)
    s = np.float32(s)
    return info.min, info.max, np.float32((info.min - int(zp)) * s), np.float32((info.max - int(zp)) * s)


def _per_unique(fn, x, chan):
    """fn(value, channel) over the distinct (value, channel) pairs of x (float32 or int64), broadcast back."""
    keys = np.stack([x.reshape(-1).astype(np.float64), chan.reshape(-1).astype(np.float64)], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    vals = np.array([fn(u[0], int(u[1])) for u in uniq], dtype=np.float64)
    return vals[inv.reshape(-1)].reshape(x.shape)


def _channels(x, scale, axis):
    s = np.asarray(scale).reshape(-1)
    if s.size == 1:
        return np.zeros(x.shape, np.int64)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = s.size
    return np.broadcast_to(np.arange(s.size).reshape(shape), x.shape)


def _fq(ctx_row, node, x, s, zp, out_float):
    """FakeQuantize of float32 ``x`` as the row computes it: the level (or its float value)."""
    fn = backends.variant(ctx_row, "fake_quantize")
    svec, zvec = np.asarray(s, np.float32).reshape(-1), np.asarray(zp).reshape(-1)
    dtype = np.asarray(zp).dtype
    params = [_grid(svec[j], zvec[j if zvec.size > 1 else 0], dtype) for j in range(svec.size)]
    chan = _channels(x, s, node.attr("axis", 1))

    def one(v, j):
        qmin, qmax, il, ih = params[j]
        lo, hi = (_f(il), _f(ih)) if out_float else (Fraction(qmin), Fraction(qmax))
        return float(fn(Fraction(float(v)), _f(il), _f(ih), lo, hi, qmax - qmin + 1))
    y = _per_unique(one, np.asarray(x, np.float32), chan)
    return V(y.astype(np.float32)) if out_float else V(np.rint(y).astype(dtype))


def _row(node):
    return ROWS[node.attr("path", "snippets")]


def _fq_enclosed(row, node, x, s, zp, out_float):
    """``_fq`` of a value that may be an enclosure (a float op's implementation-defined output): the
    FakeQuantize is non-decreasing in x, so the ends of the enclosure give the ends of the result."""
    y = _fq(row, node, x.v, s, zp, out_float)
    if x.exact:
        return y
    lo, hi = (_fq(row, node, b.astype(np.float32), s, zp, out_float).v for b in x.bounds())
    kind = np.float64 if out_float else np.int64
    return y if np.array_equal(lo, hi) and np.array_equal(lo, y.v) else V(y.v, lo.astype(kind), hi.astype(kind))


@op(f"{DOMAIN}.QuantizeLinear")
def quantize_linear(ctx, node, ins):
    """QuantizeLinear as OpenVINO runs it: FakeQuantize to the levels, then Convert (exact)."""
    x, s, zp = ins[0], ins[1], ins[2]
    if zp is None:
        raise InvalidValueError(f"node {node.name!r}: QuantizeLinear without a zero point is not modelled")
    if node.attr("path") == "fused":        # inside a fused float layer (model/openvino.py): an enclosure
        return [_fq_fused(node, widen_bf16(x) if node.attr("ov_bf16_in") else x, s.v, zp.v, False)]
    return [_fq_enclosed(_row(node), node, x, s.v, zp.v, False)]


@op(f"{DOMAIN}.FakeQuantize")
def fake_quantize(ctx, node, ins):
    """QuantizeLinear -> DequantizeLinear folded into one FakeQuantize with a float output range."""
    x, s, zp = ins[0], ins[1], ins[2]
    return [_fq_enclosed(_row(node), node, x, s.v, zp.v, True)]


@op(f"{DOMAIN}.DequantizeLinear")
def dequantize_linear(ctx, node, ins):
    """DequantizeLinear as Convert, Subtract(zp), Multiply(s) in binary32: fl((q - zp) * s)."""
    q, s, zp = ins[0], ins[1], (ins + [None])[2]
    axis = node.attr("axis", 1)

    def along(v):
        v = np.asarray(v)
        if v.size == 1 or q.v.ndim == 0:
            return v.reshape(()) if v.size == 1 else v
        shape = [1] * q.v.ndim
        shape[axis % q.v.ndim] = v.size
        return v.reshape(shape)
    z = np.float32(0) if zp is None else along(zp.v).astype(np.float32)
    f = lambda t: ((t.astype(np.float32) - z).astype(np.float32) * along(s.v).astype(np.float32)).astype(np.float32)
    if q.exact:
        y = V(f(q.v))
    else:
        a, b = f(q.lo), f(q.hi)
        y = V(f(q.v), np.minimum(a, b).astype(np.float64), np.maximum(a, b).astype(np.float64))
    if node.attr("ov_contract"):     # a later op of its fused layer reads it: may stay unrounded (FMA, LPT)
        y = widen_ulp(y)
    return [widen_bf16(y) if node.attr("ov_bf16_out") else y]


def _accumulators(node, x, zx, w):
    kind = node.attr("kind")
    if kind == "Conv":
        strides, pads, dil, group = conv_geometry(node, x.ndim)
        return conv_acc(x.astype(np.int64) - zx, w.astype(np.int64), strides, pads, dil, group), 1
    wt = w.T if node.attr("transB", 0) else w
    return matmul_acc(x.astype(np.int64) - zx, wt.astype(np.int64)), -1


def _plan(ctx, node, sx, sw, sy, zy, ydt):
    """The row's int8 post-ops plan (refquant/openvino.py int8_post_ops) for this layer."""
    name = "fq_conv" if node.attr("kind") == "Conv" else "fq_matmul"
    if ctx.variant(name) is not spec.int8_output_ov_cpu:
        raise InvalidValueError(f"node {node.name!r}: backend {ctx.backend!r} has no OpenVINO int8 post-ops variant")
    _qmin, _qmax, ol, oh = _grid(sy, zy, ydt)
    d = [spec.dequantization_scale(_f(sx), _f(v)) for v in np.asarray(sw, np.float32).reshape(-1)]
    return d, spec.int8_post_ops(d, _f(ol), _f(oh), 256, None, "u8" if ydt == np.uint8 else "s8")


@op(f"{DOMAIN}.Int8Linear")
def int8_linear(ctx, node, ins, acc=None):
    """An int8 Convolution / FullyConnected with its output FakeQuantize fused (the LPT post-ops plan);
    the bias's two candidates (see the module text) make an enclosure where they differ."""
    x, sx, zx, w, sw, zw, b, sb, sy, zy = (ins + [None] * 10)[:10]
    if np.any(np.asarray(zw.v)):
        raise InvalidValueError(f"node {node.name!r}: Int8Linear takes weight zero points 0")
    ydt = np.asarray(zy.v).dtype
    zxv = int(np.asarray(zx.v).reshape(-1)[0])
    acc, axis = (acc, -1 if node.attr("kind") != "Conv" else 1) if acc is not None else \
        _accumulators(node, x.v, zxv, w.v)
    if not x.exact:             # levels known within [lo, hi]: interval accumulators, the plan is non-decreasing
        wv = np.asarray(w.v, np.int64)
        pos, neg = np.maximum(wv, 0), np.minimum(wv, 0)
        a_lo = _accumulators(node, x.lo, zxv, pos)[0] + _accumulators(node, x.hi, zxv, neg)[0]
        a_hi = _accumulators(node, x.hi, zxv, pos)[0] + _accumulators(node, x.lo, zxv, neg)[0]
        y = int8_linear(ctx, node, [V(x.v)] + ins[1:])[0]
        ends = [int8_linear(ctx, node, [V(np.zeros(0))] + ins[1:], acc=a)[0].bounds() for a in (a_lo, a_hi)]
        lo, hi = ends[0][0], ends[1][1]
        return [y if np.array_equal(lo, hi) else V(y.v, lo, hi)]
    d, plan = _plan(ctx, node, sx.v, sw.v, sy.v, zy.v, ydt)
    chan = _channels(acc, np.zeros(acc.shape[axis]), axis)      # the output channel (bias, per-channel plan)
    bias = None if b is None else np.asarray(b.v, np.int64).reshape(-1)
    bsc = None if b is None else np.asarray(sb.v, np.float32).reshape(-1)

    def cand(a, j, which):
        a = Fraction(int(a))
        if bias is not None:
            k = j if bias.size > 1 else 0
            if which == 0:
                a += int(bias[k])
            else:
                bf = fl32(Fraction(int(bias[k])) * _f(bsc[k if bsc.size > 1 else 0]))
                a = fl32(fl32(a) + fl32(bf / d[j if len(d) > 1 else 0]))
        return float(spec.apply_int8_plan(a, plan, j))
    y0 = _per_unique(lambda a, j: cand(a, j, 0), acc, chan)
    if bias is None:
        return [V(y0.astype(ydt))]
    y1 = _per_unique(lambda a, j: cand(a, j, 1), acc, chan)
    lo, hi = np.minimum(y0, y1).astype(np.int64), np.maximum(y0, y1).astype(np.int64)
    return [V(y0.astype(ydt)) if np.array_equal(lo, hi) else V(y0.astype(ydt), lo, hi)]


def _f32_exact(a, where):
    if np.any(np.abs(a) >= 2**24):
        raise InvalidValueError(f"node {where!r}: accumulator beyond 2^24: the binary32 conversion is not modelled")
    return a.astype(np.float32)


@op(f"{DOMAIN}.Int8ConvAdd")
def int8_conv_add(ctx, node, ins, acc=None):
    """DQ(x), DQ(w), DQ(b) -> Conv -> Q -> DQ -> Add(., DQ(r)) -> Q fused into one int8 Convolution with a
    residual sum: OpenVINO 2026.4.1 does not apply the convolution's QuantizeLinear -> DequantizeLinear
    (measured; the row's named deviation): v = fl(fl(acc d_j) + fl(b sb_j)) or fl(fl(acc + b) d_j) (two
    candidates), plus fl((r - zr) sr), then the Add's QuantizeLinear as the rows' FakeQuantize variants
    (snippets and FakeQuantize node, two more candidates): an element where they differ is
    implementation-defined."""
    ctx.row.deviation("residual Add fused into an int8 Convolution", "fq_conv")     # the row names it
    x, sx, zx, w, sw, zw, b, sb, r, sr, zr, sa, za = ins[:13]
    if np.any(np.asarray(zw.v)):
        raise InvalidValueError(f"node {node.name!r}: Int8ConvAdd takes weight zero points 0")
    strides, pads, dil, group = conv_geometry(node, x.v.ndim)
    zxv = int(np.asarray(zx.v).reshape(-1)[0])
    total = lambda t, wt: conv_acc(np.asarray(t, np.int64) - zxv, np.asarray(wt, np.int64), strides, pads, dil, group)
    if acc is None and (not x.exact or not r.exact):      # levels within [lo, hi]: interval accumulators; every step is non-decreasing
        wv = np.asarray(w.v, np.int64)  # in the accumulator and in r (d, sr > 0; fl and the FakeQuantize monotone)
        (xl, xh), (rl, rh) = x.bounds(), r.bounds()
        a_lo = total(xl, np.maximum(wv, 0)) + total(xh, np.minimum(wv, 0))
        a_hi = total(xh, np.maximum(wv, 0)) + total(xl, np.minimum(wv, 0))
        y = int8_conv_add(ctx, node, [V(x.v)] + ins[1:8] + [V(r.v)] + ins[9:])[0]
        ends = [int8_conv_add(ctx, node, [x] + ins[1:8] + [V(rb.astype(r.v.dtype))] + ins[9:], acc=a)[0].bounds()
                for a, rb in ((a_lo, rl), (a_hi, rh))]
        lo, hi = ends[0][0], ends[1][1]
        return [y if np.array_equal(lo, hi) else V(y.v, lo, hi)]
    acc = total(x.v, w.v) if acc is None else acc
    ones = (1,) * (acc.ndim - 2)
    per = lambda v: np.asarray(v, np.float32).reshape((1, -1) + ones)
    d = (np.float32(np.asarray(sx.v).reshape(-1)[0]) * per(sw.v)).astype(np.float32)
    bi = np.asarray(b.v, np.int64).reshape((1, -1) + ones)
    vr = (_f32_exact(r.v.astype(np.int64) - np.asarray(zr.v, np.int64).reshape(-1)[0], node.name)
          * np.float32(np.asarray(sr.v).reshape(-1)[0])).astype(np.float32)
    conv_vals = [((_f32_exact(acc, node.name) * d).astype(np.float32) + (_f32_exact(bi, node.name) * per(sb.v))
                  .astype(np.float32)).astype(np.float32),
                 (_f32_exact(acc + bi, node.name) * d).astype(np.float32)]
    ys = [_fq(row, node, (v + vr).astype(np.float32), sa.v, za.v, False).v.astype(np.int64)
          for v in conv_vals for row in ROWS.values()]
    lo, hi = np.min(ys, axis=0), np.max(ys, axis=0)
    y = ys[0].astype(np.asarray(za.v).dtype)
    return [V(y) if np.array_equal(lo, hi) else V(y, lo, hi)]


@op(f"{DOMAIN}.DequantizeAddQuantize")
def dequantize_add_quantize(ctx, node, ins):
    """DQ(q) + DQ(b constant) -> Q in one u8 / i8 Subgraph (an int8 MatMul's float bias): v = fl(fl((q - zp) s)
    + fl((b - zb) sb)), or the multiply and add contracted into one FMA (snippets may fuse them; not
    measured apart), then the row's FakeQuantize to the output level: an element where the two differ is
    implementation-defined."""
    q, s, zp, b, sb, zb, sy, zy = ins[:8]
    if not q.exact:             # non-decreasing in q (s > 0): the ends of q's enclosure give the ends
        y = dequantize_add_quantize(ctx, node, [V(q.v)] + ins[1:])[0]
        ends = [dequantize_add_quantize(ctx, node, [V(b.astype(q.v.dtype))] + ins[1:])[0].bounds() for b in q.bounds()]
        lo, hi = ends[0][0], ends[1][1]
        return [y if np.array_equal(lo, hi) else V(y.v, lo, hi)]
    zq = np.float32(np.asarray(zp.v).reshape(-1)[0]) if zp is not None else np.float32(0)
    qs = (_f32_exact(q.v.astype(np.int64), node.name) - zq).astype(np.float32)
    sv = np.float32(np.asarray(s.v).reshape(-1)[0])
    zbv = np.float32(0) if zb is None else np.asarray(zb.v, np.float32)
    bf = ((np.asarray(b.v, np.float32) - zbv).astype(np.float32) * np.asarray(sb.v, np.float32)).astype(np.float32)
    if bf.size not in (1, qs.shape[-1]):
        raise InvalidValueError(f"node {node.name!r}: a bias of shape {list(bf.shape)}; expected one per last-axis element")
    bf = bf.reshape(-1)
    plain = ((qs * sv).astype(np.float32) + bf).astype(np.float32)
    chan = np.broadcast_to(np.arange(qs.shape[-1]) if bf.size > 1 else np.zeros(qs.shape[-1], np.int64), qs.shape)
    fused = _per_unique(lambda v, j: float(ffma("fp32", Fraction(float(v)), _f(sv), _f(bf[j]))), qs, chan)
    fused = fused.astype(np.float32)
    if node.attr("path") == "fused":    # in a Subgraph holding more: both rows, a folded-range margin (_fq_fused)
        lo, hi = np.minimum(plain, fused).astype(np.float64), np.maximum(plain, fused).astype(np.float64)
        y = _fq_fused(node, V(plain, lo, hi), sy.v, zy.v, False)
        return [y if y.exact else V(y.v.astype(np.asarray(zy.v).dtype), y.lo, y.hi)]
    ys = [_fq(_row(node), node, v, sy.v, zy.v, False).v.astype(np.int64) for v in (plain, fused)]
    y = ys[0].astype(np.asarray(zy.v).dtype)
    return [V(y) if np.array_equal(ys[0], ys[1]) else V(y, np.minimum(*ys), np.maximum(*ys))]


def _window_totals(node, q):
    """(exact window sums, element counts) of the integer levels ``q`` for the node's mean."""
    kind = node.attr("kind")
    if kind == "AveragePool":
        k = list(node.attr("kernel_shape"))
        strides, pads, dil, _ = conv_geometry(node, q.ndim)
        win = tuple(range(2, 2 + len(k)))
        cols, out = _im2col(q, k, strides, pads, dil)
        ones, _ = _im2col(np.ones_like(q[:1, :1]), k, strides, pads, dil)
        n = np.full(cols.shape[:2] + (cols.shape[-1],), int(np.prod(k))) if node.attr("count_include_pad", 0) \
            else np.broadcast_to(ones.sum(axis=win), cols.shape[:2] + (cols.shape[-1],))
        return cols.sum(axis=win).reshape(q.shape[:2] + out), np.asarray(n).reshape(q.shape[:2] + out)
    axes = tuple(range(2, q.ndim)) if kind == "GlobalAveragePool" else tuple(a % q.ndim for a in node.attr("axes"))
    keep = kind == "GlobalAveragePool" or bool(node.attr("keepdims", 1))
    total = q.sum(axis=axes, keepdims=keep)
    return total, np.full(total.shape, int(np.prod([q.shape[a] for a in axes])))


@op(f"{DOMAIN}.MeanThenQuantize")
@op(f"{DOMAIN}.MeanQuantize")
def mean_quantize(ctx, node, ins):
    """DQ(q) -> AveragePool | GlobalAveragePool | ReduceMean -> Q run as one OpenVINO Pooling / Reduce
    layer on the levels (LPT moved the DequantizeLinear behind the mean and folded it into the
    FakeQuantize): the row's 'ov_avg_pool_fq' / 'ov_reduce_mean_fq' variant (refquant/openvino_layers.py)
    per window; an element whose candidates differ is implementation-defined.  MeanThenQuantize: the
    layer writes the binary32 mean and an f32 / bf16 Subgraph holds the QuantizeLinear (the row's
    'ov_mean_subgraph_fq')."""
    ctx.row.deviation("mean and QuantizeLinear in one layer")     # the row names it
    q, s, zp, sy, zy = ins[:5]
    if not q.exact:             # the mean and the FakeQuantize are non-decreasing in every level
        ends = [mean_quantize(ctx, node, [V(b)] + ins[1:])[0].bounds() for b in q.bounds()]
        y = mean_quantize(ctx, node, [V(q.v)] + ins[1:])[0].v
        return [V(y, ends[0][0], ends[1][1])]
    ydt = np.asarray(zy.v).dtype
    qmin, qmax, il, ih = _grid(np.asarray(sy.v).reshape(-1)[0], np.asarray(zy.v).reshape(-1)[0], ydt)
    sv, zv = _f(np.asarray(s.v).reshape(-1)[0]), int(np.asarray(zp.v).reshape(-1)[0])
    if node.op_type == "MeanThenQuantize":
        fn = functools.partial(ctx.variant("ov_mean_subgraph_fq"), layer=node.attr("layer"),
                               precision=node.attr("precision"), zero_point=zv, scale=sv)
        lo_in, hi_in = _f(il), _f(ih)
    else:
        fn = ctx.variant("ov_avg_pool_fq" if node.attr("layer") == "Pooling" else "ov_reduce_mean_fq")
        lo_in, hi_in = layers.folded_input_range(_f(il), _f(ih), sv, zv)
    total, n = _window_totals(node, np.asarray(q.v, np.int64))
    cache = {}

    def one(t, c):
        if (t, c) not in cache:
            r = fn(int(t), int(c), input_low=lo_in, input_high=hi_in, output_low=qmin, output_high=qmax,
                   levels=qmax - qmin + 1)
            vals = r.candidates if isinstance(r, ImplementationDefined) else (r,)
            cache[(t, c)] = (int(vals[0]), int(min(vals)), int(max(vals)))
        return cache[(t, c)]
    res = np.array([one(t, c) for t, c in zip(total.reshape(-1), n.reshape(-1))], np.int64).reshape(total.shape + (3,))
    y, lo, hi = res[..., 0], res[..., 1], res[..., 2]
    return [V(y.astype(ydt)) if np.array_equal(lo, hi) else V(y.astype(ydt), lo, hi)]


# ##########################################################################
# Nodes inside a fused float layer: enclosures of every evaluation order
# ##########################################################################

U = 2.0 ** -24            # unit roundoff of binary32
FOLD_REL = 2.0 ** -20     # 16 u: a FakeQuantize whose range or scale LPT folded with a neighbouring multiply


def rne_bf16(x):
    """binary32 values (float64 array) rounded to bfloat16, to nearest, ties to even: the CPU plugin's
    f32 -> bf16 conversion (its jit_uni_vcvtneps2bf16 emitter: the AVX512-BF16 vcvtneps2bf16
    instruction, or its emulation, both round to nearest even; openvino 2026.4.1 src/plugins/intel_cpu
    emitters).  bfloat16 keeps binary32's sign, 8 exponent bits and top 7 fraction bits.  Monotone."""
    f = np.asarray(x, np.float64).astype(np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    r = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(f), r, f).astype(np.float64)


def widen_bf16(x):
    """A float tensor (or enclosure) as a layer reading or writing bfloat16 holds it: every value rounded
    to bfloat16 (``rne_bf16``; monotone, so the ends of the enclosure give the ends).  Integers pass."""
    if x is None or x.v.dtype.kind != "f":
        return x
    v = rne_bf16(x.v).astype(np.float32)
    if x.exact:
        return V(v)
    lo, hi = x.bounds()
    return V(v, rne_bf16(down32(lo)), rne_bf16(up32(hi)))


def widen_ulp(x):
    """A float enclosure widened by one binary32 ulp each way: it then holds the exact real value of a
    product that a fused layer may keep unrounded (FMA contraction, LPT moving a DequantizeLinear's
    multiply past a MatMul): |fl(ab) - ab| <= u |ab| (Higham 2002, eq. 2.4)."""
    if x is None or x.v.dtype.kind != "f":
        return x
    lo, hi = x.bounds()
    return V(x.v, np.nextafter(down32(lo).astype(np.float32), np.float32(-np.inf)).astype(np.float64),
             np.nextafter(up32(hi).astype(np.float32), np.float32(np.inf)).astype(np.float64))


def _fq_fused(node, x, s, zp, out_float):
    """The FakeQuantize of a QuantizeLinear inside a fused layer, as an enclosure: both rows' arithmetic
    (snippets and the FakeQuantize node's post-op, which a fused layer may use), on the input enclosure
    widened by FOLD_REL * max(|x|, |il|, |ih|).  Why that radius: LPT may fold a DequantizeLinear's scale
    into the FakeQuantize range (il' = fl(il / s), ...) or move it past a MatMul; each folded quantity
    carries one binary32 rounding (relative u), which moves the FakeQuantize's grid point by at most
    u (|x| + |il| + 2 |x - il|) <= 6 u max(|x|, |il|, |ih|) since il <= 0 <= ih (the grid contains zero);
    16 u leaves room for a second fold."""
    svec, zvec = np.asarray(s, np.float32).reshape(-1), np.asarray(zp).reshape(-1)
    dtype = np.asarray(zp).dtype
    grids = [_grid(svec[j], zvec[j if zvec.size > 1 else 0], dtype) for j in range(svec.size)]
    m_il = np.array([max(abs(float(g[2])), abs(float(g[3]))) for g in grids])
    chan = _channels(x.v, s, node.attr("axis", 1))
    lo, hi = x.bounds()
    rng = m_il[chan] if svec.size > 1 else m_il[0]
    lo = lo - FOLD_REL * np.maximum(np.abs(lo), rng)
    hi = hi + FOLD_REL * np.maximum(np.abs(hi), rng)
    y = _fq("openvino_cpu", node, x.v, s, zp, out_float)
    ends = [_fq(row, node, b.astype(np.float32), s, zp, out_float).v for b in (down32(lo), up32(hi))
            for row in ROWS.values()]
    kind = np.float64 if out_float else np.int64
    lo_y, hi_y = np.minimum(ends[0], ends[1]).astype(kind), np.maximum(ends[2], ends[3]).astype(kind)
    return y if np.array_equal(lo_y, hi_y) and np.array_equal(lo_y, y.v.astype(kind)) else V(y.v, lo_y, hi_y)


@op(f"{DOMAIN}.FusedFloat")
def fused_float(ctx, node, ins):
    """A float node (MatMul, Add, Softmax, ...) that ran inside a fused OpenVINO layer whose per-element
    arithmetic the runtime graph does not pin down: the float op's enclosure of every binary32
    evaluation order (model/ops_float.py: |fl(sum) - sum| <= gamma_n sum |t| for an n-term sum, Higham
    2002, Thm 4.4 / eq. 3.5), on inputs widened by one ulp (a product the layer may keep unrounded,
    ``widen_ulp``) and, where the layer reads or writes bfloat16 (attribute ov_bf16_in / ov_bf16_out, from
    the runtime graph's precisions), its inputs / outputs rounded to bfloat16, to nearest even (``widen_bf16``:
    the plugin's Reorder and store conversions)."""
    from .registry import implementation
    from .graph import Node
    inner = Node(node.name, node.attr("ov_op"), node.attr("ov_domain", ""), node.inputs, node.outputs,
                 {k: v for k, v in node.attrs.items() if not k.startswith("ov_")})
    keep = (1, 2) if inner.key in ("Gemm", "Conv") else ()     # exact weights and bias (their ops take exact B):
    # a weight's unrounded product fl(w sw) vs w sw adds u |a w| per term, inside gamma_(K+1) sum |a w| (K >= 2)
    ins = [x if x is None or i in keep else widen_ulp(x) for i, x in enumerate(ins)]
    if node.attr("ov_bf16_in"):
        ins = [x if x is None or i in keep else widen_bf16(x) for i, x in enumerate(ins)]
    outs = implementation(inner)(ctx, inner, ins)
    return [widen_bf16(y) for y in outs] if node.attr("ov_bf16_out") else outs
