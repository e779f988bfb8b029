"""QuantizeLinear / DequantizeLinear with mixed fp32 / fp16 / bf16 x, scale and output types, bit for
bit against the onnx ReferenceEvaluator (onnx 1.21.0) and onnxruntime (1.32.0 CPU EP).

What each peer accepts (measured on onnx 1.21.0 / onnxruntime 1.32.0; ``test_what_each_peer_accepts``):

- QuantizeLinear-19/21 require x and the scale to share one type (onnx.checker and ORT reject a mix);
  opset 23 and 25 allow any x / scale pair.  ORT implements fp32 and fp16 x / scale (all four
  pairs at opset >= 23) and no bfloat16.  The 1.21.0 ReferenceEvaluator runs every pair (it
  dispatches opset 23/25 to its QuantizeLinear_21 code: ``x / scale`` with numpy promotion, so a
  mixed pair divides in fp32), and rejects the ``precision`` attribute; onnx ships the opset-23
  code (``QuantizeLinear_23``: x and scale cast to ``precision``, then divided) unregistered, and
  it is run here by registering it.
- DequantizeLinear: the output type is the scale type unless opset >= 23 ``output_dtype`` says
  otherwise.  ORT takes fp32 -> fp16 and fp16 -> fp32 that way and no bfloat16; the 1.21.0
  ReferenceEvaluator takes every scale type but not ``output_dtype``.

What refquant's profiles reproduce:

- ``onnx_ref`` = the ReferenceEvaluator (numpy promotion: fp16/fp16 and bf16/bf16 stay in their
  format, every mixed pair divides in fp32);
- ``onnx`` = opset-23 wording: the division at the scale's precision, x first rounded to the scale's
  format -- as onnx's own QuantizeLinear_23 code does with ``precision`` = the scale type, and as
  ORT 1.32 does at opset >= 23;
- ``onnxruntime`` = ORT at opset <= 21 (fp16 widened, fp32 division), and at opset >= 23 whenever
  the scale is fp32.  ORT 1.32 at opset >= 23 with an fp16 scale divides in fp16 after rounding x to
  fp16 (the ``onnx`` quotient), keeping its NaN -> qmin: profile ``onnxruntime_fp16_scale``.

Inputs include exact ties (k + 1/2)·s in x's format and their neighbours, where the quotient's
format decides the integer: each test asserts that its data tells every other quotient format
apart from the one the peer uses (a profile computing an fp16-x / fp32-scale quotient in fp16
fails here, not only in the golden snapshot).
"""
import dataclasses
import random
import warnings
from fractions import Fraction

import pytest

from peers import need
from refquant import formats, quantize as Q
from refquant.profiles import PROFILES

np = need("numpy")
ml_dtypes = need("ml_dtypes")
onnx = need("onnx")

from onnx import TensorProto as TP, helper  # noqa: E402

MEASURED_ORT = "1.32.0"
FLOATS = {"fp32": (TP.FLOAT, np.float32, np.uint32), "fp16": (TP.FLOAT16, np.float16, np.uint16),
          "bf16": (TP.BFLOAT16, ml_dtypes.bfloat16, np.uint16)}
INTS = {"int8": TP.INT8, "uint8": TP.UINT8, "int16": TP.INT16, "int32": TP.INT32}
PAIRS = [(x, s) for x in FLOATS for s in FLOATS]
ORT_QL = {21: [("fp32", "fp32"), ("fp16", "fp16")],
          23: [("fp32", "fp32"), ("fp32", "fp16"), ("fp16", "fp32"), ("fp16", "fp16")],
          25: [("fp32", "fp32"), ("fp32", "fp16"), ("fp16", "fp32"), ("fp16", "fp16")]}
ORT_DQL = {21: [("fp32", "fp32"), ("fp16", "fp16")],
           23: [("fp32", "fp32"), ("fp32", "fp16"), ("fp16", "fp32"), ("fp16", "fp16")],
           25: [("fp32", "fp32"), ("fp32", "fp16"), ("fp16", "fp32"), ("fp16", "fp16")]}

