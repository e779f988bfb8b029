"""refquant campaign: spec checks, determinism, a planted fault found / shrunk / replayed, the store's
kill-and-resume, the same totals serially and on Dask (LocalCluster and a separately started
scheduler / worker pair), device timeouts and external commands (docs/campaigns.md)."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from refquant import campaign
from refquant.campaign import duts
from refquant.campaign.engine import planned
from refquant.campaign.report import report, shrink_failures
from refquant.campaign.store import Store
from refquant.cli import main
from refquant.errors import InvalidValueError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM = os.path.join(ROOT, "examples", "campaign", "sim_model.py")

PLANTED = """
[campaign]
name = "planted"
seed = 11
[dut]
kind = "planted"
plant = {rate = 0.25, delta = 1}
[[regime]]
name = "mm"
m = [1, 24]
k = [1, 96]
n = [1, 24]
a_type = ["uint8", "int8"]
b_type = ["int8", "uint8"]
scales = ["random", "near_tie", "tie", "extreme"]
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
[[regime]]
name = "acc"
op = "matmul_integer"
weight = 0.5
k = [1, 3000]
policy = ["wrap", "saturate"]
zero_points = ["extreme"]
[budget]
tasks = 32
"""


def _write(tmp_path, text, name="spec.toml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _spec(tmp_path, text=PLANTED):
    return campaign.load(_write(tmp_path, text))


def _by_task(recs):
    return {r["task"]: (r["status"], r["elements"], r["mismatches"], r.get("first")) for r in recs}


def _planted_tasks(spec):
    out = set()
    for i in planned(spec):
        case = campaign.build_case(spec, i)
        if duts.planted_position(case, spec["dut"]["plant"]) is not None:
            out.add(i)
    return out


@pytest.fixture
def hang_guard():
    """A Dask test that hangs (a lost future, a cluster that never starts) ends the session with every
    thread's stack after 300 s, instead of holding CI until its own limit."""
    import faulthandler
    faulthandler.dump_traceback_later(300, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The planted campaign run serially (no Dask): its spec, store and records."""
    tmp = tmp_path_factory.mktemp("serial")
    spec = _spec(tmp)
    n = campaign.run(spec, str(tmp / "store"), workers=0, quiet=True)
    return spec, Store(str(tmp / "store")), n


# -- the spec ----------------------------------------------------------------------------------

@pytest.mark.parametrize("edit, words", [
    (("kind = \"planted\"", "kind = \"warp_drive\""), "dut.kind"),
    (("k = [1, 96]", "k = [0, 96]"), "regime[0].k"),
    (("tasks = 32", "tasks = -1"), "budget.tasks"),
    (("[budget]\ntasks = 32", ""), "[budget]"),
    (("scales = [\"random\",", "scales = [\"fuzzy\","), "regime[0].scales"),
    (("name = \"mm\"", "name = \"mm\"\nshape = 3"), "regime[0].shape"),
    (("kind = \"planted\"", "kind = \"planted\"\nmethod = \"onnx_ref\""), "not one the C kernel implements"),
])
def test_spec_errors_name_the_key(tmp_path, edit, words):
    with pytest.raises(InvalidValueError, match=None) as ei:
        campaign.load(_write(tmp_path, PLANTED.replace(*edit)))
    assert words in str(ei.value) and "spec.toml" in str(ei.value)


def test_spec_errors_exit_2_with_one_line(tmp_path, capsys):
    p = _write(tmp_path, PLANTED.replace("[[regime]]", "[[regime", 1))
    assert main(["campaign", "run", p, "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not valid TOML" in err[0]
    ort = PLANTED.replace('kind = "planted"', 'kind = "onnxruntime"').replace("plant = {rate = 0.25, delta = 1}", "")
    assert main(["campaign", "run", _write(tmp_path, ort, "o.toml")]) == 2
    assert "int8 x uint8 is not supported by dut kind 'onnxruntime'" in capsys.readouterr().err


def test_cases_are_a_function_of_seed_and_index(tmp_path):
    spec = _spec(tmp_path)
    a, b = campaign.build_case(spec, 5), campaign.build_case(spec, 5)
    assert all(np.array_equal(a[k], b[k]) for k in ("a", "b", "zb")) and a["sy"] == b["sy"]
    other = campaign.build_case(dict(spec, seed=12), 5)
    assert not (a["a"].shape == other["a"].shape and np.array_equal(a["a"], other["a"]))


# -- a serial campaign with a planted fault ----------------------------------------------------

def test_planted_fault_found_counted_and_shrunk(serial, tmp_path):
    spec, store, n = serial
    recs = store.records()
    assert n == len(recs) == 32 and sorted(r["task"] for r in recs) == list(range(32))
    t = report(store.root)["totals"]
    assert t["elements"] == sum(int(np.prod(r["case"]["shape"][::2])) for r in recs)
    assert t["mismatches"] == sum(r["mismatches"] for r in recs)
    bad = {r["task"] for r in recs if r["status"] == "mismatch"}
    assert bad == _planted_tasks(spec) and bad          # each planted task found, nothing else
    assert all(r["mismatches"] == 1 for r in recs if r["status"] == "mismatch")
    assert {r["status"] for r in recs} <= {"ok", "mismatch"}
    index = shrink_failures(store, spec, "spec.toml", max_calls=40)
    assert index
    assert any(info["shape"] == [1, 1, 1] for info in index.values())
    for info in index.values():       # a cut that changes the failure (e.g. its sign at saturation) is not taken
        assert info["shape"][0] == info["shape"][2] == 1 and info["shape"][1] <= info["original_shape"][1]
        assert info["status_after_shrink"] == "mismatch"
        d = os.path.join(store.failures_dir(), info["dir"])
        assert {"case.json", "a.hex", "b.hex", "actual.hex", "expected.hex"} <= set(os.listdir(d))
        assert f"--seed {spec['seed']} --task {info['task']}" in info["replay"]


def test_replay_from_seed_and_task(serial, tmp_path, capsys):
    spec, store, _ = serial
    rec = next(r for r in store.records() if r["status"] == "mismatch")
    again = campaign.run_task(spec, rec["task"])
    assert (again["status"], again["mismatches"], again["first"]) == (rec["status"], rec["mismatches"], rec["first"])
    p = _write(tmp_path, PLANTED)
    out = tmp_path / "repro"
    code = main(["campaign", "replay", p, "--seed", str(spec["seed"]), "--task", str(rec["task"]), "--shrink",
                 "--out", str(out)])
    assert code == 1 and "mismatch" in capsys.readouterr().out
    from refquant.audit import load_case
    case = load_case(str(out / "case.json"))
    assert case.tensors["a"].shape[0] == 1


def test_reshrunk_reproducer_is_explained_by_the_audit(serial, capsys):
    spec, store, _ = serial
    index = shrink_failures(store, spec, max_calls=40)
    info = next(v for v in index.values() if "qlinear_matmul" in v["signature"])
    d = os.path.join(store.failures_dir(), info["dir"])
    assert main(["audit", os.path.join(d, "case.json"), "--actual", os.path.join(d, "actual.hex"), "--brief",
                 "--no-diagnose", "--no-progress"]) == 1
    assert "mismatches: 1 of 1" in capsys.readouterr().out


def test_report_and_status_commands(serial, tmp_path, capsys):
    store = serial[1]
    assert main(["campaign", "status", store.root, "--json"]) == 0
    t = json.loads(capsys.readouterr().out)
    assert t["tasks_done"] == t["tasks_planned"] == 32
    assert main(["campaign", "report", store.root, "--report", str(tmp_path / "r")]) == 1
    md = (tmp_path / "r" / "report.md").read_text()
    assert "refquant campaign replay" in md and "## Failure 0" in md and "| qlinear_matmul near_tie |" in md
    if importlib.util.find_spec("matplotlib") is None:   # the 'report' extra is missing: said, not silent
        assert "by_regime.png not written: matplotlib is not installed" in capsys.readouterr().err
        assert not (tmp_path / "r" / "by_regime.png").exists()
    else:
        assert (tmp_path / "r" / "by_regime.png").stat().st_size > 1000


# -- the store: resume without redoing or double counting ------------------------------------

def test_resume_rules(serial, tmp_path):
    spec, store, _ = serial
    with pytest.raises(InvalidValueError, match="--resume"):
        campaign.run(spec, store.root, quiet=True)
    with pytest.raises(InvalidValueError, match="different spec"):
        campaign.run(dict(spec, seed=99), store.root, resume=True, quiet=True)
    assert campaign.run(spec, store.root, resume=True, quiet=True) == 0      # nothing left to do


def test_kill_and_resume_gives_the_same_totals(serial, tmp_path):
    spec, store, _ = serial
    p = _write(tmp_path, PLANTED)
    d = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "refquant", "campaign", "run", p, "--store", str(d), "--quiet",
                             "--no-shrink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        t0 = time.monotonic()
        while len(Store(str(d)).done()) < 6 and proc.poll() is None and time.monotonic() - t0 < 60:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = Store(str(d)).done()
    assert 6 <= len(before) <= 32
    ran = campaign.run(spec, str(d), resume=True, quiet=True)
    assert ran == 32 - len(before)
    assert _by_task(Store(str(d)).records()) == _by_task(store.records())


# -- Dask ---------------------------------------------------------------------------------------

def test_local_cluster_gives_the_serial_records(hang_guard, serial, tmp_path):
    pytest.importorskip("distributed")
    spec, store, _ = serial
    from dask.distributed import Client, LocalCluster
    d = Store(str(tmp_path / "d"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        first = campaign.run(spec, d.root, client=client, quiet=True, stop=lambda n: n >= 10)   # stopped early ...
        assert 10 <= first < 32 and len(d.done()) == first
        assert campaign.run(spec, d.root, client=client, resume=True, quiet=True) == 32 - first  # ... resumed
    assert _by_task(d.records()) == _by_task(store.records())
    assert len({r["pid"] for r in d.records()}) >= 2                       # ran in worker processes
    assert d.runs()[-1]["dashboard"].startswith("http://127.0.0.1:")


def _free_scheduler(tmp_path):
    sched_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    sched = subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0",
                                     "--scheduler-file", str(sched_file)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not sched_file.exists() and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    time.sleep(0.1)
    return sched, json.loads(sched_file.read_text())["address"]


def test_separate_scheduler_and_worker(hang_guard, serial, tmp_path, capsys):
    pytest.importorskip("distributed")
    store = serial[1]
    sched, address = _free_scheduler(tmp_path)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--host", "127.0.0.1", "--no-dashboard", "--no-nanny"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, OMP_NUM_THREADS="1"))
    try:
        p = _write(tmp_path, PLANTED.replace("tasks = 32", "tasks = 12"))
        code = main(["campaign", "run", p, "--scheduler", address, "--store", str(tmp_path / "s"), "--quiet",
                     "--no-shrink"])
        assert code == 1
        recs = Store(str(tmp_path / "s")).records()
        assert _by_task(recs) == {k: v for k, v in _by_task(store.records()).items() if k < 12}
        assert all(r["pid"] != os.getpid() for r in recs)
    finally:
        for proc in (worker, sched):
            proc.send_signal(signal.SIGINT)
        for proc in (worker, sched):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# -- devices: external commands, hangs ------------------------------------------------------

SIM_SPEC = """
[campaign]
name = "sim"
seed = 5
[dut]
kind = "command"
command = [{python}, {sim}, "{{dir}}"{extra}]
method = "float_fp32"
timeout_s = {timeout}
[[regime]]
name = "q"
m = [1, 8]
k = [1, 32]
n = [1, 8]
a_type = ["int8", "uint8"]
b_type = ["int8"]
scales = ["random", "near_tie"]
per_column = [false, true]
[[regime]]
name = "i"
op = "matmul_integer"
k = [1, 64]
[budget]
tasks = {tasks}
"""


def _sim(tmp_path, extra="", timeout=30, tasks=6):
    return _spec(tmp_path, SIM_SPEC.format(python=json.dumps(sys.executable), sim=json.dumps(SIM), extra=extra,
                                           timeout=timeout, tasks=tasks))


def test_external_command_matches(tmp_path):
    spec = _sim(tmp_path)
    campaign.run(spec, str(tmp_path / "s"), quiet=True)
    recs = Store(str(tmp_path / "s")).records()
    assert [r["status"] for r in recs] == ["ok"] * 6 and sum(r["elements"] for r in recs) > 0


def test_external_command_truncation_bug_found(tmp_path):
    spec = _sim(tmp_path, extra=', "--truncate"', tasks=3)
    campaign.run(spec, str(tmp_path / "s"), quiet=True)
    recs = Store(str(tmp_path / "s")).records()
    q = [r for r in recs if r["case"]["op"] == "qlinear_matmul"]
    assert q and all(r["status"] == "mismatch" and "diff=-1" in r["signature"] for r in q)


def test_hanging_command_is_timed_out(tmp_path):
    spec = _sim(tmp_path, extra=', "--hang"', timeout=0.5, tasks=1)
    t0 = time.monotonic()
    campaign.run(spec, str(tmp_path / "s"), quiet=True)
    assert time.monotonic() - t0 < 10
    (rec,) = Store(str(tmp_path / "s")).records()
    assert rec["status"] == "timeout" and rec["elements"] == 0


class _Sleeper(duts.Dut):
    def run(self, case):
        time.sleep(5)


def test_hanging_in_process_device_is_timed_out(tmp_path):
    spec = _spec(tmp_path, PLANTED.replace('kind = "planted"', 'kind = "python"\nfactory = "x:y"\n'
                                           'method = "float_fp32"\ntimeout_s = 0.2')
                 .replace("plant = {rate = 0.25, delta = 1}", "").replace("tasks = 32", "tasks = 1"))
    duts._OPEN.clear()
    key = (json.dumps(spec["dut"], sort_keys=True), None)
    duts._OPEN[key] = _Sleeper(spec["dut"])
    try:
        rec = campaign.run_task(spec, 0)
    finally:
        duts._OPEN.pop(key, None)
    assert rec["status"] == "timeout" and "0.2 s" in rec["error"]


@pytest.mark.slow
def test_cli_workers_2_runs_its_own_local_cluster(hang_guard, serial, tmp_path, capsys):
    pytest.importorskip("distributed")
    store = serial[1]
    p = _write(tmp_path, PLANTED)
    assert main(["campaign", "run", p, "--workers", "2", "--store", str(tmp_path / "s"), "--no-shrink"]) == 1
    assert "dashboard http://127.0.0.1:" in capsys.readouterr().err
    recs = Store(str(tmp_path / "s")).records()
    assert _by_task(recs) == _by_task(store.records())
    assert Store(str(tmp_path / "s")).runs()[-1]["threads"] >= 1


# -- onnxruntime ----------------------------------------------------------------------------

ORT = """
[campaign]
name = "ort"
seed = 3
[dut]
kind = "onnxruntime"
[[regime]]
name = "u8s8"
m = [1, {m}]
k = [1, {k}]
n = [1, {m}]
a_type = ["uint8"]
b_type = ["int8"]
scales = ["random", "near_tie", "tie", "extreme"]
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
[[regime]]
name = "s8s8"
m = [1, {m}]
k = [1, {k}]
n = [1, {m}]
a_type = ["int8"]
b_type = ["int8"]
scales = ["random", "near_tie", "extreme"]
per_column = [false, true]
[[regime]]
name = "mmi"
op = "matmul_integer"
a_type = ["uint8", "int8"]
b_type = ["int8", "uint8"]
k = [1, {k}]
zero_points = ["extreme", "random"]
per_column = [false, true]
[budget]
tasks = {tasks}
"""


def test_onnxruntime_matches_its_backend_row():
    """onnxruntime 1.32.0 QLinearMatMul equals method 'ort' (its backend row), MatMulInteger the int32
    accumulators, on a seeded sample of near-tie, tie, extreme and random cases."""
    pytest.importorskip("onnxruntime")
    spec = campaign.validate(__import__("tomllib").loads(ORT.format(m=16, k=128, tasks=12)))
    recs = [campaign.run_task(spec, i) for i in range(12)]
    assert [r["status"] for r in recs] == ["ok"] * 12, [r.get("error") or r.get("first") for r in recs]
    assert recs[0]["versions"]["onnxruntime"] == __import__("onnxruntime").__version__


@pytest.mark.slow
def test_onnxruntime_sweep(hang_guard, tmp_path):
    """A larger ORT campaign (about 3 million outputs) on two local Dask workers."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("distributed")
    spec = campaign.validate(__import__("tomllib").loads(ORT.format(m=512, k=1024, tasks=400)))
    campaign.run(spec, str(tmp_path / "s"), workers=2, quiet=True)
    t = report(str(tmp_path / "s"))["totals"]
    assert t["by_status"] == {"ok": 400} and t["elements"] > 10**6


@pytest.mark.slow
def test_a_worker_that_dies_loses_only_its_task(hang_guard, tmp_path):
    """Planted tasks end their worker process: Dask retries each on a fresh worker, then gives up
    (KilledWorker); the task is recorded 'crashed' and every other task completes."""
    pytest.importorskip("distributed")
    text = PLANTED.replace("plant = {rate = 0.25, delta = 1}", "plant = {rate = 0.1, delta = 1, exit = true}")
    spec = _spec(tmp_path, text.replace("tasks = 32", "tasks = 12"))
    crash = _planted_tasks(spec)
    assert crash
    campaign.run(spec, str(tmp_path / "s"), workers=2, quiet=True)
    recs = Store(str(tmp_path / "s")).records()
    assert len(recs) == 12
    assert {r["task"] for r in recs if r["status"] == "crashed"} == crash
    assert all(r["status"] == "ok" for r in recs if r["task"] not in crash)


# -- torch per engine -----------------------------------------------------------------------

TORCH = """
[campaign]
name = "torch"
seed = 3
[dut]
kind = "torch"
engine = "{engine}"
[[regime]]
name = "u8s8"
m = [1, 32]
k = [1, 128]
n = [1, 32]
a_type = ["uint8"]
b_type = ["int8"]
scales = ["random", "near_tie", "tie", "extreme"]
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
[budget]
tasks = {tasks}
"""


@pytest.mark.parametrize("engine", ["x86", "fbgemm", "qnnpack", "onednn"])
def test_torch_engine_matches_its_backend_row(engine):
    """quantized::linear on each engine equals its row's method (torch_fbgemm, torch_qnnpack, torch_onednn)."""
    torch = pytest.importorskip("torch")
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"torch {torch.__version__} has no {engine} engine here")
    spec = campaign.validate(__import__("tomllib").loads(TORCH.format(engine=engine, tasks=6)))
    recs = [campaign.run_task(spec, i, threads=1) for i in range(6)]
    assert [r["status"] for r in recs] == ["ok"] * 6, [r.get("error") or r.get("first") for r in recs]


