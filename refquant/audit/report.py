"""Rendering audit results: text on stdout, JSON, and a markdown report with a PNG mismatch map."""

import io
import json
import os

import numpy as np

from ..errors import InvalidValueError

PNG_SIZE = (800, 600)   # pixels (width, height) of mismatch_map.png


def _key(k):
    """A JSON object key: numpy / int keys (histograms of differences) become their decimal string."""
    return k if isinstance(k, str) else str(int(k) if isinstance(k, (int, np.integer)) else k)


def public(res):
    """The JSON-able part of an audit result (numpy arrays dropped)."""
    if isinstance(res, dict):
        return {_key(k): public(v) for k, v in res.items() if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(res, list):
        return [public(v) for v in res]
    if isinstance(res, (np.integer,)):
        return int(res)
    if isinstance(res, (np.floating,)):
        return float(res)
    return res


def to_json(res):
    return json.dumps(public(res), indent=2, default=str)


def _hist_text(h, width=40):
    if not h:
        return "  (none)"
    top = max(h.values())
    lines = []
    for d, c in sorted(h.items()):
        lines.append(f"  {d:+6d}  {c:>9}  {'#' * max(1, round(width * c / top))}")
    return "\n".join(lines)


def text(res, explain_steps=True, ranking=8):
    c = res["case"]
    if "x_shape" in c:
        dims = (f" x {'x'.join(map(str, c['x_shape']))} * w {'x'.join(map(str, c['w_shape']))} -> "
                f"{'x'.join(map(str, c['output_shape']))} ({c['x_type']} x {c['w_type']} -> {c['output_type']}), "
                f"strides {c['strides']}, pads {c['pads']}, dilations {c['dilations']}, group {c['group']}")
    elif "M" in c:
        dims = f" {c['M']}x{c['K']}x{c['N']} ({c['a_type']} x {c['b_type']} -> {c['output_type']})"
    else:
        dims = f" shape {tuple(c['output_shape'])} -> {c['output_type']}"
    out = [f"audit: {c['name']}: {c['op']}{dims}, expected semantics: {res['semantics']}"]
    for k, v in res.get("how", {}).items():
        out.append(f"  {k}: {v}")
    n, m = res["elements"], res["mismatches"]
    out.append(f"mismatches: {m} of {n} elements ({100.0 * res['fraction']:.4g}%), max |diff| {res['max_abs_diff']}")
    if "overflowed_outputs" in res:
        out.append(f"outputs whose int32 accumulator overflowed: {res['overflowed_outputs']}")
    if m:
        out.append("histogram of actual - expected:")
        out.append(_hist_text(res["histogram"]))
        out.append(f"first {len(res['first'])} mismatches:")
        for f in res["first"]:
            out.append(f"  [{', '.join(map(str, f['index']))}] expected {f['expected']}, actual {f['actual']} "
                       f"(diff {f['diff']:+d})")
            if explain_steps:
                w = max(len(s["step"]) for s in f["explain"])
                for s in f["explain"]:
                    out.append(f"      {s['step']:<{w}}  {s['value']:<28}  {s['formula']}")
    d = res.get("diagnosis")
    if d:
        out.append("diagnosis: " + d["verdict"])
        for r in d["ranking"][:ranking]:
            out.append(f"  {r['percent']:>9}  {r['matched']:>9}/{r['of']:<9} {r['name']}"
                       + (f"   [{r['how']}]" if r["how"] and "sample" in r["how"] else ""))
    out.append(f"time: {res['seconds']['total']:.2f} s")
    return "\n".join(out)


def _pool(mask, diff, limit=400):
    """Down-sample a (M, N) map to at most limit x limit cells, keeping the largest |diff| per cell."""
    M, N = diff.shape
    fy, fx = max(1, -(-M // limit)), max(1, -(-N // limit))
    if fy == 1 and fx == 1:
        return diff, 1, 1
    pm, pn = -(-M // fy) * fy, -(-N // fx) * fx
    d = np.zeros((pm, pn), dtype=np.int64)
    d[:M, :N] = diff
    d = d.reshape(pm // fy, fy, pn // fx, fx)
    mx, mn = d.max(axis=(1, 3)), d.min(axis=(1, 3))
    return np.where(np.abs(mn) > np.abs(mx), mn, mx), fy, fx


def png(res, path):
    """The map of where mismatches sit in the output (2-D view), coloured by actual - expected."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm
    except ImportError:
        raise InvalidValueError("the PNG map needs matplotlib: pip install 'refquant[report]' (or matplotlib)") from None
    diff = np.asarray(res["_diff"])
    if diff.ndim != 2:
        diff = diff.reshape(-1, diff.shape[-1]) if diff.ndim > 2 else diff.reshape(1, -1)
    cells, fy, fx = _pool(None, diff)
    w, h = PNG_SIZE
    fig, ax = plt.subplots(figsize=(w / 100, h / 100), dpi=100)
    lim = max(1, int(np.abs(cells).max()))
    im = ax.imshow(cells, cmap="RdBu_r", norm=TwoSlopeNorm(0, -lim, lim), interpolation="nearest", aspect="auto")
    from matplotlib.ticker import MaxNLocator
    cb = fig.colorbar(im, ax=ax, ticks=MaxNLocator(integer=True))
    cb.set_label("actual - expected" + (" (max |diff| per cell)" if fy * fx > 1 else ""))
    M, N = diff.shape
    ax.set_xlabel(res.get("_xlabel", "column j") + f" (0..{N - 1})" + (f", {fx} per cell" if fx > 1 else ""))
    ax.set_ylabel(res.get("_ylabel", "row i") + f" (0..{M - 1})" + (f", {fy} per cell" if fy > 1 else ""))
    c = res["case"]
    ax.set_title(f"{c['name']}: {res['mismatches']} of {res['elements']} outputs differ from {res['semantics']}",
                 fontsize=10)
    if res["mismatches"] and fy * fx == 1 and res["mismatches"] <= 200:
        ys, xs = np.nonzero(diff)
        ax.scatter(xs, ys, s=30, facecolors="none", edgecolors="k", linewidths=0.8)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, dpi=100, format="png")
    finally:
        plt.close(fig)
    from ..golden import atomic_write
    atomic_write(path, buf.getvalue())
    return path


def markdown(res, report_dir):
    """Write report.md and mismatch_map.png into report_dir (created with its parents if missing);
    return the paths.  Each file is written atomically; on failure (or Ctrl-C) a directory this
    call created is removed again."""
    from ..golden import out_path, output_root
    out = out_path(report_dir, "--report")
    with output_root(out, "--report"):
        return _markdown(res, str(report_dir))


def _markdown(res, report_dir):
    from ..golden import atomic_write
    png_path = os.path.join(report_dir, "mismatch_map.png")
    png(res, png_path)
    c = res["case"]
    lines = [f"# refquant audit: {c['name']}", "",
             f"- op: `{c['op']}`, output {tuple(c['output_shape'])} `{c['output_type']}`",
             f"- expected semantics: `{res['semantics']}`"]
    for k, v in c.items():
        if k not in ("name", "op", "output_shape", "output_type"):
            lines.append(f"- {k}: `{v}`")
    for k, v in res.get("how", {}).items():
        lines.append(f"- {k}: {v}")
    lines += ["", "## Result", "",
              f"**{res['mismatches']} of {res['elements']}** elements differ "
              f"({100.0 * res['fraction']:.4g}%), max |diff| {res['max_abs_diff']}.", ""]
    if res["histogram"]:
        lines += ["| actual − expected | count |", "|---:|---:|"]
        lines += [f"| {d:+d} | {n} |" for d, n in sorted(res["histogram"].items())]
        lines.append("")
    lines += ["![mismatch map](mismatch_map.png)", ""]
    d = res.get("diagnosis")
    if d:
        lines += ["## Diagnosis", "", f"**{d['verdict']}**", "", "| rank | semantics | matched | of | % | how |",
                  "|---:|---|---:|---:|---:|---|"]
        for i, r in enumerate(d["ranking"][:20], 1):
            lines.append(f"| {i} | {r['name']} | {r['matched']} | {r['of']} | {r['percent']} | {r['how']} |")
        lines.append("")
    if res["first"]:
        lines += ["## First mismatches", ""]
        for f in res["first"]:
            lines += [f"### [{', '.join(map(str, f['index']))}]: expected {f['expected']}, actual {f['actual']}", "",
                      "| step | value | formula |", "|---|---|---|"]
            lines += [f"| {s['step']} | `{s['value']}` | {s['formula']} |" for s in f["explain"]]
            lines.append("")
    md = os.path.join(report_dir, "report.md")
    atomic_write(md, ("\n".join(lines) + "\n").encode("utf-8"))
    return md, png_path
