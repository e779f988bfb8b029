"""Audit a device's outputs against the oracle, and diagnose which semantics it implements.

A ``Case`` is one op (qlinear_matmul, matmul_integer, requantize, quantize) with its input
tensors and attributes.  ``expected(case)`` computes the reference output: the pure-Python
oracle (refquant.ops / refquant.requant) for small cases; for large GEMMs the C kernel computes
the int32 accumulator once (checked against the oracle on a random sample of the same case) and
each requantization method is applied vectorised in numpy where the numpy formula is the
method's exact definition (int64 arithmetic that cannot overflow; binary32/binary64 IEEE
operations with RNE), then confirmed element by element against the oracle on a sample.
Methods without a vectorised form run the oracle on the distinct (accumulator, channel) pairs.

``diagnose(case, actual)`` re-computes the case under every candidate semantics (every method
in requant.METHODS, rounding-tie variants, zero point before/after rounding, x/s vs x*(1/s),
accumulator wrap vs saturate, swapped zero points, transposed output) and ranks them by how many
elements of ``actual`` they explain.
"""

import functools
import os
import sys
import time
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
from ..integers import Accumulator, get_type
from ..profiles import PROFILES
from ..rounding import half_even
from . import tensors
from .numpy_forms import UNPRED, VARIANTS, _exact_round  # noqa: F401
from .numpy_forms import variant_oracle as _variant_oracle
from .numpy_forms import variant_vectorised as _variant_vec
from .numpy_forms import vectorised as _vec

OPS = ("qlinear_matmul", "matmul_integer", "qlinear_conv", "requantize", "quantize")
GEMM_OPS = ("qlinear_matmul", "matmul_integer", "qlinear_conv")
# qlinear_conv attribute names -> the internal (GEMM) names they are stored under
CONV_ALIASES = {"x_scale": "a_scale", "w_scale": "b_scale", "x_zero_point": "a_zero_point",
                "w_zero_point": "b_zero_point", "x_type": "a_type", "w_type": "b_type"}
CONV_NAMES = {v: k for k, v in CONV_ALIASES.items()}
ORACLE_ELEMENTS = 20_000             # at most this many outputs computed wholly by the oracle
ORACLE_MACS = 400_000                # ... and at most this many multiply-adds
UNIQUE_CAP = 4096                    # oracle-only candidates: distinct values evaluated (else a sample)
CONFIRM = 48                         # elements per vectorised candidate checked against the oracle


class OracleDisagreement(RuntimeError):
    """A fast path (C kernel or numpy) disagreed with the oracle: a refquant bug, never user error."""


# ##########################################################################
# Progress (stderr, only when it is a terminal)
# ##########################################################################

class Progress:
    def __init__(self, enabled=None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = time.perf_counter()

    def __call__(self, text):
        if self.enabled:
            sys.stderr.write(f"\r\x1b[K[audit {time.perf_counter() - self.t0:6.2f}s] {text}")
            sys.stderr.flush()

    def done(self):
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _quiet(_text):
    return None


# ##########################################################################
# The case
# ##########################################################################

@dataclass
class Case:
    op: str
    tensors: dict                     # a, b, bias, acc, x -> numpy arrays (validated)
    attrs: dict                       # scales, zero points, types, method/profile, params, ...
    name: str = "case"
    source: str = "flags"
    notes: list = field(default_factory=list)

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
        g = getattr(self, "_geometry", None)
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
            N, M, OH, OW = ops._conv_geometry(x.shape, w.shape, strides, pads, dil, group)
            g = dict(N=N, C=x.shape[1], H=x.shape[2], W=x.shape[3], M=M, Cg=w.shape[1], kH=w.shape[2],
                     kW=w.shape[3], strides=strides, pads=pads, dilations=dil, group=group, OH=OH, OW=OW)
            self._geometry = g
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
    ts = {}
    if op == "qlinear_conv":
        x = _tensor_spec(given["x"], "x", base_dir, a_type, dims.get("x"))
        w = _tensor_spec(given["w"], "w", base_dir, b_type, dims.get("w"))
        if np.ndim(x) != 4 or np.ndim(w) != 4:
            raise ShapeError(f"qlinear_conv needs x (N, C, H, W) and w (M, C/group, kH, kW); got shapes "
                             f"{np.shape(x)} and {np.shape(w)}")
        ts["x"] = tensors.as_integers(x, a_type, "x")
        ts["w"] = tensors.as_integers(w, b_type, "w")
        M = ts["w"].shape[0]
        if given.get("bias") is not None:
            bias = _tensor_spec(given["bias"], "bias", base_dir, "int32", [M])
            bias = tensors.as_integers(np.asarray(bias).reshape(-1), "int32", "bias")
            if bias.size == 1:
                bias = np.full(M, int(bias[0]), dtype=np.int64)
            if bias.size != M:
                raise ShapeError(f"bias has {bias.size} values; expected {M} (one per output channel)")
            ts["bias"] = bias
    elif op in ("qlinear_matmul", "matmul_integer"):
        M, K, N = dims.get("M"), dims.get("K"), dims.get("N")
        a = _tensor_spec(given["a"], "a", base_dir, a_type, [M, K] if M and K else None)
        b = _tensor_spec(given["b"], "b", base_dir, b_type, [K, N] if K and N else None)
        if a.ndim != 2 or b.ndim != 2:
            raise ShapeError(f"a and b must be 2-D matrices; got shapes {a.shape} and {b.shape}")
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"inner dimensions differ: a is {a.shape[0]}x{a.shape[1]}, b is {b.shape[0]}x{b.shape[1]}")
        ts["a"] = tensors.as_integers(a, a_type, "a")
        ts["b"] = tensors.as_integers(b, b_type, "b")
        if given.get("bias") is not None:
            bias = _tensor_spec(given["bias"], "bias", base_dir, "int32", [b.shape[1]])
            bias = tensors.as_integers(np.asarray(bias).reshape(-1), "int32", "bias")
            if bias.size == 1:
                bias = np.full(b.shape[1], int(bias[0]), dtype=np.int64)
            if bias.size != b.shape[1]:
                raise ShapeError(f"bias has {bias.size} values; expected {b.shape[1]} (one per column)")
            ts["bias"] = bias
    elif op == "requantize":
        acc = _tensor_spec(given["acc"], "acc", base_dir, "int32", dims.get("acc"))
        ts["acc"] = tensors.as_integers(np.atleast_1d(acc), "int32", "acc")
    else:
        x = _tensor_spec(given["x"], "x", base_dir, attrs.get("x_dtype", "float32"), dims.get("x"))
        x = np.atleast_1d(np.asarray(x))
        if x.dtype.kind not in "fiu":
            raise InvalidValueError(f"x has dtype {x.dtype} ({_kinds(x.tolist())}); expected float32 numbers")
        with np.errstate(over="ignore"):
            ts["x"] = x.astype(np.float32)
    for k in SCALE_KEYS:
        if attrs.get(k) is not None and attrs.get("scale_format", "fp32") == "fp32":
            attrs[k] = _scale(attrs[k], k)
    case = Case(op, ts, attrs, name or spec.get("name") or op, source)
    _validate(case)
    return case


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
    fb = case.attrs.get("float_bias")
    if fb is not None:
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
    if case.op in ("qlinear_matmul", "qlinear_conv", "requantize"):
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
    if case.op == "quantize":
        case.profile  # noqa: B018
        if case.attrs.get("scale") is None:
            raise InvalidValueError("op quantize needs scale")


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
    case.golden_expected = np.asarray(c.expected["Y" if c.op != "quantize" else "y"])
    return case


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


