"""TFLite's int16 ADD / SUB power-of-two path (the ``pot_scale_int16`` option, LSTM-style tensors).

With ``pot_scale_int16 = true`` (the option's default in the schema; the converter sets it false
for general scales) and all three scales powers of two by CheckedLog2, Prepare keeps only the
exponent differences: shift_i = log2(s_i) - log2(s_y), one of them 0 and both <= 0 (else the
model is refused).  Eval then works on FixedPoint<int16, 0> raw values: the shifted input is
RoundingDivideByPOT'ed by -shift (half away from zero), the two are added (SUB: subtracted)
with int16 saturation, then clamped to the fused activation's range.  Every kernel family runs
this same scalar code; a broadcasting ADD has no kernel on this path (MatchingElementsSize's
TFLITE_CHECK aborts), a broadcasting SUB runs BroadcastSub16POTSlow (the same arithmetic).

Source read (never copied): LiteRT 2.3.0 tflite/kernels/add.cc and sub.cc Prepare / EvalQuantized,
reference/add.h Add(int16, pot_scale), reference/reference_ops.h Sub16, reference/sub.h
BroadcastSub16POTSlow, quantization_util.cc CheckedLog2.  Stdlib only.
"""

from fractions import Fraction

from . import certified
from . import fixedpoint as fp
from .errors import SpecError, Unpredictable
from .rounding import half_away


def checked_log2(scale):
    """CheckedLog2(float): (is_pot, round(log2 scale)); a power of two when the binary32 log2 is
    within 1e-3 of an integer.  Within 10^-5 of that threshold the float log decides: Unpredictable."""
    # Reproduces: LiteRT 2.3.0 quantization_util.cc CheckedLog2 (logf(x) * (1/logf(2)), TfLiteRound)
    lo, hi = certified.enclose("log", Fraction(scale), 40)
    ln2_lo, ln2_hi = certified.enclose("log", 2, 40)
    l2 = sorted((lo / ln2_hi, hi / ln2_lo, lo / ln2_lo, hi / ln2_hi))
    k = half_away(l2[0])
    frac = max(abs(l2[0] - k), abs(l2[-1] - k))
    if abs(frac - Fraction(1, 1000)) < Fraction(1, 10**5) or half_away(l2[-1]) != k:
        raise Unpredictable(f"CheckedLog2({float(scale)}) is at a binary32 rounding threshold")
    return frac < Fraction(1, 1000), k


def pot_shifts(sa, sb, sy):
    """(shift_a, shift_b) of the power-of-two path, or None when a scale is not a power of two (the
    general int16 path runs).  SpecError where Prepare refuses: both shifts non-zero or one > 0."""
    # Reproduces: LiteRT 2.3.0 add.cc Prepare / sub.cc PrepareInt16SubOpPOT (input shifts, TF_LITE_ENSUREs)
    logs = [checked_log2(s) for s in (sa, sb, sy)]
    if not all(pot for pot, _ in logs):
        return None
    shifts = (logs[0][1] - logs[2][1], logs[1][1] - logs[2][1])
    if (shifts[0] != 0 and shifts[1] != 0) or max(shifts) > 0:
        raise SpecError(f"int16 power-of-two ADD/SUB: input shifts {shifts} (log2 s_i - log2 s_y) need one "
                        "0 and both <= 0; LiteRT refuses the model")
    return shifts


def add_sub_pot16(x, y, shifts, sign, lo, hi):
    """One output: sat16(x >> -shift_a  +/-  y >> -shift_b) (rounding shifts), clamped to [lo, hi]."""
    # Reproduces: LiteRT 2.3.0 reference/add.h Add(int16, pot_scale = true), reference_ops.h Sub16
    xs = fp.rounding_divide_by_pot(x, -shifts[0])
    ys = fp.rounding_divide_by_pot(y, -shifts[1])
    return min(hi, max(lo, max(-(1 << 15), min((1 << 15) - 1, xs + sign * ys))))
