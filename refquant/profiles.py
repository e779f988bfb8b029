"""Backend profiles for quantize / dequantize: how each backend forms x/scale, adds the zero
point, rounds, saturates and treats NaN.  A profile is data; ``quantize.py`` reads it.

Fields (every implementation-defined choice; docs/reference/requant.md §8 lists them):
    quotient         'exact'      x / s as an exact rational (the specification's ideal)
                     'div'        fl(x / s), one IEEE division in ``quotient_format``
                     'mul_recip'  fl(x * fl(1 / s))
                     'fma_zp'     fl(fma(x, fl(1 / s), zp)): reciprocal, zero point fused, one rounding
    quotient_format  'fp32' | 'fp64' | 'scale' (the scale's format: ONNX opset-23 wording) |
                     'promote' (numpy promotion of x's and the scale's formats, onnx reference)
    zero_point       'int_after'   round, then add zp as an integer
                     'float_before' fl(q + zp) in the quotient format, then round
                     'fused'       (with 'fma_zp')
    rounding         integer rounding of the quotient: 'half_even' | 'half_away'
    clamp            'exact'  saturate the exact rounded integer (inf lands on the right end)
                     'float'  clamp the float quotient to [qmin - zp, qmax - zp] first (MLAS)
                     'x86_int32' convert to int32 as cvttsd2si (NaN/inf/|q| >= 2^31 -> INT32_MIN),
                              add zp in int32 (wrapping), then clip (the onnx reference's numpy path)
    nan              'error' | 'unpredictable' | 'qmin' | 'qmax' | 'type_min'
    dequantize       'exact'   fl((q - zp) * s) rounded once into the output format
                     'f32'     fl(fl(q - zp) * s): int32 subtraction, int32 -> f32, one f32 multiply
                     'f64'     fl32(double(s) * (q - zp)) (TFLite reference DEQUANTIZE)
    flush_subnormal  flush subnormal scale/inputs to zero (FTZ/DAZ); off unless measured
    fp8              conversion of the quotient to an fp8 target: 'ofp8' (the spec and ml_dtypes:
                     RNE, saturate=1 -> ±max, saturate=0 -> NaN / ±inf) or 'ort_1_31' (onnxruntime
                     1.31.1 and 1.32.0 as measured, onnx.md §5: saturate=0 E4M3FN gives ±448 for |q| in
                     [480, 496) and E5M2 gives NaN for |q| in [61440, 65536); E5M2 NaN is 0x7f/0xff)
"""

from dataclasses import dataclass

from .errors import UnknownNameError


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    quotient: str = "exact"
    quotient_format: str = "fp32"
    zero_point: str = "int_after"
    rounding: str = "half_even"
    clamp: str = "exact"
    nan: str = "error"
    dequantize: str = "exact"
    flush_subnormal: bool = False
    fp8: str = "ofp8"


PROFILES = {p.name: p for p in [
    Profile("exact", "the specification ideal: RNE(x / s) on exact rationals, + zp, saturate"),
    Profile("onnx", "ONNX QuantizeLinear-21/23/25 spec text: y = saturate(RNE(x / y_scale) + zp); "
            "division at the scale's precision (opset 23); NaN unspecified",
            quotient="div", quotient_format="scale", nan="unpredictable", dequantize="f32"),
    Profile("onnx_ref", "onnx 1.21.0 ReferenceEvaluator QuantizeLinear_21: numpy x / scale, rint, "
            "astype(int32) (x86: NaN/inf/huge -> INT32_MIN), + zp in int32, clip",
            quotient="div", quotient_format="promote", clamp="x86_int32", nan="type_min", dequantize="f32"),
    Profile("onnxruntime", "onnxruntime 1.31.1 CPU EP, MLAS MlasQuantizeLinear: divps, clamp in float to "
            "[qmin - zp, qmax - zp], cvtps2dq (RNE), + zp; NaN -> qmin; fp16 widened to f32",
            quotient="div", quotient_format="fp32", clamp="float", nan="qmin", dequantize="f32",
            fp8="ort_1_31"),
    Profile("torch", "torch 2.13.0+cpu quantize_per_tensor qint8/quint8 (FBGEMM legacy AVX2): "
            "RNE(fma(x, fl(1/fl(s)), zp)); NaN -> qmax; dequantize fl(fl(s) * fl(q - zp))",
            quotient="fma_zp", zero_point="fused", nan="qmax", dequantize="f32"),
    Profile("torch_qint32", "torch 2.13.0+cpu quantize_per_tensor qint32 and quantize_per_channel: "
            "RNE(fl(fl(x * inv) + zp)); qint32 NaN -> INT32_MIN",
            quotient="mul_recip", zero_point="float_before", nan="type_min", dequantize="f32"),
    Profile("torch_fake_quant", "torch 2.13.0+cpu fake_quantize_per_{tensor,channel}_affine and "
            "quantized_decomposed.quantize_per_tensor: zp + RNE(fl(x * inv))",
            quotient="mul_recip", nan="unpredictable", dequantize="f32"),
    Profile("tflite", "TFLite reference QUANTIZE: clamp(int32(std::round(x / float(s))) + zp): f32 "
            "division, ties away from zero; DEQUANTIZE float(double(s) * (q - zp)); NaN is C UB",
            quotient="div", rounding="half_away", nan="unpredictable", dequantize="f64"),
    Profile("tosa", "TOSA 1.0 float quantize lowering: MUL by fl(1/s), ADD zp in fp32, CAST fp32 -> int "
            "(RNE, saturating; NaN unpredictable)",
            quotient="mul_recip", zero_point="float_before", nan="unpredictable", dequantize="f32"),
    Profile("onnxruntime_fp16_scale", "onnxruntime 1.32.0 CPU EP QuantizeLinear-23/25 with a float16 scale: x "
            "rounded to fp16, one fp16 division, clamp in float to [qmin - zp, qmax - zp], RNE, + zp; NaN -> qmin "
            "(measured at opsets 23 and 25, docs/profiles.md); an fp32 scale or opset <= 21 is 'onnxruntime'",
            quotient="div", quotient_format="scale", clamp="float", nan="qmin", dequantize="f32", fp8="ort_1_31"),
]}


def get_profile(name):
    """The ``Profile`` called ``name`` (or the Profile itself)."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise UnknownNameError("profile", name, PROFILES) from None
