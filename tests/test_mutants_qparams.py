"""Tests written against the survivors of a (partial) mutmut 3 run on refquant/qparams.py
(docs/testing.md): the exact symmetric scale when the negative end dominates, the dtype and scale
format carried by every result, the scale-underflow error, a scale that is exactly a power of two
or exactly 1, onnxruntime's threshold at the fp32 smallest normal, and refquant's reduced range
for a type onnxruntime does not list."""
from fractions import Fraction

import pytest

from refquant import formats
from refquant.errors import InvalidValueError, UnknownNameError
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


# ----- second run (2026-12-03, s2): the rest of choose_qparams, qrange, _finite ---------------

TORCH_TYPES = [("quint8", "uint8"), ("qint8", "int8"), ("quint4x2", "uint4"), ("uint16", "uint16"),
               ("int16", "int16"), ("qint32", "int32")]
TORCH_RANGES = [(-1.0, 3.0), (0.0, 0.0), (-2.5, 0.5), (0.0, 7.0), (-1e-3, 2e-4), (-300.0, 5.0)]


def _torch_qparams(torch, tdtype, symmetric, lo, hi, **kw):
    import warnings
    from torch.ao.quantization.observer import MinMaxObserver
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # reduce_range's deprecation notice
        obs = MinMaxObserver(dtype=getattr(torch, tdtype), qscheme=torch.per_tensor_symmetric if symmetric
                             else torch.per_tensor_affine, **kw)
    obs(torch.tensor([lo, hi], dtype=torch.float32))
    s, z = obs.calculate_qparams()
    return Fraction(float(s)), int(z)


def test_torch_variant_every_type_and_customized_range_matches_torch():
    """Variant 'torch' == MinMaxObserver.calculate_qparams (torch 2.13.0) for six types x affine /
    symmetric x six ranges, plus customized (quant_min, quant_max) ranges and reduce_range.  The
    symmetric zero point was refquant's (qmin + qmax + 1) // 2 for every unsigned type; torch
    gives 128 for quint8 ((qmin + qmax) // 2 with a customized range: 127 for [0, 255], 100 for
    [0, 201]), 2^15 for uint16, 0 for quint4x2; and torch's zero point goes through an int32 cast,
    so for qint32 a quotient lo / scale below -2^31 becomes INT_MIN (zero point 0 for [-300, 5]).
    Found by this test, fixed the same day."""
    torch = pytest.importorskip("torch")
    n = 0
    for tdtype, dtype in TORCH_TYPES:
        for symmetric in (False, True):
            for lo, hi in TORCH_RANGES:
                got = choose_qparams(lo, hi, dtype, symmetric=symmetric, variant="torch")
                assert (got.scale, got.zero_point) == _torch_qparams(torch, tdtype, symmetric, lo, hi), \
                    (dtype, symmetric, lo, hi)
                n += 1
    custom = [("quint8", "uint8", 0, 255), ("quint8", "uint8", 0, 201), ("quint8", "uint8", 0, 15),
              ("qint8", "int8", -100, 100), ("qint8", "int8", -128, 127), ("qint8", "int8", -64, 63)]
    for tdtype, dtype, qmin, qmax in custom:
        for symmetric in (False, True):
            for lo, hi in TORCH_RANGES:
                got = choose_qparams(lo, hi, dtype, symmetric=symmetric, variant="torch", qmin=qmin, qmax=qmax)
                want = _torch_qparams(torch, tdtype, symmetric, lo, hi, quant_min=qmin, quant_max=qmax)
                assert (got.scale, got.zero_point) == want, (dtype, qmin, qmax, symmetric, lo, hi)
                n += 1
    for tdtype, dtype, symmetric in (("quint8", "uint8", False), ("qint8", "int8", False), ("qint8", "int8", True)):
        for lo, hi in TORCH_RANGES:
            got = choose_qparams(lo, hi, dtype, symmetric=symmetric, variant="torch", reduce_range=True)
            assert (got.scale, got.zero_point) == _torch_qparams(torch, tdtype, symmetric, lo, hi, reduce_range=True)
            n += 1
    assert n == 162


