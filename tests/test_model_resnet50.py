"""The ResNet-50-shaped zoo model (refquant/model/zoo.py kind 'resnet50': stem 7x7/2 + max pool, bottleneck
stages 3-4-6-3, global average pool, FC) at a tiny size agrees with onnxruntime 1.32.0 at level 'all'
(docs/model.md §5; bench/model.py --kind resnet50 runs the full size)."""

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from refquant import cli


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
