"""Shared pieces of the hostile-input fuzz tests (tests/test_fuzz_*.py) and bench/hostile_tally.py.

A sandbox of inputs (a tiny golden set, a case, dumps, a FIFO, a link to /dev/zero, a directory,
garbage, deep JSON, ...), a time limit that interrupts a hanging call, and the one property every
hostile invocation must have: exit 0/1, or exit 2 with exactly one 'refquant: error:' line (or an
argparse usage error), never a traceback, a warning, exit 3, a hang, or a file left behind.
"""

import contextlib
import io
import json
import os
import shutil
import signal
import warnings
from pathlib import Path

import numpy as np

from refquant import cli, golden

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


class Hang(BaseException):
    """Raised in the main thread when a call runs past its time limit (BaseException: nothing in
    refquant may swallow it)."""


@contextlib.contextmanager
def time_limit(seconds):
    def on_alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(argv, seconds=20.0):
    """(exit code, stdout, stderr) of refquant.cli.main(argv) in this process, under a time limit.
    A Hang propagates."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")          # a warning printed to the user is a finding
        warnings.showwarning = lambda message, category, *a, **k: err.write(f"{category.__name__}: {message}\n")
        with time_limit(seconds):
            try:
                rc = cli.main([str(a) for a in argv])
            except SystemExit as exc:            # argparse: usage errors (2), --help / --version (0)
                rc = exc.code if isinstance(exc.code, int) else 2
    return rc, out.getvalue(), err.getvalue()


def problems(rc, out, err):
    """What is wrong with one invocation's outcome: [] when it is clean."""
    found = []
    if "Traceback" in err or rc == 3:
        found.append("traceback / internal error")
    if "Warning" in err:
        found.append("warning printed")
    if rc not in (0, 1, 2):
        found.append(f"exit {rc}")
    if rc == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("refquant: error:")]
        usage = [line for line in lines if line.startswith("usage:")]
        if len(errors) != 1:
            found.append(f"{len(errors)} 'refquant: error:' lines")
        elif not usage and len(lines) != 1:
            found.append(f"{len(lines)} lines on stderr")
        elif len(errors[0]) > 1100:
            found.append("error line longer than 1100 characters")
    return found


def snapshot(path):
    """{relative path: (kind, size, mtime)} of everything under path (links not followed)."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            snap[os.path.relpath(p, path)] = (st.st_mode >> 12, st.st_size if not os.path.isdir(p) else 0,
                                               st.st_mtime_ns)
    return snap


def tiny_set(dst, suite="conv", tests=2):
    """A valid set of the first ``tests`` tests of a shipped suite (files copied, manifest cut)."""
    src = GOLDEN / suite
    m = json.loads((src / "manifest.json").read_text())
    keep, groups = tests, []
    for g in m["testGroups"]:
        if keep <= 0:
            break
        g = dict(g, tests=g["tests"][:keep], tgId=len(groups) + 1)
        keep -= len(g["tests"])
        groups.append(g)
    m["testGroups"] = groups
    m["numberOfTests"] = sum(len(g["tests"]) for g in groups)
    used = {fl for g in groups for t in g["tests"] for fl in t["flags"]}
    m["notes"] = {k: v for k, v in m["notes"].items() if k in used}
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for g in groups:
        for t in g["tests"]:
            for f in t["files"]:
                shutil.copyfile(src / f["path"], dst / f["path"])
    (dst / "manifest.json").write_text(golden.manifest_text(m))
    return m


def refresh(set_dir, manifest):
    """Write ``manifest`` with every listed file's size and sha256 recomputed (files that exist)."""
    set_dir = Path(set_dir)
    for g in manifest.get("testGroups", []) if isinstance(manifest, dict) else []:
        for t in g.get("tests", []) if isinstance(g, dict) else []:
            for f in t.get("files", []) if isinstance(t, dict) else []:
                if isinstance(f, dict) and isinstance(f.get("path"), str):
                    p = set_dir / f["path"]
                    if p.is_file() and p.parent == set_dir:
                        data = p.read_bytes()
                        f["bytes"], f["sha256"] = len(data), golden._sha(data)
    (set_dir / "manifest.json").write_text(json.dumps(manifest))


CASE = {"op": "qlinear_matmul", "a": "a.npy", "b": "b.npy", "a_scale": 0.5, "b_scale": 0.25, "y_scale": 1.0,
        "method": "exact"}


def make_sandbox(root):
    """The fixed hostile inputs under root/in, a shipped-looking root under root/golden (schema
    and a copy of conv), an empty root/out for outputs.  Returns a dict of named paths."""
    root = Path(root)
    d = root / "in"
    d.mkdir(parents=True)
    np.save(d / "a.npy", np.arange(12, dtype=np.int8).reshape(3, 4))
    np.save(d / "b.npy", np.arange(8, dtype=np.int8).reshape(4, 2))
    np.save(d / "y.npy", np.zeros((3, 2), np.int8))
    np.save(d / "f.npy", np.full((3, 2), 1e30, np.float32))
    np.save(d / "obj.npy", np.array([1, 2], np.int64))
    (d / "case.json").write_text(json.dumps(CASE))
    (d / "requant.json").write_text(json.dumps({"op": "requantize", "acc": [[-3744, 17], [5, 6]],
                                                "params": {"m": 1073741824, "shift": -5}, "method": "tflite_double"}))
    (d / "y.hex").write_text("\n".join(["00"] * 6) + "\n")
    (d / "y.bin").write_bytes(bytes(6))
    (d / "empty").write_bytes(b"")
    (d / "garbage.bin").write_bytes(bytes(range(256)) * 4)
    (d / "latin1.hex").write_bytes(b"// \xe9\n00\n01\n")
    (d / "nested.json").write_text('{"op": "qlinear_matmul", "a": ' + "[" * 50000 + "]" * 50000 + "}")
    (d / "plain.txt").write_text("not a directory\n")
    (d / "dir").mkdir()
    os.mkfifo(d / "fifo")
    os.mkfifo(d / "fifo.json")
    os.mkfifo(d / "fifo.hex")
    os.symlink("/dev/zero", d / "zero.hex")
    os.symlink("/dev/zero", d / "zero.json")
    os.symlink(d / "nowhere", d / "dangling.json")
    tiny_set(d / "set")
    tiny_set(d / "rootset" / "conv")
    shutil.copytree(d / "set", d / "rootset" / ".conv.tmp-x")
    shipped = root / "golden"
    shutil.copytree(GOLDEN / "schema", shipped / "schema")
    shutil.copytree(GOLDEN / "conv", shipped / "conv")
    (root / "out").mkdir()
    return {"root": root, "in": d, "shipped": shipped, "out": root / "out"}


# Values a hostile user (or a broken script) passes where a number, name or path is expected.
HOSTILE_VALUES = [
    "", " ", "-1", "-0", "0", "1", "3", "1.5", "1e3", "99999999999999999999", "-99999999999999999999",
    "9" * 5000, "1e999999999", "1e-999999999", "-1e999999999", "0x1p99999999", "0x", "0xzz", "1/0", "nan",
    "inf", "-inf", "abc", "x" * 3000, "\u00e9\u00e8", "\udcff", "\x00", "[[[[", "[" * 3000 + "]" * 3000, "{}", "[]",
    '{"a": 1}', "null", "true", "1,2", "3x4", "0x0", "-3x4", "1e30", "int9", "float32", "all", "nope",
]
