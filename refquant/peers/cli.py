"""``refquant verify PEER`` and ``refquant check``: run the peers, stamp each row with the
installed version (and a known row with the versions its deviation was measured on), print the
table, the per-peer version lines and the summary."""

import importlib
import json
import time
from dataclasses import asdict

from ..errors import RefquantError, UnknownNameError
from . import versions
from .conformance import DIFFER, KNOWN, PASS, UNSUPPORTED, Row, scalar, summary, table
from .kernel import backend_kernel, kernel_lines
from .litert_rows import backend_litert
from .onnx import backend_onnx
from .onnxruntime import backend_onnxruntime
from .gguf import backend_gguf
from .ggml import backend_ggml
from .openvino import backend_openvino
from .qonnx import backend_qonnx
from .tflm import backend_tflm
from .torch import backend_torch
from .tosa import backend_tosa
from .versions import PEERS, MissingBackend, release

RUNNERS = {"kernel": backend_kernel, "onnxruntime": backend_onnxruntime, "onnx": backend_onnx,
           "torch": backend_torch, "tosa": backend_tosa,
           "qonnx": backend_qonnx,
           "gguf": backend_gguf, "openvino": backend_openvino,
           "ggml": backend_ggml,
           "litert": backend_litert,
           "tflm": backend_tflm}
ALIASES = {"ort": "onnxruntime", "onnx_ref": "onnx", "pytorch": "torch", "tosa-tools": "tosa", "c": "kernel",
           "tflite": "litert", "ai-edge-litert": "litert",
           "tflite-micro": "tflm", "tflite_micro": "tflm"}


def run_backend(name):
    """The conformance rows of one backend (MissingBackend when its package is absent); each row
    of a peer carries the installed version and, if known, the versions its deviation was measured on."""
    key = ALIASES.get(name, name)
    if key not in RUNNERS:
        raise UnknownNameError("backend", name, RUNNERS)
    rows = RUNNERS[key]()
    if key in PEERS:
        version = versions.installed_version(key)
        measured = versions.deviations(key)
        for r in rows:
            r.peer, r.version = key, version
            if r.status == KNOWN:
                r.measured_on = list(measured.get(r.deviation, ()))
    return rows


def peer_summary(peer, rows):
    """{installed, pins, deviations: {name: {measured_on, measured_on_installed, rows}}} for one peer."""
    version = versions.installed_version(peer)
    seen = {}
    for r in rows:
        if r.peer == peer and r.status == KNOWN:
            seen[r.deviation] = seen.get(r.deviation, 0) + 1
    devs = {name: {"measured_on": list(on), "measured_on_installed": release(version) in on,
                   "rows": seen.get(name, 0)} for name, on in versions.deviations(peer).items()}
    for name, n in seen.items():        # a deviation with no record (should not happen: a test checks it)
        devs.setdefault(name, {"measured_on": [], "measured_on_installed": False, "rows": n})
    return {"dist": PEERS[peer].dist, "installed": version, "pins": list(PEERS[peer].pins), "deviations": devs}


def peer_lines(peer, rows, full):
    """Text lines: the installed version against the pin, and each named deviation's measured versions."""
    s = peer_summary(peer, rows)
    pin = next(p for p in s["pins"] if p.startswith(s["dist"] + "=="))
    pinned = pin.split("==")[1]
    state = "the pinned version" if release(s["installed"]) == pinned else f"NOT the pinned {pin}"
    devs = s["deviations"]
    on = sum(d["measured_on_installed"] for d in devs.values())
    head = (f"{s['dist']} {s['installed']} installed ({state}): {len(devs)} named deviations, "
            f"{on} measured on this version")
    if not devs:
        return [f"{s['dist']} {s['installed']} installed ({state}): no named deviations"]
    lines = [head]
    for name, d in devs.items():
        if full or not d["measured_on_installed"]:
            where = ", ".join(d["measured_on"]) or "no version"
            mark = "measured on it" if d["measured_on_installed"] else "NOT measured on it"
            shown = f"shown by {d['rows']} row(s) here" if d["rows"] else "no row shows it here"
            lines.append(f"    {name:<58} measured on {where:<16} {mark}; {shown}")
    return lines


