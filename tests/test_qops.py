"""refquant.qops (the exact ideal of quantized element-wise / pooling ops) and refquant.movement."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import backends, movement as mv, qops
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError


def test_add_ties_round_to_even_and_saturate():
    # sa = sb = sy = 1/2: real/sy = (a-za) + (b-zb) is an integer; sy = 1 gives halves (ties).
    assert qops.add([1, 2, 3], 0.5, 0, [0, 1, 0], 0.5, 0, 1.0, 0, dtype="uint8") == [0, 2, 2]
    assert qops.add([250], 1.0, 0, [10], 1.0, 0, 1.0, 0) == [255]
    assert qops.add([-128], 1.0, 0, [-128], 1.0, 0, 1.0, 0, dtype="int8") == [-128]
    assert qops.sub([3], 0.5, 0, [0], 0.5, 0, 1.0, 0) == [2]       # 1.5 -> 2
    assert qops.sub([5], 0.5, 0, [0], 0.5, 0, 1.0, 0) == [2]       # 2.5 -> 2


def test_mul_is_exact_and_broadcasts():
    # (0.5*3) * (0.5*3) / 0.25 = 9 exactly; broadcast [2,1] x [3]
    y = qops.mul([[3], [1]], 0.5, 0, [3, 1, 0], 0.5, 0, 0.25, 0)
    assert y == [[9, 3, 0], [3, 1, 0]]
    with pytest.raises(ShapeError):
        qops.mul([1, 2], 1.0, 0, [1, 2, 3], 1.0, 0, 1.0, 0)


def test_checks_name_the_value():
    with pytest.raises(InvalidValueError, match="uint8"):
        qops.add([256], 1.0, 0, [0], 1.0, 0, 1.0, 0)
    with pytest.raises(InvalidValueError, match="y_zero_point"):
        qops.add([1], 1.0, 0, [0], 1.0, 0, 1.0, 300)
    with pytest.raises(InvalidValueError, match="a_scale"):
        qops.add([1], 0.1 + 2**-40, 0, [0], 1.0, 0, 1.0, 0)   # not an fp32 value


def test_avg_pool_count_include_pad_and_ceil_mode():
    x = [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]
    # 2x2 windows, stride 2, ceil_mode: the last window of each axis overhangs (no pad counted)
    y = qops.avg_pool(x, 1.0, 0, 1.0, 0, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    assert y == [[[[3, 4], [8, 9]]]]            # 12/4 = 3, 9/2 = 4.5 -> 4, 15/2 = 7.5 -> 8, 9
    y = qops.avg_pool(x, 1.0, 0, 1.0, 0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
    assert y[0][0][0][0] == 1                  # 12/9
    y = qops.avg_pool(x, 1.0, 0, 1.0, 0, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0)
    assert y[0][0][0][0] == 3                  # 12/4
    assert qops.pool_output_size(5, 2, 2, 0, 0, 1, 1) == 3
    assert qops.pool_output_size(4, 2, 2, 0, 1, 1, 1) == 2   # a window starting in the end pad is dropped


def test_max_pool_and_global_avg_pool_and_mean():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.int64).reshape(2, 3, 4, 4) - 40
    y = np.array(qops.max_pool(x, kernel_shape=[2, 2], strides=[2, 2], dtype="int8"))
    assert (y == x.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5))).all()
    g = qops.global_avg_pool(x, 1.0, 0, 1.0, 0, dtype="int8")
    assert np.array(g).shape == (2, 3, 1, 1) and g[0][0][0][0] == -32   # mean -32.5 -> -32 (even)
    m = qops.mean(x, 1.0, 0, 1.0, 0, axes=[1], keepdims=0, dtype="int8")
    assert np.array(m).shape == (2, 4, 4) and m[0][0][0] == -24


def test_concat_requantizes_each_input_and_leaky_relu_clamp():
    assert qops.concat([([1, 2], 0.5, 0), ([3], 0.25, 0)], 0.5, 0, axis=0) == [1, 2, 2]   # 1.5 -> 2
    assert qops.concat([([[1]], 1.0, 3), ([[4]], 1.0, 3)], 1.0, 3, axis=1) == [[1, 4]]
    alpha = float(np.float32(0.25))
    assert qops.leaky_relu([0, 128, 255], 1.0, 128, 1.0, 128, alpha=alpha) == [96, 128, 255]
    assert qops.relu([0, 200], 1.0, 128, 1.0, 0) == [0, 72]
    assert qops.clamp([0, 128, 255], 1.0, 128, 1.0, 128, min=-6.0, max=6.0) == [122, 128, 134]
    assert qops.attr_f32(0.1, "alpha") == Fraction(float(np.float32(0.1)))


@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [3, 2, 1, 0], None])
def test_movement_matches_numpy(perm):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, 4, 5))
    assert (np.array(mv.transpose(x, perm)) == np.transpose(x, perm)).all()
    assert (np.array(mv.reshape(x, [0, -1])) == x.reshape(2, -1)).all()
    assert (np.array(mv.flatten(x, -1)) == x.reshape(-1, 5)).all()
    assert (np.array(mv.slice(x, [3, -1], [0, -100], [3, 2], [-1, -2])) == x[:, :, -1:-100:-2, 3:0:-1]).all()
    assert (np.array(mv.gather(x, [[0, -1], [1, 1]], axis=2)) == np.take(x, [[0, 3], [1, 1]], axis=2)).all()
    for mode, npmode in [("reflect", "reflect"), ("edge", "edge"), ("wrap", "wrap")]:
        assert (np.array(mv.pad(x, [0, 0, 1, 2, 0, 0, 2, 1], mode=mode))
                == np.pad(x, [(0, 0), (0, 0), (1, 2), (2, 1)], mode=npmode)).all()
    y = np.array(mv.pad(x, [0, 0, 1, 0, 0, 0, -1, 0], constant_value=7))
    assert (y[:, :, 0] == 7).all() and (y[:, :, 1:] == x[:, :, :3]).all()
    assert np.array(mv.unsqueeze(mv.squeeze([[1, 2]], [0]), [-1])).shape == (2, 1)
    cat = mv.concat_same([x, x[:, :1]], 1)
    assert (np.array(cat) == np.concatenate([x, x[:, :1]], 1)).all()


def test_resize_nearest_modes():
    x = [[1, 2, 3]]
    assert mv.resize_nearest(x, scales=[1, 2], coordinate_transformation_mode="asymmetric",
                             nearest_mode="floor") == [[1, 1, 2, 2, 3, 3]]
    # half_pixel, scale 2: coordinates -0.25, 0.25, 0.75, ... round_prefer_floor / ceil
    assert mv.resize_nearest(x, scales=[1, 2]) == [[1, 1, 2, 2, 3, 3]]
    assert mv.resize_nearest([[1, 2]], sizes=[1, 3], coordinate_transformation_mode="align_corners") == [[1, 1, 2]]
    assert mv.resize_nearest([[1, 2]], sizes=[1, 3], coordinate_transformation_mode="align_corners",
                             nearest_mode="round_prefer_ceil") == [[1, 2, 2]]
    with pytest.raises(UnknownNameError):
        mv.resize_nearest(x, scales=[1, 2], nearest_mode="nearest")


def test_every_ideal_op_resolves_through_the_backend_table():
    for op in list(qops.VARIANTS) + list(mv.VARIANTS):
        assert backends.variant("exact", op) is backends.op_variants(op)["exact"]


# ##########################################################################
# Properties (hypothesis)
# ##########################################################################

hyp = pytest.importorskip("hypothesis")
st = hyp.strategies


@hyp.settings(max_examples=60, deadline=None)
@hyp.given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_movement_equals_numpy_on_random_shapes(shape, data):
    x = np.arange(int(np.prod(shape))).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    assert (np.array(mv.transpose(x, list(perm))) == np.transpose(x, perm)).reshape(-1).all()
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx = data.draw(st.lists(st.integers(-shape[axis], shape[axis] - 1), min_size=1, max_size=3))
    assert (np.array(mv.gather(x, idx, axis)) == np.take(x, idx, axis=axis)).all()
    pads = data.draw(st.lists(st.integers(0, 3), min_size=2 * len(shape), max_size=2 * len(shape)))
    mode = data.draw(st.sampled_from(["constant", "edge", "wrap"]))
    want = np.pad(x, list(zip(pads[:len(shape)], pads[len(shape):])), mode=mode)
    assert (np.array(mv.pad(x, pads, mode=mode)) == want).all()


@hyp.settings(max_examples=80, deadline=None)
@hyp.given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255),
           st.sampled_from([0.5, 0.25, 0.75, 1.5, 0.1, 0.3]), st.sampled_from([0.5, 0.25, 0.1, 0.2]))
def test_add_is_symmetric_and_requantize_round_trips(a, b, za, zb, zy, s1, s2):
    s1, s2 = (float(np.float32(v)) for v in (s1, s2))
    assert qops.add([a], s1, za, [b], s2, zb, s2, zy) == qops.add([b], s2, zb, [a], s1, za, s2, zy)
    assert qops.requantize([a], s1, za, s1, za) == [a]                   # same parameters: identity
    y = qops.requantize([a], s1, za, s2, zy)[0]
    real = Fraction(s1) * (a - za) / Fraction(s2) + zy
    assert y in (0, 255) or abs(y - real) <= Fraction(1, 2)              # one rounding, or saturated
