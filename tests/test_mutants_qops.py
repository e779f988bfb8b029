"""refquant.qops, edge by edge (mutation testing, docs/testing.md): each test fails on mutants of
qops.py that tests/test_qops.py did not notice (sub's sign, y_dtype, defaults, pooling geometry at
its edges, every checked operand's name in its message, the zero point's sign, pool_cells)."""

from fractions import Fraction as F

import pytest

from refquant import qops
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError


def test_attr_f32_rejects_what_is_not_a_finite_number():
    assert qops.attr_f32(0.1, "alpha") == F(13421773, 134217728)
    for bad, shown in ((True, "True"), (None, "None"), ("1", "'1'"), (float("nan"), "nan"),
                       (float("inf"), "inf"), (float("-inf"), "-inf")):
        with pytest.raises(InvalidValueError, match=rf"^alpha = {shown} must be a finite number$"):
            qops.attr_f32(bad, "alpha")


def test_broadcast_pads_the_shorter_shape_with_ones():
    assert qops.broadcast_shape((3,), (4, 3)) == (4, 3)
    assert qops.broadcast_shape((4, 3), (3,)) == (4, 3)
    with pytest.raises(ShapeError, match=r"^shapes \[2\] and \[4, 3\] do not broadcast$"):
        qops.broadcast_shape((2,), (4, 3))


def test_sub_subtracts_and_every_binary_op_honours_y_dtype():
    assert qops.sub([5], 1.0, 0, [2], 1.0, 0, 1.0, 0) == [3]
    assert qops.sub([1], 1.0, 0, [3], 1.0, 0, 1.0, 0, dtype="uint8", y_dtype="int8") == [-2]
    assert qops.add([200], 1.0, 0, [200], 1.0, 0, 1.0, 0, dtype="uint8", y_dtype="int16") == [400]
    assert qops.mul([10], 1.0, 0, [20], 1.0, 0, 1.0, 0, dtype="int8", y_dtype="int16") == [200]


def test_unary_ops_honour_y_dtype():
    # 200 * 2 = 400: an int16 value, not a uint8 one
    assert qops.requantize([200], 2.0, 0, 1.0, 0, dtype="uint8", y_dtype="int16") == [400]
    assert qops.relu([200], 2.0, 0, 1.0, 0, dtype="uint8", y_dtype="int16") == [400]
    assert qops.leaky_relu([200], 2.0, 0, 1.0, 0, dtype="uint8", y_dtype="int16") == [400]
    assert qops.clamp([200], 2.0, 0, 1.0, 0, dtype="uint8", y_dtype="int16") == [400]


def test_checked_operands():
    assert qops.scale(0.5, "s") == F(1, 2) and qops.scale([0.5], "s") == F(1, 2)     # fp32 default, [s]
    with pytest.raises(InvalidValueError, match=r"^s: s = -1\.0 must be a positive finite fp32 value$"):
        qops.scale(-1.0, "s")
    assert qops.requantize([5], [1.0], [3], 1.0, [0]) == [2]                          # one-element lists
    assert qops.requantize([255], 1.0, 255, 1.0, 255) == [255]                        # the type's top end
    with pytest.raises(InvalidValueError, match=r"^x_zero_point = True must be one uint8 value \[0, 255\]$"):
        qops.requantize([5], 1.0, True, 1.0, 0)
    with pytest.raises(InvalidValueError, match=r"^x element 0 = 1\.5 is not a uint8 value \[0, 255\]$"):
        qops.requantize([1.5], 1.0, 0, 1.0, 0)
    with pytest.raises(ShapeError, match=r"^x is ragged"):
        qops.requantize([[1, 2], [3]], 1.0, 0, 1.0, 0)


_BIN = ([2], 1.0, 0, [3], 1.0, 0, 1.0, 0)


@pytest.mark.parametrize("at, bad, pattern", [
    (0, [300], r"^a element 0 = 300 is not a uint8"), (3, [300], r"^b element 0 = 300 is not a uint8"),
    (1, 0.0, r"^a_scale: a_scale = 0\.0 must be"), (4, 0.0, r"^b_scale: b_scale = 0\.0 must be"),
    (6, 0.0, r"^y_scale: y_scale = 0\.0 must be"), (2, 300, r"^a_zero_point = 300 must be"),
    (5, 300, r"^b_zero_point = 300 must be"), (7, 300, r"^y_zero_point = 300 must be")])
