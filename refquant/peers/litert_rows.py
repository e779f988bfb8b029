"""``refquant verify litert``: LiteRT (ai-edge-litert) per kernel family against the spec ideal,
every difference judged against the family's named deviation (its model is the variant or the
requantization method that the family's backend row names, refquant/backends.py).

One row per op x dtype x family: seeded cases (tie-heavy power-of-two scales, random scales,
zero points at the range ends), all elements of the op's cases pooled.  A family that an op
falls back from (XNNPACK declines int16 ops and int8 AVERAGE_POOL_2D) is judged with the
optimized family's model, and the row says so."""

import zlib
from fractions import Fraction

import numpy as np

from .. import backends, ops, qops
from .. import quantize as Q
from .. import tflite_ops as T
from ..integers import get_type
from ..requant import METHODS
from ..rounding import half_even
from . import litert
from .conformance import judge
from .versions import known, need

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack",
       "tflm": "tflite_micro"}   # tflite-micro runs the same models (refquant/peers/tflm.py)
def deviation_name(family, op):
    """The named deviation that ``op`` under ``family`` computes (None: the family computes the ideal)."""
    return next((d.name for d in backends.get_backend(ROW[family]).deviations if d.op == op), None)


class _Cell:
    """The pooled got / spec / model arrays of one op x dtype x family."""

    def __init__(self):
        self.got, self.spec, self.model, self.delegated = [], [], [], set()

    def add(self, got, spec, model, delegated):
        self.got.append(np.asarray(got).ravel())
        self.spec.append(np.asarray(spec).ravel())
        self.model.append(np.asarray(model).ravel())
        self.delegated.add(bool(delegated))


class Collector:
    peer = "litert"          # whose named deviations explain the rows (refquant/peers/tflm.py: "tflm")

    def __init__(self, version):
        self.version, self.cells = version, {}

    def run(self, op, dtype, blob, inputs, spec, model_of, flag):
        """Run ``blob`` under each family; ``model_of(family_used)`` is that family's model output."""
        for fam in litert.FAMILIES:
            r = litert.run(blob, inputs, fam)
            used = fam if fam != "xnnpack" or r.delegated[0] else "optimized"
            got = next(iter(r.outputs.values()))
            self.cells.setdefault((op, dtype, fam, flag), _Cell()).add(got, spec, model_of(used), r.delegated[0])

    def rows(self):
        out = []
        for (op, dtype, fam, flag), c in self.cells.items():
            used = fam if fam != "xnnpack" or all(c.delegated) else "optimized"
            name = deviation_name(used, op)
            got, spec, model = (np.concatenate(v) for v in (c.got, c.spec, c.model))
            if got.dtype == np.float32:
                got, spec, model = (v.astype(np.float32).view(np.int32) for v in (got, spec, model))
            models = [known(self.peer, name, model, op)] if name else []
            took = {frozenset([True]): "XNNPACK took it", frozenset([False]): "XNNPACK declined: optimized kernel"}
            note = f"; {took.get(frozenset(c.delegated), 'XNNPACK took some')}" if fam == "xnnpack" else ""
            r = judge(f"litert_{fam} {self.version}", f"{op.upper()} {dtype}", "exact (refquant ideal)",
                      flag + note, got, spec, models)
            out.append(r)
        return out


def _rng(tag):
    """A generator seeded from the tag's text (stable across processes, unlike hash())."""
    return np.random.default_rng(zlib.crc32(repr(("litert", tag)).encode()))


POW2 = [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]


def _scales(rng, c, k):
    if c % 2:
        return [float(rng.choice(POW2)) for _ in range(k)]
    return [float(np.float32(rng.uniform(0.002, 0.1))) for _ in range(k)]


