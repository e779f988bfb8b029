"""LiteRT's int16 ADD / SUB power-of-two path (pot_scale_int16 = true; refquant/tflite_pot16.py)
against ai-edge-litert 2.3.0, every family: a seeded sample unmarked, >= 10^5 elements slow."""

import numpy as np
import pytest

from refquant import backends
from refquant import tflite_ops as T
from refquant.errors import SpecError
from refquant.tflite_pot16 import checked_log2, pot_shifts

litert = pytest.importorskip("refquant.peers.litert")
pytest.importorskip("ai_edge_litert", reason="ai-edge-litert is not installed (pip install 'refquant[litert]')")

ROW = {"ref": "litert_ref", "optimized": "litert_optimized", "xnnpack": "litert_xnnpack"}
P = 2.0 ** -12
# valid shift pairs (0, 0), (-2, 0), (0, -3); a CheckedLog2 power of two that is not one exactly; a general
# scale (the general int16 path runs); two the Prepare refuses (a positive shift; two non-zero shifts)
SCALES = [(P, P, P), (P / 4, P, P), (P, P / 8, P), (P * 1.0005, P, P / 1.0004), (0.0003, P, P), (2 * P, P, P),
          (P / 2, P / 2, P)]
EDGES = [32767, -32768, 3, -3, 2, -2, 1, -1, 0, 32766, -32767, 5]


def test_checked_log2_and_shifts():
    assert checked_log2(P) == (True, -12) and checked_log2(P * 1.0005) == (True, -12)
    assert checked_log2(P * 1.002)[0] is False
    assert pot_shifts(P / 4, P, P) == (-2, 0) and pot_shifts(0.0003, P, P) is None
    with pytest.raises(SpecError):
        pot_shifts(2 * P, P, P)
    with pytest.raises(SpecError):
        T.tflite_add([1, 2], P, 0, [1], P, 0, P, 0, dtype="int16", pot_scale_int16=True)   # no broadcast
    # RoundingDivideByPOT rounds half away from zero; the sum saturates to int16
    assert T.tflite_add([-3, 3, 32767], P / 2, 0, [0, 0, 32767], P, 0, P, 0, dtype="int16",
                        pot_scale_int16=True) == [-2, 2, 32767]
    assert T.tflite_sub([-32768], P, 0, [32767], P, 0, P, 0, dtype="int16", pot_scale_int16=True) == [-32768]


def run_pot(rng, shapes, acts=("NONE", "RELU", "RELU_N1_TO_1")):
    """{(op, family): [elements, mismatches]}; refused models must be refused by both."""
    out = {}
    for op in ("add", "sub"):
        for scales in SCALES:
            sa, sb, sy = (float(np.float32(v)) for v in scales)
            for act in acts:
                for sha, shb in shapes:
                    if op == "add" and np.prod(sha) != np.prod(shb):
                        continue                          # LiteRT aborts (MatchingElementsSize)
                    a, b = (rng.integers(-32768, 32768, s).astype(np.int16) for s in (sha, shb))
                    a.flat[:len(EDGES)] = EDGES[:a.size]
                    m = litert.Model()
                    at = m.tensor("a", sha, "int16", scale=sa, zero_point=0)
                    bt = m.tensor("b", shb, "int16", scale=sb, zero_point=0)
                    yt = m.tensor("y", np.broadcast_shapes(sha, shb), "int16", scale=sy, zero_point=0)
                    m.op(op.upper(), [at, bt], [yt], pot_scale_int16=True, fused_activation_function=act)
                    blob, args = m.build([at, bt], [yt]), (a.tolist(), sa, 0, b.tolist(), sb, 0, sy, 0)
                    for fam in litert.FAMILIES:
                        used = "optimized" if fam == "xnnpack" else fam     # XNNPACK declines int16 ADD/SUB
                        fn = backends.variant(ROW[used], op)
                        try:
                            want = np.array(fn(*args, dtype="int16", activation=act, pot_scale_int16=True))
                        except SpecError:
                            with pytest.raises(RuntimeError):
                                litert.run(blob, {"a": a, "b": b}, fam)
                            continue
                        r = litert.run(blob, {"a": a, "b": b}, fam)
                        assert not r.delegated[0]
                        cell = out.setdefault((op, fam), [0, 0])
                        cell[0] += want.size
                        cell[1] += int((r.outputs["y"] != want).sum())
    return out


def test_pot16_matches_litert_sample():
    res = run_pot(np.random.default_rng(8), [((40,), (40,)), ((3, 13), (13,))], acts=("NONE", "RELU_N1_TO_1"))
    assert all(d == 0 for _, d in res.values()) and all(n > 0 for n, _ in res.values()), res


@pytest.mark.slow
def test_pot16_sweep_1e5():
    res = run_pot(np.random.default_rng(2028), [((4000,), (4000,)), ((30, 100), (1, 30, 100)), ((50, 40), (40,)), ((2, 3, 400), (1, 3, 400))])
    print(res)
    assert all(n >= 100_000 for n, _ in res.values()), res
    assert all(d == 0 for _, d in res.values()), res
