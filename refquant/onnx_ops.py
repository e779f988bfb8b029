"""The ONNX peers' arithmetic for quantized element-wise and pooling ops, step by step.

Two backends, each modelled exactly (every binary32 step is ``requant.fl32`` of the exact result):

* ``ort``: onnxruntime 1.32.0, CPU execution provider on x86-64 with AVX2 (MLAS), the
  com.microsoft contrib ops QLinearAdd, QLinearMul, QLinearAveragePool,
  QLinearGlobalAveragePool and QLinearConcat (onnxruntime/contrib_ops/cpu/quantization/*.cc and
  onnxruntime/core/mlas/lib/{qladd,qlmul,qlgavgpool}.cpp, intrinsics/avx2/qladd_avx2.cpp).
* ``onnx_ref``: the QDQ form (DequantizeLinear -> float op -> QuantizeLinear) as the onnx 1.21.0
  ReferenceEvaluator computes it: numpy float32 arithmetic (onnx/reference/ops/op_*.py).

Each function has the signature of its ``qops`` ideal, so a backend row can name it per op
(refquant/backends.py).  docs/ops.md lists the cases run against each peer and every difference.
Stdlib only (docs/architecture.md).
"""

from fractions import Fraction
from math import prod

from . import formats
from . import movement as mv
from . import qops
from . import requant as rq
from .errors import InvalidValueError, ShapeError
from .integers import get_type
from .quantize import quantize_value
from .rounding import half_even

F32 = "fp32"
INT32_MIN = -(2**31)
ORT_TYPES = ("int8", "uint8")


# ##########################################################################
# x86 conversions and packs (the MLAS epilogues)
# ##########################################################################

def cvtps2dq(v):
    """x86 float -> int32, RNE; NaN, inf and out-of-range give INT32_MIN (the integer indefinite)."""
    # Reproduces: Intel SDM CVTPS2DQ / CVTSS2SI (invalid conversion returns 0x80000000)
    if rq.is_special(v):
        return INT32_MIN
    n = half_even(v)
    return n if -(2**31) <= n < 2**31 else INT32_MIN


def pack_8bit(n, t):
    """int32 -> int16 (packs_epi32, saturating) -> 8 bits (packus_epi16 / packs_epi16, saturating)."""
    # Reproduces: Intel SDM PACKSSDW, PACKUSWB / PACKSSWB
    return min(max(min(max(n, -32768), 32767), t.min), t.max)


def ort_type(dtype, y_dtype):
    """The IntType of an op onnxruntime registers for int8 and uint8 only, with one type in and out."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization kernel registrations (int8_t, uint8_t)
    t = get_type(dtype)
    if t.name not in ORT_TYPES or (y_dtype is not None and get_type(y_dtype) != t):
        raise InvalidValueError(f"onnxruntime 1.32.0 runs this op for int8 or uint8 with one type in and out, "
                                f"got {t.name} -> {get_type(y_dtype or dtype).name}")
    return t


# ##########################################################################
# QLinearAdd / QLinearMul
# ##########################################################################

def ort_broadcast_swaps(shape_a, shape_b):
    """True when onnxruntime runs A as the per-span scalar (its Input0Scalar case), which calls the
    MLAS kernel with A and B exchanged: the innermost axis with more than one output element has
    size 1 in A (or A has one element)."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_binary_op.cc (span functors)
    out = qops.broadcast_shape(shape_a, shape_b)
    pa = (1,) * (len(out) - len(shape_a)) + tuple(shape_a)
    pb = (1,) * (len(out) - len(shape_b)) + tuple(shape_b)
    for d in reversed(range(len(out))):
        if out[d] != 1:
            return pa[d] == 1 and pb[d] != 1
    return True


def _ort_add_one(x, rx, zx, y, ry, zy, zc):
    """The AVX2 kernel on one element, x the span input, y the other: FMA-contracted binary32.
    fixed = fl(zc - fma(rx, zx, fl(ry*zy))), v = fma(x, rx, fma(y, ry, fixed))."""
    fixed = rq.fadd(F32, zc, -rq.ffma(F32, rx, zx, rq.fmul(F32, ry, zy)))
    return rq.ffma(F32, x, rx, rq.ffma(F32, y, ry, fixed))


