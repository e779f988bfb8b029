"""The ops suite: quantized element-wise ops and activations, one group per op x backend variant.

Every group runs one variant (``backends.op_variants``) of one op on the same inputs as the other
variants of that op, so that a dump can be matched against each backend's arithmetic; the test
params name the op and the variant (refquant/golden/variant_ops.py).
"""

from fractions import Fraction

from ...requant import fl32
from ..compute import Tensor
from ._common import _case, _f32, _fhex

I8 = list(range(-128, 128))
EDGES8 = [-128, -127, -1, 0, 1, 126, 127]
I16 = sorted(set(range(-32768, 32768, 251)) | {-32768, -32767, -1, 0, 1, 32766, 32767})

BINARY = {"add": ("exact", "ort", "onnx_ref", "tflite_ref", "tflite_optimized", "xnnpack", "tosa_single",
                  "tosa_double"),
          "sub": ("exact", "onnx_ref", "tflite_ref", "xnnpack", "tosa_single", "tosa_double"),
          "mul": ("exact", "ort", "onnx_ref", "tflite_ref", "tflite_optimized", "xnnpack", "tosa_single",
                  "tosa_double")}
# op -> (variants, dtype, (sx, zx, sy, zy), attrs, inputs)
UNARY = {
    "sigmoid": (("exact", "ort_qlinear", "tflite_lut", "xnnpack_lut", "tflm_fixed", "tosa_table"), "int8",
                (fl32(Fraction(6, 100)), 10, Fraction(1, 256), -128), {}, I8),
    "tanh": (("exact", "tflite_lut", "xnnpack_lut", "tflm_fixed", "tosa_table"), "int8",
             (fl32(Fraction(3, 100)), -5, Fraction(1, 128), 0), {}, I8),
    "leaky_relu": (("exact", "onnx_ref", "ort_qlinear", "tflite_ref", "xnnpack"), "int8",
                   (fl32(Fraction(5, 100)), 3, fl32(Fraction(4, 100)), -2), {"alpha": 0.1}, I8),
    "hard_swish": (("exact", "tflite_ref"), "int8", (fl32(Fraction(4, 100)), -20, fl32(Fraction(3, 100)), -60), {},
                   I8),
    "relu": (("exact", "onnx_ref"), "int8", (fl32(Fraction(5, 100)), 7, fl32(Fraction(4, 100)), -128), {}, I8),
    "sigmoid_int16": (("exact", "tflite_ref", "tflite_optimized", "tosa_table"), "int16",
                      (Fraction(1, 4096), 0, Fraction(1, 32768), 0), {}, I16),
    "tanh_int16": (("exact", "tflite_ref", "tflite_optimized", "tosa_table"), "int16",
                   (fl32(Fraction(1, 3000)), 0, Fraction(1, 32768), 0), {}, I16),
}
# ONNX pools (NCHW, qunary convention: scales positional, geometry in attrs): op -> (variants, q, attrs)
POOL_Q = (fl32(Fraction(5, 100)), 3, fl32(Fraction(4, 100)), -7)
ONNX_POOLS = {
    "avg_pool": (("exact", "ort", "onnx_ref"), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    "global_avg_pool": (("exact", "ort", "onnx_ref"), {}),
}
# ops whose every argument is an attribute (NHWC for TFLite and TOSA; max_pool NCHW): op -> (variants, attrs)
TENSOR_POOLS = {
    "max_pool": (("exact",), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "dtype": "int8"}),
    "average_pool_2d": (("tflite_ref",), {"filter_hw": [3, 3], "strides": [2, 2], "padding": "SAME", "dtype": "int8"}),
    "max_pool_2d": (("tflite_ref",), {"filter_hw": [3, 3], "strides": [2, 2], "padding": "SAME", "dtype": "int8"}),
    "tosa_avg_pool2d": (("tosa",), {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1], "input_zp": 3,
                                    "output_zp": -7, "in_type": "int8"}),
    "tosa_max_pool2d": (("tosa",), {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1], "in_type": "int8"}),
}
NCHW = ("max_pool",)
BINARY_Q = (fl32(Fraction(7, 100)), 5, fl32(Fraction(4, 100)), -9, fl32(Fraction(9, 100)), 3)
MUL_Q = (fl32(Fraction(7, 100)), 5, fl32(Fraction(4, 100)), -9, fl32(Fraction(15, 100)), 3)


