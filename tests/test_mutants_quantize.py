"""Tests written against the survivors of a mutmut 3 run on refquant/quantize.py (docs/testing.md).

log2_quantize against a brute-force nearest-code search written here from its definition
(Miyashita et al. 2016 §3, docs/reference/worked-examples.md §3); mx_quantize's defaults against
ml_dtypes (OCP MX v1.0 §6.3); the exact messages of the named errors.
"""
from fractions import Fraction

import pytest

from refquant import formats, quantize as Q
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable
from peers import need


# ---------------------------------------------------------------------------------------------
# log2_quantize
# ---------------------------------------------------------------------------------------------

def _log2_reference(x, bits, rounding, emax):
    """Nearest code by brute force.  Codes: zero and +-2^e for e in [emin, emax], emin = emax -
    (2^(bits-1) - 2).  'linear': the nearest of 0, 2^emin, ..., 2^emax in |x| - c (ties to the
    larger).  'log': the nearest in log2|x| - e, zero standing at e = emin - 1 (ties to the larger);
    a tie between e1 < e2 in the log domain is |x|^2 = 2^(e1 + e2)."""
    a = abs(Fraction(x))
    emin = emax - (2 ** (bits - 1) - 2)
    best = None  # (exponent or None, the value the comparison uses)
    cands = [(None, emin - 1)] + [(e, e) for e in range(emin, emax + 1)]
    for e, pos in cands:
        if best is None:
            best = (e, pos)
            continue
        prev = best[1]
        if rounding == "linear":
            lo = 0 if best[0] is None else Fraction(2) ** prev
            closer = a - lo >= Fraction(2) ** pos - a  # candidate above, ties up
        else:
            closer = a * a >= Fraction(2) ** (prev + pos)
        if closer:
            best = (e, pos)
    if best[0] is None or a == 0:
        return (0, None)
    return (1 if x < 0 else 0, best[0])


def _grid(emax, bits):
    emin = emax - (2 ** (bits - 1) - 2)
    pts = {Fraction(0), Fraction(1)}
    for e in range(emin - 3, emax + 3):
        p = Fraction(2) ** e
        for f in (Fraction(1), Fraction(3, 2), Fraction(181, 128), Fraction(47, 32), Fraction(3, 4),
                  Fraction(5, 8), Fraction(11, 16), Fraction(1, 2), Fraction(23, 32), Fraction(1, 4)):
            pts.add(p * f)
            pts.add(p * f * (1 + Fraction(1, 2**20)))
            pts.add(p * f * (1 - Fraction(1, 2**20)))
    return sorted(pts)


@pytest.mark.parametrize("rounding", ["log", "linear"])
@pytest.mark.parametrize("bits,emax", [(2, 0), (3, 2), (4, 0), (4, 3), (5, -2), (6, 1)])
def test_log2_quantize_equals_brute_force(bits, emax, rounding):
    xs = _grid(emax, bits)
    xs = xs + [-v for v in xs if v]
    got = Q.log2_quantize(xs, bits=bits, rounding=rounding, max_exponent=emax)
    want = [_log2_reference(v, bits, rounding, emax) for v in xs]
    bad = [(v, g, w) for v, g, w in zip(xs, got, want) if g != w]
    assert not bad, bad[:5]


def test_log2_quantize_ties_go_up_and_zero_thresholds():
    # linear: 1.5 * 2^e is the tie and goes up; half of 2^emin is the zero tie and goes up
    assert Q.log2_quantize([1.5, 3, 0.75], bits=3, rounding="linear", max_exponent=2) == [(0, 1), (0, 2), (0, 0)]
    # bits 3, emax 2: emin = 0; linear zero threshold 1/2 (kept), just below it -> 0
    assert Q.log2_quantize([0.5, 0.4999], bits=3, rounding="linear", max_exponent=2) == [(0, 0), (0, None)]
    # log zero threshold 2^(emin - 1/2) = 0.7071...: 0.71 kept, 0.70 -> 0
    assert Q.log2_quantize([0.71, 0.70], bits=3, rounding="log", max_exponent=2) == [(0, 0), (0, None)]
    assert Q.log2_quantize([1.0, -1.0, 0.0], bits=3, max_exponent=2) == [(0, 0), (1, 0), (0, None)]


def test_log2_quantize_defaults_are_4_bits_log_max_exponent_0():
    xs = [2.0 ** -8, 2.0 ** -7, 2.0 ** -6, 2.0 ** -5, 0.1, 0.7, 1.0, 2.0, 1.45]
    want = Q.log2_quantize(xs, bits=4, rounding="log", max_exponent=0)
    assert Q.log2_quantize(xs) == want
    assert want == [_log2_reference(v, 4, "log", 0) for v in xs]
    assert want[-3:] == [(0, 0), (0, 0), (0, 0)] and want[:3] == [(0, None), (0, None), (0, -6)]


def test_log2_quantize_bits_domain_and_messages():
    assert Q.log2_quantize([1.0, 0.6], bits=2, max_exponent=0) == [(0, 0), (0, None)]  # one power, emin = emax
    for bits in (1, 0, -3, 2.0, "4", None):
        with pytest.raises(InvalidValueError) as exc:
            Q.log2_quantize([1.0], bits=bits)
        assert str(exc.value) == f"log2 quantization needs bits >= 2, got {bits!r}"
    with pytest.raises(UnknownNameError) as exc:
        Q.log2_quantize([1.0], rounding="nearest")
    assert str(exc.value) == "unknown log2 rounding 'nearest'; expected one of: linear, log"
    assert (exc.value.kind, exc.value.name, exc.value.valid) == ("log2 rounding", "nearest", ["linear", "log"])
    for v in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(InvalidValueError) as exc:
            Q.log2_quantize([1.0, v])
        assert str(exc.value) == f"log2 quantization of {formats.real(v)} is undefined"


# ---------------------------------------------------------------------------------------------
# mx_quantize
# ---------------------------------------------------------------------------------------------

def test_mx_quantize_defaults_block_32_fp4_e2m1_even_fp32_lists():
    """Defaults against ml_dtypes: 64 values as a Python list (read as fp32), blocks of 32, fp4."""
    np = need("numpy")
    ml = need("ml_dtypes")
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(66) * 3).astype(np.float32)
    x[5] = 0.0
    scales, codes = Q.mx_quantize(x.tolist())
    assert (scales, codes) == Q.mx_quantize(x, 32, "fp4_e2m1", "even", "fp32")
    assert len(scales) == 3 and len(codes) == 66  # blocks of 32: 32 + 32 + 2
    fmt = formats.get_format("fp4_e2m1")
    for blk, sc in enumerate(scales):
        part = x[blk * 32:(blk + 1) * 32].astype(np.float64)
        assert sc - 127 == int(np.floor(np.log2(np.max(np.abs(part))))) - fmt.emax
        q = np.clip(part / 2.0 ** (sc - 127), -float(fmt.max_finite), float(fmt.max_finite))
        assert codes[blk * 32:(blk + 1) * 32] == (q.astype(ml.float4_e2m1fn).view(np.uint8) & 0xF).tolist()


