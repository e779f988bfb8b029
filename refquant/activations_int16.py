"""int16 activations of LiteRT (TFLite): SOFTMAX, LOGISTIC and TANH on int16 tensors.

TFLite's int16 kernels interpolate in int16 tables.  SOFTMAX builds its two tables at Prepare
with LUTPopulateInt16<double> (exp on [-10, 0], 1/(1+x) on [0, 1]); LOGISTIC and TANH share
a constant table of sigmoid(i/24) in 0.16 format.  One reference kernel per op runs in every
kernel family, except LOGISTIC / TANH with a power-of-two input scale, where the optimized
families run gemmlowp's 16-bit fixed point instead (refquant/gemmlowp.py logistic16 / tanh16).  The ops are ``softmax_int16``, ``sigmoid_int16`` and ``tanh_int16``
(int16 needs its own op name because a backend row names one variant per op); their ideal is
the int8/uint8 ideal of refquant/activations.py at dtype int16.

Measured against ai-edge-litert 2.3.0 (docs/ops.md "Activations").  Stdlib only.
"""

from fractions import Fraction

from . import certified, gemmlowp, qops
from . import fixedpoint as fp
from .activations import (EXP_ULP, clamp, elementwise, f64, quant_params, rne_certified, along_rows, wrap16,
                          sigmoid_exact, softmax_exact, tanh_exact)
from .errors import SpecError, Unpredictable
from .ieee import fl32
from .rounding import half_away


def lut_populate_int16(fn, input_scale, input_zp, output_scale, output_zp, fn_all=None):
    """LUTPopulateInt16<double>: 513 int16 entries of fn over the int16 input range, each sample
    lowered by half the rounded error of linear interpolation at its interval's midpoint.
    ``fn`` maps a binary64 value (Fraction) to the correctly rounded binary64 result; ``fn_all``
    (for a libm call) to every result the libm may give.  Where a product lies within 2^-30 of a
    rounding tie every combination is tried, and an entry that depends on the libm raises
    Unpredictable (none does for the two tables TFLite builds, tests/test_activations.py)."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/internal/common.h detail::LUTPopulateInt16 (FloatT = double)
    in_min, in_max = f64(input_scale * (-32768 - input_zp)), f64(input_scale * (32767 - input_zp))
    out_min, out_max = f64(output_scale * (-32768 - output_zp)), f64(output_scale * (32767 - output_zp))
    step = f64((in_max - in_min) / 512)
    inv = f64(65536 / f64(out_max - out_min))

    def clear(*xs):      # every product far from a rounding tie: no libm choice can change the entry
        return all(abs(f64(fn(x) * inv) % 1 - Fraction(1, 2)) > Fraction(1, 1 << 30) for x in xs)

    def entry(x0, xm, x1):
        outs = set()
        pick = (lambda x: [fn(x)]) if fn_all is None or clear(x0, xm, x1) else fn_all
        for v in pick(x0):
            for vm in pick(xm):
                for v1 in pick(x1):
                    sample = half_away(f64(v * inv))
                    interp = half_away(f64(f64(f64(v1 * inv) + sample) / 2))
                    bias = half_away(Fraction(interp - half_away(f64(vm * inv)), 2))
                    outs.add(clamp(sample - bias, -32768, 32767))
        if len(outs) > 1:
            raise Unpredictable(f"int16 LUT entry at {float(x0)} depends on the libm: {sorted(outs)}")
        return outs.pop()
    lut = []
    for i in range(512):
        x0 = f64(in_min + f64(i * step))
        lut.append(entry(x0, f64(x0 + step / 2), f64(in_min + f64((i + 1) * step))))
    lut.append(clamp(half_away(f64(fn(in_max) * inv)), -32768, 32767))
    return lut


def lut_lookup_int16(value, lut):
    """LUTLookup(int16): base lut[256 + (v >> 7)] plus the rounded slope times the low 7 bits."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/internal/common.h LUTLookup(int16_t, const int16_t*)
    index, offset = 256 + (value >> 7), value & 0x7F
    base = lut[index]
    return wrap16(base + (((lut[index + 1] - base) * offset + 64) >> 7))


_INT16_LUTS = {}


