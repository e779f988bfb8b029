"""The benchmarks' reports (--json, --png) on one tiny row each: the files exist and say what ran.

Timings are not asserted (benchmarks, never timed tests); what is asserted is what the reports
claim: bit-equality with ORT (conv) and the exactness verdicts (gemm).
"""
import importlib.util
import json
from pathlib import Path

import pytest

from peers import need
from refquant import kernel

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def built():
    if not kernel.available():
        pytest.skip("refquant._kernel not built")


def test_conv_json_and_png(tmp_path):
    need("onnxruntime")
    need("matplotlib")
    js, png = tmp_path / "c.json", tmp_path / "c.png"
    assert load("conv").main(["--layers", "mv2_pw_7", "--threads", "1", "--repeats", "1",
                              "--json", str(js), "--png", str(png)]) == 0
    rows = json.loads(js.read_text())["rows"]
    assert [(r["layer"], r["threads"], r["bit_equal"]) for r in rows] == [("mv2_pw_7", 1, True)]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gemm_png(tmp_path):
    need("matplotlib")
    png = tmp_path / "g.png"
    load("gemm").main(["--shapes", "8x64x32", "--threads", "1", "--repeats", "1", "--peers", "numpy",
                       "--png", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
