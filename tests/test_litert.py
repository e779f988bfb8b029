"""LiteRT (ai-edge-litert 2.3.0) as a peer: the model builder and the three kernel families."""

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

from refquant.errors import InvalidValueError, ShapeError, UnknownNameError
from refquant.peers import litert

ACCS = [1, 2, 3, -1, -2, -3, 5, 6, -6]


def _one_by_one(opcode, **opts):
    """A 1x1 op: input scale 0.5, weight 0.5, output 1.0 -> multiplier 2^30, shift -1 (M = 1/4)."""
    m = litert.Model()
    if opcode == "FULLY_CONNECTED":
        x = m.tensor("x", (9, 1), "int8", scale=0.5, zero_point=0)
        w = m.const("w", np.ones((1, 1), np.int8), scale=[0.5], zero_point=[0])
        y = m.tensor("y", (9, 1), "int8", scale=1.0, zero_point=0)
    else:
        x = m.tensor("x", (1, 1, 9, 1), "int8", scale=0.5, zero_point=0)
        w = m.const("w", np.ones((1, 1, 1, 1), np.int8), scale=[0.5], zero_point=[0],
                    axis=3 if opcode == "DEPTHWISE_CONV_2D" else 0)
        y = m.tensor("y", (1, 1, 9, 1), "int8", scale=1.0, zero_point=0)
    b = m.const("b", np.zeros(1, np.int32), scale=[0.25], zero_point=[0])
    m.op(opcode, [x, w, b], [y], **opts)
    return m.build([x], [y]), np.array(ACCS, np.int8).reshape(x.shape)


@pytest.mark.parametrize("opcode,ref,opt,xnn", [
    ("FULLY_CONNECTED", [0, 1, 1, 0, -1, -1, 1, 2, -2], [1, 1, 1, 0, 0, 0, 2, 2, -1], [0, 0, 1, 0, 0, -1, 1, 2, -2]),
    ("CONV_2D", [1, 1, 1, 0, -1, -1, 2, 2, -2], [1, 1, 1, 0, 0, 0, 2, 2, -1], [0, 0, 1, 0, 0, -1, 1, 2, -2]),
])
def test_tie_example_three_families(opcode, ref, opt, xnn):
    opts = {} if opcode == "FULLY_CONNECTED" else {"padding": "VALID", "stride_w": 1, "stride_h": 1}
    blob, x = _one_by_one(opcode, **opts)
    assert blob[4:8] == b"TFL3"
    for fam, want in (("ref", ref), ("optimized", opt), ("xnnpack", xnn)):
        r = litert.run(blob, {"x": x}, fam)
        assert r.outputs["y"].ravel().tolist() == want, fam
        assert r.delegated == [fam == "xnnpack"]


def test_multi_op_preserve_and_delegation():
    m = litert.Model()
    x = m.tensor("x", (1, 4, 4, 2), "int8", scale=0.5, zero_point=1)
    p = m.const("p", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    t = m.tensor("t", (1, 6, 6, 2), "int8", scale=0.5, zero_point=1)
    y = m.tensor("y", (1, 3, 3, 2), "int8", scale=0.5, zero_point=1)
    z = m.tensor("z", (1, 2, 2, 2), "int8", scale=0.5, zero_point=1)
    m.op("PAD", [x, p], [t])
    m.op("MAX_POOL_2D", [t], [y], padding="VALID", stride_w=2, stride_h=2, filter_width=2, filter_height=2)
    m.op("AVERAGE_POOL_2D", [y], [z], padding="VALID", stride_w=1, stride_h=1, filter_width=2, filter_height=2)
    blob = m.build([x], [z])
    xi = np.random.default_rng(0).integers(-128, 128, (1, 4, 4, 2)).astype(np.int8)
    r = litert.run(blob, {"x": xi}, "xnnpack", preserve=True)
    # XNNPACK 2.3.0 takes int8 PAD and MAX_POOL_2D, declines int8 AVERAGE_POOL_2D
    assert r.delegated == [True, True, False]
    padded = r.tensors["t"]
    assert (padded[0, 0] == 1).all() and (padded[0, 1:5, 1:5] == xi[0]).all()   # pads with the zero point
    assert (r.tensors["y"] == padded.reshape(1, 3, 2, 3, 2, 2).max(axis=(2, 4))).all()
    for fam in ("ref", "optimized"):
        assert litert.run(blob, {"x": xi}, fam).delegated == [False, False, False]


def test_builder_errors():
    m = litert.Model()
    m.tensor("x", (1,), "int8", scale=1.0)
    with pytest.raises(InvalidValueError, match="twice"):
        m.tensor("x", (1,), "int8")
    with pytest.raises(UnknownNameError):
        m.tensor("y", (1,), "int4")
    with pytest.raises(ShapeError):
        m.tensor("z", (2,), "int8", scale=[1.0, 2.0], zero_point=[0, 0, 0])
    with pytest.raises(UnknownNameError):
        m.op("NOT_AN_OP", [], [])
    with pytest.raises(UnknownNameError):
        litert.interpreter(b"", "gpu")
