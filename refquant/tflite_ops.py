"""TFLite (LiteRT) quantized element-wise, pooling and reduction ops, per kernel family.

One readable function per arithmetic that a TFLite kernel family computes, each citing the
source it reproduces: the reference kernels (tensorflow/lite/kernels/internal/reference), the
optimized kernels where they compute something else, and the XNNPACK delegate's microkernels.
The specification ideal of the same ops (one exact rounding) is ``refquant/qops.py``; every
variant here takes the same arguments as its ideal, plus TFLite's ``activation`` (the fused
activation function: "NONE", "RELU", "RELU6", "RELU_N1_TO_1") and ``dtype`` ("int8", "uint8",
"int16"; int16 tensors are symmetric, zero point 0).  Layouts are TFLite's (NHWC).

Measured against ai-edge-litert 2.3.0 (x86-64) through refquant/peers/litert.py; docs/ops.md
("TFLite / LiteRT ops") lists the cases, the mismatches and the named deviations.

Stdlib only (docs/architecture.md): integers, Fractions, binary32/binary64 values as Fractions.
"""

from fractions import Fraction
from math import prod

from . import fixedpoint as fp
from . import movement as mv
from . import qops
from . import requant as rq
from . import tflite_pot16 as pot16
from .tflite_broadcast import vector_lanes
from .errors import InvalidValueError, SpecError, UnknownNameError, Unpredictable
from .integers import get_type
from .rounding import half_away, half_even

ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_ACT_BOUNDS = {"NONE": (None, None), "RELU": (0, None), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def f32(x):
    """fl32(x): the binary32 value nearest x (RNE), as a Fraction."""
    return rq.fl("fp32", Fraction(x))


def f64(x):
    """fl64(x): the binary64 value nearest x (RNE), as a Fraction."""
    return rq.fl("fp64", Fraction(x))


def _types(dtype):
    t = get_type(dtype)
    if t.name not in ("int8", "uint8", "int16"):
        raise InvalidValueError(f"dtype {dtype!r}: TFLite quantized kernels take int8, uint8 or int16")
    return t


def activation_range(activation, y_scale, y_zero_point, dtype, rounding="half_away"):
    """(qmin, qmax) of a fused activation on the output's quantized grid.

    Each bound f becomes zp + round(fl32(f / s)), then it is intersected with the type's range.
    TFLite rounds ties away from zero; the XNNPACK delegate (``rounding="half_even"``) adds the
    zero point in binary32 and rounds to even, RNE(fl32(fl32(f/s) + zp)) (RELU6 with 6/s = 6.5,
    zp 0: TFLite 7, XNNPACK 6; measured on ai-edge-litert 2.3.0).
    """
    # Reproduces: TFLite kernel_util.cc CalculateActivationRangeQuantized / Quantize (TfLiteRound)
    if activation not in _ACT_BOUNDS:
        raise UnknownNameError("fused activation", activation, ACTIVATIONS)
    t = _types(dtype)
    lo, hi = t.min, t.max
    f_lo, f_hi = _ACT_BOUNDS[activation]
    s = qops.scale(y_scale, "y_scale")
    def bound(f):
        if rounding == "half_even":      # XNNPACK: RNE(fl32(fl32(f / s) + zp))
            return half_even(f32(f32(Fraction(f) / s) + y_zero_point))
        return y_zero_point + half_away(f32(Fraction(f) / s))
    if f_lo is not None:
        lo = max(lo, bound(f_lo))
    if f_hi is not None:
        hi = min(hi, bound(f_hi))
    return lo, hi


def _operands(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, dtype):
    """Checked operands: (pairs, shape, (sa, sb, sy), (za, zb, zy), type)."""
    t = _types(dtype)
    fa, fb = qops.qtensor(a, t, "a"), qops.qtensor(b, t, "b")
    scales = tuple(qops.scale(s, n) for s, n in ((a_scale, "a_scale"), (b_scale, "b_scale"), (y_scale, "y_scale")))
    zps = tuple(qops.zero_point(z, t, n) for z, n in ((a_zp, "a_zero_point"), (b_zp, "b_zero_point"),
                                                       (y_zp, "y_zero_point")))
    if t.name == "int16" and any(zps):
        raise InvalidValueError(f"int16 TFLite tensors are symmetric: zero points {zps}, expected all 0")
    pairs, shape = qops.broadcast_pairs(fa, fb)
    return pairs, shape, scales, zps, t


# ##########################################################################
# ADD / SUB: the reference kernel (left shift, two input multipliers, one output multiplier)
# ##########################################################################

def add_sub_params(sa, sb, sy, left_shift):
    """TFLite's ADD/SUB requantization: ((m1, s1), (m2, s2), (mo, so)) from the three scales.

    twice = 2 max(sa, sb) in binary64; M1 = sa / twice, M2 = sb / twice, Mo = twice / (2^left * sy),
    each fl64, each through QuantizeMultiplierSmallerThanOneExp (SpecError when Mo >= 1).
    """
    # Reproduces: TFLite add.cc / sub.cc Prepare (general quantized path), tensorflow 2.x
    twice = 2 * max(sa, sb)
    m1 = fp.quantize_multiplier_smaller_than_one_exp(f64(sa / twice))
    m2 = fp.quantize_multiplier_smaller_than_one_exp(f64(sb / twice))
    mo = fp.quantize_multiplier_smaller_than_one_exp(f64(twice / ((1 << left_shift) * sy)))
    return m1, m2, mo


def _ref_add_sub(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, dtype, activation, sign, pot=False):
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp,
                                                           dtype)
    lo, hi = activation_range(activation, y_scale, zy, t.name)
    shifts = pot16.pot_shifts(sa, sb, sy) if pot and t.name == "int16" else None
    if shifts is not None:
        if sign > 0 and len(qops.qtensor(a, t, "a")[0]) != len(qops.qtensor(b, t, "b")[0]):
            raise SpecError("int16 power-of-two ADD does not broadcast (LiteRT aborts in MatchingElementsSize)")
        return mv.nest([pot16.add_sub_pot16(x, y, shifts, sign, lo, hi) for x, y in pairs], shape)
    left = 15 if t.name == "int16" else 20
    (m1, s1), (m2, s2), (mo, so) = add_sub_params(sa, sb, sy, left)
    mbqm = fp.multiply_by_quantized_multiplier
    out = []
    for x, y in pairs:
        v1 = mbqm((x - za) << left, m1, s1)
        v2 = mbqm((y - zb) << left, m2, s2)
        out.append(min(hi, max(lo, mbqm(v1 + sign * v2, mo, so) + zy)))
    return mv.nest(out, shape)


