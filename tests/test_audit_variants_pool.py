"""refquant audit / explain on max_pool, the TFLite and TOSA pools, mean, concat and softmax
(refquant/audit/variants_pool.py): an injected fault is located (index, window or source, expected
vs actual) and the diagnosis names the backend variant whose semantics the dump matches; the
unfaulted output of each peer (onnxruntime 1.32.0, ai-edge-litert 2.3.0, tosa-tools 2026.8.0) is
diagnosed as that peer's variant."""

import os

import numpy as np
import pytest

from peers import need
from refquant import cli
from refquant.audit import variants as V
from refquant.audit import variants_pool as P

F32 = lambda v: float(np.float32(v))    # noqa: E731


def _out(case, fn):
    return np.array([v if isinstance(v, int) else v.first for v in V.run(case, fn)])


def _own(case):
    return _out(case, V.backends.op_variants(case.op)[case.variant])


def _best(res):
    d = res["diagnosis"]
    return {d["best"], *d["ties"]}


def _row(res, name):
    return next(r for r in res["diagnosis"]["ranking"] if r["name"] == name)


# A tie-heavy NHWC pool: 2x2 windows (sums / 4), SAME padding (edge windows of 2 taps), zero point 0,
# so TFLite (ties away), TOSA (ties up) and ONNX (ties to even) differ on the ties.
X_NHWC = np.random.default_rng(11).integers(-128, 128, (1, 5, 5, 3))
TFL_AVG = {"op": "average_pool_2d", "variant": "tflite_ref", "x": X_NHWC.tolist(),
           "attrs": {"filter_hw": [2, 2], "strides": [2, 2], "padding": "SAME", "scale": "1/16", "zero_point": 0}}


def _avg_case(**over):
    return V.make_variant_case({**TFL_AVG, **over})


def test_nhwc_avg_pool_case_and_the_roundings_told_apart():
    case = _avg_case()
    assert case.out_shape == (1, 3, 3, 3) and case.describe()["layout"] == "NHWC"
    res = V.audit_variant(case, _own(case))
    # TOSA's reciprocal multiplier, just above 1/count, rounds every int8 tie away from zero as TFLite does
    assert res["mismatches"] == 0 and _best(res) == {"tflite_ref", "tosa_avg_pool2d:tosa"}
    assert res["diagnosis"]["best"] == "tflite_ref"                 # the declared variant first
    assert all(_row(res, f"avg_pool:{v}")["mismatches"] > 0 for v in ("exact", "ort", "onnx_ref"))


def test_ties_away_instead_of_ties_even_onnx_avg_pool_names_tflite():
    x = X_NHWC.transpose(0, 3, 1, 2).tolist()
    case = V.make_variant_case({"op": "avg_pool", "variant": "ort", "x": x, "x_scale": "1/16", "x_zero_point": 0,
                                "y_scale": "1/16", "y_zero_point": 0,
                                "attrs": {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}})
    dump = _own(_avg_case()).reshape(1, 3, 3, 3).transpose(0, 3, 1, 2)
    res = V.audit_variant(case, dump)
    assert res["mismatches"] > 0
    m = res["first"][0]
    assert len(m["window"]) == m["taps"] and sum(m["window"]) % m["taps"] * 2 == m["taps"]     # a tie
    assert _best(res) == {"average_pool_2d:tflite_ref", "tosa_avg_pool2d:tosa"}


def test_off_by_one_in_a_tosa_avg_pool_is_located_with_its_window():
    case = V.make_variant_case({"op": "tosa_avg_pool2d", "variant": "tosa", "x": X_NHWC.tolist(),
                                "attrs": {"kernel": [3, 3], "stride": [2, 2], "pad": [1, 1, 1, 1],
                                          "input_zp": 3, "output_zp": -7}})
    dump = _own(case)
    dump[10] += 1
    res = V.audit_variant(case, dump)
    (m,) = res["first"]
    assert res["mismatches"] == 1 and m["flat"] == 10 and m["index"] == [0, 1, 0, 1]
    assert m["actual"] == m["expected"] + 1 and m["taps"] == 6 and m["padded"] == 9
    assert res["diagnosis"]["best"] == "tosa" and res["diagnosis"]["ranking"][0]["mismatches"] == 1


