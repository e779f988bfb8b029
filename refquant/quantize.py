"""Quantize and dequantize, exactly, under a named backend profile, at every granularity.

    quantize(x, scale, zero_point, dtype, profile, axis, block_size)   ONNX QuantizeLinear shapes
    dequantize(q, scale, zero_point, dtype, profile, axis, block_size, out_format)
    dynamic_quantize(x, profile)                                        ONNX DynamicQuantizeLinear
    log2_quantize(x, ...)                                              worked-examples.md §3 (power-of-two)
    fake_quantize(x, ...) and fake_quantize_grad(...)                   torch QAT semantics

Values enter as bit patterns or exactly representable numbers of a declared float format
(``x_format``: fp32 by default, also fp16 / bf16) and are decoded to exact ``Real`` values; the
per-element steps (``quantize_value``) follow the profile's data (profiles.py) one line each.
Nested lists in, nested lists out; numpy arrays are accepted at the edge (their dtype names the
format) and come back as numpy arrays.
"""

from fractions import Fraction
import functools

from . import fastquant, formats, integers, nested
from .errors import InvalidValueError, ShapeError, Unpredictable, UnknownNameError
from .profiles import get_profile
from .qparams import QParams, choose_qparams, qrange  # noqa: F401  (re-exported)
from .rounding import round_to_int

FP4_ADDS_ZERO_POINT = ("onnx", "onnx_ref")  # onnx 1.21.0 reference: x += zero_point for float4e2m1
FLOAT_TARGETS = ("fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp4_e2m1")


# ---------------------------------------------------------------------------------------------
# One element
# ---------------------------------------------------------------------------------------------

def _quotient_format(profile, x_fmt, s_fmt):
    if profile.quotient_format == "scale":
        return s_fmt
    if profile.quotient_format == "promote":  # numpy: the wider of the two (f16/f16 stays f16)
        widths = {"fp16": 16, "bf16": 16, "fp32": 32, "fp64": 64}
        if x_fmt == s_fmt:
            return x_fmt
        if {x_fmt, s_fmt} == {"fp16", "bf16"}:  # ml_dtypes: no common 16-bit type; bf16 / fp64 is fp64
            return "fp32"
        return max((x_fmt, s_fmt), key=lambda f: widths.get(f, 0))
    return profile.quotient_format


def _operand(x, profile, qfmt):
    """x as the division reads it: a profile dividing at the scale's precision first rounds x into
    that format (RNE), as onnx 1.21.0's QuantizeLinear-23 code does with ``precision`` and
    onnxruntime 1.32.0 does at opset >= 23.  Exact when x's format fits in the scale's."""
    if profile.quotient_format == "scale" and not x.is_nan:
        return formats.round_to(qfmt, x)
    return x


def _quotient(x, scale, zp, profile, qfmt):
    """x / scale as the profile forms it; a Real (inf possible).  Includes zp when 'fused'."""
    if profile.quotient == "exact":
        if x.is_inf:
            return x
        return formats.real(x.value / scale)
    if profile.quotient == "div":
        return formats.decode(qfmt, formats.div(qfmt, x, scale))
    inv = _reciprocal(qfmt, scale)
    if profile.quotient == "mul_recip":
        return formats.decode(qfmt, formats.mul(qfmt, x, inv))
    if profile.quotient == "fma_zp":
        return formats.decode(qfmt, formats.fma(qfmt, x, inv, zp))
    raise UnknownNameError("profile quotient", profile.quotient, ("exact", "div", "mul_recip", "fma_zp"))


@functools.lru_cache(maxsize=256)
def _reciprocal(qfmt, scale):
    """fl(1 / scale) in the quotient format (computed once per scale)."""
    return formats.decode(qfmt, formats.div(qfmt, 1, scale))


def _nan_result(profile, t, qmin, qmax):
    rule = profile.nan
    if rule == "qmin":
        return qmin
    if rule == "qmax":
        return qmax
    if rule == "type_min":
        return t.min if profile.clamp != "x86_int32" else None
    if rule == "unpredictable":
        raise Unpredictable(f"profile {profile.name!r}: quantizing NaN is undefined ({profile.source})")
    raise InvalidValueError(f"cannot quantize NaN under profile {profile.name!r}; it defines no result for NaN")


