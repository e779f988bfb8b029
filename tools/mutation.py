"""Mutation testing of the spec layer with mutmut 3, one module at a time (docs/testing.md).

    pip install -e '.[test,mutation]'
    python tools/mutation.py rounding            # or: integers fixedpoint qparams search formats ...
    python tools/mutation.py rounding --list     # the surviving mutants, with diffs
    python tools/mutation.py rounding --retest   # after adding tests: rerun only those survivors

Why a runner: mutmut 3 reads one [tool.mutmut] table and picks the tests for each mutant from a
coverage map over its test selection.  The spec functions are called from nearly every test
file, so a whole-layer run would rerun slow peer tests for each mutant.  This runner copies the
committed tree (``git archive HEAD``) into build/mutation/<module>/ (ignored by git, so a
shared checkout is never touched), writes that copy's [tool.mutmut] table with only the module's
source file and its own test files, and runs ``mutmut run --max-children 1`` there.  The default
table in pyproject.toml (the whole spec layer) is what ``mutmut run`` uses in a plain checkout.

Outside CI: a module takes minutes to an hour.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (source file, the test files that exercise it directly), plus
# tests/test_mutants_<module>.py when it exists (the tests written against earlier survivors).
# Slow-marked tests are deselected (-m "not slow"); each file here runs in seconds to a minute.
MODULES = {
    "rounding": ("refquant/rounding.py", ["tests/test_rounding_integers.py"]),
    "integers": ("refquant/integers.py", ["tests/test_rounding_integers.py"]),
    "fixedpoint": ("refquant/fixedpoint.py", ["tests/test_fixedpoint.py", "tests/test_cmsis_nn.py"]),
    "qparams": ("refquant/qparams.py", [f"tests/test_quantize.py::{t}" for t in (
        "test_seed000_mapping_and_offset", "test_seed002_scale_formula", "test_seed003_minmax_zero_point",
        "test_seed004_examples", "test_zero_is_exactly_representable", "test_qparams_torch_matches_torch_observer",
        "test_qparams_onnxruntime_matches_compute_scale_zp", "test_bad_input_named_errors",
        "test_power_of_two_scales_cover_the_range")] + [f"tests/test_calibrate.py::{t}" for t in (
        "test_torch_zero_ranges_every_config", "test_onnxruntime_zero_range_and_reduce_range_equal_compute_scale_zp",
        "test_exact_zero_range_is_scale_one")]),
    "search": ("refquant/calibrate/search.py", ["tests/test_percentile_ties.py", "tests/test_calibrate.py"]),
    "formats": ("refquant/formats.py", ["tests/test_formats.py"]),
    "requant": ("refquant/requant.py", ["tests/test_requant.py", "tests/test_cmsis_nn.py", "tests/test_requant_tosa.py",
                                        "tests/test_tflite_spec.py"]),
    "quantize": ("refquant/quantize.py", ["tests/test_quantize.py", "tests/test_onnx_mixed_dtypes.py",
                                          "tests/test_fastquant.py"]),
    # Spec modules written on 2026-12-03 (issue 20 item 10); their tests run in seconds.
    "certified": ("refquant/certified.py", ["tests/test_certified.py"]),
    "nested": ("refquant/nested.py", ["tests/test_qops.py"]),
    "movement": ("refquant/movement.py", ["tests/test_qops.py", "tests/test_onnx_ops.py",
                                          "tests/test_onnx_resize.py"]),
    "qops": ("refquant/qops.py", ["tests/test_qops.py"]),
    "qonnx": ("refquant/qonnx.py", ["tests/test_qonnx.py"]),
    "openvino": ("refquant/openvino.py", ["tests/test_openvino.py"]),
    # calibrate/ (tooling-side numpy, in issue 20's mutation scope): each with its own test file.
    "observers": ("refquant/calibrate/observers.py", ["tests/test_calibrate.py"]),
    "histogram": ("refquant/calibrate/histogram.py", ["tests/test_calibrate.py"]),
    "ort_histogram": ("refquant/calibrate/ort_histogram.py", ["tests/test_calibrate.py"]),
    "torch_histogram": ("refquant/calibrate/torch_histogram.py", ["tests/test_calibrate_torch_histogram.py"]),
    "ncnn_entropy": ("refquant/calibrate/ncnn_entropy.py", ["tests/test_calibrate_ncnn.py"]),
    "easyquant": ("refquant/calibrate/easyquant.py", ["tests/test_calibrate_easyquant.py"]),
    "detfloat": ("refquant/calibrate/detfloat.py", ["tests/test_calibrate.py"]),
    "calibrate_data": ("refquant/calibrate/_data.py", ["tests/test_calibrate.py"]),
}
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]


def _toml_list(items):
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _export(workdir, paths=()):
    """``git archive HEAD`` (only ``paths`` if given) extracted into workdir."""
    archive = subprocess.run(["git", "archive", "HEAD", *paths], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)


def _write_table(module, workdir, only_mutant_tests=False, tests=None):
    """This module's [tool.mutmut] table in workdir/pyproject.toml (replacing the default one)."""
    src, default_tests = MODULES[module]
    tests = [] if only_mutant_tests else (tests or default_tests)
    tests = tests + [t for t in (f"tests/test_mutants_{module}.py",) if (workdir / t).exists()]
    py = workdir / "pyproject.toml"
    text = py.read_text()
    if "[tool.mutmut]" not in text:
        text += "\n[tool.mutmut]\n"
    start = text.index("[tool.mutmut]")
    end = text.find("\n[", start + 1)
    table = (f"[tool.mutmut]\nsource_paths = [\"refquant\"]\nonly_mutate = {_toml_list([src])}\n"
             f"also_copy = [\"golden\", \"csrc\"]\n"
             f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
             f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS)}\n"
             "use_git_change_detection = false\n")
    py.write_text(text[:start] + table + (text[end:] if end != -1 else ""))


