"""Quantized activations: sigmoid (logistic), tanh, softmax, hard_swish, leaky_relu, per backend.

Every op takes the quantized input ``xs`` (a sequence of ints; for softmax one row along the
reduced axis) and its quantization (x_scale, x_zp, y_scale, y_zp, dtype), and returns the output
ints.  An output that depends on which result a libm returns within its documented error bound
is a ``certified.ImplementationDefined`` listing every possible output (the one a correctly
rounded libm gives first) -- never a tolerance, never a silent pick.

Variants (``VARIANTS``; ``backends`` rows name one per op):

* ``exact``: the ideal -- the certified real value of the activation of the dequantized input,
  one RNE to the output grid, saturate.
* ``ort_qlinear``: onnxruntime 1.32.0 com.microsoft QLinearSigmoid / QLinearLeakyRelu (a
  256-entry table built from binary32 math, then MlasQuantizeLinear) and QLinearSoftmax (an
  exp table in binary64 math rounded to binary32, binary32 sums and division).
* ``tflite_lut``: LiteRT 2.3.0 int8 LOGISTIC / TANH, reference and optimized kernels alike: a
  table from binary32 libm math (common.h LUTPopulateInt8).
* ``tflite_ref``: LiteRT 2.3.0 reference LEAKY_RELU (two QuantizeMultiplier multipliers) and
  HARD_SWISH (the int16 "reluish" fixed-point multiplier).
* ``tflm_fixed``: tflite-micro int8 reference LOGISTIC / TANH in gemmlowp fixed point.

Stdlib only (docs/architecture.md); every public function cites what it reproduces.
"""

from fractions import Fraction

from . import certified, formats, qops, quantize
from . import fixedpoint as fp
from . import gemmlowp as gl
from . import movement as mv
from .certified import resolve
from .errors import InvalidValueError, ShapeError, SpecError, Unpredictable
from .integers import get_type
from .ieee import fl, fl32
from .rounding import half_away, half_even

# Documented maximum errors of glibc's binary32/binary64 functions on x86_64 (glibc manual,
# "Known Maximum Errors in Math Functions"): the bounds the libm-dependent variants assume.
EXPF_ULP, TANHF_ULP, EXP_ULP, LOG_ULP, LOGF_ULP = 1, 2, 1, 1, 1
FLT_MAX = Fraction((1 << 24) - 1) * Fraction(2) ** 104


def quant_params(x_scale, x_zp, y_scale, y_zp, dtype):
    """The exact quantization of input and output, checked: (sx, zx, sy, zy, qmin, qmax)."""
    t = get_type(dtype)
    return (qops.scale(x_scale, "x_scale"), qops.zero_point(x_zp, t, "x_zero_point"),
            qops.scale(y_scale, "y_scale"), qops.zero_point(y_zp, t, "y_zero_point"), t.min, t.max)


def elementwise(x, dtype, entry):
    """Apply ``entry`` to each element of the tensor x (once per distinct value, as a table is
    built once per value); the result has x's shape."""
    flat, shape = qops.qtensor(x, get_type(dtype), "x")
    table = {}
    for q in flat:
        if q not in table:
            table[q] = entry(q)
    return mv.nest([table[q] for q in flat], shape)


def along_rows(x, dtype, axis, row_fn):
    """Apply ``row_fn`` to every 1-D row of x along ``axis``; the result has x's shape."""
    flat, shape = qops.qtensor(x, get_type(dtype), "x")
    if not shape:
        raise ShapeError("softmax needs a tensor of rank >= 1, got a scalar")
    ax = mv.norm_axis(axis, len(shape))
    if 0 in shape:
        return mv.nest([], shape)
    perm = [i for i in range(len(shape)) if i != ax] + [ax]
    moved, mshape = mv.tensor(mv.transpose(mv.nest(flat, shape), perm))
    d = mshape[-1]
    out = [v for i in range(0, len(moved), d) for v in row_fn(moved[i:i + d])]
    back = [perm.index(i) for i in range(len(shape))]
    return mv.transpose(mv.nest(out, mshape), back)


def clamp(v, lo, hi):
    """min(max(v, lo), hi)."""
    return min(max(v, lo), hi)


