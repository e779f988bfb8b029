"""Smoke test of examples/ptq_digits.py (quick mode): runs, asserts oracle == kernel == numpy
internally, int8 accuracy stays within 3 points of fp32 for MinMax per channel, the int4-weight
column is present and QAT at 4 bits recovers at least the PTQ int4 MinMax accuracy."""
import importlib.util
import os

import pytest

from peers import need

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "ptq_digits.py")


def test_ptq_digits_quick(tmp_path, capsys):
    need("sklearn", "scikit-learn")
    spec = importlib.util.spec_from_file_location("ptq_digits", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    results = mod.main(["--quick", "--png", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    fp32 = float(out.split("fp32 accuracy ")[1].split()[0])
    assert set(results) >= {"minmax", "mse", "entropy tensorrt", "entropy onnxruntime", "entropy ncnn", "qat"}
    assert results["minmax"][1] >= fp32 - 0.03
    assert all(len(v) == 4 for k, v in results.items() if k != "qat") and len(results["qat"]) == 2
    assert results["minmax"][3] >= fp32 - 0.1 and results["qat"][1] >= results["minmax"][3]
    assert "int4 ch" in out and "[-7, 7]" in out
    assert "bit-identical" in out
