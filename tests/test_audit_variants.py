"""refquant audit / explain on the variant ops (refquant/audit/variants.py): injected faults are
located, and the diagnosis names the backend variant (or fault) whose semantics the dump matches."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import cli
from refquant.audit import variants as V
from refquant.requant import fl32

CODES = list(range(-128, 128))


def _case(op, variant, q, **inputs):
    keys = V.QKEYS["binary" if op in V.BINARY_OPS else "unary"]
    spec = {"op": op, "variant": variant, "dtype": "int8", **inputs,
            **{k: (f"{v.numerator}/{v.denominator}" if isinstance(v, Fraction) else v) for k, v in zip(keys, q)}}
    return V.make_variant_case(spec)


def _out(case, fn):
    return np.array([v if isinstance(v, int) else v.first for v in V.run(case, fn)])


ADD_Q = (fl32(Fraction(7, 100)), 5, fl32(Fraction(4, 100)), -9, fl32(Fraction(9, 100)), 3)


def test_off_by_one_is_located_and_the_declared_variant_stays_closest():
    rng = np.random.default_rng(1)
    a, b = rng.integers(-128, 128, 40).tolist(), rng.integers(-128, 128, 40).tolist()
    case = _case("add", "tflite_ref", ADD_Q, a=a, b=b)
    dump = _out(case, V.backends.op_variants("add")["tflite_ref"])
    dump[7] += 1
    res = V.audit_variant(case, dump)
    assert res["mismatches"] == 1 and res["first"][0]["flat"] == 7
    assert (res["first"][0]["a"], res["first"][0]["b"]) == (a[7], b[7])
    d = res["diagnosis"]
    assert d["best"] == "tflite_ref" and d["ranking"][0]["mismatches"] == 1
    assert "litert_ref" in d["ranking"][0]["backends"]


def test_ties_away_instead_of_ties_even_add():
    # sa = sb = 1/2, sy = 1: (a + b) / 2 is a tie whenever a + b is odd
    case = _case("add", "exact", (Fraction(1, 2), 0, Fraction(1, 2), 0, Fraction(1), 0),
                 a=list(range(-20, 20)), b=[1] * 40)
    dump = _out(case, V.FAULTS["add"]["exact rounded ties-away (not ties-even)"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] == 10        # of the 20 ties, those where ties-even rounds toward zero
    rows = {r["name"]: r for r in res["diagnosis"]["ranking"]}
    assert rows["exact rounded ties-away (not ties-even)"]["mismatches"] == 0
    assert rows["exact"]["mismatches"] == 10
    assert res["diagnosis"]["ranking"][0]["mismatches"] == 0


def test_ties_away_instead_of_ties_even_sigmoid_table():
    # docs/ops.md: LOGISTIC sx = fl32(0.010885008), zx = -128 at q = -10: half away 73, RNE 72
    case = _case("sigmoid", "xnnpack_lut", (fl32(Fraction("0.010885008")), -128, Fraction(1, 256), -128), x=CODES)
    dump = _out(case, V.backends.op_variants("sigmoid")["tflite_lut"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] == 1 and res["first"][0]["x"] == -10
    assert (res["first"][0]["expected"], res["first"][0]["actual"]) == (72, 73)
    d = res["diagnosis"]
    assert d["ranking"][0]["mismatches"] == 0 and d["best"] in ("tflite_lut", "tosa_table")
    assert {"tflite_lut"} <= {d["best"], *d["ties"]}
    assert "litert_ref" in next(r for r in d["ranking"] if r["name"] == "tflite_lut")["backends"]


def test_missing_left_shift_is_diagnosed():
    rng = np.random.default_rng(2)
    a, b = rng.integers(-128, 128, 40).tolist(), rng.integers(-128, 128, 40).tolist()
    case = _case("add", "tflite_ref", ADD_Q, a=a, b=b)
    dump = _out(case, V.FAULTS["add"]["tflite_ref without the 20-bit input left shift"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] > 30
    d = res["diagnosis"]
    assert d["best"] == "tflite_ref without the 20-bit input left shift" and d["ranking"][0]["mismatches"] == 0
    assert d["ties"] == [] and "fault" in d["verdict"]


def test_wrong_lut_entry_is_located_by_input():
    case = _case("sigmoid", "tosa_table", (fl32(Fraction(6, 100)), 10, Fraction(1, 256), -128), x=CODES + CODES)
    dump = _out(case, V.backends.op_variants("sigmoid")["tosa_table"])
    dump[[17 + 128, 17 + 384]] += 3           # the entry of input 17, read twice
    res = V.audit_variant(case, dump)
    assert res["mismatches"] == 2
    (g,) = res["by_input"]
    assert (g["input"], g["count"], g["of"]) == (17, 2, 2) and "table entry" in g["verdict"]
    assert res["diagnosis"]["best"] == "tosa_table" and res["diagnosis"]["ranking"][0]["mismatches"] == 2


def test_avg_pool_padding_counted_is_diagnosed():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (1, 2, 5, 5)).tolist()
    case = V.make_variant_case({"op": "avg_pool", "variant": "ort", "x": x, "x_scale": "1/20", "x_zero_point": 3,
                                "y_scale": "1/25", "y_zero_point": -7, "attrs": {"kernel_shape": [3, 3],
                                                                                 "strides": [2, 2], "pads": [1, 1, 1, 1]}})
    assert case.out_shape == (1, 2, 3, 3)
    dump = _out(case, V.FAULTS["avg_pool"]["exact with count_include_pad inverted"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] > 0 and res["first"][0]["index"] == [0, 0, 0, 0]      # a corner: 4 of 9 taps
    assert res["diagnosis"]["best"] == "exact with count_include_pad inverted"
    assert res["diagnosis"]["ranking"][0]["mismatches"] == 0


def test_cli_audit_and_explain_on_a_golden_ops_vector(tmp_path, capsys):
    case = V.golden_variant_case("ops:1")
    dump = _out(case, V.backends.op_variants(case.op)[case.variant])
    dump[0] -= 1
    path = tmp_path / "y.hex"
    path.write_text("\n".join(format(int(v) & 0xFF, "02x") for v in dump) + "\n")
    assert cli.main(["audit", "--golden", "ops:1", "--actual", str(path)]) == 1
    out = capsys.readouterr().out
    assert "mismatches: 1 of 48" in out and "diagnosis:" in out and "element [0]" in out
    assert cli.main(["explain", "--golden", "ops:1", "--index", "0"]) == 0
    out = capsys.readouterr().out
    assert "variant exact (expected)" in out and "fault tflite_ref without the 20-bit input left shift" in out


def test_bad_variant_case_is_a_typed_error():
    with pytest.raises(V.UnknownNameError):
        _case("add", "nope", ADD_Q, a=[1], b=[2])
    with pytest.raises(V.ShapeError):
        _case("add", "exact", ADD_Q, a=[1, 2], b=[2])
    with pytest.raises(V.InvalidValueError):
        _case("sigmoid", "exact", (Fraction(1, 16), 0, Fraction(1, 256), 0), x=[300])


@pytest.mark.parametrize("bad", [
    {"a_zero_point": "abc"}, {"a_zero_point": 1.5}, {"a_zero_point": 300}, {"dtype": ["int8"]}, {"dtype": "int3"},
    {"a": [1.5, 2]}, {"a": [[1, 2], [3]]}, {"a": "missing.hex"}, {"attrs": [1]}, {"attrs": {"alpha": 0.1}},
    {"a_scale": -1}, {"a_scale": "x"}, {"variant": "nope"}, {"backend": "nope"}, {"b": [1, 2, 3]}])
def test_cli_malformed_variant_case_is_exit_2(tmp_path, capsys, bad):
    import json
    spec = {"op": "add", "variant": "tflite_ref", "a": [1, 2], "b": [3, 4], "a_scale": 0.07, "a_zero_point": 5,
            "b_scale": 0.04, "b_zero_point": -9, "y_scale": 0.09, "y_zero_point": 3, **bad}
    (tmp_path / "case.json").write_text(json.dumps(spec))
    (tmp_path / "y.hex").write_text("00\n00\n")
    try:
        rc = cli.main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.hex")])
    except SystemExit as exc:
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1, (bad, rc, err)
