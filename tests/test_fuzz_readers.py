"""Fuzz every file reader with generated malformed files (issue 11, the class of items 8, 9, 11, 12).

Readers: golden manifest (JSON + schema + consistency), golden tensor .hex, golden .tv vectors,
the audit's .npy, raw and $readmemh hex dumps, and case JSON.  Each file is written into a scratch
directory and read (1) through the library, which must return or raise a RefquantError with a
one-line message, and (2) through the CLI command that reads it, which must exit 0, 1 or 2 with
one 'refquant: error:' line, no traceback or warning, within the time limit, and write nothing
when it fails.  Checksums are recomputed after each mutation so that the parse itself is reached.
"""

import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_support as fz
from refquant import golden
from refquant.audit import core, tensors
from refquant.errors import RefquantError

EXAMPLES = int(os.environ.get("REFQUANT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("REFQUANT_FUZZ_RANDOM"),
                database=None, suppress_health_check=list(HealthCheck))

# JSON values a mutation may put anywhere: wrong types, huge and negative numbers, deep lists, odd text
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([10**400, -1, 0, 2**31]),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["", "../etc/passwd", "x" * 300, "nan", "conv", "int9", "0x7f", "1/0"]))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                    max_leaves=12)


def _paths(value, prefix=()):
    """Every path (tuple of keys / indices) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, base):
    """``base`` with 1-3 mutations: a node replaced by a generated value, deleted, or a key added."""
    value = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(value))
        path = draw(st.sampled_from(paths[1:] if len(paths) > 1 else paths))
        if not path:
            return draw(JSON)
        parent = value
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON)
        else:
            parent.append(draw(JSON))
    return value


def _library(call):
    """call() either returns or raises a RefquantError with a one-line message; else the test fails."""
    with fz.time_limit(20):
        try:
            return call()
        except RefquantError as exc:
            assert "\n" not in str(exc).strip(), str(exc)
            return exc


def _cli_clean(argv, box):
    before = fz.snapshot(box)
    rc, out, err = fz.run_cli(argv, seconds=30)
    found = fz.problems(rc, out, err)
    if rc not in (0, 1) and fz.snapshot(box) != before:
        found.append("failed but wrote files")
    assert not found, (argv, rc, found, err[-1500:])
    return rc


class Box(dict):
    """A fixture's dict with a short repr (hypothesis prints every argument of a failing example)."""

    def __repr__(self):
        return f"<{self['dir']}>"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("readers")
    m = fz.tiny_set(d / "pristine", "conv", tests=2)
    return Box(dir=d, manifest=m)


def _fresh(base, name):
    d = base["dir"] / name
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(base["dir"] / "pristine", d / "set")
    return d


# ---- golden manifest -----------------------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_fuzz_golden_manifest(base, data):
    d = _fresh(base, "manifest")
    m = data.draw(mutated(base["manifest"]))
    if data.draw(st.booleans()):
        fz.refresh(d / "set", m)         # sizes and checksums right: the mutation reaches the checks behind them
    else:
        (d / "set" / "manifest.json").write_text(json.dumps(m))
    _library(lambda: golden.verify(d / "set", use_kernel=False))
    _cli_clean(["golden", "verify", d / "set", "--no-kernel"], d)
    rc = _cli_clean(["golden", "export", "--format", data.draw(st.sampled_from(["npy", "bin", "c-header"])),
                     d / "set", d / "out"], d)
    assert rc == 0 or not (d / "out").exists()


@FUZZ
@given(text=st.one_of(st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.text(max_size=300),
                      st.sampled_from(["[" * 5000, "[" * 3000 + "]" * 3000, '{"a": ' * 2000, "1" * 5000, "",
                                       '{"schema": 1e999}'])))
