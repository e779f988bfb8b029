"""The golden 'ops' vectors replayed on the peer each group's variant names: onnxruntime 1.32.0 (variants
ort, ort_qlinear), ai-edge-litert 2.3.0 (tflite_ref, tflite_lut, tflite_optimized, xnnpack, xnnpack_lut,
in the kernel family whose backend row uses the variant) and the tosa-tools 2026.8.0 reference model (the
tosa_single / tosa_double chains, TABLE of the lowered sigmoid / tanh, AVG_POOL2D / MAX_POOL2D).  Every
stored expected element must be what the peer computes.  The whole replay is slow-marked; one group per
peer runs unmarked."""

import numpy as np
import pytest

from refquant import backends, golden
from refquant.golden.compute import _scale_param

LITERT_FAMILY = {"litert_ref": "ref", "litert_optimized": "optimized", "litert_xnnpack": "xnnpack"}
UNARY_LITERT = ("sigmoid", "tanh", "hard_swish", "leaky_relu", "sigmoid_int16", "tanh_int16")


def _groups():
    gset = golden.load_set("ops")
    for g in gset.manifest["testGroups"]:
        for t in g["tests"]:
            ins = {f["name"]: gset.read_tensor(f) for f in t["files"] if f["role"] == "input"}
            want = next(gset.read_tensor(f) for f in t["files"] if f["role"] == "expected")
            yield g["params"]["op"], g["params"]["variant"], t, ins, want


def _arr(t):
    return np.asarray(t.values, dtype={"i8": np.int8, "i16": np.int16}[t.dtype]).reshape(t.shape)


def _sc(p, k):
    return float(_scale_param(p[k]))


def _ort(op, p, ins):
    from refquant.peers import activations as act
    from refquant.peers import onnx_qops as oq
    if op in ("add", "mul"):
        return oq.ort_binary({"add": "QLinearAdd", "mul": "QLinearMul"}[op], _arr(ins["a"]), _sc(p, "sa"), p["za"],
                             _arr(ins["b"]), _sc(p, "sb"), p["zb"], _sc(p, "sy"), p["zy"], p["dtype"])
    q = (_sc(p, "sx"), p["zx"], _sc(p, "sy"), p["zy"], p["dtype"])
    if op == "avg_pool":
        return oq.ort_avg_pool(_arr(ins["x"]), *q, **p.get("attrs", {}))
    if op == "global_avg_pool":
        return oq.ort_global_avg_pool(_arr(ins["x"]), *q)
    return act.ort_qlinear(op, _arr(ins["x"]), *q, **p.get("attrs", {}))


def _litert(op, variant, p, ins):
    from refquant.peers import activations as act
    from refquant.peers import litert
    fams = [LITERT_FAMILY[r] for r in sorted(backends.BACKENDS) if r in LITERT_FAMILY
            and backends.get_backend(r).ops.get(op) == variant]
    if not fams:
        return None
    if op in UNARY_LITERT:
        x = _arr(ins["x"]).reshape(1, -1)
        out, _ = act.litert_unary(op, x, _sc(p, "sx"), p["zx"], _sc(p, "sy"), p["zy"], p["dtype"], fams[0],
                                  **p.get("attrs", {}))
        return np.asarray(out).reshape(-1)
    if op not in ("add", "sub", "mul"):
        return None                      # the TFLite pools: not replayed here (refquant verify litert runs them)
    a, b = _arr(ins["a"]), _arr(ins["b"])
    m = litert.Model()
    at = m.tensor("a", a.shape, p["dtype"], scale=_sc(p, "sa"), zero_point=p["za"])
    bt = m.tensor("b", b.shape, p["dtype"], scale=_sc(p, "sb"), zero_point=p["zb"])
    yt = m.tensor("y", a.shape, p["dtype"], scale=_sc(p, "sy"), zero_point=p["zy"])
    m.op(op.upper(), [at, bt], [yt], **({"pot_scale_int16": False} if op != "mul" else {}))
    return litert.run(m.build([at, bt], [yt]), {"a": a, "b": b}, fams[0]).outputs["y"]


def _tosa(op, variant, p, ins):
    from refquant import tosa_tables
    from refquant.peers import tosa_ops as M
    m = M.Model()
    if op in ("add", "sub", "mul"):
        status, out = M.chain(m, op.upper(), _arr(ins["a"]), _scale_param(p["sa"]), p["za"], _arr(ins["b"]),
                              _scale_param(p["sb"]), p["zb"], _scale_param(p["sy"]), p["zy"], p["dtype"],
                              {"tosa_single": "SINGLE_ROUND", "tosa_double": "DOUBLE_ROUND"}[variant])
    elif op in ("sigmoid", "tanh"):
        tab = tosa_tables.table_int8(op, _scale_param(p["sx"]), p["zx"], _scale_param(p["sy"]), p["zy"])
        status, out = M.table(m, _arr(ins["x"]), tab, "int8")
    elif op in ("sigmoid_int16", "tanh_int16"):
        tab = tosa_tables.table_int16(op[:-6], _scale_param(p["sx"]))
        status, raw = M.table(m, _arr(ins["x"]), tab, "int16")
        status, out = M.rescale(m, [int(v) for v in raw], tosa_tables.RESCALE_128, "int32", "int16")
    elif op in ("tosa_avg_pool2d", "tosa_max_pool2d"):
        a = p["attrs"]
        status, out = M.pool(m, "AVG_POOL2D" if op == "tosa_avg_pool2d" else "MAX_POOL2D", _arr(ins["x"]),
                             a["kernel"], a["stride"], a["pad"], a["in_type"], a.get("input_zp", 0),
                             a.get("output_zp", 0))
    else:
        return None
    assert status == "VALID"
    return out


PEERS = {"ort": ("onnxruntime", _ort), "ort_qlinear": ("onnxruntime", _ort)}


def _runner(variant):
    if variant in PEERS:
        return PEERS[variant]
    if variant.startswith(("tflite", "xnnpack")):
        return "ai_edge_litert", None
    if variant.startswith("tosa"):
        return "tosa_serializer", None
    return None, None


def _replay(select):
    checked, elements, bad = 0, 0, []
    for op, variant, t, ins, want in _groups():
        if not select(op, variant):
            continue
        module, fn = _runner(variant)
        if module is None:
            continue
        pytest.importorskip(module, reason=f"{module} not installed")
        if variant.startswith(("tflite", "xnnpack")):
            got = _litert(op, variant, t["params"], ins)
        elif variant.startswith("tosa"):
            got = _tosa(op, variant, t["params"], ins)
        else:
            got = fn(op, t["params"], ins)
        if got is None:
            continue
        got = np.asarray(got).reshape(-1).astype(np.int64).tolist()
        assert len(got) == len(want.values), (t["name"], len(got), len(want.values))
        checked, elements = checked + 1, elements + len(got)
        bad += [(t["name"], i, w, g) for i, (w, g) in enumerate(zip(want.values, got)) if w != g]
    return checked, elements, bad


@pytest.mark.parametrize("pick", [("add", "ort"), ("sigmoid", "tflite_lut"), ("sub", "tosa_double")])
def test_one_group_per_peer(pick):
    checked, elements, bad = _replay(lambda op, v: (op, v) == pick)
    assert checked >= 1 and bad == []


@pytest.mark.slow
def test_every_peer_group_replays():
    checked, elements, bad = _replay(lambda op, v: True)
    print(f"golden ops on the peers: {checked} tests, {elements} elements, {len(bad)} mismatches")
    assert bad == [], bad[:5]
    assert checked >= 40, (checked, elements)
