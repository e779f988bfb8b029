#!/usr/bin/env python
"""Observer throughput on 10^6 fp32 values (N(0,1) with outliers), fed in 16 batches.

    python bench/calibrate.py [--n 1000000] [--batches 16]

Reports observe time (all batches) and range() time per method, in million values per second.
"""
import argparse
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
         ("entropy onnxruntime", {"variant": "onnxruntime"}), ("mse", {})]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10**6)
    ap.add_argument("--batches", type=int, default=16)
    args = ap.parse_args()
    x = np.random.default_rng(0).standard_normal((args.batches, args.n // args.batches // 64, 64)).astype(np.float32)
    x[1, 0, 0], x[3, 0, 0] = 9.5, -7.25
    print(f"{'observer':<24}{'observe s':>11}{'range s':>10}{'Mvalues/s':>11}")
    for label, kw in CASES:
        obs = calibrate.make_observer(label.split()[0], **kw)
        t0 = time.perf_counter()
        for b in x:
            obs.observe(b)
        t1 = time.perf_counter()
        obs.range()
        t2 = time.perf_counter()
        print(f"{label:<24}{t1 - t0:>11.3f}{t2 - t1:>10.3f}{x.size / (t2 - t0) / 1e6:>11.2f}")


if __name__ == "__main__":
    main()
