"""The int32 accumulators of a case: the oracle for small cases; the C kernel (GEMM) or im2col +
C kernel / GEMM oracle (conv) for large ones, each confirmed against the oracle on a random
sample of the same case.
"""

import time

import numpy as np

from .. import ops
from ..errors import (
    InvalidValueError,
)
from ..integers import Accumulator, get_type
from .common import ORACLE_ELEMENTS, ORACLE_MACS, OracleDisagreement, _quiet


def _ab_operands(case, swap_zp=False):
    a, b = case.tensors["a"], case.tensors["b"]
    za = int(case.get("a_zero_point", 0))
    zb = case.zb_vector()
    if swap_zp:
        za, zb = int(zb[0]), np.full_like(zb, za)
    return a, b, za, zb


def overflow_possible(case, swap_zp=False):
    if case.op == "qlinear_conv":
        g = case.geometry()
        za, zb = int(case.get("a_zero_point", 0)), case.zb_vector()
        x, w = case.tensors["x"], case.tensors["w"]
        amax = max(int(np.abs(x - za).max()) if x.size else 0, abs(za))     # |za|: padding filled with 0
        bmax = int(np.abs(w - zb[:, None, None, None]).max()) if w.size else 0
        bias = case.tensors.get("bias")
        return g["Cg"] * g["kH"] * g["kW"] * amax * bmax + (int(np.abs(bias).max()) if bias is not None else 0) \
            + 2**31 * (case.attrs.get("float_bias") is not None) > 2**31 - 1
    a, b, za, zb = _ab_operands(case, swap_zp)
    K = a.shape[1]
    amax = int(np.abs(a - za).max()) if a.size else 0
    bmax = int(np.abs(b - zb[None, :]).max()) if b.size else 0
    bias = case.tensors.get("bias")
    return K * amax * bmax + (int(np.abs(bias).max()) if bias is not None and bias.size else 0) > 2**31 - 1


def _oracle_acc(a, b, za, zb, bias, policy, a_type, b_type):
    acc = Accumulator(32, policy)
    res = ops.matmul_integer(a.tolist(), b.tolist(), za, zb.tolist(), a_type, b_type, acc,
                             None if bias is None else bias.tolist())
    counts = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for (i, j), c in acc.overflows.items():
        counts[i, j] = c
    return np.array(res, dtype=np.int64).reshape(a.shape[0], b.shape[1]), counts


def _kernel_dtype(t):
    tt = get_type(t)
    if tt.bits > 8:
        return None
    return np.int8 if tt.signed else np.uint8


def accumulators(case, policy="wrap", swap_zp=False, rng=None, progress=_quiet, info=None):
    """(acc int64 (M, N), overflow counts (M, N) or None).

    Small: the oracle.  Large: the C kernel, then the oracle on a random sample of rows x
    columns of the same case (OracleDisagreement if any element differs).
    qlinear_conv: the GEMM view (N*OH*OW, M), see conv_accumulators."""
    if case.op == "qlinear_conv":
        if swap_zp:
            return None, None
        return conv_accumulators(case, policy, rng=rng, progress=progress, info=info)
    a, b, za, zb = _ab_operands(case, swap_zp)
    at, bt = case.get("a_type", "int8"), case.get("b_type", "int8")
    if swap_zp:
        ta, tb = get_type(at), get_type(bt)
        if not (ta.contains(za) and tb.contains(int(zb[0]))):
            return None, None
    bias = case.tensors.get("bias")
    M, K = a.shape
    N = b.shape[1]
    possible = overflow_possible(case, swap_zp)
    from .. import kernel
    kd_a, kd_b = _kernel_dtype(at), _kernel_dtype(bt)
    small = M * N * max(K, 1) <= ORACLE_MACS and M * N <= ORACLE_ELEMENTS
    if small or not kernel.available() or kd_a is None or kd_b is None or M == 0 or N == 0:
        if not small and (M * N * max(K, 1) > 50 * ORACLE_MACS):
            raise InvalidValueError(f"a {M}x{K}x{N} GEMM of {at} x {bt} needs the C kernel (int8/uint8 operands, "
                                    "refquant built with its extension)")
        progress(f"oracle accumulators {M}x{K}x{N} ({policy})")
        acc, counts = _oracle_acc(a, b, za, zb, bias, policy, at, bt)
        if info is not None:
            info["accumulator"] = "oracle (refquant.ops.matmul_integer)"
        return acc, counts
    progress(f"C kernel accumulators {M}x{K}x{N} ({policy})")
    ka, kb = a.astype(kd_a), b.astype(kd_b)
    kbias = None if bias is None else bias.astype(np.int32)
    t0 = time.perf_counter()
    if possible:
        acc, counts = kernel.matmul_integer(ka, kb, za, zb.astype(np.int32), kbias, policy, return_overflow=True)
        counts = counts.astype(np.int64)
    else:
        acc, counts = kernel.matmul_integer(ka, kb, za, zb.astype(np.int32), kbias, policy), None
    acc = acc.astype(np.int64)
    t1 = time.perf_counter()
    rng = rng or np.random.default_rng(0)
    rows = np.sort(rng.choice(M, size=min(M, 8), replace=False))
    cols = np.sort(rng.choice(N, size=min(N, 8), replace=False))
    progress(f"checking the C kernel against the oracle on {rows.size}x{cols.size} sampled outputs")
    want, wcounts = _oracle_acc(a[rows], b[:, cols], za, zb[cols], None if bias is None else bias[cols], policy, at, bt)
    got = acc[np.ix_(rows, cols)]
    if not np.array_equal(want, got):
        i, j = np.argwhere(want != got)[0]
        raise OracleDisagreement(f"C kernel accumulator differs from the oracle at ({rows[i]}, {cols[j]}): "
                                 f"{got[i, j]} vs {want[i, j]}")
    if counts is not None and not np.array_equal(wcounts, counts[np.ix_(rows, cols)]):
        raise OracleDisagreement("C kernel overflow counts differ from the oracle's on the sample")
    if info is not None:
        info["accumulator"] = (f"C kernel ({kernel.last_path_used()} path, {t1 - t0:.3f} s), checked against the "
                               f"oracle on {rows.size * cols.size} sampled outputs")
    return acc, counts


