#!/usr/bin/env python
"""Golden vector sets: generation and verification time per suite.

    python bench/golden.py [--suite S ...] [--seed N] [--jobs J]

Generation = build every case with the oracle and write the set (to a temporary directory, as
`refquant golden generate` does).  Verification = schema + checksums + recomputing every expected
value (and, for matmul, the C kernel on every path).  --jobs J generates the suites in J processes
and reports the wall time of the whole regeneration too.
"""
import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from refquant import golden  # noqa: E402


def _generate(suite, out, seed):
    t0 = time.perf_counter()
    manifest, size = golden.write_set(suite, out, seed, progress=False)
    return suite, manifest["numberOfTests"], size, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", action="append", choices=golden.SUITE_NAMES)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    suites = args.suite or list(golden.SUITE_NAMES)
    print(f"{'suite':<10}{'tests':>7}{'MB':>8}{'generate s':>12}{'verify s':>10}{'kernel-checked':>16}")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                rows = list(pool.map(_generate, suites, [out] * len(suites), [args.seed] * len(suites)))
        else:
            rows = [_generate(s, out, args.seed) for s in suites]
        wall = time.perf_counter() - t0
        for suite, n, size, gen in rows:
            t1 = time.perf_counter()
            mism, stats = golden.verify_set(golden.load_set(os.path.join(out, suite)), use_kernel=True, progress=False)
            ver = time.perf_counter() - t1
            assert not mism, mism[:3]
            print(f"{suite:<10}{n:>7}{size / 1e6:>8.2f}{gen:>12.2f}{ver:>10.2f}{stats['kernel_checked']:>16}")
        print(f"all suites regenerated in {wall:.1f} s wall with {args.jobs} job(s)")


if __name__ == "__main__":
    main()