def tflite_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
               activation="NONE", pot_scale_int16=False):
    """TFLite reference ADD: each input shifted left by 20 (int16: 15), scaled by its multiplier,
    summed, scaled by the output multiplier (each MBQM rounds twice), + zp, clamped.  int16 with
    ``pot_scale_int16`` and power-of-two scales: refquant/tflite_pot16.py."""
    # Reproduces: TFLite reference_integer_ops/add.h AddElementwise + add.cc Prepare, tensorflow 2.x
    return _ref_add_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype,
                        activation, 1, pot_scale_int16)


def tflite_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
               activation="NONE", pot_scale_int16=False):
    """TFLite reference SUB: as ADD with the scaled second input subtracted (every family)."""
    # Reproduces: TFLite reference/sub.h SubElementwise + sub.cc PrepareGeneralSubOp, tensorflow 2.x
    return _ref_add_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype,
                        activation, -1, pot_scale_int16)


def tflite_add_optimized(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *,
                         dtype="int8", activation="NONE", pot_scale_int16=False):
    """TFLite optimized ADD: int8 as the reference; int16 blocks of 16 elements scale each input with
    a single rounding (ties toward +inf) and the sum with the reference's double rounding, the n mod
    16 tail as the reference; a broadcasting int16 ADD runs the reference kernel (add.cc).  Fitted to
    ai-edge-litert 2.3.0 (docs/ops.md)."""
    # Reproduces: TFLite optimized_integer_ops add (int16 general-scale vector path) as measured in ai-edge-litert 2.3.0
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                           y_scale, y_zero_point, dtype)
    if t.name != "int16" or (pot_scale_int16 and pot16.pot_shifts(sa, sb, sy) is not None):
        return tflite_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype=dtype,
                          activation=activation, pot_scale_int16=pot_scale_int16)
    (m1, s1), (m2, s2), (mo, so) = add_sub_params(sa, sb, sy, 15)
    lo, hi = activation_range(activation, y_scale, zy, t.name)
    mbqm = fp.multiply_by_quantized_multiplier
    vector = vector_lanes(qops.qtensor(a, t, "a")[1], qops.qtensor(b, t, "b")[1], len(pairs), fivefold=False)
    out = []
    for (x, y), lane in zip(pairs, vector):
        build = "single" if lane else "double"
        v = mbqm(x << 15, m1, s1, build) + mbqm(y << 15, m2, s2, build)
        out.append(min(hi, max(lo, mbqm(v, mo, so))))
    return mv.nest(out, shape)


# ##########################################################################
# ADD / SUB: XNNPACK qs8 vadd (two integer multipliers, one arithmetic shift)
# ##########################################################################

