"""Golden vector sets: a documented, language-neutral format; deterministic generation from the
oracle; verification; exports.  The format is specified in docs/golden-format.md.

    golden/<suite>/manifest.json          Wycheproof-style: notes, testGroups, tests, files + sha256
    golden/<suite>/tc0007_A.i8.hex         $readmemh-ready text hex, one word per element
    golden/<suite>/tc0007_Y.i8.hex         expected output: always a separate file
    golden/formats/<fmt>_<op>....tv       TestFloat-style lines "<in> <out> <flags>"
    golden/schema/manifest.schema.json     JSON Schema (draft 2020-12) of every manifest

Generation and verification use only the standard library and the oracle modules; numpy is
needed only to hand decoded tensors out as arrays and for the C-kernel cross-check.

Python API (for verify/audit tools):

    root = default_root()
    gset = load_set(root / "matmul")          # GoldenSet: .manifest, .path, .cases()
    for case in gset.cases(numpy=True):      # Case: tc_id, name, op, result, flags, params,
        case.inputs["A"], case.expected["Y"]  #       group, derived, inputs, expected, files
    report = verify(root)                     # {sets, tests, checked, mismatches: [...]}
"""

import hashlib
import json
import os
import random
import re
import shutil
import stat
import struct
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from . import __version__, formats, integers, ops
from . import quantize as qz
from . import requant as rq
from .errors import (AccumulatorOverflowError, FormatFileError, InvalidValueError, RefquantError,
                     ShapeError, SpecError, UnknownNameError, Unpredictable)
from .profiles import PROFILES

FORMAT_VERSION = 1
SCHEMA_NAME = "refquant-golden-manifest"
EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


# ##########################################################################
# Element types of tensor files
# ##########################################################################

class DType:
    """One element type of a tensor file: its width, how words map to values, its exports."""

    def __init__(self, short, kind, bits, name, npy, ctype, pack):
        self.short, self.kind, self.bits, self.name = short, kind, bits, name
        self.npy, self.ctype, self.pack = npy, ctype, pack
        self.digits = (bits + 3) // 4
        self.mask = (1 << bits) - 1

    @property
    def signed(self):
        return self.kind == "int"

    def word(self, v):
        """The fixed-width two's-complement hex word of value v (bit patterns for floats)."""
        return format(v & self.mask, f"0{self.digits}x")

    def value(self, word):
        """The value of an in-range word (int, two's complement for signed types)."""
        v = int(word, 16)
        if self.signed and v >> (self.bits - 1):
            v -= 1 << self.bits
        return v

    def check(self, v):
        lo, hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (0, self.mask)
        return isinstance(v, int) and lo <= v <= hi


# short -> (kind: int | uint | float (bit patterns), bits, refquant name, npy descr, C type, struct code)
DTYPES = {d.short: d for d in [
    DType("i4", "int", 4, "int4", "|i1", "int8_t", "b"),
    DType("u4", "uint", 4, "uint4", "|u1", "uint8_t", "B"),
    DType("i8", "int", 8, "int8", "|i1", "int8_t", "b"),
    DType("u8", "uint", 8, "uint8", "|u1", "uint8_t", "B"),
    DType("i16", "int", 16, "int16", "<i2", "int16_t", "h"),
    DType("u16", "uint", 16, "uint16", "<u2", "uint16_t", "H"),
    DType("i32", "int", 32, "int32", "<i4", "int32_t", "i"),
    DType("u32", "uint", 32, "uint32", "<u4", "uint32_t", "I"),
    DType("f64", "float", 64, "fp64", "<f8", "uint64_t", "Q"),
    DType("f32", "float", 32, "fp32", "<f4", "uint32_t", "I"),
    DType("f16", "float", 16, "fp16", "<f2", "uint16_t", "H"),
    DType("bf16", "float", 16, "bf16", "<u2", "uint16_t", "H"),
    DType("e4m3fn", "float", 8, "fp8_e4m3fn", "|u1", "uint8_t", "B"),
    DType("e5m2", "float", 8, "fp8_e5m2", "|u1", "uint8_t", "B"),
    DType("e4m3fnuz", "float", 8, "fp8_e4m3fnuz", "|u1", "uint8_t", "B"),
    DType("e5m2fnuz", "float", 8, "fp8_e5m2fnuz", "|u1", "uint8_t", "B"),
    DType("e2m3", "float", 6, "fp6_e2m3", "|u1", "uint8_t", "B"),
    DType("e3m2", "float", 6, "fp6_e3m2", "|u1", "uint8_t", "B"),
    DType("e2m1", "float", 4, "fp4_e2m1", "|u1", "uint8_t", "B"),
    DType("e8m0", "float", 8, "e8m0", "|u1", "uint8_t", "B"),
]}
_SHORT_OF = {d.name: d.short for d in DTYPES.values()}


def short_dtype(name):
    """The tensor-file dtype ('i8', 'f32', 'e4m3fn', ...) of a refquant type or format name."""
    if name in DTYPES:
        return name
    try:
        return _SHORT_OF[name]
    except KeyError:
        raise UnknownNameError("golden dtype", name, list(DTYPES) + list(_SHORT_OF)) from None


# ##########################################################################
# Tensor files: text hex, $readmemh-ready
# ##########################################################################

_HEADER_RE = re.compile(r"^//\s*(.*)$")
_KV_RE = re.compile(r"(\w+)=(\S+)")
_WORD_RE = re.compile(r"^[0-9a-fA-F]+$")


def format_tensor(name, dtype, shape, values, layout="row-major"):
    """The text of one tensor file: a '//' header line, then one fixed-width hex word per line."""
    d = DTYPES[dtype]
    n = _count(shape)
    if len(values) != n:
        raise ShapeError(f"tensor {name}: {len(values)} values for shape {shape}")
    shape_txt = "x".join(str(s) for s in shape)
    lines = [f"// name={name} dtype={dtype} shape={shape_txt} layout={layout} count={n}"]
    for v in values:
        if not d.check(v):
            raise InvalidValueError(f"tensor {name}: value {v!r} is not a {dtype} word")
        lines.append(d.word(v))
    return "\n".join(lines) + "\n"


