"""The audit of a device output (``audit``) and the diagnosis: every candidate semantics ranked
by how many elements it explains, and the verdict (``rank_candidates`` gives the typed ``Ranking``,
``diagnose`` its JSON form).
"""

import time

import numpy as np

from .. import trace
from ..errors import (
    RefquantError,
)
from ..profiles import PROFILES
from .accumulators import (
    CONV_VARIANTS,
    accumulators,
    conv_accumulators,
    conv_variants,
    overflow_possible,
    to_gemm,
)
from .candidates import Candidate, apply_candidate, candidate_list, quantize_candidates
from .common import UNIQUE_CAP, Progress, _quiet
from .expectation import check_actual, expected, explain_element, quantize_expected
from .ranking import CandidateRow, Ranking, percent
from .ties import ties


def _histogram(diff):
    vals, counts = np.unique(diff[diff != 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts)}


def audit(case, actual, first=10, diagnose_=True, progress=None, seed=0):
    """The audit of ``actual`` against the case: a JSON-able dict (see docs/audit.md)."""
    progress = progress or Progress(False)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    actual = check_actual(case, actual)
    info = {}
    cache = {}
    exp, acc, counts = expected(case, progress, rng, info, cache)
    t1 = time.perf_counter()
    mism = exp != actual
    n = int(exp.size)
    nm = int(mism.sum())
    diff = np.where(mism, actual - exp, 0)
    res = {"case": case.describe(), "semantics": case.method if case.op != "quantize" else case.profile,
           "elements": n, "mismatches": nm, "fraction": nm / n if n else 0.0,
           "max_abs_diff": int(np.abs(diff).max()) if n else 0, "histogram": _histogram(diff),
           "how": info, "first": []}
    if counts is not None:
        res["overflowed_outputs"] = int((counts > 0).sum())
    progress("explaining the first mismatches")
    for idx in np.argwhere(mism)[:first]:
        idx = tuple(int(v) for v in idx)
        try:
            steps = explain_element(case, idx)
        except RefquantError as exc:
            steps = [trace.Step("error", "", str(exc))]
        res["first"].append({"index": list(idx), "expected": int(exp[idx]), "actual": int(actual[idx]),
                             "diff": int(actual[idx] - exp[idx]),
                             "explain": [{"step": s.name, "formula": s.formula, "value": trace.show(s.value)} for s in steps]})
    res["_mismatch_mask"] = mism
    res["_diff"] = diff
    if diagnose_:
        res["diagnosis"] = diagnose(case, actual, acc, counts, rng, progress, cache)
    res["seconds"] = {"expected": round(t1 - t0, 3), "total": round(time.perf_counter() - t0, 3)}
    progress.done()
    return res


def _score(vals, actual, sampled_idx=None):
    if sampled_idx is not None:
        v, a = vals.reshape(-1)[sampled_idx], actual.reshape(-1)[sampled_idx]
        return int((v == a).sum()), int(len(sampled_idx))
    return int((vals == actual).sum()), int(actual.size)


def diagnose(case, actual, acc=None, counts=None, rng=None, progress=_quiet, cache=None):
    """The diagnosis as ``refquant audit --json`` prints it: ``rank_candidates(...).as_json()``."""
    return rank_candidates(case, actual, acc, counts, rng, progress, cache).as_json()


