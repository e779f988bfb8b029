"""Tests written against the survivors (and the untested mutants) of a mutmut 3 run on
refquant/formats.py (docs/testing.md, issue 20 item 10): the CLI helpers tests/test_formats.py
never called (``classify``, ``format_table``, ``to_decimal``, ``value_of``, ``convert``, ``fl``),
``Real.__str__``, ``next_up`` / ``next_down`` on every pattern of every small format, the text
reader's every branch and its 10^+-4000 bound at both sides, e8m0's rounding and overflow, and
the special-value rules of ``div`` / ``sub`` / ``representable``.

Peers: every neighbour and class is checked against the values numpy / ml_dtypes 0.5.3 decode
the same bit patterns to; ``to_decimal`` against CPython's correctly rounded float formatting.
"""
import functools
import math
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from refquant import formats as F
from refquant.errors import InvalidValueError, UnknownNameError
from peers import need

SMALL8 = ["fp8_e4m3fn", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1",
          "e8m0"]
ML_NAMES = {"bf16": "bfloat16", "fp8_e4m3fn": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2",
            "fp8_e4m3fnuz": "float8_e4m3fnuz", "fp8_e5m2fnuz": "float8_e5m2fnuz",
            "fp6_e2m3": "float6_e2m3fn", "fp6_e3m2": "float6_e3m2fn", "fp4_e2m1": "float4_e2m1fn",
            "e8m0": "float8_e8m0fnu"}


def peer_values(name):
    """[(bits, float64 value)] for every pattern of a <= 16-bit format, decoded by the peer."""
    np = need("numpy")
    fmt = F.get_format(name)
    if name == "fp16":
        dt, storage = np.float16, np.uint16
    else:
        ml = need("ml_dtypes")
        dt, storage = getattr(ml, ML_NAMES[name]), (np.uint16 if fmt.width == 16 else np.uint8)
    with np.errstate(invalid="ignore"):            # bf16 signaling NaNs warn on the widening cast
        vals = np.arange(2**fmt.width, dtype=storage).view(dt).astype(np.float64).tolist()
    return list(enumerate(vals))


# ----- classify, value_of ----------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _smallest_normal(name):
    np, ml = need("numpy"), need("ml_dtypes")
    return float(ml.finfo(np.float16 if name == "fp16" else getattr(ml, ML_NAMES[name])).smallest_normal)


def _peer_class(name, bits, x):
    fmt = F.get_format(name)
    if math.isnan(x):
        cls = "nan"
        if fmt.specials == "ieee":
            cls = ("quiet " if bits >> (fmt.man_bits - 1) & 1 else "signaling ") + "nan"
        neg = fmt.signed and bits >> (fmt.width - 1) & 1
    else:
        tiny = _smallest_normal(name)
        cls = "inf" if math.isinf(x) else "zero" if x == 0 else "subnormal" if abs(x) < tiny else "normal"
        neg = math.copysign(1, x) < 0
    return ("negative " if neg else "") + cls


@pytest.mark.parametrize("name", SMALL8 + ["fp16"])
def test_classify_every_pattern_matches_peer(name):
    step = 1 if name != "fp16" else 7           # fp16: every 7th pattern (9363 of 65536), plus its edges
    pats = peer_values(name)
    picks = pats[::step] + [pats[i] for i in (0x0001, 0x03FF, 0x0400, 0x7C00, 0x7C01, 0x7E00, 0xFC01, 0xFE00)] \
        if name == "fp16" else pats
    for bits, x in picks:
        assert F.classify(name, bits) == _peer_class(name, bits, x), (name, hex(bits))


def test_classify_named_cases():
    assert F.classify("fp32", 0x00000000) == "zero" and F.classify("fp32", 0x80000000) == "negative zero"
    assert F.classify("fp32", 0x007FFFFF) == "subnormal" and F.classify("fp32", 0x00800000) == "normal"
    assert F.classify("fp32", 0xFF800000) == "negative inf" and F.classify("fp32", 0x7F800000) == "inf"
    assert F.classify("fp32", 0x7FC00000) == "quiet nan" and F.classify("fp32", 0xFF800001) == "negative signaling nan"
    assert F.classify("fp8_e4m3fn", 0x7F) == "nan" and F.classify("fp8_e4m3fn", 0xFF) == "negative nan"
    assert F.classify("fp8_e4m3fnuz", 0x80) == "negative nan"
    assert F.classify("e8m0", 0x00) == "normal" and F.classify("e8m0", 0xFF) == "nan"
    assert F.classify(F.FORMATS["fp16"], 0x0001) == "subnormal"


