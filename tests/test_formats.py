"""refquant.formats against independent implementations.

- every bit pattern of every <= 16-bit format decoded, vs numpy.float16 / ml_dtypes
- fp32 / fp64 decode vs struct on edge and random patterns
- encode to fp32 / fp16 / bf16 in all five IEEE modes vs softfloatpy (Berkeley SoftFloat),
  on every midpoint neighbourhood, the overflow and underflow boundaries, and random patterns
- encode to fp8 / fp6 / fp4 / e8m0 vs ml_dtypes (RNE) and the saturate policy vs onnx's reference Cast
- fp32 add / sub / mul / div / fma vs softfloatpy in all five modes
"""
import math
import random
import struct
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from refquant import formats as F
from refquant.errors import InvalidValueError, UnknownNameError
from peers import need

SMALL = ["fp16", "bf16", "fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz",
         "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "e8m0"]
ML_NAMES = {"bf16": "bfloat16", "fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2",
            "fp8_e4m3fnuz": "float8_e4m3fnuz", "fp8_e5m2fnuz": "float8_e5m2fnuz",
            "fp6_e2m3": "float6_e2m3fn", "fp6_e3m2": "float6_e3m2fn", "fp4_e2m1": "float4_e2m1fn",
            "e8m0": "float8_e8m0fnu"}
MODES = ["rne", "rna", "rtz", "rup", "rdn"]


def peer_dtype(name):
    np = need("numpy")
    if name == "fp16":
        return np.float16
    ml = need("ml_dtypes")
    return getattr(ml, ML_NAMES[name])


def same(ours, theirs_float):
    """Compare a decoded Real with a Python float (exact fp64 value) by class, sign and value."""
    if math.isnan(theirs_float):
        return ours.is_nan
    return F.real(theirs_float) == ours or (ours.is_finite and F.real(theirs_float).is_finite
                                            and ours.value == F.real(theirs_float).value
                                            and ours.sign == int(math.copysign(1, theirs_float) < 0))


# ---------------------------------------------------------------------------------------------
# Decode
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SMALL)
def test_decode_every_pattern_matches_peer(name):
    np = need("numpy")
    fmt = F.get_format(name)
    n = 2**fmt.width
    storage = np.uint16 if fmt.width == 16 else np.uint8
    theirs = np.arange(n, dtype=storage).view(peer_dtype(name)) if fmt.width in (8, 16) else \
        np.arange(n, dtype=np.uint8).view(peer_dtype(name))
    as_f64 = theirs.astype(np.float64)
    bad = [b for b in range(n) if not same(F.decode(fmt, b), float(as_f64[b]))]
    assert bad == [], f"{name}: {len(bad)} patterns differ, first 0x{bad[0]:x}"


