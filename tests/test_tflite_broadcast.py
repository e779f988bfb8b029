"""Broadcasting ADD / SUB / MUL under LiteRT's optimized kernels (refquant/tflite_broadcast.py):
the vector blocks count within each five-fold run, generic broadcasts and int16 ADD broadcasts run
the reference.  Against ai-edge-litert 2.3.0, every family; the >= 10^5 sweep is slow."""

import numpy as np
import pytest

from refquant import backends
from refquant import tflite_ops as T
from refquant.tflite_broadcast import process_broadcast_shapes, vector_lanes

litert = pytest.importorskip("refquant.peers.litert")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}
# (shape a, shape b): generic, scalar runs (y4 == 1), runs of y4 with a tail, runs shorter than a block
SHAPES = [((2, 3, 4, 20), (1, 3, 1, 20)), ((2, 3, 4, 20), (1,)), ((1,), (3, 37)), ((4, 1, 33), (1, 5, 33)),
          ((3, 17), (17,)), ((2, 5, 1), (2, 1, 7)), ((40,), (1,)), ((5, 16), (5, 1)), ((2, 3, 1, 35), (2, 1, 4, 35)),
          ((3, 17), (1, 3, 17))]
ADD16_TIES = (0.0962374210357666, 0.06368101388216019, 0.07624411582946777)   # single/double rounding part
ADD16_A = [-22583, -13362, -4141, 5080]                                        # ... for b = 18350


def test_process_broadcast_shapes():
    assert process_broadcast_shapes((2, 3, 4, 20), (1, 3, 1, 20)) == ("generic", (1, 1, 3, 4, 20))
    assert process_broadcast_shapes((2, 3, 4, 20), (1,)) == ("second_fast", (1, 1, 1, 480, 1))
    assert process_broadcast_shapes((4, 1, 33), (1, 5, 33)) == ("first_fast", (1, 4, 1, 5, 33))
    assert process_broadcast_shapes((2, 3, 1, 35), (2, 1, 4, 35)) == ("first_fast", (2, 3, 1, 4, 35))
    assert process_broadcast_shapes((3, 17), (1, 3, 17))[0] == "none"
    assert vector_lanes((4, 1, 33), (1, 5, 33), 66) == ([True] * 32 + [False]) * 2
    assert vector_lanes((2, 5, 1), (2, 1, 7), 70) == [False] * 70
    assert vector_lanes((40,), (1,), 40, fivefold=False) == [False] * 40


def _case(rng, op, dtype, c, sha, shb):
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    a, b = rng.integers(lo, hi + 1, sha).astype(dtype), rng.integers(lo, hi + 1, shb).astype(dtype)
    if c % 3 == 0 and op == "mul" and dtype == "int8":        # M = 256, zy > 0: the int16 lane wrap
        return a, b, (1.0, 0, 1.0, 0, 2.0 ** -8, int(rng.integers(1, 128)))
    if c % 3 == 0 and op == "add" and dtype == "int16":       # single/double rounding pairs
        a.flat[:] = rng.choice(ADD16_A, a.size)
        b.flat[:] = 18350
        return a, b, (ADD16_TIES[0], 0, ADD16_TIES[1], 0, ADD16_TIES[2], 0)
    if c % 3 == 1:
        sa, sb, sy = (float(rng.choice([0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0])) for _ in range(3))
    else:
        sa, sb, sy = (float(np.float32(rng.uniform(0.001, 0.1))) for _ in range(3))
    za, zb, zy = (0, 0, 0) if dtype == "int16" else (int(v) for v in rng.choice([-128, 127, *range(-40, 40)], 3))
    return a, b, (sa, za, sb, zb, sy, zy)


def run_broadcast(rng, configs, ops=("add", "sub", "mul"), shapes=SHAPES):
    """{(op, dtype, family): [elements, mismatches]} over ``configs`` configurations per shape pair."""
    out = {}
    for op in ops:
        for dtype in ("int8", "int16"):
            for c in range(configs):
                for sha, shb in shapes:
                    a, b, (sa, za, sb, zb, sy, zy) = _case(rng, op, dtype, c, sha, shb)
                    m = litert.Model()
                    at = m.tensor("a", sha, dtype, scale=sa, zero_point=za)
                    bt = m.tensor("b", shb, dtype, scale=sb, zero_point=zb)
                    yt = m.tensor("y", np.broadcast_shapes(sha, shb), dtype, scale=sy, zero_point=zy)
                    m.op(op.upper(), [at, bt], [yt], **({"pot_scale_int16": False} if op != "mul" else {}))
                    blob = m.build([at, bt], [yt])
                    for fam in litert.FAMILIES:
                        r = litert.run(blob, {"a": a, "b": b}, fam)
                        used = fam if fam != "xnnpack" or r.delegated[0] else "optimized"
                        want = np.array(backends.variant(ROW[used], op)(a.tolist(), sa, za, b.tolist(), sb, zb,
                                                                        sy, zy, dtype=dtype))
                        cell = out.setdefault((op, dtype, fam), [0, 0])
                        cell[0] += want.size
                        cell[1] += int((r.outputs["y"] != want).sum())
    return out


def test_broadcast_matches_litert_sample():
    res = run_broadcast(np.random.default_rng(31), 1, shapes=SHAPES[:6])
    assert all(d == 0 for _, d in res.values()), res


def test_broadcast_rules_change_results():
    """The constructed cases tell the rules apart: a flat-index block rule would differ from LiteRT."""
    a = [[[100] * 33]] * 4
    b = [[[100] * 33] * 5]
    got = T.tflite_mul_optimized(a, 1.0, 0, b, 1.0, 0, 2.0 ** -8, 5)          # runs of 33: 32 lanes wrap
    assert np.array(got)[0, 0].tolist() == [-128] * 32 + [127]
    x = [ADD16_A[2]] * 40
    assert T.tflite_add_optimized(x, *ADD16_TIES[:1], 0, [18350], ADD16_TIES[1], 0, ADD16_TIES[2], 0,
                                  dtype="int16") == [10100] * 40                # a broadcast: the reference
    assert T.tflite_add_optimized(x, *ADD16_TIES[:1], 0, [18350] * 40, ADD16_TIES[1], 0, ADD16_TIES[2], 0,
                                  dtype="int16") == [10099] * 32 + [10100] * 8


@pytest.mark.slow
def test_broadcast_sweep_1e5():
    """>= 10^5 broadcast elements per op x dtype x family (numbers in docs/ops.md)."""
    res = run_broadcast(np.random.default_rng(2027), 48)
    print({k: v for k, v in sorted(res.items())})
    assert all(n >= 100_000 for n, _ in res.values()), res
    assert all(d == 0 for _, d in res.values()), res
