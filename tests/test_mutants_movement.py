"""refquant.movement, edge by edge (mutation testing, docs/testing.md): each test fails on mutants of
movement.py that tests/test_qops.py, test_onnx_ops.py and test_onnx_resize.py did not notice: every
range check at both ends, the ONNX clamping of Slice starts / ends for both step signs, Pad's
reflection beyond one period (against numpy.pad, which the onnx reference Pad calls), Resize's
coordinate formulas against ONNX Operators.md Resize (opset 19) by hand, defaults, and every message
with the operand it names."""

from fractions import Fraction as F

import numpy as np
import pytest

from refquant import backends
from refquant import movement as mv
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError

X23 = [[1, 2, 3], [4, 5, 6]]
RAGGED = [[1, 2], [3]]


def _shape(y):
    return np.shape(np.array(y))


# ----- names in messages ----------------------------------------------------------------------

@pytest.mark.parametrize("op", [
    lambda x: mv.reshape(x, [3]), lambda x: mv.flatten(x), lambda x: mv.squeeze(x),
    lambda x: mv.unsqueeze(x, [0]), lambda x: mv.transpose(x), lambda x: mv.slice(x, [0], [1]),
    lambda x: mv.gather(x, [0]), lambda x: mv.pad(x, [0, 0, 0, 0]), lambda x: mv.identity(x),
    lambda x: mv.resize_nearest(x, scales=[1, 1])])
def test_every_op_names_its_ragged_input_x(op):
    with pytest.raises(ShapeError, match=r"^x is ragged: its elements have shapes \[\(1,\), \(2,\)\]$"):
        op(RAGGED)


def test_other_operands_are_named_too():
    with pytest.raises(ShapeError, match=r"^tensor is ragged"):
        mv.tensor(RAGGED)
    with pytest.raises(ShapeError, match=r"^w is ragged"):
        mv.tensor(RAGGED, "w")
    with pytest.raises(ShapeError, match=r"^indices is ragged"):
        mv.gather(X23, RAGGED)
    with pytest.raises(ShapeError, match=r"^inputs\[1\] is ragged"):
        mv.concat_same([X23, RAGGED], 0)


def test_identity():
    assert mv.identity(X23) == X23
    assert mv.identity(7) == 7
    assert mv.identity([]) == []


# ----- norm_axis ------------------------------------------------------------------------------

def test_norm_axis_range_type_and_message():
    assert [mv.norm_axis(a, 3) for a in (-3, -1, 0, 2)] == [0, 2, 0, 2]
    assert mv.norm_axis(0, 0) == 0                      # a scalar's one axis (Gather / Concat on rank 0)
    for axis, rank in ((3, 3), (-4, 3), (1, 1), (1, 0), (1.5, 3), (True, 3), (False, 3)):
        with pytest.raises(InvalidValueError, match=rf"^axis = {axis!r} must be an int in \[{-rank}, {rank - 1}\]$"):
            mv.norm_axis(axis, rank)
    with pytest.raises(InvalidValueError, match=r"^perm = 2 must be"):
        mv.norm_axis(2, 2, "perm")


# ----- reshape / flatten / squeeze / unsqueeze ------------------------------------------------

def test_reshape_minus_one_and_zero():
    x6 = [1, 2, 3, 4, 5, 6]
    assert mv.reshape(X23, [0, -1]) == X23                           # 0 copies the input dimension
    assert mv.reshape(x6, [1, -1]) == [x6]                           # -1 with the others' product 1
    assert mv.reshape([], [0, 0]) == []
    assert mv.reshape([[]], [0, 0], allowzero=1) == []
    for bad in ([-1, -1], [-2, -3], [-1, -2]):
        with pytest.raises(InvalidValueError, match=rf"^reshape shape \[{bad[0]}, {bad[1]}\] may hold at most one -1 "
                                                    r"and no other negative value$"):
            mv.reshape(x6, bad)
    with pytest.raises(ShapeError, match=r"^cannot infer -1 in \[4, -1\] for 6 elements$"):
        mv.reshape(x6, [4, -1])
    with pytest.raises(ShapeError, match=r"^cannot infer -1 in \[0, -1\] for 6 elements$"):
        mv.reshape(x6, [0, -1], allowzero=1)                          # 0 is 0 here: the rest is 0
    with pytest.raises(ShapeError, match=r"^reshape of 6 elements \(shape \[2, 3\]\) to \[4, 2\]$"):
        mv.reshape(X23, [4, 2])
    with pytest.raises(ShapeError, match=r"^reshape of 6 elements \(shape \[6\]\) to \[6, 0\]$"):
        mv.reshape(x6, [6, 0])                                       # a 0 beyond the input's rank stays 0


