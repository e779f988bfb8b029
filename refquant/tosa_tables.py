"""TFLite LOGISTIC / TANH lowered to TOSA: the TABLE constants the legalization computes, and TABLE.

TensorFlow's TFLite-to-TOSA legalization (compiler/mlir/tosa/transforms/legalize_tfl.cc
ConvertTFLLogisticOp / ConvertTFLTanhOp, with legalize_utils.cc getTosaConst8bitTable /
getTosaConst16bitTable; TensorFlow master 2025) replaces a quantized LOGISTIC or TANH by a TOSA
TABLE whose entries it computes at compile time in binary64 with the host's libm:

* int8: 256 entries, for i = -128..127: x = fl64(sx * (i - zx)), t = f(x) in binary64,
  q = llround(fl64(t / sy)) + zy (llround: half away from zero), clamped to int8.  The output is
  TABLE(input) = entry[input + 128].
* int16 (zero points 0): 513 entries over [min, max] = [fl64(-32768 sx), fl64(32767 sx)], step
  h = fl64((max - min) / 512), x_i = fl64(min + fl64(i h)); entry i = clamp(s_i - bias_i) with
  s_i = llround(f(x_i) 2^15), interp = round(fl64(f(x_{i+1}) 2^15 + round(f(x_i) 2^15)) / 2),
  mid = round(f(fl64(x_i + h/2)) 2^15), bias_i = llround((interp - mid) / 2) (round and llround
  both half away); the last entry llround(f(max) 2^15).  The output is TABLE (apply_lookup_s, a
  16.7 int32) then RESCALE by 1/128 (scale32, SINGLE_ROUND) to int16.  The legalization reads no
  output scale here: the result is in units of 2^-15, the scale TFLite's int16 kernels require.

f is sigmoid(x) = fl64(1 / fl64(1 + exp(-x))) or tanh(x) = fl64(fl64(1 - e) / fl64(1 + e)) with
e = exp(fl64(-2 x)), ``exp`` being the binary64 libm call.  Every entry is computed for every
result the libm may give within EXP_ULP ulp (refquant/certified.py candidates, the correctly
rounded one first); an entry with more than one outcome is a ``certified.ImplementationDefined``
with those candidates.  (One libm gives one value per argument, and the int16 generator evaluates
f at x_{i+1} for entry i and again for entry i+1; each entry's candidate set is exact, the
combinations across entries are not restricted here.)  TABLE is then applied exactly
(refquant/tosa.py ``table``, ``apply_lookup_s``, ``tosa_rescale``).  docs/ops.md "TOSA sigmoid /
tanh tables" records what was measured against the tosa-tools 2026.8.0 reference model.

Stdlib only (docs/architecture.md).
"""

from fractions import Fraction
from functools import lru_cache

from . import certified, nested
from . import fixedpoint as fp
from . import tosa
from .activations import EXP_ULP, elementwise, quant_params
from .certified import ImplementationDefined, resolve
from .errors import InvalidValueError, SpecError, Unpredictable
from .requant import fl64
from .rounding import half_away

# exp(a) in binary64: above LN_DBL_MAX the result is +inf (it exceeds DBL_MAX by more than an ulp
# for a >= 709.79; the sliver between is not modelled), below -746 it is +0.
LN_DBL_MAX, EXP_ZERO_BELOW = Fraction(70978, 100), Fraction(-746)
INF = "inf"


def exp64(a):
    """Every binary64 result of exp(a) within EXP_ULP ulp (correctly rounded first); 'inf' on overflow."""
    # Reproduces: a binary64 libm exp within its documented error (glibc manual, Known Maximum Errors)
    a = Fraction(a)
    if a > LN_DBL_MAX:
        return [INF]
    if a < EXP_ZERO_BELOW:
        return [Fraction(0)]
    return list(certified.candidates("exp", a, "fp64", EXP_ULP))


def sigmoid64(x):
    """legalize_tfl.cc sigmoid_func: 1.0 / (1.0 + std::exp(-x)) in binary64, every exp candidate."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLLogisticOp sigmoid_func (master, 2025)
    return [Fraction(0) if e == INF else fl64(1 / fl64(1 + e)) for e in exp64(-x)]


def tanh64(x):
    """legalize_tfl.cc tanh_func: e = std::exp(-2.0 * x); (1.0 - e) / (1.0 + e) in binary64."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLTanhOp tanh_func (master, 2025)
    out = []
    for e in exp64(-2 * x):
        if e == INF:              # (1 - inf) / (1 + inf) = NaN, then llround(NaN): unspecified
            raise Unpredictable(f"TOSA tanh table: exp(-2x) overflows at x = {float(x)!r}: (1 - inf) / (1 + inf) "
                                "is NaN and llround(NaN) is unspecified")
        out.append(fl64(fl64(1 - e) / fl64(1 + e)))
    return out


