"""Two manifest fields of the shipped golden sets (docs/golden-format.md, issue 12).

- ``testGroups[].profile`` is the group's key into ``profiles``; the entry's ``kind`` says what
  the name is, and the typed value in ``params`` equals it (``params.method`` on requantization
  groups, ``params.profile`` on quantize groups).  This is why the key keeps its name.
- ``generator.command`` is a command the CLI accepts that regenerates the set (``--out DIR``).
"""
import json
import shlex

import pytest

from refquant import golden
from refquant.cli import build_parser
from refquant.golden.store import generate_command
from refquant.requant import METHODS

ROOT = golden.default_root()
SUITES = sorted(p.parent.name for p in ROOT.glob("*/manifest.json"))
PARAM_OF_KIND = {"requant_method": "method", "quantize_profile": "profile"}


def _manifest(suite):
    return json.loads((ROOT / suite / "manifest.json").read_text())


@pytest.mark.parametrize("suite", SUITES)
def test_group_profile_is_the_key_into_profiles_and_equals_the_typed_param(suite):
    m = _manifest(suite)
    for g in m["testGroups"]:
        entry = m["profiles"][g["profile"]]
        if entry["kind"] in PARAM_OF_KIND:
            assert g["params"][PARAM_OF_KIND[entry["kind"]]] == g["profile"], (suite, g["tgId"])
        if entry["kind"] == "requant_method":
            assert g["profile"] in METHODS
            assert all(t["params"]["method"] == g["profile"] for t in g["tests"])
        assert all(t["name"].startswith(g["profile"] + "/") or suite == "formats" for t in g["tests"])
    assert set(m["profiles"]) == {g["profile"] for g in m["testGroups"]}


@pytest.mark.parametrize("suite", SUITES)
def test_generator_command_is_accepted_by_the_cli(suite):
    m = _manifest(suite)
    cmd = m["generator"]["command"]
    assert cmd == generate_command(suite, m["seed"])
    argv = shlex.split(cmd)
    assert argv[0] == "refquant"
    args = build_parser().parse_args(argv[1:])
    assert (args.golden_command, args.suite, args.seed, args.out, args.in_place) == \
        ("generate", suite, str(m["seed"]), "DIR", False)
