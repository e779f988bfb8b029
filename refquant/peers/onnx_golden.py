"""QuantizeLinear / QLinearMatMul / QLinearConv rows of both ONNX peers from the golden vectors:
each test the peer can express (opset 21) is run and judged against the spec profile's result,
or recognised as the peer's own profile / method (a named deviation in the backend table)."""

import numpy as np

from .cases import hexf
from .conformance import DIFFER, golden_pairs, golden_y, judge_golden
from .onnx_common import (
    as_bits,
    elem_types,
    fp8_bits_from_f32,
    fp8_nan,
    scale_in,
    tensor,
    value,
    x_elem_types,
)

GOLDEN_Q_TARGETS = ("int8", "uint8", "int16", "int4", "uint4", "fp8_e4m3fn", "fp8_e5m2")


def onnx_golden_rows(peer):
    """The golden rows of ``peer`` (an OnnxPeer)."""
    return [*_quantize_rows(peer), *_qlinear_matmul_rows(peer), *_qlinear_conv_rows(peer)]


def _raw(onnx, nm, elem, arr, shape):
    arr = np.asarray(arr)
    T = onnx.TensorProto
    if elem in (T.INT4, T.UINT4):
        return onnx.helper.make_tensor(nm, elem, list(shape), arr.reshape(-1).astype(np.int64).tolist())
    return onnx.helper.make_tensor(nm, elem, list(shape), arr.tobytes(), raw=True)


def _read(peer, node, out_name, elem, shape, inits, fmt):
    onnx = peer.onnx
    try:
        y = peer.run(node, [], [value(onnx, out_name, elem, shape)], inits)
        if fmt in ("int4", "uint4"):
            return np.asarray(y).astype(np.int64)      # ml_dtypes int4: values, not bit patterns
        return as_bits(y)
    except Exception:  # noqa: BLE001 - no numpy type for this output: read it through DequantizeLinear
        deq = onnx.helper.make_node("DequantizeLinear", [out_name, "one"], ["f"])
        f = np.asarray(peer.run([node, deq], [], [value(onnx, "f", onnx.TensorProto.FLOAT, shape)],
                                inits + [tensor(onnx, "one", np.float32(1.0))]), np.float32)
        return fp8_bits_from_f32(fmt, f) if fmt.startswith("fp8") else f.astype(np.int64)


def _quantize_ok(peer):
    def ok(c):
        p = c.params
        if p["dtype"] not in GOLDEN_Q_TARGETS or p.get("x_format", "fp32") not in peer.x_formats \
                or p.get("scale_format", "fp32") != "fp32":
            return False
        # opset 21 binds the scale to x's type: only scales exact in it
        return scale_in(p.get("x_format", "fp32"), np.asarray(c.inputs["scale"], np.float32)) is not None
    return ok


def _quantize_node(peer, c):
    """The QuantizeLinear node and initializers of golden quantize case ``c``."""
    onnx, ELEM = peer.onnx, elem_types(peer.onnx)
    p = c.params
    x, sc = c.inputs["x"], np.asarray(c.inputs["scale"], np.float32)
    dtype = p["dtype"]
    attrs = {}
    if p.get("axis") is not None:
        attrs["axis"] = p["axis"]
    if p.get("block_size"):
        attrs["block_size"] = p["block_size"]
    if dtype.startswith("fp8"):
        attrs["saturate"] = int(p.get("saturate", True))
    ins = ["x", "s"]
    xf = p.get("x_format", "fp32")
    sc_x = scale_in(xf, sc)
    sshape = sc.shape if sc.size > 1 or p.get("axis") is not None else ()
    XELEM = x_elem_types(onnx)
    inits = [_raw(onnx, "x", XELEM[xf], x, x.shape), _raw(onnx, "s", XELEM[xf], sc_x.reshape(sshape), sshape)]
    zp = c.inputs.get("zero_point")
    if zp is not None:
        ins.append("z")
        inits.append(_raw(onnx, "z", ELEM[dtype], np.asarray(zp).reshape(sshape), sshape))
    else:
        attrs["output_dtype"] = ELEM[dtype]
    return onnx.helper.make_node("QuantizeLinear", ins, ["y"], **attrs), inits


