"""OpenVINO CPU plugin layers that fuse a QuantizeLinear: a mean of u8 / i8 levels, then FakeQuantize.

Source: openvino 2026.4.1, CPU plugin (src/plugins/intel_cpu/src/nodes/reduce.cpp, pooling.cpp over
oneDNN's jit_uni_i8i8_pooling, the legacy quantization post-op of nodes/fake_quantize.cpp) and the
low precision transformations (LPT) that move a DequantizeLinear behind a mean and fold it into the
following FakeQuantize (fuse_multiply_to_fake_quantize.cpp, fuse_subtract_to_fake_quantize.cpp).

An ONNX QDQ group DQ(q; s, zp) -> AveragePool | GlobalAveragePool | ReduceMean -> Q(s', zp') runs
as ONE layer on the stored levels q:

    total   sum of the window's levels q_k (an exact integer: binary32 holds every partial sum
            while n * 255 < 2^24, which the layer is checked for)
    mean    Reduce: fl(total / n) (vdivps in the post kernel);  Pooling: fl(total / n) or
            fl(total * fl(1/n)) (the two are held as candidates: the oneDNN kernel was not measured
            apart from the other, see ``avg_pool_fq_ov_cpu``)
    FQ      the QuantizeLinear's FakeQuantize (il, ih, qmin, qmax) with the DequantizeLinear folded
            into its input range: il' = fl(fl(il / s) + zp), ih' likewise (``folded_input_range``),
            computed as the FakeQuantize node's post-op (crop, fma(v, input_scale, input_shift),
            round half to even, fma(level, output_scale, output_shift)): refquant/openvino.py
            ``fake_quantize_ov_cpu`` on those parameters.

Values are exact (int, Fraction); stdlib only.  Measured bit for bit on openvino 2026.4.1
(tests/test_model_openvino.py; docs/model.md §8).
"""

from fractions import Fraction

from .certified import resolve
from .errors import InvalidValueError
from .ieee import fl32
from . import formats
from .openvino import fake_quantize_ov_cpu, fake_quantize_ov_cpu_snippets

F32_EXACT_INTEGERS = 2 ** 24