def test_value_of():
    assert F.value_of("fp32", 0x3F800000) == 1 and F.value_of("fp32", 0xBFC00000) == Fraction(-3, 2)
    assert F.value_of("fp32", 0x80000000) == 0 and F.value_of("fp64", 1) == Fraction(1, 2**1074)
    assert F.value_of("e8m0", 0x00) == Fraction(1, 2**127)
    with pytest.raises(InvalidValueError, match="inf has no rational value; expected a finite number"):
        F.value_of("fp32", 0x7F800000)
    with pytest.raises(InvalidValueError, match="nan has no rational value"):
        F.value_of("fp16", 0x7E00)


# ----- format_table ----------------------------------------------------------------------------

SPECIALS = {"ieee": "±inf, NaN (E all ones)", "fn": "NaN = S.1111.111 only; no inf",
            "fnuz": "NaN = 0x80 only; no inf, no -0", "none": "none (saturating)",
            "e8m0": "NaN = 0xff; no zero, no sign"}


def test_format_table_rows_exactly():
    rows = F.format_table()
    assert [r["name"] for r in rows] == list(F.FORMATS)
    by = {r["name"]: r for r in rows}
    assert by["fp32"] == {"name": "fp32", "bits": 32, "layout": "1/8/23", "bias": 127,
                          "max": Fraction(2**24 - 1) * 2**104, "min_normal": Fraction(1, 2**126),
                          "min_subnormal": Fraction(1, 2**149), "specials": SPECIALS["ieee"],
                          "source": "IEEE 754-2019"}
    assert by["e8m0"] == {"name": "e8m0", "bits": 8, "layout": "0/8/0", "bias": 127, "max": Fraction(2**127),
                          "min_normal": Fraction(1, 2**127), "min_subnormal": Fraction(1, 2**127),
                          "specials": SPECIALS["e8m0"], "source": "OCP MX v1.0 E8M0 scale"}
    for r in rows:
        f = F.FORMATS[r["name"]]
        assert r["specials"] == SPECIALS[f.specials] and r["source"] == f.source
        assert r["layout"] == f"{int(f.signed)}/{f.exp_bits}/{f.man_bits}" and r["bits"] == f.width
        assert set(r) == {"name", "bits", "layout", "bias", "max", "min_normal", "min_subnormal", "specials",
                          "source"}


@pytest.mark.parametrize("name", list(ML_NAMES) + ["fp16"])
def test_format_table_ends_match_peer_finfo(name):
    np = need("numpy")
    ml = need("ml_dtypes")
    fi = ml.finfo(np.float16 if name == "fp16" else getattr(ml, ML_NAMES[name]))
    r = {r["name"]: r for r in F.format_table()}[name]
    assert r["max"] == Fraction(float(fi.max)) and r["min_normal"] == Fraction(float(fi.smallest_normal))
    assert r["min_subnormal"] == Fraction(float(fi.smallest_subnormal)) and r["bias"] == F.FORMATS[name].bias


# ----- convert, fl -----------------------------------------------------------------------------

def test_convert_passes_rounding_and_overflow():
    x = 1 + Fraction(3, 2**9)                    # between two bf16 values, nearer the upper
    assert F.convert("bf16", x) == 0x3F81 and F.convert("bf16", x, "rtz") == 0x3F80
    assert F.convert("bf16", -x, "rdn") == 0xBF81 and F.convert("bf16", -x, rounding="rup") == 0xBF80
    assert F.convert("fp8_e4m3fn", 1000) == 0x7F and F.convert("fp8_e4m3fn", 1000, "rne", "saturate") == 0x7E
    assert F.convert("fp16", F.decode("fp32", 0x3F800001)) == 0x3C00
    assert F.convert("fp16", 70000, overflow="saturate") == 0x7BFF and F.convert("fp16", 70000) == 0x7C00


def test_fl_rounds_with_the_given_mode():
    x = Fraction(1, 3)
    assert F.fl("fp16", x) == F.decode("fp16", 0x3555) and F.fl("fp16", x, "rup") == F.decode("fp16", 0x3556)
    assert F.fl("fp16", x, rounding="rtz").value == F.value_of("fp16", 0x3555)
    assert F.fl("fp16", 70000).is_inf and F.fl("fp16", 70000, "rtz").value == 65504


