"""``refquant audit`` / ``explain`` for the pools, the concatenations, mean and softmax (docs/audit.md §7).

refquant/audit/variants.py audits the variant ops; this module holds what the ops of other shapes
need:

* The *form* ops, whose variant functions do not take (x, sx, zx, sy, zy): ``max_pool`` (ONNX,
  NCHW), ``average_pool_2d`` / ``max_pool_2d`` (TFLite, NHWC), ``tosa_avg_pool2d`` /
  ``tosa_max_pool2d`` (TOSA, NHWC) and ``concat`` (ONNX) / ``concatenation`` (TFLite).  A case of a
  pool gives ``x`` in the op's own layout (the layout is the op's: ONNX ops NCHW, TFLite and TOSA
  ops NHWC; ``describe()`` says which) and the op's parameters in ``attrs`` exactly as its variant
  function takes them (the golden 'ops' suite's form).  A concatenation gives ``inputs``, a list
  of {x, scale, zero_point}, and ``y_scale``, ``y_zero_point``, ``attrs: {axis}``.
* *Siblings*: an average pool (max pool) of one backend is a candidate semantics for a dump of
  another's, when the case can be stated in that op's terms (same geometry, the quantization it
  can express): the case is translated (NCHW <-> NHWC, ONNX pads <-> TOSA pad <-> TFLite
  SAME/VALID), run through every variant of the sibling op, and translated back; a TFLite fused
  activation becomes a clamp after a sibling (as a TOSA lowering does).  So a dump declared
  TFLite AVERAGE_POOL_2D that rounds like TOSA AVG_POOL2D is named 'tosa_avg_pool2d:tosa'.
* Faults of these ops (device bugs that are no backend's semantics), and the per-element inputs
  (the window, the reduced group, the source input, the softmax row) that ``audit`` shows for a
  mismatch and ``explain`` derives step by step.
"""

from fractions import Fraction

import numpy as np

from .. import backends, nested, qops
from .. import fixedpoint as fp
from .. import tflite_ops as T
from .. import tosa
from ..errors import InvalidValueError, RefquantError, ShapeError
from ..integers import get_type
from ..rounding import half_away, half_even
from ..trace import Step

NCHW_POOLS = ("avg_pool", "max_pool")
FAMILY = {"avg_pool": "avg", "average_pool_2d": "avg", "tosa_avg_pool2d": "avg",
          "max_pool": "max", "max_pool_2d": "max", "tosa_max_pool2d": "max"}
CONCATS = ("concat", "concatenation")
POOL_FORMS = ("max_pool", "average_pool_2d", "max_pool_2d", "tosa_avg_pool2d", "tosa_max_pool2d")
FORM_OPS = POOL_FORMS + CONCATS
TOSA_GEOMETRY = ("kernel", "stride", "pad")
LAYOUT = {"avg_pool": "NCHW", "max_pool": "NCHW", "global_avg_pool": "NCHW", "average_pool_2d": "NHWC",
          "max_pool_2d": "NHWC", "tosa_avg_pool2d": "NHWC", "tosa_max_pool2d": "NHWC"}


def layout(op):
    return LAYOUT.get(op)


def int_tensor(value, name, base_dir, dtype, shape=None):
    """A nested list of ``dtype`` integers from a case value (a nested list or a tensor file)."""
    from .case import _tensor_spec
    t = get_type(dtype)
    vals = np.asarray(_tensor_spec(value, name, base_dir, dtype, shape)).tolist()
    flat = nested.flatten(vals)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        raise InvalidValueError(f"input {name!r} holds non-integers; expected {dtype} values")
    if not all(t.min <= v <= t.max for v in flat):
        raise InvalidValueError(f"input {name!r} holds values outside {dtype} [{t.min}, {t.max}]")
    if not flat:
        raise ShapeError(f"input {name!r} is empty; expected at least one {dtype} value")
    return vals


GEOMETRY = {"filter_hw": (2, 1), "strides": (2, 1), "kernel_shape": (None, 1), "dilations": (None, 1),
            "pads": (None, 0), "kernel": (2, 1), "stride": (2, 1), "pad": (4, 0), "axes": (None, None)}
LIMIT = 1 << 16


