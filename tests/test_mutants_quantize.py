"""Tests written against the survivors of a mutmut 3 run on refquant/quantize.py (docs/testing.md).

log2_quantize against a brute-force nearest-code search written here from its definition
(Miyashita et al. 2016 §3, docs/reference/worked-examples.md §3); mx_quantize's defaults against
ml_dtypes (OCP MX v1.0 §6.3); the exact messages of the named errors.
"""
from fractions import Fraction

import pytest

from refquant import formats, quantize as Q
from refquant.errors import InvalidValueError, UnknownNameError
from peers import need


# ---------------------------------------------------------------------------------------------
# log2_quantize
# ---------------------------------------------------------------------------------------------

def _log2_reference(x, bits, rounding, emax):
    """Nearest code by brute force.  Codes: zero and +-2^e for e in [emin, emax], emin = emax -
    (2^(bits-1) - 2).  'linear': the nearest of 0, 2^emin, ..., 2^emax in |x| - c (ties to the
    larger).  'log': the nearest in log2|x| - e, zero standing at e = emin - 1 (ties to the larger);
    a tie between e1 < e2 in the log domain is |x|^2 = 2^(e1 + e2)."""
    a = abs(Fraction(x))
    emin = emax - (2 ** (bits - 1) - 2)
    best = None  # (exponent or None, the value the comparison uses)
    cands = [(None, emin - 1)] + [(e, e) for e in range(emin, emax + 1)]
    for e, pos in cands:
        if best is None:
            best = (e, pos)
            continue
        prev = best[1]
        if rounding == "linear":
            lo = 0 if best[0] is None else Fraction(2) ** prev
            closer = a - lo >= Fraction(2) ** pos - a  # candidate above, ties up
        else:
            closer = a * a >= Fraction(2) ** (prev + pos)
        if closer:
            best = (e, pos)
    if best[0] is None or a == 0:
        return (0, None)
    return (1 if x < 0 else 0, best[0])


def _grid(emax, bits):
    emin = emax - (2 ** (bits - 1) - 2)
    pts = {Fraction(0), Fraction(1)}
    for e in range(emin - 3, emax + 3):
        p = Fraction(2) ** e
        for f in (Fraction(1), Fraction(3, 2), Fraction(181, 128), Fraction(47, 32), Fraction(3, 4),
                  Fraction(5, 8), Fraction(11, 16), Fraction(1, 2), Fraction(23, 32), Fraction(1, 4)):
            pts.add(p * f)
            pts.add(p * f * (1 + Fraction(1, 2**20)))
            pts.add(p * f * (1 - Fraction(1, 2**20)))
    return sorted(pts)


@pytest.mark.parametrize("rounding", ["log", "linear"])
@pytest.mark.parametrize("bits,emax", [(2, 0), (3, 2), (4, 0), (4, 3), (5, -2), (6, 1)])
def test_log2_quantize_equals_brute_force(bits, emax, rounding):
    xs = _grid(emax, bits)
    xs = xs + [-v for v in xs if v]
    got = Q.log2_quantize(xs, bits=bits, rounding=rounding, max_exponent=emax)
    want = [_log2_reference(v, bits, rounding, emax) for v in xs]
    bad = [(v, g, w) for v, g, w in zip(xs, got, want) if g != w]
    assert not bad, bad[:5]


def test_log2_quantize_ties_go_up_and_zero_thresholds():
    # linear: 1.5 * 2^e is the tie and goes up; half of 2^emin is the zero tie and goes up
    assert Q.log2_quantize([1.5, 3, 0.75], bits=3, rounding="linear", max_exponent=2) == [(0, 1), (0, 2), (0, 0)]
    # bits 3, emax 2: emin = 0; linear zero threshold 1/2 (kept), just below it -> 0
    assert Q.log2_quantize([0.5, 0.4999], bits=3, rounding="linear", max_exponent=2) == [(0, 0), (0, None)]
    # log zero threshold 2^(emin - 1/2) = 0.7071...: 0.71 kept, 0.70 -> 0
    assert Q.log2_quantize([0.71, 0.70], bits=3, rounding="log", max_exponent=2) == [(0, 0), (0, None)]
    assert Q.log2_quantize([1.0, -1.0, 0.0], bits=3, max_exponent=2) == [(0, 0), (1, 0), (0, None)]