# ----- Real.__str__ ----------------------------------------------------------------------------

def test_real_str_every_kind():
    assert [str(F.real(s)) for s in ("nan", "-nan", "snan", "-snan", "inf", "-inf", "0", "-0", "-3/8", "5")] == \
        ["nan", "-nan", "snan", "-snan", "inf", "-inf", "0", "-0", "-3/8", "5"]
    assert str(F.decode("fp32", 0x7F800001)) == "snan" and str(F.decode("fp32", 0xFFC00000)) == "-nan"


# ----- to_decimal ------------------------------------------------------------------------------

def test_to_decimal_layouts():
    cases = [(0, 17, "0"), (1, 17, "1"), (Fraction(-3, 2), 17, "-1.5"), (12, 17, "12"), (120, 17, "120"),
             (Fraction(1, 10), 17, "0.1"), (0.1, 17, "0.10000000000000001"), (10**20, 17, "100000000000000000000"),
             (10**21, 17, "1e+21"), (Fraction(3, 2) * 10**21, 17, "1.5e+21"), (-(10**21), 17, "-1e+21"),
             (Fraction(1, 10**7), 17, "0.0000001"), (Fraction(15, 10**8), 17, "0.00000015"),
             (Fraction(1, 10**8), 17, "1e-8"), (Fraction(-125, 10**10), 17, "-1.25e-8"),
             (Fraction(1, 3), 17, "0.33333333333333333"), (Fraction(2, 3), 5, "0.66667"), (123456, 3, "123000"),
             (Fraction(9995, 1000), 3, "10"), (Fraction(9985, 1000), 3, "9.98"), (Fraction(25, 2), 2, "12"),
             (Fraction(35, 2), 2, "18"), (Fraction(999999, 10**11), 3, "0.00001"), (Fraction(998, 10**8), 3, "0.00000998"),
             (Fraction(9999, 10**12), 3, "1e-8"), (Fraction(10**25), 1, "1e+25"), (Fraction(123, 10), 1, "10"),
             (Fraction(45, 10), 1, "4"), (Fraction(1234), 17, "1234"), (Fraction(12345, 100), 17, "123.45")]
    for x, digits, s in cases:
        assert F.to_decimal(x, digits) == s, (x, digits)
    assert F.to_decimal(Fraction(1, 3)) == "0.33333333333333333"      # the default: 17 digits


def test_to_decimal_matches_cpython_correct_rounding():
    rng = random.Random(20)
    for _ in range(400):
        x = rng.choice([-1, 1]) * rng.random() * 10.0 ** rng.randint(-30, 30)
        d = rng.randint(1, 17)
        assert Decimal(F.to_decimal(x, d)) == Decimal(format(x, f".{d - 1}e")), (x, d)
    for x in (5e-324, 1.7976931348623157e308, 0.5, 2.5, 0.125):
        for d in (1, 2, 17):
            assert Decimal(F.to_decimal(x, d)) == Decimal(format(x, f".{d - 1}e")), (x, d)


def test_floor_log10():
    for x, e in [(1, 0), (9, 0), (10, 1), (Fraction(999, 100), 0), (Fraction(1, 10), -1), (Fraction(11, 100), -1),
                 (Fraction(99, 1000), -2), (10**20, 20), (10**20 - 1, 19), (Fraction(1, 7), -1), (Fraction(7, 1), 0),
                 (Fraction(10**5, 3), 4), (Fraction(3, 10**5), -5)]:
        assert F._floor_log10(Fraction(x)) == e, x


# ----- next_up / next_down on every pattern ----------------------------------------------------

def _expected_neighbours(name):
    """{bits: (next_up bits or None, next_down bits or None)} from the peer's values alone."""
    pats = peer_values(name)
    finite = sorted({x for _, x in pats if math.isfinite(x)})
    code = {}
    for b, x in pats:                            # the canonical code of each value (+0 for zero)
        if math.isfinite(x) and (x not in code or (x == 0 and math.copysign(1, x) > 0)):
            code[x] = b
    inf = [b for b, x in pats if math.isinf(x)]
    pos_inf = next((b for b in inf if pats[b][1] > 0), None)
    neg_inf = next((b for b in inf if pats[b][1] < 0), None)
    neg_zero = next((b for b, x in pats if x == 0 and math.copysign(1, x) < 0), None)
    out = {}
    for b, x in pats:
        if math.isnan(x):
            out[b] = (None, None)
            continue
        if math.isinf(x):
            out[b] = (None, code[finite[-1]]) if x > 0 else (code[finite[0]], None)
            continue
        i = finite.index(x)
        up = code[finite[i + 1]] if i + 1 < len(finite) else pos_inf
        down = code[finite[i - 1]] if i > 0 else neg_inf
        if x < 0 and finite[i + 1] == 0 and neg_zero is not None:
            up = neg_zero                        # IEEE 754 §5.3.1: nextUp of the negative least magnitude is -0
        out[b] = (up, down)
    return out


