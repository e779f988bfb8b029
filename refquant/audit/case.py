"""The audit case: one op (qlinear_matmul, matmul_integer, qlinear_conv, requantize, quantize) with its
input tensors and attributes; parsing and validation (``make_case``, ``load_case``), a golden vector
as a case (``golden_case``), and the parameters of a method for a case (``params_for``, biases).
"""

import os
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from .. import backends, ops
from .. import quantize as qz
from .. import requant as rq
from ..errors import (
    FormatFileError,
    InvalidValueError,
    RefquantError,
    ShapeError,
    SpecError,
    UnknownNameError,
    Unpredictable,
)
from ..integers import get_type
from ..profiles import PROFILES
from ..rounding import half_even
from . import tensors

OPS = ("qlinear_matmul", "matmul_integer", "qlinear_conv", "requantize", "quantize")


GEMM_OPS = ("qlinear_matmul", "matmul_integer", "qlinear_conv")


# qlinear_conv attribute names -> the internal (GEMM) names they are stored under
CONV_ALIASES = {"x_scale": "a_scale", "w_scale": "b_scale", "x_zero_point": "a_zero_point",
                "w_zero_point": "b_zero_point", "x_type": "a_type", "w_type": "b_type"}


CONV_NAMES = {v: k for k, v in CONV_ALIASES.items()}


