"""``refquant audit`` / ``explain`` for the variant ops: quantized add / sub / mul and activations.

A variant case names an op of ``VARIANT_OPS`` (the golden 'ops' suite's ops), its inputs and
quantization, and the semantics the device is supposed to implement: ``variant`` (a name of
``backends.op_variants(op)``) or ``backend`` (a row of the backend table; its ``ops`` name the
variant).  The audit compares a dump with that variant's output, locates every mismatch (with the
element's inputs; for a unary op also grouped by input value, which points at a wrong table
entry), and ranks every candidate semantics by its mismatches: each variant of the op (data:
the spec modules' ``VARIANTS``) and each fault of ``FAULTS`` (data: device bugs that are not a
backend's semantics, e.g. TFLite ADD without its 20-bit left shift, exact rounding with ties
away).  The best candidate names the backend rows that use it.  docs/audit.md §7.
"""

import inspect
import json
import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction

import numpy as np

from .. import backends, nested
from .. import fixedpoint as fp
from ..certified import ImplementationDefined, possible
from ..errors import InvalidValueError, RefquantError, ShapeError, UnknownNameError
from ..integers import get_type
from ..rounding import half_away, half_even
from ..tflite_ops import add_sub_params
from ..trace import Step
from . import variants_pool as P
from . import variants_tosa as TQ
from .case import _scale, _tensor_spec

BINARY_OPS = ("add", "sub", "mul")
UNARY_OPS = ("sigmoid", "tanh", "sigmoid_int16", "tanh_int16", "leaky_relu", "hard_swish", "relu", "softmax",
             "softmax_int16")
SOFTMAX_OPS = ("softmax", "softmax_int16")       # row-wise: mismatches grouped by d = max(row) - x
POOL_OPS = ("avg_pool", "global_avg_pool")        # NCHW, the unary convention, geometry in attrs
REDUCE_OPS = ("mean",)                           # the unary convention, axes / keepdims in attrs
FORM_OPS = P.FORM_OPS + TQ.TOSA_OPS              # their own calling conventions (variants_pool, variants_tosa)
SHAPED_OPS = POOL_OPS + REDUCE_OPS + FORM_OPS     # the output shape is the declared variant's
VARIANT_OPS = BINARY_OPS + UNARY_OPS + POOL_OPS + REDUCE_OPS + FORM_OPS
QKEYS = {"binary": ("a_scale", "a_zero_point", "b_scale", "b_zero_point", "y_scale", "y_zero_point"),
         "unary": ("x_scale", "x_zero_point", "y_scale", "y_zero_point")}


@dataclass
class VariantCase:
    """One audited variant op: inputs (nested int lists), quantization (Fractions, ints), the variant."""
    op: str
    variant: str
    dtype: str
    inputs: dict
    q: tuple
    attrs: dict = field(default_factory=dict)
    name: str = "case"
    source: str = "flags"

    @property
    def kind(self):
        return "binary" if self.op in BINARY_OPS else "form" if self.op in FORM_OPS else "unary"

    @cached_property
    def out_shape(self):
        if self.op in SHAPED_OPS:      # the declared variant's output (every variant has the op's geometry)
            try:
                shape = tuple(nested.shape(_call(self, backends.op_variants(self.op)[self.variant])))
                if any(d < 1 for d in shape):
                    raise ShapeError(f"{self.op} on this case has no output (shape {list(shape)}); expected a "
                                     "geometry that leaves at least one output element")
                return shape
            except RefquantError:
                raise
            except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError) as exc:
                raise InvalidValueError(f"{self.op} {self.variant} cannot run on this case (attrs {self.attrs}): "
                                        f"{type(exc).__name__}: {exc}") from None
        return tuple(nested.shape(self.inputs["a" if self.kind == "binary" else "x"]))

    @property
    def y_type(self):
        return TQ.y_type(self) if self.op in TQ.TOSA_OPS else self.dtype

    def describe(self):
        d = {"name": self.name, "op": self.op, "variant": self.variant, "dtype": self.dtype,
             "source": self.source, "output_shape": list(self.out_shape),
             "quantization": dict(zip(QKEYS.get(self.kind, ("y_scale", "y_zero_point")), [str(v) for v in self.q])),
             "attrs": {k: str(v) if isinstance(v, Fraction) else v for k, v in self.attrs.items()}}
        if self.kind == "form" and self.op in P.CONCATS:
            d["inputs"] = [{"shape": list(nested.shape(x)), "scale": str(s), "zero_point": z}
                           for x, s, z in self.inputs["inputs"]]
        if P.layout(self.op):
            d["layout"] = P.layout(self.op)
        return d


