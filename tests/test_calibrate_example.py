"""Smoke test of examples/ptq_digits.py (quick mode): runs, asserts oracle == kernel == numpy
internally, int8 accuracy stays within 3 points of fp32 for MinMax per channel, the int4-weight
column is present, QAT at 4 bits recovers at least the PTQ int4 MinMax accuracy and EasyQuant
runs through refquant.calibrate.easyquant (one easyquant_layer call per layer)."""
import importlib.util
import os


from peers import need

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "ptq_digits.py")


def test_ptq_digits_quick(tmp_path, capsys, monkeypatch):
    need("sklearn", "scikit-learn")
    spec = importlib.util.spec_from_file_location("ptq_digits", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from refquant.calibrate import easyquant
    calls, real = [], easyquant.easyquant_layer

    def spy(a, w, *args, **kw):  # the example's EasyQuant is the library's, one call per layer
        calls.append(w.shape[0])
        return real(a, w, *args, **kw)
    monkeypatch.setattr(easyquant, "easyquant_layer", spy)
    results = mod.main(["--quick", "--png", str(tmp_path / "r.png")])
    out = capsys.readouterr().out
    fp32 = float(out.split("fp32 accuracy ")[1].split()[0])
    assert set(results) >= {"minmax", "mse", "entropy tensorrt", "entropy onnxruntime", "entropy ncnn", "qat"}
    assert results["minmax"][1] >= fp32 - 0.03
    assert all(len(v) == 4 for k, v in results.items() if k not in ("qat", "easyquant")) and len(results["qat"]) == 2
    assert results["easyquant"][0] >= fp32 - 0.03 and calls == [64, 32]  # two layers through the library
    assert results["minmax"][3] >= fp32 - 0.1 and results["qat"][1] >= results["minmax"][3]
    assert "int4 ch" in out and "[-7, 7]" in out
    assert "bit-identical" in out