def test_count_include_pad_flip_on_tflite_average_pool_is_the_fault():
    case = _avg_case(attrs={**TFL_AVG["attrs"], "filter_hw": [3, 3], "strides": [2, 2]})
    dump = _out(case, P.FAULTS["average_pool_2d"]["tflite_ref with the padding counted in the divisor"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] > 0 and res["first"][0]["taps"] < res["first"][0]["padded"]
    assert _best(res) == {"tflite_ref with the padding counted in the divisor"}


def test_max_pool_padding_read_as_zero_point_is_the_fault():
    x = -np.abs(X_NHWC) - 1           # every value below the zero point 0: a padded 0 would win
    case = V.make_variant_case({"op": "max_pool_2d", "variant": "tflite_ref", "x": x.tolist(),
                                "attrs": {"filter_hw": [3, 3], "strides": [2, 2], "padding": "SAME"}})
    dump = _out(case, P.FAULTS["max_pool_2d"]["padded positions read as the zero point"])
    res = V.audit_variant(case, dump)
    assert res["mismatches"] > 0 and res["first"][0]["actual"] == 0
    assert res["diagnosis"]["best"] == "padded positions read as the zero point"
    clean = V.audit_variant(case, _own(case))["diagnosis"]       # every max pool agrees: ties named
    assert clean["best"] == "tflite_ref" and set(clean["ties"]) == {"max_pool:exact", "tosa_max_pool2d:tosa"}


def test_ort_max_pool_and_qlinear_average_pool_are_diagnosed_as_ort():
    need("onnxruntime")
    from refquant.peers import onnx_qops as OQ
    xn = X_NHWC.transpose(0, 3, 1, 2).astype(np.int8)
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
    case = V.make_variant_case({"op": "max_pool", "variant": "exact", "dtype": "int8", "x": xn.tolist(),
                                "attrs": attrs})
    res = V.audit_variant(case, OQ.ort_max_pool(xn, "int8", **attrs))
    assert res["mismatches"] == 0 and "onnxruntime" in res["diagnosis"]["ranking"][0]["backends"]
    # QLinearAveragePool on the tie-heavy NCHW input: ORT's rounding, not TFLite's or TOSA's
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}
    case = V.make_variant_case({"op": "avg_pool", "variant": "ort", "x": xn.tolist(), "x_scale": "1/16",
                                "x_zero_point": 0, "y_scale": "1/16", "y_zero_point": 0, "attrs": attrs})
    res = V.audit_variant(case, OQ.ort_avg_pool(xn, 1 / 16, 0, 1 / 16, 0, "int8", **attrs))
    assert res["mismatches"] == 0 and "ort" in _best(res)
    assert _row(res, "average_pool_2d:tflite_ref")["mismatches"] > 0
    assert _row(res, "tosa_avg_pool2d:tosa")["mismatches"] > 0


def test_tosa_tools_pools_are_diagnosed_as_tosa():
    need("tosa_serializer", "tosa-tools")
    need("tosa_reference_model", "tosa-tools")
    os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
    from refquant.peers import tosa_ops as M
    m = M.Model()
    x = X_NHWC.astype(np.int8)
    attrs = {"kernel": [2, 2], "stride": [2, 2], "pad": [0, 1, 0, 1]}
    status, y = M.pool(m, "AVG_POOL2D", x, [2, 2], [2, 2], [0, 1, 0, 1], "int8", 3, -7)
    assert status == M.VALID
    case = V.make_variant_case({"op": "avg_pool", "variant": "exact", "x": X_NHWC.transpose(0, 3, 1, 2).tolist(),
                                "x_scale": 1, "x_zero_point": 3, "y_scale": 1, "y_zero_point": -7,
                                "attrs": {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 1, 1]}})
    res = V.audit_variant(case, y.transpose(0, 3, 1, 2))    # declared ONNX: the TOSA sibling is named
    assert res["mismatches"] > 0 and _best(res) == {"tosa_avg_pool2d:tosa"}
    assert "tosa" in res["diagnosis"]["ranking"][0]["backends"]
    tcase = V.make_variant_case({"op": "tosa_avg_pool2d", "variant": "tosa", "x": x.tolist(),
                                 "attrs": {**attrs, "input_zp": 3, "output_zp": -7}})
    assert _best(V.audit_variant(tcase, y)) == {"tosa"}            # TFLite cannot state two zero points
    status, y = M.pool(m, "MAX_POOL2D", x, [2, 2], [2, 2], [0, 1, 0, 1], "int8")
    case = V.make_variant_case({"op": "tosa_max_pool2d", "variant": "tosa", "x": x.tolist(), "attrs": attrs})
    assert V.audit_variant(case, y)["mismatches"] == 0


