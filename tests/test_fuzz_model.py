"""Hostile input to the readers of ``refquant model`` (the ONNX model file, the dump folder's
names.json and .npy files, the --inputs .npz): exit 0/1, or exit 2 with one error line; never a
traceback, exit 3 or a hang (docs/model.md; the rule of tests/fuzz_support.py)."""

import json
import os
import shutil

import fuzz_support as fz
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("REFQUANT_MODEL_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("REFQUANT_FUZZ_RANDOM"),
                database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    d = tmp_path_factory.mktemp("model_fuzz")
    inits = [numpy_helper.from_array(np.array(0.25, np.float32), "s"), numpy_helper.from_array(np.array(3, np.uint8), "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dequant")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), d / "m.onnx")
    rc, _, err = fz.run_cli(["model", "run", d / "m.onnx", "--dump", d / "dump"])
    assert rc == 0, err
    return d


def _clean(argv):
    rc, out, err = fz.run_cli(argv, seconds=30)
    found = fz.problems(rc, out, err)
    assert not found, (argv, rc, found, err[-1500:])


@FUZZ
@given(data=st.data())
def test_fuzz_model_file(box, data):
    good = (box / "m.onnx").read_bytes()
    kind = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        blob = data.draw(st.binary(max_size=300))
    elif kind == "truncated":
        blob = good[:data.draw(st.integers(0, len(good)))]
    else:
        i = data.draw(st.integers(0, len(good) - 1))
        blob = good[:i] + bytes([good[i] ^ data.draw(st.integers(1, 255))]) + good[i + 1:]
    p = box / "bad.onnx"
    p.write_bytes(blob)
    _clean(["model", "run", p])


@FUZZ
@given(data=st.data())
def test_fuzz_dumps(box, data):
    d = box / "dumps_fuzz"
    if d.exists():
        shutil.rmtree(d)
    shutil.copytree(box / "dump", d)
    names = json.loads((d / "names.json").read_text())
    what = data.draw(st.sampled_from(["names", "npy"]))
    if what == "names":
        value = data.draw(st.one_of(st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
                                    st.just(json.dumps({"q": "../m.onnx"})), st.just(json.dumps([1, 2])),
                                    st.just(json.dumps({k: "missing.npy" for k in names}))))
        (d / "names.json").write_text(value, encoding="latin-1")
    else:
        f = d / names[data.draw(st.sampled_from(sorted(names)))]
        good = f.read_bytes()
        f.write_bytes(data.draw(st.one_of(st.binary(max_size=120), st.builds(lambda n: good[:n],
                                                                             st.integers(0, len(good))))))
    _clean(["model", "compare", box / "m.onnx", "--against", f"dumps:{d}"])


@FUZZ
@given(blob=st.binary(max_size=200))
def test_fuzz_inputs_npz(box, blob):
    p = box / "in.npz"
    p.write_bytes(blob)
    _clean(["model", "run", box / "m.onnx", "--inputs", p])


def test_inputs_npz_wrong_dtype_and_shape(box):
    for arr in (np.zeros((2, 3), np.float64), np.zeros((3, 2), np.float32)):
        np.savez(box / "w.npz", x=arr)
        rc, _, err = fz.run_cli(["model", "run", box / "m.onnx", "--inputs", box / "w.npz"])
        assert rc == 2 and "'x'" in err and not fz.problems(rc, "", err)
