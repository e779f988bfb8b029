"""OpenVINO FakeQuantize -- the specification's formula, exactly, and the CPU plugin's binary32 form.

Source: OpenVINO operation specification FakeQuantize-1 (docs.openvino.ai, operation-specs/quantization/
fake-quantize-1): for input_low il, input_high ih, output_low ol, output_high oh and ``levels`` L,

    x <= min(il, ih)  ->  ol
    x >  max(il, ih)  ->  oh
    otherwise         ->  round((x - il) / (ih - il) * (L - 1)) / (L - 1) * (oh - ol) + ol

The specification leaves ``round`` unnamed; the variants here say which one they use.

    exact    the formula on exact rationals, round = half to even (the CPU plugin's rounding), the
             output exact.
    ov_cpu   openvino 2026.4.1 CPU plugin, JIT kernel (src/plugins/intel_cpu/src/nodes/fake_quantize.cpp,
             FQCommon): parameters precomputed in binary32 -- crop_low = il, crop_high = ih,
             input_scale = fl((L-1) / fl(ih - il)), input_shift = fl(fl(-il * (L-1)) / fl(ih - il)),
             output_scale = fl(fl(oh - ol) / (L-1)), output_shift = ol -- then per element
             v = max(min(x, ih), il); v = fma(v, input_scale, input_shift); v = RNE(v);
             y = fma(v, output_scale, output_shift)  (vfmadd213ps, vroundps mode 0).  This is the
             FakeQuantize node; the plugin runs it when snippets are off (SNIPPETS_MODE=DISABLE) or
             the op is not tokenized into a subgraph.
    ov_cpu_snippets   openvino 2026.4.1 CPU plugin, default configuration: a standalone FakeQuantize
             becomes a snippets Subgraph (src/common/snippets/src/pass/fq_decomposition.cpp):
             isc = fl((L-1) / fl(ih - il)), ish = fl(il * isc), v = min(max(x, il), ih),
             v = fl(fl(v * isc) - ish), RNE, osc = fl(fl(oh - ol) / (L-1)), y = fma(v, osc, ol)
             (the multiply and add of the output side fuse into one FMA; the input side does not).

The binary32 parameters make near-ties round differently from the formula (measured on 2026.4.1,
tests/test_openvino.py; docs/ops.md, OpenVINO).  Values are exact rationals (a binary32 input is
its exact value); NaN inputs are not modelled.
"""

from fractions import Fraction

from . import rounding
from .errors import InvalidValueError
from .requant import ffma, fl32


def _levels(levels):
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise InvalidValueError(f"FakeQuantize levels {levels!r}: expected an integer >= 2")
    return levels


def fake_quantize_exact(x, input_low, input_high, output_low, output_high, levels):
    """FakeQuantize on exact rationals, round half to even.

    Reproduces: OpenVINO operation specification FakeQuantize-1 (the formula, exact arithmetic).
    """
    L = _levels(levels)
    x, il, ih, ol, oh = (Fraction(v) for v in (x, input_low, input_high, output_low, output_high))
    if x <= min(il, ih):
        return ol
    if x > max(il, ih):
        return oh
    t = (x - il) / (ih - il) * (L - 1)
    q = rounding.round_ratio(t.numerator, t.denominator, "half_even")
    return Fraction(q, L - 1) * (oh - ol) + ol


def cpu_parameters(input_low, input_high, output_low, output_high, levels):
    """(crop_low, crop_high, input_scale, input_shift, output_scale, output_shift) in binary32.

    Reproduces: openvino 2026.4.1 src/plugins/intel_cpu/src/nodes/fake_quantize.cpp (the FakeQuantize
    node's constructor: scales and shifts in float, FQ_DOUBLE_PRECISION off).
    """
    L = _levels(levels)
    il, ih, ol, oh = (Fraction(v) for v in (input_low, input_high, output_low, output_high))
    width = fl32(ih - il)
    if width == 0:
        raise InvalidValueError(f"FakeQuantize input_low = input_high = {il}: the CPU plugin divides by zero")
    return (il, ih, fl32(Fraction(L - 1) / width), fl32(fl32(-il * (L - 1)) / width),
            fl32(fl32(oh - ol) / (L - 1)), ol)


def fake_quantize_ov_cpu(x, input_low, input_high, output_low, output_high, levels):
    """FakeQuantize as the OpenVINO CPU plugin's JIT kernel computes it (binary32, two FMAs, RNE).

    Reproduces: openvino 2026.4.1 intel_cpu fake_quantize.cpp jit_uni_quantization_kernel (FQCommon).
    """
    lo, hi, in_scale, in_shift, out_scale, out_shift = cpu_parameters(input_low, input_high, output_low,
                                                                      output_high, levels)
    v = max(min(Fraction(x), hi), lo)
    v = ffma("fp32", v, in_scale, in_shift)
    v = rounding.round_ratio(v.numerator, v.denominator, "half_even")
    return ffma("fp32", v, out_scale, out_shift)


def fake_quantize_ov_cpu_snippets(x, input_low, input_high, output_low, output_high, levels):
    """FakeQuantize as the OpenVINO CPU plugin computes it through its snippets decomposition.

    Reproduces: openvino 2026.4.1 snippets fq_decomposition.cpp (Maximum, Minimum, Multiply, Subtract,
    Round HALF_TO_EVEN, then Multiply + Add fused into one FMA by the CPU snippets pipeline).
    """
    L = _levels(levels)
    il, ih, ol, oh = (Fraction(v) for v in (input_low, input_high, output_low, output_high))
    width = fl32(ih - il)
    if width == 0:
        raise InvalidValueError(f"FakeQuantize input_low = input_high = {il}: the CPU plugin divides by zero")
    isc = fl32(Fraction(L - 1) / width)
    ish = fl32(il * isc)
    v = min(max(Fraction(x), il), ih)
    v = fl32(fl32(v * isc) - ish)
    q = rounding.round_ratio(v.numerator, v.denominator, "half_even")
    return ffma("fp32", q, fl32(fl32(oh - ol) / (L - 1)), ol)


VARIANTS = {
    "fake_quantize": {"exact": fake_quantize_exact, "ov_cpu": fake_quantize_ov_cpu,
                      "ov_cpu_snippets": fake_quantize_ov_cpu_snippets},
}