def binary_rows(col, n=256, configs=6):
    for op in ("add", "sub", "mul"):
        for dtype in ("int8", "int16"):
            rng = _rng((op, dtype))
            lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
            for c in range(configs):
                sa, sb, sy = _scales(rng, c, 3)
                za, zb, zy = (0, 0, 0) if dtype == "int16" else (int(v) for v in rng.integers(-40, 40, 3))
                if c == 2 and dtype == "int8":
                    za, zy = -128, 127
                a, b = (rng.integers(lo, hi + 1, n).astype(dtype) for _ in range(2))
                m = litert.Model()
                at, bt = m.tensor("a", (n,), dtype, scale=sa, zero_point=za), m.tensor("b", (n,), dtype, scale=sb,
                                                                                      zero_point=zb)
                yt = m.tensor("y", (n,), dtype, scale=sy, zero_point=zy)
                m.op(op.upper(), [at, bt], [yt], **({"pot_scale_int16": False} if op != "mul" else {}))
                args = (a.tolist(), sa, za, b.tolist(), sb, zb, sy, zy)
                spec = getattr(qops, op)(*args, dtype=dtype)
                col.run(op, dtype, m.build([at, bt], [yt]), {"a": a, "b": b}, spec,
                        lambda fam: backends.variant(ROW[fam], op)(*args, dtype=dtype), "6 x 256, ties + random")


def quantize_rows(col, n=101, configs=6):
    """QUANTIZE float32 -> int and DEQUANTIZE int -> float32 (n = 12 blocks of 8 + a 5-element tail)."""
    for dtype in ("int8", "int16"):
        rng = _rng(("quantize", dtype))
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        for c in range(configs):
            s = float(np.float32(rng.uniform(0.001, 2))) if c % 2 else float(rng.choice([0.125, 0.5, 1.0]))
            zp = 0 if dtype == "int16" else (-128, 127, int(rng.integers(-128, 128)))[c % 3]
            k = rng.integers(-300, 300, n)
            x = np.where(rng.random(n) < 0.6, (k + 0.5) * s, rng.standard_normal(n) * 200 * s).astype(np.float32)
            q = rng.integers(lo, hi + 1, n).astype(dtype)
            for op, inp, t_in, t_out in (("quantize", x, "float32", dtype), ("dequantize", q, dtype, "float32")):
                m = litert.Model()
                xt = m.tensor("x", (n,), t_in, *((s, zp) if t_in != "float32" else ()))
                yt = m.tensor("y", (n,), t_out, *((s, zp) if t_out != "float32" else ()))
                m.op(op.upper(), [xt], [yt])
                if op == "quantize":
                    spec = Q.quantize(x.tolist(), s, zp, dtype, "exact")
                else:
                    spec = np.array([float(Fraction(int(v) - zp) * Fraction(s)) for v in q], np.float32)
                col.run(op, dtype, m.build([xt], [yt]), {"x": inp}, spec,
                        lambda fam, op=op, inp=inp: _as(op, backends.variant(ROW[fam], op)(inp.tolist(), s, zp,
                                                                                           dtype=dtype)),
                        f"{configs} x {n}, ties + random, zp at the ends")


def _as(op, v):
    return np.array(v, np.float32) if op == "dequantize" else np.array(v)


def _model(op, x, dtype, s, zp, y_shape, consts=(), y_params=None, **opts):
    m = litert.Model()
    xt = m.tensor("x", x.shape, dtype, scale=s, zero_point=zp)
    extra = [m.const(f"c{i}", np.asarray(c, np.int32)) for i, c in enumerate(consts)]
    ys, yz = y_params or (s, zp)
    yt = m.tensor("y", y_shape, dtype, scale=ys, zero_point=yz)
    m.op(op, [xt, *extra], [yt], **opts)
    return m.build([xt], [yt])


def _ideal_avg(x, dtype, filt, strides, padding):
    """The ideal of a same-parameter average pool: RNE of the exact mean of the raw values."""
    return T.pool_nhwc(x, get_type(dtype), filt, strides, padding, lambda v: half_even(Fraction(sum(v), len(v))))


