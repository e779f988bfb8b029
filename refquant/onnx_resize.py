"""ONNX Resize, mode 'nearest', as the two ONNX peers compute the source index of each output element.

The specification ideal is ``movement.resize_nearest`` (exact rational coordinates).  The peers form
the coordinate in floating point, so a coordinate that is exactly an integer or a half can move by an
ulp and pick the neighbouring element:

* ``ort``: onnxruntime 1.32.0 CPU ``Resize`` (onnxruntime/core/providers/cpu/tensor/upsamplebase.h,
  upsample.cc): binary32 scales and output lengths, the coordinate formula in binary32
  (half_pixel_symmetric partly in binary64), nearest with a 1e-6 tie tolerance, ``floor`` / ``ceil``;
  an axis whose binary32 scale is exactly 1, and an output of the input's shape, are copied.
* ``onnx_ref``: the onnx 1.21.0 ReferenceEvaluator (onnx/reference/ops/op_resize.py): binary64
  coordinates from the *unrounded* output length ``scale * in`` (binary32 when the scales are given),
  the nearest weights by the fraction of the coordinate, the neighbours around it in the edge-padded axis.

Each function takes the arguments of ``movement.resize_nearest``; the backend rows name them as the
``resize_nearest`` variants 'ort' and 'onnx_ref' (refquant/backends.py; docs/ops.md lists the sweeps).
Stdlib only (docs/architecture.md).
"""

from fractions import Fraction

from . import movement as mv
from . import requant as rq
from .errors import InvalidValueError, UnknownNameError
from .rounding import ceil, floor, half_away

F32, F64 = "fp32", "fp64"
HALF = Fraction(1, 2)
TIE_EPS = rq.fl32(Fraction(1, 10**6))   # onnxruntime's nearest-tie tolerance, 1e-6f


def _f32(a, b, op):
    return {"+": rq.fadd, "/": rq.fdiv, "*": rq.fmul}[op](F32, a, b) if op != "-" else rq.fadd(F32, a, -b)


def _f64(a, b, op):
    return {"+": rq.fadd, "/": rq.fdiv, "*": rq.fmul}[op](F64, a, b) if op != "-" else rq.fadd(F64, a, -b)


def _given(shape, scales, sizes, axes, name):
    """(axes, full sizes or None, full binary32 scales or None): the listed axes' values spread over
    the input's rank (length and scale 1 elsewhere), checked."""
    if (scales is None) == (sizes is None):
        raise InvalidValueError("resize needs exactly one of scales and sizes")
    if 0 in shape:
        raise InvalidValueError(f"{name} resize: input shape {list(shape)} has an empty axis")
    ax = mv.resize_axes(len(shape), axes)
    given = scales if sizes is None else sizes
    if len(given) != len(ax):
        raise InvalidValueError(f"{name} resize: {len(given)} scales/sizes for {len(ax)} axes of input shape "
                                f"{list(shape)} (one per axis expected)")
    if sizes is not None:
        if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in sizes):
            raise InvalidValueError(f"resize sizes {list(sizes)} must be positive ints")
        return ax, mv.spread_axes(sizes, ax, shape, "sizes"), None
    fs = [rq.fl32(Fraction(v)) for v in scales]
    if any(v <= 0 for v in fs):
        raise InvalidValueError(f"resize scales {list(scales)} must be positive")
    return ax, None, mv.spread_axes(fs, ax, [Fraction(1)] * len(shape), "scales")


def _roi32(shape, ax, roi, crop):
    """Per axis (start, end) as binary32 values (the roi input is float32); (0, 1) off the axes or
    when the mode is not tf_crop_and_resize."""
    if not crop:
        return [(Fraction(0), Fraction(1))] * len(shape)
    if roi is None or len(roi) != 2 * len(ax):
        raise InvalidValueError(f"tf_crop_and_resize needs roi with {2 * len(ax)} values (start and end per axis)")
    r = [rq.fl32(Fraction(v)) for v in roi]
    starts = mv.spread_axes(r[:len(ax)], ax, [Fraction(0)] * len(shape), "roi starts")
    ends = mv.spread_axes(r[len(ax):], ax, [Fraction(1)] * len(shape), "roi ends")
    return list(zip(starts, ends))


# ##########################################################################
# onnxruntime 1.32.0
# ##########################################################################

