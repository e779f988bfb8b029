"""Requantization: an int32 accumulator -> an output integer, by a named method.

A *method* is a row of ``METHODS``: how the scales become parameters (``derive``), how one
accumulator becomes one output (``apply``), the parameter domain (``check``), and what it
reproduces (source @ version).  docs/gemm-contract.md §3 defines ``float_fp32``,
``tflite_double``, ``tflite_single``, ``tosa_single``, ``tosa_double`` and ``int32``; the C
kernel implements those from the same text.  The other rows reproduce one backend each, as
pinned in docs/reference/requant.md (§ numbers below refer to it) and docs/reference/onnx.md.

Values are Python ``int`` and ``fractions.Fraction``.  Float arithmetic is modelled by rounding
the exact result of each operation (refquant.ieee: ``fl32``, ``fl64``, ``fmul``, ...; IEEE binary,
RNE); no Python float arithmetic happens.  Scales enter as Python floats (or Fractions) that must be exactly
representable in the scale format (fp32 by default).  At extreme scales a step overflows to INF
or is invalid (NAN): ``fmul``/``fadd``/``fdiv``/``ffma`` carry IEEE infinities and NaN through the
chain to the peer's own conversion (cvtps2dq's INT32_MIN, a float clamp, ...); Unpredictable only
where the peer's result is itself undefined (a C conversion of inf/NaN, an ISA-dependent NaN).

Outcomes: ``InvalidValueError`` / ``ShapeError`` for bad arguments, ``SpecError`` for inputs the
modelled spec rejects (TOSA ERROR_IF), ``Unpredictable`` for inputs it leaves undefined (TOSA
REQUIRE, a TFLite DCHECK, C undefined behaviour).

    params = derive_params("ort", sa, sb, sy)           # per tensor (sb a number) or per column
    q = requantize(acc, "ort", params, zp=3, out_type="uint8")
    steps = explain_requantize(12345, "ort", params, 3, "uint8")   # (name, formula, value) records
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from . import fixedpoint as fp
from . import formats, nested
from .errors import InvalidValueError, ShapeError, SpecError, UnknownNameError, Unpredictable
from .integers import get_type
from .ieee import BINARY, INF, NAN, f32_bits, fadd, fdiv, ffma, fl, fl32, fl64, fmul, is_special  # noqa: F401  (public here too)
from .rounding import half_away, half_even
from .trace import Step, note, render, show  # noqa: F401  (render, show: re-exported for one release; use refquant.trace)

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def scale_value(x, fmt="fp32", name="scale"):
    """A scale as an exact positive Fraction, checked to be a finite value of ``fmt``."""
    if isinstance(x, bool) or not isinstance(x, (int, float, Fraction)):
        raise InvalidValueError(f"{name} must be a number (float, int or Fraction), got {x!r}")
    if fmt not in BINARY:
        raise UnknownNameError("scale format", fmt, BINARY)
    v = formats.exact(fmt, x)
    if not v.is_finite or v.value <= 0:
        raise InvalidValueError(f"{name} = {x!r} must be a positive finite {fmt} value")
    return v.value


# ##########################################################################
# Output stage helpers (integer, exact)
# ##########################################################################

def out_range(out_type, qmin=None, qmax=None):
    """[qmin, qmax] of the output: the type's range, optionally narrowed (fused activation)."""
    t = get_type(out_type)
    lo = t.min if qmin is None else qmin
    hi = t.max if qmax is None else qmax
    if not t.min <= lo <= hi <= t.max:
        raise InvalidValueError(f"output clamp [{lo}, {hi}] must lie inside {t.name} [{t.min}, {t.max}]")
    return lo, hi


def sat(v, lo, hi, trace=None):
    """v clamped to [lo, hi] (the output saturation)."""
    return note(trace, "saturate", f"clamp to [{lo}, {hi}]", min(max(v, lo), hi))


def add_zp_sat(r, zp, lo, hi, trace):
    """q = sat(r + zp): the integer zero point is added after rounding, exactly."""
    return sat(note(trace, "+ zero point", f"r + {zp}", r + zp), lo, hi, trace)


def wrap_to(lo, hi, v):
    """v reduced modulo (hi - lo + 1) into [lo, hi] (a C narrowing cast)."""
    span = hi - lo + 1
    return (v - lo) % span + lo


# ##########################################################################
# Derivations: scales (exact Fractions) -> the per-channel parameters
# Each takes (sa, sb_j, sy, o) where o holds the options (op, build, bias_j, fmt).
# ##########################################################################

def _m_fl32_ort(sa, sb, sy, o):
    """M = fl(fl(sa*sb)/sy): ORT MLAS, XNNPACK, FBGEMM C_mult (fp16 scales are widened first)."""
    # Reproduces: ORT 1.31.1 / 1.32.0 QLinearMatMul multiplier; XNNPACK scale init; FBGEMM C_multiplier
    M = fdiv("fp32", fl32(sa * sb), sy)          # inf when it overflows: rejected by the check
    return {"M": M, "M_bits": f32_bits(M)}