def _ort_binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                     scale_format):
    """The checked arguments of ORT's QLinearAdd / QLinearMul: type, tensors, scales, zero points."""
    t = ort_type(dtype, y_dtype)
    fa, fb = qops.qtensor(a, t, "a"), qops.qtensor(b, t, "b")
    scales = tuple(qops.scale(s, n, scale_format) for s, n in
                   ((a_scale, "a_scale"), (b_scale, "b_scale"), (y_scale, "y_scale")))
    zps = tuple(qops.zero_point(z, t, n) for z, n in
                ((a_zero_point, "a_zero_point"), (b_zero_point, "b_zero_point"), (y_zero_point, "y_zero_point")))
    return t, fa, fb, scales, zps


def ort_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """onnxruntime QLinearAdd: rA = fl(sa/sy), rB = fl(sb/sy); fixed = fl(zy - fma(rA, za, fl(rB*zb)));
    v = fma(a, rA, fma(b, rB, fixed)) (A and B exchanged where A is the span scalar); cvtps2dq (RNE),
    int16 then 8-bit saturating packs."""
    # Reproduces: onnxruntime 1.32.0 mlas/lib/intrinsics/avx2/qladd_avx2.cpp (GCC -ffp-contract=fast FMAs)
    t, fa, fb, (sa, sb, sy), (za, zb, zy) = _ort_binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                            y_scale, y_zero_point, dtype, y_dtype, scale_format)
    ra, rb = rq.fdiv(F32, sa, sy), rq.fdiv(F32, sb, sy)
    pairs, shape = qops.broadcast_pairs(fa, fb)
    if ort_broadcast_swaps(fa[1], fb[1]):
        out = [_ort_add_one(y, rb, zb, x, ra, za, zy) for x, y in pairs]
    else:
        out = [_ort_add_one(x, ra, za, y, rb, zb, zy) for x, y in pairs]
    return mv.nest([pack_8bit(cvtps2dq(v), t) for v in out], shape)


def ort_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """onnxruntime QLinearMul: M = fl(fl(sa*sb)/sy); p = (a-za)(b-zb) exact; v = fl(fl(p*M) + zy);
    cvtps2dq (RNE), int16 then 8-bit saturating packs (no float clamp; SSE2, no FMA)."""
    # Reproduces: onnxruntime 1.32.0 mlas/lib/qlmul.cpp (MLAS_SSE2_INTRINSICS MlasQLinearMulKernel)
    t, fa, fb, (sa, sb, sy), (za, zb, zy) = _ort_binary_args(a, a_scale, a_zero_point, b, b_scale, b_zero_point,
                                                            y_scale, y_zero_point, dtype, y_dtype, scale_format)
    m = rq.fdiv(F32, rq.fmul(F32, sa, sb), sy)
    pairs, shape = qops.broadcast_pairs(fa, fb)
    return mv.nest([pack_8bit(cvtps2dq(rq.fadd(F32, rq.fmul(F32, (x - za) * (y - zb), m), zy)), t)
                    for x, y in pairs], shape)


# ##########################################################################
# QLinearAveragePool / QLinearGlobalAveragePool
# ##########################################################################

def ort_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """onnxruntime QLinearGlobalAveragePool (NCHW): acc = sum(x) - zx*N in int32; scale =
    fl(sx / fl(sy*N)); v = fl(fl(acc)*scale) clamped in float to [qmin-zy, qmax-zy]; cvtps2dq; + zy.
    MLAS rejects N >= 2^24 and scale outside [2^-32, 256)."""
    # Reproduces: onnxruntime 1.32.0 mlas/lib/qlgavgpool.cpp (SSE2 MlasQLinearGlobalAveragePoolNchw)
    t = ort_type(dtype, None)
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) < 3:
        raise ShapeError(f"QLinearGlobalAveragePool input has shape {list(shape)}; expected N, C, spatial...")
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    return mv.nest(_ort_global_planes(flat, prod(shape[2:]), sx, zx, sy, zy, t),
                   tuple(shape[:2]) + (1,) * (len(shape) - 2))


