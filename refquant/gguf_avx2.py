"""ggml's AVX2 dot kernels, exactly: the accumulation order of the vec_dot that an x86-64 AVX2 build
of ggml's CPU backend runs (the accumulation ``ggml_avx2`` of the op ``gguf_vec_dot``).

Source (read, not copied): ggml ``ggml-cpu/arch/x86/quants.c`` (ggml 0.13.1, llama.cpp 2026),
the ``#if defined(__AVX2__)`` branches of ``ggml_vec_dot_{q4_0_q8_0,q4_1_q8_1,q5_0_q8_0,q5_1_q8_1,
q8_0_q8_0}`` and their helpers ``mul_sum_i8_pairs_float``, ``mul_sum_us8_pairs_float``,
``hsum_float_8``, and the K kernels ``ggml_vec_dot_q{2,3,4,5,6}_K_q8_K``; docs/llm-formats.md §1
says what was measured against ggml itself (libggml 0.13.1 of pywhispercpp 1.5.1).

Per block the 32 products go into eight int32 lanes, lane j holding elements 4j .. 4j+3 (the
unpacked nibbles and the int8 codes sit in element order in one 256-bit vector; ``maddubs`` adds
adjacent byte products into int16 with saturation, ``madd`` adds adjacent int16 pairs). For signed
x (Q4_0, Q5_0, Q8_0) the kernel multiplies |x| by y carrying x's sign (``_mm256_sign_epi8``, where
-(-128) stays -128). Each lane is converted to binary32 (exactly) and accumulated across blocks
with one fused multiply-add by the block's fl(dx * dy), from +0; the eight lanes are then added by
``hsum_float_8``: r_i = x_{i+4} + x_i, then (r0 + r2) + (r1 + r3). Q4_1 / Q5_1 add
``summs`` (sum of fl(mx * sy) over blocks, in block order, each a fused multiply-add as GCC
contracts ``summs += mx*sy``) to that sum at the end.

The activations a matrix product feeds these kernels are quantized by the CPU backend's
``from_float`` (``quantize_avx2``): for Q8_0 / Q8_1 the AVX2 code multiplies by fl(127/amax) and
rounds ties to even, where the reference quantizer multiplies by 1/fl(amax/127) and rounds ties away.
"""

from . import formats as _f
from . import gguf as _g
from . import gguf_k as _k
from .errors import ShapeError, UnknownNameError

F32 = "fp32"
PAIRS = {"q4_0": "q8_0", "q4_1": "q8_1", "q5_0": "q8_0", "q5_1": "q8_1", "q8_0": "q8_0"}
UNSIGNED = ("q4_1", "q5_1")       # mul_sum_us8_pairs_float; the others mul_sum_i8_pairs_float


def _wrap8(v):
    return (v + 128) % 256 - 128


def _sat16(v):
    return max(-32768, min(32767, v))


def lanes(kind_x, qx, qy):
    """The eight int32 lanes of one block pair (lane j: elements 4j .. 4j+3), as the AVX2 integer
    instructions compute them (sign_epi8, maddubs_epi16 with int16 saturation, madd_epi16).

    Reproduces: ggml-cpu/arch/x86/quants.c mul_sum_i8_pairs_float / mul_sum_us8_pairs_float (ggml 0.13.1).
    """
    if kind_x in UNSIGNED:
        ux, sy = qx, qy
    else:
        ux = [abs(v) for v in qx]                                   # |-128| is the unsigned byte 128
        sy = [y if v > 0 else 0 if v == 0 else _wrap8(-y) for v, y in zip(qx, qy)]
    pairs = [_sat16(ux[2 * i] * sy[2 * i] + ux[2 * i + 1] * sy[2 * i + 1]) for i in range(16)]
    return [pairs[2 * j] + pairs[2 * j + 1] for j in range(8)]


def hsum_float_8(v):
    """hsum_float_8 of eight binary32 Reals: r_i = fl(x_{i+4} + x_i), then fl(fl(r0 + r2) + fl(r1 + r3)).

    Reproduces: ggml-cpu/arch/x86/quants.c hsum_float_8 (extractf128, add_ps, movehl_ps, movehdup_ps, add_ss).
    """
    r = [_g.add(v[i + 4], v[i]) for i in range(4)]
    return _g.add(_g.add(r[0], r[2]), _g.add(r[1], r[3]))


def _fma(a, b, c):
    return _f.decode(F32, _f.fma(F32, a, b, c))


