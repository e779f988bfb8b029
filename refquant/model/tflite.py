"""TFLite full-integer models as input: a .tflite file read into the model runner's ``Graph``.

The file is read with the object API of the flatbuffer schema that the ``ai-edge-litert`` wheel
ships (``ai_edge_litert.schema_py_generated``: tensorflow/lite/schema/schema.fbs, identifier
``TFL3``); no TensorFlow.  Subgraph 0 becomes a ``Graph`` whose nodes are the operators in file
order (TFLite stores them in execution order), with domain ``"tflite"`` (registry keys
``tflite.CONV_2D``, ... in ``model/ops_tflite.py``) and the names ``<OP>_<index>``.  Tensors stay in
TFLite's own layout (NHWC), so LiteRT's tensors compare with refquant's directly.

Each node carries what its kernel reads from the file:
    attrs[<option>]   the builtin options in snake_case (``fused_activation_function``, ``padding``,
                      ``stride_w``, ...; enums as their schema names: "RELU6", "SAME")
    attrs["quant"]    {tensor: (scales, zero points, quantized_dimension)} of its quantized inputs
                      and outputs (scales exactly as stored: binary32)
    attrs["types"]    {tensor: numpy dtype name} of its inputs and outputs
    attrs["shapes"]   {tensor: shape} of its inputs and outputs, as the file declares them
Constant tensors (a non-empty buffer) are the graph's initializers.  Anything the runner cannot
read (a custom op, an unsupported op, a bad tensor index, a buffer of the wrong size, a scale
vector that does not fit its quantized dimension) is an InvalidValueError / FormatFileError that
names the operator index and op; a file that is not a TFLite flatbuffer at all is a FormatFileError.
Reproduces: TFLite schema.fbs (ai-edge-litert 2.3.0 schema_py_generated) Model / SubGraph / Tensor /
QuantizationParameters / Operator tables.
"""

from pathlib import Path

import numpy as np

from ..errors import FormatFileError, InvalidValueError, RefquantError
from .graph import Graph, Node

DOMAIN = "tflite"
IDENTIFIER = b"TFL3"
MAX_BYTES = 1 << 31
_TYPES = {"FLOAT32": "float32", "INT8": "int8", "UINT8": "uint8", "INT16": "int16", "INT32": "int32",
          "INT64": "int64", "BOOL": "bool"}
_ENUMS = {"fusedActivationFunction": "ActivationFunctionType", "padding": "Padding"}