# ##########################################################################
# Parameters of a method for this case
# ##########################################################################

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


# ##########################################################################
# Accumulators
# ##########################################################################

def _ab_operands(case, swap_zp=False):
    a, b = case.tensors["a"], case.tensors["b"]
    za = int(case.get("a_zero_point", 0))
    zb = case.zb_vector()
    if swap_zp:
        za, zb = int(zb[0]), np.full_like(zb, za)
    return a, b, za, zb


def overflow_possible(case, swap_zp=False):
    if case.op == "qlinear_conv":
        g = case.geometry()
        za, zb = int(case.get("a_zero_point", 0)), case.zb_vector()
        x, w = case.tensors["x"], case.tensors["w"]
        amax = max(int(np.abs(x - za).max()) if x.size else 0, abs(za))     # |za|: padding filled with 0
        bmax = int(np.abs(w - zb[:, None, None, None]).max()) if w.size else 0
        bias = case.tensors.get("bias")
        return g["Cg"] * g["kH"] * g["kW"] * amax * bmax + (int(np.abs(bias).max()) if bias is not None else 0) \
            + 2**31 * (case.attrs.get("float_bias") is not None) > 2**31 - 1
    a, b, za, zb = _ab_operands(case, swap_zp)
    K = a.shape[1]
    amax = int(np.abs(a - za).max()) if a.size else 0
    bmax = int(np.abs(b - zb[None, :]).max()) if b.size else 0
    bias = case.tensors.get("bias")
    return K * amax * bmax + (int(np.abs(bias).max()) if bias is not None and bias.size else 0) > 2**31 - 1


def _oracle_acc(a, b, za, zb, bias, policy, a_type, b_type):
    acc = Accumulator(32, policy)
    res = ops.matmul_integer(a.tolist(), b.tolist(), za, zb.tolist(), a_type, b_type, acc,
                             None if bias is None else bias.tolist())
    counts = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for (i, j), c in acc.overflows.items():
        counts[i, j] = c
    return np.array(res, dtype=np.int64).reshape(a.shape[0], b.shape[1]), counts


def _kernel_dtype(t):
    tt = get_type(t)
    if tt.bits > 8:
        return None
    return np.int8 if tt.signed else np.uint8


def accumulators(case, policy="wrap", swap_zp=False, rng=None, progress=_quiet, info=None):
    """(acc int64 (M, N), overflow counts (M, N) or None).

    Small: the oracle.  Large: the C kernel, then the oracle on a random sample of rows x
    columns of the same case (OracleDisagreement if any element differs).
    qlinear_conv: the GEMM view (N*OH*OW, M), see conv_accumulators."""
    if case.op == "qlinear_conv":
        if swap_zp:
            return None, None
        return conv_accumulators(case, policy, rng=rng, progress=progress, info=info)
    a, b, za, zb = _ab_operands(case, swap_zp)
    at, bt = case.get("a_type", "int8"), case.get("b_type", "int8")
    if swap_zp:
        ta, tb = get_type(at), get_type(bt)
        if not (ta.contains(za) and tb.contains(int(zb[0]))):
            return None, None
    bias = case.tensors.get("bias")
    M, K = a.shape
    N = b.shape[1]
    possible = overflow_possible(case, swap_zp)
    from .. import kernel
    kd_a, kd_b = _kernel_dtype(at), _kernel_dtype(bt)
    small = M * N * max(K, 1) <= ORACLE_MACS and M * N <= ORACLE_ELEMENTS
    if small or not kernel.available() or kd_a is None or kd_b is None or M == 0 or N == 0:
        if not small and (M * N * max(K, 1) > 50 * ORACLE_MACS):
            raise InvalidValueError(f"a {M}x{K}x{N} GEMM of {at} x {bt} needs the C kernel (int8/uint8 operands, "
                                    "refquant built with its extension)")
        progress(f"oracle accumulators {M}x{K}x{N} ({policy})")
        acc, counts = _oracle_acc(a, b, za, zb, bias, policy, at, bt)
        if info is not None:
            info["accumulator"] = "oracle (refquant.ops.matmul_integer)"
        return acc, counts
    progress(f"C kernel accumulators {M}x{K}x{N} ({policy})")
    ka, kb = a.astype(kd_a), b.astype(kd_b)
    kbias = None if bias is None else bias.astype(np.int32)
    t0 = time.perf_counter()
    if possible:
        acc, counts = kernel.matmul_integer(ka, kb, za, zb.astype(np.int32), kbias, policy, return_overflow=True)
        counts = counts.astype(np.int64)
    else:
        acc, counts = kernel.matmul_integer(ka, kb, za, zb.astype(np.int32), kbias, policy), None
    acc = acc.astype(np.int64)
    t1 = time.perf_counter()
    rng = rng or np.random.default_rng(0)
    rows = np.sort(rng.choice(M, size=min(M, 8), replace=False))
    cols = np.sort(rng.choice(N, size=min(N, 8), replace=False))
    progress(f"checking the C kernel against the oracle on {rows.size}x{cols.size} sampled outputs")
    want, wcounts = _oracle_acc(a[rows], b[:, cols], za, zb[cols], None if bias is None else bias[cols], policy, at, bt)
    got = acc[np.ix_(rows, cols)]
    if not np.array_equal(want, got):
        i, j = np.argwhere(want != got)[0]
        raise OracleDisagreement(f"C kernel accumulator differs from the oracle at ({rows[i]}, {cols[j]}): "
                                 f"{got[i, j]} vs {want[i, j]}")
    if counts is not None and not np.array_equal(wcounts, counts[np.ix_(rows, cols)]):
        raise OracleDisagreement("C kernel overflow counts differ from the oracle's on the sample")
    if info is not None:
        info["accumulator"] = (f"C kernel ({kernel.last_path_used()} path, {t1 - t0:.3f} s), checked against the "
                               f"oracle on {rows.size * cols.size} sampled outputs")
    return acc, counts


