"""The numpy forms of requantization, keyed by method name (the audit's fast path).

``FORMS[method](ch, acc, zp, lo, hi)`` applies a ``requant.METHODS`` row to an int64 accumulator
array in numpy, where the numpy formula is the method's exact definition (int64 arithmetic that
cannot overflow; binary32/binary64 IEEE operations with RNE).  ``ch`` is a ``Channels`` view of
the method's parameters (one row per element).  A form may return None (decline) on parameters
its formula does not cover; the oracle then decides.  ``ORACLE_ONLY`` names the methods that have
no numpy form, with the reason.  ``tests/test_numpy_forms.py`` checks that every METHODS row is in
exactly one of the two.

``VARIANTS`` are the audit's diagnosis candidates that are no row of METHODS (tie rules, zero point
before rounding, x*(1/s)); each has an oracle form (``variant_oracle``, exact Fractions) and a
numpy form (``VARIANT_FORMS``).

Every numpy result is confirmed element by element against the oracle on a sample at run time
(``audit.candidates.apply_candidate``): a form that disagrees raises OracleDisagreement.
This module lives in ``audit/`` because the audit is its only user; the spec (``requant.py``)
stays stdlib-only and is the definition these forms are checked against.
"""

from fractions import Fraction
from math import floor

import numpy as np

from .. import requant as rq
from ..rounding import half_away, half_even

UNPRED = np.iinfo(np.int64).min      # an element whose result the method leaves undefined


# ##########################################################################
# Helpers
# ##########################################################################

def _f32(x):
    return np.asarray(x, dtype=np.float32)


def exact_round(acc, Ms, chan, mode):
    """RNE/half-away/half-up of acc*M_j on exact rationals: binary64 first, then every element
    within the binary64 error of a half-integer recomputed exactly (Python ints, vectorised)."""
    Mf = np.array([float(m) for m in Ms])[chan]
    v = acc.astype(np.float64) * Mf
    if mode == "half_even":
        r = np.rint(v)
    else:
        r = np.floor(v + 0.5) if mode == "half_up" else np.sign(v) * np.floor(np.abs(v) + 0.5)
    near = np.abs(v - np.floor(v) - 0.5) <= np.abs(v) * 2.0**-49 + 2.0**-60
    r = r.astype(np.int64)
    if near.any():
        P = np.array([Fraction(m).numerator for m in Ms], dtype=object)[chan[near]]
        Q = np.array([Fraction(m).denominator for m in Ms], dtype=object)[chan[near]]
        num = acc[near].astype(object) * P
        q = num // Q
        twice = 2 * (num - q * Q)              # 2*rem in [0, 2Q)
        up = twice > Q
        tie = twice == Q
        if mode == "half_even":
            up = up | (tie & (q % 2 == 1))
        elif mode == "half_up":
            up = up | tie
        else:
            up = up | (tie & (num > 0))
        r[near] = (q + up.astype(np.int64)).astype(np.int64)
    return r


def _half_away_f(v):
    """Round half away from zero of binary floats, exactly (no v + 0.5 rounding)."""
    t = np.trunc(v)
    return (t + np.sign(v) * (np.abs(v - t) >= 0.5)).astype(np.int64)


def _round_fraction(x, mode):
    if mode == "half_even":
        return half_even(x)
    if mode == "half_away":
        return half_away(x)
    return floor(x + Fraction(1, 2))


def _sat(r, zp, lo, hi):
    return np.clip(r + zp, lo, hi)


class Channels:
    """The per-channel parameters of a ``requant.Params``, one row per accumulator element."""

    def __init__(self, params, chan):
        self.rows = params.channels
        self.ch = chan if len(self.rows) > 1 else np.zeros_like(chan)

    def has(self, key):
        return key in self.rows[0]

    def int(self, key):
        return np.array([c[key] for c in self.rows], dtype=np.int64)[self.ch]

    def f64(self, key):
        return np.array([float(c[key]) for c in self.rows])[self.ch]

    def f32(self, key):
        return _f32([float(c[key]) for c in self.rows])[self.ch]

    def values(self, key):
        return [c[key] for c in self.rows]


# ##########################################################################
# The forms of the METHODS rows
# ##########################################################################

def _int32(ch, acc, zp, lo, hi):
    return acc.copy()


def _exact(ch, acc, zp, lo, hi):
    return _sat(exact_round(acc, ch.values("M"), ch.ch, "half_even"), zp, lo, hi)


def _float_fp32(ch, acc, zp, lo, hi):
    v = acc.astype(np.int32).astype(np.float32) * ch.f32("M")
    v = np.clip(v, np.float32(lo - zp), np.float32(hi - zp))
    return np.rint(v).astype(np.int64) + zp


