"""OpenVINO FakeQuantize (refquant/openvino.py) against openvino 2026.4.1's CPU plugin itself."""

from fractions import Fraction

import numpy as np
import pytest

from refquant import backends, openvino
from refquant.errors import InvalidValueError, UnknownNameError

F = Fraction


def f32(v):
    return F(float(np.float32(v)))


def test_formula_ends_and_tie():
    # levels 5 on [0, 1]: steps of 1/4; x = 1/8 is a tie between 0 and 1/4 -> even level 0
    assert openvino.fake_quantize_exact(F(1, 8), 0, 1, 0, 1, 5) == 0
    assert openvino.fake_quantize_exact(F(3, 8), 0, 1, 0, 1, 5) == F(1, 2)     # tie 1.5 -> level 2
    assert openvino.fake_quantize_exact(-5, 0, 1, 10, 20, 5) == 10             # x <= il -> ol
    assert openvino.fake_quantize_exact(5, 0, 1, 10, 20, 5) == 20              # x > ih -> oh
    assert openvino.fake_quantize_exact(F(1, 2), 0, 1, 0, 4, 5) == 2           # output to the level index


def test_documented_near_tie_example():
    # u8 grid s = 0.3f, zp = 27 -> il = fl(-27 * 0.3f), ih = fl(228 * 0.3f); x = -6.15f: the formula gives
    # level 7, the CPU plugin (binary32 parameters) level 6 -- measured on openvino 2026.4.1 (verify row)
    s = np.float32(0.3)
    il, ih = f32(np.float32(-27 * s)), f32(np.float32(228 * s))
    x = f32(-6.15)
    level = lambda y: round((y - il) / (ih - il) * 255)
    assert level(openvino.fake_quantize_exact(x, il, ih, il, ih, 256)) == 7
    assert level(openvino.fake_quantize_ov_cpu_snippets(x, il, ih, il, ih, 256)) == 6
    assert level(openvino.fake_quantize_ov_cpu(x, il, ih, il, ih, 256)) == 6


def test_bad_levels_and_empty_range():
    with pytest.raises(InvalidValueError, match="levels 1"):
        openvino.fake_quantize_exact(0, 0, 1, 0, 1, 1)
    with pytest.raises(InvalidValueError, match="divides by zero"):
        openvino.fake_quantize_ov_cpu(0, 1, 1, 0, 1, 256)


def test_int8_output_zero_point_rule_at_ties():
    # d = 0.25, output grid s = 1, zp = 101 (ol = -101, oh = 154): acc * d = 0.5 is a tie.  The plugin folds the
    # integer output shift into the input shift, so it rounds 0.5 (-> 0) and the zero point comes after; the
    # formula rounds 101.5 (-> 102).  With s = 2, zp = 33 the zero point stays before rounding (measured,
    # openvino 2026.4.1, verify rows 'sy 1' and 'sy 0.42').
    assert openvino.int8_output_ov_cpu(2, [F(1, 4)], -101, 154, 256) == 0
    assert openvino.int8_output_exact(2, [F(1, 4)], -101, 154, 256) == 1
    assert openvino.int8_output_ov_cpu(4, [F(1, 4)], -66, 444, 256) == 2
    plan = openvino.int8_post_ops([F(1, 4)], -101, 154, 256)
    assert plan["out"] is None and plan["form"] == "mul" and plan["scale"] == [F(1, 4)]


def test_int8_post_op_forms():
    d = openvino.dequantization_scale(f32(0.3), f32(0.7))
    assert d == f32(np.float32(0.3) * np.float32(0.7))
    ol, oh = f32(np.float32(-33 * np.float32(0.42))), f32(np.float32(222 * np.float32(0.42)))
    assert openvino.int8_post_ops([d], ol, oh, 256)["form"] == "fma"             # per tensor, zp != 0
    assert openvino.int8_post_ops([d, d / 2], ol, oh, 256)["form"] == "mul_add"  # per-channel input scale
    with pytest.raises(InvalidValueError, match="dequantization scale"):
        openvino.int8_post_ops([0], ol, oh, 256)


