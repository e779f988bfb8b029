"""Time an end-to-end audit of an int8 GEMM dump (default 2048^3): C kernel accumulators checked
against the oracle, every candidate semantics, diagnosis.  python bench/audit.py [--size 2048]"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refquant.audit import core, tensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    n = args.size
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (n, n)), rng.integers(-128, 128, (n, n))
    spec = dict(op="qlinear_matmul", a=a, b=b, a_type="int8", b_type="int8", a_scale=0.5, b_scale=0.5, y_scale=1.5,
                a_zero_point=3, y_zero_point=-5, method="ort")
    case = core.make_case(spec)
    dev = core.expected(core.make_case(dict(spec, method="tflite_double")))[0]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "y.hex")
        tensors.save(path, dev.astype(np.int8), dtype="int8")
        t0 = time.perf_counter()
        actual = tensors.load(path, "int8", [n, n])
        t1 = time.perf_counter()
        res = core.audit(case, actual)
        t2 = time.perf_counter()
    print(f"{n}^3 int8 GEMM: read hex {t1 - t0:.2f} s, audit + diagnosis {t2 - t1:.2f} s; "
          f"{res['mismatches']} mismatches; {res['diagnosis']['verdict'][:100]}")


if __name__ == "__main__":
    main()
