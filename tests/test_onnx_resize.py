"""Resize nearest in the two ONNX peers' arithmetic (refquant/onnx_resize.py) against the peers
themselves (onnxruntime 1.32.0, onnx 1.21.0), and the spec-only facts of the variants."""

from fractions import Fraction

import pytest

from refquant import backends
from refquant import movement as mv
from refquant import onnx_resize as R
from refquant.errors import InvalidValueError, UnknownNameError


def _row(n):
    return [list(range(n))]


# ##########################################################################
# Spec-only (no peer)
# ##########################################################################

def test_variants_are_named_by_the_onnx_rows():
    assert backends.variant("onnxruntime", "resize_nearest") is R.ort_resize_nearest
    assert backends.variant("onnx_ref", "resize_nearest") is R.ref_resize_nearest
    assert backends.variant("exact", "resize_nearest") is mv.resize_nearest


def test_ort_binary32_coordinate_moves_an_exact_integer():
    # 7 -> 19, half_pixel: output 9 is exactly 3 (ceil 3); binary32 gives 3.0000002 (ceil 4)
    assert R.ort_coordinate(9, R.rq.fdiv("fp32", 19, 7), 7, 19, "half_pixel") > 3
    assert mv.resize_nearest(_row(7), sizes=[1, 19], coordinate_transformation_mode="half_pixel",
                             nearest_mode="ceil")[0][9] == 3
    assert R.ort_resize_nearest(_row(7), sizes=[1, 19], coordinate_transformation_mode="half_pixel",
                                nearest_mode="ceil")[0][9] == 4


def test_ort_ties_within_1e6_and_exact_floor_ceil():
    c = Fraction(1, 2) - Fraction(1, 2**24)          # 0.49999994f
    assert R.ort_nearest(c, "round_prefer_ceil") == 1 and R.ort_nearest(c, "round_prefer_floor") == 0
    assert mv.nearest_index(c, "round_prefer_ceil") == 0
    above = Fraction(5, 2) + Fraction(1, 2**21)       # 2.5000005: within 1e-6 above a half
    assert R.ort_nearest(above, "round_prefer_floor") == 2 and R.ort_nearest(above, "round_prefer_ceil") == 3
    far = Fraction(5, 2) - Fraction(1, 2**18)         # 3.8e-6 below: an ordinary round
    assert R.ort_nearest(far, "round_prefer_ceil") == 2
    assert R.ort_nearest(far, "floor") == 2 and R.ort_nearest(far, "ceil") == 3


