"""Ties in the diagnosis: candidates that explain a dump equally well, and the int32 accumulators
that tell them apart (``tie_vectors``), written as a ``$readmemh`` file (``write_readmemh``) for
the next simulation run (``refquant audit --suggest-vectors FILE``).

The accumulators are probed, not searched exhaustively: small values, the neighbourhood of every
output level's rounding boundary (acc*M = k + 1/2), accumulators whose product acc*m lies within
a window of the rounding point of a fixed-point multiplier (solved exactly modulo 2^T), the
saturation edges, INT32_MIN/MAX and a seeded random sample of int32.
"""

import time
from dataclasses import replace
from fractions import Fraction

import numpy as np

from .candidates import apply_candidate
from .numpy_forms import UNPRED

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


def multiplier(ch):
    """The real multiplier of one channel's params (Fraction), or None when none is recognisable."""
    if "M" in ch and ch["M"] is not None:
        try:
            return Fraction(ch["M"])
        except (TypeError, ValueError, OverflowError):
            return None
    if "m" in ch and "shift" in ch:
        return Fraction(ch["m"]) * Fraction(2) ** (ch["shift"] - 31)
    if "m" in ch and "s" in ch:
        return Fraction(ch["m"], 2 ** ch["s"])
    return None


def near_tie_solutions(m, T, window=2048):
    """Accumulators with acc*m mod 2^T within ``window`` of 2^(T-1) (exact modular solve)."""
    if m == 0 or T < 1 or T > 62:
        return []
    k = (abs(m) & -abs(m)).bit_length() - 1          # m = m' 2^k, m' odd
    mod = 1 << max(T - k, 0)
    if mod <= 1:
        return []
    inv = pow((m >> k) % mod, -1, mod)
    out = []
    base = 1 << (T - 1)
    for r in range(base - window, base + window + 1):
        if r % (1 << k):
            continue
        a = (r >> k) * inv % mod
        for cand in (a, a - mod):
            if INT32_MIN <= cand <= INT32_MAX:
                out.append(cand)
    return out


def probes(ch, lo=-128, hi=127, zp=0, seed=0):
    """int64 array of probe accumulators for channel params ``ch`` (see the module docstring)."""
    vals = set(range(-1024, 1025)) | {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, 2**30, -2**30}
    M = multiplier(ch)
    if M:
        for k in list(range(-300, 301)) + [lo - zp - 1, lo - zp, hi - zp, hi - zp + 1, 2 * hi, 2 * lo, 4 * hi]:
            c = (Fraction(2 * k + 1, 2)) / M
            if abs(c) < 2**31:
                f = int(c)
                vals.update(v for v in range(f - 2, f + 3) if INT32_MIN <= v <= INT32_MAX)
    if "m" in ch and "shift" in ch:
        for s in (ch["shift"], ch["shift"] - 1, ch["shift"] + 1, -ch["shift"]):
            vals.update(near_tie_solutions(ch["m"], 31 - s))
    rng = np.random.default_rng(seed)
    vals.update(int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 4096, endpoint=True))
    return np.array(sorted(vals), dtype=np.int64)


def _evaluate(case, cand, acc):
    rc = replace(case, op="requantize", tensors={"acc": acc}, attrs={**case.attrs, "y_type": case.y_type},
                 memo={})
    c = replace(cand, int_bias=None, acc_variant="wrap", layout="as is")
    sample = np.linspace(0, acc.size - 1, min(acc.size, 128)).astype(np.int64)   # oracle-only candidates
    vals, _how = apply_candidate(c, acc, rc, np.random.default_rng(0), sample)
    return vals.reshape(-1)


def tie_vectors(case, a, b, limit=3, memo=None):
    """Up to ``limit`` accumulators (channel 0) on which candidates ``a`` and ``b`` differ, smallest
    |acc| first: [{'acc', 'channel', 'outputs': {name: y}}]. ``memo`` caches a's values."""
    memo = {} if memo is None else memo
    if "acc" not in memo:
        lo, hi = _out_range(case)
        memo["acc"] = probes(a.params.channel(0), lo, hi, int(case.get("y_zero_point", 0))).reshape(-1, 1)
        memo["a"] = _evaluate(case, a, memo["acc"])
    acc, va = memo["acc"], memo["a"]
    vb = _evaluate(case, b, acc)
    flat = acc.reshape(-1)
    idx = np.flatnonzero((va != vb) & (va != UNPRED) & (vb != UNPRED))
    idx = idx[np.argsort(np.abs(flat[idx]), kind="stable")]
    out, seen = [], set()
    for i in idx:
        key = (int(va[i]) - int(vb[i]) > 0, abs(int(flat[i])) > 2**24)
        if key in seen and len(idx) > limit:
            continue
        seen.add(key)
        out.append({"acc": int(flat[i]), "channel": 0, "outputs": {a.name: int(va[i]), b.name: int(vb[i])}})
        if len(out) == limit:
            break
    return out


def _out_range(case):
    from .. import requant as rq
    return rq.out_range(case.y_type, case.attrs.get("qmin"), case.attrs.get("qmax"))


def ties(case, rows, best, limit=40, budget_s=1.5):
    """The ``CandidateRow``s tied with ``best`` (same matched/of), each with the vectors that tell it from best
    (searched for the first ``limit`` of them, within ``budget_s`` seconds)."""
    out, memo, t0 = [], {}, time.perf_counter()
    for r in rows:
        if r is best or r.matched != best.matched or r.of != best.of:
            continue
        entry = {"name": r.name, "semantics": r.semantics, "vectors": []}
        if time.perf_counter() - t0 > budget_s or len(out) >= limit:
            entry["note"] = "not searched (time budget of the tie search spent)"
        elif r.cand is not None and best.cand is not None:
            try:
                entry["vectors"] = tie_vectors(case, best.cand, r.cand, memo=memo)
            except (ArithmeticError, ValueError, KeyError):
                entry["vectors"] = []
            if not entry["vectors"]:
                entry["note"] = "no probed int32 accumulator tells them apart"
        else:
            entry["note"] = "differs in the accumulator or layout, not the requantization: try overflow vectors"
        out.append(entry)
    return out


def write_readmemh(path, case, tie_list, best_name):
    """Write every distinguishing accumulator as one 8-digit two's-complement int32 word per line,
    each with a ``//`` comment giving the output of each candidate. Returns the number written."""
    lines = [f"// refquant audit --suggest-vectors: int32 accumulators (channel 0, bias included) that tell "
             f"'{best_name}' from the candidates tied with it", f"// case: {case.name}, output {case.y_type}"]
    seen = set()
    for t in tie_list:
        for v in t["vectors"]:
            if v["acc"] in seen:
                continue
            outs = ", ".join(f"{k} -> {y}" for k, y in v["outputs"].items())
            lines.append(f"{v['acc'] & 0xFFFFFFFF:08x}  // acc {v['acc']}: {outs}")
            seen.add(v["acc"])
    with open(path, "w", encoding="ascii", errors="replace") as f:
        f.write("\n".join(lines) + "\n")
    return len(seen)