def _qparams(names, values):
    return {n: (_fhex(_f32(v)) if n.startswith("s") else v) for n, v in zip(names, values)}


def _binary_group(rng, op, variant, data):
    q = _qparams(("sa", "za", "sb", "zb", "sy", "zy"), MUL_Q if op == "mul" else BINARY_Q)
    params = {"op": op, "variant": variant, "dtype": "int8", **q}
    cases = [_case(f"{op}/{variant}/{name}", comment, params, {"a": Tensor("i8", [len(a)], a),
                                                                "b": Tensor("i8", [len(b)], b)}, flags)
             for name, comment, a, b, flags in data]
    return {"op": "qbinary", "profile": f"{op}.{variant}", "params": {"op": op, "variant": variant},
            "comment": f"quantized {op}, backend variant {variant} (refquant.backends.op_variants)", "cases": cases}


def _unary_group(op, variant):
    variants, dtype, qv, attrs, xs = UNARY[op]
    params = {"op": op, "variant": variant, "dtype": dtype, **_qparams(("sx", "zx", "sy", "zy"), qv)}
    if attrs:
        params["attrs"] = attrs
    short = "i8" if dtype == "int8" else "i16"
    what = "every int8 code" if dtype == "int8" else f"{len(xs)} int16 values (step 251 and the ends)"
    case = _case(f"{op}/{variant}/sweep", what, params, {"x": Tensor(short, [len(xs)], xs)}, ["every_code"]
                 if dtype == "int8" else [])
    return {"op": "qunary", "profile": f"{op}.{variant}", "params": {"op": op, "variant": variant},
            "comment": f"quantized {op}, backend variant {variant} (refquant.backends.op_variants)", "cases": [case]}


def _pool_group(op, variant, x, shape):
    onnx = op in ONNX_POOLS
    attrs = ONNX_POOLS[op][1] if onnx else TENSOR_POOLS[op][1]
    params = {"op": op, "variant": variant, "dtype": "int8"}
    if onnx:
        params.update(_qparams(("sx", "zx", "sy", "zy"), POOL_Q))
    if attrs:
        params["attrs"] = attrs
    layout = "NCHW" if onnx or op in NCHW else "NHWC"
    case = _case(f"{op}/{variant}/random", f"random int8 input {shape} ({layout})", params,
                 {"x": Tensor("i8", shape, x, layout)}, ["random"])
    return {"op": "qunary" if onnx else "qtensor", "profile": f"{op}.{variant}", "params": {"op": op, "variant": variant},
            "comment": f"quantized {op}, backend variant {variant} (refquant.backends.op_variants)", "cases": [case]}


def build_ops(rng):
    """One group per op x variant: binary ops on random and edge int8 pairs, activations on every int8
    code (int16: a strided selection)."""
    a = [rng.randint(-128, 127) for _ in range(48)]
    b = [rng.randint(-128, 127) for _ in range(48)]
    ea = [x for x in EDGES8 for _ in EDGES8]
    eb = [y for _ in EDGES8 for y in EDGES8]
    data = [("random", "48 random int8 pairs", a, b, ["random"]),
            ("edges", "every pair of the int8 edge values -128, -127, -1, 0, 1, 126, 127", ea, eb, [])]
    groups = [_binary_group(rng, op, v, data) for op, vs in BINARY.items() for v in vs]
    groups += [_unary_group(op, v) for op, spec in UNARY.items() for v in spec[0]]
    x = [rng.randint(-128, 127) for _ in range(50)]     # one 2 x 5 x 5 input, read as NCHW or as NHWC
    for op, (variants, _) in [*ONNX_POOLS.items(), *TENSOR_POOLS.items()]:
        shape = [1, 2, 5, 5] if op in ONNX_POOLS or op in NCHW else [1, 5, 5, 2]
        groups += [_pool_group(op, v, x, shape) for v in variants]
    return groups