def _m_scale_dtype(sa, sb, sy, o):
    """M = sa*sb/sy evaluated left to right in the scales' own format (numpy semantics)."""
    # Reproduces: onnx 1.21.0 reference QLinearMatMul / QLinearConv `a_scale * b_scale / y_scale`
    fmt = o["fmt"]
    return {"M": fdiv(fmt, fl(fmt, sa * sb), sy)}


def _m_exact(sa, sb, sy, o):
    return {"M": sa * sb / sy}


def tflite_real_multiplier(sa, sb, sy, op):
    """The double TFLite feeds QuantizeMultiplier (requant.md §2 'Where M comes from').

    op 'conv' (conv, depthwise, per-channel FC): double(in)*double(w)/double(out).
    op 'fc'   (per-tensor FC, batch matmul):     double(fl32(in*w))/double(out).
    """
    # Reproduces: TFLite GetQuantizedConvolutionMultipler / fully_connected per-tensor path
    if op == "conv":
        return fl64(fl64(sa * sb) / sy)
    if op == "fc":
        return fdiv("fp64", fl32(sa * sb), sy)    # inf when fl32(in*w) overflows
    raise UnknownNameError("TFLite op kind", op, ("conv", "fc"))


def _m_tflite(sa, sb, sy, o):
    real = tflite_real_multiplier(sa, sb, sy, o["op"])
    if real == INF:
        raise Unpredictable("TFLite QuantizeMultiplier(inf): frexp's exponent is unspecified and "
                            "the int64 conversion of inf is undefined (fl32(in_s*w_s) overflowed)")
    m, shift = fp.quantize_multiplier(real, o["build"])
    return {"real": real, "m": m, "shift": shift}


def _m_tosa(sa, sb, sy, o):
    real = fl64(fl64(sa * sb) / sy)
    m, s = fp.tosa_scale_from_real(real, scale32=True)
    return {"real": real, "m": m, "s": s}


def _m_rndnu(sa, sb, sy, o):
    M = fdiv("fp32", fl32(sa * sb), sy)
    m, s = fp.xnnpack_rndnu_params(f32_bits(M))
    return {"M": M, "m": m, "s": s}


def _m_fbgemm_fixed(sa, sb, sy, o):
    M = fdiv("fp32", fl32(sa * sb), sy)
    q, rs = fp.fbgemm_requantization_params(f32_bits(M))
    return {"M": M, "m": q, "rs": rs}


def _m_tflite_float_fc(sa, sb, sy, o):
    return {"sa": sa, "sb": sb, "sy": sy}


def _m_torch_fbgemm(sa, sb, sy, o):
    """FBGEMM: atw = fl(in*w), C_mult = fl(atw/out); float bias per tensor via fl(1/atw)."""
    atw = fl32(sa * sb)                                    # 0 or inf at the extremes, as in C
    p = {"atw": atw, "M": fdiv("fp32", atw, sy)}
    if o["bias"] is not None:
        if o["per_channel"]:
            p["bias_over_atw"] = fdiv("fp32", o["bias"], atw)  # generic loop: fl(bias / atw)
        else:
            p["bias"], p["inv_atw"] = o["bias"], fdiv("fp32", 1, atw)  # AVX2: fma(bias, fl(1/atw), fl(raw))
    return p


def _m_torch_qnnpack(sa, sb, sy, o):
    """QNNPACK: scale = fl(fl(w*in)*fl(1/out)); bias pre-quantized to qint32 at scale fl(w*in).

    Per channel (measured on torch 2.13.0+cpu, tests/test_requant_torch.py): the same two
    formulas with w = w_s[j], channel by channel (scale order 100/100 on outputs where the
    division fl(fl(w*in)/out) differs; qint32 bias 120/120 on near-tie biases).
    """
    atw = fl32(sb * sa)
    p = {"atw": atw, "M": fmul("fp32", atw, fdiv("fp32", 1, sy))}
    _check_qnnpack_scale(p["M"])
    # quantize_per_tensor(bias, w_s*in_s, 0, qint32) = RNE(fl(fl(x*fl(1/s)) + 0)), saturated.
    # Without a bias torch packs a zero one: 0 * fl(1/atw) is 0, or NaN -> INT32_MIN when 1/atw = inf.
    q = _torch_qint32(fmul("fp32", 0 if o["bias"] is None else o["bias"], fdiv("fp32", 1, atw)))
    if o["bias"] is not None or q != 0:
        p["int_bias"] = q
    return p


