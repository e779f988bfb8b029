"""bench/gemm.py's exactness check: each engine judged against its own semantics before it is timed.

A mislabelled engine would rank a wrong peer as the one to beat (or hide a wrong refquant), so the
judge is tested here: against exact and perturbed outputs, and end to end on a tiny shape with
refquant's own engines (the peers' verdicts are tests/test_peer_pair_saturation.py's subject).
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from refquant import kernel

BENCH = Path(__file__).resolve().parent.parent / "bench" / "gemm.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gemm", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def operands(m=6, k=40, n=24, seed=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (m, k), dtype=np.uint8), rng.integers(-128, 128, (k, n), dtype=np.int8)


def test_int32_semantics_exact_and_perturbed(bench):
    a, b = operands()
    rows, cols = np.array([1, 4]), np.array([0, 5, 23])
    for eng, za, signed in (("numpy", 0, False), ("refquant_i32", 128, False), ("torch_int_mm", 0, True)):
        aa = (a.view(np.int8) if signed else a).astype(np.int64) - za
        out = aa @ b.astype(np.int64)
        assert bench.check_exact(eng, out, a, b, rows, cols, {}) == (0, 6)
        out[4, 5] += 1
        assert bench.check_exact(eng, out, a, b, rows, cols, {}) == (1, 6)
        out[4, 5] -= 1
        out[2, 5] += 1          # outside the sample: not seen
        assert bench.check_exact(eng, out, a, b, rows, cols, {}) == (0, 6)
    assert bench.check_exact("no_such_engine", out, a, b, rows, cols, {}) is None


def test_quantized_semantics_against_the_oracle(bench):
    # refquant_q's semantics (float_fp32, M = 2^-12, za 128, zp 3, uint8) equal the C kernel's output
    if not kernel.available():
        pytest.skip("refquant._kernel not built")
    a, b = operands()
    rows, cols = np.array([0, 5]), np.arange(0, 24, 3)
    out = bench.ENGINES["refquant_q"](a, b, 1)()
    assert bench.check_exact("refquant_q", out, a, b, rows, cols, {}) == (0, 16)
    wrong = out.copy()
    wrong[5, 3] ^= 1
    assert bench.check_exact("refquant_q", wrong, a, b, rows, cols, {}) == (1, 16)
    # torch-style and ORT-style outputs are unwrapped to int arrays
    assert np.array_equal(bench.output_codes([np.array([[1, 2]], np.uint8)]), [[1, 2]])


def test_end_to_end_json(bench, tmp_path, capsys):
    if not kernel.available():
        pytest.skip("refquant._kernel not built")
    path = tmp_path / "g.json"
    bench.main(["--shapes", "8x64x32", "--threads", "1", "--repeats", "1", "--peers", "numpy",
                "--json", str(path)])
    out = capsys.readouterr().out
    assert "exactness on 2x16 sampled outputs" in out and "NOT EXACT" not in out
    rep = json.loads(path.read_text())
    engines = {r["engine"]: r for r in rep["rows"]}
    assert set(engines) == {"refquant_q", "refquant_q_fn", "refquant_i32", "numpy"}
    assert all(r["differ"] == 0 and r["checked"] == 32 and r["shape"] == [8, 64, 32] for r in rep["rows"])
    assert engines["numpy"]["ratio_to_best_exact_peer"] == pytest.approx(1.0)
    assert rep["header"].startswith("# ") and "commit" in rep["header"]
