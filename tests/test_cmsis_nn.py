"""Method ``cmsis_nn`` against an independent model of CMSIS-NN's ``arm_nn_requantize``.

The model below is written from the CMSIS-NN source's definition (arm_nnsupportfunctions.h /
arm_nn_requantize.c, Apache-2.0; read, not copied), with C's int32 / int64 arithmetic spelled out
in Python integers:

default build (no CMSIS_NN_USE_SINGLE_ROUNDING):
    x = (int32)(val * (1 << LEFT_SHIFT(shift)))        LEFT_SHIFT(s) = s > 0 ? s : 0
    h = (int32)(((int64)1 << 30 + (int64)x * m) >> 31)    arm_nn_doubling_high_mult_no_sat: no
                                                        saturation, INT32_MIN * INT32_MIN wraps
    r = arm_nn_divide_by_power_of_two(h, RIGHT_SHIFT(shift)): mask = (1 << e) - 1,
        rem = mask & h, q = h >> e (arithmetic), threshold = (mask >> 1) + (q < 0),
        q + (rem > threshold)                            ties away from zero
single rounding (CMSIS_NN_USE_SINGLE_ROUNDING defined):
    T = 31 - shift; v = (int64)val * m; r = (int32)(v >> (T - 1)); (r + 1) >> 1

The kernels then add the output offset and clamp with MAX/MIN (arm_nn_mat_mult_nt_t_s8 and the
others): ``r + offset`` in int32.  refquant's ``cmsis_nn`` is the default build; the single-rounding
build is TFLite's single rounding except where the int32 intermediate ``v >> (T - 1)`` wraps
(|result| >= 2^30), named below.
"""
import itertools

import pytest
from hypothesis import given, settings, strategies as st

from refquant import fixedpoint as fp, requant as rq
from refquant.errors import Unpredictable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _i32(v):
    """C's conversion of an integer to int32_t (two's complement wrap)."""
    return (v + 2**31) % 2**32 - 2**31


def _dhm_no_sat(m1, m2):
    return _i32(((1 << 30) + m1 * m2) >> 31)


def _divide_by_pot(dividend, exponent):
    mask = _i32(_i32(1 << exponent) - 1)  # exponent 31: (1 << 31) - 1 = INT32_MAX on two's complement
    remainder = mask & dividend
    result = dividend >> exponent
    threshold = (mask >> 1) + (1 if result < 0 else 0)
    return result + 1 if remainder > threshold else result


def cmsis_requantize(val, multiplier, shift):
    left, right = (shift, 0) if shift > 0 else (0, -shift)
    return _divide_by_pot(_dhm_no_sat(_i32(val * (1 << left)), multiplier), right)


def cmsis_requantize_single(val, multiplier, shift):
    total = 31 - shift
    r = _i32((val * multiplier) >> (total - 1))
    return _i32(r + 1) >> 1


def cmsis_kernel_output(acc, multiplier, shift, offset, act_min, act_max):
    """What a CMSIS-NN s8 kernel stores: requantize, += offset (int32), MAX, MIN."""
    r = _i32(cmsis_requantize(acc, multiplier, shift) + offset)
    return min(max(r, act_min), act_max)


def ours(acc, m, shift, zp=0, out="int32"):
    return rq.requantize(acc, "cmsis_nn", rq.make_params("cmsis_nn", [{"m": m, "shift": shift}]), zp, out)


ACC_EDGES = [I32_MIN, I32_MIN + 1, -(2**30) - 1, -(2**30), -(2**30) + 1, -65537, -3, -2, -1, 0, 1, 2, 3,
             65535, 2**30 - 1, 2**30, 2**30 + 1, I32_MAX - 1, I32_MAX]
M_EDGES = [I32_MIN, I32_MIN + 1, -(2**30) - 1, -(2**30), -1, 0, 1, 2**30 - 1, 2**30, 2**30 + 1,
           2**31 - 3, 2**31 - 2, I32_MAX]
SHIFT_EDGES = [-31, -30, -29, -16, -2, -1, 0, 1, 2, 15, 29, 30]


def test_model_reproduces_the_named_cmsis_cases():
    """The model's own anchors: x0.25 ties away from zero, and INT32_MIN * INT32_MIN wraps."""
    assert (cmsis_requantize(10, 2**30, -1), cmsis_requantize(-10, 2**30, -1)) == (3, -3)
    assert cmsis_requantize(I32_MIN, I32_MIN, 0) == I32_MIN
    assert _divide_by_pot(2**30, 31) == 1 and _divide_by_pot(2**30 - 1, 31) == 0
    assert _divide_by_pot(-(2**30), 31) == -1 and _divide_by_pot(-(2**30) + 1, 31) == 0


