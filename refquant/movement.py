"""Data-movement ops on quantized tensors: exact by construction, the same for every backend.

Each op moves, copies or drops elements and never computes with one, so a quantized tensor keeps
its scale and zero point and every peer must agree bit for bit.  The one op that invents values,
``pad`` in constant mode, fills with an integer the caller names (a quantized graph pads with the
zero point, i.e. real 0).  ``resize_nearest`` computes source coordinates as exact rationals.

Tensors are nested Python lists (numpy arrays are read as such lists; a scalar has shape ()).
Internally each op works on ``(flat values, shape)``; ``tensor`` and ``nest`` convert.

    y = transpose(x, perm=[0, 2, 3, 1])
    y = pad(x, [0, 0, 1, 1, 0, 0, 1, 1], constant_value=zp)
    y = resize_nearest(x, scales=[1, 1, 2, 2], coordinate_transformation_mode="asymmetric",
                       nearest_mode="floor")

Semantics are those of the ONNX operators of the same name (Operators.md, opset 21-25); each
function cites its row.  ``VARIANTS`` names each op's one variant, "exact" (backends.py).
Stdlib only (docs/architecture.md).
"""

from fractions import Fraction
from math import prod

from . import nested
from .nested import plain, shape_of  # noqa: F401  (movement.plain / shape_of, as before)
from .errors import InvalidValueError, ShapeError, UnknownNameError
from .rounding import ceil as _ceil, floor as _floor, round_ratio


# ##########################################################################
# Nested lists <-> (flat, shape)
# ##########################################################################

def tensor(x, name="tensor"):
    """(flat row-major values, shape) of a nested list or numpy array."""
    # Reproduces: ONNX IR: tensor elements in row-major order
    x = plain(x)
    shape = shape_of(x, name)
    return nested.flatten(x), shape


def nest(flat, shape):
    """The nested list of ``shape`` holding ``flat`` row-major (a scalar for shape ())."""
    # Reproduces: ONNX IR: tensor elements in row-major order
    return nested.unflatten(flat, tuple(shape))


def strides(shape):
    """Row-major element strides of ``shape``."""
    # Reproduces: ONNX IR: row-major (C order) element layout
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return tuple(reversed(out))


def indices(shape):
    """Every index tuple of ``shape``, row-major."""
    # Reproduces: ONNX IR: row-major (C order) element layout
    idx = [()]
    for d in shape:
        idx = [i + (j,) for i in idx for j in range(d)]
    return idx


def norm_axis(axis, rank, name="axis"):
    """An ONNX axis in [-rank, rank) as a non-negative axis (InvalidValueError otherwise)."""
    # Reproduces: ONNX Operators.md: axis in [-r, r-1], negative counts from the back
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < max(rank, 1):
        raise InvalidValueError(f"{name} = {axis!r} must be an int in [{-rank}, {rank - 1}]")
    return axis % rank if rank else 0


def _gather_flat(flat, shape, out_shape, source):
    """Output values where ``source(out_index)`` is an index tuple into ``shape``."""
    st = strides(shape)
    return [flat[sum(i * s for i, s in zip(source(o), st))] for o in indices(out_shape)]


# ##########################################################################
# Shape-only ops
# ##########################################################################

def reshape(x, shape, allowzero=0):
    """ONNX Reshape: 0 copies the input dimension (unless ``allowzero``), one -1 is inferred."""
    # Reproduces: ONNX Operators.md Reshape (opset 21)
    flat, ishape = tensor(x, "x")
    dims = [ishape[i] if d == 0 and not allowzero and i < len(ishape) else d for i, d in enumerate(shape)]
    if dims.count(-1) > 1 or any(d < -1 for d in dims):
        raise InvalidValueError(f"reshape shape {list(shape)} may hold at most one -1 and no other negative value")
    if -1 in dims:
        known = prod(d for d in dims if d != -1)
        if known == 0 or len(flat) % known:
            raise ShapeError(f"cannot infer -1 in {list(shape)} for {len(flat)} elements")
        dims[dims.index(-1)] = len(flat) // known
    if prod(dims) != len(flat):
        raise ShapeError(f"reshape of {len(flat)} elements (shape {list(ishape)}) to {dims}")
    return nest(flat, tuple(dims))