def test_litert_average_pool_is_diagnosed_as_tflite_ref():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers import litert, litert_rows
    x = X_NHWC.astype(np.int8)
    blob = litert_rows._model("AVERAGE_POOL_2D", x, "int8", 1 / 16, 0, (1, 3, 3, 3), padding="SAME", stride_h=2,
                              stride_w=2, filter_height=2, filter_width=2, fused_activation_function="NONE")
    for fam in ("ref", "optimized", "xnnpack"):
        res = V.audit_variant(_avg_case(), litert.run(blob, {"x": x}, fam).outputs["y"])
        assert res["mismatches"] == 0 and _best(res) == {"tflite_ref", "tosa_avg_pool2d:tosa"}, fam
        assert res["diagnosis"]["best"] == "tflite_ref"


# ##########################################################################
# mean, concat, softmax
# ##########################################################################

MEAN_X = np.random.default_rng(5).integers(-128, 128, (1, 4, 4, 32))
MEAN = {"op": "mean", "variant": "tflite_ref", "x": MEAN_X.tolist(), "x_scale": F32(0.0427), "x_zero_point": 3,
        "y_scale": F32(0.0191), "y_zero_point": -5, "attrs": {"axes": [1, 2], "keepdims": 1}}


def test_litert_mean_three_families_are_told_apart():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers import litert, litert_rows
    case = V.make_variant_case(MEAN)
    x = MEAN_X.astype(np.int8)
    blob = litert_rows._model("MEAN", x, "int8", MEAN["x_scale"], 3, case.out_shape, [[1, 2]],
                              (MEAN["y_scale"], -5), keep_dims=True)
    want = {"ref": {"tflite_ref"}, "optimized": {"tflite_optimized"}, "xnnpack": {"xnnpack", "exact", "onnx_ref"}}
    for fam, names in want.items():
        res = V.audit_variant(case, litert.run(blob, {"x": x}, fam).outputs["y"])
        assert res["diagnosis"]["ranking"][0]["mismatches"] == 0 and names <= _best(res), (fam, res["diagnosis"])
        assert (fam == "xnnpack") == ("tflite_ref" not in _best(res) and "xnnpack" in _best(res))


def test_mean_ties_away_is_located_with_its_group():
    x = [[[0] * 7 + [1], [0, 1, 2, 3, 4, 5, 6, -1]]]    # means 1/8 and 20/8 = 2.5, a tie (RNE 2, away 3)
    case = V.make_variant_case({"op": "mean", "variant": "exact", "x": x, "x_scale": 1, "y_scale": 1,
                                "attrs": {"axes": [2], "keepdims": 0}})
    dump = _out(case, V.FAULTS["mean"]["exact rounded ties-away (not ties-even)"])
    res = V.audit_variant(case, dump)
    (m,) = res["first"]
    assert (m["index"], m["expected"], m["actual"], len(m["group"])) == ([0, 1], 2, 3, 8)
    # TFLite's MEAN rounds ties away (MultiplyByQuantizedMultiplier): its variants are named, the fault ties
    assert _best(res) == {"tflite_ref", "tflite_optimized", "exact rounded ties-away (not ties-even)"}
    assert res["diagnosis"]["ranking"][0]["kind"] == "variant" and _row(res, "exact")["mismatches"] == 1


