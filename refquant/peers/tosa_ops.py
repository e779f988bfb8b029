"""The tosa-tools reference model running TOSA 1.0 integer operators one graph at a time, and the
``refquant verify tosa`` rows that compare it with refquant/tosa.py (ADD, SUB, MUL, TABLE,
AVG_POOL2D, MAX_POOL2D, REDUCE_SUM, CLAMP, ARITHMETIC_RIGHT_SHIFT, the quantized RESCALE chains).

An outcome is ``("VALID", array)``, ``("ERROR", None)`` (TOSA_ERROR, or the binding's "Invalid
TOSA graph") or ``("UNPREDICTABLE", None)``; ``spec_outcome`` gives refquant's in the same form
(SpecError -> ERROR, Unpredictable -> UNPREDICTABLE).  Measured on tosa-tools 2026.8.0.
"""

import os

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
            outputs, status = self.m.trm.run(bytes(self.ser.serialize()), self.feeds)
        except ValueError as exc:          # the binding's "Invalid TOSA graph": a failed ERROR_IF check
            if "Invalid TOSA graph" in str(exc):
                return ERROR, None
            raise
        name = status.name.replace("TOSA_", "")
        return (name, np.asarray(outputs[0]).astype(np.int64)) if name == VALID else (name, None)


def spec_outcome(fn, *args, **kw):
    """refquant's outcome of fn(*args, **kw) in the model's form."""
    try:
        return VALID, np.asarray(fn(*args, **kw), dtype=np.int64)
    except SpecError:
        return ERROR, None
    except Unpredictable:
        return UNPREDICTABLE, None


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


def pool(m, op, x, kernel, stride, pad, in_type, input_zp=0, output_zp=0, out_hw=None):
    """AVG_POOL2D (zero points as inputs, int32 accumulator) or MAX_POOL2D; out_hw defaults to the
    spec's output size (floor division, so an idiv_check failure still yields a graph)."""
    g = m.graph()
    N, IH, IW, C = np.shape(x)
    if out_hw is None:
        out_hw = ((IH + pad[0] + pad[1] - kernel[0]) // stride[0] + 1, (IW + pad[2] + pad[3] - kernel[1]) // stride[1] + 1)
    ins = [g.input(x, in_type)]
    if op == "AVG_POOL2D":
        ins += [g.const([input_zp], in_type), g.const([output_zp], in_type)]
        attr = lambda t: t.AvgPool2dAttribute(list(kernel), list(stride), list(pad), m.DT["int32"])  # noqa: E731
    else:
        attr = lambda t: t.MaxPool2dAttribute(list(kernel), list(stride), list(pad),  # noqa: E731
                                              m.ts.NanPropagationMode.PROPAGATE)
    g.op(op, ins, [N, *out_hw, C], in_type, attr, out=True)
    return g.run()


def _rescale(m, g, x, ms, in_type, out_type, in_zp, out_zp, mode, shape, out=False):
    ins = [x, g.const([ms[0]], "int32"), g.const([ms[1]], "int8"), g.const([in_zp], in_type),
           g.const([out_zp], out_type)]
    rm = getattr(m.RoundingMode, mode)
    return g.op("RESCALE", ins, shape, out_type, lambda t: t.RescaleAttribute(True, rm, False, False, False), out)


def rescale(m, x, ms, in_type, out_type, in_zp=0, out_zp=0, mode="SINGLE_ROUND"):
    """One scale32 RESCALE of a tensor (the first step of a chain, on its own)."""
    g = m.graph()
    _rescale(m, g, g.input(x, in_type), ms, in_type, out_type, in_zp, out_zp, mode, np.shape(x), out=True)
    return g.run()


def chain(m, op, a, sa, za, b, sb, zb, sy, zy, dtype="int8", mode="SINGLE_ROUND"):
    """The quantized ADD / SUB / MUL chain: RESCALE, RESCALE, the int32 op, RESCALE, with the
    (multiplier, shift) pairs refquant derives (spec.add_chain_scales / mul_chain_scales)."""
    ma, mb, mo = spec.mul_chain_scales(sa, sb, sy) if op == "MUL" else spec.add_chain_scales(sa, sb, sy, dtype)
    g = m.graph()
    shape = np.shape(a)
    ra = _rescale(m, g, g.input(a, dtype), ma, dtype, "int32", za, 0, mode, shape)
    rb = _rescale(m, g, g.input(b, dtype), mb, dtype, "int32", zb, 0, mode, shape)
    ins = [ra, rb] + ([g.const([0], "int8")] if op == "MUL" else [])
    attrs = {"ADD": lambda t: t.AddAttribute(), "SUB": lambda t: t.SubAttribute(), "MUL": lambda t: t.MulAttribute()}
    acc = g.op(op, ins, shape, "int32", attrs[op])
    _rescale(m, g, acc, mo, "int32", dtype, 0, zy, mode, shape, out=True)
    return g.run()
