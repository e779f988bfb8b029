"""refquant.quantize / qparams against the worked examples of docs/reference/worked-examples.md,
the ONNX backend node test data, onnxruntime, the onnx ReferenceEvaluator and torch 2.13 — each profile
against its own peer."""
import os
import random
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings, strategies as st

from refquant import formats, quantize as Q
from refquant.errors import InvalidValueError, ShapeError, Unpredictable, UnknownNameError
from refquant.qparams import choose_qparams
from peers import need

np = need("numpy")
f32 = np.float32


def f32s(lo, hi):
    """hypothesis floats that are fp32 values in [lo, hi]."""
    return st.floats(float(f32(lo)), float(f32(hi)), width=32)


# ---------------------------------------------------------------------------------------------
# Worked examples (docs/reference/worked-examples.md §1, §2)
# ---------------------------------------------------------------------------------------------

def test_seed000_mapping_and_offset():
    """[-100, 0] -> [0, 20]: ratio 5, distance 20; y = x / ratio + distance."""
    p = choose_qparams(-100, 0, "uint8", qmin=0, qmax=20)
    assert (p.scale, p.zero_point) == (5, 20)
    assert Q.quantize([-100.0, -50.0, 0.0], 5.0, 20, "uint8") == [0, 10, 20]


def test_seed002_scale_formula():
    """scale = (max - min) / (2^b - 1)."""
    for b, t in ((8, "uint8"), (4, "uint4"), (16, "uint16")):
        assert choose_qparams(-3, 5, t).scale == formats.round_to("fp32", Fraction(8, 2**b - 1)).value


def test_seed003_minmax_zero_point():
    """S = (Rmax - Rmin) / (Qmax - Qmin), Z = Qmax - Rmax / S."""
    p = choose_qparams(-20, 1000, "int8")
    assert p.zero_point == 127 - 1000 / p.scale


def test_seed004_examples():
    p = choose_qparams(0, 1000, "uint8")
    assert p.zero_point == 0 and f"{float(p.scale):.4f}" == "3.9216"  # Matani 2023 prints 3.9215 (truncated)
    # 500 / (1000/255) = 127.5 exactly, but fl32(1000/255) is slightly above 1000/255: 127.4999... -> 127
    assert p.scale > Fraction(1000, 255) and Q.quantize([500.0], p.scale, 0, "uint8") == [127]
    assert choose_qparams(-20, 1000, "uint8").zero_point == 5
    assert choose_qparams(-20, 1000, "int8").zero_point == -123
    assert Q.quantize([-20.0], 4.0, 5, "uint8") == [0]
    # [40, 1000] is extended to [0, 1000]: 40.0 lands on 10, so codes 0..9 (3.92 %) are wasted
    p = choose_qparams(40, 1000, "uint8")
    q40 = Q.quantize([40.0], float(p.scale), p.zero_point, "uint8")[0]
    assert q40 == 10 and f"{q40 / 255:.4f}" == "0.0392"
    # [2000, 4000] as int8 uses only the non-negative half
    p = choose_qparams(2000, 4000, "int8")
    assert p.zero_point == -128 and Q.quantize([2000.0], float(p.scale), p.zero_point, "int8")[0] == -1


@given(f32s(-1e6, 1e6), f32s(-1e6, 1e6),
       st.sampled_from(["int8", "uint8", "int16", "uint4"]), st.booleans(),
       st.sampled_from(["exact", "torch", "onnxruntime"]))
def test_zero_is_exactly_representable(a, b, dtype, symmetric, variant):
    lo, hi = min(a, b), max(a, b)
    assume(max(hi, 0) - min(lo, 0) > 1e-30 or max(hi, 0) == min(lo, 0))  # tinier ranges underflow the fp32 scale (a named error)
    p = choose_qparams(lo, hi, dtype, symmetric=symmetric, variant=variant)
    qmin, qmax = Q.qrange(dtype)
    assert qmin <= p.zero_point <= qmax and p.scale > 0
    assert Q.quantize([0.0], p.scale, p.zero_point, dtype) == [p.zero_point]
    assert formats.representable("fp32", p.scale)


