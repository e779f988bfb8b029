"""The built-in rows both ONNX peers run: QuantizeLinear (integer, per axis, fp8 saturate = 1 / 0),
MatMulInteger, QLinearMatMul (random, per column, saturating, near ties) and the QLinearConv
near-tie row; each judged against the ONNX spec result of the oracle."""

import numpy as np

from .. import quantize as qz
from .cases import (
    FP8_X,
    QUANT_X,
    conv_tie_case,
    f32,
    mm_case,
    near_tie_case,
    oracle_acc,
    oracle_qlinear,
    tie_inputs,
)
from .conformance import judge
from .onnx_common import as_bits, elem_types, fp8_bits_from_f32, tensor, value


def onnx_backend_rows(peer):
    """Rows shared by onnxruntime and the onnx reference evaluator (``peer``: an OnnxPeer)."""
    return [*_quantize_rows(peer), _quantize_axis_row(peer), *_fp8_rows(peer), *_matmul_integer_rows(peer),
            *_qlinear_matmul_rows(peer)]


def _run(peer, node, out_elem, shape, inits):
    try:
        return as_bits(peer.run(node, [], [value(peer.onnx, "y", out_elem, shape)], inits))
    except Exception as exc:  # noqa: BLE001 - a backend without the kernel
        return exc


def _quantize_rows(peer):
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    rows = []
    for dtype, scale, zp in (("int8", 0.5, 0), ("uint8", 0.5, 128), ("int16", 0.25, -7), ("int8", f32(0.1), 3)):
        x = np.concatenate([QUANT_X, tie_inputs(scale)])
        spec = np.asarray(qz.quantize(x, scale, zp, dtype, "onnx"), dtype=np.int64)
        node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
        inits = [tensor(onnx, "x", x), tensor(onnx, "s", np.float32(scale)), h.make_tensor("z", ELEM[dtype], [], [zp])]
        got = _run(peer, node, ELEM[dtype], x.shape, inits)
        rows.append(judge(peer.name, "QuantizeLinear", "onnx spec",
                          f"fp32 -> {dtype}, scale {np.float32(scale)!s}, zp {zp}", got, spec, x=x))
    return rows


def _quantize_axis_row(peer):
    onnx = peer.onnx
    x = np.arange(-24, 24, dtype=np.float32).reshape(4, 12) * np.float32(0.37)
    scales, zps = np.array([0.1, 0.25, 0.3, 0.7], np.float32), np.array([0, 5, -5, 100], np.int8)
    x = np.concatenate([x, tie_inputs(0.1, 48).reshape(4, 12)], 1)
    spec = np.asarray(qz.quantize(x, [float(s) for s in scales], zps.tolist(), "int8", "onnx", axis=0), dtype=np.int64)
    node = onnx.helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=0)
    got = _run(peer, node, onnx.TensorProto.INT8, x.shape,
               [tensor(onnx, "x", x), tensor(onnx, "s", scales), tensor(onnx, "z", zps)])
    return judge(peer.name, "QuantizeLinear", "onnx spec", "fp32 -> int8, per-axis 0", got, spec)


def _fp8_rows(peer):
    """QuantizeLinear to fp8, saturate = 1 / 0."""
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    rows = []
    for fmt in ("fp8_e4m3fn", "fp8_e5m2"):
        for sat in (1, 0):
            spec = np.asarray(qz.quantize(FP8_X, 1.0, None, fmt, "onnx", saturate=bool(sat)), dtype=np.int64)
            node = h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], saturate=sat)
            inits = [tensor(onnx, "x", FP8_X), tensor(onnx, "s", np.float32(1.0)), h.make_tensor("z", ELEM[fmt], [], [0])]
            try:
                try:
                    got = as_bits(peer.run(node, [], [value(onnx, "y", ELEM[fmt], FP8_X.shape)], inits))
                except Exception:  # noqa: BLE001 - no numpy type for this fp8 output: read it through
                    # an exact DequantizeLinear (every fp8 value is a binary32 value) and re-encode the bits
                    deq = h.make_node("DequantizeLinear", ["y", "s1"], ["f"])
                    f = peer.run([node, deq], [], [value(onnx, "f", onnx.TensorProto.FLOAT, FP8_X.shape)],
                                 inits + [tensor(onnx, "s1", np.float32(1.0))])
                    got = fp8_bits_from_f32(fmt, np.asarray(f, np.float32))
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge(peer.name, "QuantizeLinear", "onnx spec", f"fp32 -> {fmt}, saturate={sat}", got, spec,
                              peer.fp8_models(fmt, sat, spec), x=FP8_X))
    return rows