def test_torch_spec_checks(tmp_path):
    with pytest.raises(InvalidValueError, match="dut.engine"):
        campaign.validate(__import__("tomllib").loads(TORCH.format(engine="tpu", tasks=1)))
    bad = TORCH.format(engine="x86", tasks=1).replace('a_type = ["uint8"]', 'a_type = ["int8"]')
    with pytest.raises(InvalidValueError, match="int8 x int8 is not supported by dut kind 'torch'"):
        campaign.validate(__import__("tomllib").loads(bad))


# -- the TOSA reference model ---------------------------------------------------------------

TOSA = """
[campaign]
name = "tosa"
seed = 3
[dut]
kind = "tosa"
backend = "{backend}"
[[regime]]
name = "s8"
m = [1, 16]
k = [1, 64]
n = [1, 16]
a_type = ["int8"]
b_type = ["int8"]
scales = ["random", "near_tie", "tie", "extreme"]
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
[[regime]]
name = "acc"
op = "matmul_integer"
weight = 0.3
a_type = ["int8"]
b_type = ["int8"]
k = [1, 256]
zero_points = ["random", "extreme"]
[budget]
tasks = 8
"""


@pytest.mark.parametrize("backend", ["tosa", "tosa_double_round"])
def test_tosa_reference_model_matches(backend):
    """MATMUL (+ RESCALE SINGLE_ROUND / DOUBLE_ROUND, per channel) equals tosa_single / tosa_double."""
    pytest.importorskip("tosa_reference_model")
    spec = campaign.validate(__import__("tomllib").loads(TOSA.format(backend=backend)))
    recs = [campaign.run_task(spec, i) for i in range(8)]
    assert [r["status"] for r in recs] == ["ok"] * 8, [r.get("error") or r.get("first") for r in recs]
    assert {r["case"]["method"] for r in recs} >= {"tosa_single" if backend == "tosa" else "tosa_double"}