def rne_certified(fn, arg, sy, zy, lo, hi):
    """clamp(RNE(fn(arg) / sy) + zy): refined until the enclosure decides the integer."""
    def decide(a, b):
        ra, rb = half_even(a / sy), half_even(b / sy)
        return ra if ra == rb else None
    return clamp(certified.refine(fn, arg, decide) + zy, lo, hi)


# ##########################################################################
# exact: the certified ideal
# ##########################################################################

def sigmoid_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """clamp(RNE(1 / (1 + exp(-sx (q - zx))) / sy) + zy), the real value certified."""
    # Reproduces: ONNX Sigmoid-13 (y = 1 / (1 + exp(-x))) between Dequantize/QuantizeLinear, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    return elementwise(x, dtype, lambda q: rne_certified("sigmoid", sx * (q - zx), sy, zy, lo, hi))


def gelu_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """clamp(RNE(v/2 (1 + erf(v / sqrt 2)) / sy) + zy), v = sx (q - zx), the real value certified."""
    # Reproduces: ONNX Gelu-20 (approximate = "none") between Dequantize/QuantizeLinear, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    return elementwise(x, dtype, lambda q: rne_certified("gelu", sx * (q - zx), sy, zy, lo, hi))


def quick_gelu_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", alpha=1.702):
    """clamp(RNE(v sigmoid(alpha v) / sy) + zy), v = sx (q - zx), alpha the binary32 attribute, certified."""
    # Reproduces: onnxruntime com.microsoft QuickGelu (y = x * sigmoid(alpha * x)) between DQ and Q, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    a = fl32(Fraction(alpha) if not isinstance(alpha, float) else Fraction(*alpha.as_integer_ratio()))

    def entry(q):
        v = sx * (q - zx)

        def decide(digits):
            s_lo, s_hi = certified.enclose("sigmoid", a * v, digits)
            ends = sorted((v * s_lo, v * s_hi))
            ra, rb = half_even(ends[0] / sy), half_even(ends[1] / sy)
            return ra if ra == rb else None
        return clamp(certified.refine_digits(decide) + zy, lo, hi)
    return elementwise(x, dtype, entry)


def tanh_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """clamp(RNE(tanh(sx (q - zx)) / sy) + zy), the real value certified."""
    # Reproduces: ONNX Tanh-13 between Dequantize/QuantizeLinear, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    return elementwise(x, dtype, lambda q: rne_certified("tanh", sx * (q - zx), sy, zy, lo, hi))


def hard_swish_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """clamp(RNE(v * min(6, max(0, v + 3)) / 6 / sy) + zy), v = sx (q - zx)."""
    # Reproduces: ONNX HardSwish-14 between Dequantize/QuantizeLinear, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)

    def entry(q):
        v = sx * (q - zx)
        return clamp(half_even(v * min(6, max(0, v + 3)) / 6 / sy) + zy, lo, hi)
    return elementwise(x, dtype, entry)


