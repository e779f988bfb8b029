"""The quantize_linear op of a campaign (ONNX QuantizeLinear: binary32 x (M, N) -> int8 / uint8, per
tensor or per axis 1): drawing its cases, its expected outputs and its audit case form.

The case keeps the GEMM case's keys where they mean the same (op, seed, task, shape0, rows, cols,
per_column, zero_points, scales, regime, y_type) and adds x (float32 (M, N)), scale (float32, or
(N,) per axis), zp (int, or (N,) per axis) and method (the quantize profile of refquant/profiles.py
the device is expected to implement).  Expected outputs: refquant.quantize.quantize under that
profile on the distinct values of each column (its proven-equal fast path), never an approximation.
"""

import numpy as np

from .. import quantize as qz

RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


def _f32(v):
    return np.asarray(v, dtype=np.float32)


def _nudge(x, ulps):
    """x moved by ``ulps`` binary32 steps (toward +inf for positive ulps; sign-aware)."""
    bits = x.view(np.int32).astype(np.int64)
    step = np.where(x < 0, -ulps, ulps)
    return (bits + step).astype(np.int32).view(np.float32)


def _scale(g, mode, n):
    if mode == "tie":
        return _f32(2.0 ** g.integers(-10, 1, n).astype(np.float64))
    return _f32(2.0 ** g.uniform(-10, 0, n))


def _x(g, mode, y_type, M, N, s, zp):
    lo, hi = RANGE[y_type]
    q = g.integers(lo - 8, hi + 9, (M, N)).astype(np.float64) - zp[None, :]
    if mode == "random":
        return _f32((q + g.uniform(-0.5, 0.5, (M, N))) * s[None, :].astype(np.float64))
    half = _f32((q + 0.5) * s[None, :].astype(np.float64))          # exact when s is a power of two
    if mode == "tie":
        return half
    if mode == "near_tie":
        return _nudge(half, g.integers(-2, 3, (M, N)))
    special = _f32([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e30, -1e30, 1e-40, -1e-40, 3.4028235e38])
    x = half.copy()
    pick = g.random((M, N)) < 0.5
    x[pick] = special[g.integers(0, special.size, int(pick.sum()))]
    return x


def generate(case, g, smode, M, N):
    """Fill ``case`` (already holding the shared keys) with x, scale, zp for quantize_linear."""
    y, per = case["y_type"], case["per_column"]
    lo, hi = RANGE[y]
    n = N if per else 1
    zp = {"zero": np.zeros(n, np.int64), "extreme": g.choice([lo, hi], n)}.get(case["zero_points"])
    zp = g.integers(lo, hi + 1, n) if zp is None else zp
    s = _scale(g, smode, n)
    zpb, sb = np.broadcast_to(zp, (N,)), np.broadcast_to(s, (N,))
    with np.errstate(over="ignore"):
        case["x"] = _x(g, smode, y, M, N, sb, zpb)
    case["scale"] = s if per else s[0]
    case["zp"] = zp.astype(np.int64) if per else int(zp[0])
    return case


def expected(case):
    """int64 (M, N): refquant.quantize.quantize under the case's profile, on each column's distinct values."""
    x = case["x"]
    M, N = x.shape
    out = np.empty((M, N), np.int64)
    cols = range(N) if case["per_column"] else [None]
    for j in cols:
        v = x[:, j] if j is not None else x.reshape(-1)
        s = float(case["scale"][j]) if j is not None else float(case["scale"])
        z = int(case["zp"][j]) if j is not None else int(case["zp"])
        uniq, inv = np.unique(v.view(np.uint32), return_inverse=True)
        q = np.asarray(qz.quantize(uniq.view(np.float32), s, z, case["y_type"], case["method"]), np.int64)[inv]
        if j is None:
            out[:] = q.reshape(M, N)
        else:
            out[:, j] = q
    return out


def subcase(case, rows=None, cols=None):
    c = dict(case)
    x = case["x"]
    c["rows"] = np.arange(x.shape[0]) if case.get("rows") is None else np.asarray(case["rows"])
    c["cols"] = np.arange(x.shape[1]) if case.get("cols") is None else np.asarray(case["cols"])
    if rows is not None:
        x, c["rows"] = x[rows], c["rows"][rows]
    if cols is not None:
        x, c["cols"] = x[:, cols], c["cols"][cols]
        if case["per_column"]:
            c["scale"], c["zp"] = np.asarray(case["scale"])[cols], np.asarray(case["zp"])[cols]
    c["x"] = np.ascontiguousarray(x)
    return c


def case_json(case):
    M, N = case["x"].shape
    d = {"op": "quantize", "name": f"campaign seed {case['seed']} task {case['task']}",
         "x": {"file": "x.hex", "dtype": "float32", "shape": [M, N]}, "dtype": case["y_type"],
         "profile": case["method"]}
    if case["per_column"]:
        d.update(axis=1, scale=[float(v) for v in case["scale"]], zero_point=[int(v) for v in case["zp"]])
    else:
        d.update(scale=float(case["scale"]), zero_point=int(case["zp"]))
    return d
