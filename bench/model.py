"""Benchmark: a MobileNetV2-size int8 model compared end to end against onnxruntime; where time goes.

    python bench/model.py                       # width 1.0, 224 x 224, QOperator per-channel, level all
    python bench/model.py --width 0.25 --size 32 --format qdq --level disable   # a tiny run

Builds the model with refquant.model.zoo (torch export + quantize_static, seeded; cached in the
temp folder), then times: onnxruntime's optimized graph and observed run, refquant's own run, and
the judging (each node re-run on onnxruntime's inputs), and prints the slowest op types.
"""

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from refquant.model import compare as C
from refquant.model import load, targets, zoo
from refquant.model.registry import Context, implementation
from refquant.model.runner import seeded_inputs
from refquant.model.value import V


def _per_op(graph, feeds, backend):
    import numpy as np
    values = {n: V(np.asarray(a)) for n, a in graph.initializers.items()}
    values.update({n: V(np.asarray(a)) for n, a in feeds.items()})
    ctx, times = Context(backend), defaultdict(float)
    for node in graph.nodes:
        t = time.perf_counter()
        outs = implementation(node)(ctx, node, [values[n] if n else None for n in node.inputs])
        times[node.key] += time.perf_counter() - t
        values.update({n: v for n, v in zip(node.outputs, outs) if n})
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--format", default="qop", choices=["qop", "qdq"])
    ap.add_argument("--level", default="all")
    a = ap.parse_args()
    t0 = time.perf_counter()
    import torch
    folder = Path(tempfile.gettempdir()) / "refquant-model-bench"
    blocks = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1))
    mod = zoo._modules(torch)["mobilenet"][0]

    class Sized(mod):
        def __init__(self):
            super().__init__(w=a.width, blocks=blocks, classes=1000)
    zoo_modules = zoo._modules
    zoo._modules = lambda t: dict(zoo_modules(t), mobilenet=(Sized, (1, 3, a.size, a.size)))
    path = zoo.build("mobilenet", folder, a.format, True, seed=0, calib=2, shape=(1, 3, a.size, a.size))
    t1 = time.perf_counter()
    g = load(path)
    feeds = seeded_inputs(g, 1)
    spec = f"onnxruntime:{a.level}"
    target = targets.build(spec, path, feeds)
    t2 = time.perf_counter()
    rep = C.compare_target(target, feeds)
    t3 = time.perf_counter()
    ops = _per_op(target.graph, feeds, target.backend)
    print(f"model {path.name}: {len(g.nodes)} nodes; onnxruntime {spec}: {len(target.graph.nodes)} nodes")
    print(f"build {t1 - t0:.1f}s, onnxruntime optimize + observed run {t2 - t1:.1f}s, "
          f"refquant run + judge twice {t3 - t2:.1f}s")
    print(f"verdict: {'divergence' if rep.diverges else 'agree'}; "
          f"new divergences {sum(n.klass == 'new divergence' for n in rep.nodes)}")
    print("refquant time per op type (one run):")
    for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {k:<36} {v:7.2f}s")


if __name__ == "__main__":
    main()
