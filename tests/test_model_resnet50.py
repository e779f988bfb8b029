"""The ResNet-50-shaped zoo model (refquant/model/zoo.py kind 'resnet50': stem 7x7/2 + max pool, bottleneck
stages 3-4-6-3, global average pool, FC) at a tiny size agrees with onnxruntime 1.32.0 at level 'all'
(docs/model.md §5; bench/model.py --kind resnet50 runs the full size), and the NHWC max pool onnxruntime's
level 'all' makes of its u8 MaxPool."""

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from refquant import cli


def test_nhwc_max_pool_agrees_with_onnxruntime_all(tmp_path, capsys):
    """A QDQ 1x1 Conv then a u8 MaxPool 3x3/2 pad 1: at level 'all' onnxruntime 1.32.0 runs the pool as
    com.microsoft.NhwcMaxPool between Transposes; refquant's NhwcMaxPool agrees on all 200 elements, and
    the fusion model's op counts (NhwcMaxPool counted as MaxPool) predict onnxruntime's graph."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto
    from onnx import helper as h
    from onnx import numpy_helper as nh
    w = np.random.default_rng(3).integers(-127, 128, (8, 8, 1, 1)).astype(np.int8)
    inits = [nh.from_array(np.array(v, t), n) for n, v, t in
             [("s", 0.05, np.float32), ("z", 128, np.uint8), ("sw", 0.01, np.float32), ("zw", 0, np.int8),
              ("sc", 0.2, np.float32)]] + [nh.from_array(w, "w")]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]), h.make_node("DequantizeLinear", ["q", "s", "z"], ["dx"]),
             h.make_node("DequantizeLinear", ["w", "sw", "zw"], ["dw"]), h.make_node("Conv", ["dx", "dw"], ["c"]),
             h.make_node("QuantizeLinear", ["c", "sc", "z"], ["qc"]), h.make_node("DequantizeLinear", ["qc", "sc", "z"], ["d"]),
             h.make_node("MaxPool", ["d"], ["m"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             h.make_node("QuantizeLinear", ["m", "sc", "z"], ["qm"]), h.make_node("DequantizeLinear", ["qm", "sc", "z"], ["y"])]
    graph = h.make_graph(nodes, "nhwc_max_pool", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 9, 9])],
                         [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 5, 5])], inits)
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "mp.onnx"))
    rc = cli.main(["model", "compare", str(tmp_path / "mp.onnx"), "--json", "--against=onnxruntime:all"])
    t = json.loads(capsys.readouterr().out)["targets"][0]
    assert rc == 0 and t["counts"]["new divergence"] == 0 and t["verdict"] == "agree", t["first_divergent"]
    pools = [n for n in t["nodes"] if n["op"] == "com.microsoft.NhwcMaxPool"]
    assert len(pools) == 1 and pools[0]["elements"] == 200 and pools[0]["class"] == "agree", t["nodes"]
    assert "predicts the same ops" in t["notes"][1], t["notes"]


@pytest.mark.slow
def test_tiny_resnet50_agrees_with_onnxruntime_all(tmp_path, capsys):
    """width 0.125, 1x3x32x32, QDQ per channel (torch export + quantize_static, seeded): 53 QLinearConv,
    16 QLinearAdd and ORT's NHWC rewrite of the u8 MaxPool (com.microsoft.NhwcMaxPool) after level 'all';
    every node judged on both inputs, 0 new divergences (~10 s to build, ~3 s to compare, shared 2 cores)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from refquant.model import zoo
    folder = Path(os.environ.get("REFQUANT_MODEL_ZOO") or tmp_path)
    path = zoo.build("resnet50", folder, "qdq", True)
    rc = cli.main(["model", "compare", str(path), "--json", "--against=onnxruntime:all"])
    t = json.loads(capsys.readouterr().out)["targets"][0]
    assert rc == 0 and t["verdict"] == "agree" and t["counts"]["new divergence"] == 0, t["first_divergent"]
    ops = Counter(n["op"] for n in t["nodes"])
    assert ops["com.microsoft.QLinearConv"] == 53 and ops["com.microsoft.QLinearAdd"] == 16, ops
    assert ops["com.microsoft.NhwcMaxPool"] == 1 and ops["com.microsoft.QGemm"] == 1, ops
