"""Peer versions and install hints.

- The test extras pin each peer (==) to the version its facts were measured on, and
  refquant.peers.versions.PEERS names the same pins.
- Every named deviation carries the peer versions it was measured on (data in refquant/backends.py,
  read through refquant.peers.versions); `verify` and `check` print
  the installed version and whether each deviation was measured on it.
- Every skip or install hint (tests/ and refquant/) names an extra that exists in pyproject.toml,
  and none suggests an unpinned torch.
"""

import re
import tomllib
from pathlib import Path

import pytest
from peers import EXTRAS, hint

from refquant import backends
from refquant.audit import verify
from refquant.peers import cli as peers_cli
from refquant.peers import versions as peer_versions

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
OPTIONAL = PYPROJECT["project"]["optional-dependencies"]
TORCH_PIN = "torch==2.13.0"


def _pins(reqs):
    """{distribution (normalised): version} of the == requirements in a list."""
    out = {}
    for r in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)\s*", r)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


# ---------------------------------------------------------------------------------------------
# Pins
# ---------------------------------------------------------------------------------------------

def test_test_extra_pins_every_peer_exactly():
    pins = _pins(OPTIONAL["test"])
    for dist in ("onnxruntime", "onnx", "torch", "tosa-tools", "ml-dtypes", "softfloatpy"):
        assert dist in pins, f"the test extra must pin {dist} with == (the version its facts were measured on)"


@pytest.mark.parametrize("peer", sorted(verify.PEERS))
def test_verify_peers_match_the_extras(peer):
    p = verify.PEERS[peer]
    assert p.extra in OPTIONAL, f"{peer}: extra {p.extra!r} is not in pyproject.toml"
    for pin in p.pins:
        dist, version = pin.split("==")
        assert _pins(OPTIONAL[p.extra]).get(dist) == version, f"extra {p.extra!r} must pin {pin}"
        assert _pins(OPTIONAL["test"]).get(dist) == version, f"the test extra must pin {pin}"
    assert any(pin.startswith(p.dist + "==") for pin in p.pins)


@pytest.mark.parametrize("peer", sorted(verify.PEERS))
def test_every_deviation_lists_where_it_was_measured(peer):
    pinned = next(pin.split("==")[1] for pin in verify.PEERS[peer].pins if pin.startswith(verify.PEERS[peer].dist))
    for name, versions in verify.DEVIATIONS[peer].items():
        # release versions, or a PEP 440 dev build (tflite-micro publishes only those: 0.dev2026...)
        assert versions and all(re.fullmatch(r"\d+(\.\d+)+|\d+\.dev\d+", v) for v in versions), (name, versions)
        # a deviation not measured on the pinned version must say so in its data (only the
        # fp16 +inf deviation of onnxruntime 1.31.1, which 1.32.0 no longer shows)
        if pinned not in versions:
            assert (peer, name) == ("onnxruntime", verify.ORT_FP16_INF[0]), (peer, name, versions)


@pytest.mark.parametrize("peer", [
    "onnxruntime", "tosa",
    pytest.param("onnx", marks=pytest.mark.slow), pytest.param("torch", marks=pytest.mark.slow)])
def test_every_known_row_carries_its_measured_versions(peer):
    """Run the backend: every KNOWN DEV row names a deviation recorded in DEVIATIONS, with the
    versions it was measured on, and the installed version is stamped on every row."""
    try:
        rows = verify.run_backend(peer)
    except verify.MissingBackend as exc:
        pytest.skip(str(exc))
    version = verify.installed_version(peer)
    assert all(r.peer == peer and r.version == version for r in rows)
    known = [r for r in rows if r.status == "known"]
    assert all(r.deviation in verify.DEVIATIONS[peer] and r.measured_on for r in known), \
        [(r.deviation, r.measured_on) for r in known if not r.measured_on]


def _row(status="known", deviation="ORT fp8 E4M3FN saturate=0", version="1.32.0", measured=("1.31.1", "1.32.0")):
    return verify.Row("onnxruntime " + version, "QuantizeLinear", "onnx spec", "fp32 -> fp8", status, 10, 1,
                      deviation, "note", {}, "onnxruntime", version, list(measured))


def test_known_row_says_where_it_was_measured():
    assert verify.measured_text(_row()) == "measured on onnxruntime 1.31.1, 1.32.0"
    t = verify.measured_text(_row(version="1.40.0"))
    assert "NOT on the installed 1.40.0" in t and "1.31.1, 1.32.0" in t
    assert "not recorded" in verify.measured_text(_row(measured=()))
    assert "[measured on onnxruntime 1.31.1, 1.32.0]" in verify.table([_row()])


def test_peer_lines_name_installed_version_and_unmeasured_deviations(monkeypatch):
    monkeypatch.setattr(peer_versions, "installed_version", lambda peer: "1.40.0")
    lines = verify.peer_lines("onnxruntime", [_row(version="1.40.0")], full=False)
    assert lines[0].startswith("onnxruntime 1.40.0 installed (NOT the pinned onnxruntime==1.32.0)")
    assert "0 measured on this version" in lines[0]
    assert len(lines) == 1 + len(verify.DEVIATIONS["onnxruntime"])      # every one listed: none measured on 1.40.0
    monkeypatch.setattr(peer_versions, "installed_version", lambda peer: "1.32.0")
    lines = verify.peer_lines("onnxruntime", [_row()], full=False)
    assert "(the pinned version)" in lines[0]
    assert [ln.split()[0:3] for ln in lines[1:]] == [["ORT", "fp16", "QuantizeLinear:"]]
    summary = verify.peer_summary("onnxruntime", [_row()])
    assert summary["deviations"]["ORT fp8 E4M3FN saturate=0"] == {
        "measured_on": ["1.31.1", "1.32.0"], "measured_on_installed": True, "rows": 1}


