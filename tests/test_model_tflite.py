"""TFLite full-integer models as input to ``refquant model run / compare / explain``
(refquant/model/tflite.py reader, model/ops_tflite.py operators, model/tflite_zoo.py test models;
docs/model.md "TFLite models as input").  LiteRT facts measured on ai-edge-litert 2.3.0."""

import numpy as np
import pytest

from refquant import cli
from refquant.errors import FormatFileError, InvalidValueError, RefquantError
from refquant.model import compare as C
from refquant.model import load, runner
from refquant.model import targets as T
from refquant.model import tflite as tf
from refquant.model import tflite_zoo as zoo
from refquant.model.judge import AGREE, NEW

pytest.importorskip("ai_edge_litert.schema_py_generated", reason="ai-edge-litert (the flatbuffer schema) missing")


def _interpreter():
    pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert missing: LiteRT cannot run")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("tflite")
    return {name: zoo.write(name, d / f"{name}.tflite", seed=0) for name in zoo.MODELS}


def test_reader_reads_tensors_quantization_and_options(models):
    g = load(models["cnn"])
    assert g.format == "tflite" and [n.op_type for n in g.nodes][:3] == ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D"]
    assert g.inputs == [("input", np.dtype(np.float32), (1, 16, 16, 3))]
    conv = g.nodes[1]
    assert conv.name == "CONV_2D_1" and conv.key == "tflite.CONV_2D"
    assert conv.attr("fused_activation_function") == "RELU6" and conv.attr("padding") == "SAME"
    scales, zps, axis = conv.attr("quant")[conv.inputs[1]]
    assert len(scales) == 8 and set(zps) == {0} and axis == 0          # per-channel filter, quantized_dimension 0
    assert g.initializers[conv.inputs[1]].shape == (8, 3, 3, 3) and g.initializers[conv.inputs[1]].dtype == np.int8
    assert g.initializers[conv.inputs[2]].dtype == np.int32
    dw = g.nodes[2]
    assert dw.attr("quant")[dw.inputs[1]][2] == 3                     # depthwise filter: quantized_dimension 3
    assert conv.attr("types")[conv.outputs[0]] == "int8"
    g16 = load(models["int16x8"])
    assert g16.nodes[1].attr("types")[g16.nodes[1].outputs[0]] == "int16"
    assert g16.initializers[g16.nodes[1].inputs[2]].dtype == np.int64


def test_reader_fuzz_only_refquant_errors():
    """Truncated and garbled bytes of a real model: the reader raises only RefquantError."""
    blob = zoo.build("cnn")
    rng = np.random.default_rng(0)
    seen = set()
    for i in range(240):
        b = bytearray(blob)
        if i % 3 == 0:
            b = b[: int(rng.integers(0, len(b)))]
        elif i % 3 == 1:
            for _ in range(int(rng.integers(1, 8))):
                b[int(rng.integers(8, len(b)))] = int(rng.integers(0, 256))
        else:
            j = int(rng.integers(8, len(b) - 4))
            b[j:j + 4] = int(rng.integers(0, 2**32)).to_bytes(4, "little")
        try:
            tf.from_bytes(bytes(b), "fuzz")
            seen.add("ok")
        except RefquantError as exc:
            seen.add(type(exc).__name__)
    assert "FormatFileError" in seen
    with pytest.raises(FormatFileError, match="not a TFLite flatbuffer"):
        tf.from_bytes(b"\x00" * 64, "zeros")


def test_unsupported_operator_names_index_and_op():
    from refquant.peers import litert as lt
    m = lt.Model()
    x = m.tensor("x", (1, 4), "int8", scale=0.5, zero_point=0)
    y = m.tensor("y", (1, 4), "int8", scale=0.5, zero_point=0)
    z = m.tensor("z", (1, 4), "int8", scale=0.5, zero_point=0)
    m.op("RELU", [x], [y])
    m.op("SQUARED_DIFFERENCE", [y, x], [z])
    with pytest.raises(InvalidValueError, match=r"operator 0 \(RELU\).*not supported"):
        tf.from_bytes(m.build([x], [z]), "m")


