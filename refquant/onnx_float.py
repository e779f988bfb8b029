"""onnxruntime's float kernels between DequantizeLinear and QuantizeLinear, step by step.

When onnxruntime 1.32.0 does not fuse a QDQ group (graph optimizations below 'extended', an int8
input with a uint8 output or the reverse, 16-bit types; docs/ops.md), it runs
DequantizeLinear -> the float op -> QuantizeLinear on the CPU execution provider (x86-64):

* DequantizeLinear: xf = fl32(sx * (x - zx)) (the integer difference, one binary32 product);
* the float op as MLAS computes it (below);
* QuantizeLinear: MlasQuantizeLinear (divps, clamp in float, cvtps2dq: refquant profile 'onnxruntime').

Ops (variant ``ort_float`` of the QDQ-float op names; ``backends`` rows name them):

* ``qdq_avg_pool``: onnxruntime's own pooling loops (cpu/nn/pool_functors.h; AveragePool-19 and
  later): each window's values one by one in binary32, row-major, then one binary32 division;
* ``qdq_avg_pool_opset11_18``: AveragePool-11..18 runs MlasPool (core/mlas/lib/pooling.cpp): its
  vector kernel sums columns first, its global kernel in four lanes, its generic kernels row-major
  (``mlas_pool_kernel`` says which; ceil_mode with count_include_pad runs onnxruntime's own loops);
* ``qdq_global_avg_pool``: MlasPool's global kernel (core/mlas/lib/pooling.cpp): four binary32
  lanes, reduced as ((l0 + l2) + (l1 + l3)), the last n mod 4 values one by one, one division.
* ``qdq_softmax``: MlasComputeSoftmax (compute.cpp): d = fl32(xf - max), e = MLAS's expf
  polynomial, the binary32 row sum, y = fl32(e * fl32(1 / sum)).  MLAS's expf is taken to be
  within ``MLAS_EXP_ULP`` ulp of exp (its source calls it a faithfully rounded expf) and the
  sum in any order: an output that depends on which is **implementation-defined**
  (``certified.ImplementationDefined``; the correctly rounded exp with a row-major sum first).
* ``qdq_gelu``: ONNX Gelu-20 / com.microsoft Gelu (approximate 'none', cpu/tensor/gelu.cc):
  t = fl32(xf * fl32(M_SQRT1_2)), MlasComputeErf(t) within ``MLAS_ERF_ULP`` ulp,
  y = fl32(fl32(0.5 * xf) * fl32(erf + 1)); implementation-defined where the erf choice matters.

The onnx reference's QDQ pools (numpy's pairwise sums, ``onnx_ops.ref_avg_pool``) and the exact
ideals are the same ops' variants 'onnx_ref' and 'exact'.  Stdlib only (docs/architecture.md).
"""

from fractions import Fraction
from functools import lru_cache
from math import prod

from . import activations as A
from . import certified, formats, qops
from . import movement as mv
from . import onnx_ops as O
from .errors import ShapeError
from .quantize import quantize_value
from .requant import fadd, fdiv, fl, fl32, fmul

F32 = "fp32"
U32 = Fraction(1, 2**24)                 # binary32 unit roundoff: |fl(a + b) - (a + b)| <= U32 |a + b|
MLAS_EXP_ULP = 1                          # MLAS expf: "faithfully rounded" (compute.cpp MlasComputeExpVector)
MLAS_ERF_ULP = 1                          # MLAS erf: the faithfully rounded erff it cites (erf.cpp)
EXP_LOWER = fl32(Fraction("-88.3762626647949"))   # MlasExpConstants.LowerRangeSumExp: inputs clamp here
SQRT1_2 = fl32(fl("fp64", Fraction("0.70710678118654752440")))   # static_cast<float>(M_SQRT1_2)


