"""refquant audit / explain on the TOSA 1.0 integer operators (refquant/audit/variants_tosa.py): faults
located and named, tosa-tools 2026.8.0 outputs diagnosed as the 'tosa' variant, rejected cases refused."""

import json
import os

import numpy as np
import pytest

from peers import need
from refquant import cli
from refquant.audit import variants as V

RNG = np.random.default_rng(21)
A32 = RNG.integers(-2**31, 2**31, 64)
B_SHIFT = RNG.integers(1, 32, 64)


def _out(case, fn):
    return np.array(V.run(case, fn))


def _ars_case():
    return V.make_variant_case({"op": "tosa_arithmetic_right_shift", "variant": "tosa", "a": A32.tolist(),
                                "b": B_SHIFT.tolist(), "attrs": {"round": True}})


def test_ars_round_inverted_is_the_fault_and_located():
    case = _ars_case()
    assert (case.dtype, case.y_type) == ("int32", "int32")
    res = V.audit_variant(case, _out(case, V.TQ.FAULTS["tosa_arithmetic_right_shift"]["round inverted"]))
    m = res["first"][0]
    assert res["mismatches"] > 0 and m["actual"] == m["expected"] - 1 and (m["a"] >> (m["b"] - 1)) & 1
    assert res["diagnosis"]["best"] == "round inverted" and res["diagnosis"]["ranking"][0]["mismatches"] == 0


def test_table_wrong_entry_located_and_clamp_error_if_refused(tmp_path, capsys):
    tab = [(7 * i) % 256 - 128 for i in range(256)]
    case = V.make_variant_case({"op": "tosa_table", "variant": "tosa", "x": list(range(-128, 128)) * 2,
                                "attrs": {"table": tab}})
    dump = _out(case, V.backends.op_variants("tosa_table")["tosa"])
    dump[[40, 296]] -= 1
    res = V.audit_variant(case, dump)
    (g,) = res["by_input"]
    assert (g["input"], g["count"], g["of"]) == (-88, 2, 2) and "table entry" in g["verdict"]
    spec = {"op": "tosa_clamp", "variant": "tosa", "x": [1, 2], "attrs": {"min_val": 5, "max_val": 3}}
    (tmp_path / "c.json").write_text(json.dumps(spec))
    (tmp_path / "y.hex").write_text("00\n00\n")
    assert cli.main(["audit", str(tmp_path / "c.json"), "--actual", str(tmp_path / "y.hex")]) == 2
    assert "ERROR_IF" in capsys.readouterr().err


def test_explain_mul_shift_and_reduce_sum():
    case = V.make_variant_case({"op": "tosa_mul_i32", "variant": "tosa", "a": [30000, -7], "b": [3, 5],
                                "attrs": {"shift": 2}})
    steps = {s.name: s.value for s in V.explain_variant(case, (0,))}
    assert steps["input a"] == 30000 and steps["variant tosa (expected)"] == 22500
    assert steps["fault shift dropped"] == 90000 and steps["product"] == 90000 and steps["rounded shift"] == 22500
    steps = {s.name: s.value for s in V.explain_variant(_ars_case(), (0,))}
    assert steps["a >> b"] + steps["round bit"] == steps["variant tosa (expected)"]
    case = V.make_variant_case({"op": "tosa_reduce_sum", "variant": "tosa", "x": [[1, 2, 3], [4, 5, 6]],
                                "attrs": {"axis": 1}})
    steps = {s.name: s.value for s in V.explain_variant(case, (1, 0))}
    assert steps["input group"] == [4, 5, 6] and steps["variant tosa (expected)"] == 15


def test_tosa_tools_outputs_are_diagnosed_as_tosa():
    need("tosa_serializer", "tosa-tools")
    need("tosa_reference_model", "tosa-tools")
    os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
    from refquant.peers import tosa_ops as M
    m = M.Model()
    status, y = M.binary(m, "ARITHMETIC_RIGHT_SHIFT", A32, B_SHIFT, "int32", round=True)
    assert status == M.VALID
    res = V.audit_variant(_ars_case(), y)
    assert res["mismatches"] == 0 and res["diagnosis"]["best"] == "tosa"
    assert res["diagnosis"]["ranking"][1]["mismatches"] > 0                  # 'round inverted' differs
    a, b = RNG.integers(-40000, 40000, (2, 64))
    status, y = M.binary(m, "MUL", a, b, "int32", shift=5)
    case = V.make_variant_case({"op": "tosa_mul_i32", "variant": "tosa", "a": a.tolist(), "b": b.tolist(),
                                "attrs": {"shift": 5}})
    res = V.audit_variant(case, y)
    assert status == M.VALID and res["mismatches"] == 0 and res["diagnosis"]["ties"] == []
    tab = [int(v) for v in RNG.integers(-128, 128, 256)]
    x = np.arange(-128, 128)
    status, y = M.table(m, x, tab, "int8")
    case = V.make_variant_case({"op": "tosa_table", "variant": "tosa", "x": x.tolist(), "attrs": {"table": tab}})
    assert status == M.VALID and V.audit_variant(case, y)["mismatches"] == 0


@pytest.mark.parametrize("bad", [{"attrs": {"round": True, "shift": 1}}, {"attrs": [1]}, {"b": None},
                                 {"op": "tosa_clamp", "attrs": {"min_val": 1}}])
def test_malformed_tosa_case_is_a_typed_error(bad):
    spec = {"op": "tosa_arithmetic_right_shift", "variant": "tosa", "a": [1], "b": [1], **bad}
    if spec.get("b", 0) is None:
        del spec["b"]
    with pytest.raises(V.RefquantError):
        V.make_variant_case(spec)
