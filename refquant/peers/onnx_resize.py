"""Resize, mode 'nearest', in the two ONNX peers against refquant/onnx_resize.py.

``resize_case`` draws a random case (4-D NCHW input of 1-12 by 1-12 elements, sizes or binary32
scales, one coordinate_transformation_mode and one nearest_mode); ``run_resize`` runs one Resize
node (opset 21, uint8 data, graph optimizations off) in onnxruntime or the onnx ReferenceEvaluator.
``ort_resize_rows`` / ``ref_resize_rows`` are the rows of ``refquant verify onnxruntime`` /
``refquant verify onnx``: one row per mode pair over a seeded sample, and one row per named
deviation's reproducer.  ``sweep`` counts the elements where each peer differs from the exact
ideal and from its variant (docs/ops.md records the numbers).
"""

import numpy as np

from .. import movement as mv
from .. import onnx_resize as R

MODE_PAIRS = [(ct, nm) for nm in mv.NEAREST_MODES for ct in mv.COORDINATE_MODES if ct != "tf_crop_and_resize"]


def run_resize(runner, x, ct, nm, sizes=None, scales=None, roi=None, **attrs):
    """One Resize node (mode 'nearest') on ``x`` with ``sizes`` (int64) or ``scales`` (float32), a
    float32 ``roi`` where given, and the attributes ``attrs`` (extrapolation_value, axes,
    keep_aspect_ratio_policy)."""
    from .onnx_qops import _node
    r = ("r", "") if roi is None else ("r", "r")
    if sizes is not None:
        ins, init = ["x", r[1], "", "s"], [("s", np.array(sizes, np.int64))]
    else:
        ins, init = ["x", r[1], "s"], [("s", np.array(scales, np.float32))]
    if roi is not None:
        init.append(("r", np.array(roi, np.float32)))
    node = _node("Resize", ins, ["y"], mode="nearest", coordinate_transformation_mode=ct, nearest_mode=nm,
                 **{k: v for k, v in attrs.items() if v is not None})
    return runner([node], [("x", x)], init, x.dtype)


def resize_case(rng):
    """(x, sizes, scales): x holds 0, 1, 2, ... so each output element names its source; half the
    cases give sizes up to 24, half binary32 scales (uniform in [0.2, 3.5] or a small ratio p/q)."""
    shape = (1, 1, int(rng.integers(1, 13)), int(rng.integers(1, 13)))
    x = (np.arange(shape[2] * shape[3]) % 256).astype(np.uint8).reshape(shape)
    if rng.random() < 0.5:
        return x, [1, 1, int(rng.integers(1, 25)), int(rng.integers(1, 25))], None
    scales = [float(np.float32(rng.uniform(0.2, 3.5) if rng.random() < 0.5 else
                                int(rng.integers(1, 30)) / int(rng.integers(1, 12)))) for _ in range(2)]
    return x, None, [1.0, 1.0] + scales


def _outputs(x, sizes, scales, ct, nm, runner, variant):
    """(peer, exact, variant) flattened, or None for an empty output (no element to compare); the
    exact array is None where its shape differs from the variant's (a different output length)."""
    kw = dict(scales=scales, sizes=sizes, coordinate_transformation_mode=ct, nearest_mode=nm)
    model = np.array(variant(x, **kw), dtype=np.int64)
    if model.size == 0 or 0 in model.shape:
        return None
    got = run_resize(runner, x, ct, nm, sizes, scales).astype(np.int64)
    exact = np.array(mv.resize_nearest(x, **kw), dtype=np.int64)
    return got.ravel(), (exact.ravel() if exact.shape == model.shape else None), model.ravel()


