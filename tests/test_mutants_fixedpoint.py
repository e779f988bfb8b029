"""Tests written against the survivors of a mutmut 3 run on refquant/fixedpoint.py (docs/testing.md).

Most survivors were in the argument contract, which the behavioural tests only touched in the
middle of each range: every ``_check_int`` is walked here to both ends (the end itself accepted,
one past it rejected with the exact message naming the argument and its C type), and every
``_require`` (Unpredictable) and ``SpecError`` to its edge.  The rest are exact-value tests at the
rounding boundaries the survivors moved (SRDHM's negative nudge, frexp on non-dyadic rationals,
TFLITE_EMULATE_FLOAT's ties, the single build's shift-30 saturation, TOSA's shift 62/63 and 2/1).
"""
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from refquant import fixedpoint as fp
from refquant.errors import InvalidValueError, SpecError, UnknownNameError, Unpredictable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
I48_MIN, I48_MAX = -(2**47), 2**47 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

# (function, valid positional arguments, index of the checked argument, name, lo, hi, C type)
CHECKS = [
    (fp.srdhm_i32, (1, 1), 0, "a", I32_MIN, I32_MAX, "int32"),
    (fp.srdhm_i32, (1, 1), 1, "b", I32_MIN, I32_MAX, "int32"),
    (fp.srdhm_i32_cmsis, (1, 1), 0, "a", I32_MIN, I32_MAX, "int32"),
    (fp.srdhm_i32_cmsis, (1, 1), 1, "b", I32_MIN, I32_MAX, "int32"),
    (fp.rounding_divide_by_pot, (5, 1), 0, "x", I32_MIN, I32_MAX, "int32"),
    (fp.rounding_divide_by_pot, (5, 1), 1, "exponent", I32_MIN, I32_MAX, "int"),
    (fp.multiply_by_quantized_multiplier, (5, 2**30, -1), 0, "x", I32_MIN, I32_MAX, "int32"),
    (fp.multiply_by_quantized_multiplier, (5, 2**30, -1), 1, "quantized_multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.multiply_by_quantized_multiplier, (5, 2**30, -1), 2, "shift", I32_MIN, I32_MAX, "int"),
    (fp.multiply_by_quantized_multiplier_i64, (5, 2**30, -1), 0, "x", I64_MIN, I64_MAX, "int64"),
    (fp.multiply_by_quantized_multiplier_i64, (5, 2**30, -1), 1, "quantized_multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.multiply_by_quantized_multiplier_i64, (5, 2**30, -1), 2, "shift", I32_MIN, I32_MAX, "int"),
    (fp.reduce_multiplier_to_i16, (2**30,), 0, "quantized_multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.apply_scale_32, (5, 2**30, 31), 0, "value", I32_MIN, I32_MAX, "int32"),
    (fp.apply_scale_32, (5, 2**30, 31), 1, "multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.apply_scale_32, (5, 2**30, 31), 2, "shift", -128, 127, "int8"),
    (fp.apply_scale_16, (5, 2**14, 15), 0, "value", I48_MIN, I48_MAX, "int48"),
    (fp.apply_scale_16, (5, 2**14, 15), 1, "multiplier", -(2**15), 2**15 - 1, "int16"),
    (fp.apply_scale_16, (5, 2**14, 15), 2, "shift", -128, 127, "int8"),
    (fp.ruy_x86_double_round, (5, 2**30, -1), 0, "x", I32_MIN, I32_MAX, "int32"),
    (fp.ruy_x86_double_round, (5, 2**30, -1), 1, "multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.ruy_x86_double_round, (5, 2**30, -1), 2, "exponent", I32_MIN, I32_MAX, "int"),
    (fp.f32_fields, (0x3F800000,), 0, "bits", 0, 0xFFFFFFFF, "uint32"),
    (fp.fbgemm_requantize_fixed_point, (5, 2**30, 31), 0, "x", I32_MIN, I32_MAX, "int32"),
    (fp.fbgemm_requantize_fixed_point, (5, 2**30, 31), 1, "multiplier", I32_MIN, I32_MAX, "int32"),
    (fp.fbgemm_requantize_fixed_point, (5, 2**30, 31), 2, "right_shift", I32_MIN, I32_MAX, "int"),
    (fp.xnnpack_rndnu_requantize, (5, 2**23, 20), 0, "acc", I32_MIN, I32_MAX, "int32"),
    (fp.xnnpack_rndnu_requantize, (5, 2**23, 20), 1, "multiplier", 2**23, 2**24 - 1, "24-bit mantissa"),
    (fp.xnnpack_rndnu_requantize, (5, 2**23, 20), 2, "shift", 16, 55, "rndnu shift"),
]


def _with(args, i, v):
    a = list(args)
    a[i] = v
    return a


@pytest.mark.parametrize("func,args,i,name,lo,hi,ctype", CHECKS,
                         ids=[f"{c[0].__name__}-{c[3]}" for c in CHECKS])
def test_argument_range_both_ends(func, args, i, name, lo, hi, ctype):
    for v in (lo, hi):  # the ends themselves pass the type check (other preconditions may not)
        try:
            func(*_with(args, i, v))
        except (Unpredictable, SpecError):
            pass
    for v in (lo - 1, hi + 1):
        with pytest.raises(InvalidValueError) as exc:
            func(*_with(args, i, v))
        assert str(exc.value) == f"{name} = {v} is outside {ctype} [{lo}, {hi}]"
    for v in (1.5, True):
        with pytest.raises(InvalidValueError) as exc:
            func(*_with(args, i, v))
        assert str(exc.value) == f"{name} must be an int ({ctype}), got {v!r}"


def _unpredictable(call, message):
    with pytest.raises(Unpredictable) as exc:
        call()
    assert str(exc.value) == message


def test_rounding_divide_by_pot_exponent_edges():
    assert fp.rounding_divide_by_pot(-(2**30), 31) == -1 and fp.rounding_divide_by_pot(3, 0) == 3
    for e in (-1, 32):
        _unpredictable(lambda: fp.rounding_divide_by_pot(5, e), f"RoundingDivideByPOT exponent = {e} outside [0, 31]")


@pytest.mark.parametrize("build", ["double", "single"])
def test_mbqm_shift_edges(build):
    assert fp.multiply_by_quantized_multiplier(2**20, 2**30, -31, build) == 0
    assert fp.multiply_by_quantized_multiplier(1, 2**30, 30, build) == 2**29
    prefix = "MBQM shift" if build == "double" else "single-rounding MBQM shift"
    suffix = " (C UB / RDBPOT assert)" if build == "double" else ""
    for s in (-32, 31):
        _unpredictable(lambda: fp.multiply_by_quantized_multiplier(5, 2**30, s, build),
                       f"{prefix} = {s} outside [-31, 30]{suffix}")


def test_mbqm_single_result_edges_and_negative_multiplier():
    mbqm = fp.multiply_by_quantized_multiplier
    assert mbqm(I32_MIN, 2**30, 1, "single") == I32_MIN and mbqm(I32_MAX, 2**30, 1, "single") == I32_MAX
    _unpredictable(lambda: mbqm(2**30, 2**30, 2, "single"), f"MBQM result {2**31} outside int32 (DCHECK)")
    _unpredictable(lambda: mbqm(I32_MIN, 2**30 + 1, 1, "single"), f"MBQM result {I32_MIN - 2} outside int32 (DCHECK)")
    _unpredictable(lambda: mbqm(5, -1, 0, "single"), "single-rounding MBQM needs quantized_multiplier >= 0, got -1")


@pytest.mark.parametrize("build", ["double", "single"])
def test_mbqm_i64_edges(build):
    f = fp.multiply_by_quantized_multiplier_i64
    assert f(2, 2**30, -31, build) == 0 and f(2, 2**30, 7, build) == 2**7
    for s in (-32, 8):
        _unpredictable(lambda: f(5, 2**30, s, build), f"int64 MBQM shift = {s} outside [-31, 7]")
    assert f(I48_MIN, 2**30, -31, build) == -(2**15) and f(I48_MAX, 2**30, -31, build) == 2**15
    for x in (I48_MIN - 1, I48_MAX + 1):
        _unpredictable(lambda: f(x, 2**30, 0, build), f"int64 MBQM x = {x} outside [-2^47, 2^47)")
    _unpredictable(lambda: f(5, -1, 0, build), "quantized_multiplier = -1 < 0")
    # reduced multiplier 2^14, shift 0: result = round(x / 2), half up
    assert f(2 * I32_MAX, 2**30, 0, build) == I32_MAX and f(-(2**32), 2**30, 0, build) == I32_MIN
    if build == "double":  # the int32_t narrowing wraps
        assert f(2**32, 2**30, 0, build) == I32_MIN and f(-(2**32) - 2, 2**30, 0, build) == I32_MAX
    else:  # DCHECK
        _unpredictable(lambda: f(2**32, 2**30, 0, build), f"int64 MBQM result {2**31} outside int32 (DCHECK)")
        _unpredictable(lambda: f(-(2**32) - 2, 2**30, 0, build), f"int64 MBQM result {I32_MIN - 1} outside int32 (DCHECK)")


def test_reduce_multiplier_edges():
    assert fp.reduce_multiplier_to_i16(0) == 0 and fp.reduce_multiplier_to_i16(0x7FFF0000) == 0x7FFF
    assert fp.reduce_multiplier_to_i16(I32_MAX) == 0x7FFF and fp.reduce_multiplier_to_i16(0x7FFEFFFF) == 0x7FFF
    assert fp.reduce_multiplier_to_i16(0x7FFE7FFF) == 0x7FFE
    _unpredictable(lambda: fp.reduce_multiplier_to_i16(-1), "quantized_multiplier = -1 < 0")


def test_tosa_apply_scale_edges():
    f = fp.apply_scale_32
    assert f(1, 2**30, 2) == 2**28 and f(1, 2**30, 62) == 0
    for s in (1, 63, -128, 127):
        _unpredictable(lambda: f(5, 2**30, s), f"TOSA REQUIRE 2 <= shift <= 62 violated: shift = {s}")
    _unpredictable(lambda: f(5, -1, 31), "TOSA REQUIRE multiplier >= 0 violated: multiplier = -1")
    assert f(-8, 1, 4) == -0 and f(7, 1, 4) == 0  # -2^(s-1) and 2^(s-1) - 1 are inside
    for v in (-9, 8):
        _unpredictable(lambda: f(v, 1, 4),
                       f"TOSA REQUIRE -2^(shift-1) <= value < 2^(shift-1) violated: value = {v}, shift = 4")
    with pytest.raises(InvalidValueError, match=r"^double_round must be a bool, got 1$"):
        f(5, 2**30, 31, 1)
    g = fp.apply_scale_16
    assert g(4 * I32_MIN, 1, 2) == I32_MIN and g(4 * I32_MAX, 1, 2) == I32_MAX
    for v, r in ((4 * I32_MIN - 4, I32_MIN - 1), (4 * I32_MAX + 4, I32_MAX + 1)):
        _unpredictable(lambda: g(v, 1, 2), f"TOSA REQUIRE result in int32 violated: result = {r} "
                                           f"(value {v}, multiplier 1, shift 2)")
    _unpredictable(lambda: g(5, -1, 15), "TOSA REQUIRE multiplier >= 0 violated: multiplier = -1")
    _unpredictable(lambda: g(5, 1, 1), "TOSA REQUIRE 2 <= shift <= 62 violated: shift = 1")


def test_ruy_edges():
    f = fp.ruy_x86_double_round
    assert f(2**20, 2**30, -31) == 0 and f(1, 2**30, 30) == 2**29
    for e in (-32, 31):
        _unpredictable(lambda: f(5, 2**30, e), f"ruy multiplier_exponent = {e} outside [-31, 30]")
    _unpredictable(lambda: f(5, -1, 0), "ruy multiplier_fixedpoint = -1 < 0")


def test_fbgemm_edges():
    assert fp.fbgemm_requantization_params(0x4E800000) == (2**30, 0)  # 2^30: rs = 0
    assert fp.fbgemm_requantization_params(0x2F000000) == (2**30, 63)  # 2^-33: rs = 63
    for bits, rs in ((0x4F000000, -1), (0x2E800000, 64), (0x00000001, 179), (0x007FFFFF, 157)):
        _unpredictable(lambda: fp.fbgemm_requantization_params(bits), f"FBGEMM right_shift = {rs} outside [0, 63]")
    for bits in (0, 0x80000000, 0xBF800000, 0x7F800000, 0x7FC00000):
        with pytest.raises(InvalidValueError, match=rf"^FBGEMM scale 0x{bits:08x} is not a positive finite binary32$"):
            fp.fbgemm_requantization_params(bits)
    f = fp.fbgemm_requantize_fixed_point
    assert f(3, 1, 1) == 2 and f(2**30, 2**30, 63) == 0
    for rs in (0, 64):
        _unpredictable(lambda: f(5, 2**30, rs), f"FBGEMM right_shift = {rs} outside [1, 63]")


def test_xnnpack_params_edges():
    assert fp.xnnpack_rndnu_params(134 << 23) == (2**23, 16)   # s = 16: scale 128
    assert fp.xnnpack_rndnu_params(95 << 23) == (2**23, 55)    # s = 55: scale 2^-32
    for bits in (135 << 23, 94 << 23, 1):
        with pytest.raises(InvalidValueError, match=rf"^XNNPACK rndnu scale 0x{bits:08x} outside \[2\^-32, 256\)$"):
            fp.xnnpack_rndnu_params(bits)
    for bits in (0, 0x80000000, 0x7F800000):
        with pytest.raises(InvalidValueError, match=rf"^XNNPACK scale 0x{bits:08x} is not a positive finite binary32$"):
            fp.xnnpack_rndnu_params(bits)


# ---------------------------------------------------------------------------------------------
# Exact values at the boundaries
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [-3, -2, -1, 0, 1, 2])
@pytest.mark.parametrize("d", [-2, -1, 0, 1, 2])
def test_srdhm_at_the_half(k, d):
    """a·b = k·2^31 ± 2^30 + d with a = -1 or 1: round(a·b / 2^31), ties toward +inf, for both signs."""
    for ab in (k * 2**31 + 2**30 + d, k * 2**31 - 2**30 + d):
        if not I32_MIN <= ab <= I32_MAX:
            continue
        want = (ab + 2**30) // 2**31  # floor(ab/2^31 + 1/2)
        assert fp.srdhm_i32(1, ab) == want and fp.srdhm_i32(-1, -ab) == want if -ab <= I32_MAX else True
        assert fp.srdhm_i32_cmsis(1, ab) == want


@given(st.integers(1, 10**9), st.integers(1, 10**9))
def test_frexp_exact_on_any_rational(n, d):
    r = Fraction(n, d)
    q, e = fp.frexp_exact(r)
    assert Fraction(1, 2) <= q < 1 and q * Fraction(2) ** e == r


def test_frexp_exact_non_dyadic_named():
    assert fp.frexp_exact(Fraction(5, 7)) == (Fraction(5, 7), 0)
    assert fp.frexp_exact(Fraction(7, 3)) == (Fraction(7, 12), 2)
    assert fp.frexp_exact(Fraction(1, 3)) == (Fraction(2, 3), -1)


@given(st.fractions(min_value=0, max_value=1000))
def test_round_half_down_and_away_are_nearest(r):
    down, away = fp._round_half_down(r), fp._round_half_away(r)
    for v in (down, away):
        assert abs(v - r) <= Fraction(1, 2)
    if r - int(r) == Fraction(1, 2):
        assert (down, away) == (int(r), int(r) + 1)
    else:
        assert down == away


def test_round_half_down_named():
    assert [fp._round_half_down(Fraction(n, 3)) for n in (1, 2, 4, 5)] == [0, 1, 1, 2]
    assert fp._round_half_down(Fraction(5, 2)) == 2 and fp._round_half_away(Fraction(5, 2)) == 3


def test_quantize_multiplier_single_build_saturates_only_above_shift_30():
    assert fp.quantize_multiplier(2**29, "single") == (2**30, 30)
    assert fp.quantize_multiplier(2**29 + 2**28, "single") == (3 * 2**29, 30)
    assert fp.quantize_multiplier(2**30, "single") == (I32_MAX, 30)
    assert fp.quantize_multiplier(2**30, "double") == (2**30, 31)


def test_quantize_multiplier_names_and_checks():
    with pytest.raises(UnknownNameError) as exc:
        fp.quantize_multiplier(0.5, "triple")
    assert (exc.value.kind, exc.value.name) == ("TFLite build", "triple")
    assert str(exc.value) == "unknown TFLite build 'triple'; expected one of: double, single"
    with pytest.raises(InvalidValueError, match=r"^real multiplier = nan is not finite$"):
        fp.quantize_multiplier(float("nan"))
    for inf in (float("inf"), float("-inf")):
        with pytest.raises(InvalidValueError, match=rf"^real multiplier = {inf!r} is not finite$"):
            fp.quantize_multiplier(inf)
    with pytest.raises(InvalidValueError, match=r"^real multiplier = Fraction\(-1, 2\) is negative$"):
        fp.quantize_multiplier(-0.5)
    with pytest.raises(InvalidValueError, match=r"^real multiplier must be a Fraction, int or float, got '1'$"):
        fp.quantize_multiplier("1")


def test_smaller_than_one_and_greater_than_one_edges():
    lt1, gt1 = fp.quantize_multiplier_smaller_than_one_exp, fp.quantize_multiplier_greater_than_one
    assert lt1(0.75) == (3 * 2**29, 0) and lt1(0.375) == (3 * 2**29, -1)
    for bad in (0, 1, 1.5):
        with pytest.raises(SpecError, match=rf"^QuantizeMultiplierSmallerThanOneExp needs 0 < M < 1, got {bad!r}$"):
            lt1(bad)
    with pytest.raises(SpecError, match="gives shift 1 > 0"):
        lt1(1 - Fraction(1, 2**33))
    with pytest.raises(UnknownNameError):
        lt1(0.5, "triple")
    assert gt1(1.5) == (3 * 2**29, 1) and gt1(3) == (3 * 2**29, 2)
    for bad in (1, 0.5):
        with pytest.raises(SpecError, match=rf"^QuantizeMultiplierGreaterThanOne needs M > 1, got {bad!r}$"):
            gt1(bad)
    with pytest.raises(UnknownNameError):
        gt1(1.5, "triple")


def test_tosa_scale_from_real_shift_edges():
    assert fp.tosa_scale_from_real(2**28) == (2**30, 2)            # shift 2: the largest scale32
    assert fp.tosa_scale_from_real(2**12, scale32=False) == (2**14, 2)
    assert fp.tosa_scale_from_real(2**-32) == (2**30, 62)          # shift 62: unchanged
    assert fp.tosa_scale_from_real(2**-33) == (2**29, 62)          # shift 63 -> 62, m >> 1
    assert fp.tosa_scale_from_real(0) == (0, 31) and fp.tosa_scale_from_real(0, False) == (0, 15)
    with pytest.raises(InvalidValueError, match=r"^scale 536870912 too large for TOSA scale32: shift 1 < 2$"):
        fp.tosa_scale_from_real(2**29)
    with pytest.raises(InvalidValueError, match=r"^scale 8192 too large for TOSA scale16: shift 1 < 2$"):
        fp.tosa_scale_from_real(2**13, scale32=False)
    with pytest.raises(InvalidValueError, match=r"^scale = Fraction\(-1, 1\) is negative$"):
        fp.tosa_scale_from_real(-1)
