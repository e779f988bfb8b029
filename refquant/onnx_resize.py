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
from .rounding import ceil, floor

F32, F64 = "fp32", "fp64"
HALF = Fraction(1, 2)
TIE_EPS = rq.fl32(Fraction(1, 10**6))   # onnxruntime's nearest-tie tolerance, 1e-6f


def _f32(a, b, op):
    return {"+": rq.fadd, "/": rq.fdiv, "*": rq.fmul}[op](F32, a, b) if op != "-" else rq.fadd(F32, a, -b)


def _f64(a, b, op):
    return {"+": rq.fadd, "/": rq.fdiv, "*": rq.fmul}[op](F64, a, b) if op != "-" else rq.fadd(F64, a, -b)


def _plan(shape, scales, sizes, name):
    """Validated (scales or sizes) as exact values: binary32 scales (the ONNX input is float32)."""
    if (scales is None) == (sizes is None):
        raise InvalidValueError("resize needs exactly one of scales and sizes")
    given = scales if sizes is None else sizes
    if len(given) != len(shape) or 0 in shape:
        raise InvalidValueError(f"{name} resize: {len(given)} scales/sizes for input shape {list(shape)} "
                                f"(one per axis of a non-empty tensor expected)")
    if sizes is not None:
        if any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in sizes):
            raise InvalidValueError(f"resize sizes {list(sizes)} must be positive ints")
        return None, list(sizes)
    fs = [rq.fl32(Fraction(s)) for s in scales]
    if any(s <= 0 for s in fs):
        raise InvalidValueError(f"resize scales {list(scales)} must be positive")
    return fs, None


# ##########################################################################
# onnxruntime 1.32.0
# ##########################################################################

def ort_coordinate(i, scale, length_in, length_out, mode):
    """onnxruntime's source coordinate of output index i (float arguments; binary32 unless noted)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h GetOriginalCoordinateFromResizedCoordinate
    x, lin, lout = Fraction(i), Fraction(length_in), Fraction(length_out)
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


def ort_axis_map(length_in, length_out, scale, ct_mode, nearest_mode):
    """The input index of each output index on one axis (scale exactly 1: the identity)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsample.cc UpsampleNearestSetupInputMappings
    if scale == 1:
        return list(range(length_out))
    return [min(max(ort_nearest(ort_coordinate(i, scale, length_in, length_out, ct_mode), nearest_mode), 0),
                length_in - 1) for i in range(length_out)]


def ort_resize_nearest(x, scales=None, sizes=None, coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_floor"):
    """onnxruntime Resize nearest: scales given -> out = trunc(fl32(s * in)); sizes given -> scale =
    fl32(out / in); an output shape equal to the input's is a copy; otherwise binary32 coordinates
    (ort_coordinate), ort_nearest, clamped to the axis."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/upsamplebase.h (ComputeOutputShape,
    # ParseScalesDataAndAdjustOutputSize) and upsample.cc (Upsample::BaseCompute, UpsampleNearestImpl)
    flat, shape = mv.tensor(x, "x")
    fs, sz = _plan(shape, scales, sizes, "onnxruntime")
    if sz is None:
        sz = [floor(rq.fmul(F32, s, d)) for s, d in zip(fs, shape)]
    else:
        fs = [rq.fdiv(F32, o, d) for o, d in zip(sz, shape)]
    if list(sz) == list(shape):          # BaseCompute: an output of the input's shape is a copy
        return mv.nest(flat, shape)
    maps = [ort_axis_map(d, o, s, coordinate_transformation_mode, nearest_mode) for d, o, s in zip(shape, sz, fs)]
    return _gather(flat, shape, maps)


# ##########################################################################
# onnx 1.21.0 ReferenceEvaluator
# ##########################################################################

def ref_coordinate(i, scale, length_in, width, length_out, mode, width_format=F64):
    """The reference's binary64 coordinate of output index i; ``width`` is the unrounded output
    length scale * in, a ``width_format`` value (fp32 when the scales are given, fp64 from sizes)."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _interpolate_1d_with_x
    x = Fraction(i)
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


def ref_resize_nearest(x, scales=None, sizes=None, coordinate_transformation_mode="half_pixel",
                       nearest_mode="round_prefer_floor"):
    """The onnx reference Resize nearest: scales given (binary32 s) -> out = floor(s * in), width =
    fl32(s * in); sizes given -> scale = fl64(out / in), width = fl64(scale * in); binary64
    coordinates (ref_coordinate), ref_nearest, the edge element beyond either end."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_resize.py _interpolate_nd / Resize._run (mode nearest)
    flat, shape = mv.tensor(x, "x")
    fs, sz = _plan(shape, scales, sizes, "onnx reference")
    if sz is None:
        sz = [floor(s * d) for s, d in zip(fs, shape)]
        wf = F32
    else:
        fs, wf = [rq.fdiv(F64, o, d) for o, d in zip(sz, shape)], F64
    widths = [rq.fmul(wf, s, d) for s, d in zip(fs, shape)]
    maps = [[ref_nearest(ref_coordinate(i, s, d, w, o, coordinate_transformation_mode, wf), nearest_mode, d)
             for i in range(o)] for d, o, s, w in zip(shape, sz, fs, widths)]
    return _gather(flat, shape, maps)


def _gather(flat, shape, maps):
    out_shape = tuple(len(m) for m in maps)
    st = mv.strides(shape)
    return mv.nest([flat[sum(m[i] * s for m, i, s in zip(maps, o, st))] for o in mv.indices(out_shape)], out_shape)


VARIANTS = {"resize_nearest": {"ort": ort_resize_nearest, "onnx_ref": ref_resize_nearest}}