def test_flatten_axes():
    x = np.arange(24).reshape(2, 3, 4).tolist()
    assert _shape(mv.flatten(x)) == (2, 12)                          # default axis 1
    assert _shape(mv.flatten(x, 0)) == (1, 24)
    assert _shape(mv.flatten(x, -3)) == (1, 24)
    assert _shape(mv.flatten(x, 3)) == (24, 1)
    assert _shape(mv.flatten(x, -1)) == (6, 4)
    assert mv.flatten(x, 3) == [[v] for v in range(24)]
    for bad in (4, -4, 1.5, True):
        with pytest.raises(InvalidValueError, match=rf"^flatten axis = {bad!r} must be an int in \[-3, 3\]$"):
            mv.flatten(x, bad)


def test_squeeze():
    x = [[[[1], [2]]]]                                               # shape (1, 1, 2, 1)
    assert _shape(mv.squeeze(x)) == (2,)
    assert _shape(mv.squeeze(np.zeros((1, 2, 1, 3)).tolist())) == (2, 3)
    assert _shape(mv.squeeze(x, [0])) == (1, 2, 1)
    assert _shape(mv.squeeze(x, [-1, 0])) == (1, 2)
    assert mv.squeeze(x, [3, 1, 0]) == [1, 2]
    with pytest.raises(ShapeError, match=r"^squeeze axes \[2\] of shape \[1, 1, 2, 1\] are not of size 1$"):
        mv.squeeze(x, [2, 0])
    with pytest.raises(InvalidValueError, match=r"^squeeze axis = 4 must be an int in \[-4, 3\]$"):
        mv.squeeze(x, [4])


def test_unsqueeze():
    assert _shape(mv.unsqueeze(X23, [0, 3])) == (1, 2, 3, 1)
    assert _shape(mv.unsqueeze(X23, [-1])) == (2, 3, 1)
    with pytest.raises(InvalidValueError, match=r"^unsqueeze axes \[1, -3\] repeat an axis$"):
        mv.unsqueeze(X23, [1, -3])
    with pytest.raises(InvalidValueError, match=r"^unsqueeze axis = 3 must be an int in \[-3, 2\]$"):
        mv.unsqueeze(X23, [3])


# ----- transpose / slice / gather / concat ----------------------------------------------------

def test_transpose_messages():
    assert mv.transpose(X23) == [[1, 4], [2, 5], [3, 6]]
    with pytest.raises(InvalidValueError, match=r"^perm = 2 must be an int in \[-2, 1\]$"):
        mv.transpose(X23, [0, 2])
    with pytest.raises(InvalidValueError, match=r"^perm \[1, 1\] is not a permutation of the 2 axes$"):
        mv.transpose(X23, [1, -1])


def _slice_cases():
    vals = (-10, -5, -4, -3, -1, 0, 1, 3, 4, 5, 10)
    return [(s, e, k) for k in (1, 2, 3, -1, -2, -3) for s in vals for e in vals]