# ---------------------------------------------------------------------------------------------
# qparams variants vs the peers' own functions
# ---------------------------------------------------------------------------------------------

ranges = st.tuples(f32s(-1e4, 0), f32s(0, 1e4))


@given(ranges, st.sampled_from([("quint8", "uint8"), ("qint8", "int8")]), st.booleans())
def test_qparams_torch_matches_torch_observer(r, types, symmetric):
    torch = need("torch", "torch==2.13.0")
    from torch.ao.quantization.observer import MinMaxObserver
    tdtype, dtype = types
    qscheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
    obs = MinMaxObserver(dtype=getattr(torch, tdtype), qscheme=qscheme)
    obs(torch.tensor([r[0], r[1]], dtype=torch.float32))
    s, z = obs.calculate_qparams()
    ours = choose_qparams(r[0], r[1], dtype, symmetric=symmetric, variant="torch")
    assert ours.scale == Fraction(float(s)) and ours.zero_point == int(z)


@given(ranges, st.sampled_from(["uint8", "int8"]), st.booleans())
def test_qparams_onnxruntime_matches_compute_scale_zp(r, dtype, symmetric):
    need("onnxruntime")
    from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType
    from onnx import TensorProto
    qt = TensorProto.UINT8 if dtype == "uint8" else TensorProto.INT8
    qmin, qmax = get_qmin_qmax_for_qType(qt, symmetric=symmetric)
    z, s = compute_scale_zp(np.array(r[0], f32), np.array(r[1], f32), qmin, qmax, symmetric=symmetric)
    ours = choose_qparams(r[0], r[1], dtype, symmetric=symmetric, variant="onnxruntime")
    assert ours.scale == Fraction(float(s)) and ours.zero_point == int(z)


# ---------------------------------------------------------------------------------------------
# ONNX backend node test data, every QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear case
# ---------------------------------------------------------------------------------------------

def _node_dir():
    onnx = need("onnx")
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")


def _load_case(name):
    onnx = need("onnx")
    from onnx import numpy_helper
    d = os.path.join(_node_dir(), name)
    model = onnx.load(os.path.join(d, "model.onnx"))
    node = model.graph.node[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    ds = os.path.join(d, "test_data_set_0")
    read = lambda f: numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, f)))
    ins = [read(f) for f in sorted(os.listdir(ds)) if f.startswith("input")]
    outs = [read(f) for f in sorted(os.listdir(ds)) if f.startswith("output")]
    return node, attrs, ins, outs


ML_TO_FMT = {"float8_e4m3fn": "fp8_e4m3fn", "float8_e5m2": "fp8_e5m2", "float8_e4m3fnuz": "fp8_e4m3fnuz",
             "float8_e5m2fnuz": "fp8_e5m2fnuz", "float4_e2m1fn": "fp4_e2m1"}
INT_NAMES = {"int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int4": "int4",
             "uint4": "uint4", "int2": "int2", "uint2": "uint2", "int32": "int32"}


def _dtype_name(arr):
    name = str(arr.dtype)
    return ML_TO_FMT.get(name) or INT_NAMES[name]