@dataclass
class Case:
    op: str
    tensors: dict                     # a, b, bias, acc, x -> numpy arrays (validated)
    attrs: dict                       # scales, zero points, types, method/profile, params, ...
    name: str = "case"
    source: str = "flags"
    notes: list = field(default_factory=list)
    golden_expected: object = None    # the golden vector's output (golden_case), else None
    memo: dict = field(default_factory=dict, repr=False, compare=False)   # derived data computed once

    # -- attributes with defaults ------------------------------------------------------------
    def get(self, key, default=None):
        v = self.attrs.get(key)
        return default if v is None else v

    @property
    def y_type(self):
        if self.op == "matmul_integer":
            return "int32"
        if self.op == "quantize":
            return self.get("dtype", "int8")
        return self.get("y_type", self.get("a_type", "int8") if self.op in ("qlinear_matmul", "qlinear_conv") else "int8")

    @property
    def method(self):
        """The declared requantization method (profile names map to their backend's method)."""
        if self.op == "matmul_integer":
            return "int32"
        m = self.attrs.get("method")
        if m is None:
            prof = self.attrs.get("profile")
            if prof is not None:
                return profile_method(prof)
            return "exact"
        rq.get_method(m)
        return m

    @property
    def profile(self):
        p = self.get("profile", "exact")
        if p not in PROFILES:
            raise UnknownNameError("quantize profile", p, PROFILES)
        return p

    @property
    def out_shape(self):
        if self.op == "qlinear_conv":
            g = self.geometry()
            return (g["N"], g["M"], g["OH"], g["OW"])
        if self.op in ("qlinear_matmul", "matmul_integer"):
            return (self.tensors["a"].shape[0], self.tensors["b"].shape[1])
        if self.op == "requantize":
            return self.tensors["acc"].shape
        return self.tensors["x"].shape

    @property
    def channels(self):
        if self.op == "qlinear_conv":
            return self.out_shape[1]
        return self.out_shape[-1] if self.out_shape else 1

    def geometry(self):
        """qlinear_conv: N, C, H, W, M, Cg, kH, kW, strides, pads, dilations, group, OH, OW."""
        g = self.memo.get("geometry")
        if g is None:
            x, w = self.tensors["x"], self.tensors["w"]
            strides = list(self.get("strides", [1, 1]))
            pads = list(self.get("pads", [0, 0, 0, 0]))
            dil = list(self.get("dilations", [1, 1]))
            group = self.get("group", 1)
            if not isinstance(group, int) or isinstance(group, bool):
                raise InvalidValueError(f"group = {group!r} must be an integer")
            if len(strides) != 2 or len(pads) != 4 or len(dil) != 2 or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in strides + pads + dil):
                raise ShapeError(f"2-D conv needs 2 integer strides, 4 pads [top, left, bottom, right], 2 dilations; "
                                 f"got {strides}, {pads}, {dil}")
            N, M, OH, OW = ops.conv_geometry(x.shape, w.shape, strides, pads, dil, group)
            g = dict(N=N, C=x.shape[1], H=x.shape[2], W=x.shape[3], M=M, Cg=w.shape[1], kH=w.shape[2],
                     kW=w.shape[3], strides=strides, pads=pads, dilations=dil, group=group, OH=OH, OW=OW)
            self.memo["geometry"] = g
        return g

    def zb_vector(self):
        zb = self.get("b_zero_point", 0)
        n = self.tensors["w"].shape[0] if self.op == "qlinear_conv" else self.tensors["b"].shape[1]
        v = np.asarray(zb, dtype=np.int64).reshape(-1)
        if v.size == 1:
            return np.full(n, int(v[0]), dtype=np.int64)
        if v.size != n:
            what = "w_zero_point" if self.op == "qlinear_conv" else "b_zero_point"
            raise ShapeError(f"{what} has {v.size} values; expected 1 or {n} (one per "
                             f"{'output channel' if self.op == 'qlinear_conv' else 'column of B'})")
        return v

    def describe(self):
        d = {"name": self.name, "op": self.op, "source": self.source, "output_shape": list(self.out_shape),
             "output_type": self.y_type}
        if self.op in ("qlinear_matmul", "matmul_integer"):
            M, K = self.tensors["a"].shape
            d.update(M=int(M), K=int(K), N=int(self.tensors["b"].shape[1]),
                     a_type=self.get("a_type", "int8"), b_type=self.get("b_type", "int8"))
        conv = self.op == "qlinear_conv"
        if conv:
            g = self.geometry()
            d.update(x_shape=list(self.tensors["x"].shape), w_shape=list(self.tensors["w"].shape),
                     x_type=self.get("a_type", "int8"), w_type=self.get("b_type", "int8"), strides=g["strides"],
                     pads=g["pads"], dilations=g["dilations"], group=g["group"])
        if self.op != "matmul_integer":
            d["method" if self.op != "quantize" else "profile"] = self.method if self.op != "quantize" else self.profile
        for k in ("a_scale", "b_scale", "y_scale", "a_zero_point", "b_zero_point", "y_zero_point", "scale",
                  "zero_point", "params", "qmin", "qmax", "policy", "float_bias"):
            if self.attrs.get(k) is not None:
                v = self.attrs[k]
                d[CONV_NAMES.get(k, k) if conv else k] = v if not isinstance(v, (list, tuple)) or len(v) <= 8 else f"[{len(v)} values]"
        return d

    def shape_text(self):
        if self.op == "qlinear_conv":
            g = self.geometry()
            return (f"x {'x'.join(map(str, self.tensors['x'].shape))} * w {'x'.join(map(str, self.tensors['w'].shape))}"
                    f" -> {'x'.join(map(str, self.out_shape))}, strides {g['strides']}, pads {g['pads']}, "
                    f"dilations {g['dilations']}, group {g['group']}")
        return "x".join(map(str, self.out_shape))


def profile_method(profile):
    """The requantization method of the backend a profile names (GEMM ops): backends.py's row.

    The GEMM ops all take the backend's QLinearMatMul method (the pairing the audit has always
    used, also for qlinear_conv)."""
    try:
        return backends.get_backend(profile).method("qlinear_matmul")
    except UnknownNameError:
        names = [b for b in list(backends.BACKENDS) + list(backends.ALIASES)
                 if "qlinear_matmul" in backends.get_backend(b).ops]
        raise UnknownNameError("profile", profile, names) from None


TENSOR_NAMES = {"qlinear_matmul": ("a", "b", "bias"), "matmul_integer": ("a", "b", "bias"),
                "qlinear_conv": ("x", "w", "bias"), "requantize": ("acc",), "quantize": ("x",)}


REQUIRED = {"qlinear_matmul": ("a", "b"), "matmul_integer": ("a", "b"), "qlinear_conv": ("x", "w"),
            "requantize": ("acc",), "quantize": ("x",)}