# ORT 1.32 QuantizeLinear at opset >= 23 with an fp16 scale (see the module docstring).
ORT_FP16_SCALE = PROFILES["onnxruntime_fp16_scale"]


def test_onnxruntime_fp16_scale_is_onnxruntime_dividing_at_the_scales_precision():
    """The named profile differs from 'onnxruntime' in the quotient's format only (and in its name and source)."""
    assert dataclasses.replace(PROFILES["onnxruntime"], quotient_format="scale", name=ORT_FP16_SCALE.name,
                               source=ORT_FP16_SCALE.source) == ORT_FP16_SCALE


# ---------------------------------------------------------------------------------------------
# Models and peers
# ---------------------------------------------------------------------------------------------

def _ql_model(xf, sf, opset, dtype="int8", precision=None):
    attrs = {} if precision is None else {"precision": FLOATS[precision][0]}
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], **attrs)
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info("x", FLOATS[xf][0], [None]),
                           helper.make_tensor_value_info("s", FLOATS[sf][0], []),
                           helper.make_tensor_value_info("z", INTS[dtype], [])],
                          [helper.make_tensor_value_info("y", INTS[dtype], [None])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _dql_model(dtype, sf, of, opset, with_zp=True):
    names = ["q", "s"] + (["z"] if with_zp else [])
    attrs = {} if of == sf else {"output_dtype": FLOATS[of][0]}
    node = helper.make_node("DequantizeLinear", names, ["y"], **attrs)
    ins = [helper.make_tensor_value_info("q", INTS[dtype], [None]),
           helper.make_tensor_value_info("s", FLOATS[sf][0], [])]
    if with_zp:
        ins.append(helper.make_tensor_value_info("z", INTS[dtype], []))
    g = helper.make_graph([node], "g", ins, [helper.make_tensor_value_info("y", FLOATS[of][0], [None])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _reference(model, feeds, opset23=False):
    from onnx.reference import ReferenceEvaluator
    new_ops = []
    if opset23:  # onnx's QuantizeLinear-23 code (precision attribute), shipped but not registered in 1.21
        from onnx.reference.ops.op_quantize_linear import QuantizeLinear_23

        class QuantizeLinear(QuantizeLinear_23):
            op_domain = ""
        new_ops = [QuantizeLinear]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ReferenceEvaluator(model, new_ops=new_ops).run(None, feeds)[0]


def _ort(model, feeds):
    ort = need("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def _scale(sf, rng):
    """A random scale of format sf (quotients spanning the int8 range and beyond)."""
    v = Fraction(rng.randint(1, 2**20), 2**rng.randint(16, 26))
    return formats.round_to(sf, v).value


def _hard_x(xf, s, zp, dtype, rng, n=120):
    """x in format xf: (k + 1/2)·s rounded into xf and 2 ulps either side, random values in the
    range, saturation edges and specials (no NaN: NaN is checked separately)."""
    qmin, qmax = Q.qrange(dtype)
    width = formats.get_format(xf).width
    bits = []
    for _ in range(n):
        k = rng.randint(qmin - zp - 3, qmax - zp + 3)
        b = formats.encode(xf, (k + Fraction(1, 2)) * s)
        sign = rng.getrandbits(1) << (width - 1)
        bits += [((b + d) ^ sign) for d in (-2, -1, 0, 1, 2)]
    for _ in range(n):
        v = Fraction(rng.randint(-(2**24), 2**24), 2**24) * (qmax - qmin + 8) * s
        bits.append(formats.encode(xf, v))
    fmt = formats.get_format(xf)
    top = (2**fmt.exp_bits - 2) << fmt.man_bits | (2**fmt.man_bits - 1)  # largest finite
    inf = (2**fmt.exp_bits - 1) << fmt.man_bits
    neg = 1 << (width - 1)
    bits += [0, neg, 1, neg | 1, top, neg | top, inf, neg | inf]
    bits = [b for b in bits if formats.decode(xf, b).kind != "nan"]
    return np.array(bits, FLOATS[xf][2]).view(FLOATS[xf][1])


def _nan_x(xf):
    return np.array([np.nan, -np.nan, 1.0], np.float32).astype(FLOATS[xf][1])


def _quantize(x, s, zp, dtype, profile, sf):
    return np.asarray(Q.quantize(x, s, zp, dtype, profile, scale_format=sf)).reshape(-1).tolist()


def _alternatives(base):
    """The same profile with its quotient formed in each other format (the mutants to tell apart)."""
    return {f: dataclasses.replace(base, name=f"{base.name}@{f}", quotient_format=f) for f in ("fp16", "bf16", "fp32")}


def _assert_discriminates(x, s, zp, dtype, sf, expected, want_fmt):
    """The data tells every quotient format other than want_fmt apart from the expected output."""
    base = PROFILES["onnx_ref"] if isinstance(expected, str) else expected
    base = PROFILES[base] if isinstance(base, str) else base
    for f, prof in _alternatives(base).items():
        if f == want_fmt:
            continue
        got = _quantize(x, s, zp, dtype, prof, sf)
        assert got != _quantize(x, s, zp, dtype, base, sf), (f, want_fmt)


# ---------------------------------------------------------------------------------------------
# QuantizeLinear
# ---------------------------------------------------------------------------------------------

def _promoted(xf, sf):
    """numpy's promotion of the two formats (ml_dtypes: bfloat16 with another format gives fp32)."""
    return xf if xf == sf else "fp32" if "bf16" in (xf, sf) else max(xf, sf, key=lambda f: formats.get_format(f).width)


@pytest.mark.parametrize("opset", [23, 25])
@pytest.mark.parametrize("xf,sf", PAIRS)
def test_reference_evaluator_quantize_is_onnx_ref(xf, sf, opset):
    """ReferenceEvaluator (no precision attribute) == profile onnx_ref, bit for bit."""
    rng = random.Random(f"{xf}{sf}{opset}")
    for dtype in ("int8", "uint8"):
        for _ in range(2):
            s = _scale(sf, rng)
            zp = rng.randint(*Q.qrange(dtype))
            x = _hard_x(xf, s, zp, dtype, rng)
            feeds = {"x": x, "s": np.array(float(s), FLOATS[sf][1]), "z": np.array(zp, dtype)}
            ref = _reference(_ql_model(xf, sf, opset, dtype), feeds).astype(np.int64).tolist()
            assert _quantize(x, s, zp, dtype, "onnx_ref", sf) == ref
        _assert_discriminates(x, s, zp, dtype, sf, PROFILES["onnx_ref"], _promoted(xf, sf))
    x = _nan_x(xf)  # NaN: astype(int32) gives INT32_MIN (x86), + zp, clip
    feeds = {"x": x, "s": np.array(1.0, FLOATS[sf][1]), "z": np.array(-7, np.int8)}
    assert _quantize(x, Fraction(1), -7, "int8", "onnx_ref", sf) == _reference(_ql_model(xf, sf, opset), feeds).tolist()


def _finite_quotient(t, s, sf):
    x = formats.round_to(sf, Fraction(float(t))) if np.isfinite(t) else None
    q = x and x.is_finite and formats.decode(sf, formats.div(sf, x, s))
    return bool(q) and q.is_finite and abs(q.value) < 2**31


@pytest.mark.parametrize("xf,sf", PAIRS)
def test_reference_opset23_precision_is_onnx_profile(xf, sf):
    """onnx's QuantizeLinear-23 code with precision = the scale type (x and scale cast to it, then
    divided) == profile onnx (opset-23 wording: the scale's type sets the division's precision) on
    finite quotients; the code's integer step is the onnx_ref one (x86 astype(int32): ±inf -> INT32_MIN),
    so the whole output equals onnx_ref with the quotient formed at the scale's precision."""
    rng = random.Random(f"{xf}{sf}p")
    onnx_ref_precision = dataclasses.replace(PROFILES["onnx_ref"], name="onnx_ref_precision", quotient_format="scale")
    for dtype in ("int8", "uint8"):
        for _ in range(2):
            s = _scale(sf, rng)
            zp = rng.randint(*Q.qrange(dtype))
            x = _hard_x(xf, s, zp, dtype, rng)
            feeds = {"x": x, "s": np.array(float(s), FLOATS[sf][1]), "z": np.array(zp, dtype)}
            ref = _reference(_ql_model(xf, sf, 23, dtype, precision=sf), feeds, opset23=True).astype(np.int64).tolist()
            assert _quantize(x, s, zp, dtype, onnx_ref_precision, sf) == ref
            # the onnx profile saturates where the reference's x86 int32 step gives INT32_MIN: keep
            # the elements whose quotient (at the scale's precision) is finite and inside int32
            small = [i for i, t in enumerate(x) if _finite_quotient(t, s, sf)]
            assert len(small) > len(x) - 10
            assert _quantize(x[small], s, zp, dtype, "onnx", sf) == [ref[i] for i in small]
        _assert_discriminates(x[small], s, zp, dtype, sf, PROFILES["onnx"], sf)
        if formats.get_format(xf).man_bits > formats.get_format(sf).man_bits:
            # x does not fit the scale's format: rounding x first is what sets the onnx profile
            # apart from the exact x / s rounded once (the data holds such elements)
            once = dataclasses.replace(PROFILES["onnx"], name="onnx_x_unrounded", quotient="exact")
            q_once = [formats.encode(sf, v / s) for v in (Fraction(float(t)) for t in x[small])]
            q_cast = [formats.div(sf, formats.round_to(sf, Fraction(float(t))), s) for t in x[small]]
            assert q_once != q_cast and once  # the two readings of "division at the scale's precision" differ here


def test_bf16_x_beyond_fp16_range_rounds_to_inf_first():
    """bf16 x = 2^16 with an fp16 scale 1024: x / s = 64 exactly, but x rounded to fp16 first is
    +inf, so the opset-23 division at the scale's precision gives +inf: onnx saturates to 127, onnx's
    QuantizeLinear-23 code (x86 astype(int32) of inf) gives INT32_MIN -> -128; onnx_ref (numpy
    promotion to fp32) gives 64."""
    x = np.array([2.0**16, -(2.0**16)], ml_dtypes.bfloat16)
    feeds = {"x": x, "s": np.array(1024.0, np.float16), "z": np.array(0, np.int8)}
    assert _reference(_ql_model("bf16", "fp16", 23, precision="fp16"), feeds, opset23=True).tolist() == [-128, -128]
    assert _quantize(x, Fraction(1024), 0, "int8", "onnx", "fp16") == [127, -128]
    assert _reference(_ql_model("bf16", "fp16", 23), feeds).tolist() == [64, -64]
    assert _quantize(x, Fraction(1024), 0, "int8", "onnx_ref", "fp16") == [64, -64]


@pytest.mark.parametrize("opset,xf,sf", [(o, x, s) for o, pairs in ORT_QL.items() for x, s in pairs])
def test_onnxruntime_quantize_mixed(opset, xf, sf):
    """ORT 1.32 CPU: profile onnxruntime at opset 21 and for fp32 scales; with an fp16 scale at
    opset >= 23, the onnx quotient (x rounded to fp16, fp16 division) with ORT's NaN -> qmin."""
    need("onnxruntime")
    expected = ORT_FP16_SCALE if opset >= 23 and sf == "fp16" else PROFILES["onnxruntime"]
    want_fmt = "fp16" if expected is ORT_FP16_SCALE else "fp32"
    rng = random.Random(f"{xf}{sf}{opset}ort")
    for dtype in ("int8", "uint8"):
        for _ in range(2):
            s = _scale(sf, rng)
            zp = rng.randint(*Q.qrange(dtype))
            x = _hard_x(xf, s, zp, dtype, rng)
            feeds = {"x": x, "s": np.array(float(s), FLOATS[sf][1]), "z": np.array(zp, dtype)}
            theirs = _ort(_ql_model(xf, sf, opset, dtype), feeds).astype(np.int64).tolist()
            assert _quantize(x, s, zp, dtype, expected, sf) == theirs
            if expected is ORT_FP16_SCALE:
                assert _quantize(x, s, zp, dtype, "onnx", sf) == theirs  # no NaN in x
        _assert_discriminates(x, s, zp, dtype, sf, expected, want_fmt)
    x = _nan_x(xf)
    feeds = {"x": x, "s": np.array(1.0, FLOATS[sf][1]), "z": np.array(-7, np.int8)}
    assert _quantize(x, Fraction(1), -7, "int8", expected, sf) == _ort(_ql_model(xf, sf, opset), feeds).tolist()


FP8_T = {"fp8_e4m3fn": TP.FLOAT8E4M3FN, "fp8_e4m3fnuz": TP.FLOAT8E4M3FNUZ, "fp8_e5m2": TP.FLOAT8E5M2,
         "fp8_e5m2fnuz": TP.FLOAT8E5M2FNUZ}


@pytest.mark.parametrize("saturate", [1, 0])
def test_onnxruntime_fp16_scale_fp8_targets(saturate):
    """ORT 1.32 QuantizeLinear-23 to fp8 with fp16 x and an fp16 scale (0.5): profile onnxruntime_fp16_scale
    (fp16 quotient, ORT's measured fp8 conversion 'ort_1_31') byte for byte on every finite code of each
    target, the midpoints between codes, the saturation range, ±inf and NaN; the OFP8 conversion
    (profile onnx) differs on E5M2 (and, with saturate=0, E4M3FN)."""
    import ctypes  # the binding has no numpy type for most fp8 formats: read the output's bytes
    ort = need("onnxruntime")
    differs = set()
    for tgt, tt in FP8_T.items():
        fmt = formats.get_format(tgt)
        vals = sorted({formats.decode(fmt, b).value for b in range(256) if formats.decode(fmt, b).is_finite})
        pts = vals + [(a + b) / 2 for a, b in zip(vals, vals[1:])] + \
            [fmt.max_finite * Fraction(k, 64) for k in range(60, 160)] + [Fraction(61440), Fraction(65535), Fraction(480)]
        xs = sorted({float(p / 2) for p in pts})          # x / 0.5 = p
        with np.errstate(over="ignore"):
            x = np.array(xs + [-v for v in xs] + [np.inf, -np.inf, np.nan], np.float16)
        node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=saturate)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TP.FLOAT16, [None])],
                              [helper.make_tensor_value_info("y", tt, [None])],
                              initializer=[helper.make_tensor("s", TP.FLOAT16, [], [0.5]),
                                           helper.make_tensor("z", tt, [], [0])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 23)], ir_version=10)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        y = sess.run_with_ort_values(None, {"x": ort.OrtValue.ortvalue_from_numpy(x)})[0]
        theirs = np.frombuffer(ctypes.string_at(y.data_ptr(), x.size), np.uint8).tolist()
        ours = Q.quantize(x, Fraction(1, 2), None, tgt, ORT_FP16_SCALE, scale_format="fp16", saturate=bool(saturate))
        bad = [(float(a), o, t) for a, o, t in zip(x, np.asarray(ours).tolist(), theirs) if o != t]
        assert bad == [], f"{tgt} saturate={saturate}: {len(bad)} of {x.size} differ, e.g. {bad[:4]}"
        ofp8 = Q.quantize(x, Fraction(1, 2), None, tgt, "onnx", scale_format="fp16", saturate=bool(saturate))
        if np.asarray(ofp8).tolist() != theirs:
            differs.add(tgt)
    assert differs == ({"fp8_e5m2"} if saturate else {"fp8_e4m3fn", "fp8_e5m2"})