def _scale_fmt(arr):
    return {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[str(arr.dtype)]


def _codes(arr):
    """Integer view of an integer / sub-byte / fp8 / fp4 array (bit codes for float formats)."""
    name = str(arr.dtype)
    if name in ML_TO_FMT:
        bits = formats.get_format(ML_TO_FMT[name]).width
        return (arr.view(np.uint8).astype(np.int64) & (2**bits - 1)).reshape(-1).tolist()
    return arr.astype(np.int64).reshape(-1).tolist()


QL_CASES = ["test_quantizelinear", "test_quantizelinear_axis", "test_quantizelinear_blocked_asymmetric",
            "test_quantizelinear_blocked_symmetric", "test_quantizelinear_e4m3fn", "test_quantizelinear_e5m2",
            "test_quantizelinear_float4e2m1", "test_quantizelinear_int16", "test_quantizelinear_int2",
            "test_quantizelinear_int4", "test_quantizelinear_uint16", "test_quantizelinear_uint2",
            "test_quantizelinear_uint4"]


@pytest.mark.parametrize("case", QL_CASES)
def test_onnx_backend_quantizelinear(case):
    node, attrs, ins, (expected,) = _load_case(case)
    x, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    onnx = need("onnx")
    if zp is not None:
        dtype = _dtype_name(zp)
    else:
        out_t = attrs.get("output_dtype") or 2
        dtype = _dtype_name(np.zeros(1, onnx.helper.tensor_dtype_to_np_dtype(out_t)))
    axis = attrs.get("axis", 1) if scale.size > 1 else None
    block = attrs.get("block_size") or None
    zpl = None if zp is None or dtype in Q.FLOAT_TARGETS else zp.astype(np.int64).tolist()
    out = Q.quantize(x, scale.astype(np.float64).tolist() if scale.ndim else float(scale), zpl, dtype, "onnx",
                     axis=axis, block_size=block, scale_format=_scale_fmt(scale),
                     saturate=bool(attrs.get("saturate", 1)))
    assert np.asarray(out).reshape(-1).tolist() == _codes(expected)


DQL_CASES = ["test_dequantizelinear", "test_dequantizelinear_axis", "test_dequantizelinear_blocked",
             "test_dequantizelinear_e4m3fn", "test_dequantizelinear_e4m3fn_float16",
             "test_dequantizelinear_e4m3fn_zero_point", "test_dequantizelinear_e5m2",
             "test_dequantizelinear_float4e2m1", "test_dequantizelinear_int16", "test_dequantizelinear_int2",
             "test_dequantizelinear_int4", "test_dequantizelinear_uint16", "test_dequantizelinear_uint2",
             "test_dequantizelinear_uint4"]


@pytest.mark.parametrize("case", DQL_CASES)
def test_onnx_backend_dequantizelinear(case):
    node, attrs, ins, (expected,) = _load_case(case)
    q, scale = ins[0], ins[1]
    zp = ins[2] if len(ins) > 2 else None
    dtype = _dtype_name(q)
    axis = attrs.get("axis", 1) if scale.size > 1 else None
    block = attrs.get("block_size") or None
    zpl = None if zp is None or dtype in Q.FLOAT_TARGETS else zp.astype(np.int64).tolist()
    out_fmt = {"float32": "fp32", "float16": "fp16"}[str(expected.dtype)]
    codes = np.array(_codes(q)).reshape(q.shape).tolist()
    out = Q.dequantize(codes, scale.astype(np.float64).tolist() if scale.ndim else float(scale), zpl, dtype,
                       "onnx", axis=axis, block_size=block, scale_format=_scale_fmt(scale), out_format=out_fmt)
    bits = expected.view(np.uint32 if out_fmt == "fp32" else np.uint16).reshape(-1).tolist()
    assert np.asarray(out).reshape(-1).tolist() == bits


@pytest.mark.parametrize("case", ["test_dynamicquantizelinear", "test_dynamicquantizelinear_max_adjusted",
                                  "test_dynamicquantizelinear_min_adjusted"])
def test_onnx_backend_dynamicquantizelinear(case):
    node, attrs, (x,), (y, scale, zp) = _load_case(case)
    oy, oscale, ozp = Q.dynamic_quantize(x, "onnx")
    assert oy.reshape(-1).tolist() == y.reshape(-1).tolist()
    assert oscale == Fraction(float(scale)) and ozp == int(zp)


# ---------------------------------------------------------------------------------------------
# Differential: onnxruntime and the onnx ReferenceEvaluator on generated and constructed hard cases
# ---------------------------------------------------------------------------------------------

ONNX_T = {"int8": 3, "uint8": 2, "int16": 5, "uint16": 4}


def _ql_model(dtype, x_elem=1, scale_elem=1, opset=21):
    from onnx import helper
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info("x", x_elem, [None]),
                           helper.make_tensor_value_info("s", scale_elem, []),
                           helper.make_tensor_value_info("z", ONNX_T[dtype], [])],
                          [helper.make_tensor_value_info("y", ONNX_T[dtype], [None])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def hard_inputs(scale, zp, dtype, rng, n=400):
    """Exact ties x = (k + 1/2)·s, their fp32 neighbours, values where fl(x/s) and fl(x·fl(1/s))
    differ, saturation edges, NaN, ±inf, ±0 and huge values."""
    qmin, qmax = Q.qrange(dtype)
    s = Fraction(float(scale))
    xs = []
    for _ in range(n):
        k = rng.randint(qmin - zp - 3, qmax - zp + 3)
        b = formats.encode("fp32", (k + Fraction(1, 2)) * s)
        xs += [b, b + 1, b - 1]
    inv_r = formats.round_to("fp32", 1 / s)
    for _ in range(n if inv_r.is_finite else 0):
        inv = inv_r.value
        b = rng.getrandbits(31) % formats.encode("fp32", (qmax - qmin + 8) * s)
        x = formats.decode("fp32", b).value
        if formats.round_to("fp32", x / s).value != formats.round_to("fp32", x * inv).value:
            xs.append(b)
    xs += [0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x4F000000, 0xCF000000]
    xs += [b | 0x80000000 for b in xs[: 3 * n]]
    return np.array(xs, dtype=np.uint32).view(f32)


scales32 = st.one_of(f32s(1e-3, 10), st.sampled_from([f32(1e-40), f32(1e-38), f32(3e-30), f32(7e20)]))


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16"])
@given(scale=scales32, zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_onnxruntime_quantizelinear_matches_profile(dtype, scale, zfrac, seed):
    ort = need("onnxruntime")
    qmin, qmax = Q.qrange(dtype)
    zp = qmin + int(zfrac * (qmax - qmin))
    x = hard_inputs(scale, zp, dtype, random.Random(seed), n=30)
    model = _ql_model(dtype)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    z = np.array(zp, dtype=np.dtype(dtype))
    theirs = sess.run(None, {"x": x, "s": np.array(scale, f32), "z": z})[0].tolist()
    ours = Q.quantize(x, f32(scale), zp, dtype, "onnxruntime").tolist()
    bad = [(float(a), o, t) for a, o, t in zip(x, ours, theirs) if o != t]
    assert bad == []


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
@given(scale=scales32, zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_onnx_reference_quantizelinear_matches_profile(dtype, scale, zfrac, seed):
    need("onnx")
    from onnx.reference import ReferenceEvaluator
    qmin, qmax = Q.qrange(dtype)
    zp = qmin + int(zfrac * (qmax - qmin))
    x = hard_inputs(scale, zp, dtype, random.Random(seed), n=30)
    z = np.array(zp, dtype=np.dtype(dtype))
    with np.errstate(all="ignore"):
        theirs = ReferenceEvaluator(_ql_model(dtype)).run(None, {"x": x, "s": np.array(scale, f32), "z": z})[0].tolist()
    ours = Q.quantize(x, f32(scale), zp, dtype, "onnx_ref").tolist()
    assert [(float(a), o, t) for a, o, t in zip(x, ours, theirs) if o != t] == []


@settings(max_examples=40)
@given(scale=st.floats(float(np.float16(1e-2)), 4.0, width=16), seed=st.integers(0, 2**16))
def test_fp16_inputs_ort_divides_in_f32_reference_in_f16(scale, seed):
    """onnx.md §5: fp16 x and fp16 scale.  ORT widens to f32 ('onnxruntime'); the onnx reference
    divides in fp16 ('onnx_ref' / the opset-23 spec wording 'onnx')."""
    ort = need("onnxruntime")
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(300) * 60 * scale).astype(np.float16)
    model = _ql_model("int8", x_elem=10, scale_elem=10)
    feeds = {"x": x, "s": np.array(scale, np.float16), "z": np.array(3, np.int8)}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert sess.run(None, feeds)[0].tolist() == Q.quantize(x, np.float16(scale), 3, "int8", "onnxruntime",
                                                            scale_format="fp16").tolist()
    with np.errstate(all="ignore"):
        ref = ReferenceEvaluator(model).run(None, feeds)[0].tolist()
    assert ref == Q.quantize(x, np.float16(scale), 3, "int8", "onnx_ref", scale_format="fp16").tolist()
    assert ref == Q.quantize(x, np.float16(scale), 3, "int8", "onnx", scale_format="fp16").tolist()


def test_named_peer_disagreements_quantize():
    """onnx.md §1/§5: the onnx reference maps +inf to the type minimum (x86 INT32_MIN) while the spec
    and ORT saturate to the maximum; ORT maps NaN to qmin; the spec leaves NaN unpredictable."""
    x = np.array([np.inf, -np.inf, np.nan, 3e9], f32)
    assert Q.quantize(x, 1.0, 0, "int8", "onnx_ref").tolist() == [-128, -128, -128, -128]
    assert Q.quantize(x, 1.0, -7, "int8", "onnx_ref").tolist() == [127, 127, 127, 127]  # INT32_MIN - 7 wraps
    assert Q.quantize(x, 1.0, 0, "int8", "onnxruntime").tolist() == [127, -128, -128, 127]
    with pytest.raises(Unpredictable, match="NaN"):
        Q.quantize(x, 1.0, 0, "int8", "onnx")


# ---------------------------------------------------------------------------------------------
# torch 2.13
# ---------------------------------------------------------------------------------------------

def _torch_inputs(scale, zp, dtype, seed):
    x = hard_inputs(scale, zp, dtype, random.Random(seed), n=30)
    return x[np.isfinite(x) | np.isinf(x)]


@pytest.mark.parametrize("tdtype,dtype", [("qint8", "int8"), ("quint8", "uint8")])
@given(scale=f32s(1e-3, 10), zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_torch_quantize_per_tensor_matches_profile(tdtype, dtype, scale, zfrac, seed):
    torch = need("torch", "torch==2.13.0")
    qmin, qmax = Q.qrange(dtype)
    zp = qmin + int(zfrac * (qmax - qmin))
    x = hard_inputs(scale, zp, dtype, random.Random(seed), n=30)
    t = torch.quantize_per_tensor(torch.from_numpy(x), float(scale), zp, getattr(torch, tdtype)).int_repr()
    ours = Q.quantize(x, f32(scale), zp, dtype, "torch").tolist()
    assert [(float(a), o, th) for a, o, th in zip(x, ours, t.tolist()) if o != th] == []


@given(scale=f32s(1e-3, 10), zp=st.integers(-1000, 1000), seed=st.integers(0, 2**16))
def test_torch_quantize_qint32_matches_profile(scale, zp, seed):
    torch = need("torch", "torch==2.13.0")
    x = hard_inputs(scale, zp, "int8", random.Random(seed), n=30)
    t = torch.quantize_per_tensor(torch.from_numpy(x), float(scale), zp, torch.qint32).int_repr()
    assert Q.quantize(x, f32(scale), zp, "int32", "torch_qint32").tolist() == t.tolist()


@given(scale=f32s(1e-3, 10), zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_torch_quantize_per_channel_and_fake_quant_match_profiles(scale, zfrac, seed):
    torch = need("torch", "torch==2.13.0")
    zp = -128 + int(zfrac * 255)
    x = hard_inputs(scale, zp, "int8", random.Random(seed), n=30)
    x = x[np.isfinite(x) & (np.abs(x) < 1e30)]
    per_ch = torch.quantize_per_channel(torch.from_numpy(x).reshape(-1, 1), torch.tensor([float(scale)], dtype=torch.float64),
                                        torch.tensor([zp]), 1, torch.qint8).int_repr().reshape(-1)
    assert Q.quantize(x, f32(scale), zp, "int8", "torch_qint32").tolist() == per_ch.tolist()
    fq = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(scale), zp, -128, 127)
    ybits, mask = Q.fake_quantize(x, f32(scale), zp, -128, 127)
    assert ybits.tolist() == fq.numpy().view(np.uint32).tolist()


def test_torch_named_disagreements():
    """requant.md §7 rows 15-17 and 19, each torch entry point against the ONNX spec."""
    x15, s15 = np.array([0.2739399374], f32), f32(0.0021485486)
    assert Q.quantize(x15, s15, 0, "uint8", "torch").tolist() == [128]  # x * fl(1/s) = 127.5 -> 128
    assert Q.quantize(x15, s15, 0, "uint8", "onnx").tolist() == [127]  # x / s = 127.49999 -> 127
    x16 = np.array([0.50000006], f32)
    assert Q.quantize(x16, 1.0, 100, "uint8", "torch").tolist() == [100]
    assert Q.quantize(x16, 1.0, 100, "uint8", "torch_fake_quant").tolist() == [101]
    x17, s17 = np.array([-6.62172985], f32), f32(0.15222367644)
    assert Q.quantize(x17, s17, 14, "int8", "torch").tolist() == [-29]
    assert Q.quantize(x17, s17, 14, "int8", "torch_qint32").tolist() == [-30]
    nan = np.array([np.nan], f32)
    assert Q.quantize(nan, 1.0, 0, "int8", "torch").tolist() == [127]
    assert Q.quantize(nan, 1.0, 0, "uint8", "torch").tolist() == [255]
    assert Q.quantize(nan, 1.0, 0, "int32", "torch_qint32").tolist() == [-(2**31)]
    assert Q.quantize(np.array([2.5], f32), 1.0, 0, "int8", "tflite").tolist() == [3]  # row 18


def test_fake_quant_learnable_grads_match_torch():
    torch = need("torch", "torch==2.13.0")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(64) * 3).astype(f32)
    dy = rng.standard_normal(64).astype(f32)
    scale, zpf = f32(0.05), f32(2.5)
    xt = torch.from_numpy(x).requires_grad_()
    st_ = torch.tensor([float(scale)], requires_grad=True)
    zt = torch.tensor([float(zpf)], requires_grad=True)
    y = torch._fake_quantize_learnable_per_tensor_affine(xt, st_, zt, -128, 127, 1.0)
    y.backward(torch.from_numpy(dy))
    dx, ds, dz = Q.fake_quantize_learnable_grad(x, dy.tolist(), scale, Fraction(float(zpf)), -128, 127)
    assert [Fraction(v) for v in xt.grad.tolist()] == dx
    assert abs(float(ds) - float(st_.grad)) <= 1e-4 * max(1, abs(float(ds)))  # torch sums in f32
    assert abs(float(dz) - float(zt.grad)) <= 1e-4 * max(1, abs(float(dz)))


# ---------------------------------------------------------------------------------------------
# Dynamic quantization, log2, dequantize
# ---------------------------------------------------------------------------------------------

def test_dynamic_quantize_all_zero_three_answers():
    z = np.zeros(4, f32)
    assert Q.dynamic_quantize(z, "onnx")[1:] == (0, 0)
    assert Q.dynamic_quantize(z, "onnx_ref")[1] == formats.round_to("fp32", Fraction(1, 255)).value
    assert Q.dynamic_quantize(z, "onnxruntime")[1] == 1


@given(st.lists(f32s(-100, 100), min_size=1, max_size=40))
def test_dynamic_quantize_matches_onnxruntime(xs):
    ort = need("onnxruntime")
    from onnx import helper
    x = np.array(xs, f32)
    assume(float(x.max(initial=0)) - float(x.min(initial=0)) > 1e-40)  # else the fp32 scale underflows
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [None])],
                          [helper.make_tensor_value_info("y", 2, [None]), helper.make_tensor_value_info("s", 1, []),
                           helper.make_tensor_value_info("z", 2, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    y, s, z = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    oy, os_, oz = Q.dynamic_quantize(x, "onnxruntime")
    assert (oy.tolist(), os_, oz) == (y.tolist(), Fraction(float(s)), int(z))


def test_log2_quantization_domains():
    # 2^0.5 = 1.414...: log-domain threshold between 1 and 2; linear threshold is 1.5
    assert Q.log2_quantize([1.4, 1.45, 1.5, -3.0], bits=4, rounding="log", max_exponent=3) == \
        [(0, 0), (0, 1), (0, 1), (1, 2)]
    assert Q.log2_quantize([1.4, 1.45, 1.5, -3.0], bits=4, rounding="linear", max_exponent=3) == \
        [(0, 0), (0, 0), (0, 1), (1, 2)]
    assert Q.log2_quantize([0.0, 100.0, 2.0**-20], bits=3, max_exponent=2) == [(0, None), (0, 2), (0, None)]


@given(st.lists(st.integers(-128, 127), min_size=1, max_size=50), f32s(1e-3, 10),
       st.integers(-128, 127))
def test_dequantize_matches_onnxruntime_and_torch(qs, scale, zp):
    ort = need("onnxruntime")
    torch = need("torch", "torch==2.13.0")
    from onnx import helper
    q = np.array(qs, np.int8)
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("q", 3, [None]),
                                        helper.make_tensor_value_info("s", 1, []),
                                        helper.make_tensor_value_info("z", 3, [])],
                          [helper.make_tensor_value_info("y", 1, [None])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    y = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"q": q, "s": np.array(scale, f32), "z": np.array(zp, np.int8)})[0]
    ours = Q.dequantize(q, f32(scale), zp, "int8", "onnxruntime")
    assert ours.tolist() == y.view(np.uint32).tolist()
    tq = torch._make_per_tensor_quantized_tensor(torch.from_numpy(q), float(scale), zp).dequantize()
    assert Q.dequantize(q, f32(scale), zp, "int8", "torch").tolist() == tq.numpy().view(np.uint32).tolist()


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

