"""Tests written against the survivors of a (partial) mutmut 3 run on refquant/qparams.py
(docs/testing.md): the exact symmetric scale when the negative end dominates, the dtype and scale
format carried by every result, the scale-underflow error, a scale that is exactly a power of two
or exactly 1, onnxruntime's threshold at the fp32 smallest normal, and refquant's reduced range
for a type onnxruntime does not list."""
from fractions import Fraction

import pytest

from refquant import formats
from refquant.errors import InvalidValueError
from refquant.qparams import choose_qparams, qrange


def test_exact_symmetric_scale_uses_the_larger_magnitude():
    p = choose_qparams(-10, 1, "int8", symmetric=True)
    assert p.scale == formats.round_to("fp32", Fraction(10) / Fraction(255, 2)).value and p.zero_point == 0
    p = choose_qparams(-1, 10, "int8", symmetric=True)
    assert p.scale == formats.round_to("fp32", Fraction(10) / Fraction(255, 2)).value
    p = choose_qparams(-3, 2, "uint8", symmetric=True)
    assert p.scale == formats.round_to("fp32", Fraction(3) / Fraction(255, 2)).value and p.zero_point == 128


@pytest.mark.parametrize("variant", ["exact", "torch", "onnxruntime"])
@pytest.mark.parametrize("lo,hi", [(0, 0), (-1, 2)])
def test_results_carry_dtype_and_format(variant, lo, hi):
    p = choose_qparams(lo, hi, "uint8", variant=variant)
    assert p.dtype == "uint8" and p.scale_format == "fp32" and p.quant_range() == (0, 255)
    assert p.scale_bits == formats.encode("fp32", p.scale)


def test_exact_scale_format_is_kept():
    for lo, hi in ((0, 0), (-1, 2)):
        p = choose_qparams(lo, hi, "int8", scale_format="fp16")
        assert p.scale_format == "fp16" and p.dtype == "int8" and p.quant_range() == (-128, 127)
        assert p.scale_bits == formats.encode("fp16", p.scale)
    assert choose_qparams(-1, 2, "int8", scale_format="fp16").scale_bits == formats.encode(
        "fp16", Fraction(3, 255))


def test_exact_scale_of_one_and_underflow():
    assert choose_qparams(0, 255, "uint8").scale == 1
    p = choose_qparams(0, 255, "uint8", power_of_two=True)
    assert (p.scale, p.zero_point) == (1, 0)  # exactly a power of two: kept, not doubled
    p = choose_qparams(0, 127.5, "uint8", power_of_two=True)
    assert p.scale == Fraction(1, 2)
    with pytest.raises(InvalidValueError, match=r"^scale 1/1073741824 underflows to 0 in fp16$"):
        choose_qparams(0, 255 * 2.0**-30, "uint8", scale_format="fp16")


def test_onnxruntime_smallest_normal_scale_is_kept():
    tiny = 2.0**-126
    p = choose_qparams(0, 255 * tiny, "uint8", variant="onnxruntime")
    assert (p.scale, p.zero_point, p.dtype) == (Fraction(2) ** -126, 0, "uint8")
    p = choose_qparams(0, 255 * 2.0**-127, "uint8", variant="onnxruntime")  # below: ORT's (1.0, 0)
    assert (p.scale, p.zero_point) == (1, 0)


def test_onnxruntime_reduced_range_of_an_unlisted_type():
    """int32 is not in onnxruntime's tables: refquant's reduce_range (one bit less) applies."""
    lo, hi = qrange("int32", False, True)
    assert (lo, hi) == (-(2**30), 2**30 - 1)
    p = choose_qparams(-1, 1, "int32", variant="onnxruntime", reduce_range=True)
    want = formats.round_to("fp32", formats.round_to("fp64", Fraction(2) / (hi - lo)).value).value
    assert p.scale == want
