"""The expected output of a case: the oracle, or a fast form confirmed against the oracle on a sample.

``oracle``: refquant.ops on every element (pure Python: small cases only).
``kernel``: the C kernel's int32 accumulators (refquant.kernel.matmul_integer); ``numpy``: int64
matmul, wrapped to int32 (exact under policy wrap, or when no partial sum can overflow; otherwise
the oracle's accumulators).  Either is then requantized by the method's numpy form
(audit/numpy_forms.py), and ``sample`` elements of the accumulators and of the outputs are
recomputed by the oracle: any difference raises OracleDisagreement (a refquant bug, never a
device mismatch).
"""

import numpy as np

from .. import ops
from .. import requant as rq
from ..audit.common import OracleDisagreement
from ..audit.numpy_forms import vectorised
from ..integers import Accumulator
from . import conv, quant


def expected(case, kind, sample, rng, threads=None):
    """int64 (M, N) expected output of ``case`` under reference ``kind`` (``threads``: the C kernel's).
    quantize_linear has one reference whatever the kind: refquant.quantize (campaign/quant.py);
    qlinear_conv the audit's (campaign/conv.py)."""
    if case["op"] == "quantize_linear":
        return quant.expected(case)
    if case["op"] == "qlinear_conv":
        return conv.expected(case)
    if kind == "oracle":
        return oracle(case)
    acc = _kernel_acc(case, threads) if kind == "kernel" else _numpy_acc(case)
    _confirm_acc(case, acc, sample, rng)
    if case["op"] == "matmul_integer":
        return acc
    return _requantize(case, acc, sample, rng)


def oracle(case):
    """The whole case through refquant.ops (the executable specification)."""
    zb = np.asarray(case["zb"]).tolist()
    acc = Accumulator(32, case["policy"])
    accs = ops.matmul_integer(case["a"].tolist(), case["b"].tolist(), case["za"], zb, case["a_type"],
                              case["b_type"], acc)
    if case["op"] == "matmul_integer":
        return np.array(accs, dtype=np.int64).reshape(case["a"].shape[0], case["b"].shape[1])
    y = rq.requantize(accs, case["method"], case["params"], case["zy"], case["y_type"])
    return np.array(y, dtype=np.int64).reshape(case["a"].shape[0], case["b"].shape[1])


def _zb_vec(case):
    return np.broadcast_to(np.asarray(case["zb"], np.int64), (case["b"].shape[1],))


def _numpy_acc(case):
    a = case["a"].astype(np.int64) - case["za"]
    b = case["b"].astype(np.int64) - _zb_vec(case)[None, :]
    K = a.shape[1]
    bound = K * (int(np.abs(a).max()) if a.size else 0) * (int(np.abs(b).max()) if b.size else 0)
    if case["policy"] == "saturate" and bound > 2**31 - 1:
        return oracle(dict(case, op="matmul_integer"))
    acc = a @ b
    return ((acc + 2**31) % 2**32) - 2**31      # wrap: the order-free int32 result


def _kernel_acc(case, threads):
    from .. import kernel
    zb = np.asarray(case["zb"], np.int32) if case["per_column"] else int(case["zb"])
    return kernel.matmul_integer(case["a"], case["b"], case["za"], zb, policy=case["policy"],
                                 threads=threads).astype(np.int64)


def _sample(rng, shape, n):
    M, N = shape
    if M * N == 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = rng.choice(M * N, size=min(n, M * N), replace=False)
    return flat // N, flat % N


def _confirm_acc(case, acc, sample, rng):
    """The oracle's accumulators on a random r x c block of rows and columns (r * c ~ ``sample``),
    in one call (the operands are checked once per row and column, not once per element)."""
    M, N = acc.shape
    if sample == 0 or M * N == 0:
        return
    r = min(M, max(1, int(round(sample ** 0.5))))
    c = min(N, max(1, -(-sample // r)))
    rows, cols = np.sort(rng.choice(M, r, replace=False)), np.sort(rng.choice(N, c, replace=False))
    zb = _zb_vec(case)[cols]
    want = ops.matmul_integer(case["a"][rows].tolist(), case["b"][:, cols].tolist(), case["za"], zb.tolist(),
                              case["a_type"], case["b_type"], Accumulator(32, case["policy"]))
    got = acc[np.ix_(rows, cols)]
    if not np.array_equal(np.array(want, dtype=np.int64).reshape(got.shape), got):
        i, j = np.argwhere(np.array(want, dtype=np.int64).reshape(got.shape) != got)[0]
        raise OracleDisagreement(f"reference accumulator differs from the oracle at ({rows[i]}, {cols[j]}): "
                                 f"{got[i, j]} vs {want[i][j]}")


def _requantize(case, acc, sample, rng):
    params = case["params"]
    lo, hi = rq.out_range(case["y_type"])
    chan = np.broadcast_to(np.arange(acc.shape[1]), acc.shape).reshape(-1)
    y = vectorised(case["method"], params, acc.reshape(-1), chan, case["zy"], lo, hi)
    if y is None:      # no numpy form for these parameters: the oracle on every element
        return np.array(rq.requantize(acc.tolist(), case["method"], params, case["zy"], case["y_type"]),
                        dtype=np.int64).reshape(acc.shape)
    y = y.reshape(acc.shape)
    rows, cols = _sample(rng, acc.shape, sample)
    for i, j in zip(rows.tolist(), cols.tolist()):
        want = rq.requantize_one(int(acc[i, j]), case["method"], params, case["zy"], case["y_type"], channel=j)
        if want != y[i, j]:
            raise OracleDisagreement(f"numpy form of {case['method']} gives {y[i, j]} at ({i}, {j}) for acc "
                                     f"{acc[i, j]}; the oracle gives {want}")
    return y