def _tensor_spec(value, name, base_dir, dtype, shape):
    """A tensor given as a path, {file, dtype, shape, format}, or a nested list."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)) or isinstance(value, (int, float)) and name == "bias":
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError, RecursionError):
            raise ShapeError(f"tensor {name!r}: the inline list is ragged, too deep or not numbers; expected a "
                             "rectangular nested list of integers") from None
        if arr.dtype == object:
            raise ShapeError(f"tensor {name!r}: the inline list holds {_kinds(value)}; expected a rectangular "
                             "nested list of integers")
        return arr
    fmt = None
    if isinstance(value, dict):
        if "file" not in value:
            raise FormatFileError(f"tensor {name!r}: a dict needs 'file' (and dtype/shape for hex/raw)")
        dtype, shape, fmt = value.get("dtype", dtype), value.get("shape", shape), value.get("format")
        value = value["file"]
    if not isinstance(value, str):
        raise FormatFileError(f"tensor {name!r}: expected a file name, a {{file, dtype, shape}} dict or a list, got {value!r}")
    path = value if os.path.isabs(value) else os.path.join(base_dir, value)
    return tensors.load(path, dtype, shape, fmt, name=name)


def _kinds(value):
    """The element types of a nested list, e.g. 'int and str' (for error messages)."""
    seen, stack = set(), [value]
    while stack and len(seen) < 4:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v[:64])
        else:
            seen.add(type(v).__name__)
    return " and ".join(sorted(seen)) or "nothing"


# attributes that name something (a method, type, profile, policy, ...): strings only
NAME_KEYS = ("method", "profile", "a_type", "b_type", "y_type", "x_type", "w_type", "dtype", "policy", "op_kind",
             "scale_format", "x_dtype", "x_format")


def make_case(spec, base_dir=".", name=None, source="flags"):
    """A validated ``Case`` from a dict (a parsed case JSON, flags, or a golden case).

    Every problem is a RefquantError naming the value: a case is user data, so an attribute of a
    type the checks below do not foresee (a list where a number is due, ...) is reported as a
    malformed case, not as an internal error."""
    try:
        return _make_case(spec, base_dir, name, source)
    except RefquantError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise InvalidValueError(f"malformed case ({type(exc).__name__}: {text}); expected the "
                                "keys and value types of docs/audit.md §1") from None


def _make_case(spec, base_dir=".", name=None, source="flags"):
    if not isinstance(spec, dict):
        raise FormatFileError(f"a case must be a JSON object, got {type(spec).__name__}")
    op = spec.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise UnknownNameError("op", _brief(op), OPS)
    for k in NAME_KEYS:
        v = spec.get(k)
        if v is not None and not isinstance(v, str):
            raise InvalidValueError(f"{k} = {_brief(v)} must be a name (a JSON string)")
    for k in ("name",):
        if spec.get(k) is not None and not isinstance(spec[k], str):
            raise InvalidValueError(f"name = {_brief(spec[k])} must be a string")
    attrs = {k: v for k, v in spec.items() if k not in ("op", "inputs", "name") and k not in TENSOR_NAMES[op]}
    if op == "qlinear_conv":
        for k, internal in CONV_ALIASES.items():
            if k in attrs:
                if attrs.get(internal) is not None and attrs[k] is not None:
                    raise InvalidValueError(f"give {k} (qlinear_conv) or {internal}, not both")
                attrs[internal] = attrs.pop(k)
    given = dict(spec.get("inputs") or {})
    for k in TENSOR_NAMES[op]:
        if spec.get(k) is not None:
            given[k] = spec[k]
    unknown = set(given) - set(TENSOR_NAMES[op])
    if unknown:
        raise InvalidValueError(f"op {op} takes tensors {', '.join(TENSOR_NAMES[op])}; got unexpected {sorted(unknown)}")
    for k in REQUIRED[op]:
        if given.get(k) is None:
            raise FormatFileError(f"op {op} needs input tensor {k!r} (a file or a list)")
    dims = spec.get("shape") or {}
    if not isinstance(dims, dict):
        dims = {}
    a_type, b_type = attrs.get("a_type", "int8"), attrs.get("b_type", "int8")
    for t in (a_type, b_type):
        get_type(t)
    ts = _READERS[op](given, dims, base_dir, attrs)
    for k in SCALE_KEYS:
        if attrs.get(k) is not None and attrs.get("scale_format", "fp32") == "fp32":
            attrs[k] = _scale(attrs[k], k)
    case = Case(op, ts, attrs, name or spec.get("name") or op, source)
    _validate(case)
    return case


def _bias(given, base_dir, n, per):
    """The int32 bias tensor of a GEMM op (one value broadcast to ``n``), or None."""
    if given.get("bias") is None:
        return None
    bias = _tensor_spec(given["bias"], "bias", base_dir, "int32", [n])
    bias = tensors.as_integers(np.asarray(bias).reshape(-1), "int32", "bias")
    if bias.size == 1:
        bias = np.full(n, int(bias[0]), dtype=np.int64)
    if bias.size != n:
        raise ShapeError(f"bias has {bias.size} values; expected {n} (one per {per})")
    return bias


def _conv_tensors(given, dims, base_dir, attrs):
    a_type, b_type = attrs.get("a_type", "int8"), attrs.get("b_type", "int8")
    x = _tensor_spec(given["x"], "x", base_dir, a_type, dims.get("x"))
    w = _tensor_spec(given["w"], "w", base_dir, b_type, dims.get("w"))
    if np.ndim(x) != 4 or np.ndim(w) != 4:
        raise ShapeError(f"qlinear_conv needs x (N, C, H, W) and w (M, C/group, kH, kW); got shapes "
                         f"{np.shape(x)} and {np.shape(w)}")
    ts = {"x": tensors.as_integers(x, a_type, "x"), "w": tensors.as_integers(w, b_type, "w")}
    bias = _bias(given, base_dir, ts["w"].shape[0], "output channel")
    if bias is not None:
        ts["bias"] = bias
    return ts


def _gemm_tensors(given, dims, base_dir, attrs):
    a_type, b_type = attrs.get("a_type", "int8"), attrs.get("b_type", "int8")
    M, K, N = dims.get("M"), dims.get("K"), dims.get("N")
    a = _tensor_spec(given["a"], "a", base_dir, a_type, [M, K] if M and K else None)
    b = _tensor_spec(given["b"], "b", base_dir, b_type, [K, N] if K and N else None)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"a and b must be 2-D matrices; got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"inner dimensions differ: a is {a.shape[0]}x{a.shape[1]}, b is {b.shape[0]}x{b.shape[1]}")
    ts = {"a": tensors.as_integers(a, a_type, "a"), "b": tensors.as_integers(b, b_type, "b")}
    bias = _bias(given, base_dir, b.shape[1], "column")
    if bias is not None:
        ts["bias"] = bias
    return ts


def _requantize_tensors(given, dims, base_dir, attrs):
    acc = _tensor_spec(given["acc"], "acc", base_dir, "int32", dims.get("acc"))
    return {"acc": tensors.as_integers(np.atleast_1d(acc), "int32", "acc")}


def _quantize_tensors(given, dims, base_dir, attrs):
    x = _tensor_spec(given["x"], "x", base_dir, attrs.get("x_dtype", "float32"), dims.get("x"))
    x = np.atleast_1d(np.asarray(x))
    if x.dtype.kind not in "fiu":
        raise InvalidValueError(f"x has dtype {x.dtype} ({_kinds(x.tolist())}); expected float32 numbers")
    with np.errstate(over="ignore"):
        return {"x": x.astype(np.float32)}


# op -> the reader of its input tensors (given, dims, base_dir, attrs) -> {name: numpy array}
_READERS = {"qlinear_conv": _conv_tensors, "qlinear_matmul": _gemm_tensors, "matmul_integer": _gemm_tensors,
            "requantize": _requantize_tensors, "quantize": _quantize_tensors}


SCALE_KEYS = ("a_scale", "b_scale", "y_scale", "scale")


def _scale(v, key, per_channel_ok=True):
    """A scale from JSON: a number is read as the nearest binary32 (what a model file stores); a
    string may be binary32 bits ('0x3ca3d70a') or an exact fraction ('1/64')."""
    if isinstance(v, (list, tuple)):
        if not per_channel_ok:
            raise InvalidValueError(f"{key} holds a nested list; expected a number or a flat list of numbers")
        return [_scale(x, key, False) for x in v]
    if isinstance(v, bool) or v is None:
        raise InvalidValueError(f"{key} = {v!r} must be a number")
    if isinstance(v, str):
        t = v.strip()
        try:
            if t.lower().startswith("0x"):
                return float(np.array([int(t, 16)], dtype=np.uint32).view(np.float32)[0])
            return float(np.float32(Fraction(t)))
        except (ValueError, ZeroDivisionError, OverflowError):
            raise InvalidValueError(f"{key} = {v!r}: expected a number, binary32 bits 0x... or a fraction") from None
    if not isinstance(v, (int, float)):
        raise InvalidValueError(f"{key} = {_brief(v)} must be a number")
    if isinstance(v, int) and abs(v) >= 2**128:
        raise InvalidValueError(f"{key} = {_brief(v)} is beyond the binary32 range; expected a positive finite "
                                "binary32 value")
    with np.errstate(over="ignore"):
        f = np.float32(v)
    if not np.isfinite(f) or f <= 0:
        raise InvalidValueError(f"{key} = {v!r} must be a positive finite binary32 value")
    return float(f)


def _brief(v, limit=60):
    """repr(v), shortened for a one-line message (a user's value may have hundreds of digits)."""
    try:
        text = repr(v)
    except ValueError:      # an int beyond Python's digit limit for str()
        return f"<an integer of {v.bit_length()} bits>"
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 4:]} ({len(text)} characters)"


