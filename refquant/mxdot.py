"""OCP MX v1.0 block dot products: Dot and DotGeneral of MX blocks, with the implementation-defined
accumulation made explicit.

Source: OCP Microscaling Formats (MX) Specification v1.0, §5 (the MX block: k elements of one
element format sharing an E8M0 scale X; element formats FP8 E4M3/E5M2, FP6 E2M3/E3M2, FP4 E2M1,
INT8) and §6 (Dot(A, B) = X_A · X_B · Σ P_i Q_i over one block; DotGeneral = the sum of Dot over
blocks; the internal precision and order of these sums are implementation-defined).
docs/llm-formats.md §3.

Elements are codes of their format (``formats``; MXINT8 is two's complement with an implicit
scale 2^-6, so its values are q/64 in [-2, 127/64]); scales are E8M0 codes (0xFF is NaN).

Accumulations (``ACCUMULATIONS``, the ``mx_dot`` op's variants):
  ``exact``            the exact value of Σ_blocks X_A X_B Σ_i P_i Q_i, rounded once to binary32;
  ``block_fp32``       each block's Σ_i P_i Q_i exact (a wide fixed-point sum, as in hardware
                       MX dot units), times 2^(X_A + X_B) and rounded to binary32; blocks added in
                       binary32 in order (RNE);
  ``fp32_fma``         every element decoded exactly, scaled by its block's 2^X in binary32, and
                       one binary32 fused multiply-add chain in element order (a software
                       emulation's arithmetic).
"""

from fractions import Fraction

from . import formats as _f
from .errors import InvalidValueError, ShapeError, UnknownNameError

ELEMENTS = ("fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "int8")
F32 = "fp32"


def element_value(fmt, code):
    """The exact value of one MX element code (MXINT8: two's complement / 64)."""
    # Reproduces: OCP MX v1.0 §5.3 (element data types), MXINT8 with its implicit 2^-6 scale
    if fmt == "int8":
        if not 0 <= code <= 255:
            raise InvalidValueError(f"an int8 element code is 0..255; got {code!r}")
        return Fraction(code - 256 if code > 127 else code, 64)
    if fmt not in ELEMENTS:
        raise UnknownNameError("MX element format", fmt, ELEMENTS)
    v = _f.decode(fmt, code)
    if not v.is_finite:
        raise InvalidValueError(f"{fmt} code 0x{code:x} is {v}; MX dot products of NaN/inf are not modelled")
    return v.value


def scale_value(code):
    """2^(code - 127) for an E8M0 code; NaN (0xFF) is rejected (the spec makes the block NaN)."""
    v = _f.decode("e8m0", code)
    if not v.is_finite:
        raise InvalidValueError("an E8M0 scale of 0xFF is NaN: the MX block's values are all NaN")
    return v.value


def _blocks(a_fmt, a_scales, a_codes, b_fmt, b_scales, b_codes, k):
    """(2^X_A, 2^X_B, A's element values, B's element values) per block pair."""
    if len(a_codes) != len(b_codes) or len(a_codes) != k * len(a_scales) or len(a_scales) != len(b_scales):
        raise ShapeError(f"A and B need the same number of blocks of k = {k} elements and one scale each; got "
                         f"{len(a_codes)}/{len(a_scales)} and {len(b_codes)}/{len(b_scales)}")
    out = []
    for j in range(len(a_scales)):
        pa = [element_value(a_fmt, c) for c in a_codes[j * k:(j + 1) * k]]
        pb = [element_value(b_fmt, c) for c in b_codes[j * k:(j + 1) * k]]
        out.append((scale_value(a_scales[j]), scale_value(b_scales[j]), pa, pb))
    return out


def _r32(x):
    return _f.decode(F32, _f.encode(F32, x))


def _exact(blocks):
    return _f.encode(F32, sum((xa * xb * sum(p * q for p, q in zip(pa, pb)) for xa, xb, pa, pb in blocks),
                              Fraction(0)))


def _block_fp32(blocks):
    acc = _f.decode(F32, 0)
    for xa, xb, pa, pb in blocks:
        acc = _f.decode(F32, _f.add(F32, acc, _r32(xa * xb * sum(p * q for p, q in zip(pa, pb)))))
    return _f.encode(F32, acc)


def _fp32_fma(blocks):
    acc = _f.decode(F32, 0)
    for xa, xb, pa, pb in blocks:
        for p, q in zip(pa, pb):
            acc = _f.decode(F32, _f.fma(F32, _r32(p * xa), _r32(q * xb), acc))
    return _f.encode(F32, acc)


ACCUMULATIONS = {"exact": _exact, "block_fp32": _block_fp32, "fp32_fma": _fp32_fma}


def dot(a_fmt, a_scales, a_codes, b_fmt, b_scales, b_codes, k=32, accumulation="exact"):
    """binary32 bits of DotGeneral(A, B): the MX blocks of A and B (k elements each) multiplied
    pairwise and summed, with ``accumulation`` one of ``ACCUMULATIONS``.

    Reproduces: OCP MX v1.0 §6.1 Dot and §6.2 DotGeneral (implementation-defined sums made explicit).
    """
    if accumulation not in ACCUMULATIONS:
        raise UnknownNameError("MX accumulation", accumulation, ACCUMULATIONS)
    return ACCUMULATIONS[accumulation](_blocks(a_fmt, a_scales, a_codes, b_fmt, b_scales, b_codes, k))


def dot_exact(*args, **kw):
    """DotGeneral computed exactly and rounded once to binary32.

    Reproduces: OCP MX v1.0 §6.2 DotGeneral with exact internal precision.
    """
    return dot(*args, accumulation="exact", **kw)


def dot_block_fp32(*args, **kw):
    """Exact block dots, rounded to binary32 per block, summed in binary32 in block order.

    Reproduces: OCP MX v1.0 §6.1/§6.2 with a binary32 cross-block accumulator (implementation-defined).
    """
    return dot(*args, accumulation="block_fp32", **kw)


def dot_fp32_fma(*args, **kw):
    """Scaled elements in binary32 and one binary32 fused multiply-add chain.

    Reproduces: OCP MX v1.0 §6.2 as a binary32 software emulation computes it (implementation-defined).
    """
    return dot(*args, accumulation="fp32_fma", **kw)


VARIANTS = {"mx_dot": {"exact": dot_exact, "block_fp32": dot_block_fp32, "fp32_fma": dot_fp32_fma}}