def _matmul_integer_rows(peer):
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    rows = []
    for a_type, b_type in (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8"), ("int8", "uint8")):
        c = mm_case(a_type, b_type, f"mmi-{a_type}-{b_type}")
        spec = oracle_acc(c)
        node = h.make_node("MatMulInteger", ["a", "b", "za", "zb"], ["y"])
        inits = [tensor(onnx, "a", c["a"]), tensor(onnx, "b", c["b"]), h.make_tensor("za", ELEM[a_type], [], [c["za"]]),
                 h.make_tensor("zb", ELEM[b_type], [], [int(c["zb"])])]
        got = _run(peer, node, onnx.TensorProto.INT32, spec.shape, inits)
        rows.append(judge(peer.name, "MatMulInteger", "onnx spec (exact int32)", f"{a_type}x{b_type}", got, spec))
    return rows


def _qlinear_cases():
    cases = []
    for a_type, b_type in (("uint8", "uint8"), ("uint8", "int8"), ("int8", "int8")):
        for per_col in (False, True):
            cases.append((f"{a_type}x{b_type}, {'per-column' if per_col else 'per-tensor'}",
                          mm_case(a_type, b_type, f"qlmm-{a_type}-{b_type}-{per_col}", per_column=per_col)))
    sat = mm_case("int8", "int8", "qlmm-saturating", M=6, K=64, N=6)
    sat["sy"] = f32(sat["sa"] * float(sat["sb"]) * 8)    # most outputs saturate
    cases.append(("int8xint8, saturating outputs", sat))
    cases.append(("uint8xint8, near-tie accumulators (K=1)", near_tie_case()))
    return cases


def _qlinear_matmul_rows(peer):
    """QLinearMatMul: random, per column, saturating, near ties."""
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    rows = []
    for flag, c in _qlinear_cases():
        spec = oracle_qlinear(c, "exact")
        zb = c["zb"]
        node = h.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
        inits = [tensor(onnx, "a", c["a"]), tensor(onnx, "sa", np.float32(c["sa"])),
                 h.make_tensor("za", ELEM[c["a_type"]], [], [c["za"]]), tensor(onnx, "b", c["b"]),
                 tensor(onnx, "sb", np.asarray(c["sb"], np.float32)),
                 h.make_tensor("zb", ELEM[c["b_type"]], list(np.shape(zb)), np.asarray(zb).reshape(-1).tolist()),
                 tensor(onnx, "sy", np.float32(c["sy"])), h.make_tensor("zy", ELEM[c["a_type"]], [], [c["zy"]])]
        got = _run(peer, node, ELEM[c["a_type"]], spec.shape, inits)
        rows.append(judge(peer.name, "QLinearMatMul", "onnx spec (exact)", flag, got, spec, peer.qlinear_models(c)))
    return rows


def conv_tie_row(peer):
    """QLinearConv on conv_tie_case: the peer's conv requantization (``peer.conv_tie``) on near ties."""
    from ..audit import core
    onnx = peer.onnx
    method, deviation = peer.conv_tie
    spec_d = conv_tie_case()
    exp = {m: core.expected(core.make_case(dict(spec_d, method=m)))[0] for m in ("exact", method)}
    h, T = onnx.helper, onnx.TensorProto
    node = h.make_node("QLinearConv", ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["y"], kernel_shape=[1, 1])
    inits = [tensor(onnx, "x", spec_d["x"]), tensor(onnx, "sx", np.float32(spec_d["x_scale"])),
             h.make_tensor("zx", T.UINT8, [], [spec_d["x_zero_point"]]), tensor(onnx, "w", spec_d["w"]),
             tensor(onnx, "sw", np.float32(spec_d["w_scale"])), h.make_tensor("zw", T.INT8, [], [spec_d["w_zero_point"]]),
             tensor(onnx, "sy", np.float32(spec_d["y_scale"])), h.make_tensor("zy", T.UINT8, [], [spec_d["y_zero_point"]])]
    got = _run(peer, node, T.UINT8, exp["exact"].shape, inits)
    return judge(peer.name, "QLinearConv", "onnx spec (exact)", "u8xs8 1x1, near-tie accumulators (C=1)", got,
                 exp["exact"], [peer.known(deviation, exp[method])])
