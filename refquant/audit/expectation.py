"""The expected output of a case under its declared semantics (``expected``, ``quantize_expected``),
the device output checked against its shape and type (``check_actual``), and the trace of one
element (``explain_element``).
"""

import numpy as np

from .. import ops
from .. import quantize as qz
from .. import requant as rq
from ..errors import (
    InvalidValueError,
    ShapeError,
    SpecError,
    Unpredictable,
)
from ..profiles import PROFILES
from ..trace import Step
from . import tensors
from .accumulators import (
    _ab_operands,
    _group_of,
    accumulators,
    conv_oracle_element,
    to_nchw,
)
from .candidates import Candidate, _with_bias, apply_candidate
from .case import Case, add_bias_step, params_for
from .common import ORACLE_ELEMENTS, _quiet


def expected(case, progress=_quiet, rng=None, info=None, cache=None):
    """(expected int64 array, accumulators or None, overflow counts or None) under the declared semantics.

    qlinear_conv: all three in NCHW (N, M, OH, OW)."""
    vals, acc, counts = _expected(case, progress, rng, info, cache)
    return to_nchw(case, vals), to_nchw(case, acc), to_nchw(case, counts)


def _expected(case, progress=_quiet, rng=None, info=None, cache=None):
    """``expected`` with conv results in the GEMM view (channel = last axis)."""
    rng = rng or np.random.default_rng(0)
    info = {} if info is None else info
    if case.op == "quantize":
        return quantize_expected(case, case.profile), None, None
    if case.op == "requantize":
        acc, counts = case.tensors["acc"], None
    else:
        acc, counts = accumulators(case, case.get("policy", "wrap"), rng=rng, progress=progress, info=info)
    if case.op == "matmul_integer":
        return acc.copy(), acc, counts
    m = case.method
    cand = _with_bias(case, Candidate(m, rq.get_method(m).reproduces, params_for(case, m), m))
    if acc.size <= ORACLE_ELEMENTS:
        progress("oracle requantization")
        zp = int(case.get("y_zero_point", 0))
        racc = acc if cand.int_bias is None else add_bias_step(acc, cand.int_bias, case.get("policy", "wrap"))
        try:
            vals = rq.requantize(racc.tolist(), m, cand.params, zp, case.y_type,
                                 qmin=case.attrs.get("qmin"), qmax=case.attrs.get("qmax"))
            info["requantization"] = f"oracle refquant.requant.requantize({m})"
            return np.array(vals, dtype=np.int64).reshape(acc.shape), acc, counts
        except (Unpredictable, SpecError):
            pass
    sample = rng.choice(acc.size, size=min(acc.size, 4096), replace=False)
    vals, how = apply_candidate(cand, acc, case, rng, sample, progress, cache)
    info["requantization"] = f"{m}: {how}"
    return vals, acc, counts


def quantize_expected(case, profile, sample=None):
    """quantize under ``profile`` via the oracle on the distinct x values (per tensor or per axis)."""
    x = case.tensors["x"]
    scale, zp = case.attrs["scale"], case.attrs.get("zero_point", 0)
    dtype = case.get("dtype", "int8")
    axis = case.attrs.get("axis")
    if axis is not None:
        if x.size > ORACLE_ELEMENTS:
            raise InvalidValueError(f"per-axis quantize audits are limited to {ORACLE_ELEMENTS} elements")
        return np.asarray(qz.quantize(x, scale, zp, dtype, profile, axis=axis), dtype=np.int64)
    uniq, inv = np.unique(x.reshape(-1).view(np.uint32), return_inverse=True)
    vals = qz.quantize(uniq.view(np.float32), scale, zp, dtype, profile)
    return np.asarray(vals, dtype=np.int64)[inv].reshape(x.shape)


def check_actual(case, actual):
    """The actual outputs as int64 of the case's output shape (errors name the disagreement)."""
    shape = tuple(case.out_shape)
    actual = np.asarray(actual)
    if actual.shape != shape:
        if actual.size == int(np.prod(shape)) and actual.ndim == 1:
            actual = actual.reshape(shape)
        else:
            raise ShapeError(f"actual outputs have shape {actual.shape}; the case's output is {shape} "
                             f"({case.y_type})")
    return tensors.as_integers(actual, case.y_type if case.y_type != "int32" else "int32", "actual")


def explain_element(case, index, method=None):
    """The explain trace (list of Step) of one output element under ``method`` (default: declared)."""
    steps = _explain_element(case, index, method)
    if case.attrs.get("params") is not None:      # the user gave the parameters: say so, not "derived"
        steps = [Step(s.name, "given in params", s.value) if s.name.startswith("param ") else s for s in steps]
    return steps