def _ort_global_planes(flat, n, sx, zx, sy, zy, t):
    """One output per plane of n elements: the MLAS integer sum and binary32 requantization."""
    scale = rq.fdiv(F32, sx, rq.fmul(F32, sy, n))
    if n >= 2**24 or rq.is_special(scale) or not Fraction(1, 2**32) <= scale < 256:
        raise InvalidValueError(f"onnxruntime QLinearGlobalAveragePool rejects image size {n} with scale "
                                f"fl(sx/(sy*N)) = {scale} (MLAS needs N < 2^24 and scale in [2^-32, 256))")
    lo, hi = Fraction(t.min - zy), Fraction(t.max - zy)
    out = []
    for base in range(0, len(flat), n):
        v = rq.fmul(F32, rq.fl32(sum(flat[base:base + n]) - zx * n), scale)
        out.append(cvtps2dq(min(max(v, lo), hi)) + zy)
    return out


def ort_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                 dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """onnxruntime QLinearAveragePool (NCHW, 1-3 spatial axes): xf = fl(sx*(x-zx)); the window sum in
    binary32, row-major; y = fl(sum / n) with n = the valid count, or the whole kernel size with
    count_include_pad (also past the end padding under ceil_mode); q = nearbyint(fl(fl(y/sy) + zy)),
    clamped.  A kernel equal to the spatial shape with no pads runs QLinearGlobalAveragePool."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_pool.cc (QLinearPool{1,2,3}DTask)
    t = ort_type(dtype, None)
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) < 3 or len(kernel_shape) != len(shape) - 2 or len(kernel_shape) > 3:
        raise ShapeError(f"QLinearAveragePool input {list(shape)} with kernel_shape {list(kernel_shape)}")
    if dilations is not None and any(d != 1 for d in dilations):
        raise InvalidValueError(f"onnxruntime QLinearAveragePool has no dilations, got {list(dilations)}")
    if tuple(kernel_shape) == tuple(shape[2:]) and not any(pads or ()):
        return ort_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype=dtype,
                                   scale_format=scale_format)
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    out_spatial, windows = qops.pool_windows(shape[2:], kernel_shape, strides, pads, None, ceil_mode)
    xf = {v: rq.fmul(F32, sx, v - zx) for v in range(t.min, t.max + 1)}
    plane, out = prod(shape[2:]), []
    for base in range(0, len(flat), plane):
        for offsets, _ in windows:
            s = Fraction(0)
            for i in offsets:
                s = rq.fadd(F32, s, xf[flat[base + i]])
            y = rq.fdiv(F32, s, prod(kernel_shape) if count_include_pad else len(offsets))
            q = cvtps2dq(rq.fadd(F32, rq.fdiv(F32, y, sy), zy))   # nearbyintf, then the int32 cast
            out.append(min(max(q, t.min), t.max))
    return mv.nest(out, tuple(shape[:2]) + out_spatial)


# ##########################################################################
# QLinearConcat
# ##########################################################################

def ort_concat(inputs, y_scale, y_zero_point, *, axis, dtype="uint8", scale_format="fp32"):
    """onnxruntime QLinearConcat: an input with the output's scale and zero point is copied; any
    other goes through a 256-entry table, MlasQuantizeLinear(fl(sx*(x-zx)), sy, zy) (divps, clamp
    in float, cvtps2dq: refquant profile 'onnxruntime')."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/qlinear_concat.cc, qlinear_lookup_table.cc
    t = ort_type(dtype, None)
    sy = qops.scale(y_scale, "y_scale", scale_format)
    zy = qops.zero_point(y_zero_point, t, "y_zero_point")
    parts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise InvalidValueError(f"concat inputs[{i}] must be (tensor, scale, zero point)")
        flat, shape = qops.qtensor(item[0], t, f"inputs[{i}]")
        sx = qops.scale(item[1], f"inputs[{i}] scale", scale_format)
        zx = qops.zero_point(item[2], t, f"inputs[{i}] zero point")
        if (sx, zx) != (sy, zy):
            table = {v: quantize_value(formats.real(rq.fmul(F32, sx, v - zx)), float(sy), zy, t.name,
                                       "onnxruntime") for v in set(flat)}
            flat = [table[v] for v in flat]
        parts.append(mv.nest(flat, shape))
    return mv.concat_same(parts, axis)


# ##########################################################################
# The onnx 1.21.0 ReferenceEvaluator on the QDQ form (numpy float32)
# ##########################################################################