def is_variant_spec(spec):
    return isinstance(spec, dict) and spec.get("op") in VARIANT_OPS


def make_variant_case(spec, base_dir=".", name=None, source="flags"):
    """A checked ``VariantCase`` from a dict (a case JSON, flags, or a golden 'ops' vector)."""
    op = spec.get("op")
    if op not in VARIANT_OPS:
        raise UnknownNameError("variant op", op, VARIANT_OPS)
    variant = spec.get("variant")
    if spec.get("backend") is not None:
        if not isinstance(spec["backend"], str):
            raise InvalidValueError(f"backend {spec['backend']!r} must be a backend row name")
        of_row = backends.variant(spec["backend"], op)
        if variant is not None and variant != of_row:
            raise InvalidValueError(f"variant {variant!r} contradicts backend {spec['backend']!r}, whose {op} is "
                                    f"{of_row!r}; give one of them")
        variant = of_row
    found = backends.op_variants(op)
    if variant not in found:
        raise UnknownNameError(f"variant of {op} (give 'variant' or 'backend')", variant, sorted(found))
    dtype = spec.get("dtype", TQ.default_dtype(found[variant]) if op in TQ.TOSA_OPS else "int8")
    if not isinstance(dtype, str):
        raise InvalidValueError(f"dtype {dtype!r} must be a type name such as 'int8'")
    t = get_type(dtype)
    if op in FORM_OPS:
        inputs, q, attrs = (TQ if op in TQ.TOSA_OPS else P).form_case(spec, found[variant], base_dir, dtype)
        return VariantCase(op, variant, dtype, inputs, q, attrs, name or spec.get("name", "case"), source)
    kind = "binary" if op in BINARY_OPS else "unary"
    inputs = {}
    for n in ("a", "b") if kind == "binary" else ("x",):
        if n not in spec:
            raise InvalidValueError(f"a {op} case needs input tensor {n!r}")
        arr = np.asarray(_tensor_spec(spec[n], n, base_dir, dtype, spec.get("shape")))
        vals = arr.tolist()
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in nested.flatten(vals)):
            raise InvalidValueError(f"input {n!r} holds non-integers; expected {dtype} values")
        if not all(t.min <= v <= t.max for v in nested.flatten(vals)):
            raise InvalidValueError(f"input {n!r} holds values outside {dtype} [{t.min}, {t.max}]")
        if not nested.flatten(vals):
            raise ShapeError(f"input {n!r} is empty; expected at least one {dtype} value")
        inputs[n] = vals
    if kind == "binary" and nested.shape(inputs["a"]) != nested.shape(inputs["b"]):
        raise ShapeError(f"inputs a {nested.shape(inputs['a'])} and b {nested.shape(inputs['b'])} differ in shape")
    q = []
    for k in QKEYS[kind]:
        v = spec.get(k, 0 if k.endswith("zero_point") else None)
        if v is None:
            raise InvalidValueError(f"a {op} case needs {k}")
        if k.endswith("zero_point") and (isinstance(v, bool) or not isinstance(v, int) or not t.min <= v <= t.max):
            raise InvalidValueError(f"{k} = {v!r} must be an integer in {dtype} [{t.min}, {t.max}]")
        q.append(Fraction(_scale(v, k, False)) if k.endswith("scale") else v)
    attrs = spec.get("attrs", {})
    if not isinstance(attrs, dict):
        raise InvalidValueError(f"attrs must be a JSON object, got {attrs!r}")
    P.check_geometry(attrs)
    if not accepts(found[variant], attrs):
        raise InvalidValueError(f"attrs {sorted(attrs)}: variant {variant} of {op} takes none of "
                                f"{sorted(set(attrs) - _keywords(found[variant]))}")
    return VariantCase(op, variant, dtype, inputs, tuple(q), dict(attrs), name or spec.get("name", "case"), source)


def _keywords(fn):
    return {n for n, prm in inspect.signature(fn).parameters.items() if prm.kind == prm.KEYWORD_ONLY}


