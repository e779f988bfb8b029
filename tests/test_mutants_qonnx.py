"""refquant.qonnx, edge by edge (mutation testing, docs/testing.md): zero points on every path,
1-bit signed Quant (bipolar, then (q - z) * s), narrow and signed passed through, bit width 64,
HALF_DOWN's binary32 subtraction, Trunc's Unpredictable band, messages."""

from fractions import Fraction as F

import pytest

from refquant import qonnx
from refquant.errors import InvalidValueError, UnknownNameError, Unpredictable
from refquant.requant import fl32


def test_rounding_mode_message():
    with pytest.raises(UnknownNameError, match=r"^unknown QONNX rounding_mode 'NEAREST'; expected one of: CEIL, DOWN"):
        qonnx.round_exact(1, "NEAREST")


def test_half_down_subtracts_in_binary32():
    # |y| - 0.5 = 2^23 + 0.5 is not a binary32 value: RNE gives 2^23, so qonnx returns 2^23, not y.
    y = 2**23 + 1
    assert qonnx.round_qonnx(y, "HALF_DOWN") == 2**23 and qonnx.round_exact(y, "HALF_DOWN") == y
    assert qonnx.round_qonnx(-y, "HALF_DOWN") == -(2**23)


def test_bit_width_and_scale_edges():
    assert qonnx.int_bounds(64, True, False) == (-(2**63), 2**63 - 1)
    with pytest.raises(InvalidValueError, match=r"^QONNX bit width 65: expected an integer from 1 to 64$"):
        qonnx.int_bounds(65, True, False)
    with pytest.raises(InvalidValueError, match=r"^QONNX scale 0: expected a positive value$"):
        qonnx.quant_exact(1, 0, 0, 8)


@pytest.mark.parametrize("quant", [qonnx.quant_exact, qonnx.quant_qonnx])
def test_one_bit_signed_is_bipolar_then_rescaled_with_the_zero_point(quant):
    # q = +1 if x/s + z >= 0 else -1; out = (q - z) * s  (qonnx 1.0.0 int_quant, bit width 1 signed)
    assert quant(F(3, 4), F(1, 2), 0, 1) == F(1, 2)
    assert quant(F(-3, 4), F(1, 2), 0, 1) == F(-1, 2)
    assert quant(0, F(1, 2), 0, 1) == F(1, 2)                    # y = 0 -> +1
    assert quant(F(-3, 4), F(1, 2), 2, 1) == F(-1, 2)           # y = -1.5 + 2 >= 0: (1 - 2) * 1/2
    assert quant(F(-3, 2), F(1, 2), 2, 1) == F(-3, 2)           # y = -3 + 2 < 0: (-1 - 2) * 1/2
    assert quant(F(3, 4), 2, 1, 1) == 0                          # (1 - 1) * 2


def test_one_bit_signed_exact_equals_qonnx_with_a_zero_point():
    intquant = pytest.importorskip("qonnx.custom_op.general.intquant")   # qonnx 1.0.0
    np = pytest.importorskip("numpy")
    for x, s, z in ((F(-3, 4), F(1, 2), 2), (F(-3, 2), F(1, 2), 2), (F(5, 4), F(1, 4), -3), (F(3, 4), 2, 1)):
        ref = intquant.int_quant(np.float32(x), np.float32(s), np.float32(z), np.float32(1), 1, 0, "ROUND")
        assert qonnx.quant_exact(x, s, z, 1) == qonnx.quant_qonnx(x, s, z, 1) == F(float(ref))


@pytest.mark.parametrize("quant", [qonnx.quant_exact, qonnx.quant_qonnx])
def test_quant_passes_narrow(quant):
    assert quant(-200, 1, 0, 8, True, True) == -127
    assert quant(-200, 1, 0, 8, True, False) == -128


def _sqrt2_ulps(k):
    r = fl32(F(14142135623730951, 10**16)) + k * F(2) ** -23      # fl32(sqrt 2) + k ulps
    return r, abs(r * r / 2 - 1)


def test_trunc_shift_unpredictable_band_is_2_to_the_minus_20():
    assert qonnx.trunc_shift(F(7, 5), 1) == 0                   # |1.96/2 - 1| = 0.02: far from the band
    inside, d_in = _sqrt2_ulps(4)
    outside, d_out = _sqrt2_ulps(8)
    assert F(2) ** -21 < d_in < F(2) ** -20 < d_out < F(2) ** -19
    with pytest.raises(Unpredictable):
        qonnx.trunc_shift(inside, 1)
    assert qonnx.trunc_shift(outside, 1) == 1                   # log2(sqrt 2 + 8 ulps) just above 1/2


@pytest.mark.parametrize("trunc", [qonnx.trunc_exact, qonnx.trunc_qonnx])
def test_trunc_zero_point_and_shift(trunc):
    # s = 1, z = 8, output scale 4 (t = 2): y = RNE(x + 8) / 4, floor, out = (y - 8/4) * 4
    assert trunc(13, 1, 8, 8, 4, 8) == 12                       # y = 21/4 -> 5; (5 - 2) * 4
    assert trunc(-13, 1, 8, 8, 4, 8) == -16                     # y = -5/4 -> -2; (-2 - 2) * 4
    assert trunc(3, 1, 0, 8, 8, 8) == 0                         # t = 3: 3/8 -> 0


@pytest.mark.parametrize("trunc", [qonnx.trunc_exact, qonnx.trunc_qonnx])
def test_trunc_defaults_signed_not_narrow_and_passes_them(trunc):
    assert trunc(-1000, 1, 0, 16, 1, 8) == -128                  # signed, not narrow: the bottom is -128
    assert trunc(-1000, 1, 0, 16, 1, 8, True, True) == -127
    assert trunc(-1000, 1, 0, 16, 1, 8, False) == 0               # unsigned
    assert trunc(1000, 1, 0, 16, 1, 8, False, True) == 254        # unsigned narrow
