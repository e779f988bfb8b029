"""Decode / encode throughput of the pure-Python numeric core (values/s) and the exhaustive fp16 sweep.

    python bench/formats.py

Prints the oracle's rate beside numpy's vectorised conversion of the same values (the peer a user
would otherwise reach for); the ratio says how much an exact reference costs, it is not a target.
"""
import platform
import random
import time

import numpy as np

from refquant import formats


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main():
    print(f"# {platform.machine()}, python {platform.python_version()}")
    formats._decode_small.cache_clear()
    dt, _ = timed(lambda: [formats.decode("fp16", b) for b in range(65536)])
    print(f"exhaustive fp16 decode, first (uncached) sweep: {dt:.3f} s")
    dt2, _ = timed(lambda: [formats.decode("fp16", b) for b in range(65536)])
    print(f"exhaustive fp16 decode, cached sweep:          {dt2:.3f} s")
    rng = random.Random(0)
    bits32 = [rng.getrandbits(32) & 0x7F7FFFFF for _ in range(50000)]
    dt, vals = timed(lambda: [formats.decode("fp32", b) for b in bits32])
    print(f"decode fp32:              {len(bits32) / dt:>12,.0f} values/s")
    for target in ("fp32", "fp16", "bf16", "fp8_e4m3fn", "fp4_e2m1"):
        src = vals if target != "fp32" else [formats.decode("fp64", formats.encode("fp64", v)) for v in vals]
        dt, _ = timed(lambda: [formats.encode(target, v) for v in src])
        print(f"encode fp32 -> {target:<11}{len(src) / dt:>12,.0f} values/s")
    arr = np.array(bits32, np.uint32).view(np.float32)
    t = time.perf_counter()
    for _ in range(100):
        arr.astype(np.float16)
    rate = 100 * len(arr) / (time.perf_counter() - t)
    print(f"numpy float32 -> float16: {rate:>12,.0f} values/s (peer, vectorised C)")


if __name__ == "__main__":
    main()