def accepts(fn, attrs):
    """Whether ``fn`` takes every attribute of ``attrs`` as a keyword (a ``**kw`` wrapper, such as the
    TOSA chain variants, is taken to accept none: it forwards a fixed set)."""
    return set(attrs) <= _keywords(fn)


def golden_variant_case(ref, overrides=None):
    """The case of a golden 'ops' vector ('ops:7' or 7), optionally with overrides (e.g. variant)."""
    from .. import golden
    tc = int(str(ref).split(":")[-1])
    gset = golden.load_set("ops")
    for _g, t in gset.tests():
        if t["tcId"] == tc:
            p = t["params"]
            ins = {f["name"]: gset.read_tensor(f) for f in t["files"] if f["role"] == "input"}
            spec = {"op": p["op"], "variant": p["variant"], "dtype": p["dtype"], "attrs": p.get("attrs", {})}
            for k, key in [] if p["op"] in P.FORM_OPS else zip(("sa", "za", "sb", "zb", "sy", "zy") if "a" in ins else ("sx", "zx", "sy", "zy"),
                              QKEYS["binary" if "a" in ins else "unary"]):
                spec[key] = f"0x{p[k]}" if k.startswith("s") else p[k]      # scales: binary32 bits in hex
            for n, tensor in ins.items():
                spec[n] = nested.unflatten(list(tensor.values), tuple(tensor.shape))
            spec.update(overrides or {})
            return make_variant_case(spec, ".", f"ops:{tc}", "golden")
    raise InvalidValueError(f"golden ops set has no test {tc}")


def load_variant_case(path, overrides=None):
    with open(path, encoding="utf-8") as fh:
        spec = json.load(fh)
    spec.update(overrides or {})
    return make_variant_case(spec, os.path.dirname(os.path.abspath(path)), os.path.basename(path), path)


# ##########################################################################
# Faults: device bugs that are no backend's semantics (data, like the VARIANTS tables)
# ##########################################################################

def _flat_pairs(a, b):
    return list(zip(nested.flatten(a), nested.flatten(b))), nested.shape(a)


def _tflite_no_shift(sign):
    def fault(a, sa, za, b, sb, zb, sy, zy, *, dtype="int8", **_):
        """TFLite reference ADD/SUB whose data path drops the left shift (20; int16 15) of each input
        while its multipliers are Prepare's (computed for the shift): the sum is 2^20 too small."""
        t = get_type(dtype)
        (m1, s1), (m2, s2), (mo, so) = add_sub_params(sa, sb, sy, 15 if dtype == "int16" else 20)
        mbqm = fp.multiply_by_quantized_multiplier
        pairs, shape = _flat_pairs(a, b)
        out = [min(t.max, max(t.min, mbqm(mbqm(x - za, m1, s1) + sign * mbqm(y - zb, m2, s2), mo, so) + zy))
               for x, y in pairs]
        return nested.unflatten(out, tuple(shape))
    return fault


def _ties_away(op):
    real = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "mul": lambda u, v: u * v}[op]

    def fault(a, sa, za, b, sb, zb, sy, zy, *, dtype="int8", **_):
        """The exact value, rounded half away from zero instead of half to even, + zp, saturated."""
        t = get_type(dtype)
        pairs, shape = _flat_pairs(a, b)
        out = [min(t.max, max(t.min, half_away(real(sa * (x - za), sb * (y - zb)) / sy) + zy)) for x, y in pairs]
        return nested.unflatten(out, tuple(shape))
    return fault


def _padding_counted(x, sx, zx, sy, zy, *, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=0,
                     count_include_pad=0, dtype="int8"):
    """The exact average pool with the count_include_pad attribute inverted (the padding counted in the
    divisor where it must not be, or not counted where it must)."""
    from ..qops import avg_pool
    return avg_pool(x, sx, zx, sy, zy, kernel_shape=kernel_shape, strides=strides, pads=pads, dilations=dilations,
                    ceil_mode=ceil_mode, count_include_pad=1 - int(count_include_pad), dtype=dtype)


# op -> {fault name: function with the variant's signature}
FAULTS = {
    "avg_pool": {"exact with count_include_pad inverted": _padding_counted},
    "add": {"tflite_ref without the 20-bit input left shift": _tflite_no_shift(1),
            "exact rounded ties-away (not ties-even)": _ties_away("add")},
    "sub": {"tflite_ref without the 20-bit input left shift": _tflite_no_shift(-1),
            "exact rounded ties-away (not ties-even)": _ties_away("sub")},
    "mul": {"exact rounded ties-away (not ties-even)": _ties_away("mul")},
    **P.SIGNATURE_FAULTS,                      # mean; the form ops' faults: variants_pool.FAULTS
}


