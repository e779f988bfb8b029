"""The named deviations of the LiteRT backend rows, as data: for each (op, variant or requantization
method) a family computes instead of the ideal, the deviation's name and text.  refquant/backends.py
turns them into ``Deviation`` rows (``_litert_devs``); ``refquant verify litert`` judges every
difference against them.  Measured on ai-edge-litert 2.3.0 (docs/ops.md, "TFLite / LiteRT ops").

Reproduces: TFLite / LiteRT 2.3.0 kernels (tensorflow/lite/kernels/internal reference and optimized_ops,
XNNPACK qs8 microkernels), as refquant/tflite_ops.py and refquant/requant.py model them.
"""

_ADD_REF = ("TFLite ADD/SUB: input multipliers after a left shift, double-rounding MBQM",
            "reference and optimized ADD/SUB (int16: the general-scale path): each input (q - z) << 20 (int16: 15) "
            "scaled by its multiplier sa/2max(sa,sb), summed, scaled by 2max/(2^20 sy), each MBQM rounding twice "
            "(refquant/tflite_ops.py tflite_add / tflite_sub)")
_ADD_XNN = ("XNNPACK ADD/SUB: binary32 ratios, 2^20-scaled multipliers, one shift (ties toward +inf)",
            "XNNPACK qs8 add: multipliers lrintf(fl32(s/sy) 2^shift), (bias + ma a + mb b) >> shift (refquant/"
            "tflite_ops.py xnnpack_add / xnnpack_sub)")
_CONV_REF = ("TFLite CONV_2D / DEPTHWISE_CONV_2D reference: double-rounding MBQM (method 'tflite_double')",
             "SRDHM then RDBPOT per output channel (refquant method 'tflite_double')")