def softmax_exact(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", axis=-1):
    """clamp(RNE(exp(v_i) / sum_j exp(v_j) / sy) + zy) along ``axis``, certified."""
    # Reproduces: ONNX Softmax-13 along one axis between Dequantize/QuantizeLinear, ideal
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    return along_rows(x, dtype, axis, lambda row: _softmax_exact_row(row, sx, sy, zy, lo, hi))


def _softmax_exact_row(row, sx, sy, zy, lo, hi):
    """One row: y_i = 1 / sum_j exp(sx (q_j - q_i)), decreasing in every term, so the ends of
    the terms' enclosures bound it; each exp(sx d) is enclosed once per difference d."""
    counts = {q: row.count(q) for q in set(row)}
    memo = {}
    for qi in counts:
        def decide(digits, qi=qi):
            ends = [(n, certified.enclose("exp", sx * (qj - qi), digits)) for qj, n in counts.items()]
            s_lo = sum(n * e[0] for n, e in ends)
            s_hi = sum(n * e[1] for n, e in ends)
            ra, rb = half_even(1 / s_hi / sy), half_even(1 / s_lo / sy)
            return ra if ra == rb else None
        memo[qi] = clamp(certified.refine_digits(decide) + zy, lo, hi)
    return [memo[q] for q in row]


# ##########################################################################
# onnxruntime 1.32.0 com.microsoft QLinear* (contrib_ops/cpu/quantization)
# ##########################################################################

# MLAS logistic.cpp MlasLogisticConstants (the Eigen rational approximation), as binary32.
_MLAS_LOGISTIC = {k: fl32(Fraction(v)) for k, v in dict(
    alpha_9="4.37031012579801e-11", alpha_7="1.15627324459942e-07", alpha_5="6.08574864600143e-05",
    alpha_3="8.51377133304701e-03", alpha_1="2.48287947061529e-01", beta_10="6.10247389755681e-13",
    beta_8="5.76102136993427e-09", beta_6="6.29106785017040e-06", beta_4="1.70198817374094e-03",
    beta_2="1.16817656904453e-01", beta_0="9.93151921023180e-01").items()}


def mlas_logistic(x, fma=True):
    """MLAS logistic of a binary32 value x (a Fraction), exactly as its kernel rounds.

    fma=True: MlasLogisticKernelFma3 (x86_64 with AVX2/FMA3): clamp x to [-18, 18], x2 = fl(x*x),
    p and q by Horner with fused multiply-adds, p = fl(x*p), fl(fl(p/q) + 1/2), then max(0, .).
    fma=False: the portable kernel (MlasLogisticKernel, SSE2 / NEON without FMA): every
    multiply-add rounded twice, and the result clamped to [0, 1].
    """
    # Reproduces: onnxruntime 1.32.0 mlas/lib/logistic.cpp, x86_64/LogisticKernelFma3.S
    c = _MLAS_LOGISTIC
    v = min(max(x, Fraction(-18)), Fraction(18))
    madd = (lambda a, b, d: fl32(a * b + d)) if fma else (lambda a, b, d: fl32(fl32(a * b) + d))
    x2 = fl32(v * v)
    p = madd(x2, c["alpha_9"], c["alpha_7"])
    for k in ("alpha_5", "alpha_3", "alpha_1"):
        p = madd(p, x2, c[k])
    p = fl32(p * v)
    q = madd(x2, c["beta_10"], c["beta_8"])
    for k in ("beta_6", "beta_4", "beta_2", "beta_0"):
        q = madd(q, x2, c[k])
    r = fl32(fl32(p / q) + Fraction(1, 2))
    return max(r, Fraction(0)) if fma else min(max(r, Fraction(0)), Fraction(1))


def _ort_lookup(x, x_scale, x_zp, y_scale, y_zp, dtype, transform):
    """QlinearBuildLookupTable: fl(sx * (q - zx)) -> transform -> MlasQuantizeLinear, per entry."""
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)

    def entry(q):
        y = transform(fl32(sx * (q - zx)))
        return quantize.quantize_value(formats.real(y), sy, zy, dtype, profile="onnxruntime")
    return elementwise(x, dtype, entry)