def test_fuzz_golden_manifest_bytes(base, text):
    d = _fresh(base, "manifest_bytes")
    (d / "set" / "manifest.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    _library(lambda: golden.load_set(d / "set"))
    _cli_clean(["golden", "verify", d / "set"], d)


# ---- golden tensor .hex and .tv files (checksums fixed, so the parser is reached) ------------------------

HEX_LINES = st.lists(st.one_of(st.sampled_from(["00", "7f", "80", "ff", "1ff", "zz", "7f 01", "// c", "", " ", "0x7f",
                                                "\u00e9", "-1", "00000000", "@10"]), st.text(max_size=6)), max_size=60)


@FUZZ
@given(data=st.data())
def test_fuzz_golden_tensor_file(base, data):
    d = _fresh(base, "tensor")
    m = copy.deepcopy(base["manifest"])
    entry = data.draw(st.sampled_from([f for g in m["testGroups"] for t in g["tests"] for f in t["files"]]))
    lines = (d / "set" / entry["path"]).read_text().split("\n")
    header = data.draw(st.one_of(st.just(lines[0]), st.text(max_size=40).map(lambda s: "// " + s),
                                 st.just(lines[0].replace("shape=", "shape=9x")), st.just("")))
    body = data.draw(st.one_of(st.just(lines[1:]), HEX_LINES, st.lists(st.sampled_from(lines[1:] or ["00"]), max_size=80)))
    (d / "set" / entry["path"]).write_text("\n".join([header] + body))
    fz.refresh(d / "set", m)
    _library(lambda: golden.parse_tensor("\n".join([header] + body), "t", entry["dtype"], entry["shape"]))
    _library(lambda: golden.verify(d / "set", use_kernel=False))
    _cli_clean(["golden", "verify", d / "set", "--no-kernel"], d)


@pytest.fixture(scope="module")
def tv_base(tmp_path_factory):
    """A one-test formats set (one .tv file)."""
    d = tmp_path_factory.mktemp("tv")
    m = fz.tiny_set(d / "pristine", "formats", tests=1)
    return Box(dir=d, manifest=m)


@FUZZ
@given(lines=st.lists(st.one_of(st.sampled_from(["7e 7e 00", "00 00 00", "zz 00", "ff", "7e 7e 00 00", "// x", "",
                                                  "1" * 40 + " 0 0", "-1 0 0"]), st.text(max_size=12)), max_size=20))
def test_fuzz_golden_tv_file(tv_base, lines):
    d = _fresh(tv_base, "tvset")
    m = copy.deepcopy(tv_base["manifest"])
    entry = m["testGroups"][0]["tests"][0]["files"][0]
    (d / "set" / entry["path"]).write_text("\n".join(lines) + "\n")
    fz.refresh(d / "set", m)
    _library(lambda: golden.verify(d / "set", use_kernel=False))
    _cli_clean(["golden", "verify", d / "set", "--no-kernel"], d)


# ---- the audit's dumps: .npy, raw, $readmemh hex ------------------------------------------------------------

def _npy_variants():
    good = golden.npy_bytes("i8", [3, 2], [0] * 6)
    header_end = good.index(b"\n") + 1
    headers = st.sampled_from([
        "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 2), }", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", "{'descr': '<i1', 'fortran_order': False, 'shape': (99999999999,), }",
        "{'descr': 'V3', 'fortran_order': False, 'shape': (2,), }", "{'descr': '<i1', 'shape': (3, 2)}", "[]", "",
        "{'descr': '<i1', 'fortran_order': False, 'shape': (-1,), }", "__import__('os')"])

    def build(h, tail):
        h = h + " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
        return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode("latin-1") + tail
    return st.one_of(st.binary(max_size=200), st.builds(lambda n: good[:n], st.integers(0, len(good))),
                     st.builds(build, headers, st.binary(max_size=64)), st.just(good[:header_end] + b"\x00" * 3))


@FUZZ
@given(data=st.data())
def test_fuzz_audit_dumps(base, data, tmp_path_factory):
    d = base["dir"] / "dumps"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    for name in ("a.npy", "b.npy"):
        np.save(d / name, np.arange(12 if name == "a.npy" else 8, dtype=np.int8).reshape((3, 4) if name == "a.npy" else (4, 2)))
    (d / "case.json").write_text(json.dumps(fz.CASE))
    fmt = data.draw(st.sampled_from(["npy", "raw", "hex"]))
    if fmt == "npy":
        blob = data.draw(_npy_variants())
    elif fmt == "raw":
        blob = data.draw(st.binary(max_size=64))
    else:
        blob = "\n".join(data.draw(HEX_LINES)).encode("utf-8", "surrogateescape")
    path = d / f"y.{ {'npy': 'npy', 'raw': 'bin', 'hex': 'hex'}[fmt] }"
    path.write_bytes(blob)
    dtype = data.draw(st.sampled_from(["int8", "int16", "uint4", "int32", "float32", "int9", None]))
    shape = data.draw(st.sampled_from(["3x2", "6", "2x3", "0", "-1", "x", "99999999999x99999999999", None]))
    _library(lambda: tensors.load(str(path), dtype, shape))
    argv = ["audit", d / "case.json", "--actual", path, "--no-diagnose"]
    if dtype:
        argv += ["--actual-dtype", dtype]
    if shape:
        argv += ["--actual-shape", shape]
    _cli_clean(argv, d)


# ---- case JSON ----------------------------------------------------------------------------------------------

CASES = [
    {"op": "qlinear_matmul", "a": [[1, 2], [3, 4]], "b": [[1], [-1]], "a_scale": 0.5, "b_scale": 0.25, "y_scale": 0.125,
     "a_zero_point": 0, "b_zero_point": 0, "y_zero_point": 1, "method": "tflite_double", "bias": [3]},
    {"op": "qlinear_conv", "x": [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]], "w": [[[[1, 0], [0, -1]]]], "x_type": "uint8",
     "w_type": "int8", "x_scale": 0.02, "w_scale": 0.004, "y_scale": 0.25, "pads": [1, 1, 1, 1], "strides": [1, 1],
     "dilations": [1, 1], "group": 1, "method": "ort"},
    {"op": "requantize", "acc": [[-3744, 17], [5, 6]], "params": {"m": 1073741824, "shift": -5},
     "method": "tflite_double", "y_type": "int8"},
    {"op": "quantize", "x": [0.5, -1.25, 3.0], "scale": 0.5, "zero_point": 3, "dtype": "int8", "profile": "onnxruntime"},
    {"op": "matmul_integer", "a": [[1, 2]], "b": [[3], [4]], "a_type": "uint8", "b_type": "int8"},
]


