"""Slow: random cases of each newly audited op run on its peer (onnxruntime 1.32.0, ai-edge-litert 2.3.0,
tosa-tools 2026.8.0) and audited as that peer's variant: every dump matches it on every element and the
diagnosis names it (alone or tied).  The tallies are printed (docs/audit.md §7.1 records a run)."""

import os
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from peers import need
from refquant.audit import variants as V

pytestmark = pytest.mark.slow
F32 = lambda v: float(np.float32(v))    # noqa: E731
TALLY = Counter()
N = int(os.environ.get("SWEEP_N", 30))       # random configurations per test


def _check(key, case, y, want):
    """Audit y as the peer's variant ``want`` (the case re-declared): 0 mismatches, ``want`` named."""
    res = V.audit_variant(replace(case, variant=want) if want in V.backends.op_variants(case.op) else case,
                          np.asarray(y))
    d = res["diagnosis"]
    TALLY[key, "cases"] += 1
    TALLY[key, "elements"] += res["elements"]
    TALLY[key, "mismatches"] += res["mismatches"]
    TALLY[key, "alone"] += not d["ties"]
    assert res["mismatches"] == 0 and want in {d["best"], *d["ties"]}, (key, case.describe(), d["verdict"])


def _print():
    keys = sorted({k for k, *_ in TALLY if isinstance(k, tuple)})
    for k in keys:
        print(f"{' / '.join(k):32} cases {TALLY[k, 'cases']:4} elements {TALLY[k, 'elements']:6} mismatches "
              f"{TALLY[k, 'mismatches']} named alone {TALLY[k, 'alone']}")
    for k, v in sorted(((k, v) for k, v in TALLY.items() if len(k) == 3), key=str):
        print(f"{' '.join(k)}: {v}")


def _pool_geo(rng):
    h, w, c = (int(v) for v in rng.integers(2, 8, 3))
    k = [int(rng.integers(1, min(3, h) + 1)), int(rng.integers(1, min(3, w) + 1))]
    return (1, h, w, c), k, [int(v) for v in rng.integers(1, 3, 2)]


def test_sweep_litert_pools_mean_softmax():
    need("ai_edge_litert", "ai-edge-litert")
    from refquant.peers import litert, litert_rows
    from refquant.peers.activations import litert_unary
    rng = np.random.default_rng(2026)
    for i in range(N):
        shape, k, s = _pool_geo(rng)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        sc, zp, pad = F32(rng.uniform(0.01, 0.5)), int(rng.integers(-20, 20)), ("SAME", "VALID")[i % 2]
        act = ("NONE", "RELU", "RELU6")[i % 3]
        for op, opc in (("average_pool_2d", "AVERAGE_POOL_2D"), ("max_pool_2d", "MAX_POOL_2D")):
            case = V.make_variant_case({"op": op, "variant": "tflite_ref", "x": x.tolist(), "attrs": {
                "filter_hw": k, "strides": s, "padding": pad, "activation": act, "scale": sc, "zero_point": zp}})
            blob = litert_rows._model(opc, x, "int8", sc, zp, case.out_shape, padding=pad, stride_h=s[0],
                                      stride_w=s[1], filter_height=k[0], filter_width=k[1],
                                      fused_activation_function=act)
            for fam in ("ref", "optimized", "xnnpack"):
                _check((op, fam), case, litert.run(blob, {"x": x}, fam).outputs["y"], "tflite_ref")
        xm = rng.integers(-128, 128, (1, *shape[1:3], 16)).astype(np.int8)
        so, zo = F32(rng.uniform(0.01, 0.5)), int(rng.integers(-20, 20))
        case = V.make_variant_case({"op": "mean", "variant": "tflite_ref", "x": xm.tolist(), "x_scale": sc,
                                    "x_zero_point": zp, "y_scale": so, "y_zero_point": zo,
                                    "attrs": {"axes": [1, 2], "keepdims": 1}})
        blob = litert_rows._model("MEAN", xm, "int8", sc, zp, case.out_shape, [[1, 2]], (so, zo), keep_dims=True)
        for fam, want in (("ref", "tflite_ref"), ("optimized", "tflite_optimized"), ("xnnpack", "xnnpack")):
            _check(("mean", fam), case, litert.run(blob, {"x": xm}, fam).outputs["y"], want)
        xs = rng.integers(-40, 41, (3, int(rng.integers(2, 20))))
        case = V.make_variant_case({"op": "softmax", "variant": "tflite_ref", "x": xs.tolist(), "x_scale": sc,
                                    "y_scale": "1/256", "y_zero_point": -128})
        for fam, want in (("ref", "tflite_ref"), ("optimized", "tflite_optimized")):
            _check(("softmax", fam), case, litert_unary("softmax", xs, sc, 0, 1 / 256, -128, "int8", fam)[0], want)
    _print()