def spatial_rows(col, configs=10):
    """MEAN, AVERAGE/MAX_POOL_2D, PAD, CONCATENATION, RESIZE_* on small NHWC tensors."""
    for dtype in ("int8", "int16"):
        rng = _rng(("spatial", dtype))
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        for c in range(configs):
            s = float(np.float32(rng.uniform(0.01, 1)))
            zp = 0 if dtype == "int16" else int(rng.integers(-128, 128))
            x = rng.integers(lo, hi + 1, (1, *(int(v) for v in rng.integers(2, 8, 3)))).astype(dtype)
            _mean(col, rng, x, dtype, s, zp, c)
            _pools(col, x, dtype, s, zp, c)
            _movement(col, rng, x, dtype, s, zp, c)


def _mean(col, rng, x, dtype, s, zp, c):
    axes, keep = ([1, 2], True) if c % 2 else ([(3, 1, 2)[c % 3]], c % 4 == 0)
    so, zo = (s, zp) if c % 3 == 0 else (float(np.float32(rng.uniform(0.01, 1))), 0 if dtype == "int16" else 9)
    args = (x.tolist(), s, zp, so, zo)
    kw = dict(axes=axes, keepdims=keep, dtype=dtype)
    spec = np.array(qops.mean(*args, **kw))
    blob = _model("MEAN", x, dtype, s, zp, spec.shape, [axes], (so, zo), keep_dims=keep)
    col.run("mean", dtype, blob, {"x": x}, spec, lambda fam: backends.variant(ROW[fam], "mean")(*args, **kw),
            "axes (1,2) keep / one axis, equal and other params")


def _pools(col, x, dtype, s, zp, c):
    fh, fw = min(3, x.shape[1]), min(2 + c % 2, x.shape[2])
    pad, act = ("SAME", "VALID")[c % 2], ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[c % 4]
    for op in ("average_pool_2d", "max_pool_2d"):
        kw = dict(filter_hw=(fh, fw), strides=(1 + c % 2, 1), padding=pad, dtype=dtype)
        akw = dict(kw, activation=act, scale=s, zero_point=zp)
        want = np.array(backends.variant("litert_ref", op)(x.tolist(), **akw))
        lo_hi = T.activation_range(act, s, zp, dtype)
        spec = (np.clip(np.array(_ideal_avg(x.tolist(), dtype, (fh, fw), kw["strides"], pad)), *lo_hi)
                if op == "average_pool_2d" else want)
        blob = _model(op.upper(), x, dtype, s, zp, want.shape, padding=pad, stride_h=1 + c % 2, stride_w=1,
                      filter_height=fh, filter_width=fw, fused_activation_function=act)
        col.run(op, dtype, blob, {"x": x}, spec, lambda fam, op=op: backends.variant(ROW[fam], op)(x.tolist(), **akw),
                "SAME / VALID, fused activations")


def _movement(col, rng, x, dtype, s, zp, c):
    pads = [[0, 0], [c % 2, 1], [1, c % 3], [0, c % 2]]
    want = np.array(T.tflite_pad(x.tolist(), pads, zero_point=zp, dtype=dtype))
    col.run("tflite_pad", dtype, _model("PAD", x, dtype, s, zp, want.shape, [pads]), {"x": x}, want,
            lambda fam: backends.variant(ROW[fam], "tflite_pad")(x.tolist(), pads, zero_point=zp, dtype=dtype),
            "pads with the zero point")
    for op in ("resize_nearest_neighbor", "resize_bilinear"):
        ac, hp = ((False, False), (True, False), (False, True))[c % 3]
        size = tuple(int(v) for v in rng.integers(1, 12, 2))
        kw = dict(align_corners=ac, half_pixel_centers=hp, dtype=dtype)
        spec = np.array(T.VARIANTS[op]["tflite_ref"](x.tolist(), size, **kw))
        col.run(op, dtype, _model(op.upper(), x, dtype, s, zp, spec.shape, [size], align_corners=ac,
                                  half_pixel_centers=hp), {"x": x}, spec,
                lambda fam, op=op: backends.variant(ROW[fam], op)(x.tolist(), size, **kw),
                "align_corners / half_pixel" + (" (spec: the reference kernel)" if op == "resize_bilinear" else ""))
    if c % 2 == 0:
        x2 = x[..., : 1 + c % 3]
        want = np.array(T.tflite_concatenation([(x.tolist(), s, zp), (x2.tolist(), s, zp)], s, zp, axis=3,
                                               dtype=dtype))
        m = litert.Model()
        a, b = (m.tensor(n, v.shape, dtype, scale=s, zero_point=zp) for n, v in (("a", x), ("b", x2)))
        yt = m.tensor("y", want.shape, dtype, scale=s, zero_point=zp)
        m.op("CONCATENATION", [a, b], [yt], axis=3)
        col.run("concatenation", dtype, m.build([a, b], [yt]), {"a": x, "b": x2}, want, lambda fam: want,
                "equal parameters, axis 3")


