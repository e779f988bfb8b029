"""Campaign throughput: elements/s serially and on 1 and 2 local Dask workers, per-task overhead,
scaling efficiency, the projected cost of 10^12 elements, and where compute inside a worker goes
(thread oversubscription: library threads x worker processes vs the CPUs; the glibc malloc trim threshold
that Dask's nanny sets in every worker; Dask's sampling profiler).

    python bench/campaign.py [--dut onnxruntime|kernel] [--size 1536] [--tasks 8] [--json out.json]

Each configuration runs ``--tasks`` tasks of one size x size x size QLinearMatMul (keep tasks >= 0.5 s
so Dask's few milliseconds per task stay < 1 %: about --size 1536 for onnxruntime on one idle x86 core;
the "compute in task" column says whether a size is enough).
"Compute in task" is the mean time a task spends inside run_task (device + reference + oracle
sample), measured in the process that ran it; "overhead per task" is wall time per task times the
workers minus that; "faults/task" the minor page faults of the process during a task (load-independent,
unlike the times on a shared machine).  Cluster start-up is timed apart and not counted in the rates.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from refquant import campaign  # noqa: E402
from refquant.campaign.engine import NO_MALLOC_TRIM, thread_env  # noqa: E402
from refquant.campaign.store import Store  # noqa: E402

CPUS = os.cpu_count() or 1


def spec_for(dut, size, tasks):
    raw = {"campaign": {"name": "bench", "seed": 1},
           "dut": {"kind": dut} if dut != "kernel" else {"kind": "kernel", "method": "ort"},
           "reference": {"kind": "kernel" if dut != "kernel" else "numpy", "sample": 16},
           "regime": [{"name": "r", "m": size, "k": size, "n": size, "a_type": ["uint8"], "b_type": ["int8"],
                       "scales": ["random"], "zero_points": ["random"]}],
           "budget": {"tasks": tasks}}
    return campaign.validate(raw, "<bench>")


def one(spec, workers, threads, trim=False, profiler=True):
    """(wall s without start-up, start-up s, records) of one configuration.  ``trim``: keep Dask's
    MALLOC_TRIM_THRESHOLD_=65536 in the workers (its default); ``profiler``: Dask's sampling profiler."""
    import dask
    with tempfile.TemporaryDirectory() as d:
        if not workers:
            campaign.run_task(spec, 0, threads)                                 # warm: imports, first session
            t0 = time.perf_counter()
            campaign.run(spec, d, workers=0, threads=threads, quiet=True)
            return time.perf_counter() - t0, 0.0, Store(d).records()
        os.environ["DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED"] = str(profiler)
        os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)      # a nanny of an earlier configuration put it here
        from dask.distributed import Client, LocalCluster
        t0 = time.perf_counter()
        with dask.config.set({} if trim else NO_MALLOC_TRIM), \
                LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                             dashboard_address=None, env=thread_env(threads)) as cluster, Client(cluster) as client:
            client.wait_for_workers(workers)
            client.run(campaign.run_task, spec, 0, threads)                    # warm each worker, untimed
            t1 = time.perf_counter()
            campaign.run(spec, d, client=client, threads=threads, quiet=True)
            t2 = time.perf_counter()
        return t2 - t1, t1 - t0, Store(d).records()


def summarize(label, workers, threads, wall, start, recs):
    el = sum(r["elements"] for r in recs)
    compute = sum(r["total_s"] for r in recs) / len(recs)
    dut = sum(r.get("dut_s", 0) for r in recs) / len(recs)
    faults = sum(r.get("page_faults", 0) for r in recs) / len(recs)
    per_task_wall = wall * max(workers, 1) / len(recs)
    return {"config": label, "workers": workers, "threads_per_task": threads, "tasks": len(recs), "elements": el,
            "wall_s": round(wall, 3), "startup_s": round(start, 3), "elements_per_s": el / wall,
            "compute_in_task_s": round(compute, 4), "dut_in_task_s": round(dut, 4), "page_faults_per_task": faults,
            "overhead_per_task_ms": round(1000 * (per_task_wall - compute), 2),
            "statuses": sorted({r["status"] for r in recs})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dut", default="onnxruntime", choices=("onnxruntime", "kernel"))
    ap.add_argument("--size", type=int, default=1536)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    spec = spec_for(args.dut, args.size, args.tasks)
    configs = [("serial, library threads = CPUs", 0, CPUS, False, True), ("serial, 1 thread", 0, 1, False, True),
               ("1 worker, 1 thread", 1, 1, False, True), ("2 workers, 1 thread each", 2, 1, False, True),
               (f"2 workers, {CPUS} threads each (oversubscribed)", 2, CPUS, False, True),
               ("2 workers, 1 thread, Dask's MALLOC_TRIM_THRESHOLD_", 2, 1, True, True),
               ("2 workers, 1 thread, Dask profiler off", 2, 1, False, False)]
    rows = []
    for label, workers, threads, trim, prof in configs:
        wall, start, recs = one(spec, workers, threads, trim, prof)
        rows.append(summarize(label, workers, threads, wall, start, recs))
        r = rows[-1]
        print(f"{label:<48} {r['elements_per_s']:>14,.0f} el/s  compute in task {r['compute_in_task_s']:.3f} s "
              f"(device {r['dut_in_task_s']:.3f} s)  {r['page_faults_per_task']:>7,.0f} faults/task  "
              f"overhead {r['overhead_per_task_ms']:>7.1f} ms/task  "
              f"start-up {r['startup_s']:.1f} s", flush=True)
    by = {r["config"]: r for r in rows}
    one_w, two_w = by["1 worker, 1 thread"], by["2 workers, 1 thread each"]
    eff = two_w["elements_per_s"] / (2 * one_w["elements_per_s"])
    best = max(rows, key=lambda r: r["elements_per_s"])
    hours = 1e12 / best["elements_per_s"] / 3600
    cpu_h = hours * max(best["workers"], 1) * best["threads_per_task"]
    serial1 = by["serial, 1 thread"]["compute_in_task_s"]
    print(f"scaling 1 -> 2 workers: {eff:.0%} efficiency; compute in a worker / serial (1 thread): "
          f"{two_w['compute_in_task_s'] / serial1:.2f}x (2 workers), "
          f"{by[configs[4][0]]['compute_in_task_s'] / serial1:.2f}x (oversubscribed), "
          f"{by[configs[5][0]]['compute_in_task_s'] / serial1:.2f}x (Dask's malloc trim threshold)")
    print(f"10^12 elements at the best rate here ({best['config']}): {hours:,.0f} h wall, ~{cpu_h:,.0f} core-hours; "
          f"machine: {CPUS} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dut": args.dut, "size": args.size, "cpus": CPUS, "loadavg": os.getloadavg(), "rows": rows,
                       "scaling_efficiency": eff, "projected_1e12_hours": hours}, f, indent=1)


if __name__ == "__main__":
    main()