def test_int8_bias_matmul_goes_into_the_fake_quantize_node():
    # measured (openvino 2026.4.1, verify rows "MatMul + bias"): u8 zp 128 activations s 0.2, weight s 0.25 ->
    # d = fl(0.2f * 0.25f); output grid s 0.1, zp 77; bias b = fl(0.05) + 1e-7 on this channel.  The CPU
    # graph optimizer fuses Add(b), then Multiply(d) into the FakeQuantize node: isc = fl(isc0 * d) =
    # 0.49999997, ish = fl(ish0 + fl(b * isc0)) = 77.5 exactly; LPT's b/d folded into the range would give
    # 77.49999: acc 4 -> 79.5 -> level 80 here, 79.49999 -> 79 there
    d = openvino.dequantization_scale(f32(0.2), f32(0.25))
    ol, oh = f32(np.float32(-77 * np.float32(0.1))), f32(np.float32(178 * np.float32(0.1)))
    b = f32(np.float32(0.05) + np.float32(1e-7))
    plan = openvino.int8_post_ops([d], ol, oh, 256, bias=[b, F(0)])
    assert plan["scale"] == [f32(0.49999997)] and plan["shift"][0] == F(155, 2) and plan["form"] == "mul_add"
    assert openvino.apply_int8_plan(4, dict(plan, out=None), 0) == 80
    folded = openvino.int8_post_ops([d], ol, oh, 256, shifts=[-openvino.fl32(b / d)])
    assert folded["shift"][0] < F(155, 2) and openvino.apply_int8_plan(4, dict(folded, out=None), 0) == 79


def test_int8_bias_conv_is_added_to_the_scaled_accumulator():
    # a Convolution's bias is oneDNN's: fl(fl(acc*d) + b), then the FakeQuantize of [ol, oh] (measured)
    d, ol, oh = F(1, 4), F(-33), F(222)
    plan = openvino.int8_post_ops([d], ol, oh, 256, bias=[F(1, 8), F(3, 8)], layer="conv")
    assert plan["pre"] == (None, [d], [F(1, 8), F(3, 8)])
    assert openvino.apply_int8_plan(2, plan, 1) == openvino.apply_int8_plan(F(7, 8), dict(plan, pre=None), 1)
    assert openvino.int8_output_exact(2, [d], ol, oh, 256, channel=1, bias=[0, F(1, 2)]) == 1
    with pytest.raises(InvalidValueError, match="on every channel"):
        openvino.int8_post_ops([d], ol, oh, 256, bias=[F(1, 8)] * 4)
    with pytest.raises(UnknownNameError, match="layer"):
        openvino.int8_post_ops([d], ol, oh, 256, bias=[0, 1], layer="gemm")


def test_int8_output_levels_other_than_256():
    # levels not decomposed by LPT keep the FakeQuantize node's output side: y = fma(q, fl(fl(oh-ol)/(L-1)), ol)
    ol, oh = f32(np.float32(-30 * np.float32(0.2))), f32(np.float32(69 * np.float32(0.2)))
    plan = openvino.int8_post_ops([F(1, 20)], ol, oh, 100)
    assert plan["out"] == (f32(np.float32(oh - ol) / np.float32(99)), ol)
    # 15 / 16 / 255 / 256 levels: LPT's precision choice (measured, verify rows "levels 15/16/255")
    assert openvino.lpt_output_precision(-1, 1, 255) == (-127, 127, False)      # ol/oh = -1: symmetric narrow i8
    assert openvino.lpt_output_precision(-1, 1, 15) == (0, 255, True)           # 15 levels: always u8 0..255
    assert openvino.lpt_output_precision(-0.7, 0.6125, 16) == (-8, 7, False)    # -16/14 within 0.002
    assert openvino.lpt_output_precision(-2, 2, 256) == (0, 255, True)          # -1 is not -256/254
    assert openvino.lpt_output_precision(0, 3.3, 255) == (0, 255, False)
    assert openvino.lpt_output_precision(-2.5, -0.5, 256) == (0, 255, True)
    with pytest.raises(InvalidValueError, match="levels 100 into a u8 layer"):
        openvino.int8_post_ops([F(1, 20)], 0, 99, 100, dst="u8")