def softmax_int16_luts():
    """The two tables SoftmaxPrepare builds for int16: exp on [-10, 0] and 1/(1+x) on [0, 1]."""
    # Reproduces: LiteRT 2.3.0 activations.cc SoftmaxPrepare (kTfLiteInt16: exp_lut, one_over_one_plus_x_lut)
    if "exp" not in _INT16_LUTS:
        r = 65535
        _INT16_LUTS["exp"] = lut_populate_int16(lambda v: certified.round_nearest("exp", v, "fp64"),
                                                f64(Fraction(10, r)), 32767, f64(Fraction(2, r)), 0,
                                                lambda v: certified.candidates("exp", v, "fp64", EXP_ULP))
        _INT16_LUTS["recip"] = lut_populate_int16(lambda v: f64(1 / f64(1 + v)), f64(Fraction(1, r)), -32768,
                                                  f64(Fraction(2, r)), 0)
    return _INT16_LUTS["exp"], _INT16_LUTS["recip"]


def _softmax_int16_rows(x, dtype, axis, mult, shift, exp_lut, recip_lut):
    """The int16 SOFTMAX kernel after Prepare: d = q - max scaled by (mult, shift) onto [-65535, 0],
    exp from ``exp_lut``, int32 sum, reciprocal from ``recip_lut`` after normalizing the sum,
    y = (e * r + round) >> (31 - clz(sum))."""
    # Reproduces: LiteRT 2.3.0 / tflite-micro tensorflow/lite/kernels/internal/reference/softmax.h SoftmaxInt16
    def row_fn(row):
        top = max(row)
        exps = [lut_lookup_int16(clamp(fp.multiply_by_quantized_multiplier(q - top, mult, shift) + 32767,
                                        -32768, 32767), exp_lut) for q in row]
        total = sum(exps)
        hp1 = 32 - (total & 0xFFFFFFFF).bit_length()
        shifted = ((total << (hp1 - 1)) + (1 << 13)) >> 14
        recip = lut_lookup_int16(clamp(shifted - (1 << 15) - (1 << 16), -32768, 32767), recip_lut)
        rs = 31 - hp1
        return [clamp((e * recip + (1 << (rs - 1))) >> rs, 0, 32767) for e in exps]
    return along_rows(x, dtype, axis, row_fn)


def softmax_tflite_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16", axis=-1, beta=1.0):
    """LiteRT int16 SOFTMAX (every kernel family): d = q - max scaled by QuantizeMultiplier(
    fl32(sx*beta) / (10/65535)) onto [-65535, 0], exp from the interpolated LUT, int32 sum,
    reciprocal from the 1/(1+x) LUT after normalizing the sum, y = (e * r + round) >> (31 - clz(sum))."""
    # Reproduces: LiteRT 2.3.0 activations.cc SoftmaxPrepare (int16), reference/softmax.h SoftmaxInt16
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    if dtype != "int16" or zx != 0 or zy != 0 or abs(sy - Fraction(1, 32768)) > Fraction(1, 32768000):
        raise SpecError("int16 SOFTMAX needs int16, zero points 0 and output scale 1/32768")
    exp_lut, recip_lut = softmax_int16_luts()
    mult, shift = fp.quantize_multiplier(f64(fl32(sx * qops.attr_f32(beta, "beta")) / f64(Fraction(10, 65535))))
    return _softmax_int16_rows(x, dtype, axis, mult, shift, exp_lut, recip_lut)