def _check_qnnpack_scale(M):
    """QNNPACK refuses to create the operator unless the requantization scale is a normal binary32."""
    # Reproduces: torch 2.13.0 qnnpack operator creation ("requantization scale must be finite and positive")
    if is_special(M) or M < Fraction(1, 2**126):
        raise SpecError(f"torch qnnpack rejects requantization scale fl(fl(w*in)*fl(1/out)) = "
                        f"{show(M)}: it must be a normal positive binary32 (>= 2^-126, finite)")


def _torch_qint32(v):
    """torch's float -> qint32 conversion of fl(x*fl(1/s)): RNE, saturating; NaN -> INT32_MIN."""
    # Reproduces: torch 2.13.0 quantize_per_tensor(..., torch.qint32) (measured: NaN -> -2^31, +-inf saturate)
    if v != v:
        return INT32_MIN
    if v in (INF, -INF):
        return INT32_MAX if v > 0 else INT32_MIN
    return min(max(half_even(v), INT32_MIN), INT32_MAX)


def _m_torch_onednn(sa, sb, sy, o):
    """oneDNN via ideep: every scale passes through two f32 reciprocals (requant.md §4)."""
    def twice(s):
        return fdiv("fp32", 1, fdiv("fp32", 1, s))      # 1/s = inf for s < 2^-128: s' = 0
    p = {"sa'": twice(sa), "sb'": twice(sb), "inv_sy'": fdiv("fp32", 1, twice(sy))}
    if o["bias"] is not None:
        p["bias"] = o["bias"]
    return p


def _m_onednn_raw(sa, sb, sy, o):
    p = {"sa": sa, "sb": sb, "sy": sy, "inv_sy": fdiv("fp32", 1, sy)}
    if o["bias"] is not None:
        p["bias"] = o["bias"]
    return p


# ##########################################################################
# Apply: one accumulator -> one output.  (acc, p, zp, lo, hi, trace) -> int
# ##########################################################################

def _apply_exact(acc, p, zp, lo, hi, t):
    v = note(t, "acc * M", "exact rational acc*sa*sb/sy", acc * p["M"])
    r = note(t, "round", "RNE (ties to even), exact", half_even(v))
    return add_zp_sat(r, zp, lo, hi, t)


def _apply_float_fp32(acc, p, zp, lo, hi, t):
    # Contract §3 float_fp32: v = fl(fl(acc)*M); clamp in float to [qmin-zp, qmax-zp]; RNE; + zp
    a = note(t, "fl(acc)", "int32 -> binary32, RNE", fl32(acc))
    v = note(t, "fl(fl(acc)*M)", f"binary32 multiply by M = 0x{p['M_bits']:08x}", fl32(a * p["M"]))
    v = note(t, "clamp", f"float clamp to [{lo - zp}, {hi - zp}]", min(max(v, lo - zp), hi - zp))
    r = note(t, "round", "RNE (cvtps2dq / lrintf)", half_even(Fraction(v)))
    return note(t, "+ zero point", f"r + {zp}", r + zp)


def _apply_onnx_ref(acc, p, zp, lo, hi, t):
    # Reproduces: onnx 1.21.0 reference QLinearMatMul: f64 C*M, += zp, np.rint, astype (wraps)
    v = note(t, "C*M", "numpy int32 x float -> float64 product", fmul("fp64", acc, p["M"]))
    v = note(t, "+ zero point", "float64 add", fadd("fp64", v, zp))
    if is_special(v):
        raise Unpredictable(f"onnx_ref: np.rint gives {v} (M = {show(p['M'])}); numpy's astype of it is undefined")
    r = note(t, "round", "np.rint (RNE)", half_even(v))
    if not INT32_MIN <= r <= INT32_MAX:
        raise Unpredictable(f"onnx_ref: rint result {r} outside int32; numpy's astype is undefined there")
    return note(t, "wrap", f"astype: wraps into [{lo}, {hi}] (onnx#7835 bug: no saturation)", wrap_to(lo, hi, r))


def _apply_onnx_ref_conv(acc, p, zp, lo, hi, t):
    # Reproduces: onnx 1.21.0 reference QLinearConv: f64 R*M, += zp, np.clip, np.round (RNE)
    v = note(t, "R*M", "numpy int32 x float -> float64 product", fmul("fp64", acc, p["M"]))
    v = note(t, "+ zero point", "float64 add", fadd("fp64", v, zp))
    if v != v:
        raise Unpredictable(f"onnx_ref_conv: {acc} * M (M = {show(p['M'])}) is NaN; np.clip keeps it "
                            "and numpy's astype of NaN is undefined")
    v = note(t, "clip", f"np.clip to [{lo}, {hi}] before rounding (+-inf saturates)", min(max(v, lo), hi))
    return note(t, "round", "np.round (RNE)", half_even(v))


