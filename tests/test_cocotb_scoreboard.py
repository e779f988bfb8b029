"""refquant.cocotb: the scoreboard (oracle and batched C-kernel references) and the stimulus
generators, without a simulator (the simulator flows are tests/test_rtl_flows.py)."""
import shlex

import pytest

from refquant import kernel
from refquant.cli import main
from refquant.cocotb import Scoreboard, ScoreboardMismatch, directed_vectors, random_vectors
from refquant.errors import InvalidValueError

KW = dict(method="tflite_single", params={"m": 1610612736, "shift": -3}, a_zero_point=3, y_zero_point=-7,
          policy="saturate")


def _vectors(op, method="tflite_single", **kw):
    sb = Scoreboard(op, **{**KW, "method": method, **kw})
    return sb, directed_vectors(sb, K=8) + random_vectors(sb, 100, K=8, seed=3)


@pytest.mark.parametrize("op", ["dot", "requantize"])
@pytest.mark.parametrize("method", ["tflite_single", "tflite_double"])
def test_kernel_reference_agrees_with_oracle_on_edges_and_random(op, method):
    if not kernel.available():
        pytest.skip("C kernel not built")
    oracle, vs = _vectors(op, method)
    sb = Scoreboard(op, reference="kernel", batch=64, **{**KW, "method": method})
    for v in vs:
        sb.check(v, oracle.expected(v))
    assert sb.finish()["mismatches"] == 0 and sb.transactions == len(vs)


def test_directed_vectors_cover_the_edges():
    sb, _ = _vectors("dot")
    whys = " | ".join(v["why"] for v in directed_vectors(sb, K=4))
    for needle in ("rounding tie", "overflow above INT32_MAX", "overflow below INT32_MIN", "bias INT32_MAX",
                   "zero points at the ends: za -128, zb -128, zy -128", "za 127, zb 127, zy 127",
                   "m = 2147483647", "shift -31", "exact ties"):
        assert needle in whys, needle
    accs = {sb.expected(v)["acc"] for v in directed_vectors(sb, K=4)}
    assert 2**31 - 1 in accs and -2**31 in accs


def test_mismatch_message_and_reproducing_command(capsys):
    sb = Scoreboard("dot", **KW)
    t = {"a": [1, 2, 3], "b": [4, 5, -6], "bias": 1000}
    exp = sb.expected(t)
    with pytest.raises(ScoreboardMismatch) as ei:
        sb.check(t, {"y": exp["y"] - 1, "acc": exp["acc"]})
    msg = str(ei.value)
    assert f"y    expected {exp['y']}, actual {exp['y'] - 1}" in msg and "(acc*m + 2^(T-1)) >> T" in msg
    assert "tflite_single/floor_shift" in msg          # the RTL fault that gives the actual value
    cmd = msg.split("reproduce: ", 1)[1].strip()
    assert main(shlex.split(cmd)[1:]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert last[0] == "saturate" and last[1] == str(exp["y"])


def test_kernel_batch_reports_at_finish_and_counts():
    if not kernel.available():
        pytest.skip("C kernel not built")
    sb = Scoreboard("requantize", reference="kernel", batch=1000, raise_on_mismatch=False, **KW)
    for acc in range(-50, 50):
        sb.check({"acc": acc}, {"y": Scoreboard("requantize", **KW).expected({"acc": acc})["y"] + (acc == 7)})
    s = sb.finish()
    assert s["mismatches"] == 1 and s["transactions"] == 100 and '"acc": 7' in sb.failures[0]
    assert "transaction 58 mismatched" in sb.failures[0]          # its own number, not the batch's end


def test_quantize_and_backend_and_refusals():
    sb = Scoreboard("quantize", scale=0.5, y_zero_point=1, profile="tflite")
    assert sb.check({"x": 1.25}, {"y": 4}) == {"y": 4}          # 2.5 ties away -> 3, + 1
    assert Scoreboard("quantize", backend="onnxruntime", scale=0.5).expected({"x": 1.25}) == {"y": 2}   # ties to even
    assert Scoreboard("dot", backend="tflite_single_rounding", a_scale=0.02, b_scale=0.01, y_scale=0.5).method == "tflite_single"
    with pytest.raises(InvalidValueError):
        Scoreboard("quantize", reference="kernel", scale=0.5)
    with pytest.raises(InvalidValueError):
        Scoreboard("dot", method="exact", reference="kernel", a_scale=0.1, b_scale=0.1, y_scale=0.1)
    with pytest.raises(InvalidValueError):
        Scoreboard("conv")