CONV_VARIANTS = {
    "as is": "",
    "zero_padding": "padding filled with 0 (not the input zero point)",
    "interleaved_groups": "output channel m reads input group m mod group (not m // (M/group))",
}


def to_gemm(case, arr):
    """An NCHW conv output (N, M, OH, OW) as its GEMM view (N*OH*OW, M); other ops unchanged."""
    if arr is None or case.op != "qlinear_conv":
        return arr
    return np.ascontiguousarray(np.asarray(arr).transpose(0, 2, 3, 1)).reshape(-1, case.out_shape[1])


def to_nchw(case, arr):
    if arr is None or case.op != "qlinear_conv":
        return arr
    N, M, OH, OW = case.out_shape
    return np.ascontiguousarray(np.asarray(arr).reshape(N, OH, OW, M).transpose(0, 3, 1, 2))


def _group_of(case, variant):
    """Output channel m -> the input channel group it reads."""
    g = case.geometry()
    M, G = g["M"], g["group"]
    m = np.arange(M)
    return m % G if variant == "interleaved_groups" else m // (M // G)


def conv_variants(case):
    """The accumulator variants that differ from the correct conv on this case's geometry."""
    g = case.geometry()
    out = []
    if any(g["pads"]) and int(case.get("a_zero_point", 0)) != 0:
        out.append("zero_padding")
    if g["group"] > 1 and not np.array_equal(_group_of(case, "interleaved_groups"), _group_of(case, "as is")):
        out.append("interleaved_groups")
    return out


def im2col(case, gin, pad_value):
    """(N*OH*OW, Cg*kH*kW) int64: the receptive fields of input group ``gin``, columns in the
    oracle's term order (c, kh, kw) ascending; padding positions hold ``pad_value``.  The layout is
    the C kernel's own (refquant.kernel.conv.im2col, numpy only), on int64 values."""
    from ..kernel.conv import geometry, im2col as kernel_im2col
    g = case.geometry()
    x = np.asarray(case.tensors["x"], dtype=np.int64)
    geo = geometry(x.shape, case.tensors["w"].shape, g["strides"], g["pads"], g["dilations"], g["group"])
    return kernel_im2col(x, pad_value, geo, gin)


def _conv_oracle_nested(case):
    prep = case.memo.get("conv_prep")
    if prep is None:
        g = case.geometry()
        bias = case.tensors.get("bias")
        prep = ops.conv_prepare(case.tensors["x"].tolist(), case.tensors["w"].tolist(), int(case.get("a_zero_point", 0)),
                                 case.zb_vector().tolist(), case.get("a_type", "int8"), case.get("b_type", "int8"),
                                 g["strides"], g["pads"], g["dilations"], g["group"],
                                 None if bias is None else bias.tolist())
        case.memo["conv_prep"] = prep
    return prep


def conv_oracle_element(case, idx, policy):
    """(terms, acc, overflow steps) of output (n, m, oh, ow) from refquant.ops (the conv oracle)."""
    _out, xd, wd, geo, bias, _bound = _conv_oracle_nested(case)
    n, m, oh, ow = idx
    terms = ops.conv_terms(xd, wd, (n, m, oh, ow), geo)
    acc = Accumulator(32, policy)
    v = ops.accumulate(acc, terms, "x", None if bias is None else bias[m])
    return terms, v, acc.overflows.get("x", 0)