def test_int8_output_side_is_lpt_decomposition_folded_back():
    # 256 (and 16) levels: LPT's binary32 scale and shift, folded back into the output range; on the grid
    # s = 0.3f, zp = 1 the shift is 0.99999988, and the output shift fl(fl(-shift)*scale) is not fl(-1*s)
    # (measured: that form fits all 512 outputs of the verify row, the integer zero point none)
    s = np.float32(0.3)
    ol, oh = f32(-s), f32(np.float32(254 * s))
    scale, shift = openvino.lpt_dequantization(ol, oh, 0, 255)
    assert shift == f32(np.float32(0.99999988))
    lo, hi = openvino.fl32(openvino.fl32(-shift) * scale), openvino.fl32(openvino.fl32(255 - shift) * scale)
    assert openvino.int8_post_ops([F(1, 20)], ol, oh, 256)["out"] == (openvino.fl32(openvino.fl32(hi - lo) / 255), lo)
    assert lo != openvino.fl32(-scale)


def test_backend_rows_name_the_variants():
    assert backends.variant("openvino_cpu", "fake_quantize") is openvino.fake_quantize_ov_cpu_snippets
    assert backends.variant("openvino_cpu_fq_node", "fake_quantize") is openvino.fake_quantize_ov_cpu
    assert backends.variant("exact", "fake_quantize") is openvino.fake_quantize_exact
    assert backends.variant("openvino_cpu", "fq_matmul") is openvino.int8_output_ov_cpu
    assert backends.variant("openvino_cpu", "fq_conv") is openvino.int8_output_ov_cpu
    assert backends.variant("exact", "fq_matmul") is openvino.int8_output_exact


# ----- the peer itself ------------------------------------------------------------------------

def _peer():
    pytest.importorskip("openvino", reason="openvino is not installed (pip install 'refquant[openvino]')")
    from refquant.peers import openvino as peer
    return peer


@pytest.mark.parametrize("path", ["snippets", "fq_node"])
def test_fake_quantize_equals_the_cpu_plugin_on_near_ties(path):
    peer = _peer()
    rng = np.random.default_rng(3)
    il, ih = peer.grid_ranges(0.3, 27, 0, 255)
    x = peer.near_ties(il, ih, 256, rng).reshape(1, -1)
    got, layer = peer.run_fake_quantize(x, il, ih, il, ih, 256, path=path)
    assert layer == ("Subgraph" if path == "snippets" else "FakeQuantize")
    variant = openvino.VARIANTS["fake_quantize"][peer.PATHS[path][1]]
    assert np.array_equal(got, peer.model_array(variant, x, (il, ih, il, ih), 256))
    exact = peer.model_array(openvino.fake_quantize_exact, x, (il, ih, il, ih), 256)
    assert (got != exact).sum() > 100        # the constructed near-ties do separate it from the formula


def test_int8_matmul_equals_the_cpu_plugin_small():
    peer = _peer()
    rows = peer.int8_rows(np.random.default_rng(5), cases=peer.INT8_CASES[:1] + peer.INT8_CASES[-1:], m=16)
    assert [r.status for r in rows] == ["known"] * 5     # equal to ov_cpu_int8, not to the exact formula


def test_int8_bias_and_levels_equal_the_cpu_plugin_small():
    peer = _peer()
    rng = np.random.default_rng(8)
    rows = peer.int8_bias_rows(rng, cases=peer.BIAS_CASES[3:4], m=16)
    rows += peer.int8_levels_rows(rng, cases=peer.LEVELS_CASES[5:7], m=16)
    rows += peer.int8_levels_rows(rng, cases=peer.LEVELS_CASES[14:15] + peer.LEVELS_CASES[18:19], m=16)[:2]
    assert [r.status for r in rows] == ["known", "known", "unsupported"] + ["known"] * 4


def test_int8_chain_hidden_u8_s8_equals_the_cpu_plugin_small():
    peer = _peer()
    rows = peer.int8_chain_rows(np.random.default_rng(6), m=16)
    rows += peer.int8_chain_rows(np.random.default_rng(6), m=8, conv=True)
    assert [r.status for r in rows] == ["known"] * 4


def test_int8_post_ops_int8_destination():
    # the layer writes the level (u8) when another int8 layer follows: no round / clip post-op, the
    # conversion rounds half to even and saturates; zp 0 -> the scale becomes oneDNN's destination scale
    d = openvino.dequantization_scale(f32(0.1), f32(0.05))
    ol, oh = F(0), f32(np.float32(255 * np.float32(0.013)))
    plan = openvino.int8_post_ops([d], ol, oh, 256, dst="u8")
    assert plan["form"] == "mul_dst" and plan["clip"] is None and plan["out"] is None
    assert openvino.apply_int8_plan(10**6, plan) == 255 and openvino.apply_int8_plan(-5, plan) == 0
    assert openvino.int8_output_exact(10**6, [d], ol, oh, 256, dst="s8") == 127
    with pytest.raises(UnknownNameError, match="destination type"):
        openvino.int8_post_ops([d], ol, oh, 256, dst="u4")