def test_slice_clamps_as_onnx_says_for_both_step_signs():
    # Operators.md Slice (opset 13): a negative start / end counts from the back, then starts are clamped
    # to [0, dim] (positive step) or [0, dim - 1] (negative step), ends to [0, dim] or [-1, dim - 1].
    # numpy's basic slicing is the same rule except for a negative step with start < -dim, which numpy
    # clamps to "before the first element" (empty) and ONNX to element 0.
    x = [10, 11, 12, 13]
    for s, e, k in _slice_cases():
        want = np.asarray(x)[s:e:k].tolist()
        if k < 0 and s < -4 and e < -4:
            want = [10]
        assert mv.slice(x, [s], [e], [0], [k]) == want, (s, e, k)
    assert mv.slice(x, [3], [3], None, [-1]) == []
    assert mv.slice(x, [10], [-10], None, [-1]) == [13, 12, 11, 10]


def test_slice_equals_onnxruntime_where_the_onnx_reference_does_not():
    # Measured: onnxruntime 1.32.0 = refquant on all 726 cases; the onnx 1.21.0 reference Slice (numpy
    # slicing) returns [] on the 12 with a negative step and start, end < -dim, where the spec takes x[0].
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from refquant.peers.onnx_qops import build, ort_session, run_ref
    x = np.array([10, 11, 12, 13], np.int8)
    one = lambda v: np.array([v], np.int64)
    feeds = [("x", x)] + [(n, one(0)) for n in "beap"]
    node = onnx.helper.make_node("Slice", ["x", "b", "e", "a", "p"], ["y"])
    sess = ort_session(build([node], feeds, [], np.int8))
    ref_differs = []
    for s, e, k in _slice_cases():
        want = mv.slice(x.tolist(), [s], [e], [0], [k])
        got = sess.run(None, {"x": x, "b": one(s), "e": one(e), "a": one(0), "p": one(k)})[0].tolist()
        assert got == want, (s, e, k)
        if k < 0 and s < -4 and e < -4:
            inits = [("b", one(s)), ("e", one(e)), ("a", one(0)), ("p", one(k))]
            ref = run_ref([node], [("x", x)], inits, np.int8).tolist()
            ref_differs.append(ref != want)
            assert ref == mv.slice_onnx_ref(x.tolist(), [s], [e], [0], [k]) == [], (s, e, k)
    assert ref_differs == [True] * 12
    assert backends.variant("onnx_ref", "slice") is mv.slice_onnx_ref


def test_slice_onnx_ref_is_numpy_slicing():
    x = list(range(10, 15))
    for s_ in range(-8, 8):
        for e in range(-8, 8):
            for k in (-3, -1, 1, 2):
                assert mv.slice_onnx_ref(x, [s_], [e], [0], [k]) == x[s_:e:k], (s_, e, k)
    with pytest.raises(InvalidValueError, match=r"^slice step must not be 0$"):
        mv.slice_onnx_ref(x, [0], [1], [0], [0])


def test_slice_onnx_ref_reads_its_axes_as_the_onnx_reference():
    pytest.importorskip("onnx")
    from refquant.peers.onnx_qops import _node, run_ref
    node = _node("Slice", ["x", "b", "e", "a"], ["y"])
    inits = [(n, np.array([v], np.int64)) for n, v in (("b", 1), ("e", 3), ("a", -1))]
    got = run_ref([node], [("x", np.array(X23, np.int8))], inits, np.int8).tolist()
    assert got == mv.slice_onnx_ref(X23, [1], [3], [-1]) == [[2, 3], [5, 6]]


def test_slice_defaults_and_checks():
    assert mv.slice(X23, [1, 0], [2, 2]) == [[4, 5]]                   # axes 0.., steps 1
    assert mv.slice(X23, [1], [3], [-1]) == [[2, 3], [5, 6]]
    with pytest.raises(InvalidValueError, match=r"^slice step must not be 0$"):
        mv.slice(X23, [0], [1], [0], [0])
    with pytest.raises(InvalidValueError, match=r"^slice starts/ends/axes/steps must have one entry per distinct "
                                                r"axis, got \[0\], \[1, 2\], \[0\], \[1\]$"):
        mv.slice(X23, [0], [1, 2], [0])
    with pytest.raises(InvalidValueError, match=r"^slice starts/ends/axes/steps must have one entry per distinct "
                                                r"axis, got \[0, 0\], \[1, 1\], \[1, 1\], \[1, 1\]$"):
        mv.slice(X23, [0, 0], [1, 1], [1, -1])
    with pytest.raises(InvalidValueError, match=r"^slice axis = 2 must be an int in \[-2, 1\]$"):
        mv.slice(X23, [0], [1], [2])