def _count(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def parse_tensor(text, path="<tensor>", dtype=None, shape=None):
    """(header dict, values) of a tensor file; FormatFileError names the file and line."""
    lines = text.split("\n")
    m = _HEADER_RE.match(lines[0]) if lines else None
    if not m:
        raise FormatFileError(f"{path}:1: missing '// name=... dtype=... shape=... layout=...' header line")
    header = dict(_KV_RE.findall(m.group(1)))
    for key in ("name", "dtype", "shape", "layout"):
        if key not in header:
            raise FormatFileError(f"{path}:1: header has no {key}= field")
    if header["dtype"] not in DTYPES:
        raise FormatFileError(f"{path}:1: unknown dtype {header['dtype']!r}; expected one of {', '.join(DTYPES)}")
    try:
        hshape = [int(s) for s in header["shape"].split("x")]
    except ValueError:
        raise FormatFileError(f"{path}:1: shape {header['shape']!r} is not like 4x8") from None
    if dtype is not None and header["dtype"] != dtype:
        raise FormatFileError(f"{path}:1: header dtype {header['dtype']} but the manifest says {dtype}")
    if shape is not None and hshape != list(shape):
        raise FormatFileError(f"{path}:1: header shape {hshape} but the manifest says {list(shape)}")
    d = DTYPES[header["dtype"]]
    count = _count(hshape)
    if "count" in header and header["count"] != str(count):
        raise FormatFileError(f"{path}:1: count={header['count']} disagrees with shape {header['shape']} ({count} elements)")
    values = []
    for lineno, line in enumerate(lines[1:], start=2):
        word = line.split("//", 1)[0].strip()
        if not word:
            continue
        if not _WORD_RE.match(word):
            raise FormatFileError(f"{path}:{lineno}: {word!r} is not one hex word")
        if len(word) != d.digits or int(word, 16) > d.mask:
            raise FormatFileError(f"{path}:{lineno}: word {word!r} out of range for {d.short} "
                                  f"({d.digits} hex digits, at most {d.mask:x})")
        values.append(d.value(word))
        if len(values) > count:
            raise FormatFileError(f"{path}:{lineno}: more elements than shape {header['shape']} holds ({count})")
    if len(values) != count:
        raise FormatFileError(f"{path}:{len(lines)}: {len(values)} elements, shape {header['shape']} needs {count}")
    return header, values


# ##########################################################################
# .npy and raw binary (stdlib writers)
# ##########################################################################

def npy_bytes(dtype, shape, values):
    """A NumPy .npy (format 1.0) file holding ``values`` as ``dtype`` (floats from their bits)."""
    d = DTYPES[dtype]
    shape_txt = "(" + "".join(f"{s}, " for s in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (d.npy, shape_txt)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + raw_bytes(dtype, values)


def raw_bytes(dtype, values):
    """Little-endian raw bytes; sub-byte types take one byte each (sign-extended for i4)."""
    d = DTYPES[dtype]
    return struct.pack(f"<{len(values)}{d.pack}", *values)


# ##########################################################################
# A mini JSON-Schema validator (the subset the manifest schema uses)
# ##########################################################################

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _type_ok(value, t):
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[t])


def schema_errors(value, schema, root=None, where="$"):
    """Violations of ``schema`` by ``value``: a list of 'path: message' strings.

    Supports type, const, enum, required, properties, additionalProperties, items, minItems,
    minimum, maximum, pattern, minLength, $ref (#/$defs/...), allOf, if/then, not.
    """
    root = schema if root is None else root
    if "$ref" in schema:
        return schema_errors(value, root["$defs"][schema["$ref"].split("/")[-1]], root, where)
    errs = []
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            return [f"{where}: {json.dumps(value)[:60]} is not of type {' or '.join(types)}"]
    if "const" in schema and value != schema["const"]:
        errs.append(f"{where}: {json.dumps(value)[:60]} is not {json.dumps(schema['const'])}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{where}: {json.dumps(value)[:60]} is not one of {schema['enum']}")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                errs.append(f"{where}: required property {key!r} is missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                errs += schema_errors(v, props[key], root, f"{where}.{key}")
            elif extra is False:
                errs.append(f"{where}: unexpected property {key!r}")
            elif isinstance(extra, dict):
                errs += schema_errors(v, extra, root, f"{where}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errs.append(f"{where}: fewer than {schema['minItems']} items")
        if "items" in schema:
            for i, v in enumerate(value):
                errs += schema_errors(v, schema["items"], root, f"{where}[{i}]")
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{where}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{where}: {value} > maximum {schema['maximum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{where}: {value!r} does not match {schema['pattern']!r}")
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{where}: {value!r} is too short")
    for sub in schema.get("allOf", ()):
        errs += schema_errors(value, sub, root, where)
    if "if" in schema and not schema_errors(value, schema["if"], root, where):
        errs += schema_errors(value, schema.get("then", {}), root, where)
    if "not" in schema and not schema_errors(value, schema["not"], root, where):
        errs.append(f"{where}: {json.dumps(value)[:60]} must not match {json.dumps(schema['not'])}")
    return errs


SUITE_NAMES = ("formats", "quantize", "matmul", "conv")
OPS = ("decode", "encode", "quantize", "dequantize", "qlinear_matmul", "qlinear_conv")
ROLES = ("input", "param", "intermediate", "expected", "vectors")
_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "refquant golden vector set manifest (format version 1)",
    "description": "See docs/golden-format.md.  One manifest.json per vector-set directory.",
    "type": "object",
    "required": ["schema", "formatVersion", "suite", "generator", "seed", "header", "profiles",
                 "notes", "numberOfTests", "testGroups"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_NAME},
        "formatVersion": {"const": FORMAT_VERSION},
        "suite": {"enum": list(SUITE_NAMES)},
        "generator": {
            "type": "object", "required": ["name", "version", "command"], "additionalProperties": False,
            "properties": {"name": {"const": "refquant"}, "version": {"type": "string"},
                           "command": {"type": "string"}}},
        "seed": {"type": "integer", "minimum": 0},
        "header": {"type": "array", "items": {"type": "string"}},
        "profiles": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["kind", "source"], "additionalProperties": False,
            "properties": {"kind": {"enum": ["quantize_profile", "requant_method", "float_rounding"]},
                           "source": {"type": "string", "minLength": 1}}}},
        "notes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/note"}},
        "numberOfTests": {"type": "integer", "minimum": 0},
        "testGroups": {"type": "array", "items": {"$ref": "#/$defs/group"}},
    },
    "$defs": {
        "note": {"type": "object", "required": ["description", "effect"], "additionalProperties": False,
                 "properties": {"description": {"type": "string", "minLength": 1},
                                "effect": {"type": "string", "minLength": 1}}},
        "group": {
            "type": "object", "required": ["tgId", "op", "profile", "params", "tests"],
            "additionalProperties": False,
            "properties": {"tgId": {"type": "integer", "minimum": 1}, "op": {"enum": list(OPS)},
                           "profile": {"type": "string", "minLength": 1},
                           "comment": {"type": "string"},
                           "params": {"type": "object"},
                           "tests": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/test"}}}},
        "test": {
            "type": "object", "required": ["tcId", "name", "comment", "flags", "result", "params", "files"],
            "additionalProperties": False,
            "properties": {
                "tcId": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_./=+-]*$"},
                "comment": {"type": "string"},
                "flags": {"type": "array", "items": {"type": "string", "pattern": r"^[a-z0-9_]+$"}},
                "result": {"enum": ["valid", "error", "unpredictable"]},
                "error": {"type": "string", "minLength": 1},
                "reason": {"type": "string"},
                "params": {"type": "object"},
                "derived": {"type": "object"},
                "files": {"type": "array", "items": {"$ref": "#/$defs/file"}}},
            "allOf": [
                {"if": {"properties": {"result": {"const": "error"}}}, "then": {"required": ["error"]}},
                {"if": {"properties": {"result": {"enum": ["error", "unpredictable"]}}},
                 "then": {"properties": {"files": {"items": {"properties": {
                     "role": {"not": {"enum": ["expected", "intermediate", "vectors"]}}}}}}}},
            ]},
        "file": {
            "type": "object", "required": ["path", "kind", "role", "bytes", "sha256"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string", "pattern": _NAME_PATTERN},
                "kind": {"enum": ["tensor", "vectors"]},
                "role": {"enum": list(ROLES)},
                "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                "dtype": {"enum": list(DTYPES)},
                "shape": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
                "layout": {"type": "string", "minLength": 1},
                "elements": {"type": "integer", "minimum": 0},
                "columns": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "lines": {"type": "integer", "minimum": 0},
                "bytes": {"type": "integer", "minimum": 0},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
            "allOf": [
                {"if": {"properties": {"kind": {"const": "tensor"}}},
                 "then": {"required": ["name", "dtype", "shape", "layout", "elements"]}},
                {"if": {"properties": {"kind": {"const": "vectors"}}},
                 "then": {"required": ["columns", "lines"]}},
            ]},
    },
}


# ##########################################################################
# Flags (Wycheproof notes)
# ##########################################################################

NOTES = {
    "tie": ("At least one element's exact quotient (x/s, or acc*sa*sb/sy) lies exactly halfway "
            "between two integers (or two codes, for float formats).",
            "Half-even, half-away and half-up implementations differ here by one."),
    "neg_tie": ("A tie as above on a negative value.",
                "Half-up (ties toward +inf) and half-away differ here."),
    "saturate_hi": ("At least one exact result lies above qmax (or above the largest finite code).",
                    "Wrapping or unclamped implementations differ."),
    "saturate_lo": ("At least one exact result lies below qmin.",
                    "Wrapping or unclamped implementations differ."),
    "acc_overflow": ("At least one int32 accumulation step leaves [-2^31, 2^31-1].",
                     "The result depends on the overflow policy (wrap / saturate / error) and the k order."),
    "subnormal_scale": ("A scale is subnormal in its format.",
                        "Flush-to-zero (FTZ/DAZ) implementations divide by zero here."),
    "huge_scale": ("A scale of 2^64 or more.", "Reciprocal-based profiles lose precision or underflow."),
    "subnormal_input": ("An input element is subnormal.", "FTZ/DAZ implementations read it as zero."),
    "nan_input": ("An input element is NaN.", "Profiles define NaN differently: qmin, qmax, INT32_MIN, error, "
                  "or undefined (the test is then 'unpredictable' and has no expected output)."),
    "inf_input": ("An input element is +-infinity.", "Saturates under most profiles; the x86 int32 path gives INT32_MIN."),
    "per_channel": ("Per-channel (per-axis) scales or zero points.", "Wrong channel indexing shows up here."),
    "per_block": ("Blocked (group-wise) scales along one axis.", "Wrong block indexing shows up here."),
    "double_vs_single_rounding": ("Double-rounding and single-rounding builds of the same method "
                                  "(tflite_double vs tflite_single, tosa_double vs tosa_single) give "
                                  "different outputs for at least one element.",
                                  "Implementations of the other build fail by one."),
    "zp_extreme": ("A zero point at an end of its type's range.", "Overflow in (x - zp) or the zp add."),
    "bias": ("An int32 bias is added as one more accumulator step.", "Bias placement errors."),
    "float_bias": ("A float32 bias (input float_bias, binary32 bit patterns) is applied by the torch / oneDNN "
                   "method's own formula: FMA or added after scaling, or quantized to qint32 (torch_qnnpack). "
                   "Oracle-only: the C kernel takes an int32 bias only and does not run these tests.",
                   "Bias rounding: FMA vs separate add, reciprocal vs division, bias quantized or not."),
    "k_one": ("Inner dimension K = 1.", "Edge case of loop bounds."),
    "k_large": ("Inner dimension K >= 4096.", "Long accumulations; blocking and threading errors."),
    "int4": ("4-bit integer target (hex words of one digit).", "Sub-byte range and sign handling."),
    "fp8_target": ("Float8 / float4 target: expected outputs are format codes.", "Float rounding and saturation."),
    "no_saturate": ("ONNX saturate=0 for a float8 target: overflow gives inf/NaN.", "saturate handling."),
    "fp16_input": ("Inputs are binary16 or bfloat16 bit patterns.", "Input decoding and widening."),
    "seed_example": ("A worked example with published or measured numbers (docs/reference/worked-examples.md; "
                     "requant.md §7).", "Basic affine mapping."),
    "random": ("Pseudo-random inputs from the set's seed.", "General coverage."),
    "padding": ("Convolution padding, filled with the input zero point.", "Padding by 0 instead of zx."),
    "stride": ("Convolution stride > 1.", "Output geometry."),
    "dilation": ("Convolution dilation > 1.", "Tap addressing."),
    "groups": ("Grouped (or depthwise) convolution.", "Channel grouping."),
    "qrange": ("Explicit [qmin, qmax] narrower than the type (fused activation or narrow range).", "Clamp bounds."),
    "every_code": ("Every code of the format (or a structured selection of a 16/32-bit format).", "Decoding."),
    "midpoint": ("Midpoints between neighbouring codes, and their neighbours one input ulp away.",
                 "Rounding-mode handling of ties and near-ties."),
    "overflow_boundary": ("Values around the largest finite code, infinities and NaN.", "Overflow policy."),
    "underflow_boundary": ("Values around the smallest subnormal and zero.", "Underflow and signed zero."),
}


def _exact_flags(q, zp, qmin, qmax):
    """Flags of one exact quotient q (a Fraction) against [qmin, qmax] after + zp."""
    out = set()
    twice = 2 * q
    if twice.denominator == 1 and twice.numerator % 2:
        out.add("tie")
        if q < 0:
            out.add("neg_tie")
    r = qz.round_to_int(q, "half_even") + zp
    if r > qmax:
        out.add("saturate_hi")
    if r < qmin:
        out.add("saturate_lo")
    return out


# ##########################################################################
# Computation of one test (shared by generate and verify)
# ##########################################################################

class Tensor:
    """A tensor of a golden file: dtype (short), shape, flat values, layout."""

    def __init__(self, dtype, shape, values, layout="row-major"):
        self.dtype, self.shape, self.values, self.layout = dtype, list(shape), list(values), layout


def _nest(flat, shape):
    return qz._unflatten(list(flat), tuple(shape))


def _scale_of(bits, fmt):
    v = formats.decode(fmt, bits)
    if not v.is_finite or v.value <= 0:
        raise InvalidValueError(f"scale bits {bits:#x} are not a positive finite {fmt} value")
    return v.value


def _scale_param(x, fmt="fp32"):
    """A scale parameter in the manifest: bit-pattern hex string(s) -> Fraction or list."""
    if isinstance(x, list):
        return [_scale_of(int(b, 16), fmt) for b in x]
    return _scale_of(int(x, 16), fmt)


def _jsonable(v):
    if isinstance(v, Fraction):
        return str(v)
    if isinstance(v, float):
        return str(Fraction(v))
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _derived(params):
    """Params -> {name: [per-channel values]} with Fractions as 'n/d' strings (stable text)."""
    keys = []
    for c in params.channels:
        for k in c:
            if k not in keys:
                keys.append(k)
    return {k: [_jsonable(c.get(k)) for c in params.channels] for k in keys}


_OTHER_BUILD = {"tflite_double": "tflite_single", "tflite_single": "tflite_double",
                "tosa_double": "tosa_single", "tosa_single": "tosa_double"}


def _requant(accs, method, params, zy, y_type, axis, qmin, qmax):
    return rq.requantize(accs, method, params, zy, y_type, axis=axis, qmin=qmin, qmax=qmax)


def _requant_flags(accs_flat, channels_of, method, params, scales, zy, y_type, qmin, qmax, Y, axis, accs,
                   float_bias=None):
    """Computed flags.  float_bias = (float biases, the int32 bias derived from them or None): the
    exact value is then ((acc - int_bias_j)*sa*sb_j + bias_j)/sy."""
    flags = set()
    t = integers.get_type(y_type)
    lo = t.min if qmin is None else qmin
    hi = t.max if qmax is None else qmax
    if method != "int32":
        sa, sbs, sy = scales
        fb, ib = float_bias or (None, None)
        for acc, j in zip(accs_flat, channels_of):
            sb = sbs[j if len(sbs) > 1 else 0]
            if fb is None:
                flags |= _exact_flags(acc * sa * sb / sy, zy, lo, hi)
            else:
                raw = acc - (ib[j] if ib else 0)
                flags |= _exact_flags((raw * sa * sb + fb[j if len(fb) > 1 else 0]) / sy, zy, lo, hi)
    other = _OTHER_BUILD.get(method)
    if other:
        try:
            alt = _requant(accs, other, rq.Params(other, params.channels, params.per_channel), zy, y_type,
                           axis, qmin, qmax)
            if _flatten(alt) != _flatten(Y):
                flags.add("double_vs_single_rounding")
        except Unpredictable:
            pass
    return flags


def _flatten(x):
    return qz._flatten(x)


def compute_qlinear_matmul(params, inputs):
    """(outputs, derived, flags) of one qlinear_matmul test; raises the outcome errors."""
    p = params
    M, K, N = p["M"], p["K"], p["N"]
    A = _nest(inputs["A"].values, (M, K))
    B = _nest(inputs["B"].values, (K, N))
    bias = inputs["bias"].values if "bias" in inputs else None
    fbias = None
    if "float_bias" in inputs:   # f32 bit patterns; torch / oneDNN methods only (oracle-only vectors)
        fbias = [formats.decode("fp32", b).value for b in inputs["float_bias"].values]
    acc = integers.Accumulator(32, p["policy"])
    method = p["method"]
    sa, sb, sy = (_scale_param(p[k]) for k in ("sa", "sb", "sy"))
    rparams = rq.derive_params(method, sa, sb, sy, op=p.get("tflite_op", "conv"), bias=fbias)
    derived = _derived(rparams)
    int_bias = rparams.int_bias()      # torch_qnnpack: the float bias as qint32, added in the accumulator
    if int_bias is not None:
        if bias is not None:
            raise InvalidValueError("a test has either an int32 bias or a float bias, not both")
        bias = int_bias
    accs = ops.matmul_integer(A, B, p["za"], p["zb"], p["a_type"], p["b_type"], acc, bias)
    Y = _requant(accs, method, rparams, p["zy"], p["y_type"], -1, p.get("qmin"), p.get("qmax"))
    flat = _flatten(accs)
    flags = set()
    if acc.overflows:
        flags.add("acc_overflow")
    sbs = sb if isinstance(sb, list) else [sb]
    flags |= _requant_flags(flat, [i % N for i in range(len(flat))], method, rparams, (sa, sbs, sy),
                            p["zy"], p["y_type"], p.get("qmin"), p.get("qmax"), Y, -1, accs,
                            float_bias=fbias and (fbias, int_bias))
    outputs = {"acc": Tensor("i32", (M, N), flat), "Y": Tensor(short_dtype(p["y_type"]), (M, N), _flatten(Y))}
    return outputs, derived, flags


def compute_qlinear_conv(params, inputs):
    p = params
    x = _nest(inputs["x"].values, inputs["x"].shape)
    w = _nest(inputs["w"].values, inputs["w"].shape)
    bias = inputs["bias"].values if "bias" in inputs else None
    acc = integers.Accumulator(32, p["policy"])
    method = p["method"]
    sx, sw, sy = (_scale_param(p[k]) for k in ("sx", "sw", "sy"))
    rparams = rq.derive_params(method, sx, sw, sy, op="conv")
    derived = _derived(rparams)
    accs = ops.conv_integer(x, w, p["zx"], p["zw"], x_type=p["x_type"], w_type=p["w_type"],
                            strides=p["strides"], pads=p["pads"], dilations=p["dilations"], group=p["group"],
                            bias=bias, accumulator=acc)
    Y = _requant(accs, method, rparams, p["zy"], p["y_type"], 1, p.get("qmin"), p.get("qmax"))
    shape = list(qz._shape(accs))
    flat = _flatten(accs)
    per = shape[2] * shape[3]
    chans = [(i // per) % shape[1] for i in range(len(flat))]
    flags = {"acc_overflow"} if acc.overflows else set()
    sws = sw if isinstance(sw, list) else [sw]
    flags |= _requant_flags(flat, chans, method, rparams, (sx, sws, sy), p["zy"], p["y_type"],
                            p.get("qmin"), p.get("qmax"), Y, 1, accs)
    return ({"acc": Tensor("i32", shape, flat, "NCHW"),
             "Y": Tensor(short_dtype(p["y_type"]), shape, _flatten(Y), "NCHW")}, derived, flags)


def _param_indices(shape, axis, block):
    """For each flat element, the flat index of its scale (per tensor / axis / block)."""
    n = _count(shape)
    if axis is None:
        return [0] * n
    out = []
    pshape = list(shape)
    if block:
        pshape[axis] = -(-shape[axis] // block)
    for i in range(n):
        rem, coords = i, []
        for d in reversed(shape):
            coords.append(rem % d)
            rem //= d
        coords.reverse()
        if not block:
            out.append(coords[axis])
            continue
        coords[axis] //= block
        f = 0
        for c, d in zip(coords, pshape):
            f = f * d + c
        out.append(f)
    return out


def compute_quantize(params, inputs):
    p = params
    xfmt, sfmt = p["x_format"], p["scale_format"]
    reals = [formats.decode(xfmt, b) for b in inputs["x"].values]
    scales = [_scale_of(b, sfmt) for b in inputs["scale"].values]
    zps = inputs["zero_point"].values if "zero_point" in inputs else None
    shape = inputs["x"].shape
    axis, block = p.get("axis"), p.get("block_size")
    sshape = inputs["scale"].shape
    scale_arg = scales[0] if axis is None else _nest(scales, sshape)
    zp_arg = None if zps is None else (zps[0] if axis is None else _nest(zps, sshape))
    dtype = p["dtype"]
    y = qz.quantize(_nest(reals, shape), scale_arg, zp_arg, dtype, p["profile"], axis, block,
                    xfmt, sfmt, p.get("saturate", True))
    flags = set()
    float_target = dtype in qz.FLOAT_TARGETS
    if not float_target:
        t = integers.get_type(dtype)
    for x, k in zip(reals, _param_indices(shape, axis, block)):
        if x.is_nan:
            flags.add("nan_input")
        elif x.is_inf:
            flags.add("inf_input")
        else:
            if x.value and abs(x.value) < formats.get_format(xfmt).min_normal:
                flags.add("subnormal_input")
            if not float_target:
                flags |= _exact_flags(x.value / scales[k], zps[k] if zps else 0, t.min, t.max)
    for s in scales:
        if s < formats.get_format(sfmt).min_normal:
            flags.add("subnormal_scale")
        if s >= 2**64:
            flags.add("huge_scale")
    return {"y": Tensor(short_dtype(dtype), shape, _flatten(y))}, None, flags


def compute_dequantize(params, inputs):
    p = params
    scales = [_scale_of(b, p["scale_format"]) for b in inputs["scale"].values]
    zps = inputs["zero_point"].values if "zero_point" in inputs else None
    shape = inputs["q"].shape
    axis, block = p.get("axis"), p.get("block_size")
    sshape = inputs["scale"].shape
    scale_arg = scales[0] if axis is None else _nest(scales, sshape)
    zp_arg = None if zps is None else (zps[0] if axis is None else _nest(zps, sshape))
    y = qz.dequantize(_nest(inputs["q"].values, shape), scale_arg, zp_arg, p["dtype"], p["profile"], axis, block,
                      p["scale_format"], p["out_format"])
    flags = {"subnormal_scale"} if any(s < formats.get_format(p["scale_format"]).min_normal for s in scales) else set()
    return {"y": Tensor(short_dtype(p["out_format"]), shape, _flatten(y))}, None, flags


COMPUTE = {"qlinear_matmul": compute_qlinear_matmul, "qlinear_conv": compute_qlinear_conv,
           "quantize": compute_quantize, "dequantize": compute_dequantize}
# Outcomes an op may legitimately end in (anything else while generating is a builder bug).
ERROR_OUTCOMES = {"qlinear_matmul": (SpecError, AccumulatorOverflowError),
                  "qlinear_conv": (SpecError, AccumulatorOverflowError),
                  "quantize": (SpecError, InvalidValueError), "dequantize": (SpecError,)}


def run_test(op, params, inputs):
    """('valid', outputs, derived, flags) | ('error', name, message) | ('unpredictable', message)."""
    try:
        outputs, derived, flags = COMPUTE[op](params, inputs)
    except Unpredictable as exc:
        return ("unpredictable", str(exc))
    except ERROR_OUTCOMES[op] as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("valid", outputs, derived, flags)


# ##########################################################################
# .tv line files (formats suite)
# ##########################################################################

TV_FLAGS = {1: "inexact", 2: "tie (the input is exactly a midpoint between two codes)",
            4: "overflow (the finite input's magnitude exceeds the largest finite code)",
            8: "NaN input", 16: "infinite input",
            32: "tiny (0 < |input| < the smallest normal of the target)"}


def tv_decode_line(fmt, bits):
    """'<code> <fp64 bits> <class flags>' of one decode test (every format <= 32 bits is exact in fp64)."""
    f = formats.get_format(fmt)
    v = formats.decode(f, bits)
    out = formats.encode("fp64", v)
    cls = 0
    if v.is_nan:
        cls |= 1
    elif v.is_inf:
        cls |= 2
    elif v.mag == 0:
        cls |= 4
    elif v.mag < f.min_normal:
        cls |= 8
    if v.sign:
        cls |= 16
    return f"{bits:0{(f.width + 3) // 4}x} {out:016x} {cls:02x}"


DECODE_CLASS = {1: "NaN", 2: "infinite", 4: "zero", 8: "subnormal", 16: "sign bit set"}


def tv_encode_line(src, fmt, bits, rounding, overflow):
    """'<input bits> <output code> <flags>' of one encode (round once) test."""
    f = formats.get_format(fmt)
    s = formats.get_format(src)
    x = formats.decode(s, bits)
    code = formats.encode(f, x, rounding, overflow)
    flags = 0
    if x.is_nan:
        flags |= 8
    elif x.is_inf:
        flags |= 16
    else:
        y = formats.decode(f, code)
        if not y.is_finite or y.value != x.value:
            flags |= 1
        if x.mag > f.max_finite:
            flags |= 4
        if 0 < x.mag < f.min_normal:
            flags |= 32
        lo = formats.decode(f, formats.encode(f, x, "rdn", "saturate"))
        hi = formats.decode(f, formats.encode(f, x, "rup", "saturate"))
        if lo.is_finite and hi.is_finite and lo.value != hi.value and 2 * x.value == lo.value + hi.value:
            flags |= 2
    return f"{bits:0{(s.width + 3) // 4}x} {code:0{(f.width + 3) // 4}x} {flags:02x}"


def _codes_selection(f):
    """Every code of an <= 8-bit format; a structured selection of a 16/32-bit one."""
    if f.width <= 8:
        return list(range(2**f.width))
    m, e = f.man_bits, f.exp_bits
    mans = sorted({0, 1, 2, 3, (1 << (m - 1)) - 1, 1 << (m - 1), (1 << (m - 1)) + 1, (1 << m) - 2, (1 << m) - 1,
                   0x155 & ((1 << m) - 1), 0x2aa & ((1 << m) - 1)})
    codes = []
    for sign in (0, 1):
        for E in range(2**e):
            if e > 5 and 4 < E < 2**e - 5 and E % 16:
                continue
            for M in mans:
                codes.append((sign << (m + e)) | (E << m) | M)
    return codes


def _encode_inputs(f, src):
    """Input bit patterns (of format src) for encoding into f: codes, midpoints +- 1 ulp, boundaries."""
    s = formats.get_format(src)
    vals, finite = [], []
    for c in _codes_selection(f):
        v = formats.decode(f, c)
        if v.is_finite:
            finite.append(v.value)
    vals += finite
    for c in _codes_selection(f):
        v = formats.decode(f, c)
        if not v.is_finite or v.sign or (f.specials == "fnuz" and c == 0):
            continue
        nb = formats.next_up(f, c)
        w = formats.decode(f, nb) if nb is not None else None
        if w is not None and w.is_finite and w.value > v.value:
            mid = (v.value + w.value) / 2
            vals += [mid, -mid]
    out = set()
    for v in vals:
        if not formats.representable(s, v):
            continue
        bits = formats.encode(s, v)
        out.add(bits)
        for nb in (formats.next_up(s, bits), formats.next_down(s, bits)):
            if nb is not None:
                out.add(nb)
    top = f.max_finite
    ulp_top = top - formats.decode(f, formats.next_down(f, formats.encode(f, top))).value
    sub = f.min_subnormal
    for v in (top, top + ulp_top / 2, top + ulp_top, 2 * top, top * 1024, sub / 2, sub / 4, sub * 3 / 4, sub,
              sub * 3 / 2):
        for sv in (v, -v):
            r = formats.round_to(s, sv, "rne", "saturate")
            out.add(formats.encode(s, r))
    for special in ("inf", "-inf", "0", "-0") + (("nan", "-nan") if f.has_nan else ()):
        out.add(formats.encode(s, formats.real(special)))  # a NaN has no code in fp6/fp4: not a test
    return sorted(out)


# ##########################################################################
# Suite builders: groups of cases (inputs + params), in a fixed order
# ##########################################################################

def _case(name, comment, params, inputs, flags=()):
    return {"name": name, "comment": comment, "params": params, "inputs": inputs, "flags": list(flags)}


def _f32(x):
    """The binary32 bit pattern of x rounded to nearest-even (a fp32-exact scale)."""
    return formats.encode("fp32", formats.real(Fraction(x)))


def _fhex(bits):
    return f"{bits:08x}"


def _int_type_range(t):
    t = integers.get_type(t)
    return t.min, t.max


def _rand_matrix(rng, rows, cols, t, lo=None, hi=None):
    tmin, tmax = _int_type_range(t)
    return [rng.randint(tmin if lo is None else lo, tmax if hi is None else hi) for _ in range(rows * cols)]


def _rows_for_accs(accs, K):
    """A (len(accs) x K int8, row-major) whose rows times a column of ones are exactly ``accs``."""
    A = []
    for a in accs:
        rem = a
        for _ in range(K):
            v = max(-128, min(127, rem))
            A.append(v)
            rem -= v
        if rem:
            raise InvalidValueError(f"acc {a} does not fit in {K} int8 terms")
    return A


KERNEL_METHODS = {"float_fp32": "float_fp32", "ort": "float_fp32", "xnnpack_fp32": "float_fp32",
                  "tflite_double": "tflite_double", "tflite_single": "tflite_single",
                  "tosa_single": "tosa_single", "tosa_double": "tosa_double", "int32": "int32"}
MATMUL_METHODS = [m for m in rq.METHODS if m not in ("torch_x86", "onnx_ref_conv")]
CONV_METHODS = ["exact", "ort", "onnx_ref_conv", "tflite_double", "tflite_single", "tosa_single", "tosa_double",
                "int32"]


def _mm(method, M, K, N, A, B, *, a_type="int8", b_type="int8", y_type="int8", za=0, zb=0, zy=0,
        sa=None, sb=None, sy=None, bias=None, policy="wrap", qmin=None, qmax=None, tflite_op="fc",
        float_bias=None):
    if method == "int32":
        y_type, zy, qmin, qmax = "int32", 0, None, None
    p = {"method": method, "M": M, "K": K, "N": N, "a_type": a_type, "b_type": b_type, "y_type": y_type,
         "za": za, "zb": zb, "zy": zy, "policy": policy,
         "sa": _fhex(sa), "sb": [_fhex(b) for b in sb] if isinstance(sb, list) else _fhex(sb), "sy": _fhex(sy),
         "tflite_op": tflite_op}
    if qmin is not None:
        p["qmin"], p["qmax"] = qmin, qmax
    inputs = {"A": Tensor(short_dtype(a_type), (M, K), A), "B": Tensor(short_dtype(b_type), (K, N), B)}
    if bias is not None:
        inputs["bias"] = Tensor("i32", (N,), bias)
    if float_bias is not None:     # binary32 bit patterns, one per column
        inputs["float_bias"] = Tensor("f32", (N,), float_bias)
    return p, inputs


def _pick_sy(A, B, M, K, N, za, zb, sa, sbs, target, bias=None):
    accs = _flatten(ops.matmul_integer(_nest(A, (M, K)), _nest(B, (K, N)), za, zb, "int32", "int32",
                                       bias=bias))
    peak = max([abs(a) for a in accs] + [1])
    return _f32(Fraction(peak) * formats.decode("fp32", sa).value * formats.decode("fp32", sbs[0]).value / target)


def build_matmul(rng):
    groups = []
    shared = []   # (name, comment, flags, builder(method) -> (params, inputs))

    def random_case(M, K, N, a_type, b_type, y_type, per_channel, with_bias, target=100, zp_mode="random"):
        A = _rand_matrix(rng, M, K, a_type)
        B = _rand_matrix(rng, K, N, b_type)
        amin, amax = _int_type_range(a_type)
        bmin, bmax = _int_type_range(b_type)
        ymin, ymax = _int_type_range(y_type)
        if zp_mode == "extreme":
            za, zb, zy = amax, ([bmin if j % 2 else bmax for j in range(N)] if per_channel else bmin), ymin
        else:
            za = rng.randint(amin, amax) if a_type.startswith("u") else rng.randint(-8, 8)
            zb = ([rng.randint(-4, 4) for _ in range(N)] if per_channel and b_type == "int8" else
                  (rng.randint(bmin, bmax) if b_type.startswith("u") else 0))
            zy = rng.randint(ymin // 2, ymax // 2) if y_type == "uint8" or zp_mode == "random" else 0
        sa = _f32(Fraction(rng.randint(1, 1 << 20), 1 << 26))
        sbs = [_f32(Fraction(rng.randint(1, 1 << 20), 1 << 27)) for _ in range(N if per_channel else 1)]
        bias = [rng.randint(-5000, 5000) for _ in range(N)] if with_bias else None
        sy = _pick_sy(A, B, M, K, N, za, zb, sa, sbs, target, bias)
        return dict(A=A, B=B, za=za, zb=zb, zy=zy, sa=sa, sb=sbs if per_channel else sbs[0], sy=sy, bias=bias,
                    a_type=a_type, b_type=b_type, y_type=y_type)

    def fixed(name, comment, flags, M, K, N, spec, **extra):
        shared.append((name, comment, flags, lambda method: _mm(method, M, K, N, spec["A"], spec["B"],
                       **{k: v for k, v in spec.items() if k not in ("A", "B")}, **extra)))

    fixed("random_s8s8", "random int8 x int8 -> int8, per tensor, int32 bias", ["random"], 4, 16, 5,
          random_case(4, 16, 5, "int8", "int8", "int8", False, True))
    fixed("random_u8s8_per_channel", "uint8 x int8 -> uint8, per-column weight scales and zero points",
          ["random", "per_channel"], 3, 24, 6, random_case(3, 24, 6, "uint8", "int8", "uint8", True, True))
    fixed("random_u8u8", "uint8 x uint8 -> uint8, per tensor, no bias", ["random"], 5, 9, 4,
          random_case(5, 9, 4, "uint8", "uint8", "uint8", False, False))
    fixed("zp_extremes", "zero points at the ends of their types (a' and b' up to 255)", ["zp_extreme"], 3, 12, 4,
          random_case(3, 12, 4, "int8", "int8", "int8", True, False, zp_mode="extreme"))
    fixed("zp_extremes_u8", "uint8 zero points 0 / 255", ["zp_extreme"], 3, 12, 4,
          random_case(3, 12, 4, "uint8", "uint8", "uint8", False, False, zp_mode="extreme"))
    fixed("k1", "K = 1", ["k_one"], 4, 1, 3, random_case(4, 1, 3, "int8", "int8", "int8", False, True, target=60))
    fixed("k4096", "K = 4096, per-channel", ["k_large"], 2, 4096, 3,
          random_case(2, 4096, 3, "int8", "int8", "int8", True, True))
    # Ties and saturation edges: M = sa*sb/sy = 1/2 exactly, accs chosen directly.
    tie_accs = [-9, -7, -5, -3, -1, 1, 3, 5, 7, 9, 253, 254, 255, 256, 257, -255, -256, -257, -258, 0]
    half = dict(A=_rows_for_accs(tie_accs, 4), B=[1] * 4, sa=_f32(Fraction(1, 2)), sb=_f32(1), sy=_f32(1))
    fixed("ties_half", "M = 1/2: odd accumulators are exact ties; 254..257 and -256..-258 straddle the int8 ends",
          ["tie"], len(tie_accs), 4, 1, half)
    fixed("ties_half_u8", "M = 1/2 into uint8 with zp = 128 and a [10, 200] clamp", ["tie", "qrange"],
          len(tie_accs), 4, 1, dict(half, y_type="uint8", zy=128), qmin=10, qmax=200)
    # Near ties: accumulators where the kernel methods disagree (double vs single rounding).
    sa, sb, sy = _f32(Fraction(3, 1000)), _f32(Fraction(7, 1000)), _f32(Fraction(11, 100))
    near = _disagreeing_accs(sa, sb, sy, 24)
    fixed("near_ties", "accumulators where double and single rounding (and the float path) disagree",
          [], len(near), 64, 1, dict(A=_rows_for_accs(near, 64), B=[1] * 64, sa=sa, sb=sb, sy=sy))
    sa2, sy2 = _f32(Fraction(1, 4096)), _f32(Fraction(1, 2**22))
    sb2 = _f32(Fraction(3, 2**20))
    near2 = _disagreeing_accs(sa2, sb2, sy2, 24)
    fixed("near_ties_small_m", "a small multiplier (TOSA s > 31): double rounding's second addend applies",
          [], len(near2), 64, 1, dict(A=_rows_for_accs(near2, 64), B=[1] * 64, sa=sa2, sb=sb2, sy=sy2))
    # Bias-step overflow (cheap): acc near INT32_MAX after the bias.
    bias_over = dict(A=[100, 100, -100, 50], B=[100, 1, 1, 100], sa=_f32(Fraction(1, 2**16)), sb=_f32(1),
                     sy=_f32(Fraction(1, 2**7)), bias=[2**31 - 5000, -(2**31) + 10])
    # Float bias (torch / oneDNN methods only; oracle-only vectors: the C kernel takes int32 bias).
    fb_shared = []

    def float_bias_case(name, comment, flags, M, K, N, spec, biases):
        bits = [_f32(b) for b in biases]
        fb_shared.append((name, comment, ["float_bias"] + flags, lambda method: _mm(
            method, M, K, N, spec["A"], spec["B"], **{k: v for k, v in spec.items() if k not in ("A", "B", "bias")},
            float_bias=bits)))

    def real_biases(spec, n):
        sy = formats.decode("fp32", spec["sy"]).value
        return [Fraction(rng.randint(-3000, 3000), 100) * sy for _ in range(n)]

    fb1 = random_case(4, 32, 5, "uint8", "int8", "uint8", False, False)
    float_bias_case("float_bias", "uint8 x int8 -> uint8, per-tensor weight scale, a float32 bias per column "
                    "(torch_fbgemm: the FMA path)", ["random"], 4, 32, 5, fb1, real_biases(fb1, 5))
    fb2 = random_case(4, 32, 5, "uint8", "int8", "uint8", True, False)
    float_bias_case("float_bias_per_channel", "per-column weight scales with a float32 bias "
                    "(torch_fbgemm: the generic loop, fl(raw) + fl(bias/atw))", ["random", "per_channel"],
                    4, 32, 5, fb2, real_biases(fb2, 5))
    # requant.md §7 rows 12 and 13 (measured on torch 2.13): qnnpack 69 vs 70; FBGEMM FMA 134 vs 135
    for name, acc, (s_in, s_w, s_out), zy, b in (
            ("float_bias_row12", -15401, ("0.01971375197", "0.01975825988", "0.10923903435"), 135, "-1.15629077"),
            ("float_bias_row13", -3683, ("0.0441956185", "0.0105969999", "0.2230963260"), 146, "-0.84070784")):
        spec = dict(A=_rows_for_accs([acc], 128), B=[1] * 128, sa=_f32(Fraction(s_in)), sb=_f32(Fraction(s_w)),
                    sy=_f32(Fraction(s_out)), y_type="uint8", zy=zy)
        float_bias_case(name, f"requant.md §7 row {name[-2:]}: acc {acc}, scales {s_in}/{s_w}/{s_out}, "
                        f"zp {zy}, bias {b} (torch engines measured)", ["seed_example"], 1, 128, 1, spec,
                        [Fraction(b)])
    for method in MATMUL_METHODS:
        cases = [_case(name, comment, *_swap(builder(method)), flags=flags)
                 for name, comment, flags, builder in shared
                 + (fb_shared if rq.METHODS[method].float_bias else [])]
        groups.append({"op": "qlinear_matmul", "profile": method, "params": {"method": method},
                       "comment": rq.METHODS[method].reproduces, "cases": cases})
    # Accumulator overflow under each policy (int32 output and two requantizing methods).
    K = 33100
    big_a = [255] * K
    big_b = [255, 1] * K   # column 0 overflows (33100 * 65025 > 2^31 - 1), column 1 does not
    for method in ("int32", "tflite_double", "float_fp32"):
        cases = []
        for policy in ("wrap", "saturate", "error"):
            p, inp = _mm(method, 1, K, 2, big_a, big_b, a_type="uint8", b_type="uint8", y_type="int8",
                         sa=_f32(Fraction(1, 2**20)), sb=_f32(Fraction(1, 2**8)), sy=_f32(1), policy=policy)
            cases.append(_case(f"overflow_k{K}_{policy}", f"sum of {K} products 255*255 passes 2^31-1 "
                               f"(column 0) under policy {policy}", p, inp, ["k_large"]))
            p, inp = _mm(method, 2, 2, 2, bias_over["A"], bias_over["B"], sa=bias_over["sa"], sb=bias_over["sb"],
                         sy=bias_over["sy"], bias=bias_over["bias"], policy=policy)
            cases.append(_case(f"overflow_bias_{policy}", f"the bias step leaves int32 under policy {policy}",
                               p, inp, ["bias"]))
        groups.append({"op": "qlinear_matmul", "profile": method, "params": {"method": method},
                       "comment": "accumulator overflow policies: " + rq.METHODS[method].reproduces, "cases": cases})
    return groups


def _swap(pi):
    return pi[0], pi[1]


def _disagreeing_accs(sa, sb, sy, count):
    """Accumulators in [-8000, 8000] where tflite/tosa double and single rounding, or the float
    path and the exact value, give different int8 results (deterministic: ascending |acc|)."""
    fr = [formats.decode("fp32", b).value for b in (sa, sb, sy)]
    pairs = []
    for m in ("tflite_double", "tflite_single", "tosa_double", "tosa_single", "float_fp32", "exact"):
        try:
            pairs.append((m, rq.derive_params(m, *fr, op="fc")))
        except InvalidValueError:
            pass
    found = []
    for a in sorted(range(-8000, 8001), key=lambda v: (abs(v), v)):
        outs = set()
        for m, params in pairs:
            try:
                outs.add(rq.requantize_one(a, m, params, 0, "int8"))
            except Unpredictable:
                pass
        if len(outs) > 1:
            found.append(a)
            if len(found) == count:
                break
    return sorted(found)


def build_conv(rng):
    geoms = [
        ("basic_3x3", "3x3 kernel, no padding", [], dict(C=2, H=5, W=5, M=3, k=3, strides=[1, 1], pads=[0, 0, 0, 0],
                                                          dil=[1, 1], group=1)),
        ("pad_by_zp", "padding 1 on every side, filled with the input zero point", ["padding"],
         dict(C=2, H=4, W=5, M=2, k=3, strides=[1, 1], pads=[1, 1, 1, 1], dil=[1, 1], group=1)),
        ("asym_pad_stride2", "asymmetric padding and stride 2", ["padding", "stride"],
         dict(C=3, H=7, W=6, M=2, k=3, strides=[2, 2], pads=[0, 1, 2, 1], dil=[1, 1], group=1)),
        ("dilation2", "dilation 2", ["dilation"], dict(C=2, H=7, W=7, M=2, k=3, strides=[1, 1],
                                                       pads=[1, 1, 1, 1], dil=[2, 2], group=1)),
        ("groups2", "2 groups", ["groups"], dict(C=4, H=5, W=5, M=4, k=3, strides=[1, 1], pads=[1, 1, 1, 1],
                                                 dil=[1, 1], group=2)),
        ("depthwise", "depthwise (group = C), stride 2", ["groups", "stride", "padding"],
         dict(C=3, H=6, W=6, M=3, k=3, strides=[2, 2], pads=[1, 1, 1, 1], dil=[1, 1], group=3)),
        ("pointwise_per_channel", "1x1 kernel, per-channel weights, bias", ["per_channel", "bias"],
         dict(C=8, H=3, W=3, M=5, k=1, strides=[1, 1], pads=[0, 0, 0, 0], dil=[1, 1], group=1, pc=True, bias=True)),
    ]
    specs = []
    for name, comment, flags, g in geoms:
        x = _rand_matrix(rng, 1, g["C"] * g["H"] * g["W"], "uint8")
        cg = g["C"] // g["group"]
        w = _rand_matrix(rng, 1, g["M"] * cg * g["k"] * g["k"], "int8", -100, 100)
        zx = rng.randint(100, 160)
        pc = g.get("pc", False)
        zw = [rng.randint(-3, 3) for _ in range(g["M"])] if pc else 0
        sx = _f32(Fraction(rng.randint(1, 1 << 16), 1 << 22))
        sws = [_f32(Fraction(rng.randint(1, 1 << 16), 1 << 24)) for _ in range(g["M"] if pc else 1)]
        bias = [rng.randint(-3000, 3000) for _ in range(g["M"])] if g.get("bias") else None
        accs = _flatten(ops.conv_integer(_nest(x, (1, g["C"], g["H"], g["W"])), _nest(w, (g["M"], cg, g["k"], g["k"])),
                                         zx, zw, x_type="uint8", w_type="int8", strides=g["strides"], pads=g["pads"],
                                         dilations=g["dil"], group=g["group"], bias=bias))
        peak = max([abs(a) for a in accs] + [1])
        sy = _f32(Fraction(peak) * formats.decode("fp32", sx).value * formats.decode("fp32", sws[0]).value / 120)
        specs.append((name, comment, flags + (["per_channel"] if pc and "per_channel" not in flags else []),
                      dict(x=x, w=w, zx=zx, zw=zw, sx=sx, sw=sws if pc else sws[0], sy=sy, bias=bias, g=g, cg=cg)))
    groups = []
    for method in CONV_METHODS:
        cases = []
        for name, comment, flags, s in specs:
            g = s["g"]
            zy = 0 if method == "int32" else 128
            p = {"method": method, "x_type": "uint8", "w_type": "int8", "y_type": "int32" if method == "int32" else "uint8",
                 "zx": s["zx"], "zw": s["zw"], "zy": zy, "strides": g["strides"], "pads": g["pads"],
                 "dilations": g["dil"], "group": g["group"], "policy": "wrap",
                 "sx": _fhex(s["sx"]), "sw": [_fhex(b) for b in s["sw"]] if isinstance(s["sw"], list) else _fhex(s["sw"]),
                 "sy": _fhex(s["sy"])}
            inputs = {"x": Tensor("u8", (1, g["C"], g["H"], g["W"]), s["x"], "NCHW"),
                      "w": Tensor("i8", (g["M"], s["cg"], g["k"], g["k"]), s["w"], "OIHW")}
            if s["bias"] is not None:
                inputs["bias"] = Tensor("i32", (g["M"],), s["bias"])
            cases.append(_case(name, comment, p, inputs, flags))
        groups.append({"op": "qlinear_conv", "profile": method, "params": {"method": method},
                       "comment": rq.METHODS[method].reproduces, "cases": cases})
    return groups


def _q(x_bits, scale_bits, zps, dtype, *, shape=None, axis=None, block=None, sshape=None, x_format="fp32",
       scale_format="fp32", saturate=True, profile=None):
    shape = shape or [len(x_bits)]
    sshape = sshape or [len(scale_bits)]
    p = {"dtype": dtype, "x_format": x_format, "scale_format": scale_format, "axis": axis, "block_size": block}
    if dtype in qz.FLOAT_TARGETS:
        p["saturate"] = saturate
    inputs = {"x": Tensor(short_dtype(x_format), shape, x_bits),
              "scale": Tensor(short_dtype(scale_format), sshape, scale_bits)}
    if zps is not None:
        inputs["zero_point"] = Tensor(short_dtype(dtype), sshape, zps)
    return p, inputs


def _fb(values, fmt="fp32"):
    """Bit patterns of exact values (or special strings) in ``fmt``."""
    return [formats.encode(fmt, formats.real(v)) for v in values]


def build_quantize(rng):
    cases = []

    def add(name, comment, flags, *args, **kw):
        cases.append((name, comment, flags, _q(*args, **kw)))

    rnd = [_f32(Fraction(rng.randint(-2**20, 2**20), 2**14)) for _ in range(24)]
    add("random_int8", "random fp32 values, per tensor, int8", ["random"], rnd, [_f32(Fraction(3, 64))], [-3], "int8")
    add("random_uint8", "random fp32 values, per tensor, uint8 zp 128", ["random"], rnd, [_f32(Fraction(1, 10))], [128],
        "uint8")
    ties = [Fraction(k, 2) * Fraction(1, 2) for k in range(-9, 10, 2)]  # x/s = k/2 with s = 1/2
    add("ties_pow2_scale", "x / s exactly n + 1/2 (s = 0.5)", [], _fb(ties), [_f32(Fraction(1, 2))], [0], "int8")
    s01 = _f32(Fraction(1, 10))
    sval = formats.decode("fp32", s01).value
    near = [_f32((k + Fraction(1, 2)) * sval) for k in range(-6, 6)]
    add("near_ties_scale_0.1", "x = fl32((n + 1/2) * s) for s = fl32(0.1): the quotient profile decides",
        [], near, [s01], [1], "int8")
    s = Fraction(1, 4)
    edges = [(127 - 5 + d) * s for d in (Fraction(-1), Fraction(-1, 2), 0, Fraction(1, 2), 1, 1000)] + \
            [(-128 - 5 + d) * s for d in (Fraction(1), Fraction(1, 2), 0, Fraction(-1, 2), -1, -1000)]
    add("saturation_edges", "qmax - zp and qmin - zp, +- 1/2 and 1, far beyond; zp = 5", [], _fb(edges + ["inf", "-inf",
        "3.4028234663852886e38"]), [_f32(s)], [5], "int8")
    add("nan_input", "one NaN among finite values", [], _fb(["1", "nan", "-2"]), [_f32(1)], [0], "int8")
    sub = Fraction(1, 2**140)
    add("subnormal_scale", "scale 2^-140 (fp32 subnormal), tiny inputs", [],
        _fb([sub, 3 * sub, -sub / 2, Fraction(1, 2**130), -Fraction(5, 2**141), 0]), [_f32(sub)], [0], "int8")
    add("huge_scale", "scale 2^120 and huge inputs", [],
        _fb([Fraction(2**126), -Fraction(2**127), Fraction(3 * 2**119), 1, 0, "3.4028234663852886e38"]),
        [_f32(2**120)], [0], "int8")
    xs = [_f32(Fraction(rng.randint(-2**12, 2**12), 2**6)) for _ in range(12)]
    add("per_axis_0", "shape 3x4, per-axis on axis 0", [], xs, [_f32(Fraction(1, 4)), _f32(Fraction(1, 2)),
        _f32(Fraction(3, 8))], [0, -4, 7], "int8", shape=[3, 4], axis=0)
    add("per_axis_1", "shape 3x4, per-axis on axis 1 (uint8)", [], xs,
        [_f32(Fraction(1, 2)), _f32(Fraction(1, 3)), _f32(Fraction(5, 8)), _f32(1)], [128, 120, 136, 100], "uint8",
        shape=[3, 4], axis=1)
    xb = [_f32(Fraction(rng.randint(-2**12, 2**12), 2**8)) for _ in range(16)]
    add("per_block", "shape 2x8, blocks of 4 along axis 1 (scale 2x2)", ["per_block"], xb,
        [_f32(Fraction(1, 8)), _f32(Fraction(1, 16)), _f32(Fraction(1, 5)), _f32(Fraction(1, 2))], [1, -1, 0, 2], "int8",
        shape=[2, 8], axis=1, block=4, sshape=[2, 2])
    add("int4", "int4 target: -8..7, ties and saturation", ["int4"],
        _fb([Fraction(k, 4) for k in range(-20, 21, 3)]), [_f32(Fraction(1, 2))], [1], "int4")
    add("uint4", "uint4 target", ["int4"], _fb([Fraction(k, 4) for k in range(-6, 40, 3)]), [_f32(Fraction(1, 2))], [3],
        "uint4")
    add("int16", "int16 target", [], _fb([Fraction(k * 1001, 3) for k in range(-30, 31, 7)] + ["1e9", "-1e9"]),
        [_f32(Fraction(1, 2))], [-7], "int16")
    add("fp16_input", "binary16 inputs", ["fp16_input"], _fb(["0.5", "-1.5", "65504", "-0.0001", "2.5", "inf"], "fp16"),
        [_f32(Fraction(1, 64))], [0], "int8", x_format="fp16")
    add("bf16_input", "bfloat16 inputs", ["fp16_input"], _fb(["0.5", "-1.5", "3e38", "-0.0001", "2.5", "1e-40"], "bf16"),
        [_f32(Fraction(1, 64))], [0], "int8", x_format="bf16")
    # Worked examples with published numbers (docs/reference/worked-examples.md §1, §2).
    add("seed000_ratio5", "worked-examples.md §1: R = [-100, 0] -> Q = [0, 20], scale 5, zero point 20", ["seed_example"],
        _fb([-100, -75, -52, -50, -47, -2.5, 0]), [_f32(5)], [20], "uint8")
    add("seed004_affine_u8", "worked-examples.md §2: affine uint8 over [-20, 1000]: scale 4, zp 5", ["seed_example"],
        _fb([-20, 0, 1, 2, 6, 500, 1000, 1001]), [_f32(4)], [5], "uint8")
    add("seed004_affine_s8", "worked-examples.md §2: affine int8 over [-20, 1000]: scale 4, zp -123", ["seed_example"],
        _fb([-20, 0, 1, 2, 6, 500, 1000, 1001]), [_f32(4)], [-123], "int8")
    add("seed004_sym_u8", "worked-examples.md §2: symmetric uint8 [0, 1000], scale fl32(1000/255)", ["seed_example"],
        _fb([0, 1, 500, 998, 1000, 1002]), [_f32(Fraction(1000, 255))], [0], "uint8")
    for tgt in qz.FLOAT_TARGETS:
        f = formats.get_format(tgt)
        vals = [0, 1, -1, Fraction(3, 2), f.max_finite, f.max_finite * 2, -f.max_finite * 3, f.min_subnormal,
                f.min_subnormal / 2, "inf"] + (["nan"] if f.has_nan else [])
        for sat in (True, False):
            add(f"{tgt}_{'sat' if sat else 'nosat'}", f"{tgt} target, saturate={int(sat)}: boundaries and specials",
                ["fp8_target"] + ([] if sat else ["no_saturate"]),
                _fb([formats.round_to("fp32", formats.real(v)) for v in vals]), [_f32(1)], None, tgt, saturate=sat)
    groups = []
    for profile in PROFILES:
        gcases = []
        for name, comment, flags, (p, inputs) in cases:
            gcases.append(_case(name, comment, dict(p, profile=profile), inputs, flags))
        groups.append({"op": "quantize", "profile": profile, "params": {"profile": profile},
                       "comment": PROFILES[profile].source, "cases": gcases})
    deq = []
    q8 = _rand_matrix(rng, 1, 12, "int8") + [-128, 127, 0]
    deq.append(("int8", "int8 per tensor", [], dict(dtype="int8", axis=None, block_size=None),
                {"q": Tensor("i8", [15], q8), "scale": Tensor("f32", [1], [_f32(Fraction(1, 10))]),
                 "zero_point": Tensor("i8", [1], [-3])}))
    deq.append(("int32_wrap", "int32 with extreme zero point", ["zp_extreme"], dict(dtype="int32", axis=None, block_size=None),
                {"q": Tensor("i32", [4], [2**31 - 1, -(2**31), 0, 12345]), "scale": Tensor("f32", [1], [_f32(Fraction(1, 3))]),
                 "zero_point": Tensor("i32", [1], [-(2**31)])}))
    deq.append(("per_axis", "uint8 per axis", ["per_channel"], dict(dtype="uint8", axis=1, block_size=None),
                {"q": Tensor("u8", [2, 3], [0, 128, 255, 7, 200, 13]),
                 "scale": Tensor("f32", [3], [_f32(Fraction(1, 10)), _f32(Fraction(2, 7)), _f32(3)]),
                 "zero_point": Tensor("u8", [3], [128, 0, 255])}))
    for profile in PROFILES:
        gcases = [_case(name, comment, dict(p, profile=profile, scale_format="fp32", out_format="fp32"), inputs, flags)
                  for name, comment, flags, p, inputs in deq]
        groups.append({"op": "dequantize", "profile": profile, "params": {"profile": profile},
                       "comment": PROFILES[profile].source, "cases": gcases})
    return groups


FORMAT_NAMES = [f for f in formats.FORMATS if f != "fp64"]


def build_formats(rng):
    """Groups whose tests are .tv files (built lazily: 'lines' is a callable)."""
    groups = []
    for fmt in FORMAT_NAMES:
        f = formats.get_format(fmt)
        codes = _codes_selection(f)
        class_bits = {str(k): v for k, v in DECODE_CLASS.items()}
        groups.append({"op": "decode", "profile": "exact",
                       "params": {"format": fmt, "output": "fp64", "class_bits": class_bits},
                       "comment": f"decode every code of {fmt} ({f.source}) to its exact binary64 value",
                       "cases": [{"name": f"{fmt}/decode", "comment": f"{len(codes)} codes",
                                  "flags": ["every_code"], "params": {"format": fmt},
                                  "tv": (f"{fmt}_decode.tv", ["in:" + short_dtype(fmt), "out:f64", "class"],
                                         lambda fmt=fmt, codes=codes: [tv_decode_line(fmt, c) for c in codes])}]})
        src = "fp64" if fmt == "fp32" else "fp32"
        inputs = _encode_inputs(f, src)
        for rounding in formats.ROUNDINGS:
            cases = []
            for overflow in formats.OVERFLOWS:
                cases.append({"name": f"{fmt}/encode/{rounding}/{overflow}",
                              "comment": f"{len(inputs)} {src} inputs rounded once into {fmt}",
                              "flags": ["midpoint", "overflow_boundary", "underflow_boundary"],
                              "params": {"format": fmt, "input": src, "rounding": rounding, "overflow": overflow},
                              "tv": (f"{fmt}_encode_{rounding}_{overflow}.tv",
                                     [f"in:{short_dtype(src)}", "out:" + short_dtype(fmt), "flags"],
                                     lambda fmt=fmt, src=src, r=rounding, o=overflow, xs=inputs:
                                     [tv_encode_line(src, fmt, b, r, o) for b in xs])})
            flag_bits = {str(k): v for k, v in TV_FLAGS.items()}
            groups.append({"op": "encode", "profile": rounding,
                           "params": {"format": fmt, "input": src, "flag_bits": flag_bits},
                           "comment": f"round {src} into {fmt} with {rounding}", "cases": cases})
    return groups


SUITES = {
    "formats": (build_formats, "decode every code of every float format (fp32/fp16/bf16: a structured "
                "selection) to binary64; encode codes, midpoints +- 1 ulp and overflow/underflow "
                "boundaries under 5 rounding modes x 2 overflow policies (TestFloat-style .tv lines)"),
    "quantize": (build_quantize, "QuantizeLinear / DequantizeLinear under every quantize profile: ties, "
                 "near ties, saturation edges, NaN/inf, subnormal and huge scales, per-axis, per-block, "
                 "int4/uint4/int16, fp16/bf16 inputs, fp8/fp4 targets (saturate 0/1), published worked examples"),
    "matmul": (build_matmul, "QLinearMatMul under every requantization method: random s8s8/u8s8/u8u8, "
               "per-channel, bias, zero-point extremes, K = 1 and 4096, exact ties and saturation edges, "
               "near ties where double and single rounding differ, accumulator overflow under wrap / "
               "saturate / error (K = 33100 and the bias step); int32 accumulators included; float32 bias "
               "for the torch / oneDNN methods (flag float_bias: oracle-only, the C kernel takes int32 bias)"),
    "conv": (build_conv, "QLinearConv (NCHW) under 8 methods: padding by the zero point (symmetric and "
             "asymmetric), stride, dilation, groups, depthwise, per-channel 1x1 with bias"),
}


# ##########################################################################
# Generation
# ##########################################################################

def _sha(data):
    return hashlib.sha256(data).hexdigest()


class _Progress:
    """A counter on stderr, only when stderr is a terminal."""

    def __init__(self, label, total, enabled=None):
        self.label, self.total, self.n = label, total, 0
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0

    def step(self):
        self.n += 1
        now = time.monotonic()
        if self.on and (now - self.last > 0.1 or self.n == self.total):
            self.last = now
            sys.stderr.write(f"\r{self.label}: {self.n}/{self.total}")
            if self.n == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _file_entry(path, kind, role, data, **extra):
    entry = {"path": path, "kind": kind, "role": role}
    entry.update(extra)
    entry["bytes"] = len(data)
    entry["sha256"] = _sha(data)
    return entry


def _tensor_file(tc, name, role, t, files, blobs):
    path = f"tc{tc:04d}_{name}.{t.dtype}.hex"
    data = format_tensor(name, t.dtype, t.shape, t.values, t.layout).encode("ascii")
    blobs[path] = data
    files.append(_file_entry(path, "tensor", role, data, name=name, dtype=t.dtype, shape=list(t.shape),
                             layout=t.layout, elements=len(t.values)))


def _param_files(tc, op, params, derived, files, blobs):
    """Kernel-ready requantization parameters as files (RTL testbenches cannot read JSON)."""
    method = params.get("method")
    if derived is None or method not in KERNEL_METHODS or method == "int32":
        return
    if "M_bits" in derived:
        _tensor_file(tc, "M", "param", Tensor("f32", [len(derived["M_bits"])], derived["M_bits"]), files, blobs)
    else:
        sh = "shift" if "shift" in derived else "s"
        _tensor_file(tc, "mult", "param", Tensor("i32", [len(derived["m"])], derived["m"]), files, blobs)
        _tensor_file(tc, sh, "param", Tensor("i32", [len(derived[sh])], derived[sh]), files, blobs)


def build_set(suite, seed=1, progress=None):
    """(manifest dict, {filename: bytes}) of one suite, deterministically from ``seed``."""
    if suite not in SUITES:
        raise UnknownNameError("golden suite", suite, SUITES)
    builder, _ = SUITES[suite]
    rng = random.Random(f"refquant-golden:{suite}:{seed}")
    groups = builder(rng)
    total = sum(len(g["cases"]) for g in groups)
    bar = _Progress(f"golden {suite}", total, progress)
    blobs = {}
    out_groups = []
    used_flags = set()
    profiles = {}
    tc = 0
    skipped = []
    for tg, g in enumerate(groups, start=1):
        tests = []
        for case in g["cases"]:
            bar.step()
            outcome = None
            if "tv" not in case:
                try:
                    outcome = run_test(g["op"], case["params"], case["inputs"])
                except (InvalidValueError, ShapeError) as exc:   # outside the method's domain
                    skipped.append(f"{g['profile']}/{case['name']} ({exc})")
                    continue
            tc += 1
            test = {"tcId": tc, "name": case["name"] if suite == "formats" else f"{g['profile']}/{case['name']}",
                    "comment": case["comment"], "flags": [], "result": "valid", "params": case["params"],
                    "files": []}
            flags = set(case["flags"])
            if "tv" in case:
                path, columns, lines = case["tv"]
                body = lines()
                data = ("\n".join([f"// {' '.join(columns)}"] + body) + "\n").encode("ascii")
                blobs[path] = data
                test["files"].append(_file_entry(path, "vectors", "vectors", data, columns=columns,
                                                 lines=len(body)))
            else:
                for name, t in case["inputs"].items():
                    _tensor_file(tc, name, "input", t, test["files"], blobs)
                if outcome[0] == "valid":
                    _, outputs, derived, auto = outcome
                    flags |= auto
                    if derived is not None:
                        test["derived"] = derived
                        _param_files(tc, g["op"], case["params"], derived, test["files"], blobs)
                    for name, t in outputs.items():
                        role = "intermediate" if name == "acc" and "Y" in outputs else "expected"
                        if name == "acc" and case["params"].get("method") == "int32":
                            continue   # Y is the accumulator itself
                        _tensor_file(tc, name, role, t, test["files"], blobs)
                elif outcome[0] == "error":
                    test["result"], test["error"], test["reason"] = "error", outcome[1], outcome[2]
                else:
                    test["result"], test["reason"] = "unpredictable", outcome[1]
            test["flags"] = sorted(flags)
            used_flags |= flags
            tests.append(test)
        kind = {"quantize": "quantize_profile", "dequantize": "quantize_profile", "encode": "float_rounding",
                "decode": "float_rounding"}.get(g["op"], "requant_method")
        profiles[g["profile"]] = {"kind": kind, "source": _profile_source(kind, g["profile"])}
        if not tests:
            continue
        out_groups.append({"tgId": len(out_groups) + 1, "op": g["op"], "profile": g["profile"], "comment": g.get("comment", ""),
                           "params": g["params"], "tests": tests})
    manifest = {
        "schema": SCHEMA_NAME, "formatVersion": FORMAT_VERSION, "suite": suite,
        "generator": {"name": "refquant", "version": __version__,
                      "command": f"refquant golden generate --suite {suite} --seed {seed}"},
        "seed": seed,
        "header": [SUITES[suite][1],
                   "Every expected output was computed by the refquant Python oracle (ints and Fractions). "
                   "Format: docs/golden-format.md; schema: golden/schema/manifest.schema.json."]
        + [f"Not generated (parameters outside the method's domain): {x}" for x in skipped],
        "profiles": dict(sorted(profiles.items())),
        "notes": {k: {"description": d, "effect": e} for k, (d, e) in NOTES.items() if k in used_flags},
        "numberOfTests": tc,
        "testGroups": out_groups,
    }
    return manifest, blobs


def _profile_source(kind, name):
    if kind == "quantize_profile":
        return PROFILES[name].source
    if kind == "float_rounding":
        return {"exact": "exact decoding", "rne": "IEEE 754 roundTiesToEven", "rna": "IEEE 754 roundTiesToAway",
                "rtz": "IEEE 754 roundTowardZero", "rup": "IEEE 754 roundTowardPositive",
                "rdn": "IEEE 754 roundTowardNegative"}[name]
    return rq.METHODS[name].reproduces


def manifest_text(manifest):
    return json.dumps(manifest, indent=1, ensure_ascii=True) + "\n"


def _replace_dir(tmp, target):
    """Move the finished directory ``tmp`` to ``target`` (replacing an old one) with renames."""
    os.chmod(tmp, 0o755)
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-", dir=os.path.dirname(target))
        os.rmdir(old)
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old)
    else:
        os.rename(tmp, target)


def write_set(suite, out_root, seed=1, progress=None):
    """Generate ``suite`` into out_root/<suite> atomically; returns (manifest, total bytes)."""
    manifest, blobs = build_set(suite, seed, progress)
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{suite}.tmp-", dir=out_root)
    try:
        for name, data in blobs.items():
            with open(os.path.join(tmp, name), "wb") as fh:
                fh.write(data)
        text = manifest_text(manifest).encode("ascii")
        with open(os.path.join(tmp, "manifest.json"), "wb") as fh:
            fh.write(text)
        _replace_dir(tmp, str(out_root / suite))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest, sum(map(len, blobs.values())) + len(text)


def write_schema(out_root):
    path = Path(out_root) / "schema" / "manifest.schema.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, (json.dumps(SCHEMA, indent=1) + "\n").encode("ascii"))
    return path


def _atomic_write(path, data):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ##########################################################################
# Loading
# ##########################################################################

# Where the sets may lie: the repository's golden/ (the canonical copy: a source checkout or an
# editable install), and the copy a wheel ships as package data (refquant/golden_data/, when
# pyproject.toml maps golden/ there).  A directory counts only if it holds the schema.
_REPO_GOLDEN = Path(__file__).resolve().parent.parent / "golden"
_PACKAGED_GOLDEN = Path(__file__).resolve().parent / "golden_data"


def _is_golden_root(path):
    return (path / "schema" / "manifest.schema.json").is_file()


# Every file refquant reads from a user (manifests, tensor files, case files, dumps) goes through
# read_file: a regular file only (a FIFO, device or directory is refused before any read, so
# /dev/zero or a pipe cannot hang the reader or grow memory), at most ``limit`` bytes read.
_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))
MAX_JSON_BYTES = 256 << 20     # a manifest or case file larger than this is refused


def read_file(path, what="file", limit=None, missing=None, refuse_longer=True):
    """The bytes of regular file ``path``: FormatFileError naming the path and what was expected
    when it is missing (``missing``: the message), not a regular file, unreadable, or (``limit``)
    larger than ``limit`` bytes.  Only ``limit + 1`` bytes are ever read; with refuse_longer=False
    those are returned (the caller names the size disagreement)."""
    path = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FormatFileError(missing or f"{path}: no such file; expected {what}") from None
    except IsADirectoryError:
        raise FormatFileError(f"{path}: is a directory, not a regular file; expected {what}") from None
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot open ({exc.strerror}); expected {what}") from None
    except ValueError:       # a NUL byte in the path
        raise FormatFileError(f"{path!r}: a path with a NUL byte; expected {what}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)), "not a regular file")
            raise FormatFileError(f"{path}: is {kind}, not a regular file; expected {what}")
        chunks, left = [], (limit + 1 if limit is not None else -1)
        while left:
            chunk = os.read(fd, min(left, 1 << 20) if left > 0 else 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            if left > 0:
                left -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot read ({exc.strerror}); expected {what}") from None
    finally:
        os.close(fd)
    if limit is not None and len(data) > limit and refuse_longer:
        raise FormatFileError(f"{path}: more than {limit} bytes; expected {what} of at most {limit} bytes")
    return data


def decode_text(data, path, encoding="ascii"):
    """``data`` as text; FormatFileError naming the path and the first offending byte."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatFileError(f"{path}: byte {exc.start} (0x{data[exc.start]:02x}) is not {encoding.upper()}; "
                              f"expected {encoding.upper()} text") from None


def parse_json(text, path):
    """Parsed JSON; FormatFileError (with line and column) for malformed, too deeply nested or
    too long-numbered text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatFileError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    except RecursionError:
        raise FormatFileError(f"{path}: JSON nested too deeply for the reader; expected at most a few "
                              "hundred levels of [ ] and { }") from None
    except ValueError as exc:      # e.g. an integer literal of more than 4300 digits
        raise FormatFileError(f"{path}: unreadable JSON value ({exc})") from None


def default_root():
    """The golden/ directory, searched in order: $REFQUANT_GOLDEN_ROOT (a checkout's golden/, or
    any directory of sets); the repository's golden/ (source checkout or editable install); the
    sets installed as package data (refquant/golden_data/); else ./golden."""
    env = os.environ.get("REFQUANT_GOLDEN_ROOT")
    if env:
        return Path(env).expanduser()
    for path in (_REPO_GOLDEN, _PACKAGED_GOLDEN):
        if _is_golden_root(path):
            return path
    return Path.cwd() / "golden"


class Case:
    """One test of a set, with decoded tensors (see GoldenSet.cases)."""

    def __init__(self, gset, group, test, tensors):
        self.set, self.group, self.test = gset, group, test
        self.tc_id, self.name, self.op = test["tcId"], test["name"], group["op"]
        self.profile = group["profile"]
        self.result, self.flags, self.params = test["result"], test["flags"], test["params"]
        self.derived = test.get("derived")
        self.error = test.get("error")
        self.files = test["files"]
        self.inputs = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] in ("input",)}
        self.param_tensors = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] == "param"}
        self.expected = {f["name"]: tensors[f["path"]] for f in self.files if f["role"] in ("expected", "intermediate")}
        self.vectors = [tensors[f["path"]] for f in self.files if f["role"] == "vectors"]

    def __repr__(self):
        return f"<golden case {self.set.suite}#{self.tc_id} {self.name} {self.result}>"