def xnnpack_add_params(sa, sb, sy):
    """(a multiplier, b multiplier, shift): XNNPACK's qs8 add parameters.

    ra = fl32(sa / sy), rb = fl32(sb / sy); shift = 20 - exponent(max(ra, rb)); each multiplier is
    lrintf(r * 2^shift) (RNE; exact scaling in binary32).  SpecError outside XNNPACK's range
    2^-10 <= r < 2^8 (the delegate declines such an op).
    """
    # Reproduces: XNNPACK src/microparams-init.c xnn_init_qs8_add_minmax_scalar_params (2024-2025)
    ra, rb = f32(sa / sy), f32(sb / sy)
    for r in (ra, rb):
        if not Fraction(1, 1024) <= r < 256:
            raise SpecError(f"XNNPACK qs8 add: input/output scale ratio {float(r)!r} outside [2^-10, 2^8)")
    top = max(ra, rb)
    exp = top.numerator.bit_length() - top.denominator.bit_length()
    if Fraction(2) ** exp > top:
        exp -= 1
    shift = 20 - exp
    return half_even(ra * (1 << shift)), half_even(rb * (1 << shift)), shift


def _xnn_add_sub(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, dtype, activation, sign):
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp,
                                                           dtype)
    ma, mb, shift = xnnpack_add_params(sa, sb, sy)
    mb *= sign
    bias = (1 << (shift - 1)) - ma * za - mb * zb
    lo, hi = activation_range(activation, y_scale, zy, t.name, "half_even")
    out = [min(hi, max(lo, ((bias + ma * x + mb * y) >> shift) + zy)) for x, y in pairs]
    return mv.nest(out, shape)


def xnnpack_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
                activation="NONE"):
    """XNNPACK qs8 ADD: (bias + ma*a + mb*b) >> shift + zp (one rounding, ties toward +inf), clamped."""
    # Reproduces: XNNPACK src/qs8-vadd/gen scalar / x86 microkernels + xnn_init_qs8_add_minmax_scalar_params
    return _xnn_add_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype,
                        activation, 1)


def xnnpack_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
                activation="NONE"):
    """XNNPACK qs8 SUB: the add kernel with the second multiplier negated."""
    # Reproduces: XNNPACK binary-elementwise-nd.c (subtract = add with -b_scale), qs8 vadd microkernels
    return _xnn_add_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype,
                        activation, -1)


# ##########################################################################
# MUL
# ##########################################################################

def tflite_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
               activation="NONE"):
    """TFLite reference MUL: MBQM((a - za)(b - zb), QuantizeMultiplier(fl32(fl32(sa*sb)/sy))) + zy,
    clamped (the multiplier is computed in binary32: sy = fl32(12/13), sa = sb = 0.5 gives 68.25
    for 9 * 28, a tie the double rounding sends to 69; exact 68.2499997)."""
    # Reproduces: TFLite reference_integer_ops/mul.h MulElementwise + mul.cc Prepare, tensorflow 2.x
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                           y_scale, y_zero_point, dtype)
    m, s = fp.quantize_multiplier(f32(f32(sa * sb) / sy))
    lo, hi = activation_range(activation, y_scale, zy, t.name)
    out = [min(hi, max(lo, fp.multiply_by_quantized_multiplier((x - za) * (y - zb), m, s) + zy))
           for x, y in pairs]
    return mv.nest(out, shape)


def tflite_mul_optimized(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *,
                         dtype="int8", activation="NONE"):
    """TFLite optimized int8 MUL: blocks of 16 elements run the vector path, which narrows MBQM(acc)
    to int16 with saturation, adds zy in int16 *wrapping*, narrows to int8 with saturation and
    clamps; the tail (n mod 16 elements) runs the reference formula.  Under broadcasting the blocks
    count within each five-fold run (refquant/tflite_broadcast.py; a generic broadcast is all
    reference).  Differs from the reference only where |MBQM(acc)| >= 2^15 - |zy|."""
    # Reproduces: TFLite optimized/integer_ops/mul.h MulElementwise (NEON, NEON_2_SSE on x86), tensorflow 2.x
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                           y_scale, y_zero_point, dtype)
    if t.name == "int16":
        return tflite_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype=dtype,
                          activation=activation)
    m, s = fp.quantize_multiplier(f32(f32(sa * sb) / sy))
    lo, hi = activation_range(activation, y_scale, zy, t.name)
    vector = vector_lanes(qops.qtensor(a, t, "a")[1], qops.qtensor(b, t, "b")[1], len(pairs))
    out = []
    for (x, y), lane in zip(pairs, vector):
        v = fp.multiply_by_quantized_multiplier((x - za) * (y - zb), m, s)
        if lane:
            v16 = max(-(1 << 15), min((1 << 15) - 1, v))
            v = max(t.min, min(t.max, ((v16 + zy + (1 << 15)) & 0xFFFF) - (1 << 15)))
        else:
            v += zy
        out.append(min(hi, max(lo, v)))
    return mv.nest(out, shape)


def xnnpack_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="int8",
                activation="NONE"):
    """XNNPACK qs8 MUL (fp32 requantization): RNE(fl32(acc * fl32(fl32(sa*sb)/sy))) + zy, clamped."""
    # Reproduces: XNNPACK src/qs8-vmul fp32 microkernels + xnn_init_qs8_mul_minmax_scalar_params
    pairs, shape, (sa, sb, sy), (za, zb, zy), t = _operands(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                           y_scale, y_zero_point, dtype)
    scale = f32(f32(sa * sb) / sy)
    lo, hi = activation_range(activation, y_scale, zy, t.name, "half_even")
    out = [min(hi, max(lo, half_even(f32((x - za) * (y - zb) * scale)) + zy)) for x, y in pairs]
    return mv.nest(out, shape)



