"""refquant.x86_pairs: the int16 pair-saturated accumulator of x86 int8 GEMMs without VNNI.

Against an independent numpy form and hand cases here; against oneDNN and FBGEMM themselves in
tests/test_peer_pair_saturation.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant.errors import InvalidValueError
from refquant.x86_pairs import pair_saturated_matmul, sat16


def numpy_model(a, b, za, a_type):
    ap = np.asarray(a, np.int64) + (128 if a_type == "int8" else 0)
    bb = np.asarray(b, np.int64)
    if ap.shape[1] % 2:
        ap = np.pad(ap, ((0, 0), (0, 1)))
        bb = np.pad(bb, ((0, 1), (0, 0)))
    pairs = ap[:, 0::2, None] * bb[None, 0::2, :] + ap[:, 1::2, None] * bb[None, 1::2, :]
    za = za + (128 if a_type == "int8" else 0)
    return np.clip(pairs, -32768, 32767).sum(axis=1) - za * bb.sum(axis=0)[None, :]


def test_sat16_bounds():
    assert [sat16(v) for v in (-40000, -32769, -32768, 0, 32767, 32768, 64770)] == \
        [-32768, -32768, -32768, 0, 32767, 32767, 32767]


def test_hand_cases():
    assert pair_saturated_matmul([[255, 255]], [[127], [127]]) == [[32767]]           # not 64770
    assert pair_saturated_matmul([[255, 255]], [[-128], [-128]]) == [[-32768]]        # not -65280
    assert pair_saturated_matmul([[100, 100]], [[100], [100]]) == [[20000]]           # exact
    assert pair_saturated_matmul([[255, 255, 255]], [[127], [127], [127]]) == [[32767 + 32385]]   # odd K
    # int8 A: A + 128 against B, minus 128 * sum(B): A = 127, B = 127, K = 64 -> 32 * 32767 - 128 * 127 * 64
    assert pair_saturated_matmul([[127] * 64], [[127]] * 64, 0, "int8") == [[8160]]
    assert pair_saturated_matmul([[127] * 64], [[-128]] * 64, 0, "int8") == [[0]]
    # the zero point part is exact
    assert pair_saturated_matmul([[255, 255]], [[127], [127]], 3) == [[32767 - 3 * 254]]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 9), st.integers(1, 4), st.sampled_from(["uint8", "int8"]),
       st.integers(0, 2**32 - 1))
def test_equals_the_numpy_form(m, k, n, a_type, seed):
    rng = np.random.default_rng(seed)
    lo, hi = (0, 256) if a_type == "uint8" else (-128, 128)
    a = rng.integers(lo, hi, (m, k))
    a[:, rng.random(k) < 0.3] = hi - 1
    b = rng.integers(-128, 128, (k, n))
    za = int(rng.integers(lo, hi))
    got = pair_saturated_matmul(a.tolist(), b.tolist(), za, a_type)
    np.testing.assert_array_equal(np.array(got, np.int64).reshape(m, n), numpy_model(a, b, za, a_type))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_exact_where_no_pair_leaves_int16(m, k, n, seed):
    # uint8 A <= 127: |pair| <= 2 * 127 * 128 = 32512, so nothing saturates
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 128, (m, k)), rng.integers(-128, 128, (k, n))
    za = int(rng.integers(0, 256))
    got = np.array(pair_saturated_matmul(a.tolist(), b.tolist(), za), np.int64).reshape(m, n)
    np.testing.assert_array_equal(got, (a - za) @ b)


@pytest.mark.parametrize("args, match", [
    (([[256]], [[1]]), r"a\[0\]\[0\] = 256"),
    (([[-1]], [[1]]), r"a\[0\]\[0\] = -1"),
    (([[1]], [[128]]), r"b\[0\]\[0\] = 128"),
    (([[1.5]], [[1]]), r"a\[0\]\[0\] = 1.5"),
    (([[1, 2]], [[1]]), "a row 0 has 2 codes, b has 1 rows"),
    (([[1, 1]], [[1, 2], [3]]), "b row 1 has 1 codes"),
    (([[1]], [[1]], 300), "a_zero_point = 300"),
    (([[1]], [[1]], 0, "int4"), "a_type 'int4'"),
    (([[128]], [[1]], 0, "int8"), r"a\[0\]\[0\] = 128"),
])
def test_bad_input_names_the_value(args, match):
    with pytest.raises(InvalidValueError, match=match):
        pair_saturated_matmul(*args)
