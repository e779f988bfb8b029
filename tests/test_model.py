"""refquant model: the numpy fast forms equal the definitions; whole models agree with onnxruntime;
the two judgments; dumps, reports and the CLI's exit codes (docs/model.md)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from refquant import cli, movement
from refquant import ops as spec_ops
from refquant import quantize as qz
from refquant.model import graph as G
from refquant.model import ops_quant as oq
from refquant.model.registry import Context
from refquant.model.runner import run, run_node, seeded_inputs
from refquant.model.value import V

RNG = np.random.default_rng(14)


# ##########################################################################
# fast forms == the definitions
# ##########################################################################

def _ties(scale, n):
    """binary32 values x with x / scale at or next to a half-integer (where roundings part)."""
    k = RNG.integers(-300, 300, n)
    x = ((k + 0.5) * np.float64(scale)).astype(np.float32)
    return np.concatenate([x, np.nextafter(x, np.float32(np.inf)), RNG.standard_normal(n).astype(np.float32) * 3])


@pytest.mark.parametrize("profile", ["onnxruntime", "onnx", "exact", "tflite"])
@pytest.mark.parametrize("dtype,zp", [("uint8", 131), ("int8", -3)])
def test_quantize_array_equals_definition(profile, dtype, zp):
    s = np.float32(0.0371)
    x = _ties(s, 60)
    got = oq.quantize_array(x, s, np.array(zp, dtype=dtype), dtype, profile)
    want = qz.quantize(x, float(s), zp, dtype, profile)
    assert np.array_equal(got.astype(np.int64), np.asarray(want, np.int64))


def test_quantize_array_per_axis_equals_definition():
    s = np.array([0.02, 0.5, 0.003], np.float32)
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    got = oq.quantize_array(x, s, np.array([0, 1, -2], np.int8), "int8", "onnxruntime", axis=1)
    want = qz.quantize(x, [float(v) for v in s], [0, 1, -2], "int8", "onnxruntime", axis=1)
    assert np.array_equal(got.astype(np.int64), np.asarray(want, np.int64))


@pytest.mark.parametrize("rule,profile", [("f32", "onnxruntime"), ("exact", "exact"), ("f64", "tflite")])
def test_dequantize_array_equals_definition(rule, profile):
    q = RNG.integers(-128, 128, (3, 5)).astype(np.int8)
    s = np.array([0.1, 0.0371, 3.3], np.float32)
    got = oq.dequantize_array(q, s, np.array([1, 0, -5]), "int8", rule, profile, axis=0)
    want = np.asarray(qz.dequantize(q, [float(v) for v in s], [1, 0, -5], "int8", profile, axis=0), np.uint32)
    assert np.array_equal(got.view(np.uint32), want)


@pytest.mark.parametrize("group,stride,pads,dil", [(1, 1, (1, 1, 1, 1), 1), (4, 2, (0, 1, 2, 0), 1),
                                                    (2, 1, (1, 0, 0, 1), 2)])
def test_conv_acc_equals_conv_integer(group, stride, pads, dil):
    x = RNG.integers(0, 256, (2, 4, 7, 6))
    w = RNG.integers(-128, 128, (4, 4 // group, 3, 3))
    got = oq.conv_acc(x - 7, w + 2, (stride, stride), list(pads), (dil, dil), group)
    want = spec_ops.conv_integer(x.tolist(), w.tolist(), 7, -2, x_type="uint8", w_type="int8", strides=[stride] * 2,
                                 pads=list(pads), dilations=[dil] * 2, group=group)
    assert np.array_equal(got, np.array(want))
    raw = oq.conv_acc_raw(x.astype(np.uint8), 7, w.astype(np.int8), np.array([-2]), (stride, stride),
                          list(pads), (dil, dil), group)
    assert np.array_equal(raw, np.array(want))


def _f(v):
    return float(np.float32(v))


def _node(op_type, domain="", **attrs):
    return G.Node("n", op_type, domain, [f"i{k}" for k in range(9)], ["y"], attrs)


def _vals(*arrays):
    return [None if a is None else V(np.asarray(a)) for a in arrays]


@pytest.mark.parametrize("backend", ["onnxruntime", "exact", "tflite"])
def test_qlinear_conv_node_equals_ops(backend):
    x = RNG.integers(0, 256, (1, 3, 5, 5)).astype(np.uint8)
    w = RNG.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    sw = np.array([0.01, 0.02, 0.0031, 0.5], np.float32)
    bias = RNG.integers(-500, 500, 4).astype(np.int32)
    node = _node("QLinearConv", pads=[1, 1, 1, 1], strides=[2, 2])
    ins = _vals(x, np.float32(0.05), np.uint8(128), w, sw, np.zeros(4, np.int8), np.float32(0.17), np.uint8(120), bias)
    got = oq.qlinear_conv(Context(backend), node, ins)[0].v
    method = Context(backend).method("qlinear_conv")
    want = spec_ops.qlinear_conv(x, _f(0.05), 128, w, [float(v) for v in sw], 0, _f(0.17), 120, method=method, w_type="int8",
                                 bias=bias.tolist(), pads=[1, 1, 1, 1], strides=[2, 2])
    assert np.array_equal(got, np.array(want))


def test_qlinear_matmul_and_qgemm_equal_ops():
    a = RNG.integers(0, 256, (5, 7)).astype(np.uint8)
    b = RNG.integers(-127, 128, (7, 3)).astype(np.int8)
    bias = RNG.integers(-900, 900, 3).astype(np.int32)
    want = spec_ops.qlinear_matmul(a, _f(0.02), 3, b, _f(0.011), 0, _f(0.09), 128, method="ort", b_type="int8")
    got = oq.qlinear_matmul(Context("onnxruntime"), _node("QLinearMatMul"),
                            _vals(a, np.float32(0.02), np.uint8(3), b, np.float32(0.011), np.int8(0), np.float32(0.09),
                                  np.uint8(128)))[0].v
    assert np.array_equal(got, np.array(want))
    want = spec_ops.qlinear_matmul(a, _f(0.02), 3, b, _f(0.011), 0, _f(0.09), 128, method="ort", b_type="int8",
                                   bias=bias.tolist())
    got = oq.qgemm(Context("onnxruntime"), _node("QGemm", "com.microsoft", transB=1),
                   _vals(a, np.float32(0.02), np.uint8(3), b.T, np.float32(0.011), np.int8(0), bias, np.float32(0.09),
                         np.uint8(128)))[0].v
    assert np.array_equal(got, np.array(want))


@pytest.mark.parametrize("profile", ["onnxruntime", "onnx"])
def test_dynamic_quantize_equals_definition(profile):
    x = RNG.standard_normal((4, 9)).astype(np.float32) * 2
    y, s, z = oq.dynamic_quantize_array(x, profile)
    wy, ws, wz = qz.dynamic_quantize(x, profile)
    assert (s, z) == (float(ws), int(wz)) and np.array_equal(y, np.asarray(wy, np.uint8))


def test_movement_equals_spec():
    from refquant.model import ops_float as of
    x = RNG.integers(0, 256, (2, 3, 4)).astype(np.uint8)
    t = of.transpose(None, _node("Transpose", perm=[2, 0, 1]), _vals(x))[0].v
    assert t.tolist() == movement.transpose(x.tolist(), perm=[2, 0, 1])
    r = of.reshape(None, _node("Reshape"), _vals(x, np.array([0, -1])))[0].v
    assert r.tolist() == movement.reshape(x.tolist(), [2, -1])


def test_enclosure_contains_every_binary32_order():
    """A float MatMul's enclosure holds the binary32 sums in forward, reverse and pairwise order."""
    from refquant.model import ops_float as of
    a = RNG.standard_normal((3, 200)).astype(np.float32)
    b = RNG.standard_normal((200, 4)).astype(np.float32)
    out = of.matmul(None, _node("MatMul"), _vals(a, b))[0]
    lo, hi = out.bounds()
    prods = a[:, :, None] * b[None, :, :]
    for order in (slice(None), slice(None, None, -1)):
        s = np.zeros((3, 4), np.float32)
        for k in range(200)[order]:
            s = (s + prods[:, k]).astype(np.float32)
        assert np.all((lo <= s) & (s <= hi))
    assert np.all((lo <= prods.sum(axis=1, dtype=np.float32)) & (prods.sum(axis=1, dtype=np.float32) <= hi))