def test_binary_ops_name_their_operands(at, bad, pattern):
    args = list(_BIN)
    args[at] = bad
    with pytest.raises(InvalidValueError, match=pattern):
        qops.add(*args)


@pytest.mark.parametrize("at, bad, pattern", [
    (0, [300], r"^x element 0 = 300 is not a uint8"), (1, 0.0, r"^x_scale: x_scale = 0\.0 must be"),
    (3, 0.0, r"^y_scale: y_scale = 0\.0 must be"), (2, 300, r"^x_zero_point = 300 must be"),
    (4, 300, r"^y_zero_point = 300 must be")])
def test_unary_ops_name_their_operands(at, bad, pattern):
    args = [[2], 1.0, 0, 1.0, 0]
    args[at] = bad
    with pytest.raises(InvalidValueError, match=pattern):
        qops.requantize(*args)


def test_scale_format_reaches_binary_and_unary_ops():
    assert qops.add([2], 0.1, 0, [3], 0.1, 0, 0.1, 0, scale_format="fp64") == [5]
    assert qops.requantize([2], 0.1, 0, 0.1, 0, scale_format="fp64") == [2]


def test_leaky_relu_default_alpha_and_its_branch_point():
    # v = -100: 0.01f * -100 = -1.0000000223 -> -1; alpha 1.01 would give -101 (saturating at 0).
    assert qops.leaky_relu([0], 1.0, 100, 1.0, 100) == [99]
    # v = +0.5 keeps its value (not alpha * v): 0.5 / 0.5 + 100 = 101
    assert qops.leaky_relu([101], 0.5, 100, 0.5, 100) == [101]
    with pytest.raises(InvalidValueError, match=r"^alpha = nan must be a finite number$"):
        qops.leaky_relu([0], 1.0, 0, 1.0, 0, alpha=float("nan"))


def test_clamp_with_one_bound_and_its_messages():
    assert qops.clamp([0, 5, 10], 1.0, 0, 1.0, 0, max=6) == [0, 5, 6]
    assert qops.clamp([0, 5, 10], 1.0, 0, 1.0, 0, min=4) == [4, 5, 10]
    with pytest.raises(InvalidValueError, match=r"^min = inf must be a finite number$"):
        qops.clamp([0], 1.0, 0, 1.0, 0, min=float("inf"))
    with pytest.raises(InvalidValueError, match=r"^max = nan must be a finite number$"):
        qops.clamp([0], 1.0, 0, 1.0, 0, max=float("nan"))


@pytest.mark.parametrize("args, out", [((5, 3, 2, 0, 1, 1, 0), 2), ((5, 3, 1, 1, 0, 1, 0), 4),
                                       ((7, 3, 1, 0, 0, 2, 0), 3), ((3, 3, 1, 0, 0, 1, 0), 1),
                                       ((5, 2, 2, 0, 0, 1, 0), 2), ((5, 2, 2, 0, 0, 1, 1), 3),
                                       ((12, 2, 2, 0, 0, 1, 1), 6), ((6, 2, 2, 2, 0, 1, 1), 4),
                                       ((5, 2, 2, 1, 1, 1, 1), 3)])
def test_pool_output_size(args, out):
    # n, k, s, pad_begin, pad_end, d, ceil_mode (ONNX AveragePool output shape)
    assert qops.pool_output_size(*args) == out


def test_pool_output_size_message():
    with pytest.raises(ShapeError, match=r"^pool window 5 is larger than the padded axis 4$"):
        qops.pool_output_size(2, 3, 1, 1, 1, 2, 0)