# (op, variant or requantization method) -> (deviation name, text): what the family computes instead of
# the ideal; refquant verify litert judges every difference against it (docs/ops.md, TFLite / LiteRT ops).
LITERT_NAMED = {
    ("add", "tflite_ref"): _ADD_REF, ("sub", "tflite_ref"): _ADD_REF,
    ("add", "xnnpack"): _ADD_XNN, ("sub", "xnnpack"): _ADD_XNN,
    ("add", "tflite_optimized"): ("TFLite optimized ADD: int16 vector blocks scale the inputs with one rounding",
                                  "int8 and the n mod 16 tail as the reference; int16 blocks of 16 scale each input "
                                  "with a single-rounding MBQM (ties toward +inf), then the reference's output MBQM "
                                  "(tflite_add_optimized; reproducer in docs/ops.md)"),
    ("mul", "tflite_ref"): ("TFLite MUL: one double-rounding MBQM", "MBQM((a-za)(b-zb), QuantizeMultiplier("
                            "fl32(fl32(sa sb)/sy))) + zy (refquant/tflite_ops.py tflite_mul)"),
    ("mul", "tflite_optimized"): ("TFLite optimized MUL: int16 lanes, zero point added with wrap",
                                  "as the reference, but 16-wide blocks saturate MBQM to int16 and add zy with int16 "
                                  "wrap: a saturating product can land on the other end (tflite_mul_optimized)"),
    ("mul", "xnnpack"): ("XNNPACK MUL: binary32 requantization, RNE", "RNE(fl32(acc fl32(fl32(sa sb)/sy))) + zy "
                         "(refquant/tflite_ops.py xnnpack_mul)"),
    ("quantize", "tflite_ref"): ("TFLite QUANTIZE: fl32(x/s), ties away from zero",
                                 "zp + round(fl32(x/s)) half away (refquant profile 'tflite'; tflite_quantize)"),
    ("quantize", "tflite_optimized"): ("TFLite optimized QUANTIZE: 8-wide RNE(x*fl32(1/s)), scalar tail ties away",
                                       "blocks of 8: zp + RNE(fl32(x fl32(1/s))); the n mod 8 tail: zp + round("
                                       "fl64(x/s)) half away (tflite_quantize_optimized)"),
    ("quantize", "xnnpack"): ("XNNPACK QUANTIZE: RNE(fl32(x*fl32(1/s)))", "zp + RNE(fl32(x fl32(1/s))) on every "
                              "element (= refquant profile 'torch_fake_quant'; xnnpack_quantize)"),
    ("dequantize", "tflite_optimized"): ("TFLite optimized DEQUANTIZE: fl32(fl32(q*s) + fl32(-zp*s)) in 8-wide "
                                         "blocks", "two binary32 roundings where the reference rounds once; "
                                         "the tail as the reference (tflite_dequantize_optimized)"),
    ("mean", "tflite_ref"): ("TFLite MEAN: multiplier readapted by 1/n, double-rounding MBQM",
                             "MBQM(sum - n zx, m', s') + zy with QuantizeMultiplier(sx/sy) folded with 1/n "
                             "(tflite_mean)"),
    ("mean", "tflite_optimized"): ("TFLite optimized MEAN (4-D, axes 1 and 2): binary32 rescale, rounded "
                                   "zero-point bias", "MBQM(sum, QuantizeMultiplier(fl32(sx/fl32(n sy)))) + zy - "
                                   "round(fl32(zx sx/sy)), 16-channel blocks shift ties up; else the reference"),
    ("mean", "xnnpack"): ("XNNPACK MEAN: binary32 scale of the raw sum, one float bias",
                          "RNE(fl32(fl32(sum S) + fl32(zy - fl32(n zx S)))), S = fl32(fl32(sx/sy)/n) (xnnpack_mean)"),
    ("average_pool_2d", "tflite_ref"): ("TFLite AVERAGE_POOL_2D: raw average, ties away from zero",
                                        "(sum +- count/2) / count in C integers: ties away from zero where the "
                                        "ideal rounds half to even (tflite_average_pool)"),
    ("resize_bilinear", "xnnpack"): ("XNNPACK RESIZE_BILINEAR: binary32 coordinates, Q11 weights, ties toward +inf",
                                     "weights lrintf(alpha 2^11), (acc + 2^21) >> 22, where the reference uses "
                                     "1/1024 integer coordinates and rounds half away (xnnpack_resize_bilinear)"),
    ("fully_connected", "tflite_fc_float"): ("TFLite FULLY_CONNECTED reference: std::round(double(acc)*in*w/out) "
                                             "(method 'tflite_fc_float')", "binary64 products, rounded half away"),
    ("fully_connected_16x8", "tflite_fc_float"): ("TFLite int16x8 FULLY_CONNECTED: std::round(double(acc)*in*w/out) "
                                                  "(method 'tflite_fc_float')", "int16 activations, int8 weights, "
                                                  "int64 bias: every family runs the reference's binary64 path"),
    ("conv_2d_16x8", "tflite_ref"): ("TFLite int16x8 CONV_2D / DEPTHWISE_CONV_2D: 16-bit multiplier, one rounding",
                                     "MBQM(int64 acc) with the multiplier rounded to 16 bits, ties toward +inf "
                                     "(tflite_conv.requantize_16x8); every family"),
    ("depthwise_conv_2d_16x8", "tflite_ref"): ("TFLite int16x8 CONV_2D / DEPTHWISE_CONV_2D: 16-bit multiplier, one "
                                               "rounding", "MBQM(int64 acc) with the multiplier rounded to 16 bits, "
                                               "ties toward +inf (tflite_conv.requantize_16x8); every family"),
    ("conv_2d", "tflite_double"): _CONV_REF, ("depthwise_conv_2d", "tflite_double"): _CONV_REF,
    ("depthwise_conv_2d", "tflite_optimized"): ("TFLite optimized DEPTHWISE_CONV_2D: ruy rounding in 8-channel "
                                                "blocks", "output channels in whole blocks of 8 round as method "
                                                "'ruy_x86' (ties toward +inf), the n mod 8 others as 'tflite_double' "
                                                "(tflite_depthwise_conv_optimized)"),
    ("*", "ruy_x86"): ("ruy x86 requantization: two roundings, ties toward +inf (method 'ruy_x86')",
                       "the optimized FULLY_CONNECTED / CONV_2D (ruy AVX2 / AVX-512 kernels)"),
    ("*", "xnnpack_fp32"): ("XNNPACK fp32 requantization: fl32(acc * fl32(fl32(sa*sw)/sy)), RNE (method "
                            "'xnnpack_fp32')", "XNNPACK qs8 gemm / dwconv fp32 requantization"),
}