# ##########################################################################
# whole models (built once, cached in the temp folder)
# ##########################################################################

@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    """The test models, built once per test session in its temp folder (REFQUANT_MODEL_ZOO names a
    folder to reuse across sessions instead)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    if os.environ.get("REFQUANT_MODEL_ZOO"):
        d = Path(os.environ["REFQUANT_MODEL_ZOO"])
        d.mkdir(parents=True, exist_ok=True)
        return d
    return tmp_path_factory.mktemp("model_zoo")


def _build(zoo_dir, kind, fmt, per_channel=True, **kw):
    from refquant.model import zoo
    return zoo.build(kind, zoo_dir, fmt, per_channel, **kw)


def _compare(path, *against, extra=()):
    args = ["model", "compare", str(path), "--json"] + [f"--against={a}" for a in against] + list(extra)
    return args


def _json(capsys):
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("fmt,per_channel", [("qdq", True), ("qop", False)])
@pytest.mark.parametrize("level", ["disable", "all"])
def test_convnet_agrees_with_onnxruntime(zoo_dir, capsys, fmt, per_channel, level):
    path = _build(zoo_dir, "convnet", fmt, per_channel)
    assert cli.main(_compare(path, f"onnxruntime:{level}")) == 0
    t = _json(capsys)["targets"][0]
    assert t["verdict"] == "agree" and t["counts"]["new divergence"] == 0
    ops = {n["op"] for n in t["nodes"]}
    if fmt == "qdq" and level == "disable":
        assert {"Conv", "QuantizeLinear"} <= ops and t["counts"]["implementation-defined"] > 0
    else:
        assert "QLinearConv" in ops or "com.microsoft.QLinearConv" in ops


def test_disable_vs_all_part_at_the_fused_gemm(zoo_dir, capsys):
    """The classic report: the same QDQ model under ORT optimizations disabled and all differs; the
    first tensor where the runs part is written by the float path (Gemm in binary32, then
    QuantizeLinear) in one and by the fused integer kernel (QGemm, method 'ort') in the other, and
    refquant models each run: no divergence in either (onnxruntime 1.32.0)."""
    path = _build(zoo_dir, "mlp", "qdq", False, shape=(64, 32))
    assert cli.main(_compare(path, "onnxruntime:disable", "onnxruntime:all", extra=["--seed", "1"])) == 0
    doc = _json(capsys)
    assert [t["verdict"] for t in doc["targets"]] == ["agree", "agree"]
    p = doc["parting"][0]
    assert p["op_a"] == "QuantizeLinear" and p["op_b"] == "com.microsoft.QGemm"
    assert "Gemm in binary32" in p["arithmetic_a"] and "method 'ort'" in p["arithmetic_b"]
    node = next(n for n in doc["targets"][0]["nodes"] if n["node"] == p["node_a"])
    assert node["class"] == "implementation-defined"


def test_injected_divergence_new_then_inherited(zoo_dir, tmp_path, capsys):
    """An implementation that flips one bit of one QLinearConv output and computes the rest of the
    graph from it: that node is the new divergence, the nodes after it only inherit."""
    from refquant.model import write_dumps
    path = _build(zoo_dir, "convnet", "qop", False)
    g = G.load(path)
    feeds = seeded_inputs(g, 1)
    conv = next(n for n in g.nodes if n.op_type == "QLinearConv")
    a = run(g, feeds).values[conv.outputs[0]].v.copy()
    a[0, 1, 2, 3] ^= 1
    res = run(g, feeds, override={conv.outputs[0]: a})
    dump = write_dumps(tmp_path / "d", {k: v.v for k, v in res.values.items() if k not in g.initializers})
    rep = tmp_path / "rep"
    assert cli.main(_compare(path, f"dumps:{dump}", extra=["--report", str(rep)])) == 1
    t = _json(capsys)["targets"][0]
    classes = [n["class"] for n in t["nodes"]]
    first = classes.index("new divergence")
    assert t["nodes"][first]["node"] == conv.name == t["first_divergent"]
    assert t["nodes"][first]["first"] == [[0, 1, 2, 3]] and t["nodes"][first]["max_delta"] == 1
    assert "inherited" in classes[first + 1:] and "new divergence" not in classes[first + 1:]
    assert "acc" in t["explain"] and t["diagnosis"]
    assert {"report.json", "report.md", "mismatches.png", "first_divergent.png"} <= {p.name for p in rep.iterdir()}


def test_explain_cli(zoo_dir, capsys):
    path = _build(zoo_dir, "convnet", "qop", False)
    g = G.load(path)
    conv = next(n for n in g.nodes if n.op_type == "QLinearConv")
    assert cli.main(["model", "explain", str(path), "--node", conv.name, "--index", "0,1,2,3"]) == 0
    out = capsys.readouterr().out
    assert "QLinearConv element" in out and "method" in out


def test_run_node_on_given_inputs_equals_run(zoo_dir):
    path = _build(zoo_dir, "convnet", "qop", False)
    g = G.load(path)
    res = run(g, seeded_inputs(g, 3))
    for node in g.nodes:
        ins = {n: res.values[n].v for n in node.inputs if n and n not in g.initializers}
        out = run_node(g, node, ins)
        assert all(np.array_equal(o.v, res.values[n].v) for o, n in zip(out, node.outputs))


# ##########################################################################
# bad input: exit 2, one line naming the value
# ##########################################################################

def _onnx_model(tmp_path, op_type):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    node = helper.make_node(op_type, ["x"], ["y"], name="the_node")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    return p


def test_unsupported_op_names_node_and_op(tmp_path, capsys):
    p = _onnx_model(tmp_path, "Erf")
    assert cli.main(["model", "run", str(p)]) == 2
    err = capsys.readouterr().err
    assert "the_node" in err and "'Erf'" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["model", "run", "/nonexistent.onnx"],
    ["model", "compare", "{junk}", "--against", "onnxruntime:all"],
    ["model", "compare", "{model}", "--against", "onnxruntime:fast"],
    ["model", "compare", "{model}", "--against", "dumps:/nonexistent"],
    ["model", "compare", "{model}"],
    ["model", "run", "{model}", "--inputs", "{junk}"],
    ["model", "explain", "{model}", "--node", "nope", "--index", "0"],
    ["model", "explain", "{model}", "--node", "the_node", "--index", "a,b"],
])
def test_bad_input_exit_2(tmp_path, capsys, argv):
    model = _onnx_model(tmp_path, "Relu")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model\xff")
    argv = [a.format(model=model, junk=junk) for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


# ##########################################################################
# bigger models (slow)
# ##########################################################################

def _variants_ready(kind):
    from refquant import backends
    row = backends.get_backend("onnxruntime")
    needs = {"cnn": {"add", "avg_pool", "softmax"}, "mobilenet": {"add"}, "transformer": {"add", "softmax"}}[kind]
    missing = needs - set(row.ops)
    if missing:
        pytest.skip(f"the onnxruntime row names no variant yet for {sorted(missing)}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cnn", "mobilenet", "transformer"])
@pytest.mark.parametrize("fmt,per_channel", [("qdq", True), ("qdq", False), ("qop", True)])
@pytest.mark.parametrize("level", ["disable", "extended", "all"])
def test_models_agree_with_onnxruntime(zoo_dir, capsys, kind, fmt, per_channel, level):
    if not (fmt == "qdq" and level == "disable"):
        _variants_ready(kind)
    path = _build(zoo_dir, kind, fmt, per_channel)
    rc = cli.main(_compare(path, f"onnxruntime:{level}"))
    t = _json(capsys)["targets"][0]
    assert rc == 0 and t["counts"]["new divergence"] == 0, t["first_divergent"]


def test_run_dump_cli_round_trip(zoo_dir, tmp_path, capsys):
    path = _build(zoo_dir, "convnet", "qop", False)
    assert cli.main(["model", "run", str(path), "--seed", "2", "--dump", str(tmp_path / "d")]) == 0
    assert "y: float32 [1, 10]" in capsys.readouterr().out
    assert cli.main(_compare(path, f"dumps:{tmp_path / 'd'}", extra=["--seed", "2"])) == 0
    assert _json(capsys)["targets"][0]["verdict"] == "agree"


def test_check_runs_the_shipped_example():
    pytest.importorskip("onnxruntime")
    from refquant.model.check import example_rows
    rows = example_rows()
    assert [r.backend for r in rows] == ["model onnxruntime:disable", "model onnxruntime:all"]
    assert all(r.status == "pass" and r.differ == 0 and r.elements > 0 for r in rows)


def _fusion_matches(zoo_dir, kind, fmt_pc, levels=("basic", "extended", "all")):
    from refquant.model import ort
    from refquant.model.fusion import check_against, fuse
    path = _build(zoo_dir, kind, "qdq", fmt_pc)
    g = G.load(path)
    feeds = seeded_inputs(g, 1)
    for level in levels:
        predicted = fuse(g, level)
        assert check_against(predicted, G.from_proto(ort.optimized_model(path, level))) == "", level
        res = run(predicted, feeds)
        for name, got in ort.run_session(path, level, feeds).items():
            lo, hi = res.values[name].bounds()
            assert np.all((lo <= got) & (got <= hi)), (level, name)


@pytest.mark.parametrize("kind,per_channel", [("convnet", True), ("mlp", False)])
def test_fusion_model_predicts_onnxruntime(zoo_dir, kind, per_channel):
    """refquant's model of ORT's QDQ fusions (no ORT needed to run it) has the ops of ORT's own
    optimized graph at basic / extended / all, and its outputs hold ORT's (onnxruntime 1.32.0)."""
    _fusion_matches(zoo_dir, kind, per_channel)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cnn", "mobilenet", "transformer"])
