"""Benchmark: a MobileNetV2- or ResNet-50-size int8 model compared end to end against onnxruntime; where time goes.

    python bench/model.py                                   # MobileNetV2, width 1.0, 224 x 224, QOperator per-channel, level all
    python bench/model.py --kind resnet50 --json resnet50.json        # ResNet-50, width 1.0, 224 x 224
    python bench/model.py --kind resnet50 --width 0.125 --size 32     # a tiny run (< 1 min)

Builds the model with refquant.model.zoo (torch export + quantize_static, seeded, 1000 classes; cached in
the temp folder), then times: onnxruntime's optimized graph and observed run, a plain onnxruntime session,
refquant's own run and the judging (each node re-run on onnxruntime's inputs), and refquant's time per op
type. ``--json PATH`` writes the numbers with the machine, CPU model, date, commit, load average and threads.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from refquant.model import compare as C
from refquant.model import load, ort, targets, zoo
from refquant.model.registry import Context, implementation
from refquant.model.runner import seeded_inputs
from refquant.model.value import V

MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))


def _say(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _per_op(graph, feeds, backend):
    """{op type: [seconds, nodes]} of one refquant run of ``graph``."""
    import numpy as np
    values = {n: V(np.asarray(a)) for n, a in graph.initializers.items()}
    values.update({n: V(np.asarray(a)) for n, a in feeds.items()})
    ctx, times = Context(backend), defaultdict(lambda: [0.0, 0])
    for node in graph.nodes:
        t = time.perf_counter()
        outs = implementation(node)(ctx, node, [values[n] if n else None for n in node.inputs])
        times[node.key][0] += time.perf_counter() - t
        times[node.key][1] += 1
        values.update({n: v for n, v in zip(node.outputs, outs) if n})
    return times


def _build(a):
    """The zoo model at full depth (MobileNetV2's 17 blocks / ResNet-50's 16), 1000 classes, width a.width."""
    import torch
    base = zoo._modules(torch)[a.kind][0]
    extra = {"blocks": MOBILENET_V2_BLOCKS} if a.kind == "mobilenet" else {}

    class Sized(base):
        def __init__(self, w=1.0):
            super().__init__(w=w, classes=1000, **extra)
    folder = Path(tempfile.gettempdir()) / "refquant-model-bench"
    shape = (1, 3, a.size, a.size)
    saved = zoo._modules
    zoo._modules = lambda t: dict(saved(t), **{a.kind: (Sized, shape)})
    try:
        return zoo.build(a.kind, folder, a.format, True, seed=0, calib=2, shape=shape, width=a.width)
    finally:
        zoo._modules = saved


def _progress():
    last = [0.0]

    def show(msg):
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            _say(msg)
    return show


def _machine():
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "")
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, cwd=Path(__file__).parent).stdout.strip())
    except OSError:
        commit, dirty = "", None
    import numpy
    import onnxruntime
    import torch
    return {"host": platform.node(), "machine": platform.machine(), "platform": platform.platform(),
            "cpu_model": cpu, "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit, "tree_modified": dirty, "python": platform.python_version(),
            "versions": {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
                         "numpy": numpy.__version__},
            "threads": {"onnxruntime_intra_op": 1, "torch": torch.get_num_threads(),
                        **{k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                           if k in os.environ}}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", default="mobilenet", choices=["mobilenet", "resnet50"])
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--format", default="qop", choices=["qop", "qdq"])
    ap.add_argument("--level", default="all")
    ap.add_argument("--json", metavar="PATH", help="write the report as JSON")
    a = ap.parse_args()
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    _say(f"building {a.kind} width {a.width:g} {a.size}x{a.size} ({a.format}; cached after the first time)")
    path = _build(a)
    t1 = time.perf_counter()
    g = load(path)
    feeds = seeded_inputs(g, 1)
    spec = f"onnxruntime:{a.level}"
    _say(f"{path.name}: {len(g.nodes)} nodes; onnxruntime optimize + observed run")
    target = targets.build(spec, path, feeds)
    t2 = time.perf_counter()
    ort.run_session(path, a.level, feeds)
    t3 = time.perf_counter()
    _say(f"refquant run + judging {len(target.graph.nodes)} nodes")
    rep = C.compare_target(target, feeds, progress=_progress())
    t4 = time.perf_counter()
    _say("refquant time per op type")
    ops = _per_op(target.graph, feeds, target.backend)
    t5 = time.perf_counter()
    counts = {c: sum(n.klass == c for n in rep.nodes) for c in sorted({n.klass for n in rep.nodes})}
    times = {"build": t1 - t0, "ort_optimize_observed_run": t2 - t1, "ort_plain_session": t3 - t2,
             "refquant_run_and_judge": t4 - t3, "refquant_one_run_per_op": t5 - t4, "end_to_end": t4 - t0,
             "compare_without_build": t4 - t1}
    slow = sorted(ops.items(), key=lambda kv: -kv[1][0])
    print(f"model {path.name}: {len(g.nodes)} nodes; onnxruntime {spec}: {len(target.graph.nodes)} nodes")
    print(f"build {times['build']:.1f}s, onnxruntime optimize + observed run {times['ort_optimize_observed_run']:.1f}s "
          f"(plain session create + run {times['ort_plain_session']:.2f}s), refquant run + judge twice "
          f"{times['refquant_run_and_judge']:.1f}s; end to end {times['end_to_end']:.1f}s")
    print(f"verdict: {'divergence' if rep.diverges else 'agree'}; "
          f"new divergences {sum(n.klass == 'new divergence' for n in rep.nodes)}; {counts}")
    print(f"refquant time per op type (one run, {times['refquant_one_run_per_op']:.2f}s):")
    for k, (sec, n) in slow[:8]:
        print(f"  {k:<36} {sec:7.2f}s  {n:4d} nodes")
    if a.json:
        doc = {"bench": "bench/model.py", "args": vars(a), "model": path.name, "nodes": len(g.nodes),
               "nodes_optimized": len(target.graph.nodes), "verdict": "divergence" if rep.diverges else "agree",
               "counts": counts, "elements_judged": sum(n.elements for n in rep.nodes), "seconds": times,
               "per_op_type": {k: {"seconds": sec, "nodes": n} for k, (sec, n) in slow},
               "load_average": {"start": load_start, "end": os.getloadavg()}, **_machine()}
        Path(a.json).write_text(json.dumps(doc, indent=1) + "\n")
        print(f"report: {a.json}")


if __name__ == "__main__":
    main()
