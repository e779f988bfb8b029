"""Choosing quantization parameters (scale, zero point) from a real range [rmin, rmax].

The range is always extended to include 0.0 so that 0.0 is exactly representable (worked-examples.md §1:
padding and ReLU rely on it).  ``variant`` names whose arithmetic is reproduced:

    exact        the textbook formulas on exact rationals; the scale is then rounded once (RNE)
                 into ``scale_format``; zero point = qmin - round_half_even(lo / scale), clamped.
                 affine:    scale = (hi - lo) / (qmax - qmin)          (Jacob et al. 2018)
                 symmetric: scale = max(|lo|, |hi|) / ((qmax - qmin) / 2)
    torch        torch 2.13 ``ObserverBase._calculate_qparams``: float32 steps, symmetric range
                 divided by (qmax - qmin) / 2 = 127.5 for int8, scale floored at eps = 2^-23,
                 zero point = qmin - RNE(fl(lo / scale)); symmetric zero point: quint8 128 (with
                 qmin and qmax both given, torch's customized range: (qmin + qmax) // 2), uint16
                 2^15, every other type 0 (torch leaves it at 0: qint8, int16, qint32, quint4x2).
                 reduce_range with a symmetric uint8 range raises (torch refuses it).
    onnxruntime  onnxruntime.quantization ``compute_scale_zp`` with ``get_qmin_qmax_for_qType``'s
                 ranges: symmetric int8/int16 use [-127, 127] / [-32767, 32767] (so the range is
                 divided by 127), reduce_range int8 [-64, 64] (int16 [-16384, 16384], int4 [-4, 3],
                 unsigned: half the top), float64 scale, scale < fp32 tiny -> (1.0, 0).

Zero range (lo = hi = 0, e.g. an all-zero or pruned channel) is never an error, as with each
peer: exact -> scale 1 and the zero point of the formulas with lo = 0 (qmin; symmetric: the
symmetric zero point); torch -> scale eps = 2^-23, zero point qmin - RNE(0) = qmin (affine) or
0 / 128 (symmetric int8 / uint8); onnxruntime -> (1.0, 0).  docs/calibration.md lists them.

Worked examples (worked-examples.md §1, §2; tests/test_quantize.py): [-100, 0] -> [0, 20] gives scale 5 and zero
point 20; [-20, 1000] -> uint8 zero point 5, int8 -123 (Matani 2023).
"""

from dataclasses import dataclass
from fractions import Fraction

from . import formats, integers
from .errors import InvalidValueError, UnknownNameError
from .rounding import half_even

VARIANTS = ("exact", "torch", "onnxruntime")


@dataclass(frozen=True)
class QParams:
    """Per-tensor parameters: the exact scale (a value of ``scale_format``) and the zero point."""
    scale: Fraction
    zero_point: int
    dtype: str
    scale_format: str = "fp32"

    @property
    def scale_bits(self):
        return formats.encode(self.scale_format, self.scale)

    def quant_range(self):
        t = integers.get_type(self.dtype)
        return t.min, t.max


def _finite(x, what):
    v = formats.real(x)
    if not v.is_finite:
        raise InvalidValueError(f"{what} must be finite, got {v}")
    return v.value


