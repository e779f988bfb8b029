"""The tosa-tools reference model running TOSA 1.0 integer operators one graph at a time, and the
``refquant verify tosa`` rows that compare it with refquant/tosa.py (ADD, SUB, MUL, TABLE,
AVG_POOL2D, MAX_POOL2D, REDUCE_SUM, CLAMP, ARITHMETIC_RIGHT_SHIFT, the quantized RESCALE chains).

An outcome is ``("VALID", array)``, ``("ERROR", None)`` (TOSA_ERROR, or the binding's "Invalid
TOSA graph") or ``("UNPREDICTABLE", None)``; ``spec_outcome`` gives refquant's in the same form
(SpecError -> ERROR, Unpredictable -> UNPREDICTABLE).  Measured on tosa-tools 2026.8.0.
"""

import contextlib
import os
import sys

import numpy as np

from .. import tosa as spec
from ..errors import SpecError, Unpredictable
from .versions import need

VALID, ERROR, UNPREDICTABLE = "VALID", "ERROR", "UNPREDICTABLE"
NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32}


class Model:
    """The reference model's Python binding and the serializer, loaded once."""

    def __init__(self):
        self.ts = need("tosa_serializer", "tosa")
        # Without this the model forks a debugger on every ERROR_IF/REQUIRE (tosa-tools 2026.8.0).
        os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
        self.trm = need("tosa_reference_model", "tosa")
        from tosa.Op import Op
        from tosa.RoundingMode import RoundingMode
        self.Op, self.RoundingMode = Op, RoundingMode
        self.DT = {"int8": self.ts.DType.INT8, "int16": self.ts.DType.INT16, "int32": self.ts.DType.INT32}

    def graph(self):
        return Graph(self)


class Graph:
    """One serialized graph: placeholders fed in order, constants, operators, one output."""

    def __init__(self, model):
        self.m, self.ser, self.feeds = model, model.ts.TosaSerializer(""), []

    def input(self, values, dtype):
        arr = np.asarray(values, dtype=NP[dtype])
        self.feeds.append(arr)
        return self.ser.addPlaceholder(list(arr.shape), self.m.DT[dtype], None).name

    def const(self, values, dtype):
        arr = np.asarray(values, dtype=NP[dtype])
        return self.ser.addConst(list(arr.shape), self.m.DT[dtype], arr).name

    def op(self, name, inputs, shape, dtype, attr, out=False):
        t = (self.ser.addOutput if out else self.ser.addIntermediate)(list(shape), self.m.DT[dtype])
        a = self.m.ts.TosaSerializerAttribute()
        attr(a)
        self.ser.addOperator(getattr(self.m.Op, name), inputs, [t.name], a)
        return t.name

    def run(self):
        try:
            with _quiet():
                outputs, status = self.m.trm.run(bytes(self.ser.serialize()), self.feeds)
        except ValueError as exc:          # the binding's "Invalid TOSA graph": a failed ERROR_IF check
            if "Invalid TOSA graph" in str(exc):
                return ERROR, None
            raise
        name = status.name.replace("TOSA_", "")
        return (name, np.asarray(outputs[0]).astype(np.int64)) if name == VALID else (name, None)