def ort_coordinate(i, scale, length_in, length_out, mode, roi_start=0, roi_end=1):
    """onnxruntime's source coordinate of output index i (float arguments; binary32 unless noted)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h GetOriginalCoordinateFromResizedCoordinate
    x, lin, lout = Fraction(i), Fraction(length_in), Fraction(length_out)
    if mode == "tf_crop_and_resize":     # float throughout, but out = 1 is 0.5 * ... in double
        if lout > 1:
            span = _f32(_f32(_f32(x, _f32(roi_end, roi_start, "-"), "*"), _f32(lin, 1, "-"), "*"), _f32(lout, 1, "-"), "/")
            return _f32(_f32(roi_start, _f32(lin, 1, "-"), "*"), span, "+")
        return rq.fl32(_f64(_f64(HALF, _f32(roi_start, roi_end, "+"), "*"), _f32(lin, 1, "-"), "*"))
    if mode == "asymmetric":
        return _f32(x, scale, "/")
    if mode in ("half_pixel", "pytorch_half_pixel"):
        if mode == "pytorch_half_pixel" and not lout > 1:
            return Fraction(0)
        return _f32(_f32(_f32(x, HALF, "+"), scale, "/"), HALF, "-")
    if mode == "align_corners":
        return Fraction(0) if lout == 1 else _f32(_f32(x, _f32(lin, 1, "-"), "*"), _f32(lout, 1, "-"), "/")
    if mode == "half_pixel_symmetric":
        width = _f32(scale, lin, "*")
        offset = _f32(_f32(lin, 2, "/"), _f32(1, _f32(lout, width, "/"), "-"), "*")
        # (x_resized + 0.5) is a double: the rest is binary64, then one conversion to float
        return rq.fl32(_f64(_f64(offset, _f64(x + HALF, scale, "/"), "+"), HALF, "-"))
    raise UnknownNameError("coordinate_transformation_mode", mode, mv.COORDINATE_MODES)


def ort_nearest(c, mode):
    """onnxruntime's integer for a binary32 coordinate c.  round_prefer_floor / round_prefer_ceil: a
    fractional part within 1e-6 (binary32) of 1/2 is a tie, which goes to floor(c) / floor(c) + 1;
    any other c goes to the nearest integer (C round).  floor and ceil are exact."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h GetNearestPixelFromOriginal
    # (the 1e-6 tie is measured on 1.32.0, cf. microsoft/onnxruntime#28291; docs/ops.md)
    f = floor(c)
    if mode in ("round_prefer_floor", "round_prefer_ceil"):
        if abs(c - f - HALF) <= TIE_EPS:
            return f if mode == "round_prefer_floor" else f + 1
        return f if c - f < HALF else f + 1
    if mode == "floor":
        return f
    if mode == "ceil":
        return ceil(c)
    raise UnknownNameError("nearest_mode", mode, mv.NEAREST_MODES)


def ort_axis_map(length_in, length_out, scale, ct_mode, nearest_mode, roi_start=0, roi_end=1):
    """The input index of each output index on one axis (scale exactly 1: the identity, roi or not);
    tf_crop_and_resize: None (the extrapolation value) where the coordinate is outside [0, in - 1]."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsample.cc UpsampleNearestSetupInputMappings
    if scale == 1:
        return list(range(length_out))
    out = []
    for i in range(length_out):
        c = ort_coordinate(i, scale, length_in, length_out, ct_mode, roi_start, roi_end)
        if ct_mode == "tf_crop_and_resize" and not 0 <= c <= length_in - 1:
            out.append(None)
        else:
            out.append(min(max(ort_nearest(c, nearest_mode), 0), length_in - 1))
    return out


def ort_output_plan(shape, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch"):
    """onnxruntime's (output lengths, binary32 scales): scales -> out = trunc(fl32(s * in)), the roi
    not counted; sizes -> s = fl32(out / in); 'not_larger' / 'not_smaller': p = the min / max of
    those binary32 scales over the axes, out = round-half-away(fl32(p * in)), scale p (1 elsewhere);
    the policy reads the axes attribute as written, so a negative axis is not resized at all."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h ComputeOutputShape,
    # ParseScalesDataAndAdjustOutputSize, upsamplebase_helper::AdjustOutputSizeAsPolicy
    if keep_aspect_ratio_policy not in mv.ASPECT_POLICIES:
        raise UnknownNameError("keep_aspect_ratio_policy", keep_aspect_ratio_policy, mv.ASPECT_POLICIES)
    ax, sz, fs = _given(shape, scales, sizes, axes, "onnxruntime")
    if sz is None:
        return [floor(rq.fmul(F32, s, d)) for s, d in zip(fs, shape)], fs
    fs = [rq.fdiv(F32, o, d) for o, d in zip(sz, shape)]
    if keep_aspect_ratio_policy == "stretch":
        return sz, fs
    # the policy matches the axes attribute as written: a negative axis names no axis (measured)
    listed = [a for a in range(len(shape)) if axes is None or a in list(axes)]
    sz, fs0, fs = list(shape), fs, [Fraction(1)] * len(shape)
    if listed:
        p = (min if keep_aspect_ratio_policy == "not_larger" else max)(fs0[a] for a in listed)
        for a in listed:
            sz[a], fs[a] = half_away(rq.fmul(F32, p, shape[a])), p
    return sz, fs


