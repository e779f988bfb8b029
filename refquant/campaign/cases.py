"""(campaign seed, task index) -> the task's case, regenerated anywhere.

The generator is numpy's PCG64 seeded with the SeedSequence of [seed, index] (a stream numpy keeps
stable across releases); the first draws pick the regime and the shape, then the scales, zero points
and data.  ``describe`` is the short, JSON-ready summary a task record keeps.

A case is a dict: op, a (M, K), b (K, N), za, zb (int, or an (N,) array per column), sa, sb (float32
value, or an (N,) float32 array), sy, zy, a_type, b_type, y_type, per_column, policy, method, and the
labels regime / scales / zero_points it was drawn from.
"""

import math

import numpy as np

from .. import requant as rq
from ..errors import RefquantError
from . import conv, quant

RANGE = {"int8": (-128, 127), "uint8": (0, 255)}
NP = {"int8": np.int8, "uint8": np.uint8}


def task_rng(seed, index):
    return np.random.default_rng([int(seed), int(index)])


def _pick(g, values):
    return values[int(g.integers(len(values)))]


def _dim(g, lo, hi):
    """Log-uniform integer in [lo, hi] (small and large shapes alike)."""
    if lo == hi:
        return lo
    return min(hi, max(lo, int(math.exp(g.uniform(math.log(lo), math.log(hi + 1))))))


def _regime(g, regimes):
    w = np.array([r["weight"] for r in regimes], dtype=np.float64)
    return regimes[int(g.choice(len(regimes), p=w / w.sum()))]


def _zp(g, t, mode, n=None):
    lo, hi = RANGE[t]
    if mode == "zero":
        v = np.zeros(n or 1, np.int64)
    elif mode == "extreme":
        v = g.choice([lo, hi], size=n or 1)
    else:
        v = g.integers(lo, hi + 1, n or 1)
    return v.astype(NP[t]) if n else int(v[0])


def _f32(v):
    return np.float32(v)


def _near(g, x, ulps):
    """The binary32 ``ulps`` steps from x (x a positive float32)."""
    bits = np.array([x], np.float32).view(np.uint32)[0]
    return np.array([bits + np.uint32(ulps) if ulps >= 0 else bits - np.uint32(-ulps)], np.uint32).view(np.float32)[0]


def _scales(g, mode, K, n_b):
    """(sa, sb per column (n_b values), sy) as float32, drawn for ``mode``."""
    spread = math.sqrt(K) * 64.0 * 64.0 / 48.0          # acc std / (output std ~ 48)
    if mode == "random":
        sa, sb = _f32(2.0 ** g.uniform(-9, -2)), _f32(2.0 ** g.uniform(-10, -3, n_b))
        sy = _f32(float(sa) * float(np.median(sb)) * spread * 2.0 ** g.uniform(-1.5, 1.5))
        return sa, sb, sy
    e = int(round(math.log2(spread))) + int(g.integers(-1, 2))
    sa, sb = _f32(2.0 ** -int(g.integers(3, 9))), _f32(2.0 ** -int(g.integers(3, 10)))
    sbs = np.full(n_b, sb, np.float32)
    sy = _f32(float(sa) * float(sb) * 2.0 ** e)            # M = 2^-e exactly: ties
    if mode == "near_tie":
        sbs = np.array([_near(g, sb, int(g.integers(-3, 4))) for _ in range(n_b)], np.float32)
        sy = _near(g, sy, int(g.choice([-3, -2, -1, 1, 2, 3])))
    elif mode == "extreme":
        e = int(g.choice([int(g.integers(-3, 2)), int(g.integers(24, 31))]))    # saturating or vanishing
        sy = _f32(float(sa) * float(sb) * 2.0 ** e * g.uniform(1, 2))
    return sa, sbs, sy


def _data(g, t, shape):
    lo, hi = RANGE[t]
    return g.integers(lo, hi + 1, shape).astype(NP[t])


def generate(spec, index, method_for):
    """The case of task ``index`` under ``spec``; ``method_for(op, per_axis)`` names the semantics compared
    (a requantization method, or for quantize_linear a quantize profile)."""
    g = task_rng(spec["seed"], index)
    r = _regime(g, spec["regimes"])
    M, K, N = (_dim(g, *r[d]) for d in ("m", "k", "n"))
    a_type, b_type = _pick(g, r["a_type"]), _pick(g, r["b_type"])
    smode, zmode = _pick(g, r["scales"]), _pick(g, r["zero_points"])
    per_col, policy = bool(_pick(g, r["per_column"])), _pick(g, r["policy"])
    smode = smode if r["op"] != "matmul_integer" else "none"
    case = {"seed": int(spec["seed"]), "task": int(index), "shape0": (M, N), "op": r["op"], "regime": r["name"],
            "scales": smode, "zero_points": zmode, "per_column": per_col, "policy": policy, "a_type": a_type,
            "b_type": b_type, "y_type": a_type, "method": method_for(r["op"], per_col)}
    if r["op"] == "quantize_linear":
        return quant.generate(case, g, smode, M, N)
    if r["op"] == "qlinear_conv":
        return _conv_case(case, g, r)
    case["za"] = _zp(g, a_type, zmode)
    case["zb"] = _zp(g, b_type, zmode, N) if per_col else _zp(g, b_type, zmode)
    case["zy"] = _zp(g, a_type, zmode)
    case["a"], case["b"] = _data(g, a_type, (M, K)), _data(g, b_type, (K, N))
    if r["op"] == "qlinear_matmul":
        _draw_scales(case, g, K, N)
    return case


