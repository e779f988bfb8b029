"""Tests written against the survivors of a mutmut 3 run on refquant/integers.py (docs/testing.md):
the type table itself, aliases, ``convert``, messages, sub-byte edge counts and the accumulator's
boundary values (a sum landing exactly on an end of the register is not an overflow)."""
import pytest

from refquant import integers as I
from refquant.errors import AccumulatorOverflowError, InvalidValueError, UnknownNameError

TABLE = {  # name: (bits, signed, narrow, min, max)
    "int2": (2, True, False, -2, 1), "int2_narrow": (2, True, True, -1, 1), "uint2": (2, False, False, 0, 3),
    "int4": (4, True, False, -8, 7), "int4_narrow": (4, True, True, -7, 7), "uint4": (4, False, False, 0, 15),
    "int8": (8, True, False, -128, 127), "int8_narrow": (8, True, True, -127, 127), "uint8": (8, False, False, 0, 255),
    "int16": (16, True, False, -32768, 32767), "int16_narrow": (16, True, True, -32767, 32767),
    "uint16": (16, False, False, 0, 65535),
    "int32": (32, True, False, -2**31, 2**31 - 1), "int32_narrow": (32, True, True, -2**31 + 1, 2**31 - 1),
    "uint32": (32, False, False, 0, 2**32 - 1),
    "int48": (48, True, False, -2**47, 2**47 - 1), "int48_narrow": (48, True, True, -2**47 + 1, 2**47 - 1),
    "int64": (64, True, False, -2**63, 2**63 - 1), "int64_narrow": (64, True, True, -2**63 + 1, 2**63 - 1),
    "uint64": (64, False, False, 0, 2**64 - 1),
}


def test_the_type_table_is_exactly_this():
    """INT_TYPES is built at import; the builder is called again here so that a change to it shows."""
    for table in (I.INT_TYPES, I._table()):
        assert set(table) == set(TABLE)
        for name, (bits, signed, narrow, lo, hi) in TABLE.items():
            t = table[name]
            assert (t.name, t.bits, t.signed, t.narrow, t.min, t.max) == (name, bits, signed, narrow, lo, hi)
    assert "uint48" not in I.INT_TYPES


@pytest.mark.parametrize("alias,name", sorted(I.ALIASES.items()))
def test_aliases(alias, name):
    assert I.get_type(alias) is I.INT_TYPES[name]


def test_unknown_type_error():
    with pytest.raises(UnknownNameError) as exc:
        I.get_type("int7")
    e = exc.value
    assert (e.kind, e.name) == ("integer type", "int7") and set(e.valid) == set(TABLE)
    assert str(e).startswith("unknown integer type 'int7'; expected one of: int16, ")


@pytest.mark.parametrize("policy,v,want", [("wrap", 130, -126), ("saturate", 130, 127), ("error", 100, 100),
                                           ("wrap", -129, 127), ("saturate", -129, -128)])
def test_convert(policy, v, want):
    assert I.convert("int8", v, policy) == want


def test_convert_error_and_unknown_policy():
    with pytest.raises(InvalidValueError, match=r"^value 128 is outside int8 \[-128, 127\]$"):
        I.convert("int8", 128, "error")
    with pytest.raises(UnknownNameError, match="unknown overflow policy 'clip'; expected one of: error, saturate, wrap"):
        I.convert("int8", 1, "clip")


def test_messages_name_the_value():
    with pytest.raises(InvalidValueError, match=r"^value must be an int, got 1\.5 of type float$"):
        I.saturate("int8", 1.5)
    with pytest.raises(InvalidValueError, match=r"^value must be an int, got True of type bool$"):
        I.wrap("int8", True)
    with pytest.raises(InvalidValueError, match=r"^value 300 is outside int8 \[-128, 127\]$"):
        I.check("int8", 300)
    with pytest.raises(InvalidValueError, match=r"^zero point must be an int, got '3' of type str$"):
        I.check("int8", "3", "zero point")
    with pytest.raises(InvalidValueError, match=r"^element 1 8 is outside int4 \[-8, 7\]$"):
        I.pack_subbyte([1, 8], "int4")
    with pytest.raises(InvalidValueError, match=r"^sub-byte packing needs a 2- or 4-bit type, got int8$"):
        I.pack_subbyte([1], "int8")
    with pytest.raises(InvalidValueError, match=r"^sub-byte unpacking needs a 2- or 4-bit type, got uint8$"):
        I.unpack_subbyte(b"\x00", "uint8", 1)


def test_unpack_counts():
    assert I.unpack_subbyte(b"", "int4", 0) == [] and I.unpack_subbyte(b"\x21", "uint4", 0) == []
    assert I.unpack_subbyte(b"\x21", "uint4", 2) == [1, 2]
    with pytest.raises(InvalidValueError, match=r"^1 bytes hold at most 2 uint4 elements, asked for 3$"):
        I.unpack_subbyte(b"\x21", "uint4", 3)
    with pytest.raises(InvalidValueError, match=r"^1 bytes hold at most 4 int2 elements, asked for -1$"):
        I.unpack_subbyte(b"\x21", "int2", -1)


def test_accumulator_width_and_policy_checks():
    assert (I.Accumulator(2).lo, I.Accumulator(2).hi) == (-2, 1)
    for bad in (1, 32.0, True, "32"):
        with pytest.raises(InvalidValueError, match="accumulator width must be an int >= 2"):
            I.Accumulator(bad)
    with pytest.raises(UnknownNameError) as exc:
        I.Accumulator(32, "clip")
    assert (exc.value.kind, exc.value.name) == ("accumulator overflow policy", "clip")


@pytest.mark.parametrize("policy", I.POLICIES)
def test_landing_exactly_on_either_end_is_not_an_overflow(policy):
    acc = I.Accumulator(8, policy)
    assert acc.step(100, 27, "hi") == 127 and acc.step(-100, -28, "lo") == -128
    assert acc.sum([100, 27], "s1") == 127 and acc.sum([-100, -28], "s2") == -128
    assert acc.overflows == {}


def test_saturate_clamps_to_the_end_it_left_by():
    acc = I.Accumulator(8, "saturate")
    assert acc.step(-100, -29, "a") == -128 and acc.step(100, 28, "b") == 127
    assert acc.sum([-100, -100, 50], "c") == -78  # -128 after the second term, then + 50
    assert acc.overflows == {"a": 1, "b": 1, "c": 1}


def test_wrap_is_modular_from_both_ends():
    acc = I.Accumulator(8, "wrap")
    assert acc.step(127, 1) == -128 and acc.step(-128, -1) == 127 and acc.step(100, 100) == -56
    assert acc.step(-100, -100) == 56


def test_total_keys_overflows_by_output():
    acc = I.Accumulator(8, "wrap")
    assert acc.total([100, 100, -100], where=(2, 3)) == 100
    assert acc.overflows == {(2, 3): 2} and acc.overflowed == 1  # 200 wraps to -56, -156 wraps back
    assert acc.total([60, 67]) == 127  # sum(|t|) == hi: the fast path, exact
    err = I.Accumulator(8, "error")
    with pytest.raises(AccumulatorOverflowError, match=r"output \(0, 1\): 100 \+ 100 = 200 is outside \[-128, 127\]"):
        err.total([100, 100], where=(0, 1))
