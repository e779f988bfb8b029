"""What the two ONNX peers (onnxruntime, the onnx ReferenceEvaluator) share: graph and tensor
building, reading outputs back as bit patterns (fp8 through an exact DequantizeLinear), and the
``OnnxPeer`` description an adapter fills in (its run function and the models of its deviations)."""

import numpy as np

from .versions import known


def elem_types(onnx):
    """refquant type name -> onnx TensorProto element type."""
    T = onnx.TensorProto
    return {"int8": T.INT8, "uint8": T.UINT8, "int16": T.INT16, "int32": T.INT32, "int4": T.INT4, "uint4": T.UINT4,
            "fp8_e4m3fn": T.FLOAT8E4M3FN, "fp8_e5m2": T.FLOAT8E5M2}


def x_elem_types(onnx):
    T = onnx.TensorProto
    return {"fp32": T.FLOAT, "fp16": T.FLOAT16, "bf16": T.BFLOAT16}


def make_model(onnx, node, inputs, outputs, initializers=(), opset=21):
    """A one-graph model of ``node`` (or a list of nodes) whose inputs are all initializers."""
    h = onnx.helper
    graph = h.make_graph(node if isinstance(node, list) else [node], "g", inputs, outputs, list(initializers))
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


def tensor(onnx, name, arr, elem=None):
    from onnx import numpy_helper
    if elem is not None:
        return onnx.helper.make_tensor(name, elem, list(np.shape(arr)), np.asarray(arr).reshape(-1).tolist())
    return numpy_helper.from_array(np.asarray(arr), name)


def value(onnx, name, elem, shape):
    return onnx.helper.make_tensor_value_info(name, elem, list(shape))


def as_bits(y):
    y = np.asarray(y)
    if y.dtype.itemsize == 1 and y.dtype.kind not in "iu":
        return y.view(np.uint8).astype(np.int64)
    return y.astype(np.int64)


def fp8_bits_from_f32(fmt, f):
    """The fp8 codes of binary32 values read back through DequantizeLinear (every fp8 value is one)."""
    from .. import formats
    out = np.empty(f.shape, dtype=np.int64)
    for i, v in np.ndenumerate(f):
        sign = 0x80 if np.signbit(v) else 0
        if np.isnan(v):
            out[i] = 0x7F | sign
        else:
            out[i] = formats.encode(fmt, formats.real(repr(float(v)) if np.isfinite(v) else ("-inf" if v < 0 else "inf")),
                                    "rne", "ieee")
    return out


def fp8_nan(fmt, codes):
    codes = np.asarray(codes, np.int64)
    if fmt == "fp8_e4m3fn":
        return (codes & 0x7F) == 0x7F
    return ((codes & 0x7C) == 0x7C) & ((codes & 3) != 0)


def scale_in(fmt, sc):
    """The binary32 scales as an array of x's format when each is exact there, else None."""
    sc = np.asarray(sc, np.float32)
    if fmt == "fp32":
        return sc
    if fmt == "fp16":
        v = sc.astype(np.float16)
        return v if np.array_equal(v.astype(np.float32), sc) else None
    bits = sc.view(np.uint32)
    return (bits >> 16).astype(np.uint16) if not (bits & 0xFFFF).any() else None     # bf16: the top half


def int_min(dtype):
    from ..integers import get_type
    return get_type(dtype).min


class OnnxPeer:
    """One ONNX peer as the shared rows see it.  ``run(node, inputs, outputs, inits)`` runs a graph;
    the other fields name the semantics its golden rows are compared under, and the hooks return
    the models of its documented deviations (none by default)."""
    name = ""                 # the PEERS key (and the rows' backend until the adapter stamps its version)
    q_profile = mm_method = conv_method = ""
    conv_tie = ("", "")       # (refquant method, deviation name) of the QLinearConv near-tie row
    x_formats = ("fp32",)     # the x formats its QuantizeLinear golden rows use

    def __init__(self, onnx, run):
        self.onnx, self.run = onnx, run

    def known(self, name, model, op=""):
        return known(self.name, name, model, op)

    def text(self, name, op=""):
        return known(self.name, name, None, op)[1]

    def fp8_models(self, fmt, sat, spec):
        """Models of the built-in fp8 QuantizeLinear rows (``FP8_X``, scale 1)."""
        return []

    def qlinear_models(self, c):
        """Models of a built-in QLinearMatMul row (case ``c``)."""
        return []

    def golden_quantize_row(self, r, c, spec_c, got):
        """A second look at a golden QuantizeLinear row (a deviation the golden profile does not model)."""
        return r
