"""The tensor-file dialect of golden sets: element types (DType), text-hex tensor files
($readmemh-ready), .npy and raw little-endian bytes.  Format: docs/golden-format.md."""

import re
import struct

from ..errors import FormatFileError, InvalidValueError, ShapeError
from ..tensorio.dtypes import DTYPES as ALL_DTYPES
from ..tensorio.dtypes import DType, lookup  # noqa: F401  (DType: public here too)


# The golden rows of the one dtype table (refquant.tensorio.dtypes): short name -> DType
DTYPES = {short: d for short, d in ALL_DTYPES.items() if d.golden}


def short_dtype(name):
    """The tensor-file dtype ('i8', 'f32', 'e4m3fn', ...) of a refquant type or format name
    (or of numpy's name for it: 'float32' -> 'f32')."""
    return lookup(name, "golden dtype", among=DTYPES).short


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