def test_a_model_litert_refuses_is_a_bad_input(tmp_path, capsys):
    """int8 CONCATENATION of inputs with other scales: refquant (the spec variant) and LiteRT 2.3.0
    (concatenation.cc Prepare) both refuse it; compare exits 2 with one line naming LiteRT."""
    _interpreter()
    from refquant.peers import litert as lt
    m = lt.Model()
    a = m.tensor("a", (1, 4), "int8", scale=0.05, zero_point=-4)
    b = m.tensor("b", (1, 4), "int8", scale=0.07, zero_point=1)
    y = m.tensor("y", (1, 8), "int8", scale=0.1, zero_point=0)
    m.op("CONCATENATION", [a, b], [y], axis=1)
    path = tmp_path / "cat.tflite"
    path.write_bytes(m.build([a, b], [y]))
    assert cli.main(["model", "run", str(path)]) == 2
    assert cli.main(["model", "compare", str(path), "--against", "litert:ref"]) == 2
    assert "LiteRT (ref) refuses" in capsys.readouterr().err


def test_cli_run_and_bad_file(models, tmp_path, capsys):
    assert cli.main(["model", "run", str(models["cnn"]), "--backend", "litert_ref"]) == 0
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(zoo.build("cnn")[:100])
    assert cli.main(["model", "run", str(bad), "--backend", "litert_ref"]) == 2
    assert cli.main(["model", "run", str(models["ops"])]) == 0              # default row for .tflite: litert_ref
    assert cli.main(["model", "run", str(models["cnn"]), "--level", "all"]) == 2
    assert cli.main(["model", "compare", str(models["cnn"]), "--against", "onnxruntime:all"]) == 2
    assert "a TFLite model" in capsys.readouterr().err


def _compare(path, family, backend=None, seed=1):
    g = load(path)
    feeds = runner.seeded_inputs(g, seed)
    t = T.build(f"litert:{family}", str(path), feeds)
    if backend:
        t = T.Target(f"litert:{family} as {backend}", backend, t.graph, t.tensors)
    return C.compare_target(t, feeds), t


@pytest.mark.parametrize("name", ["cnn", "ops", "int16x8", "ops16"])
def test_each_family_agrees_under_its_own_row(models, name):
    """Every tensor LiteRT keeps equals refquant's under the family's row, judged on both inputs."""
    _interpreter()
    for family in ("ref", "optimized", "xnnpack"):
        rep, t = _compare(models[name], family)
        assert len(rep.nodes) == len(t.graph.nodes) and not rep.not_observable
        bad = [(n.node, n.mismatches, n.new_mismatches) for n in rep.nodes if n.klass != AGREE]
        assert not bad, (family, bad)
        if family == "xnnpack" and name == "cnn":    # XNNPACK 2.3.0 declines int8 AVERAGE_POOL_2D and SOFTMAX
            assert any("took 8 of 10 operators; the optimized kernels ran AVERAGE_POOL_2D_5, SOFTMAX_8" in n
                       for n in rep.notes), rep.notes


def test_reference_vs_optimized_conv_is_named(models, capsys):
    """The classic report on a TFLite model: reference and optimized CONV_2D part at the conv
    (sx*sw/sy = 2^-3, ties), tflite_double vs ruy_x86; each agrees with its own row."""
    _interpreter()
    g = load(models["conv_ties"])
    feeds = runner.seeded_inputs(g, 1)
    reps, parts = C.compare(str(models["conv_ties"]), ["litert:ref", "litert:optimized"], feeds)
    assert all(not r.diverges for r, _ in reps)
    p = parts[0]
    assert p["node_a"] == p["node_b"] == "CONV_2D_1" and p["elements_differ"] > 0
    assert "'tflite_double'" in p["arithmetic_a"] and "'ruy_x86'" in p["arithmetic_b"]
    assert cli.main(["model", "compare", str(models["conv_ties"]), "--against", "litert:ref",
                     "--against", "litert:optimized", "--against", "litert:xnnpack"]) == 0
    assert "ruy_x86" in capsys.readouterr().out


