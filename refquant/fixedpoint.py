"""Fixed-point requantization primitives, written as executable pseudo-code.

Every function here reproduces one named integer routine of one backend, bit
for bit, with Python ``int`` (unbounded, so every C intermediate is exact) and
``fractions.Fraction``.  No float arithmetic is performed: a Python float that
is passed in is converted exactly with ``float.as_integer_ratio``.

Conventions (see docs/gemm-contract.md §3 and docs/reference/requant.md):

* ``>>`` on a Python int is an arithmetic (flooring) shift, as in C on
  two's-complement targets.
* *half-up* = ties toward +inf = ``(v + 2^(n-1)) >> n``;
  *half-away* = ties away from zero.
* TFLite ``shift`` > 0 is a left shift; the real multiplier is
  ``m * 2^(shift - 31)``.  TOSA ``shift`` is a right shift; the scale is
  ``m * 2^-shift``.

Three outcomes (refquant.errors):

* ``InvalidValueError``: an argument is not of the C type the routine takes
  (not an int, outside int32/int16/int48, NaN, a negative real multiplier).
* ``SpecError``: the modelled source rejects the input unconditionally
  (a ``TFLITE_CHECK`` that aborts in every build).
* ``Unpredictable``: the modelled source leaves the result undefined (TOSA
  ``REQUIRE``, a ``DCHECK``/``assert``, C undefined behaviour such as an
  over-wide shift).  No golden value may be produced for such an input.

Sources read (never copied): gemmlowp fixedpoint.h @16e8662; tflite-micro
kernels/internal/{common.cc, quantization_util.cc}; CMSIS-NN
arm_nnsupportfunctions.h; TOSA spec scale_helpers.tosac (1.0); MLIR
Tosa/Utils/QuantUtils.cpp; ruy kernel_avx2_fma.cc; FBGEMM QuantUtils.cc;
XNNPACK rndnu params init.
"""

from fractions import Fraction

from refquant.errors import InvalidValueError, SpecError, UnknownNameError, Unpredictable

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT48_MIN, INT48_MAX = -(1 << 47), (1 << 47) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

TFLITE_BUILDS = ("double", "single")


# ##########################################################################
# Argument checks: the three outcomes
# ##########################################################################

