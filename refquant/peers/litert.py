"""LiteRT (TFLite) as a peer: build TFLite models without TensorFlow, run them under one kernel family.

Models are written through the flatbuffer schema bindings that the ``ai-edge-litert`` wheel ships
(``ai_edge_litert.schema_py_generated``, the object API of tensorflow/lite/schema/schema.fbs, file
identifier ``TFL3``) with ``flatbuffers.Builder``: every scale, zero point and per-channel
``quantized_dimension`` is exactly what the caller gives (scales are stored as binary32, as the
schema says).  No TensorFlow, no converter, no calibration.

    from refquant.peers import litert
    m = litert.Model()
    x = m.tensor("x", (1, 4), "int8", scale=0.5, zero_point=-3)
    w = m.const("w", w_int8, scale=[0.25, 0.5], zero_point=[0, 0], axis=0)    # per-channel, quantized_dimension 0
    b = m.const("b", b_int32, scale=[0.125, 0.25], zero_point=[0, 0], axis=0)
    y = m.tensor("y", (1, 2), "int8", scale=1.0, zero_point=5)
    m.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="NONE")
    blob = m.build(inputs=[x], outputs=[y])                    # bytes (a .tflite file)
    res = litert.run(blob, {"x": x_int8}, "xnnpack")           # Result
    res.outputs["y"], res.delegated                           # output arrays; which ops XNNPACK took

The three kernel families (``FAMILIES``) are the interpreter's op resolvers: ``ref`` =
``BUILTIN_REF`` (tensorflow/lite/kernels/internal/reference), ``optimized`` =
``BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (optimized_ops, ruy; no delegate) and ``xnnpack`` =
``BUILTIN`` (the optimized kernels with the default XNNPACK delegate, which takes the ops it
supports).  Every run uses ``num_threads=1``.  ``run(..., preserve=True)`` keeps every
intermediate tensor readable (``experimental_preserve_all_tensors``; under XNNPACK this makes the
delegate partition the graph per op).

Measured on ai-edge-litert 2.3.0 (x86-64); docs/ops.md records what each family computes.
"""

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError, ShapeError, UnknownNameError
from .versions import need

