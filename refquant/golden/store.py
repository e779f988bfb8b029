"""Generation: build a set from the oracle, write it atomically with its manifest and schema."""

import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import __version__
from .. import requant as rq
from ..errors import InvalidValueError, ShapeError, UnknownNameError
from ..profiles import PROFILES
from .blocks_tv import PROFILE_SOURCE as BLOCK_PROFILE_SOURCE
from .compute import _kernel_method, Tensor, run_test
from .variant_ops import variant_source
from .schema import FORMAT_VERSION, NOTES, SCHEMA, SCHEMA_NAME
from .suites import SUITES
from .tensors import format_tensor



def _sha(data):
    return hashlib.sha256(data).hexdigest()


class _Progress:
    """A counter on stderr, only when stderr is a terminal."""

    def __init__(self, label, total, enabled=None):
        self.label, self.total, self.n = label, total, 0
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0

    def step(self):
        self.n += 1
        now = time.monotonic()
        if self.on and (now - self.last > 0.1 or self.n == self.total):
            self.last = now
            sys.stderr.write(f"\r{self.label}: {self.n}/{self.total}")
            if self.n == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _file_entry(path, kind, role, data, **extra):
    entry = {"path": path, "kind": kind, "role": role}
    entry.update(extra)
    entry["bytes"] = len(data)
    entry["sha256"] = _sha(data)
    return entry


def _tensor_file(tc, name, role, t, files, blobs):
    path = f"tc{tc:04d}_{name}.{t.dtype}.hex"
    data = format_tensor(name, t.dtype, t.shape, t.values, t.layout).encode("ascii")
    blobs[path] = data
    files.append(_file_entry(path, "tensor", role, data, name=name, dtype=t.dtype, shape=list(t.shape),
                             layout=t.layout, elements=len(t.values)))


def _param_files(tc, op, params, derived, files, blobs):
    """Kernel-ready requantization parameters as files (RTL testbenches cannot read JSON)."""
    method = params.get("method")
    if derived is None or _kernel_method(method) is None or method == "int32":
        return
    if "M_bits" in derived:
        _tensor_file(tc, "M", "param", Tensor("f32", [len(derived["M_bits"])], derived["M_bits"]), files, blobs)
    else:
        sh = "shift" if "shift" in derived else "s"
        _tensor_file(tc, "mult", "param", Tensor("i32", [len(derived["m"])], derived["m"]), files, blobs)
        _tensor_file(tc, sh, "param", Tensor("i32", [len(derived[sh])], derived[sh]), files, blobs)


def _vectors_file(case, test, blobs):
    """The .tv file of a formats case: its lines under a header naming the columns."""
    path, columns, lines = case["tv"]
    body = lines()
    data = ("\n".join([f"// {' '.join(columns)}"] + body) + "\n").encode("ascii")
    blobs[path] = data
    test["files"].append(_file_entry(path, "vectors", "vectors", data, columns=columns, lines=len(body)))


def _case_files(tc, g, case, outcome, test, flags, blobs):
    """The input files of a tensor case, then by its outcome: the derived params and expected (and
    intermediate) files, or the error / unpredictable reason."""
    for name, t in case["inputs"].items():
        _tensor_file(tc, name, "input", t, test["files"], blobs)
    if outcome[0] == "valid":
        _, outputs, derived, auto = outcome
        flags |= auto
        if derived is not None:
            test["derived"] = derived
            _param_files(tc, g["op"], case["params"], derived, test["files"], blobs)
        for name, t in outputs.items():
            role = "intermediate" if name == "acc" and "Y" in outputs else "expected"
            if name == "acc" and case["params"].get("method") == "int32":
                continue   # Y is the accumulator itself
            _tensor_file(tc, name, role, t, test["files"], blobs)
    elif outcome[0] == "error":
        test["result"], test["error"], test["reason"] = "error", outcome[1], outcome[2]
    else:
        test["result"], test["reason"] = "unpredictable", outcome[1]


def _test_record(suite, g, case, tc, outcome, blobs):
    """(the manifest record of test ``tc``, its flags); its files go into ``blobs``."""
    test = {"tcId": tc, "name": case["name"] if suite == "formats" else f"{g['profile']}/{case['name']}",
            "comment": case["comment"], "flags": [], "result": "valid", "params": case["params"],
            "files": []}
    flags = set(case["flags"])
    if "tv" in case:
        _vectors_file(case, test, blobs)
    else:
        _case_files(tc, g, case, outcome, test, flags, blobs)
    test["flags"] = sorted(flags)
    return test, flags


def generate_command(suite, seed):
    """The command line a manifest records as ``generator.command``: it regenerates the set into
    DIR/<suite>, byte for byte (the destination is not recorded, so that every copy is the same)."""
    return f"refquant golden generate --suite {suite} --seed {seed} --out DIR"


