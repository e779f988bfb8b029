"""The C kernel as a peer: every requantization method and dispatch path against the oracle,
and the accumulator overflow policies (refquant/kernel, docs/kernel.md)."""

import numpy as np

from .. import ops
from .. import requant as rq
from ..errors import RefquantError
from .cases import mm_case, oracle_acc
from .conformance import judge
from .versions import MissingBackend

KERNEL_METHODS = ("int32", "float_fp32", "tflite_double", "tflite_single", "tosa_single", "tosa_double")


def backend_kernel():
    from .. import kernel
    if not kernel.available():
        raise MissingBackend("refquant's C kernel is not built: pip install -e . (or python refquant/kernel/_build.py)")
    rows = []
    paths = kernel.paths()
    for a_type, b_type in (("uint8", "int8"), ("int8", "int8"), ("uint8", "uint8")):
        for per_col in (False, True):
            c = mm_case(a_type, b_type, f"kernel-{a_type}-{b_type}-{per_col}", M=33, K=70, N=37, per_column=per_col)
            acc = oracle_acc(c)
            for method in KERNEL_METHODS:
                spec, kp = _spec_and_kernel_params(c, acc, method, per_col, a_type)
                for path in paths:
                    flag = f"{a_type}x{b_type}, {'per-column' if per_col else 'per-tensor'}, path={path}"
                    got = _run_kernel(kernel, c, method, kp, per_col, a_type, path)
                    rows.append(judge("kernel", "qlinear_matmul" if method != "int32" else "matmul_integer",
                                      method, flag, got, spec))
    return rows + _overflow_rows(kernel, paths)


def _spec_and_kernel_params(c, acc, method, per_col, y_type):
    """The oracle's result of ``method`` on case ``c`` and the kernel's requantization parameters."""
    if method == "int32":
        return acc, None
    sb = [float(v) for v in c["sb"]] if per_col else float(c["sb"])
    params = rq.derive_params(method, c["sa"], sb, c["sy"])
    spec = np.array(rq.requantize(acc.tolist(), method, params, c["zy"], y_type), dtype=np.int64)
    ka = params.kernel_args()
    kp = (np.array(ka["M_bits"], np.uint32) if method == "float_fp32" else
          (np.array(ka["m"]), np.array(ka["shift" if "shift" in ka else "s"])))
    if not per_col and method == "float_fp32":
        kp = np.uint32(ka["M_bits"][0])
    elif not per_col:
        kp = (int(kp[0][0]), int(kp[1][0]))
    return spec, kp


def _run_kernel(kernel, c, method, kp, per_col, y_type, path):
    out_dt = np.uint8 if y_type == "uint8" else np.int8
    try:
        zb = c["zb"].astype(np.int32) if per_col else int(c["zb"])
        if method == "int32":
            got = kernel.matmul_integer(c["a"], c["b"], c["za"], zb, path=path)
        else:
            got = kernel.qlinear_matmul(c["a"], c["b"], c["za"], zb, method, kp, c["zy"], out_dtype=out_dt, path=path)
        return got.astype(np.int64)
    except RefquantError as exc:
        return exc


def _overflow_rows(kernel, paths):
    """Accumulator overflow under both policies (K large, extreme operands)."""
    rows = []
    K = 140_000
    a = np.full((2, K), -128, np.int8)
    a[1, ::3] = 127
    b = np.full((K, 2), -128, np.int8)
    b[::5, 1] = 127
    for policy in ("wrap", "saturate"):
        acc_o = ops.Accumulator(32, policy)
        spec = np.array(ops.matmul_integer(a.tolist(), b.tolist(), 0, 0, "int8", "int8", acc_o), dtype=np.int64)
        for path in paths:
            try:
                got = kernel.matmul_integer(a, b, 0, 0, policy=policy, path=path).astype(np.int64)
            except RefquantError as exc:
                got = exc
            rows.append(judge("kernel", "matmul_integer", f"int32 {policy}", f"K={K} overflow, path={path}", got, spec))
    return rows


def kernel_lines(rows):
    """Which dispatch paths this CPU has, and why the kernel row count depends on it."""
    from .. import kernel
    paths = kernel.paths()
    n = len([r for r in rows if r.backend == "kernel"])
    per = n // len(paths) if paths else 0
    found = ", ".join(paths) or "none"
    return [(f"kernel: {per} checks x {len(paths)} dispatch paths on this CPU ({found}) = {n} rows; "
             f"scalar runs everywhere, avx2 needs AVX2, avx_vnni also AVX-VNNI, vnni needs AVX-512 F/BW/DQ/VL + "
             f"AVX512_VNNI, amx also AMX-TILE + AMX-INT8 with OS permission ({per} rows per path)")]