def ort_resize_nearest(x, scales=None, sizes=None, coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_floor", roi=None, extrapolation_value=0,
                       keep_aspect_ratio_policy="stretch", axes=None):
    """onnxruntime Resize nearest: output lengths and scales by ort_output_plan; an output shape
    equal to the input's is a copy (roi or not); otherwise binary32 coordinates (ort_coordinate),
    ort_nearest, clamped to the axis; tf_crop_and_resize gives ``extrapolation_value`` outside
    [0, in - 1] on an axis whose scale is not 1."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h (ComputeOutputShape,
    # ParseScalesDataAndAdjustOutputSize) and upsample.cc (Upsample::BaseCompute, UpsampleNearestImpl)
    flat, shape = mv.tensor(x, "x")
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    sz, fs = ort_output_plan(shape, scales, sizes, axes, keep_aspect_ratio_policy)
    bounds = _roi32(shape, mv.resize_axes(len(shape), axes), roi, crop)
    if list(sz) == list(shape):          # BaseCompute: an output of the input's shape is a copy
        return mv.nest(flat, shape)
    maps = [ort_axis_map(d, o, s, coordinate_transformation_mode, nearest_mode, b, e)
            for d, o, s, (b, e) in zip(shape, sz, fs, bounds)]
    return mv.nest(mv.gather_or_fill(flat, shape, maps, extrapolation_value), tuple(sz))


# ##########################################################################
# onnx 1.21.0 ReferenceEvaluator
# ##########################################################################

def ref_coordinate(i, scale, length_in, width, length_out, mode, width_format=F64, roi_start=0, roi_end=1):
    """The reference's binary64 coordinate of output index i; ``width`` is the unrounded output
    length scale * in, a ``width_format`` value (fp32 when the scales are given, fp64 from sizes).
    tf_crop_and_resize (float32 roi): width 1 -> fl32(fl32(fl32(e - s)(in - 1)) / 2 + fl32(s (in - 1)));
    else fl64(fl64(i fl32(e - s) (in - 1)) / (width - 1)) + fl32(s (in - 1)) in binary64."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _interpolate_1d_with_x
    x = Fraction(i)
    if mode == "tf_crop_and_resize":
        r, base = rq.fl32(Fraction(roi_end) - roi_start), rq.fl32(Fraction(roi_start) * (length_in - 1))
        if width == 1:
            return rq.fl32(rq.fl32(rq.fl32(r * (length_in - 1)) / 2) + base)
        return _f64(_f64(_f64(x * r, length_in - 1, "*"), rq.fadd(width_format, width, -1), "/"), base, "+")
    if mode == "align_corners":
        return Fraction(0) if width == 1 else _f64(x * (length_in - 1), rq.fadd(width_format, width, -1), "/")
    if mode == "asymmetric":
        return _f64(x, scale, "/")
    if mode == "pytorch_half_pixel" and width == 1:
        return -HALF
    if mode in ("half_pixel", "pytorch_half_pixel"):
        return _f64(_f64(x + HALF, scale, "/"), HALF, "-")
    if mode == "half_pixel_symmetric":
        offset = _f64(Fraction(length_in, 2), _f64(1, _f64(length_out, width, "/"), "-"), "*")
        return _f64(_f64(offset, _f64(x + HALF, scale, "/"), "+"), HALF, "-")
    raise UnknownNameError("coordinate_transformation_mode", mode, mv.COORDINATE_MODES)