def _count(total, n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidValueError(f"mean over {n!r} elements: expected a positive integer count")
    if abs(total) >= F32_EXACT_INTEGERS:
        raise InvalidValueError(f"window sum {total}: beyond 2^24 the binary32 sum depends on the order "
                                "(not modelled)")
    return Fraction(total)


def mean_div(total, n):
    """fl(total / n): the binary32 mean the Reduce node's post kernel writes (vdivps).

    Reproduces: openvino 2026.4.1 intel_cpu nodes/reduce.cpp (JitReducePostKernel reduce_map_kernel,
    ReduceMean: the f32 sum divided by the element count).
    """
    return fl32(_count(total, n) / n)


def mean_recip(total, n):
    """fl(total * fl(1/n)): a binary32 mean by the reciprocal of the count (one rounding each).

    Reproduces: oneDNN jit_uni_i8i8_pooling (openvino 2026.4.1's fork), average pooling of s32 sums
    scaled by a binary32 reciprocal of the window size (the candidate held beside ``mean_div``).
    """
    return fl32(_count(total, n) * fl32(Fraction(1, n)))


def folded_input_range(input_low, input_high, scale, zero_point):
    """(il', ih'): the FakeQuantize input range with DequantizeLinear(q; s, zp) folded in.

    il' = fl(fl(il / s) + zp): the Multiply(s) next to the FakeQuantize divides its range first, then
    the Subtract(zp) adds the zero point (binary32 constant folding).
    Reproduces: openvino 2026.4.1 low_precision_transformations fuse_multiply_to_fake_quantize.cpp and
    fuse_subtract_to_fake_quantize.cpp.
    """
    s = Fraction(scale)
    if s <= 0:
        raise InvalidValueError(f"DequantizeLinear scale {s}: expected > 0")
    return tuple(fl32(fl32(Fraction(v) / s) + Fraction(zero_point)) for v in (input_low, input_high))


def reduce_mean_fq_ov_cpu(total, n, input_low, input_high, output_low, output_high, levels):
    """A Reduce layer's output level: ReduceMean of levels with the QuantizeLinear fused as a post-op.

    ``input_low`` / ``input_high`` are the folded range (``folded_input_range``).
    Reproduces: openvino 2026.4.1 intel_cpu nodes/reduce.cpp (division, then the quantization
    injector: crop, input scale/shift with rounding, output scale/shift).
    """
    return fake_quantize_ov_cpu(mean_div(total, n), input_low, input_high, output_low, output_high, levels)


def avg_pool_fq_ov_cpu(total, n, input_low, input_high, output_low, output_high, levels):
    """A Pooling layer's output level: average pooling of levels with the QuantizeLinear fused.

    One value where the two means (``mean_div``, ``mean_recip``) give the same level, else an
    ``ImplementationDefined`` with both (none differed in the measured runs).
    Reproduces: openvino 2026.4.1 intel_cpu nodes/pooling.cpp (oneDNN int8 average pooling with the
    FakeQuantize node's quantization post-op).
    """
    outs = [fake_quantize_ov_cpu(m(total, n), input_low, input_high, output_low, output_high, levels)
            for m in (mean_div, mean_recip)]
    return resolve(outs, "binary32 mean: fl(sum / n) or fl(sum * fl(1/n))")


def bf16(x):
    """x rounded to bfloat16 (RNE): what a Reorder f32 -> bf16 writes.

    Reproduces: bfloat16 (8 significand bits, binary32's exponent range), round to nearest even, as the
    CPU plugin's Reorder converts (vcvtneps2bf16).
    """
    return formats.round_to("bf16", Fraction(x)).value


def mean_subgraph_fq_ov_cpu(total, n, layer, precision, zero_point, scale, input_low, input_high, output_low,
                            output_high, levels):
    """A Pooling / Reduce layer that writes the binary32 mean of the levels, and a Subgraph (f32, or bf16
    after a Reorder rounds the mean to bfloat16) holding the QuantizeLinear: fl(m - zp), then the snippets
    FakeQuantize with the DequantizeLinear's scale folded into its range (fl(il / s); measured: applying
    fl(v * s) first instead differs on 9 of 1536 elements); in bf16 the difference may be rounded to
    bfloat16 too.  One value, or an ``ImplementationDefined`` of the candidates (the mean's two forms in a
    Pooling layer, the bf16 step: not measured apart).

    Reproduces: openvino 2026.4.1 intel_cpu nodes/pooling.cpp, nodes/reduce.cpp (binary32 output), the
    Reorder to bf16 under the bf16 inference precision hint, snippets fq_decomposition.cpp.
    """
    means = [mean_div(total, n)] + ([mean_recip(total, n)] if layer == "Pooling" else [])
    s, il, ih = Fraction(scale), Fraction(input_low), Fraction(input_high)
    outs = []
    for m in means:
        b = bf16(m) if precision == "bf16" else m
        diffs = [fl32(b - zero_point)] + ([bf16(fl32(b - zero_point))] if precision == "bf16" else [])
        outs += [fake_quantize_ov_cpu_snippets(v, fl32(il / s), fl32(ih / s), output_low, output_high, levels)
                 for v in diffs]
    return resolve(outs, "binary32 mean" + (" and bfloat16 difference" if precision == "bf16" else "") + " not measured apart")


VARIANTS = {
    "ov_mean_subgraph_fq": {"ov_cpu_subgraph": mean_subgraph_fq_ov_cpu},
    "ov_reduce_mean_fq": {"ov_cpu_reduce": reduce_mean_fq_ov_cpu},
    "ov_avg_pool_fq": {"ov_cpu_pooling": avg_pool_fq_ov_cpu},
}
