"""refquant.openvino, edge by edge (mutation testing, docs/testing.md): levels, FakeQuantize with
input_low > input_high at its ends, LPT's shift with qmin != 0, the per-channel pick and defaults of
the int8 output functions, the u8/s8 level, messages; int8_post_ops' plan simplifications on
constructed cases (each at the edge that decides it)."""

from fractions import Fraction as F

import pytest

from refquant import openvino as o
from refquant.errors import InvalidValueError, UnknownNameError

fl32 = o.fl32          # binary32 rounding, the one openvino.py uses


def test_levels():
    assert o.fake_quantize_exact(F(1, 2), 0, 1, 0, 1, 2) == 0         # 2 levels are allowed; 1/2 ties to even
    for bad in (1, 2.5, True):
        with pytest.raises(InvalidValueError, match=r"^FakeQuantize levels .*: expected an integer >= 2$"):
            o.fake_quantize_exact(0, 0, 1, 0, 1, bad)


def test_fake_quantize_exact_with_a_reversed_input_range():
    # input_low = 1 > input_high = 0: x <= min -> output_low; x = max is not > max -> the formula (t = 0)
    assert o.fake_quantize_exact(0, 1, 0, 10, 20, 2) == 10
    assert o.fake_quantize_exact(1, 1, 0, 10, 20, 2) == 10
    assert o.fake_quantize_exact(F(1, 4), 1, 0, 10, 20, 2) == 20


def test_messages():
    with pytest.raises(InvalidValueError, match=r"^FakeQuantize input_low = input_high = 1: the CPU plugin divides"):
        o.fake_quantize_ov_cpu_snippets(0, 1, 1, 0, 1, 256)
    with pytest.raises(InvalidValueError, match=r"^FakeQuantize output range \[1, 1\]: expected output_low < output_high$"):
        o.lpt_dequantization(1, 1, 0, 255)
    with pytest.raises(InvalidValueError, match=r"^output FakeQuantize range \[1, 1\]: expected output_low < output_high$"):
        o.int8_post_ops([F(1, 4)], 1, 1, 256)
    for fn in (o.int8_post_ops, o.int8_output_exact):
        args = ([F(1, 4)], 0, 1, 256) if fn is o.int8_post_ops else (1, [F(1, 4)], 0, 1, 256)
        with pytest.raises(UnknownNameError, match=r"^unknown destination type 'i4'; expected one of: f32, s8, u8$"):
            fn(*args, dst="i4")


def test_lpt_shift_with_a_nonzero_qmin():
    # shift = fl(fl(qmin*oh) - fl(qmax*ol)) / fl(oh - ol) = (-256 + 127) / 3 = -43
    assert o.lpt_dequantization(-1, 2, -128, 127) == (F(12632257, 1 << 30), F(-43))


@pytest.mark.parametrize("fn", [o.int8_output_exact, o.int8_output_ov_cpu])
def test_int8_output_picks_the_channel_scale(fn):
    a, b = F(1, 4), F(1, 2)
    one_a, one_b = fn(8, [a], -10, 10, 256), fn(8, [b], -10, 10, 256)
    assert one_a != one_b
    assert fn(8, [a, b], -10, 10, 256) == one_a                       # channel 0 by default
    assert fn(8, [a, b], -10, 10, 256, channel=1) == one_b
    assert fn(8, [a], -10, 10, 256, channel=1) == one_a               # one scale serves every channel


@pytest.mark.parametrize("fn", [o.int8_output_exact, o.int8_output_ov_cpu])
def test_int8_output_levels_for_an_integer_destination(fn):
    # x = 8/4 = 2 in [-10, 10], 256 levels: level round(12/20 * 255) = 153; s8 stores 153 - 128
    assert fn(8, [F(1, 4)], -10, 10, 256, dst="u8") == 153
    assert fn(8, [F(1, 4)], -10, 10, 256, dst="s8") == 25
    assert fn(8, [F(1, 4)], -10, 10, 256) == fn(8, [F(1, 4)], -10, 10, 256, dst="f32")


def test_int8_output_ov_cpu_passes_the_activation_shift():
    with_shift = o.int8_output_ov_cpu(40, [F(1, 4)], 0, 10, 256, shifts=[F(3)])
    assert with_shift != o.int8_output_ov_cpu(40, [F(1, 4)], 0, 10, 256)
    plan = o.int8_post_ops([F(1, 4)], 0, 10, 256, [F(3)])
    assert with_shift == o.apply_int8_plan(40, plan)


