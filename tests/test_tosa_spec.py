"""refquant/tosa.py on its own (no peer needed): worked numbers from the TOSA 1.0 pseudo-code,
properties (hypothesis), the AVG_POOL2D rounding, the quantized chains against the exact ideal and
the backend rows.  tests/test_tosa_ops.py runs the same operators against the reference model."""

import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refquant import tosa as T
from refquant.errors import InvalidValueError, UnknownNameError, Unpredictable

X33 = [[[[1], [2], [3]], [[4], [5], [6]], [[7], [8], [9]]]]


def test_mul_worked_numbers():
    # shift 1: (3 * -5 + 1) >> 1 = -7 (the tie -7.5 goes toward +inf); 5 * 1 >> 1 = 3 (2.5 -> 3)
    assert T.mul([3, 5, -5], [-5, 1, 1], 1) == [-7, 3, -2]
    assert T.mul([2**20], [2**20], 0) == [0]                      # shift 0: the low 32 bits of 2^40
    with pytest.raises(Unpredictable, match="overflows int32"):
        T.mul([2**20], [2**20], 1)
    with pytest.raises(Unpredictable, match="shift = 64"):
        T.mul([1], [1], 64)
    with pytest.raises(Unpredictable, match="with int8 inputs"):
        T.mul([1], [1], 1, in_type="int8")
    with pytest.raises(InvalidValueError, match="outside int8"):
        T.mul([200], [1], 0, in_type="int8")
    with pytest.raises(InvalidValueError, match="pad must be 4 ints"):
        T.max_pool2d(X33, [2, 2], [1, 1], [0, 0])
    with pytest.raises(UnknownNameError, match="int8"):
        T.avg_pool2d(X33, [2, 2], [1, 1], [0, 0, 0, 0], in_type="int32")

def test_arithmetic_right_shift_worked_numbers():
    # round: + bit (shift - 1): 5 >> 1 -> 3, -5 >> 1 -> -2 (ties toward +inf); 127 >> 1 -> 64 in int8
    assert T.arithmetic_right_shift([5, -5, 7, -7], [1, 1, 1, 1], round=True) == [3, -2, 4, -3]
    assert T.arithmetic_right_shift([5, -5], [1, 1]) == [2, -3]
    assert T.arithmetic_right_shift([127, -128, -1], [1, 7, 7], round=True, dtype="int8") == [64, -1, 0]
    with pytest.raises(Unpredictable, match="shift = 8"):
        T.arithmetic_right_shift([1], [8], dtype="int8")

def test_table_worked_numbers_and_length():
    tab = [i * 100 - 25600 for i in range(513)]                  # a line of slope 100 per 128 inputs
    assert T.table([-32768, -1, 0, 127, 32767], tab, in_type="int16") == [-3276800, -100, 0, 12700, 3276700]
    with pytest.raises(Unpredictable, match="length"):
        T.table([0], tab[:512], in_type="int16")

def test_reduce_sum_partial_sums_overflow_in_order():
    # 2^31 - 1 + 1 overflows before -5 would bring it back: the spec accumulates in index order
    with pytest.raises(Unpredictable, match="overflows int32"):
        T.reduce_sum([[2**31 - 1, 1, -5]], 1)
    assert T.reduce_sum([[2**31 - 1, -5, 1]], 1) == [[2**31 - 5]]

def test_avg_pool_rounds_ties_away_from_zero_through_reciprocal_scale():
    """The multiplier is a little above 1/count, so an exact half lands just beyond it: 1/2 -> 1,
    -1/2 -> -1 (away from zero, although apply_scale_32 alone rounds ties toward +inf)."""
    assert T.reciprocal_scale(1) == (2**30 + 1, 30)
    assert T.reciprocal_scale(3) == (1431655766, 32)
    assert T.avg_pool2d([[[[1], [-1], [3], [-3]], [[0], [0], [0], [0]]]], [2, 1], [1, 1], [0, 0, 0, 0]) == \
        [[[[1], [-1], [2], [-2]]]]
    x = [[[[1], [-1], [4], [5]], [[0], [0], [0], [0]], [[0], [0], [0], [0]]]]
    assert T.avg_pool2d(x, [3, 1], [1, 1], [0, 0, 0, 0]) == [[[[0], [0], [1], [2]]]]

