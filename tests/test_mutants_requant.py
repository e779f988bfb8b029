"""refquant.requant, edge by edge (mutation testing, docs/testing.md).

The TFLite and TOSA apply functions are built by factories (``_apply_tflite(build)``,
``_apply_tosa(double_round)``) that run once, at import, to fill ``METHODS``; mutmut activates a
mutant only when its function is called after import, so these tests call the factories again and
check every step of the result and of its explain trace against the fixed-point definitions in
refquant.fixedpoint (TFLite MultiplyByQuantizedMultiplier, gemmlowp SRDHM / RDBPOT, TOSA
apply_scale_32)."""

import re

import pytest

from refquant import fixedpoint as fp
from refquant import requant as rq
from refquant.errors import InvalidValueError, RefquantError, ShapeError
from refquant.trace import Step

M = 1518500250                     # about 0.7071 * 2^31
CASES = [(1000, 2), (-1000, 2), (1000, 0), (-77777, -5), (77777, -5), (3, -1), (-3, -1), (2**30 + 5, 2),
         (-(2**30) - 7, 1), (123456789, -12), (-123456789, -12), (5, 30)]


@pytest.mark.parametrize("acc, shift", CASES)
def test_tflite_double_each_step_and_its_trace(acc, shift):
    apply = rq._apply_tflite("double")
    left, right = max(shift, 0), max(-shift, 0)
    x = fp.wrap32(acc << left)
    h = fp.srdhm_i32(x, M)
    r = fp.rounding_divide_by_pot(h, right)
    for zp, lo, hi in ((3, -128, 127), (-5, -2**31, 2**31 - 1)):
        t = []
        q = apply(acc, {"m": M, "shift": shift}, zp, lo, hi, t)
        assert q == min(max(r + zp, lo), hi)
        assert t == [Step("x = wrap32(acc << left)", f"left = {left}", x),
                     Step("SRDHM(x, m)", f"round(x*{M}/2^31), ties +inf", h),
                     Step("RDBPOT(h, right)", f"right = {right}, ties away from 0", r),
                     Step("+ zero point", f"r + {zp}", r + zp),
                     Step("saturate", f"clamp to [{lo}, {hi}]", q)]
        assert apply(acc, {"m": M, "shift": shift}, zp, lo, hi, None) == q


@pytest.mark.parametrize("acc, shift", CASES)
def test_tflite_single_each_step_and_its_trace(acc, shift):
    apply = rq._apply_tflite("single")
    try:
        r = fp.multiply_by_quantized_multiplier(acc, M, shift, "single")
    except RefquantError as e:                        # the single build's checks, passed through
        with pytest.raises(type(e), match=f"^{re.escape(str(e))}$"):
            apply(acc, {"m": M, "shift": shift}, 7, -128, 127, [])
        return
    t = []
    q = apply(acc, {"m": M, "shift": shift}, 7, -128, 127, t)
    assert q == min(max(r + 7, -128), 127)
    assert t == [Step("(acc*m + 2^(T-1)) >> T", f"T = {31 - shift}, ties +inf", r),
                 Step("+ zero point", "r + 7", r + 7), Step("saturate", "clamp to [-128, 127]", q)]


def test_tflite_builds_differ_where_the_definitions_do():
    # a tie after the shift: double rounds SRDHM then RDBPOT away from zero; single rounds once, up
    double, single = rq._apply_tflite("double"), rq._apply_tflite("single")
    p = {"m": 2**30, "shift": -1}                     # acc * 1/2 * 1/2
    assert [double(a, p, 0, -10**9, 10**9, None) for a in (-2, 2, -6, 6)] == [-1, 1, -2, 2]
    assert [single(a, p, 0, -10**9, 10**9, None) for a in (-2, 2, -6, 6)] == [0, 1, -1, 2]
    assert rq.METHODS["tflite_double"].apply(-2, p, 0, -10, 10, None) == -1
    assert rq.METHODS["tflite_single"].apply(-2, p, 0, -10, 10, None) == 0


@pytest.mark.parametrize("double_round", [False, True])
def test_tosa_apply_scale_32_and_its_trace(double_round):
    apply = rq._apply_tosa(double_round)
    mode = "DOUBLE_ROUND" if double_round else "SINGLE_ROUND"
    for acc, m, s in ((1000, M, 33), (-1000, M, 33), (2**31 - 1, 2**30, 62), (-(2**31), 2**30, 40),
                      (12345, 2**30 - 1, 32), (1, M, 2)):
        r = fp.apply_scale_32(acc, m, s, double_round)
        t = []
        q = apply(acc, {"m": m, "s": s}, -3, -128, 127, t)
        assert q == min(max(r - 3, -128), 127)
        assert t == [Step("apply_scale_32", f"TOSA {mode}, m = {m}, s = {s}", r), Step("+ zero point", "r + -3", r - 3),
                     Step("saturate", "clamp to [-128, 127]", q)]


def test_tosa_single_and_double_round_differ():
    single, double = rq._apply_tosa(False), rq._apply_tosa(True)
    p = {"m": 2**30, "s": 33}                             # acc / 8, the double round adds 2^30 first
    got = [(single(a, p, 0, -10**9, 10**9, None), double(a, p, 0, -10**9, 10**9, None)) for a in range(-12, 13)]
    assert any(a != b for a, b in got)
    assert got == [(fp.apply_scale_32(a, 2**30, 33, False), fp.apply_scale_32(a, 2**30, 33, True))
                   for a in range(-12, 13)]


# ----- the float chains: every step of the explain trace, a saturating case, a wrapping case ------------

from fractions import Fraction as F  # noqa: E402

from refquant.ieee import fadd, fdiv, fl32, fmul  # noqa: E402

SA, SB, SY = F(1, 16), F(1, 32), F(3, 8)


def _trace(method, acc, zp=3, out_type="int8", **kw):
    t = []
    q = rq.requantize_one(acc, method, rq.derive_params(method, SA, SB, SY, **kw), zp, out_type, trace=t)
    assert t[0] == Step("acc", "int32 accumulator", acc)
    return q, t[1:]