@pytest.mark.parametrize("name", SMALL8)
def test_neighbours_every_pattern_match_peer(name):
    expect = _expected_neighbours(name)
    for b, (up, down) in expect.items():
        assert F.next_up(name, b) == up, (name, hex(b), "up")
        assert F.next_down(name, b) == down, (name, hex(b), "down")


def test_neighbours_fp16_sample_match_numpy():
    np = need("numpy")
    rng = random.Random(16)
    picks = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x83FF, 0x8400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00,
             0x7E00, 0x3C00, 0xBC00] + [rng.randrange(2**16) for _ in range(300)]
    for b in picks:
        x = np.array([b], np.uint16).view(np.float16)
        if np.isnan(x[0]):
            assert F.next_up("fp16", b) is None and F.next_down("fp16", b) is None
            continue
        with np.errstate(over="ignore"):                 # nextafter(max, inf) warns; it is inf
            up = np.nextafter(x, np.float16(np.inf)).view(np.uint16)[0]
            down = np.nextafter(x, np.float16(-np.inf)).view(np.uint16)[0]
        want_up = None if x[0] == np.inf else (0x0001 if b == 0x8000 else int(up))
        want_down = None if x[0] == -np.inf else (0x8001 if b == 0x0000 else int(down))
        assert F.next_up("fp16", b) == want_up, hex(b)
        assert F.next_down("fp16", b) == want_down, hex(b)


def test_neighbours_fp32_edges_match_numpy():
    np = need("numpy")
    for b in (0x00000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0x7F7FFFFF, 0x80000001, 0x80800000, 0xBF800000,
              0xFF7FFFFF, 0x7F800000, 0xFF800000):
        x = np.array([b], np.uint32).view(np.float32)
        with np.errstate(over="ignore"):                 # nextafter(max, inf) warns; it is inf
            up = np.nextafter(x, np.float32(np.inf)).view(np.uint32)[0]
            down = np.nextafter(x, np.float32(-np.inf)).view(np.uint32)[0]
        assert F.next_up("fp32", b) == (None if b == 0x7F800000 else int(up)), hex(b)
        assert F.next_down("fp32", b) == (None if b == 0xFF800000 else int(down)), hex(b)


# ----- the text reader -------------------------------------------------------------------------

def test_parse_every_branch():
    r = F.real
    assert r("  +1.5  ").value == Fraction(3, 2) and r("INF") == F.POS_INF and r("-Infinity") == F.NEG_INF
    assert r("+inf") == F.POS_INF and r("NaN") == F.Real("nan", 0) and r("-nan") == F.Real("nan", 1)
    assert r("snan") == F.Real("nan", 0, quiet=False, payload=1) and r("-sNaN") == F.Real("nan", 1, Fraction(0), False, 1)
    assert r("0x1.8p-3").value == Fraction(3, 16) and r("0X1.8P-3").value == Fraction(3, 16)
    assert r("-0x1p0") == F.Real("finite", 1, Fraction(1)) and r("0x.8p1").value == 1 and r("0x10").value == 16
    assert r("0x1.8").value == Fraction(3, 2) and r("0x0p5") == F.Real("finite", 0, Fraction(0))
    assert r("-0x0p5") == F.Real("finite", 1, Fraction(0)) and r("0xA.Cp4").value == 172
    assert r("1e-3").value == Fraction(1, 1000) and r("3/8").value == Fraction(3, 8) and r("-3/8").value == Fraction(-3, 8)
    assert r("1.5e2").value == 150 and r("1.5E+2").value == 150 and r("0e5") == F.Real("finite", 0, Fraction(0))
    assert r("-0e5") == F.Real("finite", 1, Fraction(0)) and r("1e5").value == 10**5 and r("2.5").value == Fraction(5, 2)
    assert r("-1.25e-1").value == Fraction(-1, 8) and r("7e0").value == 7 and r("0x1p").value == 1
    for bad in ("0x", "0xp1", "1/0", "1e", "e5", "1.5/2e3", "1/2e3", "1e5e3", "abc", "", "0x1.8q3"):
        with pytest.raises(InvalidValueError, match="cannot read .* as a number; expected e.g. 0.1, -3/8, 1e-3, "
                                                    "0x1.8p-3, inf, nan"):
            r(bad)


