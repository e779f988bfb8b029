"""The TOSA reference model (tosa-tools) as a peer: RESCALE (SINGLE_ROUND / DOUBLE_ROUND) and
MATMUL with zero points, against the oracle's TOSA 1.0 methods, and the integer operators of
refquant/tosa.py (rows from tosa_ops.py, which holds the model of the one named deviation)."""

import os

import numpy as np

from .. import requant as rq
from .cases import mm_case, oracle_acc, rng
from .conformance import judge
from .versions import need

BACKEND = "tosa reference model"


def backend_tosa():
    ts = need("tosa_serializer", "tosa")
    # Without this the model forks a debugger on every ERROR_IF/REQUIRE; beside onnxruntime's
    # threads that fork can deadlock (seen with tosa-tools 2026.8.0).
    os.environ.setdefault("TOSA_MODEL_NO_BACKTRACE", "1")
    trm = need("tosa_reference_model", "tosa")
    from tosa.Op import Op
    from tosa.RoundingMode import RoundingMode
    from . import tosa_ops
    return _rescale_rows(ts, trm, Op, RoundingMode) + _matmul_rows(ts, trm, Op) + tosa_ops.rows(BACKEND)


def _result(trm, ser, inputs, shape=None):
    outputs, status = trm.run(bytes(ser.serialize()), inputs)
    if status.name != "TOSA_VALID":
        return RuntimeError(f"reference model status {status.name}")
    y = np.asarray(outputs[0])
    return (y.reshape(shape) if shape else y).astype(np.int64)


def _rescale(ts, trm, Op, RoundingMode, vals, m, s, double):
    ser = ts.TosaSerializer("")
    x = ser.addPlaceholder(list(vals.shape), ts.DType.INT32, None)
    mult = ser.addConst([1], ts.DType.INT32, np.array([m], np.int32))
    shift = ser.addConst([1], ts.DType.INT8, np.array([s], np.int8))
    izp = ser.addConst([1], ts.DType.INT32, np.array([0], np.int32))
    ozp = ser.addConst([1], ts.DType.INT8, np.array([0], np.int8))
    out = ser.addOutput(list(vals.shape), ts.DType.INT8)
    attr = ts.TosaSerializerAttribute()
    attr.RescaleAttribute(True, RoundingMode.DOUBLE_ROUND if double else RoundingMode.SINGLE_ROUND,
                          False, False, False)
    ser.addOperator(Op.RESCALE, [x.name, mult.name, shift.name, izp.name, ozp.name], [out.name], attr)
    return _result(trm, ser, [vals])


def _rescale_rows(ts, trm, Op, RoundingMode):
    rows = []
    g = rng("tosa")
    vals = np.concatenate([g.integers(-2**20, 2**20, 60), [0, 1, -1, 2**20 - 1, -2**20]]).astype(np.int32).reshape(5, 13)
    for double in (False, True):
        for m, s in ((1518500250, 38), (1073741824, 33), (1717986918, 40), (2**30 + 12345, 45)):
            meth = "tosa_double" if double else "tosa_single"
            params = rq.make_params(meth, [{"m": m, "s": s}])
            spec = np.array(rq.requantize(vals.tolist(), meth, params, 0, "int8"), dtype=np.int64)
            try:
                got = _rescale(ts, trm, Op, RoundingMode, vals, m, s, double)
            except Exception as exc:  # noqa: BLE001
                got = exc
            rows.append(judge(BACKEND, "RESCALE", meth, f"int32 -> int8, scale32, m={m}, s={s}", got, spec))
    return rows


def _matmul(ts, trm, Op, c, za, zb):
    ser = ts.TosaSerializer("")
    A = ser.addPlaceholder([1, 5, 19], ts.DType.INT8, None)
    B = ser.addPlaceholder([1, 19, 7], ts.DType.INT8, None)
    azp = ser.addConst([1], ts.DType.INT8, np.array([za], np.int8))
    bzp = ser.addConst([1], ts.DType.INT8, np.array([zb], np.int8))
    out = ser.addOutput([1, 5, 7], ts.DType.INT32)
    attr = ts.TosaSerializerAttribute()
    attr.MatMulAttribute()
    ser.addOperator(Op.MATMUL, [A.name, B.name, azp.name, bzp.name], [out.name], attr)
    return _result(trm, ser, [c["a"].reshape(1, 5, 19), c["b"].reshape(1, 19, 7)], (5, 7))


def _matmul_rows(ts, trm, Op):
    rows = []
    for za, zb in ((0, 0), (5, -3)):
        c = mm_case("int8", "int8", f"tosa-mm-{za}-{zb}", M=5, K=19, N=7)
        c["za"], c["zb"] = za, np.array(zb, np.int8)
        spec = oracle_acc(c)
        try:
            got = _matmul(ts, trm, Op, c, za, zb)
        except Exception as exc:  # noqa: BLE001
            got = exc
        rows.append(judge(BACKEND, "MATMUL", "exact int32", f"int8xint8, zero points {za}/{zb}", got, spec))
    return rows