def conv_accumulators(case, policy="wrap", variant="as is", rng=None, progress=_quiet, info=None):
    """(acc (N*OH*OW, M) int64, overflow counts or None): the conv's accumulators in the GEMM view.

    Small convs: the oracle (refquant.ops.conv_integer).  Larger ones (and the diagnosis variants):
    im2col per input group, then the C kernel (int8/uint8) or the GEMM oracle.  The im2col GEMM
    sums the same terms in the same order (c, kh, kw); its extra padding terms are (zx - zx)*w = 0,
    and adding 0 changes no partial sum under wrap or saturate; the result is also checked against
    the conv oracle element by element on a random sample."""
    g = case.geometry()
    at, bt = case.get("a_type", "int8"), case.get("b_type", "int8")
    N, M, OH, OW = case.out_shape
    P, K = N * OH * OW, g["Cg"] * g["kH"] * g["kW"]
    za, zb = int(case.get("a_zero_point", 0)), case.zb_vector()
    bias = case.tensors.get("bias")
    small = P * M * max(K, 1) <= ORACLE_MACS and P * M <= ORACLE_ELEMENTS
    if small and variant == "as is":
        return _conv_oracle_accumulators(case, policy, progress, info)
    from .. import kernel
    kd_a, kd_b = _kernel_dtype(at), _kernel_dtype(bt)
    use_kernel = not small and kernel.available() and kd_a is not None and kd_b is not None
    if not use_kernel and not small and P * M * K > 50 * ORACLE_MACS:
        raise InvalidValueError(f"a conv of {P * M * K} multiply-adds with {at} x {bt} needs the C kernel "
                                "(int8/uint8 operands, refquant built with its extension)")
    pad_value = 0 if variant == "zero_padding" else za
    gmap = _group_of(case, variant)
    acc = np.zeros((P, M), dtype=np.int64)
    counts = np.zeros((P, M), dtype=np.int64)
    w = case.tensors["w"]
    t0 = time.perf_counter()
    path = None
    for gin in range(g["group"]):
        chans = np.flatnonzero(gmap == gin)
        if chans.size == 0:
            continue
        progress(f"conv accumulators: im2col GEMM of group {gin} ({policy}{', ' + variant if variant != 'as is' else ''})")
        A = im2col(case, gin, pad_value)
        B = w[chans].reshape(chans.size, K).T
        bz = None if bias is None else bias[chans]
        if use_kernel:
            ka, kb = A.astype(kd_a), np.ascontiguousarray(B.astype(kd_b))
            kbias = None if bz is None else bz.astype(np.int32)
            a_c, c_c = kernel.matmul_integer(ka, kb, za, zb[chans].astype(np.int32), kbias, policy,
                                             return_overflow=True)
            path = kernel.last_path_used()
            acc[:, chans], counts[:, chans] = a_c, c_c
        else:
            acc[:, chans], counts[:, chans] = _oracle_acc(A, B, za, zb[chans], bz, policy, at, bt)
    t1 = time.perf_counter()
    if variant == "as is":
        k = _confirm_conv(case, acc, counts, policy, rng or np.random.default_rng(0), progress)
        if info is not None:
            how = f"C kernel ({path} path)" if use_kernel else "GEMM oracle"
            info["accumulator"] = (f"im2col + {how}, {t1 - t0:.3f} s, checked against the conv oracle on {k} "
                                   "sampled outputs")
    return acc, counts


def _conv_oracle_accumulators(case, policy, progress=_quiet, info=None):
    """conv_accumulators of a small conv: refquant.ops.conv_integer, in the GEMM view."""
    g = case.geometry()
    za, zb = int(case.get("a_zero_point", 0)), case.zb_vector()
    bias = case.tensors.get("bias")
    progress(f"oracle conv accumulators ({policy})")
    acc_o = Accumulator(32, policy)
    res = ops.conv_integer(case.tensors["x"].tolist(), case.tensors["w"].tolist(), za, zb.tolist(),
                           x_type=case.get("a_type", "int8"), w_type=case.get("b_type", "int8"),
                           strides=g["strides"], pads=g["pads"], dilations=g["dilations"],
                           group=g["group"], bias=None if bias is None else bias.tolist(), accumulator=acc_o)
    acc = np.array(res, dtype=np.int64)
    counts = np.zeros_like(acc)
    for (n, m, oh, ow), c in acc_o.overflows.items():
        counts[n, m, oh, ow] = c
    if info is not None:
        info["accumulator"] = "oracle (refquant.ops.conv_integer)"
    return to_gemm(case, acc), to_gemm(case, counts)


def _confirm_conv(case, acc, counts, policy, rng, progress=_quiet):
    """Check GEMM-view conv accumulators (and overflow counts) against the conv oracle on a
    random sample of outputs (OracleDisagreement on any difference); the sample size."""
    N, M, OH, OW = case.out_shape
    P = N * OH * OW
    k = min(P * M, 64)
    flat = rng.choice(P * M, size=k, replace=False)
    progress(f"checking the im2col accumulators against the conv oracle on {k} sampled outputs")
    for f in flat:
        p, m = divmod(int(f), M)
        n, rem = divmod(p, OH * OW)
        oh, ow = divmod(rem, OW)
        _t, want, steps = conv_oracle_element(case, (n, m, oh, ow), policy)
        if want != acc[p, m] or steps != counts[p, m]:
            raise OracleDisagreement(f"im2col conv accumulator differs from the oracle at {(n, m, oh, ow)}: "
                                     f"{acc[p, m]} ({counts[p, m]} overflow steps) vs {want} ({steps})")
    return k