def test_wrong_row_is_diagnosed(models):
    """LiteRT's reference run judged as if it were the optimized kernels: CONV_2D is the new
    divergence, the diagnosis names tflite_double (0 mismatches), the audit agrees, and explain traces it."""
    _interpreter()
    rep, t = _compare(models["conv_ties"], "ref", backend="litert_optimized")
    conv = next(n for n in rep.nodes if n.node == "CONV_2D_1")
    assert conv.klass == NEW and rep.first_divergent == "CONV_2D_1"
    best = rep.diagnosis[0]
    assert best["mismatches"] == 0 and best["method"] == "tflite_double"
    assert "tflite_double" in rep.audit["verdict"]
    assert "ruy x86 two roundings" in rep.explain and "implementation gave" in rep.explain
    assert next(n for n in rep.nodes if n.node == "DEQUANTIZE_2").klass == "inherited"


def test_explain_a_tflite_node(models, capsys):
    path = models["cnn"]
    assert cli.main(["model", "explain", str(path), "--node", "CONV_2D_1", "--index", "0,2,3,1",
                     "--backend", "litert_ref"]) == 0
    out = capsys.readouterr().out
    assert "tflite_double" in out and "QLinearConv element" in out
    assert cli.main(["model", "explain", str(path), "--node", "ADD_3", "--index", "0,2,3,1",
                     "--backend", "litert_ref"]) == 0
    out = capsys.readouterr().out
    assert "a = " in out and "b = " in out and "variant 'tflite_ref' of 'add'" in out


def test_per_tensor_filter_same_stride_dilation_fused_activations(tmp_path):
    """Per-tensor CONV_2D filter, SAME padding with stride 2, a dilated depthwise conv, fused
    RELU / RELU_N1_TO_1 / RELU6: equal to LiteRT ref and xnnpack; the optimized family's dilated
    depthwise variant is refused, naming the node."""
    _interpreter()
    from refquant.peers import litert as lt
    rng = np.random.default_rng(5)
    m = lt.Model()
    x = m.tensor("x", (1, 9, 10, 4), "int8", scale=0.05, zero_point=-7)
    w = m.const("w", rng.integers(-127, 128, (6, 3, 3, 4)).astype(np.int8), scale=0.01, zero_point=0)
    b = m.const("b", rng.integers(-500, 500, 6).astype(np.int32), scale=0.0005, zero_point=0)
    y = m.tensor("y", (1, 5, 5, 6), "int8", scale=0.1, zero_point=4)
    m.op("CONV_2D", [x, w, b], [y], padding="SAME", stride_h=2, stride_w=2, fused_activation_function="RELU")
    wd = m.const("wd", rng.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8), scale=[0.01] * 6, zero_point=[0] * 6,
                 axis=3)
    bd = m.const("bd", rng.integers(-500, 500, 6).astype(np.int32), scale=[0.001] * 6, zero_point=[0] * 6)
    yd = m.tensor("yd", (1, 5, 5, 6), "int8", scale=0.07, zero_point=-3)
    m.op("DEPTHWISE_CONV_2D", [y, wd, bd], [yd], padding="SAME", stride_h=1, stride_w=1, depth_multiplier=1,
         dilation_h_factor=2, dilation_w_factor=2, fused_activation_function="RELU_N1_TO_1")
    z = m.tensor("z", (1, 5, 5, 6), "int8", scale=0.06, zero_point=1)
    m.op("ADD", [yd, y], [z], fused_activation_function="RELU6")
    path = tmp_path / "extra.tflite"
    path.write_bytes(m.build([x], [z]))
    for family in ("ref", "xnnpack"):
        rep, _ = _compare(path, family, seed=3)
        assert [n.klass for n in rep.nodes] == [AGREE] * 3, family
    g = load(path)
    with pytest.raises(InvalidValueError, match="DEPTHWISE_CONV_2D_1.*dilated"):
        runner.run(g, runner.seeded_inputs(g, 3), "litert_optimized")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["resnet", "convnet"])
