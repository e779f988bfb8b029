"""The golden 'ops' suite (refquant/golden/suites/ops.py, variant_ops.py): one group per op x backend
variant, read by the ordinary readers; regeneration byte for byte is tests/test_golden.py's."""

import pytest

from refquant import backends, golden
from refquant.golden import variant_ops


@pytest.fixture(scope="module")
def ops_set():
    return golden.load_set("ops")


def test_every_group_names_a_variant_a_backend_row_uses(ops_set):
    seen = set()
    for g in ops_set.manifest["testGroups"]:
        op, variant = g["params"]["op"], g["params"]["variant"]
        assert g["profile"] == f"{op}.{variant}"
        assert variant_ops.variant_function(op, variant) is backends.op_variants(op)[variant]
        assert ops_set.manifest["profiles"][g["profile"]]["kind"] == "op_variant"
        for t in g["tests"]:
            assert (t["params"]["op"], t["params"]["variant"]) == (op, variant)
        seen.add((op, variant))
    assert ("sigmoid", "tosa_table") in seen and ("add", "tflite_ref") in seen
    assert len(seen) == 61


def test_a_wrong_element_is_reported(ops_set, tmp_path):
    """One expected element off by one (size and sha256 fixed up): verify names that test."""
    import json
    import shutil
    root = tmp_path / "ops"
    shutil.copytree(ops_set.path, root)
    manifest = json.loads((root / "manifest.json").read_text())
    g = next(g for g in manifest["testGroups"] if g["profile"] == "sigmoid.tosa_table")
    g["tgId"], manifest["testGroups"], manifest["numberOfTests"] = 1, [g], len(g["tests"])   # verify one group
    t = g["tests"][0]
    f = next(f for f in t["files"] if f["role"] == "expected")
    lines = (root / f["path"]).read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln and not ln.startswith("//"))
    lines[i] = format((int(lines[i], 16) + 1) & 0xFF, "02x")
    data = ("\n".join(lines) + "\n").encode("ascii")
    (root / f["path"]).write_bytes(data)
    f["bytes"], f["sha256"] = len(data), golden._sha(data)
    (root / "manifest.json").write_text(golden.manifest_text(manifest))
    mismatches, _ = golden.verify_set(golden.load_set(root), use_kernel=False)
    assert mismatches and all(m["name"].startswith("sigmoid.tosa_table/") for m in mismatches)
