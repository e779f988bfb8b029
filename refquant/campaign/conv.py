"""The qlinear_conv op of a campaign (ONNX QLinearConv, 2-D, NCHW): drawing its cases, its expected
outputs and its audit case form.

Regime keys (inclusive ranges): ``batch``, ``channels`` (input channels per group), ``n`` (output
channels per group), ``size`` (H and W), ``kernel`` (kH and kW), ``stride``, ``pad``, ``dilation``,
and ``group`` (a list of group counts).  The case holds x (N, C, H, W), w (M, C/group, kH, kW), the
GEMM case's zero points and binary32 scales (the weight's per output channel when ``per_column``)
and the geometry.  Expected outputs: the audit's (refquant/audit): im2col and the C kernel or the
oracle for the accumulators, confirmed by the oracle on a sample, then the method's requantization.
"""

import numpy as np

from ..audit.case import make_case
from ..audit.expectation import expected as audit_expected


def _draw(g, lo_hi):
    lo, hi = lo_hi
    return int(g.integers(lo, hi + 1))


def geometry(g, r):
    """(N, C, H, W, M, Cg, kH, kW, strides, pads, dilations, group) drawn from regime ``r``; the
    kernel is shrunk until the output has at least one pixel."""
    group = int(r["group"][int(g.integers(len(r["group"])))])
    N, Cg, Mg = _draw(g, r["batch"]), _draw(g, r["channels"]), _draw(g, r["n"])
    H, W = _draw(g, r["size"]), _draw(g, r["size"])
    kH, kW = _draw(g, r["kernel"]), _draw(g, r["kernel"])
    strides = [_draw(g, r["stride"]), _draw(g, r["stride"])]
    pads = [_draw(g, r["pad"]) for _ in range(4)]
    dil = [_draw(g, r["dilation"]), _draw(g, r["dilation"])]
    while H + pads[0] + pads[2] - dil[0] * (kH - 1) - 1 < 0:
        kH, dil[0] = (kH - 1, dil[0]) if kH > 1 else (1, 1)
    while W + pads[1] + pads[3] - dil[1] * (kW - 1) - 1 < 0:
        kW, dil[1] = (kW - 1, dil[1]) if kW > 1 else (1, 1)
    return dict(N=N, C=Cg * group, H=H, W=W, M=Mg * group, Cg=Cg, kH=kH, kW=kW, strides=strides, pads=pads,
                dilations=dil, group=group)


def out_hw(case):
    g = case["geometry"]
    (sh, sw), (p0, p1, p2, p3), (dh, dw) = g["strides"], g["pads"], g["dilations"]
    H, W = case["x"].shape[2], case["x"].shape[3]
    kH, kW = case["w"].shape[2], case["w"].shape[3]
    return (H + p0 + p2 - dh * (kH - 1) - 1) // sh + 1, (W + p1 + p3 - dw * (kW - 1) - 1) // sw + 1


def audit_dict(case, files=False):
    """The audit case of a conv case (tensors inline, or named x.hex / w.hex for files)."""
    g = case["geometry"]
    per = case["per_column"]
    d = {"op": "qlinear_conv", "name": f"campaign seed {case['seed']} task {case['task']}",
         "x_type": case["a_type"], "w_type": case["b_type"], "y_type": case["y_type"],
         "x_zero_point": int(case["za"]), "y_zero_point": int(case["zy"]),
         "w_zero_point": [int(v) for v in np.asarray(case["zb"])] if per else int(case["zb"]),
         "x_scale": float(case["sa"]), "y_scale": float(case["sy"]),
         "w_scale": [float(v) for v in np.asarray(case["sb"])] if per else float(case["sb"]),
         "strides": list(g["strides"]), "pads": list(g["pads"]), "dilations": list(g["dilations"]),
         "group": int(g["group"]), "method": case["method"], "policy": case["policy"]}
    if files:
        d["x"] = {"file": "x.hex", "dtype": case["a_type"], "shape": list(case["x"].shape)}
        d["w"] = {"file": "w.hex", "dtype": case["b_type"], "shape": list(case["w"].shape)}
    else:
        d["x"], d["w"] = case["x"].astype(np.int64).tolist(), case["w"].astype(np.int64).tolist()
    return d


def expected(case):
    """int64 (N, M, OH, OW) through refquant.audit's expected (the C kernel or the oracle, confirmed)."""
    rng = np.random.default_rng([int(case["seed"]), int(case["task"]), 2])
    return audit_expected(make_case(audit_dict(case)), rng=rng)[0].astype(np.int64)


def subcase(case, batch=None, channels=None):
    """The case restricted to images ``batch`` and output channels ``channels`` (whole groups' inputs)."""
    c = dict(case)
    if batch is not None:
        c["x"] = np.ascontiguousarray(case["x"][batch])
    if channels is not None:
        c["w"] = np.ascontiguousarray(case["w"][channels])
        if case["per_column"]:
            c["zb"], c["sb"] = np.asarray(case["zb"])[channels], np.asarray(case["sb"])[channels]
        g = case["geometry"]
        if g["group"] > 1:       # keep one group: its input channels, and the output channels of it
            m = int(np.asarray(channels).reshape(-1)[0])
            grp = m // (case["w"].shape[0] // g["group"])
            c["x"] = np.ascontiguousarray(c["x"][:, grp * g["Cg"]:(grp + 1) * g["Cg"]])
            c["geometry"] = dict(g, group=1, C=g["Cg"])
    return c