def gen_lut_int16_f32(fn_all, input_min, input_max, output_min, output_max):
    """gen_lut<float, int16_t, int16_t>: 513 int16 entries of fn over [input_min, input_max], every
    step in binary32 (step = fl32((max - min) / 512), samples fl32(min + fl32(i * step)), the
    midpoint one half step on), each sample lowered by half the rounded error of linear
    interpolation at the midpoint; std::round is half away.  ``fn_all`` maps a binary32 value to the
    binary32 results fn may give (the correctly rounded one first); an entry that depends on the
    choice raises Unpredictable (none does for tflite-micro's two tables, tests/test_tflm.py)."""
    # Reproduces: tflite-micro tensorflow/lite/kernels/internal/common.h gen_lut (FloatT = float), 2026-10 wheel
    step = fl32(Fraction(input_max - input_min) / 512)
    half = fl32(step / 2)
    inv = fl32(Fraction(65536) / fl32(output_max - output_min))

    def entry(x0, xm, x1):
        outs = []
        for v in fn_all(x0):
            for vm in fn_all(xm):
                for v1 in fn_all(x1):
                    sample = half_away(fl32(v * inv))
                    interp = half_away(fl32(fl32(fl32(v1 * inv) + sample) / 2))
                    bias = half_away(fl32(Fraction(interp - half_away(fl32(vm * inv)), 2)))
                    outs.append(clamp(sample - bias, -32768, 32767))
        if len(set(outs)) > 1:
            raise Unpredictable(f"int16 LUT entry at {float(x0)} depends on the libm: {sorted(set(outs))}")
        return outs[0]
    lut = []
    for i in range(512):
        x0 = fl32(input_min + fl32(i * step))
        lut.append(entry(x0, fl32(x0 + half), fl32(input_min + fl32((i + 1) * step))))
    lut.append(clamp(half_away(fl32(fn_all(fl32(input_max))[0] * inv)), -32768, 32767))
    return lut


def softmax_tflm_luts():
    """tflite-micro's int16 SOFTMAX tables: gen_lut<float> of expf on [-10, 0] and of
    1.0f / (1.0f + x) on [0, 1], output range [-1, 1] (expf within EXP_ULP ulp: no entry depends on it)."""
    # Reproduces: tflite-micro tensorflow/lite/micro/kernels/softmax_common.cc SoftmaxPrepare (int16 LUTs)
    if "tflm_exp" not in _INT16_LUTS:
        _INT16_LUTS["tflm_exp"] = gen_lut_int16_f32(lambda v: certified.candidates("exp", v, "fp32", EXP_ULP),
                                                    -10, 0, -1, 1)
        _INT16_LUTS["tflm_recip"] = gen_lut_int16_f32(lambda v: (fl32(1 / fl32(1 + v)),), 0, 1, -1, 1)
    return _INT16_LUTS["tflm_exp"], _INT16_LUTS["tflm_recip"]


def softmax_tflm_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16", axis=-1, beta=1.0):
    """tflite-micro int16 SOFTMAX: LiteRT's reference kernel with the binary32 tables of
    ``softmax_tflm_luts`` (its 1/(1+x) table is one lower at entry 160 and one higher at 294 than
    LiteRT's binary64 one) and the multiplier QuantizeMultiplier(sx * beta / (10/65535)) with the
    product in binary64 (exact), where LiteRT rounds sx * beta to binary32."""
    # Reproduces: tflite-micro softmax_common.cc SoftmaxPrepare / CalculateSoftmaxParams (int16), reference SoftmaxInt16
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    if dtype != "int16" or zx != 0 or zy != 0 or abs(sy - Fraction(1, 32768)) > Fraction(1, 32768000):
        raise SpecError("int16 SOFTMAX needs int16, zero points 0 and output scale 1/32768")
    exp_lut, recip_lut = softmax_tflm_luts()
    mult, shift = fp.quantize_multiplier(f64(sx * qops.attr_f32(beta, "beta") / f64(Fraction(10, 65535))))
    return _softmax_int16_rows(x, dtype, axis, mult, shift, exp_lut, recip_lut)


# LiteRT common.h sigmoid_table_uint16 ("sigmoid(i/24) at 0.16 format", 256 entries) is
# min(65535, round(65536 * sigmoid(i / 24))) except at these indices, where it is one higher
# (measured against the table in LiteRT 2.3.0's source; tests/test_activations.py checks the peer).
_SIGMOID_TABLE_PLUS_ONE = frozenset((4, 8, 12, 14, 15, 16, 17, 19, 20, 21, 22, 25, 27, 28, 29, 30, 31, 33, 34, 35,
                                     37, 39, 40, 41, 43, 44, 45, 46, 49, 50, 54, 62, 63, 64, 66, 82, 86, 93, 100,
                                     103, 112, 116, 135, 255))
_SIGMOID_TABLE = []


