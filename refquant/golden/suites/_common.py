"""Helpers every suite builder uses: a case record, fp32 bit patterns, random integer matrices."""

from fractions import Fraction

from ... import formats, integers
from ... import requant as rq
from ...errors import InvalidValueError, Unpredictable



def _case(name, comment, params, inputs, flags=()):
    return {"name": name, "comment": comment, "params": params, "inputs": inputs, "flags": list(flags)}


def _f32(x):
    """The binary32 bit pattern of x rounded to nearest-even (a fp32-exact scale)."""
    return formats.encode("fp32", formats.real(Fraction(x)))


def _fhex(bits):
    return f"{bits:08x}"


def _int_type_range(t):
    t = integers.get_type(t)
    return t.min, t.max


def _rand_matrix(rng, rows, cols, t, lo=None, hi=None):
    tmin, tmax = _int_type_range(t)
    return [rng.randint(tmin if lo is None else lo, tmax if hi is None else hi) for _ in range(rows * cols)]


def _rows_for_accs(accs, K):
    """A (len(accs) x K int8, row-major) whose rows times a column of ones are exactly ``accs``."""
    A = []
    for a in accs:
        rem = a
        for _ in range(K):
            v = max(-128, min(127, rem))
            A.append(v)
            rem -= v
        if rem:
            raise InvalidValueError(f"acc {a} does not fit in {K} int8 terms")
    return A


def _swap(pi):
    return pi[0], pi[1]


def _disagreeing_accs(sa, sb, sy, count):
    """Accumulators in [-8000, 8000] where tflite/tosa double and single rounding, or the float
    path and the exact value, give different int8 results (deterministic: ascending |acc|)."""
    fr = [formats.decode("fp32", b).value for b in (sa, sb, sy)]
    pairs = []
    for m in ("tflite_double", "tflite_single", "tosa_double", "tosa_single", "float_fp32", "exact"):
        try:
            pairs.append((m, rq.derive_params(m, *fr, op="fc")))
        except InvalidValueError:
            pass
    found = []
    for a in sorted(range(-8000, 8001), key=lambda v: (abs(v), v)):
        outs = set()
        for m, params in pairs:
            try:
                outs.add(rq.requantize_one(a, m, params, 0, "int8"))
            except Unpredictable:
                pass
        if len(outs) > 1:
            found.append(a)
            if len(found) == count:
                break
    return sorted(found)