def check_geometry(attrs):
    """Each geometry attribute a list of ints (``n`` of them where fixed) in [least, 2^16); an axis an int."""
    for k, (n, least) in GEOMETRY.items():
        v = attrs.get(k)
        if v is None:
            continue
        lo = -LIMIT if least is None else least
        if (not isinstance(v, (list, tuple)) or not v and k != "axes" or n is not None and len(v) != n
                or not all(isinstance(e, int) and not isinstance(e, bool) and lo <= e < LIMIT for e in v)):
            raise InvalidValueError(f"attrs {k} = {v!r}: expected a list of {n or 'some'} integers in [{lo}, {LIMIT})")
    for k in ("axis", "activation", "padding"):
        v = attrs.get(k)
        if v is not None and not isinstance(v, int if k == "axis" else str) or isinstance(v, bool):
            raise InvalidValueError(f"attrs {k} = {v!r}: expected {'an integer' if k == 'axis' else 'a name'}")


def _zp(v, what, t):
    if isinstance(v, bool) or not isinstance(v, int) or not t.min <= v <= t.max:
        raise InvalidValueError(f"{what} = {v!r} must be an integer in {t.name} [{t.min}, {t.max}]")
    return v


def form_case(spec, fn, base_dir, dtype):
    """(inputs, q, attrs) of a form-op case; ``fn`` the declared variant (its parameters are the attrs)."""
    from .case import _scale
    op, t = spec["op"], get_type(dtype)
    if not isinstance(spec.get("attrs", {}), dict):
        raise InvalidValueError(f"attrs must be a JSON object, got {spec['attrs']!r}")
    attrs = dict(spec.get("attrs", {}))
    for k in ("dtype", "in_type"):                 # the golden suite repeats the type in attrs
        if k in attrs and attrs.pop(k) != dtype:
            raise InvalidValueError(f"attrs {k} contradicts dtype {dtype!r}")
    allowed = set(_kw(fn)) - {"dtype", "in_type", "scale_format"} | (set(TOSA_GEOMETRY) if op.startswith("tosa")
                                                                       else set())
    if set(attrs) - allowed:
        raise InvalidValueError(f"attrs {sorted(set(attrs) - allowed)}: {op} takes {sorted(allowed)}")
    if op.startswith("tosa") and set(TOSA_GEOMETRY) - set(attrs):
        raise InvalidValueError(f"a {op} case needs attrs {list(TOSA_GEOMETRY)}")
    check_geometry(attrs)
    if "scale" in attrs:
        attrs["scale"] = Fraction(_scale(attrs["scale"], "scale", False))
    for k in ("zero_point", "input_zp", "output_zp"):
        if k in attrs:
            _zp(attrs[k], k, t)
    if op in CONCATS:
        items = spec.get("inputs")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise InvalidValueError("a concat case needs 'inputs': a list of {x, scale, zero_point}")
        parts = [(int_tensor(i.get("x"), f"inputs[{n}].x", base_dir, dtype),
                  Fraction(_scale(i.get("scale"), f"inputs[{n}].scale", False)),
                  _zp(i.get("zero_point", 0), f"inputs[{n}].zero_point", t)) for n, i in enumerate(items)]
        q = (Fraction(_scale(spec.get("y_scale"), "y_scale", False)), _zp(spec.get("y_zero_point", 0),
                                                                           "y_zero_point", t))
        return {"inputs": parts}, q, attrs
    if "x" not in spec:
        raise InvalidValueError(f"a {op} case needs input tensor 'x'")
    x = int_tensor(spec["x"], "x", base_dir, dtype, spec.get("shape"))
    if len(nested.shape(x)) != 4:
        raise ShapeError(f"{op} input x has shape {list(nested.shape(x))}; expected rank 4 ({LAYOUT[op]})")
    return {"x": x}, (), attrs


def _kw(fn):
    import inspect
    return [n for n, p in inspect.signature(fn).parameters.items() if p.kind == p.KEYWORD_ONLY]


def call(case, fn):
    """A form op's variant function on the case (the op's own calling convention)."""
    a = dict(case.attrs)
    if case.op in CONCATS:
        return fn(case.inputs["inputs"], *case.q, dtype=case.dtype, **a)
    if case.op.startswith("tosa"):
        geo = [a.pop(k) for k in TOSA_GEOMETRY]
        return fn(case.inputs["x"], *geo, in_type=case.dtype, **a)
    return fn(case.inputs["x"], dtype=case.dtype, **a)


