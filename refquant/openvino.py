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

Ops ``fq_matmul`` / ``fq_conv``: an int8 MatMul / Convolution written with FakeQuantize on activations,
weights and output, optionally an Add(bias) before the output FakeQuantize.  ``exact`` is FakeQuantize-1 of the exact product; ``ov_cpu_int8`` is what the CPU
plugin's int8 FullyConnected / Convolution computes after the low precision transformations fold the
dequantization into the output FakeQuantize (lpt_dequantization, activation_shift, int8_post_ops,
apply_int8_plan; docs/ops.md, OpenVINO, has the steps and the measured domain).

The binary32 parameters make near-ties round differently from the formula (measured on 2026.4.1,
tests/test_openvino.py; docs/ops.md, OpenVINO).  Values are exact rationals (a binary32 input is
its exact value); NaN inputs are not modelled.
"""

from fractions import Fraction

from . import rounding
from .errors import InvalidValueError, UnknownNameError
from .ieee import ffma, fl32


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


# ----- int8 MatMul / Convolution with a fused output FakeQuantize (CPU plugin) -------------------

_F32_5E_5 = fl32(Fraction(5, 100000))   # the binary32 literals 0.00005f and 0.00001f the plugin compares with
_F32_1E_5 = fl32(Fraction(1, 100000))


def _rhte(v):
    return Fraction(rounding.round_ratio(v.numerator, v.denominator, "half_even"))


def dequantization_scale(s_a, s_w):
    """The dequantization scale d = fl(s_a * s_w) the CPU plugin's int8 FullyConnected / Convolution uses.

    Reproduces: openvino 2026.4.1 low precision transformations (MatMul / Convolution: the activation and
    weight Multiply constants folded into one binary32 constant; measured bit-exact, docs/ops.md).
    """
    return fl32(Fraction(s_a) * Fraction(s_w))


def lpt_dequantization(output_low, output_high, qmin, qmax):
    """(scale, shift) of LPT's FakeQuantize decomposition to integers qmin..qmax, in binary32.

    scale = fl(fl(oh - ol) / (qmax - qmin)), shift = fl(fl(fl(qmin*oh) - fl(qmax*ol)) / fl(oh - ol)): the u8
    activation grid's zero point as LPT stores it (not always an integer: s = 0.3f, zp = 127 gives 127 + 2^-16).
    Reproduces: openvino 2026.4.1 low_precision_transformations network_helper.cpp (decomposeFakeQuantize).
    """
    ol, oh = Fraction(output_low), Fraction(output_high)
    width = fl32(oh - ol)
    if width <= 0:
        raise InvalidValueError(f"FakeQuantize output range [{ol}, {oh}]: expected output_low < output_high")
    return fl32(width / (qmax - qmin)), fl32(fl32(fl32(qmin * oh) - fl32(qmax * ol)) / width)


def activation_shift(zero_point, weights_column):
    """The per-output-channel constant LPT subtracts after the MatMul: fl32 sum of fl(zp * w_k) in k order.

    Reproduces: openvino 2026.4.1 low_precision_transformations mat_mul.cpp (the activation Subtract moved
    behind the MatMul: a folded binary32 MatMul of the broadcast zero point with the integer weights).
    """
    c = Fraction(0)
    for w in weights_column:
        c = fl32(c + fl32(Fraction(zero_point) * w))
    return c


_DST = {"f32": None, "u8": (0, 255), "s8": (-128, 127)}


def _input_side(dq_scales, ol, oh, L, shifts):
    """Per channel: the FakeQuantize node's binary32 input scale / shift of the folded range, crop bounds."""
    isc, ish, clo, chi = [], [], [], []
    for j in range(max(len(dq_scales), len(shifts or ()))):
        d = Fraction(dq_scales[j if len(dq_scales) > 1 else 0])
        if d <= 0:
            raise InvalidValueError(f"dequantization scale {d}: expected > 0")
        il, ih = fl32(ol / d), fl32(oh / d)
        if shifts:                                         # FuseSubtractToFakeQuantize: the range moves by c
            il, ih = fl32(il + shifts[j]), fl32(ih + shifts[j])
        width = fl32(ih - il)
        isc.append(fl32(Fraction(L - 1) / width))
        ish.append(fl32(fl32(-il * (L - 1)) / width))
        lo, hi = (_rhte(fl32(fl32(v * isc[-1]) + ish[-1])) for v in (il, ih))
        clo.append(min(lo, hi))
        chi.append(max(lo, hi))
    return isc, ish, clo, chi


