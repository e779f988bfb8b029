"""refquant/tflite_ops.py and tflite_conv.py without the peer: hand-computed values (the same ops
against LiteRT itself are tests/test_tflite_ops.py)."""

import numpy as np
import pytest

from refquant import tflite_ops as T
from refquant.errors import InvalidValueError, SpecError, UnknownNameError


def test_activation_range():
    assert T.activation_range("NONE", 0.5, 3, "int8") == (-128, 127)
    assert T.activation_range("RELU", 0.5, 3, "int8") == (3, 127)
    assert T.activation_range("RELU6", 0.5, 3, "int8") == (3, 15)
    assert T.activation_range("RELU_N1_TO_1", 0.25, -126, "int8") == (-128, -122)
    assert T.activation_range("RELU_N1_TO_1", 2.0, 0, "int8") == (-1, 1)   # +-0.5 rounds away from zero
    with pytest.raises(UnknownNameError):
        T.activation_range("TANH", 1.0, 0, "int8")


def test_add_params_and_values():
    # sa = sb = 0.5, sy = 1: M1 = M2 = 1/2, Mo = 1/2^20
    (m1, s1), (m2, s2), (mo, so) = T.add_sub_params(T.f32(0.5), T.f32(0.5), T.f32(1.0), 20)
    assert (m1, s1) == (1 << 30, 0) and (mo, so) == (1 << 30, -19)
    # 0.5*1 + 0.5*2 = 1.5 -> 2 (ref: half away); XNNPACK rounds the same tie toward +inf: 2
    assert T.tflite_add([1], 0.5, 0, [2], 0.5, 0, 1.0, 0) == [2]
    assert T.tflite_add([-1], 0.5, 0, [-2], 0.5, 0, 1.0, 0) == [-2]
    assert T.xnnpack_add([-1], 0.5, 0, [-2], 0.5, 0, 1.0, 0) == [-1]
    assert T.tflite_add([127], 1.0, 0, [127], 1.0, 0, 1.0, 0) == [127]          # saturates
    with pytest.raises(SpecError):
        T.xnnpack_add([1], 1.0, 0, [1], 1.0, 0, 1 / 512, 0)                     # ratio 512 >= 2^8


def test_mul_quantize_dequantize_hand_values():
    assert T.tflite_mul([3], 0.5, 0, [3], 0.5, 0, 1.0, 0) == [3]       # 2.25: SRDHM 4.5 -> 5, RDBPOT 2.5 -> 3
    assert T.tflite_mul([-3], 0.5, 1, [-3], 0.5, 1, 0.5, 0) == [8]     # 0.5*(-4)*0.5*(-4)/0.5 = 8
    assert T.tflite_quantize([2.5, -2.5], 1.0, 0) == [3, -3]           # ties away from zero
    assert T.xnnpack_quantize([2.5, -2.5], 1.0, 0) == [2, -2]          # RNE
    x = [0.5 + i for i in range(9)]
    assert T.tflite_quantize_optimized(x, 1.0, 0) == [0, 2, 2, 4, 4, 6, 6, 8, 9]   # 8 RNE, tail away
    assert T.tflite_dequantize([5], float(np.float32(0.1)), 2) == [float(np.float32(3 * np.float32(0.1)))]
    with pytest.raises(InvalidValueError):
        T.tflite_quantize([float("nan")], 1.0, 0)
    with pytest.raises(InvalidValueError):
        T.tflite_add([1], 1.0, 3, [1], 1.0, 0, 1.0, 0, dtype="int16")      # int16 is symmetric


def test_mean_and_pool_hand_values():
    x = [[[[1], [2]], [[3], [5]]]]                                    # 1x2x2x1, sum 11, n 4
    assert T.tflite_mean(x, 1.0, 0, 1.0, 0, axes=[1, 2], keepdims=1) == [[[[3]]]]
    assert T.tflite_average_pool(x, filter_hw=(2, 2), strides=(1, 1)) == [[[[3]]]]
    assert T.tflite_max_pool(x, filter_hw=(2, 2), strides=(1, 1)) == [[[[5]]]]
    assert T.pool_geometry(5, 2, 2, "SAME") == (3, 0) and T.pool_geometry(5, 3, 2, "VALID") == (2, 0)
    assert T.mean_multiplier(T.f32(1.0), T.f32(1.0), 4) == (1 << 30, -1)     # 1 -> (2^30, 1), then / 4


