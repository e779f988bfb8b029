"""onnxruntime 1.32.0 QLinearConv with zero-point-0 int8 weights saturates its int32 accumulator.

Named peer deviation (docs/reference/onnx.md §4), measured on an AVX-512 VNNI host: for uint8 x,
int8 weights whose zero point is 0 (the symmetric case) and a multiple of 16 output channels,
QLinearConv (3x3 and 1x1 alike) sums the *raw* products x * w in an int32 that saturates
(VPDPBUSDS) and subtracts zx * sum(w) afterwards.
So past K * 255 * 127 > 2^31 it prints INT32_MAX's (or INT32_MIN's) code where the contract's
int32 wraps -- and with an x zero point it differs even where the centred sum (x - zx) * w fits in
int32.  With 17 or 4 output channels, or a nonzero weight zero point, it wraps like the contract.
The cases with one value per tensor have partial sums of one sign; the mixed-sign cases below pin
the order of the saturating steps (kernel positions outer, four channels a step), the model of
refquant.mlas_convsym, and the configurations that take this path.
"""
import numpy as np
import pytest

from peers import need
from refquant import mlas_convsym, ops, requant as rq
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
    assert [(r.status, r.deviation) for r in rows] == [("known", CONV_SAT)] * 3


# ---- mixed signs: the order of the saturating steps, and which configurations saturate ----------

def run_general(x, w, zx=0, bias=None, *, sy=2.0**24, zy=None, fed_bias=False, fed_zx=False, group=1, threads=1,
                **attrs):
    """QLinearConv with sx = sw = 1 (so M = 1 / sy exactly) and a constant or fed zx / bias."""
    from onnx import TensorProto, helper, numpy_helper
    xt = TensorProto.UINT8 if x.dtype == np.uint8 else TensorProto.INT8
    zy = (128 if x.dtype == np.uint8 else 0) if zy is None else zy
    inits = [numpy_helper.from_array(np.array(1.0, np.float32), "sx"), numpy_helper.from_array(w, "W"),
             numpy_helper.from_array(np.array(1.0, np.float32), "sw"), numpy_helper.from_array(np.array(0, np.int8), "zw"),
             numpy_helper.from_array(np.array(sy, np.float32), "sy"), numpy_helper.from_array(np.array(zy, x.dtype), "zy")]
    inputs, feed = [helper.make_tensor_value_info("X", xt, list(x.shape))], {"X": x}
    names = ["X", "sx", "zx", "W", "sw", "zw", "sy", "zy"] + (["B"] if bias is not None else [])
    for name, value, fed in (("zx", np.array(zx, x.dtype), fed_zx), ("B", None if bias is None else np.asarray(bias, np.int32), fed_bias)):
        if value is None:
            continue
        if fed:
            inputs.append(helper.make_tensor_value_info(name, xt if name == "zx" else TensorProto.INT32, list(value.shape)))
            feed[name] = value
        else:
            inits.append(numpy_helper.from_array(value, name))
    node = helper.make_node("QLinearConv", names, ["Y"], group=group, **attrs)
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("Y", xt, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feed)[0]


def model_codes(x, w, zx=0, bias=None, sy=2.0**24, zy=128, **kw):
    return np.array(mlas_convsym.qlinear_conv(x, 1.0, zx, w, 1.0, sy, zy, bias=bias, **kw), np.int64)


def contract_codes(x, w, zx=0, bias=None, sy=2.0**24, zy=None, **kw):
    xt = "uint8" if x.dtype == np.uint8 else "int8"
    zy = (128 if xt == "uint8" else 0) if zy is None else zy
    return np.array(ops.qlinear_conv(x, 1.0, zx, w, 1.0, 0, sy, zy, method="ort", x_type=xt, w_type="int8",
                                     bias=bias, **kw), np.int64)


