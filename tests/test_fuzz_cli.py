"""Hostile input to every refquant command: regressions of issue 11 items 7-10, then hypothesis
fuzzing of every command line (bounded examples, a deadline, in process).

Each bad invocation must end in exit 2 with exactly one 'refquant: error:' line on stderr (or an
argparse usage error, also exit 2), no traceback, no warning, no hang and no output file.
"""

import json
import os
import subprocess
import sys

import pytest

from refquant import cli, formats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_main(capsys, *argv):
    """(exit code, stdout, stderr) of refquant.cli.main in this process; usage errors included."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_clean_error(rc, out, err):
    assert rc == 2, (rc, out[-500:], err[-2000:])
    assert "Traceback" not in err and "Warning" not in err, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("refquant: error")]
    assert len(errors) == 1, err[-2000:]
    assert len(errors[0]) <= 1100


# ---- regressions ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, rounding, bits", [
    ("1e999999999", "rne", "0x7f800000"), ("1e999999999", "rtz", "0x7f7fffff"), ("1e-999999999", "rne", "0x00000000"),
    ("1e-999999999", "rup", "0x00000001"), ("0x1p999999999", "rne", "0x7f800000"), ("0x1p-999999999", "rtz", "0x00000000"),
], ids=lambda v: str(v))
def test_huge_decimal_exponents_are_answered_at_once(value, rounding, bits):
    """`refquant encode fp32 1e999999999` used to build 10^999999999 (never returned)."""
    res = subprocess.run([sys.executable, "-m", "refquant", "encode", "fp32", value, "--rounding", rounding, "--json"],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert info["bits"] == bits
    if "error" in info:
        assert info["error"].startswith("not computed")


def test_huge_exponents_round_as_their_exact_values():
    """Text read as 10^+-4000 rounds like the exact value in every format, mode and policy."""
    for fmt in ("fp64", "fp32", "bf16", "fp8_e4m3fn", "fp8_e5m2fnuz", "fp4_e2m1"):
        f = formats.get_format(fmt)
        for mode in sorted(formats.ROUNDINGS):
            for ov in sorted(formats.OVERFLOWS):
                for sign in ("", "-"):
                    for exact, far in (("1e400", "1e999999999"), ("1e-400", "1e-999999999")):
                        assert formats.encode(f, formats.real(sign + far), mode, ov) == \
                            formats.encode(f, formats.real(sign + exact), mode, ov), (fmt, mode, ov, sign, far)


def test_encode_says_when_the_code_is_nan(capsys):
    rc, out, err = run_main(capsys, "encode", "fp8_e4m3fn", "inf", "--json")
    assert rc == 0 and "has no infinity" in json.loads(out)["note"]
    rc, out, err = run_main(capsys, "encode", "e8m0", "0", "--json")
    info = json.loads(out)
    assert rc == 0
    if formats.decode(formats.get_format("e8m0"), int(info["bits"], 16)).is_nan:
        assert "e8m0 has no zero" in info["note"]
    else:
        assert "note" not in info
    rc, out, err = run_main(capsys, "encode", "fp32", "0.1", "--json")
    assert "note" not in json.loads(out)


@pytest.mark.parametrize("argv", [("encode", "fp32", "0x"), ("encode", "fp32", "0x.p1"), ("decode", "fp32", "\x00"),
                                  ("golden",), ()], ids=["0x", "0x.p1", "nul", "golden-no-action", "no-command"])
def test_found_by_the_tally(capsys, argv):
    assert_clean_error(*run_main(capsys, *argv))


@pytest.mark.parametrize("argv", [
    ("golden", "verify", "--max-errors", "-1"), ("audit", "x.json", "--actual", "y.hex", "--first", "-1"),
    ("golden", "verify", "--max-errors", "1e3"), ("golden", "generate", "--seed", "-1", "--out", "/nonexistent-x"),
])
def test_negative_counts_are_usage_errors(capsys, argv):
    assert_clean_error(*run_main(capsys, *argv))
    assert not os.path.exists("/nonexistent-x")


# ---- fuzz: every command with generated hostile argv (in process, time-limited) ----------------------------

import shutil  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fuzz_support as fz  # noqa: E402

EXAMPLES = int(os.environ.get("REFQUANT_FUZZ_EXAMPLES", "60"))
# CI: a fixed, derandomized sample; REFQUANT_FUZZ_RANDOM=1 explores new examples on each run.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("REFQUANT_FUZZ_RANDOM"),
                database=None, suppress_health_check=list(HealthCheck))

INPUTS = ["in/case.json", "in/requant.json", "in/y.hex", "in/y.bin", "in/y.npy", "in/f.npy", "in/a.npy", "in/empty",
          "in/garbage.bin", "in/latin1.hex", "in/nested.json", "in/plain.txt", "in/dir", "in/fifo", "in/fifo.json",
          "in/fifo.hex", "in/zero.hex", "in/zero.json", "in/dangling.json", "in/missing.json", "in/set", "in/rootset",
          "in", "/dev/null", "/dev/zero", "", "conv", "matmul"]
OUTPUTS = ["out/new", "out/new/deeper", "out", "in/plain.txt", "in/plain.txt/sub", "/dev/null/x", "in/fifo", "",
           " ", "golden", "in/zero.hex"]


def _pick(*pools):
    return st.one_of(*[st.sampled_from(p) for p in pools], st.text(max_size=8))


VALUE = _pick(fz.HOSTILE_VALUES)
PATH_IN = _pick(INPUTS, fz.HOSTILE_VALUES)
PATH_OUT = _pick(OUTPUTS, fz.HOSTILE_VALUES)


def _opts(draw, table):
    """A random subset of options, in random order: table is {flag: strategy or None (a switch)}."""
    argv = []
    for flag in draw(st.lists(st.sampled_from(sorted(table)), max_size=len(table), unique=True)):
        argv.append(flag)
        if table[flag] is not None:
            argv.append(draw(table[flag]))
    return argv


@st.composite
def argvs(draw):
    cmd = draw(st.sampled_from(["decode", "encode", "formats", "golden list", "golden generate", "golden verify",
                                "golden export", "audit", "explain", "verify", "check", "golden", "bogus"]))
    fmt = _pick(["fp32", "fp8_e4m3fn", "e8m0", "fp4_e2m1", "bf16", "fp64"], fz.HOSTILE_VALUES)
    if cmd == "decode":
        return ["decode", draw(fmt), draw(_pick(["0x7e", "0xff", "126", "0b1", "-1", "0x1ffffffff"], fz.HOSTILE_VALUES))] \
            + _opts(draw, {"--json": None})
    if cmd == "encode":
        return ["encode", draw(fmt), draw(_pick(["0.1", "-3/8", "0x1.8p-3", "0", "-0", "448", "1e-45"], fz.HOSTILE_VALUES))] \
            + _opts(draw, {"--json": None, "--rounding": _pick(["rne", "rtz", "rup", "rdn", "rna"], fz.HOSTILE_VALUES),
                           "--overflow": _pick(["ieee", "saturate"], fz.HOSTILE_VALUES)})
    if cmd == "formats":
        return ["formats"] + _opts(draw, {"--json": None, "--bogus": None})
    if cmd == "golden list":
        return ["golden", "list"] + _opts(draw, {"--bogus": VALUE})
    if cmd == "golden generate":
        # always a --suite: the default ('all') regenerates every suite, which takes many seconds
        where = draw(st.sampled_from(["--out", "--in-place", "both", "neither"]))
        argv = ["golden", "generate", "--suite", draw(_pick(["conv"], fz.HOSTILE_VALUES))]
        if where in ("--out", "both"):
            argv += ["--out", draw(PATH_OUT)]
        if where in ("--in-place", "both"):
            argv += ["--in-place"]
        return argv + _opts(draw, {"--seed": _pick(["1", "2", "0x10"], fz.HOSTILE_VALUES)})
    if cmd == "golden verify":
        return ["golden", "verify", draw(PATH_IN)] + _opts(draw, {
            "--no-kernel": None, "--json": None, "--max-errors": _pick(["0", "1", "5"], fz.HOSTILE_VALUES)})
    if cmd == "golden export":
        return ["golden", "export", "--format", draw(_pick(["npy", "bin", "c-header"], fz.HOSTILE_VALUES)),
                draw(PATH_IN), draw(PATH_OUT)]
    if cmd in ("audit", "explain"):
        argv = [cmd] + ([draw(PATH_IN)] if draw(st.booleans()) else [])
        table = {"--golden": _pick(["conv:1", "conv:2", "matmul:7", "conv:999", "conv:", ":"], fz.HOSTILE_VALUES),
                 "--op": _pick(["qlinear_matmul", "requantize", "quantize", "qlinear_conv"], fz.HOSTILE_VALUES),
                 "--a": PATH_IN, "--b": PATH_IN, "--bias": PATH_IN, "--acc": _pick(["-3744", "in/y.hex"], fz.HOSTILE_VALUES),
                 "--x": PATH_IN, "--w": PATH_IN,
                 "--set": _pick(["a_scale=0.02", "b_scale=[0.1,0.2]", "y_type=\"uint8\"", "params={\"m\": 1, \"shift\": 0}",
                                 "a_scale=" + "9" * 400, "group=0", "pads=[99999999,0,0,0]", "strides=[0,0]",
                                 "a_zero_point=1e30", "qmin=5", "x=[[1,2],[3]]"], fz.HOSTILE_VALUES),
                 "--method": _pick(["exact", "tflite_double", "ort"], fz.HOSTILE_VALUES),
                 "--profile": _pick(["onnxruntime", "tflite"], fz.HOSTILE_VALUES), "--json": None}
        if cmd == "audit":
            table.update({"--actual-format": _pick(["auto", "npy", "hex", "raw"], fz.HOSTILE_VALUES),
                          "--actual-dtype": _pick(["int8", "int32", "uint4", "float32"], fz.HOSTILE_VALUES),
                          "--actual-shape": _pick(["3x2", "6", "2x3", "0"], fz.HOSTILE_VALUES),
                          "--first": _pick(["0", "1", "2"], fz.HOSTILE_VALUES), "--brief": None, "--no-diagnose": None,
                          "--report": PATH_OUT, "--no-progress": None, "--suggest-vectors": PATH_OUT})
            argv += ["--actual", draw(PATH_IN)]
        else:
            table["--index"] = _pick(["0,0", "2,1", "3,5", "0", "0,0,0"], fz.HOSTILE_VALUES)
        return argv + _opts(draw, table)
    if cmd == "verify":     # never a real backend: running one takes seconds
        name = draw(VALUE.filter(lambda v: v.strip() not in ("onnxruntime", "onnx", "torch", "tosa", "kernel")))
        return ["verify", name] + _opts(draw, {"--json": None, "--allow-known": None, "--verbose": None, "--bogus": None})
    if cmd == "check":      # only usage errors: a real check runs every backend (a minute)
        return ["check", "--bogus", draw(VALUE)]
    return [cmd] + draw(st.lists(VALUE, max_size=3))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from refquant import golden
    mp = pytest.MonkeyPatch()
    box = fz.make_sandbox(tmp_path_factory.mktemp("hostile"))
    mp.setattr(golden.load, "_REPO_GOLDEN", box["shipped"])
    mp.setattr(golden.load, "_PACKAGED_GOLDEN", box["shipped"])
    mp.delenv("REFQUANT_GOLDEN_ROOT", raising=False)
    mp.chdir(box["root"])
    yield box
    mp.undo()


def _check_invocation(box, argv):
    before = fz.snapshot(box["root"])
    rc, out, err = fz.run_cli(argv, seconds=30)
    found = fz.problems(rc, out, err)
    after = fz.snapshot(box["root"])
    if rc != 0 and rc != 1:
        if after != before:
            changed = sorted(set(after.items()) ^ set(before.items()))[:4]
            found.append(f"exit {rc} but files changed: {changed}")
    elif {k: v for k, v in after.items() if k.startswith("in")} != {k: v for k, v in before.items()
                                                                     if k.startswith("in")}:
        found.append("an input file changed")
    for p in box["out"].iterdir():      # outputs of a successful command: start the next one empty
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    if "--in-place" in argv and rc == 0:
        shutil.rmtree(box["shipped"] / "conv")
        shutil.copytree(fz.GOLDEN / "conv", box["shipped"] / "conv")
    assert not found, (argv, rc, found, err[-1500:])


@FUZZ
@given(argv=argvs())
def test_fuzz_every_command(sandbox, argv):
    _check_invocation(sandbox, argv)


HANDPICKED = [
    ["golden", "verify", "in/fifo"], ["golden", "verify", "in/zero.hex"], ["golden", "verify", "in/rootset"],
    ["golden", "export", "--format", "npy", "in/set", "in/fifo"], ["golden", "generate", "--suite", "conv", "--out", ""],
    ["audit", "in/fifo.json", "--actual", "in/y.hex"], ["audit", "in/zero.json", "--actual", "in/y.hex"],
    ["audit", "in/case.json", "--actual", "in/zero.hex"], ["audit", "in/case.json", "--actual", "in/fifo.hex"],
    ["audit", "in/nested.json", "--actual", "in/y.hex"], ["audit", "in/case.json", "--actual", "in/f.npy"],
    ["audit", "in/case.json", "--actual", "in/latin1.hex"], ["audit", "in/case.json", "--actual", "in/y.hex",
                                                            "--report", "in/plain.txt/sub"],
    ["explain", "in/requant.json", "--index", "1,1"], ["encode", "fp32", "\x00"], ["decode", "fp32", "\udcff"],
    ["audit", "\x00", "--actual", "in/y.hex"], ["golden", "verify", "\x00"],
]


@pytest.mark.parametrize("argv", HANDPICKED, ids=lambda a: " ".join(a)[:60])
def test_handpicked_hostile_invocations(sandbox, argv):
    _check_invocation(sandbox, argv)