@FUZZ
@given(data=st.data())
def test_fuzz_case_json(base, data):
    d = base["dir"] / "cases"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir()
    spec = data.draw(mutated(data.draw(st.sampled_from(CASES))))
    (d / "case.json").write_text(json.dumps(spec))
    case = _library(lambda: core.load_case(str(d / "case.json")))
    if isinstance(case, core.Case):
        shape = _library(lambda: tuple(case.out_shape))
        if isinstance(shape, tuple) and int(np.prod(shape)) <= 10_000:
            _library(lambda: core.audit(case, np.zeros(shape, np.int64), first=2))
    (d / "y.hex").write_text("00\n" * 4)
    _cli_clean(["audit", d / "case.json", "--actual", d / "y.hex", "--actual-shape", "2x2", "--first", "1"], d)
    _cli_clean(["explain", d / "case.json"], d)


def test_readers_refuse_special_files_without_reading(tmp_path):
    """Every reader refuses a FIFO, a link to /dev/zero and a directory at once (each would hang
    or fail to read); the message names the kind of file."""
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "zero")
    (tmp_path / "dir").mkdir()
    readers = [lambda p: golden.read_file(p, "a file"), lambda p: tensors.load(str(p), "int8", "3x2", "raw"),
               lambda p: tensors.load(str(p), "int8", "3x2", "hex"), lambda p: tensors.load(str(p), None, None, "npy"),
               lambda p: core.load_case(str(p))]
    for name, kind in (("fifo", "FIFO"), ("zero", "character device"), ("dir", "directory")):
        for read in readers:
            with fz.time_limit(10):
                with pytest.raises(RefquantError, match=kind):
                    read(tmp_path / name)
    m = fz.tiny_set(tmp_path / "set", "conv", tests=1)
    victim = Path(tmp_path / "set" / m["testGroups"][0]["tests"][0]["files"][0]["path"])
    victim.unlink()
    os.symlink("/dev/zero", victim)
    with fz.time_limit(10), pytest.raises(RefquantError, match="character device"):
        golden.load_set(tmp_path / "set")