def test_gather_indices_and_default_axis():
    assert mv.gather(X23, [1, -2]) == [[4, 5, 6], [1, 2, 3]]          # axis 0 by default
    assert mv.gather(X23, [2, -3], 1) == [[3, 1], [6, 4]]
    for bad in (3, -4, 1.5, True):
        with pytest.raises(InvalidValueError, match=rf"^gather index {bad!r} out of range for axis 1 of size 3$"):
            mv.gather(X23, [0, bad], 1)
    with pytest.raises(InvalidValueError, match=r"^gather axis = 2 must be an int in \[-2, 1\]$"):
        mv.gather(X23, [0], 2)


def test_concat_checks_every_other_axis_and_the_rank():
    assert mv.concat_same([X23, [[7, 8, 9]]], 0) == X23 + [[7, 8, 9]]
    with pytest.raises(InvalidValueError, match=r"^concat needs at least one input$"):
        mv.concat_same([], 0)
    with pytest.raises(ShapeError, match=r"^concat inputs\[1\] has shape \[2, 4\]; expected \[2, 3\] but on axis 0$"):
        mv.concat_same([X23, np.zeros((2, 4), int).tolist()], 0)
    with pytest.raises(ShapeError, match=r"^concat inputs\[1\] has shape \[2\]; expected \[2, 3\] but on axis 1$"):
        mv.concat_same([X23, [7, 8]], 1)                          # a lower rank whose other axes would match
    with pytest.raises(InvalidValueError, match=r"^concat axis = 2 must be an int in \[-2, 1\]$"):
        mv.concat_same([X23], 2)


# ----- pad ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
def test_pad_equals_numpy_pad_beyond_one_period(mode):
    # the onnx reference Pad is numpy.pad; reflect repeats its mirror (period 2(d - 1)) for long pads
    for d in (1, 2, 3, 4):
        x = list(range(10, 10 + d))
        for b in range(0, 9):
            for e in (0, 1, 7):
                want = np.pad(np.array(x), (b, e), mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[mode])
                assert mv.pad(x, [b, e], mode) == want.tolist(), (d, b, e)


def test_pad_axes_and_shapes():
    assert mv.pad(X23, [1, 2], constant_value=7, axes=[1]) == [[7, 1, 2, 3, 7, 7], [7, 4, 5, 6, 7, 7]]
    assert mv.pad(X23, [1, 0], constant_value=7, axes=[-2]) == [[7, 7, 7]] + X23
    assert mv.pad([], [1, 1], constant_value=7) == [7, 7]            # constant mode pads an empty axis
    assert mv.pad([1, 2], [-2, 0]) == []                             # cropped to length 0
    with pytest.raises(ShapeError, match=r"^pad \[-3, 0\] \(constant\) of shape \[2\] gives shape \[-1\]$"):
        mv.pad([1, 2], [-3, 0])
    with pytest.raises(ShapeError, match=r"^pad \[1, 1\] \(edge\) of shape \[0\] gives shape \[2\]$"):
        mv.pad([], [1, 1], "edge")
    with pytest.raises(InvalidValueError, match=r"^pads has 3 values; expected 4 \(begin and end per axis\)$"):
        mv.pad(X23, [1, 1, 1])
    with pytest.raises(InvalidValueError, match=r"^pad axis = 2 must be an int in \[-2, 1\]$"):
        mv.pad(X23, [1, 1], axes=[2])
    with pytest.raises(UnknownNameError, match=r"^unknown pad mode 'mirror'; expected one of: constant, edge, "
                                               r"reflect, wrap$"):
        mv.pad(X23, [0, 0, 0, 0], "mirror")


# ----- resize ---------------------------------------------------------------------------------