def flatten(x, axis=1):
    """ONNX Flatten: a 2-D tensor (prod(shape[:axis]), prod(shape[axis:]))."""
    # Reproduces: ONNX Operators.md Flatten (opset 21)
    flat, shape = tensor(x, "x")
    if isinstance(axis, bool) or not isinstance(axis, int) or not -len(shape) <= axis <= len(shape):
        raise InvalidValueError(f"flatten axis = {axis!r} must be an int in [{-len(shape)}, {len(shape)}]")
    if axis < 0:
        axis += len(shape)
    return nest(flat, (prod(shape[:axis]), prod(shape[axis:])))


def squeeze(x, axes=None):
    """ONNX Squeeze: drop the named size-1 axes (all size-1 axes when ``axes`` is None)."""
    # Reproduces: ONNX Operators.md Squeeze (opset 21)
    flat, shape = tensor(x, "x")
    if axes is None:
        drop = {i for i, d in enumerate(shape) if d == 1}
    else:
        drop = {norm_axis(a, len(shape), "squeeze axis") for a in axes}
        bad = [a for a in sorted(drop) if shape[a] != 1]
        if bad:
            raise ShapeError(f"squeeze axes {bad} of shape {list(shape)} are not of size 1")
    return nest(flat, tuple(d for i, d in enumerate(shape) if i not in drop))


def unsqueeze(x, axes):
    """ONNX Unsqueeze: insert size-1 axes at ``axes`` (indices into the output shape)."""
    # Reproduces: ONNX Operators.md Unsqueeze (opset 21)
    flat, shape = tensor(x, "x")
    rank = len(shape) + len(axes)
    put = sorted(norm_axis(a, rank, "unsqueeze axis") for a in axes)
    if len(set(put)) != len(put):
        raise InvalidValueError(f"unsqueeze axes {list(axes)} repeat an axis")
    rest = iter(shape)
    return nest(flat, tuple(1 if i in put else next(rest) for i in range(rank)))


# ##########################################################################
# Element-moving ops
# ##########################################################################

def transpose(x, perm=None):
    """ONNX Transpose: output axis i is input axis perm[i] (reversed axes when perm is None)."""
    # Reproduces: ONNX Operators.md Transpose (opset 21)
    flat, shape = tensor(x, "x")
    perm = list(range(len(shape)))[::-1] if perm is None else [norm_axis(p, len(shape), "perm") for p in perm]
    if sorted(perm) != list(range(len(shape))):
        raise InvalidValueError(f"perm {perm} is not a permutation of the {len(shape)} axes")
    out_shape = tuple(shape[p] for p in perm)

    def source(o):
        i = [0] * len(shape)
        for k, p in enumerate(perm):
            i[p] = o[k]
        return i
    return nest(_gather_flat(flat, shape, out_shape, source), out_shape)


def _slice_range(d, start, end, step):
    """The ONNX Slice index range of one axis of size d (starts/ends clamped as the spec says)."""
    if step == 0:
        raise InvalidValueError("slice step must not be 0")
    start, end = (v + d if v < 0 else v for v in (start, end))
    if step > 0:
        start, end = min(max(start, 0), d), min(max(end, 0), d)
    else:
        start, end = min(max(start, 0), d - 1), min(max(end, -1), d - 1)
    return range(start, end, step)


def _slice_range_numpy(d, start, end, step):
    """The index range numpy's basic slicing x[start:end:step] gives an axis of size d (Python's
    slice rules: with a negative step, a start below -d clamps to -1, so the range is empty)."""
    if step == 0:
        raise InvalidValueError("slice step must not be 0")
    return range(d)[start:end:step]


