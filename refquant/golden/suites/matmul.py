"""The matmul suite: QLinearMatMul / MatMulInteger cases under every requantization method."""

from fractions import Fraction

from ... import formats, ops
from ... import requant as rq
from ..compute import Tensor, _flatten, _nest
from ._common import _case, _disagreeing_accs, _swap, _f32, _fhex, _int_type_range, _rand_matrix, _rows_for_accs
from ..tensors import short_dtype


MATMUL_METHODS = [m for m in rq.METHODS if m not in ("torch_x86", "onnx_ref_conv")]


def _mm(method, M, K, N, A, B, *, a_type="int8", b_type="int8", y_type="int8", za=0, zb=0, zy=0,
        sa=None, sb=None, sy=None, bias=None, policy="wrap", qmin=None, qmax=None, tflite_op="fc",
        float_bias=None):
    if method == "int32":
        y_type, zy, qmin, qmax = "int32", 0, None, None
    p = {"method": method, "M": M, "K": K, "N": N, "a_type": a_type, "b_type": b_type, "y_type": y_type,
         "za": za, "zb": zb, "zy": zy, "policy": policy,
         "sa": _fhex(sa), "sb": [_fhex(b) for b in sb] if isinstance(sb, list) else _fhex(sb), "sy": _fhex(sy),
         "tflite_op": tflite_op}
    if qmin is not None:
        p["qmin"], p["qmax"] = qmin, qmax
    inputs = {"A": Tensor(short_dtype(a_type), (M, K), A), "B": Tensor(short_dtype(b_type), (K, N), B)}
    if bias is not None:
        inputs["bias"] = Tensor("i32", (N,), bias)
    if float_bias is not None:     # binary32 bit patterns, one per column
        inputs["float_bias"] = Tensor("f32", (N,), float_bias)
    return p, inputs


def _pick_sy(A, B, M, K, N, za, zb, sa, sbs, target, bias=None):
    accs = _flatten(ops.matmul_integer(_nest(A, (M, K)), _nest(B, (K, N)), za, zb, "int32", "int32",
                                       bias=bias))
    peak = max([abs(a) for a in accs] + [1])
    return _f32(Fraction(peak) * formats.decode("fp32", sa).value * formats.decode("fp32", sbs[0]).value / target)