# ##########################################################################
# QUANTIZE / DEQUANTIZE (float32 <-> int8 / int16), per family
# ##########################################################################

def _floats(x, name):
    flat, shape = mv.tensor(x, name)
    vals = []
    for i, v in enumerate(flat):
        if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)) or v != v or v in (rq.INF, -rq.INF):
            raise InvalidValueError(f"{name} element {i} = {v!r}: expected a finite binary32 value "
                                    "(TFLite converts NaN / inf / |x/s| >= 2^31 with C undefined behaviour)")
        vals.append(f32(v))
    return vals, shape


def _quantize_round(v, s, zp, t, fmt):
    """zp + round(fl(x / s)) in binary32 (reference) or binary64 (the optimized scalar loop, whose
    scale is a double), ties away from zero, clamped."""
    q = half_away(rq.fl(fmt, v / s))
    if not -(1 << 31) <= q < (1 << 31):
        raise Unpredictable(f"TFLite QUANTIZE: round(x/s) = {q} is outside int32 (C undefined behaviour)")
    return min(t.max, max(t.min, q + zp))


def tflite_quantize(x, y_scale, y_zero_point, *, dtype="int8"):
    """TFLite reference QUANTIZE (float32 -> int8/int16): zp + round(fl32(x / s)), ties away from
    zero, clamped (refquant profile 'tflite')."""
    # Reproduces: TFLite reference/quantize.h AffineQuantize, tensorflow 2.x
    t = _types(dtype)
    vals, shape = _floats(x, "x")
    s, zp = qops.scale(y_scale, "y_scale"), qops.zero_point(y_zero_point, t, "y_zero_point")
    return mv.nest([_quantize_round(v, s, zp, t, "fp32") for v in vals], shape)


def tflite_quantize_optimized(x, y_scale, y_zero_point, *, dtype="int8"):
    """TFLite optimized QUANTIZE: blocks of 8 elements run the vector path, zp + RNE(fl32(x *
    fl32(1/s))) clamped; the last n mod 8 elements run the scalar loop, zp + round(fl64(x / s))
    with ties away from zero (the reference rounds the same way, but divides in binary32)."""
    # Reproduces: TFLite optimized/optimized_ops.h AffineQuantize (NEON path, NEON_2_SSE on x86), tensorflow 2.x
    t = _types(dtype)
    vals, shape = _floats(x, "x")
    s, zp = qops.scale(y_scale, "y_scale"), qops.zero_point(y_zero_point, t, "y_zero_point")
    inv = f32(f64(1 / s))
    vector = len(vals) - len(vals) % 8
    out = [min(t.max, max(t.min, half_even(f32(v * inv)) + zp)) if i < vector else _quantize_round(v, s, zp, t, "fp64")
           for i, v in enumerate(vals)]
    return mv.nest(out, shape)


def xnnpack_quantize(x, y_scale, y_zero_point, *, dtype="int8"):
    """XNNPACK f32 -> qs8 convert: zp + RNE(fl32(x * fl32(1/s))), clamped (every element)."""
    # Reproduces: XNNPACK src/f32-qs8-vcvt microkernels (scale = 1/output scale, magic-bias rounding)
    t = _types(dtype)
    vals, shape = _floats(x, "x")
    s, zp = qops.scale(y_scale, "y_scale"), qops.zero_point(y_zero_point, t, "y_zero_point")
    inv = f32(1 / s)
    return mv.nest([min(t.max, max(t.min, half_even(f32(v * inv)) + zp)) for v in vals], shape)


