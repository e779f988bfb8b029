"""refquant.openvino, edge by edge (mutation testing, docs/testing.md): levels, FakeQuantize with
input_low > input_high at its ends, LPT's shift with qmin != 0, the per-channel pick and defaults of
the int8 output functions, the u8/s8 level, messages."""

from fractions import Fraction as F

import pytest

from refquant import openvino as o
from refquant.errors import InvalidValueError, UnknownNameError


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