def ref_nearest(c, mode, length_in):
    """The reference's input index for a binary64 coordinate c.  The nearest-mode weights come from
    the fraction r = c - floor(c) (an integer c weighs the upper neighbour; round_prefer_floor takes
    the lower for r <= 1/2, round_prefer_ceil for r < 1/2), but the two neighbours are those of the
    coordinate in the edge-padded axis, p = fl64(c + 1): ceil(p) - 1 and ceil(p) (index 0 = the
    padding), clamped to the padded axis; so where c + 1 rounds to an integer the pick moves down."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _nearest_coeffs, _get_neighbor, _get_neighbor_idxes
    f = floor(c)
    r = c - f
    if r == 0 or mode == "ceil":
        upper = True
    elif mode == "round_prefer_floor":
        upper = r > HALF
    elif mode == "round_prefer_ceil":
        upper = r >= HALF
    elif mode == "floor":
        upper = False
    else:
        raise UnknownNameError("nearest_mode", mode, mv.NEAREST_MODES)
    lo = min(max(ceil(rq.fadd(F64, c, 1)) - 1, 0), length_in)     # padded indices lo, lo + 1 of 0..in+1
    return min(max(lo + upper - 1, 0), length_in - 1)


def ref_output_plan(shape, scales=None, sizes=None, axes=None, keep_aspect_ratio_policy="stretch"):
    """The reference's (axes, output lengths, scales, unrounded widths, width format): scales given
    (binary32 s) -> out = floor(s * in), width = fl32(s * in); sizes -> s = fl64(out / in), width =
    fl64(s * in); 'not_larger' / 'not_smaller': s = the min / max of those over the axes, out =
    int(fl64(fl64(s * in) + 0.5)).  Only the listed axes are resized."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _interpolate_nd (output_size, keep_aspect_ratio_policy)
    if keep_aspect_ratio_policy not in mv.ASPECT_POLICIES:
        raise UnknownNameError("keep_aspect_ratio_policy", keep_aspect_ratio_policy, mv.ASPECT_POLICIES)
    ax, sz, fs = _given(shape, scales, sizes, axes, "onnx reference")
    if sz is None:
        sz, wf = [floor(s * d) for s, d in zip(fs, shape)], F32
    else:
        fs, wf = [rq.fdiv(F64, o, d) for o, d in zip(sz, shape)], F64
        if keep_aspect_ratio_policy != "stretch":
            p = (min if keep_aspect_ratio_policy == "not_larger" else max)(fs[a] for a in ax)
            for a in ax:
                sz[a], fs[a] = floor(rq.fadd(F64, rq.fmul(F64, p, shape[a]), HALF)), p
    return ax, sz, fs, [rq.fmul(wf, s, d) for s, d in zip(fs, shape)], wf


def ref_resize_nearest(x, scales=None, sizes=None, coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_floor", roi=None, extrapolation_value=0,
                       keep_aspect_ratio_policy="stretch", axes=None):
    """The onnx reference Resize nearest: lengths, scales and widths by ref_output_plan; binary64
    coordinates (ref_coordinate), ref_nearest, the edge element beyond either end; tf_crop_and_resize
    gives ``extrapolation_value`` outside [0, in - 1]; axes not listed are copied."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _interpolate_nd / Resize._run (mode nearest)
    flat, shape = mv.tensor(x, "x")
    if axes is not None and any(a < 0 for a in axes):
        raise InvalidValueError(f"the onnx 1.21.0 reference Resize fails on negative axes {list(axes)} (its numpy "
                                "transpose takes them as they are)")
    ct = coordinate_transformation_mode
    ax, sz, fs, widths, wf = ref_output_plan(shape, scales, sizes, axes, keep_aspect_ratio_policy)
    bounds = _roi32(shape, ax, roi, ct == "tf_crop_and_resize")
    maps = []
    for a, (d, o, s, w, (b, e)) in enumerate(zip(shape, sz, fs, widths, bounds)):
        row = list(range(d)) if a not in ax else []
        for i in range(o if a in ax else 0):
            c = ref_coordinate(i, s, d, w, o, ct, wf, b, e)
            row.append(None if ct == "tf_crop_and_resize" and not 0 <= c <= d - 1 else ref_nearest(c, nearest_mode, d))
        maps.append(row)
    return mv.nest(mv.gather_or_fill(flat, shape, maps, extrapolation_value), tuple(sz))


VARIANTS = {"resize_nearest": {"ort": ort_resize_nearest, "onnx_ref": ref_resize_nearest}}