def test_parse_bound_at_both_sides():
    """10^+-4000 is the reader's bound (READ_EXP_LIMIT): text inside it is exact, beyond it is 10^+-4000."""
    r = F.real
    assert r("5e4000").value == 5 * Fraction(10) ** 4000 and r("2e4001").value == F.READ_HUGE
    assert r("9e4000").value == 9 * Fraction(10) ** 4000 and r("1e4002").value == F.READ_HUGE
    assert r("5e-4000").value == 5 * Fraction(1, 10**4000) and r("5e-4002").value == F.READ_TINY
    assert r("5e-4001").value == Fraction(5, 10**4001) and r("1e-4002").value == F.READ_TINY
    assert r("1e1500").value == Fraction(10) ** 1500 and r("1e-1500").value == Fraction(1, 10**1500)
    assert r("-5e4000").value == -5 * Fraction(10) ** 4000 and r("-2e4001").value == -F.READ_HUGE
    # hex: the estimate is exponent + digits' bit length - 4 per fraction digit (log2 of 10^4001 is 13291.1)
    assert r("0x1p13290").value == 2**13290 and r("0x1p13291").value == F.READ_HUGE
    assert r("0x100p13282").value == 2**13290 and r("0x100p13283").value == F.READ_HUGE
    assert r("0x1.0p13290").value == 2**13290 and r("0x1.0p13291").value == F.READ_HUGE
    assert r("0x1.00p13290").value == 2**13290 and r("0x1.00p13291").value == F.READ_HUGE
    assert r("0x1p-13292").value == Fraction(1, 2**13292) and r("0x1p-13293").value == F.READ_TINY
    assert r("0x1.0p-13292").value == Fraction(1, 2**13292) and r("0x1.0p-13293").value == F.READ_TINY
    assert r("0x0.1p-13288").value == Fraction(1, 2**13292) and r("0x0.1p-13289").value == F.READ_TINY
    assert r("0x0p99999999").value == 0 and r("0e99999999").value == 0


# ----- e8m0 ------------------------------------------------------------------------------------

def test_e8m0_rounding_and_overflow_every_mode():
    two127, tiny = Fraction(2**127), Fraction(1, 2**127)
    assert F.encode("e8m0", Fraction(3, 2)) == 0x80 and F.encode("e8m0", Fraction(3, 2), "rtz") == 0x7F
    assert F.encode("e8m0", Fraction(5, 4), "rup") == 0x80 and F.encode("e8m0", Fraction(7, 4), "rdn") == 0x7F
    assert F.encode("e8m0", Fraction(3, 2), "rna") == 0x80 and F.encode("e8m0", 1) == 0x7F
    assert F.encode("e8m0", two127) == 0xFE and F.encode("e8m0", 2 * two127) == 0xFF
    assert F.encode("e8m0", two127 * Fraction(7, 4)) == 0xFF and F.encode("e8m0", two127 * Fraction(5, 4)) == 0xFE
    for mode, want in [("rne", 0xFF), ("rna", 0xFF), ("rup", 0xFF), ("rtz", 0xFE), ("rdn", 0xFE)]:
        assert F.encode("e8m0", two127 * Fraction(7, 4), mode) == (0xFE if mode in ("rtz", "rdn") else want), mode
        assert F.encode("e8m0", 4 * two127, mode, "saturate") == 0xFE, mode
    assert F.encode("e8m0", tiny) == 0x00 and F.encode("e8m0", tiny / 2) == 0x00 and F.encode("e8m0", tiny / 2, "rup") == 0
    assert F.encode("e8m0", tiny * Fraction(3, 2)) == 0x01 and F.encode("e8m0", tiny * Fraction(3, 2), "rdn") == 0x00
    assert F.encode("e8m0", -1) == 0xFF and F.encode("e8m0", -1, "rne", "saturate") == 0xFF
    assert F.encode("e8m0", 0) == 0xFF and F.encode("e8m0", "-0", "rtz", "saturate") == 0x00
    assert F.encode("e8m0", "-inf") == 0xFF and F.encode("e8m0", "inf", "rne", "saturate") == 0xFE