def _validate(case):
    """Fail early, with one line, on attributes the oracle would reject deep inside."""
    a = case.attrs
    for k in ("a_zero_point", "y_zero_point", "zero_point", "qmin", "qmax"):
        v = a.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool)) and k != "zero_point":
            raise InvalidValueError(f"{k} = {_brief(v)} must be an integer")
    for k in ("b_zero_point", "zero_point"):      # one integer, or a flat list of them (per channel)
        v = a.get(k)
        vals = v if isinstance(v, list) else [v]
        if v is not None and not all(isinstance(x, int) and not isinstance(x, bool) for x in vals):
            raise InvalidValueError(f"{k} = {_brief(v)} must be an integer or a list of integers")
    prof = a.get("profile")
    if prof is not None:      # a profile given is a name to check, even where the method decides
        if case.op == "quantize":
            if prof not in PROFILES:
                raise UnknownNameError("quantize profile", prof, PROFILES)
        else:
            profile_method(prof)
    pol = case.get("policy", "wrap")
    if pol not in ("wrap", "saturate"):
        raise UnknownNameError("accumulator policy", pol, ("wrap", "saturate"))
    if case.op in GEMM_OPS:
        conv = case.op == "qlinear_conv"
        if conv:
            case.geometry()
        ta, tb = get_type(case.get("a_type", "int8")), get_type(case.get("b_type", "int8"))
        za = case.get("a_zero_point", 0)
        if not ta.contains(za):
            raise InvalidValueError(f"{'x' if conv else 'a'}_zero_point {za} is not a {ta.name} value")
        zb = case.zb_vector()
        if zb.min() < tb.min or zb.max() > tb.max:
            raise InvalidValueError(f"{'w' if conv else 'b'}_zero_point {case.get('b_zero_point')} is not a {tb.name} value")
    if case.attrs.get("float_bias") is not None:
        _validate_float_bias(case)
    if case.op in ("qlinear_matmul", "qlinear_conv", "requantize"):
        _validate_requantization(case)
    if case.op == "quantize":
        case.profile  # noqa: B018
        if case.attrs.get("scale") is None:
            raise InvalidValueError("op quantize needs scale")