def test_edges_exhaustive():
    """Every (acc, m, shift) of the edge grid: acc at INT32_MIN/MAX and 2^30 neighbours, m at both
    ends of int32 and near 2^31, shift at -31, 30 and between (2,964 triples)."""
    bad = [(a, m, s, ours(a, m, s), cmsis_requantize(a, m, s))
           for a, m, s in itertools.product(ACC_EDGES, M_EDGES, SHIFT_EDGES)
           if ours(a, m, s) != cmsis_requantize(a, m, s)]
    assert bad == []


@settings(max_examples=400)
@given(st.one_of(st.integers(I32_MIN, I32_MAX), st.sampled_from(ACC_EDGES)),
       st.one_of(st.integers(I32_MIN, I32_MAX), st.integers(2**31 - 2**16, I32_MAX), st.sampled_from(M_EDGES)),
       st.integers(-31, 30))
def test_whole_parameter_space(acc, m, shift):
    assert ours(acc, m, shift) == cmsis_requantize(acc, m, shift)


@settings(max_examples=300)
@given(st.integers(0, 31), st.booleans(), st.data())
def test_ties_of_both_roundings(e, first_step, data):
    """Inputs on a rounding boundary of one of the two steps, with m = 2^30 (x·m / 2^31 = x/2):
    an odd x ties in the doubling high multiply; x = 2·h with h = (2j + 1)·2^(e-1) ties in the
    division by 2^e (shift = -e).  Both signs."""
    sign = data.draw(st.sampled_from((1, -1)))
    if first_step:
        acc = sign * (2 * data.draw(st.integers(0, 2**29)) + 1)
    else:
        top = max(0, (2**30 >> max(e, 1)) - 1)
        acc = sign * (2 * data.draw(st.integers(0, top)) + 1) << max(e, 1)
        acc = max(min(acc, I32_MAX), I32_MIN)
    assert ours(acc, 2**30, -e) == cmsis_requantize(acc, 2**30, -e)


@settings(max_examples=300)
@given(st.integers(I32_MIN, I32_MAX), st.integers(0, I32_MAX), st.integers(-31, 30), st.integers(-128, 127))
def test_int8_output_with_offset_and_clamp(acc, m, shift, zp):
    """The whole kernel step for int8 outputs: requantize, + offset, MAX(-128), MIN(127).  The C
    code adds the offset in int32; that wraps only when the requantized value is within 127 of an
    int32 end, where refquant adds exactly (and saturates): excluded here, named below."""
    r = cmsis_requantize(acc, m, shift)
    if not I32_MIN <= r + zp <= I32_MAX:
        return
    assert ours(acc, m, shift, zp, "int8") == cmsis_kernel_output(acc, m, shift, zp, -128, 127)


def test_offset_add_wraps_in_c_but_saturates_in_refquant():
    """acc = m = INT32_MAX, shift 0: r = INT32_MAX - 1, and the kernels' int32 ``r + offset`` overflows
    (UB in C, wraps on two's-complement targets) and clamps to the wrong end; refquant's exact add
    saturates high.  Reachable only with a multiplier/shift that maps acc near 2^31, far outside
    a calibrated layer's range."""
    acc, m, shift, zp = I32_MAX, I32_MAX, 0, 5
    r = cmsis_requantize(acc, m, shift)
    assert r == I32_MAX - 1
    assert cmsis_kernel_output(acc, m, shift, zp, -128, 127) == -128  # the C int32 add wrapped
    assert ours(acc, m, shift, zp, "int8") == 127


# ---------------------------------------------------------------------------------------------
# CMSIS_NN_USE_SINGLE_ROUNDING: the build refquant does not name
# ---------------------------------------------------------------------------------------------

@settings(max_examples=300)
@given(st.integers(I32_MIN, I32_MAX), st.integers(0, I32_MAX), st.integers(-31, 30))
def test_single_rounding_build_is_tflite_single_below_2_30(acc, m, shift):
    """With m >= 0 and |result| < 2^30 the single-rounding build equals TFLite's single rounding
    (refquant's ``tflite_single``: floor((acc·m + 2^(T-1)) / 2^T))."""
    exact = fp.rshift_round_half_up(acc * m, 31 - shift)
    if abs(exact) >= 2**30:
        return
    assert cmsis_requantize_single(acc, m, shift) == fp.multiply_by_quantized_multiplier(acc, m, shift, "single")


def test_single_rounding_build_wraps_from_2_30():
    """From |result| >= 2^30 the int32 intermediate v >> (T - 1) wraps: CMSIS-NN single returns a
    negative number where TFLite single returns 2^30 (and DCHECKs only beyond int32)."""
    acc, m, shift = 2**30, 2**30, 1  # v = 2^60, T = 30: result 2^30
    assert fp.multiply_by_quantized_multiplier(acc, m, shift, "single") == 2**30
    assert cmsis_requantize_single(acc, m, shift) == -(2**30)
    with pytest.raises(Unpredictable):  # TFLite's DCHECK: beyond int32
        fp.multiply_by_quantized_multiplier(I32_MIN, I32_MAX, 30, "single")
