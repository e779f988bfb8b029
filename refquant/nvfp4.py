"""NVFP4: e2m1 elements in blocks of 16, an e4m3 scale per block, an fp32 scale per tensor; exactly.

Sources (read, not copied): NVIDIA's NVFP4 description (the Blackwell / TensorRT documentation and
the "Introducing NVFP4" technical blog: 16-element micro-blocks, an E4M3 block scale, an FP32
second-level tensor scale chosen from the tensor's amax so that the block scales use the E4M3
range); torchao ``torchao/prototype/mx_formats/nvfp4_tensor.py`` (``per_tensor_amax_to_scale``,
``_nvfp4_quantize``, ``NVFP4Tensor.to_dtype``) as of 2025.  docs/llm-formats.md §3.

Three variants of each step (``VARIANTS``):
  ``exact``    every quotient computed exactly and rounded once to its format (RNE, saturating);
  ``torchao``  torchao's binary32 steps (2025 source): tensor scale s = fl(amax / 2688); block scale
               e4m3(clamp(fl(fl(bmax / 6) / s), 2^-6, 448)); total t = fl(s · scale);
               element e2m1(clamp(fl(x / t), -6, 6)); dequantized fl(e2m1 · fl(s · scale)).
  ``torchao_recip``  torchao 0.18.0 (measured): the same scales, but each element is multiplied by a
               reciprocal "to match the MSLK triton kernel": e2m1(clamp(fl(x · r), -6, 6)) with
               r = fl(1 / scale) (single level) or fl(fl(1 / s) / scale) (two levels).
Without a tensor scale (single-level), s is absent: the block scale is e4m3(clamp(fl(bmax/6), ...))
and t = scale.

Inputs are binary32 values; outputs are (e4m3 scale codes, e2m1 codes) and binary32 bit patterns.
"""

from fractions import Fraction

from . import formats as _f
from .errors import InvalidValueError, ShapeError, UnknownNameError

BLOCK = 16
E2M1_MAX, E4M3_MAX = 6, 448
E4M3_TINY = Fraction(1, 64)             # torch.finfo(float8_e4m3fn).tiny: the clamp floor of torchao
F32, E4M3, E2M1 = "fp32", "fp8_e4m3fn", "fp4_e2m1"
MODES = ("exact", "torchao", "torchao_recip")


def _values(xs):
    out = []
    for x in xs:
        v = _f.real(x)
        if not v.is_finite or not _f.representable(F32, v):
            raise InvalidValueError(f"NVFP4 quantizes finite binary32 values; got {x!r}")
        out.append(v)
    if len(out) % BLOCK:
        raise ShapeError(f"NVFP4 blocks hold {BLOCK} values; got {len(out)} values")
    return out


def _mode(mode):
    if mode not in MODES:
        raise UnknownNameError("NVFP4 mode", mode, MODES)


def _fl(x, mode):
    """x rounded to binary32 in the torchao mode, exact otherwise (Fractions)."""
    return _f.value_of(F32, _f.encode(F32, x)) if mode.startswith("torchao") else Fraction(x)


def tensor_scale(amax, mode="torchao"):
    """The fp32 second-level scale amax / (448 · 6) (torchao per_tensor_amax_to_scale: fl(amax / 2688)).

    Reproduces: torchao nvfp4_tensor.py per_tensor_amax_to_scale (2025); NVIDIA NVFP4 two-level scaling.
    """
    _mode(mode)
    a = _f.real(amax)
    if not a.is_finite or a.sign or a.is_zero:
        raise InvalidValueError(f"the tensor amax must be a positive finite value; got {amax!r}")
    return _fl(a.value / (E4M3_MAX * E2M1_MAX), mode)


def _clamp(v, lo, hi):
    return max(lo, min(hi, v))


