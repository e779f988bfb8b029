#!/usr/bin/env python
"""Hostile-input tally: a few hundred invocations of every refquant command that must be refused,
each run in process (time-limited) and a sample also as a real subprocess.

    python bench/hostile_tally.py [--subprocess N] [--random N] [--seed S] [--verbose]

Every listed invocation is wrong on purpose (a bad name, number, path, file content or output
location), so the only right outcome is a clean error: exit 2, exactly one 'refquant: error:' line
(or an argparse usage error), no traceback or warning, no file written.  Counted:

    clean      exit 2, one line, nothing written
    traceback  a traceback or exit 3
    hang       still running after the time limit (in process: SIGALRM; subprocess: timeout)
    accepted   exit 0 or 1: the bad input was wrongly accepted
    messy      exit 2 but several lines, a warning, an over-long line, or files left behind

--random N adds N invocations drawn from the CLI fuzz strategy (tests/test_fuzz_cli.py), judged by
the fuzz property (exit 0/1 allowed there, since a random invocation may be valid).
Exit status: 0 when every invocation is clean.  Not a CI test (about a minute).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import fuzz_support as fz  # noqa: E402
from refquant import golden  # noqa: E402


def bad_invocations(box):
    """(label, argv) of invocations that must each end in a clean exit 2."""
    i = "in/"
    bad_values = ["", " ", "-1", "1.5", "abc", "9" * 5000, "x" * 3000, "\u00e9", "\udcff", "[[[", "1e999999999"]
    bad_paths = [i + p for p in ("missing.json", "fifo", "fifo.json", "fifo.hex", "zero.hex", "zero.json",
                                 "dangling.json", "dir", "empty", "garbage.bin", "latin1.hex", "nested.json",
                                 "plain.txt")] + ["/dev/null", "/dev/zero", ""]
    bad_outputs = [i + "plain.txt", i + "plain.txt/sub", "/dev/null/x", i + "fifo", "", "  ", "golden", i + "zero.hex"]
    out = []
    # decode / encode
    for f in ["fp33", "", "FP32 ", "int8", "e8m1"] + bad_values[:6]:
        out.append(("decode: format", ["decode", f, "0x7e"]))
        out.append(("encode: format", ["encode", f, "0.5"]))
    for b in ["-1", "0x1ffffffff", "1e5", "0x", "0b2", "", "abc", "9" * 5000, "1.0", "--", "\udcff"]:
        out.append(("decode: bits", ["decode", "fp32", b]))
    for v in ["", "abc", "1/0", "0x", "0xg", "1e", "e5", "--5", "[", "9" * 5000 + "e1", "1_", "\udcff", "1e" + "9" * 5000]:
        out.append(("encode: value", ["encode", "fp32", v]))
    for r in ["", "RNE", "nearest", "-1"]:
        out.append(("encode: --rounding", ["encode", "fp32", "0.1", "--rounding", r]))
        out.append(("encode: --overflow", ["encode", "fp32", "0.1", "--overflow", r]))
    # golden generate
    out.append(("generate: no --out", ["golden", "generate", "--suite", "conv"]))
    out.append(("generate: --out and --in-place", ["golden", "generate", "--suite", "conv", "--in-place", "--out", "out/x"]))
    for o in bad_outputs:
        out.append(("generate: --out", ["golden", "generate", "--suite", "conv", "--out", o]))
    for s in ["nope", "", "CONV", "conv ", "../conv"] + bad_values[:3]:
        out.append(("generate: --suite", ["golden", "generate", "--suite", s, "--out", "out/new"]))
    for s in ["-1", "abc", "1.5", "", "0x", "-0x1"]:
        out.append(("generate: --seed", ["golden", "generate", "--suite", "conv", "--seed", s, "--out", "out/new"]))
    # golden verify
    for p in bad_paths + ["in/badsets/" + n for n in BAD_SETS] + ["nope", "in/hidden"]:
        out.append(("verify: set", ["golden", "verify", p, "--no-kernel"]))
    for m in ["-1", "-7", "x", "1.5", "", "1e3", "9" * 5000]:
        out.append(("verify: --max-errors", ["golden", "verify", "in/set", "--max-errors", m]))
    out.append(("verify: shipped root lacks sets", ["golden", "verify"]))
    # golden export
    for f in ["xml", "", "NPY", "npy "]:
        out.append(("export: --format", ["golden", "export", "--format", f, "in/set", "out/new"]))
    # (export converts; it does not recompute, so sets whose only defect is in params are not errors to it)
    for p in bad_paths + ["in/badsets/" + n for n in BAD_SETS if not n.startswith("params-")]:
        out.append(("export: set", ["golden", "export", "--format", "npy", p, "out/new"]))
    for o in bad_outputs:
        out.append(("export: output", ["golden", "export", "--format", "bin", "in/set", o]))
    # audit
    for p in bad_paths + ["in/badcases/" + n for n in BAD_CASES]:
        out.append(("audit: case file", ["audit", p, "--actual", "in/y.hex"]))
    for p in bad_paths + ["in/f.npy", "in/y.npy:bad"]:
        out.append(("audit: --actual", ["audit", "in/case.json", "--actual", p]))
    for d in ["int9", "float32", "float64", "", "INT8", "uint3", "bool"]:
        out.append(("audit: --actual-dtype", ["audit", "in/case.json", "--actual", "in/y.hex", "--actual-dtype", d]))
    for s in ["-1", "x", "", "3x-2", "2x2", "99999999999x99999999999", "1e3", "3x2x"]:
        out.append(("audit: --actual-shape", ["audit", "in/case.json", "--actual", "in/y.hex", "--actual-shape", s]))
    for f in ["-1", "x", "1.5", ""]:
        out.append(("audit: --first", ["audit", "in/case.json", "--actual", "in/y.hex", "--first", f]))
    for o in bad_outputs:
        out.append(("audit: --report", ["audit", "in/case.json", "--actual", "in/y.hex", "--report", o]))
    for s in ["a_scale", "a_scale=", "a_scale=-1", "a_scale=0", "a_scale=" + "9" * 400, "a_scale=[[1]]",
              "a_scale=\"0xzz\"", "a_scale=1e39", "b_zero_point=[1,2,3]", "a_zero_point=1.5", "y_type=\"int9\"",
              "method=[1]", "policy=\"wrap2\"", "params={\"m\": 1}", "params=[]", "qmin=\"x\"", "float_bias=1e39",
              "y_scale=" + "[" * 5000 + "]" * 5000, "a_type=\"float32\""]:
        out.append(("audit: --set", ["audit", "in/case.json", "--actual", "in/y.hex", "--set", s]))
    for g in ["nope:1", "conv:999", "conv", "conv:", ":1", "matmul:1", "conv:x" * 200]:
        out.append(("audit: --golden", ["audit", "--golden", g, "--actual", "in/y.hex"]))
    for m in ["nope", "", "EXACT"]:
        out.append(("audit: --method", ["audit", "in/case.json", "--actual", "in/y.hex", "--method", m]))
        out.append(("audit: --profile", ["audit", "in/case.json", "--actual", "in/y.hex", "--profile", m,
                                         "--set", "method=null"]))
    out.append(("audit: no case", ["audit", "--actual", "in/y.hex"]))
    out.append(("audit: --op without tensors", ["audit", "--op", "qlinear_matmul", "--actual", "in/y.hex"]))
    for a in bad_paths[:8]:
        out.append(("audit: --a", ["audit", "--op", "qlinear_matmul", "--a", a, "--b", "in/b.npy", "--actual", "in/y.hex",
                                   "--set", "a_scale=1", "--set", "b_scale=1", "--set", "y_scale=1"]))
    # explain
    for x in ["-1,0", "3,0", "0,2", "0", "0,0,0", "a,b", "", "9" * 5000 + ",0"]:
        out.append(("explain: --index", ["explain", "in/case.json", "--index", x]))
    for acc in ["x", "", "9" * 50, "in/fifo"]:
        out.append(("explain: --acc", ["explain", "--op", "requantize", "--acc", acc, "--method", "tflite_double",
                                       "--set", "params={\"m\": 1073741824, \"shift\": -5}"]))
    # verify / check / top level
    for b in ["tensorflow", "", "ONNX", "kernel2", "\udcff"]:
        out.append(("verify: backend", ["verify", b]))
    out.append(("check: unknown flag", ["check", "--bogus"]))
    out.append(("no command", []))
    out.append(("golden: no action", ["golden"]))
    out.append(("unknown command", ["bogus"]))
    return out


def _set_variants(d):
    """Broken golden sets.  A manifest edit keeps every size and checksum right (so the defect
    behind them is reached); a file edit ('raw') leaves the manifest as it is."""
    made = {}
    base = fz.tiny_set(d / "base")
    first = base["testGroups"][0]["tests"][0]["files"][0]["path"]

    def manifest(name, edit):
        p = d / name
        shutil.copytree(d / "base", p)
        m = json.loads((p / "manifest.json").read_text())
        edit(m)
        fz.refresh(p, m)
        made[name] = p

    def raw(name, edit, refresh=False):
        p = d / name
        shutil.copytree(d / "base", p)
        edit(p)
        if refresh:
            fz.refresh(p, json.loads((p / "manifest.json").read_text()))
        made[name] = p

    def replace_file(path, how):
        path.unlink()
        if how == "dir":
            path.mkdir()
        elif how == "fifo":
            os.mkfifo(path)
        else:
            os.symlink(how, path)

    raw("manifest-dir", lambda p: replace_file(p / "manifest.json", "dir"))
    raw("manifest-fifo", lambda p: replace_file(p / "manifest.json", "fifo"))
    raw("deep-json", lambda p: (p / "manifest.json").write_text("[" * 100000 + "]" * 100000))
    raw("bad-json", lambda p: (p / "manifest.json").write_text("{,}"))
    raw("not-utf8", lambda p: (p / "manifest.json").write_bytes(b"\xff\xfe{}"))
    raw("hex-fifo", lambda p: replace_file(p / first, "fifo"))
    raw("hex-devzero", lambda p: replace_file(p / first, "/dev/zero"))
    raw("hex-non-ascii", lambda p: (p / first).write_text((p / first).read_text().replace("\n", "\n\u00e9", 1)), True)
    raw("hex-bad-word", lambda p: (p / first).write_text((p / first).read_text().replace("\n", "\nzz\n", 1)), True)
    raw("hex-truncated", lambda p: (p / first).write_text((p / first).read_text()[:-4]))
    manifest("shape-huge", lambda m: m["testGroups"][0]["tests"][0]["files"][0].update(shape=[10**9], elements=10**9))
    manifest("params-wrong-type", lambda m: m["testGroups"][0]["tests"][0]["params"].update(strides="x"))
    manifest("params-missing", lambda m: m["testGroups"][0]["tests"][0]["params"].pop("zx"))
    manifest("params-huge-pad", lambda m: m["testGroups"][0]["tests"][0]["params"].update(pads=[10**9] * 4))
    manifest("seed-negative", lambda m: m.update(seed=-1))
    manifest("path-escape", lambda m: m["testGroups"][0]["tests"][0]["files"][0].update(path="../x.hex"))
    manifest("numberOfTests", lambda m: m.update(numberOfTests=7))
    return made


BAD_SETS = ["manifest-dir", "manifest-fifo", "deep-json", "bad-json", "not-utf8", "hex-fifo", "hex-devzero",
            "hex-non-ascii", "hex-bad-word", "hex-truncated", "shape-huge", "params-wrong-type", "params-missing",
            "params-huge-pad", "seed-negative", "path-escape", "numberOfTests"]
BAD_CASES = {
    "ragged.json": dict(fz.CASE, a=[[1, 2], [3]]), "bigscale.json": dict(fz.CASE, a_scale=10**400),
    "huge.json": dict(fz.CASE, a=[[1e30, 2.0], [3.0, 4.0]], b=[[1], [2]]), "list.json": [fz.CASE],
    "noop.json": {"a": "a.npy"}, "op-list.json": dict(fz.CASE, op=["qlinear_matmul"]),
    "method-dict.json": dict(fz.CASE, method={"x": 1}), "zp-str.json": dict(fz.CASE, a_zero_point="1"),
    "zp-range.json": dict(fz.CASE, a_zero_point=1000), "neg-scale.json": dict(fz.CASE, y_scale=-1),
    "scale-str.json": dict(fz.CASE, y_scale="abc"), "tensor-missing.json": dict(fz.CASE, a="nope.npy"),
    "tensor-fifo.json": dict(fz.CASE, a="../fifo"), "tensor-dict.json": dict(fz.CASE, a={"dtype": "int8"}),
    "tensor-str-list.json": dict(fz.CASE, a=[["a", "b"]]), "tensor-bool.json": dict(fz.CASE, a=[[True]]),
    "conv-pads.json": {"op": "qlinear_conv", "x": [[[[1]]]], "w": [[[[1]]]], "x_scale": 1, "w_scale": 1, "y_scale": 1,
                       "pads": [1, 1]},
    "conv-group.json": {"op": "qlinear_conv", "x": [[[[1]]]], "w": [[[[1]]]], "x_scale": 1, "w_scale": 1,
                        "y_scale": 1, "group": 0},
    "conv-stride0.json": {"op": "qlinear_conv", "x": [[[[1]]]], "w": [[[[1]]]], "x_scale": 1, "w_scale": 1,
                          "y_scale": 1, "strides": [0, 0]},
    "params-bad.json": {"op": "requantize", "acc": [1], "params": {"m": 1}, "method": "exact"},
    "params-list.json": {"op": "requantize", "acc": [1], "params": [1, 2], "method": "tflite_double"},
    "acc-float.json": {"op": "requantize", "acc": [1.5], "params": {"m": 1073741824, "shift": -5},
                       "method": "tflite_double"},
    "acc-huge.json": {"op": "requantize", "acc": [2**40], "params": {"m": 1073741824, "shift": -5},
                      "method": "tflite_double"},
    "quantize-x-str.json": {"op": "quantize", "x": ["a"], "scale": 1},
    "quantize-no-scale.json": {"op": "quantize", "x": [1.0]},
    "quantize-profile.json": {"op": "quantize", "x": [1.0], "scale": 1, "profile": "nope"},
    "float-bias-int-method.json": dict(fz.CASE, float_bias=[1.0, 2.0], method="tflite_double"),
}


def build_box(root):
    box = fz.make_sandbox(root)
    sets = _set_variants(box["in"] / "badsets-src")
    (box["in"] / "badsets").mkdir()
    for name in BAD_SETS:
        os.rename(sets[name], box["in"] / "badsets" / name)
    shutil.rmtree(box["in"] / "badsets-src", ignore_errors=True)
    (box["in"] / "hidden").mkdir()
    shutil.copytree(box["in"] / "set", box["in"] / "hidden" / ".conv.old-x")
    cases = box["in"] / "badcases"
    cases.mkdir()
    for name, spec in BAD_CASES.items():
        (cases / name).write_text(json.dumps(spec))
    shutil.copy(box["in"] / "a.npy", cases / "a.npy")
    shutil.copy(box["in"] / "b.npy", cases / "b.npy")
    return box


def verdict(rc, out, err, changed, must_fail=True):
    if rc == "hang":
        return "hang"
    if rc == 3 or "Traceback" in err:
        return "traceback"
    if rc in (0, 1):
        return "accepted" if must_fail else "clean"
    if fz.problems(rc, out, err) or changed:
        return "messy"
    return "clean"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subprocess", type=int, default=40, help="also run this many as real subprocesses")
    ap.add_argument("--random", type=int, default=0, help="add N random invocations from the fuzz strategy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="refquant-hostile-"))
    try:
        box = build_box(tmp / "box")
        golden.load._REPO_GOLDEN = golden.load._PACKAGED_GOLDEN = box["shipped"]   # where default_root looks
        os.environ.pop("REFQUANT_GOLDEN_ROOT", None)
        os.chdir(box["root"])
        cases = bad_invocations(box)
        counts, rows = {}, []
        t0 = time.perf_counter()
        for label, argv in cases:
            before = fz.snapshot(box["root"])
            try:
                rc, out, err = fz.run_cli(argv, seconds=30)
            except fz.Hang:
                rc, out, err = "hang", "", ""
            changed = fz.snapshot(box["root"]) != before
            v = verdict(rc, out, err, changed)
            counts[v] = counts.get(v, 0) + 1
            rows.append((v, label, argv, rc, err.strip().splitlines()[-1:] if err.strip() else [""]))
            for p in box["out"].iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        t_in = time.perf_counter() - t0
        sub_counts = {}
        step = max(1, len(cases) // max(1, args.subprocess))
        sample = cases[::step][:args.subprocess]
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), REFQUANT_GOLDEN_ROOT=str(box["shipped"]))
        for label, argv in sample:
            if any("\x00" in a or "\udcff" in a for a in argv):
                continue        # a shell cannot pass these as they are
            before = fz.snapshot(box["root"])
            try:
                res = subprocess.run([sys.executable, "-m", "refquant", *argv], capture_output=True, text=True,
                                     timeout=60, cwd=box["root"], env=env)
                rc, out, err = res.returncode, res.stdout, res.stderr
            except subprocess.TimeoutExpired:
                rc, out, err = "hang", "", ""
            v = verdict(rc, out, err, fz.snapshot(box["root"]) != before)
            sub_counts[v] = sub_counts.get(v, 0) + 1
            if v != "clean":
                rows.append((v, "subprocess: " + label, argv, rc, err.strip().splitlines()[-1:]))
            for p in box["out"].iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        rnd_counts = {}
        if args.random:
            from hypothesis import HealthCheck, given, settings
            from hypothesis import seed as hseed
            import test_fuzz_cli as tf
            seen = []

            @hseed(args.seed)
            @settings(max_examples=args.random, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(argv=tf.argvs())
            def draw(argv):
                seen.append(argv)
            draw()
            for argv in seen:
                before = fz.snapshot(box["root"])
                try:
                    rc, out, err = fz.run_cli(argv, seconds=30)
                except fz.Hang:
                    rc, out, err = "hang", "", ""
                changed = rc not in (0, 1) and fz.snapshot(box["root"]) != before
                v = verdict(rc, out, err, changed, must_fail=False)
                rnd_counts[v] = rnd_counts.get(v, 0) + 1
                rnd_counts[f"exit {rc}"] = rnd_counts.get(f"exit {rc}", 0) + 1
                if v != "clean":
                    rows.append((v, "random", argv, rc, err.strip().splitlines()[-1:]))
                for p in box["out"].iterdir():
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
                if "--in-place" in argv:
                    shutil.rmtree(box["shipped"] / "conv")
                    shutil.copytree(fz.GOLDEN / "conv", box["shipped"] / "conv")
    finally:
        os.chdir(HERE.parent)
        shutil.rmtree(tmp, ignore_errors=True)
    kinds = ("clean", "traceback", "hang", "accepted", "messy")
    print(f"in process: {len(cases)} bad invocations in {t_in:.1f} s: "
          + ", ".join(f"{k} {counts.get(k, 0)}" for k in kinds))
    print(f"subprocess: {sum(sub_counts.values())} of them: " + ", ".join(f"{k} {sub_counts.get(k, 0)}" for k in kinds))
    if args.random:
        print(f"random (fuzz strategy, seed {args.seed}): {args.random} invocations: "
              + ", ".join(f"{k} {v}" for k, v in sorted(rnd_counts.items())))
    for v, label, argv, rc, last in rows:
        if v != "clean" or args.verbose:
            shown = " ".join(a if len(a) < 60 else a[:40] + f"...({len(a)} chars)" for a in argv)
            print(f"  {v:<9} {label}: refquant {shown!r} -> exit {rc}: {(last or [''])[0][:160]}")
    return 0 if all(v == "clean" for v, *_ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