def test_fp16_x_fp32_scale_quotient_is_fp32_in_both_peers():
    """fp16 x next to (k + 1/2)·s with an fp32 scale, chosen where fl16(x/s) and fl32(x/s) round to
    different integers (fl16 lands on the tie or across it): both peers, and the onnx_ref,
    onnxruntime and onnx profiles, give the fp32 answer (at least 20 such elements are checked)."""
    need("onnxruntime")
    rng = random.Random(7)
    found = 0
    for _ in range(400):
        s = _scale("fp32", rng)
        k = rng.randint(-100, 100)
        b = formats.encode("fp16", (k + Fraction(1, 2)) * s)
        for d in (-1, 0, 1):
            x = formats.decode("fp16", b + d if b + d >= 0 else b)
            if not x.is_finite:
                continue
            q16 = formats.decode("fp16", formats.div("fp16", x, s))
            q32 = formats.decode("fp32", formats.div("fp32", x, s))
            if q16.is_finite and q32.is_finite and Q.round_to_int(q16.value, "half_even") != Q.round_to_int(q32.value, "half_even"):
                xa = np.array([float(x.value)], np.float16)
                feeds = {"x": xa, "s": np.array(float(s), np.float32), "z": np.array(0, np.int8)}
                want = max(-128, min(127, Q.round_to_int(q32.value, "half_even")))
                assert _reference(_ql_model("fp16", "fp32", 23), feeds).tolist() == [want]
                assert _ort(_ql_model("fp16", "fp32", 23), feeds).tolist() == [want]
                assert _quantize(xa, s, 0, "int8", "onnx_ref", "fp32") == [want]
                assert _quantize(xa, s, 0, "int8", "onnxruntime", "fp32") == [want]
                assert _quantize(xa, s, 0, "int8", "onnx", "fp32") == [want]
                found += 1
    assert found >= 20


