"""TOSA 1.0 integer operators, element by element: RESCALE, ADD/SUB/MUL, TABLE, AVG_POOL2D,
MAX_POOL2D, REDUCE_SUM, CLAMP, ARITHMETIC_RIGHT_SHIFT, and the RESCALE chains by which quantized
element-wise ops are lowered to TOSA.

Each function follows the operator's pseudo-code in the TOSA 1.0 specification (arm/tosa-specification
cd5acdd, which keeps the v1.0.1 formulas; section names cited per function) and has its three outcomes:
a value (VALID), ``SpecError`` for an ERROR_IF (the graph must be rejected) and ``Unpredictable`` for a
REQUIRE (any result is allowed, so there is none to give).  Arguments outside their types are
``InvalidValueError``.  Tensors are nested lists (NHWC for the pools); zero points are logical values.
docs/ops.md ("TOSA operators") lists what was measured against the tosa-tools 2026.8.0 reference model.

    tosa_rescale([[100, -7]], 2**30, 31, in_type="int8")          # [[50, -3]]
    add([[2**31 - 1]], [[1]])                                      # Unpredictable (apply_add_s REQUIRE)
    quantized_add([5], 0.5, 0, [3], 0.25, 0, 0.5, 0)               # the RESCALE / ADD / RESCALE chain
"""

from fractions import Fraction

from . import fixedpoint as fp
from . import nested
from .errors import InvalidValueError, ShapeError, SpecError, UnknownNameError, Unpredictable
from .integers import get_type
from .ieee import fl32, fl64
from .rounding import half_away

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ##########################################################################
# TOSA RESCALE (the whole operator, element by element)
# ##########################################################################

TOSA_IN_TYPES = ("int8", "int16", "int32", "int48")
TOSA_OUT_TYPES = ("int8", "int16", "int32")


def _spec_error_if(cond, message):
    """TOSA ERROR_IF: the graph must be rejected."""
    if cond:
        raise SpecError(f"TOSA RESCALE ERROR_IF: {message}")


def _tosa_zp_ok(tname, unsigned, zp):
    if tname == "int8":
        return (0 <= zp <= 255) if unsigned else (-128 <= zp <= 127)
    if tname == "int16" and unsigned:
        return zp in (0, 32768)
    return zp == 0


def tosa_rescale_checks(in_type, out_type, in_zp, out_zp, scale32, double_round, per_channel,
                        input_unsigned, output_unsigned, rank):
    """Every RESCALE ERROR_IF of TOSA 1.0 (requant.md §6), raised as SpecError."""
    if in_type not in TOSA_IN_TYPES:
        raise UnknownNameError("TOSA RESCALE input type", in_type, TOSA_IN_TYPES)
    if out_type not in TOSA_OUT_TYPES:
        raise UnknownNameError("TOSA RESCALE output type", out_type, TOSA_OUT_TYPES)
    _spec_error_if(input_unsigned and output_unsigned, "input_unsigned and output_unsigned both set")
    wide = [t for t in (in_type, out_type) if t in ("int32", "int48")]
    _spec_error_if((input_unsigned or output_unsigned) and wide,
                   f"an unsigned flag with {wide[0] if wide else ''} on either side (model: isI32(in) && output_unsigned, ...)")
    _spec_error_if(scale32 and in_type == "int48", "scale32 with int48 input")
    _spec_error_if(not scale32 and double_round, "DOUBLE_ROUND without scale32")
    _spec_error_if(per_channel and rank == 0, "per_channel on a rank-0 tensor")
    _spec_error_if(not _tosa_zp_ok(in_type, input_unsigned, in_zp),
                   f"input zero point {in_zp} not allowed for {'unsigned ' if input_unsigned else ''}{in_type}")
    _spec_error_if(not _tosa_zp_ok(out_type, output_unsigned, out_zp),
                   f"output zero point {out_zp} not allowed for {'unsigned ' if output_unsigned else ''}{out_type}")


TOSA_ROUNDING_MODES = ("SINGLE_ROUND", "DOUBLE_ROUND", "INEXACT_ROUND")


def _tosa_mode(double_round, rounding_mode):
    """The RESCALE rounding_mode from the legacy double_round flag and/or the mode's name."""
    if rounding_mode is None:
        return "DOUBLE_ROUND" if double_round else "SINGLE_ROUND"
    if rounding_mode not in TOSA_ROUNDING_MODES:
        raise UnknownNameError("TOSA RESCALE rounding mode", rounding_mode, TOSA_ROUNDING_MODES)
    if double_round is not None and bool(double_round) != (rounding_mode == "DOUBLE_ROUND"):
        raise InvalidValueError(f"double_round={double_round!r} contradicts rounding_mode={rounding_mode!r}; "
                                "give one of them")
    return rounding_mode


