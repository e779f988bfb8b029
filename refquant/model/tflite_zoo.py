"""Seeded TFLite full-integer test models, written with the flatbuffer builder of
refquant/peers/litert.py (no TensorFlow, nothing downloaded).

    cnn        float32 1x16x16x3 -> QUANTIZE int8 -> CONV_2D (per-channel, SAME, RELU6) ->
               DEPTHWISE_CONV_2D (SAME, RELU) -> ADD (residual) -> CONV_2D (stride 2, VALID) ->
               AVERAGE_POOL_2D -> MEAN (axes 1, 2) -> FULLY_CONNECTED -> SOFTMAX -> DEQUANTIZE
               (the small CNN of the ONNX zoo, as TFLite int8 with per-channel filters)
    ops        int8 1x8x8x4 through PAD, MAX_POOL_2D, MUL, SUB, LOGISTIC, TANH, HARD_SWISH,
               LEAKY_RELU, CONCATENATION, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, TRANSPOSE, RESHAPE,
               FULLY_CONNECTED (RELU), DEQUANTIZE
    int16x8    float32 1x8x8x3 -> QUANTIZE int16 -> CONV_2D 16x8 -> DEPTHWISE_CONV_2D 16x8 -> ADD int16 ->
               LOGISTIC int16 -> FULLY_CONNECTED 16x8 -> DEQUANTIZE
    ops16      float32 1x6x6x4 -> two QUANTIZE int16 (2^-10, 2^-9) -> ADD (pot_scale_int16), SUB (RELU), MUL,
               TANH, LOGISTIC, SOFTMAX, LEAKY_RELU, AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION, PAD,
               RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, TRANSPOSE, MEAN, DEQUANTIZE (all int16)
    conv_ties  float32 1x8x8x4 -> QUANTIZE -> CONV_2D (8 filters 3x3, sx*sw/sy = 2^-3: every accumulator
               = 4 mod 8 is a rounding tie) -> DEQUANTIZE: the reference and optimized CONV_2D part here

Scales are chosen from the weights' statistics so that activations spread over the int8 grid
(an accumulator of K terms has a standard deviation of about sqrt(K) * 40 * 73 LSB products).
"""

import numpy as np

from ..errors import UnknownNameError
from ..peers import litert as lt

MODELS = ("cnn", "ops", "int16x8", "ops16", "conv_ties")


def _f32(v):
    return float(np.float32(v))