def quantize_value(x, scale, zp, dtype, profile="exact", x_format="fp32", scale_format="fp32",
                   qmin=None, qmax=None):
    """One element: the integer the profile's backend produces for the Real ``x``."""
    p = get_profile(profile)
    t = integers.get_type(dtype)
    qmin = t.min if qmin is None else qmin
    qmax = t.max if qmax is None else qmax
    qfmt = _quotient_format(p, x_format, scale_format)
    if x.is_nan and p.clamp != "x86_int32":
        return _nan_result(p, t, qmin, qmax)
    q = formats.NAN if x.is_nan else _quotient(_operand(x, p, qfmt), scale, zp, p, qfmt)
    if p.zero_point == "float_before":
        q = formats.decode(qfmt, formats.add(qfmt, q, zp))
    add_zp = zp if p.zero_point == "int_after" else 0
    if p.clamp == "x86_int32":
        return _x86_int32_path(q, add_zp, p, qmin, qmax)
    if p.clamp == "float":
        q = _clamp_real(q, qmin - add_zp, qmax - add_zp)
    if q.is_nan:  # e.g. inf * 0 inside an fma
        return _nan_result(p, t, qmin, qmax)
    if q.is_inf:
        return qmax if q.sign == 0 else qmin
    return min(max(round_to_int(q.value, p.rounding) + add_zp, qmin), qmax)


def _clamp_real(q, lo, hi):
    """min(max(q, lo), hi) as SSE maxps/minps do it: NaN gives lo."""
    if q.is_nan:
        return formats.real(lo)
    if q.is_inf:
        return formats.real(hi if q.sign == 0 else lo)
    return formats.real(min(max(q.value, Fraction(lo)), Fraction(hi)))


def _x86_int32_path(q, zp, p, qmin, qmax):
    """numpy rint -> astype(int32) (x86 cvttsd2si: NaN, inf, |n| >= 2^31 -> INT32_MIN) -> + zp in
    int32 (wraps) -> clip.  Reproduces onnx 1.21.0 reference QuantizeLinear on x86."""
    n = None
    if q.is_finite:
        n = round_to_int(q.value, p.rounding)
    if n is None or not -(2**31) <= n < 2**31:
        n = -(2**31)
    return min(max(integers.wrap("int32", n + zp), qmin), qmax)


def quantize_value_float(x, scale, target, profile="exact", saturate=True, x_format="fp32",
                         scale_format="fp32"):
    """One element to an fp8 / fp4 code: x / scale formed per profile, then converted (RNE) with
    ONNX ``saturate`` semantics.  The zero point of a float target is ignored, as in both ONNX
    implementations (onnx.md §1) -- except that the onnx reference adds the (zero) fp4 zero point
    in float, which turns -0 into +0 (``FP4_ADDS_ZERO_POINT``)."""
    p = get_profile(profile)
    qfmt = _quotient_format(p, x_format, scale_format)
    q = x if x.is_nan else _quotient(_operand(x, p, qfmt), scale, 0, p, qfmt)
    if target == "fp4_e2m1" and p.name in FP4_ADDS_ZERO_POINT and q.is_zero:
        q = formats.real(0)  # -0 + 0 = +0 under RNE
    if p.fp8 == "ort_1_31":
        deviation = _ort_fp8_deviation(q, target, saturate)
        if deviation is not None:
            return deviation
    return formats.encode(target, q, "rne", "saturate" if saturate else "ieee")


def _ort_fp8_deviation(q, target, saturate):
    """onnxruntime's fp8 conversion where it departs from OFP8 (onnx.md §5, measured on 1.31.1 and 1.32.0):
    E5M2 NaN is 0x7f/0xff (OFP8/ml_dtypes: 0x7e/0xfe); with saturate=0, E4M3FN maps |q| in
    [480, 496) to ±448 (not NaN) and E5M2 maps |q| in [61440, 65536) to NaN (not ±inf)."""
    sign = q.sign << 7
    if target == "fp8_e5m2" and q.is_nan:
        return 0x7F | sign
    if saturate or not q.is_finite:
        return None
    if target == "fp8_e4m3fn" and 480 <= q.mag < 496:
        return 0x7E | sign
    if target == "fp8_e5m2" and 61440 <= q.mag < 65536:
        return 0x7F | sign
    return None


