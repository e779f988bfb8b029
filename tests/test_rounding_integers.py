"""refquant.rounding and refquant.integers: each mode against its definition, stochastic rounding
reproducible and unbiased, integer types vs numpy casts, ONNX sub-byte packing vs onnx itself,
the accumulator model, and the core CLI commands."""
import math
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from refquant import integers as I, rounding as R
from refquant.errors import AccumulatorOverflowError, InvalidValueError, UnknownNameError
from peers import need

fractions = st.fractions(max_denominator=10**6) | st.integers(-10**6, 10**6).map(lambda k: Fraction(2 * k + 1, 2))


@given(fractions)
def test_modes_against_definitions(x):
    fl, ce = math.floor(x), math.ceil(x)
    assert R.floor(x) == fl and R.ceil(x) == ce and R.toward_zero(x) == math.trunc(x)
    assert R.half_even(x) == round(x)  # Fraction.__round__ is round-half-even
    assert R.half_up(x) == math.floor(x + Fraction(1, 2))
    assert R.half_down(x) == math.ceil(x - Fraction(1, 2))
    nearest = {fl, ce}
    assert R.half_away(x) in nearest and abs(R.half_away(x) - x) <= Fraction(1, 2)
    if x - fl == Fraction(1, 2):
        assert R.half_away(x) == (ce if x > 0 else fl)


def test_tie_table():
    ties = [Fraction(k, 2) for k in (-5, -3, -1, 1, 3, 5)]
    assert [R.half_even(t) for t in ties] == [-2, -2, 0, 0, 2, 2]
    assert [R.half_away(t) for t in ties] == [-3, -2, -1, 1, 2, 3]
    assert [R.half_up(t) for t in ties] == [-2, -1, 0, 1, 2, 3]
    assert [R.half_down(t) for t in ties] == [-3, -2, -1, 0, 1, 2]


def test_stochastic_is_reproducible_and_unbiased():
    x = Fraction(1, 3) + 7
    first = [R.stochastic(x, seed=42, index=i) for i in range(20000)]
    assert first == [R.round_to_int(x, "stochastic", seed=42, index=i) for i in range(20000)]
    assert set(first) == {7, 8}
    ups = sum(v == 8 for v in first)
    # binomial(20000, 1/3): mean 6667, sd 66.7; 5 sd bounds
    assert abs(ups - 20000 / 3) < 5 * math.sqrt(20000 * (1 / 3) * (2 / 3))
    assert first != [R.stochastic(x, seed=43, index=i) for i in range(20000)]
    assert R.stochastic(Fraction(5), 1, 1) == 5 and R.stochastic(Fraction(-1, 2), 3, 9) in (-1, 0)


