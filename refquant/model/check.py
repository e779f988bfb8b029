"""``refquant check``'s model rows: the shipped example model (examples/model/) compared with
onnxruntime at optimization levels disable and all (docs/model.md §4)."""

from pathlib import Path

from ..peers.conformance import DIFFER, PASS, Row
from ..peers.versions import MissingBackend, need

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "model"


def example_rows():
    """One conformance row per level; MissingBackend when onnxruntime or the example is absent."""
    need("onnxruntime", "model example")
    model, inputs = EXAMPLE / "convnet_qdq.onnx", EXAMPLE / "inputs.npz"
    if not model.is_file() or not inputs.is_file():
        raise MissingBackend(f"the example model is not shipped here ({EXAMPLE})")
    from . import compare, load, read_inputs
    feeds = read_inputs(inputs, load(model))
    results, _ = compare.compare(model, ["onnxruntime:disable", "onnxruntime:all"], feeds)
    rows = []
    for rep, _t in results:
        n_el = sum(n.elements for n in rep.nodes)
        bad = sum(n.mismatches for n in rep.nodes)
        impl = sum(n.klass == "implementation-defined" for n in rep.nodes)
        rows.append(Row(f"model {rep.label}", "model compare", "backend row onnxruntime", model.name,
                        DIFFER if rep.diverges else PASS, n_el, bad,
                        note=f"{len(rep.nodes)} nodes judged twice, {impl} implementation-defined, "
                             f"first divergent: {rep.first_divergent or 'none'} (docs/model.md)"))
    return rows
