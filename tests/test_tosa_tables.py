"""refquant/tosa_tables.py: the TABLE constants of TFLite LOGISTIC / TANH lowered to TOSA, and TABLE.

Three checks: (1) the generator replayed in Python floats (binary64 arithmetic, this host's libm
``math.exp``) -- the arithmetic the C++ source does -- gives, entry by entry, one of refquant's
candidates; (2) TABLE (int8) and TABLE + RESCALE 1/128 (int16) on the generated tables agree with
the tosa-tools 2026.8.0 reference model on every int8 input and on int16 inputs; (3) the outcomes
(SpecError, Unpredictable, InvalidValueError).  The lowering itself (TensorFlow's tf-opt
--tosa-legalize-tfl) is not installed, so the tables are not measured against it (docs/ops.md).
"""

import math
from fractions import Fraction

import pytest

from refquant import backends, tosa_tables as tt
from refquant.certified import ImplementationDefined, possible
from refquant.errors import InvalidValueError, SpecError, Unpredictable
from refquant.requant import fl32

CASES8 = [("sigmoid", Fraction(1, 16), -3, Fraction(1, 256), -128),
          ("sigmoid", fl32(Fraction(3, 50)), 10, Fraction(1, 256), -128),
          ("tanh", fl32(Fraction(1, 20)), 4, Fraction(1, 128), 0),
          ("tanh", fl32(Fraction(7, 100)), -20, fl32(Fraction(1, 100)), 3)]


def _f(fn, x):
    if fn == "sigmoid":
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(-2.0 * x)
    return (1.0 - e) / (1.0 + e)


def _llround(v):
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def replay8(fn, sx, zx, sy, zy):
    """getTosaConst8bitTable in Python floats."""
    return [min(max(_llround(_f(fn, float(sx) * (i - zx)) / float(sy)) + zy, -128), 127) for i in range(-128, 128)]


def replay16(fn, sx):
    """getTosaConst16bitTable in Python floats."""
    lo, hi = -32768 * float(sx), 32767 * float(sx)
    step = (hi - lo) / 512.0
    out = []
    for i in range(512):
        sample = _llround(_f(fn, lo + i * step) * 32768.0)
        interp = _llround((_f(fn, lo + (i + 1) * step) * 32768.0 + _llround(_f(fn, lo + i * step) * 32768.0)) / 2.0)
        mid = _llround(_f(fn, lo + i * step + step / 2.0) * 32768.0)
        out.append(min(max(sample - _llround((interp - mid) / 2.0), -32768), 32767))
    out.append(min(max(_llround(_f(fn, hi) * 32768.0), -32768), 32767))
    return out


@pytest.mark.parametrize("case", CASES8)
def test_int8_table_is_the_binary64_generator(case):
    fn, *q = case
    got = tt.table_int8(fn, *q)
    want = replay8(fn, *q)
    assert len(got) == 256
    assert all(w in possible(g) for g, w in zip(got, want))


@pytest.mark.parametrize("fn,sx", [("sigmoid", Fraction(1, 4096)), ("tanh", Fraction(1, 4096)),
                                   pytest.param("sigmoid", fl32(Fraction(1, 3000)), marks=pytest.mark.slow)])
def test_int16_table_is_the_binary64_generator(fn, sx):
    got = tt.table_int16(fn, sx)
    assert len(got) == 513
    assert all(w in possible(g) for g, w in zip(got, replay16(fn, sx)))
    if (fn, sx) == ("sigmoid", Fraction(1, 4096)):
        # [min, max] = [-32768 sx, 32767 sx]: x_256 = -sx/2 < 0, so entry 256 is 16383, not 16384
        assert tt.sigmoid_tosa_int16([0], sx, 0, Fraction(1, 32768), 0) == [16383]


def test_implementation_defined_entry_is_reported():
    # a table whose entry's value t / sy lies within an exp ulp of a half: forced by a tiny output scale
    entries = tt.table_int8("sigmoid", Fraction(1, 16), 0, Fraction(1, 256), -128)
    assert all(isinstance(e, int) for e in entries)
    picked = tt.apply_int8([0], [ImplementationDefined((5, 6), "test")] * 256)
    assert isinstance(picked[0], ImplementationDefined) and picked[0].candidates == (5, 6)