CONCAT_IN = [(np.random.default_rng(8).integers(-128, 128, (2, 3, 4)), F32(0.05), 3),
             (np.random.default_rng(9).integers(-128, 128, (2, 2, 4)), F32(0.11), -7)]


def _concat_case(variant="ort", op="concat"):
    return V.make_variant_case({"op": op, "variant": variant, "dtype": "int8", "y_scale": F32(0.1),
                                "y_zero_point": 1, "attrs": {"axis": 1},
                                "inputs": [{"x": v.tolist(), "scale": s, "zero_point": z} for v, s, z in CONCAT_IN]})


def test_ort_qlinear_concat_is_diagnosed_and_an_unscaled_input_located():
    need("onnxruntime")
    from refquant.peers import onnx_qops as OQ
    case = _concat_case()
    y = OQ.ort_concat([(v.astype(np.int8), s, z) for v, s, z in CONCAT_IN], F32(0.1), 1, 1, "int8")
    res = V.audit_variant(case, y)
    assert res["mismatches"] == 0 and res["diagnosis"]["best"] == "ort"
    assert _row(res, "requantized with ties away (not ties-even)")["mismatches"] > 0
    bad = _out(case, P.FAULTS["concat"]["inputs copied without requantizing"])
    res = V.audit_variant(case, bad)
    m = res["first"][0]
    assert (m["input"], m["x"], m["zero_point"]) == (0, int(CONCAT_IN[0][0][0, 0, 0]), 3) and m["actual"] == m["x"]
    assert res["diagnosis"]["best"] == "inputs copied without requantizing"
    off = np.array(y).reshape(-1)
    off[-1] -= 1
    (m,) = V.audit_variant(case, off)["first"]
    assert m["input"] == 1 and m["index"] == [1, 4, 3]


def test_tflite_concatenation_needs_equal_params_and_is_a_sibling_of_concat():
    case = _concat_case("tflite_ref", "concatenation")
    with pytest.raises(V.InvalidValueError):
        assert case.out_shape
    assert _row(V.audit_variant(_concat_case(), _own(_concat_case())), "concatenation:tflite_ref")["applicable"] is False
    x = CONCAT_IN[0][0].tolist()
    case = V.make_variant_case({"op": "concatenation", "variant": "tflite_ref", "y_scale": 0.5, "y_zero_point": 2,
                                "attrs": {"axis": 0}, "inputs": [{"x": x, "scale": 0.5, "zero_point": 2}] * 2})
    res = V.audit_variant(case, _own(case))
    assert res["mismatches"] == 0 and _best(res) == {"tflite_ref", "concat:exact", "concat:ort", "concat:onnx_ref"}


def test_onnx_reference_qdq_mean_is_diagnosed_as_onnx_ref():
    need("onnx")
    from refquant.peers import onnx_qops as OQ
    x = np.random.default_rng(12).integers(-128, 128, (3, 8, 4)).astype(np.int8)
    y = OQ.qdq(OQ.run_ref, "ReduceMean", [("x", x, 0.25, 0)], 0.25, 0, "int8", {"keepdims": 1},
               [("axes", np.array([2], np.int64))])
    case = V.make_variant_case({"op": "mean", "variant": "onnx_ref", "x": x.tolist(), "x_scale": 0.25,
                                "y_scale": 0.25, "attrs": {"axes": [2], "keepdims": 1}})
    res = V.audit_variant(case, y)         # means of 4 quarters: ties, to even here, away in TFLite
    assert res["mismatches"] == 0 and _best(res) == {"onnx_ref", "exact", "xnnpack"}
    assert _row(res, "tflite_ref")["mismatches"] > 0


SM_X = np.random.default_rng(6).integers(-30, 31, (4, 8))