def test_mx_quantize_x_format_default_reads_lists_as_fp32():
    with pytest.raises(InvalidValueError):
        Q.mx_quantize([0.1])  # 0.1 is not an fp32 value
    assert Q.mx_quantize([float(Fraction(13421773, 2**27))])[0] == [127 - 4 - 2]  # fp32(0.1): 2^-4 -> X = -6


def test_mx_quantize_messages():
    with pytest.raises(UnknownNameError) as exc:
        Q.mx_quantize([1.0], rounding="up")
    assert str(exc.value) == "unknown MX rounding 'up'; expected one of: even, nearest"
    assert (exc.value.kind, exc.value.name) == ("MX rounding", "up")


def test_mx_quantize_zero_tiny_and_unit_blocks_vs_ml_dtypes():
    """An all-zero block has shared exponent -127 (code 0); a block of 2^-149 clamps X at -127; a
    block of 1.0 has X = 0 - emax(fp4) = -2 (code 125); elements against ml_dtypes."""
    np = need("numpy")
    ml = need("ml_dtypes")
    x = [0.0] * 32 + [2.0 ** -149] * 32 + [1.0] * 32 + [-1.0, 0.5] * 16
    scales, codes = Q.mx_quantize(x)
    assert scales == [0, 0, 125, 125]
    for blk, sc in enumerate(scales):
        part = np.array(x[blk * 32:(blk + 1) * 32], np.float64) / 2.0 ** (sc - 127)
        want = (np.clip(part, -6, 6).astype(ml.float4_e2m1fn).view(np.uint8) & 0xF).tolist()
        assert codes[blk * 32:(blk + 1) * 32] == want


def test_mx_quantize_block_size_domain_and_messages():
    assert Q.mx_quantize([1.0, 2.0], block_size=1) == ([125, 126], [6, 6])  # each alone: 1.0 = 2^-2 * 4, fp4 4.0 = 0b0110
    for bs in (0, -1, 1.5, "32", None):
        with pytest.raises(Exception) as exc:
            Q.mx_quantize([1.0], block_size=bs)
        assert type(exc.value).__name__ == "ShapeError"
        assert str(exc.value) == f"block_size must be a positive int, got {bs!r}"
    for v in (float("inf"), float("nan")):
        with pytest.raises(InvalidValueError) as exc:
            Q.mx_quantize([1.0, v])
        assert str(exc.value) == (f"MX block quantization of {formats.real(v)} is undefined "
                                  "(the block's scale would be NaN)")


# ---------------------------------------------------------------------------------------------
# dequantize_value (the definition the fast path falls back to), each profile's arithmetic
# ---------------------------------------------------------------------------------------------

