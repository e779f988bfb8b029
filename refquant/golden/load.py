"""Loading: where sets lie, the regular-file / size-capped readers every user file goes through,
GoldenSet / GoldenCase, find / load, and the record of the shipped manifests."""

import json
import os
import stat
from pathlib import Path

from ..errors import FormatFileError
from .compute import COMPUTE, Tensor
from .schema import SCHEMA, SUITE_NAMES, TV_OPS, schema_errors
from .store import _sha
from .suites import SUITES
from .tensors import DTYPES, _WORD_RE, _count, parse_tensor, raw_bytes



# Where the sets may lie: the repository's golden/ (the canonical copy: a source checkout or an
# editable install), and the copy a wheel ships as package data (refquant/golden_data/, when
# pyproject.toml maps golden/ there).  A directory counts only if it holds the schema.
_REPO_GOLDEN = Path(__file__).resolve().parents[2] / "golden"
_PACKAGED_GOLDEN = Path(__file__).resolve().parents[1] / "golden_data"


def _is_golden_root(path):
    return (path / "schema" / "manifest.schema.json").is_file()


# Every file refquant reads from a user (manifests, tensor files, case files, dumps) goes through
# read_file: a regular file only (a FIFO, device or directory is refused before any read, so
# /dev/zero or a pipe cannot hang the reader or grow memory), at most ``limit`` bytes read.
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))
MAX_JSON_BYTES = 256 << 20     # a manifest or case file larger than this is refused


def read_file(path, what="file", limit=None, missing=None, refuse_longer=True):
    """The bytes of regular file ``path``: FormatFileError naming the path and what was expected
    when it is missing (``missing``: the message), not a regular file, unreadable, or (``limit``)
    larger than ``limit`` bytes.  Only ``limit + 1`` bytes are ever read; with refuse_longer=False
    those are returned (the caller names the size disagreement)."""
    path = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FormatFileError(missing or f"{path}: no such file; expected {what}") from None
    except IsADirectoryError:
        raise FormatFileError(f"{path}: is a directory, not a regular file; expected {what}") from None
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot open ({exc.strerror}); expected {what}") from None
    except ValueError:       # a NUL byte in the path
        raise FormatFileError(f"{path!r}: a path with a NUL byte; expected {what}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)), "not a regular file")
            raise FormatFileError(f"{path}: is {kind}, not a regular file; expected {what}")
        chunks, left = [], (limit + 1 if limit is not None else -1)
        while left:
            chunk = os.read(fd, min(left, 1 << 20) if left > 0 else 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot read ({exc.strerror}); expected {what}") from None
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit and refuse_longer:
        raise FormatFileError(f"{path}: more than {limit} bytes; expected {what} of at most {limit} bytes")
    return data


def decode_text(data, path, encoding="ascii"):
    """``data`` as text; FormatFileError naming the path and the first offending byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatFileError(f"{path}: byte {exc.start} (0x{data[exc.start]:02x}) is not {encoding.upper()}; "
                              f"expected {encoding.upper()} text") from None


def parse_json(text, path):
    """Parsed JSON; FormatFileError (with line and column) for malformed, too deeply nested or
    too long-numbered text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatFileError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    except RecursionError:
        raise FormatFileError(f"{path}: JSON nested too deeply for the reader; expected at most a few "
                              "hundred levels of [ ] and { }") from None
    except ValueError as exc:      # e.g. an integer literal of more than 4300 digits
        raise FormatFileError(f"{path}: unreadable JSON value ({exc})") from None


def default_root():
    """The golden/ directory, searched in order: $REFQUANT_GOLDEN_ROOT (a checkout's golden/, or
    any directory of sets); the repository's golden/ (source checkout or editable install); the
    sets installed as package data (refquant/golden_data/); else ./golden."""
    env = os.environ.get("REFQUANT_GOLDEN_ROOT")
    if env:
        return Path(env).expanduser()
    for path in (_REPO_GOLDEN, _PACKAGED_GOLDEN):
        if _is_golden_root(path):
            return path
    return Path.cwd() / "golden"


class GoldenCase:
    """One test of a set, with decoded tensors (see GoldenSet.cases)."""

    def __init__(self, gset, group, test, tensors):
        self.set, self.group, self.test = gset, group, test
        self.tc_id, self.name, self.op = test["tcId"], test["name"], group["op"]
        self.profile = group["profile"]
        self.result, self.flags, self.params = test["result"], test["flags"], test["params"]
        self.derived = test.get("derived")
        self.error = test.get("error")
        self.files = test["files"]
        self.inputs = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] in ("input",)}
        self.param_tensors = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] == "param"}
        self.expected = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] in ("expected", "intermediate")}
        self.vectors = [tensors[f["path"]] for f in self.files if f["role"] == "vectors"]

    def __repr__(self):
        return f"<golden case {self.set.suite}#{self.tc_id} {self.name} {self.result}>"


Case = GoldenCase  # the name before the golden package (kept for callers)