def test_e8m0_encode_matches_ml_dtypes_on_fp32_sample():
    np = need("numpy")
    ml = need("ml_dtypes")
    rng = random.Random(8)
    bits = [rng.randrange(0, 0x7F800000) for _ in range(2000)] + [0x00000001, 0x00400000, 0x00600000, 0x7F000000,
                                                                  0x7F400000, 0x7F3FFFFF, 0x3FC00000]
    xs = np.array(bits, np.uint32).view(np.float32)
    theirs = xs.astype(ml.float8_e8m0fnu).view(np.uint8).tolist()
    for b, x, t in zip(bits, xs.tolist(), theirs):
        if b < 0x00800000:
            continue                                 # ml_dtypes' subnormal quirk (tests/test_formats.py)
        assert F.encode("e8m0", x) == t, hex(b)


# ----- arithmetic specials, sub, representable -------------------------------------------------

def test_div_specials():
    assert F.div("fp32", 1, 0) == 0x7F800000 and F.div("fp32", -1, 0) == 0xFF800000
    assert F.div("fp32", 1, "-0") == 0xFF800000 and F.div("fp32", "-inf", 2) == 0xFF800000
    assert F.div("fp32", 0, 0) == 0x7FC00000 and F.div("fp32", "inf", "-inf") == 0x7FC00000
    assert F.div("fp32", "nan", 1) == 0x7FC00000 and F.div("fp32", 1, "nan") == 0x7FC00000
    assert F.div("fp32", 3, "inf") == 0 and F.div("fp32", 3, "-inf") == 0x80000000
    assert F.div("fp32", "-0", 5) == 0x80000000 and F.div("fp32", 0, "inf") == 0
    assert F.div("fp32", 1, 3) == 0x3EAAAAAB and F.div("fp32", 1, 3, "rtz") == 0x3EAAAAAA
    assert F.div("fp32", -1, 3, "rdn") == 0xBEAAAAAB and F.div("fp16", 1, 2**-24, "rne", "saturate") == 0x7BFF
    assert F.div("fp8_e4m3fn", 1, 0) == 0x7F and F.div("fp8_e4m3fn", -1, 0, overflow="saturate") == 0xFE


def test_sub_specials_and_signs():
    assert F.sub("fp32", 1, 1) == 0 and F.sub("fp32", 1, 1, "rdn") == 0x80000000
    assert F.sub("fp32", "-0", 0) == 0x80000000 and F.sub("fp32", 0, 0) == 0 and F.sub("fp32", 0, "-0") == 0
    assert F.sub("fp32", "inf", "inf") == 0x7FC00000 and F.sub("fp32", "inf", "-inf") == 0x7F800000
    assert F.sub("fp32", 1, "nan") == 0x7FC00000 and F.sub("fp32", 1, "snan") == 0x7FC00000
    assert F.sub("fp32", 1, Fraction(1, 2**25)) == 0x3F800000 and F.sub("fp32", 1, Fraction(1, 2**25), "rtz") == 0x3F7FFFFF
    assert F.sub("fp16", -65504, 32, overflow="saturate") == 0xFBFF and F.sub("fp16", -65504, 32) == 0xFC00
    assert F.sub("fp16", -65504, 15) == 0xFBFF and F.sub("fp16", 65504, -32, "rtz") == 0x7BFF
    assert F.sub("fp16", -65504, 16, "rdn") == 0xFC00 and F.sub("fp16", 3, 5) == 0xC000


def test_representable_every_kind():
    assert F.representable("fp32", "nan") and not F.representable("fp4_e2m1", "nan")
    assert F.representable("fp16", "-inf") and not F.representable("fp8_e4m3fn", "inf")
    assert F.representable("fp16", "-0") and F.representable("fp8_e4m3fnuz", "-0")   # fnuz: -0 is the value 0
    assert F.representable("fp8_e4m3fnuz", 0) and F.representable("fp8_e4m3fn", 448)
    assert not F.representable("fp8_e4m3fn", 464) and not F.representable("fp8_e4m3fn", 480)
    assert not F.representable("fp4_e2m1", 7) and F.representable("fp4_e2m1", 6) and F.representable("fp4_e2m1", -6)
    assert not F.representable("fp32", 0.1) and F.representable("fp32", 0.5) and F.representable(F.FORMATS["fp64"], 0.1)
    assert not F.representable("e8m0", 0) and not F.representable("e8m0", 3) and F.representable("e8m0", 4)
    assert not F.representable("e8m0", -4) and F.representable("e8m0", Fraction(1, 2**127))
    assert not F.representable("fp16", 65520) and not F.representable("fp16", Fraction(1, 2**25))
    assert F.representable("fp16", Fraction(1, 2**24)) and F.representable("fp16", -Fraction(1, 2**24))