def test_ort_qlinear_softmax_is_diagnosed_and_a_wrong_table_entry_located():
    need("onnxruntime")
    from refquant.peers.activations import ort_qlinear
    sx, sy = F32(0.0625), F32(0.0067849555)        # ORT uses floor(1 / sy) = 147
    case = V.make_variant_case({"op": "softmax", "variant": "ort_qlinear", "x": SM_X.tolist(), "x_scale": sx,
                                "y_scale": sy, "y_zero_point": -128})
    y = ort_qlinear("softmax", SM_X.astype(np.int8), sx, 0, sy, -128, "int8")
    res = V.audit_variant(case, y)
    assert res["mismatches"] == 0 and _best(res) == {"ort_qlinear"}
    assert "onnxruntime" in res["diagnosis"]["ranking"][0]["backends"]
    d = (SM_X.max(axis=1, keepdims=True) - SM_X).reshape(-1)
    dump = np.array(y).reshape(-1)
    dd = int(np.bincount(d)[1:].argmax()) + 1       # the commonest d > 0: its exp table entry is wrong
    dump[d == dd] += 1
    res = V.audit_variant(case, dump)
    (g,) = res["by_diff"]
    assert g["d"] == dd and g["count"] == g["of"] == int((d == dd).sum()) > 1 and "table entry" in g["verdict"]
    assert res["first"][0]["d"] == dd and res["diagnosis"]["best"] == "ort_qlinear"


def test_litert_softmax_is_diagnosed_as_its_variant():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers.activations import litert_unary
    sx = F32(0.0625)
    case = V.make_variant_case({"op": "softmax", "variant": "tflite_ref", "x": SM_X.tolist(), "x_scale": sx,
                                "y_scale": "1/256", "y_zero_point": -128})
    for fam in ("ref", "optimized"):
        y, _ = litert_unary("softmax", SM_X, sx, 0, 1 / 256, -128, "int8", fam)
        res = V.audit_variant(case, y)
        assert res["mismatches"] == 0 and {"tflite_ref", "tflite_optimized"} <= _best(res), fam


# ##########################################################################
# explain, the command line, malformed cases
# ##########################################################################

@pytest.mark.parametrize("ref,want", [("ops:80", "ties away"), ("ops:82", "apply_scale_32"),
                                      ("ops:79", "maximum"), ("ops:83", "maximum")])
def test_explain_golden_pool_vectors(capsys, ref, want):
    assert cli.main(["explain", "--golden", ref, "--index", "0,1,1,0"]) == 0
    out = capsys.readouterr().out
    assert "window" in out and want in out and "(expected)" in out


def test_explain_mean_concat_softmax_steps():
    steps = {s.name: s.value for s in V.explain_variant(V.make_variant_case(MEAN), (0, 0, 0, 5))}
    assert len(steps["group"]) == 16 and "exact mean / sy" in steps and "variant xnnpack" in steps
    assert steps["TFLite reference"] == steps["variant tflite_ref (expected)"]
    steps = {s.name: s.value for s in V.explain_variant(_concat_case(), (1, 4, 0))}
    assert steps["source"] == int(CONCAT_IN[1][0][1, 1, 0]) and "fault inputs copied without requantizing" in steps
    case = V.make_variant_case({"op": "softmax", "variant": "exact", "x": SM_X.tolist(), "x_scale": F32(0.0625),
                                "y_scale": "1/256", "y_zero_point": -128})
    steps = {s.name: s.value for s in V.explain_variant(case, (0, 0))}
    assert steps["d"] == SM_X[0].max() - SM_X[0, 0] and "variant tflite_ref" in steps


def test_cli_audit_nhwc_case_file(tmp_path, capsys):
    import json
    (tmp_path / "case.json").write_text(json.dumps(TFL_AVG))
    case = _avg_case()
    dump = _own(case)
    dump[4] -= 2
    (tmp_path / "y.hex").write_text("\n".join(format(int(v) & 0xFF, "02x") for v in dump) + "\n")
    assert cli.main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.hex")]) == 1
    out = capsys.readouterr().out
    assert "mismatches: 1 of 27" in out and "window=" in out and "tosa_avg_pool2d:tosa" in out