class GoldenSet:
    """A checked vector set: manifest validated, every file's size and sha256 verified."""

    def __init__(self, path, manifest):
        self.path, self.manifest = Path(path), manifest
        self.suite = manifest["suite"]

    def tests(self):
        for g in self.manifest["testGroups"]:
            for t in g["tests"]:
                yield g, t

    def read_bytes(self, entry):
        """The bytes of a listed file, checked against the manifest's size and sha256 (never more
        than the declared size is read)."""
        return _check_file(self.path / entry["path"], entry)

    def read_tensor(self, entry):
        path = self.path / entry["path"]
        text = decode_text(self.read_bytes(entry), path)
        _, values = parse_tensor(text, str(path), entry["dtype"], entry["shape"])
        return Tensor(entry["dtype"], entry["shape"], values, entry["layout"])

    def read_vectors(self, entry):
        """[(line number, [words...]), ...] of a .tv file."""
        path = self.path / entry["path"]
        rows = []
        for lineno, line in enumerate(decode_text(self.read_bytes(entry), path).split("\n"), start=1):
            body = line.split("//", 1)[0].split()
            if not body:
                continue
            if len(body) != len(entry["columns"]) or not all(_WORD_RE.match(w) for w in body):
                raise FormatFileError(f"{path}:{lineno}: expected {len(entry['columns'])} hex words "
                                      f"({' '.join(entry['columns'])}), got {line!r}")
            rows.append((lineno, body))
        if len(rows) != entry["lines"]:
            raise FormatFileError(f"{path}: {len(rows)} vector lines, the manifest says {entry['lines']}")
        return rows

    def cases(self, numpy=False):
        """Iterate GoldenCase objects; tensors as Tensor (numpy=False) or numpy arrays (numpy=True)."""
        for g, t in self.tests():
            tensors = {}
            for f in t["files"]:
                if f["kind"] == "vectors":
                    tensors[f["path"]] = self.read_vectors(f)
                else:
                    tt = self.read_tensor(f)
                    tensors[f["path"]] = to_numpy(tt) if numpy else tt
            yield GoldenCase(self, g, t, tensors)


def to_numpy(t):
    """A Tensor as a numpy array: integers as their type (i4/u4 widened to 8 bits), f64/f32/f16
    as floats (from their bits), bf16 and float8/6/4 codes as unsigned code arrays."""
    import numpy as np
    d = DTYPES[t.dtype]
    return np.frombuffer(raw_bytes(t.dtype, t.values), dtype=np.dtype(d.npy)).reshape(t.shape).copy()


def _load_manifest(path):
    return _read_manifest(path)[0]


def _read_manifest(path):
    """(validated manifest, its bytes)."""
    mpath = Path(path) / "manifest.json"
    data = read_file(mpath, "a golden manifest (JSON)", MAX_JSON_BYTES,
                     missing=f"{mpath}: no manifest.json (not a golden vector set)")
    manifest = parse_json(decode_text(data, mpath, "utf-8"), mpath)
    errs = schema_errors(manifest, SCHEMA)
    if errs:
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise FormatFileError(f"{mpath}: schema violation: {errs[0]}{more}")
    _check_consistency(mpath, manifest)
    return manifest, data


def _check_consistency(mpath, manifest):
    seen, paths = set(), set()
    count = 0
    for g in manifest["testGroups"]:
        for t in g["tests"]:
            count += 1
            if t["tcId"] in seen:
                raise FormatFileError(f"{mpath}: tcId {t['tcId']} appears twice")
            seen.add(t["tcId"])
            for fl in t["flags"]:
                if fl not in manifest["notes"]:
                    raise FormatFileError(f"{mpath}: test {t['tcId']} flag {fl!r} has no entry in notes")
            for f in t["files"]:
                if f["path"] in paths:
                    raise FormatFileError(f"{mpath}: file {f['path']} is listed twice")
                paths.add(f["path"])
                if f["kind"] == "tensor" and _count(f["shape"]) != f["elements"]:
                    raise FormatFileError(f"{mpath}: test {t['tcId']} file {f['path']}: shape {f['shape']} "
                                          f"has {_count(f['shape'])} elements, 'elements' says {f['elements']}")
            if g["op"] not in COMPUTE and g["op"] not in TV_OPS:
                raise FormatFileError(f"{mpath}: unknown op {g['op']!r}")
    if count != manifest["numberOfTests"]:
        raise FormatFileError(f"{mpath}: numberOfTests is {manifest['numberOfTests']} but {count} tests are listed")


def load_set(path, check_files=True):
    """A GoldenSet from a set directory (or a suite name under default_root()).

    Validates the manifest against the schema and (check_files) every file's size and sha256.
    """
    path = set_location(path)
    manifest, data = _read_manifest(path)
    gset = GoldenSet(path, manifest)
    gset.manifest_bytes, gset.manifest_sha256 = data, _sha(data)
    if check_files:
        for _, t in gset.tests():
            for f in t["files"]:
                _check_file(path / f["path"], f)
    return gset


