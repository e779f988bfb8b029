"""refquant.mlas_convsym: onnxruntime's symmetric QLinearConv accumulator (saturating, positions outer).

Against the contract (ops.conv_integer) where no partial sum leaves int32, an independent numpy form,
and hand cases here; against onnxruntime itself in tests/test_peer_ort_conv_int32_saturation.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import mlas_convsym as mc, ops
from refquant.errors import InvalidValueError, ShapeError

MAX, MIN = 2**31 - 1, -2**31


def numpy_model(x, w, zx, bias):
    """One output element of a kernel as large as the input (no padding), written independently:
    products in (kernel position, channel) order, then saturating steps of 4 channels."""
    m, c = w.shape[:2]
    out = []
    for j in range(m):
        prod = (x[0].astype(np.int64) * w[j].astype(np.int64)).reshape(c, -1).T   # positions x channels
        s = 0
        for step in prod.reshape(prod.shape[0], c // 4, 4).sum(axis=2).ravel():
            s = min(MAX, max(MIN, s + int(step)))
        fix = (int(bias[j]) - zx * int(w[j].astype(np.int64).sum()) - MIN) % 2**32 + MIN
        out.append((s + fix - MIN) % 2**32 + MIN)
    return out


def test_sat32_and_wrap32():
    assert [mc.sat32(v) for v in (MIN - 1, MIN, 0, MAX, MAX + 1)] == [MIN, MIN, 0, MAX, MAX]
    assert [mc.wrap32(v) for v in (MAX + 1, MIN - 1, 2**32 + 5, -5)] == [MIN, MAX, 5, -5]


def test_four_channels_a_step():
    # near INT32_MAX, a step of +20 - 30 (net -10) does not saturate; one product at a time would
    assert mc.saturating_sum([[MAX - 10, 0, 0, 0, 20, -30, 0, 0]]) == MAX - 20
    assert mc.saturating_sum([[MAX - 10, 0, 0, 0], [20, 0, 0, 0], [-30, 0, 0, 0]]) == MAX - 30
    # four, not eight: MAX - 10 + 20 saturates before the -30 (a step of 8 would sum to MAX - 20)
    assert mc.saturating_sum([[MAX - 10, 0, 0, 20, -30, 0, 0, 0]]) == MAX - 30
    # the steps restart at every kernel position: 8 channels are two steps per position
    assert mc.saturating_sum([[MAX, 0, 0, 0, 5, -6, 0, 0]]) == MAX - 1
    assert mc.saturating_sum([[MIN + 3, 0, 0, 0, -4, 0, 0, 0], [10, 0, 0, 0]]) == MIN + 10


def test_kernel_positions_outer_by_value():
    # 3x3 over C = 16384, x = 255; w = 127 at the first 5 kernel positions, -128 at the other 4:
    # positions outer, the sum reaches INT32_MAX after position 5 and then falls by 4 * C * 255 * 128
    # (measured on onnxruntime 1.32.0: 8388607); the contract's wrap gives the exact 513884160
    c = 16384
    x = np.full((1, c, 3, 3), 255, np.uint8)
    w = np.where(np.arange(9).reshape(1, 1, 3, 3) < 5, 127, -128) + np.zeros((1, c, 1, 1), np.int64)
    assert mc.accumulators(x, w.astype(np.int8)) == [[[[MAX - 4 * c * 255 * 128]]]] == [[[[8388607]]]]
    assert ops.conv_integer(x, w.astype(np.int8), w_type="int8")[0][0][0][0] == 513884160


def test_bias_and_zero_point_are_added_after_saturation_with_wrap():
    # INT32_MAX + 100 wraps (measured: a constant bias of 100 turned code 255 into 0)
    c = 70000
    x = np.full((1, c, 1, 1), 255, np.uint8)
    w = np.full((1, c, 1, 1), 127, np.int8)
    assert mc.accumulators(x, w, bias=[100])[0][0][0][0] == MIN + 99
    assert mc.accumulators(x, w, bias=[-200000000])[0][0][0][0] == MAX - 200000000
    # zx = 100: the raw sum saturates, then - zx * sum(w) = - 889000000 (the centred sum would fit)
    assert mc.accumulators(x, w, 100)[0][0][0][0] == MAX - 100 * c * 127
    # zx = 255: zx * sum(w) = 2266950000 is past int32 itself and wraps too (measured: code 121 at
    # sy = 2^24, zy = 128, where the contract's centred sum 0 gives 128)
    assert mc.accumulators(x, w, 255)[0][0][0][0] == mc.wrap32(MAX - 255 * c * 127) == -119466353


def test_numpy_model_on_saturating_random_cases():
    rng = np.random.default_rng(11)
    c = 12288                       # K = 110592: the raw sums pass INT32_MAX two thirds of the way
    x = rng.integers(200, 256, (1, c, 3, 3)).astype(np.uint8)
    w = np.where(rng.random((2, c, 3, 3)) < 0.9, 127, rng.integers(-128, 128, (2, c, 3, 3))).astype(np.int8)
    bias = [int(v) for v in rng.integers(MIN, MAX, 2)]
    got = [v[0][0] for v in mc.accumulators(x, w, 37, bias=bias)[0]]
    assert got == numpy_model(x, w, 37, bias)
    exact = ops.conv_integer(x, w, 37, 0, w_type="int8", bias=bias)
    assert got != [v[0][0] for v in exact[0]], "the case does not leave int32"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_equals_the_contract_where_nothing_leaves_int32(data):
    d = data.draw(st.integers(1, 3))
    c, m = 4 * data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    spatial = data.draw(st.lists(st.integers(1, 4), min_size=d, max_size=d))
    kernel = [data.draw(st.integers(1, s + 1)) for s in spatial]
    pads = data.draw(st.lists(st.integers(0, 1), min_size=2 * d, max_size=2 * d))
    strides = data.draw(st.lists(st.integers(1, 2), min_size=d, max_size=d))
    dil = [1] * d
    if any(s + p0 + p1 < k for s, p0, p1, k in zip(spatial, pads[:d], pads[d:], kernel)):
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 256, [1, c] + spatial).astype(np.uint8)
    w = rng.integers(-128, 128, [m, c] + kernel).astype(np.int8)
    zx = data.draw(st.integers(0, 255))
    bias = [int(v) for v in rng.integers(MIN, MAX, m)]
    kw = dict(strides=strides, pads=pads, dilations=dil)
    assert mc.accumulators(x, w, zx, bias=bias, **kw) == ops.conv_integer(x, w, zx, 0, w_type="int8", bias=bias, **kw)


def test_padding_holds_the_raw_zero_point():
    # a 1x1 input padded by 1: the 8 padding positions multiply zx by w, and zx * sum(w) (all 9
    # positions) comes off again -- the centre alone is left
    x = np.full((1, 4, 1, 1), 10, np.uint8)
    w = np.full((1, 4, 3, 3), 3, np.int8)
    assert mc.accumulators(x, w, 7, pads=[1, 1, 1, 1]) == [[[[4 * 3 * (10 - 7)]]]]


def test_qlinear_conv_requantizes_like_ort():
    x = np.full((1, 4, 1, 1), 10, np.uint8)
    w = np.full((2, 4, 1, 1), 3, np.int8)
    # acc 120; M = 1 * 1 / 2 and 1 * 0.5 / 2; + zy 5
    assert mc.qlinear_conv(x, 1.0, 0, w, [1.0, 0.5], 2.0, 5) == [[[[65]], [[35]]]]


def test_errors_name_the_value():
    x, w = np.zeros((1, 4, 1, 1), np.uint8), np.zeros((1, 4, 1, 1), np.int8)
    with pytest.raises(InvalidValueError, match="x_zero_point = 256"):
        mc.accumulators(x, w, 256)
    with pytest.raises(InvalidValueError, match="int8"):
        mc.accumulators(x, np.full((1, 4, 1, 1), 200, np.int64))
    with pytest.raises(InvalidValueError, match="uint8"):
        mc.accumulators(np.full((1, 4, 1, 1), -1, np.int64), w)
    with pytest.raises(ShapeError):
        mc.accumulators(x, np.zeros((1, 3, 1, 1), np.int8))


@pytest.mark.parametrize("x_type, w_type, zw, c, m, group, zx_const, bias_const, runs", [
    ("uint8", "int8", [0], 8192, 16, 1, True, True, True),
    ("uint8", "int8", [0] * 24, 8192, 24, 1, True, True, True),    # per-channel zeros; M = 24, 40 measured
    ("uint8", "int8", [0], 8192, 8, 1, True, True, False),         # M = 8 wraps
    ("uint8", "int8", [0], 8192, 17, 1, True, True, False),        # M = 17 wraps
    ("uint8", "int8", [0], 16383, 16, 1, True, True, False),       # C % 4 != 0 wraps
    ("uint8", "int8", [1], 8192, 16, 1, True, True, False),        # a weight zero point 1
    ("int8", "int8", [0], 8192, 16, 1, True, True, False),         # int8 x
    ("uint8", "int8", [0], 8192, 16, 2, True, True, False),        # group 2
    ("uint8", "int8", [0], 8192, 16, 1, False, True, False),       # x zero point fed
    ("uint8", "int8", [0], 8192, 16, 1, True, False, False),       # bias fed
    ("uint8", "uint8", [0], 8192, 16, 1, True, True, False),
])
def test_applies_the_measured_configurations(x_type, w_type, zw, c, m, group, zx_const, bias_const, runs):
    assert mc.applies(x_type, w_type, zw, c, m, group, zx_constant=zx_const, bias_constant=bias_const) is runs