# ##########################################################################
# The audit
# ##########################################################################

def _call(case, fn):
    if case.kind == "form":
        return (TQ if case.op in TQ.TOSA_OPS else P).call(case, fn)
    args = ([case.inputs["a"], *case.q[:2], case.inputs["b"], *case.q[2:]] if case.kind == "binary"
            else [case.inputs["x"], *case.q])
    return fn(*args, dtype=case.dtype, **case.attrs)


def run(case, fn):
    """fn on the case's inputs and quantization: the flat outputs (ints or ImplementationDefined)."""
    return nested.flatten(fn(case) if getattr(fn, "takes_case", False) else _call(case, fn))


def candidates(op):
    """Every candidate semantics of ``op``: ('variant', name, fn) for each variant, then the faults."""
    return ([("variant", n, f) for n, f in sorted(backends.op_variants(op).items())]
            + [("fault", n, f) for n, f in FAULTS.get(op, {}).items()])


def case_candidates(case):
    """``candidates(case.op)``, the other backends' pools of its family (variants_pool.siblings: 'op:name')
    and the form ops' faults (functions of the case)."""
    return (candidates(case.op)[:len(backends.op_variants(case.op))] + P.siblings(case)
            + candidates(case.op)[len(backends.op_variants(case.op)):]
            + [("fault", n, f) for n, f in {**P.FAULTS, **TQ.FAULTS}.get(case.op, {}).items()])


def rows_using(op, variant):
    """The backend rows whose ``ops`` name ``variant`` for ``op`` ('op2:variant': ``variant`` of op2)."""
    if ":" in variant:
        op, variant = variant.split(":", 1)
    return sorted(b.name for b in backends.BACKENDS.values() if b.ops.get(op) == variant)


def _mismatches(expected, actual):
    return [i for i, (e, a) in enumerate(zip(expected, actual)) if a not in possible(e)]


def _element_inputs(case, i):
    if case.op in TQ.TOSA_OPS:
        return TQ.element_inputs(case, i)
    if case.op in SHAPED_OPS or case.op in SOFTMAX_OPS:
        return P.element_inputs(case, i)
    if case.kind == "binary":
        return {"a": nested.flatten(case.inputs["a"])[i], "b": nested.flatten(case.inputs["b"])[i]}
    return {"x": nested.flatten(case.inputs["x"])[i]}


def _show(v):
    return list(v.candidates) if isinstance(v, ImplementationDefined) else v


def audit_variant(case, actual, first=5, diagnose_=True):
    """Compare a dump with the case's variant; locate and diagnose (a JSON-able dict)."""
    act = [int(v) for v in np.asarray(actual).reshape(-1).tolist()]
    exp = run(case, backends.op_variants(case.op)[case.variant])
    if len(act) != len(exp):
        raise ShapeError(f"the dump has {len(act)} elements, the case's output has {len(exp)}")
    bad = _mismatches(exp, act)
    res = {"case": case.describe(), "expected_semantics": case.variant, "elements": len(exp),
           "mismatches": len(bad), "max_abs_diff": max((min(abs(act[i] - v) for v in possible(exp[i])) for i in bad),
                                                       default=0),
           "first": [{"index": [int(j) for j in np.unravel_index(i, case.out_shape)], "flat": i, **_element_inputs(case, i),
                      "expected": _show(exp[i]), "actual": act[i]} for i in bad[:first]]}
    if case.op in SOFTMAX_OPS:
        res["by_diff"] = P.by_diff(case, exp, act, set(bad), _show)
    elif case.kind == "unary" and case.op not in SHAPED_OPS or case.op in ("tosa_table", "tosa_clamp"):
        res["by_input"] = _by_input(case, exp, act, bad)
    if diagnose_:
        res["diagnosis"] = diagnose_variant(case, act)
    return res


