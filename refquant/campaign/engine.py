"""Running a campaign: which tasks the budget holds, serially (``workers=0``, no Dask at all) or on
Dask (a LocalCluster of worker processes, or a scheduler by address), with a live progress line.

Dask is imported only here and only when asked for.  Each worker runs one task at a time
(threads_per_worker=1) and each task is told how many threads its device and the C kernel may
use (``threads``: the CPUs divided by the local workers), so worker threads x library threads
never exceed the CPUs; OMP/MKL/OpenBLAS are pinned to that count in the workers' environment.
"""

import math
import os
import sys
import time

from . import cases as cs
from .store import Store
from .task import run_task

WINDOW = 2          # tasks queued per worker beyond the one running
POLL_S = 5          # how often the driver looks for lost tasks
STALE_S = 600       # ... lost: no result this long past 4 x dut.timeout_s
# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in every worker (distributed.nanny.pre-spawn-environ);
# setting it at all turns off glibc's dynamic mmap threshold, so every numpy buffer over 128 KiB is
# mmapped, page-faulted and unmapped again: 3.2x the page faults of a plain process per task and
# 1.2-2x the compute time (docs/campaigns.md section 8).  None removes it for our LocalCluster.
NO_MALLOC_TRIM = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


def shape_elements(spec, index):
    """The outputs of task ``index`` from its first draws only (regime, then M, K, N), without its data."""
    g = cs.task_rng(spec["seed"], index)
    r = cs._regime(g, spec["regimes"])
    if r["op"] == "qlinear_conv":     # its outputs depend on the geometry: draw the (small) case
        case = cs.generate(spec, index, lambda op, per: "exact")
        M, _K, N = cs.dims(case)
        return M * N
    M, _K, N = (cs._dim(g, *r[d]) for d in ("m", "k", "n"))
    return M * N


def planned(spec, done=()):
    """The task indices of the budget, in order, less the ``done`` ones (an iterator; unbounded under a
    time-only budget)."""
    b = spec["budget"]
    total, i = 0, 0
    while True:
        if "tasks" in b and i >= b["tasks"]:
            return
        if "elements" in b:
            if total >= b["elements"]:
                return
            total += shape_elements(spec, i)
        if i not in done:
            yield i
        i += 1


def thread_env(threads):
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}


class Progress:
    """tasks, elements/s, mismatches, ETA on one stderr line (redrawn on a terminal, else every 10 s)."""

    def __init__(self, total, stream=None, quiet=False):
        self.total, self.stream, self.quiet = total, stream or sys.stderr, quiet
        self.tasks = self.elements = self.mismatches = self.failed = 0
        self.t0 = self.last = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, rec, force=False):
        self.tasks += 1
        self.elements += rec.get("elements", 0)
        self.mismatches += rec.get("mismatches", 0)
        self.failed += rec["status"] not in ("ok", "skipped")
        now = time.monotonic()
        if self.quiet or not (force or self.tty or now - self.last >= 10):
            return
        self.last = now
        self.stream.write(("\r" if self.tty else "") + self.line() + ("" if self.tty else "\n"))
        self.stream.flush()

    def line(self):
        dt = max(time.monotonic() - self.t0, 1e-9)
        rate = self.elements / dt
        eta = ""
        if self.total:
            left = (self.total - self.tasks) * dt / max(self.tasks, 1)
            eta = f"  ETA {_hms(left)}"
        of = f"/{self.total}" if self.total else ""
        return (f"tasks {self.tasks}{of}  elements {self.elements:,}  {rate:,.0f} el/s  mismatches "
                f"{self.mismatches:,}  failed tasks {self.failed}{eta}")

    def close(self):
        if not self.quiet:
            self.stream.write(("\r" if self.tty else "") + self.line() + "\n")
            self.stream.flush()


def _hms(s):
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def run(spec, store_dir, workers=0, scheduler=None, resume=False, threads=None, quiet=False, stop=None,
        spec_path=None, client=None):
    """Run (or resume) the campaign into ``store_dir``; returns the number of tasks run now.

    ``workers`` N > 0: a LocalCluster of N processes; ``scheduler``: a Dask scheduler's address;
    ``client``: a Dask client the caller made (left open); none of them: serially, without Dask.
    ``stop(n)`` (n: tasks finished in this run) true stops submitting more."""
    store = Store(store_dir)
    store.create_or_resume(spec, resume, spec_path)
    done = store.done()
    todo = planned(spec, done)
    b = spec["budget"]
    total = None if "tasks" not in b and "elements" not in b else sum(1 for _ in planned(spec, done))
    deadline = time.monotonic() + b["seconds"] if "seconds" in b else math.inf
    prog = Progress(total, quiet=quiet)
    if total == 0:                      # a finished campaign resumed: nothing to start a cluster for
        return 0
    if scheduler or workers or client is not None:
        return _run_dask(spec, store, todo, deadline, prog, (workers, scheduler, client), threads, stop)
    store.log_run({"workers": 0, "threads": threads})
    n = 0
    for i in todo:
        if time.monotonic() >= deadline or (stop and stop(n)):
            break
        rec = run_task(spec, i, threads)
        store.write(rec)
        prog.update(rec)
        n += 1
    prog.close()
    return n