# ----- int8_post_ops' plan simplifications, on constructed cases (the second mutation run) -----------
# Each case is built so that one simplification of the CPU plugin's post-op composition (as modelled in
# int8_post_ops) decides the plan; the plan is asserted, not only an output, since the forms differ in
# the output only at near-ties.

def test_apply_int8_plan_defaults_to_channel_0():
    plan = o.int8_post_ops([F(1, 4), F(1, 2)], -10, 10, 256)
    assert len(plan["scale"]) == 2
    assert o.apply_int8_plan(8, plan) == o.apply_int8_plan(8, plan, 0) != o.apply_int8_plan(8, plan, 1)


def test_equal_per_channel_values_collapse_to_one():
    # two channels with the same dequantization scale: one input scale, one shift -> 'fma' (not 'mul_add')
    plan = o.int8_post_ops([F(1, 4), F(1, 4)], -10, 10, 256)
    assert len(plan["scale"]) == len(plan["shift"]) == 1 and plan["form"] == "fma"


def test_per_tensor_input_shift_workaround_at_its_threshold():
    # the plugin treats per-channel input shifts within 0.00005f of the first as one per-tensor shift:
    # shifts about 1 and 1 + 2^-17 collapse to the first ...
    isc, ish, _, _ = o._input_side([F(1)], F(0), F(255), 256, [F(-1), F(-1) - F(1, 2**17)])
    assert ish[0] != ish[1] and abs(ish[1] - ish[0]) < o._F32_5E_5
    assert o.int8_post_ops([F(1)], 0, 255, 256, [F(-1), F(-1) - F(1, 2**17)])["shift"] == [ish[0]]
    # ... and shifts exactly 0.00005f apart (0 and fl32(5e-5)) do not: the test is strict
    c = F(13743895, 2**38)
    plan = o.int8_post_ops([F(1)], 0, 255, 256, [F(0), -c])
    assert plan["shift"] == [0, o._F32_5E_5] and plan["form"] == "mul_add"


def test_folded_output_shift_moves_both_clip_bounds():
    # output scale 1, zero point 100: the integer shift -100 folds into the input side, so the clip
    # is [0 - 100, 255 - 100]; a large accumulator saturates at output_high = 155 (FakeQuantize-1)
    plan = o.int8_post_ops([F(1, 4)], -100, 155, 256)
    assert plan["out"] is None and plan["clip"] == ([-100], [155])
    assert o.int8_output_ov_cpu(10**6, [F(1, 4)], -100, 155, 256) == 155 == o.int8_output_exact(
        10**6, [F(1, 4)], -100, 155, 256)
    assert o.int8_output_ov_cpu(-10**6, [F(1, 4)], -100, 155, 256) == -100


def test_tiny_per_tensor_shift_is_dropped_below_range_times_0_00001f():
    # output scale 1, zero point 195, d = fl32(0.9): after the fold the shift is 2^-16, below
    # fl32(255 * 0.00001f) (the clip range is [-195, 60]: 60 - (-195) = 255) -> dropped, form 'mul'
    d = F(15091653, 2**24)
    isc, ish, _, _ = o._input_side([d], F(-195), F(60), 256, None)
    assert ish[0] - 195 == F(1, 2**16)
    plan = o.int8_post_ops([d], -195, 60, 256)
    assert plan["shift"] == [0] and plan["form"] == "mul" and plan["clip"] == ([-195], [60])
    # a shift exactly fl32(255 * 0.00001f) is kept (strict test): form 'fma'
    c = F(21904331, 2**33)
    plan = o.int8_post_ops([F(1)], 0, 255, 256, [-c])
    assert plan["shift"] == [fl32(255 * o._F32_1E_5)] and plan["form"] == "fma"


def test_integer_destination_keeps_the_clip_when_the_low_level_is_above_0():
    # a 0.0006-wide output range near -4.88 with d = fl32(1.6557): binary32 puts input_low at level 1, so
    # the u8 conversion's saturation does not stand in for the clip; the clip post-op stays
    d, ol, oh = F(6944545, 2**22), F(-639131, 2**17), F(-5112943, 2**20)
    plan = o.int8_post_ops([d], ol, oh, 256, dst="u8")
    assert plan["clip"] == ([1], [256]) and plan["form"] == "fma"
    full = o.int8_post_ops([F(1, 4)], 0, 10, 256, dst="u8")        # levels 0..255: the clip is skipped
    assert full["clip"] is None