def test_avg_pool_equals_round_half_away_of_the_exact_average():
    """For every sum of 1..32 int8 taps (all of [-128c, 127c]), TOSA's reciprocal_scale result is
    round-half-away-from-zero of sum/count: no other rounding difference."""
    for count in range(1, 33):
        m, s = T.reciprocal_scale(count)
        for total in range(-128 * count, 127 * count + 1):
            q = Fraction(total, count)
            half_away = int(q + Fraction(1, 2)) if q >= 0 else -int(-q + Fraction(1, 2))
            assert (total * m + (1 << (s - 1))) >> s == half_away, (count, total)

def test_quantized_chain_worked_numbers():
    # 5 * 0.5 + 3 * 0.25 = 3.25 at scale 0.5 -> 6.5 -> 7 (SINGLE_ROUND: ties toward +inf)
    assert T.quantized_add([5], 0.5, 0, [3], 0.25, 0, 0.5, 0) == [7]
    # -128 * 0.5 + 127 * 0.25 = -32.25 -> -64.5: SINGLE -64, DOUBLE -65 (away from zero at the tie)
    assert T.quantized_add([-128], 0.5, 0, [127], 0.25, 0, 0.5, 0) == [-64]
    assert T.quantized_add([-128], 0.5, 0, [127], 0.25, 0, 0.5, 0, rounding_mode="DOUBLE_ROUND") == [-65]
    assert T.add_chain_scales(0.5, 0.25, 0.5) == (Fraction(1, 2), Fraction(1, 4), Fraction(1, 2**19))
    single = T.chain_plan("ADD", 0.5, 0, 0.25, 0, 0.5, 0)
    assert [st[1:3] for st in single["a"] + single["b"]] == [(2**30, 11), (2**30, 12)]
    assert single["out"] == ("RESCALE", 2**30, 49, "int32", "int8", 0, 0, "SINGLE_ROUND")
    double = T.chain_plan("ADD", 0.5, 0, 0.25, 0, 0.5, 0, rounding_mode="DOUBLE_ROUND")
    assert [st[1:3] for st in double["a"]] == [(2**30, 11)]                  # ratio 0.5: one RESCALE
    assert [st[1:3] for st in double["b"]] == [(2**30, 10), (2**30, 32)]     # x 2^20, then x 0.25
    assert T.chain_plan("SUB", 0.5, 0, 0.25, 0, 0.5, 0, dtype="int16", rounding_mode="DOUBLE_ROUND")["b"][0] == \
        ("CAST_LSHIFT", 15)
    assert T.chain_plan("MUL", 0.5, 1, 0.25, 2, 0.5, 3)["out"] == ("RESCALE", 2**30, 32, "int32", "int8", 0, 3,
                                                                  "DOUBLE_ROUND")
    with pytest.raises(InvalidValueError, match="positive finite"):
        T.quantized_mul([1], 0.0, 0, [1], 0.5, 0, 0.5, 0)
    with pytest.raises(UnknownNameError):
        T.quantized_add([1], 0.5, 0, [1], 0.5, 0, 0.5, 0, dtype="int32")
    assert T.VARIANTS["add"]["tosa_double"]([-128], Fraction(1, 2), 0, [127], 0.25, 0, 0.5, 0) == [-65]