def dequantize_value(q, scale, zp, profile="exact", out_format="fp32", dtype="int32"):
    """One element: (q - zp) * scale as the profile computes it, as bits of ``out_format``."""
    p = get_profile(profile)
    if p.dequantize == "exact":
        return formats.encode(out_format, (q - zp) * scale)
    if p.dequantize == "f32":
        d = integers.wrap("int32", q - zp) if dtype in ("int32", "uint32") else q - zp
        prod = formats.decode("fp32", formats.mul("fp32", formats.round_to("fp32", d), scale))
        return formats.encode(out_format, prod)
    if p.dequantize == "f64":
        return formats.encode(out_format, formats.round_to("fp64", Fraction(q - zp) * scale))
    raise UnknownNameError("profile dequantize", p.dequantize, ("exact", "f32", "f64"))


# ---------------------------------------------------------------------------------------------
# Tensors: shapes, granularity, API edge
# ---------------------------------------------------------------------------------------------

_NP_FORMATS = {"float32": ("fp32", "uint32"), "float16": ("fp16", "uint16"), "float64": ("fp64", "uint64"),
               "bfloat16": ("bf16", "uint16")}


def to_reals(x, fmt="fp32"):
    """(flat list of Reals, shape, input format) from nested lists or a numpy array.

    numpy arrays: the dtype names the format (float32, float16, bfloat16, float64) and values are
    read from their bit patterns.  Lists: each entry is a number exactly representable in ``fmt``
    (checked), a numeric string, or a Real.
    """
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        name = str(x.dtype)
        if name not in _NP_FORMATS:
            raise InvalidValueError(f"numpy input of dtype {name} is not a float format; expected one of {sorted(_NP_FORMATS)}")
        fmt, bits_dtype = _NP_FORMATS[name]
        bits = x.reshape(-1).view(bits_dtype).tolist()
        return [formats.decode(fmt, b) for b in bits], tuple(x.shape), fmt
    shape = nested.shape(x)
    flat = nested.flatten(x)
    return [formats.exact(fmt, v) for v in flat], shape, fmt


def to_bits(x, fmt="fp32"):
    """(flat list of bit patterns, shape, format): like ``to_reals`` but without decoding."""
    if hasattr(x, "dtype") and hasattr(x, "shape"):
        name = str(x.dtype)
        if name not in _NP_FORMATS:
            raise InvalidValueError(f"numpy input of dtype {name} is not a float format; expected one of {sorted(_NP_FORMATS)}")
        fmt, bits_dtype = _NP_FORMATS[name]
        return x.reshape(-1).view(bits_dtype).tolist(), tuple(x.shape), fmt
    reals, shape, fmt = to_reals(x, fmt)
    return [formats.encode(fmt, v) for v in reals], shape, fmt


def _compile_fast(profile, scale, zp, dtype, x_format, scale_format):
    """The integer fast path for one scale (refquant.fastquant), or None."""
    t = integers.get_type(dtype)
    return fastquant.compile_quantizer(profile, scale, zp, t.min, t.max, x_format,
                                       _quotient_format(get_profile(profile), x_format, scale_format))


def _scale_value(s, scale_format):
    """A scale: a number exactly representable in ``scale_format``, > 0 and finite."""
    v = formats.exact(scale_format, s) if not isinstance(s, Fraction) else formats.real(s)
    if not v.is_finite or v.value <= 0:
        raise InvalidValueError(f"scale must be finite and > 0, got {v}")
    if isinstance(s, Fraction) and not formats.representable(scale_format, s):
        raise InvalidValueError(f"scale {s} is not exactly representable in {scale_format}")
    return v.value


def _param_index(index, shape, axis, block_size, pshape):
    """Flat index into the scale / zero-point tensor for element ``index`` of ``shape``."""
    if axis is None:
        return 0
    coords = []
    rem = index
    for d in reversed(shape):
        coords.append(rem % d)
        rem //= d
    coords.reverse()
    if block_size is None:
        return coords[axis]
    coords[axis] //= block_size
    flat = 0
    for c, d in zip(coords, pshape):
        flat = flat * d + c
    return flat