# -- quantize_linear ------------------------------------------------------------------------

QUANT = """
[campaign]
name = "q"
seed = 2
[dut]
kind = "{kind}"
{extra}
[[regime]]
name = "q"
op = "quantize_linear"
m = [1, 32]
n = [1, 32]
a_type = ["int8", "uint8"]
scales = {scales}
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
[budget]
tasks = {tasks}
"""


def test_onnxruntime_quantize_linear_matches_its_profile():
    """ORT QuantizeLinear (per tensor and per axis; ties, near-ties, inf, NaN, huge and subnormal x) equals
    refquant profile 'onnxruntime'."""
    pytest.importorskip("onnxruntime")
    spec = campaign.validate(__import__("tomllib").loads(QUANT.format(
        kind="onnxruntime", extra="", tasks=16, scales='["random", "near_tie", "tie", "extreme"]')))
    recs = [campaign.run_task(spec, i) for i in range(16)]
    assert [r["status"] for r in recs] == ["ok"] * 16, [r.get("error") or r.get("first") for r in recs]
    assert {r["case"]["method"] for r in recs} == {"onnxruntime"}


class _ExactQuantize(duts.Dut):
    """A device that divides exactly where ORT divides in binary32: it differs on near-ties."""
    def run(self, case):
        from refquant.campaign import quant
        return quant.expected(dict(case, method="exact"))