def test_onnxruntime_variant_given_range_and_narrow_match_compute_scale_zp():
    """Variant 'onnxruntime' with qmin / qmax given is compute_scale_zp on exactly that range
    (onnxruntime 1.32.0), and narrow signed symmetric uses [-qmax, qmax]."""
    np = pytest.importorskip("numpy")
    pytest.importorskip("onnxruntime")
    from onnxruntime.quantization.quant_utils import compute_scale_zp
    for dtype, qmin, qmax in (("uint8", 0, 200), ("int8", -100, 100), ("int8", -128, 127), ("uint8", 0, 255)):
        for symmetric in (False, True):
            for lo, hi in TORCH_RANGES[:4] + [(-7.0, -1.0)]:
                got = choose_qparams(lo, hi, dtype, symmetric=symmetric, variant="onnxruntime", qmin=qmin, qmax=qmax)
                z, s = compute_scale_zp(np.array(min(lo, 0), np.float32), np.array(max(hi, 0), np.float32),
                                        np.array(qmin, np.int32), np.array(qmax, np.int32), symmetric=symmetric)
                assert (got.scale, got.zero_point) == (Fraction(float(s)), int(z)), (dtype, qmin, qmax, symmetric, lo)
    for lo, hi in TORCH_RANGES[:4]:
        got = choose_qparams(lo, hi, "int8", symmetric=True, narrow=True, variant="onnxruntime")
        z, s = compute_scale_zp(np.array(min(lo, 0), np.float32), np.array(max(hi, 0), np.float32),
                                np.array(-127, np.int8), np.array(127, np.int8), symmetric=True)
        assert (got.scale, got.zero_point) == (Fraction(float(s)), int(z))
    p = choose_qparams(-1, 3, "int32", symmetric=True, variant="onnxruntime")   # unlisted type: [-qmax, qmax]
    assert p.zero_point == 0 and p.scale == formats.round_to("fp32", Fraction(6, 2**32 - 2)).value


def test_qrange_every_flag():
    assert qrange("int8") == (-128, 127) and qrange("int8", True) == (-127, 127) and qrange("uint8", True) == (0, 255)
    assert qrange("int8", False, True) == (-64, 63) and qrange("uint8", reduce_range=True) == (0, 127)
    assert qrange("int8", True, True) == (-64, 63) and qrange("int16", narrow=True) == (-32767, 32767)
    assert qrange("uint4", False, True) == (0, 7) and qrange("int4", False, True) == (-4, 3)
    assert all(type(v) is int for v in qrange("int8", True, True) + qrange("uint8", False, True))


def test_choose_qparams_defaults_and_messages():
    p = choose_qparams(-1, 3)
    assert (p.dtype, p.scale_format, p.zero_point) == ("int8", "fp32", -64)  # affine int8, exact, fp32
    assert p == choose_qparams(-1, 3, "int8", False, False, "exact", "fp32", False, None, None, False)
    with pytest.raises(InvalidValueError, match=r"^rmin must be finite, got inf$"):
        choose_qparams(float("inf"), 1)
    with pytest.raises(InvalidValueError, match=r"^rmax must be finite, got -nan$"):
        choose_qparams(0, "-nan")
    with pytest.raises(InvalidValueError, match=r"^rmin 5 is greater than rmax 1$"):
        choose_qparams(5, 1)
    with pytest.raises(InvalidValueError, match=r"^qmin 3 must be below qmax 3$"):
        choose_qparams(-1, 1, qmin=3, qmax=3)
    with pytest.raises(InvalidValueError, match=r"^qmin 300 is outside int8 \[-128, 127\]$"):
        choose_qparams(-1, 1, qmin=300)
    with pytest.raises(InvalidValueError, match=r"^qmax -300 is outside int8 \[-128, 127\]$"):
        choose_qparams(-1, 1, qmax=-300)
    with pytest.raises(InvalidValueError, match=r"^power_of_two scales are defined for the 'exact' variant, not "
                                                r"'onnxruntime'$"):
        choose_qparams(0, 1, variant="onnxruntime", power_of_two=True)
    with pytest.raises(InvalidValueError, match=r"^variant 'torch': reduce_range with a symmetric uint8 range is "
                                                r"refused by torch 2.13 \(NotImplementedError for quint8\); use an "
                                                r"affine range or int8$"):
        choose_qparams(-1, 1, "uint8", True, variant="torch", reduce_range=True)
    with pytest.raises(UnknownNameError, match=r"^unknown qparams variant 'tf'; expected one of: exact, "
                                               r"onnxruntime, torch$"):
        choose_qparams(-1, 1, variant="tf")
    with pytest.raises(InvalidValueError, match=r"^variant 'torch': the range width 3.\d+e\+38 - \(-3.\d+e\+38\) "
                                                r"overflows float32 \(torch's float32 max_val - min_val is inf, so "
                                                r"its scale would be inf\)$"):
        choose_qparams(-3e38, 3e38, variant="torch")
    assert choose_qparams(-1, 1, "int8", symmetric=True, variant="torch", reduce_range=True).zero_point == 0
    assert choose_qparams(-1, 1, qmin=-128, qmax=127) == choose_qparams(-1, 1)