def test_original_coordinate_formulas():
    # ONNX Operators.md Resize (opset 19), coordinate_transformation_mode, by hand:
    oc = mv.original_coordinate
    assert oc(1, 2, 3, 6, "half_pixel") == F(1, 4)                  # (1 + 1/2)/2 - 1/2
    assert oc(1, 2, 3, 6, "pytorch_half_pixel") == F(1, 4)
    assert oc(1, F(2, 3), 3, 2, "pytorch_half_pixel") == F(7, 4)    # output length 2 > 1: the formula
    assert oc(0, F(1, 4), 4, 1, "pytorch_half_pixel") == 0          # output length 1: 0 (formula: 3/2)
    assert oc(0, F(1, 4), 4, 1, "align_corners") == 0
    assert oc(2, 2, 4, 7, "align_corners") == 1                      # 2 * 3 / 6
    assert oc(3, 2, 4, 8, "asymmetric") == F(3, 2)
    # half_pixel_symmetric: output_width = scale * length_in = 15/2, adjustment = 7 / (15/2) = 14/15,
    # offset = 5/2 * (1 - 14/15) = 1/6; x = 2: 1/6 + (5/2) / (3/2) - 1/2 = 4/3
    assert oc(2, F(3, 2), 5, 7, "half_pixel_symmetric") == F(4, 3)
    assert oc(0, F(3, 2), 5, 7, "half_pixel_symmetric") == 0
    # tf_crop_and_resize (issue 13): start (in - 1) + x (end - start)(in - 1) / (out - 1); out = 1: the roi's centre
    assert oc(2, 1, 5, 4, "tf_crop_and_resize", F(1, 4), F(3, 4)) == 1 + F(2 * 2, 3)
    assert oc(0, 1, 5, 1, "tf_crop_and_resize", F(1, 4), F(3, 4)) == 2
    assert oc(2, 1, 5, 5, "tf_crop_and_resize") == 2 and oc(0, 1, 5, 1, "tf_crop_and_resize") == 2  # roi (0, 1)
    with pytest.raises(UnknownNameError, match=r"^unknown coordinate_transformation_mode 'tf_half_pixel_for_nn'; "
                                               r"expected one of: align_corners, asymmetric, half_pixel, "
                                               r"half_pixel_symmetric, pytorch_half_pixel, tf_crop_and_resize$"):
        oc(0, 1, 1, 1, "tf_half_pixel_for_nn")


def test_half_pixel_symmetric_equals_the_onnx_reference():
    pytest.importorskip("onnx")
    from refquant.peers.onnx_qops import run_ref
    import onnx
    x = np.arange(5, dtype=np.uint8).reshape(1, 5)
    node = onnx.helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest",
                                 coordinate_transformation_mode="half_pixel_symmetric", nearest_mode="floor")
    got = run_ref([node], [("x", x)], [("s", np.array([1, 1.5], np.float32))], np.uint8)
    want = mv.resize_nearest(x, scales=[1, F(3, 2)], coordinate_transformation_mode="half_pixel_symmetric",
                             nearest_mode="floor")
    assert got.tolist() == want == [[0, 0, 1, 2, 2, 3, 4]]   # x = 4: 1/6 + 3 - 1/2 = 8/3


def test_nearest_index_ties_and_messages():
    assert mv.nearest_index(F(3, 2), "round_prefer_floor") == 1      # half down, not half even
    assert mv.nearest_index(F(5, 2), "round_prefer_floor") == 2
    assert mv.nearest_index(F(5, 2), "round_prefer_ceil") == 3
    assert mv.nearest_index(F(-3, 2), "floor") == -2 and mv.nearest_index(F(-3, 2), "ceil") == -1
    with pytest.raises(UnknownNameError, match=r"^unknown nearest_mode 'nearest'; expected one of: ceil, floor, "
                                               r"round_prefer_ceil, round_prefer_floor$"):
        mv.nearest_index(0, "nearest")


