"""Requantization candidates: every METHODS row and VARIANT that can be evaluated for a case
(``candidate_list``), applied once per distinct (accumulator, channel) pair (``apply_candidate``:
numpy form confirmed on a sample against the oracle, or the oracle); quantize candidates.
"""

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from .. import requant as rq
from ..errors import (
    RefquantError,
    SpecError,
    Unpredictable,
)
from ..profiles import PROFILES
from .accumulators import CONV_VARIANTS
from .case import _probe, add_bias_step, candidate_int_bias, params_for
from .common import CONFIRM, UNIQUE_CAP, OracleDisagreement, _quiet
from .faults import describe as _fault_description
from .faults import fault_names, fault_oracle, fault_vectorised
from .faults import valid as _fault_valid
from .numpy_forms import UNPRED, VARIANTS, Channels
from .numpy_forms import variant_oracle as _variant_oracle
from .numpy_forms import variant_vectorised as _variant_vec
from .numpy_forms import vectorised as _vec


def _variant_params(case, name):
    if name == "float_fp32_recip":
        if case.attrs.get("params") is not None:
            return None
        p = params_for(case, "torch_qnnpack") if not isinstance(case.attrs["b_scale"], (list, tuple)) else None
        if p is None:
            sa = rq.scale_value(case.attrs["a_scale"])
            sy = rq.scale_value(case.attrs["y_scale"])
            chans = [{"M": rq.fl32(rq.fl32(sa * rq.scale_value(s)) * rq.fl32(1 / sy))} for s in case.attrs["b_scale"]]
            return rq.make_params("float_fp32", chans)
        return rq.make_params("float_fp32", [{"M": c["M"]} for c in p.channels])
    return params_for(case, VARIANTS[name][0])


@dataclass
class Candidate:
    name: str
    description: str
    params: object = None
    method: str = None       # a METHODS row, or None for a variant
    variant: str = None      # a VARIANTS key
    acc_variant: str = "wrap"  # wrap | saturate | swapped_zp
    layout: str = "as is"    # as is | transposed
    op_kind: str = None
    aliases: list = field(default_factory=list)
    int_bias: object = None  # int32 bias added as one more accumulator step (float-bias cases)
    bias_note: str = ""
    fault: tuple = None      # (base method, fault) of an RTL-fault candidate (audit/faults.py)

    def label(self):
        s = " = ".join([self.name] + self.aliases) + self.bias_note
        if self.acc_variant == "saturate":
            s += " + saturating int32 accumulator"
        elif self.acc_variant == "wrapping":
            s += " + wrapping int32 accumulator"
        elif self.acc_variant == "wrap":
            pass
        elif self.acc_variant == "swapped_zp":
            s += " + a/b zero points swapped"
        elif CONV_VARIANTS.get(self.acc_variant):
            s += " + " + CONV_VARIANTS[self.acc_variant]
        if self.layout == "transposed":
            s += " + output transposed"
        return s


def candidate_list(case):
    """Every requantization semantics that can be evaluated for this case."""
    out, seen = [], {}
    first = ("exact", "float_fp32", "ort", "tflite_double", "tflite_single", "tosa_single", "tosa_double")
    order = list(first) + [m for m in rq.METHODS if m not in first]
    names = [case.method] + [m for m in order if m != case.method and m != "torch_x86"]
    for m in names:
        meth = rq.get_method(m)
        kinds = [None]
        if "op" in meth.options and case.attrs.get("params") is None and not isinstance(case.attrs.get("b_scale"), (list, tuple)):
            kinds = ["fc", "conv"]
        for kind in kinds:
            try:
                p = params_for(case, m, kind)
                for ch in range(len(p.channels)):
                    _probe(meth.apply, p.channel(ch))
            except (RefquantError, KeyError, ZeroDivisionError, OverflowError):
                continue
            key = (meth.apply, repr(p.channels))
            nm = m if kind is None or kind == case.get("op_kind", "fc") else f"{m}[{kind} multiplier]"
            if key in seen:
                seen[key].aliases.append(nm)
                continue
            seen[key] = _with_bias(case, Candidate(nm, meth.reproduces, p, m, op_kind=kind))
            out.append(seen[key])
    if case.op in ("requantize", "qlinear_matmul", "qlinear_conv"):
        for v, (_base, desc) in VARIANTS.items():
            try:
                p = _variant_params(case, v)
                if p is not None:
                    _variant_oracle(v, p.channel(0), 1, 0, -128, 127)
            except (RefquantError, KeyError):
                continue
            if p is None:
                continue
            out.append(_with_bias(case, Candidate(v, desc, p, None, v)))
        out += _fault_candidates(case)
    return out