# ---------------------------------------------------------------------------------------------
# DequantizeLinear
# ---------------------------------------------------------------------------------------------

def _dql_inputs(dtype, sf, of, rng):
    """Random codes with both ends; for int32 codes also d with d·s next to an out-format midpoint
    where fl_out(fl32(fl32(d)·s)) and the single rounding fl_out(d·s) differ (searched for)."""
    info = np.iinfo(dtype)
    q = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2] + [rng.randint(info.min, info.max) for _ in range(400)]
    s = _scale(sf, rng)
    if dtype == "int32":  # a scale that keeps int32 · s inside fp16's range, so midpoints can be hit
        k = rng.randint(22, 26) if sf == "fp16" else rng.randint(28, 34)  # fp16: a normal scale
        s = formats.round_to(sf, Fraction(rng.randint(2**10 + 1, 2**11 - 1), 2**k)).value
        found = 0
        for _ in range(3000):
            target = rng.randint(2**23, 2**31 - 1) * rng.choice((-1, 1))
            v = formats.round_to(of, target * s)
            if not v.is_finite:
                continue
            b = formats.encode(of, v.value)
            mid = (v.value + formats.decode(of, b + 1).value) / 2
            d0 = round(mid / s)
            for d in range(d0 - 2, d0 + 3):
                if info.min <= d <= info.max and (Q.dequantize_value(d, s, 0, "exact", of, dtype)
                                                  != Q.dequantize_value(d, s, 0, "onnxruntime", of, dtype)):
                    q.append(d)
                    found += 1
            if found >= 40:
                break
    return q, s


