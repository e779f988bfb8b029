"""refquant/tflite_ops.py against LiteRT itself (ai-edge-litert 2.3.0), per kernel family.

Small seeded samples run unmarked; the sweeps of >= 10^5 elements per op x family are
``@pytest.mark.slow`` (their numbers are in docs/ops.md, "TFLite / LiteRT ops")."""

import numpy as np
import pytest

from refquant import backends, tflite_ops as T
from refquant.errors import InvalidValueError, SpecError, UnknownNameError

litert = pytest.importorskip("refquant.peers.litert")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}


def family_fn(family, op, delegated):
    """The variant the family's backend row names; an op XNNPACK declined runs the optimized kernel."""
    if family == "xnnpack" and not delegated:
        family = "optimized"
    return backends.variant(ROW[family], op)


# ##########################################################################
# Pure spec (no peer): hand-computed values
# ##########################################################################

def test_activation_range():
    assert T.activation_range("NONE", 0.5, 3, "int8") == (-128, 127)
    assert T.activation_range("RELU", 0.5, 3, "int8") == (3, 127)
    assert T.activation_range("RELU6", 0.5, 3, "int8") == (3, 15)
    assert T.activation_range("RELU_N1_TO_1", 0.25, -126, "int8") == (-128, -122)
    assert T.activation_range("RELU_N1_TO_1", 2.0, 0, "int8") == (-1, 1)   # +-0.5 rounds away from zero
    with pytest.raises(UnknownNameError):
        T.activation_range("TANH", 1.0, 0, "int8")


def test_add_params_and_values():
    # sa = sb = 0.5, sy = 1: M1 = M2 = 1/2, Mo = 1/2^20
    (m1, s1), (m2, s2), (mo, so) = T.add_sub_params(T.f32(0.5), T.f32(0.5), T.f32(1.0), 20)
    assert (m1, s1) == (1 << 30, 0) and (mo, so) == (1 << 30, -19)
    # 0.5*1 + 0.5*2 = 1.5 -> 2 (ref: half away); XNNPACK rounds the same tie toward +inf: 2
    assert T.tflite_add([1], 0.5, 0, [2], 0.5, 0, 1.0, 0) == [2]
    assert T.tflite_add([-1], 0.5, 0, [-2], 0.5, 0, 1.0, 0) == [-2]
    assert T.xnnpack_add([-1], 0.5, 0, [-2], 0.5, 0, 1.0, 0) == [-1]
    assert T.tflite_add([127], 1.0, 0, [127], 1.0, 0, 1.0, 0) == [127]          # saturates
    with pytest.raises(SpecError):
        T.xnnpack_add([1], 1.0, 0, [1], 1.0, 0, 1 / 512, 0)                     # ratio 512 >= 2^8


def test_mul_quantize_dequantize_hand_values():
    assert T.tflite_mul([3], 0.5, 0, [3], 0.5, 0, 1.0, 0) == [3]       # 2.25: SRDHM 4.5 -> 5, RDBPOT 2.5 -> 3
    assert T.tflite_mul([-3], 0.5, 1, [-3], 0.5, 1, 0.5, 0) == [8]     # 0.5*(-4)*0.5*(-4)/0.5 = 8
    assert T.tflite_quantize([2.5, -2.5], 1.0, 0) == [3, -3]           # ties away from zero
    assert T.xnnpack_quantize([2.5, -2.5], 1.0, 0) == [2, -2]          # RNE
    x = [0.5 + i for i in range(9)]
    assert T.tflite_quantize_optimized(x, 1.0, 0) == [0, 2, 2, 4, 4, 6, 6, 8, 9]   # 8 RNE, tail away
    assert T.tflite_dequantize([5], float(np.float32(0.1)), 2) == [float(np.float32(3 * np.float32(0.1)))]
    with pytest.raises(InvalidValueError):
        T.tflite_quantize([float("nan")], 1.0, 0)
    with pytest.raises(InvalidValueError):
        T.tflite_add([1], 1.0, 3, [1], 1.0, 0, 1.0, 0, dtype="int16")      # int16 is symmetric


def test_mean_and_pool_hand_values():
    x = [[[[1], [2]], [[3], [5]]]]                                    # 1x2x2x1, sum 11, n 4
    assert T.tflite_mean(x, 1.0, 0, 1.0, 0, axes=[1, 2], keepdims=1) == [[[[3]]]]
    assert T.tflite_average_pool(x, filter_hw=(2, 2), strides=(1, 1)) == [[[[3]]]]
    assert T.tflite_max_pool(x, filter_hw=(2, 2), strides=(1, 1)) == [[[[5]]]]
    assert T.pool_geometry(5, 2, 2, "SAME") == (3, 0) and T.pool_geometry(5, 3, 2, "VALID") == (2, 0)
    assert T.mean_multiplier(T.f32(1.0), T.f32(1.0), 4) == (1 << 30, -1)     # 1 -> (2^30, 1), then / 4