class GoldenSet:
    """A checked vector set: manifest validated, every file's size and sha256 verified."""

    def __init__(self, path, manifest):
        self.path, self.manifest = Path(path), manifest
        self.suite = manifest["suite"]

    def tests(self):
        for g in self.manifest["testGroups"]:
            for t in g["tests"]:
                yield g, t

    def read_bytes(self, entry):
        """The bytes of a listed file, checked against the manifest's size and sha256 (never more
        than the declared size is read)."""
        return _check_file(self.path / entry["path"], entry)

    def read_tensor(self, entry):
        path = self.path / entry["path"]
        text = decode_text(self.read_bytes(entry), path)
        _, values = parse_tensor(text, str(path), entry["dtype"], entry["shape"])
        return Tensor(entry["dtype"], entry["shape"], values, entry["layout"])

    def read_vectors(self, entry):
        """[(line number, [words...]), ...] of a .tv file."""
        path = self.path / entry["path"]
        rows = []
        for lineno, line in enumerate(decode_text(self.read_bytes(entry), path).split("\n"), start=1):
            body = line.split("//", 1)[0].split()
            if not body:
                continue
            if len(body) != len(entry["columns"]) or not all(_WORD_RE.match(w) for w in body):
                raise FormatFileError(f"{path}:{lineno}: expected {len(entry['columns'])} hex words "
                                      f"({' '.join(entry['columns'])}), got {line!r}")
            rows.append((lineno, body))
        if len(rows) != entry["lines"]:
            raise FormatFileError(f"{path}: {len(rows)} vector lines, the manifest says {entry['lines']}")
        return rows

    def cases(self, numpy=False):
        """Iterate Case objects; tensors as Tensor (numpy=False) or numpy arrays (numpy=True)."""
        for g, t in self.tests():
            tensors = {}
            for f in t["files"]:
                if f["kind"] == "vectors":
                    tensors[f["path"]] = self.read_vectors(f)
                else:
                    tt = self.read_tensor(f)
                    tensors[f["path"]] = to_numpy(tt) if numpy else tt
            yield Case(self, g, t, tensors)