def _fault_candidates(case):
    """The RTL-fault candidates (audit/faults.py) whose base method's parameters this case has."""
    out, params = [], {}
    for name, base, fault in fault_names(case.method):
        if base not in params:
            try:
                params[base] = params_for(case, base)
            except (RefquantError, KeyError, ZeroDivisionError, OverflowError):
                params[base] = None
        p = params[base]
        if p is None or not all(_fault_valid(base, fault, c) for c in p.channels):
            continue
        out.append(_with_bias(case, Candidate(name, _fault_description(base, fault), p, None, fault=(base, fault))))
    return out


def _with_bias(case, cand):
    b = candidate_int_bias(case, cand.params, cand.method)
    if b is not None:
        cand.int_bias = b
        cand.bias_note = (" (float bias -> qint32 bias)" if cand.method and rq.get_method(cand.method).float_bias
                          else " + float bias quantized to int32 at fl(sa*sb)")
    elif case.attrs.get("float_bias") is not None:
        cand.bias_note = " (float bias in the requantization)"
    return cand


def _oracle_one(cand, acc, ch, zp, lo, hi, out_type, qmin, qmax):
    try:
        if cand.fault:
            return fault_oracle(*cand.fault, cand.params.channel(ch), acc, zp, lo, hi)
        if cand.variant:
            return _variant_oracle(cand.variant, cand.params.channel(ch), acc, zp, lo, hi)
        return rq.requantize_one(acc, cand.method, cand.params, zp, out_type, ch, qmin, qmax)
    except (Unpredictable, SpecError):
        return UNPRED


class Distinct:
    """The distinct (accumulator, channel) pairs of an accumulator tensor, computed once."""

    def __init__(self, acc, per_channel):
        self.shape = acc.shape
        flat = acc.reshape(-1)
        n = acc.shape[-1] if acc.ndim else 1
        chan = np.broadcast_to(np.arange(n), acc.shape).reshape(-1) if acc.ndim else np.zeros(1, np.int64)
        if per_channel and n > 1:
            keys = (flat + 2**31) * n + chan
        else:
            keys = flat
        lo = int(keys.min()) if keys.size else 0
        span = int(keys.max()) - lo + 1 if keys.size else 0
        if keys.size and span <= 8 * keys.size + (1 << 20):
            # dense key range: mark, number and look up in O(n) (no sort)
            off = keys - lo
            seen = np.zeros(span, dtype=bool)
            seen[off] = True
            ukeys = np.flatnonzero(seen)
            lut = np.cumsum(seen, dtype=np.int64) - 1
            inv = lut[off]
            first = np.empty(ukeys.size, dtype=np.int64)
            first[inv[::-1]] = np.arange(inv.size - 1, -1, -1)
        else:
            ukeys, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        self.acc, self.chan, self.inv = flat[first], chan[first], inv.reshape(-1)
        self.size = ukeys.size