@contextlib.contextmanager
def _quiet():
    """Silence the model's own WARNING / REQUIRE lines (written by C++ to fds 1 and 2)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def spec_outcome(fn, *args, **kw):
    """refquant's outcome of fn(*args, **kw) in the model's form."""
    try:
        return VALID, np.asarray(fn(*args, **kw), dtype=np.int64)
    except SpecError:
        return ERROR, None
    except Unpredictable:
        return UNPREDICTABLE, None


MUL_WRAP = "tosa-tools MUL int32 shift 63: int64 wrap of product + 2^62"


def mul_int64_wrap_model(a, b, shift, in_type="int32"):
    """The model's MUL (tosa-tools 2026.8.0): like the spec, except that product + 2^(shift-1) is
    computed in a wrapping int64, so (-2^31)^2 + 2^62 = 2^63 becomes -2^63 and shift 63 gives -1
    where the exact value is 1 (the deviation named MUL_WRAP; only a = b = -2^31 at shift 63)."""
    def one(x, y):
        if in_type != "int32" or shift == 0:
            return ((x * y + 2**31) % 2**32) - 2**31
        p = ((x * y + (1 << (shift - 1)) + 2**63) % 2**64) - 2**63
        return p >> shift
    return np.vectorize(one, otypes=[np.int64])(np.asarray(a, np.int64), np.asarray(b, np.int64))


def binary(m, op, a, b, dtype, *, shift=None, round=None):
    """ADD / SUB / MUL (int32 output, ``shift`` input) / ARITHMETIC_RIGHT_SHIFT (``round``)."""
    g = m.graph()
    ins = [g.input(a, dtype), g.input(b, dtype)]
    out_dt = "int32" if op == "MUL" else dtype
    if op == "MUL":
        ins.append(g.const([shift], "int8"))
    attrs = {"ADD": lambda t: t.AddAttribute(), "SUB": lambda t: t.SubAttribute(), "MUL": lambda t: t.MulAttribute(),
             "ARITHMETIC_RIGHT_SHIFT": lambda t: t.ArithmeticRightShiftAttribute(bool(round))}
    try:
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:                  # no broadcast: the graph is invalid, any output shape will do
        shape = np.shape(a)
    g.op(op, ins, shape, out_dt, attrs[op], out=True)
    return g.run()


def table(m, values, tab, in_type):
    g = m.graph()
    ins = [g.input(values, in_type), g.const(tab, in_type)]
    g.op("TABLE", ins, np.shape(values), "int8" if in_type == "int8" else "int32", lambda t: t.TableAttribute(),
         out=True)
    return g.run()


def clamp(m, values, lo, hi, dtype):
    g = m.graph()
    raw = (lambda v: list(np.array([v], NP[dtype]).view(np.uint8)))
    nan = m.ts.NanPropagationMode.PROPAGATE
    g.op("CLAMP", [g.input(values, dtype)], np.shape(values), dtype,
         lambda t: t.ClampAttribute(raw(lo), raw(hi), nan), out=True)
    return g.run()


def reduce_sum(m, values, axis):
    g = m.graph()
    shape = list(np.shape(values))
    if 0 <= axis < len(shape):
        shape[axis] = 1
    g.op("REDUCE_SUM", [g.input(values, "int32")], shape, "int32", lambda t: t.ReduceSumAttribute(axis), out=True)
    return g.run()


def pool(m, op, x, kernel, stride, pad, in_type, input_zp=0, output_zp=0, out_hw=None, acc_type="int32"):
    """AVG_POOL2D (zero points as inputs, int32 accumulator) or MAX_POOL2D; out_hw defaults to the
    spec's output size (floor division, so an idiv_check failure still yields a graph)."""
    g = m.graph()
    N, IH, IW, C = np.shape(x)
    if out_hw is None:
        out_hw = ((IH + pad[0] + pad[1] - kernel[0]) // stride[0] + 1, (IW + pad[2] + pad[3] - kernel[1]) // stride[1] + 1)
    ins = [g.input(x, in_type)]
    if op == "AVG_POOL2D":
        ins += [g.const([input_zp], in_type), g.const([output_zp], in_type)]
        attr = lambda t: t.AvgPool2dAttribute(list(kernel), list(stride), list(pad), m.DT[acc_type])  # noqa: E731
    else:
        attr = lambda t: t.MaxPool2dAttribute(list(kernel), list(stride), list(pad),  # noqa: E731
                                              m.ts.NanPropagationMode.PROPAGATE)
    g.op(op, ins, [N, *out_hw, C], in_type, attr, out=True)
    return g.run()


def _step(m, g, x, step, shape, out=False):
    """One ``spec.chain_plan`` step as operators of the graph."""
    if step[0] == "CAST_LSHIFT":
        cast = g.op("CAST", [x], shape, "int32", lambda t: t.CastAttribute())
        amount = g.const(np.full([1] * len(shape), step[1]), "int32")
        return g.op("LOGICAL_LEFT_SHIFT", [cast, amount], shape, "int32", lambda t: t.LogicalLeftShiftAttribute(), out)
    _, mult, shift, in_type, out_type, in_zp, out_zp, mode = step
    ins = [x, g.const([mult], "int32"), g.const([shift], "int8"), g.const([in_zp], in_type), g.const([out_zp], out_type)]
    rm = getattr(m.RoundingMode, mode)
    return g.op("RESCALE", ins, shape, out_type, lambda t: t.RescaleAttribute(True, rm, False, False, False), out)


def rescale(m, x, ms, in_type, out_type, in_zp=0, out_zp=0, mode="SINGLE_ROUND"):
    """One scale32 RESCALE of a tensor (the first step of a chain, on its own)."""
    g = m.graph()
    _step(m, g, g.input(x, in_type), ("RESCALE", *ms, in_type, out_type, in_zp, out_zp, mode), np.shape(x), out=True)
    return g.run()


def chain(m, op, a, sa, za, b, sb, zb, sy, zy, dtype="int8", mode="SINGLE_ROUND"):
    """The quantized ADD / SUB / MUL as the graph of operators refquant's ``chain_plan`` names
    (the same multipliers, shifts and rounding modes), run by the model."""
    plan = spec.chain_plan(op, sa, za, sb, zb, sy, zy, dtype=dtype, rounding_mode=mode)
    g = m.graph()
    shape = np.shape(a)
    xs = [g.input(a, dtype), g.input(b, dtype)]
    for i, key in enumerate("ab"):
        for step in plan[key]:
            xs[i] = _step(m, g, xs[i], step, shape)
    ins = xs + ([g.const([0], "int8")] if op == "MUL" else [])
    attrs = {"ADD": lambda t: t.AddAttribute(), "SUB": lambda t: t.SubAttribute(), "MUL": lambda t: t.MulAttribute()}
    acc = g.op(op, ins, shape, "int32", attrs[op])
    _step(m, g, acc, plan["out"], shape, out=True)
    return g.run()


def _u8_step(m, g, x, in_zp, out_zp, shape, to_unsigned, out=False):
    """The --tosa-convert-tfl-uint8 RESCALE (2^30, 30): uint8 travels as int8 bits, the unsigned
    side's zero point too (the RESCALE flags say how to read them)."""
    ins = [x, g.const([2**30], "int32"), g.const([30], "int8"),
           g.const(np.array([in_zp]).astype(np.uint8).view(np.int8) if not to_unsigned else [in_zp], "int8"),
           g.const(np.array([out_zp]).astype(np.uint8).view(np.int8) if to_unsigned else [out_zp], "int8")]
    rm = m.RoundingMode.SINGLE_ROUND
    return g.op("RESCALE", ins, shape, "int8",
                lambda t: t.RescaleAttribute(True, rm, False, not to_unsigned, to_unsigned), out)


def chain_uint8(m, op, a, sa, za, b, sb, zb, sy, zy, mode="SINGLE_ROUND"):
    """A uint8 ADD / SUB / MUL as TensorFlow's uint8 pass lowers it (refquant.tosa._chain_uint8):
    unsigned RESCALEs in and out around the int8 chain on the int8 types the pass derives
    (refquant's ``uint8_as_int8_type``, modelled from the source, not measured here), run by the model."""
    (sa8, za8), (sb8, zb8), (sy8, zy8) = (spec.uint8_as_int8_type(s_, z_) for s_, z_ in ((sa, za), (sb, zb), (sy, zy)))
    plan = spec.chain_plan(op, sa8, za8, sb8, zb8, sy8, zy8, dtype="int8", rounding_mode=mode)
    g = m.graph()
    shape = np.shape(a)
    xs = [_u8_step(m, g, g.input(np.asarray(v).astype(np.uint8).view(np.int8), "int8"), z, z - 128, shape, False)
          for v, z in ((a, za), (b, zb))]
    for i, key in enumerate("ab"):
        for step in plan[key]:
            xs[i] = _step(m, g, xs[i], step, shape)
    ins = xs + ([g.const([0], "int8")] if op == "MUL" else [])
    attrs = {"ADD": lambda t: t.AddAttribute(), "SUB": lambda t: t.SubAttribute(), "MUL": lambda t: t.MulAttribute()}
    y8 = _step(m, g, g.op(op, ins, shape, "int32", attrs[op]), plan["out"], shape)
    _u8_step(m, g, y8, zy8, zy, shape, True, out=True)
    outcome, y = g.run()
    return outcome, (None if y is None else y.astype(np.int8).view(np.uint8).astype(np.int64))


# ##########################################################################
# refquant verify tosa: one row per operator (outcomes, then the VALID values)
# ##########################################################################

CODES = {VALID: 0, ERROR: 1, UNPREDICTABLE: 2}


def _vals(g, dtype, shape, edge=0.25):
    lo, hi = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-(2**31), 2**31 - 1)}[dtype]
    v = g.integers(lo, hi, shape, endpoint=True)
    mask = g.random(shape) < edge
    return np.where(mask, g.choice([lo, hi, 0, -1, 1], shape), v).tolist()