def test_zoo_networks_as_tflite_equal_their_onnx_run(tmp_path, kind):
    """The zoo's int8 QOperator networks (torch export + quantize_static, per-channel) written as
    TFLite models with the same parameters (refquant/model/litert.py convert): refquant's run of the
    .tflite file equals its run of the ONNX model tensor for tensor (NHWC vs NCHW) under each LiteRT
    row, and LiteRT 2.3.0 running the file agrees with it on every tensor."""
    _interpreter()
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from refquant.model import litert as L
    from refquant.model import zoo as onnx_zoo
    g = load(onnx_zoo.build(kind, tmp_path, "qop", True, activations="int8"))
    feeds = runner.seeded_inputs(g, 1)
    for family, row in L.ROWS.items():
        res = runner.run(g, feeds, row)
        blob, feed, c = L.convert(g, {k: v.v.shape for k, v in res.values.items()})
        path = tmp_path / f"{kind}.tflite"
        path.write_bytes(blob)
        tg = load(path)
        fed = res.values[feed].v
        tfeeds = {tg.inputs[0][0]: np.transpose(fed, (0, 2, 3, 1)) if feed in c.nhwc else fed}
        tres = runner.run(tg, tfeeds, row)
        for name, t in c.t.items():
            a = tres.values[t.name].v
            np.testing.assert_array_equal(np.transpose(a, (0, 3, 1, 2)) if name in c.nhwc else a, res.values[name].v)
        got = tf.run_litert(tg, tfeeds, family)
        assert all(np.array_equal(got[n.outputs[0]], tres.values[n.outputs[0]].v) for n in tg.nodes), family


def test_dumps_of_a_tflite_model_name_the_first_divergent_node(models, tmp_path, capsys):
    """run --dump, one element of the depthwise conv's output changed by 1 LSB: compare against the
    dumps exits 1 and names DEPTHWISE_CONV_2D_2 as the first new divergence, with its trace."""
    import json
    d = tmp_path / "d"
    assert cli.main(["model", "run", str(models["cnn"]), "--dump", str(d)]) == 0
    g = load(models["cnn"])
    out = next(n for n in g.nodes if n.op_type == "DEPTHWISE_CONV_2D").outputs[0]
    f = d / json.loads((d / "names.json").read_text())[out]
    a = np.load(f)
    a[0, 2, 3, 1] += 1
    np.save(f, a)
    capsys.readouterr()
    assert cli.main(["model", "compare", str(models["cnn"]), "--against", f"dumps:{d}", "--json"]) == 1
    t = json.loads(capsys.readouterr().out)["targets"][0]
    assert t["first_divergent"] == "DEPTHWISE_CONV_2D_2"
    np.save(f, np.load(f) - (np.arange(a.size).reshape(a.shape) == np.ravel_multi_index((0, 2, 3, 1), a.shape)))
    out = next(n for n in g.nodes if n.op_type == "ADD").outputs[0]      # now an element-wise node diverges
    f = d / json.loads((d / "names.json").read_text())[out]
    a = np.load(f)
    a[0, 1, 1, 1] += 1
    np.save(f, a)
    assert cli.main(["model", "compare", str(models["cnn"]), "--against", f"dumps:{d}", "--json"]) == 1
    t = json.loads(capsys.readouterr().out)["targets"][0]
    assert t["first_divergent"] == "ADD_3" and "variant 'tflite_ref' of 'add'" in t["explain"]
    assert t["diagnosis"] and t["diagnosis"][0]["mismatches"] == 1


