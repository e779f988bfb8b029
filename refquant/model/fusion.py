"""A model of onnxruntime's QDQ fusions per graph optimization level (without onnxruntime).

Reproduces: onnxruntime 1.32.0 core/optimizer/qdq_transformer (QDQSelectorActionTransformer: the
selectors of qdq_selectors.cc and the actions of qdq_actions.cc), run at level extended and above;
level basic only folds constants (Constant / Identity become initializers: no arithmetic changes);
level all adds layout rewrites (NHWC com.microsoft.QLinearConv between Transposes, NCHWc float
convs) that move data without changing any value, so the model here is the extended graph.

Rules (every input DequantizeLinear's input is 8-bit; the output feeds exactly one QuantizeLinear
and is no graph output; a DQ whose output has other readers is kept for them):

    DQ(x), DQ(w const) [, DQ(b int32 const)] -> Conv   -> Q   =>  QLinearConv
    DQ(a), DQ(b)                             -> MatMul -> Q   =>  QLinearMatMul
    DQ(a), DQ(b const) [, DQ(c int32 const)] -> Gemm   -> Q   =>  com.microsoft.QGemm
    DQ(a), DQ(b)          -> Add | Mul                  -> Q   =>  com.microsoft.QLinearAdd | QLinearMul
    DQ(x) -> AveragePool | GlobalAveragePool | Softmax | Sigmoid | LeakyRelu -> Q
                                                             =>  com.microsoft.QLinear<op>
    DQ(x_i)... -> Concat -> Q                                =>  com.microsoft.QLinearConcat
    DQ(x) -> Reshape | Transpose | Flatten | Squeeze | Unsqueeze | MaxPool -> Q, with equal
             scale and zero point on both sides                =>  the op on the integers (DQ, Q dropped)

Everything else (Div, ReduceMean, LayerNormalization, ...) stays float between its DQ and Q.
``tests/test_model.py`` checks the predicted graph's ops against onnxruntime's own optimized graph.
"""

import numpy as np

from .graph import MS, Graph, Node