# ##########################################################################
# Against LiteRT: small seeded samples, every family
# ##########################################################################

def _binary_model(op, shape, sa, za, sb, zb, sy, zy, dtype, act):
    m = litert.Model()
    a = m.tensor("a", shape, dtype, scale=sa, zero_point=za)
    b = m.tensor("b", shape, dtype, scale=sb, zero_point=zb)
    y = m.tensor("y", shape, dtype, scale=sy, zero_point=zy)
    pot = {"pot_scale_int16": False} if op in ("ADD", "SUB") else {}   # int16: the general-scale path
    m.op(op, [a, b], [y], fused_activation_function=act, **pot)
    return m.build([a, b], [y])


def binary_cases(rng, count, n, dtype):
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    pow2 = [0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0]
    for c in range(count):
        if c % 2:
            sa, sb, sy = (float(rng.choice(pow2)) for _ in range(3))        # tie-heavy
        else:
            sa, sb, sy = (float(np.float32(rng.uniform(0.001, 0.1))) for _ in range(3))
        za, zb, zy = (0, 0, 0) if dtype == "int16" else (int(v) for v in rng.integers(-40, 40, 3))
        if c % 5 == 4 and dtype == "int8":
            za, zy = -128, 127                                                # zero points at the range ends
        act = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[c % 4]
        yield (sa, za, sb, zb, sy, zy, act, rng.integers(lo, hi + 1, n).astype(dtype),
               rng.integers(lo, hi + 1, n).astype(dtype))


def run_binary(op, rng, count, n, dtype):
    """{family: (elements, mismatches)} for ``count`` random configurations of ``n`` elements."""
    out = {f: [0, 0] for f in litert.FAMILIES}
    for sa, za, sb, zb, sy, zy, act, a, b in binary_cases(rng, count, n, dtype):
        blob = _binary_model(op.upper(), (n,), sa, za, sb, zb, sy, zy, dtype, act)
        for fam in litert.FAMILIES:
            r = litert.run(blob, {"a": a, "b": b}, fam)
            want = np.array(family_fn(fam, op, r.delegated[0])(a.tolist(), sa, za, b.tolist(), sb, zb, sy, zy,
                                                               dtype=dtype, activation=act))
            out[fam][0] += n
            out[fam][1] += int((r.outputs["y"] != want).sum())
    return out


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_binary_ops_match_litert(op, dtype):
    res = run_binary(op, np.random.default_rng(hash((op, dtype)) % 2**32), 4, 64, dtype)
    assert all(d == 0 for _, d in res.values()), res


def test_xnnpack_add_mul_measured_cases():
    """The two cases measured when the peer was first tried: ref and XNNPACK differ by one."""
    a, b = np.array([-38], np.int8), np.array([-36], np.int8)
    blob = _binary_model("ADD", (1,), 0.0625, -35, 0.03125, 24, 0.125, -18, "int8", "NONE")
    got = {f: int(litert.run(blob, {"a": a, "b": b}, f).outputs["y"][0]) for f in litert.FAMILIES}
    assert got == {"ref": -35, "optimized": -35, "xnnpack": -34}
    assert T.tflite_add([-38], 0.0625, -35, [-36], 0.03125, 24, 0.125, -18) == [-35]
    assert T.xnnpack_add([-38], 0.0625, -35, [-36], 0.03125, 24, 0.125, -18) == [-34]
    a, b = np.array([-16], np.int8), np.array([-35], np.int8)
    blob = _binary_model("MUL", (1,), 0.03125, 2, 0.125, 17, 0.0625, -10, "int8", "NONE")
    got = {f: int(litert.run(blob, {"a": a, "b": b}, f).outputs["y"][0]) for f in litert.FAMILIES}
    assert got == {"ref": 49, "optimized": 49, "xnnpack": 48}
    assert T.xnnpack_mul([-16], 0.03125, 2, [-35], 0.125, 17, 0.0625, -10) == [48]


def test_optimized_mul_int16_lane_wrap():
    """M = 16 with a saturating product: the optimized vector path adds zy in int16 with wrap."""
    n = 16
    a, b = np.full(n, 41, np.int8), np.full(n, -120, np.int8)
    blob = _binary_model("MUL", (n,), 0.5, -24, 1.0, 22, 0.03125, -35, "int8", "RELU_N1_TO_1")
    assert litert.run(blob, {"a": a, "b": b}, "ref").outputs["y"].tolist() == [-67] * n
    assert litert.run(blob, {"a": a, "b": b}, "optimized").outputs["y"].tolist() == [-3] * n
    assert T.tflite_mul_optimized(a.tolist(), 0.5, -24, b.tolist(), 1.0, 22, 0.03125, -35,
                                  activation="RELU_N1_TO_1") == [-3] * n