@pytest.mark.parametrize("bad", [{"attrs": {"filter_hw": [2, 2], "strides": [1, 1], "kernel": 3}},
                                 {"attrs": {"filter_hw": [2, 2], "strides": [1, 1], "zero_point": 300}},
                                 {"attrs": {"filter_hw": [2, 2], "strides": [1, 1], "dtype": "int16"}},
                                 {"attrs": [1]}, {"x": [[1, 2]]}, {"op": "concat", "variant": "ort"},
                                 {"op": "tosa_max_pool2d", "variant": "tosa", "attrs": {"kernel": [2, 2]}}])
def test_malformed_form_case_is_a_typed_error(bad):
    with pytest.raises(V.RefquantError):
        assert V.make_variant_case({**TFL_AVG, **bad}).out_shape


# ##########################################################################
# --suggest-vectors on the element-wise variant ops (refquant/audit/variants_suggest.py)
# ##########################################################################

def test_suggest_vectors_sigmoid_names_the_separating_input(tmp_path, capsys):
    import json
    from refquant.requant import fl32
    from fractions import Fraction
    sx = fl32(Fraction("0.010885008"))
    spec = {"op": "sigmoid", "variant": "xnnpack_lut", "x": list(range(-128, 128)),
            "x_scale": f"{sx.numerator}/{sx.denominator}", "x_zero_point": -128, "y_scale": "1/256",
            "y_zero_point": -128}
    (tmp_path / "case.json").write_text(json.dumps(spec))
    case = V.make_variant_case(spec)
    dump = _out(case, V.backends.op_variants("sigmoid")["tflite_lut"])
    (tmp_path / "y.hex").write_text("\n".join(format(int(v) & 0xFF, "02x") for v in dump) + "\n")
    out = tmp_path / "vectors.hex"
    assert cli.main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.hex"),
                     "--suggest-vectors", str(out)]) == 1
    assert "distinguishing input" in capsys.readouterr().err
    lines = out.read_text().splitlines()
    (line,) = [v for v in lines if not v.startswith("//")]         # one input tells every variant apart
    assert line.startswith("f6  // x=-10: tflite_lut -> 73, exact -> 72") and "xnnpack_lut -> 72" in line


def test_suggest_vectors_add_ties_separate_exact_from_ties_away():
    from refquant.audit import variants_suggest as S
    case = V.make_variant_case({"op": "add", "variant": "exact", "a": list(range(-20, 20)), "b": [1] * 40,
                                "a_scale": "1/2", "b_scale": "1/2", "y_scale": 1})
    res = V.audit_variant(case, _out(case, V.FAULTS["add"]["exact rounded ties-away (not ties-even)"]))
    entries = {e["name"]: e for e in S.suggest(case, res["diagnosis"])}
    vec = entries["exact"]["vectors"]
    assert len(vec) == 3 and all((v["inputs"]["a"] + v["inputs"]["b"]) % 2 for v in vec)      # ties of (a+b)/2
    assert all(abs(v["outputs"]["exact"] - v["outputs"][res["diagnosis"]["best"]]) == 1 for v in vec)


def test_suggest_vectors_pool_writes_tensor_sets(tmp_path, capsys):
    import json
    (tmp_path / "case.json").write_text(json.dumps(TFL_AVG))
    case = _avg_case()
    dump = _own(case)
    (tmp_path / "y.hex").write_text("\n".join(format(int(v) & 0xFF, "02x") for v in dump) + "\n")
    out = tmp_path / "v.hex"
    assert cli.main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.hex"),
                     "--suggest-vectors", str(out)]) == 0
    assert "input tensor set" in capsys.readouterr().err
    lines = out.read_text().splitlines()
    words = [v for v in lines if not v.startswith("//")]
    sets = [v for v in lines if v.startswith("// set ")]
    assert sets and len(words) == 75 * len(sets) and all(len(w) == 2 for w in words)
    assert "avg_pool:exact" in sets[0] and "padding counted" in " ".join(sets)
    assert any("tosa_avg_pool2d:tosa: no probe" in v for v in lines)    # it agrees with TFLite on int8