@pytest.mark.parametrize("per_channel", [True, False])
def test_fusion_model_predicts_onnxruntime_big(zoo_dir, kind, per_channel):
    _variants_ready(kind)
    _fusion_matches(zoo_dir, kind, per_channel)


def test_run_level_all_cli(zoo_dir, capsys):
    path = _build(zoo_dir, "convnet", "qdq", True)
    assert cli.main(["model", "run", str(path), "--level", "all"]) == 0
    assert "y: float32 [1, 10], 0 implementation-defined" in capsys.readouterr().out


def test_diagnosis_names_the_semantics_of_a_device(zoo_dir, tmp_path, capsys):
    """A 'device' whose QLinearConv requantizes as the TFLite reference (tflite_double): compared under
    the onnxruntime row, the first divergent node is the first conv, and the diagnosis's exact
    candidates include method tflite_double and exclude onnxruntime's."""
    from refquant import backends
    from refquant.model import write_dumps
    path = _build(zoo_dir, "convnet", "qop", False)
    g = G.load(path)
    feeds = seeded_inputs(g, 1)
    device = backends.Backend("device", "test", "onnxruntime", {"qlinear_conv": "tflite_double",
                                                                "qlinear_matmul": "ort"})
    res = run(g, feeds, device)
    dump = write_dumps(tmp_path / "d", {k: v.v for k, v in res.values.items() if k not in g.initializers})
    assert cli.main(_compare(path, f"dumps:{dump}", extra=["--seed", "1"])) == 1
    t = _json(capsys)["targets"][0]
    assert t["first_divergent"] == next(n.name for n in g.nodes if n.op_type == "QLinearConv")
    exact = {d["semantics"] for d in t["diagnosis"] if d["mismatches"] == 0}
    assert "method tflite_double" in exact and "onnxruntime" not in exact and "method ort" not in exact
    assert "tflite_double" in t["explain"] or "method" in t["explain"]
    top = t["audit"]["ranking"][0]
    assert top["matched"] == top["of"] and top["name"].startswith("tflite_double")


