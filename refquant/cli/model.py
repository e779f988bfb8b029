"""``refquant model run|compare|explain``: a whole ONNX model under a backend's semantics, compared
node by node with an implementation (the library is refquant/model; see docs/model.md)."""

import json
import sys

from ..errors import InvalidValueError
from . import EXIT_MISMATCH, EXIT_OK


class _Bar:
    """A one-line progress display on stderr (only when stderr is a terminal, or forced)."""

    def __init__(self, enabled=None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __call__(self, text):
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[model] {text[:100]}")
            sys.stderr.flush()

    def done(self):
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _feeds(args, graph):
    from ..model import read_inputs, seeded_inputs
    if args.backend is None:        # a TFLite model runs under LiteRT's reference row unless told otherwise
        args.backend = "litert_ref" if graph.format == "tflite" else "onnxruntime"
    feeds = seeded_inputs(graph, args.seed) if args.inputs is None else read_inputs(args.inputs, graph)
    note = f"--inputs {args.inputs}" if args.inputs else f"seeded (--seed {args.seed}): float32 N(0, 1)"
    return feeds, note


def cmd_run(args):
    from ..model import load, run, write_dumps
    from ..model.fusion import fuse
    graph = fuse(load(args.model), args.level)
    feeds, _ = _feeds(args, graph)
    bar = _Bar(args.progress)
    res = run(graph, feeds, args.backend, progress=lambda i, n, node: bar(f"{i}/{n} {node.name}"))
    bar.done()
    if args.dump:
        write_dumps(args.dump, {k: v.v for k, v in res.values.items() if k not in graph.initializers})
    amb = {k: int(v.ambiguous().sum()) for k, v in res.values.items() if not v.exact and v.dtype.kind != "f"}
    for name in graph.outputs:
        v = res.values[name]
        print(f"{name}: {v.dtype} {list(v.shape)}, {int(v.ambiguous().sum())} implementation-defined element(s)")
    if args.dump:
        print(f"dumped {len(res.values) - len(graph.initializers)} tensors to {args.dump} (names.json + .npy)")
    if any(amb.values()):
        print(f"integer tensors with implementation-defined elements: {sum(1 for v in amb.values() if v)}")
    return EXIT_OK


def cmd_compare(args):
    from ..model import compare, load, report
    if not args.against:
        raise InvalidValueError("give at least one --against (onnxruntime:LEVEL, dumps:DIR, litert:VARIANT, openvino)")
    graph = load(args.model)
    feeds, note = _feeds(args, graph)
    bar = _Bar(args.progress)
    results, parting = compare.compare(args.model, args.against, feeds, args.backend, progress=bar, level=args.level)
    bar.done()
    doc = report.to_json(args.model, results, parting, note)
    if args.report:
        report.write(args.report, doc, results)
    if args.json:
        print(json.dumps(doc, indent=1, default=float))
    else:
        sys.stdout.write(report.markdown(doc))
    return EXIT_MISMATCH if any(rep.diverges for rep, _t in results) else EXIT_OK


def _index(text):
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InvalidValueError(f"--index {text!r}: expected comma-separated integers such as 0,3,7,7") from None


def cmd_explain(args):
    from ..model import explain, load
    graph = load(args.model)
    feeds, _ = _feeds(args, graph)
    print(explain(args.model, graph, feeds, args.node, _index(args.index), args.against, args.backend))
    return EXIT_OK


def _common(p):
    p.add_argument("model", help="an ONNX model file (QOperator or QDQ) or a TFLite full-integer model (.tflite)")
    p.add_argument("--inputs", help=".npz of the model inputs (by input name); default: seeded")
    p.add_argument("--seed", type=int, default=1, help="seed of the default inputs (float32 N(0, 1))")
    p.add_argument("--backend", default=None, help="backend row whose semantics refquant runs "
                   "(refquant/backends.py; default onnxruntime, litert_ref for a .tflite model); for --against "
                   "onnxruntime:* it is onnxruntime")
    p.add_argument("--progress", action="store_true", default=None, help="show progress even when not a terminal")


def register(sub):
    m = sub.add_parser("model", help="run a whole ONNX model exactly; compare it node by node with an implementation")
    msub = m.add_subparsers(dest="model_command", metavar="SUBCOMMAND", parser_class=type(m))
    msub.required = True
    r = msub.add_parser("run", help="every tensor of a model under a backend's semantics")
    _common(r)
    r.add_argument("--dump", help="write every tensor (.npy) and names.json to this folder")
    r.add_argument("--level", default="disable", choices=["disable", "basic", "extended", "all"],
                   help="run the graph onnxruntime 1.32.0 would run at this optimization level (its QDQ fusions, "
                        "as modelled in refquant/model/fusion.py; default: the graph as written)")
    r.set_defaults(func=cmd_run)
    c = msub.add_parser("compare", help="judge every node of an implementation's run (exit 0 agree, 1 divergence)")
    _common(c)
    c.add_argument("--against", action="append", help="onnxruntime:disable|basic|extended|all, dumps:DIR, "
                   "litert:ref|optimized|xnnpack, openvino (repeatable)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--report", help="write report.json, report.md and PNGs to this folder")
    c.add_argument("--level", default="disable", choices=["disable", "basic", "extended", "all"],
                   help="for dumps:DIR, the graph the device ran: the model fused as onnxruntime would at this "
                        "level (refquant/model/fusion.py; default: as written)")
    c.set_defaults(func=cmd_compare)
    e = msub.add_parser("explain", help="trace one output element of one node")
    _common(e)
    e.add_argument("--node", required=True, help="node name")
    e.add_argument("--index", required=True, help="output element, e.g. 0,3,7,7")
    e.add_argument("--against", help="explain on this implementation's inputs for the node (e.g. onnxruntime:all)")
    e.set_defaults(func=cmd_explain)