def test_suggest_tensors_tosa_ars_separates_the_fault():
    from refquant.audit import variants_suggest as S
    case = V.make_variant_case({"op": "tosa_arithmetic_right_shift", "variant": "tosa", "a": [5, -9, 1 << 20],
                                "b": [1, 2, 3], "attrs": {"round": True}})
    chosen, never = S.suggest_tensors(case, V.audit_variant(case, _own(case))["diagnosis"])
    assert chosen and chosen[0]["separates"]["round inverted"] > 0 and never == []


def test_litert_concatenation_refuses_requantizing_as_the_case_does():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers import litert
    x = CONCAT_IN[0][0].astype(np.int8)

    def model(sb, zb):
        m = litert.Model()
        a = m.tensor("a", x.shape, "int8", scale=0.5, zero_point=2)
        b = m.tensor("b", x.shape, "int8", scale=sb, zero_point=zb)
        y = m.tensor("y", (4, 3, 4), "int8", scale=0.5, zero_point=2)
        m.op("CONCATENATION", [a, b], [y], axis=0)
        return m.build([a, b], [y])
    with pytest.raises(RuntimeError, match="scale"):        # concatenation.cc Prepare, ai-edge-litert 2.3.0
        litert.run(model(0.25, 2), {"a": x, "b": x}, "ref")
    spec = {"op": "concatenation", "variant": "tflite_ref", "y_scale": 0.5, "y_zero_point": 2, "attrs": {"axis": 0},
            "inputs": [{"x": x.tolist(), "scale": 0.5, "zero_point": 2}, {"x": x.tolist(), "scale": 0.25,
                                                                          "zero_point": 2}]}
    with pytest.raises(V.InvalidValueError):
        assert V.make_variant_case(spec).out_shape
    spec["inputs"][1]["scale"] = 0.5
    res = V.audit_variant(V.make_variant_case(spec), litert.run(model(0.5, 2), {"a": x, "b": x}, "ref").outputs["y"])
    assert res["mismatches"] == 0 and res["diagnosis"]["best"] == "tflite_ref"


def test_litert_max_pool_with_relu6_is_diagnosed_and_the_siblings_clamped():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers import litert, litert_rows
    x = X_NHWC.astype(np.int8)
    attrs = {"filter_hw": [2, 2], "strides": [1, 1], "padding": "VALID", "activation": "RELU6", "scale": 0.05,
             "zero_point": -3}
    case = V.make_variant_case({"op": "max_pool_2d", "variant": "tflite_ref", "x": x.tolist(), "attrs": attrs})
    blob = litert_rows._model("MAX_POOL_2D", x, "int8", 0.05, -3, case.out_shape, padding="VALID", stride_h=1,
                              stride_w=1, filter_height=2, filter_width=2, fused_activation_function="RELU6")
    for fam in ("ref", "optimized", "xnnpack"):
        y = litert.run(blob, {"x": x}, fam).outputs["y"]
        assert y.max() == 117                             # RELU6: -3 + 6 / 0.05
        res = V.audit_variant(case, y)
        assert res["mismatches"] == 0 and res["diagnosis"]["best"] == "tflite_ref", fam
        assert {"max_pool:exact", "tosa_max_pool2d:tosa"} <= _best(res)       # VALID: no pad, the fault ties too


def test_litert_int16_softmax_is_diagnosed_as_tflite_ref():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers.activations import litert_unary
    x = np.random.default_rng(3).integers(-3000, 3001, (4, 16))
    sx = F32(0.001)
    case = V.make_variant_case({"op": "softmax_int16", "variant": "tflite_ref", "dtype": "int16", "x": x.tolist(),
                                "x_scale": sx, "y_scale": "1/32768", "y_zero_point": 0})
    y, _ = litert_unary("softmax_int16", x.astype(np.int16), sx, 0, 1 / 32768, 0, "int16", "ref")
    res = V.audit_variant(case, y)
    assert res["mismatches"] == 0 and _best(res) == {"tflite_ref", "tflm"} and _row(res, "exact")["mismatches"] == 4
    dump = np.array(y).reshape(-1)
    dump[7] += 1
    (m,) = V.audit_variant(case, dump, diagnose_=False)["first"]       # (the tflm table takes seconds to build)
    assert m["flat"] == 7 and m["d"] == x[0].max() - x[0, 7]