def rank_candidates(case, actual, acc=None, counts=None, rng=None, progress=_quiet, cache=None):
    """Rank every candidate semantics by the number of elements of ``actual`` it explains: a
    ``Ranking`` of ``CandidateRow``.

    qlinear_conv: ``actual`` (and ``acc``/``counts`` when given) in NCHW or in the GEMM view."""
    rng = rng or np.random.default_rng(0)
    if case.op == "qlinear_conv":
        actual, acc, counts = (to_gemm(case, v) if v is not None and np.ndim(v) == 4 else v
                               for v in (np.asarray(actual), acc, counts))
    n = actual.size
    sample = rng.choice(n, size=min(n, UNIQUE_CAP), replace=False) if n else np.zeros(0, np.int64)
    transposable = (actual.ndim == 2 and actual.shape[0] == actual.shape[1] and case.op not in ("quantize", "qlinear_conv"))
    if case.op == "quantize":
        return rank(_quantize_rows(case, actual, progress), actual, case, counts)
    if acc is None:
        acc = case.tensors["acc"] if case.op == "requantize" else accumulators(case, case.get("policy", "wrap"), rng=rng)[0]
    accs = _accumulator_variants(case, acc, rng, progress)
    if case.op == "matmul_integer":
        return rank(_matmul_integer_rows(accs, actual, transposable), actual, case, counts)
    base_policy = case.get("policy", "wrap")
    caches = {name: {} for name in accs}
    if cache is not None:
        caches[base_policy] = cache
    rows = []
    for c in candidate_list(case):
        progress(f"diagnosis: {c.name}")
        vals, how = apply_candidate(c, acc, case, rng, sample, progress, caches[base_policy])
        sampled = how.startswith("oracle on a sample")
        m, tot = _score(vals, actual, sample if sampled else None)
        rows.append(CandidateRow(c.label(), c.name, c.description, m, tot, how, vals, c))
    rows.sort(key=lambda r: -r.fraction)
    # the three best semantics and the two best RTL faults, each combined with the accumulator variants
    top = [r for r in rows if not r.cand.fault][:3] + [r for r in rows if r.cand.fault][:2]
    for r in top:
        rows += _combined_rows(r, accs, case, actual, rng, sample, progress, caches, transposable)
    return rank(rows, actual, case, counts)


def _quantize_rows(case, actual, progress=_quiet):
    """One ranking row per quantize candidate (profiles and their variants)."""
    rows = []
    for prof, p in quantize_candidates().items():
        progress(f"diagnosis: profile {prof}")
        try:
            vals = quantize_expected(case, p)
        except (RefquantError, ArithmeticError):
            continue
        m, tot = _score(vals, actual)
        rows.append(CandidateRow(f"profile {prof}" if prof in PROFILES else prof, prof, p.source, m, tot,
                                 "oracle on the distinct inputs", vals))
    return rows


def _accumulator_variants(case, acc, rng, progress=_quiet):
    """name -> accumulators: the declared policy's, the other policy's (where int32 can overflow),
    the conv variants that differ on this geometry, or the swapped zero points."""
    accs = {case.get("policy", "wrap"): acc}
    if case.op == "requantize":
        return accs
    if overflow_possible(case):
        other = "saturate" if case.get("policy", "wrap") == "wrap" else "wrap"
        progress(f"diagnosis: {other} accumulator")
        accs[other] = accumulators(case, other, rng=rng)[0]
    za, zb = case.get("a_zero_point", 0), case.zb_vector()
    if case.op == "qlinear_conv":
        for v in conv_variants(case):
            progress(f"diagnosis: conv accumulators, {CONV_VARIANTS[v]}")
            accs[v] = conv_accumulators(case, case.get("policy", "wrap"), v, rng=rng, progress=progress)[0]
    elif np.all(zb == zb[0]) and za != zb[0]:
        progress("diagnosis: swapped zero points")
        sw = accumulators(case, case.get("policy", "wrap"), swap_zp=True, rng=rng)[0]
        if sw is not None:
            accs["swapped_zp"] = sw
    return accs


def _matmul_integer_rows(accs, actual, transposable):
    rows = []
    for name, a in accs.items():
        m, tot = _score(a, actual)
        rows.append(CandidateRow(f"int32 accumulator, {name}" if name != "swapped_zp" else "a/b zero points swapped",
                                 name, "MatMulInteger (contract §2)", m, tot, "exact", a))
        if transposable:
            m, tot = _score(a.T, actual)
            rows.append(CandidateRow(f"int32 accumulator, {name} + output transposed", name + "+T",
                                     "actual[j, i] = expected[i, j]", m, tot, "exact", a.T))
    return rows