def to_numpy(t):
    """A Tensor as a numpy array: integers as their type (i4/u4 widened to 8 bits), f64/f32/f16
    as floats (from their bits), bf16 and float8/6/4 codes as unsigned code arrays."""
    import numpy as np
    d = DTYPES[t.dtype]
    return np.frombuffer(raw_bytes(t.dtype, t.values), dtype=np.dtype(d.npy)).reshape(t.shape).copy()


def _load_manifest(path):
    return _read_manifest(path)[0]


def _read_manifest(path):
    """(validated manifest, its bytes)."""
    mpath = Path(path) / "manifest.json"
    data = read_file(mpath, "a golden manifest (JSON)", MAX_JSON_BYTES,
                     missing=f"{mpath}: no manifest.json (not a golden vector set)")
    manifest = parse_json(decode_text(data, mpath, "utf-8"), mpath)
    errs = schema_errors(manifest, SCHEMA)
    if errs:
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise FormatFileError(f"{mpath}: schema violation: {errs[0]}{more}")
    _check_consistency(mpath, manifest)
    return manifest, data


def _check_consistency(mpath, manifest):
    seen, paths = set(), set()
    count = 0
    for g in manifest["testGroups"]:
        for t in g["tests"]:
            count += 1
            if t["tcId"] in seen:
                raise FormatFileError(f"{mpath}: tcId {t['tcId']} appears twice")
            seen.add(t["tcId"])
            for fl in t["flags"]:
                if fl not in manifest["notes"]:
                    raise FormatFileError(f"{mpath}: test {t['tcId']} flag {fl!r} has no entry in notes")
            for f in t["files"]:
                if f["path"] in paths:
                    raise FormatFileError(f"{mpath}: file {f['path']} is listed twice")
                paths.add(f["path"])
                if f["kind"] == "tensor" and _count(f["shape"]) != f["elements"]:
                    raise FormatFileError(f"{mpath}: test {t['tcId']} file {f['path']}: shape {f['shape']} "
                                          f"has {_count(f['shape'])} elements, 'elements' says {f['elements']}")
            if g["op"] not in COMPUTE and g["op"] not in ("decode", "encode"):
                raise FormatFileError(f"{mpath}: unknown op {g['op']!r}")
    if count != manifest["numberOfTests"]:
        raise FormatFileError(f"{mpath}: numberOfTests is {manifest['numberOfTests']} but {count} tests are listed")