def numpy_sum32(values):
    """numpy's float32 add.reduce of a contiguous run, in its order: fewer than 8 values one by one;
    up to 128 in eight interleaved partial sums combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)),
    then the rest one by one; longer runs split in two halves (the first a multiple of 8)."""
    # Reproduces: numpy 2.1 numpy/_core/src/umath/loops_utils.h.src pairwise_sum (PW_BLOCKSIZE 128)
    n = len(values)
    if n < 8:
        s = Fraction(0)
        for v in values:
            s = rq.fadd(F32, s, v)
        return s
    if n <= 128:
        r = list(values[:8])
        i = 8
        while i < n - n % 8:
            r = [rq.fadd(F32, r[j], values[i + j]) for j in range(8)]
            i += 8
        add = lambda x, y: rq.fadd(F32, x, y)   # noqa: E731
        s = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])))
        for v in values[i:]:
            s = rq.fadd(F32, s, v)
        return s
    half = n // 2
    half -= half % 8
    return rq.fadd(F32, numpy_sum32(values[:half]), numpy_sum32(values[half:]))


def ref_dequantize(v, s, z):
    """onnx reference DequantizeLinear of one value: (float32(x) - float32(zp)) * scale in float32."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_dequantize_linear.py
    return rq.fmul(F32, v - z, s)


def ref_quantize(v, s, z, t):
    """onnx reference QuantizeLinear of one float32 value (refquant profile 'onnx_ref')."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_quantize_linear.py (x / scale, rint, + zp, clip)
    return quantize_value(formats.real(v), float(s), z, t.name, "onnx_ref")


def _ref_binary(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, dtype, y_dtype, scale_format, op):
    t, ty = qops.types(dtype, y_dtype)
    fa, fb = qops.qtensor(a, t, "a"), qops.qtensor(b, t, "b")
    sa, sb, sy = (qops.scale(s, n, scale_format) for s, n in
                  ((a_scale, "a_scale"), (b_scale, "b_scale"), (y_scale, "y_scale")))
    za, zb = qops.zero_point(a_zp, t, "a_zero_point"), qops.zero_point(b_zp, t, "b_zero_point")
    zy = qops.zero_point(y_zp, ty, "y_zero_point")
    pairs, shape = qops.broadcast_pairs(fa, fb)
    return mv.nest([ref_quantize(op(ref_dequantize(x, sa, za), ref_dequantize(y, sb, zb)), sy, zy, ty)
                    for x, y in pairs], shape)


def ref_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """QDQ Add in the onnx reference: y = Q(fl(DQ(a) + DQ(b))), DQ and Q in float32 numpy."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> Add -> QuantizeLinear
    return _ref_binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                       scale_format, lambda x, y: rq.fadd(F32, x, y))


def ref_sub(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """QDQ Sub in the onnx reference: y = Q(fl(DQ(a) - DQ(b)))."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> Sub -> QuantizeLinear
    return _ref_binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                       scale_format, lambda x, y: rq.fadd(F32, x, -y))


def ref_mul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, *, dtype="uint8",
            y_dtype=None, scale_format="fp32"):
    """QDQ Mul in the onnx reference: y = Q(fl(DQ(a) * DQ(b)))."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> Mul -> QuantizeLinear
    return _ref_binary(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point, dtype, y_dtype,
                       scale_format, lambda x, y: rq.fmul(F32, x, y))


def _ref_unary(x, x_scale, x_zp, y_scale, y_zp, dtype, y_dtype, scale_format, fn):
    t, ty = qops.types(dtype, y_dtype)
    flat, shape = qops.qtensor(x, t, "x")
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zp, t, "x_zero_point"), qops.zero_point(y_zp, ty, "y_zero_point")
    table = {v: ref_quantize(fn(ref_dequantize(v, sx, zx)), sy, zy, ty) for v in set(flat)}
    return mv.nest([table[v] for v in flat], shape)


def ref_requantize(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None,
                   scale_format="fp32"):
    """DequantizeLinear -> QuantizeLinear in the onnx reference: Q(fl((x-zx)*sx))."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> QuantizeLinear
    return _ref_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format, lambda v: v)


