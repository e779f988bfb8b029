"""QONNX Quant / BipolarQuant / Trunc (refquant/qonnx.py) against qonnx 1.0.0 itself."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from refquant import backends, qonnx
from refquant.errors import InvalidValueError, UnknownNameError, Unpredictable

F = Fraction


def f32(v):
    return F(float(np.float32(v)))


@pytest.mark.parametrize("mode, want", [
    ("ROUND", [-2, -0, 0, 2, 2]), ("HALF_EVEN", [-2, -0, 0, 2, 2]), ("CEIL", [-2, 0, 1, 3, 3]),
    ("FLOOR", [-3, -1, 0, 2, 2]), ("UP", [-3, -1, 1, 3, 3]), ("DOWN", [-2, 0, 0, 2, 2]),
    ("HALF_UP", [-3, -1, 1, 3, 2]), ("HALF_DOWN", [-2, 0, 0, 2, 2])])
def test_rounding_modes_on_ties(mode, want):
    ys = [F(-5, 2), F(-1, 2), F(1, 2), F(5, 2), F(9, 4)]
    assert [qonnx.round_exact(y, mode) for y in ys] == want


def test_bounds_per_flags():
    assert qonnx.int_bounds(8, True, False) == (-128, 127)
    assert qonnx.int_bounds(8, True, True) == (-127, 127)
    assert qonnx.int_bounds(8, False, False) == (0, 255)
    assert qonnx.int_bounds(8, False, True) == (0, 254)
    assert qonnx.int_bounds(3, True, False) == (-4, 3)


def test_documented_near_tie_and_half_up_examples():
    # x = -1.35f, s = 0.1f, z = 3: exact x/s + z is just below -10.5 -> -11; binary32 lands on the tie -> -10
    x, s = f32(-1.35), f32(0.1)
    assert (qonnx.quant_exact(x, s, 3, 8) / s + 3) == -11 + 0   # (q - z) * s / s + z = q
    assert qonnx.quant_qonnx(x, s, 3, 8) == qonnx.fl32((-10 - 3) * s)
    y = F(1, 2) - F(1, 2**25)                                   # 0.49999997f
    assert qonnx.quant_exact(y, 1, 0, 8, rounding_mode="HALF_UP") == 0
    assert qonnx.quant_qonnx(y, 1, 0, 8, rounding_mode="HALF_UP") == 1
    assert qonnx.quant_qonnx(-y, 1, 0, 8, rounding_mode="HALF_UP") == -1


def test_bipolar_and_one_bit_signed():
    assert qonnx.bipolar_exact(0, F(3, 4)) == F(3, 4)
    assert qonnx.bipolar_exact(F(-1, 10**9), 2) == -2
    assert qonnx.quant_exact(F(-1, 3), 1, 0, 1) == -1 and qonnx.quant_qonnx(F(1, 3), 1, 0, 1) == 1


def test_trunc_shift_and_unpredictable_half():
    assert qonnx.trunc_shift(F(1, 2), F(1, 8)) == 2
    assert qonnx.trunc_shift(1, 1) == 0
    assert qonnx.trunc_shift(3, 1) == 2           # log2 3 = 1.58 -> 2
    assert qonnx.trunc_shift(F(11, 8), 1) == 0    # log2 1.375 = 0.46 -> 0
    with pytest.raises(Unpredictable, match="half-integer"):
        qonnx.trunc_shift(f32(2 ** 0.5), 1)        # log2 sqrt(2) = 0.5 within binary32 error


def test_trunc_exact_floor():
    # s = 1/8, 8 -> 6 bits, output scale 1/2 (t = 2): x = 13/8 -> RNE(13) / 4 = 3.25 -> FLOOR 3 -> 3 * 1/2
    assert qonnx.trunc_exact(F(13, 8), F(1, 8), 0, 8, F(1, 2), 6) == F(3, 2)
    assert qonnx.trunc_qonnx(F(13, 8), F(1, 8), 0, 8, F(1, 2), 6) == F(3, 2)


def test_bad_arguments_are_typed_errors():
    with pytest.raises(UnknownNameError, match="NEAREST"):
        qonnx.quant_exact(1, 1, 0, 8, rounding_mode="NEAREST")
    with pytest.raises(InvalidValueError, match="bit width 0"):
        qonnx.quant_exact(1, 1, 0, 0)
    with pytest.raises(InvalidValueError, match="scale -1"):
        qonnx.quant_qonnx(1, -1, 0, 8)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(-2**20, 2**20), e=st.integers(-12, 4), z=st.integers(-8, 8),
       mode=st.sampled_from(["ROUND", "CEIL", "FLOOR", "UP", "DOWN"]), bw=st.integers(2, 16))
def test_binary32_form_equals_exact_where_every_step_is_exact(n, e, z, mode, bw):
    # s a power of two and x = n/4 * s: x/s + z is a binary32 value, so qonnx's steps are exact
    s = F(2) ** e
    x = F(n, 4) * s
    assert qonnx.quant_qonnx(x, s, z, bw, rounding_mode=mode) == qonnx.quant_exact(x, s, z, bw, rounding_mode=mode)


def test_backend_rows_name_the_variants():
    assert backends.variant("qonnx", "qonnx_quant") is qonnx.quant_qonnx
    assert backends.variant("exact", "qonnx_trunc") is qonnx.trunc_exact


# ----- the peer itself ------------------------------------------------------------------------

peer = pytest.importorskip("refquant.peers.qonnx")


def _need_qonnx():
    pytest.importorskip("qonnx", reason="qonnx is not installed (pip install 'refquant[qonnx]')")


@pytest.mark.parametrize("mode", qonnx.ROUNDING_MODES)
def test_quant_equals_qonnx_on_near_ties(mode):
    _need_qonnx()
    rng = np.random.default_rng(7)
    for s, z, bw, signed, narrow in ((0.1, 3.0, 8, True, False), (0.3, 7.0, 8, False, True)):
        x = peer.near_ties(s, z, -30, 30, rng)
        kw = {"signed": signed, "narrow": narrow, "rounding_mode": mode}
        got = peer.run_quant(x, s, z, bw, **kw)
        assert np.array_equal(got, peer.model_array(qonnx.quant_qonnx, x, s, z, bw, **kw))


def test_trunc_and_bipolar_equal_qonnx():
    _need_qonnx()
    rng = np.random.default_rng(8)
    x = peer.near_ties(0.125, 0.0, -60, 60, rng)
    for mode in ("FLOOR", "ROUND", "HALF_UP"):
        got = peer.run_trunc(x, 0.125, 0.0, 8, 0.5, 6, rounding_mode=mode)
        assert np.array_equal(got, peer.model_array(qonnx.trunc_qonnx, x, 0.125, 0.0, 8, 0.5, 6, rounding_mode=mode))
    assert np.array_equal(peer.run_bipolar(x, 0.75), peer.model_array(qonnx.bipolar_qonnx, x, 0.75))


def test_verify_qonnx_has_no_unexplained_rows():
    _need_qonnx()
    rows = peer.backend_qonnx()
    assert rows and all(r.status in ("pass", "known") for r in rows), [r for r in rows if r.status not in
                                                                      ("pass", "known")]
    assert any(r.status == "known" and r.deviation == "binary32 x/s + z" for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("mode", qonnx.ROUNDING_MODES)
def test_quant_sweep_100k(mode):
    """>= 10^5 elements per rounding mode: random scales, zero points, near-ties, grids of 2..16 bits."""
    _need_qonnx()
    rng = np.random.default_rng(20261203)
    n = 0
    while n < 100_000:
        s = float(np.float32(rng.uniform(0.01, 2.0)))
        z = float(rng.integers(-8, 9))
        bw, signed, narrow = int(rng.integers(2, 17)), bool(rng.integers(2)), bool(rng.integers(2))
        x = np.concatenate([peer.near_ties(s, z, -50, 50, rng, 200)])
        kw = {"signed": signed, "narrow": narrow, "rounding_mode": mode}
        assert np.array_equal(peer.run_quant(x, s, z, bw, **kw), peer.model_array(qonnx.quant_qonnx, x, s, z, bw, **kw))
        n += x.size
