"""A case as files: the audit case format (docs/audit.md §1: case.json beside $readmemh tensors
a.hex, b.hex), which is also what an external device command reads, and what a shrunk reproducer
is written as (with expected.hex and actual.hex, so ``refquant audit case.json --actual actual.hex``
explains it and the case can be kept as an audit or golden vector).
"""

import json
import os

import numpy as np

from ..golden.tensors import format_tensor, short_dtype
from . import conv, quant


def _tensor(path, name, dtype, arr):
    arr = np.asarray(arr)
    with open(path, "w", encoding="utf-8") as f:
        f.write(format_tensor(name, short_dtype(dtype), list(arr.shape), [int(v) for v in arr.reshape(-1)]))


def case_json(case):
    """The audit-format dict of a case (tensors named a.hex / b.hex)."""
    M, K = case["a"].shape
    N = case["b"].shape[1]
    d = {"op": case["op"], "name": f"campaign seed {case['seed']} task {case['task']}",
         "a": {"file": "a.hex", "dtype": case["a_type"], "shape": [M, K]},
         "b": {"file": "b.hex", "dtype": case["b_type"], "shape": [K, N]},
         "a_type": case["a_type"], "b_type": case["b_type"], "a_zero_point": int(case["za"]),
         "b_zero_point": (np.asarray(case["zb"]).astype(int).tolist() if case["per_column"] else int(case["zb"])),
         "policy": case["policy"]}
    if case["op"] == "qlinear_matmul":
        d.update(y_type=case["y_type"], y_zero_point=int(case["zy"]), method=case["method"],
                 a_scale=float(case["sa"]), y_scale=float(case["sy"]),
                 b_scale=([float(v) for v in case["sb"]] if case["per_column"] else float(case["sb"])))
        try:
            ka = case["params"].kernel_args()
        except Exception:  # noqa: BLE001  (a method the C kernel does not run: no explicit parameters)
            ka = None
        if ka:
            d["kernel_params"] = [dict(zip(ka, vals)) for vals in zip(*ka.values())]
    return d


def write_case(case, directory, actual=None, expected=None):
    """Write case.json, a.hex, b.hex or x.hex (and actual.hex / expected.hex when given) into ``directory``."""
    os.makedirs(directory, exist_ok=True)
    if case["op"] == "quantize_linear":
        _tensor(os.path.join(directory, "x.hex"), "x", "f32", np.ascontiguousarray(case["x"]).view(np.uint32))
    elif case["op"] == "qlinear_conv":
        _tensor(os.path.join(directory, "x.hex"), "x", case["a_type"], case["x"])
        _tensor(os.path.join(directory, "w.hex"), "w", case["b_type"], case["w"])
    else:
        _tensor(os.path.join(directory, "a.hex"), "a", case["a_type"], case["a"])
        _tensor(os.path.join(directory, "b.hex"), "b", case["b_type"], case["b"])
    out_type = "int32" if case["op"] == "matmul_integer" else case["y_type"]
    for name, arr in (("actual", actual), ("expected", expected)):
        if arr is not None:
            _tensor(os.path.join(directory, f"{name}.hex"), "y", out_type, arr)
    with open(os.path.join(directory, "case.json"), "w", encoding="utf-8") as f:
        d = (quant.case_json(case) if case["op"] == "quantize_linear" else
             conv.audit_dict(case, files=True) if case["op"] == "qlinear_conv" else case_json(case))
        json.dump(d, f, indent=1)
        f.write("\n")
