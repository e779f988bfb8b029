"""``refquant audit --suggest-vectors FILE`` for the variant ops: inputs on which the diagnosis' best
candidate and each other candidate semantics give different outputs, to drive in the next simulation
run (docs/audit.md §7).  For the element-wise ops (add, sub, mul, the per-element activations) the
inputs are single elements; for the others (pools, mean, concat, softmax, TOSA operators) whole input
tensors of the case's shapes (``suggest_tensors``).

Element probes: the type's ends, each zero point and its neighbours (saturation and the zero-point
edges); for a binary op the pairs whose exact result lies nearest a rounding tie (where the
backends' intermediate roundings part) and a seeded sample; for a unary op every 8-bit code or a
seeded sample of the 16-bit ones.
Every candidate (variants and faults of ``variants.case_candidates``) runs on the probes; up to
``per`` probes are kept for each candidate, the first in probe order that separate it from the best.
"""

import numpy as np

from ..integers import get_type

SAMPLE = 2048


def elementwise(case):
    """Whether the case's op is element-wise (its probes are single input elements)."""
    from .variants import BINARY_OPS, UNARY_OPS
    return case.op in BINARY_OPS or case.op in UNARY_OPS and not case.op.startswith("softmax")


def _edges(t, zp):
    return sorted({t.min, t.min + 1, t.max - 1, t.max, *(v for v in (zp - 1, zp, zp + 1) if t.min <= v <= t.max)})