def test_quantize_mismatch_shrunk_to_one_element_and_audited(tmp_path, capsys):
    spec = campaign.validate(__import__("tomllib").loads(QUANT.format(
        kind="python", extra='factory = "x:y"\nprofile = "onnxruntime"', tasks=6, scales='["near_tie"]')))
    key = (json.dumps(spec["dut"], sort_keys=True), None)
    duts._OPEN[key] = _ExactQuantize(spec["dut"])
    try:
        campaign.run(spec, str(tmp_path / "s"), quiet=True)
        store = Store(str(tmp_path / "s"))
        assert any(r["status"] == "mismatch" for r in store.records())
        index = shrink_failures(store, spec, max_calls=20)
    finally:
        duts._OPEN.pop(key, None)
    info = next(iter(index.values()))
    assert info["shape"] == [1, 1, 1] and info["status_after_shrink"] == "mismatch"
    d = os.path.join(store.failures_dir(), info["dir"])
    code = main(["audit", os.path.join(d, "case.json"), "--actual", os.path.join(d, "actual.hex"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1 and "mismatches: 1 of 1" in out


def test_time_budget_stops_and_resume_continues(tmp_path):
    spec = _spec(tmp_path, PLANTED.replace("tasks = 32", "seconds = 0.3"))
    ran = campaign.run(spec, str(tmp_path / "s"), quiet=True)
    done = Store(str(tmp_path / "s")).done()
    assert ran == len(done) >= 1 and done == set(range(len(done)))
    more = campaign.run(spec, str(tmp_path / "s"), resume=True, quiet=True)
    assert Store(str(tmp_path / "s")).done() == set(range(len(done) + more))


# -- qlinear_conv -------------------------------------------------------------------------

CONV = """
[campaign]
name = "conv"
seed = 4
[dut]
kind = "{kind}"
{extra}
[[regime]]
name = "u8s8"
op = "qlinear_conv"
a_type = ["uint8"]
b_type = ["int8"]
scales = {scales}
zero_points = ["random", "zero", "extreme"]
per_column = [false, true]
group = [1, 2]
[budget]
tasks = {tasks}
"""


def test_onnxruntime_qlinear_conv_matches_its_backend_row():
    """ORT QLinearConv (groups, strides, pads, dilations, per-channel weights) equals method 'ort'."""
    pytest.importorskip("onnxruntime")
    spec = campaign.validate(__import__("tomllib").loads(CONV.format(
        kind="onnxruntime", extra="", tasks=10, scales='["random", "near_tie", "tie", "extreme"]')))
    recs = [campaign.run_task(spec, i) for i in range(10)]
    assert [r["status"] for r in recs] == ["ok"] * 10, [r.get("error") or r.get("first") for r in recs]
    assert any(r["case"]["conv"]["group"] == 2 for r in recs)


class _OffByOneConv(duts.Dut):
    """ORT's arithmetic, but every output equal to zy + 3 comes out one higher (a data-dependent bug)."""
    def run(self, case):
        from refquant.campaign import conv
        y = conv.expected(case)
        y[y == case["zy"] + 3] += 1
        return y


def test_conv_mismatch_shrunk_to_one_channel_and_audited(tmp_path, capsys):
    spec = campaign.validate(__import__("tomllib").loads(CONV.format(
        kind="python", extra='factory = "x:y"\nbackend = "onnxruntime"', tasks=6, scales='["random"]')))
    key = (json.dumps(spec["dut"], sort_keys=True), None)
    duts._OPEN[key] = _OffByOneConv(spec["dut"])
    try:
        campaign.run(spec, str(tmp_path / "s"), quiet=True)
        store = Store(str(tmp_path / "s"))
        assert any(r["status"] == "mismatch" for r in store.records())
        index = shrink_failures(store, spec, max_calls=20)
    finally:
        duts._OPEN.pop(key, None)
    info = next(iter(index.values()))
    assert info["shape"][2] == 1 and info["status_after_shrink"] == "mismatch"
    d = os.path.join(store.failures_dir(), info["dir"])
    assert main(["audit", os.path.join(d, "case.json"), "--actual", os.path.join(d, "actual.hex"),
                 "--no-progress", "--brief"]) == 1
    assert "mismatches: 1 of" in capsys.readouterr().out


def test_onnxruntime_against_the_exact_spec_finds_its_named_deviation(tmp_path, capsys):
    """Judged against method 'exact' (the ONNX spec's intent), ORT QLinearMatMul shows its named deviation
    'binary32 requantization (ORT MLAS)' on near-tie scales: found, shrunk, and diagnosed as 'ort'."""
    pytest.importorskip("onnxruntime")
    text = ORT.format(m=16, k=64, tasks=16).replace('kind = "onnxruntime"', 'kind = "onnxruntime"\nmethod = "exact"')
    text = text.replace('scales = ["random", "near_tie", "tie", "extreme"]', 'scales = ["near_tie"]')
    spec = _spec(tmp_path, text)
    campaign.run(spec, str(tmp_path / "s"), quiet=True)
    store = Store(str(tmp_path / "s"))
    bad = [r for r in store.records() if r["status"] == "mismatch"]
    assert bad and all("qlinear_matmul exact scales=near_tie" in r["signature"] for r in bad)
    assert all(abs(g - w) == 1 for r in bad for *_ix, g, w in r["first"])
    index = shrink_failures(store, spec, max_calls=40)
    info = min(index.values(), key=lambda v: v["shape"][1])
    d = os.path.join(store.failures_dir(), info["dir"])
    main(["audit", os.path.join(d, "case.json"), "--actual", os.path.join(d, "actual.hex"), "--no-progress", "--brief"])
    assert "matches float_fp32 = ort" in capsys.readouterr().out


# -- the spec is a file reader: hostile input gives a typed error, never a traceback -----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from refquant.errors import RefquantError  # noqa: E402

HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=6), st.lists(st.integers(-3, 300), max_size=3),
                    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@settings(max_examples=100)
@given(path=st.lists(st.sampled_from(["campaign", "dut", "reference", "budget", "regime", 0, "kind", "seed", "m", "k",
                                      "op", "scales", "tasks", "plant", "rate", "group", "pad", "timeout_s"]),
                     min_size=1, max_size=3), value=HOSTILE)
def test_fuzz_spec_values(path, value):
    import tomllib
    raw = tomllib.loads(PLANTED)
    node = raw
    for key in path[:-1]:
        nxt = node[key] if isinstance(node, dict) and key in node else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None)
        if not isinstance(nxt, (dict, list)):
            break
        node = nxt
    if isinstance(node, dict) and not isinstance(path[-1], int):
        node[path[-1]] = value
    elif isinstance(node, list) and node:
        node[0] = value
    try:
        campaign.validate(raw, "fuzz.toml")
    except RefquantError:
        pass


@settings(max_examples=60)
@given(data=st.binary(max_size=200))
def test_fuzz_spec_bytes(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("fz") / "s.toml"
    p.write_bytes(data)
    try:
        campaign.load(str(p))
    except RefquantError:
        pass


@pytest.mark.slow
def test_a_task_with_no_result_is_recorded_lost(hang_guard, tmp_path, monkeypatch):
    """The driver's watchdog: a task still running long past 4 x dut.timeout_s is cancelled and recorded
    'lost' (here the watchdog is shortened to 1 s and the device hangs for up to 30 s)."""
    pytest.importorskip("distributed")
    from refquant.campaign import engine
    spec = _sim(tmp_path, extra=', "--hang"', timeout=30, tasks=2)
    monkeypatch.setattr(engine, "STALE_S", 1 - 4 * 30)
    monkeypatch.setattr(engine, "POLL_S", 0.5)
    t0 = time.monotonic()
    campaign.run(spec, str(tmp_path / "s"), workers=1, quiet=True)
    assert time.monotonic() - t0 < 60
    recs = Store(str(tmp_path / "s")).records()
    assert [r["status"] for r in recs] == ["lost", "lost"]
    assert report(str(tmp_path / "s"))["failures"][0]["signature"] == "lost: Lost"
