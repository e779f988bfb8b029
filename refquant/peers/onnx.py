"""The onnx ReferenceEvaluator as a peer (the names, texts and measured versions of its deviations
are the ``onnx_ref`` row of refquant/backends.py; its models are refquant's 'onnx_ref' profile and
methods)."""

import warnings

from .cases import oracle_qlinear
from .onnx_common import OnnxPeer, make_model
from .onnx_golden import onnx_golden_rows
from .onnx_qops import ref_rows as ref_qops_rows
from .onnx_resize import ref_resize_rows
from .onnx_rows import conv_tie_row, onnx_backend_rows
from .versions import need


class OnnxRefPeer(OnnxPeer):
    name = "onnx"
    q_profile, mm_method, conv_method = "onnx_ref", "onnx_ref", "onnx_ref_conv"
    conv_tie = ("onnx_ref_conv", "binary64 product, clip, round (onnx reference QLinearConv)")

    def qlinear_models(self, c):
        model = oracle_qlinear(c, "onnx_ref")
        return [self.known("onnx reference wraps (no saturation)", model),
                self.known("binary64 requantization (onnx reference)", model)]


def backend_onnx():
    onnx = need("onnx", "onnx")
    from onnx.reference import ReferenceEvaluator

    def run(node, inputs, outputs, inits):
        return ReferenceEvaluator(make_model(onnx, node, inputs, outputs, inits)).run(None, {})[0]
    peer = OnnxRefPeer(onnx, run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # numpy overflow/cast warnings of the evaluator (inf, NaN inputs)
        rows = onnx_backend_rows(peer)
        rows.append(conv_tie_row(peer))
        rows += onnx_golden_rows(peer)
    rows += ref_qops_rows()     # QDQ Add/Sub/Mul/Relu/LeakyRelu/Clip/AveragePool/GlobalAveragePool/Concat
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows += ref_resize_rows()   # Resize nearest: the 'onnx_ref' variant (refquant/onnx_resize.py)
    for r in rows:
        r.backend = f"onnx {onnx.__version__} reference"
    return rows
