"""refquant.fastquant (integer fast path) == refquant.quantize.quantize_value (the readable definition),
element by element, for every profile, integer target, zero point and scale — including exact ties,
x/s vs x·(1/s) splits, saturation edges, subnormal and huge scales, fp16 inputs and quotients."""
import random

import pytest
from hypothesis import given, settings, strategies as st

from refquant import fastquant, formats, quantize as Q
from refquant.errors import RefquantError
from refquant.profiles import PROFILES, get_profile
from peers import need
from test_quantize import hard_inputs

np = need("numpy")
f32 = np.float32


def definition(b, scale, zp, dtype, profile, x_format, scale_format):
    try:
        return Q.quantize_value(formats.decode(x_format, b), scale, zp, dtype, profile, x_format, scale_format)
    except RefquantError as exc:
        return type(exc)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32"])
@settings(max_examples=25)
@given(scale=st.one_of(st.floats(float(f32(1e-3)), float(f32(10)), width=32),
                       st.sampled_from([f32(1e-40), f32(3e-30), f32(7e20), f32(0.5), f32(1.0)])),
       zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_fast_path_equals_definition_fp32(profile, dtype, scale, zfrac, seed):
    qmin, qmax = Q.qrange(dtype)
    zp = qmin + int(zfrac * (qmax - qmin)) if dtype != "int32" else int(zfrac * 2000) - 1000
    s = formats.real(float(scale)).value
    qfmt = Q._quotient_format(get_profile(profile), "fp32", "fp32")
    fast = fastquant.compile_quantizer(profile, s, zp, qmin, qmax, "fp32", qfmt)
    if fast is None:  # only the onnx reference's x86 clamp, or a reciprocal that overflows
        assert get_profile(profile).clamp == "x86_int32" or formats.round_to(qfmt, 1 / s).is_inf
        return
    xs = hard_inputs(f32(scale), max(min(zp, 127), -128), "int8" if dtype != "uint8" else "uint8",
                     random.Random(seed), n=20).view(np.uint32).tolist()
    xs += [random.Random(seed).getrandbits(32) for _ in range(100)]
    used = 0
    for b in xs:
        got = fast(b)
        if got is None:
            continue
        used += 1
        assert got == definition(b, s, zp, dtype, profile, "fp32", "fp32"), (profile, hex(b), float(scale), zp)
    assert used >= len(xs) // 2  # the fast path really ran


@pytest.mark.parametrize("profile", ["onnx", "onnx_ref", "onnxruntime", "onnxruntime_fp16_scale", "exact"])
@settings(max_examples=25)
@given(scale=st.floats(float(np.float16(1e-2)), 4.0, width=16), seed=st.integers(0, 2**16))
def test_fast_path_equals_definition_fp16(profile, scale, seed):
    """fp16 inputs and fp16 scales: the quotient in fp16 (onnx, onnx reference) or fp32 (ORT)."""
    s = formats.real(float(scale)).value
    qfmt = Q._quotient_format(get_profile(profile), "fp16", "fp16")
    fast = fastquant.compile_quantizer(profile, s, 3, -128, 127, "fp16", qfmt)
    if fast is None:  # the fast path declines only the onnx reference's x86 int32 clamp
        assert get_profile(profile).clamp == "x86_int32", profile
        return
    rng = random.Random(seed)
    bits = [rng.getrandbits(16) for _ in range(300)]
    used = 0
    for b in bits:
        got = fast(b)
        if got is not None:
            used += 1
            assert got == definition(b, s, 3, "int8", profile, "fp16", "fp16"), (profile, hex(b))
    assert used >= len(bits) // 2  # the fast path really ran (fp16 inf/NaN are 1/32 of the patterns)


MIXED = [("fp32", "fp16"), ("fp32", "bf16"), ("fp16", "fp32"), ("fp16", "bf16"), ("bf16", "fp16"), ("bf16", "fp32")]


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("x_format,scale_format", MIXED)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**16))
def test_fast_path_equals_definition_mixed_formats(profile, x_format, scale_format, seed):
    """x and scale in different formats: the quotient format by profile (numpy promotion, the
    scale's format with x rounded into it first, fp32), near-ties of x/s in x's format."""
    rng = random.Random(seed)
    s = formats.round_to(scale_format, formats.Fraction(rng.randint(1, 2**20), 2**rng.randint(14, 24))).value
    qfmt = Q._quotient_format(get_profile(profile), x_format, scale_format)
    fast = fastquant.compile_quantizer(profile, s, 3, -128, 127, x_format, qfmt)
    if fast is None:
        assert get_profile(profile).clamp == "x86_int32" or formats.round_to(qfmt, 1 / s).is_inf, profile
        return
    width = formats.get_format(x_format).width
    bits = []
    for _ in range(100):
        b = formats.encode(x_format, (rng.randint(-135, 130) + formats.Fraction(1, 2)) * s)
        bits += [b + d for d in (-1, 0, 1) if 0 <= b + d < 2**width]
    bits += [rng.getrandbits(width) for _ in range(60)]
    used = 0
    for b in bits:
        got = fast(b)
        if got is not None:
            used += 1
            assert got == definition(b, s, 3, "int8", profile, x_format, scale_format), (profile, hex(b))
    assert used >= len(bits) // 2


def test_non_finite_inputs_fall_back():
    fast = fastquant.compile_quantizer("onnxruntime", formats.real(1.0).value, 0, -128, 127, "fp32", "fp32")
    assert [fast(b) for b in (0x7F800000, 0xFF800000, 0x7FC00000)] == [None, None, None]
    assert fast(0x40200000) == 2  # 2.5 -> 2 (ties to even)


@pytest.mark.parametrize("fmt", ["fp32", "fp16", "bf16"])
@given(data=st.data())
def test_rounder_equals_formats_encode(fmt, data):
    f = formats.get_format(fmt)
    n = data.draw(st.integers(0, 2**80))
    d = data.draw(st.integers(1, 2**60))
    e2 = data.draw(st.integers(-200, 100))
    sign = data.draw(st.integers(0, 1))
    got = fastquant.round_dyadic(f, sign, n, d, e2)
    x = formats.Real("finite", sign, formats.Fraction(n, d) * formats._pow2(e2))
    ref = formats.decode(f, formats.encode(f, x))
    if got is None:
        assert ref.is_inf
    else:
        assert ref.is_finite and ref.value == (-1 if got[0] else 1) * got[1] * formats._pow2(got[2])


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("dtype,out", [("int8", "fp32"), ("uint8", "fp16"), ("int32", "fp32"), ("int16", "bf16")])
@settings(max_examples=20)
@given(scale=st.one_of(st.floats(float(f32(1e-3)), float(f32(10)), width=32),
                       st.sampled_from([f32(1e-40), f32(3e-30), f32(7e20), f32(3e38)])),
       zfrac=st.floats(0, 1), seed=st.integers(0, 2**16))
def test_fast_dequantize_equals_definition(profile, dtype, out, scale, zfrac, seed):
    from refquant import integers
    t = integers.get_type(dtype)
    zp = t.min + int(zfrac * (t.max - t.min))
    s = formats.real(float(scale)).value
    fast = fastquant.compile_dequantizer(profile, s, zp, out, dtype)
    assert fast is not None
    rng = random.Random(seed)
    qs = [t.min, t.max, zp, 0] + [rng.randint(t.min, t.max) for _ in range(200)]
    for q in qs:
        got = fast(q)
        if got is not None:
            assert got == Q.dequantize_value(q, s, zp, profile, out, dtype), (profile, q, float(scale), zp)
