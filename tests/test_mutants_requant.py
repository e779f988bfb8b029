"""refquant.requant, edge by edge (mutation testing, docs/testing.md).

The TFLite and TOSA apply functions are built by factories (``_apply_tflite(build)``,
``_apply_tosa(double_round)``) that run once, at import, to fill ``METHODS``; mutmut activates a
mutant only when its function is called after import, so these tests call the factories again and
check every step of the result and of its explain trace against the fixed-point definitions in
refquant.fixedpoint (TFLite MultiplyByQuantizedMultiplier, gemmlowp SRDHM / RDBPOT, TOSA
apply_scale_32)."""

import re

import pytest

from refquant import fixedpoint as fp
from refquant import requant as rq
from refquant.errors import RefquantError
from refquant.trace import Step

M = 1518500250                     # about 0.7071 * 2^31
CASES = [(1000, 2), (-1000, 2), (1000, 0), (-77777, -5), (77777, -5), (3, -1), (-3, -1), (2**30 + 5, 2),
         (-(2**30) - 7, 1), (123456789, -12), (-123456789, -12), (5, 30)]


@pytest.mark.parametrize("acc, shift", CASES)
def test_tflite_double_each_step_and_its_trace(acc, shift):
    apply = rq._apply_tflite("double")
    left, right = max(shift, 0), max(-shift, 0)
    x = fp.wrap32(acc << left)
    h = fp.srdhm_i32(x, M)
    r = fp.rounding_divide_by_pot(h, right)
    for zp, lo, hi in ((3, -128, 127), (-5, -2**31, 2**31 - 1)):
        t = []
        q = apply(acc, {"m": M, "shift": shift}, zp, lo, hi, t)
        assert q == min(max(r + zp, lo), hi)
        assert t == [Step("x = wrap32(acc << left)", f"left = {left}", x),
                     Step("SRDHM(x, m)", f"round(x*{M}/2^31), ties +inf", h),
                     Step("RDBPOT(h, right)", f"right = {right}, ties away from 0", r),
                     Step("+ zero point", f"r + {zp}", r + zp),
                     Step("saturate", f"clamp to [{lo}, {hi}]", q)]
        assert apply(acc, {"m": M, "shift": shift}, zp, lo, hi, None) == q


@pytest.mark.parametrize("acc, shift", CASES)
def test_tflite_single_each_step_and_its_trace(acc, shift):
    apply = rq._apply_tflite("single")
    try:
        r = fp.multiply_by_quantized_multiplier(acc, M, shift, "single")
    except RefquantError as e:                        # the single build's checks, passed through
        with pytest.raises(type(e), match=f"^{re.escape(str(e))}$"):
            apply(acc, {"m": M, "shift": shift}, 7, -128, 127, [])
        return
    t = []
    q = apply(acc, {"m": M, "shift": shift}, 7, -128, 127, t)
    assert q == min(max(r + 7, -128), 127)
    assert t == [Step("(acc*m + 2^(T-1)) >> T", f"T = {31 - shift}, ties +inf", r),
                 Step("+ zero point", "r + 7", r + 7), Step("saturate", "clamp to [-128, 127]", q)]


def test_tflite_builds_differ_where_the_definitions_do():
    # a tie after the shift: double rounds SRDHM then RDBPOT away from zero; single rounds once, up
    double, single = rq._apply_tflite("double"), rq._apply_tflite("single")
    p = {"m": 2**30, "shift": -1}                     # acc * 1/2 * 1/2
    assert [double(a, p, 0, -10**9, 10**9, None) for a in (-2, 2, -6, 6)] == [-1, 1, -2, 2]
    assert [single(a, p, 0, -10**9, 10**9, None) for a in (-2, 2, -6, 6)] == [0, 1, -1, 2]
    assert rq.METHODS["tflite_double"].apply(-2, p, 0, -10, 10, None) == -1
    assert rq.METHODS["tflite_single"].apply(-2, p, 0, -10, 10, None) == 0


@pytest.mark.parametrize("double_round", [False, True])
def test_tosa_apply_scale_32_and_its_trace(double_round):
    apply = rq._apply_tosa(double_round)
    mode = "DOUBLE_ROUND" if double_round else "SINGLE_ROUND"
    for acc, m, s in ((1000, M, 33), (-1000, M, 33), (2**31 - 1, 2**30, 62), (-(2**31), 2**30, 40),
                      (12345, 2**30 - 1, 32), (1, M, 2)):
        r = fp.apply_scale_32(acc, m, s, double_round)
        t = []
        q = apply(acc, {"m": m, "s": s}, -3, -128, 127, t)
        assert q == min(max(r - 3, -128), 127)
        assert t == [Step("apply_scale_32", f"TOSA {mode}, m = {m}, s = {s}", r), Step("+ zero point", "r + -3", r - 3),
                     Step("saturate", "clamp to [-128, 127]", q)]


def test_tosa_single_and_double_round_differ():
    single, double = rq._apply_tosa(False), rq._apply_tosa(True)
    p = {"m": 2**30, "s": 33}                             # acc / 8, the double round adds 2^30 first
    got = [(single(a, p, 0, -10**9, 10**9, None), double(a, p, 0, -10**9, 10**9, None)) for a in range(-12, 13)]
    assert any(a != b for a, b in got)
    assert got == [(fp.apply_scale_32(a, 2**30, 33, False), fp.apply_scale_32(a, 2**30, 33, True))
                   for a in range(-12, 13)]