def _random_case(rng, M, K, N, a_type, b_type, y_type, per_channel, with_bias, target=100, zp_mode="random"):
    """The spec (A, B, zero points, scales, bias, types) of one random matmul case."""
    A = _rand_matrix(rng, M, K, a_type)
    B = _rand_matrix(rng, K, N, b_type)
    amin, amax = _int_type_range(a_type)
    bmin, bmax = _int_type_range(b_type)
    ymin, ymax = _int_type_range(y_type)
    if zp_mode == "extreme":
        za, zb, zy = amax, ([bmin if j % 2 else bmax for j in range(N)] if per_channel else bmin), ymin
    else:
        za = rng.randint(amin, amax) if a_type.startswith("u") else rng.randint(-8, 8)
        zb = ([rng.randint(-4, 4) for _ in range(N)] if per_channel and b_type == "int8" else
              (rng.randint(bmin, bmax) if b_type.startswith("u") else 0))
        zy = rng.randint(ymin // 2, ymax // 2) if y_type == "uint8" or zp_mode == "random" else 0
    sa = _f32(Fraction(rng.randint(1, 1 << 20), 1 << 26))
    sbs = [_f32(Fraction(rng.randint(1, 1 << 20), 1 << 27)) for _ in range(N if per_channel else 1)]
    bias = [rng.randint(-5000, 5000) for _ in range(N)] if with_bias else None
    sy = _pick_sy(A, B, M, K, N, za, zb, sa, sbs, target, bias)
    return dict(A=A, B=B, za=za, zb=zb, zy=zy, sa=sa, sb=sbs if per_channel else sbs[0], sy=sy, bias=bias,
                a_type=a_type, b_type=b_type, y_type=y_type)


def _fixed(shared, name, comment, flags, M, K, N, spec, **extra):
    """Add a case that is the same under every method (``builder(method) -> (params, inputs)``)."""
    shared.append((name, comment, flags, lambda method: _mm(method, M, K, N, spec["A"], spec["B"],
                   **{k: v for k, v in spec.items() if k not in ("A", "B")}, **extra)))


def _shared_cases(rng):
    """The cases every method runs: random shapes and types, zero-point extremes, K = 1 and 4096,
    exact ties and near ties (name, comment, flags, builder(method) -> (params, inputs))."""
    shared = []

    def fixed(*args, **kw):
        _fixed(shared, *args, **kw)

    fixed("random_s8s8", "random int8 x int8 -> int8, per tensor, int32 bias", ["random"], 4, 16, 5,
          _random_case(rng, 4, 16, 5, "int8", "int8", "int8", False, True))
    fixed("random_u8s8_per_channel", "uint8 x int8 -> uint8, per-column weight scales and zero points",
          ["random", "per_channel"], 3, 24, 6, _random_case(rng, 3, 24, 6, "uint8", "int8", "uint8", True, True))
    fixed("random_u8u8", "uint8 x uint8 -> uint8, per tensor, no bias", ["random"], 5, 9, 4,
          _random_case(rng, 5, 9, 4, "uint8", "uint8", "uint8", False, False))
    fixed("zp_extremes", "zero points at the ends of their types (a' and b' up to 255)", ["zp_extreme"], 3, 12, 4,
          _random_case(rng, 3, 12, 4, "int8", "int8", "int8", True, False, zp_mode="extreme"))
    fixed("zp_extremes_u8", "uint8 zero points 0 / 255", ["zp_extreme"], 3, 12, 4,
          _random_case(rng, 3, 12, 4, "uint8", "uint8", "uint8", False, False, zp_mode="extreme"))
    fixed("k1", "K = 1", ["k_one"], 4, 1, 3, _random_case(rng, 4, 1, 3, "int8", "int8", "int8", False, True, target=60))
    fixed("k4096", "K = 4096, per-channel", ["k_large"], 2, 4096, 3,
          _random_case(rng, 2, 4096, 3, "int8", "int8", "int8", True, True))
    # Ties and saturation edges: M = sa*sb/sy = 1/2 exactly, accs chosen directly.
    tie_accs = [-9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 253, 254, 255, 256, 257, -255, -256, -257, -258, 0]
    half = dict(A=_rows_for_accs(tie_accs, 4), B=[1] * 4, sa=_f32(Fraction(1, 2)), sb=_f32(1), sy=_f32(1))
    fixed("ties_half", "M = 1/2: odd accumulators are exact ties; 254..257 and -256..-258 straddle the int8 ends",
          ["tie"], len(tie_accs), 4, 1, half)
    fixed("ties_half_u8", "M = 1/2 into uint8 with zp = 128 and a [10, 200] clamp", ["tie", "qrange"],
          len(tie_accs), 4, 1, dict(half, y_type="uint8", zy=128), qmin=10, qmax=200)
    # Near ties: accumulators where the kernel methods disagree (double vs single rounding).
    sa, sb, sy = _f32(Fraction(3, 1000)), _f32(Fraction(7, 1000)), _f32(Fraction(11, 100))
    near = _disagreeing_accs(sa, sb, sy, 24)
    fixed("near_ties", "accumulators where double and single rounding (and the float path) disagree",
          [], len(near), 64, 1, dict(A=_rows_for_accs(near, 64), B=[1] * 64, sa=sa, sb=sb, sy=sy))
    sa2, sy2 = _f32(Fraction(1, 4096)), _f32(Fraction(1, 2**22))
    sb2 = _f32(Fraction(3, 2**20))
    near2 = _disagreeing_accs(sa2, sb2, sy2, 24)
    fixed("near_ties_small_m", "a small multiplier (TOSA s > 31): double rounding's second addend applies",
          [], len(near2), 64, 1, dict(A=_rows_for_accs(near2, 64), B=[1] * 64, sa=sa2, sb=sb2, sy=sy2))
    return shared


def _float_bias_cases(rng):
    """Float bias (torch / oneDNN methods only; oracle-only vectors: the C kernel takes int32 bias)."""
    fb_shared = []

    def float_bias_case(name, comment, flags, M, K, N, spec, biases):
        bits = [_f32(b) for b in biases]
        fb_shared.append((name, comment, ["float_bias"] + flags, lambda method: _mm(
            method, M, K, N, spec["A"], spec["B"], **{k: v for k, v in spec.items() if k not in ("A", "B", "bias")},
            float_bias=bits)))

    def real_biases(spec, n):
        sy = formats.decode("fp32", spec["sy"]).value
        return [Fraction(rng.randint(-3000, 3000), 100) * sy for _ in range(n)]

    fb1 = _random_case(rng, 4, 32, 5, "uint8", "int8", "uint8", False, False)
    float_bias_case("float_bias", "uint8 x int8 -> uint8, per-tensor weight scale, a float32 bias per column "
                    "(torch_fbgemm: the FMA path)", ["random"], 4, 32, 5, fb1, real_biases(fb1, 5))
    fb2 = _random_case(rng, 4, 32, 5, "uint8", "int8", "uint8", True, False)
    float_bias_case("float_bias_per_channel", "per-column weight scales with a float32 bias "
                    "(torch_fbgemm: the generic loop, fl(raw) + fl(bias/atw))", ["random", "per_channel"],
                    4, 32, 5, fb2, real_biases(fb2, 5))
    # requant.md §7 rows 12 and 13 (measured on torch 2.13): qnnpack 69 vs 70; FBGEMM FMA 134 vs 135
    for name, acc, (s_in, s_w, s_out), zy, b in (
            ("float_bias_row12", -15401, ("0.01971375197", "0.01975825988", "0.10923903435"), 135, "-1.15629077"),
            ("float_bias_row13", -3683, ("0.0441956185", "0.0105969999", "0.2230963260"), 146, "-0.84070784")):
        spec = dict(A=_rows_for_accs([acc], 128), B=[1] * 128, sa=_f32(Fraction(s_in)), sb=_f32(Fraction(s_w)),
                    sy=_f32(Fraction(s_out)), y_type="uint8", zy=zy)
        float_bias_case(name, f"requant.md §7 row {name[-2:]}: acc {acc}, scales {s_in}/{s_w}/{s_out}, "
                        f"zp {zy}, bias {b} (torch engines measured)", ["seed_example"], 1, 128, 1, spec,
                        [Fraction(b)])
    return fb_shared


def _overflow_groups():
    """Accumulator overflow under each policy (int32 output and two requantizing methods)."""
    # Bias-step overflow (cheap): acc near INT32_MAX after the bias.
    bias_over = dict(A=[100, 100, -100, 50], B=[100, 1, 1, 100], sa=_f32(Fraction(1, 2**16)), sb=_f32(1),
                     sy=_f32(Fraction(1, 2**7)), bias=[2**31 - 5000, -(2**31) + 10])
    groups = []
    K = 33100
    big_a = [255] * K
    big_b = [255, 1] * K   # column 0 overflows (33100 * 65025 > 2^31 - 1), column 1 does not
    for method in ("int32", "tflite_double", "float_fp32"):
        cases = []
        for policy in ("wrap", "saturate", "error"):
            p, inp = _mm(method, 1, K, 2, big_a, big_b, a_type="uint8", b_type="uint8", y_type="int8",
                         sa=_f32(Fraction(1, 2**20)), sb=_f32(Fraction(1, 2**8)), sy=_f32(1), policy=policy)
            cases.append(_case(f"overflow_k{K}_{policy}", f"sum of {K} products 255*255 passes 2^31-1 "
                               f"(column 0) under policy {policy}", p, inp, ["k_large"]))
            p, inp = _mm(method, 2, 2, 2, bias_over["A"], bias_over["B"], sa=bias_over["sa"], sb=bias_over["sb"],
                         sy=bias_over["sy"], bias=bias_over["bias"], policy=policy)
            cases.append(_case(f"overflow_bias_{policy}", f"the bias step leaves int32 under policy {policy}",
                               p, inp, ["bias"]))
        groups.append({"op": "qlinear_matmul", "profile": method, "params": {"method": method},
                       "comment": "accumulator overflow policies: " + rq.METHODS[method].reproduces, "cases": cases})
    return groups


def build_matmul(rng):
    groups = []
    shared = _shared_cases(rng)
    fb_shared = _float_bias_cases(rng)
    for method in MATMUL_METHODS:
        cases = [_case(name, comment, *_swap(builder(method)), flags=flags)
                 for name, comment, flags, builder in shared
                 + (fb_shared if rq.METHODS[method].float_bias else [])]
        groups.append({"op": "qlinear_matmul", "profile": method, "params": {"method": method},
                       "comment": rq.METHODS[method].reproduces, "cases": cases})
    groups += _overflow_groups()
    return groups