def _apply_tflite(build):
    def apply(acc, p, zp, lo, hi, t):
        m, shift = p["m"], p["shift"]
        if build == "double":
            left, right = max(shift, 0), max(-shift, 0)
            x = note(t, "x = wrap32(acc << left)", f"left = {left}", fp.wrap32(acc << left))
            h = note(t, "SRDHM(x, m)", f"round(x*{m}/2^31), ties +inf", fp.srdhm_i32(x, m))
            r = note(t, "RDBPOT(h, right)", f"right = {right}, ties away from 0", fp.rounding_divide_by_pot(h, right))
        else:
            r = note(t, "(acc*m + 2^(T-1)) >> T", f"T = {31 - shift}, ties +inf",
                     fp.multiply_by_quantized_multiplier(acc, m, shift, "single"))
        return add_zp_sat(r, zp, lo, hi, t)
    return apply


def _apply_tflite_float_fc(acc, p, zp, lo, hi, t):
    # Reproduces: TFLite reference FullyConnected float-multiplier overload (tensorflow#119412)
    v = note(t, "double(acc)*in_s", "binary64", fl64(acc * p["sa"]))
    v = note(t, "*w_s", "binary64", fl64(v * p["sb"]))
    v = note(t, "/out_s", "binary64 division", fl64(v / p["sy"]))
    r = note(t, "round", "std::round: ties away from zero", half_away(v))
    if not INT32_MIN <= r <= INT32_MAX:
        raise Unpredictable(f"tflite_fc_float: std::round(acc*in*w/out) = {r} is outside int32; "
                            "its int32 conversion is undefined behaviour")
    return add_zp_sat(r, zp, lo, hi, t)


def _apply_tosa(double_round):
    def apply(acc, p, zp, lo, hi, t):
        mode = "DOUBLE_ROUND" if double_round else "SINGLE_ROUND"
        r = note(t, "apply_scale_32", f"TOSA {mode}, m = {p['m']}, s = {p['s']}",
                 fp.apply_scale_32(acc, p["m"], p["s"], double_round))
        return add_zp_sat(r, zp, lo, hi, t)
    return apply


def _apply_ruy_x86(acc, p, zp, lo, hi, t):
    r = note(t, "ruy x86 two roundings", f"m = {p['m']}, exponent = {p['shift']}, both ties +inf",
             fp.ruy_x86_double_round(acc, p["m"], p["shift"]))
    return add_zp_sat(r, zp, lo, hi, t)


def _apply_cmsis(acc, p, zp, lo, hi, t):
    # Reproduces: CMSIS-NN arm_nn_requantize (default build; no INT32_MIN^2 saturation)
    m, shift = p["m"], p["shift"]
    left, right = max(shift, 0), max(-shift, 0)
    x = note(t, "x = wrap32(acc << left)", f"left = {left}", fp.wrap32(acc << left))
    h = note(t, "doubling_high_mult_no_sat", f"(x*{m} + 2^30) >> 31, wrapped", fp.srdhm_i32_cmsis(x, m))
    r = note(t, "divide_by_power_of_two", f"right = {right}, ties away", fp.rounding_divide_by_pot(h, right))
    return add_zp_sat(r, zp, lo, hi, t)


def _apply_rndnu(acc, p, zp, lo, hi, t):
    r = note(t, "(acc*m + 2^(s-1)) >> s", f"m = {p['m']}, s = {p['s']}, ties +inf",
             fp.xnnpack_rndnu_requantize(acc, p["m"], p["s"]))
    return add_zp_sat(r, zp, lo, hi, t)


def _apply_fbgemm_fixed(acc, p, zp, lo, hi, t):
    r = note(t, "(acc*q + 2^(rs-1)) >> rs", f"q = {p['m']}, rs = {p['rs']}, ties +inf",
             fp.fbgemm_requantize_fixed_point(acc, p["m"], p["rs"]))
    return add_zp_sat(r, zp, lo, hi, t)


def _cvtps2dq(v, t):
    """x86 float -> int32 with RNE; out-of-range, inf and NaN give INT32_MIN, 'integer indefinite'."""
    # Reproduces: Intel SDM CVTPS2DQ (invalid conversion returns the integer indefinite 0x80000000)
    if is_special(v) or not INT32_MIN <= half_even(v) <= INT32_MAX:
        return note(t, "round", "cvtps2dq out of range (or inf/NaN) -> 0x80000000", INT32_MIN)
    return note(t, "round", "RNE (cvtps2dq)", half_even(v))


def _x86_pack_u8(r, zp, lo, hi, t):
    """The int32 -> 8-bit epilogue: packs (int16 saturation), saturating int16 + zp, pack, clamp."""
    s = min(max(min(max(r, -32768), 32767) + zp, -32768), 32767)
    return sat(note(t, "sat_i16(r) + zp", "packs_epi32 + adds_epi16 (int16 saturation)", s), lo, hi, t)