def test_pool_attributes_defaults_and_checks():
    assert qops.pool_windows((4,), (2,))[0] == (3,)                          # strides 1, ceil_mode 0
    assert qops.pool_windows((5,), (2,), (2,))[0] == (2,)
    assert qops.pool_windows((5,), (2,), dilations=[2]) == ((3,), [([0, 2], 2), ([1, 3], 2), ([2, 4], 2)])
    with pytest.raises(ShapeError, match=r"^pool attributes for 1 spatial axes: kernel_shape \[2\], strides \[1\], "
                                         r"pads \[0\], dilations \[1\]$"):
        qops.pool_windows((4,), (2,), pads=[0])
    with pytest.raises(ShapeError):
        qops.pool_windows((4,), (2, 2))
    for kw in ({"kernel_shape": (0,)}, {"kernel_shape": (2,), "strides": (0,)},
               {"kernel_shape": (2,), "dilations": (0,)}):
        with pytest.raises(InvalidValueError, match=r"^pool kernel/strides/dilations must be positive and pads >= 0: "):
            qops.pool_windows((4,), **kw)
    with pytest.raises(InvalidValueError, match=r"\[2\] \[1\] \[1\] \[-1, 0\]$"):
        qops.pool_windows((4,), (2,), pads=[-1, 0])


def test_pool_windows_count_the_padded_extent_only():
    assert qops.pool_windows((5,), (2,), (2,), ceil_mode=1) == ((3,), [([0, 1], 2), ([2, 3], 2), ([4], 1)])
    assert qops.pool_windows((4,), (2,), (2,), pads=[0, 1]) == ((2,), [([0, 1], 2), ([2, 3], 2)])
    assert qops.pool_windows((3,), (2,), (2,), pads=[0, 1]) == ((2,), [([0, 1], 2), ([2], 2)])


def test_pool_cells():
    assert qops.pool_cells((4,), (2,)) == ((3,), [[0, 1], [1, 2], [2, 3]])
    assert qops.pool_cells((4,), (2,), (2,), pads=[1, 1]) == ((3,), [[None, 0], [1, 2], [3, None]])
    assert qops.pool_cells((5,), (2,), (2,), ceil_mode=1) == ((3,), [[0, 1], [2, 3], [4]])
    assert qops.pool_cells((5,), (2,), dilations=[2], strides=[3]) == ((1,), [[0, 2]])
    assert qops.pool_cells((2, 2), (2, 2), pads=[0, 0, 1, 1]) == (
        (2, 2), [[0, 1, 2, 3], [1, None, 3, None], [2, 3, None, None], [3, None, None, None]])
    assert qops.pool_cells((2, 3), (1, 2), strides=(1, 2), pads=[0, 1, 0, 0]) == (
        (2, 2), [[None, 0], [1, 2], [None, 3], [4, 5]])
    with pytest.raises(ShapeError):
        qops.pool_cells((1,), (3,))
    with pytest.raises(InvalidValueError):
        qops.pool_cells((4,), (0,))


def test_pool_planes_need_n_c_and_a_spatial_axis():
    assert qops.max_pool([[[1, 3, 2]]], kernel_shape=[2]) == [[[3, 3]]]          # N, C, one spatial axis
    with pytest.raises(ShapeError, match=r"^pooling input has shape \[1, 3\]; expected N, C and at least one spatial"):
        qops.max_pool([[1, 3, 2]], kernel_shape=[2])
    with pytest.raises(InvalidValueError, match=r"^x element 1 = 300 is not a uint8 value"):
        qops.max_pool([[[1, 300]]], kernel_shape=[1])
    with pytest.raises(ShapeError, match=r"^a pooling window lies wholly in the padding \(pads \[2, 0\], kernel \[1\]\)$"):
        qops.max_pool([[[1, 2]]], kernel_shape=[1], pads=[2, 0])


def test_pool_defaults():
    assert qops.max_pool([[[200, 3, 7, 1, 9]]], kernel_shape=[2], strides=[2]) == [[[200, 7]]]   # uint8, floor
    # avg_pool: ceil_mode 0 and the padding not counted by default
    assert qops.avg_pool([[[2, 4, 6, 8, 9]]], 1.0, 0, 1.0, 0, kernel_shape=[2], strides=[2]) == [[[3, 7]]]
    assert qops.avg_pool([[[4, 8]]], 1.0, 0, 1.0, 0, kernel_shape=[2], pads=[1, 0]) == [[[4, 6]]]
    assert qops.avg_pool([[[4, 8]]], 1.0, 0, 1.0, 0, kernel_shape=[2], pads=[1, 0], count_include_pad=1) == [[[2, 6]]]