def _by_input(case, exp, act, bad):
    """Mismatches grouped by input value: a wrong table entry shows as every element of one input."""
    xs = nested.flatten(case.inputs["x"])
    groups = {}
    for i in bad:
        g = groups.setdefault(xs[i], {"input": xs[i], "expected": _show(exp[i]), "actual": set(), "count": 0})
        g["actual"].add(act[i])
        g["count"] += 1
    total = {x: xs.count(x) for x in groups}
    out = []
    for x, g in sorted(groups.items()):
        whole = g["count"] == total[x]
        out.append({**g, "actual": sorted(g["actual"]), "of": total[x],
                    "verdict": "every element with this input differs: the table entry for this input is wrong"
                    if whole and len(g["actual"]) == 1 else "some elements with this input differ"})
    return out


def diagnose_variant(case, act):
    """Rank every candidate semantics (variants, then faults) by its mismatches with the dump."""
    ranking = []
    for kind, name, fn in case_candidates(case):
        try:
            if case.kind != "form" and not getattr(fn, "takes_case", False) and not accepts(fn, case.attrs):
                raise InvalidValueError(f"takes none of the attributes {sorted(set(case.attrs) - _keywords(fn))}")
            out = run(case, fn)
        except RefquantError as exc:
            ranking.append({"kind": kind, "name": name, "applicable": False, "reason": str(exc)})
            continue
        bad = _mismatches(out, act)
        row = {"kind": kind, "name": name, "applicable": True, "mismatches": len(bad), "first": bad[:5]}
        if kind == "variant":
            row["backends"] = rows_using(case.op, name)
        ranking.append(row)
    usable = sorted((r for r in ranking if r["applicable"]),      # ties: the declared variant, variants, faults
                    key=lambda r: (r["mismatches"], r["name"] != case.variant, r["kind"] != "variant"))
    best = usable[0] if usable else None
    ties = [r["name"] for r in usable[1:] if best and r["mismatches"] == best["mismatches"]]
    return {"ranking": usable + [r for r in ranking if not r["applicable"]], "best": best and best["name"],
            "ties": ties, "verdict": _verdict(case, best, ties)}


def _verdict(case, best, ties):
    if best is None:
        return "no candidate semantics applies to this case"
    what = (f"backend variant {best['name']!r} (rows: {', '.join(best['backends']) or 'none'})"
            if best["kind"] == "variant" else f"fault {best['name']!r}")
    tied = f"; tied with {', '.join(ties)}" if ties else ""
    if best["mismatches"] == 0:
        return f"the dump matches {what} on every element{tied}"
    return f"closest: {what}, {best['mismatches']} element(s) differ{tied}"


def explain_variant(case, index, variant=None):
    """The derivation of one element: inputs, dequantized values, the exact real result, and the
    output of every variant (and fault) of the op at that element."""
    flat = int(np.ravel_multi_index(tuple(index), case.out_shape))
    ins = _element_inputs(case, flat)
    steps = [Step("case", f"{case.op}, {case.dtype}, expected semantics {variant or case.variant}", case.name)]
    if case.kind == "binary":
        sa, za, sb, zb, sy, zy = case.q
        u, v = sa * (ins["a"] - za), sb * (ins["b"] - zb)
        steps += [Step("input a", "a", ins["a"]), Step("input b", "b", ins["b"]),
                  Step("dequantized a", f"sa (a - za) = {sa} * ({ins['a']} - {za})", u),
                  Step("dequantized b", f"sb (b - zb) = {sb} * ({ins['b']} - {zb})", v)]
        real = {"add": u + v, "sub": u - v, "mul": u * v}[case.op] / sy
        steps += [Step("exact result / sy", f"({case.op} of the dequantized values) / sy", real),
                  Step("exact, ties even", "RNE(result / sy) + zy (before saturation)", half_even(real) + zy)]
    elif case.op not in SHAPED_OPS and case.op not in SOFTMAX_OPS:
        sx, zx, sy, zy = case.q
        steps += [Step("input x", "x", ins["x"]),
                  Step("dequantized x", f"sx (x - zx) = {sx} * ({ins['x']} - {zx})", sx * (ins["x"] - zx))]
    elif case.op in TQ.TOSA_OPS:
        steps += TQ.explain_steps(case, flat)
    else:
        steps += P.explain_steps(case, flat)
    for kind, name, fn in case_candidates(case):
        try:
            val = _show(run(case, fn)[flat])
        except RefquantError as exc:
            val = f"not applicable ({exc})"
        label = f"{kind} {name}" + (" (expected)" if name == (variant or case.variant) else "")
        steps.append(Step(label, (fn.__doc__ or name).strip().splitlines()[0], val))
    return steps