# ##########################################################################
# Convolution: the GEMM view (rows (n, oh, ow), columns = output channels m)
# ##########################################################################

CONV_VARIANTS = {
    "as is": "",
    "zero_padding": "padding filled with 0 (not the input zero point)",
    "interleaved_groups": "output channel m reads input group m mod group (not m // (M/group))",
}


def to_gemm(case, arr):
    """An NCHW conv output (N, M, OH, OW) as its GEMM view (N*OH*OW, M); other ops unchanged."""
    if arr is None or case.op != "qlinear_conv":
        return arr
    return np.ascontiguousarray(np.asarray(arr).transpose(0, 2, 3, 1)).reshape(-1, case.out_shape[1])


def to_nchw(case, arr):
    if arr is None or case.op != "qlinear_conv":
        return arr
    N, M, OH, OW = case.out_shape
    return np.ascontiguousarray(np.asarray(arr).reshape(N, OH, OW, M).transpose(0, 3, 1, 2))


def _group_of(case, variant):
    """Output channel m -> the input channel group it reads."""
    g = case.geometry()
    M, G = g["M"], g["group"]
    m = np.arange(M)
    return m % G if variant == "interleaved_groups" else m // (M // G)


def conv_variants(case):
    """The accumulator variants that differ from the correct conv on this case's geometry."""
    g = case.geometry()
    out = []
    if any(g["pads"]) and int(case.get("a_zero_point", 0)) != 0:
        out.append("zero_padding")
    if g["group"] > 1 and not np.array_equal(_group_of(case, "interleaved_groups"), _group_of(case, "as is")):
        out.append("interleaved_groups")
    return out


def im2col(case, gin, pad_value):
    """(N*OH*OW, Cg*kH*kW) int64: the receptive fields of input group ``gin``, columns in the
    oracle's term order (c, kh, kw) ascending; padding positions hold ``pad_value``."""
    g = case.geometry()
    x = case.tensors["x"]
    N, Cg, kH, kW, OH, OW = g["N"], g["Cg"], g["kH"], g["kW"], g["OH"], g["OW"]
    (sh, sw), (ph0, pw0, ph1, pw1), (dh, dw) = g["strides"], g["pads"], g["dilations"]
    xp = np.full((N, Cg, g["H"] + ph0 + ph1, g["W"] + pw0 + pw1), pad_value, dtype=np.int64)
    xp[:, :, ph0:ph0 + g["H"], pw0:pw0 + g["W"]] = x[:, gin * Cg:(gin + 1) * Cg]
    cols = np.empty((N, OH, OW, Cg, kH, kW), dtype=np.int64)
    for kh in range(kH):
        for kw in range(kW):
            patch = xp[:, :, kh * dh: kh * dh + sh * (OH - 1) + 1: sh, kw * dw: kw * dw + sw * (OW - 1) + 1: sw]
            cols[..., kh, kw] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(N * OH * OW, Cg * kH * kW)


def _conv_oracle_nested(case):
    prep = getattr(case, "_conv_prep", None)
    if prep is None:
        g = case.geometry()
        bias = case.tensors.get("bias")
        prep = ops._conv_prepare(case.tensors["x"].tolist(), case.tensors["w"].tolist(), int(case.get("a_zero_point", 0)),
                                 case.zb_vector().tolist(), case.get("a_type", "int8"), case.get("b_type", "int8"),
                                 g["strides"], g["pads"], g["dilations"], g["group"],
                                 None if bias is None else bias.tolist())
        case._conv_prep = prep
    return prep


def conv_oracle_element(case, idx, policy):
    """(terms, acc, overflow steps) of output (n, m, oh, ow) from refquant.ops (the conv oracle)."""
    _out, xd, wd, geo, bias, _bound = _conv_oracle_nested(case)
    n, m, oh, ow = idx
    terms = ops._conv_terms(xd, wd, n, m, oh, ow, geo)
    acc = Accumulator(32, policy)
    v = ops.accumulate(acc, terms, "x", None if bias is None else bias[m])
    return terms, v, acc.overflows.get("x", 0)