def _validate_float_bias(case):
    """A float_bias: on a qlinear op without an int32 bias, finite binary32 values (stored as such)."""
    fb = case.attrs["float_bias"]
    if case.op not in ("qlinear_matmul", "qlinear_conv"):
        raise InvalidValueError(f"float_bias applies to qlinear_matmul and qlinear_conv, not {case.op}")
    if case.tensors.get("bias") is not None:
        raise InvalidValueError("give either an int32 bias or a float_bias, not both")
    vals = fb if isinstance(fb, (list, tuple)) else [fb]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 2**128 and np.isfinite(v)
               for v in vals):
        raise InvalidValueError(f"float_bias = {_brief(fb)} must be finite binary32 numbers (one, or one per "
                                "output channel)")
    if isinstance(fb, (list, tuple)) and len(fb) not in (1, case.channels):
        raise ShapeError(f"float_bias has {len(fb)} values; expected {case.channels} (one per output channel)")
    with np.errstate(over="ignore"):
        f32 = [float(np.float32(v)) for v in vals]
    if not all(np.isfinite(f32)):
        raise InvalidValueError(f"float_bias = {_brief(fb)} rounds to infinity in binary32; expected finite "
                                "binary32 numbers")
    case.attrs["float_bias"] = f32 if isinstance(fb, (list, tuple)) else f32[0]


