#!/usr/bin/env python
"""Observer throughput on 10^6 fp32 values (N(0,1) with outliers), fed in 16 batches.

    python bench/calibrate.py [--n 1000000] [--batches 16] [--no-peers]

Reports observe time (all batches) and range() time per method, in million values per second.
refquant's peer models (torch HistogramObserver, onnxruntime per-call histograms) are timed like
the others; the peers themselves (torch.ao HistogramObserver, onnxruntime HistogramCollector),
where installed, are timed on the same batches for comparison (rows marked "peer").
"""
import argparse
import contextlib
import io
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from refquant import calibrate  # noqa: E402

CASES = [("minmax", {}), ("minmax per-channel(64)", {"axis": 1}), ("minmax per-group(32)", {"group_size": 32}),
         ("moving_average", {"c": 0.01}), ("percentile linear", {"p": 99.99}),
         ("percentile hist_left", {"p": 99.99, "method": "hist_left"}),
         ("entropy tensorrt", {"variant": "tensorrt"}), ("entropy modelopt", {"variant": "modelopt"}),
         ("entropy onnxruntime", {"variant": "onnxruntime"}), ("entropy ncnn", {"variant": "ncnn"}), ("mse", {}),
         ("histogram torch", {}),
         ("onnxruntime_histogram entropy", {"method": "entropy"}),
         ("onnxruntime_histogram pct sym", {"method": "percentile", "symmetric": True}),
         ("onnxruntime_histogram pct signed", {"method": "percentile", "symmetric": False})]


def row(label, t0, t1, t2, n):
    print(f"{label:<36}{t1 - t0:>11.3f}{t2 - t1:>10.3f}{n / (t2 - t0) / 1e6:>11.2f}")


def torch_peer(x):
    try:
        import torch
    except ImportError:
        return
    obs = torch.ao.quantization.HistogramObserver(dtype=torch.quint8)
    t0 = time.perf_counter()
    for b in x:
        obs(torch.from_numpy(np.ascontiguousarray(b)))
    t1 = time.perf_counter()
    obs.calculate_qparams()
    row(f"peer torch {torch.__version__.split('+')[0]} HistogramObserver", t0, t1, time.perf_counter(), x.size)


def ort_peers(x):
    try:
        import onnxruntime
        from onnxruntime.quantization.calibrate import HistogramCollector
    except ImportError:
        return
    v = onnxruntime.__version__
    for label, method, sym in (("entropy", "entropy", False), ("pct sym", "percentile", True),
                               ("pct signed", "percentile", False)):
        col = HistogramCollector(method, sym, 2048, 128, 99.999, "same")
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            for b in x:
                col.collect({"Y": [b]})
            t1 = time.perf_counter()
            col.compute_collection_result()
        row(f"peer ORT {v} Histogram {label}", t0, t1, time.perf_counter(), x.size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((args.batches, args.n // args.batches // 64, 64)).astype(np.float32)
    x[1, 0, 0], x[3, 0, 0] = 9.5, -7.25
    print(f"{'observer':<36}{'observe s':>11}{'range s':>10}{'Mvalues/s':>11}")
    for label, kw in CASES:
        obs = calibrate.make_observer(label.split()[0], **kw)
        t0 = time.perf_counter()
        for b in x:
            obs.observe(b)
        t1 = time.perf_counter()
        obs.range()
        row(label, t0, t1, time.perf_counter(), x.size)
    if not args.no_peers:
        torch_peer(x)
        ort_peers(x)


if __name__ == "__main__":
    main()