def _pow2_conv_model(tmp_path, seed=5):
    """QuantizeLinear -> QLinearConv -> DequantizeLinear (int8) whose multiplier sx*sw/sy is exactly
    2^-3: acc * M lands on a half-integer whenever acc = 4 mod 8, the ties where roundings part."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(np.array(2.0**-4, np.float32), "sx"),
             numpy_helper.from_array(np.array(0, np.int8), "zx"),
             numpy_helper.from_array(rng.integers(-127, 128, (8, 4, 3, 3)).astype(np.int8), "w"),
             numpy_helper.from_array(np.full(8, 2.0**-5, np.float32), "sw"),
             numpy_helper.from_array(np.zeros(8, np.int8), "zw"),
             numpy_helper.from_array(np.array(2.0**-6, np.float32), "sy"),
             numpy_helper.from_array(np.array(0, np.int8), "zy"),
             numpy_helper.from_array(np.zeros(8, np.int32), "b")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="quant"),
             helper.make_node("QLinearConv", ["xq", "sx", "zx", "w", "sw", "zw", "sy", "zy", "b"], ["yq"],
                              name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"], name="dequant")]
    g = helper.make_graph(nodes, "pow2", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    p = tmp_path / "pow2_conv.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), p)
    return p


def test_litert_reference_vs_optimized_conv(tmp_path, capsys):
    """The classic report: one CONV_2D under LiteRT's reference kernels and its optimized (ruy) kernels
    (ai-edge-litert 2.3.0). Each agrees with refquant under its own row; they part at the conv, where
    the reference requantizes with method tflite_double (ties away from zero) and the optimized
    kernels with ruy_x86 (ties toward +inf): the negative ties."""
    pytest.importorskip("ai_edge_litert")
    p = _pow2_conv_model(tmp_path)
    assert cli.main(_compare(p, "litert:ref", "litert:optimized")) == 0
    doc = _json(capsys)
    assert [t["verdict"] for t in doc["targets"]] == ["agree", "agree"]
    part = doc["parting"][0]
    assert part["tensor"] == "yq" and part["elements_differ"] > 0
    assert "'tflite_double'" in part["arithmetic_a"] and "'ruy_x86'" in part["arithmetic_b"]


def test_litert_xnnpack_agrees(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    p = _pow2_conv_model(tmp_path)
    assert cli.main(_compare(p, "litert:xnnpack")) == 0
    assert _json(capsys)["targets"][0]["counts"]["new divergence"] == 0


@pytest.mark.parametrize("family", ["ref", "optimized", "xnnpack"])
def test_resnet_int8_agrees_with_litert(zoo_dir, capsys, family):
    """The seeded residual net (int8 QOperator: CONV_2D, DEPTHWISE_CONV_2D, residual ADD, strided
    conv with explicit PAD, FULLY_CONNECTED, DEQUANTIZE) under each LiteRT 2.3.0 kernel family:
    every node agrees with refquant under the family's row."""
    pytest.importorskip("ai_edge_litert")
    path = _build(zoo_dir, "resnet", "qop", True, activations="int8")
    assert cli.main(_compare(path, f"litert:{family}")) == 0
    t = _json(capsys)["targets"][0]
    assert t["counts"]["agree"] == len(t["nodes"]) >= 8
    assert "com.microsoft.QLinearAdd" in {n["op"] for n in t["nodes"]}