def _validate_requantization(case):
    """The declared method (or profile), the output type, the scales or params, and the params fit the method."""
    case.method  # noqa: B018 - raises UnknownNameError on a bad name
    get_type(case.y_type)
    if case.attrs.get("params") is None:
        for k in ("a_scale", "b_scale", "y_scale"):
            if case.attrs.get(k) is None:
                raise InvalidValueError(f"op {case.op} needs {k} (or explicit 'params' such as "
                                        "{{\"m\": 1518500250, \"shift\": -7}})")
    if case.attrs.get("float_bias") is not None and not rq.get_method(case.method).float_bias:
        raise InvalidValueError(f"method {case.method!r} takes an int32 bias (added in the accumulator), not a "
                                f"float_bias; float-bias methods: {', '.join(FLOAT_BIAS_METHODS)}")
    p = params_for(case, case.method)     # the declared method must accept the case
    if case.attrs.get("params") is not None:
        meth = rq.get_method(case.method)
        for ch in range(len(p.channels)):
            try:
                _probe(meth.apply, p.channel(ch))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                if isinstance(exc, RefquantError):
                    raise
                raise InvalidValueError(f"params {_brief(case.attrs['params'])} do not fit method {case.method!r} "
                                        f"({type(exc).__name__}: {_brief(exc)}); e.g. tflite_* take "
                                        "{\"m\": ..., \"shift\": ...}, float methods {\"M\": ...}") from None


def golden_case(ref, overrides=None):
    """A case from a shipped golden vector: 'matmul:7' (set:tcId) or 'matmul:exact/random_s8s8' (set:name)."""
    try:
        from .. import golden
    except ImportError:
        raise UnknownNameError("golden set", ref, ()) from None
    if ":" not in str(ref):
        raise InvalidValueError(f"--golden {ref!r}: expected SET:TCID or SET:NAME, e.g. matmul:7")
    suite, key = ref.split(":", 1)
    if suite not in golden.SUITES:      # the one suite-name check (golden generate/verify/export use it too)
        raise UnknownNameError("golden suite", suite, golden.SUITE_NAMES)
    for c in golden.load_set(golden.default_root() / suite).cases(numpy=True):
        if str(c.tc_id) == key or c.name == key:
            break
    else:
        raise UnknownNameError(f"test of golden set {suite}", key, ())
    if c.op not in ("qlinear_matmul", "qlinear_conv", "quantize"):
        raise InvalidValueError(f"golden {ref} is a {c.op} test; audit takes qlinear_matmul, qlinear_conv and "
                                "quantize golden cases")
    if c.result != "valid":
        raise InvalidValueError(f"golden {ref} expects the outcome {c.result!r} ({c.error or 'no output'}); "
                                "only tests with an output can be audited")
    spec = golden_spec(c)
    spec.update({k: v for k, v in (overrides or {}).items() if v is not None})
    case = make_case(spec, ".", f"golden {suite}#{c.tc_id} {c.name}", f"golden:{ref}")
    return replace(case, golden_expected=np.asarray(c.expected["Y" if c.op != "quantize" else "y"]))