def ref_relu(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None, scale_format="fp32"):
    """QDQ Relu in the onnx reference: Q(max(DQ(x), 0))."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> Relu -> QuantizeLinear
    return _ref_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format,
                      lambda v: max(v, 0))


def ref_clamp(x, x_scale, x_zero_point, y_scale, y_zero_point, *, min=None, max=None, dtype="uint8",  # noqa: A002
              y_dtype=None, scale_format="fp32"):
    """QDQ Clip in the onnx reference: Q(np.clip(DQ(x), min, max)) with float32 bounds."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear -> Clip (opset 13) -> QuantizeLinear
    lo = None if min is None else qops.attr_f32(min, "min")
    hi = None if max is None else qops.attr_f32(max, "max")

    def clip(v):
        v = v if lo is None or v >= lo else lo
        return v if hi is None or v <= hi else hi
    return _ref_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format, clip)


def ref_leaky_relu(x, x_scale, x_zero_point, y_scale, y_zero_point, *, alpha=0.01, dtype="uint8", y_dtype=None,
                   scale_format="fp32"):
    """QDQ LeakyRelu in the onnx reference: v if v > 0 else fl(v * alpha), alpha the float32 attribute."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_leaky_relu.py between DequantizeLinear and QuantizeLinear
    a = qops.attr_f32(alpha, "alpha")
    return _ref_unary(x, x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format,
                      lambda v: v if v > 0 else rq.fmul(F32, v, a))


def ref_concat(inputs, y_scale, y_zero_point, *, axis, dtype="uint8", scale_format="fp32"):
    """QDQ Concat in the onnx reference: each input dequantized in float32, joined, quantized once."""
    # Reproduces: onnx 1.21.0 ReferenceEvaluator, DequantizeLinear x N -> Concat -> QuantizeLinear
    parts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, (list, tuple)) or len(item) != 3:
            raise InvalidValueError(f"concat inputs[{i}] must be (tensor, scale, zero point)")
        parts.append(ref_requantize(item[0], item[1], item[2], y_scale, y_zero_point, dtype=dtype,
                                    scale_format=scale_format))
    return mv.concat_same(parts, axis)


def ref_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                 dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", scale_format="fp32"):
    """QDQ AveragePool in the onnx reference: each window's float32 values in row-major order (with
    count_include_pad, 0.0 at its padded positions inside the padded input) averaged by np.average
    (numpy's pairwise float32 sum, then one division), quantized."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_pool_common.py pool(), np.average of a float32 window
    t = get_type(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) < 3:
        raise ShapeError(f"AveragePool input has shape {list(shape)}; expected N, C, spatial...")
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    xf = {v: ref_dequantize(v, sx, zx) for v in range(t.min, t.max + 1)}
    out_spatial, cells = qops.pool_cells(shape[2:], kernel_shape, strides, pads, dilations, ceil_mode)
    if not count_include_pad:
        cells = [[c for c in window if c is not None] for window in cells]
    plane, out = prod(shape[2:]), []
    for base in range(0, len(flat), plane):
        for window in cells:
            vals = [Fraction(0) if c is None else xf[flat[base + c]] for c in window]
            out.append(ref_quantize(rq.fdiv(F32, numpy_sum32(vals), len(vals)), sy, zy, t))
    return mv.nest(out, tuple(shape[:2]) + out_spatial)


def ref_global_avg_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", scale_format="fp32"):
    """QDQ GlobalAveragePool in the onnx reference: np.average over the spatial axes in float32 (one
    pairwise sum per plane, then one division), quantized."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_global_average_pool.py (np.average, axes 2..)
    t = get_type(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    if len(shape) < 3:
        raise ShapeError(f"GlobalAveragePool input has shape {list(shape)}; expected N, C, spatial...")
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    n = prod(shape[2:])
    out = [ref_quantize(rq.fdiv(F32, numpy_sum32([ref_dequantize(v, sx, zx) for v in flat[b:b + n]]), n), sy, zy, t)
           for b in range(0, len(flat), n)]
    return mv.nest(out, tuple(shape[:2]) + (1,) * (len(shape) - 2))


NUMPY_BUFSIZE = 8192   # numpy's default ufunc buffer size: the longest inner loop of a reduction


def numpy_reduce_sum32(flat, shape, axes):
    """numpy's float32 ``add.reduce`` of a C-contiguous tensor over ``axes``: one sum per kept
    position, in C order.  Size-1 axes drop out and neighbouring axes that are both reduced (or both
    kept) merge.  When the innermost merged axis is reduced, each contiguous run of it is summed
    pairwise (``numpy_sum32``) in blocks of at most 8192 and each block sum is added to its output;
    otherwise every element is added to its output in turn; the outputs start at 0."""
    # Reproduces: numpy 2.1 ufunc reduce (nditer axis coalescing, buffersize 8192) with the
    # float add loop's IS_BINARY_REDUCE branch (out += pairwise_sum(run))
    red = set(axes)
    groups = []
    for i, d in enumerate(shape):
        if d != 1:
            if groups and groups[-1][1] == (i in red):
                groups[-1][0] *= d
            else:
                groups.append([d, i in red])
    out_strides, step = [0] * len(shape), 1
    for i in reversed(range(len(shape))):
        if i not in red:
            out_strides[i], step = step, step * shape[i]
    acc = [Fraction(0)] * step
    in_strides = mv.strides(shape)

    def out_index(k):
        return sum((k // st) % d * o for st, d, o in zip(in_strides, shape, out_strides))
    if groups and groups[-1][1]:
        m = groups[-1][0]
        for base in range(0, len(flat), m):
            o = out_index(base)
            for b in range(base, base + m, NUMPY_BUFSIZE):
                acc[o] = rq.fadd(F32, acc[o], numpy_sum32(flat[b:min(b + NUMPY_BUFSIZE, base + m)]))
    else:
        for k, v in enumerate(flat):
            o = out_index(k)
            acc[o] = rq.fadd(F32, acc[o], v)
    return acc


def ref_mean(x, x_scale, x_zero_point, y_scale, y_zero_point, *, axes=None, keepdims=1, dtype="uint8",
             scale_format="fp32"):
    """QDQ ReduceMean in the onnx reference: np.mean(dtype=float32) over any axes (numpy's reduction
    order, ``numpy_reduce_sum32``), then one division by the count (float64, then float32: the same
    as one binary32 rounding), quantized.  No axes reduces all of them."""
    # Reproduces: onnx 1.21.0 onnx/reference/ops/op_reduce_mean.py (np.mean, dtype float32)
    t = get_type(dtype)
    flat, shape = qops.qtensor(x, t, "x")
    r = len(shape)
    red = sorted(set(range(r))) if not axes else sorted({mv.norm_axis(a, r, "axis") for a in axes})
    if 0 in shape:
        raise InvalidValueError(f"ReduceMean of the empty shape {list(shape)} is not modelled")
    sx, sy = qops.scale(x_scale, "x_scale", scale_format), qops.scale(y_scale, "y_scale", scale_format)
    zx, zy = qops.zero_point(x_zero_point, t, "x_zero_point"), qops.zero_point(y_zero_point, t, "y_zero_point")
    n = prod(shape[i] for i in red)
    sums = numpy_reduce_sum32([ref_dequantize(v, sx, zx) for v in flat], shape, red)
    out = [ref_quantize(rq.fdiv(F32, s, n), sy, zy, t) for s in sums]
    kept = tuple(1 if i in red else d for i, d in enumerate(shape)) if keepdims else \
        tuple(d for i, d in enumerate(shape) if i not in red)
    return mv.nest(out, kept)


VARIANTS = {
    "add": {"ort": ort_add, "onnx_ref": ref_add},
    "sub": {"onnx_ref": ref_sub},
    "mul": {"ort": ort_mul, "onnx_ref": ref_mul},
    "requantize": {"onnx_ref": ref_requantize},
    "relu": {"onnx_ref": ref_relu},
    "clamp": {"onnx_ref": ref_clamp},
    "leaky_relu": {"onnx_ref": ref_leaky_relu},
    "avg_pool": {"ort": ort_avg_pool, "onnx_ref": ref_avg_pool},
    "global_avg_pool": {"ort": ort_global_avg_pool, "onnx_ref": ref_global_avg_pool},
    "concat": {"ort": ort_concat, "onnx_ref": ref_concat},
    "mean": {"onnx_ref": ref_mean},
}