FUNCS = {"sigmoid": sigmoid64, "tanh": tanh64}


def _fn(name):
    if name not in FUNCS:
        raise InvalidValueError(f"TOSA table function {name!r} is not one of {sorted(FUNCS)}")
    cache = {}

    def f(x):
        if x not in cache:
            cache[x] = FUNCS[name](x)
        return cache[x]
    return f


def table_int8(fn, x_scale, x_zp, y_scale, y_zp):
    """The 256 entries getTosaConst8bitTable builds for ``fn`` ('sigmoid' or 'tanh'): ints, or an
    ImplementationDefined where the entry depends on the libm's exp."""
    # Reproduces: TensorFlow legalize_utils.cc getTosaConst8bitTable (master, 2025)
    return list(_table_int8(fn, *quant_params(x_scale, x_zp, y_scale, y_zp, "int8")[:4]))


@lru_cache(maxsize=64)
def _table_int8(fn, sx, zx, sy, zy):
    f, sx, sy = _fn(fn), fl64(sx), fl64(sy)
    why = f"TOSA {fn} int8 table: binary64 exp within {EXP_ULP} ulp"
    out = []
    for i in range(-128, 128):
        ts = f(fl64(sx * (i - zx)))
        out.append(resolve([_entry8(half_away(fl64(t / sy)), zy, i) for t in ts], why))
    return tuple(out)


def _entry8(rescaled, zy, i):
    """int32_t rescaled = llround(...) (a long long narrowed to int32: modulo 2^32, C++20), + zy in int32
    (a signed overflow is undefined: Unpredictable), clamped to int8."""
    r = ((rescaled + 2**31) % 2**32) - 2**31
    if not -(2**31) <= r + zy < 2**31:
        raise Unpredictable(f"TOSA int8 table entry {i}: rescaled {r} + zero point {zy} overflows int32")
    return min(max(r + zy, -128), 127)


def table_int16(fn, x_scale):
    """The 513 entries getTosaConst16bitTable builds for ``fn`` over [fl64(-32768 sx), fl64(32767 sx)]
    (the int16 lowering's range): ints, or an ImplementationDefined where the entry depends on exp."""
    # Reproduces: TensorFlow legalize_utils.cc getTosaConst16bitTable (master, 2025)
    return list(_table_int16(fn, fl64(quant_params(x_scale, 0, 1, 0, "int16")[0])))


@lru_cache(maxsize=64)
def _table_int16(fn, sx):
    f = _fn(fn)
    lo, hi = fl64(-32768 * sx), fl64(32767 * sx)
    step = fl64((hi - lo) / 512)
    why = f"TOSA {fn} int16 table: binary64 exp within {EXP_ULP} ulp"
    out = []
    for i in range(512):
        x0, x1 = fl64(lo + fl64(i * step)), fl64(lo + fl64((i + 1) * step))
        xm = fl64(x0 + step / 2)
        outs = [_entry16(v0, v1, vm) for v0 in f(x0) for v1 in f(x1) for vm in f(xm)]
        out.append(resolve(outs, why))
    out.append(resolve([min(max(half_away(v * 32768), -32768), 32767) for v in f(hi)], why))
    return tuple(out)


def _entry16(v0, v1, vm):
    """One getTosaConst16bitTable entry from f(x_i), f(x_{i+1}), f(midpoint) (binary64 values)."""
    sample = half_away(v0 * 32768)
    interp = half_away(fl64(v1 * 32768 + sample) / 2)
    bias = half_away(Fraction(interp - half_away(vm * 32768), 2))
    return min(max(sample - bias, -32768), 32767)


def _choices(entry):
    return entry.candidates if isinstance(entry, ImplementationDefined) else (entry,)


def apply_int8(values, entries):
    """TOSA TABLE int8 with the generated entries: entry[v + 128]; an implementation-defined entry
    gives its candidates.  The table itself goes through ``tosa.table`` (checks, one choice)."""
    # Reproduces: TOSA 1.0 TABLE int8 (spec cd5acdd) on the getTosaConst8bitTable constant
    tosa.table(values, [_choices(e)[0] for e in entries], in_type="int8")
    return nested.map_indexed(values, lambda v, p: entries[v + 128])