def _manifest(suite, seed, skipped, profiles, used_flags, tc, out_groups):
    return {
        "schema": SCHEMA_NAME, "formatVersion": FORMAT_VERSION, "suite": suite,
        "generator": {"name": "refquant", "version": __version__,
                      "command": generate_command(suite, seed)},
        "seed": seed,
        "header": [SUITES[suite][1],
                   "Every expected output was computed by the refquant Python oracle (ints and Fractions). "
                   "Format: docs/golden-format.md; schema: golden/schema/manifest.schema.json."]
        + [f"Not generated (parameters outside the method's domain): {x}" for x in skipped],
        "profiles": dict(sorted(profiles.items())),
        "notes": {k: {"description": d, "effect": e} for k, (d, e) in NOTES.items() if k in used_flags},
        "numberOfTests": tc,
        "testGroups": out_groups,
    }


def build_set(suite, seed=1, progress=None):
    """(manifest dict, {filename: bytes}) of one suite, deterministically from ``seed``."""
    if suite not in SUITES:
        raise UnknownNameError("golden suite", suite, SUITES)
    builder, _ = SUITES[suite]
    rng = random.Random(f"refquant-golden:{suite}:{seed}")
    groups = builder(rng)
    total = sum(len(g["cases"]) for g in groups)
    bar = _Progress(f"golden {suite}", total, progress)
    blobs = {}
    out_groups = []
    used_flags = set()
    profiles = {}
    tc = 0
    skipped = []
    for g in groups:
        tests = []
        for case in g["cases"]:
            bar.step()
            outcome = None
            if "tv" not in case:
                try:
                    outcome = run_test(g["op"], case["params"], case["inputs"])
                except (InvalidValueError, ShapeError) as exc:   # outside the method's domain
                    skipped.append(f"{g['profile']}/{case['name']} ({exc})")
                    continue
            tc += 1
            test, flags = _test_record(suite, g, case, tc, outcome, blobs)
            used_flags |= flags
            tests.append(test)
        kind = {"quantize": "quantize_profile", "dequantize": "quantize_profile", "encode": "float_rounding",
                "decode": "float_rounding", "gguf_quantize": "block_format",
                "gguf_dequantize": "block_format", "qbinary": "op_variant", "qunary": "op_variant",
                "qtensor": "op_variant"}.get(g["op"], "requant_method")
        profiles[g["profile"]] = {"kind": kind, "source": _profile_source(kind, g["profile"])}
        if not tests:
            continue
        out_groups.append({"tgId": len(out_groups) + 1, "op": g["op"], "profile": g["profile"], "comment": g.get("comment", ""),
                           "params": g["params"], "tests": tests})
    return _manifest(suite, seed, skipped, profiles, used_flags, tc, out_groups), blobs


def _profile_source(kind, name):
    if kind == "quantize_profile":
        return PROFILES[name].source
    if kind == "block_format":
        return BLOCK_PROFILE_SOURCE[name]
    if kind == "op_variant":                  # 'op.variant' (refquant/golden/variant_ops.py)
        return variant_source(*name.split("."))
    if kind == "float_rounding":
        return {"exact": "exact decoding", "rne": "IEEE 754 roundTiesToEven", "rna": "IEEE 754 roundTiesToAway",
                "rtz": "IEEE 754 roundTowardZero", "rup": "IEEE 754 roundTowardPositive",
                "rdn": "IEEE 754 roundTowardNegative"}[name]
    return rq.METHODS[name].reproduces


def manifest_text(manifest):
    return json.dumps(manifest, indent=1, ensure_ascii=True) + "\n"


def _replace_dir(tmp, target):
    """Move the finished directory ``tmp`` to ``target`` (replacing an old one) with renames."""
    os.chmod(tmp, 0o755)
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=os.path.dirname(target))
        os.rmdir(old)
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old)
    else:
        os.rename(tmp, target)


def write_set(suite, out_root, seed=1, progress=None):
    """Generate ``suite`` into out_root/<suite> atomically; returns (manifest, total bytes)."""
    manifest, blobs = build_set(suite, seed, progress)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{suite}.tmp-", dir=out_root)
    try:
        for name, data in blobs.items():
            with open(os.path.join(tmp, name), "wb") as fh:
                fh.write(data)
        text = manifest_text(manifest).encode("ascii")
        with open(os.path.join(tmp, "manifest.json"), "wb") as fh:
            fh.write(text)
        _replace_dir(tmp, str(out_root / suite))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest, sum(map(len, blobs.values())) + len(text)


def write_schema(out_root):
    path = Path(out_root) / "schema" / "manifest.schema.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(SCHEMA, indent=1) + "\n").encode("ascii"))
    return path


def atomic_write(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
