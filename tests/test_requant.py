"""refquant.requant: the requant.md §7 disagreement rows, cross-method properties, domains.

Scales in the rows are given in requant.md with 10-11 significant digits; each is rounded to
the nearest binary32 here (the value the backend held), which is what `f` does.
"""

import struct
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refquant import formats
from refquant import fixedpoint as fp
from refquant import requant as rq
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError, Unpredictable

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def f(x):
    """The binary32 nearest to the decimal x, as a Python float (exactly a binary32 value)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def by_scales(method, acc, sa, sb, sy, zp=0, out="int32", **kw):
    params = rq.derive_params(method, f(sa), sb if isinstance(sb, list) else f(sb), f(sy), **kw)
    return rq.requantize(acc, method, params, zp, out)


def by_mult(method, m, shift, acc, zp=0, out="int32"):
    return rq.requantize(acc, method, rq.make_params(method, [{"m": m, "shift": shift}]), zp, out)


# --------------------------------------------------------------------------
# requant.md §7, one test per row this module covers
# --------------------------------------------------------------------------

def test_row01_tflite_double_vs_single():
    assert by_mult("tflite_double", 2080375504, -1, 16614) == 8048
    assert by_mult("tflite_single", 2080375504, -1, 16614) == 8047
    # tensorflow#25087
    assert by_mult("tflite_double", 1583594044, -9, 7984) == 12
    assert by_mult("tflite_single", 1583594044, -9, 7984) == 11


def test_row02_tie_rules_times_quarter():
    # x0.25 = (qm 2^30, shift -1); acc 10 -> 2.5, acc -10 -> -2.5
    half_away = ["tflite_double", "cmsis_nn"]
    half_up = ["tflite_single", "ruy_x86"]
    for m in half_away:
        assert (by_mult(m, 2**30, -1, 10), by_mult(m, 2**30, -1, -10)) == (3, -3), m
    for m in half_up:
        assert (by_mult(m, 2**30, -1, 10), by_mult(m, 2**30, -1, -10)) == (3, -2), m
    for m, expected in [("float_fp32", (2, -2)), ("exact", (2, -2)), ("xnnpack_rndnu", (3, -2)),
                        ("tosa_single", (3, -2)), ("tflite_fc_float", (3, -3))]:
        assert (by_scales(m, 10, 0.5, 0.5, 1.0), by_scales(m, -10, 0.5, 0.5, 1.0)) == expected, m


def test_row03_gemmlowp_vs_ruy_x86():
    assert by_mult("tflite_double", 1674482909, -1, -53199) == -20741
    assert by_mult("ruy_x86", 1674482909, -1, -53199) == -20740


def test_row04_ruy_reference_vs_ruy_x86():
    assert by_mult("tflite_single", 1844647463, -1, 52719) == 22642   # ruy ref / ARM = single
    assert by_mult("ruy_x86", 1844647463, -1, 52719) == 22643


def test_row05_cmsis_int32_min_squared():
    assert fp.srdhm_i32(I32_MIN, I32_MIN) == I32_MAX                  # gemmlowp saturates
    p = rq.make_params("cmsis_nn", [{"m": I32_MIN, "shift": 0}])
    assert rq.requantize(I32_MIN, "cmsis_nn", p, 0, "int32") == I32_MIN  # CMSIS wraps
    with pytest.raises(InvalidValueError, match="multiplier m"):       # contract: m >= 0
        rq.make_params("tflite_double", [{"m": I32_MIN, "shift": 0}])


def test_row06_31bit_double_multiplier_vs_f32_mantissa():
    args = (18615, 0.02077898569, 0.01034862734, 0.11275655031)     # exact value 35.49999994
    assert by_scales("tflite_single", *args, out="int8") == 35
    assert by_scales("exact", *args, out="int8") == 35
    for m in ("xnnpack_rndnu", "fbgemm_fixed", "ort"):
        assert by_scales(m, *args, out="int8") == 36, m
    # Finding: the default (double-rounding) TFLite build also gives 36 here; the row's 35 is
    # the single-rounding build (the first rounding lands on 35.5, the second goes away).
    assert by_scales("tflite_double", *args, out="int8") == 36


def test_row07_rndnu_vs_fp32():
    assert by_scales("xnnpack_rndnu", 10, 0.5, 0.5, 1.0) == 3
    assert by_scales("xnnpack_fp32", 10, 0.5, 0.5, 1.0) == 2


def test_row09_per_tensor_fc_rounds_product_to_f32():
    s = (f(0.0425472073), f(0.0123827020), f(0.0658822954))
    fc = rq.derive_params("tflite_double", *s, op="fc").channels[0]
    conv = rq.derive_params("tflite_double", *s, op="conv").channels[0]
    assert (fc["m"], conv["m"]) == (1099075732, 1099075679)
    assert by_scales("tflite_double", -28948, *s, op="fc") == -232
    assert by_scales("tflite_double", -28948, *s, op="conv") == -231


def test_row10_tflite_float_fc_reference_vs_mbqm():
    args = (7001, 0.0359666124, 0.0087168049, 0.0675395504)
    assert by_scales("tflite_fc_float", *args) == 32
    assert by_scales("tflite_double", *args, op="fc") == 33


def test_row11_onednn_reference_vs_jit():
    args = (-9392, 0.0298662931, 0.0191196464, 0.0739743635, 128, "uint8")
    assert by_scales("onednn_ref", *args) == 56
    assert by_scales("onednn_jit", *args) == 55


def test_row12_torch_engines():
    scales = (f(0.01971375197), f(0.01975825988), f(0.10923903435))
    bias = f(-1.15629077)
    qnn = rq.derive_params("torch_qnnpack", *scales, bias=bias)
    # qnnpack pre-quantizes the bias to qint32 (added in the accumulator)
    assert rq.requantize(-15401 + qnn.int_bias()[0], "torch_qnnpack", qnn, 135, "uint8") == 69
    for m in ("torch_fbgemm", "torch_x86", "torch_onednn"):
        assert rq.requantize(-15401, m, rq.derive_params(m, *scales, bias=bias), 135, "uint8") == 70, m
    args = (-7774, 0.02861332707, 0.01169772632, 0.15769948065, 140, "uint8")
    assert by_scales("torch_onednn", *args) == 124
    assert by_scales("torch_fbgemm", *args) == by_scales("torch_qnnpack", *args) == 123


def test_row13_fbgemm_fma_vs_generic_loop():
    sa, sb, sy, bias = f(0.0441956185), f(0.0105969999), f(0.2230963260), f(-0.84070784)
    per_tensor = rq.derive_params("torch_fbgemm", sa, sb, sy, bias=bias)
    per_channel = rq.derive_params("torch_fbgemm", sa, [sb], sy, bias=[bias])
    assert rq.requantize(-3683, "torch_fbgemm", per_tensor, 146, "uint8") == 134
    assert rq.requantize([-3683], "torch_fbgemm", per_channel, 146, "uint8") == [135]


def test_row14_f32_vs_f64_multiplier():
    args = (-11582, 0.0312638134, 0.0158085413, 0.0685536936, 106, "uint8")
    assert by_scales("ort", *args) == 22
    assert by_scales("exact", *args) == 23


def test_row21_single_build_saturates_large_multiplier():
    big = (2.0**15, 2.0**15, 1.0)   # M = 2^30
    assert fp.quantize_multiplier(2**30, "double") == (2**30, 31)
    with pytest.raises(InvalidValueError, match="shift = 31 outside"):
        rq.derive_params("tflite_double", *big)    # (2^30, 31) is outside MBQM's shift domain
    ch = rq.derive_params("tflite_single", *big).channels[0]
    assert (ch["m"], ch["shift"]) == (2**31 - 1, 30)


# --------------------------------------------------------------------------
# fl(): the exact binary rounding used by the float methods
# --------------------------------------------------------------------------

fractions_ = st.builds(Fraction, st.integers(-(2**80), 2**80), st.integers(1, 2**80))


@given(fractions_, st.sampled_from(["fp16", "fp32", "fp64"]))
def test_fl_matches_formats_round_to(x, fmt):
    expected = formats.round_to(fmt, x)
    got = rq.fl(fmt, x)
    if expected.is_inf:
        assert got == (rq.INF if x > 0 else -rq.INF)
    else:
        assert got == expected.value


def test_fl_overflow_and_subnormal():
    assert rq.fl32(Fraction(2) ** 128) == rq.INF
    assert rq.fl32(-(Fraction(2) ** 128)) == -rq.INF
    assert rq.fl32(Fraction(3, 2**150)) == Fraction(4, 2**150)  # 1.5 ulps: ties to even (2 ulps)
    assert rq.fl32(Fraction(1, 2**151)) == 0


# --------------------------------------------------------------------------
# Cross-method properties
# --------------------------------------------------------------------------

def _floor_frac(x):
    return x - (x.numerator // x.denominator)


@given(st.integers(I32_MIN, I32_MAX), st.integers(2**30, I32_MAX), st.integers(-31, 0))
def test_double_and_single_rounding_differ_only_near_ties(acc, m, shift):
    """tflite double vs single: equal, or |frac(acc*m/2^T) - 1/2| <= 2^-(right+1) and off by 1."""
    single_fails = False
    try:
        single = fp.multiply_by_quantized_multiplier(acc, m, shift, "single")
    except Unpredictable:
        single_fails = True
    double = fp.multiply_by_quantized_multiplier(acc, m, shift, "double")
    if single_fails:
        return
    if double != single:
        right = -shift
        exact = Fraction(acc * m, 2 ** (31 + right))
        assert abs(double - single) == 1
        assert abs(_floor_frac(exact) - Fraction(1, 2)) <= Fraction(1, 2 ** (right + 1))


@given(st.data(), st.integers(2**30, I32_MAX), st.integers(2, 31))
def test_tosa_double_equals_single_up_to_shift_31(data, m, s):
    acc = data.draw(st.integers(-(2 ** (s - 1)), 2 ** (s - 1) - 1))   # the REQUIRE range
    p = rq.make_params("tosa_single", [{"m": m, "s": s}])
    assert rq.requantize(acc, "tosa_single", p, 0, "int32") == rq.requantize(acc, "tosa_double", p, 0, "int32")


@given(st.integers(-(2**24), 2**24), st.integers(1, 2**24 - 1), st.integers(-40, 0))
def test_float_fp32_is_rne_of_the_f32_product(acc, mant, e):
    """float_fp32 == RNE(fl(fl(acc)*M)) saturated; equals `exact` with M whenever acc is exact in f32 and no tie is near."""
    M = Fraction(mant) * Fraction(2) ** e
    p = rq.make_params("float_fp32", [{"M": M}])
    got = rq.requantize(acc, "float_fp32", p, 0, "int32")
    v = rq.fl32(rq.fl32(acc) * M)
    assert got == min(max(round(v), I32_MIN), I32_MAX)


def test_ort_and_float_fp32_share_parameters():
    s = (f(0.0312638134), f(0.0158085413), f(0.0685536936))
    assert rq.derive_params("ort", *s).kernel_args() == rq.derive_params("float_fp32", *s).kernel_args()
    M = rq.derive_params("ort", *s).channels[0]["M"]
    assert M == rq.fl32(rq.fl32(Fraction(s[0]) * Fraction(s[1])) / Fraction(s[2]))


def test_onnx_ref_fp16_scales_round_twice_in_fp16():
    sa, sb, sy = 0.0066, 0.00705, 0.0107
    h = [formats.round_to("fp16", x).value for x in (sa, sb, sy)]
    p = rq.derive_params("onnx_ref", *[float(v) for v in h], scale_format="fp16")
    assert p.channels[0]["M"] == rq.fl("fp16", rq.fl("fp16", h[0] * h[1]) / h[2])
    with pytest.raises(InvalidValueError, match="not exactly representable in fp16"):
        rq.derive_params("onnx_ref", 0.0066, 0.5, 0.5, scale_format="fp16")


def test_onnx_ref_wraps_where_spec_saturates():
    p = rq.derive_params("onnx_ref", 1.0, 1.0, 1.0)
    assert rq.requantize(-236, "onnx_ref", p, 0, "int8") == 20
    assert rq.requantize(-236, "exact", rq.derive_params("exact", 1.0, 1.0, 1.0), 0, "int8") == -128
    assert rq.requantize(-236, "onnx_ref_conv", rq.derive_params("onnx_ref_conv", 1.0, 1.0, 1.0), 0, "int8") == -128


def test_torch_fbgemm_out_of_range_convert_is_integer_indefinite():
    """cvtps2dq of a value >= 2^31 gives INT32_MIN, which then saturates to 0 (not 255)."""
    p = rq.make_params("torch_fbgemm", [{"M": Fraction(2)}])
    assert rq.requantize(I32_MAX, "torch_fbgemm", p, 0, "uint8") == 0
    assert rq.requantize(2**29, "torch_fbgemm", p, 0, "uint8") == 255


# --------------------------------------------------------------------------
# derive_params / kernel parameters / domains
# --------------------------------------------------------------------------

def test_kernel_args_round_trip():
    s = (f(0.02), [f(0.01), f(0.03), f(0.005)], f(0.1))
    for method in ("float_fp32", "tflite_double", "tflite_single", "tosa_single", "tosa_double"):
        p = rq.derive_params(method, *s)
        args = p.kernel_args()
        assert all(len(v) == 3 for v in args.values())
        back = rq.params_from_kernel(method, **args)
        accs = [[-70000, 5, 123456], [0, -1, 99999]]
        assert rq.requantize(accs, method, back, -3, "int8") == rq.requantize(accs, method, p, -3, "int8")
    # binary64 then binary32 rounding of a product/quotient of binary32 values is exact fl32
    expected = struct.unpack("<I", struct.pack("<f", f(f(0.02) * f(0.01)) / f(0.1)))[0]
    assert rq.derive_params("float_fp32", *s).kernel_args()["M_bits"][0] == expected


def test_kernel_args_rejected_for_non_kernel_methods():
    with pytest.raises(InvalidValueError, match="not one the C kernel implements"):
        rq.derive_params("exact", 1.0, 1.0, 1.0).kernel_args()


@pytest.mark.parametrize("method, channel, match", [
    ("tflite_double", {"m": -1, "shift": 0}, "multiplier m"),
    ("tflite_single", {"m": 2**31, "shift": 0}, "multiplier m"),
    ("tflite_double", {"m": 2**30, "shift": 31}, "shift = 31"),
    ("tflite_single", {"m": 2**30, "shift": -32}, "shift = -32"),
    ("tosa_single", {"m": 2**30, "s": 1}, "shift s = 1"),
    ("tosa_double", {"m": 2**30, "s": 63}, "shift s = 63"),
    ("tosa_single", {"m": -5, "s": 30}, "multiplier m"),
    ("float_fp32", {"M": Fraction(1, 3)}, "binary32"),
    ("float_fp32", {"M": Fraction(-1, 4)}, "binary32"),
])
def test_parameters_outside_the_domain(method, channel, match):
    with pytest.raises(InvalidValueError, match=match):
        rq.make_params(method, [channel])


def test_bad_arguments_are_named():
    with pytest.raises(UnknownNameError, match="requantization method"):
        rq.derive_params("nope", 1.0, 1.0, 1.0)
    with pytest.raises(InvalidValueError, match="b scale"):
        rq.derive_params("ort", 1.0, -1.0, 1.0)
    with pytest.raises(InvalidValueError, match="not exactly representable in fp32"):
        rq.derive_params("ort", 0.1, 1.0, 1.0)
    p = rq.derive_params("ort", 1.0, [1.0, 0.5], 1.0)
    with pytest.raises(ShapeError, match="2 per-channel parameters but axis -1 has 3"):
        rq.requantize([[1, 2, 3]], "ort", p, 0, "int8")
    with pytest.raises(InvalidValueError, match="zero point 200"):
        rq.requantize([[1, 2]], "ort", p, 200, "int8")
    with pytest.raises(InvalidValueError, match=r"accumulator 2147483648 at index \(0, 1\)"):
        rq.requantize([[1, 2**31]], "ort", p, 0, "int8")
    with pytest.raises(InvalidValueError, match="takes an int32 bias"):
        rq.derive_params("ort", 1.0, 1.0, 1.0, bias=0.5)
    with pytest.raises(ShapeError, match="float bias has 1 values; expected 2"):
        rq.derive_params("torch_fbgemm", 1.0, [1.0, 1.0], 1.0, bias=[0.5])
    with pytest.raises(InvalidValueError, match="output clamp"):
        rq.requantize(1, "ort", rq.derive_params("ort", 1.0, 1.0, 1.0), 0, "int8", qmin=-200)


def test_tflite_single_out_of_int32_is_unpredictable():
    p = rq.make_params("tflite_single", [{"m": I32_MAX, "shift": 30}])
    with pytest.raises(Unpredictable, match=r"index \(1,\)"):
        rq.requantize([1, I32_MAX], "tflite_single", p, 0, "int8")


def test_tosa_require_is_unpredictable():
    p = rq.make_params("tosa_single", [{"m": 2**30, "s": 10}])
    with pytest.raises(Unpredictable, match="REQUIRE"):
        rq.requantize(512, "tosa_single", p, 0, "int8")
    assert rq.requantize(511, "tosa_single", p, 0, "int8") == 127


def test_activation_clamp():
    p = rq.derive_params("ort", 1.0, 1.0, 1.0)
    assert rq.requantize([-5, 3, 200], "ort", p, 10, "uint8", qmin=10) == [10, 13, 210]


def test_explain_requantize_records():
    p = rq.derive_params("tflite_double", f(0.5), f(0.5), f(1.0))
    steps = rq.explain_requantize(-10, "tflite_double", p, 0, "int8")
    names = [s.name for s in steps]
    assert names[0] == "method" and "SRDHM(x, m)" in names and "RDBPOT(h, right)" in names
    assert steps[-1] == rq.Step("saturate", "clamp to [-128, 127]", -3)
    text = rq.render(steps)
    assert "ties away from 0" in text and "gemm-contract" in text
