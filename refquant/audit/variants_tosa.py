"""``refquant audit`` / ``explain`` for the TOSA 1.0 integer operators of refquant/tosa.py (docs/audit.md §7.2):
ADD / SUB / MUL (int32 results, MUL's ``shift``), ARITHMETIC_RIGHT_SHIFT (``round``), TABLE, CLAMP and
REDUCE_SUM, one variant each ('tosa').

A case gives the operator's tensors (``a``, ``b``, or ``x``), ``dtype`` (the input type, defaulting to the
operator's) and its other parameters in ``attrs`` under the function's names (``shift``, ``round``,
``table``, ``min_val``, ``max_val``, ``axis``). A case that TOSA rejects (ERROR_IF, REQUIRE,
unpredictable) is refused as the spec refuses it (exit 2, the spec's message). The dump holds the
result type: int32 for MUL, int16 TABLE, REDUCE_SUM and the int32 operators, otherwise the input type.
Faults (device bugs): ARITHMETIC_RIGHT_SHIFT with ``round`` inverted, MUL with its ``shift`` dropped.
"""

import inspect

from ..errors import InvalidValueError

TENSORS = {"tosa_add_i32": ("a", "b"), "tosa_sub_i32": ("a", "b"), "tosa_mul_i32": ("a", "b"),
           "tosa_arithmetic_right_shift": ("a", "b"), "tosa_table": ("x",), "tosa_clamp": ("x",),
           "tosa_reduce_sum": ("x",)}
TOSA_OPS = tuple(TENSORS)
TYPE_KW = ("in_type", "dtype")


def _params(fn):
    return inspect.signature(fn).parameters


def default_dtype(fn):
    for k in TYPE_KW:
        if k in _params(fn):
            return _params(fn)[k].default
    return "int32"


def y_type(case):
    if case.op == "tosa_mul_i32" or case.op == "tosa_table" and case.dtype == "int16":
        return "int32"
    return case.dtype


def attr_names(op, fn):
    """The parameters of ``fn`` a case gives in attrs (every one but the tensors and the type)."""
    return [n for i, n in enumerate(_params(fn)) if i >= len(TENSORS[op]) and n not in TYPE_KW]


def form_case(spec, fn, base_dir, dtype):
    """(inputs, q, attrs) of a TOSA operator case (the tensors read as ``dtype``)."""
    from .variants_pool import int_tensor
    op = spec["op"]
    attrs = spec.get("attrs", {})
    if not isinstance(attrs, dict):
        raise InvalidValueError(f"attrs must be a JSON object, got {attrs!r}")
    allowed = attr_names(op, fn)
    if set(attrs) - set(allowed):
        raise InvalidValueError(f"attrs {sorted(set(attrs) - set(allowed))}: {op} takes {allowed}")
    required = [n for n in allowed if _params(fn)[n].default is inspect.Parameter.empty]
    if set(required) - set(attrs):
        raise InvalidValueError(f"a {op} case needs attrs {required}")
    inputs = {}
    for n in TENSORS[op]:
        if n not in spec:
            raise InvalidValueError(f"a {op} case needs input tensor {n!r}")
        inputs[n] = int_tensor(spec[n], n, base_dir, dtype)
    return inputs, (), dict(attrs)


def call(case, fn):
    """The operator's function on the case: tensors, then the positional parameters, the type keyword."""
    p = _params(fn)
    tensors = [case.inputs[n] for n in TENSORS[case.op]]
    pos = [case.attrs[n] for n in p if n in case.attrs and p[n].kind == p[n].POSITIONAL_OR_KEYWORD]
    kw = {n: v for n, v in case.attrs.items() if p[n].kind == p[n].KEYWORD_ONLY}
    tkw = next(k for k in TYPE_KW if k in p)
    return fn(*tensors, *pos, **{tkw: case.dtype}, **kw)


def _round_inverted(case):
    """ARITHMETIC_RIGHT_SHIFT with ``round`` inverted (the rounding bit added where it must not be, or dropped)."""
    from .. import tosa
    return tosa.arithmetic_right_shift(case.inputs["a"], case.inputs["b"], round=not case.attrs.get("round", False),
                                       dtype=case.dtype)


def _shift_dropped(case):
    """MUL computed without its ``shift`` (shift 0: the raw int32 product)."""
    from .. import tosa
    return tosa.mul(case.inputs["a"], case.inputs["b"], 0, in_type=case.dtype)


def element_inputs(case, i):
    """The operands of output element ``i``: each tensor's value where it has the output's shape,
    the reduced values (first 16) for REDUCE_SUM."""
    import numpy as np
    out = {}
    if case.op == "tosa_reduce_sum":
        x = np.array(case.inputs["x"])
        at = list(np.unravel_index(i, case.out_shape))
        ax = case.attrs["axis"]
        at[ax] = slice(None)
        return {"group": [int(v) for v in x[tuple(at)]][:16]}
    for n in TENSORS[case.op]:
        arr = np.array(case.inputs[n])
        if tuple(arr.shape) == tuple(case.out_shape):
            out[n] = int(arr.reshape(-1)[i])
    return out


def explain_steps(case, flat):
    """The operands of one element and the operator's own steps (TOSA 1.0 pseudocode, spec cd5acdd)."""
    from ..trace import Step
    e = element_inputs(case, flat)
    steps = [Step(f"input {k}", k, v) for k, v in e.items()]
    a, b = e.get("a"), e.get("b")
    if case.op == "tosa_arithmetic_right_shift" and a is not None and b is not None:
        bit = (a >> (b - 1)) & 1 if b > 0 else 0
        steps += [Step("a >> b", "arithmetic (floor) shift", a >> b),
                  Step("round bit", "bit b-1 of a, added when round is set" + (" (round set)" if case.attrs.get(
                      "round") else " (round not set)"), bit)]
    elif case.op == "tosa_mul_i32" and a is not None and b is not None:
        sh = case.attrs.get("shift", 0)
        steps.append(Step("product", "a * b (64-bit)", a * b))
        if sh:
            steps.append(Step("rounded shift", f"(a b + 2^{sh - 1}) >> {sh} (ties toward +inf)",
                              (a * b + (1 << (sh - 1))) >> sh))
    elif case.op == "tosa_table" and "x" in e:
        i = e["x"] + (128 if case.dtype == "int8" else 32768)
        steps.append(Step("table index", "x + 128 (int8); int16: ((x + 32768) >> 7, (x + 32768) & 127), index and fraction",
                          i if case.dtype == "int8" else (i >> 7, i & 127)))
    return steps


for _f in (_round_inverted, _shift_dropped):
    _f.takes_case = True

FAULTS = {"tosa_arithmetic_right_shift": {"round inverted": _round_inverted},
          "tosa_mul_i32": {"shift dropped": _shift_dropped}}
