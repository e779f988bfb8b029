"""Stimulus for a scoreboard: seeded random transactions and directed edge vectors.

``random_vectors(sb, n, K, seed)`` draws operands uniformly over their types; ``directed_vectors(sb,
K)`` lists the edges random stimulus misses (docs/hardware.md §3): rounding ties of the unit's
method, accumulator and bias overflow at INT32_MAX / INT32_MIN, output saturation edges, zero points
at both ends of their types, multipliers near 2^31 and every shift edge. Each vector is a dict of
scoreboard inputs plus ``why`` (a label); the parameters it varies (zero points, m, shift) are
per-transaction inputs, so a unit whose parameters are fixed should pass ``vary_params=False``.
"""

from fractions import Fraction

import numpy as np

from .. import requant as rq
from ..errors import RefquantError
from ..integers import get_type

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def _rng_type(name):
    t = get_type(name)
    return t.min, t.max


def random_vectors(sb, n, K=16, seed=0, bias_bits=20):
    """``n`` seeded random transactions for scoreboard ``sb`` (a, b of length K and a bias for 'dot';
    acc for 'requantize', mostly small, some over the whole int32 range; x for 'quantize')."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if sb.op == "dot":
            lo_a, hi_a = _rng_type(sb.a_type)
            lo_b, hi_b = _rng_type(sb.b_type)
            out.append({"a": rng.integers(lo_a, hi_a, K, endpoint=True).tolist(),
                        "b": rng.integers(lo_b, hi_b, K, endpoint=True).tolist(),
                        "bias": int(rng.integers(-2**bias_bits, 2**bias_bits)), "why": f"random {i}"})
        elif sb.op == "requantize":
            bits = 31 if i % 4 == 0 else 20
            out.append({"acc": int(rng.integers(-2**bits, 2**bits)), "why": f"random {i}"})
        else:
            out.append({"x": float(np.float32(rng.normal(0, 64 * (sb.scale or 1)))), "why": f"random {i}"})
    return out


def _as_transaction(sb, acc, K, why, **extra):
    """A transaction whose accumulator is ``acc``: operands at their zero points, acc in the bias."""
    if sb.op == "requantize":
        return {"acc": int(acc), "why": why, **extra}
    za = extra.get("a_zero_point", sb.value({}, "a_zero_point"))
    zb = extra.get("b_zero_point", sb.value({}, "b_zero_point"))
    return {"a": [za] * K, "b": [zb] * K, "bias": int(acc), "why": why, **extra}


def tie_accumulators(p, lo=-128, hi=127, zp=0, count=24, double=False):
    """Accumulators where acc*M is exactly (or nearest to) k + 1/2 for output levels around 0 and
    around the saturation edges, for channel params ``p`` ({'m', 'shift'} or {'M'}); with
    ``double`` (two roundings) also the exact ties of the first one, x*m = 2^30 modulo 2^31."""
    from ..audit.ties import multiplier, near_tie_solutions
    out = []
    if "m" in p and "shift" in p:
        out += sorted(near_tie_solutions(p["m"], 31 - p["shift"], window=0), key=abs)[:count]
        if double and p["shift"] <= 0:
            out += sorted(near_tie_solutions(p["m"], 31, window=0), key=abs)[:count]
    M = multiplier(p)
    if M:
        for k in list(range(-6, 6)) + [hi - zp, lo - zp - 1]:
            c = Fraction(2 * k + 1, 2) / M
            out += [v for v in (int(c), int(c) + (1 if c > 0 else -1)) if INT32_MIN <= v <= INT32_MAX]
    return out


def _param_sets(sb):
    """(label, per-transaction params) edges of the multiplier and shift for fixed-point methods."""
    if sb.method not in ("tflite_single", "tflite_double"):
        return []
    sets = [("m = 3*2^29 (exact ties), shift -3", {"m": 3 << 29, "shift": -3}),
            ("m = 3*2^29, shift -1 (exact ties)", {"m": 3 << 29, "shift": -1})]
    for m in (2**31 - 1, 2**31 - 2, 2**30):
        for shift in (-31, -30, -16, -1, 0, 1, 30):
            sets.append((f"m = {m}, shift {shift}", {"m": m, "shift": shift}))
    ok = []
    for label, p in sets:
        try:
            rq.make_params(sb.method, [p])
        except RefquantError:
            continue
        ok.append((label, p))
    return ok


def directed_vectors(sb, K=16, vary_params=True):
    """The directed edge vectors for scoreboard ``sb`` (see the module docstring)."""
    if sb.op == "quantize":
        return _quantize_edges(sb)
    out = []
    lo, hi = rq.out_range(sb.y_type, sb.qmin, sb.qmax)
    zy = sb.value({}, "y_zero_point")
    try:
        p = sb.params_of({}).channel(0)
    except RefquantError:
        p = None
    if p is not None:
        for acc in tie_accumulators(p, lo, hi, zy, double=sb.method == "tflite_double"):
            out.append(_as_transaction(sb, acc, K, f"rounding tie near acc {acc}"))
    for acc in (INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1, 0, 1, -1, 2**30, -2**30):
        out.append(_as_transaction(sb, acc, K, f"int32 edge acc {acc}"))
    if sb.op == "dot":
        out += _overflow_vectors(sb, K)
        if vary_params:
            out += _zero_point_edges(sb, K)
    if vary_params:
        for label, prm in _param_sets(sb):
            for acc in [INT32_MAX, INT32_MIN, 12345, -12345, 1, -1] + tie_accumulators(prm, lo, hi, zy, 4)[:6]:
                out.append(_as_transaction(sb, acc, K, f"{label}, acc {acc}", m=prm["m"], shift=prm["shift"]))
    return [t for t in out if _defined(sb, t)]


def _defined(sb, t):
    """Whether the method defines the output of transaction ``t`` (edges it leaves undefined are dropped)."""
    try:
        return sb.expected(t)["y"] is not None
    except RefquantError:
        return False


def _overflow_vectors(sb, K):
    lo_a, hi_a = _rng_type(sb.a_type)
    lo_b, hi_b = _rng_type(sb.b_type)
    za, zb = sb.value({}, "a_zero_point"), sb.value({}, "b_zero_point")
    pos = max((hi_a - za) * (hi_b - zb), (lo_a - za) * (lo_b - zb))
    amax, bmax = (hi_a, hi_b) if (hi_a - za) * (hi_b - zb) == pos else (lo_a, lo_b)
    amin, bmin = (hi_a, lo_b) if (hi_a - za) * (lo_b - zb) <= (lo_a - za) * (hi_b - zb) else (lo_a, hi_b)
    return [
        {"a": [amax] * K, "b": [bmax] * K, "bias": INT32_MAX - 10, "why": "accumulator overflow above INT32_MAX (bias last)"},
        {"a": [amin] * K, "b": [bmin] * K, "bias": INT32_MIN + 10, "why": "accumulator overflow below INT32_MIN (bias last)"},
        {"a": [amax] * K, "b": [bmax] * K, "bias": INT32_MAX, "why": "bias INT32_MAX after positive products"},
        {"a": [amin] * K, "b": [bmin] * K, "bias": INT32_MIN, "why": "bias INT32_MIN after negative products"},
        {"a": [amax] * K, "b": [bmax] * K, "bias": INT32_MIN, "why": "bias INT32_MIN after positive products (no overflow)"},
    ]


def _zero_point_edges(sb, K):
    out = []
    lo_a, hi_a = _rng_type(sb.a_type)
    lo_b, hi_b = _rng_type(sb.b_type)
    lo_y, hi_y = _rng_type(sb.y_type)
    rng = np.random.default_rng(7)
    for za in (lo_a, hi_a):
        for zb in (lo_b, hi_b):
            for zy in (lo_y, hi_y):
                a = rng.integers(lo_a, hi_a, K, endpoint=True).tolist()
                b = rng.integers(lo_b, hi_b, K, endpoint=True).tolist()
                out.append({"a": a, "b": b, "bias": 0, "a_zero_point": za, "b_zero_point": zb, "y_zero_point": zy,
                            "why": f"zero points at the ends: za {za}, zb {zb}, zy {zy}"})
    return out


def _quantize_edges(sb):
    s = float(sb.scale or 1)
    xs = [0.0, -0.0, s / 2, -s / 2, 1.5 * s, -1.5 * s, 2.5 * s, 127.5 * s, -128.5 * s, 1e30, -1e30]
    return [{"x": float(np.float32(x)), "why": f"quantize edge x = {x!r}"} for x in xs]