def _quantize_rows(peer):
    rows = []
    ELEM = elem_types(peer.onnx)
    for _n, c, spec_c in golden_pairs("quantize", peer.q_profile, "onnx", _quantize_ok(peer)):
        dtype = c.params["dtype"]
        node, inits = _quantize_node(peer, c)
        try:
            got = _read(peer, node, "y", ELEM[dtype], c.inputs["x"].shape, inits, dtype)
            if dtype.startswith("fp8"):
                # the fp8 output is read through DequantizeLinear: a NaN's payload is not observable,
                # so a NaN code counts as the NaN code the golden vector expects
                want = golden_y(c)
                if want is not None:
                    both = fp8_nan(dtype, got) & fp8_nan(dtype, want)
                    got = np.where(both, want, got)
        except Exception as exc:  # noqa: BLE001
            got = exc
        name = f"refquant profile '{peer.q_profile}'"
        r = judge_golden(peer.name, "QuantizeLinear", c, spec_c, got, name, peer.text(name))
        if r.status == DIFFER:
            r = peer.golden_quantize_row(r, c, spec_c, got)
        rows.append(r)
    return rows


def _matmul_ok(c):
    p = c.params
    return ("bias" not in c.inputs and p.get("qmin") is None and p.get("policy", "wrap") == "wrap"
            and p["y_type"] == p["a_type"] and c.result == "valid")


def _qlinear_matmul_rows(peer):
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    name = f"refquant method '{peer.mm_method}'"
    rows = []
    for _n, c, spec_c in golden_pairs("qlinear_matmul", peer.mm_method, "exact", _matmul_ok):
        p = c.params
        a, b = c.inputs["A"], c.inputs["B"]
        zb, sb = p["zb"], p["sb"]
        sbv = np.array([hexf(v) for v in sb], np.float32) if isinstance(sb, list) else np.float32(hexf(sb))
        node = h.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"])
        inits = [tensor(onnx, "a", a), tensor(onnx, "sa", np.float32(hexf(p["sa"]))),
                 h.make_tensor("za", ELEM[p["a_type"]], [], [p["za"]]), tensor(onnx, "b", b), tensor(onnx, "sb", sbv),
                 h.make_tensor("zb", ELEM[p["b_type"]], list(np.shape(zb)), np.asarray(zb).reshape(-1).tolist()),
                 tensor(onnx, "sy", np.float32(hexf(p["sy"]))), h.make_tensor("zy", ELEM[p["y_type"]], [], [p["zy"]])]
        shape = (a.shape[0], b.shape[1])
        try:
            got = as_bits(peer.run(node, [], [value(onnx, "y", ELEM[p["y_type"]], shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge_golden(peer.name, "QLinearMatMul", c, spec_c, got, name,
                                 peer.text(name, "qlinear_matmul")))
    return rows


def _conv_ok(c):
    return c.params.get("qmin") is None and c.params.get("policy", "wrap") == "wrap" and c.result == "valid"


def _qlinear_conv_rows(peer):
    onnx, h, ELEM = peer.onnx, peer.onnx.helper, elem_types(peer.onnx)
    name = f"refquant method '{peer.conv_method}'"
    rows = []
    for _n, c, spec_c in golden_pairs("qlinear_conv", peer.conv_method, "exact", _conv_ok):
        p = c.params
        x, w = c.inputs["x"], c.inputs["w"]
        sw, zw = p["sw"], p["zw"]
        swv = np.array([hexf(v) for v in sw], np.float32) if isinstance(sw, list) else np.float32(hexf(sw))
        ins = ["x", "sx", "zx", "w", "sw", "zw", "sy", "zy"] + (["B"] if "bias" in c.inputs else [])
        node = h.make_node("QLinearConv", ins, ["y"], strides=p["strides"], pads=p["pads"], dilations=p["dilations"],
                           group=p["group"], kernel_shape=list(w.shape[2:]))
        inits = [tensor(onnx, "x", x), tensor(onnx, "sx", np.float32(hexf(p["sx"]))),
                 h.make_tensor("zx", ELEM[p["x_type"]], [], [p["zx"]]), tensor(onnx, "w", w), tensor(onnx, "sw", swv),
                 h.make_tensor("zw", ELEM[p["w_type"]], list(np.shape(zw)), np.asarray(zw).reshape(-1).tolist()),
                 tensor(onnx, "sy", np.float32(hexf(p["sy"]))), h.make_tensor("zy", ELEM[p["y_type"]], [], [p["zy"]])]
        if "bias" in c.inputs:
            inits.append(tensor(onnx, "B", np.asarray(c.inputs["bias"], np.int32)))
        shape = golden_y(c).shape
        try:
            got = as_bits(peer.run(node, [], [value(onnx, "y", ELEM[p["y_type"]], shape)], inits))
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge_golden(peer.name, "QLinearConv", c, spec_c, got, name, peer.text(name, "qlinear_conv")))
    return rows