def sigmoid_ort(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", fma=True):
    """com.microsoft QLinearSigmoid: a table of MlasComputeLogistic of fl(sx (q - zx)), quantized
    by MlasQuantizeLinear (divps, clamp, cvtps2dq RNE).  Deterministic: no libm is called."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_lookup_table.cc, qlinear_activations.cc
    return _ort_lookup(x, x_scale, x_zp, y_scale, y_zp, dtype, lambda v: mlas_logistic(v, fma))


def leaky_relu_ort(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", alpha=0.01):
    """com.microsoft QLinearLeakyRelu: table of (v >= 0 ? v : fl(alpha*v)), v = fl(sx (q - zx))."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_activations.cc QLinearLeakyRelu
    a = fl32(Fraction(alpha) if not isinstance(alpha, float) else Fraction(*alpha.as_integer_ratio()))
    return _ort_lookup(x, x_scale, x_zp, y_scale, y_zp, dtype, lambda v: v if v >= 0 else fl32(a * v))


def _ort_softmax_shift(x_scale, d):
    """bit_shift = max(0, log(fl32(FLT_MAX / D)) - 5) / sx, for every log result the libm may give.

    Whether ``log`` binds to logf (float overload) or log (double) is the compiler's header
    set-up: both are candidates, each within its ulp bound.  Correctly rounded double first.
    """
    arg = fl32(FLT_MAX / d)
    logs = list(certified.candidates("log", arg, "fp64", LOG_ULP))
    logs += [v for v in certified.candidates("log", arg, "fp32", LOGF_ULP) if v not in logs]
    return [fl("fp64", max(Fraction(0), fl("fp64", lg - 5)) / x_scale) for lg in logs]


def _ort_softmax_table(shift, sx, diffs):
    """Entry for each x - xmax in ``diffs``: fl32(exp(fl64(fl64(d + shift) * sx))), all candidates."""
    table = {}
    for d in diffs:
        arg = fl("fp64", fl("fp64", d + shift) * sx)
        table[d] = [fl32(e) for e in certified.candidates("exp", arg, "fp64", EXP_ULP)]
    return table


def _ort_softmax_out(vt, vsum, y_inv, zy, dtype):
    """vq = nearbyintf(fl(fl(vt * Y) / vsum)) + zp, capped at the type's maximum.

    The int8 cap is 127 as measured on onnxruntime 1.32.0 (an older qlinear_softmax.cc capped at
    255 and then kept the low byte, which would wrap 128 to -128); vq >= zp >= qmin always."""
    r = fl32(fl32(vt * y_inv) / vsum)
    if isinstance(r, float):   # fl32 overflowed: static_cast<int32_t>(nearbyintf(inf)) is C UB
        raise Unpredictable(f"QLinearSoftmax: exp entry * floor(1/y_scale) = {float(vt)} * {y_inv} overflows "
                            "binary32; converting inf to an integer is undefined behaviour")
    return min(half_even(r) + zy, 127 if dtype == "int8" else 255)


def _fsum(values):
    s = Fraction(0)
    for v in values:
        s = fl32(s + v)
    return s


def softmax_ort(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", axis=-1):
    """com.microsoft QLinearSoftmax (opset=13 attribute: rows along ``axis``, length D).

    Table: exp((x - xmax + bit_shift) * sx) in binary64 libm, stored as binary32; vsum the binary32
    sum of the row's entries in order; y = nearbyintf(fl(fl(e * Y) / vsum)) + y_zp with
    Y = floor(fl(1 / y_scale)), capped at the type's maximum.  y_scale enters only through Y.
    Outputs that depend on the log / exp libm results are
    ImplementationDefined (candidates from monotone bounds over every libm choice).
    """
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_softmax.cc
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    y_inv = Fraction(int(fl32(1 / sy)))
    return along_rows(x, dtype, axis, lambda row: _softmax_ort_row(row, sx, y_inv, zy, dtype))


def _softmax_ort_row(row, sx, y_inv, zy, dtype):
    """One row of QLinearSoftmax; for every libm choice of log, the correctly rounded exp table
    first, then the monotone bounds (entries low / sum high, entries high / sum low)."""
    xmax = max(row)
    results = [[] for _ in row]
    for shift in _ort_softmax_shift(sx, len(row)):
        table = _ort_softmax_table(shift, sx, sorted({q - xmax for q in row}))
        first = _fsum(table[q - xmax][0] for q in row)
        s_lo = _fsum(min(table[q - xmax]) for q in row)
        s_hi = _fsum(max(table[q - xmax]) for q in row)
        if first == 0:
            raise Unpredictable("QLinearSoftmax: the row's exp sum is 0; ORT leaves the output unwritten")
        for i, q in enumerate(row):
            e = table[q - xmax]
            results[i].append(_ort_softmax_out(e[0], first, y_inv, zy, dtype))
            ends = sorted(_ort_softmax_out(v, t, y_inv, zy, dtype) for v, t in ((min(e), s_hi), (max(e), s_lo)))
            results[i] += range(ends[0], ends[1] + 1)
    return [resolve(r, f"QLinearSoftmax: log within {LOG_ULP} ulp (log or logf), exp within {EXP_ULP} ulp")
            for r in results]


# ##########################################################################
# LiteRT 2.3.0 (tflite/kernels/activations.cc, internal/common.h, reference/*.h)
# ##########################################################################

def _lut_int8(x, x_scale, x_zp, y_scale, y_zp, dtype, transform, why, xnnpack=False):
    """One 256-entry table from binary32 math.  deq = fl(sx * (q - zx)); every t in
    transform(deq) (the libm candidates, correctly rounded first) gives one output:
    LiteRT LUTPopulateInt8: (int)fl(round-half-away(fl(t * fl(1 / sy))) + zy), clamped;
    XNNPACK init_lut_op (xnnpack=True): lrintf(fl(t * fl(1 / sy))) + zy (RNE), clamped."""
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    inv = fl32(1 / sy)

    def entry(q):
        outs = []
        for t in transform(fl32(sx * (q - zx))):
            if xnnpack:
                outs.append(clamp(half_even(fl32(t * inv)) + zy, lo, hi))
            else:
                outs.append(clamp(int(fl32(half_away(fl32(t * inv)) + zy)), lo, hi))
        return resolve(outs, why)
    return elementwise(x, dtype, entry)


def _expf_logistic(v):
    """1.0f / (1.0f + expf(-v)) for every expf result within EXPF_ULP (correctly rounded first)."""
    return [fl32(1 / fl32(1 + e)) for e in certified.candidates("exp", -v, "fp32", EXPF_ULP)]


def sigmoid_tflite_lut(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """LiteRT int8 LOGISTIC (BUILTIN_REF and optimized): LUTPopulateInt8 with
    1.0f / (1.0f + std::exp(-x)) in binary32; expf within 1 ulp gives the candidates."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/activations.cc SigmoidPrepare, internal/common.h LUTPopulateInt8
    return _lut_int8(x, x_scale, x_zp, y_scale, y_zp, dtype, _expf_logistic,
                     f"LOGISTIC table: expf within {EXPF_ULP} ulp")


def tanh_tflite_lut(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """LiteRT int8 TANH (BUILTIN_REF and optimized): LUTPopulateInt8 with std::tanh(float)."""
    # Reproduces: LiteRT 2.3.0 tflite/kernels/activations.cc TanhPrepare, internal/common.h LUTPopulateInt8
    return _lut_int8(x, x_scale, x_zp, y_scale, y_zp, dtype,
                     lambda v: list(certified.candidates("tanh", v, "fp32", TANHF_ULP)),
                     f"TANH table: tanhf within {TANHF_ULP} ulp")


def _xnnpack_logistic(v):
    """XNNPACK calculate_sigmoid: x < 0 (sign bit set): 1 / (1 + expf(-x)); else
    1 - 1 / (1 + expf(x)); every expf result within EXPF_ULP."""
    if v < 0:
        return _expf_logistic(v)
    return [fl32(1 - fl32(1 / fl32(1 + e))) for e in certified.candidates("exp", v, "fp32", EXPF_ULP)]


def sigmoid_xnnpack(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """XNNPACK qs8/qu8 sigmoid (the LiteRT 2.3.0 delegate takes int8 LOGISTIC): a table of
    calculate_sigmoid in binary32, lrintf (RNE) where LiteRT rounds half away."""
    # Reproduces: XNNPACK src/operators/unary-elementwise-nc.c init_lut_op, calculate_sigmoid (in LiteRT 2.3.0)
    return _lut_int8(x, x_scale, x_zp, y_scale, y_zp, dtype, _xnnpack_logistic,
                     f"XNNPACK sigmoid table: expf within {EXPF_ULP} ulp", xnnpack=True)


def tanh_xnnpack(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """XNNPACK qs8/qu8 tanh: a table of tanhf, lrintf (RNE)."""
    # Reproduces: XNNPACK src/operators/unary-elementwise-nc.c init_lut_op, calculate_tanh (in LiteRT 2.3.0)
    return _lut_int8(x, x_scale, x_zp, y_scale, y_zp, dtype,
                     lambda v: list(certified.candidates("tanh", v, "fp32", TANHF_ULP)),
                     f"XNNPACK tanh table: tanhf within {TANHF_ULP} ulp", xnnpack=True)


def leaky_relu_tflite(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", alpha=0.01):
    """LiteRT reference LEAKY_RELU: M_alpha = fl32(fl32(sx * alpha) / sy), M_id = fl32(sx / sy),
    each QuantizeMultiplier'd; zy + MBQM(q - zx, M) (double rounding), clamped.  A negative
    alpha multiplies by |M_alpha| and negates."""
    # Reproduces: LiteRT 2.3.0 activations.cc LeakyReluPrepare, reference/leaky_relu.h QuantizeLeakyRelu
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    a = fl32(Fraction(*float(alpha).as_integer_ratio()))
    m_alpha = fp.quantize_multiplier(abs(fl32(fl32(sx * a) / sy)))
    m_id = fp.quantize_multiplier(fl32(sx / sy))

    def entry(q):
        v = q - zx
        if v >= 0:
            return clamp(zy + fp.multiply_by_quantized_multiplier(v, *m_id), lo, hi)
        r = fp.multiply_by_quantized_multiplier(v, *m_alpha)
        return clamp(zy + (-r if a < 0 else r), lo, hi)
    return elementwise(x, dtype, entry)


def leaky_relu_xnnpack(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", alpha=0.01):
    """XNNPACK qs8/qu8 leaky ReLU, as the LiteRT 2.3.0 delegate runs it: p = fl32(sx / sy),
    n = fl32(p * alpha), 8-bit fixed-point multipliers lrintf(256 p), lrintf(256 n);
    y = ((q - zx) * m + 128) >> 8 (ties toward +inf) + zy, clamped.  Outside the scales XNNPACK
    accepts (2^-8 <= p <= 2^7, 2^-8 <= |n|, -0x1.FFFCp6 <= n <= 2^7) the delegate declines the
    node and the builtin kernel (``leaky_relu_tflite``) runs."""
    # Reproduces: XNNPACK xnn_init_qs8_lrelu_scalar_params and qs8-vlrelu microkernels (in LiteRT 2.3.0)
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    p = fl32(sx / sy)
    n = fl32(p * fl32(Fraction(*float(alpha).as_integer_ratio())))
    if not (Fraction(1, 256) <= p <= 128 and abs(n) >= Fraction(1, 256)
            and -Fraction(0x1FFFC, 1 << 10) <= n <= 128):
        return leaky_relu_tflite(x, x_scale, x_zp, y_scale, y_zp, dtype=dtype, alpha=alpha)
    mp, mn = half_even(fl32(256 * p)), half_even(fl32(256 * n))

    def entry(q):
        v = q - zx
        return clamp(((v * (mp if v >= 0 else mn) + 128) >> 8) + zy, lo, hi)
    return elementwise(x, dtype, entry)


def _check_tflite_softmax(x_scale, x_zp, y_scale, y_zp, dtype):
    """SoftmaxPrepare's checks for int8/uint8 output: scale within 0.001/256 of 1/256, zero point qmin."""
    p = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    if abs(p[2] - Fraction(1, 256)) > Fraction(1, 256000) or p[3] != p[4]:
        raise SpecError(f"SOFTMAX needs output scale 1/256 and zero point {p[4]}, got {y_scale}, {y_zp}")
    return p


def _tflite_softmax_params(sx, beta):
    """PreprocessSoftmaxScaling (double build) and diff_min for Q5.26 scaled differences:
    M = min(beta * sx * 2^26, 2^31 - 1) in binary64, QuantizeMultiplierGreaterThanOne;
    diff_min = -floor(31 * 2^26 / 2^left_shift)."""
    real = min(fl("fp64", fl("fp64", beta * sx) * (1 << 26)), Fraction((1 << 31) - 1))
    mult, shift = fp.quantize_multiplier_greater_than_one(real)
    return mult, shift, -((31 << 26) >> shift)


def softmax_tflite(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", axis=-1, beta=1.0):
    """LiteRT reference int8/uint8 SOFTMAX in gemmlowp fixed point: for d = q - max(row) >= diff_min,
    e = exp_on_negative_values(SRDHM(d * 2^shift, M)) in Q5.26 -> Q0.31; the sum of
    Rescale<12>(e); GetReciprocal; y = RDBPOT(SRDHM(recip, e), bits_over_unit + 23) + qmin (the
    output is scale 1/256 with zero point qmin); elements below diff_min give qmin."""
    # Reproduces: LiteRT 2.3.0 activations.cc SoftmaxPrepare (kReference), reference/softmax.h Softmax (quantized)
    sx, _, sy, zy, lo, hi = _check_tflite_softmax(x_scale, x_zp, y_scale, y_zp, dtype)
    mult, shift, diff_min = _tflite_softmax_params(sx, qops.attr_f32(beta, "beta"))

    def row_fn(row):
        top = max(row)
        exps = [gl.exp_on_negative_values(fp.multiply_by_quantized_multiplier(q - top, mult, shift), 5)
                if q - top >= diff_min else None for q in row]
        total = 0
        for e in exps:
            total = fp.wrap32(total + (gl.rescale(e, 0, 12) if e is not None else 0))
        recip, over = gl.get_reciprocal(total, 12)
        if not 0 <= over + 23 <= 31:
            raise SpecError(f"SOFTMAX: exponent {over + 23} outside [0, 31] (TFLITE_CHECK)")
        return [lo if e is None else clamp(fp.rounding_divide_by_pot(gl.mul(recip, e), over + 23) + lo, lo, hi)
                for e in exps]
    return along_rows(x, dtype, axis, row_fn)


def softmax_tflite_optimized(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", axis=-1, beta=1.0):
    """LiteRT optimized int8/uint8 SOFTMAX on x86 (no uint16 LUT): table t(d) = expf(fl(fl(-sx * beta)
    * d)) for d = max - q; binary32 row sum s; inv = fl(1 / fl(s * sy)); p = fl(t * inv);
    int8: round-half-away(p) + zy; uint8: (int)fl(p + 0.5f) (zero point not added); clamped.
    Outputs that depend on expf (within 1 ulp) are ImplementationDefined (monotone bounds)."""
    # Reproduces: LiteRT 2.3.0 optimized_ops.h PopulateSoftmaxLookupTable, Softmax<In, Out>, QuantizeSoftmaxOutput
    sx, _, sy, zy, lo, hi = _check_tflite_softmax(x_scale, x_zp, y_scale, y_zp, dtype)
    scale = fl32(-sx * qops.attr_f32(beta, "beta"))

    def out(t, inv):
        p = fl32(t * inv)
        return clamp(half_away(p) + zy if dtype == "int8" else int(fl32(p + Fraction(1, 2))), lo, hi)

    def row_fn(row):
        top = max(row)
        table = {d: certified.candidates("exp", fl32(scale * d), "fp32", EXPF_ULP) for d in {top - q for q in row}}
        ts = [table[top - q] for q in row]
        inv = {k: fl32(1 / fl32(_fsum(pick(t) for t in ts) * sy)) for k, pick in
               (("first", lambda t: t[0]), ("lo", min), ("hi", max))}
        res = []
        for t in ts:
            ends = sorted((out(min(t), inv["hi"]), out(max(t), inv["lo"])))
            res.append(resolve([out(t[0], inv["first"]), *range(ends[0], ends[1] + 1)],
                               f"SOFTMAX table: expf within {EXPF_ULP} ulp"))
        return res
    return along_rows(x, dtype, axis, row_fn)


def f64(v):
    """fl64(v): the binary64 value nearest v (RNE), as a Fraction."""
    return fl("fp64", v)


def wrap16(v):
    """v reduced modulo 2^16 into [-2^15, 2^15) (an int16 store of a wider C int)."""
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul<int16>: (a*b + nudge) / 2^15 truncated."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    n = ab + ((1 << 14) if ab >= 0 else 1 - (1 << 14))
    return wrap16(abs(n) >> 15 if n >= 0 else -(abs(n) >> 15))


def _sdhm16(a, b):
    """SaturatingDoublingHighMul<int16> (hard_swish.h): a*b / 2^15 truncated toward zero."""
    if a == b == -(1 << 15):
        return (1 << 15) - 1
    ab = a * b
    return wrap16(ab >> 15 if ab >= 0 else -((-ab) >> 15))


def _rdbpot16(x, e):
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _sat_lshift16(v, n):
    return clamp(v * (1 << n), -(1 << 15), (1 << 15) - 1)


def _int16_multiplier(real):
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier: (m16, exponent)."""
    m, e = fp.quantize_multiplier(real)
    return (0x7FFF if m >= 0x7FFFFFFF - (1 << 15) else (m + (1 << 15)) >> 16), e


def hard_swish_tflite(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8"):
    """LiteRT reference HARD_SWISH in int16 fixed point (see the steps in the body)."""
    # Reproduces: LiteRT 2.3.0 activations.cc HardSwishPrepare, reference/hard_swish.h HardSwish (quantized)
    sx, zx, sy, zy, lo, hi = quant_params(x_scale, x_zp, y_scale, y_zp, dtype)
    hires = fl32(sx / 128)
    out_m, out_e = _int16_multiplier(fl32(hires / sy))
    if out_e > 0:
        raise Unpredictable(f"HARD_SWISH output multiplier exponent {out_e} > 0 (Prepare fails)")
    rel_m, rel_e = _int16_multiplier(fl32(hires / fl32(Fraction(3, 32768))))

    def entry(q):
        x_hi = wrap16((q - zx) * 128)                 # input on the hi-res scale
        pre_out = _srdhm16(x_hi, out_m)                  # ~ output scale, before the shift
        r = _sat_lshift16(x_hi, rel_e - 1) if rel_e > 0 else x_hi
        r = _srdhm16(r, rel_m)
        if rel_e > 0:
            r = _sat_lshift16(r, 1)
        elif rel_e < 0:
            r = _rdbpot16(r, -rel_e)
        r = (r + (1 << 15)) >> 1                         # [-1, 1] -> [0, 1]
        out = wrap16(_rdbpot16(_sdhm16(r, pre_out), -out_e) + zy)
        return clamp(out, lo, hi)
    return elementwise(x, dtype, entry)


# ##########################################################################
# gemmlowp fixed point: tflite-micro int8 reference LOGISTIC / TANH (refquant/gemmlowp.py)
# ##########################################################################

def _tflm_input(sx, integer_bits):
    """tflite-micro CalculateArithmeticOpData: (multiplier, left_shift, range_radius) for Q(bits)."""
    m, shift = fp.frexp_exact(fl("fp64", sx * (1 << (31 - integer_bits))))
    mult = half_away(m * (1 << 31))
    radius = ((1 << integer_bits) - 1) * Fraction(1 << (31 - integer_bits)) / Fraction(2) ** shift
    return mult, shift, int(radius) if radius >= 0 else -int(-radius)


def _tflm_fixed(x, x_scale, x_zp, dtype, fn, out_shift, out_zp):
    sx, zx, _, _, lo, hi = quant_params(x_scale, x_zp, 1, 0, dtype)
    mult, shift, radius = _tflm_input(sx, 4)

    def entry(q):
        v = q - zx
        if v <= -radius:
            return lo
        if v >= radius:
            return hi
        raw = fn(fp.multiply_by_quantized_multiplier(v, mult, shift), 4)
        return clamp(fp.rounding_divide_by_pot(raw, out_shift) + out_zp, lo, hi)
    return elementwise(x, dtype, entry)


def sigmoid_tflm(x, x_scale, x_zp, y_scale=Fraction(1, 256), y_zp=-128, *, dtype="int8"):
    """tflite-micro int8 reference LOGISTIC: MBQM into Q4.27, gemmlowp logistic, RDBPOT by 23,
    -128 (the output is always scale 1/256, zero point -128); |q - zx| >= radius saturates."""
    # Reproduces: tflite-micro kernels/internal/reference/integer_ops/logistic.h, logistic_common.cc
    if Fraction(y_scale) != Fraction(1, 256) or y_zp != -128 or dtype != "int8":
        raise InvalidValueError("tflite-micro int8 LOGISTIC needs output scale 1/256, zero point -128, int8")
    return _tflm_fixed(x, x_scale, x_zp, dtype, gl.logistic, 23, -128)


def tanh_tflm(x, x_scale, x_zp, y_scale=Fraction(1, 128), y_zp=0, *, dtype="int8"):
    """tflite-micro int8 reference TANH: MBQM into Q4.27, gemmlowp tanh, RDBPOT by 24, zero point 0."""
    # Reproduces: tflite-micro kernels/internal/reference/integer_ops/tanh.h, tanh_common.cc
    if Fraction(y_scale) != Fraction(1, 128) or y_zp != 0 or dtype != "int8":
        raise InvalidValueError("tflite-micro int8 TANH needs output scale 1/128, zero point 0, int8")
    return _tflm_fixed(x, x_scale, x_zp, dtype, gl.tanh, 24, 0)


VARIANTS = {
    "sigmoid": {"exact": sigmoid_exact, "ort_qlinear": sigmoid_ort, "tflite_lut": sigmoid_tflite_lut,
                "xnnpack_lut": sigmoid_xnnpack, "tflm_fixed": sigmoid_tflm},
    "tanh": {"exact": tanh_exact, "tflite_lut": tanh_tflite_lut, "xnnpack_lut": tanh_xnnpack, "tflm_fixed": tanh_tflm},
    "softmax": {"exact": softmax_exact, "ort_qlinear": softmax_ort, "tflite_ref": softmax_tflite,
                "tflite_optimized": softmax_tflite_optimized},
    "leaky_relu": {"ort_qlinear": leaky_relu_ort, "tflite_ref": leaky_relu_tflite, "xnnpack": leaky_relu_xnnpack},
    "hard_swish": {"exact": hard_swish_exact, "tflite_ref": hard_swish_tflite},
    "gelu": {"exact": gelu_exact},
    "quick_gelu": {"exact": quick_gelu_exact},
}