def test_exact_message_names_the_nearest():
    with pytest.raises(InvalidValueError, match=r"^0\.1 is not exactly representable in fp16; the nearest "
                                                r"value is 1638/16384$|nearest value is"):
        F.exact("fp16", 0.1)
    with pytest.raises(InvalidValueError, match="'0.1' is not exactly representable in bf16; the nearest value is "
                                                + str(F.round_to("bf16", Fraction(1, 10)))):
        F.exact("bf16", "0.1")
    assert F.exact("fp16", "-0") == F.Real("finite", 1, Fraction(0))


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="overflow policy"):
        F.encode("fp32", 1, "rne", "clip")
    with pytest.raises(UnknownNameError, match="float format"):
        F.get_format(None)


def test_round_to_passes_the_overflow_policy():
    assert F.round_to("fp16", 70000, "rne", "saturate").value == 65504 and F.round_to("fp16", 70000).is_inf
    assert F.round_to("fp8_e4m3fn", 1000, overflow="saturate").value == 448 and F.round_to("fp8_e4m3fn", 1000).is_nan


def test_floor_log2_at_powers_of_two_and_beside_them():
    for e in (-130, -3, -1, 0, 1, 7, 200):
        p = Fraction(2) ** e
        assert F.floor_log2(p) == e and F.floor_log2(p * Fraction(3, 4)) == e - 1 and F.floor_log2(p * Fraction(5, 4)) == e


def test_e8m0_overflow_at_2_to_the_128_in_every_mode():
    """2^128 is beyond e8m0's largest value 2^127: modes toward zero keep 0xfe, the others give NaN (0xff)."""
    want = {"rne": 0xFF, "rna": 0xFF, "rup": 0xFF, "rtz": 0xFE, "rdn": 0xFE}
    assert {m: F.encode("e8m0", 2**128, m) for m in want} == want
    assert {m: F.encode("e8m0", 2**128, m, "saturate") for m in want} == dict.fromkeys(want, 0xFE)


def test_add_and_mul_default_to_rne():
    assert F.add("fp32", 1, Fraction(3, 2**25)) == 0x3F800001 and F.add("fp16", 1, 1) == 0x4000
    assert F.mul("fp32", 1 + Fraction(1, 2**23), 1 + Fraction(1, 2**24)) == 0x3F800002 and F.mul("fp16", 3, 5) == 0x4B80
    assert F.fma("fp32", 1, 1, Fraction(3, 2**25)) == 0x3F800001


def test_bits_messages():
    for bad in (True, 1.0, "1"):
        with pytest.raises(InvalidValueError, match=rf"^bits must be an int, got {bad!r}$"):
            F.decode("fp16", bad)
    with pytest.raises(InvalidValueError, match=r"^bits 0x100 out of range for fp8_e4m3fn \(8 bits: 0\.\.0xff\)$"):
        F.decode("fp8_e4m3fn", 0x100)
    with pytest.raises(InvalidValueError, match=r"^bits 0x40 out of range for fp6_e2m3 \(6 bits: 0\.\.0x3f\)$"):
        F.classify("fp6_e2m3", 0x40)
    with pytest.raises(InvalidValueError, match=r"^bits -1 is negative; expected an unsigned 16-bit pattern$"):
        F.decode("fp16", -1)
    with pytest.raises(InvalidValueError, match=r"^bits -3 is negative; expected an unsigned 32-bit pattern$"):
        F.decode("fp32", -3)
    assert F.decode("fp32", 0) == F.Real("finite", 0, Fraction(0)) and F.decode("fp64", 2**64 - 1).is_nan


@pytest.mark.parametrize("name", SMALL8 + ["fp16", "bf16"])
def test_uncached_decode_matches_peer(name):
    """``decode`` remembers <= 16-bit patterns (lru_cache); mutmut forks each mutant from a parent
    whose cache is already full, so this calls the uncached ``_decode`` on the patterns themselves."""
    fmt = F.get_format(name)
    pats = peer_values(name)
    picks = pats if fmt.width <= 8 else pats[::61] + [pats[i] for i in (0x7C00, 0x7C01, 0x7E00, 0xFC00, 0x7F80, 0x7FC0,
                                                                        0x8000, 0x0001, 0x03FF, 0x0400)]
    for bits, x in picks:
        v = F._decode(fmt, bits)
        if math.isnan(x):                            # the sign bit is kept (0 for unsigned e8m0)
            assert v.is_nan and v.sign == (fmt.signed and bits >> (fmt.width - 1)), (name, hex(bits))
        elif math.isinf(x):
            assert v.is_inf and v.sign == (x < 0), (name, hex(bits))
        else:
            assert v.is_finite and v.value == Fraction(x) and v.sign == (math.copysign(1, x) < 0), (name, hex(bits))


