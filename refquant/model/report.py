"""The compare report: JSON, markdown and PNG (mismatches per node; the first divergent node's map)."""

import json
from pathlib import Path

import numpy as np

from .judge import NEW

CLASS_ORDER = ("new divergence", "inherited", "implementation-defined", "agree", "not modelled")


def _tensor(t):
    return {"tensor": t.tensor, "elements": t.elements, "mismatches": t.mismatches, "ambiguous": t.ambiguous,
            "max_delta": t.max_delta, "unit": t.unit, "first": t.first, "candidates": t.candidates}


def node_row(n):
    worst = n.worst()
    return {"node": n.node, "op": n.op, "class": n.klass, "elements": n.elements, "mismatches": n.mismatches,
            "new_mismatches": n.new_mismatches,
            "ambiguous": sum(t.ambiguous for t in n.own),
            "max_delta": worst.max_delta if worst else 0.0, "unit": worst.unit if worst else "",
            "first": worst.first if worst else [], "own": [_tensor(t) for t in n.own],
            "actual": [_tensor(t) for t in n.actual], "unobservable_inputs": n.unobservable_inputs,
            "error": n.error, "not_modelled": n.not_modelled}


def to_json(model, results, parting, feeds_note):
    """The report as a JSON-ready dict."""
    out = {"model": str(model), "inputs": feeds_note, "targets": [], "parting": parting}
    for rep, _t in results:
        counts = {c: sum(n.klass == c for n in rep.nodes) for c in CLASS_ORDER}
        out["targets"].append({
            "against": rep.label, "backend": rep.backend, "version": rep.version, "notes": rep.notes,
            "verdict": "divergence" if rep.diverges else "agree", "counts": counts,
            "nodes": [node_row(n) for n in rep.nodes], "not_observable": rep.not_observable,
            "first_divergent": rep.first_divergent, "explain": rep.explain, "diagnosis": rep.diagnosis,
            "audit": rep.audit})
    return out


def markdown(doc):
    """A human-readable report of ``to_json``'s dict."""
    lines = [f"# refquant model compare: {doc['model']}", "", f"inputs: {doc['inputs']}", ""]
    for t in doc["targets"]:
        lines += [f"## against {t['against']} (backend row `{t['backend']}`, version {t['version'] or '-'})", ""]
        lines += [f"- {n}" for n in t["notes"]]
        lines += [f"- verdict: **{t['verdict']}**; nodes: " + ", ".join(f"{k} {v}" for k, v in t["counts"].items()), ""]
        lines += ["| node | op | elements | mismatches | on its inputs | max Δ | first coords | class |",
                  "|---|---|---:|---:|---:|---:|---|---|"]
        for n in t["nodes"]:
            d = f"{n['max_delta']:g} {n['unit']}" if n["max_delta"] else "0"
            lines.append(f"| {n['node']} | {n['op']} | {n['elements']} | {n['mismatches']} | {n['new_mismatches']} "
                         f"| {d} | {n['first'][:2]} | {n['class']} |")
        if t["not_observable"]:
            lines += ["", f"not observable ({len(t['not_observable'])}): " + ", ".join(t["not_observable"][:20])
                      + (" ..." if len(t["not_observable"]) > 20 else "")]
        unmod = [n for n in t["nodes"] if n.get("not_modelled")]
        if unmod:
            lines += ["", f"not modelled ({len(unmod)}; not judged, refquant carries on from the implementation's "
                      f"tensors):"] + [f"- {n['node']} ({n['op']}): {n['not_modelled']}" for n in unmod]
        if t["first_divergent"]:
            lines += ["", f"### first divergent node: {t['first_divergent']}", "", "```", t["explain"].rstrip(), "```",
                      "", "diagnosis (candidate semantics on the implementation's inputs, best first):", ""]
            lines += [f"- {d['semantics']}: {d.get('mismatches', '?')} mismatches of {d.get('elements', '?')}"
                      + (f" — {d['source']}" if d.get("source") else "") for d in t["diagnosis"][:8]]
            if t.get("audit"):
                a = t["audit"]
                lines += ["", f"refquant audit of the node (docs/audit.md): {a.get('verdict')}", ""]
                lines += [f"- {r['name']}: matches {r['matched']} of {r['of']}" for r in a.get("ranking", [])[:6]]
        lines.append("")
    for p in doc["parting"]:
        lines += [f"## where {p['a']} and {p['b']} part", "",
                  (f"tensor `{p['tensor']}` ({p['elements_differ']} elements differ): written by `{p['node_a']}` "
                  f"({p['op_a']}) in {p['a']} and by `{p['node_b']}` ({p['op_b']}) in {p['b']}; first at "
                  f"{p['first']}"), "", f"- {p['a']}: {p['arithmetic_a']}", f"- {p['b']}: {p['arithmetic_b']}", ""]
    return "\n".join(lines) + "\n"


def write(folder, doc, results):
    """report.json, report.md and (with matplotlib) mismatches.png / first_divergent.png in ``folder``."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    (d / "report.json").write_text(json.dumps(doc, indent=1, default=float) + "\n", encoding="utf-8")
    (d / "report.md").write_text(markdown(doc), encoding="utf-8")
    written = ["report.json", "report.md"]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return written
    written += _plot_nodes(plt, d, results)
    return written


def _plot_nodes(plt, d, results):
    fig, axes = plt.subplots(len(results), 1, figsize=(10, 3 * len(results)), squeeze=False)
    for ax, (rep, _t) in zip(axes[:, 0], results):
        names = [n.node for n in rep.nodes]
        ax.bar(range(len(names)), [n.mismatches for n in rep.nodes], label="on refquant's inputs")
        ax.bar(range(len(names)), [n.new_mismatches for n in rep.nodes], label="on its own inputs (new)")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_title(f"mismatches per node: {rep.label}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(d / "mismatches.png", dpi=100)
    plt.close(fig)
    out = ["mismatches.png"]
    first = next(((rep, n) for rep, _t in results for n in rep.nodes if n.klass == NEW), None)
    if first:
        t = next(t for t in first[1].actual if t.mismatches)
        m = t.mask.reshape(t.mask.shape[0] * t.mask.shape[1], -1) if t.mask.ndim >= 3 else np.atleast_2d(t.mask)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.imshow(m, aspect="auto", interpolation="nearest", cmap="Reds")
        ax.set_title(f"{first[0].label}: {first[1].node} ({t.tensor}) mismatches", fontsize=8)
        ax.set_xlabel("spatial (flattened)" if t.mask.ndim >= 3 else "last axis")
        ax.set_ylabel("batch x channel" if t.mask.ndim >= 3 else "rows")
        fig.tight_layout()
        fig.savefig(d / "first_divergent.png", dpi=100)
        plt.close(fig)
        out.append("first_divergent.png")
    return out
