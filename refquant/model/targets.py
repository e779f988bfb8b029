"""What a model is compared against: ``onnxruntime:LEVEL``, ``dumps:DIR``, ``litert:VARIANT``, ``openvino``.

A target gives the graph the implementation ran (ORT's optimized graph, or the model itself),
the backend row whose semantics refquant uses for it, and the tensors it produced.
Dumps: a folder with ``names.json`` ({tensor name: file name}) and one ``.npy`` per tensor, as
``refquant model run --dump DIR`` writes.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatFileError, InvalidValueError
from . import fusion, ort
from .graph import load

NAME_MAP = "names.json"
MAX_DUMP_BYTES = 1 << 31


@dataclass
class Target:
    label: str
    backend: str                 # the backends.py row modelling it
    graph: object                # the graph it ran
    tensors: dict                # tensor name -> array it produced (observable tensors)
    version: str = ""
    notes: list = field(default_factory=list)


def parse(spec):
    """'onnxruntime:all' -> ('onnxruntime', 'all'); InvalidValueError on anything else."""
    kind, _, arg = str(spec).partition(":")
    if kind == "onnxruntime":
        arg = arg or "all"
        if arg not in ort.LEVELS:
            raise InvalidValueError(f"--against {spec!r}: onnxruntime level {arg!r}; expected one of "
                                    f"{', '.join(ort.LEVELS)}")
        return kind, arg
    if kind == "dumps" and arg:
        return kind, arg
    if kind == "litert" and arg in ("ref", "optimized", "xnnpack"):
        return kind, arg
    if kind == "openvino" and arg in ("", "cpu"):
        return kind, "cpu"
    raise InvalidValueError(f"--against {spec!r}: expected onnxruntime:disable|basic|extended|all, dumps:DIR, "
                            f"litert:ref|optimized|xnnpack or openvino")


def build(spec, model_path, feeds, backend="onnxruntime", level="disable"):
    """The ``Target`` for one --against spec."""
    kind, arg = parse(spec)
    if kind == "onnxruntime":
        graph, tensors, final = ort.run_observed(model_path, arg, feeds)
        tensors.update(final)
        diff = fusion.check_against(fusion.fuse(load(model_path), arg), graph)
        model_note = ("fusion model (refquant/model/fusion.py): predicts the same ops" if not diff else
                      f"fusion model (refquant/model/fusion.py) differs from onnxruntime's graph: {diff}")
        return Target(spec, "onnxruntime", graph, tensors, ort.version(),
                      [f"graph: onnxruntime's optimized graph at level {arg!r} ({len(graph.nodes)} nodes)", model_note])
    if kind == "dumps":
        graph = fusion.fuse(load(model_path), level)
        return Target(spec, backend, graph, read_dumps(arg), "",
                      [f"dumps from {arg}", f"graph: the model fused as onnxruntime at level {level!r} (modelled)"
                       if level != "disable" else "graph: the model as written"])
    if kind == "openvino":             # the ONNX model as OpenVINO's CPU plugin compiled it (model/openvino.py)
        from . import openvino
        return openvino.build(spec, model_path, feeds)
    from . import litert
    graph = load(model_path)
    if graph.format == "tflite":       # a .tflite model: LiteRT runs the file itself (model/tflite.py)
        from .tflite import run_litert
        notes = [f"the TFLite model as given, kernel family {arg!r}, every tensor kept "
                 f"(experimental_preserve_all_tensors)"]
        return Target(spec, litert.ROWS[arg], graph, run_litert(graph, feeds, arg, notes), lt_version(), notes)
    tensors = litert.run_litert(graph, feeds, arg)
    return Target(spec, litert.ROWS[arg], graph, tensors, lt_version(),
                  [f"the model written as a TFLite model (refquant/model/litert.py), kernel family {arg!r}",
                   "the int8 input is refquant's QuantizeLinear under the row's profile (fed to LiteRT)"])


def lt_version():
    from ..peers.litert import version
    return version()


def read_dumps(folder):
    """{tensor: array} from a dump folder (FormatFileError on a malformed map or file)."""
    d = Path(folder)
    mp = d / NAME_MAP
    if not mp.is_file():
        raise FormatFileError(f"dumps {str(d)!r}: no {NAME_MAP} (a map {{tensor name: file.npy}})")
    try:
        names = json.loads(mp.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormatFileError(f"dumps {str(mp)!r}: not JSON ({exc})") from None
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise FormatFileError(f"dumps {str(mp)!r}: expected an object {{tensor name: file name}}")
    out = {}
    for tensor, fname in names.items():
        p = (d / fname)
        if p.resolve().parent != d.resolve() or not p.is_file():
            raise FormatFileError(f"dumps {str(d)!r}: tensor {tensor!r} names {fname!r}, not a file in the folder")
        if p.stat().st_size > MAX_DUMP_BYTES:
            raise FormatFileError(f"dumps {str(p)!r}: larger than {MAX_DUMP_BYTES} bytes")
        try:
            out[tensor] = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise FormatFileError(f"dumps {str(p)!r}: not a .npy array ({exc})") from None
    return out


def write_dumps(folder, tensors):
    """Write {tensor: array} as a dump folder (one .npy per tensor, names.json)."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    names = {}
    for i, (name, arr) in enumerate(tensors.items()):
        fname = f"t{i:04d}.npy"
        np.save(d / fname, np.asarray(arr), allow_pickle=False)
        names[name] = fname
    (d / NAME_MAP).write_text(json.dumps(names, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return d


def read_inputs(path, graph):
    """Model inputs from an .npz file keyed by input name."""
    p = Path(path)
    if not p.is_file():
        raise FormatFileError(f"--inputs {str(p)!r}: not a regular file")
    try:
        with np.load(p, allow_pickle=False) as z:
            feeds = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as exc:
        raise FormatFileError(f"--inputs {str(p)!r}: not an .npz file ({exc})") from None
    extra = set(feeds) - {n for n, _, _ in graph.inputs}
    if extra:
        raise InvalidValueError(f"--inputs {str(p)!r}: {sorted(extra)} are not inputs of the model "
                                f"(inputs: {[n for n, _, _ in graph.inputs]})")
    return feeds
