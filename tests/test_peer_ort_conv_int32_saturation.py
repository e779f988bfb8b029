"""onnxruntime 1.32.0 QLinearConv with zero-point-0 int8 weights saturates its int32 accumulator.

Named peer deviation (docs/reference/onnx.md §4), measured on an AVX-512 VNNI host: for uint8 x,
int8 weights whose zero point is 0 (the symmetric case) and a multiple of 16 output channels,
QLinearConv (3x3 and 1x1 alike) sums the *raw* products x * w in an int32 that saturates
(VPDPBUSDS) and subtracts zx * sum(w) afterwards.
So past K * 255 * 127 > 2^31 it prints INT32_MAX's (or INT32_MIN's) code where the contract's
int32 wraps -- and with an x zero point it differs even where the centred sum (x - zx) * w fits in
int32.  With 17 or 4 output channels, or a nonzero weight zero point, it wraps like the contract.
Cases use one value per tensor, so every partial sum has one sign and the order of the steps
cannot matter; the order of mixed-sign steps is not modelled.
"""
import numpy as np
import pytest

from peers import need
from refquant import ops, requant as rq
from refquant.peers.versions import cpu_flags

ort = need("onnxruntime")
onnx = need("onnx")

SX = SW = float(np.float32(1e-3))
SY = 10.0
C = 8192                    # K = 8192 * 3 * 3 = 73728 > 2^31 / (255 * 127)


def qlinear_conv_ort(x, w, zx, zw, zy, threads=1):
    from onnx import TensorProto, helper, numpy_helper
    m = w.shape[0]
    oh, ow = x.shape[2] - w.shape[2] + 1, x.shape[3] - w.shape[3] + 1
    inits = [numpy_helper.from_array(np.array(SX, np.float32), "sx"), numpy_helper.from_array(np.array(zx, np.uint8), "zx"),
             numpy_helper.from_array(w, "W"), numpy_helper.from_array(np.array(SW, np.float32), "sw"),
             numpy_helper.from_array(np.array(zw, np.int8), "zw"), numpy_helper.from_array(np.array(SY, np.float32), "sy"),
             numpy_helper.from_array(np.array(zy, np.uint8), "zy")]
    node = helper.make_node("QLinearConv", ["X", "sx", "zx", "W", "sw", "zw", "sy", "zy"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.UINT8, list(x.shape))],
                              [helper.make_tensor_value_info("Y", TensorProto.UINT8, [1, m, oh, ow])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0].ravel().tolist()


def ort_code(acc, zy):
    """The code onnxruntime's requantization (method 'ort') gives an accumulator."""
    params = rq.derive_params("ort", SX, SW, SY)
    return rq.requantize([acc], "ort", params, zy, "uint8")[0]


def case(xv, wv, zx, zw, zy, c=C, k=3, m=16):
    """x, w (m output channels, all equal), the contract's code of one channel (the oracle, int32
    wrap), and the code of the raw sum saturated to int32 before the zero-point term."""
    x = np.full((1, c, k, k), xv, np.uint8)
    w = np.full((m, c, k, k), wv, np.int8)
    kk = c * k * k
    spec = ops.qlinear_conv(x.tolist(), SX, zx, w[:1].tolist(), SW, zw, SY, zy, method="ort", w_type="int8")
    raw = kk * xv * wv                                   # the raw sum sum(x * w), one sign throughout
    saturated = max(-2**31, min(2**31 - 1, raw)) - zx * kk * wv
    return x, w, int(np.array(spec).ravel()[0]), ort_code(saturated, zy)



pytestmark = pytest.mark.skipif("avx512_vnni" not in cpu_flags(),
                                reason="measured on AVX-512 VNNI (VPDPBUSDS); other MLAS kernels not measured")


@pytest.mark.parametrize("xv, wv, zx, zy, threads, c, k", [
    (255, 127, 0, 0, 1, C, 3),      # 2387681280 -> INT32_MAX: code 215 (the wrapped sum gives 0, the exact 239)
    (255, -128, 0, 255, 1, C, 3),   # -> INT32_MIN: code 40 (wrapped: 255)
    (255, -128, 0, 255, 2, C, 3),
    (255, 127, 100, 0, 1, C, 3),    # centred sum 1452810240 fits int32 (spec 145); the raw sum saturated first: 121
    (255, 127, 0, 0, 1, 70000, 1),  # 1x1, K = 70000
])
def test_symmetric_weights_saturate_the_raw_sum(xv, wv, zx, zy, threads, c, k):
    x, w, spec, model = case(xv, wv, zx, 0, zy, c, k)
    got = qlinear_conv_ort(x, w, zx, 0, zy, threads)
    assert got == [model] * 16, (got, model, spec)
    assert model != spec, "the case does not tell saturation from the contract"


def test_the_centred_case_by_value():
    # the numbers of docs/reference/onnx.md §4, so that a change of either side shows by value
    x, w, spec, model = case(255, 127, 100, 0, 0)
    assert (spec, model) == (145, 121)
    # the oracle's saturating accumulator clamps the centred terms: it reproduces zx = 0, not zx = 100
    from refquant.integers import Accumulator
    sat = [ops.qlinear_conv(x.tolist(), SX, zx, w[:1].tolist(), SW, 0, SY, 0, method="ort", w_type="int8",
                            accumulator=Accumulator(32, "saturate"))[0][0][0][0] for zx in (0, 100)]
    assert sat == [case(255, 127, 0, 0, 0)[3], 145]


@pytest.mark.parametrize("zw, c, k, m", [(1, C, 3, 16), (0, C, 3, 17), (0, 70000, 1, 4)])
def test_other_paths_wrap(zw, c, k, m):
    # a nonzero weight zero point, 17 output channels, a 1x1 conv with 4 output channels: wrap
    x, w, spec, model = case(255, 127, 0, zw, 0, c, k, m)
    assert qlinear_conv_ort(x, w, 0, zw, 0) == [spec] * m
    assert spec != model


def test_a_constant_x_is_folded_and_wraps():
    # the same node with x as an initializer: onnxruntime folds it at session creation, and that
    # evaluation wraps like the contract (so a constant-folded graph and a fed one disagree)
    from onnx import TensorProto, helper, numpy_helper
    x, w, spec, model = case(255, 127, 0, 0, 0)
    inits = [numpy_helper.from_array(x, "X"), numpy_helper.from_array(np.array(SX, np.float32), "sx"),
             numpy_helper.from_array(np.array(0, np.uint8), "zx"), numpy_helper.from_array(w, "W"),
             numpy_helper.from_array(np.array(SW, np.float32), "sw"), numpy_helper.from_array(np.array(0, np.int8), "zw"),
             numpy_helper.from_array(np.array(SY, np.float32), "sy"), numpy_helper.from_array(np.array(0, np.uint8), "zy")]
    node = helper.make_node("QLinearConv", ["X", "sx", "zx", "W", "sw", "zw", "sy", "zy"], ["Y"])
    graph = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("Y", TensorProto.UINT8, [1, 16, 1, 1])],
                              inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {})[0]
    assert got.ravel().tolist() == [spec] * 16 and spec != model


def test_verify_onnxruntime_names_it():
    from refquant.peers.onnxruntime import CONV_SAT, OrtPeer, conv_int32_rows, ort_run
    peer = OrtPeer(onnx, lambda node, inputs, outputs, inits: ort_run(onnx, ort, node, inputs, outputs, inits))
    rows = conv_int32_rows(peer, ort)
    assert [(r.status, r.deviation) for r in rows] == [("known", CONV_SAT)] * 2
