"""QONNX quantization ops: Quant (IntQuant), BipolarQuant, Trunc -- exactly, two ways.

Source: the QONNX custom-op specification (github.com/fastmachinelearning/qonnx, docs/qonnx-custom-ops,
``quant_op.md``, ``bipolar_quant_op.md``, ``trunc_op.md``) and its executable numpy reference,
qonnx 1.0.0 ``qonnx.core.onnx_exec.execute_onnx``.  The ops are what FINN, hls4ml and Brevitas export:
a float tensor is quantized to an integer grid of any bit width and returned dequantized (a
"fake-quantized" float tensor).

Two variants of each op (``VARIANTS``):

    exact   the specification ideal: q = clamp(round_mode(x/s + z)) on exact rationals, the
            output (q - z)*s exact.
    qonnx   qonnx 1.0.0's numpy reference, step by step in binary32 (every input tensor is float32
            there, so each numpy operation is one IEEE binary32 operation, RNE): fl(fl(x/s) + z), the
            clamp bounds computed in binary32 from the bit width, clamp *before* rounding, the
            rounding mode as numpy writes it (HALF_UP = sign(y)*floor(fl(|y| + 0.5)), HALF_DOWN =
            sign(y)*ceil(fl(|y| - 0.5)), in binary32), then fl(fl(y - z)*s).

Where they part (measured on qonnx 1.0.0, tests/test_qonnx.py): near-ties of x/s where fl(x/s)
lands on the tie (x = -1.35f, s = 0.1f, z = 3: qonnx -10, exact -11); HALF_UP/HALF_DOWN when
|y| +- 0.5 rounds in binary32 (|y| = 0.5 - 2^-25 -> HALF_UP 1, exact 0).  For bit widths above 24
the bounds 2^(b-1) - 1 are not binary32 values (b = 32 signed: qonnx clamps to 2^31); the model keeps
that, though a binary32 output cannot show it.  The sign of a zero output (-0.0) is not modelled:
values are compared as numbers.

Values are exact rationals (``Fraction``/``int``); a binary32 input is its exact value.
"""

from fractions import Fraction

from . import rounding
from .errors import InvalidValueError, UnknownNameError, Unpredictable
from .ieee import fl32

# QONNX rounding_mode attribute -> (the exact rule on |y| for a sign-symmetric mode, or a rule on y).
# Reproduces: qonnx docs/qonnx-custom-ops/quant_op.md, "rounding_mode" (numpy functions of the reference).
ROUNDING_MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def _mode(name):
    m = str(name).upper()
    if m not in ROUNDING_MODES:
        raise UnknownNameError("QONNX rounding_mode", name, ROUNDING_MODES)
    return "ROUND" if m == "HALF_EVEN" else m


def _signed(mag_rule, y):
    """sign(y) * mag_rule(|y|): the sign-symmetric modes (numpy's np.sign(x) * f(np.abs(x)))."""
    r = mag_rule(abs(y))
    return r if y >= 0 else -r


def round_exact(y, mode):
    """y (exact rational) rounded to an integer by a QONNX rounding mode, exactly.

    Reproduces: qonnx quant_op.md rounding modes -- ROUND = half to even, CEIL, FLOOR, UP = away from
    zero, DOWN = toward zero, HALF_UP = half away from zero, HALF_DOWN = half toward zero.
    """
    m, y = _mode(mode), Fraction(y)
    n, d = y.numerator, y.denominator
    if m == "ROUND":
        return rounding.round_ratio(n, d, "half_even")
    if m in ("CEIL", "FLOOR"):
        return rounding.round_ratio(n, d, m.lower())
    mag = {"UP": "ceil", "DOWN": "floor", "HALF_UP": "half_up", "HALF_DOWN": "half_down"}[m]
    return _signed(lambda a: rounding.round_ratio(a.numerator, a.denominator, mag), y)


def round_qonnx(y, mode):
    """y (a binary32 value) rounded as qonnx 1.0.0's numpy reference rounds it, in binary32.

    Reproduces: qonnx 1.0.0 custom_op/general/intquant.py resolve_rounding_mode (np.round, np.ceil,
    np.floor, np.fix, sign*ceil(|y|), sign*floor(|y| + 0.5), sign*ceil(|y| - 0.5), binary32 adds).
    """
    m, y = _mode(mode), Fraction(y)
    if m == "HALF_UP":
        return _signed(lambda a: rounding.floor(fl32(a + Fraction(1, 2))), y)
    if m == "HALF_DOWN":
        return _signed(lambda a: rounding.ceil(fl32(a - Fraction(1, 2))), y)
    return round_exact(y, m)      # the other modes are exact on a binary32 value


def int_bounds(bit_width, signed, narrow):
    """(min_int, max_int) of the integer grid.

    Reproduces: qonnx quant_op.md min_int / max_int (signed narrow -> [-2^(b-1)+1, 2^(b-1)-1];
    signed -> [-2^(b-1), 2^(b-1)-1]; unsigned -> [0, 2^b-1], narrow -> [0, 2^b-2]).
    """
    b = _bit_width(bit_width)
    if signed:
        return (-(2 ** (b - 1)) + (1 if narrow else 0), 2 ** (b - 1) - 1)
    return 0, 2**b - (2 if narrow else 1)


def _bit_width(bit_width):
    b = Fraction(bit_width)
    if b.denominator != 1 or not 1 <= b <= 64:
        raise InvalidValueError(f"QONNX bit width {bit_width!r}: expected an integer from 1 to 64")
    return int(b)


def _positive_scale(scale):
    s = Fraction(scale)
    if s <= 0:
        raise InvalidValueError(f"QONNX scale {scale!r}: expected a positive value")
    return s