def _combined_rows(r, accs, case, actual, rng, sample, progress, caches, transposable):
    """A top-ranked candidate ``r`` combined with each other accumulator variant, and transposed."""
    c = r.cand
    base_policy = case.get("policy", "wrap")
    rows = []
    for name, a in accs.items():
        if name == base_policy:
            continue
        vals, how = apply_candidate(c, a, case, rng, sample, progress, caches[name])
        m, tot = _score(vals, actual, sample if how.startswith("oracle on a sample") else None)
        c2 = Candidate(c.name, c.description, c.params, c.method, c.variant,
                       "wrapping" if name == "wrap" else name, aliases=c.aliases,
                       bias_note=c.bias_note, fault=c.fault)
        rows.append(CandidateRow(c2.label(), f"{c.name}+{name}", c.description, m, tot, how, vals))
    if transposable:
        m, tot = _score(r.vals.T, actual)
        c2 = Candidate(c.name, c.description, c.params, c.method, c.variant, base_policy, "transposed",
                       aliases=c.aliases, bias_note=c.bias_note, fault=c.fault)
        rows.append(CandidateRow(c2.label(), f"{c.name}+T", "actual[j, i] = expected[i, j]", m, tot, r.how,
                                 r.vals.T))
    return rows


def rank(rows, actual, case, counts):
    """The ``Ranking`` of candidate rows (declared semantics first among equal fractions) and its
    verdict: the best row, what explains its misses, the rows tied with it."""
    declared = case.method if case.op != "quantize" else case.profile
    out = Ranking.of(rows, declared)
    best = out.best
    if best is None:
        return out
    n = best.of
    if best.matched == n:
        tied = [r.name for r in out.rows[1:] if r.matched == r.of == n]
        v = f"matches {best.name} on 100% of elements ({n}/{n})"
        if tied:
            shown = ", ".join(tied[:6]) + (f" and {len(tied) - 6} more" if len(tied) > 6 else "")
            v += f"; indistinguishable on this data from: {shown}"
        out.verdict = v + _tie_text(out, case)
        return out
    miss = best.vals != actual
    whole = bool(best.how) and not best.sampled   # best.vals cover every element
    k = int(miss.sum()) if whole else n - best.matched
    parts = []
    if counts is not None and whole:
        ov = int((miss & (counts > 0)).sum())
        if ov:
            parts.append(f"{ov} where the int32 accumulator overflowed")
    others = sorted(((int((r.vals[miss] == actual[miss]).sum()), r.name) for r in out.rows[1:] if not r.sampled),
                    key=lambda t: -t[0])
    if others and others[0][0]:
        parts.append(f"{others[0][0]} of them explained by {others[0][1]}")
    v = (f"matches {best.name} on {percent(best.matched, n)} of elements ({best.matched}/{n}) "
         f"except {k} element{'s' * (k != 1)}")
    if parts:
        v += " (" + "; ".join(parts) + ")"
    if best.matched < 0.5 * n:
        v = f"no candidate semantics explains most elements; best: {v}"
    out.verdict = v + _tie_text(out, case)
    return out


def _tie_text(out, case):
    """Record the candidates tied with the best (``out.ties``, with the accumulators that tell
    them apart) and say so in one clause of the verdict."""
    best = out.best
    if best.cand is None:
        return ""
    out.ties = ties(case, out.rows, best)
    if not out.ties:
        return ""
    told = [t for t in out.ties if t["vectors"]]
    text = f"; tied with {len(out.ties)} other candidate{'s' * (len(out.ties) != 1)}"
    if told:
        t = told[0]
        v = t["vectors"][0]
        text += (f"; e.g. acc {v['acc']} tells {best.name} ({v['outputs'][best.cand.name]}) from "
                 f"{t['name']} ({v['outputs'][t['semantics']]}); --suggest-vectors FILE writes "
                 f"such accumulators for {len(told)} of them")
    else:
        text += " and no probed int32 accumulator tells them apart"
    return text