# ##########################################################################
# FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D (int8): requant.METHODS rows
# ##########################################################################

def _weights(rng, shape, per_channel, n_out, c):
    w = rng.integers(-127, 128, shape).astype(np.int8)
    sw = [float(rng.choice(POW2)) if c % 2 else float(np.float32(rng.uniform(0.002, 0.05))) for _ in range(n_out)]
    return w, (sw if per_channel else sw[:1] * n_out)


def fc_rows(col, configs=6):
    rng = _rng("fc")
    for c in range(configs):
        per_channel = c % 3 != 0
        M, K, N = 8, int(rng.integers(3, 40)), int(rng.integers(2, 9))
        sa, sy = _scales(rng, c, 2)
        za, zy = (int(v) for v in rng.integers(-60, 60, 2))
        x = rng.integers(-128, 128, (M, K)).astype(np.int8)
        w, sw = _weights(rng, (N, K), per_channel, N, c)
        bias = rng.integers(-2000, 2000, N).astype(np.int32)
        m = litert.Model()
        xt = m.tensor("x", (M, K), "int8", scale=sa, zero_point=za)
        wt = m.const("w", w, scale=sw if per_channel else sw[0], zero_point=0)
        bt = m.const("b", bias, scale=[sa * v for v in sw] if per_channel else sa * sw[0], zero_point=0)
        yt = m.tensor("y", (M, N), "int8", scale=sy, zero_point=zy)
        m.op("FULLY_CONNECTED", [xt, wt, bt], [yt])

        def y(method):
            return np.array(ops.qlinear_matmul(x.tolist(), sa, za, w.T.tolist(), sw if per_channel else sw[0],
                                               [0] * N if per_channel else 0, sy, zy, method=method, a_type="int8",
                                               b_type="int8", y_type="int8", bias=bias.tolist(), op="fc"))
        col.run("fully_connected", "int8", m.build([xt], [yt]), {"x": x}, y("exact"),
                lambda fam: y(backends.get_backend(ROW[fam]).ops["fully_connected"]),
                "per-tensor and per-channel, int32 bias")


def _conv_case(rng, c, depthwise):
    H, W, C = (int(v) for v in rng.integers(3, 7, 3))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    mult = 1 + c % 2 if depthwise else 1
    n_out = C * mult if depthwise else int(rng.integers(1, 6))
    padding = ("VALID", "SAME")[c % 2]
    return H, W, C, kh, kw, mult, n_out, padding