def test_global_avg_pool_and_spatial_mean_are_siblings_across_layouts():
    need("ai_edge_litert", "ai-edge-litert")
    need("onnxruntime")
    from refquant.peers import litert, litert_rows
    from refquant.peers import onnx_qops as OQ
    x = MEAN_X.astype(np.int8)
    mcase = V.make_variant_case(MEAN)
    blob = litert_rows._model("MEAN", x, "int8", MEAN["x_scale"], 3, mcase.out_shape, [[1, 2]],
                              (MEAN["y_scale"], -5), keep_dims=True)
    y = litert.run(blob, {"x": x}, "optimized").outputs["y"]            # NHWC (1, 1, 1, 32)
    gspec = {"op": "global_avg_pool", "variant": "ort", "x": x.transpose(0, 3, 1, 2).tolist(),
             "x_scale": MEAN["x_scale"], "x_zero_point": 3, "y_scale": MEAN["y_scale"], "y_zero_point": -5}
    gcase = V.make_variant_case(gspec)
    res = V.audit_variant(gcase, y.transpose(0, 3, 1, 2))               # declared ORT, NCHW
    assert res["mismatches"] == 3 and _best(res) == {"mean:tflite_optimized"}
    assert len(res["first"][0]["group"]) == 16
    yo = OQ.ort_global_avg_pool(x.transpose(0, 3, 1, 2), MEAN["x_scale"], 3, MEAN["y_scale"], -5, "int8")
    res = V.audit_variant(mcase, yo.transpose(0, 2, 3, 1))              # declared TFLite MEAN, NHWC
    assert res["mismatches"] > 0 and "global_avg_pool:ort" in _best(res) and "tflite_ref" not in _best(res)


@pytest.mark.parametrize("attrs", [{"filter_hw": None}, {"filter_hw": [1]}, {"filter_hw": [0, 0]}, {"strides": 3},
                                   {"strides": [1, 2, 3]}, {"filter_hw": [1 << 40, 1]}, {"activation": [1]},
                                   {"padding": 3}, {"filter_hw": {"a": 1}}])
def test_malformed_pool_geometry_is_a_typed_error(attrs):
    with pytest.raises(V.RefquantError):
        assert _avg_case(attrs={**TFL_AVG["attrs"], **attrs}).out_shape


def test_a_pool_with_no_output_is_refused():
    case = V.make_variant_case({"op": "tosa_avg_pool2d", "variant": "tosa", "x": X_NHWC[:, :4, :4].tolist(),
                                "attrs": {"kernel": [7, 7], "stride": [1, 1], "pad": [0, 0, 0, 0]}})
    with pytest.raises(V.ShapeError, match="no output"):
        assert case.out_shape


def test_report_for_a_variant_case(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    import json
    (tmp_path / "case.json").write_text(json.dumps(TFL_AVG))
    case = _avg_case()
    dump = _out(case, P.FAULTS["average_pool_2d"]["tflite_ref with the padding counted in the divisor"])
    (tmp_path / "y.hex").write_text("\n".join(format(int(v) & 0xFF, "02x") for v in dump) + "\n")
    rep = tmp_path / "rep"
    assert cli.main(["audit", str(tmp_path / "case.json"), "--actual", str(tmp_path / "y.hex"),
                     "--report", str(rep)]) == 1
    assert "report:" in capsys.readouterr().out
    md = (rep / "report.md").read_text()
    assert "layout NHWC" in md and "| 1 | fault | tflite_ref with the padding counted in the divisor | 0 |" in md
    assert "window=" in md and (rep / "mismatch_map.png").read_bytes()[:4] == b"\x89PNG"
