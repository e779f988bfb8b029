"""Computation of one golden test from its params and inputs (shared by generate and verify),
and the TestFloat-style .tv lines of the formats suite."""

from fractions import Fraction

from .. import backends, formats, integers, nested, ops
from .. import quantize as qz
from .. import requant as rq
from ..errors import AccumulatorOverflowError, InvalidValueError, SpecError, Unpredictable
from . import variant_ops
from .schema import _exact_flags
from .tensors import _count, short_dtype



class Tensor:
    """A tensor of a golden file: dtype (short), shape, flat values, layout."""

    def __init__(self, dtype, shape, values, layout="row-major"):
        self.dtype, self.shape, self.values, self.layout = dtype, list(shape), list(values), layout


def _nest(flat, shape):
    return nested.unflatten(list(flat), tuple(shape))


def _scale_of(bits, fmt):
    v = formats.decode(fmt, bits)
    if not v.is_finite or v.value <= 0:
        raise InvalidValueError(f"scale bits {bits:#x} are not a positive finite {fmt} value")
    return v.value


def _scale_param(x, fmt="fp32"):
    """A scale parameter in the manifest: bit-pattern hex string(s) -> Fraction or list."""
    if isinstance(x, list):
        return [_scale_of(int(b, 16), fmt) for b in x]
    return _scale_of(int(x, 16), fmt)


def _jsonable(v):
    if isinstance(v, Fraction):
        return str(v)
    if isinstance(v, float):
        return str(Fraction(v))
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _derived(params):
    """Params -> {name: [per-channel values]} with Fractions as 'n/d' strings (stable text)."""
    keys = []
    for c in params.channels:
        for k in c:
            if k not in keys:
                keys.append(k)
    return {k: [_jsonable(c.get(k)) for c in params.channels] for k in keys}


_OTHER_BUILD = {"tflite_double": "tflite_single", "tflite_single": "tflite_double",
                "tosa_double": "tosa_single", "tosa_single": "tosa_double"}


def _requant(accs, method, params, zy, y_type, axis, qmin, qmax):
    return rq.requantize(accs, method, params, zy, y_type, axis=axis, qmin=qmin, qmax=qmax)


def _requant_flags(accs_flat, channels_of, method, params, scales, zy, y_type, qmin, qmax, Y, axis, accs,
                   float_bias=None):
    """Computed flags.  float_bias = (float biases, the int32 bias derived from them or None): the
    exact value is then ((acc - int_bias_j)*sa*sb_j + bias_j)/sy."""
    flags = set()
    t = integers.get_type(y_type)
    lo = t.min if qmin is None else qmin
    hi = t.max if qmax is None else qmax
    if method != "int32":
        sa, sbs, sy = scales
        fb, ib = float_bias or (None, None)
        for acc, j in zip(accs_flat, channels_of):
            sb = sbs[j if len(sbs) > 1 else 0]
            if fb is None:
                flags |= _exact_flags(acc * sa * sb / sy, zy, lo, hi)
            else:
                raw = acc - (ib[j] if ib else 0)
                flags |= _exact_flags((raw * sa * sb + fb[j if len(fb) > 1 else 0]) / sy, zy, lo, hi)
    other = _OTHER_BUILD.get(method)
    if other:
        try:
            alt = _requant(accs, other, rq.Params(other, params.channels, params.per_channel), zy, y_type,
                           axis, qmin, qmax)
            if _flatten(alt) != _flatten(Y):
                flags.add("double_vs_single_rounding")
        except Unpredictable:
            pass
    return flags


def _flatten(x):
    return nested.flatten(x)