def _apply_torch_fbgemm(acc, p, zp, lo, hi, t):
    # Reproduces: FBGEMM ReQuantizeOutput (torch 2.13 quantized::linear, x86/fbgemm engines)
    xf = note(t, "fl(raw)", "int32 -> binary32", fl32(acc))
    if "inv_atw" in p:
        xf = note(t, "fma(bias, fl(1/atw), fl(raw))", "one rounding (AVX2 FMA, measured)",
                  ffma("fp32", p["bias"], p["inv_atw"], xf))
    elif "bias_over_atw" in p:
        xf = note(t, "fl(fl(raw) + fl(bias/atw))", "generic loop", fadd("fp32", xf, p["bias_over_atw"]))
    v = note(t, "fl(xf*C_mult)", "binary32", fmul("fp32", xf, p["M"]))
    return _x86_pack_u8(_cvtps2dq(v, t), zp, lo, hi, t)


def _apply_torch_qnnpack(acc, p, zp, lo, hi, t):
    # Reproduces: torch 2.13 quantized::linear qnnpack x86 SSE2 q8gemm (bias already added to acc as qint32)
    v = note(t, "fl(fl(acc)*scale)", "binary32", fmul("fp32", fl32(acc), p["M"]))
    return _x86_pack_u8(_cvtps2dq(v, t), zp, lo, hi, t)


def _apply_onednn_chain(acc, sa, sb, bias, last, zp, lo, hi, t, nan_why):
    d = note(t, "fl(fl(acc)*src_scale)", "binary32", fmul("fp32", fl32(acc), sa))
    d = note(t, "*wei_scale", "binary32", fmul("fp32", d, sb))
    if bias is not None:
        d = note(t, "+bias", "binary32", fadd("fp32", d, bias))
    d = note(t, last[0], "binary32", last[1](d))
    d = note(t, "+zp", "binary32 add", fadd("fp32", d, zp))
    if d != d:
        raise Unpredictable(f"acc {acc}: the oneDNN float chain gives NaN (0 * inf); {nan_why}")
    d = note(t, "saturate", f"clamp to [{lo}, {hi}] in float (+-inf saturates)", min(max(d, lo), hi))
    return note(t, "round", "RNE", half_even(d))


_JIT_NAN = ("the JIT's NaN result depends on the ISA (torch 2.13.0 quint8: 255 under AVX-512, "
            "0 under AVX2 and SSE4.1)")


def _apply_torch_onednn(acc, p, zp, lo, hi, t):
    # Reproduces: torch 2.13 quantized::linear onednn engine (ideep double reciprocals, JIT 1/dst)
    last = ("*fl(1/o')", lambda d: fmul("fp32", d, p["inv_sy'"]))
    return _apply_onednn_chain(acc, p["sa'"], p["sb'"], p.get("bias"), last, zp, lo, hi, t, _JIT_NAN)


def _apply_onednn_ref(acc, p, zp, lo, hi, t):
    # Reproduces: oneDNN 3f27bec2 reference matmul: division by the dst scale
    last = ("/dst_scale", lambda d: fdiv("fp32", d, p["sy"]))
    why = "the reference's (int)nearbyintf(NaN) is undefined behaviour in C++"
    return _apply_onednn_chain(acc, p["sa"], p["sb"], p.get("bias"), last, zp, lo, hi, t, why)


def _apply_onednn_jit(acc, p, zp, lo, hi, t):
    # Reproduces: oneDNN 3f27bec2 x64 JIT: multiply by 1/dst_scale
    last = ("*fl(1/dst_scale)", lambda d: fmul("fp32", d, p["inv_sy"]))
    return _apply_onednn_chain(acc, p["sa"], p["sb"], p.get("bias"), last, zp, lo, hi, t, _JIT_NAN)


def _apply_int32(acc, p, zp, lo, hi, t):
    return note(t, "int32", "no requantization: the accumulator itself", acc)


# ##########################################################################
# Parameter domains (what the C kernel or the source accepts)
# ##########################################################################

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _need(cond, method, what):
    if not cond:
        raise InvalidValueError(f"method {method!r}: {what}")


def _check_float_m(name, p):
    M = p.get("M")
    _need(isinstance(M, Fraction) and M >= 0 and formats.representable("fp32", M), name,
          f"M must be a nonnegative finite binary32 value, got {M!r}")


def _check_tflite(name, p, m_lo=0):
    m, shift = p.get("m"), p.get("shift")
    _need(_is_int(m) and m_lo <= m <= INT32_MAX, name, f"multiplier m = {m!r} outside [{m_lo}, 2^31)")
    _need(_is_int(shift) and -31 <= shift <= 30, name, f"shift = {shift!r} outside [-31, 30]")


