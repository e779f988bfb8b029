"""NVFP4 (refquant.nvfp4, its ml_dtypes fast form) and OCP MX dot products (refquant.mxdot)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from refquant import formats, mxdot, nvfp4
from refquant.blocks import nvfp4 as fast
from refquant.errors import InvalidValueError, ShapeError, UnknownNameError

ml_dtypes = pytest.importorskip("ml_dtypes")
MIDPOINTS = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0)


def near_ties(rng, n_blocks):
    """Blocks whose elements sit on e2m1 midpoints of x/t (or one ulp off), t the block's total scale."""
    out = []
    for _ in range(n_blocks):
        t = np.float32(rng.choice([0.375, 1.125, 0.8125, 3.25]) * 2.0 ** rng.integers(-4, 4))
        m = rng.choice(MIDPOINTS, 16) * rng.choice([-1, 1], 16)
        b = (m * t).astype(np.float32)
        b = np.where(rng.random(16) < 0.3, np.nextafter(b, np.float32(np.inf)), b).astype(np.float32)
        b[0] = np.float32(6 * t)                         # the block max sets scale = t (single level)
        out.append(b)
    return np.concatenate(out)


def sample(seed, n=64):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(16 * n) * rng.choice([1e-3, 1.0, 100.0], 16 * n)).astype(np.float32)
    x[:16] = 0
    x[16] = -0.0
    return np.concatenate([x, near_ties(rng, 16)])


@pytest.mark.parametrize("two_level", [False, True])
def test_fast_form_with_ml_dtypes_casts_equals_the_definition(two_level):
    x = sample(1)
    s = fast.tensor_scale(np.abs(x).max()) if two_level else None
    assert nvfp4.tensor_scale(float(np.abs(x).max())) == float(fast.tensor_scale(np.abs(x).max()))
    sc, codes = nvfp4.quantize([float(v) for v in x], None if s is None else float(s))
    fsc, fcodes = fast.quantize(x, s)
    assert list(fsc) == sc and list(fcodes) == codes
    back = nvfp4.dequantize(sc, codes, None if s is None else float(s))
    assert list(fast.dequantize(fsc, fcodes, s).view(np.uint32)) == back


def two_level_near_ties(rng, s, n_blocks):
    """Blocks whose elements are fl32(m · s · scale) for e2m1 midpoints m: x/t is a near-tie for the
    exact t = s · scale, and torchao divides by fl32(s · scale) instead."""
    xs = []
    for _ in range(n_blocks):
        bmax = np.float32(rng.uniform(1, 100))
        t = Fraction(float(s)) * formats.value_of("fp8_e4m3fn", nvfp4.block_scale(float(bmax), float(s)))
        ms = rng.choice(MIDPOINTS, 15) * rng.choice([-1, 1], 15)
        xs += [float(bmax)] + [float(np.float32(float(Fraction(m) * t))) for m in ms]
    return xs


