"""tflite-micro (TensorFlow Lite for Microcontrollers) as a peer: its Python interpreter wheel
(``tflite-micro``, module ``tflite_micro.python.tflite_micro.runtime``) runs a .tflite model with the
micro reference kernels (tensorflow/lite/micro/kernels).  The models are the ones refquant already
writes for LiteRT (refquant/peers/litert.py, the wheel's flatbuffer schema, no TensorFlow).

What it computes is the backend row ``tflite_micro`` (refquant/backends.py): measured equal to
LiteRT's reference family on every operator of ``refquant verify litert`` except int8 / int16x8
FULLY_CONNECTED (QuantizeMultiplier + MultiplyByQuantizedMultiplier, method ``tflite_double``,
where LiteRT's reference rounds a binary64 product) and int8 LOGISTIC / TANH (gemmlowp fixed point,
variant ``tflm_fixed``, where LiteRT builds a binary32 table) and int16 SOFTMAX (tables from
gen_lut<float>, variant ``tflm``, where LiteRT uses binary64).  docs/ops.md, "tflite-micro".
"""

import numpy as np

from ..errors import InvalidValueError, ShapeError
from .versions import need

ARENA_BYTES = 1 << 22     # the interpreter's tensor arena (the wheel's default is sized for small models)


def runtime():
    """The wheel's interpreter module (MissingBackend with the install hint when absent)."""
    return need("tflite_micro.python.tflite_micro.runtime", "tflm")


def run(model_bytes, inputs):
    """Run a model once; ``inputs``: a list of arrays in the model's input order (or a dict whose
    values are in that order).  Returns the list of output arrays."""
    rt = runtime()
    arrays = list(inputs.values()) if isinstance(inputs, dict) else list(inputs)
    from .litert import _quiet_stderr         # the runtime prints its kernels' refusals on stderr
    try:
        with _quiet_stderr():
            it = rt.Interpreter.from_bytes(bytes(model_bytes), arena_size=ARENA_BYTES)
    except (RuntimeError, ValueError) as exc:
        raise InvalidValueError(f"tflite-micro could not load the model: {exc}") from None
    details = it.get_input_details
    for i, arr in enumerate(arrays):
        want = details(i)
        arr = np.asarray(arr)
        if tuple(arr.shape) != tuple(want["shape"]):
            raise ShapeError(f"tflite-micro input {i}: shape {arr.shape}, expected {tuple(want['shape'])}")
        it.set_input(arr.astype(want["dtype"]), i)
    try:
        with _quiet_stderr():
            it.invoke()
    except RuntimeError as exc:
        raise InvalidValueError(f"tflite-micro refused the model at invoke: {exc}") from None
    n = len(rt.schema_fb.ModelT.InitFromPackedBuf(bytes(model_bytes), 0).subgraphs[0].outputs)
    return [np.array(it.get_output(i)) for i in range(n)]


def version():
    """The installed tflite-micro version, or None."""
    from importlib import metadata
    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return None


# ##########################################################################
# refquant verify tflm: the verify-litert models and activation cases under tflite-micro
# ##########################################################################

_ACT_DEV = {"sigmoid": "tflite-micro int8 LOGISTIC/TANH: gemmlowp fixed point",
            "tanh": "tflite-micro int8 LOGISTIC/TANH: gemmlowp fixed point",
            "softmax_int16": "tflite-micro int16 SOFTMAX: binary32 LUTs"}


def _collector(version):
    from . import litert_rows as R

    class Collector(R.Collector):
        """The ``verify litert`` collector with one family, tflite-micro (row ``tflite_micro``)."""
        peer = "tflm"

        def run(self, op, dtype, blob, inputs, spec, model_of, flag):
            try:
                (got,) = run(blob, inputs)
            except InvalidValueError as exc:
                got = exc
            self.cells.setdefault((op, dtype, "tflm", flag), R._Cell())
            if isinstance(got, BaseException):
                self.cells[(op, dtype, "tflm", flag)].refused = got
                return
            self.cells[(op, dtype, "tflm", flag)].add(got, spec, model_of("tflm"), False)

        def rows(self):
            from .conformance import judge
            refused = {k: c for k, c in self.cells.items() if getattr(c, "refused", None) is not None}
            for k in refused:
                del self.cells[k]
            out = super().rows()
            for (op, dtype, _, flag), c in refused.items():
                out.append(judge("", f"{op.upper()} {dtype}", "exact (refquant ideal)", flag, c.refused, None))
            for r in out:
                r.backend = f"tflite_micro {self.version}"
            return out
    return Collector(version)


def backend_tflm():
    """Every row of ``refquant verify tflm`` (MissingBackend when tflite-micro or the model builder
    of ai-edge-litert is absent)."""
    runtime()
    need("ai_edge_litert.schema_py_generated", "litert")
    from . import activations as PA
    from . import litert
    from . import litert_rows as R
    col = _collector(version())
    for make in (R.fc_rows, R.conv_rows, R.fc16x8_rows, R.conv16x8_rows, R.binary_rows, R.quantize_rows,
                 R.spatial_rows):
        make(col)

    def unary(op, x, sx, zx, sy, zy, dtype, attrs):
        rows = op.startswith("softmax")
        x = np.asarray(x if rows else [x])
        m = litert.Model()
        tx = m.tensor("x", x.shape, dtype, scale=sx, zero_point=zx)
        ty = m.tensor("y", x.shape, dtype, scale=sy, zero_point=zy)
        m.op(PA._LITERT_OPS[op], [tx], [ty], **({"beta": 1.0, **attrs} if rows else attrs))
        (got,) = run(m.build(inputs=[tx], outputs=[ty]), [x.astype(litert.DTYPES[dtype][1])])
        return got if rows else got[0]
    act = PA.activation_rows("tflm", unary, PA.LITERT_CASES,
                             lambda op, dtype, sx: ("tflite_micro", _ACT_DEV.get(op) or PA._litert_dev("ref", op, sx)),
                             PA._ideal, {"softmax": lambda: [[1, 5, -3, 127, 100, 7], [0, 0, 0, 0, 0, 0],
                                                             list(range(-128, 128, 43))]})
    for r in act:
        r.backend = f"tflite_micro {version()}"
    return col.rows() + act