def test_log2_quantize_defaults_are_4_bits_log_max_exponent_0():
    xs = [2.0 ** -8, 2.0 ** -7, 2.0 ** -6, 2.0 ** -5, 0.1, 0.7, 1.0, 2.0, 1.45]
    want = Q.log2_quantize(xs, bits=4, rounding="log", max_exponent=0)
    assert Q.log2_quantize(xs) == want
    assert want == [_log2_reference(v, 4, "log", 0) for v in xs]
    assert want[-3:] == [(0, 0), (0, 0), (0, 0)] and want[:3] == [(0, None), (0, None), (0, -6)]


def test_log2_quantize_bits_domain_and_messages():
    assert Q.log2_quantize([1.0, 0.6], bits=2, max_exponent=0) == [(0, 0), (0, None)]  # one power, emin = emax
    for bits in (1, 0, -3, 2.0, "4", None):
        with pytest.raises(InvalidValueError) as exc:
            Q.log2_quantize([1.0], bits=bits)
        assert str(exc.value) == f"log2 quantization needs bits >= 2, got {bits!r}"
    with pytest.raises(UnknownNameError) as exc:
        Q.log2_quantize([1.0], rounding="nearest")
    assert str(exc.value) == "unknown log2 rounding 'nearest'; expected one of: linear, log"
    assert (exc.value.kind, exc.value.name, exc.value.valid) == ("log2 rounding", "nearest", ["linear", "log"])
    for v in (float("inf"), float("-inf"), float("nan")):
        with pytest.raises(InvalidValueError) as exc:
            Q.log2_quantize([1.0, v])
        assert str(exc.value) == f"log2 quantization of {formats.real(v)} is undefined"


# ---------------------------------------------------------------------------------------------
# mx_quantize
# ---------------------------------------------------------------------------------------------

def test_mx_quantize_defaults_block_32_fp4_e2m1_even_fp32_lists():
    """Defaults against ml_dtypes: 64 values as a Python list (read as fp32), blocks of 32, fp4."""
    np = need("numpy")
    ml = need("ml_dtypes")
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(66) * 3).astype(np.float32)
    x[5] = 0.0
    scales, codes = Q.mx_quantize(x.tolist())
    assert (scales, codes) == Q.mx_quantize(x, 32, "fp4_e2m1", "even", "fp32")
    assert len(scales) == 3 and len(codes) == 66  # blocks of 32: 32 + 32 + 2
    fmt = formats.get_format("fp4_e2m1")
    for blk, sc in enumerate(scales):
        part = x[blk * 32:(blk + 1) * 32].astype(np.float64)
        assert sc - 127 == int(np.floor(np.log2(np.max(np.abs(part))))) - fmt.emax
        q = np.clip(part / 2.0 ** (sc - 127), -float(fmt.max_finite), float(fmt.max_finite))
        assert codes[blk * 32:(blk + 1) * 32] == (q.astype(ml.float4_e2m1fn).view(np.uint8) & 0xF).tolist()


def test_mx_quantize_x_format_default_reads_lists_as_fp32():
    with pytest.raises(InvalidValueError):
        Q.mx_quantize([0.1])  # 0.1 is not an fp32 value
    assert Q.mx_quantize([float(Fraction(13421773, 2**27))])[0] == [127 - 4 - 2]  # fp32(0.1): 2^-4 -> X = -6


def test_mx_quantize_messages():
    with pytest.raises(UnknownNameError) as exc:
        Q.mx_quantize([1.0], rounding="up")
    assert str(exc.value) == "unknown MX rounding 'up'; expected one of: even, nearest"
    assert (exc.value.kind, exc.value.name) == ("MX rounding", "up")