def _row(backend, op, flag, pairs, deviation=None):
    """judge() over the status codes of every case followed by the values of the cases both call
    VALID.  ``deviation``: (name, the expected VALID arrays under its model, one per pair or None)."""
    from .conformance import judge
    from .versions import known
    got, want, alt = [], [], []
    for (gs, _gv), (ws, _wv) in pairs:
        got.append(CODES[gs])
        want.append(CODES[ws])
    alt = list(want)
    for i, ((gs, gv), (ws, wv)) in enumerate(pairs):
        if gs == ws == VALID:
            got.extend(np.ravel(gv).tolist() if gv.shape == wv.shape else [None])
            want.extend(np.ravel(wv).tolist())
            dv = deviation[1][i] if deviation and deviation[1][i] is not None else wv
            alt.extend(np.ravel(dv).tolist())
    models = [known("tosa", deviation[0], np.array(alt, dtype=object), "tosa_mul_i32")] if deviation else []
    n = [sum(w == c for w in want[:len(pairs)]) for c in CODES.values()]
    flag = f"{flag}; {len(pairs)} graphs V/E/U {n[0]}/{n[1]}/{n[2]}"
    return judge(backend, op, "TOSA 1.0 (refquant/tosa.py)", flag, np.array(got, dtype=object),
                 np.array(want, dtype=object), models)


