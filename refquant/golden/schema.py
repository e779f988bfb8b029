"""The golden manifest schema (JSON Schema subset and its validator) and the Wycheproof-style
flags (NOTES) a case may carry.  Format: docs/golden-format.md."""

import json
import re

from .. import quantize as qz
from .tensors import DTYPES


FORMAT_VERSION = 1
SCHEMA_NAME = "refquant-golden-manifest"
# A mini JSON-Schema validator (the subset the manifest schema uses).

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


SUITE_NAMES = ("formats", "quantize", "matmul", "conv", "blocks", "ops")
OPS = ("decode", "encode", "quantize", "dequantize", "qlinear_matmul", "qlinear_conv", "gguf_quantize", "gguf_dequantize",
       "qbinary", "qunary", "qtensor")
TV_OPS = ("decode", "encode", "gguf_quantize", "gguf_dequantize")   # tests whose files are .tv lines
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
            "properties": {"kind": {"enum": ["quantize_profile", "requant_method", "float_rounding", "block_format",
                                             "op_variant"]},
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