def quant_exact(x, scale, zeropt, bit_width, signed=True, narrow=False, rounding_mode="ROUND"):
    """Quant (IntQuant) on exact rationals: ((clamp(round(x/s + z)) - z) * s.

    Reproduces: qonnx docs/qonnx-custom-ops/quant_op.md (the op's definition, exact arithmetic).
    """
    s, z = _positive_scale(scale), Fraction(zeropt)
    if _bit_width(bit_width) == 1 and signed:     # bipolar q = +-1 (y >= 0 -> +1), then (q - z) * s as for any width
        return (bipolar_exact(Fraction(x) / s + z, 1) - z) * s
    lo, hi = int_bounds(bit_width, signed, narrow)
    q = min(max(round_exact(Fraction(x) / s + z, rounding_mode), lo), hi)
    return (q - z) * s


def quant_qonnx(x, scale, zeropt, bit_width, signed=True, narrow=False, rounding_mode="ROUND"):
    """Quant as qonnx 1.0.0's numpy reference computes it on float32 tensors, step by step.

    Reproduces: qonnx 1.0.0 intquant.py int_quant (fl32(x/s) + z, clamp to binary32 bounds, round,
    fl32(fl32(y - z) * s)); 1-bit signed is bipolar (sign of y, y >= 0 -> +1).
    """
    s, z = _positive_scale(scale), Fraction(zeropt)
    y = fl32(fl32(Fraction(x) / s) + z)
    if _bit_width(bit_width) == 1 and signed:
        return fl32(fl32((1 if y >= 0 else -1) - z) * s)
    lo, hi = (fl32(v) for v in int_bounds(bit_width, signed, narrow))
    y = round_qonnx(min(max(y, lo), hi), rounding_mode)
    return fl32(fl32(y - z) * s)


def bipolar_exact(x, scale):
    """BipolarQuant: (+1 if x >= 0 else -1) * s.

    Reproduces: qonnx docs/qonnx-custom-ops/bipolar_quant_op.md.
    """
    return (1 if Fraction(x) >= 0 else -1) * _positive_scale(scale)


def bipolar_qonnx(x, scale):
    """BipolarQuant in binary32 (the product of +-1 and a binary32 scale is exact).

    Reproduces: qonnx 1.0.0 bipolar_quant.py binary_quant.
    """
    return fl32(bipolar_exact(x, scale))


def trunc_shift(output_scale, scale):
    """The power of two 2^t = 2^round(log2(s_out / s)) by which Trunc (v2) divides.

    Reproduces: qonnx 1.0.0 trunc.py trunc_v2 (2 ** np.round(np.log2(output_scale / scale))).  The
    ratio r = fl32(s_out/s); t is the integer nearest log2(r), decided exactly (r^2 against
    2^(2t+1)).  When r is within 2^-20 of 2^(t+1/2) a binary32 log2 within its error bound may round
    either way: Unpredictable.
    """
    r = fl32(_positive_scale(output_scale) / _positive_scale(scale))
    t = r.numerator.bit_length() - r.denominator.bit_length()    # 2^(t-1) < r < 2^(t+1)
    while Fraction(2) ** t > r:
        t -= 1                                                    # now 2^t <= r < 2^(t+1)
    rr = r * r / Fraction(4) ** t                                 # in [1, 4): log2 r - t = log2(rr) / 2
    if rr >= 2:
        t += 1                                                    # log2 r >= t + 1/2
    if abs(rr / 2 - 1) < Fraction(1, 2**20):
        raise Unpredictable(f"QONNX Trunc: log2(output_scale/scale) = log2({r}) is within 2^-20 of a half-integer; "
                            f"a binary32 log2 may round it either way")
    return t


def trunc_exact(x, scale, zeropt, input_bit_width, output_scale, output_bit_width, signed=True, narrow=False,
                rounding_mode="FLOOR"):
    """Trunc (v2) on exact rationals: y = RNE(x/s + z) / 2^t, clamp to the output grid, round, rescale.

    Reproduces: qonnx docs/qonnx-custom-ops/trunc_op.md (opset version 2), exact arithmetic.
    """
    s, z = _positive_scale(scale), Fraction(zeropt)
    _bit_width(input_bit_width)
    t = trunc_shift(output_scale, s)
    y = Fraction(round_exact(Fraction(x) / s + z, "ROUND")) / Fraction(2) ** t
    lo, hi = int_bounds(output_bit_width, signed, narrow)
    y = round_exact(min(max(y, lo), hi), rounding_mode)
    return (y - z / Fraction(2) ** t) * Fraction(output_scale)


def trunc_qonnx(x, scale, zeropt, input_bit_width, output_scale, output_bit_width, signed=True, narrow=False,
                rounding_mode="FLOOR"):
    """Trunc (v2) as qonnx 1.0.0's numpy reference computes it in binary32.

    Reproduces: qonnx 1.0.0 trunc.py trunc_v2 (fl32 steps; division by 2^t exact; bounds in binary32).
    """
    s, z = _positive_scale(scale), Fraction(zeropt)
    _bit_width(input_bit_width)
    t = trunc_shift(output_scale, s)
    y = Fraction(round_exact(fl32(fl32(Fraction(x) / s) + z), "ROUND")) / Fraction(2) ** t
    lo, hi = (fl32(v) for v in int_bounds(output_bit_width, signed, narrow))
    y = round_qonnx(min(max(y, lo), hi), rounding_mode)
    return fl32(fl32(y - z / Fraction(2) ** t) * Fraction(output_scale))


VARIANTS = {
    "qonnx_quant": {"exact": quant_exact, "qonnx": quant_qonnx},
    "qonnx_bipolar_quant": {"exact": bipolar_exact, "qonnx": bipolar_qonnx},
    "qonnx_trunc": {"exact": trunc_exact, "qonnx": trunc_qonnx},
}