@pytest.mark.slow
def test_verify_openvino_has_no_unexplained_rows():
    peer = _peer()
    rows = peer.backend_openvino()
    unsupported = [r.flag for r in rows if r.status == "unsupported"]
    assert len(rows) == 76 and all(r.status in ("pass", "known", "unsupported") for r in rows)
    assert unsupported == ["int8 bias 0.3 on every channel"]


@pytest.mark.slow
def test_int8_matmul_sweep():
    """Every INT8_CASE, the Conv rows and the two chains on 8 seeds (135,168 outputs) equal ov_cpu_int8."""
    peer = _peer()
    for seed in range(8):
        rows = peer.int8_rows(np.random.default_rng(seed)) + peer.int8_chain_rows(np.random.default_rng(seed))
        assert all(r.status in ("pass", "known") for r in rows), [(r.flag, r.status) for r in rows]


@pytest.mark.slow
def test_int8_conv_chain_sweep():
    """Conv -> FQ -> Conv (hidden u8 zp 128 and zp 101, per-channel weights) on 13 seeds: 106,496 outputs."""
    peer = _peer()
    for seed in range(13):
        rows = peer.int8_chain_rows(np.random.default_rng(200 + seed), m=256, conv=True)
        assert all(r.status in ("pass", "known") for r in rows), [(r.flag, r.status) for r in rows]
        assert sum(r.elements for r in rows) == 8192


@pytest.mark.slow
def test_int8_bias_sweep():
    """Every BIAS_CASE, MatMul and Convolution, on 9 seeds: 16 rows x 1,024 x 9 = 147,456 outputs equal ov_cpu_int8."""
    peer = _peer()
    for seed in range(9):
        rows = [r for r in peer.int8_bias_rows(np.random.default_rng(100 + seed)) if r.status != "unsupported"]
        assert len(rows) == 16 and all(r.status in ("pass", "known") for r in rows), [(r.flag, r.status) for r in rows]


@pytest.mark.slow
def test_int8_levels_sweep():
    """Random levels (2..1024; half of them 15, 16, 255 or 256) and output grids or ranges [lo, hi] that are not
    grids (lo, hi of either sign), MatMul and Convolution: >= 10^5 outputs."""
    peer = _peer()
    rng = np.random.default_rng(20261204)
    n = 0
    while n < 100_000:
        levels = int(rng.choice([15, 16, 255, 256])) if rng.integers(2) else int(rng.integers(2, 1025))
        lo = float(rng.uniform(-5, 1))
        cases = [(levels, (float(rng.uniform(0.005, 2)), int(rng.integers(0, levels))) if rng.integers(2)
                  else ("range", lo, lo + float(rng.uniform(0.01, 6)))) for _ in range(3)]
        rows = peer.int8_levels_rows(rng, cases=cases, m=128)[:3]
        assert all(r.status in ("pass", "known") for r in rows), [(r.flag, r.status) for r in rows]
        n += sum(r.elements for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["snippets", "fq_node"])
def test_fake_quantize_sweep_100k(path):
    """>= 10^5 elements per path: random grids (2..256 levels), random and near-tie inputs."""
    peer = _peer()
    rng = np.random.default_rng(20261203)
    n = 0
    while n < 100_000:
        levels = int(rng.integers(2, 257))
        s, zp = float(rng.uniform(0.001, 2)), int(rng.integers(0, levels))
        il, ih = peer.grid_ranges(s, zp, 0, levels - 1)
        ol, oh = (il, ih) if rng.integers(2) else (np.float32(rng.uniform(-3, 0)), np.float32(rng.uniform(0, 3)))
        x = peer.near_ties(il, ih, levels, rng, 1000).reshape(1, -1)
        got, _ = peer.run_fake_quantize(x, il, ih, ol, oh, levels, path=path)
        variant = openvino.VARIANTS["fake_quantize"][peer.PATHS[path][1]]
        assert np.array_equal(got, peer.model_array(variant, x, (il, ih, ol, oh), levels)), (levels, s, zp)
        n += x.size