def conv_accumulators(case, policy="wrap", variant="as is", rng=None, progress=_quiet, info=None):
    """(acc (N*OH*OW, M) int64, overflow counts or None): the conv's accumulators in the GEMM view.

    Small convs: the oracle (refquant.ops.conv_integer).  Larger ones (and the diagnosis variants):
    im2col per input group, then the C kernel (int8/uint8) or the GEMM oracle.  The im2col GEMM
    sums the same terms in the same order (c, kh, kw); its extra padding terms are (zx - zx)*w = 0,
    and adding 0 changes no partial sum under wrap or saturate; the result is also checked against
    the conv oracle element by element on a random sample."""
    g = case.geometry()
    at, bt = case.get("a_type", "int8"), case.get("b_type", "int8")
    N, M, OH, OW = case.out_shape
    P, K = N * OH * OW, g["Cg"] * g["kH"] * g["kW"]
    za, zb = int(case.get("a_zero_point", 0)), case.zb_vector()
    bias = case.tensors.get("bias")
    small = P * M * max(K, 1) <= ORACLE_MACS and P * M <= ORACLE_ELEMENTS
    if small and variant == "as is":
        progress(f"oracle conv accumulators ({policy})")
        acc_o = Accumulator(32, policy)
        res = ops.conv_integer(case.tensors["x"].tolist(), case.tensors["w"].tolist(), za, zb.tolist(), x_type=at,
                               w_type=bt, strides=g["strides"], pads=g["pads"], dilations=g["dilations"],
                               group=g["group"], bias=None if bias is None else bias.tolist(), accumulator=acc_o)
        acc = np.array(res, dtype=np.int64)
        counts = np.zeros_like(acc)
        for (n, m, oh, ow), c in acc_o.overflows.items():
            counts[n, m, oh, ow] = c
        if info is not None:
            info["accumulator"] = "oracle (refquant.ops.conv_integer)"
        return to_gemm(case, acc), to_gemm(case, counts)
    from .. import kernel
    kd_a, kd_b = _kernel_dtype(at), _kernel_dtype(bt)
    use_kernel = not small and kernel.available() and kd_a is not None and kd_b is not None
    if not use_kernel and not small and P * M * K > 50 * ORACLE_MACS:
        raise InvalidValueError(f"a conv of {P * M * K} multiply-adds with {at} x {bt} needs the C kernel "
                                "(int8/uint8 operands, refquant built with its extension)")
    pad_value = 0 if variant == "zero_padding" else za
    gmap = _group_of(case, variant)
    acc = np.zeros((P, M), dtype=np.int64)
    counts = np.zeros((P, M), dtype=np.int64)
    w = case.tensors["w"]
    t0 = time.perf_counter()
    path = None
    for gin in range(g["group"]):
        chans = np.flatnonzero(gmap == gin)
        if chans.size == 0:
            continue
        progress(f"conv accumulators: im2col GEMM of group {gin} ({policy}{', ' + variant if variant != 'as is' else ''})")
        A = im2col(case, gin, pad_value)
        B = w[chans].reshape(chans.size, K).T
        bz = None if bias is None else bias[chans]
        if use_kernel:
            ka, kb = A.astype(kd_a), np.ascontiguousarray(B.astype(kd_b))
            kbias = None if bz is None else bz.astype(np.int32)
            a_c, c_c = kernel.matmul_integer(ka, kb, za, zb[chans].astype(np.int32), kbias, policy,
                                             return_overflow=True)
            path = kernel.last_path_used()
            acc[:, chans], counts[:, chans] = a_c, c_c
        else:
            acc[:, chans], counts[:, chans] = _oracle_acc(A, B, za, zb[chans], bz, policy, at, bt)
    t1 = time.perf_counter()
    if variant == "as is":
        rng = rng or np.random.default_rng(0)
        k = min(P * M, 64)
        flat = rng.choice(P * M, size=k, replace=False)
        progress(f"checking the im2col accumulators against the conv oracle on {k} sampled outputs")
        for f in flat:
            p, m = divmod(int(f), M)
            n, rem = divmod(p, OH * OW)
            oh, ow = divmod(rem, OW)
            _t, want, steps = conv_oracle_element(case, (n, m, oh, ow), policy)
            if want != acc[p, m] or steps != counts[p, m]:
                raise OracleDisagreement(f"im2col conv accumulator differs from the oracle at {(n, m, oh, ow)}: "
                                         f"{acc[p, m]} ({counts[p, m]} overflow steps) vs {want} ({steps})")
        if info is not None:
            how = f"C kernel ({path} path)" if use_kernel else "GEMM oracle"
            info["accumulator"] = (f"im2col + {how}, {t1 - t0:.3f} s, checked against the conv oracle on {k} "
                                   "sampled outputs")
    return acc, counts


# ##########################################################################
# Requantization candidates: vectorised numpy forms + oracle functions
# ##########################################################################

def _variant_params(case, name):
    if name == "float_fp32_recip":
        if case.attrs.get("params") is not None:
            return None
        p = params_for(case, "torch_qnnpack") if not isinstance(case.attrs["b_scale"], (list, tuple)) else None
        if p is None:
            sa = rq.scale_value(case.attrs["a_scale"])
            sy = rq.scale_value(case.attrs["y_scale"])
            chans = [{"M": rq.fl32(rq.fl32(sa * rq.scale_value(s)) * rq.fl32(1 / sy))} for s in case.attrs["b_scale"]]
            return rq.make_params("float_fp32", chans)
        return rq.make_params("float_fp32", [{"M": c["M"]} for c in p.channels])
    return params_for(case, VARIANTS[name][0])


@dataclass
class Candidate:
    name: str
    description: str
    params: object = None
    method: str = None       # a METHODS row, or None for a variant
    variant: str = None      # a VARIANTS key
    acc_variant: str = "wrap"  # wrap | saturate | swapped_zp
    layout: str = "as is"    # as is | transposed
    op_kind: str = None
    aliases: list = field(default_factory=list)
    int_bias: object = None  # int32 bias added as one more accumulator step (float-bias cases)
    bias_note: str = ""

    def label(self):
        s = " = ".join([self.name] + self.aliases) + self.bias_note
        if self.acc_variant == "saturate":
            s += " + saturating int32 accumulator"
        elif self.acc_variant == "wrap":
            pass
        elif self.acc_variant == "swapped_zp":
            s += " + a/b zero points swapped"
        elif CONV_VARIANTS.get(self.acc_variant):
            s += " + " + CONV_VARIANTS[self.acc_variant]
        if self.layout == "transposed":
            s += " + output transposed"
        return s


def _probe(apply, p):
    """Raise KeyError/RefquantError when params ``p`` lack what ``apply`` needs (Unpredictable is fine)."""
    for acc in (1, -1):
        try:
            apply(acc, p, 0, -128, 127, None)
        except (Unpredictable, SpecError):
            pass


def candidate_list(case):
    """Every requantization semantics that can be evaluated for this case."""
    out, seen = [], {}
    first = ("exact", "float_fp32", "ort", "tflite_double", "tflite_single", "tosa_single", "tosa_double")
    order = list(first) + [m for m in rq.METHODS if m not in first]
    names = [case.method] + [m for m in order if m != case.method and m != "torch_x86"]
    for m in names:
        meth = rq.get_method(m)
        kinds = [None]
        if "op" in meth.options and case.attrs.get("params") is None and not isinstance(case.attrs.get("b_scale"), (list, tuple)):
            kinds = ["fc", "conv"]
        for kind in kinds:
            try:
                p = params_for(case, m, kind)
                for ch in range(len(p.channels)):
                    _probe(meth.apply, p.channel(ch))
            except (RefquantError, KeyError, ZeroDivisionError, OverflowError):
                continue
            key = (meth.apply, repr(p.channels))
            nm = m if kind is None or kind == case.get("op_kind", "fc") else f"{m}[{kind} multiplier]"
            if key in seen:
                seen[key].aliases.append(nm)
                continue
            seen[key] = _with_bias(case, Candidate(nm, meth.reproduces, p, m, op_kind=kind))
            out.append(seen[key])
    if case.op in ("requantize", "qlinear_matmul", "qlinear_conv"):
        for v, (base, desc) in VARIANTS.items():
            try:
                p = _variant_params(case, v)
                if p is not None:
                    _variant_oracle(v, p.channel(0), 1, 0, -128, 127)
            except (RefquantError, KeyError):
                continue
            if p is None:
                continue
            out.append(_with_bias(case, Candidate(v, desc, p, None, v)))
    return out


