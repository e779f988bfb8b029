"""Reading tensors for an audit: ``.npy``, ``$readmemh`` hex and raw binary dumps.

Every problem is a ``FormatFileError`` (or ``InvalidValueError`` / ``ShapeError``) whose one-line
message names the file and what was expected; never a traceback for a user's file.
"""

import io
import os
import re

import numpy as np

from ..errors import FormatFileError, InvalidValueError, ShapeError, UnknownNameError
from ..integers import get_type
from ..tensorio.dtypes import DTYPES, lookup

# The rows of the one dtype table (refquant.tensorio.dtypes) that numpy holds as values, by numpy's name
_ROWS = {d.numpy: d for d in DTYPES.values() if d.numpy is not None}
NP_DTYPES = {name: np.dtype(d.npy).type for name, d in _ROWS.items()}
BITS = {name: d.bits for name, d in _ROWS.items()}
_HEX_WORD = re.compile(r"^[0-9a-fA-F_]+$")


def parse_shape(text):
    """'64x64', '64,64', [64, 64] -> (64, 64)."""
    if text is None:
        return None
    if isinstance(text, (list, tuple)):
        vals = list(text)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            raise ShapeError(f"shape {text!r} must be a list of integers, e.g. [64, 64]")
    else:
        t = str(text).strip()
        if not re.fullmatch(r"\d+(\s*[x,]\s*\d+|\s+\d+)*", t):
            raise ShapeError(f"cannot read shape {text!r}; expected e.g. 64x64, 64,64 or [64, 64]")
        vals = [v for v in re.split(r"[x,\s]+", t) if v]
    try:
        shape = tuple(int(v) for v in vals)
    except (TypeError, ValueError):
        raise ShapeError(f"cannot read shape {text!r}; expected e.g. 64x64 or [64, 64]") from None
    if not shape or any(d < 0 for d in shape):
        raise ShapeError(f"shape {text!r} must be one or more non-negative sizes")
    return shape


def check_dtype(name, what="dtype"):
    """numpy's name of a dtype a dump may hold, spelled any way the tensor-file vocabulary knows
    ('int8' / 'i8', 'float32' / 'fp32' / 'f32'); InvalidValueError naming it otherwise."""
    try:
        return lookup(name, what, among={d.short: d for d in _ROWS.values()}).numpy
    except UnknownNameError:
        raise InvalidValueError(f"{what} {name!r} is not a known dtype; expected one of: {', '.join(sorted(NP_DTYPES))} "
                                "(or their short names i8, f32, ...)") from None


def np_dtype(name):
    """The numpy dtype of a dump's values (sub-byte integers: one per byte)."""
    return np.dtype(NP_DTYPES[check_dtype(name)])


def detect_format(path, fmt=None):
    if fmt and fmt != "auto":
        if fmt not in ("npy", "hex", "raw"):
            raise InvalidValueError(f"unknown tensor file format {fmt!r}; expected npy, hex or raw")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return "npy"
    if ext in (".hex", ".mem", ".memh", ".txt"):
        return "hex"
    return "raw"


