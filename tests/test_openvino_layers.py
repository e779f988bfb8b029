"""refquant/openvino_layers.py: the OpenVINO CPU plugin's mean + FakeQuantize layers, on exact values
(the measurements against openvino 2026.4.1 are in tests/test_model_openvino.py)."""

from fractions import Fraction

import pytest

from refquant import backends
from refquant import openvino as ov
from refquant import openvino_layers as L
from refquant.certified import ImplementationDefined
from refquant.errors import InvalidValueError
from refquant.ieee import fl32


def test_means_round_once_or_twice():
    """fl(t / n) and fl(t * fl(1/n)) are single roundings of different values: equal on most sums,
    not on all (t = 5, n = 49 tells them apart)."""
    assert L.mean_div(18, 9) == L.mean_recip(18, 9) == 2
    assert L.mean_div(5, 49) == fl32(Fraction(5, 49))
    assert L.mean_recip(5, 49) == fl32(5 * fl32(Fraction(1, 49)))
    assert any(L.mean_div(t, 49) != L.mean_recip(t, 49) for t in range(0, 255 * 49, 7))


def test_folded_input_range_is_two_binary32_steps():
    il, ih = Fraction(-131 * 0.0173), Fraction(124 * 0.0173)
    s, z = Fraction(0.0311), 97
    assert L.folded_input_range(il, ih, s, z) == (fl32(fl32(il / s) + z), fl32(fl32(ih / s) + z))
    with pytest.raises(InvalidValueError, match="scale 0"):
        L.folded_input_range(il, ih, 0, z)


def test_layers_are_the_fq_node_on_the_mean():
    il, ih = L.folded_input_range(Fraction(-2.25), Fraction(2.1875), Fraction(0.0311), 97)
    for t, n in [(0, 9), (1000, 9), (2295, 9), (6000, 49), (77, 5)]:
        want = ov.fake_quantize_ov_cpu(L.mean_div(t, n), il, ih, 0, 255, 256)
        assert L.reduce_mean_fq_ov_cpu(t, n, il, ih, 0, 255, 256) == want
        got = L.avg_pool_fq_ov_cpu(t, n, il, ih, 0, 255, 256)
        assert got == want or (isinstance(got, ImplementationDefined) and want in got)


def test_bad_counts_and_sums_are_named():
    with pytest.raises(InvalidValueError, match="positive integer count"):
        L.mean_div(3, 0)
    with pytest.raises(InvalidValueError, match="2\\^24"):
        L.mean_recip(2 ** 24, 70000)


def test_the_openvino_row_names_the_layers():
    assert backends.variant("openvino_cpu", "ov_reduce_mean_fq") is L.reduce_mean_fq_ov_cpu
    assert backends.variant("openvino_cpu", "ov_avg_pool_fq") is L.avg_pool_fq_ov_cpu


def test_mean_then_subgraph_fq_rounds_to_bf16_only_in_bf16():
    """The f32 Subgraph form is one value (Reduce: one mean); the bf16 form rounds the mean to bfloat16
    first (130.5 -> 130), so it can differ from the f32 form."""
    s, z = Fraction(0.0094), 120
    il, ih = Fraction(-56 * 0.00223), Fraction(199 * 0.00223)
    args = dict(zero_point=z, scale=s, input_low=il, input_high=ih, output_low=0, output_high=255, levels=256)
    f32 = L.mean_subgraph_fq_ov_cpu(261, 2, "Reduce", "f32", **args)
    want = ov.fake_quantize_ov_cpu_snippets(fl32(Fraction(261, 2) - z), fl32(il / s), fl32(ih / s), 0, 255, 256)
    assert f32 == want
    assert L.bf16(Fraction(261, 2)) == 130 and L.bf16(Fraction(1, 3)) == Fraction(171, 512)
    bf = L.mean_subgraph_fq_ov_cpu(261, 2, "Reduce", "bf16", **args)
    assert bf == ov.fake_quantize_ov_cpu_snippets(Fraction(130 - z), fl32(il / s), fl32(ih / s), 0, 255, 256) != f32
    assert backends.variant("openvino_cpu", "ov_mean_subgraph_fq") is L.mean_subgraph_fq_ov_cpu


def test_the_openvino_row_names_the_tie_deviation():
    """The measured difference from the ONNX semantics (exact ties of a same-grid mean) is a named deviation."""
    d = backends.get_backend("openvino_cpu").deviation("mean and QuantizeLinear in one layer")
    assert "half-to-even" in d.text and d.measured_on == ("2026.4.1",)