# ##########################################################################
# Pool geometry: one form (NHWC, kernel, strides, pads top/bottom/left/right) for every pool op
# ##########################################################################

def geometry(case, strict=True):
    """The case's pool as {x (NHWC array), k, s, pads (t, b, l, r), q (sx, zx, sy, zy) or None, clamp}.
    ``strict``: also refuse what the other backends' pools cannot state (dilations, ceil_mode,
    count_include_pad)."""
    op, a = case.op, case.attrs
    x = np.array(case.inputs["x"], dtype=np.int64)
    if x.ndim != 4:
        raise ShapeError(f"{op} input has shape {list(x.shape)}; the pool siblings need rank 4")
    q, clamp = None, None
    if op in NCHW_POOLS:
        x = x.transpose(0, 2, 3, 1)
        k = list(a.get("kernel_shape", []))
        if len(k) != 2 or any(d != 1 for d in a.get("dilations") or [1, 1]):
            raise InvalidValueError(f"{op} with kernel_shape {k} and dilations {a.get('dilations')}: only a 2-D "
                                    "undilated pool has a TFLite / TOSA form")
        s = list(a.get("strides") or [1, 1])
        p = list(a.get("pads") or [0, 0, 0, 0])
        pads = (p[0], p[2], p[1], p[3])
        if strict and (a.get("ceil_mode", 0) or a.get("count_include_pad", 0)):
            raise InvalidValueError(f"{op} with ceil_mode / count_include_pad: TFLite and TOSA pools have neither")
        if op == "avg_pool":
            q = case.q
    elif op.startswith("tosa"):
        k, s, pads = list(a["kernel"]), list(a["stride"]), tuple(a["pad"])
        if op == "tosa_avg_pool2d":
            q = (Fraction(1), a.get("input_zp", 0), Fraction(1), a.get("output_zp", 0))
    else:
        k, s = list(a["filter_hw"]), list(a["strides"])
        (_, ph), (_, pw) = (T.pool_geometry(x.shape[1], k[0], s[0], a.get("padding", "VALID")),
                            T.pool_geometry(x.shape[2], k[1], s[1], a.get("padding", "VALID")))
        oh, ow = case.out_shape[1:3]
        pads = (ph, max(0, (oh - 1) * s[0] + k[0] - x.shape[1] - ph), pw, max(0, (ow - 1) * s[1] + k[1] - x.shape[2] - pw))
        sc, zp = a.get("scale", Fraction(1)), a.get("zero_point", 0)
        q = (sc, zp, sc, zp)
        if a.get("activation", "NONE") != "NONE":
            clamp = T.activation_range(a["activation"], sc, zp, case.dtype)
    return {"x": x, "k": k, "s": s, "pads": pads, "q": q, "clamp": clamp}


