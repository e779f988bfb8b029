"""The quantize suite: QuantizeLinear / DequantizeLinear cases."""

from fractions import Fraction

from ... import formats
from ... import quantize as qz
from ...profiles import PROFILES
from ..compute import Tensor
from ._common import _case, _f32, _rand_matrix
from ..tensors import short_dtype


def _q(x_bits, scale_bits, zps, dtype, *, shape=None, axis=None, block=None, sshape=None, x_format="fp32",
       scale_format="fp32", saturate=True, profile=None):
    shape = shape or [len(x_bits)]
    sshape = sshape or [len(scale_bits)]
    p = {"dtype": dtype, "x_format": x_format, "scale_format": scale_format, "axis": axis, "block_size": block}
    if dtype in qz.FLOAT_TARGETS:
        p["saturate"] = saturate
    inputs = {"x": Tensor(short_dtype(x_format), shape, x_bits),
              "scale": Tensor(short_dtype(scale_format), sshape, scale_bits)}
    if zps is not None:
        inputs["zero_point"] = Tensor(short_dtype(dtype), sshape, zps)
    return p, inputs


def _fb(values, fmt="fp32"):
    """Bit patterns of exact values (or special strings) in ``fmt``."""
    return [formats.encode(fmt, formats.real(v)) for v in values]


def _worked_and_float_target_cases(add):
    """The worked examples with published numbers, then every float target saturating and not."""
    # Worked examples with published numbers (docs/reference/worked-examples.md §1, §2).
    add("seed000_ratio5", "worked-examples.md §1: R = [-100, 0] -> Q = [0, 20], scale 5, zero point 20", ["seed_example"],
        _fb([-100, -75, -52, -50, -47, -2.5, 0]), [_f32(5)], [20], "uint8")
    add("seed004_affine_u8", "worked-examples.md §2: affine uint8 over [-20, 1000]: scale 4, zp 5", ["seed_example"],
        _fb([-20, 0, 1, 2, 6, 500, 1000, 1001]), [_f32(4)], [5], "uint8")
    add("seed004_affine_s8", "worked-examples.md §2: affine int8 over [-20, 1000]: scale 4, zp -123", ["seed_example"],
        _fb([-20, 0, 1, 2, 6, 500, 1000, 1001]), [_f32(4)], [-123], "int8")
    add("seed004_sym_u8", "worked-examples.md §2: symmetric uint8 [0, 1000], scale fl32(1000/255)", ["seed_example"],
        _fb([0, 1, 500, 998, 1000, 1002]), [_f32(Fraction(1000, 255))], [0], "uint8")
    for tgt in qz.FLOAT_TARGETS:
        f = formats.get_format(tgt)
        vals = [0, 1, -1, Fraction(3, 2), f.max_finite, f.max_finite * 2, -f.max_finite * 3, f.min_subnormal,
                f.min_subnormal / 2, "inf"] + (["nan"] if f.has_nan else [])
        for sat in (True, False):
            add(f"{tgt}_{'sat' if sat else 'nosat'}", f"{tgt} target, saturate={int(sat)}: boundaries and specials",
                ["fp8_target"] + ([] if sat else ["no_saturate"]),
                _fb([formats.round_to("fp32", formats.real(v)) for v in vals]), [_f32(1)], None, tgt, saturate=sat)


