"""LiteRT as the implementation under test: an int8 ONNX QOperator model written as a TFLite model
(refquant/peers/litert.py builder, no TensorFlow) and run under one kernel family, every tensor kept.

Conversion (ONNX NCHW -> TFLite NHWC; scales and zero points copied exactly):
    QuantizeLinear of the graph input   the TFLite input is its int8 output (refquant computes the
                                        QuantizeLinear under the row's profile and feeds it)
    QLinearConv                         CONV_2D (filter OHWI) or DEPTHWISE_CONV_2D (filter 1HWM), an
                                        explicit PAD (the input zero point) and padding VALID;
                                        bias int32 with scale sx*sw_m
    QGemm (transB=1) / QLinearMatMul    FULLY_CONNECTED (weights (N, K), per-channel when given)
    com.microsoft.QLinearAdd            ADD (each input and the output keep their scale and zero point)
    Flatten / Reshape                   TRANSPOSE back to NCHW, then RESHAPE
    DequantizeLinear of a graph output  DEQUANTIZE
Anything else is not convertible (InvalidValueError naming the node and op: exit 2).
Reproduces: TFLite schema.fbs (ai-edge-litert 2.3.0): CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
int8 per-channel quantization (weights zero point 0, bias int32 at scale input*weight).
"""

import numpy as np

from ..errors import InvalidValueError
from ..peers import litert as lt
from .runner import run_node

ROWS = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}


def _s(g, name):
    return np.asarray(g.initializers[name], np.float32).reshape(-1)


def _z(g, name):
    return np.asarray(g.initializers[name]).reshape(-1).astype(np.int64)


class _Conv:
    """Build state: the TFLite model, ONNX tensor -> TFLite tensor, and which are NHWC."""

    def __init__(self, graph, shapes):
        self.g, self.m, self.t, self.nhwc, self.shapes = graph, lt.Model(), {}, set(), shapes

    def act(self, name, scale_name, zp_name, nhwc):
        if name in self.t:
            return self.t[name]
        shape = self.shapes[name]
        if nhwc:
            shape = (shape[0], shape[2], shape[3], shape[1])
            self.nhwc.add(name)
        zp = self.g.initializers[zp_name]
        t = self.m.tensor(name, shape, zp.dtype.name, scale=float(_s(self.g, scale_name)[0]),
                          zero_point=int(_z(self.g, zp_name)[0]))
        self.t[name] = t
        return t


