"""The AMX path where the CPU has no AMX: the C twin built with ``-DRQ_AMX_EMULATE``.

csrc/gemm_amx.c then runs its tile instructions (TILELOADD, TILESTORED, TILEZERO, TDPBUSD/TDPBSSD,
LDTILECFG, TILERELEASE) as plain C with the semantics of the Intel SDM, and cpu_x86.c lists the AMX
path wherever the VNNI one is; everything else -- the A packing, the k-blocking, the overlapped
epilogue, the driver's edges, the dispatch and the Python layer's choices where AMX is present --
is the code an AMX machine runs.  These tests build that extension into a temporary folder, lay a
copy of the package around it (symlinks, the extension replaced), and run the kernel's own test
files there in a subprocess, so every twin test covers the AMX path too (docs/testing.md).  They
need an AVX-512 VNNI CPU (the AMX driver packs and requantizes with AVX-512) and a C compiler.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from refquant import kernel

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(not kernel.available(), reason="refquant._kernel is not built"),
    pytest.mark.skipif(kernel.available() and "vnni" not in kernel.paths(),
                       reason="the emulated AMX path needs AVX-512 VNNI (its packing and epilogue use AVX-512)"),
]


def build_emulated(dest):
    """csrc built as refquant._kernel with -DRQ_AMX_EMULATE into ``dest``; the extension's path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_rq_build", ROOT / "refquant" / "kernel" / "_build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return Path(build.make_ffi(build._CSRC, ["-DRQ_AMX_EMULATE"]).compile(tmpdir=str(dest)))


def shadow_tree(dest, extension):
    """``dest``: the source tree as symlinks, except refquant/'s own extension, which is ``extension``."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in ("refquant", ".git", ".venv") and not entry.name.startswith(".pytest"):
            (dest / entry.name).symlink_to(entry)
    pkg = dest / "refquant"
    pkg.mkdir()
    for entry in (ROOT / "refquant").iterdir():
        if not entry.name.startswith("_kernel."):
            (pkg / entry.name).symlink_to(entry)
    (pkg / extension.name).symlink_to(extension)
    return dest


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    base = tmp_path_factory.mktemp("amx_emulated")
    try:
        ext = build_emulated(base / "build")
    except Exception as e:   # no compiler, no headers: nothing to test here
        pytest.skip(f"could not build the emulated extension: {e}")
    return shadow_tree(base / "tree", ext)


def run_in(tree, code):
    """``code`` run by this Python in ``tree`` (its refquant, not the installed one)."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    env.pop("REFQUANT_KERNEL_PATH", None)
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=600)


def run_tests(tree, files, extra=()):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("REFQUANT_KERNEL_PATH", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *files],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=1800)


def test_the_emulated_build_lists_and_runs_the_amx_path(emulated):
    """The shadow tree imports its own extension, lists AMX, and a GEMM forced onto it runs there and
    equals int64 numpy (a sign that the tiles compute, not that a fallback ran); the AMX probe counts
    its multiply-adds."""
    res = run_in(emulated, "import numpy as np, refquant, refquant.kernel as k\n"
                           "from refquant.kernel import probe\n"
                           "assert refquant.__file__.startswith(%r), refquant.__file__\n"
                           "assert k.paths()[-1] == 'amx', k.paths()\n"
                           "r = np.random.default_rng(0)\n"
                           "a = r.integers(0, 256, (70, 300)).astype(np.uint8)\n"
                           "b = r.integers(-128, 128, (300, 90)).astype(np.int8)\n"
                           "got = k.matmul_integer(a, b, 3, 5, path='amx')\n"
                           "assert k.last_path_used() == 'amx'\n"
                           "assert (got == (a.astype(np.int64) - 3) @ (b.astype(np.int64) - 5)).all()\n"
                           "assert k.lib.rq_probe_amx(3) == 3 * 4 * 16 * 16 * 64 and k.lib.rq_probe_amx(-1) == 0\n"
                           "assert probe.peak_gops('amx', seconds=0.01) > 0\n"
                           "print('ok')" % str(emulated))
    assert res.returncode == 0 and "ok" in res.stdout, res.stdout + res.stderr


def test_twin_tests_pass_on_the_emulated_amx_path(emulated):
    """tests/test_twin.py (every method x policy x path, near-ties, overflow) with AMX among the paths."""
    res = run_tests(emulated, ["tests/test_twin.py"])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]


@pytest.mark.slow
def test_kernel_tests_pass_on_the_emulated_amx_path(emulated):
    """Every kernel test file (GEMM, conv routes and their AMX fallbacks, GEMV, the library, the
    probes) with AMX among the paths and auto choosing it."""
    files = ["tests/test_kernel.py", "tests/test_kernel_conv.py", "tests/test_kernel_gemv.py",
             "tests/test_kernel_lib.py", "tests/test_kernel_probe.py", "tests/test_kernel_avx2.py"]
    res = run_tests(emulated, files)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