LEVELS = ("disable", "basic", "extended", "all")
MOVEMENT = ("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "MaxPool")
UNARY = {"AveragePool": "QLinearAveragePool", "GlobalAveragePool": "QLinearGlobalAveragePool",
         "Softmax": "QLinearSoftmax", "Sigmoid": "QLinearSigmoid", "LeakyRelu": "QLinearLeakyRelu"}
BINARY = {"Add": "QLinearAdd", "Mul": "QLinearMul"}


class _Ctx:
    def __init__(self, graph):
        self.g = graph
        self.prod = graph.producer()
        self.cons = graph.consumers()
        self.outputs = set(graph.outputs)

    def dq(self, name):
        """The DequantizeLinear writing ``name`` (its input 8-bit), or None."""
        n = self.prod.get(name)
        if n is None or n.key != "DequantizeLinear":
            return None
        if self.qtype(n) not in (np.dtype(np.uint8), np.dtype(np.int8), None):
            return None
        return n

    def qtype(self, n):
        """The integer type of a DequantizeLinear's input or a QuantizeLinear's output: its zero
        point's type, else (DQ) its input's type when that is an initializer or a graph input, else
        (Q, no zero point and no output_dtype) uint8; None when the graph does not say."""
        zp = self.g.initializers.get(n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2] else None
        if zp is not None:
            return np.dtype(zp.dtype)
        if n.key == "QuantizeLinear":
            return None if "output_dtype" in n.attrs else np.dtype(np.uint8)
        x = self.g.initializers.get(n.inputs[0])
        if x is not None:
            return np.dtype(x.dtype)
        return next((np.dtype(t) for name, t, _ in self.g.inputs if name == n.inputs[0]), None)

    def const(self, name):
        return name in self.g.initializers

    def single_q(self, node):
        """The one QuantizeLinear reading ``node``'s only output, or None."""
        out = node.outputs[0]
        readers = self.cons.get(out, [])
        if out in self.outputs or len(readers) != 1 or readers[0].key != "QuantizeLinear":
            return None
        return readers[0]


def _triple(dq):
    """(x, scale, zero point) inputs of a DequantizeLinear."""
    return [dq.inputs[0], dq.inputs[1], dq.inputs[2] if len(dq.inputs) > 2 else ""]


def _bias(c, name):
    """The int32 input of a bias DequantizeLinear (constant), or None."""
    n = c.prod.get(name)
    if n is None or n.key != "DequantizeLinear":
        return None
    b = c.g.initializers.get(n.inputs[0])
    return n.inputs[0] if b is not None and b.dtype == np.int32 else None


def _fuse_one(c, node):
    """(fused node, the DQ/Q nodes it absorbs) or None."""
    q = c.single_q(node)
    if q is None:
        return None
    yq = [q.inputs[1], q.inputs[2] if len(q.inputs) > 2 else ""]
    op = node.key
    if op in ("Conv", "Gemm", "MatMul"):
        return _fuse_linear(c, node, q, yq)
    if op in BINARY:
        a, b = c.dq(node.inputs[0]), c.dq(node.inputs[1])
        if a is None or b is None:
            return None
        return Node(node.name, BINARY[op], MS, _triple(a) + _triple(b) + yq, q.outputs, {}), [a, b, q]
    if op in UNARY:
        x = c.dq(node.inputs[0])
        if x is None or c.qtype(x) != c.qtype(q):    # onnxruntime 1.32.0: same 8-bit type both sides
            return None
        attrs = dict(node.attrs)
        if op == "Softmax":
            attrs.setdefault("opset", c.g.opset)
        return Node(node.name, UNARY[op], MS, _triple(x) + yq, q.outputs, attrs), [x, q]
    if op == "Concat":
        dqs = [c.dq(i) for i in node.inputs]
        if any(d is None for d in dqs):
            return None
        ins = yq + [i for d in dqs for i in _triple(d)]
        return Node(node.name, "QLinearConcat", MS, ins, q.outputs, dict(node.attrs)), dqs + [q]
    if op in MOVEMENT:
        return _drop_qdq(c, node, q)
    return None


def _fuse_linear(c, node, q, yq):
    a, w = c.dq(node.inputs[0]), c.dq(node.inputs[1])
    if a is None or w is None or (node.key != "MatMul" and not c.const(w.inputs[0])):
        return None
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else None
    b_int = _bias(c, bias) if bias else None
    if bias and b_int is None:
        return None
    absorbed = [a, w, q] + ([c.prod[bias]] if bias else [])
    if node.key == "Conv":
        ins = _triple(a) + _triple(w) + yq + ([b_int] if b_int else [])
        return Node(node.name, "QLinearConv", "", ins, q.outputs, dict(node.attrs)), absorbed
    if node.key == "MatMul":
        return Node(node.name, "QLinearMatMul", "", _triple(a) + _triple(w) + yq, q.outputs, {}), absorbed
    ins = _triple(a) + _triple(w) + [b_int or ""] + yq
    return Node(node.name, "QGemm", MS, ins, q.outputs, dict(node.attrs)), absorbed


def _same_params(c, dq, q):
    g = c.g.initializers
    names = (dq.inputs[1], q.inputs[1], dq.inputs[2] if len(dq.inputs) > 2 else None,
             q.inputs[2] if len(q.inputs) > 2 else None)
    if not all(n is None or n in g for n in names):
        return False
    s_eq = np.array_equal(g[names[0]], g[names[1]])
    z = [g[n] if n else np.zeros((), np.uint8) for n in names[2:]]
    return s_eq and np.array_equal(z[0], z[1]) and z[0].dtype == z[1].dtype


def _drop_qdq(c, node, q):
    x = c.dq(node.inputs[0])
    if x is None or not _same_params(c, x, q):
        return None
    return Node(node.name, node.op_type, node.domain, [x.inputs[0]] + node.inputs[1:], q.outputs,
                dict(node.attrs)), [x, q]


def _fold_constants(graph):
    """Level basic: Constant nodes become initializers, Identity nodes are removed (their readers read
    the Identity's input), and a DequantizeLinear read by several nodes is duplicated, one per reader
    (onnxruntime's EnsureUniqueDQForNodeUnit): no value changes."""
    inits, nodes, alias = dict(graph.initializers), [], {}
    for n in graph.nodes:
        n = Node(n.name, n.op_type, n.domain, [alias.get(i, i) for i in n.inputs], list(n.outputs), dict(n.attrs))
        if n.key == "Constant" and "value" in n.attrs:
            inits[n.outputs[0]] = np.asarray(n.attrs["value"])
        elif n.key == "Identity" and n.outputs[0] not in graph.outputs:
            alias[n.outputs[0]] = n.inputs[0]
        else:
            nodes.append(n)
    return Graph(_unique_dq(nodes, graph.outputs), inits, graph.inputs, graph.outputs, graph.opset, graph.source)


def _unique_dq(nodes, outputs):
    readers = {}
    for n in nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n)
    out = []
    for n in nodes:
        rs = readers.get(n.outputs[0], []) if n.key == "DequantizeLinear" else []
        if len(rs) < 2 or n.outputs[0] in outputs:
            out.append(n)
            continue
        out.append(n)
        for k, r in enumerate(rs[1:], 1):
            name = f"{n.outputs[0]}/duplicated{k}"
            out.append(Node(f"{n.name}/duplicated{k}", n.op_type, n.domain, list(n.inputs), [name], dict(n.attrs)))
            r.inputs = [name if i == n.outputs[0] else i for i in r.inputs]
    return out


