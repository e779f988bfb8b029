"""Requantization at the edges of the float and int32 ranges (issue 11 items 3 and 5).

This file pins the oracle's outcomes, checks the onnx_ref* methods against onnx's ReferenceEvaluator
at extreme scales (the torch engines are checked in test_requant_torch.py), and, over generated
extreme scales, that every method either answers with an integer of the output range or raises an
error of the RefquantError hierarchy -- never OverflowError, ZeroDivisionError or a Fraction
ValueError.
"""
import warnings
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peers import need
from refquant import requant as rq
from refquant.errors import RefquantError, SpecError, Unpredictable
from refquant.integers import get_type

H = float.fromhex
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
FLT_MAX, FLT_MIN, FLT_TRUE_MIN = H("0x1.fffffep127"), H("0x1p-126"), H("0x1p-149")


# --------------------------------------------------------------------------------------------
# Item 3: tflite_fc_float, std::round(double) converted to int32 outside int32 is undefined
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("acc, sy, outcome", [
    (2**30 - 1, 0.5, 127), (2**30, 0.5, None),                 # v = 2acc: 2^31 - 2 fits, 2^31 does not
    (-(2**30), 0.5, -128), (-(2**30) - 1, 0.5, None),          # -2^31 fits, -2^31 - 2 does not
    (I32_MAX, FLT_TRUE_MIN, None), (I32_MIN, FLT_TRUE_MIN, None),
])
def test_tflite_fc_float_beyond_int32_is_unpredictable(acc, sy, outcome):
    p = rq.derive_params("tflite_fc_float", 1.0, 1.0, sy)
    if outcome is None:
        with pytest.raises(Unpredictable, match="int32"):
            rq.requantize(acc, "tflite_fc_float", p, 0, "int8")
    else:
        assert rq.requantize(acc, "tflite_fc_float", p, 0, "int8") == outcome


def test_tflite_fc_float_tie_rounding_out_of_int32():
    """v = 2^31 - 1/2 rounds half away from zero to 2^31: undefined; 2^31 - 3/2 -> 2^31 - 1 is fine."""
    p = rq.derive_params("tflite_fc_float", 1.0, 0.75, 0.5)    # v = 1.5 acc
    with pytest.raises(Unpredictable):
        rq.requantize(1431655765, "tflite_fc_float", p, 0, "int32")    # 2147483647.5
    assert rq.requantize(1431655764, "tflite_fc_float", p, 0, "int32") == 2147483646


# --------------------------------------------------------------------------------------------
# Item 5: what each float chain gives when a scale product overflows or underflows
# --------------------------------------------------------------------------------------------

def test_issue_case_torch_onednn_derives_and_saturates():
    """out = 0x1.ecdp-136: fl(1/out) = inf, so o' = fl(1/inf) = 0 and the last factor fl(1/o') = inf."""
    p = rq.derive_params("torch_onednn", 0.5, 0.5, H("0x1.ecdp-136"))
    assert p.channel(0)["inv_sy'"] == rq.INF
    assert rq.requantize([5, -5], "torch_onednn", p, 7, "uint8") == [255, 0]
    with pytest.raises(Unpredictable, match="NaN"):                      # 0 * inf
        rq.requantize(0, "torch_onednn", p, 7, "uint8")


@pytest.mark.parametrize("method", ["onednn_ref", "onednn_jit"])
def test_onednn_inf_saturates_nan_is_unpredictable(method):
    p = rq.derive_params(method, 1.0, 1.0, FLT_TRUE_MIN)                 # jit: fl(1/dst) = inf; ref: d/dst
    assert rq.requantize([3, -3], method, p, 0, "int8") == [127, -128]
    if method == "onednn_jit":
        with pytest.raises(Unpredictable, match="NaN"):                  # 0 * fl(1/dst)
            rq.requantize(0, method, p, 0, "int8")
    else:
        assert rq.requantize(0, method, p, 5, "int8") == 5               # 0 / dst: no NaN on this path
    q = rq.derive_params(method, H("0x1p100"), H("0x1p100"), 1.0)         # fl(fl(acc*src)*wei) = inf
    assert rq.requantize([1, -1, 0], method, q, 0, "uint8") == [255, 0, 0]