def test_elementwise_variants_once_per_distinct_input_equal_the_whole_tensor():
    """ops_tflite.ELEMENTWISE: variants computed once per distinct value / pair give what the spec
    function gives on the whole tensor in order (int8 and int16, broadcasting, repeated values)."""
    from refquant import backends
    from refquant.model.ops_tflite import ELEMENTWISE, pairwise
    rng = np.random.default_rng(7)
    f32 = lambda v: float(np.float32(v))    # noqa: E731
    for key in sorted(ELEMENTWISE):
        op, name = key[:2]
        fn = backends.op_variants(op)[name]
        for dt in key[2:] or ("int8", "int16"):
            info = np.iinfo(dt)
            z = 0 if dt == "int16" else 5
            if op == "quantize":
                x = np.round(rng.standard_normal(200) * 40).astype(np.float32) / np.float32(8)  # ties and repeats
                whole = fn(x.tolist(), 0.25, z, dtype=dt)
                u, inv = np.unique(x.view(np.uint32), return_inverse=True)
                once = np.asarray(fn(u.view(np.float32).tolist(), 0.25, z, dtype=dt))[inv]
            elif op == "dequantize":
                q = rng.integers(info.min, info.max, 200, endpoint=True).astype(dt)
                whole = fn(q.tolist(), f32(0.03), z, dtype=dt)
                u, inv = np.unique(q, return_inverse=True)
                once = np.asarray(fn(u.tolist(), f32(0.03), z, dtype=dt), np.float32)[inv]
            else:
                a = rng.integers(-60, 60, (3, 1, 40)).astype(dt)
                b = rng.integers(-60, 60, (1, 4, 40)).astype(dt)
                args = (f32(0.05), z, f32(0.04), -z, f32(0.07))
                whole = fn(a.tolist(), *args[:2], b.tolist(), *args[2:], z and 1, dtype=dt)
                once = pairwise(lambda p, q: fn(p, *args[:2], q, *args[2:], z and 1, dtype=dt),
                                a, b, dt)
            np.testing.assert_array_equal(np.asarray(whole).reshape(np.shape(once)), once, err_msg=f"{op} {name} {dt}")


def test_garbled_models_that_still_read_run_or_fail_cleanly():
    """Garbled copies of the cnn model that the reader accepts are run under litert_ref: each runs
    or raises a RefquantError (a seeded sample; 300 such runs on the ops model, 2026-12-03, the same)."""
    blob = zoo.build("cnn")
    rng = np.random.default_rng(12)
    ran = 0
    for _ in range(30):
        b = bytearray(blob)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(8, len(b)))] = int(rng.integers(0, 256))
        try:
            g = tf.from_bytes(bytes(b), "fuzz")
            runner.run(g, runner.seeded_inputs(g, 1), "litert_ref")
            ran += 1
        except RefquantError:
            pass
    assert ran > 0


def _dw_model(C=12, seed=3):
    """QUANTIZE -> DEPTHWISE_CONV_2D (C channels: one block of 8 and a tail of C - 8; sx*sw/sy = 2^-3,
    ties) -> DEQUANTIZE, 7 x 7 x C = 588 elements (not a multiple of 8: a QUANTIZE tail)."""
    from refquant.peers import litert as lt
    rng = np.random.default_rng(seed)
    m = lt.Model()
    x = m.tensor("x", (1, 7, 7, C), "float32")
    q = m.tensor("q", (1, 7, 7, C), "int8", scale=0.5, zero_point=-1)
    m.op("QUANTIZE", [x], [q])
    w = m.const("w", rng.integers(-127, 128, (1, 3, 3, C)).astype(np.int8), scale=[0.25] * C, zero_point=[0] * C,
                axis=3)
    b = m.const("b", rng.integers(-50, 50, C).astype(np.int32), scale=[0.125] * C, zero_point=[0] * C)
    y = m.tensor("y", (1, 7, 7, C), "int8", scale=1.0, zero_point=2)
    m.op("DEPTHWISE_CONV_2D", [q, w, b], [y], padding="SAME", stride_h=1, stride_w=1, depth_multiplier=1,
         fused_activation_function="NONE")
    out = m.tensor("out", (1, 7, 7, C), "float32")
    m.op("DEQUANTIZE", [y], [out])
    return m.build([x], [out])