def _tflite_padding(g):
    _, h, w, _ = g["x"].shape
    for padding in ("VALID", "SAME"):
        try:
            (oh, ph), (ow, pw) = (T.pool_geometry(h, g["k"][0], g["s"][0], padding),
                                  T.pool_geometry(w, g["k"][1], g["s"][1], padding))
        except RefquantError:
            continue
        t, b, l, r = g["pads"]
        if (ph, pw) == (t, l) and (oh, ow) == ((h + t + b - g["k"][0]) // g["s"][0] + 1,
                                               (w + l + r - g["k"][1]) // g["s"][1] + 1):
            return padding
    raise InvalidValueError(f"pads {list(g['pads'])} (top, bottom, left, right) are neither TFLite's SAME nor VALID "
                            f"padding for this input")


def _run_member(op2, fn, g, dtype):
    """Variant ``fn`` of pool op ``op2`` on geometry ``g``: its output, NHWC (an array)."""
    x, k, s, (t, b, l, r) = g["x"], g["k"], g["s"], g["pads"]
    q = g["q"] or (Fraction(1), 0, Fraction(1), 0)
    if op2 in NCHW_POOLS:
        geo = dict(kernel_shape=k, strides=s, pads=[t, l, b, r], dtype=dtype)
        xn = x.transpose(0, 3, 1, 2).tolist()
        y = np.array(fn(xn, *q, **geo) if op2 == "avg_pool" else fn(xn, **geo)).transpose(0, 2, 3, 1)
    else:
        if op2 in ("average_pool_2d", "tosa_avg_pool2d") and q[0] != q[2]:
            raise InvalidValueError(f"{op2} keeps the scale: the case has x scale {q[0]}, y scale {q[2]}")
        if op2 == "average_pool_2d" and q[1] != q[3]:
            raise InvalidValueError(f"{op2} keeps the zero point: the case has {q[1]} in, {q[3]} out")
        if op2.startswith("tosa"):
            zps = dict(input_zp=q[1], output_zp=q[3]) if op2 == "tosa_avg_pool2d" else {}
            y = np.array(fn(x.tolist(), k, s, [t, b, l, r], in_type=dtype, **zps))
        else:
            y = np.array(fn(x.tolist(), filter_hw=k, strides=s, padding=_tflite_padding(g), dtype=dtype))
    return y if g["clamp"] is None else np.clip(y, *g["clamp"])


def _to_case_layout(case, y):
    y = np.asarray(y)
    y = y.transpose(0, 3, 1, 2) if case.op in NCHW_POOLS else y
    if tuple(y.shape) != tuple(case.out_shape):
        raise ShapeError(f"output shape {list(y.shape)} is not the case's {list(case.out_shape)}")
    return y.tolist()


def _sibling(op2, name, fn):
    def cand(case):
        return _to_case_layout(case, _run_member(op2, fn, geometry(case), case.dtype))
    cand.takes_case = True
    first = (fn.__doc__ or name).strip().splitlines()[0]
    cand.__doc__ = f"[{op2} {layout(op2)}, the case translated] {first}"
    return cand


def _same_form(op2, fn):
    def cand(case):
        return call(case, fn)
    cand.takes_case = True
    cand.__doc__ = f"[{op2}, the same inputs] " + (fn.__doc__ or op2).strip().splitlines()[0]
    return cand


def _plane_sibling(op2, fn, perm):
    """A variant of ``op2`` (mean or global_avg_pool) on the case's x permuted by ``perm``, back."""
    inv = list(np.argsort(perm))

    def cand(case):
        x = np.array(case.inputs["x"]).transpose(perm).tolist()
        kw = {"axes": [1, 2], "keepdims": 1} if op2 == "mean" else {}
        return np.array(fn(x, *case.q, dtype=case.dtype, **kw)).transpose(inv).tolist()
    cand.takes_case = True
    cand.__doc__ = (f"[{op2}" + (" over axes 1, 2 of NHWC" if op2 == "mean" else ", NCHW") + ", the case "
                    "translated] " + (fn.__doc__ or op2).strip().splitlines()[0])
    return cand


def _plane_siblings(case):
    """ONNX global_avg_pool (NCHW) and a 4-D mean over the spatial axes with keepdims (TFLite's global
    pool, NHWC axes 1, 2; or NCHW axes 2, 3) are each other's candidates."""
    if len(nested.shape(case.inputs["x"])) != 4:
        return []
    if case.op == "global_avg_pool":
        return [("variant", f"mean:{n}", _plane_sibling("mean", f, (0, 2, 3, 1)))
                for n, f in sorted(backends.op_variants("mean").items())]
    axes = {a % 4 for a in case.attrs.get("axes") or []}
    if not case.attrs.get("keepdims", 1) or axes not in ({1, 2}, {2, 3}):
        return []
    perm = (0, 3, 1, 2) if axes == {1, 2} else (0, 1, 2, 3)
    return [("variant", f"global_avg_pool:{n}", _plane_sibling("global_avg_pool", f, perm))
            for n, f in sorted(backends.op_variants("global_avg_pool").items())]


def siblings(case):
    """The variants of the other backends' op of the case's kind (pools of one family, the two
    concatenations, a global average pool and a spatial mean): ('variant', 'op:name', fn(case))."""
    if case.op in ("mean", "global_avg_pool"):
        return _plane_siblings(case)
    if case.op in CONCATS:
        other = CONCATS[1 - CONCATS.index(case.op)]
        return [("variant", f"{other}:{name}", _same_form(other, fn))
                for name, fn in sorted(backends.op_variants(other).items())]
    fam = FAMILY.get(case.op)
    if fam is None:
        return []
    return [("variant", f"{op2}:{name}", _sibling(op2, name, fn))
            for op2 in FAMILY if FAMILY[op2] == fam and op2 != case.op
            for name, fn in sorted(backends.op_variants(op2).items())]


# ##########################################################################
# Faults of these ops (functions of the case; data like variants.FAULTS)
# ##########################################################################

def _windows(g):
    """(taps, padded count) per NHWC output position of geometry ``g``, row-major."""
    x, (kh, kw), (sh, sw), (t, b, l, r) = g["x"], g["k"], g["s"], g["pads"]
    n, h, w, c = x.shape
    oh, ow = (h + t + b - kh) // sh + 1, (w + l + r - kw) // sw + 1
    out = []
    for bi in range(n):
        for oy in range(oh):
            for ox in range(ow):
                y0, x0 = oy * sh - t, ox * sw - l
                ys = range(max(0, y0), min(h, y0 + kh))
                xs = range(max(0, x0), min(w, x0 + kw))
                padded = (min(h + b, y0 + kh) - max(-t, y0)) * (min(w + r, x0 + kw) - max(-l, x0))
                for ch in range(c):
                    out.append(([int(x[bi, yy, xx, ch]) for yy in ys for xx in xs], padded))
    return out, (n, oh, ow, c)


def _pool_fault(reduce):
    def fault(case):
        g = geometry(case, strict=False)
        t = get_type(case.dtype)
        wins, shape = _windows(g)
        y = np.array([min(t.max, max(t.min, reduce(v, p, g))) for v, p in wins]).reshape(shape)
        return _to_case_layout(case, y if g["clamp"] is None else np.clip(y, *g["clamp"]))
    fault.takes_case = True
    fault.__doc__ = reduce.__doc__
    return fault


def _tflite_padded(vals, padded, g):
    """TFLite's average (raw sum / count, ties away from zero) with the padding counted in the divisor."""
    acc = sum(vals)
    return half_away(Fraction(acc, padded))


def _tosa_padded(vals, padded, g):
    """TOSA's average (apply_scale_32 by reciprocal_scale(count)) with the padding counted in the count."""
    _, zi, _, zo = g["q"]
    m, s = tosa.reciprocal_scale(padded)
    return fp.apply_scale_32(sum(v - zi for v in vals), m, s, False) + zo


def _max_pads_zero_point(vals, padded, g):
    """The window's maximum with each padded position read as the zero point (a pad can win)."""
    zp = g["q"][1] if g["q"] else 0
    return max(vals + ([zp] if padded > len(vals) else []))


def _concat_fault(requant):
    def fault(case):
        sy, zy = case.q
        t = get_type(case.dtype)
        parts = [np.array(x) if (s, z) == (sy, zy) else np.vectorize(lambda v, s=s, z=z: requant(v, s, z, sy, zy, t))(
            np.array(x)) for x, s, z in case.inputs["inputs"]]
        return np.concatenate(parts, axis=case.attrs["axis"]).tolist()
    fault.takes_case = True
    fault.__doc__ = requant.__doc__
    return fault


def _requant_ties_away(v, s, z, sy, zy, t):
    """Each input requantized exactly, rounded half away from zero (not to even), then joined."""
    return min(t.max, max(t.min, half_away(s * (v - z) / sy) + zy))


def _copied(v, s, z, sy, zy, t):
    """Each input copied without requantizing (its own scale and zero point taken as the output's)."""
    return int(v)


FAULTS = {
    "avg_pool": {},
    "average_pool_2d": {"tflite_ref with the padding counted in the divisor": _pool_fault(_tflite_padded)},
    "tosa_avg_pool2d": {"tosa with the padding counted in the divisor": _pool_fault(_tosa_padded)},
    "max_pool": {"padded positions read as the zero point": _pool_fault(_max_pads_zero_point)},
    "max_pool_2d": {"padded positions read as the zero point": _pool_fault(_max_pads_zero_point)},
    "tosa_max_pool2d": {"padded positions read as the zero point": _pool_fault(_max_pads_zero_point)},
    "concat": {"requantized with ties away (not ties-even)": _concat_fault(_requant_ties_away),
               "inputs copied without requantizing": _concat_fault(_copied)},
}


def _mean_ties_away(x, sx, zx, sy, zy, *, axes=None, keepdims=1, dtype="int8"):
    """The exact mean sx (sum - n zx) / (n sy), rounded half away from zero (not to even), + zy, saturated."""
    t = get_type(dtype)
    arr = np.array(qops.qtensor(x, t, "x")[0], dtype=object).reshape(nested.shape(x))
    axes = tuple(range(arr.ndim)) if not axes else tuple(sorted({a % arr.ndim for a in axes}))
    n = int(np.prod([arr.shape[a] for a in axes]))
    sums = np.sum(arr, axis=axes, keepdims=bool(keepdims))
    q = np.vectorize(lambda s: min(t.max, max(t.min, half_away(Fraction(sx) * Fraction(s - zx * n, n)
                                                               / Fraction(sy)) + zy)), otypes=[object])
    return q(sums).tolist()


# faults of the ops that keep the variant functions' signature (merged into variants.FAULTS)
SIGNATURE_FAULTS = {"mean": {"exact rounded ties-away (not ties-even)": _mean_ties_away}}


# ##########################################################################
# Per-element inputs (audit) and derivations (explain)
# ##########################################################################

def element_inputs(case, i):
    """What output element ``i`` (flat) is computed from: the window, the group, the source, the row."""
    try:
        if case.op in FAMILY:
            return _window(case, i)
        if case.op in CONCATS:
            return _source(case, i)
        if case.op in ("mean", "global_avg_pool"):
            return {"group": _group(case, i)[:16]}
        if case.op in ("softmax", "softmax_int16"):
            row, j = _row(case, i)
            return {"x": row[j], "row_max": max(row), "d": max(row) - row[j]}
    except (RefquantError, KeyError, IndexError, TypeError, ValueError):
        pass
    return {}


def _window(case, i):
    g = geometry(case, strict=False)
    wins, shape = _windows(g)
    if case.op in NCHW_POOLS:          # flat index of the NCHW output -> the NHWC one
        n, c, y, x = np.unravel_index(i, case.out_shape)
        i = int(np.ravel_multi_index((n, y, x, c), shape))
    vals, padded = wins[i]
    return {"window": vals, "taps": len(vals), "padded": padded}


def _source(case, i):
    idx = list(np.unravel_index(i, case.out_shape))
    ax = case.attrs["axis"] % len(idx)
    for n, (x, s, z) in enumerate(case.inputs["inputs"]):
        d = nested.shape(x)[ax]
        if idx[ax] < d:
            return {"input": n, "x": int(np.array(x)[tuple(idx)]), "scale": str(s), "zero_point": z}
        idx[ax] -= d
    return {}


def _group(case, i):
    x = np.array(case.inputs["x"])
    r = x.ndim
    axes = list(range(2, r)) if case.op == "global_avg_pool" else case.attrs.get("axes")
    axes = set(range(r)) if not axes else {a % r for a in axes}
    kept = [d for d in range(r) if d not in axes]
    at = np.unravel_index(i % max(1, int(np.prod([x.shape[d] for d in kept]))), tuple(x.shape[d] for d in kept))
    sel = tuple(slice(None) if d in axes else int(at[kept.index(d)]) for d in range(r))
    return [int(v) for v in x[sel].reshape(-1)]


def _row(case, i):
    x = np.array(case.inputs["x"])
    ax = case.attrs.get("axis", -1) % x.ndim
    idx = np.unravel_index(i, x.shape)
    sel = tuple(slice(None) if d == ax else int(idx[d]) for d in range(x.ndim))
    return [int(v) for v in x[sel]], int(idx[ax])


def by_diff(case, exp, act, bad, show):
    """Softmax mismatches grouped by d = max(row) - x, the index of the exp table: every element
    with one d wrong in the same way points at a wrong table entry."""
    groups, total = {}, {}
    for i in range(len(exp)):
        d = element_inputs(case, i).get("d")
        total[d] = total.get(d, 0) + 1
        if i in bad:
            g = groups.setdefault(d, {"d": d, "count": 0, "actual_minus_expected": set()})
            g["count"] += 1
            e = show(exp[i])
            g["actual_minus_expected"].add(act[i] - (e if isinstance(e, int) else e[0]))
    return [{**g, "actual_minus_expected": sorted(g["actual_minus_expected"]), "of": total[d],
             "verdict": "every element with this d differs: the exp table entry for d is wrong"
             if g["count"] == total[d] and total[d] > 1 else "some elements with this d differ"}
            for d, g in sorted(groups.items())]


def explain_steps(case, flat):
    """The derivation of one element before the candidates' outputs: its inputs and the exact value."""
    e = element_inputs(case, flat)
    t = get_type(case.dtype)
    if case.op in FAMILY and e:
        steps = [Step("window", f"the in-bounds taps ({layout(case.op)} input)", e["window"]),
                 Step("count", "taps (padding not counted) / positions in the padded extent",
                      f"{e['taps']} / {e['padded']}")]
        if FAMILY[case.op] == "max":
            return steps + [Step("maximum", "max(window) (padding never wins)", max(e["window"]))]
        q = geometry(case, strict=False)["q"]
        sx, zx, sy, zy = q
        real = Fraction(sx) * Fraction(sum(e["window"]) - zx * e["taps"], e["taps"]) / Fraction(sy)
        tail = []
        if case.op == "tosa_avg_pool2d":
            m, sh = tosa.reciprocal_scale(e["taps"])
            acc = sum(e["window"]) - zx * e["taps"]
            tail = [Step("reciprocal_scale(taps)", "m = floor((2^30 + 1) 2^k / taps), shift = 30 + k", (m, sh)),
                      Step("apply_scale_32", "(acc m + 2^(shift-1)) >> shift + output_zp, clipped (TOSA's rounding)",
                           min(t.max, max(t.min, fp.apply_scale_32(acc, m, sh, False) + zy)))]
        return steps + [Step("sum", "sum(window) - taps * zx", sum(e["window"]) - zx * e["taps"]),
                        Step("exact mean / sy", "sx (sum - taps zx) / (taps sy)", real),
                        Step("ties even", "RNE(mean / sy) + zy, saturated",
                             min(t.max, max(t.min, half_even(real) + zy))),
                        Step("ties away", "round half away + zy, saturated (TFLite's division)",
                             min(t.max, max(t.min, half_away(real) + zy)))] + tail
    if case.op in CONCATS and e:
        sy, zy = case.q
        real = e_real = Fraction(e["scale"]) * (e["x"] - e["zero_point"]) / sy
        return [Step("source", f"input {e['input']}, value x (scale {e['scale']}, zero point {e['zero_point']})",
                     e["x"]),
                Step("requantized / sy", "s_i (x - z_i) / sy", e_real),
                Step("ties even", "RNE + zy, saturated", min(t.max, max(t.min, half_even(real) + zy)))]
    if case.op in ("mean", "global_avg_pool") and e:
        sx, zx, sy, zy = case.q
        grp = _group(case, flat)
        real = Fraction(sx) * Fraction(sum(grp) - zx * len(grp), len(grp)) / Fraction(sy)
        m, sh = T.mean_multiplier(Fraction(sx), Fraction(sy), len(grp))
        acc = sum(grp) - zx * len(grp)
        return [Step("group", f"the {len(grp)} reduced inputs" + (" (first 16)" if len(grp) > 16 else ""), grp[:16]),
                Step("sum", "sum(group) - n zx", acc),
                Step("exact mean / sy", "sx (sum - n zx) / (n sy)", real),
                Step("ties even", "RNE + zy, saturated", min(t.max, max(t.min, half_even(real) + zy))),
                Step("TFLite mean_multiplier", "QuantizeMultiplier(fl64(sx/sy)) readapted by 1/n (truncated): m', "
                     "shift'", (m, sh)),
                Step("TFLite reference", "MBQM(sum - n zx, m', shift') + zy, clamped (ties away)",
                     min(t.max, max(t.min, fp.multiply_by_quantized_multiplier(acc, m, sh) + zy)))]
    if case.op in ("softmax", "softmax_int16") and e:
        return [Step("input x", "x", e["x"]), Step("row max", "max of the row along axis", e["row_max"]),
                Step("d", "max - x (the index of an exp table)", e["d"])]
    return []
