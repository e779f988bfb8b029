"""Conformance rows: one peer result judged against the spec result (pass / known / differ /
unsupported), the golden-vector pairs that drive them, and the table and summary that print them."""

import functools
import importlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import RefquantError
from .versions import measured_text

PASS, KNOWN, DIFFER, UNSUPPORTED = "pass", "known", "differ", "unsupported"


@dataclass
class Row:
    backend: str
    op: str
    profile: str          # the semantics compared against (spec / method / profile)
    flag: str             # types, granularity, attribute, path ...
    status: str
    elements: int = 0
    differ: int = 0
    deviation: str = ""   # the name of a known deviation
    note: str = ""        # what it is, with the reference
    first: dict = field(default_factory=dict)
    peer: str = ""        # the PEERS key of the backend (empty for the kernel and golden rows)
    version: str = ""     # the installed version of that peer
    measured_on: list = field(default_factory=list)   # a known row: the peer versions the deviation was measured on


def _first(got, want, x=None):
    idx = tuple(int(i) for i in np.argwhere(got != want)[0])
    d = {"index": list(idx), "expected": scalar(want[idx]), "actual": scalar(got[idx])}
    if x is not None:
        d["input"] = scalar(x[idx])
    return d


def scalar(v):
    v = v.item() if hasattr(v, "item") else v
    return v


def judge(backend, op, profile, flag, got, spec, models=(), x=None):
    """A Row: ``got`` (array or the exception the backend raised) vs ``spec``; ``models`` are
    (name, note, expected array under that documented deviation)."""
    if isinstance(got, BaseException):
        msg = str(got).strip().splitlines()[0][:160] if str(got).strip() else type(got).__name__
        return Row(backend, op, profile, flag, UNSUPPORTED, note=msg)
    got, spec = np.asarray(got), np.asarray(spec)
    if got.shape != spec.shape:
        return Row(backend, op, profile, flag, DIFFER, spec.size, spec.size,
                   note=f"output shape {got.shape}, expected {spec.shape}")
    n = int(spec.size)
    diff = int((got != spec).sum())
    if diff == 0:
        return Row(backend, op, profile, flag, PASS, n, 0)
    for name, note, model in models:
        model = np.asarray(model)
        if model.shape == got.shape and np.array_equal(got, model):
            return Row(backend, op, profile, flag, KNOWN, n, diff, name, note, _first(got, spec, x))
    return Row(backend, op, profile, flag, DIFFER, n, diff, note="no documented deviation explains it",
               first=_first(got, spec, x))


# ##########################################################################
# Golden-vector rows: the shipped vectors drive the conformance table
# ##########################################################################

@functools.cache
def golden_index():
    """{(op, profile): {case name without its 'profile/' prefix: golden Case}} over the shipped
    quantize, matmul and conv sets; {} when refquant.golden or the sets are absent."""
    try:
        golden = importlib.import_module("refquant.golden")
        sets = {p.name: p for p in golden.find_sets(golden.default_root())}
    except (ImportError, OSError, RefquantError):
        return {}
    idx = {}
    for suite in ("quantize", "matmul", "conv"):
        if suite not in sets:
            continue
        try:
            cases = list(golden.load_set(sets[suite]).cases(numpy=True))
        except RefquantError:
            continue
        for c in cases:
            idx.setdefault((c.op, c.profile), {})[c.name.split("/", 1)[-1]] = c
    return idx


def golden_y(c):
    if c is None or c.result != "valid":
        return None
    return np.asarray(c.expected["Y" if c.op != "quantize" else "y"]).astype(np.int64)


def golden_pairs(op, profile, spec_profile, applicable, limit=None):
    """[(name, backend-profile Case, spec Case or None)] of the golden tests of ``op`` under the
    backend's ``profile`` that ``applicable(case)`` accepts (at most ``limit``, evenly spaced)."""
    idx = golden_index()
    mine, spec = idx.get((op, profile), {}), idx.get((op, spec_profile), {})
    out = [(n, c, spec.get(n)) for n, c in mine.items() if applicable(c)]
    if limit is not None and len(out) > limit:
        step = len(out) / limit
        out = [out[int(i * step)] for i in range(limit)]
    return out


def judge_golden(backend, op, c, spec_c, got, deviation, note):
    """A row for golden case ``c``: pass against the spec profile's Y (or, where the spec leaves
    the result undefined, against the backend profile's own Y); KNOWN DEV when it equals the
    backend profile's Y and that differs from the spec."""
    model, spec = golden_y(c), golden_y(spec_c)
    flag = f"golden {c.set.suite}#{c.tc_id} {c.name}"
    if spec is None:
        r = judge(backend, op, f"golden {c.profile} (the spec leaves it undefined)", flag, got, model)
    else:
        models = [(deviation, note, model)] if model is not None and not np.array_equal(model, spec) else []
        r = judge(backend, op, f"golden {spec_c.profile}", flag, got, spec, models)
    return r


# ##########################################################################
# Output
# ##########################################################################

def table(rows, verbose=False):
    head = f"{'backend':<26} {'op':<22} {'flag':<52} {'status':<12} {'differ':>9}  compared with / deviation"
    out = [head, "-" * len(head)]
    for r in rows:
        status = {PASS: "pass", KNOWN: "KNOWN DEV", DIFFER: "DIFFER", UNSUPPORTED: "not supported"}[r.status]
        diff = f"{r.differ}/{r.elements}" if r.elements else "-"
        what = r.deviation if r.status == KNOWN else (r.note if r.status in (UNSUPPORTED, DIFFER) else r.profile)
        out.append(f"{r.backend[:26]:<26} {r.op[:22]:<22} {r.flag[:52]:<52} {status:<12} {diff:>9}  {what}")
        if r.status == KNOWN:
            m = measured_text(r)
            out.append(f"{'':<26} {'':<22}   -> {r.note}" + (f" [{m}]" if m else ""))
        if (verbose or r.status == DIFFER) and r.first:
            out.append(f"{'':<26} {'':<22}   first: {r.first}")
    return "\n".join(out)


def summary(rows):
    c = {s: sum(r.status == s for r in rows) for s in (PASS, KNOWN, DIFFER, UNSUPPORTED)}
    return (f"{len(rows)} rows: {c[PASS]} pass, {c[KNOWN]} known deviations (named above), {c[DIFFER]} unexplained "
            f"differences, {c[UNSUPPORTED]} not supported"), c