def test_numpy_forms_equal_the_optimized_variants(tmp_path):
    """ops_tflite's numpy forms of the optimized QUANTIZE / DEQUANTIZE (8-element blocks, distinct
    values once, then the tail) and DEPTHWISE_CONV_2D (depthwise_blocks: ruy_x86 blocks of 8 channels,
    tflite_double tail) equal the spec variants of refquant/tflite_ops.py / tflite_conv.py."""
    from refquant import backends
    from refquant.model.ops_tflite import _per_value, depthwise_blocks, _pads
    from refquant.model.registry import Context
    ctx = Context("litert_optimized")
    rng = np.random.default_rng(4)
    x = (np.round(rng.standard_normal(203) * 30) / 4).astype(np.float32)      # ties; tail of 3
    q = rng.integers(-128, 128, 203).astype(np.int8)
    fq, fd = backends.variant(ctx.backend, "quantize"), backends.variant(ctx.backend, "dequantize")
    np.testing.assert_array_equal(_per_value(lambda v: fq(v, 0.5, -3, dtype="int8"), x, "quantize", ctx, "int8", np.int8),
                                  np.asarray(fq(x.tolist(), 0.5, -3, dtype="int8"), np.int8))
    np.testing.assert_array_equal(_per_value(lambda v: fd(v, 0.375, 7, dtype="int8"), q, "dequantize", ctx, "int8",
                                             np.float32), np.asarray(fd(q.tolist(), 0.375, 7, dtype="int8"), np.float32))
    from refquant.tflite_conv import tflite_depthwise_conv_optimized
    g = tf.from_bytes(_dw_model(), "dw")
    node = g.nodes[1]
    xi = rng.integers(-60, 60, (1, 7, 7, 12)).astype(np.int8)
    w, b = g.initializers[node.inputs[1]], g.initializers[node.inputs[2]]
    st, pads, _ = _pads(node, 7, 7, 3, 3)
    fast = depthwise_blocks(xi, w, b, (0.5, -1, [0.25] * 12, 1.0, 2), st, pads, "int8")
    xp = np.pad(xi, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3]), (0, 0)), constant_values=-1)
    spec = tflite_depthwise_conv_optimized(xp, 0.5, -1, w, [0.25] * 12, 1.0, 2, bias=[int(v) for v in b])
    np.testing.assert_array_equal(fast, np.asarray(spec, np.int8))


def test_depthwise_block_tail_and_quantize_tail_agree_with_litert(tmp_path):
    """12 depthwise channels (a block of 8 and a tail of 4) and a 588-element QUANTIZE (tail 4),
    under each LiteRT family: every node agrees; reference and optimized part at the depthwise conv."""
    _interpreter()
    path = tmp_path / "dw.tflite"
    path.write_bytes(_dw_model())
    runs = {}
    for family in ("ref", "optimized", "xnnpack"):
        rep, t = _compare(path, family)
        assert [n.klass for n in rep.nodes] == [AGREE] * 3, family
        runs[family] = t.tensors["y"]
    differ = np.argwhere(runs["ref"] != runs["optimized"])
    assert differ.size and set(differ[:, 3].tolist()) <= set(range(8))     # the tail channels run the reference


