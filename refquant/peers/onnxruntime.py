"""onnxruntime (CPU execution provider) as a peer, and the models of its named deviations
(the names, texts and measured versions are the ``onnxruntime`` row of refquant/backends.py)."""

import numpy as np

from .activations import ort_activation_rows
from .cases import FP8_X, oracle_qlinear
from .conformance import golden_y, judge
from .onnx_common import OnnxPeer, int_min, make_model
from .onnx_golden import onnx_golden_rows
from .onnx_qops import ort_rows as ort_qops_rows
from .onnx_resize import ort_resize_rows
from .onnx_fusion import float_path_rows
from .onnx_rows import conv_tie_row, onnx_backend_rows, tensor
from .versions import cpu_flags as _cpu_flags, need
from .matmulnbits import matmulnbits_rows

FP8_DEVIATIONS = {"fp8_e4m3fn": "ORT fp8 E4M3FN saturate=0", "fp8_e5m2": "ORT fp8 E5M2 saturate=0"}
FP16_INF = "ORT fp16 QuantizeLinear: +inf -> qmin"


def fp8_model(fmt, x, spec):
    """The documented ORT fp8 saturate=0 deviation applied to the spec codes."""
    model = spec.copy()
    ax = np.abs(x.astype(np.float64))
    sign = (x < 0).astype(np.int64) << 7
    if fmt == "fp8_e4m3fn":
        sel = (ax >= 480) & (ax < 496)
        model[sel] = 0x7E | sign[sel]
    else:
        sel = (ax >= 61440) & (ax < 65536)
        model[sel] = 0x7F | sign[sel]
    return model


class OrtPeer(OnnxPeer):
    name = "onnxruntime"
    q_profile, mm_method, conv_method = "onnxruntime", "ort", "ort"
    conv_tie = ("ort", "binary32 requantization (ORT QLinearConv)")
    x_formats = ("fp32", "fp16")      # ORT 1.31.1 and 1.32.0: no bf16 QuantizeLinear kernel

    def fp8_models(self, fmt, sat, spec):
        return [] if sat else [self.known(FP8_DEVIATIONS[fmt], fp8_model(fmt, FP8_X, spec))]

    def qlinear_models(self, c):
        return [self.known("binary32 requantization (ORT MLAS)", oracle_qlinear(c, "ort"))]

    def golden_quantize_row(self, r, c, spec_c, got):
        """float16 x = +inf: qmin where the f32 path (and profile 'onnxruntime') gives qmax."""
        if c.params.get("x_format", "fp32") != "fp16" or golden_y(c) is None:
            return r
        model = golden_y(c).copy()
        model[np.isposinf(c.inputs["x"].astype(np.float64))] = int_min(c.params["dtype"])
        spec = golden_y(spec_c) if spec_c is not None and golden_y(spec_c) is not None else golden_y(c)
        return judge(self.name, "QuantizeLinear", r.profile, r.flag, got, spec, [self.known(FP16_INF, model)])


CONV_SAT = "ORT QLinearConv saturating int32 (zero-point-0 weights)"


def conv_int32_rows(peer, ort):
    """QLinearConv past int32 through MLAS's symmetric kernel (uint8 x, int8 w of zero point 0, 16
    output channels): the contract wraps; the model of CONV_SAT (refquant.mlas_convsym) saturates the
    raw sum x*w step by step, kernel positions outer.  One-signed cases (3x3 over C = 8192, x = 255,
    w = 127, zx = 0 and 100) and a mixed-sign one (C = 12288, w = 127 at kernel positions 0-6 and
    -128 at 7-8).  x is a graph input (fed at run time): a constant x is folded at session creation,
    which wraps."""
    from .. import mlas_convsym, ops
    if "avx512_vnni" not in _cpu_flags():
        return []    # measured with AVX-512 VNNI only: without it MLAS runs other kernels (not modelled)
    h, T = peer.onnx.helper, peer.onnx.TensorProto
    m, sx, sw, sy = 16, float(np.float32(1e-3)), float(np.float32(1e-3)), 10.0
    pos7 = np.where(np.arange(9).reshape(1, 1, 3, 3) < 7, 127, -128).astype(np.int8)
    cases = [(f"u8xs8 3x3, w zero point 0, K=73728 past int32, zx={zx}", 8192, np.full((1, 1, 3, 3), 127, np.int8), zx)
             for zx in (0, 100)]
    cases.append(("u8xs8 3x3, w zero point 0, K=110592, mixed signs (w=127 at kernel positions 0-6, -128 at 7-8)",
                  12288, pos7, 0))
    rows = []
    for label, c, w1, zx in cases:
        x, w = np.full((1, c, 3, 3), 255, np.uint8), np.repeat(np.repeat(w1, c, axis=1), m, axis=0)
        codes = [ops.qlinear_conv(x.tolist(), sx, zx, w[:1].tolist(), sw, 0, sy, 0, method="ort", w_type="int8"),
                 mlas_convsym.qlinear_conv(x.tolist(), sx, zx, w[:1].tolist(), sw, sy, 0)]
        spec, model = (np.full((1, m, 1, 1), np.asarray(v).ravel()[0], np.int64) for v in codes)  # equal channels
        node = h.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"])
        inits = [tensor(peer.onnx, "sx", np.float32(sx)), h.make_tensor("zx", T.UINT8, [], [zx]),
                 tensor(peer.onnx, "w", w), tensor(peer.onnx, "sw", np.float32(sw)), h.make_tensor("zw", T.INT8, [], [0]),
                 tensor(peer.onnx, "sy", np.float32(sy)), h.make_tensor("zy", T.UINT8, [], [0])]
        try:
            got = ort_run(peer.onnx, ort, node, [h.make_tensor_value_info("x", T.UINT8, list(x.shape))],
                          [h.make_tensor_value_info("y", T.UINT8, [1, m, 1, 1])], inits, feed={"x": x}).astype(np.int64)
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(peer.name, "QLinearConv", "onnx spec (exact, int32 wraps)", label, got, spec,
                          [peer.known(CONV_SAT, model)]))
    return rows


def ort_run(onnx, ort, node, inputs, outputs, initializers=(), opset=21, feed=None):
    model = make_model(onnx, node, inputs, outputs, initializers, opset)
    model.ir_version = 10
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feed or {})[0]


def backend_onnxruntime():
    onnx = need("onnx", "onnxruntime")
    ort = need("onnxruntime", "onnxruntime")

    def run(node, inputs, outputs, inits):
        return ort_run(onnx, ort, node, inputs, outputs, inits)
    peer = OrtPeer(onnx, run)
    rows = onnx_backend_rows(peer)
    rows.append(conv_tie_row(peer))
    rows += conv_int32_rows(peer, ort)
    rows += onnx_golden_rows(peer)
    rows += matmulnbits_rows()
    rows += ort_activation_rows()     # com.microsoft QLinearSigmoid / LeakyRelu / Softmax (activations)
    rows += ort_qops_rows()         # QLinearAdd/Mul/AveragePool/GlobalAveragePool/Concat, MaxPool
    rows += ort_resize_rows()       # Resize nearest: the 'ort' variant (refquant/onnx_resize.py)
    rows += float_path_rows()       # unfused DQ -> op -> Q: the 'ort_float' variants (refquant/onnx_float.py)
    for r in rows:
        r.backend = f"onnxruntime {ort.__version__}"
    return rows
