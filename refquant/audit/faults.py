"""RTL-fault candidates: the fixed-point requantization of a hardware unit with one common bug.

No backend computes these; they are what a requantizer written in RTL computes when one line of it
is wrong (docs/hardware.md §5 lists them). The audit ranks them beside the ``requant.METHODS`` rows
and the ``numpy_forms.VARIANTS``, so that a dump from a truncating design is named "truncating
shift" instead of "matches tflite_single on 51 %".

Each fault is one change to one of two integer bases, with the TFLite parameters (m, shift):

* ``single``: ``y = R(acc*m, T)``, T = 31 - shift, R rounds half up (TFLite
  ``TFLITE_SINGLE_ROUNDING`` MultiplyByQuantizedMultiplier, docs/gemm-contract.md §3 tflite_single);
* ``double``: ``x = wrap32(acc << max(shift, 0))``, ``h = SRDHM(x, m)``, ``y = R(h, max(-shift, 0))``,
  R rounds half away from zero (gemmlowp RoundingDivideByPOT; tflite_double).

then ``+ zp`` and saturation to the output range. The faults: R is floor (``>>`` without the
rounding constant), toward zero, or half down; the output wraps instead of saturating; the zero
point is added before the rounding shift (at the unshifted scale), twice, or not at all; the shift
is one more, one less, or its sign is swapped.

``fault_oracle`` is the definition (Python ints); ``fault_vectorised`` the numpy form (int64, exact:
|acc*m| < 2^62 and shifts <= 62), confirmed against the oracle on a sample by ``apply_candidate``.
"""

import numpy as np

BASES = {"tflite_single": "single", "tflite_double": "double"}

# fault -> (what changes: key, value), description
FAULTS = {
    "floor_shift": (("rounding", "floor"), "final shift truncates: floor (arithmetic >> without the rounding constant)"),
    "trunc_shift": (("rounding", "trunc"), "final shift truncates toward zero (sign-magnitude shift)"),
    "half_down": (("rounding", "half_down"), "final shift rounds half down (ties toward -inf: 2^(T-1) - 1 added)"),
    "wrap_output": (("out", "wrap"), "output wraps to the output width instead of saturating"),
    "zp_twice": (("zp", "twice"), "output zero point added twice"),
    "no_zp": (("zp", "none"), "output zero point never added"),
    "zp_before_rounding": (("zp", "before"), "output zero point added before the rounding shift, unscaled"),
    "shift_plus1": (("shift", "plus1"), "one right shift too many (shift off by one: T + 1)"),
    "shift_minus1": (("shift", "minus1"), "one right shift too few (shift off by one: T - 1)"),
    "shift_swapped": (("shift", "swapped"), "shift direction swapped (the exponent's sign flipped)"),
}


def fault_names(declared=None):
    """Every (candidate name, base method, fault) the audit tries, e.g. 'tflite_single/floor_shift':
    on the declared base when the declared method is one, else on both bases."""
    bases = [declared] if declared in BASES else list(BASES)
    return [(f"{base}/{f}", base, f) for base in bases for f in FAULTS]


def describe(base, fault):
    return f"RTL fault: {base} with {FAULTS[fault][1]}"


def _model(base, fault):
    key, val = FAULTS[fault][0]
    m = {"rounding": "half_up" if BASES[base] == "single" else "half_away", "out": "sat", "zp": "after",
         "shift": "ok"}
    m[key] = val
    return m


def _eff_shift(shift, mode):
    return {"ok": shift, "plus1": shift - 1, "minus1": shift + 1, "swapped": -shift}[mode]


def valid(base, fault, channel):
    """Whether the fault's model is defined for these channel params (shifts within 1..62 / 0..31)."""
    if "m" not in channel or "shift" not in channel:
        return False
    s = _eff_shift(channel["shift"], _model(base, fault)["shift"])
    if BASES[base] == "single":
        return 1 <= 31 - s <= 62
    return max(s, 0) <= 31 and max(-s, 0) <= 31


def _rshift(v, n, mode):
    """v / 2^n rounded by ``mode`` (Python ints)."""
    if n == 0:
        return v
    if mode == "half_up":
        return (v + (1 << (n - 1))) >> n
    if mode == "half_down":
        return (v + (1 << (n - 1)) - 1) >> n
    if mode == "floor":
        return v >> n
    mag = (abs(v) + (1 << (n - 1))) >> n if mode == "half_away" else abs(v) >> n
    return mag if v >= 0 else -mag


def _wrap32(v):
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _srdhm(x, m):
    if x == m == -(1 << 31):
        return (1 << 31) - 1
    return (x * m + (1 << 30)) >> 31


def _finish(r, zp, lo, hi, model):
    r = r + {"after": zp, "twice": 2 * zp, "none": 0, "before": 0}[model["zp"]]
    if model["out"] == "wrap":
        return (r - lo) % (hi - lo + 1) + lo
    return min(max(r, lo), hi)


def fault_oracle(base, fault, p, acc, zp, lo, hi):
    """The faulty requantization of one accumulator (exact Python ints).

    Reproduces: docs/hardware.md §5 RTL faults on TFLite MultiplyByQuantizedMultiplier (single / double rounding)."""
    model = _model(base, fault)
    s = _eff_shift(p["shift"], model["shift"])
    pre = zp if model["zp"] == "before" else 0
    if BASES[base] == "single":
        r = _rshift(acc * p["m"] + pre, 31 - s, model["rounding"])
    else:
        h = _srdhm(_wrap32(acc << max(s, 0)), p["m"])
        r = _rshift(h + pre, max(-s, 0), model["rounding"])
    return _finish(r, zp, lo, hi, model)


def _rshift_np(v, n, mode):
    half = np.where(n > 0, np.int64(1) << np.maximum(n - 1, 0), 0)
    if mode == "half_up":
        return (v + half) >> n
    if mode == "half_down":
        return (v + np.maximum(half - 1, 0)) >> n
    if mode == "floor":
        return v >> n
    mag = (np.abs(v) + half) >> n if mode == "half_away" else np.abs(v) >> n
    return np.where(v >= 0, mag, -mag)


def fault_vectorised(base, fault, ch, acc, zp, lo, hi):
    """The numpy form of ``fault_oracle`` (``ch``: a numpy_forms.Channels view; int64 like acc)."""
    model = _model(base, fault)
    m = ch.int("m")
    s = np.array([_eff_shift(v, model["shift"]) for v in ch.values("shift")], dtype=np.int64)[ch.ch]
    pre = np.int64(zp if model["zp"] == "before" else 0)
    if BASES[base] == "single":
        r = _rshift_np(acc * m + pre, 31 - s, model["rounding"])
    else:
        x = ((acc << np.maximum(s, 0)) + 2**31) % 2**32 - 2**31
        h = np.where((x == -2**31) & (m == -2**31), 2**31 - 1, (x * m + 2**30) >> 31)
        r = _rshift_np(h + pre, np.maximum(-s, 0), model["rounding"])
    r = r + {"after": zp, "twice": 2 * zp, "none": 0, "before": 0}[model["zp"]]
    if model["out"] == "wrap":
        return (r - lo) % (hi - lo + 1) + lo
    return np.clip(r, lo, hi)