def test_lpt_output_precision_edges():
    # the symmetry test is strict (> 0.002 has a zero point) and relative to the smaller (more negative) ratio
    r = o.fl32(F(-256, 254))
    assert o.lpt_output_precision(r, 1, 256) == (-128, 127, False)
    assert o.lpt_output_precision(-1, 1, 256) == (0, 255, True)             # |(-1 - r)/r| = 0.0078
    assert o.lpt_output_precision(-1, 0, 256) == (0, 255, True)             # oh = 0: a zero point
    assert o.lpt_output_precision(F(-1, 10**7), 1, 256) == (0, 255, False)  # |ol| < 1e-6: unsigned, no zero point
    assert o.lpt_output_precision(F(-2, 10**6), 1, 256) == (0, 255, True)   # signed, far from symmetric
    assert o.lpt_output_precision(-8, 7, 16) == (-8, 7, False) and o.lpt_output_precision(0, 15, 16) == (0, 15, False)
    assert o.lpt_output_precision(-1, 1, 15) == (0, 255, True)              # 15 levels have no i8 form
    assert o.lpt_output_precision(-127, 127, 255) == (-127, 127, False)
    with pytest.raises(InvalidValueError, match="levels 1"):
        o.lpt_output_precision(-1, 1, 1)


def test_output_side_other_levels_and_integer_destinations():
    ol, oh = F(-3), F(4)
    assert o._output_side(ol, oh, 8, "f32") == (1, -3)                     # not decomposed: (fl((oh-ol)/7), ol)
    assert o._output_side(F(0), F(255), 256, "u8") == (1, 0) and o._output_side(F(0), F(255), 256, "s8") == (1, -128)
    with pytest.raises(InvalidValueError, match=r"^output FakeQuantize levels 8 into a u8 layer: only 256"):
        o._output_side(ol, oh, 8, "u8")


def test_bias_plans():
    # MatMul: Add(b), Multiply(d), Subtract(c) fused as scale-shifts; a per-channel d <= 0 is rejected
    isc, ish, clo, chi = o._scaleshift_side([F(1, 2)], F(0), F(255), 256, None, [F(1), F(2)])
    assert isc == [F(1, 2)] * 2 and ish == [F(1), F(2)] and clo == [0, 0] and chi == [255, 255]
    isc, ish, _, _ = o._scaleshift_side([F(1, 2)], F(0), F(255), 256, [F(4), F(6)], [F(1), F(2)])
    assert ish == [F(-1), F(-1)]
    with pytest.raises(InvalidValueError, match=r"^dequantization scale 0: expected > 0$"):
        o._scaleshift_side([F(0)], F(0), F(255), 256, None, [F(1), F(2)])
    # zero shifts are not a zero point: the MatMul bias path stays modelled
    assert o.int8_post_ops([F(1, 2)], 0, 255, 256, [F(0), F(0)], bias=[F(1), F(2)])["form"] == "mul_add"
    # with a zero point (c != 0): fl(fl(acc - c)*d) as post-ops, the bias into the node (ish = fl(ish0 + fl(b*isc0)))
    plan = o.int8_post_ops([F(1, 2)], 0, 255, 256, [F(0), F(1, 3)], bias=[F(1), F(2)])
    assert plan["pre"] == ([F(0), F(1, 3)], [F(1, 2)], None) and plan["shift"] == [F(1), F(2)]
    assert plan["form"] == "mul_add" and plan["scale"] == [1]
    assert o.apply_int8_plan(9, plan, 1) == round(o.fl32(o.fl32(9 - F(1, 3)) / 2) + 2)
    plan = o.int8_post_ops([F(1, 2), F(1, 4)], 0, 255, 256, bias=[F(1), F(2)], layer="conv")
    assert plan["pre"] == (None, [F(1, 2), F(1, 4)], [F(1), F(2)]) and plan["scale"] == [1] and plan["form"] == "mul"
    assert o.apply_int8_plan(7, plan, 1) == 4                             # fl(7/4) + 2 = 3.75 -> 4
    assert o.int8_output_exact(7, [F(1, 2), F(1, 4)], 0, 255, 256, channel=1, bias=[F(1), F(2)]) == 4