@pytest.mark.parametrize("opset", [21, 23, 25])
@pytest.mark.parametrize("sf", list(FLOATS))
@pytest.mark.parametrize("dtype", list(INTS))
def test_reference_evaluator_dequantize_is_onnx_ref(dtype, sf, opset):
    """ReferenceEvaluator DequantizeLinear (output type = scale type) == profiles onnx_ref and onnx."""
    rng = random.Random(f"{dtype}{sf}{opset}dq")
    with_zp = dtype != "int32"  # int32 codes take no zero point
    q, s = _dql_inputs(dtype, sf, sf, rng)
    zp = rng.randint(np.iinfo(dtype).min, np.iinfo(dtype).max) if with_zp else 0
    feeds = {"q": np.array(q, dtype), "s": np.array(float(s), FLOATS[sf][1])}
    if with_zp:
        feeds["z"] = np.array(zp, dtype)
    ref = _reference(_dql_model(dtype, sf, sf, opset, with_zp), feeds).view(FLOATS[sf][2]).tolist()
    for prof in ("onnx_ref", "onnx"):
        assert np.asarray(Q.dequantize(q, s, zp, dtype, prof, scale_format=sf, out_format=sf)).tolist() == ref


@pytest.mark.parametrize("dtype", list(INTS))
@pytest.mark.parametrize("opset,sf,of", [(o, s, f) for o, pairs in ORT_DQL.items() for s, f in pairs])
def test_onnxruntime_dequantize_mixed(opset, sf, of, dtype):
    """ORT 1.32 DequantizeLinear (with output_dtype at opset >= 23) == profile onnxruntime:
    fl_out(fl32(fl32(q - zp) · s)).  Where the data holds double-rounding cases, the exact
    single rounding differs (checked), so the test tells the two apart."""
    need("onnxruntime")
    rng = random.Random(f"{dtype}{sf}{of}{opset}ortdq")
    with_zp = dtype != "int32"
    q, s = _dql_inputs(dtype, sf, of, rng)
    zp = rng.randint(np.iinfo(dtype).min, np.iinfo(dtype).max) if with_zp else 0
    feeds = {"q": np.array(q, dtype), "s": np.array(float(s), FLOATS[sf][1])}
    if with_zp:
        feeds["z"] = np.array(zp, dtype)
    theirs = _ort(_dql_model(dtype, sf, of, opset, with_zp), feeds).view(FLOATS[of][2]).tolist()
    ours = np.asarray(Q.dequantize(q, s, zp, dtype, "onnxruntime", scale_format=sf, out_format=of)).tolist()
    assert ours == theirs
    if dtype == "int32":
        exact = np.asarray(Q.dequantize(q, s, zp, dtype, "exact", scale_format=sf, out_format=of)).tolist()
        assert exact != theirs