def test_resize_plan_checks():
    assert mv.resize_plan((2, 3), sizes=[1, 1]) == ((1, 1), [F(1, 2), F(1, 3)])
    assert mv.resize_plan((2, 3), scales=[1, F(1, 3)]) == ((2, 1), [1, F(1, 3)])
    with pytest.raises(InvalidValueError, match=r"^resize needs exactly one of scales and sizes$"):
        mv.resize_plan((2, 3))
    with pytest.raises(ShapeError, match=r"^resize scales has 1 values for rank 2$"):
        mv.resize_plan((2, 3), scales=[1])
    with pytest.raises(ShapeError, match=r"^resize sizes has 1 values for rank 2$"):
        mv.resize_plan((2, 3), sizes=[1])
    for sizes, shape in (([2, 0], (2, 3)), ([2, -1], (2, 3)), ([2, 1.5], (2, 3)), ([1, 3], (0, 3))):
        with pytest.raises(InvalidValueError, match=rf"^resize sizes \[{sizes[0]}, {sizes[1]}\] must be positive ints "
                                                    rf"\(input shape \[{shape[0]}, {shape[1]}\]\)$"):
            mv.resize_plan(shape, sizes=sizes)
    with pytest.raises(InvalidValueError, match=r"^resize scales \[1, 0\] must be positive$"):
        mv.resize_plan((2, 3), scales=[1, 0])


# ----- Resize-19: axes, roi (tf_crop_and_resize), keep_aspect_ratio_policy ----------------------
# (against the survivors of the 2026-12-03 run over the functions 9491b2e added or changed)