def test_implementation_defined_elements_list_their_candidates(zoo_dir, capsys):
    """At level disable the QDQ convnet's float Gemm feeds a QuantizeLinear whose elements may round
    either way: the report lists them with their candidate range, and ORT's value lies in it."""
    path = _build(zoo_dir, "convnet", "qdq", True)
    assert cli.main(_compare(path, "onnxruntime:disable")) == 0
    t = _json(capsys)["targets"][0]
    cands = [c for n in t["nodes"] if n["op"] == "QuantizeLinear" for o in n["own"] for c in o["candidates"]]
    assert cands and all(c["range"][0] <= c["actual"] <= c["range"][1] and c["range"][0] < c["range"][1]
                         for c in cands)


def test_dumps_of_a_fused_device_and_empty_dumps(zoo_dir, tmp_path, capsys):
    """A device that runs the fused graph (as onnxruntime at level all) is compared with --level all;
    dumps that name no tensor of the graph are a bad input."""
    from refquant.model import write_dumps
    from refquant.model.fusion import fuse
    path = _build(zoo_dir, "convnet", "qdq", True)
    g = fuse(G.load(path), "all")
    res = run(g, seeded_inputs(g, 1))
    dump = write_dumps(tmp_path / "d", {k: v.v for k, v in res.values.items() if k not in g.initializers})
    assert cli.main(_compare(path, f"dumps:{dump}", extra=["--level", "all"])) == 0
    assert {n["op"] for n in _json(capsys)["targets"][0]["nodes"]} >= {"QLinearConv", "com.microsoft.QGemm"}
    write_dumps(tmp_path / "e", {"unrelated": np.zeros(3)})
    assert cli.main(_compare(path, f"dumps:{tmp_path / 'e'}")) == 2