def compute_qlinear_matmul(params, inputs):
    """(outputs, derived, flags) of one qlinear_matmul test; raises the outcome errors."""
    p = params
    M, K, N = p["M"], p["K"], p["N"]
    A = _nest(inputs["A"].values, (M, K))
    B = _nest(inputs["B"].values, (K, N))
    bias = inputs["bias"].values if "bias" in inputs else None
    fbias = None
    if "float_bias" in inputs:   # f32 bit patterns; torch / oneDNN methods only (oracle-only vectors)
        fbias = [formats.decode("fp32", b).value for b in inputs["float_bias"].values]
    acc = integers.Accumulator(32, p["policy"])
    method = p["method"]
    sa, sb, sy = (_scale_param(p[k]) for k in ("sa", "sb", "sy"))
    rparams = rq.derive_params(method, sa, sb, sy, op=p.get("tflite_op", "conv"), bias=fbias)
    derived = _derived(rparams)
    int_bias = rparams.int_bias()      # torch_qnnpack: the float bias as qint32, added in the accumulator
    if int_bias is not None:
        if bias is not None:
            raise InvalidValueError("a test has either an int32 bias or a float bias, not both")
        bias = int_bias
    accs = ops.matmul_integer(A, B, p["za"], p["zb"], p["a_type"], p["b_type"], acc, bias)
    Y = _requant(accs, method, rparams, p["zy"], p["y_type"], -1, p.get("qmin"), p.get("qmax"))
    flat = _flatten(accs)
    flags = set()
    if acc.overflows:
        flags.add("acc_overflow")
    sbs = sb if isinstance(sb, list) else [sb]
    flags |= _requant_flags(flat, [i % N for i in range(len(flat))], method, rparams, (sa, sbs, sy),
                            p["zy"], p["y_type"], p.get("qmin"), p.get("qmax"), Y, -1, accs,
                            float_bias=fbias and (fbias, int_bias))
    outputs = {"acc": Tensor("i32", (M, N), flat), "Y": Tensor(short_dtype(p["y_type"]), (M, N), _flatten(Y))}
    return outputs, derived, flags