FAMILIES = {"ref": "BUILTIN_REF", "optimized": "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "xnnpack": "BUILTIN"}
DTYPES = {"int8": ("INT8", np.int8), "uint8": ("UINT8", np.uint8), "int16": ("INT16", np.int16),
          "int32": ("INT32", np.int32), "int64": ("INT64", np.int64), "float32": ("FLOAT32", np.float32)}
# Ops whose options table is not named after the op (schema.fbs BuiltinOptions union).
_OPTIONS = {"AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "L2_POOL_2D": "Pool2DOptions",
            "MEAN": "ReducerOptions", "SUM": "ReducerOptions", "REDUCE_MAX": "ReducerOptions",
            "REDUCE_MIN": "ReducerOptions", "REDUCE_PROD": "ReducerOptions", "PADV2": "PadV2Options"}
_ENUM_FIELDS = {"fusedActivationFunction": "ActivationFunctionType", "padding": "Padding",
                "weightsFormat": "FullyConnectedOptionsWeightsFormat", "quantizedBiasType": "TensorType"}


def schema():
    """The wheel's flatbuffer schema module (MissingBackend with the install hint when absent)."""
    return need("ai_edge_litert.schema_py_generated", "litert")


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: str
    scale: tuple = ()
    zero_point: tuple = ()
    axis: int = 0
    data: object = None       # a constant's values (numpy array), None for an activation


def _camel(snake):
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _options_name(opcode):
    if opcode in _OPTIONS:
        return _OPTIONS[opcode]
    return "".join(p if p[:1].isdigit() else p.capitalize() for p in opcode.split("_")) + "Options"


class Model:
    """A TFLite model under construction: tensors, constants and operators of one subgraph."""

    def __init__(self):
        self.tensors, self.ops = [], []

    def tensor(self, name, shape, dtype, scale=None, zero_point=None, axis=0, data=None):
        """An activation (or, with ``data``, a constant) tensor; per-channel when ``scale`` is a list."""
        if dtype not in DTYPES:
            raise UnknownNameError("tensor dtype", dtype, DTYPES)
        if any(t.name == name for t in self.tensors):
            raise InvalidValueError(f"tensor name {name!r} is used twice; expected unique names")
        scales = () if scale is None else tuple(float(s) for s in np.atleast_1d(scale))
        zps = tuple(int(z) for z in np.atleast_1d(0 if zero_point is None else zero_point))
        if scales and len(zps) == 1 and len(scales) > 1:
            zps = zps * len(scales)
        if scales and len(zps) != len(scales):
            raise ShapeError(f"tensor {name!r}: {len(scales)} scales but {len(zps)} zero points; expected equal")
        t = Tensor(len(self.tensors), name, tuple(int(d) for d in shape), dtype, scales, zps if scales else (),
                   int(axis), data)
        self.tensors.append(t)
        return t

    def const(self, name, values, scale=None, zero_point=None, axis=0, dtype=None):
        """A constant tensor holding ``values`` (dtype from the array unless given)."""
        arr = np.asarray(values)
        dtype = dtype or arr.dtype.name
        if dtype not in DTYPES:
            raise UnknownNameError("constant dtype", dtype, DTYPES)
        arr = np.ascontiguousarray(arr.astype(DTYPES[dtype][1]))
        return self.tensor(name, arr.shape, dtype, scale, zero_point, axis, arr)

    def op(self, opcode, inputs, outputs, version=1, **options):
        """Append one builtin operator; ``options`` are its schema options in snake_case
        (``fused_activation_function="RELU"``, ``padding="SAME"``, ``stride_w=1``, ``keep_dims=True``);
        ``None`` among ``inputs`` is an omitted optional input (index -1)."""
        s = schema()
        if not hasattr(s.BuiltinOperator, opcode):
            raise UnknownNameError("TFLite builtin operator", opcode, [n for n in dir(s.BuiltinOperator)
                                                                         if n.isupper()])
        self.ops.append((opcode, [(-1 if t is None else t.index) for t in inputs],
                         [t.index for t in outputs], int(version), options))

    def build(self, inputs, outputs):
        """The model as bytes (a .tflite flatbuffer with identifier TFL3)."""
        s = schema()
        flatbuffers = need("flatbuffers", "litert")
        model = s.ModelT()
        model.version = 3
        model.buffers = [s.BufferT()]           # buffer 0: the empty sentinel
        sub = s.SubGraphT()
        sub.tensors = [self._tensor_t(s, t, model.buffers) for t in self.tensors]
        codes = []
        sub.operators = [self._operator_t(s, op, codes) for op in self.ops]
        model.operatorCodes = [self._code_t(s, name, version) for name, version in codes]
        sub.inputs = [t.index for t in inputs]
        sub.outputs = [t.index for t in outputs]
        model.subgraphs = [sub]
        model.description = "refquant"
        b = flatbuffers.Builder(1024)
        b.Finish(model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _tensor_t(s, t, buffers):
        tt = s.TensorT()
        tt.name, tt.shape = t.name, list(t.shape)
        tt.type = getattr(s.TensorType, DTYPES[t.dtype][0])
        tt.buffer = 0
        if t.data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(t.data.tobytes(), dtype=np.uint8)
            buffers.append(buf)
            tt.buffer = len(buffers) - 1
        if t.scale:
            q = s.QuantizationParametersT()
            q.scale = list(t.scale)
            q.zeroPoint = list(t.zero_point)
            q.quantizedDimension = t.axis
            tt.quantization = q
        return tt

    @staticmethod
    def _operator_t(s, op, codes):
        name, ins, outs, version, options = op
        if (name, version) not in codes:
            codes.append((name, version))
        o = s.OperatorT()
        o.opcodeIndex = codes.index((name, version))
        o.inputs, o.outputs = list(ins), list(outs)
        opt_name = _options_name(name)
        cls = getattr(s, opt_name + "T", None)
        if cls is not None and hasattr(s.BuiltinOptions, opt_name):
            obj = cls()
            for key, value in options.items():
                attr = _camel(key)
                if not hasattr(obj, attr):
                    raise UnknownNameError(f"option of {name} ({opt_name})", key, list(vars(obj)))
                if isinstance(value, str) and attr in _ENUM_FIELDS:
                    value = getattr(getattr(s, _ENUM_FIELDS[attr]), value)
                setattr(obj, attr, value)
            o.builtinOptionsType = getattr(s.BuiltinOptions, opt_name)
            o.builtinOptions = obj
        elif options:
            raise InvalidValueError(f"{name} takes no options; got {sorted(options)}")
        return o

    @staticmethod
    def _code_t(s, name, version):
        c = s.OperatorCodeT()
        code = getattr(s.BuiltinOperator, name)
        c.builtinCode = code
        c.deprecatedBuiltinCode = min(code, 127)     # schema.fbs: 127 = PLACEHOLDER_FOR_GREATER_OP_CODES
        c.version = version
        return c


@dataclass
class Result:
    outputs: dict                    # output tensor name -> array
    tensors: dict = field(default_factory=dict)   # every readable tensor (with preserve=True)
    delegated: list = field(default_factory=list)  # per original op: True when the XNNPACK delegate took it
    nodes: list = field(default_factory=list)      # the interpreter's node names (delegate nodes included)


def interpreter(model_bytes, family, preserve=False):
    """An allocated ai_edge_litert Interpreter for ``family`` (num_threads=1)."""
    if family not in FAMILIES:
        raise UnknownNameError("LiteRT kernel family", family, FAMILIES)
    mod = need("ai_edge_litert.interpreter", "litert")
    kind = getattr(mod.OpResolverType, FAMILIES[family])
    with _quiet_stderr():
        it = mod.Interpreter(model_content=model_bytes, num_threads=1, experimental_op_resolver_type=kind,
                             experimental_preserve_all_tensors=preserve)
        it.allocate_tensors()
    return it


def run(model_bytes, inputs, family, preserve=False):
    """Run a model once under one kernel family; ``inputs`` maps input names (or positions) to arrays."""
    it = interpreter(model_bytes, family, preserve)
    details = it.get_input_details()
    for i, d in enumerate(details):
        key = d["name"] if d["name"] in inputs else i
        if key not in inputs:
            raise InvalidValueError(f"input {d['name']!r} is missing; got {sorted(map(str, inputs))}")
        arr = np.asarray(inputs[key])
        if tuple(arr.shape) != tuple(d["shape"]):
            raise ShapeError(f"input {d['name']!r}: shape {arr.shape}, expected {tuple(d['shape'])}")
        it.set_tensor(d["index"], arr.astype(d["dtype"]))
    it.invoke()
    outs = {d["name"]: it.get_tensor(d["index"]).copy() for d in it.get_output_details()}
    tensors = {}
    if preserve:
        for d in it.get_tensor_details():
            try:
                tensors[d["name"]] = it.get_tensor(d["index"]).copy()
            except ValueError:
                pass
    nodes = [n["op_name"] for n in it._get_ops_details()]
    return Result(outs, tensors, _delegated(it), nodes)


def _delegated(it):
    """Per original operator: True when a delegate node replaced it.

    The interpreter keeps the replaced nodes and appends one node per delegated partition; an
    original op is taken when it produces a tensor a delegate node outputs, or when every consumer
    of its outputs was taken and none is a graph output (inside a partition).
    """
    ops = it._get_ops_details()
    delegate = [o for o in ops if "Delegate" in o["op_name"] or o["op_name"] == "DELEGATE"]
    original = [o for o in ops if o not in delegate]
    d_out = {int(t) for o in delegate for t in o["outputs"]}
    graph_out = {d["index"] for d in it.get_output_details()}
    taken = [bool(set(map(int, o["outputs"])) & d_out) for o in original]
    changed = bool(delegate)
    while changed:
        changed = False
        for i, o in enumerate(original):
            outs = set(map(int, o["outputs"]))
            if taken[i] or outs & graph_out:
                continue
            users = [j for j, p in enumerate(original) if outs & set(map(int, p["inputs"]))]
            if users and all(taken[j] for j in users):
                taken[i] = changed = True
    return taken


class _quiet_stderr:
    """Silence the C++ runtime's stderr lines (the XNNPACK 'Created delegate' banner) for one call."""

    def __enter__(self):
        try:
            self.fd = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 2)
            os.close(null)
        except OSError:
            self.fd = None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.dup2(self.fd, 2)
            os.close(self.fd)


def version():
    """The installed ai-edge-litert version, or None."""
    from importlib import metadata
    try:
        return metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return None