def test_avg_pool_and_mean_subtract_the_input_zero_point():
    assert qops.avg_pool([[[12, 14]]], 1.0, 10, 1.0, 0, kernel_shape=[2]) == [[[3]]]
    assert qops.mean([[12, 14]], 1.0, 10, 1.0, 0) == [[3]]
    assert qops.mean([[1, 2], [3, 5]], 1.0, 0, 0.5, 0, axes=[1]) == [[3], [8]]     # sums 3, 8 (not 4, 9)
    assert qops.mean([[1, 2], [3, 5]], 1.0, 0, 0.5, 0, axes=[]) == [[6]]
    assert qops.mean([[1, 2], [3, 5]], 1.0, 0, 0.5, 0) == [[6]]
    assert qops.mean([[1, 2], [3, 5]], 1.0, 0, 0.5, 0, axes=[-1], keepdims=0) == [3, 8]
    assert qops.mean([[200, 100]], 1.0, 0, 1.0, 0) == [[150]]                          # uint8 default
    assert qops.mean([[7]], 1.0, 0, 1.0, 0) == [[7]]                                   # a 1 in the shape is fine


@pytest.mark.parametrize("op", ["avg_pool", "mean", "global_avg_pool"])
def test_reducing_ops_name_their_operands(op):
    x = [[[2, 4]]]
    kw = {"kernel_shape": [2]} if op == "avg_pool" else {}
    call = getattr(qops, op)
    for args, pattern in (((x, 0.0, 0, 1.0, 0), r"^x_scale: "), ((x, 1.0, 0, -1.0, 0), r"^y_scale: "),
                          ((x, 1.0, 300, 1.0, 0), r"^x_zero_point = 300 must be"),
                          ((x, 1.0, 0, 1.0, 300), r"^y_zero_point = 300 must be"),
                          (([[[2, 256]]], 1.0, 0, 1.0, 0), r"^x element 1 = 256 is not a uint8")):
        with pytest.raises(InvalidValueError, match=pattern):
            call(*args, **kw)
    # scale_format reaches the scale check: 0.1 is a binary64 value, not a binary32 one
    assert call(x, 0.1, 0, 0.1, 0, scale_format="fp64", **kw) == [[[3]]]
    with pytest.raises(InvalidValueError):
        call(x, 0.1, 0, 0.1, 0, **kw)


def test_mean_axis_and_empty_messages():
    with pytest.raises(InvalidValueError, match=r"^axis = 5 must be an int in \[-2, 1\]$"):
        qops.mean([[1, 2]], 1.0, 0, 1.0, 0, axes=[5])
    with pytest.raises(ShapeError, match=r"^mean of an empty tensor \(shape \[2, 0\]\)$"):
        qops.mean([[], []], 1.0, 0, 1.0, 0)


def test_global_avg_pool_default_type():
    assert qops.global_avg_pool([[[200, 100], [0, 0]]], 1.0, 0, 1.0, 0) == [[[150], [0]]]
    with pytest.raises(UnknownNameError):
        qops.global_avg_pool([[[1]]], 1.0, 0, 1.0, 0, dtype="uint7")


def test_concat_checks_its_inputs_and_passes_type_and_format():
    with pytest.raises(InvalidValueError, match=r"^concat inputs\[1\] must be \(tensor, scale, zero point\)$"):
        qops.concat([([1], 1.0, 0), 5], 1.0, 0, axis=0)
    with pytest.raises(InvalidValueError, match=r"^concat inputs\[0\] must be"):
        qops.concat([([1], 1.0)], 1.0, 0, axis=0)
    assert qops.concat([([-5], 1.0, 0), ([7], 1.0, 0)], 1.0, 0, axis=0, dtype="int8") == [-5, 7]
    assert qops.concat([([4], 0.1, 0)], 0.1, 0, axis=0, scale_format="fp64") == [4]