def _hexs(v):
    return [f"0x{x}" for x in v] if isinstance(v, list) else f"0x{v}"


def golden_spec(c):
    """The case dict of a golden test (refquant.golden Case with numpy tensors)."""
    p = c.params
    hexs = _hexs
    if c.op == "quantize":
        if p.get("x_format", "fp32") != "fp32" or p.get("scale_format", "fp32") != "fp32" or p.get("block_size") \
                or p["dtype"] in qz.FLOAT_TARGETS:
            raise InvalidValueError(f"golden quantize test {c.name}: the audit takes fp32 inputs and scales, integer "
                                    "targets, per tensor or per axis")
        sc = np.asarray(c.inputs["scale"]).reshape(-1)
        zp = c.inputs.get("zero_point")
        zp = None if zp is None else np.asarray(zp).reshape(-1).tolist()
        axis = p.get("axis")
        return {"op": "quantize", "x": np.asarray(c.inputs["x"]), "dtype": p["dtype"], "profile": p["profile"],
                "scale": float(sc[0]) if axis is None else [float(v) for v in sc],
                "zero_point": (zp[0] if zp else 0) if axis is None else (zp or [0] * sc.size), "axis": axis}
    if c.op == "qlinear_conv":
        spec = {"op": "qlinear_conv", "x": np.asarray(c.inputs["x"]), "w": np.asarray(c.inputs["w"]),
                "x_type": p["x_type"], "w_type": p["w_type"], "y_type": p["y_type"], "x_zero_point": p["zx"],
                "w_zero_point": p["zw"], "y_zero_point": p["zy"], "x_scale": hexs(p["sx"]), "w_scale": hexs(p["sw"]),
                "y_scale": hexs(p["sy"]), "method": p["method"], "policy": p.get("policy", "wrap"),
                "strides": p["strides"], "pads": p["pads"], "dilations": p["dilations"], "group": p["group"],
                "qmin": p.get("qmin"), "qmax": p.get("qmax")}
        if "bias" in c.inputs:
            spec["bias"] = np.asarray(c.inputs["bias"]).reshape(-1)
        return spec
    spec = {"op": "qlinear_matmul", "a": np.asarray(c.inputs["A"]), "b": np.asarray(c.inputs["B"]),
            "a_type": p["a_type"], "b_type": p["b_type"], "y_type": p["y_type"], "a_zero_point": p["za"],
            "b_zero_point": p["zb"], "y_zero_point": p["zy"], "a_scale": hexs(p["sa"]), "b_scale": hexs(p["sb"]),
            "y_scale": hexs(p["sy"]), "method": p["method"], "policy": p.get("policy", "wrap"),
            "op_kind": p.get("tflite_op", "fc"), "qmin": p.get("qmin"), "qmax": p.get("qmax")}
    if "bias" in c.inputs:
        spec["bias"] = np.asarray(c.inputs["bias"]).reshape(-1)
    if "float_bias" in c.inputs:     # binary32 values, applied in the requantization (torch / oneDNN methods)
        spec["float_bias"] = [float(v) for v in np.asarray(c.inputs["float_bias"], np.float32).reshape(-1)]
    return spec


def load_case(path, overrides=None):
    """A case from a JSON file (tensor paths relative to it), with flag overrides."""
    from ..golden import MAX_JSON_BYTES, decode_text, parse_json, read_file
    data = read_file(path, "a case file (JSON)", MAX_JSON_BYTES, missing=f"case file {path!r} not found")
    try:
        text = decode_text(data, path, "utf-8")
    except FormatFileError:
        raise FormatFileError(f"case file {path!r} is not a text (JSON) file") from None
    spec = parse_json(text, f"case file {path!r}")
    if not isinstance(spec, dict):
        raise FormatFileError(f"case file {path!r} must hold a JSON object")
    spec.update({k: v for k, v in (overrides or {}).items() if v is not None})
    base = os.path.dirname(os.path.abspath(path))
    return make_case(spec, base, spec.get("name") or os.path.splitext(os.path.basename(path))[0], path)