def patterns_3x3(c):
    """Four weight patterns over (C, 3, 3) whose partial sums leave int32 in one order of the
    steps and not in another."""
    k = np.arange(9).reshape(1, 3, 3)
    ch = np.arange(c).reshape(c, 1, 1)
    return np.stack([np.where(k < 7, 127, -128) + 0 * ch,              # positions 0-6 up, 7-8 down
                     np.where(k < 7, -128, 127) + 0 * ch,              # positions 0-6 down, 7-8 up
                     np.where(ch < c * 3 // 4, 127, -128) + 0 * k,     # channels: up, then down
                     np.where(ch < c * 3 // 4, -128, 127) + 0 * k]).astype(np.int8)


def test_mixed_signs_kernel_positions_outer():
    # each pattern 4 times (16 output channels), x = 255, C = 12288 (K = 110592)
    from refquant.integers import Accumulator
    c = 12288
    w4 = patterns_3x3(c)
    x = np.full((1, c, 3, 3), 255, np.uint8)
    got = run_general(x, np.repeat(w4, 4, axis=0)).astype(np.int64).reshape(4, 4)
    model = model_codes(x, w4).reshape(4, 1)
    assert (got == model).all(), (got[:, 0], model.ravel())
    # positions outer: the first two saturate where the contract wraps; the last two would saturate
    # with channels outer (an int32 saturating accumulator in the contract's order), but do not
    contract = contract_codes(x, w4).ravel()
    channels_outer = np.array(ops.qlinear_conv(x, 1.0, 0, w4, 1.0, 0, 2.0**24, 128, method="ort", w_type="int8",
                                               accumulator=Accumulator(32, "saturate")), np.int64).ravel()
    assert (model.ravel() != contract)[:2].all() and (model.ravel() == contract)[2:].all()
    assert (model.ravel() != channels_outer)[2:].all()


def test_mixed_signs_1x1_channel_order():
    c = 140000
    ch = np.arange(c)
    w = np.stack([np.where(ch < c // 2, 127, -128),          # up to INT32_MAX, then down: not the exact sum
                  np.where(ch < 68000, -128, 127),           # down to INT32_MIN, then up
                  np.where(ch % 4 == 0, 127, -128),          # one step = 127 - 3 * 128: down past INT32_MIN
                  np.where((ch // 1024) % 2 == 0, 127, -128)]).astype(np.int8)   # never leaves int32
    w = w.reshape(4, c, 1, 1)
    x = np.full((1, c, 1, 1), 255, np.uint8)
    got = run_general(x, np.repeat(w, 4, axis=0)).astype(np.int64).reshape(4, 4)
    model = model_codes(x, w).reshape(4, 1)
    assert (got == model).all(), (got[:, 0], model.ravel())
    assert (model.ravel() != contract_codes(x, w).ravel()).tolist() == [True, True, True, False]


@pytest.mark.parametrize("threads", [1, 2])
def test_random_near_saturation_padding_strides_bias(threads):
    rng = np.random.default_rng(19)
    c = 12288
    x = rng.integers(220, 256, (1, c, 5, 4)).astype(np.uint8)
    w2 = np.where(rng.random((2, c, 3, 3)) < 0.95, 127, rng.integers(-128, 128, (2, c, 3, 3))).astype(np.int8)
    bias2 = [int(v) for v in rng.integers(-2**31, 2**31 - 1, 2)]
    kw = dict(pads=[1, 0, 0, 1], strides=[2, 1], dilations=[1, 2])
    got = run_general(x, np.repeat(w2, 8, axis=0), 9, np.repeat(bias2, 8), threads=threads, **kw).astype(np.int64)
    model = model_codes(x, w2, 9, bias2, **kw)
    assert (got.reshape(2, 8, -1) == model.reshape(2, 1, -1)).all()
    assert (model != contract_codes(x, w2, 9, bias2, **kw)).any()


def _wide_case(c=12288, m=16, x_dtype=np.uint8):
    rng = np.random.default_rng(23)
    x = rng.integers(200, 256, (1, c, 3, 3)).astype(np.uint8)
    x = x if x_dtype == np.uint8 else (x.astype(np.int16) - 128).astype(np.int8)
    w1 = np.where(rng.random((1, c, 3, 3)) < 0.9, 127, rng.integers(-128, 128, (1, c, 3, 3))).astype(np.int8)
    return x, w1, np.repeat(w1, m, axis=0)


@pytest.mark.parametrize("m", [24, 40])
def test_output_channels_multiple_of_8_from_16_saturate(m):
    x, w1, w = _wide_case(m=m)
    assert (run_general(x, w).astype(np.int64).ravel() == model_codes(x, w1).ravel()[0]).all()


@pytest.mark.parametrize("label, c, m, x_dtype, kw", [
    ("8 output channels", 12288, 8, np.uint8, {}),
    ("C % 4 != 0", 12287, 16, np.uint8, {}),
    ("int8 x", 12288, 16, np.int8, {}),
    ("bias fed at run time", 12288, 16, np.uint8, {"bias": [0] * 16, "fed_bias": True}),
    ("x zero point fed at run time", 12288, 16, np.uint8, {"fed_zx": True}),
])
def test_other_configurations_wrap(label, c, m, x_dtype, kw):
    x, w1, w = _wide_case(c, m, x_dtype)
    got = run_general(x, w, **kw).astype(np.int64).ravel()
    contract = contract_codes(x, w1).ravel()[0]
    assert (got == contract).all(), label
    if x_dtype == np.uint8 and c % 4 == 0:
        assert model_codes(x, w1).ravel()[0] != contract
    assert not mlas_convsym.applies("uint8" if x_dtype == np.uint8 else "int8", "int8", [0], c, m, 1,
                                    zx_constant=not kw.get("fed_zx"), bias_constant=not kw.get("fed_bias"))


def test_group_2_wraps():
    x, w1, _ = _wide_case()
    x2 = np.concatenate([x, x], axis=1)
    got = run_general(x2, np.repeat(w1, 32, axis=0), group=2).astype(np.int64).ravel()
    assert (got == contract_codes(x, w1).ravel()[0]).all()
    assert not mlas_convsym.applies("uint8", "int8", [0], 12288, 16, 2)


def test_constant_bias_is_added_after_saturation_and_wraps():
    # INT32_MAX + 100 wraps to a negative accumulator: code 0 at sy = 2^24, zy = 0
    x = np.full((1, 70000, 1, 1), 255, np.uint8)
    w = np.full((16, 70000, 1, 1), 127, np.int8)
    got = run_general(x, w, 0, [100] * 16, zy=0).ravel().tolist()
    assert got == model_codes(x, w[:1], 0, [100], zy=0).ravel().tolist() * 16 == [0] * 16
    got = run_general(x, w, 0, [-200000000] * 16, zy=0).ravel().tolist()
    assert got == [116] * 16 == model_codes(x, w[:1], 0, [-200000000], zy=0).ravel().tolist() * 16


def test_the_zero_point_term_wraps_too():
    # zx = 255 = x: the centred sum is 0 (code 128), but the raw sum saturates and zx * sum(w) =
    # 2266950000 wraps in int32 before it is added: acc = wrap(INT32_MAX + wrap(-2266950000))
    x = np.full((1, 70000, 1, 1), 255, np.uint8)
    w = np.full((16, 70000, 1, 1), 127, np.int8)
    got = run_general(x, w, 255).ravel().tolist()
    assert got == model_codes(x, w[:1], 255).ravel().tolist() * 16 == [121] * 16
    assert contract_codes(x, w[:1], 255).ravel().tolist() == [128]


@pytest.mark.parametrize("kernel", [(9,), (2, 3, 3)])
def test_1d_and_3d_kernels(kernel):
    # positions outer over every kernel axis (row-major): 1-D kernel 9 and 3-D kernel 2x3x3
    rng = np.random.default_rng(29)
    c = 12288
    x = rng.integers(230, 256, (1, c) + kernel).astype(np.uint8)
    w1 = np.where(rng.random((1, c) + kernel) < 0.95, 127, rng.integers(-128, 128, (1, c) + kernel)).astype(np.int8)
    got = run_general(x, np.repeat(w1, 16, axis=0)).astype(np.int64).ravel()
    model = model_codes(x, w1).ravel()[0]
    assert (got == model).all() and model != contract_codes(x, w1).ravel()[0]
