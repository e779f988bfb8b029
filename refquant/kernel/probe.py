"""Peak probes: the int8 multiply-add rate of this CPU on a SIMD path, measured now.

A benchmark reports a kernel's speed as a fraction of the peak of the instructions it runs,
measured on the same machine in the same run (docs/performance.md), never of a datasheet number
or of a path the machine does not have.  ``peak_gops("vnni", 512, threads=2)`` runs the C probe
(csrc/probe.c: 16 independent vpdpbusd chains on registers; 10 chains for the 256-bit paths) on each thread at once and returns
2 * multiply-adds / second / 1e9 of the fastest ~2 ms run (a loaded machine preempts some runs; the
fastest is the one that ran alone); None when the path is not usable here.  The 256-bit paths:
``peak_gops("avx2")`` times chains of vpmaddwd + vpaddd (the AVX2 kernel's exact step, 16 products
per pair), ``peak_gops("avx_vnni")`` chains of VEX vpdpbusd (32 products), ``peak_gops("amx")`` 4
independent tdpbusd on tiles (csrc/gemm_amx.c, 16 x 16 x 64 products each).  ``read_gbs(nbytes)``: the
read bandwidth a kernel that streams an operand of that size once (GEMV, M <= 4) is bound by.
"""

import threading
import time

from ._lib import ffi, lib, paths


def _probe(path, width):
    """The C probe of ``path``: iters -> multiply-adds performed."""
    if path == "vnni":
        return lambda iters: lib.rq_probe_vnni(width, iters)
    if path == "amx":
        return lib.rq_probe_amx
    return lambda iters: lib.rq_probe_avx2(0 if path == "avx2" else 1, iters)


def _run(probe, seconds, out, i):
    iters = 1 << 10
    while True:       # grow until one run takes ~2 ms: short enough to fit between preemptions on a
        t0 = time.perf_counter()                  # loaded machine, long enough to time well
        macs = probe(iters)
        dt = time.perf_counter() - t0
        if macs == 0 or dt >= 0.002 or iters > 1 << 40:
            break
        iters *= 2
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        macs = probe(iters)
        best = max(best, 2 * macs / (time.perf_counter() - t0) / 1e9)
    out[i] = best


def peak_gops(path="vnni", width=512, threads=1, seconds=0.3):
    """Measured peak GOPS (2 x int8 multiply-adds per second / 1e9) of ``path`` on ``threads``
    threads at once (the best run of each thread, summed); None if the path is not usable."""
    if lib is None or path not in ("vnni", "avx2", "avx_vnni", "amx") or path not in paths():
        return None
    if path == "vnni" and width not in (256, 512):
        return None
    out = [0.0] * threads
    ts = [threading.Thread(target=_run, args=(_probe(path, width), seconds, out, i)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(out)


def read_gbs(nbytes, threads=1, seconds=0.2):
    """Measured read bandwidth in GB/s: ``threads`` threads at once each sum their own share of
    one ``nbytes`` buffer (csrc/probe.c rq_probe_read: four sequential streams); the best run of
    each thread, summed.  Size it as the operand a kernel streams (B of a GEMV: K x N bytes), so
    that it comes from the same cache level or memory.  None without the C kernel."""
    if lib is None or nbytes < 256 * threads:
        return None
    import numpy as np
    buf = np.frombuffer(np.random.default_rng(0).bytes(nbytes), np.uint8)   # written pages, not zero pages
    share = nbytes // threads
    out = [0.0] * threads

    def one(i):
        view = ffi.from_buffer("uint8_t[]", buf[i * share:(i + 1) * share])
        best, t_end = 0.0, time.perf_counter() + seconds
        lib.rq_probe_read(view, share)
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            lib.rq_probe_read(view, share)
            best = max(best, share / (time.perf_counter() - t0) / 1e9)
        out[i] = best

    ts = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(out)


__all__ = ["peak_gops", "read_gbs", "ffi"]