def test_stochastic_generator_documented_constants():
    """The first outputs of the documented SplitMix64-based draw, so C / RTL ports can check themselves."""
    assert [R.stochastic_uniform32(0, i) for i in range(3)] == [R.stochastic_uniform32(0, 0),
                                                                 R.stochastic_uniform32(0, 1),
                                                                 R.stochastic_uniform32(0, 2)]
    z = (0 + 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    assert R.stochastic_uniform32(0, 0) == (z ^ (z >> 31)) >> 32
    with pytest.raises(InvalidValueError):
        R.stochastic_uniform32(-1, 0)


def test_rounding_bad_input():
    with pytest.raises(UnknownNameError, match="half_even"):
        R.round_to_int(Fraction(1, 2), "nearest")
    with pytest.raises(InvalidValueError, match="exact rational"):
        R.half_even(0.5)


@pytest.mark.parametrize("name", ["int8", "uint8", "int16", "uint16", "int32", "uint32"])
@given(st.integers(-2**40, 2**40))
def test_wrap_matches_numpy_cast(name, v):
    np = need("numpy")
    assert I.wrap(name, v) == int(np.array([v], dtype=np.int64).astype(name)[0])


@given(st.sampled_from(sorted(I.INT_TYPES)), st.integers(-2**70, 2**70))
def test_saturate_check(name, v):
    t = I.get_type(name)
    s = I.saturate(t, v)
    assert t.min <= s <= t.max and (s == v) == t.contains(v)
    if t.contains(v):
        assert I.check(t, v) == v
    else:
        with pytest.raises(InvalidValueError, match=str(v)):
            I.check(t, v)


def test_narrow_types():
    assert (I.get_type("int8_narrow").min, I.get_type("int8_narrow").max) == (-127, 127)
    assert (I.get_type("int4").min, I.get_type("int4").max) == (-8, 7)


@pytest.mark.parametrize("name,ml", [("int4", "int4"), ("uint4", "uint4"), ("int2", "int2"), ("uint2", "uint2")])
@given(data=st.data())
def test_subbyte_packing_matches_onnx(name, ml, data):
    np = need("numpy")
    ml_dtypes = need("ml_dtypes")
    need("onnx")
    from onnx import numpy_helper
    t = I.get_type(name)
    vals = data.draw(st.lists(st.integers(t.min, t.max), min_size=1, max_size=33))
    tensor = numpy_helper.from_array(np.array(vals, dtype=getattr(ml_dtypes, ml)))
    packed = I.pack_subbyte(vals, t)
    assert packed == tensor.raw_data
    assert I.unpack_subbyte(packed, t, len(vals)) == vals


def test_accumulator_policies_and_report():
    hi = 2**31 - 1
    wrap = I.Accumulator(32, "wrap")
    assert wrap.sum([hi, 1, -1], where=(0, 0)) == hi and wrap.overflows == {(0, 0): 2}
    sat = I.Accumulator(32, "saturate")
    assert sat.sum([hi, 1, -1], where=(0, 1)) == hi - 1 and sat.overflows == {(0, 1): 1}
    err = I.Accumulator(32, "error")
    with pytest.raises(AccumulatorOverflowError, match=r"output \(2, 3\)"):
        err.sum([hi, 1], where=(2, 3))
    small = I.Accumulator(8, "wrap")
    assert small.sum([100, 100]) == -56
    with pytest.raises(InvalidValueError, match="width"):
        I.Accumulator(-4)
    with pytest.raises(UnknownNameError, match="saturate"):
        I.Accumulator(32, "clamp")


@given(st.lists(st.integers(-2**31, 2**31 - 1), max_size=30))
def test_accumulator_wrap_is_sum_mod_2_32(terms):
    assert I.Accumulator().sum(terms) == I.wrap("int32", sum(terms))
    assert I.Accumulator(32, "wrap").total(terms) == I.Accumulator(32, "wrap").sum(terms)


# ---------------------------------------------------------------------------------------------
# The core CLI, as a user runs it
# ---------------------------------------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "refquant", *args], capture_output=True, text=True, timeout=120)


def test_cli_decode_encode_formats():
    r = run_cli("decode", "fp8_e4m3fn", "0x7e")
    assert r.returncode == 0 and "448" in r.stdout and "next_down: 0x7d (416)" in r.stdout
    r = run_cli("encode", "bf16", "0.1", "--rounding", "rtz", "--json")
    assert r.returncode == 0 and '"bits": "0x3dcc"' in r.stdout
    r = run_cli("encode", "fp8_e4m3fn", "1000", "--overflow", "saturate")
    assert r.returncode == 0 and "0x7e" in r.stdout
    r = run_cli("formats")
    assert r.returncode == 0 and "fp8_e4m3fnuz" in r.stdout and "e8m0" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (("decode", "fp9", "1"), "unknown float format 'fp9'"),
    (("decode", "fp16", "0x10000"), "out of range for fp16"),
    (("decode", "fp16", "zz"), "cannot read bits 'zz'"),
    (("encode", "fp32", "abc"), "cannot read 'abc' as a number"),
    (("encode", "fp4_e2m1", "nan"), "no NaN"),
    (("encode", "fp32", "1", "--rounding", "nearest"), "invalid choice"),
])
def test_cli_bad_input_exit_2(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


def test_cli_internal_error_exit_3(monkeypatch, capsys):
    from refquant import cli, formats as F

    def broken(*a, **k):
        raise ZeroDivisionError("simulated bug")
    monkeypatch.setattr(F, "decode", broken)
    assert cli.main(["decode", "fp16", "0x3c00"]) == 3
    assert "internal error" in capsys.readouterr().err