def _tosa_rescale_map(values, multiplier, shift, in_type, out_type, in_zp, out_zp, scale32, mode,
                      per_channel, input_unsigned, output_unsigned, finish):
    """Check a RESCALE and map ``finish(v - in_zp, r, m, s, out_zp, out_t)`` over its elements, where
    r = apply_scale(v - in_zp) + out_zp is the exact SINGLE/DOUBLE_ROUND result before the clip
    (INEXACT_ROUND computes it too: the spec's pseudo-code, and so its REQUIREs, are SINGLE_ROUND's)."""
    shape = nested.shape(values)
    double_round = mode == "DOUBLE_ROUND"
    tosa_rescale_checks(in_type, out_type, in_zp, out_zp, scale32, double_round, per_channel,
                        input_unsigned, output_unsigned, len(shape))
    ms, ss = (list(multiplier), list(shift)) if per_channel else ([multiplier], [shift])
    if per_channel and not (len(ms) == len(ss) == shape[-1]):
        raise ShapeError(f"per-channel RESCALE: {len(ms)} multipliers, {len(ss)} shifts, last dimension {shape[-1]}")
    in_t = get_type(("uint" + in_type[3:]) if input_unsigned else in_type)
    out_t = get_type(("uint" + out_type[3:]) if output_unsigned else out_type)
    m_hi = INT32_MAX if scale32 else 2**15 - 1
    for m in ms:
        if not _is_int(m) or not -m_hi - 1 <= m <= m_hi:
            raise InvalidValueError(f"RESCALE multiplier {m!r} is not an int{32 if scale32 else 16}")

    def one(v, path):
        if not _is_int(v) or not in_t.contains(v):
            raise InvalidValueError(f"RESCALE input {v!r} at {path} is outside {in_t.name}")
        c = path[-1] if per_channel else 0
        x = v - in_zp                                      # in 48 bits: exact
        try:
            if scale32:
                r = fp.apply_scale_32(x, ms[c], ss[c], double_round)
            else:
                r = fp.apply_scale_16(x, ms[c], ss[c])
        except Unpredictable as e:
            raise Unpredictable(f"RESCALE element {path}: {e}") from None
        except InvalidValueError as e:
            raise Unpredictable(f"RESCALE element {path}: {e} (v - in_zp leaves int32)") from None
        r += out_zp
        if not INT32_MIN <= r <= INT32_MAX:
            raise Unpredictable(f"RESCALE element {path}: result + out_zp = {r} overflows int32 (REQUIRE)")
        return finish(x, r, ms[c], ss[c], out_zp, out_t)
    return nested.map_indexed(values, one)


def tosa_rescale(values, multiplier, shift, *, in_type="int32", out_type="int8", in_zp=0, out_zp=0,
                 scale32=True, double_round=None, per_channel=False, input_unsigned=False,
                 output_unsigned=False, rounding_mode=None):
    """TOSA 1.0 RESCALE over a 1-D or nested list; per-channel = the last index.

    multiplier/shift: one int each, or lists (per_channel).  Zero points are the logical values
    (an unsigned int8 zp of 128 is 128, not its stored bits -128).  Values are read in the
    input type's (unsigned) range.  ERROR_IF -> SpecError; REQUIRE -> Unpredictable naming
    the element.  The rounding mode: ``rounding_mode`` ('SINGLE_ROUND' or 'DOUBLE_ROUND') or the
    older ``double_round`` flag.  'INEXACT_ROUND' has no single result -- the spec allows any
    integer of a range -- so it raises InvalidValueError: ask ``tosa_rescale_bounds`` for the range.
    """
    # Reproduces: TOSA 1.0 RESCALE (spec cd5acdd; tosa-tools 2026.8.0 reference model)
    mode = _tosa_mode(double_round, rounding_mode)
    if mode == "INEXACT_ROUND":
        raise InvalidValueError("RESCALE rounding_mode 'INEXACT_ROUND' allows any integer of a range, not one "
                                "value; call tosa_rescale_bounds(...) for the (min, max) of each element")
    return _tosa_rescale_map(values, multiplier, shift, in_type, out_type, in_zp, out_zp, scale32, mode,
                             per_channel, input_unsigned, output_unsigned,
                             lambda x, r, m, s, zp, out_t: min(max(r, out_t.min), out_t.max))


def tosa_rescale_bounds(values, multiplier, shift, *, in_type="int32", out_type="int8", in_zp=0, out_zp=0,
                        scale32=True, per_channel=False, input_unsigned=False, output_unsigned=False):
    """TOSA 1.0 RESCALE with rounding_mode INEXACT_ROUND: the (min, max) allowed for each element.

    A conforming implementation may return any integer q with min <= q <= max (its Precision
    Requirements).  With x = v - in_zp and every step in binary64:
      out_ref = x * m * 2^-shift;  err_bnd = 0.5 + (3|out_ref| + |out_ref + out_zp|) * 2^-24;
      min = clip(ceil(out_ref - err_bnd + out_zp)),  max = clip(floor(out_ref + err_bnd + out_zp)),
    clipped to the output type (the unsigned range when output_unsigned: the spec text writes
    minimum_s/maximum_s, a slip the reference model does not make).  The ERROR_IFs and REQUIREs are
    SINGLE_ROUND's (the pseudo-code computes that), so SINGLE_ROUND's exact result always lies in
    the range.  Returns the values' nesting with a (min, max) tuple per element.
    """
    # Reproduces: TOSA 1.0 RESCALE Precision Requirements, INEXACT_ROUND (spec cd5acdd, EXT-INEXACTROUND)
    return _tosa_rescale_map(values, multiplier, shift, in_type, out_type, in_zp, out_zp, scale32,
                             "INEXACT_ROUND", per_channel, input_unsigned, output_unsigned, _inexact_range)