def test_outcomes():
    with pytest.raises(SpecError):
        tt.sigmoid_tosa_int16([0], Fraction(1, 4096), 1, Fraction(1, 32768), 0)
    with pytest.raises(InvalidValueError):
        tt.sigmoid_tosa([0], Fraction(1, 16), 0, Fraction(1, 256), 0, dtype="uint8")
    with pytest.raises(InvalidValueError):
        tt.tanh_tosa([200], Fraction(1, 16), 0, Fraction(1, 128), 0)
    with pytest.raises(Unpredictable):       # exp(-2x) = inf at x = -512: (1 - inf)/(1 + inf) is NaN
        tt.table_int8("tanh", Fraction(4), 0, Fraction(1, 128), 0)
    assert tt.table_int8("sigmoid", Fraction(8), 0, Fraction(1, 256), -128)[0] == -128   # exp overflow: 1/inf = 0


def test_int8_entry_narrowed_to_int32_wraps():
    # sy = 2^-33: llround(t / sy) leaves int32; `int32_t rescaled = llround(...)` keeps it modulo 2^32
    e = tt.table_int8("sigmoid", Fraction(1, 16), 0, Fraction(1, 2**33), 0)
    assert e[128] == 0                       # sigmoid(0) / sy = 2^32 -> 0
    assert e[0] == 127 and e[-1] == -128     # small positive and wrapped negative values, clamped
    assert e == [min(max(((v + 2**31) % 2**32) - 2**31, -128), 127) for v in
                 (_llround(_f("sigmoid", (i / 16)) * 2.0**33) for i in range(-128, 128))]


def test_backend_rows_name_the_table_variants():
    for row in ("tosa", "tosa_double_round"):
        for op in ("sigmoid", "tanh", "sigmoid_int16", "tanh_int16"):
            assert backends.variant(row, op) is tt.VARIANTS[op]["tosa_table"]


# ---- against the tosa-tools 2026.8.0 reference model -------------------------------------------

@pytest.fixture(scope="module")
def model():
    pytest.importorskip("tosa_serializer", reason="tosa-tools not installed")
    from refquant.peers import tosa_ops as M
    return M, M.Model()


@pytest.mark.parametrize("case", CASES8)
def test_int8_table_on_the_reference_model(model, case):
    M, m = model
    fn, *q = case
    xs = list(range(-128, 128))
    status, got = M.table(m, xs, [e if isinstance(e, int) else e.first for e in tt.table_int8(fn, *q)], "int8")
    assert status == "VALID"
    want = tt.VARIANTS[fn]["tosa_table"](xs, *q, dtype="int8")
    assert all(int(g) in possible(w) for g, w in zip(got, want))


def _int16_on_model(M, m, fn, sx, xs):
    tab = [e if isinstance(e, int) else e.first for e in tt.table_int16(fn, sx)]
    status, raw = M.table(m, xs, tab, "int16")
    assert status == "VALID"
    status, got = M.rescale(m, [int(v) for v in raw], tt.RESCALE_128, "int32", "int16")
    assert status == "VALID"
    want = tt.VARIANTS[fn + "_int16"]["tosa_table"](xs, sx, 0, Fraction(1, 32768), 0)
    return sum(int(g) not in possible(w) for g, w in zip(got, want))


@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_int16_table_on_the_reference_model_sample(model, fn):
    M, m = model
    xs = sorted(set(range(-32768, 32768, 97)) | {-32768, -1, 0, 1, 127, 128, 32767})
    assert _int16_on_model(M, m, fn, Fraction(1, 4096), xs) == 0


@pytest.mark.slow
@pytest.mark.parametrize("fn,sx", [("sigmoid", Fraction(1, 4096)), ("tanh", Fraction(1, 4096)),
                                   ("sigmoid", fl32(Fraction(1, 3000))), ("tanh", fl32(Fraction(1, 5000)))])
def test_int16_table_on_the_reference_model_sweep(model, fn, sx):
    M, m = model
    assert _int16_on_model(M, m, fn, sx, list(range(-32768, 32768))) == 0
