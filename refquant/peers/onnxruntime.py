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
from .onnx_rows import conv_tie_row, onnx_backend_rows
from .versions import need
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


def ort_run(onnx, ort, node, inputs, outputs, initializers=(), opset=21):
    model = make_model(onnx, node, inputs, outputs, initializers, opset)
    model.ir_version = 10
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {})[0]


def backend_onnxruntime():
    onnx = need("onnx", "onnxruntime")
    ort = need("onnxruntime", "onnxruntime")

    def run(node, inputs, outputs, inits):
        return ort_run(onnx, ort, node, inputs, outputs, inits)
    peer = OrtPeer(onnx, run)
    rows = onnx_backend_rows(peer)
    rows.append(conv_tie_row(peer))
    rows += onnx_golden_rows(peer)
    rows += matmulnbits_rows()
    rows += ort_activation_rows()     # com.microsoft QLinearSigmoid / LeakyRelu / Softmax (activations)
    rows += ort_qops_rows()         # QLinearAdd/Mul/AveragePool/GlobalAveragePool/Concat, MaxPool
    rows += ort_resize_rows()       # Resize nearest: the 'ort' variant (refquant/onnx_resize.py)
    rows += float_path_rows()       # unfused DQ -> op -> Q: the 'ort_float' variants (refquant/onnx_float.py)
    for r in rows:
        r.backend = f"onnxruntime {ort.__version__}"
    return rows