def test_sweep_onnxruntime_pools_concat_softmax():
    need("onnxruntime")
    from refquant.peers import onnx_qops as OQ
    from refquant.peers.activations import ort_qlinear
    rng = np.random.default_rng(2027)
    for i in range(N):
        (_, h, w, c), k, s = _pool_geo(rng)
        x = rng.integers(-128, 128, (1, c, h, w)).astype(np.int8)
        p = [int(rng.integers(0, k[0])), int(rng.integers(0, k[1])), int(rng.integers(0, k[0])),
             int(rng.integers(0, k[1]))]
        attrs = {"kernel_shape": k, "strides": s, "pads": p}
        case = V.make_variant_case({"op": "max_pool", "variant": "exact", "dtype": "int8", "x": x.tolist(),
                                    "attrs": attrs})
        _check(("max_pool", "ort"), case, OQ.ort_max_pool(x, "int8", **attrs), "exact")
        sx, sy, zx, zy = F32(rng.uniform(0.01, 0.5)), F32(rng.uniform(0.01, 0.5)), *(int(v) for v in
                                                                                     rng.integers(-20, 20, 2))
        if i % 2:
            sy, zy = sx, zx
        case = V.make_variant_case({"op": "avg_pool", "variant": "ort", "x": x.tolist(), "x_scale": sx,
                                    "x_zero_point": zx, "y_scale": sy, "y_zero_point": zy, "attrs": attrs})
        _check(("avg_pool", "ort"), case, OQ.ort_avg_pool(x, sx, zx, sy, zy, "int8", **attrs), "ort")
        ins = [(rng.integers(-128, 128, (2, int(rng.integers(1, 4)), 3)).astype(np.int8), F32(rng.uniform(0.01, 0.5)),
                int(rng.integers(-20, 20))) for _ in range(int(rng.integers(2, 4)))]
        case = V.make_variant_case({"op": "concat", "variant": "ort", "dtype": "int8", "y_scale": sy, "y_zero_point": zy,
                                    "attrs": {"axis": 1}, "inputs": [{"x": v.tolist(), "scale": q, "zero_point": z}
                                                                     for v, q, z in ins]})
        _check(("concat", "ort"), case, OQ.ort_concat(ins, sy, zy, 1, "int8"), "ort")
        xs = rng.integers(-40, 41, (3, int(rng.integers(2, 20)))).astype(np.int8)
        case = V.make_variant_case({"op": "softmax", "variant": "ort_qlinear", "x": xs.tolist(), "x_scale": sx,
                                    "y_scale": sy, "y_zero_point": -128})
        _check(("softmax", "ort"), case, ort_qlinear("softmax", xs, sx, 0, sy, -128, "int8"), "ort_qlinear")
    _print()


def test_sweep_tosa_pools():
    need("tosa_serializer", "tosa-tools")
    need("tosa_reference_model", "tosa-tools")
    os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
    from refquant.peers import tosa_ops as M
    m, rng = M.Model(), np.random.default_rng(2028)
    for _ in range(N):
        k = [int(v) for v in rng.integers(1, 4, 2)]
        s = [int(v) for v in rng.integers(1, 3, 2)]
        p = [int(rng.integers(0, k[0])), int(rng.integers(0, k[0])), int(rng.integers(0, k[1])),
             int(rng.integers(0, k[1]))]
        oh, ow = (int(v) for v in rng.integers(1, 5, 2))
        ih, iw = max(1, (oh - 1) * s[0] + k[0] - p[0] - p[1]), max(1, (ow - 1) * s[1] + k[1] - p[2] - p[3])
        x = rng.integers(-128, 128, (1, ih, iw, int(rng.integers(1, 5)))).astype(np.int8)
        zi, zo = (int(v) for v in rng.integers(-128, 128, 2))
        geo = {"kernel": k, "stride": s, "pad": p}
        for op, top, extra in (("tosa_avg_pool2d", "AVG_POOL2D", {"input_zp": zi, "output_zp": zo}),
                               ("tosa_max_pool2d", "MAX_POOL2D", {})):
            status, y = M.pool(m, top, x, k, s, p, "int8", *([zi, zo] if extra else []))
            TALLY[op, "tosa", status] += 1
            spec = {"op": op, "variant": "tosa", "x": x.tolist(), "attrs": {**geo, **extra}}
            if status != M.VALID:                     # the case is refused as the model refuses the graph
                with pytest.raises(V.RefquantError):
                    assert V.make_variant_case(spec).out_shape
                continue
            case = V.make_variant_case(spec)
            _check((op, "tosa"), case, y, "tosa")
    _print()