def test_exact_mode_is_one_rounding_and_differs_from_torchao_only_with_a_tensor_scale():
    """Single level: fl32(x/t) can never land on an e2m1 (or e4m3) midpoint m that x/t misses: m·t has
    at most 7 significant bits (m <= 3, the e4m3 t 4; for the scale step m <= 5 bits times 6), so it is
    a binary32 value, and any other binary32 x is an ulp(x) away, giving |x/t - m| >= ulp(x)/t >
    ulp32(m)/2.  So torchao's codes are the exact ones.  Two levels: torchao divides by fl32(s · scale),
    which m·s·scale no longer fits: near-ties differ."""
    rng = np.random.default_rng(2)
    x = [float(v) for v in sample(5, 256)]
    assert nvfp4.quantize(x, None, "exact") == nvfp4.quantize(x, None, "torchao")
    s = np.float32(0.1519362479448318)
    x = two_level_near_ties(rng, s, 32)
    sc_e, c_e = nvfp4.quantize(x, float(s), "exact")
    sc_t, c_t = nvfp4.quantize(x, float(s), "torchao")
    assert sc_e == sc_t
    for j, (v, code) in enumerate(zip(x, c_e)):   # exact: the e2m1 value nearest x/t, ties to even
        t = nvfp4.total_scale(sc_e[j // 16], float(s), "exact")
        assert formats.decode("fp4_e2m1", code) == formats.round_to("fp4_e2m1", Fraction(v) / t, "rne", "saturate")
    assert sum(a != b for a, b in zip(c_e, c_t)) > 50


def test_named_examples_and_errors():
    # block max 6 -> scale 1 (e4m3 0x38); 2.5 is a tie -> 2 (even), 3.5 -> 4
    sc, codes = nvfp4.quantize([6.0, 2.5, 3.5, -0.0] + [0.0] * 12)
    assert sc == [0x38] and codes[:4] == [0x7, 0x4, 0x6, 0x8]
    assert nvfp4.block_scale(0) == formats.encode("fp8_e4m3fn", Fraction(1, 64))   # clamped to 2^-6
    with pytest.raises(ShapeError):
        nvfp4.quantize([0.0] * 15)
    with pytest.raises(InvalidValueError):
        nvfp4.tensor_scale(0)
    with pytest.raises(UnknownNameError):
        nvfp4.quantize([0.0] * 16, mode="nearest")


@pytest.mark.parametrize("fmt, dt", [("fp8_e4m3fn", "float8_e4m3fn"), ("fp8_e5m2", "float8_e5m2"),
                                     ("fp6_e2m3", "float6_e2m3fn"), ("fp6_e3m2", "float6_e3m2fn"),
                                     ("fp4_e2m1", "float4_e2m1fn")])
def test_mx_element_values_match_ml_dtypes(fmt, dt):
    width = formats.get_format(fmt).width
    codes = [c for c in range(2**width) if formats.decode(fmt, c).is_finite]
    got = np.array(codes, dtype=np.uint8).view(getattr(ml_dtypes, dt)).astype(np.float64)
    assert [mxdot.element_value(fmt, c) for c in codes] == [Fraction(float(v)) for v in got]
    e8 = np.arange(255, dtype=np.uint8).view(ml_dtypes.float8_e8m0fnu).astype(np.float64)
    assert [mxdot.scale_value(c) for c in range(255)] == [Fraction(float(v)) for v in e8]


def _random_mx(rng, fmt, blocks, k=32):
    width = 8 if fmt == "int8" else formats.get_format(fmt).width
    codes = [int(c) for c in rng.integers(0, 2**width, blocks * k)]
    if fmt != "int8":
        codes = [c if formats.decode(fmt, c).is_finite else 0 for c in codes]
    return [int(s) for s in rng.integers(120, 134, blocks)], codes


@pytest.mark.parametrize("a_fmt, b_fmt", [("fp8_e4m3fn", "fp8_e4m3fn"), ("fp8_e5m2", "fp8_e4m3fn"),
                                          ("fp6_e2m3", "fp6_e3m2"), ("fp4_e2m1", "fp4_e2m1"), ("int8", "int8")])
def test_mx_dot_exact_and_named_accumulations(a_fmt, b_fmt):
    rng = np.random.default_rng(3)
    sa, ca = _random_mx(rng, a_fmt, 4)
    sb, cb = _random_mx(rng, b_fmt, 4)
    want = sum(mxdot.scale_value(sa[j // 32]) * mxdot.scale_value(sb[j // 32]) * mxdot.element_value(a_fmt, p)
               * mxdot.element_value(b_fmt, q) for j, (p, q) in enumerate(zip(ca, cb)))
    assert mxdot.dot(a_fmt, sa, ca, b_fmt, sb, cb) == formats.encode("fp32", want)
    for acc in ("block_fp32", "fp32_fma"):   # implementation-defined sums: within a few ulps here
        got = formats.value_of("fp32", mxdot.dot(a_fmt, sa, ca, b_fmt, sb, cb, accumulation=acc))
        assert abs(got - want) <= abs(want) * Fraction(1, 2**20) + Fraction(1, 2**100)


def test_mx_accumulations_differ_where_the_spec_leaves_it_open():
    """Three blocks: products 2^24, 1, 1.  exact: 2^24 + 2.  block_fp32: (2^24 + 1) ties to 2^24, again.
    fp32_fma: the same losses inside the chain."""
    one, zero = formats.encode("fp8_e4m3fn", 1), 0
    a = [one] + [zero] * 31 + [one] + [zero] * 31 + [one] + [zero] * 31
    sa, sb = [127 + 12, 127, 127], [127 + 12, 127, 127]
    got = {acc: formats.value_of("fp32", mxdot.dot("fp8_e4m3fn", sa, a, "fp8_e4m3fn", sb, a, accumulation=acc))
           for acc in mxdot.ACCUMULATIONS}
    assert got == {"exact": 2**24 + 2, "block_fp32": 2**24, "fp32_fma": 2**24}
    with pytest.raises(InvalidValueError):
        mxdot.dot("fp8_e4m3fn", [255, 127, 127], a, "fp8_e4m3fn", sb, a)
    with pytest.raises(ShapeError):
        mxdot.dot("fp8_e4m3fn", sa, a[:95], "fp8_e4m3fn", sb, a)


@pytest.mark.slow
def test_nvfp4_fast_form_equals_the_definition_on_1e5_elements():
    rng = np.random.default_rng(4)
    x = np.concatenate([(rng.standard_normal(96 * 1024) * rng.choice([1e-4, 1.0, 1e3], 96 * 1024)).astype(np.float32),
                        near_ties(rng, 512)])
    s = fast.tensor_scale(np.abs(x).max())
    for scale in (None, s):
        sc, codes = nvfp4.quantize([float(v) for v in x], None if scale is None else float(scale))
        fsc, fcodes = fast.quantize(x, scale)
        assert x.size >= 10**5 and list(fsc) == sc and list(fcodes) == codes
    assert math.isfinite(float(s))