def _quantize_cases(rng):
    """(name, comment, flags, (params, inputs)) of every quantize case, in order."""
    cases = []

    def add(name, comment, flags, *args, **kw):
        cases.append((name, comment, flags, _q(*args, **kw)))

    rnd = [_f32(Fraction(rng.randint(-2**20, 2**20), 2**14)) for _ in range(24)]
    add("random_int8", "random fp32 values, per tensor, int8", ["random"], rnd, [_f32(Fraction(3, 64))], [-3], "int8")
    add("random_uint8", "random fp32 values, per tensor, uint8 zp 128", ["random"], rnd, [_f32(Fraction(1, 10))], [128],
        "uint8")
    ties = [Fraction(k, 2) * Fraction(1, 2) for k in range(-9, 10, 2)]  # x/s = k/2 with s = 1/2
    add("ties_pow2_scale", "x / s exactly n + 1/2 (s = 0.5)", [], _fb(ties), [_f32(Fraction(1, 2))], [0], "int8")
    s01 = _f32(Fraction(1, 10))
    sval = formats.decode("fp32", s01).value
    near = [_f32((k + Fraction(1, 2)) * sval) for k in range(-6, 6)]
    add("near_ties_scale_0.1", "x = fl32((n + 1/2) * s) for s = fl32(0.1): the quotient profile decides",
        [], near, [s01], [1], "int8")
    s = Fraction(1, 4)
    edges = [(127 - 5 + d) * s for d in (Fraction(-1), Fraction(-1, 2), 0, Fraction(1, 2), 1, 1000)] + \
            [(-128 - 5 + d) * s for d in (Fraction(1), Fraction(1, 2), 0, Fraction(-1, 2), -1, -1000)]
    add("saturation_edges", "qmax - zp and qmin - zp, +- 1/2 and 1, far beyond; zp = 5", [], _fb(edges + ["inf", "-inf",
        "3.4028234663852886e38"]), [_f32(s)], [5], "int8")
    add("nan_input", "one NaN among finite values", [], _fb(["1", "nan", "-2"]), [_f32(1)], [0], "int8")
    sub = Fraction(1, 2**140)
    add("subnormal_scale", "scale 2^-140 (fp32 subnormal), tiny inputs", [],
        _fb([sub, 3 * sub, -sub / 2, Fraction(1, 2**130), -Fraction(5, 2**141), 0]), [_f32(sub)], [0], "int8")
    add("huge_scale", "scale 2^120 and huge inputs", [],
        _fb([Fraction(2**126), -Fraction(2**127), Fraction(3 * 2**119), 1, 0, "3.4028234663852886e38"]),
        [_f32(2**120)], [0], "int8")
    xs = [_f32(Fraction(rng.randint(-2**12, 2**12), 2**6)) for _ in range(12)]
    add("per_axis_0", "shape 3x4, per-axis on axis 0", [], xs, [_f32(Fraction(1, 4)), _f32(Fraction(1, 2)),
        _f32(Fraction(3, 8))], [0, -4, 7], "int8", shape=[3, 4], axis=0)
    add("per_axis_1", "shape 3x4, per-axis on axis 1 (uint8)", [], xs,
        [_f32(Fraction(1, 2)), _f32(Fraction(1, 3)), _f32(Fraction(5, 8)), _f32(1)], [128, 120, 136, 100], "uint8",
        shape=[3, 4], axis=1)
    xb = [_f32(Fraction(rng.randint(-2**12, 2**12), 2**8)) for _ in range(16)]
    add("per_block", "shape 2x8, blocks of 4 along axis 1 (scale 2x2)", ["per_block"], xb,
        [_f32(Fraction(1, 8)), _f32(Fraction(1, 16)), _f32(Fraction(1, 5)), _f32(Fraction(1, 2))], [1, -1, 0, 2], "int8",
        shape=[2, 8], axis=1, block=4, sshape=[2, 2])
    add("int4", "int4 target: -8..7, ties and saturation", ["int4"],
        _fb([Fraction(k, 4) for k in range(-20, 21, 3)]), [_f32(Fraction(1, 2))], [1], "int4")
    add("uint4", "uint4 target", ["int4"], _fb([Fraction(k, 4) for k in range(-6, 40, 3)]), [_f32(Fraction(1, 2))], [3],
        "uint4")
    add("int16", "int16 target", [], _fb([Fraction(k * 1001, 3) for k in range(-30, 31, 7)] + ["1e9", "-1e9"]),
        [_f32(Fraction(1, 2))], [-7], "int16")
    add("fp16_input", "binary16 inputs", ["fp16_input"], _fb(["0.5", "-1.5", "65504", "-0.0001", "2.5", "inf"], "fp16"),
        [_f32(Fraction(1, 64))], [0], "int8", x_format="fp16")
    add("bf16_input", "bfloat16 inputs", ["fp16_input"], _fb(["0.5", "-1.5", "3e38", "-0.0001", "2.5", "1e-40"], "bf16"),
        [_f32(Fraction(1, 64))], [0], "int8", x_format="bf16")
    _worked_and_float_target_cases(add)
    return cases


def _dequantize_cases(rng):
    """(name, comment, flags, params, inputs) of every dequantize case."""
    deq = []
    q8 = _rand_matrix(rng, 1, 12, "int8") + [-128, 127, 0]
    deq.append(("int8", "int8 per tensor", [], dict(dtype="int8", axis=None, block_size=None),
                {"q": Tensor("i8", [15], q8), "scale": Tensor("f32", [1], [_f32(Fraction(1, 10))]),
                 "zero_point": Tensor("i8", [1], [-3])}))
    deq.append(("int32_wrap", "int32 with extreme zero point", ["zp_extreme"], dict(dtype="int32", axis=None, block_size=None),
                {"q": Tensor("i32", [4], [2**31 - 1, -(2**31), 0, 12345]), "scale": Tensor("f32", [1], [_f32(Fraction(1, 3))]),
                 "zero_point": Tensor("i32", [1], [-(2**31)])}))
    deq.append(("per_axis", "uint8 per axis", ["per_channel"], dict(dtype="uint8", axis=1, block_size=None),
                {"q": Tensor("u8", [2, 3], [0, 128, 255, 7, 200, 13]),
                 "scale": Tensor("f32", [3], [_f32(Fraction(1, 10)), _f32(Fraction(2, 7)), _f32(3)]),
                 "zero_point": Tensor("u8", [3], [128, 0, 255])}))
    return deq


# The profiles of the first quantize set: their quantize groups, then their dequantize groups.  A
# profile added later appends its quantize and dequantize groups after all of these, so that the
# earlier tests keep their tcIds and files.
_FIRST_PROFILES = ("exact", "onnx", "onnx_ref", "onnxruntime", "torch", "torch_qint32", "torch_fake_quant", "tflite",
                   "tosa")


def build_quantize(rng):
    cases = _quantize_cases(rng)
    deq = _dequantize_cases(rng)

    def quantize_group(profile):
        gcases = [_case(name, comment, dict(p, profile=profile), inputs, flags)
                  for name, comment, flags, (p, inputs) in cases]
        return {"op": "quantize", "profile": profile, "params": {"profile": profile},
                "comment": PROFILES[profile].source, "cases": gcases}

    def dequantize_group(profile):
        gcases = [_case(name, comment, dict(p, profile=profile, scale_format="fp32", out_format="fp32"), inputs, flags)
                  for name, comment, flags, p, inputs in deq]
        return {"op": "dequantize", "profile": profile, "params": {"profile": profile},
                "comment": PROFILES[profile].source, "cases": gcases}

    first = [p for p in _FIRST_PROFILES if p in PROFILES]
    groups = [quantize_group(p) for p in first] + [dequantize_group(p) for p in first]
    for profile in PROFILES:
        if profile not in _FIRST_PROFILES:
            groups += [quantize_group(profile), dequantize_group(profile)]
    return groups