def _granularity(shape, axis, block_size, scale):
    """Validate and return (flat scales list, param shape)."""
    sshape = nested.shape(scale)
    flat = nested.flatten(scale)
    if axis is None:
        if len(flat) != 1:
            raise ShapeError(f"per-tensor quantization needs one scale, got shape {sshape}; pass axis= for per-axis")
        return flat, sshape
    rank = len(shape)
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} out of range for input of rank {rank}")
    axis %= rank
    if block_size is None:
        if sshape != (shape[axis],):
            raise ShapeError(f"per-axis scale must have shape ({shape[axis]},) for axis {axis} of {shape}, got {sshape}")
        return flat, sshape
    if not isinstance(block_size, int) or block_size <= 0:
        raise ShapeError(f"block_size must be a positive int, got {block_size!r}")
    want = tuple(-(-d // block_size) if i == axis else d for i, d in enumerate(shape))
    if sshape != want:
        raise ShapeError(f"blocked scale must have shape {want} for block_size {block_size} on axis {axis} of {shape}, got {sshape}")
    return flat, sshape


def _zero_points(zero_point, n, dtype):
    if zero_point is None:
        return [0] * n
    zps = nested.flatten(zero_point)
    if len(zps) != n:
        raise ShapeError(f"zero point has {len(zps)} elements, the scale has {n}")
    t = integers.get_type(dtype) if dtype not in FLOAT_TARGETS else None
    for z in zps:
        if t is not None:
            integers.check(t, z, "zero point")
    return zps


def _parameters(shape, scale, zero_point, dtype, axis, block_size, scale_format):
    """Validated scales and zero points, and a function from flat element index to their index."""
    flat_scales, pshape = _granularity(shape, axis, block_size, scale)
    scales = [_scale_value(s, scale_format) for s in flat_scales]
    zps = _zero_points(zero_point, len(scales), dtype)
    axis = None if axis is None else axis % len(shape)
    return (lambda i: _param_index(i, shape, axis, block_size, pshape)), scales, zps


def _as_output(flat, shape, like, np_dtype):
    if like is not None:
        import numpy as np  # API edge only
        return np.array(flat, dtype=np_dtype).reshape(shape)
    return nested.unflatten(flat, shape)


def quantize(x, scale, zero_point=None, dtype="int8", profile="exact", axis=None, block_size=None,
             x_format="fp32", scale_format="fp32", saturate=True):
    """ONNX QuantizeLinear semantics (per-tensor, per-axis, blocked) under ``profile``.

    Integer targets return integers; fp8 / fp4 targets return bit codes.
    """
    bits, shape, x_format = to_bits(x, x_format)
    param_of, scales, zps = _parameters(shape, scale, zero_point, dtype, axis, block_size, scale_format)
    fast = {}  # parameter index -> fastquant function (None: use the definition)
    out = []
    for i, b in enumerate(bits):
        k = param_of(i)
        if dtype in FLOAT_TARGETS:
            out.append(quantize_value_float(formats.decode(x_format, b), scales[k], dtype, profile, saturate,
                                            x_format, scale_format))
            continue
        if k not in fast:
            fast[k] = _compile_fast(profile, scales[k], zps[k], dtype, x_format, scale_format)
        q = fast[k](b) if fast[k] else None
        if q is None:
            q = quantize_value(formats.decode(x_format, b), scales[k], zps[k], dtype, profile, x_format, scale_format)
        out.append(q)
    like = x if hasattr(x, "dtype") else None
    return _as_output(out, shape, like, _np_int_dtype(dtype))


def _np_int_dtype(dtype):
    if dtype in FLOAT_TARGETS:
        return "uint8"
    t = integers.get_type(dtype)
    width = max(8, 1 << (t.bits - 1).bit_length())
    return f"{'' if t.signed else 'u'}int{width}"


def dequantize(q, scale, zero_point=None, dtype="int8", profile="exact", axis=None, block_size=None,
               scale_format="fp32", out_format="fp32"):
    """ONNX DequantizeLinear semantics; returns bit patterns of ``out_format`` (see ``values``)."""
    like = q if hasattr(q, "dtype") else None
    if like is not None:
        shape, flat = tuple(q.shape), q.reshape(-1).tolist()
    else:
        shape, flat = nested.shape(q), nested.flatten(q)
    t = None if dtype in FLOAT_TARGETS else integers.get_type(dtype)
    param_of, scales, zps = _parameters(shape, scale, zero_point, dtype, axis, block_size, scale_format)
    fast = {}  # parameter index -> fastquant function (None: use the definition)
    out = []
    for i, v in enumerate(flat):
        k = param_of(i)
        if t is None:
            value = formats.decode(dtype, v)
            out.append(formats.encode(out_format, value if not value.is_finite else value.value * scales[k]))
            continue
        integers.check(t, v, f"element {i}")
        if k not in fast:
            fast[k] = fastquant.compile_dequantizer(profile, scales[k], zps[k], out_format, t.name)
        bits = fast[k](v) if fast[k] else None
        out.append(bits if bits is not None else dequantize_value(v, scales[k], zps[k], profile, out_format, t.name))
    bits_dtype = {"fp32": "uint32", "fp16": "uint16", "bf16": "uint16", "fp64": "uint64"}.get(out_format, "uint32")
    return _as_output(out, shape, like, bits_dtype)


def values(bits, fmt="fp32"):
    """Exact values (Fractions / Reals for specials) of a nested list of bit patterns."""
    if isinstance(bits, list):
        return [values(b, fmt) for b in bits]
    v = formats.decode(fmt, int(bits))
    return v.value if v.is_finite else v


# ---------------------------------------------------------------------------------------------
# DynamicQuantizeLinear (ONNX, uint8 only)
# ---------------------------------------------------------------------------------------------

DYNAMIC_ALL_ZERO = {
    "onnx": Fraction(0),            # the schema's function body: (0 - 0) / 255 = 0 (onnx#8437)
    "onnx_ref": None,               # 1/255 rounded to fp32 (onnx 1.21.0 reference)
    "onnxruntime": Fraction(1),     # ORT 1.31.1: scale 1.0
}


def dynamic_quantize(x, profile="onnx"):
    """ONNX DynamicQuantizeLinear: (y, scale, zero_point), all computed in fp32 per the spec:
    scale = (max(0, max x) - min(0, min x)) / 255, zp = RNE(clip(0 - min/scale, 0, 255)),
    y = saturate(RNE(x / scale) + zp).  NaN inputs are rejected except under 'onnxruntime',
    which ignores them in the min/max search.  The all-zero tensor is where peers give three
    answers (onnx.md §4): 'onnx' follows the spec's function body (scale 0, y = zp = 0),
    'onnx_ref' gives 1/255, 'onnxruntime' gives 1.0.
    """
    if profile not in DYNAMIC_ALL_ZERO:
        raise UnknownNameError("dynamic quantize profile", profile, DYNAMIC_ALL_ZERO)
    reals, shape, x_format = to_reals(x, "fp32")
    finite = [v for v in reals if not v.is_nan]
    if len(finite) != len(reals) and profile != "onnxruntime":
        raise InvalidValueError(f"NaN in DynamicQuantizeLinear input: the spec defines no result (profile {profile!r})")
    if any(v.is_inf for v in finite):
        raise InvalidValueError("inf in DynamicQuantizeLinear input: the scale would be inf")
    if not finite:
        raise InvalidValueError("DynamicQuantizeLinear needs at least one non-NaN element")
    hi = max(max(v.value for v in finite), Fraction(0))
    lo = min(min(v.value for v in finite), Fraction(0))
    if hi == lo:
        scale = DYNAMIC_ALL_ZERO[profile]
        if scale is None:
            scale = formats.round_to("fp32", Fraction(1, 255)).value
        if scale == 0:
            return _as_output([0] * len(reals), shape, x if hasattr(x, "dtype") else None, "uint8"), scale, 0
    else:
        scale = formats.round_to("fp32", formats.round_to("fp32", hi - lo).value / 255).value
        if scale == 0:
            raise InvalidValueError(f"DynamicQuantizeLinear range {hi - lo} is so small that its fp32 scale underflows to 0")
    zq = formats.decode("fp32", formats.div("fp32", -lo, scale))
    zp = round_to_int(min(max(zq.value, Fraction(0)), Fraction(255)), "half_even")
    prof = "onnxruntime" if profile == "onnxruntime" else "onnx"
    out = [quantize_value(v, scale, zp, "uint8", prof if not v.is_nan else "onnxruntime", x_format)
           for v in reals]
    return _as_output(out, shape, x if hasattr(x, "dtype") else None, "uint8"), scale, zp


# ---------------------------------------------------------------------------------------------
# MX block quantization (OCP Microscaling Formats v1.0 §6.3): one shared e8m0 scale per block
# ---------------------------------------------------------------------------------------------

MX_ROUNDING = {"even": "rne", "nearest": "rna"}  # microxcaling's round='even' / its default 'nearest'


def mx_quantize(x, block_size=32, element="fp4_e2m1", rounding="even", x_format="fp32"):
    """OCP MX: per block of ``block_size`` consecutive elements, shared exponent
    X = floor(log2(max|x|)) - emax_elem (clamped to [-127, 127]; an all-zero block uses -127),
    scale 2^X as an e8m0 code, elements x / 2^X converted to ``element`` with saturation.
    ``rounding``: 'even' (RNE) or 'nearest' (half away from zero, the microxcaling default).
    Returns (scale_codes, element_codes), flat lists in block order.  NaN/inf inputs are rejected
    (the spec maps a block containing them to a NaN scale; no element value is defined)."""
    if rounding not in MX_ROUNDING:
        raise UnknownNameError("MX rounding", rounding, MX_ROUNDING)
    if not isinstance(block_size, int) or block_size <= 0:
        raise ShapeError(f"block_size must be a positive int, got {block_size!r}")
    bits, shape, x_format = to_bits(x, x_format)
    elem = formats.get_format(element)
    values = [formats.decode(x_format, b) for b in bits]
    for v in values:
        if not v.is_finite:
            raise InvalidValueError(f"MX block quantization of {v} is undefined (the block's scale would be NaN)")
    scales, codes = [], []
    for start in range(0, len(values), block_size):
        block = values[start:start + block_size]
        amax = max(v.mag for v in block)
        shared = -127 if amax == 0 else min(max(formats.floor_log2(amax) - elem.emax, -127), 127)
        scales.append(shared + 127)
        step = Fraction(2) ** shared
        codes += [formats.encode(elem, formats.Real("finite", v.sign, v.mag / step), MX_ROUNDING[rounding],
                                 "saturate") for v in block]
    return scales, codes


# ---------------------------------------------------------------------------------------------
# Log2 (power-of-two) quantization (Miyashita et al. 2016; worked-examples.md §3)
# ---------------------------------------------------------------------------------------------

def log2_quantize(x, bits=4, rounding="log", max_exponent=0):
    """The logarithmic quantizer of worked-examples.md §3: x -> sign * 2^e with e an integer in
    [max_exponent - (2^(bits-1) - 2), max_exponent]; one code is reserved for zero.

    ``rounding='log'`` rounds log2|x| to the nearest integer (ties up), i.e. the threshold between
    2^e and 2^(e+1) is the geometric mean 2^(e+1/2) (compared exactly: |x|^2 vs 2^(2e+1));
    ``rounding='linear'`` picks the nearer power of two in linear distance (threshold 1.5 * 2^e,
    ties up).  Magnitudes below half the smallest power (in the chosen domain) become 0.
    Returns (sign, exponent) pairs, exponent None for zero.
    """
    if rounding not in ("log", "linear"):
        raise UnknownNameError("log2 rounding", rounding, ("log", "linear"))
    if not isinstance(bits, int) or bits < 2:
        raise InvalidValueError(f"log2 quantization needs bits >= 2, got {bits!r}")
    emin = max_exponent - (2 ** (bits - 1) - 2)
    out = []
    for v in (formats.real(e) for e in nested.flatten(x)):
        if not v.is_finite:
            raise InvalidValueError(f"log2 quantization of {v} is undefined")
        out.append(_log2_one(v, emin, max_exponent, rounding))
    return out


def _log2_one(v, emin, emax, rounding):
    a = v.mag
    if a == 0:
        return (0, None)
    e = formats.floor_log2(a)
    if rounding == "log":
        up = a * a >= Fraction(2) ** (2 * e + 1)  # log2 a >= e + 1/2
        zero_below = a * a < Fraction(2) ** (2 * emin - 1)
    else:
        up = a >= Fraction(3, 2) * Fraction(2) ** e
        zero_below = a < Fraction(2) ** emin / 2
    if zero_below:
        return (0, None)
    return (v.sign, min(max(e + (1 if up else 0), emin), emax))


# ---------------------------------------------------------------------------------------------
# Fake quantization (QAT), torch semantics (docs/reference/calibration.md §8)
# ---------------------------------------------------------------------------------------------

def fake_quantize(x, scale, zero_point, qmin, qmax, profile="torch_fake_quant"):
    """Forward: fl((clamp(zp + RNE(fl(x * inv)), qmin, qmax) - zp) * scale) per element, and the
    straight-through-estimator mask: 1 where qmin <= zp + RNE(fl(x * inv)) <= qmax, else 0
    (the mask is taken on the unclamped integer, as torch does).  Returns (y_bits, mask)."""
    reals, shape, _ = to_reals(x, "fp32")
    s = _scale_value(scale, "fp32")
    p = get_profile(profile)
    ys, mask = [], []
    for v in reals:
        if not v.is_finite:
            raise InvalidValueError(f"fake_quantize of {v} is undefined under {profile!r}")
        q = _quotient(v, s, zero_point, p, "fp32")
        if not q.is_finite:
            raise Unpredictable(f"fake_quantize of {v}: x * (1/scale) = {q}; torch converts it to int64 (C UB)")
        n = round_to_int(q.value, p.rounding) + (zero_point if p.zero_point == "int_after" else 0)
        mask.append(1 if qmin <= n <= qmax else 0)
        c = min(max(n, qmin), qmax)
        ys.append(formats.mul("fp32", formats.round_to("fp32", c - zero_point), s))
    like = x if hasattr(x, "dtype") else None
    return _as_output(ys, shape, like, "uint32"), _as_output(mask, shape, like, "uint8")


def fake_quantize_learnable_grad(x, dy, scale, zero_point_f, qmin, qmax, grad_factor=1):
    """Gradients of torch ``_fake_quantize_learnable_per_tensor_affine`` (exact rationals):
    returns (dx, dscale, dzero_point).  Backward rounds the float zero point with
    clamp(int(zp + 0.5)) (forward uses RNE), docs/reference/calibration.md §8:
      dx     = dy            inside [qmin, qmax], 0 outside
      dscale = sum dy * gf * ((y - x) / s inside; qmin - zp below; qmax - zp above)
      dzp    = sum dy * gf * (0 inside; -s outside)
    where y is the fake-quantized value and inv = fl(1/s) as in the forward pass.
    """
    reals, shape, _ = to_reals(x, "fp32")
    s = _scale_value(scale, "fp32")
    zp = min(max(int(Fraction(zero_point_f) + Fraction(1, 2)), qmin), qmax)  # int() truncates
    inv = formats.round_to("fp32", 1 / s).value
    dys = [Fraction(d) for d in nested.flatten(dy)]
    if len(dys) != len(reals):
        raise ShapeError(f"dy has {len(dys)} elements, x has {len(reals)}")
    dx, dscale, dzp = [], Fraction(0), Fraction(0)
    for v, d in zip(reals, dys):
        n = round_to_int(formats.round_to("fp32", v.value * inv).value, "half_even") + zp
        if n < qmin or n > qmax:
            dx.append(Fraction(0))
            dscale += d * grad_factor * ((qmin if n < qmin else qmax) - zp)
            dzp += d * grad_factor * (-s)
        else:
            y = (n - zp) * s
            dx.append(d)
            dscale += d * grad_factor * (y - v.value) * inv
    return nested.unflatten(dx, shape), dscale, dzp