def test_bad_input_named_errors():
    with pytest.raises(InvalidValueError, match="scale must be finite and > 0"):
        Q.quantize([1.0], 0.0, 0, "int8")
    with pytest.raises(InvalidValueError, match="scale must be finite and > 0"):
        Q.quantize([1.0], -1.0, 0, "int8")
    with pytest.raises(InvalidValueError, match="not exactly representable in fp32"):
        Q.quantize([1.0], 0.1, 0, "int8")
    with pytest.raises(InvalidValueError, match="zero point 300 is outside int8"):
        Q.quantize([1.0], 1.0, 300, "int8")
    with pytest.raises(ShapeError, match=r"per-axis scale must have shape \(2,\)"):
        Q.quantize([[1.0, 2.0], [3.0, 4.0]], [1.0, 1.0, 1.0], [0, 0, 0], "int8", axis=0)
    with pytest.raises(ShapeError, match="axis 2 out of range"):
        Q.quantize([[1.0, 2.0]], [1.0], [0], "int8", axis=2)
    with pytest.raises(ShapeError, match="blocked scale must have shape"):
        Q.quantize([[1.0, 2.0, 3.0]], [[1.0]], [[0]], "int8", axis=1, block_size=2)
    with pytest.raises(ShapeError, match="zero point has 1 elements, the scale has 2"):
        Q.quantize([[1.0, 2.0]], [1.0, 1.0], [0], "int8", axis=1)
    with pytest.raises(UnknownNameError, match="onnxruntime"):
        Q.quantize([1.0], 1.0, 0, "int8", "ort_typo")
    with pytest.raises(InvalidValueError, match="cannot quantize NaN under profile 'exact'"):
        Q.quantize([float("nan")], 1.0, 0, "int8")
    with pytest.raises(InvalidValueError, match="rmin 5 is greater than rmax 1"):
        choose_qparams(5, 1)