def conv_rows(col, configs=6):
    for op in ("conv_2d", "depthwise_conv_2d"):
        rng = _rng(op)
        for c in range(configs):
            H, W, C, kh, kw, mult, n_out, padding = _conv_case(rng, c, op == "depthwise_conv_2d")
            (oh, ph), (ow, pw) = T.pool_geometry(H, kh, 1, padding), T.pool_geometry(W, kw, 1, padding)
            sa, sy = _scales(rng, c, 2)
            za, zy = (int(v) for v in rng.integers(-60, 60, 2))
            x = rng.integers(-128, 128, (1, H, W, C)).astype(np.int8)
            w_shape = (1, kh, kw, n_out) if op == "depthwise_conv_2d" else (n_out, kh, kw, C)
            w, sw = _weights(rng, w_shape, True, n_out, c)
            bias = rng.integers(-2000, 2000, n_out).astype(np.int32)
            m = litert.Model()
            xt = m.tensor("x", x.shape, "int8", scale=sa, zero_point=za)
            wt = m.const("w", w, scale=sw, zero_point=[0] * n_out, axis=3 if op == "depthwise_conv_2d" else 0)
            bt = m.const("b", bias, scale=[sa * v for v in sw], zero_point=[0] * n_out)
            yt = m.tensor("y", (1, oh, ow, n_out), "int8", scale=sy, zero_point=zy)
            extra = {"depth_multiplier": mult} if op == "depthwise_conv_2d" else {}
            m.op(op.upper(), [xt, wt, bt], [yt], padding=padding, stride_w=1, stride_h=1, **extra)
            w_oihw = (w.transpose(3, 0, 1, 2) if op == "depthwise_conv_2d" else w.transpose(0, 3, 1, 2)).tolist()
            pads = [ph, pw, (oh - 1) + kh - H - ph, (ow - 1) + kw - W - pw]

            def y(method, w_oihw=w_oihw, pads=pads, sa=sa, sy=sy, za=za, zy=zy, x=x, sw=sw, bias=bias, C=C):
                out = ops.qlinear_conv(x.transpose(0, 3, 1, 2).tolist(), sa, za, w_oihw, sw, [0] * len(sw), sy, zy,
                                       method=method, x_type="int8", w_type="int8", bias=bias.tolist(),
                                       pads=[max(0, p) for p in pads], group=C if op == "depthwise_conv_2d" else 1)
                return np.array(out).transpose(0, 2, 3, 1)
            def model(fam, y=y, op=op, x=x, w=w, sw=sw, sa=sa, za=za, sy=sy, zy=zy, bias=bias, mult=mult,
                      padding=padding):
                name = backends.get_backend(ROW[fam]).ops[op]
                if name in METHODS:
                    return y(name)
                return backends.variant(ROW[fam], op)(x.tolist(), sa, za, w.tolist(), sw, sy, zy, bias=bias.tolist(),
                                                      padding=padding, depth_multiplier=mult)
            col.run(op, "int8", m.build([xt], [yt]), {"x": x}, y("exact"), model,
                    "per-channel, VALID / SAME, int32 bias")


def backend_litert():
    """Every row of ``refquant verify litert`` (MissingBackend when ai-edge-litert is absent)."""
    need("ai_edge_litert.interpreter", "litert")
    col = Collector(litert.version())
    for make in (fc_rows, conv_rows, fc16x8_rows, conv16x8_rows, binary_rows, quantize_rows, spatial_rows):
        make(col)
    from .activations import litert_activation_rows     # LOGISTIC / TANH / LEAKY_RELU / HARD_SWISH / SOFTMAX
    return col.rows() + litert_activation_rows(litert.version())


# ##########################################################################
# int16x8: int16 activations, int8 weights, int64 bias
# ##########################################################################

def _scales_16x8(rng, c, n_out, k):
    if c % 2:   # tie-heavy: M = 2^-1 .. 2^-3, small activations
        return 2.0 ** -4, [2.0 ** -int(rng.integers(3, 6)) for _ in range(n_out)], 2.0 ** -8, 64
    sa = float(np.float32(rng.uniform(1e-4, 1e-2)))
    sw = [float(np.float32(rng.uniform(1e-3, 0.05))) for _ in range(n_out)]
    return sa, sw, float(np.float32(sa * max(sw) * k * 2000 * rng.uniform(0.5, 2))), 32768


