"""gemmlowp fixed-point transcendentals (fixedpoint/fixedpoint.h), bit for bit, on Python ints.

A FixedPoint<int32, k> value is its raw int32 r, meaning r / 2^(31 - k).  Products are
SaturatingRoundingDoublingHighMul (``fixedpoint.srdhm_i32``), + and - wrap modulo 2^32 as the
source's plain int32 arithmetic does on every mainstream compiler, Rescale is
SaturatingRoundingMultiplyByPOT.  TFLite's and tflite-micro's quantized LOGISTIC, TANH and
SOFTMAX reference kernels are built from these (refquant/activations.py).

Source read (never copied): google/gemmlowp fixedpoint/fixedpoint.h; LiteRT 2.3.0
tflite/kernels/internal/common.h GetReciprocal.  Stdlib only (docs/architecture.md).
"""

from . import fixedpoint as fp
from .errors import InvalidValueError


def _w32(v):
    return fp.wrap32(v)


def _mul(a, b):
    return fp.srdhm_i32(a, b)


def _pot(x, exponent):
    """SaturatingRoundingMultiplyByPOT<exponent> on int32."""
    if exponent < 0:
        return fp.rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return (1 << 31) - 1 if x > threshold else -(1 << 31) if x < -threshold else x << exponent


def _exp_quarter(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out (a Taylor expansion around -1/8)."""
    x = _w32(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4_4 = _pot(_mul(x2, x2), -2)
    poly = _pot(_w32(_mul(_w32(x4_4 + x3), 715827883) + x2), -1)
    return _w32(1895147668 + _mul(1895147668, _w32(x + poly)))


_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
           (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits):
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits), result Q0.31."""
    # Reproduces: gemmlowp fixedpoint.h exp_on_negative_values
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _w32((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_pot(a_mod, integer_bits))
    remainder = _w32(a_mod - a)
    for exponent, mult in _BARREL:
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = _mul(result, mult)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return (1 << 31) - 1 if a == 0 else result


def _newton_reciprocal(a):
    """The Q2.29 x ~ 1 / half_denominator of one_over/one_minus_x_over_one_plus_x (3 steps)."""
    s = a + (1 << 31) - 1                       # RoundingHalfSum(a, One): (s + sign(s)) / 2, truncated
    half = (s + 1) // 2 if s >= 0 else -((1 - s) // 2)
    x = _w32(1515870810 + _mul(half, -1010580540))
    for _ in range(3):
        one_minus = _w32((1 << 29) - _mul(half, x))
        x = _w32(x + _pot(_mul(x, one_minus), 2))
    return x


def logistic(a, integer_bits):
    """gemmlowp logistic of a Q(integer_bits) int32: the Q0.31 result."""
    # Reproduces: gemmlowp fixedpoint.h logistic / one_over_one_plus_x_for_x_in_0_1
    if a == 0:
        return 1 << 30
    pos = one_over_one_plus_x(exp_on_negative_values(_w32(-abs(a)), integer_bits))
    return pos if a > 0 else _w32((1 << 31) - 1 - pos)


def tanh(a, integer_bits):
    """gemmlowp tanh of a Q(integer_bits) int32: the Q0.31 result."""
    # Reproduces: gemmlowp fixedpoint.h tanh / one_minus_x_over_one_plus_x_for_x_in_0_1
    if a == 0:
        return 0
    e = exp_on_negative_values(_w32(-abs(a)), integer_bits + 1)
    t = _pot(_w32(_newton_reciprocal(e) - (1 << 29)), 2)
    return t if a > 0 else _w32(-t)


def one_over_one_plus_x(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: 1 / (1 + a) for a Q0.31 a in (0, 1), Q0.31."""
    # Reproduces: gemmlowp fixedpoint.h one_over_one_plus_x_for_x_in_0_1
    return _pot(_newton_reciprocal(a), 1)


def mul(a, b):
    """FixedPoint operator*: the raw SaturatingRoundingDoublingHighMul (integer bits add up)."""
    # Reproduces: gemmlowp fixedpoint.h operator* (SaturatingRoundingDoublingHighMul)
    return _mul(a, b)


def rescale(raw, src_bits, dst_bits):
    """Rescale<dst_bits> of a Q(src_bits) raw value: SaturatingRoundingMultiplyByPOT<src - dst>."""
    # Reproduces: gemmlowp fixedpoint.h Rescale
    return _pot(raw, src_bits - dst_bits)


def get_reciprocal(x, integer_digits):
    """TFLite GetReciprocal of a positive Q(integer_digits) int32: (Q0.31 raw of 1 / (x shifted into
    [1, 2)), num_bits_over_unit).  headroom = clz(x); the shifted value minus one feeds
    one_over_one_plus_x."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/internal/common.h GetReciprocal
    if not 0 < x < (1 << 31):
        raise InvalidValueError(f"GetReciprocal needs 0 < x < 2^31, got {x}")
    headroom = 32 - x.bit_length()
    shifted_minus_one = _w32(((x << headroom) - (1 << 31)) & 0xFFFFFFFF)
    return one_over_one_plus_x(shifted_minus_one), integer_digits - headroom


# ##########################################################################
# 16-bit FixedPoint<int16, k> (the int16 LOGISTIC / TANH of TFLite's optimized kernels)
# ##########################################################################
#
# The same templates instantiated on int16 raw values (r / 2^(15 - k)).  Constants are the int32
# ones rounding-shifted right by 16 (RescaleConstantInitializer); + and - wrap modulo 2^16 (the
# int16 casts, and _mm_add/sub_epi16 in the SSE lanes); the one saturating add is
# AddSaturatingIf16Bit at the end of the exp polynomial.  gemmlowp fixedpoint_sse.h replaces two
# primitives for int16x8_m128i: SaturatingRoundingDoublingHighMul by _mm_mulhrs_epi16 with a
# 0x8000 fix-up, which equals the scalar floor((a*b + 2^14) / 2^15) and its -1*-1 saturation on
# every int16 pair, and RoundingHalfSum by _mm_avg_epu16 on offset values, floor((a + b + 1) / 2),
# which rounds a negative odd sum up where the scalar form rounds it away from zero (``lanes``).

def _w16(v):
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def _mul16(a, b):
    """SaturatingRoundingDoublingHighMul<int16> (scalar and _mm_mulhrs_epi16 agree)."""
    return (1 << 15) - 1 if a == b == -(1 << 15) else (a * b + (1 << 14)) >> 15


def _pot16(x, exponent):
    """SaturatingRoundingMultiplyByPOT<exponent> on int16."""
    if exponent <= 0:
        return fp.rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (15 - exponent)) - 1
    return (1 << 15) - 1 if x > threshold else -(1 << 15) if x < -threshold else x << exponent


def multiply_by_pot16(x, exponent):
    """SaturatingRoundingMultiplyByPOT<exponent> of an int16 (saturating left, rounding right)."""
    # Reproduces: gemmlowp fixedpoint.h SaturatingRoundingMultiplyByPOT (int16)
    return _pot16(x, exponent)


def _const16(raw32):
    """RescaleConstantInitializer<FixedPoint<int16, k>>: the int32 constant rounded >> 16."""
    return _w16(fp.rounding_divide_by_pot(raw32, 16))


def _exp_quarter16(a):
    x = _w16(a + (1 << 12))
    x2 = _mul16(x, x)
    x3 = _mul16(x2, x)
    x4_4 = _pot16(_mul16(x2, x2), -2)
    poly = _pot16(_w16(_mul16(_w16(x4_4 + x3), _const16(715827883)) + x2), -1)
    c = _const16(1895147668)
    return max(-(1 << 15), min((1 << 15) - 1, c + _mul16(c, _w16(x + poly))))


def exp_on_negative_values16(a, integer_bits):
    """gemmlowp exp_on_negative_values on FixedPoint<int16, integer_bits>: the Q0.15 raw result."""
    # Reproduces: gemmlowp fixedpoint.h exp_on_negative_values (tRawType = int16) @16e8662
    frac = 15 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = _w16((a & (quarter - 1)) - quarter)
    result = _exp_quarter16(_pot16(a_mod, integer_bits))
    remainder = _w16(a_mod - a)
    for exponent, mult in _BARREL:
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = _mul16(result, _const16(mult))
    return (1 << 15) - 1 if a == 0 else result


def _newton_reciprocal16(a, lanes):
    """The Q2.13 x ~ 1 / half_denominator (3 Newton steps); half_denominator = RoundingHalfSum(a, 1)."""
    s = a + (1 << 15) - 1
    half = (s + 1) >> 1 if lanes or s >= 0 else -((1 - s) // 2)
    x = _w16(_const16(1515870810) + _mul16(half, _const16(-1010580540)))
    for _ in range(3):
        one_minus = _w16((1 << 13) - _mul16(half, x))
        x = _w16(x + _pot16(_mul16(x, one_minus), 2))
    return x


def logistic16(a, integer_bits=3, lanes=False):
    """gemmlowp logistic of a FixedPoint<int16, integer_bits> raw value: the Q0.15 result.
    ``lanes``: the SSE int16x8 instantiation (its RoundingHalfSum), else the scalar one."""
    # Reproduces: gemmlowp fixedpoint.h logistic / one_over_one_plus_x_for_x_in_0_1 (int16), fixedpoint_sse.h
    if a == 0:
        return 1 << 14
    magnitude = a if a > 0 else _w16(-a)
    pos = _pot16(_newton_reciprocal16(exp_on_negative_values16(_w16(-magnitude), integer_bits), lanes), 1)
    return pos if a > 0 else _w16((1 << 15) - 1 - pos)


def tanh16(a, integer_bits=3, lanes=False):
    """gemmlowp tanh of a FixedPoint<int16, integer_bits> raw value: the Q0.15 result
    (one_minus_x_over_one_plus_x of exp(2 * -|a|)); ``lanes`` as in logistic16."""
    # Reproduces: gemmlowp fixedpoint.h tanh / neg_tanh_on_negative_values (int16), fixedpoint_sse.h
    if a == 0:
        return 0
    n = a if a < 0 else _w16(-a)
    e = exp_on_negative_values16(n, integer_bits + 1)
    t = _pot16(_w16(_newton_reciprocal16(e, lanes) - (1 << 13)), 2)
    return _w16(-t) if a < 0 else t