def _check_tosa(name, p):
    m, s = p.get("m"), p.get("s")
    _need(_is_int(m) and 0 <= m <= INT32_MAX, name, f"multiplier m = {m!r} outside [0, 2^31)")
    _need(_is_int(s) and 2 <= s <= 62, name, f"shift s = {s!r} outside [2, 62]")


def _check_none(name, p):
    return None


# ##########################################################################
# The method table
# ##########################################################################

@dataclass(frozen=True)
class Method:
    name: str
    reproduces: str          # source @ version (greppable)
    derive: Callable         # (sa, sb_j, sy, options) -> parameter dict for channel j
    apply: Callable          # (acc, p, zp, qmin, qmax, trace) -> int
    check: Callable = _check_none   # (name, p) -> None or InvalidValueError
    kernel: tuple = ()       # the parameter names the C kernel takes (contract §4)
    float_bias: bool = False  # takes a float bias in the requantization (torch engines)
    options: tuple = ()      # extra derive options: ('op', 'build')


def _m(name, reproduces, derive, apply, check=_check_none, kernel=(), float_bias=False, options=()):
    return Method(name, reproduces, derive, apply, check, kernel, float_bias, options)


_TFL_CHECK = _check_tflite
METHODS = {m.name: m for m in [
    _m("exact", "ONNX QLinearMatMul spec intent: RNE(acc*sa*sb/sy) on exact rationals, saturate",
       _m_exact, _apply_exact),
    _m("float_fp32", "gemm-contract §3 float_fp32 (ORT MLAS, XNNPACK fp32, FBGEMM w/o bias), M = fl(fl(sa*sb)/sy)",
       _m_fl32_ort, _apply_float_fp32, _check_float_m, kernel=("M_bits",)),
    _m("ort", "onnxruntime 1.31.1 MLAS QLinearMatMul/QLinearConv: M = fl(fl(sa*sb_j)/sy), then float_fp32",
       _m_fl32_ort, _apply_float_fp32, _check_float_m, kernel=("M_bits",)),
    _m("xnnpack_fp32", "XNNPACK 75db3c09 fp32 requantization: scale = fl(fl(in*k)/out), then float_fp32",
       _m_fl32_ort, _apply_float_fp32, _check_float_m, kernel=("M_bits",)),
    _m("onnx_ref", "onnx 1.21.0 ReferenceEvaluator QLinearMatMul: M in scale dtype, f64 product, rint, WRAP (onnx#7835)",
       _m_scale_dtype, _apply_onnx_ref),
    _m("onnx_ref_conv", "onnx 1.21.0 ReferenceEvaluator QLinearConv: M in scale dtype, f64 product, clip, round",
       _m_scale_dtype, _apply_onnx_ref_conv),
    _m("tflite_double", "gemm-contract §3 tflite_double; TFLite/TFLM MultiplyByQuantizedMultiplier default build",
       _m_tflite, _apply_tflite("double"), _TFL_CHECK, kernel=("m", "shift"), options=("op",)),
    _m("tflite_single", "gemm-contract §3 tflite_single; TFLite TFLITE_SINGLE_ROUNDING = ruy ref = CMSIS-NN single",
       _m_tflite, _apply_tflite("single"), _TFL_CHECK, kernel=("m", "shift"), options=("op",)),
    _m("tflite_fc_float", "TFLite reference FullyConnected float overload: std::round(double(acc)*in*w/out)",
       _m_tflite_float_fc, _apply_tflite_float_fc),
    _m("tosa_single", "gemm-contract §3 tosa_single; TOSA 1.0 RESCALE scale32 SINGLE_ROUND",
       _m_tosa, _apply_tosa(False), _check_tosa, kernel=("m", "s")),
    _m("tosa_double", "gemm-contract §3 tosa_double; TOSA 1.0 RESCALE scale32 DOUBLE_ROUND",
       _m_tosa, _apply_tosa(True), _check_tosa, kernel=("m", "s")),
    _m("ruy_x86", "ruy 2af88863 AVX2-FMA/AVX-512 kernels: two roundings, both ties +inf",
       _m_tflite, _apply_ruy_x86, _TFL_CHECK, options=("op",)),
    _m("cmsis_nn", "CMSIS-NN 99f736a6 arm_nn_requantize default build (no INT32_MIN^2 saturation)",
       _m_tflite, _apply_cmsis, lambda n, p: _check_tflite(n, p, INT32_MIN), options=("op",)),
    _m("xnnpack_rndnu", "XNNPACK 75db3c09 qu8 rndnu: 24-bit f32 mantissa, one rounding ties +inf",
       _m_rndnu, _apply_rndnu),
    _m("fbgemm_fixed", "FBGEMM 71d6f8b2 RequantizeFixedPoint: mantissa << 7, one rounding ties +inf",
       _m_fbgemm_fixed, _apply_fbgemm_fixed),
    _m("torch_fbgemm", "torch 2.13.0 quantized::linear x86/fbgemm: C_mult = fl(fl(in*w)/out), FMA float bias, RNE",
       _m_torch_fbgemm, _apply_torch_fbgemm, float_bias=True),
    _m("torch_qnnpack", "torch 2.13.0 quantized::linear qnnpack: fl(fl(w*in)*fl(1/out)), bias as qint32 (per tensor and per channel)",
       _m_torch_qnnpack, _apply_torch_qnnpack, float_bias=True),
    _m("torch_onednn", "torch 2.13.0 quantized::linear onednn: double-reciprocal f32 chain (ideep)",
       _m_torch_onednn, _apply_torch_onednn, float_bias=True),
    _m("onednn_ref", "oneDNN 3f27bec2 reference: fl(fl(fl(acc)*src)*wei) + bias, / dst, + zp, RNE",
       _m_onednn_raw, _apply_onednn_ref, float_bias=True),
    _m("onednn_jit", "oneDNN 3f27bec2 x64 JIT: as onednn_ref with * fl(1/dst)",
       _m_onednn_raw, _apply_onednn_jit, float_bias=True),
    _m("int32", "gemm-contract §3 int32: no requantization", lambda sa, sb, sy, o: {}, _apply_int32),
]}
METHODS["torch_x86"] = METHODS["torch_fbgemm"]   # the x86 engine dispatches to FBGEMM