def _explain_element(case, index, method=None):
    method = method or (case.method if case.op != "quantize" else None)
    if case.op == "quantize":
        x = case.tensors["x"]
        v = float(x[tuple(index)])
        prof = PROFILES[case.profile]
        q = quantize_expected(Case("quantize", {"x": np.array([v], np.float32)}, case.attrs), case.profile)[0]
        return [Step("x", "float32 input", repr(v)), Step("scale", "", case.attrs["scale"]),
                Step("zero point", "", case.attrs.get("zero_point", 0)),
                Step("profile", prof.source, case.profile),
                Step("quotient", f"{prof.quotient} in {prof.quotient_format}", "-"),
                Step("result", f"{prof.rounding}, zero point {prof.zero_point}, clamp {prof.clamp}", int(q))]
    if case.op == "requantize":
        acc = int(case.tensors["acc"][tuple(index)])
        p = params_for(case, method)
        j = index[-1] if len(p.channels) > 1 else 0
        return rq.explain_requantize(acc, method, p, int(case.get("y_zero_point", 0)), case.y_type, j,
                                     case.attrs.get("qmin"), case.attrs.get("qmax"))
    if case.op == "qlinear_conv":
        steps, acc, j = _explain_conv_acc(case, index)
    else:
        steps, acc, j = _explain_matmul_acc(case, index)
        if case.op == "matmul_integer":
            return steps
    p = params_for(case, method)
    cand = _with_bias(case, Candidate(method, "", p, method if method in rq.METHODS else None))
    if cand.int_bias is not None:
        b = int(cand.int_bias[j if cand.int_bias.size > 1 else 0])
        acc = int(add_bias_step(np.array([acc]), np.array([b]), case.get("policy", "wrap"))[0])
        steps.append(Step("bias step", f"int32 bias{cand.bias_note}, one more accumulator step", b))
        steps.append(Step("acc", f"int32 accumulator under '{case.get('policy', 'wrap')}'", acc))
    elif case.attrs.get("float_bias") is not None:
        fb = case.attrs["float_bias"]
        steps.append(Step("float bias", "binary32, added in the requantization", fb[j if len(fb) > 1 else 0]
                             if isinstance(fb, list) else fb))
    return steps + rq.explain_requantize(acc, method, p, int(case.get("y_zero_point", 0)), case.y_type,
                                         j if len(p.channels) > 1 else 0, case.attrs.get("qmin"), case.attrs.get("qmax"))


def _explain_conv_acc(case, index):
    g = case.geometry()
    n, m, oh, ow = (int(v) for v in index)
    policy = case.get("policy", "wrap")
    terms, _acc, _steps = conv_oracle_element(case, (n, m, oh, ow), policy)
    (sh, sw), (ph0, pw0, _ph1, _pw1), (dh, dw) = g["strides"], g["pads"], g["dilations"]
    gin = int(_group_of(case, "as is")[m])
    rows = [oh * sh - ph0 + kh * dh for kh in range(g["kH"])]
    cols = [ow * sw - pw0 + kw * dw for kw in range(g["kW"])]
    inside = sum(0 <= h < g["H"] for h in rows) * sum(0 <= w < g["W"] for w in cols)
    taps = g["kH"] * g["kW"]
    bias = case.tensors.get("bias")
    steps, value = ops.accumulation_steps(terms, policy, 32, None if bias is None else int(bias[m]))
    steps[0] = Step("terms", f"{len(terms)} exact products (x - zx)(w - zw), (c, kh, kw) ascending",
                       steps[0].value)
    zb = case.zb_vector()
    return [Step("output", f"qlinear_conv element (n, m, oh, ow), channel m = {m}, input group {gin} "
                    f"(channels {gin * g['Cg']}..{(gin + 1) * g['Cg'] - 1})", (n, m, oh, ow)),
            Step("window", f"h = oh*{sh} - {ph0} + kh*{dh}, w = ow*{sw} - {pw0} + kw*{dw}",
                    f"rows {rows}, cols {cols}"),
            Step("taps", f"{inside} of {taps} taps inside x per channel; padding holds zx = "
                    f"{int(case.get('a_zero_point', 0))}, its terms (zx - zx)*w are 0",
                    f"{inside * g['Cg']} inside, {(taps - inside) * g['Cg']} padding"),
            Step("zero points", "zx (input), zw[m] (weights)", f"{int(case.get('a_zero_point', 0))}, {int(zb[m])}"),
            ] + steps, value, m


def _explain_matmul_acc(case, index):
    i, j = index
    a, b, za, zb = _ab_operands(case)
    bias = case.tensors.get("bias")
    ex = ops.explain_matmul_integer(a[i:i + 1].tolist(), b[:, j:j + 1].tolist(), (0, 0), za, int(zb[j]),
                                    case.get("a_type", "int8"), case.get("b_type", "int8"),
                                    policy=case.get("policy", "wrap"),
                                    bias=None if bias is None else [int(bias[j])])
    steps = list(ex.steps)
    steps[0] = Step("output", f"{case.op} element (i, j), channel j = {j}", (int(i), int(j)))
    return steps, steps[-1].value, int(j)