def test_ort_output_length_and_same_shape_copy():
    # scale 5/3 in binary32 is 1.6666666; 3 * 1.6666666 = 4.9999998 rounds to 5.0 in binary32
    assert len(R.ort_resize_nearest(_row(3), scales=[1, 5 / 3], coordinate_transformation_mode="asymmetric",
                                    nearest_mode="floor")[0]) == 5
    assert len(mv.resize_nearest(_row(3), scales=[1, float(R.rq.fl32(Fraction(5, 3)))],
                                 coordinate_transformation_mode="asymmetric", nearest_mode="floor")[0]) == 4
    kw = dict(scales=[1, 1.19], coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    assert R.ort_resize_nearest(_row(5), **kw) == _row(5)
    assert mv.resize_nearest(_row(5), **kw) == [[0, 0, 1, 2, 3]]


def test_ref_fractional_width_and_padded_neighbours():
    kw = dict(scales=[1, 0.6], coordinate_transformation_mode="align_corners", nearest_mode="floor")
    assert R.ref_resize_nearest(_row(7), **kw) == [[0, 1, 3, 5]]
    assert mv.resize_nearest(_row(7), **kw) == [[0, 2, 4, 6]]
    # 7 -> 17, pytorch_half_pixel: output 8 is exactly 3, 3.0000000000000004 in binary64, and
    # fl64(c + 1) = 4.0, so the lower neighbour is index 2
    kw = dict(sizes=[1, 17], coordinate_transformation_mode="pytorch_half_pixel", nearest_mode="round_prefer_floor")
    assert R.ref_resize_nearest(_row(7), **kw)[0][8] == 2 and mv.resize_nearest(_row(7), **kw)[0][8] == 3


def test_errors_are_typed():
    with pytest.raises(InvalidValueError):
        R.ort_resize_nearest(_row(3), scales=[1, 2], sizes=[1, 6])
    with pytest.raises(InvalidValueError):
        R.ref_resize_nearest(_row(3), scales=[1, -2])
    with pytest.raises(InvalidValueError):      # tf_crop_and_resize without roi
        R.ort_resize_nearest(_row(3), scales=[1, 2], coordinate_transformation_mode="tf_crop_and_resize")
    with pytest.raises(UnknownNameError):
        R.ort_resize_nearest(_row(3), scales=[1, 2], coordinate_transformation_mode="tf_half_pixel_for_nn")
    with pytest.raises(UnknownNameError):
        R.ref_resize_nearest(_row(3), sizes=[1, 2], keep_aspect_ratio_policy="fit")
    with pytest.raises(UnknownNameError):
        R.ref_resize_nearest(_row(3), scales=[1, 2.5], nearest_mode="nearest")


def test_crop_policy_and_axes_in_the_spec():
    # tf_crop_and_resize, roi [0.25, 0.75] of 5 -> 4 outputs: start (in - 1) = 1, step 2/3: 1, 5/3, 7/3, 3
    kw = dict(sizes=[1, 4], coordinate_transformation_mode="tf_crop_and_resize", roi=[0, 0.25, 1, 0.75],
              nearest_mode="round_prefer_floor")
    assert mv.resize_nearest(_row(5), **kw) == [[1, 2, 2, 3]]
    # out of [0, in - 1]: the extrapolation value; scales count the roi in the output length (spec)
    kw = dict(scales=[1, 2], coordinate_transformation_mode="tf_crop_and_resize", roi=[0, -0.5, 1, 1],
              extrapolation_value=99, nearest_mode="floor")
    # floor(3 * 1.5 * 2) = 9 outputs at -1 + 3i/8: -1, -0.625, -0.25 extrapolate
    assert mv.resize_nearest(_row(3), **kw) == [[99, 99, 99, 0, 0, 0, 1, 1, 2]]
    # keep_aspect_ratio_policy: one scale, round_half_up(s * in); axes: only the listed axes resize
    assert mv.resize_setup((4, 6), sizes=[6, 6], keep_aspect_ratio_policy="not_larger")[0] == (4, 6)
    assert mv.resize_setup((4, 6), sizes=[6, 6], keep_aspect_ratio_policy="not_smaller")[0] == (6, 9)
    assert mv.resize_setup((1, 4, 6), sizes=[2], axes=[-1])[0] == (1, 4, 2)
    assert mv.resize_nearest([[1, 2], [3, 4]], scales=[2], axes=[0], coordinate_transformation_mode="asymmetric",
                             nearest_mode="floor") == [[1, 2], [1, 2], [3, 4], [3, 4]]
    with pytest.raises(InvalidValueError):
        mv.resize_setup((4, 6), sizes=[6, 6], axes=[1, -1])               # a repeated axis
    with pytest.raises(UnknownNameError):
        mv.resize_setup((4, 6), sizes=[6, 6], keep_aspect_ratio_policy="fit")


def test_peers_ignore_the_roi_in_the_output_length_and_ort_in_a_scale_1_axis():
    kw = dict(scales=[1, 2], coordinate_transformation_mode="tf_crop_and_resize", roi=[0, 0.5, 1, 1],
              extrapolation_value=99, nearest_mode="floor")
    assert len(mv.resize_nearest(_row(4), **kw)[0]) == 4                        # floor(4 * 0.5 * 2)
    assert len(R.ort_resize_nearest(_row(4), **kw)[0]) == len(R.ref_resize_nearest(_row(4), **kw)[0]) == 8
    # an axis of scale 1 is copied by onnxruntime, roi or not (sizes 3 -> 3 here; the other axis resizes)
    kw = dict(sizes=[3, 2], coordinate_transformation_mode="tf_crop_and_resize", roi=[0.5, 0, 1, 1],
              extrapolation_value=99, nearest_mode="floor")
    x = [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert R.ort_resize_nearest(x, **kw) == [[0, 2], [3, 5], [6, 8]]
    assert mv.resize_nearest(x, **kw) == [[3, 5], [3, 5], [6, 8]]               # rows at 1 + i/2


def test_ort_policy_with_negative_axes_resizes_nothing_and_the_reference_rejects_them():
    kw = dict(sizes=[6, 9], axes=[-1, -2], keep_aspect_ratio_policy="not_larger", nearest_mode="floor",
              coordinate_transformation_mode="asymmetric")
    x = [[[0, 1, 2], [3, 4, 5]]]
    assert R.ort_resize_nearest(x, **kw) == x
    assert len(mv.resize_nearest(x, **kw)[0]) == 4                            # s = min(6/3, 9/2) = 2
    with pytest.raises(InvalidValueError):
        R.ref_resize_nearest(x, **kw)


# ##########################################################################
# Against the peers
# ##########################################################################

def test_reproducers_and_a_seeded_sample_equal_the_variants():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers import onnx_resize as PR
    for peer, reproducers, in (("ort", PR.ORT_REPRODUCERS), ("ref", PR.REF_REPRODUCERS)):
        from refquant.peers.onnx_qops import run_ort, run_ref
        runner, variant = (run_ort, R.ort_resize_nearest) if peer == "ort" else (run_ref, R.ref_resize_nearest)
        for what, n, given, ct, nm in reproducers:
            x, sizes, scales = PR._reproducer(n, given)
            got, exact, model = PR._outputs(x, sizes, scales, ct, nm, runner, variant)
            assert got.shape == model.shape and (got == model).all(), what
            assert exact is None or (got != exact).any(), what       # the reproducer shows the deviation
    for peer in ("ort", "ref"):
        res = PR.sweep(peer, 7, 800)
        assert res["differ_from_variant"] == 0, res


@pytest.mark.slow
def test_slow_sweep_resize_nearest_both_peers():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers import onnx_resize as PR
    for peer, seed in (("ort", 1), ("ref", 2)):
        res = PR.sweep(peer, seed, 10**5)
        assert res["elements"] >= 10**5 and res["differ_from_variant"] == 0, (peer, res)
        assert res["differ_from_exact"] > 0


def test_crop_policy_axes_equal_the_variants_on_a_seeded_sample():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers import onnx_resize as PR
    for peer, n in (("ort", 4), ("ref", 2)):
        res = PR.extra_sweep(peer, 11, n)
        assert all(cell[3] == 0 and cell[0] == n for cell in res.values()), (peer, res)


@pytest.mark.slow
def test_slow_sweep_crop_policy_axes_both_peers():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from refquant.peers import onnx_resize as PR
    # the reference evaluates each output element in Python: fewer policy cases (not_smaller grows large)
    for peer, seed, n in (("ort", 3, 400), ("ref", 4, {"crop": 250, "policy": 40, "axes": 250})):
        res = PR.extra_sweep(peer, seed, n)
        assert sum(c[1] for c in res.values()) >= 10**5 and all(c[3] == 0 for c in res.values()), (peer, res)