@pytest.mark.parametrize("per_channel", [True, False])
def test_dynamic_quantized_mlp_agrees_and_fusion_predicted(zoo_dir, capsys, per_channel):
    """quantize_dynamic's graph (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add) at level disable,
    and onnxruntime's com.microsoft.DynamicQuantizeMatMul at extended (predicted by the fusion model):
    every node agrees (onnxruntime 1.32.0)."""
    path = _build(zoo_dir, "mlp", "dynamic", per_channel)
    for level in ("disable", "extended"):
        assert cli.main(_compare(path, f"onnxruntime:{level}")) == 0
        t = _json(capsys)["targets"][0]
        assert t["counts"]["agree"] == len(t["nodes"]) and "predicts the same ops" in t["notes"][1]
    assert "com.microsoft.DynamicQuantizeMatMul" in {n["op"] for n in t["nodes"]}


def test_explain_qlinear_add_names_its_variant(zoo_dir, capsys):
    _variants_ready("cnn")
    path = _build(zoo_dir, "cnn", "qop", True)
    add = next(n for n in G.load(path).nodes if n.op_type == "QLinearAdd")
    assert cli.main(["model", "explain", str(path), "--node", add.name, "--index", "0,1,2,3",
                     "--against", "onnxruntime:disable"]) == 0
    out = capsys.readouterr().out
    assert "variant 'ort' of 'add'" in out and "a = " in out and "implementation gave" in out