@pytest.mark.parametrize("name", ["fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "e8m0"])
def test_decode_nan_codes_match_peer(name):
    np = need("numpy")
    theirs = np.arange(256, dtype=np.uint8).view(peer_dtype(name)).astype(np.float64)
    ours = {b for b in range(256) if F.decode(name, b).is_nan}
    assert ours == {b for b in range(256) if math.isnan(theirs[b])}


EDGE32 = [0, 0x80000000, 1, 0x80000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0x3F800001, 0x7F7FFFFF,
          0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFC12345, 0x4B000000, 0x34000000]


@pytest.mark.parametrize("bits", EDGE32)
def test_decode_fp32_edges_vs_struct(bits):
    theirs = struct.unpack("<f", struct.pack("<I", bits))[0]
    ours = F.decode("fp32", bits)
    assert same(ours, theirs)
    if ours.is_nan:
        assert ours.quiet == bool(bits & 0x400000) and ours.payload == bits & 0x3FFFFF


@given(st.integers(0, 2**32 - 1))
def test_decode_fp32_random_vs_struct(bits):
    assert same(F.decode("fp32", bits), struct.unpack("<f", struct.pack("<I", bits))[0])


@given(st.integers(0, 2**64 - 1))
def test_decode_fp64_random_vs_struct(bits):
    assert same(F.decode("fp64", bits), struct.unpack("<d", struct.pack("<Q", bits))[0])


@given(st.floats(allow_nan=False, width=64))
def test_fp64_roundtrip(x):
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    assert F.encode("fp64", x) == bits
    assert F.decode("fp64", bits) == F.real(x)


# ---------------------------------------------------------------------------------------------
# Encode vs softfloatpy (Berkeley SoftFloat), all five modes
# ---------------------------------------------------------------------------------------------

def softfloat():
    sf = need("softfloatpy")
    return sf, {"rne": sf.RoundingMode.NEAR_EVEN, "rna": sf.RoundingMode.NEAR_MAX_MAG,
                "rtz": sf.RoundingMode.MIN_MAG, "rup": sf.RoundingMode.MAX, "rdn": sf.RoundingMode.MIN}


def sf_bits(x):
    return int.from_bytes(x.to_bytes(), "big")


def f64_of(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def neighbourhood_inputs(target, rng, count=60):
    """fp64 values at and around every kind of boundary of ``target``: midpoints between
    neighbouring target values (and +-1 fp64 ulp), the overflow threshold, the subnormal range."""
    fmt = F.get_format(target)
    values = []
    exps = list(range(fmt.emin - fmt.man_bits - 2, fmt.emin + 3)) + list(range(fmt.emax - 2, fmt.emax + 2))
    exps += [rng.randint(fmt.emin, fmt.emax) for _ in range(count)]
    for e in exps:
        for _ in range(3):
            mant = rng.randrange(2**fmt.man_bits)
            lo = Fraction(2**fmt.man_bits + mant, 2**fmt.man_bits) * F._pow2(e)
            mid = lo + F._pow2(e - fmt.man_bits - 1)
            for v in (lo, mid, F._pow2(e) * Fraction(3, 2)):
                if abs(v) < F.FORMATS["fp64"].max_finite:
                    b = F.encode("fp64", v)
                    values += [b, b + 1, b - 1]
    top = fmt.max_finite + F._pow2(fmt.emax - fmt.man_bits - 1)  # the overflow midpoint
    b = F.encode("fp64", top)
    values += [b - 1, b, b + 1, F.encode("fp64", fmt.max_finite), F.encode("fp64", fmt.min_subnormal / 2)]
    values = [v for v in values if 0 <= v < 2**63]
    return sorted(set(values + [v | 2**63 for v in values]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["fp32", "fp16"])
def test_encode_from_fp64_vs_softfloat(target, mode):
    sf, sf_modes = softfloat()
    conv = {"fp32": sf.f64_to_f32, "fp16": sf.f64_to_f16}[target]
    rng = random.Random(f"{target}{mode}")
    inputs = neighbourhood_inputs(target, rng) + [rng.getrandbits(64) for _ in range(2000)]
    sf.set_rounding_mode(sf_modes[mode])
    try:
        for bits in inputs:
            theirs = sf_bits(conv(sf.Float64.from_bytes(bits.to_bytes(8, "big"))))
            x = F.decode("fp64", bits)
            ours = F.encode(target, x, mode)
            if x.is_nan:
                assert F.decode(target, ours).is_nan and F.decode(target, theirs).is_nan
            else:
                assert ours == theirs, f"{target} {mode} from 0x{bits:016x} ({x}): ours 0x{ours:x} softfloat 0x{theirs:x}"
    finally:
        sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)


@pytest.mark.parametrize("mode", MODES)
def test_encode_bf16_from_fp32_vs_softfloat(mode):
    sf, sf_modes = softfloat()
    rng = random.Random(mode)
    inputs = [F.encode("fp32", F.decode("fp64", b), "rtz") for b in neighbourhood_inputs("bf16", rng)]
    inputs += [rng.getrandbits(32) for _ in range(3000)] + [0x7F7F8000, 0x7F7FFFFF, 0x00008000, 0x00000001]
    sf.set_rounding_mode(sf_modes[mode])
    try:
        for bits in inputs:
            theirs = sf_bits(sf.f32_to_bf16(sf.Float32.from_bytes(bits.to_bytes(4, "big"))))
            x = F.decode("fp32", bits)
            ours = F.encode("bf16", x, mode)
            if x.is_nan:
                assert F.decode("bf16", ours).is_nan and F.decode("bf16", theirs).is_nan
            else:
                assert ours == theirs, f"bf16 {mode} from 0x{bits:08x}: ours 0x{ours:x} softfloat 0x{theirs:x}"
    finally:
        sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)


def test_fp16_every_fp32_midpoint_vs_numpy():
    """Every midpoint between adjacent fp16 values (and its fp32 neighbours), RNE, vs numpy."""
    np = need("numpy")
    pos = np.arange(0, 0x7C00, dtype=np.uint16).view(np.float16).astype(np.float64)
    mids = ((pos[:-1] + pos[1:]) / 2).astype(np.float32)  # exact: fp16 midpoints fit in fp32
    bits = mids.view(np.uint32)
    cands = np.concatenate([bits, bits + 1, bits - 1, bits | 0x80000000])
    theirs = cands.view(np.float32).astype(np.float16).view(np.uint16)
    bad = [int(b) for b, t in zip(cands, theirs) if F.encode("fp16", F.decode("fp32", int(b))) != int(t)]
    assert bad == []


# ---------------------------------------------------------------------------------------------
# bf16 encode: every midpoint, RNE vs ml_dtypes, every mode vs softfloatpy
# ---------------------------------------------------------------------------------------------

def bf16_midpoint_inputs():
    """fp32 patterns: every bf16 value and every midpoint between adjacent bf16 values (exact in
    fp32: 9 significant bits), each +-1 fp32 ulp, the overflow midpoint max + ulp/2 and its
    neighbours, both signs, and the specials.  The caller adds random patterns."""
    np = need("numpy")
    vals = np.arange(0, 0x7F80, dtype=np.uint32) << 16  # every finite bf16 >= 0, as fp32 bits
    mids = vals[:-1] + 0x8000  # halfway to the next bf16 (the low 16 bits 0x8000)
    top = np.array([0x7F7F8000], np.uint32)  # max_finite + ulp/2: the overflow midpoint
    core = np.concatenate([vals, mids, top])
    bits = np.concatenate([core, core + 1, core[core > 0] - 1])
    bits = np.concatenate([bits, bits | 0x80000000, np.array([0x7F800000, 0xFF800000, 0x7FC00000], np.uint32)])
    return np.unique(bits)


def _encode_all(fmt, bits, mode="rne"):
    return [F.encode(fmt, F.decode("fp32", b), mode) for b in bits]


def test_encode_bf16_every_midpoint_vs_ml_dtypes():
    """RNE fp32 -> bf16 on every midpoint +-1 ulp (about 195,000 inputs) and 20,000 random fp32
    patterns == ml_dtypes 0.5.3's bfloat16 cast (a truncating or ties-away encoder fails here)."""
    np = need("numpy")
    rng = random.Random("bf16-ml")
    bits = np.concatenate([bf16_midpoint_inputs(), np.array([rng.getrandbits(32) for _ in range(20000)], np.uint32)])
    with np.errstate(invalid="ignore"):
        theirs = bits.view(np.float32).astype(peer_dtype("bf16")).view(np.uint16).tolist()
    bad = []
    for b, t, o in zip(bits.tolist(), theirs, _encode_all("bf16", bits.tolist())):
        if F.decode("fp32", b).is_nan:
            ok = F.decode("bf16", o).is_nan and F.decode("bf16", t).is_nan
        else:
            ok = o == t
        if not ok:
            bad.append((hex(b), hex(o), hex(t)))
    assert bad == [], f"bf16: {len(bad)} differ, e.g. {bad[:5]}"
    # the data holds ties both ways: an even and an odd lower neighbour
    assert F.encode("bf16", F.decode("fp32", 0x3F808000)) == 0x3F80 and F.encode("bf16", F.decode("fp32", 0x3F818000)) == 0x3F82


def _bf16_vs_softfloat(mode, bits):
    sf, sf_modes = softfloat()
    sf.set_rounding_mode(sf_modes[mode])
    bad = []
    try:
        for b in bits:
            theirs = sf_bits(sf.f32_to_bf16(sf.Float32.from_bytes(int(b).to_bytes(4, "big"))))
            x = F.decode("fp32", b)
            ours = F.encode("bf16", x, mode)
            ok = (F.decode("bf16", ours).is_nan and F.decode("bf16", theirs).is_nan) if x.is_nan else ours == theirs
            if not ok:
                bad.append((hex(b), hex(ours), hex(theirs)))
    finally:
        sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)
    return bad


@pytest.mark.parametrize("mode", MODES)
def test_encode_bf16_midpoints_all_modes_vs_softfloat_sample(mode):
    """A seeded sample of 4,000 midpoint-neighbourhood inputs (and the overflow edge) per mode."""
    rng = random.Random(f"bf16-sf-{mode}")
    allbits = bf16_midpoint_inputs().tolist()
    bits = rng.sample(allbits, 4000) + [0x7F7F8000, 0x7F7F7FFF, 0x7F7F8001, 0xFF7F8000, 0x00008000, 0x80008000]
    assert _bf16_vs_softfloat(mode, bits) == []


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_encode_bf16_every_midpoint_all_modes_vs_softfloat(mode):
    """Every midpoint +-1 ulp, both signs, in each of the five modes, vs Berkeley SoftFloat."""
    assert _bf16_vs_softfloat(mode, bf16_midpoint_inputs().tolist()) == []


def test_bf16_from_fp64_is_one_rounding():
    """1 + 2^-8 + 2^-40 rounds up to bf16 0x3F81 directly; through fp32 it is a tie and goes to
    0x3F80.  refquant rounds once; ml_dtypes 0.5.3 (array cast and scalar) goes through fp32."""
    x = 1 + Fraction(1, 2**8) + Fraction(1, 2**40)
    assert F.encode("bf16", x) == 0x3F81
    assert F.encode("bf16", F.decode("fp32", F.encode("fp32", x))) == 0x3F80
    np = need("numpy")
    ml = need("ml_dtypes")
    assert int(np.array([float(x)], np.float64).astype(ml.bfloat16).view(np.uint16)[0]) == 0x3F80, \
        "ml_dtypes bfloat16 from float64 no longer rounds through fp32"


# ---------------------------------------------------------------------------------------------
# Encode to 8-bit and smaller formats vs ml_dtypes (RNE, non-saturating per OFP8)
# ---------------------------------------------------------------------------------------------

SMALLER = ["fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "e8m0"]


def fp32_inputs_around(fmt_name):
    """Every representable value of the target, every midpoint, +-1 fp32 ulp, both signs,
    the specials, and 20,000 random fp32 patterns."""
    np = need("numpy")
    fmt = F.get_format(fmt_name)
    vals = sorted({F.decode(fmt, b).value for b in range(2**fmt.width) if F.decode(fmt, b).is_finite})
    pts = vals + [(a + b) / 2 for a, b in zip(vals, vals[1:])] + [vals[-1] + (vals[-1] - vals[-2]) / 2]
    pts += [vals[0] / 2, vals[-1] * 2, Fraction(0)]
    bits = {F.encode("fp32", p) for p in pts if abs(p) < F.FORMATS["fp32"].max_finite}
    bits |= {b + d for b in bits for d in (-1, 1) if b not in (0, 0x80000000)}
    bits |= {b ^ 0x80000000 for b in bits}
    rng = random.Random(fmt_name)
    bits |= {rng.getrandbits(32) for _ in range(20000)}
    bits |= {0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000}
    return np.array(sorted(bits), dtype=np.uint32)


@pytest.mark.parametrize("name", SMALLER)
def test_encode_small_formats_vs_ml_dtypes(name):
    np = need("numpy")
    fmt = F.get_format(name)
    cands = fp32_inputs_around(name)
    theirs = cands.view(np.float32).astype(peer_dtype(name)).view(np.uint8)
    bad = []
    for b, t in zip(cands.tolist(), theirs.tolist()):
        x = F.decode("fp32", b)
        if name == "e8m0" and 0x00400001 <= b <= 0x005FFFFF:
            continue  # ml_dtypes quirk, tested by name below
        if x.is_nan and not fmt.has_nan:
            continue  # no NaN code: refquant raises, ml_dtypes invents one (tested below)
        ours = F.encode(fmt, x, "rne", "ieee")
        if fmt.width < 8:
            t &= 2**fmt.width - 1
        if x.is_nan or F.decode(fmt, t).is_nan:
            ok = F.decode(fmt, ours).is_nan and F.decode(fmt, t).is_nan
        else:
            ok = ours == t
        if not ok:
            bad.append((hex(b), hex(ours), hex(t)))
    assert bad == [], f"{name}: {len(bad)} differ, e.g. {bad[:5]}"


def test_ml_dtypes_e8m0_subnormal_quirk():
    """ml_dtypes 0.5.3 maps fp32 subnormals just above 2^-127 to 0x01 (2^-126), though 0x00 is nearer."""
    np = need("numpy")
    b = 0x00400001  # 2^-127 * (1 + 2^-22)
    theirs = int(np.array([b], np.uint32).view(np.float32).astype(peer_dtype("e8m0")).view(np.uint8)[0])
    assert F.encode("e8m0", F.decode("fp32", b)) == 0x00
    assert theirs == 0x01, "ml_dtypes fixed its e8m0 subnormal rounding; drop this exclusion"


def test_no_double_rounding_from_fp64():
    """1.0625 + 2^-40 goes to e4m3fn 0x39 directly; through fp32 it would tie and give 0x38."""
    x = Fraction(17, 16) + Fraction(1, 2**40)
    assert F.encode("fp8_e4m3fn", x) == 0x39
    via32 = F.decode("fp32", F.encode("fp32", x))
    assert F.encode("fp8_e4m3fn", via32) == 0x38
    np = need("numpy")
    ml = need("ml_dtypes")
    arr = np.array([float(x)], np.float64).astype(ml.float8_e4m3fn).view(np.uint8)
    assert int(arr[0]) == 0x38, "ml_dtypes array cast no longer rounds through fp32"
    assert int(np.array([ml.float8_e4m3fn(float(x))]).view(np.uint8)[0]) == 0x39


FP8_ONNX = {"fp8_e4m3fn": 17, "fp8_e4m3fnuz": 18, "fp8_e5m2": 19, "fp8_e5m2fnuz": 20}


@pytest.mark.parametrize("name", list(FP8_ONNX))
def test_saturate_policy_vs_onnx_reference_cast(name):
    """overflow='saturate' == ONNX Cast(saturate=1) as run by onnx's ReferenceEvaluator."""
    np = need("numpy")
    need("onnx")
    from onnx import helper, TensorProto
    from onnx.reference import ReferenceEvaluator
    cands = fp32_inputs_around(name)
    cands = cands[~np.isnan(cands.view(np.float32))]
    node = helper.make_node("Cast", ["x"], ["y"], to=FP8_ONNX[name], saturate=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", FP8_ONNX[name], [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    out = ReferenceEvaluator(model).run(None, {"x": cands.view(np.float32)})[0]
    theirs = out.view(np.uint8).tolist()
    bad = [(hex(b), hex(t)) for b, t in zip(cands.tolist(), theirs)
           if F.encode(name, F.decode("fp32", b), "rne", "saturate") != t]
    assert bad == [], f"{name}: {len(bad)} differ, e.g. {bad[:5]}"


# ---------------------------------------------------------------------------------------------
# fp32 arithmetic vs softfloatpy
# ---------------------------------------------------------------------------------------------

EDGE_OPERANDS = [0, 0x80000000, 0x3F800000, 0xBF800000, 0x7F7FFFFF, 0x00000001, 0x00800000,
                 0x7F800000, 0xFF800000, 0x7FC00000, 0x3F800001, 0x33800000, 0x4B800000]
bits32 = st.one_of(st.integers(0, 2**32 - 1), st.sampled_from(EDGE_OPERANDS),
                   st.integers(0x3E000000, 0x41000000))  # a dense band where sums interact


def _sf32(sf, b):
    return sf.Float32.from_bytes(b.to_bytes(4, "big"))


def _check_op(op, operands, mode):
    sf, sf_modes = softfloat()
    sf.set_rounding_mode(sf_modes[mode])
    try:
        theirs = sf_bits(getattr(sf, f"f32_{op}")(*[_sf32(sf, b) for b in operands]))
    finally:
        sf.set_rounding_mode(sf.RoundingMode.NEAR_EVEN)
    ours = getattr(F, {"mul_add": "fma"}.get(op, op))("fp32", *[F.decode("fp32", b) for b in operands], mode)
    if F.decode("fp32", theirs).is_nan:
        assert F.decode("fp32", ours).is_nan
    else:
        assert ours == theirs, f"f32_{op} {mode} {[hex(b) for b in operands]}: ours 0x{ours:08x} softfloat 0x{theirs:08x}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@given(a=bits32, b=bits32)
def test_fp32_binary_ops_vs_softfloat(op, mode, a, b):
    _check_op(op, (a, b), mode)


@pytest.mark.parametrize("mode", MODES)
@given(a=bits32, b=bits32, c=bits32)
def test_fp32_fma_vs_softfloat(mode, a, b, c):
    _check_op("mul_add", (a, b, c), mode)


@pytest.mark.parametrize("mode", MODES)
def test_fp32_fma_near_cancellation_vs_softfloat(mode):
    """a*b + c with c ~ -a*b: the exact-zero sign rule and huge cancellation."""
    rng = random.Random(mode)
    for _ in range(300):
        a, b = rng.getrandbits(32) & 0x3FFFFFFF | 0x3E000000, rng.getrandbits(32) & 0x3FFFFFFF | 0x3E000000
        p = F.mul("fp32", F.decode("fp32", a), F.decode("fp32", b), "rne")
        c = p ^ 0x80000000
        for cc in (c, c + 1, c - 1):
            _check_op("mul_add", (a, b, cc & 0xFFFFFFFF), mode)


# ---------------------------------------------------------------------------------------------
# Hand-checkable facts and bad input
# ---------------------------------------------------------------------------------------------

def test_table_and_specials():
    assert F.get_format("fp8_e4m3fn").max_finite == 448
    assert F.encode("fp8_e4m3fn", 464) == 0x7E  # tie with the NaN code keeps 448
    assert F.encode("fp8_e4m3fn", 465) == 0x7F and F.encode("fp8_e4m3fn", 465, overflow="saturate") == 0x7E
    assert F.encode("fp8_e5m2", 61440) == 0x7C  # tie of 57344 (odd) and 65536 overflows
    assert F.encode("fp4_e2m1", 100) == 0x7 and F.encode("fp4_e2m1", "-inf") == 0xF
    assert F.encode("fp8_e4m3fnuz", "-0") == 0x00 and F.encode("fp8_e4m3fnuz", "nan") == 0x80
    assert [F.encode("e8m0", v) for v in (3, Fraction(3, 4), Fraction(5, 4))] == [0x81, 0x7F, 0x7F]
    assert F.encode("fp32", "1e-50") == 0 and F.encode("fp32", "-1e-50") == 0x80000000
    assert F.encode("fp32", "1e-50", "rup") == 1


def test_directed_overflow_rules():
    big = F.FORMATS["fp16"].max_finite * 2
    assert F.encode("fp16", big, "rtz") == 0x7BFF and F.encode("fp16", big, "rup") == 0x7C00
    assert F.encode("fp16", -big, "rup") == 0xFBFF and F.encode("fp16", -big, "rdn") == 0xFC00
    assert F.encode("fp8_e4m3fn", 1000, "rtz") == 0x7E and F.encode("fp8_e4m3fn", 1000, "rup") == 0x7F


def test_neighbours():
    assert F.next_up("fp16", 0x3C00) == 0x3C01 and F.next_down("fp16", 0x3C00) == 0x3BFF
    assert F.next_up("fp16", 0x8000) == 0x0001 and F.next_up("fp16", 0x7BFF) == 0x7C00
    assert F.next_up("fp8_e4m3fn", 0x7E) is None and F.next_down("fp8_e4m3fn", 0x00) == 0x81


@given(st.integers(0, 2**16 - 1))
def test_next_up_is_successor_fp16(b):
    x = F.decode("fp16", b)
    up = F.next_up("fp16", b)
    if up is None or not x.is_finite:
        return
    y = F.decode("fp16", up)
    assert (y.is_inf and x.value == 65504) or y.value > x.value


def test_parse_strings_exactly():
    assert F.real("0.1").value == Fraction(1, 10)
    assert F.real("0x1.8p-3").value == Fraction(3, 16)
    assert F.real("-0").sign == 1 and F.real("-inf").is_inf
    assert F.encode("fp32", "0.1") == 0x3DCCCCCD


def test_bad_input_is_named():
    with pytest.raises(InvalidValueError, match="0x100 out of range for fp8_e4m3fn"):
        F.decode("fp8_e4m3fn", 0x100)
    with pytest.raises(UnknownNameError, match="fp8_e4m3fn"):
        F.get_format("fp9")
    with pytest.raises(UnknownNameError, match="rne"):
        F.encode("fp32", 1, "nearest")
    with pytest.raises(InvalidValueError, match="no NaN"):
        F.encode("fp4_e2m1", "nan")
    with pytest.raises(InvalidValueError, match="cannot read"):
        F.real("one point five")
    with pytest.raises(InvalidValueError, match="not exactly representable in fp32"):
        F.exact("fp32", 0.1)
    assert F.exact("fp32", 0.5).value == Fraction(1, 2)


# ---------------------------------------------------------------------------------------------
# e8m0 has no zero (issue 11 item 2)
# ---------------------------------------------------------------------------------------------

def _onnx_cast_e8m0(values, saturate):
    np = need("numpy")
    need("onnx")
    from onnx import helper, TensorProto
    from onnx.reference import ReferenceEvaluator
    to = getattr(TensorProto, "FLOAT8E8M0", None)
    if to is None:
        pytest.skip("onnx without FLOAT8E8M0 (needs onnx >= 1.18, opset 25)")
    node = helper.make_node("Cast", ["x"], ["y"], to=to, saturate=saturate)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", to, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 25)])
    out = ReferenceEvaluator(model).run(None, {"x": np.array(values, np.float32)})[0]
    return out.view(np.uint8).tolist()


def test_e8m0_zero_under_saturate_is_the_smallest_code_as_onnx_and_torch():
    """overflow='saturate' names ONNX Cast saturate=1: the Cast-25 table maps 0 to E8M0_MIN (0x00).
    Measured: onnx 1.21.0 ReferenceEvaluator and torch 2.13.0 float8_e8m0fnu give 0x00 for +0 and -0."""
    zeros = [0.0, -0.0]
    ours = [F.encode("e8m0", z, "rne", "saturate") for z in zeros]
    assert ours == [0x00, 0x00]
    assert F.encode("e8m0", F.real("-0"), "rup", "saturate") == 0x00
    assert _onnx_cast_e8m0(zeros, saturate=1) == ours
    torch = need("torch", "torch==2.13.0")
    theirs = torch.tensor(zeros, dtype=torch.float32).to(torch.float8_e8m0fnu).view(torch.uint8).tolist()
    assert theirs == ours


def test_e8m0_zero_under_ieee_is_nan_as_ml_dtypes():
    """The default policy keeps the format's own answer: no zero code, so NaN (0xff), as ml_dtypes
    0.5.3 (and the ONNX Cast-25 table's non-saturating column) give."""
    np = need("numpy")
    assert [F.encode("e8m0", z) for z in (0.0, -0.0)] == [0xFF, 0xFF]
    theirs = np.array([0.0, -0.0], np.float32).astype(peer_dtype("e8m0")).view(np.uint8).tolist()
    assert theirs == [0xFF, 0xFF]


# ----- round_binary: the fast RNE of the binary formats is round_to ------------------------------

def _round_to_value(fmt, x):
    r = F.round_to(fmt, x)
    return (float("inf") if r.sign == 0 else float("-inf")) if r.is_inf else r.value


@given(st.sampled_from(["fp16", "fp32", "fp64"]), st.integers(1, 2**70), st.integers(-1100, 1100),
       st.booleans())
def test_round_binary_equals_round_to(fmt, n, e, negative):
    x = Fraction(n) * Fraction(2) ** e / 3 * (-1 if negative else 1)
    assert F.round_binary(fmt, x) == _round_to_value(fmt, x)


@pytest.mark.parametrize("fmt", ["fp16", "fp32", "fp64"])
def test_round_binary_on_midpoints_subnormals_and_the_overflow_threshold(fmt):
    p, emin, emax = F.BINARY[fmt]
    big = Fraction(2**p - 1) * Fraction(2) ** (emax - p + 1)           # the largest finite value
    ulp_big = Fraction(2) ** (emax - p + 1)
    tiny = Fraction(2) ** (emin - p + 1)                              # the smallest subnormal
    cases = [big, big + ulp_big / 2, big + ulp_big / 2 - Fraction(1, 10**400), big + ulp_big, tiny,
             tiny / 2, tiny / 2 + Fraction(1, 2**2000), 3 * tiny / 2, Fraction(5, 2), Fraction(7, 2),
             1 + Fraction(1, 2**p), 1 + Fraction(3, 2**p), Fraction(0)]
    for x in cases + [-c for c in cases]:
        assert F.round_binary(fmt, x) == _round_to_value(fmt, x), (fmt, x)