def cmd_verify(args):
    t0 = time.perf_counter()
    rows = run_backend(args.backend)
    text, c = summary(rows)
    key = ALIASES.get(args.backend, args.backend)
    if args.json:
        out = {"backend": args.backend, "rows": [asdict(r) for r in rows], "counts": c,
               "seconds": round(time.perf_counter() - t0, 2)}
        if key in PEERS:
            out["peer"] = peer_summary(key, rows)
        print(json.dumps(out, indent=2, default=scalar))
    else:
        print(table(rows, args.verbose))
        print(text)
        if key in PEERS:
            print("\n".join(peer_lines(key, rows, full=True)))
        elif key == "kernel":
            print("\n".join(kernel_lines(rows)))
    if c[DIFFER] or (c[KNOWN] and not args.allow_known):
        return 1
    return 0


def _check_rows():
    """(rows of the golden vectors and of every installed backend, the skipped backends, golden shipped)."""
    all_rows, skipped = [], []
    golden = _golden_rows()
    if golden is not None:
        all_rows += golden
    for name in RUNNERS:
        try:
            all_rows += run_backend(name)
        except MissingBackend as exc:
            skipped.append(f"{name}: {exc}")
    from ..model.check import example_rows   # the shipped example model against onnxruntime (docs/model.md)
    try:
        all_rows += example_rows()
    except MissingBackend as exc:
        skipped.append(f"model example: {exc}")
    return all_rows, skipped, golden is not None


def cmd_check(args):
    """The kernel and every installed backend, built-in cases (golden vectors when shipped)."""
    t0 = time.perf_counter()
    all_rows, skipped, golden = _check_rows()
    text, c = summary(all_rows)
    secs = round(time.perf_counter() - t0, 2)
    if args.json:
        peers = {p: peer_summary(p, all_rows) for p in PEERS if any(r.peer == p for r in all_rows)}
        print(json.dumps({"rows": [asdict(r) for r in all_rows], "counts": c, "skipped": skipped,
                          "golden": golden, "peers": peers, "seconds": secs}, indent=2, default=scalar))
    else:
        _print_check(all_rows, skipped, text, secs, c)
    if c[DIFFER] or (args.strict and c[KNOWN]):
        return 1
    return 0


def _print_check(all_rows, skipped, text, secs, c):
    by = {}
    for r in all_rows:
        by.setdefault(r.backend, []).append(r)
    print(f"{'backend':<28} {'rows':>5} {'pass':>5} {'known':>6} {'differ':>7} {'unsupported':>12}")
    for b, rs in by.items():
        cnt = {st: sum(r.status == st for r in rs) for st in (PASS, KNOWN, DIFFER, UNSUPPORTED)}
        print(f"{b[:28]:<28} {len(rs):>5} {cnt[PASS]:>5} {cnt[KNOWN]:>6} {cnt[DIFFER]:>7} {cnt[UNSUPPORTED]:>12}")
    notable = [r for r in all_rows if r.status != PASS]
    if notable:
        print()
        print(table(notable))
    print()
    if any(r.backend == "kernel" for r in all_rows):
        print("\n".join(kernel_lines(all_rows)))
    for p in PEERS:
        if any(r.peer == p for r in all_rows):
            print("\n".join(peer_lines(p, all_rows, full=False)))
    for s in skipped:
        print(f"skipped {s}")
    print(text + f" ({secs} s)")
    print("check: " + ("FAILED: unexplained differences" if c[DIFFER] else
                       "OK (kernel == oracle; every backend difference is a known, named deviation)"))


def _golden_rows():
    """Rows from the shipped golden vectors (refquant.golden.verify: oracle + C kernel); None if absent."""
    try:
        golden = importlib.import_module("refquant.golden")
    except ImportError:
        return None
    try:
        sets = golden.find_sets(golden.default_root())
    except (OSError, RefquantError):
        return None
    rows = []
    for path in sets:
        try:
            gset = golden.load_set(path)
            mism, stats = golden.verify_set(gset, use_kernel=True)
        except RefquantError as exc:
            rows.append(Row("golden", path.name, "golden vectors", "manifest", DIFFER, note=str(exc)))
            continue
        flag = f"{stats['tests']} tests" + (f", {stats['kernel_checked']} also through the C kernel"
                                           if stats.get("kernel_checked") else "")
        if mism:
            m = mism[0]
            rows.append(Row("golden", gset.suite, "oracle + C kernel", flag, DIFFER, stats["tests"], len(mism),
                            note=f"#{m['tcId']} {m['name']} ({m['checker']}): {m['detail']}"[:200]))
        else:
            rows.append(Row("golden", gset.suite, "oracle + C kernel", flag, PASS, stats["tests"], 0))
    return rows or None