def apply_candidate(cand, acc, case, rng, sampled=None, progress=_quiet, distinct=None):
    """(values int64 like acc, how) for candidate ``cand`` on accumulators ``acc``.

    Evaluated once per distinct (acc, channel) pair: vectorised (then confirmed on a sample
    against the oracle) when the method has a numpy form; otherwise the oracle on every distinct
    pair, or only on those of the ``sampled`` flat indices when there are too many (the other
    elements are then UNPRED and how starts with 'oracle on a sample')."""
    zp = int(case.get("y_zero_point", 0))
    lo, hi = rq.out_range(case.y_type, case.attrs.get("qmin"), case.attrs.get("qmax"))
    qmin, qmax = case.attrs.get("qmin"), case.attrs.get("qmax")
    per_ch = len(cand.params.channels) > 1
    key = per_ch
    if cand.int_bias is not None:
        acc = add_bias_step(acc, cand.int_bias, case.get("policy", "wrap"))
        key = (per_ch, cand.int_bias.tobytes())
    d = distinct.get(key) if isinstance(distinct, dict) else None
    if d is None:
        d = Distinct(acc, per_ch)
        if isinstance(distinct, dict):
            distinct[key] = d
    try:
        if cand.fault:
            vals = fault_vectorised(*cand.fault, Channels(cand.params, d.chan), d.acc, zp, lo, hi)
        else:
            vals = (_variant_vec(cand.variant, cand.params, d.acc, d.chan, zp, lo, hi) if cand.variant
                    else _vec(cand.method, cand.params, d.acc, d.chan, zp, lo, hi))
    except (OverflowError, ValueError, KeyError):
        vals = None
    if vals is not None:
        k = min(d.size, CONFIRM)
        idx = np.unique(np.concatenate([rng.choice(d.size, size=k, replace=False), [0, d.size - 1]])) if d.size else []
        for t in idx:
            want = _oracle_one(cand, int(d.acc[t]), int(d.chan[t]), zp, lo, hi, case.y_type, qmin, qmax)
            if want != vals[t]:
                raise OracleDisagreement(f"vectorised {cand.name} gives {vals[t]} for acc {d.acc[t]} "
                                         f"(channel {d.chan[t]}); the oracle gives {want}")
        return vals[d.inv].reshape(d.shape), f"vectorised on {d.size} distinct accumulators, {len(idx)} confirmed by the oracle"
    if d.size <= UNIQUE_CAP:
        progress(f"oracle {cand.name} on {d.size} distinct accumulators")
        res = np.array([_oracle_one(cand, int(a), int(c), zp, lo, hi, case.y_type, qmin, qmax)
                        for a, c in zip(d.acc, d.chan)], dtype=np.int64)
        return res[d.inv].reshape(d.shape), f"oracle on {d.size} distinct accumulators"
    res = np.full(d.size, UNPRED, dtype=np.int64)
    for u in np.unique(d.inv[sampled]):
        res[u] = _oracle_one(cand, int(d.acc[u]), int(d.chan[u]), zp, lo, hi, case.y_type, qmin, qmax)
    return res[d.inv].reshape(d.shape), f"oracle on a sample of {len(sampled)} elements"


_QUOTIENTS = {("exact", "fp32"): "x/s exact", ("div", "fp32"): "fl32(x/s)", ("div", "fp64"): "fl64(x/s)",
              ("mul_recip", "fp32"): "fl32(x*fl32(1/s))", ("fma_zp", "fp32"): "fma(x, fl32(1/s), zp)"}


@functools.lru_cache(maxsize=1)
def quantize_candidates():
    """Every quantize semantics the diagnosis tries: each profile, plus each combination of the
    quotient (x/s exact, fl32(x/s), fl64(x/s), x*(1/s), fma with the zero point), the zero point
    (added after rounding as an integer, or before it in the quotient's format) and the tie rule
    (even, away from zero) that no profile already is."""
    out = dict(PROFILES)
    seen = {_profile_key(p) for p in PROFILES.values()}
    for (quot, fmt), qname in _QUOTIENTS.items():
        for zp in (("fused",) if quot == "fma_zp" else ("int_after", "float_before")):
            if quot == "exact" and zp == "float_before":
                continue
            for rounding in ("half_even", "half_away"):
                p = replace(PROFILES["exact"], name="", quotient=quot, quotient_format=fmt, zero_point=zp,
                            rounding=rounding, nan="qmin")
                if _profile_key(p) in seen:
                    continue
                seen.add(_profile_key(p))
                zt = {"int_after": "zp after rounding", "float_before": "zp added before rounding",
                      "fused": "zp fused"}[zp]
                name = f"{qname}, {zt}, ties {'to even' if rounding == 'half_even' else 'away'}"
                out[name] = replace(p, name=name, source=f"variant: quotient {qname}, {zt}, {rounding}")
    return out


def _profile_key(p):
    return (p.quotient, p.quotient_format, p.zero_point, p.rounding, p.clamp)