def _params(x_scale, x_zp, y_scale, y_zp, dtype, y_dtype, scale_format="fp32"):
    tx, ty = qops.types(dtype, y_dtype)
    return (tx, ty, qops.scale(x_scale, "x_scale", scale_format), qops.zero_point(x_zp, tx, "x_zero_point"),
            qops.scale(y_scale, "y_scale", scale_format), qops.zero_point(y_zp, ty, "y_zero_point"))


def dequantize(q, sx, zx):
    """onnxruntime DequantizeLinear of one element: fl32(sx * (q - zx)) (an integer difference)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/quantization/quantize_linear.cc (DequantizeLinear)
    return fmul(F32, sx, q - zx)


def quantize(y, sy, zy, ty):
    """onnxruntime QuantizeLinear of one binary32 value: MlasQuantizeLinear (profile 'onnxruntime')."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/quantize.cpp MlasQuantizeLinear
    return quantize_value(formats.real(y), float(sy), zy, ty.name, "onnxruntime")


# ##########################################################################
# AveragePool (onnxruntime pool_functors) / GlobalAveragePool (MlasPool)
# ##########################################################################

def mlas_global_sum(values):
    """MlasPoolGlobalKernel's sum: lane j adds values j, j+4, ... in binary32; the lanes reduce as
    ((l0 + l2) + (l1 + l3)) (MlasReduceAddFloat32x4); the last n mod 4 values are added one by one."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/pooling.cpp MlasPoolGlobalKernel, mlasi.h MlasReduceAddFloat32x4
    n4 = len(values) - len(values) % 4
    lanes = [Fraction(0)] * 4
    for i in range(0, n4, 4):
        lanes = [fadd(F32, lanes[j], values[i + j]) for j in range(4)]
    s = fadd(F32, fadd(F32, lanes[0], lanes[2]), fadd(F32, lanes[1], lanes[3]))
    for v in values[n4:]:
        s = fadd(F32, s, v)
    return s


def avg_pool_ort_float(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                       dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", y_dtype=None,
                       scale_format="fp32"):
    """onnxruntime's unfused DQ -> AveragePool -> Q: xf = fl32(sx (x - zx)); each window's valid
    values added one by one in binary32 in row-major order from 0.0, one binary32 division by the
    valid count (with count_include_pad, the window's positions inside the padded input);
    MlasQuantizeLinear.  A kernel as large as the input is no exception (not MlasPool's lane sum).
    This is AveragePool-19 and later; models of opset 11-18 run MlasPool's kernels instead
    (``avg_pool_mlas_float``, op qdq_avg_pool_opset11_18)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/nn/pool.cc, pool_functors.h AveragePool{1,2,3}DTask
    tx, ty, sx, zx, sy, zy = _params(x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format)
    flat, shape = qops.qtensor(x, tx, "x")
    if len(shape) < 3 or len(kernel_shape) != len(shape) - 2 or len(kernel_shape) > 3:
        raise ShapeError(f"AveragePool input {list(shape)} with kernel_shape {list(kernel_shape)} (1-3 spatial axes)")
    out_spatial, windows = qops.pool_windows(shape[2:], kernel_shape, strides, pads, dilations, ceil_mode)
    if any(not offsets for offsets, _ in windows):
        raise ShapeError(f"an AveragePool window lies wholly in the padding (pads {pads}, kernel {kernel_shape})")
    xf = {v: dequantize(v, sx, zx) for v in set(flat)}
    n, out = prod(shape[2:]), []
    for base in range(0, len(flat), n):
        for offsets, padded in windows:
            s = Fraction(0)
            for i in offsets:
                s = fadd(F32, s, xf[flat[base + i]])
            out.append(quantize(fdiv(F32, s, padded if count_include_pad else len(offsets)), sy, zy, ty))
    return mv.nest(out, tuple(shape[:2]) + out_spatial)


MLAS_BUFFER = 2048 - 3      # MLAS_POOL_REDUCTION_BUFFER_STACK less the over-read padding: columns + pads must fit


def mlas_pool_kernel(spatial, kernel_shape, strides, pads, ceil_mode, count_include_pad):
    """Which loop onnxruntime 1.32.0 runs for a float AveragePool-11..18: 'ort_loops' (ceil_mode with
    count_include_pad: onnxruntime's own loops, as AveragePool-19), else MlasPool's choice: 'global'
    (kernel = input, strides 1, no pads), 'vector' (2-3 D, last stride <= 2, every kernel <= 32,
    last width + its pads <= 2045: column sums first) or 'generic' (window row-major, one by one)."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/pooling.cpp MlasPool (kernel choice); ceil_mode with
    # count_include_pad measured to run pool_functors.h (tests/test_onnx_float.py, docs/ops.md)
    d = len(spatial)
    strides = [1] * d if strides is None else list(strides)
    pads = [0] * (2 * d) if pads is None else list(pads)
    if ceil_mode and count_include_pad:
        return "ort_loops"
    if list(kernel_shape) == list(spatial) and all(v == 1 for v in strides) and not any(pads):
        return "global"
    if d >= 2 and strides[-1] <= 2 and all(k <= 32 for k in kernel_shape) and \
            spatial[-1] + pads[d - 1] + pads[2 * d - 1] <= MLAS_BUFFER:
        return "vector"
    return "generic"


def mlas_column_sum(values, width):
    """MlasPool{2,3}DVectorKernel's window sum: each column's valid values summed in binary32 down the
    rows (planes, then rows), then the column sums added left to right (a padded column adds 0)."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/pooling.cpp MlasPool2DVectorKernel / MlasPool3DVectorKernel
    cols = {}
    for offset, v in values:
        cols.setdefault(offset % width, []).append(v)
    total = Fraction(0)
    for c in sorted(cols):
        col = Fraction(0)
        for v in cols[c]:
            col = fadd(F32, col, v)
        total = fadd(F32, total, col)
    return total


def avg_pool_mlas_float(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape, strides=None, pads=None,
                        dilations=None, ceil_mode=0, count_include_pad=0, dtype="uint8", y_dtype=None,
                        scale_format="fp32"):
    """onnxruntime's unfused DQ -> AveragePool-11..18 -> Q: xf = fl32(sx (x - zx)); the window sum of
    the loop ``mlas_pool_kernel`` picks (MlasPool's global lane sum, its column-first vector sum, or
    the sequential row-major sum of its generic kernels and of onnxruntime's own loops), one binary32
    division by the valid count (count_include_pad: the window's positions inside the padded input);
    MlasQuantizeLinear.  AveragePool-11..18 has no dilations."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/nn/pool.cc Pool<float, AveragePool> -> core/mlas/lib/pooling.cpp
    if dilations is not None and any(v != 1 for v in dilations):
        raise ShapeError(f"AveragePool-11..18 has no dilations (got {list(dilations)}); AveragePool-19 adds them")
    tx, ty, sx, zx, sy, zy = _params(x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format)
    flat, shape = qops.qtensor(x, tx, "x")
    if len(shape) < 3 or len(kernel_shape) != len(shape) - 2 or len(kernel_shape) > 3:
        raise ShapeError(f"AveragePool input {list(shape)} with kernel_shape {list(kernel_shape)} (1-3 spatial axes)")
    spatial = shape[2:]
    kind = mlas_pool_kernel(spatial, kernel_shape, strides, pads, ceil_mode, count_include_pad)
    out_spatial, windows = qops.pool_windows(spatial, kernel_shape, strides, pads, None, ceil_mode)
    if any(not offsets for offsets, _ in windows):
        raise ShapeError(f"an AveragePool window lies wholly in the padding (pads {pads}, kernel {kernel_shape})")
    xf = {v: dequantize(v, sx, zx) for v in set(flat)}
    n, out = prod(spatial), []
    for base in range(0, len(flat), n):
        plane = [xf[v] for v in flat[base:base + n]]
        for offsets, padded in windows:
            if kind == "global":
                s = mlas_global_sum(plane)
            elif kind == "vector":
                s = mlas_column_sum([(i, plane[i]) for i in offsets], spatial[-1])
            else:
                s = Fraction(0)
                for i in offsets:
                    s = fadd(F32, s, plane[i])
            out.append(quantize(fdiv(F32, s, padded if count_include_pad else len(offsets)), sy, zy, ty))
    return mv.nest(out, tuple(shape[:2]) + out_spatial)


def global_avg_pool_ort_float(x, x_scale, x_zero_point, y_scale, y_zero_point, *, dtype="uint8", y_dtype=None,
                              scale_format="fp32"):
    """onnxruntime's unfused DQ -> GlobalAveragePool -> Q: MlasPoolGlobalKernel's lane sum
    (mlas_global_sum) divided once by the plane size, MlasQuantizeLinear."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/nn/pool.cc GlobalAveragePool -> MlasPool (global kernel)
    tx, ty, sx, zx, sy, zy = _params(x_scale, x_zero_point, y_scale, y_zero_point, dtype, y_dtype, scale_format)
    flat, shape = qops.qtensor(x, tx, "x")
    if len(shape) < 3:
        raise ShapeError(f"GlobalAveragePool input has shape {list(shape)}; expected N, C, spatial...")
    n = prod(shape[2:])
    out = [quantize(fdiv(F32, mlas_global_sum([dequantize(v, sx, zx) for v in flat[b:b + n]]), n), sy, zy, ty)
           for b in range(0, len(flat), n)]
    return mv.nest(out, tuple(shape[:2]) + (1,) * (len(shape) - 2))


# ##########################################################################
# Softmax and GELU: MLAS transcendental kernels within their ulp bounds
# ##########################################################################

@lru_cache(maxsize=4096)
def mlas_exp_candidates(d):
    """The binary32 values MLAS's expf may give for d <= 0 (the correctly rounded one first):
    every value within MLAS_EXP_ULP ulp of exp(max(d, EXP_LOWER)); below 2^-126 (d < -87.3) any
    value in [0, 2^-126], as the kernel's subnormal scaling is not modelled."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/compute.cpp MlasComputeSumExpVector (clamp, expf polynomial)
    d = max(d, EXP_LOWER)
    if d < -87:
        return (Fraction(0), Fraction(1, 2**126))
    return certified.candidates("exp", d, F32, MLAS_EXP_ULP)


def _sum_bounds(lo_terms, hi_terms):
    """The smallest and largest binary32 sums of n nonnegative terms in any order and any choice
    between the two ends: fl32 of S_lo (1 - u)^(n-1) and of S_hi (1 + u)^(n-1)."""
    n = len(lo_terms)
    return fl32(sum(lo_terms) * (1 - U32) ** (n - 1)), fl32(sum(hi_terms) * (1 + U32) ** (n - 1))


def _softmax_row(row, sx, zx, sy, zy, ty):
    """One row of MlasComputeSoftmax, quantized: the correctly rounded exp with a row-major sum
    first, then every output between the monotone ends (exp ends, sums in any order)."""
    xf = [dequantize(q, sx, zx) for q in row]
    m = max(xf)
    cands = {v: mlas_exp_candidates(fadd(F32, v, -m)) for v in set(xf)}
    total = Fraction(0)
    for v in xf:
        total = fadd(F32, total, cands[v][0])
    inv = fdiv(F32, 1, total)
    s_lo, s_hi = _sum_bounds([min(cands[v]) for v in xf], [max(cands[v]) for v in xf])
    inv_lo, inv_hi = fdiv(F32, 1, s_hi), fdiv(F32, 1, s_lo)
    out = []
    for v in xf:
        c = cands[v]
        first = quantize(fmul(F32, c[0], inv), sy, zy, ty)
        lo = quantize(fmul(F32, min(c), inv_lo), sy, zy, ty)
        hi = quantize(fmul(F32, max(c), inv_hi), sy, zy, ty)
        out.append(certified.resolve([first, *range(lo, hi + 1)],
                                     f"MLAS expf within {MLAS_EXP_ULP} ulp, binary32 row sum in any order"))
    return out


def softmax_ort_float(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", y_dtype=None, axis=-1):
    """onnxruntime's unfused DQ -> Softmax (opset 13) -> Q: xf = fl32(sx (q - zx)); per row along
    ``axis`` e = expf(fl32(xf - max)) by MLAS, sum in binary32, y = fl32(e * fl32(1 / sum)),
    MlasQuantizeLinear.  Outputs that depend on MLAS's expf within MLAS_EXP_ULP ulp or on the sum's
    order are ImplementationDefined (correctly rounded exp, row-major sum first)."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/math/softmax.cc -> core/mlas/lib/compute.cpp MlasComputeSoftmax
    tx, ty, sx, zx, sy, zy = _params(x_scale, x_zp, y_scale, y_zp, dtype, y_dtype)
    return A.along_rows(x, tx.name, axis, lambda row: _softmax_row(row, sx, zx, sy, zy, ty))


@lru_cache(maxsize=4096)
def mlas_erf_candidates(t):
    """The binary32 values MlasComputeErf may give for the binary32 t: within MLAS_ERF_ULP ulp of
    erf(t), the correctly rounded one first."""
    # Reproduces: onnxruntime 1.32.0 core/mlas/lib/erf.cpp MlasErfKernel (a faithfully rounded erff)
    if abs(t) >= 4:      # 1 - erf(|t|) <= erfc(4) < 1.6e-8 < 2^-25: erf rounds to 1, and 1 - 2^-24 is 1 ulp away
        sign = 1 if t > 0 else -1
        return (Fraction(sign), sign * (1 - Fraction(1, 2**24)))
    return certified.candidates("erf", t, F32, MLAS_ERF_ULP)


def gelu_ort_float(x, x_scale, x_zp, y_scale, y_zp, *, dtype="uint8", y_dtype=None):
    """onnxruntime's unfused DQ -> Gelu (approximate 'none') -> Q: v = fl32(sx (q - zx)),
    t = fl32(v * fl32(M_SQRT1_2)), e = MlasComputeErf(t), y = fl32(fl32(0.5 v) * fl32(e + 1)),
    MlasQuantizeLinear; ImplementationDefined where the erf candidates (MLAS_ERF_ULP) disagree."""
    # Reproduces: onnxruntime 1.32.0 core/providers/cpu/tensor/gelu.cc Gelu<float> (ONNX Gelu-20, com.microsoft Gelu)
    tx, ty, sx, zx, sy, zy = _params(x_scale, x_zp, y_scale, y_zp, dtype, y_dtype)

    def entry(q):
        v = dequantize(q, sx, zx)
        half = fmul(F32, Fraction(1, 2), v)
        outs = [quantize(fmul(F32, half, fadd(F32, e, 1)), sy, zy, ty) for e in mlas_erf_candidates(fmul(F32, v, SQRT1_2))]
        return certified.resolve(outs, f"MLAS erf within {MLAS_ERF_ULP} ulp")
    return A.elementwise(x, tx.name, entry)


VARIANTS = {
    "qdq_avg_pool": {"exact": qops.avg_pool, "ort_float": avg_pool_ort_float, "onnx_ref": O.ref_avg_pool},
    "qdq_avg_pool_opset11_18": {"exact": qops.avg_pool, "ort_float": avg_pool_mlas_float},
    "qdq_global_avg_pool": {"exact": qops.global_avg_pool, "ort_float": global_avg_pool_ort_float,
                            "onnx_ref": O.ref_global_avg_pool},
    "qdq_softmax": {"exact": A.softmax_exact, "ort_float": softmax_ort_float},
    "qdq_gelu": {"exact": A.gelu_exact, "ort_float": gelu_ort_float},
}