def load_set(path, check_files=True):
    """A GoldenSet from a set directory (or a suite name under default_root()).

    Validates the manifest against the schema and (check_files) every file's size and sha256.
    """
    path = set_location(path)
    manifest, data = _read_manifest(path)
    gset = GoldenSet(path, manifest)
    gset.manifest_bytes, gset.manifest_sha256 = data, _sha(data)
    if check_files:
        for _, t in gset.tests():
            for f in t["files"]:
                _check_file(path / f["path"], f)
    return gset


def set_location(arg):
    """The directory a set or root argument names: an existing path as given, else a suite name
    (formats, quantize, matmul, conv) under default_root().  The one place a suite name is read."""
    path = Path(arg)
    if path.exists() or str(arg) not in SUITES:
        return path
    return default_root() / str(arg)


def _resolved(path):
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def is_shipped_root(path):
    """True when ``path`` is where the shipped vectors live: the checkout's golden/, the wheel's
    refquant/golden_data/, or default_root()."""
    target = _resolved(path)
    return any(target == _resolved(p) for p in (_REPO_GOLDEN, _PACKAGED_GOLDEN, default_root()))


def shipped_root_holding(path):
    """The shipped root (see is_shipped_root) that ``path`` is or lies inside, else None."""
    target = _resolved(path)
    for root in (_REPO_GOLDEN, _PACKAGED_GOLDEN, default_root()):
        r = _resolved(root)
        if target == r or r in target.parents:
            return root
    return None