def _draw_scales(case, g, K, n):
    """sa, sb (n per column), sy and params; scales outside the method's domain are redrawn
    (deterministically), and after 20 draws the case is marked skipped."""
    per = case["per_column"]
    for _ in range(20):
        sa, sbs, sy = _scales(g, case["scales"], K, n if per else 1)
        if case["scales"] == "near_tie" and case["op"] == "qlinear_matmul":
            sy = _tie_at_one_element(case, g, sa, sbs) or sy
        case.update(sa=sa, sb=sbs if per else sbs[0], sy=sy)
        try:
            case["params"] = params_of(case)
            case.pop("skip", None)
            return
        except RefquantError as exc:
            case["params"] = None
            case["skip"] = f"no scales in the domain of {case['method']} after 20 draws ({exc})"


def _tie_at_one_element(case, g, sa, sbs):
    """A y scale that puts one random output element's acc*M within about 2^-24 (relative) of a
    half-integer: sy = fl32(sa*sb_j*|t|/(h + 1/2)) for that element's accumulator t.  Binary32, binary64
    and exact requantizations part there (and on every element with the same accumulator)."""
    M, N = case["a"].shape[0], case["b"].shape[1]
    i, j = int(g.integers(M)), int(g.integers(N))
    zb = int(np.asarray(case["zb"]).reshape(-1)[j if case["per_column"] else 0])
    t = int((case["a"][i].astype(np.int64) - case["za"]) @ (case["b"][:, j].astype(np.int64) - zb))
    if t == 0:
        return None
    h = int(g.integers(0, 100))
    sb = float(sbs[j] if case["per_column"] else sbs[0])
    sy = np.float32(float(sa) * sb * abs(t) / (h + 0.5))
    return sy if np.isfinite(sy) and sy > 0 else None


def _conv_case(case, g, r):
    geo = conv.geometry(g, r)
    a_type, b_type, zmode = case["a_type"], case["b_type"], case["zero_points"]
    case["geometry"] = geo
    case["za"] = _zp(g, a_type, zmode)
    case["zb"] = _zp(g, b_type, zmode, geo["M"]) if case["per_column"] else _zp(g, b_type, zmode)
    case["zy"] = _zp(g, a_type, zmode)
    case["x"] = _data(g, a_type, (geo["N"], geo["C"], geo["H"], geo["W"]))
    case["w"] = _data(g, b_type, (geo["M"], geo["Cg"], geo["kH"], geo["kW"]))
    _draw_scales(case, g, geo["Cg"] * geo["kH"] * geo["kW"], geo["M"])
    return case


def params_of(case):
    """The ``requant.Params`` of the case's method and scales."""
    sb = [float(v) for v in case["sb"]] if case["per_column"] else float(case["sb"])
    return rq.derive_params(case["method"], float(case["sa"]), sb, float(case["sy"]))


def dims(case):
    """(M, K, N) of a case (K = 1 for quantize_linear)."""
    if case["op"] == "quantize_linear":
        return int(case["x"].shape[0]), 1, int(case["x"].shape[1])
    if case["op"] == "qlinear_conv":
        oh, ow = conv.out_hw(case)
        w = case["w"].shape
        return int(case["x"].shape[0]) * oh * ow, int(w[1] * w[2] * w[3]), int(w[0])
    return int(case["a"].shape[0]), int(case["a"].shape[1]), int(case["b"].shape[1])


def elements(case):
    M, _K, N = dims(case)
    return M * N


def describe(case):
    """A short JSON-ready summary of a case."""
    d = {"op": case["op"], "regime": case["regime"], "shape": list(dims(case)),
         "types": f"{case['a_type']}x{case['b_type']}", "scales": case["scales"], "zero_points": case["zero_points"],
         "per_column": case["per_column"], "policy": case["policy"], "method": case["method"]}
    if case["op"] == "quantize_linear":
        d["scale"] = [float(v) for v in np.atleast_1d(case["scale"])][:4]
    if case["op"] == "qlinear_conv":
        g = case["geometry"]
        d["conv"] = {"x": list(case["x"].shape), "w": list(case["w"].shape), "strides": g["strides"],
                     "pads": g["pads"], "dilations": g["dilations"], "group": g["group"]}
    if case["op"] in ("qlinear_matmul", "qlinear_conv") and case.get("sa") is not None:
        d["sa"], d["sy"] = float(case["sa"]), float(case["sy"])
        d["sb"] = [float(v) for v in np.atleast_1d(case["sb"])][:4]
    return d


def subcase(case, rows=None, cols=None, ks=None):
    """The case restricted to rows of A, columns of B and reduction indices k (the shrinker's cut)."""
    if case["op"] == "quantize_linear":
        return quant.subcase(case, rows, cols)
    c = dict(case)
    a, b = case["a"], case["b"]
    c["rows"] = np.arange(a.shape[0]) if case.get("rows") is None else np.asarray(case["rows"])
    c["cols"] = np.arange(b.shape[1]) if case.get("cols") is None else np.asarray(case["cols"])
    if rows is not None:
        a, c["rows"] = a[rows], c["rows"][rows]
    if ks is not None:
        a, b = a[:, ks], b[ks]
    if cols is not None:
        b, c["cols"] = b[:, cols], c["cols"][cols]
        if case["per_column"]:
            c["zb"] = np.asarray(case["zb"])[cols]
            if case.get("sb") is not None:
                c["sb"] = np.asarray(case["sb"])[cols]
    c["a"], c["b"] = np.ascontiguousarray(a), np.ascontiguousarray(b)
    if c["op"] == "qlinear_matmul" and c.get("params") is not None:
        c["params"] = params_of(c)
    return c