def slice(x, starts, ends, axes=None, steps=None):  # noqa: A001 - the ONNX op's name
    """ONNX Slice: per named axis, elements start, start+step, ... before end (clamped)."""
    # Reproduces: ONNX Operators.md Slice (opset 13)
    return _slice(x, starts, ends, axes, steps, _slice_range)


def slice_onnx_ref(x, starts, ends, axes=None, steps=None):
    """ONNX Slice as the onnx reference evaluator computes it: numpy slicing per axis, which differs
    from the spec only for a negative step with start and end both below -dim (numpy: empty; spec: x[0])."""
    # Reproduces: onnx 1.21.0 reference/ops/op_slice.py (numpy basic slicing), measured (tests/test_mutants_movement.py)
    return _slice(x, starts, ends, axes, steps, _slice_range_numpy)


def _slice(x, starts, ends, axes, steps, ranger):
    flat, shape = tensor(x, "x")
    axes = list(range(len(starts))) if axes is None else [norm_axis(a, len(shape), "slice axis") for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    if not len(starts) == len(ends) == len(axes) == len(steps) or len(set(axes)) != len(axes):
        raise InvalidValueError(f"slice starts/ends/axes/steps must have one entry per distinct axis, got "
                                f"{list(starts)}, {list(ends)}, {axes}, {steps}")
    ranges = [range(d) for d in shape]
    for a, s, e, k in zip(axes, starts, ends, steps):
        ranges[a] = ranger(shape[a], s, e, k)
    out_shape = tuple(len(r) for r in ranges)
    return nest(_gather_flat(flat, shape, out_shape, lambda o: [r[i] for r, i in zip(ranges, o)]), out_shape)


def gather(x, indices_, axis=0):
    """ONNX Gather: out[i..., j..., k...] = x[i..., indices[j...], k...] (negative indices count back)."""
    # Reproduces: ONNX Operators.md Gather (opset 13)
    flat, shape = tensor(x, "x")
    axis = norm_axis(axis, len(shape), "gather axis")
    iflat, ishape = tensor(indices_, "indices")
    for v in iflat:
        if isinstance(v, bool) or not isinstance(v, int) or not -shape[axis] <= v < shape[axis]:
            raise InvalidValueError(f"gather index {v!r} out of range for axis {axis} of size {shape[axis]}")
    ist = strides(ishape)
    out_shape = shape[:axis] + ishape + shape[axis + 1:]
    r = len(ishape)

    def source(o):
        j = iflat[sum(i * s for i, s in zip(o[axis:axis + r], ist))]
        return o[:axis] + (j % shape[axis],) + o[axis + r:]
    return nest(_gather_flat(flat, shape, out_shape, source), out_shape)


def concat_same(inputs, axis):
    """ONNX Concat of tensors that share one scale and zero point: the elements, side by side."""
    # Reproduces: ONNX Operators.md Concat (opset 13)
    parts = [tensor(x, f"inputs[{i}]") for i, x in enumerate(inputs)]
    if not parts:
        raise InvalidValueError("concat needs at least one input")
    rank = len(parts[0][1])
    axis = norm_axis(axis, rank, "concat axis")
    for i, (_, s) in enumerate(parts):
        if len(s) != rank or s[:axis] != parts[0][1][:axis] or s[axis + 1:] != parts[0][1][axis + 1:]:
            raise ShapeError(f"concat inputs[{i}] has shape {list(s)}; expected {list(parts[0][1])} but on axis {axis}")
    outer, out = prod(parts[0][1][:axis]), []
    for o in range(outer):
        for flat, s in parts:
            block = prod(s[axis:])
            out += flat[o * block:(o + 1) * block]
    out_shape = parts[0][1][:axis] + (sum(s[axis] for _, s in parts),) + parts[0][1][axis + 1:]
    return nest(out, out_shape)


PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad_source(i, d, mode):
    """The input index that output index i (in input coordinates) copies, or None for the constant."""
    if 0 <= i < d:
        return i
    if mode == "constant":
        return None
    if mode == "edge":
        return min(max(i, 0), d - 1)
    if mode == "wrap":
        return i % d
    period = 2 * (d - 1)          # reflect: mirror without repeating the edge
    if period == 0:
        return 0
    i %= period
    return i if i < d else period - i


def pad(x, pads, mode="constant", constant_value=0, axes=None):
    """ONNX Pad: pads = [begin per axis..., end per axis...] (negative crops); constant mode fills
    with ``constant_value``, an integer in the quantized domain (the zero point pads real 0)."""
    # Reproduces: ONNX Operators.md Pad (opset 21)
    flat, shape = tensor(x, "x")
    if mode not in PAD_MODES:
        raise UnknownNameError("pad mode", mode, PAD_MODES)
    axes = list(range(len(shape))) if axes is None else [norm_axis(a, len(shape), "pad axis") for a in axes]
    if len(pads) != 2 * len(axes):
        raise InvalidValueError(f"pads has {len(pads)} values; expected {2 * len(axes)} (begin and end per axis)")
    begin, end = [0] * len(shape), [0] * len(shape)
    for k, a in enumerate(axes):
        begin[a], end[a] = pads[k], pads[k + len(axes)]
    out_shape = tuple(d + b + e for d, b, e in zip(shape, begin, end))
    if any(d < 0 for d in out_shape) or (mode != "constant" and any(d == 0 for d in shape)):
        raise ShapeError(f"pad {list(pads)} ({mode}) of shape {list(shape)} gives shape {list(out_shape)}")
    st = strides(shape)
    out = []
    for o in indices(out_shape):
        src = [_pad_source(i - b, d, mode) for i, b, d in zip(o, begin, shape)]
        out.append(constant_value if None in src else flat[sum(i * s for i, s in zip(src, st))])
    return nest(out, out_shape)


# ##########################################################################
# Resize, nearest neighbour (exact coordinates)
# ##########################################################################

COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
ASPECT_POLICIES = ("stretch", "not_larger", "not_smaller")


def original_coordinate(x_resized, scale, length_in, length_out, mode, roi_start=0, roi_end=1):
    """The exact input coordinate of output index ``x_resized`` (ONNX coordinate_transformation_mode);
    ``roi_start`` / ``roi_end`` (normalized) are read by tf_crop_and_resize only."""
    # Reproduces: ONNX Operators.md Resize (opset 19), coordinate_transformation_mode formulas
    x, scale = Fraction(x_resized), Fraction(scale)
    if mode == "tf_crop_and_resize":
        start, end = Fraction(roi_start), Fraction(roi_end)
        if length_out > 1:
            return start * (length_in - 1) + x * (end - start) * (length_in - 1) / (length_out - 1)
        return (start + end) / 2 * (length_in - 1)
    if mode == "half_pixel":
        return (x + Fraction(1, 2)) / scale - Fraction(1, 2)
    if mode == "half_pixel_symmetric":
        offset = Fraction(length_in, 2) * (1 - Fraction(length_out) / (scale * length_in))
        return offset + (x + Fraction(1, 2)) / scale - Fraction(1, 2)
    if mode == "pytorch_half_pixel":
        return (x + Fraction(1, 2)) / scale - Fraction(1, 2) if length_out > 1 else Fraction(0)
    if mode == "align_corners":
        return Fraction(0) if length_out == 1 else x * (length_in - 1) / (length_out - 1)
    if mode == "asymmetric":
        return x / scale
    raise UnknownNameError("coordinate_transformation_mode", mode, COORDINATE_MODES)


def nearest_index(c, mode):
    """The integer an exact coordinate c goes to under ONNX nearest_mode."""
    # Reproduces: ONNX Operators.md Resize (opset 19), nearest_mode
    c = Fraction(c)
    if mode == "round_prefer_floor":
        return round_ratio(c.numerator, c.denominator, "half_down")
    if mode == "round_prefer_ceil":
        return round_ratio(c.numerator, c.denominator, "half_up")
    if mode == "floor":
        return _floor(c)
    if mode == "ceil":
        return _ceil(c)
    raise UnknownNameError("nearest_mode", mode, NEAREST_MODES)


def resize_plan(shape, scales=None, sizes=None):
    """(output shape, per-axis exact scales): sizes give scale = size/input, scales give
    size = floor(input * scale) (ONNX Resize, no roi, keep_aspect_ratio_policy 'stretch')."""
    # Reproduces: ONNX Operators.md Resize (opset 19), output shape
    if (scales is None) == (sizes is None):
        raise InvalidValueError("resize needs exactly one of scales and sizes")
    given = scales if sizes is None else sizes
    if len(given) != len(shape):
        raise ShapeError(f"resize {'scales' if sizes is None else 'sizes'} has {len(given)} values for rank {len(shape)}")
    if sizes is not None:
        if any(not isinstance(s, int) or s <= 0 for s in sizes) or 0 in shape:
            raise InvalidValueError(f"resize sizes {list(sizes)} must be positive ints (input shape {list(shape)})")
        return tuple(sizes), [Fraction(o, d) for o, d in zip(sizes, shape)]
    fs = [Fraction(s) for s in scales]
    if any(s <= 0 for s in fs):
        raise InvalidValueError(f"resize scales {list(scales)} must be positive")
    return tuple(_floor(d * s) for d, s in zip(shape, fs)), fs


def resize_axes(rank, axes):
    """The axes that Resize's scales, sizes and roi refer to: all of them (None), or ``axes``
    (negative counting from the back; a repeated axis is an InvalidValueError)."""
    # Reproduces: ONNX Operators.md Resize (opset 19), attribute axes
    if axes is None:
        return list(range(rank))
    out = [norm_axis(a, rank, "resize axis") for a in axes]
    if len(set(out)) != len(out):
        raise InvalidValueError(f"resize axes {list(axes)} repeat an axis")
    return out


def spread_axes(values, axes, fill, name):
    """``fill`` with values[i] at axes[i] (ShapeError when the counts differ)."""
    # Reproduces: ONNX Operators.md Resize (opset 19): scales / sizes / roi given for the listed axes only
    values = list(values)
    if len(values) != len(axes):
        raise ShapeError(f"resize {name} has {len(values)} values for {len(axes)} axes")
    full = list(fill)
    for a, v in zip(axes, values):
        full[a] = v
    return full


def resize_setup(shape, scales=None, sizes=None, roi=None, axes=None, keep_aspect_ratio_policy="stretch", crop=False):
    """(output shape, exact scale per axis, (roi start, roi end) per axis) of ONNX Resize-19.

    scales: out = floor(in * (roi_end - roi_start) * scale) (roi only with ``crop``, i.e.
    tf_crop_and_resize; else (0, 1)); sizes with 'stretch': scale = out / in; 'not_larger' /
    'not_smaller': one scale s = min / max of size / in over the axes, out = round_half_up(s * in).
    Axes not in ``axes`` keep their length and scale 1."""
    # Reproduces: ONNX Operators.md Resize (opset 19): output shape, axes, roi, keep_aspect_ratio_policy
    if (scales is None) == (sizes is None):
        raise InvalidValueError("resize needs exactly one of scales and sizes")
    if keep_aspect_ratio_policy not in ASPECT_POLICIES:
        raise UnknownNameError("keep_aspect_ratio_policy", keep_aspect_ratio_policy, ASPECT_POLICIES)
    ax = resize_axes(len(shape), axes)
    bounds = [(Fraction(0), Fraction(1))] * len(shape)
    if crop:
        if roi is None:
            raise InvalidValueError("coordinate_transformation_mode tf_crop_and_resize needs roi")
        ends = spread_axes(roi[len(ax):], ax, [1] * len(shape), "roi ends") if len(roi) == 2 * len(ax) else None
        if ends is None:
            raise ShapeError(f"resize roi has {len(roi)} values; expected {2 * len(ax)} (start and end per axis)")
        starts = spread_axes(roi[:len(ax)], ax, [0] * len(shape), "roi starts")
        bounds = [(Fraction(b), Fraction(e)) for b, e in zip(starts, ends)]
    if sizes is not None:
        full = spread_axes(sizes, ax, shape, "sizes")
        if any(isinstance(o, bool) or not isinstance(o, int) or o <= 0 for o in full) or 0 in shape:
            raise InvalidValueError(f"resize sizes {list(sizes)} must be positive ints (input shape {list(shape)})")
        if keep_aspect_ratio_policy == "stretch":
            return tuple(full), [Fraction(o, d) for o, d in zip(full, shape)], bounds
        ratios = [Fraction(full[a], shape[a]) for a in ax]
        s = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
        out, fs = list(shape), [Fraction(1)] * len(shape)
        for a in ax:
            out[a], fs[a] = _floor(s * shape[a] + Fraction(1, 2)), s
        return tuple(out), fs, bounds
    fs = spread_axes([Fraction(v) for v in scales], ax, [Fraction(1)] * len(shape), "scales")
    if any(v <= 0 for v in fs):
        raise InvalidValueError(f"resize scales {list(scales)} must be positive")
    return tuple(_floor(d * (e - b) * v) for d, v, (b, e) in zip(shape, fs, bounds)), fs, bounds


def resize_nearest(x, scales=None, sizes=None, coordinate_transformation_mode="half_pixel",
                   nearest_mode="round_prefer_floor", roi=None, extrapolation_value=0,
                   keep_aspect_ratio_policy="stretch", axes=None):
    """ONNX Resize, mode 'nearest', with exact rational coordinates; indices clamp to the edge.
    tf_crop_and_resize: a coordinate outside [0, in - 1] gives ``extrapolation_value``."""
    # Reproduces: ONNX Operators.md Resize (opset 19), mode=nearest
    flat, shape = tensor(x, "x")
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    out_shape, fs, bounds = resize_setup(shape, scales, sizes, roi, axes, keep_aspect_ratio_policy, crop)
    maps = []
    for d, o, s, (b, e) in zip(shape, out_shape, fs, bounds):
        row = []
        for i in range(o):
            c = original_coordinate(i, s, d, o, coordinate_transformation_mode, b, e)
            row.append(None if crop and not 0 <= c <= d - 1 else min(max(nearest_index(c, nearest_mode), 0), d - 1))
        maps.append(row)
    return nest(gather_or_fill(flat, shape, maps, extrapolation_value), out_shape)


def gather_or_fill(flat, shape, maps, fill):
    """The output of per-axis index maps (row-major): flat[source], or ``fill`` where any axis maps to None."""
    # Reproduces: ONNX Operators.md Resize (opset 19), extrapolation_value (tf_crop_and_resize)
    st = strides(shape)
    out = []
    for o in indices(tuple(len(m) for m in maps)):
        idx = [m[i] for m, i in zip(maps, o)]
        out.append(fill if None in idx else flat[sum(i * t for i, t in zip(idx, st))])
    return out


def identity(x):
    """ONNX Identity on a quantized tensor."""
    # Reproduces: ONNX Operators.md Identity
    flat, shape = tensor(x, "x")
    return nest(flat, shape)


VARIANTS = {op: {"exact": fn} for op, fn in [
    ("reshape", reshape), ("transpose", transpose), ("flatten", flatten), ("squeeze", squeeze),
    ("unsqueeze", unsqueeze), ("slice", slice), ("gather", gather), ("concat_same", concat_same),
    ("pad", pad), ("resize_nearest", resize_nearest), ("identity", identity)]}
VARIANTS["slice"]["onnx_ref"] = slice_onnx_ref