def sweep(peer, seed, min_elements, progress=None):
    """Random cases over the 20 mode pairs until ``min_elements`` output elements: {"elements",
    "differ_from_exact", "differ_from_variant", "by_pair": {(ct, nm): [elements, exact, variant]}}."""
    from .onnx_qops import run_ort, run_ref
    runner, variant = (run_ort, R.ort_resize_nearest) if peer == "ort" else (run_ref, R.ref_resize_nearest)
    rng = np.random.default_rng(seed)
    out = {"elements": 0, "differ_from_exact": 0, "differ_from_variant": 0, "by_pair": {}}
    k = 0
    while out["elements"] < min_elements:
        ct, nm = MODE_PAIRS[k % len(MODE_PAIRS)]
        k += 1
        x, sizes, scales = resize_case(rng)
        res = _outputs(x, sizes, scales, ct, nm, runner, variant)
        if res is None:
            continue
        got, exact, model = res
        cell = out["by_pair"].setdefault((ct, nm), [0, 0, 0])
        same = got.shape == model.shape
        d = [got.size, got.size if exact is None or not same else int((got != exact).sum()),
             int((got != model).sum()) if same else got.size]
        for i, key in enumerate(("elements", "differ_from_exact", "differ_from_variant")):
            out[key] += d[i]
            cell[i] += d[i]
        if progress and k % 200 == 0:
            progress(f"{peer} resize sweep: {out['elements']} elements, {out['differ_from_variant']} unexplained")
    return out


ORT_DEVIATION = "ORT Resize nearest: binary32 coordinates"
REF_DEVIATION = "onnx reference Resize nearest: float64 coordinates, fractional output length"
# The reproducers each named deviation's text quotes: (what it shows, x length, sizes or scales of the
# last axis, coordinate_transformation_mode, nearest_mode).
ORT_REPRODUCERS = [
    ("binary32 coordinate of an exact integer", 7, {"sizes": 19}, "half_pixel", "ceil"),
    ("ties within 1e-6", 64, {"scales": 2.0000002384185791}, "asymmetric", "round_prefer_ceil"),
    ("same-shape output is a copy", 5, {"scales": 1.19}, "asymmetric", "floor"),
    ("output length trunc(fl32(scale * in))", 3, {"scales": 5 / 3}, "asymmetric", "floor"),
]
REF_REPRODUCERS = [
    ("align_corners divides by in*scale - 1", 7, {"scales": 0.6}, "align_corners", "floor"),
    ("neighbours of the padded coordinate fl64(c + 1)", 7, {"sizes": 17}, "pytorch_half_pixel", "round_prefer_floor"),
]


def _reproducer(n, given):
    x = np.arange(n, dtype=np.uint8).reshape(1, 1, 1, n)
    key, v = next(iter(given.items()))
    kw = {"sizes": [1, 1, 1, v]} if key == "sizes" else {"scales": [1.0, 1.0, 1.0, float(np.float32(v))]}
    return x, kw.get("sizes"), kw.get("scales")


def _rows(runner, variant, reproducers, variant_deviation, seed, cases_per_pair, judge_row, shape_row):
    rng = np.random.default_rng(seed)
    rows, other_length = [], []
    for ct, nm in MODE_PAIRS:
        parts = []
        while len(parts) < cases_per_pair:
            res = _outputs(*resize_case(rng), ct, nm, runner, variant)
            if res is not None:
                (parts if res[1] is not None else other_length).append(res)
        got, exact, model = (np.concatenate([p[i] for p in parts]) for i in range(3))
        rows.append(judge_row(f"Resize nearest {ct} / {nm}", f"{cases_per_pair} random cases (sizes, scales)",
                              got, exact, model, variant_deviation))
    if other_length:
        rows.append(shape_row(f"{len(other_length)} random cases with another output length", other_length))
    for what, n, given, ct, nm in reproducers:
        x, sizes, scales = _reproducer(n, given)
        got, exact, model = _outputs(x, sizes, scales, ct, nm, runner, variant)
        flag = f"reproducer ({what}): {n} -> {given}"
        if exact is None:
            rows.append(shape_row(f"{flag}, {ct} / {nm}", [(got, exact, model)]))
            continue
        rows.append(judge_row(f"Resize nearest {ct} / {nm}", flag, got, exact, model, variant_deviation))
    return rows


def _ort_shape_row(flag, cases):
    """Cases whose onnxruntime output length differs from the spec's floor(scale * in): no element
    compares, so the row is KNOWN when every output equals the 'ort' variant's (its length included);
    every element counts as differing."""
    from .conformance import DIFFER, KNOWN, Row
    from .versions import deviation
    ok = all(got.shape == model.shape and np.array_equal(got, model) for got, _, model in cases)
    n = sum(got.size for got, _, _ in cases)
    if not ok:
        return Row("onnxruntime", "Resize nearest", "refquant movement (exact)", flag, DIFFER, n, n,
                   note="no documented deviation explains it")
    return Row("onnxruntime", "Resize nearest", "refquant movement (exact)", flag, KNOWN, n, n, ORT_DEVIATION,
               deviation("onnxruntime", ORT_DEVIATION, "resize_nearest").text)


