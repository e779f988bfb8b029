"""One campaign task: (spec, task index) -> a small JSON-ready record.  Plain Python: it imports no
distributed engine, so it runs the same serially, on a Dask worker or in a replay.

Record fields: task, status (ok | mismatch | error | timeout | reference | skipped), elements
(outputs compared), mismatches, first (up to 5 [row, col, got, expected]; [n, m, oh, ow, got,
expected] for qlinear_conv), signature (what groups equal failures), case (describe()), dut_s /
ref_s / total_s, page_faults (the process's minor page faults during the task), versions (the
device's, e.g. onnxruntime 1.32.0), pid, host, error (for error statuses).
"""

import os
import re
import socket
import time
import traceback

import numpy as np

from ..audit.common import OracleDisagreement
from . import cases as cs
from .duts import DutTimeout, call_with_timeout, dut_class, method_of, open_dut
from .reference import expected

FIRST = 5


def build_case(spec, index):
    """The case of task ``index``, fitted to what the device takes."""
    case = cs.generate(spec, index, lambda op, per_axis: method_of(spec["dut"], op, per_axis))
    dut_class(spec["dut"]["kind"]).adjust_case(spec["dut"], case)
    return case


def _faults():
    try:
        import resource
    except ImportError:     # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_task(spec, index, threads=None):
    """Run task ``index`` of ``spec`` and return its record (never raises for a device failure)."""
    t0, f0 = time.perf_counter(), _faults()
    case = build_case(spec, index)
    rec = {"task": int(index), "case": cs.describe(case), "pid": os.getpid(), "host": socket.gethostname(),
           "elements": 0, "mismatches": 0}
    if case.get("skip"):
        rec.update(status="skipped", error=case["skip"], signature="skipped", total_s=time.perf_counter() - t0)
        return rec
    outcome = check_case(spec, case, threads)
    rec.update(outcome)
    rec["versions"] = device_versions(spec, threads)
    rec["total_s"] = round(time.perf_counter() - t0, 6)
    rec["page_faults"] = _faults() - f0        # minor faults of the process during the task
    return rec


def device_versions(spec, threads=None):
    """The device's versions (e.g. {"onnxruntime": "1.32.0"}): what each record was measured on."""
    try:
        return {str(k): str(v) for k, v in open_dut(spec["dut"], threads).versions().items()}
    except Exception:  # noqa: BLE001  (a device that cannot say: nothing recorded, the task stands)
        return {}


def check_case(spec, case, threads=None):
    """Run the device and the reference on ``case``: {status, elements, mismatches, first, signature, ...}."""
    dut = open_dut(spec["dut"], threads)
    t0 = time.perf_counter()
    try:
        got = call_with_timeout(lambda: dut.run(case), spec["dut"]["timeout_s"])
    except DutTimeout as exc:
        return {"status": "timeout", "error": str(exc), "signature": "timeout", "dut_s": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001  (whatever the device raises is a finding, not a crash)
        return _error("error", exc, time.perf_counter() - t0)
    t1 = time.perf_counter()
    try:
        rng = np.random.default_rng([int(case["seed"]), int(case["task"]), 1])
        want = expected(case, spec["reference"]["kind"], spec["reference"]["sample"], rng, threads)
    except OracleDisagreement as exc:
        return _error("reference", exc, t1 - t0)
    t2 = time.perf_counter()
    out = {"dut_s": round(t1 - t0, 6), "ref_s": round(t2 - t1, 6)}
    got = np.asarray(got)
    if got.shape != want.shape:
        out.update(status="error", error=f"the device returned shape {list(got.shape)}; expected {list(want.shape)}",
                   signature="error: wrong output shape")
        return out
    got = got.astype(np.int64)
    bad = np.argwhere(got != want)
    out.update(elements=int(want.size), mismatches=int(len(bad)),
               first=[[*map(int, ix), int(got[tuple(ix)]), int(want[tuple(ix)])] for ix in bad[:FIRST]])
    out["status"] = "mismatch" if len(bad) else "ok"
    out["signature"] = signature(case, got, want, bad) if len(bad) else "ok"
    return out


def _error(status, exc, dut_s):
    msg = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    generic = re.sub(r"-?[0-9]+(\.[0-9]+)?", "N", " ".join(str(exc).split()))[:100]
    sig = f"{status}: {type(exc).__name__}: {generic}"
    return {"status": status, "error": msg, "signature": sig, "dut_s": round(dut_s, 6),
            "where": [f"{f.filename}:{f.lineno}" for f in where]}


def signature(case, got, want, bad):
    """What makes two mismatching tasks the same failure: op, method, scale regime, difference class."""
    d = got[tuple(bad.T)] - want[tuple(bad.T)]
    if np.all(np.abs(d) == 1):
        diff = "+1" if np.all(d > 0) else "-1" if np.all(d < 0) else "+-1"
    else:
        diff = "|d|>1"
    return f"mismatch: {case['op']} {case['method']} scales={case['scales']} diff={diff}"