def text(res):
    """The audit's text output."""
    c = res["case"]
    lines = [f"audit: case {c['name']}: {c['op']} {c['dtype']} {c['output_shape']}, expected semantics: "
             f"{res['expected_semantics']}",
             f"mismatches: {res['mismatches']} of {res['elements']} elements, max |diff| {res['max_abs_diff']}"]
    for m in res["first"]:
        ins = ", ".join(f"{k}={m[k]}" for k in m if k not in ("index", "flat", "expected", "actual"))
        lines.append(f"  element {m['index']}{f' ({ins})' if ins else ''}: expected {m['expected']}, "
                     f"actual {m['actual']}")
    for g in res.get("by_input", [])[:10]:
        lines.append(f"  input {g['input']}: {g['count']} of {g['of']} differ (expected {g['expected']}, actual "
                     f"{g['actual']}): {g['verdict']}")
    for g in res.get("by_diff", [])[:10]:
        lines.append(f"  d = max - x = {g['d']}: {g['count']} of {g['of']} differ (actual - expected "
                     f"{g['actual_minus_expected']}): {g['verdict']}")
    d = res.get("diagnosis")
    if d:
        lines.append(f"diagnosis: {d['verdict']}")
        for r in d["ranking"][:8]:
            lines.append(f"  {r['kind']:7} {r['name']:48} " + (f"{r['mismatches']} mismatches" if r["applicable"]
                                                                else f"not applicable: {r['reason'][:60]}"))
    return "\n".join(lines)


# ##########################################################################
# Command line (refquant/cli/audit.py routes variant cases here)
# ##########################################################################

def case_from_args(case_path, overrides, golden_ref=None):
    """A VariantCase when the case (file, flags or golden vector) is a variant op, else None."""
    if golden_ref is not None:
        return golden_variant_case(golden_ref, overrides) if str(golden_ref).startswith("ops:") else None
    if case_path:
        if not os.path.isfile(case_path) or os.path.getsize(case_path) > 1 << 20:
            return None                   # a FIFO, a device, a huge file: the ordinary reader refuses it
        try:
            with open(case_path, encoding="utf-8") as fh:
                op = overrides.get("op", json.load(fh).get("op"))
        except (OSError, ValueError, AttributeError, RecursionError):
            return None                   # the ordinary reader reports what is wrong with the file
        return load_variant_case(case_path, overrides) if op in VARIANT_OPS else None
    return make_variant_case(overrides, os.getcwd(), overrides.get("name")) if is_variant_spec(overrides) else None


def run_cli_audit(args, case):
    """``refquant audit`` on a variant case: load the dump, audit, print; True when elements differ."""
    from . import report, tensors
    from . import variants_suggest as S
    actual = tensors.load(args.actual, args.actual_dtype or case.y_type,
                          args.actual_shape if args.actual_shape is not None else list(case.out_shape),
                          args.actual_format, name="actual")
    res = audit_variant(case, actual, first=args.first, diagnose_=not args.no_diagnose or bool(args.suggest_vectors))
    if args.suggest_vectors:
        best, what = res["diagnosis"]["best"], "input" if S.elementwise(case) else "input tensor set"
        try:
            if S.elementwise(case):
                entries = S.suggest(case, res["diagnosis"])
                n = S.write(args.suggest_vectors, case, entries, best)
            else:
                entries, never = S.suggest_tensors(case, res["diagnosis"])
                n = S.write_tensors(args.suggest_vectors, case, entries, never, best)
                entries = [{"separates": e["separates"]} for e in entries] + [{"never_separated": never}]
        except OSError as exc:
            raise InvalidValueError(f"--suggest-vectors {args.suggest_vectors}: cannot write it ({exc.strerror}); "
                                    "expected a writable file path") from None
        res["suggested_vectors"] = {"file": args.suggest_vectors, "vectors": n, "candidates": entries}
        print(f"suggest-vectors: {n} distinguishing {what}{'s' * (n != 1)} written to {args.suggest_vectors}",
              file=sys.stderr)
    if args.report:
        from .variants_report import write
        md, png = write(res, case, actual, args.report)
        res["report"] = {"markdown": md, "png": png}
    print(report.to_json(res) if args.json else text(res))
    if args.report and not args.json:
        print(f"report: {res['report']['markdown']}, map: {res['report']['png']}")
    return res["mismatches"] > 0
