"""com.microsoft QGemm and DynamicQuantizeMatMul: the specification ideal and onnxruntime 1.32.0.

Both multiply quantized matrices with an exact int32 accumulator (``ops.matmul_integer``, int32
wrap as MLAS) and differ only in how the accumulator becomes the output:

* QGemm: ``acc = C + sum_k (a - za)(b - zb)`` (C int32, broadcast to M x N); with ``y_scale`` the
  output is quantized, ``Q(alpha*sa*sb_j*acc / sy)``, else it is float ``alpha*sa*sb_j*acc``.
* DynamicQuantizeMatMul: A (float32) is quantized by DynamicQuantizeLinear (uint8), then
  ``y = sa*sb*acc + bias`` in float.

``exact`` does each with one rounding (RNE on the exact rational; a float output is the binary32
value nearest the exact one); ``ort`` follows onnxruntime 1.32.0 (contrib_ops/cpu/quantization/
quant_gemm.cc, dynamic_quantize_matmul.cc, MLAS MlasRequantizeOutput / the scale-bias output
processor): every binary32 step rounded.  Float outputs are exact ``Fraction`` values of binary32
numbers.  Stdlib only (docs/architecture.md).
"""

from fractions import Fraction

from . import movement as mv
from . import ops
from . import qops
from . import requant as rq
from .errors import InvalidValueError, ShapeError
from .integers import get_type, wrap
from .quantize import dynamic_quantize
from .rounding import half_even

F32 = "fp32"


def _matrix(x, name):
    flat, shape = mv.tensor(x, name)
    if len(shape) != 2:
        raise ShapeError(f"{name} must be a matrix (2-D), got shape {list(shape)}")
    return mv.nest(flat, shape)


def _b_params(b_scale, b_zero_point, n, t, scale_format):
    """Per-column (or per-tensor) scales and zero points of B, one per output column."""
    scales = mv.plain(b_scale)
    scales = scales if isinstance(scales, (list, tuple)) else [scales]
    zps = mv.plain(b_zero_point)
    zps = zps if isinstance(zps, (list, tuple)) else [zps]
    if len(scales) not in (1, n) or len(zps) not in (1, n):
        raise ShapeError(f"b_scale / b_zero_point have {len(scales)} / {len(zps)} values; expected 1 or {n}")
    sb = [qops.scale(s, f"b_scale[{j}]", scale_format) for j, s in enumerate(scales)]
    zb = [qops.zero_point(z, t, f"b_zero_point[{j}]") for j, z in enumerate(zps)]
    return (sb * n if len(sb) == 1 else sb), (zb * n if len(zb) == 1 else zb)


def _bias_matrix(c, m, n):
    """QGemm's C (int32) broadcast to M x N: (), (1,), (N,), (1, N), (M, 1) or (M, N)."""
    if c is None:
        return [[0] * n for _ in range(m)]
    flat, shape = mv.tensor(c, "C")
    if len(flat) == 1:
        return [[flat[0]] * n for _ in range(m)]
    if shape in ((n,), (1, n)):
        return [list(flat) for _ in range(m)]
    if shape == (m, 1):
        return [[flat[i]] * n for i in range(m)]
    if shape == (m, n):
        return mv.nest(flat, shape)
    raise ShapeError(f"C has shape {list(shape)}; expected a scalar, (N,), (1, N), (M, 1) or (M, N) for M={m}, N={n}")


def _qgemm_acc(a, a_zero_point, b, b_zero_point, c, trans_a, trans_b, a_type, b_type):
    a, b = _matrix(a, "A"), _matrix(b, "B")
    a = mv.transpose(a) if trans_a else a
    b = mv.transpose(b) if trans_b else b
    acc = ops.matmul_integer(a, b, a_zero_point, b_zero_point, a_type, b_type)
    bias = _bias_matrix(c, len(acc), len(acc[0]) if acc else 0)
    return [[wrap("int32", v + w) for v, w in zip(r, q)] for r, q in zip(acc, bias)]