def test_torch_fbgemm_inf_and_nan_are_integer_indefinite():
    p = rq.derive_params("torch_fbgemm", 1.0, 1.0, FLT_TRUE_MIN)         # C_mult = inf
    assert p.channel(0)["M"] == rq.INF
    assert rq.requantize([5, -5, 0], "torch_fbgemm", p, 7, "uint8") == [0, 0, 0]
    q = rq.derive_params("torch_fbgemm", H("0x1p-80"), H("0x1p-80"), 1.0, bias=[0.0, 1.5])
    assert q.channel(0)["inv_atw"] == rq.INF                              # fl(1/0)
    assert rq.requantize([[5, 5]], "torch_fbgemm", q, 7, "uint8") == [[0, 0]]
    r = rq.derive_params("torch_fbgemm", H("0x1p-140"), [1.0, 0.5], 1.0, bias=[0.0, 1.5])
    assert rq.requantize([[5, 5]], "torch_fbgemm", r, 7, "uint8") == [[7, 0]]   # 0/atw = 0; 1.5/atw = inf


def test_torch_qnnpack_rejects_a_scale_that_is_not_normal():
    """QNNPACK refuses to create the operator (torch 2.13: 'requantization scale must be finite and positive')."""
    for scales in ((H("0x1p-80"), H("0x1p-80"), 1.0), (1.0, 1.0, FLT_TRUE_MIN), (1.0, 1.0, FLT_MAX)):
        with pytest.raises(SpecError, match="requantization scale"):
            rq.derive_params("torch_qnnpack", *scales)
    p = rq.derive_params("torch_qnnpack", H("0x1p-70"), H("0x1p-70"), H("0x1p-116"), bias=[0.0, FLT_TRUE_MIN, -2.0])
    assert p.int_bias() == [I32_MIN, I32_MAX, I32_MIN]     # bias * fl(1/atw): NaN, +inf, -inf


@pytest.mark.parametrize("fmt, scales", [("fp32", (H("0x1p100"), H("0x1p100"), 1.0)),
                                         ("fp16", (256.0, 256.0, H("0x1p-14")))])
def test_onnx_ref_infinite_multiplier(fmt, scales):
    """M = inf in the scale dtype: np.rint(inf) has no int (astype undefined); np.clip(inf) saturates."""
    p = rq.derive_params("onnx_ref", *scales, scale_format=fmt)
    assert p.channel(0)["M"] == rq.INF
    with pytest.raises(Unpredictable, match="inf"):
        rq.requantize(3, "onnx_ref", p, 0, "int8")
    c = rq.derive_params("onnx_ref_conv", *scales, scale_format=fmt)
    assert rq.requantize([3, -3], "onnx_ref_conv", c, 0, "int8") == [127, -128]
    with pytest.raises(Unpredictable, match="NaN"):
        rq.requantize(0, "onnx_ref_conv", c, 0, "int8")