# sha256 of each shipped manifest.json.  A manifest lists every file's size and sha256, so this
# pins the whole shipped set: `golden verify` of the shipped location fails for a set regenerated
# with another seed or generator, or edited.  After an intended change of the generator, run
# `refquant golden generate --in-place` and record the checksums it prints here
# (tests/test_golden.py::test_shipped_record_matches_the_committed_manifests checks them).
SHIPPED_MANIFEST_SHA256 = {
    "formats": "5e62c105ca0f08446e0e9b4fbef363ec0c54e71a6873111d9c13edf0d6e92ced",
    "quantize": "5df01eacf0e542e9d18df83a8e97641d978b95e60c95981ccbf107ee2a64603c",
    "matmul": "c9650d234c7cff5d02f81e8657aa710a6a390a8051e6b2a7e38cc02aea08f6a8",
    "conv": "d86df77cc2564f9770c5b03345fbe0f5a5d78e264b4fea5711545c0db386fd50",
}


def shipped_difference(gset):
    """None when ``gset`` is byte for byte the shipped set of its suite; else one line saying how
    it differs (its seed and generator, as its manifest records them)."""
    want = SHIPPED_MANIFEST_SHA256.get(gset.suite)
    if want == gset.manifest_sha256:
        return None
    gen = gset.manifest.get("generator", {})
    return (f"{gset.suite}: not the shipped vectors (manifest.json sha256 {gset.manifest_sha256[:16]}..., "
            f"shipped {str(want)[:16]}...; this set records seed {gset.manifest.get('seed')}, "
            f"generated by refquant {gen.get('version')}: regenerated with another seed or generator, or edited)")


