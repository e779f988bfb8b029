"""Campaign status and report from the store: totals, rate, ETA, every distinct failure (grouped by
signature) with its replay command and its shrunk reproducer (DIR/failures/<n>/)."""

import json
import os
import shlex
import time

import numpy as np

from .cases import dims
from .engine import planned
from .reference import expected
from .repro import write_case
from .shrink import shrink_task
from .store import Store, atomic_write

FAILED = ("mismatch", "error", "timeout", "reference", "crashed", "internal", "lost")


def totals(store):
    meta, recs = store.meta(), store.records()
    spec = meta["spec"]
    by = {}
    for r in recs:
        by[r["status"]] = by.get(r["status"], 0) + 1
    t = {"campaign": spec["name"], "seed": spec["seed"], "store": store.root, "tasks_done": len(recs),
         "elements": sum(r.get("elements", 0) for r in recs), "mismatches": sum(r.get("mismatches", 0) for r in recs),
         "by_status": by, "dut": spec["dut"]["kind"], "reference": spec["reference"]["kind"]}
    b = spec["budget"]
    if "tasks" in b or "elements" in b:
        t["tasks_planned"] = len(recs) + sum(1 for _ in planned(spec, {r["task"] for r in recs}))
    fin = sorted(r["finished"] for r in recs if "finished" in r)
    if len(fin) >= 2:
        recent = [r for r in recs if r.get("finished", 0) >= fin[-1] - 300] or recs
        span = max(fin[-1] - min(r["finished"] for r in recent), 1e-9)
        t["rate_elements_s"] = sum(r.get("elements", 0) for r in recent) / span
        t["rate_tasks_s"] = (len(recent) - 1) / span if len(recent) > 1 else 0.0
        if "tasks_planned" in t and t["rate_tasks_s"]:
            t["eta_s"] = (t["tasks_planned"] - len(recs)) / t["rate_tasks_s"]
    t["last_record_age_s"] = time.time() - fin[-1] if fin else None
    seen = {json.dumps(r.get("versions") or {}, sort_keys=True) for r in recs if r.get("versions")}
    t["measured_on"] = [json.loads(v) for v in sorted(seen)]
    return t, recs, spec


def failures(recs):
    """Distinct failures: signature -> {count, tasks (first 10), first task's record}."""
    groups = {}
    for r in recs:
        if r["status"] not in FAILED:
            continue
        g = groups.setdefault(r["signature"], {"signature": r["signature"], "status": r["status"], "count": 0,
                                               "mismatches": 0, "tasks": [], "first": r})
        g["count"] += 1
        g["mismatches"] += r.get("mismatches", 0)
        if len(g["tasks"]) < 10:
            g["tasks"].append(r["task"])
    return list(groups.values())


def replay_command(spec_path, spec, task):
    return f"refquant campaign replay {shlex.quote(spec_path or 'SPEC.toml')} --seed {spec['seed']} --task {task}"


def shrink_failures(store, spec, spec_path=None, max_calls=200, progress=None):
    """Shrink the first task of every distinct failure not shrunk yet; write DIR/failures/<n>/."""
    _t, recs, _ = totals(store)
    root = store.failures_dir()
    index = _failure_index(root)
    for g in failures(recs):
        if g["signature"] in index:
            continue
        n = len(index)
        d = os.path.join(root, str(n))
        if progress:
            progress(f"shrinking task {g['first']['task']} ({g['signature']})")
        info = write_failure(spec, g["first"], d, spec_path, max_calls)
        index[g["signature"]] = {"dir": str(n), **info}
        atomic_write(os.path.join(root, "index.json"), json.dumps(index, indent=1))
    return index


