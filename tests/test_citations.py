"""Every citation in code, docs, tests, golden vectors and CLI text points at something shipped.

Users have the repository, not the notes it was written from. So no project file may cite a
`shared/` path or the lecture notes ("seed 003"), and every `X.md`, `X.md §N` or `X.md §N row M`
must resolve to a file in the repository, to an existing numbered section of it, and to an
existing row of that section's table. A bare name such as `requant.md` is looked up in
docs/reference/, then docs/, then beside the citing file, then at the top level; a bare name
that exists in both docs/ and docs/reference/ must be written with its folder when it cites a
section. Public files of other projects are named in EXTERNAL.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCAN = ["refquant", "csrc", "docs", "tests", "bench", "examples", "golden", ".ci", "README.md", "pyproject.toml",
        "setup.py"]
TEXT = {".py", ".md", ".c", ".h", ".toml", ".json", ".txt", ".v", ".sv", ".sh", ".cfg", ".ini", ".yml", ".yaml", ""}
SKIP_DIRS = {"__pycache__", ".venv", "build", "dist", ".pytest_cache", ".hypothesis"}
# Files of other projects that the text names as public sources (not files of this repository), and
# files the CLI writes (named in help texts and docs).
EXTERNAL = {"Operators.md", "Changelog.md", "SECURITY.md",
            "ContribOperators.md", "Broadcasting.md",                    # onnxruntime / onnx docs/
            "quant_op.md", "bipolar_quant_op.md", "trunc_op.md"}         # qonnx docs/qonnx-custom-ops/
GENERATED = {"report.md"}

SECTION = r"§\s*(\d+(?:\.\d+)*)"
MD = re.compile(r"(?<![\w/.-])((?:\.{0,2}/)?(?:[\w.-]+/)*[\w.-]+\.md)\b"      # a .md path or name
                r"(?:[`'\")\]]*\s*" + SECTION +                                   # optionally § N
                r"((?:\s*(?:,|/|and)\s*§\s*\d+(?:\.\d+)*)*)"                      # more sections
                r"(?:,?\s+rows?\s+(\d+))?)?")                                       # optionally row N
FORBIDDEN = [
    (re.compile(r"(?<![\w-])(?:\.\./)*shared/(?:reference|seeds|design|hooks|briefs)?"), "a shared/ notes path"),
    (re.compile(r"\bseeds?\s*0\d\d\b", re.IGNORECASE), "a lecture note (seed NNN)"),
    (re.compile(r"\bseed notes\b|\bthe seeds'", re.IGNORECASE), "the lecture notes"),
]


def project_files():
    for entry in SCAN:
        p = ROOT / entry
        paths = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in paths:
            if f.is_file() and f.suffix in TEXT and not SKIP_DIRS & set(f.relative_to(ROOT).parts) \
                    and not f.name.endswith(".egg-info"):
                yield f


def read(f):
    text = f.read_text(encoding="utf-8", errors="replace")
    return text.replace("\\u00a7", "§") if f.suffix == ".json" else text


def resolve(name, citing, with_section):
    """The file a citation names, or (None, why)."""
    if "/" in name:
        for base in (ROOT, citing.parent):
            if (base / name).is_file():
                return (base / name).resolve(), ""
        return None, "no such file"
    found = [d / name for d in (ROOT / "docs" / "reference", ROOT / "docs") if (d / name).is_file()]
    if with_section and len(found) > 1:
        return None, f"ambiguous: both {', '.join(str(f.relative_to(ROOT)) for f in found)} exist; name the folder"
    found += [d / name for d in (citing.parent, ROOT) if (d / name).is_file()]
    return (found[0].resolve(), "") if found else (None, "no such file")


def sections(md):
    """{section number: the text of that section} of a markdown file with numbered headings."""
    out, num = {}, None
    for line in md.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            num = m.group(1)
            out[num] = []
        if num is not None:
            out[num].append(line)
            for parent in [".".join(num.split(".")[:i]) for i in range(1, num.count(".") + 1)]:
                out.setdefault(parent, []).append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def citations(text):
    for m in MD.finditer(text):
        name, first, more, row = m.groups()
        secs = [first] + re.findall(r"\d+(?:\.\d+)*", more or "") if first else []
        yield text.count("\n", 0, m.start()) + 1, name, secs, row


def check_text(text, citing):
    """Problems with the citations in ``text`` of the file ``citing``, as (line, message) pairs."""
    out = []
    for line, name, secs, row in citations(text):
        if Path(name).name in EXTERNAL | GENERATED:
            continue
        target, why = resolve(name, citing, bool(secs))
        if target is None:
            out.append((line, f"{name}{' §' + secs[0] if secs else ''}: {why}"))
            continue
        have = sections(target) if secs else {}
        for s in secs:
            if s not in have:
                known = ", ".join(sorted(have, key=lambda k: [int(x) for x in k.split(".")]))
                out.append((line, f"{name} §{s}: {target.relative_to(ROOT)} has no section {s} (it has {known})"))
            elif row and s == secs[-1] and not re.search(rf"^\|\s*{row}\s*\|", have[s], re.MULTILINE):
                out.append((line, f"{name} §{s} row {row}: no row {row} in that section's table"))
    return out


def problems():
    out = []
    me = Path(__file__).resolve()
    for f in project_files():
        if f.resolve() == me:       # its docstring and samples name patterns, not documents
            continue
        rel, text = f.relative_to(ROOT), read(f)
        for rx, what in FORBIDDEN:
            for m in rx.finditer(text):
                out.append(f"{rel}:{text.count(chr(10), 0, m.start()) + 1}: cites {what}: {m.group(0)!r}")
        out += [f"{rel}:{line}: {msg}" for line, msg in check_text(text, f)]
    return out


def test_every_citation_resolves_to_a_shipped_document():
    bad = problems()
    assert not bad, f"{len(bad)} citation(s) point at nothing shipped:\n" + "\n".join(bad)


def test_reference_pages_have_sources_and_versions():
    """Each docs/reference page names public sources with versions and never the notes."""
    pages = sorted((ROOT / "docs" / "reference").glob("*.md"))
    assert {p.name for p in pages} >= {"README.md", "requant.md", "onnx.md", "float-formats.md", "calibration.md"}
    for p in pages:
        text = p.read_text(encoding="utf-8")
        if p.name != "README.md":
            assert re.search(r"\d+\.\d+(\.\d+)?|[0-9a-f]{7,}", text), f"{p.name}: no version or commit named"


@pytest.mark.parametrize("text, ok", [
    ("see requant.md §7 row 12", True),
    ("see requant.md §7 row 99", False),
    ("see requant.md §42", False),
    ("docs/reference/calibration.md §5.2 and §9", True),
    ("calibration.md §5.2", False),                  # ambiguous: docs/ and docs/reference/ both have one
    ("onnx.md §1/§5", True),
    ("onnx.md §1/§77", False),
    ("style.md §8", False),
    ("(docs/audit.md §4)", True),
    ("`docs/nothing.md`", False),
])
def test_the_checker_itself(tmp_path, text, ok):
    bad = check_text(text, tmp_path / "probe.md")
    assert (not bad) == ok, (text, bad)


def test_forbidden_patterns_are_caught():
    for sample in ("(shared/reference/onnx.md §5)", "../shared/design/review.md", "seed 003", "Seed 004:",
                   "the project's seed notes"):
        assert any(rx.search(sample) for rx, _ in FORBIDDEN), sample
    for fine in ("seed000_ratio5", "--seed 3", "shared by the threads", "a shared e8m0 scale"):
        assert not any(rx.search(fine) for rx, _ in FORBIDDEN), fine