def get_method(name):
    """The ``Method`` row called ``name``."""
    if isinstance(name, Method):
        return name
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise UnknownNameError("requantization method", name, METHODS) from None


# ##########################################################################
# Parameters: per tensor (one channel) or per output channel
# ##########################################################################

@dataclass(frozen=True)
class Params:
    """What a method needs for each output channel j (a list of one dict when per tensor)."""
    method: str
    channels: tuple
    per_channel: bool

    def channel(self, j):
        return self.channels[j] if self.per_channel else self.channels[0]

    def int_bias(self):
        """The int32 bias a method derived from a float bias (torch_qnnpack), else None."""
        if not any("int_bias" in c for c in self.channels):
            return None
        return [c.get("int_bias", 0) for c in self.channels]

    def kernel_args(self):
        """The exact values the C kernel takes (contract §4): lists, one entry per channel."""
        names = get_method(self.method).kernel
        if not names:
            raise InvalidValueError(f"method {self.method!r} is not one the C kernel implements")
        return {n: [c[n] for c in self.channels] for n in names}


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else None


def derive_params(method, sa, sb, sy, *, scale_format="fp32", op="conv", build=None, bias=None):
    """Scales -> ``Params`` for ``method``.

    sa, sy: one scale each; sb: one scale (per tensor) or a list (one per output channel).
    Scales are numbers exactly representable in ``scale_format`` (fp32, or fp16 for ONNX
    float16 models; methods other than onnx_ref* widen fp16 exactly).  ``op``: TFLite multiplier
    derivation ('conv' = double product, 'fc' = per-tensor FC, product rounded to f32 first;
    per-channel always uses 'conv').  ``bias``: float bias (torch / oneDNN methods only), one
    value or one per channel, exactly representable in fp32.
    """
    meth = get_method(method)
    sa = scale_value(sa, scale_format, "a scale")
    sy = scale_value(sy, scale_format, "y scale")
    sbs = _as_list(sb)
    per_channel = sbs is not None
    sbs = [scale_value(s, scale_format, f"b scale[{j}]") for j, s in enumerate(sbs or [sb])]
    if per_channel and not sbs:
        raise ShapeError("per-channel b scale is empty")
    if not per_channel and _as_list(bias) is not None and len(_as_list(bias)) > 1:
        sbs = sbs * len(_as_list(bias))   # per-tensor weight scale, per-column float bias
    biases = _float_bias(meth, bias, len(sbs), per_channel)
    opt = {"fmt": scale_format, "op": "conv" if per_channel else op, "per_channel": per_channel}
    opt["build"] = build or ("single" if meth.name == "tflite_single" else "double")
    channels = []
    for j, s in enumerate(sbs):
        p = meth.derive(sa, s, sy, dict(opt, bias=biases[j]))
        meth.check(meth.name, p)
        channels.append(p)
    return Params(meth.name, tuple(channels), len(channels) > 1 or per_channel)


def _float_bias(meth, bias, n, per_channel):
    if bias is None:
        return [None] * n
    if not meth.float_bias:
        raise InvalidValueError(f"method {meth.name!r} takes an int32 bias (added in the accumulator), not a float bias")
    values = _as_list(bias)
    if values is None:
        values = [bias] * n
    if len(values) != n:
        raise ShapeError(f"float bias has {len(values)} values; expected {n} (one per output channel)")
    return [formats.exact("fp32", v).value for v in values]


