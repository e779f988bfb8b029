"""``refquant audit --report DIR`` for the variant ops (docs/audit.md §7): DIR/report.md (the case, the
result, the ranked diagnosis, the first mismatches with their inputs, the by-input / by-d groups) and
DIR/mismatch_map.png (actual − expected over the output; a rank-4 output as its channel planes stacked,
H rows by W columns each, whatever the op's layout)."""

import os

import numpy as np

from ..certified import possible


def diff_map(case, res, actual):
    """actual − expected per output element (0 where the actual is allowed), as a 2-D array."""
    from . import variants as V
    exp = V.run(case, V.backends.op_variants(case.op)[case.variant])
    act = np.asarray(actual).reshape(-1).tolist()
    d = np.array([0 if a in possible(e) else min((a - c for c in possible(e)), key=abs) for a, e in zip(act, exp)],
                 dtype=np.int64).reshape(case.out_shape)
    if d.ndim == 4:
        d = d.transpose(0, 3, 1, 2) if case.describe().get("layout") == "NHWC" else d
        return d.reshape(-1, d.shape[-1])
    return d.reshape(-1, d.shape[-1]) if d.ndim >= 2 else d.reshape(1, -1)


def write(res, case, actual, report_dir):
    """Write report.md and mismatch_map.png into report_dir; return their paths."""
    from ..golden import out_path, output_root
    from . import report
    out = out_path(report_dir, "--report")
    with output_root(out, "--report"):
        png_path = os.path.join(str(report_dir), "mismatch_map.png")
        shape = case.out_shape
        labels = ({"_ylabel": "n, c, h (planes stacked)", "_xlabel": "w"} if len(shape) == 4 else
                  {"_ylabel": "leading axes", "_xlabel": "last axis"} if len(shape) >= 2 else {"_xlabel": "element"})
        report.png({"_diff": diff_map(case, res, actual), "case": res["case"], "mismatches": res["mismatches"],
                    "elements": res["elements"], "semantics": res["expected_semantics"], **labels}, png_path)
        md = os.path.join(str(report_dir), "report.md")
        from ..golden import atomic_write
        atomic_write(md, ("\n".join(_lines(res)) + "\n").encode("utf-8"))
    return md, png_path


def _lines(res):
    c = res["case"]
    lines = [f"# refquant audit: {c['name']}", "", f"- op: `{c['op']}`, output {tuple(c['output_shape'])} "
             f"`{c['dtype']}`" + (f", layout {c['layout']}" if c.get("layout") else ""),
             f"- expected semantics: `{res['expected_semantics']}`"]
    lines += [f"- {k}: `{v}`" for k, v in c.items() if k not in ("name", "op", "output_shape", "dtype", "layout")]
    lines += ["", "## Result", "", f"**{res['mismatches']} of {res['elements']}** elements differ, max |diff| "
              f"{res['max_abs_diff']}.", "", "![mismatch map](mismatch_map.png)", ""]
    d = res.get("diagnosis")
    if d:
        lines += ["## Diagnosis", "", f"**{d['verdict']}**", "", "| rank | kind | semantics | mismatches | backend rows |",
                  "|---:|---|---|---:|---|"]
        for i, r in enumerate(d["ranking"], 1):
            n = r["mismatches"] if r["applicable"] else f"not applicable: {r['reason']}"
            lines.append(f"| {i} | {r['kind']} | {r['name']} | {n} | {', '.join(r.get('backends', []))} |")
        lines.append("")
    if res["first"]:
        lines += ["## First mismatches", "", "| index | inputs | expected | actual |", "|---|---|---|---|"]
        for m in res["first"]:
            ins = ", ".join(f"{k}={m[k]}" for k in m if k not in ("index", "flat", "expected", "actual"))
            lines.append(f"| {m['index']} | {ins} | {m['expected']} | {m['actual']} |")
        lines.append("")
    for key, title in (("by_input", "By input value"), ("by_diff", "By d = max(row) − x")):
        if res.get(key):
            lines += [f"## {title}", "", "| group | differ | of | verdict |", "|---|---:|---:|---|"]
            lines += [f"| {g.get('input', g.get('d'))} | {g['count']} | {g['of']} | {g['verdict']} |" for g in res[key]]
            lines.append("")
    return lines