def _with_bias(case, cand):
    b = candidate_int_bias(case, cand.params, cand.method)
    if b is not None:
        cand.int_bias = b
        cand.bias_note = (" (float bias -> qint32 bias)" if cand.method and rq.get_method(cand.method).float_bias
                          else " + float bias quantized to int32 at fl(sa*sb)")
    elif case.attrs.get("float_bias") is not None:
        cand.bias_note = " (float bias in the requantization)"
    return cand


def _oracle_one(cand, acc, ch, zp, lo, hi, out_type, qmin, qmax):
    try:
        if cand.variant:
            return _variant_oracle(cand.variant, cand.params.channel(ch), acc, zp, lo, hi)
        return rq.requantize_one(acc, cand.method, cand.params, zp, out_type, ch, qmin, qmax)
    except (Unpredictable, SpecError):
        return UNPRED


class Distinct:
    """The distinct (accumulator, channel) pairs of an accumulator tensor, computed once."""

    def __init__(self, acc, per_channel):
        self.shape = acc.shape
        flat = acc.reshape(-1)
        n = acc.shape[-1] if acc.ndim else 1
        chan = np.broadcast_to(np.arange(n), acc.shape).reshape(-1) if acc.ndim else np.zeros(1, np.int64)
        if per_channel and n > 1:
            keys = (flat + 2**31) * n + chan
        else:
            keys = flat
        lo = int(keys.min()) if keys.size else 0
        span = int(keys.max()) - lo + 1 if keys.size else 0
        if keys.size and span <= 8 * keys.size + (1 << 20):
            # dense key range: mark, number and look up in O(n) (no sort)
            off = keys - lo
            seen = np.zeros(span, dtype=bool)
            seen[off] = True
            ukeys = np.flatnonzero(seen)
            lut = np.cumsum(seen, dtype=np.int64) - 1
            inv = lut[off]
            first = np.empty(ukeys.size, dtype=np.int64)
            first[inv[::-1]] = np.arange(inv.size - 1, -1, -1)
        else:
            ukeys, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        self.acc, self.chan, self.inv = flat[first], chan[first], inv.reshape(-1)
        self.size = ukeys.size


def apply_candidate(cand, acc, case, rng, sampled=None, progress=_quiet, distinct=None):
    """(values int64 like acc, how) for candidate ``cand`` on accumulators ``acc``.

    Evaluated once per distinct (acc, channel) pair: vectorised (then confirmed on a sample
    against the oracle) when the method has a numpy form; otherwise the oracle on every distinct
    pair, or only on those of the ``sampled`` flat indices when there are too many (the other
    elements are then UNPRED and how starts with 'oracle on a sample')."""
    zp = int(case.get("y_zero_point", 0))
    lo, hi = rq.out_range(case.y_type, case.attrs.get("qmin"), case.attrs.get("qmax"))
    qmin, qmax = case.attrs.get("qmin"), case.attrs.get("qmax")
    per_ch = len(cand.params.channels) > 1
    key = per_ch
    if cand.int_bias is not None:
        acc = add_bias_step(acc, cand.int_bias, case.get("policy", "wrap"))
        key = (per_ch, cand.int_bias.tobytes())
    d = distinct.get(key) if isinstance(distinct, dict) else None
    if d is None:
        d = Distinct(acc, per_ch)
        if isinstance(distinct, dict):
            distinct[key] = d
    try:
        vals = (_variant_vec(cand.variant, cand.params, d.acc, d.chan, zp, lo, hi) if cand.variant
                else _vec(cand.method, cand.params, d.acc, d.chan, zp, lo, hi))
    except (OverflowError, ValueError, KeyError):
        vals = None
    if vals is not None:
        k = min(d.size, CONFIRM)
        idx = np.unique(np.concatenate([rng.choice(d.size, size=k, replace=False), [0, d.size - 1]])) if d.size else []
        for t in idx:
            want = _oracle_one(cand, int(d.acc[t]), int(d.chan[t]), zp, lo, hi, case.y_type, qmin, qmax)
            if want != vals[t]:
                raise OracleDisagreement(f"vectorised {cand.name} gives {vals[t]} for acc {d.acc[t]} "
                                         f"(channel {d.chan[t]}); the oracle gives {want}")
        return vals[d.inv].reshape(d.shape), f"vectorised on {d.size} distinct accumulators, {len(idx)} confirmed by the oracle"
    if d.size <= UNIQUE_CAP:
        progress(f"oracle {cand.name} on {d.size} distinct accumulators")
        res = np.array([_oracle_one(cand, int(a), int(c), zp, lo, hi, case.y_type, qmin, qmax)
                        for a, c in zip(d.acc, d.chan)], dtype=np.int64)
        return res[d.inv].reshape(d.shape), f"oracle on {d.size} distinct accumulators"
    res = np.full(d.size, UNPRED, dtype=np.int64)
    for u in np.unique(d.inv[sampled]):
        res[u] = _oracle_one(cand, int(d.acc[u]), int(d.chan[u]), zp, lo, hi, case.y_type, qmin, qmax)
    return res[d.inv].reshape(d.shape), f"oracle on a sample of {len(sampled)} elements"


# ##########################################################################
# Expected output
# ##########################################################################

def expected(case, progress=_quiet, rng=None, info=None, cache=None):
    """(expected int64 array, accumulators or None, overflow counts or None) under the declared semantics.

    qlinear_conv: all three in NCHW (N, M, OH, OW)."""
    vals, acc, counts = _expected(case, progress, rng, info, cache)
    return to_nchw(case, vals), to_nchw(case, acc), to_nchw(case, counts)


