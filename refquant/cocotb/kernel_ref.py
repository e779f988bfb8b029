"""The C kernel as the scoreboard's reference, batched: T queued transactions become one GEMM.

Dot products with different b vectors share no operand, so a batch is computed as the diagonal of
one (T x K) x (K x T) GEMM: row t of A is transaction t's a, column t of B its b, and column t's
zero point, bias and requantization parameters are transaction t's (the kernel takes them per
column). T*T*K multiply-adds for T results: cheap for T <= 256. A requantize transaction is the
bias of a K = 1 GEMM whose operands equal their zero points (acc = bias exactly).
"""

import numpy as np

from .. import backends
from .. import kernel
from ..errors import InvalidValueError

CHUNK = 256


def check_kernel_op(sb):
    """Refuse (InvalidValueError) a scoreboard the C kernel cannot be the reference of."""
    if sb.op == "quantize":
        raise InvalidValueError("reference='kernel': the C kernel has no quantize; use reference='oracle'")
    km = backends.kernel_method(sb.method)
    if km not in ("tflite_single", "tflite_double", "tosa_single", "tosa_double", "float_fp32"):
        raise InvalidValueError(f"reference='kernel': method {sb.method!r} is not one the C kernel runs "
                                "(tflite_single/double, tosa_single/double, the binary32-multiplier methods)")
    if sb.y_type not in ("int8", "uint8") or (sb.op == "dot" and (sb.a_type, sb.b_type) != ("int8", "int8")
                                              and sb.a_type not in ("int8", "uint8")):
        raise InvalidValueError(f"reference='kernel': types {sb.a_type} x {sb.b_type} -> {sb.y_type}; expected "
                                "8-bit operands and an 8-bit output")
    kernel.require()


def _kernel_params(sb, ts):
    km = backends.kernel_method(sb.method)
    args = [sb.params_of(t).kernel_args() for t in ts]
    if km == "float_fp32":
        return km, np.array([a["M_bits"][0] for a in args], np.uint32)
    second = "shift" if "shift" in args[0] else "s"
    return km, (np.array([a["m"][0] for a in args], np.int64), np.array([a[second][0] for a in args], np.int64))


def _operands(sb, ts):
    if sb.op == "requantize":
        T = len(ts)
        return (np.zeros((T, 1), np.int8), np.zeros((1, T), np.int8), 0, np.zeros(T, np.int32),
                np.array([int(t["acc"]) for t in ts], np.int64))
    dt_a = np.uint8 if sb.a_type == "uint8" else np.int8
    dt_b = np.uint8 if sb.b_type == "uint8" else np.int8
    a = np.array([[int(v) for v in t["a"]] for t in ts], dt_a)
    b = np.array([[int(v) for v in t["b"]] for t in ts], dt_b).T.copy()
    zb = np.array([sb.value(t, "b_zero_point") for t in ts], np.int32)
    bias = np.array([int(t.get("bias", sb.base["bias"]) or 0) for t in ts], np.int64)
    return a, b, sb.value(ts[0], "a_zero_point"), zb, bias


def _group_key(sb, t):
    k = len(t["a"]) if sb.op == "dot" else 1
    return (k, sb.value(t, "a_zero_point") if sb.op == "dot" else 0, sb.value(t, "y_zero_point"))


def expected_batch(sb, ts):
    """[{'acc', 'y'}] for the transactions ``ts``, computed by the C kernel in diagonal GEMMs."""
    out = [None] * len(ts)
    groups = {}
    for i, t in enumerate(ts):
        groups.setdefault(_group_key(sb, t), []).append(i)
    out_dt = np.uint8 if sb.y_type == "uint8" else np.int8
    for (_k, _za, zy), idx in groups.items():
        for s in range(0, len(idx), CHUNK):
            part = idx[s:s + CHUNK]
            sub = [ts[i] for i in part]
            a, b, za, zb, bias = _operands(sb, sub)
            if np.any((bias < -2**31) | (bias > 2**31 - 1)):
                raise InvalidValueError("a bias or accumulator outside int32; expected int32 values")
            bias = bias.astype(np.int32)
            km, kp = _kernel_params(sb, sub)
            acc = np.diagonal(kernel.matmul_integer(a, b, za, zb, bias=bias, policy=sb.policy))
            y = np.diagonal(kernel.qlinear_matmul(a, b, za, zb, km, kp, zy, sb.qmin, sb.qmax, out_dtype=out_dt,
                                                  bias=bias, policy=sb.policy))
            for j, i in enumerate(part):
                out[i] = {"acc": int(acc[j]), "y": int(y[j])}
    return out