def ort_resize_rows(cases_per_pair=4):
    """Rows of ``refquant verify onnxruntime``: Resize nearest vs the exact ideal, explained by the
    'ort' variant (refquant/onnx_resize.py)."""
    from .conformance import judge
    from .onnx_qops import run_ort
    from .versions import known

    def row(op, flag, got, exact, model, dev):
        return judge("onnxruntime", op, "refquant movement (exact)", flag, got, exact,
                     [known("onnxruntime", dev, model, "resize_nearest")])
    return (_rows(run_ort, R.ort_resize_nearest, ORT_REPRODUCERS, ORT_DEVIATION, 51, cases_per_pair, row,
                  _ort_shape_row) + extra_rows("ort", 53, cases_per_pair))


def ref_resize_rows(cases_per_pair=4):
    """Rows of ``refquant verify onnx``: Resize nearest vs the exact ideal, explained by the
    'onnx_ref' variant (refquant/onnx_resize.py)."""
    from .conformance import judge
    from .onnx_qops import run_ref
    from .versions import known

    def row(op, flag, got, exact, model, dev):
        return judge("onnx", op, "refquant movement (exact)", flag, got, exact,
                     [known("onnx", dev, model, "resize_nearest")])
    def shape_row(flag, cases):
        from .conformance import DIFFER, Row
        n = sum(got.size for got, _, _ in cases)
        return Row("onnx", "Resize nearest", "refquant movement (exact)", flag, DIFFER, n, n,
                   note="output length differs from the spec's floor(scale * in)")
    return (_rows(run_ref, R.ref_resize_nearest, REF_REPRODUCERS, REF_DEVIATION, 52, cases_per_pair, row,
                  shape_row) + extra_rows("ref", 54, cases_per_pair))


# ##########################################################################
# tf_crop_and_resize (roi, extrapolation_value), keep_aspect_ratio_policy, axes (opset 18+)
# ##########################################################################

EXTRAPOLATE = 200      # the extrapolation value of the sweeps: no input element (0 .. 143) has it
EXTRA_KINDS = ("crop", "policy", "axes")


def extra_case(rng, kind, negative_axes=True):
    """(x, keyword arguments of the variants) for one random case of ``kind``: 'crop'
    (tf_crop_and_resize, a float32 roi in [-0.3, 1.3] on the last two axes or all four, sizes or
    scales), 'policy' (sizes with not_larger / not_smaller) or 'axes' (scales or sizes of listed axes only)."""
    x, sizes, scales = resize_case(rng)
    nm = mv.NEAREST_MODES[int(rng.integers(4))]
    axes = [None, [2, 3], [3, 2], [-1, -2] if negative_axes else [3]][int(rng.integers(4))]
    if kind == "axes" and axes is None:
        axes = [3]
    if axes is not None:
        sizes = None if sizes is None else [sizes[a] for a in axes]
        scales = None if scales is None else [scales[a] for a in axes]
    kw = dict(sizes=sizes, scales=scales, nearest_mode=nm, axes=axes)
    if kind == "crop":
        n = 4 if axes is None else len(axes)
        r = [float(np.float32(v)) for v in rng.uniform(-0.3, 1.3, 2 * n)]
        if axes is None:
            r[0], r[1], r[4], r[5] = 0.0, 0.0, 1.0, 1.0
        return x, dict(kw, coordinate_transformation_mode="tf_crop_and_resize", roi=r, extrapolation_value=EXTRAPOLATE)
    ct = [m for m in mv.COORDINATE_MODES if m != "tf_crop_and_resize"][int(rng.integers(5))]
    if kind == "policy":
        if sizes is None:
            sizes = [int(v) for v in rng.integers(1, 25, len(axes) if axes else 4)]
            if axes is None:
                sizes[0], sizes[1] = 1, 1
        policy = ("not_larger", "not_smaller")[int(rng.integers(2))]
        return x, dict(kw, sizes=sizes, scales=None, coordinate_transformation_mode=ct, keep_aspect_ratio_policy=policy)
    return x, dict(kw, coordinate_transformation_mode=ct)