def fc16x8_rows(col, configs=6):
    rng = _rng("fc16x8")
    for c in range(configs):
        M, K, N = 4, int(rng.integers(2, 30)), int(rng.integers(1, 6))
        sa, sw, sy, amp = _scales_16x8(rng, c, N, K)
        x = rng.integers(-amp, amp, (M, K)).astype(np.int16)
        w = rng.integers(-127, 128, (N, K)).astype(np.int8)
        bias = rng.integers(-1000, 1000, N).astype(np.int64)
        m = litert.Model()
        xt = m.tensor("x", (M, K), "int16", scale=sa, zero_point=0)
        wt = m.const("w", w, scale=sw, zero_point=[0] * N)
        bt = m.const("b", bias, scale=[sa * v for v in sw], zero_point=[0] * N)
        yt = m.tensor("y", (M, N), "int16", scale=sy, zero_point=0)
        m.op("FULLY_CONNECTED", [xt, wt, bt], [yt])

        def y(method, x=x, w=w, sa=sa, sw=sw, sy=sy, bias=bias, N=N):
            return np.array(ops.qlinear_matmul(x.tolist(), sa, 0, w.T.tolist(), sw, [0] * N, sy, 0, method=method,
                                               a_type="int16", b_type="int8", y_type="int16", bias=bias.tolist()))
        col.run("fully_connected_16x8", "int16", m.build([xt], [yt]), {"x": x}, y("exact"),
                lambda fam, y=y: y(backends.get_backend(ROW[fam]).ops["fully_connected_16x8"]),
                "per-channel, ties + random, int64 bias")


def conv16x8_rows(col, configs=6):
    for op in ("conv_2d", "depthwise_conv_2d"):
        rng = _rng((op, "16x8"))
        for c in range(configs):
            H, W, C, kh, kw, _, n_out, _ = _conv_case(rng, c, op == "depthwise_conv_2d")
            sa, sw, sy, amp = _scales_16x8(rng, c, n_out, kh * kw * C)
            x = rng.integers(-amp, amp, (1, H, W, C)).astype(np.int16)
            dw = op == "depthwise_conv_2d"
            n_out = C if dw else n_out
            sw = (sw * C)[:n_out]
            w = rng.integers(-127, 128, (1, kh, kw, n_out) if dw else (n_out, kh, kw, C)).astype(np.int8)
            bias = rng.integers(-1000, 1000, n_out).astype(np.int64)
            m = litert.Model()
            xt = m.tensor("x", x.shape, "int16", scale=sa, zero_point=0)
            wt = m.const("w", w, scale=sw, zero_point=[0] * n_out, axis=3 if dw else 0)
            bt = m.const("b", bias, scale=[sa * v for v in sw], zero_point=[0] * n_out)
            yt = m.tensor("y", (1, H - kh + 1, W - kw + 1, n_out), "int16", scale=sy, zero_point=0)
            m.op(op.upper(), [xt, wt, bt], [yt], padding="VALID", stride_w=1, stride_h=1,
                 **({"depth_multiplier": 1} if dw else {}))
            w_oihw = (w.transpose(3, 0, 1, 2) if dw else w.transpose(0, 3, 1, 2)).tolist()
            group = C if dw else 1
            spec = np.array(ops.qlinear_conv(x.transpose(0, 3, 1, 2).tolist(), sa, 0, w_oihw, sw, [0] * n_out, sy, 0,
                                             method="exact", x_type="int16", w_type="int8", y_type="int16",
                                             bias=bias.tolist(), group=group)).transpose(0, 2, 3, 1)
            acc = np.array(ops.conv_integer(x.transpose(0, 3, 1, 2).tolist(), w_oihw, 0, 0, x_type="int16",
                                            w_type="int8", group=group, bias=bias.tolist())).transpose(0, 2, 3, 1)

            def model(fam, acc=acc, sa=sa, sw=sw, sy=sy, key=f"{op}_16x8"):
                fn = backends.variant(ROW[fam], key)
                return np.array([fn(int(a), sa, sw[i[3]], sy) for i, a in np.ndenumerate(acc)]).reshape(acc.shape)
            col.run(f"{op}_16x8", "int16", m.build([xt], [yt]), {"x": x}, spec, model,
                    "per-channel VALID, ties + random, int64 bias")