def test_onnx_ref_trace_and_its_wrap():
    M = rq.derive_params("onnx_ref", SA, SB, SY).channel(0)["M"]
    for acc in (1234, 40000):                        # 40000 * M + 3 rounds to 211, which int8 wraps
        v = fadd("fp64", fmul("fp64", acc, M), 3)
        r = rq.half_even(v)
        w = (r + 128) % 256 - 128                        # astype(int8) wraps (onnx#7835)
        q, t = _trace("onnx_ref", acc)
        assert q == w and t == [Step("C*M", "numpy int32 x float -> float64 product", fmul("fp64", acc, M)),
                                Step("+ zero point", "float64 add", v), Step("round", "np.rint (RNE)", r),
                                Step("wrap", "astype: wraps into [-128, 127] (onnx#7835 bug: no saturation)", w)]
    assert _trace("onnx_ref", 40000)[0] < 0                # wrapped, not saturated


def test_onnx_ref_conv_trace_clips_before_rounding():
    M = rq.derive_params("onnx_ref_conv", SA, SB, SY).channel(0)["M"]
    for acc in (1234, 40000, -40000):
        v = fadd("fp64", fmul("fp64", acc, M), 3)
        c = min(max(v, -128), 127)
        q, t = _trace("onnx_ref_conv", acc)
        assert q == rq.half_even(c) and t == [
            Step("R*M", "numpy int32 x float -> float64 product", fmul("fp64", acc, M)),
            Step("+ zero point", "float64 add", v),
            Step("clip", "np.clip to [-128, 127] before rounding (+-inf saturates)", c),
            Step("round", "np.round (RNE)", rq.half_even(c))]
    assert _trace("onnx_ref_conv", 40000)[0] == 127 and _trace("onnx_ref_conv", -40000)[0] == -128


@pytest.mark.parametrize("method, last", [("onednn_ref", "/dst_scale"), ("onednn_jit", "*fl(1/dst_scale)"),
                                          ("torch_onednn", "*fl(1/o')")])
def test_onednn_chains_trace(method, last):
    inv = fl32(1 / SY)
    for acc in (1234, 40000, -40000):
        d1 = fmul("fp32", fl32(acc), SA)
        d2 = fmul("fp32", d1, SB)
        d3 = fdiv("fp32", d2, SY) if method == "onednn_ref" else fmul("fp32", d2, inv)
        d4 = fadd("fp32", d3, 3)
        c = min(max(d4, -128), 127)
        q, t = _trace(method, acc)
        assert q == rq.half_even(c) and t == [
            Step("fl(fl(acc)*src_scale)", "binary32", d1), Step("*wei_scale", "binary32", d2),
            Step(last, "binary32", d3), Step("+zp", "binary32 add", d4),
            Step("saturate", "clamp to [-128, 127] in float (+-inf saturates)", c), Step("round", "RNE", rq.half_even(c))]


# ----- requantize_one / explain_requantize ------------------------------------------------------------

def test_requantize_one_accumulator_range_qmin_qmax_and_channel():
    p = rq.derive_params("float_fp32", SA, [SB, 4 * SB], SY)
    for acc in (-(2**31), 2**31 - 1):
        assert rq.requantize_one(acc, "float_fp32", p, 0, "int32") == rq.requantize_one(acc, "float_fp32", p, 0, "int32",
                                                                                           channel=0)
    for bad in (2**31, -(2**31) - 1, 1.0, True):
        with pytest.raises(InvalidValueError, match=rf"^accumulator {re.escape(repr(bad))} is not an int32$"):
            rq.requantize_one(bad, "float_fp32", p, 0, "int8")
    # 1234 * M = 6.43 (channel 0), 25.7 (channel 1); qmin / qmax narrow the int8 range
    assert rq.requantize_one(1234, "float_fp32", p, 0, "int8") == 6
    assert rq.requantize_one(1234, "float_fp32", p, 0, "int8", channel=1) == 26
    assert rq.requantize_one(1234, "float_fp32", p, 0, "int8", channel=1, qmax=20) == 20
    assert rq.requantize_one(-1234, "float_fp32", p, 0, "int8", channel=1, qmin=-20) == -20


def test_explain_requantize_header_and_channel():
    p = rq.derive_params("float_fp32", SA, [SB, 4 * SB], SY)
    t = rq.explain_requantize(1234, "float_fp32", p, 3, "int8", channel=1)
    ch = p.channel(1)
    assert t[:4] == [Step("method", rq.METHODS["float_fp32"].reproduces, "float_fp32"),
                     Step("param M", "derived from the scales", ch["M"]),
                     Step("param M_bits", "binary32 bits", ch["M_bits"]),
                     Step("acc", "int32 accumulator", 1234)]
    assert t[-1] == Step("+ zero point", "r + 3", 29)
    assert rq.explain_requantize(1234, "float_fp32", p, 3, "int8")[1].value == p.channel(0)["M"]   # channel 0 default


# ----- every method's explain trace, step names and formulas (refquant's own trace format, docs/audit.md) --
# A snapshot of the format (no external source): a step dropped, renamed or left without its formula
# changes what `refquant explain` prints.  sa = 1/16, sb = 1/32, sy = 3/8, acc = 1234.