def _ort_dequantize_int32(xs, scale, zp):
    np = need("numpy")
    ort = need("onnxruntime")
    from onnx import TensorProto, helper
    n = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])
    g = helper.make_graph([n], "g", [helper.make_tensor_value_info("x", TensorProto.INT32, [None])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
                          initializer=[helper.make_tensor("s", TensorProto.FLOAT, [], [scale]),
                                       helper.make_tensor("z", TensorProto.INT32, [], [zp])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": np.array(xs, np.int32)})[0].view(np.uint32).tolist()


def test_dequantize_value_f32_wraps_int32_like_onnxruntime():
    """'f32' (onnx, onnxruntime, torch, tosa): (q - zp) in int32 with wrap-around, as onnxruntime
    1.32.0 DequantizeLinear computes it; the default dtype is int32."""
    s = Fraction(3, 4)
    for zp in (-1, 0, 7, -(2**31), 2**31 - 1):
        xs = [2**31 - 1, -(2**31), 5, -5, 0]
        want = _ort_dequantize_int32(xs, 0.75, zp)
        assert [Q.dequantize_value(q, s, zp, "onnxruntime", "fp32", "int32") for q in xs] == want
        assert [Q.dequantize_value(q, s, zp, "onnx") for q in xs] == want  # default dtype int32


def test_dequantize_value_f32_without_wrap_for_narrow_types():
    # int8 q - zp never leaves int32; fl32(q - zp) * s once (numpy float32 is the same IEEE multiply)
    np = need("numpy")
    s = float(np.float32(0.1))
    for q in range(-128, 128, 7):
        for zp in (-128, 0, 127):
            want = int((np.float32(q - zp) * np.float32(s)).view(np.uint32))
            assert Q.dequantize_value(q, Fraction(s), zp, "onnxruntime", "fp32", "int8") == want


def test_dequantize_value_exact_is_one_rounding_and_the_default():
    s = Fraction(1, 3)  # not a float: exact (q - zp) * s rounded once
    for q, zp in ((3, 1), (-7, 2), (100, -100), (2**31 - 1, -1)):
        want = formats.encode("fp32", Fraction(q - zp) * s)
        assert Q.dequantize_value(q, s, zp) == want == Q.dequantize_value(q, s, zp, "exact", "fp32", "int32")
    assert Q.dequantize_value(5, Fraction(1, 2), 1, out_format="fp16") == formats.encode("fp16", 2)


def test_dequantize_value_f64_is_tflite_double_then_float():
    """'f64' (tflite): float(double(s) * (q - zp)) as TFLite's reference DEQUANTIZE writes it;
    numpy's float64 multiply and float32 cast are the same IEEE operations (q - zp up to 2^31,
    products wider than binary64 included)."""
    np = need("numpy")
    rng = np.random.default_rng(3)
    qs = rng.integers(-(2**31), 2**31, 400).tolist() + [3, -3, 0]
    zps = rng.integers(-1000, 1000, 403).tolist()
    ss = rng.uniform(1e-3, 3, 403).astype(np.float32).tolist()
    for q, zp, s in zip(qs, zps, ss):
        want = int(np.float32(np.float64(s) * float(q - zp)).view(np.uint32))
        got = Q.dequantize_value(q, Fraction(s), zp, "tflite", "fp32", "int32")
        assert got == want, (q, zp, s)
    assert Q.dequantize_value(2**31 - 1, Fraction(1, 2), -1, "tflite") == formats.encode("fp32", 2**30)  # no wrap


def test_dequantize_value_unknown_rule_message():
    from refquant.profiles import Profile
    bad = Profile("custom", "a test profile", dequantize="f16")
    with pytest.raises(UnknownNameError) as exc:
        Q.dequantize_value(1, Fraction(1), 0, bad)
    assert str(exc.value) == "unknown profile dequantize 'f16'; expected one of: exact, f32, f64"


# ---------------------------------------------------------------------------------------------
# dynamic_quantize: defaults, messages, the all-zero 'onnx' answer, scale 1 against onnxruntime
# ---------------------------------------------------------------------------------------------

def test_dynamic_quantize_default_profile_is_onnx_and_lists_are_fp32():
    np = need("numpy")
    z = np.zeros((2, 3), np.float32)
    y, s, zp = Q.dynamic_quantize(z)
    assert (s, zp) == (0, 0) and y.dtype == np.uint8 and y.shape == (2, 3) and not y.any()
    y, s, zp = Q.dynamic_quantize([[0.0, 0.0, 0.0]])
    assert (y, s, zp) == ([[0, 0, 0]], 0, 0)
    x = np.array([[-1.5, 0.25], [3.0, 2.0]], np.float32)
    ya, sa, za = Q.dynamic_quantize(x)
    yb, sb, zb = Q.dynamic_quantize(x.tolist(), "onnx")
    assert (ya.tolist(), sa, za) == (yb, sb, zb)
    with pytest.raises(InvalidValueError):
        Q.dynamic_quantize([0.1])  # not an fp32 value


def test_dynamic_quantize_scale_exactly_one_matches_onnxruntime():
    np = need("numpy")
    ort = need("onnxruntime")
    from onnx import TensorProto, helper
    x = np.array([0.0, 255.0, 17.0, 100.5], np.float32)  # range 255: scale 1.0, zp 0
    g = helper.make_graph([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [None]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                           helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    y, s, z = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for profile in ("onnx", "onnxruntime"):
        oy, os_, oz = Q.dynamic_quantize(x, profile)
        assert (oy.tolist(), os_, oz) == (y.tolist(), Fraction(float(s)), int(z)) == ([0, 255, 17, 100], 1, 0)


def test_dynamic_quantize_messages():
    np = need("numpy")
    with pytest.raises(UnknownNameError) as exc:
        Q.dynamic_quantize([1.0], "tflite")
    assert str(exc.value) == "unknown dynamic quantize profile 'tflite'; expected one of: onnx, onnx_ref, onnxruntime"
    for profile in ("onnx", "onnx_ref"):
        with pytest.raises(InvalidValueError) as exc:
            Q.dynamic_quantize(np.array([np.nan, 1.0], np.float32), profile)
        assert str(exc.value) == f"NaN in DynamicQuantizeLinear input: the spec defines no result (profile {profile!r})"
    assert Q.dynamic_quantize(np.array([np.nan, 1.0], np.float32), "onnxruntime")[2] == 0
    with pytest.raises(InvalidValueError) as exc:
        Q.dynamic_quantize(np.array([np.inf, 1.0], np.float32), "onnxruntime")
    assert str(exc.value) == "inf in DynamicQuantizeLinear input: the scale would be inf"
    with pytest.raises(InvalidValueError) as exc:
        Q.dynamic_quantize(np.array([np.nan], np.float32), "onnxruntime")
    assert str(exc.value) == "DynamicQuantizeLinear needs at least one non-NaN element"
    tiny = np.array([0.0, 2.0 ** -149], np.float32)
    with pytest.raises(InvalidValueError) as exc:
        Q.dynamic_quantize(tiny)
    assert str(exc.value) == (f"DynamicQuantizeLinear range {Fraction(1, 2**149)} is so small that its fp32 "
                              "scale underflows to 0")


# ---------------------------------------------------------------------------------------------
# dequantize: defaults, numpy edge, output dtypes, fp8 specials, int32 wrap against onnxruntime
# ---------------------------------------------------------------------------------------------

def test_dequantize_defaults_int8_exact():
    assert Q.dequantize([3, -128, 127], 0.5) == Q.dequantize([3, -128, 127], 0.5, None, "int8", "exact")
    with pytest.raises(InvalidValueError) as exc:
        Q.dequantize([0, 300], 1.0)  # int8 by default
    assert str(exc.value) == "element 1 300 is outside int8 [-128, 127]"
    with pytest.raises(InvalidValueError) as exc:
        Q.dequantize([0, 70000], 1.0, dtype="int16")
    assert str(exc.value) == "element 1 70000 is outside int16 [-32768, 32767]"


@pytest.mark.parametrize("out_format,np_name,bits", [("fp32", "float32", "uint32"), ("fp16", "float16", "uint16"),
                                                     ("fp64", "float64", "uint64"), ("bf16", "bfloat16", "uint16")])
def test_dequantize_numpy_output_dtype_and_values(out_format, np_name, bits):
    """numpy in, bit patterns of out_format out, with the unsigned dtype of its width; values are
    (q - zp) * s rounded once (exact in float64 here, then one cast, as numpy / ml_dtypes round)."""
    np = need("numpy")
    ml = need("ml_dtypes")
    q = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    s = float(np.float32(0.3))
    y = Q.dequantize(q, s, 5, "int8", "exact", out_format=out_format)
    assert y.dtype == np.dtype(bits) and y.shape == (2, 3, 4)
    target = getattr(ml, np_name) if np_name == "bfloat16" else np.dtype(np_name)
    want = ((q.astype(np.float64) - 5) * s).astype(target).view(bits)
    assert y.tolist() == want.tolist()


def test_dequantize_int32_wraps_like_onnxruntime_per_axis():
    np = need("numpy")
    xs = [2**31 - 1, -(2**31), 7]
    want = _ort_dequantize_int32(xs, 0.75, -1)
    for profile in ("onnxruntime", "onnx"):
        got = Q.dequantize(np.array(xs, np.int32), 0.75, -1, "int32", profile)
        assert got.tolist() == want
        got = Q.dequantize([[v] for v in xs], [0.75], [-1], "int32", profile, axis=1)
        assert [r[0] for r in got] == want


def test_dequantize_fp8_specials_against_ml_dtypes():
    """fp8 codes: decoded, finite ones times the scale; NaN and inf stay non-finite."""
    np = need("numpy")
    ml = need("ml_dtypes")
    codes = np.arange(256, dtype=np.uint8)
    for name, mlname in (("fp8_e5m2", "float8_e5m2"), ("fp8_e4m3fn", "float8_e4m3fn")):
        got = np.array(Q.dequantize(codes.tolist(), 2.0, None, name), np.uint32).view(np.float32)
        want = codes.view(getattr(ml, mlname)).astype(np.float32) * np.float32(2.0)
        assert np.array_equal(np.isnan(got), np.isnan(want))
        ok = ~np.isnan(want)
        assert np.array_equal(got[ok], want[ok])


# ---------------------------------------------------------------------------------------------
# fake_quantize: forward values and the STE mask against torch, seeded and small (fast)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale,zp,qmin,qmax", [(0.05, 0, -128, 127), (0.1, 10, 0, 255), (0.37, -3, -8, 7),
                                                (1.0, 0, -2, 1)])
def test_fake_quantize_equals_torch_forward_and_mask(scale, zp, qmin, qmax):
    """torch 2.13 fake_quantize_per_tensor_affine: y bit for bit; the mask is torch's gradient of
    sum(y) with respect to x (1 inside [qmin, qmax] on the unclamped integer, else 0)."""
    np = need("numpy")
    torch = need("torch")
    rng = np.random.default_rng(int(scale * 1000) + zp)
    s = np.float32(scale)
    x = (rng.standard_normal(300) * float(s) * (qmax - qmin) / 3).astype(np.float32)
    x[:4] = [0.0, -0.0, float(s) * (qmax - zp + 0.5), float(s) * (qmin - zp - 0.5)]  # ties at the ends
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.fake_quantize_per_tensor_affine(xt, float(s), zp, qmin, qmax)
    yt.sum().backward()
    ybits, mask = Q.fake_quantize(x, s, zp, qmin, qmax)
    assert ybits.dtype == np.uint32 and mask.dtype == np.uint8 and ybits.shape == x.shape
    assert ybits.tolist() == yt.detach().numpy().view(np.uint32).tolist()
    assert mask.tolist() == xt.grad.numpy().astype(np.uint8).tolist()
    assert Q.fake_quantize(x.tolist(), s, zp, qmin, qmax, "torch_fake_quant") == (ybits.tolist(), mask.tolist())


def test_fake_quantize_messages():
    with pytest.raises(InvalidValueError) as exc:
        Q.fake_quantize([1.0, float("inf")], 0.5, 0, -128, 127)
    assert str(exc.value) == "fake_quantize of inf is undefined under 'torch_fake_quant'"
    with pytest.raises(Unpredictable) as exc:
        Q.fake_quantize([2.0 ** 127], 2.0 ** -20, 0, -128, 127)
    assert "torch converts it to int64 (C UB)" in str(exc.value) and str(exc.value).startswith("fake_quantize of ")


# ---------------------------------------------------------------------------------------------
# fp8 targets: onnxruntime's saturate=0 deviation at the ends of its ranges, quantize_value_float's defaults
# ---------------------------------------------------------------------------------------------

def _ort_quantize_fp8(x, target, saturate):
    np = need("numpy")
    ort = need("onnxruntime")
    import ctypes
    from onnx import TensorProto, helper
    t = {"fp8_e4m3fn": TensorProto.FLOAT8E4M3FN, "fp8_e5m2": TensorProto.FLOAT8E5M2}[target]
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=saturate)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                          [helper.make_tensor_value_info("y", t, [None])],
                          initializer=[helper.make_tensor("s", TensorProto.FLOAT, [], [1.0]),
                                       helper.make_tensor("z", t, [], [0])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run_with_ort_values(None, {"x": ort.OrtValue.ortvalue_from_numpy(x)})[0]
    return np.frombuffer(ctypes.string_at(y.data_ptr(), x.size), np.uint8).tolist()


@pytest.mark.parametrize("target,ends", [("fp8_e4m3fn", (480, 496)), ("fp8_e5m2", (61440, 65536))])
def test_onnxruntime_fp8_saturate0_deviation_ends(target, ends):
    """onnxruntime 1.32.0, saturate=0: the measured deviation holds on [lo, hi) and not at hi."""
    np = need("numpy")
    vals = []
    for e in ends:
        vals += [e, float(np.nextafter(np.float32(e), np.float32(0))), float(np.nextafter(np.float32(e), np.float32(1e9)))]
    x = np.array(vals + [-v for v in vals], np.float32)
    want = _ort_quantize_fp8(x, target, 0)
    assert Q.quantize(x, 1.0, None, target, "onnxruntime", saturate=False).tolist() == want


def test_quantize_value_float_defaults_exact_saturating_fp32():
    """Defaults: profile 'exact', saturate, fp32 x and scale: x / s exactly, RNE, saturated (ml_dtypes)."""
    np = need("numpy")
    ml = need("ml_dtypes")
    xs = [1000.0, -1000.0, 3.25, 0.0078125, 449.0, 464.0, 1.0625]
    for x in xs:
        r = formats.exact("fp32", x)
        got = Q.quantize_value_float(r, Fraction(1, 2), "fp8_e4m3fn")
        assert got == Q.quantize_value_float(r, Fraction(1, 2), "fp8_e4m3fn", "exact", True, "fp32", "fp32")
        want = np.array([np.clip(x * 2, -448, 448)]).astype(ml.float8_e4m3fn).view(np.uint8)[0]
        assert got == int(want), x
    # onnx divides at the scale's precision: the default scale_format is fp32
    assert Q.quantize_value_float(formats.exact("fp32", 0.75), Fraction(3), "fp8_e5m2", "onnx") == \
        formats.encode("fp8_e5m2", formats.round_to("fp32", Fraction(1, 4)), "rne", "saturate")


# ---------------------------------------------------------------------------------------------
# fake_quantize_learnable_grad against torch: grad_factor != 1, fractional zero points, the ends
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zpf,gf", [(3.4, 0.5), (3.5, 2.0), (-2.6, 0.25)])
def test_learnable_grads_match_torch_with_grad_factor_and_ends(zpf, gf):
    """torch 2.13 _fake_quantize_learnable_per_tensor_affine: dx exactly, dscale / dzero_point to
    torch's float32 sums.  x includes the values whose integer is exactly qmin and qmax."""
    np = need("numpy")
    torch = need("torch")
    rng = np.random.default_rng(int(gf * 100))
    s = np.float32(0.25)
    zp = min(max(int(Fraction(zpf) + Fraction(1, 2)), -8), 7)  # torch's backward zero point
    x = (rng.standard_normal(40) * 2).astype(np.float32)
    x[:4] = [(-8 - zp) * 0.25, (7 - zp) * 0.25, (-9 - zp) * 0.25, (8 - zp) * 0.25]  # qmin, qmax, just outside
    dy = rng.standard_normal(40).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    st_ = torch.tensor([float(s)], requires_grad=True)
    zt = torch.tensor([float(np.float32(zpf))], requires_grad=True)
    y = torch._fake_quantize_learnable_per_tensor_affine(xt, st_, zt, -8, 7, gf)
    y.backward(torch.from_numpy(dy))
    dx, ds, dz = Q.fake_quantize_learnable_grad(x.tolist(), dy.tolist(), s, Fraction(float(np.float32(zpf))), -8, 7, gf)
    assert [Fraction(v) for v in xt.grad.tolist()] == dx
    assert abs(float(ds) - float(st_.grad)) <= 1e-5 * max(1, abs(float(ds)))
    assert abs(float(dz) - float(zt.grad)) <= 1e-5 * max(1, abs(float(dz)))


def test_learnable_grad_shape_message():
    with pytest.raises(Exception) as exc:
        Q.fake_quantize_learnable_grad([1.0, 2.0], [1.0], 0.5, 0, -8, 7)
    assert type(exc.value).__name__ == "ShapeError" and str(exc.value) == "dy has 1 elements, x has 2"


def test_to_reals_default_fp32_and_dtype_message():
    np = need("numpy")
    reals, shape, fmt = Q.to_reals([[1.0, -0.5]])
    assert (shape, fmt) == ((1, 2), "fp32") and [r.value for r in reals] == [1, Fraction(-1, 2)]
    with pytest.raises(InvalidValueError):
        Q.to_reals([0.1])  # not an fp32 value
    with pytest.raises(InvalidValueError) as exc:
        Q.to_reals(np.array([1, 2], np.int32))
    assert str(exc.value) == ("numpy input of dtype int32 is not a float format; expected one of "
                              "['bfloat16', 'float16', 'float32', 'float64']")


def test_mx_quantize_shared_exponent_clamps_at_127_for_fp64_input():
    """OCP MX v1.0 §6.3: X is clamped to e8m0's range; an fp64 input of 2^200 gives X = 127 (code 254)."""
    scales, codes = Q.mx_quantize([2.0 ** 200, 1.0], x_format="fp64")
    assert scales == [254] and codes[0] == 7  # 2^200 / 2^127 saturates to fp4's max (0b0111 = 6.0)


# ---------------------------------------------------------------------------------------------
# quantize_value: the zero-point placements against torch (seeded, small), defaults and bounds
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tdtype,dtype,profile,zp", [("quint8", "uint8", "torch", 10), ("qint8", "int8", "torch", -7),
                                                     ("qint32", "int32", "torch_qint32", 5),
                                                     ("qint32", "int32", "torch_qint32", -1000)])
def test_zero_point_fused_and_float_before_match_torch(tdtype, dtype, profile, zp):
    """'torch' fuses zp into an fma, 'torch_qint32' adds it in float before rounding (torch 2.13
    quantize_per_tensor); both differ from adding it after rounding near .5 ties."""
    np = need("numpy")
    torch = need("torch")
    s = np.float32(0.1)
    rng = np.random.default_rng(abs(zp))
    k = rng.integers(-150, 150, 300).astype(np.float64)
    x = np.concatenate([((k + 0.5) * float(s)).astype(np.float32), (k * 0.37).astype(np.float32),
                        np.nextafter(((k + 0.5) * float(s)).astype(np.float32), np.float32(0))])
    t = torch.quantize_per_tensor(torch.from_numpy(x), float(s), zp, getattr(torch, tdtype)).int_repr().tolist()
    assert Q.quantize(x, s, zp, dtype, profile).tolist() == t
    reals = [formats.decode("fp32", b) for b in x.view(np.uint32).tolist()]
    assert [Q.quantize_value(r, Fraction(float(s)), zp, dtype, profile) for r in reals] == t


def test_quantize_value_defaults_and_explicit_bounds():
    r = formats.exact("fp32", 2.5)
    assert Q.quantize_value(r, Fraction(1), 0, "int8") == 2 == Q.quantize_value(r, Fraction(1), 0, "int8", "exact")
    assert Q.quantize_value(formats.exact("fp32", 100.0), Fraction(1), 0, "int8", qmin=-8, qmax=7) == 7
    assert Q.quantize_value(formats.exact("fp32", -100.0), Fraction(1), 0, "int8", qmin=-8, qmax=7) == -8
    assert Q.quantize_value(formats.exact("fp32", 300.0), Fraction(1), 0, "int8") == 127


def test_dynamic_quantize_numpy_output_is_uint8():
    np = need("numpy")
    y, s, zp = Q.dynamic_quantize(np.array([[-1.0, 2.0], [0.5, 3.0]], np.float32))
    assert y.dtype == np.uint8 and y.shape == (2, 2)


def test_values_decodes_nested_bit_patterns():
    np = need("numpy")
    bits = [[0x3F800000, 0xBF000000], [0x7F800000, 0x00000001]]
    v = Q.values(bits)
    assert v[0] == [1, Fraction(-1, 2)] and v[1][1] == Fraction(1, 2**149)
    assert v[1][0].is_inf and v[1][0].sign == 0
    h = Q.values([0x3C00, 0xC000], "fp16")
    assert h == [Fraction(float(np.array(0x3C00, np.uint16).view(np.float16))), -2]
    assert Q.values(np.uint32(0x40400000)) == 3


# ---------------------------------------------------------------------------------------------
# Second pass (engineer n11): the 29 survivors left unclassified after the third retest.
# ---------------------------------------------------------------------------------------------
import numpy as np  # noqa: E402

def _f32(v):
    return formats.real(Fraction(float(np.float32(v))))


def test_onnx_ref_promotes_fp32_x_with_fp16_scale():
    """'onnx_ref' divides as numpy does: fp32 x / fp16 scale is an fp32 division (numpy 2.1.3
    promotion), so x_format's default ("fp32") decides the quotient's precision.  x = 2.5 + 2^-10:
    fp32 keeps it (rint 3), an fp16 quotient would tie to 2.5 (rint 2).  Also through quantize()'s
    fast path (_compile_fast)."""
    x = np.float32(2.5 + 2 ** -10)
    s = np.float16(1.0)
    want = int(np.rint(x / s))
    assert (x / s).dtype == np.float32 and want == 3
    assert Q.quantize_value(_f32(x), Fraction(1), 0, "int8", "onnx_ref", scale_format="fp16") == want
    got = Q.quantize(np.array([x, -x], np.float32), 1.0, 0, "int8", "onnx_ref", scale_format="fp16")
    assert got.tolist() == np.rint(np.array([x, -x], np.float32) / s).astype(np.int8).tolist()


def test_quantize_value_float_onnx_ref_promotion_and_torch_zero_point():
    """fp8 targets: 'onnx_ref' with an fp16 scale divides in fp32 (numpy promotion, then
    ml_dtypes' RNE cast); the fused 'torch' profile adds no zero point for a float target:
    fl32(x · fl32(1/s)), then RNE into fp8 (ml_dtypes 0.5.3)."""
    ml = pytest.importorskip("ml_dtypes")
    x = np.float32(np.nextafter(np.float32(2.125), np.float32(3)))  # fp32: rounds up to 2.25; fp16: 2.125 -> 2.0
    q = x / np.float16(1.0)
    want = int(np.array([q]).astype(ml.float8_e4m3fn).view(np.uint8)[0])
    assert Q.quantize_value_float(_f32(x), Fraction(1), "fp8_e4m3fn", "onnx_ref", scale_format="fp16") == want
    rng = np.random.default_rng(7)
    xs = (rng.standard_normal(200) * 4).astype(np.float32)
    for s in (np.float32(0.5), np.float32(0.3)):
        inv = np.float32(1) / s
        ref = (xs * inv).astype(ml.float8_e4m3fn).view(np.uint8).tolist()
        got = [Q.quantize_value_float(_f32(v), Fraction(float(s)), "fp8_e4m3fn", "torch") for v in xs]
        assert got == ref


def test_dequantize_value_wraps_uint32_not_int64():
    """'f32' dequantize: uint32 q - zp is taken in int32 as a C int32 subtraction would (numpy's
    uint32 difference viewed as int32), int64 is not wrapped (numpy int64 -> float32, RNE)."""
    s = Fraction(1, 4)
    for q, zp in ((2 ** 32 - 1, 0), (2 ** 31, 1), (7, 2 ** 32 - 1)):
        d = (np.array([q], np.uint32) - np.array([zp], np.uint32)).view(np.int32)[0]
        want = int(np.array([np.float32(d) * np.float32(0.25)], np.float32).view(np.uint32)[0])
        assert Q.dequantize_value(q, s, zp, "onnxruntime", "fp32", "uint32") == want
    for q in (2 ** 40 + 3, -(2 ** 33)):
        want = int(np.array([np.float32(np.int64(q)) * np.float32(0.25)], np.float32).view(np.uint32)[0])
        assert Q.dequantize_value(q, s, 0, "onnxruntime", "fp32", "int64") == want


def test_dequantize_fp8_output_takes_the_definition():
    """An fp8 out_format has no fast path (compile_dequantizer answers None): the definition runs
    with the tensor's dtype (uint32 wraps, int64 does not), and a numpy result holds the codes as
    uint32 (ml_dtypes 0.5.3 casts as the reference)."""
    ml = pytest.importorskip("ml_dtypes")
    q = np.array([2 ** 32 - 1, 2 ** 32 - 8, 5], np.uint32)
    got = Q.dequantize(q, 0.5, 0, "uint32", "onnxruntime", out_format="fp8_e4m3fn")
    d = q.view(np.int32).astype(np.float32) * np.float32(0.5)
    assert got.dtype == np.uint32 and got.tolist() == d.astype(ml.float8_e4m3fn).view(np.uint8).tolist()
    q64 = np.array([2 ** 33, -(2 ** 32), 3], np.int64)
    got = Q.dequantize(q64, 2.0 ** -30, 0, "int64", "onnxruntime", out_format="fp8_e4m3fn")
    d = q64.astype(np.float32) * np.float32(2.0 ** -30)
    assert got.dtype == np.uint32 and got.tolist() == d.astype(ml.float8_e4m3fn).view(np.uint8).tolist()
    assert Q.dequantize([[3, -3]], 0.5, 0, "int8", "onnxruntime", out_format="fp8_e4m3fn") == \
        [np.array([1.5, -1.5], np.float32).astype(ml.float8_e4m3fn).view(np.uint8).tolist()]


def test_dynamic_quantize_underflow_message_names_the_range():
    """The range hi - lo (not hi + lo) is named; numpy confirms the fp32 scale underflows."""
    x = np.array([-2.0 ** -149, 2.0 ** -149], np.float32)
    assert np.float32(x.max() - x.min()) / np.float32(255) == 0
    with pytest.raises(InvalidValueError) as exc:
        Q.dynamic_quantize(x)
    r = Fraction(2, 2 ** 149)
    assert str(exc.value) == f"DynamicQuantizeLinear range {r} is so small that its fp32 scale underflows to 0"


def test_fake_quantize_under_the_fused_torch_profile():
    """A profile whose zero point is fused into the quotient ('torch') adds none after rounding:
    forward values equal torch 2.13 quantize_per_tensor(quint8).dequantize() inside the range."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal(64).astype(np.float32)
    s, zp = np.float32(0.05), 128
    y, mask = Q.fake_quantize(x, s, zp, 0, 255, profile="torch")
    ref = torch.quantize_per_tensor(torch.from_numpy(x), float(s), zp, torch.quint8).dequantize().numpy()
    assert mask.tolist() == [1] * 64
    assert y.tolist() == ref.view(np.uint32).tolist()


def test_to_reals_reads_an_object_without_dtype_as_nested_lists():
    """Only an object with both .dtype and .shape is read as a numpy array."""
    class Shaped(list):
        shape = (2,)
    reals, shape, fmt = Q.to_reals(Shaped([1.5, -2.0]))
    assert [r.value for r in reals] == [Fraction(3, 2), -2] and shape == (2,) and fmt == "fp32"


def test_onnx_ref_int32_out_of_range_is_int32_min_before_the_zero_point():
    """'onnx_ref' (onnx 1.21.0's numpy QuantizeLinear): rint, astype(int32) (x86: every n outside
    [-2^31, 2^31) gives INT32_MIN), + zp wrapping in int32, clip.  numpy on this x86 machine is
    the reference; quotients -2^32 and -(2^31 + 2^8) are below the int32 range."""
    import platform
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the INT32_MIN conversion result is x86's (cvttsd2si)")
    for x in (-2.0 ** 32, -(2.0 ** 31 + 2 ** 8), -2.0 ** 31, 2.0 ** 31, 2.0 ** 33):
        for zp in (0, 5, -7):
            with np.errstate(invalid="ignore"):
                n = np.rint(np.array([x], np.float32) / np.float32(1)).astype(np.int32)
            want = int((n + np.int32(zp))[0])  # int32 addition wraps
            assert Q.quantize_value(_f32(x), Fraction(1), zp, "int32", "onnx_ref") == want, (x, zp)


# ---------------------------------------------------------------------------------------------
# Third pass (engineer q3): the 461 mutants the earlier runs did not reach (quantize, _quotient,
# _parameters, _quotient_format, quantize_value, to_bits, _granularity, ...).
# ---------------------------------------------------------------------------------------------

def _rne(v):
    """Round a Fraction half to even (independent of refquant.rounding)."""
    f = v.numerator // v.denominator
    r = v - f
    return f + (1 if r > Fraction(1, 2) or (r == Fraction(1, 2) and f % 2) else 0)


def _onnx_ref_quantize(x, s, opset=21):
    """The onnx 1.21.0 ReferenceEvaluator's QuantizeLinear (int8 out, zero point 0) on numpy x / s."""
    pytest.importorskip("onnx")
    from onnx import TensorProto as TP, helper
    from onnx.reference import ReferenceEvaluator
    ml = pytest.importorskip("ml_dtypes")
    tp = {np.dtype(np.float16): TP.FLOAT16, np.dtype(ml.bfloat16): TP.BFLOAT16, np.dtype(np.float32): TP.FLOAT,
          np.dtype(np.float64): TP.DOUBLE}
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", tp[x.dtype], [None]),
                                        helper.make_tensor_value_info("s", tp[s.dtype], []),
                                        helper.make_tensor_value_info("z", TP.INT8, [])],
                          [helper.make_tensor_value_info("y", TP.INT8, [None])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    return ReferenceEvaluator(m).run(None, {"x": x, "s": s, "z": np.array(0, np.int8)})[0]


_FMT_DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32", "fp64": "float64"}


def _near_ties(xdt, s):
    """x near (k + 1/2)·s, a few ulps of each precision away, held in xdt."""
    xs = []
    for k in range(0, 6):
        for d in (2.0 ** -9, 2.0 ** -12, 2.0 ** -20, 2.0 ** -30, 2.0 ** -45):
            for sign in (1, -1):
                xs.append((k + 0.5) * float(s) * (1 + sign * d))
    return np.array(xs, np.float64).astype(xdt)


@pytest.mark.parametrize("xf", ["fp16", "bf16", "fp32", "fp64"])
@pytest.mark.parametrize("sf", ["fp16", "bf16", "fp32", "fp64"])
def test_onnx_ref_quotient_precision_every_pair_vs_reference_evaluator(xf, sf):
    """'onnx_ref' divides x / scale in numpy's promoted dtype (ml_dtypes 0.5.3: fp16 with bf16 is
    fp32, bf16 with fp64 is fp64): equal to the onnx 1.21.0 ReferenceEvaluator's QuantizeLinear
    (which runs every pair, fp64 ones included) on values near the .5 ties of every precision.
    Regression: bf16 with fp64 divided in fp32 (q3, 2026-12-03)."""
    ml = pytest.importorskip("ml_dtypes")
    xdt = np.dtype(ml.bfloat16) if xf == "bf16" else np.dtype(_FMT_DTYPES[xf])
    sdt = np.dtype(ml.bfloat16) if sf == "bf16" else np.dtype(_FMT_DTYPES[sf])
    for s in (1.0, 3.0, 0.375):
        sv = np.array(s, sdt)
        x = _near_ties(xdt, s)
        want = _onnx_ref_quantize(x, sv).tolist()
        got = Q.quantize(x, s, 0, "int8", "onnx_ref", scale_format=sf).tolist()
        assert got == want, (xf, sf, s)
    # the pairs whose precision differs from both operands' own
    assert Q._quotient_format(Q.get_profile("onnx_ref"), xf, sf) == (np.array([1], xdt) / np.array([1], sdt)).dtype \
        .name.replace("float", "fp").replace("bfp16", "bf16")


def test_quantize_defaults_int8_saturating_fp32_lists():
    """quantize's defaults: dtype int8 (saturates at -128 / 127), 'exact', fp32 lists, saturate=True
    for a float target (1000 -> 448 = 0x7e in fp8_e4m3fn; OFP8 saturation as the onnx reference
    with saturate=1)."""
    ml = pytest.importorskip("ml_dtypes")
    assert Q.quantize([200.0, -200.0, 2.5, -3.5], 1.0) == [127, -128, 2, -4]
    assert Q.quantize([1000.0, -1000.0], 1.0, dtype="fp8_e4m3fn") == [0x7E, 0xFE]
    assert int(np.array([448.0], np.float32).astype(ml.float8_e4m3fn).view(np.uint8)[0]) == 0x7E
    with pytest.raises(InvalidValueError):
        Q.quantize([0.1], 1.0)  # not exactly fp32
    # a list read in another declared format: fp64 2.5 + 2^-40 is not fp32; exact RNE gives 3
    x = 2.5 + 2.0 ** -40
    assert Q.quantize([x, -x], 1.0, x_format="fp64") == [_rne(Fraction(x)), _rne(Fraction(-x))] == [3, -3]


def test_quantize_fp8_target_quotient_precision_follows_both_formats():
    """fp8 targets through quantize(): 'onnx_ref' forms x / s in numpy's promoted dtype, then
    ml_dtypes 0.5.3's RNE cast.  fp32 x / fp16 s divides in fp32 (1.0625 + 2^-20 stays above the
    fp8 tie, 1.125); fp16 x / fp16 s divides in fp16."""
    ml = pytest.importorskip("ml_dtypes")
    x = np.array([1.0625 + 2.0 ** -20, -(1.0625 + 2.0 ** -20)], np.float32)
    s16 = np.float16(1.0)
    want = (x / s16).astype(ml.float8_e4m3fn).view(np.uint8).tolist()
    assert (x / s16).dtype == np.float32
    assert Q.quantize(x, 1.0, None, "fp8_e4m3fn", "onnx_ref", scale_format="fp16").tolist() == want
    # fp16 x and scale: search a few fp16 pairs whose fp16 and fp32 quotients differ in fp8
    xs = np.arange(0x3C00, 0x5C00, dtype=np.uint16).view(np.float16)  # every fp16 in [1, 256)
    for s in (np.float16(1.3), np.float16(0.7)):
        q16 = (xs / s).astype(ml.float8_e4m3fn).view(np.uint8)
        q32 = (xs.astype(np.float32) / np.float32(s)).astype(ml.float8_e4m3fn).view(np.uint8)
        pick = np.flatnonzero(q16 != q32)
        assert pick.size
        sel = xs[np.concatenate([pick, np.arange(32)])]
        got = Q.quantize(sel, float(s), None, "fp8_e4m3fn", "onnx_ref", scale_format="fp16")
        assert got.tolist() == (sel / s).astype(ml.float8_e4m3fn).view(np.uint8).tolist()
    # a float target's zero point is not an integer-type value (ignored, as in both ONNX runtimes)
    assert Q.quantize([1.0, -2.0], 1.0, 0, "fp8_e4m3fn") == \
        np.array([1.0, -2.0], np.float32).astype(ml.float8_e4m3fn).view(np.uint8).tolist()


def test_quantize_numpy_output_dtypes_are_onnx_element_types():
    """numpy in, numpy out: the output dtype is the ONNX element type's numpy dtype
    (onnx.helper.tensor_dtype_to_np_dtype, onnx 1.21.0); int4 / uint4 are held in int8 / uint8
    and fp8 codes in uint8 (int2 likewise, int48 in int64)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    x = np.array([1.0, -1.0, 0.0], np.float32)
    for dt, tp in (("int8", TP.INT8), ("uint8", TP.UINT8), ("int16", TP.INT16), ("uint16", TP.UINT16),
                   ("int32", TP.INT32), ("uint32", TP.UINT32), ("int64", TP.INT64), ("uint64", TP.UINT64)):
        got = Q.quantize(x, 1.0, None, dt)
        assert got.dtype == onnx.helper.tensor_dtype_to_np_dtype(tp), dt
    for dt, want in (("int4", np.int8), ("uint4", np.uint8), ("int2", np.int8), ("uint2", np.uint8),
                     ("int48", np.int64), ("int8_narrow", np.int8), ("fp8_e4m3fn", np.uint8)):
        assert Q.quantize(x, 1.0, None, dt).dtype == want, dt


def test_quantize_value_tflite_rounds_half_away():
    """'tflite' (TFLite reference QUANTIZE: std::round) rounds .5 away from zero: floor(|v| + 1/2)
    with the sign, written out here."""
    for v in (Fraction(5, 2), Fraction(-5, 2), Fraction(1, 2), Fraction(7, 2), Fraction(-1, 2)):
        want = int((abs(v) + Fraction(1, 2)) // 1) * (1 if v > 0 else -1)
        assert Q.quantize_value(formats.real(v), Fraction(1), 0, "int8", "tflite") == want


def test_quantize_granularity_axis_block_and_messages():
    """ONNX QuantizeLinear-21: axis in [-r, r - 1]; block_size a positive int, the last block may
    be short (ceil(d / B) scales); each element's scale written out here (element i: scale
    [i // B])."""
    x = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert Q.quantize(x, [1.0, 0.5], None, "int8", axis=-2) == Q.quantize(x, [1.0, 0.5], None, "int8", axis=0) \
        == [[1, 2, 3], [8, 10, 12]]
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    scales = [0.5, 1.0, 0.25]
    want = [_rne(Fraction(v) / Fraction(scales[i // 2])) for i, v in enumerate(xs)]
    assert Q.quantize(xs, scales, None, "int8", axis=0, block_size=2) == want == [2, 4, 3, 4, 20]
    assert Q.quantize(xs, xs, None, "int8", axis=0, block_size=1) == [1] * 5
    with pytest.raises(ShapeError) as e:
        Q.quantize(xs, [1.0, 2.0], None, "int8")
    assert str(e.value) == "per-tensor quantization needs one scale, got shape (2,); pass axis= for per-axis"
    for bad in (0, -1, 2.0):
        with pytest.raises(ShapeError) as e:
            Q.quantize(xs, scales, None, "int8", axis=0, block_size=bad)
        assert str(e.value) == f"block_size must be a positive int, got {bad!r}"


def test_quantize_value_unknown_quotient_rule_message():
    from refquant.profiles import Profile
    bad = Profile("custom", "a test profile", quotient="recip_mul")
    with pytest.raises(UnknownNameError) as exc:
        Q.quantize_value(formats.real(Fraction(1)), Fraction(1), 0, "int8", bad)
    assert str(exc.value) == "unknown profile quotient 'recip_mul'; expected one of: div, exact, fma_zp, mul_recip"


def test_scale_value_fraction_messages_and_to_bits_default():
    """A Fraction scale is checked against scale_format with its own message (a float scale gets
    formats.exact's); to_bits reads lists as fp32 by default (numpy's float32 bits as reference)."""
    for s, fmt in ((Fraction(1, 3), "fp32"), (Fraction(2 ** 200), "fp32"), (Fraction(1, 2 ** 25), "fp16")):
        with pytest.raises(InvalidValueError) as exc:
            Q.quantize([1.0], s, scale_format=fmt)
        assert str(exc.value) == f"scale {s} is not exactly representable in {fmt}"
    with pytest.raises(InvalidValueError) as exc:
        Q.quantize([1.0], Fraction(-1, 2))
    assert str(exc.value) == "scale must be finite and > 0, got -1/2"
    assert Q.quantize([1.0], Fraction(1, 2 ** 149)) == [127]  # the smallest fp32 subnormal is a scale
    assert Q.to_bits([1.5, -0.0]) == (np.array([1.5, -0.0], np.float32).view(np.uint32).tolist(), (2,), "fp32")


def test_to_bits_keeps_numpy_bits_and_reads_shape_only_objects_as_lists():
    """to_bits returns a numpy array's own bit patterns (NaN payloads, signalling NaNs and -0
    kept, as numpy's view), and reads an object with .shape but no .dtype as nested lists."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for dt, bits_dt, pats in ((np.float32, np.uint32, [0x7FC00001, 0xFFA00000, 0x80000000, 0x3F800000]),
                              (np.float16, np.uint16, [0x7E01, 0xFD00, 0x8000]),
                              (ml_dtypes.bfloat16, np.uint16, [0x7FC1, 0xFF81, 0x8000])):
        a = np.array(pats, bits_dt).view(dt).reshape(1, -1)
        bits, shape, fmt = Q.to_bits(a)
        assert bits == a.reshape(-1).view(bits_dt).tolist() == pats and shape == (1, len(pats))

    class Shaped(list):
        shape = (2,)
    assert Q.to_bits(Shaped([1.5, -2.0])) == (np.array([1.5, -2.0], np.float32).view(np.uint32).tolist(), (2,), "fp32")
    with pytest.raises(InvalidValueError) as exc:
        Q.to_bits(np.array([1], np.int32))
    assert str(exc.value) == ("numpy input of dtype int32 is not a float format; expected one of "
                              "['bfloat16', 'float16', 'float32', 'float64']")


def test_exact_profile_divides_x_unrounded():
    """Only a profile dividing at the scale's precision rounds x first ('onnx'); 'exact' divides
    the exact fp64 x: 2.5 + 2^-40 over 1 is above the tie (3, Fraction reference), while x
    rounded to fp32 first would be the tie 2.5 (2)."""
    x = Fraction(2.5 + 2.0 ** -40)
    for v in (x, -x):
        want = _rne(v)
        assert abs(want) == 3
        assert Q.quantize_value(formats.real(v), Fraction(1), 0, "int8", "exact", x_format="fp64") == want
        assert Q.quantize_value(formats.real(v), Fraction(1), 0, "int8", "exact", x_format="fp64",
                                scale_format="fp16") == want


@pytest.mark.parametrize("tname,profile,dtype", [("qint32", "torch_qint32", "int32"), ("quint8", "torch", "uint8"),
                                                 ("qint8", "torch", "int8")])
def test_nan_quotient_of_zero_times_infinite_reciprocal_matches_torch(tname, profile, dtype):
    """A NaN formed inside the quotient: scale 2^-149 has fl32(1/s) = inf, so x = 0 gives
    0 · inf = NaN (torch_qint32's mul, torch's fma with the zero point), answered by the profile's
    NaN rule: INT32_MIN for qint32, qmax for quint8 / qint8, as torch 2.13 quantize_per_tensor."""
    torch = pytest.importorskip("torch")
    xs = [0.0, -0.0, 1e-45, 1.0, -1.0]
    for zp in (0, 3):
        want = torch.quantize_per_tensor(torch.tensor(xs), 2.0 ** -149, zp, getattr(torch, tname)).int_repr().tolist()
        got = [Q.quantize_value(_f32(v), Fraction(1, 2 ** 149), zp, dtype, profile)
               for v in xs]
        assert got == want, (zp, got, want)
        assert Q.quantize(np.array(xs, np.float32), 2.0 ** -149, zp, dtype, profile).tolist() == want