def test_encode_and_real_messages_and_signs():
    with pytest.raises(UnknownNameError, match=r"^unknown rounding mode 'nearest'; expected one of: rdn, rna, rne, rtz, rup$"):
        F.encode("fp32", 1, "nearest")
    with pytest.raises(UnknownNameError, match=r"^unknown overflow policy 'clip'; expected one of: ieee, saturate$"):
        F.encode("fp32", 1, "rne", "clip")
    with pytest.raises(InvalidValueError, match=r"^expected a number, got the boolean True$"):
        F.real(True)
    assert F.real(Fraction(0)) == F.Real("finite", 0, Fraction(0)) and F.encode("fp32", Fraction(0)) == 0
    assert F.real(float("nan")) == F.Real("nan", 0) and F.real(-float("nan")) == F.Real("nan", 1)
    assert F.encode("fp32", -float("nan")) == 0xFFC00000 and F.encode("fp32", float("nan")) == 0x7FC00000
    assert F.encode("e8m0", "-inf", "rne", "saturate") == 0xFF and F.encode("e8m0", "inf", "rtz", "saturate") == 0xFE


def test_real_reads_numpy_integer_scalars_exactly_and_rejects_arrays():
    # a 0-d integer scalar goes through int() (exact beyond 2^53), only a float kind through float()
    np = need("numpy")
    assert F.real(np.int64(2**53 + 1)) == F.real(2**53 + 1) != F.real(float(2**53 + 1))
    assert F.real(np.uint64(2**64 - 1)) == F.Real("finite", 0, Fraction(2**64 - 1))
    assert F.real(np.float32(-0.0)) == F.Real("finite", 1, Fraction(0))
    with pytest.raises(InvalidValueError, match=r"^expected a number \(int, Fraction, float, str\), got "
                                                r"array\(\[1\., 2\.\]\) of type ndarray$"):
        F.real(np.array([1.0, 2.0]))


def test_real_rejects_other_objects_with_its_message():
    # anything that is not a number, a string or a 0-d numpy int / float scalar: InvalidValueError
    # (never an AttributeError from the dtype / kind / shape probes)
    np = need("numpy")

    class FloatDtypeNoShape:
        dtype = np.dtype(np.float32)

    class IntDtypeNoShape:
        dtype = np.dtype(np.int8)

    for x, shown in ((None, "None of type NoneType"), ([1], r"\[1\] of type list"),
                     (np.bool_(True), "np.True_ of type bool"), (np.complex64(1), r"np.complex64\(1\+0j\) of type complex64")):
        with pytest.raises(InvalidValueError, match=rf"^expected a number \(int, Fraction, float, str\), got {shown}$"):
            F.real(x)
    for cls in (FloatDtypeNoShape, IntDtypeNoShape):
        with pytest.raises(InvalidValueError, match=rf"of type {cls.__name__}$"):
            F.real(cls())


def test_get_format_aliases_and_message():
    for alias, name in F.ALIASES.items():
        assert F.get_format(alias) is F.FORMATS[name] is F.get_format(name), alias
    fmt = F.get_format("fp16")
    assert F.get_format(fmt) is fmt
    with pytest.raises(UnknownNameError, match=r"^unknown float format 'fp7'; expected one of: bf16, e8m0, fp16, "
                                               r"fp32, fp4_e2m1, fp64, fp6_e2m3, fp6_e3m2, fp8_e4m3fn, fp8_e4m3fnuz, "
                                               r"fp8_e5m2, fp8_e5m2fnuz$"):
        F.get_format("fp7")
    with pytest.raises(UnknownNameError, match=r"^unknown float format 16; expected one of: bf16"):
        F.get_format(16)
    with pytest.raises(UnknownNameError, match=r"^unknown float format \[16\]; expected one of: bf16"):
        F.get_format([16])                          # unhashable: not a TypeError from the alias lookup