def qrange(dtype, narrow=False, reduce_range=False):
    """(qmin, qmax) of an integer type, optionally narrow ([-127, 127]) or reduced by one bit."""
    t = integers.get_type(dtype)
    lo, hi = t.min, t.max
    if narrow and t.signed:
        lo = -hi
    if reduce_range:  # FBGEMM's reduce_range: one bit less to avoid int16 pair saturation
        lo, hi = (lo // 2, hi // 2) if t.signed else (0, hi // 2)
    return lo, hi


def choose_qparams(rmin, rmax, dtype="int8", symmetric=False, narrow=False, variant="exact",
                   scale_format="fp32", reduce_range=False, qmin=None, qmax=None, power_of_two=False):
    """Scale and zero point mapping [min(rmin, 0), max(rmax, 0)] onto ``dtype``'s range.

    ``qmin``/``qmax`` override the integer range (e.g. [0, 20] in worked-examples.md §1).  ``power_of_two``
    (exact variant only) rounds the scale *up* to a power of two, so the range stays covered and
    requantization becomes a shift.
    """
    lo, hi = _finite(rmin, "rmin"), _finite(rmax, "rmax")
    if lo > hi:
        raise InvalidValueError(f"rmin {rmin} is greater than rmax {rmax}")
    tmin, tmax = qrange(dtype, narrow, reduce_range)
    given_min, given_max = qmin, qmax
    qmin = tmin if qmin is None else integers.check(dtype, qmin, "qmin")
    qmax = tmax if qmax is None else integers.check(dtype, qmax, "qmax")
    if not qmin < qmax:
        raise InvalidValueError(f"qmin {qmin} must be below qmax {qmax}")
    lo, hi = min(lo, Fraction(0)), max(hi, Fraction(0))
    if variant == "exact":
        return _exact(lo, hi, dtype, qmin, qmax, symmetric, scale_format, power_of_two)
    if power_of_two:
        raise InvalidValueError(f"power_of_two scales are defined for the 'exact' variant, not {variant!r}")
    if variant == "torch":
        if reduce_range and symmetric and not integers.get_type(dtype).signed:
            raise InvalidValueError(f"variant 'torch': reduce_range with a symmetric {dtype} range is refused by "
                                    "torch 2.13 (NotImplementedError for quint8); use an affine range or int8")
        return _torch(lo, hi, dtype, qmin, qmax, symmetric, given_min is not None and given_max is not None)
    if variant == "onnxruntime":
        if not narrow:
            omin, omax = _ort_qrange(dtype, reduce_range, symmetric)
            qmin = omin if given_min is None else qmin
            qmax = omax if given_max is None else qmax
        if symmetric and integers.get_type(dtype).signed and (narrow or dtype not in _ORT_FULL):
            qmin = -qmax  # refquant's narrow range / types onnxruntime does not list: [-qmax, qmax]
        return _onnxruntime(lo, hi, dtype, qmin, qmax, symmetric)
    raise UnknownNameError("qparams variant", variant, VARIANTS)


def _symmetric_zero_point(dtype, qmin, qmax):
    return 0 if integers.get_type(dtype).signed else (qmin + qmax + 1) // 2


def _exact(lo, hi, dtype, qmin, qmax, symmetric, scale_format, power_of_two=False):
    """The textbook formulas (worked-examples.md §1), exact; one rounding of the scale into its format."""
    if symmetric:
        amax = max(-lo, hi)
        real_scale = amax / Fraction(qmax - qmin, 2)
    else:
        real_scale = (hi - lo) / (qmax - qmin)
    if real_scale == 0:
        return QParams(Fraction(1), _symmetric_zero_point(dtype, qmin, qmax) if symmetric else qmin,
                       dtype, scale_format)
    if power_of_two:
        real_scale = _pow2_ceil(real_scale)
    scale = formats.round_to(scale_format, real_scale).value
    if scale == 0:
        raise InvalidValueError(f"scale {real_scale} underflows to 0 in {scale_format}")
    if symmetric:
        zp = _symmetric_zero_point(dtype, qmin, qmax)
    else:
        zp = min(max(qmin - half_even(lo / scale), qmin), qmax)
    return QParams(scale, zp, dtype, scale_format)


def _pow2_ceil(x):
    """The smallest power of two >= x > 0 (exact)."""
    e = formats.floor_log2(x)
    p = Fraction(2) ** e
    return p if p == x else p * 2


def _f32(x):
    return formats.round_to("fp32", x).value


def _torch_symmetric_zero_point(dtype, qmin, qmax, customized):
    """torch 2.13 UniformQuantizationObserverBase._calculate_qparams' symmetric zero point: 128 for
    quint8 (the down-rounded midpoint (qmin + qmax) // 2 of a customized range), 2^15 for uint16,
    else the zeros it starts from (quint4x2 included, unsigned though it is)."""
    if dtype == "uint8":
        return (qmin + qmax) // 2 if customized else 128
    return 2**15 if dtype == "uint16" else 0


def _torch(lo, hi, dtype, qmin, qmax, symmetric, customized=False):
    """torch.ao.quantization ObserverBase._calculate_qparams (torch 2.13), float32 tensors.
    ``customized``: both qmin and qmax were given (torch's has_customized_qrange)."""
    eps = Fraction(1, 2**23)  # torch.finfo(torch.float32).eps
    lo, hi = _f32(lo), _f32(hi)
    if symmetric:
        amax = max(-lo, hi)
        scale = max(_f32(amax / _f32(Fraction(qmax - qmin, 2))), eps)
        return QParams(scale, _torch_symmetric_zero_point(dtype, qmin, qmax, customized), dtype)
    width = formats.round_to("fp32", hi - lo)
    if not width.is_finite:
        raise InvalidValueError(f"variant 'torch': the range width {float(hi)} - ({float(lo)}) overflows float32 "
                                "(torch's float32 max_val - min_val is inf, so its scale would be inf)")
    scale = max(_f32(width.value / (qmax - qmin)), eps)
    # torch's .to(torch.int) is an int32 cast: a quotient below -2^31 (lo / scale <= 0) gives INT_MIN
    zp = qmin - max(half_even(_f32(lo / scale)), -2**31)
    return QParams(scale, min(max(zp, qmin), qmax), dtype)


def _f64(x):
    return formats.round_to("fp64", x).value


# onnxruntime.quantization.quant_utils ONNX_INT_TYPE_REDUCED_RANGE / ONNX_INT_TYPE_SYMMETRIC_RANGE (1.32)
_ORT_REDUCED = {"uint8": (0, 127), "int8": (-64, 64), "uint16": (0, 32767), "int16": (-16384, 16384),
                "uint4": (0, 7), "int4": (-4, 3)}
_ORT_SYMMETRIC = {"int8": (-127, 127), "int16": (-32767, 32767)}
_ORT_FULL = ("uint8", "int8", "uint16", "int16", "uint4", "int4")   # ONNX_INT_TYPE_RANGE


def _ort_qrange(dtype, reduce_range, symmetric):
    """(qmin, qmax) as onnxruntime's get_qmin_qmax_for_qType picks them: the reduced table first
    (reduce_range wins over symmetric), then the symmetric table, else the type's full range."""
    # Reproduces: onnxruntime.quantization.quant_utils.get_qmin_qmax_for_qType (1.32.0)
    if reduce_range and dtype in _ORT_REDUCED:
        return _ORT_REDUCED[dtype]
    if symmetric and not reduce_range and dtype in _ORT_SYMMETRIC:
        return _ORT_SYMMETRIC[dtype]
    return qrange(dtype, False, reduce_range)  # (a type onnxruntime does not list: refquant's reduction)


def _onnxruntime(lo, hi, dtype, qmin, qmax, symmetric):
    """onnxruntime.quantization.quant_utils.compute_scale_zp (1.32): float32 range, float64 scale."""
    lo, hi = _f32(lo), _f32(hi)
    if symmetric:
        amax = max(-lo, hi)
        lo, hi = -amax, amax
    scale = _f64(_f64(hi - lo) / (qmax - qmin))
    if scale < formats.get_format("fp32").min_normal:
        return QParams(Fraction(1), 0, dtype)
    if symmetric:
        zp = half_even(Fraction(qmin + qmax, 2))
    else:
        zp = half_even(_f64(qmin - _f64(lo / scale)))
    return QParams(_f32(scale), zp, dtype)