def _elementwise_pairs(m, g):
    out = {"ADD/SUB": [], "MUL": [], "ARITH_RSHIFT": [], "MUL args": []}
    for i in range(40):
        op = ("ADD", "SUB")[i % 2]
        a, b = _vals(g, "int32", (3, 4), 0.02), _vals(g, "int32", (1, 4) if i % 3 == 0 else (3, 4), 0.02)
        a, b = (np.array(a) // (1 if i % 4 == 0 else 2)).tolist(), (np.array(b) // (1 if i % 4 == 0 else 2)).tolist()
        out["ADD/SUB"].append((binary(m, op, a, b, "int32"), spec_outcome(spec.add if op == "ADD" else spec.sub,
                                                                                   a, b)))
        dtype = ("int8", "int16", "int32", "int32")[i % 4]
        shift = 0 if dtype != "int32" else int(g.choice([0, 1, 15, 31, 32, 62, 63]))
        a, b = _vals(g, dtype, (3, 4)), _vals(g, dtype, (3, 4))
        if i == 3:                                         # (-2^31)^2 at shift 63: the named deviation
            a, b, shift = [[-(2**31), -(2**31), 2**31 - 1]], [[-(2**31), 2**31 - 1, 2**31 - 1]], 63
        out["MUL args"].append((a, b, shift, dtype))
        out["MUL"].append((binary(m, "MUL", a, b, dtype, shift=shift), spec_outcome(spec.mul, a, b, shift,
                                                                                    in_type=dtype)))
        dtype = ("int8", "int16", "int32")[i % 3]
        bits = int(dtype[3:])
        a, s = _vals(g, dtype, (3, 4)), g.integers(0, bits + (i % 5 == 0), (3, 4)).tolist()
        rnd = bool(i % 2)
        out["ARITH_RSHIFT"].append((binary(m, "ARITHMETIC_RIGHT_SHIFT", a, s, dtype, round=rnd),
                                              spec_outcome(spec.arithmetic_right_shift, a, s, round=rnd,
                                                           dtype=dtype)))
    return out


def _other_pairs(m, g):
    out = {"TABLE": [], "CLAMP": [], "REDUCE_SUM": [], "AVG_POOL2D": [], "MAX_POOL2D": []}
    x16 = np.arange(-32768, 32768).reshape(256, 256).tolist()
    tab = np.clip(np.cumsum(g.integers(-300, 300, 513)) + int(g.integers(-9000, 9000)), -32768, 32767).tolist()
    out["TABLE"].append((table(m, x16, tab, "int16"), spec_outcome(spec.table, x16, tab, in_type="int16")))
    tab8, x8 = g.integers(-128, 128, 256).tolist(), [list(range(-128, 128))]
    out["TABLE"].append((table(m, x8, tab8, "int8"), spec_outcome(spec.table, x8, tab8, in_type="int8")))
    for i in range(30):
        dtype = ("int8", "int16")[i % 2]
        lo, hi = sorted(int(v) for v in _vals(g, dtype, (2,), 0.1))
        lo, hi = (hi, lo) if i % 10 == 9 else (lo, hi)
        x = _vals(g, dtype, (4, 5))
        out["CLAMP"].append((clamp(m, x, lo, hi, dtype), spec_outcome(spec.clamp, x, lo, hi, dtype=dtype)))
        x = _vals(g, "int32", (3, 4, 2), 0.02 if i % 3 else 0.6)
        x = (np.array(x) // (2**6 if i % 3 else 1)).tolist()
        axis = i % 4
        out["REDUCE_SUM"].append((reduce_sum(m, x, axis), spec_outcome(spec.reduce_sum, x, axis)))
        _pool_pairs(m, g, i, out)
    return out


def _pool_pairs(m, g, i, out):
    dtype = ("int8", "int8", "int16")[i % 3]
    k = [int(v) for v in g.integers(1, 4, 2)]
    s = [int(v) for v in g.integers(1, 3, 2)]
    p = [int(g.integers(0, k[0])), int(g.integers(0, k[0])), int(g.integers(0, k[1])), int(g.integers(0, k[1]))]
    ih, iw = 3 * s[0] + k[0] - p[0] - p[1], 3 * s[1] + k[1] - p[2] - p[3]
    x = _vals(g, dtype, (1, max(ih, 1), max(iw, 1), 3), 0.3)
    zi, zo = ([int(v) for v in g.integers(-128, 128, 2)] if dtype == "int8" else (0, 0))
    out["AVG_POOL2D"].append((pool(m, "AVG_POOL2D", x, k, s, p, dtype, zi, zo),
                              spec_outcome(spec.avg_pool2d, x, k, s, p, input_zp=zi, output_zp=zo, in_type=dtype)))
    out["MAX_POOL2D"].append((pool(m, "MAX_POOL2D", x, k, s, p, dtype),
                              spec_outcome(spec.max_pool2d, x, k, s, p, in_type=dtype)))


def _chain_pairs(m, g):
    out = {}
    fns = {"ADD": spec.quantized_add, "SUB": spec.quantized_sub, "MUL": spec.quantized_mul}
    for i in range(48):
        op, mode = ("ADD", "SUB", "MUL")[i % 3], ("SINGLE_ROUND", "DOUBLE_ROUND")[i % 2]
        dtype = "int16" if i >= 24 else "int8"
        sc = [float(np.float32(2.0 ** v)) for v in g.uniform(-9, -2, 3)]
        if i % 4 == 0:
            sc = [2.0 ** int(v) for v in g.integers(-9, -2, 3)]          # powers of two: exact ties
        a, b = _vals(g, dtype, (4, 6)), _vals(g, dtype, (4, 6))
        za, zb, zy = (int(v) for v in g.integers(-128, 128, 3)) if dtype == "int8" else (0, 0, 0)
        args = (a, sc[0], za, b, sc[1], zb, sc[2], zy)
        out.setdefault((f"q{op} chain", f"{dtype}, " + mode.split("_")[0].lower() + " round"), []).append(
            (chain(m, op, *args, dtype=dtype, mode=mode), spec_outcome(fns[op], *args, dtype=dtype,
                                                                        rounding_mode=mode)))
    return out


def rows(backend):
    """The ``refquant verify tosa`` rows for the TOSA 1.0 integer operators."""
    from .cases import rng
    m = Model()
    g = rng("tosa-ops")
    found = []
    flags = {"ADD/SUB": "int32", "MUL": "int8/16/32", "ARITH_RSHIFT": "int8/16/32", "TABLE": "int8, int16",
             "CLAMP": "int8/16", "REDUCE_SUM": "int32", "AVG_POOL2D": "int8/16", "MAX_POOL2D": "int8/16"}
    for group in (_elementwise_pairs(m, g), _other_pairs(m, g), _chain_pairs(m, g)):
        mul_args = group.pop("MUL args", None)
        for op, pairs in group.items():
            op, flag = (op, flags[op]) if isinstance(op, str) else op
            dev = None
            if op == "MUL":
                dev = (MUL_WRAP, [mul_int64_wrap_model(*args) if p[1][0] == VALID else None
                                  for args, p in zip(mul_args, pairs)])
            found.append(_row(backend, op, flag, pairs, dev))
    return found