def qgemm_exact(a, a_scale, a_zero_point, b, b_scale, b_zero_point, c=None, y_scale=None, y_zero_point=None, *,
                alpha=1.0, trans_a=0, trans_b=0, a_type="uint8", b_type="int8", y_type=None, scale_format="fp32"):
    """QGemm, exact: acc = C + A'B' (int32); y = sat(RNE(alpha*sa*sb_j*acc/sy) + zy), or without
    y_scale the binary32 value nearest alpha*sa*sb_j*acc."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QGemm (the formula, one rounding)
    ta, tb = get_type(a_type), get_type(b_type)
    acc = _qgemm_acc(a, qops.zero_point(a_zero_point, ta, "a_zero_point"), b, mv.plain(b_zero_point), c,
                     trans_a, trans_b, ta.name, tb.name)
    sa, al = qops.scale(a_scale, "a_scale", scale_format), qops.attr_f32(alpha, "alpha")
    sb, _ = _b_params(b_scale, b_zero_point, len(acc[0]), tb, scale_format)
    if y_scale is None:
        return [[rq.fl32(al * sa * sb[j] * v) for j, v in enumerate(r)] for r in acc]
    ty = get_type(y_type or a_type)
    sy, zy = qops.scale(y_scale, "y_scale", scale_format), qops.zero_point(y_zero_point, ty, "y_zero_point")
    return [[qops.quantize_real(al * sa * sb[j] * v, sy, zy, ty) for j, v in enumerate(r)] for r in acc]


def ort_qgemm(a, a_scale, a_zero_point, b, b_scale, b_zero_point, c=None, y_scale=None, y_zero_point=None, *,
              alpha=1.0, trans_a=0, trans_b=0, a_type="uint8", b_type="int8", y_type=None, scale_format="fp32"):
    """onnxruntime QGemm: s_j = fl(fl(alpha*sa)*sb_j), with y_scale s_j = fl(s_j/sy); quantized
    output v = fl(fl(acc)*s_j), clamped in float to [qmin - zy, qmax - zy], RNE, + zy (MLAS
    MlasRequantizeOutput); float output fl(fl(acc)*s_j)."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/quant_gemm.cc (ComputeOutputScale, post processors)
    ta, tb = get_type(a_type), get_type(b_type)
    acc = _qgemm_acc(a, qops.zero_point(a_zero_point, ta, "a_zero_point"), b, mv.plain(b_zero_point), c,
                     trans_a, trans_b, ta.name, tb.name)
    sa, al = qops.scale(a_scale, "a_scale", scale_format), qops.attr_f32(alpha, "alpha")
    sb, _ = _b_params(b_scale, b_zero_point, len(acc[0]), tb, scale_format)
    s = [rq.fmul(F32, rq.fmul(F32, al, sa), x) for x in sb]
    if y_scale is None:
        return [[rq.fmul(F32, rq.fl32(v), s[j]) for j, v in enumerate(r)] for r in acc]
    ty = get_type(y_type or a_type)
    sy, zy = qops.scale(y_scale, "y_scale", scale_format), qops.zero_point(y_zero_point, ty, "y_zero_point")
    s = [rq.fdiv(F32, x, sy) for x in s]
    lo, hi = Fraction(ty.min - zy), Fraction(ty.max - zy)
    return [[_cvt(min(max(rq.fmul(F32, rq.fl32(v), s[j]), lo), hi)) + zy for j, v in enumerate(r)] for r in acc]


def _cvt(v):
    """cvtps2dq after a float clamp: a finite binary32 integer-or-not in range, RNE."""
    if rq.is_special(v):
        return -(2**31)
    return half_even(v)


def _bias_values(bias, n):
    if bias is None:
        return None
    flat, shape = mv.tensor(bias, "bias")
    if len(flat) != n:
        raise ShapeError(f"bias has {len(flat)} values; expected {n} (one per column of B)")
    return [rq.fl32(Fraction(v)) for v in flat]


def _dq_matmul(a, b, b_scale, b_zero_point, b_type, scale_format, profile):
    """(accumulators, a_scale, per-column b scales) after DynamicQuantizeLinear of A."""
    tb = get_type(b_type)
    a = _matrix(a, "A")
    q, sa, za = dynamic_quantize(a, profile)
    q = q.tolist() if hasattr(q, "tolist") else q
    n = len(_matrix(b, "B")[0])
    sb, zb = _b_params(b_scale, b_zero_point, n, tb, scale_format)
    acc = ops.matmul_integer(q, b, za, zb, "uint8", tb.name)
    return acc, Fraction(sa), sb


def dynamic_quantize_matmul_exact(a, b, b_scale, b_zero_point=0, bias=None, *, b_type="int8", scale_format="fp32"):
    """DynamicQuantizeMatMul, exact: A by the ONNX DynamicQuantizeLinear spec, then
    y = fl32(sa*sb_j*acc + bias_j) (one rounding)."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.DynamicQuantizeMatMul; ONNX DynamicQuantizeLinear-11
    acc, sa, sb = _dq_matmul(a, b, b_scale, b_zero_point, b_type, scale_format, "onnx")
    bias = _bias_values(bias, len(sb)) or [0] * len(sb)
    return [[rq.fl32(sa * sb[j] * v + bias[j]) for j, v in enumerate(r)] for r in acc]


def ort_dynamic_quantize_matmul(a, b, b_scale, b_zero_point=0, bias=None, *, b_type="int8", scale_format="fp32"):
    """onnxruntime DynamicQuantizeMatMul: A quantized as its DynamicQuantizeLinear (refquant profile
    'onnxruntime'); multiplier m_j = fl(sa*sb_j); y = fl(fl(acc)*m_j), then fl(y + bias_j)."""
    # Reproduces: onnxruntime 1.32.0 contrib_ops/cpu/quantization/dynamic_quantize_matmul.cc, MLAS scale-bias output
    acc, sa, sb = _dq_matmul(a, b, b_scale, b_zero_point, b_type, scale_format, "onnxruntime")
    m = [rq.fmul(F32, sa, s) for s in sb]
    bias = _bias_values(bias, len(sb))
    out = [[rq.fmul(F32, rq.fl32(v), m[j]) for j, v in enumerate(r)] for r in acc]
    if bias is not None:
        out = [[rq.fadd(F32, v, bias[j]) for j, v in enumerate(r)] for r in out]
    return out


def check_alpha(alpha):
    """QGemm's alpha must be a finite float attribute."""
    # Reproduces: onnxruntime ContribOperators.md com.microsoft.QGemm (alpha: float, default 1.0)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise InvalidValueError(f"alpha = {alpha!r} must be a float")
    return qops.attr_f32(alpha, "alpha")


VARIANTS = {
    "qgemm": {"exact": qgemm_exact, "ort": ort_qgemm},
    "dynamic_quantize_matmul": {"exact": dynamic_quantize_matmul_exact, "ort": ort_dynamic_quantize_matmul},
}