def _dynamic_matmul(c, node):
    """DynamicQuantizeLinear(x) -> MatMulInteger(y, W const, yz, Wz) -> Cast -> Mul(., Mul(ys, Ws)) [-> Add(., bias)]
    => com.microsoft.DynamicQuantizeMatMul(x, W, Ws, Wz, bias) (onnxruntime's DynamicQuantizeMatMulFusion,
    level extended; the graphs onnxruntime.quantization.quantize_dynamic writes)."""
    dq = c.prod.get(node.inputs[0])
    if dq is None or dq.key != "DynamicQuantizeLinear" or not c.const(node.inputs[1]) or len(node.inputs) < 4 \
            or node.inputs[2] != dq.outputs[2]:
        return None
    chain, cur = [node], node
    for want in ("Cast", "Mul"):
        rs = c.cons.get(cur.outputs[0], [])
        if len(rs) != 1 or rs[0].key != want or cur.outputs[0] in c.outputs:
            return None
        chain.append(rs[0])
        cur = rs[0]
    other = [i for i in cur.inputs if i != chain[1].outputs[0]]
    smul = c.prod.get(other[0]) if other else None
    if smul is None or smul.key != "Mul" or dq.outputs[1] not in smul.inputs:
        return None
    w_scale = next(i for i in smul.inputs if i != dq.outputs[1])
    chain.append(smul)
    bias, out = "", cur.outputs[0]
    rs = c.cons.get(out, [])
    if len(rs) == 1 and rs[0].key == "Add" and out not in c.outputs and any(c.const(i) for i in rs[0].inputs):
        bias = next(i for i in rs[0].inputs if c.const(i))
        chain.append(rs[0])
        out = rs[0].outputs[0]
    readers = [r for r in c.cons.get(dq.outputs[0], [])]
    absorbed = chain + ([dq] if readers == [node] else [])
    fused = Node(node.name, "DynamicQuantizeMatMul", MS, [dq.inputs[0], node.inputs[1], w_scale, node.inputs[3], bias],
                 [out], {})
    return fused, absorbed


def fuse(graph, level):
    """The graph onnxruntime 1.32.0 runs at ``level`` (as modelled here; see the module text)."""
    if level not in LEVELS:
        from ..errors import InvalidValueError
        raise InvalidValueError(f"onnxruntime level {level!r}; expected one of {', '.join(LEVELS)}")
    if level == "disable":
        return graph
    if graph.format == "tflite":
        from ..errors import InvalidValueError
        raise InvalidValueError(f"--level {level!r}: onnxruntime's fusions apply to ONNX models; a TFLite model "
                                f"runs as written (level 'disable')")
    graph = _fold_constants(graph)
    if level == "basic":
        return graph
    c = _Ctx(graph)
    fused, absorbed = {}, set()
    for node in graph.nodes:
        hit = _dynamic_matmul(c, node) if node.key == "MatMulInteger" else _fuse_one(c, node)
        if hit:
            fused[node.name] = hit[0]
            absorbed.update(id(n) for n in hit[1])
    keep = []
    for n in graph.nodes:
        if n.name in fused:
            keep.append(fused[n.name])
        elif id(n) not in absorbed:
            keep.append(n)
    keep = _restore_shared(graph, keep, fused, c)
    return Graph(keep, graph.initializers, graph.inputs, graph.outputs, graph.opset, f"{graph.source} (fused: {level})")


def _restore_shared(graph, nodes, fused, c):
    """Put back every absorbed DQ whose output is still read by a node that was not fused."""
    have = {o for n in nodes for o in n.outputs} | set(graph.initializers) | {n for n, _, _ in graph.inputs}
    need = {i for n in nodes for i in n.inputs if i} | set(graph.outputs)
    missing = need - have
    back = [n for n in graph.nodes if any(o in missing for o in n.outputs)]
    if not back:
        return nodes
    from .graph import _toposort
    return _toposort(nodes + back, set(graph.initializers) | {n for n, _, _ in graph.inputs})


def op_counts(graph):
    """{op type: count} ignoring Transpose nodes and the domain (the NHWC rewrite of level all, which also
    renames an 8-bit MaxPool com.microsoft.NhwcMaxPool: counted as MaxPool)."""
    out = {}
    for n in graph.nodes:
        if n.op_type != "Transpose":
            t = "MaxPool" if n.op_type == "NhwcMaxPool" else n.op_type
            out[t] = out.get(t, 0) + 1
    return out


def check_against(predicted, actual):
    """'' when the predicted graph has the ops of onnxruntime's graph, else a line naming the differences."""
    a, b = op_counts(predicted), op_counts(actual)
    if a == b:
        return ""
    diff = {k: (a.get(k, 0), b.get(k, 0)) for k in sorted(set(a) | set(b)) if a.get(k, 0) != b.get(k, 0)}
    return "; ".join(f"{k}: modelled {x}, onnxruntime {y}" for k, (x, y) in diff.items())