def extra_outputs(x, kw, runner, variant):
    """(peer, exact or None where the spec's output shape differs, variant) flattened, or None for an
    empty output."""
    model = np.array(variant(x, **kw), dtype=np.int64)
    if model.size == 0 or 0 in model.shape:
        return None
    attrs = {k: kw.get(k) for k in ("extrapolation_value", "keep_aspect_ratio_policy", "axes")}
    if attrs["extrapolation_value"] is not None:
        attrs["extrapolation_value"] = float(attrs["extrapolation_value"])
    got = run_resize(runner, x, kw["coordinate_transformation_mode"], kw["nearest_mode"], kw.get("sizes"),
                     kw.get("scales"), kw.get("roi"), **attrs).astype(np.int64)
    exact = np.array(mv.resize_nearest(x, **kw), dtype=np.int64)
    return got, (exact.ravel() if exact.shape == got.shape else None), model


def extra_sweep(peer, seed, cases_per_kind, progress=None):
    """{kind: [cases, elements, elements differing from the spec (a case with another output shape
    counts whole), elements differing from the variant (likewise)]} over random extra_case draws
    (``cases_per_kind``: one count, or {kind: count})."""
    from .onnx_qops import run_ort, run_ref
    runner, variant = (run_ort, R.ort_resize_nearest) if peer == "ort" else (run_ref, R.ref_resize_nearest)
    rng = np.random.default_rng(seed)
    out = {}
    for kind in EXTRA_KINDS:
        cell = out.setdefault(kind, [0, 0, 0, 0])
        while cell[0] < (cases_per_kind[kind] if isinstance(cases_per_kind, dict) else cases_per_kind):
            res = extra_outputs(*extra_case(rng, kind, peer == "ort"), runner, variant)
            if res is None:
                continue
            got, exact, model = res
            same = got.shape == model.shape
            cell[0] += 1
            cell[1] += got.size
            cell[2] += got.size if exact is None else int((got.ravel() != exact).sum())
            cell[3] += int((got != model).sum()) if same else got.size
        if progress:
            progress(f"{peer} resize {kind}: {cell}")
    return out


ORT_EXTRA_DEVIATION = "ORT Resize crop / aspect policy / axes"
REF_EXTRA_DEVIATION = "onnx reference Resize crop / aspect policy / axes"


def extra_rows(peer, seed, cases):
    """Rows of ``refquant verify onnxruntime`` / ``onnx`` for tf_crop_and_resize, keep_aspect_ratio_policy
    and axes: per kind, one row of the cases with the spec's output shape (judged, explained by the
    variant) and one of the cases with another shape (KNOWN when each equals the variant's output)."""
    from .conformance import DIFFER, KNOWN, Row, judge
    from .onnx_qops import run_ort, run_ref
    from .versions import deviation, known
    backend, dev = ("onnxruntime", ORT_EXTRA_DEVIATION) if peer == "ort" else ("onnx", REF_EXTRA_DEVIATION)
    runner, variant = (run_ort, R.ort_resize_nearest) if peer == "ort" else (run_ref, R.ref_resize_nearest)
    rng, rows, op, against = np.random.default_rng(seed), [], "Resize nearest", "refquant movement (exact)"
    for kind in EXTRA_KINDS:
        same, other = [], []
        while len(same) + len(other) < cases:
            res = extra_outputs(*extra_case(rng, kind, peer == "ort"), runner, variant)
            if res is not None:
                (same if res[1] is not None else other).append(res)
        if same:
            got, exact, model = (np.concatenate([c[i].ravel() for c in same]) for i in range(3))
            rows.append(judge(backend, op, against, f"{kind}: {len(same)} random cases", got, exact,
                              [known(backend, dev, model, "resize_nearest")]))
        if other:
            ok = all(g.shape == m.shape and np.array_equal(g, m) for g, _, m in other)
            n, flag = sum(g.size for g, _, _ in other), f"{kind}: {len(other)} random cases with another output shape"
            rows.append(Row(backend, op, against, flag, KNOWN, n, n, dev, deviation(backend, dev, "resize_nearest").text)
                        if ok else Row(backend, op, against, flag, DIFFER, n, n,
                                       note="no documented deviation explains it"))
    return rows