def _expected(case, progress=_quiet, rng=None, info=None, cache=None):
    """``expected`` with conv results in the GEMM view (channel = last axis)."""
    rng = rng or np.random.default_rng(0)
    info = {} if info is None else info
    if case.op == "quantize":
        return quantize_expected(case, case.profile), None, None
    if case.op == "requantize":
        acc, counts = case.tensors["acc"], None
    else:
        acc, counts = accumulators(case, case.get("policy", "wrap"), rng=rng, progress=progress, info=info)
    if case.op == "matmul_integer":
        return acc.copy(), acc, counts
    m = case.method
    cand = _with_bias(case, Candidate(m, rq.get_method(m).reproduces, params_for(case, m), m))
    if acc.size <= ORACLE_ELEMENTS:
        progress("oracle requantization")
        zp = int(case.get("y_zero_point", 0))
        racc = acc if cand.int_bias is None else add_bias_step(acc, cand.int_bias, case.get("policy", "wrap"))
        try:
            vals = rq.requantize(racc.tolist(), m, cand.params, zp, case.y_type,
                                 qmin=case.attrs.get("qmin"), qmax=case.attrs.get("qmax"))
            info["requantization"] = f"oracle refquant.requant.requantize({m})"
            return np.array(vals, dtype=np.int64).reshape(acc.shape), acc, counts
        except (Unpredictable, SpecError):
            pass
    sample = rng.choice(acc.size, size=min(acc.size, 4096), replace=False)
    vals, how = apply_candidate(cand, acc, case, rng, sample, progress, cache)
    info["requantization"] = f"{m}: {how}"
    return vals, acc, counts


_QUOTIENTS = {("exact", "fp32"): "x/s exact", ("div", "fp32"): "fl32(x/s)", ("div", "fp64"): "fl64(x/s)",
              ("mul_recip", "fp32"): "fl32(x*fl32(1/s))", ("fma_zp", "fp32"): "fma(x, fl32(1/s), zp)"}


@functools.lru_cache(maxsize=1)
def quantize_candidates():
    """Every quantize semantics the diagnosis tries: each profile, plus each combination of the
    quotient (x/s exact, fl32(x/s), fl64(x/s), x*(1/s), fma with the zero point), the zero point
    (added after rounding as an integer, or before it in the quotient's format) and the tie rule
    (even, away from zero) that no profile already is."""
    out = dict(PROFILES)
    seen = {_profile_key(p) for p in PROFILES.values()}
    for (quot, fmt), qname in _QUOTIENTS.items():
        for zp in (("fused",) if quot == "fma_zp" else ("int_after", "float_before")):
            if quot == "exact" and zp == "float_before":
                continue
            for rounding in ("half_even", "half_away"):
                p = replace(PROFILES["exact"], name="", quotient=quot, quotient_format=fmt, zero_point=zp,
                            rounding=rounding, nan="qmin")
                if _profile_key(p) in seen:
                    continue
                seen.add(_profile_key(p))
                zt = {"int_after": "zp after rounding", "float_before": "zp added before rounding",
                      "fused": "zp fused"}[zp]
                name = f"{qname}, {zt}, ties {'to even' if rounding == 'half_even' else 'away'}"
                out[name] = replace(p, name=name, source=f"variant: quotient {qname}, {zt}, {rounding}")
    return out


def _profile_key(p):
    return (p.quotient, p.quotient_format, p.zero_point, p.rounding, p.clamp)


def quantize_expected(case, profile, sample=None):
    """quantize under ``profile`` via the oracle on the distinct x values (per tensor or per axis)."""
    x = case.tensors["x"]
    scale, zp = case.attrs["scale"], case.attrs.get("zero_point", 0)
    dtype = case.get("dtype", "int8")
    axis = case.attrs.get("axis")
    if axis is not None:
        if x.size > ORACLE_ELEMENTS:
            raise InvalidValueError(f"per-axis quantize audits are limited to {ORACLE_ELEMENTS} elements")
        return np.asarray(qz.quantize(x, scale, zp, dtype, profile, axis=axis), dtype=np.int64)
    uniq, inv = np.unique(x.reshape(-1).view(np.uint32), return_inverse=True)
    vals = qz.quantize(uniq.view(np.float32), scale, zp, dtype, profile)
    return np.asarray(vals, dtype=np.int64)[inv].reshape(x.shape)


# ##########################################################################
# Audit
# ##########################################################################

def check_actual(case, actual):
    """The actual outputs as int64 of the case's output shape (errors name the disagreement)."""
    shape = tuple(case.out_shape)
    actual = np.asarray(actual)
    if actual.shape != shape:
        if actual.size == int(np.prod(shape)) and actual.ndim == 1:
            actual = actual.reshape(shape)
        else:
            raise ShapeError(f"actual outputs have shape {actual.shape}; the case's output is {shape} "
                             f"({case.y_type})")
    return tensors.as_integers(actual, case.y_type if case.y_type != "int32" else "int32", "actual")


def explain_element(case, index, method=None):
    """The explain trace (list of Step) of one output element under ``method`` (default: declared)."""
    steps = _explain_element(case, index, method)
    if case.attrs.get("params") is not None:      # the user gave the parameters: say so, not "derived"
        steps = [rq.Step(s.name, "given in params", s.value) if s.name.startswith("param ") else s for s in steps]
    return steps


def _explain_element(case, index, method=None):
    method = method or (case.method if case.op != "quantize" else None)
    if case.op == "quantize":
        x = case.tensors["x"]
        v = float(x[tuple(index)])
        prof = PROFILES[case.profile]
        q = quantize_expected(Case("quantize", {"x": np.array([v], np.float32)}, case.attrs), case.profile)[0]
        return [rq.Step("x", "float32 input", repr(v)), rq.Step("scale", "", case.attrs["scale"]),
                rq.Step("zero point", "", case.attrs.get("zero_point", 0)),
                rq.Step("profile", prof.source, case.profile),
                rq.Step("quotient", f"{prof.quotient} in {prof.quotient_format}", "-"),
                rq.Step("result", f"{prof.rounding}, zero point {prof.zero_point}, clamp {prof.clamp}", int(q))]
    if case.op == "requantize":
        acc = int(case.tensors["acc"][tuple(index)])
        p = params_for(case, method)
        j = index[-1] if len(p.channels) > 1 else 0
        return rq.explain_requantize(acc, method, p, int(case.get("y_zero_point", 0)), case.y_type, j,
                                     case.attrs.get("qmin"), case.attrs.get("qmax"))
    if case.op == "qlinear_conv":
        steps, acc, j = _explain_conv_acc(case, index)
    else:
        steps, acc, j = _explain_matmul_acc(case, index)
        if case.op == "matmul_integer":
            return steps
    p = params_for(case, method)
    cand = _with_bias(case, Candidate(method, "", p, method if method in rq.METHODS else None))
    if cand.int_bias is not None:
        b = int(cand.int_bias[j if cand.int_bias.size > 1 else 0])
        acc = int(add_bias_step(np.array([acc]), np.array([b]), case.get("policy", "wrap"))[0])
        steps.append(rq.Step("bias step", f"int32 bias{cand.bias_note}, one more accumulator step", b))
        steps.append(rq.Step("acc", f"int32 accumulator under '{case.get('policy', 'wrap')}'", acc))
    elif case.attrs.get("float_bias") is not None:
        fb = case.attrs["float_bias"]
        steps.append(rq.Step("float bias", "binary32, added in the requantization", fb[j if len(fb) > 1 else 0]
                             if isinstance(fb, list) else fb))
    return steps + rq.explain_requantize(acc, method, p, int(case.get("y_zero_point", 0)), case.y_type,
                                         j if len(p.channels) > 1 else 0, case.attrs.get("qmin"), case.attrs.get("qmax"))