def tflite_dequantize(x, x_scale, x_zero_point, *, dtype="int8"):
    """TFLite reference DEQUANTIZE: fl32(double(s) * (q - zp)) (the product is exact in binary64,
    so this is the correctly rounded (q - zp) * s); returns floats."""
    # Reproduces: TFLite reference/dequantize.h Dequantize, tensorflow 2.x
    t = _types(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    s, zp = qops.scale(x_scale, "x_scale"), qops.zero_point(x_zero_point, t, "x_zero_point")
    return mv.nest([float(f32((q - zp) * s)) for q in flat], shape)


def tflite_dequantize_optimized(x, x_scale, x_zero_point, *, dtype="int8"):
    """TFLite optimized DEQUANTIZE (int8): blocks of 8 compute fl32(fl32(q * s) + fl32(-zp * s))
    (multiply, then add the pre-scaled zero point: two roundings); the tail as the reference.
    int16 runs the reference formula (its zero point is 0, so both agree)."""
    # Reproduces: TFLite optimized/optimized_ops.h Dequantize (NEON vmlaq_f32, unfused on x86), tensorflow 2.x
    t = _types(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    s, zp = qops.scale(x_scale, "x_scale"), qops.zero_point(x_zero_point, t, "x_zero_point")
    offset = f32(-zp * s)
    vector = len(flat) - len(flat) % 8
    out = [float(f32(f32(q * s) + offset)) if i < vector else float(f32((q - zp) * s)) for i, q in enumerate(flat)]
    return mv.nest(out, shape)


# ##########################################################################
# AVERAGE_POOL_2D / MAX_POOL_2D (NHWC, SAME / VALID padding)
# ##########################################################################

def pool_geometry(in_size, filt, stride, padding):
    """(output size, padding before) of one spatial axis under TFLite's SAME / VALID padding."""
    # Reproduces: TFLite kernels/padding.h ComputePaddingHeightWidth / ComputeOutSize, tensorflow 2.x
    if padding == "VALID":
        out = (in_size - filt + stride) // stride
    elif padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        raise UnknownNameError("TFLite padding", padding, ("SAME", "VALID"))
    if out <= 0:
        raise InvalidValueError(f"pool: input {in_size}, filter {filt}, stride {stride} give no output")
    pad = max(0, ((out - 1) * stride + filt - in_size) // 2)
    return out, pad


def pool_nhwc(x, t, filter_hw, strides, padding, reduce):
    """``reduce(valid window values)`` per output position of an NHWC pool (TFLite geometry)."""
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) != 4:
        raise InvalidValueError(f"pool input shape {list(shape)}: expected NHWC (rank 4)")
    n, h, w, c = shape
    (oh, ph), (ow, pw) = (pool_geometry(h, filter_hw[0], strides[0], padding),
                          pool_geometry(w, filter_hw[1], strides[1], padding))
    out = []
    for b, oy, ox, ch in mv.indices((n, oh, ow, c)):
        y0, x0 = oy * strides[0] - ph, ox * strides[1] - pw
        vals = [flat[((b * h + y) * w + xx) * c + ch]
                for y in range(max(0, y0), min(h, y0 + filter_hw[0]))
                for xx in range(max(0, x0), min(w, x0 + filter_hw[1]))]
        out.append(reduce(vals))
    return mv.nest(out, (n, oh, ow, c))


def tflite_average_pool(x, *, filter_hw, strides, padding="VALID", dtype="int8", activation="NONE",
                        scale=1.0, zero_point=0):
    """TFLite AVERAGE_POOL_2D (int8/int16; input and output share scale and zero point): the
    raw sum of the window's valid positions, divided by their count rounding half away from
    zero (C: (acc +- count/2) / count), clamped to the activation range."""
    # Reproduces: TFLite reference_integer_ops/pooling.h AveragePool, tensorflow 2.x
    t = _types(dtype)
    lo, hi = activation_range(activation, scale, zero_point, t.name)

    def avg(vals):
        acc, cnt = sum(vals), len(vals)
        q = (abs(acc) + cnt // 2) // cnt
        return min(hi, max(lo, q if acc > 0 else -q))
    return pool_nhwc(x, t, filter_hw, strides, padding, avg)


def tflite_max_pool(x, *, filter_hw, strides, padding="VALID", dtype="int8", activation="NONE",
                    scale=1.0, zero_point=0):
    """TFLite MAX_POOL_2D: the largest raw value of the window's valid positions, clamped to the
    activation range (input and output share scale and zero point)."""
    # Reproduces: TFLite reference_integer_ops/pooling.h MaxPool, tensorflow 2.x
    t = _types(dtype)
    lo, hi = activation_range(activation, scale, zero_point, t.name)
    return pool_nhwc(x, t, filter_hw, strides, padding, lambda vals: min(hi, max(lo, max(vals))))


# ##########################################################################
# MEAN (int8 / int16): three arithmetics
# ##########################################################################

def _sums(x, t, axes, keepdims):
    """(raw sums per output element in row-major order, output shape, elements per sum)."""
    flat, shape = qops.qtensor(x, t, "x")
    r = len(shape)
    axes = set(range(r)) if not axes else {mv.norm_axis(a, r, "axis") for a in axes}
    kept = [i for i in range(r) if i not in axes]
    kept_shape = tuple(shape[i] for i in kept)
    sums = [0] * prod(kept_shape)
    st = mv.strides(kept_shape)
    for idx, v in zip(mv.indices(shape), flat):
        sums[sum(idx[i] * s_ for i, s_ in zip(kept, st))] += v
    n = 1
    for a in axes:
        n *= shape[a]
    if n == 0:
        raise InvalidValueError(f"MEAN over an empty axis (shape {list(shape)})")
    out_shape = tuple(1 if i in axes else shape[i] for i in range(r)) if keepdims else kept_shape
    return sums, out_shape, n, axes, r


def mean_multiplier(sx, sy, n):
    """(m, shift): QuantizeMultiplier(fl64(sx/sy)) readapted to fold in 1/n: e = min(floor(log2 n),
    32, 31 + shift); m' = trunc(m * 2^e / n); shift' = shift - e."""
    # Reproduces: TFLite reference/reduce.h QuantizedMeanOrSum (integer rescale), tensorflow 2.x
    m, shift = fp.quantize_multiplier(f64(sx / sy))
    e = min(n.bit_length() - 1, 32, 31 + shift)
    return (m << e) // n, shift - e


def _mean_args(x, x_scale, x_zero_point, y_scale, y_zero_point, axes, keepdims, dtype):
    t = _types(dtype)
    sums, out_shape, n, ax, rank = _sums(x, t, axes, keepdims)
    sx, sy = qops.scale(x_scale, "x_scale"), qops.scale(y_scale, "y_scale")
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    return t, sums, out_shape, n, (sx, sy, zx, zy), rank == 4 and keepdims and ax == {1, 2}


def tflite_mean(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="int8"):
    """TFLite reference MEAN: MBQM(sum(x) - n*zx, m', shift') + zy, clamped, with (m', shift') the
    input/output multiplier readapted by 1/n (``mean_multiplier``): two roundings."""
    # Reproduces: TFLite reference/reduce.h QuantizedMeanOrSum + reduce.cc EvalMean, tensorflow 2.x
    t, sums, out_shape, n, (sx, sy, zx, zy), _ = _mean_args(x, x_scale, x_zero_point, y_scale, y_zero_point,
                                                            axes, keepdims, dtype)
    m, sh = mean_multiplier(sx, sy, n)
    out = [min(t.max, max(t.min, fp.multiply_by_quantized_multiplier(s - n * zx, m, sh) + zy)) for s in sums]
    return mv.nest(out, out_shape)


def tflite_mean_optimized(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1,
                          dtype="int8"):
    """TFLite optimized MEAN: int8 4-D input, keep_dims, axes {1, 2} runs its own kernel,
    MBQM(sum(x), QuantizeMultiplier(fl32(sx / fl32(n*sy)))) + bias, bias = zy - trunc(fl32(zx*sx/sy)
    +- 0.5) (the zero point rescaled in binary32); channels in whole blocks of 16 take the vector
    MultiplyByQuantizedMultiplier4Rows, whose final right shift rounds ties toward +inf (vrshlq),
    the other C mod 16 the scalar MBQM (ties away from zero); every other case is the reference."""
    # Reproduces: LiteRT 2.3.0 optimized/integer_ops/mean.h Mean + MeanImpl, common.h MultiplyByQuantizedMultiplier4Rows
    t, sums, out_shape, n, (sx, sy, zx, zy), hw = _mean_args(x, x_scale, x_zero_point, y_scale, y_zero_point,
                                                             axes, keepdims, dtype)
    if not hw or t.name != "int8":
        return tflite_mean(x, x_scale, x_zero_point, y_scale, y_zero_point, axes=axes, keepdims=keepdims,
                           dtype=dtype)
    temp = f32(f32(zx * sx) / sy)
    temp = f32(temp + Fraction(1, 2)) if temp > 0 else f32(temp - Fraction(1, 2))
    bias = zy - int(temp)
    m, sh = fp.quantize_multiplier(f32(sx / f32(n * sy)))
    depth = out_shape[-1]
    vector = depth - depth % 16

    def mbqm(i, s):
        if i % depth < vector:
            return fp.rshift_round_half_up(fp.srdhm_i32(fp.wrap32(s << max(sh, 0)), m), -min(sh, 0))
        return fp.multiply_by_quantized_multiplier(s, m, sh)
    out = [min(t.max, max(t.min, mbqm(i, s) + bias)) for i, s in enumerate(sums)]
    return mv.nest(out, out_shape)


def xnnpack_mean(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="int8"):
    """XNNPACK qs8 MEAN: RNE(fl32(fl32(sum(x) * S) + fl32(zy - fl32(n*zx * S)))), clamped, with
    S = fl32(fl32(sx/sy) / n) (the raw sum scaled in binary32, the zero points folded into one
    float bias).  Fitted to ai-edge-litert 2.3.0 (docs/ops.md): equal forms with a fused
    multiply-add or S = fl32(sx / fl32(sy*n)) were not separated by the measured cases."""
    # Reproduces: XNNPACK qs8 mean (rsum + fp32 output conversion) as measured in ai-edge-litert 2.3.0
    t, sums, out_shape, n, (sx, sy, zx, zy), _ = _mean_args(x, x_scale, x_zero_point, y_scale, y_zero_point,
                                                            axes, keepdims, dtype)
    big = f32(f32(sx / sy) / n)
    bias = f32(zy - f32(n * zx * big))
    out = [min(t.max, max(t.min, half_even(f32(f32(s * big) + bias)))) for s in sums]
    return mv.nest(out, out_shape)


# ##########################################################################
# CONCATENATION, PAD: data movement under equal quantization parameters
# ##########################################################################

def _same_params(params, what):
    """TFLite int8/int16 CONCATENATION and PAD keep the quantized values: every (scale, zero point)
    must equal the output's (the kernel's Prepare fails otherwise)."""
    first = params[0]
    for i, p in enumerate(params[1:], 1):
        if (qops.scale(p[0], "scale"), p[1]) != (qops.scale(first[0], "scale"), first[1]):
            raise InvalidValueError(f"{what}: tensor {i} has (scale, zero point) {p}; TFLite needs {first} on "
                                    "every input and the output")


def tflite_concatenation(inputs, y_scale, y_zero_point, *, axis, dtype="int8"):
    """TFLite CONCATENATION (int8 / int16): ``inputs`` are (tensor, scale, zero point) triples that
    share the output's parameters; the values side by side along ``axis``."""
    # Reproduces: TFLite concatenation.cc Prepare (int8/int16 equal params) + reference_ops::Concatenation
    t = _types(dtype)
    _same_params([(y_scale, y_zero_point)] + [(sc, zp) for _, sc, zp in inputs], "CONCATENATION")
    return mv.concat_same([mv.nest(*qops.qtensor(x, t, f"inputs[{i}]")) for i, (x, _, _) in enumerate(inputs)],
                          axis)


def tflite_pad(x, pads, *, zero_point=0, constant=None, dtype="int8"):
    """TFLite PAD / PADV2 (int8 / int16): ``pads`` = [[before, after] per axis]; the new positions
    hold the zero point (PAD) or the quantized constant (PADV2)."""
    # Reproduces: TFLite pad.cc (pad value = output zero point, or the PADV2 constant) + reference/pad.h
    t = _types(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    if len(pads) != len(shape) or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise InvalidValueError(f"pads {pads}: expected one non-negative [before, after] per axis of {list(shape)}")
    value = zero_point if constant is None else constant
    qops.zero_point(value, t, "pad value")
    return mv.pad(mv.nest(flat, shape), [p[0] for p in pads] + [p[1] for p in pads], constant_value=value)


# ##########################################################################
# RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR (NHWC)
# ##########################################################################

def _resize_args(x, t, size):
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) != 4 or len(size) != 2 or min(size) < 1:
        raise InvalidValueError(f"resize: input {list(shape)} must be NHWC and size {list(size)} two positive ints")
    return flat, shape


def nearest_source(out, in_size, out_size, align_corners, half_pixel_centers):
    """The input index TFLite reads for output index ``out`` (binary32 scale and coordinate)."""
    # Reproduces: TFLite reference_ops::ResizeNearestNeighbor (GetNearestNeighbor), tensorflow 2.x
    if align_corners and out_size > 1:
        scale = f32(Fraction(in_size - 1) / (out_size - 1))
    else:
        scale = f32(Fraction(in_size) / out_size)
    v = f32((out + (Fraction(1, 2) if half_pixel_centers else 0)) * scale)
    idx = min(half_away(v) if align_corners else v.numerator // v.denominator, in_size - 1)
    return max(0, idx) if half_pixel_centers else idx


def tflite_resize_nearest(x, size, *, align_corners=False, half_pixel_centers=False, dtype="int8"):
    """TFLite RESIZE_NEAREST_NEIGHBOR: each output pixel copies the input pixel ``nearest_source``
    picks per axis (values unchanged: input and output share their quantization)."""
    # Reproduces: TFLite reference_ops::ResizeNearestNeighbor, tensorflow 2.x
    t = _types(dtype)
    flat, (n, h, w, c) = _resize_args(x, t, size)
    ys = [nearest_source(o, h, size[0], align_corners, half_pixel_centers) for o in range(size[0])]
    xs = [nearest_source(o, w, size[1], align_corners, half_pixel_centers) for o in range(size[1])]
    out = [flat[((b * h + ys[oy]) * w + xs[ox]) * c + ch] for b, oy, ox, ch in mv.indices((n, size[0], size[1], c))]
    return mv.nest(out, (n, size[0], size[1], c))


def _cdiv(num, den):
    """C integer division (den > 0): the quotient truncated toward zero."""
    q = abs(num) // den
    return q if num >= 0 else -q


def _scale_10(in_size, out_size, align_corners):
    """The 10-bit fixed-point scale in/out, rounded to nearest (C integer division)."""
    if align_corners and out_size > 1:
        return ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return ((1 << 10) * in_size + out_size // 2) // out_size


def _interp_10(value, scale_10, half_pixel_centers, in_size):
    """(scaled coordinate in 1/1024 units, lower index, upper index) of one output index."""
    scaled = value * scale_10 + (scale_10 // 2 - (1 << 9) if half_pixel_centers else 0)
    lower = max(_cdiv(scaled, 1 << 10), 0)
    upper = min(_cdiv(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
    return scaled, lower, upper


def tflite_resize_bilinear(x, size, *, align_corners=False, half_pixel_centers=False, dtype="int8"):
    """TFLite RESIZE_BILINEAR, integer kernel: coordinates in 1/1024 units, the four weighted
    neighbours summed in 2^-20 units, divided by 2^20 rounding half away from zero (double-rounding
    build)."""
    # Reproduces: TFLite reference_ops::ResizeBilinearInteger + ComputeInterpolationValuesInteger, tensorflow 2.x
    t = _types(dtype)
    flat, (n, h, w, c) = _resize_args(x, t, size)
    sy, sx = _scale_10(h, size[0], align_corners), _scale_10(w, size[1], align_corners)
    rows = [_interp_10(o, sy, half_pixel_centers, h) for o in range(size[0])]
    cols = [_interp_10(o, sx, half_pixel_centers, w) for o in range(size[1])]
    one = 1 << 10
    out = []
    for b, oy, ox, ch in mv.indices((n, size[0], size[1], c)):
        (iy, y0, y1), (ix, x0, x1) = rows[oy], cols[ox]
        dy, dx = iy - one * y0, ix - one * x0
        at = lambda y, xx: flat[((b * h + y) * w + xx) * c + ch]
        acc = (at(y0, x0) * (one - dy) * (one - dx) + at(y1, x0) * dy * (one - dx)
               + at(y0, x1) * (one - dy) * dx + at(y1, x1) * dy * dx)
        q = (abs(acc) + (1 << 19)) >> 20
        out.append(q if acc > 0 else -q)
    return mv.nest(out, (n, size[0], size[1], c))


def _xnn_coords(in_size, out_size, align_corners, half_pixel_centers):
    """Per output index: (top, bottom, alpha in Q11) as XNNPACK's indirection computes them in binary32."""
    adj = 1 if align_corners and out_size != 1 else 0
    scale = f32(f32(in_size - adj) / f32(out_size - adj))
    out = []
    for o in range(out_size):
        if align_corners or not half_pixel_centers:
            v = f32(o * scale)
        else:
            v = f32(f32(o * scale) + f32(f32(scale / 2) - Fraction(1, 2)))
            v = min(max(v, Fraction(0)), Fraction(in_size - 1))
        top = v.numerator // v.denominator
        out.append((top, min(top + 1, in_size - 1), half_even(f32(v - top) * 2048)))
    return out


def xnnpack_resize_bilinear(x, size, *, align_corners=False, half_pixel_centers=False, dtype="int8"):
    """XNNPACK s8 RESIZE_BILINEAR: binary32 source coordinates, Q11 weights lrintf(alpha * 2^11);
    horizontal then vertical interpolation in integers, (acc + 2^21) >> 22 (ties toward +inf)."""
    # Reproduces: XNNPACK src/indirection.c (resize bilinear, q11 weights) + src/s8-ibilinear microkernels
    t = _types(dtype)
    flat, (n, h, w, c) = _resize_args(x, t, size)
    rows = _xnn_coords(h, size[0], align_corners, half_pixel_centers)
    cols = _xnn_coords(w, size[1], align_corners, half_pixel_centers)
    out = []
    for b, oy, ox, ch in mv.indices((n, size[0], size[1], c)):
        (y0, y1, av), (x0, x1, ah) = rows[oy], cols[ox]
        at = lambda y, xx: flat[((b * h + y) * w + xx) * c + ch]
        top = (at(y0, x0) << 11) + (at(y0, x1) - at(y0, x0)) * ah
        bottom = (at(y1, x0) << 11) + (at(y1, x1) - at(y1, x0)) * ah
        out.append(((top << 11) + (bottom - top) * av + (1 << 21)) >> 22)
    return mv.nest(out, (n, size[0], size[1], c))


VARIANTS = {
    "add": {"tflite_ref": tflite_add, "tflite_optimized": tflite_add_optimized, "xnnpack": xnnpack_add},
    "sub": {"tflite_ref": tflite_sub, "xnnpack": xnnpack_sub},
    "mul": {"tflite_ref": tflite_mul, "tflite_optimized": tflite_mul_optimized, "xnnpack": xnnpack_mul},
    "quantize": {"tflite_ref": tflite_quantize, "tflite_optimized": tflite_quantize_optimized,
                 "xnnpack": xnnpack_quantize},
    "dequantize": {"tflite_ref": tflite_dequantize, "tflite_optimized": tflite_dequantize_optimized},
    "average_pool_2d": {"tflite_ref": tflite_average_pool},
    "max_pool_2d": {"tflite_ref": tflite_max_pool},
    "mean": {"tflite_ref": tflite_mean, "tflite_optimized": tflite_mean_optimized, "xnnpack": xnnpack_mean},
    "concatenation": {"tflite_ref": tflite_concatenation},
    "tflite_pad": {"tflite_ref": tflite_pad},
    "resize_nearest_neighbor": {"tflite_ref": tflite_resize_nearest},
    "resize_bilinear": {"tflite_ref": tflite_resize_bilinear, "xnnpack": xnnpack_resize_bilinear},
}