def _onnx_ref(ch, acc, zp, lo, hi):
    r = np.rint(acc.astype(np.float64) * ch.f64("M") + np.float64(zp))
    bad = np.abs(r) > 2**31 - 1
    r = np.where(bad, 0, r).astype(np.int64)
    return np.where(bad, UNPRED, (r - lo) % (hi - lo + 1) + lo)


def _onnx_ref_conv(ch, acc, zp, lo, hi):
    v = acc.astype(np.float64) * ch.f64("M") + np.float64(zp)
    return np.rint(np.clip(v, lo, hi)).astype(np.int64)


def _tflite_fc_float(ch, acc, zp, lo, hi):
    v = acc.astype(np.float64) * ch.f64("sa") * ch.f64("sb") / ch.f64("sy")
    big = np.abs(v) >= 2.0**32                     # std::round outside int32: undefined (UNPRED)
    r = _half_away_f(np.where(big, 0.0, v))
    return np.where(big | (r < -2**31) | (r > 2**31 - 1), UNPRED, _sat(r, zp, lo, hi))


def _torch_float(ch, acc, zp, lo, hi):
    if ch.has("bias") or ch.has("bias_over_atw"):
        return None     # a float bias in the requantization: the oracle decides
    r = np.rint(acc.astype(np.int32).astype(np.float32) * ch.f32("M"))
    r = np.where(np.abs(r) >= 2.0**31, -2**31, r).astype(np.int64)
    return np.clip(np.clip(np.clip(r, -32768, 32767) + zp, -32768, 32767), lo, hi)


def _onednn(sa_key, sb_key, inv_key):
    """oneDNN's binary32 chain acc*sa*sb, then /sy (inv_key None) or *inv_sy, + zp, clamp, RNE."""
    def form(ch, acc, zp, lo, hi):
        if ch.has("bias"):
            return None
        d = acc.astype(np.int32).astype(np.float32) * ch.f32(sa_key)
        d = d * ch.f32(sb_key)
        d = d / ch.f32("sy") if inv_key is None else d * ch.f32(inv_key)
        d = np.clip(d + np.float32(zp), np.float32(lo), np.float32(hi))
        return np.rint(d).astype(np.int64)
    return form


def _tflite_single(ch, acc, zp, lo, hi):
    T = 31 - ch.int("shift")
    r = (acc * ch.int("m") + (np.int64(1) << (T - 1))) >> T
    bad = (r < -2**31) | (r > 2**31 - 1)
    return np.where(bad, UNPRED, _sat(r, zp, lo, hi))


def _shifted_left(ch, acc):
    shift = ch.int("shift")
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    return ((acc << left) + 2**31) % 2**32 - 2**31, right


def _ruy_x86(ch, acc, zp, lo, hi):
    x, right = _shifted_left(ch, acc)
    y = (x * ch.int("m") + 2**30) >> 31
    r = np.where(right > 0, (y + (np.int64(1) << np.maximum(right - 1, 0))) >> right, y)
    return _sat(r, zp, lo, hi)


def _tflite_double(ch, acc, zp, lo, hi):
    """SaturatingRoundingDoublingHighMul then RoundingDivideByPOT (gemmlowp), in int64."""
    x, right = _shifted_left(ch, acc)
    ab = x * ch.int("m")
    q = ab + np.where(ab >= 0, 2**30, 1 - 2**30)
    h = np.where(q >= 0, q >> 31, -((-q) >> 31))
    mask = (np.int64(1) << right) - 1
    rem = h & mask
    thr = (mask >> 1) + (h < 0)
    return _sat((h >> right) + (rem > thr), zp, lo, hi)


def _cmsis_nn(ch, acc, zp, lo, hi):
    if min(ch.values("m")) < 0:
        return None
    return _tflite_double(ch, acc, zp, lo, hi)


def _tosa(double_round):
    def form(ch, acc, zp, lo, hi):
        m, s = ch.int("m"), ch.int("s")
        d = np.where(s > 31, np.where(acc >= 0, 2**30, -2**30), 0) if double_round else np.zeros_like(acc)
        half = np.int64(1) << (s - 1)
        r = (acc * m + half + d) >> s
        bad = (acc < -half) | (acc >= half)
        return np.where(bad, UNPRED, _sat(r, zp, lo, hi))
    return form


def _round_shift(shift_key):
    """(acc*m + 2^(s-1)) >> s: XNNPACK rndnu / FBGEMM fixed point (s <= 62, else the oracle)."""
    def form(ch, acc, zp, lo, hi):
        s = ch.int(shift_key)
        if (s > 62).any():
            return None
        return _sat((acc * ch.int("m") + (np.int64(1) << (s - 1))) >> s, zp, lo, hi)
    return form