# ---------------------------------------------------------------------------------------------
# The acceptance table itself (so a peer upgrade that widens it is noticed)
# ---------------------------------------------------------------------------------------------

def test_what_each_peer_accepts():
    ort = need("onnxruntime")
    if ort.__version__ != MEASURED_ORT:
        pytest.skip(f"acceptance table measured on onnxruntime {MEASURED_ORT}, found {ort.__version__}")
    from onnx.checker import check_model
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, NotImplemented as OrtNotImplemented

    def ort_accepts(model):
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return True
        except (Fail, OrtNotImplemented):
            return False

    for opset in (19, 21, 23, 25):
        for xf, sf in PAIRS:
            m = _ql_model(xf, sf, opset)
            valid = xf == sf or opset >= 23
            if not valid:
                with pytest.raises(onnx.shape_inference.InferenceError):
                    check_model(m, full_check=True)
            want = (xf, sf) in ORT_QL.get(opset, ORT_QL[21] if opset < 23 else [])
            assert ort_accepts(m) == want, ("QuantizeLinear", opset, xf, sf)
    for opset in (21, 23, 25):
        for sf in FLOATS:
            for of in FLOATS:
                if of != sf and opset < 23:
                    continue
                assert ort_accepts(_dql_model("int8", sf, of, opset)) == ((sf, of) in ORT_DQL[opset]), (opset, sf, of)
    # the 1.21.0 ReferenceEvaluator has no opset-23 attributes
    feeds = {"x": np.array([1.0], np.float32), "s": np.array(1.0, np.float32), "z": np.array(0, np.int8)}
    with pytest.raises(TypeError, match="precision"):
        _reference(_ql_model("fp32", "fp32", 23, precision="fp16"), feeds)
    feeds = {"q": np.array([1], np.int8), "s": np.array(1.0, np.float16), "z": np.array(0, np.int8)}
    with pytest.raises(TypeError, match="output_dtype"):
        _reference(_dql_model("int8", "fp16", "fp32", 23), feeds)