def set_location(arg):
    """The directory a set or root argument names: an existing path as given, else a suite name
    (formats, quantize, matmul, conv) under default_root().  The one place a suite name is read."""
    path = Path(arg)
    if path.exists() or str(arg) not in SUITES:
        return path
    return default_root() / str(arg)


def _resolved(path):
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def is_shipped_root(path):
    """True when ``path`` is where the shipped vectors live: the checkout's golden/, the wheel's
    refquant/golden_data/, or default_root()."""
    target = _resolved(path)
    return any(target == _resolved(p) for p in (_REPO_GOLDEN, _PACKAGED_GOLDEN, default_root()))


def shipped_root_holding(path):
    """The shipped root (see is_shipped_root) that ``path`` is or lies inside, else None."""
    target = _resolved(path)
    for root in (_REPO_GOLDEN, _PACKAGED_GOLDEN, default_root()):
        r = _resolved(root)
        if target == r or r in target.parents:
            return root
    return None


# sha256 of each shipped manifest.json.  A manifest lists every file's size and sha256, so this
# pins the whole shipped set: `golden verify` of the shipped location fails for a set regenerated
# with another seed or generator, or edited.  After an intended change of the generator, run
# `refquant golden generate --in-place` and record the checksums it prints here
# (tests/test_golden.py::test_shipped_record_matches_the_committed_manifests checks them).
SHIPPED_MANIFEST_SHA256 = {
    "formats": "860aa09244d9a22304e7020d32b8af014e4232c8f95b60703b2589d5cb45d587",
    "quantize": "a9ab69f1353258cbbd4d3f36184bf5487a61fe3b94c7bc01e1f4b0b6ea7858c7",
    "matmul": "1c21bd8ec223e239a3373176e1ebf5a950cc47ac71467690879f04e40b3f181f",
    "conv": "7e9293dadd7a86bc2de8e1a45276cb57fad0b282b8647026a0650d1f84f98751",
    "blocks": "697236399ebf69050cd4b65204f2d38ef87ebe7f57ae3607576dbb91ee700d83",
    "ops": "481438d003272e06b11af0f22deb892545f3e2c2ef5313b8885a0698d335834b",
}


def shipped_difference(gset):
    """None when ``gset`` is byte for byte the shipped set of its suite; else one line saying how
    it differs (its seed and generator, as its manifest records them)."""
    want = SHIPPED_MANIFEST_SHA256.get(gset.suite)
    if want == gset.manifest_sha256:
        return None
    gen = gset.manifest.get("generator", {})
    return (f"{gset.suite}: not the shipped vectors (manifest.json sha256 {gset.manifest_sha256[:16]}..., "
            f"shipped {str(want)[:16]}...; this set records seed {gset.manifest.get('seed')}, "
            f"generated by refquant {gen.get('version')}: regenerated with another seed or generator, or edited)")


def _check_file(fpath, entry):
    """The bytes of a listed file after its size and sha256 check; reads at most bytes + 1."""
    data = read_file(fpath, f"the {entry['kind']} file the manifest lists", entry["bytes"],
                     missing=f"{fpath}: listed in the manifest but missing", refuse_longer=False)
    if len(data) != entry["bytes"]:
        more = "+" if len(data) > entry["bytes"] else ""
        raise FormatFileError(f"{fpath}: {len(data)}{more} bytes, the manifest says {entry['bytes']} "
                              f"({'truncated' if len(data) < entry['bytes'] else 'longer'} or changed)")
    if _sha(data) != entry["sha256"]:
        raise FormatFileError(f"{fpath}: sha256 {_sha(data)} does not match the manifest's {entry['sha256']}")
    return data


def find_sets(path):
    """Set directories at ``path`` (or a suite name, see set_location): itself if it holds a
    manifest.json, else its sub-directories that do.  Hidden directories (the '.X.tmp-*' and
    '.X.old-*' an interrupted write may leave) are never sets.  At the shipped location every
    suite must be present."""
    given, path = path, set_location(path)
    if os.path.lexists(path / "manifest.json"):
        return [path]
    if not path.exists():
        raise FormatFileError(f"{given}: no such directory; expected a set directory, a root of sets or a suite "
                              f"name ({', '.join(SUITE_NAMES)})")
    if not path.is_dir():
        raise FormatFileError(f"{path}: is not a directory; expected a set directory or a root of sets")
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot list ({exc.strerror}); expected a readable directory") from None
    sets = [p for p in entries if not p.name.startswith(".") and os.path.lexists(p / "manifest.json")]
    if not sets:
        raise FormatFileError(f"{path}: holds no golden vector set (no */manifest.json)")
    if is_shipped_root(path):
        missing = [s for s in SUITE_NAMES if s not in {p.name for p in sets}]
        if missing:
            raise FormatFileError(f"{path}: the shipped root lacks the set(s) {', '.join(missing)}; expected all of "
                                  f"{', '.join(SUITE_NAMES)}")
    return sets