def test_exact_zero_point_clamps_at_qmax_when_the_scale_rounds_down():
    """bf16 keeps 8 bits: (1/7)/65535 rounds down by 0.2 %, so qmin - RNE(lo / scale) = 65664 > 65535."""
    p = choose_qparams(-Fraction(1, 7), 0, "uint16", scale_format="bf16")
    assert (p.scale, p.zero_point) == (Fraction(73, 2**25), 65535)
    assert choose_qparams(-Fraction(1, 7), 0, "uint16").zero_point == 65535


def test_exact_symmetric_and_zero_range_zero_points():
    assert choose_qparams(0, 0, "uint8", symmetric=True).zero_point == 128
    assert choose_qparams(0, 0, "uint4", symmetric=True).zero_point == 8
    assert choose_qparams(0, 0, "uint8", symmetric=True, qmin=0, qmax=200).zero_point == 100
    assert choose_qparams(0, 0, "uint8", symmetric=True, qmin=1, qmax=200).zero_point == 101
    assert choose_qparams(0, 0, "int8").zero_point == -128 and choose_qparams(0, 0, "int8", symmetric=True).zero_point == 0
    p = choose_qparams(-1, 3, "uint8", symmetric=True, qmin=0, qmax=200)
    assert (p.scale, p.zero_point) == (formats.round_to("fp32", Fraction(3, 100)).value, 100)
    p = choose_qparams(-1, 3, "int8", symmetric=True, narrow=True)
    assert (p.scale, p.zero_point) == (formats.round_to("fp32", Fraction(3, 127)).value, 0)
    p = choose_qparams(-1, 3, "int8", reduce_range=True)
    assert (p.scale, p.zero_point) == (formats.round_to("fp32", Fraction(4, 127)).value, -64 + 32)


def test_torch_scale_floor_and_zero_point_clamp():
    eps = Fraction(1, 2**23)
    p = choose_qparams(-1e-9, 1e-9, "uint8", variant="torch")
    assert p.scale == eps and p.zero_point == 0
    p = choose_qparams(-1e-9, 1e-9, "int8", symmetric=True, variant="torch")
    assert p.scale == eps and p.zero_point == 0
    p = choose_qparams(-2, 0, "int8", variant="torch")
    assert p.zero_point == 127 and p.scale == formats.round_to("fp32", Fraction(2, 255)).value


def test_survivors_of_the_second_run():
    # onnxruntime, a signed type it does not list (int2): refquant's symmetric [-qmax, qmax] = [-1, 1]
    assert choose_qparams(-1, 3, "int2", symmetric=True, variant="onnxruntime").scale == 3
    # signed symmetric zero point is 0 even on a lopsided given range (exact and torch)
    assert choose_qparams(-1, 3, "int8", symmetric=True, qmin=-128, qmax=100).zero_point == 0
    assert choose_qparams(0, 0, "int8", symmetric=True, qmin=-128, qmax=100).zero_point == 0
    # torch's customized range needs both ends (has_customized_qrange = quant_min and quant_max given)
    assert choose_qparams(-1, 3, "uint8", symmetric=True, variant="torch", qmax=200).zero_point == 128
    assert choose_qparams(-1, 3, "uint8", symmetric=True, variant="torch", qmin=0).zero_point == 128
    assert choose_qparams(-1, 1, "int8", symmetric=True, variant="torch").dtype == "int8"