def _scaleshift_side(dq_scales, ol, oh, L, shifts, bias):
    """Per channel: the FakeQuantize node's parameters after the CPU graph optimizer fuses the ops before it.

    The node starts from [ol, oh]; each preceding eltwise it absorbs (nearest first: Add(b), Multiply(d),
    Subtract(c)) is a scale-shift (k, t): crop -> fl(fl(crop - t)/k), ish -> fl(ish + fl(t*isc)), isc -> fl(isc*k).
    """
    width = fl32(oh - ol)
    isc, ish, clo, chi = [], [], [], []
    for j in range(max(len(dq_scales), len(bias), len(shifts or ()))):
        pick = lambda v: Fraction(v[j if len(v) > 1 else 0])
        d = pick(dq_scales)
        if d <= 0:
            raise InvalidValueError(f"dequantization scale {d}: expected > 0")
        a, b, lo, hi = fl32(Fraction(L - 1) / width), fl32(fl32(-ol * (L - 1)) / width), ol, oh
        steps = [(Fraction(1), pick(bias)), (d, Fraction(0))] + ([(Fraction(1), -pick(shifts))] if shifts else [])
        for k, t in steps:
            lo, hi = sorted((fl32(fl32(lo - t) / k), fl32(fl32(hi - t) / k)))
            b, a = fl32(b + fl32(t * a)), fl32(a * k)
        isc.append(a)
        ish.append(b)
        lo, hi = (_rhte(fl32(fl32(v * a) + b)) for v in (lo, hi))
        clo.append(min(lo, hi))
        chi.append(max(lo, hi))
    return isc, ish, clo, chi


_LPT_LEVELS = (15, 16, 255, 256)     # the levels LPT decomposes to integers (int4 / int8, full and narrow)
_F32_0_002 = fl32(Fraction(2, 1000))
_F32_1E_6 = fl32(Fraction(1, 1000000))


def lpt_output_precision(output_low, output_high, levels):
    """(qmin, qmax, has_zero_point) LPT decomposes an f32-output FakeQuantize of 15 / 16 / 255 / 256 levels to.

    A signed range whose ol/oh is within 0.002 (relative, binary32) of -L/(L-2) (full-range levels 16, 256) or
    -1 (narrow 15, 255) is symmetric: i8 without a zero point; an unsigned range with |ol| < 1e-6: u8 without;
    anything else (and 15 levels without a zero point) u8 with LPT's binary32 shift as its zero point.  u8 is
    0..255 (0..15 for 16 levels, also for 15 and 255 levels); i8 is -128..127, -127..127 (255), -8..7 (16).
    Reproduces: openvino 2026.4.1 low_precision_transformations layer_transformation.cpp
    (getPrecisionDetails, getDataPrecision) and layer_transformation.hpp (DataPrecision::getMinValue/getMaxValue).
    """
    L = _levels(levels)
    ol, oh = fl32(Fraction(output_low)), fl32(Fraction(output_high))
    signed, zp = (ol < 0) != (oh < 0) and abs(ol) >= _F32_1E_6, False
    if signed:
        expected = fl32(Fraction(-L) / (L - 2)) if L in (16, 256) else Fraction(-1)
        ratio = fl32(ol / oh) if oh != 0 else None
        zp = ratio is None or abs(fl32(fl32(ratio - expected) / min(ratio, expected))) > _F32_0_002
    else:
        zp = abs(ol) >= _F32_1E_6
    if signed and not zp and L != 15:
        return {256: (-128, 127), 255: (-127, 127), 16: (-8, 7)}[L] + (False,)
    return 0, 15 if L == 16 else 255, zp or L == 15