def _commit():
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def prepare(module, workdir, tests=None):
    """A fresh copy of HEAD in workdir with this module's [tool.mutmut] table; returns the commit."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    _export(workdir)
    for so in ROOT.joinpath("refquant").rglob("*.so"):  # the built C extension, if any (not in git)
        dest = workdir / so.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(so, dest)
    _write_table(module, workdir, tests=tests)
    return _commit()


def prepare_retest(module, workdir, only_mutant_tests=False, tests=None, resume=False):
    """Keep the last run's mutants and verdicts; bring in HEAD's tests/ (new tests written against
    the survivors) and drop the test map so mutmut rebuilds it.  Returns (commit, survivor names).
    only_mutant_tests: select only tests/test_mutants_<module>.py (a survivor killed by it is killed).
    resume: rerun every mutant not yet detected, the unreached ones of a stopped run included."""
    path = workdir / "summary.json"
    if path.exists():
        last = json.loads(path.read_text())
    else:  # the last run was stopped before it wrote its summary: read mutmut's own verdicts
        by = results(workdir)
        last = {"commit": "?", "wall_s": None, "mutants": sum(len(v) for v in by.values()),
                "killed": len(by.get("killed", [])) + len(by.get("timeout", [])),
                "counts": {k: len(v) for k, v in by.items()}, "survived": by.get("survived", []),
                "no_tests": by.get("no tests", [])}
    for dest in (workdir, workdir / "mutants"):
        _export(dest, ["tests"])
    if resume:  # mutmut's own verdicts: everything but killed / timeout
        by = results(workdir)
        last["survived"] = [n for k, v in by.items() if k not in ("killed", "timeout") for n in v]
        last["no_tests"] = []
    _write_table(module, workdir, only_mutant_tests, tests)
    shutil.copy2(workdir / "pyproject.toml", workdir / "mutants" / "pyproject.toml")
    (workdir / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    return _commit(), last["survived"] + last.get("no_tests", []), last


def results(workdir):
    """{status: [mutant names]} from ``mutmut results --all true``."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=workdir,
                         capture_output=True, text=True).stdout
    by = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            by.setdefault(status, []).append(name)
    return by


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", choices=sorted(MODULES))
    ap.add_argument("--workdir", type=Path, help="default: build/mutation/<module>")
    ap.add_argument("--list", action="store_true", help="print the survivors of the last run, with diffs")
    ap.add_argument("--retest", action="store_true",
                    help="rerun only the last run's survivors against HEAD's tests (after adding tests)")
    ap.add_argument("--tests", nargs="+", help="test files to select instead of the module's list")
    ap.add_argument("-k", dest="keyword", help="pytest -k expression narrowing the selection (e.g. leaving out "
                    "a 30 s sweep that a surviving mutant would rerun each time)")
    ap.add_argument("--resume", action="store_true",
                    help="like --retest, but rerun every mutant not yet detected (after a run was stopped)")
    ap.add_argument("--only-mutant-tests", action="store_true",
                    help="with --retest: select only tests/test_mutants_<module>.py (fast)")
    ap.add_argument("--mutants", nargs="+", metavar="PATTERN",
                    help="run only these mutants (mutmut names or fnmatch patterns, e.g. "
                    "'refquant.movement.x_resize_setup__mutmut_*'); with --resume instead of every undetected one")
    args = ap.parse_args(argv)
    workdir = args.workdir or ROOT / "build" / "mutation" / args.module
    if args.list:
        for name in results(workdir).get("survived", []):
            subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=workdir)
        return 0
    names, last = [], None
    if args.keyword:
        PYTEST_ARGS.extend(["-k", args.keyword])
    if args.retest or args.resume:
        commit, names, last = prepare_retest(args.module, workdir, args.only_mutant_tests, args.tests, args.resume)
        names = args.mutants or names
        if not names:
            print("no survivors to retest")
            return 0
    else:
        commit = prepare(args.module, workdir, args.tests)
        names = args.mutants or []
    # One intra-op thread: torch's OpenMP pool, started in mutmut's parent by the stats run, hangs a
    # forked mutant child in a futex wait (no CPU used, so mutmut's CPU-time limit never fires).
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    t0 = time.time()
    rc = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names], cwd=workdir,
                        env=env).returncode
    wall = time.time() - t0
    by = results(workdir)
    total = sum(len(v) for v in by.values())
    killed = len(by.get("killed", [])) + len(by.get("timeout", []))
    summary = {"module": args.module, "commit": commit, "date": time.strftime("%Y-%m-%d"), "wall_s": round(wall),
               "mutants": total, "killed": killed, "counts": {k: len(v) for k, v in by.items()},
               "survived": by.get("survived", []), "no_tests": by.get("no tests", []), "mutmut_rc": rc}
    if last is not None:  # a retest: keep the first run's numbers alongside
        summary["first_run"] = last.get("first_run") or {k: last[k] for k in ("commit", "wall_s", "mutants", "killed", "counts")}
        summary["wall_s_total"] = (last.get("wall_s_total") or last.get("wall_s") or 0) + round(wall)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("survived", "no_tests")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