def sigmoid_table_uint16():
    """The 256-entry uint16 table TFLite's int16 LOGISTIC / TANH interpolate in (see above)."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/internal/common.h sigmoid_table_uint16
    if not _SIGMOID_TABLE:
        for i in range(256):
            v = rne_certified("sigmoid", Fraction(i, 24), Fraction(1, 65536), 0, 0, 65535)
            _SIGMOID_TABLE.append(v + (i in _SIGMOID_TABLE_PLUS_ONE))
    return _SIGMOID_TABLE


def _int16_lut_input(sx, integer_bits, pot_shifts):
    """Logistic/TanhPrepare for int16: (multiplier, left_shift).  CheckedLog2 calls a scale a power
    of two when |log2 - round(log2)| < 1e-3; then the multiplier is 0 (the kernel uses 3 << shift)."""
    lo, hi = certified.enclose("log", sx, 40)
    ln2_lo, ln2_hi = certified.enclose("log", 2, 40)
    l2 = (lo / ln2_hi, hi / ln2_lo)
    k = half_away(l2[0])
    frac = [abs(v - k) for v in l2]
    if min(frac) < Fraction(1, 1000) <= max(frac) or abs(min(frac) - Fraction(1, 1000)) < Fraction(1, 10**6):
        raise Unpredictable(f"int16 LOGISTIC/TANH: CheckedLog2({float(sx)}) is at its 1e-3 threshold (libm-dependent)")
    shift = (15 - integer_bits) + k
    if max(frac) < Fraction(1, 1000) and shift in pot_shifts:
        return 0, shift
    m, shift = f64(f64(sx * 4096) * 3), 0
    while m <= Fraction(32767, 2) and shift <= 30:
        shift, m = shift + 1, f64(m * 2)
    return int(m), shift


def _int16_lut_activation(x, x_scale, y_scale, integer_bits, pot_shifts, entry):
    sx, _, sy, _, lo, hi = quant_params(x_scale, 0, y_scale, 0, "int16")
    if sy != Fraction(1, 32768):
        raise SpecError(f"int16 LOGISTIC/TANH needs output scale 2^-15, got {y_scale}")
    mult, shift = _int16_lut_input(sx, integer_bits, pot_shifts)
    if mult == 0:
        mult, shift = 3 << shift, 0
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    table = sigmoid_table_uint16()
    return elementwise(x, "int16", lambda q: entry((q * mult + rnd) >> shift, table))


def _logistic16_entry(v, t):
    a = abs(v)
    uh = a >> 9
    r = (0x7FFF << 10) if uh >= 255 else (t[uh] << 9) + (a & 0x1FF) * (t[uh + 1] - t[uh])
    r = r + (1 << 9) if v >= 0 else (1 << 25) - r + (1 << 9) - 1
    return wrap16(r >> 10)


def _tanh16_entry(v, t):
    a = abs(v)
    uh = a >> 8
    r = (0xFFFF << 8) if uh >= 255 else (t[uh] << 8) + (a & 0xFF) * (t[uh + 1] - t[uh])
    r = r - (1 << 23) + (1 << 7) if v >= 0 else -r + (1 << 23) + (1 << 7) - 1
    return wrap16(r >> 8)


def sigmoid_tflite_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """LiteRT reference int16 LOGISTIC: q scaled onto 1/(3*4096) units (a power-of-two scale
    2^-12 uses 3 << 0), |v| >> 9 indexes sigmoid_table_uint16, 9 fraction bits interpolate, the
    sign folds by symmetry, >> 10 back to Q0.15."""
    # Reproduces: LiteRT 2.3.0 activations.cc SigmoidPrepare (int16), reference/integer_ops/logistic.h Logistic(int16)
    if x_zp != 0 or y_zp != 0 or dtype != "int16":
        raise SpecError("int16 LOGISTIC needs int16 and zero points 0")
    return _int16_lut_activation(x, x_scale, y_scale, 3, (0,), _logistic16_entry)


def tanh_tflite_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """LiteRT reference int16 TANH: as LOGISTIC with tanh(x) = 2 sigmoid(2x) - 1: |v| >> 8 indexes
    the table, 8 fraction bits interpolate, >> 8 back to Q0.15 (power-of-two scales 2^-12, 2^-11)."""
    # Reproduces: LiteRT 2.3.0 activations.cc TanhPrepare (int16), reference/integer_ops/tanh.h Tanh(int16)
    if x_zp != 0 or y_zp != 0 or dtype != "int16":
        raise SpecError("int16 TANH needs int16 and zero points 0")
    return _int16_lut_activation(x, x_scale, y_scale, 3, (0, 1), _tanh16_entry)


def _gemmlowp16(x, x_scale, y_scale, pot_shifts, fn):
    """None unless the input scale is a power of two; else the optimized kernel's output: the raw
    int16 input as FixedPoint<int16, 3> (times 2^left_shift, saturating) through ``fn``."""
    sx = qops.scale(x_scale, "x_scale")
    mult, left_shift = _int16_lut_input(sx, 3, pot_shifts)
    if mult != 0:
        return None
    if qops.scale(y_scale, "y_scale") != Fraction(1, 32768):
        raise SpecError(f"int16 LOGISTIC/TANH needs output scale 2^-15, got {y_scale}")
    return elementwise(x, "int16", lambda q: fn(gemmlowp.multiply_by_pot16(q, left_shift)))


def sigmoid_tflite_int16_optimized(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """LiteRT optimized int16 LOGISTIC: the reference kernel, except for a power-of-two input scale
    (2^-12), where the raw input is a gemmlowp FixedPoint<int16, 3> and gemmlowp's 16-bit logistic
    runs (SSE lanes of 8, a scalar tail: the same values, refquant/gemmlowp.py logistic16)."""
    # Reproduces: LiteRT 2.3.0 activations.cc SigmoidEval (int16: input_multiplier == 0 runs optimized_ops.h
    # Logistic(int16), gemmlowp fixedpoint.h logistic<int16x8_m128i / int16, 3>)
    if x_zp != 0 or y_zp != 0 or dtype != "int16":
        raise SpecError("int16 LOGISTIC needs int16 and zero points 0")
    out = _gemmlowp16(x, x_scale, y_scale, (0,), gemmlowp.logistic16)
    return sigmoid_tflite_int16(x, x_scale, x_zp, y_scale, y_zp, dtype=dtype) if out is None else out


def tanh_tflite_int16_optimized(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """LiteRT optimized int16 TANH: the reference kernel, except for input scales 2^-12 and 2^-11
    (input_left_shift 0 / 1: SaturatingRoundingMultiplyByPOT<1> first), which run gemmlowp's
    16-bit tanh on FixedPoint<int16, 3> (refquant/gemmlowp.py tanh16)."""
    # Reproduces: LiteRT 2.3.0 activations.cc TanhEval (int16: input_multiplier == 0 runs optimized_ops.h
    # Tanh(int16), gemmlowp fixedpoint.h tanh<int16x8_m128i / int16, 3>)
    if x_zp != 0 or y_zp != 0 or dtype != "int16":
        raise SpecError("int16 TANH needs int16 and zero points 0")
    out = _gemmlowp16(x, x_scale, y_scale, (0, 1), gemmlowp.tanh16)
    return tanh_tflite_int16(x, x_scale, x_zp, y_scale, y_zp, dtype=dtype) if out is None else out


# Named deviations of the rows that use these variants (refquant/backends.py builds them).
DEVIATIONS = {
    "LiteRT int16 LOGISTIC/TANH power-of-two scales: gemmlowp int16": "input scale 2^-12 (TANH also 2^-11, "
    "input_left_shift 1): the raw input as FixedPoint<int16, 3> through gemmlowp's 16-bit logistic / tanh "
    "(exp_on_negative_values, three Newton steps), not the reference's sigmoid table (variant 'tflite_optimized'; "
    "refquant/gemmlowp.py logistic16 / tanh16; docs/ops.md \"Activations\")",
}

VARIANTS = {
    "softmax_int16": {"exact": softmax_exact, "tflite_ref": softmax_tflite_int16, "tflm": softmax_tflm_int16},
    "sigmoid_int16": {"exact": sigmoid_exact, "tflite_ref": sigmoid_tflite_int16,
                      "tflite_optimized": sigmoid_tflite_int16_optimized},
    "tanh_int16": {"exact": tanh_exact, "tflite_ref": tanh_tflite_int16,
                   "tflite_optimized": tanh_tflite_int16_optimized},
}