def _check_file(fpath, entry):
    """The bytes of a listed file after its size and sha256 check; reads at most bytes + 1."""
    data = read_file(fpath, f"the {entry['kind']} file the manifest lists", entry["bytes"],
                     missing=f"{fpath}: listed in the manifest but missing", refuse_longer=False)
    if len(data) != entry["bytes"]:
        more = "+" if len(data) > entry["bytes"] else ""
        raise FormatFileError(f"{fpath}: {len(data)}{more} bytes, the manifest says {entry['bytes']} "
                              f"({'truncated' if len(data) < entry['bytes'] else 'longer'} or changed)")
    if _sha(data) != entry["sha256"]:
        raise FormatFileError(f"{fpath}: sha256 {_sha(data)} does not match the manifest's {entry['sha256']}")
    return data


def find_sets(path):
    """Set directories at ``path`` (or a suite name, see set_location): itself if it holds a
    manifest.json, else its sub-directories that do.  Hidden directories (the '.X.tmp-*' and
    '.X.old-*' an interrupted write may leave) are never sets.  At the shipped location every
    suite must be present."""
    given, path = path, set_location(path)
    if os.path.lexists(path / "manifest.json"):
        return [path]
    if not path.exists():
        raise FormatFileError(f"{given}: no such directory; expected a set directory, a root of sets or a suite "
                              f"name ({', '.join(SUITE_NAMES)})")
    if not path.is_dir():
        raise FormatFileError(f"{path}: is not a directory; expected a set directory or a root of sets")
    try:
        entries = sorted(path.iterdir())
    except OSError as exc:
        raise FormatFileError(f"{path}: cannot list ({exc.strerror}); expected a readable directory") from None
    sets = [p for p in entries if not p.name.startswith(".") and os.path.lexists(p / "manifest.json")]
    if not sets:
        raise FormatFileError(f"{path}: holds no golden vector set (no */manifest.json)")
    if is_shipped_root(path):
        missing = [s for s in SUITE_NAMES if s not in {p.name for p in sets}]
        if missing:
            raise FormatFileError(f"{path}: the shipped root lacks the set(s) {', '.join(missing)}; expected all of "
                                  f"{', '.join(SUITE_NAMES)}")
    return sets


# ##########################################################################
# Verification
# ##########################################################################

def _kernel_applies(case_params):
    p = case_params
    return (p.get("method") in KERNEL_METHODS and p["a_type"] in ("int8", "uint8") and p["b_type"] in ("int8", "uint8")
            and p["y_type"] in ("int8", "uint8", "int32") and isinstance(p["za"], int))


def kernel_matmul(params, derived, inputs):
    """Run the C kernel on one qlinear_matmul test: {'acc': values, 'Y': values} or raises
    AccumulatorOverflowError.  Requantization parameters come from ``derived`` (never re-derived)."""
    import numpy as np
    from . import kernel
    p = params
    A = to_numpy(inputs["A"]).astype(np.dtype(p["a_type"]))
    B = to_numpy(inputs["B"]).astype(np.dtype(p["b_type"]))
    zb = np.array(p["zb"], np.int32) if isinstance(p["zb"], list) else p["zb"]
    bias = to_numpy(inputs["bias"]) if "bias" in inputs else None
    acc = kernel.matmul_integer(A, B, p["za"], zb, bias, p["policy"], path="scalar")
    out = {"acc": acc.reshape(-1).tolist()}
    kmethod = KERNEL_METHODS[p["method"]]
    if kmethod == "int32":
        out["Y"] = out["acc"]
        return out
    n = p["N"]
    per_channel = len(next(iter(derived.values()))) > 1 or isinstance(p["sb"], list)
    if kmethod == "float_fp32":
        bits = np.array(derived["M_bits"], np.uint32)
        kp = bits if per_channel else bits.reshape(())
    else:
        m = derived["m"]
        s = derived["shift"] if "shift" in derived else derived["s"]
        kp = (np.array(m * (n if len(m) == 1 else 1), np.int32), np.array(s * (n if len(s) == 1 else 1), np.int32)) \
            if per_channel else (m[0], s[0])
    results = {}
    for path in kernel.paths():
        y = kernel.qlinear_matmul(A, B, p["za"], zb, kmethod, kp, p["zy"], p.get("qmin"), p.get("qmax"),
                                  np.dtype(p["y_type"]), bias, p["policy"], path=path)
        results[path] = y.reshape(-1).tolist()
    first = results.pop("scalar")
    for path, y in results.items():
        if y != first:
            raise AssertionError(f"kernel path {path} differs from the scalar path")
    out["Y"] = first
    return out