def _check_int(name, value, lo, hi, ctype):
    """Raise InvalidValueError unless ``value`` is an int in [lo, hi] (the C type's range)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValueError(f"{name} must be an int ({ctype}), got {value!r}")
    if not lo <= value <= hi:
        raise InvalidValueError(f"{name} = {value} is outside {ctype} [{lo}, {hi}]")
    return value


def _require(condition, message):
    """TOSA REQUIRE / C DCHECK / undefined behaviour: the result is unpredictable."""
    if not condition:
        raise Unpredictable(message)


def _check_build(build):
    if build not in TFLITE_BUILDS:
        raise UnknownNameError("TFLite build", build, TFLITE_BUILDS)
    return build


# ##########################################################################
# Integer helpers
# ##########################################################################

def wrap32(v):
    """v reduced modulo 2^32 into [-2^31, 2^31) (two's-complement wrap)."""
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def rshift_round_half_up(v, n):
    """floor(v / 2^n + 1/2) for n >= 0: one rounding, ties toward +inf (n = 0: v)."""
    if n == 0:
        return v
    return (v + (1 << (n - 1))) >> n


def _trunc_div(num, den):
    """C integer division: the quotient truncated toward zero (den > 0)."""
    q = abs(num) // den
    return q if num >= 0 else -q


# ##########################################################################
# gemmlowp / CMSIS-NN primitives
# ##########################################################################

def srdhm_i32(a, b):
    """SaturatingRoundingDoublingHighMul: round(a*b / 2^31), ties toward +inf.

    Real meaning: a and b are Q0.31 values; the result is their Q0.31 product
    (the high 32 bits of the doubled 64-bit product, rounded).  The source adds
    a sign-dependent nudge and divides truncating toward zero; that equals
    floor((a*b + 2^30) / 2^31), i.e. ties go toward +inf, not away from zero
    (a*b = -2^30 gives 0).  Its only saturation: a = b = INT32_MIN (the real
    product +1 is not representable) gives INT32_MAX.
    Domain: a, b int32; anything else raises InvalidValueError.
    """
    # Reproduces: gemmlowp SaturatingRoundingDoublingHighMul (== NEON VQRDMULH)
    _check_int("a", a, INT32_MIN, INT32_MAX, "int32")
    _check_int("b", b, INT32_MIN, INT32_MAX, "int32")
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def srdhm_i32_cmsis(a, b):
    """CMSIS-NN doubling_high_mult_no_sat: (a*b + 2^30) >> 31, truncated to int32.

    Equals srdhm_i32 everywhere except a = b = INT32_MIN: there the 64-bit value
    is 2^31 and the (int32_t) cast wraps it to INT32_MIN (no saturation).
    """
    # Reproduces: CMSIS-NN arm_nn_doubling_high_mult_no_sat
    _check_int("a", a, INT32_MIN, INT32_MAX, "int32")
    _check_int("b", b, INT32_MIN, INT32_MAX, "int32")
    return wrap32((a * b + (1 << 30)) >> 31)


def rounding_divide_by_pot(x, exponent):
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero.

    Domain: x int32 (else InvalidValueError); exponent in [0, 31] (gemmlowp
    asserts it; outside raises Unpredictable).  Never overflows.
    """
    # Reproduces: gemmlowp RoundingDivideByPOT (== CMSIS-NN arm_nn_divide_by_power_of_two)
    _check_int("x", x, INT32_MIN, INT32_MAX, "int32")
    _check_int("exponent", exponent, INT32_MIN, INT32_MAX, "int")
    _require(0 <= exponent <= 31, f"RoundingDivideByPOT exponent = {exponent} outside [0, 31]")
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


# ##########################################################################
# Real multiplier -> (multiplier, shift)
# ##########################################################################

def as_exact_real(real, name="real multiplier"):
    """A nonnegative real as a Fraction, exactly.  Float: exact via as_integer_ratio.

    NaN, +-inf, negative values and non-numbers raise InvalidValueError.
    """
    if isinstance(real, bool) or not isinstance(real, (int, float, Fraction)):
        raise InvalidValueError(f"{name} must be a Fraction, int or float, got {real!r}")
    if isinstance(real, float):
        if real != real or real in (float("inf"), float("-inf")):
            raise InvalidValueError(f"{name} = {real!r} is not finite")
        real = Fraction(*real.as_integer_ratio())
    real = Fraction(real)
    if real < 0:
        raise InvalidValueError(f"{name} = {real!r} is negative")
    return real


def frexp_exact(r):
    """(q, e) with r = q * 2^e and 1/2 <= q < 1, exactly (C frexp); r = 0 gives (0, 0)."""
    if r == 0:
        return Fraction(0), 0
    n, d = r.numerator, r.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(0, -e)) >= (d << max(0, e)):  # r >= 2^e: one more bit
        e += 1
    return r / Fraction(2) ** e, e


def _round_half_away(r):
    """std::round of a nonnegative Fraction: the nearest integer, ties away from zero."""
    return (2 * r.numerator + r.denominator) // (2 * r.denominator)


def _round_half_down(r):
    """Nearest integer of a nonnegative Fraction, ties toward zero (TFLITE_EMULATE_FLOAT)."""
    return (2 * r.numerator + r.denominator - 1) // (2 * r.denominator)


def quantize_multiplier(real, build="double", emulate_float=False):
    """TFLite QuantizeMultiplier: real M >= 0 -> (m, shift), M ~= m * 2^(shift - 31).

    Steps (exact on the given rational; to reproduce TFLite pass the binary64
    value it computes, e.g. a float or Fraction(float)):
      (q, e) = frexp(M); m = std::round(q * 2^31)  (ties away from zero;
        with emulate_float=True the integer-only IntegerFrExp path, whose ties
        round down);
      m = 2^31 -> (2^30, e + 1)        (the mantissa rounded up to 1.0);
      e < -31  -> (0, 0)               (flush: M below about 2^-32);
      single build only: e > 30 -> (2^31 - 1, 30)  (saturate M >= 2^30: the
        single-rounding MBQM cannot shift left by more than 30).
    M = 0 -> (0, 0).  So M = 2^30 is (2^30, 31) in the double build and
    (2^31 - 1, 30) in the single build.
    Negative M (legal in TFLite's double build, giving m < 0) and NaN/inf are
    outside this oracle's domain: InvalidValueError.
    """
    # Reproduces: TFLite quantization_util.cc QuantizeMultiplier (both builds)
    _check_build(build)
    r = as_exact_real(real)
    if r == 0:
        return 0, 0
    q, shift = frexp_exact(r)
    rounder = _round_half_down if emulate_float else _round_half_away
    m = rounder(q * (1 << 31))
    if m == 1 << 31:
        m, shift = 1 << 30, shift + 1
    if shift < -31:
        return 0, 0
    if build == "single" and shift > 30:
        return INT32_MAX, 30
    return m, shift


def quantize_multiplier_smaller_than_one_exp(real, build="double"):
    """TFLite QuantizeMultiplierSmallerThanOneExp: as quantize_multiplier for 0 < M < 1.

    Returns (m, left_shift) with left_shift <= 0.  TFLITE_CHECKs (abort in every
    build, so SpecError): 0 < M < 1, and the resulting shift <= 0 -- which fails
    for M within 2^-32 of 1, where the mantissa rounds up to 1.0 (shift 1).
    """
    # Reproduces: TFLite quantization_util.cc QuantizeMultiplierSmallerThanOneExp
    r = as_exact_real(real)
    if not 0 < r < 1:
        raise SpecError(f"QuantizeMultiplierSmallerThanOneExp needs 0 < M < 1, got {real!r}")
    m, shift = quantize_multiplier(r, build)
    if shift > 0:
        raise SpecError(f"QuantizeMultiplierSmallerThanOneExp: M = {real!r} gives shift {shift} > 0")
    return m, shift


def quantize_multiplier_greater_than_one(real, build="double"):
    """TFLite QuantizeMultiplierGreaterThanOne: (m, left_shift >= 0) for M > 1.

    TFLITE_CHECKs M > 1 and left_shift >= 0 (SpecError otherwise; the second
    cannot fail for M > 1).
    """
    # Reproduces: TFLite quantization_util.cc QuantizeMultiplierGreaterThanOne
    r = as_exact_real(real)
    if not r > 1:
        raise SpecError(f"QuantizeMultiplierGreaterThanOne needs M > 1, got {real!r}")
    m, shift = quantize_multiplier(r, build)
    if shift < 0:
        raise SpecError(f"QuantizeMultiplierGreaterThanOne: M = {real!r} gives shift {shift} < 0")
    return m, shift


def reduce_multiplier_to_i16(quantized_multiplier):
    """The 16-bit multiplier of TFLite's int64-input MBQM (and CMSIS-NN REDUCE_MULTIPLIER).

    round(m / 2^16) half-up, with m >= 0x7FFF0000 saturated to 0x7FFF (the
    rounding would otherwise give 2^15, which is not an int16).  Domain:
    m in [0, 2^31) (negative m: Unpredictable, the caller DCHECKs m >= 0).
    """
    # Reproduces: TFLite common.cc MultiplyByQuantizedMultiplier(int64_t, ...) reduced_multiplier
    _check_int("quantized_multiplier", quantized_multiplier, INT32_MIN, INT32_MAX, "int32")
    _require(quantized_multiplier >= 0, f"quantized_multiplier = {quantized_multiplier} < 0")
    if quantized_multiplier >= 0x7FFF0000:
        return 0x7FFF
    return (quantized_multiplier + (1 << 15)) >> 16


# ##########################################################################
# TFLite MultiplyByQuantizedMultiplier (MBQM)
# ##########################################################################

def _mbqm_double_round(x, m, shift):
    """Default build: RDBPOT(SRDHM(wrap32(x * 2^left), m), right)."""
    _require(-31 <= shift <= 30, f"MBQM shift = {shift} outside [-31, 30] (C UB / RDBPOT assert)")
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm_i32(wrap32(x << left), m), right)


def _mbqm_single_round(x, m, shift):
    """TFLITE_SINGLE_ROUNDING: (x*m + 2^(T-1)) >> T with T = 31 - shift."""
    _require(m >= 0, f"single-rounding MBQM needs quantized_multiplier >= 0, got {m}")
    _require(-31 <= shift <= 30, f"single-rounding MBQM shift = {shift} outside [-31, 30]")
    result = rshift_round_half_up(x * m, 31 - shift)
    _require(INT32_MIN <= result <= INT32_MAX, f"MBQM result {result} outside int32 (DCHECK)")
    return result


def multiply_by_quantized_multiplier(x, quantized_multiplier, shift, build="double"):
    """TFLite MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift) ~= x * m * 2^(shift-31).

    build="double" (the default TFLite/TFLM build, = CMSIS-NN default for m >= 0):
      x * 2^left wraps modulo 2^32 (the source's plain int32 multiply; the
      contract pins wrap), then SRDHM (ties +inf), then RDBPOT (ties away from
      zero): two roundings.  m may be any int32.
    build="single" (TFLITE_SINGLE_ROUNDING = ruy reference/NEON; CMSIS-NN's single
      build equals it while |result| < 2^30, beyond which its int32 intermediate
      wraps, tests/test_cmsis_nn.py):
      floor((x*m + 2^(T-1)) / 2^T), T = 31 - shift: one rounding, ties toward
      +inf.  DCHECKs m >= 0 and the result within int32 (else Unpredictable).
    Both: shift must lie in [-31, 30] (a larger left shift is UB, a larger right
    shift fails the RDBPOT assert / DCHECK): else Unpredictable.
    """
    # Reproduces: TFLite common.cc MultiplyByQuantizedMultiplier(int32_t, int32_t, int), both builds
    _check_build(build)
    _check_int("x", x, INT32_MIN, INT32_MAX, "int32")
    _check_int("quantized_multiplier", quantized_multiplier, INT32_MIN, INT32_MAX, "int32")
    _check_int("shift", shift, INT32_MIN, INT32_MAX, "int")
    if build == "double":
        return _mbqm_double_round(x, quantized_multiplier, shift)
    return _mbqm_single_round(x, quantized_multiplier, shift)


def multiply_by_quantized_multiplier_i64(x, quantized_multiplier, shift, build="double"):
    """TFLite MultiplyByQuantizedMultiplier(int64 x, int32 m, int shift), the 16x8 path.

    Both builds compute the same single rounding with a 16-bit multiplier:
      rm = reduce_multiplier_to_i16(m); T = 15 - shift;
      r = floor((x*rm + 2^(T-1)) / 2^T)      (ties toward +inf).
    Preconditions (DCHECK in the single build, assert in the double build; both
    Unpredictable): m >= 0, shift in [-31, 7], x in [-2^47, 2^47).
    Result outside int32: the single build DCHECKs it (Unpredictable); the
    double build narrows it with a plain int32_t conversion, which wraps
    modulo 2^32 (modular since C++20, and on every mainstream compiler before).
    """
    # Reproduces: TFLite common.cc MultiplyByQuantizedMultiplier(int64_t, int32_t, int), both builds
    _check_build(build)
    _check_int("x", x, INT64_MIN, INT64_MAX, "int64")
    _check_int("quantized_multiplier", quantized_multiplier, INT32_MIN, INT32_MAX, "int32")
    _check_int("shift", shift, INT32_MIN, INT32_MAX, "int")
    _require(-31 <= shift <= 7, f"int64 MBQM shift = {shift} outside [-31, 7]")
    _require(INT48_MIN <= x <= INT48_MAX, f"int64 MBQM x = {x} outside [-2^47, 2^47)")
    reduced = reduce_multiplier_to_i16(quantized_multiplier)
    result = rshift_round_half_up(x * reduced, 15 - shift)
    if build == "double":
        return wrap32(result)
    _require(INT32_MIN <= result <= INT32_MAX, f"int64 MBQM result {result} outside int32 (DCHECK)")
    return result


# ##########################################################################
# TOSA 1.0 apply_scale_32 / apply_scale_16
# ##########################################################################

def _check_tosa_shift(shift):
    _check_int("shift", shift, -128, 127, "int8")
    _require(2 <= shift <= 62, f"TOSA REQUIRE 2 <= shift <= 62 violated: shift = {shift}")


def apply_scale_32(value, multiplier, shift, double_round=False):
    """TOSA apply_scale_32: value * multiplier * 2^-shift, one 64-bit product.

    SINGLE_ROUND (double_round=False): floor((v*m + 2^(s-1)) / 2^s), ties
    toward +inf (x0.5: 5 -> 3, -5 -> -2).  DOUBLE_ROUND with s > 31 adds a
    further +2^30 if v >= 0, -2^30 if v < 0 (the sign of v, not of the product):
    this equals TFLite's double rounding RDBPOT(SRDHM(v, m), s - 31) for
    m >= 0.  For s <= 31 DOUBLE_ROUND equals SINGLE_ROUND.
    REQUIREs (Unpredictable): m >= 0; 2 <= s <= 62; -2^(s-1) <= v < 2^(s-1)
    (which keeps the result within int32).  Types: v int32, m int32, s int8,
    double_round bool (else InvalidValueError).
    """
    # Reproduces: TOSA 1.0 apply_scale_32 (SINGLE_ROUND / DOUBLE_ROUND)
    _check_int("value", value, INT32_MIN, INT32_MAX, "int32")
    _check_int("multiplier", multiplier, INT32_MIN, INT32_MAX, "int32")
    if not isinstance(double_round, bool):
        raise InvalidValueError(f"double_round must be a bool, got {double_round!r}")
    _require(multiplier >= 0, f"TOSA REQUIRE multiplier >= 0 violated: multiplier = {multiplier}")
    _check_tosa_shift(shift)
    half = 1 << (shift - 1)
    _require(-half <= value < half,
             f"TOSA REQUIRE -2^(shift-1) <= value < 2^(shift-1) violated: value = {value}, shift = {shift}")
    round_ = half
    if double_round and shift > 31:
        round_ += (1 << 30) if value >= 0 else -(1 << 30)
    return (value * multiplier + round_) >> shift


def apply_scale_16(value, multiplier, shift):
    """TOSA apply_scale_16: floor((v*m + 2^(s-1)) / 2^s), ties toward +inf.

    The only rescale path for int48 input.  No double rounding and no range
    REQUIRE on v; instead REQUIRE the result to fit int32.  REQUIREs
    (Unpredictable): m >= 0; 2 <= s <= 62; result in int32.  Types: v int48,
    m int16, s int8 (else InvalidValueError).
    """
    # Reproduces: TOSA 1.0 apply_scale_16
    _check_int("value", value, INT48_MIN, INT48_MAX, "int48")
    _check_int("multiplier", multiplier, INT16_MIN, INT16_MAX, "int16")
    _require(multiplier >= 0, f"TOSA REQUIRE multiplier >= 0 violated: multiplier = {multiplier}")
    _check_tosa_shift(shift)
    result = rshift_round_half_up(value * multiplier, shift)
    _require(INT32_MIN <= result <= INT32_MAX,
             f"TOSA REQUIRE result in int32 violated: result = {result} (value {value}, "
             f"multiplier {multiplier}, shift {shift})")
    return result


def tosa_scale_from_real(real, scale32=True):
    """(multiplier, shift) for a real scale, as TOSA legalizations derive it.

    scale32: (q, e) = frexp(scale); m = std::round(q * 2^31) (ties away from
    zero); m = 2^31 -> (2^30, e + 1); shift = 31 - e.  So 1.0 = (2^30, 30).
    scale16: the same with 2^15 and 15 - e: 1.0 = (2^14, 14).
    shift > 62 (scale below about 2^-31 / 2^-47): m >>= min(31, shift - 62)
    (a truncating shift) and shift = 62.  Scale 0 gives (0, 31) / (0, 15).
    A scale so large that shift < 2 cannot be expressed (TOSA REQUIREs
    shift >= 2): InvalidValueError, as for negative, NaN or inf scales.
    """
    # Reproduces: MLIR Tosa/Utils/QuantUtils.cpp computeMultiplierAndShift (scale 16 / 32)
    r = as_exact_real(real, "scale")
    bits = 31 if scale32 else 15
    q, e = frexp_exact(r)
    m = _round_half_away(q * (1 << bits))
    if m == 1 << bits:
        m, e = m >> 1, e + 1
    shift = bits - e
    if shift > 62:
        m >>= min(31, shift - 62)
        shift = 62
    if shift < 2:
        width = 32 if scale32 else 16
        raise InvalidValueError(f"scale {r} too large for TOSA scale{width}: shift {shift} < 2")
    return m, shift


# ##########################################################################
# Other backends' integer requantization stages
# ##########################################################################

def ruy_x86_double_round(x, multiplier, exponent):
    """ruy AVX2-FMA / AVX-512 kernels: two roundings, both ties toward +inf.

    left = max(exponent, 0), right = max(-exponent, 0);
    y = (wrap32(x * 2^left) * m + 2^30) >> 31;  r = (y + 2^(right-1)) >> right.
    The kernels' "overflow guard" on y + nudge returns exactly the
    mathematical value, which Python ints give directly.  Differs from TFLite
    double only in stage 2's ties (negative ties go toward +inf, not away).
    Preconditions (ruy DCHECKs, Unpredictable): m >= 0, exponent in [-31, 30].
    """
    # Reproduces: ruy kernel_avx2_fma.cc / kernel_avx512.cc multiplier application (RUY_PLATFORM_X86_ENHANCEMENTS)
    _check_int("x", x, INT32_MIN, INT32_MAX, "int32")
    _check_int("multiplier", multiplier, INT32_MIN, INT32_MAX, "int32")
    _check_int("exponent", exponent, INT32_MIN, INT32_MAX, "int")
    _require(multiplier >= 0, f"ruy multiplier_fixedpoint = {multiplier} < 0")
    _require(-31 <= exponent <= 30, f"ruy multiplier_exponent = {exponent} outside [-31, 30]")
    left, right = max(exponent, 0), max(-exponent, 0)
    y = rshift_round_half_up(wrap32(x << left) * multiplier, 31)
    return rshift_round_half_up(y, right)


def f32_fields(bits):
    """binary32 bit pattern -> (sign, biased exponent field, 23-bit mantissa field)."""
    _check_int("bits", bits, 0, 0xFFFFFFFF, "uint32")
    return bits >> 31, (bits >> 23) & 0xFF, bits & 0x7FFFFF


def _positive_finite_f32(bits, what):
    sign, exp_field, mant_field = f32_fields(bits)
    if sign or exp_field == 0xFF or (exp_field == 0 and mant_field == 0):
        raise InvalidValueError(f"{what} 0x{bits:08x} is not a positive finite binary32")
    return exp_field, mant_field


def fbgemm_requantization_params(scale_bits):
    """FBGEMM ChooseRequantizationMultiplier (precision 32) of a binary32 scale.

    Exact: (q, e) = frexp(scale), q * 2^31 is an integer because the scale has
    at most 24 significant bits; for a normal scale it is (mantissa24 << 7).
    rs = 31 - e, so scale in [1/2, 1) has rs = 31 and scale = q * 2^-rs.
    FBGEMM asserts 0 <= rs < 64 (Unpredictable); scale <= 0, NaN or inf
    raise InvalidValueError.
    """
    # Reproduces: FBGEMM QuantUtils.cc ChooseRequantizationMultiplier
    exp_field, mant_field = _positive_finite_f32(scale_bits, "FBGEMM scale")
    if exp_field == 0:
        significand, exponent = mant_field, -149  # subnormal
    else:
        significand, exponent = mant_field | (1 << 23), exp_field - 150
    q, e = frexp_exact(Fraction(significand) * Fraction(2) ** exponent)
    q_fixed = q * (1 << 31)
    rs = 31 - e
    _require(0 <= rs < 64, f"FBGEMM right_shift = {rs} outside [0, 63]")
    return int(q_fixed), rs


def fbgemm_requantize_fixed_point(x, multiplier, right_shift):
    """FBGEMM fixed-point requantization: (x*q + 2^(rs-1)) >> rs, one rounding, ties +inf.

    The zero point is added afterwards by the caller.  rs must be in [1, 63]
    (rs = 0 makes the nudge a negative shift: Unpredictable).
    """
    # Reproduces: FBGEMM QuantUtils.cc SaturatingRoundingMulWithShift (RequantizeFixedPoint)
    _check_int("x", x, INT32_MIN, INT32_MAX, "int32")
    _check_int("multiplier", multiplier, INT32_MIN, INT32_MAX, "int32")
    _check_int("right_shift", right_shift, INT32_MIN, INT32_MAX, "int")
    _require(1 <= right_shift <= 63, f"FBGEMM right_shift = {right_shift} outside [1, 63]")
    return rshift_round_half_up(x * multiplier, right_shift)


def xnnpack_rndnu_params(scale_bits):
    """XNNPACK rndnu: binary32 scale -> (m, s) with scale = m * 2^-s exactly.

    m = mantissa | 2^23 (24 bits), s = 150 - exponent field.  XNNPACK accepts
    normal scales with 2^-32 <= scale < 256, i.e. s in [16, 55]; others raise
    InvalidValueError.
    """
    # Reproduces: XNNPACK xnn_init_qu8_conv_minmax_rndnu_neon_params (multiplier, shifts)
    exp_field, mant_field = _positive_finite_f32(scale_bits, "XNNPACK scale")
    s = 150 - exp_field
    if exp_field == 0 or not 16 <= s <= 55:
        raise InvalidValueError(f"XNNPACK rndnu scale 0x{scale_bits:08x} outside [2^-32, 256)")
    return mant_field | (1 << 23), s


def xnnpack_rndnu_requantize(acc, multiplier, shift):
    """XNNPACK rndnu requantization: (acc*m + 2^(s-1)) >> s, ties toward +inf.

    On NEON this is a saturating pre-shift, VQDMULH (truncating) and a rounding
    post-shift VRSHL; with m = mantissa << 7 they compose exactly to this
    single half-up rounding of acc times the exact binary32 scale.  (The int32
    pre-shift saturates only for scale >= 1/2 and |acc| large enough that the
    final 8-bit clamp saturates anyway.)  The caller adds the zero point and clamps.
    """
    # Reproduces: XNNPACK qu8 rndnu requantization (vqshl + vqdmulh + vrshl)
    _check_int("acc", acc, INT32_MIN, INT32_MAX, "int32")
    _check_int("multiplier", multiplier, 1 << 23, (1 << 24) - 1, "24-bit mantissa")
    _check_int("shift", shift, 16, 55, "rndnu shift")
    return rshift_round_half_up(acc * multiplier, shift)