def test_verify_prints_installed_version(capsys):
    from refquant import cli
    pytest.importorskip("tosa_reference_model", reason=hint("tosa_reference_model"))
    rc = cli.main(["verify", "tosa", "--allow-known"])     # tosa-tools has one named deviation (MUL shift 63)
    out = capsys.readouterr().out
    assert rc == 0
    assert re.search(r"^tosa-tools \S+ installed \(", out, re.MULTILINE), out[-500:]


def test_verify_kernel_explains_its_row_count(capsys):
    from refquant import cli, kernel
    if not kernel.available():
        pytest.skip("the C kernel is not built (pip install -e .)")
    assert cli.main(["verify", "kernel"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("kernel: "))
    n = len(kernel.paths())
    assert f"x {n} dispatch paths on this CPU ({', '.join(kernel.paths())})" in line and f"= {38 * n} rows" in line


# ---------------------------------------------------------------------------------------------
# Install hints
# ---------------------------------------------------------------------------------------------

HINT_FILES = sorted([*(ROOT / "refquant").rglob("*.py"), *(ROOT / "tests").rglob("*.py"), *(ROOT / "examples").rglob("*.py")])
EXTRA_RX = re.compile(r"refquant\[([^\]]+)\]|-e\s+'?\.\[([^\]]+)\]|'\.\[([^\]]+)\]'")
UNPINNED_TORCH = re.compile(r"pip install\s+(?:-U\s+|--upgrade\s+)?['\"]?torch(?!==2\.13\.0)(?![\w\[-])")


def test_every_hint_names_an_existing_extra():
    bad = []
    for f in HINT_FILES:
        if f.name == Path(__file__).name:
            continue
        text = f.read_text(encoding="utf-8")
        for m in EXTRA_RX.finditer(text):
            for extras in filter(None, m.groups()):
                for extra in extras.split(","):
                    if "{" not in extra and extra.strip() not in OPTIONAL:
                        bad.append(f"{f.relative_to(ROOT)}: {m.group(0)!r} names extra {extra.strip()!r}")
    assert not bad, "\n".join(bad)


def test_no_hint_suggests_an_unpinned_torch():
    bad = [f"{f.relative_to(ROOT)}: {m.group(0)!r}" for f in HINT_FILES if f.name != Path(__file__).name
           for m in UNPINNED_TORCH.finditer(f.read_text(encoding="utf-8"))]
    assert not bad, "\n".join(bad)
    assert UNPINNED_TORCH.search("pip install torch") and UNPINNED_TORCH.search("(or pip install 'torch')")
    assert not UNPINNED_TORCH.search("pip install 'torch==2.13.0' --index-url x")


@pytest.mark.parametrize("peer", sorted(verify.PEERS))
def test_missing_backend_hint_is_installable(peer):
    h = verify.install_hint(peer)
    extra = re.search(r"refquant\[([^\]]+)\]", h).group(1)
    assert extra in OPTIONAL, h
    assert not UNPINNED_TORCH.search(h), h
    for pin in verify.PEERS[peer].pins:
        assert f"'{pin}'" in h, h
    if peer == "torch":
        assert TORCH_PIN in h and "download.pytorch.org/whl/cpu" in h


def test_every_backend_import_names_a_peer():
    src = "".join(f.read_text(encoding="utf-8") for f in sorted((ROOT / "refquant" / "peers").glob("*.py")))
    keys = re.findall(r"\bneed\(\"[\w.]+\",\s*\"([^\"]+)\"\)", src)
    assert keys and set(keys) <= set(verify.PEERS), keys


def test_missing_backend_raises_the_hint(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tosa_serializer", None)      # import fails as if not installed
    with pytest.raises(verify.MissingBackend,
                       match=r"pip install 'refquant\[tosa\]' \(or pip install 'tosa-tools==2026\.8\.0'\)"):
        verify.run_backend("tosa")


@pytest.mark.parametrize("module", sorted(EXTRAS))
def test_test_skip_hints_name_existing_extras(module):
    h = hint(module)
    m = re.search(r"\.\[([^\]]+)\]", h)
    assert m is None or m.group(1) in OPTIONAL, h
    if EXTRAS[module]:
        assert EXTRAS[module] in OPTIONAL


def test_deviations_are_read_from_the_backend_table():
    """The peers read each named deviation's text and measured versions from refquant/backends.py:
    the onnxruntime row says the fp16 +inf -> qmin deviation was measured on 1.31.1 only."""
    ort = backends.get_backend("onnxruntime")
    inf = ort.deviation("ORT fp16 QuantizeLinear: +inf -> qmin")
    assert inf.measured_on == ("1.31.1",)
    assert peer_versions.deviations("onnxruntime")[inf.name] == ("1.31.1",)
    assert verify.ORT_FP16_INF == (inf.name, inf.text)
    for peer, p in peer_versions.PEERS.items():
        table_names = {d.name for b in p.rows for d in backends.BACKENDS[b].deviations}
        assert set(verify.DEVIATIONS[peer]) == table_names, peer
        for b in p.rows:
            assert all(d.measured_on for d in backends.BACKENDS[b].deviations), b
    # one name, one text per op: method 'ort' describes QLinearMatMul and QLinearConv differently
    assert "sx*sw_m" in ort.deviation("refquant method 'ort'", "qlinear_conv").text
    assert "sa*sb" in ort.deviation("refquant method 'ort'", "qlinear_matmul").text
    assert peers_cli.run_backend is verify.run_backend