def _inexact_range(x, r, m, s, zp, out_t):
    """(min, max) of one INEXACT_ROUND element: the spec's binary64 error bound around x*m*2^-s."""
    ref = fl64(fl64(x * m) * Fraction(1, 2**s))
    err = fl64(Fraction(1, 2) + fl64(fl64(fl64(3 * abs(ref)) + abs(fl64(ref + zp))) * Fraction(1, 2**24)))
    lo = _ceil(fl64(fl64(ref - err) + zp))
    hi = _floor(fl64(fl64(ref + err) + zp))
    return (min(max(lo, out_t.min), out_t.max), min(max(hi, out_t.min), out_t.max))


def _floor(x):
    return x.numerator // x.denominator


def _ceil(x):
    return -((-x.numerator) // x.denominator)


# ##########################################################################
# Shared helpers: ERROR_IF / REQUIRE, element types, broadcasting
# ##########################################################################

def _error_if(op, cond, message):
    """TOSA ERROR_IF of operator ``op``: the graph must be rejected."""
    if cond:
        raise SpecError(f"TOSA {op} ERROR_IF: {message}")


def _require(op, cond, message):
    """TOSA REQUIRE of operator ``op``: the result is unpredictable."""
    if not cond:
        raise Unpredictable(f"TOSA {op} REQUIRE: {message}")


def _itype(op, name, allowed):
    if name not in allowed:
        raise UnknownNameError(f"TOSA {op} type", name, allowed)
    return get_type(name)


def _checked(op, x, t, what="input"):
    """Every element of ``x`` is an int of type ``t`` (InvalidValueError naming the first that is not)."""
    def one(v, path):
        if not _is_int(v) or not t.contains(v):
            raise InvalidValueError(f"TOSA {op} {what} {v!r} at {path} is outside {t.name}")
        return v
    return nested.map_indexed(x, one)


def _broadcast(op, a, b, fn):
    """fn(x, y, index) over the broadcast of a and b (TOSA broadcast_shape: equal ranks, each
    dimension equal or 1; anything else is the operator's ERROR_IF)."""
    sa, sb = nested.shape(a), nested.shape(b)
    _error_if(op, len(sa) != len(sb), f"input ranks {len(sa)} and {len(sb)} differ (shapes {sa}, {sb})")
    for x, y in zip(sa, sb):
        _error_if(op, x != y and 1 not in (x, y), f"shapes {sa} and {sb} do not broadcast")

    def walk(x, y, depth, path):
        if depth == len(sa):
            return fn(x, y, path)
        n = max(len(x), len(y))
        return [walk(x[0 if len(x) == 1 else i], y[0 if len(y) == 1 else i], depth + 1, path + (i,))
                for i in range(n)]
    return walk(a, b, 0, ())


def apply_add_s(op, a, b, t, where=""):
    """TOSA apply_add_s on type t: a + b, REQUIRE that it fits t (else Unpredictable)."""
    # Reproduces: TOSA 1.0 Pseudocode, Arithmetic Helpers, apply_add_s (spec cd5acdd)
    c = a + b
    _require(op, t.min <= c <= t.max, f"{a} + {b} = {c} overflows {t.name}{where}")
    return c


def apply_sub_s(op, a, b, t, where=""):
    """TOSA apply_sub_s on type t: a - b, REQUIRE that it fits t (else Unpredictable)."""
    # Reproduces: TOSA 1.0 Pseudocode, Arithmetic Helpers, apply_sub_s (spec cd5acdd)
    c = a - b
    _require(op, t.min <= c <= t.max, f"{a} - {b} = {c} overflows {t.name}{where}")
    return c


# ##########################################################################
# Element-wise binary: ADD, SUB, MUL, ARITHMETIC_RIGHT_SHIFT
# ##########################################################################

def add(a, b, *, dtype="int32"):
    """TOSA ADD on int32 tensors (broadcast): apply_add_s per element; an overflow is REQUIRE."""
    # Reproduces: TOSA 1.0 §Elementwise Binary Operators, ADD (spec cd5acdd)
    t = _itype("ADD", dtype, ("int32",))
    a, b = _checked("ADD", a, t, "input1"), _checked("ADD", b, t, "input2")
    return _broadcast("ADD", a, b, lambda x, y, i: apply_add_s("ADD", x, y, t, f" at {i}"))


def sub(a, b, *, dtype="int32"):
    """TOSA SUB on int32 tensors (broadcast): apply_sub_s per element; an overflow is REQUIRE."""
    # Reproduces: TOSA 1.0 §Elementwise Binary Operators, SUB (spec cd5acdd)
    t = _itype("SUB", dtype, ("int32",))
    a, b = _checked("SUB", a, t, "input1"), _checked("SUB", b, t, "input2")
    return _broadcast("SUB", a, b, lambda x, y, i: apply_sub_s("SUB", x, y, t, f" at {i}"))


def mul(a, b, shift=0, *, in_type="int32"):
    """TOSA MUL: int8 x int8, int16 x int16 or int32 x int32 -> int32 (broadcast).

    int32 with shift > 0: the 64-bit product, + 2^(shift-1), arithmetic >> shift (ties toward
    +inf), REQUIRE the result in int32.  Otherwise the low 32 bits of the product (int32 with
    shift 0 wraps; int8/int16 products always fit).  REQUIRE 0 <= shift <= 63, and shift == 0
    unless in_type is int32.
    """
    # Reproduces: TOSA 1.0 §Elementwise Binary Operators, MUL (spec cd5acdd)
    t = _itype("MUL", in_type, ("int8", "int16", "int32"))
    if not _is_int(shift) or not -128 <= shift <= 127:
        raise InvalidValueError(f"TOSA MUL shift {shift!r} is not an int8")
    _require("MUL", 0 <= shift <= 63, f"0 <= shift <= 63 violated: shift = {shift}")
    _require("MUL", in_type == "int32" or shift == 0, f"shift = {shift} with {in_type} inputs (must be 0)")
    a, b = _checked("MUL", a, t, "input1"), _checked("MUL", b, t, "input2")

    def one(x, y, i):
        p = x * y
        if in_type == "int32" and shift > 0:
            p = (p + (1 << (shift - 1))) >> shift
            _require("MUL", INT32_MIN <= p <= INT32_MAX, f"(product + round) >> {shift} = {p} at {i} overflows int32")
            return p
        return ((p + 2**31) % 2**32) - 2**31
    return _broadcast("MUL", a, b, one)


def arithmetic_right_shift(a, b, *, round=False, dtype="int32"):
    """TOSA ARITHMETIC_RIGHT_SHIFT: a >> b (floor), plus 1 when ``round`` and bit b-1 of a is set
    (so ties go toward +inf).  REQUIRE 0 <= b < width of the type."""
    # Reproduces: TOSA 1.0 §Elementwise Binary Operators, ARITHMETIC_RIGHT_SHIFT (spec cd5acdd)
    t = _itype("ARITHMETIC_RIGHT_SHIFT", dtype, ("int8", "int16", "int32"))
    if not isinstance(round, bool):
        raise InvalidValueError(f"TOSA ARITHMETIC_RIGHT_SHIFT round must be a bool, got {round!r}")
    a = _checked("ARITHMETIC_RIGHT_SHIFT", a, t, "input1")
    b = _checked("ARITHMETIC_RIGHT_SHIFT", b, t, "input2")

    def one(x, s, i):
        _require("ARITHMETIC_RIGHT_SHIFT", 0 <= s < t.bits, f"0 <= shift < {t.bits} violated: shift = {s} at {i}")
        r = x >> s
        if round and s > 0 and (x >> (s - 1)) & 1:
            r += 1
        return r
    return _broadcast("ARITHMETIC_RIGHT_SHIFT", a, b, one)


# ##########################################################################
# TABLE, CLAMP
# ##########################################################################

def apply_lookup_s(table, value):
    """TOSA apply_lookup_s: a 513-entry int16 table read as 9.7 fixed point, interpolated to 16.7
    bits.  REQUIRE |table[i+1] - table[i]| fits int16."""
    # Reproduces: TOSA 1.0 §Introduction, General Unary Functions, apply_lookup_s (spec cd5acdd)
    v = min(max(value, -32768), 32767)
    index, fraction = (v + 32768) >> 7, v & 0x7F
    base, nxt = table[index], table[index + 1]
    slope = nxt - base
    _require("TABLE", -32768 <= slope <= 32767, f"slope table[{index + 1}] - table[{index}] = {slope} outside int16")
    return (base << 7) + slope * fraction


def table(values, table, *, in_type="int8"):
    """TOSA TABLE.  int8: a 256-entry int8 table, result table[v + 128].  int16: a 513-entry int16
    table, result apply_lookup_s(table, v) as int32.  A table of the wrong length is REQUIRE."""
    # Reproduces: TOSA 1.0 §Elementwise Binary Operators, TABLE (spec cd5acdd)
    t = _itype("TABLE", in_type, ("int8", "int16"))
    size = 256 if in_type == "int8" else 513
    if not isinstance(table, (list, tuple)):
        raise InvalidValueError(f"TOSA TABLE table must be a list of {t.name}, got {type(table).__name__}")
    _require("TABLE", len(table) == size, f"length(table) == {size} violated: {len(table)} entries")
    _checked("TABLE", list(table), t, "table entry")
    values = _checked("TABLE", values, t)
    if in_type == "int8":
        return nested.map_indexed(values, lambda v, p: table[v + 128])
    return nested.map_indexed(values, lambda v, p: apply_lookup_s(table, v))


def clamp(values, min_val, max_val, *, dtype="int8"):
    """TOSA CLAMP on int8/int16: min(max(v, min_val), max_val); ERROR_IF max_val < min_val."""
    # Reproduces: TOSA 1.0 §Activation Functions, CLAMP (spec cd5acdd)
    t = _itype("CLAMP", dtype, ("int8", "int16"))
    for name, v in (("min_val", min_val), ("max_val", max_val)):
        if not _is_int(v) or not t.contains(v):
            raise InvalidValueError(f"TOSA CLAMP {name} {v!r} is outside {t.name}")
    _error_if("CLAMP", max_val < min_val, f"max_val {max_val} < min_val {min_val}")
    return nested.map_indexed(_checked("CLAMP", values, t), lambda v, p: min(max(v, min_val), max_val))


# ##########################################################################
# REDUCE_SUM
# ##########################################################################

def reduce_sum(values, axis, *, dtype="int32"):
    """TOSA REDUCE_SUM on int32: the sum along ``axis`` (kept as size 1), accumulated with
    apply_add_s in ascending index order, so a partial-sum overflow is REQUIRE."""
    # Reproduces: TOSA 1.0 §Reduction Operators, REDUCE_SUM (spec cd5acdd)
    t = _itype("REDUCE_SUM", dtype, ("int32",))
    values = _checked("REDUCE_SUM", values, t)
    rank = len(nested.shape(values))
    _error_if("REDUCE_SUM", not _is_int(axis) or not 0 <= axis < rank, f"axis {axis!r} outside [0, {rank})")
    return _reduce(values, axis, t)


def _reduce(x, axis, t, path=()):
    if axis > 0:
        return [_reduce(v, axis - 1, t, path + (i,)) for i, v in enumerate(x)]
    return [_sum_slices(x, t, path)]


def _sum_slices(slices, t, path):
    """Element-wise apply_add_s over equal-shaped slices, ascending."""
    if not slices:
        raise ShapeError(f"TOSA REDUCE_SUM: the reduced axis is empty at {path}")
    def add_into(acc, v, p):
        if isinstance(v, list):
            return [add_into(a, w, p + (j,)) for j, (a, w) in enumerate(zip(acc, v))]
        return apply_add_s("REDUCE_SUM", acc, v, t, f" at {p}")
    acc = nested.map_indexed(slices[0], lambda v, p: 0)
    for i, s in enumerate(slices):
        acc = add_into(acc, s, path + (i,))
    return acc


# ##########################################################################
# AVG_POOL2D, MAX_POOL2D (NHWC)
# ##########################################################################

def reciprocal_scale(count):
    """TOSA reciprocal_scale: (multiplier, shift) with multiplier * 2^-shift just above 1/count:
    k = bit length of count - 1, multiplier = floor((2^30 + 1) * 2^k / count), shift = 30 + k."""
    # Reproduces: TOSA 1.0 Pseudocode, Scale Helpers, reciprocal_scale (spec cd5acdd)
    _require("AVG_POOL2D", _is_int(count) and count > 0, f"reciprocal_scale of {count!r} (must be > 0)")
    k = (count - 1).bit_length()                         # 2^k / 2 < count <= 2^k
    return ((2**30 + 1) << k) // count, 30 + k


def _pool_geometry(op, x, kernel, stride, pad):
    """Check a pool's attributes (every ERROR_IF of AVG_POOL2D / MAX_POOL2D) and return (N, IH, IW,
    C, OH, OW).  pad = [top, bottom, left, right] as in TOSA."""
    shape = nested.shape(x)
    if len(shape) != 4:
        raise ShapeError(f"TOSA {op} input must be rank 4 (NHWC), got shape {shape}")
    for name, v, n in (("kernel", kernel, 2), ("stride", stride, 2), ("pad", pad, 4)):
        if not isinstance(v, (list, tuple)) or len(v) != n or not all(_is_int(e) for e in v):
            raise InvalidValueError(f"TOSA {op} {name} must be {n} ints, got {v!r}")
    (ky, kx), (sy, sx), (pt, pb, pl, pr) = kernel, stride, pad
    _error_if(op, ky < 1 or kx < 1, f"kernel {list(kernel)} has a size < 1")
    _error_if(op, sy < 1 or sx < 1, f"stride {list(stride)} has a step < 1")
    _error_if(op, min(pad) < 0, f"pad {list(pad)} has a negative entry")
    _error_if(op, pr >= kx or pl >= kx, f"pad left/right {pl}/{pr} not below kernel width {kx}")
    _error_if(op, pt >= ky or pb >= ky, f"pad top/bottom {pt}/{pb} not below kernel height {ky}")
    N, IH, IW, C = shape
    dh, dw = IH + pt + pb - ky, IW + pl + pr - kx
    _error_if(op, dh % sy != 0, f"idiv_check: IH + pad_top + pad_bottom - kernel_y = {dh} not a multiple of {sy}")
    _error_if(op, dw % sx != 0, f"idiv_check: IW + pad_left + pad_right - kernel_x = {dw} not a multiple of {sx}")
    return N, IH, IW, C, dh // sy + 1, dw // sx + 1


def _pool(op, x, kernel, stride, pad, window):
    """window(taps, (n, oy, ox, c)) over every output position; taps are the in-bounds inputs,
    (ky, kx) ascending (padding is never read)."""
    N, IH, IW, C, OH, OW = _pool_geometry(op, x, kernel, stride, pad)
    (ky, kx), (sy, sx), (pt, _, pl, _) = kernel, stride, pad

    def taps(n, oy, ox, c):
        iy, ix = oy * sy - pt, ox * sx - pl
        return [x[n][iy + dy][ix + dx][c] for dy in range(ky) for dx in range(kx)
                if 0 <= iy + dy < IH and 0 <= ix + dx < IW]
    return [[[[window(taps(n, oy, ox, c), (n, oy, ox, c)) for c in range(C)] for ox in range(OW)]
             for oy in range(OH)] for n in range(N)]


def avg_pool2d(x, kernel, stride, pad, *, input_zp=0, output_zp=0, in_type="int8", acc_type="int32"):
    """TOSA AVG_POOL2D, int8 or int16 with an int32 accumulator.

    ``acc_type``: int32, the only accumulator the spec's data-type table lists for integer inputs;
    any other is an invalid graph (ERROR_IF).

    acc = sum of (v - input_zp) over the in-bounds taps (padding does not count), then
    apply_scale_32(acc, reciprocal_scale(count), SINGLE_ROUND) + output_zp, clipped to the type.
    So the average rounds half toward +inf through a multiplier slightly above 1/count.
    ERROR_IF: a zero point on int16, kernel/stride < 1, negative pad or pad >= kernel, an output
    size that idiv_check rejects.
    """
    # Reproduces: TOSA 1.0 §Tensor Operators, AVG_POOL2D (spec cd5acdd)
    t = _itype("AVG_POOL2D", in_type, ("int8", "int16"))
    acc_t = get_type("int32")
    _error_if("AVG_POOL2D", acc_type != "int32", f"acc_type {acc_type!r} with {in_type} (the integer profiles list int32)")
    _error_if("AVG_POOL2D", in_type != "int8" and input_zp != 0, f"input_zp {input_zp} with {in_type}")
    _error_if("AVG_POOL2D", in_type != "int8" and output_zp != 0, f"output_zp {output_zp} with {in_type}")
    for name, zp in (("input_zp", input_zp), ("output_zp", output_zp)):
        if not _is_int(zp) or not t.contains(zp):
            raise InvalidValueError(f"TOSA AVG_POOL2D {name} {zp!r} is outside {t.name}")
    x = _checked("AVG_POOL2D", x, t)

    def window(vals, at):
        acc = 0
        for v in vals:
            acc = apply_add_s("AVG_POOL2D", acc, apply_sub_s("AVG_POOL2D", v, input_zp, acc_t), acc_t, f" at {at}")
        m, s = reciprocal_scale(len(vals))
        try:
            acc = fp.apply_scale_32(acc, m, s, False)
        except Unpredictable as e:
            raise Unpredictable(f"TOSA AVG_POOL2D at {at}: {e}") from None
        acc = apply_add_s("AVG_POOL2D", acc, output_zp, acc_t, f" at {at}")
        return min(max(acc, t.min), t.max)
    return _pool("AVG_POOL2D", x, kernel, stride, pad, window)


def max_pool2d(x, kernel, stride, pad, *, in_type="int8"):
    """TOSA MAX_POOL2D on int8/int16: the largest in-bounds tap (padding is never read); the same
    ERROR_IFs as AVG_POOL2D's geometry."""
    # Reproduces: TOSA 1.0 §Tensor Operators, MAX_POOL2D (spec cd5acdd)
    t = _itype("MAX_POOL2D", in_type, ("int8", "int16"))
    x = _checked("MAX_POOL2D", x, t)
    return _pool("MAX_POOL2D", x, kernel, stride, pad, lambda vals, at: max([t.min] + vals))


# ##########################################################################
# Quantized element-wise ops lowered to TOSA: RESCALE -> int32 op -> RESCALE
# ##########################################################################

def _scale(real, op):
    """(multiplier, shift) of a binary64 scale, as the TOSA legalizations encode it (scale32)."""
    try:
        return fp.tosa_scale_from_real(real, scale32=True)
    except InvalidValueError as e:
        raise InvalidValueError(f"quantized {op} lowered to TOSA: {e}") from None


def _scales(*scales):
    for s in scales:
        if isinstance(s, bool) or not isinstance(s, (int, float, Fraction)) or not s > 0 or s == float("inf"):
            raise InvalidValueError(f"scale {s!r} must be a positive finite number")
    return [Fraction(s) for s in scales]


def _rescale_step(real, op, in_type, out_type, in_zp, out_zp, mode):
    m, s = _scale(real, op)
    return ("RESCALE", m, s, in_type, out_type, in_zp, out_zp, mode)


def add_chain_scales(sa, sb, sy, dtype="int8"):
    """The binary64 scales of a quantized ADD/SUB lowered to TOSA: L = 20 (15 for int16), the
    common scale 2*max(sa, sb); returns (ratio_a, ratio_b, out) with ratio_i = fl64(s_i / (2 max))
    (the inputs are scaled by ratio_i * 2^L) and out = fl64(2 max / (sy * 2^L))."""
    # Reproduces: TensorFlow compiler/mlir/tosa/transforms/legalize_tfl.cc matchAndRewriteAddSub (TFLite add.cc)
    sa, sb, sy = _scales(sa, sb, sy)
    shift = 15 if dtype == "int16" else 20
    max2 = 2 * max(sa, sb)
    return fl64(sa / max2), fl64(sb / max2), fl64(max2 / (sy * 2**shift))


def chain_plan(op, sa, za, sb, zb, sy, zy, *, dtype="int8", rounding_mode="SINGLE_ROUND"):
    """The TOSA operators a quantized ADD / SUB / MUL is lowered to, as TensorFlow's TFLite-to-TOSA
    legalization builds them: {"a": steps, "b": steps, "op": op, "out": step}, a step being
    ("RESCALE", multiplier, shift, in_type, out_type, in_zp, out_zp, rounding_mode) or
    ("CAST_LSHIFT", L) (int16 CAST then LOGICAL_LEFT_SHIFT by L: x * 2^L).

    ADD/SUB, SINGLE_ROUND (the TFLITE_SINGLE_ROUNDING build): each input one RESCALE by
    ratio_i * 2^L.  DOUBLE_ROUND (the default build): an input whose ratio is 0.5 likewise; any
    other first * 2^L (int8: a RESCALE by 2^L taking the zero point; int16: CAST_LSHIFT), then a
    RESCALE by ratio_i.  The output RESCALE by ``out`` in the same mode.  MUL: each input a RESCALE
    by 1.0 taking its zero point, MUL (shift 0), and the output RESCALE by fl32(fl32(sa*sb)/sy)
    (the scales read as binary32) in DOUBLE_ROUND whatever the build (as the source writes it).
    """
    # Reproduces: TensorFlow compiler/mlir/tosa/transforms legalize_tfl.cc matchAndRewriteAddSub,
    # legalize_common.cc convertMultiplyOp, legalize_utils.cc buildRescale (TensorFlow master, 2025)
    _itype(str(op), dtype, ("int8", "int16"))
    if rounding_mode not in ("SINGLE_ROUND", "DOUBLE_ROUND"):
        raise UnknownNameError("chain rounding mode", rounding_mode, ("SINGLE_ROUND", "DOUBLE_ROUND"))
    _spec_error_if(dtype == "int16" and (za, zb, zy) != (0, 0, 0),
                   f"zero points {(za, zb, zy)} with int16 (an int16 zero point must be 0)")
    if op == "MUL":
        sa, sb, sy = (fl32(v) for v in _scales(sa, sb, sy))
        ins = [[_rescale_step(1, op, dtype, "int32", z, 0, rounding_mode)] for z in (za, zb)]
        out = _rescale_step(fl32(fl32(sa * sb) / sy), op, "int32", dtype, 0, zy, "DOUBLE_ROUND")
        return {"a": ins[0], "b": ins[1], "op": op, "out": out}
    if op not in ("ADD", "SUB"):
        raise UnknownNameError("quantized op lowered to TOSA", op, ("ADD", "SUB", "MUL"))
    ra, rb, ro = add_chain_scales(sa, sb, sy, dtype)
    L = 15 if dtype == "int16" else 20
    ins = []
    for r, z in ((ra, za), (rb, zb)):
        if rounding_mode == "SINGLE_ROUND" or r == Fraction(1, 2):
            ins.append([_rescale_step(r * 2**L, op, dtype, "int32", z, 0, rounding_mode)])
        else:
            first = ("CAST_LSHIFT", L) if dtype == "int16" else _rescale_step(2**L, op, dtype, "int32", z, 0,
                                                                              rounding_mode)
            ins.append([first, _rescale_step(r, op, "int32", "int32", 0, 0, rounding_mode)])
    return {"a": ins[0], "b": ins[1], "op": op, "out": _rescale_step(ro, op, "int32", dtype, 0, zy, rounding_mode)}


def run_step(x, step):
    """One step of a ``chain_plan`` on a tensor, through refquant's own operators."""
    # Reproduces: TOSA 1.0 RESCALE; CAST int16 -> int32 and LOGICAL_LEFT_SHIFT (exact here: |x| * 2^15 < 2^31)
    if step[0] == "CAST_LSHIFT":
        return nested.map_indexed(_checked("CAST", x, get_type("int16")), lambda v, p: v * 2 ** step[1])
    _, m, s, in_type, out_type, in_zp, out_zp, mode = step
    return tosa_rescale(x, m, s, in_type=in_type, out_type=out_type, in_zp=in_zp, out_zp=out_zp, rounding_mode=mode)


def uint8_as_int8_type(scale, zp, narrow=False):
    """(scale', zp') of the int8 type that TensorFlow's ``--tosa-convert-tfl-uint8`` pass gives a
    uint8 tensor (scale, zp): its real range [(qmin_u8 - zp)*scale, (255 - zp)*scale] in binary64,
    re-quantized to int8 by MLIR's fakeQuantAttrsToType: scale' = fl64(width / 255) (254 narrow),
    the zero point from whichever end adds the smaller error, clamped, C round() (ties away).
    scale' may differ from scale in the last bits; zp' is normally zp - 128."""
    # Reproduces: TensorFlow compiler/mlir/tosa/transforms/convert_tfl_uint8.cc (buildQTypeFromMinMax);
    # MLIR quant FakeQuantSupport.cpp getNudgedScaleAndZeroPoint / fakeQuantAttrsToType
    (s,) = _scales(scale)
    lo_u8, qmin, qmax = (1, -127, 127) if narrow else (0, -128, 127)
    rmin, rmax = fl64((lo_u8 - zp) * s), fl64((255 - zp) * s)
    width = fl64(rmax - rmin)
    if abs(width) < Fraction(1, 2**52):        # DBL_EPSILON: an all-zero range
        return Fraction(1), qmin
    s8 = fl64(width / (qmax - qmin))
    q_lo, q_hi = fl64(rmin / s8), fl64(rmax / s8)
    from_min, err_min = fl64(qmin - q_lo), fl64(abs(qmin) + abs(q_lo))
    from_max, err_max = fl64(qmax - q_hi), fl64(abs(qmax) + abs(q_hi))
    z = from_min if err_min < err_max else from_max
    return s8, (qmin if z < qmin else qmax if z > qmax else half_away(z))


def _u8_rescale(x, in_zp, out_zp, to_unsigned):
    """The pass's RESCALE between uint8 and int8: multiplier 2^30, shift 30, scale32, no double round."""
    return tosa_rescale(x, 2**30, 30, in_type="int8", out_type="int8", in_zp=in_zp, out_zp=out_zp,
                        input_unsigned=not to_unsigned, output_unsigned=to_unsigned, rounding_mode="SINGLE_ROUND")


def _chain_uint8(op, a, sa, za, b, sb, zb, sy, zy, rounding_mode):
    """A uint8 ADD / SUB / MUL through ``--tosa-convert-tfl-uint8``: each input RESCALEd to int8
    (value - 128, zero point zp - 128), the int8 chain on the re-derived int8 types, and the
    output RESCALEd back to uint8, which the pass allows only when the output's int8 type has the
    same scale and a zero point 128 below (otherwise it fails: SpecError)."""
    (sa8, za8), (sb8, zb8), (sy8, zy8) = (uint8_as_int8_type(s_, z_) for s_, z_ in ((sa, za), (sb, zb), (sy, zy)))
    _spec_error_if(sy8 != Fraction(sy) or zy - zy8 != 128,
                   f"convert_uint8_to_int8: the output's int8 type (scale {float(sy8)!r}, zp {zy8}) is not "
                   f"(scale {sy!r}, zp {zy} - 128): the pass reports 'scale mismatch at the output tensors'")
    a8, b8 = _u8_rescale(a, za, za - 128, False), _u8_rescale(b, zb, zb - 128, False)
    y8 = _chain(op, a8, sa8, za8, b8, sb8, zb8, sy8, zy8, "int8", rounding_mode)
    return _u8_rescale(y8, zy8, zy, True)


def _chain(op, a, sa, za, b, sb, zb, sy, zy, dtype, rounding_mode):
    if dtype == "uint8":
        return _chain_uint8(op, a, sa, za, b, sb, zb, sy, zy, rounding_mode)
    plan = chain_plan(op, sa, za, sb, zb, sy, zy, dtype=dtype, rounding_mode=rounding_mode)
    for step in plan["a"]:
        a = run_step(a, step)
    for step in plan["b"]:
        b = run_step(b, step)
    acc = {"ADD": add, "SUB": sub}[op](a, b) if op != "MUL" else mul(a, b, 0)
    return run_step(acc, plan["out"])


def quantized_add(a, sa, za, b, sb, zb, sy, zy, *, dtype="int8", rounding_mode="SINGLE_ROUND"):
    """A quantized ADD lowered to TOSA (``chain_plan``): the inputs RESCALEd to int32 into the common
    scale 2*max(sa, sb) with a left shift of 20 (15 for int16), ADD int32, RESCALE out.  The
    outcomes are the operators' (SpecError, Unpredictable, a value)."""
    # Reproduces: TOSA 1.0 §Quantization, Integer Elementwise Operators; TensorFlow legalize_tfl.cc (chain_plan)
    return _chain("ADD", a, sa, za, b, sb, zb, sy, zy, dtype, rounding_mode)


def quantized_sub(a, sa, za, b, sb, zb, sy, zy, *, dtype="int8", rounding_mode="SINGLE_ROUND"):
    """A quantized SUB lowered to TOSA: ``quantized_add`` with SUB in the middle."""
    # Reproduces: TOSA 1.0 §Quantization, Integer Elementwise Operators; TensorFlow legalize_tfl.cc (chain_plan)
    return _chain("SUB", a, sa, za, b, sb, zb, sy, zy, dtype, rounding_mode)


def quantized_mul(a, sa, za, b, sb, zb, sy, zy, *, dtype="int8", rounding_mode="SINGLE_ROUND"):
    """A quantized MUL lowered to TOSA (``chain_plan``): each input RESCALEd to int32 by 1.0 (removing
    its zero point), MUL int32 with shift 0, RESCALE out by fl32(fl32(sa*sb)/sy) in DOUBLE_ROUND."""
    # Reproduces: TOSA 1.0 §Quantization, Integer Elementwise Operators; TensorFlow legalize_common.cc (chain_plan)
    return _chain("MUL", a, sa, za, b, sb, zb, sy, zy, dtype, rounding_mode)


def _mode(mode):
    def bind(fn):
        def variant(*args, **kw):
            return fn(*args, rounding_mode=mode, **kw)
        variant.__name__ = f"{fn.__name__}_{mode.lower()}"
        variant.__doc__ = f"{fn.__name__} as lowered by the {mode} build (chain_plan; TOSA 1.0 operators)."
        return variant
    return bind


# op -> {variant: function}.  add/sub/mul take the arguments of qops.add/sub/mul (a, sa, za, b, sb,
# zb, sy, zy; int8/int16 only) and have one variant per RESCALE rounding mode (the ``tosa`` and
# ``tosa_double_round`` backend rows).  The TOSA operators themselves (their own arguments, hence
# the ``tosa_`` op names) have one variant: the spec's.
VARIANTS = {
    "add": {"tosa_single": _mode("SINGLE_ROUND")(quantized_add), "tosa_double": _mode("DOUBLE_ROUND")(quantized_add)},
    "sub": {"tosa_single": _mode("SINGLE_ROUND")(quantized_sub), "tosa_double": _mode("DOUBLE_ROUND")(quantized_sub)},
    "mul": {"tosa_single": _mode("SINGLE_ROUND")(quantized_mul), "tosa_double": _mode("DOUBLE_ROUND")(quantized_mul)},
    "tosa_add_i32": {"tosa": add},
    "tosa_sub_i32": {"tosa": sub},
    "tosa_mul_i32": {"tosa": mul},
    "tosa_table": {"tosa": table},
    "tosa_avg_pool2d": {"tosa": avg_pool2d},
    "tosa_max_pool2d": {"tosa": max_pool2d},
    "tosa_reduce_sum": {"tosa": reduce_sum},
    "tosa_clamp": {"tosa": clamp},
    "tosa_arithmetic_right_shift": {"tosa": arithmetic_right_shift},
}