def _blocks(kind_x, x, kind_y, y, k=()):
    if PAIRS.get(kind_x) != kind_y and kind_x not in k:
        raise UnknownNameError("ggml AVX2 vec_dot pair", f"{kind_x}.{kind_y}", [f"{a}.{b}" for a, b in PAIRS.items()])
    sx, sy = _g.BLOCKS[kind_x][1], _g.BLOCKS[kind_y][1]
    x, y = bytes(x), bytes(y)
    if len(x) % sx or len(y) % sy or len(x) // sx != len(y) // sy:
        raise ShapeError(f"{kind_x} row of {len(x)} bytes and {kind_y} row of {len(y)} bytes do not pair")
    return [(x[i * sx:(i + 1) * sx], y[i * sy:(i + 1) * sy]) for i in range(len(x) // sx)]


def dot_avx2(kind_x, x, kind_y, y):
    """binary32 bits of ggml_vec_dot_<kind_x>_<kind_y> as an AVX2 + FMA build runs it.

    Reproduces: ggml-cpu/arch/x86/quants.c ggml_vec_dot_{q4_0_q8_0,q4_1_q8_1,q5_0_q8_0,q5_1_q8_1,
    q8_0_q8_0}, the __AVX2__ branches (ggml 0.13.1).
    """
    acc, summs = [_g.ZERO] * 8, _g.ZERO
    for xb, yb in _blocks(kind_x, x, kind_y, y):
        qx, fx = _g.codes(kind_x, xb)
        qy, fy = _g.codes(kind_y, yb)
        d = _g.mul(_g.fp16_value(fx["d"]), _g.fp16_value(fy["d"]))
        acc = [_fma(d, _g.c_float(s), a) for s, a in zip(lanes(kind_x, qx, qy), acc)]
        if kind_x in UNSIGNED:
            summs = _fma(_g.fp16_value(fx["m"]), _g.fp16_value(fy["s"]), summs)
    total = hsum_float_8(acc)
    if kind_x in UNSIGNED:
        total = _g.add(total, summs)
    return _f.encode(F32, total)


KPAIRS = ("q2_K", "q3_K", "q4_K", "q5_K", "q6_K")      # each with Q8_K


def k_lanes(kind, u, y):
    """The eight int32 lanes of one K super-block pair: lane L sums scale * q8 * code over the
    elements e with (e mod 32) div 4 = L (each 32-byte vector of codes in element order; maddubs,
    then madd by the sub-block's scale, no saturation at these magnitudes).  Q6_K multiplies the
    unsigned 6-bit codes and subtracts 32 * (bsums[2L] * sc[2L] + bsums[2L+1] * sc[2L+1]) from lane L
    (measured on ggml 0.13.1; a kernel subtracting maddubs(32, q8) per element differs on 32 of 40 rows).

    Reproduces: ggml-cpu/arch/x86/quants.c ggml_vec_dot_q{2,3,4,5,6}_K_q8_K __AVX2__ sumi (ggml 0.13.1).
    """
    lanes, off = [0] * 8, 32 if kind == "q6_K" else 0
    for e in range(_g.QK_K):
        lanes[(e % 32) // 4] += u["sc"][e // u["group"]] * y["q"][e] * (u["q"][e] + off)
    if off:
        lanes = [v - off * p for v, p in zip(lanes, _pairs(y["bsums"], u["sc"]))]
    return lanes


def _pairs(mins, sums):
    """_mm_madd_epi16: mins[2k] * sums[2k] + mins[2k+1] * sums[2k+1]."""
    return [mins[2 * k] * sums[2 * k] + mins[2 * k + 1] * sums[2 * k + 1] for k in range(len(mins) // 2)]


def _k_mins(kind, u, y, dmin, state):
    """The mins of one super-block: Q2_K into the eight lanes, Q4_K into four lanes, Q5_K into summs."""
    if kind == "q2_K":            # madd(mins, bsums), fma'd into acc before the scales' lanes
        state["acc"] = [_fma(dmin, _g.c_float(p), a) for p, a in zip(_pairs(u["mins"], y["bsums"]), state["acc"])]
        return
    sums32 = [y["bsums"][2 * j] + y["bsums"][2 * j + 1] for j in range(8)]       # _mm_hadd_epi16
    prod = _pairs(u["mins"], sums32)
    if kind == "q4_K":
        state["acc_m"] = [_fma(dmin, _g.c_float(p), a) for p, a in zip(prod, state["acc_m"])]
    else:                         # summs += dmin * hsum(prod), contracted
        state["summs"] = _fma(dmin, _g.c_float(sum(prod)), state["summs"])


def dot_k_avx2(kind_x, x, kind_y, y):
    """binary32 bits of ggml_vec_dot_<kind_x>_q8_K as an AVX2 + FMA build runs it: per super-block
    d = fl(y.d * x.d), acc_L = fma(d, lane_L, acc_L); the mins with dmin = -fl(y.d * x.dmin)
    (Q2_K: fma'd into acc first; Q4_K: four more lanes, added (a0 + a2) + (a1 + a3) after
    hsum_float_8; Q5_K: a scalar fma chain summs added last); hsum_float_8 of acc.

    Reproduces: ggml-cpu/arch/x86/quants.c ggml_vec_dot_q{2,3,4,5,6}_K_q8_K, the __AVX2__ branches (ggml 0.13.1).
    """
    if kind_x not in KPAIRS or kind_y != "q8_K":
        raise UnknownNameError("ggml AVX2 K vec_dot pair", f"{kind_x}.{kind_y}", [f"{k}.q8_K" for k in KPAIRS])
    state = {"acc": [_g.ZERO] * 8, "acc_m": [_g.ZERO] * 4, "summs": _g.ZERO}
    for xb, yb in _blocks(kind_x, x, kind_y, y, KPAIRS):
        u, q8 = _k.KCODES[kind_x](xb), _k.q8_k_fields(yb)
        yd = _f.decode(F32, q8["d32"])
        if u["mins"] is not None:
            m = _g.mul(yd, _g.fp16_value(u["dmin"]))
            _k_mins(kind_x, u, q8, _f.Real(m.kind, 1 - m.sign, m.mag), state)
        d = _g.mul(yd, _g.fp16_value(u["d"]))
        state["acc"] = [_fma(d, _g.c_float(v), a) for v, a in zip(k_lanes(kind_x, u, q8), state["acc"])]
    total = hsum_float_8(state["acc"])
    if kind_x == "q4_K":
        a = state["acc_m"]
        total = _g.add(total, _g.add(_g.add(a[0], a[2]), _g.add(a[1], a[3])))
    elif kind_x == "q5_K":
        total = _g.add(total, state["summs"])
    return _f.encode(F32, total)


def vec_dot_avx2(kind_x, x, kind_y, y):
    """binary32 bits of the vec_dot an AVX2 + FMA build of ggml's CPU backend runs for the pair.

    Reproduces: ggml-cpu/arch/x86/quants.c ggml_vec_dot_<kind_x>_<kind_y>, __AVX2__ branches (ggml 0.13.1).
    """
    return dot_k_avx2(kind_x, x, kind_y, y) if kind_x in KPAIRS else dot_avx2(kind_x, x, kind_y, y)


def _quantize_q8(kind, xs):
    """quantize_row_q8_0 / q8_1, AVX2 branch: d = fl(amax/127), id = fl(127/amax) (not 1/d), codes
    _mm256_round_ps(x*id, _MM_ROUND_NEAREST) (ties to even, not roundf's ties away), packed with saturation."""
    amax = _g.ZERO
    for v in xs:
        amax = _f.Real(v.kind, 0, v.mag) if v.mag > amax.mag else amax
    d = _g.div(amax, 127)
    inv = _g.div(127, amax) if not amax.is_zero else _g.ZERO
    codes = [max(-128, min(127, _g.nearest_int(_g.mul(x, inv)))) for x in xs]
    head = _g.fp16_bits(d).to_bytes(2, "little")
    if kind == "q8_1":
        head += _g.fp16_bits(_g.mul(d, _g.c_float(sum(codes)))).to_bytes(2, "little")
    return head + bytes(c & 0xFF for c in codes)


def quantize_avx2(kind, values):
    """The bytes of a row as the CPU backend quantizes activations (``ggml_get_type_traits_cpu(kind)->
    from_float``) in an AVX2 build: Q8_0 / Q8_1 by their AVX2 code, every other type by its reference
    quantizer (``quantize_row_<kind>_ref``; Q8_K's AVX2 entry calls it too).

    Reproduces: ggml-cpu/arch/x86/quants.c quantize_row_q8_0 / quantize_row_q8_1 (__AVX2__), ggml 0.13.1.
    """
    if kind not in ("q8_0", "q8_1"):
        return _g.quantize_row(kind, values)
    xs = _g.inputs(values)
    if len(xs) % 32:
        raise ShapeError(f"a {kind} row holds a multiple of 32 values; got {len(xs)}")
    return b"".join(_quantize_q8(kind, xs[i:i + 32]) for i in range(0, len(xs), 32))


VARIANTS = {"gguf_vec_dot": {"ggml_avx2": vec_dot_avx2}, "gguf_quantize": {"ggml_avx2": quantize_avx2}}
