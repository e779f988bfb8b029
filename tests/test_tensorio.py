"""The one dtype vocabulary of tensor files (refquant.tensorio.dtypes) and its two readers."""

import numpy as np
import pytest

from refquant.audit import tensors as audit_tensors
from refquant.errors import InvalidValueError, UnknownNameError
from refquant.golden import tensors as golden_tensors
from refquant.tensorio import DTYPES, lookup


def test_every_spelling_names_one_row():
    for d in DTYPES.values():
        for spelling in (d.short, d.name, d.numpy):
            if spelling is not None:
                assert lookup(spelling) is d


def test_golden_rows_are_the_golden_set():
    assert list(golden_tensors.DTYPES) == ["i4", "u4", "i8", "u8", "i16", "u16", "i32", "u32", "f64", "f32", "f16",
                                           "bf16", "e4m3fn", "e5m2", "e4m3fnuz", "e5m2fnuz", "e2m3", "e3m2", "e2m1", "e8m0"]
    assert golden_tensors.short_dtype("float32") == "f32"
    assert golden_tensors.short_dtype("fp8_e4m3fn") == "e4m3fn"
    with pytest.raises(UnknownNameError, match="int64"):
        golden_tensors.short_dtype("int64")          # a row of the table, but not a golden dtype


def test_audit_reads_every_spelling(tmp_path):
    p = tmp_path / "y.hex"
    p.write_text("ff\n80\n7f\n00\n")
    for spelling in ("int8", "i8"):
        assert audit_tensors.load(str(p), spelling, [4]).tolist() == [-1, -128, 127, 0]
    q = tmp_path / "f.hex"
    q.write_text("3f800000\nc0000000\n")
    for spelling in ("float32", "fp32", "f32"):
        assert audit_tensors.load(str(q), spelling, [2]).tolist() == [1.0, -2.0]
    assert audit_tensors.np_dtype("u4") == np.uint8


def test_audit_refuses_a_dtype_it_cannot_hold():
    with pytest.raises(InvalidValueError, match="bf16"):
        audit_tensors.check_dtype("bf16")            # bit patterns only: no numpy value type
    with pytest.raises(InvalidValueError, match="'int7'"):
        audit_tensors.check_dtype("int7")