def compute_qlinear_conv(params, inputs):
    p = params
    x = _nest(inputs["x"].values, inputs["x"].shape)
    w = _nest(inputs["w"].values, inputs["w"].shape)
    bias = inputs["bias"].values if "bias" in inputs else None
    acc = integers.Accumulator(32, p["policy"])
    method = p["method"]
    sx, sw, sy = (_scale_param(p[k]) for k in ("sx", "sw", "sy"))
    rparams = rq.derive_params(method, sx, sw, sy, op="conv")
    derived = _derived(rparams)
    accs = ops.conv_integer(x, w, p["zx"], p["zw"], x_type=p["x_type"], w_type=p["w_type"],
                            strides=p["strides"], pads=p["pads"], dilations=p["dilations"], group=p["group"],
                            bias=bias, accumulator=acc)
    Y = _requant(accs, method, rparams, p["zy"], p["y_type"], 1, p.get("qmin"), p.get("qmax"))
    shape = list(nested.shape(accs))
    flat = _flatten(accs)
    per = shape[2] * shape[3]
    chans = [(i // per) % shape[1] for i in range(len(flat))]
    flags = {"acc_overflow"} if acc.overflows else set()
    sws = sw if isinstance(sw, list) else [sw]
    flags |= _requant_flags(flat, chans, method, rparams, (sx, sws, sy), p["zy"], p["y_type"],
                            p.get("qmin"), p.get("qmax"), Y, 1, accs)
    return ({"acc": Tensor("i32", shape, flat, "NCHW"),
             "Y": Tensor(short_dtype(p["y_type"]), shape, _flatten(Y), "NCHW")}, derived, flags)


def _param_indices(shape, axis, block):
    """For each flat element, the flat index of its scale (per tensor / axis / block)."""
    n = _count(shape)
    if axis is None:
        return [0] * n
    out = []
    pshape = list(shape)
    if block:
        pshape[axis] = -(-shape[axis] // block)
    for i in range(n):
        rem, coords = i, []
        for d in reversed(shape):
            coords.append(rem % d)
            rem //= d
        coords.reverse()
        if not block:
            out.append(coords[axis])
            continue
        coords[axis] //= block
        f = 0
        for c, d in zip(coords, pshape):
            f = f * d + c
        out.append(f)
    return out


def compute_quantize(params, inputs):
    p = params
    xfmt, sfmt = p["x_format"], p["scale_format"]
    reals = [formats.decode(xfmt, b) for b in inputs["x"].values]
    scales = [_scale_of(b, sfmt) for b in inputs["scale"].values]
    zps = inputs["zero_point"].values if "zero_point" in inputs else None
    shape = inputs["x"].shape
    axis, block = p.get("axis"), p.get("block_size")
    sshape = inputs["scale"].shape
    scale_arg = scales[0] if axis is None else _nest(scales, sshape)
    zp_arg = None if zps is None else (zps[0] if axis is None else _nest(zps, sshape))
    dtype = p["dtype"]
    y = qz.quantize(_nest(reals, shape), scale_arg, zp_arg, dtype, p["profile"], axis, block,
                    xfmt, sfmt, p.get("saturate", True))
    flags = set()
    float_target = dtype in qz.FLOAT_TARGETS
    if not float_target:
        t = integers.get_type(dtype)
    for x, k in zip(reals, _param_indices(shape, axis, block)):
        if x.is_nan:
            flags.add("nan_input")
        elif x.is_inf:
            flags.add("inf_input")
        else:
            if x.value and abs(x.value) < formats.get_format(xfmt).min_normal:
                flags.add("subnormal_input")
            if not float_target:
                flags |= _exact_flags(x.value / scales[k], zps[k] if zps else 0, t.min, t.max)
    for s in scales:
        if s < formats.get_format(sfmt).min_normal:
            flags.add("subnormal_scale")
        if s >= 2**64:
            flags.add("huge_scale")
    return {"y": Tensor(short_dtype(dtype), shape, _flatten(y))}, None, flags


def compute_dequantize(params, inputs):
    p = params
    scales = [_scale_of(b, p["scale_format"]) for b in inputs["scale"].values]
    zps = inputs["zero_point"].values if "zero_point" in inputs else None
    shape = inputs["q"].shape
    axis, block = p.get("axis"), p.get("block_size")
    sshape = inputs["scale"].shape
    scale_arg = scales[0] if axis is None else _nest(scales, sshape)
    zp_arg = None if zps is None else (zps[0] if axis is None else _nest(zps, sshape))
    y = qz.dequantize(_nest(inputs["q"].values, shape), scale_arg, zp_arg, p["dtype"], p["profile"], axis, block,
                      p["scale_format"], p["out_format"])
    flags = {"subnormal_scale"} if any(s < formats.get_format(p["scale_format"]).min_normal for s in scales) else set()
    return {"y": Tensor(short_dtype(p["out_format"]), shape, _flatten(y))}, None, flags


def _kernel_method(method):
    """The C-kernel requantization that runs ``method`` (``backends.kernel_method``); None for a method
    the kernel does not run or a name that is not a method."""
    return backends.kernel_method(method) if method in rq.METHODS else None


COMPUTE = {"qlinear_matmul": compute_qlinear_matmul, "qlinear_conv": compute_qlinear_conv,
           "quantize": compute_quantize, "dequantize": compute_dequantize, **variant_ops.COMPUTE}
# Outcomes an op may legitimately end in (anything else while generating is a builder bug).
ERROR_OUTCOMES = {"qlinear_matmul": (SpecError, AccumulatorOverflowError),
                  "qlinear_conv": (SpecError, AccumulatorOverflowError),
                  "quantize": (SpecError, InvalidValueError), "dequantize": (SpecError,), **variant_ops.ERROR_OUTCOMES}


def run_test(op, params, inputs):
    """('valid', outputs, derived, flags) | ('error', name, message) | ('unpredictable', message)."""
    try:
        outputs, derived, flags = COMPUTE[op](params, inputs)
    except Unpredictable as exc:
        return ("unpredictable", str(exc))
    except ERROR_OUTCOMES[op] as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("valid", outputs, derived, flags)


# ##########################################################################
# .tv line files (formats suite)
# ##########################################################################

TV_FLAGS = {1: "inexact", 2: "tie (the input is exactly a midpoint between two codes)",
            4: "overflow (the finite input's magnitude exceeds the largest finite code)",
            8: "NaN input", 16: "infinite input",
            32: "tiny (0 < |input| < the smallest normal of the target)"}


def tv_decode_line(fmt, bits):
    """'<code> <fp64 bits> <class flags>' of one decode test (every format <= 32 bits is exact in fp64)."""
    f = formats.get_format(fmt)
    v = formats.decode(f, bits)
    out = formats.encode("fp64", v)
    cls = 0
    if v.is_nan:
        cls |= 1
    elif v.is_inf:
        cls |= 2
    elif v.mag == 0:
        cls |= 4
    elif v.mag < f.min_normal:
        cls |= 8
    if v.sign:
        cls |= 16
    return f"{bits:0{(f.width + 3) // 4}x} {out:016x} {cls:02x}"


DECODE_CLASS = {1: "NaN", 2: "infinite", 4: "zero", 8: "subnormal", 16: "sign bit set"}


def tv_encode_line(src, fmt, bits, rounding, overflow):
    """'<input bits> <output code> <flags>' of one encode (round once) test."""
    f = formats.get_format(fmt)
    s = formats.get_format(src)
    x = formats.decode(s, bits)
    code = formats.encode(f, x, rounding, overflow)
    flags = 0
    if x.is_nan:
        flags |= 8
    elif x.is_inf:
        flags |= 16
    else:
        y = formats.decode(f, code)
        if not y.is_finite or y.value != x.value:
            flags |= 1
        if x.mag > f.max_finite:
            flags |= 4
        if 0 < x.mag < f.min_normal:
            flags |= 32
        lo = formats.decode(f, formats.encode(f, x, "rdn", "saturate"))
        hi = formats.decode(f, formats.encode(f, x, "rup", "saturate"))
        if lo.is_finite and hi.is_finite and lo.value != hi.value and 2 * x.value == lo.value + hi.value:
            flags |= 2
    return f"{bits:0{(s.width + 3) // 4}x} {code:0{(f.width + 3) // 4}x} {flags:02x}"


def _codes_selection(f):
    """Every code of an <= 8-bit format; a structured selection of a 16/32-bit one."""
    if f.width <= 8:
        return list(range(2**f.width))
    m, e = f.man_bits, f.exp_bits
    mans = sorted({0, 1, 2, 3, (1 << (m - 1)) - 1, 1 << (m - 1), (1 << (m - 1)) + 1, (1 << m) - 2, (1 << m) - 1,
                   0x155 & ((1 << m) - 1), 0x2aa & ((1 << m) - 1)})
    codes = []
    for sign in (0, 1):
        for E in range(2**e):
            if e > 5 and 4 < E < 2**e - 5 and E % 16:
                continue
            for M in mans:
                codes.append((sign << (m + e)) | (E << m) | M)
    return codes


def _encode_inputs(f, src):
    """Input bit patterns (of format src) for encoding into f: codes, midpoints +- 1 ulp, boundaries."""
    s = formats.get_format(src)
    vals, finite = [], []
    for c in _codes_selection(f):
        v = formats.decode(f, c)
        if v.is_finite:
            finite.append(v.value)
    vals += finite
    for c in _codes_selection(f):
        v = formats.decode(f, c)
        if not v.is_finite or v.sign or (f.specials == "fnuz" and c == 0):
            continue
        nb = formats.next_up(f, c)
        w = formats.decode(f, nb) if nb is not None else None
        if w is not None and w.is_finite and w.value > v.value:
            mid = (v.value + w.value) / 2
            vals += [mid, -mid]
    out = set()
    for v in vals:
        if not formats.representable(s, v):
            continue
        bits = formats.encode(s, v)
        out.add(bits)
        for nb in (formats.next_up(s, bits), formats.next_down(s, bits)):
            if nb is not None:
                out.add(nb)
    top = f.max_finite
    ulp_top = top - formats.decode(f, formats.next_down(f, formats.encode(f, top))).value
    sub = f.min_subnormal
    for v in (top, top + ulp_top / 2, top + ulp_top, 2 * top, top * 1024, sub / 2, sub / 4, sub * 3 / 4, sub,
              sub * 3 / 2):
        for sv in (v, -v):
            r = formats.round_to(s, sv, "rne", "saturate")
            out.add(formats.encode(s, r))
    for special in ("inf", "-inf", "0", "-0") + (("nan", "-nan") if f.has_nan else ()):
        out.add(formats.encode(s, formats.real(special)))  # a NaN has no code in fp6/fp4: not a test
    return sorted(out)