def test_movement_operators_agree_with_litert(tmp_path):
    """SLICE (size -1), STRIDED_SLICE (negative stride, begin / end / shrink-axis masks, negative
    indices), SQUEEZE, EXPAND_DIMS (negative axis): every family's tensors equal refquant's."""
    _interpreter()
    from refquant.peers import litert as lt
    m = lt.Model()

    def t(name, shape):
        return m.tensor(name, shape, "int8", scale=0.1, zero_point=2)

    def c(name, v):
        return m.const(name, np.array(v, np.int32))
    x = t("x", (1, 6, 5, 4))
    s1 = t("slice", (1, 3, 4, 2))
    m.op("SLICE", [x, c("b", [0, 2, 1, 1]), c("s", [-1, 3, -1, 2])], [s1])
    s2 = t("ss", (3, 2, 4))
    m.op("STRIDED_SLICE", [x, c("b2", [0, 5, 0, 0]), c("e2", [1, 0, 5, 4]), c("st2", [1, -2, 3, 1])], [s2],
         begin_mask=4, end_mask=8, shrink_axis_mask=1)
    s3 = t("sq", (6, 5, 4))
    m.op("SQUEEZE", [x], [s3], squeeze_dims=[0])
    s4 = t("ed", (1, 6, 5, 4))
    m.op("EXPAND_DIMS", [s3, c("ax", [-4])], [s4])
    s5 = t("ss2", (1, 2, 5, 4))
    m.op("STRIDED_SLICE", [x, c("b3", [0, -3, 0, 0]), c("e3", [1, -1, 5, 4]), c("st3", [1, 1, 1, 1])], [s5])
    path = tmp_path / "mov.tflite"
    path.write_bytes(m.build([x], [s1, s2, s4, s5]))
    for family in ("ref", "optimized", "xnnpack"):
        rep, t_ = _compare(path, family)
        assert [n.klass for n in rep.nodes] == [AGREE] * 5, family
    assert t_.tensors["ss"].shape == (3, 2, 4) and t_.tensors["ed"].shape == (1, 6, 5, 4)


def test_fully_connected_forms_and_padv2_agree_with_litert(tmp_path):
    """FULLY_CONNECTED with a per-tensor weight, a rank-3 input, keep_num_dims true (RELU_N1_TO_1)
    and false (no bias), and PADV2 with a constant value: every family's tensors equal refquant's."""
    _interpreter()
    from refquant.peers import litert as lt
    rng = np.random.default_rng(2)
    m = lt.Model()
    x = m.tensor("x", (2, 3, 10), "int8", scale=0.05, zero_point=-4)
    w = m.const("w", rng.integers(-127, 128, (5, 10)).astype(np.int8), scale=0.02, zero_point=0)
    b = m.const("b", rng.integers(-100, 100, 5).astype(np.int32), scale=0.001, zero_point=0)
    y = m.tensor("y", (2, 3, 5), "int8", scale=0.08, zero_point=3)
    m.op("FULLY_CONNECTED", [x, w, b], [y], keep_num_dims=True, fused_activation_function="RELU_N1_TO_1")
    y2 = m.tensor("y2", (6, 5), "int8", scale=0.08, zero_point=3)
    m.op("FULLY_CONNECTED", [x, w, None], [y2], keep_num_dims=False, fused_activation_function="NONE")
    p2 = m.tensor("p2", (2, 5, 12), "int8", scale=0.05, zero_point=-4)
    m.op("PADV2", [x, m.const("pads", np.array([[0, 0], [1, 1], [0, 2]], np.int32)),
                   m.const("cv", np.array([9], np.int8), scale=0.05, zero_point=-4)], [p2])
    path = tmp_path / "fc.tflite"
    path.write_bytes(m.build([x], [y, y2, p2]))
    for family in ("ref", "optimized", "xnnpack"):
        rep, t = _compare(path, family)
        assert [n.klass for n in rep.nodes] == [AGREE] * 3, family
    assert t.tensors["y"].shape == (2, 3, 5) and t.tensors["p2"][0, 0, 0] == 9