_HEXVAL = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEXVAL[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEXVAL[_c] = 10 + _i


def _read_hex_fast(text, bits, signed):
    """Vectorised parse when every word has the same number of digits; None to fall back."""
    if "@" in text or "_" in text or "/*" in text:
        return None
    if "//" in text:
        text = re.sub(r"//[^\n]*", "", text)
    words = text.split()
    if not words:
        return np.zeros(0, dtype=np.int64)
    L = len(words[0])
    joined = "".join(words)
    if L > 16 or len(joined) != L * len(words):
        return None
    digits = _HEXVAL[np.frombuffer(joined.encode("ascii", "replace"), dtype=np.uint8)]
    if (digits == 255).any():
        return None
    digits = digits.reshape(-1, L).astype(np.uint64)
    v = np.zeros(len(words), dtype=np.uint64)
    for i in range(L):
        v = (v << np.uint64(4)) | digits[:, i]
    if L * 4 > bits and (v >> np.uint64(bits)).any():
        return None
    v = v.astype(np.int64) if bits < 64 else v.view(np.int64)
    if signed and bits < 64:
        v = np.where(v >= 1 << (bits - 1), v - (1 << bits), v)
    return v


def read_bytes(path, name="tensor"):
    """The bytes of a user's file: a regular file only (a FIFO or device is refused, never read),
    FormatFileError naming ``name`` and the path otherwise."""
    from ..golden import read_file
    return read_file(path, f"a .npy, hex or raw tensor file ({name})",
                     missing=f"{name}: file {path!r} not found")


def read_hex(path, dtype, count=None, data=None):
    """``$readmemh`` text: one word per line, two's complement, ``//`` and ``/* */`` comments, ``_`` allowed."""
    dtype = check_dtype(dtype, "hex dump dtype")
    row = _ROWS[dtype]
    bits, signed = row.bits, row.signed
    text = (read_bytes(path) if data is None else data).decode("ascii", errors="replace")
    if not dtype.startswith("float"):
        fast = _read_hex_fast(text, bits, signed)
        if fast is not None:
            return fast
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    words = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        for w in line.split():
            if w.startswith("@"):
                raise FormatFileError(f"{path}:{lineno}: address directive {w!r} is not supported; "
                                      "write one word per line from address 0")
            if not _HEX_WORD.match(w):
                raise FormatFileError(f"{path}:{lineno}: {w!r} is not a hex word")
            if int(w.replace("_", ""), 16) >= 1 << bits:
                raise FormatFileError(f"{path}:{lineno}: word {w} does not fit {bits} bits ({dtype})")
            words.append(row.value(w.replace("_", "")))
    if dtype.startswith("float"):
        raw = np.array(words, dtype=f"uint{bits}")
        return raw.view(np_dtype(dtype))
    return np.array(words, dtype=np.int64)


def load(path, dtype=None, shape=None, fmt=None, name="tensor"):
    """A tensor from a file; dtype/shape are required for hex and raw and checked for npy."""
    if not isinstance(path, str) or not path:
        raise FormatFileError(f"{name}: no file given")
    fmt = detect_format(path, fmt)
    shape = parse_shape(shape)
    if dtype is not None:
        dtype = check_dtype(dtype, f"{name} dtype")
    data = read_bytes(path, name)
    if fmt == "npy":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as exc:  # numpy raises ValueError/OSError/EOFError on bad files
            raise FormatFileError(f"{name}: {path!r} is not a readable .npy file ({_short(exc)})") from None
        if not isinstance(arr, np.ndarray):
            raise FormatFileError(f"{name}: {path!r} is a .npz archive; expected one .npy array")
        if shape is not None and tuple(arr.shape) != shape:
            raise ShapeError(f"{name}: {path!r} has shape {tuple(arr.shape)}, but the description says {shape}")
        return arr
    if dtype is None:
        raise InvalidValueError(f"{name}: {path!r} is a {fmt} dump; give its dtype (e.g. --actual-dtype int8)")
    if shape is None:
        raise ShapeError(f"{name}: {path!r} is a {fmt} dump; give its shape (e.g. --actual-shape 64x64)")
    n = 1
    for d in shape:
        n *= d
    if fmt == "hex":
        flat = read_hex(path, dtype, data=data)
    else:
        dt = np_dtype(dtype)
        if BITS[dtype] < 8:
            raise InvalidValueError(f"{name}: raw {dtype} dumps are not supported; store one value per byte as int8/uint8")
        size = len(data)
        if size != n * dt.itemsize:
            raise FormatFileError(f"{name}: {path!r} holds {size} bytes; {dtype} shape {shape} needs "
                                  f"{n * dt.itemsize} ({'truncated' if size < n * dt.itemsize else 'too long'})")
        flat = np.frombuffer(data, dtype=dt.newbyteorder("<")).copy()
    if flat.size != n:
        raise FormatFileError(f"{name}: {path!r} holds {flat.size} words; shape {shape} needs {n} "
                              f"({'truncated' if flat.size < n else 'too many words'})")
    return flat.reshape(shape)


def _short(exc, limit=200):
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_integers(arr, type_name, name="tensor"):
    """An integer tensor checked against ``type_name``'s range, as int64.

    Float arrays are accepted only when every element is a finite integer (NaN/inf/fractions
    are named with their index)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise InvalidValueError(f"{name} has dtype {arr.dtype}; expected integers ({type_name})")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidValueError(f"{name}{list(idx)} = {arr[idx]} where an integer ({type_name}) is expected")
        frac = arr != np.round(arr)
        if frac.any():
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise InvalidValueError(f"{name}{list(idx)} = {arr[idx]} is not an integer ({type_name} expected)")
    t = get_type(type_name)
    if arr.size:       # range first, on the values as given (1e30 or 2^63 must not wrap in int64)
        lo, hi = arr.min().item(), arr.max().item()
        if lo < t.min or hi > t.max:
            bad = (arr < t.min) | (arr > t.max)
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            v = arr[idx].item()
            shown = int(v) if isinstance(v, float) and abs(v) < 2**63 else v
            raise InvalidValueError(f"{name}{list(idx)} = {shown!r} is outside {t.name} [{t.min}, {t.max}]")
    return arr.astype(np.int64)


def save(path, arr, fmt=None, dtype=None):
    """Write a tensor as npy / hex / raw (used by tests, docs and ``--dump``)."""
    fmt = detect_format(path, fmt)
    arr = np.asarray(arr)
    if fmt == "npy":
        np.save(path, arr)
    elif fmt == "hex":
        dtype = check_dtype(dtype or str(arr.dtype))
        bits = BITS[dtype]
        digits = (bits + 3) // 4
        mask = (1 << bits) - 1
        with open(path, "w") as f:
            f.write(f"// {dtype} {'x'.join(map(str, arr.shape))}, one word per line, two's complement\n")
            for v in arr.reshape(-1).tolist():
                f.write(f"{int(v) & mask:0{digits}x}\n")
    else:
        arr.astype(np_dtype(dtype or str(arr.dtype)).newbyteorder("<")).tofile(path)