def _diff(name, expected, got, limit=3):
    bad = [i for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    if len(expected) != len(got):
        return f"{name}: {len(got)} elements, expected {len(expected)}"
    if not bad:
        return None
    shown = ", ".join(f"[{i}] expected {expected[i]} got {got[i]}" for i in bad[:limit])
    return f"{name}: {len(bad)} of {len(expected)} elements differ: {shown}"


# Exceptions a schema-valid manifest with malformed params or inputs can raise in the oracle
# (a wrong type or length where the schema does not look): the input's fault, exit 2.
_MALFORMED = (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError, RecursionError)


def _count_arg(value, name):
    """A count option: None, or an int >= 0 (InvalidValueError otherwise)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidValueError(f"{name} = {value!r}; expected a non-negative integer")
    return value


def verify_set(gset, use_kernel=True, progress=None, max_mismatches=None):
    """Recompute every test of a loaded set; a list of mismatch dicts (empty = all match).

    max_mismatches: stop after this many (None or 0: all).  A set lying at the shipped location
    (is_shipped_root) that is not byte for byte the shipped set is one mismatch (checker
    'shipped')."""
    _count_arg(max_mismatches, "max_mismatches")
    mismatches = []
    total = sum(1 for _ in gset.tests())
    bar = _Progress(f"verify {gset.suite}", total, progress)
    kernel_ok = False
    if use_kernel:
        try:
            from . import kernel
            kernel_ok = kernel.available()
        except ImportError:
            kernel_ok = False
    stats = {"tests": 0, "kernel_checked": 0}
    sha = getattr(gset, "manifest_sha256", None)
    if sha is not None and is_shipped_root(gset.path.parent):
        diff = shipped_difference(gset)
        if diff:
            mismatches.append({"set": gset.suite, "tcId": 0, "name": "manifest.json", "checker": "shipped",
                               "flags": [], "detail": diff})
    for g, t in gset.tests():
        bar.step()
        stats["tests"] += 1

        def miss(what, checker="oracle"):
            mismatches.append({"set": gset.suite, "tcId": t["tcId"], "name": t["name"], "checker": checker,
                               "flags": t["flags"], "detail": what})
        try:
            _verify_test(gset, g, t, kernel_ok, stats, miss)
        except RefquantError:
            raise
        except _MALFORMED as exc:
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): malformed params or inputs: "
                                  f"{type(exc).__name__}: {exc}") from None
        if max_mismatches and len(mismatches) >= max_mismatches:
            break
    return mismatches, stats


def _verify_test(gset, g, t, kernel_ok, stats, miss):
    if g["op"] in ("decode", "encode"):
        for f in t["files"]:
            for what in _verify_tv(gset, g, t, f):
                miss(what)
        return
    inputs, expected = {}, {}
    for f in t["files"]:
        if f["kind"] != "tensor":
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): a {g['op']} test lists the "
                                  f"{f['kind']} file {f['path']}; expected tensor files only")
        tensor = gset.read_tensor(f)
        if f["role"] == "input":
            inputs[f["name"]] = tensor
        elif f["role"] in ("expected", "intermediate"):
            expected[f["name"]] = tensor
    _check_params_fit(gset, g["op"], t, inputs, expected)
    try:
        outcome = run_test(g["op"], t["params"], inputs)
    except RefquantError as exc:
        raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): bad parameters: {exc}") from None
    if outcome[0] != t["result"]:
        miss(f"result: manifest says {t['result']}, the oracle gives {outcome[0]}"
             + (f" ({outcome[1]})" if outcome[0] != "valid" else ""))
        return
    if outcome[0] == "error" and outcome[1] != t.get("error"):
        miss(f"error: manifest says {t.get('error')}, the oracle raises {outcome[1]}")
    if outcome[0] == "valid":
        _, outputs, derived, _flags = outcome
        if derived is not None and t.get("derived") != derived:
            miss(f"derived parameters differ: manifest {t.get('derived')}, oracle {derived}")
        for name, tensor in expected.items():
            if name not in outputs:
                miss(f"{name}: the oracle has no such output")
                continue
            d = _diff(name, tensor.values, outputs[name].values)
            if d:
                miss(d)
        for name in outputs:
            if name not in expected and not (name == "acc" and t["params"].get("method") == "int32"):
                miss(f"{name}: expected output missing from the manifest")
    if kernel_ok and g["op"] == "qlinear_matmul" and t["result"] != "unpredictable" and _kernel_applies(t["params"]):
        stats["kernel_checked"] += 1
        try:
            kout = kernel_matmul(t["params"], t.get("derived") or {}, inputs)
            if t["result"] == "error":
                miss("C kernel returned a result where the oracle raises " + str(t.get("error")), "kernel")
            else:
                for name, tensor in expected.items():
                    d = _diff(name, tensor.values, kout[name])
                    if d:
                        miss(d, "kernel")
        except AccumulatorOverflowError:
            if t["result"] != "error":
                miss("C kernel raised AccumulatorOverflowError", "kernel")
        except AssertionError as exc:
            miss(str(exc), "kernel")
        except RefquantError as exc:
            raise FormatFileError(f"{gset.path}: test {t['tcId']} ({t['name']}): the C kernel refuses the "
                                  f"parameters: {exc}") from None


def _check_params_fit(gset, op, t, inputs, expected):
    """The sizes a test's params imply agree with its tensor files, before anything is computed (a
    manifest saying K = 10^9 or pads of 10^9 must not start a computation of that size)."""
    p = t["params"]
    where = f"{gset.path}: test {t['tcId']} ({t['name']})"

    def need(cond, what):
        if not cond:
            raise FormatFileError(f"{where}: {what}")
    if op == "qlinear_matmul":
        dims = [p.get(k) for k in ("M", "K", "N")]
        need(all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dims),
             f"params M, K, N = {dims}; expected non-negative integers")
        M, K, N = dims
        for name, n in (("A", M * K), ("B", K * N)):
            need(name in inputs and len(inputs[name].values) == n,
                 f"params M, K, N = {dims} need {n} elements in {name}, the file has "
                 f"{len(inputs[name].values) if name in inputs else 'none'}")
    elif op == "qlinear_conv":
        need("x" in inputs and "w" in inputs, "a qlinear_conv test needs input tensors x and w")
        try:
            geo = [p[k] for k in ("strides", "pads", "dilations", "group")]
            out = ops._conv_geometry(tuple(inputs["x"].shape), tuple(inputs["w"].shape), *geo)
        except RefquantError as exc:
            raise FormatFileError(f"{where}: bad parameters: {exc}") from None
        n = _count(out)
        if "Y" in expected:
            need(n == len(expected["Y"].values), f"params give an output of shape {list(out)} ({n} elements), "
                                                 f"the file Y has {len(expected['Y'].values)}")
        need(n <= 1 << 24, f"params give an output of shape {list(out)} ({n} elements); expected at most 2^24")


def _verify_tv(gset, g, t, entry):
    rows = gset.read_vectors(entry)
    p = t["params"]
    fmt = p["format"]
    bad = []
    for lineno, words in rows:
        try:
            bits = int(words[0], 16)
            if g["op"] == "decode":
                want = tv_decode_line(fmt, bits)
            else:
                want = tv_encode_line(p["input"], fmt, bits, p["rounding"], p["overflow"])
        except RefquantError as exc:
            raise FormatFileError(f"{gset.path / entry['path']}:{lineno}: {exc}") from None
        if want.split() != [w.lower() for w in words]:
            bad.append(f"{entry['path']}:{lineno}: expected '{want}', file has '{' '.join(words)}'")
    return bad


def verify(path=None, use_kernel=True, progress=None, max_mismatches=None):
    """Verify every set under ``path`` (default_root(); a suite name is a set of it): schema,
    sizes, checksums, then every expected value against the oracle (and the C kernel for
    matmul).  Raises FormatFileError for a malformed set; returns {'sets', 'tests',
    'kernel_checked', 'mismatches', 'shipped'}: 'shipped' maps each set to whether it is byte
    for byte the shipped set of its suite (at the shipped location a difference is also a
    mismatch)."""
    _count_arg(max_mismatches, "max_mismatches")
    path = default_root() if path is None else path
    sets = [load_set(p) for p in find_sets(path)]
    for gset in sets:   # every file parses before anything is judged (malformed beats mismatch)
        for _, t in gset.tests():
            for f in t["files"]:
                (gset.read_tensor if f["kind"] == "tensor" else gset.read_vectors)(f)
    report = {"sets": [s.suite for s in sets], "tests": 0, "kernel_checked": 0, "mismatches": [],
              "shipped": {s.suite: shipped_difference(s) is None for s in sets}}
    for gset in sets:
        mism, stats = verify_set(gset, use_kernel, progress, max_mismatches)
        report["mismatches"] += mism
        report["tests"] += stats["tests"]
        report["kernel_checked"] += stats["kernel_checked"]
    return report


# ##########################################################################
# Exports
# ##########################################################################

EXPORT_FORMATS = ("npy", "c-header", "bin")


def _c_ident(text):
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def c_header(gset):
    """One C99 header holding every tensor of a set as a static const array, plus each test's
    integer parameters (#define) and integer parameter lists (arrays)."""
    s = _c_ident(gset.suite)
    guard = f"REFQUANT_GOLDEN_{s.upper()}_H"
    out = [f"/* refquant golden set '{gset.suite}': generated by refquant {__version__} "
           f"(refquant golden export --format c-header); do not edit.",
           f" * Source: {gset.suite}/manifest.json, format version {FORMAT_VERSION}, seed {gset.manifest['seed']}.",
           " * Float tensors are bit patterns (binary32 as uint32_t, ...); int4 values are widened to int8_t.",
           " * Only 'valid' tests have expected arrays (docs/golden-format.md). */",
           f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>", ""]
    for g, t in gset.tests():
        pre = f"rq_{s}_tc{t['tcId']:04d}"
        out.append(f"/* tc{t['tcId']:04d} {t['name']}: {t['result']}; flags: {', '.join(t['flags']) or '-'} */")
        out.append(f"#define {pre.upper()}_RESULT \"{t['result']}\"")
        for k, v in t["params"].items():
            if isinstance(v, bool) or v is None:
                continue
            if isinstance(v, int):
                out.append(f"#define {pre.upper()}_{_c_ident(k).upper()} ({v})")
            elif isinstance(v, str):
                out.append(f"#define {pre.upper()}_{_c_ident(k).upper()} \"{v}\"")
            elif isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                out.append(f"static const int32_t {pre}_{_c_ident(k)}[{len(v)}] = {{{', '.join(map(str, v))}}};")
        tensor_names = {f.get("name") for f in t["files"]}
        for k, v in (t.get("derived") or {}).items():
            if k in tensor_names:
                continue   # the same values are written below as that tensor's array
            if v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                ctype = "uint32_t" if k == "M_bits" else "int64_t" if max(map(abs, v)) >= 2**31 else "int32_t"
                out.append(f"static const {ctype} {pre}_{_c_ident(k)}[{len(v)}] = {{{', '.join(map(str, v))}}};")
        for f in t["files"]:
            if f["kind"] != "tensor":
                continue
            tt = gset.read_tensor(f)
            d = DTYPES[tt.dtype]
            vals = [str(v) if d.kind != "float" else f"0x{v:x}" for v in tt.values]
            if d.ctype == "int32_t":
                vals = [v if v != str(-(2**31)) else "(-2147483647 - 1)" for v in vals]
            body = ",\n    ".join(", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16))
            dims = ", ".join(map(str, f["shape"]))
            out.append(f"/* {f['role']} {f['name']}: {f['dtype']} shape [{dims}] {f['layout']} */")
            out.append(f"static const {d.ctype} {pre}_{f['name']}[{max(1, len(vals))}] = {{\n    {body}\n}};")
        out.append("")
    out.append(f"#endif /* {guard} */")
    return "\n".join(out) + "\n"


def export(path, fmt, out):
    """Export every set under ``path`` to ``out``: npy or bin (one file per tensor, beside a copy of
    the manifest, in out/<suite>/) or c-header (out/<suite>.h).  Everything is read and converted
    before anything is written; each set is written atomically, and a failed export leaves no
    directory it created."""
    if fmt not in EXPORT_FORMATS:
        raise UnknownNameError("export format", fmt, EXPORT_FORMATS)
    out = _out_path(out, "export output directory")
    sets = [load_set(p) for p in find_sets(path)]
    outputs = []          # (suite, {file name: bytes}) or (header name, bytes)
    for gset in sets:
        try:
            if fmt == "c-header":
                outputs.append((f"golden_{_c_ident(gset.suite)}.h", c_header(gset).encode("ascii")))
                continue
            blobs = {}
            for _, t in gset.tests():
                for f in t["files"]:
                    if f["kind"] == "vectors":
                        blobs[f["path"]] = gset.read_bytes(f)
                        continue
                    tt = gset.read_tensor(f)
                    stem = f["path"][:-len(".hex")] if f["path"].endswith(".hex") else f["path"]
                    blobs[f"{stem}.{fmt}"] = (npy_bytes(tt.dtype, tt.shape, tt.values) if fmt == "npy"
                                              else raw_bytes(tt.dtype, tt.values))
            blobs["manifest.json"] = gset.manifest_bytes
            outputs.append((gset.suite, blobs))
        except RefquantError:
            raise
        except _MALFORMED as exc:
            raise FormatFileError(f"{gset.path}: malformed manifest content ({type(exc).__name__}: {exc})") from None
    written = []
    with _output_root(out, "export output directory"):
        for name, data in outputs:
            if fmt == "c-header":
                _atomic_write(out / name, data)
                written.append(out / name)
                continue
            tmp = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out)
            try:
                for fname, blob in data.items():
                    with open(os.path.join(tmp, fname), "wb") as fh:
                        fh.write(blob)
                _replace_dir(tmp, str(out / name))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            written.append(out / name)
    return written


def _out_path(out, what, shipped_ok=False):
    """An output directory argument as a Path: InvalidValueError when it is empty, names an
    existing non-directory, or (unless shipped_ok) is or lies inside the shipped vectors."""
    if out is None or not str(out).strip():
        raise InvalidValueError(f"{what} {str(out)!r} is empty; expected a directory path")
    out = Path(out)
    if os.path.lexists(out) and not out.is_dir():
        raise InvalidValueError(f"{what} {out}: exists and is not a directory; expected a directory")
    root = None if shipped_ok else shipped_root_holding(out)
    if root is not None:
        raise InvalidValueError(f"{what} {out} is (inside) the shipped golden vectors {root}; expected another "
                                "directory" + (" (or --in-place to regenerate them)" if what == "--out" else ""))
    return out


class _output_root:
    """Create directory ``out`` (and missing parents) on entry, with one-line errors naming it;
    on failure (an exception or Ctrl-C) remove every directory this call created, so that a
    failed command leaves nothing behind."""

    def __init__(self, out, what):
        self.out, self.what, self.created = Path(out), what, None

    def __enter__(self):
        out = self.out
        top = out
        while not os.path.lexists(top.parent) and top.parent != top:
            top = top.parent
        existed = os.path.lexists(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidValueError(f"{self.what} {out}: cannot create it ({exc.strerror}); expected a writable "
                                    "directory whose parent exists") from None
        if not existed:
            self.created = top
        if not out.is_dir():
            raise InvalidValueError(f"{self.what} {out}: is not a directory; expected a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            self._cleanup()
            raise InvalidValueError(f"{self.what} {out}: not writable; expected a writable directory")
        return out

    def _cleanup(self):
        if self.created is not None:
            shutil.rmtree(self.created, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._cleanup()
            if issubclass(exc_type, OSError) and not isinstance(exc, RefquantError):
                raise InvalidValueError(f"{self.what} {self.out}: cannot write ({exc.strerror or exc}); expected a "
                                        "writable directory with free space") from None
        return False


# ##########################################################################
# Command line: refquant golden {generate, verify, export, list}
# ##########################################################################

def _seed(text):
    try:
        v = int(text, 0)
    except ValueError:
        raise InvalidValueError(f"--seed {text!r} is not a non-negative integer") from None
    if v < 0:
        raise InvalidValueError(f"--seed {v} is negative; expected a non-negative integer")
    return v


def cmd_generate(args):
    suites = SUITE_NAMES if args.suite in (None, "all") else [args.suite]
    for s in suites:
        if s not in SUITES:
            raise UnknownNameError("golden suite", s, list(SUITES) + ["all"])
    seed = _seed(args.seed)
    if args.in_place:
        out = default_root()
    elif args.out is None:
        raise InvalidValueError(f"golden generate needs --out DIR (a directory for the new sets); to overwrite the "
                                f"shipped vectors in {default_root()}, pass --in-place")
    else:
        out = _out_path(args.out, "--out")
    with _output_root(out, "--in-place root" if args.in_place else "--out"):
        write_schema(out)
        for s in suites:
            t0 = time.perf_counter()
            manifest, size = write_set(s, out, seed)
            print(f"{s}: {manifest['numberOfTests']} tests, {size / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s "
                  f"-> {out / s}")
    if args.in_place:
        changed = {}
        for s in suites:
            gset = load_set(out / s, check_files=False)
            if shipped_difference(gset):
                changed[s] = gset.manifest_sha256
        if changed:
            print(f"note: {', '.join(changed)} now differ(s) from the shipped vectors, so `refquant golden verify` "
                  "fails until they are restored (--in-place --seed 1 with the released generator) or, for an "
                  "intended generator change, the new checksums are recorded in refquant/golden.py "
                  "SHIPPED_MANIFEST_SHA256: " + json.dumps(changed))
    return EXIT_OK


def cmd_verify(args):
    report = verify(args.dir, use_kernel=not args.no_kernel, max_mismatches=args.max_errors or None)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for m in report["mismatches"]:
            where = "" if m["checker"] == "shipped" else f" tc{m['tcId']:04d} {m['name']}"
            print(f"MISMATCH {m['set']}{where} [{m['checker']}]: {m['detail']}")
        others = [s for s, same in report["shipped"].items() if not same]
        if others and not any(m["checker"] == "shipped" for m in report["mismatches"]):
            print(f"note: {', '.join(others)}: not the shipped vectors (another seed, generator or edit); "
                  "checked for consistency with the oracle only")
        print(f"{len(report['sets'])} sets ({', '.join(report['sets'])}), {report['tests']} tests, "
              f"{report['kernel_checked']} also run on the C kernel: "
              f"{'all match' if not report['mismatches'] else str(len(report['mismatches'])) + ' mismatches'}")
    return EXIT_MISMATCH if report["mismatches"] else EXIT_OK


def cmd_export(args):
    for p in export(args.dir, args.format, args.out):
        print(p)
    return EXIT_OK


def cmd_list(args):
    root = default_root()
    for name, (_, text) in SUITES.items():
        line = f"{name:<9} {text}"
        mpath = root / name / "manifest.json"
        if os.path.lexists(mpath):
            try:
                n = parse_json(decode_text(read_file(mpath, "a manifest", MAX_JSON_BYTES), mpath, "utf-8"),
                               mpath)["numberOfTests"]
                line += f"  [{n} tests in {root / name}]"
            except (RefquantError, KeyError, TypeError):
                line += "  [manifest unreadable]"
        print(line)
    return EXIT_OK


def register(sub):
    """Add ``refquant golden ...`` to the CLI's sub-parsers."""
    from .cli import count
    g = sub.add_parser("golden", help="golden vector sets: generate, verify, export, list")
    gs = g.add_subparsers(dest="golden_command", metavar="ACTION", parser_class=type(g))
    p = gs.add_parser("generate", help="regenerate vector sets from the oracle (deterministic, atomic)")
    p.add_argument("--suite", default="all", help=f"one of {', '.join(SUITE_NAMES)} or all (default)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR", help="root directory to write the sets into (required, unless --in-place)")
    where.add_argument("--in-place", action="store_true",
                       help="overwrite the shipped vectors (the checkout's golden/ or the installed copy)")
    p.add_argument("--seed", default="1", help="generation seed (default 1, the seed of the shipped vectors)")
    p.set_defaults(func=cmd_generate)
    v = gs.add_parser("verify", help="check schema, sizes and checksums, then recompute every expected value")
    v.add_argument("dir", nargs="?", help="a set directory or a root of sets (default: golden/)")
    v.add_argument("--no-kernel", action="store_true", help="skip the C-kernel cross-check")
    v.add_argument("--max-errors", type=count, default=0, metavar="N", help="stop a set after N mismatches (0: all)")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=cmd_verify)
    e = gs.add_parser("export", help="write .npy, a C header or raw little-endian .bin files")
    e.add_argument("--format", required=True, help=" | ".join(EXPORT_FORMATS))
    e.add_argument("dir", help="a set directory or a root of sets")
    e.add_argument("out", help="output directory")
    e.set_defaults(func=cmd_export)
    lst = gs.add_parser("list", help="what each suite covers")
    lst.set_defaults(func=cmd_list)

    def no_action(args):
        g.print_help()
        print("refquant: error: golden needs an action: generate, verify, export or list", file=sys.stderr)
        return EXIT_BAD_INPUT
    g.set_defaults(func=no_action)