def _explain_conv_acc(case, index):
    g = case.geometry()
    n, m, oh, ow = (int(v) for v in index)
    policy = case.get("policy", "wrap")
    terms, _acc, _steps = conv_oracle_element(case, (n, m, oh, ow), policy)
    (sh, sw), (ph0, pw0, _ph1, _pw1), (dh, dw) = g["strides"], g["pads"], g["dilations"]
    gin = int(_group_of(case, "as is")[m])
    rows = [oh * sh - ph0 + kh * dh for kh in range(g["kH"])]
    cols = [ow * sw - pw0 + kw * dw for kw in range(g["kW"])]
    inside = sum(0 <= h < g["H"] for h in rows) * sum(0 <= w < g["W"] for w in cols)
    taps = g["kH"] * g["kW"]
    bias = case.tensors.get("bias")
    steps, value = ops._accumulation_steps(terms, policy, 32, None if bias is None else int(bias[m]))
    steps[0] = rq.Step("terms", f"{len(terms)} exact products (x - zx)(w - zw), (c, kh, kw) ascending",
                       steps[0].value)
    zb = case.zb_vector()
    return [rq.Step("output", f"qlinear_conv element (n, m, oh, ow), channel m = {m}, input group {gin} "
                    f"(channels {gin * g['Cg']}..{(gin + 1) * g['Cg'] - 1})", (n, m, oh, ow)),
            rq.Step("window", f"h = oh*{sh} - {ph0} + kh*{dh}, w = ow*{sw} - {pw0} + kw*{dw}",
                    f"rows {rows}, cols {cols}"),
            rq.Step("taps", f"{inside} of {taps} taps inside x per channel; padding holds zx = "
                    f"{int(case.get('a_zero_point', 0))}, its terms (zx - zx)*w are 0",
                    f"{inside * g['Cg']} inside, {(taps - inside) * g['Cg']} padding"),
            rq.Step("zero points", "zx (input), zw[m] (weights)", f"{int(case.get('a_zero_point', 0))}, {int(zb[m])}"),
            ] + steps, value, m


def _explain_matmul_acc(case, index):
    i, j = index
    a, b, za, zb = _ab_operands(case)
    bias = case.tensors.get("bias")
    ex = ops.explain_matmul_integer(a[i:i + 1].tolist(), b[:, j:j + 1].tolist(), (0, 0), za, int(zb[j]),
                                    case.get("a_type", "int8"), case.get("b_type", "int8"),
                                    policy=case.get("policy", "wrap"),
                                    bias=None if bias is None else [int(bias[j])])
    steps = list(ex.steps)
    steps[0] = rq.Step("output", f"{case.op} element (i, j), channel j = {j}", (int(i), int(j)))
    return steps, steps[-1].value, int(j)


def _histogram(diff):
    vals, counts = np.unique(diff[diff != 0], return_counts=True)
    return {int(v): int(c) for v, c in zip(vals, counts)}


def audit(case, actual, first=10, diagnose_=True, progress=None, seed=0):
    """The audit of ``actual`` against the case: a JSON-able dict (see docs/audit.md)."""
    progress = progress or Progress(False)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    actual = check_actual(case, actual)
    info = {}
    cache = {}
    exp, acc, counts = expected(case, progress, rng, info, cache)
    t1 = time.perf_counter()
    mism = exp != actual
    n = int(exp.size)
    nm = int(mism.sum())
    diff = np.where(mism, actual - exp, 0)
    res = {"case": case.describe(), "semantics": case.method if case.op != "quantize" else case.profile,
           "elements": n, "mismatches": nm, "fraction": nm / n if n else 0.0,
           "max_abs_diff": int(np.abs(diff).max()) if n else 0, "histogram": _histogram(diff),
           "how": info, "first": []}
    if counts is not None:
        res["overflowed_outputs"] = int((counts > 0).sum())
    progress("explaining the first mismatches")
    for idx in np.argwhere(mism)[:first]:
        idx = tuple(int(v) for v in idx)
        try:
            steps = explain_element(case, idx)
        except RefquantError as exc:
            steps = [rq.Step("error", "", str(exc))]
        res["first"].append({"index": list(idx), "expected": int(exp[idx]), "actual": int(actual[idx]),
                             "diff": int(actual[idx] - exp[idx]),
                             "explain": [{"step": s.name, "formula": s.formula, "value": rq.show(s.value)} for s in steps]})
    res["_mismatch_mask"] = mism
    res["_diff"] = diff
    if diagnose_:
        res["diagnosis"] = diagnose(case, actual, acc, counts, rng, progress, cache)
    res["seconds"] = {"expected": round(t1 - t0, 3), "total": round(time.perf_counter() - t0, 3)}
    progress.done()
    return res


# ##########################################################################
# Diagnosis
# ##########################################################################

def _score(vals, actual, sampled_idx=None):
    if sampled_idx is not None:
        v, a = vals.reshape(-1)[sampled_idx], actual.reshape(-1)[sampled_idx]
        return int((v == a).sum()), int(len(sampled_idx))
    return int((vals == actual).sum()), int(actual.size)


