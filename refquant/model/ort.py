"""onnxruntime as the backend under test: its optimized graph per level, and its tensors.

ORT rewrites a QDQ model before running it (graph optimization levels disable / basic / extended
/ all): DQ -> op -> Q groups become integer kernels (QLinearConv, com.microsoft.QLinearAdd, ...) and
whatever is not fused runs in float.  The session writes the graph it will run to
``SessionOptions.optimized_model_filepath``; that file says which tensors exist.  To observe them
without changing the fusion, the optimized graph itself (every node output made a graph output) is
run with optimizations disabled: the kernels are those of the optimized session, and tensors that
the rewrite removed are reported as not observable.
Reproduces: onnxruntime 1.32.0 SessionOptions (graph_optimization_level, optimized_model_filepath).
"""

import os
import tempfile

import numpy as np

from ..errors import InvalidValueError
from ..peers.versions import need
from .graph import from_proto

LEVELS = ("disable", "basic", "extended", "all")
_ORT_LEVEL = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
              "all": "ORT_ENABLE_ALL"}


def _ort():
    return need("onnxruntime", "onnxruntime")


def _options(ort, level, save=None):
    if level not in LEVELS:
        raise InvalidValueError(f"onnxruntime optimization level {level!r}; expected one of {', '.join(LEVELS)}")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVEL[level])
    so.intra_op_num_threads = 1
    if save:
        so.optimized_model_filepath = save
    return so


def optimized_model(model_path, level):
    """The onnx ModelProto that onnxruntime runs for ``model_path`` at ``level``."""
    import onnx
    from .tflite import is_tflite
    if is_tflite(model_path):
        from ..errors import InvalidValueError
        raise InvalidValueError(f"model {str(model_path)!r} is a TFLite model: compare it against "
                                f"litert:ref|optimized|xnnpack or dumps:DIR, not onnxruntime")
    ort = _ort()
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "optimized.onnx")
        ort.InferenceSession(str(model_path), _options(ort, level, out), providers=["CPUExecutionProvider"])
        return onnx.load(out)


def run_session(model_path, level, feeds):
    """The graph outputs of a plain onnxruntime session at ``level``: {name: array}."""
    ort = _ort()
    s = ort.InferenceSession(str(model_path), _options(ort, level), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def run_observed(model_path, level, feeds):
    """(optimized Graph, {tensor: array} for every tensor of the optimized graph, final outputs).

    The final outputs come from a plain session at ``level``; the observed graph's outputs are
    checked equal to them (InvalidValueError otherwise: observation would have changed the run).
    """
    import onnx
    ort = _ort()
    model = optimized_model(model_path, level)
    graph = from_proto(model, f"{model_path} (onnxruntime {ort.__version__}, level {level})")
    have = {o.name for o in model.graph.output}
    for n in model.graph.node:
        for o in n.output:
            if o and o not in have:
                model.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
    s = ort.InferenceSession(model.SerializeToString(), _options(ort, "disable"), providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    got = dict(zip(names, s.run(names, feeds)))
    final = run_session(model_path, level, feeds)
    for k, v in final.items():
        if k in got and not np.array_equal(got[k], v, equal_nan=True):
            raise InvalidValueError(f"observing onnxruntime's optimized graph changed output {k!r}; "
                                    f"the observed run is not the session's run")
    return graph, got, final


def version():
    return _ort().__version__