def _output_side(ol, oh, L, dst):
    """(osc, osh) of y = fma(level, osc, osh) for an f32 output, or the u8/s8 destination's (1, lowest).

    15 / 16 / 255 / 256 levels: LPT decomposes the FakeQuantize to qmin..qmax (lpt_output_precision,
    lpt_dequantization: binary32 scale and shift), FuseSubtract/FuseMultiplyToFakeQuantize fold
    Subtract(shift), Multiply(scale) back into its output range, ol' = fl(fl(qmin - shift)*scale),
    oh' = fl(fl(qmax - shift)*scale), and the node computes its output side from that range; other levels
    keep the node's own: fl(fl(oh-ol)/(L-1)), ol.
    """
    s = fl32(fl32(oh - ol) / (L - 1))
    if s <= 0:
        raise InvalidValueError(f"output FakeQuantize range [{ol}, {oh}]: expected output_low < output_high")
    if dst != "f32":
        if L != 256:
            raise InvalidValueError(f"output FakeQuantize levels {L} into a {dst} layer: only 256 is modelled "
                                    f"(docs/ops.md, OpenVINO)")
        return Fraction(1), Fraction(_DST[dst][0])
    if L in _LPT_LEVELS:
        qmin, qmax, has_zp = lpt_output_precision(ol, oh, L)
        scale, shift = lpt_dequantization(ol, oh, qmin, qmax)
        shift = shift if has_zp else Fraction(0)
        ol, oh = fl32(fl32(qmin - shift) * scale), fl32(fl32(qmax - shift) * scale)
        return fl32(fl32(oh - ol) / (L - 1)), ol
    return s, ol


def int8_post_ops(dq_scales, output_low, output_high, levels, shifts=None, dst="f32", bias=None, layer="matmul"):
    """The post-op plan (per output channel) of an int8 MatMul / Convolution with an output FakeQuantize.

    ``dq_scales``: d per output channel (one value for per-tensor weights); ``shifts``: the activation_shift
    c per channel when the activations are u8 with a zero point (then the accumulator is sum qa*qw of the
    stored u8 values), else None.  The output FakeQuantize has input range = output range = [ol, oh], an
    integer zero point, and ``dst`` 'f32' (its value is the output) or 'u8' / 's8' (another int8 layer
    follows: LPT decomposes it and the layer writes the integer level).  ``bias``: the constant of an
    Add(bias) between the layer and the FakeQuantize, per output channel (``layer`` 'matmul' or 'conv').
    Returns a dict: ``scale``,
    ``shift`` (one value or per channel), ``form`` 'fma' (v = fma(acc, scale, shift)), 'mul'
    (v = fl(acc*scale)), 'mul_dst' (v = fl(acc * fl(1/fl(1/scale))), oneDNN's destination scale) or
    'mul_add' (v = fl(fl(acc*scale) + shift)); ``clip`` (lo, hi) of the rounded level (None: no round or
    clip post-op, the conversion to ``saturate`` rounds half to even); ``out`` (osc, osh) for
    y = fma(level, osc, osh), or None when y is the level itself; ``pre`` (c, d, b) per channel (c or b
    None) when the accumulator first becomes fl(fl(fl(acc - c)*d) + b): a Convolution's oneDNN bias (b), or
    a MatMul bias with u8 activations that have a zero point (c: the activation Subtract and Multiply(d)
    stay post-ops, the bias goes into the FakeQuantize node); else None.

    Reproduces: openvino 2026.4.1 LPT (the dequantization Multiply folded into the FakeQuantize input
    range: il' = fl(ol/d), ih' = fl(oh/d); the output FakeQuantize decomposed to levels, then
    Subtract(zp)/Multiply(s) fused back into its output scale/shift), intel_cpu nodes/fake_quantize.cpp
    (binary32 input scale/shift), graph_optimizer.cpp (FusePerformedAsScaleShiftAndFakeQuantize, with a
    bias) and dnnl_postops_composer.cpp (updateOptimizedFormula, appendLinear,
    appendScale into the weight or destination scales, appendShift, eltwise linear = FMA,
    skipRoundClipOutputLinear for a u8/s8 destination).
    """
    L = _levels(levels)
    if dst not in _DST:
        raise UnknownNameError("destination type", dst, _DST)
    if layer not in ("matmul", "conv"):
        raise UnknownNameError("layer", layer, ("matmul", "conv"))
    ol, oh = Fraction(output_low), Fraction(output_high)
    out = _output_side(ol, oh, L, dst)
    pre = None
    if bias is not None:
        bias = [Fraction(b) for b in bias]
        if len(set(bias)) < 2:
            raise InvalidValueError(f"bias {float(bias[0])!r} on every channel: the CPU plugin takes another path for a "
                                    f"per-tensor bias, not modelled (docs/ops.md, OpenVINO)")
        if layer == "conv":      # oneDNN's convolution bias: fl(fl(acc*d) + b), then the FakeQuantize of [ol, oh]
            pre, dq_scales, bias = (None, list(dq_scales), bias), [Fraction(1)], None
        elif shifts and any(shifts):     # Subtract(c), Multiply(d) stay post-ops: fl(fl(acc - c)*d); Add(b) in the node
            pre, dq_scales, shifts = (list(shifts), list(dq_scales), None), [Fraction(1)], None
    isc, ish, clo, chi = (_input_side(dq_scales, ol, oh, L, shifts) if bias is None
                          else _scaleshift_side(dq_scales, ol, oh, L, shifts, bias))
    return dict(_compose(isc, ish, clo, chi, out, L, dst), pre=pre)