def block_scale(block_max, s=None, mode="torchao"):
    """The e4m3 code of one block's scale: e4m3(clamp(bmax/6 [/ s], 2^-6, 448)), RNE.

    Reproduces: torchao nvfp4_tensor.py _nvfp4_quantize block scale (2025).
    """
    _mode(mode)
    q = _fl(Fraction(block_max) / E2M1_MAX, mode)
    if s is not None:
        q = _fl(q / Fraction(s), mode)
    return _f.encode(E4M3, _clamp(q, E4M3_TINY, E4M3_MAX), "rne", "saturate")


def total_scale(code, s=None, mode="torchao"):
    """The value that divides (and multiplies back) a block: fl(s · scale), or scale alone."""
    scale = _f.value_of(E4M3, code)
    return scale if s is None else _fl(Fraction(s) * scale, mode)


def _scaled(x, code, s, mode):
    """One element on the e2m1 grid: fl(x / t), or x times torchao 0.18's reciprocal."""
    if mode != "torchao_recip":
        return _fl(x / total_scale(code, s, mode), mode)
    scale = _f.value_of(E4M3, code)
    r = _fl(1 / scale, mode) if s is None else _fl(_fl(1 / Fraction(s), mode) / scale, mode)
    return _fl(x * r, mode)


def quantize(values, s=None, mode="torchao"):
    """(e4m3 scale codes per block, e2m1 codes) of binary32 ``values`` (a multiple of 16).

    ``s``: the tensor scale (``tensor_scale(amax)``) or None for single-level scaling.
    Reproduces: torchao nvfp4_tensor.py _nvfp4_quantize (2025), or its exact ideal (mode 'exact').
    """
    _mode(mode)
    xs = _values(values)
    scales, codes = [], []
    for i in range(0, len(xs), BLOCK):
        block = xs[i:i + BLOCK]
        code = block_scale(max(v.mag for v in block), s, mode)
        scales.append(code)
        for v in block:
            q = _clamp(_scaled(v.value, code, s, mode), -E2M1_MAX, E2M1_MAX)
            codes.append(_f.encode(E2M1, _f.Real("finite", v.sign, abs(q)), "rne", "saturate"))
    return scales, codes


def dequantize(scales, codes, s=None, mode="torchao"):
    """binary32 bits of every element: fl(e2m1 · fl(s · scale)) (torchao to_dtype), or exact · rounded once.

    Reproduces: torchao nvfp4_tensor.py NVFP4Tensor.to_dtype / get_hp_scales (2025).
    """
    _mode(mode)
    if len(codes) != BLOCK * len(scales):
        raise ShapeError(f"{len(scales)} block scales need {BLOCK * len(scales)} element codes; got {len(codes)}")
    out = []
    for j, c in enumerate(codes):
        e = _f.decode(E2M1, c)
        t = total_scale(scales[j // BLOCK], s, mode)
        out.append(_f.encode(F32, _f.Real("finite", e.sign, e.mag * t)))
    return out


def quantize_exact(values, s=None):
    """The exact ideal of NVFP4 quantization (each quotient rounded once, RNE, saturating).

    Reproduces: NVIDIA NVFP4 (16-element blocks, E4M3 block scale, FP32 tensor scale), exact arithmetic.
    """
    return quantize(values, s, "exact")


def quantize_torchao(values, s=None):
    """torchao's binary32 NVFP4 quantization.

    Reproduces: torchao nvfp4_tensor.py _nvfp4_quantize (2025).
    """
    return quantize(values, s, "torchao")


def quantize_torchao_recip(values, s=None):
    """torchao 0.18.0's NVFP4 quantization: elements times a binary32 reciprocal of the scale.

    Reproduces: torchao 0.18.0 prototype/mx_formats/nvfp4_tensor.py nvfp4_quantize (measured, tests/test_nvfp4_torchao.py).
    """
    return quantize(values, s, "torchao_recip")


VARIANTS = {"nvfp4_quantize": {"exact": quantize_exact, "torchao": quantize_torchao,
                               "torchao_recip": quantize_torchao_recip}}