def _onnx_reference_one(op, scales, acc):
    """(code, numpy warned 'invalid value encountered in cast') of a 1x1 QLinearMatMul / QLinearConv
    whose accumulator is ``acc``, run by onnx's ReferenceEvaluator with binary32 scales."""
    np = need("numpy")
    need("onnx")
    from onnx import helper, TensorProto as TP
    from onnx.reference import ReferenceEvaluator
    names = ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"]
    types = [TP.UINT8, TP.FLOAT, TP.UINT8, TP.INT8, TP.FLOAT, TP.INT8, TP.FLOAT, TP.UINT8]
    graph = helper.make_graph([helper.make_node(op, names, ["y"])], "g",
                              [helper.make_tensor_value_info(n, t, None) for n, t in zip(names, types)],
                              [helper.make_tensor_value_info("y", TP.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    shape = (1, 1) if op == "QLinearMatMul" else (1, 1, 1, 1)
    feeds = dict(zip(names, [np.ones(shape, np.uint8), np.float32(scales[0]), np.uint8(0),
                             np.full(shape, acc, np.int8), np.float32(scales[1]), np.int8(0),
                             np.float32(scales[2]), np.uint8(7)]))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        y = ReferenceEvaluator(model).run(None, feeds)[0]
    return int(y.ravel()[0]), any("invalid value encountered in cast" in str(w.message) for w in seen)


@pytest.mark.parametrize("scales", [(1.0, 1.0, FLT_TRUE_MIN), (H("0x1p100"), H("0x1p100"), 1.0),
                                    (H("0x1p-80"), H("0x1p-80"), 1.0), (H("0x1p-140"), 1.0, FLT_MAX)])
def test_onnx_ref_methods_match_the_reference_evaluator_at_extreme_scales(scales):
    """onnx 1.21.0: where the oracle says Unpredictable, numpy itself reports an invalid cast
    (astype of inf or NaN); everywhere else the codes agree (M = inf: QLinearConv's clip saturates)."""
    compared = 0
    for op, method in (("QLinearMatMul", "onnx_ref"), ("QLinearConv", "onnx_ref_conv")):
        p = rq.derive_params(method, *scales)
        for acc in (1, -1, 0, 127):
            theirs, invalid = _onnx_reference_one(op, scales, acc)
            try:
                ours = rq.requantize(acc, method, p, 7, "uint8")
            except Unpredictable:
                assert invalid, (op, scales, acc)
                continue
            assert (ours, invalid) == (theirs, False), (op, scales, acc)
            compared += 1
    assert compared >= 3


def test_special_float_arithmetic():
    nan = rq.NAN
    assert rq.fmul("fp32", rq.INF, 0) != rq.fmul("fp32", rq.INF, 0)      # NaN
    assert rq.fmul("fp32", -2, rq.INF) == -rq.INF and rq.fdiv("fp32", -3, 0) == -rq.INF
    assert rq.fdiv("fp32", 1, rq.INF) == 0 and rq.fdiv("fp32", 0, 0) != rq.fdiv("fp32", 0, 0)
    assert rq.fadd("fp32", rq.INF, -rq.INF) != 0 and rq.fadd("fp32", rq.INF, 5) == rq.INF
    assert rq.ffma("fp32", 0, rq.INF, 1) != rq.ffma("fp32", 0, rq.INF, 1)
    assert rq.fl32(nan) != rq.fl32(nan) and rq.fl32(rq.INF) == rq.INF
    assert rq.fmul("fp32", Fraction(3, 2), 2) == 3 and rq.fmul("fp32", FLT_MAX, 2) == rq.INF


# --------------------------------------------------------------------------------------------
# Every method, generated extreme scales: an int in range or a RefquantError, nothing else
# --------------------------------------------------------------------------------------------

EDGE_F32 = [H(h) for h in ("0x1p-149", "0x1.8p-148", "0x1p-140", "0x1.ecdp-136", "0x1.fffffcp-127",
                          "0x1p-126", "0x1.000002p-126", "0x1p-100", "0x1p-64", "0x1p-32", "0x1.4p-3",
                          "0x1p+0", "0x1.8p+0", "0x1p+16", "0x1p+64", "0x1p+100", "0x1p+127",
                          "0x1.fffffep+127")]
EDGE_F16 = [H(h) for h in ("0x1p-24", "0x1p-20", "0x1p-14", "0x1.004p-14", "0x1p-8", "0x1p+0", "0x1p+8",
                          "0x1p+15", "0x1.ffcp+15")]
f32_scales = st.one_of(st.sampled_from(EDGE_F32),
                       st.floats(FLT_TRUE_MIN, FLT_MAX, width=32, allow_subnormal=True))
f16_scales = st.one_of(st.sampled_from(EDGE_F16), st.floats(H("0x1p-24"), 65504.0, width=16))
f32_bias = st.one_of(st.sampled_from([0.0, -0.0, 1.5, -2.0, FLT_TRUE_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX]),
                     st.floats(width=32, allow_nan=False, allow_infinity=False))
accs = st.lists(st.one_of(st.sampled_from([0, 1, -1, I32_MIN, I32_MAX, 69160, -69160]),
                          st.integers(I32_MIN, I32_MAX)), min_size=1, max_size=5)


@st.composite
def extreme_case(draw, method):
    meth = rq.get_method(method)
    fmt = draw(st.sampled_from(["fp32", "fp16"])) if method.startswith("onnx_ref") else "fp32"
    scale = f16_scales if fmt == "fp16" else f32_scales
    sb = draw(st.one_of(scale, st.lists(scale, min_size=1, max_size=3)))
    n = len(sb) if isinstance(sb, list) else 1
    bias = None
    if meth.float_bias and draw(st.booleans()):
        bias = draw(st.lists(f32_bias, min_size=n, max_size=n)) if n > 1 else draw(f32_bias)
    out = draw(st.sampled_from(["int32"] if method == "int32" else ["int8", "uint8", "int16", "int32"]))
    t = get_type(out)
    zp = 0 if method == "int32" else draw(st.sampled_from([0, t.min, t.max, max(t.min, min(t.max, 7))]))
    kw = dict(scale_format=fmt, bias=bias, op=draw(st.sampled_from(["fc", "conv"])))
    return (draw(scale), sb, draw(scale)), kw, out, zp, draw(accs)


@pytest.mark.parametrize("method", sorted(rq.METHODS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_extreme_scales_give_a_code_or_a_typed_error(method, data):
    (sa, sb, sy), kw, out, zp, values = data.draw(extreme_case(method))
    try:
        params = rq.derive_params(method, sa, sb, sy, **kw)
    except RefquantError:
        return
    lo, hi = rq.out_range(out)
    for j in range(len(params.channels)):
        for acc in values:
            try:
                q = rq.requantize_one(acc, method, params, zp, out, channel=j)
            except RefquantError:
                continue
            assert isinstance(q, int) and (q == acc if method == "int32" else lo <= q <= hi), (acc, j, q)
        try:
            rq.render(rq.explain_requantize(values[0], method, params, zp, out, channel=j))
        except RefquantError:
            pass


@pytest.mark.parametrize("method, scales", [("torch_qnnpack", (1.0, 1.0, H("0x1.4f8b58p-17"))),
                                            ("tflite_fc_float", (1.0, 1.0, 0.5)),
                                            ("torch_fbgemm", (1.0, 1.0, FLT_TRUE_MIN))])
def test_audit_vectorised_form_agrees_with_the_oracle_at_the_edges(method, scales):
    """The audit's numpy shortcut (confirmed on a sample at run time) must give the oracle's codes,
    UNPRED included, around 2^31 -- or decline (None) when the float model holds an inf."""
    np = need("numpy")
    from refquant.audit import core
    acc = np.array([0, 1, -1, 69160, -69160, 2**30 - 1, 2**30, -(2**30) - 1, I32_MAX, I32_MIN], np.int64)
    p = rq.derive_params(method, *scales)
    for out, zp in (("uint8", 7), ("int8", -3), ("int16", 5)):
        lo, hi = rq.out_range(out)
        got = core._vec(method, p, acc, np.zeros_like(acc), zp, lo, hi)
        if got is None:
            assert any(v == rq.INF for v in p.channel(0).values())
            continue
        want = []
        for a in acc.tolist():
            try:
                want.append(rq.requantize_one(a, method, p, zp, out))
            except Unpredictable:
                want.append(core.UNPRED)
        assert got.tolist() == want, (out, zp)