def diagnose(case, actual, acc=None, counts=None, rng=None, progress=_quiet, cache=None):
    """Rank every candidate semantics by the number of elements of ``actual`` it explains.

    qlinear_conv: ``actual`` (and ``acc``/``counts`` when given) in NCHW or in the GEMM view."""
    rng = rng or np.random.default_rng(0)
    rows = []
    if case.op == "qlinear_conv":
        actual, acc, counts = (to_gemm(case, v) if v is not None and np.ndim(v) == 4 else v
                               for v in (np.asarray(actual), acc, counts))
    n = actual.size
    sample = rng.choice(n, size=min(n, UNIQUE_CAP), replace=False) if n else np.zeros(0, np.int64)
    transposable = (actual.ndim == 2 and actual.shape[0] == actual.shape[1] and case.op not in ("quantize", "qlinear_conv"))
    if case.op == "quantize":
        for prof, p in quantize_candidates().items():
            progress(f"diagnosis: profile {prof}")
            try:
                vals = quantize_expected(case, p)
            except (RefquantError, ArithmeticError):
                continue
            m, tot = _score(vals, actual)
            rows.append({"name": f"profile {prof}" if prof in PROFILES else prof, "semantics": prof,
                         "description": p.source, "matched": m, "of": tot, "how": "oracle on the distinct inputs",
                         "_vals": vals})
        return _summarize(rows, actual, case, counts)
    if acc is None:
        acc = case.tensors["acc"] if case.op == "requantize" else accumulators(case, case.get("policy", "wrap"), rng=rng)[0]
    accs = {case.get("policy", "wrap"): acc}
    if case.op != "requantize":
        if overflow_possible(case):
            other = "saturate" if case.get("policy", "wrap") == "wrap" else "wrap"
            progress(f"diagnosis: {other} accumulator")
            accs[other] = accumulators(case, other, rng=rng)[0]
        za, zb = case.get("a_zero_point", 0), case.zb_vector()
        if case.op == "qlinear_conv":
            for v in conv_variants(case):
                progress(f"diagnosis: conv accumulators, {CONV_VARIANTS[v]}")
                accs[v] = conv_accumulators(case, case.get("policy", "wrap"), v, rng=rng, progress=progress)[0]
        elif np.all(zb == zb[0]) and za != zb[0]:
            progress("diagnosis: swapped zero points")
            sw = accumulators(case, case.get("policy", "wrap"), swap_zp=True, rng=rng)[0]
            if sw is not None:
                accs["swapped_zp"] = sw
    if case.op == "matmul_integer":
        for name, a in accs.items():
            m, tot = _score(a, actual)
            rows.append({"name": f"int32 accumulator, {name}" if name != "swapped_zp" else "a/b zero points swapped",
                         "semantics": name, "description": "MatMulInteger (contract §2)", "matched": m, "of": tot,
                         "how": "exact", "_vals": a})
            if transposable:
                m, tot = _score(a.T, actual)
                rows.append({"name": f"int32 accumulator, {name} + output transposed", "semantics": name + "+T",
                             "description": "actual[j, i] = expected[i, j]", "matched": m, "of": tot, "how": "exact",
                             "_vals": a.T})
        return _summarize(rows, actual, case, counts)
    cands = candidate_list(case)
    base_policy = case.get("policy", "wrap")
    caches = {name: {} for name in accs}
    if cache is not None:
        caches[base_policy] = cache
    for c in cands:
        progress(f"diagnosis: {c.name}")
        vals, how = apply_candidate(c, acc, case, rng, sample, progress, caches[base_policy])
        sampled = how.startswith("oracle on a sample")
        m, tot = _score(vals, actual, sample if sampled else None)
        rows.append({"name": c.label(), "semantics": c.name, "description": c.description, "matched": m, "of": tot,
                     "how": how, "_vals": vals, "_cand": c})
    rows.sort(key=lambda r: -r["matched"] / max(r["of"], 1))
    top = [r for r in rows[:3] if "_cand" in r]
    for r in top:
        c = r["_cand"]
        for name, a in accs.items():
            if name == base_policy:
                continue
            vals, how = apply_candidate(c, a, case, rng, sample, progress, caches[name])
            m, tot = _score(vals, actual, sample if how.startswith("oracle on a sample") else None)
            c2 = Candidate(c.name, c.description, c.params, c.method, c.variant, name, aliases=c.aliases,
                           bias_note=c.bias_note)
            rows.append({"name": c2.label(), "semantics": f"{c.name}+{name}", "description": c.description,
                         "matched": m, "of": tot, "how": how, "_vals": vals})
        if transposable:
            m, tot = _score(r["_vals"].T, actual)
            c2 = Candidate(c.name, c.description, c.params, c.method, c.variant, base_policy, "transposed",
                           aliases=c.aliases, bias_note=c.bias_note)
            rows.append({"name": c2.label(), "semantics": f"{c.name}+T", "description": "actual[j, i] = expected[i, j]",
                         "matched": m, "of": tot, "how": r["how"], "_vals": r["_vals"].T})
    return _summarize(rows, actual, case, counts)


def _pct(m, n):
    if n == 0 or m == n:
        return "100%"
    p = 100.0 * m / n
    return f"{p:.4f}%" if p > 99.99 else f"{p:.2f}%"


def _summarize(rows, actual, case, counts):
    declared = case.method if case.op != "quantize" else case.profile
    rows.sort(key=lambda r: (-r["matched"] / max(r["of"], 1), r["semantics"] != declared))
    best = rows[0] if rows else None
    out = {"ranking": [], "verdict": "no candidate could be evaluated"}
    for r in rows:
        out["ranking"].append({k: v for k, v in r.items() if not k.startswith("_")} |
                              {"fraction": r["matched"] / max(r["of"], 1), "percent": _pct(r["matched"], r["of"])})
    if best is None:
        return out
    n = best["of"]
    if best["matched"] == n:
        ties = [r["name"] for r in rows[1:] if r["matched"] == r["of"] == n]
        v = f"matches {best['name']} on 100% of elements ({n}/{n})"
        if ties:
            shown = ", ".join(ties[:6]) + (f" and {len(ties) - 6} more" if len(ties) > 6 else "")
            v += f"; indistinguishable on this data from: {shown}"
        out["verdict"] = v
        return out
    miss = best["_vals"] != actual
    k = int(miss.sum()) if best["how"] and not best["how"].startswith("oracle on a sample") else n - best["matched"]
    parts = []
    if counts is not None and best["how"] and not best["how"].startswith("oracle on a sample"):
        ov = int((miss & (counts > 0)).sum())
        if ov:
            parts.append(f"{ov} where the int32 accumulator overflowed")
    others = []
    for r in rows[1:]:
        if r["how"] and r["how"].startswith("oracle on a sample"):
            continue
        e = int((r["_vals"][miss] == actual[miss]).sum())
        if e:
            others.append((e, r["name"]))
    others.sort(key=lambda t: -t[0])
    if others:
        e, nm = others[0]
        parts.append(f"{e} of them explained by {nm}")
    v = f"matches {best['name']} on {_pct(best['matched'], n)} of elements ({best['matched']}/{n}) except {k} element{'s' * (k != 1)}"
    if parts:
        v += " (" + "; ".join(parts) + ")"
    if best["matched"] < 0.5 * n:
        v = f"no candidate semantics explains most elements; best: {v}"
    out["verdict"] = v
    return out