TRACES = {
    'exact': (3, 'int8', [
        ('acc * M', 'exact rational acc*sa*sb/sy'),
        ('round', 'RNE (ties to even), exact'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'float_fp32': (3, 'int8', [
        ('fl(acc)', 'int32 -> binary32, RNE'),
        ('fl(fl(acc)*M)', 'binary32 multiply by M = 0x3baaaaab'),
        ('clamp', 'float clamp to [-131, 124]'),
        ('round', 'RNE (cvtps2dq / lrintf)'),
        ('+ zero point', 'r + 3'),
    ]),
    'ort': (3, 'int8', [
        ('fl(acc)', 'int32 -> binary32, RNE'),
        ('fl(fl(acc)*M)', 'binary32 multiply by M = 0x3baaaaab'),
        ('clamp', 'float clamp to [-131, 124]'),
        ('round', 'RNE (cvtps2dq / lrintf)'),
        ('+ zero point', 'r + 3'),
    ]),
    'xnnpack_fp32': (3, 'int8', [
        ('fl(acc)', 'int32 -> binary32, RNE'),
        ('fl(fl(acc)*M)', 'binary32 multiply by M = 0x3baaaaab'),
        ('clamp', 'float clamp to [-131, 124]'),
        ('round', 'RNE (cvtps2dq / lrintf)'),
        ('+ zero point', 'r + 3'),
    ]),
    'onnx_ref': (3, 'int8', [
        ('C*M', 'numpy int32 x float -> float64 product'),
        ('+ zero point', 'float64 add'),
        ('round', 'np.rint (RNE)'),
        ('wrap', 'astype: wraps into [-128, 127] (onnx#7835 bug: no saturation)'),
    ]),
    'onnx_ref_conv': (3, 'int8', [
        ('R*M', 'numpy int32 x float -> float64 product'),
        ('+ zero point', 'float64 add'),
        ('clip', 'np.clip to [-128, 127] before rounding (+-inf saturates)'),
        ('round', 'np.round (RNE)'),
    ]),
    'tflite_double': (3, 'int8', [
        ('x = wrap32(acc << left)', 'left = 0'),
        ('SRDHM(x, m)', 'round(x*1431655765/2^31), ties +inf'),
        ('RDBPOT(h, right)', 'right = 7, ties away from 0'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'tflite_single': (3, 'int8', [
        ('(acc*m + 2^(T-1)) >> T', 'T = 38, ties +inf'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'tflite_fc_float': (3, 'int8', [
        ('double(acc)*in_s', 'binary64'),
        ('*w_s', 'binary64'),
        ('/out_s', 'binary64 division'),
        ('round', 'std::round: ties away from zero'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'tosa_single': (3, 'int8', [
        ('apply_scale_32', 'TOSA SINGLE_ROUND, m = 1431655765, s = 38'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'tosa_double': (3, 'int8', [
        ('apply_scale_32', 'TOSA DOUBLE_ROUND, m = 1431655765, s = 38'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'ruy_x86': (3, 'int8', [
        ('ruy x86 two roundings', 'm = 1431655765, exponent = -7, both ties +inf'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'cmsis_nn': (3, 'int8', [
        ('x = wrap32(acc << left)', 'left = 0'),
        ('doubling_high_mult_no_sat', '(x*1431655765 + 2^30) >> 31, wrapped'),
        ('divide_by_power_of_two', 'right = 7, ties away'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'xnnpack_rndnu': (3, 'int8', [
        ('(acc*m + 2^(s-1)) >> s', 'm = 11184811, s = 31, ties +inf'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
    'fbgemm_fixed': (3, 'uint8', [
        ('(acc*q + 2^(rs-1)) >> rs', 'q = 1431655808, rs = 38, ties +inf'),
        ('+ zero point', 'r + 3'),
        ('saturate', 'clamp to [0, 255]'),
    ]),
    'torch_fbgemm': (3, 'uint8', [
        ('fl(raw)', 'int32 -> binary32'),
        ('fl(xf*C_mult)', 'binary32'),
        ('round', 'RNE (cvtps2dq)'),
        ('sat_i16(r) + zp', 'packs_epi32 + adds_epi16 (int16 saturation)'),
        ('saturate', 'clamp to [0, 255]'),
    ]),
    'torch_qnnpack': (3, 'uint8', [
        ('fl(fl(acc)*scale)', 'binary32'),
        ('round', 'RNE (cvtps2dq)'),
        ('sat_i16(r) + zp', 'packs_epi32 + adds_epi16 (int16 saturation)'),
        ('saturate', 'clamp to [0, 255]'),
    ]),
    'torch_onednn': (3, 'int8', [
        ('fl(fl(acc)*src_scale)', 'binary32'),
        ('*wei_scale', 'binary32'),
        ("*fl(1/o')", 'binary32'),
        ('+zp', 'binary32 add'),
        ('saturate', 'clamp to [-128, 127] in float (+-inf saturates)'),
        ('round', 'RNE'),
    ]),
    'onednn_ref': (3, 'int8', [
        ('fl(fl(acc)*src_scale)', 'binary32'),
        ('*wei_scale', 'binary32'),
        ('/dst_scale', 'binary32'),
        ('+zp', 'binary32 add'),
        ('saturate', 'clamp to [-128, 127] in float (+-inf saturates)'),
        ('round', 'RNE'),
    ]),
    'onednn_jit': (3, 'int8', [
        ('fl(fl(acc)*src_scale)', 'binary32'),
        ('*wei_scale', 'binary32'),
        ('*fl(1/dst_scale)', 'binary32'),
        ('+zp', 'binary32 add'),
        ('saturate', 'clamp to [-128, 127] in float (+-inf saturates)'),
        ('round', 'RNE'),
    ]),
    'int32': (0, 'int32', [
        ('int32', 'no requantization: the accumulator itself'),
    ]),
    'torch_x86': (3, 'int8', [
        ('fl(raw)', 'int32 -> binary32'),
        ('fl(xf*C_mult)', 'binary32'),
        ('round', 'RNE (cvtps2dq)'),
        ('sat_i16(r) + zp', 'packs_epi32 + adds_epi16 (int16 saturation)'),
        ('saturate', 'clamp to [-128, 127]'),
    ]),
}


@pytest.mark.parametrize("method", sorted(TRACES))
def test_every_method_traces_each_step(method):
    zp, out_type, steps = TRACES[method]
    p = rq.derive_params(method, SA, SB, SY)
    t = rq.explain_requantize(1234, method, p, zp, out_type)
    n = len(p.channel(0))
    assert t[n + 1] == Step("acc", "int32 accumulator", 1234)
    assert [(s.name, s.formula) for s in t[n + 2:]] == [tuple(s) for s in steps]
    assert all(s.value is not None for s in t)
    assert t[-1].value == rq.requantize_one(1234, method, p, zp, out_type)


def test_qnnpack_scale_must_be_a_normal_binary32():
    # torch 2.13.0 qnnpack operator creation: a subnormal, zero or non-finite requantization scale is refused
    from refquant.errors import SpecError
    rq._check_qnnpack_scale(F(1, 2**126))                       # the smallest normal: accepted
    for bad, shown in ((F(1, 2**127), r"1/170141183460469231731687303715884105728 \(~5\.87747175411e-39\)"),
                       (rq.INF, "inf"), (rq.NAN, "nan")):
        with pytest.raises(SpecError, match=rf"^torch qnnpack rejects requantization scale fl\(fl\(w\*in\)\*fl\(1/out\)\) "
                                            rf"= {shown}: it must be a normal positive binary32 \(>= 2\^-126, finite\)$"):
            rq._check_qnnpack_scale(bad)


# ----- bias, out-of-range and NaN branches ----------------------------------------------------------

@pytest.mark.parametrize("method", ["onednn_ref", "onednn_jit", "torch_onednn"])
def test_onednn_chains_add_the_bias_in_binary32(method):
    p = rq.derive_params(method, SA, SB, SY, bias=[F(5, 4)])
    t = []
    q = rq.requantize_one(1234, method, p, 3, "int8", trace=t)
    d2 = fmul("fp32", fmul("fp32", fl32(1234), SA), SB)
    assert t[3] == Step("+bias", "binary32", fadd("fp32", d2, F(5, 4)))
    assert q == 13 != rq.requantize_one(1234, method, rq.derive_params(method, SA, SB, SY), 3, "int8")


def test_torch_fbgemm_fma_bias_step():
    p = rq.derive_params("torch_fbgemm", SA, SB, SY, bias=[F(5, 4)])
    t = []
    assert rq.requantize_one(1234, "torch_fbgemm", p, 3, "uint8", trace=t) == 13
    assert t[2] == Step("fma(bias, fl(1/atw), fl(raw))", "one rounding (AVX2 FMA, measured)", F(1874))


def test_cvtps2dq_integer_indefinite_and_its_edges():
    for v in (F(2**31), F(-(2**31)) - 1, rq.INF, -rq.INF, rq.NAN):
        t = []
        assert rq._cvtps2dq(v, t) == -(2**31)
        assert t == [Step("round", "cvtps2dq out of range (or inf/NaN) -> 0x80000000", -(2**31))]
    for v in (F(-(2**31)), F(2**31 - 1)):
        t = []
        assert rq._cvtps2dq(v, t) == v and t == [Step("round", "RNE (cvtps2dq)", v)]


def test_x86_pack_saturates_to_int16_before_and_after_the_zero_point():
    lo, hi = -(2**31), 2**31 - 1                        # no 8-bit clamp: see the int16 steps alone
    assert rq._x86_pack_u8(-32769, 0, lo, hi, None) == -32768
    assert rq._x86_pack_u8(32768, 0, lo, hi, None) == 32767
    assert rq._x86_pack_u8(-40000, 5, lo, hi, None) == -32763    # packs to -32768 first, then + 5
    assert rq._x86_pack_u8(40000, -5, lo, hi, None) == 32762
    assert rq._x86_pack_u8(-32768, -1, lo, hi, None) == -32768   # adds_epi16 saturates
    assert rq._x86_pack_u8(32767, 1, lo, hi, None) == 32767


def test_torch_qint32_specials():
    assert rq._torch_qint32(rq.INF) == 2**31 - 1 and rq._torch_qint32(-rq.INF) == -(2**31)
    assert rq._torch_qint32(rq.NAN) == -(2**31)
    assert rq._torch_qint32(F(1, 2)) == 0 and rq._torch_qint32(F(3, 2)) == 2


def test_float_methods_name_what_numpy_or_c_leaves_undefined():
    from refquant.errors import Unpredictable
    apply = lambda m, acc, p: rq.METHODS[m].apply(acc, p, 0, -128, 127, None)   # noqa: E731
    with pytest.raises(Unpredictable, match=r"^onnx_ref: np\.rint gives inf \(M = inf\); numpy's astype of it is "
                                            r"undefined$"):
        apply("onnx_ref", 5, {"M": rq.INF})
    # the int32 range of np.rint's result, at both ends: -2^31 is kept (and wraps to 0 in int8), 2^31 is not
    assert apply("onnx_ref", -(2**30), {"M": F(2)}) == 0
    with pytest.raises(Unpredictable, match=r"^onnx_ref: rint result 2147483648 outside int32; numpy's astype is "
                                            r"undefined there$"):
        apply("onnx_ref", 2**30, {"M": F(2)})
    with pytest.raises(Unpredictable, match=r"^onnx_ref: rint result -2147483650 outside int32"):
        apply("onnx_ref", -(2**30) - 1, {"M": F(2)})
    with pytest.raises(Unpredictable, match=r"^onnx_ref_conv: 0 \* M \(M = inf\) is NaN; np\.clip keeps it and "
                                            r"numpy's astype of NaN is undefined$"):
        apply("onnx_ref_conv", 0, {"M": rq.INF})
    fc = {"sa": F(1), "sb": F(1), "sy": F(1, 2)}
    assert apply("tflite_fc_float", -(2**30), fc) == -128          # -2^31: inside int32, then saturated
    with pytest.raises(Unpredictable, match=r"^tflite_fc_float: std::round\(acc\*in\*w/out\) = 2147483648 is outside "
                                            r"int32; its int32 conversion is undefined behaviour$"):
        apply("tflite_fc_float", 2**30, fc)


# ----- scale_value / derive_params / make_params ----------------------------------------------------

def test_scale_value_checks_and_messages():
    from refquant.errors import UnknownNameError
    assert rq.scale_value(0.5) == F(1, 2) and rq.scale_value(3) == 3
    for bad in (True, "0.5", None):
        with pytest.raises(InvalidValueError, match=rf"^scale must be a number \(float, int or Fraction\), got "
                                                    rf"{re.escape(repr(bad))}$"):
            rq.scale_value(bad)
    with pytest.raises(UnknownNameError, match=r"^unknown scale format 'fp8'; expected one of: "):
        rq.scale_value(0.5, "fp8")
    for bad in (0, -0.5, float("inf")):
        with pytest.raises(InvalidValueError, match=rf"^w = {re.escape(repr(bad))} must be a positive finite fp32 value$"):
            rq.scale_value(bad, "fp32", "w")


def test_derive_params_names_each_scale_and_shapes_the_channels():
    with pytest.raises(InvalidValueError, match=r"^a scale = 0 must be"):
        rq.derive_params("exact", 0, SB, SY)
    with pytest.raises(InvalidValueError, match=r"^y scale = 0 must be"):
        rq.derive_params("exact", SA, SB, 0)
    with pytest.raises(InvalidValueError, match=r"^b scale\[1\] = 0 must be"):
        rq.derive_params("exact", SA, [SB, 0], SY)
    with pytest.raises(InvalidValueError, match=r"^b scale\[0\] must be a number \(float, int or Fraction\), got \[\]$"):
        rq.derive_params("exact", SA, [], SY)                   # an empty list is read as the one scale
    one = rq.derive_params("exact", SA, [SB], SY)                  # a one-element list is per channel
    assert one.per_channel and not rq.derive_params("exact", SA, SB, SY).per_channel
    # a per-tensor weight scale with a per-column float bias: one channel per bias value
    p = rq.derive_params("onednn_ref", SA, SB, SY, bias=[F(1, 4), F(5, 4)])
    assert p.per_channel and len(p.channels) == 2 and [c["bias"] for c in p.channels] == [F(1, 4), F(5, 4)]
    assert p.channel(0)["sb"] == p.channel(1)["sb"] == SB
    p1 = rq.derive_params("onednn_ref", SA, SB, SY, bias=[F(5, 4)])     # one bias value: per tensor
    assert not p1.per_channel and p1.channel(0)["bias"] == F(5, 4)
    with pytest.raises(InvalidValueError, match=r"^method 'exact' takes an int32 bias"):
        rq.derive_params("exact", SA, SB, SY, bias=[1.0])


def test_derive_params_per_channel_uses_the_conv_multiplier():
    # TFLite: op 'fc' rounds sa*sb to binary32 first; a per-channel weight always uses 'conv'
    sa, sb, sy = F(13421773, 2**27), F(11184811, 2**25), F(3, 8)   # fl32(0.1), fl32(1/3)
    conv = rq.derive_params("tflite_double", sa, sb, sy, op="conv").channel(0)
    fc = rq.derive_params("tflite_double", sa, sb, sy, op="fc").channel(0)
    assert conv != fc
    assert rq.derive_params("tflite_double", sa, [sb], sy, op="fc").channel(0) == conv


def test_derive_and_make_params_name_the_method_in_domain_errors():
    with pytest.raises(InvalidValueError, match=r"^method 'tosa_single': shift s = 1 outside \[2, 62\]$"):
        rq.make_params("tosa_single", [{"m": 2**30, "s": 1}])
    with pytest.raises(InvalidValueError, match=r"^method 'tflite_double': shift = 31 outside \[-31, 30\]$"):
        rq.make_params("tflite_double", [{"m": 2**30, "shift": 31}])
    with pytest.raises(InvalidValueError, match=r"^method 'float_fp32': M must be a nonnegative finite binary32 "
                                                r"value, got Fraction\(1, 3\)$"):
        rq.make_params("float_fp32", [{"M": F(1, 3)}])
    with pytest.raises(ShapeError, match=r"^make_params needs at least one channel$"):
        rq.make_params("tflite_double", [])


def test_make_params_reads_a_float_m_as_binary32_and_counts_channels():
    p = rq.make_params("float_fp32", [{"M": 0.10000000149011612}])     # fl32(0.1) as a float
    assert p.channel(0)["M"] == F(13421773, 2**27) and p.channel(0)["M_bits"] == 0x3DCCCCCD
    assert not p.per_channel
    two = rq.make_params("tflite_double", [{"m": 2**30, "shift": 0}, {"m": 2**30, "shift": 1}])
    assert two.per_channel and two.channel(1)["shift"] == 1
    with pytest.raises(InvalidValueError, match=r"^0\.1 is not exactly representable in fp32"):
        rq.make_params("float_fp32", [{"M": 0.1}])
    assert rq.make_params("exact", [{"M": F(1, 3)}]).channel(0)["M"] == F(1, 3)   # a Fraction is kept exact


def test_int32_method_refuses_a_zero_point_naming_it():
    # found by the mutation run: the message was a plain string that printed "{zp}"
    p = rq.derive_params("int32", SA, SB, SY)
    with pytest.raises(InvalidValueError, match=r"^method 'int32' has no output zero point \(got 3\)$"):
        rq.explain_requantize(1234, "int32", p, 3, "int32")
    with pytest.raises(InvalidValueError, match=r"^method 'int32' has no output zero point \(got 3\)$"):
        rq.requantize([1234], "int32", p, 3, "int32")


def test_requantize_defaults_checks_and_channel_axis():
    p = rq.derive_params("exact", SA, SB, SY)                     # M = 1/192
    assert rq.requantize([1920, -1920, 10**6], "exact", p) == [10, -10, 127]   # zp 0, int8 by default
    assert rq.requantize([10**6], "exact", p, qmax=100) == [100]
    assert rq.requantize([-(10**6)], "exact", p, qmin=-100) == [-100]
    with pytest.raises(InvalidValueError, match=r"^params were derived for 'exact', not 'tflite_double'$"):
        rq.requantize([1], "tflite_double", p)
    pc = rq.derive_params("exact", SA, [SB, 4 * SB], SY)           # M = 1/192, 1/48
    with pytest.raises(ShapeError, match=r"^per-channel parameters need a tensor with a channel axis, got a scalar$"):
        rq.requantize(1920, "exact", pc)
    assert rq.requantize([[1920, 1920]], "exact", pc) == [[10, 40]]          # channel = last axis
    assert rq.requantize([[1920], [1920]], "exact", pc, axis=0) == [[10], [40]]


def test_explain_requantize_passes_qmin_qmax():
    p = rq.derive_params("exact", SA, SB, SY)
    assert rq.explain_requantize(10**6, "exact", p, 0, "int8", qmax=100)[-1].value == 100
    assert rq.explain_requantize(-(10**6), "exact", p, 0, "int8", qmin=-100)[-1].value == -100


# ----- derivations: every parameter dict in full, against numpy binary32 / Python binary64 arithmetic ---
# (the last requant.py survivors, docs/testing.md: a key renamed in a derived dict, the unknown-op and
# inf-multiplier messages, torch qnnpack's packed zero bias)

def _frexp_round(real, bits=31):
    """(q, e) = frexp(real); m = round(q * 2^bits) ties away from zero; m = 2^bits -> (2^(bits-1), e + 1).

    TFLite quantization_util.cc QuantizeMultiplier and MLIR TOSA computeMultiplierAndShift (scale32), in
    Python binary64 (math.frexp is exact; q * 2^31 is exact)."""
    import math
    q, e = math.frexp(real)
    m = math.floor(q * 2**bits + 0.5)
    if m == 2**bits:
        m, e = m // 2, e + 1
    return m, e


def test_tflite_and_tosa_derivations_in_full():
    np = pytest.importorskip("numpy")
    sa, sb, sy = 0.0078125 * 3, 0.00390625 * 5, 0.046875               # binary32 values
    real_conv = sa * sb / sy                                            # double(in)*double(w)/double(out)
    real_fc = float(np.float32(sa) * np.float32(sb)) / sy               # double(fl32(in*w))/double(out)
    for op, real in (("conv", real_conv), ("fc", real_fc)):
        m, e = _frexp_round(real)
        assert rq.derive_params("tflite_double", sa, sb, sy, op=op).channels == ({"real": real, "m": m, "shift": e},)
        assert rq.tflite_real_multiplier(F(sa), F(sb), F(sy), op) == real
    m, e = _frexp_round(real_conv)
    assert rq.derive_params("tosa_single", sa, sb, sy).channels == ({"real": real_conv, "m": m, "s": 31 - e},)
    assert rq.derive_params("tosa_double", sa, sb, sy).channels == ({"real": real_conv, "m": m, "s": 31 - e},)


def test_tflite_unknown_op_and_inf_multiplier_messages():
    from refquant.errors import UnknownNameError, Unpredictable
    for call in (lambda: rq.tflite_real_multiplier(F(1), F(1), F(1), "matmul"),
                 lambda: rq.derive_params("tflite_double", SA, SB, SY, op="matmul")):
        with pytest.raises(UnknownNameError, match=r"^unknown TFLite op kind 'matmul'; expected one of: conv, fc$") as e:
            call()
        assert (e.value.kind, e.value.name, e.value.valid) == ("TFLite op kind", "matmul", ["conv", "fc"])
    # op 'fc': fl32(2^100 * 2^100) overflows to inf before the binary64 division
    with pytest.raises(Unpredictable, match=r"^TFLite QuantizeMultiplier\(inf\): frexp's exponent is unspecified and "
                                            r"the int64 conversion of inf is undefined \(fl32\(in_s\*w_s\) overflowed\)$"):
        rq.derive_params("tflite_double", 2.0**100, 2.0**100, 1.0, op="fc")


def test_float_multiplier_derivations_in_full():
    np = pytest.importorskip("numpy")
    f = np.float32
    sa, sb, sy = 0.0078125 * 3, 0.00390625 * 5, 0.046875
    M = F(float(f(f(sa) * f(sb)) / f(sy)))                               # fl(fl(sa*sb)/sy)
    rndnu = rq.derive_params("xnnpack_rndnu", sa, sb, sy).channel(0)
    assert set(rndnu) == {"M", "m", "s"} and rndnu["M"] == M
    assert F(rndnu["m"], 2**rndnu["s"]) == M and 2**23 <= rndnu["m"] < 2**24   # the 24-bit mantissa, exact
    fixed = rq.derive_params("fbgemm_fixed", sa, sb, sy).channel(0)
    assert set(fixed) == {"M", "m", "rs"} and fixed["M"] == M
    assert F(fixed["m"], 2**fixed["rs"]) == M and fixed["m"] % 2**7 == 0      # mantissa << 7, exact
    atw = f(sa) * f(sb)
    assert rq.derive_params("torch_fbgemm", sa, sb, sy).channels == ({"atw": F(float(atw)), "M": F(float(atw / f(sy)))},)
    atw_q = f(sb) * f(sa)
    assert rq.derive_params("torch_qnnpack", sa, sb, sy).channels == (
        {"atw": F(float(atw_q)), "M": F(float(atw_q * (f(1) / f(sy))))},)   # no bias: nothing packed (zero bias)


def test_torch_qnnpack_packs_a_zero_bias_only_where_it_quantizes_to_nonzero():
    # torch packs a zero bias when none is given; quantize_per_tensor(0, atw, 0, qint32) = RNE(0 * fl(1/atw)),
    # which is 0, or NaN -> INT32_MIN where fl(1/atw) overflows (atw = 2^-140, subnormal); measured on
    # torch 2.13.0 (tests/test_requant_torch.py::test_extreme_scales_match_torch, row 2^-70, 2^-70, 2^-116)
    np = pytest.importorskip("numpy")
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(np.float32(0) * (np.float32(1) / np.float32(2.0**-140)))
    tiny, normal = rq.derive_params("torch_qnnpack", 2.0**-70, [2.0**-70, 2.0**-10], 2.0**-20).channels
    assert tiny["int_bias"] == -(2**31) and "int_bias" not in normal
    assert rq.derive_params("torch_qnnpack", 2.0**-70, [2.0**-70, 2.0**-10], 2.0**-20).int_bias() == [-(2**31), 0]
    assert rq.derive_params("torch_qnnpack", 2.0**-70, [2.0**-10, 2.0**-70], 2.0**-20).int_bias() == [0, -(2**31)]
    assert rq.derive_params("torch_qnnpack", 2.0**-70, 2.0**-70, 2.0**-20).int_bias() == [-(2**31)]
    assert rq.derive_params("torch_qnnpack", SA, SB, SY).int_bias() is None
    # a given bias is always packed, even one that quantizes to 0
    assert rq.derive_params("torch_qnnpack", SA, SB, SY, bias=0.0).int_bias() == [0]
    assert rq.derive_params("torch_qnnpack", SA, [SB, SB], SY, bias=[0.0, 0.5]).int_bias() == [0, 256]


# ----- apply: the clamp with a zero point, the int32 edges, fbgemm's generic bias loop, oneDNN NaN -------

def test_float_fp32_clamps_to_the_range_less_the_zero_point():
    # contract §3 float_fp32: clamp fl(fl(acc)*M) to [qmin - zp, qmax - zp], RNE, + zp (numpy binary32 model)
    np = pytest.importorskip("numpy")
    p = rq.derive_params("float_fp32", SA, SB, SY)                        # M = fl32(1/192)
    M = np.float32(float(p.channel(0)["M"]))
    for acc in (30000, -30000, 24000, 1234):
        for zp in (3, -3, 100, -100):
            v = np.clip(np.float32(acc) * M, np.float32(-128 - zp), np.float32(127 - zp))
            want = int(np.rint(v)) + zp
            assert rq.requantize_one(acc, "float_fp32", p, zp, "int8") == want, (acc, zp)
    assert rq.requantize_one(30000, "float_fp32", p, 3, "int8") == 127      # 156.25: saturates at 127, not 130


def test_int32_result_kept_at_int32_max():
    np = pytest.importorskip("numpy")
    apply = lambda m, acc, p, lo=-128, hi=127: rq.METHODS[m].apply(acc, p, 0, lo, hi, None)   # noqa: E731
    # onnx 1.21.0 reference QLinearMatMul: np.rint(C * (sa*sb/sy) + zp).astype(int8); a rint result inside int32 wraps
    D = np.array([2**31 - 1], np.int32) * (np.float32(1) * np.float32(1) / np.float32(1))
    D += np.int8(0)
    want = int(np.rint(D).astype(np.int64).astype(np.int8)[0])
    assert apply("onnx_ref", 2**31 - 1, {"M": F(1)}) == want == -1
    assert apply("onnx_ref", 2**31 - 1, {"M": F(1)}, -(2**31), 2**31 - 1) == 2**31 - 1
    # TFLite float FC: std::round(double(acc)*in*w/out) = 2^31 - 1 converts to int32, then saturates
    fc = {"sa": F(1), "sb": F(1), "sy": F(1)}
    assert round(float(2**31 - 1) * 1.0 * 1.0 / 1.0) == 2**31 - 1
    assert apply("tflite_fc_float", 2**31 - 1, fc) == 127
    assert apply("tflite_fc_float", 2**31 - 1, fc, -(2**31), 2**31 - 1) == 2**31 - 1


def test_torch_fbgemm_per_channel_bias_takes_the_generic_loop():
    # FBGEMM ReQuantizeOutput's generic loop (per-channel): fl(fl(raw) + fl(bias / atw)), numpy binary32 model
    np = pytest.importorskip("numpy")
    f = np.float32
    p = rq.derive_params("torch_fbgemm", SA, [SB, 2 * SB], SY, bias=[1.25, -0.5])
    assert p.per_channel and all(set(c) == {"atw", "M", "bias_over_atw"} for c in p.channels)
    for ch, (sb, bias) in enumerate(((SB, 1.25), (2 * SB, -0.5))):
        atw = f(float(SA)) * f(float(sb))
        assert p.channel(ch)["bias_over_atw"] == F(float(f(bias) / atw))
        for acc in (1234, -40000):
            xf = f(acc) + f(f(bias) / atw)
            v = xf * (atw / f(float(SY)))
            t = []
            q = rq.requantize_one(acc, "torch_fbgemm", p, 3, "uint8", channel=ch, trace=t)
            assert t[1:4] == [Step("fl(raw)", "int32 -> binary32", acc),
                              Step("fl(fl(raw) + fl(bias/atw))", "generic loop", F(float(xf))),
                              Step("fl(xf*C_mult)", "binary32", F(float(v)))]
            assert q == min(max(int(np.rint(v)) + 3, 0), 255)


def test_onednn_chains_name_the_nan_they_leave_undefined():
    from refquant.errors import Unpredictable
    jit = (r"the JIT's NaN result depends on the ISA \(torch 2\.13\.0 quint8: 255 under AVX-512, 0 under AVX2 and "
           r"SSE4\.1\)")
    # y scale 2^-140 (subnormal binary32): fl(1/y) = inf (JIT), fl(1/fl(1/y)) = 0 then 1/0 = inf (ideep); 0 * inf
    for method in ("onednn_jit", "torch_onednn"):
        p = rq.derive_params(method, SA, SB, 2.0**-140)
        with pytest.raises(Unpredictable, match=rf"^acc 0: the oneDNN float chain gives NaN \(0 \* inf\); {jit}$"):
            rq.requantize_one(0, method, p, 0, "int8")
        with pytest.raises(Unpredictable, match=r"^at index \(0,\): acc 0: the oneDNN float chain gives NaN"):
            rq.requantize([0], method, p)
    # the reference divides, so derived scales never make NaN; hand-made parameters with an inf scale do
    p = rq.make_params("onednn_ref", [{"sa": rq.INF, "sb": F(1), "sy": F(1), "inv_sy": F(1)}])
    with pytest.raises(Unpredictable, match=r"^acc 0: the oneDNN float chain gives NaN \(0 \* inf\); the reference's "
                                            r"\(int\)nearbyintf\(NaN\) is undefined behaviour in C\+\+$"):
        rq.requantize_one(0, "onednn_ref", p, 0, "int8")


# ----- parameter domains: zero multipliers, TOSA's shift 62, the method named in every message ----------

def test_zero_multipliers_are_in_the_domain():
    np = pytest.importorskip("numpy")
    # fl32(2^-100 * 2^-100) underflows to 0 (numpy binary32): M = 0, every output is the zero point
    assert np.float32(2.0**-100) * np.float32(2.0**-100) == 0
    for method in ("float_fp32", "ort"):
        p = rq.derive_params(method, 2.0**-100, 2.0**-100, 1.0)
        assert p.channels == ({"M": 0, "M_bits": 0},)
        assert rq.requantize([2**31 - 1, -(2**31), 0], method, p, 5, "int8") == [5, 5, 5]
    assert rq.make_params("float_fp32", [{"M": 0.0}]).channel(0) == {"M": 0, "M_bits": 0}
    # TFLite QuantizeMultiplier(0.0) = (0, 0) (op 'fc': double(fl32(in*w)) = 0)
    for method in ("tflite_double", "tflite_single"):
        p = rq.derive_params(method, 2.0**-100, 2.0**-100, 1.0, op="fc")
        assert p.channels == ({"real": 0, "m": 0, "shift": 0},)
        assert rq.requantize([2**31 - 1, -(2**31)], method, p, -7, "int8") == [-7, -7]
        assert rq.make_params(method, [{"m": 0, "shift": 0}]).channel(0) == {"m": 0, "shift": 0}


def test_tosa_multiplier_zero_and_shift_62_equal_the_reference_model():
    # a scale below 2^-62: computeMultiplierAndShift clamps the shift to 62 and shifts m right to 0
    p = rq.derive_params("tosa_single", 2.0**-40, 2.0**-40, 1.0)
    assert p.channels == ({"real": F(1, 2**80), "m": 0, "s": 62},)
    accs = [[2**31 - 1, -(2**31), 12345, 0]]
    rows = [(0, 62), (2**31 - 1, 62), (2**30, 2)]
    for m, s in rows:
        for method in ("tosa_single", "tosa_double"):
            assert rq.make_params(method, [{"m": m, "s": s}]).channel(0) == {"m": m, "s": s}
    with pytest.raises(InvalidValueError, match=r"^method 'tosa_single': shift s = 63 outside \[2, 62\]$"):
        rq.make_params("tosa_single", [{"m": 2**30, "s": 63}])
    with pytest.raises(InvalidValueError, match=r"^method 'tosa_double': multiplier m = -1 outside \[0, 2\^31\)$"):
        rq.make_params("tosa_double", [{"m": -1, "s": 62}])
    # TOSA 1.0 RESCALE on the reference model (tosa-tools 2026.8.0): (0, 62) and (2^31 - 1, 62) are valid
    pytest.importorskip("tosa_reference_model")
    from test_requant_tosa import model_rescale
    for m, s in rows[:2]:
        for double_round in (False, True):
            method = "tosa_double" if double_round else "tosa_single"
            got, status = model_rescale(accs, m, s, "int32", "int8", 0, 3, True, double_round, False, False, False)
            assert status == "TOSA_VALID"
            assert got == rq.requantize(accs, method, rq.make_params(method, [{"m": m, "s": s}]), 3, "int8")
    assert model_rescale(accs, 0, 62, "int32", "int8", 0, 3, True, False, False, False, False)[0] == [[3] * 4]


def test_tflite_domain_messages_name_the_method():
    for method in ("tflite_double", "tflite_single", "ruy_x86"):
        with pytest.raises(InvalidValueError, match=rf"^method '{method}': multiplier m = -1 outside \[0, 2\^31\)$"):
            rq.make_params(method, [{"m": -1, "shift": 0}])
    with pytest.raises(InvalidValueError, match=r"^method 'cmsis_nn': multiplier m = 2147483648 outside "
                                                r"\[-2147483648, 2\^31\)$"):
        rq.make_params("cmsis_nn", [{"m": 2**31, "shift": 0}])
    assert rq.make_params("cmsis_nn", [{"m": -(2**31), "shift": 0}]).channel(0)["m"] == -(2**31)


def test_derive_params_names_the_method_when_a_derived_multiplier_is_outside_its_domain():
    # fl32(2^100 * 2^100) = inf, so M = inf: the float methods' check refuses it, naming the method
    for method in ("float_fp32", "ort", "xnnpack_fp32"):
        with pytest.raises(InvalidValueError, match=rf"^method '{method}': M must be a nonnegative finite binary32 "
                                                    rf"value, got inf$"):
            rq.derive_params(method, 2.0**100, 2.0**100, 1.0)


# ----- the method table and the API around it ---------------------------------------------------------

def test_method_row_builder_passes_every_field():
    # _m builds the METHODS rows at import; called again here so that its mutants are reached
    derive, apply, check = object(), object(), object()
    assert rq._m("n", "r", derive, apply) == rq.Method("n", "r", derive, apply, rq._check_none, (), False, ())
    row = rq._m("n", "r", derive, apply, check, ("m",), True, ("op",))
    assert (row.name, row.reproduces, row.derive, row.apply, row.check, row.kernel, row.float_bias, row.options) == (
        "n", "r", derive, apply, check, ("m",), True, ("op",))
    # the table itself: the float-bias methods are the torch / oneDNN rows, and each row is named by its key
    assert sorted(k for k, m in rq.METHODS.items() if m.float_bias) == [
        "onednn_jit", "onednn_ref", "torch_fbgemm", "torch_onednn", "torch_qnnpack", "torch_x86"]
    assert all(m.name == k for k, m in rq.METHODS.items() if k != "torch_x86")


def test_get_method_unknown_name_message():
    from refquant.errors import UnknownNameError
    with pytest.raises(UnknownNameError, match=r"^unknown requantization method 'nope'; expected one of: cmsis_nn, "
                                               r"exact, fbgemm_fixed, float_fp32, int32, ") as e:
        rq.get_method("nope")
    assert (e.value.kind, e.value.name) == ("requantization method", "nope")
    assert e.value.valid == sorted(rq.METHODS)
    with pytest.raises(UnknownNameError, match=r"^unknown requantization method \['ort'\]; "):
        rq.get_method(["ort"])                                          # unhashable: TypeError -> the same error


def test_per_tensor_params_answer_every_channel():
    p = rq.derive_params("exact", SA, SB, SY)                              # M = 1/192
    assert not p.per_channel and p.channel(0) is p.channel(5) is p.channels[0]
    assert rq.requantize_one(1920, "exact", p, 0, "int8", channel=3) == 10
    assert rq.explain_requantize(1920, "exact", p, 0, "int8", channel=2)[-1].value == 10
    pc = rq.derive_params("exact", SA, [SB, 4 * SB], SY)
    assert pc.channel(1) is pc.channels[1] and pc.channel(0) is pc.channels[0]


def test_out_range_accepts_a_one_value_clamp():
    assert rq.out_range("int8", 5, 5) == (5, 5)
    assert rq.requantize([10**6, -(10**6)], "exact", rq.derive_params("exact", SA, SB, SY), qmin=5, qmax=5) == [5, 5]
    with pytest.raises(InvalidValueError, match=r"^output clamp \[6, 5\] must lie inside int8 \[-128, 127\]$"):
        rq.out_range("int8", 6, 5)


def test_params_from_kernel_length_message():
    with pytest.raises(ShapeError, match=r"^kernel parameter lists differ in length: \{'m': 2, 'shift': 1\}$"):
        rq.params_from_kernel("tflite_double", m=[2**30, 2**30], shift=[0])
    p = rq.params_from_kernel("tflite_double", m=[2**30, 2**29], shift=[0, 1])
    assert p.per_channel and p.kernel_args() == {"m": [2**30, 2**29], "shift": [0, 1]}


def test_moved_tosa_names_still_import_from_requant():
    from refquant import tosa
    for name in rq._MOVED_TO_TOSA:
        assert getattr(rq, name) is getattr(tosa, name)
    with pytest.raises(AttributeError, match=r"^module 'refquant\.requant' has no attribute 'tosa_nope'$"):
        rq.tosa_nope  # noqa: B018