def _resize_peers(x, ct, nm, **kw):
    """[onnxruntime, onnx reference] outputs of one Resize-19 node on uint8 x (lists)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers.onnx_qops import run_ort, run_ref
    from refquant.peers.onnx_resize import run_resize
    return [run_resize(r, np.asarray(x, np.uint8), ct, nm, **kw).tolist() for r in (run_ort, run_ref)]


def test_resize_axes_and_spread_axes():
    assert mv.resize_axes(3, None) == [0, 1, 2]
    assert mv.resize_axes(3, [-1, 0]) == [2, 0]
    with pytest.raises(InvalidValueError, match=r"^resize axis = 2 must be an int in \[-2, 1\]$"):
        mv.resize_axes(2, [2])
    with pytest.raises(InvalidValueError, match=r"^resize axes \[1, -1\] repeat an axis$"):
        mv.resize_axes(2, [1, -1])
    assert mv.spread_axes((7, 8), [2, 0], [0, 1, 2], "sizes") == [8, 1, 7]
    with pytest.raises(ShapeError, match=r"^resize sizes has 1 values for 2 axes$"):
        mv.spread_axes([1], [0, 1], [0, 0], "sizes")


def test_resize_setup_messages():
    with pytest.raises(InvalidValueError, match=r"^resize needs exactly one of scales and sizes$"):
        mv.resize_setup((2, 3))
    with pytest.raises(InvalidValueError, match=r"^resize needs exactly one of scales and sizes$"):
        mv.resize_setup((2, 3), scales=[1, 1], sizes=[2, 3])
    with pytest.raises(UnknownNameError, match=r"^unknown keep_aspect_ratio_policy 'fit'; expected one of: "
                                               r"not_larger, not_smaller, stretch$"):
        mv.resize_setup((2, 3), sizes=[2, 3], keep_aspect_ratio_policy="fit")
    with pytest.raises(InvalidValueError, match=r"^coordinate_transformation_mode tf_crop_and_resize needs roi$"):
        mv.resize_setup((2, 3), sizes=[2, 3], crop=True)
    for roi, axes, n in (([0, 0, 1], None, 4), ([0, 0, 1, 1, 1, 1], None, 4), ([0, 0, 1, 1], [1], 2)):
        with pytest.raises(ShapeError, match=rf"^resize roi has {len(roi)} values; expected {n} "
                                             r"\(start and end per axis\)$"):
            mv.resize_setup((2, 3), sizes=[2, 3][:len(axes or [0, 1])], roi=roi, axes=axes, crop=True)
    with pytest.raises(ShapeError, match=r"^resize sizes has 1 values for 2 axes$"):
        mv.resize_setup((2, 3), sizes=[2])
    with pytest.raises(ShapeError, match=r"^resize scales has 1 values for 2 axes$"):
        mv.resize_setup((2, 3), scales=[2])
    for sizes, shape in (([2, 0], (2, 3)), ([2, -1], (2, 3)), ([2, 1.5], (2, 3)), ([2, True], (2, 3)),
                         ([1, 3], (0, 3))):
        with pytest.raises(InvalidValueError, match=rf"^resize sizes \[{sizes[0]}, {sizes[1]}\] must be positive ints "
                                                    rf"\(input shape \[{shape[0]}, {shape[1]}\]\)$"):
            mv.resize_setup(shape, sizes=sizes)
    with pytest.raises(InvalidValueError, match=r"^resize scales \[1, 0\] must be positive$"):
        mv.resize_setup((2, 3), scales=[1, 0])


def test_resize_unlisted_axes_keep_roi_0_1_and_scale_1_as_both_peers():
    # axes=[1]: axis 0 is not resized; its roi is (0, 1) and its scale 1 (ONNX Operators.md Resize-19)
    x = np.arange(12).reshape(3, 4).tolist()
    kw = dict(sizes=[6], roi=[0.25, 0.75], axes=[1], extrapolation_value=99.0)
    want = [[0, 1, 1, 1, 1, 2], [4, 5, 5, 5, 5, 6], [8, 9, 9, 9, 9, 10]]
    assert _resize_peers(x, "tf_crop_and_resize", "floor", **kw) == [want, want]
    assert mv.resize_nearest(x, coordinate_transformation_mode="tf_crop_and_resize", nearest_mode="floor",
                             **kw) == want
    assert mv.resize_setup((3, 4), sizes=[6], roi=kw["roi"], axes=[1], crop=True)[2] == [
        (0, 1), (F(1, 4), F(3, 4))]
    kw = dict(sizes=[6], axes=[1], keep_aspect_ratio_policy="not_larger")
    want = [[0, 0, 1, 2, 2, 3], [4, 4, 5, 6, 6, 7], [8, 8, 9, 10, 10, 11]]
    assert _resize_peers(x, "half_pixel", "round_prefer_floor", **kw) == [want, want]
    assert mv.resize_nearest(x, **kw) == want
    assert mv.resize_setup((3, 4), **kw) == ((3, 6), [1, F(3, 2)], [(0, 1), (0, 1)])


def test_resize_policy_output_length_rounds_half_up_as_both_peers():
    # not_larger, 2x5 -> sizes [1, 100]: s = 1/2, out = round_half_up(5/2) = 3 (and round_half_up(1) = 1)
    x = np.arange(10).reshape(2, 5).tolist()
    kw = dict(sizes=[1, 100], keep_aspect_ratio_policy="not_larger")
    assert _resize_peers(x, "asymmetric", "floor", **kw) == [[[0, 2, 4]]] * 2
    assert mv.resize_nearest(x, coordinate_transformation_mode="asymmetric", nearest_mode="floor", **kw) == [[0, 2, 4]]
    assert mv.resize_setup((2, 5), **kw) == ((1, 3), [F(1, 2)] * 2, [(0, 1), (0, 1)])


def test_resize_crop_extrapolates_outside_0_to_in_minus_1_with_default_0_as_both_peers():
    # roi [-0.5, 1.5] of 3 -> 5 outputs: coordinates -1, 0, 1, 2, 3; -1 and 3 (> in - 1 = 2) give the
    # extrapolation_value, 0 when the attribute is absent (ONNX Operators.md Resize-19 default)
    x = [[5, 6, 7]]
    kw = dict(sizes=[1, 5], roi=[0, -0.5, 1, 1.5])
    assert _resize_peers(x, "tf_crop_and_resize", "floor", **kw) == [[[0, 5, 6, 7, 0]]] * 2
    assert mv.resize_nearest(x, coordinate_transformation_mode="tf_crop_and_resize", nearest_mode="floor",
                             **kw) == [[0, 5, 6, 7, 0]]