def _compose(isc, ish, clo, chi, out, L, dst):
    """dnnl_postops_composer.cpp / FakeQuantize::updateOptimizedFormula on per-channel parameters."""
    if all(abs(fl32(v - ish[0])) < _F32_5E_5 for v in ish):     # the plugin's per-tensor input-shift workaround
        ish = [ish[0]] * len(ish)
    one = lambda v: v if len(set(v)) > 1 else v[:1]
    isc, ish, clo, chi = one(isc), one(ish), one(clo), one(chi)
    if out[0] == 1 and out[1].denominator == 1:            # fold the integer output shift into the input
        ish = [fl32(v + out[1]) for v in ish]
        clo, chi, out = [v + out[1] for v in clo], [v + out[1] for v in chi], None
    if len(ish) == len(clo) == len(chi) == 1 and abs(ish[0]) < fl32((chi[0] - clo[0]) * _F32_1E_5):
        ish = [Fraction(0)]
    form = "mul" if ish == [0] else "fma" if len(isc) == 1 and len(ish) == 1 else "mul_add"
    sat = _DST[dst]
    skip = (sat is not None and L == 256 and out is None and len(clo) == len(chi) == 1
            and clo[0] <= sat[0] and chi[0] >= sat[1])
    if skip and form == "mul" and len(isc) == 1:
        form = "mul_dst"
    return {"scale": isc, "shift": ish, "form": form, "clip": None if skip else (clo, chi), "out": out,
            "saturate": sat}