def is_tflite(path):
    """True when the file carries the TFLite flatbuffer identifier (bytes 4..8 = TFL3)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == IDENTIFIER


def _snake(camel):
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def _names(schema, enum):
    return {v: k for k, v in vars(getattr(schema, enum)).items() if not k.startswith("_")}


def load(path):
    """Read a .tflite file into a ``Graph`` (FormatFileError / InvalidValueError when it cannot be run)."""
    p = Path(path)
    if not p.is_file():
        raise FormatFileError(f"model {str(p)!r}: not a regular file")
    if p.stat().st_size > MAX_BYTES:
        raise FormatFileError(f"model {str(p)!r}: larger than {MAX_BYTES} bytes")
    return from_bytes(p.read_bytes(), str(p))


def from_bytes(data, source="<tflite>"):
    """A ``Graph`` from the bytes of a TFLite model; only RefquantError escapes."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise FormatFileError(f"model {source!r}: not a TFLite flatbuffer (no {IDENTIFIER.decode()} identifier)")
    from ..peers.litert import schema
    s = schema()
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except RefquantError:
        raise
    except Exception as exc:  # noqa: BLE001 - struct.error, IndexError, ...: a garbled flatbuffer is a bad input
        raise FormatFileError(f"model {source!r}: malformed TFLite flatbuffer ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from None
    try:
        return _graph(s, model, source)
    except RefquantError:
        raise
    except Exception as exc:  # noqa: BLE001 - a field of the wrong kind in a garbled file
        raise FormatFileError(f"model {source!r}: malformed TFLite model ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from None


def _graph(s, model, source):
    if not model.subgraphs:
        raise FormatFileError(f"model {source!r}: no subgraph")
    sub = model.subgraphs[0]
    tensors = list(sub.tensors or [])
    buffers = list(model.buffers or [])
    types = _names(s, "TensorType")
    names = _tensor_names(tensors)
    inits, info = {}, []
    for i, t in enumerate(tensors):
        ttype = types.get(t.type, str(t.type))
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        info.append((ttype, shape, _quant(t, shape, f"model {source!r}: tensor {i} ({names[i]!r})")))
        data = _buffer(buffers, t, i, names[i], source)
        if data is not None:
            inits[names[i]] = _constant(data, ttype, shape, i, names[i], source)
    ops_ = [_node(s, model, op, k, tensors, names, info, source) for k, op in enumerate(sub.operators or [])]
    if not ops_:
        raise FormatFileError(f"model {source!r}: subgraph 0 has no operators")
    inputs = []
    for i in _indices(sub.inputs, len(tensors), f"model {source!r}: subgraph inputs"):
        if names[i] in inits:
            continue
        ttype, shape, _ = info[i]
        if ttype not in _TYPES:
            raise InvalidValueError(f"model {source!r}: input tensor {names[i]!r} has type {ttype}; expected one of "
                                    f"{sorted(_TYPES)}")
        inputs.append((names[i], np.dtype(_TYPES[ttype]), shape))
    outputs = [names[i] for i in _indices(sub.outputs, len(tensors), f"model {source!r}: subgraph outputs")]
    g = Graph(ops_, inits, inputs, outputs, 0, source, DOMAIN, {n: i for i, n in enumerate(names)})
    _check_order(g, source)
    return g


def _tensor_names(tensors):
    """Unique tensor names: the file's name, or t<index> where it is empty or used before."""
    seen, out = set(), []
    for i, t in enumerate(tensors):
        raw = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else (t.name or "")
        name = raw if raw and raw not in seen else f"{raw or 't'}#{i}"
        seen.add(name)
        out.append(name)
    return out


def _indices(v, n, where):
    out = [int(i) for i in (v if v is not None else [])]
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise FormatFileError(f"{where}: tensor indices {bad[:5]} outside 0..{n - 1}")
    return out


def _quant(t, shape, where):
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scales = tuple(float(v) for v in np.asarray(q.scale, np.float32).reshape(-1))
    zps = tuple(int(v) for v in np.asarray(q.zeroPoint if q.zeroPoint is not None else [0], np.int64).reshape(-1))
    if len(zps) == 1 and len(scales) > 1:
        zps = zps * len(scales)
    axis = int(q.quantizedDimension)
    if len(zps) != len(scales):
        raise FormatFileError(f"{where}: {len(scales)} scales but {len(zps)} zero points; expected equal")
    if len(scales) > 1 and not (0 <= axis < len(shape) and shape[axis] == len(scales)):
        raise FormatFileError(f"{where}: {len(scales)} per-channel scales along quantized_dimension {axis} of "
                              f"shape {list(shape)}; expected the dimension's size")
    if not all(np.isfinite(sc) and sc > 0 for sc in scales):
        raise InvalidValueError(f"{where}: scales {list(scales)[:4]} must be finite and positive")
    return scales, zps, axis


def _buffer(buffers, t, i, name, source):
    b = int(t.buffer)
    if b == 0:
        return None
    if not 0 <= b < len(buffers):
        raise FormatFileError(f"model {source!r}: tensor {i} ({name!r}) names buffer {b}; the model has "
                              f"{len(buffers)}")
    buf = buffers[b]
    if buf.data is None or len(buf.data) == 0:
        if getattr(buf, "size", 0):
            raise InvalidValueError(f"model {source!r}: tensor {i} ({name!r}) keeps its data outside the "
                                    f"flatbuffer (offset/size); not supported")
        return None
    return np.asarray(buf.data, np.uint8).tobytes()


def _constant(data, ttype, shape, i, name, source):
    if ttype not in _TYPES:
        raise InvalidValueError(f"model {source!r}: constant tensor {i} ({name!r}) has type {ttype}; expected one "
                                f"of {sorted(_TYPES)}")
    dt = np.dtype(_TYPES[ttype]).newbyteorder("<")
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if any(d < 0 for d in shape) or n * dt.itemsize != len(data):
        raise FormatFileError(f"model {source!r}: constant tensor {i} ({name!r}) of shape {list(shape)} {ttype} "
                              f"needs {n * dt.itemsize} bytes; its buffer has {len(data)}")
    return np.frombuffer(data, dt).astype(dt.newbyteorder("=")).reshape(shape)


def _node(s, model, op, k, tensors, names, info, source):
    codes = model.operatorCodes or []
    idx = int(op.opcodeIndex)
    if not 0 <= idx < len(codes):
        raise FormatFileError(f"model {source!r}: operator {k} names opcode {idx}; the model has {len(codes)}")
    code = codes[idx]
    num = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    opname = _names(s, "BuiltinOperator").get(num)
    if opname is None or opname == "CUSTOM":
        what = f"custom op {code.customCode!r}" if opname == "CUSTOM" else f"builtin code {num}"
        raise InvalidValueError(f"model {source!r}: operator {k} ({what}) is not supported by the model runner")
    where = f"model {source!r}: operator {k} ({opname})"
    ins = [names[i] if i >= 0 else "" for i in _opt_indices(op.inputs, len(tensors), where)]
    outs = [names[i] for i in _indices(op.outputs, len(tensors), f"{where}: outputs")]
    attrs = _options(s, op)
    tidx = {n: i for i, n in enumerate(names)}
    used = [n for n in ins + outs if n]
    attrs["quant"] = {n: info[tidx[n]][2] for n in used if info[tidx[n]][2] is not None}
    attrs["types"] = {n: _TYPES.get(info[tidx[n]][0], info[tidx[n]][0]) for n in used}
    attrs["shapes"] = {n: info[tidx[n]][1] for n in used}
    node = Node(f"{opname}_{k}", opname, DOMAIN, ins, outs, attrs)
    from .registry import OPS, _load
    _load()
    if node.key not in OPS:
        supported = sorted(key.split(".", 1)[1] for key in OPS if key.startswith(DOMAIN + "."))
        raise InvalidValueError(f"{where}: op {opname} is not supported by the model runner; supported TFLite "
                                f"ops: {', '.join(supported)}")
    return node


def _opt_indices(v, n, where):
    out = [int(i) for i in (v if v is not None else [])]
    bad = [i for i in out if not -1 <= i < n]
    if bad:
        raise FormatFileError(f"{where}: input tensor indices {bad[:5]} outside -1..{n - 1}")
    return out


def _options(s, op):
    """The operator's builtin options as {snake_case name: value}, enums by their schema names."""
    o = op.builtinOptions
    if o is None:
        return {}
    out = {}
    for key, value in vars(o).items():
        if key in _ENUMS:
            value = _names(s, _ENUMS[key]).get(value, value)
        elif isinstance(value, np.ndarray):
            value = [int(v) for v in value]
        out[_snake(key)] = value
    return out


def _check_order(g, source):
    """Every operator reads only tensors written before it (TFLite's execution order)."""
    have = set(g.initializers) | {n for n, _, _ in g.inputs} | {""}
    for k, node in enumerate(g.nodes):
        missing = [i for i in node.inputs if i not in have]
        if missing:
            raise FormatFileError(f"model {source!r}: operator {k} ({node.op_type}) reads {missing[:3]}, which no "
                                  f"earlier operator, input or constant writes")
        have.update(node.outputs)
    missing = [o for o in g.outputs if o not in have]
    if missing:
        raise FormatFileError(f"model {source!r}: subgraph outputs {missing[:3]} are written by no operator")


def run_litert(graph, feeds, family, notes=None):
    """{tensor name: array} of every tensor LiteRT keeps when it runs the file under ``family``
    (refquant/peers/litert.py interpreter, experimental_preserve_all_tensors, one thread).
    ``notes`` (a list): for ``xnnpack``, which operators the XNNPACK delegate took is appended."""
    from ..peers import litert as lt
    blob = Path(graph.source).read_bytes()
    try:
        it = lt.interpreter(blob, family, preserve=True)
        for d in it.get_input_details():
            name = next((n for n, i in graph.tensor_index.items() if i == d["index"]), d["name"])
            if name not in feeds:
                raise InvalidValueError(f"input {name!r} is missing; got {sorted(feeds)}")
            it.set_tensor(d["index"], np.asarray(feeds[name]).astype(d["dtype"]))
        it.invoke()
    except (RuntimeError, ValueError) as exc:     # the interpreter's own checks (a kernel's Prepare / Eval)
        raise InvalidValueError(f"LiteRT ({family}) refuses model {graph.source!r}: "
                                f"{' '.join(str(exc).split())[:300]}") from None
    if family == "xnnpack" and notes is not None:
        # with every tensor kept, the delegate takes each operator as its own partition: an operator
        # was taken when a delegate node writes its output
        ops = it._get_ops_details()
        written = {int(t) for o in ops if "DELEGATE" in o["op_name"].upper() for t in o["outputs"]}
        left = [n.name for n in graph.nodes if not any(graph.tensor_index[t] in written for t in n.outputs)]
        notes.append(f"XNNPACK delegate took {len(graph.nodes) - len(left)} of {len(graph.nodes)} operators; "
                     f"the optimized kernels ran {', '.join(left[:12]) or 'none'}{', ...' if len(left) > 12 else ''}")
    out = {}
    for name, i in graph.tensor_index.items():
        if name in graph.initializers:
            continue
        try:
            out[name] = it.get_tensor(i).copy()
        except ValueError:
            continue
    return out