FORMS = {
    "int32": _int32,
    "exact": _exact,
    "float_fp32": _float_fp32,
    "ort": _float_fp32,
    "xnnpack_fp32": _float_fp32,
    "onnx_ref": _onnx_ref,
    "onnx_ref_conv": _onnx_ref_conv,
    "tflite_double": _tflite_double,
    "tflite_single": _tflite_single,
    "tflite_fc_float": _tflite_fc_float,
    "tosa_single": _tosa(False),
    "tosa_double": _tosa(True),
    "ruy_x86": _ruy_x86,
    "cmsis_nn": _cmsis_nn,
    "xnnpack_rndnu": _round_shift("s"),
    "fbgemm_fixed": _round_shift("rs"),
    "torch_fbgemm": _torch_float,
    "torch_qnnpack": _torch_float,
    "torch_onednn": _onednn("sa'", "sb'", "inv_sy'"),
    "onednn_ref": _onednn("sa", "sb", None),
    "onednn_jit": _onednn("sa", "sb", "inv_sy"),
}

# METHODS rows with no numpy form: the audit runs the oracle on the distinct (acc, channel) pairs.
ORACLE_ONLY = {
    "torch_x86": "an alias of torch_fbgemm/torch_onednn chosen by shape; the audit never lists it as a candidate",
}


def vectorised(method, params, acc, chan, zp, lo, hi):
    """acc (int64, any shape), chan (the channel index of each element) -> int64, or None.

    None: no numpy form (ORACLE_ONLY), or parameters the form declines."""
    if method == "int32":
        return acc.copy()
    form = FORMS.get(method)
    if form is None:
        return None
    if any(isinstance(v, float) for c in params.channels for v in c.values()):
        return None   # inf in the float model (extreme scales): the oracle decides element by element
    return form(Channels(params, chan), acc, zp, lo, hi)


# ##########################################################################
# Variants that are no row of METHODS
# ##########################################################################

# name -> (base method whose parameters it takes, description)
VARIANTS = {
    "exact_half_away": ("exact", "exact rational acc*sa*sb/sy, ties away from zero (std::round), + zp, saturate"),
    "exact_half_up": ("exact", "exact rational acc*sa*sb/sy, ties toward +inf (floor(v + 1/2)), + zp, saturate"),
    "float_fp32_zp_before": ("float_fp32", ("M = fl(fl(sa*sb)/sy); fl(fl(acc)*M) + zp added in binary32 BEFORE "
                                            "rounding, clamp, RNE (zero point before rounding)")),
    "float_fp32_half_away": ("float_fp32", "M = fl(fl(sa*sb)/sy); fl(fl(acc)*M), clamp, roundf (ties away), + zp"),
    "float_fp32_recip": ("float_fp32", "M = fl(fl(sa*sb)*fl(1/sy)): x*(1/s) instead of x/s, then float_fp32"),
}


def variant_oracle(name, p, acc, zp, lo, hi):
    """The exact (Fraction) form of variant ``name`` for one accumulator, channel params ``p``."""
    if name.startswith("exact_"):
        mode = "half_away" if name == "exact_half_away" else "half_up"
        return min(max(_round_fraction(acc * p["M"], mode) + zp, lo), hi)
    a = rq.fl32(acc)
    v = rq.fl32(a * p["M"])
    if name == "float_fp32_zp_before":
        v = rq.fl32(v + zp)
        return half_even(Fraction(min(max(v, lo), hi)))
    v = min(max(v, lo - zp), hi - zp)
    if name == "float_fp32_half_away":
        return half_away(Fraction(v)) + zp
    return half_even(Fraction(v)) + zp


def _exact_variant(mode):
    def form(ch, acc, zp, lo, hi):
        return _sat(exact_round(acc, ch.values("M"), ch.ch, mode), zp, lo, hi)
    return form


def _fp32_zp_before(ch, acc, zp, lo, hi):
    v = acc.astype(np.int32).astype(np.float32) * ch.f32("M") + np.float32(zp)
    return np.rint(np.clip(v, np.float32(lo), np.float32(hi))).astype(np.int64)


def _fp32_half_away(ch, acc, zp, lo, hi):
    v = acc.astype(np.int32).astype(np.float32) * ch.f32("M")
    return _half_away_f(np.clip(v, np.float32(lo - zp), np.float32(hi - zp))) + zp


VARIANT_FORMS = {
    "exact_half_away": _exact_variant("half_away"),
    "exact_half_up": _exact_variant("half_up"),
    "float_fp32_zp_before": _fp32_zp_before,
    "float_fp32_half_away": _fp32_half_away,
    "float_fp32_recip": _float_fp32,      # float_fp32 with the x*(1/s) multiplier (its params differ)
}


def variant_vectorised(name, params, acc, chan, zp, lo, hi):
    """The numpy form of variant ``name`` (int64 like acc)."""
    return VARIANT_FORMS[name](Channels(params, chan), acc, zp, lo, hi)