def _conv_node(c, node):
    g = c.g
    x, sx, zx, w, sw, zw, sy, zy = node.inputs[:8]
    b = node.inputs[8] if len(node.inputs) > 8 and node.inputs[8] else None
    W = g.initializers[w]
    if np.any(_z(g, zw)):
        raise InvalidValueError(f"node {node.name!r}: TFLite needs weight zero point 0")
    M, Cg, _kH, _kW = W.shape
    group = node.attr("group", 1)
    C = Cg * group
    pads, strides = node.attr("pads", [0, 0, 0, 0]), node.attr("strides", [1, 1])
    if node.attr("dilations", [1, 1]) != [1, 1]:
        raise InvalidValueError(f"node {node.name!r}: dilated QLinearConv is not converted to TFLite")
    xin = c.act(x, sx, zx, True)
    if any(pads):
        padded = c.m.tensor(f"{x}/pad/{node.name}", (xin.shape[0], xin.shape[1] + pads[0] + pads[2],
                                                      xin.shape[2] + pads[1] + pads[3], xin.shape[3]),
                            xin.dtype, scale=xin.scale[0], zero_point=xin.zero_point[0])
        p = c.m.const(f"{node.name}/paddings", np.array([[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]],
                                                       np.int32))
        c.m.op("PAD", [xin, p], [padded])
        xin = padded
    sws = _s(g, sw)
    sxv = float(_s(g, sx)[0])
    depthwise = group > 1 and group == C
    if not depthwise and group != 1:
        raise InvalidValueError(f"node {node.name!r}: grouped (not depthwise) conv is not converted to TFLite")
    filt = np.transpose(W, (1, 2, 3, 0)) if depthwise else np.transpose(W, (0, 2, 3, 1))
    wt = c.m.const(f"{node.name}/filter", filt, scale=[float(v) for v in sws], zero_point=[0] * len(sws),
                   axis=3 if depthwise else 0)
    bias = g.initializers[b].astype(np.int32) if b else np.zeros(M, np.int32)
    bt = c.m.const(f"{node.name}/bias", bias, scale=[float(np.float32(sxv) * v) for v in sws],
                   zero_point=[0] * len(sws), dtype="int32")
    y = c.act(node.outputs[0], sy, zy, True)
    opts = {"padding": "VALID", "stride_h": strides[0], "stride_w": strides[1], "fused_activation_function": "NONE"}
    if depthwise:
        c.m.op("DEPTHWISE_CONV_2D", [xin, wt, bt], [y], depth_multiplier=M // C, **opts)
    else:
        c.m.op("CONV_2D", [xin, wt, bt], [y], **opts)


def _fc_node(c, node):
    g = c.g
    a, sa, za, b, sb, zb = node.inputs[:6]
    if node.key == "com.microsoft.QGemm":
        bias, sy, zy = node.inputs[6], node.inputs[7], node.inputs[8]
        B = g.initializers[b] if node.attr("transB", 0) else g.initializers[b].T
    else:
        bias, sy, zy = None, node.inputs[6], node.inputs[7]
        B = g.initializers[b].T
    if np.any(_z(g, zb)):
        raise InvalidValueError(f"node {node.name!r}: TFLite needs weight zero point 0")
    sbs = _s(g, sb)
    ain = c.act(a, sa, za, False)
    wt = c.m.const(f"{node.name}/weights", B, scale=[float(v) for v in sbs], zero_point=[0] * len(sbs), axis=0)
    sav = float(_s(g, sa)[0])
    bv = g.initializers[bias].astype(np.int32) if bias else np.zeros(B.shape[0], np.int32)
    bt = c.m.const(f"{node.name}/bias", bv, scale=[float(np.float32(sav) * v) for v in sbs],
                   zero_point=[0] * len(sbs), dtype="int32")
    c.m.op("FULLY_CONNECTED", [ain, wt, bt], [c.act(node.outputs[0], sy, zy, False)],
           fused_activation_function="NONE")


def _reshape_node(c, node, params):
    x = node.inputs[0]
    src = c.t[x]
    if x in c.nhwc:
        s = c.shapes[x]
        back = c.m.tensor(f"{x}/nchw", s, src.dtype, scale=src.scale[0], zero_point=src.zero_point[0])
        c.m.op("TRANSPOSE", [src, c.m.const(f"{x}/perm", np.array([0, 3, 1, 2], np.int32))], [back])
        src = back
    out = node.outputs[0]
    y = c.m.tensor(out, c.shapes[out], src.dtype, scale=src.scale[0], zero_point=src.zero_point[0])
    c.t[out] = y
    c.m.op("RESHAPE", [src, c.m.const(f"{out}/shape", np.array(c.shapes[out], np.int32))], [y])
    params[out] = params[x]


def convert(graph, shapes):
    """(TFLite model bytes, the ONNX tensor fed as its input, ONNX tensor -> TFLite name, NHWC set)."""
    c = _Conv(graph, shapes)
    params, feed, outs = {}, None, []
    for node in graph.nodes:
        k = node.key
        if k == "QuantizeLinear" and node.inputs[0] in {n for n, _, _ in graph.inputs}:
            feed = node.outputs[0]
            c.act(feed, node.inputs[1], node.inputs[2], len(shapes[feed]) == 4)
            params[feed] = (node.inputs[1], node.inputs[2])
        elif k in ("QLinearConv",):
            _conv_node(c, node)
            params[node.outputs[0]] = (node.inputs[6], node.inputs[7])
        elif k in ("com.microsoft.QGemm", "QLinearMatMul"):
            _fc_node(c, node)
        elif k == "com.microsoft.QLinearAdd":
            a, sa, za, b, sb, zb, sy, zy = node.inputs[:8]
            nhwc = a in c.nhwc
            c.m.op("ADD", [c.act(a, sa, za, nhwc), c.act(b, sb, zb, nhwc)], [c.act(node.outputs[0], sy, zy, nhwc)],
                   fused_activation_function="NONE")
        elif k in ("Flatten", "Reshape"):
            _reshape_node(c, node, params)
        elif k == "DequantizeLinear" and node.outputs[0] in graph.outputs:
            src = c.t[node.inputs[0]]
            y = c.m.tensor(node.outputs[0], src.shape, "float32")
            c.t[node.outputs[0]] = y
            if node.inputs[0] in c.nhwc:
                c.nhwc.add(node.outputs[0])
            c.m.op("DEQUANTIZE", [src], [y])
            outs.append(y)
        else:
            raise InvalidValueError(f"node {node.name!r}: op {k!r} is not converted to a TFLite model "
                                    f"(supported: QuantizeLinear of the input, QLinearConv, QGemm, QLinearMatMul, "
                                    f"QLinearAdd, Flatten, Reshape, DequantizeLinear of an output)")
    if feed is None:
        raise InvalidValueError("the model has no QuantizeLinear of its input: nothing to feed the TFLite model")
    return c.m.build(inputs=[c.t[feed]], outputs=outs or [c.t[graph.nodes[-1].outputs[0]]]), feed, c


def run_litert(graph, feeds, family):
    """{ONNX tensor: array (NCHW)} of the converted model under ``family``, and the TFLite input fed."""
    from .runner import run
    shapes = {k: v.v.shape for k, v in run(graph, feeds, ROWS[family]).values.items()}
    blob, feed, c = convert(graph, shapes)
    qnode = next(n for n in graph.nodes if n.outputs[0] == feed)
    fed = run_node(graph, qnode, {qnode.inputs[0]: feeds[qnode.inputs[0]]}, ROWS[family])[0].v
    x = np.transpose(fed, (0, 2, 3, 1)) if feed in c.nhwc else fed
    res = lt.run(blob, {feed: x}, family, preserve=True)
    out = {feed: fed}
    for name, t in c.t.items():
        a = res.outputs.get(t.name, res.tensors.get(t.name))
        if a is not None and name != feed:
            out[name] = np.transpose(a, (0, 3, 1, 2)) if name in c.nhwc else a
    return out

