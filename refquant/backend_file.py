"""Users' backend rows: a TOML or JSON file of ``[backend.NAME]`` tables, read and checked.

``load_file`` returns ``backends.Backend`` rows (``user=True``) without touching the built-in
table; ``backends.register`` adds them.  ``refquant.backends`` re-exports ``load_file`` (the name
users call); this module keeps the reader out of the table's file (docs/architecture.md "One
backend table").  Stdlib only (``tomllib``, ``json``), like every top-level module.
"""

import json
import tomllib
from pathlib import Path

from .errors import FormatFileError, InvalidValueError, UnknownNameError
from .profiles import PROFILES
from .requant import METHODS

FIELDS = {"source", "quantize", "quantize_per_axis", "ops", "versions", "deviations"}


def load_file(path):
    """Read a user's backend rows; return them (validated) without touching the built-in table.

    Reproduces: no external source (the row format of docs/architecture.md "One backend table").
    File layout (TOML; JSON the same shape)::

        [backend.my_npu]
        source = "my NPU rev B, requantizer as in the RTL spec 1.2"
        quantize = "tflite"
        ops = { qlinear_matmul = "tflite_single", qlinear_conv = "tflite_single" }
        versions = [["my_npu_rtl", "1.2"]]
    """
    p = Path(path)
    if not p.is_file():
        raise FormatFileError(f"backend file {str(p)!r}: not a regular file")
    text = p.read_text(encoding="utf-8", errors="strict")
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FormatFileError(f"backend file {str(p)!r}: not valid {'JSON' if p.suffix == '.json' else 'TOML'}: "
                              f"{exc}") from None
    rows = data.get("backend") if isinstance(data, dict) else None
    if not isinstance(rows, dict) or not rows:
        raise FormatFileError(f"backend file {str(p)!r}: expected a table 'backend' of named rows")
    return [user_row(name, row) for name, row in rows.items()]


def user_row(name, row):
    """One ``[backend.NAME]`` table (a dict) as a checked ``backends.Backend`` row (``user=True``).

    Reproduces: no external source (the row format of docs/architecture.md "One backend table")."""
    from .backends import Backend, Deviation, op_variants   # the table imports this module
    where = f"backend {name!r}"
    if not isinstance(row, dict):
        raise InvalidValueError(f"{where}: expected a table of fields, got {type(row).__name__}")
    extra = set(row) - FIELDS
    if extra:
        raise InvalidValueError(f"{where}: unknown field(s) {sorted(extra)}; expected some of {sorted(FIELDS)}")
    quantize, per_axis = row.get("quantize", "exact"), row.get("quantize_per_axis")
    for prof in {quantize, per_axis} - {None}:
        if prof not in PROFILES:
            raise UnknownNameError(f"quantize profile in {where}", prof, PROFILES)
    ops = row.get("ops", {})
    if not isinstance(ops, dict):
        raise InvalidValueError(f"{where}: 'ops' must map op names to methods, got {ops!r}")
    for op, method in ops.items():
        if not isinstance(method, str) or not (method in METHODS or method in op_variants(op)):
            raise UnknownNameError(f"method or variant for op {op!r} in {where}", method,
                                   sorted(METHODS) + sorted(op_variants(op)))
    versions = tuple(tuple(map(str, v)) for v in row.get("versions", ()))
    deviations = tuple(Deviation(str(d.get("name", "")), str(d.get("text", "")), tuple(d.get("vectors", ())),
                                 tuple(map(str, d.get("measured_on", ()))), str(d.get("op", "")))
                       for d in row.get("deviations", ()) if isinstance(d, dict))
    return Backend(name, str(row.get("source", f"user backend {name}")), quantize, dict(ops), versions,
                   deviations, user=True, quantize_per_axis=per_axis)