def test_chains_within_one_code_of_the_exact_ideal():
    """The RESCALE chains against refquant.qops (exact rationals, one RNE): never more than one code
    apart, and apart on some elements (ties and near-ties; docs/ops.md gives the counts)."""
    from refquant import qops
    rng = random.Random(11)
    apart = 0
    for trial in range(40):
        op = ("add", "mul")[trial % 2]
        sa, sb, sy = (2.0 ** rng.randint(-10, -2) for _ in range(3))
        za, zb, zy = (rng.randint(-128, 127) for _ in range(3))
        a, b = [rng.randint(-128, 127) for _ in range(40)], [rng.randint(-128, 127) for _ in range(40)]
        ideal = getattr(qops, op)(a, sa, za, b, sb, zb, sy, zy, dtype="int8")
        for mode in ("SINGLE_ROUND", "DOUBLE_ROUND"):
            got = getattr(T, "quantized_" + op)(a, sa, za, b, sb, zb, sy, zy, rounding_mode=mode)
            assert max(abs(g - e) for g, e in zip(got, ideal)) <= 1, (op, mode, sa, sb, sy)
            apart += sum(g != e for g, e in zip(got, ideal))
    assert apart > 0

def test_double_round_two_step_input_rescale_differs_from_one_step():
    """docs/ops.md: x * 2^20 then x ratio (shift > 31: double rounding) is not one RESCALE by
    ratio * 2^20 (shift < 31: none); the worked element from the text."""
    from refquant import fixedpoint as fp
    r = Fraction(817425808682903, 2**51)
    m1, s1 = fp.tosa_scale_from_real(r * 2**20)
    m2, s2 = fp.tosa_scale_from_real(r)
    assert s1 <= 31 < s2
    one = T.tosa_rescale([-255], m1, s1, in_type="int32", out_type="int32", rounding_mode="DOUBLE_ROUND")
    two = T.tosa_rescale([-255 * 2**20], m2, s2, in_type="int32", out_type="int32", rounding_mode="DOUBLE_ROUND")
    assert (one, two) == ([-97064106], [-97064107])

def test_backend_rows_resolve_the_tosa_variants():
    from refquant import backends
    args = ([-128, 5], 0.5, 0, [127, 3], 0.25, 0, 0.5, 0)
    assert backends.variant("tosa", "add")(*args) == T.quantized_add(*args) == [-64, 7]
    assert backends.variant("tosa_double_round", "add")(*args) == T.quantized_add(*args, rounding_mode="DOUBLE_ROUND")
    assert backends.variant("tosa_double_round", "add")(*args)[0] == -65
    assert backends.variant("tosa", "tosa_avg_pool2d") is T.avg_pool2d
    assert backends.variant("tosa_double_round", "tosa_mul_i32") is T.mul
    assert set(backends.get_backend("tosa").ops) == set(backends.get_backend("tosa_double_round").ops)

@given(st.integers(-(2**31), 2**31 - 1), st.integers(0, 31), st.booleans())
def test_arithmetic_right_shift_is_floor_or_half_up(x, s, rnd):
    q = Fraction(x, 2**s)
    want = (q + Fraction(1, 2)).__floor__() if rnd and s > 0 else q.__floor__()
    assert T.arithmetic_right_shift([x], [s], round=rnd) == [want]

@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1), st.integers(1, 63))
def test_mul_shift_is_floor_plus_half_or_unpredictable(x, y, s):
    want = (Fraction(x * y, 2**s) + Fraction(1, 2)).__floor__()
    if -(2**31) <= want < 2**31:
        assert T.mul([x], [y], s) == [want]
    else:
        with pytest.raises(Unpredictable):
            T.mul([x], [y], s)

@settings(max_examples=30)
@given(st.integers(-2000, 2000), st.lists(st.integers(-55, 55), min_size=512, max_size=512),
           st.integers(-32768, 32767))
def test_table_int16_interpolates_between_knots(start, steps, v):
    tab = [start]
    for d in steps:
        tab.append(tab[-1] + d)
    i, f = (v + 32768) >> 7, (v + 32768) & 0x7F
    assert T.table([v], tab, in_type="int16") == [tab[i] * 128 + (tab[i + 1] - tab[i]) * f]