def _explicit_channels(params):
    rows = params if isinstance(params, list) else [params]
    out = []
    for r in rows:
        if not isinstance(r, dict):
            raise InvalidValueError(f"params must be a dict or a list of dicts, got {r!r}")
        r = dict(r)
        if "M_bits" in r:
            r["M"] = rq.formats.value_of("fp32", int(r.pop("M_bits")))
        out.append(r)
    return out


def params_for(case, method, op_kind=None):
    """Params of ``method`` for this case: explicit ``params`` or derived from the scales."""
    explicit = case.attrs.get("params")
    if method == "int32":
        return rq.make_params("int32", [{}])
    if explicit is not None:
        return rq.make_params(method, _explicit_channels(explicit))
    sb = case.attrs["b_scale"]
    fb = case.attrs.get("float_bias")
    if fb is not None and not rq.get_method(method).float_bias:
        fb = None            # such a candidate takes the bias quantized to int32 (candidate_int_bias)
    return rq.derive_params(method, case.attrs["a_scale"], list(sb) if isinstance(sb, (list, tuple)) else sb,
                            case.attrs["y_scale"], scale_format=case.get("scale_format", "fp32"),
                            op=op_kind or case.get("op_kind", "conv" if case.op == "qlinear_conv" else "fc"), bias=fb)


FLOAT_BIAS_METHODS = tuple(m for m, meth in rq.METHODS.items() if meth.float_bias and m != "torch_x86")


def quantized_bias(case):
    """A float_bias quantized to int32 the way model converters do: RNE(bias_j / fl(sa*sb_j)), saturated."""
    fb = case.attrs.get("float_bias")
    if fb is None or case.attrs.get("a_scale") is None:
        return None
    n = case.channels
    sa = rq.scale_value(case.attrs["a_scale"])
    sb = case.attrs["b_scale"]
    sbs = [rq.scale_value(v) for v in (sb if isinstance(sb, (list, tuple)) else [sb] * n)]
    fbs = fb if isinstance(fb, list) else [fb] * n
    if len(fbs) == 1:
        fbs = fbs * n
    out = []
    for b, s in zip(fbs, sbs):
        q = half_even(Fraction(b) / rq.fl32(sa * s))
        out.append(min(max(q, -2**31), 2**31 - 1))
    return np.array(out, dtype=np.int64)


def candidate_int_bias(case, cand_params, method):
    """The int32 bias a candidate adds as one more accumulator step beyond the case's own: the
    qint32 bias torch_qnnpack derives from a float bias, or the converter-quantized float bias for
    methods that take an int32 bias.  None when the accumulators are used as they are."""
    if case.attrs.get("float_bias") is None:
        return None
    if cand_params is not None and cand_params.int_bias() is not None:
        return np.array(cand_params.int_bias(), dtype=np.int64)
    if method is not None and rq.get_method(method).float_bias:
        return None
    return quantized_bias(case)


def add_bias_step(acc, bias, policy):
    """acc + bias_j as one more int32 accumulator step (channel = last axis) under ``policy``."""
    v = acc + bias.reshape((1,) * (acc.ndim - 1) + (-1,)) if bias.size > 1 else acc + int(bias[0])
    if policy == "saturate":
        return np.clip(v, -2**31, 2**31 - 1)
    return (v + 2**31) % 2**32 - 2**31


def _pc(params, key, n, dtype=np.int64):
    """A per-channel parameter as an (n,) array (a per-tensor one broadcast)."""
    vals = [c[key] for c in params.channels]
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n:
        raise ShapeError(f"{len(params.channels)} per-channel parameters for {n} output channels")
    return np.array(vals, dtype=dtype)


def _probe(apply, p):
    """Raise KeyError/RefquantError when params ``p`` lack what ``apply`` needs (Unpredictable is fine)."""
    for acc in (1, -1):
        try:
            apply(acc, p, 0, -128, 127, None)
        except (Unpredictable, SpecError):
            pass
