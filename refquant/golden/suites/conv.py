"""The conv suite: QLinearConv (NCHW) cases."""

from fractions import Fraction

from ... import formats, ops
from ... import requant as rq
from ..compute import Tensor, _flatten, _nest
from ._common import _case, _f32, _fhex, _rand_matrix


CONV_METHODS = ["exact", "ort", "onnx_ref_conv", "tflite_double", "tflite_single", "tosa_single", "tosa_double",
                "int32"]


def build_conv(rng):
    geoms = [
        ("basic_3x3", "3x3 kernel, no padding", [], dict(C=2, H=5, W=5, M=3, k=3, strides=[1, 1], pads=[0, 0, 0, 0],
                                                          dil=[1, 1], group=1)),
        ("pad_by_zp", "padding 1 on every side, filled with the input zero point", ["padding"],
         dict(C=2, H=4, W=5, M=2, k=3, strides=[1, 1], pads=[1, 1, 1, 1], dil=[1, 1], group=1)),
        ("asym_pad_stride2", "asymmetric padding and stride 2", ["padding", "stride"],
         dict(C=3, H=7, W=6, M=2, k=3, strides=[2, 2], pads=[0, 1, 2, 1], dil=[1, 1], group=1)),
        ("dilation2", "dilation 2", ["dilation"], dict(C=2, H=7, W=7, M=2, k=3, strides=[1, 1],
                                                       pads=[1, 1, 1, 1], dil=[2, 2], group=1)),
        ("groups2", "2 groups", ["groups"], dict(C=4, H=5, W=5, M=4, k=3, strides=[1, 1], pads=[1, 1, 1, 1],
                                                 dil=[1, 1], group=2)),
        ("depthwise", "depthwise (group = C), stride 2", ["groups", "stride", "padding"],
         dict(C=3, H=6, W=6, M=3, k=3, strides=[2, 2], pads=[1, 1, 1, 1], dil=[1, 1], group=3)),
        ("pointwise_per_channel", "1x1 kernel, per-channel weights, bias", ["per_channel", "bias"],
         dict(C=8, H=3, W=3, M=5, k=1, strides=[1, 1], pads=[0, 0, 0, 0], dil=[1, 1], group=1, pc=True, bias=True)),
    ]
    specs = []
    for name, comment, flags, g in geoms:
        x = _rand_matrix(rng, 1, g["C"] * g["H"] * g["W"], "uint8")
        cg = g["C"] // g["group"]
        w = _rand_matrix(rng, 1, g["M"] * cg * g["k"] * g["k"], "int8", -100, 100)
        zx = rng.randint(100, 160)
        pc = g.get("pc", False)
        zw = [rng.randint(-3, 3) for _ in range(g["M"])] if pc else 0
        sx = _f32(Fraction(rng.randint(1, 1 << 16), 1 << 22))
        sws = [_f32(Fraction(rng.randint(1, 1 << 16), 1 << 24)) for _ in range(g["M"] if pc else 1)]
        bias = [rng.randint(-3000, 3000) for _ in range(g["M"])] if g.get("bias") else None
        accs = _flatten(ops.conv_integer(_nest(x, (1, g["C"], g["H"], g["W"])), _nest(w, (g["M"], cg, g["k"], g["k"])),
                                         zx, zw, x_type="uint8", w_type="int8", strides=g["strides"], pads=g["pads"],
                                         dilations=g["dil"], group=g["group"], bias=bias))
        peak = max([abs(a) for a in accs] + [1])
        sy = _f32(Fraction(peak) * formats.decode("fp32", sx).value * formats.decode("fp32", sws[0]).value / 120)
        specs.append((name, comment, flags + (["per_channel"] if pc and "per_channel" not in flags else []),
                      dict(x=x, w=w, zx=zx, zw=zw, sx=sx, sw=sws if pc else sws[0], sy=sy, bias=bias, g=g, cg=cg)))
    groups = []
    for method in CONV_METHODS:
        cases = []
        for name, comment, flags, s in specs:
            g = s["g"]
            zy = 0 if method == "int32" else 128
            p = {"method": method, "x_type": "uint8", "w_type": "int8", "y_type": "int32" if method == "int32" else "uint8",
                 "zx": s["zx"], "zw": s["zw"], "zy": zy, "strides": g["strides"], "pads": g["pads"],
                 "dilations": g["dil"], "group": g["group"], "policy": "wrap",
                 "sx": _fhex(s["sx"]), "sw": [_fhex(b) for b in s["sw"]] if isinstance(s["sw"], list) else _fhex(s["sw"]),
                 "sy": _fhex(s["sy"])}
            inputs = {"x": Tensor("u8", (1, g["C"], g["H"], g["W"]), s["x"], "NCHW"),
                      "w": Tensor("i8", (g["M"], s["cg"], g["k"], g["k"]), s["w"], "OIHW")}
            if s["bias"] is not None:
                inputs["bias"] = Tensor("i32", (g["M"],), s["bias"])
            cases.append(_case(name, comment, p, inputs, flags))
        groups.append({"op": "qlinear_conv", "profile": method, "params": {"method": method},
                       "comment": rq.METHODS[method].reproduces, "cases": cases})
    return groups
