"""TFLite (LiteRT) convolution-family variants that no ``requant.METHODS`` row expresses alone.

The int8 FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D of most kernel families requantize one
accumulator by a method (``requant.METHODS``: tflite_fc_float, tflite_double, ruy_x86,
xnnpack_fp32).  Two arithmetics need more: the optimized int8 DEPTHWISE_CONV_2D picks its rounding
by output channel, and the int16x8 CONV_2D / DEPTHWISE_CONV_2D (int16 activations, int8 weights,
int64 accumulators) requantize with TFLite's 16-bit-multiplier MBQM.

Measured against ai-edge-litert 2.3.0 (x86-64) through refquant/peers/litert.py; docs/ops.md
("TFLite / LiteRT ops").  Stdlib only (docs/architecture.md).
"""

from fractions import Fraction

from . import fixedpoint as fp
from . import movement as mv
from . import qops
from . import requant as rq
from .errors import InvalidValueError
from .integers import get_type
from .tflite_ops import activation_range, pool_geometry


# ##########################################################################
# DEPTHWISE_CONV_2D, optimized family: the requantization depends on the channel
# ##########################################################################

def tflite_depthwise_conv_optimized(x, x_scale, x_zero_point, w, w_scale, y_scale, y_zero_point, *, bias=None,
                                    padding="VALID", strides=(1, 1), depth_multiplier=1):
    """TFLite optimized int8 per-channel DEPTHWISE_CONV_2D (NHWC input, [1, KH, KW, C*mult] weights,
    zero weight zero points): output channels in whole blocks of 8 requantize as ruy's x86
    kernels (method 'ruy_x86': two roundings, ties toward +inf), the remaining n mod 8 channels
    as the reference (method 'tflite_double').  Fitted to ai-edge-litert 2.3.0 (docs/ops.md)."""
    # Reproduces: TFLite optimized_integer_ops depthwise conv (8-channel vector blocks + scalar tail), as measured
    from . import ops
    xf, (n, h, wd, c) = qops.qtensor(x, get_type("int8"), "x")
    wf, (_, kh, kw, n_out) = qops.qtensor(w, get_type("int8"), "w")
    (oh, ph), (ow, pw) = pool_geometry(h, kh, strides[0], padding), pool_geometry(wd, kw, strides[1], padding)
    x_nchw = mv.transpose(mv.nest(xf, (n, h, wd, c)), [0, 3, 1, 2])
    w_oihw = mv.transpose(mv.nest(wf, (1, kh, kw, n_out)), [3, 0, 1, 2])
    pads = [ph, pw, max(0, (oh - 1) * strides[0] + kh - h - ph), max(0, (ow - 1) * strides[1] + kw - wd - pw)]
    scales = list(w_scale) if isinstance(w_scale, (list, tuple)) else [w_scale] * n_out

    def conv(method):
        y = ops.qlinear_conv(x_nchw, x_scale, x_zero_point, w_oihw, scales, [0] * n_out, y_scale, y_zero_point,
                             method=method, x_type="int8", w_type="int8", bias=bias, strides=list(strides),
                             pads=pads, group=c)
        return mv.tensor(mv.transpose(y, [0, 2, 3, 1]), "y")
    (ruy, shape), (ref, _) = conv("ruy_x86"), conv("tflite_double")
    vector = n_out - n_out % 8
    return mv.nest([r if i % n_out < vector else d for i, (r, d) in enumerate(zip(ruy, ref))], shape)


def requantize_16x8(acc, x_scale, w_scale, y_scale, y_zero_point=0, *, activation="NONE"):
    """TFLite int16x8 CONV_2D / DEPTHWISE_CONV_2D output stage for one int64 accumulator (bias
    included): MBQM64(acc, QuantizeMultiplier(fl64(sx*sw/sy))) + zy, clamped to the activation's
    int16 range; MBQM64 rounds once with the multiplier reduced to 16 bits
    (``fixedpoint.multiply_by_quantized_multiplier_i64``)."""
    # Reproduces: TFLite reference_integer_ops/conv.h ConvPerChannel (int16 input) + common.h MBQM(int64)
    sx, sw, sy = (qops.scale(v, n) for v, n in ((x_scale, "x_scale"), (w_scale, "w_scale"), (y_scale, "y_scale")))
    if not -(1 << 63) <= acc < (1 << 63):
        raise InvalidValueError(f"int16x8 accumulator {acc} is outside int64")
    m, shift = fp.quantize_multiplier(rq.fl64(Fraction(sx) * sw / sy))
    lo, hi = activation_range(activation, y_scale, y_zero_point, "int16")
    return min(hi, max(lo, fp.multiply_by_quantized_multiplier_i64(acc, m, shift) + y_zero_point))


VARIANTS = {
    "depthwise_conv_2d": {"tflite_optimized": tflite_depthwise_conv_optimized},
    "conv_2d_16x8": {"tflite_ref": requantize_16x8},
    "depthwise_conv_2d_16x8": {"tflite_ref": requantize_16x8},
}