class _B:
    """Builder state: the model, a generator, and the helpers that add quantized layers."""

    def __init__(self, seed, act="int8"):
        self.m, self.rng, self.act, self.n = lt.Model(), np.random.default_rng(seed), act, 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def t(self, shape, scale, zp=0, base="t"):
        return self.m.tensor(self.name(base), shape, self.act, scale=_f32(scale), zero_point=zp)

    def conv(self, x, cout, k, stride=1, padding="SAME", act="NONE", depthwise=False, sy=None):
        n, h, w, c = x.shape
        shape = (1, k, k, c) if depthwise else (cout, k, k, c)
        cout = c if depthwise else cout
        wq = self.rng.integers(-127, 128, shape).astype(np.int8)
        sw = [_f32(self.rng.uniform(0.002, 0.02)) for _ in range(cout)]
        K = k * k * (1 if depthwise else c)
        if sy is None:
            sy = x.scale[0] * float(np.mean(sw)) * np.sqrt(K) * 73.0
        ft = self.m.const(self.name("filter"), wq, scale=sw, zero_point=[0] * cout, axis=3 if depthwise else 0)
        bias = self.rng.integers(-300, 300, cout).astype(np.int64 if self.act == "int16" else np.int32)
        bt = self.m.const(self.name("bias"), bias, scale=[_f32(x.scale[0] * s) for s in sw], zero_point=[0] * cout,
                          dtype="int64" if self.act == "int16" else "int32")
        oh = -(-h // stride) if padding == "SAME" else (h - k) // stride + 1
        ow = -(-w // stride) if padding == "SAME" else (w - k) // stride + 1
        y = self.t((n, oh, ow, cout), sy, 0 if self.act == "int16" else int(self.rng.integers(-20, 20)), "conv")
        opts = dict(padding=padding, stride_h=stride, stride_w=stride, fused_activation_function=act)
        if depthwise:
            self.m.op("DEPTHWISE_CONV_2D", [x, ft, bt], [y], depth_multiplier=1, **opts)
        else:
            self.m.op("CONV_2D", [x, ft, bt], [y], **opts)
        return y

    def fc(self, x, n_out, act="NONE"):
        k = x.shape[-1]
        wq = self.rng.integers(-127, 128, (n_out, k)).astype(np.int8)
        sw = [_f32(self.rng.uniform(0.002, 0.02)) for _ in range(n_out)]
        wt = self.m.const(self.name("weights"), wq, scale=sw, zero_point=[0] * n_out)
        b16 = self.act == "int16"
        bt = self.m.const(self.name("bias"), self.rng.integers(-300, 300, n_out), dtype="int64" if b16 else "int32",
                          scale=[_f32(x.scale[0] * s) for s in sw], zero_point=[0] * n_out)
        sy = x.scale[0] * float(np.mean(sw)) * np.sqrt(k) * 73.0
        y = self.t(x.shape[:-1] + (n_out,), sy, 0 if b16 else int(self.rng.integers(-20, 20)), "fc")
        self.m.op("FULLY_CONNECTED", [x, wt, bt], [y], fused_activation_function=act)
        return y

    def binary(self, opcode, a, b, sy, zy=0, act="NONE"):
        y = self.t(a.shape, sy, zy, opcode.lower())
        opts = {} if opcode == "MUL" else {"pot_scale_int16": False}
        self.m.op(opcode, [a, b], [y], fused_activation_function=act, **opts)
        return y

    def unary(self, opcode, x, sy, zy, **opts):
        y = self.t(x.shape, sy, zy, opcode.lower())
        self.m.op(opcode, [x], [y], **opts)
        return y

    def same(self, opcode, x, shape, *consts, **opts):
        """An op whose output keeps the input's quantization (pools, pad, movement)."""
        y = self.m.tensor(self.name(opcode.lower()), shape, self.act, scale=x.scale[0], zero_point=x.zero_point[0])
        cs = [self.m.const(self.name("c"), np.asarray(c, np.int32)) for c in consts]
        self.m.op(opcode, [x, *cs], [y], **opts)
        return y

    def quantize(self, shape, scale, zp=0):
        x = self.m.tensor("input", shape, "float32")
        q = self.t(shape, scale, zp, "quantized")
        self.m.op("QUANTIZE", [x], [q])
        return x, q

    def dequantize(self, q):
        y = self.m.tensor("output", q.shape, "float32")
        self.m.op("DEQUANTIZE", [q], [y])
        return y


def cnn(seed=0, size=16):
    """The small CNN at a ``size`` x ``size`` input (16 for the tests; larger for timing)."""
    b = _B(seed)
    x, q = b.quantize((1, size, size, 3), 0.02, -3)
    c1 = b.conv(q, 8, 3, act="RELU6")
    d1 = b.conv(c1, 8, 3, depthwise=True, act="RELU")
    r = b.binary("ADD", c1, d1, _f32(c1.scale[0] + d1.scale[0]), -10)
    c2 = b.conv(r, 16, 3, stride=2, padding="VALID")
    ph = (c2.shape[1] - 3) // 2 + 1
    p = b.same("AVERAGE_POOL_2D", c2, (1, ph, ph, 16), padding="VALID", stride_h=2, stride_w=2, filter_height=3,
               filter_width=3, fused_activation_function="NONE")
    g = b.t((1, 16), p.scale[0], p.zero_point[0], "mean")
    b.m.op("MEAN", [p, b.m.const(b.name("axes"), np.array([1, 2], np.int32))], [g], keep_dims=False)
    f = b.fc(g, 10)
    s = b.unary("SOFTMAX", f, 1 / 256, -128, beta=_f32(3 / (40 * f.scale[0])))   # logits spread over ~3
    return b.m.build([x], [b.dequantize(s)])


def ops(seed=0):
    b = _B(seed)
    x = b.t((1, 8, 8, 4), 0.02, 3, "input")
    p = b.same("PAD", x, (1, 10, 9, 4), [[0, 0], [1, 1], [0, 1], [0, 0]])
    mp = b.same("MAX_POOL_2D", p, (1, 5, 5, 4), padding="SAME", stride_h=2, stride_w=2, filter_height=2,
                filter_width=2, fused_activation_function="RELU")
    m = b.binary("MUL", mp, mp, 0.04, -100)
    s = b.binary("SUB", m, mp, 0.03, -20, act="RELU6")
    lg = b.unary("LOGISTIC", s, 1 / 256, -128)
    th = b.unary("TANH", mp, 1 / 128, 0)
    hs = b.unary("HARD_SWISH", mp, 0.02, -7)
    lr = b.unary("LEAKY_RELU", th, 1 / 128, 0, alpha=0.2)
    hs2 = b.t(hs.shape, lr.scale[0], lr.zero_point[0], "rescaled")
    b.m.op("LEAKY_RELU", [hs], [hs2], alpha=1.0)
    cat = b.m.tensor(b.name("concat"), (1, 5, 5, 8), "int8", scale=lr.scale[0], zero_point=lr.zero_point[0])
    b.m.op("CONCATENATION", [lr, hs2], [cat], axis=3, fused_activation_function="NONE")
    rn = b.same("RESIZE_NEAREST_NEIGHBOR", cat, (1, 7, 6, 8), [7, 6], align_corners=False, half_pixel_centers=True)
    rb = b.same("RESIZE_BILINEAR", lg, (1, 6, 7, 4), [6, 7], align_corners=False, half_pixel_centers=True)
    tr = b.same("TRANSPOSE", rn, (1, 8, 7, 6), [0, 3, 1, 2])
    rs = b.same("RESHAPE", tr, (8, 42), [8, 42])
    f = b.fc(rs, 5, act="RELU")
    rs2 = b.same("RESHAPE", rb, (1, 168), [1, 168])
    return b.m.build([x], [b.dequantize(f), rs2])


def int16x8(seed=0):
    b = _B(seed, "int16")
    x, q = b.quantize((1, 8, 8, 3), 2.0 ** -11)
    c1 = b.conv(q, 6, 3)
    d1 = b.conv(c1, 6, 3, depthwise=True)
    r = b.binary("ADD", c1, d1, _f32(c1.scale[0] + d1.scale[0]))
    lg = b.unary("LOGISTIC", r, 2.0 ** -15, 0)
    rs = b.same("RESHAPE", lg, (1, 384), [1, 384])
    f = b.fc(rs, 8)
    return b.m.build([x], [b.dequantize(f)])


def ops16(seed=0):
    """The int16 operators (zero points 0, power-of-two and general scales) on one seeded input."""
    b = _B(seed, "int16")
    x = b.m.tensor("input", (1, 6, 6, 4), "float32")
    q, q2 = b.t(x.shape, 2.0 ** -10), b.t(x.shape, 2.0 ** -9)
    b.m.op("QUANTIZE", [x], [q])
    b.m.op("QUANTIZE", [x], [q2])
    a = b.t(x.shape, 2.0 ** -9, base="add_pot")
    b.m.op("ADD", [q, q2], [a], pot_scale_int16=True, fused_activation_function="NONE")
    s = b.binary("SUB", a, q, 0.0011, act="RELU")
    m = b.binary("MUL", s, q, 0.004)
    th = b.unary("TANH", m, 2.0 ** -15, 0)
    lg = b.unary("LOGISTIC", s, 2.0 ** -15, 0)
    sm = b.unary("SOFTMAX", a, 2.0 ** -15, 0, beta=1.0)
    lr = b.unary("LEAKY_RELU", q, 0.0007, 0, alpha=0.3)
    ap = b.same("AVERAGE_POOL_2D", th, (1, 3, 3, 4), padding="SAME", stride_h=2, stride_w=2, filter_height=3,
                filter_width=3, fused_activation_function="NONE")
    mp = b.same("MAX_POOL_2D", lg, (1, 3, 3, 4), padding="VALID", stride_h=2, stride_w=2, filter_height=2,
                filter_width=2, fused_activation_function="NONE")
    cat = b.m.tensor(b.name("concat"), (1, 3, 3, 8), "int16", scale=2.0 ** -15, zero_point=0)
    b.m.op("CONCATENATION", [ap, mp], [cat], axis=3, fused_activation_function="NONE")
    pd = b.same("PAD", cat, (1, 5, 4, 8), [[0, 0], [1, 1], [0, 1], [0, 0]])
    rn = b.same("RESIZE_NEAREST_NEIGHBOR", pd, (1, 7, 6, 8), [7, 6], align_corners=False, half_pixel_centers=True)
    rb = b.same("RESIZE_BILINEAR", sm, (1, 9, 8, 4), [9, 8], align_corners=False, half_pixel_centers=True)
    tr = b.same("TRANSPOSE", lr, (1, 4, 6, 6), [0, 3, 1, 2])
    mn = b.t((1, 1, 1, 4), 0.0009, base="mean")
    b.m.op("MEAN", [a, b.m.const(b.name("axes"), np.array([1, 2], np.int32))], [mn], keep_dims=True)
    return b.m.build([x], [b.dequantize(rn), rb, tr, mn])


def conv_ties(seed=0):
    b = _B(seed)
    x, q = b.quantize((1, 8, 8, 4), 0.5, 0)
    ft = b.m.const("filter", b.rng.integers(-127, 128, (8, 3, 3, 4)).astype(np.int8), scale=[0.25] * 8,
                   zero_point=[0] * 8, axis=0)
    bt = b.m.const("bias", np.zeros(8, np.int32), scale=[0.125] * 8, zero_point=[0] * 8)
    y = b.t((1, 8, 8, 8), 1.0, 0, "conv")
    b.m.op("CONV_2D", [q, ft, bt], [y], padding="SAME", stride_h=1, stride_w=1, fused_activation_function="NONE")
    return b.m.build([x], [b.dequantize(y)])


def build(name, seed=0, **kw):
    """The bytes of test model ``name`` (one of MODELS); ``kw``: size= for cnn."""
    fns = {"cnn": cnn, "ops": ops, "int16x8": int16x8, "ops16": ops16, "conv_ties": conv_ties}
    if name not in fns:
        raise UnknownNameError("TFLite test model", name, MODELS)
    return fns[name](seed, **kw)


def write(name, path, seed=0, **kw):
    """Write test model ``name`` to ``path`` (a .tflite file); returns the path."""
    from pathlib import Path
    p = Path(path)
    p.write_bytes(build(name, seed, **kw))
    return p
