"""``refquant model compare``: every node of the graph an implementation ran, judged twice.

1. refquant runs the target's graph under the target's backend row on the same inputs; each
   observable tensor is judged against refquant's enclosure (first divergence, inherited ones).
2. each node is re-run on the implementation's own inputs for that node (the tensors it produced,
   refquant's where a tensor was not observable): a mismatch there is a new divergence.
The first new divergence gets an explain trace of one element and a diagnosis: every modelled
semantics (backend rows, requantization methods, quantize profiles) that reproduces the node there.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidValueError, RefquantError
from . import targets as tg
from .diagnose import audit_node, describe, diagnose_node, explain_node
from .judge import NEW, NodeJudgment, judge_tensor
from .runner import run, run_node


@dataclass
class TargetReport:
    label: str
    backend: str
    version: str
    nodes: list                             # NodeJudgment per node, in execution order
    not_observable: list                    # tensors of the graph the implementation did not expose
    notes: list = field(default_factory=list)
    first_divergent: str = ""
    explain: str = ""
    diagnosis: list = field(default_factory=list)
    audit: dict = None                      # refquant audit's diagnosis of the first divergent node

    @property
    def diverges(self):
        return any((n.new_mismatches or n.mismatches) and not n.not_modelled for n in self.nodes)


def _quiet(*_a):
    return None


def compare_target(target, feeds, progress=_quiet):
    """The TargetReport of one target."""
    g = target.graph
    skip = unmodelled(target)       # node -> why its arithmetic is not modelled: carry on from the target's tensors
    carry = {o: target.tensors[o] for n in g.nodes if n.name in skip for o in n.outputs if o in target.tensors}
    own = run(g, feeds, target.backend, progress=lambda i, n, node: progress(f"{target.label}: refquant {i}/{n}"),
              override=carry or None)
    nodes, unobs = [], []
    for i, node in enumerate(g.nodes):
        progress(f"{target.label}: judging {i + 1}/{len(g.nodes)} {node.name}")
        outs = [o for o in node.outputs if o and o in target.tensors and o in own.values]
        unobs += [o for o in node.outputs if o and o not in target.tensors]
        if not outs:
            continue
        if node.name in skip:
            nodes.append(NodeJudgment(node.name, node.key, outs, [judge_tensor(o, target.tensors[o], own.values[o])
                                                                  for o in outs], [], not_modelled=skip[node.name]))
            continue
        nodes.append(_judge_node(g, node, outs, own, target))
    if not nodes:
        raise InvalidValueError(f"--against {target.label}: none of the model's {len(g.nodes)} node outputs is "
                                f"among the implementation's tensors; nothing to compare")
    rep = TargetReport(target.label, target.backend, target.version, nodes, unobs, list(target.notes))
    first = next((n for n in nodes if n.klass == NEW), None)
    if first is not None:
        _explain_first(rep, first, g, own, target)
    return rep


def unmodelled(target):
    """{node: why} for the target's nodes that are not modelled, and the nodes that read one of them
    through tensors the target does not expose (their inputs are not known; not judged)."""
    skip = dict(getattr(target, "not_modelled", None) or {})
    tainted = {}                    # unobservable tensor -> the not-modelled node it comes from
    for n in target.graph.nodes if skip else []:
        origin = n.name if n.name in skip else next((tainted[i] for i in n.inputs if i in tainted), None)
        if origin is None:
            continue
        if n.name not in skip:
            skip[n.name] = f"an input comes from not-modelled node {origin!r} through tensors that are not observable"
        tainted.update({o: origin for o in n.outputs if o and o not in target.tensors})
    return skip


def _node_inputs(g, node, own, target):
    ins, missing = {}, []
    for name in node.inputs:
        if not name or name in g.initializers:
            continue
        if name in target.tensors:
            ins[name] = target.tensors[name]
        else:
            ins[name] = own.values[name].v
            missing.append(name)
    return ins, missing


def _judge_node(g, node, outs, own, target):
    own_j = [judge_tensor(o, target.tensors[o], own.values[o]) for o in outs]
    ins, missing = _node_inputs(g, node, own, target)
    err, act_j = "", []
    try:
        # an input the implementation does not expose: refquant's own value with its enclosure
        res = dict(zip(node.outputs, run_node(g, node, {k: own.values[k] if k in missing else v for k, v in ins.items()},
                                              target.backend)))
        act_j = [judge_tensor(o, target.tensors[o], res[o]) for o in outs]
    except RefquantError as exc:
        err = str(exc)
    return NodeJudgment(node.name, node.key, outs, own_j, act_j, missing, err)


def _explain_first(rep, first, g, own, target):
    node = next(n for n in g.nodes if n.name == first.node)
    rep.first_divergent = node.name
    worst = first.worst()
    ins, _ = _node_inputs(g, node, own, target)
    index = tuple(worst.first[0]) if worst and worst.first and isinstance(worst.first[0], list) else None
    try:
        rep.explain = explain_node(g, node, ins, target.backend, index, target.tensors.get(worst.tensor))
    except RefquantError as exc:
        rep.explain = f"(no trace: {exc})"
    try:
        rep.diagnosis = diagnose_node(g, node, ins, {o: target.tensors[o] for o in first.outputs})
    except RefquantError as exc:
        rep.diagnosis = [{"semantics": "(none)", "why": str(exc)}]
    try:
        rep.audit = audit_node(g, node, ins, target.tensors[node.outputs[0]])
    except RefquantError as exc:
        rep.audit = {"verdict": f"(no audit: {exc})", "ranking": []}


def parting(reports):
    """Where two targets part: the first tensor both exposed on which they differ, with the node
    (and op) that wrote it in each graph."""
    out = []
    for i in range(len(reports) - 1):
        a, b = reports[i], reports[i + 1]
        pa, pb = a[1].graph.producer(), b[1].graph.producer()
        for node in a[1].graph.nodes:
            hit = next((t for t in node.outputs if t in a[1].tensors and t in b[1].tensors and t in pb
                        and not _same(a[1].tensors[t], b[1].tensors[t])), None)
            if hit:
                diff = _count_diff(a[1].tensors[hit], b[1].tensors[hit])
                first = np.argwhere(a[1].tensors[hit] != b[1].tensors[hit])[:1].tolist()
                out.append({"a": a[0].label, "b": b[0].label, "tensor": hit, "elements_differ": diff,
                            "first": first, "node_a": pa[hit].name, "op_a": pa[hit].key, "node_b": pb[hit].name,
                            "op_b": pb[hit].key, "arithmetic_a": _arithmetic(a[1], pa[hit]),
                            "arithmetic_b": _arithmetic(b[1], pb[hit])})
                break
    return out


def _arithmetic(target, node):
    why = (getattr(target, "not_modelled", None) or {}).get(node.name)
    return f"not modelled: {why}" if why else describe(target, node)


def _same(x, y):
    return x.shape == y.shape and np.array_equal(x, y, equal_nan=True)


def _count_diff(x, y):
    return int(np.sum(x != y)) if x.shape == y.shape else int(x.size)


def compare(model_path, against, feeds, backend="onnxruntime", progress=_quiet, level="disable"):
    """[(TargetReport, Target)] for each --against spec, and the parting points between them.
    ``level``: for dumps, the graph the device ran is the model fused as onnxruntime would at that
    level (refquant/model/fusion.py; default: as written)."""
    out = []
    for spec in against:
        progress(f"{spec}: running the implementation")
        target = tg.build(spec, model_path, feeds, backend, level)
        out.append((compare_target(target, feeds, progress), target))
    return out, parting(out)
