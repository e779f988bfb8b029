"""The oracle ops take numpy arrays (what users hold) as well as nested lists (issue 11 item 12)."""

import numpy as np
import pytest

from refquant import ops
from refquant.errors import InvalidValueError

A = [[1, -2, 3], [4, 5, -6]]
B = [[1, 2], [3, -4], [5, 6]]


def test_matmul_integer_and_qlinear_matmul_take_numpy_arrays():
    a, b = np.array(A, np.int8), np.array(B, np.int8)
    want = ops.matmul_integer(A, B, 0, 0, "int8", "int8")
    assert ops.matmul_integer(a, b, np.int8(0), np.int8(0), "int8", "int8") == want
    assert ops.matmul_integer(a, b, 0, np.zeros(2, np.int8), "int8", "int8", bias=np.array([1, 2], np.int32)) == \
        ops.matmul_integer(A, B, 0, [0, 0], "int8", "int8", bias=[1, 2])
    kw = dict(method="tflite_double", a_type="int8", b_type="int8")
    want = ops.qlinear_matmul(A, 0.5, 0, B, 0.25, 0, 0.125, 1, **kw)
    got = ops.qlinear_matmul(a, np.float32(0.5), np.int8(0), b, np.array([0.25, 0.25], np.float32), 0,
                             np.float32(0.125), np.int8(1), **kw)
    assert got == want and isinstance(got[0][0], int)
    steps = ops.explain_qlinear_matmul(a, np.float32(0.5), 0, b, np.float32(0.25), 0, np.float32(0.125), 1,
                                       np.array([1, 0]), **kw).steps
    assert steps[-1].value == want[1][0]


def test_qlinear_conv_takes_numpy_arrays():
    x = np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4)
    w = np.ones((2, 1, 3, 3), np.int8)
    kw = dict(method="ort", x_type="uint8", w_type="int8", y_type="uint8")
    assert ops.qlinear_conv(x, np.float32(0.5), np.uint8(3), w, np.float32(0.25), 0, np.float32(1.0), 0, **kw) == \
        ops.qlinear_conv(x.tolist(), 0.5, 3, w.tolist(), 0.25, 0, 1.0, 0, **kw)


def test_float_or_bool_arrays_are_named_by_element():
    with pytest.raises(InvalidValueError, match=r"A\[0, 0\] = 1.0 is not a int8 value"):
        ops.matmul_integer(np.array(A, np.float32), B, 0, 0, "int8", "int8")
    with pytest.raises(InvalidValueError, match=r"B\[0, 0\] = True"):
        ops.matmul_integer(A, np.ones((3, 2), bool), 0, 0, "int8", "int8")