def apply_int8_plan(acc, plan, channel=0):
    """One output from an int8_post_ops plan (compute the plan once per layer, apply it per element).

    Reproduces: oneDNN (openvino 2026.4.1's fork) weight and destination scales, eltwise linear (FMA),
    binary add, eltwise round_half_to_even and clip, the saturating conversion to u8/s8, as the CPU
    plugin composes them (see int8_post_ops); a convolution's bias first (``pre``).
    """
    pick = lambda v: v[channel if len(v) > 1 else 0]
    a, sc, sh = Fraction(acc), pick(plan["scale"]), pick(plan["shift"])
    if plan.get("pre"):
        c, d, b = plan["pre"]
        a = fl32(fl32((fl32(a - pick(c)) if c else a) * pick(d)) + (pick(b) if b else 0))
    v = {"fma": lambda: ffma("fp32", a, sc, sh), "mul": lambda: fl32(a * sc),
         "mul_dst": lambda: fl32(a * fl32(1 / fl32(1 / sc))), "mul_add": lambda: fl32(fl32(a * sc) + sh)}[plan["form"]]()
    q = _rhte(v)
    if plan["clip"] is not None:
        q = min(max(q, pick(plan["clip"][0])), pick(plan["clip"][1]))
    if plan["saturate"] is not None:
        q = min(max(q, Fraction(plan["saturate"][0])), Fraction(plan["saturate"][1]))
    return q if plan["out"] is None else ffma("fp32", q, *plan["out"])


def int8_output_ov_cpu(acc, dq_scales, output_low, output_high, levels, channel=0, shifts=None, dst="f32",
                       bias=None, layer="matmul"):
    """Output of an int8 MatMul / Convolution (int32 accumulator ``acc`` in output channel ``channel``).

    Reproduces: openvino 2026.4.1 CPU plugin int8 FullyConnected / Convolution (brgemm / brgconv, oneDNN
    weight scales and post-ops) with the output FakeQuantize fused (see int8_post_ops).
    """
    plan = int8_post_ops(dq_scales, output_low, output_high, levels, shifts, dst, bias, layer)
    return apply_int8_plan(acc, plan, channel)


def int8_output_exact(acc, dq_scales, output_low, output_high, levels, channel=0, shifts=None, dst="f32",
                      bias=None, layer="matmul"):
    """The same output on exact rationals: FakeQuantize-1 (half to even) of acc * d (+ bias).

    ``acc`` is sum (qa - za) * qw here (``shifts`` and ``layer`` are accepted for a common signature and
    ignored); with ``dst`` 'u8' / 's8' the output is the level (0..L-1, or shifted by -128).
    Reproduces: OpenVINO operation specification FakeQuantize-1 applied to the exact MatMul result.
    """
    if dst not in _DST:
        raise UnknownNameError("destination type", dst, _DST)
    d = Fraction(list(dq_scales)[channel if len(dq_scales) > 1 else 0])
    b = Fraction(0) if bias is None else Fraction(list(bias)[channel if len(bias) > 1 else 0])
    lo, hi = (output_low, output_high) if dst == "f32" else (_DST[dst][0], _DST[dst][0] + levels - 1)
    return fake_quantize_exact(Fraction(acc) * d + b, output_low, output_high, lo, hi, levels)


# The named deviation of backend row 'openvino_cpu' for fq_matmul / fq_conv (refquant/backends.py).
INT8_DEVIATION = (
    "binary32 int8 MatMul/Conv + output FakeQuantize",
    "LPT folds d = fl(sa'*sw') (and a u8 zero point's shift c) into the output FakeQuantize (il' = fl(fl(ol/d) + c)), "
    "binary32 input scale/shift, weight-scale, FMA or mul+add post-ops, RNE, clip, fma(q, osc, osh) from LPT's "
    "decomposition (its binary32 shift, not rounded); an output scale of 1 puts the zero point after rounding; a MatMul "
    "bias enters the FakeQuantize node's binary32 scale/shift (a Convolution's as fl(fl(acc*d) + b); with u8 "
    "activations that have a zero point a MatMul's c and d stay post-ops, fl(fl(acc - c)*d)): near-ties and "
    "the output's last bits differ from the exact formula (docs/ops.md, OpenVINO)")

VARIANTS = {
    "fake_quantize": {"exact": fake_quantize_exact, "ov_cpu": fake_quantize_ov_cpu,
                      "ov_cpu_snippets": fake_quantize_ov_cpu_snippets},
    "fq_matmul": {"exact": int8_output_exact, "ov_cpu_int8": int8_output_ov_cpu},
    "fq_conv": {"exact": int8_output_exact, "ov_cpu_int8": int8_output_ov_cpu},
}