def _failure_index(root):
    path = os.path.join(root, "index.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_failure(spec, rec, d, spec_path=None, max_calls=200):
    """Shrink one failing record and write its reproducer into ``d``; returns the summary."""
    from .duts import open_dut
    case, out, steps, calls = shrink_task(spec, rec, max_calls)
    actual = want = None
    if rec["status"] in ("mismatch", "reference"):
        try:
            actual = np.asarray(open_dut(spec["dut"]).run(case)).astype(np.int64)
            M, K, N = dims(case)
            want = expected(case, "oracle" if M * K * N <= 1 << 16 else spec["reference"]["kind"], 0,
                            np.random.default_rng(0))
        except Exception:  # noqa: BLE001  (the reproducer files are still written without outputs)
            actual = want = None
    write_case(case, d, actual, want)
    M, K, N = dims(case)
    nonzero = (np.count_nonzero(case["x"]) if case["op"] == "quantize_linear" else
               np.count_nonzero(case["x"].astype(np.int64) - case["za"]) if case["op"] == "qlinear_conv" else
               np.count_nonzero(case["a"].astype(np.int64) - case["za"]))
    info = {"task": rec["task"], "signature": rec["signature"], "status_after_shrink": out.get("status"),
            "shape": [M, K, N], "original_shape": rec.get("case", {}).get("shape"),
            "nonzero_terms": int(nonzero), "steps": steps,
            "calls": calls, "first": out.get("first"), "error": out.get("error"),
            "replay": replay_command(spec_path, spec, rec["task"]),
            "audit": (f"refquant audit {os.path.join(d, 'case.json')} --actual {os.path.join(d, 'actual.hex')}"
                      if actual is not None else None)}
    atomic_write(os.path.join(d, "info.json"), json.dumps(info, indent=1))
    return info


def report(store_dir, spec_path=None):
    """The report dict: totals and every distinct failure with its reproducer (if shrunk)."""
    store = Store(store_dir)
    t, recs, spec = totals(store)
    spec_path = spec_path or store.meta().get("spec_path")
    index = _failure_index(store.failures_dir())
    fails = []
    for g in failures(recs):
        f = {k: g[k] for k in ("signature", "status", "count", "mismatches", "tasks")}
        f["example"] = {k: g["first"].get(k) for k in ("task", "case", "first", "error")}
        f["replay"] = replay_command(spec_path, spec, g["first"]["task"])
        if g["signature"] in index:
            f["reproducer"] = dict(index[g["signature"]], dir=os.path.join(store.failures_dir(),
                                                                           index[g["signature"]]["dir"]))
        fails.append(f)
    return {"totals": t, "by_regime": breakdown(recs), "failures": fails, "runs": store.runs()}


def breakdown(recs):
    """(op, scale regime) -> [tasks, elements, mismatching tasks, mismatches]."""
    out = {}
    for r in recs:
        c = r.get("case") or {}
        row = out.setdefault(f"{c.get('op', '?')} {c.get('scales', '?')}", [0, 0, 0, 0])
        row[0] += 1
        row[1] += r.get("elements", 0)
        row[2] += r["status"] not in ("ok", "skipped")
        row[3] += r.get("mismatches", 0)
    return dict(sorted(out.items()))


def png(recs, path):
    """A bar chart of elements checked and failing tasks per op and scale regime (matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = breakdown(recs)
    names = list(rows)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 0.5 * len(names) + 1.8), sharey=True)
    a1.barh(names, [rows[n][1] for n in names], color="#4a7ab5")
    a1.set_xlabel("elements compared")
    a2.barh(names, [rows[n][2] for n in names], color="#c0504d")
    a2.set_xlabel("failing tasks")
    fig.suptitle("refquant campaign: by op and scale regime")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def status_text(t):
    lines = [f"campaign {t['campaign']!r} (seed {t['seed']}), dut {t['dut']}, reference {t['reference']}",
             f"tasks {t['tasks_done']}" + (f"/{t['tasks_planned']}" if "tasks_planned" in t else "") +
             f"  elements {t['elements']:,}  mismatches {t['mismatches']:,}",
             "by status: " + ", ".join(f"{k} {v}" for k, v in sorted(t["by_status"].items()))]
    for v in t.get("measured_on", []):
        lines.append("measured on: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    if "rate_elements_s" in t:
        lines.append(f"rate {t['rate_elements_s']:,.0f} elements/s, {t['rate_tasks_s']:.2f} tasks/s (last 5 min)"
                     + (f", ETA {t['eta_s'] / 60:.1f} min" if t.get("eta_s") is not None else ""))
    return "\n".join(lines)


def report_markdown(rep):
    t = rep["totals"]
    out = [f"# Campaign {t['campaign']}", "", "```", status_text(t), "```", "",
           "| op and scale regime | tasks | elements | failing tasks | mismatches |", "|---|---:|---:|---:|---:|"]
    out += [f"| {k} | {v[0]} | {v[1]:,} | {v[2]} | {v[3]:,} |" for k, v in rep.get("by_regime", {}).items()]
    out.append("")
    if not rep["failures"]:
        out.append("No failures: every compared element matched the reference.")
    for n, f in enumerate(rep["failures"]):
        out += [f"## Failure {n}: {f['signature']}", "",
                f"- {f['count']} task(s), {f['mismatches']} mismatching element(s); tasks {f['tasks']}",
                f"- first: task {f['example']['task']}, case {json.dumps(f['example']['case'])}"]
        if f["example"].get("first"):
            out.append(f"- first mismatches [row, col, got, expected]: {f['example']['first']}")
        if f["example"].get("error"):
            out.append(f"- error: {f['example']['error']}")
        out.append(f"- replay: `{f['replay']}`")
        r = f.get("reproducer")
        if r:
            out.append(f"- minimal reproducer: {r['dir']} (shape {r['shape']} from {r['original_shape']}, "
                       f"{r['nonzero_terms']} non-zero terms, {r['calls']} device calls)")
            if r.get("audit"):
                out.append(f"- explain it: `{r['audit']}`")
        out.append("")
    return "\n".join(out)
