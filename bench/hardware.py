"""Throughput of the hardware flow (docs/hardware.md §8): the scoreboard's references (oracle per
transaction, C kernel per transaction, C kernel batched), the DPI-C library called per transaction,
and the simulators' cycles/s on rq_dot (the $readmemh batch testbench under Icarus; the cocotb
testbench under Icarus).

    python bench/hardware.py [--n 20000] [--k 16] [--sim-outputs 256] [--json out.json] [--no-sim]

Writes a JSON record (--json) and a markdown table on stdout. Run once, small, on a quiet machine
for numbers worth recording.
"""
import argparse
import ctypes
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "rtl"))
from refquant import kernel  # noqa: E402
from refquant.cocotb import Scoreboard, random_vectors  # noqa: E402

KW = dict(method="tflite_single", params={"m": 1610612736, "shift": -7}, a_zero_point=3, b_zero_point=-2,
          y_zero_point=-5, policy="saturate")


def _rate(n, secs):
    return n / secs if secs > 0 else float("inf")


def scoreboard_rates(n, K):
    """transactions/s of each reference on n random dot products of length K."""
    ref = Scoreboard("dot", **KW)
    vs = random_vectors(ref, n, K, seed=1)
    exps = [ref.expected(v) for v in vs]
    out = {}
    for label, kw in (("oracle, per transaction", {}),
                      ("C kernel, per transaction (batch=1)", {"reference": "kernel", "batch": 1}),
                      ("C kernel, batched (batch=256)", {"reference": "kernel", "batch": 256})):
        if kw and not kernel.available():
            continue
        sb = Scoreboard("dot", **KW, **kw)
        t0 = time.perf_counter()
        for v, e in zip(vs, exps):
            sb.check(v, e)
        sb.finish()
        out[label] = _rate(n, time.perf_counter() - t0)
        print(f"  {label}: {out[label]:,.0f} transactions/s", file=sys.stderr)
    return out


def dpi_rate(n, K, workdir):
    """transactions/s of the DPI-C library called per transaction through ctypes (a simulator calls it
    without ctypes' overhead: this is a lower bound)."""
    from refquant.cli.dpi import build
    res = build(os.path.join(workdir, "dpi"), progress=lambda s: None)
    lib = ctypes.CDLL(res["shared"])
    i32 = ctypes.c_int32
    lib.rq_dpi_finish.argtypes = [i32] * 11 + [ctypes.POINTER(i32)] * 2
    vs = random_vectors(Scoreboard("dot", **KW), n, K, seed=2)
    acc, y = i32(), i32()
    t0 = time.perf_counter()
    for t in vs:
        lib.rq_dpi_reset(0)
        for a, b in zip(t["a"], t["b"]):
            lib.rq_dpi_push(0, a, b)
        lib.rq_dpi_finish(0, 3, -2, t["bias"], 1, 3, 1610612736, -7, -5, -128, 127, ctypes.byref(acc), ctypes.byref(y))
    return _rate(n, time.perf_counter() - t0)


def simulator_rates(outputs, K, workdir):
    """cycles/s of the $readmemh batch testbench (Icarus) and of the cocotb testbench (Icarus)."""
    import run_batch
    import run_cocotb
    out = {}
    d = os.path.join(workdir, "batch")
    os.makedirs(d, exist_ok=True)
    cfg = run_batch.CONFIGS[False]
    run_batch.inputs(d, outputs // 8, 8, K, cfg, 0)
    secs, cycles = run_batch.simulate(d, outputs // 8, 8, K, cfg)
    out["Icarus, $readmemh batch testbench"] = _rate(cycles, secs)
    t0 = time.perf_counter()
    n, _ = run_cocotb.run("icarus", random=outputs, build_dir=os.path.join(workdir, "cocotb"), K=K)
    secs = time.perf_counter() - t0
    vectors = outputs + 300          # + the directed vectors (about 300)
    out["Icarus + cocotb + scoreboard (oracle), incl. build and start"] = _rate(vectors * (K + 3), secs)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000, help="transactions for the scoreboard rates")
    ap.add_argument("--k", type=int, default=16, help="beats per dot product")
    ap.add_argument("--sim-outputs", type=int, default=256, help="outputs simulated per simulator run")
    ap.add_argument("--json", help="write the record here")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulators")
    a = ap.parse_args()
    rec = {"machine": platform.machine(), "python": platform.python_version(), "n": a.n, "k": a.k,
           "scoreboard_transactions_per_s": scoreboard_rates(a.n, a.k)}
    with tempfile.TemporaryDirectory() as w:
        try:
            rec["dpi_transactions_per_s"] = dpi_rate(a.n, a.k, w)
        except Exception as exc:       # no compiler: say so and go on
            rec["dpi_transactions_per_s"] = f"not measured: {exc}"
        if not a.no_sim:
            rec["simulator_cycles_per_s"] = simulator_rates(a.sim_outputs, a.k, w)
    print("| what | rate |\n|---|---|")
    for group, rows in rec.items():
        if isinstance(rows, dict):
            for k, v in rows.items():
                print(f"| {k} | {v:,.0f} {'cycles/s' if 'cycles' in group else 'transactions/s'} |")
        elif group == "dpi_transactions_per_s":
            print(f"| DPI-C library via ctypes, per transaction | "
                  f"{rows:,.0f} transactions/s |" if isinstance(rows, float) else f"| DPI-C | {rows} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rec, f, indent=1)


if __name__ == "__main__":
    main()