RESCALE_128 = fp.tosa_scale_from_real(Fraction(1, 128), scale32=True)


def apply_int16(values, entries):
    """TOSA TABLE int16 (apply_lookup_s, int32) then RESCALE by 1/128 to int16 (SINGLE_ROUND); an
    element that reads an implementation-defined entry gives the outcome of every choice."""
    # Reproduces: TOSA 1.0 TABLE int16 and RESCALE (spec cd5acdd); legalize_tfl.cc int16 LOGISTIC / TANH
    m, s = RESCALE_128
    first = [_choices(e)[0] for e in entries]
    out = tosa.tosa_rescale(tosa.table(values, first, in_type="int16"), m, s, in_type="int32", out_type="int16",
                            rounding_mode="SINGLE_ROUND")

    def one(v, path):
        idx = (v + 32768) >> 7
        if not any(isinstance(entries[i], ImplementationDefined) for i in (idx, idx + 1)):
            return None
        outs = [tosa.tosa_rescale([tosa.apply_lookup_s({idx: a, idx + 1: b}, v)], m, s, in_type="int32",
                                  out_type="int16", rounding_mode="SINGLE_ROUND")[0]
                for a in _choices(entries[idx]) for b in _choices(entries[idx + 1])]
        return resolve(outs, f"TOSA int16 table entry: binary64 exp within {EXP_ULP} ulp")
    picked = nested.map_indexed(values, one)
    return _merge(out, picked)


def _merge(out, picked):
    """``out`` with each element where ``picked`` is not None replaced by it (same nesting)."""
    if isinstance(out, list):
        return [_merge(o, p) for o, p in zip(out, picked)]
    return out if picked is None else picked


def _int8(fn, x, x_scale, x_zp, y_scale, y_zp, dtype):
    if dtype != "int8":
        raise InvalidValueError(f"TOSA {fn} table lowering: dtype {dtype!r}; the int8 lowering takes int8 "
                                "(TFLite uint8 models are rewritten to int8 first)")
    entries = table_int8(fn, x_scale, x_zp, y_scale, y_zp)
    flat_first = elementwise(x, "int8", lambda q: q)      # the input checks (int8 values)
    return apply_int8(flat_first, entries)


def _int16(fn, x, x_scale, x_zp, y_scale, y_zp, dtype):
    if dtype != "int16":
        raise InvalidValueError(f"TOSA {fn} int16 table lowering: dtype {dtype!r}, expected 'int16'")
    quant_params(x_scale, x_zp, y_scale, y_zp, "int16")
    if x_zp != 0 or y_zp != 0:
        raise SpecError(f"TOSA {fn} int16 lowering: zero points {x_zp}, {y_zp} (the legalization needs 0 and 0)")
    return apply_int16(elementwise(x, "int16", lambda q: q), table_int16(fn, x_scale))


def sigmoid_tosa(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int8"):
    """int8 LOGISTIC lowered to TOSA: TABLE with getTosaConst8bitTable(sigmoid_func)."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLLogisticOp (int8); TOSA 1.0 TABLE
    return _int8("sigmoid", x, x_scale, x_zp, y_scale, y_zp, dtype)


def tanh_tosa(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int8"):
    """int8 TANH lowered to TOSA: TABLE with getTosaConst8bitTable(tanh_func)."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLTanhOp (int8); TOSA 1.0 TABLE
    return _int8("tanh", x, x_scale, x_zp, y_scale, y_zp, dtype)


def sigmoid_tosa_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """int16 LOGISTIC lowered to TOSA: TABLE with getTosaConst16bitTable(sigmoid_func), RESCALE 1/128."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLLogisticOp (int16); TOSA 1.0 TABLE, RESCALE
    return _int16("sigmoid", x, x_scale, x_zp, y_scale, y_zp, dtype)


def tanh_tosa_int16(x, x_scale, x_zp, y_scale, y_zp, *, dtype="int16"):
    """int16 TANH lowered to TOSA: TABLE with getTosaConst16bitTable(tanh_func), RESCALE 1/128."""
    # Reproduces: TensorFlow legalize_tfl.cc ConvertTFLTanhOp (int16); TOSA 1.0 TABLE, RESCALE
    return _int16("tanh", x, x_scale, x_zp, y_scale, y_zp, dtype)


VARIANTS = {
    "sigmoid": {"tosa_table": sigmoid_tosa},
    "tanh": {"tosa_table": tanh_tosa},
    "sigmoid_int16": {"tosa_table": sigmoid_tosa_int16},
    "tanh_int16": {"tosa_table": tanh_tosa_int16},
}