def _near_ties(case, t, rng):
    """The SAMPLE / 2 input pairs whose exact result / sy lies nearest a rounding tie (k + 1/2), from
    the whole grid (8-bit) or a seeded sample of 2^16 pairs (16-bit)."""
    sa, za, sb, zb, sy, _ = (float(v) for v in case.q)
    if t.bits <= 8:
        a, b = (g.reshape(-1) for g in np.meshgrid(np.arange(t.min, t.max + 1), np.arange(t.min, t.max + 1)))
    else:
        a, b = rng.integers(t.min, t.max + 1, (2, 1 << 16))
    u, v = sa * (a - za), sb * (b - zb)
    r = {"add": u + v, "sub": u - v, "mul": u * v}[case.op] / sy
    inside = (r + case.q[5] >= t.min - 1) & (r + case.q[5] <= t.max + 1)      # saturated ties tell nothing
    near = np.argsort(np.where(inside, np.abs(r - np.floor(r) - 0.5), np.inf), kind="stable")[:SAMPLE // 2]
    return [(int(a[i]), int(b[i])) for i in near]


def probes(case, seed=0):
    """The probe inputs: {name: flat list}, edges first."""
    t = get_type(case.dtype)
    rng = np.random.default_rng(seed)
    if case.kind == "binary":
        ea, eb = _edges(t, case.q[1]), _edges(t, case.q[3])
        pairs = [(a, b) for a in ea for b in eb] + _near_ties(case, t, rng)
        pairs += [(int(a), int(b)) for a, b in rng.integers(t.min, t.max + 1, (SAMPLE // 2, 2))]
        return {"a": [p[0] for p in pairs], "b": [p[1] for p in pairs]}
    xs = _edges(t, case.q[1])
    xs += list(range(t.min, t.max + 1)) if t.bits <= 8 else [int(v) for v in rng.integers(t.min, t.max + 1, SAMPLE)]
    return {"x": xs}


def suggest(case, diagnosis, per=3):
    """[{name, kind, tied, vectors: [{inputs, outputs: {candidate: y}}]}] for every applicable
    candidate other than the best (those tied with it first)."""
    from dataclasses import replace

    from . import variants as V
    from ..certified import possible
    best = diagnosis.get("best")
    ins = probes(case)
    n = len(next(iter(ins.values())))
    probe = replace(case, inputs=ins, name=f"{case.name} (probes)")
    outs = {}
    for kind, name, fn in V.case_candidates(case):
        try:
            outs[name] = (kind, V.run(probe, fn))
        except V.RefquantError:
            continue
    if best not in outs:
        return []
    ties = set(diagnosis.get("ties", []))
    res = []
    for name, (kind, ys) in sorted(outs.items(), key=lambda kv: kv[0] not in ties):
        if name == best:
            continue
        picked = [i for i in range(n) if not possible(ys[i]) & possible(outs[best][1][i])][:per]
        res.append({"name": name, "kind": kind, "tied": name in ties,
                    "vectors": [{"inputs": {k: v[i] for k, v in ins.items()},
                                 "outputs": {best: _show(outs[best][1][i]), name: _show(ys[i])}} for i in picked]})
    return res


def _show(v):
    return v if isinstance(v, int) else list(v.candidates)


def write(path, case, entries, best):
    """Write the vectors as $readmemh lines (one word per input, two's complement, ``//`` comments)."""
    t = get_type(case.dtype)
    digits = (t.bits + 3) // 4
    lines = [f"// refquant audit --suggest-vectors: {case.op} {case.dtype} inputs "
             f"({', '.join(k for k in ('a', 'b', 'x') if k in case.inputs)}) that tell '{best}' from the other "
             "candidate semantics", f"// case: {case.name}"]
    merged = {}                    # one line per input: every candidate's output there
    for e in entries:
        if not e["vectors"]:
            lines.append(f"// {e['name']}: no probed input tells it from '{best}'")
        for v in e["vectors"]:
            key = tuple(v["inputs"].items())
            m = merged.setdefault(key, {"outputs": {}, "tied": False})
            m["outputs"].update(v["outputs"])
            m["tied"] |= e["tied"]
    for key, m in merged.items():
        words = " ".join(format(x & ((1 << t.bits) - 1), f"0{digits}x") for _, x in key)
        outs = ", ".join(f"{k} -> {y}" for k, y in m["outputs"].items())
        lines.append(f"{words}  // {', '.join(f'{k}={x}' for k, x in key)}: {outs}"
                     + (" (a candidate tied in the dump)" if m["tied"] else ""))
    seen = merged
    with open(path, "w", encoding="ascii", errors="replace") as f:
        f.write("\n".join(lines) + "\n")
    return len(seen)


# ##########################################################################
# The other variant ops (pools, mean, concat, softmax, TOSA operators): whole input tensors
# ##########################################################################

def _tensors(case):
    """[(label, nested list)] of the case's input tensors, in order."""
    if "inputs" in case.inputs:
        return [(f"inputs[{i}].x", x) for i, (x, _, _) in enumerate(case.inputs["inputs"])]
    return list(case.inputs.items())


def _with(case, arrays):
    from dataclasses import replace
    if "inputs" in case.inputs:
        ins = {"inputs": [(a, s, z) for a, (_, s, z) in zip(arrays, case.inputs["inputs"])]}
    else:
        ins = dict(zip(case.inputs, arrays))
    return replace(case, inputs=ins, name=f"{case.name} (probe)")


def _zero_point(case):
    if case.kind == "unary" and case.q:
        return int(case.q[1])
    return int(case.attrs.get("zero_point", case.attrs.get("input_zp", 0)))


def tensor_probes(case, k=24, seed=0):
    """``k`` input tensor sets of the case's shapes: uniform, near the zero point (small sums: ties of
    an average), and the type's ends with the zero point (saturation, pads that could win)."""
    t = get_type(case.dtype)
    rng = np.random.default_rng(seed)
    zp = _zero_point(case)
    lo, hi = max(t.min, zp - 6), min(t.max, zp + 6)
    shapes = [np.shape(x) for _, x in _tensors(case)]
    out = []
    for i in range(k):
        kind = i % 3
        arrays = [(rng.integers(t.min, t.max + 1, s) if kind == 0 else rng.integers(lo, hi + 1, s) if kind == 1
                   else rng.choice([t.min, t.max, zp, zp + 1], s)).astype(np.int64).tolist() for s in shapes]
        out.append(arrays)
    return out


def suggest_tensors(case, diagnosis, k=24, most=4):
    """Greedily chosen probe tensor sets (at most ``most``) on which the best candidate and the most
    other candidates differ: [{"tensors": [(label, nested)], "separates": {name: elements}}], and the
    candidates no probe separated."""
    from . import variants as V
    from ..certified import possible
    best = diagnosis.get("best")
    seps = []
    for arrays in tensor_probes(case, k):
        probe = _with(case, arrays)
        outs = {}
        for _, name, fn in V.case_candidates(case):
            try:
                outs[name] = V.run(probe, fn)
            except V.RefquantError:
                continue
        if best not in outs:
            continue
        sep = {n: sum(1 for u, v in zip(ys, outs[best]) if not possible(u) & possible(v))
               for n, ys in outs.items() if n != best}
        seps.append((arrays, {n: c for n, c in sep.items() if c}))
    names = {n for _, _, n in ((None, None, r["name"]) for r in diagnosis.get("ranking", [])
                               if r.get("applicable") and r["name"] != best)}
    chosen, covered = [], set()
    while len(chosen) < most:
        arrays, sep = max(seps, key=lambda p: (len(set(p[1]) - covered),
                                               min((p[1][n] for n in set(p[1]) - covered), default=0)),
                          default=(None, {}))
        if arrays is None or not set(sep) - covered:
            break
        covered |= set(sep)
        chosen.append({"tensors": [(lbl, a) for (lbl, _), a in zip(_tensors(case), arrays)], "separates": sep})
    return chosen, sorted(names - covered)


def write_tensors(path, case, chosen, never, best):
    """Write each chosen tensor set as $readmemh words (row-major), each block under comments."""
    t = get_type(case.dtype)
    digits = (t.bits + 3) // 4
    lines = [f"// refquant audit --suggest-vectors: {case.op} {case.dtype} input tensors on which '{best}' and the "
             "other candidate semantics differ", f"// case: {case.name}; one block per tensor set, row-major"]
    for i, c in enumerate(chosen):
        lines.append(f"// set {i + 1}: separates " + ", ".join(f"{n} ({m} element{'s' * (m != 1)})"
                                                               for n, m in sorted(c["separates"].items())))
        for lbl, arr in c["tensors"]:
            lines.append(f"// {lbl} shape {list(np.shape(arr))}")
            lines += [format(int(v) & ((1 << t.bits) - 1), f"0{digits}x") for v in np.ravel(arr)]
    lines += [f"// {n}: no probe tells it from '{best}'" for n in never]
    with open(path, "w", encoding="ascii", errors="replace") as f:
        f.write("\n".join(lines) + "\n")
    return len(chosen)
