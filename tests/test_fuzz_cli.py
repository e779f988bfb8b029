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


@pytest.mark.parametrize("argv", [
    ("golden", "verify", "--max-errors", "-1"), ("audit", "x.json", "--actual", "y.hex", "--first", "-1"),
    ("golden", "verify", "--max-errors", "1e3"), ("golden", "generate", "--seed", "-1", "--out", "/nonexistent-x"),
])
def test_negative_counts_are_usage_errors(capsys, argv):
    assert_clean_error(*run_main(capsys, *argv))
    assert not os.path.exists("/nonexistent-x")