def make_params(method, channels):
    """``Params`` from explicit per-channel values, e.g. make_params('tflite_double', [{'m': .., 'shift': ..}]).

    A list of more than one dict is per channel.  Each dict is checked against the method's domain.
    """
    meth = get_method(method)
    channels = [dict(c) for c in channels]
    if not channels:
        raise ShapeError("make_params needs at least one channel")
    for c in channels:
        if "M" in c:
            c["M"] = Fraction(c["M"]) if not isinstance(c["M"], float) else formats.exact("fp32", c["M"]).value
            if meth.kernel == ("M_bits",):
                _check_float_m(meth.name, c)
                c["M_bits"] = f32_bits(c["M"])
        meth.check(meth.name, c)
    return Params(meth.name, tuple(channels), len(channels) > 1)


def params_from_kernel(method, **lists):
    """Inverse of ``Params.kernel_args``: make_params from the C kernel's lists (M_bits or m/shift or m/s)."""
    n = {len(v) for v in lists.values()}
    if len(n) != 1:
        raise ShapeError(f"kernel parameter lists differ in length: { {k: len(v) for k, v in lists.items()} }")
    rows = [dict(zip(lists, vals)) for vals in zip(*lists.values())]
    for r in rows:
        if "M_bits" in r:
            r["M"] = formats.value_of("fp32", r.pop("M_bits"))
    return make_params(method, rows)


# ##########################################################################
# Requantize
# ##########################################################################

def _check_zp(zp, out_type, meth):
    t = get_type(out_type)
    if not _is_int(zp) or not t.contains(zp):
        raise InvalidValueError(f"output zero point {zp!r} is not an integer of {t.name} [{t.min}, {t.max}]")
    if meth.name == "int32" and zp != 0:
        raise InvalidValueError(f"method 'int32' has no output zero point (got {zp})")


def requantize_one(acc, method, params, zp, out_type, channel=0, qmin=None, qmax=None, trace=None):
    """One accumulator -> one output integer under ``method`` (channel j picks the parameters)."""
    meth = get_method(method)
    if not _is_int(acc) or not INT32_MIN <= acc <= INT32_MAX:
        raise InvalidValueError(f"accumulator {acc!r} is not an int32")
    lo, hi = out_range(out_type, qmin, qmax)
    note(trace, "acc", "int32 accumulator", acc)
    return meth.apply(acc, params.channel(channel), zp, lo, hi, trace)


def requantize(acc, method, params, zp=0, out_type="int8", *, axis=-1, qmin=None, qmax=None):
    """Requantize a nested list (or one int) of int32 accumulators.

    Per-channel params index the channel along ``axis`` (-1: the last, as MatMul's columns;
    1 for NCHW convolution); their count must equal that dimension.
    """
    meth = get_method(method)
    if get_method(params.method).derive is not meth.derive:
        raise InvalidValueError(f"params were derived for {params.method!r}, not {meth.name!r}")
    _check_zp(zp, out_type, meth)
    lo, hi = out_range(out_type, qmin, qmax)
    shape = nested.shape(acc)
    if params.per_channel:
        if not shape:
            raise ShapeError("per-channel parameters need a tensor with a channel axis, got a scalar")
        ax = axis % len(shape)
        if shape[ax] != len(params.channels):
            raise ShapeError(f"{len(params.channels)} per-channel parameters but axis {axis} has {shape[ax]} elements")
    else:
        ax = None

    def one(a, path):
        if not _is_int(a) or not INT32_MIN <= a <= INT32_MAX:
            raise InvalidValueError(f"accumulator {a!r} at index {path} is not an int32")
        try:
            return meth.apply(a, params.channel(path[ax] if ax is not None else 0), zp, lo, hi, None)
        except (Unpredictable, SpecError) as e:
            raise type(e)(f"at index {path}: {e}") from None
    return nested.map_indexed(acc, one)


def explain_requantize(acc, method, params, zp, out_type, channel=0, qmin=None, qmax=None):
    """The step-by-step trace of requantizing one accumulator: a list of ``Step`` records."""
    meth = get_method(method)
    _check_zp(zp, out_type, meth)
    trace = [Step("method", meth.reproduces, meth.name)]
    for k, v in params.channel(channel).items():
        trace.append(Step(f"param {k}", "derived from the scales" if k != "M_bits" else "binary32 bits", v))
    requantize_one(acc, meth, params, zp, out_type, channel, qmin, qmax, trace)
    return trace


_MOVED_TO_TOSA = ("tosa_rescale", "tosa_rescale_bounds", "tosa_rescale_checks", "TOSA_IN_TYPES", "TOSA_OUT_TYPES",
                  "TOSA_ROUNDING_MODES")


def __getattr__(name):
    """The TOSA RESCALE names moved to refquant.tosa; still importable from here (for one release)."""
    if name in _MOVED_TO_TOSA:
        from . import tosa
        return getattr(tosa, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