FP8_T = {"fp8_e4m3fn": 17, "fp8_e4m3fnuz": 18, "fp8_e5m2": 19, "fp8_e5m2fnuz": 20}


@pytest.mark.parametrize("target", sorted(FP8_T))
@pytest.mark.parametrize("saturate", [1, 0])
def test_fp8_targets_vs_onnxruntime_and_reference(target, saturate):
    """QuantizeLinear to fp8: profile 'onnxruntime' reproduces ORT 1.31.1 and 1.32.0 (including its measured
    saturate=0 and E5M2-NaN deviations), profile 'onnx_ref' the onnx reference (= OFP8 / ml_dtypes)."""
    ort = need("onnxruntime")
    from onnx import helper
    from onnx.reference import ReferenceEvaluator
    fmt = formats.get_format(target)
    vals = sorted({formats.decode(fmt, b).value for b in range(256) if formats.decode(fmt, b).is_finite})
    mids = [(a + b) / 2 for a, b in zip(vals, vals[1:])]
    top = fmt.max_finite
    pts = vals + mids + [top * Fraction(k, 64) for k in range(60, 160)] + [Fraction(61440), Fraction(65535), Fraction(480)]
    bits = {formats.encode("fp32", p) for p in pts}
    bits |= {b ^ 0x80000000 for b in bits} | {b + 1 for b in bits} | {0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000}
    x = np.array(sorted(bits), np.uint32).view(f32)
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=saturate)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [None])], [
        helper.make_tensor_value_info("y", FP8_T[target], [None])],
        initializer=[helper.make_tensor("s", 1, [], [1.0]), helper.make_tensor("z", FP8_T[target], [], [0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run_with_ort_values(None, {"x": ort.OrtValue.ortvalue_from_numpy(x)})[0]
    import ctypes  # the binding has no numpy type for most fp8 formats: read the output's bytes
    theirs = np.frombuffer(ctypes.string_at(y.data_ptr(), x.size), np.uint8)
    with np.errstate(all="ignore"):
        ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    for profile, peer in (("onnxruntime", theirs), ("onnx_ref", ref)):
        ours = Q.quantize(x, 1.0, None, target, profile, saturate=bool(saturate)).tolist()
        bad = [(float(a), hex(o), hex(t)) for a, o, t in zip(x, ours, peer.view(np.uint8).tolist()) if o != t]
        assert bad == [], f"{profile} vs peer, {target} saturate={saturate}: {len(bad)} differ, e.g. {bad[:4]}"


def test_power_of_two_scales_cover_the_range():
    p = choose_qparams(-3, 5, "int8", symmetric=True, power_of_two=True)
    assert p.scale == Fraction(1, 16)  # 5/127 = 0.0394 -> 2^-4 = 0.0625 covers it
    assert choose_qparams(0, 1000, "uint8", power_of_two=True).scale == 4  # 3.92 -> 4
    with pytest.raises(InvalidValueError, match="power_of_two"):
        choose_qparams(0, 1, "uint8", variant="torch", power_of_two=True)


@pytest.mark.parametrize("element", ["fp4_e2m1", "fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2"])
@given(seed=st.integers(0, 2**16))
def test_mx_blocks_shared_exponent_and_elements_vs_ml_dtypes(element, seed):
    """Each element is x / 2^X converted with saturation (RNE); X = floor(log2 amax) - emax_elem.
    The element conversion is checked against ml_dtypes casting the same exact quotient."""
    ml = need("ml_dtypes")
    names = {"fp4_e2m1": "float4_e2m1fn", "fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2",
             "fp6_e2m3": "float6_e2m3fn", "fp6_e3m2": "float6_e3m2fn"}
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(64) * rng.choice([1e-3, 1.0, 300.0])).astype(f32)
    scales, codes = Q.mx_quantize(x, 32, element)
    emax = formats.get_format(element).emax
    for blk, sc in enumerate(scales):
        part = x[blk * 32:(blk + 1) * 32]
        amax = float(np.max(np.abs(part)))
        assert sc - 127 == int(np.floor(np.log2(amax))) - emax
        q = (part.astype(np.float64) / 2.0 ** (sc - 127))  # exact: division by a power of two
        fmax = float(formats.get_format(element).max_finite)
        theirs = np.clip(q, -fmax, fmax).astype(getattr(ml, names[element]))  # clip = saturate
        bits = formats.get_format(element).width
        assert codes[blk * 32:(blk + 1) * 32] == (theirs.view(np.uint8) & (2**bits - 1)).tolist()
