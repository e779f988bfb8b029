"""Speed of the pure-Python oracle's integer operators (MAC/s), beside numpy's int64 matmul of the same
operands (a script, not a test: machines and load differ).

    python bench/oracle.py [--sizes 64 128 256]

The oracle is exact and readable; its fast path (docs/gemm-contract.md §2: no partial sum can overflow,
so ``sum(map(mul, row, col))``) is what this measures.  Rates are per CPU-second of this process
(time.process_time), so other load on the machine distorts them less.
"""
import argparse
import datetime
import platform
import subprocess
import time

import numpy as np

from refquant import ops


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return max(best, 1e-9)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, "
          f"{datetime.date.today()}, commit {commit or '?'}")
    rng = np.random.default_rng(0)
    print("| op | size | oracle M MAC/s | numpy int64 M MAC/s | numpy / oracle |")
    print("|---|---|---|---|---|")
    for n in args.sizes:
        a, b = rng.integers(0, 256, (n, n)), rng.integers(-128, 128, (n, n))
        al, bl = a.tolist(), b.tolist()
        t_or = _best(lambda: ops.matmul_integer(al, bl, 128, 0, "uint8", "int8"), args.repeats)
        t_np = _best(lambda: (a - 128) @ b, args.repeats)
        print(f"| matmul_integer | {n}^3 | {n**3 / t_or / 1e6:.1f} | {n**3 / t_np / 1e6:.1f} | {t_or / t_np:.0f}x |")
    x, w = rng.integers(0, 256, (1, 16, 16, 16)), rng.integers(-128, 128, (16, 16, 3, 3))
    macs = 16 * 16 * 9 * 16 * 16
    t_or = _best(lambda: ops.conv_integer(x.tolist(), w.tolist(), 128, 0, x_type="uint8", w_type="int8",
                                          pads=[1, 1, 1, 1]), args.repeats)
    print(f"| conv_integer | 16x16x16, 16 filters 3x3 | {macs / t_or / 1e6:.1f} | | |")


if __name__ == "__main__":
    main()