def _cluster(workers, scheduler, client, threads):
    from dask.distributed import Client, LocalCluster
    if client is not None:
        return client, None, threads or 1
    if scheduler:
        client = Client(scheduler, timeout="30s")
        return client, None, threads or 1
    import dask
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    with dask.config.set(NO_MALLOC_TRIM):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", env=thread_env(threads))
    return Client(cluster), cluster, threads


def _run_dask(spec, store, todo, deadline, prog, where, threads, stop):
    workers, scheduler, given = where
    client, cluster, threads = _cluster(workers, scheduler, given, threads)
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers or 1)
        link = client.dashboard_link
        store.log_run({"workers": n_workers, "scheduler": client.scheduler.address, "dashboard": link,
                       "threads": threads})
        if not prog.quiet:
            print(f"campaign: {n_workers} Dask worker(s) at {client.scheduler.address}, dashboard {link}",
                  file=sys.stderr)
        n = _drive(client, spec, store, todo, deadline, prog, n_workers * (1 + WINDOW), threads, stop)
        prog.close()
        return n
    finally:
        if given is None:
            client.close()
        if cluster is not None:
            cluster.close()


def _submit(client, spec, i, threads, solo=False):
    key = f"refquant-task-{spec['seed']}-{i}" + ("-alone" if solo else "")
    fut = client.submit(run_task, spec, i, threads, key=key, pure=False, retries=1)
    if solo:
        from dask.distributed import wait
        wait([fut])
    return fut


def _drive(client, spec, store, todo, deadline, prog, window, threads, stop):
    """Keep ``window`` tasks in flight; write each record as it comes back.  A task whose workers kept
    dying (KilledWorker) may only have shared a worker with the task that kills it: it is rerun alone
    at the end, and recorded 'crashed' only if it fails alone too.  A task with no result after
    ``stale_after(spec)`` seconds (a worker hung outside the device call, a lost future) is cancelled
    and recorded 'lost'."""
    from dask.distributed import wait
    futures, suspects, n = {}, [], 0
    stale = stale_after(spec)

    def submit_next():
        if time.monotonic() < deadline and not (stop and stop(n)):
            nxt = next(todo, None)
            if nxt is not None:
                futures[_submit(client, spec, nxt, threads)] = (nxt, time.monotonic())
    for _ in range(window):
        submit_next()
    while futures:
        try:
            done = wait(list(futures), timeout=POLL_S, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            done = set()
        now = time.monotonic()
        for fut, (i, t0) in list(futures.items()):
            if fut in done:
                rec = _result(fut, spec, i)
            elif now - t0 > stale:
                fut.cancel()
                rec = _failed(i, "lost", f"no result after {stale:.0f} s (a hung worker or a lost task)", "Lost")
            else:
                continue
            del futures[fut]
            if rec["status"] == "crashed":
                suspects.append(i)
            else:
                store.write(rec)
                prog.update(rec)
                n += 1
            submit_next()
    for i in suspects:       # alone now: no other task's crash can be blamed on it
        rec = _result(_submit(client, spec, i, threads, solo=True), spec, i)
        store.write(rec)
        prog.update(rec)
        n += 1
    return n


def stale_after(spec):
    """Seconds after which a task in flight counts as lost: well past the device's own timeout."""
    return 4 * spec["dut"]["timeout_s"] + STALE_S


def _failed(i, status, text, kind):
    return {"task": i, "status": status, "elements": 0, "mismatches": 0, "error": f"{kind}: {text}",
            "signature": f"{status}: {kind}", "case": None}


def _result(fut, spec, i):
    """The task's record; a task whose worker kept dying, or that raised inside refquant, gets a record
    that says so (the campaign goes on)."""
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001
        kind = type(exc).__name__
        return _failed(i, "crashed" if kind == "KilledWorker" else "internal", " ".join(str(exc).split())[:300], kind)
